package money

import (
	"errors"
	"math"
	"strings"
	"testing"
)

var sentinels = []error{ErrUnknownCurrency, ErrAmountNotPositive, ErrBelowMinimum, ErrAboveMaximum}

func TestLookup(t *testing.T) {
	tests := []struct {
		code   string
		want   Currency
		wantOK bool
	}{
		{"usd", Currency{"usd", 2, 50}, true},
		{"USD", Currency{"usd", 2, 50}, true},
		{"  Usd\t", Currency{"usd", 2, 50}, true},
		{"eur", Currency{"eur", 2, 50}, true},
		{"gbp", Currency{"gbp", 2, 30}, true},
		{"huf", Currency{"huf", 2, 17500}, true},
		{"czk", Currency{"czk", 2, 1500}, true},
		{"jpy", Currency{"jpy", 0, 50}, true},
		{"JPY", Currency{"jpy", 0, 50}, true},
		{"krw", Currency{"krw", 0, 0}, true},
		{"ugx", Currency{"ugx", 0, 0}, true},
		{"kwd", Currency{"kwd", 3, 0}, true},
		{"BHD", Currency{"bhd", 3, 0}, true},
		{"isk", Currency{"isk", 2, 0}, true}, // two-decimal in Stripe's API
		{"twd", Currency{"twd", 2, 0}, true},
		{"idr", Currency{"idr", 2, 0}, true},
		{"usdd", Currency{}, false},
		{"us", Currency{}, false},
		{"", Currency{}, false},
		{"u sd", Currency{}, false},
		{"btc", Currency{}, false},
	}
	for _, tt := range tests {
		got, ok := Lookup(tt.code)
		if ok != tt.wantOK || got != tt.want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v, %v", tt.code, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestCurrencyTable(t *testing.T) {
	if got, want := len(currencies), 139; got != want {
		t.Errorf("len(currencies) = %d, want %d", got, want)
	}
	byDecimals := map[int][]string{}
	for code, c := range currencies {
		if c.Code != code || len(code) != 3 || strings.ToLower(code) != code {
			t.Errorf("bad entry %q: %+v", code, c)
		}
		if c.MinCharge < 0 || c.MinCharge > MaxUnitAmount {
			t.Errorf("%s: MinCharge %d out of range", code, c.MinCharge)
		}
		byDecimals[c.Decimals] = append(byDecimals[c.Decimals], code)
	}
	if got := len(byDecimals[0]); got != 16 {
		t.Errorf("%d zero-decimal currencies, want 16: %v", got, byDecimals[0])
	}
	if got := len(byDecimals[3]); got != 5 {
		t.Errorf("%d three-decimal currencies, want 5: %v", got, byDecimals[3])
	}
	if got := len(byDecimals); got != 3 {
		t.Errorf("decimal classes = %v, want only 0, 2 and 3", byDecimals)
	}
	wantMin := map[string]string{
		"usd": "0.50 USD", "aed": "2.00 AED", "aud": "0.50 AUD", "bgn": "1.00 BGN",
		"brl": "0.50 BRL", "cad": "0.50 CAD", "chf": "0.50 CHF", "czk": "15.00 CZK",
		"dkk": "2.50 DKK", "eur": "0.50 EUR", "gbp": "0.30 GBP", "hkd": "4.00 HKD",
		"huf": "175.00 HUF", "inr": "0.50 INR", "jpy": "50 JPY", "mxn": "10.00 MXN",
		"myr": "2.00 MYR", "nok": "3.00 NOK", "nzd": "0.50 NZD", "pln": "2.00 PLN",
		"ron": "2.00 RON", "sek": "3.00 SEK", "sgd": "0.50 SGD", "thb": "10.00 THB",
	}
	for code, c := range currencies {
		want, published := wantMin[code]
		switch {
		case published && Format(c.MinCharge, code) != want:
			t.Errorf("%s minimum = %s, want %s", code, Format(c.MinCharge, code), want)
		case !published && c.MinCharge != 0:
			t.Errorf("%s: MinCharge %d, want 0 (no published minimum)", code, c.MinCharge)
		}
	}
}

func TestValidateAmount(t *testing.T) {
	tests := []struct {
		name     string
		amount   int64
		currency string
		want     error // sentinel, nil for valid
		msg      string
	}{
		// valid amounts and boundaries
		{"usd typical", 2000, "usd", nil, ""},
		{"usd exactly minimum", 50, "usd", nil, ""},
		{"usd maximum", 99999999, "usd", nil, ""},
		{"upper-case code", 2000, "USD", nil, ""},
		{"padded mixed case", 2000, " Eur ", nil, ""},
		{"gbp exactly minimum", 30, "gbp", nil, ""},
		{"huf exactly minimum", 17500, "huf", nil, ""},
		{"jpy exactly minimum", 50, "jpy", nil, ""},
		{"jpy maximum", 99999999, "jpy", nil, ""},
		{"kwd no published minimum", 1, "kwd", nil, ""},
		{"kwd maximum", 99999999, "kwd", nil, ""},
		{"krw no published minimum", 1, "krw", nil, ""},
		{"isk no published minimum", 100, "isk", nil, ""},

		// unknown currency
		{"unknown", 2000, "usdd", ErrUnknownCurrency,
			`unknown currency "usdd": use a three-letter ISO 4217 code Stripe supports, such as usd, eur or gbp`},
		{"empty currency", 2000, "", ErrUnknownCurrency,
			`unknown currency "": use a three-letter ISO 4217 code Stripe supports, such as usd, eur or gbp`},
		{"unknown checked before amount", 0, "dollars", ErrUnknownCurrency,
			`unknown currency "dollars": use a three-letter ISO 4217 code Stripe supports, such as usd, eur or gbp`},

		// not positive
		{"usd zero", 0, "usd", ErrAmountNotPositive,
			"unit_amount must be a positive whole number of minor units (cents for usd): 20.00 USD is 2000"},
		{"usd negative", -2000, "USD", ErrAmountNotPositive,
			"unit_amount must be a positive whole number of minor units (cents for usd): 20.00 USD is 2000"},
		{"min int64", math.MinInt64, "usd", ErrAmountNotPositive,
			"unit_amount must be a positive whole number of minor units (cents for usd): 20.00 USD is 2000"},
		{"eur zero", 0, "eur", ErrAmountNotPositive,
			"unit_amount must be a positive whole number of minor units (hundredths for eur): 20.00 EUR is 2000"},
		{"jpy zero", 0, "jpy", ErrAmountNotPositive,
			"unit_amount must be a positive whole number of minor units (jpy is zero-decimal, so whole JPY): 500 JPY is 500"},
		{"kwd zero", 0, "kwd", ErrAmountNotPositive,
			"unit_amount must be a positive whole number of minor units (thousandths for kwd): 20.000 KWD is 20000"},
		{"huf zero example above minimum", 0, "huf", ErrAmountNotPositive,
			"unit_amount must be a positive whole number of minor units (hundredths for huf): 200.00 HUF is 20000"},

		// below minimum
		{"usd 20 meant 20.00", 20, "usd", ErrBelowMinimum,
			"unit_amount 20 is 0.20 USD, below Stripe's minimum charge of 0.50 USD; amounts are in minor units, so 20.00 USD is 2000"},
		{"usd one below minimum", 49, "usd", ErrBelowMinimum,
			"unit_amount 49 is 0.49 USD, below Stripe's minimum charge of 0.50 USD; amounts are in minor units, so 20.00 USD is 2000"},
		{"usd one cent", 1, "usd", ErrBelowMinimum,
			"unit_amount 1 is 0.01 USD, below Stripe's minimum charge of 0.50 USD; amounts are in minor units, so 20.00 USD is 2000"},
		{"gbp one below minimum", 29, "GBP", ErrBelowMinimum,
			"unit_amount 29 is 0.29 GBP, below Stripe's minimum charge of 0.30 GBP; amounts are in minor units, so 20.00 GBP is 2000"},
		{"jpy one below minimum", 49, "jpy", ErrBelowMinimum,
			"unit_amount 49 is 49 JPY, below Stripe's minimum charge of 50 JPY; amounts are in minor units, so 500 JPY is 500"},
		{"huf one below minimum", 17499, "huf", ErrBelowMinimum,
			"unit_amount 17499 is 174.99 HUF, below Stripe's minimum charge of 175.00 HUF; amounts are in minor units, so 200.00 HUF is 20000"},
		{"mxn 10 meant 10.00", 10, "mxn", ErrBelowMinimum,
			"unit_amount 10 is 0.10 MXN, below Stripe's minimum charge of 10.00 MXN; amounts are in minor units, so 20.00 MXN is 2000"},

		// above maximum
		{"usd one above maximum", 100000000, "usd", ErrAboveMaximum,
			"unit_amount 100000000 is 1000000.00 USD, above Stripe's maximum unit_amount of 99999999 minor units (8 digits, 999999.99 USD); amounts are in minor units, so 20.00 USD is 2000"},
		{"jpy above maximum", 100000000, "jpy", ErrAboveMaximum,
			"unit_amount 100000000 is 100000000 JPY, above Stripe's maximum unit_amount of 99999999 minor units (8 digits, 99999999 JPY); amounts are in minor units, so 500 JPY is 500"},
		{"kwd above maximum", 100000000, "kwd", ErrAboveMaximum,
			"unit_amount 100000000 is 100000.000 KWD, above Stripe's maximum unit_amount of 99999999 minor units (8 digits, 99999.999 KWD); amounts are in minor units, so 20.000 KWD is 20000"},
		{"max int64", math.MaxInt64, "usd", ErrAboveMaximum,
			"unit_amount 9223372036854775807 is 92233720368547758.07 USD, above Stripe's maximum unit_amount of 99999999 minor units (8 digits, 999999.99 USD); amounts are in minor units, so 20.00 USD is 2000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateAmount(tt.amount, tt.currency)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ValidateAmount(%d, %q) = %v, want nil", tt.amount, tt.currency, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateAmount(%d, %q) = nil, want %v", tt.amount, tt.currency, tt.want)
			}
			for _, s := range sentinels {
				if got, want := errors.Is(err, s), s == tt.want; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", s, got, want)
				}
			}
			if err.Error() != tt.msg {
				t.Errorf("message:\n got %s\nwant %s", err.Error(), tt.msg)
			}
		})
	}
}

