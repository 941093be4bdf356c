package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// MaxBodyBytes bounds a delivery; Stripe's events are far smaller.
const MaxBodyBytes = 1 << 20

// Tolerance is how old a signature's timestamp may be (Stripe's default).
const Tolerance = 5 * time.Minute

// SecretSource gives the signing secrets of an environment.
type SecretSource interface {
	WebhookSecrets(ctx context.Context, env vocab.Env) (store.WebhookSecrets, error)
}

// Receiver is the HTTP handler for POST /webhooks/stripe/{env}.
type Receiver struct {
	proc    *Processor
	secrets SecretSource
	log     zerolog.Logger

	mu    sync.Mutex
	cache map[vocab.Env]cachedSecrets
	meter *Meter
}

type cachedSecrets struct {
	s    store.WebhookSecrets
	err  error
	at   time.Time
	list []string
}

// secretTTL bounds how long a secret is cached, and so how long a secret
// replaced or revoked by another process (setup_webhook, billwire webhook
// setup) can still verify here: one read a second per environment. A
// signature that fails with an older cache entry reloads first, so a
// rotation takes effect at once.
const secretTTL = time.Second

// NewReceiver returns the handler.
func NewReceiver(proc *Processor, secrets SecretSource, log zerolog.Logger) *Receiver {
	return &Receiver{proc: proc, secrets: secrets, log: log, cache: map[vocab.Env]cachedSecrets{}}
}

// WithMeter makes the receiver count its answers in m.
func (r *Receiver) WithMeter(m *Meter) *Receiver {
	r.meter = m
	return r
}

// secretsFor returns env's secrets, from the cache unless reload or the
// entry is older than secretTTL; loaded says they were just read.
func (r *Receiver) secretsFor(ctx context.Context, env vocab.Env, reload bool) (c cachedSecrets, loaded bool) {
	r.mu.Lock()
	c, ok := r.cache[env]
	r.mu.Unlock()
	if ok && !reload && time.Since(c.at) < secretTTL {
		return c, false
	}
	s, err := r.secrets.WebhookSecrets(ctx, env)
	c = cachedSecrets{s: s, err: err, at: time.Now()}
	if err == nil {
		c.list = []string{s.Current}
		if s.Previous != "" {
			c.list = append(c.list, s.Previous)
		}
	}
	r.mu.Lock()
	r.cache[env] = c
	r.mu.Unlock()
	return c, true
}

// verify checks a signature against env's current secret, then the previous
// one during its grace. A signature that fails with a cache entry older than
// a second reloads first, so a rotation takes effect at once; one that only
// the previous secret verifies is accepted only as the database says now,
// so a revoked previous secret (revoke_previous) stops at once too.
func (r *Receiver) verify(ctx context.Context, env vocab.Env, body []byte, header string) (bool, error) {
	c, fresh := r.secretsFor(ctx, env, false)
	for {
		if c.err != nil {
			return false, c.err
		}
		match := -1
		now := time.Now()
		for i, secret := range c.list {
			if i == 1 && now.After(c.s.PreviousUntil) {
				break
			}
			if webhook.ValidatePayloadWithTolerance(body, header, secret, Tolerance) == nil {
				match = i
				break
			}
		}
		switch {
		case match == 0, match == 1 && fresh:
			return true, nil
		case match < 0 && (fresh || time.Since(c.at) < time.Second):
			return false, nil
		}
		c, fresh = r.secretsFor(ctx, env, true)
	}
}

type answer struct {
	Received bool   `json:"received"`
	Status   Status `json:"status,omitempty"`
	// ResolvedBy is "fetch" when the event's object was asked of Stripe.
	ResolvedBy string `json:"resolved_by,omitempty"`
	Error      string `json:"error,omitempty"`
}

func (r *Receiver) reply(w http.ResponseWriter, code int, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(a) //nolint:errcheck
}

// ServeHTTP verifies, records and projects one delivery. Invalid deliveries
// get 400, our own failures 5xx (Stripe retries both, so both are logged).
// The meter, when set, counts the answer.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.meter == nil {
		r.serve(w, req)
		return
	}
	start := time.Now()
	cw := &codeWriter{ResponseWriter: w}
	env, status := r.serve(cw, req)
	r.meter.observe(env, time.Now(), cw.code, status, time.Since(start))
}

