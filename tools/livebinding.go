package tools

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/billwire/billwire/internal/scaffold"
	"github.com/billwire/billwire/internal/vocab"
)

// LiveWrite says what scaffold SQL that is about to be applied or written
// as a migration file writes: a live write when it binds fulfillment to
// live, and also when it would create, replace or rebind objects bound to
// live now (a test scaffold over a live table would let a test-card payment
// grant production access). A file counts as much as an apply: the app's
// migration tool runs it. A dry run writes nothing. The refusals give the
// CLI command a human runs instead.
func (p ScaffoldFulfillmentParams) LiveWrite(ctx context.Context, d Deps) (Write, error) {
	if p.WriteTo == "" && !p.Apply {
		return Write{}, nil
	}
	m, err := p.generate()
	if err != nil {
		return Write{}, err
	}
	w := Write{Writes: true, Env: m.Env, Confirmed: p.ConfirmLive, Command: scaffoldCommand(p, m),
		Reason: "this binds fulfillment (" + m.Pattern + ", " + m.Table + ") to live payments",
		What:   "bind fulfillment (" + m.Pattern + ", " + m.Table + ") to live payments"}
	if m.Env == vocab.Live {
		return w, nil
	}
	st, err := d.Billing.Store(ctx)
	if err != nil {
		return Write{}, fmt.Errorf("cannot check whether %s is bound to live, so nothing was written: %w", m.Table, err)
	}
	ledger, err := st.AppMigrationSQL(ctx)
	if err != nil {
		return Write{}, err
	}
	bound, err := scaffold.LiveBound(ctx, st, m, ledger)
	if err != nil || len(bound) == 0 {
		return w, err
	}
	w.Env = vocab.Live
	w.Reason = fmt.Sprintf("%s is bound to live now (%s); this SQL would replace or rebind it to %s, so %s payments would grant what live payments grant",
		m.Table, strings.Join(bound, "; "), m.Env, m.Env)
	w.What = "rebind live fulfillment (" + m.Pattern + ", " + m.Table + ") to " + string(m.Env)
	return w, nil
}

// scaffoldCommand is the CLI command that does what the call asked.
func scaffoldCommand(p ScaffoldFulfillmentParams, m *scaffold.Migration) string {
	args := []string{"billwire scaffold", "--pattern", m.Pattern, "--env", string(m.Env), "--table", m.Table, "--subject-type", m.SubjectType}
	if len(p.Grants) > 0 {
		keys := make([]string, 0, len(p.Grants))
		for k := range p.Grants {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		grants := make([]string, len(keys))
		for i, k := range keys {
			grants[i] = k + "=" + strconv.FormatInt(p.Grants[k], 10)
		}
		args = append(args, "--grants", shellQuote(strings.Join(grants, ",")))
	}
	if p.WriteTo != "" {
		args = append(args, "--write-to", shellQuote(p.WriteTo))
	} else {
		args = append(args, "--apply")
	}
	return strings.Join(args, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./=:,+-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
