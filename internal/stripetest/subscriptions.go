package stripetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
)

// Subscriptions made through the API, paid with Stripe's test payment
// methods, and the events Stripe sends about them:
//
//	POST   /v1/customers                    (stored, and told as customer.created)
//	POST   /v1/payment_methods/{pm}/attach  (pm_card_visa and the other test tokens)
//	POST   /v1/subscriptions                (one item; paid, declined or needing 3-D Secure by the card)
//	POST   /v1/subscriptions/{id}           (items, prorations, payment_behavior, cancel_at_period_end,
//	                                         cancel_at, metadata, default_payment_method: changes.go)
//	POST   /v1/subscriptions/{id}/resume    (a paused subscription: resume.go)
//	GET    /v1/subscriptions/{id}           (expand latest_invoice, latest_invoice.payment_intent)
//	DELETE /v1/subscriptions/{id}           (cancel now)
//	POST   /v1/invoices/create_preview      (the invoice a change would make, or the next one: preview.go)
//	GET    /v1/invoiceitems                 (customer, pending: the prorations waiting for an invoice)
//	GET    /v1/invoices                     (customer, subscription, status: the invoices the fake made)
//
// An update's items swap a price, set a quantity, add or delete an item;
// the fake refuses what Stripe refuses (unknown items, another currency,
// mixed intervals, a quantity on a metered price, inactive and one-time
// prices, changes of canceled and incomplete subscriptions). Prorations
// run from proration_date (default now) to the period end: credits for the
// unused time of old items and charges for the remaining time of new ones.
// create_prorations keeps them as pending invoice items for the next
// invoice; always_invoice, and any change of the billing interval (which
// restarts the period now), bills them on an invoice made and paid at once
// with the subscription's card; pending_if_incomplete keeps the old items
// and sets pending_update until that invoice is paid (see PayInvoice).
// PauseSubscription pauses a subscription as a trial without a payment
// method does.
//
// The subscription, its latest invoice, payment intent and invoice items
// are then served by GET as stored objects. Each change is told as the events Stripe sends
// (customer.subscription.*, invoice.*, payment_intent.*), listed by
// /v1/events and, with FakeOptions.DeliverEvents, posted signed to the
// account's enabled webhook endpoints in order, as Stripe does.

// testCards are how the test payment method tokens pay.
var testCards = map[string]string{
	"pm_card_visa":                            "succeeds",
	"pm_card_mastercard":                      "succeeds",
	"pm_card_chargeDeclinedInsufficientFunds": "declined",
	"pm_card_chargeCustomerFail":              "declined",
	"pm_card_authenticationRequired":          "requires_action",
}

// subscriptionState is a scope's payment methods and subscriptions.
type subscriptionState struct {
	cards map[string]string // attached payment method id → how it pays
	subs  map[string]map[string]any
	// pending are the invoice items no invoice has taken yet, oldest
	// first (see changes.go).
	pending []map[string]any
	// balances are the customers' balances changed by the fake's invoices
	// (negative: a credit), by customer id.
	balances map[string]int64
	// made are the ids of the invoices and invoice items the fake made,
	// oldest first, by object type: what GET /v1/invoices and
	// /v1/invoiceitems list.
	made map[string][]string
}

func (sc *scope) subscriptionsLocked() *subscriptionState {
	if sc.subs == nil {
		sc.subs = &subscriptionState{cards: map[string]string{}, subs: map[string]map[string]any{}, made: map[string][]string{}}
	}
	return sc.subs
}

