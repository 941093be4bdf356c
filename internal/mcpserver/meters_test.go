package mcpserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// A meter and a metered plan through MCP, against the stateful fake: the
// meter is mirrored, a retry creates nothing twice, the metered price
// carries its meter, decimal amount and package size, no minimum charge
// applies, and what a metered price may not take is refused before Stripe.
func TestMeteredCatalogThroughTools(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	h := newHarness(t, harnessOpts{base: fake.URL()})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})

	args := map[string]any{"env": "test", "event_name": "api_tokens", "display_name": "API tokens"}
	m := h.ok("create_meter", args)
	id, _ := get(m, "meter", "id").(string)
	if !strings.HasPrefix(id, "mtr_") || get(m, "meter", "aggregation") != "sum" || get(m, "meter", "customer_key") != "stripe_customer_id" {
		t.Fatalf("create_meter answered %v", m)
	}
	if again := h.ok("create_meter", args); get(again, "meter", "id") != id {
		t.Fatalf("a retried create_meter made another meter: %v", again)
	}
	h.fails("create_meter", map[string]any{"env": "test", "event_name": "calls", "display_name": "Calls", "aggregation": "count", "value_key": "n"},
		"value_key applies to sum meters")
	if n := count(t, h.store, "meters"); n != 1 {
		t.Fatalf("%d meters stored", n)
	}
	if l := h.ok("list_meters", map[string]any{"env": "test"}); get(l, "meters", 0, "event_name") != "api_tokens" {
		t.Fatalf("list_meters answered %v", l)
	}

	before := len(fake.Requests())
	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"meter_id": "mtr_nope", "unit_amount": 1, "interval": "month"}, "create_meter"},
		{map[string]any{"meter_id": id, "unit_amount": 1}, "set interval"},
		{map[string]any{"meter_id": id, "unit_amount": 1, "unit_amount_decimal": "0.5", "interval": "month"}, "not both"},
		{map[string]any{"meter_id": id, "unit_amount_decimal": "0.1234567890123", "interval": "month"}, "at most 12 decimals"},
		{map[string]any{"meter_id": id, "unit_amount": 1, "interval": "month", "min_quantity": 2}, "no quantity"},
		{map[string]any{"unit_amount_decimal": "0.5", "interval": "month"}, "set meter_id"},
	} {
		a := map[string]any{"env": "test", "name": "Tokens", "currency": "usd"}
		for k, v := range c.args {
			a[k] = v
		}
		h.fails("create_plan", a, c.want)
	}
	for _, r := range fake.Requests()[before:] {
		if r.Method == "POST" {
			t.Fatalf("a refused metered plan reached Stripe: %s %s", r.Method, r.Path)
		}
	}

	// Half a cent per unit is below any minimum charge: metered prices
	// have none.
	plan := h.ok("create_plan", map[string]any{"env": "test", "name": "Tokens", "currency": "usd", "interval": "month",
		"meter_id": id, "unit_amount_decimal": "0.5", "package_size": 1000, "lookup_key": "tokens_monthly"})
	if get(plan, "price", "meter_id") != id || get(plan, "price", "usage_type") != "metered" ||
		get(plan, "price", "display") != "0.005 USD per 1000 units / month" {
		t.Fatalf("create_plan answered %v", plan)
	}
	p, err := stripeClient(t, fake.URL()).API().Prices.Get(get(plan, "price", "id").(string), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Recurring.Meter != id || p.Recurring.UsageType != stripe.PriceRecurringUsageTypeMetered ||
		p.TransformQuantity == nil || p.TransformQuantity.DivideBy != 1000 || p.TransformQuantity.Round != "up" {
		t.Fatalf("Stripe holds %+v %+v", p.Recurring, p.TransformQuantity)
	}
	cat := h.ok("list_catalog", map[string]any{"env": "test"})
	if get(cat, "meters", 0, "id") != id || get(cat, "products", 0, "prices", 0, "meter") != id ||
		get(cat, "products", 0, "prices", 0, "display") != "0.005 USD per 1000 units / month" {
		t.Fatalf("list_catalog answered %v", cat)
	}
}

// sync_catalog mirrors the meters made outside billwire (API 2024-06-20
// sends no meter events), and create_price finds a meter billwire has not
// mirrored yet.
func TestSyncMirrorsMeters(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Products: 1})
	h := newHarness(t, harnessOpts{base: fake.URL()})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	m, err := stripeClient(t, fake.URL()).API().BillingMeters.New(&stripe.BillingMeterParams{EventName: stripe.String("minutes"),
		DisplayName: stripe.String("Minutes"), DefaultAggregation: &stripe.BillingMeterDefaultAggregationParams{Formula: stripe.String("count")}})
	if err != nil {
		t.Fatal(err)
	}
	res := h.ok("sync_catalog", map[string]any{"env": "test", "objects": []string{"products"}})
	if get(res, "counts", "meters") != float64(1) {
		t.Fatalf("sync answered %v", res)
	}
	if l := h.ok("list_meters", map[string]any{"env": "test"}); get(l, "meters", 0, "id") != m.ID || get(l, "meters", 0, "aggregation") != "count" {
		t.Fatalf("list_meters answered %v", l)
	}
	if _, err := h.store.Pool().Exec(context.Background(), `DELETE FROM payments.meters`); err != nil {
		t.Fatal(err)
	}
	cat := h.ok("list_catalog", map[string]any{"env": "test"})
	prod, _ := get(cat, "products", 0, "id").(string)
	h.ok("create_price", map[string]any{"env": "test", "product_id": prod, "currency": "usd", "interval": "month", "meter_id": m.ID, "unit_amount": 0})
	if n := count(t, h.store, "meters"); n != 1 {
		t.Fatalf("the meter was not mirrored for its price: %d", n)
	}
}

