package stripetest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Paused subscriptions resumed, open invoices paid later, and the pending
// invoice items listed:
//
//	POST /v1/subscriptions/{id}/resume  (billing_cycle_anchor now | unchanged, proration_behavior, proration_date)
//	GET  /v1/invoices, /v1/invoiceitems (customer, subscription, status; customer, pending)
//
// with the test helpers PauseSubscription and PayInvoice, which play what
// happens outside the API: a trial ending without a payment method, and a
// customer completing payment on the hosted invoice page.

var resumeExact = []string{"billing_cycle_anchor", "proration_behavior", "proration_date"}

func (f *Fake) resumeSubscription(q *apiRequest, id string) response {
	if r := checkParams(q.params, resumeExact, []string{"expand"}, nil); r != nil {
		return *r
	}
	anchor, r := oneOf(q.params, "billing_cycle_anchor", []string{"now", "unchanged"})
	if r != nil {
		return *r
	}
	behavior, at, atSet, r := parseProration(q.params, "proration_behavior", "proration_date")
	if r != nil {
		return *r
	}
	f.mu.Lock()
	sc := f.scopeLocked(q)
	sub, ok := sc.subscriptionsLocked().subs[id]
	if !ok {
		f.mu.Unlock()
		r := noSuch("subscription", id, "id")
		r.status = http.StatusNotFound
		return r
	}
	if sub["status"] != "paused" {
		f.mu.Unlock()
		return invalidRequest(http.StatusBadRequest, "", "", fmt.Sprintf(
			"Subscription is not paused: only a subscription with status `paused` can be resumed (this one is `%s`).", sub["status"]))
	}
	now := time.Now().Unix()
	if !atSet {
		at = now
	}
	next := cloneMap(sub)
	next["status"] = "active"
	var billed []fakeEvent
	if anchor == "now" {
		billed = f.resumeNowLocked(sc, next, now)
	} else {
		billed = f.resumeUnchangedLocked(sc, next, behavior, at, now)
	}
	events := []fakeEvent{{typ: "customer.subscription.resumed", object: cloneMap(next)},
		{typ: "customer.subscription.updated", object: cloneMap(next), previous: previousAttributes(sub, next)}}
	sc.subscriptionsLocked().subs[id] = next
	f.storeLocked(sc, next, "subscription")
	deliver := f.tellLocked(sc, q.live, append(events, billed...))
	answer := f.expandSubscriptionLocked(sc, q, next)
	f.mu.Unlock()
	deliver()
	return jsonResponse(http.StatusOK, answer)
}

// resumeNowLocked starts a new period of sub now and bills it at once.
func (f *Fake) resumeNowLocked(sc *scope, sub map[string]any, now int64) []fakeEvent {
	items := itemsOf(sub)
	applyItems(sub, items, now)
	inv := f.invoiceForLocked(sc, sub, f.periodLinesLocked(sc, items, now), f.newIDLocked("in_"), f.newIDLocked, now)
	inv["billing_reason"] = "subscription_cycle"
	setAll(inv, map[string]any{"period_start": now, "period_end": now})
	return f.billNowLocked(sc, sub, inv, now)
}

// billNowLocked collects inv with sub's card, marking what it takes and
// the subscription's latest invoice and status.
func (f *Fake) billNowLocked(sc *scope, sub, inv map[string]any, now int64) []fakeEvent {
	events, paid := f.collectLocked(sc, inv, cardOfLocked(sc.subscriptionsLocked(), sub), now)
	f.takePendingLocked(sc, inv)
	sub["latest_invoice"] = inv["id"]
	if !paid {
		sub["status"] = "past_due"
	}
	return events
}

// resumeUnchangedLocked moves sub to the period around now, on its old
// anchor, and prorates the rest of that period.
func (f *Fake) resumeUnchangedLocked(sc *scope, sub map[string]any, behavior string, at, now int64) []fakeEvent {
	items := itemsOf(sub)
	if len(items) == 0 {
		return nil
	}
	price, _ := items[0]["price"].(map[string]any)
	rec, _ := price["recurring"].(map[string]any)
	start, end := num(sub["current_period_start"]), num(sub["current_period_end"])
	for end <= now {
		start, end = end, periodEnd(end, rec)
	}
	setAll(sub, map[string]any{"current_period_start": start, "current_period_end": end})
	if behavior == "none" || at < start || at > end {
		return nil
	}
	var lines []line
	for _, it := range items {
		if p, _ := it["price"].(map[string]any); !metered(p) {
			lines = append(lines, f.chargeLineLocked(sc, it, at, start, end))
		}
	}
	if behavior == "create_prorations" {
		return f.addPendingLocked(sc, sub, lines, now)
	}
	return f.billNowLocked(sc, sub, f.invoiceForLocked(sc, sub, lines, f.newIDLocked("in_"), f.newIDLocked, now), now)
}

// PauseSubscription pauses subscription id of key's account (without a
// Stripe-Account header), as Stripe does when a trial ends without a
// payment method and trial_settings say to pause, and tells it as
// customer.subscription.paused and customer.subscription.updated. It
// panics if there is no such subscription or it is canceled.
func (f *Fake) PauseSubscription(key, id string) {
	f.mu.Lock()
	sc := f.keyScopeLocked(key)
	sub, ok := sc.subscriptionsLocked().subs[id]
	if !ok || sub["status"] == "canceled" {
		f.mu.Unlock()
		panic(fmt.Sprintf("stripetest: PauseSubscription: no subscription %s that can be paused", id))
	}
	next := cloneMap(sub)
	next["status"] = "paused"
	sc.subscriptionsLocked().subs[id] = next
	f.storeLocked(sc, next, "subscription")
	deliver := f.tellLocked(sc, isLiveKey(key), []fakeEvent{{typ: "customer.subscription.paused", object: cloneMap(next)},
		{typ: "customer.subscription.updated", object: cloneMap(next), previous: previousAttributes(sub, next)}})
	f.mu.Unlock()
	deliver()
}

