package scaffold_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/scaffold"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
)

// Version 1 of the scaffolds, as billwire generated them before version 2
// (testdata/scaffold/v1: one_time_orders and subscription_access with the
// defaults, credits with credits_per_unit 100). The attacker tests run on
// both: version 1 shows the hole, version 2 must close it.

var v1Name = regexp.MustCompile(`Migration (billwire_[a-z0-9_]+)\.`)

// applyV1 applies a version 1 scaffold as version 1's Apply did: executed
// under the outbox lock and recorded in payments.app_migrations.
func applyV1(t *testing.T, st *store.Store, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "scaffold", "v1", name+".sql"))
	if err != nil {
		t.Fatal(err)
	}
	m := v1Name.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("%s: no migration name", name)
	}
	sum := sha256.Sum256(b)
	ctx := context.Background()
	tx, err := st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, q := range []string{`LOCK TABLE payments.billing_changes IN ACCESS EXCLUSIVE MODE`, string(b)} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("v1 %s: %v", name, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO payments.app_migrations (name, checksum, sql) VALUES ($1, $2, $3)`,
		m[1], hex.EncodeToString(sum[:]), string(b)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return m[1]
}

func (r *rig) applyVersion(version int, o scaffold.Options, v1 string) {
	r.t.Helper()
	if version == 1 {
		applyV1(r.t, r.st, v1)
		return
	}
	r.apply(o)
}

// attackSession is a paid one-time Checkout Session naming order.
func attackSession(order string, subject string, subtotal int64, currency string) map[string]any {
	md := map[string]any{"order_id": order}
	if subject != "" {
		md["billwire_subject_type"] = "user"
		md["billwire_subject_id"] = subject
	}
	return map[string]any{"id": "cs_test_Attack", "mode": "payment", "payment_status": "paid", "payment_intent": "pi_Attack",
		"subscription": nil, "amount_total": subtotal, "amount_subtotal": subtotal, "currency": currency, "metadata": md,
		"client_reference_id": nil}
}

// An order is paid by its owner's payment of its amount in its currency,
// and by nothing else: each attack pays a v1 order and leaves a v2 order
// pending, with the reason recorded.
func TestOrderAttacks(t *testing.T) {
	t.Parallel()
	type attack struct {
		name string
		// order's user_id, amount and currency (nil for NULL)
		owner, amount, currency any
		session                 func(order string) map[string]any
		billwire                bool // the session is billwire's own row
		reason                  string
	}
	attacks := []attack{
		{name: "the owner pays 1.00 of a 500.00 order", owner: "u_1", amount: 50000, currency: "usd",
			session: func(o string) map[string]any { return attackSession(o, "u_1", 100, "usd") }, billwire: true, reason: "underpaid"},
		{name: "a session made elsewhere with the owner's client_reference_id pays 1.00", owner: "u_1", amount: 50000, currency: "usd",
			session: func(o string) map[string]any {
				s := attackSession(o, "", 100, "usd")
				s["client_reference_id"] = "user:u_1"
				return s
			}, reason: "underpaid"},
		{name: "a trial (no_payment_required) names a 500.00 order", owner: "u_1", amount: 50000, currency: "usd",
			session: func(o string) map[string]any {
				s := attackSession(o, "u_1", 0, "usd")
				s["mode"], s["payment_status"], s["subscription"], s["payment_intent"] = "subscription", "no_payment_required", "sub_Trial", nil
				return s
			}, reason: "unpaid"},
		{name: "a no_payment_required payment session names a 500.00 order", owner: "u_1", amount: 50000, currency: "usd",
			session: func(o string) map[string]any {
				s := attackSession(o, "u_1", 0, "usd")
				s["payment_status"], s["payment_intent"] = "no_payment_required", nil
				return s
			}, reason: "unpaid"},
		{name: "another user's paid session names the order", owner: "u_1", amount: 50000, currency: "usd",
			session: func(o string) map[string]any { return attackSession(o, "u_2", 50000, "usd") }, billwire: true, reason: "wrong_owner"},
		{name: "the full amount in another currency", owner: "u_1", amount: 50000, currency: "usd",
			session: func(o string) map[string]any { return attackSession(o, "u_1", 50000, "jpy") }, reason: "wrong_currency"},
		{name: "an order with no amount", owner: "u_1", amount: nil, currency: "usd",
			session: func(o string) map[string]any { return attackSession(o, "u_1", 100, "usd") }, reason: "order_incomplete"},
		{name: "an order with no owner", owner: nil, amount: 50000, currency: "usd",
			session: func(o string) map[string]any { return attackSession(o, "u_1", 50000, "usd") }, reason: "order_incomplete"},
		{name: "an order with no currency", owner: "u_1", amount: 50000, currency: nil,
			session: func(o string) map[string]any { return attackSession(o, "u_1", 50000, "usd") }, reason: "order_incomplete"},
	}
	for _, version := range []int{1, 2} {
		for _, a := range attacks {
			t.Run(strings.ReplaceAll(a.name, " ", "_")+"/v"+string(rune('0'+version)), func(t *testing.T) {
				t.Parallel()
				r := newRig(t, false)
				r.applyVersion(version, scaffold.Options{Pattern: scaffold.OneTimeOrders}, "one_time_orders")
				order := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ($1, $2, $3) RETURNING id`,
					a.owner, a.amount, a.currency).(string)
				s := a.session(order)
				if a.billwire {
					r.billwireSession("cs_test_Attack", "user", s["metadata"].(map[string]any)["billwire_subject_id"].(string), item("sticker", 1))
				}
				r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: s}))
				status := r.one(`SELECT status FROM public.orders WHERE id = $1`, order)
				mm := r.row(`SELECT reason, payment_key, detail FROM payments.fulfillment_mismatches WHERE order_id = $1`, order)
				if version == 1 {
					if status != "paid" {
						t.Fatalf("version 1 left the order %v; the attack no longer shows v1's hole", status)
					}
					return
				}
				if status != "pending" {
					t.Fatalf("the order is %v, want pending", status)
				}
				if mm == nil || mm[0] != a.reason || mm[1] != "cs_test_Attack" {
					t.Fatalf("mismatch %v, want reason %s for cs_test_Attack", mm, a.reason)
				}
				if n := r.one(`SELECT count(*) FROM payments.fulfillment_mismatches`); n != int64(1) {
					t.Fatalf("%v mismatches, want 1", n)
				}
			})
		}
	}
}

