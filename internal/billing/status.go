package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// EnvStatus is what get_payments_status reports for one environment.
type EnvStatus struct {
	Env          vocab.Env        `json:"env"`
	Configured   bool             `json:"configured"`
	Key          string           `json:"key,omitempty"`
	KeyKind      string           `json:"key_kind,omitempty"`
	AccountID    string           `json:"account_id,omitempty"`
	AccountName  string           `json:"account_name,omitempty"`
	ConfiguredAt *time.Time       `json:"configured_at,omitempty"`
	LastSync     *store.SyncRun   `json:"last_sync,omitempty"`
	Counts       map[string]int64 `json:"counts,omitempty"`
	Webhook      WebhookStatus    `json:"webhook"`
	// Portal is the Billing Portal configuration billwire manages (made on
	// the first portal session).
	Portal *store.PortalConfig `json:"portal_configuration,omitempty"`
	// FulfillmentMismatches counts the payments that named an order but did
	// not pay for it (payments.fulfillment_mismatches), with the latest;
	// open ones are from the last 30 days and not refunded yet.
	FulfillmentMismatches *store.MismatchSummary `json:"fulfillment_mismatches,omitempty"`
	// UsageSender is the usage sender's backlog (absent without usage).
	UsageSender *store.UsageSenderStatus `json:"usage_sender,omitempty"`
	NextStep    string                   `json:"next_step"`
}

// MismatchWindow is how far back check_integration and get_payments_status
// look for fulfillment mismatches the app has not refunded.
const MismatchWindow = 30 * 24 * time.Hour

// recentMismatches is how many of the latest mismatches get_payments_status lists.
const recentMismatches = 5

// WebhookStatus is the state of the webhook endpoint and of the ledger.
type WebhookStatus struct {
	// State is not_configured, managed (billwire's endpoint in Stripe) or cli (a `stripe listen` secret).
	State    string                 `json:"state"`
	Endpoint *store.WebhookEndpoint `json:"endpoint,omitempty"`
	Health   *store.WebhookHealth   `json:"health,omitempty"`
}

// Status reports each of envs: key (masked), account, last sync, counts,
// webhook state and the next step to take.
func (s *Service) Status(ctx context.Context, envs []vocab.Env) ([]EnvStatus, error) {
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]EnvStatus, 0, len(envs))
	for _, env := range envs {
		es := EnvStatus{Env: env, Webhook: WebhookStatus{State: "not_configured"}}
		e, err := st.GetEnvironment(ctx, env)
		switch {
		case errors.Is(err, store.ErrNotFound):
			es.NextStep = notConfigured(env).Error()
			out = append(out, es)
			continue
		case err != nil:
			return nil, err
		}
		es.Configured, es.Key, es.KeyKind, es.AccountID, es.AccountName = true, e.KeyMasked, e.KeyKind, e.AccountID, e.AccountName
		es.ConfiguredAt = &e.UpdatedAt
		if run, err := st.LastSyncRun(ctx, env); err == nil {
			es.LastSync = run
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if ep, err := st.Webhook(ctx, env); err == nil {
			es.Webhook = WebhookStatus{State: ep.Source, Endpoint: ep}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if pc, err := st.PortalConfiguration(ctx, env); err != nil {
			return nil, err
		} else if pc.ID != "" {
			es.Portal = &pc
		}
		if es.Webhook.Health, err = st.WebhookHealth(ctx, env); err != nil {
			return nil, err
		}
		counts, err := st.Counts(ctx, env)
		if err != nil {
			return nil, err
		}
		es.Counts = map[string]int64{}
		for k, n := range counts {
			es.Counts[string(k)] = n
		}
		if es.FulfillmentMismatches, err = st.FulfillmentMismatches(ctx, env, time.Now().Add(-MismatchWindow), recentMismatches); err != nil {
			return nil, err
		}
		if es.UsageSender, err = st.UsageSender(ctx, env); err != nil {
			return nil, err
		}
		es.NextStep = nextStep(es)
		out = append(out, es)
	}
	return out, nil
}

func nextStep(es EnvStatus) string {
	switch {
	case es.Webhook.Health != nil && es.Webhook.Health.Parked > 0:
		return "some webhook events are parked after repeated failures: list_webhook_events with query \"parked\" shows their errors; replay_webhook_event retries one after a fix"
	case es.FulfillmentMismatches != nil && es.FulfillmentMismatches.Open > 0:
		return fmt.Sprintf("%d payment(s) of the last 30 days named an order but did not pay for it (fulfillment_mismatches.latest: underpaid, wrong currency, another owner…); "+
			"the orders stay unpaid: the app should refund each payment in Stripe (a refunded one stops counting)", es.FulfillmentMismatches.Open)
	case es.UsageSender != nil && (es.UsageSender.Failed > 0 || es.UsageSender.Unknown > 0):
		return fmt.Sprintf("%d usage meter event(s) failed (Stripe refused them: payments.usage_buckets.last_error says why) and %d are unknown (no answer within Stripe's 24-hour identifier window): check them in Stripe's meter event summaries", es.UsageSender.Failed, es.UsageSender.Unknown)
	case es.UsageSender != nil && es.UsageSender.Reconciliation != nil && es.UsageSender.Reconciliation.Differences > 0:
		return fmt.Sprintf("on %s, Stripe's usage totals differ from what billwire sent for %d meter and customer pair(s) (usage_sender.reconciliation.examples): compare them in the Stripe Dashboard's meter event summaries",
			es.UsageSender.Reconciliation.Day, es.UsageSender.Reconciliation.Differences)
	case es.LastSync == nil:
		return "run sync_catalog to mirror this account's products, prices, customers and subscriptions"
	case es.LastSync.Status == "failed":
		return "the last sync failed (see last_sync.error); run sync_catalog again to resume where it stopped"
	case es.LastSync.Status == "running":
		return "a sync is running; check again shortly"
	case es.Counts["prices"] == 0:
		return "no prices yet: create one with create_plan (e.g. name \"Pro\", unit_amount 2000, currency \"usd\", interval \"month\")"
	case es.Webhook.State == "not_configured":
		return "set up webhooks with setup_webhook (a public url for billwire serve, or signing_secret from `stripe listen` for local development), then run billwire serve"
	case es.Webhook.Health != nil && es.Webhook.Health.LastEventAt == nil:
		return "webhooks are set up but no event has arrived yet: make sure billwire serve is running where the endpoint points; reconcile_events fills gaps from Stripe's event list"
	default:
		return "catalog is mirrored and webhooks arrive: read list_catalog for price ids or lookup keys, list_payment_history for payments"
	}
}

// FulfillmentMismatches summarizes env's payments that named an order but
// did not pay for it, over the last 30 days, with the latest (at most latest).
func (s *Service) FulfillmentMismatches(ctx context.Context, env vocab.Env, latest int) (*store.MismatchSummary, error) {
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, err
	}
	return st.FulfillmentMismatches(ctx, env, time.Now().Add(-MismatchWindow), latest)
}
