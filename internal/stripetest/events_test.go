package stripetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stripe/stripe-go/v79"
)

// eventJSON returns an event as Stripe sends it, about customer cus_events.
func eventJSON(id, typ string, created int64, pending int) []byte {
	return fmt.Appendf(nil, `{
  "id": %q,
  "object": "event",
  "api_version": "2024-06-20",
  "created": %d,
  "data": {"object": {"id": "cus_events", "object": "customer", "email": "a@example.com"}},
  "livemode": false,
  "pending_webhooks": %d,
  "request": {"id": null, "idempotency_key": null},
  "type": %q
}`, id, created, pending, typ)
}

// addTestEvents adds six events to key's account and returns their ids
// newest first, the order Stripe lists them in.
func addTestEvents(f *Fake, key string) []string {
	for _, e := range []struct {
		id, typ string
		created int64
		pending int
	}{
		{"evt_1", "customer.created", 100, 0},
		{"evt_2", "invoice.paid", 200, 1},
		{"evt_3", "customer.subscription.updated", 200, 0}, // same second as evt_2, added later
		{"evt_4", "invoice.payment_failed", 300, 0},
		{"evt_5", "checkout.session.completed", 150, 2},
		{"evt_6", "customer.subscription.deleted", 300, 0},
	} {
		f.AddEvent(key, eventJSON(e.id, e.typ, e.created, e.pending))
	}
	return []string{"evt_6", "evt_4", "evt_3", "evt_2", "evt_5", "evt_1"}
}

func TestFakeEventsListNewestFirstWithFilters(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	addTestEvents(f, testKey)
	sc := newClient(f.URL(), testKey)
	page2 := stripe.ListParams{Limit: stripe.Int64(2)}
	for _, tc := range []struct {
		name   string
		params stripe.EventListParams
		want   string
	}{
		{"all", stripe.EventListParams{ListParams: page2}, "[evt_6 evt_4 evt_3 evt_2 evt_5 evt_1]"},
		{"created gte", stripe.EventListParams{ListParams: page2, CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: 200}},
			"[evt_6 evt_4 evt_3 evt_2]"},
		{"created gt", stripe.EventListParams{ListParams: page2, CreatedRange: &stripe.RangeQueryParams{GreaterThan: 200}},
			"[evt_6 evt_4]"},
		{"created lte", stripe.EventListParams{ListParams: page2, CreatedRange: &stripe.RangeQueryParams{LesserThanOrEqual: 200}},
			"[evt_3 evt_2 evt_5 evt_1]"},
		{"created lt", stripe.EventListParams{ListParams: page2, CreatedRange: &stripe.RangeQueryParams{LesserThan: 200}},
			"[evt_5 evt_1]"},
		{"created range", stripe.EventListParams{ListParams: page2, CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: 150, LesserThan: 300}},
			"[evt_3 evt_2 evt_5]"},
		{"created exactly", stripe.EventListParams{ListParams: page2, Created: stripe.Int64(200)}, "[evt_3 evt_2]"},
		{"type", stripe.EventListParams{ListParams: page2, Type: stripe.String("invoice.paid")}, "[evt_2]"},
		{"type prefix wildcard", stripe.EventListParams{ListParams: page2, Type: stripe.String("customer.*")}, "[evt_6 evt_3 evt_1]"},
		{"type suffix wildcard", stripe.EventListParams{ListParams: page2, Type: stripe.String("*.created")}, "[evt_1]"},
		{"types", stripe.EventListParams{ListParams: page2, Types: stripe.StringSlice([]string{"invoice.paid", "checkout.session.completed"})},
			"[evt_2 evt_5]"},
		{"types are exact", stripe.EventListParams{ListParams: page2, Types: stripe.StringSlice([]string{"customer.*"})}, "[]"},
		{"delivered", stripe.EventListParams{ListParams: page2, DeliverySuccess: stripe.Bool(true)}, "[evt_6 evt_4 evt_3 evt_1]"},
		{"not delivered", stripe.EventListParams{ListParams: page2, DeliverySuccess: stripe.Bool(false)}, "[evt_2 evt_5]"},
		{"type and created", stripe.EventListParams{ListParams: page2, Type: stripe.String("customer.*"),
			CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: 200}}, "[evt_6 evt_3]"},
		{"starting_after", stripe.EventListParams{ListParams: stripe.ListParams{StartingAfter: stripe.String("evt_3")}},
			"[evt_2 evt_5 evt_1]"},
		{"starting_after with a filter", stripe.EventListParams{ListParams: stripe.ListParams{StartingAfter: stripe.String("evt_4")},
			Type: stripe.String("customer.*")}, "[evt_3 evt_1]"},
		// stripe-go walks backwards from the cursor, oldest first.
		{"ending_before", stripe.EventListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(2), EndingBefore: stripe.String("evt_5")}},
			"[evt_2 evt_3 evt_4 evt_6]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			it := sc.Events.List(&tc.params)
			got := []string{}
			for it.Next() {
				got = append(got, it.Event().ID)
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != tc.want {
				t.Errorf("listed %v, want %s", got, tc.want)
			}
		})
	}
}

