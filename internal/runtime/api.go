package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/checkout"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/usage"
	"github.com/billwire/billwire/internal/vocab"
)

// APIConfig is who may call the session API and where it may send browsers.
type APIConfig struct {
	// JWT verifies end-user tokens; off when neither secret nor JWKS is set.
	JWT auth.JWTConfig
	// Origins bounds CORS and redirect URLs (BILLWIRE_ALLOWED_ORIGINS).
	Origins auth.Origins
	// PublicURL is billwire's own public base URL (BILLWIRE_PUBLIC_URL).
	PublicURL string
	// Rates limit session creation; nil means DefaultSessionRates.
	Rates *SessionRates
}

// api serves /api/payments/{env}/….
type api struct {
	log      zerolog.Logger
	svc      *billing.Service
	store    *store.Store
	verifier *auth.Verifier
	origins  auth.Origins
	limits   *sessionLimits
	usage    *usage.Intake

	mu   sync.Mutex
	keys map[string]cachedKey // by key hash
}

// apiKeyTTL is how long a verified API key is trusted without asking the
// database again; a revoked key stops working within it.
const apiKeyTTL = 5 * time.Second

type cachedKey struct {
	key   *store.APIKey
	until time.Time
}

func newAPI(svc *billing.Service, st *store.Store, cfg APIConfig, log zerolog.Logger) (*api, error) {
	if cfg.JWT.OnJWKSError == nil {
		cfg.JWT.OnJWKSError = func(err error) {
			log.Warn().Err(err).Msg("session API: fetching BILLWIRE_JWKS_URL failed; cached keys stay in use, retrying with backoff")
		}
	}
	v, err := auth.NewVerifier(cfg.JWT)
	if err != nil {
		return nil, err
	}
	return &api{log: log, svc: svc, store: st, verifier: v, origins: cfg.Origins,
		limits: newSessionLimits(cfg.Rates), usage: usage.NewIntake(st), keys: map[string]cachedKey{}}, nil
}

func (a *api) mount(mux *http.ServeMux) {
	mux.Handle("POST /api/payments/{env}/checkout-sessions", a.handle(a.checkout))
	mux.Handle("POST /api/payments/{env}/portal-sessions", a.handle(a.portal))
	mux.Handle("GET /api/payments/{env}/subjects/{type}/{id}", a.handle(a.subject))
	mux.Handle("GET /api/payments/{env}/subjects/{type}/{id}/entitlements/{feature}", a.handle(a.entitlement))
	mux.Handle("GET /api/payments/{env}/subjects/{type}/{id}/usage", a.handle(a.subjectUsage))
	mux.Handle("POST /api/payments/{env}/subscriptions/{id}/preview", a.handle(a.lifecycle(a.previewChange)))
	mux.Handle("POST /api/payments/{env}/subscriptions/{id}/change", a.handle(a.lifecycle(a.change)))
	mux.Handle("POST /api/payments/{env}/subscriptions/{id}/cancel", a.handle(a.lifecycle(a.cancel)))
	mux.Handle("POST /api/payments/{env}/subscriptions/{id}/resume", a.handle(a.lifecycle(a.resume)))
	mux.Handle("POST /api/payments/{env}/usage", a.handle(a.ingestUsage))
	mux.HandleFunc("OPTIONS /api/payments/", a.preflight)
}

// apiError is the JSON body of every refusal.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="billwire"`)
	}
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

// handle authenticates the caller, checks the environment and maps errors
// to {code, message}.
func (a *api) handle(fn func(r *http.Request, env vocab.Env, c *auth.Caller) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" {
			if !a.origins.AllowsOrigin(origin) {
				writeError(w, http.StatusForbidden, "origin_not_allowed", fmt.Sprintf("origin %s is not in BILLWIRE_ALLOWED_ORIGINS", origin))
				return
			}
			a.cors(w, origin)
		}
		env, err := vocab.ParseEnv(r.PathValue("env"))
		if err != nil {
			writeError(w, http.StatusNotFound, "unknown_environment", err.Error())
			return
		}
		caller, err := a.authenticate(r.Context(), r)
		if err == nil {
			err = caller.CheckEnv(env) // before the body is read or anything is written
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		status, out, err := fn(r, env, caller)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.log.Debug().Str("method", r.Method).Str("path", r.URL.Path).Int("status", status).Str("caller", caller.Requester()).Msg("session API")
		writeJSON(w, status, out)
	})
}

