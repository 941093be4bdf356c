package stripetest

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v79"
)

func TestFakeEntitlements(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	const key, liveKey = "sk_test_FAKEentFixture0001", "sk_live_FAKEentFixture0001"
	api := newClient(f.URL(), key)

	prod, err := api.Products.New(&stripe.ProductParams{Name: stripe.String("Pro")})
	if err != nil {
		t.Fatal(err)
	}
	feat, err := api.EntitlementsFeatures.New(&stripe.EntitlementsFeatureParams{Name: stripe.String("API"), LookupKey: stripe.String("api_access")})
	if err != nil || feat.LookupKey != "api_access" || !feat.Active || feat.Livemode || feat.Object != "entitlements.feature" {
		t.Fatalf("feature = %+v, %v", feat, err)
	}
	// Lookup keys are unique among the account's features.
	_, err = api.EntitlementsFeatures.New(&stripe.EntitlementsFeatureParams{Name: stripe.String("again"), LookupKey: stripe.String("api_access")})
	if se := stripeErr(t, err); se.HTTPStatusCode != http.StatusBadRequest || se.Param != "lookup_key" {
		t.Fatalf("duplicate lookup key: %+v", se)
	}
	// Listed, filtered by lookup key; another mode sees none.
	r := do(t, http.MethodGet, f.URL()+"/v1/entitlements/features?lookup_key=api_access", key, nil)
	if r.status != 200 || !strings.Contains(string(r.body), feat.ID) {
		t.Fatalf("list = %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodGet, f.URL()+"/v1/entitlements/features?lookup_key=other", key, nil); strings.Contains(string(r.body), feat.ID) {
		t.Fatalf("filter ignored: %s", r.body)
	}
	if r := do(t, http.MethodGet, f.URL()+"/v1/entitlements/features", liveKey, nil); strings.Contains(string(r.body), feat.ID) {
		t.Fatalf("live mode sees a test feature: %s", r.body)
	}

	pf, err := api.ProductFeatures.New(&stripe.ProductFeatureParams{Product: stripe.String(prod.ID), EntitlementFeature: stripe.String(feat.ID)})
	if err != nil || pf.EntitlementFeature == nil || pf.EntitlementFeature.LookupKey != "api_access" {
		t.Fatalf("attach = %+v, %v", pf, err)
	}
	_, err = api.ProductFeatures.New(&stripe.ProductFeatureParams{Product: stripe.String(prod.ID), EntitlementFeature: stripe.String(feat.ID)})
	if se := stripeErr(t, err); se.HTTPStatusCode != http.StatusBadRequest {
		t.Fatalf("attached twice: %+v", se)
	}
	_, err = api.ProductFeatures.New(&stripe.ProductFeatureParams{Product: stripe.String("prod_missing"), EntitlementFeature: stripe.String(feat.ID)})
	if se := stripeErr(t, err); se.HTTPStatusCode != http.StatusNotFound || se.Code != stripe.ErrorCodeResourceMissing {
		t.Fatalf("unknown product: %+v", se)
	}
	_, err = api.ProductFeatures.New(&stripe.ProductFeatureParams{Product: stripe.String(prod.ID), EntitlementFeature: stripe.String("feat_missing")})
	if se := stripeErr(t, err); se.Code != stripe.ErrorCodeResourceMissing {
		t.Fatalf("unknown feature: %+v", se)
	}
	if got := f.ProductFeatureKeys(key, prod.ID); !slices.Equal(got, []string{"api_access"}) {
		t.Fatalf("attached = %v", got)
	}
	it := api.ProductFeatures.List(&stripe.ProductFeatureListParams{Product: stripe.String(prod.ID)})
	var n int
	for it.Next() {
		n++
		if it.ProductFeature().ID != pf.ID {
			t.Fatalf("listed %+v", it.ProductFeature())
		}
	}
	if it.Err() != nil || n != 1 {
		t.Fatalf("listed %d, %v", n, it.Err())
	}
	if _, err := api.ProductFeatures.Del(pf.ID, &stripe.ProductFeatureParams{Product: stripe.String(prod.ID)}); err != nil {
		t.Fatal(err)
	}
	if got := f.ProductFeatureKeys(key, prod.ID); len(got) != 0 {
		t.Fatalf("after detach: %v", got)
	}

	// Active entitlements, paged.
	f.SetActiveEntitlements(key, "cus_1", "api_access", "seats", "sso")
	if got := f.Features(key); !slices.Equal(got, []string{"api_access", "seats", "sso"}) {
		t.Fatalf("features = %v", got)
	}
	lp := &stripe.EntitlementsActiveEntitlementListParams{Customer: stripe.String("cus_1")}
	lp.Limit = stripe.Int64(2)
	ai := api.EntitlementsActiveEntitlements.List(lp)
	var keys []string
	for ai.Next() {
		keys = append(keys, ai.EntitlementsActiveEntitlement().LookupKey)
	}
	if ai.Err() != nil || !slices.Equal(keys, []string{"api_access", "seats", "sso"}) {
		t.Fatalf("active = %v, %v", keys, ai.Err())
	}
	if r := do(t, http.MethodPost, f.URL()+"/v1/entitlements/features", key, url.Values{"lookup_key": {""}, "name": {"x"}}); r.status != 400 || r.errorBody(t).Code != "parameter_invalid_empty" {
		t.Fatalf("empty lookup key: %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodPost, f.URL()+"/v1/entitlements/features", key, url.Values{"lookup_key": {"x"}, "name": {"x"}, "colour": {"red"}}); r.status != 400 || r.errorBody(t).Code != "parameter_unknown" {
		t.Fatalf("unknown parameter: %d %s", r.status, r.body)
	}
}
