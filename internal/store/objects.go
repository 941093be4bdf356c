package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
)

// ts turns a Stripe unix-seconds field into a timestamptz (null stays null).
const ts = `to_timestamp(nullif(o->>'%s', '')::bigint)`

func tsf(field string) string { return fmt.Sprintf(ts, field) }

// The upserts read their rows from a relation named input with columns env
// (text), o (the full Stripe object, jsonb) and at (when it was fetched or
// announced, timestamptz), and skip rows already holding newer data. The
// subscriptions upsert also replaces the items of the subscriptions it
// changed with the items in their payloads, in the same statement.
var upsertSQL = map[vocab.Kind]string{
	vocab.Products: `
		INSERT INTO payments.products AS t (env, id, name, description, active, metadata, livemode, created, data, source_at)
		SELECT env, o->>'id', coalesce(o->>'name', ''), o->>'description', coalesce((o->>'active')::boolean, true),
			coalesce(o->'metadata', '{}'), coalesce((o->>'livemode')::boolean, false), ` + tsf("created") + `, o, at
		FROM input
		ON CONFLICT (env, id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
			active = EXCLUDED.active, metadata = EXCLUDED.metadata, livemode = EXCLUDED.livemode,
			created = EXCLUDED.created, data = EXCLUDED.data, source_at = EXCLUDED.source_at, synced_at = now()
		WHERE t.source_at <= EXCLUDED.source_at`,
	vocab.Prices: `
		INSERT INTO payments.prices AS t (env, id, product_id, active, currency, unit_amount, type, recurring_interval,
			recurring_interval_count, lookup_key, nickname, metadata, livemode, created, data, source_at)
		SELECT env, o->>'id', CASE jsonb_typeof(o->'product') WHEN 'object' THEN o->'product'->>'id' ELSE o->>'product' END,
			coalesce((o->>'active')::boolean, true), o->>'currency', (o->>'unit_amount')::bigint, coalesce(o->>'type', 'one_time'),
			o->'recurring'->>'interval', (o->'recurring'->>'interval_count')::integer, o->>'lookup_key', o->>'nickname',
			coalesce(o->'metadata', '{}'), coalesce((o->>'livemode')::boolean, false), ` + tsf("created") + `, o, at
		FROM input
		ON CONFLICT (env, id) DO UPDATE SET product_id = EXCLUDED.product_id, active = EXCLUDED.active,
			currency = EXCLUDED.currency, unit_amount = EXCLUDED.unit_amount, type = EXCLUDED.type,
			recurring_interval = EXCLUDED.recurring_interval, recurring_interval_count = EXCLUDED.recurring_interval_count,
			lookup_key = EXCLUDED.lookup_key, nickname = EXCLUDED.nickname, metadata = EXCLUDED.metadata,
			livemode = EXCLUDED.livemode, created = EXCLUDED.created, data = EXCLUDED.data,
			source_at = EXCLUDED.source_at, synced_at = now()
		WHERE t.source_at <= EXCLUDED.source_at`,
	vocab.Customers: `
		INSERT INTO payments.customers AS t (env, id, email, name, description, metadata, livemode, created, deleted, data, source_at)
		SELECT env, o->>'id', o->>'email', o->>'name', o->>'description', coalesce(o->'metadata', '{}'),
			coalesce((o->>'livemode')::boolean, false), coalesce(` + tsf("created") + `, now()),
			coalesce((o->>'deleted')::boolean, false), o, at
		FROM input
		ON CONFLICT (env, id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name,
			description = EXCLUDED.description, metadata = EXCLUDED.metadata, livemode = EXCLUDED.livemode,
			created = EXCLUDED.created, deleted = EXCLUDED.deleted, data = EXCLUDED.data,
			source_at = EXCLUDED.source_at, synced_at = now()
		WHERE t.source_at <= EXCLUDED.source_at`,
	// Items already stored as the payload says are left alone: an upsert
	// that changes nothing still locks (and logs) the row.
	vocab.Subscriptions: `,
		up AS (
		INSERT INTO payments.subscriptions AS t (env, id, customer_id, status, currency, current_period_start,
			current_period_end, cancel_at_period_end, canceled_at, ended_at, trial_end, metadata, livemode, created, data, source_at,
			subject_type, subject_id)
		SELECT input.env, o->>'id', c.id, o->>'status', o->>'currency',
			to_timestamp(coalesce(o->>'current_period_start', o->'items'->'data'->0->>'current_period_start')::bigint),
			to_timestamp(coalesce(o->>'current_period_end', o->'items'->'data'->0->>'current_period_end')::bigint),
			coalesce((o->>'cancel_at_period_end')::boolean, false), ` + tsf("canceled_at") + `, ` + tsf("ended_at") + `,
			` + tsf("trial_end") + `, coalesce(o->'metadata', '{}'), coalesce((o->>'livemode')::boolean, false),
			` + tsf("created") + `, o, at,
			coalesce(o->'metadata'->>'billwire_subject_type', m.subject_type),
			coalesce(o->'metadata'->>'billwire_subject_id', m.subject_id)
		FROM input
		CROSS JOIN LATERAL (SELECT CASE jsonb_typeof(o->'customer') WHEN 'object' THEN o->'customer'->>'id' ELSE o->>'customer' END AS id) c
		LEFT JOIN payments.customer_mappings m ON m.customer_id = c.id AND m.env = input.env
		ON CONFLICT (env, id) DO UPDATE SET customer_id = EXCLUDED.customer_id, status = EXCLUDED.status,
			subject_type = coalesce(EXCLUDED.subject_type, t.subject_type), subject_id = coalesce(EXCLUDED.subject_id, t.subject_id),
			currency = EXCLUDED.currency, current_period_start = EXCLUDED.current_period_start,
			current_period_end = EXCLUDED.current_period_end, cancel_at_period_end = EXCLUDED.cancel_at_period_end,
			canceled_at = EXCLUDED.canceled_at, ended_at = EXCLUDED.ended_at, trial_end = EXCLUDED.trial_end,
			metadata = EXCLUDED.metadata, livemode = EXCLUDED.livemode, created = EXCLUDED.created,
			data = EXCLUDED.data, source_at = EXCLUDED.source_at, synced_at = now()
		WHERE t.source_at <= EXCLUDED.source_at
		RETURNING t.id, t.env),
		items AS (
			SELECT input.env, input.o->>'id' AS sid, i->>'id' AS id,
				CASE jsonb_typeof(i->'price') WHEN 'object' THEN i->'price'->>'id' ELSE i->>'price' END AS price_id,
				coalesce((i->>'quantity')::bigint, 1) AS quantity
			FROM input JOIN up ON up.id = input.o->>'id' AND up.env = input.env, jsonb_array_elements(input.o->'items'->'data') i
		), del AS (
			DELETE FROM payments.subscription_items si USING up
			WHERE si.subscription_id = up.id AND si.env = up.env
			  AND NOT EXISTS (SELECT 1 FROM items WHERE items.id = si.id AND items.env = si.env)
		)
		INSERT INTO payments.subscription_items AS t (env, id, subscription_id, price_id, quantity)
		SELECT env, id, sid, price_id, quantity
		FROM items
		WHERE NOT EXISTS (SELECT 1 FROM payments.subscription_items s WHERE s.id = items.id AND s.env = items.env
			AND s.subscription_id = items.sid AND s.price_id = items.price_id AND s.quantity = items.quantity)
		ON CONFLICT (env, id) DO UPDATE SET subscription_id = EXCLUDED.subscription_id,
			price_id = EXCLUDED.price_id, quantity = EXCLUDED.quantity`,
}

