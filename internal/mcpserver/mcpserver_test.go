package mcpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/mcpserver"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
	"github.com/billwire/billwire/tools"
)

const testKey = "sk_test_51BillwireTestKey000000000004242"

// harness is a billwire MCP server on its own database, talking to baseURL,
// with an in-process client. Logs are kept to check that no secret leaks.
type harness struct {
	t      *testing.T
	c      *client.Client
	store  *store.Store
	logs   *syncBuffer
	notify *notifications
	// serveURL is billwire serve's base URL when harnessOpts.serve is set.
	serveURL string
	// instructions are the server's, from initialize.
	instructions string
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type notifications struct {
	mu   sync.Mutex
	list []mcp.JSONRPCNotification
}

func (n *notifications) add(x mcp.JSONRPCNotification) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, x)
}

func (n *notifications) progress() []map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []map[string]any
	for _, x := range n.list {
		if x.Method == "notifications/progress" {
			out = append(out, x.Params.AdditionalFields)
		}
	}
	return out
}

type harnessOpts struct {
	base            string
	allowLiveWrites bool
	rateLimit       float64
	elicit          client.ElicitationHandler
	roots           client.RootsHandler
	// serve runs billwire serve's handler over the same service; its URL is
	// the server's public URL and the allowed origin.
	serve bool
	// publicURL is the server's public URL (BILLWIRE_PUBLIC_URL) without serve.
	publicURL string
	// tools selects the tools served (--read-only, --toolsets).
	tools tools.Selection
}

type elicitFunc func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error)

func (f elicitFunc) Elicit(ctx context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return f(ctx, r)
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	dsn := storetest.DSN(t)
	key := storetest.MasterKey(t)
	logs := &syncBuffer{}
	log := zerolog.New(logs)
	lazy := &store.Lazy{DSN: dsn, Key: key}
	t.Cleanup(lazy.Close)
	svc := billing.New(lazy, stripeapi.Options{BaseURL: o.base, RateLimit: o.rateLimit}, log)
	serveURL := o.publicURL
	var origins auth.Origins
	if o.serve {
		st, err := lazy.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewUnstartedServer(nil)
		serveURL = "http://" + hs.Listener.Addr().String()
		origins, _ = auth.ParseOrigins(serveURL)
		rt, err := runtime.New(st, svc, log, runtime.Options{API: runtime.APIConfig{Origins: origins, PublicURL: serveURL}})
		if err != nil {
			t.Fatal(err)
		}
		hs.Config.Handler = rt.Handler()
		hs.Start()
		t.Cleanup(func() { hs.Close(); rt.Processor().Close() })
	}
	srv := mcpserver.New(mcpserver.Options{Version: "test", Billing: svc, AllowLiveWrites: o.allowLiveWrites, Log: log,
		PublicURL: serveURL, Origins: origins, Tools: o.tools})
	var copts []client.ClientOption
	if o.elicit != nil {
		copts = append(copts, client.WithElicitationHandler(o.elicit))
	}
	if o.roots != nil {
		copts = append(copts, client.WithRootsHandler(o.roots))
	}
	c, err := client.NewInProcessClientWithOptions(srv, copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	n := &notifications{}
	c.OnNotification(n.add)
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "billwire-test", Version: "1"}
	ir, err := c.Initialize(ctx, init)
	if err != nil {
		t.Fatal(err)
	}
	st, err := lazy.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, c: c, store: st, logs: logs, notify: n, serveURL: serveURL, instructions: ir.Instructions}
}

// call invokes a tool and returns its text and whether it is an error result.
func (h *harness) call(name string, args map[string]any) (string, bool) {
	h.t.Helper()
	return h.callMeta(name, args, nil)
}

func (h *harness) callMeta(name string, args map[string]any, meta *mcp.Meta) (string, bool) {
	h.t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	req.Params.Meta = meta
	res, err := h.c.CallTool(context.Background(), req)
	if err != nil {
		h.t.Fatalf("%s: protocol error: %v", name, err)
	}
	var sb strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			sb.WriteString(tc.Text)
		}
	}
	return sb.String(), res.IsError
}

// ok calls a tool that must succeed and decodes its JSON result.
func (h *harness) ok(name string, args map[string]any) map[string]any {
	h.t.Helper()
	text, isErr := h.call(name, args)
	if isErr {
		h.t.Fatalf("%s failed: %s", name, text)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		h.t.Fatalf("%s: result is not JSON: %v\n%s", name, err, text)
	}
	return v
}

// fails calls a tool that must fail and checks that its message names each want.
func (h *harness) fails(name string, args map[string]any, want ...string) string {
	h.t.Helper()
	text, isErr := h.call(name, args)
	if !isErr {
		h.t.Fatalf("%s succeeded, want an error containing %q: %s", name, want, text)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			h.t.Errorf("%s error %q does not mention %q", name, text, w)
		}
	}
	return text
}

func (h *harness) readResource(uri string) map[string]any {
	h.t.Helper()
	req := mcp.ReadResourceRequest{}
	req.Params.URI = uri
	res, err := h.c.ReadResource(context.Background(), req)
	if err != nil {
		h.t.Fatalf("read %s: %v", uri, err)
	}
	if len(res.Contents) != 1 {
		h.t.Fatalf("read %s: %d contents", uri, len(res.Contents))
	}
	tc, ok := res.Contents[0].(mcp.TextResourceContents)
	if !ok || tc.MIMEType != "application/json" {
		h.t.Fatalf("read %s: not JSON text: %#v", uri, res.Contents[0])
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(tc.Text), &v); err != nil {
		h.t.Fatal(err)
	}
	return v
}

