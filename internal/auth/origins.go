package auth

import (
	"fmt"
	"net/url"
	"strings"
)

// Origins is the set of web origins (scheme://host[:port]) billwire's session
// API answers CORS requests from and redirects to (BILLWIRE_ALLOWED_ORIGINS).
type Origins struct{ set map[string]bool }

// ParseOrigins reads a comma- or space-separated list of origins.
func ParseOrigins(list string) (Origins, error) {
	o := Origins{set: map[string]bool{}}
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		n, err := normOrigin(f)
		if err != nil {
			return o, fmt.Errorf("BILLWIRE_ALLOWED_ORIGINS: %q is not an origin (scheme://host[:port], no path): %w", f, err)
		}
		o.set[n] = true
	}
	return o, nil
}

// With returns o plus origin (ignored when it does not parse).
func (o Origins) With(origin string) Origins {
	out := Origins{set: map[string]bool{}}
	for k := range o.set {
		out.set[k] = true
	}
	if n, err := normOrigin(origin); err == nil {
		out.set[n] = true
	}
	return out
}

// Empty reports whether no origin is allowed.
func (o Origins) Empty() bool { return len(o.set) == 0 }

// List returns the origins.
func (o Origins) List() []string {
	out := make([]string, 0, len(o.set))
	for k := range o.set {
		out = append(out, k)
	}
	return out
}

// AllowsOrigin reports whether an Origin header is allowed (exact match).
func (o Origins) AllowsOrigin(origin string) bool {
	n, err := normOrigin(origin)
	return err == nil && o.set[n]
}

// CheckRedirect checks that raw is an absolute URL on an allowed origin:
// the same scheme, host and port exactly, no user info.
func (o Origins) CheckRedirect(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%s %q must be an absolute http(s) URL", field, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%s must not carry user info", field)
	}
	n, err := normOrigin(u.Scheme + "://" + u.Host)
	if err != nil || !o.set[n] {
		if o.Empty() {
			return fmt.Errorf("%s %q is not allowed: no origins are allowed yet; set BILLWIRE_ALLOWED_ORIGINS to the app's origins (e.g. https://app.example.com) on billwire serve", field, raw)
		}
		return fmt.Errorf("%s %q is not on an allowed origin (allowed: %s); set BILLWIRE_ALLOWED_ORIGINS to include it", field, raw, strings.Join(o.List(), ", "))
	}
	return nil
}

// normOrigin lowercases scheme and host and drops the scheme's default port.
func normOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("need http or https and a host")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("an origin has no path, query or user info")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return strings.ToLower(u.Scheme) + "://" + host, nil
}
