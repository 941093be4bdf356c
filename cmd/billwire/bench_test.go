package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/stripetest"
)

// BenchmarkColdStart spawns `billwire mcp`, sends initialize and tools/list,
// and waits for the tools/list answer. It reports the median and the peak
// resident memory of the child, and the size of the tools/list answer (the
// JSON-RPC line): what every session's agent reads before its first call,
// with all tools and with --read-only. Run:
//
//	go test -run '^$' -bench ColdStart -benchtime 20x ./cmd/billwire
func BenchmarkColdStart(b *testing.B) {
	bin := binary(b)
	env := append(os.Environ(), "BILLWIRE_MASTER_KEY="+masterKeyB64(1), "DATABASE_URL=postgres://127.0.0.1:1/unused")
	var times []time.Duration
	var maxRSS int64
	var listBytes int
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		line, rss := coldStart(b, bin, env)
		times = append(times, time.Since(start))
		maxRSS, listBytes = max(maxRSS, rss), len(line)
	}
	b.StopTimer()
	readOnly, _ := coldStart(b, bin, env, "--read-only")
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(listBytes), "list-bytes")
	b.ReportMetric(float64(len(readOnly)), "read-only-list-bytes")
}

// coldStart runs `billwire mcp args…` up to its tools/list answer and
// returns that line (without its newline) and the child's peak RSS in KiB.
func coldStart(b *testing.B, bin string, env []string, args ...string) (string, int64) {
	const frames = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/list"}
`
	cmd := exec.Command(bin, append([]string{"mcp"}, args...)...)
	cmd.Env = env
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	io.WriteString(stdin, frames)
	r := bufio.NewReader(stdout)
	var list string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatalf("no tools/list answer: %v", err)
		}
		if strings.Contains(line, `"id":2`) {
			if !strings.Contains(line, "get_payments_status") || strings.Contains(line, "create_plan") != (len(args) == 0) {
				b.Fatalf("tools/list = %s", line)
			}
			list = strings.TrimSuffix(line, "\n")
			break
		}
	}
	stdin.Close()
	cmd.Wait()
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss
	}
	return list, rss
}

// BenchmarkSync runs `billwire sync` against the stateful fake with 25 ms of
// latency per request and a 25 requests/s limit, as Stripe's test mode has,
// and reports objects per second and the child's peak resident memory. Run:
//
//	go test -run '^$' -bench Sync -benchtime 1x -timeout 30m ./cmd/billwire
func BenchmarkSync(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("objects=%dx3", n), func(b *testing.B) {
			bin := binary(b)
			fake := stripetest.StartFake(b, stripetest.FakeOptions{
				Products: 100, Prices: n, Customers: n, Subscriptions: n,
				Latency: 25 * time.Millisecond, RateLimit: 25,
			})
			for range b.N {
				e := benchEnv(b, fake.URL())
				if code, out, errs := runBin(b, bin, e, testKey+"\n", "keys", "set", "--env", "test"); code != 0 {
					b.Fatalf("keys set: %s %s", out, errs)
				}
				start := time.Now()
				cmd := exec.Command(bin, "sync", "--env", "test")
				cmd.Env = e
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("sync: %v\n%s", err, out)
				}
				secs := time.Since(start).Seconds()
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				b.ReportMetric(float64(3*n+100)/secs, "objects/s")
				b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
				b.ReportMetric(float64(fake.RateLimited()), "429s")
			}
		})
	}
}

func benchEnv(b *testing.B, base string) []string {
	dsn := benchDSN(b)
	return append(os.Environ(), "DATABASE_URL="+dsn, "BILLWIRE_MASTER_KEY="+masterKeyB64(5), "BILLWIRE_STRIPE_API_BASE="+base,
		"BILLWIRE_LOG_LEVEL=warn")
}

func runBin(b *testing.B, bin string, env []string, stdin string, args ...string) (int, string, string) {
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	cmd.Run()
	return cmd.ProcessState.ExitCode(), out.String(), errs.String()
}
