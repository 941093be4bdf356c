package runtime

import (
	"net/http"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/usage"
	"github.com/billwire/billwire/internal/vocab"
)

// ingestUsage serves POST /api/payments/{env}/usage: the app's backend (an
// API key; an end user's token is refused) reports usage, committed before
// the 202.
func (a *api) ingestUsage(r *http.Request, env vocab.Env, c *auth.Caller) (int, any, error) {
	if c.Kind != "apikey" {
		return 0, nil, fault.New(fault.Forbidden, "api_key_required", "usage is reported by the app's backend with its API key (Authorization: Bearer bwk_…), never with an end user's token")
	}
	req, err := usage.Decode(http.MaxBytesReader(nil, r.Body, usage.MaxBody))
	if err != nil {
		return 0, nil, err
	}
	res, err := a.usage.Ingest(r.Context(), env, c.ID, r.Header.Get("Idempotency-Key"), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, res, nil
}
