package webhooks

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/store"
)

// projector turns one event into the statements that apply it to the
// payment tables. obj is the object to apply (the event's, or a fresh
// fetch), as of at. It reads nothing: every statement stands on its own, so
// a batch of events goes to PostgreSQL in one round trip. Its error means
// the payload cannot be projected.
type projector func(q *stmts, env store.Env, e *Event, obj json.RawMessage, at time.Time) error

// stmts collects statements to run in order.
type stmts struct {
	list []stmt
	// settled tells which subject-customer pairs need no mapping work
	// (nil: all do); mapped collects the pairs these statements settle.
	settled func(mappingKey) bool
	mapped  []mappingKey
}

// mappingKey is a subject paid for by a customer, in one environment.
type mappingKey struct {
	env                  store.Env
	subjectType, subject string
	customer             string
}

type stmt struct {
	sql  string
	args []any
}

func (q *stmts) add(sql string, args ...any) { q.list = append(q.list, stmt{sql, args}) }

func (q *stmts) upsert(env store.Env, kind store.Kind, obj json.RawMessage, at time.Time) {
	sql, args := store.UpsertStatement(env, kind, []json.RawMessage{obj}, at)
	q.add(sql, args...)
}

var projectors = map[string]projector{}

func init() {
	for _, t := range []string{"customer.created", "customer.updated"} {
		projectors[t] = mirror(store.Customers, "")
	}
	projectors["customer.deleted"] = mirror(store.Customers, "deleted")
	for _, t := range []string{"product.created", "product.updated"} {
		projectors[t] = mirror(store.Products, "")
	}
	projectors["product.deleted"] = mirror(store.Products, "inactive")
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
	for _, t := range []string{"invoice.paid", "invoice.payment_failed", "invoice.payment_action_required"} {
		projectors[t] = projectInvoice
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

// stateTables are the objects whose state an event replaces whole; two
// events about one of them in the same second cannot be ordered by their
// payload, so the object is fetched from Stripe instead.
var stateTables = map[string]struct{ table, key, path string }{
	"customer":         {"payments.customers", "id", "/v1/customers/"},
	"product":          {"payments.products", "id", "/v1/products/"},
	"price":            {"payments.prices", "id", "/v1/prices/"},
	"subscription":     {"payments.subscriptions", "id", "/v1/subscriptions/"},
	"checkout.session": {"payments.checkout_sessions", "stripe_id", "/v1/checkout/sessions/"},
}

// claimSQL records an event in the ledger unless it is there already (a
// failed one is claimed again; force, for replays, claims any). For objects
// whose state an event replaces whole, it first asks whether the stored
// object is from the same second: then nothing is claimed. It returns (tie,
// claimed). With precise, a tie also needs the stored data to differ from
// the event's ($13): the caller then fetches the object from Stripe.
// Without it (the batch path) a possible tie is handed to the one-event
// path, which asks precisely: comparing needs the object parsed as jsonb,
// which a batch should not pay for every event. The CASE keeps the planner
// from comparing whole documents before the cheap time test.
func claimSQL(objectType string, precise bool) string {
	tie := "false"
	if st, ok := stateTables[objectType]; ok {
		same := "true"
		if precise {
			same = "data IS DISTINCT FROM $13::jsonb"
		}
		tie = `$11 AND NOT EXISTS (SELECT 1 FROM payments.webhook_events WHERE id = $2 AND env = $1 AND status <> 'failed' AND NOT $10)
			AND EXISTS (SELECT 1 FROM ` + st.table + ` WHERE ` + st.key + ` = $6 AND env = $1
				AND CASE WHEN source_at = $12 THEN ` + same + ` ELSE false END)`
	}
	return `WITH tie AS (SELECT ` + tie + ` AS t),
		ins AS (
			INSERT INTO payments.webhook_events AS w (env, id, type, created, api_version, object_id, status, attempts, source, processed_at, payload)
			SELECT $1, $2, $3, $4, $5, $6, $7, 1, $8, now(), $9 WHERE NOT (SELECT t FROM tie)
			ON CONFLICT (id, env) DO UPDATE SET status = EXCLUDED.status, attempts = w.attempts + 1, last_error = NULL,
				processed_at = now(), source = EXCLUDED.source
			WHERE w.status = 'failed' OR $10
			RETURNING 1)
		SELECT (SELECT t FROM tie), EXISTS (SELECT 1 FROM ins)`
}

// FetchPath is the Stripe API path that returns the event's object, for
// objects whose state an event replaces whole.
func (e *Event) FetchPath() (string, bool) {
	st, ok := stateTables[e.ObjectType]
	if !ok || e.ObjectID == "" {
		return "", false
	}
	return st.path + e.ObjectID, true
}

func mirror(kind store.Kind, mark string) projector {
	return func(q *stmts, env store.Env, e *Event, obj json.RawMessage, at time.Time) error {
		switch mark {
		case "deleted":
			obj = withField(obj, "deleted", true)
		case "inactive":
			obj = withField(obj, "active", false)
		}
		q.upsert(env, kind, obj, at)
		if kind == store.Customers {
			var c struct {
				ID       string            `json:"id"`
				Metadata map[string]string `json:"metadata"`
			}
			if err := json.Unmarshal(obj, &c); err != nil {
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
	return func(q *stmts, env store.Env, e *Event, obj json.RawMessage, at time.Time) error {
		var p struct {
			Product  ref  `json:"product"`
			Livemode bool `json:"livemode"`
		}
		if err := json.Unmarshal(obj, &p); err != nil {
			return err
		}
		if p.Product == "" {
			return fmt.Errorf("price %s has no product", e.ObjectID)
		}
		q.add(`INSERT INTO payments.products (env, id, name, active, livemode, created, data, source_at)
			VALUES ($1, $2, '', true, $3, $4, '{}', '-infinity') ON CONFLICT (env, id) DO NOTHING`,
			env, string(p.Product), p.Livemode, at)
		if mark == "inactive" {
			obj = withField(obj, "active", false)
		}
		q.upsert(env, store.Prices, obj, at)
		return nil
	}
}

func projectSubscription(q *stmts, env store.Env, e *Event, obj json.RawMessage, at time.Time) error {
	var s struct {
		ID       string            `json:"id"`
		Customer ref               `json:"customer"`
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(obj, &s); err != nil {
		return err
	}
	// The mapping first, so a subscription without subject metadata still finds its subject.
	mapSubject(q, env, subjectOf(s.Metadata, ""), string(s.Customer))
	q.upsert(env, store.Subscriptions, obj, at)
	return nil
}

// subject is who pays: a user or a team of the app.
type subject struct{ typ, id string }

const (
	metaSubjectType = "billwire_subject_type"
	metaSubjectID   = "billwire_subject_id"
)

// subjectOf reads the subject from metadata, else from a client reference
// of the form "type:id".
func subjectOf(meta map[string]string, clientRef string) subject {
	if t, id := meta[metaSubjectType], meta[metaSubjectID]; t != "" && id != "" {
		return subject{t, id}
	}
	if t, id, ok := strings.Cut(clientRef, ":"); ok && t != "" && id != "" {
		return subject{t, id}
	}
	return subject{}
}

// mapSubject records (or confirms) that customer pays for sub. A subject or
// customer already mapped elsewhere keeps its mapping. A pair this process
// has settled before costs nothing; otherwise one statement that neither
// writes nor locks a mapping already confirmed.
func mapSubject(q *stmts, env store.Env, sub subject, customer string) {
	if sub.typ == "" || customer == "" {
		return
	}
	key := mappingKey{env, sub.typ, sub.id, customer}
	if q.settled != nil && q.settled(key) {
		return
	}
	q.mapped = append(q.mapped, key)
	q.add(`WITH ins AS (
			INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id, confirmed, confirmed_at)
			SELECT $1, $2, $3, $4, true, now()
			WHERE NOT EXISTS (SELECT 1 FROM payments.customer_mappings WHERE subject_id = $3 AND subject_type = $2 AND env = $1)
			  AND NOT EXISTS (SELECT 1 FROM payments.customer_mappings WHERE customer_id = $4 AND env = $1)
			ON CONFLICT DO NOTHING
			RETURNING 1)
		UPDATE payments.customer_mappings SET confirmed = true, confirmed_at = now()
		WHERE subject_id = $3 AND subject_type = $2 AND env = $1 AND customer_id = $4 AND NOT confirmed
		  AND NOT EXISTS (SELECT 1 FROM ins)`, env, sub.typ, sub.id, customer)
}

func projectCheckout(q *stmts, env store.Env, e *Event, obj json.RawMessage, at time.Time) error {
	var cs struct {
		ID                string            `json:"id"`
		Mode              string            `json:"mode"`
		Status            string            `json:"status"`
		PaymentStatus     string            `json:"payment_status"`
		Customer          ref               `json:"customer"`
		Subscription      ref               `json:"subscription"`
		PaymentIntent     ref               `json:"payment_intent"`
		ClientReferenceID string            `json:"client_reference_id"`
		AmountTotal       int64             `json:"amount_total"`
		Currency          string            `json:"currency"`
		Metadata          map[string]string `json:"metadata"`
		Created           int64             `json:"created"`
	}
	if err := json.Unmarshal(obj, &cs); err != nil {
		return err
	}
	sub := subjectOf(cs.Metadata, cs.ClientReferenceID)
	mapSubject(q, env, sub, string(cs.Customer))
	q.add(`
		INSERT INTO payments.checkout_sessions AS t (env, stripe_id, mode, status, payment_status, customer_id, subscription_id,
			payment_intent_id, client_reference_id, subject_type, subject_id, amount_total, currency, metadata, data, source_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, coalesce($14::jsonb, '{}'), $15, $16)
		ON CONFLICT (env, stripe_id) DO UPDATE SET mode = EXCLUDED.mode, status = EXCLUDED.status,
			payment_status = EXCLUDED.payment_status, customer_id = coalesce(EXCLUDED.customer_id, t.customer_id),
			subscription_id = coalesce(EXCLUDED.subscription_id, t.subscription_id),
			payment_intent_id = coalesce(EXCLUDED.payment_intent_id, t.payment_intent_id),
			client_reference_id = coalesce(EXCLUDED.client_reference_id, t.client_reference_id),
			subject_type = coalesce(t.subject_type, EXCLUDED.subject_type), subject_id = coalesce(t.subject_id, EXCLUDED.subject_id),
			amount_total = EXCLUDED.amount_total, currency = EXCLUDED.currency, metadata = EXCLUDED.metadata,
			data = EXCLUDED.data, source_at = EXCLUDED.source_at, updated_at = now()
		WHERE t.source_at <= EXCLUDED.source_at`,
		env, cs.ID, str(cs.Mode), cs.Status, str(cs.PaymentStatus), cs.Customer.ptr(), cs.Subscription.ptr(), cs.PaymentIntent.ptr(),
		str(cs.ClientReferenceID), str(sub.typ), str(sub.id), cs.AmountTotal, str(cs.Currency), cs.Metadata, obj, at)
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
	p.upsert(q, env)
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

// upsert merges the row with what other events said of the same money: the
// newer event sets the status (a success is never undone by a failure),
// references accumulate, refunds only grow. The subject comes from the
// payload, else from the customer's mapping; a refund or dispute inherits
// customer, subject, invoice and subscription from its payment.
func (p payment) upsert(q *stmts, env store.Env) {
	failures := 0
	if p.failure {
		failures = 1
	}
	q.add(`
		INSERT INTO payments.payment_history AS t (env, key, kind, status, amount, amount_refunded, currency, customer_id,
			subject_type, subject_id, invoice_id, subscription_id, payment_intent_id, charge_id, checkout_session_id,
			failure_code, failure_message, failures, reason, occurred_at, source_at, last_event_id)
		SELECT $1, $2, $3, $4, $5, $6, $7, c.customer_id,
			coalesce($9, parent.subject_type, (SELECT mm.subject_type FROM payments.customer_mappings mm
				WHERE mm.env = $1 AND mm.customer_id = c.customer_id)),
			coalesce($10, parent.subject_id, (SELECT mm.subject_id FROM payments.customer_mappings mm
				WHERE mm.env = $1 AND mm.customer_id = c.customer_id)),
			coalesce($11, parent.invoice_id), coalesce($12, parent.subscription_id),
			$13, $14, $15, $16, $17, $18, $19, $20, $21, $22
		FROM (SELECT 1) one
		LEFT JOIN LATERAL (
			(SELECT x.customer_id, x.subject_type, x.subject_id, x.invoice_id, x.subscription_id
			 FROM payments.payment_history x WHERE $3 <> 'payment' AND x.env = $1 AND x.key = $13 AND x.kind = 'payment')
			UNION ALL
			(SELECT x.customer_id, x.subject_type, x.subject_id, x.invoice_id, x.subscription_id
			 FROM payments.payment_history x WHERE $3 <> 'payment' AND x.charge_id = $14 AND x.env = $1 AND x.kind = 'payment')
			LIMIT 1) parent ON true
		CROSS JOIN LATERAL (SELECT coalesce($8, parent.customer_id) AS customer_id) c
		ON CONFLICT (env, key) DO UPDATE SET
			status = CASE
				WHEN t.status IN ('succeeded', 'refunded', 'partially_refunded') AND EXCLUDED.status IN ('failed', 'requires_action') THEN t.status
				WHEN EXCLUDED.source_at >= t.source_at THEN EXCLUDED.status
				ELSE t.status END,
			amount = CASE WHEN EXCLUDED.amount > 0 THEN EXCLUDED.amount ELSE t.amount END,
			amount_refunded = greatest(t.amount_refunded, EXCLUDED.amount_refunded),
			currency = coalesce(EXCLUDED.currency, t.currency),
			customer_id = coalesce(EXCLUDED.customer_id, t.customer_id),
			subject_type = coalesce(t.subject_type, EXCLUDED.subject_type),
			subject_id = coalesce(t.subject_id, EXCLUDED.subject_id),
			invoice_id = coalesce(EXCLUDED.invoice_id, t.invoice_id),
			subscription_id = coalesce(EXCLUDED.subscription_id, t.subscription_id),
			payment_intent_id = coalesce(EXCLUDED.payment_intent_id, t.payment_intent_id),
			charge_id = coalesce(EXCLUDED.charge_id, t.charge_id),
			checkout_session_id = coalesce(EXCLUDED.checkout_session_id, t.checkout_session_id),
			failure_code = CASE WHEN EXCLUDED.failure_message IS NOT NULL THEN EXCLUDED.failure_code ELSE t.failure_code END,
			failure_message = coalesce(EXCLUDED.failure_message, t.failure_message),
			failures = t.failures + EXCLUDED.failures,
			reason = coalesce(EXCLUDED.reason, t.reason),
			occurred_at = least(t.occurred_at, EXCLUDED.occurred_at),
			source_at = greatest(t.source_at, EXCLUDED.source_at),
			last_event_id = EXCLUDED.last_event_id,
			updated_at = now()`,
		env, p.key, p.kind, p.status, p.amount, p.amountRefunded, str(p.currency), str(p.customer),
		str(p.sub.typ), str(p.sub.id), str(p.invoice), str(p.subscription), str(p.paymentIntent), str(p.charge), str(p.checkoutSession),
		str(p.failureCode), str(p.failureMessage), failures, str(p.reason), p.occurred, p.at, p.eventID)
}

func projectInvoice(q *stmts, env store.Env, e *Event, obj json.RawMessage, at time.Time) error {
	var in struct {
		ID                  string            `json:"id"`
		AmountPaid          int64             `json:"amount_paid"`
		AmountDue           int64             `json:"amount_due"`
		Currency            string            `json:"currency"`
		Customer            ref               `json:"customer"`
		Subscription        ref               `json:"subscription"`
		PaymentIntent       ref               `json:"payment_intent"`
		Charge              ref               `json:"charge"`
		AttemptCount        int64             `json:"attempt_count"`
		Created             int64             `json:"created"`
		Metadata            map[string]string `json:"metadata"`
		SubscriptionDetails struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"subscription_details"`
		Parent struct { // newer API versions
			SubscriptionDetails struct {
				Subscription ref               `json:"subscription"`
				Metadata     map[string]string `json:"metadata"`
			} `json:"subscription_details"`
		} `json:"parent"`
		LastFinalizationError *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"last_finalization_error"`
	}
	if err := json.Unmarshal(obj, &in); err != nil {
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
	}
	p.upsert(q, env)
	return nil
}

func projectPaymentIntent(q *stmts, env store.Env, e *Event, obj json.RawMessage, at time.Time) error {
	var pi struct {
		ID               string            `json:"id"`
		Amount           int64             `json:"amount"`
		AmountReceived   int64             `json:"amount_received"`
		Currency         string            `json:"currency"`
		Customer         ref               `json:"customer"`
		Invoice          ref               `json:"invoice"`
		LatestCharge     ref               `json:"latest_charge"`
		Created          int64             `json:"created"`
		Metadata         map[string]string `json:"metadata"`
		LastPaymentError *struct {
			Code        string `json:"code"`
			DeclineCode string `json:"decline_code"`
			Message     string `json:"message"`
		} `json:"last_payment_error"`
	}
	if err := json.Unmarshal(obj, &pi); err != nil {
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
	p.upsert(q, env)
	return nil
}

func projectChargeRefunded(q *stmts, env store.Env, e *Event, obj json.RawMessage, at time.Time) error {
	var ch struct {
		ID             string `json:"id"`
		Amount         int64  `json:"amount"`
		AmountRefunded int64  `json:"amount_refunded"`
		Currency       string `json:"currency"`
		Customer       ref    `json:"customer"`
		Invoice        ref    `json:"invoice"`
		PaymentIntent  ref    `json:"payment_intent"`
		Created        int64  `json:"created"`
	}
	if err := json.Unmarshal(obj, &ch); err != nil {
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
	p.upsert(q, env)
	return nil
}

// projectRelated stores a refund or dispute: a row of its own, keyed by its
// id, tied to the payment it belongs to.
func projectRelated(kind string) projector {
	return func(q *stmts, env store.Env, e *Event, obj json.RawMessage, at time.Time) error {
		var o struct {
			ID            string `json:"id"`
			Amount        int64  `json:"amount"`
			Currency      string `json:"currency"`
			Status        string `json:"status"`
			Reason        string `json:"reason"`
			Charge        ref    `json:"charge"`
			PaymentIntent ref    `json:"payment_intent"`
			Created       int64  `json:"created"`
			FailureReason string `json:"failure_reason"` // refunds only
		}
		if err := json.Unmarshal(obj, &o); err != nil {
			return err
		}
		payment{key: o.ID, kind: kind, status: o.Status, amount: o.Amount, currency: o.Currency,
			paymentIntent: string(o.PaymentIntent), charge: string(o.Charge), reason: o.Reason, failureMessage: o.FailureReason,
			occurred: time.Unix(o.Created, 0), at: at, eventID: e.ID}.upsert(q, env)
		return nil
	}
}
