package scaffold_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/scaffold"
	"github.com/billwire/billwire/internal/vocab"
)

// The holes a review found in the first revision of version 2 (its SQL is
// kept in testdata/scaffold/v2r1). Each test is the attack; the current
// revision must close it.

// balanceOf is a user's credit balance in test, 0 without a row.
func (r *rig) balanceOf(user string) int64 {
	r.t.Helper()
	if v := r.row(`SELECT balance FROM public.credit_balances WHERE user_id = $1`, user); v != nil {
		return v[0].(int64)
	}
	return 0
}

// One payment cannot buy both an order and credits: a credit pack's
// payment that names an order grants nothing.
func TestCreditsNothingForAPaymentNamingAnOrder(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.OneTimeOrders})
	r.apply(scaffold.Options{Pattern: scaffold.Credits, Grants: map[string]int64{"credits_100": 100}})
	order := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_9', 1000, 'usd') RETURNING id`).(string)
	r.billwireSession("cs_test_Both", "user", "u_9", item("credits_100", 1))
	s := creditSession("cs_test_Both", "pi_Both", 1000)
	s["currency"], s["amount_subtotal"] = "usd", 1000
	s["metadata"].(map[string]any)["order_id"] = order
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: s}))
	r.send(r.event("payment_intent.succeeded", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": "pi_Both"},
		Object: map[string]any{"invoice": nil, "amount": 1000, "amount_received": 1000}}))
	if v := r.row(`SELECT (SELECT status FROM public.orders WHERE id = $1), (SELECT count(*) FROM public.credit_ledger)`, order); v[0] != "paid" || v[1] != int64(0) {
		t.Fatalf("order and ledger: %v, want the order paid and no credits", v)
	}
	// A credit purchase that names no order still grants.
	r.billwireSession("cs_test_Pack", "user", "u_9", item("credits_100", 1))
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: creditSession("cs_test_Pack", "pi_Pack", 1000)}))
	if b := r.balanceOf("u_9"); b != 100 {
		t.Fatalf("a plain credit purchase: balance %d, want 100", b)
	}
}

// refundEvent is a succeeded refund of payment pi, amount in cents.
func (r *rig) refundEvent(re, pi string, amount int64) []byte {
	return r.event("refund.created", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": pi, "re_Fixture1": re},
		Object: map[string]any{"amount": amount}})
}

// disputeEvent is a dispute of payment pi closed with status.
func (r *rig) disputeEvent(dp, pi, status string, amount int64) []byte {
	return r.event("charge.dispute.closed", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": pi, "dp_Fixture1": dp},
		Object: map[string]any{"amount": amount, "status": status}})
}

