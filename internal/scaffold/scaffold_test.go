package scaffold_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/loadgen"
	"github.com/billwire/billwire/internal/scaffold"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// The generated SQL of every pattern is pinned under testdata/scaffold.
// Refresh with UPDATE_GOLDEN=1 go test ./internal/scaffold/ after an
// intended change, and review the diff; a missing file fails.
func TestGoldenSQL(t *testing.T) {
	t.Parallel()
	cases := map[string]scaffold.Options{
		"subscription_access":           {Pattern: scaffold.SubscriptionAccess},
		"subscription_access_user_live": {Pattern: scaffold.SubscriptionAccess, SubjectType: "user", Env: "live"},
		"one_time_orders":               {Pattern: scaffold.OneTimeOrders},
		"credits":                       {Pattern: scaffold.Credits, Grants: map[string]int64{"credits_100": 100, "credits_1k": 1000}},
		"credits_team_schema":           {Pattern: scaffold.Credits, Grants: map[string]int64{"team_credits_5": 5}, SubjectType: "team", Table: "app.team_credits"},
	}
	dir := filepath.Join("..", "..", "testdata", "scaffold")
	update := os.Getenv("UPDATE_GOLDEN") != ""
	for name, o := range cases {
		m, err := scaffold.Generate(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, _ := scaffold.Generate(o)
		if again.SQL != m.SQL || again.Checksum != m.Checksum {
			t.Fatalf("%s: the same arguments generated different SQL", name)
		}
		path := filepath.Join(dir, name+".sql")
		want, err := os.ReadFile(path)
		if update {
			if !bytes.Equal(want, []byte(m.SQL)) {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(m.SQL), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: no golden file at %s: run UPDATE_GOLDEN=1 go test ./internal/scaffold/ and review it", name, path)
			continue
		}
		if string(want) != m.SQL {
			t.Errorf("%s: generated SQL changed; if intended, run UPDATE_GOLDEN=1 go test ./internal/scaffold/ and review the diff", name)
		}
	}
}

func TestGenerateRefusesBadArguments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		o    scaffold.Options
		want string
	}{
		{"no pattern", scaffold.Options{}, "pattern is required"},
		{"unknown pattern", scaffold.Options{Pattern: "lifetime_deal"}, `unknown pattern "lifetime_deal"`},
		{"bad env", scaffold.Options{Pattern: "one_time_orders", Env: "prod"}, "env"},
		{"quote in table", scaffold.Options{Pattern: "one_time_orders", Table: `orders"; DROP TABLE users; --`}, "not a valid identifier"},
		{"upper case table", scaffold.Options{Pattern: "one_time_orders", Table: "Orders"}, "not a valid identifier"},
		{"bad schema", scaffold.Options{Pattern: "one_time_orders", Table: "my-app.orders"}, "not a valid identifier"},
		{"three parts", scaffold.Options{Pattern: "one_time_orders", Table: "a.b.c"}, "not a valid identifier"},
		{"billwire's schema", scaffold.Options{Pattern: "one_time_orders", Table: "payments.orders"}, "belongs to billwire"},
		{"catalog schema", scaffold.Options{Pattern: "one_time_orders", Table: "pg_catalog.orders"}, "belongs to billwire or PostgreSQL"},
		{"long table", scaffold.Options{Pattern: "one_time_orders", Table: strings.Repeat("o", 41)}, "longer than 40"},
		{"bad subject type", scaffold.Options{Pattern: "subscription_access", SubjectType: "team'--"}, "not a valid identifier"},
		{"subject type the session API does not take", scaffold.Options{Pattern: "subscription_access", SubjectType: "organization"}, "use user or team"},
		{"credits without grants", scaffold.Options{Pattern: "credits"}, "grants is required"},
		{"negative grant", scaffold.Options{Pattern: "credits", Grants: map[string]int64{"credits_100": -5}}, "out of range"},
		{"grants for orders", scaffold.Options{Pattern: "one_time_orders", Grants: map[string]int64{"credits_100": 10}}, "pattern credits only"},
		{"lookup key with a space", scaffold.Options{Pattern: "credits", Grants: map[string]int64{"credits 100": 10}}, "not a lookup key"},
		{"lookup key closing the function body", scaffold.Options{Pattern: "credits", Grants: map[string]int64{"x$$;DROP/**/TABLE/**/users;--": 10}}, "not a lookup key"},
		{"lookup key with a line break", scaffold.Options{Pattern: "credits", Grants: map[string]int64{"x\nDROP": 10}}, "not a lookup key"},
		{"empty lookup key", scaffold.Options{Pattern: "credits", Grants: map[string]int64{"": 10}}, "not a lookup key"},
		{"version 1's rate", scaffold.Options{Pattern: "credits", CreditsPerUnit: 1000},
			`credits_per_unit was replaced by grants in scaffold v2, so that only the credit packs grant (each its own amount, never any other purchase): pass grants: {"credits_100": 100, "credits_1k": 1000} (CLI --grants credits_100=100,credits_1k=1000)`},
		{"version 1's rate with grants", scaffold.Options{Pattern: "credits", CreditsPerUnit: 10, Grants: map[string]int64{"credits_100": 10}}, "replaced by grants"},
	}
	for _, c := range cases {
		_, err := scaffold.Generate(c.o)
		if err == nil || !errors.Is(err, scaffold.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrInvalid containing %q", c.name, err, c.want)
		}
	}
}

