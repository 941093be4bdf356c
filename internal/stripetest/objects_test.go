package stripetest

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v79"
)

// getJSON fetches path from the fake and fails unless it answers 200.
func getJSON(t *testing.T, base, path, key string) []byte {
	t.Helper()
	r := do(t, "GET", base+path, key, nil)
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return r.body
}

func decode(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decoding into %T: %v\n%s", v, err, body)
	}
}

func TestObjectsDecodeIntoStripeTypes(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Products: 3, Prices: 6, Customers: 4, Subscriptions: 8})
	base := f.URL()

	var prod stripe.Product
	decode(t, getJSON(t, base, "/v1/products/"+SeedID(KindProduct, 2), testKey), &prod)
	if prod.ID != SeedID(KindProduct, 2) || prod.Object != "product" || !prod.Active || prod.Name == "" ||
		prod.Created == 0 || prod.Updated == 0 || prod.Livemode || prod.Images == nil || prod.Metadata == nil ||
		prod.DefaultPrice == nil || prod.DefaultPrice.ID != SeedID(KindPrice, 2) {
		t.Errorf("product %+v", prod)
	}

	var pr stripe.Price
	decode(t, getJSON(t, base, "/v1/prices/"+SeedID(KindPrice, 5), testKey), &pr)
	if pr.ID != SeedID(KindPrice, 5) || pr.Object != "price" || !pr.Active || pr.Product == nil ||
		pr.Product.ID != SeedID(KindProduct, 5%3) || pr.Currency != stripe.CurrencyUSD ||
		pr.BillingScheme != stripe.PriceBillingSchemePerUnit || pr.Type != stripe.PriceTypeRecurring ||
		pr.Recurring == nil || pr.Recurring.Interval != stripe.PriceRecurringIntervalYear || pr.Recurring.IntervalCount != 1 ||
		pr.Recurring.UsageType != stripe.PriceRecurringUsageTypeLicensed || pr.UnitAmount <= 0 ||
		pr.UnitAmountDecimal != float64(pr.UnitAmount) || pr.TaxBehavior != stripe.PriceTaxBehaviorUnspecified ||
		pr.LookupKey != "" || pr.Nickname == "" {
		t.Errorf("price %+v, recurring %+v", pr, pr.Recurring)
	}

	var cus stripe.Customer
	decode(t, getJSON(t, base, "/v1/customers/"+SeedID(KindCustomer, 3), testKey), &cus)
	if cus.ID != SeedID(KindCustomer, 3) || cus.Object != "customer" || cus.Email != "customer00000003@example.com" ||
		cus.Name == "" || cus.Created == 0 || cus.Currency != stripe.CurrencyUSD || cus.TaxExempt != stripe.CustomerTaxExemptNone ||
		cus.InvoiceSettings == nil || cus.Metadata == nil {
		t.Errorf("customer %+v", cus)
	}

	var sub stripe.Subscription
	decode(t, getJSON(t, base, "/v1/subscriptions/"+SeedID(KindSubscription, 7), testKey), &sub)
	if sub.ID != SeedID(KindSubscription, 7) || sub.Object != "subscription" || sub.Status != stripe.SubscriptionStatusActive ||
		sub.Customer == nil || sub.Customer.ID != SeedID(KindCustomer, 7%4) || sub.Currency != stripe.CurrencyUSD ||
		sub.CurrentPeriodStart == 0 || sub.CurrentPeriodEnd <= sub.CurrentPeriodStart || sub.CancelAtPeriodEnd ||
		sub.CanceledAt != 0 || sub.EndedAt != 0 || sub.TrialEnd != 0 ||
		sub.CollectionMethod != stripe.SubscriptionCollectionMethodChargeAutomatically {
		t.Errorf("subscription %+v", sub)
	}
	if sub.Items == nil || len(sub.Items.Data) != 1 || sub.Items.HasMore {
		t.Fatalf("subscription items %+v", sub.Items)
	}
	item := sub.Items.Data[0]
	if item.Object != "subscription_item" || item.Subscription != sub.ID || item.Quantity != 1 ||
		item.Price == nil || item.Price.ID != SeedID(KindPrice, 7%6) || item.Price.Product.ID != SeedID(KindProduct, 1) ||
		item.Price.Recurring == nil || item.Plan == nil || item.Plan.ID != item.Price.ID || item.Plan.Amount != item.Price.UnitAmount {
		t.Errorf("subscription item %+v", item)
	}
	// Monthly price 7%6 = 1: the period is one calendar month.
	if sub.CurrentPeriodEnd-sub.CurrentPeriodStart < 28*86400 || sub.CurrentPeriodEnd-sub.CurrentPeriodStart > 31*86400 {
		t.Errorf("monthly period from %d to %d", sub.CurrentPeriodStart, sub.CurrentPeriodEnd)
	}

	// Lists decode into the stripe-go list types.
	var subs stripe.SubscriptionList
	decode(t, getJSON(t, base, "/v1/subscriptions?limit=3", testKey), &subs)
	if len(subs.Data) != 3 || !subs.HasMore || subs.URL != "/v1/subscriptions" || subs.Data[2].ID != SeedID(KindSubscription, 2) {
		t.Errorf("subscription list %+v", subs.ListMeta)
	}

	// Created objects, one-time price included.
	r := do(t, "POST", base+"/v1/prices", "sk_live_created1", url.Values{
		"currency": {"usd"}, "unit_amount": {"999"}, "product_data[name]": {"Once"}, "metadata[k]": {"v"},
	})
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var once stripe.Price
	decode(t, r.body, &once)
	if once.Type != stripe.PriceTypeOneTime || once.Recurring != nil || once.UnitAmount != 999 || !once.Livemode ||
		once.Metadata["k"] != "v" || !strings.HasPrefix(once.Product.ID, "prod_fake") {
		t.Errorf("created price %+v", once)
	}

	var acct stripe.Account
	decode(t, getJSON(t, base, "/v1/account", testKey), &acct)
	if acct.ID != f.AccountID(testKey) || acct.Type != stripe.AccountTypeStandard || !acct.PayoutsEnabled ||
		acct.Requirements == nil || acct.Settings.Dashboard.DisplayName != AccountName(acct.ID) {
		t.Errorf("account %+v", acct)
	}
}

