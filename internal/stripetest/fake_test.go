package stripetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79"
)

const testKey = "sk_test_abcdefgh1234"

func TestFakePaginatesCustomersInOrder(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Customers: 250})
	sc := newClient(f.URL(), testKey)
	it := sc.Customers.List(&stripe.CustomerListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(100)}})
	var ids []string
	for it.Next() {
		ids = append(ids, it.Customer().ID)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 250 {
		t.Fatalf("listed %d customers, want 250", len(ids))
	}
	for i, id := range ids {
		if want := SeedID(KindCustomer, i); id != want {
			t.Fatalf("customer %d is %s, want %s (each id once, in order)", i, id, want)
		}
	}
	var pages []string
	for _, r := range f.Requests() {
		pages = append(pages, r.Query.Get("starting_after"))
	}
	want := []string{"", SeedID(KindCustomer, 99), SeedID(KindCustomer, 199)}
	if fmt.Sprint(pages) != fmt.Sprint(want) {
		t.Fatalf("page cursors %q, want %q", pages, want)
	}
}

func TestFakeListEnvelopeAndDefaultLimit(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Prices: 12})
	r := do(t, "GET", f.URL()+"/v1/prices", testKey, nil)
	var page struct {
		Object  string            `json:"object"`
		URL     string            `json:"url"`
		HasMore bool              `json:"has_more"`
		Data    []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	if r.status != 200 || page.Object != "list" || page.URL != "/v1/prices" || !page.HasMore || len(page.Data) != 10 {
		t.Fatalf("status %d, object %q, url %q, has_more %v, %d objects; want 200 list /v1/prices true 10",
			r.status, page.Object, page.URL, page.HasMore, len(page.Data))
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if r.header.Get("Request-Id") == "" {
		t.Error("no Request-Id header")
	}
}

func TestFakeEndingBefore(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Products: 30})
	// The page holds the objects just before the cursor, in list order.
	r := do(t, "GET", f.URL()+"/v1/products?limit=3&ending_before="+SeedID(KindProduct, 20), testKey, nil)
	var page struct {
		HasMore bool `json:"has_more"`
		Data    []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 3 || page.Data[0].ID != SeedID(KindProduct, 17) || page.Data[2].ID != SeedID(KindProduct, 19) || !page.HasMore {
		t.Fatalf("ending_before page: %s", r.body)
	}
	// stripe-go pages backwards to the start, newest first.
	sc := newClient(f.URL(), testKey)
	it := sc.Products.List(&stripe.ProductListParams{ListParams: stripe.ListParams{
		Limit: stripe.Int64(7), EndingBefore: stripe.String(SeedID(KindProduct, 20)),
	}})
	var ids []string
	for it.Next() {
		ids = append(ids, it.Product().ID)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 20 || ids[0] != SeedID(KindProduct, 19) || ids[19] != SeedID(KindProduct, 0) {
		t.Fatalf("backward iteration: %v", ids)
	}
}

func TestFakeListErrors(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Customers: 5})
	for _, tc := range []struct {
		query, code, param string
		status             int
	}{
		{"limit=101", "", "limit", 400},
		{"limit=0", "", "limit", 400},
		{"limit=ten", "parameter_invalid_integer", "limit", 400},
		{"starting_after=cus_nope", "resource_missing", "starting_after", 400},
		{"starting_after=" + SeedID(KindCustomer, 5), "resource_missing", "starting_after", 400},
		{"expand[0]=data.default_source", "parameter_unknown", "expand[0]", 400},
		{"created[gte]=1", "parameter_unknown", "created[gte]", 400},
	} {
		r := do(t, "GET", f.URL()+"/v1/customers?"+tc.query, testKey, nil)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.query, r.status, tc.status, r.body)
			continue
		}
		e := r.errorBody(t)
		if e.Type != "invalid_request_error" || e.Code != tc.code || e.Param != tc.param {
			t.Errorf("%s: error %+v, want code %q param %q", tc.query, e, tc.code, tc.param)
		}
	}
	r := do(t, "GET", f.URL()+"/v1/customers?limit=100", testKey, nil)
	if r.status != 200 {
		t.Errorf("limit=100: status %d: %s", r.status, r.body)
	}
	r = do(t, "GET", f.URL()+"/v1/customers?starting_after=cus_nope", testKey, nil)
	if msg := r.errorBody(t).Message; msg != "No such customer: 'cus_nope'" {
		t.Errorf("unknown cursor message %q", msg)
	}
}