const (
	testKey = "sk_test_51ScaffoldTestKey0000000000004242"
	liveKey = "sk_live_FAKEscaffoldFixture4242"
	secret  = "whsec_billwireScaffoldSecret0001"
)

// rig is billwire's real webhook path over its own database.
type rig struct {
	t    *testing.T
	st   *store.Store
	svc  *billing.Service
	url  string
	logs *lockedBuffer
	at   int64 // the next event's created time
	fake *stripetest.Fake
}

// lineItems gives Stripe's fake the line items of a session: billwire lists
// them for payment sessions where a credits scaffold is bound.
func (r *rig) lineItems(session string, quantity int) {
	r.fake.PutLineItems(testKey, session, fmt.Appendf(nil, `{"id": "li_1", "object": "item", "quantity": %d,
		"price": {"id": "price_Credits100", "object": "price", "lookup_key": "credits_100"}}`, quantity))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newRig(t *testing.T, live bool) *rig {
	t.Helper()
	st := storetest.New(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	r := &rig{t: t, st: st, logs: &lockedBuffer{}, at: 1750000000, fake: fake}
	log := zerolog.New(r.logs)
	r.svc = billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000}, log)
	ctx := context.Background()
	keys := map[vocab.Env]string{vocab.Test: testKey}
	if live {
		keys[vocab.Live] = liveKey
	}
	for env, key := range keys {
		if _, err := r.svc.ConfigureKey(ctx, env, key, false); err != nil {
			t.Fatal(err)
		}
		if _, err := r.svc.SetupWebhook(ctx, env, "", secret, ""); err != nil {
			t.Fatal(err)
		}
	}
	proc := webhooks.NewProcessor(st, r.svc, log, webhooks.Options{MaxAttempts: 3})
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/stripe/{env}", webhooks.NewReceiver(proc, st, log))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); proc.Close() })
	r.url = srv.URL
	return r
}

// apply generates and applies o.
func (r *rig) apply(o scaffold.Options) *scaffold.Migration {
	r.t.Helper()
	m, err := scaffold.Generate(o)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := scaffold.Apply(context.Background(), r.st, m); err != nil {
		r.t.Fatal(err)
	}
	return m
}

// event builds a fixture event, each later than the one before (events of
// one object in the same second would make billwire re-fetch it).
func (r *rig) event(typ string, o eventfixtures.Options) []byte {
	r.t.Helper()
	if o.Created == 0 {
		r.at += 10
		o.Created = r.at
	}
	return eventfixtures.MustEvent(r.t, typ, o)
}

// deliver posts a signed event to env's route and returns the status code.
func (r *rig) deliver(env vocab.Env, payload []byte) int {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.url+"/webhooks/stripe/"+string(env), bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, secret, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (r *rig) send(payload []byte) { r.sendTo(vocab.Test, payload) }

func (r *rig) sendTo(env vocab.Env, payload []byte) {
	r.t.Helper()
	if code := r.deliver(env, payload); code != http.StatusOK {
		r.t.Fatalf("delivery answered %d\nlog:\n%s", code, r.logs.String())
	}
}

func (r *rig) row(sql string, args ...any) []any {
	r.t.Helper()
	rows, err := r.st.Pool().Query(context.Background(), sql, args...)
	if err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if rows.Err() != nil {
			r.t.Fatalf("%s: %v", sql, rows.Err())
		}
		return nil
	}
	v, err := rows.Values()
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}

func (r *rig) one(sql string, args ...any) any {
	r.t.Helper()
	v := r.row(sql, args...)
	if v == nil {
		r.t.Fatalf("%s: no row", sql)
	}
	return v[0]
}

func (r *rig) exec(sql string, args ...any) {
	r.t.Helper()
	if _, err := r.st.Pool().Exec(context.Background(), sql, args...); err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
}

var team = map[string]any{"billwire_subject_type": "team", "billwire_subject_id": "t_1"}

func subscription(status string) map[string]any {
	return map[string]any{"status": status, "metadata": team}
}