func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// The journey from the issue: configure a test key, create "Pro, 20 USD
// monthly", sync, read it back — against stripe-mock.
func TestCatalogLoopAgainstStripeMock(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{base: stripetest.Mock(t)})

	st := h.ok("get_payments_status", nil)
	if get(st, "environments", 0, "configured") != false || !strings.Contains(get(st, "environments", 0, "next_step").(string), "configure_stripe_keys") {
		t.Fatalf("fresh status = %v", st)
	}
	k := h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	if k["key"] != "sk_test_…4242" || !strings.HasPrefix(k["account_id"].(string), "acct_") {
		t.Fatalf("configure = %v", k)
	}
	plan := h.ok("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month", "lookup_key": "pro_monthly"})
	if get(plan, "price", "display") != "20.00 USD / month" {
		t.Fatalf("plan = %v", plan)
	}
	productID := get(plan, "product", "id").(string)
	priceID := get(plan, "price", "id").(string)
	// The rows are in PostgreSQL when the tool returns.
	var n int
	if err := h.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM payments.prices p JOIN payments.products pr
		ON pr.env = p.env AND pr.id = p.product_id WHERE p.env = 'test' AND p.id = $1 AND pr.id = $2`, priceID, productID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("price %s of %s stored %d times (%v)", priceID, productID, n, err)
	}
	sync := h.ok("sync_catalog", map[string]any{"env": "test"})
	if sync["status"] != "succeeded" {
		t.Fatalf("sync = %v", sync)
	}
	// stripe-mock keeps no state, so its listing lacks the plan just made,
	// and dates everything 2009: the plan is still active all the same,
	// billwire having stored it a moment before the listing.
	var active bool
	if err := h.store.Pool().QueryRow(context.Background(), `SELECT pr.active AND p.active FROM payments.prices p
		JOIN payments.products pr ON pr.env = p.env AND pr.id = p.product_id WHERE p.env = 'test' AND p.id = $1`, priceID).Scan(&active); err != nil || !active {
		t.Fatalf("after sync, the new plan active = %v (%v); sync = %v", active, err, sync)
	}
	for _, kind := range []string{"products", "prices", "customers", "subscriptions"} {
		if c, _ := get(sync, "counts", kind).(float64); c < 1 {
			t.Errorf("sync counted %v %s", get(sync, "counts", kind), kind)
		}
	}
	cat := h.ok("list_catalog", map[string]any{"env": "test"})
	if prods, _ := cat["products"].([]any); len(prods) == 0 {
		t.Fatalf("catalog empty: %v", cat)
	}
	if subs := h.ok("list_subscriptions", map[string]any{"env": "test"}); len(subs["subscriptions"].([]any)) == 0 {
		t.Fatalf("no subscriptions: %v", subs)
	}
	if cus := h.ok("list_customers", map[string]any{"env": "test"}); len(cus["customers"].([]any)) == 0 {
		t.Fatalf("no customers: %v", cus)
	}
	status := h.ok("get_payments_status", map[string]any{"env": "test"})
	if get(status, "environments", 0, "last_sync", "status") != "succeeded" || get(status, "environments", 0, "key") != "sk_test_…4242" {
		t.Fatalf("status = %v", status)
	}
	// Resources mirror the tools.
	if r := h.readResource("billwire://test/catalog"); len(r["products"].([]any)) == 0 {
		t.Fatalf("catalog resource = %v", r)
	}
	if r := h.readResource("billwire://settings"); get(r, "environments", 0, "key") != "sk_test_…4242" {
		t.Fatalf("settings = %v", r)
	}
	h.assertNoSecret(testKey)
}

// assertNoSecret checks logs, resources, tool results and database bytes.
func (h *harness) assertNoSecret(secret string) {
	h.t.Helper()
	if strings.Contains(h.logs.String(), secret) {
		h.t.Error("the raw key is in the logs")
	}
	for _, uri := range []string{"billwire://settings", "billwire://test/catalog", "billwire://test/customers", "billwire://test/subscriptions"} {
		if b, _ := json.Marshal(h.readResource(uri)); strings.Contains(string(b), secret) {
			h.t.Errorf("the raw key is in %s", uri)
		}
	}
	for _, tool := range []string{"get_payments_status", "list_catalog"} {
		if text, _ := h.call(tool, map[string]any{"env": "test"}); strings.Contains(text, secret) {
			h.t.Errorf("the raw key is in %s", tool)
		}
	}
	var found bool
	err := h.store.Pool().QueryRow(context.Background(), `
		SELECT EXISTS (SELECT 1 FROM payments.environments e WHERE position($1::bytea in e.secret_key_enc) > 0
			OR position($1::text in e::text) > 0)
		OR EXISTS (SELECT 1 FROM payments.sync_runs r WHERE position($1::text in r::text) > 0)`, secret).Scan(&found)
	if err != nil || found {
		h.t.Errorf("the raw key is stored in the database (%v)", err)
	}
}

func TestBadInputIsExplained(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{base: stripetest.Mock(t)})
	h.fails("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd"}, "configure_stripe_keys")
	h.fails("configure_stripe_keys", map[string]any{"env": "test", "secret_key": "hello"}, "malformed", "sk_test_")
	h.fails("configure_stripe_keys", map[string]any{"env": "test", "secret_key": "sk_live_FAKEliveFixture9999"}, "live-mode key", "sk_test_")
	h.fails("configure_stripe_keys", map[string]any{"env": "test", "secret_key": "pk_test_51Publishable00000000001111"}, "publishable")
	text := h.fails("configure_stripe_keys", map[string]any{"env": "live", "secret_key": "sk_live_FAKEliveFixture9999"}, "billwire keys set --env live")
	if strings.Contains(text, "FAKEliveFixture") {
		t.Fatal("the live key was echoed")
	}
	h.fails("configure_stripe_keys", map[string]any{"env": "staging", "secret_key": testKey}, "env")
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	cases := []struct {
		args map[string]any
		want []string
	}{
		{map[string]any{"env": "test", "name": "Pro", "unit_amount": -5, "currency": "usd"}, []string{"positive"}},
		{map[string]any{"env": "test", "name": "Pro", "unit_amount": 20, "currency": "usd", "interval": "month"}, []string{"0.20 USD", "minimum", "2000"}},
		{map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usdd"}, []string{"unknown currency"}},
		{map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "fortnight"}, []string{"interval"}},
		{map[string]any{"env": "test", "name": "", "unit_amount": 2000, "currency": "usd"}, []string{"name is required"}},
		{map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "colour": "red"}, []string{"colour"}},
		{map[string]any{"name": "Pro", "unit_amount": 2000, "currency": "usd"}, []string{"env"}},
	}
	for _, c := range cases {
		h.fails("create_plan", c.args, c.want...)
	}
	h.fails("create_price", map[string]any{"env": "test", "product_id": "prod_x", "unit_amount": 2000, "currency": "usd", "interval_count": 3}, "interval_count needs an interval")
	h.fails("list_catalog", map[string]any{"env": "test", "cursor": "###"}, "next_cursor")
	h.fails("sync_catalog", map[string]any{"env": "test", "objects": []string{"charges"}}, "unknown object type", "invoices")
	// Nothing was written by the refused calls.
	if n := count(t, h.store, "products"); n != 0 {
		t.Fatalf("%d products stored by refused calls", n)
	}
}

func count(t *testing.T, s *store.Store, table string) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM payments.`+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLiveWritesNeedFlagAndConfirmation(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	const liveKey = "sk_live_FAKEmcpFixture7777"
	for _, allow := range []bool{false, true} {
		h := newHarness(t, harnessOpts{base: fake.URL(), allowLiveWrites: allow})
		// A human sets the live key through the CLI path (the core, not MCP).
		if _, err := billingFor(t, h, fake.URL()).ConfigureKey(context.Background(), vocab.Live, liveKey, false); err != nil {
			t.Fatal(err)
		}
		args := map[string]any{"env": "live", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month"}
		if !allow {
			h.fails("create_plan", args, "--allow-live-writes", "confirm_live")
			continue
		}
		h.fails("create_plan", args, "confirm_live: true")
		if fake.CountCreated("product") != 0 {
			t.Fatal("an unconfirmed live write reached Stripe")
		}
		args["confirm_live"] = true
		res := h.ok("create_plan", args)
		if get(res, "price", "display") != "20.00 USD / month" {
			t.Fatalf("live plan = %v", res)
		}
		// sync reads Stripe only; it needs no confirmation.
		h.ok("sync_catalog", map[string]any{"env": "live", "objects": []string{"products"}})
	}
}

func TestLiveWriteAsksTheHumanWhenTheClientCan(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	const liveKey = "sk_live_FAKEmcpFixture8888"
	var answer atomic.Value
	var asked atomic.Int32
	h := newHarness(t, harnessOpts{base: fake.URL(), allowLiveWrites: true, elicit: elicitFunc(
		func(_ context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			asked.Add(1)
			if !strings.Contains(r.Params.Message, "LIVE") {
				t.Errorf("elicitation message %q does not say LIVE", r.Params.Message)
			}
			return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{
				Action: answer.Load().(mcp.ElicitationResponseAction), Content: map[string]any{"confirm": true}}}, nil
		})})
	if _, err := billingFor(t, h, fake.URL()).ConfigureKey(context.Background(), vocab.Live, liveKey, false); err != nil {
		t.Fatal(err)
	}
	args := map[string]any{"env": "live", "name": "Pro", "confirm_live": true}
	answer.Store(mcp.ElicitationResponseActionDecline)
	h.fails("create_product", args, "declined")
	if asked.Load() != 1 || fake.CountCreated("product") != 0 {
		t.Fatalf("asked %d times, created %d", asked.Load(), fake.CountCreated("product"))
	}
	answer.Store(mcp.ElicitationResponseActionAccept)
	h.ok("create_product", args)
	if asked.Load() != 2 || fake.CountCreated("product") != 1 {
		t.Fatalf("asked %d times, created %d", asked.Load(), fake.CountCreated("product"))
	}
	// Test-mode writes never ask.
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	h.ok("create_product", map[string]any{"env": "test", "name": "Pro"})
	if asked.Load() != 2 {
		t.Fatal("a test-mode write asked the human")
	}
}

