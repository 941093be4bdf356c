package webhooks_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/loadgen"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// BenchmarkOutbox measures what the billing-changes triggers cost the
// webhook path: realistic shuffled traffic through the processor (no HTTP,
// no signatures), eight at a time, with the triggers and with them disabled,
// on fresh databases of the same server. trigger-µs/event is the time
// PostgreSQL spent inside the trigger functions (track_functions);
// overview-µs/event the time inside the overview's rollup triggers, which
// without_overview disables alone. On a
// shared machine, compare the two modes run at the same time:
//
//	go test -c -o /tmp/webhooks.test ./internal/webhooks/ && cd internal/webhooks &&
//	  (/tmp/webhooks.test -test.run '^$' -test.bench 'Outbox/with_outbox$' -test.benchtime 6000x &
//	   /tmp/webhooks.test -test.run '^$' -test.bench 'Outbox/without_outbox$' -test.benchtime 6000x; wait)
func BenchmarkOutbox(b *testing.B) {
	for _, mode := range []string{"with_outbox", "without_outbox", "without_overview"} {
		b.Run(mode, func(b *testing.B) {
			st := storetest.New(b)
			ctx := context.Background()
			// Time spent inside the trigger functions, from PostgreSQL's own counters.
			if _, err := st.Pool().Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET track_functions = ''pl''', current_database()); END $$`); err != nil {
				b.Fatal(err)
			}
			st.Pool().Reset()
			if mode == "without_overview" { // only the overview's rollup triggers (migration 0012)
				for _, t := range []string{"subscriptions", "subscription_items", "payment_history"} {
					for _, tg := range []string{"overview_insert", "overview_update", "overview_delete"} {
						if _, err := st.Pool().Exec(ctx, `ALTER TABLE payments.`+t+` DISABLE TRIGGER `+tg); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			if mode == "without_outbox" {
				for _, t := range []string{"subscriptions", "checkout_sessions", "payment_history"} {
					if _, err := st.Pool().Exec(ctx, `ALTER TABLE payments.`+t+` DISABLE TRIGGER USER`); err != nil {
						b.Fatal(err)
					}
				}
			}
			fake := stripetest.StartFake(b, stripetest.FakeOptions{})
			svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000}, zerolog.Nop())
			raw, exp := loadgen.Generate(loadgen.Config{Events: b.N, Customers: max(b.N/20, 1), Seed: 7, Shuffle: true, Duplicates: 0.1})
			events := make([]*webhooks.Event, len(raw))
			for i, r := range raw {
				e, err := webhooks.ParseEvent(r)
				if err != nil {
					b.Fatal(err)
				}
				events[i] = e
			}
			proc := webhooks.NewProcessor(st, svc, zerolog.Nop(), webhooks.Options{})
			for _, e := range events[:exp.Prelude] {
				if _, err := proc.Process(ctx, vocab.Test, e, "webhook", false); err != nil {
					b.Fatal(err)
				}
			}
			rest := events[exp.Prelude:]
			var next atomic.Int64
			var failed atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= len(rest) {
							return
						}
						if s, err := proc.Process(ctx, vocab.Test, rest[i], "webhook", false); err != nil || s == webhooks.Failed || s == webhooks.Parked {
							failed.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			proc.Close()
			st.Pool().Reset() // backends report their function times as they exit
			if failed.Load() > 0 {
				b.Fatalf("%d events failed", failed.Load())
			}
			b.ReportMetric(float64(len(rest))/elapsed.Seconds(), "events/s")
			var changes int64
			st.Pool().QueryRow(ctx, `SELECT count(*) FROM payments.billing_changes`).Scan(&changes)
			b.ReportMetric(float64(changes)/float64(len(rest)), "changes/event")
			// The statistics catch up with the exited backends one by one:
			// wait until they stop growing, not just for the first.
			var calls, stable int64
			for range 250 {
				var n int64
				st.Pool().QueryRow(ctx, `SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE schemaname = 'payments'`).Scan(&n)
				if stable++; n != calls || n == 0 {
					calls, stable = n, 0
				}
				if stable == 5 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			var ms float64
			st.Pool().QueryRow(ctx, `SELECT coalesce(sum(total_time), 0) FROM pg_stat_user_functions
				WHERE schemaname = 'payments' AND funcname LIKE 'billing_change%'`).Scan(&ms)
			b.ReportMetric(ms*1000/float64(len(rest)), "trigger-µs/event")
			var overview float64
			st.Pool().QueryRow(ctx, `SELECT coalesce(sum(total_time), 0) FROM pg_stat_user_functions
				WHERE schemaname = 'payments' AND funcname LIKE 'overview_%'`).Scan(&overview)
			b.ReportMetric(overview*1000/float64(len(rest)), "overview-µs/event")
			rows, err := st.Pool().Query(ctx, `SELECT funcname::text, calls, total_time, self_time FROM pg_stat_user_functions`)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				var f string
				var c int64
				var total, self float64
				if err := rows.Scan(&f, &c, &total, &self); err != nil {
					b.Fatal(err)
				}
				b.Logf("%s: %d calls, %.1f ms (self %.1f ms), %.1f µs per call", f, c, total, self, total*1000/float64(c))
			}
		})
	}
}
