package stripetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/client"
)

// storedCases are one object of each kind PutObject takes, how to fetch it
// with stripe-go and what the fetched object must show.
var storedCases = []struct {
	kind, path, id, raw string
	get                 func(sc *client.API, id string) (any, error)
	check               func(v any) bool
}{
	{
		kind: "customer", path: "/v1/customers/", id: "cus_Stored1",
		raw: `{"id":"cus_Stored1","object":"customer","email":"stored@example.com","name":"Stored","created":1720000000,
			"livemode":false,"metadata":{"app_user":"42"},"invoice_settings":{"default_payment_method":"pm_1"}}`,
		get: func(sc *client.API, id string) (any, error) { return sc.Customers.Get(id, nil) },
		check: func(v any) bool {
			c := v.(*stripe.Customer)
			return c.Email == "stored@example.com" && c.Metadata["app_user"] == "42" &&
				c.InvoiceSettings.DefaultPaymentMethod.ID == "pm_1"
		},
	},
	{
		kind: "subscription", path: "/v1/subscriptions/", id: "sub_Stored1",
		raw: `{"id":"sub_Stored1","object":"subscription","status":"past_due","customer":"cus_Stored1","cancel_at_period_end":true,
			"current_period_end":1722600000,"items":{"object":"list","data":[{"id":"si_1","object":"subscription_item","quantity":3,
			"price":{"id":"price_Stored1","object":"price","unit_amount":1500}}],"has_more":false,"url":"/v1/subscription_items"}}`,
		get: func(sc *client.API, id string) (any, error) { return sc.Subscriptions.Get(id, nil) },
		check: func(v any) bool {
			s := v.(*stripe.Subscription)
			return s.Status == stripe.SubscriptionStatusPastDue && s.Customer.ID == "cus_Stored1" && s.CancelAtPeriodEnd &&
				s.CurrentPeriodEnd == 1722600000 && len(s.Items.Data) == 1 && s.Items.Data[0].Quantity == 3 &&
				s.Items.Data[0].Price.UnitAmount == 1500
		},
	},
	{
		kind: "checkout.session", path: "/v1/checkout/sessions/", id: "cs_test_Stored1",
		raw: `{"id":"cs_test_Stored1","object":"checkout.session","mode":"subscription","status":"complete",
			"payment_status":"paid","customer":"cus_Stored1","subscription":"sub_Stored1","client_reference_id":"user-42",
			"amount_total":1500,"currency":"usd"}`,
		get: func(sc *client.API, id string) (any, error) { return sc.CheckoutSessions.Get(id, nil) },
		check: func(v any) bool {
			s := v.(*stripe.CheckoutSession)
			return s.Mode == stripe.CheckoutSessionModeSubscription && s.Status == stripe.CheckoutSessionStatusComplete &&
				s.PaymentStatus == stripe.CheckoutSessionPaymentStatusPaid && s.Customer.ID == "cus_Stored1" &&
				s.Subscription.ID == "sub_Stored1" && s.ClientReferenceID == "user-42" && s.AmountTotal == 1500
		},
	},
	{
		kind: "invoice", path: "/v1/invoices/", id: "in_Stored1",
		raw: `{"id":"in_Stored1","object":"invoice","status":"paid","customer":"cus_Stored1","subscription":"sub_Stored1",
			"amount_due":1500,"amount_paid":1500,"currency":"usd","billing_reason":"subscription_cycle"}`,
		get: func(sc *client.API, id string) (any, error) { return sc.Invoices.Get(id, nil) },
		check: func(v any) bool {
			i := v.(*stripe.Invoice)
			return i.Status == stripe.InvoiceStatusPaid && i.Customer.ID == "cus_Stored1" && i.Subscription.ID == "sub_Stored1" &&
				i.AmountPaid == 1500 && i.BillingReason == stripe.InvoiceBillingReasonSubscriptionCycle
		},
	},
	{
		kind: "payment_intent", path: "/v1/payment_intents/", id: "pi_Stored1",
		raw: `{"id":"pi_Stored1","object":"payment_intent","amount":2500,"currency":"eur","status":"succeeded",
			"customer":"cus_Stored1","latest_charge":"ch_Stored1"}`,
		get: func(sc *client.API, id string) (any, error) { return sc.PaymentIntents.Get(id, nil) },
		check: func(v any) bool {
			p := v.(*stripe.PaymentIntent)
			return p.Amount == 2500 && p.Currency == stripe.CurrencyEUR && p.Status == stripe.PaymentIntentStatusSucceeded &&
				p.Customer.ID == "cus_Stored1" && p.LatestCharge.ID == "ch_Stored1"
		},
	},
	{
		kind: "charge", path: "/v1/charges/", id: "ch_Stored1",
		raw: `{"id":"ch_Stored1","object":"charge","amount":2500,"amount_refunded":500,"refunded":false,"paid":true,
			"status":"succeeded","payment_intent":"pi_Stored1","currency":"eur"}`,
		get: func(sc *client.API, id string) (any, error) { return sc.Charges.Get(id, nil) },
		check: func(v any) bool {
			c := v.(*stripe.Charge)
			return c.Amount == 2500 && c.AmountRefunded == 500 && c.Paid && c.Status == stripe.ChargeStatusSucceeded &&
				c.PaymentIntent.ID == "pi_Stored1"
		},
	},
	{
		kind: "refund", path: "/v1/refunds/", id: "re_Stored1",
		raw: `{"id":"re_Stored1","object":"refund","amount":500,"charge":"ch_Stored1","status":"succeeded","reason":"requested_by_customer"}`,
		get: func(sc *client.API, id string) (any, error) { return sc.Refunds.Get(id, nil) },
		check: func(v any) bool {
			r := v.(*stripe.Refund)
			return r.Amount == 500 && r.Charge.ID == "ch_Stored1" && r.Status == stripe.RefundStatusSucceeded &&
				r.Reason == stripe.RefundReasonRequestedByCustomer
		},
	},
	{
		kind: "dispute", path: "/v1/disputes/", id: "dp_Stored1",
		raw: `{"id":"dp_Stored1","object":"dispute","amount":2500,"charge":"ch_Stored1","status":"needs_response","reason":"fraudulent"}`,
		get: func(sc *client.API, id string) (any, error) { return sc.Disputes.Get(id, nil) },
		check: func(v any) bool {
			d := v.(*stripe.Dispute)
			return d.Amount == 2500 && d.Charge.ID == "ch_Stored1" && d.Status == stripe.DisputeStatusNeedsResponse &&
				d.Reason == stripe.DisputeReasonFraudulent
		},
	},
	{
		kind: "product", path: "/v1/products/", id: "prod_Stored1",
		raw: `{"id":"prod_Stored1","object":"product","name":"Stored Pro","active":false,"metadata":{}}`,
		get: func(sc *client.API, id string) (any, error) { return sc.Products.Get(id, nil) },
		check: func(v any) bool {
			p := v.(*stripe.Product)
			return p.Name == "Stored Pro" && !p.Active
		},
	},
	{
		kind: "price", path: "/v1/prices/", id: "price_Stored1",
		raw: `{"id":"price_Stored1","object":"price","unit_amount":1500,"currency":"usd","product":"prod_Stored1",
			"type":"recurring","recurring":{"interval":"month","interval_count":1},"lookup_key":"pro_monthly"}`,
		get: func(sc *client.API, id string) (any, error) { return sc.Prices.Get(id, nil) },
		check: func(v any) bool {
			p := v.(*stripe.Price)
			return p.UnitAmount == 1500 && p.Product.ID == "prod_Stored1" && p.Recurring.Interval == stripe.PriceRecurringIntervalMonth &&
				p.LookupKey == "pro_monthly"
		},
	},
}

