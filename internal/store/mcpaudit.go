package store

import (
	"context"
	"fmt"
	"time"

	"github.com/billwire/billwire/internal/vocab"
)

// AuditEntry is one row of payments.mcp_audit: a call over MCP HTTP.
type AuditEntry struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Env        vocab.Env `json:"env"`
	KeyID      int64     `json:"key_id"`
	KeyName    string    `json:"key_name"`
	Kind       string    `json:"kind"` // tool, resource or prompt
	Name       string    `json:"name"`
	Result     string    `json:"result"` // ok or the error's code
	DurationMS int       `json:"duration_ms"`
}

// RecordAudit appends a call to the MCP audit log.
func (s *Store) RecordAudit(ctx context.Context, e AuditEntry) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO payments.mcp_audit (env, key_id, key_name, kind, name, result, duration_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.Env, e.KeyID, e.KeyName, e.Kind, e.Name, e.Result, e.DurationMS)
	if err != nil {
		return fmt.Errorf("record mcp audit: %w", err)
	}
	return nil
}

// AuditFilter selects audit rows: an environment (empty: both), a key name
// (empty: all), newest first, at most Limit.
type AuditFilter struct {
	Env     vocab.Env
	KeyName string
	Limit   int
}

// ListAudit lists MCP audit rows, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	return collectByPos[AuditEntry](ctx, s.pool, "list mcp audit", `
		SELECT id, at, env, key_id, key_name, kind, name, result, duration_ms FROM payments.mcp_audit
		WHERE ($1 = '' OR env = $1) AND ($2 = '' OR key_name = $2)
		ORDER BY at DESC, id DESC LIMIT $3`, string(f.Env), f.KeyName, f.Limit)
}

// RevokedAPIKeys returns those of ids that are revoked (or gone).
func (s *Store) RevokedAPIKeys(ctx context.Context, ids []int64) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id FROM unnest($1::bigint[]) AS t(id)
		WHERE NOT EXISTS (SELECT 1 FROM payments.api_keys k WHERE k.id = t.id AND k.revoked_at IS NULL)`, ids)
	if err != nil {
		return nil, fmt.Errorf("check revoked api keys: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
