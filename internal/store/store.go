// Package store is billwire's PostgreSQL store: the connection pool, the
// embedded migrations, and the queries over schema payments.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/billwire/billwire/internal/secrets"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrMasterKeyMismatch means the database was set up with another master key.
var ErrMasterKeyMismatch = errors.New("master key mismatch")

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is billwire's handle on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	key  *secrets.MasterKey

	// The session API's writes, grouped across concurrent requests: the
	// rows written before Stripe is called (durable, one commit a batch)
	// and the sessions stored after (committed asynchronously).
	starts, opens group
}

// Open connects to dsn, applies pending migrations and checks that the
// database belongs to this master key.
func Open(ctx context.Context, dsn string, key *secrets.MasterKey) (*Store, error) {
	pool, err := Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, key: key, starts: group{pool: pool, lanes: 4}, opens: group{pool: pool, lanes: 4}}
	if err := s.checkMasterKey(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Connect opens a pool and makes sure the server answers, with an error that
// says which server could not be reached and what to do.
func Connect(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL connection string: %s", redactDSNError(err))
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx defaults to max(4, CPUs): too few for billwire serve, where a
		// session request may hold a connection across a Stripe call while
		// webhook writers hold theirs.
		cfg.MaxConns = 16
	}
	where := describeTarget(cfg.ConnConfig.Config)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s: %s; %s", where, redactDSNError(err), connectHint(cfg.ConnConfig.Config, err))
	}
	return pool, nil
}

// HasSchema reports whether dsn ("" for libpq's defaults) reaches, within a
// few seconds, a database that already has billwire's schema payments. It
// only reads: it creates nothing, so an unknown database is never migrated.
func HasSchema(ctx context.Context, dsn string) bool {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return false
	}
	cfg.ConnectTimeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	var has bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'payments')`).Scan(&has)
	return err == nil && has
}

// connectHint says which of "server not running", "role does not exist" and
// "database does not exist" a failed connection is, and what to do.
func connectHint(c pgconn.Config, err error) string {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "3D000":
		return fmt.Sprintf("database does not exist: create it (createdb -h %s -p %d -U %s %s) or point DATABASE_URL at your app's database", c.Host, c.Port, c.User, c.Database)
	case errors.As(err, &pgErr) && pgErr.Code == "28000" && strings.Contains(pgErr.Message, "role"):
		return fmt.Sprintf("role does not exist: create it (createuser -h %s -p %d %s, as a superuser) or set the user in DATABASE_URL", c.Host, c.Port, c.User)
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT):
		return "server not running: start PostgreSQL or point DATABASE_URL at a running server"
	}
	return "start PostgreSQL or point DATABASE_URL at a running server"
}

// RedactDSN returns a connection string without its password, to show.
func RedactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Redacted()
	}
	return redactPassword(dsn)
}

// Describe names the server, database and user a connection string reaches
// (host:port/database as user), without its password; "" is libpq's defaults.
func Describe(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return RedactDSN(dsn)
	}
	return describeTarget(*cfg)
}

func describeTarget(c pgconn.Config) string {
	return fmt.Sprintf("%s/%s as %s", net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), c.Database, c.User)
}

// redactDSNError keeps passwords out of error text.
func redactDSNError(err error) string { return redactPassword(err.Error()) }

// redactPassword masks a key/value password= in msg.
func redactPassword(msg string) string {
	if i := strings.Index(msg, "password="); i >= 0 {
		j := strings.IndexAny(msg[i:], " )")
		if j < 0 {
			j = len(msg) - i
		}
		msg = msg[:i] + "password=xxxxx" + msg[i+j:]
	}
	return msg
}

// Pool exposes the pool to tests and benchmarks that run their own
// queries. Production code outside this package gets typed functions
// instead (TestOneDataLayer holds that).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// OpenConns opens a pool of its own to the store's database, of at most
// maxConns connections whose sessions run with params (run-time settings),
// for a component that must not share the store's pool: the webhook commit
// engine keeps its writers' connections in pipeline mode with planner
// settings of their own. The caller closes it. A failure to open (of a copy
// of a configuration that works: not expected) falls back to the store's
// pool, which the caller must then not close: owned says which.
func (s *Store) OpenConns(maxConns int, params map[string]string) (pool *pgxpool.Pool, owned bool, err error) {
	cfg := s.pool.Config()
	cfg.MinConns, cfg.MaxConns = 0, int32(maxConns)
	for k, v := range params {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	own, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return s.pool, false, err
	}
	return own, true, nil
}

// MasterKey returns the key that seals this store's secrets.
func (s *Store) MasterKey() *secrets.MasterKey { return s.key }

// Close releases the pool.
// Flush waits for the writes the store makes without waiting (see
// CheckoutOpened) to be done.
func (s *Store) Flush() { s.opens.wait() }

// Close waits for the writes still in flight (see CheckoutOpened), then
// closes the pool.
func (s *Store) Close() {
	s.starts.wait()
	s.opens.wait()
	s.pool.Close()
}

func (s *Store) checkMasterKey(ctx context.Context) error {
	var stored string
	var err error
	// A process that inserts the fingerprint at the same time as this one
	// makes the insert do nothing while the statement's snapshot does not
	// see its row yet: no row, and the next statement sees it.
	for range 3 {
		err = s.pool.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO payments.meta (key, value) VALUES ('master_key_fingerprint', $1)
			ON CONFLICT (key) DO NOTHING RETURNING value)
		SELECT value FROM ins
		UNION ALL SELECT value FROM payments.meta WHERE key = 'master_key_fingerprint'
		LIMIT 1`, s.key.Fingerprint()).Scan(&stored)
		if !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("check master key: %w", err)
	}
	if stored != s.key.Fingerprint() {
		return fmt.Errorf("%w: this database was set up with a different master key than the one from %s; "+
			"use the same %s everywhere billwire shares this database (the MCP server and the runtime)",
			ErrMasterKeyMismatch, s.key.Source, secrets.MasterKeyEnv)
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a version number", name)
		}
		b, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// LatestVersion is the newest migration version built into this binary.
