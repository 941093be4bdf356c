package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
)

// SyncRun is one sync of Stripe objects into the store.
type SyncRun struct {
	ID          int64             `json:"id"`
	Env         vocab.Env         `json:"env"`
	AccountID   string            `json:"account_id"`
	Objects     []string          `json:"objects"`
	Status      string            `json:"status"`
	Counts      map[string]int64  `json:"counts"`
	Cursors     map[string]string `json:"-"`
	Done        []string          `json:"-"`
	Error       *string           `json:"error,omitempty"`
	ResumedFrom *int64            `json:"resumed_from,omitempty"`
	StartedAt   time.Time         `json:"started_at"`
	FinishedAt  *time.Time        `json:"finished_at,omitempty"`
}

const syncRunCols = `id, env, account_id, objects, status, counts, cursors, done, error, resumed_from, started_at, finished_at`

func scanSyncRun(row pgx.Row) (*SyncRun, error) {
	var r SyncRun
	err := row.Scan(&r.ID, &r.Env, &r.AccountID, &r.Objects, &r.Status, &r.Counts, &r.Cursors, &r.Done, &r.Error,
		&r.ResumedFrom, &r.StartedAt, &r.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &r, err
}

// StartSyncRun records a new running sync. A resumed run starts from the
// counts, cursors and finished kinds of the run it resumes.
func (s *Store) StartSyncRun(ctx context.Context, env vocab.Env, accountID string, objects []string, resume *SyncRun) (*SyncRun, error) {
	counts, cursors, done := map[string]int64{}, map[string]string{}, []string{}
	var from *int64
	if resume != nil {
		counts, cursors, done, from = resume.Counts, resume.Cursors, resume.Done, &resume.ID
	}
	return scanSyncRun(s.pool.QueryRow(ctx, `
		INSERT INTO payments.sync_runs (env, account_id, objects, status, counts, cursors, done, resumed_from)
		VALUES ($1, $2, $3, 'running', $4, $5, $6, $7) RETURNING `+syncRunCols,
		env, accountID, objects, counts, cursors, done, from))
}

// SaveSyncProgress records how far a run has got, so a failure can resume there.
func (s *Store) SaveSyncProgress(ctx context.Context, r *SyncRun) error {
	_, err := s.pool.Exec(ctx, `UPDATE payments.sync_runs SET counts = $2, cursors = $3, done = $4, heartbeat_at = now() WHERE id = $1`,
		r.ID, r.Counts, r.Cursors, r.Done)
	if err != nil {
		return fmt.Errorf("save sync progress: %w", err)
	}
	return nil
}

// FinishSyncRun marks a run succeeded (runErr nil) or failed with runErr's text.
// It uses its own short context so that a cancelled sync still records why.
func (s *Store) FinishSyncRun(r *SyncRun, runErr error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, msg := "succeeded", (*string)(nil)
	if runErr != nil {
		status = "failed"
		m := runErr.Error()
		msg = &m
	}
	row := s.pool.QueryRow(ctx, `UPDATE payments.sync_runs SET status = $2, error = $3, counts = $4, cursors = $5,
		done = $6, finished_at = now() WHERE id = $1 RETURNING `+syncRunCols, r.ID, status, msg, r.Counts, r.Cursors, r.Done)
	done, err := scanSyncRun(row)
	if err != nil {
		return fmt.Errorf("finish sync run: %w", err)
	}
	*r = *done
	return nil
}

// LastSyncRun returns env's newest sync run, or ErrNotFound.
func (s *Store) LastSyncRun(ctx context.Context, env vocab.Env) (*SyncRun, error) {
	return scanSyncRun(s.pool.QueryRow(ctx, `SELECT `+syncRunCols+` FROM payments.sync_runs
		WHERE env = $1 ORDER BY id DESC LIMIT 1`, env))
}

// AbandonStaleRuns marks runs that have made no progress for maxAge as
// failed: their process died. They stay resumable.
func (s *Store) AbandonStaleRuns(ctx context.Context, env vocab.Env, maxAge time.Duration) error {
	_, err := s.pool.Exec(ctx, `UPDATE payments.sync_runs SET status = 'failed', finished_at = now(),
		error = 'the process running this sync stopped before it finished'
		WHERE env = $1 AND status = 'running' AND heartbeat_at < now() - make_interval(secs => $2)`, env, maxAge.Seconds())
	return err
}
