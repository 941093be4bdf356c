package store

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/billwire/billwire/internal/vocab"
)

// Projection gathers the rows that webhook events write, by statement, so
// that a batch of events costs one statement per table rather than one per
// event (the webhook engine, internal/webhooks, builds it; Queue turns it
// into statements). Every row names its event (Event): a statement writes
// only the rows of events that its transaction claimed in the ledger (see
// claimedRow), so the claims and the projections of a batch go to
// PostgreSQL in one round trip, before anyone knows which events are
// duplicates.
//
// The statements run in an order in which what a row reads is written
// before it: mappings, products, prices, customers, subscriptions,
// invoices, Checkout Sessions, payments, then refunds and disputes (which inherit from their
// payment). Two rows of one statement about the same row of a table would
// conflict (ON CONFLICT DO UPDATE cannot touch a row twice), so such rows go
// to successive statements, in event order: each statement sees what the
// one before wrote, exactly as if the events ran one after another.
type Projection struct {
	Mappings     []MappingRow
	Placeholders []PlaceholderRow
	Objects      [len(ProjectedKinds)][]ObjectRow
	Invoices     []ObjectRow // whole Stripe invoices
	Checkouts    []CheckoutRow
	Payments     []PaymentRow // kind payment
	Related      []PaymentRow // refunds and disputes
	Summaries    []SummaryRow // entitlement summaries
}

// ProjectedKinds are the mirrored objects that events replace whole, in
// the order their statements run (a price needs its product).
var ProjectedKinds = [...]vocab.Kind{vocab.Products, vocab.Prices, vocab.Customers, vocab.Subscriptions}

// MappingRow records (or confirms) that a customer pays for a subject.
type MappingRow struct {
	Env                  vocab.Env
	SubjectType, Subject string
	Customer             string
	Event                string
}

// PlaceholderRow is a product a price names, not seen yet.
type PlaceholderRow struct {
	Env      vocab.Env
	Product  string
	Livemode bool
	At       time.Time
	Event    string
}

// ObjectRow is a whole Stripe object, as of At.
type ObjectRow struct {
	Env    vocab.Env
	ID     string
	Object json.RawMessage
	At     time.Time
	Event  string
}

// CheckoutRow is a Checkout Session's state.
type CheckoutRow struct {
	Env                                   vocab.Env
	StripeID                              string
	Mode                                  *string
	Status                                string
	PaymentStatus, Customer, Subscription *string
	PaymentIntent, ClientReferenceID      *string
	SubjectType, SubjectID                *string
	AmountTotal                           int64
	Currency                              *string
	Data                                  json.RawMessage
	At                                    time.Time
	Event                                 string
	// Row is billwire's own row for the session (billwire_checkout_id in
	// its metadata), 0 for a session made elsewhere.
	Row int64
	// LineItems are what the session bought, fetched from Stripe before
	// the batch; nil when not fetched.
	LineItems json.RawMessage
}

// PaymentRow is what one event says of a payment, refund or dispute
// (Kind), keyed by Key.
type PaymentRow struct {
	Env                                  vocab.Env
	Key, Kind, Status                    string
	Amount, AmountRefunded               int64
	Currency, Customer                   string
	SubjectType, SubjectID               string
	Invoice, Subscription, PaymentIntent string
	Charge, CheckoutSession              string
	FailureCode, FailureMessage, Reason  string
	Failure                              bool
	Occurred, At                         time.Time
	Event                                string
}

// SummaryRow is a customer's active entitlement summary object.
type SummaryRow struct {
	Env      vocab.Env
	Customer string
	Object   json.RawMessage
	At       time.Time
	Event    string
}

// texts and jsons are array arguments that pgx encodes without reflection
// (nullable text, and JSON documents).
type (
	texts = pgtype.FlatArray[*string]
	jsons = pgtype.FlatArray[json.RawMessage]
)

