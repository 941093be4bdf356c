package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/money"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// cmdCatalog is create_plan, create_price and list_catalog for a human:
// the same billing core and checks, with the display of what it creates.
func cmdCatalog(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usageErr("catalog: say create-plan, create-price or list, e.g. `billwire catalog create-plan --env test --name Pro --amount 20.00 --currency usd --interval month`")
	}
	switch args[0] {
	case "create-plan":
		return cmdCatalogCreatePlan(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "create-price":
		return cmdCatalogCreatePrice(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "list":
		return cmdCatalogList(ctx, args[1:], stdout, stderr, getenv)
	}
	return usageErr("catalog: unknown subcommand %q: use create-plan, create-price or list", args[0])
}

// priceFlags are the flags create-plan and create-price share: the price's
// amount, currency, interval and lookup key, its terms, and the live
// confirmation.
type priceFlags struct {
	env, amount, currency, interval, lookupKey string
	unitAmount                                 int64
	terms                                      billing.PriceTermsInput
	confirmLive, json                          bool
}

// newPriceFlags is newFlags with the price's flags registered.
func newPriceFlags(cmd string, stderr io.Writer, getenv func(string) string) (*flag.FlagSet, *common, *priceFlags) {
	fs, c := newFlags(cmd, stderr, getenv)
	p := &priceFlags{}
	p.register(fs)
	return fs, c, p
}

func (p *priceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.env, "env", "test", "environment: test or live")
	fs.StringVar(&p.amount, "amount", "", "price in major units with at most the currency's decimals: 20.00 is 20.00 USD, 500 is 500 JPY (or --unit-amount)")
	fs.Int64Var(&p.unitAmount, "unit-amount", 0, "price in the currency's minor units: 2000 is 20.00 USD (or --amount)")
	fs.StringVar(&p.currency, "currency", "", "ISO currency code, e.g. usd (required)")
	fs.StringVar(&p.interval, "interval", "", "day, week, month or year; omit for a one-time price")
	fs.StringVar(&p.lookupKey, "lookup-key", "", "stable name the app uses instead of the price id, e.g. pro_monthly")
	fs.Int64Var(&p.terms.TrialPeriodDays, "trial-period-days", 0, "free trial in days (1 to 730, recurring prices only) that checkouts of this price get")
	fs.BoolVar(&p.terms.AllowPromotionCodes, "allow-promotion-codes", false, "let customers enter promotion codes in checkouts of this price")
	fs.BoolVar(&p.terms.AutomaticTax, "automatic-tax", false, "Stripe Tax (automatic tax) in checkouts of this price")
	fs.Int64Var(&p.terms.MinQuantity, "min-quantity", 0, "fewest units (seats) a checkout or plan change of this price takes: 1 to 999 (default 1)")
	fs.Int64Var(&p.terms.MaxQuantity, "max-quantity", 0, "most units (seats): 1 to 999 (default 999)")
	fs.BoolVar(&p.confirmLive, "confirm-live", false, "required with --env live: create the object in live Stripe (asked once more on a terminal)")
	fs.BoolVar(&p.json, "json", false, "print the result as JSON, as the MCP tool answers")
}

// parse parses the command's flags and checks the price's: the
// environment, and exactly one of --amount and --unit-amount, returned in
// minor units. Stripe's limits are the billing core's to check.
func (p *priceFlags) parse(cmd string, fs *flag.FlagSet, args []string) (vocab.Env, int64, error) {
	if err := parse(fs, args); err != nil {
		return "", 0, err
	}
	env, err := parseEnvFlag(cmd, p.env)
	if err != nil {
		return "", 0, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["amount"] && set["unit-amount"]:
		return "", 0, usageErr("%s: give --amount (major units, 20.00) or --unit-amount (minor units, 2000), not both", cmd)
	case !set["amount"] && !set["unit-amount"]:
		return "", 0, usageErr("%s: the price is required: --amount 20.00 (major units) or --unit-amount 2000 (minor units)", cmd)
	case set["unit-amount"]:
		return env, p.unitAmount, nil
	}
	if strings.TrimSpace(p.currency) == "" {
		return "", 0, usageErr("%s: --currency is required, e.g. --currency usd", cmd)
	}
	minor, err := money.ParseMajor(strings.TrimSpace(p.amount), p.currency)
	if err != nil {
		return "", 0, usageErr("%s: --amount: %v", cmd, err)
	}
	return env, minor, nil
}

// confirmLive guards a write to live Stripe: it needs --confirm-live and,
// on a terminal, a "y" to the question naming what is created. Off a
// terminal the flag alone confirms (a script that says so).
func confirmLive(cmd string, env vocab.Env, confirmed bool, what string, stdin io.Reader, stderr io.Writer) error {
	if env != vocab.Live {
		return nil
	}
	if !confirmed {
		return usageErr("%s: --env live creates %s in live Stripe, where customers can be charged: run again with --confirm-live", cmd, what)
	}
	if !isTerminal(stdin) {
		return nil
	}
	fmt.Fprintf(stderr, "Create %s in LIVE Stripe? [y/N] ", what)
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("%s: read the answer: %w", cmd, err)
	}
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return &exitError{code: 1, msg: cmd + ": not confirmed; nothing was created"}
	}
	return nil
}

