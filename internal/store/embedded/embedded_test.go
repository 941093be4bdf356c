package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/store/pgserver"
)

// testCluster locates a cluster under a temporary XDG_DATA_HOME that the
// server's OS user can enter, and stops it when the test ends.
func testCluster(t *testing.T) *Cluster {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	getenv := func(k string) string {
		switch k {
		case "XDG_DATA_HOME":
			return dir
		case "PATH":
			return os.Getenv("PATH")
		}
		return ""
	}
	c, err := Locate(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "billwire", "postgres"); c.Root != want {
		t.Fatalf("Root = %s, want %s", c.Root, want)
	}
	t.Cleanup(func() {
		if _, err := c.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return c
}

// Two first uses at once create and start one server, and both get it.
func TestEnsureConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	c := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if got := c.Status(ctx); got != NotCreated {
		t.Fatalf("Status before = %s", got)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.Ensure(ctx) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Status(ctx); got != Running {
		t.Fatalf("Status after = %s", got)
	}
	log, err := os.ReadFile(c.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "database system is ready to accept connections"); n != 1 {
		t.Fatalf("the server started %d times, want 1:\n%s", n, log)
	}

	// Private: no TCP, a 0700 socket directory and socket, peer only.
	conn, err := pgx.Connect(ctx, c.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for setting, want := range map[string]string{"listen_addresses": "", "unix_socket_permissions": "0700"} {
		var got string
		if err := conn.QueryRow(ctx, "SHOW "+setting).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", setting, got, err, want)
		}
	}
	hba, err := os.ReadFile(filepath.Join(c.dataDir, "pg_hba.conf"))
	var rules []string
	for _, line := range strings.Split(string(hba), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			rules = append(rules, strings.Join(strings.Fields(line), " "))
		}
	}
	if err != nil || len(rules) != 1 || rules[0] != "local all all peer" {
		t.Errorf("pg_hba rules = %q, %v; want only local all all peer", rules, err)
	}
	var db, owner string
	if err := conn.QueryRow(ctx, `SELECT current_database(), pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()`).Scan(&db, &owner); err != nil || db != Database || owner != c.role {
		t.Errorf("database %q owned by %q, %v; want %s owned by %s", db, owner, err, Database, c.role)
	}
	for _, p := range []string{c.Root, c.sockDir} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, %v; want 0700", p, st.Mode().Perm(), err)
		}
	}

	// Stopped, it is started again on the next use.
	if stopped, err := c.Stop(ctx); err != nil || !stopped {
		t.Fatalf("Stop = %v, %v", stopped, err)
	}
	if got := c.Status(ctx); got != Stopped {
		t.Fatalf("Status after Stop = %s", got)
	}
	if err := c.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Status(ctx); got != Running {
		t.Fatalf("Status after a second Ensure = %s", got)
	}
}

func TestFindBin(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	if _, err := newestDebianBin(empty); !errors.Is(err, ErrNoBinaries) ||
		!strings.Contains(err.Error(), "apt-get install postgresql") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("no binaries: err = %v", err)
	}
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "13", "16"} {
		dir := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, b := range pgserver.Bins {
			if v == "16" && b == "initdb" {
				continue // incomplete: not a candidate
			}
			if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, err := newestDebianBin(root); err != nil || got != filepath.Join(root, "15", "bin") {
		t.Fatalf("newest = %s, %v; want version 15", got, err)
	}
	// PATH comes first.
	if got, err := findBin(filepath.Join(root, "13", "bin")); err != nil || got != filepath.Join(root, "13", "bin") {
		t.Fatalf("findBin(PATH) = %s, %v", got, err)
	}
}

func TestLocateDefaults(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	c, err := Locate(func(k string) string {
		if k == "HOME" {
			return home
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(home, ".local", "share", "billwire", "postgres")
	if os.Geteuid() == 0 {
		want = rootDir
	}
	if c.Root != want || c.DSN() != "host="+filepath.Join(want, "socket")+" port=5432 dbname=billwire" {
		t.Fatalf("Root = %s, DSN = %s; want under %s", c.Root, c.DSN(), want)
	}
	long := strings.Repeat("d", 100)
	if _, err := Locate(func(k string) string {
		if k == "XDG_DATA_HOME" {
			return "/" + long
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "XDG_DATA_HOME") {
		t.Fatalf("long path: err = %v", err)
	}
}
