// Package money validates and formats Stripe price amounts.
//
// Stripe takes unit_amount as an integer count of the currency's minor
// units: cents for usd (2000 is 20.00 USD), whole yen for the zero-decimal
// jpy (500 is 500 JPY), thousandths for the three-decimal kwd (1500 is
// 1.500 KWD). A coding agent that sends 20 meaning 20.00 USD creates a
// 0.20 USD price. This package catches what can be caught before Stripe is
// called (unknown currency, non-positive amount, Stripe's published minimum
// charge, Stripe's 8-digit maximum) with error messages that tell the agent
// how to fix its call, and formats amounts in major units with the currency
// code ("20.00 USD") so a human reviewing the price sees the mistake.
//
// Minimum charges are checked only for the currencies for which Stripe
// publishes a fixed minimum. For every other currency Stripe's minimum is
// "the equivalent of 0.50 USD", which needs a live exchange rate; there
// [Currency.MinCharge] is 0 and only positivity is checked locally, leaving
// the rest to Stripe.
package money

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxUnitAmount is the largest unit_amount Stripe accepts: 8 digits of
// minor units, e.g. 999999.99 USD.
const MaxUnitAmount int64 = 99999999

// Sentinel errors returned (wrapped) by [ValidateAmount]; test with
// [errors.Is].
var (
	// ErrUnknownCurrency means the currency is not one Stripe supports for
	// presentment.
	ErrUnknownCurrency = errors.New("unknown currency")
	// ErrAmountNotPositive means unit_amount is zero or negative.
	ErrAmountNotPositive = errors.New("unit_amount not positive")
	// ErrBelowMinimum means unit_amount is below Stripe's minimum charge for
	// the currency.
	ErrBelowMinimum = errors.New("unit_amount below Stripe's minimum charge")
	// ErrAboveMaximum means unit_amount exceeds [MaxUnitAmount].
	ErrAboveMaximum = errors.New("unit_amount above Stripe's maximum")
)

// amountError carries a message written for the caller to act on while
// still matching its sentinel under errors.Is.
type amountError struct {
	sentinel error
	msg      string
}

func (e *amountError) Error() string { return e.msg }
func (e *amountError) Unwrap() error { return e.sentinel }

// Currency describes one Stripe-supported presentment currency.
type Currency struct {
	// Code is the lower-case ISO 4217 code, e.g. "usd".
	Code string
	// Decimals is the number of minor-unit digits in Stripe's API: 0, 2 or 3.
	Decimals int
	// MinCharge is Stripe's minimum charge in minor units, or 0 when Stripe
	// publishes none (its minimum is then the equivalent of 0.50 USD, which
	// cannot be checked offline).
	MinCharge int64
}

// Lookup returns the Stripe presentment currency with the given ISO 4217
// code. The code is matched case-insensitively after trimming surrounding
// white space. The boolean is false when Stripe does not support the code.
func Lookup(code string) (Currency, bool) {
	c, ok := currencies[strings.ToLower(strings.TrimSpace(code))]
	return c, ok
}

// ValidInterval reports whether interval is a Stripe recurring interval:
// "day", "week", "month" or "year". Matching is exact, because Stripe
// accepts only these lower-case spellings.
func ValidInterval(interval string) bool {
	switch interval {
	case "day", "week", "month", "year":
		return true
	}
	return false
}

// ValidateAmount checks unitAmount, in minor units of currency, against
// Stripe's limits: the currency must be supported, the amount positive, not
// above [MaxUnitAmount], and not below the currency's published minimum
// charge (when it has one; see [Currency.MinCharge]). The returned error wraps
// one of [ErrUnknownCurrency], [ErrAmountNotPositive], [ErrAboveMaximum] or
// [ErrBelowMinimum], and its message explains the fix, including a worked
// minor-unit example in the currency's own decimals.
func ValidateAmount(unitAmount int64, currency string) error {
	c, ok := Lookup(currency)
	if !ok {
		return &amountError{ErrUnknownCurrency, fmt.Sprintf(
			"unknown currency %q: use a three-letter ISO 4217 code Stripe supports, such as usd, eur or gbp",
			currency)}
	}
	switch {
	case unitAmount <= 0:
		return &amountError{ErrAmountNotPositive, fmt.Sprintf(
			"unit_amount must be a positive whole number of minor units (%s): %s",
			c.minorUnitHint(), c.example())}
	case unitAmount > MaxUnitAmount:
		return &amountError{ErrAboveMaximum, fmt.Sprintf(
			"unit_amount %d is %s, above Stripe's maximum unit_amount of %d minor units (8 digits, %s); amounts are in minor units, so %s",
			unitAmount, c.format(unitAmount), MaxUnitAmount, c.format(MaxUnitAmount), c.example())}
	case unitAmount < c.MinCharge:
		return &amountError{ErrBelowMinimum, fmt.Sprintf(
			"unit_amount %d is %s, below Stripe's minimum charge of %s; amounts are in minor units, so %s",
			unitAmount, c.format(unitAmount), c.format(c.MinCharge), c.example())}
	}
	return nil
}

