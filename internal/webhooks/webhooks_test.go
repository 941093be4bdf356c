package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

const (
	testKey = "sk_test_51WebhooksTestKey0000000000004242"
	secret  = "whsec_billwireTestSigningSecret0001"
)

// rig is a receiver on its own database, its Stripe fake, and a server.
type rig struct {
	t    *testing.T
	st   *store.Store
	fake *stripetest.Fake
	svc  *billing.Service
	url  string
	logs *bytes.Buffer
	mu   *sync.Mutex
	// meter counts the receiver's answers.
	meter *webhooks.Meter
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// suites are the engines the webhook suite runs against (see TestMain): the
// pipelined one as billwire serve runs it, the same with two writers, and
// the one-event-per-transaction reference.
var suites = []struct {
	name string
	opts webhooks.Options
}{
	{"pipelined", webhooks.Options{}},
	{"pipelined, 2 writers", webhooks.Options{Writers: 2}},
	{"reference", webhooks.Options{Engine: webhooks.Reference}},
}

// suite is the engine of the run in progress.
var suite = suites[0]

// TestMain runs the package's tests once per engine (go.dev/issue/23129:
// m.Run may be called more than once). A failure names the engine in the
// line before the run's results.
func TestMain(m *testing.M) {
	code := 0
	for _, s := range suites {
		suite = s
		fmt.Printf("=== webhook suite, engine: %s\n", s.name)
		if c := m.Run(); c != 0 {
			fmt.Printf("=== webhook suite FAILED with engine: %s\n", s.name)
			code = c
		}
	}
	os.Exit(code)
}

func newRig(t *testing.T) *rig {
	t.Helper()
	st := storetest.New(t)
	return rigOn(t, st, stripetest.StartFake(t, stripetest.FakeOptions{}), true)
}

// rigOn starts a receiver over st; setup configures the key and the secret.
func rigOn(t *testing.T, st *store.Store, fake *stripetest.Fake, setup bool) *rig {
	t.Helper()
	r := &rig{t: t, st: st, fake: fake, logs: &bytes.Buffer{}, mu: &sync.Mutex{}, meter: webhooks.NewMeter()}
	log := zerolog.New(lockedWriter{r.mu, r.logs})
	r.svc = billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000}, log)
	ctx := context.Background()
	if setup {
		if _, err := r.svc.ConfigureKey(ctx, vocab.Test, testKey, false); err != nil {
			t.Fatal(err)
		}
		if _, err := r.svc.SetupWebhook(ctx, vocab.Test, "", secret, ""); err != nil {
			t.Fatal(err)
		}
	}
	o := suite.opts
	o.MaxAttempts = 3
	proc := webhooks.NewProcessor(st, r.svc, log, o)
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/stripe/{env}", webhooks.NewReceiver(proc, st, log).WithMeter(r.meter))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); proc.Close() })
	r.url = srv.URL
	return r
}

