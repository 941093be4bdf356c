package webhooks

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// projector turns one event into the rows it writes to the payment tables.
// obj is the object to apply (the event's, or a fresh fetch), as of at. It
// reads nothing: the rows of many events go to PostgreSQL together (see
// plan). Its error means the payload cannot be projected.
type projector func(q *plan, env vocab.Env, e *Event, obj json.RawMessage, at time.Time) error

// mappingKey is a subject paid for by a customer, in one environment.
type mappingKey struct {
	env                  vocab.Env
	subjectType, subject string
	customer             string
}

var projectors = map[string]projector{}

func init() {
	for _, t := range []string{"customer.created", "customer.updated"} {
		projectors[t] = mirror(vocab.Customers, "")
	}
	projectors["customer.deleted"] = mirror(vocab.Customers, "deleted")
	for _, t := range []string{"product.created", "product.updated"} {
		projectors[t] = mirror(vocab.Products, "")
	}
	projectors["product.deleted"] = mirror(vocab.Products, "inactive")
	for _, t := range []string{"price.created", "price.updated"} {
		projectors[t] = projectPrice("")
	}
	projectors["price.deleted"] = projectPrice("inactive")
	for _, t := range []string{"created", "updated", "deleted", "paused", "resumed", "trial_will_end"} {
		projectors["customer.subscription."+t] = projectSubscription
	}
	for _, t := range []string{"completed", "async_payment_succeeded", "async_payment_failed", "expired"} {
		projectors["checkout.session."+t] = projectCheckout
	}
	for _, t := range []string{"created", "finalized", "updated", "paid", "payment_failed", "payment_action_required",
		"voided", "marked_uncollectible"} {
		projectors["invoice."+t] = projectInvoice
	}
	for _, t := range []string{"payment_intent.succeeded", "payment_intent.payment_failed"} {
		projectors[t] = projectPaymentIntent
	}
	projectors["charge.refunded"] = projectChargeRefunded
	for _, t := range []string{"refund.created", "refund.updated"} {
		projectors[t] = projectRelated("refund")
	}
	for _, t := range []string{"charge.dispute.created", "charge.dispute.closed"} {
		projectors[t] = projectRelated("dispute")
	}
	projectors[EntitlementSummaryType] = projectEntitlementSummary
}

// EntitlementSummaryType is the event that carries a customer's active
// entitlements (the lookup keys of the features Stripe says it may use).
const EntitlementSummaryType = "entitlements.active_entitlement_summary.updated"

// projectEntitlementSummary stores a customer's active entitlements. A
// truncated summary (has_more) never gets here: the processor fetches the
// whole list first, so a partial list never revokes a feature.
func projectEntitlementSummary(q *plan, env vocab.Env, e *Event, obj json.RawMessage, at time.Time) error {
	sum, err := store.ParseEntitlementSummary(obj)
	if err != nil {
		return err
	}
	if sum.HasMore {
		return fmt.Errorf("customer %s: %w", sum.Customer, store.ErrEntitlementSummaryTruncated)
	}
	if sum.Livemode != (env == vocab.Live) {
		return fmt.Errorf("entitlement summary of customer %s has livemode %v in the %s environment", sum.Customer, sum.Livemode, env)
	}
	q.Summaries = append(q.Summaries, store.SummaryRow{Env: env, Customer: sum.Customer, Object: obj, At: at, Event: q.ev})
	return nil
}

