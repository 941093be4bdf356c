package stripeapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// stripe-mock checks each entitlements request against Stripe's OpenAPI
// spec: the shapes are right even though it keeps no state.
func TestEntitlementsRequestsAgainstStripeMock(t *testing.T) {
	t.Parallel()
	c, err := stripeapi.New(vocab.Test, "sk_test_51EntitlementsMock0000000001", stripeapi.Options{BaseURL: stripetest.Mock(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := c.CreateFeature(ctx, &stripe.EntitlementsFeatureParams{Name: stripe.String("api_access"), LookupKey: stripe.String("api_access")}, "billwire-test-feature")
	if err != nil || f.ID == "" {
		t.Fatalf("create feature = %+v, %v", f, err)
	}
	if _, err := c.FeatureByLookupKey(ctx, "api_access"); err != nil {
		t.Fatalf("feature by lookup key: %v", err)
	}
	pf, err := c.AttachFeature(ctx, "prod_123", f.ID, "billwire-test-attach")
	if err != nil || pf.ID == "" {
		t.Fatalf("attach = %+v, %v", pf, err)
	}
	if _, err := c.ProductFeatures(ctx, "prod_123"); err != nil {
		t.Fatalf("product features: %v", err)
	}
	ents, err := c.ActiveEntitlements(ctx, "cus_123")
	if err != nil {
		t.Fatalf("active entitlements: %v", err)
	}
	for _, e := range ents {
		var ae stripe.EntitlementsActiveEntitlement
		if err := json.Unmarshal(e, &ae); err != nil || ae.ID == "" {
			t.Fatalf("active entitlement %s: %v", e, err)
		}
	}
}

// Against the stateful fake: reuse by lookup key, every page of a product's
// features and of a customer's entitlements.
func TestEntitlementsAgainstTheFake(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Products: 1})
	const key = "sk_test_51EntitlementsFake0000000001"
	c, err := stripeapi.New(vocab.Test, key, stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if f, err := c.FeatureByLookupKey(ctx, "f0"); err != nil || f != nil {
		t.Fatalf("missing feature = %+v, %v", f, err)
	}
	product := stripetest.SeedID(stripetest.KindProduct, 0)
	var ids []string
	for i := range 120 {
		lk := fmt.Sprintf("f%03d", i)
		f, err := c.CreateFeature(ctx, &stripe.EntitlementsFeatureParams{Name: stripe.String(lk), LookupKey: stripe.String(lk)}, "k-"+lk)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.FeatureByLookupKey(ctx, lk)
		if err != nil || got == nil || got.ID != f.ID {
			t.Fatalf("by lookup key %s = %+v, %v", lk, got, err)
		}
		if _, err := c.AttachFeature(ctx, product, f.ID, "a-"+lk); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, lk)
	}
	pfs, err := c.ProductFeatures(ctx, product)
	if err != nil || len(pfs) != 120 || pfs[119].EntitlementFeature.LookupKey != ids[119] {
		t.Fatalf("product features: %d, %v", len(pfs), err)
	}
	if _, err := c.ProductFeatures(ctx, "prod_missing"); !stripeapi.IsNotFound(err) {
		t.Fatalf("missing product: %v", err)
	}
	fake.SetActiveEntitlements(key, "cus_1", ids...)
	ents, err := c.ActiveEntitlements(ctx, "cus_1")
	if err != nil || len(ents) != 120 {
		t.Fatalf("active entitlements: %d, %v", len(ents), err)
	}
}