// routeSubscriptions returns the handler of a path above, or nil.
func (f *Fake) routeSubscriptions(q *apiRequest, rest string) func(*apiRequest) response {
	if rest == "customers" && q.method == http.MethodPost {
		return f.createCustomer
	}
	if pm, ok := strings.CutPrefix(rest, "payment_methods/"); ok && q.method == http.MethodPost {
		if pm, ok := strings.CutSuffix(pm, "/attach"); ok && pm != "" && !strings.Contains(pm, "/") {
			return func(q *apiRequest) response { return f.attachPaymentMethod(q, pm) }
		}
		return nil
	}
	switch {
	case rest == "invoices/create_preview" && q.method == http.MethodPost:
		return f.createPreview
	case rest == "invoiceitems" && q.method == http.MethodGet:
		return func(q *apiRequest) response { return f.listMade(q, "invoiceitem", []string{"customer", "pending"}) }
	case rest == "invoices" && q.method == http.MethodGet:
		return func(q *apiRequest) response {
			return f.listMade(q, "invoice", []string{"customer", "subscription", "status"})
		}
	}
	id, ok := strings.CutPrefix(rest, "subscriptions")
	if !ok || (id != "" && id[0] != '/') {
		return nil
	}
	id = strings.TrimPrefix(id, "/")
	if sub, ok := strings.CutSuffix(id, "/resume"); ok && sub != "" && !strings.Contains(sub, "/") && q.method == http.MethodPost {
		return func(q *apiRequest) response { return f.resumeSubscription(q, sub) }
	}
	switch {
	case id == "" && q.method == http.MethodPost:
		return f.createSubscription
	case id != "" && !strings.Contains(id, "/") && q.method == http.MethodGet:
		return func(q *apiRequest) response { return f.getSubscription(q, id) }
	case id != "" && !strings.Contains(id, "/") && q.method == http.MethodPost:
		return func(q *apiRequest) response { return f.updateSubscription(q, id) }
	case id != "" && !strings.Contains(id, "/") && q.method == http.MethodDelete:
		return func(q *apiRequest) response { return f.cancelSubscription(q, id) }
	}
	return nil
}

// createCustomer makes a customer that GET then serves, and tells of it.
func (f *Fake) createCustomer(q *apiRequest) response {
	f.mu.Lock()
	c := &customer{ID: f.newIDLocked("cus_"), Object: "customer", Created: time.Now().Unix(), Livemode: q.live,
		Metadata: mapParam(q.params, "metadata"), PreferredLocales: emptyStrings, TaxExempt: "none", NextInvoiceSequence: 1,
		InvoicePrefix: "FAKE"}
	if e := q.params.Get("email"); e != "" {
		c.Email = &e
	}
	f.created["customer"]++
	sc := f.scopeLocked(q)
	obj := toMap(c)
	f.storeLocked(sc, obj, "customer")
	deliver := f.tellLocked(sc, q.live, []fakeEvent{{typ: "customer.created", object: obj}})
	f.mu.Unlock()
	deliver()
	return jsonResponse(http.StatusOK, c)
}

