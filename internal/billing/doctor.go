package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/billwire/billwire/internal/scaffold"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// Check is one line of check_integration and billwire doctor.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Fix says what to do when the check failed.
	Fix string `json:"fix,omitempty"`
	// ClearsData marks a fix that deletes data: ask the human first.
	ClearsData bool `json:"clears_data,omitempty"`
}

// IntegrationReport is the whole check of one environment.
type IntegrationReport struct {
	Env    vocab.Env `json:"env"`
	OK     bool      `json:"ok"`
	Checks []Check   `json:"checks"`
}

// DoctorOptions tune CheckIntegration.
type DoctorOptions struct {
	// ReceiverURL is billwire serve's base URL the self-test event is sent
	// to (default BILLWIRE_PUBLIC_URL, else http://127.0.0.1:8787).
	ReceiverURL string
	// CreatePortal lets the check create the Billing Portal configuration
	// when there is none (a Stripe write: the CLI, or test mode).
	CreatePortal bool
	// HTTPClient sends the self-test event.
	HTTPClient *http.Client
}

// SelfTestType is the type of the signed event the integration check sends
// through the running receiver; billwire records it as ignored and the
// check removes it again.
const SelfTestType = "billwire.self_test"

// CheckIntegration checks env end to end: keys and account, the webhook
// endpoint and its events, the last event received, a signed self-test
// event through the running receiver, the Billing Portal configuration and
// the fulfillment objects. Each check says how to fix a failure.
func (s *Service) CheckIntegration(ctx context.Context, env vocab.Env, o DoctorOptions) (*IntegrationReport, error) {
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, err
	}
	r := &IntegrationReport{Env: env}
	add := func(c Check) { r.Checks = append(r.Checks, c) }

	c, keyCheck := s.checkKeys(ctx, env)
	add(keyCheck)
	add(s.checkEndpoint(ctx, st, c, env))
	add(checkLastEvent(ctx, st, env))
	add(s.checkSelfTest(ctx, st, env, o))
	add(s.checkPortal(ctx, st, c, env, o))
	add(s.checkFulfillment(ctx, st, env))
	add(checkMismatches(ctx, st, env))
	r.OK = true
	for _, x := range r.Checks {
		r.OK = r.OK && x.OK
	}
	return r, nil
}

// inventsAccounts reports whether the API at a non-Stripe base answers
// another account id than it just did (seen), as stripe-mock does.
func (s *Service) inventsAccounts(ctx context.Context, c *stripeapi.Client, seen string) bool {
	again, err := c.Account(ctx)
	return err == nil && again.ID != seen
}

func (s *Service) checkKeys(ctx context.Context, env vocab.Env) (*stripeapi.Client, Check) {
	ck := Check{Name: "keys"}
	_, c, e, err := s.stripeFor(ctx, env)
	if err != nil {
		ck.Detail, ck.Fix = "no usable Stripe key", notConfigured(env).Error()
		if !errors.Is(err, ErrNotConfigured) {
			ck.Detail = err.Error()
		}
		return nil, ck
	}
	acct, err := c.Account(ctx)
	if err != nil {
		ck.Detail = err.Error()
		ck.Fix = fmt.Sprintf("set a working key: `billwire keys set --env %s`", env)
		if env == vocab.Test {
			ck.Fix += " (or configure_stripe_keys)"
		}
		return nil, ck
	}
	if acct.ID != e.AccountID && !stripeapi.IsStripeBase(s.stripe.BaseURL) && s.inventsAccounts(ctx, c, acct.ID) {
		// A mock (stripe-mock) invents an account id on every call: the
		// check cannot hold there.
		ck.OK = true
		ck.Detail = fmt.Sprintf("%s key %s works; account check skipped: the API base %s is not Stripe's (a mock answers a new account id on every call)",
			e.KeyKind, e.KeyMasked, s.stripe.BaseURL)
		return c, ck
	}
	if acct.ID != e.AccountID {
		ck.Detail = fmt.Sprintf("the key %s now answers for account %s, but billwire's %s environment is set up for %s", e.KeyMasked, acct.ID, env, e.AccountID)
		ck.Fix = fmt.Sprintf("set the key of account %s again. Switching accounts (`billwire keys set --env %s --confirm-account-change`) "+
			"DELETES everything billwire mirrored from account %s (catalog, customers, subscriptions, payment history, events): ask the human before running it",
			e.AccountID, env, e.AccountID)
		ck.ClearsData = true
		return nil, ck
	}
	ck.OK = true
	ck.Detail = fmt.Sprintf("%s key %s, account %s", e.KeyKind, e.KeyMasked, acct.ID)
	if acct.Name != "" {
		ck.Detail += " (" + acct.Name + ")"
	}
	return c, ck
}

