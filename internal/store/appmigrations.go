package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// AppMigrationSQL returns the SQL of every app migration billwire applied
// (payments.app_migrations, written by the scaffold's apply), oldest first.
func (s *Store) AppMigrationSQL(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT sql FROM payments.app_migrations ORDER BY applied_at, name`)
	if err != nil {
		return nil, fmt.Errorf("read payments.app_migrations: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read payments.app_migrations: %w", err)
	}
	return out, nil
}
