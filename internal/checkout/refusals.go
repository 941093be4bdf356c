package checkout

import (
	"errors"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/stripeapi"
)

// stripeProblem turns a failed Stripe call into a refusal for the caller
// (a fault.Upstream). The message keeps only what Stripe said about the
// request itself (a 4xx other than 401, 403 and 429, which are about
// billwire's key or pace), without billwire's operation, Stripe's request
// id or hints for the operator; everything else gets a generic message.
// The whole text is the cause.
func stripeProblem(err error) *fault.Error {
	var se *stripeapi.Error
	var sErr *stripe.Error
	switch {
	case errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden):
		return fault.Wrap(fault.Upstream, "stripe_rejected", "Stripe refused billwire's credentials; the operator must check billwire serve's log", err)
	case errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != http.StatusTooManyRequests:
		msg := "Stripe refused the request"
		if errors.As(err, &sErr) && sErr.Msg != "" {
			msg += ": " + secrets.Redact(sErr.Msg)
		}
		return fault.Wrap(fault.Upstream, "stripe_rejected", msg, err)
	}
	return fault.Wrap(fault.Upstream, "stripe_unavailable", "Stripe could not be reached or did not answer; retry shortly", err)
}

// unavailable turns a store failure into a refusal (StoreFailure).
func (s *Service) unavailable(err error) *fault.Error { return StoreFailure(s.log, err) }

// StoreFailure turns a store failure into a refusal: a database that does
// not answer is a fault.Unavailable to retry; anything else is logged and
// a fault.Internal, without internals in its message. A fault.Error is
// returned as it is.
func StoreFailure(log zerolog.Logger, err error) *fault.Error {
	if f, ok := fault.As(err); ok {
		return f
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !strings.HasPrefix(pe.Code, "08") && !strings.HasPrefix(pe.Code, "57") && !strings.HasPrefix(pe.Code, "53") {
		log.Error().Str("error", secrets.Redact(err.Error())).Msg("session API")
		return fault.Wrap(fault.Internal, "internal_error", "billwire could not record the request; the error is in billwire serve's log", err)
	}
	log.Warn().Str("error", secrets.Redact(err.Error())).Msg("session API: database unavailable")
	return fault.Wrap(fault.Unavailable, "database_unavailable", "billwire's database is unavailable; retry shortly", err)
}
