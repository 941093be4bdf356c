package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// stateTables are the mirrored objects whose state an event replaces whole,
// by Stripe object type: two events about one of them in the same second
// cannot be ordered by their payload (see the claims' tie).
var stateTables = map[string]struct{ table, key string }{
	"customer":         {"payments.customers", "id"},
	"product":          {"payments.products", "id"},
	"price":            {"payments.prices", "id"},
	"subscription":     {"payments.subscriptions", "id"},
	"checkout.session": {"payments.checkout_sessions", "stripe_id"},
	"invoice":          {"payments.invoices", "id"},
}

// ReplacesState reports whether events about objects of Stripe type
// objectType replace the stored state whole.
func ReplacesState(objectType string) bool { _, ok := stateTables[objectType]; return ok }

// EventClaim is an event to record in the ledger (payments.webhook_events).
type EventClaim struct {
	Env                              vocab.Env
	ID, Type                         string
	Created                          time.Time
	APIVersion, ObjectType, ObjectID string
	Status, Source                   string
	// Payload is what the ledger keeps (nil: nothing).
	Payload json.RawMessage
	// Force claims an event recorded before (a replay).
	Force bool
	// CheckTie asks, for an object whose state the event replaces, whether
	// the stored state is from the same second (At): then the event is not
	// claimed. Object is the event's object, which ClaimEvent compares with
	// the stored one.
	CheckTie bool
	At       time.Time
	Object   json.RawMessage
}

// claimSQL records an event in the ledger unless it is there already (a
// failed one is claimed again; force, for replays, claims any). For objects
// whose state an event replaces whole, it first asks whether the stored
// object is from the same second: then nothing is claimed. It returns (tie,
// claimed). With precise, a tie also needs the stored data to differ from
// the event's ($13): the caller then fetches the object from Stripe.
// Without it (the batch path) a possible tie is handed to the one-event
// path, which asks precisely: comparing needs the object parsed as jsonb,
// which a batch should not pay for every event. The CASE keeps the planner
// from comparing whole documents before the cheap time test.
func claimSQL(objectType string, precise bool) string {
	tie, newer := "false", "false"
	if st, ok := stateTables[objectType]; ok {
		same := "true"
		if precise {
			same = "data IS DISTINCT FROM $13::jsonb"
		}
		tie = `$11 AND NOT EXISTS (SELECT 1 FROM payments.webhook_events WHERE id = $2 AND env = $1 AND status <> 'failed' AND NOT $10)
			AND EXISTS (SELECT 1 FROM ` + st.table + ` WHERE ` + st.key + ` = $6 AND env = $1
				AND CASE WHEN date_trunc('second', source_at) = $12 THEN ` + same + ` ELSE false END)`
		newer = `$11 AND EXISTS (SELECT 1 FROM ` + st.table + ` WHERE ` + st.key + ` = $6 AND env = $1 AND date_trunc('second', source_at) > $12)`
	}
	return `WITH tie AS (SELECT ` + tie + ` AS t, ` + newer + ` AS n),
		ins AS (
			INSERT INTO payments.webhook_events AS w (env, id, type, created, api_version, object_id, status, attempts, source, processed_at, payload)
			SELECT $1, $2, $3, $4, $5, $6, CASE WHEN (SELECT n FROM tie) AND $7 = 'processed' THEN 'stale' ELSE $7 END, 1, $8, now(), $9
			WHERE NOT (SELECT t FROM tie)
			ON CONFLICT (id, env) DO UPDATE SET status = EXCLUDED.status, attempts = w.attempts + 1, last_error = NULL,
				processed_at = now(), source = EXCLUDED.source
			WHERE w.status = 'failed' OR $10
			RETURNING 1)
		SELECT (SELECT t FROM tie), EXISTS (SELECT 1 FROM ins), (SELECT n FROM tie)`
}

// batchClaimSQL claims a batch of events in the ledger, one row per event
// in the arrays (env, id, type, created, api_version, object_id, status,
// source, payload, tie, at), and answers, per event in order: whether it was
// recorded before (dup: processed, ignored or parked), whether the stored
// state of its object is from the same second (same, when tie names the
// object type), and whether this statement claimed it. An event whose
// object is from the same second is not claimed: the one-event path decides
// it precisely (claimSQL). Failed events are claimed again.
var batchClaimSQL = func() string {
	var cases, newer strings.Builder
	for _, typ := range slices.Sorted(maps.Keys(stateTables)) {
		st := stateTables[typ]
		fmt.Fprintf(&cases, "\n\t\t\t\tWHEN '%s' THEN EXISTS (SELECT 1 FROM %s x WHERE x.%s = u.object_id AND x.env = u.env AND date_trunc('second', x.source_at) = u.at)",
			typ, st.table, st.key)
		fmt.Fprintf(&newer, "\n\t\t\t\tWHEN '%s' THEN EXISTS (SELECT 1 FROM %s x WHERE x.%s = u.object_id AND x.env = u.env AND date_trunc('second', x.source_at) > u.at)",
			typ, st.table, st.key)
	}
	return `
	WITH t AS MATERIALIZED (
		SELECT u.*,
			EXISTS (SELECT 1 FROM payments.webhook_events w WHERE w.id = u.id AND w.env = u.env AND w.status <> 'failed') AS dup,
			coalesce(CASE u.tie` + cases.String() + `
				END, false) AS same,
			coalesce(CASE u.tie` + newer.String() + `
				END, false) AS newer
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::json[], $10::text[], $11::timestamptz[])
			WITH ORDINALITY AS u(env, id, type, created, api_version, object_id, status, source, payload, tie, at, n)),
	ins AS (
		INSERT INTO payments.webhook_events AS w (env, id, type, created, api_version, object_id, status, attempts, source, processed_at, payload)
		SELECT env, id, type, created, api_version, object_id, CASE WHEN newer AND status = 'processed' THEN 'stale' ELSE status END,
			1, source, now(), payload FROM t WHERE NOT dup AND NOT same
		ON CONFLICT (id, env) DO UPDATE SET status = EXCLUDED.status, attempts = w.attempts + 1, last_error = NULL,
			processed_at = now(), source = EXCLUDED.source
		WHERE w.status = 'failed'
		RETURNING w.id, w.env)
	SELECT t.dup, t.same, EXISTS (SELECT 1 FROM ins WHERE ins.id = t.id AND ins.env = t.env), t.newer FROM t ORDER BY t.n`
}()

