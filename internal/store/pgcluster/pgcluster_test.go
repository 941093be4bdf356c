package pgcluster_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/billwire/billwire/internal/store/pgcluster"
)

// TestCrashKeepsCommittedRows crashes the server under write load and checks
// that every acknowledged commit survives crash recovery, and that open
// connections get an error rather than hang.
func TestCrashKeepsCommittedRows(t *testing.T) {
	t.Parallel()
	c := pgcluster.Start(t)
	if c.Port() == 5432 {
		t.Fatal("cluster runs on 5432, the shared server's port")
	}
	if want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port()); c.DSN("postgres") != want {
		t.Fatalf("DSN = %s, want %s", c.DSN("postgres"), want)
	}
	ctx := context.Background()
	pool := connectPool(t, c)
	if _, err := pool.Exec(ctx, `CREATE TABLE rows (id bigint PRIMARY KEY, note text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := tx.Exec(ctx, `INSERT INTO rows VALUES ($1, 'before')`, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	// Open connections: one idle, one in the middle of a long query.
	idle, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(ctx)
	busy, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close(ctx)
	sleepDone := make(chan error, 1)
	go func() {
		_, err := busy.Exec(ctx, `SELECT pg_sleep(60)`)
		sleepDone <- err
	}()

	// Writers insert one row per transaction; a row whose commit returned
	// without error is acknowledged and must survive the crash.
	const writers = 4
	var (
		stopping atomic.Bool
		acked    [writers][]int64
		early    [writers]error
		total    atomic.Int64
		wg       sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); ; i++ {
				id := int64(w+1)*1_000_000 + i
				if _, err := pool.Exec(ctx, `INSERT INTO rows VALUES ($1, 'load')`, id); err != nil {
					if !stopping.Load() {
						early[w] = err
					}
					return
				}
				acked[w] = append(acked[w], id)
				total.Add(1)
			}
		}()
	}
	for deadline := time.Now().Add(20 * time.Second); total.Load() < 200; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d rows written under load in 20s", total.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}

	stopping.Store(true)
	c.StopImmediate(t)

	select {
	case err := <-sleepDone:
		if err == nil {
			t.Fatal("query running during StopImmediate succeeded")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("query running during StopImmediate hangs")
	}
	qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = idle.Exec(qctx, `SELECT 1`)
	cancel()
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("idle connection after StopImmediate: err = %v, want a connection error, promptly", err)
	}
	waitGroup(t, &wg, 15*time.Second, "writers after StopImmediate")
	for w, err := range early {
		if err != nil {
			t.Fatalf("writer %d failed before the crash: %v", w, err)
		}
	}
	pool.Close()

	c.Start(t)
	log, err := os.ReadFile(c.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "automatic recovery in progress") {
		t.Fatalf("no crash recovery in the server log after StopImmediate:\n%s", log)
	}
	got := ids(t, c)
	var want []int64
	for i := range 100 {
		want = append(want, int64(i))
	}
	for _, a := range acked {
		want = append(want, a...)
	}
	for _, id := range want {
		if !got[id] {
			t.Fatalf("committed row %d lost in the crash (%d committed, %d after recovery)", id, len(want), len(got))
		}
	}
	t.Logf("%d committed rows (%d under load) all survived; %d rows after recovery", len(want), total.Load(), len(got))

	// A clean stop and start keeps them too.
	c.Stop(t)
	c.Start(t)
	if n := len(ids(t, c)); n != len(got) {
		t.Fatalf("rows after stop and start = %d, want %d", n, len(got))
	}
}

// TestParallelClustersGetDifferentPorts runs clusters at the same time and
// checks that each has its own port and its own server.
func TestParallelClustersGetDifferentPorts(t *testing.T) {
	t.Parallel()
	const n = 2
	var (
		mu      sync.Mutex
		ports   = map[int]bool{}
		systems = map[int64]bool{}
		arrived sync.WaitGroup
	)
	arrived.Add(n)
	// With -parallel 1 the subtests run one after the other, and waiting for
	// the other cluster to be up would never end.
	together := parallelism() >= n
	t.Run("group", func(t *testing.T) {
		for i := range n {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				var once sync.Once
				done := func() { once.Do(arrived.Done) }
				defer done()
				c := pgcluster.Start(t)
				var sys int64
				conn, err := pgx.Connect(context.Background(), c.DSN("postgres"))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				if err := conn.QueryRow(context.Background(), `SELECT system_identifier FROM pg_control_system()`).Scan(&sys); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				ports[c.Port()] = true
				systems[sys] = true
				mu.Unlock()
				done()
				if together {
					// Both clusters are up now; each still answers on its own port.
					waitGroup(t, &arrived, 2*time.Minute, "the other cluster")
					var again int64
					if err := conn.QueryRow(context.Background(), `SELECT system_identifier FROM pg_control_system()`).Scan(&again); err != nil || again != sys {
						t.Fatalf("system identifier = %d (%v), want %d", again, err, sys)
					}
				}
			})
		}
	})
	if len(ports) != n || len(systems) != n || ports[5432] {
		t.Fatalf("%d clusters got ports %v and %d distinct servers; want %d different ports, none 5432", n, ports, len(systems), n)
	}
}

// connectPool opens a pool on the cluster's postgres database, closed when the test ends.
func connectPool(t *testing.T, c *pgcluster.Cluster) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// ids returns the ids in the test table.
func ids(t *testing.T, c *pgcluster.Cluster) map[int64]bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id FROM rows`)
	if err != nil {
		t.Fatal(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[int64]bool, len(list))
	for _, id := range list {
		got[id] = true
	}
	return got
}

// waitGroup waits for wg, failing the test after timeout.
func waitGroup(t *testing.T, wg *sync.WaitGroup, timeout time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// parallelism returns the -test.parallel setting.
func parallelism() int {
	if f := flag.Lookup("test.parallel"); f != nil {
		if n, err := strconv.Atoi(f.Value.String()); err == nil {
			return n
		}
	}
	return 1
}
