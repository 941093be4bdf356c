package mcpserver_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/client"

	"github.com/billwire/billwire/internal/checkout"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// stripeAPI is a stripe-go client of the fake, for arranging Stripe's side.
func stripeAPI(base, key string) *client.API {
	b := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{URL: stripe.String(base),
		MaxNetworkRetries: stripe.Int64(0), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}})
	return client.New(key, &stripe.Backends{API: b, Connect: b, Uploads: b})
}

const goliveKey = "sk_live_FAKEgoliveFixture4242"

// The go-live journey: refusals without a live key or permission, a dry
// run, the copy (created, adopted, conflicting and unsupported prices), a
// re-run that creates nothing, recovery after a failure part-way, and
// lookup keys resolving per environment.
func TestPromoteCatalog(t *testing.T) {
	t.Parallel()
	// Test and live keys of one Stripe account.
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Accounts: map[string]string{testKey: "acct_golive", goliveKey: "acct_golive"}})
	h := newHarness(t, harnessOpts{base: fake.URL(), allowLiveWrites: true, rateLimit: 1000})
	ctx := context.Background()

	h.fails("promote_catalog", map[string]any{"dry_run": true}, "configure_stripe_keys")
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	pro := h.ok("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month", "lookup_key": "pro_monthly"})
	team := h.ok("create_plan", map[string]any{"env": "test", "name": "Team", "unit_amount": 20000, "currency": "usd", "interval": "year", "lookup_key": "team_yearly"})
	starter := h.ok("create_plan", map[string]any{"env": "test", "name": "Starter", "unit_amount": 500, "currency": "usd", "interval": "month", "lookup_key": "starter_monthly"})
	lifetime := h.ok("create_plan", map[string]any{"env": "test", "name": "Lifetime", "unit_amount": 9900, "currency": "eur"})
	testAPI := stripeAPI(fake.URL(), testKey)
	metered, err := testAPI.Prices.New(&stripe.PriceParams{Product: stripe.String(get(pro, "product", "id").(string)), Currency: stripe.String("usd"),
		UnitAmount: stripe.Int64(1), Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("month"), UsageType: stripe.String("metered")}})
	if err != nil {
		t.Fatal(err)
	}
	// An archived test product and an archived test price stay behind.
	if _, err := testAPI.Products.New(&stripe.ProductParams{Name: stripe.String("Old"), Active: stripe.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := testAPI.Prices.New(&stripe.PriceParams{Product: stripe.String(get(pro, "product", "id").(string)), Currency: stripe.String("usd"),
		UnitAmount: stripe.Int64(1500), Active: stripe.Bool(false), Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("month")}}); err != nil {
		t.Fatal(err)
	}

	// No live key: the dry run says what to do; the copy is refused.
	before := fake.CountCreated(stripetest.KindProduct) + fake.CountCreated(stripetest.KindPrice)
	dry := h.ok("promote_catalog", map[string]any{"dry_run": true})
	if dry["live_key"] != "missing" || !strings.Contains(dry["next_step"].(string), "billwire keys set --env live") || len(dry["products"].([]any)) != 4 {
		t.Fatalf("dry run without a live key = %v", dry)
	}
	h.fails("promote_catalog", map[string]any{"confirm_live": true}, "billwire keys set --env live")
	// Without permission or confirmation, refused before Stripe is asked.
	h2 := newHarness(t, harnessOpts{base: fake.URL()})
	h2.fails("promote_catalog", map[string]any{"confirm_live": true}, "--allow-live-writes")
	if _, err := billingFor(t, h, fake.URL()).ConfigureKey(ctx, vocab.Live, goliveKey, false); err != nil {
		t.Fatal(err)
	}
	h.fails("promote_catalog", nil, "confirm_live: true")
	if n := fake.CountCreated(stripetest.KindProduct) + fake.CountCreated(stripetest.KindPrice); n != before {
		t.Fatalf("refused calls created %d objects", n-before)
	}

	// Live already holds a price with team_yearly (same terms) and one with
	// starter_monthly (another amount).
	liveAPI := stripeAPI(fake.URL(), goliveKey)
	handmade, err := liveAPI.Products.New(&stripe.ProductParams{Name: stripe.String("Team (made by hand)")})
	if err != nil {
		t.Fatal(err)
	}
	adoptable, err := liveAPI.Prices.New(&stripe.PriceParams{Product: stripe.String(handmade.ID), Currency: stripe.String("usd"), UnitAmount: stripe.Int64(20000),
		LookupKey: stripe.String("team_yearly"), Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("year")}})
	if err != nil {
		t.Fatal(err)
	}
	clash, err := liveAPI.Prices.New(&stripe.PriceParams{Product: stripe.String(handmade.ID), Currency: stripe.String("usd"), UnitAmount: stripe.Int64(900),
		LookupKey: stripe.String("starter_monthly"), Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("month")}})
	if err != nil {
		t.Fatal(err)
	}

	actions := func(res map[string]any) map[string]string {
		out := map[string]string{}
		for _, p := range res["prices"].([]any) {
			out[get(p, "test_price_id").(string)] = get(p, "action").(string)
		}
		return out
	}
	priceID := func(res map[string]any) string { return get(res, "price", "id").(string) }
	want := map[string]string{priceID(pro): "would_create", priceID(team): "would_adopt", priceID(starter): "conflict",
		priceID(lifetime): "would_create", metered.ID: "unsupported"}
	dry = h.ok("promote_catalog", map[string]any{"dry_run": true})
	if got := actions(dry); !equalMaps(got, want) {
		t.Fatalf("dry run actions = %v, want %v", got, want)
	}
	if dry["live_account_id"] != "acct_golive" || dry["warnings"] != nil {
		t.Fatalf("dry run = %v", dry)
	}
	for _, p := range dry["products"].([]any) {
		want := "would_create"
		if get(p, "name") == "Team" {
			want = "would_adopt"
		}
		if get(p, "action") != want {
			t.Fatalf("dry run product %v, want %s", p, want)
		}
	}
	before = fake.CountCreated(stripetest.KindProduct) + fake.CountCreated(stripetest.KindPrice)

	// The copy stops at its second price create; the next call finishes.
	fake.FailAfter("/v1/prices", 3, 400) // two lists and one create pass
	h.fails("promote_catalog", map[string]any{"confirm_live": true}, "call promote_catalog again")
	fake.ClearFaults()
	res := h.ok("promote_catalog", map[string]any{"confirm_live": true})
	// The failed call created the Pro price and adopted the Team one before
	// it stopped: this one finds them.
	want = map[string]string{priceID(pro): "exists", priceID(team): "exists", priceID(starter): "conflict",
		priceID(lifetime): "created", metered.ID: "unsupported"}
	if got := actions(res); !equalMaps(got, want) {
		t.Fatalf("actions = %v, want %v", got, want)
	}
	if !strings.Contains(res["next_step"].(string), "2 price(s) were not copied") {
		t.Fatalf("next step = %v", res["next_step"])
	}
	// 3 products (Team's is the hand-made one, adopted) and 2 prices were
	// created in live, whatever the failure.
	if n := fake.CountCreated(stripetest.KindProduct) + fake.CountCreated(stripetest.KindPrice) - before; n != 5 {
		t.Fatalf("%d live objects created, want 5", n)
	}
	for _, p := range res["products"].([]any) {
		want := "exists"
		if get(p, "name") == "Team" {
			want = "adopted"
		}
		if get(p, "action") != want {
			t.Fatalf("product %v, want %s", p, want)
		}
	}

	// Live objects carry billwire_test_id; they are mirrored; the map links them.
	it := liveAPI.Products.List(&stripe.ProductListParams{})
	copies := 0
	for it.Next() {
		if it.Product().Metadata["billwire_test_id"] != "" {
			copies++
		}
	}
	if copies != 3 {
		t.Fatalf("%d live products carry billwire_test_id, want 3", copies)
	}
	m := h.readResource("billwire://price-map")
	rows := m["prices"].([]any)
	if len(rows) != 3 {
		t.Fatalf("price map = %v", m)
	}
	byTest := map[string]map[string]any{}
	for _, r := range rows {
		byTest[get(r, "test_price_id").(string)] = r.(map[string]any)
	}
	if byTest[priceID(team)]["live_price_id"] != adoptable.ID || byTest[priceID(team)]["live_product_id"] != handmade.ID {
		t.Fatalf("adopted mapping = %v", byTest[priceID(team)])
	}
	proLive := byTest[priceID(pro)]["live_price_id"].(string)
	if byTest[priceID(pro)]["lookup_key"] != "pro_monthly" || !strings.HasPrefix(proLive, "price_") {
		t.Fatalf("pro mapping = %v", byTest[priceID(pro)])
	}
	var liveProduct string
	if err := h.store.Pool().QueryRow(ctx, `SELECT product_id FROM payments.prices WHERE env = 'live' AND id = $1`, proLive).Scan(&liveProduct); err != nil ||
		liveProduct != byTest[priceID(pro)]["live_product_id"] {
		t.Fatalf("live price not mirrored with its product: %q, %v", liveProduct, err)
	}
	if cat := h.ok("list_catalog", map[string]any{"env": "live", "query": "pro_monthly"}); get(cat, "products", 0, "prices", 0, "display") != "20.00 USD / month" {
		t.Fatalf("live catalog = %v", cat)
	}

	// Again: nothing new, even with the map lost (found by metadata).
	if _, err := h.store.Pool().Exec(ctx, `DELETE FROM payments.price_map`); err != nil {
		t.Fatal(err)
	}
	before = fake.CountCreated(stripetest.KindProduct) + fake.CountCreated(stripetest.KindPrice)
	again := h.ok("promote_catalog", map[string]any{"confirm_live": true})
	if n := fake.CountCreated(stripetest.KindProduct) + fake.CountCreated(stripetest.KindPrice); n != before {
		t.Fatalf("a re-run created %d objects", n-before)
	}
	if a := actions(again); a[priceID(pro)] != "exists" || a[priceID(lifetime)] != "exists" || a[priceID(team)] != "adopted" {
		t.Fatalf("re-run actions = %v", a)
	}
	if rows := h.readResource("billwire://price-map")["prices"].([]any); len(rows) != 3 {
		t.Fatalf("map after re-run = %v", rows)
	}

	// Lookup keys resolve per environment.
	b := billingFor(t, h, fake.URL())
	for _, c := range []struct {
		env  vocab.Env
		key  string
		want string
	}{
		{vocab.Test, "pro_monthly", priceID(pro)},
		{vocab.Live, "pro_monthly", proLive},
		{vocab.Live, "team_yearly", adoptable.ID},
		{vocab.Live, "starter_monthly", clash.ID}, // known to Stripe only: fetched and mirrored
	} {
		if id, err := b.Checkout().ResolveLookupKey(ctx, c.env, c.key); err != nil || id != c.want {
			t.Errorf("%s %s = %q, %v; want %s", c.env, c.key, id, err, c.want)
		}
	}
	if n := count(t, h.store, "prices WHERE env = 'live' AND lookup_key = 'starter_monthly'"); n != 1 {
		t.Fatalf("a price resolved from Stripe was not mirrored (%d rows)", n)
	}
	_, err = b.Checkout().ResolveLookupKey(ctx, vocab.Live, "nope_monthly")
	if !errors.Is(err, checkout.ErrUnknownLookupKey) || !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "promote_catalog") {
		t.Fatalf("unknown lookup key: %v", err)
	}
	h.assertNoSecret(goliveKey)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Test keys of a sandbox and live keys of the real account differ in
