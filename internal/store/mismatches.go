package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
)

// FulfillmentMismatch is a payment that named an order but did not pay for
// it (payments.fulfillment_mismatches, written by the app's scaffolded
// triggers): the app should refund it in Stripe.
type FulfillmentMismatch struct {
	ID         int64           `json:"id"`
	Env        vocab.Env       `json:"env"`
	PaymentKey string          `json:"payment_key"`
	OrderID    *string         `json:"order_id,omitempty"`
	Reason     string          `json:"reason"`
	Detail     json.RawMessage `json:"detail"`
	CreatedAt  time.Time       `json:"created_at"`
	// PaymentIntentID is the payment that moved the money, when there was one.
	PaymentIntentID *string `json:"payment_intent_id,omitempty"`
	// Refunded means that payment has since been refunded in full.
	Refunded bool `json:"refunded"`
	// NothingPaid means no money moved (a trial, a free or fully discounted
	// session): there is nothing to refund, so it is never open.
	NothingPaid bool `json:"nothing_paid"`
}

// MismatchSummary counts the mismatches of one environment.
type MismatchSummary struct {
	Total int64 `json:"total"`
	// Recent counts those created since the summary's start.
	Recent int64 `json:"recent"`
	// Open counts the recent ones that took money and whose payment is not
	// refunded in full: what the app still owes back.
	Open     int64            `json:"open"`
	ByReason map[string]int64 `json:"by_reason,omitempty"`
	Since    time.Time        `json:"since"`
	// Latest are the newest, newest first.
	Latest []FulfillmentMismatch `json:"latest,omitempty"`
}

// mismatchRefunded is true when a mismatch's payment was refunded in full.
const mismatchRefunded = `EXISTS (SELECT 1 FROM payments.payment_history p WHERE p.env = m.env AND p.key = m.detail->>'payment_intent_id'
		AND p.kind = 'payment' AND p.status = 'refunded')`

// mismatchNothingPaid is true when a mismatch moved no money: the
// scaffold's nothing_paid field, or (recorded before it had the field) an
// amount_total of 0.
const mismatchNothingPaid = `(m.detail @> '{"nothing_paid": true}' OR m.detail @> '{"amount_total": 0}')`

// mismatchColumns reads a mismatch with whether its payment was refunded
// and whether it paid anything.
const mismatchColumns = `m.id, m.env, m.payment_key, m.order_id, m.reason, m.detail, m.created_at, m.detail->>'payment_intent_id',
	` + mismatchRefunded + `, ` + mismatchNothingPaid

func scanMismatch(r pgx.CollectableRow) (FulfillmentMismatch, error) {
	var m FulfillmentMismatch
	var detail []byte
	err := r.Scan(&m.ID, &m.Env, &m.PaymentKey, &m.OrderID, &m.Reason, &detail, &m.CreatedAt, &m.PaymentIntentID, &m.Refunded, &m.NothingPaid)
	m.Detail = detail
	return m, err
}

// FulfillmentMismatches returns the summary of env's mismatches since
// since, with the latest (at most latest of them).
func (s *Store) FulfillmentMismatches(ctx context.Context, env vocab.Env, since time.Time, latest int) (*MismatchSummary, error) {
	out := &MismatchSummary{Since: since, ByReason: map[string]int64{}}
	rows, err := s.pool.Query(ctx, `
		SELECT m.reason, count(*), count(*) FILTER (WHERE m.created_at >= $2),
			count(*) FILTER (WHERE m.created_at >= $2 AND NOT `+mismatchRefunded+` AND NOT `+mismatchNothingPaid+`)
		FROM payments.fulfillment_mismatches m WHERE m.env = $1 GROUP BY m.reason ORDER BY m.reason`, env, since)
	if err != nil {
		return nil, fmt.Errorf("count fulfillment mismatches: %w", err)
	}
	for rows.Next() {
		var reason string
		var total, recent, open int64
		if err := rows.Scan(&reason, &total, &recent, &open); err != nil {
			rows.Close()
			return nil, fmt.Errorf("count fulfillment mismatches: %w", err)
		}
		out.Total += total
		out.Recent += recent
		out.Open += open
		out.ByReason[reason] = total
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count fulfillment mismatches: %w", err)
	}
	if latest > 0 && out.Total > 0 {
		out.Latest, err = s.ListFulfillmentMismatches(ctx, env, latest, 0)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListFulfillmentMismatches returns env's mismatches, newest first.
func (s *Store) ListFulfillmentMismatches(ctx context.Context, env vocab.Env, limit, offset int) ([]FulfillmentMismatch, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = DefaultLimit
	}
	if offset < 0 {
		offset = 0
	}
	rows, err := s.pool.Query(ctx, `SELECT `+mismatchColumns+` FROM payments.fulfillment_mismatches m
		WHERE m.env = $1 ORDER BY m.created_at DESC, m.id DESC LIMIT $2 OFFSET $3`, env, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list fulfillment mismatches: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanMismatch)
	if err != nil {
		return nil, fmt.Errorf("list fulfillment mismatches: %w", err)
	}
	return out, nil
}
