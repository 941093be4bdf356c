package stripeapi

import (
	"context"

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

// CreateCheckoutSession creates a Checkout Session.
func (c *Client) CreateCheckoutSession(ctx context.Context, p *stripe.CheckoutSessionParams, idempotencyKey string) (*stripe.CheckoutSession, error) {
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	var out *stripe.CheckoutSession
	err := c.call(ctx, func() (err error) { out, err = c.api.CheckoutSessions.New(p); return err })
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
