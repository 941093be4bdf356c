package stripetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// POST /v1/subscriptions/{id}: plan and seat changes with Stripe's
// prorations, cancellation terms, metadata and the default payment method.
// See subscriptions.go for the routes and billing.go for the money.

var (
	itemFields          = []string{"id", "price", "quantity", "deleted"}
	prorationBehaviors  = []string{"create_prorations", "always_invoice", "none"}
	paymentBehaviors    = []string{"allow_incomplete", "pending_if_incomplete", "error_if_incomplete", "default_incomplete"}
	updateExact         = []string{"cancel_at", "cancel_at_period_end", "default_payment_method", "payment_behavior", "proration_behavior", "proration_date"}
	pendingUpdateParams = []string{"payment_behavior", "proration_behavior", "proration_date"}
)

// pendingUpdateTTL is how long a pending update waits for its invoice to
// be paid (Stripe: 23 hours).
const pendingUpdateTTL = 23 * 3600

// update is a parsed subscription update.
type update struct {
	items                []itemParam
	proration, payment   string
	at                   int64
	atSet                bool
	cancelAtPeriodEnd    bool
	cancelAtPeriodEndSet bool
	cancelAt             any // nil: clear; else int64
	cancelAtSet          bool
	paymentMethod        string
}

func parseUpdate(params url.Values) (*update, *response) {
	items, rest, r := parseItems(params, "items", itemFields)
	if r != nil {
		return nil, r
	}
	if r := checkParams(rest, updateExact, []string{"expand"}, []string{"metadata"}); r != nil {
		return nil, r
	}
	u := &update{items: items, paymentMethod: params.Get("default_payment_method")}
	if u.proration, u.at, u.atSet, r = parseProration(params, "proration_behavior", "proration_date"); r != nil {
		return nil, r
	}
	if u.payment, r = oneOf(params, "payment_behavior", paymentBehaviors); r != nil {
		return nil, r
	}
	if u.cancelAtPeriodEnd, u.cancelAtPeriodEndSet, r = parseBool(params, "cancel_at_period_end"); r != nil {
		return nil, r
	}
	if _, u.cancelAtSet = params["cancel_at"]; u.cancelAtSet && params.Get("cancel_at") != "" {
		n, r := parseInt(params, "cancel_at")
		if r != nil {
			return nil, r
		}
		u.cancelAt = n
	}
	if u.cancelAt != nil && u.cancelAtPeriodEnd { // two cancellations; clearing both at once is fine
		r := invalidRequest(http.StatusBadRequest, "parameters_exclusive", "cancel_at",
			"You may only specify one of these parameters: cancel_at, cancel_at_period_end.")
		return nil, &r
	}
	return u, checkPendingIfIncomplete(params, u)
}

// parseProration reads a proration behavior and date.
func parseProration(params url.Values, behavior, date string) (string, int64, bool, *response) {
	b, r := oneOf(params, behavior, prorationBehaviors)
	if r != nil || params.Get(date) == "" {
		return b, 0, false, r
	}
	at, r := parseInt(params, date)
	return b, at, r == nil, r
}

// oneOf returns a parameter that must be one of values (the first is the
// default).
func oneOf(params url.Values, name string, values []string) (string, *response) {
	v := params.Get(name)
	switch {
	case v == "":
		return values[0], nil
	case slices.Contains(values, v):
		return v, nil
	}
	r := invalidRequest(http.StatusBadRequest, "", name, fmt.Sprintf("Invalid %s: must be one of %s", name, strings.Join(values, ", ")))
	return "", &r
}

// checkPendingIfIncomplete refuses, under pending_if_incomplete, the
// parameters pending updates do not support (Stripe's pending updates
// reference: expand, payment_behavior, proration_behavior, proration_date
// and items with id, price and quantity, among those the fake knows).
func checkPendingIfIncomplete(params url.Values, u *update) *response {
	if u.payment != "pending_if_incomplete" {
		return nil
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ok := slices.Contains(pendingUpdateParams, k) || strings.HasPrefix(k, "expand[")
		if tail, isItem := strings.CutPrefix(k, "items["); isItem {
			ok = !strings.HasSuffix(tail, "[deleted]")
		}
		if !ok {
			r := invalidRequest(http.StatusBadRequest, "", k, fmt.Sprintf(
				"The `%s` parameter cannot be used with `payment_behavior=pending_if_incomplete`: only the parameters supported by pending updates can be (https://stripe.com/docs/billing/subscriptions/pending-updates-reference#supported-attributes).", k))
			return &r
		}
	}
	return nil
}

