package stripetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/webhook"
)

// A subscription's life in the fake: made for a stored customer with a
// test card, served by GET, canceled, and told as Stripe's events, which
// reach the endpoint signed and in order.
func TestSubscriptionsAreToldToEndpoints(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{DeliverEvents: true})
	const key = "sk_test_SubscriptionsFake000001"
	var mu sync.Mutex
	var got []string
	var secret string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		e, err := webhook.ConstructEvent(body, r.Header.Get("Stripe-Signature"), secret)
		if err != nil {
			t.Errorf("delivery not signed with the endpoint's secret: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got = append(got, string(e.Type))
	}))
	t.Cleanup(hook.Close)
	c := newClient(f.URL(), key)
	ep, err := c.WebhookEndpoints.New(&stripe.WebhookEndpointParams{URL: stripe.String(hook.URL), EnabledEvents: stripe.StringSlice([]string{"*"})})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = ep.Secret
	mu.Unlock()
	prod, err := c.Products.New(&stripe.ProductParams{Name: stripe.String("Pro")})
	if err != nil {
		t.Fatal(err)
	}
	price, err := c.Prices.New(&stripe.PriceParams{Product: stripe.String(prod.ID), Currency: stripe.String("usd"), UnitAmount: stripe.Int64(1500),
		Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("month")}})
	if err != nil {
		t.Fatal(err)
	}
	cus, err := c.Customers.New(&stripe.CustomerParams{})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.Customers.Get(cus.ID, nil); err != nil || again.ID != cus.ID {
		t.Fatalf("the customer is not served: %v %v", again, err)
	}
	pm, err := c.PaymentMethods.Attach("pm_card_visa", &stripe.PaymentMethodAttachParams{Customer: stripe.String(cus.ID)})
	if err != nil {
		t.Fatal(err)
	}
	p := &stripe.SubscriptionParams{Customer: stripe.String(cus.ID), DefaultPaymentMethod: stripe.String(pm.ID),
		Items: []*stripe.SubscriptionItemsParams{{Price: stripe.String(price.ID), Quantity: stripe.Int64(2)}}}
	p.AddExpand("latest_invoice.payment_intent")
	sub, err := c.Subscriptions.New(p)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Status != "active" || sub.LatestInvoice == nil || sub.LatestInvoice.AmountPaid != 3000 || sub.LatestInvoice.PaymentIntent.Status != "succeeded" {
		t.Fatalf("subscription %+v invoice %+v", sub, sub.LatestInvoice)
	}
	if s, err := c.Subscriptions.Get(sub.ID, nil); err != nil || s.Items.Data[0].Quantity != 2 {
		t.Fatalf("get: %+v %v", s, err)
	}
	if _, err := c.Subscriptions.Cancel(sub.ID, nil); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Subscriptions.Get(sub.ID, nil); s.Status != "canceled" || s.EndedAt == 0 {
		t.Fatalf("after cancel: %+v", s)
	}
	want := []string{"customer.created", "customer.subscription.created", "invoice.paid", "payment_intent.succeeded", "customer.subscription.deleted"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := slices.Clone(got)
		mu.Unlock()
		if slices.Equal(n, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v, want %v", n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The same events are listed, newest first.
	r := do(t, http.MethodGet, f.URL()+"/v1/events", key, nil)
	var list struct {
		Data []struct{ Type string } `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list.Data) != len(want) || list.Data[0].Type != "customer.subscription.deleted" {
		t.Fatalf("events %s", r.body)
	}
}

// The cards decide: declined and 3-D Secure leave the subscription
// incomplete; a card that is not attached, or an unknown parameter, is
// refused.
func TestSubscriptionPaymentScenarios(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	const key = "sk_test_SubscriptionsFake000002"
	c := newClient(f.URL(), key)
	prod, _ := c.Products.New(&stripe.ProductParams{Name: stripe.String("Pro")})
	price, err := c.Prices.New(&stripe.PriceParams{Product: stripe.String(prod.ID), Currency: stripe.String("usd"), UnitAmount: stripe.Int64(1500),
		Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("month")}})
	if err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]stripe.PaymentIntentStatus{
		"pm_card_chargeDeclinedInsufficientFunds": "requires_payment_method",
		"pm_card_authenticationRequired":          "requires_action",
	} {
		pm, err := c.PaymentMethods.Attach(token, &stripe.PaymentMethodAttachParams{Customer: stripe.String("cus_X")})
		if err != nil {
			t.Fatal(err)
		}
		p := &stripe.SubscriptionParams{Customer: stripe.String("cus_X"), DefaultPaymentMethod: stripe.String(pm.ID),
			Items: []*stripe.SubscriptionItemsParams{{Price: stripe.String(price.ID)}}}
		p.AddExpand("latest_invoice.payment_intent")
		sub, err := c.Subscriptions.New(p)
		if err != nil || sub.Status != "incomplete" || sub.LatestInvoice.PaymentIntent.Status != want {
			t.Fatalf("%s: %+v %v", token, sub, err)
		}
	}
	for name, form := range map[string]url.Values{
		"no card":       {"customer": {"cus_X"}, "items[0][price]": {price.ID}},
		"unknown card":  {"customer": {"cus_X"}, "items[0][price]": {price.ID}, "default_payment_method": {"pm_nope"}},
		"unknown param": {"customer": {"cus_X"}, "items[0][price]": {price.ID}, "coupon": {"X"}},
		"unknown price": {"customer": {"cus_X"}, "items[0][price]": {"price_nope"}, "trial_period_days": {"7"}},
	} {
		if r := do(t, http.MethodPost, f.URL()+"/v1/subscriptions", key, form); r.status < 400 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
}
