package checkout

import (
	"slices"
	"sort"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/store"
)

// MetaOrderID is the one metadata key an end user's token may send: the
// app's pending order, which fulfillment checks against the money paid.
const MetaOrderID = "order_id"

// checkFieldsAllowed applies the session API's field rules: an end user's
// token buys on the app's terms, so it may not send the fields that choose
// them (trial_period_days, allow_promotion_codes, automatic_tax, metadata
// other than order_id). The terms come from the prices; the app's backend,
// with an API key, may still set them per checkout.
func checkFieldsAllowed(caller *auth.Caller, r *CheckoutRequest) error {
	if caller.Kind != "user" {
		return nil
	}
	refuse := func(field string) error {
		return badRequest("field_not_allowed", "%s may not be sent with an end user's token: the terms a user gets are the app's, set on the price (create_price / create_plan: trial_period_days, allow_promotion_codes, automatic_tax), or sent by the app's backend with an API key", field)
	}
	switch {
	case r.TrialPeriodDays != nil:
		return refuse("trial_period_days")
	case r.AllowPromotionCodes != nil:
		return refuse("allow_promotion_codes")
	case r.AutomaticTax != nil:
		return refuse("automatic_tax")
	case r.AllowMultiple:
		return badRequest("field_not_allowed", "allow_multiple may not be sent with an end user's token: a second subscription to a product the subject pays for is the app's backend's decision (an API key); the user changes plans in the Billing Portal")
	}
	keys := make([]string, 0, len(r.Metadata))
	for k := range r.Metadata {
		if k != MetaOrderID {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		sort.Strings(keys)
		return badRequest("field_not_allowed", "metadata.%s may not be sent with an end user's token: only metadata.%s is (the app's pending order); other metadata comes from the app's backend with an API key", keys[0], MetaOrderID)
	}
	return nil
}

// checkoutTerms are what a checkout grants beyond its prices.
type checkoutTerms struct {
	trialDays     int64
	trialProducts []string // the recurring prices' products, sorted
	trialForced   bool     // the request set trial_period_days
	promotion     bool
	automaticTax  bool
}

// termsOf derives a checkout's terms from its prices: the longest trial of
// its recurring prices (subscription mode only), automatic tax when any
// price asks for it, promotion codes only when every price takes them (a
// code discounts the whole session unless its coupon names products, so
// one price's permission would discount the others). A request field (only an
// API key may send one, see checkFieldsAllowed) overrides each: a trial
// given by the request is granted as given, 0 meaning none.
func termsOf(prices []store.CheckoutPrice, r *CheckoutRequest) checkoutTerms {
	var t checkoutTerms
	t.promotion = len(prices) > 0
	for _, p := range prices {
		if r.Mode == "subscription" && p.Type == "recurring" {
			t.trialDays = max(t.trialDays, p.TrialPeriodDays)
			if !slices.Contains(t.trialProducts, p.ProductID) {
				t.trialProducts = append(t.trialProducts, p.ProductID)
			}
		}
		t.promotion = t.promotion && p.AllowPromotionCodes
		t.automaticTax = t.automaticTax || p.AutomaticTax
	}
	sort.Strings(t.trialProducts)
	if r.TrialPeriodDays != nil {
		t.trialDays, t.trialForced = *r.TrialPeriodDays, true
	}
	if r.AllowPromotionCodes != nil {
		t.promotion = *r.AllowPromotionCodes
	}
	if r.AutomaticTax != nil {
		t.automaticTax = *r.AutomaticTax
	}
	return t
}

// claim puts the trial the row would carry on nc; StartCheckout decides.
func (t checkoutTerms) claim(nc *store.NewCheckout) {
	nc.TrialDays, nc.TrialProducts, nc.TrialForced = 0, nil, false
	if t.trialDays > 0 {
		nc.TrialDays, nc.TrialProducts, nc.TrialForced = t.trialDays, t.trialProducts, t.trialForced
	}
}

// apply sets the terms on the session's parameters; trialDays is the trial
// the row got (Checkout.TrialDays).
func (t checkoutTerms) apply(p *stripe.CheckoutSessionParams, trialDays int64) {
	if trialDays > 0 && p.SubscriptionData != nil {
		p.SubscriptionData.TrialPeriodDays = stripe.Int64(trialDays)
	}
	if t.promotion {
		p.AllowPromotionCodes = stripe.Bool(true)
	}
	if t.automaticTax {
		p.AutomaticTax = &stripe.CheckoutSessionAutomaticTaxParams{Enabled: stripe.Bool(true)}
		p.CustomerUpdate = &stripe.CheckoutSessionCustomerUpdateParams{Address: stripe.String("auto")}
	}
}
