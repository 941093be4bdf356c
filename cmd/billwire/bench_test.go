package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/stripetest"
)

// BenchmarkColdStart spawns `billwire mcp`, sends initialize and tools/list,
// and waits for the tools/list answer; it does the same with the floor, a
// one-tool mcp-go server (internal/coldfloor), each billwire spawn followed
// or preceded by one of the floor's, so that both see the same machine load.
// It reports the medians (median-ms, floor-median-ms, their ratio), the
// children's peak resident memory (peak-RSS-MiB, floor-peak-RSS-MiB: the
// largest over the spawns, from rusage), and the size of the tools/list
// answer (the JSON-RPC line): what every session's agent reads before its
// first call, with all tools and with --read-only. Run (at least 50 spawns
// of each):
//
//	go test -run '^$' -bench ColdStart -benchtime 60x ./cmd/billwire
func BenchmarkColdStart(b *testing.B) {
	bin, floor := binary(b), floorBinary(b)
	env := append(os.Environ(), "BILLWIRE_MASTER_KEY="+masterKeyB64(1), "DATABASE_URL=postgres://127.0.0.1:1/unused")
	var bw, fl coldStats
	var listBytes int
	b.ResetTimer()
	for i := range b.N {
		runBW := func() { listBytes = len(bw.spawn(b, bin, env, "mcp")) }
		runFloor := func() { fl.spawn(b, floor, env) }
		if i%2 == 0 {
			runBW()
			runFloor()
		} else {
			runFloor()
			runBW()
		}
	}
	b.StopTimer()
	readOnly, _ := coldStart(b, bin, env, "mcp", "--read-only")
	b.ReportMetric(bw.median(), "median-ms")
	b.ReportMetric(fl.median(), "floor-median-ms")
	b.ReportMetric(bw.median()/fl.median(), "ratio")
	b.ReportMetric(float64(bw.maxRSS)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(fl.maxRSS)/1024, "floor-peak-RSS-MiB")
	b.ReportMetric(float64(listBytes), "list-bytes")
	b.ReportMetric(float64(len(readOnly)), "read-only-list-bytes")
}

// coldStats are one server's spawn times and largest peak RSS (KiB).
type coldStats struct {
	times  []time.Duration
	maxRSS int64
}

func (c *coldStats) spawn(b *testing.B, bin string, env []string, args ...string) string {
	start := time.Now()
	line, rss := coldStart(b, bin, env, args...)
	c.times = append(c.times, time.Since(start))
	c.maxRSS = max(c.maxRSS, rss)
	return line
}

// median is the median spawn time in milliseconds.
func (c *coldStats) median() float64 {
	slices.Sort(c.times)
	return float64(c.times[len(c.times)/2].Microseconds()) / 1000
}

// floorBinary builds the floor server once per test binary.
func floorBinary(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "coldfloor")
	if out, err := exec.Command("go", "build", "-o", bin, "./internal/coldfloor").CombinedOutput(); err != nil {
		b.Fatalf("go build coldfloor: %v\n%s", err, out)
	}
	return bin
}

// coldStart runs `bin args…` up to its tools/list answer and returns that
// line (without its newline) and the child's peak RSS in KiB. For billwire
// mcp it checks that the answer lists the tools args select.
func coldStart(b *testing.B, bin string, env []string, args ...string) (string, int64) {
	const frames = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/list"}
`
	cmd := exec.Command(bin, args...)
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
			all := len(args) == 1 // billwire mcp without flags lists create_plan
			if !strings.Contains(line, "get_payments_status") || (len(args) > 0 && strings.Contains(line, "create_plan") != all) {
				b.Fatalf("tools/list = %s", line)
			}
			list = strings.TrimSuffix(line, "\n")
			break
		}
	}
	rss := peakRSS(cmd.Process.Pid)
	stdin.Close()
	cmd.Wait()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && rss == 0 {
		rss = ru.Maxrss
	}
	return list, rss
}

// peakRSS is a running process's peak resident memory in KiB (VmHWM), or 0
// where /proc does not tell. The child's rusage Maxrss is not used where
// this works: Linux carries the high-water mark across exec, and the child
// forked with vfork shares the test binary's memory until its exec, so
// Maxrss reports the test binary's own (about 24 MiB), not the server's.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib
		}
	}
	return 0
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