// fail answers a refusal. Refusals about the request say what to fix; a
// failure upstream (Stripe, the database) answers its code with a generic
// message to every caller, API keys included (an app's backend may relay
// the message to its users), and its detail goes to the log, redacted.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := http.StatusServiceUnavailable, "database_unavailable", "billwire's database is unavailable; retry shortly"
	detail := ""
	var rl *rateLimited
	f, refused := fault.As(err)
	switch {
	case errors.As(err, &rl):
		ev := a.log.Debug()
		if a.limits.logNow() { // a flood of refusals is not a flood of log lines
			ev = a.log.Info()
		}
		ev.Str("method", r.Method).Str("path", r.URL.Path).Str("limit", rl.what).Str("setting", rl.setting).
			Str("rate", rl.rate.String()).Msg("session API: rate limited (logged at info at most every 10 s)")
		rl.write(w, r)
		return
	case refused:
		status, code, msg = statusOf(f.Kind), f.Code, f.Message
		if f.Cause != nil {
			detail = f.Cause.Error()
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code, msg = "timeout", "the request was cancelled or timed out; retry it"
	default:
		detail = err.Error()
	}
	ev := a.log.Info()
	if status >= 500 {
		ev = a.log.Warn()
	}
	if detail != "" {
		ev = ev.Str("error", secrets.Redact(detail))
	}
	ev.Str("method", r.Method).Str("path", r.URL.Path).Int("status", status).Str("code", code).Msg("session API refused")
	writeError(w, status, code, msg)
}

// statuses are the HTTP statuses of the refusals by kind; fault.Internal
// and any kind not listed are 500.
var statuses = map[fault.Kind]int{
	fault.Invalid:      http.StatusBadRequest,
	fault.Unauthorized: http.StatusUnauthorized,
	fault.Forbidden:    http.StatusForbidden,
	fault.NotFound:     http.StatusNotFound,
	fault.Conflict:     http.StatusConflict,
	fault.Upstream:     http.StatusBadGateway,
	fault.Unavailable:  http.StatusServiceUnavailable,
}

// statusOf is the HTTP status of a refusal of kind k.
func statusOf(k fault.Kind) int {
	if status, ok := statuses[k]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// authenticate accepts an API key (bwk_…) or an end-user JWT as a bearer token.
func (a *api) authenticate(ctx context.Context, r *http.Request) (*auth.Caller, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, fault.New(fault.Unauthorized, "unauthenticated", "missing credentials: send Authorization: Bearer <bwk_… API key or the user's token>")
	}
	tok, ok := auth.BearerToken(h)
	if !ok {
		return nil, fault.New(fault.Unauthorized, "unauthenticated", "the Authorization header must be \"Bearer <token>\"")
	}
	if strings.HasPrefix(tok, auth.APIKeyPrefix) {
		k, err := a.apiKey(ctx, auth.HashAPIKey(tok))
		if errors.Is(err, store.ErrNotFound) {
			return nil, fault.New(fault.Unauthorized, "invalid_api_key", "API key %s is unknown or revoked; create one with `billwire apikeys create`", auth.MaskAPIKey(tok))
		}
		if err != nil {
			return nil, err
		}
		if k.Scope != vocab.ScopeSession {
			return nil, fault.New(fault.Forbidden, "wrong_key_scope", "API key %s (%q) has scope %s, which opens MCP over HTTP (/mcp), not the session API; the app's backend needs a session key: `billwire apikeys create --env %s --name app-backend`", auth.MaskAPIKey(tok), k.Name, k.Scope, k.Env)
		}
		return auth.APIKeyCaller(k.ID, k.Name, k.Env), nil
	}
	if a.verifier == nil {
		return nil, fault.New(fault.Unauthorized, "invalid_token", "user tokens are not accepted: billwire serve has neither BILLWIRE_JWT_HS256_SECRET nor BILLWIRE_JWKS_URL set")
	}
	return a.verifier.Verify(ctx, tok)
}

// apiKey looks a key up, trusting a recent answer for apiKeyTTL.
func (a *api) apiKey(ctx context.Context, hash []byte) (*store.APIKey, error) {
	now := time.Now()
	a.mu.Lock()
	c, ok := a.keys[string(hash)]
	a.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.key, nil
	}
	k, err := a.store.APIKeyByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.keys) > 10000 {
		clear(a.keys)
	}
	a.keys[string(hash)] = cachedKey{key: k, until: now.Add(apiKeyTTL)}
	a.mu.Unlock()
	return k, nil
}

func (a *api) cors(w http.ResponseWriter, origin string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
}

