package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/dashboard"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

func wantIn(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("%s does not show %q", what, s)
		}
	}
}

func wantNotIn(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(body, s) {
			t.Errorf("%s shows %q", what, s)
		}
	}
}

func TestNoSessionRedirectsToLogin(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	b := w.browser(t)
	for path, next := range map[string]string{
		"/dashboard/test/customers":              "/dashboard/login?next=" + url.QueryEscape("/dashboard/test/customers"),
		"/dashboard/live/payments?status=failed": "/dashboard/login?next=" + url.QueryEscape("/dashboard/live/payments?status=failed"),
		"/dashboard/":                            "/dashboard/login",
	} {
		a := b.get(path)
		if a.code != http.StatusSeeOther || a.h.Get("Location") != next {
			t.Errorf("GET %s = %d → %q, want 303 → %q", path, a.code, a.h.Get("Location"), next)
		}
	}
	if a := b.get("/dashboard"); a.code/100 != 3 || a.h.Get("Location") != "/dashboard/" {
		t.Errorf("GET /dashboard = %d %q", a.code, a.h.Get("Location"))
	}
	// An action without a session does nothing.
	a := b.do(http.MethodPost, "/dashboard/test/webhooks/replay", url.Values{"event_id": {parkedID}, "csrf": {"x"}})
	if a.code != http.StatusSeeOther || !strings.HasPrefix(a.h.Get("Location"), "/dashboard/login") {
		t.Errorf("POST replay without a session = %d %q", a.code, a.h.Get("Location"))
	}
	var status string
	w.st.Pool().QueryRow(context.Background(), `SELECT status FROM payments.webhook_events WHERE id = $1`, parkedID).Scan(&status)
	if status != "parked" {
		t.Errorf("event is %s after an unauthenticated replay", status)
	}
	// A made-up cookie is no session.
	b.c.Jar.SetCookies(mustURL(t, w.srv.URL+"/dashboard/"), []*http.Cookie{{Name: dashboard.CookieName, Value: "forged-token", Path: "/dashboard"}})
	if a := b.get("/dashboard/test/settings"); a.code != http.StatusSeeOther {
		t.Errorf("forged cookie = %d", a.code)
	}
	// The login page itself and the assets are open.
	if a := b.get("/dashboard/login"); a.code != 200 || !strings.Contains(a.body, `type="password"`) {
		t.Errorf("login page = %d", a.code)
	}
	if a := b.get("/dashboard/assets/style.css"); a.code != 200 || !strings.Contains(a.h.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet = %d %q", a.code, a.h.Get("Content-Type"))
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// clock is a settable time for the login rate limit.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestWrongPasswordsAreRateLimited(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	seed(t, st)
	svc := billing.New(billing.Static(st), stripeapi.Options{}, zerolog.Nop())
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	d := dashboard.New(svc, zerolog.Nop(), dashboard.Options{Now: clk.now})
	defer d.Close()
	login := func(remote, pw string, header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/dashboard/login", strings.NewReader(url.Values{"password": {pw}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = remote
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, r)
		return rec
	}
	const attacker = "203.0.113.7:4242"
	for i := range 5 {
		rec := login(attacker, "hunter2 hunter2")
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "Wrong password") || rec.Header().Get("Set-Cookie") != "" {
			t.Fatalf("wrong password %d = %d %q", i, rec.Code, rec.Header().Get("Set-Cookie"))
		}
	}
	// Out of attempts: refused without checking, even the right password.
	rec := login(attacker, password)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "60" || rec.Header().Get("Set-Cookie") != "" ||
		!strings.Contains(rec.Body.String(), "Too many sign-in attempts") {
		t.Fatalf("6th attempt = %d retry-after %q cookie %q", rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Set-Cookie"))
	}
	// Another address (another IPv6 /64 too) keeps its own budget.
	if rec := login("198.51.100.1:1000", password); rec.Code != http.StatusSeeOther {
		t.Fatalf("other address = %d", rec.Code)
	}
	for i := range 5 {
		login("[2001:db8:1:2::1]:1", "nope nope nope"+string(rune('a'+i)))
	}
	if rec := login("[2001:db8:1:2::ffff]:1", password); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("same /64 = %d, want 429", rec.Code)
	}
	if rec := login("[2001:db8:1:3::1]:1", password); rec.Code != http.StatusSeeOther {
		t.Fatalf("next /64 = %d", rec.Code)
	}
	// One attempt more per minute.
	clk.add(59 * time.Second)
	if rec := login(attacker, password); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("after 59s = %d %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	clk.add(time.Second)
	rec = login(attacker, password, "X-Forwarded-Proto", "https")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/dashboard/test/" {
		t.Fatalf("after a minute = %d %q", rec.Code, rec.Header().Get("Location"))
	}
	cookie := rec.Header().Get("Set-Cookie")
	for _, attr := range []string{dashboard.CookieName + "=", "Path=/dashboard", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=43200"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("cookie %q lacks %s", cookie, attr)
		}
	}
	// Over plain http the cookie cannot be Secure, or the browser would drop it.
	clk.add(time.Hour)
	if rec := login(attacker, password); strings.Contains(rec.Header().Get("Set-Cookie"), "Secure") || !strings.Contains(rec.Header().Get("Set-Cookie"), "HttpOnly") {
		t.Errorf("http cookie = %q", rec.Header().Get("Set-Cookie"))
	}
	// The session token is stored only as a hash.
	token := strings.TrimPrefix(strings.Split(cookie, ";")[0], dashboard.CookieName+"=")
	var n int
	st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM payments.dashboard_sessions WHERE token_hash = $1::text::bytea OR csrf_token = $1`, token).Scan(&n)
	if n != 0 || len(token) < 40 {
		t.Errorf("token %q stored in clear (%d rows)", token, n)
	}
}

func TestActionsNeedTheSessionsCSRFToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	b := w.browser(t)
	csrf := b.login()
	statusOf := func() string {
		var s string
		w.st.Pool().QueryRow(context.Background(), `SELECT status FROM payments.webhook_events WHERE id = $1`, parkedID).Scan(&s)
		return s
	}
	for name, form := range map[string]url.Values{
		"forged token":  {"event_id": {parkedID}, "csrf": {"AAAA" + csrf[4:]}},
		"missing token": {"event_id": {parkedID}},
		"empty token":   {"event_id": {parkedID}, "csrf": {""}},
	} {
		a := b.do(http.MethodPost, "/dashboard/test/webhooks/replay", form)
		if a.code != http.StatusForbidden || !strings.Contains(a.body, "security token") || statusOf() != "parked" {
			t.Errorf("%s: %d, event %s", name, a.code, statusOf())
		}
	}
	if a := b.do(http.MethodPost, "/dashboard/test/settings/sync", url.Values{"csrf": {"nope"}}); a.code != http.StatusForbidden {
		t.Errorf("sync with a forged token = %d", a.code)
	}
	var runs int
	w.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM payments.sync_runs`).Scan(&runs)
	if runs != 0 {
		t.Errorf("a refused sync left %d runs", runs)
	}
	// Another session's token is a forged token too.
	b2 := w.browser(t)
	other := b2.login()
	if a := b.do(http.MethodPost, "/dashboard/test/webhooks/replay", url.Values{"event_id": {parkedID}, "csrf": {other}}); a.code != http.StatusForbidden {
		t.Errorf("another session's token = %d", a.code)
	}
	// The right token from another site is refused too.
	a := b.do(http.MethodPost, "/dashboard/test/webhooks/replay", url.Values{"event_id": {parkedID}, "csrf": {csrf}},
		"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	if a.code != http.StatusForbidden || statusOf() != "parked" {
		t.Errorf("cross-site POST = %d, event %s", a.code, statusOf())
	}
	// The right token replays the event, and the next page says so once.
	a = b.do(http.MethodPost, "/dashboard/test/webhooks/replay", url.Values{"event_id": {parkedID}, "csrf": {csrf}, "back": {"/dashboard/test/webhooks?status=parked"}},
		"Sec-Fetch-Site", "same-origin", "Origin", w.srv.URL)
	if a.code != http.StatusSeeOther || a.h.Get("Location") != "/dashboard/test/webhooks?status=parked" || statusOf() != "processed" {
		t.Fatalf("replay = %d %q, event %s: %s", a.code, a.h.Get("Location"), statusOf(), a.body)
	}
	page := b.get("/dashboard/test/webhooks?status=parked")
	wantIn(t, "page after replay", page.body, "Replayed "+parkedID+": it was parked and is now processed.")
	if again := b.get("/dashboard/test/webhooks"); strings.Contains(again.body, "Replayed ") {
		t.Error("the message is shown twice")
	}
	if cs := b.get("/dashboard/test/customers?q=cus_DashReplayed"); !strings.Contains(cs.body, "Replayed Customer") {
		t.Error("the replayed event's customer is not projected")
	}
	// Replaying an unknown event says so.
	b.do(http.MethodPost, "/dashboard/test/webhooks/replay", url.Values{"event_id": {"evt_Nope"}, "csrf": {csrf}})
	wantIn(t, "unknown replay", b.get("/dashboard/test/webhooks").body, "no event &#34;evt_Nope&#34; in billwire&#39;s test ledger")
	// Sign out ends the session on the server.
	if a := b.do(http.MethodPost, "/dashboard/logout", url.Values{"csrf": {csrf}}); a.code != http.StatusSeeOther {
		t.Fatalf("logout = %d", a.code)
	}
	if a := b.get("/dashboard/test/catalog"); a.code != http.StatusSeeOther {
		t.Errorf("after logout = %d", a.code)
	}
}

