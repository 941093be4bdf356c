// Command billwire wires Stripe billing into an app: an MCP server for
// coding agents (billwire mcp) and a CLI over the same core.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

const usage = `billwire wires Stripe billing into your app, for coding agents and humans.

Usage:
  billwire mcp [--allow-live-writes] [--read-only] [--toolsets catalog,…]
                                              MCP server over stdio (for Claude Code, Cursor, …)
  billwire serve [--addr 127.0.0.1:8787]      HTTP runtime: Stripe webhooks, session API, health checks
  billwire webhook setup --env test [--url …] point Stripe's events at billwire serve (or --signing-secret-stdin)
  billwire reconcile --env test [--since 72h]  project events Stripe sent while billwire was down
  billwire doctor --env test [--url …]       check keys, webhooks, the running receiver, portal, fulfillment
  billwire migrate                            apply database migrations
  billwire db status|start|stop|url           billwire's embedded database (used when none is set)
  billwire keys set --env test|live           store a Stripe key read from stdin or BILLWIRE_STRIPE_SECRET_KEY
  billwire keys show                          show the configured keys, masked
  billwire apikeys create --env test --name N  create a session-API key (printed once); also list, revoke
  billwire admin set-password                 set the dashboard's password (read from stdin)
  billwire sync --env test [--objects …]      mirror products, prices, customers, subscriptions from Stripe
  billwire catalog create-plan --env test --name Pro --amount 20.00 --currency usd [--interval month] [--lookup-key …]
                                              create a product and its price (or --unit-amount 2000 in minor units)
  billwire catalog create-price --env test --product prod_… --amount 20.00 --currency usd [--interval month]
  billwire catalog list --env test [--query …] [--json]   products with their prices
  billwire scaffold --pattern NAME [--apply]  fulfillment SQL: shown, written (--write-to) or applied
  billwire simulate --subject team:t_1 --lookup-key K --scenario S   simulated test events through billwire serve (or --clear)
  billwire version                            print the version

Every command takes --database-url (default $DATABASE_URL; else libpq's defaults
when PGHOST, PGDATABASE or PGSERVICE is set or they reach billwire's schema; else
billwire's embedded cluster, which serve uses only with --embedded-db) and
--stripe-api-base (default $BILLWIRE_STRIPE_API_BASE). The master key comes
from $BILLWIRE_MASTER_KEY, else a 0600 key file under the user's config directory.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// exitError carries an exit code for usage mistakes.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

// run executes one command; it is main without the process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "mcp":
		err = cmdMCP(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr, getenv)
	case "webhook":
		err = cmdWebhook(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "reconcile":
		err = cmdReconcile(ctx, args[1:], stdout, stderr, getenv)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr, getenv)
	case "keys":
		err = cmdKeys(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "doctor":
		err = cmdDoctor(ctx, args[1:], stdout, stderr, getenv)
	case "apikeys":
		err = cmdAPIKeys(ctx, args[1:], stdout, stderr, getenv)
	case "admin":
		err = cmdAdmin(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "sync":
		err = cmdSync(ctx, args[1:], stdout, stderr, getenv)
	case "catalog":
		err = cmdCatalog(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "scaffold":
		err = cmdScaffold(ctx, args[1:], stdout, stderr, getenv)
	case "simulate":
		err = cmdSimulate(ctx, args[1:], stdout, stderr, getenv)
	case "db":
		err = cmdDB(ctx, args[1:], stdout, stderr, getenv)
	case "version":
		fmt.Fprintln(stdout, "billwire", buildVersion())
	default:
		err = usageErr("unknown command %q\n\n%s", args[0], usage)
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "billwire:", secrets.Redact(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// common are the settings every command shares.
type common struct {
	databaseURL string
	apiBase     string
	logLevel    string

	server       bool // billwire serve: the embedded cluster only with embeddedDB
	embeddedDB   bool // --embedded-db
	saidDatabase bool // the database was named on stderr (resolveDatabase)
}

func newFlags(name string, stderr io.Writer, getenv func(string) string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet("billwire "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &common{}
	fs.StringVar(&c.databaseURL, "database-url", getenv("DATABASE_URL"), "PostgreSQL connection string (default $DATABASE_URL; empty means libpq defaults)")
	fs.StringVar(&c.apiBase, "stripe-api-base", getenv(stripeapi.APIBaseEnv), "Stripe API base URL override (default $"+stripeapi.APIBaseEnv+")")
	lvl := getenv("BILLWIRE_LOG_LEVEL")
	if lvl == "" {
		lvl = "info"
	}
	fs.StringVar(&c.logLevel, "log-level", lvl, "log level on stderr: debug, info, warn, error (default $BILLWIRE_LOG_LEVEL or info)")
	return fs, c
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2, msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usageErr("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// app is the core a command runs on: the lazily connected store and the
// billing service, logging to stderr.
type app struct {
	svc  *billing.Service
	log  zerolog.Logger
	lazy *store.Lazy
}

// Close stops the service's webhook processor and releases the database
// connection, if one was opened.
func (a *app) Close() { a.svc.Close(); a.lazy.Close() }

// open builds the app from the common settings.
func (c *common) open(getenv func(string) string, stderr io.Writer) (*app, error) {
	lvl, err := zerolog.ParseLevel(c.logLevel)
	if err != nil || c.logLevel == "" {
		return nil, usageErr("unknown log level %q: use debug, info, warn or error", c.logLevel)
	}
	log := zerolog.New(stderr).Level(lvl).With().Timestamp().Logger()
	key, err := secrets.LoadMasterKey(getenv, secrets.DefaultKeyFile(getenv))
	if err != nil {
		return nil, err
	}
	lazy := &store.Lazy{Key: key, Resolve: func(ctx context.Context) (string, error) {
		return c.resolveDatabase(ctx, getenv, stderr)
	}}
	return &app{svc: billing.New(lazy, stripeapi.Options{BaseURL: c.apiBase}, log), log: log, lazy: lazy}, nil
}

// openStore builds the app and connects to the database now, for commands
// that need it at once; the caller closes the app.
func (c *common) openStore(ctx context.Context, getenv func(string) string, stderr io.Writer) (*app, *store.Store, error) {
	a, err := c.open(getenv, stderr)
	if err != nil {
		return nil, nil, err
	}
	st, err := a.lazy.Get(ctx)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, st, nil
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("migrate", stderr, getenv)
	if err := parse(fs, args); err != nil {
		return err
	}
	key, err := secrets.LoadMasterKey(getenv, secrets.DefaultKeyFile(getenv))
	if err != nil {
		return err
	}
	dsn, err := c.resolveDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	pool, err := store.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	applied, err := store.MigrateReport(ctx, pool)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, dsn, key) // records or checks the master key fingerprint
	if err != nil {
		return err
	}
	st.Close()
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "database is current (schema version %d)\n", store.LatestVersion())
		return nil
	}
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	return nil
}

// terminal is what a stand-in for a terminal implements (a test's stdin).
type terminal interface{ IsTerminal() bool }

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	if t, ok := f.(terminal); ok {
		return t.IsTerminal()
	}
	file, ok := f.(*os.File)
	return ok && (isatty.IsTerminal(file.Fd()) || isatty.IsCygwinTerminal(file.Fd()))
}

// parseEnvFlag reads a command's --env value; a bad one is a usage error.
func parseEnvFlag(cmd, value string) (vocab.Env, error) {
	env, err := vocab.ParseEnv(value)
	if err != nil {
		return "", usageErr("%s: --env: %v", cmd, err)
	}
	return env, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
