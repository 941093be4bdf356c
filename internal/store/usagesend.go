package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// UsageBucket is one meter event the sender sends to Stripe.
type UsageBucket struct {
	Identifier     string
	EventName      string
	CustomerID     string
	Value          string
	EventTime      time.Time
	FirstAttemptAt time.Time
}

// waitingSQL moves env's events waiting for a customer whose subject now
// has one back to pending, and fails those still waiting 35 days after
// their timestamp (Stripe takes no older usage).
const waitingSQL = `
	WITH back AS (
		UPDATE payments.usage_events e SET status = 'pending'
		FROM payments.customer_mappings m
		WHERE e.env = $1 AND e.status = 'waiting_for_customer'
		  AND m.env = e.env AND m.subject_type = e.subject_type AND m.subject_id = e.subject_id)
	UPDATE payments.usage_events SET status = 'failed'
	WHERE env = $1 AND status = 'waiting_for_customer' AND event_time < now() - interval '35 days'`

// bucketSQL groups up to $2 of env's unbucketed pending events into
// buckets: per meter, customer and minute for sum meters, one per event
// for count meters; events of subjects without a customer wait. The
// caller holds the env's bucketing lock, so seq is the next free one.
const bucketSQL = `
	WITH ev AS (
		SELECT e.identifier, e.meter_id, e.event_name, e.value, e.event_time, e.subject_type, e.subject_id
		FROM payments.usage_events e
		WHERE e.env = $1 AND e.status = 'pending' AND e.bucket IS NULL
		ORDER BY e.accepted_at LIMIT $2
		FOR UPDATE SKIP LOCKED),
	keyed AS (
		SELECT ev.*, m.customer_id,
			CASE WHEN mt.aggregation = 'count' THEN 'e:' || ev.identifier
				ELSE 's:' || ev.meter_id || ':' || m.customer_id || ':' || extract(epoch FROM date_trunc('minute', ev.event_time))::bigint END AS bkey
		FROM ev
		LEFT JOIN payments.customer_mappings m ON m.env = $1 AND m.subject_type = ev.subject_type AND m.subject_id = ev.subject_id
		LEFT JOIN payments.meters mt ON mt.env = $1 AND mt.id = ev.meter_id),
	waiting AS (
		UPDATE payments.usage_events e SET status = 'waiting_for_customer'
		FROM keyed k WHERE k.customer_id IS NULL AND e.env = $1 AND e.identifier = k.identifier),
	grouped AS (
		SELECT k.bkey, min(k.meter_id) AS meter_id, min(k.event_name) AS event_name, min(k.customer_id) AS customer_id,
			CASE WHEN k.bkey LIKE 'e:%' THEN min(k.event_time) ELSE date_trunc('minute', min(k.event_time)) END AS event_time,
			sum(k.value) AS value,
			coalesce((SELECT max(b.seq) + 1 FROM payments.usage_buckets b WHERE b.env = $1 AND b.bucket_key = k.bkey), 0) AS seq
		FROM keyed k WHERE k.customer_id IS NOT NULL GROUP BY k.bkey),
	ins AS (
		INSERT INTO payments.usage_buckets (env, identifier, bucket_key, seq, meter_id, event_name, customer_id, event_time, value)
		SELECT $1, 'bw_' || substr(encode(sha256(convert_to($1 || ':' || g.bkey, 'UTF8')), 'hex'), 1, 40) || '_' || g.seq,
			g.bkey, g.seq, g.meter_id, g.event_name, g.customer_id, g.event_time, g.value
		FROM grouped g
		RETURNING bucket_key, identifier)
	UPDATE payments.usage_events e SET bucket = ins.identifier
	FROM keyed k JOIN ins ON ins.bucket_key = k.bkey
	WHERE e.env = $1 AND e.identifier = k.identifier`

// BucketUsage groups up to limit of env's pending events into the meter
// events the sender sends, and moves waiting events whose subject got a
// customer back to pending. It returns how many events it bucketed.
func (s *Store) BucketUsage(ctx context.Context, env vocab.Env, limit int) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One bucketing at a time per environment: seq stays unique
		// across replicas.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('billwire_usage_bucketing:' || $1::text))`, env); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, waitingSQL, env); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, bucketSQL, env, limit)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bucket usage: %w", err)
	}
	return n, nil
}

