package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/billwire/billwire/tools"
)

// mcpToolNames runs billwire mcp in-process with args and environment e,
// lists the tools over stdio and returns their names.
func mcpToolNames(t *testing.T, e map[string]string, args ...string) []string {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	// A file, since the server's goroutines log concurrently.
	errf, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	stderr := func() string { b, _ := os.ReadFile(errf.Name()); return string(b) }
	go func() {
		done <- run(context.Background(), append([]string{"mcp"}, args...), inR, outW, errf, envMap(e).get)
		outW.Close()
	}()
	go io.WriteString(inW, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/list"}
`)
	r := bufio.NewReader(outR)
	var names []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("billwire mcp %v: no tools/list answer: %v; stderr: %s", args, err, stderr())
		}
		var msg struct {
			ID     int `json:"id"`
			Result struct {
				Tools []struct {
					Name string `json:"name"`
				} `json:"tools"`
			} `json:"result"`
		}
		if json.Unmarshal([]byte(line), &msg) == nil && msg.ID == 2 {
			for _, tool := range msg.Result.Tools {
				names = append(names, tool.Name)
			}
			break
		}
	}
	inW.Close()
	go io.Copy(io.Discard, r)
	if code := <-done; code != 0 {
		t.Fatalf("billwire mcp %v exited %d: %s", args, code, stderr())
	}
	return names
}

// --read-only and --toolsets, and their environment variables, choose what
// billwire mcp lists; the flag wins over the variable. A bad value stops
// billwire mcp before it serves, with the valid names.
func TestMCPReadOnlyAndToolsets(t *testing.T) {
	t.Parallel()
	base := map[string]string{"BILLWIRE_MASTER_KEY": masterKeyB64(1), "DATABASE_URL": "postgres://127.0.0.1:1/unused"}
	with := func(k, v string) map[string]string {
		e := map[string]string{k: v}
		for k, v := range base {
			e[k] = v
		}
		return e
	}
	var all, readOnly, golive, setupGolive []string
	for _, tool := range tools.All(tools.Deps{}) {
		all = append(all, tool.Def.Name)
		if tool.ReadOnly {
			readOnly = append(readOnly, tool.Def.Name)
		}
		if tool.Toolset == tools.GoLive {
			golive = append(golive, tool.Def.Name)
		}
		if tool.Toolset == tools.GoLive || tool.Toolset == tools.Setup {
			setupGolive = append(setupGolive, tool.Def.Name)
		}
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"default", base, nil, all},
		{"--read-only", base, []string{"--read-only"}, readOnly},
		{"BILLWIRE_READ_ONLY=1", with("BILLWIRE_READ_ONLY", "1"), nil, readOnly},
		{"--read-only=false over BILLWIRE_READ_ONLY=1", with("BILLWIRE_READ_ONLY", "1"), []string{"--read-only=false"}, all},
		{"--toolsets", base, []string{"--toolsets", "golive,setup"}, setupGolive},
		{"BILLWIRE_TOOLSETS", with("BILLWIRE_TOOLSETS", "golive"), nil, golive},
		{"--toolsets over BILLWIRE_TOOLSETS", with("BILLWIRE_TOOLSETS", "golive"), []string{"--toolsets", "setup,golive"}, setupGolive},
	} {
		if got := mcpToolNames(t, c.env, c.args...); !slices.Equal(got, c.want) {
			t.Errorf("%s: tools/list = %v, want %v", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{base, []string{"--toolsets", "catalog,billing"}, `unknown toolset "billing": the toolsets are setup, catalog, webhooks, sessions, fulfillment, golive`},
		{with("BILLWIRE_TOOLSETS", "usage"), nil, `unknown toolset "usage"`},
		{with("BILLWIRE_READ_ONLY", "maybe"), nil, `BILLWIRE_READ_ONLY="maybe"`},
	} {
		code, out, errs := cli(t, c.env, "", append([]string{"mcp"}, c.args...)...)
		if code != 2 || out != "" || !strings.Contains(errs, c.want) {
			t.Errorf("billwire mcp %v = %d %q %q, want exit 2 naming %s", c.args, code, out, errs, c.want)
		}
	}
}

func TestMCPHintOnATerminalOnly(t *testing.T) {
	t.Parallel()
	// No database is needed to start: it is opened on the first call.
	e := map[string]string{"BILLWIRE_MASTER_KEY": masterKeyB64(9), "DATABASE_URL": "postgres://127.0.0.1:1/none", "BILLWIRE_LOG_LEVEL": "error"}
	// stderr is a file, since the server's goroutines may log concurrently.
	mcpRun := func(stdin io.Reader) (stdout, stderr string) {
		var out strings.Builder
		errf, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		defer errf.Close()
		run(context.Background(), []string{"mcp"}, stdin, &out, errf, envMap(e).get)
		b, _ := os.ReadFile(errf.Name())
		return out.String(), string(b)
	}
	out, errs := mcpRun(tty{strings.NewReader("")})
	if out != "" || !strings.Contains(errs, waitingHint+"\n") || strings.Count(errs, "waiting for an MCP client") != 1 {
		t.Fatalf("mcp on a terminal: stdout %q, stderr %q", out, errs)
	}
	if !strings.Contains(waitingHint, "claude mcp add billwire -- billwire mcp") {
		t.Fatalf("the hint does not say how to configure a client: %q", waitingHint)
	}
	if out, errs := mcpRun(strings.NewReader("")); strings.Contains(errs, "waiting for an MCP client") || out != "" {
		t.Fatalf("mcp spawned by a client (stdin not a terminal): stdout %q, stderr %q", out, errs)
	}
}

// billwire mcp defers garbage collection while it starts, under a memory
// limit, and restores Go's settings after; GOGC or GOMEMLIMIT set by the
// user leaves them alone.
func TestStartupGCDefersCollectionAndRestores(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	defer func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) }()
	restore := startupGC(func(string) string { return "" })
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("during start-up GC percent = %d, want -1 (off)", got)
	}
	if got := debug.SetMemoryLimit(-1); got != startupMemoryLimit {
		t.Errorf("during start-up memory limit = %d, want %d", got, startupMemoryLimit)
	}
	restore()
	if got := debug.SetGCPercent(-1); got != 100 {
		t.Errorf("after start-up GC percent = %d, want 100", got)
	}
	debug.SetGCPercent(100)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("after start-up memory limit = %d, want none", got)
	}
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		startupGC(func(k string) string { return map[string]string{env: "200"}[k] })()
		if got := debug.SetGCPercent(-1); got != 100 {
			t.Errorf("with %s set: GC percent = %d, want 100 (untouched)", env, got)
		}
		debug.SetGCPercent(100)
	}
}
