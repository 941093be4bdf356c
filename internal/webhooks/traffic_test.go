package webhooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/loadgen"
)

// Realistic traffic — many customers' subscription stories, shuffled, a
// fifth of it delivered twice, eight at a time — leaves exactly the state
// the stories end in.
func TestShuffledDuplicatedTrafficLeavesExactState(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	events, exp := loadgen.Generate(loadgen.Config{Events: 3000, Customers: 150, Seed: 5, Shuffle: true, Duplicates: 0.2})
	if len(exp.Subscriptions) < 100 || len(exp.Payments) < 100 || exp.RefundCount == 0 || exp.Duplicates == 0 {
		t.Fatalf("the traffic is too thin to prove anything: %d subscriptions, %d payments, %d refunds, %d duplicates",
			len(exp.Subscriptions), len(exp.Payments), exp.RefundCount, exp.Duplicates)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := loadgen.Run(ctx, loadgen.RunConfig{URL: r.url + "/webhooks/stripe/test", Secret: secret, Concurrency: 8,
		Prelude: exp.Prelude, Timeout: 30 * time.Second}, events)
	if err != nil {
		t.Fatal(err)
	}
	if res.NotOK != 0 || res.Errors != 0 || res.OK != exp.Sends {
		t.Fatalf("deliveries: %+v", res)
	}
	if n := r.count("webhook_events", "status = 'processed'"); n != int64(exp.DistinctEventIDs) {
		t.Fatalf("%d processed events, want %d", n, exp.DistinctEventIDs)
	}
	ctxq := context.Background()
	rows, err := r.st.Pool().Query(ctxq, `SELECT s.id, s.status, s.cancel_at_period_end, extract(epoch FROM s.current_period_end)::bigint,
		s.customer_id, coalesce(s.subject_id, ''), coalesce((SELECT string_agg(price_id, ',') FROM payments.subscription_items i
			WHERE i.env = s.env AND i.subscription_id = s.id), '')
		FROM payments.subscriptions s`)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var id, status, customer, subject, price string
		var cancelAtEnd bool
		var periodEnd int64
		if err := rows.Scan(&id, &status, &cancelAtEnd, &periodEnd, &customer, &subject, &price); err != nil {
			t.Fatal(err)
		}
		want, ok := exp.Subscriptions[id]
		if !ok {
			t.Errorf("unexpected subscription %s", id)
			continue
		}
		seen++
		if status != want.Status || cancelAtEnd != want.CancelAtPeriodEnd || periodEnd != want.CurrentPeriodEnd ||
			customer != want.Customer || subject != want.SubjectID || price != want.Price {
			t.Errorf("%s = %s %v %d %s %s %s, want %+v", id, status, cancelAtEnd, periodEnd, customer, subject, price, want)
		}
	}
	if seen != len(exp.Subscriptions) {
		t.Errorf("%d subscriptions stored, want %d", seen, len(exp.Subscriptions))
	}
	rows, err = r.st.Pool().Query(ctxq, `SELECT key, status, amount, amount_refunded, coalesce(customer_id, '') FROM payments.payment_history WHERE kind = 'payment'`)
	if err != nil {
		t.Fatal(err)
	}
	seen = 0
	for rows.Next() {
		var key, status, customer string
		var amount, refunded int64
		if err := rows.Scan(&key, &status, &amount, &refunded, &customer); err != nil {
			t.Fatal(err)
		}
		want, ok := exp.Payments[key]
		if !ok {
			t.Errorf("unexpected payment %s", key)
			continue
		}
		seen++
		wantStatus := map[string]string{"succeeded": "succeeded", "requires_payment_method": "failed"}[want.Status]
		if want.Status == "succeeded" && want.AmountRefunded > 0 {
			wantStatus = "partially_refunded"
			if want.AmountRefunded >= want.Amount {
				wantStatus = "refunded"
			}
		}
		if status != wantStatus || amount != want.Amount || refunded != want.AmountRefunded || customer != want.Customer {
			t.Errorf("payment %s = %s %d %d %s, want %s %+v", key, status, amount, refunded, customer, wantStatus, want)
		}
	}
	if seen != len(exp.Payments) {
		t.Errorf("%d payments stored, want %d", seen, len(exp.Payments))
	}
	var refunds, refunded int64
	if err := r.st.Pool().QueryRow(ctxq, `SELECT count(*), coalesce(sum(amount), 0) FROM payments.payment_history WHERE kind = 'refund'`).
		Scan(&refunds, &refunded); err != nil {
		t.Fatal(err)
	}
	if refunds != int64(exp.RefundCount) || refunded != exp.RefundedAmount {
		t.Errorf("refunds = %d for %d, want %d for %d", refunds, refunded, exp.RefundCount, exp.RefundedAmount)
	}
	if n := r.count("customers", ""); n != int64(len(exp.Customers)) {
		t.Errorf("%d customers, want %d", n, len(exp.Customers))
	}
}
