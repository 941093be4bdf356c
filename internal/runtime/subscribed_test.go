package runtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// subscribe mirrors a subscription of subject to price_ProMonthly (product
// prod_Pro) with status, as a webhook would have.
func (r *rig) subscribe(id, subjectType, subjectID, status string) {
	r.t.Helper()
	obj, _ := json.Marshal(map[string]any{"id": id, "object": "subscription", "customer": "cus_" + subjectID, "status": status,
		"currency": "usd", "created": 1718900000, "livemode": false, "cancel_at_period_end": false,
		"metadata": map[string]any{vocab.MetaSubjectType: subjectType, vocab.MetaSubjectID: subjectID},
		"items": map[string]any{"object": "list", "has_more": false, "data": []any{map[string]any{"id": "si_" + id, "object": "subscription_item",
			"subscription": id, "quantity": 1, "price": map[string]any{"id": "price_ProMonthly", "object": "price", "product": "prod_Pro"}}}}})
	if _, err := r.st.Upsert(context.Background(), vocab.Test, vocab.Subscriptions, []json.RawMessage{obj}, time.Now()); err != nil {
		r.t.Fatal(err)
	}
}

// A team that already pays for a product cannot open a second
// subscription checkout for it, by any price of that product (the portal
// changes plans); nothing is written and Stripe is not called.
func TestSecondSubscriptionIsRefused(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.subscribe("sub_Team1", "team", "t_1", "active")
	admin := token(t, jwt.MapClaims{"sub": "u_admin", "teams": []string{"t_1", "t_2"}, "billing_teams": []string{"t_1", "t_2"}})
	before := r.rec.Calls("POST /v1/checkout/sessions") + r.rec.Calls("POST /v1/customers")
	for _, price := range []string{"price_ProMonthly", "price_ProEUR"} {
		got := r.do("POST", "/api/payments/test/checkout-sessions", admin, checkoutBody(team("t_1"), map[string]any{"price_id": price, "quantity": 1}))
		if got.status != http.StatusConflict || got.body["code"] != "already_subscribed" || !strings.Contains(got.body["message"].(string), "portal") {
			t.Fatalf("%s: %d %v", price, got.status, got.body)
		}
	}
	if n := r.countRows("subject_id = 't_1'"); n != 0 {
		t.Fatalf("%d checkout rows written for a refused checkout", n)
	}
	if r.rec.Calls("POST /v1/checkout/sessions")+r.rec.Calls("POST /v1/customers") != before {
		t.Fatalf("Stripe was called for a refused checkout")
	}
	// Another team, a one-time purchase, or an ended subscription: no refusal.
	if got := r.do("POST", "/api/payments/test/checkout-sessions", admin, checkoutBody(team("t_2"))); got.status != http.StatusCreated {
		t.Fatalf("another team: %d %v", got.status, got.body)
	}
	pack := checkoutBody(team("t_1"), map[string]any{"price_id": "price_Pack", "quantity": 1})
	pack["mode"] = "payment"
	if got := r.do("POST", "/api/payments/test/checkout-sessions", admin, pack); got.status != http.StatusCreated {
		t.Fatalf("a one-time purchase: %d %v", got.status, got.body)
	}
	for _, status := range []string{"trialing", "past_due"} {
		r.subscribe("sub_Team3_"+status, "team", "t_3_"+status, status)
		if got := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, checkoutBody(team("t_3_"+status))); got.status != http.StatusConflict {
			t.Fatalf("%s: %d %v", status, got.status, got.body)
		}
	}
	r.subscribe("sub_Team4", "team", "t_4", "canceled")
	if got := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, checkoutBody(team("t_4"))); got.status != http.StatusCreated {
		t.Fatalf("after the subscription ended: %d %v", got.status, got.body)
	}
}

// The app's backend may open a second subscription on purpose
// (allow_multiple); an end user's token may not ask for it.
func TestAllowMultipleIsTheBackendsChoice(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.subscribe("sub_Team1", "team", "t_1", "active")
	body := checkoutBody(team("t_1"))
	body["allow_multiple"] = true
	if got := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body); got.status != http.StatusCreated {
		t.Fatalf("API key with allow_multiple: %d %v", got.status, got.body)
	}
	admin := token(t, jwt.MapClaims{"sub": "u_admin", "teams": []string{"t_1"}, "billing_teams": []string{"t_1"}})
	if got := r.do("POST", "/api/payments/test/checkout-sessions", admin, body); got.status != http.StatusBadRequest || got.body["code"] != "field_not_allowed" {
		t.Fatalf("user token with allow_multiple: %d %v", got.status, got.body)
	}
}
