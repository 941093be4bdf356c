package checkout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// reuseMaxAge is how long an open Checkout Session is given again: Stripe
// expires a session 24 hours after it is created (billwire sets no other
// expiry), so an hour is left to pay.
const reuseMaxAge = 23 * time.Hour

// reuseDigest is what a repeated checkout must match to be given an open
// session again: the same request (its hash: mode, items as named,
// quantities, subject, redirect URLs, metadata and terms) over the same
// prices (their fingerprint as read for it: a lookup key moved, a price
// archived or changed since is a new session).
func reuseDigest(requestHash, priceFingerprint string) string {
	h := sha256.New()
	h.Write([]byte(requestHash))
	h.Write([]byte{0})
	h.Write([]byte(priceFingerprint))
	return hex.EncodeToString(h.Sum(nil))
}

// reusableCheckout is an end user's checkout's first step: the open
// session billwire made for the same user (requester), subject and request
// over the same prices, as an idempotent replay (nil when there is none). The prices it
// read are remembered, so that the checkout that follows writes its row in
// one round trip. It costs no Stripe call either way.
func (s *Service) reusableCheckout(ctx context.Context, st *store.Store, env vocab.Env, requester string, r *CheckoutRequest, hash string, ids, keys []string) (*CheckoutResult, error) {
	open, prices, err := st.ReusableCheckout(ctx, env, requester, r.Subject.Type, r.Subject.ID, hash, ids, keys, reuseMaxAge)
	if err != nil {
		return nil, s.unavailable(err)
	}
	s.prices.put(priceRefs(env, ids, keys), prices)
	if _, err := resolvePrices(prices, env, r); err != nil {
		return nil, err
	}
	if open == nil || open.ReuseDigest != reuseDigest(hash, store.PriceFingerprint(prices)) {
		return nil, nil
	}
	return &CheckoutResult{ID: open.ID, StripeSessionID: open.StripeID, URL: open.URL, Replayed: true}, nil
}
