package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
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

func createTestSubscription(d Deps) Tool {
	return define("create_test_subscription", "Create a test subscription",
		"Test mode only: create a real subscription in Stripe for a subject and a recurring price, without a browser: the subject's customer (made once, stamped with the subject as a checkout would), a Stripe test card attached as its default, and the subscription. Stripe then sends its real events to the webhook endpoint; the answer names them and the calls that verify them. Refuses a second subscription to the same price while one still bills.",
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

func cancelTestSubscription(d Deps) Tool {
	return define("cancel_test_subscription", "Cancel a test subscription",
		"Test mode only: cancel a test subscription in Stripe, now or at the end of its period, so that Stripe sends the events the app's cancellation path handles (customer.subscription.deleted, or .updated with cancel_at_period_end).",
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

func simulateEvents(d Deps) Tool {
	return define("simulate_events", "Simulate Stripe events",
		"Test mode only, for where Stripe cannot reach billwire: tell a billing story for a subject and a price as the events Stripe would send (distinct seconds, billwire's API version, every object marked billwire_simulated), signed with the stored test secret and posted to the running billwire serve (BILLWIRE_PUBLIC_URL, else http://127.0.0.1:8787). Answers what each delivery was answered, the subject's outbox changes, and what the scaffolded access functions said before and after. Sync never takes simulated objects for deleted ones; clear removes them.",
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
	return define("list_checkout_sessions", "List checkout sessions",
		"Read the checkout sessions the session API opened, newest first: id, Stripe id, subject, mode, status, payment status, created. 50 per page; pass next_cursor as cursor for the next; query is a Stripe session id (cs_…) or a subject id, exactly. Same data as resource billwire://{env}/checkout-sessions.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page, err := p.page()
			if err != nil {
				return nil, err
			}
			return d.Billing.ListCheckoutSessions(ctx, env, page)
		})
}