func TestSubscriptionAccessFollowsTheSubscription(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.SubscriptionAccess})
	status := func() []any {
		return r.row(`SELECT status, has_access, plan, cancel_at_period_end, current_period_end IS NOT NULL, public.team_has_access('t_1')
			FROM public.team_billing_status WHERE team_id = 't_1' AND env = 'test'`)
	}
	if v := r.row(`SELECT public.team_has_access('t_1')`); v[0] != false {
		t.Fatalf("access before any event: %v", v)
	}
	r.send(r.event("customer.subscription.created", eventfixtures.Options{Object: subscription("active")}))
	if v := status(); v == nil || v[0] != "active" || v[1] != true || v[2] != "pro_monthly" || v[3] != false || v[4] != true || v[5] != true {
		t.Fatalf("after active: %v", v)
	}
	cancelling := subscription("active")
	cancelling["cancel_at_period_end"] = true
	r.send(r.event("customer.subscription.updated", eventfixtures.Options{Object: cancelling}))
	if v := status(); v[0] != "active" || v[1] != true || v[3] != true {
		t.Fatalf("after cancel at period end: %v", v)
	}
	r.send(r.event("customer.subscription.updated", eventfixtures.Options{Object: subscription("past_due")}))
	if v := status(); v[0] != "past_due" || v[1] != false || v[5] != false {
		t.Fatalf("after past_due: %v", v)
	}
	r.send(r.event("customer.subscription.deleted", eventfixtures.Options{Object: subscription("canceled")}))
	if v := status(); v == nil || v[0] != "canceled" || v[1] != false || v[5] != false {
		t.Fatalf("after canceled: %v", v)
	}
	// A second subscription of the team: access while either grants it.
	second := func(status string) eventfixtures.Options {
		o := subscription(status)
		o["id"] = "sub_Second"
		return eventfixtures.Options{Object: o}
	}
	r.send(r.event("customer.subscription.created", second("active")))
	r.send(r.event("customer.subscription.updated", eventfixtures.Options{Object: subscription("canceled")})) // a late change of the first
	if v := r.row(`SELECT count(*), count(*) FILTER (WHERE has_access), public.team_has_access('t_1') FROM public.team_billing_status
		WHERE team_id = 't_1'`); v[0] != int64(2) || v[1] != int64(1) || v[2] != true {
		t.Fatalf("with a second subscription: %v", v)
	}
	third := subscription("trialing")
	third["id"] = "sub_Third"
	r.send(r.event("customer.subscription.created", eventfixtures.Options{Object: third}))
	r.send(r.event("customer.subscription.deleted", second("canceled")))
	if v := r.row(`SELECT public.team_has_access('t_1')`); v[0] != true {
		t.Fatal("the team lost access while a trialing subscription remains")
	}
	// Users are another subject type: their subscriptions leave the table alone.
	r.send(r.event("customer.subscription.created", eventfixtures.Options{Replace: map[string]string{"sub_Fixture1": "sub_User", "cus_Fixture1": "cus_User"},
		Object: map[string]any{"status": "active"}}))
	if n := r.one(`SELECT count(*) FROM public.team_billing_status WHERE team_id <> 't_1'`); n != int64(0) {
		t.Fatalf("%d rows of others, want the team's only", n)
	}
}

func TestSubscriptionAccessBackfillsEarlierChanges(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.send(r.event("customer.subscription.created", eventfixtures.Options{Object: subscription("trialing")}))
	r.apply(scaffold.Options{Pattern: scaffold.SubscriptionAccess})
	if v := r.row(`SELECT status, has_access FROM public.team_billing_status WHERE team_id = 't_1'`); v == nil || v[0] != "trialing" || v[1] != true {
		t.Fatalf("backfilled row: %v", v)
	}
}

// checkoutSession is a one-time Checkout Session for an order.
func orderSession(orderID, paymentStatus string) map[string]any {
	return map[string]any{"id": "cs_test_Order1", "mode": "payment", "payment_status": paymentStatus, "payment_intent": "pi_Order1",
		"subscription": nil, "amount_total": 4500, "amount_subtotal": 4500, "metadata": map[string]any{"order_id": orderID}}
}

