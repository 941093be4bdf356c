package tools

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// All returns every tool, sorted by name. The registry groups them by
// toolset here: each tool is in exactly one.
func All(d Deps) []Tool {
	groups := []struct {
		set   Toolset
		tools []Tool
	}{
		{Setup, []Tool{getPaymentsStatus(d), configureStripeKeys(d), checkIntegration(d)}},
		{Catalog, []Tool{createProduct(d), createPrice(d), createPlan(d), syncCatalog(d), listCatalog(d), setEntitlements(d), setSwitchablePrices(d),
			createMeter(d), listMeters(d), replayUsageEvents(d)}},
		{Webhooks, []Tool{setupWebhook(d), reconcileEvents(d), replayWebhookEvent(d), listWebhookEvents(d), simulateEvents(d)}},
		{Sessions, []Tool{createTestCheckoutSession(d), getSubjectBilling(d), listCustomers(d), listSubscriptions(d), listPaymentHistory(d), listInvoices(d),
			createTestSubscription(d), cancelTestSubscription(d), listCheckoutSessions(d),
			previewSubscriptionChange(d), changeSubscription(d), cancelSubscription(d), resumeSubscription(d), getUsage(d)}},
		{Fulfillment, []Tool{scaffoldFulfillment(d), checkEntitlement(d)}},
		{GoLive, []Tool{promoteCatalog(d)}},
	}
	var ts []Tool
	for _, g := range groups {
		for _, t := range g.tools {
			t.Toolset = g.set
			ts = append(ts, t)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Def.Name < ts[j].Def.Name })
	return ts
}

// ConfigureStripeKeysParams are configure_stripe_keys' arguments.
type ConfigureStripeKeysParams struct {
	Env                  Env    `json:"env" jsonschema:"required"`
	SecretKey            string `json:"secret_key" jsonschema:"required" jsonschema_description:"A test secret key (sk_test_…) or restricted key (rk_test_…)."`
	ConfirmAccountChange bool   `json:"confirm_account_change,omitempty" jsonschema_description:"Set true only when the key intentionally belongs to another Stripe account than the configured one; billwire then deletes what it mirrored from the old account."`
}

// LiveWrite refuses a live key whatever the flags: live keys never pass
// through MCP. A test key is stored, and a key of another account clears
// what was mirrored from the old one.
func (p ConfigureStripeKeysParams) LiveWrite(context.Context, Deps) (Write, error) {
	if vocab.Env(p.Env) == vocab.Live {
		return Write{}, errors.New("live keys are never accepted through MCP, so they stay out of the agent's transcript. " +
			"Ask the human to run this in a terminal (it reads the key from standard input): billwire keys set --env live")
	}
	return Write{Writes: true, Env: vocab.Test, What: "store the Stripe test key"}, nil
}

func configureStripeKeys(d Deps) Tool {
	return define(d, "configure_stripe_keys", "Configure Stripe keys",
		"Store the Stripe test key billwire uses, encrypted; it is only ever shown masked. Live keys never pass through MCP: for env live this answers with the command a human runs instead.",
		// Destructive: with confirm_account_change it deletes what was
		// mirrored from the old account.
		hints{readOnly: false, destructive: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p ConfigureStripeKeysParams) (any, error) {
			return d.Billing.ConfigureKey(ctx, vocab.Env(p.Env), p.SecretKey, p.ConfirmAccountChange)
		})
}

// GetPaymentsStatusParams are get_payments_status' arguments.
type GetPaymentsStatusParams struct {
	Env Env `json:"env,omitempty" jsonschema_description:"Environment to report; both when omitted."`
}