func (f *Fake) updateSubscription(q *apiRequest, id string) response {
	u, r := parseUpdate(q.params)
	if r != nil {
		return *r
	}
	f.mu.Lock()
	sc := f.scopeLocked(q)
	st := sc.subscriptionsLocked()
	sub, ok := st.subs[id]
	if !ok {
		f.mu.Unlock()
		r := noSuch("subscription", id, "id")
		r.status = http.StatusNotFound
		return r
	}
	next, events, r := f.applyUpdateLocked(sc, q, sub, u)
	if r != nil {
		f.mu.Unlock()
		return *r
	}
	if prev := previousAttributes(sub, next); len(prev) > 0 {
		events = append([]fakeEvent{{typ: "customer.subscription.updated", object: cloneMap(next), previous: prev}}, events...)
	}
	st.subs[id] = next
	f.storeLocked(sc, next, "subscription")
	deliver := f.tellLocked(sc, q.live, events)
	answer := f.expandSubscriptionLocked(sc, q, next)
	f.mu.Unlock()
	deliver()
	return jsonResponse(http.StatusOK, answer)
}

// applyUpdateLocked returns sub after u and the events of its invoice and
// invoice items; sub itself is left as it was.
func (f *Fake) applyUpdateLocked(sc *scope, q *apiRequest, sub map[string]any, u *update) (map[string]any, []fakeEvent, *response) {
	if r := checkStatusAllows(sub, q.params); r != nil {
		return nil, nil, r
	}
	now := time.Now().Unix()
	next := cloneMap(sub)
	if r := f.applyTermsLocked(sc, next, q.params, u, now); r != nil {
		return nil, nil, r
	}
	if len(u.items) == 0 {
		return next, nil, nil
	}
	c, r := f.planChangeLocked(sc, q.live, sub, u.items, "items", f.newIDLocked)
	if r != nil {
		return nil, nil, r
	}
	c.behavior, c.at = u.proration, now
	if u.atSet {
		c.at = u.at
	}
	if r := checkProrationDate(sub, c.at, "proration_date"); r != nil {
		return nil, nil, r
	}
	events, r := f.billChangeLocked(sc, next, c, u.payment, now)
	return next, events, r
}

// checkStatusAllows refuses the updates Stripe refuses for the state of
// sub: a canceled (or incomplete_expired) subscription takes metadata
// only, an incomplete one metadata and its default payment method.
func checkStatusAllows(sub map[string]any, params url.Values) *response {
	allowed, msg := []string{}, ""
	switch sub["status"] {
	case "canceled", "incomplete_expired":
		msg = "A canceled subscription can only update its cancellation_details and metadata."
	case "incomplete":
		allowed = []string{"default_payment_method"}
		msg = "A subscription with status `incomplete` can only update its default_payment_method, default_source and metadata; pay its latest invoice to activate it first."
	default:
		return nil
	}
	for k := range params {
		if k == "metadata" || strings.HasPrefix(k, "metadata[") || strings.HasPrefix(k, "expand[") || slices.Contains(allowed, k) {
			continue
		}
		r := invalidRequest(http.StatusBadRequest, "", "", msg)
		return &r
	}
	return nil
}

func checkProrationDate(sub map[string]any, at int64, param string) *response {
	if at < num(sub["current_period_start"]) || at > num(sub["current_period_end"]) {
		r := invalidRequest(http.StatusBadRequest, "", param,
			"The proration_date must be within the subscription's current billing period.")
		return &r
	}
	return nil
}

