package checkout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// PortalRequest is the body of POST /api/payments/{env}/portal-sessions.
type PortalRequest struct {
	Subject        auth.Subject `json:"subject"`
	ReturnURL      string       `json:"return_url"`
	Flow           string       `json:"flow,omitempty"`
	SubscriptionID string       `json:"subscription_id,omitempty"`
}

// PortalResult is the portal session to redirect to.
type PortalResult struct {
	ID              string `json:"id"`
	URL             string `json:"url"`
	CustomerID      string `json:"customer_id"`
	ConfigurationID string `json:"configuration_id"`
	SubscriptionID  string `json:"subscription_id,omitempty"`
}

// billingStatuses are the subscription states a portal flow can act on.
var billingStatuses = []string{"active", "trialing", "past_due"}

// CreatePortal opens the Billing Portal for the subject's customer.
func (s *Service) CreatePortal(ctx context.Context, env vocab.Env, caller *auth.Caller, origins auth.Origins, r PortalRequest) (*PortalResult, error) {
	if err := r.validate(origins); err != nil {
		return nil, err
	}
	if err := caller.Authorize(env, r.Subject, auth.Manage); err != nil {
		return nil, err
	}
	st, c, err := s.sessionClient(ctx, env)
	if err != nil {
		return nil, err
	}
	m, err := st.SubjectMapping(ctx, env, r.Subject.Type, r.Subject.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.Deleted) {
		return nil, fault.New(fault.NotFound, "no_billing_yet", "%s has no Stripe customer yet: the subject must complete a checkout first", r.Subject)
	}
	if err != nil {
		return nil, s.unavailable(err)
	}
	out := &PortalResult{CustomerID: m.CustomerID}
	if r.Flow == "cancel" || r.Flow == "update_plan" {
		if out.SubscriptionID, err = s.flowSubscription(ctx, st, env, m.CustomerID, &r); err != nil {
			return nil, err
		}
	}
	cfg, err := s.PortalConfiguration(ctx, st, c, env)
	if err != nil {
		return nil, err
	}
	out.ConfigurationID = cfg
	sess, err := c.CreatePortalSession(ctx, r.sessionParams(out))
	if err != nil {
		return nil, stripeProblem(err)
	}
	out.ID, out.URL = sess.ID, sess.URL
	return out, nil
}

// validate checks the request's subject, return URL and flow.
func (r *PortalRequest) validate(origins auth.Origins) error {
	if err := r.Subject.Validate(); err != nil {
		code := "invalid_subject"
		if r.Subject == (auth.Subject{}) {
			code = "subject_required"
		}
		return badRequest(code, "%s", err)
	}
	if r.ReturnURL == "" {
		return badRequest("invalid_request", "return_url is required")
	}
	if err := origins.CheckRedirect("return_url", r.ReturnURL); err != nil {
		return badRequest("redirect_not_allowed", "%s", err)
	}
	switch r.Flow {
	case "", "cancel", "update_plan", "payment_method":
	default:
		return badRequest("invalid_request", "flow %q is not supported: use \"cancel\", \"update_plan\" or \"payment_method\" (or omit it for the portal's home)", r.Flow)
	}
	return nil
}

// flowSubscription is the subscription a cancel or update_plan flow acts
// on: the one the request names, else the customer's one subscription
// that still bills.
func (s *Service) flowSubscription(ctx context.Context, st *store.Store, env vocab.Env, customer string, r *PortalRequest) (string, error) {
	subs, err := st.SubjectSubscriptions(ctx, env, customer, r.Subject.Type, r.Subject.ID, nil)
	if err != nil {
		return "", s.unavailable(err)
	}
	var active []store.SubjectSubscription
	for _, x := range subs {
		switch {
		case x.CustomerID != customer:
		case r.SubscriptionID != "":
			if x.ID == r.SubscriptionID {
				active = append(active, x)
			}
		case contains(billingStatuses, x.Status):
			active = append(active, x)
		}
	}
	switch {
	case r.SubscriptionID != "" && len(active) == 0:
		return "", fault.New(fault.NotFound, "unknown_subscription", "subscription %q does not belong to %s", r.SubscriptionID, r.Subject)
	case len(active) == 0:
		return "", fault.New(fault.Conflict, "no_active_subscription", "%s has no active subscription to %s", r.Subject, strings.ReplaceAll(r.Flow, "_", " "))
	case len(active) > 1:
		ids := make([]string, len(active))
		for i, a := range active {
			ids[i] = a.ID
		}
		return "", fault.New(fault.Conflict, "subscription_id_required", "%s has %d active subscriptions (%s): pass subscription_id", r.Subject, len(active), strings.Join(ids, ", "))
	case !contains(billingStatuses, active[0].Status):
		return "", fault.New(fault.Conflict, "no_active_subscription", "subscription %s is %s; only an active, trialing or past_due subscription can be changed", active[0].ID, active[0].Status)
	}
	return active[0].ID, nil
}

