package dashboard_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/dashboard"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// Sizes of the benchmark's test environment; live gets a hundredth, so
// that every list also filters out the other environment's rows.
const (
	benchSubscriptions = 50_000
	benchPayments      = 200_000
	benchEvents        = 200_000
)

// seedBig fills env with n subscriptions (each with its customer, subject
// mapping and item), p payment history rows (one in 13 failed, refunds and
// disputes among them) and e webhook events (one in 5,000 parked).
func seedBig(tb testing.TB, st *store.Store, env vocab.Env, n, p, e int) {
	tb.Helper()
	pre := map[vocab.Env]string{vocab.Test: "B", vocab.Live: "L"}[env]
	sql := fmt.Sprintf(`
		INSERT INTO payments.products (env, id, name, active, livemode, created, data, source_at)
		SELECT '%[1]s', 'prod_%[2]s' || lpad(i::text, 6, '0'), 'Plan ' || i, i %% 5 <> 0, false, now() - i * interval '1 day', '{}', now()
		FROM generate_series(1, 20) i;
		INSERT INTO payments.prices (env, id, product_id, active, currency, unit_amount, type, recurring_interval, recurring_interval_count, lookup_key, livemode, created, data, source_at)
		SELECT '%[1]s', 'price_%[2]s' || lpad(i::text, 6, '0'), 'prod_%[2]s' || lpad((1 + i %% 20)::text, 6, '0'), true, 'usd', 500 * i, 'recurring', 'month', 1, 'plan_' || i, false, now(), '{}', now()
		FROM generate_series(1, 40) i;
		INSERT INTO payments.customers (env, id, email, name, livemode, created, data, source_at)
		SELECT '%[1]s', 'cus_%[2]s' || lpad(i::text, 8, '0'), 'user' || i || '@example.com', 'Customer ' || i, false, now() - i * interval '1 minute', '{}', now()
		FROM generate_series(1, %[3]d) i;
		INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id, confirmed)
		SELECT '%[1]s', 'user', 'u_' || i, 'cus_%[2]s' || lpad(i::text, 8, '0'), true FROM generate_series(1, %[3]d) i;
		INSERT INTO payments.subscriptions (env, id, customer_id, status, currency, current_period_start, current_period_end, livemode, created, data, source_at, subject_type, subject_id)
		SELECT '%[1]s', 'sub_%[2]s' || lpad(i::text, 8, '0'), 'cus_%[2]s' || lpad(i::text, 8, '0'),
			(ARRAY['active','active','active','trialing','past_due','canceled','incomplete'])[1 + i %% 7], 'usd',
			now() - interval '10 days', now() + (i %% 30) * interval '1 day', false, now() - i * interval '1 minute', '{}', now(), 'user', 'u_' || i
		FROM generate_series(1, %[3]d) i;
		INSERT INTO payments.subscription_items (env, id, subscription_id, price_id, quantity)
		SELECT '%[1]s', 'si_%[2]s' || lpad(i::text, 8, '0'), 'sub_%[2]s' || lpad(i::text, 8, '0'), 'price_%[2]s' || lpad((1 + i %% 40)::text, 6, '0'), 1
		FROM generate_series(1, %[3]d) i;
		INSERT INTO payments.payment_history (env, key, kind, status, amount, amount_refunded, currency, customer_id, subject_type, subject_id,
			invoice_id, subscription_id, payment_intent_id, charge_id, failure_code, failure_message, failures, occurred_at, source_at)
		SELECT '%[1]s', CASE WHEN i %% 50 = 0 THEN 're_%[2]s' WHEN i %% 97 = 0 THEN 'dp_%[2]s' ELSE 'pi_%[2]s' END || lpad(i::text, 9, '0'),
			CASE WHEN i %% 50 = 0 THEN 'refund' WHEN i %% 97 = 0 THEN 'dispute' ELSE 'payment' END,
			CASE WHEN i %% 50 = 0 THEN 'succeeded' WHEN i %% 97 = 0 THEN 'needs_response' WHEN i %% 13 = 0 THEN 'failed' ELSE 'succeeded' END,
			2000, 0, 'usd', 'cus_%[2]s' || lpad((1 + i %% %[3]d)::text, 8, '0'), 'user', 'u_' || (1 + i %% %[3]d),
			'in_%[2]s' || lpad(i::text, 9, '0'), 'sub_%[2]s' || lpad((1 + i %% %[3]d)::text, 8, '0'), 'pi_%[2]s' || lpad(i::text, 9, '0'),
			'ch_%[2]s' || lpad(i::text, 9, '0'),
			CASE WHEN i %% 13 = 0 THEN 'card_declined' END, CASE WHEN i %% 13 = 0 THEN 'Your card was declined.' END, (i %% 13 = 0)::int,
			now() - i * interval '1 minute', now()
		FROM generate_series(1, %[4]d) i;
		INSERT INTO payments.webhook_events (env, id, type, created, object_id, status, attempts, last_error, received_at, processed_at, payload)
		SELECT '%[1]s', 'evt_%[2]s' || lpad(i::text, 9, '0'), (ARRAY['invoice.paid','customer.subscription.updated','payment_intent.succeeded'])[1 + i %% 3],
			now() - i * interval '30 seconds', 'sub_%[2]s' || lpad((1 + i %% %[3]d)::text, 8, '0'),
			CASE WHEN i %% 5000 = 0 THEN 'parked' ELSE 'processed' END, 1, CASE WHEN i %% 5000 = 0 THEN 'projection failed' END,
			now() - i * interval '30 seconds', now() - i * interval '30 seconds', '{}'
		FROM generate_series(1, %[5]d) i;`, env, pre, n, p, e)
	if _, err := st.Pool().Exec(context.Background(), sql); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkDashboard measures each page as the server spends it (session
// check, queries, rendering), first page and a search or filter, over 50,000
// subscriptions and 200,000 payments and events, and reports p50 and p95.
//
//	go test -run '^$' -bench Dashboard -benchtime 200x ./internal/dashboard/
func BenchmarkDashboard(b *testing.B) {
	st := storetest.New(b)
	ctx := context.Background()
	start := time.Now()
	seedBig(b, st, vocab.Test, benchSubscriptions, benchPayments, benchEvents)
	seedBig(b, st, vocab.Live, benchSubscriptions/100, benchPayments/100, benchEvents/100)
	if _, err := st.Pool().Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	key := "sk_test_51DashboardBenchKey00000000004242"
	if err := st.PutEnvironment(ctx, vocab.Test, key, "secret", "acct_Bench", "Bench", secrets.Mask(key), false); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded in %v", time.Since(start).Round(time.Second))
	svc := billing.New(billing.Static(st), stripeapi.Options{}, zerolog.Nop())
	d := dashboard.New(svc, zerolog.Nop(), dashboard.Options{})
	defer d.Close()
	token := "bench-session-token-0123456789abcdefghijklmnop"
	if err := st.CreateSession(ctx, tokenHashForBench(token), "csrf", time.Hour); err != nil {
		b.Fatal(err)
	}
	// Searches vary with the iteration, so no two in a row ask the same.
	user := func(i int) int { return 1 + (i*7919)%benchSubscriptions }
	for _, c := range []struct {
		name string
		path func(i int) string
	}{
		{"overview", func(int) string { return "/dashboard/test/" }},
		{"catalog/first", func(int) string { return "/dashboard/test/catalog" }},
		{"catalog/search", func(i int) string { return fmt.Sprintf("/dashboard/test/catalog?q=plan+%d", 1+i%20) }},
		{"customers/first", func(int) string { return "/dashboard/test/customers" }},
		{"customers/search-email", func(i int) string { return fmt.Sprintf("/dashboard/test/customers?q=user%d%%40", user(i)) }},
		{"customers/search-subject", func(i int) string { return fmt.Sprintf("/dashboard/test/customers?q=u_%d", user(i)) }},
		{"customers/page-200", func(int) string { return "/dashboard/test/customers?page=200" }},
		{"subscriptions/first", func(int) string { return "/dashboard/test/subscriptions" }},
		{"subscriptions/search-email", func(i int) string {
			return fmt.Sprintf("/dashboard/test/subscriptions?q=user%d%%40example.com", user(i))
		}},
		{"subscriptions/filter-status", func(int) string { return "/dashboard/test/subscriptions?status=past_due" }},
		{"subscriptions/page-200", func(int) string { return "/dashboard/test/subscriptions?page=200" }},
		{"payments/first", func(int) string { return "/dashboard/test/payments" }},
		{"payments/search-subscription", func(i int) string { return fmt.Sprintf("/dashboard/test/payments?q=sub_B%08d", user(i)) }},
		{"payments/search-invoice", func(i int) string {
			return fmt.Sprintf("/dashboard/test/payments?q=in_B%09d", 1+(i*104729)%benchPayments)
		}},
		{"payments/search-email", func(i int) string { return fmt.Sprintf("/dashboard/test/payments?q=user%d%%40", user(i)) }},
		{"payments/filter-status", func(int) string { return "/dashboard/test/payments?status=failed" }},
		{"payments/filter-rare-status", func(int) string { return "/dashboard/test/payments?status=lost" }},
		{"payments/filter-subject", func(i int) string { return fmt.Sprintf("/dashboard/test/payments?subject=user%%3Au_%d", user(i)) }},
		{"payments/page-200", func(int) string { return "/dashboard/test/payments?page=200" }},
		{"webhooks/first", func(int) string { return "/dashboard/test/webhooks" }},
		{"webhooks/search-event", func(i int) string {
			return fmt.Sprintf("/dashboard/test/webhooks?q=evt_B%09d", 1+(i*104729)%benchEvents)
		}},
		{"webhooks/search-object", func(i int) string { return fmt.Sprintf("/dashboard/test/webhooks?q=sub_B%08d", user(i)) }},
		{"webhooks/filter-parked", func(int) string { return "/dashboard/test/webhooks?status=parked" }},
		{"settings", func(int) string { return "/dashboard/test/settings" }},
		{"payments/since-failed", func(int) string {
			return "/dashboard/test/payments?status=failed&since=" + time.Now().UTC().AddDate(0, 0, -7).Format("2006-01-02")
		}},
		{"live/overview", func(int) string { return "/dashboard/live/" }},
		{"live/subscriptions-first", func(int) string { return "/dashboard/live/subscriptions" }},
		{"live/payments-first", func(int) string { return "/dashboard/live/payments" }},
		{"live/webhooks-first", func(int) string { return "/dashboard/live/webhooks" }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var took []time.Duration
			i := 0
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, c.path(i), nil)
				r.AddCookie(&http.Cookie{Name: dashboard.CookieName, Value: token})
				w := httptest.NewRecorder()
				t0 := time.Now()
				d.ServeHTTP(w, r)
				took = append(took, time.Since(t0))
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s = %d\n%s", c.path(i), w.Code, w.Body.String())
				}
				i++
			}
			slices.Sort(took)
			ms := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))].Microseconds()) / 1000 }
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.95), "p95-ms")
		})
	}
}

// tokenHashForBench is how the dashboard stores a session token: its SHA-256.
func tokenHashForBench(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