func (f *Fake) attachPaymentMethod(q *apiRequest, token string) response {
	if r := checkParams(q.params, []string{"customer"}, nil, nil); r != nil {
		return *r
	}
	how, ok := testCards[token]
	if !ok {
		return noSuch("PaymentMethod", token, "payment_method")
	}
	customer := q.params.Get("customer")
	if customer == "" {
		return invalidRequest(http.StatusBadRequest, "parameter_missing", "customer", "Missing required param: customer.")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.newIDLocked("pm_")
	f.scopeLocked(q).subscriptionsLocked().cards[id] = how
	return jsonResponse(http.StatusOK, map[string]any{"id": id, "object": "payment_method", "type": "card", "customer": customer,
		"livemode": q.live, "created": time.Now().Unix(), "metadata": map[string]string{},
		"card": map[string]any{"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}})
}

func (f *Fake) createSubscription(q *apiRequest) response {
	if r := checkParams(q.params, []string{"customer", "items[0][price]", "items[0][quantity]", "default_payment_method",
		"payment_behavior", "trial_period_days"}, []string{"expand"}, []string{"metadata"}); r != nil {
		return *r
	}
	customer, priceID := q.params.Get("customer"), q.params.Get("items[0][price]")
	switch {
	case customer == "":
		return invalidRequest(http.StatusBadRequest, "parameter_missing", "customer", "Missing required param: customer.")
	case priceID == "":
		return invalidRequest(http.StatusBadRequest, "parameter_missing", "items", "Missing required param: items.")
	}
	quantity := int64(1)
	if v := q.params.Get("items[0][quantity]"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return invalidRequest(http.StatusBadRequest, "parameter_invalid_integer", "items[0][quantity]", "Invalid integer: "+v)
		}
		quantity = n
	}
	trialDays := int64(0)
	if v := q.params.Get("trial_period_days"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 730 {
			return invalidRequest(http.StatusBadRequest, "parameter_invalid_integer", "trial_period_days", "Invalid trial_period_days: "+v)
		}
		trialDays = n
	}
	f.mu.Lock()
	sc := f.scopeLocked(q)
	prices := f.collection("prices")
	pos, ok := prices.position(sc, priceID)
	if !ok {
		f.mu.Unlock()
		return noSuch("price", priceID, "items[0][price]")
	}
	var priceObj any
	if pos >= prices.seeds {
		priceObj = prices.created(sc, pos-prices.seeds)
	} else {
		priceObj = prices.seed(pos, q.live)
	}
	price := toMap(priceObj)
	rec, _ := price["recurring"].(map[string]any)
	if rec == nil {
		f.mu.Unlock()
		return invalidRequest(http.StatusBadRequest, "", "items[0][price]", "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.")
	}
	st := sc.subscriptionsLocked()
	pm := q.params.Get("default_payment_method")
	how := st.cards[pm]
	switch {
	case trialDays > 0:
		how = "trial"
	case pm == "":
		f.mu.Unlock()
		return invalidRequest(http.StatusBadRequest, "resource_missing", "default_payment_method",
			"This customer has no attached payment source or default payment method.")
	case how == "":
		f.mu.Unlock()
		return noSuch("PaymentMethod", pm, "default_payment_method")
	}
	now := time.Now().Unix()
	unit, _ := price["unit_amount"].(float64)
	amount := int64(unit) * quantity
	if how == "trial" {
		amount = 0
	}
	currency, _ := price["currency"].(string)
	subID, si, inv, pi, ch := f.newIDLocked("sub_"), f.newIDLocked("si_"), f.newIDLocked("in_"), f.newIDLocked("pi_"), f.newIDLocked("ch_")
	end := periodEnd(now, rec)
	if how == "trial" {
		end = now + trialDays*86400
	}
	status := map[string]string{"succeeds": "active", "trial": "trialing", "declined": "incomplete", "requires_action": "incomplete"}[how]
	sub := map[string]any{
		"id": subID, "customer": customer, "status": status, "currency": currency, "metadata": mapParam(q.params, "metadata"),
		"created": now, "start_date": now, "billing_cycle_anchor": end, "current_period_start": now, "current_period_end": end,
		"latest_invoice": inv, "default_payment_method": nilIfEmpty(pm), "livemode": q.live,
		"cancel_at_period_end": false, "cancel_at": nil, "canceled_at": nil, "ended_at": nil,
		"items": map[string]any{"object": "list", "has_more": false, "total_count": 1, "url": "/v1/subscription_items?subscription=" + subID,
			"data": []any{map[string]any{"id": si, "object": "subscription_item", "created": now, "metadata": map[string]any{},
				"price": price, "plan": planOf(price), "quantity": quantity, "subscription": subID, "tax_rates": []any{}, "discounts": []any{}}}},
	}
	if how == "trial" {
		sub["trial_start"], sub["trial_end"] = now, end
	}
	invoice := map[string]any{"id": inv, "customer": customer, "subscription": subID, "payment_intent": pi, "currency": currency,
		"amount_due": amount, "amount_paid": 0, "amount_remaining": amount, "subtotal": amount, "total": amount,
		"billing_reason": "subscription_create", "created": now, "period_start": now, "period_end": now, "livemode": q.live,
		"attempted": true, "attempt_count": 1, "paid": false, "status": "open", "charge": nil,
		"hosted_invoice_url": "https://invoice.stripe.com/i/fake/" + inv, "subscription_details": map[string]any{"metadata": sub["metadata"]},
		"lines": map[string]any{"object": "list", "has_more": false, "total_count": 1, "url": "/v1/invoices/" + inv + "/lines",
			"data": []any{map[string]any{"id": f.newIDLocked("il_"), "object": "line_item", "amount": amount, "currency": currency,
				"price": price, "quantity": quantity, "subscription": subID, "type": "subscription", "proration": false,
				"period": map[string]any{"start": now, "end": end}, "metadata": map[string]any{}}}}}
	intent := map[string]any{"id": pi, "customer": customer, "invoice": inv, "amount": amount, "currency": currency, "created": now,
		"livemode": q.live, "metadata": map[string]any{}, "amount_received": 0}
	var events []fakeEvent
	events = append(events, fakeEvent{typ: "customer.subscription.created", object: sub})
	switch how {
	case "succeeds", "trial":
		setAll(invoice, map[string]any{"status": "paid", "paid": true, "amount_paid": amount, "amount_remaining": 0})
		if how == "succeeds" {
			invoice["charge"] = ch
			setAll(intent, map[string]any{"status": "succeeded", "amount_received": amount, "latest_charge": ch})
			events = append(events, fakeEvent{typ: "invoice.paid", object: invoice}, fakeEvent{typ: "payment_intent.succeeded", object: intent})
		} else {
			invoice["payment_intent"] = nil
			events = append(events, fakeEvent{typ: "invoice.paid", object: invoice})
		}
	case "declined":
		invoice["charge"] = ch
		setAll(intent, map[string]any{"status": "requires_payment_method", "last_payment_error": map[string]any{
			"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds.", "charge": ch}})
		events = append(events, fakeEvent{typ: "invoice.payment_failed", object: invoice}, fakeEvent{typ: "payment_intent.payment_failed", object: intent})
	case "requires_action":
		setAll(intent, map[string]any{"status": "requires_action", "next_action": map[string]any{"type": "use_stripe_sdk"}})
		events = append(events, fakeEvent{typ: "invoice.payment_action_required", object: invoice})
	}
	f.storeLocked(sc, sub, "subscription")
	f.storeLocked(sc, invoice, "invoice")
	if invoice["payment_intent"] != nil {
		f.storeLocked(sc, intent, "payment_intent")
	}
	st.subs[subID] = sub
	deliver := f.tellLocked(sc, q.live, events)
	f.created["subscription"]++
	answer := cloneMap(sub)
	if expanded(q, "latest_invoice") {
		li := cloneMap(invoice)
		if expanded(q, "latest_invoice.payment_intent") && invoice["payment_intent"] != nil {
			li["payment_intent"] = cloneMap(intent)
		}
		answer["latest_invoice"] = li
	}
	f.mu.Unlock()
	deliver()
	return jsonResponse(http.StatusOK, answer)
}

// getSubscription serves a subscription as stored (PutObject's taking
// precedence) or seeded; one made through the fake is also expanded as
// asked.
func (f *Fake) getSubscription(q *apiRequest, id string) response {
	f.mu.Lock()
	sc := f.scopeLocked(q)
	sub, ok := sc.subscriptionsLocked().subs[id]
	if !ok || len(arrayParam(q.params, "expand")) == 0 {
		f.mu.Unlock()
		return f.retrieveStored("subscription", f.collection("subscriptions"), q, id)
	}
	defer f.mu.Unlock()
	if r := checkParams(q.params, nil, []string{"expand"}, nil); r != nil {
		return *r
	}
	return jsonResponse(http.StatusOK, f.expandSubscriptionLocked(sc, q, sub))
}

func (f *Fake) cancelSubscription(q *apiRequest, id string) response {
	if r := checkParams(q.params, nil, []string{"expand"}, nil); r != nil {
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
	if sub["status"] == "canceled" {
		f.mu.Unlock()
		return invalidRequest(http.StatusBadRequest, "", "", "This subscription has already been canceled.")
	}
	now := time.Now().Unix()
	canceledAt := sub["canceled_at"]
	if canceledAt == nil {
		canceledAt = now
	}
	setAll(sub, map[string]any{"status": "canceled", "ended_at": now, "canceled_at": canceledAt})
	f.storeLocked(sc, sub, "subscription")
	deliver := f.tellLocked(sc, q.live, []fakeEvent{{typ: "customer.subscription.deleted", object: sub}})
	answer := cloneMap(sub)
	f.mu.Unlock()
	deliver()
	return jsonResponse(http.StatusOK, answer)
}

// post is a told event to post; target an endpoint to post it to.
type (
	post struct {
		id, typ string
		raw     []byte
	}
	target struct{ url, secret string }
)

// fakeEvent is an event to tell: its object as of the change.
type fakeEvent struct {
	typ              string
	object, previous map[string]any
}

// Delivery is one event the fake posted to a webhook endpoint.
type Delivery struct {
	EventID, Type, URL string
	// Status is the endpoint's HTTP answer, 0 when it could not be reached.
	Status int
}

// Deliveries returns what the fake posted to webhook endpoints, in order.
func (f *Fake) Deliveries() []Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deliveries)
}

// tellLocked stores events for /v1/events, all created now as Stripe's
// are, and returns the function that posts them to the endpoints once f.mu
// is released: in order, each signed with its endpoint's secret.
func (f *Fake) tellLocked(sc *scope, live bool, events []fakeEvent) func() {
	var posts []post
	now := time.Now().Unix()
	for _, e := range events {
		id := f.newIDLocked("evt_")
		raw, err := eventRaw(e, id, now, live)
		if err != nil {
			panic(fmt.Sprintf("stripetest: tell %s: %v", e.typ, err))
		}
		ev := &storedEvent{id: id, typ: e.typ, created: now, raw: raw, seq: len(sc.events)}
		sc.eventIdx[id] = len(sc.events)
		sc.events = append(sc.events, ev)
		posts = append(posts, post{id, e.typ, raw})
	}
	if !f.opts.DeliverEvents {
		return func() {}
	}
	var targets []target
	for _, ep := range sc.endpoints {
		if ep.Status == "enabled" && !ep.connect {
			targets = append(targets, target{ep.URL, ep.secret})
		}
	}
	enabled := map[string][]string{}
	for _, ep := range sc.endpoints {
		enabled[ep.URL] = ep.EnabledEvents
	}
	return func() { f.enqueue(func() { f.post(posts, targets, enabled) }) }
}

// eventRaw is event e as Stripe sends it: built on its fixture, or, for
// the types without one (invoiceitem.created), from e alone.
func eventRaw(e fakeEvent, id string, created int64, live bool) ([]byte, error) {
	if slices.Contains(eventfixtures.Types, e.typ) {
		return eventfixtures.Event(e.typ, eventfixtures.Options{ID: id, Created: created, Livemode: live, Object: e.object, Previous: e.previous})
	}
	data := map[string]any{"object": e.object}
	if e.previous != nil {
		data["previous_attributes"] = e.previous
	}
	return json.Marshal(map[string]any{"id": id, "object": "event", "api_version": apiVersion, "created": created, "data": data,
		"livemode": live, "pending_webhooks": 1, "request": map[string]any{"id": nil, "idempotency_key": nil}, "type": e.typ})
}

// post makes the posts of one change.
func (f *Fake) post(posts []post, targets []target, enabled map[string][]string) {
	for _, t := range targets {
		for _, p := range posts {
			if ev := enabled[t.url]; !slices.Contains(ev, "*") && !slices.Contains(ev, p.typ) {
				continue
			}
			req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(p.raw))
			d := Delivery{EventID: p.id, Type: p.typ, URL: t.url}
			if err == nil {
				req.Header.Set("Content-Type", "application/json; charset=utf-8")
				req.Header.Set("Stripe-Signature", eventfixtures.Sign(p.raw, t.secret, time.Now()))
				if resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req); err == nil {
					d.Status = resp.StatusCode
					resp.Body.Close()
				}
			}
			f.mu.Lock()
			f.deliveries = append(f.deliveries, d)
			f.mu.Unlock()
		}
	}
}