// The requests billwire sends for meters and metered prices have the shapes
// Stripe's spec wants (stripe-mock checks them).
func TestMeteredCatalogAgainstStripeMock(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{base: stripetest.Mock(t)})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	m := h.ok("create_meter", map[string]any{"env": "test", "event_name": "api_tokens", "display_name": "API tokens", "value_key": "tokens"})
	id, _ := get(m, "meter", "id").(string)
	if id == "" {
		t.Fatalf("create_meter answered %v", m)
	}
	h.ok("create_plan", map[string]any{"env": "test", "name": "Tokens", "currency": "usd", "interval": "month",
		"meter_id": id, "unit_amount": 2, "package_size": 100})
	h.ok("sync_catalog", map[string]any{"env": "test"})
}

// promote_catalog copies the active test meters to live (a live meter with
// the same event_name is the copy) and the metered prices onto the live
// meters, with their decimal amount and package size; a re-run creates
// nothing, and a legacy metered price without a meter stays behind.
func TestPromoteMeteredCatalog(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Accounts: map[string]string{testKey: "acct_meters", goliveKey: "acct_meters"}})
	h := newHarness(t, harnessOpts{base: fake.URL(), allowLiveWrites: true, rateLimit: 1000})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	tokens := get(h.ok("create_meter", map[string]any{"env": "test", "event_name": "api_tokens", "display_name": "API tokens"}), "meter", "id").(string)
	calls := get(h.ok("create_meter", map[string]any{"env": "test", "event_name": "api_calls", "display_name": "API calls", "aggregation": "count"}), "meter", "id").(string)
	plan := h.ok("create_plan", map[string]any{"env": "test", "name": "Tokens", "currency": "usd", "interval": "month",
		"meter_id": tokens, "unit_amount_decimal": "0.25", "package_size": 1000, "lookup_key": "tokens_monthly"})
	testPrice := get(plan, "price", "id").(string)
	legacy, err := stripeAPI(fake.URL(), testKey).Prices.New(&stripe.PriceParams{Product: stripe.String(get(plan, "product", "id").(string)), Currency: stripe.String("usd"),
		UnitAmount: stripe.Int64(1), Recurring: &stripe.PriceRecurringParams{Interval: stripe.String("month"), UsageType: stripe.String("metered")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := billingFor(t, h, fake.URL()).ConfigureKey(context.Background(), vocab.Live, goliveKey, false); err != nil {
		t.Fatal(err)
	}
	liveAPI := stripeAPI(fake.URL(), goliveKey)
	liveCalls, err := liveAPI.BillingMeters.New(&stripe.BillingMeterParams{EventName: stripe.String("api_calls"), DisplayName: stripe.String("Calls"),
		DefaultAggregation: &stripe.BillingMeterDefaultAggregationParams{Formula: stripe.String("count")}})
	if err != nil {
		t.Fatal(err)
	}
	meterActions := func(res map[string]any) map[string]string {
		out := map[string]string{}
		for _, m := range res["meters"].([]any) {
			out[get(m, "test_meter_id").(string)] = get(m, "action").(string) + " " + fmt.Sprint(get(m, "live_meter_id"))
		}
		return out
	}
	priceActions := func(res map[string]any) map[string]string {
		out := map[string]string{}
		for _, p := range res["prices"].([]any) {
			out[get(p, "test_price_id").(string)] = get(p, "action").(string)
		}
		return out
	}
	dry := h.ok("promote_catalog", map[string]any{"dry_run": true})
	if got, want := meterActions(dry), map[string]string{tokens: "would_create <nil>", calls: "exists " + liveCalls.ID}; !equalMaps(got, want) {
		t.Fatalf("dry run meters = %v, want %v", got, want)
	}
	if got, want := priceActions(dry), map[string]string{testPrice: "would_create", legacy.ID: "unsupported"}; !equalMaps(got, want) {
		t.Fatalf("dry run prices = %v, want %v", got, want)
	}
	res := h.ok("promote_catalog", map[string]any{"confirm_live": true})
	liveTokens := ""
	for _, m := range res["meters"].([]any) {
		if get(m, "test_meter_id") == tokens && get(m, "action") == "created" {
			liveTokens = get(m, "live_meter_id").(string)
		}
	}
	var livePrice string
	for _, p := range res["prices"].([]any) {
		if get(p, "test_price_id") == testPrice && get(p, "action") == "created" {
			livePrice = get(p, "live_price_id").(string)
		}
	}
	if liveTokens == "" || livePrice == "" {
		t.Fatalf("promote_catalog answered %v", res)
	}
	lp, err := liveAPI.Prices.Get(livePrice, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lp.Recurring.Meter != liveTokens || lp.UnitAmountDecimal != 0.25 || lp.TransformQuantity == nil || lp.TransformQuantity.DivideBy != 1000 || lp.LookupKey != "tokens_monthly" {
		t.Fatalf("live price %+v %+v", lp.Recurring, lp.TransformQuantity)
	}
	if l := h.ok("list_meters", map[string]any{"env": "live"}); len(l["meters"].([]any)) != 2 {
		t.Fatalf("live meters mirrored: %v", l)
	}
	again := h.ok("promote_catalog", map[string]any{"confirm_live": true})
	if got, want := meterActions(again), map[string]string{tokens: "exists " + liveTokens, calls: "exists " + liveCalls.ID}; !equalMaps(got, want) {
		t.Fatalf("re-run meters = %v, want %v", got, want)
	}
	if got := priceActions(again)[testPrice]; got != "exists" {
		t.Fatalf("re-run price action %s", got)
	}
}