// A refund or a lost dispute takes the credits back whether it arrives
// before or after the grant, at most what was granted, once per key.
func TestCreditsRevokedWhateverTheOrder(t *testing.T) {
	t.Parallel()
	grants := map[string]int64{"credits_100": 100}
	t.Run("refund_before_the_grant", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, false)
		r.apply(scaffold.Options{Pattern: scaffold.Credits, Grants: grants})
		// The payment, then its full refund, then the session that says
		// what it bought (a session made elsewhere: its line items come later).
		r.send(r.event("payment_intent.succeeded", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": "pi_Early"},
			Object: map[string]any{"invoice": nil, "amount": 3000, "amount_received": 3000}}))
		r.send(r.refundEvent("re_Early", "pi_Early", 3000))
		r.lineItems("cs_test_Early", 3)
		r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: creditSession("cs_test_Early", "pi_Early", 3000)}))
		if b := r.balanceOf("u_9"); b != 0 {
			t.Fatalf("refunded before the grant, the credits stay: balance %d, want 0", b)
		}
		if v := r.row(`SELECT credits, reason FROM public.credit_ledger WHERE source_key = 're_Early'`); v == nil || v[0] != int64(-300) || v[1] != "refund" {
			t.Fatalf("revocation row %v, want -300 refund", v)
		}
	})
	t.Run("lost_dispute_before_the_grant", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, false)
		r.apply(scaffold.Options{Pattern: scaffold.Credits, Grants: grants})
		r.send(r.disputeEvent("dp_Early", "pi_Early", "lost", 3000))
		r.lineItems("cs_test_Early", 3)
		r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: creditSession("cs_test_Early", "pi_Early", 3000)}))
		if v := r.row(`SELECT credits, reason FROM public.credit_ledger WHERE source_key = 'dp_Early'`); v == nil || v[0] != int64(-300) || v[1] != "dispute" {
			t.Fatalf("revocation row %v, want -300 dispute", v)
		}
		if b := r.balanceOf("u_9"); b != 0 {
			t.Fatalf("balance %d, want 0", b)
		}
	})
	t.Run("after_the_grant_capped_and_once", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, false)
		r.apply(scaffold.Options{Pattern: scaffold.Credits, Grants: grants})
		r.billwireSession("cs_test_Late", "user", "u_9", item("credits_100", 3))
		r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: creditSession("cs_test_Late", "pi_Late", 3000)}))
		// A dispute still open takes nothing; won takes nothing.
		r.send(r.disputeEvent("dp_Won", "pi_Late", "won", 3000))
		if b := r.balanceOf("u_9"); b != 300 {
			t.Fatalf("after a won dispute: %d, want 300", b)
		}
		refund := r.refundEvent("re_Late", "pi_Late", 2000)
		r.send(refund)
		r.send(refund)
		if b := r.balanceOf("u_9"); b != 100 {
			t.Fatalf("after refunding two thirds: %d, want 100", b)
		}
		// A lost dispute of the whole amount takes what is left, not more.
		lost := r.disputeEvent("dp_Late", "pi_Late", "lost", 3000)
		r.send(lost)
		r.send(lost)
		if v := r.row(`SELECT (SELECT balance FROM public.credit_balances WHERE user_id = 'u_9'),
			(SELECT credits FROM public.credit_ledger WHERE source_key = 'dp_Late'), (SELECT reason FROM public.credit_ledger WHERE source_key = 'dp_Late'),
			(SELECT count(*) FROM public.credit_ledger)`); v[0] != int64(0) || v[1] != int64(-100) || v[2] != "dispute" || v[3] != int64(3) {
			t.Fatalf("after the lost dispute (balance, its row, reason, rows): %v, want 0, -100, dispute, 3", v)
		}
		// Re-applying the scaffold replays the outbox: nothing more is taken.
		m, _ := scaffold.Generate(scaffold.Options{Pattern: scaffold.Credits, Grants: grants})
		if _, err := r.st.Pool().Exec(context.Background(), m.SQL); err != nil {
			t.Fatal(err)
		}
		if b, n := r.balanceOf("u_9"), r.one(`SELECT count(*) FROM public.credit_ledger`); b != 0 || n != int64(3) {
			t.Fatalf("after a replay: balance %d, %v rows", b, n)
		}
	})
	t.Run("refund_and_lost_dispute_before_the_grant", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, false)
		r.apply(scaffold.Options{Pattern: scaffold.Credits, Grants: grants})
		r.send(r.refundEvent("re_Both", "pi_Both", 3000))
		r.send(r.disputeEvent("dp_Both", "pi_Both", "lost", 3000))
		r.lineItems("cs_test_Both", 3)
		r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: creditSession("cs_test_Both", "pi_Both", 3000)}))
		if v := r.row(`SELECT (SELECT balance FROM public.credit_balances WHERE user_id = 'u_9'), min(credits) FILTER (WHERE credits < 0),
			max(credits) FILTER (WHERE credits < 1) FROM public.credit_ledger`); v[0] != int64(0) || v[1] != int64(-300) || v[2] != int64(0) {
			t.Fatalf("balance, revocations: %v, want 0 with -300 and 0", v)
		}
	})
}

