package secrets_test

import (
	"crypto/rand"
	"math/big"
	"strings"
	"testing"
	"testing/quick"
	"unicode/utf8"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/secrets"
)

const (
	alnum     = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	base64Any = alnum + "+/-_="
)

func randomString(t *testing.T, alphabet string, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// keyFormats generate every kind of key billwire issues or stores: its own
// API keys from the real generator, Stripe's secret and restricted keys,
// and signing secrets in any base64 or base64url alphabet.
var keyFormats = []struct {
	prefix string
	gen    func(t *testing.T) string
}{
	{"bwk_", func(*testing.T) string { k, _, _ := auth.NewAPIKey(); return k }},
	{"sk_test_", func(t *testing.T) string { return "sk_test_" + randomString(t, alnum, randLen(t, 24, 100)) }},
	{"sk_live_", func(t *testing.T) string { return "sk_live_" + randomString(t, alnum, randLen(t, 24, 100)) }},
	{"rk_test_", func(t *testing.T) string { return "rk_test_" + randomString(t, alnum, randLen(t, 24, 100)) }},
	{"rk_live_", func(t *testing.T) string { return "rk_live_" + randomString(t, alnum, randLen(t, 24, 100)) }},
	{"whsec_", func(t *testing.T) string { return "whsec_" + randomString(t, base64Any, randLen(t, 16, 90)) }},
}

func randLen(t *testing.T, lo, hi int) int {
	t.Helper()
	k, err := rand.Int(rand.Reader, big.NewInt(int64(hi-lo+1)))
	if err != nil {
		t.Fatal(err)
	}
	return lo + int(k.Int64())
}

// Every generated key, anywhere in any text, is masked entirely but for its
// last four characters, and the text around it is kept.
func TestRedactMasksEveryKeyInAnyText(t *testing.T) {
	t.Parallel()
	// What may sit right after a key: anything that cannot continue it.
	separators := []string{" ", ".", ",", ";", ":", "'", "\"", ")", "]", "}", "\n", "\t", "…", "é", "&", "!", "?", "<", "\\"}
	for _, f := range keyFormats {
		t.Run(f.prefix, func(t *testing.T) {
			t.Parallel()
			prop := func(before, after string, sepIdx uint8) bool {
				key := f.gen(t)
				// The generator's tricky cases: bwk_- and bwk__ starts, - and _ inside.
				if f.prefix == "bwk_" && sepIdx%4 == 0 {
					key = "bwk_-" + key[5:]
				}
				sep := separators[int(sepIdx)%len(separators)]
				if !utf8.ValidString(before) || !utf8.ValidString(after) {
					return true
				}
				in := before + key + sep + after
				got := secrets.Redact(in)
				want := before + secrets.Mask(key) + sep + after
				if got != want {
					t.Logf("Redact(%q)\n = %q\nwant %q", in, got, want)
					return false
				}
				body := key[len(f.prefix):]
				for i := 0; i+5 <= len(body)-4; i++ {
					if strings.Contains(strings.TrimPrefix(got, before), body[i:i+5]) {
						t.Logf("Redact(%q) = %q shows %q", in, got, body[i:i+5])
						return false
					}
				}
				return strings.HasSuffix(secrets.Mask(key), key[len(key)-4:])
			}
			if err := quick.Check(prop, &quick.Config{MaxCount: 500}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Keys next to words, inside JSON, URLs and error messages.
func TestRedactInContext(t *testing.T) {
	t.Parallel()
	for _, f := range keyFormats {
		for range 200 {
			key := f.gen(t)
			for _, tmpl := range []string{"%s", "Bearer %s", "token=%s&x=1", `{"key":"%s"}`, "invalid key:%s.", "key%s", "_%s end", "x-%s", "(%s)", "%s\n%s"} {
				in := strings.ReplaceAll(tmpl, "%s", key)
				got := secrets.Redact(in)
				if strings.Contains(got, key[:len(key)-4]) || strings.Count(got, secrets.Mask(key)) != strings.Count(tmpl, "%s") {
					t.Fatalf("%s: Redact(%q) = %q", f.prefix, in, got)
				}
			}
		}
	}
	// The reported ones: a key with '-' and one starting bwk_-.
	for _, key := range []string{"bwk_abcd-efgh_ijkl-mnop_qrst-uvwx_yz01-2345_6789", "bwk_-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"} {
		if got := secrets.Redact("key " + key + " refused"); got != "key bwk_…"+key[len(key)-4:]+" refused" {
			t.Fatalf("Redact = %q", got)
		}
	}
}

// A signing secret carried escaped: JSON encoders that escape '/' (as
// "\/") and URL query encoding ('+', '/' and '=' as %2B, %2F, %3D) must not
// cut the match short and show the rest of the secret.
func TestRedactEscapedSigningSecrets(t *testing.T) {
	t.Parallel()
	escapes := []struct {
		name string
		esc  func(string) string
	}{
		{"json", func(s string) string { return strings.ReplaceAll(s, "/", `\/`) }},
		{"url", func(s string) string {
			return strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(s)
		}},
		{"url lower", func(s string) string {
			return strings.NewReplacer("+", "%2b", "/", "%2f", "=", "%3d").Replace(s)
		}},
	}
	for _, e := range escapes {
		for range 300 {
			// At least one escaped character early in the body.
			body := randomString(t, alnum, 4) + "/" + randomString(t, base64Any, randLen(t, 16, 60)) + "+="
			key := "whsec_" + body
			in := `{"secret":"` + e.esc(key) + `"} refused`
			got := secrets.Redact(in)
			for i := 0; i+5 <= len(body)-8; i++ {
				chunk := strings.NewReplacer("/", "", "+", "", "=", "").Replace(body[i : i+5])
				if len(chunk) == 5 && strings.Contains(got, chunk) {
					t.Fatalf("%s: Redact(%q) = %q shows %q", e.name, in, got, chunk)
				}
			}
			if !strings.HasSuffix(got, `"} refused`) {
				t.Fatalf("%s: Redact(%q) = %q lost the text after the secret", e.name, in, got)
			}
		}
	}
}
