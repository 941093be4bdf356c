package main

import (
	"context"
	"errors"
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
		return usageErr("apikeys: use `billwire apikeys create --env test --name app-backend`, `billwire apikeys list` or `billwire apikeys revoke --env test --name app-backend`")
	}
	sub := args[0]
	fs, c := newFlags("apikeys "+sub, stderr, getenv)
	var envFlag, name *string
	var all *bool
	switch sub {
	case "create", "revoke":
		envFlag = fs.String("env", "", "environment the key is for: test or live")
		name = fs.String("name", "", "a name for the caller, e.g. app-backend")
	case "list":
		all = fs.Bool("all", false, "include revoked keys")
	default:
		return usageErr("apikeys: unknown subcommand %q: use create, list or revoke", sub)
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
	a, st, err := c.openStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	switch sub {
	case "create":
		key, hash, hint := auth.NewAPIKey()
		k, err := st.CreateAPIKey(ctx, env, *name, hash, hint)
		if errors.Is(err, store.ErrNameTaken) {
			return fmt.Errorf("an active %s key named %q exists; revoke it first (`billwire apikeys revoke --env %s --name %s`) or pick another name", env, *name, env, *name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created %s API key %q (id %d). It is shown once; store it in the app backend's secrets and send it as Authorization: Bearer …\n", env, k.Name, k.ID)
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
	fmt.Fprintln(tw, "ID\tENV\tNAME\tKEY\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Env, k.Name, k.Hint, k.CreatedAt.UTC().Format(time.RFC3339), when(k.LastUsedAt), when(k.RevokedAt))
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
