package runtime_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/scaffold"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
)

const fakeKey = "sk_test_51DoctorTestKey00000000000004242"

// doctorRig is an environment where every integration check passes: keys
// on the stateful fake, billwire's managed endpoint, a received event, the
// running receiver, a portal configuration and scaffolded fulfillment.
type doctorRig struct {
	t    *testing.T
	st   *store.Store
	svc  *billing.Service
	fake *stripetest.Fake
	url  string
}

func newDoctorRig(t *testing.T) *doctorRig {
	t.Helper()
	ctx := context.Background()
	st := storetest.New(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	log := zerolog.New(io.Discard)
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000}, log)
	srv, err := runtime.New(st, svc, log, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Processor().Close() })
	if _, err := svc.ConfigureKey(ctx, store.Test, fakeKey, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetupWebhook(ctx, store.Test, hs.URL+"/webhooks/stripe/test", "", ""); err != nil {
		t.Fatal(err)
	}
	m, err := scaffold.Generate(scaffold.Options{Pattern: "subscription_access", Env: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scaffold.Apply(ctx, st.Pool(), m); err != nil {
		t.Fatal(err)
	}
	r := &doctorRig{t: t, st: st, svc: svc, fake: fake, url: hs.URL}
	secrets, err := st.WebhookSecrets(ctx, store.Test)
	if err != nil {
		t.Fatal(err)
	}
	payload := eventfixtures.MustEvent(t, "customer.created", eventfixtures.Options{Created: time.Now().Unix()})
	req, _ := http.NewRequest("POST", hs.URL+"/webhooks/stripe/test", bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, secrets.Current, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("event: %v %v", resp, err)
	}
	resp.Body.Close()
	return r
}

func (r *doctorRig) check(receiver string) map[string]billing.Check {
	r.t.Helper()
	if receiver == "" {
		receiver = r.url
	}
	rep, err := r.svc.CheckIntegration(context.Background(), store.Test, billing.DoctorOptions{ReceiverURL: receiver, CreatePortal: true})
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]billing.Check{}
	for _, c := range rep.Checks {
		out[c.Name] = c
	}
	return out
}

var checkNames = []string{"keys", "webhook_endpoint", "last_event", "self_test", "portal_configuration", "fulfillment"}

// failing returns the names of the checks that failed; each must say how to fix it.
func failing(t *testing.T, got map[string]billing.Check) []string {
	t.Helper()
	if len(got) != len(checkNames) {
		t.Fatalf("checks %v, want %v", got, checkNames)
	}
	var out []string
	for _, n := range checkNames {
		c := got[n]
		if !c.OK {
			out = append(out, n)
			if c.Fix == "" || c.Detail == "" {
				t.Errorf("%s failed without detail or fix: %+v", n, c)
			}
		}
	}
	return out
}

func TestCheckIntegrationBreakEachItem(t *testing.T) {
	t.Parallel()
	breaks := []struct {
		item  string
		brk   func(r *doctorRig) string // returns the receiver URL to use ("" = the running one)
		fails []string
	}{
		{"keys", func(r *doctorRig) string {
			r.fake.SetAccount(fakeKey, "acct_SomeoneElse")
			return ""
		}, []string{"keys", "webhook_endpoint", "portal_configuration"}},
		{"webhook_endpoint", func(r *doctorRig) string {
			ep, _ := r.st.Webhook(context.Background(), store.Test)
			r.fake.DisableWebhookEndpoint(fakeKey, ep.EndpointID)
			return ""
		}, []string{"webhook_endpoint"}},
		{"last_event", func(r *doctorRig) string {
			if _, err := r.st.Pool().Exec(context.Background(), `UPDATE payments.webhook_events SET status = 'parked', attempts = 5, last_error = 'boom'`); err != nil {
				r.t.Fatal(err)
			}
			return ""
		}, []string{"last_event"}},
		{"self_test", func(r *doctorRig) string {
			dead := httptest.NewServer(http.NotFoundHandler())
			dead.Close()
			return dead.URL
		}, []string{"self_test"}},
		{"portal_configuration", func(r *doctorRig) string {
			pc, _ := r.st.PortalConfiguration(context.Background(), store.Test)
			r.fake.DeactivatePortalConfiguration(fakeKey, pc.ID)
			return ""
		}, []string{"portal_configuration"}},
		{"fulfillment", func(r *doctorRig) string {
			if _, err := r.st.Pool().Exec(context.Background(), `DROP TABLE public.team_billing_status CASCADE`); err != nil {
				r.t.Fatal(err)
			}
			return ""
		}, []string{"fulfillment"}},
	}
	for _, b := range breaks {
		t.Run(b.item, func(t *testing.T) {
			t.Parallel()
			r := newDoctorRig(t)
			if f := failing(t, r.check("")); len(f) != 0 {
				t.Fatalf("a healthy integration fails %v: %+v", f, r.check(""))
			}
			receiver := b.brk(r)
			got := r.check(receiver)
			f := failing(t, got)
			if !equal(f, b.fails) {
				t.Fatalf("broke %s: failing %v, want %v: %+v", b.item, f, b.fails, got)
			}
			if b.item == "keys" {
				for _, n := range []string{"webhook_endpoint", "portal_configuration"} {
					if got[n].Fix != "fix the keys first" {
						t.Errorf("%s, which needs Stripe, should point at the keys: %+v", n, got[n])
					}
				}
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
