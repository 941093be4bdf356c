package runtime_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billwire/billwire/internal/runtime"
)

// reuseRig is a rig without rate limits: these tests repeat one user's
// checkout more often than the limits allow, and are about what is reused.
func reuseRig(t *testing.T) *rig {
	return newRigWith(t, func(c *runtime.APIConfig) { c.Rates = &runtime.SessionRates{} })
}

// checkout posts body and waits for the session to be stored (the update
// that stores it commits asynchronously).
func (r *rig) checkout(bearer string, body map[string]any) reply {
	r.t.Helper()
	res := r.do("POST", checkoutPath, bearer, body)
	r.st.Flush()
	return res
}

// A user repeating the same checkout gets the session still open for it,
// as an idempotent replay, without a Stripe call; anything else asked is a
// new session.
func TestUserRepeatGetsTheOpenSession(t *testing.T) {
	t.Parallel()
	r := reuseRig(t)
	tok := token(t, jwt.MapClaims{"sub": "u_r", "teams": []string{"t_r"}})
	first := r.checkout(tok, checkoutBody(user("u_r")))
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %v", first.status, first.body)
	}
	calls := r.rec.Calls("POST /v1/checkout/sessions")
	same := func(what string, res reply) {
		t.Helper()
		if res.status != http.StatusOK || res.body["id"] != first.body["id"] || res.body["url"] != first.body["url"] ||
			res.body["stripe_session_id"] != first.body["stripe_session_id"] {
			t.Fatalf("%s: %d %v, want 200 with the open session %v", what, res.status, res.body, first.body)
		}
		if n := r.rec.Calls("POST /v1/checkout/sessions"); n != calls {
			t.Fatalf("%s called Stripe", what)
		}
	}
	same("the same checkout again", r.checkout(tok, checkoutBody(user("u_r"))))
	withKey := checkoutBody(user("u_r"))
	withKey["idempotency_key"] = "click-2"
	same("the same checkout under a new idempotency key", r.checkout(tok, withKey))

	fresh := func(what string, body map[string]any) reply {
		t.Helper()
		res := r.checkout(tok, body)
		if res.status != http.StatusCreated || res.body["id"] == first.body["id"] || res.body["url"] == first.body["url"] {
			t.Fatalf("%s: %d %v, want a new session", what, res.status, res.body)
		}
		calls++
		if n := r.rec.Calls("POST /v1/checkout/sessions"); n != calls {
			t.Fatalf("%s: Stripe saw %d session creates, want %d", what, n, calls)
		}
		return res
	}
	fresh("another quantity", checkoutBody(user("u_r"), map[string]any{"price_id": "price_ProMonthly", "quantity": 2}))
	fresh("more items", checkoutBody(user("u_r"), map[string]any{"price_id": "price_ProMonthly", "quantity": 1},
		map[string]any{"price_id": "price_Pack", "quantity": 1}))
	otherURL := checkoutBody(user("u_r"))
	otherURL["cancel_url"] = appOrigin + "/pricing"
	fresh("another cancel_url", otherURL)
	otherURL = checkoutBody(user("u_r"))
	otherURL["success_url"] = appOrigin + "/welcome"
	fresh("another success_url", otherURL)
	pay := checkoutBody(user("u_r"), map[string]any{"price_id": "price_Pack", "quantity": 1})
	pay["mode"] = "payment"
	fresh("another mode", pay)
	fresh("another subject", checkoutBody(team("t_r")))
	// The first one is still what the same checkout gets.
	same("the first checkout once more", r.checkout(tok, checkoutBody(user("u_r"))))
}

