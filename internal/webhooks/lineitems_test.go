package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// bindScaffold puts on payments.billing_changes a trigger with the marker
// comment a scaffold of pattern gives it, bound to env: what the webhook
// runtime looks for, without depending on the scaffold's generator.
func (r *rig) bindScaffold(name, pattern, env string, enabled bool) {
	r.t.Helper()
	ctx := context.Background()
	stmts := []string{
		`CREATE OR REPLACE FUNCTION public.test_scaffold_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`,
		fmt.Sprintf(`CREATE TRIGGER %s AFTER INSERT ON payments.billing_changes FOR EACH ROW EXECUTE FUNCTION public.test_scaffold_noop()`, name),
		fmt.Sprintf(`COMMENT ON TRIGGER %s ON payments.billing_changes IS 'billwire scaffold_fulfillment pattern=%s env=%s table=public.%s version=2'`,
			name, pattern, env, name),
	}
	if !enabled {
		stmts = append(stmts, fmt.Sprintf(`ALTER TABLE payments.billing_changes DISABLE TRIGGER %s`, name))
	}
	for _, s := range stmts {
		if _, err := r.st.Pool().Exec(ctx, s); err != nil {
			r.t.Fatalf("%s: %v", s, err)
		}
	}
}

// lineItemJSON is a line item as Stripe lists it, with its whole price.
func lineItemJSON(id, price, lookupKey string, quantity int) []byte {
	lk := "null"
	if lookupKey != "" {
		lk = fmt.Sprintf("%q", lookupKey)
	}
	return fmt.Appendf(nil, `{"id": %q, "object": "item", "quantity": %d, "amount_subtotal": 100, "amount_total": 100, "currency": "usd",
		"description": "Credits", "price": {"id": %q, "object": "price", "lookup_key": %s, "active": true, "currency": "usd",
		"unit_amount": 100, "type": "one_time", "product": "prod_Credits"}}`, id, quantity, price, lk)
}

// outsideSession is a paid payment-mode session made outside billwire.
func outsideSession(id, pi string) map[string]any {
	return map[string]any{"id": id, "mode": "payment", "payment_status": "paid", "status": "complete", "subscription": nil,
		"payment_intent": pi, "customer": "cus_Outside", "client_reference_id": nil, "amount_total": 300, "amount_subtotal": 300,
		"metadata": map[string]any{}}
}

func (r *rig) lineItemRequests(session string) int {
	n := 0
	for _, q := range r.fake.Requests() {
		if strings.HasSuffix(q.Path, "/line_items") && (session == "" || q.Path == "/v1/checkout/sessions/"+session+"/line_items") {
			n++
		}
	}
	return n
}

// jsonOf reads a jsonb value (nil for SQL NULL) for comparison.
func (r *rig) jsonOf(sql string, args ...any) any {
	r.t.Helper()
	var raw []byte
	if err := r.st.Pool().QueryRow(context.Background(), sql, args...).Scan(&raw); err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
	if raw == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		r.t.Fatal(err)
	}
	return v
}

