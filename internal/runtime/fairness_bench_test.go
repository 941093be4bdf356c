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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// BenchmarkCheckoutFairness measures what one user's flood does to other
// users' checkouts. billwire serve's handler, with its default session
// rates, talks to the stateful fake Stripe (25 ms per request, 25 requests
// a second, as test mode allows) through the client's default test-mode
// pacer. Other users check out one after another, one every 100 ms, each
// for itself (b.N checkouts a phase, each user once, its customer made
// beforehand): alone, and while one user's token posts checkouts at
// concurrency 8 without pause, each with its own success URL so that no
// reuse answers them; the two phases alternate in four rounds. It reports the others' p95 in both phases and their
// ratio, and how the flood was answered. BENCH_SESSION_RATES=off runs the
// same without limits, for comparison.
//
//	go test -run '^$' -bench CheckoutFairness -benchtime 200x ./internal/runtime/
func BenchmarkCheckoutFairness(b *testing.B) {
	ctx := context.Background()
	gc := debug.SetGCPercent(100)
	debug.SetGCPercent(gc)
	defer debug.SetGCPercent(gc)
	runtime.TuneGC(os.Getenv) // as billwire serve runs
	st := storetest.New(b)
	fake := stripetest.StartFake(b, stripetest.FakeOptions{Latency: 25 * time.Millisecond, RateLimit: 25})
	log := zerolog.New(io.Discard)
	seedCatalog(b, st)
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL()}, log)
	if _, err := svc.ConfigureKey(ctx, vocab.Test, testKey, false); err != nil {
		b.Fatal(err)
	}
	origins, _ := auth.ParseOrigins(appOrigin)
	cfg := runtime.APIConfig{JWT: auth.JWTConfig{HS256Secret: jwtSecret}, Origins: origins}
	if os.Getenv("BENCH_SESSION_RATES") == "off" {
		cfg.Rates = &runtime.SessionRates{}
	}
	srv, err := runtime.New(st, svc, log, runtime.Options{API: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Processor().Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	// Every user has its customer already, so that a checkout is one
	// Stripe request.
	users := func(prefix string, n int) []string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s%d", prefix, i)
			if _, err := st.SubjectCustomer(ctx, vocab.Test, "user", ids[i], nil, func(context.Context, string) (string, json.RawMessage, error) {
				return "cus_bench_" + ids[i], nil, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		return ids
	}
	warm, alone, loaded := users("u_warm", 8), users("u_alone", b.N), users("u_loaded", b.N)
	flooder := users("u_flood", 1)[0]

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	tokens := map[string]string{}
	sign := func(sub string) string {
		if t, ok := tokens[sub]; ok {
			return t
		}
		t, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).
			SignedString([]byte(jwtSecret))
		if err != nil {
			b.Fatal(err)
		}
		tokens[sub] = t
		return t
	}
	post := func(tok string, body []byte) (int, error) {
		req, _ := http.NewRequest("POST", hs.URL+checkoutPath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	bodyFor := func(sub string, i int) []byte {
		j, _ := json.Marshal(distinct(user(sub), int64(i)))
		return j
	}
	// checkouts runs one checkout per user, one every 100 ms, and returns
	// their latencies.
	checkouts := func(ids []string) []time.Duration {
		var out []time.Duration
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for _, id := range ids {
			tok, body := sign(id), bodyFor(id, 0)
			start := time.Now()
			code, err := post(tok, body)
			if err != nil || code != http.StatusCreated {
				b.Fatalf("checkout of %s: %d %v", id, code, err)
			}
			out = append(out, time.Since(start))
			<-tick.C
		}
		return out
	}
	p95 := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[int(0.95*float64(len(s)-1))].Microseconds()) / 1000
	}
	p50 := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[len(s)/2].Microseconds()) / 1000
	}
	checkouts(warm)
	for _, id := range append(append([]string{flooder}, alone...), loaded...) {
		sign(id)
	}

	var mu sync.Mutex
	answers := map[int]int{}
	var seq atomic.Int64
	floodTok := sign(flooder)
	// The flood's bodies are made once: the attacker's CPU is not billwire's.
	floods := make([][]byte, 20_000)
	for i := range floods {
		floods[i] = bodyFor(flooder, i+1)
	}
	flood := func() (stop func()) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					code, err := post(floodTok, floods[int(seq.Add(1))%len(floods)])
					if err != nil {
						code = -1
					}
					mu.Lock()
					answers[code]++
					mu.Unlock()
				}
			}()
		}
		return func() { close(done); wg.Wait() }
	}

	// The phases alternate in rounds (alone, flood, alone, flood, …), so
	// that a change in the machine's other load meanwhile weighs on both.
	b.ResetTimer()
	var unloaded, during []time.Duration
	const rounds = 4
	for i := range rounds {
		lo, hi := i*b.N/rounds, (i+1)*b.N/rounds
		unloaded = append(unloaded, checkouts(alone[lo:hi])...)
		stop := flood()
		during = append(during, checkouts(loaded[lo:hi])...)
		stop()
	}
	b.StopTimer()

	u, l := p95(unloaded), p95(during)
	b.ReportMetric(u, "unloaded-p95-ms")
	b.ReportMetric(l, "loaded-p95-ms")
	b.ReportMetric(l/u, "ratio")
	b.ReportMetric(p50(unloaded), "unloaded-p50-ms")
	b.ReportMetric(p50(during), "loaded-p50-ms")
	b.ReportMetric(float64(answers[http.StatusCreated]), "flood-created")
	b.ReportMetric(float64(answers[http.StatusTooManyRequests]), "flood-429s")
	b.ReportMetric(float64(fake.RateLimited()), "stripe-429s")
	b.ReportMetric(0, "ns/op")
}