func TestFakeRetrieve(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Products: 3, Prices: 7, Customers: 4, Subscriptions: 9})
	sc := newClient(f.URL(), testKey)

	p, err := sc.Prices.Get(SeedID(KindPrice, 5), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != SeedID(KindPrice, 5) || p.Product.ID != SeedID(KindProduct, 5%3) {
		t.Errorf("price %s of product %s, want %s of %s", p.ID, p.Product.ID, SeedID(KindPrice, 5), SeedID(KindProduct, 2))
	}
	s, err := sc.Subscriptions.Get(SeedID(KindSubscription, 8), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Customer.ID != SeedID(KindCustomer, 8%4) || s.Items.Data[0].Price.ID != SeedID(KindPrice, 8%7) {
		t.Errorf("subscription of %s with price %s, want %s and %s",
			s.Customer.ID, s.Items.Data[0].Price.ID, SeedID(KindCustomer, 0), SeedID(KindPrice, 1))
	}

	for _, tc := range []struct{ path, noun, id string }{
		{"/v1/products/", "product", "prod_x"},
		{"/v1/prices/", "price", SeedID(KindPrice, 7)},
		{"/v1/customers/", "customer", "cus_x"},
		{"/v1/subscriptions/", "subscription", "sub_x"},
	} {
		r := do(t, "GET", f.URL()+tc.path+tc.id, testKey, nil)
		e := r.errorBody(t)
		want := fmt.Sprintf("No such %s: '%s'", tc.noun, tc.id)
		if r.status != 404 || e.Code != "resource_missing" || e.Param != "id" || e.Message != want {
			t.Errorf("GET %s%s: %d %+v, want 404 resource_missing %q", tc.path, tc.id, r.status, e, want)
		}
	}
	if r := do(t, "GET", f.URL()+"/v1/charges", testKey, nil); r.status != 404 || !strings.Contains(r.errorBody(t).Message, "Unrecognized request URL (GET: /v1/charges)") {
		t.Errorf("unknown endpoint: %d %s", r.status, r.body)
	}
}

func TestFakeSeededReferences(t *testing.T) {
	t.Parallel()
	// Prices without products and subscriptions without prices or
	// customers still reference objects that exist.
	f := StartFake(t, FakeOptions{Subscriptions: 3})
	sc := newClient(f.URL(), testKey)
	s, err := sc.Subscriptions.Get(SeedID(KindSubscription, 2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Customers.Get(s.Customer.ID, nil); err != nil {
		t.Errorf("customer of a seeded subscription: %v", err)
	}
	price := s.Items.Data[0].Price
	if _, err := sc.Prices.Get(price.ID, nil); err != nil {
		t.Errorf("price of a seeded subscription: %v", err)
	}
	if _, err := sc.Products.Get(price.Product.ID, nil); err != nil {
		t.Errorf("product of a seeded price: %v", err)
	}
}

func TestFakeHundredThousandSeeds(t *testing.T) {
	t.Parallel()
	const n = 100_000
	f := StartFake(t, FakeOptions{Products: n, Prices: n, Customers: n, Subscriptions: n})
	sc := newClient(f.URL(), testKey)
	it := sc.Subscriptions.List(&stripe.SubscriptionListParams{ListParams: stripe.ListParams{
		Limit: stripe.Int64(100), StartingAfter: stripe.String(SeedID(KindSubscription, n-150)),
	}})
	count := 0
	for it.Next() {
		count++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if count != 149 {
		t.Fatalf("listed %d subscriptions after index %d, want 149", count, n-150)
	}
	if _, err := sc.Customers.Get(SeedID(KindCustomer, n-1), nil); err != nil {
		t.Errorf("last seeded customer: %v", err)
	}
	_, err := sc.Customers.Get(SeedID(KindCustomer, n), nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 404 {
		t.Errorf("customer past the seeds: %v", err)
	}
}

func TestFakeFilters(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Products: 4, Prices: 10, Customers: 3, Subscriptions: 10})
	sc := newClient(f.URL(), testKey)

	listIDs := func(t *testing.T, path string) []string {
		t.Helper()
		r := do(t, "GET", f.URL()+path, testKey, nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, o := range page.Data {
			ids = append(ids, o.ID)
		}
		return ids
	}
	seedIDs := func(kind string, idx ...int) []string {
		ids := []string{}
		for _, i := range idx {
			ids = append(ids, SeedID(kind, i))
		}
		return ids
	}
	check := func(path string, want []string) {
		t.Helper()
		if got := listIDs(t, path); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("GET %s = %v, want %v", path, got, want)
		}
	}

	check("/v1/prices?product="+SeedID(KindProduct, 1), seedIDs(KindPrice, 1, 5, 9))
	check("/v1/subscriptions?customer="+SeedID(KindCustomer, 2), seedIDs(KindSubscription, 2, 5, 8))
	check("/v1/subscriptions?price="+SeedID(KindPrice, 3), seedIDs(KindSubscription, 3))
	check("/v1/subscriptions?status=all&limit=3", seedIDs(KindSubscription, 0, 1, 2))
	check("/v1/subscriptions?status=active&limit=2", seedIDs(KindSubscription, 0, 1))
	check("/v1/subscriptions?status=canceled", []string{})
	check("/v1/customers?email="+url.QueryEscape("customer00000001@example.com"), seedIDs(KindCustomer, 1))
	check("/v1/products?ids[0]="+SeedID(KindProduct, 3)+"&ids[1]="+SeedID(KindProduct, 0), seedIDs(KindProduct, 0, 3))
	check("/v1/products?active=false", []string{})

	// Created prices are listed after the seeds and filtered too.
	created, err := sc.Prices.New(&stripe.PriceParams{
		Currency: stripe.String("eur"), UnitAmount: stripe.Int64(100), Product: stripe.String(SeedID(KindProduct, 1)),
		LookupKey: stripe.String("basic"),
	})
	if err != nil {
		t.Fatal(err)
	}
	check("/v1/prices?product="+SeedID(KindProduct, 1), append(seedIDs(KindPrice, 1, 5, 9), created.ID))
	check("/v1/prices?currency=eur", []string{created.ID})
	check("/v1/prices?type=one_time", []string{created.ID})
	check("/v1/prices?lookup_keys[0]=basic", []string{created.ID})
	check("/v1/prices?lookup_keys[0]=other", []string{})
	check("/v1/prices?starting_after="+SeedID(KindPrice, 8), []string{SeedID(KindPrice, 9), created.ID})

	if r := do(t, "GET", f.URL()+"/v1/prices?active=yes", testKey, nil); r.status != 400 || r.errorBody(t).Param != "active" {
		t.Errorf("invalid boolean: %d %s", r.status, r.body)
	}
}

func TestFakeAccount(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Accounts: map[string]string{testKey: "acct_1Mapped", "rk_live_shared9999": "acct_1Mapped"}})

	a, err := newClient(f.URL(), testKey).Accounts.Get()
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "acct_1Mapped" || a.Object != "account" || !a.ChargesEnabled || a.Country != "US" ||
		a.DefaultCurrency != "usd" || a.Email == "" ||
		a.Settings == nil || a.Settings.Dashboard.DisplayName != AccountName("acct_1Mapped") ||
		a.BusinessProfile == nil || a.BusinessProfile.Name != AccountName("acct_1Mapped") {
		t.Fatalf("account %+v", a)
	}

	derived := func(key string) string {
		t.Helper()
		a, err := newClient(f.URL(), key).Accounts.Get()
		if err != nil {
			t.Fatalf("account of %s: %v", key, err)
		}
		return a.ID
	}
	other := derived("sk_test_other")
	if !strings.HasPrefix(other, "acct_") || other == "acct_1Mapped" {
		t.Errorf("derived account id %q", other)
	}
	if again := derived("sk_test_other"); again != other {
		t.Errorf("same key gave %s then %s", other, again)
	}
	if third := derived("sk_test_third"); third == other {
		t.Errorf("two keys derived the same account %s", third)
	}
	if f.AccountID("sk_test_other") != other {
		t.Errorf("AccountID = %s, want %s", f.AccountID("sk_test_other"), other)
	}
	if got := derived("rk_live_shared9999"); got != "acct_1Mapped" {
		t.Errorf("mapped restricted key: account %s", got)
	}

	f.SetAccount("sk_test_other", "acct_1Moved")
	if got := derived("sk_test_other"); got != "acct_1Moved" {
		t.Errorf("after SetAccount: %s", got)
	}
	f.SetAccount("sk_test_other", "")
	if got := derived("sk_test_other"); got != other {
		t.Errorf("after removing the mapping: %s, want %s", got, other)
	}
}

func TestFakeRestrictedNoAccount(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{RestrictedNoAccount: true, Accounts: map[string]string{"rk_test_limited5678": "acct_1Limited"}})
	_, err := newClient(f.URL(), "rk_test_limited5678").Accounts.Get()
	se := stripeErr(t, err)
	want := "The provided key 'rk_test_*******5678' does not have the required permissions for this endpoint on account 'acct_1Limited'."
	if se.HTTPStatusCode != 403 || se.Type != stripe.ErrorTypeInvalidRequest || !strings.HasPrefix(se.Msg, want) {
		t.Fatalf("restricted key on /v1/account: %d %s %q", se.HTTPStatusCode, se.Type, se.Msg)
	}
	// The restricted key works elsewhere, secret keys everywhere.
	if r := do(t, "GET", f.URL()+"/v1/products", "rk_test_limited5678", nil); r.status != 200 {
		t.Errorf("restricted key on /v1/products: %d", r.status)
	}
	if _, err := newClient(f.URL(), testKey).Accounts.Get(); err != nil {
		t.Errorf("secret key on /v1/account: %v", err)
	}
}

