package store

// The fulfillment scaffold's statements: its ledger
// payments.app_migrations, its triggers on payments.billing_changes, the
// transaction that applies its SQL, and the catalog reads over the app's
// objects it creates. The scaffold package generates the app's SQL and
// decides; every statement billwire runs for it is here.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// AppMigration is a row of payments.app_migrations: SQL the scaffold applied.
type AppMigration struct {
	Name      string
	Checksum  string
	SQL       string
	AppliedAt time.Time
}

// AppMigrations returns every app migration billwire applied, oldest
// first.
func (s *Store) AppMigrations(ctx context.Context) ([]AppMigration, error) {
	return collectByPos[AppMigration](ctx, s.pool, "read payments.app_migrations",
		`SELECT name, checksum, sql, applied_at FROM payments.app_migrations ORDER BY applied_at, name`)
}

// collectByPos runs sql and reads each row into a T, column by field; an
// error says what failed.
func collectByPos[T any](ctx context.Context, q RowQuerier, what, sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[T])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// AppMigrationSQL returns the SQL of every app migration billwire applied
// (payments.app_migrations, written by the scaffold's apply), oldest first.
func (s *Store) AppMigrationSQL(ctx context.Context) ([]string, error) {
	ms, err := s.AppMigrations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.SQL
	}
	return out, nil
}

// ScaffoldTrigger is a trigger on payments.billing_changes whose comment
// is the scaffold's marker ("billwire scaffold_fulfillment …"), however it
// was applied (by billwire or by the app's migration tool).
type ScaffoldTrigger struct {
	Name    string
	Comment string
	Enabled bool
}

const scaffoldTriggersSQL = `SELECT t.tgname::text, obj_description(t.oid, 'pg_trigger'), t.tgenabled <> 'D'
	FROM pg_trigger t WHERE t.tgrelid = 'payments.billing_changes'::regclass AND NOT t.tgisinternal
	AND obj_description(t.oid, 'pg_trigger') LIKE 'billwire scaffold_fulfillment %' ORDER BY t.tgname`

func scaffoldTriggers(ctx context.Context, q RowQuerier) ([]ScaffoldTrigger, error) {
	return collectByPos[ScaffoldTrigger](ctx, q, "list fulfillment triggers", scaffoldTriggersSQL)
}

// ScaffoldTriggers lists the scaffold's triggers on payments.billing_changes
// by name.
func (s *Store) ScaffoldTriggers(ctx context.Context) ([]ScaffoldTrigger, error) {
	return scaffoldTriggers(ctx, s.pool)
}

// ScaffoldObject is a database object whose comment is the scaffold's
// marker.
type ScaffoldObject struct {
	Comment string
	// Type and Identity are pg_identify_object's: e.g. "table" and
	// "public.orders", or "trigger" and "orders_fulfillment on payments.billing_changes".
	Type, Identity string
}

// ScaffoldObjects lists every object carrying the scaffold's comment.
func (s *Store) ScaffoldObjects(ctx context.Context) ([]ScaffoldObject, error) {
	return collectByPos[ScaffoldObject](ctx, s.pool, "read the scaffold's objects", `SELECT d.description, i.type, i.identity
		FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, 0) i
		WHERE d.objsubid = 0 AND d.description LIKE 'billwire scaffold_fulfillment %'`)
}

// RelationExists reports whether the table or view name (schema-qualified,
// as to_regclass reads it) exists.
func (s *Store) RelationExists(ctx context.Context, name string) (bool, error) {
	var exists bool
	err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists)
	return exists, err
}

// ColumnNames returns the columns of the table or view name (as
// to_regclass reads it) in order; none when it does not exist.
func (s *Store) ColumnNames(ctx context.Context, name string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped
		ORDER BY attnum`, name)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// FunctionSource returns the body of the function signature (as
// to_regprocedure reads it, e.g. "public.orders_apply(payments.billing_changes)");
// "" when there is none.
func (s *Store) FunctionSource(ctx context.Context, signature string) (string, error) {
	var src string
	err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure($1)), '')`, signature).Scan(&src)
	return src, err
}

// AppMigrationTx is the transaction in which the scaffold's SQL is
// applied (see ApplyAppMigration). Its catalog reads return the
// database's errors unwrapped: the caller names the object.
type AppMigrationTx struct {
	tx pgx.Tx
}

