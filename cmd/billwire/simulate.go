package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
)

// cmdSimulate tells a billing story as simulated Stripe events through the
// running receiver (test mode only), or clears the simulated objects.
func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, c := newFlags("simulate", stderr, getenv)
	subject := fs.String("subject", "", "who pays, as type:id (user:u_1 or team:t_1)")
	lookupKey := fs.String("lookup-key", "", "lookup key of the recurring test price the subscription bills")
	scenario := fs.String("scenario", "", "checkout_completed, renewal, payment_failed, canceled or deleted")
	clear := fs.Bool("clear", false, "remove every simulated object and event instead")
	receiver := fs.String("url", getenv(billing.PublicURLEnv), "base URL of the running billwire serve (default $"+billing.PublicURLEnv+", else "+billing.DefaultPublicURL+")")
	if err := parse(fs, args); err != nil {
		return err
	}
	r := billing.SimulateRequest{LookupKey: *lookupKey, Scenario: *scenario, Clear: *clear, ReceiverURL: *receiver}
	if !*clear {
		typ, id, ok := strings.Cut(*subject, ":")
		if !ok || typ == "" || id == "" {
			return usageErr("simulate: --subject type:id is required (user:u_1 or team:t_1), with --lookup-key and --scenario; or --clear")
		}
		r.Subject = auth.Subject{Type: typ, ID: id}
	}
	a, err := c.open(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.svc.SimulateEvents(ctx, r)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if res.Cleared != nil {
		fmt.Fprintf(stdout, "cleared %d subscriptions, %d customers, %d checkout sessions, %d payments, %d events (simulated, test)\n",
			res.Cleared.Subscriptions, res.Cleared.Customers, res.Cleared.CheckoutSessions, res.Cleared.Payments, res.Cleared.Events)
		return nil
	}
	for _, d := range res.Deliveries {
		line := fmt.Sprintf("%-34s %s  %d %s", d.Type, d.EventID, d.Code, d.Status)
		if d.Error != "" {
			line += "  " + d.Error
		}
		fmt.Fprintln(stdout, line)
	}
	for _, ch := range res.Changes {
		status := ""
		if ch.Status != nil {
			status = *ch.Status
		}
		fmt.Fprintf(stdout, "changed  %-24s %s %s\n", ch.Kind, ch.Key, status)
	}
	for _, x := range res.Access {
		fmt.Fprintf(stdout, "access   %s: %v -> %v\n", x.Function, x.Before, x.After)
	}
	fmt.Fprintln(stdout, "next:", res.NextStep)
	if !res.OK {
		return &exitError{code: 1, msg: "simulate: a delivery was not processed"}
	}
	return nil
}