func TestValidateAmountEveryCurrency(t *testing.T) {
	for code, c := range currencies {
		lowest := max(c.MinCharge, 1)
		if err := ValidateAmount(lowest, code); err != nil {
			t.Errorf("ValidateAmount(%d, %q) = %v, want nil", lowest, code, err)
		}
		if err := ValidateAmount(MaxUnitAmount, strings.ToUpper(code)); err != nil {
			t.Errorf("ValidateAmount(max, %q) = %v, want nil", code, err)
		}
		if c.MinCharge > 0 {
			if err := ValidateAmount(c.MinCharge-1, code); !errors.Is(err, ErrBelowMinimum) {
				t.Errorf("ValidateAmount(%d, %q) = %v, want ErrBelowMinimum", c.MinCharge-1, code, err)
			}
		}
		if err := ValidateAmount(0, code); !errors.Is(err, ErrAmountNotPositive) {
			t.Errorf("ValidateAmount(0, %q) = %v, want ErrAmountNotPositive", code, err)
		}
		if err := ValidateAmount(MaxUnitAmount+1, code); !errors.Is(err, ErrAboveMaximum) {
			t.Errorf("ValidateAmount(max+1, %q) = %v, want ErrAboveMaximum", code, err)
		}
		// The worked example in every message must itself be a valid amount.
		ex := c.example()
		var minor int64
		for _, r := range ex[strings.LastIndex(ex, " ")+1:] {
			minor = minor*10 + int64(r-'0')
		}
		if err := ValidateAmount(minor, code); err != nil {
			t.Errorf("%s example %q is not valid: %v", code, ex, err)
		}
		if want := Format(minor, code) + " is "; !strings.HasPrefix(ex, want) {
			t.Errorf("%s example %q does not start with %q", code, ex, want)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		amount   int64
		currency string
		want     string
	}{
		{2000, "usd", "20.00 USD"},
		{20, "usd", "0.20 USD"},
		{5, "usd", "0.05 USD"},
		{0, "usd", "0.00 USD"},
		{-2000, "usd", "-20.00 USD"},
		{-5, "usd", "-0.05 USD"},
		{123456, "usd", "1234.56 USD"},
		{99999999, "usd", "999999.99 USD"},
		{2000, "USD", "20.00 USD"},
		{2000, " Eur ", "20.00 EUR"},
		{500, "jpy", "500 JPY"},
		{0, "jpy", "0 JPY"},
		{1234567, "krw", "1234567 KRW"},
		{500, "isk", "5.00 ISK"},
		{1500, "kwd", "1.500 KWD"},
		{5, "kwd", "0.005 KWD"},
		{50, "bhd", "0.050 BHD"},
		{-1500, "kwd", "-1.500 KWD"},
		{math.MaxInt64, "usd", "92233720368547758.07 USD"},
		{math.MinInt64, "usd", "-92233720368547758.08 USD"},
		{math.MinInt64, "jpy", "-9223372036854775808 JPY"},
		{2000, "xyz", `2000 minor units of unknown currency "xyz"`},
	}
	for _, tt := range tests {
		if got := Format(tt.amount, tt.currency); got != tt.want {
			t.Errorf("Format(%d, %q) = %q, want %q", tt.amount, tt.currency, got, tt.want)
		}
	}
}

func TestFormatPrice(t *testing.T) {
	tests := []struct {
		amount   int64
		currency string
		interval string
		count    int64
		want     string
	}{
		{500, "eur", "", 0, "5.00 EUR"},
		{500, "eur", "", 3, "5.00 EUR"},
		{2000, "usd", "month", 1, "20.00 USD / month"},
		{2000, "usd", "month", 0, "20.00 USD / month"},
		{2000, "usd", "month", -2, "20.00 USD / month"},
		{6000, "usd", "month", 3, "60.00 USD / 3 months"},
		{12000, "usd", "year", 1, "120.00 USD / year"},
		{24000, "usd", "year", 2, "240.00 USD / 2 years"},
		{100, "usd", "week", 1, "1.00 USD / week"},
		{200, "usd", "week", 2, "2.00 USD / 2 weeks"},
		{50, "usd", "day", 1, "0.50 USD / day"},
		{700, "usd", "day", 14, "7.00 USD / 14 days"},
		{500, "jpy", "month", 1, "500 JPY / month"},
		{1500, "kwd", "year", 1, "1.500 KWD / year"},
		{20, "USD", "month", 1, "0.20 USD / month"},
	}
	for _, tt := range tests {
		if got := FormatPrice(tt.amount, tt.currency, tt.interval, tt.count); got != tt.want {
			t.Errorf("FormatPrice(%d, %q, %q, %d) = %q, want %q",
				tt.amount, tt.currency, tt.interval, tt.count, got, tt.want)
		}
	}
}

func TestValidInterval(t *testing.T) {
	tests := []struct {
		interval string
		want     bool
	}{
		{"day", true},
		{"week", true},
		{"month", true},
		{"year", true},
		{"", false},
		{"Month", false},
		{" month", false},
		{"months", false},
		{"quarter", false},
		{"fortnight", false},
	}
	for _, tt := range tests {
		if got := ValidInterval(tt.interval); got != tt.want {
			t.Errorf("ValidInterval(%q) = %v, want %v", tt.interval, got, tt.want)
		}
	}
}

func TestParseMajor(t *testing.T) {
	cases := []struct {
		v, currency string
		want        int64
		err         error
	}{
		{"20.00", "usd", 2000, nil},
		{"20", "usd", 2000, nil},
		{"20.5", "usd", 2050, nil},
		{"0.99", "USD", 99, nil},
		{"20.500", "usd", 2050, nil}, // trailing zeros are not decimals
		{"500", "jpy", 500, nil},
		{"1.5", "kwd", 1500, nil},
		{"1.505", "kwd", 1505, nil},
		{"20.001", "usd", 0, ErrTooManyDecimals},
		{"500.5", "jpy", 0, ErrTooManyDecimals},
		{"500.0", "jpy", 0, ErrTooManyDecimals},
		{"1.5055", "kwd", 0, ErrTooManyDecimals},
		{"$20", "usd", 0, ErrNotAnAmount},
		{"1,000.00", "usd", 0, ErrNotAnAmount},
		{"-20.00", "usd", 0, ErrNotAnAmount},
		{"20.", "usd", 0, ErrNotAnAmount},
		{".50", "usd", 0, ErrNotAnAmount},
		{"", "usd", 0, ErrNotAnAmount},
		{"99999999999999999999", "usd", 0, ErrAboveMaximum},
		{"20.00", "xyz", 0, ErrUnknownCurrency},
	}
	for _, c := range cases {
		got, err := ParseMajor(c.v, c.currency)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("ParseMajor(%q, %q) = %d, %v; want %d, %v", c.v, c.currency, got, err, c.want, c.err)
		}
	}
}