func (s *Service) checkEndpoint(ctx context.Context, st *store.Store, c *stripeapi.Client, env vocab.Env) Check {
	ck := Check{Name: "webhook_endpoint", Fix: fmt.Sprintf("call setup_webhook {env: %q} (or `billwire webhook setup --env %s`): it creates or repairs billwire's endpoint", env, env)}
	ep, err := st.Webhook(ctx, env)
	if errors.Is(err, store.ErrNotFound) {
		ck.Detail = "no webhook endpoint or signing secret is set up"
		return ck
	}
	if err != nil {
		ck.Detail = err.Error()
		return ck
	}
	if ep.Source == "cli" {
		ck.OK, ck.Fix = true, ""
		ck.Detail = "signing secret from `stripe listen` (local development): the Stripe CLI forwards every event type"
		return ck
	}
	if c == nil {
		ck.Detail = "cannot ask Stripe about endpoint " + ep.EndpointID + " without a working key (see keys)"
		ck.Fix = "fix the keys first"
		return ck
	}
	we, err := c.WebhookEndpoint(ctx, ep.EndpointID)
	if stripeapi.IsNotFound(err) {
		ck.Detail = "endpoint " + ep.EndpointID + " no longer exists in Stripe"
		return ck
	}
	if err != nil {
		ck.Detail, ck.Fix = err.Error(), "retry when Stripe answers"
		return ck
	}
	var missing []string
	for _, t := range webhooks.Types() {
		if !slices.Contains(we.EnabledEvents, t) && !slices.Contains(we.EnabledEvents, "*") {
			missing = append(missing, t)
		}
	}
	switch {
	case we.Status != "enabled":
		ck.Detail = fmt.Sprintf("endpoint %s is %s in Stripe, so no events arrive", we.ID, we.Status)
	case len(missing) > 0:
		ck.Detail = fmt.Sprintf("endpoint %s does not send %s", we.ID, strings.Join(missing, ", "))
	case we.APIVersion != "" && we.APIVersion != stripe.APIVersion:
		ck.Detail = fmt.Sprintf("endpoint %s sends API version %s, billwire's endpoints use %s", we.ID, we.APIVersion, stripe.APIVersion)
	case ep.URL != "" && we.URL != ep.URL:
		ck.Detail = fmt.Sprintf("endpoint %s points at %s, billwire set it up for %s", we.ID, we.URL, ep.URL)
	default:
		ck.OK, ck.Fix = true, ""
		ck.Detail = fmt.Sprintf("endpoint %s enabled at %s with billwire's %d event types", we.ID, we.URL, len(webhooks.Types()))
	}
	return ck
}

func checkLastEvent(ctx context.Context, st *store.Store, env vocab.Env) Check {
	ck := Check{Name: "last_event"}
	h, err := st.WebhookHealth(ctx, env)
	switch {
	case err != nil:
		ck.Detail = err.Error()
	case h.Parked > 0:
		ck.Detail = fmt.Sprintf("%d events are parked after repeated failures", h.Parked)
		ck.Fix = fmt.Sprintf("list_webhook_events {env: %q, query: \"parked\"} shows their errors; fix the cause, then replay_webhook_event each", env)
	case h.LastEventAt == nil:
		ck.Detail = "no Stripe event has been received yet"
		ck.Fix = "make sure billwire serve runs where the endpoint points, then cause an event (create_test_checkout_session and pay, or `stripe trigger customer.created`); reconcile_events fills gaps"
	default:
		ck.OK = true
		ck.Detail = fmt.Sprintf("last event %s received %s ago", h.LastEventType, time.Since(*h.LastEventAt).Round(time.Second))
	}
	return ck
}

