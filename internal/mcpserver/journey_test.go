package mcpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// TestAgentJourney plays the whole agent journey through an MCP client:
// key → plan → webhook secret → scaffold and apply → checkout through
// billwire serve's route → signed events → the app's table grants access,
// check_integration passes every item and get_payments_status is green.
func TestAgentJourney(t *testing.T) {
	t.Parallel()
	rec := stripetest.StartRecorder(t, stripetest.Mock(t))
	h := newHarness(t, harnessOpts{base: rec.URL(), rateLimit: 1000, serve: true})
	ctx := context.Background()
	const whsec = "whsec_agentJourneySecret000000000001"

	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	h.ok("sync_catalog", map[string]any{"env": "test"})
	plan := h.ok("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month", "lookup_key": "pro_monthly"})
	priceID := get(plan, "price", "id").(string)
	h.ok("setup_webhook", map[string]any{"env": "test", "signing_secret": whsec})
	dry := h.ok("scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "env": "test", "subject_type": "team"})
	if !strings.Contains(dry["sql"].(string), "team_billing_status") {
		t.Fatalf("dry run = %v", dry)
	}
	h.ok("scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "env": "test", "subject_type": "team", "apply": true})

	// The app's backend asks billwire serve for a checkout for team acme.
	key, hash, hint := auth.NewAPIKey()
	if _, err := h.store.CreateAPIKey(ctx, vocab.Test, "app-backend", hash, hint); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"mode": "subscription", "line_items": []map[string]any{{"price_id": priceID, "quantity": 1}},
		"subject":     map[string]any{"type": "team", "id": "acme"},
		"success_url": h.serveURL + "/checkout/done", "cancel_url": h.serveURL + "/checkout/done",
	})
	req, _ := http.NewRequest("POST", h.serveURL+"/api/payments/test/checkout-sessions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var cs map[string]any
	json.NewDecoder(resp.Body).Decode(&cs) //nolint:errcheck
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("checkout: %d %v", resp.StatusCode, cs)
	}
	customer := rec.Bodies("POST /v1/checkout/sessions")[0].Get("customer")

	// The redirect grants nothing: no access before the events.
	var access bool
	if err := h.store.Pool().QueryRow(ctx, `SELECT public.team_has_access('acme')`).Scan(&access); err != nil || access {
		t.Fatalf("access before any event: %v %v", access, err)
	}

	// Stripe's events, signed, through the running receiver.
	meta := map[string]any{"billwire_subject_type": "team", "billwire_subject_id": "acme"}
	now := time.Now().Unix()
	for i, ev := range []struct {
		typ string
		obj map[string]any
	}{
		{"checkout.session.completed", map[string]any{"id": cs["stripe_session_id"], "customer": customer, "client_reference_id": "team:acme",
			"metadata": meta, "subscription": "sub_Acme", "mode": "subscription"}},
		{"customer.subscription.created", map[string]any{"id": "sub_Acme", "customer": customer, "status": "active", "metadata": meta}},
		{"invoice.paid", map[string]any{"customer": customer, "subscription": "sub_Acme"}},
	} {
		payload := eventfixtures.MustEvent(t, ev.typ, eventfixtures.Options{Created: now + int64(i),
			Replace: map[string]string{"cus_Fixture1": customer, "sub_Fixture1": "sub_Acme", "price_Fixture1": priceID}, Object: ev.obj})
		req, _ := http.NewRequest("POST", h.serveURL+"/webhooks/stripe/test", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, whsec, time.Now()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", ev.typ, resp, err)
		}
		resp.Body.Close()
	}

	var status string
	if err := h.store.Pool().QueryRow(ctx, `SELECT status FROM public.team_billing_status WHERE team_id = 'acme'`).Scan(&status); err != nil || status != "active" {
		t.Fatalf("team_billing_status = %q, %v", status, err)
	}
	if err := h.store.Pool().QueryRow(ctx, `SELECT public.team_has_access('acme')`).Scan(&access); err != nil || !access {
		t.Fatalf("access after the events: %v %v", access, err)
	}
	sb := h.ok("get_subject_billing", map[string]any{"env": "test", "subject": map[string]any{"type": "team", "id": "acme"}})
	if get(sb, "customer", "mapping_confirmed") != true || get(sb, "subscriptions", 0, "id") != "sub_Acme" {
		t.Fatalf("subject billing = %v", sb)
	}
	ci := h.ok("check_integration", map[string]any{"env": "test"})
	if ci["ok"] != true {
		t.Fatalf("check_integration = %v", ci)
	}
	st := h.ok("get_payments_status", map[string]any{"env": "test"})
	if get(st, "environments", 0, "webhook", "health", "parked") != float64(0) || get(st, "environments", 0, "webhook", "health", "failing") != float64(0) ||
		!strings.HasPrefix(get(st, "environments", 0, "next_step").(string), "catalog is mirrored and webhooks arrive") ||
		get(st, "environments", 0, "portal_configuration", "id") == nil {
		t.Fatalf("get_payments_status = %v", st)
	}
}
