package mcpserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// A live signing secret set by a prompt-injected agent would let whoever
// wrote the prompt forge live events. It is refused through MCP whatever
// the flags, like live keys, and nothing is stored.
func TestSetupWebhookRefusesALiveSigningSecret(t *testing.T) {
	t.Parallel()
	const forged = "whsec_attackerChosenSecret0000000001"
	for _, tc := range []struct {
		name           string
		allow, confirm bool
	}{{"no flags", false, false}, {"confirm only", false, true}, {"flag only", true, false}, {"both", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := stripetest.StartFake(t, stripetest.FakeOptions{Accounts: map[string]string{goliveKey: "acct_live"}})
			h := newHarness(t, harnessOpts{base: fake.URL(), allowLiveWrites: tc.allow})
			ctx := context.Background()
			if _, err := billingFor(t, h, fake.URL()).ConfigureKey(ctx, vocab.Live, goliveKey, false); err != nil {
				t.Fatal(err)
			}
			args := map[string]any{"env": "live", "signing_secret": forged}
			if tc.confirm {
				args["confirm_live"] = true
			}
			h.fails("setup_webhook", args, "billwire webhook setup --env live --signing-secret-stdin")
			if _, err := h.store.WebhookSecrets(ctx, vocab.Live); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a live secret was stored: %v", err)
			}
			h.assertNoSecret(forged)
		})
	}
}

// After a rotation the previous secret is accepted for 24 hours; someone
// who leaked it could sign events meanwhile. revoke_previous ends that at
// once, in a running billwire serve too.
func TestRevokePreviousSigningSecret(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	h := newHarness(t, harnessOpts{base: fake.URL(), serve: true})
	const oldSecret, newSecret = "whsec_leakedOldSecret000000000000001", "whsec_freshNewSecret0000000000000002"
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	h.ok("setup_webhook", map[string]any{"env": "test", "signing_secret": oldSecret})
	n := 0
	post := func(secret string) int {
		t.Helper()
		n++
		payload := eventfixtures.MustEvent(t, "customer.created", eventfixtures.Options{ID: fmt.Sprintf("evt_revoke_%d", n),
			Object: map[string]any{"id": fmt.Sprintf("cus_Revoke%d", n)}})
		req, _ := http.NewRequest("POST", h.serveURL+"/webhooks/stripe/test", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, secret, time.Now()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(oldSecret); got != 200 {
		t.Fatalf("before the rotation: %d", got)
	}
	res := h.ok("setup_webhook", map[string]any{"env": "test", "signing_secret": newSecret})
	if get(res, "endpoint", "previous_secret_accepted_until") == nil {
		t.Fatalf("rotation = %v", res)
	}
	time.Sleep(1100 * time.Millisecond) // billwire serve reads the secrets again after a second
	if got := post(oldSecret); got != 200 {
		t.Fatalf("the previous secret during its grace: %d", got)
	}
	res = h.ok("setup_webhook", map[string]any{"env": "test", "revoke_previous": true})
	if res["previous_secret_revoked"] != true || get(res, "endpoint", "previous_secret_accepted_until") != nil ||
		get(res, "endpoint", "signing_secret") != "whsec_…0002" {
		t.Fatalf("revoke = %v", res)
	}
	if got := post(oldSecret); got != 400 {
		t.Fatalf("the previous secret after revoke_previous: %d, want 400", got)
	}
	if got := post(newSecret); got != 200 {
		t.Fatalf("the current secret after revoke_previous: %d", got)
	}
	// Nothing left to revoke: said so, not an error.
	if res := h.ok("setup_webhook", map[string]any{"env": "test", "revoke_previous": true}); res["previous_secret_revoked"] != false {
		t.Fatalf("second revoke = %v", res)
	}
	// A rotation and its revocation in one call.
	const third = "whsec_thirdSecret00000000000000000003"
	res = h.ok("setup_webhook", map[string]any{"env": "test", "signing_secret": third, "revoke_previous": true})
	if res["action"] != "stored_cli_secret" || res["previous_secret_revoked"] != true {
		t.Fatalf("rotate and revoke = %v", res)
	}
	time.Sleep(1100 * time.Millisecond) // the cached current secret, newSecret, expires
	if got := post(newSecret); got != 400 {
		t.Fatalf("the secret replaced with revoke_previous: %d, want 400", got)
	}
	h.assertNoSecret(oldSecret)
}
