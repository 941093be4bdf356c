package stripeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

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

// MeterEvent is one meter event billwire sends.
type MeterEvent struct {
	EventName string
	// Identifier is what Stripe deduplicates on, over a rolling 24 hours.
	Identifier string
	// CustomerKey and CustomerID map the event to its customer.
	CustomerKey, CustomerID string
	// ValueKey and Value (a decimal number) are the usage.
	ValueKey, Value string
	Timestamp       time.Time
}

// SendMeterEvent sends one meter event (POST /v1/billing/meter_events).
// Stripe answers a repeated identifier within 24 hours as it did the first.
func (c *Client) SendMeterEvent(ctx context.Context, e MeterEvent) error {
	p := &stripe.BillingMeterEventParams{EventName: stripe.String(e.EventName), Identifier: stripe.String(e.Identifier),
		Payload: map[string]string{e.CustomerKey: e.CustomerID, e.ValueKey: e.Value}, Timestamp: stripe.Int64(e.Timestamp.Unix())}
	p.Context = ctx
	err := c.call(ctx, func() error { _, err := c.api.BillingMeterEvents.New(p); return err })
	if err != nil {
		return c.wrap("send meter event", err)
	}
	return nil
}

// MeterEventTotal is the usage Stripe counted for customer on meter over
// [start, end) (minute-aligned), from the meter's event summaries.
func (c *Client) MeterEventTotal(ctx context.Context, meterID, customer string, start, end time.Time) (float64, error) {
	page, err := c.ListPage(ctx, "/v1/billing/meters/"+url.PathEscape(meterID)+"/event_summaries", "", 100, url.Values{
		"customer": {customer}, "start_time": {strconv.FormatInt(start.Unix(), 10)}, "end_time": {strconv.FormatInt(end.Unix(), 10)}})
	if err != nil {
		return 0, err
	}
	var total float64
	for _, raw := range page.Data {
		var s stripe.BillingMeterEventSummary
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("decode meter event summary: %w", err)
		}
		total += s.AggregatedValue
	}
	return total, nil
}
