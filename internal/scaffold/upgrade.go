package scaffold

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/billwire/billwire/internal/store"
)

// Outdated is a scaffold an earlier generator version, or an earlier
// revision of this version, made (its trigger or its record in
// payments.app_migrations) that has not been upgraded. Version 1 paid an
// order for any payment that named it and granted credits for any
// purchase; version 2's first revision left the holes [Revision] lists: an
// app is not safe until it upgrades.
type Outdated struct {
	Pattern     string `json:"pattern"`
	Env         string `json:"env"`
	Table       string `json:"table"`
	SubjectType string `json:"subject_type"`
	Version     int    `json:"version"`
	// Source is what shows it: "trigger <name>" or "migration <name>".
	Source string `json:"source"`
	// Revision is the revision of version 2's SQL (see [Revision]); 0 for
	// version 1.
	Revision int `json:"revision,omitempty"`
	// CreditsPerUnit is version 1's rate of a credits scaffold, when known:
	// the credits each of its packs granted.
	CreditsPerUnit int64 `json:"credits_per_unit,omitempty"`
	// Grants are an earlier revision's grants of a credits scaffold, when
	// known: the upgrade keeps them.
	Grants map[string]int64 `json:"grants,omitempty"`
}

// Command is the CLI command a human runs to upgrade it.
func (o Outdated) Command() string {
	c := "billwire scaffold --pattern " + o.Pattern + " --env " + o.Env + " --table " + o.Table
	if o.SubjectType != defaultSubject(o.Pattern) {
		c += " --subject-type " + o.SubjectType
	}
	switch {
	case o.Pattern == Credits && len(o.Grants) > 0:
		c += " --grants " + strings.Join(o.grantList("="), ",")
	case o.Pattern == Credits:
		c += " --grants <lookup_key>=" + o.rate()
	}
	return c + " --apply"
}

// Call is the scaffold_fulfillment call that upgrades it.
func (o Outdated) Call() string {
	c := fmt.Sprintf("scaffold_fulfillment {pattern: %q, env: %q, table: %q", o.Pattern, o.Env, o.Table)
	if o.SubjectType != defaultSubject(o.Pattern) {
		c += fmt.Sprintf(", subject_type: %q", o.SubjectType)
	}
	switch {
	case o.Pattern == Credits && len(o.Grants) > 0:
		c += ", grants: {" + strings.Join(o.grantList(": "), ", ") + "}"
	case o.Pattern == Credits:
		c += `, grants: {"<lookup_key>": ` + o.rate() + "}"
	}
	if o.Env == "live" {
		c += ", confirm_live: true"
	}
	return c + ", apply: true}"
}

func (o Outdated) rate() string {
	if o.CreditsPerUnit > 0 {
		return strconv.FormatInt(o.CreditsPerUnit, 10)
	}
	return "<credits>"
}

// grantList is Grants as key<sep>credits, by key; the MCP form quotes the key.
func (o Outdated) grantList(sep string) []string {
	keys := slices.Sorted(maps.Keys(o.Grants))
	out := make([]string, len(keys))
	for i, k := range keys {
		if sep == "=" {
			out[i] = k + "=" + strconv.FormatInt(o.Grants[k], 10)
		} else {
			out[i] = strconv.Quote(k) + sep + strconv.FormatInt(o.Grants[k], 10)
		}
	}
	return out
}

// Label names the generator version (and revision) that made it.
func (o Outdated) Label() string {
	if o.Version == Version {
		return fmt.Sprintf("version %d revision %d", o.Version, o.Revision)
	}
	return "version " + strconv.Itoa(o.Version)
}

// Hint says what an upgrade changes, for the doctor's line.
func (o Outdated) Hint() string {
	if o.Version == Version {
		switch o.Pattern {
		case OneTimeOrders:
			return fmt.Sprintf("revision %d silently keeps a second payment of a paid order (revision %d records it as an already_paid mismatch to refund) and counts free mismatches as open", o.Revision, Revision(o.Pattern))
		case Credits:
			return fmt.Sprintf("revision %d grants credits for a payment that also pays an order, keeps the credits of a refund or lost dispute that arrives before the grant, and reads lookup keys from the current catalog instead of the purchase (revision %d fixes these)", o.Revision, Revision(o.Pattern))
		}
	}
	switch o.Pattern {
	case OneTimeOrders:
		return "version 1 marks an order paid for any payment that names it (any amount, currency or payer)"
	case Credits:
		return "version 1 grants credits for any one-time purchase; version 2 takes grants, each credit pack's price lookup key with its credits per unit (replacing credits_per_unit)"
	default:
		return "version 1 is not the current generator's"
	}
}

func defaultSubject(pattern string) string {
	if pattern == SubscriptionAccess {
		return "team"
	}
	return "user"
}

var (
	markerRE = regexp.MustCompile(`billwire scaffold_fulfillment pattern=([a-z_]+) env=(test|live) table=([a-z0-9_]+\.[a-z0-9_]+)(?: version=([0-9]+))?(?: revision=([0-9]+))?`)
	rateRE   = regexp.MustCompile(`([0-9]+) \* coalesce\(\(c\.state->>'checkout_quantity'\)`)
	// grantsRE finds version 2's grants list, grantRE each grant in it.
	grantsRE = regexp.MustCompile(`JOIN \(VALUES ((?:\('[^']*', [0-9]+::bigint\)(?:, )?)+)\) AS g\(lookup_key, per_unit\)`)
	grantRE  = regexp.MustCompile(`\('([^']*)', ([0-9]+)::bigint\)`)
)

// graceRE finds subscription_access's grace_days in its access function.
var graceRE = regexp.MustCompile(`"past_due_since" \+ interval '([0-9]+) days'`)

