package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/checkout"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// The scenarios of a test subscription, by the test payment method Stripe
// charges.
var testPaymentMethods = map[string]string{
	"":                "pm_card_visa",
	"succeeds":        "pm_card_visa",
	"payment_fails":   "pm_card_chargeDeclinedInsufficientFunds",
	"requires_action": "pm_card_authenticationRequired",
}

// declinedOnAttach is the card Stripe declines only when charged: the
// fallback when Stripe refuses to attach the insufficient-funds card.
const declinedOnAttach = "pm_card_chargeCustomerFail"

// TestSubscriptionRequest asks for a real test-mode subscription without a
// browser.
type TestSubscriptionRequest struct {
	Subject         auth.Subject
	LookupKey       string
	TrialPeriodDays int64
	// Scenario is "" or "succeeds", "payment_fails" or "requires_action".
	Scenario string
	// ReceiverURL is billwire serve's public base URL, for the answer.
	ReceiverURL string
}

// TestInvoice is a subscription's latest invoice, as the answer shows it.
type TestInvoice struct {
	ID               string `json:"id"`
	Status           string `json:"status"`
	AmountDue        int64  `json:"amount_due"`
	HostedInvoiceURL string `json:"hosted_invoice_url,omitempty"`
	PaymentIntent    string `json:"payment_intent_status,omitempty"`
}

// TestSubscriptionResult reports a test subscription created or canceled
// in Stripe, and what to expect from it.
type TestSubscriptionResult struct {
	Env            vocab.Env    `json:"env"`
	SubscriptionID string       `json:"subscription_id"`
	CustomerID     string       `json:"customer_id"`
	Status         string       `json:"status"`
	PaymentMethod  string       `json:"payment_method,omitempty"`
	LatestInvoice  *TestInvoice `json:"latest_invoice,omitempty"`
	// ExpectEvents are the events Stripe sends about it, which billwire
	// projects when they reach the receiver.
	ExpectEvents []string `json:"expect_events"`
	Receiver     string   `json:"receiver"`
	VerifyWith   []string `json:"verify_with"`
	NextStep     string   `json:"next_step"`
}

// CreateTestSubscription creates a subscription in Stripe's test mode for
// a subject and a recurring price (by lookup key), paid with one of
// Stripe's test cards, stamped with the subject as a checkout would: the
// subject's customer (made once), a test payment method attached as its
// default, and the subscription. Stripe then sends its real events to the
// webhook endpoint. Test mode only, always.
func (s *Service) CreateTestSubscription(ctx context.Context, r TestSubscriptionRequest) (*TestSubscriptionResult, error) {
	const env = vocab.Test
	pm, err := r.validate()
	if err != nil {
		return nil, err
	}
	st, c, _, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	priceID, metered, newest, err := testSubscriptionPrice(ctx, st, r)
	if err != nil {
		return nil, err
	}
	mapping, err := st.SubjectMapping(ctx, env, r.Subject.Type, r.Subject.ID)
	if errors.Is(err, store.ErrNotFound) {
		mapping = nil
	} else if err != nil {
		return nil, err
	}
	customer, err := checkout.SubjectCustomer(ctx, st, c, env, r.Subject, mapping)
	if err != nil {
		return nil, err
	}
	key := func(what string) string {
		return stripeapi.IdempotencyKey("test_subscription", what, env, r.Subject, priceID, r.Scenario, r.TrialPeriodDays, newest)
	}
	attached, err := c.AttachPaymentMethod(ctx, pm, customer, key("attach"))
	var se *stripe.Error
	if err != nil && r.Scenario == "payment_fails" && errors.As(err, &se) && se.Type == stripe.ErrorTypeCard {
		// Stripe declined the card when attaching it: use the card that
		// attaches and is declined when charged.
		pm = declinedOnAttach
		attached, err = c.AttachPaymentMethod(ctx, pm, customer, key("attach-fallback"))
	}
	if err != nil {
		return nil, err
	}
	sub, err := c.CreateSubscription(ctx, r.params(customer, priceID, attached.ID, metered), key("subscription"))
	if err != nil {
		return nil, err
	}
	out := testSubscriptionResult(sub, r.ReceiverURL, r.Subject)
	out.PaymentMethod = pm
	out.ExpectEvents = expectedEvents(mapping == nil, r.TrialPeriodDays > 0, r.Scenario)
	return out, nil
}

