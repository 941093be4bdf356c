package webhooks

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// plan gathers the rows that events write, by statement, so that a batch of
// events costs one statement per table rather than one per event. Every row
// names its event (ev): a statement writes only the rows of events that
// this transaction claimed in the ledger (see claimedRow), so the claims and
// the projections of a batch go to PostgreSQL in one round trip, before
// anyone knows which events are duplicates.
//
// The statements run in an order in which what a row reads is written
// before it: mappings, products, prices, customers, subscriptions, Checkout
// Sessions, payments, then refunds and disputes (which inherit from their
// payment). Two rows of one statement about the same row of a table would
// conflict (ON CONFLICT DO UPDATE cannot touch a row twice), so such rows go
// to successive statements, in event order: each statement sees what the
// one before wrote, exactly as if the events ran one after another.
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
	// Session, if any (see checkoutRow).
	lineItems json.RawMessage

	mappings     []mappingRow
	placeholders []placeholderRow
	objects      [len(objectKinds)][]objectRow
	checkouts    []checkoutRow
	payments     []paymentRow // kind payment
	related      []paymentRow // refunds and disputes
	summaries    []summaryRow // entitlement summaries
}

type summaryRow struct {
	env      vocab.Env
	customer string
	obj      json.RawMessage
	at       time.Time
	ev       string
}

// objectKinds are the mirrored objects that events replace whole, in the
// order their statements run (a price needs its product).
var objectKinds = [...]vocab.Kind{vocab.Products, vocab.Prices, vocab.Customers, vocab.Subscriptions}

type mappingRow struct {
	mappingKey
	ev string
}

type placeholderRow struct {
	env      vocab.Env
	product  string
	livemode bool
	at       time.Time
	ev       string
}

type objectRow struct {
	env vocab.Env
	id  string
	obj json.RawMessage
	at  time.Time
	ev  string
}

type checkoutRow struct {
	env                                   vocab.Env
	stripeID                              string
	mode                                  *string
	status                                string
	paymentStatus, customer, subscription *string
	paymentIntent, clientReferenceID      *string
	subjectType, subjectID                *string
	amountTotal                           int64
	currency                              *string
	data                                  json.RawMessage
	at                                    time.Time
	ev                                    string
	// row is billwire's own row for the session (billwire_checkout_id in
	// its metadata), 0 for a session made elsewhere.
	row int64
	// lineItems are what the session bought, fetched from Stripe before
	// the batch (see Processor.checkoutLineItems); nil when not fetched.
	lineItems json.RawMessage
}

// texts and jsons are array arguments that pgx encodes without reflection
// (nullable text, and JSON documents).
type (
	texts = pgtype.FlatArray[*string]
	jsons = pgtype.FlatArray[json.RawMessage]
)

type paymentRow struct {
	env vocab.Env
	payment
}

// merge adds the rows of r to q.
func (q *plan) merge(r *plan) {
	q.mapped = append(q.mapped, r.mapped...)
	q.mappings = append(q.mappings, r.mappings...)
	q.placeholders = append(q.placeholders, r.placeholders...)
	for i := range q.objects {
		q.objects[i] = append(q.objects[i], r.objects[i]...)
	}
	q.checkouts = append(q.checkouts, r.checkouts...)
	q.payments = append(q.payments, r.payments...)
	q.related = append(q.related, r.related...)
	q.summaries = append(q.summaries, r.summaries...)
}

func (q *plan) object(kind vocab.Kind, obj json.RawMessage, at time.Time) {
	for i, k := range objectKinds {
		if k == kind {
			q.objects[i] = append(q.objects[i], objectRow{q.env, q.oid, obj, at, q.ev})
			return
		}
	}
	panic("webhooks: no statement for objects of kind " + string(kind))
}

func (q *plan) payment(env vocab.Env, p payment) {
	if p.kind == "payment" {
		q.payments = append(q.payments, paymentRow{env, p})
	} else {
		q.related = append(q.related, paymentRow{env, p})
	}
}

