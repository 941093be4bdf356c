package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Toolset is a named group of tools: `billwire mcp --toolsets` lists only
// the groups it names, so an agent pays for the definitions it needs.
type Toolset string

// The toolsets, in the order of the work.
const (
	// Setup: status, keys and the end-to-end checks.
	Setup Toolset = "setup"
	// Catalog: products, prices, plans, entitlements and the sync.
	Catalog Toolset = "catalog"
	// Webhooks: the endpoint, the event ledger, reconcile and replay.
	Webhooks Toolset = "webhooks"
	// Sessions: test checkouts and what reached a subject: customers,
	// subscriptions, payments.
	Sessions Toolset = "sessions"
	// Fulfillment: the app's fulfillment SQL and entitlement checks.
	Fulfillment Toolset = "fulfillment"
	// GoLive: copying the catalog to live.
	GoLive Toolset = "golive"
)

// Toolsets lists every toolset.
var Toolsets = []Toolset{Setup, Catalog, Webhooks, Sessions, Fulfillment, GoLive}

// The environment variables behind billwire mcp's --read-only and
// --toolsets flags.
const (
	ReadOnlyEnv = "BILLWIRE_READ_ONLY"
	ToolsetsEnv = "BILLWIRE_TOOLSETS"
)

// ParseToolsets parses a comma-separated list of toolset names, such as
// "catalog,webhooks"; an empty list means every toolset (nil).
func ParseToolsets(s string) ([]Toolset, error) {
	var out []Toolset
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		found := false
		for _, ts := range Toolsets {
			if string(ts) == name {
				out, found = append(out, ts), true
				break
			}
		}
		if !found {
			names := make([]string, len(Toolsets))
			for i, ts := range Toolsets {
				names[i] = string(ts)
			}
			return nil, fmt.Errorf("unknown toolset %q: the toolsets are %s", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// Selection is what billwire mcp lists and accepts: a registry rule over
// every tool, decided from the tool's kind and toolset.
type Selection struct {
	// ReadOnly keeps only the read-only tools (--read-only).
	ReadOnly bool
	// Toolsets keeps only the tools of these toolsets (--toolsets); empty
	// keeps every toolset.
	Toolsets []Toolset
}

// Hidden says why s hides t, naming the flag and what a human changes, or
// "" when s lists it.
func (s Selection) Hidden(t Tool) string {
	var why []string
	if len(s.Toolsets) > 0 && !s.has(t.Toolset) {
		names := make([]string, len(s.Toolsets))
		for i, ts := range s.Toolsets {
			names[i] = string(ts)
		}
		why = append(why, fmt.Sprintf("it belongs to toolset %s, and billwire mcp runs with --toolsets %s (%s), which leaves it out",
			t.Toolset, strings.Join(names, ","), ToolsetsEnv))
	}
	if s.ReadOnly && !t.ReadOnly {
		why = append(why, fmt.Sprintf("it is not read-only, and billwire mcp runs with --read-only (%s=1), which lists and accepts only read-only tools", ReadOnlyEnv))
	}
	if len(why) == 0 {
		return ""
	}
	return t.Def.Name + " is hidden: " + strings.Join(why, "; ") +
		". Nothing was done. Use the tools that tools/list shows, or ask the human to change billwire mcp's flags in the MCP client configuration and restart it"
}

// Note is a sentence for the server's instructions when s hides tools,
// so that an agent following the order of work knows why a step's tool is
// missing; "" when s lists every tool.
func (s Selection) Note() string {
	var flags []string
	if len(s.Toolsets) > 0 {
		names := make([]string, len(s.Toolsets))
		for i, ts := range s.Toolsets {
			names[i] = string(ts)
		}
		flags = append(flags, "--toolsets "+strings.Join(names, ","))
	}
	if s.ReadOnly {
		flags = append(flags, "--read-only")
	}
	if len(flags) == 0 {
		return ""
	}
	return "This server runs with " + strings.Join(flags, " ") + ": tools/list shows only the tools it serves; " +
		"a step that needs another tool needs the human to change billwire mcp's flags."
}

func (s Selection) has(ts Toolset) bool {
	for _, x := range s.Toolsets {
		if x == ts {
			return true
		}
	}
	return false
}

// Apply returns ts for a server under s: the tools s hides keep their
// definitions, so a call by name finds them, but their handlers refuse
// with the reason, and ListFilter leaves them out of tools/list.
func (s Selection) Apply(ts []Tool) []Tool {
	out := make([]Tool, len(ts))
	for i, t := range ts {
		if why := s.Hidden(t); why != "" {
			t.Hidden = why
			t.Handler = func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcp.NewToolResultError(why), nil
			}
		}
		out[i] = t
	}
	return out
}

// ListFilter is the server's tool filter for ts (from Apply): tools/list
// leaves the hidden tools out. mcp-go also runs the filter before a call,
// passing only the called tool (documented on server.WithToolFilter); that
// check lets a hidden tool through, so its handler answers why it is
// hidden instead of a bare "tool not found". A listing always passes every
// registered tool, never just one, since the server registers them all.
func ListFilter(ts []Tool) server.ToolFilterFunc {
	hidden := map[string]bool{}
	for _, t := range ts {
		if t.Hidden != "" {
			hidden[t.Def.Name] = true
		}
	}
	return func(_ context.Context, list []mcp.Tool) []mcp.Tool {
		if len(list) == 1 {
			return list
		}
		out := list[:0:0]
		for _, t := range list {
			if !hidden[t.Name] {
				out = append(out, t)
			}
		}
		return out
	}
}
