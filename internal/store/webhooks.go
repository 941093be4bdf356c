package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
)

func purposeWebhookSecret(env vocab.Env) string { return "webhook_secret/" + string(env) }

// PreviousSecretGrace is how long a replaced signing secret is still accepted,
// so deliveries signed before a rotation still verify.
const PreviousSecretGrace = 24 * time.Hour

// WebhookSecrets are the signing secrets a receiver accepts for one environment.
type WebhookSecrets struct {
	Current       string
	Previous      string // accepted until PreviousUntil
	PreviousUntil time.Time
}

// WebhookSecrets decrypts env's signing secrets; ErrNotFound when none is set.
func (s *Store) WebhookSecrets(ctx context.Context, env vocab.Env) (WebhookSecrets, error) {
	var cur, prev []byte
	var until *time.Time
	err := s.pool.QueryRow(ctx, `SELECT webhook_secret_enc, webhook_prev_secret_enc, webhook_prev_secret_until
		FROM payments.environments WHERE env = $1`, env).Scan(&cur, &prev, &until)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && cur == nil) {
		return WebhookSecrets{}, ErrNotFound
	}
	if err != nil {
		return WebhookSecrets{}, err
	}
	var out WebhookSecrets
	if out.Current, err = s.key.Open(cur, purposeWebhookSecret(env)); err != nil {
		return WebhookSecrets{}, fmt.Errorf("decrypt the %s webhook signing secret: %w", env, err)
	}
	if prev != nil && until != nil && until.After(time.Now()) {
		if out.Previous, err = s.key.Open(prev, purposeWebhookSecret(env)); err != nil {
			return WebhookSecrets{}, fmt.Errorf("decrypt the previous %s webhook signing secret: %w", env, err)
		}
		out.PreviousUntil = *until
	}
	return out, nil
}

// WebhookEndpoint is the managed endpoint's state as billwire last saw it.
type WebhookEndpoint struct {
	Source        string     `json:"source"` // managed (billwire's endpoint in Stripe) or cli (stripe listen)
	EndpointID    string     `json:"endpoint_id,omitempty"`
	URL           string     `json:"url,omitempty"`
	Events        []string   `json:"enabled_events,omitempty"`
	Status        string     `json:"status,omitempty"`
	SecretMasked  string     `json:"signing_secret,omitempty"`
	PreviousUntil *time.Time `json:"previous_secret_accepted_until,omitempty"`
	UpdatedAt     *time.Time `json:"updated_at,omitempty"`
}

