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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://id.example.com"
	testAudience = "billing"
)

// keyServer is an identity provider's JWKS endpoint that a test can make
// slow or failing.
type keyServer struct {
	t       *testing.T
	srv     *httptest.Server
	fetches atomic.Int32
	priv    map[string]*rsa.PrivateKey

	mu      sync.Mutex
	serving []string      // the kids the JWKS lists
	failing bool          // answer 500
	hold    chan struct{} // when set, a fetch waits for it to close
	started chan struct{} // receives once per fetch that waits on hold
}

func newKeyServer(t *testing.T, kids ...string) *keyServer {
	t.Helper()
	ks := &keyServer{t: t, priv: map[string]*rsa.PrivateKey{}, serving: kids, started: make(chan struct{}, 100)}
	for _, kid := range kids {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		ks.priv[kid] = k
	}
	ks.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		ks.mu.Lock()
		hold, failing, serving := ks.hold, ks.failing, append([]string(nil), ks.serving...)
		ks.mu.Unlock()
		if hold != nil {
			ks.started <- struct{}{}
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		if failing {
			http.Error(w, "key server down", http.StatusInternalServerError)
			return
		}
		var keys []map[string]any
		for _, kid := range serving {
			k := ks.priv[kid]
			keys = append(keys, map[string]any{
				"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
			})
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": keys}) //nolint:errcheck
	}))
	t.Cleanup(ks.srv.Close)
	return ks
}

func (ks *keyServer) set(f func(ks *keyServer)) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	f(ks)
}

func (ks *keyServer) sign(kid string, claims jwt.MapClaims) string {
	ks.t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(ks.priv[kid])
	if err != nil {
		ks.t.Fatal(err)
	}
	return s
}

func (ks *keyServer) verifier(t *testing.T) *Verifier {
	t.Helper()
	v, err := NewVerifier(JWTConfig{JWKSURL: ks.srv.URL, Issuer: testIssuer, Audience: testAudience, Env: vocab.Test})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func userClaims(sub string) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "iss": testIssuer, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix()}
}

// ageCache makes the verifier's cached keys look as if fetched d ago.
func ageCache(v *Verifier, d time.Duration) {
	v.jwks.mu.Lock()
	v.jwks.fetched = v.jwks.fetched.Add(-d)
	v.jwks.mu.Unlock()
}

// An identity provider signs tokens for every app and tenant with the same
// keys: with a JWKS, a verifier without issuer or audience would accept
// them all, so it is refused.
func TestJWKSNeedsIssuerAndAudience(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		cfg  JWTConfig
		want []string
	}{
		"no issuer":   {JWTConfig{JWKSURL: "https://id.example.com/jwks", Audience: testAudience, Env: vocab.Test}, []string{"BILLWIRE_JWT_ISSUER"}},
		"no audience": {JWTConfig{JWKSURL: "https://id.example.com/jwks", Issuer: testIssuer, Env: vocab.Test}, []string{"BILLWIRE_JWT_AUDIENCE"}},
		"neither":     {JWTConfig{JWKSURL: "https://id.example.com/jwks", Env: vocab.Test}, []string{"BILLWIRE_JWT_ISSUER", "BILLWIRE_JWT_AUDIENCE"}},
	} {
		_, err := NewVerifier(c.cfg)
		if err == nil {
			t.Errorf("%s: a JWKS verifier was built", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not name %s", name, err, w)
			}
		}
	}
	// HS256 without issuer or audience still starts, with warnings.
	warn, err := JWTConfig{HS256Secret: strings.Repeat("s", 32), Env: vocab.Live}.Check()
	if err != nil || len(warn) != 2 || !strings.Contains(warn[0]+warn[1], "BILLWIRE_JWT_ISSUER") || !strings.Contains(warn[0]+warn[1], "BILLWIRE_JWT_AUDIENCE") {
		t.Errorf("HS256 without issuer/audience: warnings %q, %v", warn, err)
	}
	if warn, err := (JWTConfig{HS256Secret: strings.Repeat("s", 32), Env: vocab.Live, Issuer: testIssuer, Audience: testAudience}).Check(); err != nil || len(warn) != 0 {
		t.Errorf("HS256 with issuer and audience: %q, %v", warn, err)
	}
}

