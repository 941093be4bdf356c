package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/billing"
)

func cmdWebhook(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "setup" {
		return usageErr("webhook: say setup, e.g. `billwire webhook setup --env test --url https://…/webhooks/stripe/test`")
	}
	fs, c := newFlags("webhook setup", stderr, getenv)
	envName := fs.String("env", "test", "environment: test or live")
	url := fs.String("url", "", "public URL of the receiver (default $"+billing.PublicURLEnv+" + /webhooks/stripe/{env})")
	fromStdin := fs.Bool("signing-secret-stdin", false, "read a whsec_… secret from `stripe listen` on stdin and store it, instead of managing an endpoint")
	revoke := fs.Bool("revoke-previous", false, "end the previous signing secret's 24 h grace at once (alone: only that; with --url or --signing-secret-stdin: after the setup)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	env, err := parseEnvFlag("webhook setup", *envName)
	if err != nil {
		return err
	}
	secret := ""
	if *fromStdin {
		line, err := readSecret(stdin, stderr, env)
		if err != nil {
			return err
		}
		if secret = strings.TrimSpace(line); secret == "" {
			return usageErr("webhook setup: --signing-secret-stdin given but standard input was empty")
		}
	}
	a, err := c.open(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	var res *billing.WebhookSetup
	if !*revoke || *url != "" || secret != "" {
		if res, err = a.svc.SetupWebhook(ctx, env, *url, secret, getenv(billing.PublicURLEnv)); err != nil {
			return err
		}
	}
	if *revoke {
		if res, err = a.svc.RevokePreviousWebhookSecret(ctx, env, res); err != nil {
			return err
		}
		if *res.PreviousRevoked {
			fmt.Fprintf(stdout, "%s: previous signing secret revoked: deliveries signed with it get 400 from now on\n", env)
		} else {
			fmt.Fprintf(stdout, "%s: no previous signing secret was accepted; nothing to revoke\n", env)
		}
	}
	ep := res.Endpoint
	fmt.Fprintf(stdout, "%s: %s webhook (%s)", env, res.Action, ep.Source)
	if ep.EndpointID != "" {
		fmt.Fprintf(stdout, " %s → %s, %d event types, %s", ep.EndpointID, ep.URL, len(ep.Events), ep.Status)
	}
	fmt.Fprintf(stdout, "; signing secret %s\nnext: %s\n", ep.SecretMasked, res.NextStep)
	return nil
}

func cmdReconcile(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("reconcile", stderr, getenv)
	envName := fs.String("env", "test", "environment: test or live")
	sinceFlag := fs.String("since", "", "window start: 72h, 3d, 2026-11-20 or an RFC 3339 time (default 3 days, at most 30)")
	if err := parse(fs, args); err != nil {
		return err
	}
	env, err := parseEnvFlag("reconcile", *envName)
	if err != nil {
		return err
	}
	since, err := billing.ParseSince(*sinceFlag, time.Now())
	if err != nil {
		return usageErr("reconcile: --since: %v", err)
	}
	a, err := c.open(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.svc.Reconcile(ctx, env, since)
	if res != nil {
		fmt.Fprintf(stdout, "%s: %d events listed since %s, %d already recorded, outcomes %v\n",
			env, res.Listed, res.Since.Format(time.RFC3339), res.Known, res.Outcomes)
		for _, f := range res.Failures {
			fmt.Fprintf(stdout, "  %s %s: %s\n", f.EventID, f.Type, f.Status)
		}
	}
	return err
}
