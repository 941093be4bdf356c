package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// SimulatedSubscription returns the newest simulated subscription of a
// subject to a price (as mirrored: the full Stripe object) and the time of
// the newest event that changed it, or ErrNotFound. A subscription that is
// not simulated is returned too (with simulated false), so that the caller
// can say why it will not tell stories about it.
func (s *Store) SimulatedSubscription(ctx context.Context, env vocab.Env, subjectType, subjectID, priceID string) (obj json.RawMessage, sourceAt time.Time, simulated bool, err error) {
	err = s.pool.QueryRow(ctx, `
		SELECT s.data, s.source_at, coalesce(s.metadata->>'`+vocab.MetaSimulated+`', '') = 'true'
		FROM payments.subscriptions s
		WHERE s.env = $1 AND s.subject_type = $2 AND s.subject_id = $3
			AND EXISTS (SELECT 1 FROM payments.subscription_items i
				WHERE i.env = s.env AND i.subscription_id = s.id AND i.price_id = $4)
		ORDER BY (s.status NOT IN ('canceled', 'incomplete_expired')) DESC,
			(coalesce(s.metadata->>'`+vocab.MetaSimulated+`', '') = 'true') DESC, s.created DESC, s.id DESC
		LIMIT 1`, env, subjectType, subjectID, priceID).Scan(&obj, &sourceAt, &simulated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, false, ErrNotFound
	}
	return obj, sourceAt, simulated, err
}

// PriceObject returns a price as mirrored: the full Stripe object, or
// ErrNotFound.
func (s *Store) PriceObject(ctx context.Context, env vocab.Env, id string) (json.RawMessage, error) {
	var obj json.RawMessage
	err := s.pool.QueryRow(ctx, `SELECT data FROM payments.prices WHERE env = $1 AND id = $2`, env, id).Scan(&obj)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return obj, err
}

// BillingChange is one row of the outbox, payments.billing_changes, as a
// report shows it.
type BillingChange struct {
	Seq        int64     `json:"seq"`
	Kind       string    `json:"kind"`
	Key        string    `json:"key"`
	Status     *string   `json:"status,omitempty"`
	Amount     *int64    `json:"amount,omitempty"`
	Currency   *string   `json:"currency,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	CustomerID *string   `json:"customer_id,omitempty"`
}

// LastBillingChange returns the newest outbox sequence number (0 when
// empty): changes after it are the ones a caller's next step makes.
func (s *Store) LastBillingChange(ctx context.Context) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM payments.billing_changes`).Scan(&seq)
	return seq, err
}

// SubjectBillingChanges lists the outbox rows about a subject after seq,
// oldest first.
func (s *Store) SubjectBillingChanges(ctx context.Context, env vocab.Env, subjectType, subjectID string, after int64) ([]BillingChange, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT seq, kind, key, status, amount, currency, created_at, customer_id FROM payments.billing_changes
		WHERE seq > $4 AND env = $1 AND subject_type = $2 AND subject_id = $3 ORDER BY seq`, env, subjectType, subjectID, after)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (BillingChange, error) {
		var c BillingChange
		err := r.Scan(&c.Seq, &c.Kind, &c.Key, &c.Status, &c.Amount, &c.Currency, &c.CreatedAt, &c.CustomerID)
		return c, err
	})
}

// HasAccess calls a scaffolded access function (schema.name(text)) for a
// subject id.
func (s *Store) HasAccess(ctx context.Context, schema, name, subjectID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT `+pgx.Identifier{schema, name}.Sanitize()+`($1)`, subjectID).Scan(&ok)
	return ok, err
}

// SimulatedCleared counts what ClearSimulated removed, per table.
type SimulatedCleared struct {
	Customers        int64 `json:"customers"`
	Subscriptions    int64 `json:"subscriptions"`
	CheckoutSessions int64 `json:"checkout_sessions"`
	Payments         int64 `json:"payments"`
	Events           int64 `json:"events"`
}

// simulatedLike matches the ids simulated objects and events carry
// (Stripe's own ids have no underscore after their prefix).
const simulatedLike = `'%\_sim\_%'`

// ClearSimulated removes every simulated object and event of env from
// billwire's tables, in one transaction: the mirror, the subjects' mapping
// to simulated customers, payment history and the ledger. The outbox keeps
// its rows (it is history the app's fulfillment already read).
func (s *Store) ClearSimulated(ctx context.Context, env vocab.Env) (SimulatedCleared, error) {
	var c SimulatedCleared
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		steps := []struct {
			n   *int64
			sql string
		}{
			{nil, `DELETE FROM payments.subscription_items WHERE env = $1 AND subscription_id LIKE ` + simulatedLike},
			{&c.Subscriptions, `DELETE FROM payments.subscriptions WHERE env = $1 AND id LIKE ` + simulatedLike},
			{&c.CheckoutSessions, `DELETE FROM payments.checkout_sessions WHERE env = $1 AND stripe_id LIKE ` + simulatedLike},
			{&c.Payments, `DELETE FROM payments.payment_history WHERE env = $1 AND (key LIKE ` + simulatedLike +
				` OR payment_intent_id LIKE ` + simulatedLike + ` OR invoice_id LIKE ` + simulatedLike + `)`},
			{nil, `DELETE FROM payments.fulfillment_mismatches WHERE env = $1 AND payment_key LIKE ` + simulatedLike},
			{nil, `DELETE FROM payments.customer_mappings WHERE env = $1 AND customer_id LIKE ` + simulatedLike},
			{nil, `DELETE FROM payments.entitlement_summaries WHERE env = $1 AND customer_id LIKE ` + simulatedLike},
			{&c.Customers, `DELETE FROM payments.customers WHERE env = $1 AND id LIKE ` + simulatedLike},
			{&c.Events, `DELETE FROM payments.webhook_events WHERE env = $1 AND id LIKE ` + simulatedLike},
		}
		for _, st := range steps {
			tag, err := tx.Exec(ctx, st.sql, env)
			if err != nil {
				return fmt.Errorf("clear simulated objects: %w", err)
			}
			if st.n != nil {
				*st.n = tag.RowsAffected()
			}
		}
		return nil
	})
	return c, err
}
