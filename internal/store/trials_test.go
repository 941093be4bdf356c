package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/vocab"
)

// A checkout whose trial claim meets a concurrent one on one of its
// products (committed after its snapshot, so only the primary key sees it)
// carries no trial and keeps no claim on the others; the concurrent one
// keeps its claim.
func TestTrialClaimLostToAConcurrentCheckoutIsReleased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	tx, err := st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	var other int64
	if err := tx.QueryRow(ctx, `INSERT INTO payments.checkout_sessions (env, mode, status, requester, subject_type, subject_id)
		VALUES ('test', 'subscription', 'initialized', 'user:u1', 'user', 'u1') RETURNING id`).Scan(&other); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO payments.trial_claims (env, subject_type, subject_id, product_id, checkout_id, trial_period_days)
		VALUES ('test', 'user', 'u1', 'prod_B', $1, 14)`, other); err != nil {
		t.Fatal(err)
	}
	type result struct {
		row *store.Checkout
		err error
	}
	done := make(chan result, 1)
	go func() {
		row, _, err := st.InsertCheckout(ctx, store.NewCheckout{Env: vocab.Test, Mode: "subscription", Requester: "user:u1",
			RequestHash: "h", Request: map[string]any{}, SubjectType: "user", SubjectID: "u1",
			TrialDays: 14, TrialProducts: []string{"prod_A", "prod_B"}})
		done <- result{row, err}
	}()
	time.Sleep(300 * time.Millisecond) // the insert now waits on prod_B's uncommitted claim
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.row.TrialDays != 0 {
		t.Fatalf("the checkout that lost prod_B carries a trial of %d days", res.row.TrialDays)
	}
	var mine, theirs int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE checkout_id = $1), count(*) FILTER (WHERE checkout_id = $2)
		FROM payments.trial_claims`, res.row.ID, other).Scan(&mine, &theirs); err != nil {
		t.Fatal(err)
	}
	if mine != 0 || theirs != 1 {
		t.Fatalf("claims: %d of the loser's, %d of the winner's; want 0 and 1", mine, theirs)
	}
	got, err := st.GetCheckout(ctx, res.row.ID)
	if err != nil || got.TrialDays != 0 {
		t.Fatalf("the loser's row read again: %+v %v", got, err)
	}

	// With its claims, a row read again (an idempotent retry) says its trial.
	row, _, err := st.InsertCheckout(ctx, store.NewCheckout{Env: vocab.Test, Mode: "subscription", Requester: "user:u2",
		RequestHash: "h", Request: map[string]any{}, SubjectType: "user", SubjectID: "u2", IdempotencyKey: "k",
		TrialDays: 21, TrialProducts: []string{"prod_A"}})
	if err != nil || row.TrialDays != 21 {
		t.Fatalf("a free trial: %+v %v", row, err)
	}
	again, created, err := st.InsertCheckout(ctx, store.NewCheckout{Env: vocab.Test, Mode: "subscription", Requester: "user:u2",
		RequestHash: "h", Request: map[string]any{}, SubjectType: "user", SubjectID: "u2", IdempotencyKey: "k",
		TrialDays: 21, TrialProducts: []string{"prod_A"}})
	if err != nil || created || again.ID != row.ID || again.TrialDays != 21 {
		t.Fatalf("the same key again: %+v created=%v %v", again, created, err)
	}
}
