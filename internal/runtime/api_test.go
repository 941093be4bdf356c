package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/ratelimit"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

const (
	testKey   = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
	jwtSecret = "a-test-secret-of-at-least-32-characters!"
	whsec     = "whsec_runtimeTestSecret0123456789"
	appOrigin = "https://app.example.com"
)

// rig is billwire serve's handler over its own database, with stripe-mock
// behind a recording proxy.
type rig struct {
	t      testing.TB
	st     *store.Store
	svc    *billing.Service
	rec    *stripetest.Recorder
	url    string
	apiKey string
}

func newRig(t *testing.T, opts ...func(*runtime.APIConfig)) *rig {
	t.Helper()
	return newRigWith(t, func(cfg *runtime.APIConfig) {
		for _, o := range opts {
			o(cfg)
		}
	})
}

// newRigWith is newRig with the session API's configuration changed by
// change (its session rates are the defaults unless change sets them).
func newRigWith(t *testing.T, change func(*runtime.APIConfig)) *rig {
	t.Helper()
	ctx := context.Background()
	st := storetest.New(t)
	rec := stripetest.StartRecorder(t, stripetest.Mock(t))
	log := zerolog.New(io.Discard)
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: rec.URL(), RateLimit: 10000}, log)
	if _, err := svc.ConfigureKey(ctx, vocab.Test, testKey, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetupWebhook(ctx, vocab.Test, "", whsec, ""); err != nil {
		t.Fatal(err)
	}
	seedCatalog(t, st)
	origins, err := auth.ParseOrigins(appOrigin + ", http://localhost:3000")
	if err != nil {
		t.Fatal(err)
	}
	cfg := runtime.APIConfig{
		JWT:     auth.JWTConfig{HS256Secret: jwtSecret, Env: vocab.Test, TeamsClaim: "teams", BillingRoleClaim: "billing_teams"},
		Origins: origins,
	}
	if change != nil {
		change(&cfg)
	}
	srv, err := runtime.New(st, svc, log, runtime.Options{API: cfg})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Processor().Close() })
	key, hash, hint := auth.NewAPIKey()
	if _, err := st.CreateAPIKey(ctx, vocab.Test, "app-backend", hash, hint); err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, st: st, svc: svc, rec: rec, url: hs.URL, apiKey: key}
}