// plannerSettings make the statements of the processor's connections look
// rows up by key, one probe per row, whatever the size of the tables, with
// a plan made once per connection. PostgreSQL caches a plan per statement,
// and a plan made while a table is small (hashing or scanning it whole) is
// kept as the table grows, until the statistics change: for a webhook
// endpoint that starts on empty tables, its first minute or more. The
// webhook statements always write a few rows by key into tables that grow,
// so probes are right for them at any size, and planning them again for
// each batch (PostgreSQL's choice for statements with arrays of unknown
// length) would cost more than running them. The processor's connections
// run nothing else.
var plannerSettings = map[string]string{
	"enable_seqscan":   "off",
	"enable_hashjoin":  "off",
	"enable_mergejoin": "off",
	"plan_cache_mode":  "force_generic_plan",
}

// claimedRow is true for a row r (with columns env and ev) whose event this
// transaction claimed: the ledger row was written by this transaction.
const claimedRow = `EXISTS (SELECT 1 FROM payments.webhook_events w
	WHERE w.id = r.ev AND w.env = r.env AND w.xmin = pg_current_xact_id()::xid)`

// queue adds the plan's statements to b.
func (q *plan) queue(b *pgx.Batch) {
	if len(q.mappings) > 0 {
		m := q.mappings
		slices.SortFunc(m, func(a, b mappingRow) int {
			return cmp.Or(cmp.Compare(a.env, b.env), cmp.Compare(a.subjectType, b.subjectType), cmp.Compare(a.subject, b.subject),
				cmp.Compare(a.customer, b.customer))
		})
		n := len(m)
		env, st, sid, cus, ev := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, r := range m {
			env[i], st[i], sid[i], cus[i], ev[i] = string(r.env), r.subjectType, r.subject, r.customer, r.ev
		}
		b.Queue(mappingSQL, env, st, sid, cus, ev)
	}
	if len(q.placeholders) > 0 {
		ph := q.placeholders
		slices.SortFunc(ph, func(a, b placeholderRow) int {
			return cmp.Or(cmp.Compare(a.env, b.env), cmp.Compare(a.product, b.product))
		})
		n := len(ph)
		env, id, live, at, ev := make([]string, n), make([]string, n), make([]bool, n), make([]time.Time, n), make([]string, n)
		for i, r := range ph {
			env[i], id[i], live[i], at[i], ev[i] = string(r.env), r.product, r.livemode, r.at, r.ev
		}
		b.Queue(placeholderSQL, env, id, live, at, ev)
	}
	for k, rows := range q.objects {
		for _, layer := range layers(len(rows), func(i int) string { return string(rows[i].env) + " " + rows[i].id }) {
			n := len(layer)
			env, obj, at, ev := make([]string, n), make(jsons, n), make([]time.Time, n), make([]string, n)
			for j, i := range layer {
				r := rows[i]
				env[j], obj[j], at[j], ev[j] = string(r.env), r.obj, r.at, r.ev
			}
			b.Queue(objectSQL[k], env, obj, at, ev)
		}
	}
	queueAdoptions(b, q.checkouts)
	for _, layer := range layers(len(q.checkouts), func(i int) string { return string(q.checkouts[i].env) + " " + q.checkouts[i].stripeID }) {
		queueCheckouts(b, q.checkouts, layer)
	}
	queueLineItems(b, q.checkouts)
	for _, rows := range [][]paymentRow{q.payments, q.related} {
		for _, layer := range layers(len(rows), func(i int) string { return string(rows[i].env) + " " + rows[i].key }) {
			queuePayments(b, rows, layer)
		}
	}
	rows := q.summaries
	for _, layer := range layers(len(rows), func(i int) string { return string(rows[i].env) + " " + rows[i].customer }) {
		n := len(layer)
		env, obj, at, ev := make([]string, n), make(jsons, n), make([]time.Time, n), make([]string, n)
		for j, i := range layer {
			env[j], obj[j], at[j], ev[j] = string(rows[i].env), rows[i].obj, rows[i].at, rows[i].ev
		}
		b.Queue(summarySQL, env, obj, at, ev)
	}
}

