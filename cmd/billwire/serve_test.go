package main

import (
	"strings"
	"testing"
)

// serveEnv is an environment for billwire serve whose database is
// unreachable: a configuration refused at start never gets that far.
func serveEnv(t *testing.T, vars ...string) map[string]string {
	e := map[string]string{
		"DATABASE_URL":        "postgres://billwire@127.0.0.1:1/none?connect_timeout=2",
		"BILLWIRE_MASTER_KEY": masterKeyB64(9),
		"XDG_CONFIG_HOME":     t.TempDir(),
		"HOME":                t.TempDir(),
	}
	for i := 0; i+1 < len(vars); i += 2 {
		e[vars[i]] = vars[i+1]
	}
	return e
}

const serveSecret = "a-test-secret-of-at-least-32-characters!"

// billwire serve refuses a JWT configuration that would accept tokens of
// any issuer, audience or environment, and says which setting is missing.
func TestServeRefusesUnsafeJWTConfig(t *testing.T) {
	t.Parallel()
	jwks := "https://id.example.com/.well-known/jwks.json"
	cases := []struct {
		name  string
		vars  []string
		want  []string
		avoid []string
	}{
		{"jwks without issuer and audience", []string{"BILLWIRE_JWKS_URL", jwks, "BILLWIRE_JWT_ENV", "test"},
			[]string{"BILLWIRE_JWT_ISSUER", "BILLWIRE_JWT_AUDIENCE", "any issuer", "any audience"}, nil},
		{"jwks without audience", []string{"BILLWIRE_JWKS_URL", jwks, "BILLWIRE_JWT_ENV", "test", "BILLWIRE_JWT_ISSUER", "https://id.example.com/"},
			[]string{"BILLWIRE_JWT_AUDIENCE", "any audience"}, []string{"BILLWIRE_JWT_ISSUER is"}},
		{"jwks without issuer", []string{"BILLWIRE_JWKS_URL", jwks, "BILLWIRE_JWT_ENV", "live", "BILLWIRE_JWT_AUDIENCE", "billing"},
			[]string{"BILLWIRE_JWT_ISSUER", "any issuer"}, []string{"BILLWIRE_JWT_AUDIENCE is"}},
		{"hs256 without env", []string{"BILLWIRE_JWT_HS256_SECRET", serveSecret},
			[]string{"BILLWIRE_JWT_ENV", "test", "live"}, nil},
		{"jwks without env", []string{"BILLWIRE_JWKS_URL", jwks, "BILLWIRE_JWT_ISSUER", "https://id.example.com/", "BILLWIRE_JWT_AUDIENCE", "billing"},
			[]string{"BILLWIRE_JWT_ENV"}, nil},
		{"env of another name", []string{"BILLWIRE_JWT_HS256_SECRET", serveSecret, "BILLWIRE_JWT_ENV", "production"},
			[]string{"BILLWIRE_JWT_ENV", `"production"`}, nil},
	}
	for _, c := range cases {
		code, out, errs := cli(t, serveEnv(t, c.vars...), "", "serve", "--addr", "127.0.0.1:0")
		if code == 0 {
			t.Errorf("%s: serve started (%s)", c.name, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: stderr does not say %q:\n%s", c.name, w, errs)
			}
		}
		for _, a := range c.avoid {
			if strings.Contains(errs, a) {
				t.Errorf("%s: stderr says %q:\n%s", c.name, a, errs)
			}
		}
		if strings.Contains(errs, "PostgreSQL") || strings.Contains(errs, serveSecret) {
			t.Errorf("%s: serve got past its configuration or printed the secret:\n%s", c.name, errs)
		}
	}
}

// With HS256 and no issuer or audience, billwire serve starts with a
// warning for each; with both, without.
func TestServeWarnsHS256WithoutIssuerOrAudience(t *testing.T) {
	t.Parallel()
	_, _, errs := cli(t, serveEnv(t, "BILLWIRE_JWT_HS256_SECRET", serveSecret, "BILLWIRE_JWT_ENV", "test"), "", "serve", "--addr", "127.0.0.1:0")
	var warns []string
	for _, l := range strings.Split(errs, "\n") {
		if strings.Contains(l, `"level":"warn"`) {
			warns = append(warns, l)
		}
	}
	all := strings.Join(warns, "\n")
	if !strings.Contains(all, "BILLWIRE_JWT_ISSUER") || !strings.Contains(all, "BILLWIRE_JWT_AUDIENCE") {
		t.Errorf("no start-up warnings for the missing issuer and audience:\n%s", errs)
	}
	if !strings.Contains(errs, "PostgreSQL") {
		t.Errorf("serve did not go on to its database after the warnings:\n%s", errs)
	}
	if strings.Contains(errs, serveSecret) {
		t.Errorf("the secret is in stderr:\n%s", errs)
	}
	_, _, errs = cli(t, serveEnv(t, "BILLWIRE_JWT_HS256_SECRET", serveSecret, "BILLWIRE_JWT_ENV", "test",
		"BILLWIRE_JWT_ISSUER", "https://id.example.com/", "BILLWIRE_JWT_AUDIENCE", "billing"), "", "serve", "--addr", "127.0.0.1:0")
	if strings.Contains(errs, "BILLWIRE_JWT_ISSUER") || strings.Contains(errs, "BILLWIRE_JWT_AUDIENCE") {
		t.Errorf("warnings with issuer and audience set:\n%s", errs)
	}
}
