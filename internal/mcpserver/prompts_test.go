package mcpserver_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/mcpserver"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/prompts"
)

// The prompts' own behaviour (definitions, golden texts, arguments) is
// tested in prompts/; this file checks that the server serves them.

// promptClient is an in-process client of the whole server. Prompts read
// no database, so the store is never opened.
func promptClient(t *testing.T) *client.Client {
	t.Helper()
	lazy := &store.Lazy{DSN: "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", Key: storetest.MasterKey(t)}
	svc := billing.New(lazy, stripeapi.Options{}, zerolog.Nop())
	c, err := client.NewInProcessClient(mcpserver.New(mcpserver.Options{Version: "test", Billing: svc, Log: zerolog.New(io.Discard)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	res, err := c.Initialize(ctx, init)
	if err != nil {
		t.Fatal(err)
	}
	if res.Capabilities.Prompts == nil {
		t.Fatal("the server does not announce prompts")
	}
	return c
}

// Every prompt is listed and rendered over MCP as its handler renders it,
// and a bad argument reaches the client as an error with the prompt's text.
func TestPromptsServedOverMCP(t *testing.T) {
	t.Parallel()
	c := promptClient(t)
	ctx := context.Background()
	res, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var listed, want []string
	for _, p := range res.Prompts {
		listed = append(listed, p.Name+"/"+strings.Join(argNames(p), ","))
	}
	for _, p := range prompts.All() {
		want = append(want, p.Def.Name+"/"+strings.Join(argNames(p.Def), ","))
	}
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Fatalf("listed %v, want %v", listed, want)
	}

	args := map[string]string{"plan_name": "Pro", "amount": "2000", "currency": "usd", "interval": "month",
		"checkout_route": "/api/billing/checkout", "subject_type": "team"}
	req := mcp.GetPromptRequest{}
	req.Params.Name = "add_subscription_billing"
	req.Params.Arguments = args
	got, err := c.GetPrompt(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var direct *mcp.GetPromptResult
	for _, p := range prompts.All() {
		if p.Def.Name == req.Params.Name {
			if direct, err = p.Handler(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
	}
	if direct == nil || len(got.Messages) != 1 || got.Messages[0].Role != mcp.RoleUser ||
		got.Messages[0].Content.(mcp.TextContent).Text != direct.Messages[0].Content.(mcp.TextContent).Text {
		t.Fatalf("over MCP the prompt reads %+v", got.Messages)
	}

	req.Params.Arguments = map[string]string{"env": "staging"}
	req.Params.Name = "debug_webhooks"
	if _, err := c.GetPrompt(ctx, req); err == nil || !strings.Contains(err.Error(), "prompt debug_webhooks: argument env") ||
		!strings.Contains(err.Error(), "test or live") {
		t.Fatalf("a bad argument over MCP: %v", err)
	}
}

func argNames(p mcp.Prompt) []string {
	var out []string
	for _, a := range p.Arguments {
		out = append(out, a.Name)
	}
	return out
}
