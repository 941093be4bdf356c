package webhooks

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/billwire/billwire/internal/eventfixtures"
)

// scanner is a fields type: filled by encoding/json through its tags, or by
// its scan method.
type scanner interface{ scan([]byte) error }

func fieldTypes() []func() scanner {
	return []func() scanner{
		func() scanner { return &customerFields{} }, func() scanner { return &priceFields{} },
		func() scanner { return &subscriptionFields{} }, func() scanner { return &checkoutFields{} },
		func() scanner { return &invoiceFields{} }, func() scanner { return &paymentIntentFields{} },
		func() scanner { return &chargeFields{} }, func() scanner { return &relatedFields{} },
		func() scanner { return &headFields{} },
	}
}

// FuzzScanMatchesEncodingJSON: on any valid JSON, the fields scanned are
// those encoding/json decodes, and either both fail or neither does; an
// event parses as encoding/json would read it.
func FuzzScanMatchesEncodingJSON(f *testing.F) {
	for _, typ := range eventfixtures.Types {
		b, err := eventfixtures.Event(typ, eventfixtures.Options{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		var env struct {
			Data struct{ Object json.RawMessage } `json:"data"`
		}
		json.Unmarshal(b, &env) //nolint:errcheck
		f.Add([]byte(env.Data.Object))
	}
	for _, s := range []string{
		`{"ID":"x","Metadata":{"A":"b"},"CUSTOMER":{"Id":"cus_1","object":"customer"}}`,
		`{"\u0069d":"x","id":"y","metadata":{"a":"1"},"metadata":{"b":"2","a":null}}`,
		`{"id":"a\"b\\","customer":null,"metadata":null,"amount":-0,"created":1e3}`,
		`{"ſtatus":"paid","status":"open","payment_intent":{"id":null},"product":5}`,
		`{"last_payment_error":{"code":"card_declined","decline_code":"insufficient_funds"},"last_payment_error":null}`,
		`{"parent":{"subscription_details":{"subscription":{"id":"sub_1"},"metadata":{"k":"v"}}},"subscription_details":{"metadata":{"x":"y"}}}`,
		"{\"id\":\"bad \xff utf8\",\"metadata\":{\"\xfe\":\"v\"}}",
		`{"amount": 9223372036854775808, "livemode": "true"}`,
		`{"object":"event","id":"evt_1","type":"x","created":1,"livemode":null,"data":{"object":{"id":"o"},"Object":{"ID":"p"}}}`,
		`[1,2]`, `null`, `"s"`, `{}`, `{"data":null,"object":"event"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if json.Valid(b) {
			for _, mk := range fieldTypes() {
				want, got := mk(), mk()
				werr := json.Unmarshal(b, want)
				gerr := got.scan(b)
				if (werr == nil) != (gerr == nil) {
					t.Fatalf("%T on %q: encoding/json says %v, scan says %v", want, b, werr, gerr)
				}
				if werr == nil && !reflect.DeepEqual(want, got) {
					t.Fatalf("%T on %q:\nencoding/json %+v\nscan          %+v", want, b, want, got)
				}
			}
		}
		got, gerr := ParseEvent(b)
		want, werr := parseEventWithEncodingJSON(b)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("ParseEvent(%q): encoding/json says %v, scan says %v", b, werr, gerr)
		}
		if werr == nil {
			want.Raw, got.Raw = nil, nil
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("ParseEvent(%q):\nencoding/json %+v\nscan          %+v", b, want, got)
			}
		}
	})
}

// parseEventWithEncodingJSON is ParseEvent as it was written with
// encoding/json, the reference of the scanning one.
func parseEventWithEncodingJSON(body []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, err
	}
	if e.Object != "event" || e.ID == "" || e.Type == "" || e.Created <= 0 {
		return nil, ErrMalformed
	}
	if len(e.Data.Object) == 0 || e.Data.Object[0] != '{' {
		return nil, ErrMalformed
	}
	var head headFields
	if err := json.Unmarshal(e.Data.Object, &head); err != nil {
		return nil, err
	}
	e.ObjectID, e.ObjectType, e.Customer = head.ID, head.Object, string(head.Customer)
	if head.Object == "customer" {
		e.Customer = head.ID
	}
	return &e, nil
}
