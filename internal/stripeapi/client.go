// Package stripeapi is billwire's one way to Stripe: a client per environment
// over stripe-go's client.API, with a base-URL override, context on every
// call, idempotency keys on creates, pacing under Stripe's rate limit, and
// Stripe errors turned into text an agent can act on. It offers one call per
// resource (CreateProduct, ListEvents, WebhookEndpoint, …), so Stripe's
// paths appear nowhere else (the module's structure test checks it), and of
// billwire's own packages it imports only the vocabulary and secrets.
package stripeapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/client"
	"github.com/stripe/stripe-go/v79/form"

	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/vocab"
)

// APIBaseEnv names the variable that overrides Stripe's API base URL.
const APIBaseEnv = "BILLWIRE_STRIPE_API_BASE"

// Options tune a Client. The zero value talks to api.stripe.com.
type Options struct {
	// BaseURL overrides Stripe's API base (stripe-mock, a fake, a proxy).
	BaseURL string
	// HTTPClient replaces the default HTTP client (which uses Transport).
	HTTPClient *http.Client
	// RateLimit paces requests (per second, with bursts of up to half a
	// second's requests); 0 means Stripe's default for the
	// key's mode: 25/s in test mode, 100/s in live mode.
	RateLimit float64
	// MaxRateLimitRetries bounds retries of a request Stripe answered 429 (default 8).
	MaxRateLimitRetries int
}

// Transport is the connection pool every Client's default HTTP client
// shares. Go's default transport keeps 2 idle connections per host, so
// concurrent calls beyond 2 would each open, and TLS-handshake, a new
// connection to Stripe.
var Transport http.RoundTripper = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return t
}()

// Client calls Stripe for one environment with one key.
type Client struct {
	env     vocab.Env
	key     string
	api     *client.API
	backend stripe.Backend
	base    string
	pace    *pacer
	retries int
}

var keyRE = regexp.MustCompile(`^(sk|rk)_(test|live)_[A-Za-z0-9]{10,}$`)

// KeyKind checks that key is a Stripe secret or restricted key for env and
// returns "secret" or "restricted". Its errors never repeat the key.
func KeyKind(env vocab.Env, key string) (string, error) {
	key = strings.TrimSpace(key)
	switch {
	case strings.HasPrefix(key, "pk_"):
		return "", errors.New("that is a publishable key (pk_…); billwire needs a secret key (sk_…) or a restricted key (rk_…) from the Stripe Dashboard, Developers → API keys")
	case strings.HasPrefix(key, "whsec_"):
		return "", errors.New("that is a webhook signing secret (whsec_…), not an API key; use a secret key (sk_…) or a restricted key (rk_…)")
	case !keyRE.MatchString(key):
		return "", fmt.Errorf("malformed Stripe key %s: expected sk_%s_… or rk_%s_… followed by letters and digits, copied whole from the Stripe Dashboard", secrets.Mask(key), env, env)
	}
	mode := strings.SplitN(key, "_", 3)[1]
	if mode != string(env) {
		return "", fmt.Errorf("key %s is a %s-mode key but the environment is %s: use an sk_%s_… or rk_%s_… key here", secrets.Mask(key), mode, env, env, env)
	}
	if strings.HasPrefix(key, "rk_") {
		return "restricted", nil
	}
	return "secret", nil
}

// IsStripeBase reports whether base (an API base override, "" for none)
// is Stripe's own API rather than a mock, a fake or a proxy.
func IsStripeBase(base string) bool {
	if base == "" {
		return true
	}
	u, err := url.Parse(base)
	return err == nil && u.Scheme == "https" && u.Hostname() == "api.stripe.com"
}