func seedCatalog(t testing.TB, st *store.Store) {
	t.Helper()
	obj := func(m map[string]any) json.RawMessage {
		m["livemode"], m["created"] = false, 1718900000
		if m["metadata"] == nil {
			m["metadata"] = map[string]any{}
		}
		b, _ := json.Marshal(m)
		return b
	}
	products := []json.RawMessage{
		obj(map[string]any{"id": "prod_Pro", "object": "product", "name": "Pro", "active": true}),
		obj(map[string]any{"id": "prod_Old", "object": "product", "name": "Old", "active": false}),
	}
	recurring := map[string]any{"interval": "month", "interval_count": 1, "usage_type": "licensed"}
	prices := []json.RawMessage{
		obj(map[string]any{"id": "price_ProMonthly", "object": "price", "product": "prod_Pro", "active": true, "currency": "usd", "unit_amount": 2000, "type": "recurring", "recurring": recurring, "lookup_key": "pro_monthly"}),
		obj(map[string]any{"id": "price_ProEUR", "object": "price", "product": "prod_Pro", "active": true, "currency": "eur", "unit_amount": 1900, "type": "recurring", "recurring": recurring}),
		obj(map[string]any{"id": "price_Pack", "object": "price", "product": "prod_Pro", "active": true, "currency": "usd", "unit_amount": 500, "type": "one_time", "lookup_key": "credit_pack"}),
		obj(map[string]any{"id": "price_Archived", "object": "price", "product": "prod_Pro", "active": false, "currency": "usd", "unit_amount": 900, "type": "one_time"}),
		obj(map[string]any{"id": "price_OldProduct", "object": "price", "product": "prod_Old", "active": true, "currency": "usd", "unit_amount": 900, "type": "one_time"}),
	}
	ctx := context.Background()
	if _, err := st.Upsert(ctx, vocab.Test, vocab.Products, products, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Upsert(ctx, vocab.Test, vocab.Prices, prices, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The plans a subscriber may switch between (set_switchable_prices).
	if err := st.SetSwitchablePrices(ctx, vocab.Test, "plans", []string{"price_ProMonthly", "price_ProEUR"}); err != nil {
		t.Fatal(err)
	}
}

// token signs a user token with the test secret.
func token(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type reply struct {
	status int
	body   map[string]any
	header http.Header
}

func (r *rig) do(method, path, bearer string, body any, hdr ...string) reply {
	r.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, r.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := reply{status: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 && json.Unmarshal(raw, &out.body) != nil {
		out.body = map[string]any{"raw": string(raw)}
	}
	return out
}

func checkoutBody(subject map[string]any, items ...map[string]any) map[string]any {
	if len(items) == 0 {
		items = []map[string]any{{"price_id": "price_ProMonthly", "quantity": 1}}
	}
	return map[string]any{
		"mode": "subscription", "line_items": items, "subject": subject,
		"success_url": appOrigin + "/billing?done=1", "cancel_url": appOrigin + "/billing",
	}
}

func user(id string) map[string]any { return map[string]any{"type": "user", "id": id} }
func team(id string) map[string]any { return map[string]any{"type": "team", "id": id} }

func (r *rig) countRows(where string, args ...any) int {
	r.t.Helper()
	r.st.Flush()
	var n int
	if err := r.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM payments.checkout_sessions WHERE `+where, args...).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

func TestCheckoutStampsSubjectEverywhere(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	body := checkoutBody(user("u_1"))
	body["metadata"] = map[string]string{"order_ref": "o-9"}
	body["trial_period_days"] = 14
	res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body)
	if res.status != http.StatusCreated {
		t.Fatalf("status %d: %v", res.status, res.body)
	}
	sid, _ := res.body["stripe_session_id"].(string)
	if !strings.HasPrefix(sid, "cs_test_") || res.body["url"] == "" || res.body["id"] == nil {
		t.Fatalf("answer %v", res.body)
	}
	cust := r.rec.Bodies("POST /v1/customers")
	if len(cust) != 1 || cust[0].Get("metadata[billwire_subject_type]") != "user" || cust[0].Get("metadata[billwire_subject_id]") != "u_1" {
		t.Fatalf("customer create %v", cust)
	}
	sess := r.rec.Bodies("POST /v1/checkout/sessions")
	if len(sess) != 1 {
		t.Fatalf("%d session creates", len(sess))
	}
	s := sess[0]
	for k, want := range map[string]string{
		"mode": "subscription", "client_reference_id": "user:u_1", "customer": "cus_Rec000001",
		"metadata[billwire_subject_type]": "user", "metadata[billwire_subject_id]": "u_1", "metadata[order_ref]": "o-9",
		"subscription_data[metadata][billwire_subject_type]": "user", "subscription_data[metadata][billwire_subject_id]": "u_1",
		"subscription_data[trial_period_days]": "14", "line_items[0][price]": "price_ProMonthly", "line_items[0][quantity]": "1",
		"success_url": appOrigin + "/billing?done=1",
	} {
		if got := s.Get(k); got != want {
			t.Errorf("session %s = %q, want %q", k, got, want)
		}
	}
	if r.countRows(`stripe_id = $1 AND status = 'open' AND requester LIKE 'apikey:%' AND subject_type = 'user' AND subject_id = 'u_1' AND url <> ''`, sid) != 1 {
		t.Error("local row not open with requester and subject")
	}
	m, err := r.st.SubjectMapping(context.Background(), vocab.Test, "user", "u_1")
	if err != nil || m.CustomerID != "cus_Rec000001" || m.Confirmed {
		t.Errorf("mapping %+v %v: want unconfirmed cus_Rec000001", m, err)
	}
}

func TestPaymentModeByLookupKeyCreatesCustomer(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	body := checkoutBody(user("u_2"), map[string]any{"lookup_key": "credit_pack", "quantity": 3})
	body["mode"] = "payment"
	res := r.do("POST", "/api/payments/test/checkout-sessions", token(t, jwt.MapClaims{"sub": "u_2"}), body)
	if res.status != http.StatusCreated {
		t.Fatalf("status %d: %v", res.status, res.body)
	}
	s := r.rec.Bodies("POST /v1/checkout/sessions")[0]
	if s.Get("line_items[0][price]") != "price_Pack" || s.Get("line_items[0][quantity]") != "3" ||
		s.Get("payment_intent_data[metadata][billwire_subject_id]") != "u_2" || s.Get("customer") == "" {
		t.Fatalf("session body %v", s)
	}
	if r.countRows(`requester = 'user:u_2' AND status = 'open'`) != 1 {
		t.Fatal("no open row for the user")
	}
}

func TestCheckoutRefusals(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	userTok := token(t, jwt.MapClaims{"sub": "u_1", "teams": []string{"t_mine"}})
	expired := token(t, jwt.MapClaims{"sub": "u_1", "exp": time.Now().Add(-time.Hour).Unix()})
	_, liveHash, liveHint := auth.NewAPIKey()
	liveKey, lh, _ := auth.NewAPIKey()
	_ = liveHash
	if _, err := r.st.CreateAPIKey(context.Background(), vocab.Live, "live-backend", lh, liveHint); err != nil {
		t.Fatal(err)
	}
	with := func(mut func(b map[string]any)) map[string]any {
		b := checkoutBody(user("u_1"))
		mut(b)
		return b
	}
	item := func(m map[string]any) func(b map[string]any) {
		return func(b map[string]any) { b["line_items"] = []map[string]any{m} }
	}
	cases := []struct {
		name   string
		bearer string
		body   any
		path   string
		status int
		code   string
	}{
		{"no credentials", "", checkoutBody(user("u_1")), "", 401, "unauthenticated"},
		{"unknown api key", "bwk_doesnotexist0000000000000000000000000", checkoutBody(user("u_1")), "", 401, "invalid_api_key"},
		{"garbage token", "not.a.jwt", checkoutBody(user("u_1")), "", 401, "invalid_token"},
		{"wrong signature", token(t, jwt.MapClaims{"sub": "u_1"})[:20] + "x" + token(t, jwt.MapClaims{"sub": "u_1"})[21:], checkoutBody(user("u_1")), "", 401, "invalid_token"},
		{"expired token", expired, checkoutBody(user("u_1")), "", 401, "token_expired"},
		{"another user", userTok, checkoutBody(user("u_2")), "", 403, "forbidden"},
		{"team not mine", userTok, checkoutBody(team("t_other")), "", 403, "forbidden"},
		{"live key on test route", liveKey, checkoutBody(user("u_1")), "", 403, "forbidden"},
		{"unknown environment", r.apiKey, checkoutBody(user("u_1")), "/api/payments/staging/checkout-sessions", 404, "unknown_environment"},
		{"invalid json", r.apiKey, `{"mode": `, "", 400, "invalid_json"},
		{"unknown field", r.apiKey, with(func(b map[string]any) { b["customer"] = "cus_x" }), "", 400, "invalid_json"},
		{"no subject", r.apiKey, with(func(b map[string]any) { delete(b, "subject") }), "", 400, "subject_required"},
		{"bad subject type", r.apiKey, with(func(b map[string]any) { b["subject"] = map[string]any{"type": "org", "id": "x"} }), "", 400, "invalid_subject"},
		{"unknown price", r.apiKey, with(item(map[string]any{"price_id": "price_Nope", "quantity": 1})), "", 400, "unknown_price"},
		{"unknown lookup key", r.apiKey, with(item(map[string]any{"lookup_key": "nope", "quantity": 1})), "", 400, "unknown_price"},
		{"archived price", r.apiKey, with(func(b map[string]any) {
			b["mode"] = "payment"
			b["line_items"] = []map[string]any{{"price_id": "price_Archived", "quantity": 1}}
		}), "", 400, "inactive_price"},
		{"archived product", r.apiKey, with(func(b map[string]any) {
			b["mode"] = "payment"
			b["line_items"] = []map[string]any{{"price_id": "price_OldProduct", "quantity": 1}}
		}), "", 400, "inactive_price"},
		{"recurring in payment mode", r.apiKey, with(func(b map[string]any) { b["mode"] = "payment" }), "", 400, "wrong_price_mode"},
		{"one-time only in subscription mode", r.apiKey, with(item(map[string]any{"price_id": "price_Pack", "quantity": 1})), "", 400, "wrong_price_mode"},
		{"mixed currencies", r.apiKey, with(func(b map[string]any) {
			b["line_items"] = []map[string]any{{"price_id": "price_ProMonthly", "quantity": 1}, {"price_id": "price_ProEUR", "quantity": 1}}
		}), "", 400, "mixed_currencies"},
		{"quantity 0", r.apiKey, with(item(map[string]any{"price_id": "price_ProMonthly", "quantity": 0})), "", 400, "quantity_out_of_range"},
		{"quantity 1000", r.apiKey, with(item(map[string]any{"price_id": "price_ProMonthly", "quantity": 1000})), "", 400, "quantity_out_of_range"},
		{"redirect to another origin", r.apiKey, with(func(b map[string]any) { b["success_url"] = "https://evil.example.net/x" }), "", 400, "redirect_not_allowed"},
		{"redirect prefix trick", r.apiKey, with(func(b map[string]any) { b["success_url"] = appOrigin + ".evil.net/x" }), "", 400, "redirect_not_allowed"},
		{"redirect userinfo trick", r.apiKey, with(func(b map[string]any) { b["cancel_url"] = "https://app.example.com@evil.net/x" }), "", 400, "redirect_not_allowed"},
		{"redirect other scheme", r.apiKey, with(func(b map[string]any) { b["success_url"] = "http://app.example.com/x" }), "", 400, "redirect_not_allowed"},
		{"redirect other port", r.apiKey, with(func(b map[string]any) { b["success_url"] = "https://app.example.com:8443/x" }), "", 400, "redirect_not_allowed"},
		{"reserved metadata", r.apiKey, with(func(b map[string]any) { b["metadata"] = map[string]string{"billwire_subject_id": "u_2"} }), "", 400, "reserved_metadata"},
	}
	for _, c := range cases {
		path := c.path
		if path == "" {
			path = "/api/payments/test/checkout-sessions"
		}
		res := r.do("POST", path, c.bearer, c.body)
		if res.status != c.status || res.body["code"] != c.code || res.body["message"] == "" {
			t.Errorf("%s: got %d %v, want %d %s", c.name, res.status, res.body, c.status, c.code)
		}
	}
	if n := r.rec.Calls("POST /v1/checkout/sessions") + r.rec.Calls("POST /v1/customers"); n != 0 {
		t.Errorf("refused requests reached Stripe %d times", n)
	}
	if n := r.countRows(`true`); n != 0 {
		t.Errorf("refused requests left %d rows", n)
	}
}

func TestCheckoutIdempotency(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	body := checkoutBody(user("u_1"))
	body["idempotency_key"] = "order-42"
	first := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body)
	again := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body)
	// The created session is stored without waiting (see store.CheckoutOpened):
	// a retry that comes first is told to retry, as the README says.
	for i := 0; i < 100 && again.status == 409 && again.body["code"] == "request_in_progress"; i++ {
		time.Sleep(20 * time.Millisecond)
		again = r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body)
	}
	if first.status != 201 || again.status != 200 || again.body["id"] != first.body["id"] || again.body["url"] != first.body["url"] {
		t.Fatalf("first %d %v, again %d %v", first.status, first.body, again.status, again.body)
	}
	if n := r.rec.Calls("POST /v1/checkout/sessions"); n != 1 {
		t.Fatalf("Stripe called %d times, want 1", n)
	}
	body["line_items"] = []map[string]any{{"price_id": "price_ProMonthly", "quantity": 2}}
	if res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body); res.status != 409 || res.body["code"] != "idempotency_conflict" {
		t.Fatalf("other body: %d %v", res.status, res.body)
	}
	// The key is scoped to the caller: a user's token with the same key is another checkout.
	body = checkoutBody(user("u_1"))
	body["idempotency_key"] = "order-42"
	if res := r.do("POST", "/api/payments/test/checkout-sessions", token(t, jwt.MapClaims{"sub": "u_1"}), body); res.status != 201 || res.body["id"] == first.body["id"] {
		t.Fatalf("other caller: %d %v", res.status, res.body)
	}
}

func TestConcurrentFirstCheckoutsShareOneCustomer(t *testing.T) {
	t.Parallel()
	// Eight checkouts of one subject at once are over the default
	// per-subject burst (5): this test is about the customer, so it raises
	// the subject's limit.
	r := newRigWith(t, func(c *runtime.APIConfig) {
		rates := runtime.DefaultSessionRates()
		rates.Subject = ratelimit.Rate{N: 100, Period: time.Minute, Burst: 100}
		c.Rates = &rates
	})
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, checkoutBody(team("t_1"))).status
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 201 {
			t.Fatalf("request %d: %d", i, c)
		}
	}
	if n := r.rec.Calls("POST /v1/customers"); n != 1 {
		t.Fatalf("%d customers created, want 1", n)
	}
	customers := map[string]bool{}
	for _, b := range r.rec.Bodies("POST /v1/checkout/sessions") {
		customers[b.Get("customer")] = true
	}
	if len(customers) != 1 {
		t.Fatalf("sessions used customers %v", customers)
	}
}

func TestStripeRejectionIsRecorded(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.rec.FailNext("POST /v1/checkout/sessions", 400, "invalid_request_error", "No such price: 'price_ProMonthly'")
	res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, checkoutBody(user("u_1")))
	if res.status != http.StatusBadGateway || res.body["code"] != "stripe_rejected" || !strings.Contains(fmt.Sprint(res.body["message"]), "No such price") {
		t.Fatalf("%d %v", res.status, res.body)
	}
	if r.countRows(`status = 'failed' AND error_code = 'stripe_rejected' AND error LIKE '%No such price%' AND stripe_id IS NULL`) != 1 {
		t.Fatal("the failure is not recorded on the local row")
	}
	// The customer made before the session is recorded too (the mapping).
	if _, err := r.st.SubjectMapping(context.Background(), vocab.Test, "user", "u_1"); err != nil {
		t.Fatal(err)
	}
}

func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.st.Close()
	res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, checkoutBody(user("u_1")))
	if res.status != http.StatusServiceUnavailable || res.body["code"] != "database_unavailable" {
		t.Fatalf("%d %v", res.status, res.body)
	}
	if n := r.rec.Calls("POST /v1/checkout/sessions"); n != 0 {
		t.Fatalf("Stripe called %d times without a local row", n)
	}
}

func TestPortalOwnership(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	portal := func(bearer string, subject map[string]any, extra ...any) reply {
		b := map[string]any{"subject": subject, "return_url": appOrigin + "/billing"}
		for i := 0; i+1 < len(extra); i += 2 {
			b[extra[i].(string)] = extra[i+1]
		}
		return r.do("POST", "/api/payments/test/portal-sessions", bearer, b)
	}
	if res := portal(r.apiKey, team("t_1")); res.status != 404 || res.body["code"] != "no_billing_yet" {
		t.Fatalf("before checkout: %d %v", res.status, res.body)
	}
	if res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, checkoutBody(team("t_1"))); res.status != 201 {
		t.Fatalf("checkout %d %v", res.status, res.body)
	}
	member := token(t, jwt.MapClaims{"sub": "u_member", "teams": []string{"t_1"}})
	admin := token(t, jwt.MapClaims{"sub": "u_admin", "teams": []string{"t_1"}, "billing_teams": map[string]any{"t_1": "admin"}})
	outsider := token(t, jwt.MapClaims{"sub": "u_out", "teams": []string{"t_2"}, "billing_teams": []string{"t_2"}})
	if res := portal(member, team("t_1")); res.status != 403 || res.body["code"] != "forbidden" {
		t.Fatalf("member without billing role: %d %v", res.status, res.body)
	}
	if res := portal(outsider, team("t_1")); res.status != 403 {
		t.Fatalf("outsider: %d %v", res.status, res.body)
	}
	if res := portal(token(t, jwt.MapClaims{"sub": "u_a"}), user("u_b")); res.status != 403 {
		t.Fatalf("user A for user B: %d %v", res.status, res.body)
	}
	res := portal(admin, team("t_1"))
	if res.status != 201 || res.body["url"] == "" || res.body["customer_id"] != "cus_Rec000001" {
		t.Fatalf("billing admin: %d %v", res.status, res.body)
	}
	if res := portal(r.apiKey, team("t_1")); res.status != 201 {
		t.Fatalf("api key: %d %v", res.status, res.body)
	}
	if n := r.rec.Calls("POST /v1/billing_portal/configurations"); n != 1 {
		t.Fatalf("portal configuration created %d times, want once then reused", n)
	}
	cfg := r.rec.Bodies("POST /v1/billing_portal/configurations")[0]
	if cfg.Get("features[subscription_update][products][0][product]") != "prod_Pro" || cfg.Get("features[subscription_cancel][enabled]") != "true" {
		t.Errorf("configuration %v", cfg)
	}
	st, _ := r.svc.Status(context.Background(), []vocab.Env{vocab.Test})
	if len(st) != 1 || st[0].Portal == nil || st[0].Portal.ID == "" {
		t.Errorf("get_payments_status does not report the portal configuration: %+v", st)
	}
	// A flow that needs a subscription: none is projected yet.
	if res := portal(admin, team("t_1"), "flow", "cancel"); res.status != 409 || res.body["code"] != "no_active_subscription" {
		t.Fatalf("cancel without subscription: %d %v", res.status, res.body)
	}
	if res := portal(admin, team("t_1"), "flow", "refund"); res.status != 400 {
		t.Fatalf("unknown flow: %d %v", res.status, res.body)
	}
}

// TestJourney walks session → checkout.session.completed → mapping
// confirmed → subscription projected → subject state → portal flow.
func TestJourney(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	u := token(t, jwt.MapClaims{"sub": "u_j"})
	res := r.do("POST", "/api/payments/test/checkout-sessions", u, checkoutBody(user("u_j")))
	if res.status != 201 {
		t.Fatalf("checkout %d %v", res.status, res.body)
	}
	sid := res.body["stripe_session_id"].(string)
	cust := r.rec.Bodies("POST /v1/checkout/sessions")[0].Get("customer")
	meta := map[string]any{"billwire_subject_type": "user", "billwire_subject_id": "u_j"}
	send := func(typ string, obj map[string]any) {
		t.Helper()
		payload := eventfixtures.MustEvent(t, typ, eventfixtures.Options{
			Created: time.Now().Unix(),
			Replace: map[string]string{"cus_Fixture1": cust, "sub_Fixture1": "sub_J1"},
			Object:  obj,
		})
		req, _ := http.NewRequest("POST", r.url+"/webhooks/stripe/test", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, whsec, time.Now()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s answered %d", typ, resp.StatusCode)
		}
	}
	sub := map[string]any{"type": "user", "id": "u_j"}
	if res := r.do("GET", "/api/payments/test/subjects/user/u_j", u, nil); res.status != 200 || res.body["has_billing"] != true ||
		res.body["customer"].(map[string]any)["mapping_confirmed"] != false {
		t.Fatalf("subject before events: %d %v", res.status, res.body)
	}
	send("checkout.session.completed", map[string]any{"id": sid, "customer": cust, "client_reference_id": "user:u_j", "metadata": meta,
		"subscription": "sub_J1", "mode": "subscription"})
	m, err := r.st.SubjectMapping(context.Background(), vocab.Test, "user", "u_j")
	if err != nil || !m.Confirmed || m.CustomerID != cust {
		t.Fatalf("mapping after checkout.session.completed: %+v %v", m, err)
	}
	if r.countRows(`stripe_id = $1 AND status = 'complete' AND requester = 'user:u_j'`, sid) != 1 {
		t.Fatal("the event did not complete billwire's own row")
	}
	send("customer.subscription.created", map[string]any{"id": "sub_J1", "customer": cust, "status": "active", "metadata": meta})
	state := r.do("GET", "/api/payments/test/subjects/user/u_j", u, nil)
	subs, _ := state.body["subscriptions"].([]any)
	if state.status != 200 || len(subs) != 1 || subs[0].(map[string]any)["id"] != "sub_J1" || subs[0].(map[string]any)["status"] != "active" {
		t.Fatalf("subject state: %d %v", state.status, state.body)
	}
	if other := r.do("GET", "/api/payments/test/subjects/user/u_j", token(t, jwt.MapClaims{"sub": "u_x"}), nil); other.status != 403 {
		t.Fatalf("another user read the subject: %d", other.status)
	}
	p := r.do("POST", "/api/payments/test/portal-sessions", u, map[string]any{"subject": sub, "return_url": appOrigin + "/billing", "flow": "cancel"})
	if p.status != 201 || p.body["subscription_id"] != "sub_J1" {
		t.Fatalf("portal: %d %v", p.status, p.body)
	}
	ps := r.rec.Bodies("POST /v1/billing_portal/sessions")
	if len(ps) != 1 || ps[0].Get("customer") != cust || ps[0].Get("flow_data[type]") != "subscription_cancel" ||
		ps[0].Get("flow_data[subscription_cancel][subscription]") != "sub_J1" {
		t.Fatalf("portal session body %v", ps)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	pre := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", r.url+"/api/payments/test/checkout-sessions", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := pre(appOrigin); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != appOrigin ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := pre("https://app.example.com.evil.net"); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin: %d %v", resp.StatusCode, resp.Header)
	}
	res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, checkoutBody(user("u_1")), "Origin", "https://evil.net")
	if res.status != 403 || res.body["code"] != "origin_not_allowed" {
		t.Fatalf("request from another origin: %d %v", res.status, res.body)
	}
	res = r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, checkoutBody(user("u_1")), "Origin", appOrigin)
	if res.status != 201 || res.header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("request from the app: %d %v", res.status, res.header)
	}
}

func TestEntitlementRoute(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	u := token(t, jwt.MapClaims{"sub": "u_e"})
	if res := r.do("POST", "/api/payments/test/checkout-sessions", u, checkoutBody(user("u_e"))); res.status != 201 {
		t.Fatalf("checkout %d %v", res.status, res.body)
	}
	route := "/api/payments/test/subjects/user/u_e/entitlements/"
	if res := r.do("GET", route+"api_access", u, nil); res.status != 200 || res.body["allowed"] != false {
		t.Fatalf("before any summary: %d %v", res.status, res.body)
	}
	m, _ := r.st.SubjectMapping(context.Background(), vocab.Test, "user", "u_e")
	summary := fmt.Sprintf(`{"object":"entitlements.active_entitlement_summary","customer":%q,"livemode":false,
		"entitlements":{"object":"list","has_more":false,"data":[{"id":"ent_1","object":"entitlements.active_entitlement","feature":"feat_1","livemode":false,"lookup_key":"api_access"}]}}`, m.CustomerID)
	if err := store.ProjectEntitlementSummary(context.Background(), r.st.Pool(), vocab.Test, []byte(summary), time.Now()); err != nil {
		t.Fatal(err)
	}
	if res := r.do("GET", route+"api_access", u, nil); res.status != 200 || res.body["allowed"] != true {
		t.Fatalf("entitled: %d %v", res.status, res.body)
	}
	if res := r.do("GET", route+"sso", u, nil); res.status != 200 || res.body["allowed"] != false {
		t.Fatalf("not entitled: %d %v", res.status, res.body)
	}
	if res := r.do("GET", route+"api_access", token(t, jwt.MapClaims{"sub": "u_other"}), nil); res.status != 403 {
		t.Fatalf("another user: %d %v", res.status, res.body)
	}
	if res := r.do("GET", route+"api_access", "", nil); res.status != 401 {
		t.Fatalf("no credentials: %d", res.status)
	}
	state := r.do("GET", "/api/payments/test/subjects/user/u_e", u, nil)
	if ents, _ := state.body["entitlements"].([]any); len(ents) != 1 || ents[0] != "api_access" {
		t.Fatalf("subject view: %v", state.body)
	}
}

// The session API remembers the prices it checked, but a change in the
// catalog is seen by the very next checkout: nothing is written for it.
func TestCheckoutSeesCatalogChangesAtOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	body := checkoutBody(user("u_c"), map[string]any{"lookup_key": "credit_pack", "quantity": 2})
	body["mode"] = "payment"
	for range 2 {
		if res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body); res.status != 201 {
			t.Fatalf("checkout %d %v", res.status, res.body)
		}
	}
	if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.prices SET active = false WHERE id = 'price_Pack'`); err != nil {
		t.Fatal(err)
	}
	res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body)
	if res.status != 400 || res.body["code"] != "unknown_price" && res.body["code"] != "inactive_price" {
		t.Fatalf("after archiving: %d %v", res.status, res.body)
	}
	if n := r.countRows(`subject_id = 'u_c'`); n != 2 {
		t.Fatalf("%d rows after the refusal, want 2", n)
	}
	// The lookup key moves to another price: the next checkout buys that one.
	if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.prices SET lookup_key = NULL WHERE id = 'price_Pack';
		UPDATE payments.prices SET lookup_key = 'credit_pack', active = true WHERE id = 'price_Archived'`); err != nil {
		t.Fatal(err)
	}
	if res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body); res.status != 201 {
		t.Fatalf("after moving the lookup key: %d %v", res.status, res.body)
	}
	bodies := r.rec.Bodies("POST /v1/checkout/sessions")
	if got := bodies[len(bodies)-1].Get("line_items[0][price]"); got != "price_Archived" {
		t.Fatalf("checkout bought %s, want price_Archived", got)
	}
}

// When the update that stores Stripe's session is lost (it commits
// asynchronously), nothing is: a retry is told to wait, the session's first
// event completes billwire's own row, and the retry then gets the session.
func TestLostSessionUpdateIsRecovered(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	body := checkoutBody(user("u_l"))
	body["idempotency_key"] = "retry-1"
	first := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body)
	if first.status != 201 {
		t.Fatalf("checkout %d %v", first.status, first.body)
	}
	id, sid := int64(first.body["id"].(float64)), first.body["stripe_session_id"].(string)
	r.st.Flush()
	if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.checkout_sessions SET stripe_id = NULL, url = NULL, status = 'initialized'
		WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if retry := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body); retry.status != 409 || retry.body["code"] != "request_in_progress" {
		t.Fatalf("retry after a lost update: %d %v", retry.status, retry.body)
	}

	cust := r.rec.Bodies("POST /v1/checkout/sessions")[0].Get("customer")
	payload := eventfixtures.MustEvent(t, "checkout.session.completed", eventfixtures.Options{
		Created: time.Now().Unix(),
		Replace: map[string]string{"cus_Fixture1": cust},
		Object: map[string]any{"id": sid, "customer": cust, "client_reference_id": "user:u_l", "mode": "subscription",
			"metadata": map[string]any{"billwire_subject_type": "user", "billwire_subject_id": "u_l", "billwire_checkout_id": fmt.Sprint(id)}},
	})
	req, _ := http.NewRequest("POST", r.url+"/webhooks/stripe/test", bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, whsec, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
	if n := r.countRows(`stripe_id = $1`, sid); n != 1 {
		t.Fatalf("%d rows for %s, want 1", n, sid)
	}
	if r.countRows(`id = $1 AND stripe_id = $2 AND status = 'complete'`, id, sid) != 1 {
		t.Fatal("the event did not complete billwire's own row")
	}
	calls := r.rec.Calls("POST /v1/checkout/sessions")
	retry := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, body)
	if retry.status != 200 || retry.body["stripe_session_id"] != sid || int64(retry.body["id"].(float64)) != id {
		t.Fatalf("retry after the event: %d %v, want session %s on row %d", retry.status, retry.body, sid, id)
	}
	if r.rec.Calls("POST /v1/checkout/sessions") != calls {
		t.Fatal("the retry called Stripe again")
	}
}
