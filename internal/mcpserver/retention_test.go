package mcpserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/stripetest"
)

// Through MCP: the ledger marks a pruned payload, replay_webhook_event
// fetches the event from Stripe, and for an event Stripe no longer has the
// tool answers an error the agent can act on.
func TestReplayOfPrunedEventThroughMCP(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	h := newHarness(t, harnessOpts{base: fake.URL(), rateLimit: 1000})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	now := time.Now().Unix()
	fake.AddEvent(testKey, eventfixtures.MustEvent(t, "payment_intent.succeeded", eventfixtures.Options{
		ID: "evt_mcp_kept", Created: now - 3600, Object: map[string]any{"id": "pi_mcp"}}))
	h.ok("reconcile_events", map[string]any{"env": "test"})
	if get(h.ok("list_webhook_events", map[string]any{"env": "test"}), "events", 0, "payload_kept") != true {
		t.Fatal("a processed event's payload is not kept")
	}
	// Pruned; and an event recorded long ago, which Stripe no longer has.
	if _, err := h.store.Pool().Exec(context.Background(), `UPDATE payments.webhook_events SET payload = NULL;
		INSERT INTO payments.webhook_events (env, id, type, created, status, attempts, received_at)
		VALUES ('test', 'evt_mcp_lost', 'payment_intent.succeeded', now() - interval '40 days', 'processed', 1, now() - interval '40 days')`); err != nil {
		t.Fatal(err)
	}
	events := h.ok("list_webhook_events", map[string]any{"env": "test"})
	if get(events, "events", 0, "payload_kept") != false || get(events, "events", 1, "payload_kept") != false {
		t.Fatalf("ledger = %v", events)
	}
	res := h.ok("replay_webhook_event", map[string]any{"env": "test", "event_id": "evt_mcp_kept"})
	if res["status"] != "processed" || res["refetched_from_stripe"] != true {
		t.Fatalf("replay of a pruned event = %v", res)
	}
	h.fails("replay_webhook_event", map[string]any{"env": "test", "event_id": "evt_mcp_lost"},
		"Stripe no longer has the event", "sync_catalog", "billwire sync --env test")
}
