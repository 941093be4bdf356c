package mcpserver_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/scaffold"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/tools"
)

const guardLiveKey = "sk_live_FAKEguardFixture5151"

// liveWrites are calls that write live, at least one per tool that can.
// Each is refused unless the server runs with --allow-live-writes, the
// call says confirm_live: true and the human (when asked) agrees; always
// marks calls refused whatever the flags.
var liveWrites = []struct {
	tool   string
	args   map[string]any
	always bool
}{
	{"configure_stripe_keys", map[string]any{"env": "live", "secret_key": guardLiveKey}, true},
	{"create_product", map[string]any{"env": "live", "name": "Pro"}, false},
	{"create_price", map[string]any{"env": "live", "product_id": "prod_Guard", "unit_amount": 2000, "currency": "usd", "interval": "month"}, false},
	{"create_plan", map[string]any{"env": "live", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month"}, false},
	{"set_entitlements", map[string]any{"env": "live", "product_id": "prod_Guard", "features": []string{"api_access"}}, false},
	{"setup_webhook", map[string]any{"env": "live", "url": "https://billing.example.com/webhooks/stripe/live"}, false},
	{"setup_webhook", map[string]any{"env": "live"}, false}, // the URL under BILLWIRE_PUBLIC_URL
	{"setup_webhook", map[string]any{"env": "live", "revoke_previous": true}, false},
	{"setup_webhook", map[string]any{"env": "live", "signing_secret": "whsec_guardChosenSecret00000000001"}, true},
	{"promote_catalog", map[string]any{}, false},
	{"change_subscription", map[string]any{"env": "live", "subscription_id": "sub_GuardLive", "items": []any{map[string]any{"price_id": "price_Guard"}}}, false},
	{"cancel_subscription", map[string]any{"env": "live", "subscription_id": "sub_GuardLive"}, false},
	{"resume_subscription", map[string]any{"env": "live", "subscription_id": "sub_GuardLive"}, false},
	{"set_switchable_prices", map[string]any{"env": "live", "family": "plans", "prices": []string{"price_Guard"}}, false},
	{"scaffold_fulfillment", map[string]any{"pattern": "one_time_orders", "env": "live", "apply": true}, false},
	{"scaffold_fulfillment", map[string]any{"pattern": "credits", "env": "live", "grants": map[string]any{"credits_100": 100}, "write_to": "WRITE_DIR/"}, false},
	// A test scaffold over the table bound to live below.
	{"scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "env": "test", "apply": true}, false},
}

// notLive are the other tools that are not read-only, each with a call in
// env live (where it takes an env) that the live guard lets through
// without any flag: they read Stripe into billwire's own tables, or write
// test mode only.
var notLive = map[string]map[string]any{
	"sync_catalog":                 {"env": "live", "objects": []string{"products"}},
	"reconcile_events":             {"env": "live", "since": "1h"},
	"replay_webhook_event":         {"env": "live", "event_id": "evt_GuardUnknown"},
	"check_integration":            {"env": "live"},
	"create_test_checkout_session": {"lookup_key": "guard_unknown", "subject": map[string]any{"type": "user", "id": "u1"}},
	"create_test_subscription":     {"lookup_key": "guard_unknown", "subject": map[string]any{"type": "user", "id": "u1"}},
	"cancel_test_subscription":     {"subscription_id": "sub_GuardUnknown"},
	"simulate_events":              {"lookup_key": "guard_unknown", "subject": map[string]any{"type": "user", "id": "u1"}, "scenario": "renewal"},
}

// Every tool that can write live, called with env live, is refused without
// the server's flag, without confirm_live, with a confirm_live that is not
// true, and when the human declines; Stripe receives no request and the
// database does not change. The table must name every tool that is not
// read-only, so a new write tool joins it.
func TestEveryLiveWriteIsGuarded(t *testing.T) {
	t.Parallel()
	inTable := map[string]bool{}
	for _, c := range liveWrites {
		inTable[c.tool] = true
	}
	for _, tool := range tools.All(tools.Deps{}) {
		_, other := notLive[tool.Def.Name]
		if !tool.ReadOnly && !inTable[tool.Def.Name] && !other {
			t.Errorf("%s is not read-only: add a live call of it to liveWrites (or, if it never writes live, to notLive)", tool.Def.Name)
		}
		if tool.ReadOnly && (inTable[tool.Def.Name] || other) {
			t.Errorf("%s is read-only but listed as a write", tool.Def.Name)
		}
	}

	decline := elicitFunc(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionDecline}}, nil
	})
	for _, server := range []struct {
		name   string
		allow  bool
		elicit elicitFunc
		// variants of confirm_live: absent (nil), or the value sent.
		confirms []any
	}{
		{"without --allow-live-writes", false, nil, []any{nil, true}},
		{"with --allow-live-writes", true, nil, []any{nil, false, "true"}},
		{"with --allow-live-writes, the human declines", true, decline, []any{true}},
	} {
		t.Run(server.name, func(t *testing.T) {
			t.Parallel()
			fake := stripetest.StartFake(t, stripetest.FakeOptions{Accounts: map[string]string{testKey: "acct_guard", guardLiveKey: "acct_guard"}})
			o := harnessOpts{base: fake.URL(), allowLiveWrites: server.allow, publicURL: "https://billing.example.com"}
			if server.elicit != nil {
				o.elicit = server.elicit
			}
			h := newHarness(t, o)
			ctx := context.Background()
			h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
			if _, err := billingFor(t, h, fake.URL()).ConfigureKey(ctx, vocab.Live, guardLiveKey, false); err != nil {
				t.Fatal(err)
			}
			bindLive(t, h, scaffold.Options{Pattern: "subscription_access"})
			dir := t.TempDir()
			requests, state := len(fake.Requests()), dbState(t, h)
			for _, c := range liveWrites {
				for _, confirm := range server.confirms {
					args := maps.Clone(c.args)
					if c.args["write_to"] != nil {
						args["write_to"] = strings.Replace(c.args["write_to"].(string), "WRITE_DIR", dir, 1)
					}
					if confirm != nil {
						args["confirm_live"] = confirm
					}
					text, isErr := h.call(c.tool, args)
					if !isErr {
						t.Errorf("%s %v succeeded: %s", c.tool, args, text)
					}
					if n := len(fake.Requests()); n != requests {
						t.Errorf("%s %v: Stripe received %d requests: %v", c.tool, args, n-requests, fake.Requests()[requests:])
						requests = n
					}
					if got := dbState(t, h); got != state {
						t.Errorf("%s %v changed the database", c.tool, args)
						state = got
					}
				}
			}
			if files, _ := os.ReadDir(dir); len(files) != 0 {
				t.Errorf("a refused write_to wrote %d files", len(files))
			}
			if server.allow {
				return
			}
			// The guard lets the others through: whatever they answer, it
			// is not a live-write refusal.
			for name, args := range notLive {
				text, _ := h.call(name, args)
				if strings.Contains(text, "--allow-live-writes") || strings.Contains(text, "confirm_live") {
					t.Errorf("%s in live was refused by the live guard: %s", name, text)
				}
			}
		})
	}
}