func TestFakeAuthentication(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Accounts: map[string]string{"custom-key": "acct_1Custom"}})

	r := do(t, "GET", f.URL()+"/v1/products", "", nil)
	if r.status != 401 || !strings.HasPrefix(r.errorBody(t).Message, "You did not provide an API key.") {
		t.Errorf("no key: %d %s", r.status, r.body)
	}
	for key, masked := range map[string]string{
		"pk_test_abcdefgh1234": "pk_test_********1234",
		"sk_test_":             "sk_test_",
		"sk_test_bad-chars1":   "sk_test_******ars1",
		"whatever":             "****ever",
	} {
		r := do(t, "GET", f.URL()+"/v1/products", key, nil)
		e := r.errorBody(t)
		if want := "Invalid API Key provided: " + masked; r.status != 401 || e.Type != "invalid_request_error" || e.Message != want {
			t.Errorf("key %q: %d %+v, want 401 %q", key, r.status, e, want)
		}
	}
	if r := do(t, "GET", f.URL()+"/v1/products", "custom-key", nil); r.status != 200 {
		t.Errorf("key from Accounts: %d %s", r.status, r.body)
	}

	_, err := newClient(f.URL(), "sk_live_revoked00001").Products.Get("prod_x", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 404 {
		t.Fatalf("before revoking: %v", err)
	}
	f.RevokeKey("sk_live_revoked00001")
	_, err = newClient(f.URL(), "sk_live_revoked00001").Products.Get("prod_x", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 401 || se.Msg != "Invalid API Key provided: sk_live_********0001" {
		t.Fatalf("revoked key: %d %q", se.HTTPStatusCode, se.Msg)
	}

	// Basic auth with the key as user name works too, as with Stripe.
	req, _ := http.NewRequest("GET", f.URL()+"/v1/products", nil)
	req.SetBasicAuth(testKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("basic auth: %d", resp.StatusCode)
	}
}

func TestFakeLivemodeAndAccountIsolation(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{
		Products: 1,
		Accounts: map[string]string{"sk_test_teamA1": "acct_1A", "rk_test_teamA2": "acct_1A", "sk_live_teamA3": "acct_1A"},
	})
	live := newClient(f.URL(), "sk_live_teamA3")
	p, err := live.Products.Get(SeedID(KindProduct, 0), nil)
	if err != nil || !p.Livemode {
		t.Fatalf("seeded product with a live key: livemode %v, %v", p != nil && p.Livemode, err)
	}
	created, err := live.Products.New(&stripe.ProductParams{Name: stripe.String("Live product")})
	if err != nil || !created.Livemode {
		t.Fatalf("created with a live key: %+v, %v", created, err)
	}
	test, err := newClient(f.URL(), "sk_test_teamA1").Products.New(&stripe.ProductParams{Name: stripe.String("Test product")})
	if err != nil || test.Livemode {
		t.Fatalf("created with a test key: %+v, %v", test, err)
	}

	visible := func(key, id string) bool {
		_, err := newClient(f.URL(), key).Products.Get(id, nil)
		return err == nil
	}
	if !visible("rk_test_teamA2", test.ID) {
		t.Error("another test key of the same account does not see the product")
	}
	if visible("sk_test_teamA1", created.ID) {
		t.Error("a test key sees a live-mode product")
	}
	if visible("sk_test_stranger", test.ID) {
		t.Error("another account sees the product")
	}
	// Stripe-Account acts on that account.
	r := do(t, "GET", f.URL()+"/v1/products/"+test.ID, "sk_test_stranger", nil, "Stripe-Account", "acct_1A")
	if r.status != 200 {
		t.Errorf("with Stripe-Account: %d %s", r.status, r.body)
	}
}

