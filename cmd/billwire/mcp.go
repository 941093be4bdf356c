package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/mcpserver"
	"github.com/billwire/billwire/tools"
)

// waitingHint is the line billwire mcp prints on stderr when started on a
// terminal, where no client will speak.
const waitingHint = "billwire mcp: waiting for an MCP client on stdin/stdout; configure your client with: claude mcp add billwire -- billwire mcp (see README, MCP client configuration)"

// cmdMCP serves MCP over stdio. stdout carries MCP frames only; logs go to
// stderr. The database is opened on the first call that needs it.
func cmdMCP(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	time.AfterFunc(startupWindow, startupGC(getenv))
	fs, c := newFlags("mcp", stderr, getenv)
	allowLive := fs.Bool("allow-live-writes", false, "allow tools to write to live Stripe (each call still needs confirm_live: true)")
	readOnlyDefault, err := envBool(getenv, tools.ReadOnlyEnv)
	if err != nil {
		return err
	}
	readOnly := fs.Bool("read-only", readOnlyDefault, "list and accept only read-only tools (default $"+tools.ReadOnlyEnv+")")
	toolsets := fs.String("toolsets", getenv(tools.ToolsetsEnv), "list and accept only the tools of these comma-separated toolsets: "+
		toolsetNames()+" (default $"+tools.ToolsetsEnv+", else all)")
	if err := parse(fs, args); err != nil {
		return err
	}
	sets, err := tools.ParseToolsets(*toolsets)
	if err != nil {
		return usageErr("--toolsets: %v", err)
	}
	a, err := c.open(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	origins, err := auth.ParseOrigins(getenv("BILLWIRE_ALLOWED_ORIGINS"))
	if err != nil {
		return err
	}
	s := mcpserver.New(mcpserver.Options{Version: buildVersion(), Billing: a.svc, AllowLiveWrites: *allowLive,
		PublicURL: getenv(billing.PublicURLEnv), Origins: origins, Log: a.log,
		Tools: tools.Selection{ReadOnly: *readOnly, Toolsets: sets}})
	if isTerminal(stdin) { // a human started it, not a client
		fmt.Fprintln(stderr, waitingHint)
	}
	a.log.Debug().Bool("allow_live_writes", *allowLive).Bool("read_only", *readOnly).Str("toolsets", *toolsets).Msg("billwire mcp serving on stdio")
	return server.NewStdioServer(s).Listen(ctx, stdin, stdout)
}

// startupWindow is how long billwire mcp defers garbage collection after
// it starts: the client's initialize and tools/list come within
// milliseconds.
const startupWindow = time.Second

// startupMemoryLimit bounds the heap while collection is deferred.
const startupMemoryLimit = 64 << 20

// startupGC defers garbage collection while billwire mcp starts, unless
// GOGC or GOMEMLIMIT is set (as getenv reports them), and returns what
// restores Go's default. Start-up (package inits, the tools' registration,
// the first tools/list) allocates a few MiB, just over the heap at which Go
// first collects; that collection cost about as much start-up time as
// everything else billwire adds to mcp-go's (measured with
// BenchmarkColdStart). Collection is off, with the heap bounded by
// startupMemoryLimit, until restore runs.
func startupGC(getenv func(string) string) (restore func()) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	percent := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(startupMemoryLimit)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}

// envBool reads a boolean environment variable: empty is false.
func envBool(getenv func(string) string, name string) (bool, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, usageErr("%s=%q: use 1 (or true) to turn it on, 0 (or false) or unset to leave it off", name, v)
	}
	return b, nil
}

// toolsetNames lists the toolsets for the flag's help.
func toolsetNames() string {
	names := make([]string, len(tools.Toolsets))
	for i, ts := range tools.Toolsets {
		names[i] = string(ts)
	}
	return strings.Join(names, ", ")
}
