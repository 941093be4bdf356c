package stripetest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// The money of subscription changes: prices looked up for an item, the
// proration lines of a change, the invoices they go on and how the
// subscription's card pays them. Shared by the update (changes.go), the
// preview (preview.go) and resume (resume.go), so that a preview charges
// exactly what the update then does.

// priceLocked returns price id of sc (created or seeded) as a map.
func (f *Fake) priceLocked(sc *scope, live bool, id string) (map[string]any, bool) {
	prices := f.collection("prices")
	pos, ok := prices.position(sc, id)
	if !ok {
		return nil, false
	}
	if pos >= prices.seeds {
		return toMap(prices.created(sc, pos-prices.seeds)), true
	}
	return toMap(prices.seed(pos, live)), true
}

// productNameLocked returns the name of product id, or the id itself.
func (f *Fake) productNameLocked(sc *scope, id string) string {
	products := f.collection("products")
	pos, ok := products.position(sc, id)
	if !ok {
		return id
	}
	var p any
	if pos >= products.seeds {
		p = products.created(sc, pos-products.seeds)
	} else {
		p = products.seed(pos, false)
	}
	if name, _ := toMap(p)["name"].(string); name != "" {
		return name
	}
	return id
}

// planOf returns the legacy plan view of a recurring price map.
func planOf(price map[string]any) map[string]any {
	rec, _ := price["recurring"].(map[string]any)
	if rec == nil {
		return nil
	}
	return map[string]any{"id": price["id"], "object": "plan", "active": price["active"], "aggregate_usage": rec["aggregate_usage"],
		"amount": price["unit_amount"], "amount_decimal": price["unit_amount_decimal"], "billing_scheme": price["billing_scheme"],
		"created": price["created"], "currency": price["currency"], "interval": rec["interval"], "interval_count": rec["interval_count"],
		"livemode": price["livemode"], "metadata": price["metadata"], "meter": rec["meter"], "nickname": price["nickname"],
		"product": price["product"], "tiers_mode": price["tiers_mode"], "transform_usage": nil,
		"trial_period_days": rec["trial_period_days"], "usage_type": rec["usage_type"]}
}

// num reads an integer held in a map as int64 or, after a JSON round
// trip, float64.
func num(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	}
	return 0
}

func metered(price map[string]any) bool {
	rec, _ := price["recurring"].(map[string]any)
	return rec != nil && rec["usage_type"] == "metered"
}

// unitAmount is a price's per-unit amount in the currency's minor unit,
// fractions of unit_amount_decimal included.
func unitAmount(price map[string]any) float64 {
	if s, ok := price["unit_amount_decimal"].(string); ok {
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			return v
		}
	}
	u, _ := price["unit_amount"].(float64)
	return u
}

// sameInterval reports whether two recurring prices bill on one cycle.
func sameInterval(a, b map[string]any) bool {
	ra, _ := a["recurring"].(map[string]any)
	rb, _ := b["recurring"].(map[string]any)
	return ra != nil && rb != nil && ra["interval"] == rb["interval"] && num(ra["interval_count"]) == num(rb["interval_count"])
}

