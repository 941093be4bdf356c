// Package prompts holds billwire's MCP prompts for the common billing jobs
// (add_subscription_billing, add_one_time_purchase, add_usage_credits,
// add_plan_changes, add_usage_billing, go_live, debug_webhooks). Each renders, from its arguments, one message
// that walks the agent through billwire's tools in order, with the tool
// arguments filled in, what to verify after each step and what never to do.
// Arguments are checked first; a bad one is an error that says how to fix it.
package prompts

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"unicode"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/billwire/billwire/internal/lazyre"
	"github.com/billwire/billwire/internal/money"
	"github.com/billwire/billwire/internal/vocab"
)

//go:embed templates/*.md
var templateFS embed.FS

// templates are parsed at the first prompt asked for, not at start-up:
// billwire mcp starts in every agent session and most never ask for one.
var templates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("prompts").Funcs(template.FuncMap{
		"tool": toolCall,
		"obj":  obj,
		"arr":  func(v ...any) []any { return v },
		"json": indentJSON,
	}).ParseFS(templateFS, "templates/*.md"))
})

// Prompt is one MCP prompt: its definition and its handler.
type Prompt struct {
	Def     mcp.Prompt
	Handler server.PromptHandlerFunc
}

// ServerPrompt is the registration value mcp-go takes.
func (p Prompt) ServerPrompt() server.ServerPrompt {
	return server.ServerPrompt{Prompt: p.Def, Handler: p.Handler}
}

// argument is one declared prompt argument.
type argument struct {
	name, description string
	required          bool
}

// define builds a prompt whose arguments are checked by parse (which gets
// every declared argument, "" when absent, and returns the template's data)
// and whose text is templates/<name>.md.
func define(name, title, description string, args []argument, parse func(map[string]string) (any, error)) Prompt {
	opts := []mcp.PromptOption{mcp.WithPromptTitle(title), mcp.WithPromptDescription(description)}
	for _, a := range args {
		aopts := []mcp.ArgumentOption{mcp.ArgumentDescription(a.description)}
		if a.required {
			aopts = append(aopts, mcp.RequiredArgument())
		}
		opts = append(opts, mcp.WithArgument(a.name, aopts...))
	}
	handler := func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		text, err := render(name, args, parse, req.Params.Arguments)
		if err != nil {
			return nil, err
		}
		return mcp.NewGetPromptResult(title, []mcp.PromptMessage{
			mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text)),
		}), nil
	}
	return Prompt{Def: mcp.NewPrompt(name, opts...), Handler: handler}
}

// ArgumentError is a bad prompt argument; its text says how to fix it.
type ArgumentError struct {
	Prompt, Argument, msg string
}

func (e *ArgumentError) Error() string {
	return fmt.Sprintf("prompt %s: argument %s: %s", e.Prompt, e.Argument, e.msg)
}

func render(name string, args []argument, parse func(map[string]string) (any, error), given map[string]string) (string, error) {
	vals := map[string]string{}
	var names []string
	for _, a := range args {
		names = append(names, a.name)
	}
	for k, v := range given {
		if !slices.Contains(names, k) {
			takes := "no arguments"
			if len(names) > 0 {
				takes = "only " + strings.Join(names, ", ")
			}
			return "", &ArgumentError{name, k, "unknown argument: this prompt takes " + takes}
		}
		vals[k] = strings.TrimSpace(v)
	}
	for _, a := range args {
		if a.required && vals[a.name] == "" {
			return "", &ArgumentError{name, a.name, "missing: " + a.description}
		}
	}
	data, err := parse(vals)
	if err != nil {
		if ae, ok := err.(*ArgumentError); ok {
			ae.Prompt = name
		}
		return "", err
	}
	var b bytes.Buffer
	if err := templates().ExecuteTemplate(&b, name+".md", data); err != nil {
		return "", fmt.Errorf("render prompt %s: %w", name, err)
	}
	return b.String(), nil
}

// All returns every prompt, sorted by name.
func All() []Prompt {
	ps := []Prompt{
		addSubscriptionBilling(),
		addOneTimePurchase(),
		addUsageCredits(),
		addPlanChanges(),
		addUsageBilling(),
		goLive(),
		debugWebhooks(),
	}
	slices.SortFunc(ps, func(a, b Prompt) int { return strings.Compare(a.Def.Name, b.Def.Name) })
	return ps
}

// Argument descriptions shared by several prompts.
const (
	amountDesc = "Price in the currency's minor units as a whole number (2000 is 20.00 USD; 500 is 500 JPY), or in major units with a decimal point (20.00)."
	currDesc   = "Three-letter ISO currency code Stripe supports, e.g. usd, eur, jpy."
	routeDesc  = "The app's own server route that starts checkout, e.g. /api/billing/checkout."
)