// validate checks the request and returns the test payment method its
// scenario pays with.
func (r TestSubscriptionRequest) validate() (string, error) {
	if err := r.Subject.Validate(); err != nil {
		return "", inputErr("subject: %s", err)
	}
	pm, ok := testPaymentMethods[r.Scenario]
	if !ok {
		return "", inputErr("scenario %q: use succeeds (default), payment_fails or requires_action", r.Scenario)
	}
	if r.TrialPeriodDays < 0 || r.TrialPeriodDays > 730 {
		return "", inputErr("trial_period_days must be between 1 and 730 (or left out)")
	}
	if strings.TrimSpace(r.LookupKey) == "" {
		return "", inputErr("lookup_key is required: the lookup key of a recurring test price (see billwire://test/catalog)")
	}
	return pm, nil
}

// testSubscriptionPrice is the request's recurring test price (whether it
// is metered) and the id of the newest ended subscription of the subject
// to it, which keys the call's idempotency: the same call twice is the
// same subscription until that changes. One that still bills is refused.
func testSubscriptionPrice(ctx context.Context, st *store.Store, r TestSubscriptionRequest) (priceID string, metered bool, newest string, err error) {
	priceID, priceObj, err := testPrice(ctx, st, r.LookupKey)
	if err != nil {
		return "", false, "", err
	}
	var price struct {
		Type      string `json:"type"`
		Recurring *struct {
			UsageType string `json:"usage_type"`
		} `json:"recurring"`
	}
	if json.Unmarshal(priceObj, &price) != nil || price.Type != "recurring" || price.Recurring == nil {
		return "", false, "", inputErr("the price with lookup key %q is not recurring: a subscription needs a recurring price (create one with create_plan)", r.LookupKey)
	}
	obj, _, _, err := st.SimulatedSubscription(ctx, vocab.Test, r.Subject.Type, r.Subject.ID, priceID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return "", false, "", err
	case !ended(obj):
		return "", false, "", fault.New(fault.Conflict, "already_subscribed", "%s %s already has subscription %s to %s: cancel it with cancel_test_subscription first, or change plans through the Billing Portal", r.Subject.Type, r.Subject.ID, subID(obj), r.LookupKey)
	default:
		newest = subID(obj)
	}
	return priceID, price.Recurring.UsageType == "metered", newest, nil
}

// params are the subscription's: one item (no quantity when metered), the
// attached card as its default, the trial, the subject stamped.
func (r TestSubscriptionRequest) params(customer, priceID, paymentMethod string, metered bool) *stripe.SubscriptionParams {
	p := &stripe.SubscriptionParams{
		Customer:             stripe.String(customer),
		Items:                []*stripe.SubscriptionItemsParams{{Price: stripe.String(priceID), Quantity: stripe.Int64(1)}},
		DefaultPaymentMethod: stripe.String(paymentMethod),
		PaymentBehavior:      stripe.String("allow_incomplete"),
	}
	if metered {
		p.Items[0].Quantity = nil
	}
	if r.TrialPeriodDays > 0 {
		p.TrialPeriodDays = stripe.Int64(r.TrialPeriodDays)
	}
	p.AddMetadata(vocab.MetaSubjectType, r.Subject.Type)
	p.AddMetadata(vocab.MetaSubjectID, r.Subject.ID)
	p.AddExpand("latest_invoice.payment_intent")
	return p
}

