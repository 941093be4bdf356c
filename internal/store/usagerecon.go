package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// SentTotal is what billwire sent one customer on one meter over a day.
type SentTotal struct {
	MeterID    string
	CustomerID string
	Total      float64
}

// SentTotals returns, per meter and customer, what env's sent buckets
// dated in [start, end) add up to in Stripe: the sum of their values on
// a sum meter, their number on a count meter.
func (s *Store) SentTotals(ctx context.Context, env vocab.Env, start, end time.Time) ([]SentTotal, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT b.meter_id, b.customer_id,
			CASE WHEN min(m.aggregation) = 'count' THEN count(*)::float8 ELSE sum(b.value)::float8 END
		FROM payments.usage_buckets b LEFT JOIN payments.meters m ON m.env = b.env AND m.id = b.meter_id
		WHERE b.env = $1 AND b.status = 'sent' AND b.event_time >= $2 AND b.event_time < $3
		GROUP BY b.meter_id, b.customer_id ORDER BY 1, 2`, env, start, end)
	if err != nil {
		return nil, fmt.Errorf("sent usage totals: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[SentTotal])
}

// PutReconciliation records a day's comparison for one meter and customer.
func (s *Store) PutReconciliation(ctx context.Context, env vocab.Env, day time.Time, t SentTotal, stripeTotal float64) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO payments.usage_reconciliations (env, day, meter_id, customer_id, billwire_total, stripe_total)
		VALUES ($1, $2::date, $3, $4, $5, $6)
		ON CONFLICT (env, day, meter_id, customer_id) DO UPDATE SET billwire_total = EXCLUDED.billwire_total,
			stripe_total = EXCLUDED.stripe_total, checked_at = now()`, env, day.UTC().Format("2006-01-02"), t.MeterID, t.CustomerID, t.Total, stripeTotal)
	if err != nil {
		return fmt.Errorf("record usage reconciliation: %w", err)
	}
	return nil
}

// Reconciliation is the newest day reconciled, as get_payments_status says it.
type Reconciliation struct {
	Day         string `json:"day"`
	Checked     int64  `json:"checked"`
	Differences int64  `json:"differences"`
	// Examples are up to 5 differing meter and customer pairs.
	Examples []ReconciliationDiff `json:"examples,omitempty"`
}

// ReconciliationDiff is one meter and customer whose totals differ.
type ReconciliationDiff struct {
	MeterID       string  `json:"meter_id"`
	CustomerID    string  `json:"customer_id"`
	BillwireTotal float64 `json:"billwire_total"`
	StripeTotal   float64 `json:"stripe_total"`
}

// LastReconciliation returns env's newest reconciled day, or nil.
func (s *Store) LastReconciliation(ctx context.Context, env vocab.Env) (*Reconciliation, error) {
	var r Reconciliation
	var day *time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT d.day, count(*), count(*) FILTER (WHERE u.billwire_total <> u.stripe_total)
		FROM (SELECT max(day) AS day FROM payments.usage_reconciliations WHERE env = $1) d
		LEFT JOIN payments.usage_reconciliations u ON u.env = $1 AND u.day = d.day
		GROUP BY d.day`, env).Scan(&day, &r.Checked, &r.Differences)
	if err != nil {
		return nil, fmt.Errorf("usage reconciliation: %w", err)
	}
	if day == nil {
		return nil, nil
	}
	r.Day = day.Format("2006-01-02")
	rows, err := s.pool.Query(ctx, `SELECT meter_id, customer_id, billwire_total::float8, stripe_total::float8
		FROM payments.usage_reconciliations WHERE env = $1 AND day = $2::date AND billwire_total <> stripe_total
		ORDER BY meter_id, customer_id LIMIT 5`, env, r.Day)
	if err != nil {
		return nil, fmt.Errorf("usage reconciliation: %w", err)
	}
	if r.Examples, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ReconciliationDiff]); err != nil {
		return nil, fmt.Errorf("usage reconciliation: %w", err)
	}
	return &r, nil
}

// Reconciled reports whether env's day was reconciled already.
func (s *Store) Reconciled(ctx context.Context, env vocab.Env, day time.Time) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM payments.usage_reconciliations WHERE env = $1 AND day = $2::date)`,
		env, day.UTC().Format("2006-01-02")).Scan(&ok)
	return ok, err
}
