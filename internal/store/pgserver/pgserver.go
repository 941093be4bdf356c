// Package pgserver holds what billwire's own PostgreSQL servers share, the
// embedded database (internal/store/embedded) and the tests' private
// clusters (internal/store/pgcluster): finding the server binaries, the OS
// user that runs them when billwire runs as root, and running them.
package pgserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DebianRoot holds Debian's versioned server binaries (<version>/bin).
const DebianRoot = "/usr/lib/postgresql"

// Bins are the binaries a server needs.
var Bins = []string{"initdb", "pg_ctl", "postgres"}

// Missing lists the server binaries that dir lacks.
func Missing(dir string) []string {
	var missing []string
	for _, b := range Bins {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	return missing
}

// NewestDebian returns the newest root/<version>/bin that holds every
// server binary, or "" when there is none.
func NewestDebian(root string) string {
	entries, _ := os.ReadDir(root)
	best, bestV := "", []int(nil)
	for _, e := range entries {
		v, ok := parseVersion(e.Name())
		dir := filepath.Join(root, e.Name(), "bin")
		if ok && len(Missing(dir)) == 0 && (best == "" || slices.Compare(v, bestV) > 0) {
			best, bestV = dir, v
		}
	}
	return best
}

// parseVersion parses a version directory name such as "15" or "9.6".
func parseVersion(s string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

// User is the OS user a server's commands run as.
type User struct {
	Name     string
	UID, GID uint32
}

// PostgresUser returns the OS user "postgres", which runs the server when
// billwire runs as root (initdb and postgres refuse to run as root).
func PostgresUser() (*User, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("OS user postgres has uid %q, gid %q; want numbers", u.Uid, u.Gid)
	}
	return &User{Name: u.Username, UID: uint32(uid), GID: uint32(gid)}, nil
}

// Chown gives a path to the user; a nil user (the current one) changes nothing.
func (u *User) Chown(p string) error {
	if u == nil {
		return nil
	}
	return os.Chown(p, int(u.UID), int(u.GID))
}

// Traversable checks that the user can enter dir: that it and every
// directory above it has the search (x) permission that applies to the
// user. The server's commands run with the user's primary group only.
func Traversable(dir string, u *User) error {
	for p := dir; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return nil // cannot tell; let initdb report it
		}
		perm := st.Mode().Perm()
		var can bool
		switch {
		case sys.Uid == u.UID:
			can = perm&0o100 != 0
		case sys.Gid == u.GID:
			can = perm&0o010 != 0
		default:
			can = perm&0o001 != 0
		}
		if !st.IsDir() || !can {
			return fmt.Errorf("OS user %s cannot enter %s (mode %v, owner %d:%d)", u.Name, p, st.Mode(), sys.Uid, sys.Gid)
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

// Run runs one server binary of bin as the user (nil: the current one) in
// dir, a directory the user can enter, with stdin, within timeout, and
// returns its combined output. Its environment is the process's without PG*
// variables (PGDATA, PGPORT, PGHOST… could point it at another server), with
// C messages.
func Run(timeout time.Duration, bin, dir string, u *User, stdin, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
	// pg_ctl start leaves the server running with its output in the log
	// file; never wait on pipes a stray process might hold.
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = dir
	cmd.Env = env()
	cmd.Stdin = strings.NewReader(stdin)
	if u != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID}}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") || strings.HasPrefix(kv, "LANGUAGE=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C")
}

// LogTail returns the last 40 lines of the server log at path, prefixed for
// an error message, or "" when there is none.
func LogTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return "\n--- server log " + path + " (tail) ---\n" + strings.Join(lines, "\n")
}
