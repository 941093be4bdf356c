package stripetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// Objects stored with PutObject, served by GET /v1/<kind>/{id} so that
// code handling an event can re-fetch the object it is about.

// storedKey identifies a stored object.
type storedKey struct {
	object string // Stripe's object type, such as "checkout.session"
	id     string
}

// storedKinds maps the path segment of each kind PutObject takes to the
// object type of that kind. The noun of its "No such ..." error is the
// object type too, as with Stripe ("No such checkout.session: 'cs_x'").
var storedKinds = map[string]string{
	"customers":         "customer",
	"subscriptions":     "subscription",
	"checkout/sessions": "checkout.session",
	"invoices":          "invoice",
	"invoiceitems":      "invoiceitem",
	"payment_intents":   "payment_intent",
	"charges":           "charge",
	"refunds":           "refund",
	"disputes":          "dispute",
	"products":          "product",
	"prices":            "price",
}

// PutObject stores an object for the account and mode key acts on (without
// a Stripe-Account header), so that GET of its path returns it: raw is its
// full JSON with a string id and a string object type, one of customer
// (served at /v1/customers/{id}), subscription (/v1/subscriptions/{id}),
// checkout.session (/v1/checkout/sessions/{id}), invoice, invoiceitem,
// payment_intent, charge, refund, dispute, product and price
// (/v1/invoices/{id}, /v1/invoiceitems/{id} and so on).
// The fake serves raw as it is (compacted) and checks nothing else. A stored
// object takes precedence over a seeded or created one with the same id,
// and a later PutObject of the same object replaces it. Stored objects are
// only retrieved: lists and filters do not see them. PutObject panics if
// raw is not such an object.
func (f *Fake) PutObject(key string, raw []byte) {
	var head struct {
		ID     *string `json:"id"`
		Object *string `json:"object"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		panic(fmt.Sprintf("stripetest: PutObject: not a Stripe object: %v", err))
	}
	switch {
	case head.ID == nil || *head.ID == "":
		panic("stripetest: PutObject: the object has no id")
	case head.Object == nil || !isStoredKind(*head.Object):
		object := "no object type"
		if head.Object != nil {
			object = fmt.Sprintf("object type %q", *head.Object)
		}
		panic(fmt.Sprintf("stripetest: PutObject: %s has %s; want one of customer, subscription, checkout.session, invoice, invoiceitem, payment_intent, charge, refund, dispute, product or price", *head.ID, object))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		panic(fmt.Sprintf("stripetest: PutObject: %v", err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keyScopeLocked(key).stored[storedKey{*head.Object, *head.ID}] = buf.Bytes()
}

func isStoredKind(object string) bool {
	for _, o := range storedKinds {
		if o == object {
			return true
		}
	}
	return false
}

// retrieveStored serves GET /v1/<kind>/{id} for the kinds PutObject takes:
// the stored object, else the seeded or created one of collection c (nil
// for kinds the fake has no collection of).
func (f *Fake) retrieveStored(object string, c *collection, q *apiRequest, id string) response {
	if r := checkParams(q.params, nil, nil, nil); r != nil {
		return *r
	}
	f.mu.Lock()
	raw, ok := f.scopeLocked(q).stored[storedKey{object, id}]
	f.mu.Unlock()
	switch {
	case ok:
		return storedResponse(raw)
	case c != nil:
		return f.retrieve(c, q, id)
	}
	r := noSuch(object, id, "id")
	r.status = http.StatusNotFound
	return r
}