// enqueue runs job after every job enqueued before it, in the background,
// as Stripe delivers: the API answers before the events arrive.
func (f *Fake) enqueue(job func()) {
	f.mu.Lock()
	f.queue = append(f.queue, job)
	if f.posting {
		f.mu.Unlock()
		return
	}
	f.posting = true
	f.mu.Unlock()
	go func() {
		for {
			f.mu.Lock()
			if len(f.queue) == 0 {
				f.posting = false
				f.mu.Unlock()
				return
			}
			next := f.queue[0]
			f.queue = f.queue[1:]
			f.mu.Unlock()
			next()
		}
	}()
}

// storeLocked keeps obj (of Stripe object type object) for GET.
func (f *Fake) storeLocked(sc *scope, obj map[string]any, object string) {
	o := cloneMap(obj)
	o["object"] = object
	raw, err := json.Marshal(o)
	if err != nil {
		panic(fmt.Sprintf("stripetest: store %s: %v", object, err))
	}
	k := storedKey{object, o["id"].(string)}
	if _, ok := sc.stored[k]; !ok && (object == "invoice" || object == "invoiceitem") {
		st := sc.subscriptionsLocked()
		st.made[object] = append(st.made[object], k.id)
	}
	sc.stored[k] = raw
}

func periodEnd(start int64, rec map[string]any) int64 {
	n, _ := rec["interval_count"].(float64)
	if n < 1 {
		n = 1
	}
	t := time.Unix(start, 0).UTC()
	switch rec["interval"] {
	case "day":
		t = t.AddDate(0, 0, int(n))
	case "week":
		t = t.AddDate(0, 0, 7*int(n))
	case "year":
		t = t.AddDate(int(n), 0, 0)
	default:
		t = t.AddDate(0, int(n), 0)
	}
	return t.Unix()
}

func expanded(q *apiRequest, path string) bool {
	for _, v := range arrayParam(q.params, "expand") {
		if v == path || strings.HasPrefix(v, path+".") {
			return true
		}
	}
	return false
}

func toMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	json.Unmarshal(b, &m) //nolint:errcheck // the fake's own types
	return m
}

func cloneMap(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out) //nolint:errcheck
	return out
}

func setAll(dst, src map[string]any) {
	for k, v := range src {
		dst[k] = v
	}
}
