package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/vocab"
)

// seedTerms adds products whose prices carry the app's terms in their
// metadata, as create_price stores them: prod_Trial (monthly: 14 days and
// promotion codes; yearly: 21 days), prod_Long (30 days), prod_Tax
// (automatic tax, and a trial no one can read).
func seedTerms(t *testing.T, r *rig) {
	t.Helper()
	obj := func(m map[string]any) json.RawMessage {
		m["livemode"], m["created"] = false, 1718900000
		b, _ := json.Marshal(m)
		return b
	}
	recurring := map[string]any{"interval": "month", "interval_count": 1, "usage_type": "licensed"}
	products := []json.RawMessage{
		obj(map[string]any{"id": "prod_Trial", "object": "product", "name": "Trial", "active": true, "metadata": map[string]any{}}),
		obj(map[string]any{"id": "prod_Long", "object": "product", "name": "Long", "active": true, "metadata": map[string]any{}}),
		obj(map[string]any{"id": "prod_Tax", "object": "product", "name": "Tax", "active": true, "metadata": map[string]any{}}),
	}
	prices := []json.RawMessage{
		obj(map[string]any{"id": "price_Trial14", "object": "price", "product": "prod_Trial", "active": true, "currency": "usd", "unit_amount": 2000,
			"type": "recurring", "recurring": recurring, "lookup_key": "trial_monthly",
			"metadata": map[string]any{"billwire_trial_period_days": "14", "billwire_allow_promotion_codes": "true"}}),
		obj(map[string]any{"id": "price_TrialYearly", "object": "price", "product": "prod_Trial", "active": true, "currency": "usd", "unit_amount": 20000,
			"type": "recurring", "recurring": map[string]any{"interval": "year", "interval_count": 1, "usage_type": "licensed"},
			"metadata": map[string]any{"billwire_trial_period_days": "21"}}),
		obj(map[string]any{"id": "price_Long30", "object": "price", "product": "prod_Long", "active": true, "currency": "usd", "unit_amount": 500,
			"type": "recurring", "recurring": recurring, "metadata": map[string]any{"billwire_trial_period_days": "30"}}),
		obj(map[string]any{"id": "price_Tax", "object": "price", "product": "prod_Tax", "active": true, "currency": "usd", "unit_amount": 700,
			"type": "recurring", "recurring": recurring, "metadata": map[string]any{"billwire_automatic_tax": "true", "billwire_trial_period_days": "soon"}}),
	}
	ctx := context.Background()
	if _, err := r.st.Upsert(ctx, vocab.Test, vocab.Products, products, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.Upsert(ctx, vocab.Test, vocab.Prices, prices, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func items(ids ...string) []map[string]any {
	out := make([]map[string]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"price_id": id, "quantity": 1}
	}
	return out
}

// lastSession is the body of the newest Checkout Session Stripe was asked for.
func (r *rig) lastSession() map[string]string {
	r.t.Helper()
	all := r.rec.Bodies("POST /v1/checkout/sessions")
	if len(all) == 0 {
		r.t.Fatal("Stripe was not asked for a session")
	}
	out := map[string]string{}
	for k := range all[len(all)-1] {
		out[k] = all[len(all)-1].Get(k)
	}
	return out
}

// An end user's token cannot choose the terms: each such field is refused
// by name, before anything is written or Stripe is asked; order_id is the
// one metadata key it may send.
func TestUserTokenMayNotChooseTerms(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	seedTerms(t, r)
	tok := token(t, jwt.MapClaims{"sub": "u_att", "teams": []string{"t_att"}})
	cases := []struct {
		name, field string
		set         func(b map[string]any)
	}{
		{"the longest trial", "trial_period_days", func(b map[string]any) { b["trial_period_days"] = 730 }},
		{"no trial either", "trial_period_days", func(b map[string]any) { b["trial_period_days"] = 0 }},
		{"promotion codes", "allow_promotion_codes", func(b map[string]any) { b["allow_promotion_codes"] = true }},
		{"promotion codes off", "allow_promotion_codes", func(b map[string]any) { b["allow_promotion_codes"] = false }},
		{"automatic tax", "automatic_tax", func(b map[string]any) { b["automatic_tax"] = true }},
		{"a coupon in metadata", "metadata.coupon", func(b map[string]any) { b["metadata"] = map[string]string{"coupon": "x"} }},
		{"metadata beside the order", "metadata.discount", func(b map[string]any) {
			b["metadata"] = map[string]string{"order_id": "o_1", "discount": "100"}
		}},
		{"for a team", "trial_period_days", func(b map[string]any) { b["subject"] = team("t_att"); b["trial_period_days"] = 730 }},
		{"out of range as well", "trial_period_days", func(b map[string]any) { b["trial_period_days"] = 100000 }},
	}
	for _, c := range cases {
		b := checkoutBody(user("u_att"), items("price_Trial14")...)
		c.set(b)
		res := r.do("POST", checkoutPath, tok, b)
		msg, _ := res.body["message"].(string)
		if res.status != 400 || res.body["code"] != "field_not_allowed" || !strings.Contains(msg, c.field) {
			t.Errorf("%s: %d %v, want 400 field_not_allowed naming %s", c.name, res.status, res.body, c.field)
		}
	}
	if n := r.rec.Calls("POST /v1/checkout/sessions") + r.rec.Calls("POST /v1/customers"); n != 0 {
		t.Fatalf("refused requests reached Stripe %d times", n)
	}
	if n := r.countRows(`true`); n != 0 {
		t.Fatalf("refused requests left %d rows", n)
	}

	// The pending order's id is allowed and reaches Stripe.
	b := checkoutBody(user("u_att"), map[string]any{"lookup_key": "credit_pack", "quantity": 1})
	b["mode"], b["metadata"] = "payment", map[string]string{"order_id": "o_42"}
	if res := r.do("POST", checkoutPath, tok, b); res.status != 201 {
		t.Fatalf("order_id from a user token: %d %v", res.status, res.body)
	}
	if s := r.lastSession(); s["metadata[order_id]"] != "o_42" || s["payment_intent_data[metadata][order_id]"] != "o_42" {
		t.Fatalf("order_id did not reach Stripe: %v", s)
	}
}

// The terms a user gets are the prices': a trial of 14 days and promotion
// codes from the price, the longest trial of several prices, automatic tax
// when a price asks for it, and nothing from a price without terms.
func TestPriceTermsApplyToUserCheckouts(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	seedTerms(t, r)
	tok := func(sub string) string { return token(t, jwt.MapClaims{"sub": sub}) }

	if res := r.do("POST", checkoutPath, tok("u_a"), checkoutBody(user("u_a"), items("price_Trial14")...)); res.status != 201 {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	s := r.lastSession()
	if s["subscription_data[trial_period_days]"] != "14" || s["allow_promotion_codes"] != "true" || s["automatic_tax[enabled]"] != "" {
		t.Fatalf("a 14-day price gave %v", s)
	}

	if res := r.do("POST", checkoutPath, tok("u_b"), checkoutBody(user("u_b"), items("price_Trial14", "price_Long30")...)); res.status != 201 {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	if s := r.lastSession(); s["subscription_data[trial_period_days]"] != "30" || s["allow_promotion_codes"] != "" {
		t.Fatalf("14 and 30 days gave %v, want the longest (and no promotion codes: price_Long30 takes none)", s)
	}

	if res := r.do("POST", checkoutPath, tok("u_c"), checkoutBody(user("u_c"), items("price_Tax")...)); res.status != 201 {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	if s := r.lastSession(); s["automatic_tax[enabled]"] != "true" || s["customer_update[address]"] != "auto" ||
		s["subscription_data[trial_period_days]"] != "" || s["allow_promotion_codes"] != "" {
		t.Fatalf("an automatic-tax price (with a trial no one can read) gave %v", s)
	}

	if res := r.do("POST", checkoutPath, tok("u_d"), checkoutBody(user("u_d"))); res.status != 201 {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	if s := r.lastSession(); s["subscription_data[trial_period_days]"] != "" || s["allow_promotion_codes"] != "" || s["automatic_tax[enabled]"] != "" {
		t.Fatalf("a price without terms gave %v", s)
	}

	// The price's terms change (Stripe's event, projected): the very next
	// checkout has them, though the prices of these items were cached.
	r.postEvent(eventfixtures.MustEvent(t, "price.updated", eventfixtures.Options{
		Created: time.Now().Add(time.Minute).Unix(),
		Replace: map[string]string{"price_Fixture1": "price_Trial14", "prod_Fixture1": "prod_Trial", "pro_monthly": "trial_monthly"},
		Object:  map[string]any{"metadata": map[string]any{"billwire_trial_period_days": "7"}, "unit_amount": 2000},
	}))
	if res := r.do("POST", checkoutPath, tok("u_e"), checkoutBody(user("u_e"), items("price_Trial14")...)); res.status != 201 {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	if s := r.lastSession(); s["subscription_data[trial_period_days]"] != "7" || s["allow_promotion_codes"] != "" {
		t.Fatalf("after the price's terms changed: %v, want 7 days without promotion codes", s)
	}
}

// postEvent sends a signed event to billwire serve's test route.
func (r *rig) postEvent(payload []byte) {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.url+"/webhooks/stripe/test", bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, whsec, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		r.t.Fatalf("webhook answered %d", resp.StatusCode)
	}
}

// A subject gets a product's trial once: not again while its first trial
// checkout is open, again once that one expired unused, never again once a
// subscription with a trial of the product exists (any status, even one
// made outside billwire for another customer of the subject). Another
// product's trial, and another subject, are unaffected.
func TestTrialOncePerSubjectAndProduct(t *testing.T) {
	t.Parallel()
	// The session rates are off and each checkout has its own success URL
	// (an identical open one would be given again): this test is about
	// the trial claims.
	r := newRig(t, noSessionRates)
	seedTerms(t, r)
	tok := token(t, jwt.MapClaims{"sub": "u_farm"})
	n := 0
	trial := func(subject string, prices ...string) string {
		t.Helper()
		bearer := tok
		if subject != "u_farm" {
			bearer = token(t, jwt.MapClaims{"sub": subject})
		}
		n++
		body := checkoutBody(user(subject), items(prices...)...)
		body["success_url"] = fmt.Sprintf("%s/billing?try=%d", appOrigin, n)
		res := r.do("POST", checkoutPath, bearer, body)
		if res.status != 201 {
			t.Fatalf("checkout: %d %v", res.status, res.body)
		}
		return r.lastSession()["subscription_data[trial_period_days]"]
	}
	if got := trial("u_farm", "price_Trial14"); got != "14" {
		t.Fatalf("first checkout: trial %q, want 14", got)
	}
	if got := trial("u_farm", "price_Trial14"); got != "" {
		t.Fatalf("second checkout while the first is open: trial %q, want none", got)
	}
	if got := trial("u_farm", "price_TrialYearly"); got != "" {
		t.Fatalf("another price of the trialed product: trial %q, want none", got)
	}
	if got := trial("u_farm", "price_Trial14", "price_Long30"); got != "" {
		t.Fatalf("the trialed product with another: trial %q, want none", got)
	}
	if got := trial("u_other", "price_Trial14"); got != "14" {
		t.Fatalf("another subject: trial %q, want 14", got)
	}

	// The open checkouts expire unused: the trial is there again.
	r.st.Flush()
	if _, err := r.st.Pool().Exec(context.Background(), `UPDATE payments.checkout_sessions SET status = 'expired' WHERE subject_id = 'u_farm'`); err != nil {
		t.Fatal(err)
	}
	if got := trial("u_farm", "price_Trial14"); got != "14" {
		t.Fatalf("after the trial checkouts expired: trial %q, want 14", got)
	}

	// It is used: Stripe reports the trialing subscription; the checkout
	// row itself then expires (as if completed elsewhere).
	cust := r.lastSession()["customer"]
	r.postEvent(eventfixtures.MustEvent(t, "customer.subscription.created", eventfixtures.Options{
		Created: time.Now().Unix(),
		Replace: map[string]string{"cus_Fixture1": cust, "sub_Fixture1": "sub_FarmTrial", "price_Fixture1": "price_Trial14",
			"prod_Fixture1": "prod_Trial", "u_123": "u_farm"},
		Object: map[string]any{"status": "canceled", "trial_start": time.Now().Add(-20 * 24 * time.Hour).Unix(),
			"trial_end": time.Now().Add(-6 * 24 * time.Hour).Unix()},
	}))
	r.st.Flush()
	if _, err := r.st.Pool().Exec(context.Background(), `UPDATE payments.checkout_sessions SET status = 'expired' WHERE subject_id = 'u_farm'`); err != nil {
		t.Fatal(err)
	}
	if got := trial("u_farm", "price_Trial14"); got != "" {
		t.Fatalf("after a trial subscription of the product: trial %q, want none", got)
	}
	if got := trial("u_farm", "price_Long30"); got != "30" {
		t.Fatalf("another product: trial %q, want 30", got)
	}

	// A subscription made elsewhere, for another customer, names the subject.
	r.postEvent(eventfixtures.MustEvent(t, "customer.subscription.created", eventfixtures.Options{
		Created: time.Now().Unix(),
		Replace: map[string]string{"cus_Fixture1": "cus_Elsewhere", "sub_Fixture1": "sub_Elsewhere", "price_Fixture1": "price_Tax",
			"prod_Fixture1": "prod_Tax", "u_123": "u_other"},
		Object: map[string]any{"status": "trialing", "trial_start": time.Now().Unix(), "trial_end": time.Now().Add(7 * 24 * time.Hour).Unix()},
	}))
	// (A second subscription to prod_Tax is refused since issue 18 unless
	// the backend asks for it: allow_multiple.)
	body := checkoutBody(user("u_other"), items("price_Long30", "price_Tax")...)
	body["allow_multiple"] = true
	res := r.do("POST", checkoutPath, r.apiKey, body)
	if res.status != 201 {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	if s := r.lastSession(); s["subscription_data[trial_period_days]"] != "" {
		t.Fatalf("a product the subject had a trial of elsewhere: %v, want no trial", s)
	}
}

// Concurrent checkouts of one subject get one trial between them.
func TestConcurrentCheckoutsShareOneTrial(t *testing.T) {
	t.Parallel()
	r := newRig(t, noSessionRates) // eight at once are over the default burst

	seedTerms(t, r)
	tok := token(t, jwt.MapClaims{"sub": "u_race"})
	// Warm the price cache, so the checkouts take the one-statement path.
	if res := r.do("POST", checkoutPath, r.apiKey, checkoutBody(user("u_warm"), items("price_Trial14", "price_Long30")...)); res.status != 201 {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Alternating item sets overlap in prod_Trial.
			ids := []string{"price_Trial14", "price_Long30"}
			if i%2 == 1 {
				ids = []string{"price_Trial14"}
			}
			body := checkoutBody(user("u_race"), items(ids...)...)
			body["success_url"] = fmt.Sprintf("%s/billing?try=%d", appOrigin, i)
			res := r.do("POST", checkoutPath, tok, body)
			statuses[i] = res.status
		}()
	}
	wg.Wait()
	trials := 0
	for _, b := range r.rec.Bodies("POST /v1/checkout/sessions") {
		if b.Get("customer") != "" && b.Get("metadata[billwire_subject_id]") == "u_race" && b.Get("subscription_data[trial_period_days]") != "" {
			trials++
		}
	}
	if trials != 1 || fmt.Sprint(statuses) != fmt.Sprint([]int{201, 201, 201, 201, 201, 201, 201, 201}) {
		t.Fatalf("%d of 8 concurrent checkouts got a trial (statuses %v), want 1", trials, statuses)
	}
	var claims int
	if err := r.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM payments.trial_claims WHERE subject_id = 'u_race'`).Scan(&claims); err != nil {
		t.Fatal(err)
	}
	if claims < 1 || claims > 2 {
		t.Fatalf("%d trial claims for u_race", claims)
	}
}

// The app's backend may set the terms per checkout: no trial where the
// price has one, a trial where the subject had one, promotion codes off,
// its own metadata.
func TestAPIKeyOverridesPriceTerms(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	seedTerms(t, r)
	do := func(mut func(b map[string]any), prices ...string) map[string]string {
		t.Helper()
		b := checkoutBody(user("u_k"), items(prices...)...)
		mut(b)
		if res := r.do("POST", checkoutPath, r.apiKey, b); res.status != 201 {
			t.Fatalf("checkout: %d %v", res.status, res.body)
		}
		return r.lastSession()
	}
	s := do(func(b map[string]any) { b["trial_period_days"], b["allow_promotion_codes"] = 0, false }, "price_Trial14")
	if s["subscription_data[trial_period_days]"] != "" || s["allow_promotion_codes"] == "true" {
		t.Fatalf("trial 0 and no promotion codes: %v", s)
	}
	// That checkout carried no trial, so the price's trial is still there.
	if s := do(func(map[string]any) {}, "price_Trial14"); s["subscription_data[trial_period_days]"] != "14" {
		t.Fatalf("the price's trial after a checkout without one: %v", s)
	}
	s = do(func(b map[string]any) {
		b["trial_period_days"], b["automatic_tax"], b["metadata"] = 45, true, map[string]string{"coupon": "SPRING"}
	}, "price_Trial14")
	if s["subscription_data[trial_period_days]"] != "45" || s["automatic_tax[enabled]"] != "true" || s["metadata[coupon]"] != "SPRING" {
		t.Fatalf("the backend's own terms: %v", s)
	}
	res := r.do("POST", checkoutPath, r.apiKey, func() map[string]any {
		b := checkoutBody(user("u_k"))
		b["mode"], b["line_items"], b["trial_period_days"] = "payment", items("price_Pack"), 5
		return b
	}())
	if res.status != 400 || res.body["code"] != "invalid_request" {
		t.Fatalf("a trial in payment mode: %d %v", res.status, res.body)
	}
}

// The README's browser example, as a page of the app sends it.
func TestReadmeBrowserExample(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	body := `{"mode":"subscription","line_items":[{"lookup_key":"pro_monthly","quantity":1}],"subject":{"type":"user","id":"u_readme"},` +
		`"success_url":"https://app.example.com/billing?checkout=done","cancel_url":"https://app.example.com/billing"}`
	res := r.do("POST", checkoutPath, token(t, jwt.MapClaims{"sub": "u_readme"}), body, "Origin", appOrigin)
	if res.status != 201 || !strings.HasPrefix(fmt.Sprint(res.body["url"]), "https://") || res.header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("the README's example: %d %v %v", res.status, res.body, res.header)
	}
}

// noSessionRates turns the session API's rate limits off, for tests about
// something else that send more checkouts of one subject than its burst.
func noSessionRates(c *runtime.APIConfig) { c.Rates = &runtime.SessionRates{} }
