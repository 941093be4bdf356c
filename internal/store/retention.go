package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PruneBatch is how many payloads PruneEventPayloads drops at most per
// call unless told otherwise: one short statement's worth.
const PruneBatch = 500

// pruneSQL drops the payloads of up to $3 events recorded in [$1, $2) that
// may lose them (processed or ignored; never failed or parked), oldest
// first, along the partial index webhook_events_prunable. Rows that another
// transaction has locked (a webhook batch claiming a duplicate, a replay)
// are skipped, not waited for: they stay for the next pass. It answers how
// many payloads went and the newest received_at among them.
const pruneSQL = `
	WITH batch AS (
		SELECT id, env FROM payments.webhook_events
		WHERE received_at >= $1 AND received_at < $2
			AND payload IS NOT NULL AND status IN ('processed', 'stale', 'ignored')
		ORDER BY received_at
		LIMIT $3
		FOR NO KEY UPDATE SKIP LOCKED),
	pruned AS (
		UPDATE payments.webhook_events w SET payload = NULL
		FROM batch WHERE w.id = batch.id AND w.env = batch.env
		RETURNING w.received_at)
	SELECT count(*), max(received_at) FROM pruned`

// PruneEventPayloads drops, in one short transaction, the payloads of up
// to limit processed or ignored events received at or after from and
// before before (both environments), oldest first; their ledger rows stay,
// so deduplication by event id is unaffected. Failed and parked events keep
// their payloads. It never waits for a row lock: rows locked by another
// transaction are skipped. It returns how many payloads went and the newest
// received_at among them (from for the next call of a pass).
func (s *Store) PruneEventPayloads(ctx context.Context, from, before time.Time, limit int) (int64, time.Time, error) {
	if limit <= 0 {
		limit = PruneBatch
	}
	var n int64
	var last *time.Time
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Row locks are skipped; these bound what is left: a table lock
		// (a migration) and a statement that takes too long.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '1s'; SET LOCAL statement_timeout = '30s'`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, pruneSQL, from, before, limit).Scan(&n, &last)
	})
	if err != nil {
		return 0, from, fmt.Errorf("prune event payloads: %w", err)
	}
	if last == nil {
		return 0, from, nil
	}
	return n, *last, nil
}
