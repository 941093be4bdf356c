package tools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/billwire/billwire/internal/scaffold"
)

// ScaffoldFulfillmentParams are scaffold_fulfillment's arguments.
type ScaffoldFulfillmentParams struct {
	Pattern        string           `json:"pattern" jsonschema:"required,enum=subscription_access,enum=one_time_orders,enum=credits" jsonschema_description:"subscription_access: a <subject>_billing_status table (plan, status, period end; active or trialing grants access, past_due for grace_days). one_time_orders: an orders table of pending orders the app fills (owner, amount, currency), marked paid only by the owner's payment of the amount (order id in the Checkout Session's metadata order_id); other payments naming it go to payments.fulfillment_mismatches. credits: an append-only credit_ledger granted once per payment for the packs in grants, with a balance view."`
	Env            Env              `json:"env,omitempty" jsonschema_description:"The environment whose billing changes reach the objects (default test); scaffold again with live to go live."`
	Table          string           `json:"table,omitempty" jsonschema_description:"The main table, optionally schema-qualified (app.orders); lower-case letters, digits, underscores. Default: <subject_type>_billing_status, orders or credit_ledger, in public."`
	SubjectType    string           `json:"subject_type,omitempty" jsonschema:"enum=user,enum=team" jsonschema_description:"The subject type the pattern serves (billwire_subject_type metadata, client_reference_id type:id); names the id column (team_id). Default team for subscription_access, else user."`
	Grants         map[string]int64 `json:"grants,omitempty" jsonschema_description:"credits only, required: each credit pack's price lookup key with the credits one unit grants, e.g. {\"credits_100\": 100}. Only these prices grant (quantity 3 grants 300)."`
	CreditsPerUnit int64            `json:"credits_per_unit,omitempty" jsonschema_description:"Refused since scaffold version 2: use grants."`
	GraceDays      int              `json:"grace_days,omitempty" jsonschema:"minimum=0,maximum=90" jsonschema_description:"subscription_access only: days a past_due subscription (a renewal payment failed, Stripe is retrying) keeps access, counted from Stripe's time of the event in which it became past_due (past_due_since). Default 0: access ends when the payment fails. unpaid, canceled and incomplete_expired lose access at once."`
	WriteTo        string           `json:"write_to,omitempty" jsonschema_description:"Write the SQL as a migration file for the app's migration tool: a .sql path, or a directory ending in / (file <UTC timestamp>_<name>.sql), under the first MCP root (else the working directory)."`
	Apply          bool             `json:"apply,omitempty" jsonschema_description:"For apps without a migration tool: apply the SQL in one transaction and record it in payments.app_migrations. Not with write_to."`
	ConfirmLive    bool             `json:"confirm_live,omitempty" jsonschema_description:"Required true, after the human confirmed, with apply or write_to for env live or over objects bound to live now (any env)."`
}