// The owner's exact payment pays, in any letter case of the currency; an
// order of amount 0 is paid by a session that needed no payment; more than
// the amount pays too.
func TestOrderPaidByTheOwnersPayment(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.OneTimeOrders})
	order := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_1', 50000, 'USD') RETURNING id`).(string)
	free := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_1', 0, 'usd') RETURNING id`).(string)
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: attackSession(order, "u_1", 50000, "usd")}))
	zero := attackSession(free, "u_1", 0, "usd")
	zero["id"], zero["payment_status"], zero["payment_intent"] = "cs_test_Free", "no_payment_required", nil
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: zero}))
	if v := r.row(`SELECT (SELECT status FROM public.orders WHERE id = $1), (SELECT payment_key FROM public.orders WHERE id = $1),
		(SELECT status FROM public.orders WHERE id = $2), (SELECT count(*) FROM payments.fulfillment_mismatches)`, order, free); v[0] != "paid" ||
		v[1] != "pi_Attack" || v[2] != "paid" || v[3] != int64(0) {
		t.Fatalf("orders and mismatches: %v", v)
	}
}

// A delayed payment that completes unpaid is not judged until it is paid;
// then an underpayment is a mismatch like any other.
func TestOrderDelayedUnderpaymentJudgedWhenPaid(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.OneTimeOrders})
	order := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_1', 50000, 'usd') RETURNING id`).(string)
	s := attackSession(order, "u_1", 100, "usd")
	s["payment_status"] = "unpaid"
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: s}))
	if n := r.one(`SELECT count(*) FROM payments.fulfillment_mismatches`); n != int64(0) {
		t.Fatalf("an unpaid completion is already a mismatch: %v", n)
	}
	s["payment_status"] = "paid"
	r.send(r.event("checkout.session.async_payment_succeeded", eventfixtures.Options{Object: s}))
	if v := r.row(`SELECT (SELECT status FROM public.orders WHERE id = $1), (SELECT reason FROM payments.fulfillment_mismatches)`, order); v[0] != "pending" || v[1] != "underpaid" {
		t.Fatalf("after the delayed 1.00 payment: %v", v)
	}
}

