package stripeapi

import (
	"context"

	"github.com/stripe/stripe-go/v79"
)

// AttachPaymentMethod attaches payment method pm (an id, or one of
// Stripe's test tokens such as pm_card_visa) to a customer and returns the
// attached payment method.
func (c *Client) AttachPaymentMethod(ctx context.Context, pm, customer, idempotencyKey string) (*stripe.PaymentMethod, error) {
	p := &stripe.PaymentMethodAttachParams{Customer: stripe.String(customer)}
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	var out *stripe.PaymentMethod
	err := c.call(ctx, func() (err error) { out, err = c.api.PaymentMethods.Attach(pm, p); return err })
	if err != nil {
		return nil, c.wrap("attach payment method", err)
	}
	return out, nil
}

// CreateSubscription creates a subscription.
func (c *Client) CreateSubscription(ctx context.Context, p *stripe.SubscriptionParams, idempotencyKey string) (*stripe.Subscription, error) {
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	var out *stripe.Subscription
	err := c.call(ctx, func() (err error) { out, err = c.api.Subscriptions.New(p); return err })
	if err != nil {
		return nil, c.wrap("create subscription", err)
	}
	return out, nil
}

// Subscription retrieves a subscription, with the fields named by expand
// expanded.
func (c *Client) Subscription(ctx context.Context, id string, expand ...string) (*stripe.Subscription, error) {
	p := &stripe.SubscriptionParams{}
	p.Context = ctx
	for _, e := range expand {
		p.AddExpand(e)
	}
	var out *stripe.Subscription
	err := c.call(ctx, func() (err error) { out, err = c.api.Subscriptions.Get(id, p); return err })
	if err != nil {
		return nil, c.wrap("retrieve subscription", err)
	}
	return out, nil
}

// CancelSubscriptionAtPeriodEnd sets a subscription to end at the end of
// its period.
func (c *Client) CancelSubscriptionAtPeriodEnd(ctx context.Context, id string) (*stripe.Subscription, error) {
	p := &stripe.SubscriptionParams{CancelAtPeriodEnd: stripe.Bool(true)}
	p.Context = ctx
	var out *stripe.Subscription
	err := c.call(ctx, func() (err error) { out, err = c.api.Subscriptions.Update(id, p); return err })
	if err != nil {
		return nil, c.wrap("cancel subscription at period end", err)
	}
	return out, nil
}

// CancelSubscription ends a subscription now.
func (c *Client) CancelSubscription(ctx context.Context, id string) (*stripe.Subscription, error) {
	p := &stripe.SubscriptionCancelParams{}
	p.Context = ctx
	var out *stripe.Subscription
	err := c.call(ctx, func() (err error) { out, err = c.api.Subscriptions.Cancel(id, p); return err })
	if err != nil {
		return nil, c.wrap("cancel subscription", err)
	}
	return out, nil
}

// UpdateSubscription updates a subscription (items, cancellation,
// proration) under idempotencyKey ("" for none).
func (c *Client) UpdateSubscription(ctx context.Context, id string, p *stripe.SubscriptionParams, idempotencyKey string) (*stripe.Subscription, error) {
	p.Context = ctx
	if idempotencyKey != "" {
		p.SetIdempotencyKey(idempotencyKey)
	}
	var out *stripe.Subscription
	err := c.call(ctx, func() (err error) { out, err = c.api.Subscriptions.Update(id, p); return err })
	if err != nil {
		return nil, c.wrap("update subscription", err)
	}
	return out, nil
}

// ResumeSubscription resumes a paused subscription.
func (c *Client) ResumeSubscription(ctx context.Context, id string, p *stripe.SubscriptionResumeParams, idempotencyKey string) (*stripe.Subscription, error) {
	p.Context = ctx
	if idempotencyKey != "" {
		p.SetIdempotencyKey(idempotencyKey)
	}
	var out *stripe.Subscription
	err := c.call(ctx, func() (err error) { out, err = c.api.Subscriptions.Resume(id, p); return err })
	if err != nil {
		return nil, c.wrap("resume subscription", err)
	}
	return out, nil
}

// PreviewInvoice previews the invoice a change would make
// (/v1/invoices/create_preview); it changes nothing.
func (c *Client) PreviewInvoice(ctx context.Context, p *stripe.InvoiceCreatePreviewParams) (*stripe.Invoice, error) {
	p.Context = ctx
	var out *stripe.Invoice
	err := c.call(ctx, func() (err error) { out, err = c.api.Invoices.CreatePreview(p); return err })
	if err != nil {
		return nil, c.wrap("preview invoice", err)
	}
	return out, nil
}
