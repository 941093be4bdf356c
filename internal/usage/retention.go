package usage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/webhooks"
)

// RetentionEnv sets how long sent usage is kept (by event time).
const RetentionEnv = "BILLWIRE_USAGE_RETENTION"

// DefaultRetention keeps sent usage 40 days: past Stripe's 35-day window
// for meter events, and any invoice period's disputes about it.
const DefaultRetention = 40 * 24 * time.Hour

// pruneEvery is how often the sender prunes.
const pruneEvery = time.Hour

// ParseRetention reads RetentionEnv's value: empty means DefaultRetention,
// 0 keeps sent usage forever, otherwise a Go duration ("960h") or a whole
// number of days ("40d").
func ParseRetention(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultRetention, nil
	}
	d, err := webhooks.ParseRetention(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a retention: use a Go duration (960h), a whole number of days (40d), or 0 to keep sent usage forever", RetentionEnv, s)
	}
	return d, nil
}

// prune deletes sent usage older than the retention, a chunk at a time.
func (s *Sender) prune(ctx context.Context) {
	if s.retention <= 0 || time.Since(s.pruned) < pruneEvery {
		return
	}
	s.pruned = time.Now()
	st, err := s.svc.Store(ctx)
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		n, err := st.PruneUsage(ctx, time.Now().Add(-s.retention), 10000)
		if err != nil {
			s.log.Warn().Err(err).Msg("usage sender: pruning sent usage failed; retrying in an hour")
			return
		}
		if n < 10000 {
			return
		}
	}
}
