package main

import (
	"context"
	"fmt"
	"io"

	"github.com/billwire/billwire/internal/billing"
)

// cmdDoctor checks an environment end to end and prints one line per item.
func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("doctor", stderr, getenv)
	envFlag := fs.String("env", "test", "environment to check: test or live")
	receiver := fs.String("url", getenv(billing.PublicURLEnv), "base URL of the running billwire serve (default $"+billing.PublicURLEnv+", else "+billing.DefaultPublicURL+")")
	if err := parse(fs, args); err != nil {
		return err
	}
	env, err := parseEnvFlag("doctor", *envFlag)
	if err != nil {
		return err
	}
	a, err := c.open(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := a.svc.CheckIntegration(ctx, env, billing.DoctorOptions{ReceiverURL: *receiver, CreatePortal: true})
	if err != nil {
		return err
	}
	failed := 0
	for _, ck := range r.Checks {
		mark := "PASS"
		if !ck.OK {
			mark, failed = "FAIL", failed+1
		}
		fmt.Fprintf(stdout, "%s  %-21s %s\n", mark, ck.Name, ck.Detail)
		if !ck.OK && ck.Fix != "" {
			fmt.Fprintf(stdout, "      %-21s fix: %s\n", "", ck.Fix)
		}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d checks failed for %s", failed, len(r.Checks), env)}
	}
	fmt.Fprintf(stdout, "all %d checks pass for %s\n", len(r.Checks), env)
	return nil
}
