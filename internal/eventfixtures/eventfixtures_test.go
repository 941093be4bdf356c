package eventfixtures

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/billwire/billwire"
)

const secret = "whsec_test_fixtures"

var subject = map[string]string{"billwire_subject_type": "user", "billwire_subject_id": "u_123"}

// story is the order of the fixtures along the story; their created
// timestamps must increase in this order.
var story = []string{
	"product.created",
	"price.created",
	"product.updated",
	"price.updated",
	"customer.created",
	"customer.subscription.created",
	"payment_intent.payment_failed",
	"invoice.payment_failed",
	"invoice.payment_action_required",
	"payment_intent.succeeded",
	"invoice.paid",
	"customer.subscription.updated",
	"customer.updated",
	"checkout.session.completed",
	"checkout.session.async_payment_succeeded",
	"checkout.session.async_payment_failed",
	"entitlements.active_entitlement_summary.updated",
	"checkout.session.expired",
	"charge.dispute.created",
	"charge.refunded",
	"refund.created",
	"refund.updated",
	"charge.dispute.closed",
	"invoice.created",
	"invoice.finalized",
	"invoice.updated",
	"invoice.marked_uncollectible",
	"invoice.voided",
	"customer.subscription.trial_will_end",
	"customer.subscription.paused",
	"customer.subscription.resumed",
	"customer.subscription.deleted",
	"customer.deleted",
	"price.deleted",
	"product.deleted",
}

// rawFixture returns the fixture file of typ as stored.
func rawFixture(t *testing.T, typ string) []byte {
	t.Helper()
	b, err := fs.ReadFile(billwire.EventFixtures, "testdata/events/"+typ+".json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// objectType is the stripe-go type data.object of an event of type typ
// decodes into.
func objectType(typ string) reflect.Type {
	for _, p := range []struct {
		prefix string
		v      any
	}{
		{"customer.subscription.", stripe.Subscription{}},
		{"entitlements.active_entitlement_summary.", stripe.EntitlementsActiveEntitlementSummary{}},
		{"customer.", stripe.Customer{}},
		{"product.", stripe.Product{}},
		{"price.", stripe.Price{}},
		{"checkout.session.", stripe.CheckoutSession{}},
		{"invoice.", stripe.Invoice{}},
		{"payment_intent.", stripe.PaymentIntent{}},
		{"charge.dispute.", stripe.Dispute{}},
		{"charge.", stripe.Charge{}},
		{"refund.", stripe.Refund{}},
	} {
		if strings.HasPrefix(typ, p.prefix) {
			return reflect.TypeOf(p.v)
		}
	}
	return nil
}

func TestTypesMatchFixtureFiles(t *testing.T) {
	entries, err := fs.ReadDir(billwire.EventFixtures, "testdata/events")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, strings.TrimSuffix(e.Name(), ".json"))
	}
	if !slices.IsSorted(Types) {
		t.Errorf("Types is not sorted")
	}
	if !slices.Equal(files, Types) {
		t.Errorf("fixture files %v\ndiffer from Types %v", files, Types)
	}
	sortedStory := slices.Sorted(slices.Values(story))
	if !slices.Equal(sortedStory, Types) {
		t.Errorf("story %v\ndoes not hold every type once", story)
	}
}

func TestFixturesAreStripeEvents(t *testing.T) {
	var prevCreated int64
	for _, typ := range story {
		raw := rawFixture(t, typ)
		var ev stripe.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !strings.HasPrefix(ev.ID, "evt_") || ev.Object != "event" || string(ev.Type) != typ ||
			ev.APIVersion != "2024-06-20" || ev.Livemode || ev.PendingWebhooks != 1 || ev.Request == nil {
			t.Errorf("%s: envelope: id %q object %q type %q api_version %q livemode %v pending_webhooks %d request %v",
				typ, ev.ID, ev.Object, ev.Type, ev.APIVersion, ev.Livemode, ev.PendingWebhooks, ev.Request)
		}
		if ev.Created <= prevCreated {
			t.Errorf("%s: created %d is not after the previous fixture's %d", typ, ev.Created, prevCreated)
		}
		prevCreated = ev.Created
		obj := ev.Data.Object
		if oc, _ := obj["created"].(float64); int64(oc) > ev.Created {
			t.Errorf("%s: data.object.created %d is after the event's %d", typ, int64(oc), ev.Created)
		}
		// Every object carries livemode, except refunds (stripe.Refund has no
		// such field).
		if lm, ok := obj["livemode"]; lm != false && (ok || typ[:7] != "refund.") {
			t.Errorf("%s: data.object.livemode = %v", typ, lm)
		}
		// previous_attributes: on updates, naming keys of the object.
		prev := ev.Data.PreviousAttributes
		if strings.HasSuffix(typ, ".updated") && len(prev) == 0 {
			t.Errorf("%s: no previous_attributes", typ)
		}
		for k := range prev {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s: previous_attributes.%s is not a key of data.object", typ, k)
			}
		}
		// Stripe's key order: id and object first.
		if !bytes.HasPrefix(raw, []byte("{\n  \"id\": \"evt_")) {
			t.Errorf("%s: the event does not start with its id", typ)
		}
	}
}

