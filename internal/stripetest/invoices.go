package stripetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
)

// invoiceList holds the invoices AddInvoice listed in a scope, in the
// order they were first added.
type invoiceList struct {
	raw    []json.RawMessage
	fields []invoiceFields
	idx    map[string]int
}

// invoiceFields are what GET /v1/invoices filters on.
type invoiceFields struct {
	Customer     string `json:"customer"`
	Subscription string `json:"subscription"`
	Status       string `json:"status"`
}

// AddInvoice lists an invoice for the account and mode key acts on: GET
// /v1/invoices returns it (in the order invoices were first added; filters
// customer, subscription and status, with string ids), and GET
// /v1/invoices/{id} too unless PutObject stored one with its id. raw is
// the invoice's full JSON with a string id; a later AddInvoice of the same
// id replaces it in place. The fake serves raw as it is (compacted).
// AddInvoice panics if raw is not an object with an id.
func (f *Fake) AddInvoice(key string, raw []byte) {
	var head struct {
		ID string `json:"id"`
		invoiceFields
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.ID == "" {
		panic(fmt.Sprintf("stripetest: AddInvoice: not an invoice with a string id: %v", err))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		panic(fmt.Sprintf("stripetest: AddInvoice: %v", err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.keyScopeLocked(key)
	if sc.invoices == nil {
		sc.invoices = &invoiceList{idx: map[string]int{}}
	}
	l := sc.invoices
	if j, ok := l.idx[head.ID]; ok {
		l.raw[j], l.fields[j] = buf.Bytes(), head.invoiceFields
		return
	}
	l.idx[head.ID] = len(l.raw)
	l.raw = append(l.raw, buf.Bytes())
	l.fields = append(l.fields, head.invoiceFields)
}

// invoiceCollection is the collection served under /v1/invoices: the
// invoices AddInvoice listed (none are seeded or created).
func (f *Fake) invoiceCollection() *collection {
	return &collection{
		noun: "invoice", path: "/v1/invoices", prefix: "in_",
		filters: []string{"customer", "subscription", "status"},
		createdCount: func(sc *scope) int {
			if sc.invoices == nil {
				return 0
			}
			return len(sc.invoices.raw)
		},
		createdIndex: func(sc *scope, id string) (int, bool) {
			if sc.invoices == nil {
				return 0, false
			}
			j, ok := sc.invoices.idx[id]
			return j, ok
		},
		created: func(sc *scope, j int) any { return json.RawMessage(sc.invoices.raw[j]) },
		matcher: invoiceMatcher,
	}
}

// invoiceMatcher filters the listed invoices by customer, subscription and
// status.
func invoiceMatcher(sc *scope, params url.Values) (func(int) bool, *response) {
	want := invoiceFields{Customer: params.Get("customer"), Subscription: params.Get("subscription"), Status: params.Get("status")}
	return func(p int) bool {
		if sc.invoices == nil || p >= len(sc.invoices.fields) {
			return false
		}
		got := sc.invoices.fields[p]
		return (want.Customer == "" || got.Customer == want.Customer) &&
			(want.Subscription == "" || got.Subscription == want.Subscription) &&
			(want.Status == "" || got.Status == want.Status)
	}, nil
}
