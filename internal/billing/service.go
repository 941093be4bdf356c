// Package billing is billwire's core: configuring Stripe keys, creating
// catalog objects, syncing Stripe into PostgreSQL and reading it back. The
// CLI, the MCP tools and the HTTP runtime all call it.
package billing

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/checkout"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// StoreSource hands out the store, opening it on first use.
type StoreSource interface {
	Get(ctx context.Context) (*store.Store, error)
}

// Service is the core every face of billwire calls.
type Service struct {
	stores StoreSource
	stripe stripeapi.Options
	log    zerolog.Logger

	mu       sync.Mutex
	clients  map[vocab.Env]cachedClient
	checkout *checkout.Service

	// The webhook processor reconcile and replay use (see processor).
	procMu   sync.Mutex
	proc     *webhooks.Processor // billwire serve's, given to UseProcessor
	own      *webhooks.Processor // built by the Service when none was given
	ownStore *store.Store
}

type cachedClient struct {
	version string // the stored key's mask and update time
	c       *stripeapi.Client
	checked time.Time // when the stored key was last read
}

// New returns a service over stores, calling Stripe with opts.
func New(stores StoreSource, opts stripeapi.Options, log zerolog.Logger) *Service {
	s := &Service{stores: stores, stripe: opts, log: log, clients: map[vocab.Env]cachedClient{}}
	s.checkout = checkout.New(s, log)
	return s
}

// Checkout is the session API's service: Checkout and Billing Portal
// sessions, over this core's store and Stripe clients.
func (s *Service) Checkout() *checkout.Service { return s.checkout }

// inputErr is a mistake in the caller's arguments (a fault.Invalid); its
// text says how to fix it.
func inputErr(format string, args ...any) error {
	return fault.Invalidf(format, args...)
}

// ErrNotConfigured means an environment has no Stripe key yet: a
// fault.Unavailable with code not_configured, which errors.Is matches for
// every such error.
var ErrNotConfigured = &fault.Error{Kind: fault.Unavailable, Code: "not_configured", Message: "no Stripe key configured"}

func notConfigured(env vocab.Env) error {
	how := "call configure_stripe_keys with env \"test\" and an sk_test_… key (or run `billwire keys set --env test`)"
	if env == vocab.Live {
		how = "ask a human to run `billwire keys set --env live` in a terminal"
	}
	return fault.New(ErrNotConfigured.Kind, ErrNotConfigured.Code, "%s for %s: %s", ErrNotConfigured.Message, env, how)
}

// Store returns the open store.
func (s *Service) Store(ctx context.Context) (*store.Store, error) { return s.stores.Get(ctx) }

// stripeFor returns the store, the Stripe client for env from the stored
// key, and env's configuration. The client (and its rate-limit pacing) is
// reused while the stored key stays the same.
func (s *Service) stripeFor(ctx context.Context, env vocab.Env) (*store.Store, *stripeapi.Client, *store.Environment, error) {
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	e, err := st.GetEnvironment(ctx, env)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil, notConfigured(env)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	version := e.KeyMasked + "/" + e.UpdatedAt.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if cc, ok := s.clients[env]; ok && cc.version == version {
		cc.checked = time.Now()
		s.clients[env] = cc
		return st, cc.c, e, nil
	}
	key, err := st.SecretKey(e)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := stripeapi.New(env, key, s.stripe)
	if err != nil {
		return nil, nil, nil, err
	}
	s.clients[env] = cachedClient{version: version, c: c, checked: time.Now()}
	return st, c, e, nil
}

// StripeClient returns the store and env's Stripe client under the stored
// key (ErrNotConfigured without one).
func (s *Service) StripeClient(ctx context.Context, env vocab.Env) (*store.Store, *stripeapi.Client, error) {
	st, c, _, err := s.stripeFor(ctx, env)
	return st, c, err
}

// RecentClient returns env's client when its key was read within maxAge:
// the session API's hot path skips re-reading the key on every request.
func (s *Service) RecentClient(env vocab.Env, maxAge time.Duration) *stripeapi.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cc, ok := s.clients[env]; ok && time.Since(cc.checked) < maxAge {
		return cc.c
	}
	return nil
}

