package billing

import (
	"strings"

	"github.com/billwire/billwire/internal/vocab"
)

// ReceiverURL is the URL of billwire serve's webhook receiver for env under
// base, billwire serve's public base URL: the endpoint URL setup_webhook
// and `billwire webhook setup` use when none is given.
func ReceiverURL(base string, env vocab.Env) string {
	return strings.TrimRight(base, "/") + "/webhooks/stripe/" + string(env)
}
