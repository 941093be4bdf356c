package stripeapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// stripe-mock answers the line items request with its fixture: the path and
// parameters are Stripe's, and the price comes in each line.
func TestCheckoutLineItemsAgainstStripeMock(t *testing.T) {
	t.Parallel()
	c, err := stripeapi.New(vocab.Test, "sk_test_51LineItemsMock000000000001", stripeapi.Options{BaseURL: stripetest.Mock(t)})
	if err != nil {
		t.Fatal(err)
	}
	items, err := c.CheckoutLineItems(context.Background(), "cs_test_Mock")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) == 0 || items[0].PriceID == "" || !strings.HasPrefix(items[0].PriceID, "price_") || items[0].Quantity < 0 {
		t.Fatalf("line items from stripe-mock = %+v", items)
	}
}

func lineItem(i int, price, lookupKey string, quantity int) []byte {
	lk := "null"
	if lookupKey != "" {
		lk = fmt.Sprintf("%q", lookupKey)
	}
	return fmt.Appendf(nil, `{"id": "li_%03d", "object": "item", "quantity": %d, "amount_total": 100, "currency": "usd",
		"price": {"id": %q, "object": "price", "lookup_key": %s, "unit_amount": 100, "currency": "usd", "product": "prod_1"}}`,
		i, quantity, price, lk)
}

// Every page is read, and each line keeps its price's lookup key (null when
// it has none) and quantity, in Stripe's order.
func TestCheckoutLineItemsReadsEveryPage(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	const key = "sk_test_51LineItemsFake000000000001"
	var items [][]byte
	for i := range 130 {
		lk := ""
		if i%2 == 0 {
			lk = fmt.Sprintf("pack_%d", i)
		}
		items = append(items, lineItem(i, fmt.Sprintf("price_%d", i), lk, i+1))
	}
	fake.PutLineItems(key, "cs_test_Many", items...)
	c, err := stripeapi.New(vocab.Test, key, stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.CheckoutLineItems(context.Background(), "cs_test_Many")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 130 {
		t.Fatalf("%d line items, want 130", len(got))
	}
	for i, li := range got {
		wantKey := i%2 == 0
		if li.PriceID != fmt.Sprintf("price_%d", i) || li.Quantity != int64(i+1) || (li.LookupKey != nil) != wantKey ||
			(wantKey && *li.LookupKey != fmt.Sprintf("pack_%d", i)) {
			t.Fatalf("line %d = %+v", i, li)
		}
	}
	pages := 0
	for _, r := range fake.Requests() {
		if r.Path == "/v1/checkout/sessions/cs_test_Many/line_items" {
			pages++
		}
	}
	if pages != 2 {
		t.Fatalf("%d requests for 130 line items, want 2 pages of 100", pages)
	}
	// An unknown session is Stripe's 404, not an empty list.
	if _, err := c.CheckoutLineItems(context.Background(), "cs_test_Unknown"); !stripeapi.IsNotFound(err) {
		t.Fatalf("unknown session = %v", err)
	}
	// A 5xx is an error to retry.
	fake.FailAfter("/v1/checkout/sessions/cs_test_Many/line_items", 0, http.StatusInternalServerError)
	if _, err := c.CheckoutLineItems(context.Background(), "cs_test_Many"); !stripeapi.Temporary(err) {
		t.Fatalf("failing Stripe = %v", err)
	}
}