// CheckBase refuses an API base override that would send a live key over
// plain HTTP to another machine.
func CheckBase(env vocab.Env, base string) error {
	if base == "" {
		return nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s=%q is not an http(s) URL", APIBaseEnv, base)
	}
	if env == vocab.Live && u.Scheme != "https" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%s=%s would send the live key unencrypted to another machine: use https, or a loopback address for a local proxy", APIBaseEnv, base)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// New returns a client for env with key.
func New(env vocab.Env, key string, o Options) (*Client, error) {
	if _, err := KeyKind(env, key); err != nil {
		return nil, err
	}
	if err := CheckBase(env, o.BaseURL); err != nil {
		return nil, err
	}
	cfg := &stripe.BackendConfig{
		MaxNetworkRetries: stripe.Int64(2),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		HTTPClient:        o.HTTPClient,
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 80 * time.Second, Transport: Transport}
	}
	base := o.BaseURL
	if base != "" {
		cfg.URL = stripe.String(strings.TrimRight(base, "/"))
	} else {
		base = stripe.APIURL
	}
	b := stripe.GetBackendWithConfig(stripe.APIBackend, cfg)
	rate := o.RateLimit
	if rate == 0 {
		rate = 25
		if env == vocab.Live {
			rate = 100
		}
	}
	retries := o.MaxRateLimitRetries
	if retries == 0 {
		retries = 8
	}
	return &Client{
		env: env, key: key, backend: b, base: base, retries: retries,
		api:  client.New(key, &stripe.Backends{API: b, Connect: b, Uploads: b}),
		pace: newPacer(rate),
	}, nil
}

// Env is the client's environment.
func (c *Client) Env() vocab.Env { return c.env }

// API exposes stripe-go's aggregate client for calls this package does not wrap.
func (c *Client) API() *client.API { return c.api }

// Account is who a key belongs to.
type Account struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Account asks Stripe which account the key belongs to.
func (c *Client) Account(ctx context.Context) (Account, error) {
	var a stripe.Account
	err := c.call(ctx, func() error {
		return c.backend.Call(http.MethodGet, "/v1/account", c.key, &stripe.Params{Context: ctx}, &a)
	})
	if err != nil {
		return Account{}, c.wrap("read the account of the key", err)
	}
	name := ""
	if a.Settings != nil && a.Settings.Dashboard != nil {
		name = a.Settings.Dashboard.DisplayName
	}
	if name == "" && a.BusinessProfile != nil {
		name = a.BusinessProfile.Name
	}
	return Account{ID: a.ID, Name: name}, nil
}

// IdempotencyKey derives a key from what a create means, so that a retried
// tool call or command sends Stripe the same key and creates nothing twice.
func IdempotencyKey(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		b, _ := json.Marshal(p)
		h.Write(b)
		h.Write([]byte{0})
	}
	return "billwire-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// CreateProduct creates a product; the raw JSON is the full Stripe object.
func (c *Client) CreateProduct(ctx context.Context, p *stripe.ProductParams, idempotencyKey string) (*stripe.Product, json.RawMessage, error) {
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	var out *stripe.Product
	err := c.call(ctx, func() (err error) { out, err = c.api.Products.New(p); return err })
	if err != nil {
		return nil, nil, c.wrap("create product", err)
	}
	return out, out.LastResponse.RawJSON, nil
}

// CreatePrice creates a price; the raw JSON is the full Stripe object.
func (c *Client) CreatePrice(ctx context.Context, p *stripe.PriceParams, idempotencyKey string) (*stripe.Price, json.RawMessage, error) {
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	var out *stripe.Price
	err := c.call(ctx, func() (err error) { out, err = c.api.Prices.New(p); return err })
	if err != nil {
		return nil, nil, c.wrap("create price", err)
	}
	return out, out.LastResponse.RawJSON, nil
}

// Page is one page of a Stripe list, objects kept as Stripe sent them.
type Page struct {
	stripe.APIResource
	Data    []json.RawMessage `json:"data"`
	HasMore bool              `json:"has_more"`
}

// ListPage fetches one page of a list endpoint (e.g. "/v1/prices") after
// startingAfter, with extra filters (repeat a key ending in [] for an array).
// Other packages call the per-resource lists (ListProducts, ListEvents, …)
// instead: Stripe's paths stay in this package.
func (c *Client) ListPage(ctx context.Context, path, startingAfter string, limit int, filters url.Values) (*Page, error) {
	lp := &stripe.ListParams{Context: ctx, Limit: stripe.Int64(int64(limit))}
	if startingAfter != "" {
		lp.StartingAfter = stripe.String(startingAfter)
	}
	for k, vs := range filters {
		for _, v := range vs {
			lp.Filters.AddFilter(k, "", v)
		}
	}
	body := &form.Values{}
	form.AppendTo(body, lp)
	var page Page
	err := c.call(ctx, func() error {
		page = Page{}
		return c.backend.CallRaw(http.MethodGet, path, c.key, body, lp.GetParams(), &page)
	})
	if err != nil {
		return nil, c.wrap("list "+path, err)
	}
	return &page, nil
}

