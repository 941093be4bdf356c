// Package runtime is billwire's long-running HTTP server: the webhook
// receiver, the session API (Checkout and Billing Portal for a subject) and
// health checks.
package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/dashboard"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/webhooks"
)

// TuneGC sets billwire serve's garbage collection unless GOGC is set (as
// getenv reports it). The server's live heap is a few MB and nearly all it
// allocates is per-request garbage: at Go's default, a collection every
// 4 MB or so cost about 15% of its CPU under webhook load (measured); one
// every 16 MB costs a quarter of that.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

// DefaultAddr is where billwire serve listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8787"

// Server is the HTTP runtime over one store.
type Server struct {
	store *store.Store
	proc  *webhooks.Processor
	log   zerolog.Logger
	mux   *http.ServeMux
	dash  *dashboard.Dashboard
	prune *webhooks.Pruner
	meter *webhooks.Meter
}

// Options configure the runtime.
type Options struct {
	Webhooks webhooks.Options
	API      APIConfig
	// EventRetention is how long the ledger keeps processed payloads
	// (BILLWIRE_EVENT_RETENTION); 0 keeps them forever.
	EventRetention time.Duration
	// MCP, when set, serves MCP over streamable HTTP at /mcp.
	MCP http.Handler
}

// New builds the runtime; Serve stops its webhook writers when it returns.
func New(st *store.Store, svc *billing.Service, log zerolog.Logger, opts Options) (*Server, error) {
	a, err := newAPI(svc, st, opts.API, log)
	if err != nil {
		return nil, err
	}
	proc := webhooks.NewProcessor(st, svc, log, opts.Webhooks)
	svc.UseProcessor(proc) // reconcile and replay keep serve's per-customer ordering
	s := &Server{store: st, proc: proc, log: log, mux: http.NewServeMux(),
		prune: webhooks.NewPruner(st, opts.EventRetention, log, webhooks.PrunerOptions{}), meter: webhooks.NewMeter()}
	s.mux.Handle("POST /webhooks/stripe/{env}", webhooks.NewReceiver(proc, st, log).WithMeter(s.meter))
	a.mount(s.mux)
	s.mux.HandleFunc("GET /checkout/done", checkoutDone)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	if opts.MCP != nil {
		s.mux.Handle("/mcp", opts.MCP)
	}
	s.dash = dashboard.New(svc, log, dashboard.Options{PriceMap: st.LivePrices})
	s.mux.Handle(dashboard.Prefix, s.dash)
	return s, nil
}

// checkoutDone is the default success page of create_test_checkout_session.
// It grants nothing: access follows from the webhook-projected state.
func checkoutDone(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, `<!doctype html><meta charset="utf-8"><title>Back from Stripe Checkout</title>`+ //nolint:errcheck
		`<p>Back from Stripe Checkout. This page grants nothing: billwire projects the payment from Stripe's webhooks, `+
		`and the app grants access from that state. Ask the agent to check get_subject_billing.</p>`)
}

// replicaName names this process among the replicas that flush webhook
// counters: its host and process id.
func replicaName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// foldMRR folds the subscriptions that webhooks marked dirty into the
// overview's MRR rollups every interval until ctx ends (store.FoldMRR), so
// that the overview's own fold before it reads stays small.
func (s *Server) foldMRR(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.store.FoldMRR(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("MRR not folded; the next fold or the overview folds it")
			}
		}
	}
}

// Meter counts the webhook receiver's answers (flushed by Serve once a minute).
func (s *Server) Meter() *webhooks.Meter { return s.meter }

// Processor is the webhook processor, shared with reconcile and replay.
func (s *Server) Processor() *webhooks.Processor { return s.proc }

// Handler is the root handler. Every answer carries
// X-Content-Type-Options: nosniff, so no browser reads a JSON answer (or an
// error) as another type.
func (s *Server) Handler() http.Handler { return nosniff(s.mux) }

func nosniff(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	v, err := s.store.SchemaVersion(ctx)
	switch {
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ok": false, "error": "database unreachable"})
	case v != store.LatestVersion():
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ok": false, "error": "migrations not current", "schema": v, "want": store.LatestVersion()})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "schema": v})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) //nolint:errcheck
}

// Serve answers on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight deliveries finish (their events commit), and
// stops the webhook writers.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      35 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	pruneCtx, stopPrune := context.WithCancel(context.Background())
	pruned := make(chan struct{})
	go func() { defer close(pruned); s.prune.Run(pruneCtx) }()
	defer func() { stopPrune(); <-pruned }()
	meterCtx, stopMeter := context.WithCancel(context.Background())
	metered := make(chan struct{})
	go func() {
		defer close(metered)
		s.meter.Run(meterCtx, s.store, replicaName(), webhooks.FlushEvery, s.log)
	}()
	// After the server stopped answering: the last counts are flushed.
	defer func() { stopMeter(); <-metered }()
	folded := make(chan struct{})
	go func() { defer close(folded); s.foldMRR(meterCtx, webhooks.FlushEvery) }()
	defer func() { stopMeter(); <-folded }()
	s.log.Info().Str("addr", ln.Addr().String()).Msg("billwire serving")
	select {
	case err := <-errc:
		s.dash.Close()
		s.proc.Close()
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	s.dash.Close()
	s.proc.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.log.Info().Msg("billwire stopped")
	return err
}
