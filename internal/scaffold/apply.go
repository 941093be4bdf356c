package scaffold

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DB is what Apply needs: a pool or a connection.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Applied reports an apply.
type Applied struct {
	Name      string    `json:"name"`
	Checksum  string    `json:"checksum"`
	AppliedAt time.Time `json:"applied_at"`
	// AlreadyApplied means the same name and checksum were recorded before:
	// nothing was executed.
	AlreadyApplied bool `json:"already_applied"`
	// UpgradedFrom names the earlier version this apply upgraded (its
	// migration name, or its trigger when the app's tool applied it).
	UpgradedFrom string `json:"upgraded_from,omitempty"`
}

// ownedObject is a view or function the SQL replaces; one that exists
// without the scaffold's comment belongs to the app and is not replaced.
type ownedObject struct {
	kind, schema, name, args string
}

// Apply executes m's SQL in one transaction and records its name and
// checksum in payments.app_migrations. The same name and checksum again is
// a no-op; the same name with another checksum is refused (ErrDrift),
// unless the recorded SQL is an earlier revision of this version with the
// same arguments, which m upgrades (its record kept as <name>_r<N>); a
// table that exists in another shape, or a view or function of the app's
// with a name the SQL uses, is refused (ErrShape). On any error nothing is
// applied. It executes nothing but m.SQL.
func Apply(ctx context.Context, db DB, m *Migration) (*Applied, error) {
	var res *Applied
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('billwire.app_migrations'))`); err != nil {
			return err
		}
		var sum string
		var at time.Time
		var revised *revisedRecord
		err := tx.QueryRow(ctx, `SELECT checksum, applied_at FROM payments.app_migrations WHERE name = $1`, m.Name).Scan(&sum, &at)
		switch {
		case err == nil && sum == m.Checksum:
			if err := checkBinding(ctx, tx, m); err != nil {
				return err
			}
			res = &Applied{Name: m.Name, Checksum: sum, AppliedAt: at, AlreadyApplied: true}
			return nil
		case err == nil:
			if revised, err = earlierRevision(ctx, tx, m); err != nil {
				return err
			}
			if revised != nil {
				break
			}
			return fmt.Errorf("%w: migration %s was applied on %s with checksum %s, but these arguments generate checksum %s. "+
				"billwire never re-applies changed SQL under an applied name: call again with the arguments it was applied with, "+
				"or use write_to and change the objects with the app's own migration tool",
				ErrDrift, m.Name, at.UTC().Format(time.RFC3339), sum, m.Checksum)
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("read payments.app_migrations: %w", err)
		}
		for _, t := range m.tables {
			if err := checkTable(ctx, tx, m.schema, t); err != nil {
				return err
			}
		}
		for _, o := range m.owned {
			if err := checkOwned(ctx, tx, o); err != nil {
				return err
			}
		}
		from, err := earlierVersion(ctx, tx, m)
		if err != nil {
			return err
		}
		if revised != nil {
			from = revised.from
		}
		// The outbox first: the SQL replaces a trigger on it, and webhook
		// transactions take it before the app's tables, so taking it first
		// makes them wait instead of deadlocking with this one.
		if _, err := tx.Exec(ctx, `LOCK TABLE payments.billing_changes IN ACCESS EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("lock payments.billing_changes: %w", err)
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("apply %s: %w", m.Name, err)
		}
		if revised != nil {
			// The earlier revision's record stays, under its revision's name.
			if _, err := tx.Exec(ctx, `UPDATE payments.app_migrations SET name = $2 WHERE name = $1`, m.Name, revised.keptAs); err != nil {
				return fmt.Errorf("keep the record of %s: %w", revised.from, err)
			}
		}
		if err := tx.QueryRow(ctx, `INSERT INTO payments.app_migrations (name, checksum, sql) VALUES ($1, $2, $3) RETURNING applied_at`,
			m.Name, m.Checksum, m.SQL).Scan(&at); err != nil {
			return fmt.Errorf("record %s: %w", m.Name, err)
		}
		res = &Applied{Name: m.Name, Checksum: m.Checksum, AppliedAt: at, UpgradedFrom: from}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// earlierVersion finds what m upgrades: an earlier version's trigger of
// the same pattern and table bound to the same env, else an earlier
// version's record of the same pattern, table and env; "" when none.
func earlierVersion(ctx context.Context, tx pgx.Tx, m *Migration) (string, error) {
	bs, err := Bindings(ctx, tx)
	if err != nil {
		return "", err
	}
	for _, b := range bs {
		if b.Pattern == m.Pattern && b.Table == m.Table && b.Env == string(m.Env) && b.Version < Version {
			return "trigger " + b.Trigger + " (version " + strconv.Itoa(b.Version) + ")", nil
		}
		if b.Pattern == m.Pattern && b.Table == m.Table && b.Env == string(m.Env) && b.Version == Version && b.Revision < m.Revision {
			return fmt.Sprintf("trigger %s (version %d, revision %d)", b.Trigger, b.Version, b.Revision), nil
		}
	}
	old := strings.TrimSuffix(m.Name, "_v"+strconv.Itoa(Version)) // version 1's name had no suffix
	var name string
	err = tx.QueryRow(ctx, `SELECT name FROM payments.app_migrations WHERE name = $1`, old).Scan(&name)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read payments.app_migrations: %w", err)
	}
	return name + " (version 1)", nil
}

