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

// markerInSQL finds the scaffold comments in generated SQL (quoted literals).
var markerInSQL = regexp.MustCompile(`'` + regexp.QuoteMeta(markerPrefix) + `[^']*'`)

// LiveBound lists what m's SQL would create, replace or rebind that is bound
// to live now, so that writing or applying it is a live write whatever m's
// env: each object with a scaffold comment saying env=live that either names
// m's table or is one of m's objects by name (a trigger name is shared by
// schema a_b table c and schema a table b_c); and m's table when the last
// migration in ledger (the SQL of payments.app_migrations, oldest first)
// that named it bound it to live. Empty means nothing live is touched.
func LiveBound(ctx context.Context, q Querier, m *Migration, ledger []string) ([]string, error) {
	mine := map[string]bool{}
	for _, o := range m.Objects {
		mine[o] = true
	}
	rows, err := q.Query(ctx, `SELECT d.description, i.type, i.identity
		FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, 0) i
		WHERE d.objsubid = 0 AND d.description LIKE 'billwire scaffold_fulfillment %'`)
	if err != nil {
		return nil, fmt.Errorf("read the scaffold's objects: %w", err)
	}
	var out []string
	for rows.Next() {
		var comment, typ, identity string
		if err := rows.Scan(&comment, &typ, &identity); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the scaffold's objects: %w", err)
		}
		_, env, table, _ := parseMarker(comment)
		obj := typ + " " + strings.ReplaceAll(identity, `"`, "")
		if env == string(vocab.Live) && (table == m.Table || mine[obj]) {
			out = append(out, obj)
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