// TestObjectShapesMatchStripeMock compares the fields of the fake's objects
// with the fixtures stripe-mock serves from Stripe's OpenAPI spec.
func TestObjectShapesMatchStripeMock(t *testing.T) {
	t.Parallel()
	mockURL := Mock(t)
	f := StartFake(t, FakeOptions{Products: 1, Prices: 1, Customers: 1, Subscriptions: 1})
	// Fields Stripe returns but leaves out of its OpenAPI spec: they are in
	// the fixtures stripe-mock embeds (recorded from the API), but its
	// spec-driven responses drop them.
	hidden := map[string][]string{
		"product":      {"type"},
		"price":        {"recurring.trial_period_days"},
		"subscription": {"items.data[].plan", "items.data[].price.recurring.trial_period_days"},
	}
	// The fake's account has no external accounts; stripe-mock makes one up.
	ignored := "external_accounts.data[]."
	endpoint, err := newClient(f.URL(), testKey).WebhookEndpoints.New(&stripe.WebhookEndpointParams{
		URL: stripe.String("https://example.com/hook"), EnabledEvents: stripe.StringSlice([]string{"*"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ kind, mockPath, fakePath string }{
		{"product", "/v1/products/prod_x", "/v1/products/" + SeedID(KindProduct, 0)},
		{"price", "/v1/prices/price_x", "/v1/prices/" + SeedID(KindPrice, 0)},
		{"customer", "/v1/customers/cus_x", "/v1/customers/" + SeedID(KindCustomer, 0)},
		{"subscription", "/v1/subscriptions/sub_x", "/v1/subscriptions/" + SeedID(KindSubscription, 0)},
		{"account", "/v1/account", "/v1/account"},
		{"webhook_endpoint", "/v1/webhook_endpoints/we_x", "/v1/webhook_endpoints/" + endpoint.ID},
	} {
		want := fieldPaths(t, getJSON(t, mockURL, tc.mockPath, "sk_test_123"))
		got := fieldPaths(t, getJSON(t, f.URL(), tc.fakePath, testKey))
		for _, p := range want {
			if !slices.Contains(got, p) && !strings.HasPrefix(p, ignored) {
				t.Errorf("%s: the fake lacks field %s", tc.kind, p)
			}
		}
		for _, p := range got {
			hiddenField := slices.ContainsFunc(hidden[tc.kind], func(h string) bool { return p == h || strings.HasPrefix(p, h+".") })
			if !slices.Contains(want, p) && !hiddenField {
				t.Errorf("%s: the fake has field %s that stripe-mock does not", tc.kind, p)
			}
		}
	}
}

// fieldPaths returns the dotted paths of every field of a JSON object,
// descending into objects and the first element of arrays ("items.data[]").
func fieldPaths(t *testing.T, body []byte) []string {
	t.Helper()
	var v any
	decode(t, body, &v)
	var paths []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				paths = append(paths, prefix+k)
				walk(prefix+k+".", child)
			}
		case []any:
			if len(v) > 0 {
				walk(strings.TrimSuffix(prefix, ".")+"[].", v[0])
			}
		}
	}
	walk("", v)
	slices.Sort(paths)
	return paths
}
