package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/vocab"
)

// CreateMeterParams are create_meter's arguments.
type CreateMeterParams struct {
	Env         Env    `json:"env" jsonschema:"required"`
	EventName   string `json:"event_name" jsonschema:"required" jsonschema_description:"The name the app reports usage under (POST /api/payments/{env}/usage), e.g. api_tokens: 1 to 100 characters."`
	DisplayName string `json:"display_name" jsonschema:"required" jsonschema_description:"The meter's name in Stripe and on invoices, e.g. API tokens."`
	Aggregation string `json:"aggregation,omitempty" jsonschema:"enum=sum,enum=count" jsonschema_description:"sum (default): the events' values add up; billwire's sender then sends one Stripe meter event per customer and minute, well within Stripe's rate limit. count: each event counts 1 and is sent one by one."`
	ValueKey    string `json:"value_key,omitempty" jsonschema_description:"Sum meters: the payload key of the value in Stripe's meter events (default value)."`
	ConfirmLive bool   `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

// LiveWrite: a meter created in env.
func (p CreateMeterParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Env(p.Env), Confirmed: p.ConfirmLive, What: "create a meter"}, nil
}

func createMeter(d Deps) Tool {
	return define(d, "create_meter", "Create meter",
		"Create a Stripe billing meter for usage-based billing: it counts the usage the app reports for event_name, per Stripe customer (mapped by customer id). Then create a metered price with create_price or create_plan and meter_id. Retrying the same call creates nothing twice.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p CreateMeterParams) (any, error) {
			env := vocab.Env(p.Env)
			m, err := d.Billing.CreateMeter(ctx, env, billing.MeterInput{EventName: p.EventName, DisplayName: p.DisplayName,
				Aggregation: p.Aggregation, ValueKey: p.ValueKey})
			if err != nil {
				return nil, err
			}
			return map[string]any{"env": env, "meter": m,
				"next_step": "create a metered price: create_plan or create_price with meter_id " + m.ID + ", interval and unit_amount (or unit_amount_decimal)"}, nil
		})
}

// ListMetersParams are list_meters' arguments.
type ListMetersParams struct {
	Env Env `json:"env" jsonschema:"required"`
}

func listMeters(d Deps) Tool {
	return define(d, "list_meters", "List meters",
		"billwire's mirror of the Stripe billing meters (id, event_name, aggregation, status), refreshed by sync_catalog. Same as resource billwire://{env}/meters.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListMetersParams) (any, error) {
			return d.Billing.ListMeters(ctx, vocab.Env(p.Env))
		})
}

// ReplayUsageEventsParams are replay_usage_events' arguments.
type ReplayUsageEventsParams struct {
	Env         Env  `json:"env" jsonschema:"required"`
	ConfirmLive bool `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

// LiveWrite: in live, the replayed usage is billed by live Stripe.
func (p ReplayUsageEventsParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Env(p.Env), Confirmed: p.ConfirmLive, What: "resend the usage Stripe refused (failed meter events)"}, nil
}

func replayUsageEvents(d Deps) Tool {
	return define(d, "replay_usage_events", "Replay failed usage",
		"Resend the usage meter events Stripe refused for good (status failed; get_payments_status counts them in usage_sender.failed_meter_events), after fixing the cause, e.g. a meter archived or a customer deleted. billwire serve's sender resends them with their identifiers, so Stripe never counts one twice.",
		hints{readOnly: false, destructive: false, idempotent: true, openWorld: false},
		func(ctx context.Context, _ mcp.CallToolRequest, p ReplayUsageEventsParams) (any, error) {
			n, err := d.Billing.ReplayUsage(ctx, vocab.Env(p.Env))
			if err != nil {
				return nil, err
			}
			return map[string]any{"env": p.Env, "replayed_meter_events": n,
				"next_step": "billwire serve's usage sender resends them within seconds; get_payments_status shows what is still pending or failed"}, nil
		})
}
