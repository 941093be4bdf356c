package stripeapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// sentRequests sits in front of stripe-mock, which checks every request
// against Stripe's spec, and keeps each request's method, path, query and
// the headers Stripe reads.
type sentRequests struct {
	mu   sync.Mutex
	reqs []sentRequest
}

type sentRequest struct {
	method, path string
	query        url.Values
	header       http.Header
}

// startSent starts a sentRequests and a client with key that calls through it.
func startSent(t *testing.T, key string) (*sentRequests, *stripeapi.Client) {
	t.Helper()
	up, err := url.Parse(stripetest.Mock(t))
	if err != nil {
		t.Fatal(err)
	}
	s := &sentRequests{}
	proxy := httputil.NewSingleHostReverseProxy(up)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := http.Header{}
		for _, k := range []string{"Authorization", "Stripe-Version", "Idempotency-Key", "Content-Type"} {
			if v := r.Header.Values(k); v != nil {
				h[k] = v
			}
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, sentRequest{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.Query(), header: h})
		s.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := stripeapi.New(vocab.Test, key, stripeapi.Options{BaseURL: srv.URL, RateLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func (s *sentRequests) take() []sentRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.reqs
	s.reqs = nil
	return out
}

// Each per-resource call sends Stripe exactly the request that the generic
// ListPage or Retrieve with the resource's path sends (method, path, query,
// headers), and stripe-mock accepts it.
func TestResourceCallsSendWhatTheirPathsSend(t *testing.T) {
	t.Parallel()
	sent, c := startSent(t, "sk_test_51ResourceCalls00000000001")
	ctx := context.Background()
	list := func(path, after string, limit int, f url.Values) func() error {
		return func() error { _, err := c.ListPage(ctx, path, after, limit, f); return err }
	}
	get := func(path string) func() error {
		return func() error { _, err := c.Retrieve(ctx, path); return err }
	}
	cases := []struct {
		name      string
		call, ref func() error
		route     string
	}{
		{"ListProducts", func() error {
			_, err := c.ListProducts(ctx, "", 2, url.Values{"ids[]": {"prod_A", "prod_B"}})
			return err
		}, list("/v1/products", "", 2, url.Values{"ids[]": {"prod_A", "prod_B"}}), "GET /v1/products"},
		{"ListPrices", func() error {
			_, err := c.ListPrices(ctx, "", 1, url.Values{"lookup_keys[]": {"pro_monthly"}, "active": {"true"}})
			return err
		}, list("/v1/prices", "", 1, url.Values{"lookup_keys[]": {"pro_monthly"}, "active": {"true"}}), "GET /v1/prices"},
		{"ListCustomers", func() error {
			_, err := c.ListCustomers(ctx, "cus_After", 100, nil)
			return err
		}, list("/v1/customers", "cus_After", 100, nil), "GET /v1/customers"},
		{"ListSubscriptions", func() error {
			_, err := c.ListSubscriptions(ctx, "", 100, url.Values{"status": {"all"}})
			return err
		}, list("/v1/subscriptions", "", 100, url.Values{"status": {"all"}}), "GET /v1/subscriptions"},
		{"ListSubscriptionItems", func() error {
			_, err := c.ListSubscriptionItems(ctx, "sub_One", "si_After", 100)
			return err
		}, list("/v1/subscription_items", "si_After", 100, url.Values{"subscription": {"sub_One"}}), "GET /v1/subscription_items"},
		{"ListEvents", func() error {
			_, err := c.ListEvents(ctx, "evt_After", 100, url.Values{"created[gte]": {"1700000000"}})
			return err
		}, list("/v1/events", "evt_After", 100, url.Values{"created[gte]": {"1700000000"}}), "GET /v1/events"},
		{"ListWebhookEndpoints", func() error {
			page, err := c.ListWebhookEndpoints(ctx, "", 100)
			if err == nil && (len(page.Data) == 0 || page.Data[0].ID == "") {
				t.Errorf("webhook endpoints from stripe-mock = %+v", page)
			}
			return err
		}, list("/v1/webhook_endpoints", "", 100, nil), "GET /v1/webhook_endpoints"},
		{"Product", func() error {
			raw, err := c.Product(ctx, "prod_One")
			if err == nil && !json.Valid(raw) {
				t.Errorf("product = %s", raw)
			}
			return err
		}, get("/v1/products/prod_One"), "GET /v1/products/prod_One"},
		{"WebhookEndpoint", func() error {
			we, err := c.WebhookEndpoint(ctx, "we_One")
			if err == nil && (we.ID == "" || len(we.EnabledEvents) == 0) {
				t.Errorf("webhook endpoint from stripe-mock = %+v", we)
			}
			return err
		}, get("/v1/webhook_endpoints/we_One"), "GET /v1/webhook_endpoints/we_One"},
		{"PortalConfiguration", func() error {
			cfg, err := c.PortalConfiguration(ctx, "bpc_One")
			if err == nil && cfg.ID == "" {
				t.Errorf("portal configuration from stripe-mock = %+v", cfg)
			}
			return err
		}, get("/v1/billing_portal/configurations/bpc_One"), "GET /v1/billing_portal/configurations/bpc_One"},
	}
	for _, tc := range cases {
		if err := tc.ref(); err != nil {
			t.Fatalf("%s: the path's request: %v", tc.name, err)
		}
		want := sent.take()
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := sent.take()
		if len(got) != 1 || len(want) != 1 {
			t.Fatalf("%s: %d requests, the path's %d; want 1", tc.name, len(got), len(want))
		}
		if route := got[0].method + " " + got[0].path; route != tc.route {
			t.Errorf("%s sent %s, want %s", tc.name, route, tc.route)
		}
		if !reflect.DeepEqual(got[0], want[0]) {
			t.Errorf("%s sent %+v\nthe path sends %+v", tc.name, got[0], want[0])
		}
	}
}

// ObjectPath names the retrieve path of every object type the webhook
// projection re-fetches, and stripe-mock serves each.
func TestObjectPath(t *testing.T) {
	t.Parallel()
	sent, c := startSent(t, "sk_test_51ObjectPath0000000000001")
	for object, want := range map[string]string{
		"customer":         "/v1/customers/cus_One",
		"product":          "/v1/products/cus_One",
		"price":            "/v1/prices/cus_One",
		"subscription":     "/v1/subscriptions/cus_One",
		"checkout.session": "/v1/checkout/sessions/cus_One",
		"invoice":          "/v1/invoices/cus_One",
	} {
		path, ok := stripeapi.ObjectPath(object, "cus_One")
		if !ok || path != want {
			t.Errorf("ObjectPath(%q) = %q, %v; want %q", object, path, ok, want)
			continue
		}
		raw, err := c.Retrieve(context.Background(), path)
		if err != nil {
			t.Errorf("retrieve %s: %v", path, err)
			continue
		}
		var obj struct{ Object string }
		if err := json.Unmarshal(raw, &obj); err != nil || obj.Object != object {
			t.Errorf("%s answered a %q, want a %q (%v)", path, obj.Object, object, err)
		}
		if got := sent.take(); len(got) != 1 || got[0].path != want {
			t.Errorf("%s sent %+v", path, got)
		}
	}
	for _, tc := range []struct{ object, id string }{{"charge", "ch_1"}, {"customer", ""}} {
		if path, ok := stripeapi.ObjectPath(tc.object, tc.id); ok {
			t.Errorf("ObjectPath(%q, %q) = %q, want none", tc.object, tc.id, path)
		}
	}
	// An id cannot leave its path segment.
	if path, _ := stripeapi.ObjectPath("customer", "cus_1/../../v1/account?x=1"); strings.Count(path, "/") != 3 || strings.Contains(path, "?") {
		t.Errorf("ObjectPath kept the id's slashes: %q", path)
	}
}

// The list urls written into generated events are those Stripe writes.
func TestListURLsMatchStripes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		event, list string
		url         func(string) string
	}{
		{"customer.subscription.created", "items", stripeapi.SubscriptionItemsURL},
		{"invoice.paid", "lines", stripeapi.InvoiceLinesURL},
	} {
		var e struct {
			Data struct{ Object map[string]json.RawMessage }
		}
		if err := json.Unmarshal(eventfixtures.MustEvent(t, tc.event, eventfixtures.Options{}), &e); err != nil {
			t.Fatal(err)
		}
		var id string
		var list struct{ URL string }
		if json.Unmarshal(e.Data.Object["id"], &id) != nil || json.Unmarshal(e.Data.Object[tc.list], &list) != nil || list.URL == "" {
			t.Fatalf("%s: no %s list url in the fixture", tc.event, tc.list)
		}
		if got := tc.url(id); got != list.URL {
			t.Errorf("%s: the %s url = %q, Stripe's %q", tc.event, tc.list, got, list.URL)
		}
	}
}

