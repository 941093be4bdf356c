package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/secrets"
)

// Error is a failed Stripe call explained for whoever must fix it. Its text
// never carries a secret.
type Error struct {
	// Status is Stripe's HTTP status (0 when Stripe was not reached).
	Status int
	// Code is Stripe's error code, e.g. resource_missing.
	Code string
	// Param is the request parameter Stripe blamed.
	Param string
	msg   string
	err   error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

// IsNotFound reports whether Stripe said the object does not exist.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == string(stripe.ErrorCodeResourceMissing) || e.Status == http.StatusNotFound)
}

// Temporary reports whether retrying the same call later may succeed.
func Temporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500)
}

func (c *Client) wrap(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	e := &Error{err: err}
	var se *stripe.Error
	if !errors.As(err, &se) {
		e.msg = fmt.Sprintf("%s: could not reach Stripe at %s: %s; check the network (or %s) and retry the same call", op, c.base, secrets.Redact(err.Error()), APIBaseEnv)
		return e
	}
	e.Status, e.Code, e.Param = se.HTTPStatusCode, string(se.Code), se.Param
	said := secrets.Redact(se.Msg)
	if se.RequestID != "" {
		said += " (request " + se.RequestID + ")"
	}
	var hint string
	switch {
	case se.HTTPStatusCode == http.StatusUnauthorized:
		hint = fmt.Sprintf("the stored %s key was refused; set a valid key with configure_stripe_keys (test) or `billwire keys set --env %s`", c.env, c.env)
	case se.HTTPStatusCode == http.StatusForbidden:
		hint = "the restricted key lacks a permission this call needs; grant it in the Stripe Dashboard (Developers → API keys) or use a secret key"
	case se.Code == stripe.ErrorCodeResourceMissing:
		hint = fmt.Sprintf("no such object in this account's %s mode; check the id (list_catalog shows known ids; sync_catalog refreshes them)", c.env)
	case se.HTTPStatusCode == http.StatusTooManyRequests:
		hint = "Stripe's rate limit held after several retries; wait a minute and retry the same call"
	case se.HTTPStatusCode >= 500:
		hint = "Stripe had an internal error; retry the same call (creates are idempotent, nothing is made twice)"
	case se.Param != "":
		hint = fmt.Sprintf("fix the %q argument and retry", se.Param)
	default:
		hint = "fix the request and retry"
	}
	e.msg = fmt.Sprintf("%s: Stripe answered %d: %s; %s", op, se.HTTPStatusCode, said, hint)
	return e
}