func (r *rig) post(env string, payload []byte, header string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.url+"/webhooks/stripe/"+env, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("Stripe-Signature", header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// send signs payload with the test secret and delivers it to the test route.
func (r *rig) send(payload []byte) (int, string) {
	r.t.Helper()
	return r.post("test", payload, eventfixtures.Sign(payload, secret, time.Now()))
}

func (r *rig) mustSend(payload []byte) string {
	r.t.Helper()
	code, body := r.send(payload)
	if code != http.StatusOK {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.t.Fatalf("delivery answered %d: %s\nreceiver log:\n%s", code, body, r.logs.String())
	}
	return body
}

func (r *rig) event(typ string, o eventfixtures.Options) []byte {
	return eventfixtures.MustEvent(r.t, typ, o)
}

func (r *rig) one(sql string, args ...any) any {
	r.t.Helper()
	var v any
	if err := r.st.Pool().QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func (r *rig) count(table, where string, args ...any) int64 {
	r.t.Helper()
	q := "SELECT count(*) FROM payments." + table
	if where != "" {
		q += " WHERE " + where
	}
	return r.one(q, args...).(int64)
}

func TestEveryFixtureIsProjected(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	sent := map[string][]byte{}
	for _, typ := range eventfixtures.Types {
		sent[typ] = r.event(typ, eventfixtures.Options{})
		body := r.mustSend(sent[typ])
		// In type order, a fixture can be older than what an earlier one
		// stored about its object: it is answered stale (issue 18).
		if !strings.Contains(body, `"processed"`) && !strings.Contains(body, `"stale"`) {
			t.Errorf("%s: %s", typ, body)
		}
		if !webhooks.Projects(typ) {
			t.Errorf("fixture %s is not a projected type", typ)
		}
	}
	for _, typ := range webhooks.Types() {
		found := false
		for _, f := range eventfixtures.Types {
			found = found || f == typ
		}
		if !found {
			t.Errorf("projected type %s has no fixture", typ)
		}
	}
	if n := r.count("webhook_events", "status IN ('processed', 'stale')"); n != int64(len(eventfixtures.Types)) {
		t.Fatalf("ledger has %d processed or stale events, want %d", n, len(eventfixtures.Types))
	}
	checks := []struct {
		sql  string
		want any
	}{
		{`SELECT deleted FROM payments.customers WHERE id = 'cus_Fixture1'`, true}, // customer.deleted is the latest
		{`SELECT name FROM payments.products WHERE id = 'prod_Fixture1'`, "Pro"},
		{`SELECT lookup_key FROM payments.prices WHERE id = 'price_Fixture1'`, "pro_monthly"},
		{`SELECT customer_id FROM payments.customer_mappings WHERE subject_type = 'user' AND subject_id = 'u_123'`, "cus_Fixture1"},
		{`SELECT status FROM payments.checkout_sessions WHERE stripe_id = 'cs_test_Fixture1'`, nil},
		{`SELECT subject_id FROM payments.subscriptions WHERE id = 'sub_Fixture1'`, "u_123"},
		{`SELECT count(*) FROM payments.payment_history WHERE kind = 'payment'`, int64(1)},
		{`SELECT amount FROM payments.payment_history WHERE key = 'pi_Fixture1'`, int64(2000)},
		{`SELECT subject_id FROM payments.payment_history WHERE key = 'pi_Fixture1'`, "u_123"},
		{`SELECT amount_refunded FROM payments.payment_history WHERE key = 'pi_Fixture1'`, int64(2000)},
		{`SELECT kind FROM payments.payment_history WHERE key = 're_Fixture1'`, "refund"},
		{`SELECT kind FROM payments.payment_history WHERE key = 'dp_Fixture1'`, "dispute"},
		{`SELECT count(*) FROM payments.subscription_items WHERE subscription_id = 'sub_Fixture1'`, int64(1)},
		{`SELECT status FROM payments.invoices WHERE id = 'in_Fixture2'`, "void"},
		{`SELECT status FROM payments.invoices WHERE id = 'in_Fixture1'`, "paid"},
	}
	for _, c := range checks {
		got := r.one(c.sql)
		if c.want != nil && fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.sql, got, c.want)
		}
	}
	// A duplicate of any of them is a 2xx no-op.
	body := r.mustSend(sent["invoice.paid"])
	if !strings.Contains(body, `"duplicate"`) {
		t.Fatalf("duplicate: %s", body)
	}
}

func TestInvalidDeliveriesAreRefused(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	good := r.event("customer.created", eventfixtures.Options{ID: "evt_refused"})
	cases := []struct {
		name   string
		env    string
		body   []byte
		header string
		code   int
	}{
		{"no signature", "test", good, "", 400},
		{"forged", "test", good, eventfixtures.Sign(good, "whsec_someoneElsesSecret000", time.Now()), 400},
		{"altered body", "test", bytes.Replace(good, []byte("jenny"), []byte("jenni"), 1), eventfixtures.Sign(good, secret, time.Now()), 400},
		{"expired timestamp", "test", good, eventfixtures.Sign(good, secret, time.Now().Add(-10*time.Minute)), 400},
		{"unknown env", "staging", good, eventfixtures.Sign(good, secret, time.Now()), 404},
		{"live route without live secret", "live", good, eventfixtures.Sign(good, secret, time.Now()), 503},
		{"too large", "test", bytes.Repeat([]byte("x"), webhooks.MaxBodyBytes+1), "", 400},
		{"not json", "test", []byte("hello"), eventfixtures.Sign([]byte("hello"), secret, time.Now()), 400},
		{"not an event", "test", []byte(`{"id":"x","object":"customer"}`), eventfixtures.Sign([]byte(`{"id":"x","object":"customer"}`), secret, time.Now()), 400},
	}
	for _, c := range cases {
		header := c.header
		if c.name == "too large" {
			header = eventfixtures.Sign(c.body, secret, time.Now())
		}
		if code, body := r.post(c.env, c.body, header); code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.code)
		}
	}
	live := r.event("customer.created", eventfixtures.Options{ID: "evt_live", Livemode: true})
	if code, body := r.send(live); code != 400 || !strings.Contains(body, "livemode") {
		t.Errorf("live event on the test route: %d %s", code, body)
	}
	if n := r.count("webhook_events", ""); n != 0 {
		t.Fatalf("%d events recorded from refused deliveries", n)
	}
	if n := r.count("customers", ""); n != 0 {
		t.Fatalf("%d customers projected from refused deliveries", n)
	}
	unknown := r.event("customer.created", eventfixtures.Options{ID: "evt_unknown_type"})
	unknown = bytes.Replace(unknown, []byte(`"type":"customer.created"`), []byte(`"type":"customer.tax_id.created"`), 1)
	if body := r.mustSend(unknown); !strings.Contains(body, `"ignored"`) {
		t.Fatalf("unknown type: %s", body)
	}
	if got := r.one(`SELECT status FROM payments.webhook_events WHERE id = 'evt_unknown_type'`); got != "ignored" {
		t.Fatalf("unknown type recorded as %v", got)
	}
	r.mu.Lock()
	logs := r.logs.String()
	r.mu.Unlock()
	if !strings.Contains(logs, "webhook refused") || strings.Contains(logs, secret) || strings.Contains(logs, testKey) {
		t.Fatalf("logs must name refusals and hold no secret:\n%s", logs)
	}
}