func addSubscriptionBilling() Prompt {
	return define("add_subscription_billing", "Add subscription billing",
		"Walk through adding a recurring plan end to end: the Stripe plan, webhooks, the subscription-access table, the checkout and portal routes, and a test purchase, verifying each step.",
		[]argument{
			{"plan_name", "Plan name customers see, e.g. Pro.", true},
			{"amount", amountDesc, true},
			{"currency", currDesc, true},
			{"interval", "Billing interval: day, week, month or year.", true},
			{"checkout_route", routeDesc, true},
			{"subject_type", "Who pays and gets access: user or team (an organization, workspace or account that pays is a team).", true},
		},
		func(a map[string]string) (any, error) {
			var d data
			var err error
			if d.Name, err = parseName("plan_name", a["plan_name"]); err != nil {
				return nil, err
			}
			if d.Currency, err = parseCurrency(a["currency"]); err != nil {
				return nil, err
			}
			if d.Interval, err = parseInterval(a["interval"]); err != nil {
				return nil, err
			}
			if d.Amount, err = parseAmount(a["amount"], d.Currency); err != nil {
				return nil, err
			}
			if d.Route, err = parseRoute(a["checkout_route"]); err != nil {
				return nil, err
			}
			if d.SubjectType, err = parseSubjectType(a["subject_type"]); err != nil {
				return nil, err
			}
			d.LookupKey = lookupKey(d.Name, "plan", intervalAdverb[d.Interval])
			d.Display = money.FormatPrice(d.Amount, d.Currency, d.Interval, 1)
			return d, nil
		})
}

func addOneTimePurchase() Prompt {
	return define("add_one_time_purchase", "Add a one-time purchase",
		"Walk through selling a product once: the Stripe product and price, webhooks, an orders table the app creates before checkout and billwire marks paid from Stripe's events, the checkout route, and a test purchase.",
		[]argument{
			{"product_name", "Product name customers see, e.g. Lifetime license.", true},
			{"amount", amountDesc, true},
			{"currency", currDesc, true},
			{"checkout_route", routeDesc, true},
		},
		func(a map[string]string) (any, error) {
			var d data
			var err error
			if d.Name, err = parseName("product_name", a["product_name"]); err != nil {
				return nil, err
			}
			if d.Currency, err = parseCurrency(a["currency"]); err != nil {
				return nil, err
			}
			if d.Amount, err = parseAmount(a["amount"], d.Currency); err != nil {
				return nil, err
			}
			if d.Route, err = parseRoute(a["checkout_route"]); err != nil {
				return nil, err
			}
			d.SubjectType = "user"
			d.LookupKey = lookupKey(d.Name, "product", "")
			d.Display = money.Format(d.Amount, d.Currency)
			return d, nil
		})
}

func addUsageCredits() Prompt {
	return define("add_usage_credits", "Add usage credits",
		"Walk through selling prepaid credit packs: the Stripe price, webhooks, an append-only credit ledger granted exactly once per payment, checkout, spending credits, and a test purchase with replays.",
		[]argument{
			{"pack_name", "Credit pack name customers see, e.g. 1,000 credits.", true},
			{"lookup_key", "The pack's price lookup key, e.g. credits_1k: the key its grants name, so that only this price grants credits (lower-case letters, digits, _ . -; at most 100).", true},
			{"amount", amountDesc, true},
			{"currency", currDesc, true},
			{"credits", "Credits granted per pack bought: a positive whole number, e.g. 1000.", true},
		},
		func(a map[string]string) (any, error) {
			var d data
			var err error
			if d.Name, err = parseName("pack_name", a["pack_name"]); err != nil {
				return nil, err
			}
			if d.Currency, err = parseCurrency(a["currency"]); err != nil {
				return nil, err
			}
			if d.Amount, err = parseAmount(a["amount"], d.Currency); err != nil {
				return nil, err
			}
			if d.Credits, err = parseCredits(a["credits"]); err != nil {
				return nil, err
			}
			if d.LookupKey, err = parseLookupKey(a["lookup_key"]); err != nil {
				return nil, err
			}
			d.SubjectType = "user"
			d.Display = money.Format(d.Amount, d.Currency)
			return d, nil
		})
}

func goLive() Prompt {
	return define("go_live", "Go live",
		"Walk through taking a tested integration live with the human: checks in test, the live key set by the human, promote_catalog (dry run first), live webhooks, live-bound fulfillment, the app's switch to live, and the checks after.",
		nil,
		func(map[string]string) (any, error) { return data{}, nil })
}

