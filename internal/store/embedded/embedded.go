// Package embedded is billwire's own private PostgreSQL cluster, used when
// nothing names a database: created with initdb on first use under the
// user's data directory, started on demand by whichever billwire process
// needs it first (a file lock keeps two from starting it), and left running
// for the next one.
//
// It is private: the server listens on a Unix socket only, in a directory of
// mode 0700, with unix_socket_permissions 0700 and peer authentication for
// the OS user's own role. As root the cluster lives in
// /var/lib/billwire/postgres and the server runs as the "postgres" OS user,
// since initdb and postgres refuse to run as root.
//
// ForTestRun places the same kind of cluster elsewhere for one run of the
// test suite (internal/store/storetest).
package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/store/pgserver"
)

// Database is the database billwire uses in the cluster, created at initdb.
const Database = "billwire"

// rootDir is the cluster's directory when billwire runs as root without
// XDG_DATA_HOME.
const rootDir = "/var/lib/billwire/postgres"

// Timeouts for one server command and for readiness.
const (
	cmdTimeout   = 90 * time.Second
	readyTimeout = 60 * time.Second
)

// maxSocketPath is the length limit of a Unix socket's path.
const maxSocketPath = 107

// ErrNoBinaries means the PostgreSQL server binaries are not installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries not found (initdb): install them (apt-get install postgresql) or set DATABASE_URL to your app's database")

// Cluster is the embedded cluster's place on disk; its methods create,
// start, stop and describe the server there.
type Cluster struct {
	// Root holds everything: data/ (PGDATA), socket/ and server.log.
	Root     string
	dataDir  string
	sockDir  string
	logPath  string
	lockPath string
	path     string         // PATH to search for the binaries, then Debian's
	cred     *pgserver.User // the server's OS user; nil: the current user
	role     string         // the role peer authentication maps the OS user to
	user     string         // the role DSN names; "": libpq's default, the OS user
	auth     string         // pg_hba's method for local connections
	conf     string         // settings appended to postgresql.conf, after billwire's
}

// newCluster returns the cluster at root, with peer authentication.
func newCluster(root, path string, cred *pgserver.User, role string) *Cluster {
	return &Cluster{
		Root:     root,
		dataDir:  filepath.Join(root, "data"),
		sockDir:  filepath.Join(root, "socket"),
		logPath:  filepath.Join(root, "server.log"),
		lockPath: root + ".lock",
		path:     path,
		cred:     cred,
		role:     role,
		auth:     "peer",
	}
}

// Locate returns the user's cluster, created or not: under
// $XDG_DATA_HOME/billwire/postgres, else ~/.local/share/billwire/postgres;
// as root without XDG_DATA_HOME, /var/lib/billwire/postgres. The environment
// is read through getenv.
func Locate(getenv func(string) string) (*Cluster, error) {
	me, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("embedded database: who am I: %w", err)
	}
	var cred *pgserver.User
	if os.Geteuid() == 0 {
		if cred, err = pgserver.PostgresUser(); err != nil {
			return nil, fmt.Errorf("embedded database: running as root, the server must run as the OS user postgres (%v): install the PostgreSQL server (apt-get install postgresql) or set DATABASE_URL to your app's database", err)
		}
	}
	root := rootDir
	switch {
	case getenv("XDG_DATA_HOME") != "":
		root = filepath.Join(getenv("XDG_DATA_HOME"), "billwire", "postgres")
	case cred == nil:
		home := getenv("HOME")
		if home == "" {
			home = me.HomeDir
		}
		root = filepath.Join(home, ".local", "share", "billwire", "postgres")
	}
	if root, err = filepath.Abs(root); err != nil {
		return nil, err
	}
	c := newCluster(root, getenv("PATH"), cred, me.Username)
	if n := len(c.socketPath()); n > maxSocketPath {
		return nil, fmt.Errorf("embedded database: the socket path %s is %d bytes, more than a Unix socket takes (%d): set XDG_DATA_HOME to a shorter directory, or DATABASE_URL to your app's database", c.socketPath(), n, maxSocketPath)
	}
	return c, nil
}

// testConf are the test suite's settings: room for the connections of the
// package processes that share the cluster, and no fsync, since the data is
// thrown away after the run.
const testConf = `
# billwire's test suite: thrown away after the run.
max_connections = 200
fsync = off
full_page_writes = off
`

