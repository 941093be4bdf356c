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

// All returns every tool, sorted by name.
func All(d Deps) []Tool {
	ts := []Tool{
		configureStripeKeys(d),
		getPaymentsStatus(d),
		createProduct(d),
		createPrice(d),
		createPlan(d),
		syncCatalog(d),
		listCatalog(d),
		listCustomers(d),
		listSubscriptions(d),
		setupWebhook(d),
		reconcileEvents(d),
		replayWebhookEvent(d),
		listPaymentHistory(d),
		listWebhookEvents(d),
		getSubjectBilling(d),
		createTestCheckoutSession(d),
		checkIntegration(d),
		promoteCatalog(d),
		setEntitlements(d),
		checkEntitlement(d),
		scaffoldFulfillment(d),
		createTestSubscription(d),
		cancelTestSubscription(d),
		simulateEvents(d),
		listCheckoutSessions(d),
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Def.Name < ts[j].Def.Name })
	return ts
}

// ConfigureStripeKeysParams are configure_stripe_keys' arguments.
type ConfigureStripeKeysParams struct {
	Env                  string `json:"env" jsonschema:"required,enum=test,enum=live" jsonschema_description:"Environment. Only test keys are accepted through MCP; a live key is set by a human with the CLI."`
	SecretKey            string `json:"secret_key" jsonschema:"required" jsonschema_description:"A Stripe test secret key (sk_test_…) or restricted key (rk_test_…)."`
	ConfirmAccountChange bool   `json:"confirm_account_change,omitempty" jsonschema_description:"Set true only when the key intentionally belongs to a different Stripe account than the one already configured; billwire then clears what it mirrored from the old account."`
}

func configureStripeKeys(d Deps) Tool {
	return define("configure_stripe_keys", "Configure Stripe keys",
		"Store the Stripe test key billwire uses. billwire asks Stripe which account the key belongs to, stores the key encrypted, and only ever shows it masked (sk_test_…4242). Live keys never pass through MCP: for env live this answers with the terminal command a human runs instead.",
		hints{readOnly: false, destructive: false, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p ConfigureStripeKeysParams) (any, error) {
			env, err := vocab.ParseEnv(p.Env)
			if err != nil {
				return nil, err
			}
			if env == vocab.Live {
				return nil, errors.New("live keys are never accepted through MCP, so they stay out of the agent's transcript. " +
					"Ask the human to run this in a terminal (it reads the key from standard input): billwire keys set --env live")
			}
			return d.Billing.ConfigureKey(ctx, env, p.SecretKey, p.ConfirmAccountChange)
		})
}

// GetPaymentsStatusParams are get_payments_status' arguments.
type GetPaymentsStatusParams struct {
	Env string `json:"env,omitempty" jsonschema:"enum=test,enum=live" jsonschema_description:"Environment to report; both when omitted."`
}

