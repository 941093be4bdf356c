package webhooks_test

import (
	"context"
	"strings"
	"testing"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// change is a row of payments.billing_changes.
type change struct {
	Kind, Key, Status         string
	SubjectType, SubjectID    *string
	Amount, AmountRefunded    *int64
	State                     map[string]any
	Currency, CustomerID, Env *string
}

func (r *rig) changes(where string, args ...any) []change {
	r.t.Helper()
	q := `SELECT kind, key, coalesce(status, ''), subject_type, subject_id, amount, amount_refunded, state, currency, customer_id, env
		FROM payments.billing_changes`
	if where != "" {
		q += " WHERE " + where
	}
	rows, err := r.st.Pool().Query(context.Background(), q+" ORDER BY seq", args...)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	var out []change
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.Kind, &c.Key, &c.Status, &c.SubjectType, &c.SubjectID, &c.Amount, &c.AmountRefunded, &c.State,
			&c.Currency, &c.CustomerID, &c.Env); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		r.t.Fatal(err)
	}
	return out
}

func TestOutboxRecordsRealChangesOnly(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	at := int64(1750000000)
	ev := func(typ string, obj map[string]any) []byte {
		at += 10
		return r.event(typ, eventfixtures.Options{Created: at, Object: obj})
	}
	created := ev("customer.subscription.created", map[string]any{"status": "active"})
	r.mustSend(created)
	subs := r.changes(`kind = 'subscription_state'`)
	if len(subs) != 1 {
		t.Fatalf("%d subscription changes after one event, want 1", len(subs))
	}
	s := subs[0]
	if s.Key != "sub_Fixture1" || s.Status != "active" || *s.SubjectType != "user" || *s.SubjectID != "u_123" || *s.CustomerID != "cus_Fixture1" ||
		*s.Amount != 2000 || *s.Env != "test" || s.State["lookup_key"] != "pro_monthly" || s.State["price_id"] != "price_Fixture1" ||
		s.State["product_id"] != "prod_Fixture1" || s.State["quantity"] != float64(1) || s.State["cancel_at_period_end"] != false ||
		s.State["current_period_end"] == nil {
		t.Fatalf("subscription change: %+v", s)
	}
	// A duplicate, a replay, and an update of nothing the app needs (the
	// payment method) record nothing.
	r.mustSend(created)
	if _, err := r.svc.Replay(context.Background(), vocab.Test, eventIDOf(t, created)); err != nil {
		t.Fatal(err)
	}
	r.mustSend(ev("customer.subscription.updated", map[string]any{"status": "active", "default_payment_method": "pm_Other"}))
	if n := len(r.changes(`kind = 'subscription_state'`)); n != 1 {
		t.Fatalf("%d subscription changes after no real change, want 1", n)
	}
	// A quantity change, which lives in the items, is a change.
	withQuantity := eventfixtures.MustEvent(t, "customer.subscription.updated", eventfixtures.Options{Created: at + 10})
	withQuantity = []byte(strings.Replace(string(withQuantity), `"quantity":1`, `"quantity":3`, 1))
	r.mustSend(withQuantity)
	subs = r.changes(`kind = 'subscription_state'`)
	if len(subs) != 2 || subs[1].State["quantity"] != float64(3) || *subs[1].Amount != 6000 {
		t.Fatalf("after a quantity change: %+v", subs)
	}
}

func eventIDOf(t *testing.T, payload []byte) string {
	t.Helper()
	e, err := webhooks.ParseEvent(payload)
	if err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func TestOutboxKindsOfMoney(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for _, typ := range []string{"customer.created", "invoice.payment_failed", "invoice.payment_action_required", "invoice.paid",
		"charge.dispute.created", "charge.refunded", "refund.created"} {
		r.mustSend(r.event(typ, eventfixtures.Options{}))
	}
	var kinds []string
	for _, c := range r.changes(`kind NOT IN ('subscription_state', 'checkout_session')`) {
		kinds = append(kinds, c.Kind+":"+c.Key)
		if c.SubjectID == nil || *c.SubjectID != "u_123" {
			t.Errorf("%s %s has subject %v, want u_123 (from the customer's mapping or the payment)", c.Kind, c.Key, c.SubjectID)
		}
		switch c.Kind {
		case "payment_refunded":
			if *c.AmountRefunded != 2000 || c.Status != "refunded" {
				t.Errorf("refunded payment: %+v", c)
			}
		case "refund":
			if *c.Amount != 2000 || c.State["payment_intent_id"] != "pi_Fixture1" || c.Status != "succeeded" {
				t.Errorf("refund: %+v", c)
			}
		case "payment_failed":
			if c.State["failure_message"] == nil || c.Status != "failed" {
				t.Errorf("failure: %+v", c)
			}
		}
	}
	want := []string{"payment_failed:pi_Fixture1", "payment_action_required:pi_Fixture1", "payment_succeeded:pi_Fixture1",
		"dispute:dp_Fixture1", "payment_refunded:pi_Fixture1", "refund:re_Fixture1"}
	if len(kinds) != len(want) {
		t.Fatalf("changes %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("changes %v, want %v", kinds, want)
		}
	}
}

func TestOutboxCheckoutCarriesMetadataAndSubject(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.mustSend(r.event("customer.created", eventfixtures.Options{}))
	// No subject on the session itself: it comes from the customer's mapping.
	r.mustSend(r.event("checkout.session.completed", eventfixtures.Options{Object: map[string]any{"mode": "payment", "subscription": nil,
		"payment_intent": "pi_Order", "client_reference_id": nil, "metadata": map[string]any{"order_id": "ord_42"}}}))
	cs := r.changes(`kind = 'checkout_session'`)
	if len(cs) != 1 || cs[0].Key != "cs_test_Fixture1" || cs[0].State["payment_status"] != "paid" || cs[0].State["mode"] != "payment" ||
		cs[0].State["metadata"].(map[string]any)["order_id"] != "ord_42" || *cs[0].SubjectID != "u_123" || *cs[0].Amount != 2000 {
		t.Fatalf("checkout change: %+v", cs)
	}
	pay := r.changes(`kind = 'payment_succeeded'`)
	if len(pay) != 1 || pay[0].Key != "pi_Order" || pay[0].State["checkout_mode"] != "payment" ||
		pay[0].State["metadata"].(map[string]any)["order_id"] != "ord_42" || pay[0].State["checkout_session_id"] != "cs_test_Fixture1" {
		t.Fatalf("payment change: %+v", pay)
	}
}
