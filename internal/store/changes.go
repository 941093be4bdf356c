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

// ChangePrice is what a plan change needs to know of a price: a checkout's
// view of it, its billing period and how it bills, and its family of
// switchable prices.
type ChangePrice struct {
	CheckoutPrice
	// UnitAmount is nil for a price that is not a plain per-unit price
	// (tiered, or a custom amount).
	UnitAmount    *int64
	Interval      string // day, week, month or year; "" for one-time
	IntervalCount int64
	Metered       bool
	// Family is the price's family of switchable prices, "" when it is in none.
	Family string
	// Plan is the name of the price's product (else its nickname).
	Plan string
}

const changePricesSQL = `
	SELECT p.id, coalesce(p.lookup_key, ''), p.product_id, p.active, coalesce(pr.active, false),
		p.currency, p.type,` + priceTermsSQL + `,
		CASE WHEN coalesce(p.data->>'billing_scheme', 'per_unit') = 'per_unit'
			AND coalesce(p.data->'transform_quantity', 'null'::jsonb) = 'null'::jsonb THEN p.unit_amount END,
		coalesce(p.recurring_interval, ''), coalesce(p.recurring_interval_count, 1),
		coalesce(p.data->'recurring'->>'usage_type', 'licensed') = 'metered',
		coalesce(sw.family, ''), coalesce(nullif(pr.name, ''), p.nickname, '')
	FROM payments.prices p LEFT JOIN payments.products pr ON pr.id = p.product_id AND pr.env = p.env` + quantityBoundsSQL + `
	LEFT JOIN payments.switchable_prices sw ON sw.price_id = p.id AND sw.env = p.env
	WHERE (p.id = ANY($2) OR p.lookup_key = ANY($3)) AND p.env = $1`

// ChangePrices returns the prices of env named by ids or lookup keys, for
// a plan change (one round trip).
func (s *Store) ChangePrices(ctx context.Context, env vocab.Env, ids, lookupKeys []string) ([]ChangePrice, error) {
	rows, err := s.pool.Query(ctx, changePricesSQL, env, ids, lookupKeys)
	if err != nil {
		return nil, fmt.Errorf("read prices: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ChangePrice, error) {
		var p ChangePrice
		err := r.Scan(&p.ID, &p.LookupKey, &p.ProductID, &p.Active, &p.ProductActive, &p.Currency, &p.Type,
			&p.TrialPeriodDays, &p.AllowPromotionCodes, &p.AutomaticTax, &p.MinQuantity, &p.MaxQuantity,
			&p.UnitAmount, &p.Interval, &p.IntervalCount, &p.Metered, &p.Family, &p.Plan)
		return p, err
	})
}

