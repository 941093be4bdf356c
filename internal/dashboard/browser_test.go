package dashboard_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/billwire/billwire/internal/stripetest"
)

// chromium finds the browser; in CI (CI set) its absence fails the test,
// elsewhere it skips it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the browser test needs chromium and CI is set: install it (`apt-get install -y chromium`; .ci/run does)")
	}
	t.Skip("skipping the browser test: chromium is not installed and CI is not set (in CI it runs; install chromium to run it here)")
	return ""
}

// artifactsDir is where screenshots go: $ARTIFACTS_DIR/dashboard, else the
// repository's gitignored testdata/artifacts/dashboard.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "artifacts", "dashboard")
	if a := os.Getenv("ARTIFACTS_DIR"); a != "" {
		dir = filepath.Join(a, "dashboard")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// The dashboard in a real headless browser: sign in, open every page of
// both environments, search and filter, replay a parked event; screenshots
// of each step are saved as artifacts.
func TestBrowser(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	w := newWorld(t, stripetest.FakeOptions{})
	dir := artifactsDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1366, 900),
		chromedp.UserDataDir(t.TempDir()))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	shots := 0
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		shots++
	}
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	// follow runs actions that load a page (a form submit, a click on a
	// link), waits until that page has loaded, and checks its status. A wait
	// for an element alone could match the page the actions left.
	follow := func(step string, status int, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, actions...)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if int(resp.Status) != status {
			t.Fatalf("%s: the page loaded with status %d, want %d", step, resp.Status, status)
		}
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	text := func(step, sel string, want []string, not ...string) {
		t.Helper()
		run(step, chromedp.WaitVisible(css(sel)))
		got, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("%s: text of %s: %v", step, sel, err)
		}
		for _, s := range want {
			if !strings.Contains(got, s) {
				t.Errorf("%s: %s does not show %q:\n%s", step, sel, s, got)
			}
		}
		for _, s := range not {
			if strings.Contains(got, s) {
				t.Errorf("%s: %s shows %q", step, sel, s)
			}
		}
	}
	location := func() string {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(loc, w.srv.URL)
	}
	base := w.srv.URL

	// No session: the login page, which brings us back where we were going.
	run("open customers", chromedp.Navigate(base+"/dashboard/test/customers"), chromedp.WaitVisible(css("#password")))
	shot("01-login")
	if loc := location(); !strings.HasPrefix(loc, "/dashboard/login?next=") {
		t.Fatalf("without a session the browser is at %s", loc)
	}
	run("wrong password", chromedp.SendKeys(css("#password"), "not the password"))
	follow("wrong password", 401, chromedp.Click(css("#sign-in")))
	text("wrong password", "#login-error", []string{"Wrong password."})
	run("sign in", chromedp.SendKeys(css("#password"), password))
	follow("sign in", 200, chromedp.Click(css("#sign-in")))
	if loc := location(); loc != "/dashboard/test/customers" {
		t.Fatalf("after sign-in the browser is at %s", loc)
	}
	// The script-like name is text on the page, not a script.
	text("customers", "#customers", []string{"Jenny Rosen", "user:u_jenny", "team:t_acme", evilName})
	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length`))
	shot("02-customers")
	if err != nil || scripts != 0 {
		t.Errorf("the customers page has %d script elements (%v)", scripts, err)
	}

	// A payment that named an order without paying for it, as the v2
	// scaffold records it: the payments page lists it above the payments.
	if _, err := w.st.Pool().Exec(context.Background(), `INSERT INTO payments.fulfillment_mismatches (env, payment_key, order_id, reason, detail)
		VALUES ('test', 'cs_test_DashCheap', 'o_500', 'underpaid', '{"order_amount": 50000, "order_currency": "usd", "order_owner": "u_123",
			"amount_subtotal": 100, "currency": "usd", "subject_type": "user", "subject_id": "u_123", "payment_intent_id": "pi_DashCheap"}')`); err != nil {
		t.Fatal(err)
	}
	// Every page of the test environment shows its seeded rows.
	for _, p := range []struct {
		page, sel string
		want      []string
	}{
		{"catalog", "#catalog", []string{"Pro", "20.00 USD / month", "pro_monthly", "Legacy Pro"}},
		{"subscriptions", "#subscriptions", []string{"sub_DashJenny", "past_due", "Pro · 20.00 USD / month"}},
		{"payments", "#payments", []string{"pi_DashPaid", "refunded 5.00 USD", "Your card has insufficient funds.", "re_DashRefund", "dp_DashDispute", "Respond in Stripe"}},
		{"payments", "#mismatches", []string{"cs_test_DashCheap", "o_500", "underpaid", "1.00 USD", "500.00 USD"}},
		{"payments", "#payment-invoices", []string{"DASH-0001", "DASH-0002", "team:t_acme", "Invoice ↗", "PDF ↗"}},
		{"webhooks", "#events", []string{"evt_DashPaid", parkedID, "deadlock detected (simulated)", "Replay"}},
		{"settings", "#stripe-key", []string{"sk_test_…4242", "acct_DashTest"}},
	} {
		run(p.page, chromedp.Navigate(base+"/dashboard/test/"+p.page), chromedp.WaitVisible(css(p.sel)))
		text(p.page, p.sel, p.want)
		shot("03-test-" + p.page)
	}

	// A customer's page, from its link in the list: its invoices with their receipts.
	run("customers list", chromedp.Navigate(base+"/dashboard/test/customers"), chromedp.WaitVisible(css(`a[href="/dashboard/test/customers/cus_DashJenny"]`)))
	follow("customer page", 200, chromedp.Click(css(`a[href="/dashboard/test/customers/cus_DashJenny"]`)))
	text("customer page", "#invoices", []string{"DASH-0001", "paid", "20.00 USD", "Invoice ↗", "PDF ↗"}, "DASH-0002")
	shot("03-test-customer-invoices")

	// Search and filters.
	run("search", chromedp.Navigate(base+"/dashboard/test/customers"), chromedp.WaitVisible(css("#q")),
		chromedp.SendKeys(css("#q"), "acme"))
	follow("search", 200, chromedp.Submit(css("#q")))
	if loc := location(); !strings.Contains(loc, "q=acme") {
		t.Errorf("search went to %s", loc)
	}
	text("search", "#customers", []string{"Acme Inc", "team:t_acme"}, "Jenny Rosen")
	shot("04-search-customers")
	run("filter", chromedp.Navigate(base+"/dashboard/test/payments"), chromedp.WaitVisible(css("#status")),
		chromedp.SetValue(css("#status"), "failed"))
	follow("filter", 200, chromedp.Submit(css("#status")))
	if loc := location(); !strings.Contains(loc, "status=failed") {
		t.Errorf("filter went to %s", loc)
	}
	text("filter", "#payments", []string{"pi_DashFailed", "card_declined"}, "pi_DashPaid")
	shot("05-filter-payments-failed")

	// The environment switch goes to the same page in live, marked as such.
	run("switch env", chromedp.Navigate(base+"/dashboard/test/payments"), chromedp.WaitVisible(css("#env-live")))
	follow("switch env", 200, chromedp.Click(css("#env-live")))
	if loc := location(); loc != "/dashboard/live/payments" {
		t.Errorf("live switch went to %s", loc)
	}
	text("live", ".live-banner", []string{"LIVE MODE"})
	text("live", "#payments", []string{"pi_LivePaid", "49.00 USD"}, "pi_DashPaid")
	shot("06-live-payments")
	for _, p := range []struct{ page, sel, want string }{
		{"catalog", "#catalog", "Live Pro"}, {"customers", "#customers", "Paying Customer"}, {"settings", "#stripe-key", "No key."},
	} {
		run(p.page, chromedp.Navigate(base+"/dashboard/live/"+p.page), chromedp.WaitVisible(css(p.sel)))
		text("live "+p.page, p.sel, []string{p.want})
		shot("07-live-" + p.page)
	}
	follow("switch back", 200, chromedp.Click(css("#env-test")))
	if loc := location(); loc != "/dashboard/test/settings" {
		t.Errorf("test switch went to %s", loc)
	}

	// Replay the parked event with its button.
	run("replay", chromedp.Navigate(base+"/dashboard/test/webhooks?status=parked"), chromedp.WaitVisible(css("#replay-"+parkedID)))
	shot("08-webhooks-parked")
	follow("replay", 200, chromedp.Click(css("#replay-"+parkedID)))
	text("replay", "#flash", []string{"Replayed " + parkedID + ": it was parked and is now processed."})
	shot("09-replayed")
	run("events", chromedp.Navigate(base+"/dashboard/test/webhooks?q="+parkedID), chromedp.WaitVisible(css("#events")))
	text("replayed event", "#events", []string{parkedID, "processed"}, "parked")
	if gone, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("replay-`+parkedID+`") === null`)); err != nil || !gone {
		t.Errorf("the replay button is still there (%v)", err)
	}
	text("health after the replay", "#health", []string{"Parked"}, "1 parked")
	var status string
	w.st.Pool().QueryRow(context.Background(), `SELECT status FROM payments.webhook_events WHERE id = $1`, parkedID).Scan(&status)
	if status != "processed" {
		t.Errorf("after the replay the event is %s", status)
	}
	t.Logf("%d screenshots in %s", shots, dir)
}
