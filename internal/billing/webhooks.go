package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/money"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// PublicURLEnv names the variable holding billwire serve's public base URL.
const PublicURLEnv = "BILLWIRE_PUBLIC_URL"

// WebhookSetup reports what setup_webhook did.
type WebhookSetup struct {
	Env      vocab.Env             `json:"env"`
	Action   string                `json:"action"` // created, updated, unchanged, recreated, stored_cli_secret
	Endpoint store.WebhookEndpoint `json:"endpoint"`
	// PreviousRevoked is set when revoke_previous was asked: whether a
	// previous signing secret was still accepted and now is not.
	PreviousRevoked *bool  `json:"previous_secret_revoked,omitempty"`
	NextStep        string `json:"next_step"`
}

// RevokePreviousWebhookSecret ends the 24-hour grace of env's previous
// signing secret at once (after a leak, or once the rotation is done).
// after is what a setup in the same call did, or nil when the call only
// revokes; the answer reports both.
func (s *Service) RevokePreviousWebhookSecret(ctx context.Context, env vocab.Env, after *WebhookSetup) (*WebhookSetup, error) {
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, err
	}
	revoked, err := st.RevokePreviousWebhookSecret(ctx, env)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notConfigured(env)
	}
	if err != nil {
		return nil, err
	}
	got, err := st.Webhook(ctx, env)
	if err != nil {
		return nil, err
	}
	res := &WebhookSetup{Env: env, Action: "revoked_previous", NextStep: "only the current signing secret (" + got.SecretMasked + ") verifies deliveries now"}
	if after != nil {
		res.Action, res.NextStep = after.Action, after.NextStep+"; only the current signing secret verifies deliveries now"
	}
	res.Endpoint, res.PreviousRevoked = *got, &revoked
	if !revoked && after == nil {
		res.NextStep = "no previous signing secret was accepted; nothing changed"
	}
	s.log.Info().Str("env", string(env)).Bool("revoked", revoked).Msg("webhook: previous signing secret revoked")
	return res, nil
}

