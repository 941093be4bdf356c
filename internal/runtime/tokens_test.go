package runtime_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/vocab"
)

// A user token acts in BILLWIRE_JWT_ENV only: on the other environment's
// routes every call is 403, before anything is written or Stripe is called.
func TestUserTokenStaysInItsEnvironment(t *testing.T) {
	t.Parallel()
	r := newRig(t) // BILLWIRE_JWT_ENV=test
	u := token(t, jwt.MapClaims{"sub": "u_1", "teams": []string{"t_1"}, "billing_teams": []string{"t_1"}})
	portal := map[string]any{"subject": user("u_1"), "return_url": appOrigin + "/billing"}
	refused := func(r *rig, name string, res reply) {
		t.Helper()
		msg, _ := res.body["message"].(string)
		if res.status != http.StatusForbidden || res.body["code"] != "environment_not_allowed" || !strings.Contains(msg, "BILLWIRE_JWT_ENV") {
			t.Errorf("%s: got %d %v, want 403 environment_not_allowed naming BILLWIRE_JWT_ENV", name, res.status, res.body)
		}
	}
	refused(r, "checkout on live", r.do("POST", "/api/payments/live/checkout-sessions", u, checkoutBody(user("u_1"))))
	refused(r, "team checkout on live", r.do("POST", "/api/payments/live/checkout-sessions", u, checkoutBody(team("t_1"))))
	refused(r, "portal on live", r.do("POST", "/api/payments/live/portal-sessions", u, portal))
	refused(r, "subject on live", r.do("GET", "/api/payments/live/subjects/user/u_1", u, nil))
	refused(r, "entitlement on live", r.do("GET", "/api/payments/live/subjects/user/u_1/entitlements/api_access", u, nil))
	refused(r, "bad body on live", r.do("POST", "/api/payments/live/checkout-sessions", u, `{"mode": `))
	if res := r.do("GET", "/api/payments/test/subjects/user/u_1", u, nil); res.status != http.StatusOK {
		t.Errorf("the token's own environment: %d %v", res.status, res.body)
	}
	if n := r.rec.Calls("POST /v1/checkout/sessions") + r.rec.Calls("POST /v1/customers") + r.rec.Calls("POST /v1/billing_portal/sessions"); n != 0 {
		t.Errorf("refused requests reached Stripe %d times", n)
	}
	if n := r.countRows(`true`); n != 0 {
		t.Errorf("refused requests left %d rows", n)
	}

	// Bound to live, the same token may not start a test-card checkout.
	live := newRig(t, func(c *runtime.APIConfig) { c.JWT.Env = vocab.Live })
	refused(live, "checkout on test", live.do("POST", "/api/payments/test/checkout-sessions", u, checkoutBody(user("u_1"))))
	refused(live, "subject on test", live.do("GET", "/api/payments/test/subjects/user/u_1", u, nil))
	if res := live.do("POST", "/api/payments/test/checkout-sessions", live.apiKey, checkoutBody(user("u_1"))); res.status != http.StatusCreated {
		t.Errorf("a test API key stays bound to test only: %d %v", res.status, res.body)
	}
	if n := live.countRows(`requester LIKE 'user:%'`); n != 0 {
		t.Errorf("a refused user checkout left %d rows", n)
	}
}

// An object-form billing-claim entry without a billing role does not open
// the team's portal; the plain list form keeps granting it.
func TestBillingClaimEntryWithoutRoleGrantsNoPortal(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, checkoutBody(team("t_1"))); res.status != http.StatusCreated {
		t.Fatalf("checkout %d %v", res.status, res.body)
	}
	portal := func(billing any) reply {
		tok := token(t, jwt.MapClaims{"sub": "u_m", "teams": []string{"t_1"}, "billing_teams": billing})
		return r.do("POST", "/api/payments/test/portal-sessions", tok, map[string]any{"subject": team("t_1"), "return_url": appOrigin + "/billing"})
	}
	for name, claim := range map[string]any{
		`[{"id":"t_1"}]`:           []any{map[string]any{"id": "t_1"}},
		`[{"id":"t_1","role":""}]`: []any{map[string]any{"id": "t_1", "role": ""}},
		`{"t_1": ""}`:              map[string]any{"t_1": ""},
		`{"t_1": "member"}`:        map[string]any{"t_1": "member"},
		`{"t_1": null}`:            map[string]any{"t_1": nil},
	} {
		if res := portal(claim); res.status != http.StatusForbidden || res.body["code"] != "forbidden" {
			t.Errorf("billing claim %s: got %d %v, want 403 forbidden", name, res.status, res.body)
		}
	}
	if n := r.rec.Calls("POST /v1/billing_portal/sessions"); n != 0 {
		t.Fatalf("refused portal requests reached Stripe %d times", n)
	}
	for name, claim := range map[string]any{
		`["t_1"]`:                       []string{"t_1"},
		`[{"id":"t_1","role":"owner"}]`: []any{map[string]any{"id": "t_1", "role": "owner"}},
		`{"t_1": "billing"}`:            map[string]any{"t_1": "billing"},
	} {
		if res := portal(claim); res.status != http.StatusCreated {
			t.Errorf("billing claim %s: got %d %v, want 201", name, res.status, res.body)
		}
	}
}

// With a JWKS, tokens the identity provider signed for another app or
// tenant are refused by the session API, and a runtime whose JWKS has no
// issuer or audience is not built.
func TestJWKSTokensThroughTheAPI(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]any{{ //nolint:errcheck
			"kty": "RSA", "kid": "k1", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	t.Cleanup(jwks.Close)
	const iss, aud = "https://id.example.com/", "billwire-app"
	r := newRig(t, func(c *runtime.APIConfig) {
		c.JWT = auth.JWTConfig{JWKSURL: jwks.URL, Issuer: iss, Audience: aud, Env: vocab.Test}
	})
	sign := func(claims jwt.MapClaims) string {
		claims["sub"], claims["exp"] = "u_k", time.Now().Add(time.Hour).Unix()
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	route := "/api/payments/test/subjects/user/u_k"
	if res := r.do("GET", route, sign(jwt.MapClaims{"iss": iss, "aud": aud}), nil); res.status != http.StatusOK {
		t.Fatalf("the app's own token: %d %v", res.status, res.body)
	}
	for name, claims := range map[string]jwt.MapClaims{
		"another app's audience": {"iss": iss, "aud": "other-app"},
		"another issuer":         {"iss": "https://tenant-b.id.example.com/", "aud": aud},
		"no audience":            {"iss": iss},
	} {
		if res := r.do("GET", route, sign(claims), nil); res.status != http.StatusUnauthorized || res.body["code"] != "invalid_token" {
			t.Errorf("%s: %d %v, want 401 invalid_token", name, res.status, res.body)
		}
	}
	for name, cfg := range map[string]auth.JWTConfig{
		"no issuer":   {JWKSURL: jwks.URL, Audience: aud, Env: vocab.Test},
		"no audience": {JWKSURL: jwks.URL, Issuer: iss, Env: vocab.Test},
		"no env":      {JWKSURL: jwks.URL, Issuer: iss, Audience: aud},
	} {
		if _, err := runtime.New(r.st, r.svc, zerolog.Nop(), runtime.Options{API: runtime.APIConfig{JWT: cfg}}); err == nil {
			t.Errorf("%s: the runtime was built", name)
		}
	}
}