func TestFakePutObjectRetrieve(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	sc := newClient(f.URL(), testKey)
	for _, tc := range storedCases {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			// Unknown before PutObject, as Stripe answers.
			_, err := tc.get(sc, tc.id)
			se := stripeErr(t, err)
			if want := fmt.Sprintf("No such %s: '%s'", tc.kind, tc.id); se.HTTPStatusCode != 404 ||
				se.Code != stripe.ErrorCodeResourceMissing || se.Param != "id" || se.Msg != want {
				t.Errorf("before PutObject: %d %s %s %q, want 404 resource_missing %q", se.HTTPStatusCode, se.Code, se.Param, se.Msg, want)
			}

			f.PutObject(testKey, []byte(tc.raw))
			v, err := tc.get(sc, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(v) {
				t.Errorf("retrieved %+v", v)
			}
			// Expand is refused as elsewhere.
			if r := do(t, "GET", f.URL()+tc.path+tc.id+"?expand[0]=customer", testKey, nil); r.status != 400 || r.errorBody(t).Code != "parameter_unknown" {
				t.Errorf("expand: %d %s", r.status, r.body)
			}
			// Other accounts and modes do not see it.
			for _, key := range []string{"sk_test_otheraccount", "sk_live_abcdefgh1234"} {
				if _, err := tc.get(newClient(f.URL(), key), tc.id); stripeErr(t, err).HTTPStatusCode != 404 {
					t.Errorf("%s sees the object: %v", key, err)
				}
			}
		})
	}
}