// ScaffoldResult is what scaffold_fulfillment answers.
type ScaffoldResult struct {
	// Mode is dry_run, written, applied or already_applied.
	Mode string `json:"mode"`
	*scaffold.Migration
	Path      string    `json:"path,omitempty"`
	Unchanged bool      `json:"unchanged,omitempty"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
	// UpgradedFrom names the version 1 scaffold this apply upgraded.
	UpgradedFrom string `json:"upgraded_from,omitempty"`
	NextStep     string `json:"next_step"`
}

func scaffoldFulfillment(d Deps) Tool {
	return define(d, "scaffold_fulfillment", "Scaffold fulfillment",
		"Generate the SQL that grants what was paid for in the app's own tables, reacting to billwire's outbox (payments.billing_changes) in the same transaction as each webhook projection, never to the success redirect. A dry run (the SQL) by default; write_to writes a migration file; apply: true applies it and records its checksum. Over a version 1 scaffold of the same pattern, table and env, it upgrades it.",
		hints{readOnly: false, destructive: false, idempotent: true, openWorld: false},
		func(ctx context.Context, _ mcp.CallToolRequest, p ScaffoldFulfillmentParams) (any, error) {
			return d.scaffold(ctx, p)
		})
}

// generate is the SQL the call asks for.
func (p ScaffoldFulfillmentParams) generate() (*scaffold.Migration, error) {
	if p.WriteTo != "" && p.Apply {
		return nil, errors.New("write_to and apply cannot be combined: use write_to when the app has its own migration tool (it applies the file), apply: true when it has none")
	}
	return scaffold.Generate(scaffold.Options{Pattern: p.Pattern, Env: string(p.Env), Table: p.Table, SubjectType: p.SubjectType, Grants: p.Grants,
		CreditsPerUnit: p.CreditsPerUnit, GraceDays: p.GraceDays})
}

// scaffold runs after the live guard (LiveWrite) allowed the call.
func (d Deps) scaffold(ctx context.Context, p ScaffoldFulfillmentParams) (*ScaffoldResult, error) {
	m, err := p.generate()
	if err != nil {
		return nil, err
	}
	res := &ScaffoldResult{Migration: m}
	switch {
	case p.Apply:
		st, err := d.Billing.Store(ctx)
		if err != nil {
			return nil, err
		}
		a, err := scaffold.Apply(ctx, st, m)
		if err != nil {
			return nil, err
		}
		res.Mode, res.AppliedAt, res.UpgradedFrom = "applied", a.AppliedAt, a.UpgradedFrom
		if a.AlreadyApplied {
			res.Mode = "already_applied"
		}
		res.NextStep = "the objects are live in the database: " + verifyHint(m)
	case p.WriteTo != "":
		roots, err := writeRoots(ctx)
		if err != nil {
			return nil, err
		}
		w, err := scaffold.WriteFile(m, p.WriteTo, roots, time.Now())
		if err != nil {
			return nil, err
		}
		res.Mode, res.Path, res.Unchanged = "written", w.Path, w.Unchanged
		res.NextStep = "apply the file with the app's migration tool (after `billwire migrate`), then " + verifyHint(m)
	default:
		res.Mode = "dry_run"
		res.NextStep = "review the SQL; then call again with write_to (e.g. \"db/migrations/\") if the app has a migration tool, or apply: true if it has none"
	}
	return res, nil
}

func verifyHint(m *scaffold.Migration) string {
	switch m.Pattern {
	case scaffold.SubscriptionAccess:
		return "check access with the access function over " + m.Table + " after a test subscription's events arrive (it applies grace_days at read time); grant access from it, never from the success redirect"
	case scaffold.OneTimeOrders:
		return "insert a pending order with its owner's " + m.SubjectType + "_id, amount and currency, put its id in the Checkout Session's metadata as order_id, and check that " + m.Table +
			" shows it paid after the events arrive; payments that do not pay it show in payments.fulfillment_mismatches (get_payments_status counts them) for the app to refund"
	default:
		return "complete a test Checkout payment of a credit pack named in grants and check that " + m.Table + " holds one purchase row for it, however often its events are delivered"
	}
}

// writeRoots are the directories write_to may write in: the MCP client's
// file roots when it declares the roots capability and has some, else
// billwire's working directory.
func writeRoots(ctx context.Context) ([]string, error) {
	srv := server.ServerFromContext(ctx)
	ci, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo)
	if srv != nil && ok && ci.GetClientCapabilities().Roots != nil {
		res, err := srv.RequestRoots(ctx, mcp.ListRootsRequest{Request: mcp.Request{Method: string(mcp.MethodListRoots)}})
		if err != nil {
			return nil, fmt.Errorf("could not read the MCP client's roots, which bound where write_to may write: %w; call without write_to to get the SQL", err)
		}
		uris := make([]string, len(res.Roots))
		for i, r := range res.Roots {
			uris[i] = r.URI
		}
		if roots := scaffold.RootsFromURIs(uris); len(roots) > 0 {
			return roots, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("working directory: %w", err)
	}
	return []string{wd}, nil
}
