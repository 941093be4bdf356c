package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/vocab"
)

// The agent's own test loop: real test subscriptions without a browser,
// simulated events where Stripe cannot reach billwire, and the checkout
// sessions to follow. Test mode only, always: these tools take no env.

// CreateTestSubscriptionParams are create_test_subscription's arguments.
type CreateTestSubscriptionParams struct {
	Subject         auth.Subject `json:"subject" jsonschema:"required" jsonschema_description:"Who pays: {type: user|team, id: the app's id}."`
	LookupKey       string       `json:"lookup_key" jsonschema:"required" jsonschema_description:"The lookup key of a recurring test price, e.g. pro_monthly."`
	TrialPeriodDays int64        `json:"trial_period_days,omitempty" jsonschema:"minimum=1,maximum=730" jsonschema_description:"Start with a free trial of this many days."`
	Scenario        string       `json:"scenario,omitempty" jsonschema:"enum=succeeds,enum=payment_fails,enum=requires_action" jsonschema_description:"How the first payment goes: succeeds (default, pm_card_visa), payment_fails (declined card: incomplete) or requires_action (3-D Secure: incomplete)."`
}

// LiveWrite: test mode only, always (the test key is the only one used).
func (CreateTestSubscriptionParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Test, What: "create a test subscription"}, nil
}

func createTestSubscription(d Deps) Tool {
	return define(d, "create_test_subscription", "Create a test subscription",
		"Test mode only: a real subscription in Stripe for a subject and a recurring price, without a browser: the subject's customer (stamped with the subject, as a checkout does), a test card as its default, the subscription. Stripe then sends its real events; the answer names them and the calls that verify them. Refused while the subject has one to that price that still bills.",
		hints{readOnly: false, destructive: false, idempotent: false, openWorld: true, writesStripe: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p CreateTestSubscriptionParams) (any, error) {
			return d.Billing.CreateTestSubscription(ctx, billing.TestSubscriptionRequest{
				Subject: p.Subject, LookupKey: p.LookupKey, TrialPeriodDays: p.TrialPeriodDays, Scenario: p.Scenario, ReceiverURL: d.PublicURL,
			})
		})
}

// CancelTestSubscriptionParams are cancel_test_subscription's arguments.
type CancelTestSubscriptionParams struct {
	SubscriptionID string `json:"subscription_id" jsonschema:"required" jsonschema_description:"The test subscription (sub_…), e.g. from create_test_subscription or get_subject_billing."`
	AtPeriodEnd    bool   `json:"at_period_end,omitempty" jsonschema_description:"End it at the end of its period (access until then) instead of now."`
}

// LiveWrite: test mode only, always (a live subscription is not found with
// the test key).
func (CancelTestSubscriptionParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Test, What: "cancel a test subscription"}, nil
}

func cancelTestSubscription(d Deps) Tool {
	return define(d, "cancel_test_subscription", "Cancel a test subscription",
		"Test mode only: cancel a test subscription now (customer.subscription.deleted) or at its period end (customer.subscription.updated), so Stripe sends the events of a cancellation.",
		hints{readOnly: false, destructive: true, idempotent: true, openWorld: true, writesStripe: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p CancelTestSubscriptionParams) (any, error) {
			return d.Billing.CancelTestSubscription(ctx, p.SubscriptionID, p.AtPeriodEnd, d.PublicURL)
		})
}

// SimulateEventsParams are simulate_events' arguments.
type SimulateEventsParams struct {
	Subject   *auth.Subject `json:"subject,omitempty" jsonschema_description:"Who pays: {type: user|team, id: the app's id}. Required unless clear."`
	LookupKey string        `json:"lookup_key,omitempty" jsonschema_description:"The lookup key of the recurring test price the subscription bills. Required unless clear."`
	Scenario  string        `json:"scenario,omitempty" jsonschema:"enum=checkout_completed,enum=renewal,enum=payment_failed,enum=canceled,enum=deleted" jsonschema_description:"The story: checkout_completed (a new paid subscription), renewal (next period paid), payment_failed (past_due), canceled (at period end), deleted (ended now). Required unless clear."`
	Clear     bool          `json:"clear,omitempty" jsonschema_description:"Remove every simulated object and event from billwire's tables instead."`
}

// LiveWrite: simulated events are test mode only, always, and reach only
// billwire's own receiver, never Stripe.
func (SimulateEventsParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Test, What: "post simulated test events to billwire serve"}, nil
}

func simulateEvents(d Deps) Tool {
	return define(d, "simulate_events", "Simulate Stripe events",
		"Test mode only, where Stripe cannot reach billwire: post the events Stripe would send for a story (checkout_completed, renewal, payment_failed, canceled, deleted), signed, to the running billwire serve. Answers each delivery, the subject's outbox changes and what the access functions said before and after. clear removes simulated objects.",
		hints{readOnly: false, destructive: true, idempotent: false, openWorld: false},
		func(ctx context.Context, _ mcp.CallToolRequest, p SimulateEventsParams) (any, error) {
			r := billing.SimulateRequest{LookupKey: p.LookupKey, Scenario: p.Scenario, Clear: p.Clear, ReceiverURL: d.PublicURL}
			if p.Subject != nil {
				r.Subject = *p.Subject
			}
			return d.Billing.SimulateEvents(ctx, r)
		})
}

func listCheckoutSessions(d Deps) Tool {
	return define(d, "list_checkout_sessions", "List checkout sessions",
		"Checkout sessions the session API opened, newest first: id, Stripe id, subject, mode, status, payment status, created. query: a Stripe session id (cs_…) or a subject id.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page := p.page()
			return d.Billing.ListCheckoutSessions(ctx, env, page)
		})
}
