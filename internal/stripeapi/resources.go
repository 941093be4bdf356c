package stripeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/stripe/stripe-go/v79"
)

// This file holds one call per Stripe resource billwire reads, in the manner
// of stripe-go's resource clients: callers name the resource, never its path.
// A call returns the objects as Stripe sent them (a Page, or raw JSON) where
// the caller stores them, and stripe-go's types where it only reads them.
// Lists take the cursor (the last id of the previous page, "" for the
// first), the page size (Stripe's largest is 100) and extra filters (a key
// ending in [] repeats for an array).

// ListProducts lists one page of products.
func (c *Client) ListProducts(ctx context.Context, startingAfter string, limit int, filters url.Values) (*Page, error) {
	return c.ListPage(ctx, "/v1/products", startingAfter, limit, filters)
}

// ListPrices lists one page of prices.
func (c *Client) ListPrices(ctx context.Context, startingAfter string, limit int, filters url.Values) (*Page, error) {
	return c.ListPage(ctx, "/v1/prices", startingAfter, limit, filters)
}

// ListCustomers lists one page of customers.
func (c *Client) ListCustomers(ctx context.Context, startingAfter string, limit int, filters url.Values) (*Page, error) {
	return c.ListPage(ctx, "/v1/customers", startingAfter, limit, filters)
}

// ListSubscriptions lists one page of subscriptions (Stripe omits canceled
// ones unless filtered by status "all").
func (c *Client) ListSubscriptions(ctx context.Context, startingAfter string, limit int, filters url.Values) (*Page, error) {
	return c.ListPage(ctx, "/v1/subscriptions", startingAfter, limit, filters)
}

// ListInvoices lists one page of invoices, newest first.
func (c *Client) ListInvoices(ctx context.Context, startingAfter string, limit int, filters url.Values) (*Page, error) {
	return c.ListPage(ctx, "/v1/invoices", startingAfter, limit, filters)
}

// ListSubscriptionItems lists one page of a subscription's items.
func (c *Client) ListSubscriptionItems(ctx context.Context, subscriptionID, startingAfter string, limit int) (*Page, error) {
	return c.ListPage(ctx, "/v1/subscription_items", startingAfter, limit, url.Values{"subscription": {subscriptionID}})
}

// ListEvents lists one page of events, newest first.
func (c *Client) ListEvents(ctx context.Context, startingAfter string, limit int, filters url.Values) (*Page, error) {
	return c.ListPage(ctx, "/v1/events", startingAfter, limit, filters)
}

// Product retrieves a product, as Stripe sent it.
func (c *Client) Product(ctx context.Context, id string) (json.RawMessage, error) {
	return c.Retrieve(ctx, "/v1/products/"+url.PathEscape(id))
}

// List is one page of a Stripe list, decoded.
type List[T any] struct {
	Data    []*T
	HasMore bool
}

// ListWebhookEndpoints lists one page of the account's webhook endpoints.
func (c *Client) ListWebhookEndpoints(ctx context.Context, startingAfter string, limit int) (*List[stripe.WebhookEndpoint], error) {
	return decodeList[stripe.WebhookEndpoint](c.ListPage(ctx, "/v1/webhook_endpoints", startingAfter, limit, nil))
}

// WebhookEndpoint retrieves a webhook endpoint (Stripe sends its secret only
// when it is created).
func (c *Client) WebhookEndpoint(ctx context.Context, id string) (*stripe.WebhookEndpoint, error) {
	out := &stripe.WebhookEndpoint{}
	if err := c.get(ctx, "/v1/webhook_endpoints/"+url.PathEscape(id), out); err != nil {
		return nil, err
	}
	return out, nil
}

// PortalConfiguration retrieves a Billing Portal configuration.
func (c *Client) PortalConfiguration(ctx context.Context, id string) (*stripe.BillingPortalConfiguration, error) {
	out := &stripe.BillingPortalConfiguration{}
	if err := c.get(ctx, "/v1/billing_portal/configurations/"+url.PathEscape(id), out); err != nil {
		return nil, err
	}
	return out, nil
}

// objectPaths are where the objects ObjectPath names are retrieved, by
// their Stripe object type.
var objectPaths = map[string]string{
	"customer":         "/v1/customers/",
	"product":          "/v1/products/",
	"price":            "/v1/prices/",
	"subscription":     "/v1/subscriptions/",
	"checkout.session": "/v1/checkout/sessions/",
	"invoice":          "/v1/invoices/",
}

// ObjectPath is the path that retrieves (with Retrieve) the Stripe object
// of type object (its "object" field: "customer", "checkout.session", …)
// with id; false for a type it does not name or an empty id.
func ObjectPath(object, id string) (string, bool) {
	p, ok := objectPaths[object]
	if !ok || id == "" {
		return "", false
	}
	return p + url.PathEscape(id), true
}

// SubscriptionItemsURL is the url Stripe writes on a subscription's items
// list (its items.url).
func SubscriptionItemsURL(subscriptionID string) string {
	return "/v1/subscription_items?subscription=" + subscriptionID
}

// InvoiceLinesURL is the url Stripe writes on an invoice's lines list (its
// lines.url).
func InvoiceLinesURL(invoiceID string) string {
	return "/v1/invoices/" + invoiceID + "/lines"
}

// get retrieves one object by path into out, a stripe-go type.
func (c *Client) get(ctx context.Context, path string, out stripe.LastResponseSetter) error {
	err := c.call(ctx, func() error {
		return c.backend.Call(http.MethodGet, path, c.key, &stripe.Params{Context: ctx}, out)
	})
	if err != nil {
		return c.wrap("retrieve "+path, err)
	}
	return nil
}

// decodeList decodes a page's objects as T.
func decodeList[T any](page *Page, err error) (*List[T], error) {
	if err != nil {
		return nil, err
	}
	out := &List[T]{Data: make([]*T, 0, len(page.Data)), HasMore: page.HasMore}
	for _, raw := range page.Data {
		v := new(T)
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, fmt.Errorf("decode %T: %w", v, err)
		}
		out.Data = append(out.Data, v)
	}
	return out, nil
}
