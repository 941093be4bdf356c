// Package tools holds billwire's MCP tools: a params struct whose JSON
// schema is reflected by invopop/jsonschema, a plain function over the
// billing core, and one registration value built from them.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/invopop/jsonschema"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/vocab"
)

// Deps are what the tools need, injected as values.
type Deps struct {
	Billing *billing.Service
	// AllowLiveWrites is set by a human with `billwire mcp --allow-live-writes`.
	AllowLiveWrites bool
	// PublicURL is billwire serve's public base URL (BILLWIRE_PUBLIC_URL), the
	// default for setup_webhook.
	PublicURL string
	// Origins bound redirect URLs (BILLWIRE_ALLOWED_ORIGINS).
	Origins auth.Origins
}

// Tool is one MCP tool: its definition, its handler, and whether it writes
// to Stripe (the live-safety rules apply to those).
type Tool struct {
	Def     mcp.Tool
	Handler server.ToolHandlerFunc
	// WritesStripe marks tools that create or change objects in Stripe.
	WritesStripe bool
}

// ServerTool is the registration value mcp-go takes.
func (t Tool) ServerTool() server.ServerTool {
	return server.ServerTool{Tool: t.Def, Handler: t.Handler}
}

var reflector = &jsonschema.Reflector{
	DoNotReference:             true,
	ExpandedStruct:             true,
	RequiredFromJSONSchemaTags: true,
	Anonymous:                  true,
	AllowAdditionalProperties:  false,
}

// Schema reflects the input schema of a params struct.
func Schema[P any]() json.RawMessage {
	s := reflector.Reflect(new(P))
	s.Version = ""
	s.ID = ""
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}

// hints are the four MCP annotation hints, all set on every tool, and
// whether the tool writes to Stripe (the live-safety rules apply).
type hints struct{ readOnly, destructive, idempotent, openWorld, writesStripe bool }

var (
	readLocal   = hints{readOnly: true, destructive: false, idempotent: true, openWorld: false}
	writeStripe = hints{readOnly: false, destructive: false, idempotent: true, openWorld: true, writesStripe: true}
)

// define builds a tool from a params struct and a function of it. Errors the
// caller can act on become tool results with IsError, so the model reads them.
func define[P any](name, title, description string, h hints, fn func(context.Context, mcp.CallToolRequest, P) (any, error)) Tool {
	def := mcp.Tool{
		Name:           name,
		Title:          title,
		Description:    description,
		RawInputSchema: Schema[P](),
		Annotations: mcp.ToolAnnotation{
			Title:           title,
			ReadOnlyHint:    mcp.ToBoolPtr(h.readOnly),
			DestructiveHint: mcp.ToBoolPtr(h.destructive),
			IdempotentHint:  mcp.ToBoolPtr(h.idempotent),
			OpenWorldHint:   mcp.ToBoolPtr(h.openWorld),
		},
	}
	valid := newValidator(name, def.RawInputSchema)
	handler := func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if err := valid.check(req.GetArguments()); err != nil {
			return mcp.NewToolResultError(fmt.Sprintf("invalid arguments for %s: %s", name, secrets.Redact(err.Error()))), nil
		}
		var p P
		raw, err := json.Marshal(req.GetArguments())
		if err == nil {
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			dec.DisallowUnknownFields()
			err = dec.Decode(&p)
		}
		if err != nil {
			return mcp.NewToolResultError(fmt.Sprintf("invalid arguments for %s: %s; see the tool's input schema", name, secrets.Redact(err.Error()))), nil
		}
		out, err := fn(ctx, req, p)
		if err != nil {
			return mcp.NewToolResultError(secrets.Redact(err.Error())), nil
		}
		return result(out)
	}
	return Tool{Def: def, Handler: handler, WritesStripe: h.writesStripe}
}

// result returns v as structured content, with the same JSON as text for
// clients that only read text. Data from Stripe or users stays inside JSON.
func result(v any) (*mcp.CallToolResult, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return mcp.NewToolResultStructured(v, string(b)), nil
}

// errLiveDisabled and errLiveUnconfirmed are the two live-safety refusals.
var (
	errLiveDisabled = errors.New("live-mode writes are disabled: billwire mcp was started without --allow-live-writes. " +
		"A human must add --allow-live-writes to the billwire mcp command in the MCP client configuration and restart it; " +
		"then call again with confirm_live: true. Use env \"test\" to try this safely first")
	errLiveUnconfirmed = errors.New("this writes to LIVE Stripe (real money): confirm with the human, then call again with confirm_live: true")
	errLiveDeclined    = errors.New("the human declined this live-mode write; nothing was changed")
)

// guardLive applies the live-safety rules to a write in env: refused unless
// the server allows live writes and the call sets confirm_live; where the
// client supports elicitation, the human is asked too.
func (d Deps) guardLive(ctx context.Context, env vocab.Env, confirmLive bool, what string) error {
	if env != vocab.Live {
		return nil
	}
	if !d.AllowLiveWrites {
		return errLiveDisabled
	}
	if !confirmLive {
		return errLiveUnconfirmed
	}
	srv := server.ServerFromContext(ctx)
	sess := server.ClientSessionFromContext(ctx)
	ci, ok := sess.(server.SessionWithClientInfo)
	if srv == nil || !ok || ci.GetClientCapabilities().Elicitation == nil {
		return nil
	}
	res, err := srv.RequestElicitation(ctx, mcp.ElicitationRequest{Params: mcp.ElicitationParams{
		Message: "billwire is about to " + what + " in LIVE Stripe mode. Allow it?",
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"confirm": map[string]any{"type": "boolean", "title": "Allow this live-mode write"},
			},
			"required": []string{"confirm"},
		},
	}})
	if errors.Is(err, server.ErrElicitationNotSupported) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("could not ask the human to confirm the live write: %w", err)
	}
	if res.Action != mcp.ElicitationResponseActionAccept {
		return errLiveDeclined
	}
	if m, ok := res.Content.(map[string]any); !ok || m["confirm"] != true {
		return errLiveDeclined
	}
	return nil
}
