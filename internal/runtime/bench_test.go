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
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/checkout"
	"github.com/billwire/billwire/internal/ratelimit"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

type stripeTimeKey struct{}

// stripeTime is the wall time a request spent waiting for Stripe: the union
// of its Stripe round trips, so that two calls in flight at once (a
// preview's two) count once.
type stripeTime struct {
	mu       sync.Mutex
	inflight int
	since    time.Time
	total    time.Duration
}

func (s *stripeTime) begin() {
	s.mu.Lock()
	if s.inflight == 0 {
		s.since = time.Now()
	}
	s.inflight++
	s.mu.Unlock()
}

func (s *stripeTime) end() {
	s.mu.Lock()
	if s.inflight--; s.inflight == 0 {
		s.total += time.Since(s.since)
	}
	s.mu.Unlock()
}

func (s *stripeTime) waited() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// timedTransport adds the time of each Stripe round trip (response body
// included) to the request's stripeTime, so the handler's own time can be
// told apart.
type timedTransport struct{}

func (timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	acc, _ := r.Context().Value(stripeTimeKey{}).(*stripeTime)
	if acc != nil {
		acc.begin()
		defer acc.end()
	}
	resp, err := stripeapi.Transport.RoundTrip(r)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, err
}

// BenchmarkCheckoutOverhead measures what billwire adds to a checkout-session
// request beyond its Stripe calls (authentication, rows, mapping lookup,
// session row), at concurrency 8, against stripe-mock: server time minus
// the time spent waiting for Stripe. The 500 subjects already have their
// customer (made through the recording proxy, since stripe-mock gives every
// customer the same id), as for every checkout after a subject's first.
// BENCH_CONCURRENCY changes the concurrency.
//
//	go test -run '^$' -bench CheckoutOverhead -benchtime 4000x ./internal/runtime/
func BenchmarkCheckoutOverhead(b *testing.B) {
	ctx := context.Background()
	gc := debug.SetGCPercent(100)
	debug.SetGCPercent(gc)
	defer debug.SetGCPercent(gc)
	runtime.TuneGC(os.Getenv) // as billwire serve runs
	st := storetest.New(b)
	mock := stripetest.Mock(b)
	rec := stripetest.StartRecorder(b, mock)
	log := zerolog.New(io.Discard)
	origins, _ := auth.ParseOrigins(appOrigin)
	seedCatalog(b, st)
	setup := billing.New(billing.Static(st), stripeapi.Options{BaseURL: rec.URL(), RateLimit: 1e6}, log)
	if _, err := setup.ConfigureKey(ctx, vocab.Test, testKey, false); err != nil {
		b.Fatal(err)
	}
	const subjects = 500
	for i := range subjects {
		if _, err := setup.Checkout().CreateCheckout(ctx, vocab.Test, auth.MCPCaller, origins, mustCheckout(checkoutBody(user(fmt.Sprintf("u_%d", i))))); err != nil {
			b.Fatal(err)
		}
	}
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: mock, RateLimit: 1e6,
		HTTPClient: &http.Client{Transport: timedTransport{}, Timeout: 30 * time.Second}}, log)
	// One API key posts thousands of checkouts a second for 500 subjects:
	// far over the default session rates (600/m a key, 10/m a subject),
	// which this benchmark raises, since it measures billwire's overhead,
	// not its limits (the limiter's own cost is still paid per request).
	rates := runtime.DefaultSessionRates()
	rates.Key = ratelimit.Rate{N: 1_000_000, Period: time.Second, Burst: 1_000_000}
	rates.Subject = rates.Key
	srv, err := runtime.New(st, svc, log, runtime.Options{API: runtime.APIConfig{Origins: origins, Rates: &rates}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Processor().Close()
	var m overheadMeter
	hs := httptest.NewServer(m.wrap(srv.Handler()))
	defer hs.Close()
	key, hash, hint := auth.NewAPIKey()
	if _, err := st.CreateAPIKey(ctx, vocab.Test, "bench", hash, hint); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	// The bodies are made once: the client stands for the app's backend,
	// whose CPU is not billwire's.
	bodies := make([][]byte, subjects)
	for i := range bodies {
		bodies[i], _ = json.Marshal(checkoutBody(user(fmt.Sprintf("u_%d", i))))
	}
	post := func(i int) error {
		req, _ := http.NewRequest("POST", hs.URL+"/api/payments/test/checkout-sessions", bytes.NewReader(bodies[i%subjects]))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	m.run(b, post)
}

// overheadMeter records, for each session API request, the server's time
// and that time less the time spent waiting for Stripe (timedTransport):
// billwire's overhead.
type overheadMeter struct {
	mu              sync.Mutex
	overhead, total []time.Duration
}

// wrap measures h's /api/ requests (webhook deliveries pass unmeasured).
func (m *overheadMeter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			h.ServeHTTP(w, r)
			return
		}
		acc := &stripeTime{}
		start := time.Now()
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stripeTimeKey{}, acc)))
		d := time.Since(start)
		m.mu.Lock()
		m.overhead, m.total = append(m.overhead, d-acc.waited()), append(m.total, d)
		m.mu.Unlock()
	})
}

// run warms up with 16 posts, then calls post(i) for each i below b.N at
// concurrency 8 (BENCH_CONCURRENCY) and reports the percentiles.
func (m *overheadMeter) run(b *testing.B, post func(i int) error) {
	for i := range 16 { // warm up connections and caches
		if err := post(i); err != nil {
			b.Fatal(err)
		}
	}
	m.mu.Lock()
	m.overhead, m.total = nil, nil
	m.mu.Unlock()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	conc := 8
	if c, err := strconv.Atoi(os.Getenv("BENCH_CONCURRENCY")); err == nil && c > 0 {
		conc = c
	}
	errs := make(chan error, conc)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := post(i + 16); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	pct := func(ds []time.Duration, p float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(m.overhead, 0.50), "overhead-p50-ms")
	b.ReportMetric(pct(m.overhead, 0.95), "overhead-p95-ms")
	b.ReportMetric(pct(m.overhead, 0.99), "overhead-p99-ms")
	b.ReportMetric(pct(m.total, 0.50), "total-p50-ms")
}

func mustCheckout(m map[string]any) checkout.CheckoutRequest {
	var r checkout.CheckoutRequest
	b, _ := json.Marshal(m)
	if err := json.Unmarshal(b, &r); err != nil {
		panic(err)
	}
	return r
}
