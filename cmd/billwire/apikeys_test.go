package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

func TestAPIKeysCommand(t *testing.T) {
	t.Parallel()
	e := env(t, stripetest.Mock(t))
	code, key, stderr := cli(t, e, "", "apikeys", "create", "--env", "test", "--name", "app-backend")
	key = strings.TrimSpace(key)
	if code != 0 || !strings.HasPrefix(key, "bwk_") || len(key) < 40 || strings.Contains(stderr, key) {
		t.Fatalf("create: %d %q %q", code, key, stderr)
	}
	if code, _, stderr := cli(t, e, "", "apikeys", "create", "--env", "test", "--name", "app-backend"); code == 0 || !strings.Contains(stderr, "revoke it first") {
		t.Fatalf("duplicate name: %d %q", code, stderr)
	}
	if code, _, stderr := cli(t, e, "", "apikeys", "create", "--env", "test"); code != 2 || !strings.Contains(stderr, "--name is required") {
		t.Fatalf("no name: %d %q", code, stderr)
	}
	code, out, _ := cli(t, e, "", "apikeys", "list")
	if code != 0 || !strings.Contains(out, "app-backend") || !strings.Contains(out, auth.MaskAPIKey(key)) || strings.Contains(out, key) {
		t.Fatalf("list: %d %q", code, out)
	}
	st, err := store.Open(context.Background(), e["DATABASE_URL"], storetest.KeyFromBytes(t, bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if k, err := st.APIKeyByHash(context.Background(), auth.HashAPIKey(key)); err != nil || k.Env != vocab.Test {
		t.Fatalf("the printed key does not authenticate: %+v %v", k, err)
	}
	if code, _, stderr := cli(t, e, "", "apikeys", "revoke", "--env", "test", "--name", "app-backend"); code != 0 {
		t.Fatalf("revoke: %d %q", code, stderr)
	}
	if _, err := st.APIKeyByHash(context.Background(), auth.HashAPIKey(key)); err == nil {
		t.Fatal("a revoked key still authenticates")
	}
}

func TestAPIKeysScopesAndAudit(t *testing.T) {
	t.Parallel()
	e := env(t, stripetest.Mock(t))
	if code, _, stderr := cli(t, e, "", "apikeys", "create", "--env", "test", "--name", "agent", "--scope", "mcp:live"); code != 2 || !strings.Contains(stderr, "live keys only") {
		t.Fatalf("mcp:live on a test key: %d %q", code, stderr)
	}
	if code, _, stderr := cli(t, e, "", "apikeys", "create", "--env", "test", "--name", "agent", "--scope", "admin"); code != 2 || !strings.Contains(stderr, "unknown scope") {
		t.Fatalf("unknown scope: %d %q", code, stderr)
	}
	code, key, stderr := cli(t, e, "", "apikeys", "create", "--env", "test", "--name", "agent", "--scope", "mcp")
	key = strings.TrimSpace(key)
	if code != 0 || !strings.Contains(stderr, "scope mcp") || !strings.Contains(stderr, "/mcp") {
		t.Fatalf("create mcp key: %d %q", code, stderr)
	}
	st, err := store.Open(context.Background(), e["DATABASE_URL"], storetest.KeyFromBytes(t, bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, err := st.APIKeyByHash(context.Background(), auth.HashAPIKey(key))
	if err != nil || k.Scope != vocab.ScopeMCP {
		t.Fatalf("stored key: %+v %v", k, err)
	}
	for _, r := range []string{"ok", "environment_not_allowed"} {
		if err := st.RecordAudit(context.Background(), store.AuditEntry{Env: vocab.Test, KeyID: k.ID, KeyName: "agent", Kind: "tool", Name: "list_catalog", Result: r}); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := cli(t, e, "", "apikeys", "audit", "--env", "test", "--name", "agent")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(lines[1], "environment_not_allowed") || !strings.Contains(lines[2], "list_catalog") || strings.Contains(out, key) {
		t.Fatalf("audit: %d\n%s", code, out)
	}
	if code, out, _ := cli(t, e, "", "apikeys", "audit", "--env", "live"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("audit of live: %d\n%s", code, out)
	}
	if code, out, _ := cli(t, e, "", "apikeys", "list"); code != 0 || !strings.Contains(out, "SCOPE") || !strings.Contains(out, "mcp") {
		t.Fatalf("list: %q", out)
	}
}