func TestFakeCreateProduct(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Products: 2})
	sc := newClient(f.URL(), testKey)
	params := &stripe.ProductParams{
		Name:        stripe.String("Gold"),
		Description: stripe.String("The best plan"),
		Active:      stripe.Bool(false),
		Images:      stripe.StringSlice([]string{"https://example.com/a.png", "https://example.com/b.png"}),
	}
	params.AddMetadata("tier", "gold")
	p, err := sc.Products.New(params)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.ID, "prod_fake") || p.Name != "Gold" || p.Description != "The best plan" || p.Active ||
		p.Metadata["tier"] != "gold" || len(p.Images) != 2 || p.Images[1] != "https://example.com/b.png" || p.Created == 0 {
		t.Fatalf("created product %+v", p)
	}
	got, err := sc.Products.Get(p.ID, nil)
	if err != nil || got.Name != "Gold" {
		t.Fatalf("retrieving the created product: %+v, %v", got, err)
	}
	it := sc.Products.List(&stripe.ProductListParams{})
	var ids []string
	for it.Next() {
		ids = append(ids, it.Product().ID)
	}
	if want := []string{SeedID(KindProduct, 0), SeedID(KindProduct, 1), p.ID}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("products %v, want %v", ids, want)
	}

	// A missing name is stripe-mock's to refuse (TestMockRefusesWhatTheFakeLeavesToIt);
	// an empty one, which stripe-mock takes, the fake refuses as Stripe does.
	_, err = sc.Products.New(&stripe.ProductParams{Name: stripe.String("")})
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Code != stripe.ErrorCodeParameterInvalidEmpty || se.Param != "name" {
		t.Errorf("empty name: %d %s %s", se.HTTPStatusCode, se.Code, se.Param)
	}
	_, err = sc.Products.New(&stripe.ProductParams{ID: stripe.String(SeedID(KindProduct, 1)), Name: stripe.String("dup")})
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Code != stripe.ErrorCodeResourceAlreadyExists {
		t.Errorf("duplicate id: %d %s", se.HTTPStatusCode, se.Code)
	}
	custom, err := sc.Products.New(&stripe.ProductParams{ID: stripe.String("prod_custom"), Name: stripe.String("Custom")})
	if err != nil || custom.ID != "prod_custom" {
		t.Errorf("custom id: %+v, %v", custom, err)
	}
	if n := f.CountCreated(KindProduct); n != 2 {
		t.Errorf("CountCreated(product) = %d, want 2", n)
	}
}

