package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/golang-jwt/jwt/v5"
)

// The session API's row holds what the checkout buys, resolved: each line's
// price id and that price's lookup key (null when it has none), and its
// quantity, whether the caller named the price by lookup key or by id, on
// the first checkout of some prices (checked, then written) and on later
// ones (written in the first round trip); the outbox's checkout_session row
// reports them.
func TestCheckoutRowRecordsResolvedLineItems(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	sticker, _ := json.Marshal(map[string]any{"id": "price_Sticker", "object": "price", "product": "prod_Pro", "active": true,
		"currency": "usd", "unit_amount": 100, "type": "one_time", "livemode": false, "created": 1718900000, "metadata": map[string]any{}})
	if _, err := r.st.Upsert(ctx, vocab.Test, vocab.Prices, []json.RawMessage{sticker}, time.Now()); err != nil {
		t.Fatal(err)
	}
	items := func(t *testing.T, s string) any {
		t.Helper()
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	stored := func(id any) (column, change any) {
		t.Helper()
		r.st.Flush()
		var raw, state []byte
		if err := r.st.Pool().QueryRow(ctx, `SELECT line_items FROM payments.checkout_sessions WHERE id = $1`, id).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if raw != nil {
			json.Unmarshal(raw, &column)
		}
		err := r.st.Pool().QueryRow(ctx, `SELECT b.state->'line_items' FROM payments.billing_changes b
			JOIN payments.checkout_sessions c ON c.stripe_id = b.key AND c.env = b.env
			WHERE c.id = $1 AND b.kind = 'checkout_session' ORDER BY b.seq DESC LIMIT 1`, id).Scan(&state)
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(state, &change)
		return column, change
	}
	payment := checkoutBody(user("u_li"), map[string]any{"lookup_key": "credit_pack", "quantity": 3},
		map[string]any{"price_id": "price_Sticker", "quantity": 2})
	payment["mode"] = "payment"
	want := items(t, `[{"price_id": "price_Pack", "lookup_key": "credit_pack", "quantity": 3},
		{"price_id": "price_Sticker", "lookup_key": null, "quantity": 2}]`)
	tok := token(t, jwt.MapClaims{"sub": "u_li"})
	for i := range 2 { // the first checks the prices, the second finds them current
		// Its own success URL: an identical open checkout would be given again.
		payment["success_url"] = fmt.Sprintf("%s/billing?try=%d", appOrigin, i)
		res := r.do("POST", "/api/payments/test/checkout-sessions", tok, payment)
		if res.status != http.StatusCreated {
			t.Fatalf("checkout %d: status %d: %v", i, res.status, res.body)
		}
		column, change := stored(res.body["id"])
		if !reflect.DeepEqual(column, want) || !reflect.DeepEqual(change, want) {
			t.Fatalf("checkout %d: line_items = %v, outbox line_items = %v; want %v", i, column, change, want)
		}
	}
	// By price id, the price's lookup key is recorded too.
	for i := range 2 {
		res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey,
			checkoutBody(team("t_li"), map[string]any{"price_id": "price_ProMonthly", "quantity": 4}))
		if res.status != http.StatusCreated {
			t.Fatalf("subscription checkout %d: status %d: %v", i, res.status, res.body)
		}
		column, change := stored(res.body["id"])
		want := items(t, `[{"price_id": "price_ProMonthly", "lookup_key": "pro_monthly", "quantity": 4}]`)
		if !reflect.DeepEqual(column, want) || !reflect.DeepEqual(change, want) {
			t.Fatalf("subscription checkout %d: line_items = %v, outbox line_items = %v; want %v", i, column, change, want)
		}
	}
}
