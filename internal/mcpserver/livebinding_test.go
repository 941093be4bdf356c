package mcpserver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/billwire/billwire/internal/scaffold"
)

// bindLive applies a live scaffold the way a human does with the CLI.
func bindLive(t *testing.T, h *harness, o scaffold.Options) *scaffold.Migration {
	t.Helper()
	o.Env = "live"
	m, err := scaffold.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scaffold.Apply(context.Background(), h.store, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// bindings maps each scaffolded trigger on payments.billing_changes to its env.
func bindings(t *testing.T, h *harness) map[string]string {
	t.Helper()
	bs, err := scaffold.Bindings(context.Background(), h.store)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, b := range bs {
		out[b.Trigger] = b.Env
	}
	return out
}

func countMigrations(t *testing.T, h *harness) int {
	t.Helper()
	var n int
	if err := h.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM payments.app_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// An agent in a server started without --allow-live-writes scaffolds the
// same table for test over a live binding: a test-card payment would then
// grant production access. It is a live write, refused with the command a
// human runs, and nothing in the database moves.
func TestScaffoldCannotRebindLiveWithoutAHuman(t *testing.T) {
	t.Parallel()
	const trigger = "app_public_team_billing_status"
	attack := map[string]any{"pattern": "subscription_access", "env": "test", "apply": true}
	for _, tc := range []struct {
		name           string
		allow, confirm bool
		want           []string
	}{
		{"no flags", false, false, []string{"--allow-live-writes", "bound to live",
			"billwire scaffold --pattern subscription_access --env test --table public.team_billing_status --subject-type team --apply"}},
		{"confirm_live without the flag", false, true, []string{"--allow-live-writes"}},
		{"the flag without confirm_live", true, false, []string{"confirm_live: true", "bound to live"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{allowLiveWrites: tc.allow})
			bindLive(t, h, scaffold.Options{Pattern: "subscription_access"})
			args := map[string]any{}
			for k, v := range attack {
				args[k] = v
			}
			if tc.confirm {
				args["confirm_live"] = true
			}
			h.fails("scaffold_fulfillment", args, tc.want...)
			if got := bindings(t, h); got[trigger] != "live" || len(got) != 1 {
				t.Fatalf("bindings after a refused call: %v", got)
			}
			if n := countMigrations(t, h); n != 1 {
				t.Fatalf("%d migrations recorded, want only the live one", n)
			}
			var comment string
			h.store.Pool().QueryRow(context.Background(), `SELECT obj_description('public.team_billing_status'::regclass, 'pg_class')`).Scan(&comment)
			if !strings.Contains(comment, "env=live") {
				t.Fatalf("table comment = %q", comment)
			}
		})
	}
}

// With --allow-live-writes and confirm_live the human has allowed it.
func TestScaffoldRebindsLiveWithBothFlags(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{allowLiveWrites: true})
	bindLive(t, h, scaffold.Options{Pattern: "subscription_access"})
	got := h.ok("scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "env": "test", "apply": true, "confirm_live": true})
	if got["mode"] != "applied" {
		t.Fatalf("apply: %v", got)
	}
	if b := bindings(t, h); b["app_public_team_billing_status"] != "test" {
		t.Fatalf("bindings: %v", b)
	}
}

// Objects the SQL would replace by name count too, whatever table their
// comment names: schema app_team, table billing_status has the trigger name
// of app.team_billing_status (app_app_team_billing_status), so its SQL
// would drop the live trigger. Another pattern on the live table would
// replace its functions.
func TestScaffoldCannotReplaceLiveObjectsByName(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	bindLive(t, h, scaffold.Options{Pattern: "subscription_access", Table: "app.team_billing_status"})
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "table": "app_team.billing_status", "apply": true},
		"--allow-live-writes", "trigger app_app_team_billing_status on payments.billing_changes")
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "one_time_orders", "table": "app.team_billing_status", "apply": true},
		"--allow-live-writes")
	if got := bindings(t, h); got["app_app_team_billing_status"] != "live" || len(got) != 1 {
		t.Fatalf("bindings: %v", got)
	}
	if n := countMigrations(t, h); n != 1 {
		t.Fatalf("%d migrations recorded", n)
	}
	// A table of its own, bound to test, is not live's business.
	if got := h.ok("scaffold_fulfillment", map[string]any{"pattern": "one_time_orders", "apply": true}); got["mode"] != "applied" {
		t.Fatalf("unrelated test apply: %v", got)
	}
}

