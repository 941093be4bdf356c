package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/vocab"
)

func cmdSync(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("sync", stderr, getenv)
	envName := fs.String("env", "test", "environment: test or live")
	objects := fs.String("objects", "", "comma-separated object types (products,prices,customers,subscriptions,invoices); all when empty")
	if err := parse(fs, args); err != nil {
		return err
	}
	env, err := parseEnvFlag("sync", *envName)
	if err != nil {
		return err
	}
	var kinds []vocab.Kind
	for _, o := range splitList(*objects) {
		k, err := vocab.ParseKind(o)
		if err != nil {
			return usageErr("sync: --objects: %v", err)
		}
		kinds = append(kinds, k)
	}
	a, err := c.open(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	tty := isTerminal(stderr)
	var last time.Time
	progress := func(p billing.Progress) {
		switch {
		case tty:
			fmt.Fprintf(stderr, "\r\033[Ksyncing %s: %d objects (%s %d)", env, p.Total, p.Kind, p.Count)
		case time.Since(last) >= time.Second:
			last = time.Now()
			fmt.Fprintf(stderr, "synced %d objects (%s %d)\n", p.Total, p.Kind, p.Count)
		}
	}
	res, err := a.svc.Sync(ctx, env, kinds, progress)
	if tty {
		fmt.Fprintln(stderr)
	}
	if res != nil {
		resumed := ""
		if res.ResumedFrom != nil {
			resumed = fmt.Sprintf(", resumed run %d", *res.ResumedFrom)
		}
		gone := ""
		if len(res.Removed) > 0 {
			gone = "; gone from Stripe, marked deleted: " + kindCounts(res.Removed)
		}
		fmt.Fprintf(stdout, "sync %d %s in %.1fs%s: %s%s\n", res.RunID, res.Status, res.Seconds, resumed, kindCounts(res.Counts), gone)
	}
	return err
}

// kindCounts lists counts per object kind in sync order: "products 1, prices 2".
func kindCounts(counts map[string]int64) string {
	var parts []string
	for _, k := range vocab.Kinds {
		if n, ok := counts[string(k)]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}