func getPaymentsStatus(d Deps) Tool {
	return define(d, "get_payments_status", "Payments status",
		"billwire's state per environment: masked key, account, last sync, counts, webhook state, fulfillment mismatches (payments that named an order without paying for it, to refund), and the next step. Call this first.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p GetPaymentsStatusParams) (any, error) {
			envs := vocab.Envs
			if p.Env != "" {
				envs = []vocab.Env{vocab.Env(p.Env)}
			}
			st, err := d.Billing.Status(ctx, envs)
			if err != nil {
				return nil, err
			}
			return map[string]any{"environments": st, "live_writes_allowed": d.AllowLiveWrites}, nil
		})
}

// CreateProductParams are create_product's arguments.
type CreateProductParams struct {
	Env         Env               `json:"env" jsonschema:"required"`
	Name        string            `json:"name" jsonschema:"required" jsonschema_description:"Name customers see, e.g. Pro."`
	Description string            `json:"description,omitempty" jsonschema_description:"Description customers see."`
	Metadata    map[string]string `json:"metadata,omitempty" jsonschema_description:"Key-value metadata, at most 50 keys."`
	ConfirmLive bool              `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

// LiveWrite: a product created in env.
func (p CreateProductParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Env(p.Env), Confirmed: p.ConfirmLive, What: "create a product"}, nil
}

func createProduct(d Deps) Tool {
	return define(d, "create_product", "Create product",
		"Create a product in Stripe and billwire's catalog. Retrying the same call creates nothing twice. For a product with its price in one call, use create_plan.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p CreateProductParams) (any, error) {
			env := vocab.Env(p.Env)
			prod, err := d.Billing.CreateProduct(ctx, env, billing.ProductInput{Name: p.Name, Description: p.Description, Metadata: p.Metadata})
			if err != nil {
				return nil, err
			}
			return map[string]any{"env": env, "product": prod, "next_step": "add a price with create_price using this product id"}, nil
		})
}

// PriceFields are a price's amount, currency, interval and lookup key,
// shared by create_price and create_plan.
type PriceFields struct {
	UnitAmount int64  `json:"unit_amount,omitempty" jsonschema_description:"In the currency's minor units: 2000 is 20.00 USD; 500 is 500 JPY. Required, except for a metered price given unit_amount_decimal; for a metered price it is per unit of usage (0 allowed)."`
	Currency   string `json:"currency" jsonschema:"required" jsonschema_description:"ISO currency code, e.g. usd."`
	Interval   string `json:"interval,omitempty" jsonschema:"enum=day,enum=week,enum=month,enum=year" jsonschema_description:"Omit for a one-time price."`
	LookupKey  string `json:"lookup_key,omitempty" jsonschema_description:"Stable name the app uses instead of the price id, e.g. pro_monthly."`
	MeteredFields
}

// MeteredFields make a price metered (billed by usage), shared by
// create_price and create_plan.
type MeteredFields struct {
	MeterID           string `json:"meter_id,omitempty" jsonschema_description:"Makes the price metered: it bills each interval the usage this meter (mtr_… from create_meter or list_meters) counts. Needs interval; takes no quantity or min/max_quantity."`
	UnitAmountDecimal string `json:"unit_amount_decimal,omitempty" jsonschema_description:"Metered prices: the price per unit in minor units with up to 12 decimals, instead of unit_amount, e.g. \"0.05\" is a twentieth of a cent per unit."`
	PackageSize       int64  `json:"package_size,omitempty" jsonschema_description:"Metered prices: bill per package of this many units, rounded up (e.g. 1000 with unit_amount 200: 2.00 per 1000 units)."`
}

func (m MeteredFields) input() billing.MeteredInput {
	return billing.MeteredInput{MeterID: m.MeterID, UnitAmountDecimal: m.UnitAmountDecimal, PackageSize: m.PackageSize}
}

// PriceTerms are the optional terms end users get with a price, shared by
// create_price and create_plan.
type PriceTerms struct {
	TrialPeriodDays     int64 `json:"trial_period_days,omitempty" jsonschema_description:"Free trial in days (1 to 730, recurring prices only) that checkouts of this price get, once per subject and product."`
	AllowPromotionCodes bool  `json:"allow_promotion_codes,omitempty" jsonschema_description:"Let customers enter promotion codes in checkouts of this price."`
	AutomaticTax        bool  `json:"automatic_tax,omitempty" jsonschema_description:"Stripe Tax (automatic tax) in checkouts of this price."`
	MinQuantity         int64 `json:"min_quantity,omitempty" jsonschema_description:"Fewest units (e.g. seats) a checkout or plan change of this price takes: 1 to 999, default 1."`
	MaxQuantity         int64 `json:"max_quantity,omitempty" jsonschema_description:"Most units (e.g. seats): 1 to 999, default 999."`
}

func (t PriceTerms) input() billing.PriceTermsInput {
	return billing.PriceTermsInput{TrialPeriodDays: t.TrialPeriodDays, AllowPromotionCodes: t.AllowPromotionCodes, AutomaticTax: t.AutomaticTax,
		MinQuantity: t.MinQuantity, MaxQuantity: t.MaxQuantity}
}

// CreatePriceParams are create_price's arguments.
type CreatePriceParams struct {
	Env       Env    `json:"env" jsonschema:"required"`
	ProductID string `json:"product_id" jsonschema:"required" jsonschema_description:"The product (prod_…)."`
	PriceFields
	IntervalCount int64  `json:"interval_count,omitempty" jsonschema_description:"Intervals between bills (default 1): 3 with month is quarterly."`
	Nickname      string `json:"nickname,omitempty" jsonschema_description:"Internal name."`
	PriceTerms
	ConfirmLive bool `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

// LiveWrite: a price created in env.
func (p CreatePriceParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Env(p.Env), Confirmed: p.ConfirmLive, What: "create a price"}, nil
}

