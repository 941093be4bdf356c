package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// invoiceColumns computes the columns of payments.invoices from the Stripe
// invoice o of a relation with columns env, o and at. The subscription is
// top-level in 2024-06-20 and under parent.subscription_details from basil
// on; the subject is the subscription's metadata (either shape), else the
// invoice's, else the customer's mapping (m).
const invoiceColumns = `
		r.env, r.o->>'id', c.id,
		coalesce(r.o->'subscription_details'->'metadata'->>'billwire_subject_type',
			r.o->'parent'->'subscription_details'->'metadata'->>'billwire_subject_type',
			r.o->'metadata'->>'billwire_subject_type', m.subject_type),
		coalesce(r.o->'subscription_details'->'metadata'->>'billwire_subject_id',
			r.o->'parent'->'subscription_details'->'metadata'->>'billwire_subject_id',
			r.o->'metadata'->>'billwire_subject_id', m.subject_id),
		coalesce(CASE jsonb_typeof(r.o->'subscription') WHEN 'object' THEN r.o->'subscription'->>'id' ELSE r.o->>'subscription' END,
			CASE jsonb_typeof(r.o->'parent'->'subscription_details'->'subscription')
				WHEN 'object' THEN r.o->'parent'->'subscription_details'->'subscription'->>'id'
				ELSE r.o->'parent'->'subscription_details'->>'subscription' END),
		r.o->>'number', r.o->>'status', r.o->>'currency',
		coalesce((r.o->>'amount_due')::bigint, 0), coalesce((r.o->>'amount_paid')::bigint, 0),
		coalesce((r.o->>'amount_remaining')::bigint, 0), coalesce((r.o->>'attempt_count')::integer, 0),
		to_timestamp(nullif(r.o->>'next_payment_attempt', '')::bigint), r.o->>'hosted_invoice_url', r.o->>'invoice_pdf',
		to_timestamp(nullif(r.o->>'period_start', '')::bigint), to_timestamp(nullif(r.o->>'period_end', '')::bigint),
		coalesce(to_timestamp(nullif(r.o->>'created', '')::bigint), r.at), r.at, r.o`

// invoiceUpsert stores the invoices of input (columns env, o, at), leaving
// alone rows that hold newer state.
func invoiceUpsert(input string) string {
	return `
	INSERT INTO payments.invoices AS t (env, id, customer_id, subject_type, subject_id, subscription_id, number, status, currency,
		amount_due, amount_paid, amount_remaining, attempt_count, next_payment_attempt, hosted_invoice_url, invoice_pdf,
		period_start, period_end, created, source_at, data)
	SELECT ` + invoiceColumns + `
	FROM (` + input + `) r
	CROSS JOIN LATERAL (SELECT CASE jsonb_typeof(r.o->'customer') WHEN 'object' THEN r.o->'customer'->>'id' ELSE r.o->>'customer' END AS id) c
	LEFT JOIN LATERAL (SELECT m.subject_type, m.subject_id FROM payments.customer_mappings m
		WHERE m.customer_id = c.id AND m.env = r.env LIMIT 1) m ON true
	ON CONFLICT (id, env) DO UPDATE SET customer_id = coalesce(EXCLUDED.customer_id, t.customer_id),
		subject_type = coalesce(EXCLUDED.subject_type, t.subject_type), subject_id = coalesce(EXCLUDED.subject_id, t.subject_id),
		subscription_id = coalesce(EXCLUDED.subscription_id, t.subscription_id), number = EXCLUDED.number,
		status = EXCLUDED.status, currency = EXCLUDED.currency, amount_due = EXCLUDED.amount_due,
		amount_paid = EXCLUDED.amount_paid, amount_remaining = EXCLUDED.amount_remaining,
		attempt_count = EXCLUDED.attempt_count, next_payment_attempt = EXCLUDED.next_payment_attempt,
		hosted_invoice_url = EXCLUDED.hosted_invoice_url, invoice_pdf = EXCLUDED.invoice_pdf,
		period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end, created = EXCLUDED.created,
		source_at = EXCLUDED.source_at, data = EXCLUDED.data, synced_at = now()
	WHERE t.source_at <= EXCLUDED.source_at`
}

// invoiceSQL stores the invoices of a webhook batch.
var invoiceSQL = invoiceUpsert(`SELECT r.env, r.o, r.at
	FROM unnest($1::text[], $2::jsonb[], $3::timestamptz[], $4::text[]) AS r(env, o, at, ev)
	WHERE ` + claimedRow)

// queueInvoices adds invoiceSQL for the batch's invoices, one statement per
// layer (an invoice twice in a batch goes to successive statements).
func queueInvoices(b *pgx.Batch, rows []ObjectRow) {
	for _, layer := range layers(len(rows), func(i int) string { return string(rows[i].Env) + " " + rows[i].ID }) {
		n := len(layer)
		env, obj, at, ev := make([]string, n), make(jsons, n), make([]time.Time, n), make([]string, n)
		for j, i := range layer {
			r := rows[i]
			env[j], obj[j], at[j], ev[j] = string(r.Env), r.Object, r.At, r.Event
		}
		b.Queue(invoiceSQL, env, obj, at, ev)
	}
}

