package mcpserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/mcpserver"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// remote is billwire serve's handler with MCP over HTTP at /mcp, as cmdServe
// builds it, on a loopback listener.
type remote struct {
	t     *testing.T
	st    *store.Store
	url   string
	http  *mcpserver.HTTP
	audit chan store.AuditEntry
}

func newRemote(t *testing.T, allowedHosts ...string) *remote {
	t.Helper()
	return newRemoteWith(t, false, allowedHosts...)
}

// newRemoteWith is newRemote, with billwire serve's --allow-live-writes.
func newRemoteWith(t *testing.T, allowLive bool, allowedHosts ...string) *remote {
	t.Helper()
	ctx := context.Background()
	lazy := &store.Lazy{DSN: storetest.DSN(t), Key: storetest.MasterKey(t)}
	t.Cleanup(lazy.Close)
	log := zerolog.New(io.Discard)
	svc := billing.New(lazy, stripeapi.Options{BaseURL: stripetest.StartFake(t, stripetest.FakeOptions{}).URL()}, log)
	st, err := lazy.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	url := "http://" + hs.Listener.Addr().String()
	origins, _ := auth.ParseOrigins(url)
	r := &remote{t: t, st: st, url: url, audit: make(chan store.AuditEntry, 100)}
	audit := func(ctx context.Context, e store.AuditEntry) {
		if err := st.RecordAudit(ctx, e); err != nil {
			t.Errorf("audit: %v", err)
		}
		r.audit <- e
	}
	r.http = mcpserver.NewHTTP(mcpserver.New(mcpserver.Options{Version: "test", Billing: svc, Log: log, Origins: origins, Audit: audit, AllowLiveWrites: allowLive}),
		mcpserver.HTTPOptions{Store: st, Origins: origins, AllowedHosts: allowedHosts, Log: log, RevocationPoll: 100 * time.Millisecond})
	rt, err := runtime.New(st, svc, log, runtime.Options{API: runtime.APIConfig{Origins: origins, PublicURL: url}, MCP: r.http})
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = rt.Handler()
	hs.Start()
	t.Cleanup(func() { r.http.Close(); hs.Close(); rt.Processor().Close() })
	return r
}

func (r *remote) key(env vocab.Env, name string, scope vocab.Scope) string {
	r.t.Helper()
	key, hash, hint := auth.NewAPIKey()
	if _, err := r.st.CreateScopedAPIKey(context.Background(), env, name, scope, hash, hint); err != nil {
		r.t.Fatal(err)
	}
	return key
}

// connect opens a session with the streamable HTTP client of mcp-go, at
// its latest protocol version (sessionless).
func (r *remote) connect(key string) (*client.Client, error) {
	return r.connectAt(key, mcp.LATEST_PROTOCOL_VERSION)
}

// connectAt opens a session at protocol version v; before 2026-07-28 the
// server gives it an Mcp-Session-Id.
func (r *remote) connectAt(key, v string, opts ...client.ClientOption) (*client.Client, error) {
	tr, err := transport.NewStreamableHTTP(r.url+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key}))
	if err != nil {
		return nil, err
	}
	c := client.NewClient(tr, opts...)
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = v
	init.Params.ClientInfo = mcp.Implementation{Name: "billwire-http-test", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		c.Close()
		return nil, err
	}
	r.t.Cleanup(func() { c.Close() })
	return c, nil
}

// post sends one raw JSON-RPC initialize and returns the status and the
// refusal's code.
func (r *remote) post(header map[string]string) (int, string) {
	r.t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, r.url+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&e) //nolint:errcheck
	return resp.StatusCode, e.Error.Code
}

func callText(t *testing.T, c *client.Client, name string, args map[string]any) (string, bool) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var sb strings.Builder
	for _, x := range res.Content {
		if tc, ok := x.(mcp.TextContent); ok {
			sb.WriteString(tc.Text)
		}
	}
	return sb.String(), res.IsError
}

