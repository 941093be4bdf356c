package billing_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// liveRig is an app wired to a Stripe that sends its events: the fake
// delivers them to the managed endpoint, which is billwire's receiver.
type liveRig struct {
	svc  *billing.Service
	st   *store.Store
	fake *stripetest.Fake
}

func newLiveRig(t *testing.T) *liveRig {
	t.Helper()
	st := storetest.New(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{DeliverEvents: true})
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000}, zerolog.Nop())
	url := serveReceiver(t, st, svc)
	ctx := context.Background()
	if _, err := svc.ConfigureKey(ctx, vocab.Test, "sk_test_51TestSubscriptionsKey000000000004242", false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetupWebhook(ctx, vocab.Test, url+"/webhooks/stripe/test", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePlan(ctx, vocab.Test, billing.PlanInput{Name: "Team", UnitAmount: 3000, Currency: "usd", Interval: "month", LookupKey: "team_monthly"}); err != nil {
		t.Fatal(err)
	}
	scaffoldTeamAccess(t, st)
	return &liveRig{svc: svc, st: st, fake: fake}
}

// waitAccess polls the app's access function until it says want.
func (r *liveRig) waitAccess(t *testing.T, team string, want bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := r.st.HasAccess(context.Background(), "public", "team_has_access", team)
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("team %s: access stayed %v; deliveries %+v", team, got, r.fake.Deliveries())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A real test subscription without a browser: Stripe's events reach the
// receiver, access follows; canceling it takes access away.
func TestTestSubscriptionGrantsAndCancelRevokes(t *testing.T) {
	t.Parallel()
	r := newLiveRig(t)
	ctx := context.Background()
	team := auth.Subject{Type: "team", ID: "t_7"}
	res, err := r.svc.CreateTestSubscription(ctx, billing.TestSubscriptionRequest{Subject: team, LookupKey: "team_monthly"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "active" || res.LatestInvoice == nil || res.LatestInvoice.Status != "paid" || res.PaymentMethod != "pm_card_visa" {
		t.Fatalf("created %+v", res)
	}
	if !slices.Contains(res.ExpectEvents, "invoice.paid") || len(res.VerifyWith) == 0 {
		t.Fatalf("answer says nothing of what follows: %+v", res)
	}
	r.waitAccess(t, "t_7", true)
	// The same call again is the same subscription, not a second one.
	if _, err := r.svc.CreateTestSubscription(ctx, billing.TestSubscriptionRequest{Subject: team, LookupKey: "team_monthly"}); err == nil || !fault.Is(err, fault.Invalid) && !fault.Is(err, fault.Conflict) {
		t.Fatalf("a second subscription to the same plan: %v", err)
	}
	if _, err := r.svc.CancelTestSubscription(ctx, res.SubscriptionID, false, ""); err != nil {
		t.Fatal(err)
	}
	r.waitAccess(t, "t_7", false)
	// The fake records a delivery once the receiver has answered it, a
	// moment after the receiver's commit changed access.
	deadline := time.Now().Add(10 * time.Second)
	for len(r.fake.Deliveries()) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var types []string
	for _, d := range r.fake.Deliveries() {
		if d.Status != http.StatusOK {
			t.Errorf("%s %s answered %d", d.Type, d.EventID, d.Status)
		}
		types = append(types, d.Type)
	}
	want := []string{"customer.created", "customer.subscription.created", "invoice.paid", "payment_intent.succeeded", "customer.subscription.deleted"}
	if !slices.Equal(types, want) {
		t.Fatalf("Stripe sent %v, want %v", types, want)
	}
}

// A declined card and one that needs 3-D Secure leave the subscription
// incomplete: no access, and the answer shows why.
func TestTestSubscriptionScenarios(t *testing.T) {
	t.Parallel()
	r := newLiveRig(t)
	ctx := context.Background()
	for i, c := range []struct{ scenario, intent string }{
		{"payment_fails", "requires_payment_method"},
		{"requires_action", "requires_action"},
	} {
		team := auth.Subject{Type: "team", ID: "t_s" + string(rune('0'+i))}
		res, err := r.svc.CreateTestSubscription(ctx, billing.TestSubscriptionRequest{Subject: team, LookupKey: "team_monthly", Scenario: c.scenario})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != "incomplete" || res.LatestInvoice == nil || res.LatestInvoice.PaymentIntent != c.intent {
			t.Fatalf("%s: %+v %+v", c.scenario, res, res.LatestInvoice)
		}
		// Wait for the events, then check access stayed off.
		deadline := time.Now().Add(15 * time.Second)
		for len(r.fake.Deliveries()) < 2*(i+1)+1 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		r.waitAccess(t, team.ID, false)
	}
	if _, err := r.svc.CreateTestSubscription(ctx, billing.TestSubscriptionRequest{Subject: auth.Subject{Type: "team", ID: "t_x"}, LookupKey: "team_monthly", Scenario: "free"}); err == nil {
		t.Fatal("an unknown scenario was accepted")
	}
	if _, err := r.svc.CancelTestSubscription(ctx, "sub_sim_abc", false, ""); err == nil || !fault.Is(err, fault.Invalid) && !fault.Is(err, fault.Conflict) {
		t.Fatalf("cancel of a simulated subscription: %v", err)
	}
}
