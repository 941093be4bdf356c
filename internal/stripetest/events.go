package stripetest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Events: GET /v1/events and /v1/events/{id}, serving the events tests add
// with AddEvent.

// storedEvent is an event given to AddEvent.
type storedEvent struct {
	id      string
	typ     string
	created int64
	pending int64 // pending_webhooks
	seq     int   // order of addition, for events created the same second
	raw     json.RawMessage
}

// maxEventTypes is the most event types the types[] filter takes.
const maxEventTypes = 20

// AddEvent stores an event for the account and mode key acts on (without
// a Stripe-Account header). raw is the event's full JSON, as Stripe sends
// it and serves it from /v1/events; it must be an object with a string id,
// an integer created and a string type. pending_webhooks, if present,
// decides the delivery_success filter (true selects events with 0). The
// fake serves raw as it is (compacted) and checks nothing else: livemode,
// data and the rest are up to the test. An event with the id of an earlier
// one replaces it. AddEvent panics if raw is not such an object.
func (f *Fake) AddEvent(key string, raw []byte) {
	var head struct {
		ID              *string `json:"id"`
		Created         *int64  `json:"created"`
		Type            *string `json:"type"`
		PendingWebhooks int64   `json:"pending_webhooks"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		panic(fmt.Sprintf("stripetest: AddEvent: not a Stripe event: %v", err))
	}
	switch {
	case head.ID == nil || *head.ID == "":
		panic("stripetest: AddEvent: the event has no id")
	case head.Created == nil:
		panic(fmt.Sprintf("stripetest: AddEvent: event %s has no created time", *head.ID))
	case head.Type == nil || *head.Type == "":
		panic(fmt.Sprintf("stripetest: AddEvent: event %s has no type", *head.ID))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		panic(fmt.Sprintf("stripetest: AddEvent: %v", err))
	}
	ev := &storedEvent{
		id:      *head.ID,
		typ:     *head.Type,
		created: *head.Created,
		pending: head.PendingWebhooks,
		raw:     buf.Bytes(),
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.keyScopeLocked(key)
	if j, ok := sc.eventIdx[ev.id]; ok {
		ev.seq = sc.events[j].seq
		sc.events[j] = ev
		return
	}
	ev.seq = len(sc.events)
	sc.eventIdx[ev.id] = len(sc.events)
	sc.events = append(sc.events, ev)
}

// eventFilters are the parameters of GET /v1/events besides pagination.
var eventFilters = []string{
	"created", "created[gt]", "created[gte]", "created[lt]", "created[lte]",
	"delivery_success", "type",
}

// listEvents serves GET /v1/events: newest first, as Stripe lists them (by
// created, then by the order they were added).
func (f *Fake) listEvents(q *apiRequest) response {
	if r := checkParams(q.params, append(slices.Clone(pageParams), eventFilters...), []string{"types"}, nil); r != nil {
		return *r
	}
	limit, after, before, r := parsePage(q.params)
	if r != nil {
		return *r
	}
	match, r := eventMatcher(q.params)
	if r != nil {
		return *r
	}

	f.mu.Lock()
	events := slices.Clone(f.scopeLocked(q).events)
	f.mu.Unlock()
	// Stored events are never modified, so they can be read unlocked.
	slices.SortFunc(events, func(a, b *storedEvent) int {
		return cmp.Or(cmp.Compare(b.created, a.created), cmp.Compare(b.seq, a.seq))
	})

	cursor := -1
	if id, param := cursorParam(after, before); id != "" {
		cursor = slices.IndexFunc(events, func(e *storedEvent) bool { return e.id == id })
		if cursor < 0 {
			return noSuch("event", id, param)
		}
	}
	positions, hasMore := paginate(len(events), limit, cursor, before != "",
		func(p int) bool { return match(events[p]) })
	data := make([]any, len(positions))
	for i, p := range positions {
		data[i] = events[p].raw
	}
	return jsonResponse(http.StatusOK, listPage{Object: "list", URL: "/v1/events", HasMore: hasMore, Data: data})
}

// eventMatcher builds the filter of GET /v1/events.
func eventMatcher(params url.Values) (func(*storedEvent) bool, *response) {
	typ, types := params.Get("type"), arrayParam(params, "types")
	switch {
	case typ != "" && len(types) > 0:
		r := invalidRequest(http.StatusBadRequest, "parameters_exclusive", "types",
			"You may only specify one of these parameters: type, types.")
		return nil, &r
	case len(types) > maxEventTypes:
		r := invalidRequest(http.StatusBadRequest, "", "types", fmt.Sprintf(
			"Invalid array: types must have at most %d elements.", maxEventTypes))
		return nil, &r
	}
	var bounds []func(int64) bool
	for _, b := range []struct {
		param string
		ok    func(created, bound int64) bool
	}{
		{"created", func(c, b int64) bool { return c == b }},
		{"created[gt]", func(c, b int64) bool { return c > b }},
		{"created[gte]", func(c, b int64) bool { return c >= b }},
		{"created[lt]", func(c, b int64) bool { return c < b }},
		{"created[lte]", func(c, b int64) bool { return c <= b }},
	} {
		if _, ok := params[b.param]; !ok {
			continue
		}
		bound, r := parseInt(params, b.param)
		if r != nil {
			return nil, r
		}
		bounds = append(bounds, func(c int64) bool { return b.ok(c, bound) })
	}
	delivered, deliveredSet, r := parseBool(params, "delivery_success")
	if r != nil {
		return nil, r
	}
	return func(e *storedEvent) bool {
		switch {
		case typ != "" && !wildcardMatch(typ, e.typ),
			len(types) > 0 && !slices.Contains(types, e.typ),
			deliveredSet && (e.pending == 0) != delivered:
			return false
		}
		for _, ok := range bounds {
			if !ok(e.created) {
				return false
			}
		}
		return true
	}, nil
}

// wildcardMatch reports whether s matches pattern, in which each * stands
// for any run of characters (dots included), as in the type filter of
// GET /v1/events ("customer.*", "*.created").
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return s == pattern
	}
	rest, ok := strings.CutPrefix(s, parts[0])
	if !ok {
		return false
	}
	last := parts[len(parts)-1]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, part)
		if i < 0 {
			return false
		}
		rest = rest[i+len(part):]
	}
	return len(rest) >= len(last) && strings.HasSuffix(rest, last)
}

// retrieveEvent serves GET /v1/events/{id}.
func (f *Fake) retrieveEvent(q *apiRequest, id string) response {
	if r := checkParams(q.params, nil, nil, nil); r != nil {
		return *r
	}
	f.mu.Lock()
	sc := f.scopeLocked(q)
	var raw json.RawMessage
	if j, ok := sc.eventIdx[id]; ok {
		raw = sc.events[j].raw
	}
	f.mu.Unlock()
	if raw == nil {
		r := noSuch("event", id, "id")
		r.status = http.StatusNotFound
		return r
	}
	return storedResponse(raw)
}

// storedResponse answers 200 with stored JSON.
func storedResponse(raw []byte) response {
	body := make([]byte, 0, len(raw)+1)
	return response{status: http.StatusOK, body: append(append(body, raw...), '\n')}
}
