package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
)

// The scaffold's catalog reads over the app's objects, and its apply: what
// they see of a table, a view and a function, and that an apply is
// recorded with its SQL or, on error, not at all.
func TestScaffoldCatalogAndApply(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	for _, sql := range []string{
		`CREATE TABLE public.orders (id text PRIMARY KEY, owner text NOT NULL, note text, n bigint GENERATED ALWAYS AS IDENTITY,
			amount bigint NOT NULL DEFAULT 0, UNIQUE (owner, amount))`,
		`CREATE UNIQUE INDEX orders_note ON public.orders (note) WHERE note IS NOT NULL`,
		`CREATE VIEW public.order_view AS SELECT id FROM public.orders`,
		`COMMENT ON VIEW public.order_view IS 'billwire scaffold_fulfillment pattern=x env=live table=public.orders'`,
		`CREATE FUNCTION public.order_fn(payments.billing_changes) RETURNS int LANGUAGE sql AS 'SELECT 7'`,
		`COMMENT ON FUNCTION public.order_fn(payments.billing_changes) IS 'mine'`,
	} {
		if _, err := st.Pool().Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if ok, err := st.RelationExists(ctx, "public.orders"); err != nil || !ok {
		t.Errorf("RelationExists(public.orders) = %v, %v", ok, err)
	}
	if ok, err := st.RelationExists(ctx, "public.nothing"); err != nil || ok {
		t.Errorf("RelationExists(public.nothing) = %v, %v", ok, err)
	}
	if cols, err := st.ColumnNames(ctx, "public.orders"); err != nil || !reflect.DeepEqual(cols, []string{"id", "owner", "note", "n", "amount"}) {
		t.Errorf("ColumnNames = %v, %v", cols, err)
	}
	if cols, err := st.ColumnNames(ctx, "public.nothing"); err != nil || len(cols) != 0 {
		t.Errorf("ColumnNames(public.nothing) = %v, %v", cols, err)
	}
	if src, err := st.FunctionSource(ctx, "public.order_fn(payments.billing_changes)"); err != nil || src != "SELECT 7" {
		t.Errorf("FunctionSource = %q, %v", src, err)
	}
	if src, err := st.FunctionSource(ctx, "public.nothing(payments.billing_changes)"); err != nil || src != "" {
		t.Errorf("FunctionSource(nothing) = %q, %v", src, err)
	}
	objs, err := st.ScaffoldObjects(ctx)
	if want := []store.ScaffoldObject{{Comment: "billwire scaffold_fulfillment pattern=x env=live table=public.orders", Type: "view",
		Identity: "public.order_view"}}; err != nil || !reflect.DeepEqual(objs, want) {
		t.Errorf("ScaffoldObjects = %+v, %v; want %+v", objs, err, want)
	}

	err = st.ApplyAppMigration(ctx, func(tx *store.AppMigrationTx) error {
		rel, err := tx.Relation(ctx, "public", "orders")
		if err != nil || rel.Kind != "r" || rel.OID == 0 {
			t.Errorf("Relation(orders) = %+v, %v", rel, err)
			return nil
		}
		cols, err := tx.Columns(ctx, rel.OID)
		want := []store.Column{{Name: "id", Type: "text", NotNull: true}, {Name: "owner", Type: "text", NotNull: true},
			{Name: "note", Type: "text"}, {Name: "n", Type: "bigint", NotNull: true, HasDefault: true},
			{Name: "amount", Type: "bigint", NotNull: true, HasDefault: true}}
		if err != nil || !reflect.DeepEqual(cols, want) {
			t.Errorf("Columns = %+v, %v; want %+v", cols, err, want)
		}
		for _, c := range []struct {
			cols []string
			want bool
		}{
			{[]string{"id"}, true},
			{[]string{"owner", "amount"}, true}, // any order
			{[]string{"owner"}, false},          // part of a key is none
			{[]string{"note"}, false},           // a partial index is no key for ON CONFLICT
		} {
			if ok, err := tx.HasUniqueKey(ctx, rel.OID, c.cols); err != nil || ok != c.want {
				t.Errorf("HasUniqueKey(%v) = %v, %v; want %v", c.cols, ok, err, c.want)
			}
		}
		if v, err := tx.Relation(ctx, "public", "order_view"); err != nil || v.Kind != "v" || v.Comment == "" {
			t.Errorf("Relation(order_view) = %+v, %v", v, err)
		}
		if _, err := tx.Relation(ctx, "public", "nothing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Relation(nothing): %v, want ErrNotFound", err)
		}
		if c, err := tx.FunctionComment(ctx, "public.order_fn(payments.billing_changes)"); err != nil || c != "mine" {
			t.Errorf("FunctionComment = %q, %v", c, err)
		}
		if _, err := tx.FunctionComment(ctx, "public.nothing(payments.billing_changes)"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FunctionComment(nothing): %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// An apply whose caller fails afterwards leaves neither its objects nor
	// its record; one that returns is recorded with its SQL.
	boom := errors.New("boom")
	err = st.ApplyAppMigration(ctx, func(tx *store.AppMigrationTx) error {
		if _, err := tx.Apply(ctx, "billwire_a", "sum_a", `CREATE TABLE public.a (id int)`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed apply: %v", err)
	}
	if ok, _ := st.RelationExists(ctx, "public.a"); ok {
		t.Error("a failed apply left its table")
	}
	if ms, err := st.AppMigrations(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("a failed apply left records %+v, %v", ms, err)
	}
	err = st.ApplyAppMigration(ctx, func(tx *store.AppMigrationTx) error {
		if _, err := tx.AppMigration(ctx, "billwire_a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AppMigration before the apply: %v, want ErrNotFound", err)
		}
		_, err := tx.Apply(ctx, "billwire_a", "sum_a", `CREATE TABLE public.a (id int)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := st.AppMigrations(ctx)
	if err != nil || len(ms) != 1 || ms[0].Name != "billwire_a" || ms[0].Checksum != "sum_a" || ms[0].SQL != `CREATE TABLE public.a (id int)` || ms[0].AppliedAt.IsZero() {
		t.Fatalf("AppMigrations = %+v, %v", ms, err)
	}
	if sqls, err := st.AppMigrationSQL(ctx); err != nil || !reflect.DeepEqual(sqls, []string{ms[0].SQL}) {
		t.Errorf("AppMigrationSQL = %q, %v", sqls, err)
	}
	err = st.ApplyAppMigration(ctx, func(tx *store.AppMigrationTx) error {
		m, err := tx.AppMigration(ctx, "billwire_a")
		if err != nil || m.Name != ms[0].Name || m.Checksum != ms[0].Checksum || m.SQL != ms[0].SQL || !m.AppliedAt.Equal(ms[0].AppliedAt) {
			t.Errorf("AppMigration = %+v, %v; want %+v", m, err, ms[0])
		}
		if _, err := tx.Apply(ctx, "billwire_b", "sum_b", `SELECT 1/0`); err == nil {
			t.Error("Apply of failing SQL: no error")
		}
		return nil
	})
	if err == nil {
		t.Error("a transaction whose apply failed committed")
	}
}