// account: promote_catalog says so and copies anyway.
func TestPromoteCatalogAcrossAccountsWarns(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Accounts: map[string]string{testKey: "acct_sandbox", goliveKey: "acct_live"}})
	h := newHarness(t, harnessOpts{base: fake.URL(), allowLiveWrites: true})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	if _, err := billingFor(t, h, fake.URL()).ConfigureKey(context.Background(), vocab.Live, goliveKey, false); err != nil {
		t.Fatal(err)
	}
	h.ok("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month"})
	res := h.ok("promote_catalog", map[string]any{"dry_run": true})
	if w, _ := res["warnings"].([]any); len(w) != 1 || !strings.Contains(w[0].(string), "acct_sandbox") {
		t.Fatalf("warnings = %v", res["warnings"])
	}
}

func TestSetAndCheckEntitlements(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	h := newHarness(t, harnessOpts{base: fake.URL()})
	ctx := context.Background()
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	plan := h.ok("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month"})
	product := get(plan, "product", "id").(string)
	// A feature made earlier in the Dashboard is reused by its lookup key.
	existing, err := stripeAPI(fake.URL(), testKey).EntitlementsFeatures.New(&stripe.EntitlementsFeatureParams{Name: stripe.String("SSO"), LookupKey: stripe.String("sso")})
	if err != nil {
		t.Fatal(err)
	}

	for _, bad := range []struct {
		args map[string]any
		want []string
	}{
		{map[string]any{"env": "test", "product_id": product, "features": []string{}}, []string{"features is empty"}},
		{map[string]any{"env": "test", "product_id": product, "features": []string{"api access!"}}, []string{"not a valid lookup key"}},
		{map[string]any{"env": "test", "product_id": "prod_nope", "features": []string{"api_access"}}, []string{"does not exist", "list_catalog"}},
		{map[string]any{"env": "live", "product_id": product, "features": []string{"api_access"}}, []string{"--allow-live-writes"}},
		{map[string]any{"env": "test", "product_id": product}, []string{"features"}},
	} {
		h.fails("set_entitlements", bad.args, bad.want...)
	}
	if n := fake.CountCreated(stripetest.KindFeature); n != 1 {
		t.Fatalf("refused calls created %d features", n-1)
	}

	res := h.ok("set_entitlements", map[string]any{"env": "test", "product_id": product, "features": []string{"api_access", "sso", "api_access"}})
	fs := res["features"].([]any)
	if len(fs) != 2 || get(fs, 0, "feature") != "created" || get(fs, 0, "attachment") != "attached" ||
		get(fs, 1, "feature") != "existing" || get(fs, 1, "feature_id") != existing.ID {
		t.Fatalf("set = %v", res)
	}
	if got := fake.ProductFeatureKeys(testKey, product); strings.Join(got, ",") != "api_access,sso" {
		t.Fatalf("attached = %v", got)
	}
	// Again, plus one more: nothing twice, the others stay.
	res = h.ok("set_entitlements", map[string]any{"env": "test", "product_id": product, "features": []string{"priority_support", "sso"}})
	if get(res, "features", 1, "attachment") != "already_attached" || get(res, "other_attached", 0) != "api_access" {
		t.Fatalf("again = %v", res)
	}
	if n := fake.CountCreated(stripetest.KindFeature); n != 3 {
		t.Fatalf("%d features exist, want 3", n)
	}
	if got := fake.ProductFeatureKeys(testKey, product); strings.Join(got, ",") != "api_access,sso,priority_support" {
		t.Fatalf("attached = %v", got)
	}

	subject := map[string]any{"type": "team", "id": "t_1"}
	c := h.ok("check_entitlement", map[string]any{"env": "test", "subject": subject, "feature": "api_access"})
	if c["allowed"] != false || !strings.Contains(c["reason"].(string), "no Stripe customer") {
		t.Fatalf("unmapped = %v", c)
	}
	if _, err := h.store.Pool().Exec(ctx, `INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id, confirmed)
		VALUES ('test', 'team', 't_1', 'cus_T1', true)`); err != nil {
		t.Fatal(err)
	}
	c = h.ok("check_entitlement", map[string]any{"env": "test", "subject": subject, "feature": "api_access"})
	if c["allowed"] != false || c["customer_id"] != "cus_T1" || !strings.Contains(c["reason"].(string), "no entitlement summary") {
		t.Fatalf("no summary = %v", c)
	}
	// Stripe's view of the customer, fetched whole and stored.
	fake.SetActiveEntitlements(testKey, "cus_T1", "api_access", "sso")
	if err := billingFor(t, h, fake.URL()).RefreshEntitlementSummary(ctx, vocab.Test, "cus_T1"); err != nil {
		t.Fatal(err)
	}
	c = h.ok("check_entitlement", map[string]any{"env": "test", "subject": subject, "feature": "api_access"})
	if c["allowed"] != true || len(c["features"].([]any)) != 2 || c["source_at"] == nil {
		t.Fatalf("entitled = %v", c)
	}
	c = h.ok("check_entitlement", map[string]any{"env": "test", "subject": subject, "feature": "priority_support"})
	if c["allowed"] != false || !strings.Contains(c["reason"].(string), "not among") {
		t.Fatalf("not entitled = %v", c)
	}
	// The same subject in live is another customer, with nothing.
	if c := h.ok("check_entitlement", map[string]any{"env": "live", "subject": subject, "feature": "api_access"}); c["allowed"] != false {
		t.Fatalf("live = %v", c)
	}
	h.fails("check_entitlement", map[string]any{"env": "test", "subject": map[string]any{"type": "team", "id": " "}, "feature": "api_access"}, "type and id")
	h.fails("check_entitlement", map[string]any{"env": "test", "subject": map[string]any{"type": "team"}, "feature": "api_access"}, "id")
	h.fails("check_entitlement", map[string]any{"env": "test", "subject": subject, "feature": ""}, "lookup key")
}

