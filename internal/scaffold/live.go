package scaffold

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// markerInSQL finds the scaffold comments in generated SQL (quoted literals).
var markerInSQL = regexp.MustCompile(`'` + regexp.QuoteMeta(markerPrefix) + `[^']*'`)

// LiveBound lists what m's SQL would create, replace or rebind that is bound
// to live now, so that writing or applying it is a live write whatever m's
// env: each object with a scaffold comment saying env=live that either names
// m's table or is one of m's objects by name (a trigger name is shared by
// schema a_b table c and schema a table b_c); and m's table when the last
// migration in ledger (the SQL of payments.app_migrations, oldest first)
// that named it bound it to live. Empty means nothing live is touched.
func LiveBound(ctx context.Context, st *store.Store, m *Migration, ledger []string) ([]string, error) {
	mine := map[string]bool{}
	for _, o := range m.Objects {
		mine[o] = true
	}
	objs, err := st.ScaffoldObjects(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range objs {
		_, env, table, _ := parseMarker(o.Comment)
		obj := o.Type + " " + strings.ReplaceAll(o.Identity, `"`, "")
		if env == string(vocab.Live) && (table == m.Table || mine[obj]) {
			out = append(out, obj)
		}
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
