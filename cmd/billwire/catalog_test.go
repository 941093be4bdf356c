package main

import (
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/billwire/billwire/internal/stripetest"
)

// tty is standard input that says it is a terminal, with what the human types.
type tty struct{ *strings.Reader }

func (tty) IsTerminal() bool { return true }

// withKeys is a test environment on the fake with a test key and, from the
// environment variable, a live key stored.
func withKeys(t *testing.T, fake *stripetest.Fake) map[string]string {
	t.Helper()
	e := env(t, fake.URL())
	if code, out, errs := cli(t, e, testKey+"\n", "keys", "set", "--env", "test"); code != 0 {
		t.Fatalf("keys set test = %d %q %q", code, out, errs)
	}
	live := map[string]string{"BILLWIRE_STRIPE_SECRET_KEY": "sk_live_FAKEcatalogCli7777"}
	for k, v := range e {
		live[k] = v
	}
	if code, out, errs := cli(t, live, "", "keys", "set", "--env", "live"); code != 0 {
		t.Fatalf("keys set live = %d %q %q", code, out, errs)
	}
	return e
}

var createdProduct = regexp.MustCompile(`created (prod_\w+)`)

func TestCatalogCreateAndList(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	e := withKeys(t, fake)

	plan := []string{"catalog", "create-plan", "--env", "test", "--name", "Pro", "--amount", "20.00", "--currency", "usd", "--interval", "month", "--lookup-key", "pro_monthly"}
	code, out, errs := cli(t, e, "", plan...)
	if code != 0 || !strings.Contains(out, "test: created prod_") || !strings.Contains(out, ": 20.00 USD / month, lookup key pro_monthly") {
		t.Fatalf("create-plan --amount = %d %q %q", code, out, errs)
	}
	m := createdProduct.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no product id in %q", out)
	}
	pro := m[1]
	// The same command again creates nothing: the core's idempotency keys.
	if code, again, errs := cli(t, e, "", plan...); code != 0 || again != out {
		t.Fatalf("create-plan again = %d %q %q; first %q", code, again, errs, out)
	}
	if n := fake.CountCreated(stripetest.KindProduct); n != 1 {
		t.Fatalf("%d products created in Stripe, want 1", n)
	}

	// Minor units, a zero-decimal currency, terms.
	code, out, errs = cli(t, e, "", "catalog", "create-plan", "--name", "Yen", "--unit-amount", "500", "--currency", "jpy", "--interval", "year", "--trial-period-days", "14")
	if code != 0 || !strings.Contains(out, ": 500 JPY / year, terms: a 14-day trial") {
		t.Fatalf("create-plan --unit-amount = %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, e, "", "catalog", "create-price", "--product", pro, "--amount", "200", "--currency", "usd", "--interval", "month", "--interval-count", "12", "--lookup-key", "pro_yearly")
	if code != 0 || !strings.Contains(out, ": 200.00 USD / 12 months, lookup key pro_yearly") {
		t.Fatalf("create-price = %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, e, "", "catalog", "create-price", "--product", pro, "--unit-amount", "1500", "--currency", "kwd", "--json")
	var created struct {
		Env   string `json:"env"`
		Price struct {
			ProductID  string `json:"product_id"`
			UnitAmount int64  `json:"unit_amount"`
			Display    string `json:"display"`
		} `json:"price"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &created) != nil || created.Env != "test" || created.Price.ProductID != pro ||
		created.Price.UnitAmount != 1500 || created.Price.Display != "1.500 KWD" {
		t.Fatalf("create-price --json = %d %q %q", code, out, errs)
	}

	code, out, errs = cli(t, e, "", "catalog", "list", "--env", "test")
	if code != 0 {
		t.Fatalf("list = %d %q %q", code, out, errs)
	}
	for _, want := range []string{pro + "  Pro\n", "  20.00 USD / month  lookup key pro_monthly\n", "  200.00 USD / 12 months  lookup key pro_yearly\n",
		"  1.500 KWD\n", "  Yen\n", "  500 JPY / year\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = cli(t, e, "", "catalog", "list", "--env", "test", "--query", "yearly")
	if code != 0 || !strings.Contains(out, "pro_yearly") || strings.Contains(out, "Yen") {
		t.Fatalf("list --query = %d %q %q", code, out, errs)
	}
	code, out, errs = cli(t, e, "", "catalog", "list", "--env", "test", "--json")
	var cat struct {
		Env      string `json:"env"`
		Products []struct {
			ID     string `json:"id"`
			Prices []struct {
				Display string `json:"display"`
			} `json:"prices"`
		} `json:"products"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &cat) != nil || cat.Env != "test" || len(cat.Products) != 2 {
		t.Fatalf("list --json = %d %q %q", code, out, errs)
	}
	if code, out, _ := cli(t, e, "", "catalog", "list", "--env", "live"); code != 0 || !strings.Contains(out, "live: the catalog is empty") {
		t.Fatalf("live list = %d %q: a test plan leaked into live", code, out)
	}
}

func TestCatalogRefusesBadAmounts(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	e := withKeys(t, fake)
	plan := []string{"catalog", "create-plan", "--env", "test", "--name", "Pro", "--interval", "month"}
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"both", []string{"--amount", "20.00", "--unit-amount", "2000", "--currency", "usd"}, 2, "not both"},
		{"neither", []string{"--currency", "usd"}, 2, "--amount 20.00 (major units) or --unit-amount 2000"},
		{"too many decimals", []string{"--amount", "20.001", "--currency", "usd"}, 2, "20.001 has more decimals than USD's 2"},
		{"decimals in yen", []string{"--amount", "500.5", "--currency", "jpy"}, 2, "JPY has no minor unit"},
		{"three decimals", []string{"--amount", "1.5005", "--currency", "kwd"}, 2, "more decimals than KWD's 3"},
		{"not a number", []string{"--amount", "$20", "--currency", "usd"}, 2, "not an amount"},
		{"no currency", []string{"--amount", "20.00"}, 2, "--currency is required"},
		{"below minimum", []string{"--amount", "0.10", "--currency", "usd"}, 1, "below Stripe's minimum charge of 0.50 USD"},
		{"below minimum in minor units", []string{"--unit-amount", "10", "--currency", "usd"}, 1, "below Stripe's minimum charge of 0.50 USD"},
		{"unknown currency", []string{"--unit-amount", "2000", "--currency", "xyz"}, 1, "unknown currency"},
		{"no name", []string{"--name", "", "--amount", "20.00", "--currency", "usd"}, 1, "name is required"},
	} {
		code, out, errs := cli(t, e, "", append(plan, c.args...)...)
		if code != c.code || !strings.Contains(errs, c.want) || out != "" {
			t.Errorf("%s: create-plan %v = %d %q %q; want %d and %q", c.name, c.args, code, out, errs, c.code, c.want)
		}
	}
	if code, _, errs := cli(t, e, "", "catalog", "create-price", "--amount", "20.00", "--currency", "usd"); code != 1 || !strings.Contains(errs, "product_id is required") {
		t.Errorf("create-price without --product = %d %q", code, errs)
	}
	if n := fake.CountCreated(stripetest.KindProduct) + fake.CountCreated(stripetest.KindPrice); n != 0 {
		t.Fatalf("%d objects created in Stripe by refused commands", n)
	}
}

func TestCatalogLiveNeedsConfirmation(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	e := withKeys(t, fake)
	plan := []string{"catalog", "create-plan", "--env", "live", "--name", "Pro", "--amount", "20.00", "--currency", "usd", "--interval", "month"}
	try := func(stdin io.Reader, args ...string) (int, string, string) {
		var out, errb strings.Builder
		code := run(context.Background(), args, stdin, &out, &errb, envMap(e).get)
		return code, out.String(), errb.String()
	}
	// Off a terminal and on one, without the flag: refused before anything.
	if code, out, errs := try(strings.NewReader("y\n"), plan...); code != 2 || !strings.Contains(errs, "--confirm-live") || out != "" {
		t.Fatalf("live without --confirm-live = %d %q %q", code, out, errs)
	}
	if code, _, errs := try(tty{strings.NewReader("y\n")}, plan...); code != 2 || !strings.Contains(errs, "--confirm-live") {
		t.Fatalf("live on a terminal without --confirm-live = %d %q", code, errs)
	}
	price := []string{"catalog", "create-price", "--env", "live", "--product", "prod_x", "--unit-amount", "2000", "--currency", "usd"}
	if code, _, errs := try(strings.NewReader(""), price...); code != 2 || !strings.Contains(errs, "--confirm-live") {
		t.Fatalf("live create-price without --confirm-live = %d %q", code, errs)
	}
	// On a terminal the flag is not enough: the human answers.
	confirmed := append(plan, "--confirm-live")
	for _, answer := range []string{"\n", "n\n", "no\n", ""} {
		code, out, errs := try(tty{strings.NewReader(answer)}, confirmed...)
		if code != 1 || !strings.Contains(errs, `Create product "Pro" at 20.00 USD / month in LIVE Stripe? [y/N]`) || !strings.Contains(errs, "not confirmed") || out != "" {
			t.Fatalf("live answered %q = %d %q %q", answer, code, out, errs)
		}
	}
	if n := fake.CountCreated(stripetest.KindProduct); n != 0 {
		t.Fatalf("%d products created in live Stripe without confirmation", n)
	}
	code, out, errs := try(tty{strings.NewReader("y\n")}, confirmed...)
	if code != 0 || !strings.Contains(out, "live: created prod_") || !strings.Contains(out, "20.00 USD / month") {
		t.Fatalf("live answered y = %d %q %q", code, out, errs)
	}
	// Off a terminal the flag confirms (a script that says so).
	code, out, errs = try(strings.NewReader(""), "catalog", "create-plan", "--env", "live", "--name", "Team", "--unit-amount", "5000", "--currency", "usd", "--confirm-live")
	if code != 0 || !strings.Contains(out, "live: created prod_") || !strings.Contains(out, "50.00 USD") {
		t.Fatalf("live with --confirm-live off a terminal = %d %q %q", code, out, errs)
	}
	if n := fake.CountCreated(stripetest.KindProduct); n != 2 {
		t.Fatalf("%d products created in live Stripe, want 2", n)
	}
}

func TestCatalogUsage(t *testing.T) {
	t.Parallel()
	e := map[string]string{"BILLWIRE_MASTER_KEY": masterKeyB64(9), "DATABASE_URL": "postgres://127.0.0.1:1/none"}
	for _, args := range [][]string{{"catalog"}, {"catalog", "delete"}, {"catalog", "list", "--env", "staging"}, {"catalog", "list", "extra"}} {
		if code, out, errs := cli(t, e, "", args...); code != 2 || out != "" || errs == "" {
			t.Errorf("%v = %d %q %q; want a usage error", args, code, out, errs)
		}
	}
}
