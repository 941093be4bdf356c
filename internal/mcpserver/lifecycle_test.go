package mcpserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/stripetest"
)

// An agent walks the add_plan_changes prompt through MCP: two plans in a
// family, a test subscription, a preview and the change it priced, cancel
// and resume; each verified through get_subject_billing once Stripe's
// events have landed.
func TestAgentChangesPlans(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{DeliverEvents: true})
	h := newHarness(t, harnessOpts{base: fake.URL(), rateLimit: 1000, serve: true})
	req := mcp.GetPromptRequest{}
	req.Params.Name = "add_plan_changes"
	req.Params.Arguments = map[string]string{"subject_type": "team", "seats": "true"}
	pr, err := h.c.GetPrompt(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	text := pr.Messages[0].Content.(mcp.TextContent).Text
	for _, must := range []string{"set_switchable_prices", "preview_subscription_change", "change_subscription", "proration_date", "hosted_invoice_url", "cancel_subscription", "resume_subscription", "list_invoices", "quantity_out_of_range"} {
		if !strings.Contains(text, must) {
			t.Errorf("the prompt does not name %s", must)
		}
	}
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	h.ok("create_plan", map[string]any{"env": "test", "name": "Team", "unit_amount": 1000, "currency": "usd", "interval": "month", "lookup_key": "team_monthly", "min_quantity": 2, "max_quantity": 20})
	h.ok("create_plan", map[string]any{"env": "test", "name": "Team Plus", "unit_amount": 2500, "currency": "usd", "interval": "month", "lookup_key": "team_plus_monthly", "min_quantity": 2, "max_quantity": 20})
	h.ok("setup_webhook", map[string]any{"env": "test", "url": h.serveURL + "/webhooks/stripe/test"})
	fam := h.ok("set_switchable_prices", map[string]any{"env": "test", "family": "plans", "prices": []string{"team_monthly", "team_plus_monthly"}})
	if fam["portal_products"] != float64(2) {
		t.Fatalf("set_switchable_prices = %v", fam)
	}
	team := map[string]any{"type": "team", "id": "t_plans"}
	sub := h.ok("create_test_subscription", map[string]any{"subject": team, "lookup_key": "team_monthly"})
	id := sub["subscription_id"]
	h.waitPlan(team, "team_monthly", 0)

	items := []any{map[string]any{"lookup_key": "team_plus_monthly", "quantity": 4}}
	pv := h.ok("preview_subscription_change", map[string]any{"env": "test", "subscription_id": id, "items": items})
	if pv["amount_due_now"] != float64(0) || pv["proration_behavior"] != "create_prorations" {
		t.Fatalf("preview = %v", pv)
	}
	h.fails("change_subscription", map[string]any{"env": "test", "subscription_id": id, "items": []any{map[string]any{"lookup_key": "team_plus_monthly", "quantity": 30}}},
		"quantity is 30", "takes 2 to 20")
	ch := h.ok("change_subscription", map[string]any{"env": "test", "subscription_id": id, "items": items, "proration_date": pv["proration_date"], "idempotency_key": "plus-4"})
	if s, _ := ch["subscription"].(map[string]any); s["lookup_key"] != "team_plus_monthly" || s["quantity"] != float64(4) {
		t.Fatalf("change_subscription = %v", ch)
	}
	h.waitPlan(team, "team_plus_monthly", 4)
	h.ok("cancel_subscription", map[string]any{"env": "test", "subscription_id": id})
	h.ok("resume_subscription", map[string]any{"env": "test", "subscription_id": id})
	h.fails("resume_subscription", map[string]any{"env": "test", "subscription_id": id}, "nothing to resume")
}

// waitPlan waits until get_subject_billing shows the subject's
// subscription on lookup key (with quantity, unless 0).
func (h *harness) waitPlan(subject map[string]any, lookup string, quantity float64) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b := h.ok("get_subject_billing", map[string]any{"env": "test", "subject": subject})
		subs, _ := b["subscriptions"].([]any)
		if len(subs) == 1 {
			s := subs[0].(map[string]any)
			if s["lookup_key"] == lookup && (quantity == 0 || s["quantity"] == quantity) {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("get_subject_billing stayed %v", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