// revisedRecord is an earlier revision of m's version recorded under m's
// name: keptAs is the name its record keeps after the upgrade.
type revisedRecord struct {
	from, keptAs string
}

// earlierRevision reports whether the record under m's name is an earlier
// revision of the same version with the same arguments (the same grants;
// another subject type fails the shape check), which m upgrades in place;
// nil when it is not, and another checksum under the name is drift.
func earlierRevision(ctx context.Context, tx pgx.Tx, m *Migration) (*revisedRecord, error) {
	var sql string
	if err := tx.QueryRow(ctx, `SELECT sql FROM payments.app_migrations WHERE name = $1`, m.Name).Scan(&sql); err != nil {
		return nil, fmt.Errorf("read payments.app_migrations: %w", err)
	}
	lit := markerInSQL.FindString(sql)
	pattern, _, table, version := parseMarker(strings.Trim(lit, "'"))
	rev := markerRevision(strings.Trim(lit, "'"))
	if lit == "" || pattern != m.Pattern || table != m.Table || version != Version || rev >= m.Revision ||
		!maps.Equal(grantsInSQL(sql), grantsInSQL(m.SQL)) {
		return nil, nil
	}
	return &revisedRecord{from: fmt.Sprintf("migration %s (version %d, revision %d)", m.Name, version, rev),
		keptAs: m.Name + "_r" + strconv.Itoa(rev)}, nil
}