// SetupWebhook makes Stripe deliver billwire's event types to url: it finds
// billwire's endpoint (tagged in metadata) or creates it, repairs a disabled
// one or one with other events, and stores the signing secret. With only a
// signing secret (from `stripe listen`), it stores that for local development.
func (s *Service) SetupWebhook(ctx context.Context, env vocab.Env, endpointURL, signingSecret, publicBase string) (*WebhookSetup, error) {
	signingSecret = strings.TrimSpace(signingSecret)
	if signingSecret != "" {
		if !strings.HasPrefix(signingSecret, "whsec_") || len(signingSecret) < 16 {
			return nil, inputErr("signing_secret must be the whsec_… secret printed by `stripe listen --forward-to …` (or shown for an endpoint in the Stripe Dashboard)")
		}
		if endpointURL != "" {
			return nil, inputErr("give either url (billwire manages the endpoint in Stripe) or signing_secret (from `stripe listen`), not both")
		}
		st, err := s.stores.Get(ctx)
		if err != nil {
			return nil, err
		}
		ep := store.WebhookEndpoint{Source: "cli", SecretMasked: secrets.Mask(signingSecret)}
		if err := st.SetWebhook(ctx, env, ep, signingSecret); errors.Is(err, store.ErrNotFound) {
			return nil, notConfigured(env)
		} else if err != nil {
			return nil, err
		}
		got, err := st.Webhook(ctx, env)
		if err != nil {
			return nil, err
		}
		return &WebhookSetup{Env: env, Action: "stored_cli_secret", Endpoint: *got,
			NextStep: fmt.Sprintf("keep `stripe listen --forward-to <billwire serve address>/webhooks/stripe/%s` running; events it forwards are verified with this secret", env)}, nil
	}
	if endpointURL == "" {
		if publicBase == "" {
			return nil, inputErr("no url: pass url (e.g. https://billing.example.com/webhooks/stripe/%s), or set %s to billwire serve's public base URL, or pass signing_secret from `stripe listen` for local development", env, PublicURLEnv)
		}
		endpointURL = strings.TrimRight(publicBase, "/") + "/webhooks/stripe/" + string(env)
	}
	u, err := url.Parse(endpointURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, inputErr("url %q is not an http(s) URL", endpointURL)
	}
	if env == vocab.Live && u.Scheme != "https" {
		return nil, inputErr("Stripe delivers live events only to https URLs: use https://…")
	}
	st, c, e, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	events := webhooks.Types()
	found, err := findManagedEndpoint(ctx, c, env)
	if err != nil {
		return nil, err
	}
	stored, _ := st.WebhookSecrets(ctx, env)
	var action, secret string
	var ep *stripe.WebhookEndpoint
	switch {
	case found != nil && found.APIVersion == stripe.APIVersion && (stored.Current != "" && storedFor(st, ctx, env, found.ID)):
		params := &stripe.WebhookEndpointParams{}
		changed := false
		if found.URL != endpointURL {
			params.URL, changed = stripe.String(endpointURL), true
		}
		if !sameSet(found.EnabledEvents, events) {
			params.EnabledEvents, changed = stripe.StringSlice(events), true
		}
		if found.Status != "enabled" {
			params.Disabled, changed = stripe.Bool(false), true
		}
		action, ep = "unchanged", found
		if changed {
			if ep, err = c.UpdateWebhookEndpoint(ctx, found.ID, params); err != nil {
				return nil, err
			}
			action = "updated"
		}
	default:
		// None yet; or one billwire cannot use as it is: another API version
		// (which Stripe does not let us change) or a signing secret billwire
		// does not hold (Stripe shows it only at creation). Replace it.
		action = "created"
		if found != nil {
			if err := c.DeleteWebhookEndpoint(ctx, found.ID); err != nil {
				return nil, err
			}
			action = "recreated"
		}
		params := &stripe.WebhookEndpointParams{
			URL:           stripe.String(endpointURL),
			EnabledEvents: stripe.StringSlice(events),
			APIVersion:    stripe.String(stripe.APIVersion),
			Description:   stripe.String("billwire (" + string(env) + ")"),
			Metadata:      map[string]string{vocab.MetaManaged: "true", vocab.MetaEnv: string(env)},
		}
		idem := stripeapi.IdempotencyKey("create_webhook_endpoint", env, e.AccountID, endpointURL, time.Now().Unix()/3600, action)
		if ep, err = c.CreateWebhookEndpoint(ctx, params, idem); err != nil {
			return nil, err
		}
		secret = ep.Secret
		if secret == "" {
			return nil, fmt.Errorf("Stripe created endpoint %s without returning its signing secret; run setup_webhook again", ep.ID)
		}
	}
	rec := store.WebhookEndpoint{Source: "managed", EndpointID: ep.ID, URL: ep.URL, Events: ep.EnabledEvents, Status: ep.Status}
	if secret != "" {
		rec.SecretMasked = secrets.Mask(secret)
	} else {
		rec.SecretMasked = maskedSecret(st, ctx, env)
	}
	if err := st.SetWebhook(ctx, env, rec, secret); err != nil {
		return nil, err
	}
	got, err := st.Webhook(ctx, env)
	if err != nil {
		return nil, err
	}
	s.log.Info().Str("env", string(env)).Str("endpoint", ep.ID).Str("action", action).Msg("webhook endpoint set up")
	return &WebhookSetup{Env: env, Action: action, Endpoint: *got,
		NextStep: "run billwire serve where " + ep.URL + " reaches it; get_payments_status shows the last event received"}, nil
}

// storedFor reports whether the stored secret belongs to endpoint id.
func storedFor(st *store.Store, ctx context.Context, env vocab.Env, id string) bool {
	w, err := st.Webhook(ctx, env)
	return err == nil && w.Source == "managed" && w.EndpointID == id
}

func maskedSecret(st *store.Store, ctx context.Context, env vocab.Env) string {
	if w, err := st.Webhook(ctx, env); err == nil {
		return w.SecretMasked
	}
	return ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func findManagedEndpoint(ctx context.Context, c *stripeapi.Client, env vocab.Env) (*stripe.WebhookEndpoint, error) {
	after := ""
	for {
		page, err := c.ListPage(ctx, "/v1/webhook_endpoints", after, 100, nil)
		if err != nil {
			return nil, err
		}
		for _, raw := range page.Data {
			var ep stripe.WebhookEndpoint
			if err := json.Unmarshal(raw, &ep); err != nil {
				return nil, err
			}
			if ep.Metadata[vocab.MetaManaged] == "true" && (ep.Metadata[vocab.MetaEnv] == "" || ep.Metadata[vocab.MetaEnv] == string(env)) {
				return &ep, nil
			}
			after = ep.ID
		}
		if !page.HasMore || len(page.Data) == 0 {
			return nil, nil
		}
	}
}

// ReconcileResult reports a reconcile run.
type ReconcileResult struct {
	Env      vocab.Env        `json:"env"`
	Since    time.Time        `json:"since"`
	Listed   int              `json:"listed"`
	Known    int              `json:"already_recorded"`
	Outcomes map[string]int   `json:"outcomes"`
	Failures []ReconcileIssue `json:"failures,omitempty"`
	NextStep string           `json:"next_step,omitempty"`
}

// ReconcileIssue is an event reconcile could not project.
type ReconcileIssue struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	Status  string `json:"status"`
}