// KeyResult reports a configured key.
type KeyResult struct {
	Env            vocab.Env `json:"env"`
	Key            string    `json:"key"`
	KeyKind        string    `json:"key_kind"`
	AccountID      string    `json:"account_id"`
	AccountName    string    `json:"account_name,omitempty"`
	AccountChanged bool      `json:"account_changed"`
	PreviousAcct   string    `json:"previous_account_id,omitempty"`
	NextStep       string    `json:"next_step"`
}

// ConfigureKey checks key with Stripe and stores it for env. A key of
// another account than the stored one needs confirmAccountChange, and then
// clears what was mirrored from the old account.
func (s *Service) ConfigureKey(ctx context.Context, env vocab.Env, key string, confirmAccountChange bool) (*KeyResult, error) {
	kind, err := stripeapi.KeyKind(env, key)
	if err != nil {
		return nil, inputErr("%s", err)
	}
	c, err := stripeapi.New(env, key, s.stripe)
	if err != nil {
		return nil, inputErr("%s", err)
	}
	acct, err := c.Account(ctx)
	if err != nil {
		var se *stripeapi.Error
		if errors.As(err, &se) && se.Status == http.StatusUnauthorized {
			return nil, inputErr("Stripe did not accept key %s: copy the whole key again from the Stripe Dashboard (Developers → API keys) and retry", secrets.Mask(key))
		}
		if errors.As(err, &se) && se.Status == http.StatusForbidden {
			return nil, inputErr("restricted key %s cannot read its account (Stripe answered 403): give it read access to \"Account\" in the Stripe Dashboard, or use a secret key", secrets.Mask(key))
		}
		return nil, err
	}
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, err
	}
	res := &KeyResult{Env: env, Key: secrets.Mask(key), KeyKind: kind, AccountID: acct.ID, AccountName: acct.Name}
	prev, err := st.GetEnvironment(ctx, env)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	case prev.AccountID != acct.ID:
		if !confirmAccountChange {
			return nil, inputErr("this key belongs to Stripe account %s, but billwire's %s environment is set up for account %s; "+
				"its products, prices and customers would no longer match. If switching accounts is intended, call again with "+
				"confirm_account_change: true (billwire then clears what it mirrored from %s)", acct.ID, env, prev.AccountID, prev.AccountID)
		}
		res.AccountChanged, res.PreviousAcct = true, prev.AccountID
	}
	if err := st.PutEnvironment(ctx, env, key, kind, acct.ID, acct.Name, secrets.Mask(key), res.AccountChanged); err != nil {
		return nil, err
	}
	s.log.Info().Str("env", string(env)).Str("key", res.Key).Str("account", acct.ID).Msg("stripe key configured")
	res.NextStep = "run sync_catalog to mirror the account's products, prices, customers and subscriptions, then create_plan for new plans"
	return res, nil
}

// FetchObject retrieves one object from Stripe for env (a path that
// stripeapi.ObjectPath gave).
func (s *Service) FetchObject(ctx context.Context, env vocab.Env, path string) (json.RawMessage, error) {
	_, c, _, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	return c.Retrieve(ctx, path)
}

// FetchCheckoutLineItems lists from Stripe what Checkout Session id of env
// bought, for the webhook projection of a session made elsewhere.
func (s *Service) FetchCheckoutLineItems(ctx context.Context, env vocab.Env, id string) ([]store.CheckoutLineItem, error) {
	_, c, _, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	items, err := c.CheckoutLineItems(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]store.CheckoutLineItem, len(items))
	for i, li := range items {
		out[i] = store.CheckoutLineItem(li)
	}
	return out, nil
}

// Static is a StoreSource over an already open store.
func Static(st *store.Store) StoreSource { return staticStore{st} }

type staticStore struct{ st *store.Store }

func (s staticStore) Get(context.Context) (*store.Store, error) { return s.st, nil }

// DefaultPublicURL is billwire serve's address when BILLWIRE_PUBLIC_URL is unset.
const DefaultPublicURL = checkout.DefaultPublicURL
