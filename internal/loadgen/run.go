package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
)

// RunConfig says where and how [Run] sends the events.
type RunConfig struct {
	// URL is the webhook endpoint, e.g.
	// http://127.0.0.1:8787/webhooks/stripe/test. Only loopback addresses
	// are accepted.
	URL string
	// Secret is the endpoint's signing secret (whsec_…); every request is
	// signed with it when it is sent.
	Secret string
	// Concurrency is the number of workers sending at once; default 8.
	Concurrency int
	// Timeout bounds each request; default 5s.
	Timeout time.Duration
	// Duration, when positive, caps the whole run; requests in flight when
	// it ends are abandoned and not counted.
	Duration time.Duration
	// Prelude is the number of leading events sent one at a time before the
	// workers start (Expectation.Prelude: the catalog).
	Prelude int
	// Client sends the requests. By default each worker keeps one
	// connection of its own for an http URL (lighter on the CPU it shares
	// with the endpoint than an http.Client), and uses NewClient for https.
	Client *http.Client
}

// Result is what [Run] measured.
type Result struct {
	// Sent counts the requests that got an answer or failed; requests cut
	// off by RunConfig.Duration or the context are not counted.
	Sent int `json:"sent"`
	// Elapsed is the wall time of the run in seconds.
	Elapsed float64 `json:"elapsed_s"`
	// EventsPerSecond is Sent / Elapsed.
	EventsPerSecond float64 `json:"events_per_s"`
	// OK counts 2xx answers, NotOK other answers, Errors requests without
	// an answer (connection errors, timeouts).
	OK     int `json:"ok"`
	NotOK  int `json:"not_ok"`
	Errors int `json:"errors"`
	// ByStatus counts answers by HTTP status code, and errors as "error".
	ByStatus map[string]int `json:"by_status"`
	// Latency of the counted requests, in milliseconds.
	Latency Latency `json:"latency_ms"`
	// Stopped is set when the run ended before every event was sent.
	Stopped bool `json:"stopped"`
	// Failures holds up to ten examples of non-2xx answers and errors.
	Failures []string `json:"failures,omitempty"`
}

// Latency summarizes request latencies in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Failed reports whether any request got a non-2xx answer or none.
func (r Result) Failed() bool { return r.NotOK > 0 || r.Errors > 0 }

const maxFailures = 10

// Run posts events to cfg.URL in order, the first cfg.Prelude one at a time
// and the rest with cfg.Concurrency workers, each signed (Stripe-Signature)
// at the moment it is sent. It returns when every event was sent, the
// Duration cap is reached or ctx is done; in the last case the error is
// ctx.Err() and the Result covers what was sent.
func Run(ctx context.Context, cfg RunConfig, events [][]byte) (Result, error) {
	if err := CheckURL(cfg.URL); err != nil {
		return Result{}, err
	}
	if cfg.Secret == "" {
		return Result{}, errors.New("loadgen: no signing secret")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	// A sender posts one event: over a connection of the worker's own for
	// plain http (see connSender), else with an http.Client.
	newSender := func() (post func(ctx context.Context, payload []byte) (int, string, error), done func()) {
		u, _ := url.Parse(cfg.URL) // CheckURL parsed it
		if cfg.Client == nil && u.Scheme == "http" {
			s := newConnSender(u, cfg.Secret, cfg.Timeout)
			return s.post, s.close
		}
		client := cfg.Client
		if client == nil {
			client = NewClient(1)
		}
		return func(ctx context.Context, payload []byte) (int, string, error) {
				return postHTTP(ctx, client, cfg, payload)
			}, func() {
				if cfg.Client == nil {
					client.CloseIdleConnections()
				}
			}
	}

	runCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}

	r := &recorder{latencies: make([]time.Duration, len(events)), done: make([]bool, len(events)), status: make([]int, len(events))}
	send := func(post func(context.Context, []byte) (int, string, error), i int) {
		start := time.Now()
		status, detail, err := post(runCtx, events[i])
		elapsed := time.Since(start)
		if err != nil && runCtx.Err() != nil {
			return // cut off by the cap or the caller: not counted
		}
		r.record(i, elapsed, status, detail, err)
	}

	start := time.Now()
	pre := min(max(cfg.Prelude, 0), len(events))
	posts := make([]func(context.Context, []byte) (int, string, error), cfg.Concurrency)
	for w := range posts {
		var done func()
		posts[w], done = newSender()
		defer done()
	}
	for i := range pre {
		if runCtx.Err() != nil {
			break
		}
		send(posts[0], i) // the first worker's connection
	}
	var next atomic.Int64
	next.Store(int64(pre))
	var wg sync.WaitGroup
	for _, post := range posts {
		wg.Go(func() {
			for runCtx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(events) {
					return
				}
				send(post, i)
			}
		})
	}
	wg.Wait()
	res := r.result(time.Since(start))
	res.Stopped = res.Sent < len(events)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// postHTTP sends one event and drains the answer so the connection is reused.
func postHTTP(ctx context.Context, client *http.Client, cfg RunConfig, payload []byte) (status int, detail string, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(payload))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, cfg.Secret, time.Now()))
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		detail = string(bytes.TrimSpace(b))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, detail, nil
}

// NewClient returns the HTTP client Run uses by default: keep-alive
// connections for concurrency workers, no proxy (the environment's proxy
// settings are ignored), no redirects followed.
func NewClient(concurrency int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * max(concurrency, 1),
			MaxIdleConnsPerHost: 2 * max(concurrency, 1),
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// CheckURL accepts http(s) URLs whose host is a loopback address or
// "localhost": the load generator never sends traffic anywhere else.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("loadgen: URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("loadgen: URL %q: want http:// or https://", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("loadgen: URL %q: only loopback addresses (127.0.0.1, ::1, localhost) are allowed", raw)
	}
	return nil
}

type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	done      []bool
	status    []int // 0: error
	failures  []string
}

func (r *recorder) record(i int, d time.Duration, status int, detail string, err error) {
	r.latencies[i], r.done[i], r.status[i] = d, true, status // each i is written by one worker
	if err == nil && status/100 == 2 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) < maxFailures {
		if err != nil {
			r.failures = append(r.failures, fmt.Sprintf("event %d: %v", i, err))
		} else {
			r.failures = append(r.failures, fmt.Sprintf("event %d: HTTP %d: %s", i, status, detail))
		}
	}
}

func (r *recorder) result(elapsed time.Duration) Result {
	res := Result{Elapsed: elapsed.Seconds(), ByStatus: map[string]int{}, Failures: r.failures}
	var lat []time.Duration
	var sum time.Duration
	for i, done := range r.done {
		if !done {
			continue
		}
		res.Sent++
		lat = append(lat, r.latencies[i])
		sum += r.latencies[i]
		switch s := r.status[i]; {
		case s == 0:
			res.Errors++
			res.ByStatus["error"]++
		case s/100 == 2:
			res.OK++
			res.ByStatus[strconv.Itoa(s)]++
		default:
			res.NotOK++
			res.ByStatus[strconv.Itoa(s)]++
		}
	}
	if elapsed > 0 {
		res.EventsPerSecond = float64(res.Sent) / elapsed.Seconds()
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.Latency = Latency{
			P50:  ms(percentile(lat, 0.50)),
			P95:  ms(percentile(lat, 0.95)),
			P99:  ms(percentile(lat, 0.99)),
			Max:  ms(lat[len(lat)-1]),
			Mean: ms(sum / time.Duration(len(lat))),
		}
	}
	return res
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}
