package storetest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/billwire/billwire/internal/store/embedded"
	"github.com/billwire/billwire/internal/store/pgserver"
)

// ProbeEnv names the address probed for the machine's server when
// TEST_DATABASE_URL is unset (default 127.0.0.1:5432). Pointed at an address
// where nothing listens (127.0.0.1:1), it makes the tests use their private
// cluster while the machine's server keeps running.
const ProbeEnv = "BILLWIRE_TEST_PG_PROBE"

// defaultProbe is the machine's server, DefaultURL's address.
const defaultProbe = "127.0.0.1:5432"

// watchEnv, set in a test binary's environment, makes it the watcher of a
// run's private cluster ("<pid>:<start time>:<cluster root>") instead of
// running tests.
const watchEnv = "BILLWIRE_TESTPG_WATCH"

// runsPrefix names, under the temporary directory, the directory of the
// user's runs' clusters (one per go test invocation); the uid follows.
const runsPrefix = "billwire-testpg-uid"

func init() {
	if spec := os.Getenv(watchEnv); spec != "" {
		os.Exit(watch(spec))
	}
}

// resolveAdmin decides once per process which server the tests use:
// TEST_DATABASE_URL; else the server at the probed address when it answers;
// else the private cluster of this go test invocation.
func resolveAdmin() (string, error) {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u, nil
	}
	addr := os.Getenv(ProbeEnv)
	if addr == "" {
		addr = defaultProbe
	}
	if answers(addr) {
		return "postgres://postgres@" + addr + "/test?sslmode=disable", nil
	}
	return privateCluster()
}

// answers reports whether something accepts TCP connections at addr.
func answers(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// privateCluster returns the admin URL of the cluster this go test
// invocation shares: the package test binaries are children of the go
// command, so the cluster is keyed by the parent process. The first process
// creates and starts it under the cluster's lock, and starts its watcher; the
// others wait on the lock and reuse it. Stale clusters of dead runs are
// removed first.
func privateCluster() (string, error) {
	parent := os.Getppid()
	start, ok := pgserver.StartTime(parent)
	if !ok {
		return "", fmt.Errorf("test database: nothing answers on %s and the parent process %d is gone; set TEST_DATABASE_URL", defaultProbe, parent)
	}
	key := runKey(parent, start)
	runs, err := runsDir(key)
	if err != nil {
		return "", err
	}
	reapStale(runs, key)
	c, err := embedded.ForTestRun(filepath.Join(runs, key), os.Getenv("PATH"))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	started, err := c.EnsureStarted(ctx)
	if err != nil {
		return "", fmt.Errorf("nothing answers on %s and TEST_DATABASE_URL is unset, so the tests start a private cluster: %w", defaultProbe, err)
	}
	if started {
		if err := startWatcher(c.Root, parent, start); err != nil {
			c.Discard() //nolint:errcheck
			return "", err
		}
	}
	return socketURL(c.SocketDir()), nil
}

// runKey names a run's cluster by its go process: pid and start time, so
// that a reused pid names another cluster.
func runKey(pid int, start uint64) string { return fmt.Sprintf("%d-%d", pid, start) }

// parseKey is runKey's inverse.
func parseKey(key string) (pid int, start uint64, ok bool) {
	p, s, found := strings.Cut(key, "-")
	pid, err1 := strconv.Atoi(p)
	start, err2 := strconv.ParseUint(s, 10, 64)
	return pid, start, found && err1 == nil && err2 == nil && pid > 0
}

// runsDir returns (creating it) the directory of the user's runs' clusters
// under the temporary directory, refusing one that another user could have
// placed or could write to. As root it is searchable by the OS user
// postgres, which runs the servers.
func runsDir(key string) (string, error) {
	var cred *pgserver.User
	mode := os.FileMode(0o700)
	if os.Geteuid() == 0 {
		cred, _ = pgserver.PostgresUser() // embedded.ForTestRun reports a missing one
		mode = 0o711
	}
	name := runsPrefix + strconv.Itoa(os.Getuid())
	below := len("/" + name + "/" + key + "/socket/.s.PGSQL.5432")
	tmp, err := pgserver.TempRoot(cred, 107-below)
	if err != nil {
		return "", fmt.Errorf("test database: %w", err)
	}
	dir := filepath.Join(tmp, name)
	if err := os.Mkdir(dir, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("test database: %w", err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("test database: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !st.IsDir() || !ok || int(sys.Uid) != os.Getuid() || st.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("test database: %s is not a directory of yours that only you can write to (mode %v); remove it, or set TMPDIR or TEST_DATABASE_URL", dir, st.Mode())
	}
	return dir, nil
}

// reapStale discards the clusters (and lock files) in runs of go processes
// that are gone: runs whose watcher did not get to clean up (killed, or the
// machine stopped).
func reapStale(runs, keep string) {
	entries, _ := os.ReadDir(runs)
	for _, e := range entries {
		key := strings.TrimSuffix(e.Name(), ".lock")
		pid, start, ok := parseKey(key)
		if !ok || key == keep {
			continue
		}
		if now, alive := pgserver.StartTime(pid); alive && now == start {
			continue
		}
		if c, err := embedded.ForTestRun(filepath.Join(runs, key), os.Getenv("PATH")); err == nil {
			c.Discard() //nolint:errcheck // the next run tries again
		}
	}
}

// startWatcher starts this test binary again, detached (its own session,
// no inherited output, so that go test does not wait for it), as the watcher
// that discards the cluster at root once the go process pid exits.
func startWatcher(root string, pid int, start uint64) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("test database: start the cluster's watcher: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d:%s", watchEnv, pid, start, root))
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("test database: start the cluster's watcher: %w", err)
	}
	return cmd.Process.Release()
}

// watch is the watcher's life: wait for the go process to exit, then stop
// the server, remove the cluster, and the runs' directory once empty. It
// returns the exit code.
func watch(spec string) int {
	p, rest, _ := strings.Cut(spec, ":")
	s, root, _ := strings.Cut(rest, ":")
	pid, start, ok := parseKey(p + "-" + s)
	if !ok || !filepath.IsAbs(root) {
		fmt.Fprintf(os.Stderr, "%s=%q: want <pid>:<start>:<cluster root>\n", watchEnv, spec)
		return 2
	}
	for {
		if now, alive := pgserver.StartTime(pid); !alive || now != start {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, err := embedded.ForTestRun(root, os.Getenv("PATH"))
	if err == nil {
		err = c.Discard()
	}
	os.Remove(filepath.Dir(root)) //nolint:errcheck // another run's cluster may be there
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// socketURL is the admin URL of a cluster whose socket is in dir.
func socketURL(dir string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Path:     "/postgres",
		RawQuery: url.Values{"host": {dir}, "sslmode": {"disable"}}.Encode(),
	}
	return u.String()
}
