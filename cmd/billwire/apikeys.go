package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// cmdAPIKeys manages the server-to-server keys of the session API.
func cmdAPIKeys(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usageErr("apikeys: use `billwire apikeys create --env test --name app-backend [--scope session|mcp|mcp:live]`, `billwire apikeys list`, `billwire apikeys revoke --env test --name app-backend` or `billwire apikeys audit [--env test] [--name agent]`")
	}
	sub := args[0]
	fs, c := newFlags("apikeys "+sub, stderr, getenv)
	var envFlag, name, scopeFlag *string
	var all *bool
	switch sub {
	case "create", "revoke":
		envFlag = fs.String("env", "", "environment the key is for: test or live")
		name = fs.String("name", "", "a name for the caller, e.g. app-backend")
		if sub == "create" {
			scopeFlag = fs.String("scope", string(vocab.ScopeSession), "what the key opens: session (the session API), mcp (MCP over HTTP at /mcp) or mcp:live (MCP with live writes; live keys only)")
		}
	case "list":
		all = fs.Bool("all", false, "include revoked keys")
	case "audit":
		return cmdAPIKeysAudit(ctx, fs, c, args[1:], stdout, stderr, getenv)
	default:
		return usageErr("apikeys: unknown subcommand %q: use create, list, revoke or audit", sub)
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	var env vocab.Env
	if envFlag != nil {
		var err error
		if env, err = parseEnvFlag("apikeys "+sub, *envFlag); err != nil {
			return err
		}
		if !apiKeyNameRE.MatchString(*name) {
			return usageErr("apikeys %s: --name is required: 1 to 64 letters, digits, '.', '_' or '-'", sub)
		}
	}
	scope := vocab.ScopeSession
	if scopeFlag != nil {
		var err error
		if scope, err = vocab.ParseScope(*scopeFlag, env); err != nil {
			return usageErr("apikeys create --scope: %v", err)
		}
	}
	a, st, err := c.openStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	switch sub {
	case "create":
		key, hash, hint := auth.NewAPIKey()
		k, err := st.CreateScopedAPIKey(ctx, env, *name, scope, hash, hint)
		if errors.Is(err, store.ErrNameTaken) {
			return fmt.Errorf("an active %s key named %q exists; revoke it first (`billwire apikeys revoke --env %s --name %s`) or pick another name", env, *name, env, *name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created %s API key %q (id %d, scope %s). It is shown once; %s\n", env, k.Name, k.ID, k.Scope, keyUse(k))
		fmt.Fprintln(stdout, key)
		return nil
	case "revoke":
		err := st.RevokeAPIKey(ctx, env, *name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no active %s API key named %q (`billwire apikeys list` shows them)", env, *name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s API key %q\n", env, *name)
		return nil
	}
	keys, err := st.ListAPIKeys(ctx, *all)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENV\tNAME\tSCOPE\tKEY\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Env, k.Name, k.Scope, k.Hint, k.CreatedAt.UTC().Format(time.RFC3339), when(k.LastUsedAt), when(k.RevokedAt))
	}
	return tw.Flush()
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

var apiKeyNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// keyUse says where a new key goes.
func keyUse(k *store.APIKey) string {
	if k.Scope.MCP() {
		return "give it to the MCP client as the header Authorization: Bearer … for billwire serve's /mcp (README, MCP over HTTP)"
	}
	return "store it in the app backend's secrets and send it as Authorization: Bearer …"
}

// cmdAPIKeysAudit lists the calls made over MCP HTTP, newest first.
func cmdAPIKeysAudit(ctx context.Context, fs *flag.FlagSet, c *common, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	envFlag := fs.String("env", "", "only this environment: test or live (default both)")
	name := fs.String("name", "", "only the calls of the key of this name")
	limit := fs.Int("limit", 100, "at most this many rows, newest first (1 to 1000)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var env vocab.Env
	if *envFlag != "" {
		var err error
		if env, err = parseEnvFlag("apikeys audit", *envFlag); err != nil {
			return err
		}
	}
	if *limit < 1 || *limit > 1000 {
		return usageErr("apikeys audit: --limit must be 1 to 1000")
	}
	a, st, err := c.openStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	rows, err := st.ListAudit(ctx, store.AuditFilter{Env: env, KeyName: *name, Limit: *limit})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tENV\tKEY\tKIND\tNAME\tRESULT\tMS")
	for _, e := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s (id %d)\t%s\t%s\t%s\t%d\n", e.At.UTC().Format(time.RFC3339), e.Env, e.KeyName, e.KeyID, e.Kind, e.Name, e.Result, e.DurationMS)
	}
	return tw.Flush()
}