// Merge adds the rows of r to q.
func (q *Projection) Merge(r *Projection) {
	q.Mappings = append(q.Mappings, r.Mappings...)
	q.Placeholders = append(q.Placeholders, r.Placeholders...)
	for i := range q.Objects {
		q.Objects[i] = append(q.Objects[i], r.Objects[i]...)
	}
	q.Invoices = append(q.Invoices, r.Invoices...)
	q.Checkouts = append(q.Checkouts, r.Checkouts...)
	q.Payments = append(q.Payments, r.Payments...)
	q.Related = append(q.Related, r.Related...)
	q.Summaries = append(q.Summaries, r.Summaries...)
}

// Object adds a whole object of kind.
func (q *Projection) Object(kind vocab.Kind, r ObjectRow) {
	for i, k := range ProjectedKinds {
		if k == kind {
			q.Objects[i] = append(q.Objects[i], r)
			return
		}
	}
	panic("store: no statement for objects of kind " + string(kind))
}

// Payment adds a payment, refund or dispute.
func (q *Projection) Payment(r PaymentRow) {
	if r.Kind == "payment" {
		q.Payments = append(q.Payments, r)
	} else {
		q.Related = append(q.Related, r)
	}
}

// ProjectionStatements are every statement a webhook batch may hold (see
// QueueClaims and Queue), by name: the webhook engine's connections
// prepare them.
func ProjectionStatements() map[string]string {
	m := map[string]string{"batch claim": batchClaimSQL, "mappings": batchMappingSQL, "placeholders": placeholderSQL, "adoptions": adoptSQL,
		"invoices": invoiceSQL, "checkouts": checkoutSQL, "line items": lineItemsSQL, "payments": paymentSQL, "entitlement summaries": summarySQL}
	for i, k := range ProjectedKinds {
		m[string(k)] = objectSQL[i]
	}
	return m
}

// PlannerSettings make the statements of the webhook engine's connections look
// rows up by key, one probe per row, whatever the size of the tables, with
// a plan made once per connection. PostgreSQL caches a plan per statement,
// and a plan made while a table is small (hashing or scanning it whole) is
// kept as the table grows, until the statistics change: for a webhook
// endpoint that starts on empty tables, its first minute or more. The
// webhook statements always write a few rows by key into tables that grow,
// so probes are right for them at any size, and planning them again for
// each batch (PostgreSQL's choice for statements with arrays of unknown
// length) would cost more than running them. The webhook engine's connections
// run nothing else.
var PlannerSettings = map[string]string{
	"enable_seqscan":   "off",
	"enable_hashjoin":  "off",
	"enable_mergejoin": "off",
	"plan_cache_mode":  "force_generic_plan",
}

// claimedRow is true for a row r (with columns env and ev) whose event this
// transaction claimed: the ledger row was written by this transaction.
const claimedRow = `EXISTS (SELECT 1 FROM payments.webhook_events w
	WHERE w.id = r.ev AND w.env = r.env AND w.xmin = pg_current_xact_id()::xid)`

