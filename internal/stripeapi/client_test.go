package stripeapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

func TestKeyKind(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env        vocab.Env
		key, kind  string
		errMention string
	}{
		{vocab.Test, "sk_test_51AbcdefghijKLMNOP", "secret", ""},
		{vocab.Test, "rk_test_51AbcdefghijKLMNOP", "restricted", ""},
		{vocab.Live, "sk_live_51AbcdefghijKLMNOP", "secret", ""},
		{vocab.Test, "sk_live_51AbcdefghijKLMNOP", "", "live-mode key"},
		{vocab.Live, "rk_test_51AbcdefghijKLMNOP", "", "test-mode key"},
		{vocab.Test, "pk_test_51AbcdefghijKLMNOP", "", "publishable"},
		{vocab.Test, "whsec_51AbcdefghijKLMNOP", "", "signing secret"},
		{vocab.Test, "sk_test_short", "", "malformed"},
		{vocab.Test, "sk_test_51Abc def", "", "malformed"},
	}
	for _, c := range cases {
		kind, err := stripeapi.KeyKind(c.env, c.key)
		if c.errMention == "" {
			if err != nil || kind != c.kind {
				t.Errorf("KeyKind(%s, %s) = %q, %v; want %q", c.env, c.key, kind, err, c.kind)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.errMention) {
			t.Errorf("KeyKind(%s, %s) error = %v, want mention of %q", c.env, c.key, err, c.errMention)
		}
		if err != nil && len(c.key) > 16 && strings.Contains(err.Error(), c.key) {
			t.Errorf("error repeats the key: %v", err)
		}
	}
}

func TestCheckBase(t *testing.T) {
	t.Parallel()
	ok := []struct {
		env  vocab.Env
		base string
	}{
		{vocab.Test, ""}, {vocab.Test, "http://stripe-mock:12111"}, {vocab.Live, "https://proxy.example.com"},
		{vocab.Live, "http://127.0.0.1:9999"}, {vocab.Live, "http://localhost:9999"}, {vocab.Live, "http://[::1]:9999"},
	}
	for _, c := range ok {
		if err := stripeapi.CheckBase(c.env, c.base); err != nil {
			t.Errorf("CheckBase(%s, %q) = %v", c.env, c.base, err)
		}
	}
	for _, base := range []string{"http://10.0.0.5:8080", "ftp://x", "not a url"} {
		if err := stripeapi.CheckBase(vocab.Live, base); err == nil {
			t.Errorf("CheckBase(live, %q) accepted", base)
		}
	}
}

func TestIdempotencyKeyIsStableAndDistinct(t *testing.T) {
	t.Parallel()
	a := stripeapi.IdempotencyKey("create_price", "test", "acct_1", map[string]any{"amount": 2000})
	if a != stripeapi.IdempotencyKey("create_price", "test", "acct_1", map[string]any{"amount": 2000}) {
		t.Fatal("same call, different key")
	}
	for _, other := range []string{
		stripeapi.IdempotencyKey("create_price", "test", "acct_1", map[string]any{"amount": 2001}),
		stripeapi.IdempotencyKey("create_price", "test", "acct_2", map[string]any{"amount": 2000}),
		stripeapi.IdempotencyKey("create_product", "test", "acct_1", map[string]any{"amount": 2000}),
	} {
		if other == a {
			t.Fatal("different calls share a key")
		}
	}
}

// A client paced faster than the account's limit gets 429s, backs off and
// still finishes every request.
func TestRateLimitBackoff(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Customers: 30, RateLimit: 20})
	c, err := stripeapi.New(vocab.Test, "sk_test_51RateLimitTest000000000001", stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 40 {
		if _, err := c.ListPage(ctx, "/v1/customers", "", 1, nil); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if fake.RateLimited() == 0 {
		t.Fatal("the fake never rate-limited: the test proves nothing")
	}
}

// Paced at the account's limit, the client is not rate-limited at all.
func TestPacingStaysUnderTheLimit(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Customers: 5, RateLimit: 50})
	c, err := stripeapi.New(vocab.Test, "sk_test_51PacingTest00000000000001", stripeapi.Options{BaseURL: fake.URL(), RateLimit: 50})
	if err != nil {
		t.Fatal(err)
	}
	for range 80 {
		if _, err := c.ListPage(context.Background(), "/v1/customers", "", 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.RateLimited(); n != 0 {
		t.Fatalf("%d requests rate-limited", n)
	}
}

func TestStripeErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	const key = "sk_test_51ErrorsTest00000000000004242"
	c, err := stripeapi.New(vocab.Test, key, stripeapi.Options{BaseURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Retrieve(context.Background(), "/v1/products/prod_missing")
	if !stripeapi.IsNotFound(err) || !strings.Contains(err.Error(), "check the id") {
		t.Fatalf("404 = %v", err)
	}
	fake.RevokeKey(key)
	_, err = c.Account(context.Background())
	if err == nil || !strings.Contains(err.Error(), "configure_stripe_keys") || strings.Contains(err.Error(), key) {
		t.Fatalf("401 = %v", err)
	}
	dead, _ := stripeapi.New(vocab.Test, key, stripeapi.Options{BaseURL: "http://127.0.0.1:1"})
	_, err = dead.Account(context.Background())
	if err == nil || !strings.Contains(err.Error(), "could not reach Stripe at http://127.0.0.1:1") || !stripeapi.Temporary(err) {
		t.Fatalf("unreachable = %v", err)
	}
}
