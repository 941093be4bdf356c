package stripetest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FakeOptions configures a [Fake]. The zero value is a fake with no seeded
// objects, no fault injection and every well-formed key accepted.
type FakeOptions struct {
	// Accounts maps API keys to account ids ("acct_..."). A well-formed key
	// (sk_test_, rk_test_, sk_live_ or rk_live_ followed by letters and
	// digits) that is not in the map belongs to an account whose id is
	// derived from the key, the same for every request. Keys in the map are
	// accepted even if they are not well-formed.
	Accounts map[string]string

	// RestrictedNoAccount makes GET /v1/account answer restricted keys
	// (rk_...) with Stripe's 403 permission error, as Stripe does for a
	// restricted key without the account read permission.
	RestrictedNoAccount bool

	// Products, Prices, Customers and Subscriptions are the numbers of
	// seeded objects of each kind. Seeded objects are generated on the fly
	// from their index (see SeedID), so even 100,000 of each cost no memory.
	// Seeded price i belongs to seeded product i%Products, seeded
	// subscription i belongs to seeded customer i%Customers and has one
	// item with seeded price i%Prices. To keep these references valid,
	// Prices > 0 implies at least one product and Subscriptions > 0 at
	// least one price and one customer. Every account sees the same seeded
	// objects (with livemode matching the key).
	Products, Prices, Customers, Subscriptions int

	// Latency is added to every request before it is handled.
	Latency time.Duration

	// RateLimit, when positive, limits each account and mode (test or live,
	// as Stripe does) to RateLimit requests per second with a token bucket
	// holding max(1, RateLimit) tokens that starts full: a burst of up to
	// RateLimit requests passes, then requests pass at RateLimit per
	// second. Requests beyond the limit are answered 429 with Stripe's
	// rate_limit error and counted by RateLimited.
	RateLimit float64

	// DeliverEvents makes the fake post the events of the changes it makes
	// (subscriptions and the customers created through the API), signed,
	// to the enabled webhook endpoints of the account, as Stripe does; see
	// Deliveries.
	DeliverEvents bool
}

// RecordedRequest is one request the [Fake] received.
type RecordedRequest struct {
	Method string
	Path   string
	// Query holds the URL query parameters.
	Query url.Values
	// Form holds the form-encoded body parameters (POST requests).
	Form url.Values
	// IdempotencyKey is the Idempotency-Key header, if any.
	IdempotencyKey string
	// APIKey is the key from the Authorization header, if any.
	APIKey string
	// Account is the account the key resolved to ("" when the request
	// failed before authentication).
	Account string
	// Status is the HTTP status of the answer, or 0 if the client went away
	// before it was answered.
	Status int
	// Replayed reports that the answer was an idempotent replay.
	Replayed bool
}

