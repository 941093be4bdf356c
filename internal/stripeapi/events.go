package stripeapi

import (
	"context"
	"encoding/json"
	"net/url"
)

// Event fetches one event from Stripe's events API, as Stripe sends it now
// (in the account's API version). Stripe keeps events for 30 days: an
// older one answers 404 (IsNotFound).
func (c *Client) Event(ctx context.Context, id string) (json.RawMessage, error) {
	return c.Retrieve(ctx, "/v1/events/"+url.PathEscape(id))
}