// A second payment for an order already paid does not pay it again: it is
// a mismatch, already_paid, for the app to refund.
func TestOrderSecondPaymentIsAlreadyPaid(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.OneTimeOrders})
	order := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_1', 50000, 'usd') RETURNING id`).(string)
	first := attackSession(order, "u_1", 50000, "usd")
	first["id"], first["payment_intent"] = "cs_test_First", "pi_First"
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: first}))
	paidAt := r.one(`SELECT paid_at FROM public.orders WHERE id = $1`, order)
	// The same session again (its async event) is no mismatch.
	r.send(r.event("checkout.session.async_payment_succeeded", eventfixtures.Options{Object: first}))
	second := attackSession(order, "u_1", 50000, "usd")
	second["id"], second["payment_intent"] = "cs_test_Second", "pi_Second"
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: second}))
	v := r.row(`SELECT o.status, o.checkout_session_id, o.paid_at = $2, m.reason, m.payment_key, m.detail->>'payment_intent_id', m.detail->'nothing_paid'
		FROM public.orders o LEFT JOIN payments.fulfillment_mismatches m ON m.order_id = o.id WHERE o.id = $1`, order, paidAt)
	if v[0] != "paid" || v[1] != "cs_test_First" || v[2] != true || v[3] != "already_paid" || v[4] != "cs_test_Second" || v[5] != "pi_Second" || v[6] != false {
		t.Fatalf("after a second payment: %v, want the order paid by the first, an already_paid mismatch for the second", v)
	}
	if n := r.one(`SELECT count(*) FROM payments.fulfillment_mismatches`); n != int64(1) {
		t.Fatalf("%v mismatches, want 1", n)
	}
	sum, err := r.st.FulfillmentMismatches(context.Background(), vocab.Test, time.Now().Add(-time.Hour), 5)
	if err != nil || sum.Open != 1 || sum.ByReason["already_paid"] != 1 {
		t.Fatalf("summary %+v %v: the second payment is open until refunded", sum, err)
	}
}

// What a payment grants follows the lookup keys its line items had when it
// was bought: moving a lookup key to another price afterwards changes no
// grant, and a cheap price that takes a pack's key later gains nothing.
func TestCreditsUseTheLookupKeyRecordedAtPurchase(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.send(r.event("product.created", eventfixtures.Options{}))
	// price_Fixture1 is the cheap one (lookup key pro_monthly), price_Pack1k the pack.
	r.send(r.event("price.created", eventfixtures.Options{}))
	r.send(r.event("price.created", eventfixtures.Options{Replace: map[string]string{"price_Fixture1": "price_Pack1k", "pro_monthly": "credits_1k"}}))
	r.apply(scaffold.Options{Pattern: scaffold.Credits, Grants: map[string]int64{"credits_1k": 1000}})
	// Two purchases recorded before either grant: the pack (user u_9) and
	// the cheap price (user u_8); their sessions' events come later.
	r.billwireSession("cs_test_Pack", "user", "u_9", map[string]any{"price_id": "price_Pack1k", "quantity": 1})
	r.billwireSession("cs_test_Cheap", "user", "u_8", map[string]any{"price_id": "price_Fixture1", "quantity": 1})
	// The pack's lookup key moves to the cheap price (transfer_lookup_key).
	r.send(r.event("price.updated", eventfixtures.Options{Replace: map[string]string{"price_Fixture1": "price_Pack1k", "pro_monthly": "credits_old"}}))
	r.send(r.event("price.updated", eventfixtures.Options{Replace: map[string]string{"pro_monthly": "credits_1k"}}))
	if k := r.one(`SELECT lookup_key FROM payments.prices WHERE id = 'price_Fixture1'`); k != "credits_1k" {
		t.Fatalf("the cheap price's lookup key is %v; the test did not move it", k)
	}
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: creditSession("cs_test_Pack", "pi_Pack", 10000)}))
	cheap := creditSession("cs_test_Cheap", "pi_Cheap", 100)
	cheap["metadata"] = map[string]any{"billwire_subject_type": "user", "billwire_subject_id": "u_8"}
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: cheap}))
	if p, c := r.balanceOf("u_9"), r.balanceOf("u_8"); p != 1000 || c != 0 {
		t.Fatalf("balances: the pack's buyer %d (want 1000), the cheap price's buyer %d (want 0)", p, c)
	}
}