// Fake is a stateful fake of a small part of the Stripe API, served by an
// httptest.Server. It implements:
//
//	GET    /v1/account
//	GET    /v1/products, /v1/prices, /v1/customers, /v1/subscriptions (lists)
//	GET    /v1/invoices (list: the fake's own invoices and AddInvoice's, newest first)
//	GET    /v1/products/{id}, /v1/prices/{id}, /v1/customers/{id}, /v1/subscriptions/{id}
//	POST   /v1/products, /v1/prices, /v1/checkout/sessions (creates)
//	GET    /v1/checkout/sessions/{id}, /v1/invoices/{id}, /v1/payment_intents/{id},
//	       /v1/charges/{id}, /v1/refunds/{id}, /v1/disputes/{id} (objects from PutObject)
//	GET    /v1/checkout/sessions/{id}/line_items (from PutLineItems)
//	POST   /v1/webhook_endpoints, GET /v1/webhook_endpoints (create, list)
//	GET    /v1/webhook_endpoints/{id}, POST (update), DELETE
//	GET    /v1/events, /v1/events/{id} (events from AddEvent)
//	GET    /v1/entitlements/features, /v1/entitlements/features/{id}, POST /v1/entitlements/features
//	GET    /v1/products/{id}/features, POST (attach), DELETE /v1/products/{id}/features/{id}
//	GET    /v1/entitlements/active_entitlements (from SetActiveEntitlements)
//	POST   /v1/billing_portal/configurations, GET and POST /v1/billing_portal/configurations/{id}
//	POST   /v1/customers, /v1/payment_methods/{pm}/attach, /v1/subscriptions (see subscriptions.go)
//	POST   /v1/subscriptions/{id} (plan, seat and cancellation changes), /v1/subscriptions/{id}/resume,
//	       DELETE /v1/subscriptions/{id}
//	POST   /v1/invoices/create_preview, GET /v1/invoiceitems (see preview.go, resume.go)
//	POST   /v1/billing/meters, GET /v1/billing/meters, /v1/billing/meters/{id}, POST /v1/billing/meter_events
//	       (see meters.go: MeterTotal is what Stripe would bill)
//
// The fake checks what needs its memory (ids that exist, lookup keys held,
// idempotency keys reused) and what Stripe refuses but stripe-mock lets
// through (empty names, a relative webhook URL, two parameters that exclude
// each other, an interval count past three years, a limit past 100). What
// stripe-mock checks against Stripe's spec (required parameters, enum
// values, booleans) it leaves to stripe-mock, which sees the same requests
// of billwire in the tests that use it: a request missing a parameter
// there gets an answer here, built from what it has. Webhook endpoints and
// events, whose requests only the fake sees, keep every check.
//
// Lists return seeded objects in index order, then created objects in
// creation order (real Stripe lists newest first); events are the exception,
// listed newest first as Stripe does. They accept limit (1-100, default
// 10), starting_after and ending_before, plus these filters: products
// active and ids[]; prices active, product, type, currency and
// lookup_keys[]; customers email; subscriptions status (default: all but
// canceled; every seeded subscription is active), customer and price;
// events type (* is a wildcard), types[], created (an integer, or gt, gte,
// lt and lte bounds) and delivery_success. Any other parameter, expand
// included, is refused with Stripe's parameter_unknown error, so an
// unsupported feature fails loudly.
//
// Objects created through the fake belong to the account and mode (test or
// live) of the key that created them; a Stripe-Account header selects
// another account, as Connect platforms do. The helpers that take a key
// (WebhookEndpoints, DisableWebhookEndpoint, AddEvent, PutObject) act on the
// key's own account and mode. A price's lookup_key must be unique among the
// account's prices, inactive ones included, unless transfer_lookup_key=true
// moves it. Successful POSTs are remembered by Idempotency-Key per account
// and mode and replayed byte for byte; failed ones are not stored, as with
// Stripe's validation failures. As with Stripe, DELETE ignores
// Idempotency-Key.
//
// A webhook endpoint's signing secret is in the answer to its create only,
// as with Stripe; WebhookEndpoints reports it too. The fake sends no
// webhooks unless FakeOptions.DeliverEvents says so: a test that plays
// Stripe signs events with that secret and delivers them itself.
//
// A Fake is safe for concurrent use.
type Fake struct {
	opts  FakeOptions
	seeds seeds
	srv   *httptest.Server

	reqSeq atomic.Int64

	// postMu serialises POSTs, so the idempotency check, the create and
	// the storing of the answer are atomic.
	postMu sync.Mutex

	mu          sync.Mutex // guards everything below
	accounts    map[string]string
	revoked     map[string]bool
	scopes      map[scopeKey]*scope
	requests    []RecordedRequest
	created     map[string]int
	nextID      int
	failNext    int
	failStatus  int
	failAfter   map[string]*failRule
	rateLimited int

	// deliveries are the events posted to webhook endpoints; queue holds
	// the posts still to make, in order (see subscriptions.go).
	deliveries []Delivery
	queue      []func()
	posting    bool
}

// scopeKey identifies an account in one mode.
type scopeKey struct {
	account string
	live    bool
}

// scope holds the state of one account in one mode.
type scope struct {
	products   []*product
	productIdx map[string]int
	prices     []*price
	priceIdx   map[string]int
	idem       map[string]*idemEntry
	bucket     bucket

	endpoints   []*webhookEndpoint
	endpointIdx map[string]int

	// events are in the order they were added; eventIdx maps an id to its
	// index. A stored event is never modified, only replaced.
	events   []*storedEvent
	eventIdx map[string]int

	// stored holds the objects given to PutObject, compact JSON.
	stored map[storedKey][]byte

	ent    *entitlementState // see entitlements.go; nil until used
	meters *meterState       // see meters.go; nil until used

	portal map[string]*portalConfiguration // see portal.go; nil until used

	subs *subscriptionState // see subscriptions.go; nil until used

}

type idemEntry struct {
	fingerprint string
	endpoint    string
	requestID   string
	resp        response
}

type failRule struct {
	after, status, succeeded int
}

