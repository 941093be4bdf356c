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

// guardScaffold applies the live-safety rules to scaffold SQL that is about
// to be applied or written as a migration file: it is a live write when it
// binds fulfillment to live, and also when it would create, replace or
// rebind objects bound to live now (a test scaffold over a live table would
// let a test-card payment grant production access), in the database or in a
// live migration file beside write_to's. A file counts as much as an apply:
// the app's migration tool runs it. Without the server's
// --allow-live-writes and confirm_live the call is refused with the CLI
// command a human runs instead.
func (d Deps) guardScaffold(ctx context.Context, p ScaffoldFulfillmentParams, m *scaffold.Migration) error {
	reason := "this binds fulfillment (" + m.Pattern + ", " + m.Table + ") to live payments"
	if m.Env != vocab.Live {
		st, err := d.Billing.Store(ctx)
		if err != nil {
			return fmt.Errorf("cannot check whether %s is bound to live, so nothing was written: %w", m.Table, err)
		}
		ledger, err := st.AppMigrationSQL(ctx)
		if err != nil {
			return err
		}
		bound, err := scaffold.LiveBound(ctx, st.Pool(), m, ledger)
		if err != nil {
			return err
		}
		if p.WriteTo != "" {
			// A live file beside it, not yet run, binds the table as well.
			roots, err := writeRoots(ctx)
			if err != nil {
				return err
			}
			files, err := scaffold.LiveInDir(m, p.WriteTo, roots)
			if err != nil {
				return err
			}
			bound = append(bound, files...)
		}
		if len(bound) == 0 {
			return nil
		}
		reason = fmt.Sprintf("%s is bound to live now (%s); this SQL would replace or rebind it to %s, so %s payments would grant what live payments grant",
			m.Table, strings.Join(bound, "; "), m.Env, m.Env)
	}
	cmd := scaffoldCommand(p, m)
	switch {
	case !d.AllowLiveWrites:
		return fmt.Errorf("%s: a live write, and billwire mcp was started without --allow-live-writes. Nothing was written. "+
			"Ask the human to review the dry run and run it in a terminal: %s (or to restart billwire mcp with --allow-live-writes; then call again with confirm_live: true)",
			reason, cmd)
	case !p.ConfirmLive:
		return fmt.Errorf("%s: a live write. Nothing was written. Confirm with the human, then call again with confirm_live: true (or the human runs: %s)", reason, cmd)
	}
	what := "bind fulfillment (" + m.Pattern + ", " + m.Table + ") to live payments"
	if m.Env != vocab.Live {
		what = "rebind live fulfillment (" + m.Pattern + ", " + m.Table + ") to " + string(m.Env)
	}
	return d.guardLive(ctx, vocab.Live, true, what)
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