// dbState fingerprints what a tool could write: every row of every table
// outside the system schemas, table comments, triggers and functions.
func dbState(t *testing.T, h *harness) string {
	t.Helper()
	ctx := context.Background()
	pool := h.store.Pool()
	rows, err := pool.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname), coalesce(obj_description(c.oid, 'pg_class'), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	type table struct{ name, comment string }
	var tables []table
	for rows.Next() {
		var tb table
		if err := rows.Scan(&tb.name, &tb.comment); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tb)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tb := range tables {
		var sum string
		if err := pool.QueryRow(ctx, `SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM `+tb.name+` t`).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %q %s\n", tb.name, tb.comment, sum)
	}
	var objects string
	if err := pool.QueryRow(ctx, `SELECT coalesce(string_agg(x, ',' ORDER BY x), '') FROM (
		SELECT tgname || ' on ' || tgrelid::regclass::text || ' ' || tgenabled::text AS x FROM pg_trigger WHERE NOT tgisinternal
		UNION ALL
		SELECT p.oid::regprocedure::text || ' ' || md5(p.prosrc) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')) o`).Scan(&objects); err != nil {
		t.Fatal(err)
	}
	b.WriteString(objects)
	return b.String()
}

// A live setup_webhook names the URL the endpoint is made for, in the
// refusal the agent shows the human and in the question the human is
// asked, and the endpoint gets exactly that URL.
func TestLiveWebhookSetupShowsItsURL(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Accounts: map[string]string{guardLiveKey: "acct_guard"}})
	var mu sync.Mutex
	var asked []string
	h := newHarness(t, harnessOpts{base: fake.URL(), allowLiveWrites: true, publicURL: "https://billing.example.com/",
		elicit: elicitFunc(func(_ context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			mu.Lock()
			asked = append(asked, r.Params.Message)
			mu.Unlock()
			return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{
				Action: mcp.ElicitationResponseActionAccept, Content: map[string]any{"confirm": true}}}, nil
		})})
	if _, err := billingFor(t, h, fake.URL()).ConfigureKey(context.Background(), vocab.Live, guardLiveKey, false); err != nil {
		t.Fatal(err)
	}
	const want = "https://billing.example.com/webhooks/stripe/live"
	for _, c := range []struct {
		args map[string]any
		url  string
	}{
		{map[string]any{"env": "live"}, want},
		{map[string]any{"env": "live", "url": "https://pay.example.org/hooks/live"}, "https://pay.example.org/hooks/live"},
	} {
		h.fails("setup_webhook", c.args, "confirm_live: true", c.url)
		args := maps.Clone(c.args)
		args["confirm_live"] = true
		res := h.ok("setup_webhook", args)
		mu.Lock()
		last := asked[len(asked)-1]
		mu.Unlock()
		if !strings.Contains(last, c.url) || !strings.Contains(last, "LIVE") {
			t.Errorf("the human was asked %q, which does not show %s", last, c.url)
		}
		if got := get(res, "endpoint", "url"); got != c.url {
			t.Errorf("endpoint url = %v, want %s: %v", got, c.url, res)
		}
		eps := fake.WebhookEndpoints(guardLiveKey)
		if len(eps) != 1 || eps[0]["url"] != c.url {
			t.Errorf("Stripe's endpoints = %v, want one for %s", eps, c.url)
		}
	}
	if len(asked) != 2 {
		t.Fatalf("asked %d times", len(asked))
	}
}
