package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/prompts"
	"github.com/billwire/billwire/tools"
)

const testKey = "sk_test_51BillwireCliTestKey00000000004242"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/billwire once per test process.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "billwire-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "billwire")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildError{out: string(out), err: err}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	stripetest.StopMock()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func masterKeyB64(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))
}

// env is a process environment for one test: its own database, master key,
// Stripe base and config dir.
func env(t *testing.T, base string) map[string]string {
	return map[string]string{
		"DATABASE_URL":             storetest.DSN(t),
		"BILLWIRE_MASTER_KEY":      masterKeyB64(9),
		"BILLWIRE_STRIPE_API_BASE": base,
		"XDG_CONFIG_HOME":          t.TempDir(),
		"HOME":                     t.TempDir(),
	}
}

func (e envMap) get(k string) string { return e[k] }

type envMap map[string]string

// cli runs a command in-process and returns exit code, stdout and stderr.
func cli(t *testing.T, e map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, envMap(e).get)
	return code, out.String(), errb.String()
}

// environ is e as a process environment.
func environ(e map[string]string) []string {
	var list []string
	for k, v := range e {
		list = append(list, k+"="+v)
	}
	return list
}

// stdioClient starts the built binary's billwire mcp with the environment
// e and completes the handshake; the client is closed when the test ends.
func stdioClient(ctx context.Context, t *testing.T, e map[string]string) (*client.Client, io.Reader, *mcp.InitializeResult) {
	t.Helper()
	c, err := client.NewStdioMCPClient(binary(t), environ(e), "mcp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	stderr, _ := client.GetStderr(c)
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "stdio-test", Version: "1"}
	ir, err := c.Initialize(ctx, init)
	if err != nil {
		t.Fatal(err)
	}
	return c, stderr, ir
}