func TestFakeEventsPages(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	addTestEvents(f, testKey)
	type page struct {
		Object  string            `json:"object"`
		URL     string            `json:"url"`
		HasMore bool              `json:"has_more"`
		Data    []json.RawMessage `json:"data"`
	}
	for _, tc := range []struct {
		query   string
		want    string
		hasMore bool
	}{
		{"limit=2", "[evt_6 evt_4]", true},
		{"limit=2&starting_after=evt_4", "[evt_3 evt_2]", true},
		{"limit=2&starting_after=evt_2", "[evt_5 evt_1]", false},
		{"limit=2&ending_before=evt_5", "[evt_3 evt_2]", true},
		{"limit=2&ending_before=evt_4", "[evt_6]", false},
		{"starting_after=evt_1", "[]", false},
		{"", "[evt_6 evt_4 evt_3 evt_2 evt_5 evt_1]", false},
		{"limit=1&type=" + url.QueryEscape("invoice.*"), "[evt_4]", true},
	} {
		var p page
		decode(t, getJSON(t, f.URL(), "/v1/events?"+tc.query, testKey), &p)
		ids := []string{}
		for _, raw := range p.Data {
			var e struct{ ID string }
			decode(t, raw, &e)
			ids = append(ids, e.ID)
		}
		if p.Object != "list" || p.URL != "/v1/events" || fmt.Sprint(ids) != tc.want || p.HasMore != tc.hasMore {
			t.Errorf("%s: %s %s has_more %v; want %s has_more %v", tc.query, p.Object, ids, p.HasMore, tc.want, tc.hasMore)
		}
	}
}

func TestFakeEventsListErrors(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	addTestEvents(f, testKey)
	many := url.Values{}
	for i := range 21 {
		many.Set(fmt.Sprintf("types[%d]", i), fmt.Sprintf("invoice.t%d", i))
	}
	for _, tc := range []struct {
		query       string
		code, param string
	}{
		{"type=invoice.paid&types[0]=invoice.paid", "parameters_exclusive", "types"},
		{many.Encode(), "", "types"},
		{"starting_after=evt_nope", "resource_missing", "starting_after"},
		{"ending_before=evt_nope", "resource_missing", "ending_before"},
		{"starting_after=evt_1&ending_before=evt_2", "parameters_exclusive", "ending_before"},
		{"created[gte]=yesterday", "parameter_invalid_integer", "created[gte]"},
		{"created=now", "parameter_invalid_integer", "created"},
		{"created[after]=1", "parameter_unknown", "created[after]"},
		{"delivery_success=maybe", "", "delivery_success"},
		{"limit=0", "", "limit"},
		{"expand[0]=data.request", "parameter_unknown", "expand[0]"},
	} {
		r := do(t, "GET", f.URL()+"/v1/events?"+tc.query, testKey, nil)
		e := r.errorBody(t)
		if r.status != 400 || e.Type != "invalid_request_error" || e.Code != tc.code || e.Param != tc.param {
			t.Errorf("%s: %d %+v, want 400 code %q param %q", tc.query, r.status, e, tc.code, tc.param)
		}
	}
	if r := do(t, "GET", f.URL()+"/v1/events?starting_after=evt_nope", testKey, nil); r.errorBody(t).Message != "No such event: 'evt_nope'" {
		t.Errorf("unknown cursor: %s", r.body)
	}
	if r := do(t, "POST", f.URL()+"/v1/events", testKey, url.Values{}); r.status != 404 {
		t.Errorf("POST /v1/events: %d %s", r.status, r.body)
	}
}