// checkSelfTest signs an event with the stored secret, sends it to the
// running receiver, and checks that it reached this database.
func (s *Service) checkSelfTest(ctx context.Context, st *store.Store, env vocab.Env, o DoctorOptions) Check {
	base := strings.TrimRight(o.ReceiverURL, "/")
	if base == "" {
		base = DefaultPublicURL
	}
	target := base + "/webhooks/stripe/" + string(env)
	ck := Check{Name: "self_test"}
	secrets, err := st.WebhookSecrets(ctx, env)
	if err != nil {
		ck.Detail = "no signing secret to sign a test event with"
		ck.Fix = fmt.Sprintf("call setup_webhook {env: %q} first", env)
		return ck
	}
	now := time.Now()
	id := fmt.Sprintf("evt_billwire_selftest_%d", now.UnixNano())
	payload, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": stripe.APIVersion, "created": now.Unix(), "livemode": env == vocab.Live,
		"type": SelfTestType, "pending_webhooks": 0, "request": map[string]any{"id": nil, "idempotency_key": nil},
		"data": map[string]any{"object": map[string]any{"id": "billwire_self_test", "object": SelfTestType}},
	})
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secrets.Current, Timestamp: now}).Header
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		ck.Detail, ck.Fix = err.Error(), "set BILLWIRE_PUBLIC_URL to billwire serve's base URL"
		return ck
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", sig)
	resp, err := hc.Do(req)
	if err != nil {
		ck.Detail = "billwire serve does not answer at " + target + ": " + err.Error()
		ck.Fix = "start `billwire serve` (same DATABASE_URL and master key), and set BILLWIRE_PUBLIC_URL to where it listens"
		return ck
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		ck.Detail = fmt.Sprintf("the receiver at %s answered %d to a signed test event: %s", target, resp.StatusCode, strings.TrimSpace(string(body)))
		ck.Fix = "the running billwire serve does not hold this signing secret: run it on the same database and master key, and set the secret with setup_webhook"
		return ck
	}
	removed, err := st.DeleteSelfTestEvent(ctx, env, id)
	if err != nil || !removed {
		ck.Detail = fmt.Sprintf("the receiver at %s accepted the test event but it is not in this database", target)
		ck.Fix = "billwire serve at BILLWIRE_PUBLIC_URL runs on another database: point both at the app's DATABASE_URL"
		return ck
	}
	ck.OK = true
	ck.Detail = fmt.Sprintf("a signed test event reached the ledger through %s", target)
	return ck
}

func (s *Service) checkPortal(ctx context.Context, st *store.Store, c *stripeapi.Client, env vocab.Env, o DoctorOptions) Check {
	ck := Check{Name: "portal_configuration"}
	cur, err := st.PortalConfiguration(ctx, env)
	if err != nil {
		ck.Detail = err.Error()
		return ck
	}
	if c == nil {
		ck.Detail, ck.Fix = "cannot check the Billing Portal without a working key", "fix the keys first"
		return ck
	}
	if cur.ID == "" {
		if !o.CreatePortal {
			ck.Detail = "no Billing Portal configuration yet (billwire creates it on the first portal session)"
			ck.Fix = fmt.Sprintf("a human runs `billwire doctor --env %s`, which creates it", env)
			return ck
		}
		id, err := s.checkout.PortalConfiguration(ctx, st, c, env)
		if err != nil {
			ck.Detail, ck.Fix = err.Error(), "retry when Stripe answers"
			return ck
		}
		ck.OK, ck.Detail = true, "created Billing Portal configuration "+id
		return ck
	}
	cfg, err := c.PortalConfiguration(ctx, cur.ID)
	switch {
	case stripeapi.IsNotFound(err) || (err == nil && !cfg.Active):
		// Forget it: the next portal session (or check) makes a fresh one.
		if cerr := st.SetPortalConfiguration(ctx, env, "", ""); cerr != nil {
			ck.Detail = cerr.Error()
			return ck
		}
		ck.Detail = fmt.Sprintf("Billing Portal configuration %s is deleted or deactivated in Stripe", cur.ID)
		ck.Fix = "billwire has forgotten it and creates a fresh one on the next portal session; run this check again to create it now"
	case err != nil:
		ck.Detail, ck.Fix = err.Error(), "retry when Stripe answers"
	default:
		ck.OK = true
		ck.Detail = fmt.Sprintf("Billing Portal configuration %s is active", cur.ID)
	}
	return ck
}

