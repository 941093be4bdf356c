package main

import (
	"context"
	"io"

	"github.com/mark3labs/mcp-go/server"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/mcpserver"
)

// cmdMCP serves MCP over stdio. stdout carries MCP frames only; logs go to
// stderr. The database is opened on the first call that needs it.
func cmdMCP(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("mcp", stderr, getenv)
	allowLive := fs.Bool("allow-live-writes", false, "allow tools to write to live Stripe (each call still needs confirm_live: true)")
	if err := parse(fs, args); err != nil {
		return err
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
		PublicURL: getenv(billing.PublicURLEnv), Origins: origins, Log: a.log})
	a.log.Debug().Bool("allow_live_writes", *allowLive).Msg("billwire mcp serving on stdio")
	return server.NewStdioServer(s).Listen(ctx, stdin, stdout)
}