// SetWebhook stores the endpoint and, when secret is not empty, its signing
// secret; a different previous secret stays accepted for PreviousSecretGrace.
func (s *Store) SetWebhook(ctx context.Context, env vocab.Env, ep WebhookEndpoint, secret string) error {
	var sealed []byte
	if secret != "" {
		sealed = s.key.Seal(secret, purposeWebhookSecret(env))
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE payments.environments SET
			webhook_prev_secret_enc = CASE WHEN $2::bytea IS NOT NULL AND webhook_secret_enc IS NOT NULL
				AND webhook_secret_masked IS DISTINCT FROM $3 THEN webhook_secret_enc ELSE webhook_prev_secret_enc END,
			webhook_prev_secret_until = CASE WHEN $2::bytea IS NOT NULL AND webhook_secret_enc IS NOT NULL
				AND webhook_secret_masked IS DISTINCT FROM $3 THEN now() + make_interval(secs => $9) ELSE webhook_prev_secret_until END,
			webhook_secret_enc = coalesce($2, webhook_secret_enc),
			webhook_secret_masked = CASE WHEN $2::bytea IS NOT NULL THEN $3 ELSE webhook_secret_masked END,
			webhook_source = $4, webhook_endpoint_id = $5, webhook_url = $6, webhook_events = $7, webhook_status = $8,
			webhook_updated_at = now()
		WHERE env = $1`, env, sealed, ep.SecretMasked, ep.Source, nilIfEmpty(ep.EndpointID), nilIfEmpty(ep.URL), ep.Events,
		nilIfEmpty(ep.Status), PreviousSecretGrace.Seconds())
	if err != nil {
		return fmt.Errorf("store %s webhook: %w", env, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// RevokePreviousWebhookSecret ends the grace of env's previous signing
// secret at once: receivers stop accepting it (billwire serve checks the
// database before it accepts a delivery signed with it). It reports whether
// a previous secret was still accepted; ErrNotFound when env has no row.
func (s *Store) RevokePreviousWebhookSecret(ctx context.Context, env vocab.Env) (bool, error) {
	var wasAccepted bool
	err := s.pool.QueryRow(ctx, `
		UPDATE payments.environments e SET webhook_prev_secret_enc = NULL, webhook_prev_secret_until = NULL
		FROM payments.environments old
		WHERE e.env = $1 AND old.env = e.env
		RETURNING old.webhook_prev_secret_enc IS NOT NULL AND coalesce(old.webhook_prev_secret_until > now(), false)`, env).Scan(&wasAccepted)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("revoke the previous %s webhook signing secret: %w", env, err)
	}
	return wasAccepted, nil
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Webhook returns env's endpoint state; ErrNotFound when none is set up.
func (s *Store) Webhook(ctx context.Context, env vocab.Env) (*WebhookEndpoint, error) {
	var ep WebhookEndpoint
	var source, id, url, status, masked *string
	err := s.pool.QueryRow(ctx, `SELECT webhook_source, webhook_endpoint_id, webhook_url, webhook_events, webhook_status,
			webhook_secret_masked, CASE WHEN webhook_prev_secret_until > now() THEN webhook_prev_secret_until END, webhook_updated_at
		FROM payments.environments WHERE env = $1`, env).
		Scan(&source, &id, &url, &ep.Events, &status, &masked, &ep.PreviousUntil, &ep.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && source == nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	for dst, src := range map[*string]*string{&ep.Source: source, &ep.EndpointID: id, &ep.URL: url, &ep.Status: status, &ep.SecretMasked: masked} {
		if src != nil {
			*dst = *src
		}
	}
	return &ep, nil
}

// WebhookHealth summarizes the ledger of one environment.
type WebhookHealth struct {
	LastEventAt   *time.Time       `json:"last_event_received_at,omitempty"`
	LastEventType string           `json:"last_event_type,omitempty"`
	Counts24h     map[string]int64 `json:"events_24h"`
	Failing       int64            `json:"failing"`
	Parked        int64            `json:"parked"`
}

// WebhookHealth reads the ledger's health for env.
func (s *Store) WebhookHealth(ctx context.Context, env vocab.Env) (*WebhookHealth, error) {
	h := &WebhookHealth{Counts24h: map[string]int64{}}
	var lastType *string
	err := s.pool.QueryRow(ctx, `SELECT
			(SELECT received_at FROM payments.webhook_events WHERE env = $1 ORDER BY received_at DESC LIMIT 1),
			(SELECT type FROM payments.webhook_events WHERE env = $1 ORDER BY received_at DESC LIMIT 1),
			(SELECT count(*) FROM payments.webhook_events WHERE env = $1 AND status = 'failed'),
			(SELECT count(*) FROM payments.webhook_events WHERE env = $1 AND status = 'parked')`, env).
		Scan(&h.LastEventAt, &lastType, &h.Failing, &h.Parked)
	if err != nil {
		return nil, err
	}
	if lastType != nil {
		h.LastEventType = *lastType
	}
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM payments.webhook_events
		WHERE env = $1 AND received_at > now() - interval '24 hours' GROUP BY status`, env)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		h.Counts24h[st] = n
	}
	return h, rows.Err()
}

// WebhookEvent is one ledger row. PayloadKept is false for an event
// recorded without its payload (an ignored type) or whose payload was pruned
// (BILLWIRE_EVENT_RETENTION): a replay then fetches the event from Stripe.
type WebhookEvent struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Created     time.Time       `json:"created"`
	ObjectID    *string         `json:"object_id,omitempty"`
	Status      string          `json:"status"`
	ResolvedBy  *string         `json:"resolved_by,omitempty"`
	Attempts    int             `json:"attempts"`
	LastError   *string         `json:"last_error,omitempty"`
	Source      string          `json:"source"`
	ReceivedAt  time.Time       `json:"received_at"`
	ProcessedAt *time.Time      `json:"processed_at,omitempty"`
	PayloadKept bool            `json:"payload_kept"`
	Payload     json.RawMessage `json:"-"` // nil when not kept
}

// recentEvents is how many of the newest events a search by type or object
// id looks through: the ledger grows without bound and is written on every
// delivery, so it carries no index for these.
const recentEvents = 10000

