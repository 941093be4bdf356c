package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/scaffold"
)

func TestScaffoldCommand(t *testing.T) {
	t.Parallel()
	e := env(t, "http://127.0.0.1:1") // Stripe is never called
	want, _ := scaffold.Generate(scaffold.Options{Pattern: "credits", Grants: map[string]int64{"credits_100": 100, "credits_1k": 1000}, SubjectType: "team"})
	code, out, errs := cli(t, e, "", "scaffold", "--pattern", "credits", "--grants", "credits_100=100,credits_1k=1000", "--subject-type", "team")
	if code != 0 || out != want.SQL || !strings.Contains(errs, "dry run") {
		t.Fatalf("dry run: %d %q", code, errs)
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "migrations", "0009_credits.sql")
	code, out, errs = cli(t, e, "", "scaffold", "--pattern", "credits", "--grants", "credits_100=100,credits_1k=1000", "--subject-type", "team", "--write-to", target)
	if b, _ := os.ReadFile(target); code != 0 || string(b) != want.SQL || !strings.Contains(out, "wrote "+target) {
		t.Fatalf("write-to: %d %s %s", code, out, errs)
	}
	args := []string{"scaffold", "--pattern", "credits", "--grants", "credits_100=100,credits_1k=1000", "--subject-type", "team", "--apply"}
	if code, out, errs = cli(t, e, "", args...); code != 0 || !strings.Contains(out, "applied "+want.Name) {
		t.Fatalf("apply: %d %s %s", code, out, errs)
	}
	if code, out, errs = cli(t, e, "", args...); code != 0 || !strings.Contains(out, "already applied") {
		t.Fatalf("apply again: %d %s %s", code, out, errs)
	}
	args[4] = "credits_100=200,credits_1k=1000"
	if code, _, errs = cli(t, e, "", args...); code != 1 || !strings.Contains(errs, "drift") {
		t.Fatalf("changed rate: %d %s", code, errs)
	}
	// Version 1's flag is refused with the form that replaces it.
	if code, _, errs := cli(t, e, "", "scaffold", "--pattern", "credits", "--credits-per-unit", "1000"); code != 2 ||
		!strings.Contains(errs, "credits_per_unit was replaced by grants") || !strings.Contains(errs, "--grants credits_100=100,credits_1k=1000") {
		t.Fatalf("--credits-per-unit: %d %s", code, errs)
	}
	for _, bad := range [][]string{
		{"scaffold"},
		{"scaffold", "--pattern", "lifetime"},
		{"scaffold", "--pattern", "one_time_orders", "--table", "Orders"},
		{"scaffold", "--pattern", "one_time_orders", "--env", "prod"},
		{"scaffold", "--pattern", "one_time_orders", "--apply", "--write-to", "x.sql"},
		{"scaffold", "--pattern", "credits"},
		{"scaffold", "--pattern", "credits", "--grants", "credits_100"},
		{"scaffold", "--pattern", "credits", "--grants", "credits_100=many"},
		{"scaffold", "--pattern", "subscription_access", "--grace-days", "91"},
		{"scaffold", "--pattern", "subscription_access", "--grace-days", "-1"},
		{"scaffold", "--pattern", "subscription_access", "--grace-days", "seven"},
		{"scaffold", "--pattern", "one_time_orders", "--grace-days", "3"},
	} {
		if code, _, errs := cli(t, e, "", bad...); code != 2 || errs == "" {
			t.Errorf("%v: exit %d, %s", bad, code, errs)
		}
	}
}

// The command the doctor gives for a version 1 scaffold upgrades it.
func TestScaffoldCommandUpgradesVersion1(t *testing.T) {
	t.Parallel()
	e := env(t, "http://127.0.0.1:1")
	if code, _, errs := cli(t, e, "", "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	v1, err := os.ReadFile(filepath.Join("..", "..", "testdata", "scaffold", "v1", "one_time_orders.sql"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, string(v1)); err != nil { // as the app's migration tool ran it
		t.Fatal(err)
	}
	code, out, errs := cli(t, e, "", "scaffold", "--pattern", "one_time_orders", "--env", "test", "--table", "public.orders", "--apply")
	if code != 0 || !strings.Contains(out, "applied billwire_one_time_orders_public_orders_test_v2") ||
		!strings.Contains(out, "upgraded from trigger app_public_orders (version 1)") {
		t.Fatalf("upgrade: %d %s %s", code, out, errs)
	}
	var comment string
	if err := conn.QueryRow(ctx, `SELECT obj_description('public.orders'::regclass, 'pg_class')`).Scan(&comment); err != nil ||
		!strings.HasSuffix(comment, "version=2 revision=2") { // the current revision of version 2
		t.Fatalf("table comment %q %v", comment, err)
	}
}

func TestScaffoldGraceDays(t *testing.T) {
	t.Parallel()
	e := env(t, "http://127.0.0.1:1") // Stripe is never called
	want, _ := scaffold.Generate(scaffold.Options{Pattern: "subscription_access", GraceDays: 7})
	code, out, errs := cli(t, e, "", "scaffold", "--pattern", "subscription_access", "--grace-days", "7")
	if code != 0 || out != want.SQL || !strings.Contains(out, `"past_due_since" + interval '7 days'`) {
		t.Fatalf("dry run: %d %q", code, errs)
	}
	if code, _, errs := cli(t, e, "", "scaffold", "--pattern", "subscription_access", "--grace-days", "91"); code != 2 ||
		!strings.Contains(errs, "grace_days 91 is out of range") {
		t.Fatalf("--grace-days 91: %d %s", code, errs)
	}
}