// claimBucketsSQL leases up to $2 of env's due buckets for $3 seconds; a bucket
// leased by another sender, or locked by its claim, is skipped.
const claimBucketsSQL = `
	UPDATE payments.usage_buckets b SET lease_until = now() + make_interval(secs => $3), attempts = b.attempts + 1,
		first_attempt_at = coalesce(b.first_attempt_at, now())
	WHERE (b.env, b.identifier) IN (
		SELECT env, identifier FROM payments.usage_buckets
		WHERE env = $1 AND status = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
		ORDER BY next_attempt_at LIMIT $2
		FOR UPDATE SKIP LOCKED)
	RETURNING b.identifier, b.event_name, b.customer_id, b.value::text, b.event_time, b.first_attempt_at`

// ClaimBuckets leases up to limit of env's due buckets for lease: no other
// sender takes them until it ends.
func (s *Store) ClaimBuckets(ctx context.Context, env vocab.Env, limit int, lease time.Duration) ([]UsageBucket, error) {
	rows, err := s.pool.Query(ctx, claimBucketsSQL, env, limit, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claim usage: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[UsageBucket])
	if err != nil {
		return nil, fmt.Errorf("claim usage: %w", err)
	}
	return out, nil
}

// finishSQL ends a bucket's attempt with status $3 and the reason $4 and
// gives its events the same status.
const finishSQL = `
	WITH b AS (
		UPDATE payments.usage_buckets SET status = $3, lease_until = NULL, last_error = $4,
			sent_at = CASE WHEN $3 = 'sent' THEN now() END
		WHERE env = $1 AND identifier = $2
		RETURNING identifier, meter_id, customer_id, event_time),
	late AS (` + lateSQL + `)
	UPDATE payments.usage_events e SET status = CASE WHEN $3 = 'sent' AND (SELECT late FROM late) THEN 'late' ELSE $3 END
	FROM b WHERE e.env = $1 AND e.bucket = b.identifier`

// lateSQL says whether bucket b (a CTE) is dated before the current period
// of its customer's subscription billing its meter: usage of a period
// already invoiced, which Stripe does not bill.
const lateSQL = `
		SELECT EXISTS (
			SELECT 1 FROM b
			JOIN payments.subscriptions s ON s.env = $1 AND s.customer_id = b.customer_id
			JOIN payments.subscription_items si ON si.env = s.env AND si.subscription_id = s.id
			JOIN payments.prices p ON p.env = si.env AND p.id = si.price_id
			WHERE p.data->'recurring'->>'meter' = b.meter_id AND s.current_period_start > b.event_time
			  AND s.status IN ('active', 'trialing', 'past_due')) AS late`

// FinishBucket records a bucket's outcome (sent, failed or unknown, with
// Stripe's reason) on it and its events; events of a bucket sent but dated
// before the current period of the customer's subscription to its meter
// are late.
func (s *Store) FinishBucket(ctx context.Context, env vocab.Env, identifier, status, reason string) error {
	var r *string
	if reason != "" {
		r = &reason
	}
	if _, err := s.pool.Exec(ctx, finishSQL, env, identifier, status, r); err != nil {
		return fmt.Errorf("finish usage bucket %s: %w", identifier, err)
	}
	return nil
}

// RetryBucket releases a bucket whose send failed for now, to be retried
// after backoff with the same identifier.
func (s *Store) RetryBucket(ctx context.Context, env vocab.Env, identifier, reason string, backoff time.Duration) error {
	_, err := s.pool.Exec(ctx, `UPDATE payments.usage_buckets SET lease_until = NULL, last_error = $3,
		next_attempt_at = now() + make_interval(secs => $4) WHERE env = $1 AND identifier = $2`, env, identifier, reason, backoff.Seconds())
	if err != nil {
		return fmt.Errorf("retry usage bucket %s: %w", identifier, err)
	}
	return nil
}

