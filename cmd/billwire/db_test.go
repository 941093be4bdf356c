package main

import (
	"context"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
)

// embeddedEnv is an environment with no database setting at all: the
// embedded cluster's directory is a temporary XDG_DATA_HOME that the
// server's OS user can enter; the cluster is stopped when the test ends.
func embeddedEnv(t *testing.T) map[string]string {
	t.Helper()
	data := t.TempDir()
	for _, p := range []string{filepath.Dir(data), data} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e := map[string]string{
		"BILLWIRE_MASTER_KEY": masterKeyB64(9),
		"XDG_DATA_HOME":       data,
		"XDG_CONFIG_HOME":     t.TempDir(),
		"HOME":                t.TempDir(),
		"PATH":                os.Getenv("PATH"),
	}
	t.Cleanup(func() { cli(t, e, "", "db", "stop") })
	return e
}

func TestEmbeddedDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := embeddedEnv(t)
	root := filepath.Join(e["XDG_DATA_HOME"], "billwire", "postgres")

	if code, out, errb := cli(t, e, "", "db", "status"); code != 0 || out != "embedded cluster at "+root+": not created\n" {
		t.Fatalf("db status = %d %q %q", code, out, errb)
	}
	if code, out, errb := cli(t, e, "", "db", "url"); code != 0 || !strings.HasPrefix(out, "host="+filepath.Join(root, "socket")+" ") ||
		!strings.Contains(errb, "the embedded cluster is not created: billwire db start") {
		t.Fatalf("db url before start = %d %q %q", code, out, errb)
	}
	// The first command that needs the database creates, starts and
	// migrates the cluster, and says once that it uses it; the database
	// libpq's defaults reach, without billwire's schema, is left alone.
	libpqHadSchema := store.HasSchema(ctx, "")
	code, out, errb := cli(t, e, "", "keys", "show")
	if !libpqHadSchema && store.HasSchema(ctx, "") {
		t.Fatal("keys show migrated the database libpq's defaults reach")
	}
	if code != 0 || !strings.Contains(out, "(not set)") {
		t.Fatalf("keys show = %d %q %q", code, out, errb)
	}
	line := "billwire: database: embedded cluster at " + root + " (set DATABASE_URL to use your app's database)\n"
	if strings.Count(errb, "billwire: database:") != 1 || !strings.Contains(errb, line) {
		t.Fatalf("keys show stderr = %q, want once %q", errb, line)
	}
	if code, out, errb := cli(t, e, "", "db", "status"); code != 0 || out != "embedded cluster at "+root+": running\n" {
		t.Fatalf("db status = %d %q %q", code, out, errb)
	}
	// db url is what the app's own code connects with: the same tables.
	code, out, errb = cli(t, e, "", "db", "url")
	if code != 0 {
		t.Fatalf("db url = %d %q", code, errb)
	}
	conn, err := pgx.Connect(ctx, strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("db url %q: %v", out, err)
	}
	var envs int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM payments.schema_migrations`).Scan(&envs)
	conn.Close(ctx)
	if err != nil || envs == 0 {
		t.Fatalf("migrations in the embedded database = %d, %v", envs, err)
	}

	if code, out, _ := cli(t, e, "", "db", "stop"); code != 0 || out != "embedded cluster at "+root+": stopped\n" {
		t.Fatalf("db stop = %d %q", code, out)
	}
	if code, out, _ := cli(t, e, "", "db", "status"); code != 0 || out != "embedded cluster at "+root+": stopped\n" {
		t.Fatalf("db status after stop = %d %q", code, out)
	}
	if code, out, errb := cli(t, e, "", "db", "start"); code != 0 || !strings.HasPrefix(out, "embedded cluster at "+root+": running") {
		t.Fatalf("db start = %d %q %q", code, out, errb)
	}
	if code, _, errb := cli(t, e, "", "db", "restart"); code != 2 || !strings.Contains(errb, "db: want status, start, stop or url") {
		t.Fatalf("db restart = %d %q", code, errb)
	}
}

// Two processes' first uses at once start one cluster, and both use it.
func TestEmbeddedDatabaseConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	e := embeddedEnv(t)
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bin, "migrate")
			cmd.Env = environ(e)
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil || !strings.Contains(string(outs[i]), "billwire: database: embedded cluster at") {
			t.Fatalf("migrate %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	log, err := os.ReadFile(filepath.Join(e["XDG_DATA_HOME"], "billwire", "postgres", "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "database system is ready to accept connections"); n != 1 {
		t.Fatalf("the server started %d times, want 1:\n%s", n, log)
	}
}

// billwire serve never picks the private cluster by itself.
func TestServeWithoutDatabaseRefuses(t *testing.T) {
	t.Parallel()
	e := embeddedEnv(t)
	// An address that cannot be listened on, so that a serve that went on
	// fails at once instead of running.
	code, _, errb := cli(t, e, "", "serve", "--addr", "256.0.0.1:bad")
	if code != 2 || !strings.Contains(errb, "set DATABASE_URL (or --database-url) to your app's database, or pass --embedded-db") {
		t.Fatalf("serve = %d %q", code, errb)
	}
	if _, err := os.Stat(filepath.Join(e["XDG_DATA_HOME"], "billwire")); !os.IsNotExist(err) {
		t.Fatalf("serve created the embedded cluster: %v", err)
	}
	// With --embedded-db it uses the cluster (and then fails on the address).
	code, _, errb = cli(t, e, "", "serve", "--embedded-db", "--addr", "256.0.0.1:bad")
	if code != 1 || !strings.Contains(errb, "billwire: database: embedded cluster at") {
		t.Fatalf("serve --embedded-db = %d %q", code, errb)
	}
}

// A database setting is named on stderr, without its password.
func TestDatabaseLineHidesPassword(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(storetest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "hunter2")
	e := env(t, "http://127.0.0.1:1")
	e["DATABASE_URL"] = u.String()
	code, _, errb := cli(t, e, "", "keys", "show")
	u.User = url.UserPassword(u.User.Username(), "xxxxx")
	if code != 0 || strings.Contains(errb, "hunter2") || strings.Count(errb, "billwire: database: "+u.String()+"\n") != 1 {
		t.Fatalf("keys show = %d %q, want one line naming %s", code, errb, u)
	}
}

// billwire mcp with nothing set answers, and its tools work, on the
// embedded cluster it starts on the first call.
func TestMCPOnEmbeddedDatabase(t *testing.T) {
	t.Parallel()
	e := embeddedEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, stderr, _ := stdioClient(ctx, t, e)
	req := mcp.CallToolRequest{}
	req.Params.Name = "get_payments_status"
	res, err := c.CallTool(ctx, req)
	if err != nil || res.IsError {
		t.Fatalf("get_payments_status = %+v, %v", res, err)
	}
	c.Close()
	b, _ := io.ReadAll(stderr)
	if !strings.Contains(string(b), "billwire: database: embedded cluster at "+filepath.Join(e["XDG_DATA_HOME"], "billwire", "postgres")) {
		t.Fatalf("stderr does not name the embedded cluster:\n%s", b)
	}
}
