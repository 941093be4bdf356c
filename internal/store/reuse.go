package store

import (
	"context"
	"fmt"
	"time"

	"github.com/billwire/billwire/internal/vocab"
)

// OpenCheckout is an open Checkout Session billwire made, as
// ReusableCheckout finds it.
type OpenCheckout struct {
	ID          int64
	StripeID    string
	URL         string
	ReuseDigest string
}

// reusableCheckoutSQL reads the checkout's prices (as CheckoutPrices) and
// the newest open session billwire made for requester $8 and the subject
// with the same request hash, younger than $7 seconds and made for the
// subject's current, undeleted customer. The session is found through
// checkout_sessions_reusable, which holds open sessions only.
const reusableCheckoutSQL = `
	WITH p AS (` + checkoutPricesSQL + `)
	SELECT (SELECT array_agg(row(p.*)) FROM p), o.id, o.stripe_id, o.url, o.reuse_digest
	FROM (SELECT 1) one LEFT JOIN LATERAL (
		SELECT cs.id, cs.stripe_id, cs.url, cs.reuse_digest
		FROM payments.checkout_sessions cs
		JOIN payments.customer_mappings m ON m.subject_id = cs.subject_id AND m.subject_type = cs.subject_type
			AND m.env = cs.env AND m.customer_id = cs.customer_id
		WHERE cs.subject_id = $5 AND cs.subject_type = $4 AND cs.env = $1 AND cs.request_hash = $6
		  AND cs.requester = $8 AND cs.status = 'open' AND cs.reuse_digest IS NOT NULL AND cs.stripe_id IS NOT NULL AND cs.url IS NOT NULL
		  AND cs.created_at > now() - make_interval(secs => $7)
		  AND NOT coalesce((SELECT c.deleted FROM payments.customers c WHERE c.id = m.customer_id AND c.env = m.env), false)
		ORDER BY cs.created_at DESC LIMIT 1) o ON true`

// ReusableCheckout is the reuse check of an end user's checkout, in one
// round trip: the prices named by ids and lookup keys (as CheckoutPrices
// reads them), and the open session billwire made for the same requester
// and subject with request hash hash, less than maxAge ago, for the
// subject's current customer (nil when there is none). The caller gives the session again
// only when its ReuseDigest is that of the same request over the prices
// read now: a price changed since is a new session.
func (s *Store) ReusableCheckout(ctx context.Context, env vocab.Env, requester, subjectType, subjectID, hash string, ids, lookupKeys []string, maxAge time.Duration) (*OpenCheckout, []CheckoutPrice, error) {
	var (
		rows               []checkoutPriceRow
		id                 *int64
		stripeID, url, dig *string
	)
	err := s.pool.QueryRow(ctx, reusableCheckoutSQL, env, ids, lookupKeys, subjectType, subjectID, hash, maxAge.Seconds(), requester).
		Scan(&rows, &id, &stripeID, &url, &dig)
	if err != nil {
		return nil, nil, fmt.Errorf("look up an open checkout session: %w", err)
	}
	prices := make([]CheckoutPrice, len(rows))
	for i, p := range rows {
		prices[i] = CheckoutPrice(p)
	}
	if id == nil {
		return nil, prices, nil
	}
	return &OpenCheckout{ID: *id, StripeID: *stripeID, URL: *url, ReuseDigest: *dig}, prices, nil
}