func TestFixturesVerifyWithStripeGo(t *testing.T) {
	for _, typ := range Types {
		for name, payload := range map[string][]byte{"file": rawFixture(t, typ), "Event": MustEvent(t, typ, Options{})} {
			ev, err := webhook.ConstructEventWithOptions(payload, Sign(payload, secret, time.Now()), secret, webhook.ConstructEventOptions{})
			if err != nil {
				t.Errorf("%s (%s): %v", typ, name, err)
				continue
			}
			if string(ev.Type) != typ {
				t.Errorf("%s (%s): type %q", typ, name, ev.Type)
			}
		}
	}
	payload := MustEvent(t, "invoice.paid", Options{})
	if _, err := webhook.ConstructEventWithOptions(payload, Sign(payload, "whsec_other", time.Now()), secret, webhook.ConstructEventOptions{}); err == nil {
		t.Error("a payload signed with another secret verified")
	}
	if _, err := webhook.ConstructEventWithOptions(payload, Sign(payload, secret, time.Now().Add(-time.Hour)), secret, webhook.ConstructEventOptions{}); err == nil {
		t.Error("a signature an hour old verified")
	}
}

// TestFixtureKeysKnownToStripeGo checks every key of every data.object and
// previous_attributes against the stripe-go v79 types, which follow the API
// reference of 2024-06-20.
func TestFixtureKeysKnownToStripeGo(t *testing.T) {
	for _, typ := range Types {
		var ev struct {
			Data struct {
				Object   map[string]any `json:"object"`
				Previous map[string]any `json:"previous_attributes"`
			} `json:"data"`
		}
		if err := json.Unmarshal(rawFixture(t, typ), &ev); err != nil {
			t.Fatal(err)
		}
		ot := objectType(typ)
		if ot == nil {
			t.Fatalf("%s: no stripe-go type", typ)
		}
		for _, k := range unknownKeys(ev.Data.Object, ot, "data.object") {
			t.Errorf("%s: %s is not a field of stripe.%s", typ, k, ot.Name())
		}
		for _, k := range unknownKeys(ev.Data.Previous, ot, "data.previous_attributes") {
			t.Errorf("%s: %s is not a field of stripe.%s", typ, k, ot.Name())
		}
	}
}

