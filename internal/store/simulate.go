package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// SimulatedSubscription returns the newest simulated subscription of a
// subject to a price (as mirrored: the full Stripe object) and the time of
// the newest event that changed it, or ErrNotFound. A subscription that is
// not simulated is returned too (with simulated false), so that the caller
// can say why it will not tell stories about it.
func (s *Store) SimulatedSubscription(ctx context.Context, env vocab.Env, subjectType, subjectID, priceID string) (obj json.RawMessage, sourceAt time.Time, simulated bool, err error) {
	err = s.pool.QueryRow(ctx, `
		SELECT s.data, s.source_at, coalesce(s.metadata->>'`+vocab.MetaSimulated+`', '') = 'true'
		FROM payments.subscriptions s
		WHERE s.env = $1 AND s.subject_type = $2 AND s.subject_id = $3
			AND EXISTS (SELECT 1 FROM payments.subscription_items i
				WHERE i.env = s.env AND i.subscription_id = s.id AND i.price_id = $4)
		ORDER BY (s.status NOT IN ('canceled', 'incomplete_expired')) DESC,
			(coalesce(s.metadata->>'`+vocab.MetaSimulated+`', '') = 'true') DESC, s.created DESC, s.id DESC
		LIMIT 1`, env, subjectType, subjectID, priceID).Scan(&obj, &sourceAt, &simulated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, false, ErrNotFound
	}
	return obj, sourceAt, simulated, err
}
