package runtime

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/ratelimit"
	"github.com/billwire/billwire/internal/vocab"
)

// SessionRates limit session creation (Checkout and Billing Portal) per
// process, so that no caller takes the Stripe request budget every other
// caller shares. A rate that is off limits nothing.
type SessionRates struct {
	// User is per end user, over all subjects (BILLWIRE_SESSION_RATE_USER).
	User ratelimit.Rate
	// Subject is per subject: for user tokens over all users acting for
	// it (a team's members), and separately for API keys over all keys
	// (BILLWIRE_SESSION_RATE_SUBJECT).
	Subject ratelimit.Rate
	// Key is per API key, over all subjects (BILLWIRE_SESSION_RATE_KEY).
	Key ratelimit.Rate
}

// The settings that set SessionRates.
const (
	RateUserEnv    = "BILLWIRE_SESSION_RATE_USER"
	RateSubjectEnv = "BILLWIRE_SESSION_RATE_SUBJECT"
	RateKeyEnv     = "BILLWIRE_SESSION_RATE_KEY"
)

// DefaultSessionRates are the limits when nothing is set: 10 a minute with
// bursts of 5 per user and per subject, 600 a minute with bursts of 60 per
// API key.
func DefaultSessionRates() SessionRates {
	per := func(n, burst int) ratelimit.Rate { return ratelimit.Rate{N: n, Period: time.Minute, Burst: burst} }
	return SessionRates{User: per(10, 5), Subject: per(10, 5), Key: per(600, 60)}
}

// ParseSessionRates reads the three settings through getenv; an unset one
// keeps its default. A value that is not a rate is an error naming the
// setting and the expected form.
func ParseSessionRates(getenv func(string) string) (SessionRates, error) {
	r := DefaultSessionRates()
	for _, s := range []struct {
		env  string
		rate *ratelimit.Rate
	}{{RateUserEnv, &r.User}, {RateSubjectEnv, &r.Subject}, {RateKeyEnv, &r.Key}} {
		v := getenv(s.env)
		if v == "" {
			continue
		}
		rate, err := ratelimit.ParseRate(v)
		if err != nil {
			return r, fmt.Errorf("%s=%q is not a rate (%v): use %s", s.env, v, err, ratelimit.Form)
		}
		*s.rate = rate
	}
	return r, nil
}

// sessionLimits applies SessionRates to the session routes.
type sessionLimits struct {
	rates  SessionRates
	l      *ratelimit.Limiter
	logged atomic.Int64 // when a refusal was last logged at info (unix ns)
}

// logNow reports whether a refusal may be logged at info: at most one
// every 10 seconds.
func (s *sessionLimits) logNow() bool {
	now, last := time.Now().UnixNano(), s.logged.Load()
	return now-last >= int64(10*time.Second) && s.logged.CompareAndSwap(last, now)
}

func newSessionLimits(r *SessionRates) *sessionLimits {
	rates := DefaultSessionRates()
	if r != nil {
		rates = *r
	}
	return &sessionLimits{rates: rates, l: ratelimit.New(0)}
}

// limit names one bucket a request takes from, for the refusal.
type limit struct {
	ask     ratelimit.Ask
	what    string // "user u_1", "subject team:t_1", "API key app-backend"
	setting string
}

// rateLimited is a session request over a limit: 429 with Retry-After.
type rateLimited struct {
	retry   time.Duration
	what    string
	rate    ratelimit.Rate
	setting string
}

func (e *rateLimited) Error() string {
	return fmt.Sprintf("too many session requests for %s (at most %s): retry in %d s", e.what, e.rate.Describe(), e.retrySeconds())
}

// retrySeconds is Retry-After: whole seconds, at least 1.
func (e *rateLimited) retrySeconds() int64 {
	return max(1, int64((e.retry+time.Second-1)/time.Second))
}

// refusalDelay is how long a request over its limit waits for its 429. A
// caller looping over refusals (a script at concurrency 8 gets thousands
// a second on loopback) would otherwise take the CPU the other callers'
// checkouts need; held this long, each of its connections costs at most
// ten refusals a second. A client that honours Retry-After waits longer
// anyway.
const refusalDelay = 100 * time.Millisecond

// write answers 429 after refusalDelay (sooner if the client goes away).
func (e *rateLimited) write(w http.ResponseWriter, r *http.Request) {
	t := time.NewTimer(refusalDelay)
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
	}
	w.Header().Set("Retry-After", strconv.FormatInt(e.retrySeconds(), 10))
	writeError(w, http.StatusTooManyRequests, "rate_limited", e.Error())
}

// callerLimit is the bucket of the caller itself (the user's, or the API
// key's), nil for other callers.
func (s *sessionLimits) callerLimit(env vocab.Env, c *auth.Caller) *limit {
	switch c.Kind {
	case "user":
		return &limit{ratelimit.Ask{Key: string(env) + "\x00user\x00" + c.ID, Rate: s.rates.User}, "user " + c.ID, RateUserEnv}
	case "apikey":
		return &limit{ratelimit.Ask{Key: string(env) + "\x00key\x00" + c.ID, Rate: s.rates.Key}, "API key " + c.Name, RateKeyEnv}
	}
	return nil
}

// early refuses a caller whose own bucket is empty before its body is
// read: a flood over the limit costs as little as it can.
func (s *sessionLimits) early(env vocab.Env, c *auth.Caller) error {
	l := s.callerLimit(env, c)
	if l == nil {
		return nil
	}
	if ok, retry := s.l.Check(l.ask); !ok {
		return &rateLimited{retry: retry, what: l.what, rate: l.ask.Rate, setting: l.setting}
	}
	return nil
}

// take takes a token for one session request of caller for sub: from the
// caller's own bucket (the user's, or the API key's), and, when the caller
// may act for sub at all, from the subject's bucket (so that nobody spends
// the budget of a subject it does not own). It runs before anything is
// read or written for the request. done must be called with the request's
// outcome: a refusal that cost nothing (a 4xx of billwire's own checks)
// gives the tokens back.
func (s *sessionLimits) take(env vocab.Env, c *auth.Caller, sub auth.Subject, action auth.Action) (done func(error), err error) {
	own := s.callerLimit(env, c)
	if own == nil {
		return func(error) {}, nil
	}
	limits := []limit{*own}
	if sub.Validate() == nil && c.Authorize(env, sub, action) == nil {
		side := "\x00user-subject\x00"
		if c.Kind == "apikey" {
			side = "\x00key-subject\x00"
		}
		limits = append(limits, limit{ratelimit.Ask{Key: string(env) + side + sub.String(), Rate: s.rates.Subject}, "subject " + sub.String(), RateSubjectEnv})
	}
	asks := make([]ratelimit.Ask, len(limits))
	for i, l := range limits {
		asks[i] = l.ask
	}
	ok, retry, denied := s.l.Take(asks...)
	if !ok {
		l := limits[denied]
		return nil, &rateLimited{retry: retry, what: l.what, rate: l.ask.Rate, setting: l.setting}
	}
	return func(err error) {
		if costFree(err) {
			s.l.Refund(asks...)
		}
	}, nil
}

// costFree reports a refusal by billwire's own checks (bad request,
// forbidden, unknown, conflict), made before Stripe is called.
func costFree(err error) bool {
	f, ok := fault.As(err)
	if !ok {
		return false
	}
	status := statusOf(f.Kind)
	return status >= 400 && status < 500
}