func TestFakeCreatePrice(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Products: 1})
	sc := newClient(f.URL(), testKey)
	params := &stripe.PriceParams{
		Product:    stripe.String(SeedID(KindProduct, 0)),
		Currency:   stripe.String("usd"),
		UnitAmount: stripe.Int64(1500),
		Recurring:  &stripe.PriceRecurringParams{Interval: stripe.String("month"), IntervalCount: stripe.Int64(3)},
		LookupKey:  stripe.String("pro_quarterly"),
		Nickname:   stripe.String("Pro"),
	}
	params.AddMetadata("plan", "pro")
	p, err := sc.Prices.New(params)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.ID, "price_fake") || p.Product.ID != SeedID(KindProduct, 0) || p.UnitAmount != 1500 ||
		p.UnitAmountDecimal != 1500 || p.Currency != "usd" || p.Type != stripe.PriceTypeRecurring ||
		p.Recurring.Interval != "month" || p.Recurring.IntervalCount != 3 || p.LookupKey != "pro_quarterly" ||
		p.Nickname != "Pro" || p.Metadata["plan"] != "pro" || !p.Active || p.Livemode {
		t.Fatalf("created price %+v", p)
	}

	// A second price may not take the lookup key...
	dup := &stripe.PriceParams{
		Product: stripe.String(SeedID(KindProduct, 0)), Currency: stripe.String("usd"), UnitAmount: stripe.Int64(2000),
		LookupKey: stripe.String("pro_quarterly"),
	}
	_, err = sc.Prices.New(dup)
	se := stripeErr(t, err)
	if want := fmt.Sprintf("A price (`%s`) already uses that lookup key.", p.ID); se.HTTPStatusCode != 400 || se.Param != "lookup_key" || se.Msg != want {
		t.Fatalf("duplicate lookup key: %d %s %q", se.HTTPStatusCode, se.Param, se.Msg)
	}
	// ...unless it transfers it.
	dup.TransferLookupKey = stripe.Bool(true)
	moved, err := sc.Prices.New(dup)
	if err != nil || moved.LookupKey != "pro_quarterly" || moved.Type != stripe.PriceTypeOneTime || moved.Recurring != nil {
		t.Fatalf("transferring the lookup key: %+v, %v", moved, err)
	}
	old, err := sc.Prices.Get(p.ID, nil)
	if err != nil || old.LookupKey != "" || !old.Active {
		t.Fatalf("the former holder: %+v, %v", old, err)
	}

	// product_data creates the product inline.
	inline, err := sc.Prices.New(&stripe.PriceParams{
		Currency: stripe.String("EUR"), UnitAmountDecimal: stripe.Float64(12.5),
		ProductData: &stripe.PriceProductDataParams{Name: stripe.String("Inline")},
	})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := sc.Products.Get(inline.Product.ID, nil)
	if err != nil || prod.Name != "Inline" || inline.Currency != "eur" || inline.UnitAmount != 0 || inline.UnitAmountDecimal != 12.5 {
		t.Fatalf("price with product_data: %+v; product %+v, %v", inline, prod, err)
	}

	for name, tc := range map[string]struct {
		params      *stripe.PriceParams
		code, param string
	}{
		"unknown product": {&stripe.PriceParams{Product: stripe.String("prod_nope"), Currency: stripe.String("usd"), UnitAmount: stripe.Int64(1)},
			"resource_missing", "product"},
		"no product": {&stripe.PriceParams{Currency: stripe.String("usd"), UnitAmount: stripe.Int64(1)},
			"parameter_missing", "product"},
		"bad currency": {&stripe.PriceParams{Product: stripe.String(SeedID(KindProduct, 0)), Currency: stripe.String("usdd"), UnitAmount: stripe.Int64(1)},
			"", "currency"},
		"no amount": {&stripe.PriceParams{Product: stripe.String(SeedID(KindProduct, 0)), Currency: stripe.String("usd")},
			"parameter_missing", "unit_amount"},
		"product_data with an empty name": {&stripe.PriceParams{Currency: stripe.String("usd"), UnitAmount: stripe.Int64(1),
			ProductData: &stripe.PriceProductDataParams{Name: stripe.String("")}},
			"parameter_invalid_empty", "product_data[name]"},
		"past three years": {&stripe.PriceParams{Product: stripe.String(SeedID(KindProduct, 0)), Currency: stripe.String("usd"), UnitAmount: stripe.Int64(1),
			Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("month"), IntervalCount: stripe.Int64(37)}},
			"", "recurring[interval_count]"},
	} {
		_, err := sc.Prices.New(tc.params)
		se := stripeErr(t, err)
		if se.HTTPStatusCode != 400 || string(se.Code) != tc.code || se.Param != tc.param {
			t.Errorf("%s: %d code %q param %q (%s); want 400 %q %q", name, se.HTTPStatusCode, se.Code, se.Param, se.Msg, tc.code, tc.param)
		}
	}
	if n := f.CountCreated(KindPrice); n != 3 {
		t.Errorf("CountCreated(price) = %d, want 3", n)
	}
	if n := f.CountCreated(KindProduct); n != 1 {
		t.Errorf("CountCreated(product) = %d, want 1 (from product_data)", n)
	}
}

