package stripetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// lineItemsObject is the storedKey object under which PutLineItems keeps a
// session's line items (a JSON array); retrieveStored never serves it.
const lineItemsObject = "checkout.session line_items"

// PutLineItems stores the line items of Checkout Session session for the
// account and mode key acts on, so that GET
// /v1/checkout/sessions/{session}/line_items lists them (limit,
// starting_after and ending_before work; anything else, expand included, is
// refused). Each item is a line item object's JSON ({"id": "li_…",
// "object": "item", "price": {…}, "quantity": …}) with a string id; the
// fake serves them as they are. A later PutLineItems of the session
// replaces them. A session without stored line items is answered 404, as
// Stripe answers an unknown session. PutLineItems panics if an item is not
// such an object.
func (f *Fake) PutLineItems(key, session string, items ...[]byte) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, raw := range items {
		var head struct {
			ID *string `json:"id"`
		}
		if err := json.Unmarshal(raw, &head); err != nil || head.ID == nil || *head.ID == "" {
			panic(fmt.Sprintf("stripetest: PutLineItems: item %d is not a line item with an id", i))
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := json.Compact(&buf, raw); err != nil {
			panic(fmt.Sprintf("stripetest: PutLineItems: %v", err))
		}
	}
	buf.WriteByte(']')
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keyScopeLocked(key).stored[storedKey{lineItemsObject, session}] = buf.Bytes()
}

// routeLineItems routes GET /v1/checkout/sessions/{id}/line_items.
func (f *Fake) routeLineItems(q *apiRequest, rest string) func(*apiRequest) response {
	tail, ok := strings.CutPrefix(rest, "checkout/sessions/")
	if !ok {
		return nil
	}
	id, ok := strings.CutSuffix(tail, "/line_items")
	if !ok || id == "" || strings.Contains(id, "/") || q.method != http.MethodGet {
		return nil
	}
	return func(q *apiRequest) response { return f.listLineItems(q, id) }
}

func (f *Fake) listLineItems(q *apiRequest, session string) response {
	if r := checkParams(q.params, pageParams, nil, nil); r != nil {
		return *r
	}
	limit, after, before, r := parsePage(q.params)
	if r != nil {
		return *r
	}
	f.mu.Lock()
	raw, ok := f.scopeLocked(q).stored[storedKey{lineItemsObject, session}]
	f.mu.Unlock()
	if !ok {
		r := noSuch("checkout.session", session, "id")
		r.status = http.StatusNotFound
		return r
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		panic(fmt.Sprintf("stripetest: stored line items: %v", err))
	}
	ids := make([]string, len(items))
	for i, it := range items {
		var head struct {
			ID string `json:"id"`
		}
		json.Unmarshal(it, &head) //nolint:errcheck // checked by PutLineItems
		ids[i] = head.ID
	}
	cursor := -1
	if id, param := cursorParam(after, before); id != "" {
		if cursor = slices.Index(ids, id); cursor < 0 {
			return noSuch("line item", id, param)
		}
	}
	positions, hasMore := paginate(len(items), limit, cursor, before != "", func(int) bool { return true })
	data := make([]any, len(positions))
	for i, p := range positions {
		data[i] = items[p]
	}
	return jsonResponse(http.StatusOK, listPage{Object: "list", URL: "/v1/checkout/sessions/" + session + "/line_items", HasMore: hasMore, Data: data})
}
