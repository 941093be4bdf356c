package store

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// OverviewDays is how many UTC days the overview's daily figures cover,
// today included.
const OverviewDays = 30

// OverviewWindow is the window of the overview's "last 7 days" and "next 7
// days" figures (failed payments, trials ending).
const OverviewWindow = 7 * 24 * time.Hour

// OpenDisputeStatuses are the dispute statuses that still need the
// merchant or Stripe: the overview counts them as open.
var OpenDisputeStatuses = []string{"warning_needs_response", "warning_under_review", "needs_response", "under_review"}

// Overview is the state of one environment's business, as the dashboard's
// landing page shows it. Days are UTC days, oldest first, OverviewDays of
// them ending with Today.
type Overview struct {
	Env   vocab.Env
	Today time.Time // midnight UTC of the overview's day
	// MRR per currency, sorted by currency.
	MRR []CurrencyMRR
	// Revenue per currency, sorted by currency.
	Revenue []CurrencyRevenue
	// Subscriptions per day (new by created, canceled by canceled_at, ended by ended_at).
	Subscriptions []SubscriptionDay
	// Statuses counts subscriptions by status now, most first.
	Statuses []StatusCount
	// TrialsEnding counts trialing subscriptions whose trial ends in the
	// next OverviewWindow.
	TrialsEnding int64
	// FailedPayments counts payments that failed in the last
	// OverviewWindow; FailureReasons are their top 5 reasons.
	FailedPayments int64
	FailureReasons []StatusCount
	// OpenDisputes counts disputes in one of OpenDisputeStatuses; Disputes
	// counts them by status.
	OpenDisputes int64
	Disputes     []StatusCount
}

// CurrencyMRR is MRR in one currency, in minor units per month (rounded).
type CurrencyMRR struct {
	Currency string
	Active   int64 // active and past_due subscriptions
	Trialing int64
	Days     []MRRDay
}

// MRRDay is MRR at the end of one day.
type MRRDay struct {
	Day              time.Time
	Active, Trialing int64
}

// CurrencyRevenue is money in one currency, in minor units.
type CurrencyRevenue struct {
	Currency            string
	Paid, Refunded, Net int64 // over all Days
	Payments, Refunds   int64
	Days                []RevenueDay
}

// RevenueDay is one day's payments succeeded and refunds succeeded; Net is
// their difference.
type RevenueDay struct {
	Day                 time.Time
	Paid, Refunded, Net int64
}

// SubscriptionDay counts one day's new, canceled and ended subscriptions.
type SubscriptionDay struct {
	Day                      time.Time
	Created, Canceled, Ended int64
}

// StatusCount is a count under a name (a status or a failure reason).
type StatusCount struct {
	Name string
	N    int64
}

// Overview reads env's overview as of now, from the rollups that
// migration 0012 keeps, in one round trip that first folds the
// subscriptions marked dirty into the MRR rollups (FoldMRR).
func (s *Store) Overview(ctx context.Context, env vocab.Env, now time.Time) (*Overview, error) {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, 1-OverviewDays)
	o := &Overview{Env: env, Today: today}
	b := &pgx.Batch{}
	b.Queue(foldMRR)
	o.queueMRR(b, first)
	o.queueRevenue(b, first, today)
	o.queueSubscriptions(b, first, today)
	o.queueCounts(b, now)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("read the overview of %s: %w", env, err)
	}
	return o, nil
}

// days lists the overview's days from first.
func days(first time.Time) []time.Time {
	out := make([]time.Time, OverviewDays)
	for i := range out {
		out[i] = first.AddDate(0, 0, i)
	}
	return out
}

func dayIndex(first, day time.Time) int {
	return int(day.Sub(first).Hours() / 24)
}

func (o *Overview) queueMRR(b *pgx.Batch, first time.Time) {
	// Every change before the first day is folded into it.
	b.Queue(`SELECT currency, greatest(day, $2::date), sum(active), sum(trialing)
		FROM payments.overview_mrr_daily WHERE env = $1 AND day <= $2::date + $3::int - 1
		GROUP BY 1, 2 ORDER BY 1, 2`, o.Env, first, OverviewDays).Query(func(rows pgx.Rows) error {
		byCur := map[string][]float64{} // active, trialing deltas per day, interleaved
		var order []string
		for rows.Next() {
			var cur string
			var day time.Time
			var a, t float64
			if err := rows.Scan(&cur, &day, &a, &t); err != nil {
				return err
			}
			if _, ok := byCur[cur]; !ok {
				byCur[cur] = make([]float64, 2*OverviewDays)
				order = append(order, cur)
			}
			i := dayIndex(first, day)
			byCur[cur][2*i] += a
			byCur[cur][2*i+1] += t
		}
		for _, cur := range order {
			o.MRR = append(o.MRR, cumulativeMRR(cur, first, byCur[cur]))
		}
		return rows.Err()
	})
}

// cumulativeMRR turns per-day changes into MRR at the end of each day.
func cumulativeMRR(cur string, first time.Time, deltas []float64) CurrencyMRR {
	c := CurrencyMRR{Currency: cur}
	var a, t float64
	for i, day := range days(first) {
		a, t = a+deltas[2*i], t+deltas[2*i+1]
		c.Days = append(c.Days, MRRDay{Day: day, Active: int64(math.Round(a)), Trialing: int64(math.Round(t))})
	}
	last := c.Days[len(c.Days)-1]
	c.Active, c.Trialing = last.Active, last.Trialing
	return c
}

