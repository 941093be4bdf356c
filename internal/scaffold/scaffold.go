// Package scaffold generates the SQL of an app's fulfillment: tables that
// react, in the projection's transaction, to billwire's outbox
// payments.billing_changes. It shows the SQL, writes it as a migration file
// for the app's own migration tool, or applies exactly what it generated and
// records its checksum in payments.app_migrations.
package scaffold

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/billwire/billwire/internal/lazyre"
	"github.com/billwire/billwire/internal/vocab"
)

// The patterns the scaffold generates.
const (
	// SubscriptionAccess keeps a <subject>_billing_status table current: a
	// row per subscription of a subject.
	SubscriptionAccess = "subscription_access"
	// OneTimeOrders marks the app's pending orders paid.
	OneTimeOrders = "one_time_orders"
	// Credits grants prepaid credits once per payment.
	Credits = "credits"
)

// Version is the generator's version: it ends every migration name
// (_v2) and is written into every object's comment. Version 2 checks the
// money: an order is paid only by its owner's payment of its amount in its
// currency, and credits are granted only for the prices named in grants.
const Version = 2

// revisions are the patterns whose version 2 SQL was revised after it
// shipped (one_time_orders: a second payment of a paid order is a
// mismatch, free mismatches say nothing was paid; credits: a payment
// naming an order grants nothing, refunds and lost disputes are taken back
// whenever they arrive, lookup keys as recorded at purchase;
// subscription_access: past_due_since and grace_days). A revision
// keeps the migration name (_v2) and writes revision=N into the comment;
// an earlier revision is outdated and is upgraded in place.
var revisions = map[string]int{OneTimeOrders: 2, Credits: 2, SubscriptionAccess: 2}

// Revision is the current revision of pattern's version 2 SQL: 1 for a
// pattern never revised.
func Revision(pattern string) int {
	if r := revisions[pattern]; r > 0 {
		return r
	}
	return 1
}

// Patterns lists the pattern names.
var Patterns = []string{SubscriptionAccess, OneTimeOrders, Credits}

