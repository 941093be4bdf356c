package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/scaffold"
)

// cmdScaffold is scaffold_fulfillment for a human: the SQL on stdout (dry
// run), a migration file (--write-to), or applied and recorded (--apply).
func cmdScaffold(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("scaffold", stderr, getenv)
	pattern := fs.String("pattern", "", "subscription_access, one_time_orders or credits (required)")
	envName := fs.String("env", "test", "environment the objects are bound to: test or live")
	table := fs.String("table", "", "main table, optionally schema-qualified (default team_billing_status, orders or credit_ledger)")
	subject := fs.String("subject-type", "", "billwire subject type served (default team for subscription_access, user otherwise)")
	grantsFlag := fs.String("grants", "", "credits (required): each credit pack's price lookup key and the credits one unit grants, e.g. credits_100=100,credits_1k=1000")
	rate := fs.Int64("credits-per-unit", 0, "replaced by --grants in scaffold version 2 (refused)")
	grace := fs.Int("grace-days", 0, "subscription_access: days a past_due subscription keeps access, from Stripe's time it became past_due (0 to 90)")
	writeTo := fs.String("write-to", "", "write the SQL as a migration file: a .sql path or a directory ending in /, relative to the working directory")
	apply := fs.Bool("apply", false, "apply the SQL in one transaction and record its checksum in payments.app_migrations")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *pattern == "" {
		return usageErr("scaffold: --pattern is required: one of %s", strings.Join(scaffold.Patterns, ", "))
	}
	if _, err := parseEnvFlag("scaffold", *envName); err != nil {
		return err
	}
	if *writeTo != "" && *apply {
		return usageErr("scaffold: --write-to and --apply cannot be combined: --write-to when the app has its own migration tool, --apply when it has none")
	}
	grants, err := parseGrants(*grantsFlag)
	if err != nil {
		return err
	}
	m, err := scaffold.Generate(scaffold.Options{Pattern: *pattern, Env: *envName, Table: *table, SubjectType: *subject, Grants: grants,
		CreditsPerUnit: *rate, GraceDays: *grace})
	if errors.Is(err, scaffold.ErrInvalid) {
		return usageErr("scaffold: %v", err)
	}
	if err != nil {
		return err
	}
	switch {
	case *apply:
		a, err := c.open(getenv, stderr)
		if err != nil {
			return err
		}
		defer a.Close()
		st, err := a.svc.Store(ctx)
		if err != nil {
			return err
		}
		res, err := scaffold.Apply(ctx, st, m)
		if err != nil {
			return err
		}
		if res.AlreadyApplied {
			fmt.Fprintf(stdout, "%s already applied on %s (checksum %s); nothing to do\n", m.Name, res.AppliedAt.UTC().Format(time.RFC3339), res.Checksum)
			return nil
		}
		fmt.Fprintf(stdout, "applied %s (checksum %s), bound to %s:\n  %s\n", m.Name, m.Checksum, m.Env, strings.Join(m.Objects, "\n  "))
		if res.UpgradedFrom != "" {
			fmt.Fprintf(stdout, "upgraded from %s: tables and their rows kept, functions and the trigger replaced\n", res.UpgradedFrom)
		}
	case *writeTo != "":
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		root := wd
		if filepath.IsAbs(*writeTo) {
			root = filepath.VolumeName(*writeTo) + string(filepath.Separator) // a human chose the place
		}
		w, err := scaffold.WriteFile(m, *writeTo, []string{root}, time.Now())
		if errors.Is(err, scaffold.ErrInvalid) {
			return usageErr("scaffold: %v", err)
		}
		if err != nil {
			return err
		}
		if w.Unchanged {
			fmt.Fprintf(stdout, "%s already holds this SQL (checksum %s)\n", w.Path, m.Checksum)
			return nil
		}
		fmt.Fprintf(stdout, "wrote %s (checksum %s); apply it with the app's migration tool after `billwire migrate`\n", w.Path, m.Checksum)
	default:
		fmt.Fprint(stdout, m.SQL)
		fmt.Fprintf(stderr, "billwire: dry run of %s (checksum %s); --write-to writes it as a migration file, --apply applies it\n", m.Name, m.Checksum)
	}
	return nil
}

// parseGrants reads --grants: lookup_key=credits pairs separated by commas.
func parseGrants(v string) (map[string]int64, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	out := map[string]int64{}
	for _, pair := range strings.Split(v, ",") {
		k, n, ok := strings.Cut(strings.TrimSpace(pair), "=")
		credits, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if !ok || strings.TrimSpace(k) == "" || err != nil {
			return nil, usageErr("scaffold: --grants %q: give lookup_key=credits pairs separated by commas, e.g. --grants credits_100=100,credits_1k=1000", pair)
		}
		if _, dup := out[strings.TrimSpace(k)]; dup {
			return nil, usageErr("scaffold: --grants names %q twice", strings.TrimSpace(k))
		}
		out[strings.TrimSpace(k)] = credits
	}
	return out, nil
}
