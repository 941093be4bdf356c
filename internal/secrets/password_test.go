package secrets

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPasswordHashVerify(t *testing.T) {
	t.Parallel()
	pw := "correct horse battery staple"
	start := time.Now()
	h, err := HashPassword(pw, DefaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("argon2id %+v took %v", DefaultArgon2, time.Since(start))
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") || strings.Contains(h, pw) {
		t.Fatalf("hash = %q", h)
	}
	h2, _ := HashPassword(pw, DefaultArgon2)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{{pw, true}, {pw + " ", false}, {"Correct horse battery staple", false}, {"", false}, {strings.Repeat("x", MaxPasswordBytes+1), false}} {
		ok, err := VerifyPassword(c.pw, h)
		if err != nil || ok != c.want {
			t.Errorf("VerifyPassword(%.20q) = %v, %v; want %v", c.pw, ok, err, c.want)
		}
	}
}

func TestPasswordParamsTravelWithTheHash(t *testing.T) {
	t.Parallel()
	cheap := Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}
	h, err := HashPassword("a long enough password", cheap)
	if err != nil || !strings.Contains(h, "$m=1024,t=1,p=1$") {
		t.Fatalf("hash = %q, %v", h, err)
	}
	if ok, err := VerifyPassword("a long enough password", h); !ok || err != nil {
		t.Fatalf("verify = %v, %v", ok, err)
	}
}

func TestPasswordRules(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"", "short", "elevenchars", "\xff\xfe invalid utf-8 bytes", strings.Repeat("x", MaxPasswordBytes+1)} {
		if _, err := HashPassword(pw, DefaultArgon2); err == nil {
			t.Errorf("HashPassword(%.20q) accepted", pw)
		}
	}
	if err := CheckPassword("twelve chars"); err != nil {
		t.Errorf("12 characters refused: %v", err)
	}
}

func TestVerifyRejectsForeignHashes(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"", "plaintext", "$2b$10$abcdefghijklmnopqrstuv", "$argon2i$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=0,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=99999999,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1024,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA"} {
		if ok, err := VerifyPassword("whatever password", h); ok || !errors.Is(err, ErrPasswordHash) {
			t.Errorf("VerifyPassword(%q) = %v, %v", h, ok, err)
		}
	}
}