func debugWebhooks() Prompt {
	return define("debug_webhooks", "Debug webhooks",
		"Walk through finding why Stripe events do not reach billwire or fail there, fixing the cause, and recovering what was missed without granting anything twice.",
		[]argument{{"env", "Environment whose webhooks to debug: test or live.", true}},
		func(a map[string]string) (any, error) {
			env, err := vocab.ParseEnv(a["env"])
			if err != nil {
				return nil, &ArgumentError{Argument: "env", msg: fmt.Sprintf("%q is not an environment: use test or live", a["env"])}
			}
			return data{Env: string(env), Live: env == vocab.Live}, nil
		})
}

// data is what the templates read.
type data struct {
	Name        string
	Amount      int64
	Currency    string
	Interval    string
	Display     string
	LookupKey   string
	Route       string
	SubjectType string
	Credits     int64
	Env         string
	Live        bool
	Seats       bool
	UnitLabel   string
}

// CurrencyUpper is the currency code as people write it.
func (d data) CurrencyUpper() string { return strings.ToUpper(d.Currency) }

var intervalAdverb = map[string]string{"day": "daily", "week": "weekly", "month": "monthly", "year": "yearly"}

func argErr(arg, format string, args ...any) error {
	return &ArgumentError{Argument: arg, msg: fmt.Sprintf(format, args...)}
}

func parseName(arg, v string) (string, error) {
	switch {
	case utf8.RuneCountInString(v) > 250:
		return "", argErr(arg, "%d characters; Stripe allows at most 250", utf8.RuneCountInString(v))
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return "", argErr(arg, "contains a line break or control character: give a single-line name")
	case strings.ContainsAny(v, "`"):
		return "", argErr(arg, "contains a backtick: give the name without one")
	}
	return v, nil
}

func parseCurrency(v string) (string, error) {
	c, ok := money.Lookup(v)
	if !ok {
		return "", argErr("currency", "%q is not an ISO 4217 currency Stripe supports: use a three-letter code such as usd, eur, gbp or jpy", v)
	}
	return c.Code, nil
}

func parseInterval(v string) (string, error) {
	v = strings.ToLower(v)
	if !money.ValidInterval(v) {
		return "", argErr("interval", "%q is not a billing interval: use day, week, month or year (monthly is month)", v)
	}
	return v, nil
}

var (
	wholeRE   = regexp.MustCompile(`^[0-9]+$`)
	decimalRE = regexp.MustCompile(`^([0-9]+)\.([0-9]+)$`)
)

// parseAmount reads an amount: a whole number is minor units (2000 is
// 20.00 USD); a number with a decimal point is major units (20.00 is 2000),
// with at most the currency's decimals. It then applies Stripe's limits.
func parseAmount(v, currency string) (int64, error) {
	minor, err := parseMinor("amount", v, currency)
	if err != nil {
		return 0, err
	}
	c, _ := money.Lookup(currency)
	if err := money.ValidateAmount(minor, c.Code); err != nil {
		hint := ""
		if c.Decimals > 0 && wholeRE.MatchString(v) {
			hint = fmt.Sprintf("; %s was read as minor units: to give major units, write a decimal point (e.g. %s.00)", v, v)
		}
		return 0, argErr("amount", "%s%s", strings.Replace(err.Error(), "unit_amount", "amount", 1), hint)
	}
	return minor, nil
}

// parseMinor reads an amount (minor units as a whole number, or major
// units with a decimal point) without the minimum charge: a metered price's
// unit amount may be below it.
func parseMinor(arg, v, currency string) (int64, error) {
	c, _ := money.Lookup(currency)
	switch {
	case wholeRE.MatchString(v):
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, argErr(arg, "%s is too large", v)
		}
		return n, nil
	case decimalRE.MatchString(v):
		n, err := money.ParseMajor(v, c.Code)
		if err != nil {
			return 0, argErr(arg, "%s", err)
		}
		return n, nil
	}
	return 0, argErr(arg, "%q is not an amount: give minor units as a whole number (2000 is 20.00 USD) or major units with a decimal point (20.00), without currency signs or thousands separators", v)
}

var routeRE = regexp.MustCompile(`^/[A-Za-z0-9._~:@!$&'()*+,;=%{}/-]*$`)

func parseRoute(v string) (string, error) {
	if len(v) > 200 || !routeRE.MatchString(v) || strings.Contains(v, "//") {
		return "", argErr("checkout_route", "%q is not a route path of the app: give the path only, starting with /, e.g. /api/billing/checkout", v)
	}
	return v, nil
}

