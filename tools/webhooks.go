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
	Env           Env    `json:"env" jsonschema:"required" jsonschema_description:"Environment whose events to receive."`
	URL           string `json:"url,omitempty" jsonschema_description:"Public URL of billwire serve's receiver, e.g. https://billing.example.com/webhooks/stripe/test. Default: BILLWIRE_PUBLIC_URL + /webhooks/stripe/{env}."`
	SigningSecret string `json:"signing_secret,omitempty" jsonschema_description:"For local development only (env test): the whsec_… secret printed by stripe listen --forward-to; stored instead of managing an endpoint. Never for env live: a human stores a live secret with billwire webhook setup --env live --signing-secret-stdin."`
	// RevokePrevious ends the previous signing secret's grace.
	RevokePrevious bool `json:"revoke_previous,omitempty" jsonschema_description:"End the 24-hour grace of the previous signing secret at once, e.g. after it leaked: deliveries signed with it get 400 from then on. Alone, it only revokes (nothing else changes); with url or signing_secret, it revokes after the setup, so a rotation and its revocation are one call."`
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
		"Make Stripe deliver the events billwire projects to billwire serve: finds billwire's endpoint in Stripe (or creates it, API version 2024-06-20, exactly billwire's event types), repairs a disabled one or one with other events, and stores the signing secret encrypted. With signing_secret only (from `stripe listen`, test only), stores that for local development. After a rotation the previous secret is accepted for 24 hours; revoke_previous ends that at once.",
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
	Env   Env    `json:"env" jsonschema:"required" jsonschema_description:"Environment to reconcile."`
	Since string `json:"since,omitempty" jsonschema_description:"Start of the window: a duration back from now (72h, 3d), a date (2026-11-20) or an RFC 3339 time; default 3 days, at most 30."`
}

// LiveWrite: none guarded; reconcile reads Stripe's events and records
// them as the webhook receiver would.
func (ReconcileEventsParams) LiveWrite(context.Context, Deps) (Write, error) { return Write{}, nil }

func reconcileEvents(d Deps) Tool {
	return define(d, "reconcile_events", "Reconcile events",
		"Fill gaps after downtime: list Stripe's events over a window and run the ones billwire has not recorded through the webhook receiver's own path. Events already recorded are skipped, so it is safe to repeat. Reads Stripe, changes nothing there.",
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
	Env     Env    `json:"env" jsonschema:"required" jsonschema_description:"Environment of the event."`
	EventID string `json:"event_id" jsonschema:"required" jsonschema_description:"The evt_… id of a recorded event (list_webhook_events shows them)."`
}

// LiveWrite: none guarded; a replay projects an event Stripe sent (or
// fetches it from Stripe) as the webhook receiver would.
func (ReplayWebhookEventParams) LiveWrite(context.Context, Deps) (Write, error) { return Write{}, nil }

func replayWebhookEvent(d Deps) Tool {
	return define(d, "replay_webhook_event", "Replay webhook event",
		"Project one recorded event again, e.g. a parked one after the cause of its failure was fixed. Newer state is never overwritten by it. An event whose payload billwire pruned (payload_kept false in list_webhook_events; BILLWIRE_EVENT_RETENTION) is fetched from Stripe's events API first; Stripe keeps events 30 days, and for an older one the answer says to run sync_catalog instead.",
		hints{readOnly: false, destructive: false, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p ReplayWebhookEventParams) (any, error) {
			env := vocab.Env(p.Env)
			return d.Billing.Replay(ctx, env, p.EventID)
		})
}

func listPaymentHistory(d Deps) Tool {
	return define(d, "list_payment_history", "List payment history",
		"Read projected payment history, newest first: payments (with failures and refunded amounts), refunds and disputes, each with customer and subject. 50 per page; pass next_cursor as cursor for the next; query is an id (payment, refund, dispute, invoice, subscription, customer, subject) or a status, exactly, or the start of a customer's email or name. Same data as resource billwire://{env}/payment-history.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page := p.page()
			return d.Billing.ListPaymentHistory(ctx, env, page)
		})
}

func listWebhookEvents(d Deps) Tool {
	return define(d, "list_webhook_events", "List webhook events",
		"Read billwire's ledger of Stripe events, newest first, with status (processed, ignored, failed, parked), attempts, last error and payload_kept (false once the payload was pruned, or for ignored types, which are recorded without one). 50 per page; pass next_cursor as cursor for the next; query is an event id or status, or (among the newest 10,000 events) an event type or object id, exactly. Same data as resource billwire://{env}/webhook-events.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page := p.page()
			return d.Billing.ListWebhookEvents(ctx, env, page)
		})
}