func TestPagesShowTheSeededRowsPerEnvironment(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	for _, e := range []store.AuditEntry{
		{Env: vocab.Test, KeyID: 7, KeyName: "agent-test", Kind: "tool", Name: "list_catalog", Result: "ok"},
		{Env: vocab.Test, KeyID: 7, KeyName: "agent-test", Kind: "resource", Name: "billwire://live/catalog", Result: "environment_not_allowed"},
		{Env: vocab.Live, KeyID: 8, KeyName: "agent-live", Kind: "tool", Name: "create_product", Result: "live_write_refused"},
	} {
		if err := w.st.RecordAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	b := w.browser(t)
	b.login()
	for _, c := range []struct {
		path string
		want []string
		not  []string
	}{
		{"/dashboard/test/catalog", []string{"Pro", "Legacy Pro", "price_DashProMonthly", "20.00 USD / month", "pro_monthly", "archived",
			`href="https://dashboard.stripe.com/test/products/prod_DashPro"`}, []string{"Live Pro", "LIVE MODE", "Live price"}},
		{"/dashboard/live/catalog", []string{"Live Pro", "LIVE MODE: real customers and real money", "<title>[LIVE] Catalog",
			`href="https://dashboard.stripe.com/products/prod_DashPro"`, `class="env-live on"`}, []string{">Pro<", "/test/products"}},
		{"/dashboard/test/customers", []string{"Jenny Rosen", "jenny@example.com", "user:u_jenny", "team:t_acme", "unconfirmed", "Acme Inc"},
			[]string{"Paying Customer"}},
		{"/dashboard/live/customers", []string{"Paying Customer", "cus_LiveOnly"}, []string{"Jenny Rosen"}},
		{"/dashboard/test/subscriptions", []string{"sub_DashJenny", "sub_DashAcme", "past_due", "Pro · 20.00 USD / month", "2024-08-02", "user:u_jenny",
			"jenny@example.com"}, nil},
		{"/dashboard/test/payments", []string{"pi_DashPaid", "partially_refunded", "20.00 USD", "refunded 5.00 USD", "card_declined",
			"Your card has insufficient funds.", "re_DashRefund", "dp_DashDispute", "needs_response",
			`href="https://dashboard.stripe.com/test/payments/pi_DashPaid"`, "Refund in Stripe",
			`href="https://dashboard.stripe.com/test/refunds/re_DashRefund"`, `href="https://dashboard.stripe.com/test/disputes/dp_DashDispute"`, "Respond in Stripe"},
			[]string{"pi_LivePaid"}},
		{"/dashboard/live/payments", []string{"pi_LivePaid", "49.00 USD", `href="https://dashboard.stripe.com/payments/pi_LivePaid"`}, []string{"pi_DashPaid"}},
		{"/dashboard/test/webhooks", []string{"evt_DashPaid", "invoice.paid", parkedID, "deadlock detected (simulated)", "parked", `id="replay-` + parkedID + `"`,
			"stripe listen", "whsec_…9876", "1 parked"}, []string{whsec}},
		{"/dashboard/test/settings", []string{"sk_test_…4242", "acct_DashTest", "Dash Co", "Never synced.", `id="sync"`, "whsec_…9876",
			"agent-test", "list_catalog", "billwire://live/catalog", "environment_not_allowed"}, []string{testKey, whsec, "agent-live"}},
		{"/dashboard/live/settings", []string{"No key.", "billwire keys set --env live", "agent-live", "live_write_refused"}, []string{`id="sync"`, "agent-test"}},
	} {
		a := b.get(c.path)
		if a.code != 200 {
			t.Errorf("GET %s = %d", c.path, a.code)
			continue
		}
		wantIn(t, c.path, a.body, c.want...)
		wantNotIn(t, c.path, a.body, c.not...)
		if csp := a.h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s CSP = %q", c.path, csp)
		}
		if a.h.Get("Cache-Control") != "no-store" || a.h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s headers = %v", c.path, a.h)
		}
	}
	// The environment switch goes to the same page in the other environment.
	wantIn(t, "env switch", b.get("/dashboard/test/payments").body, `href="/dashboard/live/payments" class="env-live"`)
	wantIn(t, "env switch", b.get("/dashboard/live/webhooks").body, `href="/dashboard/test/webhooks" class="env-test"`)
	if a := b.get("/dashboard/staging/catalog"); a.code != http.StatusNotFound {
		t.Errorf("unknown env = %d", a.code)
	}
	if a := b.get("/dashboard/test/invoices"); a.code != http.StatusNotFound {
		t.Errorf("unknown page = %d", a.code)
	}
}

