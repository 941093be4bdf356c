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
	diffs, err := loadgen.Check(context.Background(), r.st.Pool(), "test", exp)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	// The check sees a row that differs.
	if _, err := r.st.Pool().Exec(context.Background(), `UPDATE payments.payment_history SET amount = amount + 1
		WHERE key = (SELECT min(key) FROM payments.payment_history WHERE kind = 'payment')`); err != nil {
		t.Fatal(err)
	}
	if diffs, err := loadgen.Check(context.Background(), r.st.Pool(), "test", exp); err != nil || len(diffs) != 1 {
		t.Fatalf("after changing one payment, the check found %q (%v), want one difference", diffs, err)
	}
}
