package dashboard_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// seedHistory gives the test environment a month of business: subscriptions
// created (and some canceled) day by day, payments and refunds every day;
// the overview's rollups are then rebuilt by migration 0012's backfill, so
// that MRR has a history too.
func seedHistory(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.Pool().Exec(ctx, `
		INSERT INTO payments.subscriptions (env, id, customer_id, status, currency, livemode, created, canceled_at, ended_at, data, source_at)
		SELECT 'test', 'sub_Hist' || i, 'cus_DashJenny', CASE WHEN i % 9 = 0 THEN 'canceled' WHEN i % 7 = 0 THEN 'trialing' ELSE 'active' END, 'usd', false,
			now() - (i % 30) * interval '1 day' - interval '1 hour',
			CASE WHEN i % 9 = 0 THEN now() - (i % 5) * interval '1 day' END, CASE WHEN i % 9 = 0 THEN now() - (i % 5) * interval '1 day' END, '{}', now()
		FROM generate_series(1, 90) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `
		INSERT INTO payments.subscription_items (env, id, subscription_id, price_id, quantity)
		SELECT 'test', 'si_Hist' || i, 'sub_Hist' || i, CASE WHEN i % 3 = 0 THEN 'price_DashOldMonthly' ELSE 'price_DashProMonthly' END, 1 + i % 2
		FROM generate_series(1, 90) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `
		INSERT INTO payments.payment_history (env, key, kind, status, amount, currency, failure_code, failures, occurred_at, source_at)
		SELECT 'test', CASE WHEN i % 11 = 0 THEN 're_Hist' ELSE 'pi_Hist' END || i, CASE WHEN i % 11 = 0 THEN 'refund' ELSE 'payment' END,
			CASE WHEN i % 13 = 0 THEN 'failed' ELSE 'succeeded' END, 2000 + (i % 4) * 900, 'usd',
			CASE WHEN i % 13 = 0 THEN (ARRAY['card_declined', 'insufficient_funds', 'expired_card'])[1 + i % 3] END, (i % 13 = 0)::int,
			now() - (i % 30) * interval '1 day' - (i % 5) * interval '1 hour', now()
		FROM generate_series(1, 150) i`); err != nil {
		t.Fatal(err)
	}
	// A day of deliveries from two replicas, busier in the afternoon.
	var mins []store.WebhookMinute
	now := time.Now().UTC().Truncate(time.Minute)
	for i := 1; i < 24*60; i++ {
		lat := make([]int64, len(store.LatencyBoundsMs)+1)
		lat[2], lat[3], lat[5+i%3] = int64(5+i%7), int64(2+i%4), int64(i%2)
		mins = append(mins, store.WebhookMinute{Env: vocab.Test, Minute: now.Add(-time.Duration(i) * time.Minute),
			Accepted: int64(8 + (i/60)%6*3 + i%5), Duplicate: int64(i % 3), Refused: int64(i % 17 / 16), Failed: int64(i % 97 / 96), Latency: lat})
	}
	for _, replica := range []string{"a", "b"} {
		if err := st.AddWebhookMinutes(ctx, replica, mins); err != nil {
			t.Fatal(err)
		}
	}
	var src string
	for _, m := range store.MigrationFiles() {
		if strings.HasPrefix(string(m), "-- Issue 15: the dashboard overview") {
			src = string(m)
		}
	}
	_, backfill, _ := strings.Cut(src, "-- Backfill, set-based.")
	backfill, _, _ = strings.Cut(backfill, "\n-- == ") // the next section
	if _, err := st.Pool().Exec(ctx, `TRUNCATE payments.subscription_mrr, payments.overview_mrr_daily, payments.overview_revenue_daily,
		payments.overview_subscriptions_daily, payments.overview_subscription_statuses`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, "--"+backfill); err != nil {
		t.Fatal(err)
	}
}

// The overview in a real browser, in both environments, at a desktop and a
// phone width: the figures show, the page runs no script, and on a phone the
// cards stand in one column. Screenshots are saved as artifacts.
func TestBrowserOverview(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	w := newWorld(t, stripetest.FakeOptions{})
	seedHistory(t, w.st)
	dir := artifactsDir(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()
	must := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	base := w.srv.URL
	must("sign in", chromedp.Navigate(base+"/dashboard/login"), chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#password"), password), chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#utc")))
	for _, vp := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		for _, env := range []string{"test", "live"} {
			must(env+" "+vp.name, chromedp.EmulateViewport(vp.w, vp.h), chromedp.Navigate(base+"/dashboard/"+env+"/"),
				chromedp.WaitVisible(chromedp.CSS("#payments-card")))
			got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{"test": {"MRR (usd)", "Net revenue (usd)", "UTC", "failed in the last 7 days", "Webhook pipeline"},
				"live": {"Net revenue (usd)", "49.00 USD", "UTC"}}[env]
			for _, s := range want {
				if !strings.Contains(got, s) {
					t.Errorf("%s %s: the page does not show %q", env, vp.name, s)
				}
			}
			scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length`))
			if err != nil || scripts != 0 {
				t.Errorf("%s %s: %d scripts (%v)", env, vp.name, scripts, err)
			}
			// Cards side by side at 1280 px, one column on a phone.
			cols, err := chromedp.Run(ctx, chromedp.Evaluate[int](
				`new Set([...document.querySelectorAll(".overview > .card")].map(c => c.getBoundingClientRect().left)).size`))
			if err != nil {
				t.Fatal(err)
			}
			if wantCols := map[string]int{"desktop": 2, "phone": 1}[vp.name]; cols != wantCols {
				t.Errorf("%s %s: %d columns, want %d", env, vp.name, cols, wantCols)
			}
			if env == "live" {
				banner, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".live-banner")))
				if err != nil || !strings.Contains(banner, "LIVE MODE") {
					t.Errorf("live %s: banner %q (%v)", vp.name, banner, err)
				}
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "overview-"+env+"-"+vp.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
