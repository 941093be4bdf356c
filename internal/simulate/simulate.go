// Package simulate tells billing stories as the Stripe events they would
// produce, for an agent's (or a developer's) own test loop where Stripe
// cannot reach billwire: a checkout completing, a renewal, a failed
// payment, a cancellation at period end, a subscription ending. Build
// returns the events, in the order Stripe sends them and in distinct
// seconds; Deliver signs them with the endpoint's secret and posts them to
// the running receiver, as Stripe would.
//
// Every object a story creates or changes carries vocab.MetaSimulated in
// its metadata, so that sync and reconcile never take it for an object
// missing from Stripe, and so that it can be cleared.
package simulate

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// Scenario is a billing story.
type Scenario string

// The stories.
const (
	// CheckoutCompleted: a new subscription paid through Checkout.
	CheckoutCompleted Scenario = "checkout_completed"
	// Renewal: the next period's invoice paid.
	Renewal Scenario = "renewal"
	// PaymentFailed: the next period's invoice declined; the subscription
	// goes past_due.
	PaymentFailed Scenario = "payment_failed"
	// Canceled: the customer cancels; the subscription ends at the end of
	// the period (it stays active until then).
	Canceled Scenario = "canceled"
	// Deleted: the subscription ends now (canceled at once, or its period
	// ran out after a cancellation).
	Deleted Scenario = "deleted"
)

// Scenarios lists every story, in the order they can follow each other.
var Scenarios = []Scenario{CheckoutCompleted, Renewal, PaymentFailed, Canceled, Deleted}

// ParseScenario validates a scenario name.
func ParseScenario(s string) (Scenario, error) {
	for _, sc := range Scenarios {
		if string(sc) == s {
			return sc, nil
		}
	}
	names := make([]string, len(Scenarios))
	for i, sc := range Scenarios {
		names[i] = string(sc)
	}
	return "", fmt.Errorf("unknown scenario %q: use one of %s", s, strings.Join(names, ", "))
}

// Story is what a story is told about: the subject, the price it
// subscribes to and, for every scenario but CheckoutCompleted, the
// simulated subscription it continues.
type Story struct {
	Scenario Scenario
	// SubjectType and SubjectID name the subject (user or team) that pays.
	SubjectType, SubjectID string
	// CustomerID is the subject's Stripe customer; empty for a subject
	// without one, which CheckoutCompleted then creates (simulated).
	CustomerID string
	// Price is the Stripe price object the subscription bills (a recurring
	// price, as billwire mirrors it). CheckoutCompleted needs it.
	Price json.RawMessage
	// Subscription is the subscription object to continue (as billwire
	// mirrors it); it must be a simulated one.
	Subscription json.RawMessage
	// After is the time of the newest event already told about these
	// objects: the story's events come after it, so that billwire's
	// ordering guard takes them.
	After time.Time
	// Now is when the story happens; the zero time means time.Now().
	Now time.Time
}

// Event is one event of a story.
type Event struct {
	ID      string
	Type    string
	Created time.Time
	// Payload is the event as Stripe would post it.
	Payload []byte
}

// ErrNotSimulated means a story was asked to continue an object that
// billwire did not simulate: a real Stripe object.
var ErrNotSimulated = errors.New("not a simulated subscription")

