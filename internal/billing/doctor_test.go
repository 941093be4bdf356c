package billing_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
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
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
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
	if _, err := svc.ConfigureKey(ctx, vocab.Test, fakeKey, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetupWebhook(ctx, vocab.Test, hs.URL+"/webhooks/stripe/test", "", ""); err != nil {
		t.Fatal(err)
	}
	m, err := scaffold.Generate(scaffold.Options{Pattern: "subscription_access", Env: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scaffold.Apply(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	r := &doctorRig{t: t, st: st, svc: svc, fake: fake, url: hs.URL}
	secrets, err := st.WebhookSecrets(ctx, vocab.Test)
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
	rep, err := r.svc.CheckIntegration(context.Background(), vocab.Test, billing.DoctorOptions{ReceiverURL: receiver, CreatePortal: true})
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]billing.Check{}
	for _, c := range rep.Checks {
		out[c.Name] = c
	}
	return out
}

var checkNames = []string{"keys", "webhook_endpoint", "last_event", "self_test", "portal_configuration", "fulfillment", "fulfillment_mismatches"}

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
			ep, _ := r.st.Webhook(context.Background(), vocab.Test)
			r.fake.DisableWebhookEndpoint(fakeKey, ep.EndpointID)
			return ""
		}, []string{"webhook_endpoint"}},
		{"webhook_endpoint_without_invoices", func(r *doctorRig) string {
			// An endpoint set up before billwire projected invoices (issue 13).
			ep, _ := r.st.Webhook(context.Background(), vocab.Test)
			form := url.Values{}
			for _, typ := range webhooks.Types() {
				if typ != "invoice.created" && typ != "invoice.voided" {
					form.Add("enabled_events[]", typ)
				}
			}
			req, _ := http.NewRequest("POST", r.fake.URL()+"/v1/webhook_endpoints/"+ep.EndpointID, strings.NewReader(form.Encode()))
			req.SetBasicAuth(fakeKey, "")
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				r.t.Fatalf("update endpoint: %v %v", resp, err)
			}
			resp.Body.Close()
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
			pc, _ := r.st.PortalConfiguration(context.Background(), vocab.Test)
			r.fake.DeactivatePortalConfiguration(fakeKey, pc.ID)
			return ""
		}, []string{"portal_configuration"}},
		{"fulfillment", func(r *doctorRig) string {
			if _, err := r.st.Pool().Exec(context.Background(), `DROP TABLE public.team_billing_status CASCADE`); err != nil {
				r.t.Fatal(err)
			}
			return ""
		}, []string{"fulfillment"}},
		{"fulfillment_v1", func(r *doctorRig) string {
			// The app's migration tool ran version 1's SQL over it: still on version 1.
			b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "scaffold", "v1", "subscription_access.sql"))
			if err != nil {
				r.t.Fatal(err)
			}
			if _, err := r.st.Pool().Exec(context.Background(), string(b)); err != nil {
				r.t.Fatal(err)
			}
			return ""
		}, []string{"fulfillment"}},
		{"fulfillment_mismatches", func(r *doctorRig) string {
			if _, err := r.st.Pool().Exec(context.Background(), `INSERT INTO payments.fulfillment_mismatches (env, payment_key, order_id, reason, detail, created_at)
				VALUES ('test', 'cs_test_Old', 'o_old', 'underpaid', '{}', now() - interval '40 days'),
					('live', 'cs_live_Other', 'o_live', 'underpaid', '{}', now()),
					('test', 'cs_test_Cheap', 'o_1', 'underpaid', '{"payment_intent_id": "pi_Cheap"}', now())`); err != nil {
				r.t.Fatal(err)
			}
			return ""
		}, []string{"fulfillment_mismatches"}},
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
			switch b.item {
			case "webhook_endpoint_without_invoices":
				if c := got["webhook_endpoint"]; !strings.Contains(c.Detail, "does not send invoice.created, invoice.voided") {
					t.Errorf("endpoint without the invoice types: %+v", c)
				}
			case "fulfillment_v1":
				want := "`billwire scaffold --pattern subscription_access --env test --table public.team_billing_status --apply` " +
					`(or scaffold_fulfillment {pattern: "subscription_access", env: "test", table: "public.team_billing_status", apply: true})`
				if c := got["fulfillment"]; !strings.Contains(c.Fix, want) || !strings.Contains(c.Detail, "version 1") {
					t.Errorf("fulfillment on version 1: %+v\nwant the fix to say %s", c, want)
				}
			case "fulfillment_mismatches":
				if c := got["fulfillment_mismatches"]; !strings.Contains(c.Detail, "1 payment(s)") || !strings.Contains(c.Detail, "cs_test_Cheap underpaid for order o_1") ||
					strings.Contains(c.Detail, "cs_test_Old") || !strings.Contains(c.Fix, "refund") {
					t.Errorf("mismatches: %+v", c)
				}
				// Refunded in Stripe, it stops counting.
				if _, err := r.st.Pool().Exec(context.Background(), `INSERT INTO payments.payment_history (env, key, kind, status, amount, amount_refunded, currency,
					occurred_at, source_at) VALUES ('test', 'pi_Cheap', 'payment', 'refunded', 100, 100, 'usd', now(), now())`); err != nil {
					t.Fatal(err)
				}
				if f := failing(t, r.check("")); len(f) != 0 {
					t.Errorf("after the refund: failing %v", f)
				}
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
