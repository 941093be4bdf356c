package scaffold_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/scaffold"
)

// graceRig is a rig with subscription_access applied with graceDays, whose
// events are created an hour ago and later (so that a grace period counted
// from them has not ended by itself).
func graceRig(t *testing.T, graceDays int) *rig {
	t.Helper()
	r := newRig(t, false)
	r.apply(scaffold.Options{Pattern: scaffold.SubscriptionAccess, GraceDays: graceDays})
	r.at = time.Now().Unix() - 3600
	return r
}

// access is team t_1's access now and its subscription's status and
// past_due_since (nil when not past_due).
func (r *rig) access() (bool, string, any) {
	r.t.Helper()
	v := r.row(`SELECT public.team_has_access('t_1'), (SELECT status FROM public.team_billing_status WHERE team_id = 't_1'),
		(SELECT past_due_since FROM public.team_billing_status WHERE team_id = 't_1')`)
	status, _ := v[1].(string)
	return v[0].(bool), status, v[2]
}

// failRenewal sends a failed renewal: invoice.payment_failed, then the
// subscription's customer.subscription.updated to past_due, and returns
// the latter's created time.
func (r *rig) failRenewal() int64 {
	r.t.Helper()
	r.send(r.event("invoice.payment_failed", eventfixtures.Options{}))
	r.send(r.event("customer.subscription.updated", eventfixtures.Options{Object: subscription("past_due"),
		Previous: map[string]any{"status": "active"}}))
	return r.at
}

// moveGraceBack moves past_due_since back by days, as if that much time
// had passed since the renewal failed.
func (r *rig) moveGraceBack(days int) {
	r.t.Helper()
	r.exec(`UPDATE public.team_billing_status SET past_due_since = past_due_since - make_interval(days => $1)`, days)
}

func TestGraceHoldsAccessThroughAFailedRenewal(t *testing.T) {
	t.Parallel()
	r := graceRig(t, 7)
	r.send(r.event("customer.subscription.created", eventfixtures.Options{Object: subscription("active")}))
	failedAt := r.failRenewal()
	ok, status, since := r.access()
	if !ok || status != "past_due" {
		t.Fatalf("within grace: access %v, status %s; want access while past_due", ok, status)
	}
	if s, _ := since.(time.Time); !s.Equal(time.Unix(failedAt, 0)) {
		t.Fatalf("past_due_since = %v, want the event's created time %v", since, time.Unix(failedAt, 0).UTC())
	}
	r.moveGraceBack(6)
	if ok, _, _ := r.access(); !ok {
		t.Fatal("6 days into a 7-day grace: no access")
	}
	r.moveGraceBack(2)
	if ok, _, _ := r.access(); ok {
		t.Fatal("8 days into a 7-day grace: access")
	}
	// The card is fixed: access again, past_due_since cleared.
	r.send(r.event("customer.subscription.updated", eventfixtures.Options{Object: subscription("active")}))
	if ok, status, since := r.access(); !ok || status != "active" || since != nil {
		t.Fatalf("after recovery: access %v, status %s, past_due_since %v", ok, status, since)
	}
}

func TestGraceEndsAtOnceForUnpaidCanceledAndExpired(t *testing.T) {
	t.Parallel()
	for _, end := range []string{"unpaid", "canceled", "incomplete_expired", "paused", "incomplete"} {
		t.Run(end, func(t *testing.T) {
			t.Parallel()
			r := graceRig(t, 30)
			r.send(r.event("customer.subscription.created", eventfixtures.Options{Object: subscription("active")}))
			r.failRenewal()
			if ok, _, _ := r.access(); !ok {
				t.Fatal("within grace: no access")
			}
			r.send(r.event("customer.subscription.updated", eventfixtures.Options{Object: subscription(end)}))
			if ok, status, since := r.access(); ok || status != end || since != nil {
				t.Fatalf("after %s: access %v, status %s, past_due_since %v; want no access at once", end, ok, status, since)
			}
		})
	}
}

func TestGraceZeroLosesAccessAtOnce(t *testing.T) {
	t.Parallel()
	r := graceRig(t, 0)
	r.send(r.event("customer.subscription.created", eventfixtures.Options{Object: subscription("active")}))
	r.failRenewal()
	if ok, status, since := r.access(); ok || status != "past_due" || since == nil {
		t.Fatalf("grace_days 0: access %v, status %s, past_due_since %v", ok, status, since)
	}
}