// Types lists the event types billwire projects: the managed endpoint's
// enabled events.
func Types() []string {
	ts := make([]string, 0, len(projectors))
	for t := range projectors {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// Projects reports whether billwire projects events of type t.
func Projects(t string) bool { _, ok := projectors[t]; return ok }

// FetchPath is the Stripe API path that returns the event's object, for
// objects whose state an event replaces whole.
func (e *Event) FetchPath() (string, bool) {
	if !store.ReplacesState(e.ObjectType) {
		return "", false
	}
	return stripeapi.ObjectPath(e.ObjectType, e.ObjectID)
}

func mirror(kind vocab.Kind, mark string) projector {
	return func(q *plan, env vocab.Env, e *Event, obj json.RawMessage, at time.Time) error {
		switch mark {
		case "deleted":
			obj = withField(obj, "deleted", true)
		case "inactive":
			obj = withField(obj, "active", false)
		}
		q.object(kind, obj, at)
		if kind == vocab.Customers {
			var c customerFields
			if err := c.scan(obj); err != nil {
				return err
			}
			mapSubject(q, env, subjectOf(c.Metadata, ""), c.ID)
		}
		return nil
	}
}

// projectPrice stores a price, with a placeholder for a product not seen yet
// (its product event may still be on the way); the product's own event or a
// sync fills it in.
func projectPrice(mark string) projector {
	return func(q *plan, env vocab.Env, e *Event, obj json.RawMessage, at time.Time) error {
		var p priceFields
		if err := p.scan(obj); err != nil {
			return err
		}
		if p.Product == "" {
			return fmt.Errorf("price %s has no product", e.ObjectID)
		}
		q.Placeholders = append(q.Placeholders, store.PlaceholderRow{Env: q.env, Product: string(p.Product), Livemode: p.Livemode, At: at, Event: q.ev})
		if mark == "inactive" {
			obj = withField(obj, "active", false)
		}
		q.object(vocab.Prices, obj, at)
		return nil
	}
}

func projectSubscription(q *plan, env vocab.Env, e *Event, obj json.RawMessage, at time.Time) error {
	var s subscriptionFields
	if err := s.scan(obj); err != nil {
		return err
	}
	// The mapping first, so a subscription without subject metadata still finds its subject.
	mapSubject(q, env, subjectOf(s.Metadata, ""), string(s.Customer))
	q.object(vocab.Subscriptions, obj, at)
	return nil
}

// subject is who pays: a user or a team of the app.
type subject struct{ typ, id string }

// subjectOf reads the subject from metadata, else from a client reference
// of the form "type:id".
func subjectOf(meta map[string]string, clientRef string) subject {
	if t, id := meta[vocab.MetaSubjectType], meta[vocab.MetaSubjectID]; t != "" && id != "" {
		return subject{t, id}
	}
	if t, id, ok := strings.Cut(clientRef, ":"); ok && t != "" && id != "" {
		return subject{t, id}
	}
	return subject{}
}

// mapSubject records (or confirms) that customer pays for sub. A subject or
// customer already mapped elsewhere keeps its mapping. A pair this process
// has settled before costs nothing.
func mapSubject(q *plan, env vocab.Env, sub subject, customer string) {
	if sub.typ == "" || customer == "" {
		return
	}
	key := mappingKey{env, sub.typ, sub.id, customer}
	if q.settled != nil && q.settled(key) {
		return
	}
	q.mapped = append(q.mapped, key)
	q.Mappings = append(q.Mappings, store.MappingRow{Env: env, SubjectType: sub.typ, Subject: sub.id, Customer: customer, Event: q.ev})
}

// billwireRow is the session API's row named in a session's metadata, 0
// when there is none.
func billwireRow(meta map[string]string) int64 {
	id, err := strconv.ParseInt(meta[vocab.MetaCheckoutID], 10, 64)
	if err != nil || id < 1 {
		return 0
	}
	return id
}

func projectCheckout(q *plan, env vocab.Env, e *Event, obj json.RawMessage, at time.Time) error {
	var cs checkoutFields
	if err := cs.scan(obj); err != nil {
		return err
	}
	sub := subjectOf(cs.Metadata, cs.ClientReferenceID)
	mapSubject(q, env, sub, string(cs.Customer))
	q.Checkouts = append(q.Checkouts, store.CheckoutRow{Env: env, StripeID: cs.ID, Mode: str(cs.Mode), Status: cs.Status,
		PaymentStatus: str(cs.PaymentStatus), Customer: cs.Customer.ptr(), Subscription: cs.Subscription.ptr(),
		PaymentIntent: cs.PaymentIntent.ptr(), ClientReferenceID: str(cs.ClientReferenceID), SubjectType: str(sub.typ),
		SubjectID: str(sub.id), AmountTotal: cs.AmountTotal, Currency: str(cs.Currency), Data: obj, At: at, Event: q.ev,
		Row: billwireRow(cs.Metadata), LineItems: q.lineItems})
	if cs.Mode != "payment" {
		return nil // subscription payments arrive as invoices
	}
	p := payment{key: string(cs.PaymentIntent), kind: "payment", amount: cs.AmountTotal, currency: cs.Currency,
		customer: string(cs.Customer), sub: sub, paymentIntent: string(cs.PaymentIntent), checkoutSession: cs.ID,
		occurred: time.Unix(cs.Created, 0), at: at, eventID: e.ID}
	if p.key == "" {
		p.key = cs.ID
	}
	switch {
	case e.Type == "checkout.session.async_payment_failed":
		p.status = "failed"
		p.failureMessage = "the delayed payment method failed"
	case cs.PaymentStatus == "paid" || e.Type == "checkout.session.async_payment_succeeded":
		p.status = "succeeded"
	default:
		return nil // unpaid (an async method still pending) or expired: no money moved
	}
	q.payment(env, p)
	return nil
}

// payment is one row of payment history.
type payment struct {
	key, kind, status                    string
	amount, amountRefunded               int64
	currency, customer                   string
	sub                                  subject
	invoice, subscription, paymentIntent string
	charge, checkoutSession              string
	failureCode, failureMessage, reason  string
	failure                              bool
	occurred, at                         time.Time
	eventID                              string
}

func projectInvoice(q *plan, env vocab.Env, e *Event, obj json.RawMessage, at time.Time) error {
	var in invoiceFields
	if err := in.scan(obj); err != nil {
		return err
	}
	if in.Subscription == "" {
		in.Subscription = in.Parent.SubscriptionDetails.Subscription
	}
	sub := subjectOf(in.SubscriptionDetails.Metadata, "")
	if sub.typ == "" {
		sub = subjectOf(in.Parent.SubscriptionDetails.Metadata, "")
	}
	if sub.typ == "" {
		sub = subjectOf(in.Metadata, "")
	}
	mapSubject(q, env, sub, string(in.Customer))
	q.Invoices = append(q.Invoices, store.ObjectRow{Env: env, ID: in.ID, Object: obj, At: at, Event: q.ev})
	p := payment{key: string(in.PaymentIntent), kind: "payment", currency: in.Currency, customer: string(in.Customer), sub: sub,
		invoice: in.ID, subscription: string(in.Subscription), paymentIntent: string(in.PaymentIntent), charge: string(in.Charge),
		occurred: time.Unix(in.Created, 0), at: at, eventID: e.ID}
	if p.key == "" {
		p.key = in.ID
	}
	switch e.Type {
	case "invoice.paid":
		if in.AmountPaid == 0 {
			return nil // nothing was charged (a trial or a fully discounted invoice)
		}
		p.status, p.amount = "succeeded", in.AmountPaid
	case "invoice.payment_failed":
		p.status, p.amount = "failed", in.AmountDue
		p.failureMessage = fmt.Sprintf("invoice payment attempt %d failed", in.AttemptCount)
		if in.LastFinalizationError != nil {
			p.failureCode, p.failureMessage = in.LastFinalizationError.Code, in.LastFinalizationError.Message
		}
	case "invoice.payment_action_required":
		p.status, p.amount = "requires_action", in.AmountDue
	default:
		return nil // the invoice's state only: no payment was attempted
	}
	q.payment(env, p)
	return nil
}

func projectPaymentIntent(q *plan, env vocab.Env, e *Event, obj json.RawMessage, at time.Time) error {
	var pi paymentIntentFields
	if err := pi.scan(obj); err != nil {
		return err
	}
	sub := subjectOf(pi.Metadata, "")
	mapSubject(q, env, sub, string(pi.Customer))
	p := payment{key: pi.ID, kind: "payment", currency: pi.Currency, customer: string(pi.Customer), sub: sub,
		invoice: string(pi.Invoice), paymentIntent: pi.ID, charge: string(pi.LatestCharge),
		occurred: time.Unix(pi.Created, 0), at: at, eventID: e.ID}
	if e.Type == "payment_intent.succeeded" {
		p.status, p.amount = "succeeded", pi.AmountReceived
		if p.amount == 0 {
			p.amount = pi.Amount
		}
	} else {
		p.status, p.amount, p.failure = "failed", pi.Amount, true
		p.failureMessage = "the payment failed"
		if le := pi.LastPaymentError; le != nil {
			p.failureCode, p.failureMessage = le.Code, le.Message
			if le.DeclineCode != "" {
				p.failureCode = le.DeclineCode
			}
		}
	}
	q.payment(env, p)
	return nil
}

func projectChargeRefunded(q *plan, env vocab.Env, e *Event, obj json.RawMessage, at time.Time) error {
	var ch chargeFields
	if err := ch.scan(obj); err != nil {
		return err
	}
	p := payment{key: string(ch.PaymentIntent), kind: "payment", amount: ch.Amount, amountRefunded: ch.AmountRefunded,
		currency: ch.Currency, customer: string(ch.Customer), invoice: string(ch.Invoice), paymentIntent: string(ch.PaymentIntent),
		charge: ch.ID, occurred: time.Unix(ch.Created, 0), at: at, eventID: e.ID, status: "partially_refunded"}
	if p.key == "" {
		p.key = ch.ID
	}
	if ch.AmountRefunded >= ch.Amount {
		p.status = "refunded"
	}
	q.payment(env, p)
	return nil
}

// projectRelated stores a refund or dispute: a row of its own, keyed by its
// id, tied to the payment it belongs to.
func projectRelated(kind string) projector {
	return func(q *plan, env vocab.Env, e *Event, obj json.RawMessage, at time.Time) error {
		var o relatedFields
		if err := o.scan(obj); err != nil {
			return err
		}
		q.payment(env, payment{key: o.ID, kind: kind, status: o.Status, amount: o.Amount, currency: o.Currency,
			paymentIntent: string(o.PaymentIntent), charge: string(o.Charge), reason: o.Reason, failureMessage: o.FailureReason,
			occurred: time.Unix(o.Created, 0), at: at, eventID: e.ID})
		return nil
	}
}