// Sentinel errors callers branch on. Every error that wraps one says what
// to change.
var (
	// ErrInvalid is a mistake in the arguments.
	ErrInvalid = errors.New("invalid scaffold arguments")
	// ErrDrift means a migration of the same name was applied with other content.
	ErrDrift = errors.New("migration drift")
	// ErrShape means an object the SQL would create exists in another shape.
	ErrShape = errors.New("existing object has another shape")
	// ErrOutsideRoots means a write_to path is outside the allowed roots.
	ErrOutsideRoots = errors.New("path outside the allowed roots")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Options are the arguments that shape the generated SQL.
type Options struct {
	// Pattern is subscription_access, one_time_orders or credits.
	Pattern string
	// Env is the environment the objects are bound to: test (default) or live.
	Env string
	// Table names the main table, optionally schema-qualified (default
	// schema public); the default depends on the pattern.
	Table string
	// SubjectType is the billwire subject type (user, team, …) the pattern
	// serves; default team for subscription_access, user otherwise.
	SubjectType string
	// Grants is, for credits, the credits one unit of each credit pack
	// grants, by the pack's price lookup key (e.g. credits_100: 100). Only
	// units of these prices grant.
	Grants map[string]int64
	// CreditsPerUnit was version 1's single rate for every unit bought; it
	// is refused (use Grants).
	CreditsPerUnit int64
	// GraceDays is, for subscription_access, how many days a past_due
	// subscription keeps access, counted from past_due_since (Stripe's
	// time of the event in which it became past_due); 0 to [MaxGraceDays].
	GraceDays int
}

// MaxGraceDays bounds grace_days: Stripe's own retry schedules end within
// a few weeks.
const MaxGraceDays = 90

// maxGrants bounds how many credit packs one credits scaffold names.
const maxGrants = 100

// grantsForm shows how grants are given, for error messages.
const grantsForm = `grants: {"credits_100": 100, "credits_1k": 1000} (CLI --grants credits_100=100,credits_1k=1000): each credit pack's price lookup key and the credits one unit of it grants`

// Migration is generated SQL, its name and its checksum.
type Migration struct {
	Pattern     string    `json:"pattern"`
	Env         vocab.Env `json:"env"`
	Table       string    `json:"table"`
	SubjectType string    `json:"subject_type"`
	// Name identifies the migration in payments.app_migrations.
	Name string `json:"name"`
	// Revision is the revision of this version's SQL (see [Revision]).
	Revision int `json:"revision"`
	// Checksum is the hex sha256 of SQL.
	Checksum string `json:"checksum"`
	// Objects lists what the SQL creates or replaces.
	Objects []string `json:"objects"`
	SQL     string   `json:"sql"`

	tables []tableSpec
	owned  []ownedObject
	schema string
}

// identRE is what the scaffold accepts as an identifier: lower-case, so it
// means the same quoted and unquoted.
var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

const maxIdent = 63

func checkIdent(what, s string, max int) error {
	if !identRE.MatchString(s) {
		return invalid("%s %q is not a valid identifier: use lower-case letters, digits and underscores, starting with a letter or underscore (e.g. team_billing_status)", what, s)
	}
	if len(s) > max {
		return invalid("%s %q is longer than %d characters", what, s, max)
	}
	return nil
}

// reservedSchemas belong to PostgreSQL or to billwire.
func reservedSchema(s string) bool {
	return s == "payments" || s == "information_schema" || strings.HasPrefix(s, "pg_")
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// names are the objects of one scaffold, quoted and ready for the SQL.
type names struct {
	Pattern, Env, SubjectType string
	Schema, Table             string // raw
	Qualified                 string // "schema"."table"
	Marker                    string // the comment every object carries
	Apply, OnChange           string // functions, qualified
	Trigger                   string // trigger on payments.billing_changes, quoted
	SubjectCol                string // e.g. "team_id", quoted
	HasAccess                 string // subscription_access: the access function
	Balances                  string // credits: the balance view
	Revocations               string // credits: the refunds and lost disputes to take back, qualified
	RevocationsIndex          string // credits: its index by payment, quoted
	AppendOnly, AppendTrigger string // credits: the guard function and its trigger
	Grants                    string // credits: a VALUES list of (lookup_key, credits per unit)
	GrantList                 string // credits: the grants for the header, e.g. credits_100=100
	GraceDays                 int    // subscription_access: days of access while past_due
	Version, Revision         int
	Lit                       func(string) string
	Q                         func(string) string
}

// Generate validates o and returns the SQL it stands for. The same options
// always give the same SQL.
func Generate(o Options) (*Migration, error) {
	g, err := parseOptions(o)
	if err != nil {
		return nil, err
	}
	if err := g.nameObjects(); err != nil {
		return nil, err
	}
	if err := g.namePatternObjects(o.Grants); err != nil {
		return nil, err
	}
	return g.render()
}

// generation is one scaffold being generated: its validated arguments,
// then the names, objects and tables it makes and its template.
type generation struct {
	pattern, subject, schema, table string
	env                             vocab.Env
	grantKeys                       []string // credits: the grants' lookup keys, sorted
	graceDays                       int

	n       names
	objects []string // as Migration.Objects
	owned   []ownedObject
	tables  []tableSpec
	tmpl    *template.Template
}

// parseOptions validates o and fills in its defaults.
func parseOptions(o Options) (*generation, error) {
	pattern := strings.TrimSpace(o.Pattern)
	if pattern == "" {
		return nil, invalid("pattern is required: one of %s", strings.Join(Patterns, ", "))
	}
	if !slices.Contains(Patterns, pattern) {
		return nil, invalid("unknown pattern %q: use one of %s", pattern, strings.Join(Patterns, ", "))
	}
	env := vocab.Test
	if o.Env != "" {
		e, err := vocab.ParseEnv(o.Env)
		if err != nil {
			return nil, invalid("env: %v", err)
		}
		env = e
	}
	subject := o.SubjectType
	if subject == "" {
		subject = "user"
		if pattern == SubscriptionAccess {
			subject = "team"
		}
	}
	if err := checkIdent("subject_type", subject, 40); err != nil {
		return nil, err
	}
	if subject != "user" && subject != "team" {
		// The session API and the webhook projection know these two: rows
		// for any other type would never come.
		return nil, invalid("subject_type %q: use user or team, the subject types the session API takes (an organization, workspace or account that pays is a team)", subject)
	}
	schema, table, err := tableOf(pattern, subject, o.Table)
	if err != nil {
		return nil, err
	}
	if o.CreditsPerUnit != 0 {
		return nil, invalid("credits_per_unit was replaced by grants in scaffold v%d, so that only the credit packs grant (each its own amount, never any other purchase): pass %s", Version, grantsForm)
	}
	grantKeys, err := grantKeysOf(pattern, o.Grants)
	if err != nil {
		return nil, err
	}
	if err := checkGraceDays(pattern, o.GraceDays); err != nil {
		return nil, err
	}
	return &generation{pattern: pattern, env: env, subject: subject, schema: schema, table: table, grantKeys: grantKeys,
		graceDays: o.GraceDays}, nil
}

// checkGraceDays accepts grace_days from 0 to MaxGraceDays, for
// subscription_access only.
func checkGraceDays(pattern string, days int) error {
	if days != 0 && pattern != SubscriptionAccess {
		return invalid("grace_days applies to pattern subscription_access only; remove it for %s", pattern)
	}
	if days < 0 || days > MaxGraceDays {
		return invalid("grace_days %d is out of range: give a whole number of days from 0 (access ends when a payment fails) to %d", days, MaxGraceDays)
	}
	return nil
}

// tableOf is the scaffold's table, schema and name: the option's
// ("schema.table" or "table" in public), else the pattern's default.
func tableOf(pattern, subject, option string) (string, string, error) {
	schema, table := "public", option
	if s, t, ok := strings.Cut(option, "."); ok {
		schema, table = s, t
		if err := checkIdent("table's schema", schema, maxIdent); err != nil {
			return "", "", err
		}
		if reservedSchema(schema) {
			return "", "", invalid("table's schema %q belongs to billwire or PostgreSQL: the app's tables stay in the app's schema (e.g. public)", schema)
		}
	}
	if table == "" {
		switch pattern {
		case SubscriptionAccess:
			table = subject + "_billing_status"
		case OneTimeOrders:
			table = "orders"
		case Credits:
			table = "credit_ledger"
		}
	}
	if err := checkIdent("table", table, 40); err != nil {
		return "", "", err
	}
	return schema, table, nil
}

// grantKeysOf checks the grants (credits only, and required there) and
// returns their lookup keys, sorted.
func grantKeysOf(pattern string, grants map[string]int64) ([]string, error) {
	if pattern != Credits {
		if len(grants) != 0 {
			return nil, invalid("grants applies to pattern credits only; remove it for %s", pattern)
		}
		return nil, nil
	}
	if len(grants) == 0 {
		return nil, invalid("grants is required for pattern credits: %s", grantsForm)
	}
	if len(grants) > maxGrants {
		return nil, invalid("grants names %d credit packs; at most %d", len(grants), maxGrants)
	}
	var keys []string
	for k, v := range grants {
		if err := checkLookupKey(k); err != nil {
			return nil, err
		}
		if v < 1 || v > 1_000_000_000 {
			return nil, invalid("grants[%q] = %d is out of range: give a whole number of credits per unit from 1 to 1000000000", k, v)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// qualified is name in the scaffold's schema, quoted.
func (g *generation) qualified(name string) string {
	return quoteIdent(g.schema) + "." + quoteIdent(name)
}

// function records a function the scaffold makes and owns.
func (g *generation) function(name, args string) {
	g.objects = append(g.objects, "function "+g.schema+"."+name+"("+args+")")
	g.owned = append(g.owned, ownedObject{kind: "function", schema: g.schema, name: name, args: args})
}

// nameObjects names what every pattern makes: the table, the apply and
// on-change functions, and the trigger on payments.billing_changes.
func (g *generation) nameObjects() error {
	schema, table := g.schema, g.table
	g.n = names{Pattern: g.pattern, Env: string(g.env), SubjectType: g.subject, Schema: schema, Table: table,
		Lit: quoteLiteral, Q: quoteIdent, Version: Version, Revision: Revision(g.pattern), GraceDays: g.graceDays}
	g.n.Qualified = g.qualified(table)
	g.n.Marker = fmt.Sprintf("billwire scaffold_fulfillment pattern=%s env=%s table=%s.%s version=%d", g.pattern, g.env, schema, table, Version)
	if g.n.Revision > 1 {
		g.n.Marker += " revision=" + strconv.Itoa(g.n.Revision)
	}
	g.n.Apply = g.qualified(table + "_apply")
	g.n.OnChange = g.qualified(table + "_on_billing_change")
	trigger := "app_" + schema + "_" + table
	if len(trigger) > maxIdent {
		return invalid("schema and table names are too long together: %q must fit in %d characters", trigger, maxIdent)
	}
	g.n.Trigger = quoteIdent(trigger)
	g.n.SubjectCol = quoteIdent(g.subject + "_id")
	g.objects = append(g.objects, "table "+schema+"."+table)
	g.function(table+"_apply", "payments.billing_changes")
	g.function(table+"_on_billing_change", "")
	g.objects = append(g.objects, "trigger "+trigger+" on payments.billing_changes")
	return nil
}

// namePatternObjects names what the pattern adds (subscription access: the
// access function; credits: the grants, the append-only guard and the
// balance view) and picks its table and template.
func (g *generation) namePatternObjects(grants map[string]int64) error {
	schema, table := g.schema, g.table
	switch g.pattern {
	case SubscriptionAccess:
		access := table + "_has_access"
		if strings.HasSuffix(table, "_billing_status") {
			access = strings.TrimSuffix(table, "_billing_status") + "_has_access"
		}
		if err := checkIdent("access function", access, maxIdent); err != nil {
			return err
		}
		g.n.HasAccess = g.qualified(access)
		g.function(access, "text")
		g.tables = []tableSpec{statusTable(table, g.subject)}
		g.tmpl = subscriptionAccessSQL()
	case OneTimeOrders:
		g.tables = []tableSpec{ordersTable(table, g.subject, g.env)}
		g.tmpl = ordersSQL()
	case Credits:
		balances := table + "_balances"
		if strings.HasSuffix(table, "_ledger") {
			balances = strings.TrimSuffix(table, "_ledger") + "_balances"
		}
		g.n.Balances = g.qualified(balances)
		g.n.AppendOnly = g.qualified(table + "_append_only")
		g.n.AppendTrigger = quoteIdent(table + "_append_only")
		vals := make([]string, len(g.grantKeys))
		list := make([]string, len(g.grantKeys))
		for i, k := range g.grantKeys {
			vals[i] = "(" + quoteLiteral(k) + ", " + strconv.FormatInt(grants[k], 10) + "::bigint)"
			list[i] = k + "=" + strconv.FormatInt(grants[k], 10)
		}
		g.n.Grants = strings.Join(vals, ", ")
		g.n.GrantList = strings.Join(list, ", ")
		revocations := table + "_revocations"
		g.n.Revocations = g.qualified(revocations)
		g.n.RevocationsIndex = quoteIdent(revocations + "_payment")
		g.function(table+"_append_only", "")
		g.objects = append(g.objects, "trigger "+table+"_append_only on "+schema+"."+table, "view "+schema+"."+balances,
			"table "+schema+"."+revocations)
		g.owned = append(g.owned, ownedObject{kind: "view", schema: schema, name: balances})
		g.tables = []tableSpec{ledgerTable(table, g.subject), revocationsTable(revocations)}
		g.tmpl = creditsSQL()
	}
	return nil
}

// render executes the pattern's template over the names and returns the
// migration with its checksum.
func (g *generation) render() (*Migration, error) {
	name := migrationName(g.pattern, g.schema, g.table, g.env)
	var buf bytes.Buffer
	if err := g.tmpl.Execute(&buf, struct {
		names
		Tables []tableSpec
		Name   string
	}{g.n, g.tables, name}); err != nil {
		return nil, fmt.Errorf("generate %s: %w", g.pattern, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return &Migration{Pattern: g.pattern, Env: g.env, Table: g.schema + "." + g.table, SubjectType: g.subject,
		Name: name, Revision: g.n.Revision, Checksum: hex.EncodeToString(sum[:]), Objects: g.objects,
		SQL: buf.String(), tables: g.tables, owned: g.owned, schema: g.schema}, nil
}

func migrationName(pattern, schema, table string, env vocab.Env) string {
	return "billwire_" + pattern + "_" + schema + "_" + table + "_" + string(env) + "_v" + strconv.Itoa(Version)
}

// lookupKeyRE is what grants accepts as a price lookup key. The key
// reaches the SQL only as a quoted literal inside a dollar-quoted function
// body and in a comment, so "$", quotes, spaces and line breaks are kept
// out as well.
var lookupKeyRE = lazyre.New(`^[A-Za-z0-9_.:/+-]{1,200}$`)

// checkLookupKey accepts a Stripe price lookup key of letters, digits and
// _ . : / + - (at most 200).
func checkLookupKey(k string) error {
	if !lookupKeyRE().MatchString(k) {
		return invalid("grants key %q is not a lookup key billwire accepts: use 1 to 200 letters, digits and _ . : / + - (e.g. credits_100)", k)
	}
	return nil
}

// FileName is the migration's file name for an app's migration directory,
// led by a UTC timestamp so that tools which order by name apply it last.
func (m *Migration) FileName(now time.Time) string {
	return now.UTC().Format("20060102150405") + "_" + m.Name + ".sql"
}

// column is a column of a generated table. Type is spelled as PostgreSQL's
// format_type prints it, so the shape check compares like with like.
type column struct {
	Name, Type string
	NotNull    bool
	Identity   bool   // GENERATED BY DEFAULT AS IDENTITY
	Default    string // SQL expression, or ""
	Check      string // SQL, or ""
	// Since is the generator version that added the column (0: the
	// first): the SQL adds it to an existing table with ADD COLUMN IF NOT
	// EXISTS, so it must be nullable or have a default.
	Since int
}

// tableSpec is a generated table: its columns, its constraints, and the
// unique keys its ON CONFLICT clauses need.
type tableSpec struct {
	Name    string
	Columns []column
	Extra   []string   // constraint lines after the columns
	Unique  [][]string // column sets that must be unique
	// Inserts says the scaffold inserts rows (so an extra NOT NULL column
	// without a default would break it).
	Inserts bool
	Comment string
}

// DDL renders the CREATE TABLE IF NOT EXISTS statement, then an ADD
// COLUMN IF NOT EXISTS for each column a later version added, so that the
// same SQL creates the table and upgrades one an earlier version created.
func (t tableSpec) DDL(qualified string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS " + qualified + " (\n")
	lines := make([]string, 0, len(t.Columns)+len(t.Extra))
	for _, c := range t.Columns {
		lines = append(lines, "    "+c.def())
	}
	for _, e := range t.Extra {
		lines = append(lines, "    "+e)
	}
	b.WriteString(strings.Join(lines, ",\n"))
	b.WriteString("\n);")
	for _, c := range t.Columns {
		if c.Since > 1 {
			fmt.Fprintf(&b, "\n-- Added in version %d.\nALTER TABLE %s ADD COLUMN IF NOT EXISTS %s;", c.Since, qualified, c.def())
		}
	}
	return b.String()
}

// def is the column's definition.
func (c column) def() string {
	l := quoteIdent(c.Name) + " " + c.Type
	if c.Identity {
		l += " GENERATED BY DEFAULT AS IDENTITY"
	}
	if c.NotNull {
		l += " NOT NULL"
	}
	if c.Default != "" {
		l += " DEFAULT " + c.Default
	}
	if c.Check != "" {
		l += " CHECK (" + c.Check + ")"
	}
	return l
}

const (
	tText = "text"
	tBig  = "bigint"
	tBool = "boolean"
	tTime = "timestamp with time zone"
	tJSON = "jsonb"
)

var envCheck = `"env" IN ('test', 'live')`

func statusTable(table, subject string) tableSpec {
	sc := subject + "_id"
	return tableSpec{Name: table, Inserts: true, Columns: []column{
		{Name: sc, Type: tText, NotNull: true},
		{Name: "env", Type: tText, NotNull: true, Check: envCheck},
		{Name: "subscription_id", Type: tText, NotNull: true},
		{Name: "customer_id", Type: tText},
		{Name: "plan", Type: tText},
		{Name: "price_id", Type: tText},
		{Name: "product_id", Type: tText},
		{Name: "quantity", Type: tBig},
		{Name: "status", Type: tText, NotNull: true},
		{Name: "has_access", Type: tBool, NotNull: true},
		{Name: "current_period_end", Type: tTime},
		{Name: "cancel_at_period_end", Type: tBool, NotNull: true, Default: "false"},
		{Name: "trial_end", Type: tTime},
		{Name: "updated_at", Type: tTime, NotNull: true, Default: "now()"},
		{Name: "past_due_since", Type: tTime, Since: 2},
	}, Extra: []string{"PRIMARY KEY (" + quoteIdent(sc) + `, "env", "subscription_id")`}, Unique: [][]string{{sc, "env", "subscription_id"}}}
}

func ordersTable(table, subject string, env vocab.Env) tableSpec {
	return tableSpec{Name: table, Columns: []column{
		{Name: "id", Type: tText, NotNull: true, Default: "gen_random_uuid()::text"},
		{Name: "env", Type: tText, NotNull: true, Default: quoteLiteral(string(env)), Check: envCheck},
		{Name: subject + "_id", Type: tText},
		{Name: "status", Type: tText, NotNull: true, Default: "'pending'", Check: `"status" IN ('pending', 'paid', 'failed', 'refunded')`},
		{Name: "amount", Type: tBig},
		{Name: "currency", Type: tText},
		{Name: "checkout_session_id", Type: tText},
		{Name: "payment_key", Type: tText},
		{Name: "amount_paid", Type: tBig},
		{Name: "amount_refunded", Type: tBig, NotNull: true, Default: "0"},
		{Name: "paid_at", Type: tTime},
		{Name: "created_at", Type: tTime, NotNull: true, Default: "now()"},
		{Name: "updated_at", Type: tTime, NotNull: true, Default: "now()"},
	}, Extra: []string{`PRIMARY KEY ("id")`}, Unique: [][]string{{"id"}}}
}

func ledgerTable(table, subject string) tableSpec {
	return tableSpec{Name: table, Inserts: true, Columns: []column{
		{Name: "id", Type: tBig, NotNull: true, Identity: true},
		{Name: "env", Type: tText, NotNull: true, Check: envCheck},
		{Name: subject + "_id", Type: tText, NotNull: true},
		{Name: "credits", Type: tBig, NotNull: true},
		{Name: "reason", Type: tText, NotNull: true},
		{Name: "source_key", Type: tText},
		{Name: "amount", Type: tBig},
		{Name: "currency", Type: tText},
		{Name: "created_at", Type: tTime, NotNull: true, Default: "now()"},
		{Name: "items", Type: tJSON, Since: 2},
	}, Extra: []string{`PRIMARY KEY ("id")`, `UNIQUE ("source_key", "env")`}, Unique: [][]string{{"id"}, {"source_key", "env"}}}
}

// revocationsTable remembers a credits scaffold's refunds and lost
// disputes by their key, with the payment they take back from, so that one
// that arrives before the grant is taken back when the grant is made.
func revocationsTable(table string) tableSpec {
	return tableSpec{Name: table, Inserts: true, Columns: []column{
		{Name: "key", Type: tText, NotNull: true},
		{Name: "env", Type: tText, NotNull: true, Check: envCheck},
		{Name: "payment_key", Type: tText, NotNull: true},
		{Name: "reason", Type: tText, NotNull: true, Check: `"reason" IN ('refund', 'dispute')`},
		{Name: "amount", Type: tBig, NotNull: true},
		{Name: "currency", Type: tText},
		{Name: "created_at", Type: tTime, NotNull: true, Default: "now()"},
	}, Extra: []string{`PRIMARY KEY ("key", "env")`}, Unique: [][]string{{"key", "env"}}}
}