// NewFake starts a Fake. Call Close when done, or use [StartFake].
func NewFake(opts FakeOptions) *Fake {
	f := &Fake{
		opts:      opts,
		seeds:     newSeeds(opts),
		accounts:  make(map[string]string, len(opts.Accounts)),
		revoked:   make(map[string]bool),
		scopes:    make(map[scopeKey]*scope),
		created:   make(map[string]int),
		failAfter: make(map[string]*failRule),
	}
	for k, v := range opts.Accounts {
		f.accounts[k] = v
	}
	f.srv = httptest.NewServer(f)
	return f
}

// StartFake starts a Fake that is closed when tb's test ends.
func StartFake(tb testing.TB, opts FakeOptions) *Fake {
	tb.Helper()
	f := NewFake(opts)
	tb.Cleanup(f.Close)
	return f
}

// URL returns the base URL of the fake, such as "http://127.0.0.1:40123".
func (f *Fake) URL() string { return f.srv.URL }

// Close shuts the fake down, waiting for outstanding requests.
func (f *Fake) Close() { f.srv.Close() }

// SetAccount makes key belong to account acct from now on. An empty acct
// removes the mapping, so the key gets its derived account id again.
func (f *Fake) SetAccount(key, acct string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if acct == "" {
		delete(f.accounts, key)
		return
	}
	f.accounts[key] = acct
}

// RevokeKey makes every later request with key fail with Stripe's 401
// invalid API key error, as after the key was rolled or deleted.
func (f *Fake) RevokeKey(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[key] = true
}

// AccountID returns the account id key belongs to (from
// FakeOptions.Accounts, SetAccount, or derived from the key), whether or not
// the fake would accept the key.
func (f *Fake) AccountID(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accountLocked(key)
}

func (f *Fake) accountLocked(key string) string {
	if acct, ok := f.accounts[key]; ok {
		return acct
	}
	return derivedAccount(key)
}

// Requests returns a copy of the log of every request received so far, in
// the order they were answered.
func (f *Fake) Requests() []RecordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]RecordedRequest(nil), f.requests...)
}

// CountCreated returns how many objects of the given kind (KindProduct or
// KindPrice) were created through the fake, across all accounts. Idempotent
// replays create nothing; a price created with product_data also counts a
// product.
func (f *Fake) CountCreated(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.created[kind]
}

// RateLimited returns how many requests were answered 429 because of
// FakeOptions.RateLimit (failures injected by FailNext are not counted).
func (f *Fake) RateLimited() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rateLimited
}

// FailNext makes the next n requests, whatever their path or key, fail with
// the given HTTP status: 429 answers Stripe's rate_limit error, 5xx
// Stripe's api_error, anything else an invalid_request_error. It replaces
// an earlier FailNext; n <= 0 cancels it. Note that stripe-go retries 5xx
// answers (twice by default) with the same idempotency key.
func (f *Fake) FailNext(n int, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext, f.failStatus = max(n, 0), status
}

// FailAfter makes requests to path (such as "/v1/customers"; the query is
// ignored) fail with status, with the same bodies as FailNext, once `after`
// requests to it have been answered with a 2xx status. The failure persists,
// so that it survives stripe-go's retries, until ClearFaults; calling
// FailAfter again for the same path replaces the rule and restarts the
// count. For example FailAfter("/v1/customers", 2, 500) lets two pages of
// customers through and fails the third.
func (f *Fake) FailAfter(path string, after int, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAfter[path] = &failRule{after: after, status: status}
}

// ClearFaults cancels FailNext and every FailAfter rule.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = 0
	clear(f.failAfter)
}

// response is an answer before it is written.
type response struct {
	status int
	body   []byte
	header http.Header
}

// apiRequest is a request being handled.
type apiRequest struct {
	method  string
	path    string
	params  url.Values // query parameters, plus the body for POST
	key     string
	account string
	live    bool
}

