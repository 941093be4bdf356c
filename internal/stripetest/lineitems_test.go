package stripetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Stored line items are listed per session, account and mode, page by
// page; anything but the page parameters is refused, and an unknown session
// is Stripe's 404.
func TestFakeLineItems(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	const other = "sk_test_51OtherAccountKey000000000001"
	var items [][]byte
	for i := range 5 {
		items = append(items, fmt.Appendf(nil, `{"id":"li_%d","object":"item","quantity":%d,"price":{"id":"price_%d","lookup_key":null}}`, i, i+1, i))
	}
	f.PutLineItems(testKey, "cs_1", items...)
	page := func(key, query string) (ids []string, hasMore bool, status int) {
		t.Helper()
		r := do(t, "GET", f.URL()+"/v1/checkout/sessions/cs_1/line_items"+query, key, nil)
		if r.status != 200 {
			return nil, false, r.status
		}
		var l struct {
			Object  string `json:"object"`
			HasMore bool   `json:"has_more"`
			Data    []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.body, &l); err != nil || l.Object != "list" {
			t.Fatalf("not a list (%v): %s", err, r.body)
		}
		for _, d := range l.Data {
			ids = append(ids, d.ID)
		}
		return ids, l.HasMore, r.status
	}
	if ids, more, _ := page(testKey, "?limit=2"); strings.Join(ids, ",") != "li_0,li_1" || !more {
		t.Fatalf("first page %v %v", ids, more)
	}
	if ids, more, _ := page(testKey, "?limit=2&starting_after=li_3"); strings.Join(ids, ",") != "li_4" || more {
		t.Fatalf("last page %v %v", ids, more)
	}
	if ids, _, _ := page(testKey, "?limit=2&ending_before=li_3"); strings.Join(ids, ",") != "li_1,li_2" {
		t.Fatalf("page before li_3: %v", ids)
	}
	if _, _, status := page(testKey, "?expand[]=data.price.product"); status != 400 {
		t.Fatalf("expand answered %d, want 400", status)
	}
	if _, _, status := page(other, ""); status != 404 {
		t.Fatalf("another account's session answered %d, want 404", status)
	}
	f.PutLineItems(testKey, "cs_1", items[0])
	if ids, _, _ := page(testKey, ""); strings.Join(ids, ",") != "li_0" {
		t.Fatalf("after replacing: %v", ids)
	}
}
