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

// Meter is a Stripe billing meter as billwire mirrors it.
type Meter struct {
	ID          string    `json:"id"`
	EventName   string    `json:"event_name"`
	DisplayName string    `json:"display_name"`
	Aggregation string    `json:"aggregation"`
	ValueKey    string    `json:"value_key"`
	CustomerKey string    `json:"customer_key"`
	Status      string    `json:"status"`
	Created     time.Time `json:"created"`
}

// upsertMetersSQL stores meters from a jsonb array ($2) for env ($1) as of
// $3, leaving rows that hold newer data alone.
const upsertMetersSQL = `
	INSERT INTO payments.meters AS t (env, id, event_name, display_name, aggregation, value_key, customer_key,
		status, livemode, created, data, source_at)
	SELECT $1::text, o->>'id', coalesce(o->>'event_name', ''), coalesce(o->>'display_name', ''),
		coalesce(o->'default_aggregation'->>'formula', 'sum'), coalesce(o->'value_settings'->>'event_payload_key', 'value'),
		coalesce(o->'customer_mapping'->>'event_payload_key', 'stripe_customer_id'), coalesce(o->>'status', 'active'),
		coalesce((o->>'livemode')::boolean, false), coalesce(to_timestamp(nullif(o->>'created', '')::bigint), now()), o, $3::timestamptz
	FROM jsonb_array_elements($2::jsonb) o
	ON CONFLICT (env, id) DO UPDATE SET event_name = EXCLUDED.event_name, display_name = EXCLUDED.display_name,
		aggregation = EXCLUDED.aggregation, value_key = EXCLUDED.value_key, customer_key = EXCLUDED.customer_key,
		status = EXCLUDED.status, livemode = EXCLUDED.livemode, created = EXCLUDED.created, data = EXCLUDED.data,
		source_at = EXCLUDED.source_at, synced_at = now()
	WHERE t.source_at <= EXCLUDED.source_at`

// UpsertMeters stores meters as Stripe sent them, as of sourceAt.
func (s *Store) UpsertMeters(ctx context.Context, env vocab.Env, meters []json.RawMessage, sourceAt time.Time) error {
	if len(meters) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, upsertMetersSQL, env, joinJSON(meters), sourceAt); err != nil {
		return fmt.Errorf("store %d meters: %w", len(meters), err)
	}
	return nil
}

const meterColumns = `id, event_name, display_name, aggregation, value_key, customer_key, status, created`

// ListMeters returns env's meters, active first, then by event name.
func (s *Store) ListMeters(ctx context.Context, env vocab.Env) ([]Meter, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+meterColumns+` FROM payments.meters WHERE env = $1
		ORDER BY status = 'active' DESC, event_name, id`, env)
	if err != nil {
		return nil, fmt.Errorf("list meters: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Meter])
	if err != nil {
		return nil, fmt.Errorf("list meters: %w", err)
	}
	return out, nil
}

// MeterByID returns env's meter id, or ErrNotFound.
func (s *Store) MeterByID(ctx context.Context, env vocab.Env, id string) (*Meter, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+meterColumns+` FROM payments.meters WHERE env = $1 AND id = $2`, env, id)
	if err != nil {
		return nil, fmt.Errorf("read meter %s: %w", id, err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Meter])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read meter %s: %w", id, err)
	}
	return &m, nil
}