// applyTermsLocked applies the cancellation terms, metadata and default
// payment method of u to next.
func (f *Fake) applyTermsLocked(sc *scope, next map[string]any, params url.Values, u *update, now int64) *response {
	if u.paymentMethod != "" {
		if _, ok := sc.subscriptionsLocked().cards[u.paymentMethod]; !ok {
			r := noSuch("PaymentMethod", u.paymentMethod, "default_payment_method")
			return &r
		}
		next["default_payment_method"] = u.paymentMethod
	}
	next["metadata"] = updateMetadata(stringMap(next["metadata"]), params, "metadata")
	switch {
	case u.cancelAt != nil:
		if num(u.cancelAt) <= now {
			r := invalidRequest(http.StatusBadRequest, "", "cancel_at", "The cancel_at date must be in the future.")
			return &r
		}
		setAll(next, map[string]any{"cancel_at_period_end": false, "cancel_at": u.cancelAt, "canceled_at": now})
	case u.cancelAtPeriodEndSet && u.cancelAtPeriodEnd:
		setAll(next, map[string]any{"cancel_at_period_end": true, "cancel_at": next["current_period_end"], "canceled_at": now})
	case u.cancelAtPeriodEndSet, u.cancelAtSet:
		setAll(next, map[string]any{"cancel_at_period_end": false, "cancel_at": nil, "canceled_at": nil})
	}
	return nil
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	switch m := v.(type) {
	case map[string]string:
		for k, v := range m {
			out[k] = v
		}
	case map[string]any:
		for k, v := range m {
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// billChangeLocked applies change c to next with the payment behavior
// and returns the events of what it bills: pending invoice items, or an
// invoice made, finalized and paid at once. Under pending_if_incomplete
// an unpaid invoice leaves the items as they were and sets pending_update;
// under error_if_incomplete it refuses the change.
func (f *Fake) billChangeLocked(sc *scope, next map[string]any, c *change, payment string, now int64) ([]fakeEvent, *response) {
	st := sc.subscriptionsLocked()
	lines := f.changeLinesLocked(sc, next, c, now)
	if !invoicesNow(next, c, lines) {
		applyItems(next, c.items, 0)
		if c.behavior != "create_prorations" {
			return nil, nil
		}
		return f.addPendingLocked(sc, next, lines, now), nil
	}
	how := cardOfLocked(st, next)
	inv := f.invoiceForLocked(sc, next, lines, f.newIDLocked("in_"), f.newIDLocked, now)
	if payment == "error_if_incomplete" && num(inv["amount_due"]) > 0 && how != "succeeds" {
		return nil, paymentRefusal(how)
	}
	events, paid := f.collectLocked(sc, inv, how, now)
	f.takePendingLocked(sc, inv)
	next["latest_invoice"] = inv["id"]
	anchor := int64(0)
	if c.reset {
		anchor = now
	}
	if !paid && payment == "pending_if_incomplete" {
		pu := map[string]any{"expires_at": now + pendingUpdateTTL, "subscription_items": c.items,
			"billing_cycle_anchor": nil, "trial_end": nil, "trial_from_plan": nil}
		if anchor != 0 {
			pu["billing_cycle_anchor"] = anchor
		}
		next["pending_update"] = pu
		return events, nil
	}
	applyItems(next, c.items, anchor)
	if !paid {
		next["status"] = "past_due"
	}
	return events, nil
}

// paymentRefusal is Stripe's 402 for a change error_if_incomplete refuses.
func paymentRefusal(how string) *response {
	var r response
	switch how {
	case "":
		r = invalidRequest(http.StatusBadRequest, "resource_missing", "", "This customer has no attached payment source or default payment method.")
	case "requires_action":
		r = stripeError(http.StatusPaymentRequired, "card_error", "authentication_required", "", "Your card was declined. This transaction requires authentication.")
	default:
		r = stripeError(http.StatusPaymentRequired, "card_error", "card_declined", "", "Your card has insufficient funds.")
	}
	return &r
}

// applyItems sets the items of sub; a non-zero anchor starts a new period
// there, as an interval change does.
func applyItems(sub map[string]any, items []map[string]any, anchor int64) {
	sub["items"] = itemList(fmt.Sprint(sub["id"]), items)
	if anchor == 0 || len(items) == 0 {
		return
	}
	price, _ := items[0]["price"].(map[string]any)
	rec, _ := price["recurring"].(map[string]any)
	setAll(sub, map[string]any{"billing_cycle_anchor": anchor, "current_period_start": anchor, "current_period_end": periodEnd(anchor, rec)})
	if sub["cancel_at_period_end"] == true {
		sub["cancel_at"] = sub["current_period_end"]
	}
}

// invoiceForLocked is the invoice a change of sub makes at once: its lines
// and the subscription's pending invoice items. newID makes line ids.
func (f *Fake) invoiceForLocked(sc *scope, sub map[string]any, lines []line, id string, newID func(string) string, now int64) map[string]any {
	objs := append(lineObjects(lines, sub, newID), pendingLinesLocked(sc, sub, newID)...)
	return invoiceObject(id, sub, objs, "subscription_update", balanceLocked(sc, fmt.Sprint(sub["customer"])), now, now, now)
}

// lineObjects are lines as invoice lines of sub; a proration line names
// the invoice item it stands for.
func lineObjects(lines []line, sub map[string]any, newID func(string) string) []map[string]any {
	var objs []map[string]any
	for _, l := range lines {
		ii := ""
		if l.proration {
			ii = newID("ii_")
		}
		objs = append(objs, lineObject(l, newID("il_"), ii, sub))
	}
	return objs
}

// pendingLinesLocked are sub's pending invoice items as invoice lines.
func pendingLinesLocked(sc *scope, sub map[string]any, newID func(string) string) []map[string]any {
	var objs []map[string]any
	for _, ii := range sc.subscriptionsLocked().pending {
		if ii["subscription"] == sub["id"] {
			objs = append(objs, pendingLine(ii, newID("il_")))
		}
	}
	return objs
}

// addPendingLocked keeps the proration lines as pending invoice items of
// sub and returns their invoiceitem.created events.
func (f *Fake) addPendingLocked(sc *scope, sub map[string]any, lines []line, now int64) []fakeEvent {
	st := sc.subscriptionsLocked()
	var events []fakeEvent
	for _, l := range lines {
		ii := invoiceItemObject(l, f.newIDLocked("ii_"), sub, now)
		st.pending = append(st.pending, ii)
		f.storeLocked(sc, ii, "invoiceitem")
		events = append(events, fakeEvent{typ: "invoiceitem.created", object: cloneMap(ii)})
	}
	return events
}

// takePendingLocked marks the pending invoice items inv bills as invoiced.
func (f *Fake) takePendingLocked(sc *scope, inv map[string]any) {
	st := sc.subscriptionsLocked()
	st.pending = slices.DeleteFunc(st.pending, func(ii map[string]any) bool {
		if ii["subscription"] != inv["subscription"] {
			return false
		}
		ii["invoice"] = inv["id"]
		f.storeLocked(sc, ii, "invoiceitem")
		return true
	})
}

// previousAttributes returns the values of old that next changed, as
// Stripe's previous_attributes: top-level fields, plus plan and quantity
// when a one-item subscription's price or quantity changed.
func previousAttributes(old, next map[string]any) map[string]any {
	prev := map[string]any{}
	for _, k := range []string{"billing_cycle_anchor", "cancel_at", "cancel_at_period_end", "canceled_at", "current_period_end",
		"current_period_start", "default_payment_method", "items", "latest_invoice", "metadata", "pending_update", "status"} {
		if !sameJSON(old[k], next[k]) {
			prev[k] = old[k]
		}
	}
	oldItems, newItems := itemsOf(old), itemsOf(next)
	if _, ok := prev["items"]; ok && len(oldItems) == 1 && len(newItems) == 1 {
		oldPrice, _ := oldItems[0]["price"].(map[string]any)
		newPrice, _ := newItems[0]["price"].(map[string]any)
		if oldPrice["id"] != newPrice["id"] {
			prev["plan"] = planOf(oldPrice)
		}
		if quantityOf(oldItems[0]) != quantityOf(newItems[0]) {
			prev["quantity"] = quantityOf(oldItems[0])
		}
	}
	return prev
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// expandSubscriptionLocked is sub as answered, with latest_invoice and
// latest_invoice.payment_intent expanded when asked.
func (f *Fake) expandSubscriptionLocked(sc *scope, q *apiRequest, sub map[string]any) map[string]any {
	answer := cloneMap(sub)
	answer["object"] = "subscription"
	id, _ := sub["latest_invoice"].(string)
	if !expanded(q, "latest_invoice") || id == "" {
		return answer
	}
	inv := storedMapLocked(sc, "invoice", id)
	if pi, _ := inv["payment_intent"].(string); pi != "" && expanded(q, "latest_invoice.payment_intent") {
		inv["payment_intent"] = storedMapLocked(sc, "payment_intent", pi)
	}
	answer["latest_invoice"] = inv
	return answer
}

// storedMapLocked returns a copy of a stored object, or nil.
func storedMapLocked(sc *scope, object, id string) map[string]any {
	raw, ok := sc.stored[storedKey{object, id}]
	if !ok {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}
