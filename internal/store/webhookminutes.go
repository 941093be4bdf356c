package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// LatencyBoundsMs are the upper bounds, in milliseconds, of the webhook
// latency histogram's buckets; one more bucket holds everything slower.
var LatencyBoundsMs = []int64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}

// LatencyBucket is the histogram bucket of latency d.
func LatencyBucket(d time.Duration) int {
	ms := d.Milliseconds()
	for i, b := range LatencyBoundsMs {
		if ms < b {
			return i
		}
	}
	return len(LatencyBoundsMs)
}

// WebhookMinute is what the receiver answered in one minute: counts by
// outcome and the accepted deliveries' latency histogram.
type WebhookMinute struct {
	Env                                  vocab.Env
	Minute                               time.Time
	Accepted, Duplicate, Refused, Failed int64
	Latency                              []int64 // per bucket of LatencyBoundsMs, and one more
}

// webhookMinutesKept is how long flushed minutes stay.
const webhookMinutesKept = 48 * time.Hour

// AddWebhookMinutes adds one replica's counts to the table and deletes
// minutes older than two days, in one round trip.
func (s *Store) AddWebhookMinutes(ctx context.Context, replica string, rows []WebhookMinute) error {
	b := &pgx.Batch{}
	for _, r := range rows {
		b.Queue(`INSERT INTO payments.webhook_minutes AS t (env, minute, replica, accepted, duplicate, refused, failed, latency)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (minute, replica, env) DO UPDATE SET accepted = t.accepted + EXCLUDED.accepted,
				duplicate = t.duplicate + EXCLUDED.duplicate, refused = t.refused + EXCLUDED.refused, failed = t.failed + EXCLUDED.failed,
				latency = (SELECT array_agg(coalesce(a, 0) + coalesce(e, 0) ORDER BY n) FROM unnest(t.latency, EXCLUDED.latency) WITH ORDINALITY u(a, e, n))`,
			r.Env, r.Minute, replica, r.Accepted, r.Duplicate, r.Refused, r.Failed, r.Latency)
	}
	b.Queue(`DELETE FROM payments.webhook_minutes WHERE minute < now() - make_interval(secs => $1)`, webhookMinutesKept.Seconds())
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("flush webhook counters: %w", err)
	}
	return nil
}

// WebhookMinutes returns env's minutes from since on, summed over the
// replicas, oldest first.
func (s *Store) WebhookMinutes(ctx context.Context, env vocab.Env, since time.Time) ([]WebhookMinute, error) {
	rows, err := s.pool.Query(ctx, `SELECT minute, accepted, duplicate, refused, failed, latency
		FROM payments.webhook_minutes WHERE minute >= $2 AND env = $1 ORDER BY minute`, env, since)
	if err != nil {
		return nil, fmt.Errorf("read webhook counters: %w", err)
	}
	var out []WebhookMinute
	var m WebhookMinute
	_, err = pgx.ForEachRow(rows, []any{&m.Minute, &m.Accepted, &m.Duplicate, &m.Refused, &m.Failed, &m.Latency}, func() error {
		if n := len(out); n > 0 && out[n-1].Minute.Equal(m.Minute) {
			out[n-1].add(m)
			return nil
		}
		m.Env = env
		m.Latency = append([]int64(nil), m.Latency...)
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read webhook counters: %w", err)
	}
	return out, nil
}

// add sums another replica's minute into m.
func (m *WebhookMinute) add(o WebhookMinute) {
	m.Accepted, m.Duplicate, m.Refused, m.Failed = m.Accepted+o.Accepted, m.Duplicate+o.Duplicate, m.Refused+o.Refused, m.Failed+o.Failed
	for i, v := range o.Latency {
		if i < len(m.Latency) {
			m.Latency[i] += v
		} else {
			m.Latency = append(m.Latency, v)
		}
	}
}
