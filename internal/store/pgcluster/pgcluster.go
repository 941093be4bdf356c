// Package pgcluster runs a private PostgreSQL server for one test, so that a
// test can crash it (pg_ctl stop -m immediate) and start it again without
// touching the machine's shared server that the other tests use.
//
// Each Cluster gets its own data directory, unix socket directory and TCP port
// on 127.0.0.1, chosen free at start. The server binaries come from PG_BIN
// when set, else from the newest /usr/lib/postgresql/<version>/bin, else from
// PATH. When the test runs as root the binaries run as the "postgres" OS user,
// since initdb and postgres refuse to run as root.
//
// The methods that take a testing.TB report failures with tb.Fatal, so they
// must be called from the goroutine running the test; the other methods are
// safe from any goroutine.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/store/pgserver"
)

// dirPrefix names the temporary directories of clusters, so that those left
// behind by a test process that died can be found and removed.
const dirPrefix = "billwire-pgcluster-"

// Timeouts for the server's commands and for readiness.
const (
	cmdTimeout   = 90 * time.Second // one initdb or pg_ctl run
	readyTimeout = 60 * time.Second // pg_ctl -w -t, and the connection check after it
)

// Cluster is a private PostgreSQL server for one test: its own data directory and port.
type Cluster struct {
	bin     string         // directory holding initdb, pg_ctl and postgres
	cred    *pgserver.User // the OS user the server runs as; nil: the current user
	base    string         // temporary directory holding everything below
	dataDir string         // the data directory (PGDATA)
	sockDir string         // unix_socket_directories
	logPath string         // the server log written by pg_ctl -l

	mu      sync.Mutex
	port    int  // TCP port on 127.0.0.1; fixed once the server first started
	running bool // the server was started and not stopped since
}

// Start creates a cluster for the test: initdb into a temporary directory,
// start the server on a free 127.0.0.1 port and wait until it accepts
// connections. The server is stopped and its directory removed in tb.Cleanup.
// Start fails the test (it never skips it) when the PostgreSQL server binaries
// are not installed.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	bin, err := findBin()
	if err != nil {
		tb.Fatal(err)
	}
	cred, err := serverUser()
	if err != nil {
		tb.Fatal(err)
	}
	root, err := tempRoot(cred)
	if err != nil {
		tb.Fatal(err)
	}
	reapOnce.Do(func() { reapStale(root) })

	base, err := os.MkdirTemp(root, dirPrefix)
	if err != nil {
		tb.Fatalf("pgcluster: create temporary directory: %v", err)
	}
	c := &Cluster{
		bin:     bin,
		cred:    cred,
		base:    base,
		dataDir: filepath.Join(base, "data"),
		sockDir: filepath.Join(base, "sock"),
		logPath: filepath.Join(base, "postgres.log"),
	}
	// Registered first so that it runs last, after the test's own clean-ups
	// (which close its connections).
	tb.Cleanup(c.destroy)
	if err := os.WriteFile(filepath.Join(base, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		tb.Fatalf("pgcluster: %v", err)
	}
	if err := os.Mkdir(c.sockDir, 0o700); err != nil {
		tb.Fatalf("pgcluster: %v", err)
	}
	for _, p := range []string{base, c.sockDir} {
		if err := c.chown(p); err != nil {
			tb.Fatalf("pgcluster: %v", err)
		}
	}

	out, err := c.run("initdb", "-D", c.dataDir, "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C",
		// initdb's own fsyncs only guard against a crash of the machine
		// during the test's set-up; the server itself runs with fsync=on.
		"--no-sync")
	if err != nil {
		tb.Fatalf("pgcluster: initdb in %s: %v\n%s", c.dataDir, err, out)
	}
	conf, err := os.OpenFile(filepath.Join(c.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = conf.WriteString("\n# billwire pgcluster\ninclude 'pgcluster.conf'\n")
		if cerr := conf.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		tb.Fatalf("pgcluster: %v", err)
	}

	// Another process may take the chosen port before the server binds it;
	// then choose again.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("pgcluster: choose a port: %v", err)
		}
		if err := c.writeConf(port); err != nil {
			tb.Fatalf("pgcluster: %v", err)
		}
		c.mu.Lock()
		c.port = port
		c.mu.Unlock()
		err = c.start()
		if err == nil {
			break
		}
		if attempt >= 5 || !isPortTaken(err) {
			tb.Fatal(err)
		}
	}
	if err := c.waitReady(); err != nil {
		tb.Fatal(err)
	}
	return c
}

// DSN returns the connection string of database db on the cluster, e.g.
// postgres://postgres@127.0.0.1:PORT/db?sslmode=disable. The database
// "postgres" always exists; the user "postgres" is a superuser and needs no
// password.
func (c *Cluster) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port())),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the cluster's TCP port on 127.0.0.1. It stays the same across
// stops and starts.
func (c *Cluster) Port() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port
}

