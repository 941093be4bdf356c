package stripetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// MockURLEnv names the environment variable that, when set, makes [Mock]
// return its value instead of starting stripe-mock (for example to use a
// stripe-mock container started by CI).
const MockURLEnv = "BILLWIRE_STRIPE_MOCK_URL"

const (
	stripeMockPkg = "github.com/stripe/stripe-mock"
	// mockStartTimeout bounds how long Mock waits for stripe-mock to answer.
	mockStartTimeout = 60 * time.Second
	// mockOutputLimit caps how much of stripe-mock's output is kept for
	// error messages (it logs a line per request).
	mockOutputLimit = 64 << 10
)

var mock struct {
	mu      sync.Mutex
	started bool // a start was attempted; url or err is set
	url     string
	err     error
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
}

// Mock returns the base URL (such as "http://127.0.0.1:40123") of a
// stripe-mock server shared by the whole test process. The first call builds
// stripe-mock with the go toolchain at the version pinned in go.mod (the
// binary is cached under the user cache directory, so only the first build
// on a machine is slow) and starts it on free loopback ports; later calls
// return the same URL. If the start failed, every call fails tb with the
// same error.
//
// When the environment variable BILLWIRE_STRIPE_MOCK_URL is set, Mock
// returns it and starts nothing.
//
// On Linux stripe-mock is killed when the test process dies; call
// [StopMock] from TestMain to stop it explicitly.
func Mock(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv(MockURLEnv); u != "" {
		return strings.TrimRight(u, "/")
	}
	mock.mu.Lock()
	defer mock.mu.Unlock()
	if !mock.started {
		mock.started = true
		mock.url, mock.cmd, mock.exited, mock.err = startMock()
	}
	if mock.err != nil {
		tb.Fatalf("stripetest: stripe-mock is unavailable: %v", mock.err)
	}
	return mock.url
}

// StopMock kills the stripe-mock process started by [Mock] and waits for it
// to exit. It is safe to call when stripe-mock was never started; a later
// call to Mock starts a new server.
func StopMock() {
	mock.mu.Lock()
	defer mock.mu.Unlock()
	if mock.cmd != nil && mock.cmd.Process != nil {
		_ = mock.cmd.Process.Kill()
		<-mock.exited
	}
	mock.started, mock.url, mock.err, mock.cmd, mock.exited = false, "", nil, nil, nil
}

// startMock builds (or reuses) the stripe-mock binary and launches it.
func startMock() (string, *exec.Cmd, chan struct{}, error) {
	bin, err := mockBinary()
	if err != nil {
		return "", nil, nil, err
	}
	return launchMock(bin)
}

// launchMock starts the stripe-mock binary bin and waits until it answers.
// The returned channel is closed once the process has exited.
func launchMock(bin string) (string, *exec.Cmd, chan struct{}, error) {
	// Port 0 lets the kernel choose free ports, so parallel test binaries
	// never collide; stripe-mock prints the addresses it bound. -https-addr
	// is required: without it stripe-mock also binds its default HTTPS port.
	out := &cappedBuffer{limit: mockOutputLimit}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = mockSysProcAttr()
	if err := cmd.Start(); err != nil {
		return "", nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	fail := func(format string, args ...any) (string, *exec.Cmd, chan struct{}, error) {
		_ = cmd.Process.Kill()
		<-exited
		return "", nil, nil, fmt.Errorf("%s (%s); stripe-mock output:\n%s", fmt.Sprintf(format, args...), bin, out.String())
	}

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(mockStartTimeout)
	var addr string
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fail("stripe-mock exited during start-up: %v", waitErr)
		case <-time.After(50 * time.Millisecond):
		}
		if addr == "" {
			addr = listenAddr(out.String(), "HTTP")
			if addr == "" {
				continue
			}
		}
		lastErr = probeMock(client, "http://"+addr)
		if lastErr == nil {
			return "http://" + addr, cmd, exited, nil
		}
	}
	if addr == "" {
		return fail("stripe-mock did not report its HTTP address within %v", mockStartTimeout)
	}
	return fail("stripe-mock at %s did not answer within %v: %v", addr, mockStartTimeout, lastErr)
}

// probeMock checks that stripe-mock at base answers an authenticated list
// request with 200.
func probeMock(client *http.Client, base string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/products", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer sk_test_123")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/products answered %s", resp.Status)
	}
	return nil
}

// listenAddr finds the address in stripe-mock's "Listening for HTTP at
// address: 127.0.0.1:1234" line.
func listenAddr(output, protocol string) string {
	prefix := "Listening for " + protocol + " at address: "
	sc := bufio.NewScanner(strings.NewReader(output))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// mockBinary returns the path of a stripe-mock binary built from the version
// that go.mod requires, building it if it is not cached yet.
func mockBinary() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	version, err := requiredVersion(filepath.Join(root, "go.mod"), stripeMockPkg)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "billwire", "stripe-mock-"+version)
	bin := filepath.Join(dir, "stripe-mock")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Build into a private directory, then rename into place atomically, so
	// concurrent test binaries never see (or run) a half-written file.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building stripe-mock needs the go command: %w", err)
	}
	built := filepath.Join(tmp, "stripe-mock")
	build := exec.Command(goCmd, "build", "-o", built, stripeMockPkg)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s in %s: %v\n%s", stripeMockPkg, root, err, out)
	}
	if err := os.Rename(built, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

// requiredVersion returns the version of module path that the go.mod file
// requires.
func requiredVersion(gomod, path string) (string, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "require" {
			f = f[1:]
		}
		if len(f) >= 2 && f[0] == path {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("%s does not require %s", gomod, path)
}

// cappedBuffer is a concurrency-safe writer keeping the first limit bytes
// written to it. It never fails a write: a failing stdout would kill the
// child process with SIGPIPE.
type cappedBuffer struct {
	mu    sync.Mutex
	limit int
	buf   bytes.Buffer
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