// billingFor is the core over the harness's database, as the CLI would build it.
func billingFor(t *testing.T, h *harness, base string) *billing.Service {
	return billing.New(billing.Static(h.store), stripeapi.Options{BaseURL: base}, zerolog.Nop())
}

func TestAccountChangeNeedsConfirmation(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Products: 2, Prices: 2})
	h := newHarness(t, harnessOpts{base: fake.URL()})
	fake.SetAccount(testKey, "acct_first")
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	h.ok("sync_catalog", map[string]any{"env": "test"})
	other := "sk_test_51AnotherAccountKey00000000005555"
	fake.SetAccount(other, "acct_second")
	h.fails("configure_stripe_keys", map[string]any{"env": "test", "secret_key": other}, "acct_second", "acct_first", "confirm_account_change: true")
	if st := h.ok("get_payments_status", map[string]any{"env": "test"}); get(st, "environments", 0, "account_id") != "acct_first" {
		t.Fatalf("refused change was stored: %v", st)
	}
	res := h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": other, "confirm_account_change": true})
	if res["account_changed"] != true || res["account_id"] != "acct_second" {
		t.Fatalf("change = %v", res)
	}
	if n := count(t, h.store, "products"); n != 0 {
		t.Fatalf("%d products of the old account remain", n)
	}
	// Same account again: no confirmation needed.
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": other})
	h.assertNoSecret(other)
}

