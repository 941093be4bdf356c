// Package checkout is the session API's core: Checkout and Billing Portal
// sessions for a subject (the local row first, the subject's customer, the
// session in Stripe), the price cache of its hot path, lookup-key
// resolution, and a subject's billing state. The HTTP runtime and the MCP
// tools call it through billing.Service.Checkout; its refusals are
// fault.Errors with the session API's stable codes.
package checkout

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// Core is what checkout needs of billwire's core (billing.Service, which
// builds the checkout service over itself).
type Core interface {
	// Store returns the open store.
	Store(ctx context.Context) (*store.Store, error)
	// StripeClient returns the store and env's Stripe client under the
	// stored key; an environment without a key is a fault.Error with code
	// not_configured.
	StripeClient(ctx context.Context, env vocab.Env) (*store.Store, *stripeapi.Client, error)
	// RecentClient returns env's client when its key was read within
	// maxAge, else nil.
	RecentClient(env vocab.Env, maxAge time.Duration) *stripeapi.Client
	// FetchProducts retrieves products from Stripe and stores them.
	FetchProducts(ctx context.Context, st *store.Store, c *stripeapi.Client, env vocab.Env, ids []string) error
}

// Service creates sessions and answers the session API's reads.
type Service struct {
	core        Core
	log         zerolog.Logger
	prices      priceCache
	usageTotals stripeTotals
}

// New returns the checkout service over core.
func New(core Core, log zerolog.Logger) *Service {
	return &Service{core: core, log: log}
}

// sessionClient is the store and env's Stripe client for a session, as
// refusals: not_configured without a key, the store's failures.
func (s *Service) sessionClient(ctx context.Context, env vocab.Env) (*store.Store, *stripeapi.Client, error) {
	if c := s.core.RecentClient(env, 2*time.Second); c != nil {
		st, err := s.core.Store(ctx)
		if err != nil {
			return nil, nil, s.unavailable(err)
		}
		return st, c, nil
	}
	st, c, err := s.core.StripeClient(ctx, env)
	if f, ok := fault.As(err); ok && f.Code == "not_configured" {
		return nil, nil, fault.Wrap(fault.Unavailable, "not_configured", "payments are not set up for this environment yet; the operator must configure billwire", err)
	}
	if err != nil {
		return nil, nil, s.unavailable(err)
	}
	return st, c, nil
}