// The whole journey through the built binary over stdio, with a real handshake.
func TestStdioServer(t *testing.T) {
	t.Parallel()
	e := env(t, stripetest.Mock(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, stderr, ir := stdioClient(ctx, t, e)
	if ir.ServerInfo.Name != "billwire" || !strings.Contains(ir.Instructions, "configure_stripe_keys") {
		t.Fatalf("initialize = %+v", ir)
	}
	tl, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil || len(tl.Tools) != len(tools.All(tools.Deps{})) {
		t.Fatalf("tools/list = %d tools, %v", len(tl.Tools), err)
	}
	if pl, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{}); err != nil || len(pl.Prompts) != len(prompts.All()) {
		t.Fatalf("prompts/list = %v, %v", pl, err)
	}
	for _, tool := range tl.Tools {
		if len(tool.InputSchema.Properties) == 0 && tool.Name != "get_payments_status" {
			t.Errorf("%s published an empty input schema", tool.Name)
		}
	}
	call := func(name string, args map[string]any) (string, bool) {
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = name, args
		res, err := c.CallTool(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := json.Marshal(res.Content)
		return string(b), res.IsError
	}
	if text, isErr := call("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey}); isErr || !strings.Contains(text, "sk_test_…4242") {
		t.Fatalf("configure: %s", text)
	}
	if text, isErr := call("create_plan", map[string]any{"env": "test", "name": "Pro", "unit_amount": 2000, "currency": "usd", "interval": "month"}); isErr || !strings.Contains(text, "20.00 USD / month") {
		t.Fatalf("create_plan: %s", text)
	}
	if text, isErr := call("sync_catalog", map[string]any{"env": "test"}); isErr || !strings.Contains(text, "succeeded") {
		t.Fatalf("sync: %s", text)
	}
	if text, isErr := call("create_plan", map[string]any{"env": "live", "name": "Pro", "unit_amount": 2000, "currency": "usd"}); !isErr || !strings.Contains(text, "--allow-live-writes") {
		t.Fatalf("live write: %s", text)
	}
	c.Close()
	logs, _ := io.ReadAll(stderr)
	if strings.Contains(string(logs), testKey) {
		t.Fatal("the key is in the server's stderr")
	}
}

func TestCLIKeysSyncAndMigrate(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Products: 3, Prices: 5, Customers: 7, Subscriptions: 4})
	e := env(t, fake.URL())
	if code, out, errs := cli(t, e, "", "migrate"); code != 0 || !strings.Contains(out, "applied") && !strings.Contains(out, "current") {
		t.Fatalf("migrate = %d %q %q", code, out, errs)
	}
	code, out, errs := cli(t, e, testKey+"\n", "keys", "set", "--env", "test")
	if code != 0 || !strings.Contains(out, "sk_test_…4242") || strings.Contains(out+errs, testKey) {
		t.Fatalf("keys set = %d %q %q", code, out, errs)
	}
	// The only way to set a live key, from the environment variable.
	const liveKey = "sk_live_FAKEcliFixture7777"
	e2 := map[string]string{"BILLWIRE_STRIPE_SECRET_KEY": liveKey}
	for k, v := range e {
		e2[k] = v
	}
	if code, out, errs := cli(t, e2, "", "keys", "set", "--env", "live"); code != 0 || !strings.Contains(out, "sk_live_…7777") {
		t.Fatalf("live keys set = %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, e, "", "keys", "show")
	if code != 0 || !strings.Contains(out, "sk_test_…4242") || !strings.Contains(out, "sk_live_…7777") || strings.Contains(out, testKey) || strings.Contains(out, liveKey) {
		t.Fatalf("keys show = %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, e, "", "sync", "--env", "test")
	if code != 0 || !strings.Contains(out, "succeeded") || !strings.Contains(out, "customers 7") || !strings.Contains(out, "subscriptions 4") {
		t.Fatalf("sync = %d %q %q", code, out, errs)
	}
	// A customer billwire holds that Stripe no longer lists was deleted there.
	db, err := pgx.Connect(context.Background(), e["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	if _, err := db.Exec(context.Background(), `INSERT INTO payments.customers (env, id, livemode, created, data, source_at, first_seen_at)
		VALUES ('test', 'cus_GoneFromStripe', false, now() - interval '1 day', '{}', now() - interval '1 hour', now() - interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	code, out, errs = cli(t, e, "", "sync", "--env", "test", "--objects", "customers")
	if code != 0 || !strings.HasSuffix(out, ": customers 7; gone from Stripe, marked deleted: customers 1\n") {
		t.Fatalf("sync after a deletion in Stripe = %d %q %q", code, out, errs)
	}
	if code, _, errs := cli(t, e, "", "sync", "--env", "staging"); code != 2 || !strings.Contains(errs, `"test" or "live"`) {
		t.Fatalf("bad env = %d %q", code, errs)
	}
	fake.AddInvoice(testKey, []byte(`{"id": "in_Backfilled", "object": "invoice", "customer": "cus_seed00000001", "status": "paid",
		"currency": "usd", "amount_due": 2000, "amount_paid": 2000, "created": 1719914460}`))
	if code, out, errs := cli(t, e, "", "sync", "--env", "test", "--objects", "invoices"); code != 0 || !strings.HasSuffix(out, ": invoices 1\n") {
		t.Fatalf("sync invoices = %d %q %q", code, out, errs)
	}
	var invoice string
	if err := db.QueryRow(context.Background(), `SELECT status FROM payments.invoices WHERE id = 'in_Backfilled' AND env = 'test'`).Scan(&invoice); err != nil || invoice != "paid" {
		t.Fatalf("backfilled invoice: %q %v", invoice, err)
	}
	if code, _, errs := cli(t, e, "", "sync", "--objects", "charges"); code != 2 || !strings.Contains(errs, "unknown object type") ||
		!strings.Contains(errs, "invoices") {
		t.Fatalf("bad objects = %d %q", code, errs)
	}
	if code, out, _ := cli(t, e, "", "version"); code != 0 || !strings.HasPrefix(out, "billwire ") {
		t.Fatalf("version = %d %q", code, out)
	}
	// Another master key refuses the shared database.
	e3 := map[string]string{"BILLWIRE_MASTER_KEY": masterKeyB64(3)}
	for k, v := range e {
		if k != "BILLWIRE_MASTER_KEY" {
			e3[k] = v
		}
	}
	if code, _, errs := cli(t, e3, "", "keys", "show"); code != 1 || !strings.Contains(errs, "different master key") || !strings.Contains(errs, "BILLWIRE_MASTER_KEY") {
		t.Fatalf("wrong master key = %d %q", code, errs)
	}
	// A live key never goes to a plain-HTTP API base on another machine.
	e4 := map[string]string{"BILLWIRE_STRIPE_API_BASE": "http://stripe-proxy.internal:8080"}
	for k, v := range e2 {
		if k != "BILLWIRE_STRIPE_API_BASE" {
			e4[k] = v
		}
	}
	if code, _, errs := cli(t, e4, "", "keys", "set", "--env", "live"); code != 1 || !strings.Contains(errs, "https") || strings.Contains(errs, liveKey) {
		t.Fatalf("live key over http = %d %q", code, errs)
	}
	// No key at all.
	if code, _, errs := cli(t, e, "", "keys", "set", "--env", "test"); code != 2 || !strings.Contains(errs, "standard input") {
		t.Fatalf("no key = %d %q", code, errs)
	}
}

func TestMasterKeyFileMode(t *testing.T) {
	t.Parallel()
	e := env(t, "")
	delete(e, "BILLWIRE_MASTER_KEY")
	cfg := e["XDG_CONFIG_HOME"]
	if code, _, errs := cli(t, e, "", "migrate"); code != 0 {
		t.Fatalf("migrate with a new key file = %d %q", code, errs)
	}
	path := filepath.Join(cfg, "billwire", "master.key")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", st, err)
	}
	os.Chmod(path, 0o644)
	if code, _, errs := cli(t, e, "", "migrate"); code != 1 || !strings.Contains(errs, "chmod 600") {
		t.Fatalf("loose key file = %d %q", code, errs)
	}
}

func benchDSN(b *testing.B) string { return storetest.DSN(b) }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// billwire serve as a process: health, readiness, a signed delivery, and a
// graceful stop on SIGTERM.
func TestServe(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	e := env(t, fake.URL())
	if code, out, errs := cli(t, e, testKey+"\n", "keys", "set", "--env", "test"); code != 0 {
		t.Fatalf("keys set: %s %s", out, errs)
	}
	const whsec = "whsec_billwireServeTestSecret0001"
	if code, out, errs := cli(t, e, whsec+"\n", "webhook", "setup", "--env", "test", "--signing-secret-stdin"); code != 0 || !strings.Contains(out, "whsec_…0001") {
		t.Fatalf("webhook setup: %d %s %s", code, out, errs)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--addr", addr)
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := "http://" + addr
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(base + "/readyz"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v\n%s", resp, err, stderr.String())
	}
	resp.Body.Close()
	if resp, err = http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	payload := eventfixtures.MustEvent(t, "customer.created", eventfixtures.Options{ID: "evt_serve_1"})
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/stripe/test", bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, whsec, time.Now()))
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("delivery: %v %v\n%s", resp, err, stderr.String())
	}
	resp.Body.Close()
	// A rotation with --revoke-previous: the running server refuses the old
	// secret at once and accepts the new one.
	deliver := func(id, secret string) int {
		t.Helper()
		payload := eventfixtures.MustEvent(t, "customer.created", eventfixtures.Options{ID: id})
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/stripe/test", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, secret, time.Now()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const whsec2 = "whsec_billwireServeTestSecret0002"
	if code, out, errs := cli(t, e, whsec2+"\n", "webhook", "setup", "--env", "test", "--signing-secret-stdin", "--revoke-previous"); code != 0 ||
		!strings.Contains(out, "previous signing secret revoked") || !strings.Contains(out, "whsec_…0002") {
		t.Fatalf("webhook setup --revoke-previous: %d %s %s", code, out, errs)
	}
	time.Sleep(1100 * time.Millisecond) // serve's cached secrets expire after a second
	if got := deliver("evt_serve_2", whsec); got != 400 {
		t.Fatalf("delivery signed with the revoked secret: %d, want 400", got)
	}
	if got := deliver("evt_serve_3", whsec2); got != 200 {
		t.Fatalf("delivery signed with the new secret: %d", got)
	}
	if code, out, errs := cli(t, e, "", "webhook", "setup", "--env", "test", "--revoke-previous"); code != 0 || !strings.Contains(out, "nothing to revoke") {
		t.Fatalf("webhook setup --revoke-previous alone: %d %s %s", code, out, errs)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if !strings.Contains(stderr.String(), "billwire stopped") || strings.Contains(stderr.String(), whsec) || strings.Contains(stderr.String(), testKey) ||
		strings.Contains(stderr.String(), whsec2) {
		t.Fatalf("serve logs:\n%s", stderr.String())
	}
	code, out, _ := cli(t, e, "", "keys", "show")
	if code != 0 || !strings.Contains(out, "sk_test_…4242") {
		t.Fatalf("keys show after serve: %s", out)
	}
}

// A session rate that is not one stops serve at start, naming the setting
// and the form it takes.
func TestServeRefusesABadSessionRate(t *testing.T) {
	t.Parallel()
	e := env(t, "http://127.0.0.1:1")
	e["BILLWIRE_SESSION_RATE_USER"] = "10 per minute"
	code, _, errs := cli(t, e, "", "serve", "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errs, "BILLWIRE_SESSION_RATE_USER") || !strings.Contains(errs, "N/m") || !strings.Contains(errs, "burst=") {
		t.Fatalf("serve with a bad rate: exit %d, stderr %q", code, errs)
	}
}
