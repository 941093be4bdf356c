// Package auth decides who calls billwire's session API and for which
// subjects: server-to-server API keys (bwk_…), end-user JWTs (HS256 or a
// JWKS), the ownership rules between callers and subjects, and the origins
// that CORS and redirect URLs are bound to. Nothing is open by default.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/lazyre"
	"github.com/billwire/billwire/internal/vocab"
)

// APIKeyPrefix starts every billwire API key.
const APIKeyPrefix = "bwk_"

// NewAPIKey returns a fresh key, the hash to store and a hint safe to show.
func NewAPIKey() (key string, hash []byte, hint string) {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashAPIKey(key), MaskAPIKey(key)
}

// HashAPIKey is the stored form of a key.
func HashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// MaskAPIKey shows a key as bwk_…last4.
func MaskAPIKey(key string) string {
	if len(key) < len(APIKeyPrefix)+8 {
		return APIKeyPrefix + "…"
	}
	return APIKeyPrefix + "…" + key[len(key)-4:]
}

// Subject is who billing belongs to: a user or a team of the app.
type Subject struct {
	Type string `json:"type" jsonschema:"required,enum=user,enum=team" jsonschema_description:"user or team"`
	ID   string `json:"id" jsonschema:"required" jsonschema_description:"the app's id of the user or team"`
}

func (s Subject) String() string { return s.Type + ":" + s.ID }

var subjectIDRE = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9_.@:|-]{0,127}$`)

// Validate checks a subject's type and id.
func (s Subject) Validate() error {
	switch {
	case strings.TrimSpace(s.Type) == "" || strings.TrimSpace(s.ID) == "":
		return errors.New("subject needs both type and id: {\"type\": \"user\" | \"team\", \"id\": \"…\"}")
	case s.Type != "user" && s.Type != "team":
		return fmt.Errorf("subject.type %q is not supported: use \"user\" or \"team\"", s.Type)
	case !subjectIDRE().MatchString(s.ID):
		return fmt.Errorf("subject.id %q is not valid: 1 to 128 characters, letters, digits and _ . @ : | - (starting with a letter or digit)", s.ID)
	}
	return nil
}

// Action is what a caller wants to do for a subject.
type Action int

// The actions the ownership rules distinguish.
const (
	// Read shows the subject's billing state.
	Read Action = iota
	// Buy starts a new checkout.
	Buy
	// Manage changes existing billing: the portal, plan changes, cancellation.
	Manage
)

// Caller is an authenticated requester.
type Caller struct {
	// Kind is apikey, user or mcp.
	Kind string
	// ID is the API key's id or the user's sub.
	ID string
	// Name is the API key's name.
	Name string
	// Env binds an API key, or a user token (BILLWIRE_JWT_ENV), to its
	// environment.
	Env vocab.Env
	// Teams and BillingTeams come from the user's token claims.
	Teams, BillingTeams map[string]bool
}

// Requester names the caller in billwire's rows; idempotency keys are scoped to it.
func (c *Caller) Requester() string {
	switch c.Kind {
	case "apikey":
		return "apikey:" + c.ID
	case "user":
		return "user:" + c.ID
	}
	return c.Kind
}

// APIKeyCaller is the caller an API key authenticates: the stored key's id
// and name, and the environment it is bound to.
func APIKeyCaller(id int64, name string, env vocab.Env) *Caller {
	return &Caller{Kind: "apikey", ID: strconv.FormatInt(id, 10), Name: name, Env: env}
}

// MCPCaller is the agent, through billwire's own MCP tools (test only).
var MCPCaller = &Caller{Kind: "mcp"}

// unauthorized is an authentication refusal (a fault.Unauthorized).
func unauthorized(code, format string, args ...any) error {
	return fault.New(fault.Unauthorized, code, format, args...)
}

// forbidden is an authorization refusal (a fault.Forbidden, code forbidden).
func forbidden(format string, args ...any) error {
	return fault.New(fault.Forbidden, "forbidden", format, args...)
}

// CheckEnv refuses a caller bound to another environment than env: an API
// key acts in its own, a user token in BILLWIRE_JWT_ENV's (403
// environment_not_allowed, so a test deployment's users cannot start live
// checkouts, nor a live deployment's users test-card ones).
func (c *Caller) CheckEnv(env vocab.Env) error {
	switch c.Kind {
	case "apikey":
		if c.Env != env {
			return forbidden("this API key belongs to the %s environment; use a %s key for /api/payments/%s", c.Env, env, env)
		}
	case "user":
		if c.Env == "" {
			return fault.New(fault.Forbidden, "environment_not_allowed", "user tokens are bound to no environment: set BILLWIRE_JWT_ENV (test or live) on billwire serve")
		}
		if c.Env != env {
			return fault.New(fault.Forbidden, "environment_not_allowed",
				"user tokens act in the %s environment only (BILLWIRE_JWT_ENV=%s on billwire serve): use /api/payments/%s/…, or call /api/payments/%s/… from the app's backend with a %s API key",
				c.Env, c.Env, c.Env, env, env)
		}
	}
	return nil
}

// Authorize applies the ownership rules: a caller acts in its environment
// only (CheckEnv); an API key or billwire's own agent may name any subject;
// a user may act for itself, for a team its token lists, and change a
// team's existing billing only with the billing role.
func (c *Caller) Authorize(env vocab.Env, sub Subject, a Action) error {
	if err := c.CheckEnv(env); err != nil {
		return err
	}
	switch c.Kind {
	case "mcp", "apikey":
		return nil
	case "user":
	default:
		return forbidden("unknown caller")
	}
	switch sub.Type {
	case "user":
		if sub.ID != c.ID {
			return forbidden("a user token may only act for its own user (subject {type: user, id: %q})", c.ID)
		}
		return nil
	case "team":
		if !c.Teams[sub.ID] {
			return forbidden("the token does not list team %q among the user's teams", sub.ID)
		}
		if a == Manage && !c.BillingTeams[sub.ID] {
			return forbidden("the user is a member of team %q but has no billing rights for it", sub.ID)
		}
		return nil
	}
	return forbidden("subject type %q is not supported", sub.Type)
}

// BearerToken returns the token of an Authorization header.
func BearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
