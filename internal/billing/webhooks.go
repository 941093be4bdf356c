package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

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
		page, err := c.ListEvents(ctx, after, 100, filters)
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