func addPlanChanges() Prompt {
	return define("add_plan_changes", "Add plan changes",
		"Walk through in-app plan changes on an existing subscription: switchable prices, an upgrade/downgrade UI with a preview before confirming, seat controls for teams, cancel and resume buttons, an invoice list with receipt links and a payment-failed banner, verifying each step with the test tools.",
		[]argument{
			{"subject_type", "Who pays: user or team (an organization, workspace or account that pays is a team).", true},
			{"seats", "true when the plan is billed per seat (team seat controls), else false.", true},
		},
		func(a map[string]string) (any, error) {
			var d data
			var err error
			if d.SubjectType, err = parseSubjectType(a["subject_type"]); err != nil {
				return nil, err
			}
			switch a["seats"] {
			case "true":
				d.Seats = true
			case "false":
			default:
				return nil, argErr("seats", "%q is not true or false: true when the plan is billed per seat", a["seats"])
			}
			return d, nil
		})
}

func addUsageBilling() Prompt {
	return define("add_usage_billing", "Add usage billing",
		"Walk through billing by usage on a Stripe meter: the meter, a metered monthly price, a subscription checkout, the app's backend reporting usage in batches with identifiers, showing usage to the user, and verifying it with get_usage.",
		[]argument{
			{"meter_name", "What is metered, as customers see it, e.g. API tokens.", true},
			{"unit_amount", "Price per unit in the currency's minor units (2 is 0.02 USD), or in major units with a decimal point (0.02).", true},
			{"currency", currDesc, true},
			{"unit_label", "The unit's name in the UI, e.g. tokens.", true},
		},
		func(a map[string]string) (any, error) {
			var d data
			var err error
			if d.Name, err = parseName("meter_name", a["meter_name"]); err != nil {
				return nil, err
			}
			if d.Currency, err = parseCurrency(a["currency"]); err != nil {
				return nil, err
			}
			if d.Amount, err = parseMinor("unit_amount", a["unit_amount"], d.Currency); err != nil {
				return nil, err
			}
			if d.UnitLabel, err = parseName("unit_label", a["unit_label"]); err != nil {
				return nil, err
			}
			d.LookupKey = lookupKey(d.Name, "usage", "")
			d.Display = money.FormatPrice(d.Amount, d.Currency, "", 1) + " per " + strings.TrimSuffix(d.UnitLabel, "s")
			return d, nil
		})
}

// SubjectTypes are the subject types the tools and the session API take.
var SubjectTypes = []string{"user", "team"}

func parseSubjectType(v string) (string, error) {
	if !slices.Contains(SubjectTypes, v) {
		return "", argErr("subject_type", "%q is not a subject type: use user or team (an organization, workspace or account that pays is a team)", v)
	}
	return v, nil
}

func parseCredits(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || !wholeRE.MatchString(v) || n <= 0 || n > 1_000_000_000 {
		return 0, argErr("credits", "%q is not a number of credits: give a positive whole number up to 1000000000, e.g. 1000", v)
	}
	return n, nil
}

var lookupKeyRE = lazyre.New(`^[a-z0-9][a-z0-9_.-]{0,99}$`)

func parseLookupKey(v string) (string, error) {
	if !lookupKeyRE().MatchString(v) {
		return "", argErr("lookup_key", "%q is not a lookup key for the pack's price: use lower-case letters, digits, _ . - (at most 100), e.g. credits_1k", v)
	}
	return v, nil
}

// lookupKey derives a stable lookup key from a name: lower-case letters
// and digits joined by _, then the suffix ("Pro", "monthly": pro_monthly).
func lookupKey(name, fallback, suffix string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(name) {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if sep && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			sep = false
		} else {
			sep = true
		}
	}
	key := b.String()
	if len(key) > 60 {
		key = strings.TrimRight(key[:60], "_")
	}
	if key == "" {
		key = fallback
	}
	if suffix != "" {
		key += "_" + suffix
	}
	return key
}

// ordered is a JSON object that keeps its keys in the order given.
type ordered []any

// MarshalJSON writes the pairs in order.
func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i+1 < len(o); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(o[i])
		if err != nil {
			return nil, err
		}
		v, err := marshal(o[i+1])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal encodes v without HTML escaping, so <placeholders> stay readable.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func obj(kv ...any) (ordered, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("obj: odd number of arguments")
	}
	return ordered(kv), nil
}

// toolCall renders a tool call as the agent should make it.
func toolCall(name string, args ordered) (string, error) {
	b, err := marshal(args)
	if err != nil {
		return "", err
	}
	return "`" + name + " " + string(b) + "`", nil
}

// indentJSON renders a request body, indented, every line after the first
// starting with prefix (the indentation of the block it stands in).
func indentJSON(prefix string, v any) (string, error) {
	b, err := marshal(v)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, prefix, "  "); err != nil {
		return "", err
	}
	return out.String(), nil
}
