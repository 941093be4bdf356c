package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

const (
	password = "correct horse battery staple"
	testKey  = "sk_test_51DashboardTestKey000000000004242"
	whsec    = "whsec_dashboardSigningSecret00009876"
	// evilName is a customer name a browser would run if it were not escaped.
	evilName = `<script>alert("pwned")</script>`
	parkedID = "evt_DashParked0001"
)

// cheap keeps the tests' password hashes fast; the parameters travel with
// the hash, so the dashboard verifies it as it would a default one.
var cheap = secrets.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}

// seed fills st with a small world in both environments: a catalog,
// customers (one named like a script) with subjects, subscriptions,
// payments with a failure, a refund and a dispute, processed events and one
// parked event whose replay succeeds.
func seed(tb testing.TB, st *store.Store) {
	tb.Helper()
	ctx := context.Background()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	hash, err := secrets.HashPassword(password, cheap)
	must(err)
	_, err = st.SetAdminPassword(ctx, hash)
	must(err)
	must(st.PutEnvironment(ctx, vocab.Test, testKey, "secret", "acct_DashTest", "Dash Co", secrets.Mask(testKey), false))
	must(st.SetWebhook(ctx, vocab.Test, store.WebhookEndpoint{Source: "cli", SecretMasked: secrets.Mask(whsec)}, whsec))

	objs := func(format string, args ...[]any) []json.RawMessage {
		var out []json.RawMessage
		for _, a := range args {
			out = append(out, json.RawMessage(fmt.Sprintf(format, a...)))
		}
		return out
	}
	at := time.Now()
	for _, env := range vocab.Envs {
		live := env == vocab.Live
		p := map[vocab.Env]string{vocab.Test: "Pro", vocab.Live: "Live Pro"}[env]
		_, err = st.Upsert(ctx, env, vocab.Products, objs(`{"id":%q,"object":"product","name":%q,"active":%t,"created":1719914400,"livemode":%t,"metadata":{}}`,
			[]any{"prod_DashPro", p, true, live}, []any{"prod_DashOld", "Legacy " + p, false, live}), at)
		must(err)
		_, err = st.Upsert(ctx, env, vocab.Prices, objs(`{"id":%q,"object":"price","product":%q,"active":true,"currency":"usd","unit_amount":%d,"type":"recurring","recurring":{"interval":"month","interval_count":1},"lookup_key":%q,"created":1719914400,"livemode":%t,"metadata":{}}`,
			[]any{"price_DashProMonthly", "prod_DashPro", 2000, "pro_monthly", live}, []any{"price_DashOldMonthly", "prod_DashOld", 900, "legacy_monthly", live}), at)
		must(err)
	}
	_, err = st.Upsert(ctx, vocab.Test, vocab.Customers, objs(`{"id":%q,"object":"customer","email":%q,"name":%q,"created":1719914400,"livemode":false,"metadata":{}}`,
		[]any{"cus_DashJenny", "jenny@example.com", "Jenny Rosen"}, []any{"cus_DashEvil", "mallory@example.com", evilName},
		[]any{"cus_DashTeam", "billing@acme.example", "Acme Inc"}), at)
	must(err)
	_, err = st.Upsert(ctx, vocab.Live, vocab.Customers, objs(`{"id":%q,"object":"customer","email":%q,"name":%q,"created":1719914400,"livemode":true,"metadata":{}}`,
		[]any{"cus_LiveOnly", "paying@customer.example", "Paying Customer"}), at)
	must(err)
	_, err = st.Pool().Exec(ctx, `INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id, confirmed) VALUES
		('test', 'user', 'u_jenny', 'cus_DashJenny', true), ('test', 'team', 't_acme', 'cus_DashTeam', false)`)
	must(err)
	sub := `{"id":%q,"object":"subscription","customer":%q,"status":%q,"currency":"usd","current_period_start":1719914400,"current_period_end":1722592800,"cancel_at_period_end":false,"created":1719914400,"livemode":false,"metadata":{},"items":{"object":"list","data":[{"id":%q,"object":"subscription_item","price":{"id":"price_DashProMonthly"},"quantity":1}],"has_more":false}}`
	_, err = st.Upsert(ctx, vocab.Test, vocab.Subscriptions, objs(sub,
		[]any{"sub_DashJenny", "cus_DashJenny", "active", "si_DashJenny"}, []any{"sub_DashAcme", "cus_DashTeam", "past_due", "si_DashAcme"}), at)
	must(err)
	_, err = st.Pool().Exec(ctx, `
		INSERT INTO payments.payment_history (env, key, kind, status, amount, amount_refunded, currency, customer_id, subject_type, subject_id,
			invoice_id, subscription_id, payment_intent_id, charge_id, failure_code, failure_message, failures, reason, occurred_at, source_at) VALUES
		('test', 'pi_DashPaid', 'payment', 'partially_refunded', 2000, 500, 'usd', 'cus_DashJenny', 'user', 'u_jenny', 'in_DashPaid', 'sub_DashJenny', 'pi_DashPaid', 'ch_DashPaid', NULL, NULL, 0, NULL, now() - interval '3 hours', now()),
		('test', 're_DashRefund', 'refund', 'succeeded', 500, 0, 'usd', NULL, NULL, NULL, NULL, NULL, 'pi_DashPaid', 'ch_DashPaid', NULL, NULL, 0, 'requested_by_customer', now() - interval '2 hours', now()),
		('test', 'pi_DashFailed', 'payment', 'failed', 2000, 0, 'usd', 'cus_DashTeam', 'team', 't_acme', 'in_DashFailed', 'sub_DashAcme', 'pi_DashFailed', 'ch_DashFailed', 'card_declined', 'Your card has insufficient funds.', 1, NULL, now() - interval '1 hour', now()),
		('test', 'dp_DashDispute', 'dispute', 'needs_response', 2000, 0, 'usd', NULL, NULL, NULL, NULL, NULL, 'pi_DashPaid', 'ch_DashPaid', NULL, NULL, 0, 'fraudulent', now() - interval '30 minutes', now()),
		('live', 'pi_LivePaid', 'payment', 'succeeded', 4900, 0, 'usd', 'cus_LiveOnly', NULL, NULL, NULL, NULL, 'pi_LivePaid', 'ch_LivePaid', NULL, NULL, 0, NULL, now() - interval '1 hour', now())`)
	must(err)
	// Invoices as of before the fixtures' events, which a test may replay.
	invoicesAt := time.Unix(1700000000, 0)
	inv := `{"id":%q,"object":"invoice","customer":%q,"subscription":%q,"number":%q,"status":%q,"currency":"usd","amount_due":2000,"amount_paid":%d,` +
		`"attempt_count":1,"hosted_invoice_url":%q,"invoice_pdf":%q,"created":%d,"livemode":%t}`
	_, err = st.Upsert(ctx, vocab.Test, vocab.Invoices, objs(inv,
		[]any{"in_DashPaid", "cus_DashJenny", "sub_DashJenny", "DASH-0001", "paid", 2000, "https://invoice.stripe.com/i/acct_DashTest/test_DashPaid",
			"https://pay.stripe.com/invoice/acct_DashTest/test_DashPaid/pdf", 1719914400, false},
		[]any{"in_DashFailed", "cus_DashTeam", "sub_DashAcme", "DASH-0002", "open", 0, "https://invoice.stripe.com/i/acct_DashTest/test_DashFailed",
			"https://pay.stripe.com/invoice/acct_DashTest/test_DashFailed/pdf", 1722592800, false},
		[]any{"in_DashEvil", "cus_DashEvil", "", evilName, "open", 0, "javascript:alert(1)", "http://pay.example/evil.pdf", 1722592900, false}), invoicesAt)
	must(err)
	_, err = st.Upsert(ctx, vocab.Live, vocab.Invoices, objs(inv,
		[]any{"in_LivePaid", "cus_LiveOnly", "", "LIVE-0001", "paid", 2000, "https://invoice.stripe.com/i/acct_Live/live_Paid",
			"https://pay.stripe.com/invoice/acct_Live/live_Paid/pdf", 1722592800, true}), invoicesAt)
	must(err)
	parked := eventfixtures.MustEvent(tb, "customer.created", eventfixtures.Options{ID: parkedID,
		Object: map[string]any{"id": "cus_DashReplayed", "name": "Replayed Customer", "email": "replayed@example.com", "metadata": map[string]any{}}})
	_, err = st.Pool().Exec(ctx, `
		INSERT INTO payments.webhook_events (env, id, type, created, object_id, status, attempts, last_error, received_at, processed_at, payload) VALUES
		('test', 'evt_DashPaid', 'invoice.paid', now() - interval '3 hours', 'in_DashPaid', 'processed', 1, NULL, now() - interval '3 hours', now() - interval '3 hours', '{}'),
		('test', 'evt_DashSubUpdated', 'customer.subscription.updated', now() - interval '2 hours', 'sub_DashAcme', 'processed', 1, NULL, now() - interval '2 hours', now() - interval '2 hours', '{}'),
		('test', $1, 'customer.created', now() - interval '1 hour', 'cus_DashReplayed', 'parked', 5, 'deadlock detected (simulated)', now() - interval '1 hour', NULL, $2)`,
		parkedID, string(parked))
	must(err)
	_, err = st.Pool().Exec(ctx, `ANALYZE`)
	must(err)
}