// subscriptionLife is created → updated → past_due → canceled, a second apart.
func subscriptionLife(t *testing.T) [][]byte {
	base := int64(1_750_000_000)
	steps := []struct{ typ, status string }{
		{"customer.subscription.created", "incomplete"},
		{"customer.subscription.updated", "active"},
		{"customer.subscription.updated", "past_due"},
		{"customer.subscription.deleted", "canceled"},
	}
	var out [][]byte
	for i, s := range steps {
		out = append(out, eventfixtures.MustEvent(t, s.typ, eventfixtures.Options{
			ID: fmt.Sprintf("evt_life_%d", i), Created: base + int64(i),
			Object: map[string]any{"id": "sub_Life", "status": s.status, "customer": "cus_Life"},
		}))
	}
	return out
}

func TestSubscriptionLifeInAnyOrder(t *testing.T) {
	t.Parallel()
	life := subscriptionLife(t)
	for _, name := range []string{"in order", "shuffled and duplicated"} {
		r := newRig(t)
		deliveries := life
		if name != "in order" {
			deliveries = append(append([][]byte{}, life...), life...)
			rand.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
		}
		for _, d := range deliveries {
			r.mustSend(d)
		}
		if got := r.one(`SELECT status FROM payments.subscriptions WHERE id = 'sub_Life'`); got != "canceled" {
			t.Errorf("%s: final status %v, want canceled", name, got)
		}
		if n := r.count("webhook_events", "status IN ('processed', 'stale')"); n != 4 {
			t.Errorf("%s: %d processed or stale events, want 4", name, n)
		}
		if name == "in order" && r.count("webhook_events", "status = 'stale'") != 0 {
			t.Errorf("in order, an event was answered stale")
		}
	}
}

