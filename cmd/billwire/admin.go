package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/secrets"
)

func cmdAdmin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "set-password" {
		if len(args) > 0 && args[0] != "-h" && args[0] != "--help" {
			return usageErr("admin: unknown subcommand %q: use `billwire admin set-password`", args[0])
		}
		return usageErr("admin: say set-password, e.g. `billwire admin set-password` (the password is read from standard input)")
	}
	return cmdAdminSetPassword(ctx, args[1:], stdin, stdout, stderr, getenv)
}

// cmdAdminSetPassword sets the dashboard's password, read from stdin (never
// from the command line, where it would land in shell history), stores its
// argon2id hash and signs every dashboard session out.
func cmdAdminSetPassword(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("admin set-password", stderr, getenv)
	if err := parse(fs, args); err != nil {
		return err
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if pw == "" {
		return usageErr("admin set-password: no password given: type it when asked, or pipe it on standard input")
	}
	if err := secrets.CheckPassword(pw); err != nil {
		return usageErr("admin set-password: %v", err)
	}
	a, st, err := c.openStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	hash, err := secrets.HashPassword(pw, secrets.DefaultArgon2)
	if err != nil {
		return err
	}
	ended, err := st.SetAdminPassword(ctx, hash)
	if err != nil {
		return err
	}
	a.log.Info().Int64("sessions_ended", ended).Msg("dashboard password set")
	fmt.Fprintf(stdout, "dashboard password set (stored as an argon2id hash)")
	if ended > 0 {
		fmt.Fprintf(stdout, "; %d signed-in session(s) signed out", ended)
	}
	fmt.Fprintf(stdout, "\nopen http://%s/dashboard/ while `billwire serve` runs\n", runtime.DefaultAddr)
	return nil
}

// readPassword reads one line; on a terminal it asks twice without echo.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	f, tty := stdin.(*os.File)
	tty = tty && isTerminal(f)
	in := bufio.NewReader(stdin)
	read := func(prompt string) (string, error) {
		if tty {
			fmt.Fprint(stderr, prompt)
			restore := hideInput(f)
			defer func() { restore(); fmt.Fprintln(stderr) }()
		}
		line, err := in.ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read password from standard input: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	pw, err := read(fmt.Sprintf("New dashboard password (at least %d characters; not shown): ", secrets.MinPasswordLen))
	if err != nil || !tty {
		return pw, err
	}
	again, err := read("Type it again: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", usageErr("admin set-password: the two passwords differ; nothing was changed")
	}
	return pw, nil
}
