package tools_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/tools"
)

// Every tool belongs to exactly one known toolset, and every toolset has
// tools.
func TestEveryToolHasOneToolset(t *testing.T) {
	t.Parallel()
	count := map[tools.Toolset]int{}
	seen := map[string]bool{}
	for _, tool := range tools.All(tools.Deps{}) {
		if seen[tool.Def.Name] {
			t.Errorf("%s is in two toolsets", tool.Def.Name)
		}
		seen[tool.Def.Name] = true
		if !slices.Contains(tools.Toolsets, tool.Toolset) {
			t.Errorf("%s: toolset %q is not one of %v", tool.Def.Name, tool.Toolset, tools.Toolsets)
		}
		count[tool.Toolset]++
	}
	for _, ts := range tools.Toolsets {
		if count[ts] == 0 {
			t.Errorf("toolset %s has no tools", ts)
		}
	}
}

// listed are the names Apply leaves visible, and each hidden tool's handler
// refuses with its reason, naming want.
func listed(t *testing.T, sel tools.Selection, want ...string) []string {
	t.Helper()
	var names []string
	for _, tool := range sel.Apply(tools.All(tools.Deps{})) {
		if tool.Hidden == "" {
			names = append(names, tool.Def.Name)
			continue
		}
		req := mcp.CallToolRequest{}
		req.Params.Name = tool.Def.Name
		// Arguments that would reach Stripe if the tool ran: it must not.
		req.Params.Arguments = map[string]any{"env": "test"}
		res, err := tool.Handler(context.Background(), req)
		if err != nil || !res.IsError {
			t.Fatalf("hidden %s: %v %v", tool.Def.Name, res, err)
		}
		text := res.Content[0].(mcp.TextContent).Text
		for _, w := range append([]string{tool.Def.Name + " is hidden"}, want...) {
			if !strings.Contains(text, w) {
				t.Errorf("hidden %s answers %q, which does not name %q", tool.Def.Name, text, w)
			}
		}
	}
	return names
}

// --read-only lists exactly the tools whose read-only hint is set, and
// refuses the others, naming the flag.
func TestReadOnlyListsExactlyTheReadTools(t *testing.T) {
	t.Parallel()
	var want []string
	for _, tool := range tools.All(tools.Deps{}) {
		if *tool.Def.Annotations.ReadOnlyHint {
			want = append(want, tool.Def.Name)
		}
	}
	got := listed(t, tools.Selection{ReadOnly: true}, "--read-only", "BILLWIRE_READ_ONLY=1")
	if !slices.Equal(got, want) || len(got) < 5 {
		t.Fatalf("read-only lists %v, want %v", got, want)
	}
	if all := listed(t, tools.Selection{}); len(all) != len(tools.All(tools.Deps{})) {
		t.Fatalf("the default lists %d tools", len(all))
	}
}

// --toolsets lists exactly the tools of the named toolsets, for each
// toolset and for a pair, and together with --read-only their read tools.
func TestToolsetsListExactlyTheirTools(t *testing.T) {
	t.Parallel()
	all := tools.All(tools.Deps{})
	of := func(readOnly bool, sets ...tools.Toolset) []string {
		var names []string
		for _, tool := range all {
			if slices.Contains(sets, tool.Toolset) && (!readOnly || tool.ReadOnly) {
				names = append(names, tool.Def.Name)
			}
		}
		return names
	}
	for _, ts := range tools.Toolsets {
		got := listed(t, tools.Selection{Toolsets: []tools.Toolset{ts}}, "toolset", "--toolsets "+string(ts), "BILLWIRE_TOOLSETS")
		if want := of(false, ts); !slices.Equal(got, want) {
			t.Errorf("--toolsets %s lists %v, want %v", ts, got, want)
		}
	}
	pair := []tools.Toolset{tools.Catalog, tools.Webhooks}
	if got, want := listed(t, tools.Selection{Toolsets: pair}, "--toolsets catalog,webhooks"), of(false, pair...); !slices.Equal(got, want) {
		t.Errorf("--toolsets catalog,webhooks lists %v, want %v", got, want)
	}
	if got, want := listed(t, tools.Selection{ReadOnly: true, Toolsets: pair}), of(true, pair...); !slices.Equal(got, want) || len(got) == 0 {
		t.Errorf("--read-only --toolsets catalog,webhooks lists %v, want %v", got, want)
	}
}