// ParseSince reads a reconcile window start: a duration back from now
// ("72h"), a date, or an RFC 3339 time. Empty means three days.
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return now.Add(-72 * time.Hour), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if strings.HasSuffix(s, "d") {
		if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, inputErr("since %q is not a duration (72h, 3d), a date (2026-11-20) or an RFC 3339 time", s)
}

// Reconcile lists Stripe's events since a time (at most Stripe's 30 days)
// and runs those billwire has not recorded through the receiver's own path;
// duplicates are no-ops, so gaps of any age in the window are filled.
func (s *Service) Reconcile(ctx context.Context, env vocab.Env, since time.Time) (*ReconcileResult, error) {
	now := time.Now()
	if since.After(now) {
		return nil, inputErr("since is in the future")
	}
	if now.Sub(since) > 30*24*time.Hour {
		return nil, inputErr("Stripe keeps events for 30 days: since must be within the last 30 days (run sync_catalog for older state)")
	}
	st, c, _, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	proc := s.processor(st)
	res := &ReconcileResult{Env: env, Since: since, Outcomes: map[string]int{}}
	filters := url.Values{"created[gte]": {strconv.FormatInt(since.Unix(), 10)}}
	after := ""
	for {
		page, err := c.ListPage(ctx, "/v1/events", after, 100, filters)
		if err != nil {
			return res, err
		}
		ids := make([]string, 0, len(page.Data))
		events := make([]*webhooks.Event, 0, len(page.Data))
		for _, raw := range page.Data {
			e, err := webhooks.ParseEvent(raw)
			if err != nil {
				return res, fmt.Errorf("event from Stripe's list: %w", err)
			}
			ids = append(ids, e.ID)
			events = append(events, e)
		}
		known, err := st.KnownEvents(ctx, env, ids)
		if err != nil {
			return res, err
		}
		for _, e := range events {
			res.Listed++
			after = e.ID
			if known[e.ID] {
				res.Known++
				continue
			}
			if e.Livemode != (env == vocab.Live) {
				continue
			}
			status, err := proc.Process(ctx, env, e, "reconcile", false)
			if err != nil {
				return res, err
			}
			res.Outcomes[string(status)]++
			if status == webhooks.Failed || status == webhooks.Parked {
				res.Failures = append(res.Failures, ReconcileIssue{EventID: e.ID, Type: e.Type, Status: string(status)})
			}
		}
		if !page.HasMore || len(page.Data) == 0 {
			break
		}
	}
	if len(res.Failures) > 0 {
		res.NextStep = "some events failed to project: see list_webhook_events for their errors; replay_webhook_event retries one"
	}
	return res, nil
}

// UseProcessor makes reconcile and replay run through proc, billwire
// serve's one long-lived processor, so that their events keep its
// per-customer ordering beside the deliveries it is committing. Its owner
// closes it.
func (s *Service) UseProcessor(proc *webhooks.Processor) {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	s.proc = proc
}

// processor is the processor for st's events: the one given to
// UseProcessor, else one the Service builds once (for the CLI and the MCP
// server without serve) and closes in Close.
func (s *Service) processor(st *store.Store) *webhooks.Processor {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	if s.proc != nil {
		return s.proc
	}
	if s.own == nil || s.ownStore != st {
		if s.own != nil {
			s.own.Close()
		}
		s.own, s.ownStore = webhooks.NewProcessor(st, s, s.log, webhooks.Options{Writers: 1}), st
	}
	return s.own
}

// Close stops the processor the Service built, if any (see processor).
func (s *Service) Close() {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	if s.own != nil {
		s.own.Close()
		s.own, s.ownStore = nil, nil
	}
}

// ReplayResult reports a replayed event.
type ReplayResult struct {
	Env     vocab.Env `json:"env"`
	EventID string    `json:"event_id"`
	Was     string    `json:"was"`
	Status  string    `json:"status"`
	// Refetched says the ledger no longer kept the event's payload (pruned
	// after BILLWIRE_EVENT_RETENTION), so it was fetched from Stripe.
	Refetched bool `json:"refetched_from_stripe,omitempty"`
}