func TestRetriedCreateSendsSameIdempotencyKey(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	h := newHarness(t, harnessOpts{base: fake.URL()})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	args := map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month"}
	first := h.ok("create_plan", args)
	second := h.ok("create_plan", args)
	if get(first, "price", "id") != get(second, "price", "id") || get(first, "product", "id") != get(second, "product", "id") {
		t.Fatalf("retry made new objects: %v vs %v", first, second)
	}
	if fake.CountCreated("product") != 1 || fake.CountCreated("price") != 1 {
		t.Fatalf("created %d products, %d prices", fake.CountCreated("product"), fake.CountCreated("price"))
	}
	keys := map[string][]string{}
	for _, r := range fake.Requests() {
		if r.Method == "POST" {
			if r.IdempotencyKey == "" {
				t.Fatalf("POST %s without Idempotency-Key", r.Path)
			}
			keys[r.Path] = append(keys[r.Path], r.IdempotencyKey)
		}
	}
	for path, ks := range keys {
		if len(ks) != 2 || ks[0] != ks[1] {
			t.Fatalf("%s idempotency keys = %v, want the same key twice", path, ks)
		}
	}
	// A different plan is a different request.
	args["unit_amount"] = 3000
	h.ok("create_plan", args)
	if fake.CountCreated("price") != 2 {
		t.Fatalf("a different price was deduplicated")
	}
	// So are other checkout terms, each of them.
	for i, terms := range []map[string]any{{"trial_period_days": 14}, {"trial_period_days": 30}, {"allow_promotion_codes": true}, {"automatic_tax": true}} {
		for k, v := range terms {
			args[k] = v
		}
		h.ok("create_plan", args)
		if fake.CountCreated("price") != 3+i {
			t.Fatalf("a price with other terms (%v) was deduplicated", terms)
		}
	}
}

func TestCreatePriceForUnknownProduct(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Products: 1})
	h := newHarness(t, harnessOpts{base: fake.URL()})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	h.fails("create_price", map[string]any{"env": "test", "product_id": "prod_nope", "unit_amount": 2000, "currency": "usd"},
		"prod_nope", "create_product")
	if n := count(t, h.store, "prices"); n != 0 {
		t.Fatalf("%d prices stored", n)
	}
	// A product that exists in Stripe but was never synced is fetched first.
	prods, _, err := h.store.ListCatalog(context.Background(), vocab.Test, store.Page{})
	if err != nil || len(prods) != 0 {
		t.Fatalf("catalog before: %v %v", prods, err)
	}
	page, err := stripeClient(t, fake.URL()).ListPage(context.Background(), "/v1/products", "", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ ID string }
	json.Unmarshal(page.Data[0], &p)
	res := h.ok("create_price", map[string]any{"env": "test", "product_id": p.ID, "unit_amount": 900, "currency": "eur"})
	if get(res, "price", "display") != "9.00 EUR" {
		t.Fatalf("price = %v", res)
	}
	if n := count(t, h.store, "products"); n != 1 {
		t.Fatalf("product not stored with its price: %d", n)
	}
}