// Retrieve fetches one object by path (e.g. "/v1/products/prod_123"); other
// packages pass only a path ObjectPath gave, and otherwise call the
// per-resource retrieves (Product, WebhookEndpoint, …).
func (c *Client) Retrieve(ctx context.Context, path string) (json.RawMessage, error) {
	var out rawObject
	err := c.call(ctx, func() error {
		return c.backend.Call(http.MethodGet, path, c.key, &stripe.Params{Context: ctx}, &out)
	})
	if err != nil {
		return nil, c.wrap("retrieve "+path, err)
	}
	return out.LastResponse.RawJSON, nil
}

type rawObject struct {
	stripe.APIResource
}

// call paces fn under the rate limit and retries it when Stripe answers 429.
// stripe-go retries network faults, 409s, 5xx and lock timeouts itself.
func (c *Client) call(ctx context.Context, fn func() error) error {
	backoff := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if err := c.pace.wait(ctx); err != nil {
			return err
		}
		err := fn()
		var se *stripe.Error
		if err == nil || !errors.As(err, &se) || se.HTTPStatusCode != http.StatusTooManyRequests || attempt >= c.retries {
			return err
		}
		d := backoff/2 + rand.N(backoff/2)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		backoff = min(backoff*2, 16*time.Second)
	}
}

// pacer keeps requests under a rate the way Stripe's own limiter counts
// them, as a token bucket. Stripe's holds a second's requests; this one
// holds half as many, so that the other half absorbs requests that arrive
// closer together than they left. A burst of up to half a second's requests
// (concurrent checkouts) goes at once, and requests beyond it are spaced at
// the rate. It is a virtual clock: tat is when the bucket will be full again.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration // one request's share of a second
	slack    time.Duration // how far tat may run ahead of now without waiting
	tat      time.Time
}

func newPacer(perSecond float64) *pacer {
	interval := time.Duration(float64(time.Second) / perSecond)
	burst := max(1, int(perSecond/2))
	return &pacer{interval: interval, slack: time.Duration(burst-1) * interval}
}

// reserve takes a request's place and returns how long it must wait.
func (p *pacer) reserve(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tat.Before(now) {
		p.tat = now
	}
	d := p.tat.Sub(now) - p.slack
	p.tat = p.tat.Add(p.interval)
	return max(0, d)
}

func (p *pacer) wait(ctx context.Context) error {
	if d := p.reserve(time.Now()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// CreateWebhookEndpoint creates an endpoint; the result carries its signing secret.
func (c *Client) CreateWebhookEndpoint(ctx context.Context, p *stripe.WebhookEndpointParams, idempotencyKey string) (*stripe.WebhookEndpoint, error) {
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	var out *stripe.WebhookEndpoint
	err := c.call(ctx, func() (err error) { out, err = c.api.WebhookEndpoints.New(p); return err })
	if err != nil {
		return nil, c.wrap("create webhook endpoint", err)
	}
	return out, nil
}

// UpdateWebhookEndpoint changes an endpoint's URL, events or disabled state.
func (c *Client) UpdateWebhookEndpoint(ctx context.Context, id string, p *stripe.WebhookEndpointParams) (*stripe.WebhookEndpoint, error) {
	p.Context = ctx
	var out *stripe.WebhookEndpoint
	err := c.call(ctx, func() (err error) { out, err = c.api.WebhookEndpoints.Update(id, p); return err })
	if err != nil {
		return nil, c.wrap("update webhook endpoint", err)
	}
	return out, nil
}

// DeleteWebhookEndpoint deletes an endpoint.
func (c *Client) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	err := c.call(ctx, func() error {
		_, err := c.api.WebhookEndpoints.Del(id, &stripe.WebhookEndpointParams{Params: stripe.Params{Context: ctx}})
		return err
	})
	if err != nil {
		return c.wrap("delete webhook endpoint", err)
	}
	return nil
}
