package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// MeteredSubscription is a subject's subscription that bills a meter.
type MeteredSubscription struct {
	SubscriptionID, CustomerID string
	MeterID, EventName         string
	Aggregation                string // sum or count
	PeriodStart, PeriodEnd     time.Time
}

// SubjectMeteredSubscriptions returns the subject's subscriptions that
// still bill (active, trialing, past_due) with a metered price on a meter,
// one row per meter, newest subscription first; eventName ("" for any)
// narrows them to one meter.
func (s *Store) SubjectMeteredSubscriptions(ctx context.Context, env vocab.Env, subjectType, subjectID, eventName string) ([]MeteredSubscription, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT ON (m.id) s.id, s.customer_id, m.id, m.event_name, m.aggregation,
			coalesce(s.current_period_start, s.created), coalesce(s.current_period_end, now())
		FROM payments.subscriptions s
		JOIN payments.subscription_items si ON si.subscription_id = s.id AND si.env = s.env
		JOIN payments.prices p ON p.id = si.price_id AND p.env = s.env
		JOIN payments.meters m ON m.id = p.data->'recurring'->>'meter' AND m.env = s.env
		WHERE s.env = $1 AND s.status IN ('active', 'trialing', 'past_due')
		  AND (s.customer_id = (SELECT customer_id FROM payments.customer_mappings
		                        WHERE subject_id = $3 AND subject_type = $2 AND env = $1)
		       OR (s.subject_id = $3 AND s.subject_type = $2))
		  AND ($4 = '' OR m.event_name = $4)
		ORDER BY m.id, s.created DESC`, env, subjectType, subjectID, eventName)
	if err != nil {
		return nil, fmt.Errorf("read metered subscriptions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (MeteredSubscription, error) {
		var m MeteredSubscription
		err := r.Scan(&m.SubscriptionID, &m.CustomerID, &m.MeterID, &m.EventName, &m.Aggregation, &m.PeriodStart, &m.PeriodEnd)
		return m, err
	})
}

// UsageDay is a subject's accepted usage of one UTC day.
type UsageDay struct {
	Day   string  `json:"day"` // 2006-01-02
	Value float64 `json:"value"`
	// Since is the part of Value from events at or after the time asked
	// (those Stripe's summaries may not count yet).
	Since float64 `json:"-"`
}

// SubjectUsageDays returns the subject's accepted usage of meter per UTC
// day over [start, end), events that failed for good aside: the sum of
// their values, or their count for a count meter; Since is the part at or
// after since.
func (s *Store) SubjectUsageDays(ctx context.Context, env vocab.Env, subjectType, subjectID string, m MeteredSubscription, start, end, since time.Time) ([]UsageDay, error) {
	measure := "value"
	if m.Aggregation == "count" {
		measure = "1"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT to_char(date_trunc('day', event_time AT TIME ZONE 'UTC'), 'YYYY-MM-DD'),
			sum(`+measure+`)::float8, coalesce(sum(`+measure+`) FILTER (WHERE event_time >= $7), 0)::float8
		FROM payments.usage_events
		WHERE env = $1 AND subject_type = $2 AND subject_id = $3 AND meter_id = $4
		  AND event_time >= $5 AND event_time < $6 AND status <> 'failed'
		GROUP BY 1 ORDER BY 1`, env, subjectType, subjectID, m.MeterID, start, end, since)
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UsageDay, error) {
		var d UsageDay
		err := r.Scan(&d.Day, &d.Value, &d.Since)
		return d, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return out, err
}

// SubjectUsageRow is one subject's accepted usage of one meter.
type SubjectUsageRow struct {
	SubjectType, SubjectID, EventName string
	Value                             float64
	Events                            int64
	Failed, Waiting                   int64
	Last                              time.Time
}

// UsageBySubject lists the subjects with the most accepted usage of env
// since since, per meter, at most limit rows.
func (s *Store) UsageBySubject(ctx context.Context, env vocab.Env, since time.Time, limit int) ([]SubjectUsageRow, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT subject_type, subject_id, event_name, sum(value)::float8, count(*),
			count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'waiting_for_customer'), max(event_time)
		FROM payments.usage_events WHERE env = $1 AND event_time >= $2
		GROUP BY subject_type, subject_id, event_name ORDER BY 4 DESC, 2 LIMIT $3`, env, since, limit)
	if err != nil {
		return nil, fmt.Errorf("read usage by subject: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SubjectUsageRow, error) {
		var u SubjectUsageRow
		err := r.Scan(&u.SubjectType, &u.SubjectID, &u.EventName, &u.Value, &u.Events, &u.Failed, &u.Waiting, &u.Last)
		return u, err
	})
}