func TestSameSecondEventsAreOrderedByRefetch(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	const at = 1_750_000_100
	first := r.event("customer.subscription.updated", eventfixtures.Options{ID: "evt_same_1", Created: at,
		Object: map[string]any{"id": "sub_Same", "status": "active", "customer": "cus_Same"}})
	second := r.event("customer.subscription.updated", eventfixtures.Options{ID: "evt_same_2", Created: at,
		Object: map[string]any{"id": "sub_Same", "status": "past_due", "customer": "cus_Same"}})
	r.mustSend(second)
	// Stripe cannot be asked yet: the re-fetch fails, the event is not projected and Stripe must retry.
	if code, _ := r.send(first); code != http.StatusInternalServerError {
		t.Fatalf("failed re-fetch answered %d, want 500", code)
	}
	if got := r.one(`SELECT status FROM payments.subscriptions WHERE id = 'sub_Same'`); got != "past_due" {
		t.Fatalf("status after failed re-fetch = %v", got)
	}
	if got := r.one(`SELECT status FROM payments.webhook_events WHERE id = 'evt_same_1'`); got != "failed" {
		t.Fatalf("ledger after failed re-fetch = %v", got)
	}
	// Stripe now says the subscription is active: the retry stores what Stripe says.
	current := eventfixtures.MustEvent(t, "customer.subscription.updated", eventfixtures.Options{
		Object: map[string]any{"id": "sub_Same", "status": "active", "customer": "cus_Same"}})
	var env struct {
		Data struct{ Object json.RawMessage } `json:"data"`
	}
	json.Unmarshal(current, &env)
	r.fake.PutObject(testKey, env.Data.Object)
	r.mustSend(first)
	if got := r.one(`SELECT status FROM payments.subscriptions WHERE id = 'sub_Same'`); got != "active" {
		t.Fatalf("status after re-fetch = %v, want Stripe's active", got)
	}
	fetched := 0
	for _, req := range r.fake.Requests() {
		if req.Path == "/v1/subscriptions/sub_Same" {
			fetched++
		}
	}
	if fetched < 2 {
		t.Fatalf("subscription fetched %d times, want a re-fetch per attempt", fetched)
	}
}

// Two states of one object from the same second, delivered at once, are
// never applied by two concurrent transactions (which would not see each
// other): whatever batches they land in, the second is ordered by a
// re-fetch, and what Stripe says is stored.
func TestConcurrentSameSecondEventsAreOrderedByRefetch(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	const n = 12
	for i := range n {
		id := fmt.Sprintf("sub_Race%d", i)
		at := int64(1_750_000_500 + i)
		current := eventfixtures.MustEvent(t, "customer.subscription.updated", eventfixtures.Options{
			Object: map[string]any{"id": id, "status": "canceled", "customer": "cus_Race"}})
		var env struct {
			Data struct{ Object json.RawMessage } `json:"data"`
		}
		json.Unmarshal(current, &env)
		r.fake.PutObject(testKey, env.Data.Object)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for j, status := range []string{"active", "past_due"} {
			e := r.event("customer.subscription.updated", eventfixtures.Options{ID: fmt.Sprintf("evt_race_%d_%d", i, j), Created: at,
				Object: map[string]any{"id": id, "status": status, "customer": "cus_Race"}})
			wg.Go(func() { codes[j], _ = r.send(e) })
		}
		wg.Wait()
		if codes[0] != http.StatusOK || codes[1] != http.StatusOK {
			t.Fatalf("deliveries of %s answered %v", id, codes)
		}
	}
	if got := r.count("subscriptions", "status = 'canceled'"); got != n {
		t.Fatalf("%d of %d subscriptions hold what Stripe says", got, n)
	}
}

