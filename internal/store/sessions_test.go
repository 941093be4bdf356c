package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/vocab"
)

// opened stores a session and waits for it.
func opened(st *store.Store, id int64, stripeID, url, customer string) error {
	var err error
	st.CheckoutOpened(id, stripeID, url, customer, func(e error) { err = e })
	st.Flush()
	return err
}

// A webhook that projected the session before billwire stored Stripe's id
// (its own row, keyed by that id) is folded into billwire's row.
func TestCheckoutOpenedFoldsAnEarlyWebhookRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	row, created, err := st.InsertCheckout(ctx, store.NewCheckout{Env: vocab.Test, Mode: "payment", Requester: "apikey:1",
		RequestHash: "h", Request: map[string]any{}, SubjectType: "user", SubjectID: "u1"})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if _, err := st.Pool().Exec(ctx, `INSERT INTO payments.checkout_sessions (env, stripe_id, status, payment_status, payment_intent_id, data, source_at)
		VALUES ('test', 'cs_test_Early', 'complete', 'paid', 'pi_1', '{"id":"cs_test_Early"}', now())`); err != nil {
		t.Fatal(err)
	}
	if err := opened(st, row.ID, "cs_test_Early", "https://checkout.stripe.com/x", "cus_1"); err != nil {
		t.Fatal(err)
	}
	var n int
	var status, ps, subject string
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) OVER (), status, payment_status, subject_id FROM payments.checkout_sessions
		WHERE stripe_id = 'cs_test_Early'`).Scan(&n, &status, &ps, &subject); err != nil {
		t.Fatal(err)
	}
	if n != 1 || status != "complete" || ps != "paid" || subject != "u1" {
		t.Fatalf("after fold: %d rows, %s/%s, subject %s", n, status, ps, subject)
	}
	got, err := st.GetCheckout(ctx, row.ID)
	if err != nil || got.StripeID != "cs_test_Early" || got.URL == "" {
		t.Fatalf("billwire's row: %+v %v", got, err)
	}
}

func seedPrices(t *testing.T, st *store.Store) {
	t.Helper()
	// Ids that differ only in case, and a lookup key outside ASCII: the
	// fingerprint must agree with PostgreSQL's, byte for byte.
	if _, err := st.Pool().Exec(context.Background(), `
		INSERT INTO payments.products (env, id, name, active, livemode, created, source_at, data) VALUES ('test', 'prod_P', 'P', true, false, now(), now(), '{}');
		INSERT INTO payments.prices (env, id, product_id, active, currency, type, lookup_key, livemode, created, source_at, data) VALUES
			('test', 'price_b', 'prod_P', true, 'usd', 'one_time', 'pack_ü', false, now(), now(), '{}'),
			('test', 'price_B', 'prod_P', true, 'usd', 'one_time', NULL, false, now(), now(), '{}'),
			('test', 'price_a', 'prod_P', false, 'usd', 'recurring', 'pro', false, now(), now(), '{}')`); err != nil {
		t.Fatal(err)
	}
}

// The first round trip writes the row when the prices are those the caller
// checked, and otherwise writes nothing and returns the prices read.
func TestStartCheckoutWritesOnlyOverTheCheckedPrices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	seedPrices(t, st)
	ids, keys := []string{"price_b", "price_B", "price_a"}, []string{"pack_ü"}
	nc := store.NewCheckout{Env: vocab.Test, Mode: "payment", Requester: "apikey:1", IdempotencyKey: "k1",
		RequestHash: "h", Request: map[string]any{}, SubjectType: "user", SubjectID: "u1"}
	rows := func() int {
		var n int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM payments.checkout_sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	cold, err := st.StartCheckout(ctx, nc, ids, keys, "")
	if err != nil {
		t.Fatal(err)
	}
	if cold.Current || cold.Row != nil || len(cold.Prices) != 3 || rows() != 0 {
		t.Fatalf("without an expectation: %+v, %d rows", cold, rows())
	}
	fp := store.PriceFingerprint(cold.Prices)
	warm, err := st.StartCheckout(ctx, nc, ids, keys, fp)
	if err != nil {
		t.Fatal(err)
	}
	if !warm.Current || !warm.Created || warm.Row == nil || warm.Prices != nil || rows() != 1 {
		t.Fatalf("with the fingerprint of the prices read: %+v, %d rows", warm, rows())
	}
	again, err := st.StartCheckout(ctx, nc, ids, keys, fp)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Current || again.Created || again.Row == nil || again.Row.ID != warm.Row.ID || rows() != 1 {
		t.Fatalf("the same idempotency key: %+v, %d rows", again, rows())
	}

	if _, err := st.Pool().Exec(ctx, `UPDATE payments.products SET active = false WHERE id = 'prod_P'`); err != nil {
		t.Fatal(err)
	}
	nc.IdempotencyKey = "k2"
	stale, err := st.StartCheckout(ctx, nc, ids, keys, fp)
	if err != nil {
		t.Fatal(err)
	}
	if stale.Current || stale.Row != nil || rows() != 1 {
		t.Fatalf("after the product was archived: %+v, %d rows", stale, rows())
	}
	for _, p := range stale.Prices {
		if p.ProductActive {
			t.Fatalf("stale price returned: %+v", p)
		}
	}
}

// The asynchronous commit of CheckoutOpened is the transaction's own: the
// pooled connection commits synchronously afterwards.
func TestCheckoutOpenedCommitsAsynchronouslyAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.DSN(t)+"&pool_max_conns=1", storetest.MasterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	row, _, err := st.InsertCheckout(ctx, store.NewCheckout{Env: vocab.Test, Mode: "payment", Requester: "apikey:1",
		RequestHash: "h", Request: map[string]any{}, SubjectType: "user", SubjectID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := opened(st, row.ID, "cs_test_A", "https://checkout.stripe.com/a", "cus_1"); err != nil {
		t.Fatal(err)
	}
	var setting string
	if err := st.Pool().QueryRow(ctx, `SHOW synchronous_commit`).Scan(&setting); err != nil || setting != "on" {
		t.Fatalf("synchronous_commit after CheckoutOpened: %q %v", setting, err)
	}
	got, err := st.GetCheckout(ctx, row.ID)
	if err != nil || got.StripeID != "cs_test_A" || got.Status != "open" {
		t.Fatalf("row: %+v %v", got, err)
	}
}

// A row the webhook projection adopted before the session API stored the
// session keeps what the event said.
func TestCheckoutOpenedKeepsAnAdoptedRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	row, _, err := st.InsertCheckout(ctx, store.NewCheckout{Env: vocab.Test, Mode: "payment", Requester: "apikey:1",
		RequestHash: "h", Request: map[string]any{}, SubjectType: "user", SubjectID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.checkout_sessions SET stripe_id = 'cs_test_A', status = 'complete',
		customer_id = 'cus_1' WHERE id = $1`, row.ID); err != nil {
		t.Fatal(err)
	}
	if err := opened(st, row.ID, "cs_test_A", "https://checkout.stripe.com/a", "cus_1"); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetCheckout(ctx, row.ID)
	if err != nil || got.Status != "complete" || got.URL != "https://checkout.stripe.com/a" {
		t.Fatalf("row: %+v %v", got, err)
	}
}

