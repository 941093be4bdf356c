package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/vocab"
)

// reusable writes a checkout row for user u1 and opens it with digest.
func reusable(t *testing.T, st *store.Store, requester, hash, digest string) int64 {
	t.Helper()
	row, _, err := st.InsertCheckout(context.Background(), store.NewCheckout{Env: vocab.Test, Mode: "subscription", Requester: requester,
		RequestHash: hash, Request: map[string]any{}, SubjectType: "user", SubjectID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	var ferr error
	st.CheckoutOpenedReusable(row.ID, fmt.Sprint("cs_test_R", row.ID), "https://checkout.stripe.com/"+hash, "cus_1", digest, func(e error) { ferr = e })
	st.Flush()
	if ferr != nil {
		t.Fatal(ferr)
	}
	return row.ID
}

func TestReusableCheckout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	if _, err := st.Pool().Exec(ctx, `INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id) VALUES ('test', 'user', 'u1', 'cus_1')`); err != nil {
		t.Fatal(err)
	}
	find := func(requester, hash string) *store.OpenCheckout {
		t.Helper()
		o, _, err := st.ReusableCheckout(ctx, vocab.Test, requester, "user", "u1", hash, []string{"price_X"}, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	older := reusable(t, st, "user:u1", "h1", "d-old")
	newer := reusable(t, st, "user:u1", "h1", "d1")
	reusable(t, st, "user:u2", "h2", "d2")
	if o := find("user:u1", "h1"); o == nil || o.ID != newer || o.ReuseDigest != "d1" || o.URL != "https://checkout.stripe.com/h1" {
		t.Fatalf("found %+v, want the newest open row %d", o, newer)
	}
	for _, c := range []struct{ requester, hash string }{{"user:u1", "h2"}, {"user:u2", "h1"}, {"apikey:1", "h1"}} {
		if o := find(c.requester, c.hash); o != nil {
			t.Fatalf("%s %s found %+v", c.requester, c.hash, o)
		}
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.checkout_sessions SET status = 'complete' WHERE id = $1`, newer); err != nil {
		t.Fatal(err)
	}
	if o := find("user:u1", "h1"); o == nil || o.ID != older {
		t.Fatalf("after the newest completed: %+v, want %d", o, older)
	}
	// The subject's customer was replaced: its old sessions are not given again.
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.customer_mappings SET customer_id = 'cus_2'`); err != nil {
		t.Fatal(err)
	}
	if o := find("user:u1", "h1"); o != nil {
		t.Fatalf("a session of the replaced customer: %+v", o)
	}
	// A row opened without a digest is nobody's to reuse.
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.customer_mappings SET customer_id = 'cus_1'`); err != nil {
		t.Fatal(err)
	}
	plain := reusable(t, st, "user:u1", "h3", "")
	if o := find("user:u1", "h3"); o != nil {
		t.Fatalf("row %d without a digest found: %+v", plain, o)
	}
}

// The reuse lookup probes checkout_sessions_reusable and the mapping's key,
// whatever the number of sessions: EXPLAIN ANALYZE over 40,000 sessions of
// 4,000 subjects, with the plan PostgreSQL chooses and its generic plan.
func TestReusableCheckoutPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	if _, err := st.Pool().Exec(ctx, `
		INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id)
		SELECT 'test', 'user', 'u' || i, 'cus_' || i FROM generate_series(1, 4000) i;
		INSERT INTO payments.checkout_sessions (env, stripe_id, mode, status, requester, request_hash, request, url,
			subject_type, subject_id, customer_id, reuse_digest, created_at)
		SELECT 'test', 'cs_test_' || i, 'subscription', CASE WHEN i % 10 = 0 THEN 'open' ELSE 'complete' END,
			'user:u' || (i % 4000), 'h' || (i % 7), '{}', 'https://checkout.stripe.com/' || i, 'user', 'u' || (i % 4000),
			'cus_' || (i % 4000), 'd', now() - (i % 100) * interval '1 minute'
		FROM generate_series(1, 40000) i;
		ANALYZE payments.checkout_sessions; ANALYZE payments.customer_mappings`); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"auto", "force_generic_plan"} {
		err := pgx.BeginFunc(ctx, st.Pool(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('plan_cache_mode', $1, true)`, mode); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "PREPARE s AS "+store.ReusableCheckoutSQL); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
				EXECUTE s('test', '{price_X}', '{}', 'user', 'u10', 'h3', 82800, 'user:u10')`)
			if err != nil {
				return err
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			plan := strings.Join(lines, "\n")
			t.Logf("plan (%s):\n%s", mode, plan)
			if !strings.Contains(plan, "checkout_sessions_reusable") || !strings.Contains(plan, "customer_mappings_pkey") {
				t.Errorf("%s: the lookup does not probe checkout_sessions_reusable and the mapping's key:\n%s", mode, plan)
			}
			if strings.Contains(plan, "Seq Scan on checkout_sessions") || strings.Contains(plan, "Seq Scan on customer_mappings") {
				t.Errorf("%s: the lookup reads a whole table:\n%s", mode, plan)
			}
			_, err = tx.Exec(ctx, "DEALLOCATE s")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
