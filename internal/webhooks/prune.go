package webhooks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/store"
)

// RetentionEnv names the setting that bounds how long the ledger keeps the
// payloads of processed events.
const RetentionEnv = "BILLWIRE_EVENT_RETENTION"

// DefaultRetention is how long processed payloads are kept unless
// RetentionEnv says otherwise: as long as Stripe keeps events, so a replay
// can fetch any event whose payload is gone.
const DefaultRetention = 30 * 24 * time.Hour

// ParseRetention reads RetentionEnv's value: empty means DefaultRetention,
// 0 keeps payloads forever (no pruning), and otherwise a positive Go
// duration ("720h") or a whole number of days ("30d").
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultRetention, nil
	}
	if s == "0" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || n > 100*365 {
			return 0, retentionErr(s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 0 {
			return 0, retentionErr(s)
		}
	}
	return d, nil
}

func retentionErr(s string) error {
	return fmt.Errorf("%s=%q is not a retention: use a Go duration (720h), a whole number of days (30d), "+
		"or 0 to keep event payloads forever; unset means 30d", RetentionEnv, s)
}

// PrunerOptions tune a Pruner; zero values take the defaults.
type PrunerOptions struct {
	// Batch bounds the payloads one statement drops (default store.PruneBatch).
	Batch int
	// Pause is the rest between two batches of one pass (default 100ms),
	// so the ledger's writers and vacuum keep up.
	Pause time.Duration
	// Every is the time between passes (default 10 minutes, ±10%).
	Every time.Duration
}

// Pruner drops, in the background, the payloads of processed events older
// than the retention (and of ignored events recorded with one by earlier
// versions). Each batch is one short transaction that skips rows locked by
// others (a webhook batch claiming a duplicate, a replay) instead of waiting
// for them, so it never holds up the webhook path, and several replicas may
// run it at once. Failed and parked events keep their payloads until a
// replay resolves them; every row stays, so deduplication by event id is
// unaffected.
type Pruner struct {
	st        *store.Store
	retention time.Duration
	log       zerolog.Logger
	opts      PrunerOptions
	now       func() time.Time
}

// NewPruner prunes st's ledger with retention (0: never).
func NewPruner(st *store.Store, retention time.Duration, log zerolog.Logger, o PrunerOptions) *Pruner {
	if o.Batch <= 0 {
		o.Batch = store.PruneBatch
	}
	if o.Pause <= 0 {
		o.Pause = 100 * time.Millisecond
	}
	if o.Every <= 0 {
		o.Every = 10 * time.Minute
	}
	return &Pruner{st: st, retention: retention, log: log, opts: o, now: time.Now}
}

// Run prunes a pass at once and then every PrunerOptions.Every until ctx
// ends. With retention 0 it returns at once.
func (p *Pruner) Run(ctx context.Context) {
	if p.retention <= 0 {
		return
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := p.Prune(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			p.log.Warn().Err(err).Int64("pruned", n).Msg("webhook ledger: pruning payloads failed; next pass later")
		case n > 0:
			p.log.Info().Int64("pruned", n).Str("retention", p.retention.String()).Msg("webhook ledger: pruned old event payloads")
		}
		jitter := time.Duration(rand.Int64N(int64(p.opts.Every)/5+1)) - p.opts.Every/10
		t.Reset(p.opts.Every + jitter)
	}
}

// Prune runs one pass: batch after batch, with a pause between, until a
// batch finds fewer payloads than it may drop. It returns how many went.
// With retention 0 it prunes nothing.
func (p *Pruner) Prune(ctx context.Context) (int64, error) {
	if p.retention <= 0 {
		return 0, nil
	}
	before := p.now().Add(-p.retention)
	from := time.Time{} // each batch starts where the last one ended: a pass reads each index entry about once
	var total int64
	for {
		n, last, err := p.st.PruneEventPayloads(ctx, from, before, p.opts.Batch)
		total += n
		if err != nil || n < int64(p.opts.Batch) {
			return total, err
		}
		from = last
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(p.opts.Pause):
		}
	}
}
