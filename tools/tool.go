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
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/fault"
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

	// reflectSchemas makes define reflect every input schema instead of taking
	// the generated one: the test that keeps schemas_gen.go current.
	reflectSchemas bool
}

// Tool is one MCP tool: its definition, its handler, and whether it writes
// to Stripe (the live-safety rules apply to those).
type Tool struct {
	Def     mcp.Tool
	Handler server.ToolHandlerFunc
	// WritesStripe marks tools that create or change objects in Stripe.
	WritesStripe bool
	// ReadOnly is the tool's read-only hint: it changes nothing, here or in
	// Stripe.
	ReadOnly bool
	// LiveGuarded says that define runs the live guard before the tool: its
	// params are a LiveWriter.
	LiveGuarded bool
	// Toolset is the one group the tool belongs to.
	Toolset Toolset
	// Hidden, set by Selection.Apply, says why billwire mcp does not list
	// the tool; its handler then refuses with this text.
	Hidden string
}

// ServerTool is the registration value mcp-go takes.
func (t Tool) ServerTool() server.ServerTool {
	return server.ServerTool{Tool: t.Def, Handler: t.Handler}
}

// inputSchema is the tool's input schema: the one generated from P at build
// time (schemas_gen.go), so that billwire mcp neither reflects every tool's
// at start-up nor links the reflector. Tests reflect P (reflectSchema) for
// a tool not generated yet, and to check the generated ones.
func inputSchema[P any](d Deps, name string) json.RawMessage {
	if s, ok := generatedSchemas[name]; ok && !d.reflectSchemas {
		return json.RawMessage(s)
	}
	if reflectSchema == nil {
		panic("tools: " + name + " has no generated input schema: run UPDATE_TOOLSCHEMAS=1 go test ./tools/ -run TestInputSchemasGenerated")
	}
	return reflectSchema(new(P))
}

// reflectSchema reflects the input schema of a pointer to a params struct;
// it is set by the package's tests only.
var reflectSchema func(params any) json.RawMessage

// hints are the four MCP annotation hints, all set on every tool, and
// whether the tool writes to Stripe (the live-safety rules apply).
type hints struct{ readOnly, destructive, idempotent, openWorld, writesStripe bool }

var (
	readLocal   = hints{readOnly: true, destructive: false, idempotent: true, openWorld: false}
	writeStripe = hints{readOnly: false, destructive: false, idempotent: true, openWorld: true, writesStripe: true}
)

// define builds a tool from a params struct and a function of it. Errors the
// caller can act on become tool results with IsError, so the model reads them.
//
// When P is a LiveWriter, define runs the live guard before fn; every tool
// that is not read-only must be one (the inventory test checks it).
func define[P any](d Deps, name, title, description string, h hints, fn func(context.Context, mcp.CallToolRequest, P) (any, error)) Tool {
	def := mcp.Tool{
		Name:           name,
		Title:          title,
		Description:    description,
		RawInputSchema: inputSchema[P](d, name),
		Annotations: mcp.ToolAnnotation{
			Title:           title,
			ReadOnlyHint:    mcp.ToBoolPtr(h.readOnly),
			DestructiveHint: mcp.ToBoolPtr(h.destructive),
			IdempotentHint:  mcp.ToBoolPtr(h.idempotent),
			OpenWorldHint:   mcp.ToBoolPtr(h.openWorld),
		},
	}
	// Compiled at the tool's first call, not at start-up: billwire mcp lists
	// every tool but calls few of them.
	valid := sync.OnceValue(func() validator { return newValidator(name, def.RawInputSchema) })
	handler := func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if err := valid().check(req.GetArguments()); err != nil {
			setOutcome(ctx, "invalid_arguments")
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
			setOutcome(ctx, "invalid_arguments")
		}
		if ae := (argError{}); errors.As(err, &ae) {
			return mcp.NewToolResultError(secrets.Redact(ae.Error())), nil
		}
		if err != nil {
			return mcp.NewToolResultError(fmt.Sprintf("invalid arguments for %s: %s; see the tool's input schema", name, secrets.Redact(err.Error()))), nil
		}
		if err := liveWrite(ctx, d, p); err != nil {
			setOutcome(ctx, "live_write_refused")
			return mcp.NewToolResultError(secrets.Redact(err.Error())), nil
		}
		out, err := fn(ctx, req, p)
		if err != nil {
			setOutcome(ctx, errorCode(err))
			return mcp.NewToolResultError(errorText(err)), nil
		}
		return result(out)
	}
	_, guarded := any(*new(P)).(LiveWriter)
	return Tool{Def: def, Handler: handler, WritesStripe: h.writesStripe, ReadOnly: h.readOnly, LiveGuarded: guarded}
}