func stripeClient(t *testing.T, base string) *stripeapi.Client {
	c, err := stripeapi.New(vocab.Test, testKey, stripeapi.Options{BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSyncPagesResumesAndReportsProgress(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Products: 30, Prices: 250, Customers: 450, Subscriptions: 320})
	h := newHarness(t, harnessOpts{base: fake.URL(), rateLimit: 1000})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	// The third page of customers fails for good: the sync stops, keeps what it stored, and says how to resume.
	fake.FailAfter("/v1/customers", 2, 500)
	text := h.fails("sync_catalog", map[string]any{"env": "test"}, "customers", "resume")
	if strings.Contains(text, testKey) {
		t.Fatal("key in error")
	}
	if n := count(t, h.store, "customers"); n != 200 {
		t.Fatalf("customers kept after failure = %d, want 200", n)
	}
	st := h.ok("get_payments_status", map[string]any{"env": "test"})
	if get(st, "environments", 0, "last_sync", "status") != "failed" || get(st, "environments", 0, "last_sync", "error") == nil {
		t.Fatalf("status after failure = %v", st)
	}
	fake.ClearFaults()
	before := len(fake.Requests())
	res := h.callWithProgress(t, "sync_catalog", map[string]any{"env": "test"})
	if res["status"] != "succeeded" || res["resumed_from"] == nil {
		t.Fatalf("resume = %v", res)
	}
	for kind, want := range map[string]float64{"products": 30, "prices": 250, "customers": 450, "subscriptions": 320} {
		if got := get(res, "counts", kind); got != want {
			t.Errorf("%s counted %v, want %v", kind, got, want)
		}
		if n := count(t, h.store, kind); float64(n) != want {
			t.Errorf("%s stored %d, want %v", kind, n, want)
		}
	}
	// The resumed run did not fetch the finished kinds again.
	for _, r := range fake.Requests()[before:] {
		if r.Path == "/v1/products" || r.Path == "/v1/prices" {
			t.Fatalf("resumed sync listed %s again", r.Path)
		}
		if r.Path == "/v1/customers" && r.Form.Get("starting_after") == "" && r.Query.Get("starting_after") == "" {
			t.Fatal("resumed sync restarted customers from the beginning")
		}
	}
	if n := count(t, h.store, "subscription_items"); n != 320 {
		t.Fatalf("subscription items = %d", n)
	}
	// Paging through the mirrored customers via the list tool.
	seen := map[string]bool{}
	cursor := ""
	for range 20 {
		args := map[string]any{"env": "test"}
		if cursor != "" {
			args["cursor"] = cursor
		}
		page := h.ok("list_customers", args)
		for _, c := range page["customers"].([]any) {
			seen[get(c, "id").(string)] = true
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 450 {
		t.Fatalf("paged through %d customers, want 450", len(seen))
	}
	// The resource pages the same way: resources/resources_test.go.
}

// callWithProgress calls a tool with a progress token and waits for the
// (asynchronous) progress notifications.
func (h *harness) callWithProgress(t *testing.T, name string, args map[string]any) map[string]any {
	t.Helper()
	text, isErr := h.callMeta(name, args, &mcp.Meta{ProgressToken: "sync-1"})
	if isErr {
		t.Fatalf("%s: %s", name, text)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(h.notify.progress()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ps := h.notify.progress()
	if len(ps) == 0 {
		t.Fatal("no progress notification")
	}
	if ps[0]["progressToken"] != "sync-1" {
		t.Fatalf("progress = %v", ps[0])
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestStripeErrorsAreActionable(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	h := newHarness(t, harnessOpts{base: fake.URL()})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	fake.FailNext(10, 500)
	h.fails("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd"}, "retry the same call")
	fake.ClearFaults()
	if n := count(t, h.store, "products"); n != 0 {
		t.Fatalf("half-written: %d products", n)
	}
	fake.RevokeKey(testKey)
	h.fails("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd"}, "configure_stripe_keys")
	h.fails("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey}, "did not accept")
	h.assertNoSecret(testKey)
}

func TestUnreachableDatabaseIsAToolResultNotACrash(t *testing.T) {
	t.Parallel()
	lazy := &store.Lazy{DSN: "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", Key: storetest.MasterKey(t)}
	svc := billing.New(lazy, stripeapi.Options{}, zerolog.Nop())
	srv := mcpserver.New(mcpserver.Options{Version: "test", Billing: svc, Log: zerolog.New(io.Discard)})
	c, err := client.NewInProcessClient(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	c.Start(ctx)
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	// Listing tools does not need the database.
	if tl, err := c.ListTools(ctx, mcp.ListToolsRequest{}); err != nil || len(tl.Tools) < 9 {
		t.Fatalf("tools/list = %v, %v", tl, err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "get_payments_status"
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(fmt.Sprint(res.Content), "cannot reach PostgreSQL") {
		t.Fatalf("result = %+v", res)
	}
}

// Prices whose products billwire has not seen bring their products along,
// fetched a hundred at a time, so a price is never stored without its product.
func TestSyncPricesFetchesTheirProducts(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Products: 7, Prices: 40})
	h := newHarness(t, harnessOpts{base: fake.URL(), rateLimit: 1000})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	res := h.ok("sync_catalog", map[string]any{"env": "test", "objects": []string{"prices"}})
	if get(res, "counts", "prices") != float64(40) || get(res, "counts", "products") != nil {
		t.Fatalf("sync = %v", res)
	}
	if n := count(t, h.store, "products"); n != 7 {
		t.Fatalf("products stored = %d, want 7", n)
	}
	lists := 0
	for _, r := range fake.Requests() {
		if r.Path == "/v1/products" {
			lists++
			if len(r.Query["ids[]"]) == 0 {
				t.Fatalf("products listed without ids: %v", r.Query)
			}
		}
		if strings.HasPrefix(r.Path, "/v1/products/") {
			t.Fatalf("product fetched one by one: %s", r.Path)
		}
	}
	if lists != 1 {
		t.Fatalf("%d product list calls, want 1", lists)
	}
}

// A full sync marks what Stripe no longer has, deleted there without an
// event reaching billwire, as the deletion events would: the customer
// deleted, the product inactive. What billwire first stored too recently to
// tell, and a resumed listing, which read its first pages earlier, mark
// nothing.
func TestSyncMarksWhatStripeDeleted(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Products: 2, Customers: 150})
	h := newHarness(t, harnessOpts{base: fake.URL(), rateLimit: 1000})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	ctx := context.Background()
	old := time.Now().Add(-time.Hour)
	// put stores obj as of at, first seen by billwire at firstSeen.
	put := func(kind vocab.Kind, obj string, at, firstSeen time.Time) {
		t.Helper()
		if _, err := h.store.Upsert(ctx, vocab.Test, kind, []json.RawMessage{json.RawMessage(obj)}, at); err != nil {
			t.Fatal(err)
		}
		var id struct{ ID string }
		json.Unmarshal([]byte(obj), &id) //nolint:errcheck
		if _, err := h.store.Pool().Exec(ctx, `UPDATE payments.`+string(kind)+` SET first_seen_at = $1 WHERE id = $2`, firstSeen, id.ID); err != nil {
			t.Fatal(err)
		}
	}
	// cus_JustCreated was first stored a minute ago; Stripe dates it long
	// before (its created does not decide).
	put(vocab.Customers, `{"id":"cus_GoneFromStripe","object":"customer","created":1700000000,"email":"gone@example.com"}`, old, old)
	put(vocab.Customers, `{"id":"cus_JustCreated","object":"customer","created":1700000000}`, old, time.Now().Add(-time.Minute))
	put(vocab.Products, `{"id":"prod_GoneFromStripe","object":"product","name":"Gone","active":true,"created":1700000000}`, old, old)

	res := h.ok("sync_catalog", map[string]any{"env": "test", "objects": []string{"products", "customers"}})
	if get(res, "removed", "customers") != float64(1) || get(res, "removed", "products") != float64(1) {
		t.Fatalf("sync = %v", res)
	}
	ids := func(query string) []string {
		t.Helper()
		rows, err := h.store.Pool().Query(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := ids(`SELECT id FROM payments.customers WHERE deleted AND data->>'deleted' = 'true'`); !slices.Equal(got, []string{"cus_GoneFromStripe"}) {
		t.Fatalf("customers marked deleted = %v", got)
	}
	if got := ids(`SELECT id FROM payments.products WHERE NOT active AND data->>'active' = 'false'`); !slices.Equal(got, []string{"prod_GoneFromStripe"}) {
		t.Fatalf("products marked inactive = %v", got)
	}
	if n := count(t, h.store, "customers WHERE NOT deleted"); n != 151 {
		t.Fatalf("customers not deleted = %d, want the 150 listed and the one created a minute ago", n)
	}
	// Again: nothing more to mark.
	if res := h.ok("sync_catalog", map[string]any{"env": "test", "objects": []string{"products", "customers"}}); res["removed"] != nil {
		t.Fatalf("second sync = %v", res)
	}

	// A resumed listing marks nothing: its first pages were read by the run
	// that failed.
	put(vocab.Customers, `{"id":"cus_GoneWhileFailing","object":"customer","created":1700000000}`, old, old)
	fake.FailAfter("/v1/customers", 1, 500)
	h.fails("sync_catalog", map[string]any{"env": "test", "objects": []string{"customers"}}, "resume")
	fake.ClearFaults()
	if res := h.ok("sync_catalog", map[string]any{"env": "test", "objects": []string{"customers"}}); res["resumed_from"] == nil || res["removed"] != nil {
		t.Fatalf("resumed sync = %v", res)
	}
	if n := count(t, h.store, "customers WHERE id = 'cus_GoneWhileFailing' AND NOT deleted"); n != 1 {
		t.Fatal("a resumed listing marked a customer deleted")
	}
	// The next full sync does.
	if res := h.ok("sync_catalog", map[string]any{"env": "test", "objects": []string{"customers"}}); get(res, "removed", "customers") != float64(1) {
		t.Fatalf("full sync after the resumed one = %v", res)
	}
}

func TestRestrictedKeys(t *testing.T) {
	t.Parallel()
	const rk = "rk_test_51BillwireRestrictedKey00000003333"
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	h := newHarness(t, harnessOpts{base: fake.URL()})
	res := h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": rk})
	if res["key_kind"] != "restricted" || res["key"] != "rk_test_…3333" {
		t.Fatalf("restricted key = %v", res)
	}
	blocked := stripetest.StartFake(t, stripetest.FakeOptions{RestrictedNoAccount: true})
	h2 := newHarness(t, harnessOpts{base: blocked.URL()})
	h2.fails("configure_stripe_keys", map[string]any{"env": "test", "secret_key": rk}, "read access", "Account")
	h2.assertNoSecret(rk)
}

func TestSetupWebhookManagesOneEndpoint(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	h := newHarness(t, harnessOpts{base: fake.URL()})
	h.fails("setup_webhook", map[string]any{"env": "test", "url": "https://billing.example.com/webhooks/stripe/test"}, "configure_stripe_keys")
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	h.fails("setup_webhook", map[string]any{"env": "test"}, "BILLWIRE_PUBLIC_URL")
	h.fails("setup_webhook", map[string]any{"env": "test", "signing_secret": "not-a-secret"}, "whsec_")
	const url = "https://billing.example.com/webhooks/stripe/test"
	res := h.ok("setup_webhook", map[string]any{"env": "test", "url": url})
	if res["action"] != "created" || get(res, "endpoint", "url") != url {
		t.Fatalf("setup = %v", res)
	}
	eps := fake.WebhookEndpoints(testKey)
	if len(eps) != 1 || eps[0]["api_version"] != "2024-06-20" || len(eps[0]["enabled_events"].([]string)) != len(webhooks.Types()) {
		t.Fatalf("endpoints = %v", eps)
	}
	whsec := eps[0]["secret"].(string)
	if masked := get(res, "endpoint", "signing_secret").(string); !strings.HasSuffix(masked, whsec[len(whsec)-4:]) || strings.Contains(masked, whsec) {
		t.Fatalf("secret shown as %q", masked)
	}
	// Again: nothing to do.
	if res := h.ok("setup_webhook", map[string]any{"env": "test", "url": url}); res["action"] != "unchanged" {
		t.Fatalf("second setup = %v", res)
	}
	// Disabled in Stripe: repaired in place, same secret.
	fake.DisableWebhookEndpoint(testKey, eps[0]["id"].(string))
	if res := h.ok("setup_webhook", map[string]any{"env": "test", "url": url}); res["action"] != "updated" || get(res, "endpoint", "status") != "enabled" {
		t.Fatalf("repair = %v", res)
	}
	if eps := fake.WebhookEndpoints(testKey); len(eps) != 1 || eps[0]["status"] != "enabled" {
		t.Fatalf("after repair: %v", eps)
	}
	st := h.ok("get_payments_status", map[string]any{"env": "test"})
	if get(st, "environments", 0, "webhook", "state") != "managed" || get(st, "environments", 0, "webhook", "endpoint", "endpoint_id") != eps[0]["id"] {
		t.Fatalf("status = %v", get(st, "environments", 0, "webhook"))
	}
	h.assertNoSecret(whsec)
	// Local development: a stripe listen secret.
	if res := h.ok("setup_webhook", map[string]any{"env": "test", "signing_secret": "whsec_fromStripeListen00000000001"}); res["action"] != "stored_cli_secret" {
		t.Fatalf("cli secret = %v", res)
	}
	h.assertNoSecret("whsec_fromStripeListen00000000001")
}

func TestReconcileFillsGaps(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	h := newHarness(t, harnessOpts{base: fake.URL(), rateLimit: 1000})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	now := time.Now().Unix()
	for i := range 5 {
		fake.AddEvent(testKey, eventfixtures.MustEvent(t, "payment_intent.succeeded", eventfixtures.Options{
			ID: fmt.Sprintf("evt_rec_%d", i), Created: now - int64(3600*(i+1)),
			Object: map[string]any{"id": fmt.Sprintf("pi_rec_%d", i)}}))
	}
	// Older than the window: left alone.
	fake.AddEvent(testKey, eventfixtures.MustEvent(t, "payment_intent.succeeded", eventfixtures.Options{
		ID: "evt_rec_old", Created: now - 5*24*3600, Object: map[string]any{"id": "pi_rec_old"}}))
	res := h.ok("reconcile_events", map[string]any{"env": "test", "since": "2d"})
	if res["listed"] != float64(5) || get(res, "outcomes", "processed") != float64(5) {
		t.Fatalf("reconcile = %v", res)
	}
	again := h.ok("reconcile_events", map[string]any{"env": "test"})
	if again["already_recorded"] != float64(5) || len(again["outcomes"].(map[string]any)) != 0 {
		t.Fatalf("second reconcile = %v", again)
	}
	hist := h.ok("list_payment_history", map[string]any{"env": "test"})
	if n := len(hist["payments"].([]any)); n != 5 {
		t.Fatalf("payment history has %d rows", n)
	}
	events := h.ok("list_webhook_events", map[string]any{"env": "test", "query": "processed"})
	if n := len(events["events"].([]any)); n != 5 || get(events, "events", 0, "source") != "reconcile" {
		t.Fatalf("ledger = %v", events)
	}
	if r := h.readResource("billwire://test/payment-history"); len(r["payments"].([]any)) != 5 {
		t.Fatalf("payment-history resource = %v", r)
	}
	if r := h.readResource("billwire://test/webhook-events"); len(r["events"].([]any)) != 5 {
		t.Fatalf("webhook-events resource = %v", r)
	}
	h.fails("reconcile_events", map[string]any{"env": "test", "since": "45d"}, "30 days")
	h.fails("reconcile_events", map[string]any{"env": "test", "since": "yesterday-ish"}, "duration")
	h.fails("replay_webhook_event", map[string]any{"env": "test", "event_id": "evt_nope"}, "list_webhook_events")
	if res := h.ok("replay_webhook_event", map[string]any{"env": "test", "event_id": "evt_rec_0"}); res["status"] != "processed" || res["was"] != "processed" {
		t.Fatalf("replay = %v", res)
	}
}

func TestTestCheckoutSessionAndSubjectBilling(t *testing.T) {
	t.Parallel()
	rec := stripetest.StartRecorder(t, stripetest.Mock(t))
	h := newHarness(t, harnessOpts{base: rec.URL(), rateLimit: 1000})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	plan := h.ok("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month"})
	priceID := get(plan, "price", "id").(string)
	subject := map[string]any{"type": "team", "id": "t_42"}

	h.fails("create_test_checkout_session", map[string]any{"price_id": priceID, "subject": subject, "success_url": "https://elsewhere.example/x"},
		"BILLWIRE_ALLOWED_ORIGINS")
	h.fails("create_test_checkout_session", map[string]any{"subject": subject}, "exactly one of price_id or lookup_key")
	h.fails("create_test_checkout_session", map[string]any{"price_id": "price_Unknown", "subject": subject}, "not in billwire's test catalog")

	cs := h.ok("create_test_checkout_session", map[string]any{"price_id": priceID, "subject": subject})
	if !strings.HasPrefix(cs["stripe_session_id"].(string), "cs_test_") || cs["url"] == "" {
		t.Fatalf("session = %v", cs)
	}
	body := rec.Bodies("POST /v1/checkout/sessions")[0]
	if body.Get("mode") != "subscription" || body.Get("client_reference_id") != "team:t_42" ||
		!strings.HasPrefix(body.Get("success_url"), "http://127.0.0.1:8787/checkout/done") {
		t.Fatalf("session body = %v", body)
	}
	state := h.ok("get_subject_billing", map[string]any{"env": "test", "subject": subject})
	if get(state, "customer", "id") != body.Get("customer") || get(state, "customer", "mapping_confirmed") != false {
		t.Fatalf("subject billing = %v", state)
	}
	res := h.readResource("billwire://test/subjects/team/t_42")
	if get(res, "customer", "id") != body.Get("customer") {
		t.Fatalf("resource = %v", res)
	}
}

// The terms end users get are set on the price: create_plan and
// create_price store them in the price's metadata, the mirror keeps them,
// and create_test_checkout_session (the session API's own path) applies
// them, a trial once per subject and product.
func TestPriceTermsThroughTools(t *testing.T) {
	t.Parallel()
	rec := stripetest.StartRecorder(t, stripetest.Mock(t))
	h := newHarness(t, harnessOpts{base: rec.URL(), rateLimit: 1000})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	h.fails("create_plan", map[string]any{"env": "test", "name": "Pack", "unit_amount": 500, "currency": "usd", "trial_period_days": 7},
		"recurring prices only")
	h.fails("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month", "trial_period_days": 731},
		"1 to 730 days")
	if n := rec.Calls("POST /v1/prices") + rec.Calls("POST /v1/products"); n != 0 {
		t.Fatalf("refused calls reached Stripe %d times", n)
	}
	plan := h.ok("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month",
		"trial_period_days": 14, "allow_promotion_codes": true})
	sent := rec.Bodies("POST /v1/prices")[0]
	if sent.Get("metadata[billwire_trial_period_days]") != "14" || sent.Get("metadata[billwire_allow_promotion_codes]") != "true" ||
		sent.Get("metadata[billwire_automatic_tax]") != "" {
		t.Fatalf("price create = %v", sent)
	}
	priceID := get(plan, "price", "id").(string)
	if get(plan, "price", "trial_period_days") != float64(14) || get(plan, "price", "allow_promotion_codes") != true {
		t.Fatalf("create_plan answered %v", plan)
	}
	var md map[string]string
	if err := h.store.Pool().QueryRow(context.Background(), `SELECT metadata FROM payments.prices WHERE id = $1`, priceID).Scan(&md); err != nil {
		t.Fatal(err)
	}
	if md["billwire_trial_period_days"] != "14" || md["billwire_allow_promotion_codes"] != "true" {
		t.Fatalf("mirrored metadata %v", md)
	}
	price := h.ok("create_price", map[string]any{"env": "test", "product_id": get(plan, "product", "id"), "unit_amount": 20000, "currency": "usd",
		"interval": "year", "automatic_tax": true})
	if s := rec.Bodies("POST /v1/prices")[1]; s.Get("metadata[billwire_automatic_tax]") != "true" || s.Get("metadata[billwire_trial_period_days]") != "" {
		t.Fatalf("price create = %v", s)
	}
	if get(price, "price", "automatic_tax") != true {
		t.Fatalf("create_price answered %v", price)
	}

	subject := map[string]any{"type": "user", "id": "u_terms"}
	h.ok("create_test_checkout_session", map[string]any{"price_id": priceID, "subject": subject})
	body := rec.Bodies("POST /v1/checkout/sessions")[0]
	if body.Get("subscription_data[trial_period_days]") != "14" || body.Get("allow_promotion_codes") != "true" {
		t.Fatalf("session body = %v", body)
	}
	h.ok("create_test_checkout_session", map[string]any{"price_id": priceID, "subject": subject})
	if body := rec.Bodies("POST /v1/checkout/sessions")[1]; body.Get("subscription_data[trial_period_days]") != "" || body.Get("allow_promotion_codes") != "true" {
		t.Fatalf("second session of the product = %v, want promotion codes and no trial", body)
	}
}
