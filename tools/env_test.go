package tools_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/tools"
)

// A bad env is refused before the tool runs, whatever the tool, saying
// which argument, what was given and what is allowed (issue 18: schema
// refusals read like billwire's other errors).
func TestBadEnvIsRefusedWithItsOwnText(t *testing.T) {
	t.Parallel()
	for _, tool := range tools.All(tools.Deps{}) {
		var schema struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(tool.Def.RawInputSchema, &schema); err != nil {
			t.Fatal(err)
		}
		if _, ok := schema.Properties["env"]; !ok {
			continue
		}
		for _, c := range []struct {
			env  any
			want string
		}{
			{"staging", `argument env: "staging" is not allowed; use "test" or "live"`},
			{7, `argument env: got number, want string`},
		} {
			req := mcp.CallToolRequest{}
			req.Params.Name = tool.Def.Name
			req.Params.Arguments = map[string]any{"env": c.env}
			res, err := tool.Handler(context.Background(), req)
			if err != nil {
				t.Fatalf("%s: %v", tool.Def.Name, err)
			}
			text := res.Content[0].(mcp.TextContent).Text
			if !res.IsError || !strings.Contains(text, c.want) {
				t.Errorf("%s with env %v = %q (error %v), want it to say %q", tool.Def.Name, c.env, text, res.IsError, c.want)
			}
		}
	}
}

// Every env property has the one schema Env gives: a string, test or live.
func TestEnvSchemaIsTheSameEverywhere(t *testing.T) {
	t.Parallel()
	n := 0
	for _, tool := range tools.All(tools.Deps{}) {
		var schema struct {
			Properties map[string]map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(tool.Def.RawInputSchema, &schema); err != nil {
			t.Fatal(err)
		}
		env, ok := schema.Properties["env"]
		if !ok {
			continue
		}
		n++
		enum, _ := json.Marshal(env["enum"])
		if env["type"] != "string" || string(enum) != `["test","live"]` || env["description"] == "" {
			t.Errorf("%s: env schema = %v", tool.Def.Name, env)
		}
	}
	if n < 15 {
		t.Fatalf("only %d tools take env", n)
	}
}