func TestSearchAndFilters(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	b := w.browser(t)
	b.login()
	for _, c := range []struct {
		path      string
		want, not []string
	}{
		{"/dashboard/test/customers?q=jenny%40", []string{"Jenny Rosen"}, []string{"Acme Inc"}},
		{"/dashboard/test/customers?q=ACME", []string{"Acme Inc"}, []string{"Jenny Rosen"}},
		{"/dashboard/test/customers?q=t_acme", []string{"Acme Inc"}, []string{"Jenny Rosen"}},
		{"/dashboard/test/customers?q=nobody", []string{"No customer matches “nobody”."}, []string{"Jenny Rosen"}},
		{"/dashboard/test/catalog?q=legacy", []string{"Legacy Pro"}, []string{"price_DashProMonthly"}},
		{"/dashboard/test/subscriptions?status=past_due", []string{"sub_DashAcme"}, []string{"sub_DashJenny"}},
		{"/dashboard/test/subscriptions?q=jenny%40example.com", []string{"sub_DashJenny"}, []string{"sub_DashAcme"}},
		{"/dashboard/test/subscriptions?subject=user%3Au_jenny", []string{"sub_DashJenny"}, []string{"sub_DashAcme"}},
		{"/dashboard/test/payments?status=failed", []string{"pi_DashFailed", "Your card has insufficient funds."}, []string{"pi_DashPaid"}},
		{"/dashboard/test/payments?subject=team%3At_acme", []string{"pi_DashFailed"}, []string{"pi_DashPaid"}},
		{"/dashboard/test/payments?subject=u_jenny", []string{"pi_DashPaid"}, []string{"pi_DashFailed"}},
		{"/dashboard/test/payments?subject=user%3At_acme", []string{"No payments match"}, []string{"pi_DashFailed"}},
		{"/dashboard/test/payments?q=in_DashFailed", []string{"pi_DashFailed"}, []string{"pi_DashPaid"}},
		{"/dashboard/test/payments?q=sub_DashJenny", []string{"pi_DashPaid"}, []string{"pi_DashFailed"}},
		// A payment intent finds its payment with its refund and dispute.
		{"/dashboard/test/payments?q=pi_DashPaid", []string{"pi_DashPaid", "re_DashRefund", "dp_DashDispute"}, []string{"pi_DashFailed"}},
		{"/dashboard/test/payments?q=mallory", []string{"No payments match"}, []string{"pi_Dash"}},
		{"/dashboard/test/payments?q=needs_response", []string{"dp_DashDispute"}, []string{"pi_DashPaid"}},
		{"/dashboard/test/webhooks?status=parked", []string{parkedID}, []string{"evt_DashPaid"}},
		{"/dashboard/test/webhooks?q=sub_DashAcme", []string{"evt_DashSubUpdated"}, []string{"evt_DashPaid"}},
		{"/dashboard/test/webhooks?q=invoice.paid", []string{"evt_DashPaid"}, []string{parkedID}},
	} {
		a := b.get(c.path)
		if a.code != 200 {
			t.Errorf("GET %s = %d", c.path, a.code)
			continue
		}
		wantIn(t, c.path, a.body, c.want...)
		wantNotIn(t, c.path, a.body, c.not...)
	}
	for _, path := range []string{"/dashboard/test/payments?status=bogus", "/dashboard/test/subscriptions?status=bogus", "/dashboard/test/webhooks?status=bogus"} {
		if a := b.get(path); a.code != http.StatusBadRequest || !strings.Contains(a.body, "choose one from the list") {
			t.Errorf("GET %s = %d", path, a.code)
		}
	}
}

