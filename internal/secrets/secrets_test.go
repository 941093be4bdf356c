package secrets

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(t *testing.T, b byte) *MasterKey {
	t.Helper()
	k, err := ParseMasterKey(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)), "test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k := testKey(t, 1)
	secret := "sk_test_51AbCdEfGhIjKlMnOpQrStUv4242"
	sealed := k.Seal(secret, "stripe_secret_key/test")
	if bytes.Contains(sealed, []byte(secret)) || bytes.Contains(sealed, []byte("4242")) && bytes.Contains(sealed, []byte("sk_test")) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := k.Open(sealed, "stripe_secret_key/test")
	if err != nil || got != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k.Open(sealed, "stripe_secret_key/live"); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("open under another purpose: %v, want ErrWrongMasterKey", err)
	}
	if _, err := testKey(t, 2).Open(sealed, "stripe_secret_key/test"); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("open with another key: %v, want ErrWrongMasterKey", err)
	}
	if k.Fingerprint() == testKey(t, 2).Fingerprint() || k.Fingerprint() != testKey(t, 1).Fingerprint() {
		t.Fatal("fingerprint must identify the key")
	}
}

func TestParseMasterKeyErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"not base64!!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := ParseMasterKey(in, MasterKeyEnv); err == nil || !strings.Contains(err.Error(), "openssl rand -base64 32") {
			t.Errorf("ParseMasterKey(%q) = %v, want an error that says how to make one", in, err)
		}
	}
}

func TestLoadMasterKeyFile(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	path := filepath.Join(t.TempDir(), "billwire", "master.key")
	k1, err := LoadMasterKey(noEnv, path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
	k2, err := LoadMasterKey(noEnv, path)
	if err != nil || k2.Fingerprint() != k1.Fingerprint() {
		t.Fatalf("reload gave another key: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMasterKey(noEnv, path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("loose mode accepted: %v", err)
	}
	env := func(string) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) }
	k3, err := LoadMasterKey(env, path)
	if err != nil || k3.Fingerprint() != testKey(t, 7).Fingerprint() {
		t.Fatalf("the environment variable must win over the file: %v", err)
	}
}

func TestMaskAndRedact(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"sk_test_51AbCdEfGhIjKlMnOp4242": "sk_test_…4242",
		"rk_live_51AbCdEfGhIjKlMnOp9999": "rk_live_…9999",
		"whsec_abcdefghijklmnop1234":     "whsec_…1234",
		"sk_test_short":                  "sk_test_…",
		"":                               "",
	}
	for in, want := range cases {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
	msg := "Invalid API Key provided: sk_test_51AbCdEfGhIjKlMnOp4242 and whsec_abcdefghijklmnop1234."
	got := Redact(msg)
	if strings.Contains(got, "51AbCd") || strings.Contains(got, "abcdefgh") || !strings.Contains(got, "sk_test_…4242") {
		t.Fatalf("Redact = %q", got)
	}
}
