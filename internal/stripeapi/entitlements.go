package stripeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/vocab"
)

// CreateFeature creates an Entitlements feature.
func (c *Client) CreateFeature(ctx context.Context, p *stripe.EntitlementsFeatureParams, idempotencyKey string) (*stripe.EntitlementsFeature, error) {
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	var out *stripe.EntitlementsFeature
	err := c.call(ctx, func() (err error) { out, err = c.api.EntitlementsFeatures.New(p); return err })
	if err != nil {
		return nil, c.wrap("create entitlements feature", err)
	}
	return out, nil
}

// FeatureByLookupKey returns the active feature with lookupKey, or nil.
func (c *Client) FeatureByLookupKey(ctx context.Context, lookupKey string) (*stripe.EntitlementsFeature, error) {
	page, err := c.ListPage(ctx, "/v1/entitlements/features", "", 10, url.Values{"lookup_key": {lookupKey}})
	if err != nil {
		return nil, err
	}
	for _, raw := range page.Data {
		var f stripe.EntitlementsFeature
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("decode entitlements feature: %w", err)
		}
		if f.LookupKey == lookupKey && f.Active {
			return &f, nil
		}
	}
	return nil, nil
}

// AttachFeature attaches a feature to a product.
func (c *Client) AttachFeature(ctx context.Context, productID, featureID, idempotencyKey string) (*stripe.ProductFeature, error) {
	p := &stripe.ProductFeatureParams{Product: stripe.String(productID), EntitlementFeature: stripe.String(featureID)}
	p.Context = ctx
	p.SetIdempotencyKey(idempotencyKey)
	var out *stripe.ProductFeature
	err := c.call(ctx, func() (err error) { out, err = c.api.ProductFeatures.New(p); return err })
	if err != nil {
		return nil, c.wrap("attach feature to product "+productID, err)
	}
	return out, nil
}

// ProductFeatures lists the features attached to a product, every page.
func (c *Client) ProductFeatures(ctx context.Context, productID string) ([]*stripe.ProductFeature, error) {
	var out []*stripe.ProductFeature
	after := ""
	for {
		page, err := c.ListPage(ctx, "/v1/products/"+url.PathEscape(productID)+"/features", after, 100, nil)
		if err != nil {
			return nil, err
		}
		for _, raw := range page.Data {
			var pf stripe.ProductFeature
			if err := json.Unmarshal(raw, &pf); err != nil {
				return nil, fmt.Errorf("decode product feature: %w", err)
			}
			out = append(out, &pf)
		}
		if !page.HasMore || len(page.Data) == 0 {
			return out, nil
		}
		after = out[len(out)-1].ID
	}
}

// ActiveEntitlements lists a customer's active entitlements, every page,
// as Stripe sent them.
func (c *Client) ActiveEntitlements(ctx context.Context, customerID string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	after := ""
	for {
		page, err := c.ListPage(ctx, "/v1/entitlements/active_entitlements", after, 100, url.Values{"customer": {customerID}})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Data...)
		if !page.HasMore || len(page.Data) == 0 {
			return out, nil
		}
		var last struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(page.Data[len(page.Data)-1], &last); err != nil {
			return nil, fmt.Errorf("decode active entitlement: %w", err)
		}
		after = last.ID
	}
}

// ActiveEntitlementSummary is a customer's complete
// entitlements.active_entitlement_summary, built from every page of its
// active entitlements, in the shape Stripe's summary events carry.
func (c *Client) ActiveEntitlementSummary(ctx context.Context, customerID string) (json.RawMessage, error) {
	data, err := c.ActiveEntitlements(ctx, customerID)
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = []json.RawMessage{}
	}
	return json.Marshal(map[string]any{
		"object":   "entitlements.active_entitlement_summary",
		"customer": customerID,
		"livemode": c.env == vocab.Live,
		"entitlements": map[string]any{
			"object": "list", "data": data, "has_more": false,
			"url": "/v1/customer/" + customerID + "/entitlements",
		},
	})
}
