package pgserver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcessAlive reports whether a process with the pid exists and has not
// exited: a zombie, not yet reaped by its parent, counts as gone.
func ProcessAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	state, _ := statFields(b)
	return state != "Z" && state != "X"
}

// StartTime returns when the live process pid started (clock ticks after
// boot, /proc/<pid>/stat's starttime), so that a pid reused by a later
// process is told apart from the one it named; ok is false when no live
// process has the pid.
func StartTime(pid int) (start uint64, ok bool) {
	if !ProcessAlive(pid) {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	_, rest := statFields(b)
	// After comm: state(3) ppid(4) … starttime is field 22, rest[19].
	if len(rest) < 20 {
		return 0, false
	}
	start, err = strconv.ParseUint(rest[19], 10, 64)
	return start, err == nil
}

// statFields splits a /proc/<pid>/stat line, "pid (comm) state …", after
// its comm (which may hold spaces and parentheses): the state and every
// field from the state on.
func statFields(b []byte) (state string, fields []string) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", nil
	}
	fields = strings.Fields(string(b[i+1:]))
	if len(fields) == 0 {
		return "", nil
	}
	return fields[0], fields
}

// Postmaster returns the pid of the live server of dataDir, checked against
// the process's command line so that a reused pid is never signalled.
func Postmaster(dataDir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, false
	}
	if !slices.Contains(strings.Split(string(cmdline), "\x00"), dataDir) {
		return 0, false
	}
	return pid, true
}

// Quit stops the live server of dataDir, if any, with SIGQUIT (immediate
// shutdown: for data about to be thrown away) and waits up to 10s for it to
// exit; it reports whether no server of dataDir is left.
func Quit(dataDir string) bool {
	pid, ok := Postmaster(dataDir)
	if !ok {
		return true
	}
	syscall.Kill(pid, syscall.SIGQUIT) //nolint:errcheck
	for i := 0; i < 100 && ProcessAlive(pid); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	return !ProcessAlive(pid)
}

// TempRoot returns the directory to create servers' temporary directories
// in: os.TempDir(), or /tmp when the server's user u (nil: the current
// user) cannot enter os.TempDir() (say TMPDIR is under /root) or its path is
// longer than maxLen, so that the Unix socket's path below it fits.
func TempRoot(u *User, maxLen int) (string, error) {
	var why []string
	for _, dir := range []string{os.TempDir(), "/tmp"} {
		abs, err := filepath.Abs(dir)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			why = append(why, fmt.Sprintf("%s: %v", dir, err))
			continue
		}
		if len(abs) > maxLen {
			why = append(why, fmt.Sprintf("%s: path too long for a unix socket", abs))
			continue
		}
		if u != nil {
			if err := Traversable(abs, u); err != nil {
				why = append(why, err.Error())
				continue
			}
		}
		return abs, nil
	}
	return "", fmt.Errorf("no temporary directory the server can use (%s); set TMPDIR to a directory every user can enter", strings.Join(why, "; "))
}
