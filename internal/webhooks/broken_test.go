package webhooks_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// The pipelined connection of a writer breaks (its backend is terminated)
// while one batch, or two, are in flight on it: every event still gets a
// result, none is lost, none is applied twice (a failed payment counts its
// failure once), and the writer goes on over a new connection.
func TestBrokenPipelinedConnection(t *testing.T) {
	t.Parallel()
	onceOverEngines(t)
	for _, inflight := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d in flight", inflight), func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			ctx := context.Background()
			proc := webhooks.NewProcessor(r.st, r.svc, zerolog.Nop(), webhooks.Options{Writers: 1, MaxWait: time.Second})
			defer proc.Close()
			const wave = 4
			events := make([]*webhooks.Event, inflight*wave)
			for i := range events {
				raw := r.event("payment_intent.payment_failed", eventfixtures.Options{ID: fmt.Sprintf("evt_broken_%d", i),
					Object: map[string]any{"id": fmt.Sprintf("pi_broken_%d", i), "customer": fmt.Sprintf("cus_broken_%d", i)}})
				e, err := webhooks.ParseEvent(raw)
				if err != nil {
					t.Fatal(err)
				}
				events[i] = e
			}
			statuses, errs := make([]webhooks.Status, len(events)), make([]error, len(events))
			var wg sync.WaitGroup
			// submit delivers a wave as concurrent deliveries do: announced
			// first, so that the writer takes them into one batch.
			submit := func(from int) {
				runs := make([]func(context.Context, vocab.Env, *webhooks.Event) (webhooks.Status, error), wave)
				for j := range runs {
					runs[j] = webhooks.Arrive(proc)
				}
				for j, run := range runs {
					i := from + j
					wg.Go(func() { statuses[i], errs[i] = run(ctx, vocab.Test, events[i]) })
				}
			}
			var killed atomic.Bool
			var killErr error
			webhooks.OnSent(proc, func(n int, backend uint32) {
				if killed.Load() {
					return
				}
				if n < inflight {
					submit(n * wave) // the next wave, while this batch is in flight
					return
				}
				var ok bool
				killErr = r.st.Pool().QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, int64(backend)).Scan(&ok)
				if killErr == nil && !ok {
					killErr = fmt.Errorf("backend %d not terminated", backend)
				}
				killed.Store(true)
			})
			submit(0)
			wg.Wait()
			if !killed.Load() || killErr != nil {
				t.Fatalf("the connection was not broken with %d batches in flight: %v", inflight, killErr)
			}
			for i := range events {
				if errs[i] != nil || (statuses[i] != webhooks.Processed && statuses[i] != webhooks.Duplicate) {
					t.Errorf("event %d: %q, %v; want processed (or duplicate, when its batch committed before the break)", i, statuses[i], errs[i])
				}
			}
			n := len(events)
			if got := r.count("webhook_events", "id LIKE 'evt_broken_%' AND status = 'processed' AND attempts = 1"); got != int64(n) {
				t.Fatalf("%d of %d events recorded once as processed", got, n)
			}
			if got := r.count("payment_history", "key LIKE 'pi_broken_%' AND status = 'failed' AND failures = 1"); got != int64(n) {
				t.Fatalf("%d of %d failed payments counted once", got, n)
			}
			// The writer goes on over a new connection.
			e, err := webhooks.ParseEvent(r.event("payment_intent.payment_failed", eventfixtures.Options{ID: "evt_broken_after",
				Object: map[string]any{"id": "pi_broken_after"}}))
			if err != nil {
				t.Fatal(err)
			}
			if st, err := proc.Process(ctx, vocab.Test, e, "webhook", false); err != nil || st != webhooks.Processed {
				t.Fatalf("after the break: %q, %v", st, err)
			}
		})
	}
}

// onceOverEngines skips a test that builds its own processor in all but
// the first run of the suite (see TestMain): the engine does not change it.
func onceOverEngines(t *testing.T) {
	if suite.name != suites[0].name {
		t.Skip("builds its own processor: runs with the first engine only")
	}
}