func LatestVersion() int {
	ms, err := loadMigrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Migrate applies pending migrations in one transaction under a
// transaction-level advisory lock, so concurrent processes never race. It
// returns the versions it applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := MigrateReport(ctx, pool)
	return err
}

// MigrateReport is Migrate that also says which versions it applied.
func MigrateReport(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	var applied []string
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('billwire.migrate'))`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS payments;
			CREATE TABLE IF NOT EXISTS payments.schema_migrations (
				version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		// Every version not applied yet, in order: a migration that landed
		// with a lower number than one already applied still runs.
		rows, err := tx.Query(ctx, `SELECT version FROM payments.schema_migrations`)
		if err != nil {
			return err
		}
		done, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		for _, m := range ms {
			if slices.Contains(done, int32(m.version)) {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO payments.schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
			applied = append(applied, m.name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}

// SchemaVersion reports the newest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM payments.schema_migrations`).Scan(&v)
	return v, err
}

// Lazy opens the store on first use, so that starting a process does not
// wait for the database. A failed open is retried on the next call.
type Lazy struct {
	DSN string
	Key *secrets.MasterKey
	// Resolve, when set, chooses the DSN on the first open (say, starting
	// the embedded cluster); DSN is then ignored.
	Resolve func(context.Context) (string, error)

	mu sync.Mutex
	s  *Store
}

// Get returns the open store, opening it first if needed.
func (l *Lazy) Get(ctx context.Context) (*Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		return l.s, nil
	}
	dsn := l.DSN
	if l.Resolve != nil {
		var err error
		if dsn, err = l.Resolve(ctx); err != nil {
			return nil, err
		}
	}
	s, err := Open(ctx, dsn, l.Key)
	if err != nil {
		return nil, err
	}
	l.s = s
	return s, nil
}

// Close closes the store if it was opened.
func (l *Lazy) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		l.s.Close()
		l.s = nil
	}
}

// MigrationFiles returns the embedded migration sources in order (tests key
// their template databases on them).
func MigrationFiles() [][]byte {
	ms, _ := loadMigrations()
	out := make([][]byte, len(ms))
	for i, m := range ms {
		out[i] = []byte(m.sql)
	}
	return out
}
