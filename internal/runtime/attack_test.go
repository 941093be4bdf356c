package runtime_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// trialSessions counts the Checkout Sessions Stripe was asked for with a
// trial for subject id.
func (r *rig) trialSessions(id string) int {
	n := 0
	for _, b := range r.rec.Bodies("POST /v1/checkout/sessions") {
		if b.Get("metadata[billwire_subject_id]") == id && b.Get("subscription_data[trial_period_days]") != "" {
			n++
		}
	}
	return n
}

// An end user makes a trial checkout fail (Stripe fails, or the user drops
// the connection while billwire waits for Stripe), then retries it under
// its idempotency key while it starts another checkout of the product: the
// failed row's claim no longer held, so the other checkout took the trial,
// while the retry still carried the trial it had read. Two trial sessions
// of one product for one subject.
func TestFailedCheckoutRetryDoesNotDoubleTheTrial(t *testing.T) {
	t.Parallel()
	r := newRig(t, noSessionRates)
	seedTerms(t, r)
	tok := token(t, jwt.MapClaims{"sub": "u_retry"})
	k1 := checkoutBody(user("u_retry"), items("price_Trial14")...)
	k1["idempotency_key"] = "click-1"
	r.rec.FailNext("POST /v1/checkout/sessions", 400, "invalid_request_error", "Something went wrong")
	if res := r.do("POST", checkoutPath, tok, k1); res.status != http.StatusBadGateway {
		t.Fatalf("the failing checkout: %d %v", res.status, res.body)
	}
	failed := r.trialSessions("u_retry") // the refused request
	// The retry waits for Stripe while the other checkout is made.
	arrived, release := r.rec.HoldNext("POST /v1/checkout/sessions")
	defer release()
	retried := make(chan int, 1)
	go func() { retried <- r.do("POST", checkoutPath, tok, k1).status }()
	<-arrived
	k2 := checkoutBody(user("u_retry"), items("price_Trial14")...)
	k2["success_url"] = appOrigin + "/billing?try=2"
	other := r.do("POST", checkoutPath, tok, k2)
	release()
	if st := <-retried; st != http.StatusCreated || other.status != http.StatusCreated {
		t.Fatalf("retry %d, other checkout %d %v", st, other.status, other.body)
	}
	if n := r.trialSessions("u_retry") - failed; n != 1 {
		t.Fatalf("%d trial sessions of prod_Trial for u_retry, want 1", n)
	}
}

// portalUpdates are the subscription updates the newest Billing Portal
// configuration billwire sent allows.
func (r *rig) portalUpdates(route string) []string {
	r.t.Helper()
	all := r.rec.Bodies(route)
	if len(all) == 0 {
		r.t.Fatalf("no %s", route)
	}
	var out []string
	for k, v := range all[len(all)-1] {
		if strings.HasPrefix(k, "features[subscription_update][default_allowed_updates]") {
			out = append(out, v...)
		}
	}
	sort.Strings(out)
	return out
}

// An end user whose prices take no promotion codes opens the Billing
// Portal: changing plans there must not let it enter one either (the
// portal's promotion_code update), or the price's terms are bypassed.
func TestPortalOffersPromotionCodesOnlyWhereThePricesDo(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	tok := token(t, jwt.MapClaims{"sub": "u_promo"})
	if res := r.do("POST", checkoutPath, tok, checkoutBody(user("u_promo"))); res.status != http.StatusCreated {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	portal := func() reply {
		t.Helper()
		res := r.do("POST", "/api/payments/test/portal-sessions", tok, map[string]any{"subject": user("u_promo"), "return_url": appOrigin + "/billing"})
		if res.status != http.StatusCreated {
			t.Fatalf("portal: %d %v", res.status, res.body)
		}
		return res
	}
	res := portal()
	if got := r.portalUpdates("POST /v1/billing_portal/configurations"); slices.Contains(got, "promotion_code") || !slices.Contains(got, "price") {
		t.Fatalf("the portal allows %v for prices without promotion codes", got)
	}
	// The app allows promotion codes on every price the portal offers:
	// the portal does too.
	if _, err := r.st.Pool().Exec(context.Background(), `UPDATE payments.prices
		SET metadata = metadata || '{"billwire_allow_promotion_codes": "true"}' WHERE product_id = 'prod_Pro'`); err != nil {
		t.Fatal(err)
	}
	portal()
	if got := r.portalUpdates("POST /v1/billing_portal/configurations/" + fmt.Sprint(res.body["configuration_id"])); !slices.Contains(got, "promotion_code") {
		t.Fatalf("the portal allows %v where every price takes promotion codes", got)
	}
}

// An end user adds a cheap item whose price takes promotion codes to a
// plan whose price does not: promotion codes (which discount the whole
// session unless the coupon names products) would open for the plan too.
// A checkout takes them only when every one of its prices does.
func TestPromotionCodesNeedEveryPrice(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	seedTerms(t, r)
	tok := token(t, jwt.MapClaims{"sub": "u_mix"})
	body := checkoutBody(user("u_mix"), items("price_Long30", "price_Trial14")...)
	if res := r.do("POST", checkoutPath, tok, body); res.status != http.StatusCreated {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	if s := r.lastSession(); s["allow_promotion_codes"] != "" {
		t.Fatalf("a plan without promotion codes, with an item that takes them: %v", s)
	}
	if res := r.do("POST", checkoutPath, r.apiKey, checkoutBody(user("u_mix2"), items("price_Trial14")...)); res.status != http.StatusCreated {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	if s := r.lastSession(); s["allow_promotion_codes"] != "true" {
		t.Fatalf("the price that takes promotion codes alone: %v", s)
	}
}
