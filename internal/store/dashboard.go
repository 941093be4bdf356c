package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SetAdminPassword stores the dashboard's password hash and signs out every
// session, in one transaction. It returns how many sessions it ended.
func (s *Store) SetAdminPassword(ctx context.Context, hash string) (int64, error) {
	var ended int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO payments.dashboard_admin (singleton, password_hash) VALUES (true, $1)
			ON CONFLICT (singleton) DO UPDATE SET password_hash = EXCLUDED.password_hash, updated_at = now()`, hash); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM payments.dashboard_sessions`)
		ended = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store the dashboard password: %w", err)
	}
	return ended, nil
}

// AdminPasswordHash returns the dashboard's password hash; ErrNotFound when
// none is set.
func (s *Store) AdminPasswordHash(ctx context.Context) (string, error) {
	var h string
	err := s.pool.QueryRow(ctx, `SELECT password_hash FROM payments.dashboard_admin WHERE singleton`).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read the dashboard password: %w", err)
	}
	return h, nil
}

// DashboardSession is a signed-in browser.
type DashboardSession struct {
	CSRFToken string
	Flash     string // a message for the next page shown, set by an action
	ExpiresAt time.Time
}

// CreateSession records a session, by the hash of its token, that lasts
// ttl by the database's clock; it deletes expired ones.
func (s *Store) CreateSession(ctx context.Context, tokenHash []byte, csrf string, ttl time.Duration) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM payments.dashboard_sessions WHERE expires_at < now()`)
	b.Queue(`INSERT INTO payments.dashboard_sessions (token_hash, csrf_token, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))`,
		tokenHash, csrf, ttl.Seconds())
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("create dashboard session: %w", err)
	}
	return nil
}

// Session returns the unexpired session with this token hash; ErrNotFound otherwise.
func (s *Store) Session(ctx context.Context, tokenHash []byte) (*DashboardSession, error) {
	var ds DashboardSession
	var flash *string
	err := s.pool.QueryRow(ctx, `SELECT csrf_token, flash, expires_at FROM payments.dashboard_sessions
		WHERE token_hash = $1 AND expires_at > now()`, tokenHash).Scan(&ds.CSRFToken, &flash, &ds.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read dashboard session: %w", err)
	}
	if flash != nil {
		ds.Flash = *flash
	}
	return &ds, nil
}

// SetFlash leaves msg for the session's next page; "" clears it.
func (s *Store) SetFlash(ctx context.Context, tokenHash []byte, msg string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE payments.dashboard_sessions SET flash = nullif($2, '') WHERE token_hash = $1`, tokenHash, msg); err != nil {
		return fmt.Errorf("set dashboard message: %w", err)
	}
	return nil
}

// DeleteSession signs a session out.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM payments.dashboard_sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("delete dashboard session: %w", err)
	}
	return nil
}