func TestObjectsDecodeIntoStripeGoTypes(t *testing.T) {
	for _, typ := range Types {
		payload := MustEvent(t, typ, Options{})
		ev, err := webhook.ConstructEventWithOptions(payload, Sign(payload, secret, time.Now()), secret, webhook.ConstructEventOptions{})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		raw := ev.Data.Raw
		errorf := func(format string, args ...any) { t.Errorf(typ+": "+format, args...) }
		decode := func(v any) {
			if err := json.Unmarshal(raw, v); err != nil {
				t.Fatalf("%s: decoding data.object into %T: %v", typ, v, err)
			}
		}
		switch objectType(typ) {
		case reflect.TypeOf(stripe.Customer{}):
			var c stripe.Customer
			decode(&c)
			if c.ID != "cus_Fixture1" || c.Email != "jenny@example.com" || !reflect.DeepEqual(c.Metadata, subject) {
				errorf("customer %q %q %v", c.ID, c.Email, c.Metadata)
			}
		case reflect.TypeOf(stripe.Product{}):
			var p stripe.Product
			decode(&p)
			if p.ID != "prod_Fixture1" || p.Name != "Pro" {
				errorf("product %q %q", p.ID, p.Name)
			}
		case reflect.TypeOf(stripe.Price{}):
			var p stripe.Price
			decode(&p)
			checkPrice(t, typ, &p)
		case reflect.TypeOf(stripe.CheckoutSession{}):
			var s stripe.CheckoutSession
			decode(&s)
			if s.ID != "cs_test_Fixture1" || s.Mode != stripe.CheckoutSessionModeSubscription ||
				s.ClientReferenceID != "user:u_123" || !reflect.DeepEqual(s.Metadata, subject) ||
				s.Customer == nil || s.Customer.ID != "cus_Fixture1" ||
				s.AmountTotal != 2000 || s.Currency != stripe.CurrencyUSD || s.PaymentIntent != nil {
				errorf("session %+v", s)
			}
			wantSub, wantStatus, wantPayment := "sub_Fixture1", stripe.CheckoutSessionStatusComplete, stripe.CheckoutSessionPaymentStatusPaid
			switch typ {
			case "checkout.session.expired":
				wantSub, wantStatus, wantPayment = "", stripe.CheckoutSessionStatusExpired, stripe.CheckoutSessionPaymentStatusUnpaid
			case "checkout.session.async_payment_failed":
				wantPayment = stripe.CheckoutSessionPaymentStatusUnpaid
			}
			if gotSub := idOf(s.Subscription); gotSub != wantSub || s.Status != wantStatus || s.PaymentStatus != wantPayment {
				errorf("subscription %q status %q payment_status %q", gotSub, s.Status, s.PaymentStatus)
			}
		case reflect.TypeOf(stripe.Subscription{}):
			var s stripe.Subscription
			decode(&s)
			if s.ID != "sub_Fixture1" || idOf(s.Customer) != "cus_Fixture1" || !reflect.DeepEqual(s.Metadata, subject) ||
				s.CurrentPeriodStart == 0 || s.CurrentPeriodEnd <= s.CurrentPeriodStart || s.Currency != stripe.CurrencyUSD {
				errorf("subscription %q customer %q metadata %v period %d–%d", s.ID, idOf(s.Customer), s.Metadata, s.CurrentPeriodStart, s.CurrentPeriodEnd)
			}
			if s.Items == nil || len(s.Items.Data) != 1 || s.Items.Data[0].ID != "si_Fixture1" || s.Items.Data[0].Quantity != 1 {
				errorf("items %+v", s.Items)
			} else {
				checkPrice(t, typ, s.Items.Data[0].Price)
			}
			want := map[string]stripe.SubscriptionStatus{
				"customer.subscription.created":        stripe.SubscriptionStatusIncomplete,
				"customer.subscription.updated":        stripe.SubscriptionStatusActive,
				"customer.subscription.trial_will_end": stripe.SubscriptionStatusTrialing,
				"customer.subscription.paused":         stripe.SubscriptionStatusPaused,
				"customer.subscription.resumed":        stripe.SubscriptionStatusActive,
				"customer.subscription.deleted":        stripe.SubscriptionStatusCanceled,
			}[typ]
			if s.Status != want {
				errorf("status %q, want %q", s.Status, want)
			}
		case reflect.TypeOf(stripe.Invoice{}):
			var in stripe.Invoice
			decode(&in)
			// The first invoice (sign-up) or the renewal, unpaid.
			wantID, wantPI, wantReason := "in_Fixture1", "pi_Fixture1", stripe.InvoiceBillingReasonSubscriptionCreate
			wantCharge, wantStatus, wantPaid := "ch_FixtureDeclined", stripe.InvoiceStatusOpen, int64(0)
			if renewal, ok := map[string]stripe.InvoiceStatus{"invoice.created": stripe.InvoiceStatusDraft,
				"invoice.finalized": stripe.InvoiceStatusOpen, "invoice.updated": stripe.InvoiceStatusOpen,
				"invoice.marked_uncollectible": stripe.InvoiceStatusUncollectible, "invoice.voided": stripe.InvoiceStatusVoid}[typ]; ok {
				wantID, wantPI, wantReason, wantCharge, wantStatus = "in_Fixture2", "", stripe.InvoiceBillingReasonSubscriptionCycle, "", renewal
			}
			if typ == "invoice.paid" {
				wantCharge, wantStatus, wantPaid = "ch_Fixture1", stripe.InvoiceStatusPaid, 2000
			}
			if in.ID != wantID || idOf(in.Subscription) != "sub_Fixture1" || idOf(in.PaymentIntent) != wantPI ||
				idOf(in.Customer) != "cus_Fixture1" || in.AmountDue != 2000 || in.Currency != stripe.CurrencyUSD ||
				in.BillingReason != wantReason ||
				in.SubscriptionDetails == nil || !reflect.DeepEqual(in.SubscriptionDetails.Metadata, subject) {
				errorf("invoice %+v", in)
			}
			if in.Lines == nil || len(in.Lines.Data) != 1 || in.Lines.Data[0].Amount != 2000 || idOf(in.Lines.Data[0].Subscription) != "sub_Fixture1" {
				errorf("lines %+v", in.Lines)
			} else {
				checkPrice(t, typ, in.Lines.Data[0].Price)
			}
			if idOf(in.Charge) != wantCharge || in.Status != wantStatus || in.AmountPaid != wantPaid || in.Paid != (wantPaid > 0) {
				errorf("charge %q status %q amount_paid %d paid %v", idOf(in.Charge), in.Status, in.AmountPaid, in.Paid)
			}
		case reflect.TypeOf(stripe.PaymentIntent{}):
			var pi stripe.PaymentIntent
			decode(&pi)
			if pi.ID != "pi_Fixture1" || pi.Amount != 2000 || pi.Currency != stripe.CurrencyUSD ||
				idOf(pi.Invoice) != "in_Fixture1" || idOf(pi.Customer) != "cus_Fixture1" {
				errorf("payment intent %+v", pi)
			}
			if typ == "payment_intent.succeeded" {
				if pi.Status != stripe.PaymentIntentStatusSucceeded || idOf(pi.LatestCharge) != "ch_Fixture1" || pi.AmountReceived != 2000 || pi.LastPaymentError != nil {
					errorf("status %q latest_charge %q amount_received %d", pi.Status, idOf(pi.LatestCharge), pi.AmountReceived)
				}
			} else {
				e := pi.LastPaymentError
				if pi.Status != stripe.PaymentIntentStatusRequiresPaymentMethod || e == nil ||
					e.Code != stripe.ErrorCodeCardDeclined || e.DeclineCode != stripe.DeclineCodeInsufficientFunds ||
					e.Type != stripe.ErrorTypeCard || e.Msg == "" || e.PaymentMethod == nil || e.PaymentMethod.Card.Last4 != "9995" {
					errorf("status %q last_payment_error %+v", pi.Status, e)
				}
			}
		case reflect.TypeOf(stripe.Charge{}):
			var ch stripe.Charge
			decode(&ch)
			if ch.ID != "ch_Fixture1" || idOf(ch.PaymentIntent) != "pi_Fixture1" || idOf(ch.Invoice) != "in_Fixture1" ||
				ch.Amount != 2000 || ch.AmountRefunded != 2000 || !ch.Refunded || ch.Status != stripe.ChargeStatusSucceeded {
				errorf("charge %+v", ch)
			}
		case reflect.TypeOf(stripe.Refund{}):
			var re stripe.Refund
			decode(&re)
			if re.ID != "re_Fixture1" || idOf(re.Charge) != "ch_Fixture1" || idOf(re.PaymentIntent) != "pi_Fixture1" ||
				re.Amount != 2000 || re.Status != stripe.RefundStatusSucceeded {
				errorf("refund %+v", re)
			}
		case reflect.TypeOf(stripe.Dispute{}):
			var dp stripe.Dispute
			decode(&dp)
			if dp.ID != "dp_Fixture1" || idOf(dp.Charge) != "ch_Fixture1" || idOf(dp.PaymentIntent) != "pi_Fixture1" || dp.Amount != 2000 {
				errorf("dispute %+v", dp)
			}
			want := map[string]stripe.DisputeStatus{
				"charge.dispute.created": stripe.DisputeStatusWarningNeedsResponse,
				"charge.dispute.closed":  stripe.DisputeStatusWarningClosed,
			}[typ]
			if dp.Status != want {
				errorf("status %q, want %q", dp.Status, want)
			}
		case reflect.TypeOf(stripe.EntitlementsActiveEntitlementSummary{}):
			var es stripe.EntitlementsActiveEntitlementSummary
			decode(&es)
			if es.Customer != "cus_Fixture1" || es.Entitlements == nil || len(es.Entitlements.Data) != 2 ||
				es.Entitlements.Data[0].LookupKey != "api_access" || es.Entitlements.Data[1].LookupKey != "priority_support" {
				errorf("summary %+v", es)
			}
		default:
			t.Fatalf("%s: no stripe-go type", typ)
		}
	}
}

