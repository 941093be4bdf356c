package webhooks

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/loadgen"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks/commit"
)

// BenchmarkBatch records and projects realistic traffic (shuffled, 10%
// duplicates) in batches of a given size, without HTTP: the cost of a
// writer's transaction per event, in billwire (ns/event) and, when
// PostgreSQL runs on this machine, in its backend (pg-ns/event, from
// /proc/PID/schedstat).
//
//	go test -run '^$' -bench Batch -benchtime 2000x ./internal/webhooks/
func BenchmarkBatch(b *testing.B) {
	for _, size := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("events=%d", size), func(b *testing.B) {
			ctx := context.Background()
			cfg, err := pgxpool.ParseConfig(storetest.DSN(b))
			if err != nil {
				b.Fatal(err)
			}
			cfg.MaxConns = 2 // the writer's backend, whose CPU time is measured, and one for events alone
			for k, v := range store.PlannerSettings {
				cfg.ConnConfig.RuntimeParams[k] = v
			}
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			p := &Processor{pool: pool, log: zerolog.Nop(), opts: Options{MaxAttempts: 5, MaxBatch: 64}, settled: map[mappingKey]struct{}{}}
			p.engine = commit.New(committer{p}, pool, zerolog.Nop(), commit.Options{Reference: true, Prepared: pipeSQL})
			direct := p.engine.Direct()
			defer direct.Close()
			raw, exp := loadgen.Generate(loadgen.Config{Events: b.N*size + 5, Shuffle: true, Duplicates: 0.1, Seed: 3})
			items := make([]*item, len(raw))
			for i, body := range raw {
				e, err := ParseEvent(body)
				if err != nil {
					b.Fatal(err)
				}
				items[i] = &item{env: vocab.Test, e: e, obj: e.Data.Object, at: e.CreatedAt(), checkTie: true, source: "bench"}
			}
			for _, it := range items[:exp.Prelude] {
				p.project(it)
				direct.Commit([]*item{it})
			}
			items = items[exp.Prelude:]
			pid := int(direct.Backend())
			pg0 := backendCPU(pid)
			b.ResetTimer()
			start := time.Now()
			for n := range b.N {
				batch := items[n*size : (n+1)*size]
				for _, it := range batch {
					p.project(it) // in the callers' goroutines when served
				}
				for i, r := range direct.Commit(batch) {
					if r.status == "" || r.status == Failed {
						b.Fatalf("%s: %+v", batch[i].e.ID, r)
					}
				}
			}
			b.StopTimer()
			events := float64(b.N * size)
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/events, "ns/event")
			if pg1 := backendCPU(pid); pg0 >= 0 && pg1 >= 0 {
				b.ReportMetric(float64(pg1-pg0)/events, "pg-ns/event")
			}
		})
	}
}

// backendCPU is the CPU time of a local process in ns, or -1.
func backendCPU(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return -1
	}
	return n
}