// sessionParams are the portal session's parameters for out's customer,
// configuration and subscription, with the request's flow.
func (r *PortalRequest) sessionParams(out *PortalResult) *stripe.BillingPortalSessionParams {
	p := &stripe.BillingPortalSessionParams{
		Customer:      stripe.String(out.CustomerID),
		ReturnURL:     stripe.String(r.ReturnURL),
		Configuration: stripe.String(out.ConfigurationID),
	}
	switch r.Flow {
	case "cancel":
		p.FlowData = &stripe.BillingPortalSessionFlowDataParams{Type: stripe.String("subscription_cancel"),
			SubscriptionCancel: &stripe.BillingPortalSessionFlowDataSubscriptionCancelParams{Subscription: stripe.String(out.SubscriptionID)}}
	case "update_plan":
		p.FlowData = &stripe.BillingPortalSessionFlowDataParams{Type: stripe.String("subscription_update"),
			SubscriptionUpdate: &stripe.BillingPortalSessionFlowDataSubscriptionUpdateParams{Subscription: stripe.String(out.SubscriptionID)}}
	case "payment_method":
		p.FlowData = &stripe.BillingPortalSessionFlowDataParams{Type: stripe.String("payment_method_update")}
	}
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// PortalConfiguration creates, updates or reuses the Billing Portal
// configuration billwire manages: payment methods, invoices, cancellation at
// period end, and switching between the switchable prices
// (set_switchable_prices; promotion codes only when all of them take
// promotion codes, quantities only when none bounds them).
func (s *Service) PortalConfiguration(ctx context.Context, st *store.Store, c *stripeapi.Client, env vocab.Env) (string, error) {
	products, err := st.PortalProducts(ctx, env)
	if err != nil {
		return "", s.unavailable(err)
	}
	if len(products) > 10 {
		products = products[:10] // Stripe's limit for plan switching
	}
	p := &stripe.BillingPortalConfigurationParams{
		BusinessProfile: &stripe.BillingPortalConfigurationBusinessProfileParams{Headline: stripe.String("Manage your billing")},
		Features: &stripe.BillingPortalConfigurationFeaturesParams{
			CustomerUpdate: &stripe.BillingPortalConfigurationFeaturesCustomerUpdateParams{
				Enabled: stripe.Bool(true), AllowedUpdates: stripe.StringSlice([]string{"email", "address", "tax_id"})},
			InvoiceHistory:      &stripe.BillingPortalConfigurationFeaturesInvoiceHistoryParams{Enabled: stripe.Bool(true)},
			PaymentMethodUpdate: &stripe.BillingPortalConfigurationFeaturesPaymentMethodUpdateParams{Enabled: stripe.Bool(true)},
			SubscriptionCancel: &stripe.BillingPortalConfigurationFeaturesSubscriptionCancelParams{
				Enabled: stripe.Bool(true), Mode: stripe.String("at_period_end")},
			SubscriptionUpdate: &stripe.BillingPortalConfigurationFeaturesSubscriptionUpdateParams{Enabled: stripe.Bool(len(products) > 0)},
		},
	}
	if len(products) > 0 {
		su := p.Features.SubscriptionUpdate
		// Promotion codes are a price's term (allow_promotion_codes): the
		// portal takes them only when every price it offers does. Stripe's
		// portal cannot bound a quantity, so seats leave it when a price
		// bounds them: they change through the change route, which does.
		updates, promo, bounded := []string{"price"}, true, false
		for _, pp := range products {
			promo = promo && pp.PromotionCodes
			bounded = bounded || pp.SeatBounds
		}
		if !bounded {
			updates = append(updates, "quantity")
		}
		if promo {
			updates = append(updates, "promotion_code")
		}
		su.DefaultAllowedUpdates = stripe.StringSlice(updates)
		su.ProrationBehavior = stripe.String("create_prorations")
		for _, pp := range products {
			su.Products = append(su.Products, &stripe.BillingPortalConfigurationFeaturesSubscriptionUpdateProductParams{
				Product: stripe.String(pp.ID), Prices: stripe.StringSlice(pp.Prices)})
		}
	}
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	digest := hex.EncodeToString(sum[:])
	cur, err := st.PortalConfiguration(ctx, env)
	if err != nil {
		return "", s.unavailable(err)
	}
	if cur.ID != "" && cur.Digest == digest {
		return cur.ID, nil
	}
	var cfg *stripe.BillingPortalConfiguration
	if cur.ID != "" {
		cfg, err = c.UpdatePortalConfiguration(ctx, cur.ID, p)
		if stripeapi.IsNotFound(err) {
			cur.ID = ""
		}
	}
	if cur.ID == "" {
		p.AddMetadata("billwire", "managed")
		cfg, err = c.CreatePortalConfiguration(ctx, p, stripeapi.IdempotencyKey("portal_configuration", env, digest))
	}
	if err != nil {
		return "", stripeProblem(err)
	}
	if err := st.SetPortalConfiguration(ctx, env, cfg.ID, digest); err != nil {
		return "", s.unavailable(err)
	}
	return cfg.ID, nil
}