// Tokens the identity provider issued for another app (audience) or by
// another issuer are refused by a JWKS verifier.
func TestJWKSTokenForAnotherAppRefused(t *testing.T) {
	t.Parallel()
	ks := newKeyServer(t, "k1")
	v := ks.verifier(t)
	if _, err := v.Verify(context.Background(), ks.sign("k1", userClaims("u_1"))); err != nil {
		t.Fatalf("the app's own token: %v", err)
	}
	for name, mut := range map[string]func(jwt.MapClaims){
		"another audience":       func(c jwt.MapClaims) { c["aud"] = "other-app" },
		"audience list w/o ours": func(c jwt.MapClaims) { c["aud"] = []string{"other-app", "billing-x"} },
		"no audience":            func(c jwt.MapClaims) { delete(c, "aud") },
		"another issuer":         func(c jwt.MapClaims) { c["iss"] = "https://tenant2.id.example.com" },
		"no issuer":              func(c jwt.MapClaims) { delete(c, "iss") },
	} {
		c := userClaims("u_1")
		mut(c)
		var ae *fault.Error
		if _, err := v.Verify(context.Background(), ks.sign("k1", c)); !errors.As(err, &ae) || ae.Kind != fault.Unauthorized || ae.Code != "invalid_token" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// User tokens act in the one environment BILLWIRE_JWT_ENV names.
func TestJWTEnvRequired(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 32)
	for name, cfg := range map[string]JWTConfig{
		"hs256 without env":   {HS256Secret: secret, Issuer: testIssuer, Audience: testAudience},
		"jwks without env":    {JWKSURL: "https://id.example.com/jwks", Issuer: testIssuer, Audience: testAudience},
		"hs256 with env prod": {HS256Secret: secret, Issuer: testIssuer, Audience: testAudience, Env: "prod"},
	} {
		if _, err := NewVerifier(cfg); err == nil || !strings.Contains(err.Error(), "BILLWIRE_JWT_ENV") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := (JWTConfig{Env: "staging"}).Check(); err == nil || !strings.Contains(err.Error(), "BILLWIRE_JWT_ENV") {
		t.Errorf("a BILLWIRE_JWT_ENV that is no environment is refused even without user tokens: %v", err)
	}
	v, err := NewVerifier(JWTConfig{HS256Secret: secret, Env: vocab.Test})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u_1", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Authorize(vocab.Test, Subject{"user", "u_1"}, Manage); err != nil {
		t.Fatalf("own environment: %v", err)
	}
	for _, a := range []Action{Read, Buy, Manage} {
		var ae *fault.Error
		err := c.Authorize(vocab.Live, Subject{"user", "u_1"}, a)
		if !errors.As(err, &ae) || ae.Kind != fault.Forbidden || ae.Code != "environment_not_allowed" || !strings.Contains(ae.Message, "BILLWIRE_JWT_ENV") {
			t.Errorf("action %d on live with a test user token: %v", a, err)
		}
	}
}

// In the object forms of the billing claim an entry needs a billing role;
// in every form an entry that states nothing grants nothing.
func TestClaimEntriesWithoutRoleGrantNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		claim   string
		billing bool
		want    []string
	}{
		{`[{"id":"t1"}]`, true, nil},
		{`[{"id":"t1","role":""}]`, true, nil},
		{`[{"id":"t1","role":null}]`, true, nil},
		{`[{"id":"t1","roles":[]}]`, true, nil},
		{`[{"id":"t1","role":"member"}]`, true, nil},
		{`{"t1":""}`, true, nil},
		{`{"t1":"member"}`, true, nil},
		{`{"t1":null}`, true, nil},
		{`{"t1":[]}`, true, nil},
		{`{"t1":{"role":"owner"}}`, true, nil},
		// The documented grants stay.
		{`["t1"]`, true, []string{"t1"}},
		{`"t1"`, true, []string{"t1"}},
		{`{"t1":"admin"}`, true, []string{"t1"}},
		{`[{"id":"t1","role":"owner"}]`, true, []string{"t1"}},
		{`[{"id":"t1","roles":["viewer","billing"]}]`, true, []string{"t1"}},
		{`{"t1":true}`, true, []string{"t1"}},
		// The teams claim: an entry with a null or empty role is no membership.
		{`{"t1":null}`, false, nil},
		{`{"t1":""}`, false, nil},
		{`{"t1":[]}`, false, nil},
		{`[{"id":"t1","role":""}]`, false, nil},
		{`[{"id":"t1","role":null}]`, false, nil},
		{`[{"id":""}]`, false, nil},
		{`[{"id":"t1"}]`, false, []string{"t1"}},
		{`{"t1":"member"}`, false, []string{"t1"}},
		{`[{"id":"t1","role":"member"}]`, false, []string{"t1"}},
	}
	for _, c := range cases {
		var v any
		if err := json.Unmarshal([]byte(c.claim), &v); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		readTeams(v, got, c.billing)
		if len(got) != len(c.want) {
			t.Errorf("billing=%v %s: got %v, want %v", c.billing, c.claim, got, c.want)
			continue
		}
		for _, w := range c.want {
			if !got[w] {
				t.Errorf("billing=%v %s: got %v, want %v", c.billing, c.claim, got, c.want)
			}
		}
	}
}