// Queue adds the projection's statements to b.
func (q *Projection) Queue(b *pgx.Batch) {
	if len(q.Mappings) > 0 {
		m := q.Mappings
		slices.SortFunc(m, func(a, b MappingRow) int {
			return cmp.Or(cmp.Compare(a.Env, b.Env), cmp.Compare(a.SubjectType, b.SubjectType), cmp.Compare(a.Subject, b.Subject),
				cmp.Compare(a.Customer, b.Customer))
		})
		n := len(m)
		env, st, sid, cus, ev := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, r := range m {
			env[i], st[i], sid[i], cus[i], ev[i] = string(r.Env), r.SubjectType, r.Subject, r.Customer, r.Event
		}
		b.Queue(batchMappingSQL, env, st, sid, cus, ev)
	}
	if len(q.Placeholders) > 0 {
		ph := q.Placeholders
		slices.SortFunc(ph, func(a, b PlaceholderRow) int {
			return cmp.Or(cmp.Compare(a.Env, b.Env), cmp.Compare(a.Product, b.Product))
		})
		n := len(ph)
		env, id, live, at, ev := make([]string, n), make([]string, n), make([]bool, n), make([]time.Time, n), make([]string, n)
		for i, r := range ph {
			env[i], id[i], live[i], at[i], ev[i] = string(r.Env), r.Product, r.Livemode, r.At, r.Event
		}
		b.Queue(placeholderSQL, env, id, live, at, ev)
	}
	for k, rows := range q.Objects {
		for _, layer := range layers(len(rows), func(i int) string { return string(rows[i].Env) + " " + rows[i].ID }) {
			n := len(layer)
			env, obj, at, ev := make([]string, n), make(jsons, n), make([]time.Time, n), make([]string, n)
			for j, i := range layer {
				r := rows[i]
				env[j], obj[j], at[j], ev[j] = string(r.Env), r.Object, r.At, r.Event
			}
			b.Queue(objectSQL[k], env, obj, at, ev)
		}
	}
	queueInvoices(b, q.Invoices)
	queueAdoptions(b, q.Checkouts)
	for _, layer := range layers(len(q.Checkouts), func(i int) string { return string(q.Checkouts[i].Env) + " " + q.Checkouts[i].StripeID }) {
		queueCheckouts(b, q.Checkouts, layer)
	}
	queueLineItems(b, q.Checkouts)
	for _, rows := range [][]PaymentRow{q.Payments, q.Related} {
		for _, layer := range layers(len(rows), func(i int) string { return string(rows[i].Env) + " " + rows[i].Key }) {
			queuePayments(b, rows, layer)
		}
	}
	rows := q.Summaries
	for _, layer := range layers(len(rows), func(i int) string { return string(rows[i].Env) + " " + rows[i].Customer }) {
		n := len(layer)
		env, obj, at, ev := make([]string, n), make(jsons, n), make([]time.Time, n), make([]string, n)
		for j, i := range layer {
			env[j], obj[j], at[j], ev[j] = string(rows[i].Env), rows[i].Object, rows[i].At, rows[i].Event
		}
		b.Queue(summarySQL, env, obj, at, ev)
	}
}

// summarySQL stores the entitlement summaries of a batch (see
// entitlementSummaryUpsert).
var summarySQL = entitlementSummaryUpsert(`
	SELECT r.env, r.o, r.at FROM unnest($1::text[], $2::jsonb[], $3::timestamptz[], $4::text[]) AS r(env, o, at, ev)
	WHERE ` + claimedRow)