// PriceEnvironments returns the environments other than env that have a
// price of each id: a refusal says a test price was sent to live.
func (s *Store) PriceEnvironments(ctx context.Context, env vocab.Env, ids []string) (map[string]vocab.Env, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, env FROM payments.prices WHERE id = ANY($1) AND env <> $2`, ids, env)
	if err != nil {
		return nil, fmt.Errorf("read price environments: %w", err)
	}
	out := map[string]vocab.Env{}
	var id string
	var e vocab.Env
	_, err = pgx.ForEachRow(rows, []any{&id, &e}, func() error { out[id] = e; return nil })
	return out, err
}

// SubscriptionOwner is who a mirrored subscription bills.
type SubscriptionOwner struct {
	CustomerID, SubjectType, SubjectID string
}

// SubscriptionSubject returns who subscription id of env bills: the subject
// its customer is mapped to, else the subject the subscription carries;
// ErrNotFound when billwire has not mirrored it or it names no subject.
func (s *Store) SubscriptionSubject(ctx context.Context, env vocab.Env, id string) (*SubscriptionOwner, error) {
	var o SubscriptionOwner
	err := s.pool.QueryRow(ctx, `
		SELECT s.customer_id, coalesce(m.subject_type, s.subject_type, ''), coalesce(m.subject_id, s.subject_id, '')
		FROM payments.subscriptions s
		LEFT JOIN payments.customer_mappings m ON m.customer_id = s.customer_id AND m.env = s.env
		WHERE s.id = $2 AND s.env = $1`, env, id).Scan(&o.CustomerID, &o.SubjectType, &o.SubjectID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (o.SubjectID == "" || o.CustomerID == "")) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read subscription owner: %w", err)
	}
	return &o, nil
}

// NewChange is a change, cancel or resume of a subscription about to be
// sent to Stripe.
type NewChange struct {
	Env            vocab.Env
	SubscriptionID string
	Kind           string // change, cancel or resume
	Requester      string
	IdempotencyKey string // "" for none
	RequestHash    string
}

// ChangeStart is BeginSubscriptionChange's answer: the row to finish, or
// the stored answer of an earlier call with the same idempotency key.
type ChangeStart struct {
	ID        int64
	CreatedAt time.Time
	Answer    json.RawMessage // set: replay it
}

// Refusals of BeginSubscriptionChange.
var (
	// ErrChangeInProgress: another change of the subscription is in flight.
	ErrChangeInProgress = errors.New("another change of the subscription is in flight")
	// ErrIdempotencyConflict: the key was used for a different request.
	ErrIdempotencyConflict = errors.New("the idempotency key was used for a different request")
)

// changeTakeover is how long a change may stay in flight before another
// call may take its row over (the process that sent it crashed).
const changeTakeover = 2 * time.Minute

// BeginSubscriptionChange records c as in flight, before Stripe is called.
// A finished change with the same requester and idempotency key returns
// its answer (ErrIdempotencyConflict for another request hash); a change
// of the same subscription in flight is ErrChangeInProgress, unless it has
// been for changeTakeover, when its row is taken over.
func (s *Store) BeginSubscriptionChange(ctx context.Context, c NewChange) (*ChangeStart, error) {
	var key *string
	if c.IdempotencyKey != "" {
		key = &c.IdempotencyKey
	}
	var (
		outcome string
		id      *int64
		created *time.Time
		out     ChangeStart
	)
	err := s.pool.QueryRow(ctx, `SELECT * FROM payments.begin_subscription_change($1, $2, $3, $4, $5, $6, $7)`,
		c.Env, c.SubscriptionID, c.Kind, c.Requester, key, c.RequestHash, changeTakeover).Scan(&outcome, &id, &created, &out.Answer)
	if err != nil {
		return nil, fmt.Errorf("record subscription change: %w", err)
	}
	switch outcome {
	case "conflict":
		return nil, ErrIdempotencyConflict
	case "in_progress":
		return nil, ErrChangeInProgress
	}
	out.ID, out.CreatedAt = *id, *created
	return &out, nil
}

// FinishSubscriptionChange ends change id: with the answer to give a
// repeat of its idempotency key, or, when answer is nil (Stripe refused or
// failed), by deleting its row so that nothing of it is left.
func (s *Store) FinishSubscriptionChange(ctx context.Context, id int64, answer json.RawMessage) error {
	if _, err := s.pool.Exec(ctx, `SELECT payments.finish_subscription_change($1, $2)`, id, answer); err != nil {
		return fmt.Errorf("finish subscription change: %w", err)
	}
	return nil
}

// SwitchableFamily is one family of switchable prices.
type SwitchableFamily struct {
	Family string   `json:"family"`
	Prices []string `json:"prices"`
}

// SetSwitchablePrices replaces family's prices in env with prices, in
// order; no prices removes the family. A price of another family moves to
// this one.
func (s *Store) SetSwitchablePrices(ctx context.Context, env vocab.Env, family string, prices []string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM payments.switchable_prices WHERE env = $1 AND (family = $2 OR price_id = ANY($3))`,
			env, family, prices); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO payments.switchable_prices (env, family, price_id, position)
			SELECT $1, $2, p, n FROM unnest($3::text[]) WITH ORDINALITY AS u(p, n)`, env, family, prices)
		return err
	})
	if err != nil {
		return fmt.Errorf("set switchable prices: %w", err)
	}
	return nil
}

// SwitchablePrices lists env's families of switchable prices by name.
func (s *Store) SwitchablePrices(ctx context.Context, env vocab.Env) ([]SwitchableFamily, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT family, array_agg(price_id ORDER BY position) FROM payments.switchable_prices
		WHERE env = $1 GROUP BY family ORDER BY family`, env)
	if err != nil {
		return nil, fmt.Errorf("read switchable prices: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SwitchableFamily, error) {
		var f SwitchableFamily
		err := r.Scan(&f.Family, &f.Prices)
		return f, err
	})
}