// promote_catalog gives each live product the entitlement features its test
// product has: a dry run says what it would attach, the copy creates the
// missing live features (by lookup key, with the test feature's name) and
// attaches them, and a re-run attaches nothing twice.
func TestPromoteCatalogCopiesFeatures(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Accounts: map[string]string{testKey: "acct_golive", goliveKey: "acct_golive"}})
	h := newHarness(t, harnessOpts{base: fake.URL(), allowLiveWrites: true, rateLimit: 1000})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	pro := get(h.ok("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month", "lookup_key": "pro_monthly"}), "product", "id").(string)
	basic := get(h.ok("create_plan", map[string]any{"env": "test", "name": "Basic", "unit_amount": 900, "currency": "usd", "interval": "month", "lookup_key": "basic_monthly"}), "product", "id").(string)
	testAPI, liveAPI := stripeAPI(fake.URL(), testKey), stripeAPI(fake.URL(), goliveKey)
	if _, err := testAPI.EntitlementsFeatures.New(&stripe.EntitlementsFeatureParams{Name: stripe.String("Priority support"), LookupKey: stripe.String("priority_support")}); err != nil {
		t.Fatal(err)
	}
	h.ok("set_entitlements", map[string]any{"env": "test", "product_id": pro, "features": []string{"api_access", "priority_support"}})
	h.ok("set_entitlements", map[string]any{"env": "test", "product_id": basic, "features": []string{"api_access"}})
	if _, err := billingFor(t, h, fake.URL()).ConfigureKey(context.Background(), vocab.Live, goliveKey, false); err != nil {
		t.Fatal(err)
	}
	// Live already has api_access, made by hand.
	if _, err := liveAPI.EntitlementsFeatures.New(&stripe.EntitlementsFeatureParams{Name: stripe.String("API"), LookupKey: stripe.String("api_access")}); err != nil {
		t.Fatal(err)
	}

	features := func(res map[string]any) map[string]string {
		out := map[string]string{}
		for _, f := range res["features"].([]any) {
			out[get(f, "test_product_id").(string)+" "+get(f, "lookup_key").(string)] = get(f, "action").(string) + " " + fmt.Sprint(get(f, "feature"))
		}
		return out
	}
	dry := h.ok("promote_catalog", map[string]any{"dry_run": true})
	want := map[string]string{pro + " api_access": "would_attach existing", pro + " priority_support": "would_attach would_create",
		basic + " api_access": "would_attach existing"}
	if got := features(dry); !equalMaps(got, want) {
		t.Fatalf("dry run features = %v, want %v", got, want)
	}
	if got := fake.Features(goliveKey); !slices.Equal(got, []string{"api_access"}) {
		t.Fatalf("the dry run changed live features: %v", got)
	}

	res := h.ok("promote_catalog", map[string]any{"confirm_live": true})
	want = map[string]string{pro + " api_access": "attached existing", pro + " priority_support": "attached created",
		basic + " api_access": "attached existing"}
	if got := features(res); !equalMaps(got, want) {
		t.Fatalf("features = %v, want %v", got, want)
	}
	if get(res, "counts", "features_attached") != float64(3) {
		t.Fatalf("counts = %v", res["counts"])
	}
	liveOf := map[string]string{}
	for _, p := range res["products"].([]any) {
		liveOf[get(p, "test_product_id").(string)] = get(p, "live_product_id").(string)
	}
	if got := fake.ProductFeatureKeys(goliveKey, liveOf[pro]); !slices.Equal(got, []string{"api_access", "priority_support"}) {
		t.Fatalf("live Pro has features %v", got)
	}
	if got := fake.ProductFeatureKeys(goliveKey, liveOf[basic]); !slices.Equal(got, []string{"api_access"}) {
		t.Fatalf("live Basic has features %v", got)
	}
	it := liveAPI.EntitlementsFeatures.List(&stripe.EntitlementsFeatureListParams{LookupKey: stripe.String("priority_support")})
	if !it.Next() || it.EntitlementsFeature().Name != "Priority support" {
		t.Fatalf("live priority_support = %+v, %v", it.EntitlementsFeature(), it.Err())
	}

	// Again: everything is there already.
	again := h.ok("promote_catalog", map[string]any{"confirm_live": true})
	want = map[string]string{pro + " api_access": "exists <nil>", pro + " priority_support": "exists <nil>", basic + " api_access": "exists <nil>"}
	if got := features(again); !equalMaps(got, want) {
		t.Fatalf("re-run features = %v, want %v", got, want)
	}
	if got := fake.Features(goliveKey); !slices.Equal(got, []string{"api_access", "priority_support"}) {
		t.Fatalf("live features after the re-run = %v", got)
	}
	if got := fake.ProductFeatureKeys(goliveKey, liveOf[pro]); len(got) != 2 {
		t.Fatalf("live Pro after the re-run has features %v", got)
	}
}