// ForTestRun returns a cluster at root (an absolute path) for one run of the
// test suite (internal/store/storetest): as private as the user's cluster (a
// Unix socket only, in directories of mode 0700), but with trust
// authentication for the superuser postgres, as the tests expect of the
// machine's server, the socket's directory being the gate; path is searched
// for the server binaries. As root the server runs as the OS user postgres.
func ForTestRun(root, path string) (*Cluster, error) {
	var cred *pgserver.User
	if os.Geteuid() == 0 {
		var err error
		if cred, err = pgserver.PostgresUser(); err != nil {
			return nil, fmt.Errorf("test database: running as root, the server must run as the OS user postgres (%v): install the PostgreSQL server (apt-get install postgresql) or set TEST_DATABASE_URL", err)
		}
	}
	c := newCluster(root, path, cred, "postgres")
	c.user, c.auth, c.conf = "postgres", "trust", testConf
	if n := len(c.socketPath()); n > maxSocketPath {
		return nil, fmt.Errorf("test database: the socket path %s is %d bytes, more than a Unix socket takes (%d): set TMPDIR to a shorter directory, or TEST_DATABASE_URL", c.socketPath(), n, maxSocketPath)
	}
	return c, nil
}

// Discard stops the server at once, if it runs, and removes the cluster and
// its lock file: for the test suite's clusters, whose data is thrown away.
func (c *Cluster) Discard() error {
	if !pgserver.Quit(c.dataDir) {
		return fmt.Errorf("embedded database: the server of %s does not stop", c.dataDir)
	}
	if err := os.RemoveAll(c.Root); err != nil {
		return fmt.Errorf("embedded database: %w", err)
	}
	if err := os.Remove(c.lockPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("embedded database: %w", err)
	}
	return nil
}

// SocketDir is the directory of the server's Unix socket.
func (c *Cluster) SocketDir() string { return c.sockDir }

func (c *Cluster) socketPath() string { return filepath.Join(c.sockDir, ".s.PGSQL.5432") }

// DSN is the connection string of billwire's database in the cluster, for
// billwire and for the app's own code run by the same OS user.
func (c *Cluster) DSN() string {
	dsn := "host=" + c.sockDir + " port=5432 dbname=" + Database
	if c.user != "" {
		dsn += " user=" + c.user
	}
	return dsn
}

// State is what Status finds.
type State string

// The states of the cluster.
const (
	NotCreated State = "not created"
	Stopped    State = "stopped"
	Running    State = "running"
)

// Status reports whether the cluster exists and whether its server answers.
func (c *Cluster) Status(ctx context.Context) State {
	if !c.created() {
		return NotCreated
	}
	if c.ping(ctx) != nil {
		return Stopped
	}
	return Running
}

func (c *Cluster) created() bool {
	_, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION"))
	return err == nil
}

// ping connects once to billwire's database over the socket.
func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN())
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// Ensure makes the cluster answer: created with initdb on first use, started
// when it is not running. Under the lock, so that of two processes only one
// creates or starts it and the other waits for it.
func (c *Cluster) Ensure(ctx context.Context) error {
	_, err := c.EnsureStarted(ctx)
	return err
}

// EnsureStarted is Ensure that also reports whether this call started the
// server (and created the cluster, when it did not exist).
func (c *Cluster) EnsureStarted(ctx context.Context) (started bool, err error) {
	if c.ping(ctx) == nil {
		return false, nil
	}
	if err := ctx.Err(); err != nil { // a ping cut short says nothing of the server
		return false, err
	}
	unlock, err := c.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	if c.ping(ctx) == nil { // another process started it meanwhile
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	bin, err := findBin(c.path)
	if err != nil {
		return false, err
	}
	if !c.created() {
		if err := c.initdb(bin); err != nil {
			return false, err
		}
	}
	if err := c.start(ctx, bin); err != nil {
		return false, err
	}
	return true, nil
}

// Stop stops the server (pg_ctl stop -m fast); stopped reports whether it
// was running.
func (c *Cluster) Stop(ctx context.Context) (stopped bool, err error) {
	if !c.created() {
		return false, nil
	}
	unlock, err := c.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); err != nil {
		return false, nil
	}
	bin, err := findBin(c.path)
	if err != nil {
		return false, err
	}
	if out, err := c.run(bin, "pg_ctl", "-D", c.dataDir, "-m", "fast", "-w", "-t", strconv.Itoa(int(readyTimeout/time.Second)), "stop"); err != nil {
		return false, fmt.Errorf("embedded database: pg_ctl stop: %v\n%s", err, out)
	}
	return true, nil
}

