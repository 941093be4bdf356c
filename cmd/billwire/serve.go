package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/webhooks"
)

// cmdServe runs the HTTP runtime. Unlike mcp it opens the database at start:
// a wrong master key or an unreachable database stops it at once.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("serve", stderr, getenv)
	addr := fs.String("addr", runtime.DefaultAddr, "address to listen on")
	writers := fs.Int("webhook-writers", 1, "connections writing webhook batches, each with up to two in flight")
	pprofAddr := fs.String("pprof-addr", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off when empty")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, st, err := c.openStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
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
	apiCfg, err := apiConfig(getenv)
	if err != nil {
		return err
	}
	srv, err := runtime.New(st, a.svc, a.log, runtime.Options{Webhooks: webhooks.Options{Writers: *writers}, API: apiCfg})
	if err != nil {
		return err
	}
	if !apiCfg.JWT.Enabled() {
		a.log.Info().Msg("session API: user tokens off (set BILLWIRE_JWT_HS256_SECRET or BILLWIRE_JWKS_URL); API keys only")
	}
	if apiCfg.Origins.Empty() {
		a.log.Warn().Msg("session API: BILLWIRE_ALLOWED_ORIGINS is empty, so no redirect URL or browser origin is allowed")
	}
	return srv.Serve(ctx, ln)
}

// apiConfig reads the session API's settings from the environment.
func apiConfig(getenv func(string) string) (runtime.APIConfig, error) {
	origins, err := auth.ParseOrigins(getenv("BILLWIRE_ALLOWED_ORIGINS"))
	if err != nil {
		return runtime.APIConfig{}, err
	}
	rates, err := runtime.ParseSessionRates(getenv)
	if err != nil {
		return runtime.APIConfig{}, err
	}
	return runtime.APIConfig{
		JWT: auth.JWTConfig{
			HS256Secret:      getenv("BILLWIRE_JWT_HS256_SECRET"),
			JWKSURL:          getenv("BILLWIRE_JWKS_URL"),
			Issuer:           getenv("BILLWIRE_JWT_ISSUER"),
			Audience:         getenv("BILLWIRE_JWT_AUDIENCE"),
			TeamsClaim:       getenv("BILLWIRE_JWT_TEAMS_CLAIM"),
			BillingRoleClaim: getenv("BILLWIRE_JWT_BILLING_ROLE_CLAIM"),
		},
		Origins:   origins,
		PublicURL: getenv("BILLWIRE_PUBLIC_URL"),
		Rates:     &rates,
	}, nil
}
