package usage

import (
	"context"
	"errors"
	"time"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/vocab"
)

// Reconcile compares, for env's UTC day holding t, what the sender sent
// each customer on each meter with Stripe's meter event summary of that
// day, and records both (get_payments_status reports the differences).
// It returns how many meter and customer pairs it checked.
func (s *Sender) Reconcile(ctx context.Context, env vocab.Env, t time.Time) (int, error) {
	st, c, err := s.svc.StripeClient(ctx, env)
	if err != nil {
		return 0, err
	}
	start := t.UTC().Truncate(24 * time.Hour)
	end := start.Add(24 * time.Hour)
	totals, err := st.SentTotals(ctx, env, start, end)
	if err != nil {
		return 0, err
	}
	for i, tot := range totals {
		got, err := c.MeterEventTotal(ctx, tot.MeterID, tot.CustomerID, start, end)
		if err != nil {
			return i, err
		}
		if err := st.PutReconciliation(ctx, env, start, tot, got); err != nil {
			return i, err
		}
		if got != tot.Total {
			s.log.Warn().Str("env", string(env)).Str("day", start.Format("2006-01-02")).Str("meter", tot.MeterID).Str("customer", tot.CustomerID).
				Float64("billwire", tot.Total).Float64("stripe", got).Msg("usage reconciliation: Stripe's total differs from what billwire sent")
		}
	}
	return len(totals), nil
}

// reconcileDaily reconciles yesterday (UTC) once, checking every hour:
// Stripe's summaries lag minutes behind, a whole day later they are final.
func (s *Sender) reconcileDaily(ctx context.Context) {
	if time.Since(s.reconciled) < pruneEvery {
		return
	}
	s.reconciled = time.Now()
	day := time.Now().UTC().Add(-24 * time.Hour)
	for _, env := range vocab.Envs {
		st, err := s.svc.Store(ctx)
		if err != nil {
			return
		}
		if done, err := st.Reconciled(ctx, env, day); err != nil || done {
			continue
		}
		if _, err := s.Reconcile(ctx, env, day); err != nil && !errors.Is(err, billing.ErrNotConfigured) && ctx.Err() == nil {
			s.log.Warn().Str("env", string(env)).Err(err).Msg("usage reconciliation failed; retrying in an hour")
		}
	}
}
