package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

const lifeKey = "sk_test_51LifecycleRoutesKey0000000000004242"

// lifeRig is billwire serve over Stripe's stateful fake, which delivers its
// events to billwire's receiver: subscriptions are real test
// subscriptions, and the projection follows from the webhooks.
type lifeRig struct {
	*rig
	fake   *stripetest.Fake
	prices map[string]string // lookup key → price id
}

func startLife(t testing.TB) *lifeRig { return startLifeWith(t, lifeConfig{}) }

// lifeConfig changes the rig for a benchmark: the Stripe client's HTTP
// client, a wrapper of billwire serve's handler, the session rates.
type lifeConfig struct {
	stripeClient *http.Client
	wrap         func(http.Handler) http.Handler
	rates        *runtime.SessionRates
}

func startLifeWith(t testing.TB, cfg lifeConfig) *lifeRig {
	t.Helper()
	ctx := context.Background()
	st := storetest.New(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{DeliverEvents: true})
	log := zerolog.New(io.Discard)
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1e6, HTTPClient: cfg.stripeClient}, log)
	if _, err := svc.ConfigureKey(ctx, vocab.Test, lifeKey, false); err != nil {
		t.Fatal(err)
	}
	origins, err := auth.ParseOrigins(appOrigin)
	if err != nil {
		t.Fatal(err)
	}
	rates := cfg.rates
	if rates == nil {
		rates = &runtime.SessionRates{}
	}
	srv, err := runtime.New(st, svc, log, runtime.Options{API: runtime.APIConfig{
		JWT:     auth.JWTConfig{HS256Secret: jwtSecret, Env: vocab.Test, TeamsClaim: "teams", BillingRoleClaim: "billing_teams"},
		Origins: origins, Rates: rates,
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() { hs.Close(); srv.Processor().Close() })
	if _, err := svc.SetupWebhook(ctx, vocab.Test, hs.URL+"/webhooks/stripe/test", "", ""); err != nil {
		t.Fatal(err)
	}
	key, hash, hint := auth.NewAPIKey()
	if _, err := st.CreateAPIKey(ctx, vocab.Test, "app-backend", hash, hint); err != nil {
		t.Fatal(err)
	}
	r := &lifeRig{rig: &rig{t: t, st: st, svc: svc, url: hs.URL, apiKey: key}, fake: fake, prices: map[string]string{}}
	basic := r.plan("Basic", 1000, "usd", "month", "basic_monthly", 0, 0)
	pro := r.plan("Pro", 3000, "usd", "month", "pro_monthly", 0, 0)
	r.price(pro, 30000, "usd", "year", "pro_yearly", 0, 0)
	r.price(basic, 900, "eur", "month", "basic_eur", 0, 0)
	r.price(basic, 500, "usd", "", "basic_pack", 0, 0)
	seats := r.plan("Team", 1000, "usd", "month", "team_seats", 2, 10)
	r.price(seats, 2000, "usd", "month", "team_seats_plus", 2, 10)
	r.plan("Other", 5000, "usd", "month", "other_monthly", 0, 0)
	if _, err := svc.Checkout().SetSwitchablePrices(ctx, vocab.Test, "plans", []string{"basic_monthly", "pro_monthly", "pro_yearly", "basic_eur"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Checkout().SetSwitchablePrices(ctx, vocab.Test, "seats", []string{"team_seats", "team_seats_plus"}); err != nil {
		t.Fatal(err)
	}
	return r
}

// plan creates a product with a monthly (or other) price and returns the product.
func (r *lifeRig) plan(name string, amount int64, currency, interval, lookup string, minQ, maxQ int64) string {
	r.t.Helper()
	res, err := r.svc.CreatePlan(context.Background(), vocab.Test, billing.PlanInput{Name: name, UnitAmount: amount, Currency: currency,
		Interval: interval, LookupKey: lookup, PriceTermsInput: billing.PriceTermsInput{MinQuantity: minQ, MaxQuantity: maxQ}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.prices[lookup] = res.Price.ID
	return res.Product.ID
}

func (r *lifeRig) price(product string, amount int64, currency, interval, lookup string, minQ, maxQ int64) {
	r.t.Helper()
	res, err := r.svc.CreatePrice(context.Background(), vocab.Test, billing.PriceInput{ProductID: product, UnitAmount: amount, Currency: currency,
		Interval: interval, LookupKey: lookup, PriceTermsInput: billing.PriceTermsInput{MinQuantity: minQ, MaxQuantity: maxQ}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.prices[lookup] = res.ID
}

// subscribe makes a real test subscription of subject to lookup and waits
// until its webhooks have projected it.
func (r *lifeRig) subscribe(sub auth.Subject, lookup string) string {
	r.t.Helper()
	res, err := r.svc.CreateTestSubscription(context.Background(), billing.TestSubscriptionRequest{Subject: sub, LookupKey: lookup})
	if err != nil {
		r.t.Fatal(err)
	}
	r.waitProjected(res.SubscriptionID, func(s projected) bool { return s.status == "active" })
	return res.SubscriptionID
}

// projected is a subscription as billwire's mirror has it.
type projected struct {
	status      string
	price       string
	quantity    int64
	items       int
	cancelAtEnd bool
}

func (r *lifeRig) projection(id string) projected {
	r.t.Helper()
	var p projected
	err := r.st.Pool().QueryRow(context.Background(), `
		SELECT s.status, s.cancel_at_period_end,
			coalesce((SELECT price_id FROM payments.subscription_items i WHERE i.subscription_id = s.id ORDER BY i.id LIMIT 1), ''),
			coalesce((SELECT quantity FROM payments.subscription_items i WHERE i.subscription_id = s.id ORDER BY i.id LIMIT 1), 0),
			(SELECT count(*) FROM payments.subscription_items i WHERE i.subscription_id = s.id)
		FROM payments.subscriptions s WHERE s.id = $1`, id).Scan(&p.status, &p.cancelAtEnd, &p.price, &p.quantity, &p.items)
	if err != nil && err.Error() != "no rows in result set" {
		r.t.Fatal(err)
	}
	return p
}

// waitProjected waits until the mirror of subscription id satisfies ok.
func (r *lifeRig) waitProjected(id string, ok func(projected) bool) projected {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		p := r.projection(id)
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("subscription %s: projection stayed %+v; deliveries %+v", id, p, r.fake.Deliveries())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stripeSub is the subscription as the fake (Stripe) has it.
func (r *lifeRig) stripeSub(id string) map[string]any {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.fake.URL()+"/v1/subscriptions/"+id, nil)
	req.SetBasicAuth(lifeKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// stripeItems are the subscription's items in Stripe: price → quantity.
func (r *lifeRig) stripeItems(id string) map[string]float64 {
	r.t.Helper()
	out := map[string]float64{}
	items, _ := r.stripeSub(id)["items"].(map[string]any)
	data, _ := items["data"].([]any)
	for _, it := range data {
		m := it.(map[string]any)
		price, _ := m["price"].(map[string]any)
		q, _ := m["quantity"].(float64)
		out[fmt.Sprint(price["id"])] = q
	}
	return out
}

// subscriptionCalls counts the Stripe requests about the subscriptions ids
// and the invoice previews.
func (r *lifeRig) subscriptionCalls(ids ...string) int {
	n := 0
	for _, rq := range r.fake.Requests() {
		for _, id := range ids {
			if strings.Contains(rq.Path, id) || strings.Contains(rq.Path, "create_preview") {
				n++
				break
			}
		}
	}
	return n
}

func subPath(id, what string) string { return "/api/payments/test/subscriptions/" + id + "/" + what }

func target(price string, quantity int) map[string]any {
	it := map[string]any{"price_id": price}
	if quantity > 0 {
		it["quantity"] = quantity
	}
	return map[string]any{"items": []any{it}}
}

func userToken(t testing.TB, id string) string { return token(t, jwt.MapClaims{"sub": id}) }

func (r *lifeRig) changeRows() int {
	r.t.Helper()
	var n int
	if err := r.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM payments.subscription_changes WHERE state = 'in_flight'`).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// An end user may act only on a subscription of a subject it manages: any
// other id, real or made up, is unknown (404), so ids cannot be probed; a
// team member without the billing role is forbidden. Nothing reaches Stripe.
func TestLifecycleRoutesAreOwned(t *testing.T) {
	t.Parallel()
	r := startLife(t)
	victim := r.subscribe(auth.Subject{Type: "user", ID: "u_victim"}, "basic_monthly")
	teamSub := r.subscribe(auth.Subject{Type: "team", ID: "t_1"}, "team_seats")
	before := r.subscriptionCalls(victim, teamSub)
	attacker := userToken(t, "u_attacker")
	member := token(t, jwt.MapClaims{"sub": "u_member", "teams": []string{"t_1"}})
	body := target(r.prices["pro_monthly"], 1)
	for _, what := range []string{"preview", "change", "cancel", "resume"} {
		for _, c := range []struct {
			who, tok, sub string
			status        int
			code          string
		}{
			{"another user", attacker, victim, 404, "unknown_subscription"},
			{"a made-up id", attacker, "sub_DoesNotExist123", 404, "unknown_subscription"},
			{"not a subscription id", attacker, "cus_Victim", 404, "unknown_subscription"},
			{"a non-member of the team", attacker, teamSub, 404, "unknown_subscription"},
			{"a member without billing role", member, teamSub, 403, "forbidden"},
		} {
			var b any
			if what == "preview" || what == "change" {
				b = body
			}
			res := r.do("POST", subPath(c.sub, what), c.tok, b)
			if res.status != c.status || (c.code != "" && res.body["code"] != c.code) {
				t.Errorf("%s %s by %s: %d %v, want %d %s", what, c.sub, c.who, res.status, res.body, c.status, c.code)
			}
		}
	}
	if n := r.subscriptionCalls(victim, teamSub) - before; n != 0 {
		t.Errorf("refused callers caused %d Stripe requests", n)
	}
	if got := r.stripeItems(victim); got[r.prices["basic_monthly"]] != 1 || len(got) != 1 {
		t.Errorf("the victim's subscription changed: %v", got)
	}
	if p := r.projection(victim); p.cancelAtEnd {
		t.Errorf("the victim's subscription was set to cancel")
	}
	if r.changeRows() != 0 {
		t.Errorf("refusals left change rows in flight")
	}
}

// An end user's upgrade costs what the preview showed and is paid before
// it applies: the user cannot choose the proration behavior, nor a
// proration date that makes the upgrade cheaper.
func TestUserUpgradeIsPaidBeforeItApplies(t *testing.T) {
	t.Parallel()
	r := startLife(t)
	sub := r.subscribe(auth.Subject{Type: "user", ID: "u_1"}, "basic_monthly")
	tok := userToken(t, "u_1")
	pro := r.prices["pro_monthly"]
	if res := r.do("POST", subPath(sub, "preview"), tok, map[string]any{"items": []any{map[string]any{"price_id": pro}}, "proration_behavior": "none"}); res.status != 400 || res.body["code"] != "field_not_allowed" {
		t.Fatalf("a user choosing proration_behavior none: %d %v", res.status, res.body)
	}
	future := time.Now().Add(25 * 24 * time.Hour).Unix() // near the period's end: almost nothing to pay
	if res := r.do("POST", subPath(sub, "change"), tok, map[string]any{"items": []any{map[string]any{"price_id": pro}}, "proration_date": future}); res.status != 400 || res.body["code"] != "stale_proration_date" {
		t.Fatalf("a user choosing a proration date at the period's end: %d %v", res.status, res.body)
	}
	old := time.Now().Add(-time.Hour).Unix()
	if res := r.do("POST", subPath(sub, "change"), tok, map[string]any{"items": []any{map[string]any{"price_id": pro}}, "proration_date": old}); res.status != 400 || res.body["code"] != "stale_proration_date" {
		t.Fatalf("an hour-old proration date: %d %v", res.status, res.body)
	}
	pv := r.do("POST", subPath(sub, "preview"), tok, target(pro, 1))
	if pv.status != 200 {
		t.Fatalf("preview: %d %v", pv.status, pv.body)
	}
	due, _ := pv.body["amount_due_now"].(float64)
	if due <= 0 || due > 2000 || pv.body["applies_when_paid"] != true || pv.body["proration_behavior"] != "always_invoice" {
		t.Fatalf("preview of an upgrade from 10 to 30 a month: %v", pv.body)
	}
	if got := r.stripeItems(sub); got[r.prices["basic_monthly"]] != 1 {
		t.Fatalf("the preview changed the subscription: %v", got)
	}
	// The card is declined now: nothing changes until the invoice is paid.
	r.fake.SetSubscriptionCard(lifeKey, sub, "pm_card_chargeDeclinedInsufficientFunds")
	body := target(pro, 1)
	body["proration_date"] = pv.body["proration_date"]
	res := r.do("POST", subPath(sub, "change"), tok, body)
	if res.status != 200 || res.body["pending"] != true {
		t.Fatalf("upgrade with a declined card: %d %v", res.status, res.body)
	}
	inv, _ := res.body["latest_invoice"].(map[string]any)
	if inv["status"] != "open" || inv["hosted_invoice_url"] == "" || inv["amount_due"] != due {
		t.Fatalf("the unpaid upgrade's invoice %v, preview said %v", inv, due)
	}
	if got := r.stripeItems(sub); got[r.prices["basic_monthly"]] != 1 || len(got) != 1 {
		t.Fatalf("an unpaid upgrade applied: %v", got)
	}
	time.Sleep(200 * time.Millisecond) // the events of the failed payment
	if p := r.projection(sub); p.price != r.prices["basic_monthly"] {
		t.Fatalf("the projection shows the unpaid plan: %+v", p)
	}
	// The user pays on the hosted invoice page: the upgrade applies, and
	// the projection follows from the webhook.
	r.fake.PayInvoice(lifeKey, fmt.Sprint(inv["id"]))
	r.waitProjected(sub, func(p projected) bool { return p.price == pro })
	if r.changeRows() != 0 {
		t.Errorf("a change row stayed in flight")
	}
}

// A downgrade credits the rest of the period on the next invoice; nothing
// is charged now.
func TestUserDowngradeCreditsTheNextInvoice(t *testing.T) {
	t.Parallel()
	r := startLife(t)
	sub := r.subscribe(auth.Subject{Type: "user", ID: "u_2"}, "pro_monthly")
	tok := userToken(t, "u_2")
	basic := r.prices["basic_monthly"]
	pv := r.do("POST", subPath(sub, "preview"), tok, target(basic, 0))
	if pv.status != 200 || pv.body["amount_due_now"] != 0.0 || pv.body["proration_behavior"] != "create_prorations" || pv.body["applies_when_paid"] != false {
		t.Fatalf("preview of a downgrade: %d %v", pv.status, pv.body)
	}
	next, _ := pv.body["next_invoice"].(map[string]any)
	if amount, _ := next["amount"].(float64); amount >= 1000 {
		t.Fatalf("the next invoice of a downgrade from 30 to 10 carries no credit: %v", next)
	}
	body := target(basic, 0)
	body["proration_date"] = pv.body["proration_date"]
	res := r.do("POST", subPath(sub, "change"), tok, body)
	if res.status != 200 || res.body["pending"] != false || res.body["latest_invoice"] != nil {
		t.Fatalf("downgrade: %d %v", res.status, res.body)
	}
	s, _ := res.body["subscription"].(map[string]any)
	if s["price_id"] != basic || s["lookup_key"] != "basic_monthly" || s["plan"] != "Basic" || s["metadata"] != nil {
		t.Fatalf("the answer's subscription %v", s)
	}
	r.waitProjected(sub, func(p projected) bool { return p.price == basic && p.items == 1 })
}

// The target must be a price the subscription can switch to; each case
// has its own code, and nothing is sent to Stripe's update.
func TestChangeRefusesBadTargets(t *testing.T) {
	t.Parallel()
	r := startLife(t)
	sub := r.subscribe(auth.Subject{Type: "user", ID: "u_3"}, "basic_monthly")
	tok := userToken(t, "u_3")
	ctx := context.Background()
	if _, err := r.st.Pool().Exec(ctx, `INSERT INTO payments.products (env, id, active, name, livemode, created, data, source_at)
		VALUES ('live', 'prod_LiveX', true, 'Live', true, now(), '{}', now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.Pool().Exec(ctx, `INSERT INTO payments.prices (env, id, product_id, active, currency, unit_amount, type, recurring_interval, recurring_interval_count, livemode, created, data, source_at)
		VALUES ('live', 'price_LiveOnly', 'prod_LiveX', true, 'usd', 3000, 'recurring', 'month', 1, true, now(), '{}', now())`); err != nil {
		t.Fatal(err)
	}
	archived := r.prices["pro_monthly"]
	proYearly := r.prices["pro_yearly"]
	cases := []struct {
		name string
		body map[string]any
		code string
	}{
		{"unknown price", target("price_Nope", 1), "unknown_price"},
		{"a live price in test", target("price_LiveOnly", 1), "price_in_other_environment"},
		{"one-time price", target(r.prices["basic_pack"], 1), "one_time_price"},
		{"another currency", target(r.prices["basic_eur"], 1), "currency_mismatch"},
		{"a price outside the families", target(r.prices["other_monthly"], 1), "price_not_switchable"},
		{"a family of another plan", target(r.prices["team_seats"], 2), "price_not_switchable"},
		{"two intervals", map[string]any{"items": []any{map[string]any{"price_id": r.prices["basic_monthly"]}, map[string]any{"price_id": proYearly}}}, "mixed_intervals"},
		{"the same price twice", map[string]any{"items": []any{map[string]any{"price_id": r.prices["pro_monthly"]}, map[string]any{"lookup_key": "pro_monthly"}}}, "duplicate_price"},
		{"too many seats", target(r.prices["pro_monthly"], 1000), "quantity_out_of_range"},
		{"no change", target(r.prices["basic_monthly"], 1), "nothing_to_change"},
		{"no items", map[string]any{"items": []any{}}, "invalid_request"},
		{"unknown field", map[string]any{"items": []any{map[string]any{"price_id": archived}}, "payment_behavior": "allow_incomplete"}, "invalid_json"},
	}
	for _, what := range []string{"preview", "change"} {
		for _, c := range cases {
			if res := r.do("POST", subPath(sub, what), tok, c.body); res.status != 400 || res.body["code"] != c.code {
				t.Errorf("%s, %s: %d %v, want 400 %s", what, c.name, res.status, res.body, c.code)
			}
		}
	}
	// A current price missing from billwire's catalog (never synced) is in
	// no family: the user cannot switch away from it.
	if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.prices SET id = 'price_Forgotten' WHERE id = $1`, r.prices["basic_monthly"]); err != nil {
		t.Fatal(err)
	}
	if res := r.do("POST", subPath(sub, "change"), tok, target(r.prices["pro_monthly"], 1)); res.status != 400 || res.body["code"] != "price_not_switchable" {
		t.Errorf("switch away from a price billwire does not know: %d %v", res.status, res.body)
	}
	if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.prices SET active = false WHERE id = $1`, archived); err != nil {
		t.Fatal(err)
	}
	if res := r.do("POST", subPath(sub, "change"), tok, target(archived, 1)); res.status != 400 || res.body["code"] != "inactive_price" {
		t.Errorf("archived price: %d %v", res.status, res.body)
	}
	for _, rq := range r.fake.Requests() {
		if rq.Method == "POST" && rq.Path == "/v1/subscriptions/"+sub {
			t.Errorf("a refused change reached Stripe: %s %s", rq.Method, rq.Path)
		}
	}
	if got := r.stripeItems(sub); got[r.prices["basic_monthly"]] != 1 || len(got) != 1 {
		t.Errorf("the subscription changed: %v", got)
	}
	if r.changeRows() != 0 {
		t.Errorf("refusals left rows in flight")
	}
}

// A team's billing admin changes seats within the price's bounds; beyond
// them, or below, is refused.
func TestTeamSeatsChange(t *testing.T) {
	t.Parallel()
	r := startLife(t)
	res, err := r.svc.CreateTestSubscription(context.Background(), billing.TestSubscriptionRequest{Subject: auth.Subject{Type: "team", ID: "t_9"}, LookupKey: "team_seats"})
	if err != nil {
		t.Fatal(err)
	}
	sub := res.SubscriptionID
	r.waitProjected(sub, func(p projected) bool { return p.status == "active" })
	admin := token(t, jwt.MapClaims{"sub": "u_admin", "teams": []string{"t_9"}, "billing_teams": []string{"t_9"}})
	seats := r.prices["team_seats"]
	for _, n := range []int{1, 11} {
		if res := r.do("POST", subPath(sub, "change"), admin, target(seats, n)); res.status != 400 || res.body["code"] != "quantity_out_of_range" {
			t.Errorf("%d seats of 2 to 10: %d %v", n, res.status, res.body)
		}
	}
	pv := r.do("POST", subPath(sub, "preview"), admin, target(seats, 5))
	if pv.status != 200 || pv.body["applies_when_paid"] != true {
		t.Fatalf("preview of more seats: %d %v", pv.status, pv.body)
	}
	got := r.do("POST", subPath(sub, "change"), admin, target(seats, 5))
	if got.status != 200 || got.body["pending"] != false {
		t.Fatalf("5 seats: %d %v", got.status, got.body)
	}
	inv, _ := got.body["latest_invoice"].(map[string]any)
	if inv["status"] != "paid" || inv["amount_due"] != pv.body["amount_due_now"] {
		t.Errorf("the seats' invoice %v, preview said %v", inv, pv.body["amount_due_now"])
	}
	r.waitProjected(sub, func(p projected) bool { return p.quantity == 5 })
	// Fewer seats: credited on the next invoice, applied at once.
	if res := r.do("POST", subPath(sub, "change"), admin, target(seats, 3)); res.status != 200 || res.body["pending"] != false {
		t.Fatalf("3 seats: %d %v", res.status, res.body)
	}
	r.waitProjected(sub, func(p projected) bool { return p.quantity == 3 })
	// Switching plan keeps the seats when the quantity is left out.
	if res := r.do("POST", subPath(sub, "change"), admin, target(r.prices["team_seats_plus"], 0)); res.status != 200 {
		t.Fatalf("to the plus plan: %d %v", res.status, res.body)
	}
	if got := r.stripeItems(sub); got[r.prices["team_seats_plus"]] != 3 || len(got) != 1 {
		t.Errorf("after switching plan: %v", got)
	}
}

// A repeated idempotency key gets the first answer without a second
// update; the key with another body is refused; a change while another is
// in flight is refused, and one left in flight by a crash is taken over.
func TestChangeIdempotencyAndConcurrency(t *testing.T) {
	t.Parallel()
	r := startLife(t)
	sub := r.subscribe(auth.Subject{Type: "user", ID: "u_4"}, "pro_monthly")
	tok := userToken(t, "u_4")
	updates := func() int {
		n := 0
		for _, rq := range r.fake.Requests() {
			if rq.Method == "POST" && rq.Path == "/v1/subscriptions/"+sub {
				n++
			}
		}
		return n
	}
	body := target(r.prices["basic_monthly"], 1)
	body["idempotency_key"] = "downgrade-1"
	first := r.do("POST", subPath(sub, "change"), tok, body)
	again := r.do("POST", subPath(sub, "change"), tok, body)
	if first.status != 200 || again.status != 200 || fmt.Sprint(first.body) != fmt.Sprint(again.body) || updates() != 1 {
		t.Fatalf("a repeated key: %d %v then %d %v, %d updates", first.status, first.body, again.status, again.body, updates())
	}
	other := target(r.prices["pro_monthly"], 1)
	other["idempotency_key"] = "downgrade-1"
	if res := r.do("POST", subPath(sub, "change"), tok, other); res.status != 409 || res.body["code"] != "idempotency_conflict" {
		t.Fatalf("the key with another body: %d %v", res.status, res.body)
	}
	// Another change of the subscription is in flight.
	ctx := context.Background()
	start, err := r.st.BeginSubscriptionChange(ctx, store.NewChange{Env: vocab.Test, SubscriptionID: sub, Kind: "change", Requester: "apikey:1", RequestHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"change", "cancel"} {
		if res := r.do("POST", subPath(sub, what), tok, target(r.prices["pro_monthly"], 1)); what == "change" && (res.status != 409 || res.body["code"] != "change_in_progress") {
			t.Errorf("%s while another is in flight: %d %v", what, res.status, res.body)
		}
	}
	if res := r.do("POST", subPath(sub, "cancel"), tok, nil); res.status != 409 || res.body["code"] != "change_in_progress" {
		t.Errorf("cancel while a change is in flight: %d %v", res.status, res.body)
	}
	// Its process died three minutes ago: the next change takes over.
	if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.subscription_changes SET created_at = now() - interval '3 minutes' WHERE id = $1`, start.ID); err != nil {
		t.Fatal(err)
	}
	if res := r.do("POST", subPath(sub, "change"), tok, target(r.prices["pro_monthly"], 1)); res.status != 200 {
		t.Errorf("after the stale change: %d %v", res.status, res.body)
	}
	if r.changeRows() != 0 {
		t.Errorf("rows left in flight")
	}
}

// Cancel at the period's end and resume; a user may not end a
// subscription now (an API key may); a paused subscription resumes.
func TestCancelAndResume(t *testing.T) {
	t.Parallel()
	r := startLife(t)
	sub := r.subscribe(auth.Subject{Type: "user", ID: "u_5"}, "basic_monthly")
	tok := userToken(t, "u_5")
	if res := r.do("POST", subPath(sub, "resume"), tok, nil); res.status != 409 || res.body["code"] != "nothing_to_resume" {
		t.Fatalf("resume of an active subscription: %d %v", res.status, res.body)
	}
	if res := r.do("POST", subPath(sub, "cancel"), tok, map[string]any{"at_period_end": false}); res.status != 400 || res.body["code"] != "field_not_allowed" {
		t.Fatalf("a user ending a subscription now: %d %v", res.status, res.body)
	}
	res := r.do("POST", subPath(sub, "cancel"), tok, nil)
	if s, _ := res.body["subscription"].(map[string]any); res.status != 200 || s["cancel_at_period_end"] != true || s["status"] != "active" {
		t.Fatalf("cancel: %d %v", res.status, res.body)
	}
	r.waitProjected(sub, func(p projected) bool { return p.cancelAtEnd })
	res = r.do("POST", subPath(sub, "resume"), tok, nil)
	if s, _ := res.body["subscription"].(map[string]any); res.status != 200 || s["cancel_at_period_end"] != false {
		t.Fatalf("resume: %d %v", res.status, res.body)
	}
	r.waitProjected(sub, func(p projected) bool { return !p.cancelAtEnd })
	// Paused (a trial ended without a card): resume starts billing again.
	r.fake.PauseSubscription(lifeKey, sub)
	r.waitProjected(sub, func(p projected) bool { return p.status == "paused" })
	if res := r.do("POST", subPath(sub, "resume"), tok, nil); res.status != 200 {
		t.Fatalf("resume a paused subscription: %d %v", res.status, res.body)
	}
	r.waitProjected(sub, func(p projected) bool { return p.status == "active" })
	// The app's backend ends it now.
	if res := r.do("POST", subPath(sub, "cancel"), r.apiKey, map[string]any{"at_period_end": false}); res.status != 200 {
		t.Fatalf("api key cancel now: %d %v", res.status, res.body)
	}
	r.waitProjected(sub, func(p projected) bool { return p.status == "canceled" })
	// Stripe refuses to change a canceled subscription: 409 with its reason.
	if res := r.do("POST", subPath(sub, "change"), r.apiKey, target(r.prices["pro_monthly"], 1)); res.status != 409 || res.body["code"] != "stripe_refused" {
		t.Fatalf("change of a canceled subscription: %d %v", res.status, res.body)
	}
	if r.changeRows() != 0 {
		t.Errorf("rows left in flight")
	}
}

// Monthly to yearly invoices at once, as the preview shows.
func TestIntervalChangeInvoicesAtOnce(t *testing.T) {
	t.Parallel()
	r := startLife(t)
	sub := r.subscribe(auth.Subject{Type: "user", ID: "u_6"}, "pro_monthly")
	tok := userToken(t, "u_6")
	yearly := r.prices["pro_yearly"]
	pv := r.do("POST", subPath(sub, "preview"), tok, target(yearly, 1))
	due, _ := pv.body["amount_due_now"].(float64)
	if pv.status != 200 || due < 26000 || due > 27000 { // a year at 300 less the unused month at 30
		t.Fatalf("preview monthly to yearly: %d %v", pv.status, pv.body)
	}
	body := target(yearly, 1)
	body["proration_date"] = pv.body["proration_date"]
	res := r.do("POST", subPath(sub, "change"), tok, body)
	inv, _ := res.body["latest_invoice"].(map[string]any)
	if res.status != 200 || inv["amount_due"] != due || inv["status"] != "paid" {
		t.Fatalf("monthly to yearly: %d %v (preview said %v)", res.status, res.body, due)
	}
	r.waitProjected(sub, func(p projected) bool { return p.price == yearly })
}

// Stripe unreachable: 503, and nothing is left of the change.
func TestChangeWhenStripeIsDown(t *testing.T) {
	t.Parallel()
	r := startLife(t)
	sub := r.subscribe(auth.Subject{Type: "user", ID: "u_7"}, "basic_monthly")
	r.fake.FailNext(10, http.StatusServiceUnavailable)
	res := r.do("POST", subPath(sub, "change"), r.apiKey, target(r.prices["pro_monthly"], 1))
	r.fake.ClearFaults()
	if res.status != 503 || res.body["code"] != "stripe_unavailable" {
		t.Fatalf("Stripe down: %d %v", res.status, res.body)
	}
	if r.changeRows() != 0 {
		t.Fatalf("a failed change left a row in flight")
	}
	if res := r.do("POST", subPath(sub, "change"), r.apiKey, target(r.prices["pro_monthly"], 1)); res.status != 200 {
		t.Fatalf("the retry: %d %v", res.status, res.body)
	}
}

// The Billing Portal offers only the switchable families' prices; when one
// bounds its seats, quantities leave the portal (it cannot bound them); no
// family: no plan switching in the portal at all.
func TestPortalFollowsSwitchableFamilies(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	tok := token(t, jwt.MapClaims{"sub": "u_portal"})
	if res := r.do("POST", checkoutPath, tok, checkoutBody(user("u_portal"))); res.status != http.StatusCreated {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	updates := 0
	portal := func() url.Values {
		t.Helper()
		res := r.do("POST", "/api/payments/test/portal-sessions", tok, map[string]any{"subject": user("u_portal"), "return_url": appOrigin + "/billing"})
		if res.status != http.StatusCreated {
			t.Fatalf("portal: %d %v", res.status, res.body)
		}
		if up := r.rec.Bodies("POST /v1/billing_portal/configurations/" + fmt.Sprint(res.body["configuration_id"])); len(up) > updates {
			updates = len(up)
			return up[len(up)-1]
		}
		all := r.rec.Bodies("POST /v1/billing_portal/configurations")
		return all[len(all)-1]
	}
	cfg := portal()
	if cfg.Get("features[subscription_update][products][0][product]") != "prod_Pro" || cfg.Get("features[subscription_update][products][1][product]") != "" ||
		cfg.Get("features[subscription_update][products][0][prices][1]") != "price_ProEUR" || cfg.Get("features[subscription_update][default_allowed_updates][1]") != "quantity" {
		t.Fatalf("the portal with family plans: %v", cfg)
	}
	if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.prices SET metadata = metadata || '{"billwire_max_quantity": "10"}' WHERE id = 'price_ProMonthly'`); err != nil {
		t.Fatal(err)
	}
	cfg = portal()
	for k, v := range cfg {
		if strings.HasPrefix(k, "features[subscription_update][default_allowed_updates]") && slices.Contains(v, "quantity") {
			t.Fatalf("the portal changes the quantity of a price with seat bounds: %v", cfg)
		}
	}
	if _, err := r.svc.Checkout().SetSwitchablePrices(ctx, vocab.Test, "plans", nil); err != nil {
		t.Fatal(err)
	}
	if cfg = portal(); cfg.Get("features[subscription_update][enabled]") != "false" || cfg.Get("features[subscription_update][products][0][product]") != "" {
		t.Fatalf("the portal without families still switches plans: %v", cfg)
	}
}

// set_switchable_prices takes active licensed recurring prices of at most
// 10 products, each once; anything else is refused with its code and
// nothing is stored.
func TestSwitchablePricesRefusals(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.prices SET data = data || '{"recurring": {"interval": "month", "usage_type": "metered"}}' WHERE id = 'price_ProEUR'`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		family string
		prices []string
		code   string
	}{
		{"Plans!", []string{"price_ProMonthly"}, "invalid_request"},
		{"plans", []string{"price_Nope"}, "unknown_price"},
		{"plans", []string{"no_such_key"}, "unknown_price"},
		{"plans", []string{"price_Pack"}, "one_time_price"},
		{"plans", []string{"price_Archived"}, "inactive_price"},
		{"plans", []string{"price_ProEUR"}, "metered_price"},
		{"plans", []string{"price_ProMonthly", "pro_monthly"}, "duplicate_price"},
	} {
		_, err := r.svc.Checkout().SetSwitchablePrices(ctx, vocab.Test, c.family, c.prices)
		if f, ok := fault.As(err); !ok || f.Code != c.code {
			t.Errorf("%s %v: %v, want %s", c.family, c.prices, err, c.code)
		}
	}
	fams, err := r.st.SwitchablePrices(ctx, vocab.Test)
	if err != nil || len(fams) != 1 || !slices.Equal(fams[0].Prices, []string{"price_ProMonthly", "price_ProEUR"}) {
		t.Fatalf("a refusal changed the families: %+v %v", fams, err)
	}
}