// ApplyAppMigration runs fn in one transaction that holds the app
// migrations' lock, so concurrent applies run one after the other; an
// error from fn rolls everything back.
func (s *Store) ApplyAppMigration(ctx context.Context, fn func(tx *AppMigrationTx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('billwire.app_migrations'))`); err != nil {
			return err
		}
		return fn(&AppMigrationTx{tx: tx})
	})
}

// AppMigration returns the recorded migration name, or ErrNotFound.
func (t *AppMigrationTx) AppMigration(ctx context.Context, name string) (*AppMigration, error) {
	var m AppMigration
	err := t.tx.QueryRow(ctx, `SELECT name, checksum, sql, applied_at FROM payments.app_migrations WHERE name = $1`, name).
		Scan(&m.Name, &m.Checksum, &m.SQL, &m.AppliedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("read payments.app_migrations: %w", err)
	}
	return &m, nil
}

// ScaffoldTriggers is Store.ScaffoldTriggers inside the transaction.
func (t *AppMigrationTx) ScaffoldTriggers(ctx context.Context) ([]ScaffoldTrigger, error) {
	return scaffoldTriggers(ctx, t.tx)
}

// Relation is a table, view or other relation as pg_class has it.
type Relation struct {
	OID uint32
	// Kind is pg_class.relkind: "r" a table, "p" a partitioned table, "v"
	// a view, …
	Kind string
	// Comment is its comment, "" when none.
	Comment string
}

// Relation returns the relation schema.name, or ErrNotFound.
func (t *AppMigrationTx) Relation(ctx context.Context, schema, name string) (*Relation, error) {
	var r Relation
	err := t.tx.QueryRow(ctx, `SELECT c.oid, c.relkind::text, coalesce(obj_description(c.oid, 'pg_class'), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, schema, name).Scan(&r.OID, &r.Kind, &r.Comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Column is a column of a relation.
type Column struct {
	Name string
	// Type is format_type's, e.g. "text" or "timestamp with time zone".
	Type    string
	NotNull bool
	// HasDefault is set for a default, an identity or a generated column:
	// an insert that names it not is filled.
	HasDefault bool
}

// Columns returns the columns of relation oid in order.
func (t *AppMigrationTx) Columns(ctx context.Context, oid uint32) ([]Column, error) {
	rows, err := t.tx.Query(ctx, `SELECT attname::text, format_type(atttypid, atttypmod), attnotnull,
			atthasdef OR attidentity <> '' OR attgenerated <> ''
		FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, oid)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Column])
}

// HasUniqueKey reports whether relation oid has a unique index on exactly
// columns (in any order), without a predicate or expressions: what an
// upsert's ON CONFLICT on them needs.
func (t *AppMigrationTx) HasUniqueKey(ctx context.Context, oid uint32, columns []string) (bool, error) {
	sorted := slices.Clone(columns)
	slices.Sort(sorted)
	var ok bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique
		AND i.indpred IS NULL AND i.indexprs IS NULL
		AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
			WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)) = $2::text[])`, oid, sorted).Scan(&ok)
	return ok, err
}

// FunctionComment returns the comment of the function signature (as
// to_regprocedure reads it), "" when it has none, or ErrNotFound.
func (t *AppMigrationTx) FunctionComment(ctx context.Context, signature string) (string, error) {
	var comment string
	err := t.tx.QueryRow(ctx, `SELECT coalesce(obj_description(p::oid, 'pg_proc'), '') FROM to_regprocedure($1) p WHERE p IS NOT NULL`,
		signature).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return comment, err
}

// Apply executes sql, the scaffold's generated SQL for the app, and
// records it in payments.app_migrations under name and checksum; it
// returns when it was recorded. The outbox is locked first: the SQL
// replaces a trigger on it, and webhook transactions take it before the
// app's tables, so taking it first makes them wait instead of deadlocking
// with this one.
func (t *AppMigrationTx) Apply(ctx context.Context, name, checksum, sql string) (time.Time, error) {
	if _, err := t.tx.Exec(ctx, `LOCK TABLE payments.billing_changes IN ACCESS EXCLUSIVE MODE`); err != nil {
		return time.Time{}, fmt.Errorf("lock payments.billing_changes: %w", err)
	}
	if _, err := t.tx.Exec(ctx, sql); err != nil {
		return time.Time{}, fmt.Errorf("apply %s: %w", name, err)
	}
	var at time.Time
	if err := t.tx.QueryRow(ctx, `INSERT INTO payments.app_migrations (name, checksum, sql) VALUES ($1, $2, $3) RETURNING applied_at`,
		name, checksum, sql).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("record %s: %w", name, err)
	}
	return at, nil
}
