package webhooks_test

import (
	"testing"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/webhooks"
)

// Every object whose state an event replaces whole has a path to re-fetch
// it from Stripe (stripeapi names it); other objects have none.
func TestFetchPathOfEachStateObject(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]string{
		"customer.updated":              "/v1/customers/cus_Fixture1",
		"product.updated":               "/v1/products/prod_Fixture1",
		"price.updated":                 "/v1/prices/price_Fixture1",
		"customer.subscription.updated": "/v1/subscriptions/sub_Fixture1",
		"checkout.session.completed":    "/v1/checkout/sessions/cs_test_Fixture1",
		"invoice.paid":                  "/v1/invoices/in_Fixture1",
		"charge.refunded":               "",
	} {
		e, err := webhooks.ParseEvent(eventfixtures.MustEvent(t, typ, eventfixtures.Options{}))
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		got, ok := e.FetchPath()
		if got != want || ok != (want != "") {
			t.Errorf("%s: FetchPath = %q, %v; want %q", typ, got, ok, want)
		}
	}
}
