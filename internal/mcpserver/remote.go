package mcpserver

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/tools"
)

// Auditor records a call made over MCP HTTP.
type Auditor func(context.Context, store.AuditEntry)

// The rules of a call over MCP HTTP (a caller in ctx, auth.RemoteFrom), on
// top of every tool's own: the key's environment only (a tool's env
// defaults to it), no files on the server's disk, and one audit row per
// call. Over stdio these middlewares pass calls through untouched.

func remoteTools(ts []tools.Tool, audit Auditor) server.ToolHandlerMiddleware {
	// Read at the first remote call, not at start-up: over stdio it is
	// never needed.
	hasEnv := sync.OnceValue(func() map[string]bool {
		m := map[string]bool{}
		for _, t := range ts {
			var schema struct {
				Properties map[string]json.RawMessage `json:"properties"`
			}
			json.Unmarshal(t.Def.RawInputSchema, &schema) //nolint:errcheck // tools' schemas are reflected, always valid
			_, m[t.Def.Name] = schema.Properties["env"]
		}
		return m
	})
	return func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			rem := auth.RemoteFrom(ctx)
			if rem == nil {
				return next(ctx, req)
			}
			start := time.Now()
			ctx, out := tools.WithOutcome(ctx)
			res, err := remoteRefusal(rem, hasEnv()[req.Params.Name], &req, out)
			if res == nil {
				res, err = next(ctx, req)
			}
			result := "ok"
			switch {
			case err != nil:
				result = "error"
			case res != nil && res.IsError:
				result = out.Code
				if result == "" {
					result = "error"
				}
			}
			record(ctx, audit, rem, "tool", req.Params.Name, result, start)
			return res, err
		}
	}
}

// remoteRefusal refuses what a remote caller may not ask for, and gives a
// tool with an env argument the key's environment when none is named.
func remoteRefusal(rem *auth.Remote, hasEnv bool, req *mcp.CallToolRequest, out *tools.Outcome) (*mcp.CallToolResult, error) {
	args := req.GetArguments()
	if w, ok := args["write_to"]; ok && w != "" && w != nil {
		out.Code = "write_to_refused"
		return mcp.NewToolResultError("write_to writes files on billwire serve's disk and is refused over MCP HTTP; nothing was written. " +
			"Call without write_to to get the SQL back, and write the migration file in the app's repository yourself"), nil
	}
	if !hasEnv {
		return nil, nil
	}
	env, named := args["env"]
	if !named {
		if args == nil {
			args = map[string]any{}
		}
		args["env"] = string(rem.Env)
		req.Params.Arguments = args
		return nil, nil
	}
	if s, ok := env.(string); ok && vocab.Env(strings.ToLower(strings.TrimSpace(s))) != rem.Env {
		out.Code = "environment_not_allowed"
		return mcp.NewToolResultError(remoteEnvError(rem, vocab.Env(s)).Error()), nil
	}
	return nil, nil
}

func remoteResources(audit Auditor) server.ResourceHandlerMiddleware {
	return func(next server.ResourceHandlerFunc) server.ResourceHandlerFunc {
		return func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			rem := auth.RemoteFrom(ctx)
			if rem == nil {
				return next(ctx, req)
			}
			start := time.Now()
			uri := req.Params.URI
			first, _, _ := strings.Cut(strings.TrimPrefix(uri, "billwire://"), "/")
			if env := vocab.Env(first); (env == vocab.Test || env == vocab.Live) && env != rem.Env {
				record(ctx, audit, rem, "resource", uri, "environment_not_allowed", start)
				return nil, remoteEnvError(rem, env)
			}
			res, err := next(ctx, req)
			result := "ok"
			if err != nil {
				result = "error"
			}
			record(ctx, audit, rem, "resource", uri, result, start)
			return res, err
		}
	}
}

func remotePrompts(audit Auditor) server.PromptHandlerMiddleware {
	return func(next server.PromptHandlerFunc) server.PromptHandlerFunc {
		return func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			rem := auth.RemoteFrom(ctx)
			if rem == nil {
				return next(ctx, req)
			}
			start := time.Now()
			res, err := next(ctx, req)
			result := "ok"
			if err != nil {
				result = "error"
			}
			record(ctx, audit, rem, "prompt", req.Params.Name, result, start)
			return res, err
		}
	}
}

func record(ctx context.Context, audit Auditor, rem *auth.Remote, kind, name, result string, start time.Time) {
	if audit == nil {
		return
	}
	audit(context.WithoutCancel(ctx), store.AuditEntry{Env: rem.Env, KeyID: rem.KeyID, KeyName: rem.KeyName,
		Kind: kind, Name: name, Result: result, DurationMS: int(time.Since(start).Milliseconds())})
}
