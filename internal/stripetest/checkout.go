package stripetest

import (
	"net/http"
	"time"
)

// Checkout Session creates in the fake, answered with the fields billwire
// reads (not stored: a retrieve is still served from PutObject), so that a
// benchmark can drive the session API under Stripe's latency and rate
// limit. The session API's tests use stripe-mock behind a [Recorder],
// which checks each request against Stripe's spec; customers and portal
// sessions, which need no memory either, are left to it.
//
//	POST /v1/checkout/sessions

// routeCheckout returns the handler of a Checkout Session create, or nil.
// rest is the path after /v1/.
func (f *Fake) routeCheckout(q *apiRequest, rest string) func(*apiRequest) response {
	if q.method == http.MethodPost && rest == "checkout/sessions" {
		return f.createCheckoutSession
	}
	return nil
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
