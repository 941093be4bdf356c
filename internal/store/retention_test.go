package store_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
)

// The pruner's batch finds its rows along the partial index
// webhook_events_prunable, on a ledger of 200,000 events, in both the plan
// made for its arguments and the generic plan a prepared statement falls
// back to: it reads the batch's rows (and the few it skips), never the
// ledger. Two ledgers: one at steady state (most payloads pruned long ago,
// a retention window of events with theirs, a batch due) and one just
// upgraded (every processed payload still there, most of them due).
// Run with -v to see the plans.
func TestPruneBatchFollowsItsIndex(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		seed string
		want int64 // rows the batch prunes
	}{
		{"steady state", `
			INSERT INTO payments.webhook_events (env, id, type, created, status, attempts, received_at, payload)
			SELECT 'test', 'evt_' || i, 'invoice.paid', now(), s, 1, now() - interval '120 days' + i * interval '50 seconds',
				CASE WHEN i > 150000 OR s IN ('failed', 'parked') THEN json_build_object('id', 'evt_' || i, 'data', repeat('x', 300)) END
			FROM generate_series(1, 200000) i,
				LATERAL (SELECT CASE WHEN i % 997 = 0 THEN 'parked' WHEN i % 1009 = 0 THEN 'failed'
					WHEN i % 10 = 0 THEN 'ignored' ELSE 'processed' END AS s) st`, store.PruneBatch},
		{"just upgraded", `
			INSERT INTO payments.webhook_events (env, id, type, created, status, attempts, received_at, payload)
			SELECT 'test', 'evt_' || i, 'invoice.paid', now(), CASE WHEN i % 997 = 0 THEN 'parked' ELSE 'processed' END, 1,
				now() - interval '60 days' + i * interval '20 seconds', json_build_object('id', 'evt_' || i, 'data', repeat('x', 300))
			FROM generate_series(1, 200000) i`, store.PruneBatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := storetest.New(t)
			ctx := context.Background()
			if _, err := st.Pool().Exec(ctx, c.seed); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Pool().Exec(ctx, `VACUUM ANALYZE payments.webhook_events`); err != nil {
				t.Fatal(err)
			}
			before := time.Now().Add(-30 * 24 * time.Hour)
			for _, mode := range []string{"auto", "force_generic_plan"} {
				err := pgx.BeginFunc(ctx, st.Pool(), func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, "SELECT set_config('plan_cache_mode', $1, true)", mode); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, "PREPARE prune(timestamptz, timestamptz, integer) AS "+store.PruneSQL); err != nil {
						return err
					}
					rows, err := tx.Query(ctx, fmt.Sprintf("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) EXECUTE prune('-infinity', '%s', %d)",
						before.UTC().Format(time.RFC3339Nano), store.PruneBatch))
					if err != nil {
						return err
					}
					lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
					if err != nil {
						return err
					}
					plan := strings.Join(lines, "\n")
					t.Logf("%s, plan_cache_mode=%s:\n%s", c.name, mode, plan)
					if !strings.Contains(plan, "Index Scan using webhook_events_prunable on webhook_events") {
						t.Errorf("%s: the batch does not follow webhook_events_prunable", mode)
					}
					if strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Sort") {
						t.Errorf("%s: the batch reads or sorts the ledger", mode)
					}
					// The index scan reads about the batch's rows: its
					// shared buffers stay far below the ledger's pages.
					m := regexp.MustCompile(`(?m)Index Scan using webhook_events_prunable.*\n(?:.*\n)*?\s+Buffers: shared hit=(\d+)(?: read=(\d+))?`).FindStringSubmatch(plan)
					if m == nil {
						t.Errorf("%s: no buffer counts for the index scan", mode)
					} else if n := atoi(m[1]) + atoi(m[2]); n > 4*store.PruneBatch {
						t.Errorf("%s: the index scan touched %d buffers for a batch of %d", mode, n, store.PruneBatch)
					}
					if _, err := tx.Exec(ctx, "DEALLOCATE prune"); err != nil {
						return err
					}
					return errRollback // EXPLAIN ANALYZE ran the update: undo it
				})
				if err != errRollback {
					t.Fatal(err)
				}
			}
			// And the statement itself does what the plan says.
			n, _, err := st.PruneEventPayloads(ctx, time.Time{}, before, store.PruneBatch)
			if err != nil || n != c.want {
				t.Fatalf("pruned %d, %v; want %d", n, err, c.want)
			}
		})
	}
}

var errRollback = errors.New("rollback")

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
