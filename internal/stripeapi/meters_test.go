package stripeapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/stripeapi"
)

// The meter calls the usage sender makes have the shapes Stripe's spec
// wants: stripe-mock accepts a meter event and an event summaries list.
func TestMeterCallsMatchStripesSpec(t *testing.T) {
	t.Parallel()
	sent, c := startSent(t, "sk_test_51MeterCalls000000000001")
	ctx := context.Background()
	at := time.Now().Add(-time.Hour).Truncate(time.Minute)
	if err := c.SendMeterEvent(ctx, stripeapi.MeterEvent{EventName: "api_tokens", Identifier: "bw_x_0", CustomerKey: "stripe_customer_id",
		CustomerID: "cus_1", ValueKey: "value", Value: "12.5", Timestamp: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MeterEventTotal(ctx, "mtr_123", "cus_1", at.Truncate(24*time.Hour), at.Truncate(24*time.Hour).Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListMeters(ctx, "", 100, nil); err != nil {
		t.Fatal(err)
	}
	reqs := sent.take()
	if len(reqs) != 3 || reqs[0].path != "/v1/billing/meter_events" || reqs[1].path != "/v1/billing/meters/mtr_123/event_summaries" ||
		reqs[1].query.Get("customer") != "cus_1" {
		t.Fatalf("sent %+v", reqs)
	}
}