func TestPageOutOfRangeIsAnEmptyPage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	b := w.browser(t)
	b.login()
	for _, page := range []string{"customers", "subscriptions", "payments", "webhooks", "catalog"} {
		for _, c := range []struct{ q, want string }{
			{"page=2", "There is no page 2 here."},
			{"page=150", "There is no page 150 here."},
			{"page=999", "Pages stop at 200"},
			{"page=0", "There is no page"},
			{"page=-3", "There is no page"},
			{"page=abc", "There is no page"},
			{"page=99999999999999999999", "There is no page"},
			{"page=201", "Pages stop at 200"},
		} {
			a := b.get("/dashboard/test/" + page + "?" + c.q)
			if a.code != 200 || !strings.Contains(a.body, c.want) || !strings.Contains(a.body, `href="/dashboard/test/`+page+`"`) {
				t.Errorf("%s?%s = %d, want 200 with %q", page, c.q, a.code, c.want)
			}
			if strings.Contains(a.body, "cus_DashJenny") || strings.Contains(a.body, "evt_DashPaid") || strings.Contains(a.body, "prod_DashPro") {
				t.Errorf("%s?%s shows rows", page, c.q)
			}
		}
	}
	// Page 1 of a short list has no neighbours.
	a := b.get("/dashboard/test/customers?page=1")
	wantNotIn(t, "page 1", a.body, `rel="next"`, `rel="prev"`)
	wantIn(t, "page 1", a.body, "Page 1")
}

