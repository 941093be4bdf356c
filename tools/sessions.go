package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/checkout"
	"github.com/billwire/billwire/internal/vocab"
)

// GetSubjectBillingParams are get_subject_billing's arguments.
type GetSubjectBillingParams struct {
	Env     Env          `json:"env" jsonschema:"required"`
	Subject auth.Subject `json:"subject" jsonschema:"required" jsonschema_description:"Who pays: {type: user|team, id: the app's id}."`
}

func getSubjectBilling(d Deps) Tool {
	return define(d, "get_subject_billing", "Subject billing",
		"A subject's (user's or team's) billing state from webhook-projected data, as the app's GET /api/payments/{env}/subjects/{type}/{id}: customer and whether the mapping is confirmed, subscriptions that still bill, recent payments. Use it to verify a checkout reached the subject.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p GetSubjectBillingParams) (any, error) {
			env := vocab.Env(p.Env)
			return d.Billing.Checkout().GetSubjectBilling(ctx, env, auth.MCPCaller, p.Subject)
		})
}

// CreateTestCheckoutSessionParams are create_test_checkout_session's arguments.
type CreateTestCheckoutSessionParams struct {
	PriceID    string       `json:"price_id,omitempty" jsonschema_description:"A test price id (price_…), or give lookup_key."`
	LookupKey  string       `json:"lookup_key,omitempty" jsonschema_description:"Or a test price's lookup key."`
	Subject    auth.Subject `json:"subject" jsonschema:"required" jsonschema_description:"Who pays: {type: user|team, id: the app's id}."`
	SuccessURL string       `json:"success_url,omitempty" jsonschema_description:"Where Stripe sends the browser after paying, on an origin in BILLWIRE_ALLOWED_ORIGINS. Default: billwire serve's /checkout/done."`
}

// LiveWrite: test mode only; the session is made with the test key.
func (CreateTestCheckoutSessionParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Test, What: "create a test Checkout Session"}, nil
}

func createTestCheckoutSession(d Deps) Tool {
	return define(d, "create_test_checkout_session", "Create a test checkout session",
		"Test mode only: create a Checkout Session for one price and a subject through the app's own path (POST /api/payments/test/checkout-sessions) and return its URL to open in a browser (card 4242 4242 4242 4242). A recurring price makes a subscription. Grant access from projected state (get_subject_billing), never from the success page.",
		hints{readOnly: false, destructive: false, idempotent: false, openWorld: true, writesStripe: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p CreateTestCheckoutSessionParams) (any, error) {
			return d.Billing.Checkout().CreateTestCheckout(ctx, d.Origins, checkout.TestCheckoutInput{
				PriceID: p.PriceID, LookupKey: p.LookupKey, Subject: p.Subject, SuccessURL: p.SuccessURL, PublicURL: d.PublicURL,
			})
		})
}

// GetUsageParams are get_usage's arguments.
type GetUsageParams struct {
	Env       Env          `json:"env" jsonschema:"required"`
	Subject   auth.Subject `json:"subject" jsonschema:"required" jsonschema_description:"Who pays: {type: user|team, id: the app's id}."`
	EventName string       `json:"event_name,omitempty" jsonschema_description:"The meter's event name; needed only when the subject is billed on several meters."`
}

func getUsage(d Deps) Tool {
	return define(d, "get_usage", "Subject usage",
		"A subject's usage of a meter in its metered subscription's current period, as the app's GET /api/payments/{env}/subjects/{type}/{id}/usage shows it: Stripe's summary up to ten minutes ago plus the usage billwire accepted since (total), and the accepted usage per UTC day. Use it to verify that reported usage counts.",
		hints{readOnly: true, destructive: false, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p GetUsageParams) (any, error) {
			return d.Billing.Checkout().GetSubjectUsage(ctx, vocab.Env(p.Env), auth.MCPCaller, p.Subject, p.EventName)
		})
}
