package stripetest

import (
	"fmt"
	"testing"

	"github.com/stripe/stripe-go/v79"
)

func TestFakeListsAddedInvoices(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	const key = "sk_test_FakeInvoices0001"
	for i := range 5 {
		status := "open"
		if i%2 == 0 {
			status = "paid"
		}
		f.AddInvoice(key, fmt.Appendf(nil, `{"id": "in_List%d", "object": "invoice", "customer": "cus_%d", "status": %q, "amount_due": %d}`,
			i, i%2, status, 100*i))
	}
	f.AddInvoice(key, []byte(`{"id": "in_List1", "object": "invoice", "customer": "cus_1", "status": "paid", "amount_due": 150}`))
	sc := newClient(f.URL(), key)
	var ids []string
	var due int64
	params := &stripe.InvoiceListParams{}
	params.Limit = stripe.Int64(2)
	it := sc.Invoices.List(params)
	for it.Next() {
		ids = append(ids, it.Invoice().ID)
		due += it.Invoice().AmountDue
	}
	if err := it.Err(); err != nil || fmt.Sprint(ids) != "[in_List4 in_List3 in_List2 in_List1 in_List0]" || due != 1050 {
		t.Fatalf("list: %v %v, amount_due %d", ids, err, due)
	}
	paid := &stripe.InvoiceListParams{Status: stripe.String("paid"), Customer: stripe.String("cus_1")}
	it = sc.Invoices.List(paid)
	ids = nil
	for it.Next() {
		ids = append(ids, it.Invoice().ID)
	}
	if fmt.Sprint(ids) != "[in_List1]" {
		t.Fatalf("paid of cus_1: %v", ids)
	}
	if inv, err := sc.Invoices.Get("in_List3", nil); err != nil || inv.Status != "open" {
		t.Fatalf("get: %v %v", inv, err)
	}
	// Another account's key sees none.
	it = newClient(f.URL(), "sk_test_FakeInvoicesOther").Invoices.List(&stripe.InvoiceListParams{})
	if it.Next() {
		t.Fatal("another key listed the invoices")
	}
}
