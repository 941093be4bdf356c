// Command billwire-loadgen sends realistic, signed Stripe webhook traffic to a
// billwire webhook endpoint on this machine and reports throughput and
// latency. With --out it also writes the expected final state, to check the
// database against afterwards. The traffic is built by internal/loadgen.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/loadgen"
)

const usage = `billwire-loadgen sends signed Stripe webhook events to a billwire endpoint on this machine.

Usage:
  billwire-loadgen --url http://127.0.0.1:8787/webhooks/stripe/test --secret whsec_… [flags]

The events are --events distinct events (plus --duplicates of them sent twice)
over --customers customers: sign-ups through Checkout, renewals, failed
renewals and retries, cancellations, refunds. The same flags and --seed give
the same events, ids included: check against a fresh database.
The secret may also come from $BILLWIRE_LOADGEN_SECRET. Exits 1 if any request
got a non-2xx answer or none.

Flags:
`

// summary is what --out writes.
type summary struct {
	URL         string              `json:"url"`
	Events      int                 `json:"events"`
	Concurrency int                 `json:"concurrency"`
	Duplicates  float64             `json:"duplicates"`
	Shuffle     bool                `json:"shuffle"`
	Customers   int                 `json:"customers"`
	Seed        uint64              `json:"seed"`
	Complete    bool                `json:"complete"` // every event was sent
	Result      loadgen.Result      `json:"result"`
	Expected    loadgen.Expectation `json:"expected"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("billwire-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	url := fs.String("url", "", "webhook endpoint, a loopback address only (required)")
	secret := fs.String("secret", "", "the endpoint's signing secret, whsec_… (required)")
	events := fs.Int("events", 20000, "distinct events to send")
	concurrency := fs.Int("concurrency", 8, "requests in flight at once")
	duplicates := fs.Float64("duplicates", 0, "fraction of the events sent a second time, later (0 to 1)")
	shuffle := fs.Bool("shuffle", false, "send in random order instead of story order")
	customers := fs.Int("customers", 2000, "customers the events are spread over")
	seed := fs.Uint64("seed", 1, "seed of every random choice")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout of each request")
	duration := fs.Duration("duration", 0, "stop after this long (0: no cap)")
	out := fs.String("out", "", "write a JSON summary with the expected final state to this file")
	checkDB := fs.String("check-database", "", "after sending, compare billwire's tables in this database (a PostgreSQL URL) with the expected final state; exit 1 on any difference")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *secret == "" {
		*secret = getenv("BILLWIRE_LOADGEN_SECRET")
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if *url == "" {
		problems = append(problems, "--url is required")
	} else if err := loadgen.CheckURL(*url); err != nil {
		problems = append(problems, strings.TrimPrefix(err.Error(), "loadgen: "))
	}
	if *secret == "" {
		problems = append(problems, "--secret (or $BILLWIRE_LOADGEN_SECRET) is required")
	}
	if *events <= 0 || *concurrency <= 0 || *customers <= 0 || *timeout <= 0 || *duration < 0 {
		problems = append(problems, "--events, --concurrency, --customers and --timeout must be positive")
	}
	if *duplicates < 0 || *duplicates > 1 {
		problems = append(problems, "--duplicates must be between 0 and 1")
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "billwire-loadgen:", p)
		}
		fmt.Fprintln(stderr, "Run billwire-loadgen --help for usage.")
		return 2
	}

	traffic, expect := loadgen.Generate(loadgen.Config{
		Events: *events, Customers: *customers, Duplicates: *duplicates, Shuffle: *shuffle, Seed: *seed,
	})
	fmt.Fprintf(stdout, "sending %d events (%d distinct, %d duplicates) to %s with %d workers\n",
		len(traffic), expect.Events, expect.Duplicates, *url, *concurrency)
	res, err := loadgen.Run(ctx, loadgen.RunConfig{
		URL: *url, Secret: *secret, Concurrency: *concurrency, Timeout: *timeout, Duration: *duration, Prelude: expect.Prelude,
	}, traffic)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "billwire-loadgen:", err)
		return 1
	}
	report(stdout, res)
	for _, f := range res.Failures {
		fmt.Fprintln(stderr, "billwire-loadgen: failed:", f)
	}
	if res.Stopped {
		why := "interrupted"
		if err == nil {
			why = "--duration reached"
		}
		fmt.Fprintf(stdout, "stopped (%s) after %d of %d events: the expected state is for all of them\n", why, res.Sent, len(traffic))
	}

	if *out != "" {
		b, jerr := json.MarshalIndent(summary{
			URL: *url, Events: *events, Concurrency: *concurrency, Duplicates: *duplicates, Shuffle: *shuffle,
			Customers: *customers, Seed: *seed, Complete: !res.Stopped, Result: res, Expected: expect,
		}, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(*out, append(b, '\n'), 0o644)
		}
		if jerr != nil {
			fmt.Fprintln(stderr, "billwire-loadgen:", jerr)
			return 1
		}
	}
	if res.Failed() || err != nil {
		return 1
	}
	if *checkDB != "" {
		if res.Stopped {
			fmt.Fprintln(stderr, "billwire-loadgen: not every event was sent; the database is not checked")
			return 1
		}
		env := "test"
		if strings.HasSuffix(strings.TrimRight(*url, "/"), "/live") {
			env = "live"
		}
		if !checkDatabase(ctx, *checkDB, env, expect, stdout, stderr) {
			return 1
		}
	}
	return 0
}

// checkDatabase compares the database with the expected state and says so.
func checkDatabase(ctx context.Context, dsn, env string, expect loadgen.Expectation, stdout, stderr io.Writer) bool {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		fmt.Fprintln(stderr, "billwire-loadgen: --check-database:", err)
		return false
	}
	defer conn.Close(context.Background())
	diffs, err := loadgen.Check(ctx, conn, env, expect)
	for _, d := range diffs {
		fmt.Fprintln(stderr, "billwire-loadgen: database differs:", d)
	}
	if err != nil {
		fmt.Fprintln(stderr, "billwire-loadgen: --check-database:", err)
		return false
	}
	if len(diffs) > 0 {
		return false
	}
	fmt.Fprintf(stdout, "database checked: %d events, %d subscriptions, %d payments, %d refunds exactly as expected\n",
		expect.DistinctEventIDs, len(expect.Subscriptions), len(expect.Payments), len(expect.Refunds))
	return true
}

func report(w io.Writer, r loadgen.Result) {
	fmt.Fprintf(w, "sent %d events in %.2fs: %.0f events/s\n", r.Sent, r.Elapsed, r.EventsPerSecond)
	var statuses []string
	for _, s := range slices.Sorted(maps.Keys(r.ByStatus)) {
		statuses = append(statuses, fmt.Sprintf("%s: %d", s, r.ByStatus[s]))
	}
	fmt.Fprintf(w, "2xx: %d  non-2xx: %d  errors: %d  (%s)\n", r.OK, r.NotOK, r.Errors, strings.Join(statuses, ", "))
	l := r.Latency
	fmt.Fprintf(w, "latency ms: p50 %.2f  p95 %.2f  p99 %.2f  max %.2f  mean %.2f\n", l.P50, l.P95, l.P99, l.Max, l.Mean)
}