// A mismatch where nothing was paid (a trial, a free session) says so and
// is never open: there is nothing to refund, so doctor does not fail on it.
func TestFreeMismatchesAreNeverOpen(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.OneTimeOrders})
	order := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_1', 50000, 'usd') RETURNING id`).(string)
	s := attackSession(order, "u_1", 0, "usd")
	s["payment_status"], s["payment_intent"] = "no_payment_required", nil
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: s}))
	if v := r.row(`SELECT reason, detail->'nothing_paid' FROM payments.fulfillment_mismatches`); v == nil || v[0] != "unpaid" || v[1] != true {
		t.Fatalf("the free session's mismatch: %v, want unpaid with nothing_paid true", v)
	}
	sum, err := r.st.FulfillmentMismatches(context.Background(), vocab.Test, time.Now().Add(-time.Hour), 5)
	if err != nil || sum.Total != 1 || sum.Recent != 1 || sum.Open != 0 || len(sum.Latest) != 1 || !sum.Latest[0].NothingPaid {
		t.Fatalf("summary %+v %v: want one recent mismatch, nothing paid, none open", sum, err)
	}
	// One a version 2 revision 1 scaffold recorded without the field, with
	// amount_total 0, is not open either.
	r.exec(`INSERT INTO payments.fulfillment_mismatches (env, payment_key, order_id, reason, detail)
		VALUES ('test', 'cs_test_Old', $1, 'unpaid', '{"amount_total": 0, "mode": "subscription"}')`, order)
	if sum, err := r.st.FulfillmentMismatches(context.Background(), vocab.Test, time.Now().Add(-time.Hour), 5); err != nil || sum.Open != 0 || sum.Recent != 2 {
		t.Fatalf("with an older free mismatch: %+v %v", sum, err)
	}
	// A paid one is open.
	paid := attackSession(order, "u_1", 100, "usd")
	paid["id"] = "cs_test_Paid"
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: paid}))
	if sum, err := r.st.FulfillmentMismatches(context.Background(), vocab.Test, time.Now().Add(-time.Hour), 5); err != nil || sum.Open != 1 {
		t.Fatalf("with an underpayment: %+v %v", sum, err)
	}
}

// A scaffold of version 2's first revision (applied by billwire, or run by
// the app's migration tool) is outdated, with the command that upgrades it
// (its own grants); the same arguments upgrade it in place under the same
// name, other grants are still drift.
func TestRevision1IsOutdatedAndUpgraded(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	ctx := context.Background()
	name := applyOld(t, r.st, "v2r1", "credits")
	if _, err := r.st.Pool().Exec(ctx, mustRead(t, "v2r1", "one_time_orders")); err != nil { // the app's migration tool
		t.Fatal(err)
	}
	out, err := scaffold.FindOutdated(ctx, r.st)
	if err != nil || len(out) != 2 {
		t.Fatalf("outdated: %+v %v, want both revision 1 scaffolds", out, err)
	}
	want := map[string]string{
		"public.credit_ledger": "billwire scaffold --pattern credits --env test --table public.credit_ledger --grants credits_100=100,credits_1k=1000 --apply",
		"public.orders":        "billwire scaffold --pattern one_time_orders --env test --table public.orders --apply",
	}
	for _, o := range out {
		if o.Version != 2 || o.Revision != 1 || o.Command() != want[o.Table] || !strings.Contains(o.Hint(), "revision") {
			t.Errorf("%+v: command %q hint %q; want %q", o, o.Command(), o.Hint(), want[o.Table])
		}
	}
	other, _ := scaffold.Generate(scaffold.Options{Pattern: scaffold.Credits, Grants: map[string]int64{"credits_100": 50}})
	if _, err := scaffold.Apply(ctx, r.st, other); !errors.Is(err, scaffold.ErrDrift) {
		t.Fatalf("other grants over revision 1: %v, want drift", err)
	}
	for _, o := range []scaffold.Options{{Pattern: scaffold.Credits, Grants: map[string]int64{"credits_100": 100, "credits_1k": 1000}},
		{Pattern: scaffold.OneTimeOrders}} {
		m, err := scaffold.Generate(o)
		if err != nil {
			t.Fatal(err)
		}
		a, err := scaffold.Apply(ctx, r.st, m)
		if err != nil || a.AlreadyApplied || !strings.Contains(a.UpgradedFrom, "revision 1") || !strings.HasSuffix(m.Name, "_v2") {
			t.Fatalf("upgrade %s: %+v %v", m.Name, a, err)
		}
		if again, err := scaffold.Apply(ctx, r.st, m); err != nil || !again.AlreadyApplied {
			t.Fatalf("again: %+v %v", again, err)
		}
	}
	if out, err := scaffold.FindOutdated(ctx, r.st); err != nil || len(out) != 0 {
		t.Fatalf("after the upgrade: %+v %v", out, err)
	}
	// Revision 1's record is kept beside the new one.
	if v := r.row(`SELECT count(*) FROM payments.app_migrations WHERE name LIKE $1`, name+"%"); v[0] != int64(2) {
		t.Fatalf("records of %s: %v, want revision 1's and revision 2's", name, v)
	}
	bs, _ := scaffold.Bindings(ctx, r.st)
	for _, b := range bs {
		if b.Version != 2 || b.Revision != 2 {
			t.Errorf("binding %+v", b)
		}
	}
}

func mustRead(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "scaffold", dir, name+".sql"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
