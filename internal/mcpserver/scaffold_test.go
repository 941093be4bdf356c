package mcpserver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/scaffold"
	"github.com/billwire/billwire/internal/stripetest"
)

type rootsFunc func(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error)

func (f rootsFunc) ListRoots(ctx context.Context, r mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	return f(ctx, r)
}

func rootsAt(dirs ...string) rootsFunc {
	return func(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
		res := &mcp.ListRootsResult{Roots: []mcp.Root{}}
		for _, d := range dirs {
			res.Roots = append(res.Roots, mcp.Root{URI: "file://" + filepath.ToSlash(d), Name: filepath.Base(d)})
		}
		return res, nil
	}
}

func TestScaffoldFulfillmentDryRunAndApply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	args := map[string]any{"pattern": "subscription_access", "subject_type": "team"}
	dry := h.ok("scaffold_fulfillment", args)
	want, _ := scaffold.Generate(scaffold.Options{Pattern: "subscription_access", SubjectType: "team"})
	if dry["mode"] != "dry_run" || dry["sql"] != want.SQL || dry["checksum"] != want.Checksum || dry["env"] != "test" ||
		dry["name"] != "billwire_subscription_access_public_team_billing_status_test_v2" {
		t.Fatalf("dry run: %v", dry)
	}
	var n int
	ctx := context.Background()
	h.store.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = 'team_billing_status'`).Scan(&n)
	if n != 0 {
		t.Fatal("a dry run created the table")
	}
	args["apply"] = true
	if got := h.ok("scaffold_fulfillment", args); got["mode"] != "applied" || got["checksum"] != want.Checksum {
		t.Fatalf("apply: %v", got)
	}
	if got := h.ok("scaffold_fulfillment", args); got["mode"] != "already_applied" {
		t.Fatalf("apply again: %v", got)
	}
	var sum string
	if err := h.store.Pool().QueryRow(ctx, `SELECT checksum FROM payments.app_migrations WHERE name = $1`, want.Name).Scan(&sum); err != nil || sum != want.Checksum {
		t.Fatalf("ledger: %s %v", sum, err)
	}
	graced := h.ok("scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "grace_days": 7})
	if sql, _ := graced["sql"].(string); !strings.Contains(sql, `"past_due_since" + interval '7 days'`) {
		t.Fatalf("grace_days 7: %v", graced["sql"])
	}
	args["table"] = "team_billing_status"
	args["subject_type"] = "user" // another subject for the same table: other SQL under its name
	h.fails("scaffold_fulfillment", args, "drift", want.Name, "arguments it was applied with")
}

func TestScaffoldFulfillmentRefusesBadCalls(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	h := newHarness(t, harnessOpts{roots: rootsAt(root)})
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "lifetime_access"}, "pattern")
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "one_time_orders", "table": "orders; DROP TABLE users"}, "not a valid identifier")
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "credits"}, "grants is required", `grants: {"credits_100": 100, "credits_1k": 1000}`)
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "credits", "credits_per_unit": 1000}, "credits_per_unit was replaced by grants",
		`grants: {"credits_100": 100, "credits_1k": 1000}`)
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "credits", "grants": map[string]any{"credits_100": 0}}, "out of range")
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "grace_days": 365}, "grace_days")
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "grace_days": 2.5}, "grace_days")
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "grace_days": "7"}, "grace_days")
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "credits", "grants": map[string]any{"credits_100": 10}, "grace_days": 3},
		"grace_days applies to pattern subscription_access only")
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "credits", "grants": map[string]any{"credits_100": 10}, "apply": true, "write_to": "db/"},
		"cannot be combined")
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "one_time_orders", "write_to": "../outside.sql"}, "outside the allowed directories", root)
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "one_time_orders", "env": "live", "apply": true}, "--allow-live-writes")
	if _, err := os.Stat(filepath.Join(filepath.Dir(root), "outside.sql")); err == nil {
		t.Fatal("wrote outside the root")
	}
	var n int
	h.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM payments.app_migrations`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d migrations applied by refused calls", n)
	}
}

func TestScaffoldFulfillmentWritesInsideTheClientsRoots(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	h := newHarness(t, harnessOpts{roots: rootsAt(root)})
	got := h.ok("scaffold_fulfillment", map[string]any{"pattern": "credits", "grants": map[string]any{"credits_100": 100}, "write_to": "db/migrations/"})
	path, _ := got["path"].(string)
	if got["mode"] != "written" || !strings.HasPrefix(path, filepath.Join(root, "db", "migrations")+string(filepath.Separator)) ||
		!strings.HasSuffix(path, "_billwire_credits_public_credit_ledger_test_v2.sql") {
		t.Fatalf("write_to: %v", got)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != got["sql"] {
		t.Fatalf("file: %v", err)
	}
}

func TestScaffoldFulfillmentWithoutRootsUsesTheWorkingDirectory(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{roots: rootsAt()}) // the client declares roots but has none
	wd, _ := os.Getwd()
	h.fails("scaffold_fulfillment", map[string]any{"pattern": "one_time_orders", "write_to": "../../escape.sql"}, "outside the allowed directories", wd)
}

func TestScaffoldFulfillmentLiveApplyNeedsPermission(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{allowLiveWrites: true})
	args := map[string]any{"pattern": "one_time_orders", "env": "live", "apply": true}
	h.fails("scaffold_fulfillment", args, "confirm_live")
	args["confirm_live"] = true
	if got := h.ok("scaffold_fulfillment", args); got["mode"] != "applied" || got["env"] != "live" {
		t.Fatalf("live apply: %v", got)
	}
}

// get_payments_status counts the payments that did not pay what they
// named, per env, lists the latest, and says to refund them.
func TestPaymentsStatusCountsFulfillmentMismatches(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{base: stripetest.Mock(t)})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	h.ok("scaffold_fulfillment", map[string]any{"pattern": "one_time_orders", "apply": true})
	if _, err := h.store.Pool().Exec(context.Background(), `INSERT INTO payments.fulfillment_mismatches (env, payment_key, order_id, reason, detail, created_at)
		VALUES ('test', 'cs_test_Cheap', 'o_1', 'underpaid', '{"payment_intent_id": "pi_Cheap", "amount_subtotal": 100}', now()),
			('test', 'cs_test_Old', 'o_2', 'wrong_owner', '{}', now() - interval '40 days'),
			('live', 'cs_live_X', 'o_3', 'underpaid', '{}', now())`); err != nil {
		t.Fatal(err)
	}
	st := h.ok("get_payments_status", map[string]any{"env": "test"})
	mm := get(st, "environments", 0, "fulfillment_mismatches")
	if get(mm, "total") != float64(2) || get(mm, "open") != float64(1) || get(mm, "by_reason", "underpaid") != float64(1) ||
		get(mm, "latest", 0, "payment_key") != "cs_test_Cheap" || get(mm, "latest", 0, "order_id") != "o_1" || get(mm, "latest", 0, "detail", "amount_subtotal") != float64(100) {
		t.Fatalf("fulfillment_mismatches = %v", mm)
	}
	if next, _ := get(st, "environments", 0, "next_step").(string); !strings.Contains(next, "refund") {
		t.Fatalf("next_step = %q", next)
	}
}