func TestFakeEventRetrieve(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	addTestEvents(f, testKey)
	sc := newClient(f.URL(), testKey)
	e, err := sc.Events.Get("evt_2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "evt_2" || e.Object != "event" || e.Type != stripe.EventTypeInvoicePaid || e.Created != 200 ||
		e.PendingWebhooks != 1 || e.APIVersion != "2024-06-20" || e.Livemode || e.Request == nil ||
		e.Data == nil || e.GetObjectValue("id") != "cus_events" || e.GetObjectValue("email") != "a@example.com" {
		t.Errorf("event %+v", e)
	}
	// The event is served as given, compacted.
	var want bytes.Buffer
	if err := json.Compact(&want, eventJSON("evt_2", "invoice.paid", 200, 1)); err != nil {
		t.Fatal(err)
	}
	if got := getJSON(t, f.URL(), "/v1/events/evt_2", testKey); string(got) != want.String()+"\n" {
		t.Errorf("body %s, want %s", got, want.String())
	}

	for _, tc := range []struct{ key, id string }{
		{testKey, "evt_nope"},
		{"sk_test_otheraccount", "evt_2"}, // another account
		{"sk_live_abcdefgh1234", "evt_2"}, // the live mode of the same account
	} {
		_, err := newClient(f.URL(), tc.key).Events.Get(tc.id, nil)
		se := stripeErr(t, err)
		if want := fmt.Sprintf("No such event: '%s'", tc.id); se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing || se.Msg != want {
			t.Errorf("%s with %s: %d %s %q", tc.id, tc.key, se.HTTPStatusCode, se.Code, se.Msg)
		}
	}
	if r := do(t, "GET", f.URL()+"/v1/events/evt_2?expand[0]=data", testKey, nil); r.status != 400 || r.errorBody(t).Code != "parameter_unknown" {
		t.Errorf("expand: %d %s", r.status, r.body)
	}
	var other struct {
		Data []any `json:"data"`
	}
	decode(t, getJSON(t, f.URL(), "/v1/events", "sk_test_otheraccount"), &other)
	if len(other.Data) != 0 {
		t.Errorf("another account lists %d events", len(other.Data))
	}
}

func TestFakeAddEventReplaces(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	addTestEvents(f, testKey)
	sc := newClient(f.URL(), testKey)
	// evt_2 delivered at last: same id, pending_webhooks 0. It keeps its
	// place among the events of its second.
	f.AddEvent(testKey, eventJSON("evt_2", "invoice.paid", 200, 0))
	it := sc.Events.List(&stripe.EventListParams{DeliverySuccess: stripe.Bool(true)})
	var ids []string
	for it.Next() {
		ids = append(ids, it.Event().ID)
		if it.Event().ID == "evt_2" && it.Event().PendingWebhooks != 0 {
			t.Errorf("evt_2 still has pending_webhooks %d", it.Event().PendingWebhooks)
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[evt_6 evt_4 evt_3 evt_2 evt_1]" {
		t.Errorf("delivered events %v", ids)
	}
}

func TestFakeAddEventRefusesMalformedEvents(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	for _, tc := range []struct{ name, raw, panic string }{
		{"not JSON", `{"id":`, "not a Stripe event"},
		{"array", `[]`, "not a Stripe event"},
		{"no id", `{"created":1,"type":"invoice.paid"}`, "no id"},
		{"empty id", `{"id":"","created":1,"type":"invoice.paid"}`, "no id"},
		{"no created", `{"id":"evt_x","type":"invoice.paid"}`, "no created time"},
		{"created as text", `{"id":"evt_x","created":"1","type":"invoice.paid"}`, "not a Stripe event"},
		{"no type", `{"id":"evt_x","created":1}`, "no type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.HasPrefix(msg, "stripetest: AddEvent: ") || !strings.Contains(msg, tc.panic) {
					t.Errorf("panic %q, want one about %q", msg, tc.panic)
				}
			}()
			f.AddEvent(testKey, []byte(tc.raw))
		})
	}
}

func TestFakeEventsConcurrentAddAndList(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	sc := newClient(f.URL(), testKey)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				f.AddEvent(testKey, eventJSON(fmt.Sprintf("evt_w%di%02d", w, i), "invoice.paid", int64(1000+i), 0))
			}
		})
		wg.Go(func() {
			for range 10 {
				it := sc.Events.List(&stripe.EventListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(7)}})
				last := int64(1 << 62)
				for it.Next() {
					if c := it.Event().Created; c > last {
						t.Errorf("event created %d listed after one created %d", c, last)
					}
					last = it.Event().Created
				}
				if err := it.Err(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	it := sc.Events.List(&stripe.EventListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(100)}})
	n := 0
	for it.Next() {
		n++
	}
	if err := it.Err(); err != nil || n != 100 {
		t.Fatalf("listed %d events, want 100: %v", n, err)
	}
}
