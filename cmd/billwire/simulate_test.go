package main

import (
	"strings"
	"testing"

	"github.com/billwire/billwire/internal/stripetest"
)

func TestSimulateCommand(t *testing.T) {
	t.Parallel()
	e := env(t, stripetest.Mock(t))
	if code, _, errs := cli(t, e, "", "simulate", "--lookup-key", "pro_monthly", "--scenario", "renewal"); code != 2 || !strings.Contains(errs, "--subject type:id") {
		t.Fatalf("without a subject: %d %s", code, errs)
	}
	if code, _, errs := cli(t, e, "", "simulate", "--subject", "team:t_1", "--lookup-key", "pro_monthly", "--scenario", "refund"); code != 1 || !strings.Contains(errs, "unknown scenario") {
		t.Fatalf("a bad scenario: %d %s", code, errs)
	}
	if code, out, errs := cli(t, e, "", "simulate", "--clear"); code != 0 || !strings.Contains(out, "cleared 0 subscriptions") {
		t.Fatalf("clear: %d %s %s", code, out, errs)
	}
}