// syncInput is the input of Upsert: the objects of one environment ($1) as
// a jsonb array ($2), all as of $3.
const syncInput = `SELECT $1::text AS env, o, $3::timestamptz AS at FROM jsonb_array_elements($2::jsonb) o`

// UpsertSQL is the statement that stores objects of kind, reading its rows
// from the query input, whose columns are env (text), o (the full Stripe
// object, jsonb) and at (the time of the event or fetch it comes from,
// timestamptz). Rows holding data newer than at are left alone.
func UpsertSQL(kind vocab.Kind, input string) string {
	switch kind {
	case vocab.Invoices:
		return invoiceUpsert(input)
	case vocab.Subscriptions:
		// The subscriptions statement reads its input more than once.
		return `WITH input AS MATERIALIZED (` + input + `)` + upsertSQL[kind]
	}
	return `WITH input AS (` + input + `)` + upsertSQL[kind]
}

// Upsert stores full Stripe objects of one kind, as of sourceAt, in one
// transaction. Rows holding data newer than sourceAt are left alone. It
// returns how many objects it was given.
func (s *Store) Upsert(ctx context.Context, env vocab.Env, kind vocab.Kind, objects []json.RawMessage, sourceAt time.Time) (int, error) {
	if len(objects) == 0 {
		return 0, nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return UpsertTx(ctx, tx, env, kind, objects, sourceAt)
	})
	if err != nil {
		return 0, fmt.Errorf("store %d %s: %w", len(objects), kind, err)
	}
	return len(objects), nil
}

