package billing

import (
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/money"
)

// MeteredInput makes a price metered: billed each period by the usage its
// meter counts. Unset fields are left out of the idempotency key, so a
// licensed price derives the key it always did.
type MeteredInput struct {
	// MeterID is the meter (mtr_…) whose usage the price bills.
	MeterID string `json:",omitempty"`
	// UnitAmountDecimal is the price per unit in minor units with up to 12
	// decimals ("0.5" is half a cent), instead of UnitAmount.
	UnitAmountDecimal string `json:",omitempty"`
	// PackageSize bills per package of that many units, rounded up
	// (transform_quantity {divide_by, round: up}).
	PackageSize int64 `json:",omitempty"`
}

// decimalAmount is Stripe's unit_amount_decimal: at most 12 decimals.
var decimalAmount = regexp.MustCompile(`^[0-9]{1,8}(\.[0-9]{1,12})?$`)

// validate checks a metered price's amount: unit_amount (0 allowed) or
// unit_amount_decimal, never both; no minimum charge applies, since usage
// adds up to the invoice.
func (m *MeteredInput) validate(unitAmount int64, currency, interval string) error {
	m.MeterID, m.UnitAmountDecimal = strings.TrimSpace(m.MeterID), strings.TrimSpace(m.UnitAmountDecimal)
	if m.MeterID == "" {
		if m.UnitAmountDecimal != "" || m.PackageSize != 0 {
			return inputErr("unit_amount_decimal and package_size apply to metered prices: set meter_id (an mtr_… id from create_meter or list_meters), or drop them")
		}
		return nil
	}
	if _, ok := money.Lookup(currency); !ok {
		return money.ValidateAmount(1, currency)
	}
	switch {
	case interval == "":
		return inputErr("a metered price bills usage each period: set interval (e.g. month)")
	case m.UnitAmountDecimal != "" && unitAmount != 0:
		return inputErr("set unit_amount or unit_amount_decimal, not both")
	case m.UnitAmountDecimal == "" && (unitAmount < 0 || unitAmount > money.MaxUnitAmount):
		return inputErr("unit_amount %d is out of range: 0 to %d minor units per unit of usage", unitAmount, money.MaxUnitAmount)
	case m.UnitAmountDecimal != "" && !decimalAmount.MatchString(m.UnitAmountDecimal):
		return inputErr("unit_amount_decimal %q is not a decimal amount of minor units with at most 12 decimals, e.g. \"0.05\" (a twentieth of a cent per unit)", m.UnitAmountDecimal)
	case m.PackageSize < 0 || m.PackageSize > 1_000_000_000:
		return inputErr("package_size %d is out of range: 1 to 1000000000 units per package (omit it to bill per unit)", m.PackageSize)
	}
	return nil
}

// params sets the metered fields on p.
func (m *MeteredInput) params(p *stripe.PriceParams) {
	if m.MeterID == "" {
		return
	}
	p.Recurring.UsageType = stripe.String(string(stripe.PriceRecurringUsageTypeMetered))
	p.Recurring.Meter = stripe.String(m.MeterID)
	if m.UnitAmountDecimal != "" {
		p.UnitAmount = nil
		d, _ := strconv.ParseFloat(m.UnitAmountDecimal, 64)
		p.UnitAmountDecimal = stripe.Float64(d)
	}
	if m.PackageSize > 1 {
		p.TransformQuantity = &stripe.PriceTransformQuantityParams{DivideBy: stripe.Int64(m.PackageSize), Round: stripe.String("up")}
	}
}

// MeteredDisplay renders a metered price for a human, e.g. "0.05 USD per
// unit / month" or "2.00 USD per 1000 units / month". decimal is Stripe's
// unit_amount_decimal ("" when unit_amount is whole).
func MeteredDisplay(unitAmount int64, decimal, currency, interval string, intervalCount, packageSize int64) string {
	amount := money.Format(unitAmount, currency)
	if c, ok := money.Lookup(currency); ok && decimal != "" {
		if r, ok := new(big.Rat).SetString(decimal); ok && !r.IsInt() {
			r.Quo(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(c.Decimals)), nil)))
			s := strings.TrimRight(r.FloatString(c.Decimals+12), "0")
			amount = s + " " + strings.ToUpper(currency)
		}
	}
	per := " per unit"
	if packageSize > 1 {
		per = " per " + strconv.FormatInt(packageSize, 10) + " units"
	}
	// The interval as FormatPrice says it (" / month").
	interval = strings.TrimPrefix(money.FormatPrice(0, currency, interval, intervalCount), money.Format(0, currency))
	return amount + per + interval
}
