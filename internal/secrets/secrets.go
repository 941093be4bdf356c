// Package secrets keeps Stripe keys and webhook secrets safe: it loads the
// master key, seals values with AES-256-GCM, and masks them for display.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// MasterKeyEnv names the environment variable that carries the master key.
const MasterKeyEnv = "BILLWIRE_MASTER_KEY"

// ErrWrongMasterKey means a sealed value was not sealed under this master key.
var ErrWrongMasterKey = errors.New("secret cannot be decrypted with this master key")

// MasterKey is the 32-byte key that seals every secret billwire stores.
type MasterKey struct {
	aead   cipher.AEAD
	finger string
	// Source says where the key came from, for messages: the variable name or the file path.
	Source string
}

// ParseMasterKey decodes a base64 master key of exactly 32 bytes.
func ParseMasterKey(b64, source string) (*MasterKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimSpace(b64))
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not valid base64: generate one with `openssl rand -base64 32`", source)
	}
	if len(raw) != 32 {
		return nil, fmt.Errorf("%s decodes to %d bytes, want 32: generate one with `openssl rand -base64 32`", source, len(raw))
	}
	return newMasterKey(raw, source)
}

func newMasterKey(raw []byte, source string) (*MasterKey, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("billwire master key fingerprint v1"))
	return &MasterKey{aead: aead, finger: hex.EncodeToString(mac.Sum(nil)[:16]), Source: source}, nil
}

// LoadMasterKey returns the master key from BILLWIRE_MASTER_KEY when set, else
// from keyFile, creating that file with mode 0600 when it does not exist. A key
// file readable or writable by group or others is refused.
func LoadMasterKey(getenv func(string) string, keyFile string) (*MasterKey, error) {
	if v := getenv(MasterKeyEnv); v != "" {
		return ParseMasterKey(v, MasterKeyEnv)
	}
	if keyFile == "" {
		return nil, fmt.Errorf("no master key: set %s (base64 of 32 bytes) or make a user config directory available", MasterKeyEnv)
	}
	st, err := os.Stat(keyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createKeyFile(keyFile)
	case err != nil:
		return nil, fmt.Errorf("master key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("master key file %s has mode %04o; it must not be readable by others: run `chmod 600 %s`", keyFile, st.Mode().Perm(), keyFile)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	return ParseMasterKey(string(b), "master key file "+keyFile)
}

// DefaultKeyFile is the key file under the user's config directory
// ($XDG_CONFIG_HOME, else the platform's, e.g. ~/.config on Linux).
func DefaultKeyFile(getenv func(string) string) string {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		var err error
		if dir, err = os.UserConfigDir(); err != nil {
			return ""
		}
	}
	return filepath.Join(dir, "billwire", "master.key")
}

func createKeyFile(path string) (*MasterKey, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create master key directory: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process won the race: use its key
		return LoadMasterKey(func(string) string { return "" }, path)
	}
	if err != nil {
		return nil, fmt.Errorf("create master key file: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write master key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write master key file: %w", err)
	}
	return newMasterKey(raw, "master key file "+path)
}

// Fingerprint identifies the key without revealing it; the database records it
// so that processes with different keys refuse to share one database.
func (k *MasterKey) Fingerprint() string { return k.finger }

// Seal encrypts plaintext; purpose (e.g. "stripe_secret_key/test") is bound as
// associated data, so a sealed value cannot be moved to another field.
func (k *MasterKey) Seal(plaintext, purpose string) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead()+1)
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	out := append([]byte{1}, nonce...)
	return k.aead.Seal(out, nonce, []byte(plaintext), []byte(purpose))
}

// Open decrypts a value made by Seal for the same purpose.
func (k *MasterKey) Open(sealed []byte, purpose string) (string, error) {
	n := k.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != 1 {
		return "", ErrWrongMasterKey
	}
	pt, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(purpose))
	if err != nil {
		return "", ErrWrongMasterKey
	}
	return string(pt), nil
}

// Mask shows a secret as its prefix and last four characters: sk_test_…4242.
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	prefix := ""
	for _, p := range []string{"sk_test_", "sk_live_", "rk_test_", "rk_live_", "whsec_", "bwk_"} {
		if strings.HasPrefix(secret, p) {
			prefix = p
			break
		}
	}
	rest := secret[len(prefix):]
	if len(rest) <= 8 {
		return prefix + "…"
	}
	return prefix + "…" + rest[len(rest)-4:]
}

// secretRE matches every key format billwire issues or stores, wherever it
// sits in a text (after a letter too: no word boundary is required): its
// own API keys (bwk_ + base64url, so - and _ may appear anywhere, even
// first), Stripe's secret and restricted keys, and signing secrets in any
// base64 or base64url alphabet, also when a JSON encoder escaped '/' as
// "\/" or a URL encoded '+', '/' and '=' (%2B, %2F, %3D). * covers keys
// Stripe already masked.
var secretRE = regexp.MustCompile(`(?:(?:sk|rk)_(?:test|live)_|bwk_)[A-Za-z0-9_*-]{8,}|whsec_(?:[A-Za-z0-9_*+/=-]|\\/|%(?i:2B|2F|3D)){8,}`)

// Redact masks anything in s that looks like a secret key or signing secret,
// keeping at most its last four characters; the text around it is kept.
// Every error text that may carry Stripe's words passes through it.
func Redact(s string) string {
	return secretRE.ReplaceAllStringFunc(s, Mask)
}
