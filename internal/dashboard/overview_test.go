package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// The overview is each environment's landing page: the seeded figures,
// links to the lists behind them, charts without script, and nothing of the
// other environment.
func TestOverviewPage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	// A failure reason comes from Stripe (or whoever can make a payment
	// fail): the page shows it as text.
	if _, err := w.st.Pool().Exec(context.Background(), `INSERT INTO payments.payment_history (env, key, kind, status, amount, currency,
		failure_code, failures, occurred_at, source_at) VALUES ('test', 'pi_DashEvilFail', 'payment', 'failed', 100, 'usd', $1, 1, now(), now())`,
		evilName); err != nil {
		t.Fatal(err)
	}
	// Two replicas' counters of the same minute, and one from two days ago
	// (outside the 24 hours).
	lat := func(fast, slow int64) []int64 {
		l := make([]int64, len(store.LatencyBoundsMs)+1)
		l[2], l[6] = fast, slow // ≤ 5 ms, ≤ 100 ms
		return l
	}
	minute := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	for _, c := range []struct {
		replica string
		m       store.WebhookMinute
	}{
		{"a", store.WebhookMinute{Env: vocab.Test, Minute: minute, Accepted: 3, Duplicate: 1, Latency: lat(3, 0)}},
		{"b", store.WebhookMinute{Env: vocab.Test, Minute: minute, Accepted: 2, Refused: 2, Latency: lat(1, 1)}},
		{"a", store.WebhookMinute{Env: vocab.Test, Minute: minute.Add(-48 * time.Hour), Accepted: 100, Latency: lat(100, 0)}},
		{"a", store.WebhookMinute{Env: vocab.Live, Minute: minute, Failed: 7, Latency: lat(0, 0)}},
	} {
		if err := w.st.AddWebhookMinutes(context.Background(), c.replica, []store.WebhookMinute{c.m}); err != nil {
			t.Fatal(err)
		}
	}
	b := w.browser(t)
	b.login()
	if a := b.get("/dashboard/"); a.code != http.StatusFound || a.h.Get("Location") != "/dashboard/test/" {
		t.Errorf("GET /dashboard/ = %d %q", a.code, a.h.Get("Location"))
	}
	a := b.get("/dashboard/test/")
	if a.code != http.StatusOK {
		t.Fatalf("GET /dashboard/test/ = %d\n%s", a.code, a.body)
	}
	since := url.QueryEscape(time.Now().UTC().Add(-7 * 24 * time.Hour).Format("2006-01-02T"))
	wantIn(t, "test overview", a.body,
		"<title>Overview · billwire", "Days and times are UTC",
		// MRR: sub_DashJenny (active) and sub_DashAcme (past_due) at 20.00 USD a month each.
		`id="mrr-usd-card"`, `<p class="big">40.00 USD</p>`, "0.00 USD in trials",
		`<svg viewBox="0 0 600 180" role="img" aria-labelledby="mrr-usd-title mrr-usd-desc"`, `<title id="mrr-usd-title">MRR in usd, last 30 days</title>`,
		"<details>", "<summary>Numbers</summary>",
		// Net revenue: 20.00 paid, 5.00 refunded.
		`<p class="big">15.00 USD</p>`, "1 payments for 20.00 USD, 1 refunds for 5.00 USD",
		// Subscriptions and payments.
		`href="/dashboard/test/subscriptions?status=active">active 1</a>`, `href="/dashboard/test/subscriptions?status=past_due">past_due 1</a>`,
		`id="trials-ending">0 trial(s) ending`,
		`id="failed">2</a> failed in the last 7 days`, "<td>card_declined</td>", "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;",
		`href="/dashboard/test/payments?since=`+since, "1 open dispute(s)", `href="/dashboard/test/payments?status=needs_response">needs_response 1</a>`,
		`href="/dashboard/test/payments#mismatches">0 payment(s)`,
		// The pipeline.
		`<code>stripe listen</code>`, `href="/dashboard/test/webhooks?status=parked" id="parked" class="failure">1</a>`,
		`class="on">Overview</a>`,
		`id="deliveries-24h">5 accepted · 1 duplicate · 2 refused · 0 failed`, `id="latency-24h">p50 ≤ 5 ms · p95 ≤ 100 ms`,
		`<title id="deliveries-title">Webhook deliveries per minute, last 24 hours</title>`)
	wantNotIn(t, "test overview", a.body, "<script", "49.00 USD", "LIVE MODE")

	live := b.get("/dashboard/live/")
	if live.code != http.StatusOK {
		t.Fatalf("GET /dashboard/live/ = %d", live.code)
	}
	wantIn(t, "live overview", live.body, "LIVE MODE: real customers and real money", "<title>[LIVE] Overview",
		`<p class="big">49.00 USD</p>`, "No active subscription with a licensed price yet.", `id="failed">0</a>`, "0 open dispute(s)",
		`<span class="badge warn">not set up</span>`, `href="/dashboard/test/" class="env-test" id="env-test"`,
		`id="deliveries-24h">0 accepted · 0 duplicate · 0 refused · 7 failed`, `id="latency-24h">p50 none`)
	wantNotIn(t, "live overview", live.body, "40.00 USD", "15.00 USD", "card_declined")
	if csp := live.h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP = %q", csp)
	}
	if a := b.get("/dashboard/staging/"); a.code != http.StatusNotFound {
		t.Errorf("unknown env = %d", a.code)
	}
}

// The payments list takes the overview's since filter: a date or a time,
// anything else is refused with how to write it.
func TestPaymentsSinceFilter(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	b := w.browser(t)
	b.login()
	a := b.get("/dashboard/test/payments?since=" + time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02"))
	wantIn(t, "since yesterday", a.body, "pi_DashPaid", "re_DashRefund", `id="since"`)
	a = b.get("/dashboard/test/payments?status=failed&since=" + url.QueryEscape(time.Now().UTC().Add(-30*time.Minute).Format(time.RFC3339)))
	wantNotIn(t, "failed in the last 30 minutes", a.body, "pi_DashFailed")
	a = b.get("/dashboard/test/payments?since=" + time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02"))
	wantNotIn(t, "since tomorrow", a.body, "pi_DashPaid", "re_DashRefund")
	if a := b.get("/dashboard/test/payments?since=last+week"); a.code != http.StatusBadRequest || !strings.Contains(a.body, "2026-01-31") {
		t.Errorf("bad since = %d", a.code)
	}
}
