package mcpserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/stripetest"
)

// waitAccess polls the app's access function, as the app reads it.
func (h *harness) waitAccess(team string, want bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got bool
		if err := h.store.Pool().QueryRow(context.Background(), `SELECT public.team_has_access($1)`, team).Scan(&got); err != nil {
			h.t.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("team %s: access stayed %v\nlogs:\n%s", team, got, h.logs.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// The agent's own test loop, as an agent walks it through MCP: the prompt,
// a plan, the webhook, the access table; then a real test subscription
// (Stripe, here the fake, sends its events to billwire serve) and simulated
// events through the receiver, each turning access on and off; a second
// subscription checkout is refused.
func TestAgentProvesAccessFollowsPayment(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{DeliverEvents: true})
	h := newHarness(t, harnessOpts{base: fake.URL(), rateLimit: 1000, serve: true})

	req := mcp.GetPromptRequest{}
	req.Params.Name = "add_subscription_billing"
	req.Params.Arguments = map[string]string{"plan_name": "Team", "amount": "3000", "currency": "usd", "interval": "month",
		"checkout_route": "/api/billing/checkout", "subject_type": "team"}
	pr, err := h.c.GetPrompt(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	text := pr.Messages[0].Content.(mcp.TextContent).Text
	for _, must := range []string{"create_test_subscription", "simulate_events", "team_has_access", "billwire apikeys create", "BILLWIRE_ALLOWED_ORIGINS", "BILLWIRE_PUBLIC_URL"} {
		if !strings.Contains(text, must) {
			t.Errorf("the prompt does not name %s", must)
		}
	}

	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	plan := h.ok("create_plan", map[string]any{"env": "test", "name": "Team", "unit_amount": 3000, "currency": "usd", "interval": "month", "lookup_key": "team_monthly"})
	if plan["price"].(map[string]any)["lookup_key"] != "team_monthly" {
		t.Fatalf("plan %v", plan)
	}
	h.ok("setup_webhook", map[string]any{"env": "test", "url": h.serveURL + "/webhooks/stripe/test"})
	h.ok("scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "env": "test", "subject_type": "team", "apply": true})

	// Real test mode: Stripe's own events.
	sub := h.ok("create_test_subscription", map[string]any{"subject": map[string]any{"type": "team", "id": "t_real"}, "lookup_key": "team_monthly"})
	if sub["status"] != "active" || sub["expect_events"] == nil {
		t.Fatalf("create_test_subscription = %v", sub)
	}
	h.waitAccess("t_real", true)
	billing := h.ok("get_subject_billing", map[string]any{"env": "test", "subject": map[string]any{"type": "team", "id": "t_real"}})
	if subs, _ := billing["subscriptions"].([]any); len(subs) != 1 {
		t.Fatalf("get_subject_billing = %v", billing)
	}
	h.fails("create_test_checkout_session", map[string]any{"lookup_key": "team_monthly", "subject": map[string]any{"type": "team", "id": "t_real"}},
		"already has subscription", "Billing Portal")
	h.ok("cancel_test_subscription", map[string]any{"subscription_id": sub["subscription_id"]})
	h.waitAccess("t_real", false)

	// Offline: simulated events through the running receiver.
	team := map[string]any{"type": "team", "id": "t_sim"}
	sim := h.ok("simulate_events", map[string]any{"subject": team, "lookup_key": "team_monthly", "scenario": "checkout_completed"})
	if sim["ok"] != true || !accessSaid(sim, false, true) {
		t.Fatalf("simulated checkout: %v", sim)
	}
	h.waitAccess("t_sim", true)
	sim = h.ok("simulate_events", map[string]any{"subject": team, "lookup_key": "team_monthly", "scenario": "deleted"})
	if sim["ok"] != true || !accessSaid(sim, true, false) {
		t.Fatalf("simulated end: %v", sim)
	}
	h.waitAccess("t_sim", false)
	sessions := h.ok("list_checkout_sessions", map[string]any{"env": "test"})
	if _, ok := sessions["checkout_sessions"].([]any); !ok {
		t.Fatalf("list_checkout_sessions = %v", sessions)
	}
	h.fails("simulate_events", map[string]any{"subject": map[string]any{"type": "organization", "id": "o_1"}, "lookup_key": "team_monthly", "scenario": "renewal"},
		"argument subject.type", `"organization" is not allowed`)
	cleared := h.ok("simulate_events", map[string]any{"clear": true})
	if c, _ := cleared["cleared"].(map[string]any); c["subscriptions"] != float64(1) {
		t.Fatalf("clear = %v", cleared)
	}
}

// accessSaid reports whether the answer's team_has_access went from before to after.
func accessSaid(res map[string]any, before, after bool) bool {
	list, _ := res["access"].([]any)
	for _, a := range list {
		m := a.(map[string]any)
		if m["function"] == "public.team_has_access" {
			return m["before"] == before && m["after"] == after
		}
	}
	return false
}
