package stripetest

import (
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v79"
)

func TestCheckoutCreates(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	c := newClient(f.URL(), "sk_test_CheckoutCreates000001")
	cp := &stripe.CustomerParams{}
	cp.AddMetadata("billwire_subject_id", "u_1")
	cust, err := c.Customers.New(cp)
	if err != nil || !strings.HasPrefix(cust.ID, "cus_") || cust.Metadata["billwire_subject_id"] != "u_1" || cust.Livemode {
		t.Fatalf("customer %+v %v", cust, err)
	}
	sp := &stripe.CheckoutSessionParams{Mode: stripe.String("payment"), Customer: stripe.String(cust.ID),
		SuccessURL: stripe.String("https://app.example.com/ok"), CancelURL: stripe.String("https://app.example.com/no"),
		LineItems: []*stripe.CheckoutSessionLineItemParams{{Price: stripe.String("price_1"), Quantity: stripe.Int64(1)}}}
	sess, err := c.CheckoutSessions.New(sp)
	if err != nil || !strings.HasPrefix(sess.ID, "cs_test_") || sess.Customer == nil || sess.Customer.ID != cust.ID ||
		sess.Status != "open" || !strings.HasSuffix(sess.URL, sess.ID) || sess.ExpiresAt <= sess.Created {
		t.Fatalf("session %+v %v", sess, err)
	}
	if f.CountCreated("customer") != 1 || f.CountCreated("checkout.session") != 1 {
		t.Fatalf("created %d customers, %d sessions", f.CountCreated("customer"), f.CountCreated("checkout.session"))
	}
}