// ActiveEntitlementSummary has the shape of the summary Stripe's events
// carry, with every active entitlement, and an empty list (not null) for a
// customer without any.
func TestActiveEntitlementSummary(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	const key = "sk_test_51EntitlementSummary00000001"
	c, err := stripeapi.New(vocab.Test, key, stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Object, Customer string
		Livemode         bool
		Entitlements     struct {
			Object string
			Data   []struct {
				LookupKey string `json:"lookup_key"`
			}
			HasMore bool `json:"has_more"`
			URL     string
		}
	}
	var fixture struct{ Data struct{ Object summary } }
	if err := json.Unmarshal(eventfixtures.MustEvent(t, "entitlements.active_entitlement_summary.updated", eventfixtures.Options{}), &fixture); err != nil {
		t.Fatal(err)
	}
	stripes := fixture.Data.Object
	fake.SetActiveEntitlements(key, stripes.Customer, "api_access", "priority_support")
	for _, tc := range []struct {
		customer string
		keys     []string
	}{{stripes.Customer, []string{"api_access", "priority_support"}}, {"cus_None", nil}} {
		raw, err := c.ActiveEntitlementSummary(context.Background(), tc.customer)
		if err != nil {
			t.Fatal(err)
		}
		var got summary
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, e := range got.Entitlements.Data {
			keys = append(keys, e.LookupKey)
		}
		if got.Object != stripes.Object || got.Customer != tc.customer || got.Livemode || got.Entitlements.Object != "list" ||
			got.Entitlements.HasMore || !reflect.DeepEqual(keys, tc.keys) || !strings.Contains(string(raw), `"data":[`) {
			t.Errorf("summary of %s = %s", tc.customer, raw)
		}
		if tc.customer == stripes.Customer && got.Entitlements.URL != stripes.Entitlements.URL {
			t.Errorf("summary url = %q, Stripe's %q", got.Entitlements.URL, stripes.Entitlements.URL)
		}
	}
}