func TestMCPHTTPRefusesWhoMayNotCall(t *testing.T) {
	r := newRemote(t)
	session := r.key(vocab.Test, "app-backend", vocab.ScopeSession)
	mcpKey := r.key(vocab.Test, "agent", vocab.ScopeMCP)
	revoked := r.key(vocab.Test, "old-agent", vocab.ScopeMCP)
	if err := r.st.RevokeAPIKey(context.Background(), vocab.Test, "old-agent"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		header map[string]string
		status int
		code   string
	}{
		{"no key", nil, 401, "unauthenticated"},
		{"not a bearer", map[string]string{"Authorization": "Basic abc"}, 401, "invalid_api_key"},
		{"unknown key", map[string]string{"Authorization": "Bearer bwk_doesnotexist0000000000000000000000000000"}, 401, "invalid_api_key"},
		{"revoked key", map[string]string{"Authorization": "Bearer " + revoked}, 401, "invalid_api_key"},
		{"session key", map[string]string{"Authorization": "Bearer " + session}, 403, "wrong_key_scope"},
		{"foreign origin", map[string]string{"Authorization": "Bearer " + mcpKey, "Origin": "https://evil.example"}, 403, "origin_not_allowed"},
		{"rebinding host", map[string]string{"Authorization": "Bearer " + mcpKey, "Host": "evil.example"}, 403, "host_not_allowed"},
	} {
		if status, code := r.post(c.header); status != c.status || code != c.code {
			t.Errorf("%s: %d %q, want %d %q", c.name, status, code, c.status, c.code)
		}
	}
	if status, code := r.post(map[string]string{"Authorization": "Bearer " + mcpKey, "Origin": r.url}); status != 200 {
		t.Errorf("allowed origin: %d %q", status, code)
	}
	if _, err := r.connect(session); err == nil {
		t.Error("the client opened a session with a session-scoped key")
	}
	// An MCP key does not open the session API.
	req, _ := http.NewRequest(http.MethodGet, r.url+"/api/payments/test/subjects/user/u1", nil)
	req.Header.Set("Authorization", "Bearer "+mcpKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "wrong_key_scope") {
		t.Errorf("MCP key on the session API: %d %s", resp.StatusCode, b)
	}
}

func TestMCPHTTPAllowedHostsBehindAProxy(t *testing.T) {
	r := newRemote(t, "mcp.example.com")
	k := r.key(vocab.Test, "agent", vocab.ScopeMCP)
	if status, code := r.post(map[string]string{"Authorization": "Bearer " + k, "Host": "mcp.example.com"}); status != 200 {
		t.Errorf("allowed host: %d %q", status, code)
	}
	if status, code := r.post(map[string]string{"Authorization": "Bearer " + k, "Host": "other.example.com"}); status != 403 || code != "host_not_allowed" {
		t.Errorf("other host: %d %q", status, code)
	}
}

func TestMCPHTTPRealClientActsInItsEnvironmentAndIsAudited(t *testing.T) {
	r := newRemote(t)
	c, err := r.connect(r.key(vocab.Test, "agent", vocab.ScopeMCP))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	list, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil || len(list.Tools) < 20 {
		t.Fatalf("tools/list: %v, %d tools", err, len(list.Tools))
	}
	// No env: the key's. A dry run of the scaffold answers SQL for test.
	text, isErr := callText(t, c, "scaffold_fulfillment", map[string]any{"pattern": "subscription_access"})
	if isErr || !strings.Contains(text, `"env":"test"`) {
		t.Fatalf("scaffold dry run: %s", text)
	}
	if text, isErr := callText(t, c, "scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "env": "live"}); !isErr || !strings.Contains(text, "environment_not_allowed") {
		t.Errorf("env live with a test key: %v %s", isErr, text)
	}
	if text, isErr := callText(t, c, "scaffold_fulfillment", map[string]any{"pattern": "subscription_access", "write_to": "migrations/"}); !isErr || !strings.Contains(text, "refused over MCP HTTP") {
		t.Errorf("write_to: %v %s", isErr, text)
	}
	if _, err := c.ReadResource(ctx, mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: "billwire://live/catalog"}}); err == nil ||
		!strings.Contains(err.Error(), "environment_not_allowed") {
		t.Errorf("live resource with a test key: %v", err)
	}
	if _, err := c.ReadResource(ctx, mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: "billwire://test/catalog"}}); err != nil {
		t.Errorf("test resource: %v", err)
	}
	want := []struct{ kind, name, result string }{
		{"tool", "scaffold_fulfillment", "ok"},
		{"tool", "scaffold_fulfillment", "environment_not_allowed"},
		{"tool", "scaffold_fulfillment", "write_to_refused"},
		{"resource", "billwire://live/catalog", "environment_not_allowed"},
		{"resource", "billwire://test/catalog", "ok"},
	}
	rows, err := r.st.ListAudit(ctx, store.AuditFilter{Env: vocab.Test, KeyName: "agent"})
	if err != nil || len(rows) != len(want) {
		t.Fatalf("audit: %v %+v", err, rows)
	}
	for i, w := range want {
		got := rows[len(rows)-1-i]
		if got.Kind != w.kind || got.Name != w.name || got.Result != w.result || got.KeyName != "agent" {
			t.Errorf("audit row %d: %+v, want %+v", i, got, w)
		}
	}
}

