package webhooks_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/webhooks"
)

// invoiceEvent is a fixture event about invoice in_Life of customer
// cus_Fixture1 (subject user u_123), at base+at seconds.
func invoiceEvent(t *testing.T, typ string, at int64, object map[string]any) []byte {
	o := map[string]any{"id": "in_Life", "number": "LIFE-0001"}
	for k, v := range object {
		o[k] = v
	}
	return eventfixtures.MustEvent(t, typ, eventfixtures.Options{ID: fmt.Sprintf("evt_inv_%s_%d", typ, at), Created: 1_760_000_000 + at, Object: o})
}

func TestInvoiceTypesAreProjected(t *testing.T) {
	for _, typ := range []string{"invoice.created", "invoice.finalized", "invoice.paid", "invoice.payment_failed",
		"invoice.payment_action_required", "invoice.voided", "invoice.marked_uncollectible", "invoice.updated"} {
		// setup_webhook enables webhooks.Types; check_integration asks for them.
		if !webhooks.Projects(typ) || !slices.Contains(webhooks.Types(), typ) {
			t.Errorf("%s is not projected (setup_webhook would not enable it)", typ)
		}
	}
}

func TestInvoiceLifeIsProjected(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.mustSend(invoiceEvent(t, "invoice.created", 0, map[string]any{"status": "draft", "number": nil, "hosted_invoice_url": nil}))
	if got := r.one(`SELECT status || ' ' || subject_id || ' ' || subscription_id FROM payments.invoices WHERE id = 'in_Life'`); got != "draft u_123 sub_Fixture1" {
		t.Fatalf("after invoice.created: %v", got)
	}
	r.mustSend(invoiceEvent(t, "invoice.finalized", 1, map[string]any{"status": "open"}))
	r.mustSend(invoiceEvent(t, "invoice.payment_failed", 2, map[string]any{"status": "open", "attempt_count": 1,
		"next_payment_attempt": 1_760_086_400}))
	row := r.one(`SELECT concat_ws(' ', status, number, attempt_count, extract(epoch FROM next_payment_attempt)::bigint, amount_due,
		amount_paid, amount_remaining, currency, customer_id, hosted_invoice_url IS NOT NULL, invoice_pdf IS NOT NULL,
		extract(epoch FROM period_start)::bigint, extract(epoch FROM created)::bigint, extract(epoch FROM source_at)::bigint)
		FROM payments.invoices WHERE id = 'in_Life'`)
	if want := "open LIFE-0001 1 1760086400 2000 0 2000 usd cus_Fixture1 t t 1719914460 1719914460 1760000002"; row != want {
		t.Fatalf("after payment_failed:\n got %v\nwant %v", row, want)
	}
	// The outbox's payment_failed row carries what the app needs to email a link to pay.
	state := r.one(`SELECT concat_ws(' ', state->>'invoice_id', state->>'attempt_count', state->>'next_payment_attempt',
		state->>'hosted_invoice_url' LIKE 'https://invoice.stripe.com/%') FROM payments.billing_changes WHERE kind = 'payment_failed'`)
	if want := "in_Life 1 2025-10-10T08:53:20+00:00 t"; state != want {
		t.Errorf("payment_failed state:\n got %v\nwant %v", state, want)
	}
	r.mustSend(invoiceEvent(t, "invoice.paid", 4, map[string]any{"attempt_count": 2}))
	// An older event delivered late changes nothing: it is stale.
	body := r.mustSend(invoiceEvent(t, "invoice.payment_action_required", 3, map[string]any{"status": "open", "attempt_count": 2}))
	if !strings.Contains(body, `"stale"`) {
		t.Errorf("late payment_action_required answered %s, want stale", body)
	}
	body = r.mustSend(invoiceEvent(t, "invoice.updated", 1, map[string]any{"status": "open"}))
	if !strings.Contains(body, `"stale"`) {
		t.Errorf("late invoice.updated answered %s, want stale", body)
	}
	if got := r.one(`SELECT status || ' ' || amount_paid || ' ' || amount_remaining FROM payments.invoices WHERE id = 'in_Life'`); got != "paid 2000 0" {
		t.Errorf("after the late events: %v, want paid", got)
	}
	r.mustSend(invoiceEvent(t, "invoice.voided", 5, map[string]any{"id": "in_Life2", "status": "void"}))
	r.mustSend(invoiceEvent(t, "invoice.marked_uncollectible", 6, map[string]any{"id": "in_Life3", "status": "uncollectible"}))
	if got := r.one(`SELECT string_agg(id || '=' || status, ' ' ORDER BY id) FROM payments.invoices`); got != "in_Life=paid in_Life2=void in_Life3=uncollectible" {
		t.Errorf("invoices: %v", got)
	}
}

// TestInvoiceBasilShape: from API version 2025-03-31.basil, an invoice's
// subscription (and its metadata) is under parent.subscription_details.
func TestInvoiceBasilShape(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.mustSend(invoiceEvent(t, "invoice.finalized", 0, map[string]any{"id": "in_Basil", "customer": "cus_Basil", "status": "open",
		"subscription": nil, "subscription_details": nil,
		"parent": map[string]any{"type": "subscription_details", "quote_details": nil, "subscription_details": map[string]any{
			"subscription": "sub_Basil", "metadata": map[string]any{"billwire_subject_type": "team", "billwire_subject_id": "t_7"}}}}))
	if got := r.one(`SELECT concat_ws(' ', subscription_id, subject_type, subject_id, customer_id) FROM payments.invoices WHERE id = 'in_Basil'`); got != "sub_Basil team t_7 cus_Basil" {
		t.Errorf("basil invoice: %v", got)
	}
	// Without subject metadata, the customer's mapping names the subject.
	r.mustSend(invoiceEvent(t, "invoice.created", 1, map[string]any{"id": "in_Basil2", "customer": "cus_Basil", "status": "draft",
		"subscription": nil, "subscription_details": nil,
		"parent": map[string]any{"type": "subscription_details", "subscription_details": map[string]any{"subscription": "sub_Basil", "metadata": map[string]any{}}}}))
	if got := r.one(`SELECT concat_ws(' ', subscription_id, subject_type, subject_id) FROM payments.invoices WHERE id = 'in_Basil2'`); got != "sub_Basil team t_7" {
		t.Errorf("basil invoice by mapping: %v", got)
	}
}