func checkPrice(t *testing.T, typ string, p *stripe.Price) {
	t.Helper()
	if p == nil || p.ID != "price_Fixture1" || p.UnitAmount != 2000 || p.Currency != stripe.CurrencyUSD ||
		p.LookupKey != "pro_monthly" || idOf(p.Product) != "prod_Fixture1" ||
		p.Recurring == nil || p.Recurring.Interval != stripe.PriceRecurringIntervalMonth || p.Recurring.IntervalCount != 1 {
		t.Errorf("%s: price %+v", typ, p)
	}
}

// idOf returns the id of an expandable stripe-go object (nil: "").
func idOf[T any](v *T) string {
	if v == nil {
		return ""
	}
	return reflect.ValueOf(v).Elem().FieldByName("ID").String()
}

func decodeEvent(t *testing.T, payload []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEventOptions(t *testing.T) {
	payload := MustEvent(t, "customer.subscription.updated", Options{
		ID:         "evt_Custom1",
		Created:    1800000000,
		Livemode:   true,
		APIVersion: "2023-10-16",
		Object:     map[string]any{"id": "sub_X", "status": "past_due", "customer": "cus_X", "cancel_at": nil},
		Previous:   map[string]any{"status": "active"},
	})
	if bytes.ContainsAny(payload, "\n") {
		t.Error("the payload is not compact")
	}
	ev := decodeEvent(t, payload)
	data := ev["data"].(map[string]any)
	obj := data["object"].(map[string]any)
	item := obj["items"].(map[string]any)["data"].([]any)[0].(map[string]any)
	for name, c := range map[string]struct{ got, want any }{
		"id":                  {ev["id"], "evt_Custom1"},
		"created":             {ev["created"], 1800000000.0},
		"livemode":            {ev["livemode"], true},
		"api_version":         {ev["api_version"], "2023-10-16"},
		"type":                {ev["type"], "customer.subscription.updated"},
		"object.livemode":     {obj["livemode"], true},
		"item price livemode": {item["price"].(map[string]any)["livemode"], true},
		"object.id":           {obj["id"], "sub_X"},
		"object.status":       {obj["status"], "past_due"},
		"object.customer":     {obj["customer"], "cus_X"},
		"object.cancel_at":    {obj["cancel_at"], nil},
		"object.created":      {obj["created"], 1719914460.0}, // untouched
		"previous":            {data["previous_attributes"], map[string]any{"status": "active"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", name, c.got, c.want)
		}
	}
	// The API version check of stripe-go sees the option.
	if _, err := webhook.ConstructEventWithOptions(payload, Sign(payload, secret, time.Now()), secret, webhook.ConstructEventOptions{}); err == nil {
		t.Error("an event with api_version 2023-10-16 passed stripe-go's version check")
	}

	// Defaults: a fresh id each time, the fixture's created, the fixture's
	// previous_attributes, test mode.
	a := decodeEvent(t, MustEvent(t, "customer.subscription.updated", Options{}))
	b := decodeEvent(t, MustEvent(t, "customer.subscription.updated", Options{}))
	fixture := decodeEvent(t, rawFixture(t, "customer.subscription.updated"))
	if a["id"] == b["id"] || !strings.HasPrefix(a["id"].(string), "evt_") || len(a["id"].(string)) != 28 {
		t.Errorf("default ids %v, %v", a["id"], b["id"])
	}
	delete(a, "id")
	delete(fixture, "id")
	if !reflect.DeepEqual(a, fixture) {
		t.Errorf("Event with zero Options differs from the fixture beyond the id")
	}

	// An empty non-nil Previous empties previous_attributes.
	c := decodeEvent(t, MustEvent(t, "customer.updated", Options{Previous: map[string]any{}}))
	if got := c["data"].(map[string]any)["previous_attributes"]; !reflect.DeepEqual(got, map[string]any{}) {
		t.Errorf("previous_attributes = %v", got)
	}

	if _, err := Event("customer.exploded", Options{}); err == nil || !strings.Contains(err.Error(), "customer.exploded") {
		t.Errorf("unknown type: %v", err)
	}
}

func TestEventReplace(t *testing.T) {
	payload := MustEvent(t, "invoice.paid", Options{
		Replace: map[string]string{
			"sub_Fixture1": "sub_L000001", "cus_Fixture1": "cus_L000001", "in_Fixture1": "in_L000001_0001",
			"pi_Fixture1": "pi_L000001_0001", "u_123": "u_1",
		},
		Object: map[string]any{"amount_paid": 900},
	})
	if bytes.Contains(payload, []byte("Fixture1\"")) && bytes.Contains(payload, []byte("\"sub_Fixture1\"")) {
		t.Errorf("sub_Fixture1 left in %s", payload)
	}
	var in stripe.Invoice
	ev := decodeEvent(t, payload)
	raw, _ := json.Marshal(ev["data"].(map[string]any)["object"])
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatal(err)
	}
	if in.ID != "in_L000001_0001" || idOf(in.Subscription) != "sub_L000001" || idOf(in.Customer) != "cus_L000001" ||
		idOf(in.PaymentIntent) != "pi_L000001_0001" || in.Lines.Data[0].Invoice != "in_L000001_0001" ||
		idOf(in.Lines.Data[0].Subscription) != "sub_L000001" || in.SubscriptionDetails.Metadata["billwire_subject_id"] != "u_1" ||
		in.AmountPaid != 900 || idOf(in.Charge) != "ch_Fixture1" {
		t.Errorf("replaced invoice %+v", in)
	}
	// The cached fixture is not changed by Replace.
	if again := MustEvent(t, "invoice.paid", Options{}); !bytes.Contains(again, []byte(`"sub_Fixture1"`)) {
		t.Error("Replace changed the cached fixture")
	}
}

func TestSign(t *testing.T) {
	payload := []byte(`{"id":"evt_1"}`)
	at := time.Unix(1719792000, 0)
	h := Sign(payload, secret, at)
	if !strings.HasPrefix(h, "t=1719792000,v1=") || len(h) != len("t=1719792000,v1=")+64 {
		t.Errorf("header %q", h)
	}
	if err := webhook.ValidatePayloadIgnoringTolerance(payload, h, secret); err != nil {
		t.Error(err)
	}
	if err := webhook.ValidatePayloadIgnoringTolerance([]byte(`{"id":"evt_2"}`), h, secret); err == nil {
		t.Error("the signature verified another payload")
	}
}

func TestEventEncodesValues(t *testing.T) {
	odd := "quote \" backslash \\ newline \n tab \t bell \a html <&> line sep \u2028 é ✓"
	payload := MustEvent(t, "customer.updated", Options{
		Object: map[string]any{
			"name":        odd,
			"description": "bad utf-8 \xff",
			"balance":     -1500,
			"metadata":    map[string]string{"b": "2", "a": "1"},
			"phone":       json.Number("12"), // any value json can encode
			"preferred_locales": []any{"en", int64(7), 2.5, 3.0, true, nil,
				map[string]any{"z": 1, "object": "x", "id": "y"}},
			"x_new_key": struct {
				A int `json:"a"`
			}{1},
		},
		Previous: map[string]any{"name": nil},
	})
	if !json.Valid(payload) {
		t.Fatalf("invalid JSON: %s", payload)
	}
	obj := decodeEvent(t, payload)["data"].(map[string]any)["object"].(map[string]any)
	want := map[string]any{
		"name":              odd,
		"description":       "bad utf-8 \ufffd",
		"balance":           -1500.0,
		"metadata":          map[string]any{"a": "1", "b": "2"},
		"phone":             12.0,
		"preferred_locales": []any{"en", 7.0, 2.5, 3.0, true, nil, map[string]any{"z": 1.0, "object": "x", "id": "y"}},
		"x_new_key":         map[string]any{"a": 1.0},
	}
	for k, w := range want {
		if !reflect.DeepEqual(obj[k], w) {
			t.Errorf("%s = %#v, want %#v", k, obj[k], w)
		}
	}
	// Maps given in Options come in Stripe's order: id, object, the rest sorted.
	if !bytes.Contains(payload, []byte(`{"id":"y","object":"x","z":1}`)) {
		t.Errorf("map key order: %s", payload)
	}
	// Keys Object adds come after the fixture's keys.
	if i, j := bytes.Index(payload, []byte(`"x_new_key"`)), bytes.Index(payload, []byte(`"test_clock"`)); i < j {
		t.Error("an added key came before the fixture's keys")
	}
}