// checkTable compares an existing table with the one the SQL would create:
// every column with its type, no extra NOT NULL column without a default
// where the scaffold inserts rows, and the unique keys its upserts need.
func checkTable(ctx context.Context, tx pgx.Tx, schema string, t tableSpec) error {
	name := schema + "." + t.Name
	var oid uint32
	var kind string
	err := tx.QueryRow(ctx, `SELECT c.oid, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, schema, t.Name).Scan(&oid, &kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect %s: %w", name, err)
	}
	shapeErr := func(problems []string) error {
		return fmt.Errorf("%w: %s exists and %s. Nothing was applied. Pass another name with table (e.g. table: %q), or rename the existing table",
			ErrShape, name, strings.Join(problems, "; "), schema+"."+t.Name+"_billwire")
	}
	if kind != "r" && kind != "p" {
		return shapeErr([]string{"is not a table"})
	}
	rows, err := tx.Query(ctx, `SELECT attname::text, format_type(atttypid, atttypmod), attnotnull,
			atthasdef OR attidentity <> '' OR attgenerated <> ''
		FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, oid)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", name, err)
	}
	type have struct {
		typ        string
		notNull    bool
		hasDefault bool
	}
	cols := map[string]have{}
	var order []string
	for rows.Next() {
		var n string
		var h have
		if err := rows.Scan(&n, &h.typ, &h.notNull, &h.hasDefault); err != nil {
			return fmt.Errorf("inspect %s: %w", name, err)
		}
		cols[n] = h
		order = append(order, n)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("inspect %s: %w", name, err)
	}
	var problems []string
	want := map[string]bool{}
	for _, c := range t.Columns {
		want[c.Name] = true
		h, ok := cols[c.Name]
		switch {
		case !ok && c.Since > 1:
			// added by this version's ADD COLUMN IF NOT EXISTS: a table an
			// earlier version created is upgraded, not refused
		case !ok:
			problems = append(problems, fmt.Sprintf("has no column %q (%s)", c.Name, c.Type))
		case h.typ != c.Type:
			problems = append(problems, fmt.Sprintf("column %q is %s, not %s", c.Name, h.typ, c.Type))
		}
	}
	if t.Inserts {
		for _, n := range order {
			if h := cols[n]; !want[n] && h.notNull && !h.hasDefault {
				problems = append(problems, fmt.Sprintf("has column %q NOT NULL without a default, which billwire's inserts would not fill", n))
			}
		}
	}
	for _, u := range t.Unique {
		sorted := slices.Clone(u)
		slices.Sort(sorted)
		var ok bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique
			AND i.indpred IS NULL AND i.indexprs IS NULL
			AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
				WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)) = $2::text[])`, oid, sorted).Scan(&ok)
		if err != nil {
			return fmt.Errorf("inspect %s: %w", name, err)
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("has no unique key on (%s)", strings.Join(u, ", ")))
		}
	}
	if len(problems) > 0 {
		return shapeErr(problems)
	}
	return nil
}

// checkOwned refuses to replace a view or function that exists without the
// scaffold's marker: it is the app's own.
func checkOwned(ctx context.Context, tx pgx.Tx, o ownedObject) error {
	var q string
	var args []any
	name := o.schema + "." + o.name
	switch o.kind {
	case "view":
		q = `SELECT c.relkind::text, coalesce(obj_description(c.oid, 'pg_class'), '') FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`
		args = []any{o.schema, o.name}
	case "function":
		q = `SELECT 'f', coalesce(obj_description(p::oid, 'pg_proc'), '') FROM to_regprocedure($1) p WHERE p IS NOT NULL`
		args = []any{quoteIdent(o.schema) + "." + quoteIdent(o.name) + "(" + o.args + ")"}
		name += "(" + o.args + ")"
	}
	var kind, comment string
	err := tx.QueryRow(ctx, q, args...).Scan(&kind, &comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect %s: %w", name, err)
	}
	if o.kind == "view" && kind != "v" {
		return fmt.Errorf("%w: %s exists and is not a view, so the balance view cannot be created. Nothing was applied. Pass another name with table, or rename it", ErrShape, name)
	}
	if !strings.HasPrefix(comment, markerPrefix) {
		return fmt.Errorf("%w: %s %s exists and was not created by billwire's scaffold, so it is not replaced. Nothing was applied. Pass another name with table, or rename it",
			ErrShape, o.kind, name)
	}
	return nil
}

const markerPrefix = "billwire scaffold_fulfillment "

// parseMarker reads the scaffold's comment: pattern, env, table and
// version (1 when it names none, as version 1 did not).
func parseMarker(comment string) (pattern, env, table string, version int) {
	version = 1
	for _, f := range strings.Fields(strings.TrimPrefix(comment, markerPrefix)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "pattern":
			pattern = v
		case "env":
			env = v
		case "table":
			table = v
		case "version":
			if n, err := strconv.Atoi(v); err == nil {
				version = n
			}
		}
	}
	return pattern, env, table, version
}

// markerRevision reads the revision of a scaffold's comment: 1 when it
// names none.
func markerRevision(comment string) int {
	for _, f := range strings.Fields(strings.TrimPrefix(comment, markerPrefix)) {
		if v, ok := strings.CutPrefix(f, "revision="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return 1
}

// Binding is a scaffolded trigger on payments.billing_changes.
type Binding struct {
	Trigger string `json:"trigger"`
	Pattern string `json:"pattern"`
	Env     string `json:"env"`
	Table   string `json:"table"`
	Enabled bool   `json:"enabled"`
	// Version is the generator version that made it (1 when its comment
	// names none).
	Version int `json:"version"`
	// Revision is the revision of that version's SQL (1 when its comment
	// names none).
	Revision int `json:"revision"`
}

// Bindings lists the scaffolded fulfillment triggers on
// payments.billing_changes, however they were applied (by billwire or by
// the app's migration tool): each carries the scaffold's comment.
func Bindings(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}) ([]Binding, error) {
	rows, err := q.Query(ctx, `SELECT t.tgname::text, obj_description(t.oid, 'pg_trigger'), t.tgenabled <> 'D'
		FROM pg_trigger t WHERE t.tgrelid = 'payments.billing_changes'::regclass AND NOT t.tgisinternal
		AND obj_description(t.oid, 'pg_trigger') LIKE 'billwire scaffold_fulfillment %' ORDER BY t.tgname`)
	if err != nil {
		return nil, fmt.Errorf("list fulfillment triggers: %w", err)
	}
	var out []Binding
	for rows.Next() {
		var b Binding
		var comment string
		if err := rows.Scan(&b.Trigger, &comment, &b.Enabled); err != nil {
			return nil, err
		}
		b.Pattern, b.Env, b.Table, b.Version = parseMarker(comment)
		b.Revision = markerRevision(comment)
		out = append(out, b)
	}
	return out, rows.Err()
}

// checkBinding refuses a no-op apply when a later scaffold rebound the
// objects to the other environment: re-applying the recorded SQL is not
// billwire's to do.
func checkBinding(ctx context.Context, tx pgx.Tx, m *Migration) error {
	bs, err := Bindings(ctx, tx)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.Table == m.Table && b.Pattern == m.Pattern && b.Env != string(m.Env) {
			return fmt.Errorf("%w: %s was applied before, but %s is now bound to env %s by a later scaffold (trigger %s); "+
				"billwire does not apply a recorded migration again. Scaffold with env %s to keep the current binding",
				ErrDrift, m.Name, m.Table, b.Env, b.Trigger, b.Env)
		}
	}
	return nil
}