// A session that completed, expired, or is too old to pay (Stripe expires
// it after 24 hours) is not given again; nor one made for another user, nor
// any to an API key, which has idempotency keys instead.
func TestOnlyAnOpenFreshOwnSessionIsReused(t *testing.T) {
	t.Parallel()
	r := reuseRig(t)
	ctx := context.Background()
	tok := token(t, jwt.MapClaims{"sub": "u_s", "teams": []string{"t_s"}})
	body := checkoutBody(user("u_s"))
	for _, change := range []string{
		`status = 'complete', payment_status = 'paid'`,
		`status = 'expired'`,
		`created_at = now() - interval '23 hours 1 minute'`,
	} {
		first := r.checkout(tok, body)
		if first.status != http.StatusCreated {
			t.Fatalf("checkout before %s: %d %v", change, first.status, first.body)
		}
		if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.checkout_sessions SET `+change+` WHERE id = $1`, first.body["id"]); err != nil {
			t.Fatal(err)
		}
		again := r.checkout(tok, body)
		if again.status != http.StatusCreated || again.body["id"] == first.body["id"] {
			t.Fatalf("after %s: %d %v, want a new session", change, again.status, again.body)
		}
		if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.checkout_sessions SET status = 'expired' WHERE id = $1`, again.body["id"]); err != nil {
			t.Fatal(err)
		}
	}
	// Another member of the team does not get this member's session.
	mine := r.checkout(tok, checkoutBody(team("t_s")))
	peer := r.checkout(token(t, jwt.MapClaims{"sub": "u_s2", "teams": []string{"t_s"}}), checkoutBody(team("t_s")))
	if mine.status != http.StatusCreated || peer.status != http.StatusCreated || peer.body["id"] == mine.body["id"] {
		t.Fatalf("two members' checkouts of a team: %v, %v", mine.body, peer.body)
	}
	// API keys do not reuse.
	a := r.checkout(r.apiKey, checkoutBody(user("u_s")))
	b := r.checkout(r.apiKey, checkoutBody(user("u_s")))
	if a.status != http.StatusCreated || b.status != http.StatusCreated || a.body["id"] == b.body["id"] {
		t.Fatalf("API key repeats: %d %v, %d %v", a.status, a.body, b.status, b.body)
	}
}

// A repeat sees the catalog as it is now: an archived price is refused
// rather than its open session reused, and a lookup key moved to another
// price buys that price.
func TestReuseFollowsTheCatalog(t *testing.T) {
	t.Parallel()
	r := reuseRig(t)
	ctx := context.Background()
	tok := token(t, jwt.MapClaims{"sub": "u_c"})
	body := checkoutBody(user("u_c"), map[string]any{"lookup_key": "credit_pack", "quantity": 2})
	body["mode"] = "payment"
	first := r.checkout(tok, body)
	if again := r.checkout(tok, body); first.status != http.StatusCreated || again.status != http.StatusOK || again.body["id"] != first.body["id"] {
		t.Fatalf("first %d %v, again %d %v", first.status, first.body, again.status, again.body)
	}
	if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.prices SET lookup_key = NULL WHERE id = 'price_Pack';
		UPDATE payments.prices SET lookup_key = 'credit_pack', active = true WHERE id = 'price_Archived'`); err != nil {
		t.Fatal(err)
	}
	moved := r.checkout(tok, body)
	if moved.status != http.StatusCreated || moved.body["id"] == first.body["id"] {
		t.Fatalf("after moving the lookup key: %d %v, want a new session", moved.status, moved.body)
	}
	bodies := r.rec.Bodies("POST /v1/checkout/sessions")
	if got := bodies[len(bodies)-1].Get("line_items[0][price]"); got != "price_Archived" {
		t.Fatalf("the new session buys %s, want price_Archived", got)
	}
	if _, err := r.st.Pool().Exec(ctx, `UPDATE payments.prices SET active = false WHERE id = 'price_Archived'`); err != nil {
		t.Fatal(err)
	}
	if res := r.checkout(tok, body); res.status != http.StatusBadRequest {
		t.Fatalf("after archiving the price: %d %v, want a refusal, not the open session", res.status, res.body)
	}
}