// UpsertTx is Upsert inside the caller's transaction.
func UpsertTx(ctx context.Context, tx pgx.Tx, env vocab.Env, kind vocab.Kind, objects []json.RawMessage, sourceAt time.Time) error {
	_, err := tx.Exec(ctx, syncQueries[kind], env, joinJSON(objects), sourceAt)
	return err
}

var syncQueries = func() map[vocab.Kind]string {
	m := map[vocab.Kind]string{}
	for _, k := range vocab.Kinds {
		m[k] = UpsertSQL(k, syncInput)
	}
	return m
}()

func joinJSON(objects []json.RawMessage) string {
	n := 2
	for _, o := range objects {
		n += len(o) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, o := range objects {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, o...)
	}
	return string(append(b, ']'))
}

// MissingProducts returns those of ids that are not stored for env.
func (s *Store) MissingProducts(ctx context.Context, env vocab.Env, ids []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT u.pid FROM unnest($2::text[]) AS u(pid)
		WHERE NOT EXISTS (SELECT 1 FROM payments.products p WHERE p.env = $1 AND p.id = u.pid)`, env, ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Counts returns how many objects of each kind env holds.
func (s *Store) Counts(ctx context.Context, env vocab.Env) (map[vocab.Kind]int64, error) {
	var p, pr, c, sub int64
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM payments.products WHERE env = $1),
		(SELECT count(*) FROM payments.prices WHERE env = $1),
		(SELECT count(*) FROM payments.customers WHERE env = $1 AND NOT deleted),
		(SELECT count(*) FROM payments.subscriptions WHERE env = $1)`, env).Scan(&p, &pr, &c, &sub)
	if err != nil {
		return nil, err
	}
	return map[vocab.Kind]int64{vocab.Products: p, vocab.Prices: pr, vocab.Customers: c, vocab.Subscriptions: sub}, nil
}

// listingMargin is how long before a listing began billwire must have first
// stored an object (its first_seen_at) for its absence from the listing to
// count. An object created after the listing began is rightly missing from
// it. Stripe's created is not used: Stripe's clock need not agree with this
// one, and stripe-mock dates every object 2009.
const listingMargin = 10 * time.Minute

// markUnlistedSQL marks what Stripe deletes (customers, products) as
// deleted, the way the deletion events do: a customer deleted, a product
// inactive. Simulated customers are never in Stripe's lists, and are not
// deleted for it.
var markUnlistedSQL = map[vocab.Kind]string{
	vocab.Customers: `
		UPDATE payments.customers SET deleted = true, data = data || '{"deleted": true}', source_at = $2, synced_at = now()
		WHERE env = $1 AND NOT deleted AND source_at < $2
			AND first_seen_at < now() - make_interval(secs => $3)
			AND NOT metadata ? '` + vocab.MetaSimulated + `'
		RETURNING id`,
	vocab.Products: `
		UPDATE payments.products SET active = false, data = data || '{"active": false}', source_at = $2, synced_at = now()
		WHERE env = $1 AND active AND source_at < $2
			AND first_seen_at < now() - make_interval(secs => $3)
		RETURNING id`,
}

// DeletedInStripe reports whether Stripe's API deletes objects of kind
// (customers, products); prices are archived and subscriptions canceled.
func DeletedInStripe(kind vocab.Kind) bool {
	_, ok := markUnlistedSQL[kind]
	return ok
}

// MarkUnlisted marks the customers or products that a complete listing from
// Stripe, begun at listedAt, did not return: deleted in Stripe without an
// event that reached billwire. Every object a listing returns is stored as
// of the time its page was fetched, or already holds newer data, so its
// source_at is at least listedAt; what is older was not listed. Objects
// billwire first stored less than listingMargin before the listing began
// are left alone. The margin is counted back from the database's now() by
// the time elapsed since listedAt, so the process's and the database's
// clocks need not agree. It returns the ids it marked.
func (s *Store) MarkUnlisted(ctx context.Context, env vocab.Env, kind vocab.Kind, listedAt time.Time) ([]string, error) {
	q, ok := markUnlistedSQL[kind]
	if !ok {
		return nil, fmt.Errorf("%s are not deleted in Stripe", kind)
	}
	age := (time.Since(listedAt) + listingMargin).Seconds()
	rows, err := s.pool.Query(ctx, q, env, listedAt, age)
	if err != nil {
		return nil, fmt.Errorf("mark unlisted %s: %w", kind, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