// Another payment that names a paid order cannot mark it refunded, nor
// another user's failed payment mark a pending one failed; the owner's
// own refund and failure still do.
func TestOrderRefundAndFailureOnlyFromItsOwnPayment(t *testing.T) {
	t.Parallel()
	for _, version := range []int{1, 2} {
		t.Run("v"+string(rune('0'+version)), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, false)
			r.applyVersion(version, scaffold.Options{Pattern: scaffold.OneTimeOrders}, "one_time_orders")
			paid := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_1', 50000, 'usd') RETURNING id`).(string)
			pending := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_1', 50000, 'usd') RETURNING id`).(string)
			own := attackSession(paid, "u_1", 50000, "usd")
			own["id"], own["payment_intent"] = "cs_test_Own", "pi_Own"
			r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: own}))
			// Another user's payment naming the paid order, refunded in full.
			other := attackSession(paid, "u_2", 100, "usd")
			r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: other}))
			r.send(r.event("charge.refunded", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": "pi_Attack", "ch_Fixture1": "ch_Attack"},
				Object: map[string]any{"amount": 100, "amount_refunded": 100, "invoice": nil}}))
			// Another user's delayed payment naming the pending order fails.
			failing := attackSession(pending, "u_2", 50000, "usd")
			failing["id"], failing["payment_intent"], failing["payment_status"] = "cs_test_Failing", "pi_Failing", "unpaid"
			r.send(r.event("checkout.session.async_payment_failed", eventfixtures.Options{Object: failing}))
			v := r.row(`SELECT (SELECT status FROM public.orders WHERE id = $1), (SELECT amount_refunded FROM public.orders WHERE id = $1),
				(SELECT status FROM public.orders WHERE id = $2)`, paid, pending)
			if version == 1 {
				if v[0] != "refunded" || v[2] != "failed" {
					t.Fatalf("version 1: %v; the attack no longer shows v1's hole", v)
				}
				return
			}
			if v[0] != "paid" || v[1] != int64(0) || v[2] != "pending" {
				t.Fatalf("another user's refund or failure changed the orders: %v, want paid, 0, pending", v)
			}
			// The owner's own: a partial refund, then the whole; a failure.
			r.send(r.event("charge.refunded", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": "pi_Own", "ch_Fixture1": "ch_Own"},
				Object: map[string]any{"amount": 50000, "amount_refunded": 20000, "invoice": nil}}))
			if v := r.row(`SELECT status, amount_refunded FROM public.orders WHERE id = $1`, paid); v[0] != "paid" || v[1] != int64(20000) {
				t.Fatalf("after the owner's partial refund: %v", v)
			}
			r.send(r.event("charge.refunded", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": "pi_Own", "ch_Fixture1": "ch_Own"},
				Object: map[string]any{"amount": 50000, "amount_refunded": 50000, "invoice": nil}}))
			failing["metadata"] = map[string]any{"order_id": pending, "billwire_subject_type": "user", "billwire_subject_id": "u_1"}
			failing["id"], failing["payment_intent"] = "cs_test_OwnFailing", "pi_OwnFailing"
			r.send(r.event("checkout.session.async_payment_failed", eventfixtures.Options{Object: failing}))
			if v := r.row(`SELECT (SELECT status FROM public.orders WHERE id = $1), (SELECT status FROM public.orders WHERE id = $2)`, paid, pending); v[0] != "refunded" || v[1] != "failed" {
				t.Fatalf("the owner's refund and failure: %v, want refunded, failed", v)
			}
		})
	}
}