// Build tells the story as the events Stripe would send, in order, one
// second apart, for API version eventfixtures.APIVersion (the version
// billwire pins).
func Build(s Story) ([]Event, error) {
	now := s.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.Truncate(time.Second)
	b := &builder{s: s, ids: map[string]string{}}
	var err error
	switch s.Scenario {
	case CheckoutCompleted:
		err = b.checkoutCompleted()
	case Renewal, PaymentFailed, Canceled, Deleted:
		err = b.continued()
	default:
		_, err = ParseScenario(string(s.Scenario))
	}
	if err != nil {
		return nil, err
	}
	// One second apart, ending now, and after what was told before.
	start := now.Add(-time.Duration(len(b.events)-1) * time.Second)
	if !s.After.IsZero() && !start.After(s.After) {
		start = s.After.Truncate(time.Second).Add(time.Second)
	}
	out := make([]Event, len(b.events))
	for i, e := range b.events {
		at := start.Add(time.Duration(i) * time.Second)
		obj := e.object(at.Unix())
		payload, err := eventfixtures.Event(e.typ, eventfixtures.Options{
			ID: "evt_sim_" + randomID(), Created: at.Unix(), Object: obj, Previous: e.previous,
			Replace: b.ids,
		})
		if err != nil {
			return nil, err
		}
		var head struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(payload, &head); err != nil {
			return nil, err
		}
		out[i] = Event{ID: head.ID, Type: e.typ, Created: at, Payload: payload}
	}
	return out, nil
}

// pending is an event to tell: its object is made at its time.
type pending struct {
	typ      string
	object   func(at int64) map[string]any
	previous map[string]any
}

type builder struct {
	s      Story
	ids    map[string]string // fixture ids to this story's
	events []pending
}

func (b *builder) add(typ string, previous map[string]any, object func(at int64) map[string]any) {
	b.events = append(b.events, pending{typ: typ, object: object, previous: previous})
}

// meta is the metadata of every object the story makes: the subject and
// the simulated mark.
func (b *builder) meta() map[string]any {
	return map[string]any{
		vocab.MetaSubjectType: b.s.SubjectType,
		vocab.MetaSubjectID:   b.s.SubjectID,
		vocab.MetaSimulated:   "true",
	}
}

// price is the fields of a recurring price a story bills.
type price struct {
	ID         string `json:"id"`
	Product    any    `json:"product"`
	Currency   string `json:"currency"`
	UnitAmount int64  `json:"unit_amount"`
	Type       string `json:"type"`
	Recurring  *struct {
		Interval      string `json:"interval"`
		IntervalCount int64  `json:"interval_count"`
		UsageType     string `json:"usage_type"`
	} `json:"recurring"`
}

func (p price) productID() string {
	switch v := p.Product.(type) {
	case string:
		return v
	case map[string]any:
		id, _ := v["id"].(string)
		return id
	}
	return ""
}

// next is the end of a period that starts at start.
func (p price) next(start int64) int64 {
	n := int(p.Recurring.IntervalCount)
	if n < 1 {
		n = 1
	}
	t := time.Unix(start, 0).UTC()
	switch p.Recurring.Interval {
	case "day":
		t = t.AddDate(0, 0, n)
	case "week":
		t = t.AddDate(0, 0, 7*n)
	case "year":
		t = t.AddDate(n, 0, 0)
	default:
		t = t.AddDate(0, n, 0)
	}
	return t.Unix()
}

