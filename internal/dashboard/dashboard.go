// Package dashboard is the web dashboard of billwire serve, under
// /dashboard: the catalog, customers, subscriptions, payment history,
// webhooks and settings of each environment, rendered on the server with
// html/template from assets embedded in the binary (no CDN, no script).
//
// Access takes the admin password set with `billwire admin set-password`.
// A session lives in a cookie (HttpOnly, SameSite=Strict, Secure over
// https) whose token is stored only as a hash; logins are rate-limited per
// client address; the actions (replay an event, sync) are POSTs carrying a
// per-session CSRF token, behind Go's cross-origin protection.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/vocab"
)

//go:embed templates/*.html assets/*
var files embed.FS

// Prefix is where the dashboard is mounted.
const Prefix = "/dashboard/"

// Options tune a Dashboard; the zero value is the production setting.
type Options struct {
	// Now is the clock of sessions and the login rate limit; time.Now when nil.
	Now func() time.Time
	// LoginBurst is how many login attempts one client address may make at
	// once (default 5); after that one more every LoginEvery (default a minute).
	LoginBurst int
	LoginEvery time.Duration
	// SessionTTL is how long a sign-in lasts (default 12 hours).
	SessionTTL time.Duration

	// PriceMap gives, for test price ids, the live price each maps to; the
	// Catalog page of the test environment shows a "Live price" column when
	// it is set. billwire serve wires it to the test→live price map that
	// promote_catalog keeps (store.LivePrices).
	PriceMap func(ctx context.Context, testPriceIDs []string) (map[string]string, error)
}

// Dashboard serves /dashboard/. Close stops the syncs it started.
type Dashboard struct {
	svc   *billing.Service
	log   zerolog.Logger
	opts  Options
	mux   *http.ServeMux
	pages map[string]*template.Template

	limiter *limiter
	hashing chan struct{} // password verifications running (each takes 64 MiB)

	bgCtx   context.Context
	bgStop  context.CancelFunc
	bg      sync.WaitGroup
	mu      sync.Mutex
	syncing map[vocab.Env]bool
}

// New builds the dashboard over svc.
func New(svc *billing.Service, log zerolog.Logger, opts Options) *Dashboard {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LoginBurst <= 0 {
		opts.LoginBurst = 5
	}
	if opts.LoginEvery <= 0 {
		opts.LoginEvery = time.Minute
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	d := &Dashboard{
		svc: svc, log: log.With().Str("component", "dashboard").Logger(), opts: opts,
		mux:     http.NewServeMux(),
		pages:   parseTemplates(),
		limiter: newLimiter(opts.LoginBurst, opts.LoginEvery),
		hashing: make(chan struct{}, 2),
		syncing: map[vocab.Env]bool{},
	}
	d.bgCtx, d.bgStop = context.WithCancel(context.Background())

	assets, _ := fs.Sub(files, "assets")
	static := http.StripPrefix("/dashboard/assets/", http.FileServerFS(assets))
	d.mux.Handle("GET /dashboard/assets/{file}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		static.ServeHTTP(w, r)
	}))
	d.mux.HandleFunc("GET /dashboard/login", d.loginPage)
	d.mux.HandleFunc("POST /dashboard/login", d.login)
	d.mux.HandleFunc("POST /dashboard/logout", d.authed(d.logout))
	d.mux.HandleFunc("GET /dashboard/{$}", d.authed(func(w http.ResponseWriter, r *http.Request, _ *session) {
		http.Redirect(w, r, "/dashboard/test/", http.StatusFound)
	}))
	d.mux.HandleFunc("GET /dashboard/{env}/{$}", d.authed(d.overviewPage))
	d.mux.HandleFunc("GET /dashboard/{env}/{page}", d.authed(d.page))
	d.mux.HandleFunc("GET /dashboard/{env}/customers/{id}", d.authed(d.customer))
	d.mux.HandleFunc("POST /dashboard/{env}/webhooks/replay", d.authed(d.replay))
	d.mux.HandleFunc("POST /dashboard/{env}/settings/sync", d.authed(d.sync))
	d.mux.HandleFunc("/dashboard/", func(w http.ResponseWriter, r *http.Request) {
		d.fail(w, r, http.StatusNotFound, "There is no such page in the dashboard.")
	})
	return d
}

// ServeHTTP serves a request under /dashboard/.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	if r.Method == http.MethodPost {
		// Cross-origin POSTs (by Sec-Fetch-Site or Origin) are refused
		// before the session's CSRF token is even looked at.
		if err := crossOrigin.Check(r); err != nil {
			d.fail(w, r, http.StatusForbidden, "This form was sent from another site, so it was refused.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	}
	d.mux.ServeHTTP(w, r)
}

var crossOrigin = http.NewCrossOriginProtection()

// Close stops background syncs started from the Settings page and waits for
// them; the sync runs they leave behind are resumable.
func (d *Dashboard) Close() {
	d.bgStop()
	d.bg.Wait()
}

func parseTemplates() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"login", "error", "overview", "catalog", "customers", "customer", "subscriptions", "payments", "webhooks", "usage", "settings"} {
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(files, "templates/base.html", "templates/invoices.html",
			"templates/"+name+".html"))
	}
	return out
}

// render writes a page; a template error (a bug) becomes a 500.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, code int, name string, v any) {
	var b strings.Builder
	if err := d.pages[name].ExecuteTemplate(&b, "base", v); err != nil {
		d.log.Error().Err(err).Str("page", name).Msg("render dashboard page")
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprint(w, b.String())
}

// errorView is the error page.
type errorView struct {
	layout
	Code    int
	Message string
}

func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	d.render(w, r, code, "error", errorView{layout: layout{Title: http.StatusText(code), Env: vocab.Test}, Code: code, Message: msg})
}

// failErr answers a failed read: the caller's mistake as 400 with its text,
// anything else as 500 with the detail in the log only.
func (d *Dashboard) failErr(w http.ResponseWriter, r *http.Request, err error) {
	if fault.Is(err, fault.Invalid) {
		d.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	d.log.Error().Err(err).Str("path", r.URL.Path).Msg("dashboard page failed")
	d.fail(w, r, http.StatusInternalServerError, "The page could not be read from the database; the server log has the details.")
}
