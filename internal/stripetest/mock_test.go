package stripetest

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79"
)

// TestMockRestart runs before the parallel tests resume (it does not call
// t.Parallel), so stopping the shared server cannot disturb them.
func TestMockRestart(t *testing.T) {
	if os.Getenv(MockURLEnv) != "" {
		t.Skip(MockURLEnv + " is set: the launcher is bypassed")
	}
	first := Mock(t)
	if again := Mock(t); again != first {
		t.Fatalf("second Mock call returned %q, want the shared %q", again, first)
	}
	StopMock()
	client := &http.Client{Timeout: time.Second}
	if err := probeMock(client, first); err == nil {
		t.Fatalf("stripe-mock at %s still answers after StopMock", first)
	}
	StopMock() // stopping twice is harmless
	second := Mock(t)
	if err := probeMock(client, second); err != nil {
		t.Fatalf("restarted stripe-mock at %s does not answer: %v", second, err)
	}
}

func TestMockURLFromEnv(t *testing.T) {
	t.Setenv(MockURLEnv, "http://stripe-mock.invalid:12111/")
	if got := Mock(t); got != "http://stripe-mock.invalid:12111" {
		t.Fatalf("Mock() = %q, want the URL from %s without trailing slash", got, MockURLEnv)
	}
}

func TestMockListPrices(t *testing.T) {
	t.Parallel()
	sc := newClient(Mock(t), "sk_test_123")
	it := sc.Prices.List(&stripe.PriceListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(3), Single: true}})
	n := 0
	for it.Next() {
		p := it.Price()
		if p.ID == "" || p.Object != "price" {
			t.Errorf("stripe-mock price without id or object: %+v", p)
		}
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatalf("listing prices against stripe-mock: %v", err)
	}
	if n == 0 {
		t.Fatal("stripe-mock returned no prices")
	}
}

func TestMockValidatesRequests(t *testing.T) {
	t.Parallel()
	// stripe-mock checks requests against the OpenAPI spec: a price without
	// currency is refused.
	sc := newClient(Mock(t), "sk_test_123")
	_, err := sc.Prices.New(&stripe.PriceParams{UnitAmount: stripe.Int64(100)})
	if se := stripeErr(t, err); se.HTTPStatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %v", se.HTTPStatusCode, err)
	}
}

// The fake leaves to stripe-mock the checks of Stripe's spec on the
// requests billwire's tests also send to stripe-mock (see Fake): each of
// these, once refused by the fake too, is refused by stripe-mock for the
// parameter named.
func TestMockRefusesWhatTheFakeLeavesToIt(t *testing.T) {
	t.Parallel()
	base := Mock(t)
	price := func(kv ...string) url.Values {
		v := url.Values{"product": {"prod_x"}, "currency": {"usd"}, "unit_amount": {"100"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	for _, tc := range []struct {
		method, path string
		form         url.Values
		param        string
	}{
		{"POST", "/v1/prices", price("currency", ""), "currency"},
		{"POST", "/v1/prices", price("recurring[interval]", "fortnight"), "interval"},
		{"POST", "/v1/prices", price("recurring[interval_count]", "3"), "interval"},
		{"POST", "/v1/prices", price("recurring[interval]", "month", "recurring[usage_type]", "sometimes"), "usage_type"},
		{"POST", "/v1/prices", price("tax_behavior", "sometimes"), "tax_behavior"},
		{"POST", "/v1/prices", price("product", "", "product_data[unit_label]", "seat"), "name"},
		{"POST", "/v1/products", url.Values{"description": {"no name"}}, "name"},
		{"GET", "/v1/prices?type=sometimes", nil, "type"},
		{"GET", "/v1/subscriptions?status=gone", nil, "status"},
		{"POST", "/v1/entitlements/features", url.Values{"name": {"API"}}, "lookup_key"},
		{"POST", "/v1/entitlements/features", url.Values{"lookup_key": {"api"}}, "name"},
		{"POST", "/v1/products/prod_x/features", url.Values{}, "entitlement_feature"},
		{"GET", "/v1/entitlements/active_entitlements", nil, "customer"},
	} {
		r := do(t, tc.method, base+tc.path, "sk_test_123", tc.form)
		if e := r.errorBody(t); r.status != http.StatusBadRequest || !strings.Contains(e.Message, "'"+tc.param+"'") {
			t.Errorf("%s %s %v: %d %q, want 400 naming '%s'", tc.method, tc.path, tc.form, r.status, e.Message, tc.param)
		}
	}
}

func TestLaunchMockReportsOutput(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "broken-mock")
	script := "#!/bin/sh\necho 'stripe-mock v0.0.0'\necho 'error listening at address: boom' >&2\nexit 3\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	u, cmd, _, err := launchMock(bin)
	if err == nil || u != "" || cmd != nil {
		t.Fatalf("launchMock of a failing binary = %q, %v, %v", u, cmd, err)
	}
	for _, want := range []string{"exited during start-up", "exit status 3", "error listening at address: boom", bin} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRequiredVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gomod := filepath.Join(dir, "go.mod")
	content := "module x\n\ngo 1.26\n\nrequire github.com/a/b v1.0.0\n\nrequire (\n\tgithub.com/stripe/stripe-mock v0.189.0 // indirect\n)\n\ntool github.com/stripe/stripe-mock\n"
	if err := os.WriteFile(gomod, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"github.com/stripe/stripe-mock": "v0.189.0", "github.com/a/b": "v1.0.0"} {
		if got, err := requiredVersion(gomod, path); err != nil || got != want {
			t.Errorf("requiredVersion(%s) = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := requiredVersion(gomod, "github.com/missing/mod"); err == nil {
		t.Error("requiredVersion of a module go.mod does not require: no error")
	}
}

func TestListenAddr(t *testing.T) {
	t.Parallel()
	out := "stripe-mock v0.189.0\nRouting to 500 path(s)\nListening for HTTPS at address: 127.0.0.1:40001\nListening for HTTP at address: 127.0.0.1:40002\n"
	if got := listenAddr(out, "HTTP"); got != "127.0.0.1:40002" {
		t.Errorf("listenAddr(HTTP) = %q", got)
	}
	if got := listenAddr(out, "HTTPS"); got != "127.0.0.1:40001" {
		t.Errorf("listenAddr(HTTPS) = %q", got)
	}
	if got := listenAddr("stripe-mock v0.189.0\n", "HTTP"); got != "" {
		t.Errorf("listenAddr before listening = %q, want empty", got)
	}
}

func TestCappedBuffer(t *testing.T) {
	t.Parallel()
	b := &cappedBuffer{limit: 5}
	for _, s := range []string{"abc", "defg", "hij"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v; a capped buffer must never fail a write", s, n, err)
		}
	}
	if got := b.String(); got != "abcde" {
		t.Fatalf("String() = %q, want the first 5 bytes", got)
	}
}
