package storetest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/store/embedded"
	"github.com/billwire/billwire/internal/store/pgserver"
)

// childEnv makes TestPrivateClusterChild run: it is a package process of a
// run started by TestPrivateClusterPerRun.
const childEnv = "BILLWIRE_TESTPG_CHILD"

// One go test invocation's package processes share one private cluster when
// nothing answers on the probed address: two at once and one after them get
// the same server, started once; it is private (a Unix socket only, 0700
// directories); and it is gone once the invocation ends.
func TestPrivateClusterPerRun(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	// sh stands for the go command: the test binaries are its children
	// (simple commands, so that no subshell comes between).
	const script = `"$0" -test.run='^TestPrivateClusterChild$' >"$1/a" 2>&1 &
"$0" -test.run='^TestPrivateClusterChild$' >"$1/b" 2>&1 &
wait
"$0" -test.run='^TestPrivateClusterChild$' >"$1/c" 2>&1`
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script, exe, out)
	cmd.Env = append(withoutEnv("TEST_DATABASE_URL", ProbeEnv), ProbeEnv+"=127.0.0.1:1", childEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start, ok := pgserver.StartTime(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil || !ok {
		t.Fatalf("run: %v (start time known: %v)", err, ok)
	}
	var reports []childReport
	for _, name := range []string{"a", "b", "c"} {
		reports = append(reports, readReport(t, filepath.Join(out, name)))
	}
	first := reports[0]
	if want := runKey(cmd.Process.Pid, start); filepath.Base(first.root) != want || filepath.Base(filepath.Dir(first.root)) != runsPrefix+strconv.Itoa(os.Getuid()) {
		t.Errorf("cluster root %s, want .../%s%d/%s", first.root, runsPrefix, os.Getuid(), want)
	}
	for i, r := range reports {
		if r.root != first.root || r.system != first.system || r.postmaster != first.postmaster {
			t.Errorf("process %d used cluster %+v, process 0 %+v: want one cluster", i, r, first)
		}
		if r.starts != 1 {
			t.Errorf("process %d saw the server started %d times, want 1", i, r.starts)
		}
	}
	waitGone(t, first)
}

// childReport is what a package process of the run saw of its cluster.
type childReport struct {
	root               string
	system, postmaster int
	starts             int
}

var reportLine = regexp.MustCompile(`(?m)^cluster root=(\S+) system=(\d+) postmaster=(\d+) starts=(\d+)$`)

// readReport reads a child's output: its report line, and PASS.
func readReport(t *testing.T, path string) childReport {
	t.Helper()
	b, err := os.ReadFile(path)
	m := reportLine.FindStringSubmatch(string(b))
	if err != nil || m == nil || !strings.HasSuffix(strings.TrimSpace(string(b)), "PASS") {
		t.Fatalf("package process %s: %v\n%s", filepath.Base(path), err, b)
	}
	r := childReport{root: m[1]}
	r.system, _ = strconv.Atoi(m[2])
	r.postmaster, _ = strconv.Atoi(m[3])
	r.starts, _ = strconv.Atoi(m[4])
	return r
}

// waitGone waits for the watcher to stop the run's server and remove its
// cluster, and the lock file beside it.
func waitGone(t *testing.T, r childReport) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		_, errRoot := os.Stat(r.root)
		_, errLock := os.Stat(r.root + ".lock")
		alive := pgserver.ProcessAlive(r.postmaster)
		if os.IsNotExist(errRoot) && os.IsNotExist(errLock) && !alive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after the run: cluster %s: %v, lock: %v, server %d alive: %v", r.root, errRoot, errLock, r.postmaster, alive)
		}
	}
}