func createPrice(d Deps) Tool {
	return define(d, "create_price", "Create price",
		"Create a price for a product. Check the result's display (e.g. \"20.00 USD / month\"). Retrying the same call creates nothing twice.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p CreatePriceParams) (any, error) {
			env := vocab.Env(p.Env)
			in := billing.PriceInput{ProductID: p.ProductID, UnitAmount: p.UnitAmount, Currency: p.Currency, Interval: p.Interval,
				IntervalCount: p.IntervalCount, LookupKey: p.LookupKey, Nickname: p.Nickname,
				PriceTermsInput: p.PriceTerms.input(), MeteredInput: p.MeteredFields.input()}
			price, err := d.Billing.CreatePrice(ctx, env, in)
			if err != nil {
				return nil, err
			}
			return map[string]any{"env": env, "price": price, "summary": "created " + price.ID + ": " + price.Display}, nil
		})
}

// CreatePlanParams are create_plan's arguments.
type CreatePlanParams struct {
	Env  Env    `json:"env" jsonschema:"required"`
	Name string `json:"name" jsonschema:"required" jsonschema_description:"Name customers see, e.g. Pro."`
	PriceFields
	PriceTerms
	ConfirmLive bool `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

// LiveWrite: a product and its price created in env.
func (p CreatePlanParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Env(p.Env), Confirmed: p.ConfirmLive, What: "create a product and price"}, nil
}

func createPlan(d Deps) Tool {
	return define(d, "create_plan", "Create plan",
		"Create a product and its price in one call, e.g. Pro at 2000 usd a month. Check the result's price.display (\"20.00 USD / month\"). Retrying the same call creates nothing twice.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p CreatePlanParams) (any, error) {
			env := vocab.Env(p.Env)
			plan, err := d.Billing.CreatePlan(ctx, env, billing.PlanInput{Name: p.Name, UnitAmount: p.UnitAmount, Currency: p.Currency,
				Interval: p.Interval, LookupKey: p.LookupKey,
				PriceTermsInput: p.PriceTerms.input(), MeteredInput: p.MeteredFields.input()})
			if err != nil {
				return nil, err
			}
			return map[string]any{"env": env, "product": plan.Product, "price": plan.Price,
				"summary": "created " + plan.Product.ID + " with " + plan.Price.ID + ": " + plan.Price.Display}, nil
		})
}

// SyncCatalogParams are sync_catalog's arguments.
type SyncCatalogParams struct {
	Env     Env      `json:"env" jsonschema:"required"`
	Objects []string `json:"objects,omitempty" jsonschema_description:"products, prices, customers, subscriptions, invoices; all when omitted."`
}

// LiveWrite: none guarded; a sync reads Stripe and writes only billwire's
// mirror of it.
func (SyncCatalogParams) LiveWrite(context.Context, Deps) (Write, error) { return Write{}, nil }

func syncCatalog(d Deps) Tool {
	return define(d, "sync_catalog", "Sync from Stripe",
		"Mirror products, prices, customers, subscriptions and invoices from Stripe (read only) into billwire's database; a newer state from a webhook is never overwritten by an older listing. Calling again resumes a failed sync. What Stripe deleted is marked deleted and counted in removed. Sends progress notifications when the request has a progress token.",
		hints{readOnly: false, destructive: false, idempotent: true, openWorld: true},
		func(ctx context.Context, req mcp.CallToolRequest, p SyncCatalogParams) (any, error) {
			env := vocab.Env(p.Env)
			var kinds []vocab.Kind
			for _, o := range p.Objects {
				k, err := vocab.ParseKind(strings.TrimSpace(o))
				if err != nil {
					return nil, err
				}
				kinds = append(kinds, k)
			}
			res, err := d.Billing.Sync(ctx, env, kinds, progressReporter(ctx, req))
			if err != nil {
				return nil, err
			}
			return res, nil
		})
}

// progressReporter sends notifications/progress when the client asked for
// them with a progress token, at most every 100 ms.
func progressReporter(ctx context.Context, req mcp.CallToolRequest) func(billing.Progress) {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return nil
	}
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return nil
	}
	token := req.Params.Meta.ProgressToken
	var mu sync.Mutex
	var last time.Time
	return func(p billing.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		_ = srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
			"progressToken": token,
			"progress":      p.Total,
			"message":       fmt.Sprintf("%d objects synced (%s: %d)", p.Total, p.Kind, p.Count),
		})
	}
}

// ListParams are the arguments of the read-only list tools.
type ListParams struct {
	Env    Env    `json:"env" jsonschema:"required"`
	Cursor string `json:"cursor,omitempty" jsonschema_description:"next_cursor of the previous page."`
	Query  string `json:"query,omitempty" jsonschema_description:"Search: an id (the object's, its customer's, subject's, invoice's, subscription's) or a status, exactly, or the start of a customer's email or name; in the catalog, any part of a name, id or lookup key."`
}

func (p ListParams) page() (vocab.Env, store.Page) {
	return vocab.Env(p.Env), store.Page{Cursor: p.Cursor, Query: p.Query}
}

func listCatalog(d Deps) Tool {
	return define(d, "list_catalog", "List catalog",
		"billwire's mirror of the Stripe catalog: products with their prices (ids, display amounts, intervals, lookup keys), 50 products a page. Same as resource billwire://{env}/catalog.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page := p.page()
			return d.Billing.ListCatalog(ctx, env, page)
		})
}

func listCustomers(d Deps) Tool {
	return define(d, "list_customers", "List customers",
		"billwire's mirror of Stripe customers, 50 a page. Same as resource billwire://{env}/customers.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page := p.page()
			return d.Billing.ListCustomers(ctx, env, page)
		})
}

func listSubscriptions(d Deps) Tool {
	return define(d, "list_subscriptions", "List subscriptions",
		"billwire's mirror of Stripe subscriptions with their items (status, period end, price ids), 50 a page. Same as resource billwire://{env}/subscriptions.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page := p.page()
			return d.Billing.ListSubscriptions(ctx, env, page)
		})
}