func TestOrderPaidOnceNotOnUnpaidCompletion(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.OneTimeOrders})
	orderID := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_123', 4500, 'usd') RETURNING id`).(string)
	other := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_2', 100, 'usd') RETURNING id`).(string)
	state := func() []any {
		return r.row(`SELECT status, paid_at IS NOT NULL, amount_paid, checkout_session_id, payment_key, paid_at FROM public.orders WHERE id = $1`, orderID)
	}
	// Completed with a delayed payment method: not paid yet.
	completed := r.event("checkout.session.completed", eventfixtures.Options{Object: orderSession(orderID, "unpaid")})
	r.send(completed)
	if v := state(); v[0] != "pending" || v[1] != false {
		t.Fatalf("after an unpaid completion: %v", v)
	}
	// The outbox row carries the order id from the session's metadata.
	if v := r.one(`SELECT state->'metadata'->>'order_id' FROM payments.billing_changes WHERE kind = 'checkout_session' AND key = 'cs_test_Order1'`); v != orderID {
		t.Fatalf("outbox order_id = %v", v)
	}
	succeeded := r.event("checkout.session.async_payment_succeeded", eventfixtures.Options{Object: orderSession(orderID, "paid")})
	r.send(succeeded)
	v := state()
	if v[0] != "paid" || v[2] != int64(4500) || v[3] != "cs_test_Order1" || v[4] != "pi_Order1" {
		t.Fatalf("after async_payment_succeeded: %v", v)
	}
	paidAt := v[5]
	// Duplicates, a replay and the payment intent's own event change nothing.
	r.send(succeeded)
	r.send(completed)
	if _, err := r.svc.Replay(context.Background(), vocab.Test, eventID(t, succeeded)); err != nil {
		t.Fatal(err)
	}
	r.send(r.event("payment_intent.succeeded", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": "pi_Order1"},
		Object: map[string]any{"invoice": nil, "amount": 4500, "amount_received": 4500}}))
	if v := state(); v[0] != "paid" || v[5] != paidAt {
		t.Fatalf("paid again: %v (first paid at %v)", v, paidAt)
	}
	if s := r.one(`SELECT status FROM public.orders WHERE id = $1`, other); s != "pending" {
		t.Fatalf("another order became %v", s)
	}
}

func TestOrderFailsOnAsyncFailure(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.OneTimeOrders})
	orderID := r.one(`INSERT INTO public.orders (user_id, amount, currency) VALUES ('u_123', 4500, 'usd') RETURNING id`).(string)
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: orderSession(orderID, "unpaid")}))
	r.send(r.event("checkout.session.async_payment_failed", eventfixtures.Options{Object: orderSession(orderID, "unpaid")}))
	if s := r.one(`SELECT status FROM public.orders WHERE id = $1`, orderID); s != "failed" {
		t.Fatalf("order is %v after the delayed payment failed", s)
	}
}

