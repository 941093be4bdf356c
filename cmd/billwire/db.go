package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/embedded"
)

// libpqVars are the variables that name a database for libpq; any of them
// set means the user chose libpq's defaults, not the embedded cluster.
var libpqVars = []string{"PGHOST", "PGDATABASE", "PGSERVICE"}

// errServeNeedsDatabase is billwire serve's refusal to pick a database by itself.
var errServeNeedsDatabase = errors.New("serve: no database set: set DATABASE_URL (or --database-url) to your app's database, " +
	"or pass --embedded-db to use billwire's private cluster")

// resolveDatabase chooses the database and says on stderr which one: the
// --database-url / DATABASE_URL setting; libpq's defaults when a libpq
// variable is set, or when they reach a database that already has schema
// payments; else the embedded cluster, started if needed (billwire serve
// only with --embedded-db).
func (c *common) resolveDatabase(ctx context.Context, getenv func(string) string, stderr io.Writer) (string, error) {
	if c.databaseURL != "" {
		c.say(stderr, store.RedactDSN(c.databaseURL))
		return c.databaseURL, nil
	}
	for _, v := range libpqVars {
		if getenv(v) != "" {
			c.say(stderr, fmt.Sprintf("libpq defaults (%s set): %s", v, store.Describe("")))
			return "", nil
		}
	}
	if !c.embeddedDB && store.HasSchema(ctx, "") {
		c.say(stderr, fmt.Sprintf("libpq defaults: %s (it has schema payments)", store.Describe("")))
		return "", nil
	}
	if c.server && !c.embeddedDB {
		return "", usageErr("%v", errServeNeedsDatabase)
	}
	cl, err := embedded.Locate(getenv)
	if err != nil {
		return "", err
	}
	if err := cl.Ensure(ctx); err != nil {
		return "", err
	}
	c.say(stderr, fmt.Sprintf("embedded cluster at %s (set DATABASE_URL to use your app's database)", cl.Root))
	return cl.DSN(), nil
}

// say writes the line naming the database, once per process (an open that
// failed after it is retried on the next use).
func (c *common) say(stderr io.Writer, database string) {
	if !c.saidDatabase {
		c.saidDatabase = true
		fmt.Fprintln(stderr, "billwire: database:", database)
	}
}

// cmdDB manages the embedded cluster: db status | start | stop | url.
func cmdDB(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const want = "db: want status, start, stop or url"
	if len(args) == 0 {
		return usageErr(want)
	}
	fs, _ := newFlags("db "+args[0], stderr, getenv)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cl, err := embedded.Locate(getenv)
	if err != nil {
		return err
	}
	switch args[0] {
	case "status":
		fmt.Fprintf(stdout, "embedded cluster at %s: %s\n", cl.Root, cl.Status(ctx))
	case "start":
		if err := cl.Ensure(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "embedded cluster at %s: running (socket in %s)\n", cl.Root, cl.SocketDir())
	case "stop":
		stopped, err := cl.Stop(ctx)
		if err != nil {
			return err
		}
		if stopped {
			fmt.Fprintf(stdout, "embedded cluster at %s: stopped\n", cl.Root)
		} else {
			fmt.Fprintf(stdout, "embedded cluster at %s: was not running\n", cl.Root)
		}
	case "url":
		fmt.Fprintln(stdout, cl.DSN())
		if st := cl.Status(ctx); st != embedded.Running {
			fmt.Fprintf(stderr, "billwire: the embedded cluster is %s: billwire db start (or any billwire command that needs it) starts it\n", st)
		}
	default:
		return usageErr("%s, not %q", want, args[0])
	}
	return nil
}
