package billing_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/scaffold"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

const simPrice = `{"id":"price_SimTeam","object":"price","active":true,"billing_scheme":"per_unit","created":1719792001,
"currency":"usd","livemode":false,"lookup_key":"team_monthly","metadata":{},"nickname":"Team","product":"prod_SimTeam",
"recurring":{"interval":"month","interval_count":1,"usage_type":"licensed"},"type":"recurring","unit_amount":3000,"unit_amount_decimal":"3000"}`

// simRig is a service, a receiver on its own database and a team access
// scaffold, as an app wired with billwire has.
func simRig(t *testing.T) (*billing.Service, *store.Store, string) {
	t.Helper()
	st := storetest.New(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000}, zerolog.Nop())
	ctx := context.Background()
	if _, err := svc.ConfigureKey(ctx, vocab.Test, "sk_test_51SimulateBillingKey000000000004242", false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetupWebhook(ctx, vocab.Test, "", "whsec_billwireSimulateBilling000001", ""); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1719792001, 0)
	prod := `{"id":"prod_SimTeam","object":"product","active":true,"created":1719792000,"livemode":false,"metadata":{},"name":"Team"}`
	if _, err := st.Upsert(ctx, vocab.Test, vocab.Products, []json.RawMessage{json.RawMessage(prod)}, at); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Upsert(ctx, vocab.Test, vocab.Prices, []json.RawMessage{json.RawMessage(simPrice)}, at); err != nil {
		t.Fatal(err)
	}
	scaffoldTeamAccess(t, st)
	url := serveReceiver(t, st, svc)
	return svc, st, url
}

// serveReceiver serves billwire's webhook receiver over st and returns its base URL.
func serveReceiver(t *testing.T, st *store.Store, svc *billing.Service) string {
	t.Helper()
	proc := webhooks.NewProcessor(st, svc, zerolog.Nop(), webhooks.Options{MaxAttempts: 3})
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/stripe/{env}", webhooks.NewReceiver(proc, st, zerolog.Nop()))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); proc.Close() })
	return srv.URL
}

// scaffoldTeamAccess applies the team subscription-access scaffold, as the
// app would: team_billing_status and team_has_access().
func scaffoldTeamAccess(t *testing.T, st *store.Store) {
	t.Helper()
	m, err := scaffold.Generate(scaffold.Options{Pattern: scaffold.SubscriptionAccess, SubjectType: "team"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scaffold.Apply(context.Background(), st, m); err != nil {
		t.Fatal(err)
	}
}

// An agent proves that access follows payment offline: the story's events
// reach the app's access function through the real receiver, and the
// answer says so; clearing removes the simulated objects.
func TestSimulateEventsDrivesAccess(t *testing.T) {
	t.Parallel()
	svc, st, url := simRig(t)
	ctx := context.Background()
	team := auth.Subject{Type: "team", ID: "t_42"}
	tell := func(sc string) *billing.SimulateResult {
		t.Helper()
		res, err := svc.SimulateEvents(ctx, billing.SimulateRequest{Subject: team, LookupKey: "team_monthly", Scenario: sc, ReceiverURL: url})
		if err != nil {
			t.Fatalf("%s: %v", sc, err)
		}
		if !res.OK {
			t.Fatalf("%s: not ok: %+v", sc, res.Deliveries)
		}
		return res
	}
	access := func(res *billing.SimulateResult) (bool, bool) {
		t.Helper()
		for _, a := range res.Access {
			if a.Function == "public.team_has_access" {
				return a.Before, a.After
			}
		}
		t.Fatalf("no access function in %+v", res.Access)
		return false, false
	}
	res := tell("checkout_completed")
	if b, a := access(res); b || !a {
		t.Fatalf("checkout: access %v → %v, want false → true", b, a)
	}
	if len(res.Changes) == 0 || res.SubscriptionID == "" || !strings.Contains(res.SubscriptionID, "_sim_") {
		t.Fatalf("checkout: changes %+v, subscription %q", res.Changes, res.SubscriptionID)
	}
	// A second checkout for the same plan is refused while the first bills.
	if _, err := svc.SimulateEvents(ctx, billing.SimulateRequest{Subject: team, LookupKey: "team_monthly", Scenario: "checkout_completed", ReceiverURL: url}); err == nil || !fault.Is(err, fault.Invalid) && !fault.Is(err, fault.Conflict) {
		t.Fatalf("second checkout: %v", err)
	}
	for _, step := range []struct {
		scenario      string
		before, after bool
	}{
		{"payment_failed", true, false}, // past_due: the scaffold grants active and trialing only
		{"renewal", false, true},
		{"canceled", true, true}, // at period end: access until then
	} {
		if b, a := access(tell(step.scenario)); b != step.before || a != step.after {
			t.Fatalf("%s: access %v → %v, want %v → %v", step.scenario, b, a, step.before, step.after)
		}
	}
	if b, a := access(tell("deleted")); !b || a {
		t.Fatalf("deleted: access %v → %v, want true → false", b, a)
	}
	res, err := svc.SimulateEvents(ctx, billing.SimulateRequest{Clear: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Cleared == nil || res.Cleared.Subscriptions != 1 || res.Cleared.Events == 0 || res.Cleared.Customers != 1 {
		t.Fatalf("cleared %+v", res.Cleared)
	}
	if _, _, _, err := st.SimulatedSubscription(ctx, vocab.Test, "team", "t_42", "price_SimTeam"); err != store.ErrNotFound {
		t.Fatalf("after clear: %v", err)
	}
}

// Bad calls say how to fix them, and nothing is sent.
func TestSimulateEventsRefusesBadCalls(t *testing.T) {
	t.Parallel()
	svc, _, url := simRig(t)
	ctx := context.Background()
	for name, r := range map[string]billing.SimulateRequest{
		"organization":  {Subject: auth.Subject{Type: "organization", ID: "o_1"}, LookupKey: "team_monthly", Scenario: "checkout_completed"},
		"no lookup key": {Subject: auth.Subject{Type: "team", ID: "t_1"}, Scenario: "checkout_completed"},
		"unknown price": {Subject: auth.Subject{Type: "team", ID: "t_1"}, LookupKey: "nope", Scenario: "checkout_completed"},
		"scenario":      {Subject: auth.Subject{Type: "team", ID: "t_1"}, LookupKey: "team_monthly", Scenario: "refund"},
		"renew nothing": {Subject: auth.Subject{Type: "team", ID: "t_1"}, LookupKey: "team_monthly", Scenario: "renewal"},
	} {
		r.ReceiverURL = url
		if _, err := svc.SimulateEvents(ctx, r); err == nil || !fault.Is(err, fault.Invalid) && !fault.Is(err, fault.Conflict) {
			t.Errorf("%s: %v, want an input error", name, err)
		}
	}
}
