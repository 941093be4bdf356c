package stripetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Recorder sits in front of stripe-mock for the session API's tests. It
// forwards every request, so stripe-mock still checks each request's shape
// against Stripe's spec, and adds the memory stripe-mock lacks: customers,
// prices and Checkout Sessions get ids of their own (stripe-mock answers
// every create with the same fixture id), customers and prices keep their
// metadata, a repeated Idempotency-Key replays the first answer as Stripe does, the
// account stays the same (stripe-mock invents one per call), and every
// request is counted.
type Recorder struct {
	srv      *httptest.Server
	upstream string

	mu        sync.Mutex
	n         int
	calls     map[string]int // "POST /v1/customers" → count (replays included)
	bodies    map[string][]url.Values
	idem      map[string][]byte
	customers map[string]json.RawMessage
	fail      map[string]failure
	hold      map[string]holdGate
	account   []byte
}

// holdGate is a HoldNext: arrived is closed when the request waits, gate
// when it may go on.
type holdGate struct{ arrived, gate chan struct{} }

type failure struct {
	status int
	body   string
}

// StartRecorder starts a Recorder in front of upstream (a stripe-mock URL).
func StartRecorder(tb testing.TB, upstream string) *Recorder {
	tb.Helper()
	r := &Recorder{upstream: strings.TrimRight(upstream, "/"), calls: map[string]int{}, bodies: map[string][]url.Values{},
		idem: map[string][]byte{}, customers: map[string]json.RawMessage{}, fail: map[string]failure{},
		hold: map[string]holdGate{}}
	r.srv = httptest.NewServer(r)
	tb.Cleanup(r.srv.Close)
	return r
}

// URL is the Recorder's base URL.
func (r *Recorder) URL() string { return r.srv.URL }

// Calls counts requests to "METHOD /path" (idempotent replays included).
func (r *Recorder) Calls(route string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[route]
}

// Bodies returns the form bodies sent to "METHOD /path", in order.
func (r *Recorder) Bodies(route string) []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]url.Values(nil), r.bodies[route]...)
}

// FailNext makes the next request to "METHOD /path" fail with status and a
// Stripe error of type typ and message msg (not forwarded, not remembered).
func (r *Recorder) FailNext(route string, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"type": typ, "message": msg}})
	r.mu.Lock()
	r.fail[route] = failure{status, string(b)}
	r.mu.Unlock()
}

// HoldNext makes the next request to "METHOD /path" wait, once recorded,
// until release is called (or the request is cancelled); arrived is closed
// when it starts waiting. A test uses it to act while billwire waits for
// Stripe.
func (r *Recorder) HoldNext(route string) (arrived <-chan struct{}, release func()) {
	h := holdGate{arrived: make(chan struct{}), gate: make(chan struct{})}
	r.mu.Lock()
	r.hold[route] = h
	r.mu.Unlock()
	var once sync.Once
	return h.arrived, func() { once.Do(func() { close(h.gate) }) }
}

// ServeHTTP forwards one request.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	form, _ := url.ParseQuery(string(body))
	route := req.Method + " " + req.URL.Path
	idemKey := req.Header.Get("Idempotency-Key")

	r.mu.Lock()
	r.calls[route]++
	r.bodies[route] = append(r.bodies[route], form)
	if h, ok := r.hold[route]; ok {
		delete(r.hold, route)
		r.mu.Unlock()
		close(h.arrived)
		select {
		case <-h.gate:
		case <-req.Context().Done():
		}
		r.mu.Lock()
	}
	if f, ok := r.fail[route]; ok {
		delete(r.fail, route)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		io.WriteString(w, f.body) //nolint:errcheck
		return
	}
	if idemKey != "" {
		if prev, ok := r.idem[route+"\x00"+idemKey]; ok {
			r.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.Write(prev) //nolint:errcheck
			return
		}
	}
	if route == "GET /v1/account" && r.account != nil {
		acct := r.account
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(acct) //nolint:errcheck
		return
	}
	if req.Method == http.MethodGet && strings.HasPrefix(req.URL.Path, "/v1/customers/") {
		c, ok := r.customers[strings.TrimPrefix(req.URL.Path, "/v1/customers/")]
		r.mu.Unlock()
		if ok {
			w.Header().Set("Content-Type", "application/json")
			w.Write(c) //nolint:errcheck
			return
		}
	} else {
		r.mu.Unlock()
	}

	up, err := http.NewRequestWithContext(req.Context(), req.Method, r.upstream+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	up.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(up)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		out = r.rewrite(route, form, out)
	}
	if idemKey != "" && resp.StatusCode < 500 {
		r.mu.Lock()
		r.idem[route+"\x00"+idemKey] = out
		r.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	w.Write(out) //nolint:errcheck
}

// rewrite gives created customers, prices and sessions ids of their own
// and keeps what stripe-mock drops (a customer's metadata, email and name;
// a price's metadata).
func (r *Recorder) rewrite(route string, form url.Values, out []byte) []byte {
	var obj map[string]any
	if json.Unmarshal(out, &obj) != nil {
		return out
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch route {
	case "POST /v1/customers":
		r.n++
		id := fmt.Sprintf("cus_Rec%06d", r.n)
		obj["id"] = id
		obj["metadata"] = formMetadata(form)
		obj["email"], obj["name"] = nilIfEmpty(form.Get("email")), nilIfEmpty(form.Get("name"))
		b, _ := json.Marshal(obj)
		r.customers[id] = b
		return b
	case "POST /v1/prices":
		r.n++
		obj["id"] = fmt.Sprintf("price_Rec%06d", r.n)
		obj["metadata"] = formMetadata(form)
		b, _ := json.Marshal(obj)
		return b
	case "GET /v1/account":
		r.account = out
		return out
	case "POST /v1/checkout/sessions":
		r.n++
		id := fmt.Sprintf("cs_test_Rec%06d", r.n)
		obj["id"] = id
		obj["url"] = "https://checkout.stripe.com/c/pay/" + id
		obj["customer"] = form.Get("customer")
		obj["client_reference_id"] = form.Get("client_reference_id")
		b, _ := json.Marshal(obj)
		return b
	}
	return out
}

// formMetadata is the metadata a create sent.
func formMetadata(form url.Values) map[string]any {
	md := map[string]any{}
	for k, v := range form {
		if name, ok := strings.CutPrefix(k, "metadata["); ok {
			md[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	return md
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