// Concurrent session writes are grouped into shared batches; one that fails
// fails alone.
func TestConcurrentCheckoutWritesFailAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	const n = 40
	ids := make([]int64, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			row, _, err := st.InsertCheckout(ctx, store.NewCheckout{Env: vocab.Test, Mode: "payment", Requester: "apikey:1",
				RequestHash: "h", Request: map[string]any{}, SubjectType: "user", SubjectID: fmt.Sprint("u", i)})
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = row.ID
			sid := fmt.Sprint("cs_test_", i)
			if i == n-1 {
				sid = "cs_test_0" // taken by row 0, or about to be: this one must fail, and only this one
			}
			errs[i] = opened(st, row.ID, sid, "https://checkout.stripe.com/"+sid, "cus_1")
		}()
	}
	wg.Wait()
	for i, err := range errs[:n-1] {
		if err != nil && !(i == 0 && errs[n-1] == nil) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if (errs[0] == nil) == (errs[n-1] == nil) {
		t.Fatalf("exactly one of the two writes of cs_test_0 must fail: %v, %v", errs[0], errs[n-1])
	}
	var opened int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM payments.checkout_sessions WHERE status = 'open' AND url = 'https://checkout.stripe.com/' || stripe_id`).Scan(&opened); err != nil {
		t.Fatal(err)
	}
	if opened != n-1 {
		t.Fatalf("%d sessions stored, want %d", opened, n-1)
	}
}

// A session stored without waiting is stored by the time Close returns, and
// a failure reaches the callback.
func TestCheckoutOpenedIsDoneByClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, key := storetest.DSN(t), storetest.MasterKey(t)
	st, err := store.Open(ctx, dsn, key)
	if err != nil {
		t.Fatal(err)
	}
	var rows [3]int64
	for i := range rows {
		row, _, err := st.InsertCheckout(ctx, store.NewCheckout{Env: vocab.Test, Mode: "payment", Requester: "apikey:1",
			RequestHash: "h", Request: map[string]any{}, SubjectType: "user", SubjectID: fmt.Sprint("u", i)})
		if err != nil {
			t.Fatal(err)
		}
		rows[i] = row.ID
	}
	var mu sync.Mutex
	var failures []error
	failed := func(err error) { mu.Lock(); failures = append(failures, err); mu.Unlock() }
	st.CheckoutOpened(rows[0], "cs_test_L0", "https://checkout.stripe.com/0", "cus_1", failed)
	st.CheckoutOpened(rows[1], "cs_test_L1", "https://checkout.stripe.com/1", "cus_1", failed)
	st.Flush()
	st.CheckoutOpened(rows[2], "cs_test_L0", "https://checkout.stripe.com/2", "cus_1", failed) // taken by rows[0]
	st.Close()

	st, err = store.Open(ctx, dsn, key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, want := range []string{"cs_test_L0", "cs_test_L1", ""} {
		got, err := st.GetCheckout(ctx, rows[i])
		if err != nil || got.StripeID != want {
			t.Fatalf("row %d: %+v %v, want session %q", i, got, err, want)
		}
	}
	if len(failures) != 1 {
		t.Fatalf("failures: %v, want the one of cs_test_L0 taken twice", failures)
	}
}