func TestInvoiceBeforeCheckoutReachesItsSubject(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.mustSend(r.event("invoice.paid", eventfixtures.Options{}))
	if got := r.one(`SELECT subject_type || ':' || subject_id FROM payments.payment_history WHERE key = 'pi_Fixture1'`); got != "user:u_123" {
		t.Fatalf("payment subject = %v", got)
	}
	if got := r.one(`SELECT customer_id FROM payments.customer_mappings WHERE subject_id = 'u_123'`); got != "cus_Fixture1" {
		t.Fatalf("mapping not backfilled: %v", got)
	}
	r.mustSend(r.event("checkout.session.completed", eventfixtures.Options{}))
	r.mustSend(r.event("payment_intent.succeeded", eventfixtures.Options{}))
	if n := r.count("payment_history", "kind = 'payment'"); n != 1 {
		t.Fatalf("%d payment rows for one payment", n)
	}
	if n := r.count("customer_mappings", ""); n != 1 {
		t.Fatalf("%d mappings", n)
	}
	// A later payment for the same customer without subject metadata inherits it from the mapping.
	r.mustSend(r.event("payment_intent.succeeded", eventfixtures.Options{ID: "evt_pi_2", Object: map[string]any{
		"id": "pi_Second", "metadata": map[string]any{}, "customer": "cus_Fixture1", "invoice": nil}}))
	if got := r.one(`SELECT subject_id FROM payments.payment_history WHERE key = 'pi_Second'`); got != "u_123" {
		t.Fatalf("subject from mapping = %v", got)
	}
}

func TestUnpaidCompletedCheckoutIsNotAPayment(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	obj := map[string]any{"id": "cs_test_Async", "mode": "payment", "payment_status": "unpaid", "subscription": nil,
		"payment_intent": "pi_Async", "amount_total": 5000, "customer": "cus_Async"}
	r.mustSend(r.event("checkout.session.completed", eventfixtures.Options{ID: "evt_async_1", Created: 1_750_000_200, Object: obj}))
	if n := r.count("payment_history", ""); n != 0 {
		t.Fatalf("an unpaid completed session made %d payment rows", n)
	}
	obj["payment_status"] = "paid"
	r.mustSend(r.event("checkout.session.async_payment_succeeded", eventfixtures.Options{ID: "evt_async_2", Created: 1_750_000_300, Object: obj}))
	if got := r.one(`SELECT status || ' ' || amount FROM payments.payment_history WHERE key = 'pi_Async'`); got != "succeeded 5000" {
		t.Fatalf("async payment = %v", got)
	}
}

func TestPoisonEventIsParkedAndNeighboursSucceed(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	// A price without a product cannot be projected.
	poison := r.event("price.created", eventfixtures.Options{ID: "evt_poison", Object: map[string]any{"id": "price_Poison", "product": nil}})
	for attempt := 1; attempt <= 3; attempt++ {
		var wg sync.WaitGroup
		codes := make([]int, 8)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i == 0 {
					codes[i], _ = r.send(poison)
					return
				}
				codes[i], _ = r.send(r.event("customer.updated", eventfixtures.Options{ID: fmt.Sprintf("evt_ok_%d_%d", attempt, i),
					Object: map[string]any{"id": fmt.Sprintf("cus_ok_%d_%d", attempt, i)}}))
			}()
		}
		wg.Wait()
		want := http.StatusInternalServerError
		if attempt == 3 {
			want = http.StatusOK // parked: Stripe may stop retrying
		}
		if codes[0] != want {
			t.Fatalf("attempt %d: poison answered %d, want %d", attempt, codes[0], want)
		}
		for i, c := range codes[1:] {
			if c != http.StatusOK {
				t.Fatalf("attempt %d: neighbour %d answered %d", attempt, i+1, c)
			}
		}
	}
	if got := r.one(`SELECT status || ' ' || attempts FROM payments.webhook_events WHERE id = 'evt_poison'`); got != "parked 3" {
		t.Fatalf("poison = %v", got)
	}
	if got := r.one(`SELECT last_error FROM payments.webhook_events WHERE id = 'evt_poison'`).(string); !strings.Contains(got, "no product") {
		t.Fatalf("last error = %q", got)
	}
	if n := r.count("prices", ""); n != 0 {
		t.Fatalf("poison left %d price rows", n)
	}
	if n := r.count("customers", ""); n != 21 {
		t.Fatalf("%d neighbours projected, want 21", n)
	}
	st, err := r.svc.Status(context.Background(), []vocab.Env{vocab.Test})
	if err != nil || st[0].Webhook.Health.Parked != 1 || !strings.Contains(st[0].NextStep, "parked") {
		t.Fatalf("status = %+v, %v", st, err)
	}
	res, err := r.svc.Replay(context.Background(), vocab.Test, "evt_poison")
	if err != nil || res.Was != "parked" || res.Status != "parked" {
		t.Fatalf("replay = %+v, %v", res, err)
	}
}

