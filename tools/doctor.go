package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/vocab"
)

// CheckIntegrationParams are check_integration's arguments.
type CheckIntegrationParams struct {
	Env Env `json:"env" jsonschema:"required"`
}

// LiveWrite: the checks create the Billing Portal configuration in test
// mode only; in live they read.
func (p CheckIntegrationParams) LiveWrite(context.Context, Deps) (Write, error) {
	env := vocab.Env(p.Env)
	return Write{Writes: env == vocab.Test, Env: env, What: "create the Billing Portal configuration"}, nil
}

func checkIntegration(d Deps) Tool {
	return define(d, "check_integration", "Check the integration",
		"Check an environment end to end, one line per item, each pass or fail with its fix: keys, webhook endpoint, last event, a signed self-test through the running billwire serve (BILLWIRE_PUBLIC_URL, else http://127.0.0.1:8787), Billing Portal configuration (created in test mode when missing), scaffolded fulfillment, unrefunded fulfillment mismatches. Run it after wiring and before going live.",
		hints{readOnly: false, destructive: false, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, p CheckIntegrationParams) (any, error) {
			env := vocab.Env(p.Env)
			return d.Billing.CheckIntegration(ctx, env, billing.DoctorOptions{ReceiverURL: d.PublicURL, CreatePortal: env == vocab.Test})
		})
}
