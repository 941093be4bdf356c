package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/vocab"
)

// PromoteCatalogParams are promote_catalog's arguments.
type PromoteCatalogParams struct {
	DryRun      bool `json:"dry_run,omitempty" jsonschema_description:"List what would be copied and write nothing (needs no live-write permission). Do this first and show the human the list."`
	ConfirmLive bool `json:"confirm_live,omitempty" jsonschema_description:"Required true to copy, after the human confirmed the dry run's list."`
}

// LiveWrite: a copy writes live (whatever env the agent thinks of); a dry
// run writes nothing.
func (p PromoteCatalogParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: !p.DryRun, Env: vocab.Live, Confirmed: p.ConfirmLive,
		What: "copy the test catalog (products, prices and their features)"}, nil
}

func promoteCatalog(d Deps) Tool {
	return define(d, "promote_catalog", "Promote catalog to live",
		"Go-live: copy the active test products, prices and their entitlement features to live Stripe, and keep a test→live price map (billwire://price-map). Calling again copies nothing twice; a live price already holding a lookup key is adopted if its terms match, else reported. Lookup keys stay the same. Needs the live key, set by a human (`billwire keys set --env live`). Start with dry_run: true.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p PromoteCatalogParams) (any, error) {
			return d.Billing.PromoteCatalog(ctx, p.DryRun)
		})
}

// SetEntitlementsParams are set_entitlements' arguments.
type SetEntitlementsParams struct {
	Env         Env      `json:"env" jsonschema:"required"`
	ProductID   string   `json:"product_id" jsonschema:"required" jsonschema_description:"The product (prod_…); for live, its live id from billwire://price-map."`
	Features    []string `json:"features" jsonschema:"required" jsonschema_description:"Feature lookup keys the app checks, e.g. [\"api_access\"]: letters, digits, _ . : -."`
	ConfirmLive bool     `json:"confirm_live,omitempty" jsonschema_description:"Required true for env live, after the human confirmed."`
}

// LiveWrite: features created and attached in env.
func (p SetEntitlementsParams) LiveWrite(context.Context, Deps) (Write, error) {
	return Write{Writes: true, Env: vocab.Env(p.Env), Confirmed: p.ConfirmLive,
		What: "create entitlement features and attach them to a product"}, nil
}

func setEntitlements(d Deps) Tool {
	return define(d, "set_entitlements", "Set product entitlements",
		"Make a product grant features (Stripe Entitlements): each feature, by lookup key, is reused or created and attached. Adds only; retrying changes nothing more. check_entitlement answers from what Stripe then reports.",
		writeStripe,
		func(ctx context.Context, _ mcp.CallToolRequest, p SetEntitlementsParams) (any, error) {
			return d.Billing.SetEntitlements(ctx, vocab.Env(p.Env), p.ProductID, p.Features)
		})
}

// CheckEntitlementParams are check_entitlement's arguments.
type CheckEntitlementParams struct {
	Env     Env          `json:"env" jsonschema:"required"`
	Subject auth.Subject `json:"subject" jsonschema:"required" jsonschema_description:"Who wants to use the feature."`
	Feature string       `json:"feature" jsonschema:"required" jsonschema_description:"The feature's lookup key, e.g. api_access."`
}

func checkEntitlement(d Deps) Tool {
	return define(d, "check_entitlement", "Check entitlement",
		"May a subject use a feature? From the active entitlements Stripe last reported for the subject's customer; reads billwire's database only, and says why.",
		readLocal,
		func(ctx context.Context, _ mcp.CallToolRequest, p CheckEntitlementParams) (any, error) {
			env := vocab.Env(p.Env)
			_, detail, err := d.Billing.CheckEntitlement(ctx, env, p.Subject, p.Feature)
			return detail, err
		})
}