// ListWebhookEvents returns a page of the ledger, newest first. Query matches
// an event id exactly, a status, or, among the newest 10,000 events, a type
// or an object id exactly.
func (s *Store) ListWebhookEvents(ctx context.Context, env vocab.Env, p Page) ([]WebhookEvent, string, error) {
	after, q, limit, err := p.norm()
	if err != nil {
		return nil, "", err
	}
	q = p.statusQuery(q, EventStatuses)
	var afterAt time.Time
	var afterID string
	if after != "" {
		if err := json.Unmarshal([]byte(after), &[]any{&afterAt, &afterID}); err != nil {
			return nil, "", ErrBadCursor
		}
	}
	var a sqlArgs
	e := a.add(env)
	where := "env = " + e
	if p.Status != "" {
		if !slices.Contains(EventStatuses, p.Status) {
			return nil, "", fmt.Errorf("%w: status %q: use one of %s", ErrBadFilter, p.Status, strings.Join(EventStatuses, ", "))
		}
		// A literal (from the list above), so that failed and parked use their partial index under any plan.
		where += " AND status = '" + p.Status + "'"
	}
	if afterID != "" {
		where += " AND (received_at, id) < (" + a.add(afterAt) + ", " + a.add(afterID) + ")"
	}
	switch {
	case strings.HasPrefix(q, "evt_"): // an event id: the key, no window to look through
		where += " AND id = " + a.add(q)
	case q != "":
		qa := a.add(q)
		where += ` AND id IN (SELECT id FROM payments.webhook_events WHERE env = ` + e + ` AND id = ` + qa + `
			UNION SELECT id FROM (SELECT id, type, object_id FROM payments.webhook_events WHERE env = ` + e + `
				ORDER BY received_at DESC, id DESC LIMIT ` + strconv.Itoa(recentEvents) + `) r
			WHERE r.type = ` + qa + ` OR r.object_id = ` + qa + `)`
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, type, created, object_id, status, resolved_by, attempts, last_error, source, received_at, processed_at, payload IS NOT NULL
		FROM payments.webhook_events WHERE `+where+a.tail("received_at DESC, id DESC", limit, p.Offset), a...)
	if err != nil {
		return nil, "", fmt.Errorf("list webhook events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WebhookEvent, error) {
		var e WebhookEvent
		err := r.Scan(&e.ID, &e.Type, &e.Created, &e.ObjectID, &e.Status, &e.ResolvedBy, &e.Attempts, &e.LastError, &e.Source, &e.ReceivedAt, &e.ProcessedAt,
			&e.PayloadKept)
		return e, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list webhook events: %w", err)
	}
	out, nextCursor := next(out, limit, func(e WebhookEvent) string {
		b, _ := json.Marshal([]any{e.ReceivedAt, e.ID})
		return string(b)
	})
	return out, nextCursor, nil
}

// WebhookEventByID returns one ledger row with its payload (nil when it was
// not kept); ErrNotFound when env's ledger has no such event.
func (s *Store) WebhookEventByID(ctx context.Context, env vocab.Env, id string) (*WebhookEvent, error) {
	var e WebhookEvent
	var payload []byte
	err := s.pool.QueryRow(ctx, `
		SELECT id, type, created, object_id, status, attempts, last_error, source, received_at, processed_at, payload
		FROM payments.webhook_events WHERE env = $1 AND id = $2`, env, id).
		Scan(&e.ID, &e.Type, &e.Created, &e.ObjectID, &e.Status, &e.Attempts, &e.LastError, &e.Source, &e.ReceivedAt,
			&e.ProcessedAt, &payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook event %s: %w", id, err)
	}
	e.Payload, e.PayloadKept = payload, payload != nil
	return &e, nil
}

// KnownEvents returns which of ids are in env's ledger as processed or ignored.
func (s *Store) KnownEvents(ctx context.Context, env vocab.Env, ids []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM payments.webhook_events
		WHERE env = $1 AND id = ANY($2) AND status IN ('processed', 'stale', 'ignored', 'parked')`, env, ids)
	if err != nil {
		return nil, err
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(got))
	for _, id := range got {
		m[id] = true
	}
	return m, nil
}

// PaymentRecord is one row of payment history: a payment (with its failures
// and refunded amount), a refund or a dispute.
type PaymentRecord struct {
	Key               string    `json:"key"`
	Kind              string    `json:"kind"`
	Status            string    `json:"status"`
	Amount            int64     `json:"amount"`
	AmountRefunded    int64     `json:"amount_refunded"`
	Currency          *string   `json:"currency,omitempty"`
	CustomerID        *string   `json:"customer_id,omitempty"`
	SubjectType       *string   `json:"subject_type,omitempty"`
	SubjectID         *string   `json:"subject_id,omitempty"`
	InvoiceID         *string   `json:"invoice_id,omitempty"`
	SubscriptionID    *string   `json:"subscription_id,omitempty"`
	PaymentIntentID   *string   `json:"payment_intent_id,omitempty"`
	ChargeID          *string   `json:"charge_id,omitempty"`
	CheckoutSessionID *string   `json:"checkout_session_id,omitempty"`
	FailureCode       *string   `json:"failure_code,omitempty"`
	FailureMessage    *string   `json:"failure_message,omitempty"`
	Failures          int       `json:"failures"`
	Reason            *string   `json:"reason,omitempty"`
	OccurredAt        time.Time `json:"occurred_at"`
	// Display is the amount for a human; filled by the caller.
	Display string `json:"display,omitempty" db:"-"`
}

