package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig is how end-user tokens are verified.
type JWTConfig struct {
	// HS256Secret verifies HS256 tokens (BILLWIRE_JWT_HS256_SECRET).
	HS256Secret string
	// JWKSURL serves the public keys of asymmetric tokens (BILLWIRE_JWKS_URL).
	JWKSURL string
	// Issuer and Audience must match the token's iss and aud; both are
	// required with a JWKS (BILLWIRE_JWT_ISSUER, BILLWIRE_JWT_AUDIENCE).
	Issuer, Audience string
	// Env is the one environment user tokens act in (BILLWIRE_JWT_ENV),
	// required when user tokens are on.
	Env vocab.Env
	// TeamsClaim names the claim listing the user's teams.
	TeamsClaim string
	// BillingRoleClaim names the claim granting billing rights per team.
	BillingRoleClaim string
	// HTTPClient fetches the JWKS (default: 5 s timeout).
	HTTPClient *http.Client
	// OnJWKSError, when set, hears of every failed JWKS fetch (for the log:
	// end users only learn that the keys are unavailable).
	OnJWKSError func(error)
}

// Enabled reports whether user tokens are accepted at all.
func (c JWTConfig) Enabled() bool { return c.HS256Secret != "" || c.JWKSURL != "" }

// Check validates the configuration: an error refuses it (billwire serve
// does not start), a warning is for the start-up log.
func (c JWTConfig) Check() (warnings []string, err error) {
	var errs []error
	if c.Env != "" && c.Env != vocab.Test && c.Env != vocab.Live {
		errs = append(errs, fmt.Errorf("BILLWIRE_JWT_ENV is %q: set it to test or live, the one environment end users' tokens act in", string(c.Env)))
	}
	if !c.Enabled() {
		return nil, errors.Join(errs...)
	}
	if c.Env == "" {
		errs = append(errs, errors.New("BILLWIRE_JWT_ENV is required with user tokens (BILLWIRE_JWT_HS256_SECRET or BILLWIRE_JWKS_URL): "+
			"set it to test or live, the one environment whose /api/payments/{env}/ routes end users' tokens may use; without it one token would act in both"))
	}
	if c.HS256Secret != "" && len(c.HS256Secret) < 32 {
		errs = append(errs, errors.New("BILLWIRE_JWT_HS256_SECRET must be at least 32 characters (HS256 needs a 256-bit secret)"))
	}
	if c.JWKSURL != "" {
		if u, perr := url.Parse(c.JWKSURL); perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, errors.New("BILLWIRE_JWKS_URL must be an absolute http(s) URL of the identity provider's key set (e.g. https://id.example.com/.well-known/jwks.json)"))
		}
		if c.Issuer == "" {
			errs = append(errs, errors.New("BILLWIRE_JWT_ISSUER is required with BILLWIRE_JWKS_URL: without it, tokens of any issuer signed with that key set's keys would be accepted; "+
				"set it to the iss claim of your identity provider's tokens (e.g. https://id.example.com/)"))
		}
		if c.Audience == "" {
			errs = append(errs, errors.New("BILLWIRE_JWT_AUDIENCE is required with BILLWIRE_JWKS_URL: without it, tokens for any audience would be accepted "+
				"(an identity provider signs the tokens of all its apps with the same keys); set it to the aud claim of this app's tokens"))
		}
	} else {
		if c.Issuer == "" {
			warnings = append(warnings, "BILLWIRE_JWT_ISSUER is not set: HS256 tokens of any issuer made with the secret are accepted; set it to the iss claim the app's tokens carry")
		}
		if c.Audience == "" {
			warnings = append(warnings, "BILLWIRE_JWT_AUDIENCE is not set: HS256 tokens for any audience made with the secret are accepted; set it to the aud claim the app's tokens for billwire carry")
		}
	}
	return warnings, errors.Join(errs...)
}

// Verifier checks user tokens.
type Verifier struct {
	cfg    JWTConfig
	parser *jwt.Parser
	jwks   *jwks
}