// The attacker is the app's end user, whose card fails and who wants to
// keep access longer than the grace. The grace follows Stripe's clock and
// the first failure, whatever billwire receives and when.
func TestGraceCannotBeExtended(t *testing.T) {
	t.Parallel()
	t.Run("a_late_delivery_counts_from_stripes_time", func(t *testing.T) {
		t.Parallel()
		r := graceRig(t, 3)
		r.send(r.event("customer.subscription.created", eventfixtures.Options{Created: time.Now().Add(-10 * 24 * time.Hour).Unix(),
			Object: subscription("active")}))
		// Stripe created the past_due event 4 days ago; it arrives now.
		created := time.Now().Add(-4 * 24 * time.Hour).Unix()
		r.send(r.event("customer.subscription.updated", eventfixtures.Options{Created: created, Object: subscription("past_due")}))
		ok, _, since := r.access()
		if s, _ := since.(time.Time); ok || !s.Equal(time.Unix(created, 0)) {
			t.Fatalf("access %v, past_due_since %v; want none, since Stripe's %v", ok, since, time.Unix(created, 0).UTC())
		}
	})
	t.Run("a_second_past_due_event_keeps_the_first_time", func(t *testing.T) {
		t.Parallel()
		r := graceRig(t, 7)
		r.send(r.event("customer.subscription.created", eventfixtures.Options{Object: subscription("active")}))
		first := r.failRenewal()
		// Stripe retries and the subscription changes again while past_due.
		again := subscription("past_due")
		again["cancel_at_period_end"] = true
		r.send(r.event("customer.subscription.updated", eventfixtures.Options{Object: again}))
		if _, _, since := r.access(); !since.(time.Time).Equal(time.Unix(first, 0)) {
			t.Fatalf("past_due_since %v, want the first failure's %v", since, time.Unix(first, 0).UTC())
		}
		r.moveGraceBack(8)
		if ok, _, _ := r.access(); ok {
			t.Fatal("a second past_due event restarted the grace")
		}
	})
	t.Run("an_old_past_due_event_after_the_recovery", func(t *testing.T) {
		t.Parallel()
		r := graceRig(t, 7)
		r.send(r.event("customer.subscription.created", eventfixtures.Options{Object: subscription("active")}))
		r.failRenewal()
		pastDue := r.event("customer.subscription.updated", eventfixtures.Options{Object: subscription("past_due")})
		olderAt := r.at
		r.send(r.event("customer.subscription.updated", eventfixtures.Options{Object: subscription("active")}))
		// The same event replayed, and another of Stripe's older events
		// arriving after the recovery.
		r.send(pastDue)
		r.send(pastDue)
		r.send(r.event("customer.subscription.updated", eventfixtures.Options{Created: olderAt, Object: subscription("past_due")}))
		if ok, status, since := r.access(); !ok || status != "active" || since != nil {
			t.Fatalf("after old events: access %v, status %s, past_due_since %v; want active without past_due_since", ok, status, since)
		}
		// The next real failure starts a new grace from its own time.
		next := r.failRenewal()
		if _, _, since := r.access(); !since.(time.Time).Equal(time.Unix(next, 0)) {
			t.Fatalf("past_due_since %v, want the new failure's %v", since, time.Unix(next, 0).UTC())
		}
	})
}

func TestGraceDaysValidated(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		o    scaffold.Options
		want string
	}{
		{scaffold.Options{Pattern: scaffold.SubscriptionAccess, GraceDays: -1}, "grace_days -1 is out of range"},
		{scaffold.Options{Pattern: scaffold.SubscriptionAccess, GraceDays: 91}, "from 0 (access ends when a payment fails) to 90"},
		{scaffold.Options{Pattern: scaffold.OneTimeOrders, GraceDays: 3}, "grace_days applies to pattern subscription_access only"},
	} {
		if _, err := scaffold.Generate(c.o); !errors.Is(err, scaffold.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	if _, err := scaffold.Generate(scaffold.Options{Pattern: scaffold.SubscriptionAccess, GraceDays: 90}); err != nil {
		t.Fatal(err)
	}
}

// Revision 1 of subscription_access (no grace) is not reported outdated,
// and scaffolding again upgrades it in place, its past_due_since filled
// from the outbox; another grace_days later replaces it in place too.
func TestGraceUpgradesRevision1AndChangesInPlace(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	ctx := context.Background()
	r.at = time.Now().Unix() - 3600
	applyOld(t, r.st, "v2r1", "subscription_access")
	if out, err := scaffold.FindOutdated(ctx, r.st); err != nil || len(out) != 0 {
		t.Fatalf("revision 1 reported: %+v %v", out, err)
	}
	r.send(r.event("customer.subscription.created", eventfixtures.Options{Object: subscription("active")}))
	failedAt := r.failRenewal()
	if v := r.one(`SELECT public.team_has_access('t_1')`); v != false {
		t.Fatal("revision 1 granted access while past_due")
	}
	m, err := scaffold.Generate(scaffold.Options{Pattern: scaffold.SubscriptionAccess, GraceDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	a, err := scaffold.Apply(ctx, r.st, m)
	if err != nil || !strings.Contains(a.UpgradedFrom, "revision 1") {
		t.Fatalf("upgrade: %+v %v", a, err)
	}
	if ok, _, since := r.access(); !ok || !since.(time.Time).Equal(time.Unix(failedAt, 0)) {
		t.Fatalf("after the upgrade: access %v, past_due_since %v", ok, since)
	}
	m3, _ := scaffold.Generate(scaffold.Options{Pattern: scaffold.SubscriptionAccess, GraceDays: 3})
	a, err = scaffold.Apply(ctx, r.st, m3)
	if err != nil || !strings.Contains(a.UpgradedFrom, "grace_days 7") {
		t.Fatalf("grace 7 to 3: %+v %v", a, err)
	}
	r.moveGraceBack(5)
	if ok, _, _ := r.access(); ok {
		t.Fatal("5 days past due with grace_days 3: access")
	}
	if _, err := scaffold.Apply(ctx, r.st, m); err != nil {
		t.Fatalf("grace 3 back to 7: %v", err)
	}
	if v := r.one(`SELECT count(*) FROM payments.app_migrations WHERE name LIKE 'billwire_subscription_access%'`); v != int64(4) {
		t.Fatalf("%v records, want revision 1's, grace 7's, grace 3's and the current one", v)
	}
}
