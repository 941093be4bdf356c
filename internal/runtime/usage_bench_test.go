package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	goruntime "runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/usage"
	"github.com/billwire/billwire/internal/vocab"
)

// With BENCH_USAGE_SENDER=1 a usage sender runs during the load against
// the stateful fake Stripe limited to 100 requests a second, its own pacer
// at 90; after the load it drains, and the benchmark checks that Stripe's
// total per customer equals the sum accepted, and reports the fake's 429s
// and the sender's peak heap (no pgbench then).
//
// BenchmarkUsageIngest posts b.N batches of 100 usage events at
// concurrency 8 to POST /api/payments/test/usage (the session API's
// handler over HTTP, durable: synchronous commit), then checks that every
// accepted event is in the database with its value. It reports events/s
// and the request latency percentiles, then runs the bare-database
// ceiling, pgbench with testdata/usage_pgbench.sql (one 100-row INSERT per
// transaction into a table LIKE payments.usage_events) on the same server,
// and reports the ratio (skipped when pgbench is not installed).
//
//	go test -run '^$' -bench UsageIngest -benchtime 3000x ./internal/runtime/
func BenchmarkUsageIngest(b *testing.B) {
	const batch, conc = 100, 8
	ctx := context.Background()
	runtime.TuneGC(os.Getenv)
	st := storetest.New(b)
	seedMeter(b, st, vocab.Test, "mtr_Bench", "api_tokens", "sum")
	log := zerolog.New(io.Discard)
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: "http://127.0.0.1:9"}, log)
	srv, err := runtime.New(st, svc, log, runtime.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Processor().Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	key, hash, hint := auth.NewAPIKey()
	if _, err := st.CreateAPIKey(ctx, vocab.Test, "bench", hash, hint); err != nil {
		b.Fatal(err)
	}
	// The bodies are made before the clock starts: the client stands for
	// the app's backend, whose CPU is not billwire's.
	bodies := make([][]byte, b.N+16)
	for i := range bodies {
		evs := make([]map[string]any, batch)
		for k := range evs {
			evs[k] = map[string]any{"event_name": "api_tokens", "subject": user(fmt.Sprint("u_", (i*batch+k)%1000)),
				"value": k + 1, "identifier": fmt.Sprintf("b%d-%d", i, k)}
		}
		bodies[i], _ = json.Marshal(events(evs...))
	}
	var sender *benchSender
	if os.Getenv("BENCH_USAGE_SENDER") == "1" {
		sender = startBenchSender(b, st)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * conc}}
	var mu sync.Mutex
	var lat []time.Duration
	post := func(i int) error {
		req, _ := http.NewRequest("POST", hs.URL+usagePath, bytes.NewReader(bodies[i]))
		req.Header.Set("Authorization", "Bearer "+key)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		var res struct{ Accepted int }
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusAccepted || res.Accepted != batch {
			return fmt.Errorf("batch %d: status %d, accepted %d (%v)", i, resp.StatusCode, res.Accepted, err)
		}
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		return nil
	}
	for i := range 16 { // warm up connections and caches
		if err := post(b.N + i); err != nil {
			b.Fatal(err)
		}
	}
	lat = nil
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < b.N; i = int(next.Add(1)) - 1 {
				if err := post(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	checkIngested(b, st, b.N+16, batch)
	rate := float64(b.N*batch) / elapsed.Seconds()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if sender != nil {
		sender.finish(b, st)
		return
	}
	if ceiling := pgbenchCeiling(b, st); ceiling > 0 {
		b.ReportMetric(ceiling, "pgbench-events/s")
		b.ReportMetric(rate/ceiling, "ratio")
	}
}

// checkIngested checks that every accepted event is stored: batches of n
// events numbered b<i>-<k>, each with value k+1.
func checkIngested(b *testing.B, st *store.Store, batches, n int) {
	b.Helper()
	var count, bad int64
	var sum float64
	err := st.Pool().QueryRow(context.Background(), `
		SELECT count(*), coalesce(sum(value), 0)::float8,
			count(*) FILTER (WHERE value <> split_part(identifier, '-', 2)::int + 1 OR meter_id <> 'mtr_Bench' OR status NOT IN ('pending', 'sent'))
		FROM payments.usage_events WHERE env = 'test'`).Scan(&count, &sum, &bad)
	if err != nil {
		b.Fatal(err)
	}
	if want := float64(batches) * float64(n*(n+1)/2); count != int64(batches*n) || sum != want || bad != 0 {
		b.Fatalf("stored %d events summing %v (%d wrong), want %d summing %v", count, sum, bad, batches*n, want)
	}
}

var tpsRE = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)