// world is a seeded database behind billwire serve's real mux.
type world struct {
	st   *store.Store
	fake *stripetest.Fake
	svc  *billing.Service
	srv  *httptest.Server
}

func newWorld(t *testing.T, fakeOpts stripetest.FakeOptions) *world {
	t.Helper()
	st := storetest.New(t)
	seed(t, st)
	fake := stripetest.StartFake(t, fakeOpts)
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000}, zerolog.Nop())
	rt, err := runtime.New(st, svc, zerolog.Nop(), runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt.Handler())
	t.Cleanup(func() { srv.Close(); rt.Processor().Close() })
	return &world{st: st, fake: fake, svc: svc, srv: srv}
}

// browser is an HTTP client with cookies that does not follow redirects.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (w *world) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: w.srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type answer struct {
	code int
	body string
	h    http.Header
}

func (b *browser) do(method, path string, form url.Values, header ...string) answer {
	b.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return answer{code: resp.StatusCode, body: sb.String(), h: resp.Header}
}

func (b *browser) get(path string) answer { b.t.Helper(); return b.do(http.MethodGet, path, nil) }

// login signs in and returns the CSRF token of the first page.
func (b *browser) login() string {
	b.t.Helper()
	a := b.do(http.MethodPost, "/dashboard/login", url.Values{"password": {password}, "next": {"/dashboard/test/webhooks"}})
	if a.code != http.StatusSeeOther || a.h.Get("Location") != "/dashboard/test/webhooks" {
		b.t.Fatalf("login = %d %v %s", a.code, a.h, a.body)
	}
	page := b.get("/dashboard/test/webhooks")
	return csrfOf(b.t, page.body)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}