func eventID(t *testing.T, payload []byte) string {
	t.Helper()
	e, err := webhooks.ParseEvent(payload)
	if err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func creditSession(id, pi string, amount int64) map[string]any {
	return map[string]any{"id": id, "mode": "payment", "payment_status": "paid", "payment_intent": pi, "subscription": nil,
		"amount_total": amount, "metadata": map[string]any{"billwire_subject_type": "user", "billwire_subject_id": "u_9"}}
}

// billwireSession records a Checkout Session as billwire's session API
// does: a row with the request's line items, opened as csID.
func (r *rig) billwireSession(csID, subjectType, subjectID string, items ...map[string]any) {
	r.t.Helper()
	ctx := context.Background()
	// The session API records the line items with their prices resolved.
	resolved := make([]store.CheckoutLineItem, len(items))
	for i, it := range items {
		li := store.CheckoutLineItem{Quantity: int64(it["quantity"].(int))}
		if key, ok := it["lookup_key"].(string); ok {
			li.LookupKey = &key
			if v := r.row(`SELECT id FROM payments.prices WHERE lookup_key = $1 AND env = 'test' AND active`, key); v != nil {
				li.PriceID = v[0].(string)
			}
		} else {
			li.PriceID = it["price_id"].(string)
			if v := r.row(`SELECT lookup_key FROM payments.prices WHERE id = $1 AND env = 'test'`, li.PriceID); v != nil && v[0] != nil {
				key := v[0].(string)
				li.LookupKey = &key
			}
		}
		resolved[i] = li
	}
	row, _, err := r.st.InsertCheckout(ctx, store.NewCheckout{Env: vocab.Test, Mode: "payment", Requester: "apikey:1",
		Request:     map[string]any{"mode": "payment", "line_items": items},
		SubjectType: subjectType, SubjectID: subjectID, LineItems: resolved})
	if err != nil {
		r.t.Fatal(err)
	}
	var openErr error
	r.st.CheckoutOpened(row.ID, csID, "https://checkout.stripe.com/c/pay/"+csID, "cus_Fixture1",
		func(err error) { openErr = err })
	r.st.Flush()
	if openErr != nil {
		r.t.Fatal(openErr)
	}
}

func item(lookupKey string, quantity int) map[string]any {
	return map[string]any{"lookup_key": lookupKey, "quantity": quantity}
}

func TestCreditsGrantedOncePerPayment(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.Credits, Grants: map[string]int64{"credits_100": 100}})
	ledger := func() []any {
		return r.row(`SELECT count(*) FILTER (WHERE reason = 'purchase'), count(*) FILTER (WHERE reason = 'refund'),
			(SELECT balance FROM public.credit_balances WHERE user_id = 'u_9') FROM public.credit_ledger`)
	}
	// The payment intent's event first (no Checkout Session known yet), then
	// the session's, its duplicate, a replay, and the same once more.
	r.billwireSession("cs_test_Credits1", "user", "u_9", item("credits_100", 1))
	pi := r.event("payment_intent.succeeded", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": "pi_Credits1"},
		Object: map[string]any{"invoice": nil, "amount": 1000, "amount_received": 1000}})
	r.send(pi)
	if v := ledger(); v[0] != int64(0) {
		t.Fatalf("granted before the Checkout Session said what was bought: %v", v)
	}
	completed := r.event("checkout.session.completed", eventfixtures.Options{Object: creditSession("cs_test_Credits1", "pi_Credits1", 1000)})
	r.send(completed)
	r.send(completed)
	r.send(pi)
	if _, err := r.svc.Replay(context.Background(), vocab.Test, eventID(t, completed)); err != nil {
		t.Fatal(err)
	}
	r.send(r.event("checkout.session.async_payment_succeeded", eventfixtures.Options{Object: creditSession("cs_test_Credits1", "pi_Credits1", 1000)}))
	if v := ledger(); v[0] != int64(1) || v[2] != int64(100) {
		t.Fatalf("after one payment for one pack, delivered many ways: %v, want 1 grant of 100 credits", v)
	}
	if k := r.one(`SELECT source_key FROM public.credit_ledger WHERE reason = 'purchase'`); k != "pi_Credits1" {
		t.Fatalf("grant keyed by %v, want the payment's canonical key", k)
	}
	// A session made by billwire's session API records its line items: three
	// packs grant three times the credits.
	r.billwireSession("cs_test_Credits2", "user", "u_9", item("credits_100", 3))
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: creditSession("cs_test_Credits2", "pi_Credits2", 3000)}))
	if v := ledger(); v[0] != int64(2) || v[2] != int64(100+300) {
		t.Fatalf("after buying three packs: %v", v)
	}
	if q := r.one(`SELECT state->>'checkout_quantity' FROM payments.billing_changes WHERE key = 'pi_Credits2' AND kind = 'payment_succeeded'`); q != "3" {
		t.Fatalf("outbox checkout_quantity = %v", q)
	}
	// A partial refund revokes its share once, per refund key.
	refund := r.event("refund.created", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": "pi_Credits1", "re_Fixture1": "re_Credits1"},
		Object: map[string]any{"amount": 250}})
	r.send(refund)
	r.send(refund)
	r.send(r.event("refund.updated", eventfixtures.Options{Replace: map[string]string{"pi_Fixture1": "pi_Credits1", "re_Fixture1": "re_Credits1"},
		Object: map[string]any{"amount": 250}}))
	if v := ledger(); v[1] != int64(1) || v[2] != int64(100+300-25) {
		t.Fatalf("after refunding a quarter of the first payment: %v", v)
	}
	// A subscription's invoice grants nothing; the ledger refuses changes.
	r.send(r.event("invoice.paid", eventfixtures.Options{Replace: map[string]string{"u_123": "u_9", "pi_Fixture1": "pi_Invoice1"}}))
	if s := r.one(`SELECT subject_id FROM payments.billing_changes WHERE key = 'pi_Invoice1'`); s != "u_9" {
		t.Fatalf("the invoice's payment belongs to %v, want the same user", s)
	}
	if v := ledger(); v[0] != int64(2) {
		t.Fatalf("an invoice granted credits: %v", v)
	}
	if _, err := r.st.Pool().Exec(context.Background(), `UPDATE public.credit_ledger SET credits = 1`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("update of the ledger: %v", err)
	}
}