// summarySQL stores customers' entitlement summaries, each unless a newer
// one is stored; features are the lookup keys, sorted, without repeats.
const summarySQL = `
	INSERT INTO payments.entitlement_summaries AS t (env, customer_id, features, source_at, data)
	SELECT r.env, r.o->>'customer',
		ARRAY(SELECT DISTINCT e->>'lookup_key' FROM jsonb_array_elements(coalesce(r.o->'entitlements'->'data', '[]')) e
			WHERE coalesce(e->>'lookup_key', '') <> '' ORDER BY 1),
		r.at, r.o
	FROM unnest($1::text[], $2::jsonb[], $3::timestamptz[], $4::text[]) AS r(env, o, at, ev)
	WHERE ` + claimedRow + `
	ON CONFLICT (customer_id, env) DO UPDATE SET features = EXCLUDED.features, source_at = EXCLUDED.source_at,
		data = EXCLUDED.data, updated_at = now()
	WHERE t.source_at <= EXCLUDED.source_at`

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
func queueAdoptions(b *pgx.Batch, rows []checkoutRow) {
	var env, id, ev []string
	var row []int64
	for _, r := range rows {
		if r.row > 0 {
			env, id, row, ev = append(env, string(r.env)), append(id, r.stripeID), append(row, r.row), append(ev, r.ev)
		}
	}
	if len(row) > 0 {
		b.Queue(adoptSQL, env, id, row, ev)
	}
}

func queueCheckouts(b *pgx.Batch, rows []checkoutRow, layer []int) {
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
		env[j], id[j], mode[j], status[j], pstatus[j] = string(r.env), r.stripeID, r.mode, r.status, r.paymentStatus
		cus[j], sub[j], pi[j], cref[j], st[j], sid[j] = r.customer, r.subscription, r.paymentIntent, r.clientReferenceID, r.subjectType, r.subjectID
		amount[j], cur[j], data[j], at[j], ev[j], items[j] = r.amountTotal, r.currency, r.data, r.at, r.ev, r.lineItems
	}
	b.Queue(checkoutSQL, env, id, mode, status, pstatus, cus, sub, pi, cref, st, sid, amount, cur, data, at, ev, items)
}

// queueLineItems queues lineItemsSQL for the sessions whose line items were
// fetched: checkoutSQL stores them with the session, unless the event was
// older than the state stored, which a session's line items (fixed when it
// is made) do not depend on.
func queueLineItems(b *pgx.Batch, rows []checkoutRow) {
	var env, id, ev []string
	var items jsons
	for _, r := range rows {
		if r.lineItems != nil {
			env, id, ev, items = append(env, string(r.env)), append(id, r.stripeID), append(ev, r.ev), append(items, r.lineItems)
		}
	}
	if len(id) > 0 {
		b.Queue(lineItemsSQL, env, id, items, ev)
	}
}

func queuePayments(b *pgx.Batch, rows []paymentRow, layer []int) {
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
		env[j], key[j], kind[j], status[j], ev[j] = string(r.env), r.key, r.kind, r.status, r.eventID
		amount[j], refunded[j] = r.amount, r.amountRefunded
		cur[j], cus[j], st[j], sid[j] = str(r.currency), str(r.customer), str(r.sub.typ), str(r.sub.id)
		inv[j], sub[j], pi[j], ch[j] = str(r.invoice), str(r.subscription), str(r.paymentIntent), str(r.charge)
		cs[j], fcode[j], fmsg[j], reason[j] = str(r.checkoutSession), str(r.failureCode), str(r.failureMessage), str(r.reason)
		if r.failure {
			failures[j] = 1
		}
		occurred[j], at[j] = r.occurred, r.at
	}
	b.Queue(paymentSQL, env, key, kind, status, amount, refunded, cur, cus, st, sid, inv, sub, pi, ch, cs, fcode, fmsg, failures,
		reason, occurred, at, ev)
}

// mappingSQL records (or confirms) subject-customer pairs, without writing
// or locking a mapping already confirmed.
const mappingSQL = `
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

var objectSQL = func() (out [len(objectKinds)]string) {
	for i, k := range objectKinds {
		out[i] = store.UpsertSQL(k, `SELECT r.env, r.o, r.at
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