func wantItems(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

const outsideItems = `[{"price_id": "price_Credits100", "lookup_key": "credits_100", "quantity": 2},
	{"price_id": "price_Sticker", "lookup_key": null, "quantity": 1}]`

// A payment session made elsewhere, in an environment a credits scaffold is
// bound to, gets its line items from Stripe, stored with the projection and
// seen by the outbox rows of the session and its payment. Once known they
// are not fetched again: not for a duplicate, a later event of the session,
// or a replay.
func TestOutsidePaymentSessionGetsItsLineItems(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.bindScaffold("app_public_credit_ledger", "credits", "test", true)
	r.fake.PutLineItems(testKey, "cs_test_Outside", lineItemJSON("li_1", "price_Credits100", "credits_100", 2),
		lineItemJSON("li_2", "price_Sticker", "", 1))
	completed := r.event("checkout.session.completed", eventfixtures.Options{ID: "evt_out_1", Created: 1_750_000_100,
		Object: outsideSession("cs_test_Outside", "pi_Outside")})
	r.mustSend(completed)
	want := wantItems(t, outsideItems)
	if got := r.jsonOf(`SELECT line_items FROM payments.checkout_sessions WHERE stripe_id = 'cs_test_Outside'`); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored line items = %v, want %v", got, want)
	}
	if got := r.jsonOf(`SELECT state->'line_items' FROM payments.billing_changes WHERE kind = 'checkout_session' AND key = 'cs_test_Outside' ORDER BY seq DESC LIMIT 1`); !reflect.DeepEqual(got, want) {
		t.Fatalf("checkout_session change line_items = %v, want %v", got, want)
	}
	if got := r.jsonOf(`SELECT state->'checkout_line_items' FROM payments.billing_changes WHERE kind = 'payment_succeeded' AND key = 'pi_Outside' ORDER BY seq DESC LIMIT 1`); !reflect.DeepEqual(got, want) {
		t.Fatalf("payment_succeeded checkout_line_items = %v, want %v", got, want)
	}
	if n := r.lineItemRequests("cs_test_Outside"); n != 1 {
		t.Fatalf("line items fetched %d times, want 1", n)
	}
	// Known now: a duplicate, a later event, a replay and a reconcile fetch nothing more.
	r.mustSend(completed)
	r.mustSend(r.event("checkout.session.async_payment_succeeded", eventfixtures.Options{ID: "evt_out_2", Created: 1_750_000_200,
		Object: outsideSession("cs_test_Outside", "pi_Outside")}))
	if _, err := r.svc.Replay(context.Background(), vocab.Test, "evt_out_1"); err != nil {
		t.Fatal(err)
	}
	if n := r.lineItemRequests("cs_test_Outside"); n != 1 {
		t.Fatalf("line items fetched %d times once known, want 1", n)
	}
	// A subscription session needs none.
	sub := outsideSession("cs_test_OutsideSub", "")
	sub["mode"], sub["payment_intent"], sub["subscription"] = "subscription", nil, "sub_Outside"
	r.mustSend(r.event("checkout.session.completed", eventfixtures.Options{ID: "evt_out_sub", Object: sub}))
	if n := r.lineItemRequests(""); n != 1 {
		t.Fatalf("%d line item requests after a subscription session, want 1", n)
	}
}

// Reconcile and replay run the same path: a session whose event arrives
// through Stripe's events list, or is replayed after the scaffold was bound,
// gets its line items too.
func TestReconcileAndReplayFetchLineItems(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	// Projected before any credits scaffold: no line items.
	early := r.event("checkout.session.completed", eventfixtures.Options{ID: "evt_early", Created: 1_750_000_100,
		Object: outsideSession("cs_test_Early", "pi_Early")})
	r.mustSend(early)
	if got := r.one(`SELECT line_items IS NULL FROM payments.checkout_sessions WHERE stripe_id = 'cs_test_Early'`); got != true {
		t.Fatalf("line items stored without a credits scaffold: %v", got)
	}
	newer := outsideSession("cs_test_Older", "pi_Older")
	newer["status"] = "expired"
	r.mustSend(r.event("checkout.session.expired", eventfixtures.Options{ID: "evt_newer", Created: 1_750_000_300, Object: newer}))
	if n := r.lineItemRequests(""); n != 0 {
		t.Fatalf("%d line item requests without a credits scaffold", n)
	}
	r.bindScaffold("app_public_credit_ledger", "credits", "test", true)
	r.fake.PutLineItems(testKey, "cs_test_Early", lineItemJSON("li_1", "price_Credits100", "credits_100", 2),
		lineItemJSON("li_2", "price_Sticker", "", 1))
	r.fake.PutLineItems(testKey, "cs_test_Listed", lineItemJSON("li_1", "price_Credits100", "credits_100", 2),
		lineItemJSON("li_2", "price_Sticker", "", 1))
	time.Sleep(5100 * time.Millisecond) // the processors' view of the bound scaffolds (see webhooks.boundTTL)
	if _, err := r.svc.Replay(context.Background(), vocab.Test, "evt_early"); err != nil {
		t.Fatal(err)
	}
	want := wantItems(t, outsideItems)
	if got := r.jsonOf(`SELECT line_items FROM payments.checkout_sessions WHERE stripe_id = 'cs_test_Early'`); !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed session's line items = %v, want %v", got, want)
	}
	// An event older than the state stored still brings the line items,
	// which do not change, and leaves the newer state as it is.
	r.fake.PutLineItems(testKey, "cs_test_Older", lineItemJSON("li_1", "price_Credits100", "credits_100", 2),
		lineItemJSON("li_2", "price_Sticker", "", 1))
	r.mustSend(r.event("checkout.session.completed", eventfixtures.Options{ID: "evt_older", Created: 1_750_000_200,
		Object: outsideSession("cs_test_Older", "pi_Older")}))
	if got := r.jsonOf(`SELECT line_items FROM payments.checkout_sessions WHERE stripe_id = 'cs_test_Older'`); !reflect.DeepEqual(got, want) {
		t.Fatalf("line items from an older event = %v, want %v", got, want)
	}
	if got := r.one(`SELECT status FROM payments.checkout_sessions WHERE stripe_id = 'cs_test_Older'`); got != "expired" {
		t.Fatalf("an older event overwrote the session's state: %v", got)
	}
	if got := r.jsonOf(`SELECT state->'line_items' FROM payments.billing_changes WHERE kind = 'checkout_session' AND key = 'cs_test_Older' ORDER BY seq DESC LIMIT 1`); !reflect.DeepEqual(got, want) {
		t.Fatalf("checkout_session change after an older event: line_items = %v, want %v", got, want)
	}
	listed := r.event("checkout.session.completed", eventfixtures.Options{ID: "evt_listed", Created: time.Now().Unix() - 60,
		Object: outsideSession("cs_test_Listed", "pi_Listed")})
	r.fake.AddEvent(testKey, listed)
	res, err := r.svc.Reconcile(context.Background(), vocab.Test, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcomes["processed"] != 1 {
		t.Fatalf("reconcile = %+v", res)
	}
	if got := r.jsonOf(`SELECT line_items FROM payments.checkout_sessions WHERE stripe_id = 'cs_test_Listed'`); !reflect.DeepEqual(got, want) {
		t.Fatalf("reconciled session's line items = %v, want %v", got, want)
	}
}

