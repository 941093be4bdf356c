package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/vocab"
)

// overviewPrices are list prices of every shape MRR normalises: a month of
// each is written in the comment.
var overviewPrices = []string{
	`{"id":"price_M","currency":"usd","unit_amount":1000,"recurring":{"interval":"month","interval_count":1}}`,        // 1000
	`{"id":"price_Q","currency":"usd","unit_amount":3000,"recurring":{"interval":"month","interval_count":3}}`,        // 1000
	`{"id":"price_Y","currency":"usd","unit_amount":12000,"recurring":{"interval":"year","interval_count":1}}`,        // 1000
	`{"id":"price_W2","currency":"usd","unit_amount":2400,"recurring":{"interval":"week","interval_count":2}}`,        // 2400*52/24 = 5200
	`{"id":"price_EUR","currency":"eur","unit_amount":500,"recurring":{"interval":"month","interval_count":1}}`,       // 500
	`{"id":"price_Meter","currency":"usd","unit_amount":100,"recurring":{"interval":"month","usage_type":"metered"}}`, // excluded
}

func overviewSeed(t *testing.T, st *store.Store, env vocab.Env, now time.Time) {
	t.Helper()
	ctx := context.Background()
	live := env == vocab.Live
	must := func(_ int, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	raw := func(ss ...string) []json.RawMessage {
		var out []json.RawMessage
		for _, s := range ss {
			out = append(out, json.RawMessage(s))
		}
		return out
	}
	must(st.Upsert(ctx, env, vocab.Products, raw(fmt.Sprintf(`{"id":"prod_O","name":"O","active":true,"created":1719914400,"livemode":%t}`, live)), now))
	var prices []string
	for _, p := range overviewPrices {
		prices = append(prices, p[:len(p)-1]+fmt.Sprintf(`,"object":"price","product":"prod_O","active":true,"type":"recurring","created":1719914400,"livemode":%t}`, live))
	}
	must(st.Upsert(ctx, env, vocab.Prices, raw(prices...), now))
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	ts := func(d time.Time) string { return fmt.Sprint(d.Unix()) }
	sub := func(id, status string, created time.Time, extra string, items ...string) string {
		var its []string
		for i, it := range items {
			var price string
			var qty int
			fmt.Sscanf(it, "%s %d", &price, &qty)
			its = append(its, fmt.Sprintf(`{"id":"si_%s_%d","price":{"id":%q},"quantity":%d}`, id, i, price, qty))
		}
		itemsJSON := "[" + strings.Join(its, ",") + "]"
		return fmt.Sprintf(`{"id":%q,"object":"subscription","customer":"cus_O","status":%q,"currency":"usd","created":%s,"livemode":%t%s,"items":{"data":%s}}`,
			id, status, ts(created), live, extra, itemsJSON)
	}
	must(st.Upsert(ctx, env, vocab.Subscriptions, raw(
		sub("sub_A", "active", today.AddDate(0, 0, -2), "", "price_M 2", "price_Meter 1"),        // 2000
		sub("sub_B", "past_due", today.AddDate(0, 0, -2), "", "price_Q 1", "price_Y 3"),          // 4000
		sub("sub_C", "active", today.AddDate(0, 0, -40), "", "price_W2 1"),                       // 5200
		sub("sub_D", "trialing", today, `,"trial_end":`+ts(now.Add(72*time.Hour)), "price_M 1"),  // trialing 1000, ends in 3 days
		sub("sub_E", "trialing", today, `,"trial_end":`+ts(now.Add(240*time.Hour)), "price_M 1"), // trialing 1000
		// canceled exactly at midnight UTC five days ago: that day, not the one before
		sub("sub_F", "canceled", today.AddDate(0, 0, -10), `,"canceled_at":`+ts(today.AddDate(0, 0, -5))+`,"ended_at":`+ts(today.AddDate(0, 0, -5)), "price_M 5"),
		// canceled a second before midnight six days ago, ends at its period's end
		sub("sub_G", "active", today.AddDate(0, 0, -10), `,"cancel_at_period_end":true,"canceled_at":`+ts(today.AddDate(0, 0, -5).Add(-time.Second)), "price_M 1"), // 1000
		sub("sub_H", "active", today.AddDate(0, 0, -1), "", "price_EUR 3"),                                                                                         // eur 1500
		sub("sub_I", "incomplete", today, "", "price_M 1"),
	), now))
	day := func(n int, h int) time.Time { return today.AddDate(0, 0, n).Add(time.Duration(h) * time.Hour) }
	_, err := st.Pool().Exec(ctx, `
		INSERT INTO payments.payment_history (env, key, kind, status, amount, currency, payment_intent_id, failure_code, failures, occurred_at, source_at) VALUES
		($1, 'pi_Paid', 'payment', 'succeeded', 5000, 'usd', 'pi_Paid', NULL, 0, $2, now()),
		($1, 'pi_Paid2', 'payment', 'succeeded', 700, 'usd', 'pi_Paid2', NULL, 0, $3, now()),
		($1, 'pi_Eur', 'payment', 'succeeded', 900, 'eur', 'pi_Eur', NULL, 0, $3, now()),
		($1, 'pi_Fail1', 'payment', 'failed', 100, 'usd', 'pi_Fail1', 'card_declined', 1, $3, now()),
		($1, 'pi_Fail2', 'payment', 'failed', 100, 'usd', 'pi_Fail2', 'card_declined', 1, $4, now()),
		($1, 'pi_Fail3', 'payment', 'failed', 100, 'usd', 'pi_Fail3', 'expired_card', 1, $4, now()),
		($1, 'pi_FailOld', 'payment', 'failed', 100, 'usd', 'pi_FailOld', 'card_declined', 1, $5, now()),
		($1, 'dp_Open', 'dispute', 'needs_response', 5000, 'usd', 'pi_Paid', NULL, 0, $3, now()),
		($1, 'dp_Won', 'dispute', 'won', 5000, 'usd', 'pi_Paid', NULL, 0, $3, now())`,
		env, day(-3, 12), day(0, 0), day(-1, 23), day(-8, 0))
	if err != nil {
		t.Fatal(err)
	}
	// The refund comes two days after its payment, which turns partially refunded.
	if _, err := st.Pool().Exec(ctx, `
		INSERT INTO payments.payment_history (env, key, kind, status, amount, currency, payment_intent_id, occurred_at, source_at)
		VALUES ($1, 're_Part', 'refund', 'succeeded', 2000, 'usd', 'pi_Paid', $2, now())`, env, day(-1, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.payment_history SET status = 'partially_refunded', amount_refunded = 2000
		WHERE key = 'pi_Paid' AND env = $1`, env); err != nil {
		t.Fatal(err)
	}
	// The triggers only mark MRR dirty; tests read the rollups directly.
	must(st.FoldMRR(ctx))
}

func TestOverviewFigures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	now := time.Now().UTC()
	overviewSeed(t, st, vocab.Test, now)
	// The live environment has its own figures: one more subscription there
	// changes nothing here.
	overviewSeed(t, st, vocab.Live, now)
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.subscription_items SET quantity = 10 WHERE env = 'live' AND id = 'si_sub_A_0'`); err != nil {
		t.Fatal(err)
	}

	o, err := st.Overview(ctx, vocab.Test, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.MRR) != 2 || o.MRR[0].Currency != "eur" || o.MRR[1].Currency != "usd" {
		t.Fatalf("MRR currencies = %+v", o.MRR)
	}
	if eur, usd := o.MRR[0], o.MRR[1]; eur.Active != 1500 || eur.Trialing != 0 || usd.Active != 2000+4000+5200+1000 || usd.Trialing != 2000 {
		t.Errorf("MRR: eur %d/%d, usd %d/%d; want eur 1500/0, usd 12200/2000", eur.Active, eur.Trialing, usd.Active, usd.Trialing)
	}
	if len(o.MRR[1].Days) != store.OverviewDays || !o.MRR[1].Days[store.OverviewDays-1].Day.Equal(o.Today) {
		t.Errorf("MRR days end %v, want %v", o.MRR[1].Days[len(o.MRR[1].Days)-1].Day, o.Today)
	}
	sums, err := st.MRRNow(ctx, vocab.Test)
	if err != nil {
		t.Fatal(err)
	}
	if sums["usd"] != [2]int64{12200, 2000} || sums["eur"] != [2]int64{1500, 0} {
		t.Errorf("subscription MRR sums = %v", sums)
	}

	rev := map[string]store.CurrencyRevenue{}
	for _, r := range o.Revenue {
		rev[r.Currency] = r
	}
	usd := rev["usd"]
	at := func(n int) store.RevenueDay { return usd.Days[store.OverviewDays-1+n] }
	if at(-3).Paid != 5000 || at(-3).Refunded != 0 || at(-1).Paid != 0 || at(-1).Refunded != 2000 || at(-1).Net != -2000 || at(0).Paid != 700 {
		t.Errorf("usd revenue days: -3 %+v, -1 %+v, 0 %+v", at(-3), at(-1), at(0))
	}
	if usd.Paid != 5700 || usd.Refunded != 2000 || usd.Net != 3700 || usd.Payments != 2 || usd.Refunds != 1 {
		t.Errorf("usd revenue totals = %+v", usd)
	}
	if rev["eur"].Net != 900 {
		t.Errorf("eur revenue = %+v", rev["eur"])
	}

	sd := func(n int) store.SubscriptionDay { return o.Subscriptions[store.OverviewDays-1+n] }
	if sd(0).Created != 3 || sd(-2).Created != 2 || sd(-10).Created != 2 || sd(-1).Created != 1 {
		t.Errorf("new subscriptions: today %d, -1 %d, -2 %d, -10 %d", sd(0).Created, sd(-1).Created, sd(-2).Created, sd(-10).Created)
	}
	if sd(-5).Canceled != 1 || sd(-5).Ended != 1 || sd(-6).Canceled != 1 || sd(-6).Ended != 0 {
		t.Errorf("canceled/ended: -5 %+v, -6 %+v", sd(-5), sd(-6))
	}
	want := map[string]int64{"active": 4, "past_due": 1, "trialing": 2, "canceled": 1, "incomplete": 1}
	if len(o.Statuses) != len(want) {
		t.Errorf("statuses = %+v", o.Statuses)
	}
	for _, s := range o.Statuses {
		if want[s.Name] != s.N {
			t.Errorf("status %s = %d, want %d", s.Name, s.N, want[s.Name])
		}
	}
	if o.TrialsEnding != 1 {
		t.Errorf("trials ending = %d, want 1", o.TrialsEnding)
	}
	if o.FailedPayments != 3 || len(o.FailureReasons) != 2 || o.FailureReasons[0] != (store.StatusCount{Name: "card_declined", N: 2}) {
		t.Errorf("failed = %d, reasons %+v", o.FailedPayments, o.FailureReasons)
	}
	if o.OpenDisputes != 1 {
		t.Errorf("open disputes = %d, want 1", o.OpenDisputes)
	}
}

// A subscription that changes books the change of MRR on today's row; the
// days before keep what they were.
func TestOverviewMRRFollowsChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	now := time.Now().UTC()
	overviewSeed(t, st, vocab.Test, now)
	// Yesterday's MRR as if the rows above had been there since: move
	// today's change to the day before.
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.overview_mrr_daily SET day = day - 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Upsert(ctx, vocab.Test, vocab.Subscriptions, []json.RawMessage{json.RawMessage(
		`{"id":"sub_C","object":"subscription","customer":"cus_O","status":"canceled","currency":"usd","created":1719914400,"ended_at":1719914400,"livemode":false,"items":{"data":[{"id":"si_sub_C_0","price":{"id":"price_W2"},"quantity":1}]}}`,
	)}, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.subscription_items SET quantity = 4 WHERE id = 'si_sub_A_0' AND env = 'test'`); err != nil {
		t.Fatal(err)
	}
	o, err := st.Overview(ctx, vocab.Test, now)
	if err != nil {
		t.Fatal(err)
	}
	days := o.MRR[1].Days
	if y, d := days[store.OverviewDays-2], days[store.OverviewDays-1]; y.Active != 12200 || d.Active != 12200-5200+2000 || d.Trialing != 2000 {
		t.Errorf("usd MRR yesterday %+v, today %+v", y, d)
	}
}

// The migration's backfill rebuilds, from the rows alone, what the
// triggers kept: the same counts, money and MRR now (MRR history is
// rebuilt from creation and end dates, so only its total is compared).
func TestOverviewBackfillMatchesTriggers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	now := time.Now().UTC()
	overviewSeed(t, st, vocab.Test, now)
	overviewSeed(t, st, vocab.Live, now)
	snapshot := func() string {
		var s string
		if err := st.Pool().QueryRow(ctx, `SELECT concat_ws(' | ',
			(SELECT string_agg(concat_ws(',', env, day, c, x, e), ';' ORDER BY env, day) FROM (SELECT env, day, sum(created) c, sum(canceled) x, sum(ended) e
				FROM payments.overview_subscriptions_daily GROUP BY 1, 2 HAVING sum(created) <> 0 OR sum(canceled) <> 0 OR sum(ended) <> 0) d),
			(SELECT string_agg(concat_ws(',', env, status, n), ';' ORDER BY env, status) FROM (SELECT env, status, sum(n) n
				FROM payments.overview_subscription_statuses GROUP BY 1, 2 HAVING sum(n) <> 0) d),
			(SELECT string_agg(concat_ws(',', env, day, currency, p, r, np, nr), ';' ORDER BY env, day, currency) FROM (SELECT env, day, currency,
				sum(paid) p, sum(refunded) r, sum(payments) np, sum(refunds) nr FROM payments.overview_revenue_daily GROUP BY 1, 2, 3
				HAVING sum(paid) <> 0 OR sum(refunded) <> 0 OR sum(payments) <> 0 OR sum(refunds) <> 0) d),
			(SELECT string_agg(concat_ws(',', env, subscription_id, currency, trialing, round(mrr, 6)), ';' ORDER BY env, subscription_id, currency) FROM payments.subscription_mrr),
			(SELECT string_agg(concat_ws(',', env, currency, round(a, 6), round(tr, 6)), ';' ORDER BY env, currency)
			 FROM (SELECT env, currency, sum(active) a, sum(trialing) tr FROM payments.overview_mrr_daily GROUP BY 1, 2) x))`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	kept := snapshot()
	var src string
	for _, m := range store.MigrationFiles() {
		if strings.HasPrefix(string(m), "-- Issue 15: the dashboard overview") {
			src = string(m)
		}
	}
	_, backfill, ok := strings.Cut(src, "-- Backfill, set-based.")
	if !ok {
		t.Fatal("no backfill section in 0012")
	}
	backfill, _, _ = strings.Cut(backfill, "\n-- == ") // the next section
	if _, err := st.Pool().Exec(ctx, `TRUNCATE payments.subscription_mrr, payments.overview_mrr_daily, payments.overview_revenue_daily,
		payments.overview_subscriptions_daily, payments.overview_subscription_statuses`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, "--"+backfill); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(); got != kept {
		t.Errorf("backfill:\n%s\ntriggers:\n%s", got, kept)
	}
}

// The webhook path only marks a subscription dirty; a fold recomputes its
// MRR. A fold skips (without waiting) a mark that a running transaction
// holds, even one that an earlier change left, and folds it once that
// transaction committed: no change is lost to a fold in between.
func TestOverviewMRRFoldSkipsHeldMarks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	now := time.Now().UTC()
	overviewSeed(t, st, vocab.Test, now)
	usd := func() [2]int64 {
		t.Helper()
		m, err := st.MRRNow(ctx, vocab.Test)
		if err != nil {
			t.Fatal(err)
		}
		return m["usd"]
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.subscription_items SET quantity = 3 WHERE id = 'si_sub_A_0' AND env = 'test'`); err != nil {
		t.Fatal(err)
	}
	var kept float64
	if err := st.Pool().QueryRow(ctx, `SELECT sum(mrr) FROM payments.subscription_mrr WHERE subscription_id = 'sub_A'`).Scan(&kept); err != nil || kept != 2000 {
		t.Fatalf("the trigger recomputed MRR in the writing transaction: %v %v", kept, err)
	}
	tx, err := st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `UPDATE payments.subscription_items SET quantity = 4 WHERE id = 'si_sub_A_0' AND env = 'test'`); err != nil {
		t.Fatal(err)
	}
	if n, err := st.FoldMRR(ctx); err != nil || n != 0 {
		t.Fatalf("fold with the mark held: %d %v", n, err)
	}
	if got := usd(); got != [2]int64{12200, 2000} {
		t.Errorf("usd MRR while the change runs %v", got)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := usd(); got != [2]int64{12200 + 2000, 2000} {
		t.Errorf("usd MRR after the commit %v", got)
	}
	if n, err := st.FoldMRR(ctx); err != nil || n != 0 {
		t.Errorf("second fold: %d %v", n, err)
	}
}

// A fold books a change on the day of its mark (the first change since
// the last fold), not on the day it runs.
func TestOverviewMRRFoldBooksTheMarksDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	now := time.Now().UTC()
	overviewSeed(t, st, vocab.Test, now)
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.overview_mrr_daily SET day = day - 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.subscription_items SET quantity = 4 WHERE id = 'si_sub_A_0' AND env = 'test'`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.mrr_dirty SET day = day - 1`); err != nil {
		t.Fatal(err)
	}
	o, err := st.Overview(ctx, vocab.Test, now)
	if err != nil {
		t.Fatal(err)
	}
	days := o.MRR[1].Days
	if b, y, d := days[store.OverviewDays-3], days[store.OverviewDays-2], days[store.OverviewDays-1]; b.Active != 12200 || y.Active != 12200+2000 || d != (store.MRRDay{Day: d.Day, Active: 14200, Trialing: 2000}) {
		t.Errorf("usd MRR the day before %+v, yesterday %+v, today %+v", b, y, d)
	}
}