// Format renders unitAmount, in minor units of currency, in major units
// with the currency's decimals, a "." decimal separator, no thousands
// separator and the upper-case code: Format(2000, "usd") is "20.00 USD",
// Format(500, "jpy") is "500 JPY", Format(1500, "kwd") is "1.500 KWD".
// For an unsupported currency the decimals are unknown, so the amount is
// shown unconverted, e.g. "2000 minor units of unknown currency \"xyz\"".
func Format(unitAmount int64, currency string) string {
	c, ok := Lookup(currency)
	if !ok {
		return fmt.Sprintf("%d minor units of unknown currency %q", unitAmount, currency)
	}
	return c.format(unitAmount)
}

// FormatPrice renders a price as [Format] does, followed for a recurring
// price by its billing interval: "20.00 USD / month",
// "60.00 USD / 3 months". An empty interval means a one-time price
// ("5.00 EUR"). An intervalCount of 1 or less is shown as a single
// interval. The interval is not validated; use [ValidInterval] for that.
func FormatPrice(unitAmount int64, currency, interval string, intervalCount int64) string {
	s := Format(unitAmount, currency)
	switch {
	case interval == "":
		return s
	case intervalCount <= 1:
		return s + " / " + interval
	default:
		return s + " / " + strconv.FormatInt(intervalCount, 10) + " " + interval + "s"
	}
}

// format renders a minor-unit amount in major units with c's decimals.
func (c Currency) format(unitAmount int64) string {
	var mag uint64
	sign := ""
	if unitAmount < 0 {
		sign = "-"
		mag = uint64(-(unitAmount + 1)) + 1 // safe for math.MinInt64
	} else {
		mag = uint64(unitAmount)
	}
	digits := strconv.FormatUint(mag, 10)
	if c.Decimals > 0 {
		if len(digits) <= c.Decimals {
			digits = strings.Repeat("0", c.Decimals+1-len(digits)) + digits
		}
		cut := len(digits) - c.Decimals
		digits = digits[:cut] + "." + digits[cut:]
	}
	return sign + digits + " " + strings.ToUpper(c.Code)
}

// minorUnitHint names c's minor unit for the not-positive message.
func (c Currency) minorUnitHint() string {
	switch {
	case c.Code == "usd":
		return "cents for usd"
	case c.Decimals == 0:
		return c.Code + " is zero-decimal, so whole " + strings.ToUpper(c.Code)
	case c.Decimals == 3:
		return "thousandths for " + c.Code
	default:
		return "hundredths for " + c.Code
	}
}

// example returns a worked conversion such as "20.00 USD is 2000" or
// "500 JPY is 500". The major amount is 20 (500 for zero-decimal
// currencies), raised by powers of ten until it is at least the minimum
// charge, so the example is itself a valid amount.
func (c Currency) example() string {
	minor := c.exampleMinor()
	return c.format(minor) + " is " + strconv.FormatInt(minor, 10)
}

// exampleMinor is example's amount in minor units.
func (c Currency) exampleMinor() int64 {
	major := int64(20)
	if c.Decimals == 0 {
		major = 500
	}
	minor := major
	for range c.Decimals {
		minor *= 10
	}
	for minor < c.MinCharge {
		minor *= 10
	}
	return minor
}

// ErrTooManyDecimals means a major-unit amount has more decimals than its
// currency's minor unit allows (any for jpy, more than 2 for usd).
var ErrTooManyDecimals = errors.New("amount has more decimals than the currency")

// ErrNotAnAmount means a major-unit amount is not digits with an optional
// decimal point.
var ErrNotAnAmount = errors.New("not an amount")

// ParseMajor reads an amount in currency's major units, "20.00" or "20" for
// 20.00 USD, and returns it in minor units (2000). At most the currency's
// decimals are allowed (trailing zeros aside): none for jpy, 2 for usd,
// 3 for kwd. Stripe's limits are not applied here; use [ValidateAmount].
// The error wraps [ErrUnknownCurrency], [ErrNotAnAmount],
// [ErrTooManyDecimals] or [ErrAboveMaximum].
func ParseMajor(v, currency string) (int64, error) {
	c, ok := Lookup(currency)
	if !ok {
		return 0, &amountError{ErrUnknownCurrency, fmt.Sprintf(
			"unknown currency %q: use a three-letter ISO 4217 code Stripe supports, such as usd, eur or gbp", currency)}
	}
	whole, frac, dot := strings.Cut(v, ".")
	if whole == "" || !digits(whole) || dot && (frac == "" || !digits(frac)) {
		return 0, &amountError{ErrNotAnAmount, fmt.Sprintf(
			"%q is not an amount: give digits with an optional decimal point, e.g. %s for %s, without currency signs or thousands separators", v, strings.Fields(c.format(c.exampleMinor()))[0], strings.ToUpper(c.Code))}
	}
	if dot && c.Decimals == 0 {
		return 0, &amountError{ErrTooManyDecimals, fmt.Sprintf(
			"%s has decimals, but %s has no minor unit: give a whole number, e.g. 500 for 500 %s", v, strings.ToUpper(c.Code), strings.ToUpper(c.Code))}
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > c.Decimals {
		return 0, &amountError{ErrTooManyDecimals, fmt.Sprintf("%s has more decimals than %s's %d", v, strings.ToUpper(c.Code), c.Decimals)}
	}
	n, err := strconv.ParseInt(whole+frac+strings.Repeat("0", c.Decimals-len(frac)), 10, 64)
	if err != nil {
		return 0, &amountError{ErrAboveMaximum, fmt.Sprintf("%s is too large", v)}
	}
	return n, nil
}

// digits reports whether s is all ASCII digits.
func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
