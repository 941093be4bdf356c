package scaffold

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
)

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// liveObjectsSQL reads the objects carrying the scaffold's comment; for a
// function, whether one of m's functions ($1 schemas, $2 names, $3
// argument lists) is it, and which of them would shadow it: the same name
// and arguments in a schema before its own on the search_path (as this
// connection has it: the database's and role's default).
const liveObjectsSQL = `
	WITH path AS (
		SELECT array_agg(CASE WHEN x.s = '$user' THEN current_user::text ELSE x.s END ORDER BY u.o) AS p
		FROM unnest(string_to_array(current_setting('search_path'), ',')) WITH ORDINALITY AS u(raw, o),
			LATERAL (SELECT btrim(btrim(u.raw), '"') AS s) x),
	mine AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS f(schema, name, args))
	SELECT d.description, i.type, i.identity,
		coalesce(EXISTS (SELECT 1 FROM mine f WHERE f.schema = n.nspname
			AND to_regprocedure(format('%I.%I(%s)', f.schema, f.name, f.args)) = p.oid), false),
		(SELECT string_agg(f.schema || '.' || f.name, ', ') FROM mine f, path
			WHERE f.schema <> n.nspname AND to_regprocedure(format('%I.%I(%s)', n.nspname, f.name, f.args)) = p.oid
			  AND array_position(path.p, f.schema) < array_position(path.p, n.nspname::text))
	FROM pg_description d
		LEFT JOIN pg_proc p ON d.classoid = 'pg_proc'::regclass AND p.oid = d.objoid
		LEFT JOIN pg_namespace n ON n.oid = p.pronamespace,
		LATERAL pg_identify_object(d.classoid, d.objoid, 0) i
	WHERE d.objsubid = 0 AND d.description LIKE 'billwire scaffold_fulfillment %'`

// markerInSQL finds the scaffold comments in generated SQL (quoted literals).
var markerInSQL = regexp.MustCompile(`'` + regexp.QuoteMeta(markerPrefix) + `[^']*'`)

// LiveBound lists what m's SQL would create, replace or rebind that is bound
// to live now, so that writing or applying it is a live write whatever m's
// env: each object with a scaffold comment saying env=live that either names
// m's table or is one of m's objects by name (a trigger name is shared by
// schema a_b table c and schema a table b_c; a function is compared by its
// signature as PostgreSQL resolves it, so text and pg_catalog.text are the
// same), or a live function of the same name and arguments in a schema
// that comes after the one m's function is created in on the search_path
// (m's would shadow it for every unqualified call); and m's table when the
// last migration in ledger (the SQL of payments.app_migrations, oldest
// first) that named it bound it to live. Empty means nothing live is touched.
func LiveBound(ctx context.Context, q Querier, m *Migration, ledger []string) ([]string, error) {
	mine := map[string]bool{}
	for _, o := range m.Objects {
		mine[o] = true
	}
	var fs, fn, fa []string
	for _, o := range m.owned {
		if o.kind == "function" {
			fs, fn, fa = append(fs, o.schema), append(fn, o.name), append(fa, o.args)
		}
	}
	rows, err := q.Query(ctx, liveObjectsSQL, fs, fn, fa)
	if err != nil {
		return nil, fmt.Errorf("read the scaffold's objects: %w", err)
	}
	var out []string
	for rows.Next() {
		var comment, typ, identity string
		var replaced bool
		var shadowedBy *string
		if err := rows.Scan(&comment, &typ, &identity, &replaced, &shadowedBy); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the scaffold's objects: %w", err)
		}
		_, env, table, _ := parseMarker(comment)
		obj := typ + " " + strings.ReplaceAll(identity, `"`, "")
		if env != string(vocab.Live) {
			continue
		}
		switch {
		case table == m.Table || mine[obj] || replaced:
			out = append(out, obj)
		case shadowedBy != nil:
			out = append(out, obj+" (shadowed by "+*shadowedBy+", earlier on the search_path)")
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the scaffold's objects: %w", err)
	}
	last := ""
	for _, sql := range ledger {
		for _, lit := range markerInSQL.FindAllString(sql, -1) {
			if _, env, table, _ := parseMarker(strings.Trim(lit, "'")); table == m.Table {
				last = env
			}
		}
	}
	if last == string(vocab.Live) {
		out = append(out, "payments.app_migrations: the last migration applied for "+m.Table+" bound it to live")
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