// PruneUsage deletes sent events and buckets dated before cutoff, at most
// limit of each, and returns how many events it deleted.
func (s *Store) PruneUsage(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM payments.usage_events WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM payments.usage_events WHERE status = 'sent' AND event_time < $1 LIMIT $2))`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("prune usage: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM payments.usage_buckets WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM payments.usage_buckets WHERE status = 'sent' AND event_time < $1 LIMIT $2))`, cutoff, limit); err != nil {
		return 0, fmt.Errorf("prune usage buckets: %w", err)
	}
	return tag.RowsAffected(), nil
}

// UsageSenderStatus is the sender's backlog in one environment.
type UsageSenderStatus struct {
	// Unbucketed counts accepted events not yet grouped into meter events.
	Unbucketed int64 `json:"unbucketed_events"`
	// Pending counts the meter events (buckets) still to send.
	Pending int64 `json:"pending_meter_events"`
	// Waiting counts events whose subject has no Stripe customer yet.
	Waiting int64 `json:"waiting_for_customer_events"`
	// Failed and Unknown count meter events Stripe refused for good, and
	// those whose outcome stayed unknown past Stripe's identifier window.
	Failed  int64 `json:"failed_meter_events"`
	Unknown int64 `json:"unknown_meter_events"`
	// OldestPendingSeconds is the age of the oldest usage not yet sent.
	OldestPendingSeconds *float64 `json:"oldest_pending_seconds,omitempty"`
	// Reconciliation is the newest day compared with Stripe's summaries.
	Reconciliation *Reconciliation `json:"reconciliation,omitempty"`
}

// UsageSender reports env's usage backlog, or nil when env has none.
func (s *Store) UsageSender(ctx context.Context, env vocab.Env) (*UsageSenderStatus, error) {
	var u UsageSenderStatus
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM payments.usage_events WHERE env = $1 AND status = 'pending' AND bucket IS NULL),
		(SELECT count(*) FROM payments.usage_buckets WHERE env = $1 AND status = 'pending'),
		(SELECT count(*) FROM payments.usage_events WHERE env = $1 AND status = 'waiting_for_customer'),
		(SELECT count(*) FROM payments.usage_buckets WHERE env = $1 AND status = 'failed'),
		(SELECT count(*) FROM payments.usage_buckets WHERE env = $1 AND status = 'unknown'),
		extract(epoch FROM now() - least(
			(SELECT min(accepted_at) FROM payments.usage_events WHERE env = $1 AND status = 'pending' AND bucket IS NULL),
			(SELECT min(created_at) FROM payments.usage_buckets WHERE env = $1 AND status = 'pending')))::float8`, env).
		Scan(&u.Unbucketed, &u.Pending, &u.Waiting, &u.Failed, &u.Unknown, &u.OldestPendingSeconds)
	if err != nil {
		return nil, fmt.Errorf("usage sender status: %w", err)
	}
	if u.Reconciliation, err = s.LastReconciliation(ctx, env); err != nil {
		return nil, err
	}
	if u.Unbucketed == 0 && u.Pending == 0 && u.Waiting == 0 && u.Failed == 0 && u.Unknown == 0 &&
		u.OldestPendingSeconds == nil && u.Reconciliation == nil {
		return nil, nil
	}
	return &u, nil
}

// ReplayFailedUsage makes env's failed meter events (and their events)
// pending again, due now, to be resent with the same identifiers (Stripe
// never recorded them, so the 23-hour window starts anew); it
// returns how many meter events.
func (s *Store) ReplayFailedUsage(ctx context.Context, env vocab.Env) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `
		WITH b AS (
			UPDATE payments.usage_buckets SET status = 'pending', next_attempt_at = now(), lease_until = NULL, first_attempt_at = NULL
			WHERE env = $1 AND status = 'failed'
			RETURNING identifier),
		e AS (
			UPDATE payments.usage_events e SET status = 'pending' FROM b WHERE e.env = $1 AND e.bucket = b.identifier)
		SELECT count(*) FROM b`, env).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("replay usage: %w", err)
	}
	return n, nil
}
