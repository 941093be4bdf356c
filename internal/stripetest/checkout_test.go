package stripetest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v79"
)

func TestCheckoutCreates(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	const key = "sk_test_CheckoutCreates000001"
	c := newClient(f.URL(), key)
	sp := &stripe.CheckoutSessionParams{Mode: stripe.String("payment"), Customer: stripe.String("cus_Checkout1"),
		SuccessURL: stripe.String("https://app.example.com/ok"), CancelURL: stripe.String("https://app.example.com/no"),
		LineItems: []*stripe.CheckoutSessionLineItemParams{{Price: stripe.String("price_1"), Quantity: stripe.Int64(1)}}}
	sess, err := c.CheckoutSessions.New(sp)
	if err != nil || !strings.HasPrefix(sess.ID, "cs_test_") || sess.Customer == nil || sess.Customer.ID != "cus_Checkout1" ||
		sess.Status != "open" || !strings.HasSuffix(sess.URL, sess.ID) || sess.ExpiresAt <= sess.Created {
		t.Fatalf("session %+v %v", sess, err)
	}
	if f.CountCreated("checkout.session") != 1 {
		t.Fatalf("created %d sessions", f.CountCreated("checkout.session"))
	}
	// Portal sessions, which need no memory, are stripe-mock's: the fake
	// refuses them loudly rather than half-serve them. (Customers need
	// memory since subscriptions are made for them: subscriptions_test.go.)
	for _, path := range []string{"/v1/billing_portal/sessions"} {
		if r := do(t, http.MethodPost, f.URL()+path, key, url.Values{"customer": {"cus_Checkout1"}}); r.status != http.StatusNotFound {
			t.Errorf("POST %s: %d %s, want 404", path, r.status, r.body)
		}
	}
}