func TestFakeIdempotentReplay(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	form := url.Values{"name": {"Widget"}, "metadata[a]": {"1"}}
	first := do(t, "POST", f.URL()+"/v1/products", testKey, form, "Idempotency-Key", "key-1")
	second := do(t, "POST", f.URL()+"/v1/products", testKey, form, "Idempotency-Key", "key-1")
	if first.status != 200 || second.status != 200 || !bytes.Equal(first.body, second.body) {
		t.Fatalf("replay differs: %d %s / %d %s", first.status, first.body, second.status, second.body)
	}
	if first.header.Get("Idempotent-Replayed") != "" || second.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("Idempotent-Replayed headers %q then %q", first.header.Get("Idempotent-Replayed"), second.header.Get("Idempotent-Replayed"))
	}
	if second.header.Get("Original-Request") != first.header.Get("Request-Id") {
		t.Errorf("Original-Request %q, want %q", second.header.Get("Original-Request"), first.header.Get("Request-Id"))
	}
	if n := f.CountCreated(KindProduct); n != 1 {
		t.Fatalf("CountCreated(product) = %d after a replay, want 1", n)
	}
	reqs := f.Requests()
	if len(reqs) != 2 || reqs[0].Replayed || !reqs[1].Replayed || reqs[1].IdempotencyKey != "key-1" || reqs[1].Form.Get("name") != "Widget" {
		t.Errorf("request log %+v", reqs)
	}

	// Same key, different parameters: Stripe's idempotency_error.
	other := do(t, "POST", f.URL()+"/v1/products", testKey, url.Values{"name": {"Gadget"}}, "Idempotency-Key", "key-1")
	if e := other.errorBody(t); other.status != 400 || e.Type != "idempotency_error" || !strings.Contains(e.Message, "same parameters") {
		t.Errorf("reuse with other parameters: %d %+v", other.status, e)
	}
	// Same key on another endpoint.
	price := do(t, "POST", f.URL()+"/v1/prices", testKey, url.Values{"name": {"Widget"}}, "Idempotency-Key", "key-1")
	if e := price.errorBody(t); price.status != 400 || e.Type != "idempotency_error" {
		t.Errorf("reuse on another endpoint: %d %+v", price.status, e)
	}
	// Keys are per account: another account creates its own product.
	if r := do(t, "POST", f.URL()+"/v1/products", "sk_test_otheraccount", form, "Idempotency-Key", "key-1"); r.status != 200 || bytes.Equal(r.body, first.body) {
		t.Errorf("same key on another account: %d %s", r.status, r.body)
	}
	// Failed requests are not stored: fixing the request with the same key
	// creates the object.
	bad := do(t, "POST", f.URL()+"/v1/products", testKey, url.Values{"name": {""}}, "Idempotency-Key", "key-2")
	good := do(t, "POST", f.URL()+"/v1/products", testKey, url.Values{"name": {"Fixed"}}, "Idempotency-Key", "key-2")
	if bad.status != 400 || good.status != 200 {
		t.Errorf("retry after a failed request: %d then %d %s", bad.status, good.status, good.body)
	}
	if n := f.CountCreated(KindProduct); n != 3 {
		t.Errorf("CountCreated(product) = %d, want 3", n)
	}

	// Through stripe-go with an explicit key.
	sc := newClient(f.URL(), testKey)
	var ids []string
	for range 3 {
		params := &stripe.PriceParams{Currency: stripe.String("usd"), UnitAmount: stripe.Int64(100),
			ProductData: &stripe.PriceProductDataParams{Name: stripe.String("Via stripe-go")}}
		params.SetIdempotencyKey("price-once")
		p, err := sc.Prices.New(params)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] || f.CountCreated(KindPrice) != 1 {
		t.Errorf("stripe-go replays gave %v and created %d prices", ids, f.CountCreated(KindPrice))
	}
	params := &stripe.PriceParams{Currency: stripe.String("usd"), UnitAmount: stripe.Int64(200),
		ProductData: &stripe.PriceProductDataParams{Name: stripe.String("Via stripe-go")}}
	params.SetIdempotencyKey("price-once")
	_, err := sc.Prices.New(params)
	var idemErr *stripe.IdempotencyError
	if !errors.As(stripeErr(t, err).Err, &idemErr) {
		t.Errorf("stripe-go did not see an IdempotencyError: %v", err)
	}
}