func (b *builder) checkoutCompleted() error {
	if b.s.SubjectType == "" || b.s.SubjectID == "" {
		return errors.New("a story needs a subject: type and id")
	}
	var raw map[string]any
	var p price
	if err := json.Unmarshal(b.s.Price, &raw); err != nil || json.Unmarshal(b.s.Price, &p) != nil || p.ID == "" {
		return errors.New("checkout_completed needs the price object the subscription bills")
	}
	if p.Type != "recurring" || p.Recurring == nil {
		return fmt.Errorf("price %s is not recurring: a subscription story needs a recurring price", p.ID)
	}
	if p.Recurring.UsageType == "metered" {
		return fmt.Errorf("price %s is metered: simulate a licensed price", p.ID)
	}
	cus := b.s.CustomerID
	newCustomer := cus == ""
	if newCustomer {
		cus = "cus_sim_" + randomID()
	}
	sub, si := "sub_sim_"+randomID(), "si_sim_"+randomID()
	inv, pi, ch, cs := "in_sim_"+randomID(), "pi_sim_"+randomID(), "ch_sim_"+randomID(), "cs_test_sim_"+randomID()
	maps.Copy(b.ids, map[string]string{
		"cus_Fixture1": cus, "sub_Fixture1": sub, "si_Fixture1": si, "in_Fixture1": inv, "pi_Fixture1": pi,
		"ch_Fixture1": ch, "cs_test_Fixture1": cs, "price_Fixture1": p.ID, "prod_Fixture1": p.productID(),
	})
	meta := b.meta()
	if newCustomer {
		b.add("customer.created", nil, func(at int64) map[string]any {
			return map[string]any{"id": cus, "created": at, "metadata": meta,
				"email": "simulated+" + b.s.SubjectID + "@example.com", "name": "Simulated " + b.s.SubjectType + " " + b.s.SubjectID}
		})
	}
	var start int64
	subscription := func(at int64) map[string]any {
		if start == 0 {
			start = at
		}
		return map[string]any{
			"id": sub, "customer": cus, "status": "active", "currency": p.Currency, "metadata": meta,
			"created": start, "start_date": start, "billing_cycle_anchor": start,
			"current_period_start": start, "current_period_end": p.next(start), "latest_invoice": inv,
			"items": items(sub, si, raw, start),
		}
	}
	b.add("customer.subscription.created", nil, subscription)
	b.add("invoice.paid", nil, func(at int64) map[string]any {
		return invoice(inv, cus, sub, pi, ch, "subscription_create", "paid", p, raw, start, p.next(start), at, meta)
	})
	b.add("payment_intent.succeeded", nil, func(at int64) map[string]any {
		return paymentIntent(pi, cus, inv, ch, "succeeded", p, at, meta)
	})
	b.add("checkout.session.completed", nil, func(at int64) map[string]any {
		return map[string]any{
			"id": cs, "customer": cus, "subscription": sub, "invoice": inv, "mode": "subscription",
			"status": "complete", "payment_status": "paid", "client_reference_id": b.s.SubjectType + ":" + b.s.SubjectID,
			"amount_subtotal": p.UnitAmount, "amount_total": p.UnitAmount, "currency": p.Currency,
			"created": start - 1, "expires_at": start + 86400, "metadata": meta,
		}
	})
	return nil
}