// LogPath returns the path of the server's log file, to read or print when a
// test fails.
func (c *Cluster) LogPath() string { return c.logPath }

// StopImmediate stops the server with pg_ctl stop -m immediate: every server
// process quits at once, without a checkpoint, as in a crash. Open
// connections get an error. The next Start runs crash recovery.
func (c *Cluster) StopImmediate(tb testing.TB) {
	tb.Helper()
	c.stop(tb, "immediate")
}

// Stop stops the server with pg_ctl stop -m fast: sessions are ended, open
// transactions roll back and a shutdown checkpoint is written.
func (c *Cluster) Stop(tb testing.TB) {
	tb.Helper()
	c.stop(tb, "fast")
}

// Start starts the server again after Stop or StopImmediate, on the same port
// and data directory, and waits until it accepts connections; after
// StopImmediate that includes crash recovery.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if running {
		tb.Fatal("pgcluster: Start: the server is running already")
	}
	// The port was free when the server last bound it; after a stop it may
	// linger briefly (or be taken by another process), so retry for a while.
	var err error
	for attempt := 1; attempt <= 10; attempt++ {
		if err = c.start(); err == nil || !isPortTaken(err) {
			break
		}
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.waitReady(); err != nil {
		tb.Fatal(err)
	}
}

// stop runs pg_ctl stop in the given mode and waits for the server to exit.
func (c *Cluster) stop(tb testing.TB, mode string) {
	tb.Helper()
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if !running {
		tb.Fatalf("pgcluster: stop -m %s: the server is not running", mode)
	}
	out, err := c.run("pg_ctl", "-D", c.dataDir, "-m", mode, "-w", "-t", strconv.Itoa(int(readyTimeout/time.Second)), "stop")
	if err != nil {
		tb.Fatalf("pgcluster: pg_ctl stop -m %s: %v\n%s%s", mode, err, out, c.logTail())
	}
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
}

// start runs pg_ctl start, which returns once the server is ready (after
// crash recovery, if any) or has failed.
func (c *Cluster) start() error {
	// pg_ctl -l appends: look at what this start logs only.
	from := c.logSize()
	out, err := c.run("pg_ctl", "-D", c.dataDir, "-l", c.logPath, "-w", "-t", strconv.Itoa(int(readyTimeout/time.Second)), "start")
	if err != nil {
		// pg_ctl may give up waiting while the server still runs; stop it
		// so that nothing is left behind.
		c.run("pg_ctl", "-D", c.dataDir, "-m", "immediate", "-w", "stop") //nolint:errcheck
		return &startError{
			msg:       fmt.Sprintf("pgcluster: pg_ctl start (port %d, data %s): %v\n%s%s", c.Port(), c.dataDir, err, out, c.logTail()),
			portTaken: c.portTaken(from),
		}
	}
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
	return nil
}

// waitReady connects over TCP until the server answers, and checks that the
// server answering on the port is this cluster's, not some other server.
func (c *Cluster) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var last error
	for {
		last = c.checkServer(ctx)
		if last == nil {
			return nil
		}
		if errors.Is(last, errWrongServer) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: server on port %d started but does not accept connections: %v%s", c.Port(), last, c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errWrongServer marks a connection that reached a server other than the cluster's.
var errWrongServer = errors.New("another server answers on the cluster's port")

// checkServer connects once and compares the server's data directory with the cluster's.
func (c *Cluster) checkServer(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var dir string
	if err := conn.QueryRow(cctx, `SHOW data_directory`).Scan(&dir); err != nil {
		return err
	}
	if !samePath(dir, c.dataDir) {
		return fmt.Errorf("pgcluster: %w: port %d serves data directory %s, want %s", errWrongServer, c.Port(), dir, c.dataDir)
	}
	return nil
}

// destroy stops the server, if it runs, and removes the cluster's directory.
// It is the cluster's tb.Cleanup.
func (c *Cluster) destroy() {
	if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); err == nil {
		// The data is thrown away, so a clean shutdown would be wasted time.
		c.run("pg_ctl", "-D", c.dataDir, "-m", "immediate", "-w", "-t", "30", "stop") //nolint:errcheck
	}
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
	os.RemoveAll(c.base) //nolint:errcheck
}

// writeConf writes the settings the cluster runs with, included from postgresql.conf.
func (c *Cluster) writeConf(port int) error {
	conf := fmt.Sprintf(`# Written by billwire's pgcluster; rewritten when the port changes.
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
max_connections = 50
shared_buffers = 32MB
# Durability is what crash tests check: keep the defaults explicit.
fsync = on
synchronous_commit = on
full_page_writes = on
`, port, strings.ReplaceAll(c.sockDir, "'", "''"))
	p := filepath.Join(c.dataDir, "pgcluster.conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		return err
	}
	return c.chown(p)
}