// checkFulfillment checks that fulfillment is scaffolded for env: triggers
// on the outbox bound to env, enabled, over tables that exist.
func (s *Service) checkFulfillment(ctx context.Context, st *store.Store, env vocab.Env) Check {
	ck := Check{Name: "fulfillment", Fix: fmt.Sprintf("scaffold it: scaffold_fulfillment {pattern: …, env: %q} shows the SQL; then write_to for the app's migration tool, or apply: true", env)}
	bs, err := scaffold.Bindings(ctx, st)
	if err != nil {
		ck.Detail = err.Error()
		return ck
	}
	var mine, other []string
	for _, b := range bs {
		switch {
		case b.Env != string(env):
			other = append(other, fmt.Sprintf("%s (%s)", b.Table, b.Env))
			continue
		case !b.Enabled:
			ck.Detail = fmt.Sprintf("trigger %s (%s into %s) is disabled, so billing changes do not reach the app", b.Trigger, b.Pattern, b.Table)
			ck.Fix = fmt.Sprintf("ALTER TABLE payments.billing_changes ENABLE TRIGGER %s", b.Trigger)
			return ck
		}
		exists, err := st.RelationExists(ctx, b.Table)
		if err != nil {
			ck.Detail = err.Error()
			return ck
		}
		if !exists {
			ck.Detail = fmt.Sprintf("trigger %s writes into %s, which no longer exists", b.Trigger, b.Table)
			return ck
		}
		mine = append(mine, fmt.Sprintf("%s → %s", b.Pattern, b.Table))
	}
	outdated, err := scaffold.FindOutdated(ctx, st)
	if err != nil {
		ck.Detail = err.Error()
		return ck
	}
	var old, cmds []string
	for _, o := range outdated {
		if o.Env != string(env) {
			continue
		}
		old = append(old, fmt.Sprintf("%s → %s is scaffold %s (%s): %s", o.Pattern, o.Table, o.Label(), o.Source, o.Hint()))
		cmd := fmt.Sprintf("`%s` (or %s)", o.Command(), o.Call())
		if o.Pattern == scaffold.Credits && len(o.Grants) == 0 {
			cmd += " with each credit pack's lookup key in grants"
		}
		cmds = append(cmds, cmd)
	}
	if len(old) > 0 {
		ck.Detail = strings.Join(old, "; ")
		ck.Fix = "upgrade to scaffold version " + strconv.Itoa(scaffold.Version) + " (its latest revision): " + strings.Join(cmds, "; ") +
			". With a migration tool, use write_to (--write-to) instead of apply: the file upgrades an earlier version or revision in place"
		return ck
	}
	switch {
	case len(mine) > 0:
		ck.OK, ck.Fix = true, ""
		ck.Detail = "bound to " + string(env) + ": " + strings.Join(mine, ", ")
	case len(other) > 0:
		ck.Detail = "fulfillment is bound to another environment: " + strings.Join(other, ", ")
		if env == vocab.Live {
			ck.Fix = "going live: scaffold the same pattern with env \"live\" (the go_live prompt walks through it)"
		}
	default:
		ck.Detail = "no fulfillment is scaffolded: nothing grants access from the projected state yet"
	}
	return ck
}

// checkMismatches fails while payments of the last 30 days named an order
// but did not pay for it and are not refunded: the app owes their money back.
func checkMismatches(ctx context.Context, st *store.Store, env vocab.Env) Check {
	ck := Check{Name: "fulfillment_mismatches"}
	sum, err := st.FulfillmentMismatches(ctx, env, time.Now().Add(-MismatchWindow), 3)
	if err != nil {
		ck.Detail = err.Error()
		return ck
	}
	if sum.Open == 0 {
		ck.OK = true
		ck.Detail = "no payment of the last 30 days named an order without paying for it"
		if sum.Recent > 0 {
			ck.Detail = fmt.Sprintf("%d mismatch(es) of the last 30 days, all refunded or free (nothing was paid)", sum.Recent)
		}
		return ck
	}
	var seen []string
	for _, m := range sum.Latest {
		if m.Refunded || m.NothingPaid || m.CreatedAt.Before(sum.Since) {
			continue
		}
		order := ""
		if m.OrderID != nil {
			order = " for order " + *m.OrderID
		}
		seen = append(seen, fmt.Sprintf("%s %s%s", m.PaymentKey, m.Reason, order))
	}
	ck.Detail = fmt.Sprintf("%d payment(s) of the last 30 days named an order but did not pay for it (payments.fulfillment_mismatches): %s",
		sum.Open, strings.Join(seen, ", "))
	ck.Fix = "the orders were left unpaid; the app should refund each of these payments in Stripe (the dashboard's payments page and get_payments_status list them; a refunded one stops counting)"
	return ck
}
