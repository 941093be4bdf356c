package money

import "strings"

// twoDecimalCodes lists the presentment currencies Stripe supports whose
// API amounts are in hundredths of the major unit. ISK is here on purpose:
// although the króna is spent in whole units, Stripe keeps it two-decimal
// in its API, so unit_amount 100 is 1 ISK (and Stripe rejects ISK amounts
// that are not a multiple of 100). HUF and TWD are two-decimal for charges
// and prices; their zero-decimal treatment applies to payouts only.
const twoDecimalCodes = "aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd bwp byn bzd " +
	"cad cdf chf cny cop crc cve czk dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gtq gyd " +
	"hkd hnl htg huf idr ils inr isk jmd kes kgs khr kyd kzt lak lbp lkr lrd lsl " +
	"mad mdl mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd " +
	"pab pen pgk php pkr pln qar ron rsd rub sar sbd scr sek sgd shp sle sos srd std szl " +
	"thb tjs top try ttd twd tzs uah usd uyu uzs wst xcd yer zar zmw"

// zeroDecimalCodes lists Stripe's zero-decimal currencies: unit_amount is
// in whole units, so 500 is 500 JPY.
const zeroDecimalCodes = "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf"

// threeDecimalCodes lists Stripe's three-decimal currencies: unit_amount is
// in thousandths, so 1500 is 1.500 KWD. (Stripe also requires the last
// digit of a three-decimal charge amount to be 0; that is left to Stripe.)
const threeDecimalCodes = "bhd jod kwd omr tnd"

// minCharges holds Stripe's published minimum charge per currency, in
// minor units. Currencies absent here have a minimum of "the equivalent of
// 0.50 USD", which needs an exchange rate and so cannot be checked offline.
var minCharges = map[string]int64{
	"usd": 50,    // 0.50
	"aed": 200,   // 2.00
	"aud": 50,    // 0.50
	"bgn": 100,   // 1.00
	"brl": 50,    // 0.50
	"cad": 50,    // 0.50
	"chf": 50,    // 0.50
	"czk": 1500,  // 15.00
	"dkk": 250,   // 2.50
	"eur": 50,    // 0.50
	"gbp": 30,    // 0.30
	"hkd": 400,   // 4.00
	"huf": 17500, // 175.00
	"inr": 50,    // 0.50
	"jpy": 50,    // 50 (zero-decimal)
	"mxn": 1000,  // 10.00
	"myr": 200,   // 2.00
	"nok": 300,   // 3.00
	"nzd": 50,    // 0.50
	"pln": 200,   // 2.00
	"ron": 200,   // 2.00
	"sek": 300,   // 3.00
	"sgd": 50,    // 0.50
	"thb": 1000,  // 10.00
}

// currencies is the lookup table, keyed by lower-case ISO 4217 code.
var currencies = buildCurrencies()

func buildCurrencies() map[string]Currency {
	m := make(map[string]Currency, 140)
	add := func(codes string, decimals int) {
		for _, code := range strings.Fields(codes) {
			if _, dup := m[code]; dup {
				panic("money: duplicate currency " + code)
			}
			m[code] = Currency{Code: code, Decimals: decimals, MinCharge: minCharges[code]}
		}
	}
	add(twoDecimalCodes, 2)
	add(zeroDecimalCodes, 0)
	add(threeDecimalCodes, 3)
	for code := range minCharges {
		if _, ok := m[code]; !ok {
			panic("money: minimum charge for unlisted currency " + code)
		}
	}
	return m
}
