package billing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// PublicURLEnv names the variable holding billwire serve's public base URL.
const PublicURLEnv = "BILLWIRE_PUBLIC_URL"

// WebhookSetup reports what setup_webhook did.
type WebhookSetup struct {
	Env      vocab.Env             `json:"env"`
	Action   string                `json:"action"` // created, updated, unchanged, recreated, stored_cli_secret
	Endpoint store.WebhookEndpoint `json:"endpoint"`
	// PreviousRevoked is set when revoke_previous was asked: whether a
	// previous signing secret was still accepted and now is not.
	PreviousRevoked *bool  `json:"previous_secret_revoked,omitempty"`
	NextStep        string `json:"next_step"`
}

// RevokePreviousWebhookSecret ends the 24-hour grace of env's previous
// signing secret at once (after a leak, or once the rotation is done).
// after is what a setup in the same call did, or nil when the call only
// revokes; the answer reports both.
func (s *Service) RevokePreviousWebhookSecret(ctx context.Context, env vocab.Env, after *WebhookSetup) (*WebhookSetup, error) {
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, err
	}
	revoked, err := st.RevokePreviousWebhookSecret(ctx, env)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notConfigured(env)
	}
	if err != nil {
		return nil, err
	}
	got, err := st.Webhook(ctx, env)
	if err != nil {
		return nil, err
	}
	res := &WebhookSetup{Env: env, Action: "revoked_previous", NextStep: "only the current signing secret (" + got.SecretMasked + ") verifies deliveries now"}
	if after != nil {
		res.Action, res.NextStep = after.Action, after.NextStep+"; only the current signing secret verifies deliveries now"
	}
	res.Endpoint, res.PreviousRevoked = *got, &revoked
	if !revoked && after == nil {
		res.NextStep = "no previous signing secret was accepted; nothing changed"
	}
	s.log.Info().Str("env", string(env)).Bool("revoked", revoked).Msg("webhook: previous signing secret revoked")
	return res, nil
}

// SetupWebhook makes Stripe deliver billwire's event types to billwire:
// with a signing secret (from `stripe listen`) it stores that for local
// development (StoreListenSecret); otherwise it ensures billwire's managed
// endpoint at endpointURL, by default publicBase's receiver
// (EnsureManagedEndpoint).
func (s *Service) SetupWebhook(ctx context.Context, env vocab.Env, endpointURL, signingSecret, publicBase string) (*WebhookSetup, error) {
	signingSecret = strings.TrimSpace(signingSecret)
	if signingSecret == "" {
		return s.EnsureManagedEndpoint(ctx, env, endpointURL, publicBase)
	}
	if err := checkListenSecret(signingSecret); err != nil {
		return nil, err
	}
	if endpointURL != "" {
		return nil, inputErr("give either url (billwire manages the endpoint in Stripe) or signing_secret (from `stripe listen`), not both")
	}
	return s.StoreListenSecret(ctx, env, signingSecret)
}

func checkListenSecret(secret string) error {
	if !strings.HasPrefix(secret, "whsec_") || len(secret) < 16 {
		return inputErr("signing_secret must be the whsec_… secret printed by `stripe listen --forward-to …` (or shown for an endpoint in the Stripe Dashboard)")
	}
	return nil
}

// StoreListenSecret stores the signing secret `stripe listen` printed as
// env's: billwire then verifies the events it forwards, and manages no
// endpoint in Stripe.
func (s *Service) StoreListenSecret(ctx context.Context, env vocab.Env, secret string) (*WebhookSetup, error) {
	secret = strings.TrimSpace(secret)
	if err := checkListenSecret(secret); err != nil {
		return nil, err
	}
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, err
	}
	ep := store.WebhookEndpoint{Source: "cli", SecretMasked: secrets.Mask(secret)}
	if err := st.SetWebhook(ctx, env, ep, secret); errors.Is(err, store.ErrNotFound) {
		return nil, notConfigured(env)
	} else if err != nil {
		return nil, err
	}
	got, err := st.Webhook(ctx, env)
	if err != nil {
		return nil, err
	}
	return &WebhookSetup{Env: env, Action: "stored_cli_secret", Endpoint: *got,
		NextStep: fmt.Sprintf("keep `stripe listen --forward-to <billwire serve address>/webhooks/stripe/%s` running; events it forwards are verified with this secret", env)}, nil
}

// EnsureManagedEndpoint makes Stripe deliver billwire's event types to
// endpointURL (by default publicBase's receiver for env): it finds
// billwire's endpoint (tagged in metadata) and repairs a disabled one or
// one with another URL or other events, or creates it (replacing one
// billwire cannot use), and stores the signing secret.
func (s *Service) EnsureManagedEndpoint(ctx context.Context, env vocab.Env, endpointURL, publicBase string) (*WebhookSetup, error) {
	endpointURL, err := receiverURL(env, endpointURL, publicBase)
	if err != nil {
		return nil, err
	}
	st, c, e, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	events := webhooks.Types()
	found, err := findManagedEndpoint(ctx, c, env)
	if err != nil {
		return nil, err
	}
	stored, _ := st.WebhookSecrets(ctx, env)
	var action, secret string
	var ep *stripe.WebhookEndpoint
	if found != nil && found.APIVersion == stripe.APIVersion && (stored.Current != "" && storedFor(st, ctx, env, found.ID)) {
		action, ep, err = repairEndpoint(ctx, c, found, endpointURL, events)
	} else {
		action, ep, err = replaceEndpoint(ctx, c, env, e.AccountID, found, endpointURL, events)
		if err == nil {
			secret = ep.Secret
		}
	}
	if err != nil {
		return nil, err
	}
	rec := store.WebhookEndpoint{Source: "managed", EndpointID: ep.ID, URL: ep.URL, Events: ep.EnabledEvents, Status: ep.Status}
	if secret != "" {
		rec.SecretMasked = secrets.Mask(secret)
	} else {
		rec.SecretMasked = maskedSecret(st, ctx, env)
	}
	if err := st.SetWebhook(ctx, env, rec, secret); err != nil {
		return nil, err
	}
	got, err := st.Webhook(ctx, env)
	if err != nil {
		return nil, err
	}
	s.log.Info().Str("env", string(env)).Str("endpoint", ep.ID).Str("action", action).Msg("webhook endpoint set up")
	return &WebhookSetup{Env: env, Action: action, Endpoint: *got,
		NextStep: "run billwire serve where " + ep.URL + " reaches it; get_payments_status shows the last event received"}, nil
}

