package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
)

// Environment is the configuration of one Stripe environment.
type Environment struct {
	Env          vocab.Env
	KeyMasked    string
	KeyKind      string // secret or restricted
	AccountID    string
	AccountName  string
	ConfiguredAt time.Time
	UpdatedAt    time.Time
	secretKeyEnc []byte
}

func purposeSecretKey(env vocab.Env) string { return "stripe_secret_key/" + string(env) }

// SecretKey decrypts the environment's Stripe key.
func (s *Store) SecretKey(e *Environment) (string, error) {
	k, err := s.key.Open(e.secretKeyEnc, purposeSecretKey(e.Env))
	if err != nil {
		return "", fmt.Errorf("decrypt the %s Stripe key: %w; set it again with `billwire keys set --env %s`", e.Env, err, e.Env)
	}
	return k, nil
}

// GetEnvironment returns the stored configuration of env, or ErrNotFound.
func (s *Store) GetEnvironment(ctx context.Context, env vocab.Env) (*Environment, error) {
	var e Environment
	err := s.pool.QueryRow(ctx, `
		SELECT env, secret_key_enc, key_masked, key_kind, account_id, account_name, configured_at, updated_at
		FROM payments.environments WHERE env = $1`, env).
		Scan(&e.Env, &e.secretKeyEnc, &e.KeyMasked, &e.KeyKind, &e.AccountID, &e.AccountName, &e.ConfiguredAt, &e.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s environment: %w", env, err)
	}
	return &e, nil
}

// PutEnvironment stores a key (sealed under the master key) and its account.
// With resetMirror, the objects mirrored from the previous account, its
// sync runs, entitlement summaries and the test→live price map are removed
// in the same transaction: they belong to another account and would mislead.
func (s *Store) PutEnvironment(ctx context.Context, env vocab.Env, secretKey, keyKind, accountID, accountName, masked string, resetMirror bool) error {
	sealed := s.key.Seal(secretKey, purposeSecretKey(env))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if resetMirror {
			for _, t := range []string{"subscription_items", "subscriptions", "customers", "prices", "products", "meters", "sync_runs", "entitlement_summaries"} {
				if _, err := tx.Exec(ctx, `DELETE FROM payments.`+t+` WHERE env = $1`, env); err != nil {
					return err
				}
			}
			// The price map links the two environments' ids: with another
			// account on either side it points nowhere.
			if _, err := tx.Exec(ctx, `DELETE FROM payments.price_map`); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO payments.environments (env, secret_key_enc, key_masked, key_kind, account_id, account_name)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (env) DO UPDATE SET secret_key_enc = EXCLUDED.secret_key_enc, key_masked = EXCLUDED.key_masked,
				key_kind = EXCLUDED.key_kind, account_id = EXCLUDED.account_id, account_name = EXCLUDED.account_name,
				updated_at = now()`, env, sealed, masked, keyKind, accountID, accountName)
		return err
	})
	if err != nil {
		return fmt.Errorf("store %s key: %w", env, err)
	}
	return nil
}