func TestPaginationWalksEveryRow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	_, err := w.st.Pool().Exec(context.Background(), `INSERT INTO payments.customers (env, id, email, name, livemode, created, data, source_at)
		SELECT 'test', 'cus_Page' || lpad(i::text, 3, '0'), 'page' || i || '@example.com', 'Page ' || i, false, now(), '{}', now()
		FROM generate_series(1, 120) i`)
	if err != nil {
		t.Fatal(err)
	}
	b := w.browser(t)
	b.login()
	seen := map[string]bool{}
	path := "/dashboard/test/customers?q=page"
	for pages := 1; ; pages++ {
		a := b.get(path)
		for _, m := range regexp.MustCompile(`>(cus_Page\d+)<`).FindAllStringSubmatch(a.body, -1) {
			if seen[m[1]] {
				t.Fatalf("%s twice", m[1])
			}
			seen[m[1]] = true
		}
		m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(a.body)
		if m == nil {
			if pages != 3 {
				t.Errorf("%d pages, want 3", pages)
			}
			break
		}
		path = strings.ReplaceAll(m[1], "&amp;", "&")
		if !strings.Contains(path, "q=page") {
			t.Fatalf("next link %q drops the search", path)
		}
	}
	if len(seen) != 120 {
		t.Errorf("saw %d customers, want 120", len(seen))
	}
}

func TestScriptInACustomerNameIsShownAsText(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	b := w.browser(t)
	b.login()
	for _, path := range []string{"/dashboard/test/customers", "/dashboard/test/customers?q=mallory", "/dashboard/test/customers?q=" + url.QueryEscape(evilName)} {
		a := b.get(path)
		wantNotIn(t, path, a.body, "<script")
		if !strings.Contains(path, "?q=%3C") {
			wantIn(t, path, a.body, `&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;`)
		} else {
			wantIn(t, path, a.body, `value="&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;"`)
		}
	}
	// Search text comes back escaped in the form and the message, too.
	a := b.get("/dashboard/test/catalog?q=" + url.QueryEscape(`"><img src=x onerror=alert(1)>`))
	wantNotIn(t, "catalog search", a.body, "<img")
	wantIn(t, "catalog search", a.body, "&lt;img src=x onerror=alert(1)&gt;")
}