// itemsOf returns the items of a subscription.
func itemsOf(sub map[string]any) []map[string]any {
	list, _ := sub["items"].(map[string]any)
	data, _ := list["data"].([]any)
	out := make([]map[string]any, 0, len(data))
	for _, d := range data {
		if m, ok := d.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// itemList is the items list object of subscription subID.
func itemList(subID string, items []map[string]any) map[string]any {
	data := make([]any, len(items))
	for i, it := range items {
		data[i] = it
	}
	return map[string]any{"object": "list", "has_more": false, "total_count": len(items),
		"url": "/v1/subscription_items?subscription=" + subID, "data": data}
}

func quantityOf(item map[string]any) int64 {
	if q, ok := item["quantity"]; ok && q != nil {
		return num(q)
	}
	return 1
}

// line is an invoice line before it gets its ids.
type line struct {
	amount      int64
	description string
	proration   bool
	start, end  int64
	price       map[string]any
	quantity    int64
	item        string // subscription item id
}

// prorate returns the share of amount for the time from at to end of the
// period [start, end), rounded to the nearest integer as Stripe does.
func prorate(amount float64, at, start, end int64) int64 {
	if end <= start {
		return 0
	}
	return int64(math.Round(amount * float64(end-at) / float64(end-start)))
}

// timesName is "Pro" or "3 × Pro", as Stripe's line descriptions say it.
func timesName(name string, quantity int64) string {
	if quantity == 1 {
		return name
	}
	return fmt.Sprintf("%d × %s", quantity, name)
}

func dateOf(at int64) string { return time.Unix(at, 0).UTC().Format("02 Jan 2006") }

// creditLine credits the unused time of item from at to the period end.
func (f *Fake) creditLineLocked(sc *scope, item map[string]any, at, start, end int64) line {
	price, _ := item["price"].(map[string]any)
	q := quantityOf(item)
	name := f.productNameLocked(sc, fmt.Sprint(price["product"]))
	return line{amount: -prorate(unitAmount(price)*float64(q), at, start, end), proration: true, start: at, end: end,
		description: "Unused time on " + timesName(name, q) + " after " + dateOf(at), price: price, quantity: q, item: fmt.Sprint(item["id"])}
}

// chargeLine charges the remaining time of item from at to the period end.
func (f *Fake) chargeLineLocked(sc *scope, item map[string]any, at, start, end int64) line {
	price, _ := item["price"].(map[string]any)
	q := quantityOf(item)
	name := f.productNameLocked(sc, fmt.Sprint(price["product"]))
	return line{amount: prorate(unitAmount(price)*float64(q), at, start, end), proration: true, start: at, end: end,
		description: "Remaining time on " + timesName(name, q) + " after " + dateOf(at), price: price, quantity: q, item: fmt.Sprint(item["id"])}
}

// periodLine charges a whole period [start, end) of item.
func (f *Fake) periodLineLocked(sc *scope, item map[string]any, start, end int64) line {
	price, _ := item["price"].(map[string]any)
	q := quantityOf(item)
	name := f.productNameLocked(sc, fmt.Sprint(price["product"]))
	rec, _ := price["recurring"].(map[string]any)
	desc := fmt.Sprintf("%d × %s (at %s / %s)", q, name, money(unitAmount(price), fmt.Sprint(price["currency"])), rec["interval"])
	return line{amount: int64(math.Round(unitAmount(price) * float64(q))), start: start, end: end, description: desc,
		price: price, quantity: q, item: fmt.Sprint(item["id"])}
}

func money(minor float64, currency string) string {
	if currency == "usd" {
		return fmt.Sprintf("$%.2f", minor/100)
	}
	return fmt.Sprintf("%.2f %s", minor/100, currency)
}

// lineObject is l as an invoice line of subscription sub; invoiceItem is
// the id of the invoice item a proration line stands for.
func lineObject(l line, id, invoiceItem string, sub map[string]any) map[string]any {
	typ := "subscription"
	if l.proration {
		typ = "invoiceitem"
	}
	return map[string]any{"id": id, "object": "line_item", "amount": l.amount, "amount_excluding_tax": l.amount,
		"currency": sub["currency"], "description": l.description, "discount_amounts": []any{}, "discountable": true,
		"discounts": []any{}, "invoice_item": nilIfEmpty(invoiceItem), "livemode": sub["livemode"], "metadata": map[string]any{},
		"period": map[string]any{"start": l.start, "end": l.end}, "plan": planOf(l.price), "price": l.price,
		"proration": l.proration, "proration_details": map[string]any{"credited_items": nil}, "quantity": l.quantity,
		"subscription": sub["id"], "subscription_item": nilIfEmpty(l.item), "tax_amounts": []any{}, "tax_rates": []any{},
		"type": typ, "unit_amount_excluding_tax": fmt.Sprint(unitAmount(l.price))}
}

// invoiceItemObject is proration line l as a pending invoice item.
func invoiceItemObject(l line, id string, sub map[string]any, now int64) map[string]any {
	return map[string]any{"id": id, "object": "invoiceitem", "amount": l.amount, "currency": sub["currency"],
		"customer": sub["customer"], "date": now, "description": l.description, "discountable": true, "discounts": []any{},
		"invoice": nil, "livemode": sub["livemode"], "metadata": map[string]any{},
		"period": map[string]any{"start": l.start, "end": l.end}, "plan": planOf(l.price), "price": l.price,
		"proration": true, "quantity": l.quantity, "subscription": sub["id"], "subscription_item": nilIfEmpty(l.item),
		"tax_rates": []any{}, "test_clock": nil, "unit_amount": l.amount, "unit_amount_decimal": strconv.FormatInt(l.amount, 10)}
}

// pendingLine is a pending invoice item as an invoice line.
func pendingLine(ii map[string]any, id string) map[string]any {
	period, _ := ii["period"].(map[string]any)
	price, _ := ii["price"].(map[string]any)
	return map[string]any{"id": id, "object": "line_item", "amount": ii["amount"], "amount_excluding_tax": ii["amount"],
		"currency": ii["currency"], "description": ii["description"], "discount_amounts": []any{}, "discountable": true,
		"discounts": []any{}, "invoice_item": ii["id"], "livemode": ii["livemode"], "metadata": map[string]any{},
		"period": period, "plan": planOf(price), "price": price, "proration": true,
		"proration_details": map[string]any{"credited_items": nil}, "quantity": ii["quantity"],
		"subscription": ii["subscription"], "subscription_item": ii["subscription_item"], "tax_amounts": []any{},
		"tax_rates": []any{}, "type": "invoiceitem", "unit_amount_excluding_tax": fmt.Sprint(ii["unit_amount"])}
}

// invoiceObject is an invoice of sub with the given lines; its total is
// their sum, and the customer's balance (negative: a credit) is applied to
// it: what remains positive is due, a negative rest stays a credit.
func invoiceObject(id string, sub map[string]any, lines []map[string]any, reason string, balance, periodStart, periodEnd, now int64) map[string]any {
	var total int64
	data := make([]any, len(lines))
	for i, l := range lines {
		total += num(l["amount"])
		data[i] = l
	}
	due := max(total+balance, 0)
	url := "/v1/invoices/" + id + "/lines"
	if id == "" {
		url = "/v1/invoices/upcoming/lines"
	}
	return map[string]any{"id": nilIfEmpty(id), "object": "invoice", "customer": sub["customer"], "subscription": sub["id"],
		"currency": sub["currency"], "amount_due": due, "amount_paid": 0, "amount_remaining": due, "subtotal": total,
		"subtotal_excluding_tax": total, "total": total, "total_excluding_tax": total, "tax": nil, "starting_balance": balance,
		"ending_balance": nil, "billing_reason": reason, "collection_method": "charge_automatically", "created": now,
		"period_start": periodStart, "period_end": periodEnd, "livemode": sub["livemode"], "attempted": false,
		"attempt_count": 0, "paid": false, "status": "draft", "charge": nil, "payment_intent": nil,
		"hosted_invoice_url": nil, "invoice_pdf": nil, "number": nil, "discount": nil, "discounts": []any{},
		"next_payment_attempt": nil,
		"metadata":             map[string]any{}, "subscription_details": map[string]any{"metadata": sub["metadata"]},
		"lines": map[string]any{"object": "list", "has_more": false, "total_count": len(lines), "url": url, "data": data}}
}

// retryAfter is when Stripe tries a declined invoice again, in seconds.
const retryAfter = 3 * 86400

// collectLocked finalizes invoice inv and has card how ("succeeds",
// "declined", "requires_action"; "" for no card) pay it, storing both. It
// returns the events, from invoice.created on, and whether it was paid.
func (f *Fake) collectLocked(sc *scope, inv map[string]any, how string, now int64) ([]fakeEvent, bool) {
	id := inv["id"].(string)
	events := []fakeEvent{{typ: "invoice.created", object: cloneMap(inv)}}
	setAll(inv, map[string]any{"status": "open", "number": fmt.Sprintf("FAKE-%s", id[len(id)-4:]),
		"hosted_invoice_url": "https://invoice.stripe.com/i/fake/" + id, "invoice_pdf": "https://pay.stripe.com/invoice/fake/" + id + "/pdf",
		"ending_balance": min(num(inv["starting_balance"])+num(inv["total"]), 0), "effective_at": now})
	events = append(events, fakeEvent{typ: "invoice.finalized", object: cloneMap(inv)})
	events = append(events, f.setBalanceLocked(sc, fmt.Sprint(inv["customer"]), num(inv["ending_balance"]))...)
	amount := num(inv["amount_due"])
	if amount == 0 {
		setAll(inv, map[string]any{"status": "paid", "paid": true})
		f.storeLocked(sc, inv, "invoice")
		return append(events, fakeEvent{typ: "invoice.paid", object: cloneMap(inv)}), true
	}
	pi, ch := f.newIDLocked("pi_"), f.newIDLocked("ch_")
	intent := map[string]any{"id": pi, "customer": inv["customer"], "invoice": id, "amount": amount, "currency": inv["currency"],
		"created": now, "livemode": inv["livemode"], "metadata": map[string]any{}, "amount_received": 0}
	setAll(inv, map[string]any{"payment_intent": pi, "attempted": true, "attempt_count": 1})
	paid := false
	switch how {
	case "succeeds":
		paid = true
		setAll(inv, map[string]any{"status": "paid", "paid": true, "amount_paid": amount, "amount_remaining": 0, "charge": ch})
		setAll(intent, map[string]any{"status": "succeeded", "amount_received": amount, "latest_charge": ch})
		events = append(events, fakeEvent{typ: "invoice.paid", object: cloneMap(inv)}, fakeEvent{typ: "payment_intent.succeeded", object: cloneMap(intent)})
	case "requires_action":
		setAll(intent, map[string]any{"status": "requires_action", "next_action": map[string]any{"type": "use_stripe_sdk"}})
		events = append(events, fakeEvent{typ: "invoice.payment_action_required", object: cloneMap(inv)})
	default:
		setAll(inv, map[string]any{"charge": ch, "next_payment_attempt": now + retryAfter})
		setAll(intent, map[string]any{"status": "requires_payment_method", "last_payment_error": map[string]any{
			"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds.", "charge": ch}})
		events = append(events, fakeEvent{typ: "invoice.payment_failed", object: cloneMap(inv)}, fakeEvent{typ: "payment_intent.payment_failed", object: cloneMap(intent)})
	}
	f.storeLocked(sc, inv, "invoice")
	f.storeLocked(sc, intent, "payment_intent")
	return events, paid
}

// cardOfLocked is how the subscription's default payment method pays.
func cardOfLocked(st *subscriptionState, sub map[string]any) string {
	pm, _ := sub["default_payment_method"].(string)
	return st.cards[pm]
}

// changeLinesLocked returns the lines change c bills at once or as
// pending items: under create_prorations and always_invoice, a credit for
// the unused time of each item that changes or goes and a charge for the
// remaining time of each new or changed one, from the proration date to
// the period end; none of them under none. An interval change also bills
// the new period of every item from now, and credits every old item. A
// trial bills nothing.
func (f *Fake) changeLinesLocked(sc *scope, sub map[string]any, c *change, now int64) []line {
	if sub["status"] == "trialing" {
		return nil
	}
	start, end := num(sub["current_period_start"]), num(sub["current_period_end"])
	credited, charged := c.credited, c.charged
	if c.reset {
		credited, charged = c.old, nil
	}
	var out []line
	if c.behavior != "none" {
		for _, it := range credited {
			if price, _ := it["price"].(map[string]any); !metered(price) {
				out = append(out, f.creditLineLocked(sc, it, c.at, start, end))
			}
		}
		for _, it := range charged {
			if price, _ := it["price"].(map[string]any); !metered(price) {
				out = append(out, f.chargeLineLocked(sc, it, c.at, start, end))
			}
		}
	}
	if c.reset {
		out = append(out, f.periodLinesLocked(sc, c.items, now)...)
	}
	return out
}

// periodLinesLocked bills the period of items that starts at start.
func (f *Fake) periodLinesLocked(sc *scope, items []map[string]any, start int64) []line {
	var out []line
	for _, it := range items {
		price, _ := it["price"].(map[string]any)
		if metered(price) {
			continue
		}
		rec, _ := price["recurring"].(map[string]any)
		out = append(out, f.periodLineLocked(sc, it, start, periodEnd(start, rec)))
	}
	return out
}

// invoicesNow reports whether change c, billing lines, makes an invoice at
// once: an interval change out of a trial, or prorations under
// always_invoice.
func invoicesNow(sub map[string]any, c *change, lines []line) bool {
	if sub["status"] == "trialing" {
		return false
	}
	return c.reset || c.behavior == "always_invoice" && len(lines) > 0
}

// balanceLocked is a customer's balance: negative is a credit that pays
// the next invoices.
func balanceLocked(sc *scope, customer string) int64 {
	return sc.subscriptionsLocked().balances[customer]
}

// setBalanceLocked sets a customer's balance, on the stored customer too,
// and returns the customer.updated event of a change.
func (f *Fake) setBalanceLocked(sc *scope, customer string, balance int64) []fakeEvent {
	st := sc.subscriptionsLocked()
	old := st.balances[customer]
	if old == balance {
		return nil
	}
	if st.balances == nil {
		st.balances = map[string]int64{}
	}
	st.balances[customer] = balance
	c := storedMapLocked(sc, "customer", customer)
	if c == nil {
		return nil
	}
	c["balance"] = balance
	f.storeLocked(sc, c, "customer")
	return []fakeEvent{{typ: "customer.updated", object: c, previous: map[string]any{"balance": old}}}
}