const maxBodyBytes = 1 << 20

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := fmt.Sprintf("req_fake%010d", f.reqSeq.Add(1))
	rec := RecordedRequest{
		Method:         r.Method,
		Path:           r.URL.Path,
		Query:          r.URL.Query(),
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		APIKey:         apiKey(r),
	}
	resp, ok := f.serve(r, reqID, &rec)
	if ok {
		rec.Status = resp.status
	}
	// Record before answering, so that a client that has its answer sees
	// the request in Requests and FailAfter counts it.
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	if rule := f.failAfter[rec.Path]; rule != nil && rec.Status >= 200 && rec.Status < 300 {
		rule.succeeded++
	}
	f.mu.Unlock()
	if !ok {
		return
	}
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	h.Set("Request-Id", reqID)
	h.Set("Stripe-Version", stripeVersion(r))
	if rec.IdempotencyKey != "" && r.Method == http.MethodPost {
		h.Set("Idempotency-Key", rec.IdempotencyKey)
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

func stripeVersion(r *http.Request) string {
	if v := r.Header.Get("Stripe-Version"); v != "" {
		return v
	}
	return apiVersion
}

// apiVersion is the Stripe API version stripe-go v79 pins.
const apiVersion = "2024-06-20"

// serve computes the answer to r; ok is false if the client went away.
func (f *Fake) serve(r *http.Request, reqID string, rec *RecordedRequest) (resp response, ok bool) {
	if f.opts.Latency > 0 {
		if !sleep(r.Context(), f.opts.Latency) {
			return response{}, false
		}
	}

	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return invalidRequest(http.StatusBadRequest, "", "", "Could not read the request body: "+err.Error()), true
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return invalidRequest(http.StatusBadRequest, "", "", "Invalid request body: expected form-encoded parameters."), true
	}
	if len(form) > 0 {
		rec.Form = form
	}

	if resp, failed := f.injectedFailure(r.URL.Path); failed {
		return resp, true
	}

	q := &apiRequest{method: r.Method, path: r.URL.Path, params: rec.Query}
	if r.Method == http.MethodPost {
		q.params = make(url.Values, len(rec.Query)+len(form))
		for k, v := range rec.Query {
			q.params[k] = slices.Clone(v)
		}
		for k, v := range form {
			q.params[k] = append(q.params[k], v...)
		}
	}
	if resp, failed := f.authenticate(r, q); failed {
		return resp, true
	}
	rec.Account = q.account

	if f.opts.RateLimit > 0 {
		f.mu.Lock()
		allowed := f.scopeLocked(q).bucket.take(time.Now(), f.opts.RateLimit)
		if !allowed {
			f.rateLimited++
		}
		f.mu.Unlock()
		if !allowed {
			return rateLimitError(), true
		}
	}

	handler := f.route(q)
	if handler == nil {
		return invalidRequest(http.StatusNotFound, "", "", fmt.Sprintf(
			"Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
			r.Method, r.URL.Path)), true
	}
	if r.Method != http.MethodPost {
		return handler(q), true
	}

	f.postMu.Lock()
	defer f.postMu.Unlock()
	idemKey := rec.IdempotencyKey
	if idemKey == "" {
		return handler(q), true
	}
	endpoint := r.Method + " " + r.URL.Path
	fingerprint := endpoint + "?" + q.params.Encode()
	f.mu.Lock()
	entry := f.scopeLocked(q).idem[idemKey]
	f.mu.Unlock()
	if entry != nil {
		switch {
		case entry.endpoint != endpoint:
			return stripeError(http.StatusBadRequest, "idempotency_error", "", "", fmt.Sprintf(
				"Keys for idempotent requests can only be used for the same endpoint they were first used for ('%s' vs '%s'). Try using a key other than '%s' if you meant to execute a different request.",
				entry.endpoint, endpoint, idemKey)), true
		case entry.fingerprint != fingerprint:
			return stripeError(http.StatusBadRequest, "idempotency_error", "", "", fmt.Sprintf(
				"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.",
				idemKey)), true
		}
		rec.Replayed = true
		replay := entry.resp
		replay.header = http.Header{
			"Idempotent-Replayed": {"true"},
			"Original-Request":    {entry.requestID},
		}
		return replay, true
	}
	resp = handler(q)
	if resp.status >= 200 && resp.status < 300 {
		f.mu.Lock()
		f.scopeLocked(q).idem[idemKey] = &idemEntry{
			fingerprint: fingerprint,
			endpoint:    endpoint,
			requestID:   reqID,
			resp:        resp,
		}
		f.mu.Unlock()
	}
	return resp, true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// injectedFailure applies FailNext and FailAfter.
func (f *Fake) injectedFailure(path string) (response, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNext > 0 {
		f.failNext--
		return failureResponse(f.failStatus), true
	}
	if rule := f.failAfter[path]; rule != nil && rule.succeeded >= rule.after {
		return failureResponse(rule.status), true
	}
	return response{}, false
}

func failureResponse(status int) response {
	switch {
	case status == http.StatusTooManyRequests:
		return rateLimitError()
	case status >= 500:
		return stripeError(status, "api_error", "", "",
			"Sorry, something went wrong. We've already been notified of the problem, but if you need any help, you can reach us at support.stripe.com/contact.")
	default:
		return invalidRequest(status, "", "", fmt.Sprintf("stripetest: injected failure (HTTP %d).", status))
	}
}

func rateLimitError() response {
	return invalidRequest(http.StatusTooManyRequests, "rate_limit", "",
		"Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.")
}

// apiKey extracts the API key from Bearer or Basic authorization.
func apiKey(r *http.Request) string {
	if user, _, ok := r.BasicAuth(); ok {
		return user
	}
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

var (
	keyPrefixes  = []string{"sk_test_", "sk_live_", "rk_test_", "rk_live_"}
	maskPrefixes = append([]string{"pk_test_", "pk_live_"}, keyPrefixes...)
)

// wellFormedKey reports whether key is a secret or restricted key.
func wellFormedKey(key string) bool {
	for _, p := range keyPrefixes {
		if rest, ok := strings.CutPrefix(key, p); ok && rest != "" {
			for _, c := range rest {
				if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
					return false
				}
			}
			return true
		}
	}
	return false
}

// maskKey hides a key like Stripe does in error messages: the type and
// mode prefix and the last four characters stay visible.
func maskKey(key string) string {
	prefix := ""
	for _, p := range maskPrefixes {
		if strings.HasPrefix(key, p) {
			prefix = p
			break
		}
	}
	rest := key[len(prefix):]
	if len(rest) <= 4 {
		return key
	}
	return prefix + strings.Repeat("*", len(rest)-4) + rest[len(rest)-4:]
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// derivedAccount returns a stable account id for key, shaped like Stripe's
// ("acct_1" and 15 letters and digits).
func derivedAccount(key string) string {
	sum := sha256.Sum256([]byte("stripetest account:" + key))
	b := []byte("acct_1")
	for _, c := range sum[:15] {
		b = append(b, base62[int(c)%len(base62)])
	}
	return string(b)
}

// authenticate resolves q's key to an account and mode.
func (f *Fake) authenticate(r *http.Request, q *apiRequest) (response, bool) {
	key := apiKey(r)
	if key == "" {
		return invalidRequest(http.StatusUnauthorized, "", "",
			"You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."), true
	}
	f.mu.Lock()
	acct, known := f.accounts[key]
	revoked := f.revoked[key]
	f.mu.Unlock()
	if revoked || !known && !wellFormedKey(key) {
		return invalidRequest(http.StatusUnauthorized, "", "", "Invalid API Key provided: "+maskKey(key)), true
	}
	if !known {
		acct = derivedAccount(key)
	}
	if connected := strings.TrimSpace(r.Header.Get("Stripe-Account")); connected != "" {
		acct = connected
	}
	q.key, q.account, q.live = key, acct, isLiveKey(key)
	return response{}, false
}

// scopeLocked returns the state of q's account and mode, creating it.
func (f *Fake) scopeLocked(q *apiRequest) *scope {
	return f.scopeOfLocked(scopeKey{q.account, q.live})
}

// keyScopeLocked returns the state of the account and mode key acts on
// (without a Stripe-Account header), creating it.
func (f *Fake) keyScopeLocked(key string) *scope {
	return f.scopeOfLocked(scopeKey{f.accountLocked(key), isLiveKey(key)})
}

func (f *Fake) scopeOfLocked(k scopeKey) *scope {
	s := f.scopes[k]
	if s == nil {
		s = &scope{
			productIdx:  make(map[string]int),
			priceIdx:    make(map[string]int),
			idem:        make(map[string]*idemEntry),
			endpointIdx: make(map[string]int),
			eventIdx:    make(map[string]int),
			stored:      make(map[storedKey][]byte),
		}
		f.scopes[k] = s
	}
	return s
}

// isLiveKey reports whether key is a live-mode key.
func isLiveKey(key string) bool { return strings.Contains(key, "_live_") }

// bucket is a token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time, rate float64) bool {
	burst := math.Max(1, rate)
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = math.Min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// stripeErrorBody is Stripe's error object.
type stripeErrorBody struct {
	Code    string `json:"code,omitempty"`
	DocURL  string `json:"doc_url,omitempty"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
	Type    string `json:"type"`
}

func stripeError(status int, typ, code, param, message string) response {
	e := stripeErrorBody{Code: code, Message: message, Param: param, Type: typ}
	if code != "" {
		e.DocURL = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-")
	}
	return jsonResponse(status, struct {
		Error stripeErrorBody `json:"error"`
	}{e})
}

func invalidRequest(status int, code, param, message string) response {
	return stripeError(status, "invalid_request_error", code, param, message)
}

func jsonResponse(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the fake's own types are encoded; this is a bug.
		panic(fmt.Sprintf("stripetest: encoding response: %v", err))
	}
	return response{status: status, body: append(b, '\n')}
}
