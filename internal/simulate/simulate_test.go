package simulate_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/simulate"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

const (
	testKey = "sk_test_51SimulateTestKey00000000000004242"
	secret  = "whsec_billwireSimulateSigningSecret01"
)

const priceJSON = `{"id":"price_SimPro","object":"price","active":true,"billing_scheme":"per_unit","created":1719792001,
"currency":"eur","custom_unit_amount":null,"livemode":false,"lookup_key":"team_pro_monthly","metadata":{},"nickname":"Team Pro",
"product":"prod_SimPro","recurring":{"aggregate_usage":null,"interval":"month","interval_count":1,"meter":null,"trial_period_days":null,"usage_type":"licensed"},
"tax_behavior":"exclusive","tiers_mode":null,"transform_quantity":null,"type":"recurring","unit_amount":4900,"unit_amount_decimal":"4900"}`

const productJSON = `{"id":"prod_SimPro","object":"product","active":true,"created":1719792000,"livemode":false,"metadata":{},"name":"Team Pro"}`

type rig struct {
	st  *store.Store
	url string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	st := storetest.New(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	log := zerolog.Nop()
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000}, log)
	ctx := context.Background()
	if _, err := svc.ConfigureKey(ctx, vocab.Test, testKey, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetupWebhook(ctx, vocab.Test, "", secret, ""); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1719792001, 0)
	if _, err := st.Upsert(ctx, vocab.Test, vocab.Products, []json.RawMessage{json.RawMessage(productJSON)}, at); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Upsert(ctx, vocab.Test, vocab.Prices, []json.RawMessage{json.RawMessage(priceJSON)}, at); err != nil {
		t.Fatal(err)
	}
	proc := webhooks.NewProcessor(st, svc, log, webhooks.Options{MaxAttempts: 3})
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/stripe/{env}", webhooks.NewReceiver(proc, st, log))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); proc.Close() })
	return &rig{st: st, url: srv.URL + "/webhooks/stripe/test"}
}

// tell builds and delivers one story for team t_sim and returns the
// subscription as billwire mirrors it afterwards.
func (r *rig) tell(t *testing.T, sc simulate.Scenario) map[string]any {
	t.Helper()
	ctx := context.Background()
	s := simulate.Story{Scenario: sc, SubjectType: "team", SubjectID: "t_sim", Price: json.RawMessage(priceJSON)}
	if sc != simulate.CheckoutCompleted {
		obj, at, _, err := r.st.SimulatedSubscription(ctx, vocab.Test, "team", "t_sim", "price_SimPro")
		if err != nil {
			t.Fatalf("%s: the subscription is not mirrored: %v", sc, err)
		}
		s.Subscription, s.After = obj, at
	}
	events, err := simulate.Build(s)
	if err != nil {
		t.Fatalf("%s: %v", sc, err)
	}
	seen := map[int64]bool{}
	for _, e := range events {
		if seen[e.Created.Unix()] {
			t.Fatalf("%s: two events in second %d: billwire would re-fetch from Stripe", sc, e.Created.Unix())
		}
		seen[e.Created.Unix()] = true
	}
	ds, err := simulate.Deliver(ctx, nil, r.url, secret, events)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(events) {
		t.Fatalf("%s: %d of %d events delivered: %+v", sc, len(ds), len(events), ds)
	}
	for _, d := range ds {
		if d.Code != http.StatusOK || d.Status != "processed" || d.ResolvedBy != "" {
			t.Fatalf("%s: %s answered %d %q (resolved by %q): %s", sc, d.Type, d.Code, d.Status, d.ResolvedBy, d.Error)
		}
	}
	obj, _, simulated, err := r.st.SimulatedSubscription(ctx, vocab.Test, "team", "t_sim", "price_SimPro")
	if err != nil || !simulated {
		t.Fatalf("%s: subscription not mirrored as simulated (%v)", sc, err)
	}
	var sub map[string]any
	if err := json.Unmarshal(obj, &sub); err != nil {
		t.Fatal(err)
	}
	return sub
}

