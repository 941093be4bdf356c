package scaffold

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/billwire/billwire/internal/store"
)

// Outdated is a scaffold an earlier generator version made (its trigger or
// its record in payments.app_migrations) that has not been upgraded to
// this version. Version 1 paid an order for any payment that named it and
// granted credits for any purchase: an app is not safe until it upgrades.
type Outdated struct {
	Pattern     string `json:"pattern"`
	Env         string `json:"env"`
	Table       string `json:"table"`
	SubjectType string `json:"subject_type"`
	Version     int    `json:"version"`
	// Source is what shows it: "trigger <name>" or "migration <name>".
	Source string `json:"source"`
	// CreditsPerUnit is version 1's rate of a credits scaffold, when known:
	// the credits each of its packs granted.
	CreditsPerUnit int64 `json:"credits_per_unit,omitempty"`
}

// Command is the CLI command a human runs to upgrade it.
func (o Outdated) Command() string {
	c := "billwire scaffold --pattern " + o.Pattern + " --env " + o.Env + " --table " + o.Table
	if o.SubjectType != defaultSubject(o.Pattern) {
		c += " --subject-type " + o.SubjectType
	}
	if o.Pattern == Credits {
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
	if o.Pattern == Credits {
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

// Hint says what an upgrade changes, for the doctor's line.
func (o Outdated) Hint() string {
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
	markerRE = regexp.MustCompile(`billwire scaffold_fulfillment pattern=([a-z_]+) env=(test|live) table=([a-z0-9_]+\.[a-z0-9_]+)(?: version=([0-9]+))?`)
	rateRE   = regexp.MustCompile(`([0-9]+) \* coalesce\(\(c\.state->>'checkout_quantity'\)`)
)

// FindOutdated lists the scaffolds not yet on this generator version: a
// trigger of an earlier version, or an earlier version's record in
// payments.app_migrations without a record or a trigger of this version
// for the same pattern and table.
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
		if b.Version >= Version {
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
		version             int
		rate                int64
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
		if rm := rateRE.FindStringSubmatch(am.SQL); rm != nil {
			r.rate, _ = strconv.ParseInt(rm[1], 10, 64)
		}
		if r.version >= Version {
			current[key{r.pattern, r.table}] = true
		}
		recs = append(recs, r)
	}
	for _, b := range bs {
		if b.Version >= Version {
			continue
		}
		o := Outdated{Pattern: b.Pattern, Env: b.Env, Table: b.Table, Version: b.Version, Source: "trigger " + b.Trigger}
		if o.Pattern == Credits {
			o.CreditsPerUnit = functionRate(ctx, st, b.Table)
		}
		add(o)
	}
	for _, r := range recs {
		if r.version >= Version || current[key{r.pattern, r.table}] {
			continue
		}
		add(Outdated{Pattern: r.pattern, Env: r.env, Table: r.table, Version: r.version, Source: "migration " + r.name, CreditsPerUnit: r.rate})
	}
	for i := range out {
		out[i].SubjectType = subjectOf(ctx, st, out[i].Pattern, out[i].Table)
	}
	slices.SortFunc(out, func(a, b Outdated) int { return strings.Compare(a.Table+a.Env, b.Table+b.Env) })
	return out, nil
}

// functionRate reads version 1's credits per unit from the table's apply
// function; 0 when it cannot.
func functionRate(ctx context.Context, st *store.Store, table string) int64 {
	src, err := st.FunctionSource(ctx, table+"_apply(payments.billing_changes)")
	if err != nil {
		return 0
	}
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