// receiverURL is the endpoint's URL: endpointURL, else publicBase's
// receiver for env; an http(s) URL, https for live.
func receiverURL(env vocab.Env, endpointURL, publicBase string) (string, error) {
	if endpointURL == "" {
		if publicBase == "" {
			return "", inputErr("no url: pass url (e.g. https://billing.example.com/webhooks/stripe/%s), or set %s to billwire serve's public base URL, or pass signing_secret from `stripe listen` for local development", env, PublicURLEnv)
		}
		endpointURL = ReceiverURL(publicBase, env)
	}
	u, err := url.Parse(endpointURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", inputErr("url %q is not an http(s) URL", endpointURL)
	}
	if env == vocab.Live && u.Scheme != "https" {
		return "", inputErr("Stripe delivers live events only to https URLs: use https://…")
	}
	return endpointURL, nil
}

// repairEndpoint updates billwire's usable endpoint where it differs:
// another URL, other events, disabled. The action is unchanged or updated.
func repairEndpoint(ctx context.Context, c *stripeapi.Client, found *stripe.WebhookEndpoint, endpointURL string, events []string) (string, *stripe.WebhookEndpoint, error) {
	params := &stripe.WebhookEndpointParams{}
	changed := false
	if found.URL != endpointURL {
		params.URL, changed = stripe.String(endpointURL), true
	}
	if !sameSet(found.EnabledEvents, events) {
		params.EnabledEvents, changed = stripe.StringSlice(events), true
	}
	if found.Status != "enabled" {
		params.Disabled, changed = stripe.Bool(false), true
	}
	if !changed {
		return "unchanged", found, nil
	}
	ep, err := c.UpdateWebhookEndpoint(ctx, found.ID, params)
	if err != nil {
		return "", nil, err
	}
	return "updated", ep, nil
}

// replaceEndpoint creates billwire's endpoint: there is none yet (action
// created), or found is one billwire cannot use as it is (recreated):
// another API version (which Stripe does not let us change) or a signing
// secret billwire does not hold (Stripe shows it only at creation). The
// endpoint returned carries its signing secret.
func replaceEndpoint(ctx context.Context, c *stripeapi.Client, env vocab.Env, account string, found *stripe.WebhookEndpoint, endpointURL string, events []string) (string, *stripe.WebhookEndpoint, error) {
	action := "created"
	if found != nil {
		if err := c.DeleteWebhookEndpoint(ctx, found.ID); err != nil {
			return "", nil, err
		}
		action = "recreated"
	}
	params := &stripe.WebhookEndpointParams{
		URL:           stripe.String(endpointURL),
		EnabledEvents: stripe.StringSlice(events),
		APIVersion:    stripe.String(stripe.APIVersion),
		Description:   stripe.String("billwire (" + string(env) + ")"),
		Metadata:      map[string]string{vocab.MetaManaged: "true", vocab.MetaEnv: string(env)},
	}
	idem := stripeapi.IdempotencyKey("create_webhook_endpoint", env, account, endpointURL, time.Now().Unix()/3600, action)
	ep, err := c.CreateWebhookEndpoint(ctx, params, idem)
	if err != nil {
		return "", nil, err
	}
	if ep.Secret == "" {
		return "", nil, fmt.Errorf("Stripe created endpoint %s without returning its signing secret; run setup_webhook again", ep.ID)
	}
	return action, ep, nil
}

// storedFor reports whether the stored secret belongs to endpoint id.
func storedFor(st *store.Store, ctx context.Context, env vocab.Env, id string) bool {
	w, err := st.Webhook(ctx, env)
	return err == nil && w.Source == "managed" && w.EndpointID == id
}

func maskedSecret(st *store.Store, ctx context.Context, env vocab.Env) string {
	if w, err := st.Webhook(ctx, env); err == nil {
		return w.SecretMasked
	}
	return ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func findManagedEndpoint(ctx context.Context, c *stripeapi.Client, env vocab.Env) (*stripe.WebhookEndpoint, error) {
	after := ""
	for {
		page, err := c.ListWebhookEndpoints(ctx, after, 100)
		if err != nil {
			return nil, err
		}
		for _, ep := range page.Data {
			if ep.Metadata[vocab.MetaManaged] == "true" && (ep.Metadata[vocab.MetaEnv] == "" || ep.Metadata[vocab.MetaEnv] == string(env)) {
				return ep, nil
			}
			after = ep.ID
		}
		if !page.HasMore || len(page.Data) == 0 {
			return nil, nil
		}
	}
}