func TestTestModeNeverTouchesLiveBoundRows(t *testing.T) {
	t.Parallel()
	r := newRig(t, true)
	r.apply(scaffold.Options{Pattern: scaffold.SubscriptionAccess, Env: "live"})
	r.apply(scaffold.Options{Pattern: scaffold.Credits, Env: "live", Grants: map[string]int64{"credits_100": 1}})
	r.sendTo(vocab.Live, r.event("customer.subscription.created", eventfixtures.Options{Livemode: true, Object: subscription("active")}))
	before := r.row(`SELECT status, has_access, updated_at FROM public.team_billing_status WHERE team_id = 't_1' AND env = 'live'`)
	if before == nil || before[0] != "active" || before[1] != true {
		t.Fatalf("live row: %v", before)
	}
	// The same ids in test mode: canceled, and a credit purchase.
	r.send(r.event("customer.subscription.deleted", eventfixtures.Options{Object: subscription("canceled")}))
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: creditSession("cs_test_Credits1", "pi_Credits1", 1000)}))
	if n := r.one(`SELECT count(*) FROM payments.billing_changes WHERE env = 'test'`); n.(int64) < 2 {
		t.Fatalf("the test events were not projected: %v test changes", n)
	}
	after := r.row(`SELECT status, has_access, updated_at FROM public.team_billing_status WHERE team_id = 't_1' AND env = 'live'`)
	if after[0] != before[0] || after[1] != before[1] || after[2] != before[2] {
		t.Fatalf("a test event changed the live row: %v -> %v", before, after)
	}
	if v := r.row(`SELECT (SELECT count(*) FROM public.team_billing_status WHERE env = 'test'), (SELECT count(*) FROM public.credit_ledger),
		public.team_has_access('t_1')`); v[0] != int64(0) || v[1] != int64(0) || v[2] != true {
		t.Fatalf("test rows in live-bound tables, or live access lost: %v", v)
	}
}

func TestFailingAppTriggerFailsTheProjection(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.SubscriptionAccess})
	r.send(r.event("customer.subscription.created", eventfixtures.Options{Object: subscription("active")}))
	// The app's own rule makes its table refuse past_due.
	r.exec(`ALTER TABLE public.team_billing_status ADD CONSTRAINT no_past_due CHECK (status <> 'past_due')`)
	pastDue := r.event("customer.subscription.updated", eventfixtures.Options{Object: subscription("past_due")})
	for attempt := 1; attempt <= 2; attempt++ {
		if code := r.deliver(vocab.Test, pastDue); code != http.StatusInternalServerError {
			t.Fatalf("attempt %d answered %d, want 500 so Stripe retries", attempt, code)
		}
	}
	id := eventID(t, pastDue)
	if v := r.row(`SELECT status, attempts, last_error FROM payments.webhook_events WHERE id = $1`, id); v[0] != "failed" || v[1] != int32(2) ||
		!strings.Contains(v[2].(string), "no_past_due") {
		t.Fatalf("ledger: %v", v)
	}
	if v := r.row(`SELECT (SELECT status FROM payments.subscriptions WHERE id = 'sub_Fixture1'),
		(SELECT count(*) FROM payments.billing_changes WHERE status = 'past_due'),
		(SELECT status FROM public.team_billing_status WHERE team_id = 't_1')`); v[0] != "active" || v[1] != int64(0) || v[2] != "active" {
		t.Fatalf("a failed projection left something behind: %v", v)
	}
	// The third attempt parks it; fixed, a replay applies it.
	if code := r.deliver(vocab.Test, pastDue); code != http.StatusOK {
		t.Fatalf("third attempt answered %d", code)
	}
	if s := r.one(`SELECT status FROM payments.webhook_events WHERE id = $1`, id); s != "parked" {
		t.Fatalf("event is %v, want parked", s)
	}
	r.exec(`ALTER TABLE public.team_billing_status DROP CONSTRAINT no_past_due`)
	if _, err := r.svc.Replay(context.Background(), vocab.Test, id); err != nil {
		t.Fatal(err)
	}
	if s := r.one(`SELECT status FROM public.team_billing_status WHERE team_id = 't_1'`); s != "past_due" {
		t.Fatalf("after replay: %v", s)
	}
}

func TestApplyIsRecordedAndRefusesDrift(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	o := scaffold.Options{Pattern: scaffold.Credits, Grants: map[string]int64{"credits_100": 100}}
	m, _ := scaffold.Generate(o)
	first, err := scaffold.Apply(ctx, st, m)
	if err != nil || first.AlreadyApplied {
		t.Fatalf("first apply: %+v %v", first, err)
	}
	var sum, sql string
	if err := st.Pool().QueryRow(ctx, `SELECT checksum, sql FROM payments.app_migrations WHERE name = $1`, m.Name).Scan(&sum, &sql); err != nil ||
		sum != m.Checksum || sql != m.SQL {
		t.Fatalf("ledger: %s %v", sum, err)
	}
	again, err := scaffold.Apply(ctx, st, m)
	if err != nil || !again.AlreadyApplied || !again.AppliedAt.Equal(first.AppliedAt) {
		t.Fatalf("same again: %+v %v", again, err)
	}
	o.Grants = map[string]int64{"credits_100": 200}
	changed, _ := scaffold.Generate(o)
	_, err = scaffold.Apply(ctx, st, changed)
	if !errors.Is(err, scaffold.ErrDrift) || !strings.Contains(err.Error(), m.Name) {
		t.Fatalf("changed content: %v, want ErrDrift", err)
	}
	var body string
	if err := st.Pool().QueryRow(ctx, `SELECT prosrc FROM pg_proc WHERE proname = 'credit_ledger_apply'`).Scan(&body); err != nil || !strings.Contains(body, "('credits_100', 100::bigint)") {
		t.Fatalf("the refused SQL ran: %s %v", body, err)
	}
	// Going live rebinds; the test migration cannot then be re-applied as if current.
	live, _ := scaffold.Generate(scaffold.Options{Pattern: scaffold.Credits, Grants: map[string]int64{"credits_100": 100}, Env: "live"})
	if _, err := scaffold.Apply(ctx, st, live); err != nil {
		t.Fatal(err)
	}
	bs, err := scaffold.Bindings(ctx, st)
	if err != nil || len(bs) != 1 || bs[0].Env != "live" || bs[0].Pattern != "credits" || bs[0].Table != "public.credit_ledger" {
		t.Fatalf("bindings: %+v %v", bs, err)
	}
	if _, err := scaffold.Apply(ctx, st, m); !errors.Is(err, scaffold.ErrDrift) || !strings.Contains(err.Error(), "bound to env live") {
		t.Fatalf("re-apply of the test binding: %v", err)
	}
}

