package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// CookieName is the session cookie.
const CookieName = "billwire_session"

// session is the signed-in browser of a request.
type session struct {
	hash  []byte
	csrf  string
	flash string
}

// authed runs h for a signed-in browser; others go to the login page (and
// come back to the page they asked for).
func (d *Dashboard) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := d.session(r)
		if errors.Is(err, store.ErrNotFound) {
			to := "/dashboard/login"
			if r.Method == http.MethodGet && r.URL.Path != "/dashboard/" {
				to += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		if err != nil {
			d.failErr(w, r, err)
			return
		}
		if r.Method == http.MethodPost {
			got := r.PostFormValue("csrf")
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
				d.log.Warn().Str("path", r.URL.Path).Str("remote", clientKey(r)).Msg("dashboard POST with a wrong CSRF token refused")
				d.fail(w, r, http.StatusForbidden, "The form's security token did not match your session. Reload the page and try again.")
				return
			}
		}
		if sess.flash != "" {
			if st, err := d.svc.Store(r.Context()); err == nil {
				st.SetFlash(r.Context(), sess.hash, "") //nolint:errcheck // shown once at most; a failure shows it again
			}
		}
		h(w, r, sess)
	}
}

func (d *Dashboard) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, store.ErrNotFound
	}
	st, err := d.svc.Store(r.Context())
	if err != nil {
		return nil, err
	}
	hash := tokenHash(c.Value)
	s, err := st.Session(r.Context(), hash)
	if err != nil {
		return nil, err
	}
	return &session{hash: hash, csrf: s.CSRFToken, flash: s.Flash}, nil
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// isHTTPS reports whether the browser reached billwire over https: directly,
// or through a proxy that says so. (A forged header only makes the cookie
// Secure, which a plain-http browser then does not send back.)
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

type loginView struct {
	layout
	Next    string
	Message string
	NoAdmin bool
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	v := loginView{layout: layout{Title: "Sign in", Env: vocab.Test}, Next: safeNext(r.URL.Query().Get("next"))}
	if st, err := d.svc.Store(r.Context()); err == nil {
		if _, err := st.AdminPasswordHash(r.Context()); errors.Is(err, store.ErrNotFound) {
			v.NoAdmin = true
		}
	}
	d.render(w, r, http.StatusOK, "login", v)
}

// login checks the password. Every attempt spends one of the client
// address's tokens; with none left the attempt is refused unchecked (429),
// so guessing runs at LoginEvery per address. A success refills the bucket.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	v := loginView{layout: layout{Title: "Sign in", Env: vocab.Test}, Next: next}
	key := clientKey(r)
	now := d.opts.Now()
	if ok, wait := d.limiter.take(key, now); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		d.log.Warn().Str("remote", key).Msg("dashboard login refused: too many attempts")
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		v.Message = fmt.Sprintf("Too many sign-in attempts from your address. Try again in %d seconds.", secs)
		d.render(w, r, http.StatusTooManyRequests, "login", v)
		return
	}
	st, err := d.svc.Store(r.Context())
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	hash, err := st.AdminPasswordHash(r.Context())
	if errors.Is(err, store.ErrNotFound) {
		v.NoAdmin = true
		d.render(w, r, http.StatusForbidden, "login", v)
		return
	}
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	select { // at most two 64 MiB hashes at a time
	case d.hashing <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	ok, err := secrets.VerifyPassword(r.PostFormValue("password"), hash)
	<-d.hashing
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	if !ok {
		d.log.Warn().Str("remote", key).Msg("dashboard login with a wrong password")
		v.Message = "Wrong password."
		d.render(w, r, http.StatusUnauthorized, "login", v)
		return
	}
	d.limiter.reset(key)
	token, csrf := randomToken(), randomToken()
	expires := now.Add(d.opts.SessionTTL)
	if err := st.CreateSession(r.Context(), tokenHash(token), csrf, d.opts.SessionTTL); err != nil {
		d.failErr(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/dashboard", Expires: expires,
		MaxAge: int(d.opts.SessionTTL.Seconds()), HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteStrictMode})
	d.log.Info().Str("remote", key).Msg("dashboard sign-in")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if st, err := d.svc.Store(r.Context()); err == nil {
		if err := st.DeleteSession(r.Context(), s.hash); err != nil {
			d.failErr(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/dashboard", MaxAge: -1,
		HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/dashboard/login", http.StatusSeeOther)
}

// safeNext keeps a post-login destination inside the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/dashboard/") || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "/dashboard/login") ||
		strings.Contains(next, "//") || strings.Contains(next, "/..") {
		return "/dashboard/test/"
	}
	return next
}

// clientKey is the address a login is counted against: the peer's IP, or
// its /64 for IPv6, where one client holds a whole /64. Behind a reverse
// proxy every client shares the proxy's key, which fails safe (one budget
// for all) rather than trusting a header a client can forge.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// limiter is a token bucket per client key: burst attempts, then one per every.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: float64(burst), every: every, buckets: map[string]*bucket{}}
}

// take spends one token of key; when none is left it says how long until one is.
func (l *limiter) take(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= 10000 {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	b.tokens--
	return true, 0
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

// prune forgets buckets that have refilled: they hold nothing a new one would not.
func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(l.every) >= l.burst {
			delete(l.buckets, k)
		}
	}
}