// Without a credits scaffold bound to the environment, nothing is asked of
// Stripe: not for another pattern's trigger, a credits scaffold bound to
// the other environment, or a disabled one.
func TestNoCreditsScaffoldNoLineItemFetch(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.bindScaffold("app_public_orders", "one_time_orders", "test", true)
	r.bindScaffold("app_public_credit_ledger", "credits", "live", true)
	r.bindScaffold("app_public_credits_off", "credits", "test", false)
	r.fake.PutLineItems(testKey, "cs_test_NoScaffold", lineItemJSON("li_1", "price_Credits100", "credits_100", 2))
	r.mustSend(r.event("checkout.session.completed", eventfixtures.Options{Object: outsideSession("cs_test_NoScaffold", "pi_NoScaffold")}))
	if n := r.lineItemRequests(""); n != 0 {
		t.Fatalf("%d line item requests without a credits scaffold bound to test", n)
	}
	if got := r.one(`SELECT line_items IS NULL FROM payments.checkout_sessions WHERE stripe_id = 'cs_test_NoScaffold'`); got != true {
		t.Fatalf("line items stored: %v", got)
	}
	if got := r.one(`SELECT status FROM payments.payment_history WHERE key = 'pi_NoScaffold'`); got != "succeeded" {
		t.Fatalf("payment = %v", got)
	}
}