// NewVerifier returns a verifier for cfg; nil when user tokens are off. A
// configuration Check refuses is an error.
func NewVerifier(cfg JWTConfig) (*Verifier, error) {
	if _, err := cfg.Check(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, nil
	}
	var methods []string
	if cfg.HS256Secret != "" {
		methods = append(methods, "HS256")
	}
	v := &Verifier{cfg: cfg}
	if cfg.JWKSURL != "" {
		methods = append(methods, "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
		hc := cfg.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: jwksFetchTimeout}
		}
		v.jwks = &jwks{url: cfg.JWKSURL, client: hc, onError: cfg.OnJWKSError}
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithLeeway(30 * time.Second)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Verify checks token and returns its user, bound to the configured
// environment.
func (v *Verifier) Verify(ctx context.Context, token string) (*Caller, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() == "HS256" {
			return []byte(v.cfg.HS256Secret), nil
		}
		kid, _ := t.Header["kid"].(string)
		return v.jwks.key(ctx, kid)
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, unauthorized("token_expired", "the bearer token has expired; get a fresh token from the app's sign-in and retry")
	case err != nil:
		return nil, unauthorized("invalid_token", "the bearer token was not accepted: %v", err)
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, unauthorized("invalid_token", "the bearer token has no sub claim naming the user")
	}
	c := &Caller{Kind: "user", ID: sub, Env: v.cfg.Env, Teams: map[string]bool{}, BillingTeams: map[string]bool{}}
	if v.cfg.TeamsClaim != "" {
		readTeams(claims[v.cfg.TeamsClaim], c.Teams, false)
	}
	if v.cfg.BillingRoleClaim != "" {
		readTeams(claims[v.cfg.BillingRoleClaim], c.BillingTeams, true)
	}
	return c, nil
}

// billingRoles are the role names that grant billing rights.
var billingRoles = map[string]bool{"owner": true, "admin": true, "billing": true, "billing_admin": true}

// readTeams reads a team claim: an array of team ids; an array of objects
// {id, role} or {id, roles}; or an object of team id → role, roles or true.
// A plain id (in an array, or the claim a single string) counts as granted.
// Where an entry carries a role, the role decides: for the billing claim a
// billing role (owner, admin, billing, billing_admin) or true, for the teams
// claim any non-empty role or true. In the billing claim an object entry
// without a role grants nothing; in the teams claim {"id": "t1"} is a
// membership. Null, empty, false and any other value grant nothing.
func readTeams(v any, into map[string]bool, billing bool) {
	switch t := v.(type) {
	case []any:
		for _, x := range t {
			switch e := x.(type) {
			case string:
				if e != "" {
					into[e] = true
				}
			case map[string]any:
				id, _ := e["id"].(string)
				if id == "" {
					continue
				}
				role, has := e["role"]
				if !has {
					role, has = e["roles"]
				}
				if (!has && !billing) || (has && roleGrants(role, billing)) {
					into[id] = true
				}
			}
		}
	case map[string]any:
		for id, role := range t {
			if id != "" && roleGrants(role, billing) {
				into[id] = true
			}
		}
	case string:
		if t != "" {
			into[t] = true
		}
	}
}

// roleGrants reports whether a role value grants billing (or, for the
// teams claim, membership).
func roleGrants(role any, billing bool) bool {
	name := func(s string) bool {
		if billing {
			return billingRoles[s]
		}
		return s != ""
	}
	switch r := role.(type) {
	case bool:
		return r
	case string:
		return name(r)
	case []any:
		for _, x := range r {
			if s, ok := x.(string); ok && name(s) {
				return true
			}
		}
	}
	return false
}

// The JWKS cache's timings.
const (
	// jwksMaxAge is when cached keys are fetched again, in the background:
	// requests keep being verified with them meanwhile.
	jwksMaxAge = 10 * time.Minute
	// jwksUnknownKidInterval is how often at most a token under a kid the
	// cache does not hold makes billwire fetch the key set (a rotation).
	jwksUnknownKidInterval = 30 * time.Second
	// jwksBackoffMin and jwksBackoffMax bound the wait after a failed fetch,
	// doubling from the first to the second.
	jwksBackoffMin = time.Second
	jwksBackoffMax = time.Minute
	// jwksFetchTimeout bounds one fetch.
	jwksFetchTimeout = 5 * time.Second
)

// errKeysUnavailable is what a request learns when no cached key verifies
// its token and the key set cannot be fetched; the detail goes to the log.
var errKeysUnavailable = errors.New("billwire could not fetch the identity provider's keys (BILLWIRE_JWKS_URL) to verify it; retry shortly")