// ListPaymentHistory returns a page of payment history, newest first.
// Query matches exactly the row's key or any id on it (customer, subject,
// invoice, subscription, charge; a payment intent finds the payment with its
// refunds and disputes), a status, or the start of the customer's email or
// name.
func (s *Store) ListPaymentHistory(ctx context.Context, env vocab.Env, p Page) ([]PaymentRecord, string, error) {
	after, q, limit, err := p.norm()
	if err != nil {
		return nil, "", err
	}
	q = p.statusQuery(q, PaymentStatuses)
	var afterAt time.Time
	var afterKey string
	if after != "" {
		if err := json.Unmarshal([]byte(after), &[]any{&afterAt, &afterKey}); err != nil {
			return nil, "", ErrBadCursor
		}
	}
	var a sqlArgs
	e := a.add(env)
	where := "h.env = " + e
	switch {
	case p.Status == "succeeded":
		where += " AND h.status = 'succeeded'" // most rows: the newest-first walk finds a page at once
	case p.Status != "":
		if !slices.Contains(PaymentStatuses, p.Status) {
			return nil, "", fmt.Errorf("%w: status %q: use one of %s", ErrBadFilter, p.Status, strings.Join(PaymentStatuses, ", "))
		}
		// A literal (from the list above), so that the partial index of the
		// other statuses serves it under any plan.
		where += " AND h.status = '" + p.Status + "' AND h.status <> 'succeeded'"
	}
	if p.SubjectID != "" {
		where += " AND h.subject_id = " + a.add(p.SubjectID)
		if p.SubjectType != "" {
			where += " AND h.subject_type = " + a.add(p.SubjectType)
		}
	}
	if afterKey != "" {
		where += " AND (h.occurred_at, h.key) < (" + a.add(afterAt) + ", " + a.add(afterKey) + ")"
	}
	if !p.Since.IsZero() {
		where += " AND h.occurred_at >= " + a.add(p.Since)
	}
	if q != "" {
		lo, hi := prefixRange(q)
		qa, loA, hiA := a.add(q), a.add(lo), a.add(hi)
		probe := func(col string) string {
			return "SELECT key FROM payments.payment_history WHERE env = " + e + " AND " + col + " = " + qa
		}
		// One index probe per id column; refunds and disputes of a payment
		// intent are found through the charge they share with its payment.
		where += ` AND h.key IN (` + probe("key") + ` UNION ` + probe("customer_id") + ` UNION ` + probe("subject_id") + `
			UNION ` + probe("invoice_id") + ` UNION ` + probe("subscription_id") + ` UNION ` + probe("charge_id") + `
			UNION SELECT r.key FROM payments.payment_history pay JOIN payments.payment_history r ON r.charge_id = pay.charge_id AND r.env = pay.env
				WHERE pay.env = ` + e + ` AND pay.key = ` + qa + `
			UNION SELECT key FROM payments.payment_history WHERE env = ` + e + ` AND customer_id IN ` + customersMatching(e, loA, hiA) + `)`
	}
	rows, err := s.pool.Query(ctx, `
		SELECT h.key, h.kind, h.status, h.amount, h.amount_refunded, h.currency, h.customer_id, h.subject_type, h.subject_id, h.invoice_id,
			h.subscription_id, h.payment_intent_id, h.charge_id, h.checkout_session_id, h.failure_code, h.failure_message, h.failures,
			h.reason, h.occurred_at
		FROM payments.payment_history h
		WHERE `+where+a.tail("h.occurred_at DESC, h.key DESC", limit, p.Offset), a...)
	if err != nil {
		return nil, "", fmt.Errorf("list payment history: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PaymentRecord])
	if err != nil {
		return nil, "", fmt.Errorf("list payment history: %w", err)
	}
	out, nextCursor := next(out, limit, func(r PaymentRecord) string {
		b, _ := json.Marshal([]any{r.OccurredAt, r.Key})
		return string(b)
	})
	return out, nextCursor, nil
}

// DeleteSelfTestEvent removes the integration check's own test event from
// the ledger, reporting whether it was there.
func (s *Store) DeleteSelfTestEvent(ctx context.Context, env vocab.Env, id string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM payments.webhook_events WHERE id = $1 AND env = $2 AND type = 'billwire.self_test'`, id, env)
	if err != nil {
		return false, fmt.Errorf("remove self-test event: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
