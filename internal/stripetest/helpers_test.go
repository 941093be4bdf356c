package stripetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/client"
)

func TestMain(m *testing.M) {
	m.Run()
	StopMock()
}

// newClient returns a stripe-go client for the server at base that neither
// retries nor logs.
func newClient(base, key string) *client.API {
	return newClientRetries(base, key, 0)
}

func newClientRetries(base, key string, retries int64) *client.API {
	cfg := &stripe.BackendConfig{
		URL:               stripe.String(base),
		MaxNetworkRetries: stripe.Int64(retries),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	b := stripe.GetBackendWithConfig(stripe.APIBackend, cfg)
	return client.New(key, &stripe.Backends{API: b, Connect: b, Uploads: b})
}

// rawResponse is a response read by do.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// errorBody decodes the body as Stripe's error envelope.
func (r rawResponse) errorBody(t *testing.T) stripeErrorBody {
	t.Helper()
	var e struct {
		Error *stripeErrorBody `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil {
		t.Fatalf("status %d: body is not a Stripe error (%v): %s", r.status, err, r.body)
	}
	return *e.Error
}

// do sends a raw request with the given key (none if empty), form body (for
// POST) and headers (name, value pairs).
func do(t *testing.T, method, rawURL, key string, form url.Values, headers ...string) rawResponse {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// stripeErr asserts that err is a *stripe.Error and returns it.
func stripeErr(t *testing.T, err error) *stripe.Error {
	t.Helper()
	se, ok := err.(*stripe.Error)
	if !ok {
		t.Fatalf("want a *stripe.Error, got %T: %v", err, err)
	}
	return se
}
