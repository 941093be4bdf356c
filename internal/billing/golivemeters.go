package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// PromotedMeter is what promote_catalog did (or would do) with a test
// meter: a live meter with the same event_name is the copy.
type PromotedMeter struct {
	TestID    string `json:"test_meter_id"`
	EventName string `json:"event_name"`
	// Action is exists, would_create or created.
	Action string `json:"action"`
	LiveID string `json:"live_meter_id,omitempty"`
}

// meters maps each active test meter to the live meter of its event_name,
// creating those live mode lacks (not in a dry run, where a meter to create
// maps to ""). The usage API sends by event_name, so the name is the key.
func (p *promotion) meters(ctx context.Context, testC *stripeapi.Client) (map[string]string, error) {
	test, err := listAll[stripe.BillingMeter](ctx, testC.ListMeters, nil)
	if err != nil {
		return nil, err
	}
	live := map[string]listed[stripe.BillingMeter]{}
	if p.c != nil {
		lms, err := listAll[stripe.BillingMeter](ctx, p.c.ListMeters, nil)
		if err != nil {
			return nil, err
		}
		for _, m := range lms {
			if m.v.Status == stripe.BillingMeterStatusActive {
				live[m.v.EventName] = m
			}
		}
	}
	out := map[string]string{}
	for _, tm := range test {
		t := tm.v
		if t.Status != stripe.BillingMeterStatusActive {
			continue
		}
		res := PromotedMeter{TestID: t.ID, EventName: t.EventName}
		switch lm, ok := live[t.EventName]; {
		case ok:
			res.Action, res.LiveID = ActionExists, lm.v.ID
			err = p.st.UpsertMeters(ctx, vocab.Live, []json.RawMessage{lm.raw}, time.Now())
		case p.dryRun:
			res.Action = ActionWouldCreate
		default:
			res.Action = ActionCreated
			res.LiveID, err = p.createMeter(ctx, t)
		}
		if err != nil {
			return nil, err
		}
		out[t.ID] = res.LiveID
		p.res.Meters = append(p.res.Meters, res)
	}
	return out, nil
}

// createMeter copies a test meter to live mode and mirrors it.
func (p *promotion) createMeter(ctx context.Context, t *stripe.BillingMeter) (string, error) {
	params := &stripe.BillingMeterParams{EventName: stripe.String(t.EventName), DisplayName: stripe.String(t.DisplayName)}
	if t.DefaultAggregation != nil {
		params.DefaultAggregation = &stripe.BillingMeterDefaultAggregationParams{Formula: stripe.String(string(t.DefaultAggregation.Formula))}
	}
	if t.CustomerMapping != nil {
		params.CustomerMapping = &stripe.BillingMeterCustomerMappingParams{Type: stripe.String(string(t.CustomerMapping.Type)),
			EventPayloadKey: stripe.String(t.CustomerMapping.EventPayloadKey)}
	}
	if t.ValueSettings != nil && t.ValueSettings.EventPayloadKey != "" {
		params.ValueSettings = &stripe.BillingMeterValueSettingsParams{EventPayloadKey: stripe.String(t.ValueSettings.EventPayloadKey)}
	}
	m, err := p.s.createMeter(ctx, p.st, p.c, p.e, params, stripeapi.IdempotencyKey("promote_meter", p.e.AccountID, t.ID))
	if err != nil {
		return "", fmt.Errorf("copy meter %s (%s) to live: %w; call promote_catalog again to continue (nothing is created twice)", t.ID, t.EventName, err)
	}
	return m.ID, nil
}

// metered reports whether t bills usage.
func metered(t *stripe.Price) bool {
	return t.Recurring != nil && t.Recurring.UsageType == stripe.PriceRecurringUsageTypeMetered
}

// meteredUnsupported says why a metered test price cannot be copied, or "".
func meteredUnsupported(t *stripe.Price, liveMeters map[string]string) string {
	switch _, ok := liveMeters[t.Recurring.Meter]; {
	case t.Recurring.Meter == "":
		return "a metered price without a meter (legacy usage records) is not copied: create a meter with create_meter and a metered price with meter_id, then call promote_catalog again"
	case !ok:
		return fmt.Sprintf("its meter %s is not an active test meter: reactivate it in the Stripe Dashboard, or use a price of an active meter", t.Recurring.Meter)
	case t.BillingScheme == stripe.PriceBillingSchemeTiered:
		return "tiered pricing is not copied: create this price in live mode in the Stripe Dashboard, then call promote_catalog again (it adopts a live price with the same lookup key and terms)"
	}
	return ""
}

// meteredParams sets a metered price's fields on the live copy's params:
// the live meter, a decimal amount and the package size.
func meteredParams(params *stripe.PriceParams, t *stripe.Price, liveMeter string) {
	params.Recurring.UsageType = stripe.String(string(stripe.PriceRecurringUsageTypeMetered))
	params.Recurring.Meter = stripe.String(liveMeter)
	if t.UnitAmountDecimal != float64(t.UnitAmount) {
		params.UnitAmount = nil
		params.UnitAmountDecimal = stripe.Float64(t.UnitAmountDecimal)
	}
	if t.TransformQuantity != nil {
		params.TransformQuantity = &stripe.PriceTransformQuantityParams{DivideBy: stripe.Int64(t.TransformQuantity.DivideBy),
			Round: stripe.String(string(t.TransformQuantity.Round))}
	}
}

// meteredDisplay is display for a metered price.
func meteredDisplay(t *stripe.Price) string {
	decimal, pkg := "", int64(0)
	if t.UnitAmountDecimal != float64(t.UnitAmount) {
		decimal = strconv.FormatFloat(t.UnitAmountDecimal, 'f', -1, 64)
	}
	if t.TransformQuantity != nil {
		pkg = t.TransformQuantity.DivideBy
	}
	return MeteredDisplay(t.UnitAmount, decimal, string(t.Currency), string(t.Recurring.Interval), t.Recurring.IntervalCount, pkg)
}

// sameUsage reports whether two prices bill usage alike (both licensed, or
// both metered with the same amount per unit and package).
func sameUsage(t, l *stripe.Price) bool {
	if metered(t) != metered(l) {
		return false
	}
	if !metered(t) {
		return true
	}
	div := func(p *stripe.Price) int64 {
		if p.TransformQuantity == nil {
			return 1
		}
		return p.TransformQuantity.DivideBy
	}
	return t.UnitAmountDecimal == l.UnitAmountDecimal && div(t) == div(l)
}