func TestApplyRefusesObjectsOfAnotherShape(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	exec := func(sql string) {
		if _, err := st.Pool().Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE public.orders (id bigint PRIMARY KEY, status integer, total bigint)`)
	exec(`CREATE TABLE public.credit_ledger (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, env text NOT NULL, user_id text NOT NULL,
		credits bigint NOT NULL, reason text NOT NULL, source_key text, amount bigint, currency text, created_at timestamptz NOT NULL DEFAULT now(),
		note text NOT NULL)`)
	exec(`CREATE FUNCTION public.team_has_access(team_id text) RETURNS boolean LANGUAGE sql AS 'SELECT true'`)
	cases := []struct {
		o    scaffold.Options
		want []string
	}{
		{scaffold.Options{Pattern: scaffold.OneTimeOrders}, []string{`column "id" is bigint, not text`, `column "status" is integer, not text`, `no column "env"`}},
		{scaffold.Options{Pattern: scaffold.Credits, Grants: map[string]int64{"credits_100": 1}}, []string{`"note" NOT NULL without a default`, "no unique key on (source_key, env)"}},
		{scaffold.Options{Pattern: scaffold.SubscriptionAccess}, []string{"function public.team_has_access(text) exists and was not created by billwire"}},
	}
	for _, c := range cases {
		m, _ := scaffold.Generate(c.o)
		_, err := scaffold.Apply(ctx, st, m)
		if !errors.Is(err, scaffold.ErrShape) {
			t.Fatalf("%s: %v, want ErrShape", c.o.Pattern, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nwant it to say %q", c.o.Pattern, err, w)
			}
		}
	}
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM payments.app_migrations) +
		(SELECT count(*) FROM pg_trigger WHERE tgrelid = 'payments.billing_changes'::regclass AND NOT tgisinternal) +
		(SELECT count(*) FROM pg_class WHERE relname = 'team_billing_status')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("something was applied: %d %v", n, err)
	}
	// A table of the right shape, with the app's own extra columns, is used as it is.
	exec(`DROP TABLE public.orders; CREATE TABLE public.orders (id text PRIMARY KEY DEFAULT gen_random_uuid()::text, env text NOT NULL DEFAULT 'test',
		user_id text, status text NOT NULL DEFAULT 'pending', amount bigint, currency text, checkout_session_id text, payment_key text,
		amount_paid bigint, amount_refunded bigint NOT NULL DEFAULT 0, paid_at timestamptz, created_at timestamptz NOT NULL DEFAULT now(),
		updated_at timestamptz NOT NULL DEFAULT now(), shipping_address text NOT NULL)`)
	m, _ := scaffold.Generate(scaffold.Options{Pattern: scaffold.OneTimeOrders})
	if _, err := scaffold.Apply(ctx, st, m); err != nil {
		t.Fatalf("an orders table of the right shape: %v", err)
	}
}

func TestWriteFileStaysInsideRoots(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	outside := t.TempDir()
	m, _ := scaffold.Generate(scaffold.Options{Pattern: scaffold.OneTimeOrders})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	roots := []string{root}

	w, err := scaffold.WriteFile(m, "db/migrations/", roots, now)
	want := filepath.Join(root, "db", "migrations", "20260301120000_billwire_one_time_orders_public_orders_test_v2.sql")
	if err != nil || w.Path != want {
		t.Fatalf("directory target: %+v %v, want %s", w, err, want)
	}
	if b, _ := os.ReadFile(want); string(b) != m.SQL {
		t.Fatal("file content differs from the generated SQL")
	}
	w, err = scaffold.WriteFile(m, filepath.Join(root, "db", "migrations", "0007_orders.sql"), roots, now)
	if err != nil || w.Unchanged {
		t.Fatalf("absolute target inside: %+v %v", w, err)
	}
	if w, err = scaffold.WriteFile(m, "db/migrations/0007_orders.sql", roots, now); err != nil || !w.Unchanged {
		t.Fatalf("same file again: %+v %v", w, err)
	}
	other, _ := scaffold.Generate(scaffold.Options{Pattern: scaffold.OneTimeOrders, Env: "live"})
	if _, err := scaffold.WriteFile(other, "db/migrations/0007_orders.sql", roots, now); !errors.Is(err, scaffold.ErrInvalid) || !strings.Contains(err.Error(), "other content") {
		t.Fatalf("overwrite: %v", err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"../x.sql", "db/../../x.sql", filepath.Join(outside, "x.sql"), "escape/x.sql", "escape/"} {
		if _, err := scaffold.WriteFile(m, target, roots, now); !errors.Is(err, scaffold.ErrOutsideRoots) {
			t.Errorf("%s: %v, want ErrOutsideRoots", target, err)
		}
	}
	if _, err := scaffold.WriteFile(m, "db/orders.txt", roots, now); !errors.Is(err, scaffold.ErrInvalid) {
		t.Errorf("a .txt target: %v", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("wrote outside the root: %v", entries)
	}
	if got := scaffold.RootsFromURIs([]string{"file:///home/me/app", "https://example.com/x", "file:///tmp/a%20b"}); len(got) != 2 ||
		got[0] != "/home/me/app" || got[1] != "/tmp/a b" {
		t.Fatalf("roots: %v", got)
	}
}

func TestCreditsInTheAppsSchemaForTeams(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.Credits, Grants: map[string]int64{"team_credits_5": 5}, SubjectType: "team", Table: "app.team_credits"})
	r.billwireSession("cs_test_Team1", "team", "t_1", item("team_credits_5", 1))
	session := creditSession("cs_test_Team1", "pi_Team1", 1099)
	session["metadata"] = team
	r.send(r.event("checkout.session.completed", eventfixtures.Options{Object: session}))
	if v := r.row(`SELECT team_id, balance FROM app.team_credits_balances`); v == nil || v[0] != "t_1" || v[1] != int64(5) {
		t.Fatalf("balance of the team after one pack of 5 credits: %v, want 5", v)
	}
}

// Applying while webhooks flow: every delivery succeeds, and the table ends
// exactly as the traffic says, whether a change came before the apply
// (backfill) or after it (trigger).
func TestApplyDuringTraffic(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	events, exp := loadgen.Generate(loadgen.Config{Events: 1500, Customers: 60, Seed: 11, Shuffle: true, Duplicates: 0.1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan loadgen.Result, 1)
	go func() {
		res, err := loadgen.Run(ctx, loadgen.RunConfig{URL: r.url + "/webhooks/stripe/test", Secret: secret, Concurrency: 4,
			Prelude: exp.Prelude, Timeout: 30 * time.Second}, events)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	for r.one(`SELECT count(*) FROM payments.webhook_events`).(int64) < 300 {
		time.Sleep(10 * time.Millisecond) // wait for traffic to be under way; no timing is asserted
	}
	r.apply(scaffold.Options{Pattern: scaffold.SubscriptionAccess, SubjectType: "user"})
	res := <-done
	if res.NotOK != 0 || res.Errors != 0 || res.OK != exp.Sends {
		t.Fatalf("deliveries: %+v\n%s", res, r.logs.String())
	}
	if n := r.one(`SELECT count(*) FROM payments.webhook_events WHERE status NOT IN ('processed', 'stale')`); n != int64(0) {
		t.Fatalf("%d events not processed", n)
	}
	rows, err := r.st.Pool().Query(context.Background(), `SELECT subscription_id, user_id, status, has_access FROM public.user_billing_status`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var sub, user, status string
		var access bool
		if err := rows.Scan(&sub, &user, &status, &access); err != nil {
			t.Fatal(err)
		}
		if access != (status == "active" || status == "trialing") {
			t.Errorf("%s: %s with has_access %v", sub, status, access)
		}
		got[sub] = user + " " + status
	}
	if len(got) != len(exp.Subscriptions) {
		t.Errorf("%d rows, want one per subscription (%d)", len(got), len(exp.Subscriptions))
	}
	for id, s := range exp.Subscriptions {
		if want := exp.Customers[s.Customer].SubjectID + " " + s.Status; got[id] != want {
			t.Errorf("%s = %q, want %q", id, got[id], want)
		}
	}
}