func TestMCPHTTPLiveWritesNeedAnMCPLiveKey(t *testing.T) {
	r := newRemote(t)
	c, err := r.connect(r.key(vocab.Live, "agent", vocab.ScopeMCP))
	if err != nil {
		t.Fatal(err)
	}
	text, isErr := callText(t, c, "create_product", map[string]any{"name": "Pro", "confirm_live": true})
	if !isErr || !strings.Contains(text, "scope mcp, which cannot write live") {
		t.Errorf("live write with scope mcp: %s", text)
	}
	lc, err := r.connect(r.key(vocab.Live, "agent-live", vocab.ScopeMCPLive))
	if err != nil {
		t.Fatal(err)
	}
	// serve without --allow-live-writes (as newRemote builds it)
	if text, isErr := callText(t, lc, "create_product", map[string]any{"name": "Pro", "confirm_live": true}); !isErr || !strings.Contains(text, "billwire serve was started without --allow-live-writes") {
		t.Errorf("live write without --allow-live-writes: %s", text)
	}
}

func TestMCPHTTPSessionsAreBoundToTheirKeyAndEndOnRevocation(t *testing.T) {
	r := newRemote(t)
	a := r.key(vocab.Test, "agent-a", vocab.ScopeMCP)
	b := r.key(vocab.Test, "agent-b", vocab.ScopeMCP)
	ca, err := r.connectAt(a, "2025-06-18")
	if err != nil {
		t.Fatal(err)
	}
	sid := ca.GetSessionId()
	if sid == "" {
		t.Fatal("no session id")
	}
	// b cannot use a's session.
	req, _ := http.NewRequest(http.MethodPost, r.url+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+b)
	req.Header.Set("Mcp-Session-Id", sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("another key's session: %d", resp.StatusCode)
	}
	// a's listening stream is cut when a is revoked.
	get, _ := http.NewRequest(http.MethodGet, r.url+"/mcp", nil)
	get.Header.Set("Accept", "text/event-stream")
	get.Header.Set("Authorization", "Bearer "+a)
	get.Header.Set("Mcp-Session-Id", sid)
	stream, err := http.DefaultClient.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != 200 {
		t.Fatalf("GET stream: %d", stream.StatusCode)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, bufio.NewReader(stream.Body))
		ended <- err
	}()
	select {
	case err := <-ended:
		t.Fatalf("the stream ended before the revocation: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := r.st.RevokeAPIKey(context.Background(), vocab.Test, "agent-a"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked key's stream is still open after 10 s")
	}
	if _, err := ca.ListTools(context.Background(), mcp.ListToolsRequest{}); err == nil {
		t.Error("the revoked key's session still answers")
	}
}

func TestMCPHTTPElicitsTheHumanBeforeALiveWrite(t *testing.T) {
	r := newRemoteWith(t, true)
	for _, v := range []string{"2025-06-18", mcp.LATEST_PROTOCOL_VERSION} {
		asked := 0
		decline := elicitFunc(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			asked++
			return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionDecline}}, nil
		})
		c, err := r.connectAt(r.key(vocab.Live, "agent-live-"+v, vocab.ScopeMCPLive), v, client.WithElicitationHandler(decline))
		if err != nil {
			t.Fatal(err)
		}
		text, isErr := callText(t, c, "create_product", map[string]any{"name": "Pro", "confirm_live": true})
		if v == mcp.LATEST_PROTOCOL_VERSION {
			// No server-initiated requests in 2026-07-28: confirm_live alone
			// lets the call through to its next check (no live key here).
			if !isErr || asked != 0 || strings.Contains(text, "declined") || strings.Contains(text, "could not ask") {
				t.Errorf("protocol %s: asked %d times; %s", v, asked, text)
			}
			continue
		}
		if !isErr || !strings.Contains(text, "declined") || asked != 1 {
			t.Errorf("protocol %s: asked %d times; %s", v, asked, text)
		}
	}
}
