package scaffold

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/store"
)

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
func Apply(ctx context.Context, st *store.Store, m *Migration) (*Applied, error) {
	var res *Applied
	err := st.ApplyAppMigration(ctx, func(tx *store.AppMigrationTx) error {
		var revised *revisedRecord
		rec, err := tx.AppMigration(ctx, m.Name)
		switch {
		case err == nil && rec.Checksum == m.Checksum:
			if err := checkBinding(ctx, tx, m); err != nil {
				return err
			}
			res = &Applied{Name: m.Name, Checksum: rec.Checksum, AppliedAt: rec.AppliedAt, AlreadyApplied: true}
			return nil
		case err == nil:
			revised = earlierRevision(rec, m)
			if revised == nil {
				revised = otherGrace(rec, m)
			}
			if revised != nil {
				break
			}
			return fmt.Errorf("%w: migration %s was applied on %s with checksum %s, but these arguments generate checksum %s. "+
				"billwire never re-applies changed SQL under an applied name: call again with the arguments it was applied with, "+
				"or use write_to and change the objects with the app's own migration tool",
				ErrDrift, m.Name, rec.AppliedAt.UTC().Format(time.RFC3339), rec.Checksum, m.Checksum)
		case !errors.Is(err, store.ErrNotFound):
			return err
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
		keepAs := ""
		if revised != nil {
			from, keepAs = revised.from, revised.keptAs
		}
		at, err := tx.Apply(ctx, m.Name, m.Checksum, m.SQL, keepAs)
		if err != nil {
			return err
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
func earlierVersion(ctx context.Context, tx *store.AppMigrationTx, m *Migration) (string, error) {
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
	rec, err := tx.AppMigration(ctx, old)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	}
	return rec.Name + " (version 1)", nil
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
func earlierRevision(rec *store.AppMigration, m *Migration) *revisedRecord {
	lit := markerInSQL.FindString(rec.SQL)
	pattern, _, table, version := parseMarker(strings.Trim(lit, "'"))
	rev := markerRevision(strings.Trim(lit, "'"))
	if lit == "" || pattern != m.Pattern || table != m.Table || version != Version || rev >= m.Revision ||
		!maps.Equal(grantsInSQL(rec.SQL), grantsInSQL(m.SQL)) {
		return nil
	}
	if g := graceInSQL(rec.SQL); g >= 0 && g != graceInSQL(m.SQL) {
		return nil // the earlier revision had another grace_days
	}
	return &revisedRecord{from: fmt.Sprintf("migration %s (version %d, revision %d)", m.Name, version, rev),
		keptAs: m.Name + "_r" + strconv.Itoa(rev)}
}

// otherGrace reports whether the record under m's name is the same
// subscription_access SQL with another grace_days, which m replaces in
// place (its record kept as <name>_grace<N>_<applied unix time>); nil
// when it is not.
func otherGrace(rec *store.AppMigration, m *Migration) *revisedRecord {
	was, now := graceInSQL(rec.SQL), graceInSQL(m.SQL)
	if was < 0 || now < 0 || was == now || withGrace(rec.SQL, was, now) != m.SQL {
		return nil
	}
	return &revisedRecord{from: fmt.Sprintf("migration %s (grace_days %d)", m.Name, was),
		keptAs: fmt.Sprintf("%s_grace%d_%d", m.Name, was, rec.AppliedAt.Unix())}
}

// withGrace is subscription_access SQL with grace_days was replaced by now.
func withGrace(sql string, was, now int) string {
	for _, f := range []string{"grace_days = %d days", "interval '%d days'"} {
		sql = strings.ReplaceAll(sql, fmt.Sprintf(f, was), fmt.Sprintf(f, now))
	}
	return sql
}

// checkTable compares an existing table with the one the SQL would create:
// every column with its type, no extra NOT NULL column without a default
// where the scaffold inserts rows, and the unique keys its upserts need.
func checkTable(ctx context.Context, tx *store.AppMigrationTx, schema string, t tableSpec) error {
	name := schema + "." + t.Name
	rel, err := tx.Relation(ctx, schema, t.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect %s: %w", name, err)
	}
	shapeErr := func(problems []string) error {
		return fmt.Errorf("%w: %s exists and %s. Nothing was applied. Pass another name with table (e.g. table: %q), or rename the existing table",
			ErrShape, name, strings.Join(problems, "; "), schema+"."+t.Name+"_billwire")
	}
	if rel.Kind != "r" && rel.Kind != "p" {
		return shapeErr([]string{"is not a table"})
	}
	have, err := tx.Columns(ctx, rel.OID)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", name, err)
	}
	cols := map[string]store.Column{}
	for _, c := range have {
		cols[c.Name] = c
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
		case h.Type != c.Type:
			problems = append(problems, fmt.Sprintf("column %q is %s, not %s", c.Name, h.Type, c.Type))
		}
	}
	if t.Inserts {
		for _, h := range have {
			if !want[h.Name] && h.NotNull && !h.HasDefault {
				problems = append(problems, fmt.Sprintf("has column %q NOT NULL without a default, which billwire's inserts would not fill", h.Name))
			}
		}
	}
	for _, u := range t.Unique {
		ok, err := tx.HasUniqueKey(ctx, rel.OID, u)
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
func checkOwned(ctx context.Context, tx *store.AppMigrationTx, o ownedObject) error {
	name := o.schema + "." + o.name
	var comment string
	var err error
	switch o.kind {
	case "view":
		var rel *store.Relation
		if rel, err = tx.Relation(ctx, o.schema, o.name); err == nil {
			if rel.Kind != "v" {
				return fmt.Errorf("%w: %s exists and is not a view, so the balance view cannot be created. Nothing was applied. Pass another name with table, or rename it", ErrShape, name)
			}
			comment = rel.Comment
		}
	case "function":
		comment, err = tx.FunctionComment(ctx, quoteIdent(o.schema)+"."+quoteIdent(o.name)+"("+o.args+")")
		name += "(" + o.args + ")"
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect %s: %w", name, err)
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

// TriggerReader lists the scaffold's triggers: a *store.Store, or the
// transaction of an apply.
type TriggerReader interface {
	ScaffoldTriggers(ctx context.Context) ([]store.ScaffoldTrigger, error)
}

// Bindings lists the scaffolded fulfillment triggers on
// payments.billing_changes, however they were applied (by billwire or by
// the app's migration tool): each carries the scaffold's comment.
func Bindings(ctx context.Context, q TriggerReader) ([]Binding, error) {
	ts, err := q.ScaffoldTriggers(ctx)
	if err != nil {
		return nil, err
	}
	var out []Binding
	for _, t := range ts {
		b := Binding{Trigger: t.Name, Enabled: t.Enabled}
		b.Pattern, b.Env, b.Table, b.Version = parseMarker(t.Comment)
		b.Revision = markerRevision(t.Comment)
		out = append(out, b)
	}
	return out, nil
}

// checkBinding refuses a no-op apply when a later scaffold rebound the
// objects to the other environment: re-applying the recorded SQL is not
// billwire's to do.
func checkBinding(ctx context.Context, tx *store.AppMigrationTx, m *Migration) error {
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