// graceInSQL reads the grace_days of subscription_access SQL; -1 when it
// has none (revision 1).
func graceInSQL(sql string) int {
	m := graceRE.FindStringSubmatch(sql)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// grantsInSQL reads the grants of version 2 credits SQL (or its apply
// function's body); nil when it has none.
func grantsInSQL(sql string) map[string]int64 {
	m := grantsRE.FindStringSubmatch(sql)
	if m == nil {
		return nil
	}
	out := map[string]int64{}
	for _, g := range grantRE.FindAllStringSubmatch(m[1], -1) {
		out[g[1]], _ = strconv.ParseInt(g[2], 10, 64)
	}
	return out
}

// requiredRevisions are, where lower than [Revision], the lowest revision
// of a pattern's version 2 SQL that is not outdated: subscription_access's
// revision 1 has no hole, only no grace_days (past_due loses access at
// once), so it is upgraded when scaffolded again but never reported.
var requiredRevisions = map[string]int{SubscriptionAccess: 1}

// isCurrent says whether version and revision are this generator's for
// pattern, or an earlier revision that need not be upgraded.
func isCurrent(pattern string, version, revision int) bool {
	required := Revision(pattern)
	if r, ok := requiredRevisions[pattern]; ok {
		required = r
	}
	return version > Version || (version == Version && revision >= required)
}

// FindOutdated lists the scaffolds not yet on this generator version and
// its pattern's revision: a trigger of an earlier one, or an earlier one's
// record in payments.app_migrations without a record or a trigger of the
// current one for the same pattern and table.
func FindOutdated(ctx context.Context, st *store.Store) ([]Outdated, error) {
	bs, err := Bindings(ctx, st)
	if err != nil {
		return nil, err
	}
	type key struct{ pattern, table string }
	current := map[key]bool{}
	var out []Outdated
	seen := map[string]bool{}
	add := func(o Outdated) {
		k := o.Pattern + " " + o.Table + " " + o.Env
		if !seen[k] {
			seen[k] = true
			out = append(out, o)
		}
	}
	for _, b := range bs {
		if isCurrent(b.Pattern, b.Version, b.Revision) {
			current[key{b.Pattern, b.Table}] = true
		}
	}
	ms, err := st.AppMigrations(ctx)
	if err != nil {
		return nil, err
	}
	type rec struct {
		name                string
		pattern, env, table string
		version, revision   int
		rate                int64
		grants              map[string]int64
	}
	var recs []rec
	for _, am := range ms {
		if !strings.HasPrefix(am.Name, "billwire_") {
			continue
		}
		m := markerRE.FindStringSubmatch(am.SQL)
		if m == nil {
			continue
		}
		r := rec{name: am.Name, pattern: m[1], env: m[2], table: m[3], version: 1}
		if m[4] != "" {
			r.version, _ = strconv.Atoi(m[4])
		}
		if r.version == Version {
			r.revision, r.grants = 1, grantsInSQL(am.SQL)
			if m[5] != "" {
				r.revision, _ = strconv.Atoi(m[5])
			}
		}
		if rm := rateRE.FindStringSubmatch(am.SQL); rm != nil {
			r.rate, _ = strconv.ParseInt(rm[1], 10, 64)
		}
		if isCurrent(r.pattern, r.version, r.revision) {
			current[key{r.pattern, r.table}] = true
		}
		recs = append(recs, r)
	}
	for _, b := range bs {
		if isCurrent(b.Pattern, b.Version, b.Revision) {
			continue
		}
		o := Outdated{Pattern: b.Pattern, Env: b.Env, Table: b.Table, Version: b.Version, Source: "trigger " + b.Trigger}
		if b.Version == Version {
			o.Revision = b.Revision
		}
		if o.Pattern == Credits {
			src := functionSource(ctx, st, b.Table)
			o.CreditsPerUnit, o.Grants = sourceRate(src), grantsInSQL(src)
		}
		add(o)
	}
	for _, r := range recs {
		if isCurrent(r.pattern, r.version, r.revision) || current[key{r.pattern, r.table}] {
			continue
		}
		add(Outdated{Pattern: r.pattern, Env: r.env, Table: r.table, Version: r.version, Revision: r.revision, Source: "migration " + r.name,
			CreditsPerUnit: r.rate, Grants: r.grants})
	}
	for i := range out {
		out[i].SubjectType = subjectOf(ctx, st, out[i].Pattern, out[i].Table)
	}
	slices.SortFunc(out, func(a, b Outdated) int { return strings.Compare(a.Table+a.Env, b.Table+b.Env) })
	return out, nil
}

// functionSource is the body of the table's apply function; "" when it
// cannot be read.
func functionSource(ctx context.Context, st *store.Store, table string) string {
	src, err := st.FunctionSource(ctx, table+"_apply(payments.billing_changes)")
	if err != nil {
		return ""
	}
	return src
}

// sourceRate reads version 1's credits per unit from an apply function's
// body; 0 when it names none.
func sourceRate(src string) int64 {
	if m := rateRE.FindStringSubmatch(src); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	return 0
}

// fixedIDColumns are the pattern's own *_id columns; the remaining one
// names the subject type.
var fixedIDColumns = map[string]bool{"subscription_id": true, "customer_id": true, "price_id": true, "product_id": true,
	"checkout_session_id": true}

// subjectOf finds the subject type a scaffolded table serves from its
// <subject>_id column, else the pattern's default.
func subjectOf(ctx context.Context, st *store.Store, pattern, table string) string {
	cols, err := st.ColumnNames(ctx, table)
	if err != nil {
		return defaultSubject(pattern)
	}
	for _, n := range cols {
		if s, ok := strings.CutSuffix(n, "_id"); ok && s != "" && !fixedIDColumns[n] {
			return s
		}
	}
	return defaultSubject(pattern)
}