// Credits are granted only for units of the packs named in grants, each
// its own amount, and only once the line items are known.
func TestCreditsAttacks(t *testing.T) {
	t.Parallel()
	grants := map[string]int64{"credits_100": 100, "credits_1k": 1000}
	cases := []struct {
		name   string
		items  []map[string]any // billwire's session request; nil: a session made elsewhere
		amount int64
		v1, v2 int64 // the balance after the purchase (version 1: 100 per unit of anything)
	}{
		{"a 1.00 sticker", []map[string]any{item("sticker", 1)}, 100, 100, 0},
		{"three stickers", []map[string]any{item("sticker", 3)}, 300, 300, 0},
		{"two packs of 100 and one of 1000", []map[string]any{item("credits_100", 2), item("credits_1k", 1)}, 2000, 300, 1200},
		{"a pack named by its price id", []map[string]any{{"price_id": "price_Pack1k", "quantity": 2}}, 2000, 200, 2000},
		{"a sticker named by its price id", []map[string]any{{"price_id": "price_Fixture1", "quantity": 1}}, 100, 100, 0},
		{"a pack with a sticker", []map[string]any{item("credits_100", 1), item("sticker", 5)}, 600, 600, 100},
	}
	for _, version := range []int{1, 2} {
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_")+"/v"+string(rune('0'+version)), func(t *testing.T) {
				t.Parallel()
				r := newRig(t, false)
				r.send(r.event("product.created", eventfixtures.Options{}))
				r.send(r.event("price.created", eventfixtures.Options{}))
				r.send(r.event("price.created", eventfixtures.Options{Replace: map[string]string{"price_Fixture1": "price_Pack1k", "pro_monthly": "credits_1k"}}))
				r.applyVersion(version, scaffold.Options{Pattern: scaffold.Credits, Grants: grants}, "credits")
				r.billwireSession("cs_test_Buy", "user", "u_9", c.items...)
				r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: creditSession("cs_test_Buy", "pi_Buy", c.amount)}))
				want := c.v2
				if version == 1 {
					want = c.v1
				}
				if got := r.row(`SELECT balance FROM public.credit_balances WHERE user_id = 'u_9'`); (got == nil && want != 0) || (got != nil && got[0] != want) {
					t.Fatalf("balance %v, want %d", got, want)
				}
			})
		}
	}
}

// A payment whose line items are not known yet grants nothing (version 1
// granted one unit's worth); once they are known, the session's change
// grants, once.
func TestCreditsWaitForTheLineItems(t *testing.T) {
	t.Parallel()
	for _, version := range []int{1, 2} {
		t.Run("v"+string(rune('0'+version)), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, false)
			r.applyVersion(version, scaffold.Options{Pattern: scaffold.Credits, Grants: map[string]int64{"credits_100": 100}}, "credits")
			balance := func() any {
				if v := r.row(`SELECT balance FROM public.credit_balances WHERE user_id = 'u_9'`); v != nil {
					return v[0]
				}
				return int64(0)
			}
			r.send(r.event("payment_intent.succeeded", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": "pi_Elsewhere"},
				Object: map[string]any{"invoice": nil, "amount": 3000, "amount_received": 3000}}))
			if b := balance(); b != int64(0) {
				t.Fatalf("granted %v before the session (and its line items) was known", b)
			}
			// The session's event: billwire fetches its line items from
			// Stripe (a session made elsewhere, a credits scaffold bound).
			r.lineItems("cs_test_Elsewhere", 3)
			r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: creditSession("cs_test_Elsewhere", "pi_Elsewhere", 3000)}))
			if version == 1 {
				if b := balance(); b != int64(100) {
					t.Fatalf("version 1 granted %v; the test no longer shows its one-unit default", b)
				}
				return
			}
			if b := balance(); b != int64(300) {
				t.Fatalf("after the line items became known: %v, want 300", b)
			}
			r.send(r.event("checkout.session.async_payment_succeeded", eventfixtures.Options{Object: creditSession("cs_test_Elsewhere", "pi_Elsewhere", 3000)}))
			if v := r.row(`SELECT count(*), min(source_key), min(items::text) FROM public.credit_ledger`); v[0] != int64(1) || v[1] != "pi_Elsewhere" ||
				!strings.Contains(v[2].(string), `"credits": 300`) {
				t.Fatalf("ledger: %v, want one grant keyed pi_Elsewhere with its items", v)
			}
			// A full refund revokes what was granted, not more.
			r.send(r.event("refund.created", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": "pi_Elsewhere", "re_Fixture1": "re_Elsewhere"},
				Object: map[string]any{"amount": 3000}}))
			if b := balance(); b != int64(0) {
				t.Fatalf("after a full refund: %v", b)
			}
		})
	}
}

