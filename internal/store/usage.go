package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// UsageEvent is one usage event as the usage API accepts it.
type UsageEvent struct {
	Identifier     string
	MeterID        string
	EventName      string
	SubjectType    string
	SubjectID      string
	Value          string // a decimal number ≥ 0, as the app sent it
	EventTime      time.Time
	TimestampGiven bool
}

// UsageBatch is a request's valid events as columns, the shape of the one
// INSERT that stores them.
type UsageBatch struct {
	Identifiers, MeterIDs, EventNames, SubjectTypes, SubjectIDs, Values []string
	EventTimes                                                          []time.Time
	TimestampsGiven                                                     []bool
}

// Add appends e to the batch.
func (b *UsageBatch) Add(e UsageEvent) {
	b.Identifiers = append(b.Identifiers, e.Identifier)
	b.MeterIDs = append(b.MeterIDs, e.MeterID)
	b.EventNames = append(b.EventNames, e.EventName)
	b.SubjectTypes = append(b.SubjectTypes, e.SubjectType)
	b.SubjectIDs = append(b.SubjectIDs, e.SubjectID)
	b.Values = append(b.Values, e.Value)
	b.EventTimes = append(b.EventTimes, e.EventTime)
	b.TimestampsGiven = append(b.TimestampsGiven, e.TimestampGiven)
}

// Len is the number of events in the batch.
func (b *UsageBatch) Len() int { return len(b.Identifiers) }

// insertUsageSQL stores a batch in one statement; identifiers already
// stored (or repeated within the batch) are left alone and not returned.
const insertUsageSQL = `
	INSERT INTO payments.usage_events (env, identifier, meter_id, event_name, subject_type, subject_id, value,
		event_time, timestamp_given, api_key_id)
	SELECT $1, u.identifier, u.meter_id, u.event_name, u.subject_type, u.subject_id, u.value::numeric,
		u.event_time, u.timestamp_given, $2
	FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::boolean[])
		AS u(identifier, meter_id, event_name, subject_type, subject_id, value, event_time, timestamp_given)
	ON CONFLICT (env, identifier) DO NOTHING
	RETURNING identifier`

// sameUsageSQL reads, for the identifiers given with their content, whether
// the stored event has that content (the event time compared only when
// both were dated by the app).
const sameUsageSQL = `
	SELECT u.n, e.identifier IS NOT NULL AND e.event_name = u.event_name AND e.subject_type = u.subject_type
		AND e.subject_id = u.subject_id AND e.value = u.value::numeric
		AND (NOT (e.timestamp_given AND u.timestamp_given) OR e.event_time = u.event_time)
	FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::boolean[]) WITH ORDINALITY
		AS u(identifier, event_name, subject_type, subject_id, value, event_time, timestamp_given, n)
	LEFT JOIN payments.usage_events e ON e.env = $1 AND e.identifier = u.identifier`

// InsertUsage commits a batch of usage events of env accepted with API key
// apiKeyID, durably (synchronous commit) in one statement, and returns
// the identifiers it stored; the others were stored before (or earlier in
// the batch): SameUsage tells duplicates from conflicts.
func (s *Store) InsertUsage(ctx context.Context, env vocab.Env, apiKeyID string, b *UsageBatch) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, insertUsageSQL, env, apiKeyID, b.Identifiers, b.MeterIDs, b.EventNames,
		b.SubjectTypes, b.SubjectIDs, b.Values, b.EventTimes, b.TimestampsGiven)
	if err != nil {
		return nil, fmt.Errorf("store usage: %w", err)
	}
	inserted := make(map[string]bool, b.Len())
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error { inserted[id] = true; return nil })
	if err != nil {
		return nil, fmt.Errorf("store usage: %w", err)
	}
	return inserted, nil
}

// SameUsage reports, for each event of b (by position), whether the event
// stored under its identifier has the same content.
func (s *Store) SameUsage(ctx context.Context, env vocab.Env, b *UsageBatch) ([]bool, error) {
	rows, err := s.pool.Query(ctx, sameUsageSQL, env, b.Identifiers, b.EventNames, b.SubjectTypes, b.SubjectIDs,
		b.Values, b.EventTimes, b.TimestampsGiven)
	if err != nil {
		return nil, fmt.Errorf("compare usage: %w", err)
	}
	out := make([]bool, b.Len())
	var n int64
	var eq bool
	if _, err := pgx.ForEachRow(rows, []any{&n, &eq}, func() error { out[n-1] = eq; return nil }); err != nil {
		return nil, fmt.Errorf("compare usage: %w", err)
	}
	return out, nil
}

// ActiveMeters returns env's active meters by event name.
func (s *Store) ActiveMeters(ctx context.Context, env vocab.Env) (map[string]Meter, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+meterColumns+` FROM payments.meters WHERE env = $1 AND status = 'active'`, env)
	if err != nil {
		return nil, fmt.Errorf("read meters: %w", err)
	}
	ms, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Meter])
	if err != nil {
		return nil, fmt.Errorf("read meters: %w", err)
	}
	out := make(map[string]Meter, len(ms))
	for _, m := range ms {
		out[m.EventName] = m
	}
	return out, nil
}
