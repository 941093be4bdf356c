package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/golang-jwt/jwt/v5"
)

func TestJWKSTokens(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]any{{ //nolint:errcheck
			"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	defer srv.Close()
	v, err := NewVerifier(JWTConfig{JWKSURL: srv.URL, Issuer: "https://id.example.com", Audience: "billing", Env: vocab.Test, TeamsClaim: "org_ids"})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(kid string, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := jwt.MapClaims{"sub": "u_1", "iss": "https://id.example.com", "aud": "billing", "exp": time.Now().Add(time.Hour).Unix(), "org_ids": []string{"t_1"}}
	c, err := v.Verify(context.Background(), sign("k1", good))
	if err != nil || c.ID != "u_1" || !c.Teams["t_1"] {
		t.Fatalf("good token: %+v %v", c, err)
	}
	if _, err := v.Verify(context.Background(), sign("k1", good)); err != nil || fetches.Load() != 1 {
		t.Fatalf("the JWKS is fetched once and cached (fetches %d, %v)", fetches.Load(), err)
	}
	for name, mut := range map[string]func(jwt.MapClaims){
		"wrong issuer":   func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com" },
		"wrong audience": func(c jwt.MapClaims) { c["aud"] = "other" },
		"no expiry":      func(c jwt.MapClaims) { delete(c, "exp") },
		"no subject":     func(c jwt.MapClaims) { delete(c, "sub") },
	} {
		claims := jwt.MapClaims{}
		for k, x := range good {
			claims[k] = x
		}
		mut(claims)
		var ae *fault.Error
		if _, err := v.Verify(context.Background(), sign("k1", claims)); !errors.As(err, &ae) || ae.Kind != fault.Unauthorized || ae.Code != "invalid_token" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := v.Verify(context.Background(), sign("unknown", good)); err == nil {
		t.Error("a token signed under an unknown kid was accepted")
	}
	// An HS256 token made with the public key as secret (algorithm confusion) is refused.
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, good).SignedString(key.N.Bytes())
	if _, err := v.Verify(context.Background(), hs); err == nil {
		t.Error("an HS256 token was accepted by a JWKS-only verifier")
	}
}

func TestShortHS256SecretRefused(t *testing.T) {
	t.Parallel()
	if _, err := NewVerifier(JWTConfig{HS256Secret: "short", Env: vocab.Test}); err == nil {
		t.Fatal("a short HS256 secret was accepted")
	}
}

func TestTeamClaims(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		claim   string
		billing bool
		want    []string
	}{
		{"array of ids", `["t1","t2"]`, false, []string{"t1", "t2"}},
		{"array of objects", `[{"id":"t1","role":"member"},{"id":"t2","role":"owner"}]`, true, []string{"t2"}},
		{"object of roles", `{"t1":"admin","t2":"member","t3":true,"t4":false}`, true, []string{"t1", "t3"}},
		{"object members", `{"t1":"member"}`, false, []string{"t1"}},
		{"roles list", `{"t1":["viewer","billing"],"t2":["viewer"]}`, true, []string{"t1"}},
	}
	for _, c := range cases {
		var v any
		json.Unmarshal([]byte(c.claim), &v) //nolint:errcheck
		got := map[string]bool{}
		readTeams(v, got, c.billing)
		if len(got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
		for _, w := range c.want {
			if !got[w] {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	}
}

func TestOwnership(t *testing.T) {
	t.Parallel()
	u := &Caller{Kind: "user", ID: "u1", Env: vocab.Test, Teams: map[string]bool{"t1": true, "t2": true}, BillingTeams: map[string]bool{"t2": true}}
	k := &Caller{Kind: "apikey", ID: "7", Env: vocab.Test}
	cases := []struct {
		c    *Caller
		env  vocab.Env
		sub  Subject
		a    Action
		want bool
	}{
		{u, vocab.Test, Subject{"user", "u1"}, Manage, true},
		{u, vocab.Test, Subject{"user", "u2"}, Read, false},
		{u, vocab.Test, Subject{"team", "t1"}, Buy, true},
		{u, vocab.Test, Subject{"team", "t1"}, Manage, false},
		{u, vocab.Test, Subject{"team", "t2"}, Manage, true},
		{u, vocab.Test, Subject{"team", "t3"}, Read, false},
		{k, vocab.Test, Subject{"team", "anything"}, Manage, true},
		{k, vocab.Live, Subject{"user", "u1"}, Buy, false},
	}
	for i, c := range cases {
		if err := c.c.Authorize(c.env, c.sub, c.a); (err == nil) != c.want {
			t.Errorf("case %d: %v", i, err)
		}
	}
}

func TestOrigins(t *testing.T) {
	t.Parallel()
	o, err := ParseOrigins("https://App.Example.com:443, http://localhost:3000")
	if err != nil {
		t.Fatal(err)
	}
	for u, ok := range map[string]bool{
		"https://app.example.com/billing":          true,
		"https://app.example.com:443/x":            true,
		"http://localhost:3000/done?x=1":           true,
		"http://localhost:3001/":                   false,
		"https://app.example.com.evil.net/":        false,
		"https://evil.net/https://app.example.com": false,
		"//app.example.com/x":                      false,
		"javascript:alert(1)":                      false,
		"https://user@app.example.com/":            false,
	} {
		if err := o.CheckRedirect("success_url", u); (err == nil) != ok {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := ParseOrigins("https://app.example.com/path"); err == nil {
		t.Error("an origin with a path was accepted")
	}
	if !o.AllowsOrigin("https://app.example.com") || o.AllowsOrigin("https://app.example.com:8443") {
		t.Error("AllowsOrigin is not exact")
	}
}