// If Stripe cannot list the line items, the delivery is answered 500 and
// nothing is projected (as for a failed re-fetch); Stripe's retry, once
// Stripe answers, projects the session with them.
func TestLineItemFetchFailureProjectsNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.bindScaffold("app_public_credit_ledger", "credits", "test", true)
	const path = "/v1/checkout/sessions/cs_test_Fails/line_items"
	r.fake.PutLineItems(testKey, "cs_test_Fails", lineItemJSON("li_1", "price_Credits100", "credits_100", 2),
		lineItemJSON("li_2", "price_Sticker", "", 1))
	r.fake.FailAfter(path, 0, http.StatusInternalServerError)
	ev := r.event("checkout.session.completed", eventfixtures.Options{ID: "evt_fails", Object: outsideSession("cs_test_Fails", "pi_Fails")})
	if code, body := r.send(ev); code != http.StatusInternalServerError {
		t.Fatalf("delivery with Stripe failing answered %d: %s", code, body)
	}
	for table, where := range map[string]string{"checkout_sessions": "stripe_id = 'cs_test_Fails'", "payment_history": "key = 'pi_Fails'",
		"billing_changes": ""} {
		if n := r.count(table, where); n != 0 {
			t.Fatalf("%d rows in %s after a failed fetch", n, table)
		}
	}
	if got := r.one(`SELECT status FROM payments.webhook_events WHERE id = 'evt_fails'`); got != "failed" {
		t.Fatalf("ledger after a failed fetch = %v", got)
	}
	r.fake.ClearFaults()
	r.mustSend(ev)
	want := wantItems(t, outsideItems)
	if got := r.jsonOf(`SELECT line_items FROM payments.checkout_sessions WHERE stripe_id = 'cs_test_Fails'`); !reflect.DeepEqual(got, want) {
		t.Fatalf("line items after the retry = %v, want %v", got, want)
	}
	if got := r.jsonOf(`SELECT state->'checkout_line_items' FROM payments.billing_changes WHERE kind = 'payment_succeeded' AND key = 'pi_Fails'`); !reflect.DeepEqual(got, want) {
		t.Fatalf("payment_succeeded checkout_line_items = %v, want %v", got, want)
	}
	// A session Stripe does not know (404) is not projected either.
	code, _ := r.send(r.event("checkout.session.completed", eventfixtures.Options{ID: "evt_unknown", Object: outsideSession("cs_test_Unknown", "pi_Unknown")}))
	if code != http.StatusInternalServerError || r.count("checkout_sessions", "stripe_id = 'cs_test_Unknown'") != 0 {
		t.Fatalf("unknown session answered %d", code)
	}
}

// The payment's outbox row carries the session's line items whichever
// event comes first: the payment's (then the session's event names the
// payment's session and the payment's trigger fires again) or the
// session's; and when both arrive at once, sharing a batch or not.
func TestPaymentOutboxSeesLineItemsInBothOrders(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.bindScaffold("app_public_credit_ledger", "credits", "test", true)
	want := wantItems(t, outsideItems)
	pi := func(id string, created int64) []byte {
		return r.event("payment_intent.succeeded", eventfixtures.Options{ID: "evt_" + id, Created: created, Object: map[string]any{
			"id": id, "customer": "cus_Outside", "invoice": nil, "metadata": map[string]any{}, "amount": 300, "amount_received": 300}})
	}
	cs := func(id, piID string, created int64) []byte {
		return r.event("checkout.session.completed", eventfixtures.Options{ID: "evt_" + id, Created: created, Object: outsideSession(id, piID)})
	}
	check := func(name, piID string) {
		t.Helper()
		rows, err := r.st.Pool().Query(context.Background(), `SELECT state->>'checkout_session_id', state->'checkout_line_items'
			FROM payments.billing_changes WHERE kind = 'payment_succeeded' AND key = $1 ORDER BY seq`, piID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n, last := 0, any(nil)
		for rows.Next() {
			var session *string
			var raw []byte
			if err := rows.Scan(&session, &raw); err != nil {
				t.Fatal(err)
			}
			var items any
			if raw != nil {
				json.Unmarshal(raw, &items)
			}
			if session != nil && !reflect.DeepEqual(items, want) {
				t.Errorf("%s: payment_succeeded naming session %s has checkout_line_items %v, want %v", name, *session, items, want)
			}
			n, last = n+1, items
		}
		if n == 0 || !reflect.DeepEqual(last, want) {
			t.Errorf("%s: %d payment_succeeded rows, the last with checkout_line_items %v; want %v", name, n, last, want)
		}
	}
	put := func(session string) {
		r.fake.PutLineItems(testKey, session, lineItemJSON("li_1", "price_Credits100", "credits_100", 2), lineItemJSON("li_2", "price_Sticker", "", 1))
	}
	// The payment first.
	put("cs_test_Late")
	r.mustSend(pi("pi_Early", 1_750_000_100))
	r.mustSend(cs("cs_test_Late", "pi_Early", 1_750_000_200))
	check("payment first", "pi_Early")
	// The session first.
	put("cs_test_First")
	r.mustSend(cs("cs_test_First", "pi_Late", 1_750_000_100))
	r.mustSend(pi("pi_Late", 1_750_000_200))
	check("session first", "pi_Late")
	// Both at once, in either order, many times over.
	var wg sync.WaitGroup
	for i := range 16 {
		session, piID := fmt.Sprintf("cs_test_Both%d", i), fmt.Sprintf("pi_Both%d", i)
		put(session)
		events := [][]byte{pi(piID, 1_750_000_100), cs(session, piID, 1_750_000_100+int64(i%3))}
		if i%2 == 1 {
			events[0], events[1] = events[1], events[0]
		}
		for _, e := range events {
			wg.Go(func() { r.mustSend(e) })
		}
	}
	wg.Wait()
	for i := range 16 {
		check(fmt.Sprintf("at once %d", i), fmt.Sprintf("pi_Both%d", i))
	}
}

// gate passes requests to a fake, but holds the line items requests until
// it is opened.
type gate struct {
	fake            *stripetest.Fake
	arrived, open   chan struct{}
	arrive, release sync.Once
}

func (g *gate) opened() { g.release.Do(func() { close(g.open) }) }

func (g *gate) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if strings.HasSuffix(req.URL.Path, "/line_items") {
		g.arrive.Do(func() { close(g.arrived) })
		select {
		case <-g.open:
		case <-req.Context().Done():
			return
		}
	}
	g.fake.ServeHTTP(w, req)
}

