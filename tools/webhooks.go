package tools

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/vocab"
)

// SetupWebhookParams are setup_webhook's arguments.
type SetupWebhookParams struct {
	Env           Env    `json:"env" jsonschema:"required"`
	URL           string `json:"url,omitempty" jsonschema_description:"billwire serve's public receiver URL, e.g. https://billing.example.com/webhooks/stripe/test. Default: BILLWIRE_PUBLIC_URL + /webhooks/stripe/{env}."`
	SigningSecret string `json:"signing_secret,omitempty" jsonschema_description:"Test only: the whsec_… secret printed by stripe listen --forward-to, stored instead of managing an endpoint. Refused for live."`
	// RevokePrevious ends the previous signing secret's grace.
	RevokePrevious bool `json:"revoke_previous,omitempty" jsonschema_description:"End the previous signing secret's 24-hour grace now, e.g. after it leaked. Alone it only revokes; with url or signing_secret, it revokes after the setup."`
	ConfirmLive    bool `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

// setsUp says whether the call sets up the endpoint or a secret, rather
// than only revoking the previous secret.
func (p SetupWebhookParams) setsUp() bool {
	return !p.RevokePrevious || p.URL != "" || p.SigningSecret != ""
}

// endpointURL is the URL the managed endpoint is set up for: url, else the
// receiver under BILLWIRE_PUBLIC_URL; empty when neither is known or the
// call stores a stripe listen secret instead. The live guard shows this
// URL to the human, and the same URL is what the endpoint gets.
func (p SetupWebhookParams) endpointURL(d Deps) string {
	if p.URL != "" || strings.TrimSpace(p.SigningSecret) != "" || d.PublicURL == "" {
		return p.URL
	}
	return billing.ReceiverURL(d.PublicURL, vocab.Env(p.Env))
}

// LiveWrite refuses a live signing secret whatever the flags; otherwise the
// endpoint (named by its URL) and the revocation are written in env.
func (p SetupWebhookParams) LiveWrite(_ context.Context, d Deps) (Write, error) {
	env := vocab.Env(p.Env)
	if env == vocab.Live && p.SigningSecret != "" {
		// Whoever chose it could sign live events: like live keys, a
		// human sets it, whatever the server's flags.
		return Write{}, errors.New("a live signing secret is never accepted through MCP: whoever chose it could forge live events. " +
			"For live, call setup_webhook with url (billwire manages the endpoint and its secret), or ask the human to run in a terminal " +
			"(it reads the secret from standard input): billwire webhook setup --env live --signing-secret-stdin")
	}
	var what []string
	if p.setsUp() {
		if u := p.endpointURL(d); u != "" {
			what = append(what, "create or update the live webhook endpoint for "+u+" and store its signing secret")
		} else {
			what = append(what, "set up the live webhook endpoint")
		}
	}
	if p.RevokePrevious {
		what = append(what, "end the previous live signing secret's grace at once (deliveries signed with it are refused from then on)")
	}
	return Write{Writes: true, Env: env, Confirmed: p.ConfirmLive, What: strings.Join(what, ", then ")}, nil
}

func setupWebhook(d Deps) Tool {
	return define(d, "setup_webhook", "Set up webhooks",
		"Make Stripe deliver billwire's events to billwire serve: finds or creates billwire's endpoint, repairs it when disabled or with other events, and stores its signing secret encrypted; or, for local development, stores a signing_secret from `stripe listen`. After a rotation the previous secret is accepted for 24 hours.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p SetupWebhookParams) (any, error) {
			env := vocab.Env(p.Env)
			var res *billing.WebhookSetup
			var err error
			if p.setsUp() {
				if res, err = d.Billing.SetupWebhook(ctx, env, p.endpointURL(d), p.SigningSecret, d.PublicURL); err != nil {
					return nil, err
				}
			}
			if p.RevokePrevious {
				return d.Billing.RevokePreviousWebhookSecret(ctx, env, res)
			}
			return res, nil
		})
}

// ReconcileEventsParams are reconcile_events' arguments.
type ReconcileEventsParams struct {
	Env   Env    `json:"env" jsonschema:"required"`
	Since string `json:"since,omitempty" jsonschema_description:"Window start: a duration back (72h, 3d), a date (2026-11-20) or an RFC 3339 time; default 3 days, at most 30."`
}

// LiveWrite: none guarded; reconcile reads Stripe's events and records
// them as the webhook receiver would.
func (ReconcileEventsParams) LiveWrite(context.Context, Deps) (Write, error) { return Write{}, nil }

func reconcileEvents(d Deps) Tool {
	return define(d, "reconcile_events", "Reconcile events",
		"Fill gaps after downtime: list Stripe's events over a window and record those billwire missed, as the webhook receiver would. Safe to repeat; reads Stripe only.",
		hints{readOnly: false, destructive: false, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p ReconcileEventsParams) (any, error) {
			env := vocab.Env(p.Env)
			since, err := billing.ParseSince(p.Since, time.Now())
			if err != nil {
				return nil, err
			}
			return d.Billing.Reconcile(ctx, env, since)
		})
}

// ReplayWebhookEventParams are replay_webhook_event's arguments.
type ReplayWebhookEventParams struct {
	Env     Env    `json:"env" jsonschema:"required"`
	EventID string `json:"event_id" jsonschema:"required" jsonschema_description:"A recorded event's evt_… id (list_webhook_events)."`
}

// LiveWrite: none guarded; a replay projects an event Stripe sent (or
// fetches it from Stripe) as the webhook receiver would.
func (ReplayWebhookEventParams) LiveWrite(context.Context, Deps) (Write, error) { return Write{}, nil }

func replayWebhookEvent(d Deps) Tool {
	return define(d, "replay_webhook_event", "Replay webhook event",
		"Project one recorded event again, e.g. a parked one after its cause was fixed; it never overwrites newer state. A pruned payload (payload_kept false) is fetched from Stripe, which keeps events 30 days.",
		hints{readOnly: false, destructive: false, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p ReplayWebhookEventParams) (any, error) {
			env := vocab.Env(p.Env)
			return d.Billing.Replay(ctx, env, p.EventID)
		})
}

func listPaymentHistory(d Deps) Tool {
	return define(d, "list_payment_history", "List payment history",
		"Payments (with failures and refunded amounts), refunds and disputes from webhook events, newest first, each with customer and subject, 50 a page. Same as resource billwire://{env}/payment-history.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page := p.page()
			return d.Billing.ListPaymentHistory(ctx, env, page)
		})
}

func listInvoices(d Deps) Tool {
	return define(d, "list_invoices", "List invoices",
		"Stripe invoices projected from invoice.* events, newest first: number, status, amounts due/paid/remaining, attempt_count, next_payment_attempt, hosted_invoice_url and invoice_pdf (receipt links), customer, subject, subscription; 50 a page. query matches an id, number, customer, subscription, subject id or status. Same as resource billwire://{env}/invoices.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page := p.page()
			return d.Billing.ListInvoices(ctx, env, page)
		})
}

func listWebhookEvents(d Deps) Tool {
	return define(d, "list_webhook_events", "List webhook events",
		"billwire's ledger of Stripe events, newest first: status (processed, stale, ignored, failed, parked), resolved_by, attempts, last error, payload_kept; 50 a page. query also matches an event type or object id among the newest 10,000. Same as resource billwire://{env}/webhook-events.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page := p.page()
			return d.Billing.ListWebhookEvents(ctx, env, page)
		})
}
