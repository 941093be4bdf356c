package mcpserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/mcpserver"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/tools"
)

// listTools is the names tools/list shows.
func (h *harness) listTools() []string {
	h.t.Helper()
	res, err := h.c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// Through the MCP server: --read-only lists only the read tools, and a
// write tool called by name anyway is refused with the flag that hides it,
// before Stripe or the database is touched; --toolsets does the same for
// the tools of other toolsets.
func TestReadOnlyAndToolsetsThroughTheServer(t *testing.T) {
	t.Parallel()
	all := tools.All(tools.Deps{})
	for _, c := range []struct {
		name   string
		sel    tools.Selection
		listed func(tools.Tool) bool
		call   string
		args   map[string]any
		want   []string
		works  string // a listed tool that takes only env
	}{
		{"read-only", tools.Selection{ReadOnly: true}, func(t tools.Tool) bool { return t.ReadOnly },
			"create_product", map[string]any{"env": "test", "name": "Pro"}, []string{"create_product is hidden", "--read-only", "BILLWIRE_READ_ONLY=1"}, "get_payments_status"},
		{"toolsets webhooks,golive", tools.Selection{Toolsets: []tools.Toolset{tools.Webhooks, tools.GoLive}},
			func(t tools.Tool) bool { return t.Toolset == tools.Webhooks || t.Toolset == tools.GoLive },
			"create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd"},
			[]string{"create_plan is hidden", "toolset catalog", "--toolsets webhooks,golive", "BILLWIRE_TOOLSETS"}, "list_webhook_events"},
		{"read-only catalog", tools.Selection{ReadOnly: true, Toolsets: []tools.Toolset{tools.Catalog}},
			func(t tools.Tool) bool { return t.ReadOnly && t.Toolset == tools.Catalog },
			"list_webhook_events", map[string]any{"env": "test"}, []string{"list_webhook_events is hidden", "--toolsets catalog"}, "list_catalog"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fake := stripetest.StartFake(t, stripetest.FakeOptions{})
			h := newHarness(t, harnessOpts{base: fake.URL(), tools: c.sel})
			var want []string
			for _, tool := range all {
				if c.listed(tool) {
					want = append(want, tool.Def.Name)
				}
			}
			if got := h.listTools(); !slices.Equal(got, want) || len(got) == 0 {
				t.Fatalf("tools/list = %v, want %v", got, want)
			}
			if !strings.Contains(h.instructions, c.sel.Note()) || !strings.HasPrefix(h.instructions, mcpserver.Instructions) {
				t.Errorf("instructions do not say which tools are served: %q", h.instructions)
			}
			before, state := len(fake.Requests()), dbState(t, h)
			h.fails(c.call, c.args, c.want...)
			if len(fake.Requests()) != before || dbState(t, h) != state {
				t.Fatalf("a hidden tool reached Stripe or the database")
			}
			// A listed tool still works.
			h.ok(c.works, map[string]any{"env": "test"})
		})
	}
}