// lock takes the cluster's file lock, next to its directory; the returned
// func releases it.
func (c *Cluster) lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(c.Root), 0o755); err != nil {
		return nil, fmt.Errorf("embedded database: %w", err)
	}
	f, err := os.OpenFile(c.lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded database: lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil //nolint:errcheck
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("embedded database: lock %s: %w", c.lockPath, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("embedded database: waiting for another billwire process to start it: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// initdb creates the cluster: the private settings, peer authentication
// only, the OS user's role and billwire's database.
func (c *Cluster) initdb(bin string) error {
	if err := os.MkdirAll(filepath.Dir(c.Root), 0o755); err != nil {
		return fmt.Errorf("embedded database: %w", err)
	}
	// A directory left by an initdb that failed half-way is started over.
	if err := os.RemoveAll(c.Root); err != nil {
		return fmt.Errorf("embedded database: %w", err)
	}
	if err := os.Mkdir(c.Root, 0o700); err != nil {
		return fmt.Errorf("embedded database: %w", err)
	}
	if err := os.Mkdir(c.sockDir, 0o700); err != nil {
		return fmt.Errorf("embedded database: %w", err)
	}
	for _, p := range []string{c.Root, c.sockDir} {
		if err := c.chown(p); err != nil {
			return err
		}
	}
	if c.cred != nil {
		if err := pgserver.Traversable(filepath.Dir(c.Root), c.cred); err != nil {
			return fmt.Errorf("embedded database: the server runs as OS user %s, who must reach %s: %v", c.cred.Name, c.Root, err)
		}
	}
	super := c.role
	if c.cred != nil {
		super = c.cred.Name
	}
	if out, err := c.run(bin, "initdb", "-D", c.dataDir, "-U", super, "-A", c.auth, "-E", "UTF8", "--locale=C"); err != nil {
		return fmt.Errorf("embedded database: initdb in %s: %v\n%s", c.dataDir, err, out)
	}
	conf := fmt.Sprintf(`
# billwire's embedded cluster: a Unix socket only, for the OS user alone.
listen_addresses = ''
unix_socket_directories = '%s'
unix_socket_permissions = 0700
port = 5432
max_connections = 50
%s`, strings.ReplaceAll(c.sockDir, "'", "''"), c.conf)
	if err := c.write(filepath.Join(c.dataDir, "postgresql.conf"), conf, true); err != nil {
		return err
	}
	hba := fmt.Sprintf("# billwire's embedded cluster: %[1]s authentication only.\nlocal all all %[1]s\n", c.auth)
	if err := c.write(filepath.Join(c.dataDir, "pg_hba.conf"), hba, false); err != nil {
		return err
	}
	// The role and the database, in single-user mode before the first
	// start: no connection (and no authentication) is needed.
	var sql strings.Builder
	if c.role != super {
		fmt.Fprintf(&sql, "CREATE ROLE %s LOGIN;\n", pgx.Identifier{c.role}.Sanitize())
	}
	fmt.Fprintf(&sql, "CREATE DATABASE %s OWNER %s;\n", Database, pgx.Identifier{c.role}.Sanitize())
	out, err := c.runInput(bin, sql.String(), "postgres", "--single", "-D", c.dataDir, "postgres")
	if err != nil || bytes.Contains(out, []byte("ERROR:")) {
		return fmt.Errorf("embedded database: create role and database: %v\n%s", err, out)
	}
	return nil
}

// start runs pg_ctl start and waits for the socket to answer.
func (c *Cluster) start(ctx context.Context, bin string) error {
	if out, err := c.run(bin, "pg_ctl", "-D", c.dataDir, "-l", c.logPath, "-w", "-t", strconv.Itoa(int(readyTimeout/time.Second)), "start"); err != nil {
		return fmt.Errorf("embedded database: pg_ctl start (data %s): %v\n%s%s", c.dataDir, err, out, c.logTail())
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		err := c.ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded database: started but does not accept connections: %v%s", err, c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// write writes a file of the cluster, appended or replaced, owned by the
// server's user.
func (c *Cluster) write(p, text string, appendTo bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flags = os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(p, flags, 0o600)
	if err == nil {
		_, err = f.WriteString(text)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("embedded database: %w", err)
	}
	return c.chown(p)
}

// logTail returns the end of the server log for an error message.
func (c *Cluster) logTail() string { return pgserver.LogTail(c.logPath) }

func (c *Cluster) run(bin, name string, args ...string) ([]byte, error) {
	return c.runInput(bin, "", name, args...)
}

// runInput runs a server binary as the server's OS user, with stdin, and
// returns its combined output.
func (c *Cluster) runInput(bin, stdin, name string, args ...string) ([]byte, error) {
	return pgserver.Run(cmdTimeout, bin, c.Root, c.cred, stdin, name, args...)
}

func (c *Cluster) chown(p string) error {
	if err := c.cred.Chown(p); err != nil {
		return fmt.Errorf("embedded database: %w", err)
	}
	return nil
}

// findBin returns the directory of the server binaries: the first on path
// that holds them all, else the newest of Debian's versioned directories.
func findBin(path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir != "" && len(pgserver.Missing(dir)) == 0 {
			return dir, nil
		}
	}
	return newestDebianBin(pgserver.DebianRoot)
}

// newestDebianBin returns the newest root/<version>/bin holding the binaries.
func newestDebianBin(root string) (string, error) {
	if dir := pgserver.NewestDebian(root); dir != "" {
		return dir, nil
	}
	return "", ErrNoBinaries
}
