package billing

import (
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// SetupWebhook refuses a bad combination of arguments before it touches
// the store or Stripe: the secret's shape first, then url and secret
// together, then the URL.
func TestSetupWebhookRefusesBadArguments(t *testing.T) {
	s := New(nil, stripeapi.Options{}, zerolog.Nop()) // a call that got past the checks would panic
	const secret = "whsec_0123456789abcdef"
	cases := []struct {
		env                       vocab.Env
		url, secret, base, refuse string
	}{
		{vocab.Test, "https://x.example/webhooks/stripe/test", "whsec_short", "", "signing_secret must be the whsec_… secret"},
		{vocab.Test, "", "sk_test_0123456789abcdef", "", "signing_secret must be the whsec_… secret"},
		{vocab.Test, "https://x.example/webhooks/stripe/test", secret, "", "give either url"},
		{vocab.Test, "", "", "", "no url: pass url (e.g. https://billing.example.com/webhooks/stripe/test), or set " + PublicURLEnv},
		{vocab.Test, "ftp://x.example/hook", "", "", `url "ftp://x.example/hook" is not an http(s) URL`},
		{vocab.Test, "", "", "x.example", `url "x.example/webhooks/stripe/test" is not an http(s) URL`},
		{vocab.Live, "http://x.example/webhooks/stripe/live", "", "", "Stripe delivers live events only to https URLs"},
		{vocab.Live, "", "", "http://x.example/", "Stripe delivers live events only to https URLs"},
	}
	for _, c := range cases {
		_, err := s.SetupWebhook(context.Background(), c.env, c.url, c.secret, c.base)
		if !fault.Is(err, fault.Invalid) || !strings.HasPrefix(err.Error(), c.refuse) {
			t.Errorf("%s url %q secret %q base %q: %v, want %q", c.env, c.url, c.secret, c.base, err, c.refuse)
		}
	}
	if _, err := s.StoreListenSecret(context.Background(), vocab.Test, " whsec_x "); !fault.Is(err, fault.Invalid) {
		t.Errorf("StoreListenSecret took a malformed secret: %v", err)
	}
}

func TestReceiverURL(t *testing.T) {
	for _, c := range []struct {
		env            vocab.Env
		url, base, out string
	}{
		{vocab.Test, "", "https://billing.example.com/", "https://billing.example.com/webhooks/stripe/test"},
		{vocab.Live, "", "https://billing.example.com", "https://billing.example.com/webhooks/stripe/live"},
		{vocab.Test, "http://127.0.0.1:8787/hook", "https://ignored.example", "http://127.0.0.1:8787/hook"},
	} {
		if got, err := receiverURL(c.env, c.url, c.base); err != nil || got != c.out {
			t.Errorf("receiverURL(%s, %q, %q) = %q, %v; want %q", c.env, c.url, c.base, got, err, c.out)
		}
	}
}