// While a fetch for an unknown kid waits on a slow key server, a token
// with a cached kid is verified at once, and concurrent requests for the
// unknown kid share that one fetch.
func TestJWKSSlowKeyServerDoesNotBlockKnownKid(t *testing.T) {
	t.Parallel()
	ks := newKeyServer(t, "k1", "k2")
	ks.set(func(ks *keyServer) { ks.serving = []string{"k1"} })
	v := ks.verifier(t)
	ctx := context.Background()
	known := ks.sign("k1", userClaims("u_1"))
	if _, err := v.Verify(ctx, known); err != nil {
		t.Fatal(err)
	}
	ageCache(v, time.Minute) // an unknown kid may fetch again
	release := make(chan struct{})
	ks.set(func(ks *keyServer) { ks.serving, ks.hold = []string{"k1", "k2"}, release })
	const n = 5
	errs := make(chan error, n)
	rotated := ks.sign("k2", userClaims("u_2"))
	for range n {
		go func() { _, err := v.Verify(ctx, rotated); errs <- err }()
	}
	select {
	case <-ks.started:
	case <-time.After(5 * time.Second):
		t.Fatal("no JWKS fetch for the unknown kid")
	}
	// The key server holds the fetch until release: a verification that
	// waited for it would not end within the second.
	done := make(chan error, 1)
	go func() { _, err := v.Verify(ctx, known); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("cached kid during a slow fetch: %v", err)
		}
	case <-time.After(time.Second):
		t.Error("a token with a cached kid waited for the slow key server")
	}
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("token of the rotated key after the fetch: %v", err)
		}
	}
	if got := ks.fetches.Load(); got != 2 {
		t.Errorf("%d concurrent requests for an unknown kid made %d fetches, want 1 shared", n, got-1)
	}
}

// After a failed fetch, requests during the backoff do not fetch again;
// after it, one does.
func TestJWKSFailedFetchBacksOff(t *testing.T) {
	t.Parallel()
	ks := newKeyServer(t, "k1")
	ks.set(func(ks *keyServer) { ks.failing = true })
	v := ks.verifier(t)
	ctx := context.Background()
	tok := ks.sign("k1", userClaims("u_1"))
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, tok); err == nil {
				t.Error("a token was accepted without keys")
			}
		})
	}
	wg.Wait()
	for range 10 {
		_, err := v.Verify(ctx, tok)
		var ae *fault.Error
		if !errors.As(err, &ae) || ae.Kind != fault.Unauthorized || strings.Contains(ae.Message, ks.srv.URL) {
			t.Errorf("during backoff: %v (401 without the key server's address)", err)
		}
	}
	if got := ks.fetches.Load(); got != 1 {
		t.Fatalf("20 requests while the key server fails made %d fetches, want 1 then backoff", got)
	}
	time.Sleep(1100 * time.Millisecond) // the first backoff is 1 s
	if _, err := v.Verify(ctx, tok); err == nil {
		t.Fatal("accepted without keys")
	}
	if got := ks.fetches.Load(); got != 2 {
		t.Fatalf("after the backoff: %d fetches, want 2", got)
	}
	for range 10 {
		v.Verify(ctx, tok) //nolint:errcheck
	}
	if got := ks.fetches.Load(); got != 2 {
		t.Fatalf("during the second backoff: %d fetches, want 2", got)
	}
	v.jwks.mu.Lock()
	b := v.jwks.backoff
	v.jwks.mu.Unlock()
	if b != 2*time.Second {
		t.Errorf("second backoff %v, want 2s (doubling from 1s)", b)
	}
}

// When the cached keys are due for a refresh and the key server fails, the
// cached keys keep verifying at once, and the refresh backs off.
func TestJWKSCachedKeysServeWhileKeyServerFails(t *testing.T) {
	t.Parallel()
	ks := newKeyServer(t, "k1")
	v := ks.verifier(t)
	ctx := context.Background()
	tok := ks.sign("k1", userClaims("u_1"))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	ks.set(func(ks *keyServer) { ks.failing = true })
	ageCache(v, 11*time.Minute)
	for range 20 {
		start := time.Now()
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("cached key while the key server fails: %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("a cached key took %v", d)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for ks.fetches.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if got := ks.fetches.Load(); got != 2 {
		t.Errorf("stale keys with a failing key server: %d fetches, want 1 refresh then backoff", got-1)
	}
}
