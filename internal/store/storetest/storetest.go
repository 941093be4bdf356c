// Package storetest gives each test its own migrated PostgreSQL database,
// cloned from a template, so tests run in parallel against a real server.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
)

// DefaultURL is the local server used when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// AdminURL is the server tests create their databases on:
// TEST_DATABASE_URL; else the machine's server on 127.0.0.1:5432 (ProbeEnv)
// when it answers; else the private cluster of this go test invocation,
// started on first use. It fails the test when there is none.
func AdminURL(tb testing.TB) string {
	tb.Helper()
	u, err := adminURL()
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

var (
	adminOnce sync.Once
	admin     string
	adminErr  error
)

// adminURL is AdminURL, decided once per process.
func adminURL() (string, error) {
	adminOnce.Do(func() { admin, adminErr = resolveAdmin() })
	return admin, adminErr
}

var (
	tmplOnce sync.Once
	tmplName string
	tmplErr  error
)

// templateDB creates (once per process, and once per migration set across
// processes) a migrated database to clone.
func templateDB(ctx context.Context) (string, error) {
	tmplOnce.Do(func() {
		tmplName, tmplErr = makeTemplate(ctx)
	})
	return tmplName, tmplErr
}

func makeTemplate(ctx context.Context) (string, error) {
	adminDSN, err := adminURL()
	if err != nil {
		return "", err
	}
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return "", fmt.Errorf("tests need PostgreSQL: could not connect to %s (set TEST_DATABASE_URL, or start the local server on 127.0.0.1:5432): %w", redact(adminDSN), err)
	}
	defer admin.Close(ctx)
	name := "billwire_tmpl_" + migrationsHash()
	// Serialize template creation across test processes.
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(hashtext('billwire.storetest.template'))`); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), `SELECT pg_advisory_unlock(hashtext('billwire.storetest.template'))`) //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+building+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+building); err != nil {
		return "", fmt.Errorf("create template database: %w", err)
	}
	pool, err := store.Connect(ctx, withDB(adminDSN, building))
	if err != nil {
		return "", err
	}
	err = store.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+building+` RENAME TO `+name); err != nil {
		return "", err
	}
	return name, nil
}

func migrationsHash() string {
	h := sha256.New()
	fmt.Fprint(h, store.LatestVersion())
	for _, f := range store.MigrationFiles() {
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// DSN creates a fresh migrated database for this test, dropped when it ends,
// and returns its connection string.
func DSN(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tmpl, err := templateDB(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	adminDSN := AdminURL(tb)
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		tb.Fatalf("tests need PostgreSQL at %s: %v", redact(adminDSN), err)
	}
	defer admin.Close(ctx)
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "billwire_t_" + hex.EncodeToString(rnd[:])
	for attempt := 0; ; attempt++ {
		_, err = admin.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE `+tmpl)
		var pgErr *pgconn.PgError
		// 55006: the template is briefly in use by a concurrent clone.
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || attempt > 50 {
			break
		}
		time.Sleep(time.Duration(20+attempt*10) * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, adminDSN)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) //nolint:errcheck
	})
	return withDB(adminDSN, name)
}

// MasterKey returns a fresh random master key.
func MasterKey(tb testing.TB) *secrets.MasterKey {
	tb.Helper()
	return KeyFromBytes(tb, nil)
}

// KeyFromBytes returns the master key with these 32 bytes (random when nil),
// with its base64 form as Source.
func KeyFromBytes(tb testing.TB, raw []byte) *secrets.MasterKey {
	tb.Helper()
	if raw == nil {
		raw = make([]byte, 32)
		rand.Read(raw)
	}
	k, err := secrets.ParseMasterKey(base64.StdEncoding.EncodeToString(raw), secrets.MasterKeyEnv)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// New opens a store on a fresh database with a random master key.
func New(tb testing.TB) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), DSN(tb), MasterKey(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

func withDB(dsn, db string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		// key=value form
		var parts []string
		for _, f := range strings.Fields(dsn) {
			if !strings.HasPrefix(f, "dbname=") {
				parts = append(parts, f)
			}
		}
		return strings.Join(append(parts, "dbname="+db), " ")
	}
	u.Path = "/" + db
	return u.String()
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "the configured server"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
