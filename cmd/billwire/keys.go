package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/billwire/billwire/internal/vocab"
)

func cmdKeys(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usageErr("keys: say set or show, e.g. `billwire keys set --env test`")
	}
	switch args[0] {
	case "set":
		return cmdKeysSet(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "show":
		return cmdKeysShow(ctx, args[1:], stdout, stderr, getenv)
	}
	return usageErr("keys: unknown subcommand %q: use set or show", args[0])
}

// cmdKeysSet stores a key read from BILLWIRE_STRIPE_SECRET_KEY or stdin, never
// from the command line, where it would land in shell history.
func cmdKeysSet(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("keys set", stderr, getenv)
	envName := fs.String("env", "", "environment: test or live (required)")
	confirm := fs.Bool("confirm-account-change", false, "accept a key of another Stripe account than the configured one (clears what was mirrored from the old one)")
	if err := parse(fs, args); err != nil {
		return err
	}
	env, err := parseEnvFlag("keys set", *envName)
	if err != nil {
		return err
	}
	key := strings.TrimSpace(getenv("BILLWIRE_STRIPE_SECRET_KEY"))
	if key == "" {
		if key, err = readSecret(stdin, stderr, env); err != nil {
			return err
		}
	}
	if key == "" {
		return usageErr("keys set: no key given: pipe it on standard input or set BILLWIRE_STRIPE_SECRET_KEY")
	}
	a, err := c.open(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.svc.ConfigureKey(ctx, env, key, *confirm)
	if err != nil {
		if strings.Contains(err.Error(), "confirm_account_change") {
			return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "call again with confirm_account_change: true", "run again with --confirm-account-change"))
		}
		return err
	}
	fmt.Fprintf(stdout, "stored %s key %s (%s) for Stripe account %s", res.Env, res.Key, res.KeyKind, res.AccountID)
	if res.AccountName != "" {
		fmt.Fprintf(stdout, " (%s)", res.AccountName)
	}
	fmt.Fprintln(stdout)
	if res.AccountChanged {
		fmt.Fprintf(stdout, "account changed from %s: mirrored objects of the old account were cleared\n", res.PreviousAcct)
	}
	fmt.Fprintf(stdout, "next: billwire sync --env %s\n", env)
	return nil
}

func readSecret(stdin io.Reader, stderr io.Writer, env vocab.Env) (string, error) {
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprintf(stderr, "Paste the Stripe %s secret key (sk_%s_… or rk_%s_…) and press Enter; it is not shown: ", env, env, env)
		restore := hideInput(f)
		defer func() { restore(); fmt.Fprintln(stderr) }()
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read key from standard input: %w", err)
	}
	return strings.TrimSpace(line), nil
}

func cmdKeysShow(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("keys show", stderr, getenv)
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := c.open(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	sts, err := a.svc.Status(ctx, vocab.Envs)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tKEY\tKIND\tACCOUNT\tUPDATED")
	for _, s := range sts {
		if !s.Configured {
			fmt.Fprintf(tw, "%s\t(not set)\t\t\t\n", s.Env)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Env, s.Key, s.KeyKind, s.AccountID, s.ConfiguredAt.Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}