// Version 2 over version 1 is an upgrade: the tables are kept (with what
// they hold), columns added, functions and triggers replaced, a new record;
// until then the scaffold is outdated, with the command that upgrades it.
func TestUpgradeFromVersion1(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	// The attacks are sessions made elsewhere: with a credits scaffold
	// bound, billwire lists their line items from Stripe.
	r.lineItems("cs_test_Attack", 1)
	r.lineItems("cs_test_V1Attack", 1)
	r.lineItems("cs_test_Cheap", 1)
	ctx := context.Background()
	v1Orders := applyV1(t, r.st, "one_time_orders")
	v1Credits := applyV1(t, r.st, "credits_team_schema")
	paid := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_1', 50000, 'usd') RETURNING id`).(string)
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: attackSession(paid, "u_1", 50000, "usd")}))
	r.exec(`INSERT INTO app.team_credits (env, team_id, credits, reason, source_key) VALUES ('test', 't_1', 5, 'purchase', 'pi_Old')`)
	// Version 1 pays an order for a 1.00 payment that names it.
	robbed := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_1', 50000, 'usd') RETURNING id`).(string)
	v1Attack := attackSession(robbed, "u_1", 100, "usd")
	v1Attack["id"], v1Attack["payment_intent"] = "cs_test_V1Attack", "pi_V1Attack"
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: v1Attack}))

	out, err := scaffold.FindOutdated(ctx, r.st)
	if err != nil || len(out) != 2 {
		t.Fatalf("outdated: %+v %v, want both scaffolds", out, err)
	}
	want := map[string][2]string{
		"app.team_credits": {"billwire scaffold --pattern credits --env test --table app.team_credits --subject-type team --grants <lookup_key>=5 --apply",
			`scaffold_fulfillment {pattern: "credits", env: "test", table: "app.team_credits", subject_type: "team", grants: {"<lookup_key>": 5}, apply: true}`},
		"public.orders": {"billwire scaffold --pattern one_time_orders --env test --table public.orders --apply",
			`scaffold_fulfillment {pattern: "one_time_orders", env: "test", table: "public.orders", apply: true}`},
	}
	for _, o := range out {
		if w := want[o.Table]; o.Version != 1 || o.Command() != w[0] || o.Call() != w[1] {
			t.Errorf("%+v: command %q, call %q; want %q, %q", o, o.Command(), o.Call(), w[0], w[1])
		}
	}

	orders, err := scaffold.Generate(scaffold.Options{Pattern: scaffold.OneTimeOrders})
	if err != nil {
		t.Fatal(err)
	}
	credits, err := scaffold.Generate(scaffold.Options{Pattern: scaffold.Credits, SubjectType: "team", Table: "app.team_credits",
		Grants: map[string]int64{"team_credits_5": 5}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*scaffold.Migration{orders, credits} {
		if !strings.HasSuffix(m.Name, "_v2") {
			t.Fatalf("name %s", m.Name)
		}
		a, err := scaffold.Apply(ctx, r.st, m)
		if err != nil || a.AlreadyApplied || !strings.Contains(a.UpgradedFrom, "version 1") {
			t.Fatalf("upgrade %s: %+v %v", m.Name, a, err)
		}
	}
	if v := r.row(`SELECT count(*) FILTER (WHERE name IN ($1, $2, $3, $4)) FROM payments.app_migrations`,
		v1Orders, v1Credits, orders.Name, credits.Name); v[0] != int64(4) {
		t.Fatalf("ledger: %v rows of the four", v)
	}
	if out, err := scaffold.FindOutdated(ctx, r.st); err != nil || len(out) != 0 {
		t.Fatalf("after the upgrade: %+v %v", out, err)
	}
	bs, _ := scaffold.Bindings(ctx, r.st)
	for _, b := range bs {
		if b.Version != 2 {
			t.Errorf("binding %+v", b)
		}
	}
	// What version 1 recorded stays; the new column is there; the attack now fails.
	if v := r.row(`SELECT (SELECT status FROM public.orders WHERE id = $1), (SELECT sum(credits)::bigint FROM app.team_credits),
		(SELECT count(*) FROM pg_attribute WHERE attrelid = 'app.team_credits'::regclass AND attname = 'items')`, paid); v[0] != "paid" ||
		v[1] != int64(5) || v[2] != int64(1) {
		t.Fatalf("after the upgrade: %v", v)
	}
	// The upgrade's backfill records what version 1 let through, so the app can check and refund it.
	if v := r.row(`SELECT reason, detail->>'order_status', (SELECT status FROM public.orders WHERE id = $1)
		FROM payments.fulfillment_mismatches WHERE payment_key = 'cs_test_V1Attack'`, robbed); v == nil || v[0] != "underpaid" || v[1] != "paid" || v[2] != "paid" {
		t.Fatalf("version 1's underpaid order after the upgrade: %v", v)
	}
	order := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_1', 50000, 'usd') RETURNING id`).(string)
	cheap := attackSession(order, "u_1", 100, "usd")
	cheap["id"], cheap["payment_intent"] = "cs_test_Cheap", "pi_Cheap"
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: cheap}))
	if v := r.row(`SELECT (SELECT status FROM public.orders WHERE id = $1), (SELECT reason FROM payments.fulfillment_mismatches WHERE order_id = $1)`,
		order); v[0] != "pending" || v[1] != "underpaid" {
		t.Fatalf("after the upgrade, a 1.00 payment: %v", v)
	}
}

// The file write_to writes works as the app's migration tool runs it: on a
// fresh database, and over version 1 (without billwire's own record).
func TestVersion2FileOverVersion1AndFresh(t *testing.T) {
	t.Parallel()
	for _, o := range []scaffold.Options{{Pattern: scaffold.OneTimeOrders}, {Pattern: scaffold.Credits, Grants: map[string]int64{"credits_100": 100}},
		{Pattern: scaffold.SubscriptionAccess}} {
		m, err := scaffold.Generate(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, over := range []bool{false, true} {
			st := storetest.New(t)
			if over {
				applyV1(t, st, o.Pattern)
			}
			if _, err := st.Pool().Exec(context.Background(), m.SQL); err != nil {
				t.Fatalf("%s (over v1: %v): %v", m.Name, over, err)
			}
			if _, err := st.Pool().Exec(context.Background(), m.SQL); err != nil {
				t.Fatalf("%s twice: %v", m.Name, err)
			}
			bs, _ := scaffold.Bindings(context.Background(), st)
			if len(bs) != 1 || bs[0].Version != 2 {
				t.Fatalf("%s: bindings %+v", m.Name, bs)
			}
		}
	}
}
