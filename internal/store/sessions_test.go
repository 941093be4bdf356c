package store_test

import (
	"context"
	"testing"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
)

// A webhook that projected the session before billwire stored Stripe's id
// (its own row, keyed by that id) is folded into billwire's row.
func TestCheckoutOpenedFoldsAnEarlyWebhookRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	row, created, err := st.InsertCheckout(ctx, store.NewCheckout{Env: store.Test, Mode: "payment", Requester: "apikey:1",
		RequestHash: "h", Request: map[string]any{}, SubjectType: "user", SubjectID: "u1"})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if _, err := st.Pool().Exec(ctx, `INSERT INTO payments.checkout_sessions (env, stripe_id, status, payment_status, payment_intent_id, data, source_at)
		VALUES ('test', 'cs_test_Early', 'complete', 'paid', 'pi_1', '{"id":"cs_test_Early"}', now())`); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckoutOpened(ctx, row.ID, "cs_test_Early", "https://checkout.stripe.com/x", "cus_1", []byte(`{"id":"cs_test_Early"}`)); err != nil {
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
