package store_test

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
)

// The statements of the webhook transactions find their rows by key, one
// index probe per row, in the plan PostgreSQL makes on empty tables and
// then keeps: none reads a whole table, whatever it grows to.
func TestStatementsProbeByKeyOnEmptyTables(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	statements := store.ProjectionStatements()
	maps.Copy(statements, store.ClaimStatements())
	whole := regexp.MustCompile(`Seq Scan on|Hash Join|Hash Anti|Hash Semi|Merge|Index Cond: \(env = [^)]*\)$`)
	for name, sql := range statements {
		err := pgx.BeginFunc(ctx, st.Pool(), func(tx pgx.Tx) error {
			for k, v := range store.PlannerSettings {
				if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", k, v); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, "PREPARE s AS "+sql); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = 's'`).Scan(&n); err != nil {
				return err
			}
			args := strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ")
			rows, err := tx.Query(ctx, fmt.Sprintf("EXPLAIN (COSTS OFF) EXECUTE s(%s)", args))
			if err != nil {
				return err
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			if !strings.Contains(strings.Join(plan, "\n"), "Index") {
				t.Errorf("%s: no index in the plan:\n%s", name, strings.Join(plan, "\n"))
			}
			for _, line := range plan {
				if whole.MatchString(line) {
					t.Errorf("%s reads a whole table or index: %s\n%s", name, strings.TrimSpace(line), strings.Join(plan, "\n"))
					break
				}
			}
			_, err = tx.Exec(ctx, "DEALLOCATE s")
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