func getPaymentsStatus(d Deps) Tool {
	return define("get_payments_status", "Payments status",
		"Report billwire's state per environment: masked key, Stripe account, last sync (when, counts, errors), mirrored object counts, webhook state, fulfillment mismatches (payments that named an order without paying for it, which the app should refund), and the next step to take. Call this first.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p GetPaymentsStatusParams) (any, error) {
			envs := vocab.Envs
			if p.Env != "" {
				env, err := vocab.ParseEnv(p.Env)
				if err != nil {
					return nil, err
				}
				envs = []vocab.Env{env}
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
	Env         string            `json:"env" jsonschema:"required,enum=test,enum=live" jsonschema_description:"Environment to create the product in."`
	Name        string            `json:"name" jsonschema:"required" jsonschema_description:"Product name customers see, e.g. Pro."`
	Description string            `json:"description,omitempty" jsonschema_description:"Optional description customers see."`
	Metadata    map[string]string `json:"metadata,omitempty" jsonschema_description:"Optional key-value metadata (at most 50 keys)."`
	ConfirmLive bool              `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

func createProduct(d Deps) Tool {
	return define("create_product", "Create product",
		"Create a product in Stripe and store it in billwire's catalog. Retrying the same call creates nothing twice. To create a product with its price in one call use create_plan.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p CreateProductParams) (any, error) {
			env, err := vocab.ParseEnv(p.Env)
			if err != nil {
				return nil, err
			}
			if err := d.guardLive(ctx, env, p.ConfirmLive, "create a product"); err != nil {
				return nil, err
			}
			prod, err := d.Billing.CreateProduct(ctx, env, billing.ProductInput{Name: p.Name, Description: p.Description, Metadata: p.Metadata})
			if err != nil {
				return nil, err
			}
			return map[string]any{"env": env, "product": prod, "next_step": "add a price with create_price using this product id"}, nil
		})
}

// CreatePriceParams are create_price's arguments.
type CreatePriceParams struct {
	Env                 string `json:"env" jsonschema:"required,enum=test,enum=live" jsonschema_description:"Environment of the product."`
	ProductID           string `json:"product_id" jsonschema:"required" jsonschema_description:"The product's id (prod_…)."`
	UnitAmount          int64  `json:"unit_amount" jsonschema:"required" jsonschema_description:"Amount in the currency's minor units: 2000 is 20.00 USD; 500 is 500 JPY."`
	Currency            string `json:"currency" jsonschema:"required" jsonschema_description:"Three-letter ISO currency code, e.g. usd."`
	Interval            string `json:"interval,omitempty" jsonschema:"enum=day,enum=week,enum=month,enum=year" jsonschema_description:"Billing interval for a recurring price; omit for a one-time price."`
	IntervalCount       int64  `json:"interval_count,omitempty" jsonschema_description:"Intervals between bills (default 1), e.g. 3 with month for quarterly."`
	LookupKey           string `json:"lookup_key,omitempty" jsonschema_description:"Stable name the app can use instead of the price id, e.g. pro_monthly."`
	Nickname            string `json:"nickname,omitempty" jsonschema_description:"Internal name for the price."`
	TrialPeriodDays     int64  `json:"trial_period_days,omitempty" jsonschema_description:"Free trial in days (1 to 730, recurring prices only) that subscription checkouts of this price get, once per subject and product. Checkout terms are set on the price: end users' tokens cannot choose them."`
	AllowPromotionCodes bool   `json:"allow_promotion_codes,omitempty" jsonschema_description:"Let customers enter promotion codes in checkouts of this price."`
	AutomaticTax        bool   `json:"automatic_tax,omitempty" jsonschema_description:"Turn on Stripe Tax (automatic tax) in checkouts of this price."`
	ConfirmLive         bool   `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

func createPrice(d Deps) Tool {
	return define("create_price", "Create price",
		"Create a price for a product. Amounts are in minor units and checked before Stripe is called; the result's display field (e.g. \"20.00 USD / month\") shows what was created: check it. Retrying the same call creates nothing twice.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p CreatePriceParams) (any, error) {
			env, err := vocab.ParseEnv(p.Env)
			if err != nil {
				return nil, err
			}
			in := billing.PriceInput{ProductID: p.ProductID, UnitAmount: p.UnitAmount, Currency: p.Currency, Interval: p.Interval,
				IntervalCount: p.IntervalCount, LookupKey: p.LookupKey, Nickname: p.Nickname,
				PriceTermsInput: billing.PriceTermsInput{TrialPeriodDays: p.TrialPeriodDays, AllowPromotionCodes: p.AllowPromotionCodes, AutomaticTax: p.AutomaticTax}}
			if err := d.guardLive(ctx, env, p.ConfirmLive, "create a price"); err != nil {
				return nil, err
			}
			price, err := d.Billing.CreatePrice(ctx, env, in)
			if err != nil {
				return nil, err
			}
			return map[string]any{"env": env, "price": price, "summary": "created " + price.ID + ": " + price.Display}, nil
		})
}

// CreatePlanParams are create_plan's arguments.
type CreatePlanParams struct {
	Env                 string `json:"env" jsonschema:"required,enum=test,enum=live" jsonschema_description:"Environment to create the plan in."`
	Name                string `json:"name" jsonschema:"required" jsonschema_description:"Product name customers see, e.g. Pro."`
	UnitAmount          int64  `json:"unit_amount" jsonschema:"required" jsonschema_description:"Amount in the currency's minor units: 2000 is 20.00 USD."`
	Currency            string `json:"currency" jsonschema:"required" jsonschema_description:"Three-letter ISO currency code, e.g. usd."`
	Interval            string `json:"interval,omitempty" jsonschema:"enum=day,enum=week,enum=month,enum=year" jsonschema_description:"Billing interval; omit for a one-time price."`
	LookupKey           string `json:"lookup_key,omitempty" jsonschema_description:"Stable name for the price, e.g. pro_monthly."`
	TrialPeriodDays     int64  `json:"trial_period_days,omitempty" jsonschema_description:"Free trial in days (1 to 730, recurring prices only) that subscription checkouts of this price get, once per subject and product. Checkout terms are set on the price: end users' tokens cannot choose them."`
	AllowPromotionCodes bool   `json:"allow_promotion_codes,omitempty" jsonschema_description:"Let customers enter promotion codes in checkouts of this price."`
	AutomaticTax        bool   `json:"automatic_tax,omitempty" jsonschema_description:"Turn on Stripe Tax (automatic tax) in checkouts of this price."`
	ConfirmLive         bool   `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

func createPlan(d Deps) Tool {
	return define("create_plan", "Create plan",
		"Create a product and its price in one call, e.g. Pro at 2000 usd per month. Both are checked before Stripe is called; the result's price.display (\"20.00 USD / month\") shows what was created. Retrying the same call creates nothing twice.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p CreatePlanParams) (any, error) {
			env, err := vocab.ParseEnv(p.Env)
			if err != nil {
				return nil, err
			}
			if err := d.guardLive(ctx, env, p.ConfirmLive, "create a product and price"); err != nil {
				return nil, err
			}
			plan, err := d.Billing.CreatePlan(ctx, env, billing.PlanInput{Name: p.Name, UnitAmount: p.UnitAmount, Currency: p.Currency,
				Interval: p.Interval, LookupKey: p.LookupKey,
				PriceTermsInput: billing.PriceTermsInput{TrialPeriodDays: p.TrialPeriodDays, AllowPromotionCodes: p.AllowPromotionCodes, AutomaticTax: p.AutomaticTax}})
			if err != nil {
				return nil, err
			}
			return map[string]any{"env": env, "product": plan.Product, "price": plan.Price,
				"summary": "created " + plan.Product.ID + " with " + plan.Price.ID + ": " + plan.Price.Display}, nil
		})
}

// SyncCatalogParams are sync_catalog's arguments.
type SyncCatalogParams struct {
	Env     string   `json:"env" jsonschema:"required,enum=test,enum=live" jsonschema_description:"Environment to sync."`
	Objects []string `json:"objects,omitempty" jsonschema_description:"Object types to sync: products, prices, customers, subscriptions; all when omitted."`
}

func syncCatalog(d Deps) Tool {
	return define("sync_catalog", "Sync from Stripe",
		"Mirror products, prices, customers and subscriptions from Stripe into billwire's database, a page at a time. Reads Stripe, changes nothing there. A failed sync keeps what it stored; calling it again resumes where it stopped. Customers and products deleted in Stripe without an event reaching billwire are marked deleted and counted in removed. Sends progress notifications when the request carries a progress token.",
		hints{readOnly: false, destructive: false, idempotent: true, openWorld: true},
		func(ctx context.Context, req mcp.CallToolRequest, p SyncCatalogParams) (any, error) {
			env, err := vocab.ParseEnv(p.Env)
			if err != nil {
				return nil, err
			}
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
	Env    string `json:"env" jsonschema:"required,enum=test,enum=live" jsonschema_description:"Environment to read."`
	Cursor string `json:"cursor,omitempty" jsonschema_description:"next_cursor from the previous page; omit for the first page."`
	Query  string `json:"query,omitempty" jsonschema_description:"Optional search: an id (the object's, its customer's, subject's, invoice's, subscription's) or a status, exactly; or the start of a customer's email or name. For the catalog: any part of a product name, product or price id, or lookup key."`
}

func (p ListParams) page() (vocab.Env, store.Page, error) {
	env, err := vocab.ParseEnv(p.Env)
	return env, store.Page{Cursor: p.Cursor, Query: p.Query}, err
}

func listCatalog(d Deps) Tool {
	return define("list_catalog", "List catalog",
		"Read billwire's mirror of the Stripe catalog: products with their prices (ids, amounts with a human display, intervals, lookup keys). 50 products per page; pass next_cursor as cursor for the next. Same data as resource billwire://{env}/catalog.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page, err := p.page()
			if err != nil {
				return nil, err
			}
			return d.Billing.ListCatalog(ctx, env, page)
		})
}

func listCustomers(d Deps) Tool {
	return define("list_customers", "List customers",
		"Read billwire's mirror of Stripe customers. 50 per page; pass next_cursor as cursor for the next. Same data as resource billwire://{env}/customers.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page, err := p.page()
			if err != nil {
				return nil, err
			}
			return d.Billing.ListCustomers(ctx, env, page)
		})
}

func listSubscriptions(d Deps) Tool {
	return define("list_subscriptions", "List subscriptions",
		"Read billwire's mirror of Stripe subscriptions with their items (status, period end, price ids). 50 per page; pass next_cursor as cursor for the next. Same data as resource billwire://{env}/subscriptions.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p ListParams) (any, error) {
			env, page, err := p.page()
			if err != nil {
				return nil, err
			}
			return d.Billing.ListSubscriptions(ctx, env, page)
		})
}