// ClaimEvent records c in the ledger in tx unless it is there already (a
// failed one is claimed again; Force claims any), with claimSQL's precise
// tie: tie says the stored object is from the same second and differs (the
// caller then fetches it from Stripe); claimed says c is this
// transaction's to project.
// stale says the stored state of its object is newer than the event: the
// ledger records the event as stale, and the object does not change.
func ClaimEvent(ctx context.Context, tx pgx.Tx, c EventClaim) (tie, claimed, stale bool, err error) {
	args := []any{c.Env, c.ID, c.Type, c.Created, text(c.APIVersion), text(c.ObjectID), c.Status, c.Source, c.Payload, c.Force}
	if ReplacesState(c.ObjectType) {
		args = append(args, c.CheckTie, c.At, c.Object)
	}
	err = tx.QueryRow(ctx, claimSQL(c.ObjectType, true), args...).Scan(&tie, &claimed, &stale)
	return tie, claimed, stale && claimed && c.Status == "processed", err
}

// MarkResolvedBy records how an event's object was resolved (fetch: its
// state was asked of Stripe, the event's own being tied with another of
// the same second).
func MarkResolvedBy(ctx context.Context, db Execer, env vocab.Env, id, how string) error {
	_, err := db.Exec(ctx, `UPDATE payments.webhook_events SET resolved_by = $3 WHERE id = $2 AND env = $1`, env, id, how)
	return err
}

// QueueClaims adds batchClaimSQL for claims (none Force) to b; it answers
// one row (dup, same, claimed, newer) per claim, in their order: newer says
// the stored state of the object is newer than the event (recorded stale).
func QueueClaims(b *pgx.Batch, claims []EventClaim) {
	n := len(claims)
	var (
		env, id, typ, status, source = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		created, at                  = make([]time.Time, n), make([]time.Time, n)
		apiVersion, objectID, tie    = make(texts, n), make(texts, n), make(texts, n)
		payload                      = make(jsons, n)
	)
	for j := range claims {
		c := &claims[j]
		env[j], id[j], typ[j], status[j], source[j] = string(c.Env), c.ID, c.Type, c.Status, c.Source
		created[j], at[j], apiVersion[j], objectID[j], payload[j] = c.Created, c.At, text(c.APIVersion), text(c.ObjectID), c.Payload
		if c.CheckTie && ReplacesState(c.ObjectType) {
			tie[j] = &c.ObjectType
		}
	}
	b.Queue(batchClaimSQL, env, id, typ, created, apiVersion, objectID, status, source, payload, tie, at)
}

// ClaimStatements are the one-event claim statements, by name (the batch
// claim is among ProjectionStatements).
func ClaimStatements() map[string]string {
	m := map[string]string{"claim event": claimSQL("event", true)}
	for typ := range stateTables {
		m["claim "+typ] = claimSQL(typ, true)
	}
	return m
}

// EventFailure is a failed attempt to project an event.
type EventFailure struct {
	Env                  vocab.Env
	ID, Type             string
	Created              time.Time
	APIVersion, ObjectID string
	Error, Source        string
	Payload              json.RawMessage
	// MaxAttempts park the event; Force (a replay) records the failure of
	// an event in any state, and a parked one stays parked.
	MaxAttempts int
	Force       bool
}

// ErrNotFailed means RecordEventFailure found the event processed meanwhile
// (by another receiver): nothing was recorded.
var ErrNotFailed = errors.New("the event was processed meanwhile")

// RecordEventFailure counts a failed attempt in the ledger, in tx (the
// projection itself was rolled back), and parks the event after
// MaxAttempts. It returns the event's status and attempts.
func RecordEventFailure(ctx context.Context, tx pgx.Tx, f EventFailure) (status string, attempts int, err error) {
	err = tx.QueryRow(ctx, `
		INSERT INTO payments.webhook_events AS w (env, id, type, created, api_version, object_id, status, attempts, last_error, source, payload)
		VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $10 <= 1 THEN 'parked' ELSE 'failed' END, 1, $7, $8, $9)
		ON CONFLICT (env, id) DO UPDATE SET attempts = w.attempts + 1, last_error = EXCLUDED.last_error,
			payload = coalesce(w.payload, EXCLUDED.payload), -- a pruned event replayed from Stripe's copy keeps that while it fails
			status = CASE WHEN w.attempts + 1 >= $10 OR ($11 AND w.status = 'parked') THEN 'parked' ELSE 'failed' END
		WHERE w.status = 'failed' OR $11
		RETURNING w.status, w.attempts`,
		f.Env, f.ID, f.Type, f.Created, text(f.APIVersion), text(f.ObjectID), f.Error, f.Source, f.Payload,
		f.MaxAttempts, f.Force).Scan(&status, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, ErrNotFailed
	}
	if err != nil {
		return "", 0, fmt.Errorf("record the failure of event %s: %w", f.ID, err)
	}
	return status, attempts, nil
}