// An event that PostgreSQL refuses (a subscription without a customer
// breaks a NOT NULL column) fails its batch; its neighbours are then
// recorded one by one and succeed, and the writer's next batches run as
// before.
func TestEventRefusedByPostgreSQLFailsAlone(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	poison := r.event("customer.subscription.updated", eventfixtures.Options{ID: "evt_no_customer",
		Object: map[string]any{"id": "sub_NoCustomer", "customer": nil}})
	for round := range 3 {
		var wg sync.WaitGroup
		codes := make([]int, 8)
		for i := range codes {
			e := poison
			if i > 0 {
				e = r.event("invoice.paid", eventfixtures.Options{ID: fmt.Sprintf("evt_next_%d_%d", round, i),
					Object: map[string]any{"id": fmt.Sprintf("in_next_%d_%d", round, i), "payment_intent": fmt.Sprintf("pi_next_%d_%d", round, i)}})
			}
			wg.Go(func() { codes[i], _ = r.send(e) })
		}
		wg.Wait()
		if codes[0] != http.StatusInternalServerError && !(round == 2 && codes[0] == http.StatusOK) {
			t.Fatalf("round %d: the refused event answered %d", round, codes[0])
		}
		for i, c := range codes[1:] {
			if c != http.StatusOK {
				t.Fatalf("round %d: neighbour %d answered %d", round, i+1, c)
			}
		}
	}
	if got := r.one(`SELECT status || ' ' || attempts FROM payments.webhook_events WHERE id = 'evt_no_customer'`); got != "parked 3" {
		t.Fatalf("refused event = %v", got)
	}
	if n := r.count("payment_history", ""); n != 21 {
		t.Fatalf("%d payments, want 21", n)
	}
	if n := r.count("subscriptions", ""); n != 0 {
		t.Fatalf("%d subscriptions from the refused event", n)
	}
}

func TestTwoReceiversProjectAnEventOnce(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	a := rigOn(t, st, fake, true)
	b := rigOn(t, st, fake, false)
	for i := range 20 {
		e := a.event("invoice.paid", eventfixtures.Options{ID: fmt.Sprintf("evt_race_%d", i),
			Object: map[string]any{"id": fmt.Sprintf("in_race_%d", i), "payment_intent": fmt.Sprintf("pi_race_%d", i)}})
		var wg sync.WaitGroup
		bodies := make([]string, 2)
		for j, rg := range []*rig{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body := rg.send(e)
				if code != http.StatusOK {
					t.Errorf("receiver %d answered %d: %s", j, code, body)
				}
				bodies[j] = body
			}()
		}
		wg.Wait()
		joined := bodies[0] + bodies[1]
		if strings.Count(joined, `"processed"`) != 1 || strings.Count(joined, `"duplicate"`) != 1 {
			t.Fatalf("race %d: %v", i, bodies)
		}
	}
	if n := a.count("payment_history", ""); n != 20 {
		t.Fatalf("%d payments, want 20", n)
	}
}