// TestPrivateClusterChild is a package process of TestPrivateClusterPerRun's
// run: it gets a test database, checks that its cluster is private, and
// reports which cluster it is.
func TestPrivateClusterChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("a package process of TestPrivateClusterPerRun")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dataDir, listen, perms string
	var system int
	if err := conn.QueryRow(ctx, `SELECT current_setting('data_directory'), current_setting('listen_addresses'),
		current_setting('unix_socket_permissions'), system_identifier FROM pg_control_system()`).Scan(&dataDir, &listen, &perms, &system); err != nil {
		t.Fatal(err)
	}
	if listen != "" || perms != "0700" {
		t.Errorf("listen_addresses = %q, unix_socket_permissions = %s; want no TCP and 0700", listen, perms)
	}
	admin, err := url.Parse(AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(dataDir)
	for _, dir := range []string{root, admin.Query().Get("host")} {
		if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 || !strings.HasPrefix(dir, root) {
			t.Errorf("%s: %v, %v; want a directory of mode 0700 in %s", dir, st.Mode(), err, root)
		}
	}
	log, err := os.ReadFile(filepath.Join(root, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	pid, ok := pgserver.Postmaster(dataDir)
	if !ok {
		t.Fatalf("no live server of %s", dataDir)
	}
	fmt.Printf("cluster root=%s system=%d postmaster=%d starts=%d\n", root, system, pid,
		strings.Count(string(log), "database system is ready to accept connections"))
}

// The cluster of a dead run is discarded at the next start, server and all;
// a live run's is kept. A run's go process counts as dead when its pid now
// names a process started at another time.
func TestReapStale(t *testing.T) {
	t.Parallel()
	me, ok := pgserver.StartTime(os.Getpid())
	if !ok {
		t.Fatal("no start time of the test process")
	}
	deadKey, liveKey := runKey(os.Getpid(), me+1), runKey(os.Getpid(), me)
	// Not the real runs' directory, where the runs of TestPrivateClusterPerRun
	// reap this dead run too. Enterable by the server's OS user, as root.
	runs := t.TempDir()
	for _, p := range []string{filepath.Dir(runs), runs} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dead, err := embedded.ForTestRun(filepath.Join(runs, deadKey), os.Getenv("PATH"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Discard() }) //nolint:errcheck
	if _, err := dead.EnsureStarted(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid, ok := pgserver.Postmaster(filepath.Join(dead.Root, "data"))
	if !ok {
		t.Fatal("the stale cluster's server does not run")
	}
	live := filepath.Join(runs, liveKey)
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}

	reapStale(runs, "")
	if _, err := os.Stat(dead.Root); !os.IsNotExist(err) || pgserver.ProcessAlive(pid) {
		t.Errorf("stale cluster after reaping: %v, server %d alive: %v", err, pid, pgserver.ProcessAlive(pid))
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live run's cluster after reaping: %v", err)
	}
}

// A runs' directory that another user placed or can write to is refused.
func TestRunsDirRefusesOthers(t *testing.T) {
	tmp := t.TempDir()
	for _, p := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TMPDIR", tmp)
	dir := filepath.Join(tmp, runsPrefix+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := runsDir("1-1"); err == nil || !strings.Contains(err.Error(), "only you can write to") {
		t.Fatalf("runsDir with a world-writable %s: err = %v", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := runsDir("1-1"); err != nil || got != dir {
		t.Fatalf("runsDir = %s, %v; want %s", got, err, dir)
	}
}

// withoutEnv is the process's environment without the named variables.
func withoutEnv(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			env = append(env, kv)
		}
	}
	return env
}

// TEST_DATABASE_URL wins; else a server answering at the probed address is
// used (the private cluster only when nothing answers).
func TestResolveAdminOrder(t *testing.T) {
	t.Setenv("TEST_DATABASE_URL", "postgres://someone@db.example:5433/x")
	if got, err := resolveAdmin(); err != nil || got != "postgres://someone@db.example:5433/x" {
		t.Fatalf("with TEST_DATABASE_URL: %s, %v", got, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("TEST_DATABASE_URL", "")
	t.Setenv(ProbeEnv, l.Addr().String())
	if got, err := resolveAdmin(); err != nil || got != "postgres://postgres@"+l.Addr().String()+"/test?sslmode=disable" {
		t.Fatalf("with a server at %s: %s, %v", l.Addr(), got, err)
	}
}