// continued tells a story about an existing simulated subscription.
func (b *builder) continued() error {
	var sub map[string]any
	if err := json.Unmarshal(b.s.Subscription, &sub); err != nil || sub == nil {
		return fmt.Errorf("%s continues a subscription: the subject has no simulated subscription to this price yet; simulate checkout_completed first", b.s.Scenario)
	}
	md, _ := sub["metadata"].(map[string]any)
	if md[vocab.MetaSimulated] != "true" {
		return fmt.Errorf("subscription %v: %w; it lives in Stripe, so change it there (cancel_test_subscription) and let Stripe send the events", sub["id"], ErrNotSimulated)
	}
	status, _ := sub["status"].(string)
	if status == "canceled" || status == "incomplete_expired" {
		return fmt.Errorf("subscription %v has ended (%s): simulate checkout_completed for a new one", sub["id"], status)
	}
	id, _ := sub["id"].(string)
	cus := ref(sub["customer"])
	itemsList, _ := sub["items"].(map[string]any)
	data, _ := itemsList["data"].([]any)
	if len(data) == 0 {
		return fmt.Errorf("subscription %s has no items", id)
	}
	first, _ := data[0].(map[string]any)
	rawPrice, _ := first["price"].(map[string]any)
	pj, _ := json.Marshal(rawPrice)
	var p price
	if json.Unmarshal(pj, &p) != nil || p.Recurring == nil {
		return fmt.Errorf("subscription %s: its first item has no recurring price", id)
	}
	periodEnd := num(sub["current_period_end"])
	periodStart := num(sub["current_period_start"])
	maps.Copy(b.ids, map[string]string{"cus_Fixture1": cus, "sub_Fixture1": id, "price_Fixture1": p.ID, "prod_Fixture1": p.productID()})
	meta := b.meta()
	changed := func(over map[string]any) func(int64) map[string]any {
		return func(int64) map[string]any {
			o := maps.Clone(sub)
			maps.Copy(o, over)
			return o
		}
	}
	switch b.s.Scenario {
	case Renewal, PaymentFailed:
		inv, pi, ch := "in_sim_"+randomID(), "pi_sim_"+randomID(), "ch_sim_"+randomID()
		maps.Copy(b.ids, map[string]string{"in_Fixture1": inv, "pi_Fixture1": pi, "ch_Fixture1": ch, "ch_FixtureDeclined": ch})
		next := p.next(periodEnd)
		if b.s.Scenario == Renewal {
			b.add("invoice.paid", nil, func(at int64) map[string]any {
				return invoice(inv, cus, id, pi, ch, "subscription_cycle", "paid", p, rawPrice, periodEnd, next, at, meta)
			})
			b.add("payment_intent.succeeded", nil, func(at int64) map[string]any {
				return paymentIntent(pi, cus, inv, ch, "succeeded", p, at, meta)
			})
			b.add("customer.subscription.updated",
				map[string]any{"current_period_start": periodStart, "current_period_end": periodEnd, "latest_invoice": sub["latest_invoice"]},
				changed(map[string]any{"status": "active", "current_period_start": periodEnd, "current_period_end": next, "latest_invoice": inv}))
			return nil
		}
		b.add("invoice.payment_failed", nil, func(at int64) map[string]any {
			return invoice(inv, cus, id, pi, ch, "subscription_cycle", "open", p, rawPrice, periodEnd, next, at, meta)
		})
		b.add("payment_intent.payment_failed", nil, func(at int64) map[string]any {
			return paymentIntent(pi, cus, inv, ch, "requires_payment_method", p, at, meta)
		})
		b.add("customer.subscription.updated",
			map[string]any{"status": status, "current_period_start": periodStart, "current_period_end": periodEnd, "latest_invoice": sub["latest_invoice"]},
			changed(map[string]any{"status": "past_due", "current_period_start": periodEnd, "current_period_end": next, "latest_invoice": inv}))
	case Canceled:
		b.add("customer.subscription.updated",
			map[string]any{"cancel_at_period_end": false, "cancel_at": nil, "canceled_at": nil},
			func(at int64) map[string]any {
				return changed(map[string]any{"cancel_at_period_end": true, "cancel_at": periodEnd, "canceled_at": at,
					"cancellation_details": map[string]any{"comment": nil, "feedback": nil, "reason": "cancellation_requested"}})(at)
			})
	case Deleted:
		b.add("customer.subscription.deleted", nil, func(at int64) map[string]any {
			canceledAt := sub["canceled_at"]
			if canceledAt == nil {
				canceledAt = at
			}
			return changed(map[string]any{"status": "canceled", "ended_at": at, "canceled_at": canceledAt,
				"cancellation_details": map[string]any{"comment": nil, "feedback": nil, "reason": "cancellation_requested"}})(at)
		})
	}
	return nil
}

// items is a subscription's item list for one price, quantity 1.
func items(sub, si string, rawPrice map[string]any, created int64) map[string]any {
	return map[string]any{
		"object": "list", "has_more": false, "total_count": 1, "url": stripeapi.SubscriptionItemsURL(sub),
		"data": []any{map[string]any{
			"id": si, "object": "subscription_item", "billing_thresholds": nil, "created": created,
			"discounts": []any{}, "metadata": map[string]any{}, "plan": plan(rawPrice), "price": rawPrice,
			"quantity": 1, "subscription": sub, "tax_rates": []any{},
		}},
	}
}