// The line items are fetched in the delivery's own path, before its event
// joins a batch: while Stripe takes its time, other deliveries are
// projected and answered.
func TestGroupCommitNeverWaitsOnLineItems(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	g := &gate{fake: fake, arrived: make(chan struct{}), open: make(chan struct{})}
	gs := httptest.NewServer(g)
	t.Cleanup(gs.Close)
	r := &rig{t: t, st: st, fake: fake, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	log := zerolog.New(lockedWriter{r.mu, r.logs})
	r.svc = billing.New(billing.Static(st), stripeapi.Options{BaseURL: gs.URL, RateLimit: 1000}, log)
	ctx := context.Background()
	if _, err := r.svc.ConfigureKey(ctx, vocab.Test, testKey, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.SetupWebhook(ctx, vocab.Test, "", secret, ""); err != nil {
		t.Fatal(err)
	}
	// One writer, which waits long for deliveries being read: the other
	// deliveries are answered by the writer the held one would block if it
	// were fetched inside a batch, or delay if it still counted as arriving.
	proc := webhooks.NewProcessor(st, r.svc, log, webhooks.Options{Writers: 1, MaxWait: 5 * time.Second})
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/stripe/{env}", webhooks.NewReceiver(proc, st, log))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { g.opened(); srv.Close(); proc.Close() })
	r.url = srv.URL
	r.bindScaffold("app_public_credit_ledger", "credits", "test", true)
	fake.PutLineItems(testKey, "cs_test_Slow", lineItemJSON("li_1", "price_Credits100", "credits_100", 2), lineItemJSON("li_2", "price_Sticker", "", 1))

	held := make(chan int, 1)
	go func() {
		code, _ := r.send(r.event("checkout.session.completed", eventfixtures.Options{ID: "evt_slow", Object: outsideSession("cs_test_Slow", "pi_Slow")}))
		held <- code
	}()
	select {
	case <-g.arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the line items were never asked for")
	}
	for i := range 8 {
		done := make(chan int, 1)
		go func() {
			code, _ := r.send(r.event("customer.updated", eventfixtures.Options{ID: fmt.Sprintf("evt_other_%d", i),
				Object: map[string]any{"id": fmt.Sprintf("cus_Other%d", i), "metadata": map[string]any{}}}))
			done <- code
		}()
		select {
		case code := <-done:
			if code != http.StatusOK {
				t.Fatalf("delivery %d answered %d while the line items were held", i, code)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("delivery %d waited on the held line items request", i)
		}
	}
	select {
	case code := <-held:
		t.Fatalf("the held delivery was answered %d before Stripe answered", code)
	default:
	}
	if n := r.count("checkout_sessions", "stripe_id = 'cs_test_Slow'"); n != 0 {
		t.Fatal("the session was projected before its line items came")
	}
	g.opened()
	if code := <-held; code != http.StatusOK {
		t.Fatalf("held delivery answered %d", code)
	}
	if got := r.jsonOf(`SELECT line_items FROM payments.checkout_sessions WHERE stripe_id = 'cs_test_Slow'`); !reflect.DeepEqual(got, wantItems(t, outsideItems)) {
		t.Fatalf("line items = %v", got)
	}
}