func TestParseToolsets(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]tools.Toolset{
		"":                      nil,
		" , ":                   nil,
		"catalog":               {tools.Catalog},
		" Catalog , golive,":    {tools.Catalog, tools.GoLive},
		"setup,sessions,setup":  {tools.Setup, tools.Sessions, tools.Setup},
		"fulfillment,webhooks,": {tools.Fulfillment, tools.Webhooks},
	} {
		got, err := tools.ParseToolsets(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseToolsets(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	_, err := tools.ParseToolsets("catalog,billing")
	if err == nil || !strings.Contains(err.Error(), `"billing"`) ||
		!strings.Contains(err.Error(), "setup, catalog, webhooks, sessions, fulfillment, golive") {
		t.Fatalf("unknown toolset: %v", err)
	}
}

// The list filter drops hidden tools from a listing and lets a call-time
// check (mcp-go passes the one called tool) through to the refusing handler.
func TestListFilter(t *testing.T) {
	t.Parallel()
	ts := tools.Selection{ReadOnly: true}.Apply(tools.All(tools.Deps{}))
	defs := make([]mcp.Tool, len(ts))
	for i, tool := range ts {
		defs[i] = tool.Def
	}
	filter := tools.ListFilter(ts)
	got := filter(context.Background(), defs)
	for _, d := range got {
		if !*d.Annotations.ReadOnlyHint {
			t.Errorf("listing shows %s", d.Name)
		}
	}
	if len(got) == len(defs) || len(got) == 0 {
		t.Fatalf("listing kept %d of %d", len(got), len(defs))
	}
	for _, d := range defs {
		if one := filter(context.Background(), []mcp.Tool{d}); len(one) != 1 {
			t.Errorf("the call-time check of %s dropped it", d.Name)
		}
	}
}

// The README's toolset table and read-only list are the registry's.
func TestREADMEListsTheToolsets(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "### Toolsets and read-only mode\n")
	if !ok {
		t.Fatal("README has no toolsets section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	names := func(s string) []string {
		var out []string
		for _, f := range strings.Split(s, "`")[1:] {
			if f = strings.TrimSpace(f); f != "" && f != "," && !strings.HasPrefix(f, ",") && !strings.HasPrefix(f, ".") {
				out = append(out, f)
			}
		}
		return out
	}
	got := map[string][]string{}
	for _, line := range strings.Split(section, "\n") {
		if cells := strings.Split(line, "|"); len(cells) == 4 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			got[strings.Trim(strings.TrimSpace(cells[1]), "`")] = names(cells[2])
		}
	}
	_, ro, _ := strings.Cut(section, "\nRead-only: ")
	ro, _, _ = strings.Cut(ro, "\n\n")
	want := map[string][]string{}
	var readOnly []string
	for _, tool := range tools.All(tools.Deps{}) {
		want[string(tool.Toolset)] = append(want[string(tool.Toolset)], tool.Def.Name)
		if tool.ReadOnly {
			readOnly = append(readOnly, tool.Def.Name)
		}
	}
	for ts, w := range want {
		g := got[ts]
		slices.Sort(g)
		if !slices.Equal(g, w) {
			t.Errorf("README toolset %s lists %v, the registry %v", ts, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("README lists toolsets %v", got)
	}
	g := names(strings.ReplaceAll(ro, "\n", " "))
	slices.Sort(g)
	if !slices.Equal(g, readOnly) {
		t.Errorf("README's read-only tools %v, the registry's %v", g, readOnly)
	}
}

// The instructions' note names the flags in effect, and is empty without.
func TestSelectionNote(t *testing.T) {
	t.Parallel()
	if n := (tools.Selection{}).Note(); n != "" {
		t.Errorf("no selection: note %q", n)
	}
	n := tools.Selection{ReadOnly: true, Toolsets: []tools.Toolset{tools.Catalog, tools.Setup}}.Note()
	if !strings.Contains(n, "--toolsets catalog,setup --read-only") {
		t.Errorf("note %q", n)
	}
}
