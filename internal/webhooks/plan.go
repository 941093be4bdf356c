package webhooks

import (
	"encoding/json"
	"time"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// plan is what one event writes: its rows of the payment tables (a
// store.Projection, which a batch merges and turns into one statement per
// table), and the subject-customer pairs they settle.
type plan struct {
	// settled tells which subject-customer pairs need no mapping work
	// (nil: all do); mapped collects the pairs these rows settle.
	settled func(mappingKey) bool
	mapped  []mappingKey

	// env, ev and oid are the environment, the event id and the object id
	// of the rows being added.
	env     vocab.Env
	ev, oid string
	// lineItems are the fetched line items of the event's Checkout
	// Session, if any (see projectCheckout).
	lineItems json.RawMessage

	store.Projection
}

// merge adds the rows of r to q.
func (q *plan) merge(r *plan) {
	q.mapped = append(q.mapped, r.mapped...)
	q.Projection.Merge(&r.Projection)
}

// object adds the event's object, of kind, as of at.
func (q *plan) object(kind vocab.Kind, obj json.RawMessage, at time.Time) {
	q.Object(kind, store.ObjectRow{Env: q.env, ID: q.oid, Object: obj, At: at, Event: q.ev})
}

// payment adds a row of payment history.
func (q *plan) payment(env vocab.Env, p payment) {
	q.Payment(store.PaymentRow{Env: env, Key: p.key, Kind: p.kind, Status: p.status, Amount: p.amount, AmountRefunded: p.amountRefunded,
		Currency: p.currency, Customer: p.customer, SubjectType: p.sub.typ, SubjectID: p.sub.id, Invoice: p.invoice,
		Subscription: p.subscription, PaymentIntent: p.paymentIntent, Charge: p.charge, CheckoutSession: p.checkoutSession,
		FailureCode: p.failureCode, FailureMessage: p.failureMessage, Reason: p.reason, Failure: p.failure,
		Occurred: p.occurred, At: p.at, Event: p.eventID})
}