// errorText is the tool text of a failed call, redacted: a fault.Error's
// text is its message, or for an upstream or database failure its cause
// (the agent, unlike the session API's callers, may read billwire's
// details); any other error's text is its own.
func errorText(err error) string {
	return secrets.Redact(err.Error())
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

// Write is what one call would write, as its arguments tell the live guard
// that define runs before the tool's function.
type Write struct {
	// Writes is false for a call that writes nothing the guard protects: a
	// dry run, or a read of Stripe into billwire's own mirror.
	Writes bool
	// Env is the environment the call writes: the guard acts on live.
	Env vocab.Env
	// Confirmed is the call's confirm_live.
	Confirmed bool
	// What is what billwire is about to do, in the words the human is asked
	// to allow: everything they need to judge it (the URL, the table), e.g.
	// "create a product".
	What string
	// Reason and Command, when set, word the refusals: why the call is a live
	// write, and the CLI command that does the same, which a human runs
	// after reviewing the tool's dry run.
	Reason, Command string
}

// LiveWriter is implemented by the params of every tool that is not
// read-only: define asks it what the call writes and runs the live guard,
// so no tool can forget it. A tool that never writes live says so (Writes
// false, or Env test); one that must refuse a call whatever the flags
// returns the refusal as its error.
type LiveWriter interface {
	LiveWrite(ctx context.Context, d Deps) (Write, error)
}

// liveWrite runs the live guard for p when its type is a LiveWriter.
func liveWrite[P any](ctx context.Context, d Deps, p P) error {
	lw, ok := any(p).(LiveWriter)
	if !ok {
		return nil
	}
	w, err := lw.LiveWrite(ctx, d)
	if err != nil {
		return err
	}
	return d.guardLive(ctx, w)
}

// errLiveDisabled and errLiveUnconfirmed are the two live-safety refusals.
var (
	errLiveDisabled = errors.New("live-mode writes are disabled: billwire mcp was started without --allow-live-writes. " +
		"A human must add --allow-live-writes to the billwire mcp command in the MCP client configuration and restart it; " +
		"then call again with confirm_live: true. Use env \"test\" to try this safely first")
	errLiveUnconfirmed = errors.New("this writes to LIVE Stripe (real money): confirm with the human, then call again with confirm_live: true")
	errLiveDeclined    = errors.New("the human declined this live-mode write; nothing was changed")
)

// guardLive applies the live-safety rules to a write: a live one is refused
// unless the server allows live writes and the call sets confirm_live;
// where the client supports elicitation, the human is asked too.
func (d Deps) guardLive(ctx context.Context, w Write) error {
	if !w.Writes || w.Env != vocab.Live {
		return nil
	}
	if err := remoteLive(ctx, d); err != nil {
		return err
	}
	if !d.AllowLiveWrites {
		if w.Command != "" {
			return fmt.Errorf("%s: a live write, and billwire mcp was started without --allow-live-writes. Nothing was written. "+
				"Ask the human to review the dry run and run it in a terminal: %s (or to restart billwire mcp with --allow-live-writes; then call again with confirm_live: true)",
				w.Reason, w.Command)
		}
		return errLiveDisabled
	}
	if !w.Confirmed {
		if w.Command != "" {
			return fmt.Errorf("%s: a live write. Nothing was written. Confirm with the human, then call again with confirm_live: true (or the human runs: %s)", w.Reason, w.Command)
		}
		return fmt.Errorf("%w. Ask the human about exactly this: billwire would %s in LIVE mode", errLiveUnconfirmed, w.What)
	}
	srv := server.ServerFromContext(ctx)
	sess := server.ClientSessionFromContext(ctx)
	ci, ok := sess.(server.SessionWithClientInfo)
	if srv == nil || !ok || ci.GetClientCapabilities().Elicitation == nil {
		return nil
	}
	res, err := srv.RequestElicitation(ctx, mcp.ElicitationRequest{Params: mcp.ElicitationParams{
		Message: "billwire is about to " + w.What + " in LIVE Stripe mode. Allow it?",
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"confirm": map[string]any{"type": "boolean", "title": "Allow this live-mode write"},
			},
			"required": []string{"confirm"},
		},
	}})
	// A client that cannot be asked (no elicitation, or protocol 2026-07-28
	// over HTTP, which has no server-initiated requests) relies on
	// confirm_live alone, as a client without elicitation does.
	if errors.Is(err, server.ErrElicitationNotSupported) || errors.Is(err, server.ErrServerInitiatedRequestUnsupported) {
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

// remoteLive adds what a live write over MCP HTTP needs: a key of scope
// mcp:live, and billwire serve started with --allow-live-writes.
func remoteLive(ctx context.Context, d Deps) error {
	rem := auth.RemoteFrom(ctx)
	switch {
	case rem == nil:
		return nil
	case rem.Scope != vocab.ScopeMCPLive:
		return fmt.Errorf("this MCP API key %q has scope %s, which cannot write live; nothing was written. "+
			"A human creates a live key of scope mcp:live (billwire apikeys create --env live --name agent-live --scope mcp:live) and the client connects with it", rem.KeyName, rem.Scope)
	case !d.AllowLiveWrites:
		return errors.New("live-mode writes are disabled: billwire serve was started without --allow-live-writes; nothing was written. " +
			"A human restarts billwire serve with --allow-live-writes; then call again with confirm_live: true")
	}
	return nil
}

// Outcome is how a tool call ended, for the MCP HTTP audit log: empty when
// it succeeded, else the error's code.
type Outcome struct{ Code string }

type outcomeKey struct{}

// WithOutcome returns a context in which define records how the call ends.
func WithOutcome(ctx context.Context) (context.Context, *Outcome) {
	o := &Outcome{}
	return context.WithValue(ctx, outcomeKey{}, o), o
}

func setOutcome(ctx context.Context, code string) {
	if o, ok := ctx.Value(outcomeKey{}).(*Outcome); ok && o.Code == "" {
		o.Code = code
	}
}

// errorCode is a failed call's code: a fault's own, else "error".
func errorCode(err error) string {
	if f, ok := fault.As(err); ok && f.Code != "" {
		return f.Code
	}
	return "error"
}