// The terms end users get go live with their price: a copy carries the
// test price's terms; a hand-made live price with the same amount but
// without them is not adopted silently.
func TestPromoteCatalogCopiesPriceTerms(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Accounts: map[string]string{testKey: "acct_terms", goliveKey: "acct_terms"}})
	h := newHarness(t, harnessOpts{base: fake.URL(), allowLiveWrites: true, rateLimit: 1000})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	if _, err := billingFor(t, h, fake.URL()).ConfigureKey(context.Background(), vocab.Live, goliveKey, false); err != nil {
		t.Fatal(err)
	}
	pro := h.ok("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month",
		"lookup_key": "pro_monthly", "trial_period_days": 14, "allow_promotion_codes": true, "automatic_tax": true})
	team := h.ok("create_plan", map[string]any{"env": "test", "name": "Team", "unit_amount": 20000, "currency": "usd", "interval": "year",
		"lookup_key": "team_yearly", "trial_period_days": 30})
	liveAPI := stripeAPI(fake.URL(), goliveKey)
	handmade, err := liveAPI.Products.New(&stripe.ProductParams{Name: stripe.String("Team (made by hand)")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := liveAPI.Prices.New(&stripe.PriceParams{Product: stripe.String(handmade.ID), Currency: stripe.String("usd"), UnitAmount: stripe.Int64(20000),
		LookupKey: stripe.String("team_yearly"), Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("year")}}); err != nil {
		t.Fatal(err)
	}
	res := h.ok("promote_catalog", map[string]any{"confirm_live": true})
	byTest := map[string]any{}
	for _, p := range res["prices"].([]any) {
		byTest[get(p, "test_price_id").(string)] = p
	}
	if p := byTest[get(pro, "price", "id").(string)]; get(p, "action") != "created" {
		t.Fatalf("pro: %v", p)
	}
	if p := byTest[get(team, "price", "id").(string)]; get(p, "action") != "conflict" || !strings.Contains(get(p, "reason").(string), "a 30-day trial") {
		t.Fatalf("team, held by a live price without its trial: %v", p)
	}
	var md map[string]string
	if err := h.store.Pool().QueryRow(context.Background(), `SELECT p.metadata FROM payments.prices p JOIN payments.price_map m ON m.live_price_id = p.id
		WHERE p.env = 'live' AND m.test_price_id = $1`, get(pro, "price", "id")).Scan(&md); err != nil {
		t.Fatal(err)
	}
	if md["billwire_trial_period_days"] != "14" || md["billwire_allow_promotion_codes"] != "true" || md["billwire_automatic_tax"] != "true" {
		t.Fatalf("the live copy's metadata %v", md)
	}
	var created bool
	for _, r := range fake.Requests() {
		if r.Method == "POST" && r.Path == "/v1/prices" && r.APIKey == goliveKey && r.Form.Get("lookup_key") == "pro_monthly" {
			created = r.Form.Get("metadata[billwire_trial_period_days]") == "14"
		}
	}
	if !created {
		t.Fatal("the live price create did not carry the trial")
	}
}
