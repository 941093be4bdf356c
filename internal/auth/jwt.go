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
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig is how end-user tokens are verified.
type JWTConfig struct {
	// HS256Secret verifies HS256 tokens (BILLWIRE_JWT_HS256_SECRET).
	HS256Secret string
	// JWKSURL serves the public keys of asymmetric tokens (BILLWIRE_JWKS_URL).
	JWKSURL string
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer, Audience string
	// TeamsClaim names the claim listing the user's teams.
	TeamsClaim string
	// BillingRoleClaim names the claim granting billing rights per team.
	BillingRoleClaim string
	// HTTPClient fetches the JWKS (default: 5 s timeout).
	HTTPClient *http.Client
}

// Enabled reports whether user tokens are accepted at all.
func (c JWTConfig) Enabled() bool { return c.HS256Secret != "" || c.JWKSURL != "" }

// Verifier checks user tokens.
type Verifier struct {
	cfg    JWTConfig
	parser *jwt.Parser
	jwks   *jwks
}

// NewVerifier returns a verifier for cfg; nil when user tokens are off.
func NewVerifier(cfg JWTConfig) (*Verifier, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	if cfg.HS256Secret != "" && len(cfg.HS256Secret) < 32 {
		return nil, errors.New("BILLWIRE_JWT_HS256_SECRET must be at least 32 characters (HS256 needs a 256-bit secret)")
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
			hc = &http.Client{Timeout: 5 * time.Second}
		}
		v.jwks = &jwks{url: cfg.JWKSURL, client: hc}
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

// Verify checks token and returns its user.
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
	c := &Caller{Kind: "user", ID: sub, Teams: map[string]bool{}, BillingTeams: map[string]bool{}}
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
// {id, role}; or an object of team id → role (or true). For the billing
// claim an entry counts only with a billing role (owner, admin, billing,
// billing_admin) or true; a plain id in an array counts as granted.
func readTeams(v any, into map[string]bool, billing bool) {
	grants := func(role any) bool {
		switch r := role.(type) {
		case bool:
			return r
		case string:
			return !billing || billingRoles[r]
		case []any:
			for _, x := range r {
				if s, ok := x.(string); ok && (!billing || billingRoles[s]) {
					return true
				}
			}
		case nil:
			return !billing
		}
		return false
	}
	switch t := v.(type) {
	case []any:
		for _, x := range t {
			switch e := x.(type) {
			case string:
				into[e] = true
			case map[string]any:
				if id, ok := e["id"].(string); ok && id != "" {
					role, has := e["role"]
					if !has {
						role, has = e["roles"]
					}
					if !has || grants(role) {
						into[id] = true
					}
				}
			}
		}
	case map[string]any:
		for id, role := range t {
			if grants(role) {
				into[id] = true
			}
		}
	case string:
		if t != "" {
			into[t] = true
		}
	}
}

// jwks caches the keys of a JWKS URL, fetched again for an unknown kid (at
// most every 30 s) and every 10 minutes.
type jwks struct {
	url    string
	client *http.Client

	mu      sync.Mutex
	keys    map[string]any
	fetched time.Time
}

func (j *jwks) key(ctx context.Context, kid string) (any, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.keys[kid]; ok && time.Since(j.fetched) < 10*time.Minute {
		return k, nil
	}
	if j.keys == nil || time.Since(j.fetched) > 30*time.Second {
		if err := j.fetch(ctx); err != nil {
			if k, ok := j.keys[kid]; ok {
				return k, nil // keep serving the cached key while the JWKS is unreachable
			}
			return nil, err
		}
	}
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	if kid == "" && len(j.keys) == 1 {
		for _, k := range j.keys {
			return k, nil
		}
	}
	return nil, fmt.Errorf("no key with kid %q in the JWKS", kid)
}

func (j *jwks) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch JWKS: %s answered %d", j.url, resp.StatusCode)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("read JWKS: %w", err)
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
	j.keys, j.fetched = keys, time.Now()
	return nil
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