func (o *Overview) queueRevenue(b *pgx.Batch, first, today time.Time) {
	b.Queue(`SELECT currency, day, sum(paid)::bigint, sum(refunded)::bigint, sum(payments)::bigint, sum(refunds)::bigint
		FROM payments.overview_revenue_daily WHERE day BETWEEN $2 AND $3 AND env = $1 GROUP BY currency, day ORDER BY currency, day`, o.Env, first, today).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var cur string
			var day time.Time
			var paid, refunded, np, nr int64
			if err := rows.Scan(&cur, &day, &paid, &refunded, &np, &nr); err != nil {
				return err
			}
			if len(o.Revenue) == 0 || o.Revenue[len(o.Revenue)-1].Currency != cur {
				c := CurrencyRevenue{Currency: cur}
				for _, d := range days(first) {
					c.Days = append(c.Days, RevenueDay{Day: d})
				}
				o.Revenue = append(o.Revenue, c)
			}
			c := &o.Revenue[len(o.Revenue)-1]
			c.Days[dayIndex(first, day)] = RevenueDay{Day: day, Paid: paid, Refunded: refunded, Net: paid - refunded}
			c.Paid, c.Refunded, c.Net = c.Paid+paid, c.Refunded+refunded, c.Net+paid-refunded
			c.Payments, c.Refunds = c.Payments+np, c.Refunds+nr
		}
		return rows.Err()
	})
}

func (o *Overview) queueSubscriptions(b *pgx.Batch, first, today time.Time) {
	for _, d := range days(first) {
		o.Subscriptions = append(o.Subscriptions, SubscriptionDay{Day: d})
	}
	b.Queue(`SELECT day, sum(created)::bigint, sum(canceled)::bigint, sum(ended)::bigint FROM payments.overview_subscriptions_daily
		WHERE day BETWEEN $2 AND $3 AND env = $1 GROUP BY day`, o.Env, first, today).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var d SubscriptionDay
			if err := rows.Scan(&d.Day, &d.Created, &d.Canceled, &d.Ended); err != nil {
				return err
			}
			o.Subscriptions[dayIndex(first, d.Day)] = d
		}
		return rows.Err()
	})
	b.Queue(`SELECT status, sum(n)::bigint FROM payments.overview_subscription_statuses WHERE env = $1
		GROUP BY status HAVING sum(n) <> 0 ORDER BY 2 DESC, status`, o.Env).Query(func(rows pgx.Rows) error {
		var err error
		o.Statuses, err = pgx.CollectRows(rows, pgx.RowToStructByPos[StatusCount])
		return err
	})
}

func (o *Overview) queueCounts(b *pgx.Batch, now time.Time) {
	b.Queue(`SELECT count(*) FROM payments.subscriptions WHERE status = 'trialing' AND trial_end >= $2 AND trial_end < $3 AND env = $1`,
		o.Env, now, now.Add(OverviewWindow)).QueryRow(func(row pgx.Row) error { return row.Scan(&o.TrialsEnding) })
	b.Queue(`SELECT coalesce(failure_code, failure_message, 'unknown'), count(*) FROM payments.payment_history
		WHERE status = 'failed' AND status <> 'succeeded' AND occurred_at >= $2 AND occurred_at <= $3 AND kind = 'payment' AND env = $1
		GROUP BY 1 ORDER BY 2 DESC, 1`, o.Env, now.Add(-OverviewWindow), now).Query(func(rows pgx.Rows) error {
		all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[StatusCount])
		for _, r := range all {
			o.FailedPayments += r.N
		}
		o.FailureReasons = all[:min(5, len(all))]
		return err
	})
	// Literal statuses, and not succeeded, so that the partial index of the
	// statuses other than succeeded serves it under any plan.
	b.Queue(`SELECT status, count(*) FROM payments.payment_history WHERE status IN (`+quoteList(OpenDisputeStatuses)+`)
		AND status <> 'succeeded' AND kind = 'dispute' AND env = $1 GROUP BY 1 ORDER BY 2 DESC, 1`, o.Env).Query(func(rows pgx.Rows) error {
		var err error
		o.Disputes, err = pgx.CollectRows(rows, pgx.RowToStructByPos[StatusCount])
		for _, d := range o.Disputes {
			o.OpenDisputes += d.N
		}
		return err
	})
}

// quoteList writes constant words as an SQL list of literals.
func quoteList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", "''") + "'"
	}
	return strings.Join(q, ", ")
}

// foldMRR recomputes the MRR of the subscriptions that the triggers of
// migration 0012 marked dirty and books the changes on the MRR rollups.
const foldMRR = `SELECT payments.mrr_fold()`

// FoldMRR folds the subscriptions marked dirty since the last fold into the
// MRR rollups (billwire serve does once a minute; Overview before it
// reads) and returns how many it folded. Marks held by transactions still
// running are left for the next fold.
func (s *Store) FoldMRR(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, foldMRR).Scan(&n); err != nil {
		return 0, fmt.Errorf("fold MRR: %w", err)
	}
	return n, nil
}

// MRRNow sums the per-subscription MRR that the overview's rollup keeps,
// per currency, after a fold: what the last day of Overview.MRR must agree
// with.
func (s *Store) MRRNow(ctx context.Context, env vocab.Env) (map[string][2]int64, error) {
	if _, err := s.FoldMRR(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT currency, round(coalesce(sum(mrr) FILTER (WHERE NOT trialing), 0))::bigint,
		round(coalesce(sum(mrr) FILTER (WHERE trialing), 0))::bigint FROM payments.subscription_mrr WHERE env = $1 GROUP BY 1`, env)
	if err != nil {
		return nil, fmt.Errorf("read MRR: %w", err)
	}
	out := map[string][2]int64{}
	var cur string
	var a, t int64
	_, err = pgx.ForEachRow(rows, []any{&cur, &a, &t}, func() error {
		out[cur] = [2]int64{a, t}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read MRR: %w", err)
	}
	return out, nil
}