func TestSettingsSyncRunsInTheBackground(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{Products: 2, Prices: 3, Customers: 4, Subscriptions: 2})
	b := w.browser(t)
	csrf := b.login()
	a := b.do(http.MethodPost, "/dashboard/test/settings/sync", url.Values{"csrf": {csrf}})
	if a.code != http.StatusSeeOther || a.h.Get("Location") != "/dashboard/test/settings" {
		t.Fatalf("sync = %d %q", a.code, a.h.Get("Location"))
	}
	page := b.get("/dashboard/test/settings")
	wantIn(t, "settings after sync", page.body, "Sync of test started")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var status string
		err := w.st.Pool().QueryRow(context.Background(), `SELECT status FROM payments.sync_runs ORDER BY id DESC LIMIT 1`).Scan(&status)
		if err == nil && status == "succeeded" {
			break
		}
		if err == nil && status == "failed" || time.Now().After(deadline) {
			t.Fatalf("sync run: %q %v", status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	page = b.get("/dashboard/test/settings")
	wantIn(t, "settings after sync", page.body, "succeeded", "customers 4", "subscriptions 2")
	wantNotIn(t, "settings after sync", page.body, testKey)
	// Live has no key: the sync says how to set one, and starts nothing.
	b.do(http.MethodPost, "/dashboard/live/settings/sync", url.Values{"csrf": {csrf}})
	wantIn(t, "live sync", b.get("/dashboard/live/settings").body, "No Stripe key is set for live: run `billwire keys set --env live` first.")
}

func TestSettingThePasswordSignsEveryoneOut(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	b := w.browser(t)
	b.login()
	hash, err := secrets.HashPassword("a brand new password", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.st.SetAdminPassword(context.Background(), hash); err != nil || n != 1 {
		t.Fatalf("SetAdminPassword = %d, %v", n, err)
	}
	if a := b.get("/dashboard/test/catalog"); a.code != http.StatusSeeOther {
		t.Errorf("old session = %d", a.code)
	}
	if a := b.do(http.MethodPost, "/dashboard/login", url.Values{"password": {password}}); a.code != http.StatusUnauthorized {
		t.Errorf("old password = %d", a.code)
	}
	if a := b.do(http.MethodPost, "/dashboard/login", url.Values{"password": {"a brand new password"}, "next": {"//evil.example/x"}}); a.code != http.StatusSeeOther ||
		a.h.Get("Location") != "/dashboard/test/" {
		t.Errorf("new password = %d %q", a.code, a.h.Get("Location"))
	}
}

func TestNoPasswordSetSaysHowToSetOne(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	svc := billing.New(billing.Static(st), stripeapi.Options{}, zerolog.Nop())
	d := dashboard.New(svc, zerolog.Nop(), dashboard.Options{})
	defer d.Close()
	srv := httptest.NewServer(d)
	defer srv.Close()
	b := &browser{t: t, base: srv.URL, c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	wantIn(t, "login page", b.get("/dashboard/login").body, "billwire admin set-password")
	a := b.do(http.MethodPost, "/dashboard/login", url.Values{"password": {"anything at all"}})
	if a.code != http.StatusForbidden || !strings.Contains(a.body, "No admin password is set") {
		t.Errorf("login without a password = %d", a.code)
	}
}

func TestCatalogShowsTheLivePriceMap(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	if err := w.st.PutPriceMapping(context.Background(), store.PriceMapping{TestPriceID: "price_DashProMonthly", LivePriceID: "price_LiveProMonthly",
		TestProductID: "prod_DashPro", LiveProductID: "prod_LivePro"}); err != nil {
		t.Fatal(err)
	}
	b := w.browser(t)
	b.login()
	wantIn(t, "test catalog", b.get("/dashboard/test/catalog").body, "price_LiveProMonthly", "not mapped")
	wantNotIn(t, "live catalog", b.get("/dashboard/live/catalog").body, "price_LiveProMonthly", "not mapped")
}

func TestExpiredSessionGoesToLogin(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	b := w.browser(t)
	b.login()
	var left time.Duration
	if err := w.st.Pool().QueryRow(context.Background(), `SELECT expires_at - now() FROM payments.dashboard_sessions`).Scan(&left); err != nil ||
		left < 11*time.Hour || left > 12*time.Hour {
		t.Fatalf("session lasts %v (%v), want 12 hours", left, err)
	}
	if _, err := w.st.Pool().Exec(context.Background(), `UPDATE payments.dashboard_sessions SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if a := b.get("/dashboard/test/catalog"); a.code != http.StatusSeeOther || !strings.HasPrefix(a.h.Get("Location"), "/dashboard/login") {
		t.Errorf("expired session = %d %q", a.code, a.h.Get("Location"))
	}
}

// The payments page lists the payments that did not pay for their order,
// per environment, with what was paid against what was owed, and the
// payer's id from the session as text.
func TestPaymentsPageListsFulfillmentMismatches(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	b := w.browser(t)
	b.login()
	if a := b.get("/dashboard/test/payments"); a.code != 200 || strings.Contains(a.body, `id="mismatches"`) {
		t.Fatalf("without mismatches: %d, the section is shown", a.code)
	}
	if _, err := w.st.Pool().Exec(context.Background(), `INSERT INTO payments.fulfillment_mismatches (env, payment_key, order_id, reason, detail) VALUES
		('test', 'cs_test_Cheap', 'o_500', 'underpaid', '{"order_amount": 50000, "order_currency": "usd", "order_owner": "u_1",
			"amount_subtotal": 100, "currency": "usd", "subject_type": "user", "subject_id": "<script>x</script>", "payment_intent_id": "pi_Cheap"}'),
		('live', 'cs_live_Other', 'o_live', 'wrong_owner', '{}')`); err != nil {
		t.Fatal(err)
	}
	a := b.get("/dashboard/test/payments")
	wantIn(t, "test payments", a.body, `id="mismatches"`, "cs_test_Cheap", "o_500", "underpaid", "1.00 USD", "500.00 USD", "u_1",
		"&lt;script&gt;x&lt;/script&gt;", `href="https://dashboard.stripe.com/test/payments/pi_Cheap"`, "1 of the last 30 days not refunded")
	wantNotIn(t, "test payments", a.body, "cs_live_Other", "<script>x")
	wantIn(t, "live payments", b.get("/dashboard/live/payments").body, "cs_live_Other", "wrong_owner")
}

// A mismatch where nothing was paid (a trial naming an order) has nothing
// to refund: it says so instead of linking a refund, and is not counted.
func TestPaymentsPageShowsFreeMismatchesAsNothingPaid(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	b := w.browser(t)
	b.login()
	if _, err := w.st.Pool().Exec(context.Background(), `INSERT INTO payments.fulfillment_mismatches (env, payment_key, order_id, reason, detail) VALUES
		('test', 'cs_test_Trial', 'o_500', 'unpaid', '{"order_amount": 50000, "order_currency": "usd", "amount_total": 0, "nothing_paid": true,
			"mode": "subscription", "currency": "usd", "payment_intent_id": "pi_Trial"}')`); err != nil {
		t.Fatal(err)
	}
	a := b.get("/dashboard/test/payments")
	wantIn(t, "test payments", a.body, "cs_test_Trial", "unpaid", "nothing paid", "0 of the last 30 days not refunded")
	wantNotIn(t, "test payments", a.body, `href="https://dashboard.stripe.com/test/payments/pi_Trial"`)
}

// A customer's page lists its invoices with their receipt links; the
// payment history lists the environment's newest invoices. Both stay in
// their environment, and what Stripe or an end user wrote is text.
func TestInvoicesPerCustomerAndInPaymentHistory(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	b := w.browser(t)
	b.login()
	for _, c := range []struct {
		path string
		code int
		want []string
		not  []string
	}{
		{"/dashboard/test/customers", 200, []string{`href="/dashboard/test/customers/cus_DashJenny"`}, nil},
		{"/dashboard/test/customers/cus_DashJenny", 200, []string{"Jenny Rosen", "jenny@example.com", "user:u_jenny", "DASH-0001", "paid", "20.00 USD",
			`href="https://invoice.stripe.com/i/acct_DashTest/test_DashPaid"`, `href="https://pay.stripe.com/invoice/acct_DashTest/test_DashPaid/pdf"`,
			`href="https://dashboard.stripe.com/test/invoices/in_DashPaid"`, `href="/dashboard/live/customers"`},
			[]string{"DASH-0002", "in_DashFailed", "LIVE-0001"}},
		{"/dashboard/test/customers/cus_DashTeam", 200, []string{"Acme Inc", "DASH-0002", "open", "0.00 USD"}, []string{"DASH-0001"}},
		{"/dashboard/live/customers/cus_LiveOnly", 200, []string{"Paying Customer", "LIVE-0001", "LIVE MODE",
			`href="https://dashboard.stripe.com/invoices/in_LivePaid"`}, []string{"DASH-000"}},
		// Another environment's customer does not exist here.
		{"/dashboard/live/customers/cus_DashJenny", 404, []string{"There is no customer cus_DashJenny in live."}, []string{"DASH-0001", "Jenny Rosen"}},
		{"/dashboard/test/customers/cus_LiveOnly", 404, nil, []string{"LIVE-0001"}},
		{"/dashboard/test/customers/cus_Nobody", 404, []string{"There is no customer cus_Nobody in test."}, nil},
		{"/dashboard/staging/customers/cus_DashJenny", 404, nil, nil},
		{"/dashboard/test/payments", 200, []string{`id="payment-invoices"`, "DASH-0001", "DASH-0002", "team:t_acme",
			`href="/dashboard/test/customers/cus_DashTeam"`, `href="https://invoice.stripe.com/i/acct_DashTest/test_DashFailed"`},
			[]string{"LIVE-0001"}},
		{"/dashboard/test/payments?subject=team:t_acme", 200, []string{"DASH-0002"}, []string{"DASH-0001"}},
		{"/dashboard/live/payments", 200, []string{"LIVE-0001", `href="https://invoice.stripe.com/i/acct_Live/live_Paid"`}, []string{"DASH-000"}},
	} {
		a := b.get(c.path)
		if a.code != c.code {
			t.Errorf("GET %s = %d, want %d", c.path, a.code, c.code)
		}
		wantIn(t, c.path, a.body, c.want...)
		wantNotIn(t, c.path, a.body, c.not...)
	}
	// An invoice number like a script is text, and a receipt link that is
	// not https is not linked.
	for _, path := range []string{"/dashboard/test/customers/cus_DashEvil", "/dashboard/test/payments"} {
		a := b.get(path)
		wantIn(t, path, a.body, "in_DashEvil", `&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;`)
		wantNotIn(t, path, a.body, "<script", "javascript:", "http://pay.example")
	}
}

// The Usage page lists the environment's meters, the sender's backlog and
// the subjects' usage of the last 30 days, the other environment's apart,
// a subject id shown as text.
func TestUsagePage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	ctx := context.Background()
	for _, env := range []vocab.Env{vocab.Test, vocab.Live} {
		m, _ := json.Marshal(map[string]any{"id": "mtr_" + string(env), "object": "billing.meter", "event_name": "api_tokens_" + string(env),
			"display_name": "API tokens", "status": "active", "livemode": env == vocab.Live, "created": 1718900000,
			"default_aggregation": map[string]any{"formula": "sum"}})
		if err := w.st.UpsertMeters(ctx, env, []json.RawMessage{m}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.st.Pool().Exec(ctx, `INSERT INTO payments.usage_events (env, identifier, meter_id, event_name, subject_type, subject_id, value, event_time, timestamp_given, api_key_id, status)
		VALUES ('test', 'u1', 'mtr_test', 'api_tokens_test', 'user', '<b>u_evil</b>', 40, now(), false, 'k', 'sent'),
		       ('test', 'u2', 'mtr_test', 'api_tokens_test', 'user', '<b>u_evil</b>', 2, now(), false, 'k', 'failed'),
		       ('live', 'u3', 'mtr_live', 'api_tokens_live', 'team', 't_live', 9, now(), false, 'k', 'pending')`); err != nil {
		t.Fatal(err)
	}
	b := w.browser(t)
	b.login()
	a := b.get("/dashboard/test/usage")
	wantIn(t, "usage", a.body, "api_tokens_test")
	wantIn(t, "usage", a.body, "&lt;b&gt;u_evil&lt;/b&gt;")
	wantIn(t, "usage", a.body, `<td class="num">42</td>`)
	wantNotIn(t, "usage", a.body, "<b>u_evil")
	wantNotIn(t, "usage", a.body, "t_live")
	wantNotIn(t, "usage", a.body, "api_tokens_live")
	if a = b.get("/dashboard/live/usage"); !strings.Contains(a.body, "t_live") || strings.Contains(a.body, "u_evil") {
		t.Fatalf("live usage page: %s", a.body)
	}
}
