package webhooks

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// Meter counts the deliveries a receiver answered, per environment and
// minute, in memory: accepted (recorded, 2xx), duplicate (recorded before),
// refused (4xx: a bad signature, body or route) and failed (5xx), with a
// histogram of the accepted ones' latency from arrival to commit. billwire
// serve flushes it to the database once a minute (store.AddWebhookMinutes);
// the ledger cannot give these figures, since refusals and duplicates are
// not rows and its times are one transaction's now().
type Meter struct {
	mu   sync.Mutex
	rows map[meterKey]*store.WebhookMinute
}

type meterKey struct {
	env    vocab.Env
	minute time.Time
}

// NewMeter returns an empty meter.
func NewMeter() *Meter { return &Meter{rows: map[meterKey]*store.WebhookMinute{}} }

// observe counts one answer given at time at, latency after its arrival.
func (m *Meter) observe(env vocab.Env, at time.Time, code int, status Status, latency time.Duration) {
	if m == nil || env == "" {
		return
	}
	minute := at.UTC().Truncate(time.Minute)
	m.mu.Lock()
	defer m.mu.Unlock()
	k := meterKey{env, minute}
	row := m.rows[k]
	if row == nil {
		row = &store.WebhookMinute{Env: env, Minute: minute, Latency: make([]int64, len(store.LatencyBoundsMs)+1)}
		m.rows[k] = row
	}
	switch {
	case code >= 500:
		row.Failed++
	case code >= 400:
		row.Refused++
	case status == Duplicate:
		row.Duplicate++
	default:
		row.Accepted++
		row.Latency[store.LatencyBucket(latency)]++
	}
}

// Drain returns what the meter counted since the last Drain and forgets it.
func (m *Meter) Drain() []store.WebhookMinute {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]store.WebhookMinute, 0, len(m.rows))
	for k, r := range m.rows {
		out = append(out, *r)
		delete(m.rows, k)
	}
	return out
}

// codeWriter remembers the status code a handler answered with.
type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// MinuteSink stores flushed minutes (store.Store).
type MinuteSink interface {
	AddWebhookMinutes(ctx context.Context, replica string, rows []store.WebhookMinute) error
}

// FlushEvery is how often billwire serve flushes its meter.
const FlushEvery = time.Minute

// Run flushes the meter to sink as replica every interval until ctx ends,
// then once more. A failed flush keeps its counts for the next one.
func (m *Meter) Run(ctx context.Context, sink MinuteSink, replica string, every time.Duration, log zerolog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			m.flush(fctx, sink, replica, log)
			cancel()
			return
		case <-t.C:
			m.flush(ctx, sink, replica, log)
		}
	}
}

func (m *Meter) flush(ctx context.Context, sink MinuteSink, replica string, log zerolog.Logger) {
	rows := m.Drain()
	if len(rows) == 0 {
		return
	}
	if err := sink.AddWebhookMinutes(ctx, replica, rows); err != nil {
		log.Warn().Err(err).Msg("webhook counters not flushed; kept for the next flush")
		m.restore(rows)
	}
}

// restore adds rows that could not be flushed back into the meter.
func (m *Meter) restore(rows []store.WebhookMinute) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rows {
		k := meterKey{r.Env, r.Minute}
		if cur := m.rows[k]; cur != nil {
			cur.Accepted, cur.Duplicate, cur.Refused, cur.Failed = cur.Accepted+r.Accepted, cur.Duplicate+r.Duplicate, cur.Refused+r.Refused, cur.Failed+r.Failed
			for i, v := range r.Latency {
				cur.Latency[i] += v
			}
			continue
		}
		r := r
		m.rows[k] = &r
	}
}