func TestSecretRotationAcceptsThePreviousSecret(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if _, err := r.svc.SetupWebhook(context.Background(), vocab.Test, "", "whsec_billwireRotatedSecret00002", ""); err != nil {
		t.Fatal(err)
	}
	e := r.event("customer.created", eventfixtures.Options{ID: "evt_rot_1"})
	if code, body := r.post("test", e, eventfixtures.Sign(e, secret, time.Now())); code != 200 {
		t.Fatalf("previous secret refused during the grace period: %d %s", code, body)
	}
	e2 := r.event("customer.created", eventfixtures.Options{ID: "evt_rot_2"})
	if code, _ := r.post("test", e2, eventfixtures.Sign(e2, "whsec_billwireRotatedSecret00002", time.Now())); code != 200 {
		t.Fatalf("new secret refused: %d", code)
	}
	if _, err := r.st.Pool().Exec(context.Background(), `UPDATE payments.environments SET webhook_prev_secret_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	fresh := rigOn(t, r.st, r.fake, false) // a receiver without cached secrets
	e3 := r.event("customer.created", eventfixtures.Options{ID: "evt_rot_3"})
	if code, _ := fresh.post("test", e3, eventfixtures.Sign(e3, secret, time.Now())); code != 400 {
		t.Fatalf("expired previous secret accepted: %d", code)
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, typ := range eventfixtures.Types[:5] {
		b, _ := eventfixtures.Event(typ, eventfixtures.Options{})
		f.Add(b)
	}
	f.Add([]byte(`{"object":"event","id":"evt_1","type":"x","created":1,"data":{"object":{}}}`))
	f.Add([]byte(`{"object":"event","data":{"object":[]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := webhooks.ParseEvent(b)
		if err != nil {
			return
		}
		if e.ID == "" || e.Type == "" || e.Created <= 0 || len(e.Data.Object) == 0 || e.Data.Object[0] != '{' {
			t.Fatalf("accepted an event without its essentials: %+v", e)
		}
		if _, ok := e.FetchPath(); ok && e.ObjectID == "" {
			t.Fatal("fetch path without an object id")
		}
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func TestEntitlementSummaries(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	features := func() string {
		var f []string
		if err := r.st.Pool().QueryRow(context.Background(), `SELECT features FROM payments.entitlement_summaries
			WHERE customer_id = 'cus_Fixture1' AND env = 'test'`).Scan(&f); err != nil {
			t.Fatal(err)
		}
		return strings.Join(f, ",")
	}
	const typ = webhooks.EntitlementSummaryType
	now := time.Now().Unix()
	r.mustSend(r.event(typ, eventfixtures.Options{Created: now - 100}))
	if got := features(); got != "api_access,priority_support" {
		t.Fatalf("features = %q", got)
	}
	// An older summary arriving late changes nothing.
	older := map[string]any{"entitlements": map[string]any{"object": "list", "has_more": false, "data": []any{}}}
	r.mustSend(r.event(typ, eventfixtures.Options{Created: now - 1000, Object: older}))
	if got := features(); got != "api_access,priority_support" {
		t.Fatalf("an older summary overwrote a newer one: %q", got)
	}
	// A truncated list is replaced by the whole list from Stripe.
	r.fake.SetActiveEntitlements(testKey, "cus_Fixture1", "api_access", "priority_support", "sso")
	truncated := map[string]any{"entitlements": map[string]any{"object": "list", "has_more": true,
		"data": []any{map[string]any{"id": "ent_1", "object": "entitlements.active_entitlement", "feature": "feat_1", "livemode": false, "lookup_key": "api_access"}}}}
	r.mustSend(r.event(typ, eventfixtures.Options{Created: now - 50, Object: truncated}))
	if got := features(); got != "api_access,priority_support,sso" {
		t.Fatalf("after a truncated summary: %q", got)
	}
	// check_entitlement answers from the projection once the subject is mapped.
	r.mustSend(r.event("customer.created", eventfixtures.Options{}))
	ok, detail, err := r.svc.CheckEntitlement(context.Background(), vocab.Test, auth.Subject{Type: "user", ID: "u_123"}, "sso")
	if err != nil || !ok {
		t.Fatalf("check_entitlement sso = %v %+v %v", ok, detail, err)
	}
}