// layers splits rows 0..n-1 into runs in which no key repeats: the k-th row
// of a key goes to run k. Without repeats, that is one run of all rows.
// Each run is in key order: transactions that lock rows in one order wait
// for each other but never deadlock.
func layers(n int, key func(int) string) [][]int {
	if n == 0 {
		return nil
	}
	if n == 1 {
		return [][]int{{0}}
	}
	keys := make([]string, n)
	seen := make(map[string]int, n)
	var out [][]int
	for i := range n {
		keys[i] = key(i)
		l := seen[keys[i]]
		seen[keys[i]] = l + 1
		if l == len(out) {
			out = append(out, nil)
		}
		out[l] = append(out[l], i)
	}
	for _, run := range out {
		slices.SortFunc(run, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	}
	return out
}

// adoptSQL gives billwire's own checkout row its Stripe session when the
// session API could not store it (the answer from Stripe was lost, or the
// asynchronously committed update was lost in a crash): the row named by
// the session's billwire_checkout_id, still without a session, becomes the
// session's row, and checkoutSQL then projects the event onto it.
const adoptSQL = `
	UPDATE payments.checkout_sessions t SET stripe_id = r.stripe_id, status = 'open', error_code = NULL, error = NULL,
		updated_at = now()
	FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS r(env, stripe_id, row_id, ev)
	WHERE t.id = r.row_id AND t.env = r.env AND t.stripe_id IS NULL AND t.requester IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM payments.checkout_sessions e WHERE e.stripe_id = r.stripe_id AND e.env = r.env)
		AND ` + claimedRow

// queueAdoptions queues adoptSQL for the sessions that name billwire's row.
func queueAdoptions(b *pgx.Batch, rows []CheckoutRow) {
	var env, id, ev []string
	var row []int64
	for _, r := range rows {
		if r.Row > 0 {
			env, id, row, ev = append(env, string(r.Env)), append(id, r.StripeID), append(row, r.Row), append(ev, r.Event)
		}
	}
	if len(row) > 0 {
		b.Queue(adoptSQL, env, id, row, ev)
	}
}

func queueCheckouts(b *pgx.Batch, rows []CheckoutRow, layer []int) {
	n := len(layer)
	var (
		env, id, status, ev                        = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		mode, pstatus, cus, sub, pi, cref, st, sid = make(texts, n), make(texts, n), make(texts, n), make(texts, n), make(texts, n), make(texts, n), make(texts, n), make(texts, n)
		cur                                        = make(texts, n)
		amount                                     = make([]int64, n)
		data, items                                = make(jsons, n), make(jsons, n)
		at                                         = make([]time.Time, n)
	)
	for j, i := range layer {
		r := rows[i]
		env[j], id[j], mode[j], status[j], pstatus[j] = string(r.Env), r.StripeID, r.Mode, r.Status, r.PaymentStatus
		cus[j], sub[j], pi[j], cref[j], st[j], sid[j] = r.Customer, r.Subscription, r.PaymentIntent, r.ClientReferenceID, r.SubjectType, r.SubjectID
		amount[j], cur[j], data[j], at[j], ev[j], items[j] = r.AmountTotal, r.Currency, r.Data, r.At, r.Event, r.LineItems
	}
	b.Queue(checkoutSQL, env, id, mode, status, pstatus, cus, sub, pi, cref, st, sid, amount, cur, data, at, ev, items)
}

// queueLineItems queues lineItemsSQL for the sessions whose line items were
// fetched: checkoutSQL stores them with the session, unless the event was
// older than the state stored, which a session's line items (fixed when it
// is made) do not depend on.
func queueLineItems(b *pgx.Batch, rows []CheckoutRow) {
	var env, id, ev []string
	var items jsons
	for _, r := range rows {
		if r.LineItems != nil {
			env, id, ev, items = append(env, string(r.Env)), append(id, r.StripeID), append(ev, r.Event), append(items, r.LineItems)
		}
	}
	if len(id) > 0 {
		b.Queue(lineItemsSQL, env, id, items, ev)
	}
}

func queuePayments(b *pgx.Batch, rows []PaymentRow, layer []int) {
	n := len(layer)
	var (
		env, key, kind, status, ev          = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amount, refunded                    = make([]int64, n), make([]int64, n)
		cur, cus, st, sid, inv, sub, pi, ch = make(texts, n), make(texts, n), make(texts, n), make(texts, n), make(texts, n), make(texts, n), make(texts, n), make(texts, n)
		cs, fcode, fmsg, reason             = make(texts, n), make(texts, n), make(texts, n), make(texts, n)
		failures                            = make([]int32, n)
		occurred, at                        = make([]time.Time, n), make([]time.Time, n)
	)
	for j, i := range layer {
		r := rows[i]
		env[j], key[j], kind[j], status[j], ev[j] = string(r.Env), r.Key, r.Kind, r.Status, r.Event
		amount[j], refunded[j] = r.Amount, r.AmountRefunded
		cur[j], cus[j], st[j], sid[j] = text(r.Currency), text(r.Customer), text(r.SubjectType), text(r.SubjectID)
		inv[j], sub[j], pi[j], ch[j] = text(r.Invoice), text(r.Subscription), text(r.PaymentIntent), text(r.Charge)
		cs[j], fcode[j], fmsg[j], reason[j] = text(r.CheckoutSession), text(r.FailureCode), text(r.FailureMessage), text(r.Reason)
		if r.Failure {
			failures[j] = 1
		}
		occurred[j], at[j] = r.Occurred, r.At
	}
	b.Queue(paymentSQL, env, key, kind, status, amount, refunded, cur, cus, st, sid, inv, sub, pi, ch, cs, fcode, fmsg, failures,
		reason, occurred, at, ev)
}

// text is s as a nullable text: nil when empty.
func text(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// batchMappingSQL records (or confirms) subject-customer pairs, without writing
// or locking a mapping already confirmed.
const batchMappingSQL = `
	WITH r AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS r(env, subject_type, subject_id, customer_id, ev)
		WHERE ` + claimedRow + `),
	ins AS (
		INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id, confirmed, confirmed_at)
		SELECT env, subject_type, subject_id, customer_id, true, now() FROM r
		WHERE NOT EXISTS (SELECT 1 FROM payments.customer_mappings m
				WHERE m.subject_id = r.subject_id AND m.subject_type = r.subject_type AND m.env = r.env)
		  AND NOT EXISTS (SELECT 1 FROM payments.customer_mappings m WHERE m.customer_id = r.customer_id AND m.env = r.env)
		ON CONFLICT DO NOTHING)
	UPDATE payments.customer_mappings m SET confirmed = true, confirmed_at = now()
	FROM r
	WHERE m.subject_id = r.subject_id AND m.subject_type = r.subject_type AND m.env = r.env AND m.customer_id = r.customer_id
	  AND NOT m.confirmed`

// placeholderSQL stores a placeholder for a price's product not seen yet
// (its product event may still be on the way); the product's own event or
// a sync fills it in.
const placeholderSQL = `
	INSERT INTO payments.products (env, id, name, active, livemode, created, data, source_at)
	SELECT r.env, r.id, '', true, r.livemode, r.at, '{}', '-infinity'
	FROM unnest($1::text[], $2::text[], $3::boolean[], $4::timestamptz[], $5::text[]) AS r(env, id, livemode, at, ev)
	WHERE ` + claimedRow + `
	ON CONFLICT (env, id) DO NOTHING`

var objectSQL = func() (out [len(ProjectedKinds)]string) {
	for i, k := range ProjectedKinds {
		out[i] = UpsertSQL(k, `SELECT r.env, r.o, r.at
			FROM unnest($1::text[], $2::jsonb[], $3::timestamptz[], $4::text[]) AS r(env, o, at, ev)
			WHERE `+claimedRow)
	}
	return out
}()

const checkoutSQL = `
	INSERT INTO payments.checkout_sessions AS t (env, stripe_id, mode, status, payment_status, customer_id, subscription_id,
		payment_intent_id, client_reference_id, subject_type, subject_id, amount_total, currency, metadata, data, source_at, line_items)
	SELECT r.env, r.stripe_id, r.mode, r.status, r.payment_status, r.customer_id, r.subscription_id, r.payment_intent_id,
		r.client_reference_id, r.subject_type, r.subject_id, r.amount_total, r.currency,
		CASE jsonb_typeof(r.data->'metadata') WHEN 'object' THEN r.data->'metadata' ELSE '{}' END, r.data, r.at, r.line_items
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
		$10::text[], $11::text[], $12::bigint[], $13::text[], $14::jsonb[], $15::timestamptz[], $16::text[], $17::jsonb[])
		AS r(env, stripe_id, mode, status, payment_status, customer_id, subscription_id, payment_intent_id, client_reference_id,
			subject_type, subject_id, amount_total, currency, data, at, ev, line_items)
	WHERE ` + claimedRow + `
	ON CONFLICT (env, stripe_id) DO UPDATE SET mode = EXCLUDED.mode, status = EXCLUDED.status,
		payment_status = EXCLUDED.payment_status, customer_id = coalesce(EXCLUDED.customer_id, t.customer_id),
		subscription_id = coalesce(EXCLUDED.subscription_id, t.subscription_id),
		payment_intent_id = coalesce(EXCLUDED.payment_intent_id, t.payment_intent_id),
		client_reference_id = coalesce(EXCLUDED.client_reference_id, t.client_reference_id),
		subject_type = coalesce(t.subject_type, EXCLUDED.subject_type), subject_id = coalesce(t.subject_id, EXCLUDED.subject_id),
		amount_total = EXCLUDED.amount_total, currency = EXCLUDED.currency, metadata = EXCLUDED.metadata,
		data = EXCLUDED.data, source_at = EXCLUDED.source_at, line_items = coalesce(t.line_items, EXCLUDED.line_items),
		updated_at = now()
	WHERE t.source_at <= EXCLUDED.source_at`

// lineItemsSQL stores fetched line items on sessions that have none yet
// (see queueLineItems). After checkoutSQL, it finds nothing to do unless
// that statement kept newer state.
const lineItemsSQL = `
	UPDATE payments.checkout_sessions t SET line_items = r.line_items, updated_at = now()
	FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[]) AS r(env, stripe_id, line_items, ev)
	WHERE t.stripe_id = r.stripe_id AND t.env = r.env AND t.line_items IS NULL AND ` + claimedRow

// paymentSQL merges rows with what other events said of the same money: the
// newer event sets the status (a success is never undone by a failure),
// references accumulate, refunds only grow. The subject comes from the
// payload, else from the customer's mapping; a refund or dispute inherits
// customer, subject, invoice and subscription from its payment.
const paymentSQL = `
	INSERT INTO payments.payment_history AS t (env, key, kind, status, amount, amount_refunded, currency, customer_id,
		subject_type, subject_id, invoice_id, subscription_id, payment_intent_id, charge_id, checkout_session_id,
		failure_code, failure_message, failures, reason, occurred_at, source_at, last_event_id)
	SELECT r.env, r.key, r.kind, r.status, r.amount, r.amount_refunded, r.currency, c.customer_id,
		coalesce(r.subject_type, parent.subject_type, m.subject_type), coalesce(r.subject_id, parent.subject_id, m.subject_id),
		coalesce(r.invoice_id, parent.invoice_id), coalesce(r.subscription_id, parent.subscription_id),
		r.payment_intent_id, r.charge_id, r.checkout_session_id, r.failure_code, r.failure_message, r.failures, r.reason,
		r.occurred_at, r.source_at, r.ev
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[],
		$10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::integer[],
		$19::text[], $20::timestamptz[], $21::timestamptz[], $22::text[])
		AS r(env, key, kind, status, amount, amount_refunded, currency, customer_id, subject_type, subject_id, invoice_id,
			subscription_id, payment_intent_id, charge_id, checkout_session_id, failure_code, failure_message, failures, reason,
			occurred_at, source_at, ev)
	LEFT JOIN LATERAL (
		(SELECT x.customer_id, x.subject_type, x.subject_id, x.invoice_id, x.subscription_id
		 FROM payments.payment_history x WHERE r.kind <> 'payment' AND x.key = r.payment_intent_id AND x.env = r.env AND x.kind = 'payment')
		UNION ALL
		(SELECT x.customer_id, x.subject_type, x.subject_id, x.invoice_id, x.subscription_id
		 FROM payments.payment_history x WHERE r.kind <> 'payment' AND x.charge_id = r.charge_id AND x.env = r.env AND x.kind = 'payment')
		LIMIT 1) parent ON true
	CROSS JOIN LATERAL (SELECT coalesce(r.customer_id, parent.customer_id) AS customer_id) c
	LEFT JOIN LATERAL (SELECT m.subject_type, m.subject_id FROM payments.customer_mappings m
		WHERE m.customer_id = c.customer_id AND m.env = r.env LIMIT 1) m ON true
	WHERE ` + claimedRow + `
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
		updated_at = now()`