// serve answers a delivery; it returns its environment (empty when the
// route named none) and, once recorded, its status.
func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) (vocab.Env, Status) {
	arrival := r.proc.arrive()
	defer arrival.Leave()
	env, err := vocab.ParseEnv(req.PathValue("env"))
	if err != nil {
		r.refuseLog(w, r.log, http.StatusNotFound, "", "unknown environment in the webhook URL: use /webhooks/stripe/test or /webhooks/stripe/live")
		return "", ""
	}
	log := r.log.With().Str("env", string(env)).Logger()
	body, err := readBody(w, req)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			r.refuseLog(w, log, http.StatusBadRequest, "", "body larger than 1 MiB")
			return env, ""
		}
		r.refuseLog(w, log, http.StatusBadRequest, "", "could not read body")
		return env, ""
	}
	header := req.Header.Get("Stripe-Signature")
	if header == "" {
		r.refuseLog(w, log, http.StatusBadRequest, "", "missing Stripe-Signature header")
		return env, ""
	}
	ok, err := r.verify(req.Context(), env, body, header)
	if errors.Is(err, store.ErrNotFound) {
		r.refuseLog(w, log, http.StatusServiceUnavailable, "",
			"no signing secret configured for "+string(env)+": run setup_webhook or `billwire webhook setup`")
		return env, ""
	}
	if err != nil {
		log.Error().Err(err).Msg("webhook: cannot read signing secrets")
		r.reply(w, http.StatusServiceUnavailable, answer{Error: "signing secrets unavailable; retry later"})
		return env, ""
	}
	if !ok {
		r.refuseLog(w, log, http.StatusBadRequest, "", "signature does not verify (wrong secret, altered body, or timestamp outside 5 minutes)")
		return env, ""
	}
	e, err := ParseEvent(body)
	if err != nil {
		r.refuseLog(w, log, http.StatusBadRequest, "", err.Error())
		return env, ""
	}
	if e.Livemode != (env == vocab.Live) {
		r.refuseLog(w, log, http.StatusBadRequest, e.ID, "event livemode does not match the "+string(env)+" route")
		return env, ""
	}
	status, resolvedBy, err := r.proc.process(req.Context(), env, e, "webhook", false, arrival)
	switch {
	case errors.Is(err, ErrClosed):
		r.reply(w, http.StatusServiceUnavailable, answer{Error: "shutting down; retry"})
	case err != nil:
		log.Error().Str("event", e.ID).Str("type", e.Type).Err(err).Msg("webhook: event not recorded; Stripe will retry")
		r.reply(w, http.StatusInternalServerError, answer{Error: "not recorded; retry"})
	case status == Failed:
		r.reply(w, http.StatusInternalServerError, answer{Status: status, Error: "projection failed; retry"})
	default:
		log.Debug().Str("event", e.ID).Str("type", e.Type).Str("status", string(status)).Msg("webhook")
		r.reply(w, http.StatusOK, answer{Received: true, Status: status, ResolvedBy: resolvedBy})
	}
	return env, status
}

// readBody reads a delivery, at most MaxBodyBytes, in one allocation when
// the sender gave its length.
func readBody(w http.ResponseWriter, req *http.Request) ([]byte, error) {
	var b bytes.Buffer
	if n := req.ContentLength; n > 0 && n <= MaxBodyBytes {
		b.Grow(int(n) + bytes.MinRead) // ReadFrom wants MinRead free to see the end
	}
	_, err := b.ReadFrom(http.MaxBytesReader(w, req.Body, MaxBodyBytes))
	return b.Bytes(), err
}

func (r *Receiver) refuseLog(w http.ResponseWriter, log zerolog.Logger, code int, eventID, msg string) {
	log.Warn().Int("status", code).Str("event", eventID).Str("reason", msg).Msg("webhook refused")
	r.reply(w, code, answer{Error: msg})
}
