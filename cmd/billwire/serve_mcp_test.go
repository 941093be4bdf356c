package main

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/stripetest"
)

// The built binary serves MCP over HTTP to a real client with an MCP key,
// audits its calls, and stops answering once the key is revoked.
func TestServeMCPOverHTTP(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	e := env(t, stripetest.StartFake(t, stripetest.FakeOptions{}).URL())
	code, key, errs := cli(t, e, "", "apikeys", "create", "--env", "test", "--name", "agent", "--scope", "mcp")
	key = strings.TrimSpace(key)
	if code != 0 {
		t.Fatalf("apikeys create: %s", errs)
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
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	tr, err := transport.NewStreamableHTTP(base+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key}))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	defer c.Close()
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "serve-test", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "get_payments_status"
	res, err := c.CallTool(ctx, req)
	if err != nil || res.IsError {
		t.Fatalf("get_payments_status: %v %+v", err, res)
	}
	if code, out, _ := cli(t, e, "", "apikeys", "audit", "--env", "test"); code != 0 || !strings.Contains(out, "get_payments_status") || !strings.Contains(out, "agent (id") {
		t.Fatalf("audit: %s", out)
	}
	if code, _, errs := cli(t, e, "", "apikeys", "revoke", "--env", "test", "--name", "agent"); code != 0 {
		t.Fatalf("revoke: %s", errs)
	}
	time.Sleep(2500 * time.Millisecond) // a verified key is trusted for 2 s
	if _, err := c.CallTool(ctx, req); err == nil {
		t.Fatal("a revoked key's client still calls tools")
	}
	cmd.Process.Kill() //nolint:errcheck
	cmd.Wait()         //nolint:errcheck // killed
	if strings.Contains(stderr.String(), key) {
		t.Fatal("serve logged the API key")
	}
}
