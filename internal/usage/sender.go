package usage

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// The sender's pace and bounds.
const (
	// UnknownAfter is how long after its first attempt a bucket whose
	// outcome is unknown is still retried: within Stripe's 24-hour
	// identifier window, so a retry never counts twice.
	UnknownAfter = 23 * time.Hour
	// claimLease is how long a claimed bucket is the claimer's alone: after
	// a sender dies, its buckets wait this long for another. A bucket sent
	// again after it is harmless (Stripe deduplicates its identifier), so
	// the lease is short; a claim's sends take at most 8 s (claimBatch at
	// 25/s).
	claimLease = 30 * time.Second
	// claimBatch is how many buckets one step claims: sent within the
	// lease at the pacer's slowest (25/s in test mode).
	claimBatch = 200
	// bucketBatch is how many accepted events one step groups.
	bucketBatch = 20000
)

// Sender forwards accepted usage to Stripe as meter events: per sum meter,
// one event per customer and minute of event time carrying their sum; per
// count meter, one per event. Its Stripe clients are its own (their pacer
// is not the session API's). Several senders (serve replicas) share the
// work: each claims buckets with FOR UPDATE SKIP LOCKED and a lease.
type Sender struct {
	svc  *billing.Service
	log  zerolog.Logger
	idle time.Duration
	// retention is how long sent usage is kept (0: forever); pruned is
	// when it was last pruned.
	retention time.Duration
	pruned    time.Time
	// reconciled is when reconcileDaily last looked.
	reconciled time.Time
}

// NewSender returns a sender over svc, a billing.Service of its own,
// pruning sent usage older than retention (0 keeps it).
func NewSender(svc *billing.Service, log zerolog.Logger, retention time.Duration) *Sender {
	return &Sender{svc: svc, log: log, idle: time.Second, retention: retention}
}

// Run sends until ctx ends, resting idle between rounds with nothing to do.
func (s *Sender) Run(ctx context.Context) {
	for ctx.Err() == nil {
		s.prune(ctx)
		s.reconcileDaily(ctx)
		busy := false
		for _, env := range vocab.Envs {
			n, err := s.Step(ctx, env)
			if err != nil && ctx.Err() == nil {
				s.log.Warn().Str("env", string(env)).Str("error", secrets.Redact(err.Error())).Msg("usage sender: step failed; retrying")
			}
			busy = busy || n > 0
		}
		if !busy {
			select {
			case <-ctx.Done():
			case <-time.After(s.idle):
			}
		}
	}
}

// Step groups env's new accepted events into buckets, then claims and
// sends a batch of due buckets. It returns how many it sent or settled.
func (s *Sender) Step(ctx context.Context, env vocab.Env) (int, error) {
	st, c, err := s.svc.StripeClient(ctx, env)
	if errors.Is(err, billing.ErrNotConfigured) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if _, err := st.BucketUsage(ctx, env, bucketBatch); err != nil {
		return 0, err
	}
	buckets, err := st.ClaimBuckets(ctx, env, claimBatch, claimLease)
	if err != nil || len(buckets) == 0 {
		return 0, err
	}
	meters, err := st.ActiveMeters(ctx, env)
	if err != nil {
		return 0, err
	}
	for i, b := range buckets {
		if err := s.send(ctx, st, c, env, meters, b); err != nil {
			return i, err
		}
	}
	return len(buckets), nil
}

// send sends one bucket and records the outcome: sent (Stripe took it, or
// already holds its identifier), failed (Stripe refused it for good, with
// its reason), retried with backoff (429, 5xx, no answer), unknown (no
// answer for UnknownAfter).
func (s *Sender) send(ctx context.Context, st *store.Store, c *stripeapi.Client, env vocab.Env, meters map[string]store.Meter, b store.UsageBucket) error {
	customerKey, valueKey := billing.MeterCustomerKey, "value"
	for _, m := range meters {
		if m.EventName == b.EventName {
			customerKey, valueKey = m.CustomerKey, m.ValueKey
		}
	}
	err := c.SendMeterEvent(ctx, stripeapi.MeterEvent{EventName: b.EventName, Identifier: b.Identifier, CustomerKey: customerKey,
		CustomerID: b.CustomerID, ValueKey: valueKey, Value: b.Value, Timestamp: b.EventTime})
	if ctx.Err() != nil {
		return ctx.Err() // the lease ends and another round retries it
	}
	var se *stripeapi.Error
	switch {
	case err == nil, errors.As(err, &se) && se.Status == 400 && strings.Contains(err.Error(), "already exists with identifier"):
		return st.FinishBucket(ctx, env, b.Identifier, "sent", "")
	case stripeapi.Temporary(err) && time.Since(b.FirstAttemptAt) >= UnknownAfter:
		s.log.Error().Str("env", string(env)).Str("bucket", b.Identifier).Msg("usage sender: no answer from Stripe for 23 hours; marked unknown, never resent automatically")
		return st.FinishBucket(ctx, env, b.Identifier, "unknown", secrets.Redact(err.Error()))
	case stripeapi.Temporary(err):
		return st.RetryBucket(ctx, env, b.Identifier, secrets.Redact(err.Error()), backoff(time.Since(b.FirstAttemptAt)))
	default:
		s.log.Warn().Str("env", string(env)).Str("bucket", b.Identifier).Str("error", secrets.Redact(err.Error())).Msg("usage sender: Stripe refused a meter event; marked failed")
		return st.FinishBucket(ctx, env, b.Identifier, "failed", secrets.Redact(err.Error()))
	}
}

// backoff grows with the time a bucket has been failing: 1 s to 5 min.
func backoff(failing time.Duration) time.Duration {
	return min(max(failing, time.Second), 5*time.Minute)
}
