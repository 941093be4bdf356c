package stripetest

import (
	"net/http"
	"time"
)

// Creates for the session API in the fake: customers and Checkout
// Sessions, answered with the fields billwire reads (not stored: a
// retrieve of either is still served from PutObject or the seeds).
//
//	POST /v1/customers
//	POST /v1/checkout/sessions

// routeCheckout returns the handler of a session API create, or nil. rest
// is the path after /v1/.
func (f *Fake) routeCheckout(q *apiRequest, rest string) func(*apiRequest) response {
	if q.method != http.MethodPost {
		return nil
	}
	switch rest {
	case "customers":
		return f.createCustomer
	case "checkout/sessions":
		return f.createCheckoutSession
	}
	return nil
}

func (f *Fake) createCustomer(q *apiRequest) response {
	f.mu.Lock()
	c := &customer{ID: f.newIDLocked("cus_"), Object: "customer", Created: time.Now().Unix(), Livemode: q.live,
		Metadata: mapParam(q.params, "metadata"), PreferredLocales: emptyStrings, TaxExempt: "none", NextInvoiceSequence: 1,
		InvoicePrefix: "FAKE"}
	if e := q.params.Get("email"); e != "" {
		c.Email = &e
	}
	f.created["customer"]++
	deliver := func() {}
	if f.opts.DeliverEvents {
		// Stripe tells of the customer; it can then be retrieved.
		sc := f.scopeLocked(q)
		obj := toMap(c)
		f.storeLocked(sc, obj, "customer")
		deliver = f.tellLocked(sc, q.live, []fakeEvent{{typ: "customer.created", object: obj}})
	}
	f.mu.Unlock()
	deliver()
	return jsonResponse(http.StatusOK, c)
}

func (f *Fake) createCheckoutSession(q *apiRequest) response {
	f.mu.Lock()
	defer f.mu.Unlock()
	mode := "_test_"
	if q.live {
		mode = "_live_"
	}
	id := f.newIDLocked("cs" + mode)
	now := time.Now().Unix()
	f.created["checkout.session"]++
	return jsonResponse(http.StatusOK, map[string]any{"id": id, "object": "checkout.session", "livemode": q.live,
		"mode": q.params.Get("mode"), "status": "open", "payment_status": "unpaid", "customer": q.params.Get("customer"),
		"client_reference_id": q.params.Get("client_reference_id"), "metadata": mapParam(q.params, "metadata"),
		"success_url": q.params.Get("success_url"), "cancel_url": q.params.Get("cancel_url"),
		"created": now, "expires_at": now + 24*3600, "url": "https://checkout.stripe.com/c/pay/" + id})
}