// jwks caches the keys of a JWKS URL. Fetches run in their own goroutine,
// one at a time, never under the lock requests take: a token under a cached
// kid is verified at once (stale keys are refreshed in the background);
// one under an unknown kid waits for the fetch in flight, or starts one at
// most every jwksUnknownKidInterval. After a failed fetch no other starts
// before a backoff (1 s doubling to a minute); the cached keys stay in use.
type jwks struct {
	url     string
	client  *http.Client
	onError func(error)

	mu       sync.Mutex
	keys     map[string]any
	fetched  time.Time     // the last successful fetch
	fetching chan struct{} // closed when the fetch in flight ends; nil when none is
	lastErr  error         // the last fetch's error; nil after a success
	retryAt  time.Time     // after a failure, no fetch starts before this
	backoff  time.Duration // the wait after the last failure
}

func (j *jwks) key(ctx context.Context, kid string) (any, error) {
	j.mu.Lock()
	now := time.Now()
	if k, ok := j.lookup(kid); ok {
		if now.Sub(j.fetched) >= jwksMaxAge {
			j.startLocked(now)
		}
		j.mu.Unlock()
		return k, nil
	}
	wait := j.fetching
	if wait == nil && (j.keys == nil || now.Sub(j.fetched) >= jwksUnknownKidInterval) {
		wait = j.startLocked(now)
	}
	j.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.lookup(kid); ok {
		return k, nil
	}
	if j.lastErr != nil {
		return nil, errKeysUnavailable
	}
	return nil, fmt.Errorf("no key with kid %q in the identity provider's key set", kid)
}

// lookup finds kid among the cached keys (a token without kid matches a
// key set of one key).
func (j *jwks) lookup(kid string) (any, bool) {
	if k, ok := j.keys[kid]; ok {
		return k, true
	}
	if kid == "" && len(j.keys) == 1 {
		for _, k := range j.keys {
			return k, true
		}
	}
	return nil, false
}

// startLocked starts a fetch unless one is in flight (it returns that one)
// or a failure's backoff has not passed (nil). j.mu is held.
func (j *jwks) startLocked(now time.Time) chan struct{} {
	if j.fetching != nil {
		return j.fetching
	}
	if now.Before(j.retryAt) {
		return nil
	}
	done := make(chan struct{})
	j.fetching = done
	go func() {
		keys, err := j.fetch()
		j.mu.Lock()
		if err != nil {
			j.lastErr = err
			j.backoff = min(max(2*j.backoff, jwksBackoffMin), jwksBackoffMax)
			j.retryAt = time.Now().Add(j.backoff)
		} else {
			j.keys, j.fetched, j.lastErr, j.backoff, j.retryAt = keys, time.Now(), nil, 0, time.Time{}
		}
		j.fetching = nil
		j.mu.Unlock()
		close(done)
		if err != nil && j.onError != nil {
			j.onError(err)
		}
	}()
	return done
}

// fetch reads the key set. It is nobody's request: a request that stops
// waiting does not cancel it.
func (j *jwks) fetch() (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: %s answered %d", j.url, resp.StatusCode)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("read JWKS from %s: %w", j.url, err)
	}
	keys := map[string]any{}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if pk, err := k.public(); err == nil {
			keys[k.Kid] = pk
		}
	}
	if len(keys) == 0 {
		// A key set without a usable key is a broken answer, not a rotation
		// to no keys: keep the cached ones.
		return nil, fmt.Errorf("read JWKS from %s: no usable signing key among its %d keys", j.url, len(set.Keys))
	}
	return keys, nil
}

// jwk is one JSON Web Key (RFC 7517) of the kinds tokens are signed with.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (k jwk) public() (any, error) {
	dec := base64.RawURLEncoding.DecodeString
	switch k.Kty {
	case "RSA":
		n, err1 := dec(k.N)
		e, err2 := dec(k.E)
		if err := errors.Join(err1, err2); err != nil || len(n) < 256 {
			return nil, errors.New("bad RSA key (at least 2048 bits)")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, errors.New("unsupported curve")
		}
		x, err1 := dec(k.X)
		y, err2 := dec(k.Y)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		pk := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if !curve.IsOnCurve(pk.X, pk.Y) { //nolint:staticcheck // the point check is what we want here
			return nil, errors.New("EC point not on curve")
		}
		return pk, nil
	case "OKP":
		x, err := dec(k.X)
		if err != nil || k.Crv != "Ed25519" || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, errors.New("unsupported key type")
}