// The ledger counts even when the objects' comments are gone: the last
// migration billwire applied for the table bound it to live.
func TestScaffoldLedgerSaysLive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	bindLive(t, h, scaffold.Options{Pattern: "one_time_orders"})
	ctx := context.Background()
	for _, q := range []string{`COMMENT ON TABLE public.orders IS NULL`,
		`COMMENT ON TRIGGER app_public_orders ON payments.billing_changes IS NULL`,
		`COMMENT ON FUNCTION public.orders_apply(payments.billing_changes) IS NULL`,
		`COMMENT ON FUNCTION public.orders_on_billing_change() IS NULL`} {
		if _, err := h.store.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "one_time_orders", "write_to": t.TempDir() + "/"}, "--allow-live-writes", "app_migrations")
}

// write_to over a live binding would rebind it once the app's migration
// tool runs the file: refused the same way, and no file is written.
func TestScaffoldWriteToOverLiveNeedsAHuman(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, tc := range []struct {
		name           string
		allow, confirm bool
		bound          bool
		args           map[string]any
		want           []string
	}{
		{"test over live, no flags", false, false, true, map[string]any{"pattern": "credits", "grants": map[string]any{"credits_100": 100}, "env": "test"},
			[]string{"--allow-live-writes", "billwire scaffold --pattern credits --env test --table public.credit_ledger --subject-type user --grants credits_100=100 --write-to db/migrations/"}},
		{"test over live, flag only", true, false, true, map[string]any{"pattern": "credits", "grants": map[string]any{"credits_100": 100}}, []string{"confirm_live: true"}},
		{"live over live, no flags", false, true, true, map[string]any{"pattern": "credits", "grants": map[string]any{"credits_100": 100}, "env": "live"}, []string{"--allow-live-writes"}},
		{"live on a fresh database, no flags", false, true, false, map[string]any{"pattern": "credits", "grants": map[string]any{"credits_100": 100}, "env": "live"}, []string{"--allow-live-writes"}},
		{"live on a fresh database, flag only", true, false, false, map[string]any{"pattern": "credits", "grants": map[string]any{"credits_100": 100}, "env": "live"}, []string{"confirm_live: true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(root, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, harnessOpts{allowLiveWrites: tc.allow, roots: rootsAt(dir)})
			if tc.bound {
				bindLive(t, h, scaffold.Options{Pattern: "credits", Grants: map[string]int64{"credits_100": 100}})
			}
			args := map[string]any{"write_to": "db/migrations/"}
			for k, v := range tc.args {
				args[k] = v
			}
			if tc.confirm {
				args["confirm_live"] = true
			}
			h.fails("scaffold_fulfillment", args, tc.want...)
			if _, err := os.Stat(filepath.Join(dir, "db")); err == nil {
				t.Fatal("a refused write_to wrote something")
			}
			// Confirmed in a server that allows live writes, it is written.
			h2 := newHarness(t, harnessOpts{allowLiveWrites: true, roots: rootsAt(dir)})
			if tc.bound {
				bindLive(t, h2, scaffold.Options{Pattern: "credits", Grants: map[string]int64{"credits_100": 100}})
			}
			args["confirm_live"] = true
			if got := h2.ok("scaffold_fulfillment", args); got["mode"] != "written" {
				t.Fatalf("confirmed write_to: %v", got)
			}
		})
	}
	// A dry run stays allowed.
	h := newHarness(t, harnessOpts{})
	bindLive(t, h, scaffold.Options{Pattern: "credits", Grants: map[string]int64{"credits_100": 100}})
	if got := h.ok("scaffold_fulfillment", map[string]any{"pattern": "credits", "grants": map[string]any{"credits_100": 100}}); got["mode"] != "dry_run" {
		t.Fatalf("dry run: %v", got)
	}
}