// preflight answers CORS preflights for allowed origins only.
func (a *api) preflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || !a.origins.AllowsOrigin(origin) {
		writeError(w, http.StatusForbidden, "origin_not_allowed", fmt.Sprintf("origin %q is not in BILLWIRE_ALLOWED_ORIGINS", origin))
		return
	}
	a.cors(w, origin)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// decode reads a JSON body strictly.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fault.New(fault.Invalid, "invalid_json", "the body must be one JSON object of the documented shape: %s", err)
	}
	return nil
}

func (a *api) checkout(r *http.Request, env vocab.Env, c *auth.Caller) (int, any, error) {
	if err := a.limits.early(env, c); err != nil {
		return 0, nil, err
	}
	var req checkout.CheckoutRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	done, err := a.limits.take(env, c, req.Subject, auth.Buy)
	if err != nil {
		return 0, nil, err
	}
	res, err := a.svc.Checkout().CreateCheckout(r.Context(), env, c, a.origins, req)
	done(err)
	if err != nil {
		return 0, nil, err
	}
	if res.Replayed {
		return http.StatusOK, res, nil
	}
	return http.StatusCreated, res, nil
}

func (a *api) portal(r *http.Request, env vocab.Env, c *auth.Caller) (int, any, error) {
	if err := a.limits.early(env, c); err != nil {
		return 0, nil, err
	}
	var req checkout.PortalRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	done, err := a.limits.take(env, c, req.Subject, auth.Manage)
	if err != nil {
		return 0, nil, err
	}
	res, err := a.svc.Checkout().CreatePortal(r.Context(), env, c, a.origins, req)
	done(err)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, res, nil
}

func (a *api) subject(r *http.Request, env vocab.Env, c *auth.Caller) (int, any, error) {
	res, err := a.svc.Checkout().GetSubjectBilling(r.Context(), env, c, auth.Subject{Type: r.PathValue("type"), ID: r.PathValue("id")})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}

func (a *api) entitlement(r *http.Request, env vocab.Env, c *auth.Caller) (int, any, error) {
	res, err := a.svc.SubjectEntitlement(r.Context(), env, c, auth.Subject{Type: r.PathValue("type"), ID: r.PathValue("id")}, r.PathValue("feature"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}

// lifecycle rate-limits a subscription route (each calls Stripe) by its
// caller, refunding refusals made before Stripe was asked.
func (a *api) lifecycle(fn func(r *http.Request, env vocab.Env, c *auth.Caller, id string) (int, any, error)) func(r *http.Request, env vocab.Env, c *auth.Caller) (int, any, error) {
	return func(r *http.Request, env vocab.Env, c *auth.Caller) (int, any, error) {
		if err := a.limits.early(env, c); err != nil {
			return 0, nil, err
		}
		done, err := a.limits.take(env, c, auth.Subject{}, auth.Manage)
		if err != nil {
			return 0, nil, err
		}
		status, out, err := fn(r, env, c, r.PathValue("id"))
		done(err)
		return status, out, err
	}
}

func (a *api) previewChange(r *http.Request, env vocab.Env, c *auth.Caller, id string) (int, any, error) {
	var req checkout.PreviewRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	res, err := a.svc.Checkout().PreviewSubscriptionChange(r.Context(), env, c, id, req)
	return http.StatusOK, res, err
}

func (a *api) change(r *http.Request, env vocab.Env, c *auth.Caller, id string) (int, any, error) {
	var req checkout.ChangeRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	res, err := a.svc.Checkout().ChangeSubscription(r.Context(), env, c, id, req)
	return http.StatusOK, res, err
}

func (a *api) cancel(r *http.Request, env vocab.Env, c *auth.Caller, id string) (int, any, error) {
	var req checkout.CancelRequest
	if err := decodeOptional(r, &req); err != nil {
		return 0, nil, err
	}
	res, err := a.svc.Checkout().CancelSubscription(r.Context(), env, c, id, req)
	return http.StatusOK, res, err
}

func (a *api) resume(r *http.Request, env vocab.Env, c *auth.Caller, id string) (int, any, error) {
	var req struct{}
	if err := decodeOptional(r, &req); err != nil {
		return 0, nil, err
	}
	res, err := a.svc.Checkout().ResumeSubscription(r.Context(), env, c, id)
	return http.StatusOK, res, err
}

// decodeOptional is decode for a body that may be empty.
func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decode(r, v)
}

func (a *api) subjectUsage(r *http.Request, env vocab.Env, c *auth.Caller) (int, any, error) {
	res, err := a.svc.Checkout().GetSubjectUsage(r.Context(), env, c, auth.Subject{Type: r.PathValue("type"), ID: r.PathValue("id")}, r.URL.Query().Get("event_name"))
	return http.StatusOK, res, err
}