// Replay projects one recorded event again (a parked one, after a fix). An
// event whose payload the ledger no longer keeps (pruned after
// BILLWIRE_EVENT_RETENTION) is fetched from Stripe's events API and that is
// projected; Stripe keeps events for 30 days, and an older one cannot be
// replayed (the error says what to do instead).
func (s *Service) Replay(ctx context.Context, env vocab.Env, eventID string) (*ReplayResult, error) {
	eventID = strings.TrimSpace(eventID)
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := st.WebhookEventByID(ctx, env, eventID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, inputErr("no event %q in billwire's %s ledger: list_webhook_events shows recorded events; reconcile_events fetches missing ones from Stripe", eventID, env)
	}
	if err != nil {
		return nil, err
	}
	res := &ReplayResult{Env: env, EventID: rec.ID, Was: rec.Status}
	payload := rec.Payload
	if payload == nil {
		if rec.Status == string(webhooks.Ignored) && !webhooks.Projects(rec.Type) {
			// Recorded without its payload: there is nothing to project.
			res.Status = rec.Status
			return res, nil
		}
		if payload, err = s.refetchEvent(ctx, env, rec); err != nil {
			return nil, err
		}
		res.Refetched = true
	}
	e, err := webhooks.ParseEvent(payload)
	if err != nil {
		return nil, err
	}
	if e.ID != rec.ID || e.Livemode != (env == vocab.Live) {
		return nil, fmt.Errorf("replay %s: Stripe answered event %s (livemode %v) for it in %s", rec.ID, e.ID, e.Livemode, env)
	}
	if res.Refetched {
		if err := sameEvent(rec, e); err != nil {
			return nil, err
		}
	}
	status, err := s.processor(st).Process(ctx, env, e, "replay", true)
	if err != nil {
		return nil, err
	}
	res.Status = string(status)
	return res, nil
}

// sameEvent refuses Stripe's copy of a pruned event unless it is the event
// the ledger recorded: the same type, about the same object. Anything else
// under the recorded id would project what billwire never received.
func sameEvent(rec *store.WebhookEvent, e *webhooks.Event) error {
	recorded := ""
	if rec.ObjectID != nil {
		recorded = *rec.ObjectID
	}
	if e.Type != rec.Type || e.ObjectID != recorded {
		return fmt.Errorf("replay %s: refused: the ledger recorded a %s event about %q, and Stripe's copy is a %s event about %q; "+
			"nothing was projected (run sync_catalog to bring the state up to date from Stripe instead)",
			rec.ID, rec.Type, recorded, e.Type, e.ObjectID)
	}
	return nil
}

// refetchEvent fetches a recorded event whose payload was pruned from
// Stripe's events API.
func (s *Service) refetchEvent(ctx context.Context, env vocab.Env, rec *store.WebhookEvent) (json.RawMessage, error) {
	_, c, _, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	raw, err := c.Event(ctx, rec.ID)
	if stripeapi.IsNotFound(err) {
		return nil, inputErr("event %s (%s, received %s) cannot be replayed: billwire pruned its payload from the ledger "+
			"(%s, default 30 days) and Stripe no longer has the event (Stripe keeps events for 30 days). "+
			"To bring billwire's %s state up to date from Stripe instead, run sync_catalog {env: %q} (CLI: `billwire sync --env %s`)",
			rec.ID, rec.Type, rec.ReceivedAt.UTC().Format(time.RFC3339), webhooks.RetentionEnv, env, env, env)
	}
	if err != nil {
		return nil, fmt.Errorf("replay %s: its payload was pruned from the ledger, and fetching it from Stripe failed: %w", rec.ID, err)
	}
	return raw, nil
}

// PaymentHistory is a page of payment history.
type PaymentHistory struct {
	Env        vocab.Env             `json:"env"`
	Records    []store.PaymentRecord `json:"payments"`
	NextCursor string                `json:"next_cursor,omitempty"`
}

// ListPaymentHistory reads a page of projected payments, failures, refunds and disputes.
func (s *Service) ListPaymentHistory(ctx context.Context, env vocab.Env, p store.Page) (*PaymentHistory, error) {
	rows, cursor, err := list(ctx, s, env, p, (*store.Store).ListPaymentHistory)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if rows[i].Currency != nil {
			rows[i].Display = money.Format(rows[i].Amount, *rows[i].Currency)
		}
	}
	return &PaymentHistory{Env: env, Records: rows, NextCursor: cursor}, nil
}

// WebhookEvents is a page of the event ledger.
type WebhookEvents struct {
	Env        vocab.Env            `json:"env"`
	Events     []store.WebhookEvent `json:"events"`
	NextCursor string               `json:"next_cursor,omitempty"`
}

// ListWebhookEvents reads a page of recorded events, newest first.
func (s *Service) ListWebhookEvents(ctx context.Context, env vocab.Env, p store.Page) (*WebhookEvents, error) {
	rows, cursor, err := list(ctx, s, env, p, (*store.Store).ListWebhookEvents)
	if err != nil {
		return nil, err
	}
	return &WebhookEvents{Env: env, Events: rows, NextCursor: cursor}, nil
}
