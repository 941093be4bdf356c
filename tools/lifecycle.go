package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/checkout"
	"github.com/billwire/billwire/internal/vocab"
)

// A subscription's plan, seats and cancellation, changed as the app's
// session API routes change them (POST /api/payments/{env}/subscriptions/
// {id}/preview|change|cancel|resume), with the app backend's rights.

// PreviewSubscriptionChangeParams are preview_subscription_change's arguments.
type PreviewSubscriptionChangeParams struct {
	Env               Env                   `json:"env" jsonschema:"required"`
	SubscriptionID    string                `json:"subscription_id" jsonschema:"required" jsonschema_description:"The subscription (sub_…), from get_subject_billing or list_subscriptions."`
	Items             []checkout.ChangeItem `json:"items" jsonschema:"required" jsonschema_description:"The subscription's target state: every item it should have after the change (the new plan and quantities). Items left out are removed."`
	ProrationBehavior string                `json:"proration_behavior,omitempty" jsonschema:"enum=create_prorations,enum=always_invoice,enum=none" jsonschema_description:"How the change is prorated (default create_prorations: on the next invoice). An end user's change through the session API is create_prorations, or always_invoice for an upgrade."`
}

func previewSubscriptionChange(d Deps) Tool {
	return define(d, "preview_subscription_change", "Preview a subscription change",
		"What a plan or seat change would charge, from Stripe's invoice preview, without changing anything: amount_due_now, the next invoice, the lines, and the proration_date to pass to change_subscription so the charge equals the preview. The same checks as the change: active recurring prices of the env's catalog in the subscription's currency, one interval, seats within the price's bounds.",
		hints{readOnly: true, destructive: false, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p PreviewSubscriptionChangeParams) (any, error) {
			return d.Billing.Checkout().PreviewSubscriptionChange(ctx, vocab.Env(p.Env), auth.MCPCaller, p.SubscriptionID,
				checkout.PreviewRequest{Items: p.Items, ProrationBehavior: p.ProrationBehavior})
		})
}

// ChangeSubscriptionParams are change_subscription's arguments.
type ChangeSubscriptionParams struct {
	PreviewSubscriptionChangeParams
	ProrationDate  *int64 `json:"proration_date,omitempty" jsonschema_description:"The proration_date of preview_subscription_change's answer, so the charge equals the preview."`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema_description:"A key of your own: the same key again returns the first answer instead of changing twice."`
	ConfirmLive    bool   `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

// LiveWrite: a subscription changed in env.
func (p ChangeSubscriptionParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Env(p.Env), Confirmed: p.ConfirmLive, What: "change subscription " + p.SubscriptionID}, nil
}

func changeSubscription(d Deps) Tool {
	return define(d, "change_subscription", "Change a subscription's plan or seats",
		"Change a subscription to the target items (new plan, seat counts), as the app's POST /api/payments/{env}/subscriptions/{id}/change: existing items are matched by price, then product, and swapped; items left out are removed. Preview first and pass its proration_date. The answer is Stripe's; the projection (get_subject_billing) follows from the webhook.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p ChangeSubscriptionParams) (any, error) {
			return d.Billing.Checkout().ChangeSubscription(ctx, vocab.Env(p.Env), auth.MCPCaller, p.SubscriptionID, checkout.ChangeRequest{
				PreviewRequest: checkout.PreviewRequest{Items: p.Items, ProrationBehavior: p.ProrationBehavior},
				ProrationDate:  p.ProrationDate, IdempotencyKey: p.IdempotencyKey,
			})
		})
}

// CancelSubscriptionParams are cancel_subscription's arguments.
type CancelSubscriptionParams struct {
	Env            Env    `json:"env" jsonschema:"required"`
	SubscriptionID string `json:"subscription_id" jsonschema:"required" jsonschema_description:"The subscription (sub_…)."`
	AtPeriodEnd    *bool  `json:"at_period_end,omitempty" jsonschema_description:"true (default): end it when the paid period ends (resume_subscription undoes it); false: end it now."`
	ConfirmLive    bool   `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

// LiveWrite: a subscription canceled in env.
func (p CancelSubscriptionParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Env(p.Env), Confirmed: p.ConfirmLive, What: "cancel subscription " + p.SubscriptionID}, nil
}

func cancelSubscription(d Deps) Tool {
	return define(d, "cancel_subscription", "Cancel a subscription",
		"Cancel a subscription at its period's end (default) or now, as the app's POST /api/payments/{env}/subscriptions/{id}/cancel. Access follows from the webhook: at period end the subscription stays active until then.",
		hints{readOnly: false, destructive: true, idempotent: true, openWorld: true, writesStripe: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p CancelSubscriptionParams) (any, error) {
			return d.Billing.Checkout().CancelSubscription(ctx, vocab.Env(p.Env), auth.MCPCaller, p.SubscriptionID, checkout.CancelRequest{AtPeriodEnd: p.AtPeriodEnd})
		})
}

// ResumeSubscriptionParams are resume_subscription's arguments.
type ResumeSubscriptionParams struct {
	Env            Env    `json:"env" jsonschema:"required"`
	SubscriptionID string `json:"subscription_id" jsonschema:"required" jsonschema_description:"The subscription (sub_…)."`
	ConfirmLive    bool   `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

// LiveWrite: a subscription resumed in env.
func (p ResumeSubscriptionParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Env(p.Env), Confirmed: p.ConfirmLive, What: "resume subscription " + p.SubscriptionID}, nil
}

func resumeSubscription(d Deps) Tool {
	return define(d, "resume_subscription", "Resume a subscription",
		"Resume a subscription, as the app's POST /api/payments/{env}/subscriptions/{id}/resume: a paused one starts billing again (its billing cycle unchanged); one set to cancel keeps going. Refused (nothing_to_resume) when neither.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p ResumeSubscriptionParams) (any, error) {
			return d.Billing.Checkout().ResumeSubscription(ctx, vocab.Env(p.Env), auth.MCPCaller, p.SubscriptionID)
		})
}

// SetSwitchablePricesParams are set_switchable_prices' arguments.
type SetSwitchablePricesParams struct {
	Env         Env      `json:"env" jsonschema:"required"`
	Family      string   `json:"family" jsonschema:"required" jsonschema_description:"The family's name, e.g. plans or seats: a subscriber switches only between prices of one family."`
	Prices      []string `json:"prices" jsonschema:"required" jsonschema_description:"The family's prices in the order to show them, by id (price_…) or lookup key: active licensed recurring prices of at most 10 products. An empty list removes the family."`
	ConfirmLive bool     `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

// LiveWrite: what live subscribers may switch to.
func (p SetSwitchablePricesParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Env(p.Env), Confirmed: p.ConfirmLive, What: "set the prices live subscribers may switch between (family " + p.Family + ")"}, nil
}

func setSwitchablePrices(d Deps) Tool {
	return define(d, "set_switchable_prices", "Set switchable prices",
		"Set one family of prices a subscription may switch between: the session API's change route lets an end user switch only within the family of the subscription's prices, and the Billing Portal offers the same prices (seat counts leave the portal when a price bounds them). Replaces the family's list.",
		hints{readOnly: false, destructive: false, idempotent: true, openWorld: false, writesStripe: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p SetSwitchablePricesParams) (any, error) {
			return d.Billing.Checkout().SetSwitchablePrices(ctx, vocab.Env(p.Env), p.Family, p.Prices)
		})
}