// CancelTestSubscription cancels a test-mode subscription, at once or at
// the end of its period, so that Stripe sends the events an app's
// cancellation path handles. Test mode only, always: a live subscription
// id is not found with the test key.
func (s *Service) CancelTestSubscription(ctx context.Context, id string, atPeriodEnd bool, receiverURL string) (*TestSubscriptionResult, error) {
	const env = vocab.Test
	if !strings.HasPrefix(id, "sub_") {
		return nil, inputErr("subscription_id %q is not a subscription id (sub_…): see get_subject_billing", id)
	}
	if strings.Contains(id, "_sim_") {
		return nil, inputErr("%s is a simulated subscription, not in Stripe: use simulate_events {scenario: \"canceled\" or \"deleted\"}", id)
	}
	_, c, _, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	var sub *stripe.Subscription
	if atPeriodEnd {
		sub, err = c.CancelSubscriptionAtPeriodEnd(ctx, id)
	} else {
		sub, err = c.CancelSubscription(ctx, id)
	}
	if stripeapi.IsNotFound(err) {
		return nil, inputErr("no test subscription %s in Stripe (a live one is never canceled here)", id)
	}
	if err != nil {
		return nil, err
	}
	subject := auth.Subject{Type: sub.Metadata[vocab.MetaSubjectType], ID: sub.Metadata[vocab.MetaSubjectID]}
	out := testSubscriptionResult(sub, receiverURL, subject)
	out.ExpectEvents = []string{"customer.subscription.deleted"}
	if atPeriodEnd {
		out.ExpectEvents = []string{"customer.subscription.updated"}
	}
	return out, nil
}

func testSubscriptionResult(sub *stripe.Subscription, receiverURL string, subject auth.Subject) *TestSubscriptionResult {
	base := strings.TrimRight(receiverURL, "/")
	if base == "" {
		base = DefaultPublicURL
	}
	out := &TestSubscriptionResult{Env: vocab.Test, SubscriptionID: sub.ID, Status: string(sub.Status),
		Receiver: base + "/webhooks/stripe/test"}
	if sub.Customer != nil {
		out.CustomerID = sub.Customer.ID
	}
	if inv := sub.LatestInvoice; inv != nil && inv.ID != "" {
		out.LatestInvoice = &TestInvoice{ID: inv.ID, Status: string(inv.Status), AmountDue: inv.AmountDue, HostedInvoiceURL: inv.HostedInvoiceURL}
		if inv.PaymentIntent != nil {
			out.LatestInvoice.PaymentIntent = string(inv.PaymentIntent.Status)
		}
	}
	subjectArg := fmt.Sprintf(`{type: %q, id: %q}`, subject.Type, subject.ID)
	out.VerifyWith = []string{
		`get_subject_billing {env: "test", subject: ` + subjectArg + `}: the subscription and its status, from projected events`,
		`list_webhook_events {env: "test"}: each event's status as billwire projected it`,
		"the app's access function from scaffold_fulfillment (e.g. SELECT team_has_access('<team id>')) or its own route",
	}
	out.NextStep = "wait a few seconds for Stripe's events to reach " + out.Receiver + ", then verify with the calls in verify_with. " +
		"If Stripe cannot reach this machine, forward them with `stripe listen --forward-to " + out.Receiver + "`, or prove the flow offline with simulate_events"
	return out
}

// expectedEvents are the events Stripe sends for a new test subscription,
// among those billwire's endpoint receives.
func expectedEvents(newCustomer, trial bool, scenario string) []string {
	var out []string
	if newCustomer {
		out = append(out, "customer.created")
	}
	out = append(out, "customer.subscription.created")
	switch {
	case trial:
		out = append(out, "invoice.paid")
	case scenario == "payment_fails":
		out = append(out, "invoice.payment_failed", "payment_intent.payment_failed")
	case scenario == "requires_action":
		out = append(out, "invoice.payment_action_required")
	default:
		out = append(out, "invoice.paid", "payment_intent.succeeded")
	}
	return out
}
