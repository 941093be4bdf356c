package stripeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

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

// LineItem is one line of what a Checkout Session bought: its price, the
// price's lookup key (nil when it has none) and the quantity.
type LineItem struct {
	PriceID   string
	LookupKey *string
	Quantity  int64
}

// CheckoutLineItems lists what Checkout Session id bought (GET
// /v1/checkout/sessions/{id}/line_items, every page): each line's price, with
// its lookup key (Stripe includes the price in each line), and quantity.
func (c *Client) CheckoutLineItems(ctx context.Context, id string) ([]LineItem, error) {
	path := "/v1/checkout/sessions/" + url.PathEscape(id) + "/line_items"
	out := []LineItem{}
	after := ""
	for {
		page, err := c.ListPage(ctx, path, after, 100, nil)
		if err != nil {
			return nil, err
		}
		for _, raw := range page.Data {
			var li struct {
				ID       string `json:"id"`
				Quantity int64  `json:"quantity"`
				Price    *struct {
					ID        string `json:"id"`
					LookupKey string `json:"lookup_key"`
				} `json:"price"`
			}
			if err := json.Unmarshal(raw, &li); err != nil {
				return nil, fmt.Errorf("list %s: a line item Stripe sent is not readable: %w", path, err)
			}
			item := LineItem{Quantity: li.Quantity}
			if li.Price != nil {
				item.PriceID = li.Price.ID
				if li.Price.LookupKey != "" {
					item.LookupKey = &li.Price.LookupKey
				}
			}
			out = append(out, item)
			after = li.ID
		}
		if !page.HasMore || len(page.Data) == 0 || after == "" {
			return out, nil
		}
	}
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