// pgbenchCeiling runs testdata/usage_pgbench.sql with pgbench at
// concurrency 8 for 10 s against the benchmark's database and returns the
// events inserted per second, or 0 when pgbench is not installed.
func pgbenchCeiling(b *testing.B, st *store.Store) float64 {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		b.Log("pgbench not installed: no ceiling")
		return 0
	}
	if _, err := st.Pool().Exec(context.Background(), `CREATE TABLE bench_usage_events (LIKE payments.usage_events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	cc := st.Pool().Config().ConnConfig
	cmd := exec.Command(bin, "-n", "-M", "prepared", "-c", "8", "-j", "2", "-T", "10", "-f", "testdata/usage_pgbench.sql",
		"-h", cc.Host, "-p", strconv.Itoa(int(cc.Port)), "-U", cc.User, cc.Database)
	cmd.Env = append(os.Environ(), "PGSSLMODE=disable")
	if cc.Password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+cc.Password)
	}
	out, err := cmd.CombinedOutput()
	m := tpsRE.FindSubmatch(out)
	if err != nil || m == nil {
		b.Fatalf("pgbench: %v\n%s", err, out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	return tps * 100
}

// benchSender is a usage sender running beside the load.
type benchSender struct {
	fake     *stripetest.Fake
	cancel   context.CancelFunc
	done     chan struct{}
	peakHeap atomic.Uint64
}

const benchStripeKey = "sk_test_51BillwireBenchUsage00000000004242"

func startBenchSender(b *testing.B, st *store.Store) *benchSender {
	ctx := context.Background()
	bs := &benchSender{fake: stripetest.StartFake(b, stripetest.FakeOptions{RateLimit: 100}), done: make(chan struct{})}
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: bs.fake.URL(), RateLimit: 90}, zerolog.Nop())
	if _, err := svc.ConfigureKey(ctx, vocab.Test, benchStripeKey, false); err != nil {
		b.Fatal(err)
	}
	// The fake gets a meter of the events' name (billwire's mirror keeps
	// mtr_Bench, which the events were accepted for).
	c, err := stripeapi.New(vocab.Test, benchStripeKey, stripeapi.Options{BaseURL: bs.fake.URL()})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := c.CreateMeter(ctx, &stripe.BillingMeterParams{EventName: stripe.String("api_tokens"), DisplayName: stripe.String("Tokens"),
		DefaultAggregation: &stripe.BillingMeterDefaultAggregationParams{Formula: stripe.String("sum")}}, "bench-meter"); err != nil {
		b.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id)
		SELECT 'test', 'user', 'u_' || i, 'cus_bench' || i FROM generate_series(0, 999) i`); err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	bs.cancel = cancel
	go func() {
		defer close(bs.done)
		usage.NewSender(svc, zerolog.Nop(), 0).Run(runCtx)
	}()
	go func() {
		var ms goruntime.MemStats
		for runCtx.Err() == nil {
			goruntime.ReadMemStats(&ms)
			if ms.HeapInuse > bs.peakHeap.Load() {
				bs.peakHeap.Store(ms.HeapInuse)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return bs
}

// finish waits until everything is sent, stops the sender and checks
// Stripe's totals against the database's.
func (bs *benchSender) finish(b *testing.B, st *store.Store) {
	ctx := context.Background()
	start := time.Now()
	for {
		u, err := st.UsageSender(ctx, vocab.Test)
		if err != nil {
			b.Fatal(err)
		}
		if u == nil || (u.Unbucketed == 0 && u.Pending == 0) {
			break
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("the sender did not drain: %+v", u)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.ReportMetric(time.Since(start).Seconds(), "drain-s")
	bs.cancel()
	<-bs.done
	rows, err := st.Pool().Query(ctx, `SELECT subject_id, sum(value)::float8 FROM payments.usage_events GROUP BY subject_id`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var subject string
		var sum float64
		if err := rows.Scan(&subject, &sum); err != nil {
			b.Fatal(err)
		}
		if got := bs.fake.MeterTotal(benchStripeKey, "api_tokens", "cus_bench"+subject[2:]); got != sum {
			b.Fatalf("Stripe counts %v for %s, accepted %v", got, subject, sum)
		}
	}
	ids, dups := bs.fake.MeterEventIdentifiers(benchStripeKey)
	b.ReportMetric(float64(len(ids)), "meter-events")
	b.ReportMetric(float64(dups), "duplicates")
	b.ReportMetric(float64(bs.fake.RateLimited()), "stripe-429s")
	b.ReportMetric(float64(bs.peakHeap.Load())/(1<<20), "peak-heap-MB")
}