// startError is a failed start; portTaken: because the port was in use.
type startError struct {
	msg       string
	portTaken bool
}

func (e *startError) Error() string { return e.msg }

// isPortTaken reports whether err is a start that failed because the port was in use.
func isPortTaken(err error) bool {
	var se *startError
	return errors.As(err, &se) && se.portTaken
}

// logSize returns the size of the server log, 0 when there is none.
func (c *Cluster) logSize() int64 {
	st, err := os.Stat(c.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// portTaken reports whether the server log from offset on says the server
// could not bind its port.
func (c *Cluster) portTaken(from int64) bool {
	b, _ := os.ReadFile(c.logPath)
	if from > int64(len(b)) {
		from = 0
	}
	b = b[from:]
	return bytes.Contains(b, []byte("Address already in use")) ||
		bytes.Contains(b, []byte("could not create any TCP/IP sockets"))
}

// logTail returns the end of the server log, prefixed for an error message,
// or "" when there is none.
func (c *Cluster) logTail() string { return pgserver.LogTail(c.logPath) }

// run runs one of the server binaries as the cluster's OS user and returns
// its combined output. The directory is one the server's user can enter:
// initdb and pg_ctl need to resolve the current directory.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	return pgserver.Run(cmdTimeout, c.bin, c.base, c.cred, "", name, args...)
}

// chown gives a path to the server's OS user, when that is not the current user.
func (c *Cluster) chown(p string) error { return c.cred.Chown(p) }

// findBin returns the directory holding the server binaries: PG_BIN when set,
// else the newest /usr/lib/postgresql/<version>/bin, else the directory of
// pg_ctl on PATH.
func findBin() (string, error) {
	if dir := os.Getenv("PG_BIN"); dir != "" {
		if missing := pgserver.Missing(dir); len(missing) > 0 {
			return "", fmt.Errorf("pgcluster: PG_BIN=%s lacks %s; point PG_BIN at the directory holding the PostgreSQL server binaries (Debian package postgresql)", dir, strings.Join(missing, ", "))
		}
		return dir, nil
	}
	if dir := pgserver.NewestDebian(pgserver.DebianRoot); dir != "" {
		return dir, nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if dir := filepath.Dir(p); len(pgserver.Missing(dir)) == 0 {
			return dir, nil
		}
	}
	return "", errors.New("pgcluster: PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in /usr/lib/postgresql/<version>/bin or on PATH; " +
		"install the Debian package postgresql (apt-get install postgresql), or set PG_BIN to the directory holding them")
}

// serverUser returns the OS user to run the server as: nil (the current user)
// unless the test runs as root, then the "postgres" user.
func serverUser() (*pgserver.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := pgserver.PostgresUser()
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root, and initdb and postgres refuse to run as root, but there is no OS user \"postgres\" to run them as (%v); install the Debian package postgresql, which creates it", err)
	}
	return u, nil
}

// maxSockDirLen keeps the unix socket path ("<sockdir>/.s.PGSQL.65535") under
// the 107-byte limit, with room for the temporary directory's name.
const maxSockDirLen = 107 - len("/.s.PGSQL.65535") - len("/"+dirPrefix+"1234567890/sock")

// tempRoot returns the directory to create clusters' temporary directories
// in (pgserver.TempRoot).
func tempRoot(cred *pgserver.User) (string, error) {
	root, err := pgserver.TempRoot(cred, maxSockDirLen)
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	return root, nil
}

// freePort returns a TCP port on 127.0.0.1 that is free now and that no other
// cluster of this process was given.
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsGiven[port] {
			portsGiven[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free port found")
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

var reapOnce sync.Once

// reapStale removes the clusters left in root by test processes that died
// (killed by a test timeout, say) without their clean-ups running, stopping
// their servers first. A cluster whose process lives is never touched, and a
// server is signalled only when its command line names that cluster's data
// directory.
func reapStale(root string) {
	dirs, _ := filepath.Glob(filepath.Join(root, dirPrefix+"*"))
	for _, base := range dirs {
		b, err := os.ReadFile(filepath.Join(base, "owner"))
		if err != nil {
			continue
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || owner <= 0 || owner == os.Getpid() || pgserver.ProcessAlive(owner) {
			continue
		}
		if !pgserver.Quit(filepath.Join(base, "data")) {
			continue
		}
		os.RemoveAll(base) //nolint:errcheck
	}
}

// samePath reports whether two paths name the same file.
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
