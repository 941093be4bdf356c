package runtime_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveOver starts another billwire serve over r's database, whose Stripe
// is at base, logging into the returned buffer.
func serveOver(t *testing.T, r *rig, base string) (*rig, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	log := zerolog.New(logs)
	svc := billing.New(billing.Static(r.st), stripeapi.Options{BaseURL: base, RateLimit: 10000}, log)
	origins, _ := auth.ParseOrigins(appOrigin)
	srv, err := runtime.New(r.st, svc, log, runtime.Options{API: runtime.APIConfig{
		JWT: auth.JWTConfig{HS256Secret: jwtSecret, Env: vocab.Test}, Origins: origins}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Processor().Close() })
	cp := *r
	cp.url, cp.svc = hs.URL, svc
	return &cp, logs
}

// closedURL is an address nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// An end user (or the app's backend relaying billwire's message to one)
// never learns billwire's internals from a failure upstream: where Stripe
// is reached, Stripe's own request ids, which key or command to fix. The
// code stays; the detail goes to the log.
func TestUpstreamFailuresAnswerGenerically(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	userToken := token(t, jwt.MapClaims{"sub": "u_1"})
	internals := []string{"127.0.0.1", "http://", "could not reach", "BILLWIRE_", "req_", "configure_stripe_keys", "billwire keys",
		"create checkout session", "Stripe answered", "sk_test", "10.1.2.3", "postgres"}
	check := func(what string, res reply, status int, code string) {
		t.Helper()
		msg := fmt.Sprint(res.body["message"])
		if res.status != status || res.body["code"] != code || msg == "" {
			t.Fatalf("%s: %d %v, want %d %s", what, res.status, res.body, status, code)
		}
		for _, s := range internals {
			if strings.Contains(msg, s) {
				t.Errorf("%s: the answer %q shows %q", what, msg, s)
			}
		}
	}
	body := checkoutBody(user("u_1"))

	// Stripe unreachable.
	dead, logs := serveOver(t, r, closedURL(t))
	for _, bearer := range []string{userToken, r.apiKey} {
		check("Stripe unreachable", dead.do("POST", "/api/payments/test/checkout-sessions", bearer, body), http.StatusBadGateway, "stripe_unavailable")
	}
	if !strings.Contains(logs.String(), "could not reach Stripe") || strings.Contains(logs.String(), testKey) {
		t.Fatalf("the log does not hold the detail (or holds the key):\n%s", logs.String())
	}

	// Stripe answers 5xx.
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Request-Id", "req_internal1")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error":{"type":"api_error","message":"internal failure on host 10.1.2.3"}}`)
	}))
	t.Cleanup(failing.Close)
	five, logs := serveOver(t, r, failing.URL)
	check("Stripe 500", five.do("POST", "/api/payments/test/checkout-sessions", userToken, body), http.StatusBadGateway, "stripe_unavailable")
	if !strings.Contains(logs.String(), "10.1.2.3") {
		t.Fatalf("the log does not hold Stripe's answer:\n%s", logs.String())
	}

	// Stripe refuses billwire's key: about billwire, not the request.
	r.rec.FailNext("POST /v1/checkout/sessions", 401, "invalid_request_error", "Invalid API Key provided: sk_test_****4242")
	check("Stripe 401", r.do("POST", "/api/payments/test/checkout-sessions", userToken, body),
		http.StatusBadGateway, "stripe_rejected")

	// Stripe's words about the request itself stay, without the rest.
	r.rec.FailNext("POST /v1/checkout/sessions", 400, "invalid_request_error", "No such price: 'price_ProMonthly'")
	res := r.do("POST", "/api/payments/test/checkout-sessions", userToken, body)
	check("Stripe 400", res, http.StatusBadGateway, "stripe_rejected")
	if !strings.Contains(fmt.Sprint(res.body["message"]), "No such price: 'price_ProMonthly'") {
		t.Fatalf("Stripe's rejection lost its words: %v", res.body)
	}

	// The database is gone.
	r.st.Close()
	check("database down", r.do("POST", "/api/payments/test/checkout-sessions", userToken, body), http.StatusServiceUnavailable, "database_unavailable")
}

// Every answer of billwire serve's API and webhook receiver tells browsers
// not to sniff its content type.
func TestAnswersCarryNosniff(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ok := func(what string, h http.Header) {
		t.Helper()
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q", what, got)
		}
	}
	res := r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, checkoutBody(user("u_1")))
	if res.status != 201 {
		t.Fatalf("checkout: %d %v", res.status, res.body)
	}
	ok("checkout", res.header)
	ok("401", r.do("POST", "/api/payments/test/checkout-sessions", "", checkoutBody(user("u_1"))).header)
	ok("400", r.do("POST", "/api/payments/test/checkout-sessions", r.apiKey, "{").header)
	ok("404 environment", r.do("GET", "/api/payments/staging/subjects/user/u_1", r.apiKey, nil).header)
	ok("subject", r.do("GET", "/api/payments/test/subjects/user/u_1", r.apiKey, nil).header)
	ok("unknown route", r.do("GET", "/api/payments/test/nothing", r.apiKey, nil).header)
	for _, origin := range []string{appOrigin, "https://evil.example"} {
		req, _ := http.NewRequest("OPTIONS", r.url+"/api/payments/test/checkout-sessions", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ok("preflight from "+origin, resp.Header)
	}
	for _, path := range []string{"/healthz", "/readyz", "/checkout/done"} {
		resp, err := http.Get(r.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ok(path, resp.Header)
	}
	payload := eventfixtures.MustEvent(t, "customer.created", eventfixtures.Options{ID: "evt_nosniff"})
	for _, sig := range []string{eventfixtures.Sign(payload, whsec, time.Now()), "t=1,v1=forged"} {
		req, _ := http.NewRequest("POST", r.url+"/webhooks/stripe/test", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ok(fmt.Sprintf("webhook %d", resp.StatusCode), resp.Header)
	}
}