// A whole subscription's life told as events, through the real receiver:
// every delivery is processed (none needs Stripe), and the mirror follows.
func TestStoriesProjectThroughTheReceiver(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	sub := r.tell(t, simulate.CheckoutCompleted)
	if sub["status"] != "active" || sub["currency"] != "eur" {
		t.Fatalf("after checkout: %v %v", sub["status"], sub["currency"])
	}
	md := sub["metadata"].(map[string]any)
	if md[vocab.MetaSubjectType] != "team" || md[vocab.MetaSubjectID] != "t_sim" || md[vocab.MetaSimulated] != "true" {
		t.Fatalf("metadata %v", md)
	}
	end := sub["current_period_end"].(float64)
	sub = r.tell(t, simulate.Renewal)
	if sub["status"] != "active" || sub["current_period_start"].(float64) != end {
		t.Fatalf("after renewal: %v, period starts %v, want %v", sub["status"], sub["current_period_start"], end)
	}
	if sub = r.tell(t, simulate.PaymentFailed); sub["status"] != "past_due" {
		t.Fatalf("after a failed payment: %v", sub["status"])
	}
	if sub = r.tell(t, simulate.Canceled); sub["status"] != "past_due" || sub["cancel_at_period_end"] != true {
		t.Fatalf("after cancel: %v cancel_at_period_end=%v", sub["status"], sub["cancel_at_period_end"])
	}
	if sub = r.tell(t, simulate.Deleted); sub["status"] != "canceled" || sub["ended_at"] == nil {
		t.Fatalf("after deletion: %v ended_at=%v", sub["status"], sub["ended_at"])
	}
	// An ended subscription tells no more stories.
	obj, at, _, _ := r.st.SimulatedSubscription(context.Background(), vocab.Test, "team", "t_sim", "price_SimPro")
	if _, err := simulate.Build(simulate.Story{Scenario: simulate.Renewal, SubjectType: "team", SubjectID: "t_sim", Subscription: obj, After: at}); err == nil {
		t.Fatal("a renewal of an ended subscription was built")
	}
}

// A story never continues a subscription that lives in Stripe: its events
// would make billwire's mirror disagree with Stripe.
func TestStoriesRefuseRealSubscriptions(t *testing.T) {
	t.Parallel()
	real := `{"id":"sub_Real1","object":"subscription","status":"active","customer":"cus_Real1","metadata":{"billwire_subject_type":"team","billwire_subject_id":"t_1"},
		"items":{"object":"list","data":[{"id":"si_1","price":` + priceJSON + `}]}}`
	for _, sc := range []simulate.Scenario{simulate.Renewal, simulate.PaymentFailed, simulate.Canceled, simulate.Deleted} {
		_, err := simulate.Build(simulate.Story{Scenario: sc, SubjectType: "team", SubjectID: "t_1", Subscription: json.RawMessage(real)})
		if !errors.Is(err, simulate.ErrNotSimulated) {
			t.Fatalf("%s of a real subscription: %v", sc, err)
		}
	}
	if _, err := simulate.Build(simulate.Story{Scenario: simulate.Renewal, SubjectType: "team", SubjectID: "t_1"}); err == nil {
		t.Fatal("a renewal without a subscription was built")
	}
	if _, err := simulate.ParseScenario("refund"); err == nil {
		t.Fatal("an unknown scenario parsed")
	}
}

// Events come after what was told before, one second apart, even when the
// last story was told a moment ago.
func TestStoriesComeAfterTheLastEvent(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	evs, err := simulate.Build(simulate.Story{Scenario: simulate.CheckoutCompleted, SubjectType: "user", SubjectID: "u_1",
		Price: json.RawMessage(priceJSON), After: now.Add(2 * time.Second), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if want := now.Add(time.Duration(3+i) * time.Second); !e.Created.Equal(want) {
			t.Fatalf("event %d (%s) at %v, want %v", i, e.Type, e.Created, want)
		}
	}
	if evs[0].Type != "customer.created" || evs[len(evs)-1].Type != "checkout.session.completed" {
		t.Fatalf("order: %s ... %s", evs[0].Type, evs[len(evs)-1].Type)
	}
}
