package stripeapi

import (
	"context"
	"net/http"

	"github.com/stripe/stripe-go/v79"
)

// CreateCustomer creates a customer.
func (c *Client) CreateCustomer(ctx context.Context, p *stripe.CustomerParams, idempotencyKey string) (*stripe.Customer, error) {
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	var out *stripe.Customer
	err := c.call(ctx, func() (err error) { out, err = c.api.Customers.New(p); return err })
	if err != nil {
		return nil, c.wrap("create customer", err)
	}
	return out, nil
}

// CreatedSession is what billwire reads of a created Checkout Session; the
// webhook projection stores the whole object when its events arrive.
type CreatedSession struct {
	stripe.APIResource
	ID  string `json:"id"`
	URL string `json:"url"`
}

// CreateCheckoutSession creates a Checkout Session. Only its id and URL are
// decoded: the session API answers with those and stores them.
func (c *Client) CreateCheckoutSession(ctx context.Context, p *stripe.CheckoutSessionParams, idempotencyKey string) (*CreatedSession, error) {
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	out := &CreatedSession{}
	err := c.call(ctx, func() error {
		return c.backend.Call(http.MethodPost, "/v1/checkout/sessions", c.key, p, out)
	})
	if err != nil {
		return nil, c.wrap("create checkout session", err)
	}
	return out, nil
}

// CreatePortalSession creates a Billing Portal session.
func (c *Client) CreatePortalSession(ctx context.Context, p *stripe.BillingPortalSessionParams) (*stripe.BillingPortalSession, error) {
	p.Context = ctx
	var out *stripe.BillingPortalSession
	err := c.call(ctx, func() (err error) { out, err = c.api.BillingPortalSessions.New(p); return err })
	if err != nil {
		return nil, c.wrap("create billing portal session", err)
	}
	return out, nil
}

// CreatePortalConfiguration creates a Billing Portal configuration.
func (c *Client) CreatePortalConfiguration(ctx context.Context, p *stripe.BillingPortalConfigurationParams, idempotencyKey string) (*stripe.BillingPortalConfiguration, error) {
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	var out *stripe.BillingPortalConfiguration
	err := c.call(ctx, func() (err error) { out, err = c.api.BillingPortalConfigurations.New(p); return err })
	if err != nil {
		return nil, c.wrap("create billing portal configuration", err)
	}
	return out, nil
}

// UpdatePortalConfiguration changes a Billing Portal configuration.
func (c *Client) UpdatePortalConfiguration(ctx context.Context, id string, p *stripe.BillingPortalConfigurationParams) (*stripe.BillingPortalConfiguration, error) {
	p.Context = ctx
	var out *stripe.BillingPortalConfiguration
	err := c.call(ctx, func() (err error) { out, err = c.api.BillingPortalConfigurations.Update(id, p); return err })
	if err != nil {
		return nil, c.wrap("update billing portal configuration", err)
	}
	return out, nil
}