// SubjectInvoice is an invoice as the subject route shows it.
type SubjectInvoice struct {
	ID               string    `json:"id"`
	Number           *string   `json:"number"`
	Status           *string   `json:"status"`
	AmountDue        int64     `json:"amount_due"`
	AmountPaid       int64     `json:"amount_paid"`
	Currency         *string   `json:"currency"`
	HostedInvoiceURL *string   `json:"hosted_invoice_url"`
	InvoicePDF       *string   `json:"invoice_pdf"`
	Created          time.Time `json:"created"`
}

// SubjectInvoices returns the newest limit invoices of the subject's
// customer (customer, "" for none) or naming the subject, newest first.
func (s *Store) SubjectInvoices(ctx context.Context, env vocab.Env, customer, subjectType, subjectID string, limit int) ([]SubjectInvoice, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, number, status, amount_due, amount_paid, currency, hosted_invoice_url, invoice_pdf, created
		FROM payments.invoices
		WHERE (id, env) IN (SELECT id, env FROM payments.invoices WHERE customer_id = $2 AND env = $1
		                    UNION SELECT id, env FROM payments.invoices WHERE subject_id = $4 AND subject_type = $3 AND env = $1)
		ORDER BY created DESC, id DESC LIMIT $5`, env, customer, subjectType, subjectID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanSubjectInvoice)
}

// CustomerInvoices returns the newest limit invoices of a customer in env,
// newest first.
func (s *Store) CustomerInvoices(ctx context.Context, env vocab.Env, customer string, limit int) ([]SubjectInvoice, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, number, status, amount_due, amount_paid, currency, hosted_invoice_url, invoice_pdf, created
		FROM payments.invoices WHERE customer_id = $2 AND env = $1
		ORDER BY created DESC, id DESC LIMIT $3`, env, customer, limit)
	if err != nil {
		return nil, fmt.Errorf("invoices of customer %s: %w", customer, err)
	}
	return pgx.CollectRows(rows, scanSubjectInvoice)
}

func scanSubjectInvoice(r pgx.CollectableRow) (SubjectInvoice, error) {
	var i SubjectInvoice
	err := r.Scan(&i.ID, &i.Number, &i.Status, &i.AmountDue, &i.AmountPaid, &i.Currency, &i.HostedInvoiceURL, &i.InvoicePDF, &i.Created)
	return i, err
}

// Invoice is a projected invoice, as list_invoices shows it.
type Invoice struct {
	SubjectInvoice
	CustomerID         *string    `json:"customer_id"`
	SubjectType        *string    `json:"subject_type"`
	SubjectID          *string    `json:"subject_id"`
	SubscriptionID     *string    `json:"subscription_id"`
	AmountRemaining    int64      `json:"amount_remaining"`
	AttemptCount       int        `json:"attempt_count"`
	NextPaymentAttempt *time.Time `json:"next_payment_attempt"`
	PeriodStart        *time.Time `json:"period_start"`
	PeriodEnd          *time.Time `json:"period_end"`
}

// ListInvoices reads a page of env's invoices, newest first. A query keeps
// the invoices whose id, number, customer, subscription, subject id or
// status it equals.
func (s *Store) ListInvoices(ctx context.Context, env vocab.Env, p Page) ([]Invoice, string, error) {
	after, q, limit, err := p.norm()
	if err != nil {
		return nil, "", err
	}
	var afterAt time.Time
	var afterID string
	if after != "" {
		if err := json.Unmarshal([]byte(after), &[]any{&afterAt, &afterID}); err != nil || afterID == "" {
			return nil, "", ErrBadCursor
		}
	}
	var a sqlArgs
	where := "env = " + a.add(env)
	if afterID != "" {
		where += " AND (created, id) < (" + a.add(afterAt) + ", " + a.add(afterID) + ")"
	}
	if q != "" {
		qa := a.add(q)
		where += " AND (id = " + qa + " OR number = " + qa + " OR customer_id = " + qa + " OR subscription_id = " + qa +
			" OR subject_id = " + qa + " OR status = lower(" + qa + "))"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, number, status, amount_due, amount_paid, currency, hosted_invoice_url, invoice_pdf, created,
			customer_id, subject_type, subject_id, subscription_id, amount_remaining, attempt_count, next_payment_attempt,
			period_start, period_end
		FROM payments.invoices WHERE `+where+a.tail("created DESC, id DESC", limit, p.Offset), a...)
	if err != nil {
		return nil, "", fmt.Errorf("list invoices: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Invoice, error) {
		var i Invoice
		err := r.Scan(&i.ID, &i.Number, &i.Status, &i.AmountDue, &i.AmountPaid, &i.Currency, &i.HostedInvoiceURL, &i.InvoicePDF,
			&i.Created, &i.CustomerID, &i.SubjectType, &i.SubjectID, &i.SubscriptionID, &i.AmountRemaining, &i.AttemptCount,
			&i.NextPaymentAttempt, &i.PeriodStart, &i.PeriodEnd)
		return i, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list invoices: %w", err)
	}
	if len(out) > limit {
		out = out[:limit]
		last, _ := json.Marshal([]any{out[limit-1].Created, out[limit-1].ID})
		return out, EncodeCursor(string(last)), nil
	}
	return out, "", nil
}
