package tools_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/tools"
)

// Arguments the schema refuses are answered as billwire answers the rest:
// which argument, what was given, what is allowed; the tool never runs.
func TestSchemaRefusalsSayHowToFixTheCall(t *testing.T) {
	t.Parallel()
	byName := map[string]tools.Tool{}
	for _, tool := range tools.All(tools.Deps{}) {
		byName[tool.Def.Name] = tool
	}
	for _, c := range []struct {
		tool string
		args map[string]any
		want []string
	}{
		{"create_test_checkout_session", map[string]any{"lookup_key": "pro", "subject": map[string]any{"type": "organization", "id": "o_1"}},
			[]string{"argument subject.type", `"organization" is not allowed`, `use "user" or "team"`}},
		{"get_subject_billing", map[string]any{"env": "prod", "subject": map[string]any{"type": "team", "id": "t_1"}},
			[]string{"argument env", `"prod" is not allowed`, `"test" or "live"`}},
		{"get_subject_billing", map[string]any{"env": "test"}, []string{"missing required argument subject"}},
		{"get_subject_billing", map[string]any{"env": "test", "subject": map[string]any{"type": "team"}}, []string{"missing required argument subject.id"}},
		{"list_catalog", map[string]any{"env": "test", "limit": 5}, []string{"unknown argument limit"}},
		{"create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": "20", "currency": "usd"}, []string{"argument unit_amount: got string, want integer"}},
	} {
		req := mcp.CallToolRequest{}
		req.Params.Name = c.tool
		req.Params.Arguments = c.args
		res, err := byName[c.tool].Handler(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", c.tool, err)
		}
		text := res.Content[0].(mcp.TextContent).Text
		if !res.IsError {
			t.Fatalf("%s %v: accepted: %s", c.tool, c.args, text)
		}
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s %v: %q does not say %q", c.tool, c.args, text, w)
			}
		}
		if strings.Contains(text, "&{") || strings.Contains(text, "Want:") {
			t.Errorf("%s: raw validator text: %s", c.tool, text)
		}
	}
}
