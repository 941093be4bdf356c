package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
)

// PriceMapping links a test price to the live price promote_catalog copied
// it to.
type PriceMapping struct {
	TestPriceID   string    `json:"test_price_id"`
	LivePriceID   string    `json:"live_price_id"`
	TestProductID string    `json:"test_product_id"`
	LiveProductID string    `json:"live_product_id"`
	LookupKey     *string   `json:"lookup_key,omitempty"`
	PromotedAt    time.Time `json:"promoted_at"`
}

// PutPriceMapping records (or re-points) the live copy of a test price.
func (s *Store) PutPriceMapping(ctx context.Context, m PriceMapping) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO payments.price_map (test_price_id, live_price_id, test_product_id, live_product_id, lookup_key)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (test_price_id) DO UPDATE SET live_price_id = EXCLUDED.live_price_id,
			test_product_id = EXCLUDED.test_product_id, live_product_id = EXCLUDED.live_product_id,
			lookup_key = EXCLUDED.lookup_key,
			promoted_at = CASE WHEN payments.price_map.live_price_id = EXCLUDED.live_price_id
				THEN payments.price_map.promoted_at ELSE now() END`,
		m.TestPriceID, m.LivePriceID, m.TestProductID, m.LiveProductID, m.LookupKey)
	if err != nil {
		return fmt.Errorf("record price mapping %s → %s: %w", m.TestPriceID, m.LivePriceID, err)
	}
	return nil
}

// PriceMap returns every test→live price mapping, by lookup key then test id.
func (s *Store) PriceMap(ctx context.Context) ([]PriceMapping, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT test_price_id, live_price_id, test_product_id, live_product_id, lookup_key, promoted_at
		FROM payments.price_map ORDER BY lookup_key NULLS LAST, test_price_id`)
	if err != nil {
		return nil, fmt.Errorf("read price map: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PriceMapping])
	if err != nil {
		return nil, fmt.Errorf("read price map: %w", err)
	}
	return out, nil
}

// LookupKeyPrice returns the id of env's active price with lookupKey, or
// ErrNotFound. Stripe keeps lookup keys unique per mode; when the mirror
// still holds an older price with the key (the key was transferred and the
// old price's update has not arrived), the newest wins.
func (s *Store) LookupKeyPrice(ctx context.Context, env vocab.Env, lookupKey string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `
		SELECT id FROM payments.prices
		WHERE lookup_key = $2 AND env = $1 AND active
		ORDER BY source_at DESC, created DESC, id LIMIT 1`, env, lookupKey).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("resolve lookup key %q in %s: %w", lookupKey, env, err)
	}
	return id, nil
}

// LivePrices maps each of testPriceIDs that promote_catalog copied to its
// live price id.
func (s *Store) LivePrices(ctx context.Context, testPriceIDs []string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT test_price_id, live_price_id FROM payments.price_map WHERE test_price_id = ANY($1)`, testPriceIDs)
	if err != nil {
		return nil, fmt.Errorf("read the price map: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var t, l string
		if err := rows.Scan(&t, &l); err != nil {
			return nil, err
		}
		out[t] = l
	}
	return out, rows.Err()
}
