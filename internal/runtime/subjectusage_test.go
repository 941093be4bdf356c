package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/vocab"
)

// A user sees its own usage of the period: Stripe's summary up to ten
// minutes ago plus what billwire accepted since, and the days; another
// user's usage is refused; a subject without a metered subscription is 404.
func TestSubjectUsageRoute(t *testing.T) {
	t.Parallel()
	r := startLife(t)
	ctx := context.Background()
	m, err := r.svc.CreateMeter(ctx, vocab.Test, billing.MeterInput{EventName: "api_tokens", DisplayName: "API tokens"})
	if err != nil {
		t.Fatal(err)
	}
	plan := r.plan("Usage", 100, "usd", "month", "usage_unused", 0, 0)
	price, err := r.svc.CreatePrice(ctx, vocab.Test, billing.PriceInput{ProductID: plan, UnitAmount: 2, Currency: "usd", Interval: "month",
		LookupKey: "tokens_monthly", MeteredInput: billing.MeteredInput{MeterID: m.ID}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.svc.CreateTestSubscription(ctx, billing.TestSubscriptionRequest{Subject: auth.Subject{Type: "user", ID: "u_m"}, LookupKey: "tokens_monthly"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitProjected(res.SubscriptionID, func(p projected) bool { return p.status == "active" && p.price == price.ID })
	path := "/api/payments/test/subjects/user/u_m/usage"
	tok := userToken(t, "u_m")
	if got := r.do("GET", path, tok, nil); got.status != 200 || got.body["total"] != 0.0 || got.body["event_name"] != "api_tokens" {
		t.Fatalf("usage before any: %d %v", got.status, got.body)
	}
	if got := r.do("GET", path, userToken(t, "u_other"), nil); got.status != 403 {
		t.Fatalf("another user's usage: %d %v", got.status, got.body)
	}
	if got := r.do("GET", "/api/payments/test/subjects/user/u_none/usage", userToken(t, "u_none"), nil); got.status != 404 || got.body["code"] != "no_metered_subscription" {
		t.Fatalf("no metered subscription: %d %v", got.status, got.body)
	}
	if got := r.do("GET", path+"?event_name=minutes", tok, nil); got.status != 404 || got.body["code"] != "no_metered_subscription" {
		t.Fatalf("another meter: %d %v", got.status, got.body)
	}
	// The period began two hours ago; 7 tokens half an hour ago reached
	// Stripe (as the sender sends them), 2 + 3 + 5 came just now.
	if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.subscriptions SET current_period_start = now() - interval '2 hours' WHERE id = $1`, res.SubscriptionID); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-30 * time.Minute)
	body := events(usageEvent("old-1", 7, "subject", user("u_m"), "timestamp", old.Unix()),
		usageEvent("new-1", 2, "subject", user("u_m")), usageEvent("new-2", 3, "subject", user("u_m")), usageEvent("new-3", 5, "subject", user("u_m")))
	if got := r.do("POST", usagePath, r.apiKey, body); got.status != 202 || got.body["accepted"] != 4.0 {
		t.Fatalf("ingest: %d %v", got.status, got.body)
	}
	r.sendMeterEvent(t, "api_tokens", "old-1", res.CustomerID, "7", old)
	got := r.do("GET", path, tok, nil)
	days, _ := got.body["days"].([]any)
	sum := 0.0
	for _, d := range days {
		sum += d.(map[string]any)["value"].(float64)
	}
	if got.status != 200 || got.body["total"] != 17.0 || sum != 17 {
		t.Fatalf("usage: %d %v (days sum %v)", got.status, got.body, sum)
	}
}

// sendMeterEvent posts a meter event to the fake as billwire's sender does.
func (r *lifeRig) sendMeterEvent(t *testing.T, name, id, customer, value string, at time.Time) {
	t.Helper()
	form := url.Values{"event_name": {name}, "identifier": {id}, "payload[stripe_customer_id]": {customer}, "payload[value]": {value},
		"timestamp": {fmt.Sprint(at.Unix())}}
	req, _ := http.NewRequest("POST", r.fake.URL()+"/v1/billing/meter_events", bytes.NewBufferString(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(lifeKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("meter event: %v %v", resp, err)
	}
	resp.Body.Close()
}
