package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/mcpserver"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	usageapi "github.com/billwire/billwire/internal/usage"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// cmdServe runs the HTTP runtime. Unlike mcp it opens the database at start:
// a wrong master key or an unreachable database stops it at once.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("serve", stderr, getenv)
	addr := fs.String("addr", runtime.DefaultAddr, "address to listen on")
	writers := fs.Int("webhook-writers", 1, "connections writing webhook batches, each with up to two in flight")
	fs.BoolVar(&c.embeddedDB, "embedded-db", false, "with no database set, use billwire's embedded cluster (billwire db …)")
	c.server = true
	allowLive := fs.Bool("allow-live-writes", false, "let MCP over HTTP write to live Stripe, for keys of scope mcp:live (each call still needs confirm_live: true)")
	pprofAddr := fs.String("pprof-addr", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off when empty")
	if err := parse(fs, args); err != nil {
		return err
	}
	// The session API's settings are checked before anything is opened: a
	// configuration that would accept tokens it should not never starts.
	apiCfg, warnings, err := apiConfig(getenv)
	if err != nil {
		return err
	}
	retention, err := webhooks.ParseRetention(getenv(webhooks.RetentionEnv))
	if err != nil {
		return err
	}
	usageRetention, err := usageapi.ParseRetention(getenv(usageapi.RetentionEnv))
	if err != nil {
		return err
	}
	mcpHosts, err := mcpserver.ParseAllowedHosts(getenv(mcpserver.AllowedHostsEnv))
	if err != nil {
		return err
	}
	a, err := c.open(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	for _, w := range warnings {
		a.log.Warn().Msg("session API: " + w)
	}
	st, err := a.lazy.Get(ctx)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		pl, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		go http.Serve(pl, mux) //nolint:errcheck
		defer pl.Close()
	}
	runtime.TuneGC(getenv)
	mcpHTTP := mcpserver.NewHTTP(mcpserver.New(mcpserver.Options{Version: buildVersion(), Billing: a.svc, AllowLiveWrites: *allowLive,
		PublicURL: getenv(billing.PublicURLEnv), Origins: apiCfg.Origins, Log: a.log, Audit: auditTo(st, a.log)}),
		mcpserver.HTTPOptions{Store: st, Origins: apiCfg.Origins, AllowedHosts: mcpHosts, Log: a.log})
	defer mcpHTTP.Close()
	srv, err := runtime.New(st, a.svc, a.log, runtime.Options{Webhooks: webhooks.Options{Writers: *writers}, API: apiCfg,
		EventRetention: retention, MCP: mcpHTTP})
	if err != nil {
		return err
	}
	if !apiCfg.JWT.Enabled() {
		a.log.Info().Msg("session API: user tokens off (set BILLWIRE_JWT_HS256_SECRET or BILLWIRE_JWKS_URL); API keys only")
	} else {
		a.log.Info().Str("env", string(apiCfg.JWT.Env)).Msg("session API: user tokens act in BILLWIRE_JWT_ENV's environment only")
	}
	if retention > 0 {
		a.log.Info().Str("retention", retention.String()).Msg("webhook ledger: payloads of processed events older than this are pruned (" + webhooks.RetentionEnv + ")")
	} else {
		a.log.Info().Msg("webhook ledger: payloads are kept forever (" + webhooks.RetentionEnv + "=0)")
	}
	if apiCfg.Origins.Empty() {
		a.log.Warn().Msg("session API: BILLWIRE_ALLOWED_ORIGINS is empty, so no redirect URL or browser origin is allowed")
	}
	// The usage sender has Stripe clients of its own: its pacer is not
	// the one checkouts wait on.
	sendCtx, stopSender := context.WithCancel(ctx)
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		usageapi.NewSender(billing.New(a.lazy, stripeapi.Options{BaseURL: c.apiBase}, a.log), a.log, usageRetention).Run(sendCtx)
	}()
	defer func() { stopSender(); <-senderDone }()
	return srv.Serve(ctx, ln)
}

// apiConfig reads the session API's settings from the environment: an
// error refuses the start (it names each setting to fix), warnings are for
// the start-up log.
func apiConfig(getenv func(string) string) (cfg runtime.APIConfig, warnings []string, err error) {
	origins, err := auth.ParseOrigins(getenv("BILLWIRE_ALLOWED_ORIGINS"))
	if err != nil {
		return runtime.APIConfig{}, nil, err
	}
	jwt := auth.JWTConfig{
		HS256Secret:      getenv("BILLWIRE_JWT_HS256_SECRET"),
		JWKSURL:          strings.TrimSpace(getenv("BILLWIRE_JWKS_URL")),
		Issuer:           getenv("BILLWIRE_JWT_ISSUER"),
		Audience:         getenv("BILLWIRE_JWT_AUDIENCE"),
		Env:              vocab.Env(strings.TrimSpace(getenv("BILLWIRE_JWT_ENV"))),
		TeamsClaim:       getenv("BILLWIRE_JWT_TEAMS_CLAIM"),
		BillingRoleClaim: getenv("BILLWIRE_JWT_BILLING_ROLE_CLAIM"),
	}
	rates, err := runtime.ParseSessionRates(getenv)
	if err != nil {
		return runtime.APIConfig{}, nil, err
	}
	if warnings, err = jwt.Check(); err != nil {
		return runtime.APIConfig{}, nil, fmt.Errorf("serve: not starting, the session API's user-token settings are unsafe:\n%w", err)
	}
	return runtime.APIConfig{JWT: jwt, Origins: origins, PublicURL: getenv("BILLWIRE_PUBLIC_URL"), Rates: &rates}, warnings, nil
}

// auditTo records MCP HTTP calls in payments.mcp_audit; a failed write is
// logged, and the call's answer stands.
func auditTo(st *store.Store, log zerolog.Logger) mcpserver.Auditor {
	return func(ctx context.Context, e store.AuditEntry) {
		if err := st.RecordAudit(ctx, e); err != nil {
			log.Error().Err(err).Str("name", e.Name).Msg("mcp http: writing the audit log failed")
		}
	}
}
