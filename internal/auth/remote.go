package auth

import (
	"context"

	"github.com/billwire/billwire/internal/vocab"
)

// Remote is an MCP client over HTTP (billwire serve's /mcp), authenticated
// by an API key of scope mcp or mcp:live. It acts in its key's environment
// only, and writes live only with mcp:live.
type Remote struct {
	KeyID   int64
	KeyName string
	Env     vocab.Env
	Scope   vocab.Scope
}

type remoteKey struct{}

// WithRemote marks ctx as a call over MCP HTTP by r.
func WithRemote(ctx context.Context, r *Remote) context.Context {
	return context.WithValue(ctx, remoteKey{}, r)
}

// RemoteFrom returns the MCP HTTP caller of ctx, or nil over stdio.
func RemoteFrom(ctx context.Context) *Remote {
	r, _ := ctx.Value(remoteKey{}).(*Remote)
	return r
}