func cmdCatalogCreatePlan(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	const cmd = "catalog create-plan"
	fs, c, pf := newPriceFlags(cmd, stderr, getenv)
	name := fs.String("name", "", "product name customers see, e.g. Pro (required)")
	env, unitAmount, err := pf.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	in := billing.PlanInput{Name: *name, UnitAmount: unitAmount, Currency: pf.currency, Interval: pf.interval, LookupKey: pf.lookupKey,
		PriceTermsInput: pf.terms}
	what := fmt.Sprintf("product %q at %s", *name, money.FormatPrice(unitAmount, pf.currency, strings.ToLower(pf.interval), 1))
	return pf.create(ctx, cmd, env, what, c, stdin, stdout, stderr, getenv, func(a *app) (any, string, error) {
		plan, err := a.svc.CreatePlan(ctx, env, in)
		if err != nil {
			return nil, "", err
		}
		return map[string]any{"env": env, "product": plan.Product, "price": plan.Price},
			fmt.Sprintf("created %s (%s) with %s", plan.Product.ID, printable(plan.Product.Name), priceLine(&plan.Price)), nil
	})
}

func cmdCatalogCreatePrice(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	const cmd = "catalog create-price"
	fs, c, pf := newPriceFlags(cmd, stderr, getenv)
	product := fs.String("product", "", "the product (prod_…) the price is for (required)")
	count := fs.Int64("interval-count", 0, "intervals between bills (default 1): 3 with month is quarterly")
	nickname := fs.String("nickname", "", "internal name")
	env, unitAmount, err := pf.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	in := billing.PriceInput{ProductID: *product, UnitAmount: unitAmount, Currency: pf.currency, Interval: pf.interval,
		IntervalCount: *count, LookupKey: pf.lookupKey, Nickname: *nickname, PriceTermsInput: pf.terms}
	what := fmt.Sprintf("a price of %s for %s", money.FormatPrice(unitAmount, pf.currency, strings.ToLower(pf.interval), *count), *product)
	return pf.create(ctx, cmd, env, what, c, stdin, stdout, stderr, getenv, func(a *app) (any, string, error) {
		price, err := a.svc.CreatePrice(ctx, env, in)
		if err != nil {
			return nil, "", err
		}
		return map[string]any{"env": env, "price": price}, "created " + priceLine(price), nil
	})
}

// create is the rest of a create command once its flags are read: the live
// confirmation, then the core's call on the opened app, whose result is
// printed as JSON (--json) or as one line after the environment.
func (pf *priceFlags) create(ctx context.Context, cmd string, env vocab.Env, what string, c *common, stdin io.Reader, stdout, stderr io.Writer,
	getenv func(string) string, call func(*app) (any, string, error)) error {
	if err := confirmLive(cmd, env, pf.confirmLive, what, stdin, stderr); err != nil {
		return err
	}
	a, err := c.open(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	result, line, err := call(a)
	if err != nil {
		return err
	}
	if pf.json {
		return printJSON(stdout, result)
	}
	fmt.Fprintf(stdout, "%s: %s\n", env, line)
	return nil
}

// priceLine is a created price for a human: "price_… 20.00 USD / month,
// lookup key pro_monthly, terms: a 14-day trial".
func priceLine(p *billing.PriceResult) string {
	s := p.ID + ": " + p.Display
	if p.LookupKey != "" {
		s += ", lookup key " + printable(p.LookupKey)
	}
	if terms := p.PriceTermsResult.String(); terms != "none" {
		s += ", terms: " + terms
	}
	return s
}

func cmdCatalogList(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const cmd = "catalog list"
	fs, c := newFlags(cmd, stderr, getenv)
	envName := fs.String("env", "test", "environment: test or live")
	query := fs.String("query", "", "any part of a product's name or id, or of a price's id or lookup key")
	asJSON := fs.Bool("json", false, "print the catalog as JSON, as list_catalog answers (all pages in one)")
	if err := parse(fs, args); err != nil {
		return err
	}
	env, err := parseEnvFlag(cmd, *envName)
	if err != nil {
		return err
	}
	a, err := c.open(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	all := &billing.Catalog{Env: env, Products: []store.Product{}}
	for page := (store.Page{Query: *query}); ; {
		cat, err := a.svc.ListCatalog(ctx, env, page)
		if err != nil {
			return err
		}
		all.Products = append(all.Products, cat.Products...)
		if cat.NextCursor == "" {
			break
		}
		page.Cursor = cat.NextCursor
	}
	if *asJSON {
		return printJSON(stdout, all)
	}
	if len(all.Products) == 0 {
		if *query != "" {
			fmt.Fprintf(stdout, "%s: no product or price matches %q\n", env, *query)
			return nil
		}
		fmt.Fprintf(stdout, "%s: the catalog is empty: create a plan with `billwire catalog create-plan --env %s …`, or mirror Stripe's with `billwire sync --env %s`\n", env, env, env)
		return nil
	}
	for _, p := range all.Products {
		fmt.Fprintf(stdout, "%s  %s%s\n", p.ID, printable(p.Name), archived(p.Active))
		for _, pr := range p.Prices {
			display := pr.Display
			if display == "" {
				display = "(no fixed amount)"
			}
			line := "  " + pr.ID + "  " + display
			if pr.LookupKey != nil && *pr.LookupKey != "" {
				line += "  lookup key " + printable(*pr.LookupKey)
			}
			fmt.Fprintln(stdout, line+archived(pr.Active))
		}
	}
	return nil
}

func archived(active bool) string {
	if active {
		return ""
	}
	return "  (archived)"
}

// printable keeps text from Stripe from driving the terminal: control
// characters become U+FFFD.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return unicode.ReplacementChar
		}
		return r
	}, s)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	return nil
}