func TestFakePutObjectReplacesAndOverridesSeeds(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Customers: 3, Subscriptions: 3})
	sc := newClient(f.URL(), testKey)
	seeded := SeedID(KindCustomer, 1)
	f.PutObject(testKey, fmt.Appendf(nil, `{"id":%q,"object":"customer","email":"changed@example.com"}`, seeded))
	c, err := sc.Customers.Get(seeded, nil)
	if err != nil || c.Email != "changed@example.com" {
		t.Fatalf("stored customer over a seeded one: %+v, %v", c, err)
	}
	// Another account still sees the seeded customer; lists are unchanged.
	if c, err := newClient(f.URL(), "sk_test_otheraccount").Customers.Get(seeded, nil); err != nil || c.Email != seedCustomerEmail(1) {
		t.Errorf("another account: %+v, %v", c, err)
	}
	if r := getJSON(t, f.URL(), "/v1/customers", testKey); strings.Contains(string(r), "changed@example.com") {
		t.Errorf("a stored object appears in the list: %s", r)
	}

	// A later PutObject replaces the object.
	sub := SeedID(KindSubscription, 2)
	for _, status := range []string{"active", "canceled"} {
		f.PutObject(testKey, fmt.Appendf(nil, `{"id":%q,"object":"subscription","status":%q,"customer":%q}`, sub, status, seeded))
		s, err := sc.Subscriptions.Get(sub, nil)
		if err != nil || string(s.Status) != status || s.Customer.ID != seeded {
			t.Errorf("after storing status %s: %+v, %v", status, s, err)
		}
	}
	// A stored product wins over one created through the fake.
	created, err := sc.Products.New(&stripe.ProductParams{Name: stripe.String("Created")})
	if err != nil {
		t.Fatal(err)
	}
	f.PutObject(testKey, fmt.Appendf(nil, `{"id":%q,"object":"product","name":"Stored"}`, created.ID))
	if p, err := sc.Products.Get(created.ID, nil); err != nil || p.Name != "Stored" {
		t.Errorf("stored over created product: %+v, %v", p, err)
	}

	// Only retrieval: the lists of the new kinds stay unknown URLs, as do
	// deeper paths.
	for _, path := range []string{"/v1/charges", "/v1/checkout/sessions", "/v1/checkout/sessions/cs_x/items", "/v1/checkout/sessionsX/cs_x"} {
		if r := do(t, "GET", f.URL()+path, testKey, nil); r.status != 404 || !strings.Contains(r.errorBody(t).Message, "Unrecognized request URL") {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
}

func TestFakePutObjectRefusesMalformedObjects(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	for _, tc := range []struct{ name, raw, panic string }{
		{"not JSON", `{`, "not a Stripe object"},
		{"no id", `{"object":"invoice"}`, "no id"},
		{"no object", `{"id":"in_1"}`, "no object type"},
		{"unknown object", `{"id":"si_1","object":"subscription_item"}`, `object type "subscription_item"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.HasPrefix(msg, "stripetest: PutObject: ") || !strings.Contains(msg, tc.panic) {
					t.Errorf("panic %q, want one about %q", msg, tc.panic)
				}
			}()
			f.PutObject(testKey, []byte(tc.raw))
		})
	}
}
