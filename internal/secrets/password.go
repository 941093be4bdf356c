package secrets

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of a password hash.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2 is the cost of new password hashes: argon2id with 64 MiB,
// three passes and two lanes, RFC 9106's second recommended option with the
// lanes this project's two-core machines have. One verification takes a
// few hundred milliseconds and 64 MiB, which is why the dashboard
// rate-limits logins and hashes at most two at a time.
var DefaultArgon2 = Argon2Params{MemoryKiB: 64 * 1024, Time: 3, Threads: 2}

// Password length bounds, in characters (the upper one in bytes keeps a
// hash from being asked to chew megabytes).
const (
	MinPasswordLen   = 12
	MaxPasswordBytes = 1024
)

// ErrPasswordHash means a stored password hash is not one billwire wrote.
var ErrPasswordHash = errors.New("stored password hash is not an argon2id hash billwire wrote: set the password again with `billwire admin set-password`")

// CheckPassword says what is wrong with a new password, or nil.
func CheckPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return fmt.Errorf("password too short: use at least %d characters (a few random words make a good one)", MinPasswordLen)
	case len(pw) > MaxPasswordBytes:
		return fmt.Errorf("password too long: at most %d bytes", MaxPasswordBytes)
	case !utf8.ValidString(pw):
		return errors.New("password is not valid UTF-8 text")
	}
	return nil
}

// HashPassword returns pw hashed with argon2id under p and a random salt,
// in the PHC string format ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so the
// parameters travel with the hash and can be raised later.
func HashPassword(pw string, p Argon2Params) (string, error) {
	if err := CheckPassword(pw); err != nil {
		return "", err
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	sum := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(sum)), nil
}

// VerifyPassword reports whether pw matches encoded (from HashPassword), in
// time that does not depend on where they differ.
func VerifyPassword(pw, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, ErrPasswordHash
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil ||
		p.MemoryKiB == 0 || p.MemoryKiB > 1<<22 || p.Time == 0 || p.Time > 100 || p.Threads == 0 {
		return false, ErrPasswordHash
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 {
		return false, ErrPasswordHash
	}
	if len(pw) > MaxPasswordBytes {
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