func TestFakeConcurrentIdempotentCreates(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Prices: 50})
	var wg sync.WaitGroup
	bodies := make([][]byte, 16)
	for i := range bodies {
		wg.Go(func() {
			r := do(t, "POST", f.URL()+"/v1/products", testKey, url.Values{"name": {"Same"}}, "Idempotency-Key", "concurrent")
			bodies[i] = r.body
			// Reads interleave with the writes.
			do(t, "GET", f.URL()+"/v1/prices?limit=100", testKey, nil)
		})
	}
	wg.Wait()
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Fatalf("concurrent replays differ:\n%s\n%s", bodies[0], b)
		}
	}
	if n := f.CountCreated(KindProduct); n != 1 {
		t.Fatalf("16 concurrent requests with one idempotency key created %d products", n)
	}
	if n := len(f.Requests()); n != 32 {
		t.Fatalf("logged %d requests, want 32", n)
	}
}

func TestFakeRateLimit(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{RateLimit: 5})
	limited := 0
	for i := range 20 {
		r := do(t, "GET", f.URL()+"/v1/products", testKey, nil)
		switch r.status {
		case 200:
		case 429:
			if i < 5 {
				t.Fatalf("request %d of the initial burst of 5 was limited", i)
			}
			limited++
			e := r.errorBody(t)
			if e.Type != "invalid_request_error" || e.Code != "rate_limit" || !strings.HasPrefix(e.Message, "Too many requests hit the API too quickly") {
				t.Fatalf("429 body %s", r.body)
			}
			if r.header.Get("Retry-After") != "" {
				t.Fatal("429 carries Retry-After; Stripe sends none")
			}
		default:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	// The burst of 5 passes, then tokens come back at 5/s: unless the 20
	// requests took 3s, some were limited. (TestBucket checks the exact
	// arithmetic.)
	if limited == 0 {
		t.Fatal("no request limited at 5/s")
	}
	if f.RateLimited() != limited {
		t.Fatalf("RateLimited() = %d, want %d", f.RateLimited(), limited)
	}
	// Other accounts have their own budget.
	if r := do(t, "GET", f.URL()+"/v1/products", "sk_test_otheraccount", nil); r.status != 200 {
		t.Fatalf("another account was limited: %d", r.status)
	}
	// stripe-go reports it as a rate_limit error and does not retry. (Empty
	// the bucket first: on a loaded machine the requests above may have
	// taken long enough to refill it.)
	for i := 0; i < 100 && do(t, "GET", f.URL()+"/v1/products", testKey, nil).status != 429; i++ {
	}
	_, err := newClientRetries(f.URL(), testKey, 2).Products.Get("prod_x", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 429 || se.Code != stripe.ErrorCodeRateLimit {
		t.Fatalf("stripe-go error %v", err)
	}
	time.Sleep(250 * time.Millisecond) // refills at least one token
	if r := do(t, "GET", f.URL()+"/v1/products", testKey, nil); r.status != 200 {
		t.Fatalf("after waiting: %d", r.status)
	}
}

func TestBucket(t *testing.T) {
	t.Parallel()
	var b bucket
	start := time.Unix(1_700_000_000, 0)
	passed := 0
	for range 10 {
		if b.take(start, 4) {
			passed++
		}
	}
	if passed != 4 {
		t.Fatalf("%d of 10 simultaneous requests passed at 4/s, want the burst of 4", passed)
	}
	if b.take(start.Add(200*time.Millisecond), 4) {
		t.Fatal("passed after 200ms, when 0.8 token came back")
	}
	if !b.take(start.Add(260*time.Millisecond), 4) {
		t.Fatal("refused after 260ms, when 1.04 tokens came back")
	}
	// Idle time refills up to the burst, not beyond.
	passed = 0
	for range 10 {
		if b.take(start.Add(time.Hour), 4) {
			passed++
		}
	}
	if passed != 4 {
		t.Fatalf("%d passed after an idle hour, want 4", passed)
	}
	// Below one request per second the bucket holds one token.
	var slow bucket
	if !slow.take(start, 0.5) || slow.take(start.Add(time.Second), 0.5) || !slow.take(start.Add(2*time.Second), 0.5) {
		t.Fatal("0.5/s: want one request, then the next only 2s later")
	}
}

func TestFakeFailNext(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Products: 1})
	sc := newClient(f.URL(), testKey)
	f.FailNext(2, 500)
	for i := range 2 {
		_, err := sc.Products.Get(SeedID(KindProduct, 0), nil)
		se := stripeErr(t, err)
		if se.HTTPStatusCode != 500 || se.Type != stripe.ErrorTypeAPI {
			t.Fatalf("request %d: %d %s", i, se.HTTPStatusCode, se.Type)
		}
	}
	if _, err := sc.Products.Get(SeedID(KindProduct, 0), nil); err != nil {
		t.Fatalf("third request: %v", err)
	}

	f.FailNext(1, 429)
	_, err := sc.Products.Get(SeedID(KindProduct, 0), nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 429 || se.Code != stripe.ErrorCodeRateLimit {
		t.Fatalf("injected 429: %d %s", se.HTTPStatusCode, se.Code)
	}
	if f.RateLimited() != 0 {
		t.Errorf("injected 429s counted by RateLimited: %d", f.RateLimited())
	}

	// stripe-go retries a 500 with the same idempotency key: the create
	// happens once.
	f.FailNext(1, 500)
	p, err := newClientRetries(f.URL(), testKey, 1).Products.New(&stripe.ProductParams{Name: stripe.String("Retried")})
	if err != nil {
		t.Fatalf("create after one injected 500 with one retry: %v", err)
	}
	reqs := f.Requests()
	last2 := reqs[len(reqs)-2:]
	if last2[0].Status != 500 || last2[1].Status != 200 || last2[0].IdempotencyKey == "" || last2[0].IdempotencyKey != last2[1].IdempotencyKey {
		t.Errorf("retry log %+v", last2)
	}
	if f.CountCreated(KindProduct) != 1 || p.Name != "Retried" {
		t.Errorf("created %d products", f.CountCreated(KindProduct))
	}

	f.FailNext(5, 503)
	f.ClearFaults()
	if _, err := sc.Products.Get(SeedID(KindProduct, 0), nil); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
}

func TestFakeFailAfterResumableSync(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Customers: 250})
	f.FailAfter("/v1/customers", 2, 500)
	sc := newClientRetries(f.URL(), testKey, 2)

	var ids []string
	it := sc.Customers.List(&stripe.CustomerListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(100)}})
	for it.Next() {
		ids = append(ids, it.Customer().ID)
	}
	se := stripeErr(t, it.Err())
	if se.HTTPStatusCode != 500 || len(ids) != 200 {
		t.Fatalf("sync stopped after %d customers with %v; want the third page to fail with 500 after 200", len(ids), it.Err())
	}
	// Other paths are unaffected.
	if _, err := sc.Products.Get("prod_x", nil); stripeErr(t, err).HTTPStatusCode != 404 {
		t.Fatalf("another path: %v", err)
	}

	f.ClearFaults()
	it = sc.Customers.List(&stripe.CustomerListParams{ListParams: stripe.ListParams{
		Limit: stripe.Int64(100), StartingAfter: stripe.String(ids[len(ids)-1]),
	}})
	for it.Next() {
		ids = append(ids, it.Customer().ID)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 250 || ids[249] != SeedID(KindCustomer, 249) || ids[200] != SeedID(KindCustomer, 200) {
		t.Fatalf("resumed sync has %d customers", len(ids))
	}
	statuses := []int{}
	for _, r := range f.Requests() {
		if r.Path == "/v1/customers" {
			statuses = append(statuses, r.Status)
		}
	}
	// Pages 1 and 2, page 3 failing three times (two retries), then the
	// resumed page.
	if fmt.Sprint(statuses) != fmt.Sprint([]int{200, 200, 500, 500, 500, 200}) {
		t.Errorf("statuses %v", statuses)
	}
}

