package stripeapi

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/stripe/stripe-go/v79"
)

// CreateMeter creates a billing meter; the raw JSON is the full Stripe object.
func (c *Client) CreateMeter(ctx context.Context, p *stripe.BillingMeterParams, idempotencyKey string) (*stripe.BillingMeter, json.RawMessage, error) {
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	var out *stripe.BillingMeter
	err := c.call(ctx, func() (err error) { out, err = c.api.BillingMeters.New(p); return err })
	if err != nil {
		return nil, nil, c.wrap("create meter", err)
	}
	return out, out.LastResponse.RawJSON, nil
}

// ListMeters lists one page of billing meters.
func (c *Client) ListMeters(ctx context.Context, startingAfter string, limit int, filters url.Values) (*Page, error) {
	return c.ListPage(ctx, "/v1/billing/meters", startingAfter, limit, filters)
}
