package tools_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/tools"
)

// Every tool definition is pinned under testdata/toolsnaps. Refresh with
// UPDATE_TOOLSNAPS=1 go test ./tools/ after an intended change; in CI a
// missing snapshot fails.
func TestToolSnapshots(t *testing.T) {
	dir := filepath.Join("..", "testdata", "toolsnaps")
	update := os.Getenv("UPDATE_TOOLSNAPS") != ""
	seen := map[string]bool{}
	for _, tool := range tools.All(tools.Deps{}) {
		got, err := json.MarshalIndent(tool.Def, "", "  ")
		if err != nil {
			t.Fatalf("%s: %v", tool.Def.Name, err)
		}
		// Re-indent the raw schema for a readable, stable file.
		var v any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatal(err)
		}
		got, _ = json.MarshalIndent(v, "", "  ")
		got = append(got, '\n')
		path := filepath.Join(dir, tool.Def.Name+".snap")
		seen[filepath.Base(path)] = true
		want, err := os.ReadFile(path)
		if update {
			if !bytes.Equal(got, want) {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: no snapshot at %s: run UPDATE_TOOLSNAPS=1 go test ./tools/ and review the file", tool.Def.Name, path)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s changed; if intended, run UPDATE_TOOLSNAPS=1 go test ./tools/ and review the diff.\ngot:\n%s", tool.Def.Name, got)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !seen[e.Name()] && strings.HasSuffix(e.Name(), ".snap") {
			t.Errorf("snapshot %s has no tool: delete it", e.Name())
		}
	}
}

// Invariants over the whole inventory.
func TestToolInventory(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, tool := range tools.All(tools.Deps{}) {
		d := tool.Def
		if names[d.Name] {
			t.Errorf("duplicate tool %s", d.Name)
		}
		names[d.Name] = true
		a := d.Annotations
		if a.ReadOnlyHint == nil || a.DestructiveHint == nil || a.IdempotentHint == nil || a.OpenWorldHint == nil {
			t.Errorf("%s: all four annotation hints must be set: %+v", d.Name, a)
		}
		if a.ReadOnlyHint != nil && *a.ReadOnlyHint && tool.WritesStripe {
			t.Errorf("%s writes to Stripe but claims read-only", d.Name)
		}
		// The live guard is a registry rule: define runs it for every
		// tool whose params are a LiveWriter, and every tool that is not
		// read-only must be one, so a new write tool cannot forget it.
		if a.ReadOnlyHint != nil && tool.ReadOnly != *a.ReadOnlyHint {
			t.Errorf("%s: ReadOnly %v disagrees with its read-only hint", d.Name, tool.ReadOnly)
		}
		if !tool.ReadOnly && !tool.LiveGuarded {
			t.Errorf("%s is not read-only, but its params do not implement tools.LiveWriter: define cannot run the live guard for it", d.Name)
		}
		// A tool whose argument lets it delete data says so.
		if _, clears := props(t, d)["confirm_account_change"]; clears && (a.DestructiveHint == nil || !*a.DestructiveHint) {
			t.Errorf("%s can clear mirrored data (confirm_account_change) but its destructiveHint is false", d.Name)
		}
		if d.Description == "" || d.Title == "" {
			t.Errorf("%s: needs a title and a description", d.Name)
		}
		var schema map[string]any
		if err := json.Unmarshal(d.RawInputSchema, &schema); err != nil {
			t.Fatalf("%s: schema: %v", d.Name, err)
		}
		if schema["type"] != "object" || schema["properties"] == nil {
			t.Errorf("%s: schema is not an object with properties: %s", d.Name, d.RawInputSchema)
		}
		for _, k := range []string{"oneOf", "anyOf", "allOf", "$ref", "$defs"} {
			if _, ok := schema[k]; ok {
				t.Errorf("%s: top-level %s in input schema", d.Name, k)
			}
		}
		if schema["additionalProperties"] != false {
			t.Errorf("%s: input schema must refuse unknown arguments", d.Name)
		}
		props := schema["properties"].(map[string]any)
		// A tool that writes to Stripe and takes an env (so may reach live)
		// needs confirm_live; a test-only tool takes no env.
		if _, hasEnv := props["env"]; tool.WritesStripe && hasEnv {
			if _, ok := props["confirm_live"]; !ok {
				t.Errorf("%s writes to Stripe but has no confirm_live argument", d.Name)
			}
		}
	}
	for _, want := range []string{"configure_stripe_keys", "get_payments_status", "create_product", "create_price", "create_plan",
		"sync_catalog", "list_catalog", "list_customers", "list_subscriptions"} {
		if !names[want] {
			t.Errorf("tool %s is missing", want)
		}
	}
}

// props are the top-level properties of a tool's input schema.
func props(t *testing.T, d mcp.Tool) map[string]any {
	t.Helper()
	var schema struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(d.RawInputSchema, &schema); err != nil {
		t.Fatalf("%s: schema: %v", d.Name, err)
	}
	return schema.Properties
}