func TestFakeLatency(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Latency: 60 * time.Millisecond})
	start := time.Now()
	if r := do(t, "GET", f.URL()+"/v1/products", testKey, nil); r.status != 200 {
		t.Fatal(r.status)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("request took %v with 60ms latency", d)
	}
}

// BenchmarkFakeListSubscriptions measures serving full pages of the
// biggest objects, subscriptions with an embedded price and plan.
func BenchmarkFakeListSubscriptions(b *testing.B) {
	f := NewFake(FakeOptions{Subscriptions: 100_000})
	defer f.Close()
	sc := newClient(f.URL(), testKey)
	b.ResetTimer()
	objects := 0
	for b.Loop() {
		it := sc.Subscriptions.List(&stripe.SubscriptionListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(100), Single: true}})
		for it.Next() {
			objects++
		}
		if err := it.Err(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(objects)/b.Elapsed().Seconds(), "objects/s")
}

// BenchmarkFakeServeSubscriptions measures the fake alone: full pages of
// subscriptions fetched over HTTP and not decoded.
func BenchmarkFakeServeSubscriptions(b *testing.B) {
	f := NewFake(FakeOptions{Subscriptions: 100_000})
	defer f.Close()
	req, err := http.NewRequest("GET", f.URL()+"/v1/subscriptions?limit=100&starting_after="+SeedID(KindSubscription, 5000), nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "objects/s")
}