// plan is the legacy plan object Stripe still sends beside a price.
func plan(rawPrice map[string]any) map[string]any {
	rec, _ := rawPrice["recurring"].(map[string]any)
	return map[string]any{
		"id": rawPrice["id"], "object": "plan", "active": rawPrice["active"], "aggregate_usage": nil,
		"amount": rawPrice["unit_amount"], "amount_decimal": rawPrice["unit_amount_decimal"],
		"billing_scheme": rawPrice["billing_scheme"], "created": rawPrice["created"], "currency": rawPrice["currency"],
		"interval": rec["interval"], "interval_count": rec["interval_count"], "livemode": rawPrice["livemode"],
		"metadata": rawPrice["metadata"], "meter": nil, "nickname": rawPrice["nickname"], "product": rawPrice["product"],
		"tiers_mode": nil, "transform_usage": nil, "trial_period_days": nil, "usage_type": rec["usage_type"],
	}
}

// invoice is a subscription invoice of one price for the period
// [start, end), paid or open (declined).
func invoice(id, cus, sub, pi, ch, reason, status string, p price, rawPrice map[string]any, start, end, at int64, meta map[string]any) map[string]any {
	paid := status == "paid"
	amountPaid, remaining, attempts := p.UnitAmount, int64(0), 1
	var charge any = ch
	if !paid {
		amountPaid, remaining = 0, p.UnitAmount
	}
	line := map[string]any{
		"id": "il_sim_" + randomID(), "object": "line_item", "amount": p.UnitAmount, "amount_excluding_tax": p.UnitAmount,
		"currency": p.Currency, "description": "1 × subscription", "discount_amounts": []any{}, "discountable": true,
		"discounts": []any{}, "invoice": id, "invoice_item": nil, "livemode": false, "metadata": meta,
		"period": map[string]any{"start": start, "end": end}, "plan": plan(rawPrice), "price": rawPrice,
		"proration": false, "proration_details": map[string]any{"credited_items": nil}, "quantity": 1,
		"subscription": sub, "subscription_item": nil, "tax_amounts": []any{}, "tax_rates": []any{},
		"type": "subscription", "unit_amount_excluding_tax": fmt.Sprint(p.UnitAmount),
	}
	return map[string]any{
		"id": id, "customer": cus, "subscription": sub, "payment_intent": pi, "charge": charge,
		"billing_reason": reason, "status": status, "paid": paid, "attempted": true, "attempt_count": attempts,
		"amount_due": p.UnitAmount, "amount_paid": amountPaid, "amount_remaining": remaining,
		"subtotal": p.UnitAmount, "subtotal_excluding_tax": p.UnitAmount, "total": p.UnitAmount, "total_excluding_tax": p.UnitAmount,
		"currency": p.Currency, "created": at, "effective_at": at, "period_start": start, "period_end": end,
		"webhooks_delivered_at": at, "hosted_invoice_url": nil, "invoice_pdf": nil, "number": nil,
		"metadata": map[string]any{vocab.MetaSimulated: "true"}, "subscription_details": map[string]any{"metadata": meta},
		"lines": map[string]any{"object": "list", "data": []any{line}, "has_more": false, "total_count": 1,
			"url": stripeapi.InvoiceLinesURL(id)},
	}
}

// paymentIntent is the invoice's payment: succeeded, or declined
// (requires_payment_method, with the fixture's decline).
func paymentIntent(id, cus, inv, ch, status string, p price, at int64, meta map[string]any) map[string]any {
	o := map[string]any{
		"id": id, "customer": cus, "invoice": inv, "status": status, "amount": p.UnitAmount,
		"currency": p.Currency, "created": at, "metadata": map[string]any{vocab.MetaSimulated: "true"},
	}
	if status == "succeeded" {
		o["amount_received"], o["latest_charge"] = p.UnitAmount, ch
	} else {
		o["amount_received"] = 0
	}
	return o
}

func ref(v any) string {
	switch r := v.(type) {
	case string:
		return r
	case map[string]any:
		id, _ := r["id"].(string)
		return id
	}
	return ""
}

func num(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	case int64:
		return n
	}
	return 0
}

const idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomID() string {
	b := make([]byte, 14)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return string(b)
}
