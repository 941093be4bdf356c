package runtime_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// A team's seats are bounded by the price (billwire_min_quantity and
// billwire_max_quantity, as create_price stores them): a user token cannot
// buy fewer or more seats than the price takes, nor can an API key; bounds
// a human mistyped in Stripe read as the defaults 1 to 999.
func TestSeatBoundsOfThePrice(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	obj := func(m map[string]any) json.RawMessage {
		m["livemode"], m["created"], m["object"], m["active"] = false, 1718900000, "price", true
		m["product"], m["currency"], m["unit_amount"], m["type"] = "prod_Seats", "usd", 1000, "recurring"
		m["recurring"] = map[string]any{"interval": "month", "interval_count": 1, "usage_type": "licensed"}
		b, _ := json.Marshal(m)
		return b
	}
	ctx := context.Background()
	product, _ := json.Marshal(map[string]any{"id": "prod_Seats", "object": "product", "name": "Seats", "active": true, "livemode": false, "created": 1718900000, "metadata": map[string]any{}})
	if _, err := r.st.Upsert(ctx, vocab.Test, vocab.Products, []json.RawMessage{product}, time.Now()); err != nil {
		t.Fatal(err)
	}
	prices := []json.RawMessage{
		obj(map[string]any{"id": "price_Seats3to10", "metadata": map[string]any{"billwire_min_quantity": "3", "billwire_max_quantity": "10"}}),
		obj(map[string]any{"id": "price_SeatsTypo", "metadata": map[string]any{"billwire_min_quantity": "many", "billwire_max_quantity": "0"}}),
	}
	if _, err := r.st.Upsert(ctx, vocab.Test, vocab.Prices, prices, time.Now()); err != nil {
		t.Fatal(err)
	}
	tok := token(t, jwt.MapClaims{"sub": "u_admin", "teams": []string{"t_1"}, "billing_teams": []string{"t_1"}})
	seats := func(price string, n int) map[string]any {
		return checkoutBody(team("t_1"), map[string]any{"price_id": price, "quantity": n})
	}
	for _, c := range []struct {
		price string
		n     int
		want  int
	}{
		{"price_Seats3to10", 2, 400},
		{"price_Seats3to10", 11, 400},
		{"price_Seats3to10", 1, 400},
		{"price_SeatsTypo", 1, 201},
		{"price_Seats3to10", 3, 201},
	} {
		res := r.do("POST", checkoutPath, tok, seats(c.price, c.n))
		if res.status != c.want || (c.want == 400 && res.body["code"] != "quantity_out_of_range") {
			t.Errorf("%s × %d from a user token: %d %v, want %d", c.price, c.n, res.status, res.body, c.want)
		}
	}
	if res := r.do("POST", checkoutPath, r.apiKey, seats("price_Seats3to10", 50)); res.status != 400 || res.body["code"] != "quantity_out_of_range" {
		t.Errorf("50 seats with an API key: %d %v", res.status, res.body)
	}
}
