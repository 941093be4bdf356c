package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
)

func TestAdminSetPassword(t *testing.T) {
	t.Parallel()
	e := env(t, "")
	const pw = "a long dashboard passphrase"
	code, out, errs := cli(t, e, pw+"\n", "admin", "set-password")
	if code != 0 || !strings.Contains(out, "dashboard password set") || strings.Contains(out+errs, pw) {
		t.Fatalf("set-password = %d %q %q", code, out, errs)
	}
	key, err := secrets.ParseMasterKey(e["BILLWIRE_MASTER_KEY"], "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, e["DATABASE_URL"], key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hash, err := st.AdminPasswordHash(ctx)
	if err != nil || !strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=3,p=2$") || strings.Contains(hash, pw) {
		t.Fatalf("stored hash = %q, %v", hash, err)
	}
	if ok, err := secrets.VerifyPassword(pw, hash); !ok || err != nil {
		t.Fatalf("the stored hash does not verify the password: %v %v", ok, err)
	}
	// Setting it again signs every session out.
	if err := st.CreateSession(ctx, []byte("a session token hash"), "csrf", time.Hour); err != nil {
		t.Fatal(err)
	}
	code, out, errs = cli(t, e, "another long passphrase\n", "admin", "set-password")
	if code != 0 || !strings.Contains(out, "1 signed-in session(s) signed out") {
		t.Fatalf("second set-password = %d %q %q", code, out, errs)
	}
	if _, err := st.Session(ctx, []byte("a session token hash")); err != store.ErrNotFound {
		t.Fatalf("session after a new password: %v", err)
	}
	for _, c := range []struct {
		stdin, want string
		args        []string
	}{
		{"short\n", "at least 12 characters", []string{"admin", "set-password"}},
		{"", "no password given", []string{"admin", "set-password"}},
		{"", "set-password", []string{"admin"}},
		{"", `unknown subcommand "reset"`, []string{"admin", "reset"}},
		{"", "unexpected argument", []string{"admin", "set-password", "hunter2hunter2"}},
	} {
		code, _, errs := cli(t, e, c.stdin, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v with %q = %d %q, want 2 and %q", c.args, c.stdin, code, errs, c.want)
		}
	}
	if h, _ := st.AdminPasswordHash(ctx); h == hash {
		t.Error("the second password was not stored")
	} else if ok, _ := secrets.VerifyPassword("another long passphrase", h); !ok {
		t.Error("refused attempts changed the password")
	}
}

// The dashboard through the binary: set the password, serve, sign in, read a page.
func TestServeDashboard(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	e := env(t, "")
	const pw = "serve dashboard passphrase"
	if code, out, errs := cli(t, e, pw+"\n", "admin", "set-password"); code != 0 {
		t.Fatalf("set-password: %d %s %s", code, out, errs)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--addr", addr)
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := "http://" + addr
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	var resp *http.Response
	var err error
	for range 100 {
		if resp, err = c.Get(base + "/dashboard/test/settings"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/dashboard/login" || !strings.Contains(string(body), `type="password"`) {
		t.Fatalf("without a session: %s %d", resp.Request.URL, resp.StatusCode)
	}
	resp, err = c.PostForm(base+"/dashboard/login", url.Values{"password": {pw}, "next": {"/dashboard/test/settings"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/dashboard/test/settings" || !strings.Contains(string(body), "billwire keys set --env test") {
		t.Fatalf("after sign-in: %s %d\n%s", resp.Request.URL, resp.StatusCode, body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil || strings.Contains(stderr.String(), pw) {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
}
