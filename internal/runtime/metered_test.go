package runtime_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// A metered price is bought without a quantity (Stripe refuses one): the
// checkout sends none for it and the licensed item's quantity as given; a
// quantity on a metered item is refused before Stripe, from a user token as
// from an API key, and a licensed item still needs its quantity.
func TestCheckoutOfAMeteredPrice(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	product, _ := json.Marshal(map[string]any{"id": "prod_Tokens", "object": "product", "name": "Tokens", "active": true, "livemode": false, "created": 1718900000, "metadata": map[string]any{}})
	if _, err := r.st.Upsert(ctx, vocab.Test, vocab.Products, []json.RawMessage{product}, time.Now()); err != nil {
		t.Fatal(err)
	}
	price, _ := json.Marshal(map[string]any{"id": "price_Tokens", "object": "price", "product": "prod_Tokens", "currency": "usd", "active": true,
		"livemode": false, "created": 1718900000, "type": "recurring", "unit_amount": nil, "unit_amount_decimal": "0.5", "metadata": map[string]any{},
		"recurring": map[string]any{"interval": "month", "interval_count": 1, "usage_type": "metered", "meter": "mtr_Tokens"}})
	if _, err := r.st.Upsert(ctx, vocab.Test, vocab.Prices, []json.RawMessage{price}, time.Now()); err != nil {
		t.Fatal(err)
	}
	tok := token(t, jwt.MapClaims{"sub": "u_1"})
	for _, c := range []struct {
		name  string
		items []map[string]any
		code  string
	}{
		{"quantity on a metered item", []map[string]any{{"price_id": "price_Tokens", "quantity": 1}}, "metered_quantity"},
		{"licensed item without quantity", []map[string]any{{"price_id": "price_ProMonthly"}, {"price_id": "price_Tokens"}}, "quantity_out_of_range"},
	} {
		for _, caller := range []string{tok, r.apiKey} {
			if res := r.do("POST", checkoutPath, caller, checkoutBody(user("u_1"), c.items...)); res.status != 400 || res.body["code"] != c.code {
				t.Errorf("%s: %d %v, want 400 %s", c.name, res.status, res.body, c.code)
			}
		}
	}
	if n := r.rec.Calls("POST /v1/checkout/sessions"); n != 0 {
		t.Fatalf("refused checkouts reached Stripe: %d", n)
	}
	res := r.do("POST", checkoutPath, tok, checkoutBody(user("u_1"), map[string]any{"price_id": "price_ProMonthly", "quantity": 2}, map[string]any{"price_id": "price_Tokens"}))
	if res.status != 201 {
		t.Fatalf("metered checkout: %d %v", res.status, res.body)
	}
	s := r.rec.Bodies("POST /v1/checkout/sessions")[0]
	if s.Get("line_items[1][price]") != "price_Tokens" || s.Has("line_items[1][quantity]") || s.Get("line_items[0][quantity]") != "2" {
		t.Fatalf("Stripe was sent %v", s)
	}
}
