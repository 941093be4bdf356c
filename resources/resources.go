// Package resources holds billwire's MCP resources: read-only JSON views of
// the settings and of what billwire mirrors from Stripe, per environment.
package resources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// pagination is how every list resource pages, said in its description.
const pagination = " Paginated: 50 per page; the JSON carries next_cursor when more remain — read the same URI with ?cursor=<next_cursor> for the next page (and ?query=<text> to search)."

// Register adds the resources to s.
func Register(s *server.MCPServer, b *billing.Service) {
	s.AddResource(mcp.NewResource("billwire://settings", "settings",
		mcp.WithResourceDescription("Both environments: masked Stripe key, account, last sync and counts, webhook state, next step. Never shows a full secret."),
		mcp.WithMIMEType("application/json")),
		redacted(func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			st, err := b.Status(ctx, vocab.Envs)
			if err != nil {
				return nil, err
			}
			return contents(req.Params.URI, map[string]any{"environments": st})
		}))
	s.AddResource(mcp.NewResource("billwire://price-map", "price-map",
		mcp.WithResourceDescription("The test→live price map promote_catalog keeps: for each test price, its live copy, both products and the lookup key (the same in both modes)."),
		mcp.WithMIMEType("application/json")),
		redacted(func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			m, err := b.PriceMap(ctx)
			if err != nil {
				return nil, err
			}
			return contents(req.Params.URI, map[string]any{"prices": m})
		}))
	list := func(name, what string, fn func(context.Context, vocab.Env, store.Page) (any, error)) {
		s.AddResourceTemplate(mcp.NewResourceTemplate("billwire://{env}/"+name+"{?cursor,query}", name,
			mcp.WithTemplateDescription(what+pagination),
			mcp.WithTemplateMIMEType("application/json")),
			redacted(func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				env, err := vocab.ParseEnv(arg(req, "env"))
				if err != nil {
					return nil, err
				}
				v, err := fn(ctx, env, store.Page{Cursor: arg(req, "cursor"), Query: arg(req, "query")})
				if err != nil {
					return nil, err
				}
				return contents(req.Params.URI, v)
			}))
	}
	subjects(s, b)
	meters(s, b)
	list("catalog", "Products with their prices (amounts with a human display, intervals, lookup keys, meters of metered prices) mirrored from Stripe, and the billing meters on the first page.",
		func(ctx context.Context, env vocab.Env, p store.Page) (any, error) { return b.ListCatalog(ctx, env, p) })
	list("customers", "Stripe customers mirrored by billwire.",
		func(ctx context.Context, env vocab.Env, p store.Page) (any, error) {
			return b.ListCustomers(ctx, env, p)
		})
	list("subscriptions", "Stripe subscriptions with their items, mirrored by billwire.",
		func(ctx context.Context, env vocab.Env, p store.Page) (any, error) {
			return b.ListSubscriptions(ctx, env, p)
		})
	list("payment-history", "Payments (with failures and refunded amounts), refunds and disputes projected from Stripe events, newest first.",
		func(ctx context.Context, env vocab.Env, p store.Page) (any, error) {
			return b.ListPaymentHistory(ctx, env, p)
		})
	list("invoices", "Stripe invoices projected from invoice.* events, newest first, with receipt links (hosted_invoice_url, invoice_pdf) and dunning state (attempt_count, next_payment_attempt).",
		func(ctx context.Context, env vocab.Env, p store.Page) (any, error) {
			return b.ListInvoices(ctx, env, p)
		})
	list("checkout-sessions", "Checkout sessions the session API opened, newest first: id, Stripe id, subject, mode, status, payment status, created.",
		func(ctx context.Context, env vocab.Env, p store.Page) (any, error) {
			return b.ListCheckoutSessions(ctx, env, p)
		})
	list("webhook-events", "Recent Stripe events in billwire's ledger, newest first, with status (processed, stale, ignored, failed, parked) and resolved_by, attempts, last error and payload_kept.",
		func(ctx context.Context, env vocab.Env, p store.Page) (any, error) {
			return b.ListWebhookEvents(ctx, env, p)
		})
}

// meters adds billwire://{env}/meters.
func meters(s *server.MCPServer, b *billing.Service) {
	s.AddResourceTemplate(mcp.NewResourceTemplate("billwire://{env}/meters", "meters",
		mcp.WithTemplateDescription("Stripe billing meters mirrored by billwire (id, event_name, display_name, aggregation, status): what metered prices bill and what the usage API accepts. The same view as list_meters."),
		mcp.WithTemplateMIMEType("application/json")),
		redacted(func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			env, err := vocab.ParseEnv(arg(req, "env"))
			if err != nil {
				return nil, err
			}
			v, err := b.ListMeters(ctx, env)
			if err != nil {
				return nil, err
			}
			return contents(req.Params.URI, v)
		}))
}

// subjects adds billwire://{env}/subjects/{type}/{id}.
func subjects(s *server.MCPServer, b *billing.Service) {
	s.AddResourceTemplate(mcp.NewResourceTemplate("billwire://{env}/subjects/{type}/{id}", "subject-billing",
		mcp.WithTemplateDescription("A subject's (type user or team) billing state from webhook-projected data: its Stripe customer and whether the mapping is confirmed, subscriptions that still bill, recent payments. The same view as get_subject_billing."),
		mcp.WithTemplateMIMEType("application/json")),
		redacted(func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			env, err := vocab.ParseEnv(arg(req, "env"))
			if err != nil {
				return nil, err
			}
			v, err := b.Checkout().GetSubjectBilling(ctx, env, auth.MCPCaller, auth.Subject{Type: arg(req, "type"), ID: arg(req, "id")})
			if err != nil {
				return nil, err
			}
			return contents(req.Params.URI, v)
		}))
	s.AddResourceTemplate(mcp.NewResourceTemplate("billwire://{env}/subjects/{type}/{id}/usage{?event_name}", "subject-usage",
		mcp.WithTemplateDescription("A subject's usage of a meter in its metered subscription's current period: Stripe's summary up to ten minutes ago plus the usage billwire accepted since, and the accepted usage per UTC day. The same view as get_usage and the app's GET /api/payments/{env}/subjects/{type}/{id}/usage."),
		mcp.WithTemplateMIMEType("application/json")),
		redacted(func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			env, err := vocab.ParseEnv(arg(req, "env"))
			if err != nil {
				return nil, err
			}
			v, err := b.Checkout().GetSubjectUsage(ctx, env, auth.MCPCaller, auth.Subject{Type: arg(req, "type"), ID: arg(req, "id")}, arg(req, "event_name"))
			if err != nil {
				return nil, err
			}
			return contents(req.Params.URI, v)
		}))
}

// readFunc is a resource's or a template's read handler.
type readFunc = func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error)

// redacted masks any key or signing secret in the error a handler returns
// (Stripe's or the database's words may carry one), as tools' errors are.
func redacted(h readFunc) readFunc {
	return func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		out, err := h(ctx, req)
		if err != nil {
			return nil, errors.New(secrets.Redact(err.Error()))
		}
		return out, nil
	}
}

// arg reads a template variable; mcp-go hands them over as []string.
func arg(req mcp.ReadResourceRequest, name string) string {
	switch v := req.Params.Arguments[name].(type) {
	case []string:
		if len(v) > 0 {
			return v[0]
		}
	case string:
		return v
	}
	return ""
}

func contents(uri string, v any) ([]mcp.ResourceContents, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", uri, err)
	}
	return []mcp.ResourceContents{mcp.TextResourceContents{URI: uri, MIMEType: "application/json", Text: string(b)}}, nil
}