// PayInvoice pays open invoice invoiceID of key's account (without a
// Stripe-Account header) with a card that now works, as a customer does on
// the hosted invoice page after a decline or 3-D Secure: told as
// invoice.paid and payment_intent.succeeded. When the invoice is its
// subscription's latest, the subscription's pending update is applied and
// an incomplete or past_due subscription becomes active, told as
// customer.subscription.updated. It panics if there is no such open
// invoice.
func (f *Fake) PayInvoice(key, invoiceID string) {
	f.mu.Lock()
	sc := f.keyScopeLocked(key)
	inv := storedMapLocked(sc, "invoice", invoiceID)
	if inv == nil || inv["status"] != "open" {
		f.mu.Unlock()
		panic(fmt.Sprintf("stripetest: PayInvoice: no open invoice %s", invoiceID))
	}
	now := time.Now().Unix()
	events := f.settleLocked(sc, inv, now)
	if e, ok := f.applyPaidLocked(sc, inv); ok {
		events = append(events, e)
	}
	deliver := f.tellLocked(sc, isLiveKey(key), events)
	f.mu.Unlock()
	deliver()
}

// settleLocked marks inv and its payment intent paid and stores them.
func (f *Fake) settleLocked(sc *scope, inv map[string]any, now int64) []fakeEvent {
	ch, amount := f.newIDLocked("ch_"), num(inv["amount_due"])
	setAll(inv, map[string]any{"status": "paid", "paid": true, "amount_paid": amount, "amount_remaining": 0, "charge": ch,
		"attempted": true, "attempt_count": num(inv["attempt_count"]) + 1, "next_payment_attempt": nil})
	f.storeLocked(sc, inv, "invoice")
	events := []fakeEvent{{typ: "invoice.paid", object: cloneMap(inv)}}
	pi, _ := inv["payment_intent"].(string)
	if intent := storedMapLocked(sc, "payment_intent", pi); intent != nil {
		setAll(intent, map[string]any{"status": "succeeded", "amount_received": amount, "latest_charge": ch,
			"last_payment_error": nil, "next_action": nil})
		f.storeLocked(sc, intent, "payment_intent")
		events = append(events, fakeEvent{typ: "payment_intent.succeeded", object: intent})
	}
	return events
}

// applyPaidLocked applies to the subscription whose latest invoice inv is
// what its payment settles: the pending update, and an active status.
func (f *Fake) applyPaidLocked(sc *scope, inv map[string]any) (fakeEvent, bool) {
	st := sc.subscriptionsLocked()
	subID, _ := inv["subscription"].(string)
	sub, ok := st.subs[subID]
	if !ok || sub["latest_invoice"] != inv["id"] {
		return fakeEvent{}, false
	}
	next := cloneMap(sub)
	if pu, _ := next["pending_update"].(map[string]any); pu != nil {
		var items []map[string]any
		for _, it := range pu["subscription_items"].([]any) {
			items = append(items, it.(map[string]any))
		}
		applyItems(next, items, num(pu["billing_cycle_anchor"]))
		next["pending_update"] = nil
	}
	if next["status"] == "incomplete" || next["status"] == "past_due" {
		next["status"] = "active"
	}
	prev := previousAttributes(sub, next)
	if len(prev) == 0 {
		return fakeEvent{}, false
	}
	st.subs[subID] = next
	f.storeLocked(sc, next, "subscription")
	return fakeEvent{typ: "customer.subscription.updated", object: cloneMap(next), previous: prev}, true
}

// listMade serves GET /v1/invoices and /v1/invoiceitems: the objects of
// type object the fake made, newest first, filtered by the given
// parameters (pending: invoice items not yet on an invoice), paginated by
// limit and starting_after.
func (f *Fake) listMade(q *apiRequest, object string, filters []string) response {
	if r := checkParams(q.params, append([]string{"limit", "starting_after"}, filters...), nil, nil); r != nil {
		return *r
	}
	limit, r := parseLimit(q.params)
	if r != nil {
		return *r
	}
	pending, pendingSet, r := parseBool(q.params, "pending")
	if r != nil {
		return *r
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.scopeLocked(q)
	ids := slices.Clone(sc.subscriptionsLocked().made[object])
	slices.Reverse(ids)
	if after := q.params.Get("starting_after"); after != "" {
		i := slices.Index(ids, after)
		if i < 0 {
			return noSuch(object, after, "starting_after")
		}
		ids = ids[i+1:]
	}
	page := listPage{Object: "list", URL: "/v1/" + object + "s", Data: []any{}}
	for _, id := range ids {
		o := storedMapLocked(sc, object, id)
		if !matches(o, q.params, filters) || pendingSet && (o["invoice"] == nil) != pending {
			continue
		}
		if len(page.Data) == limit {
			page.HasMore = true
			break
		}
		page.Data = append(page.Data, o)
	}
	return jsonResponse(http.StatusOK, page)
}

// matches reports whether o has the value of each filter given (pending
// aside).
func matches(o map[string]any, params url.Values, filters []string) bool {
	for _, k := range filters {
		if v := params.Get(k); v != "" && k != "pending" && fmt.Sprint(o[k]) != v {
			return false
		}
	}
	return true
}
