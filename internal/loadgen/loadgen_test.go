package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/webhook"
)

const secret = "whsec_loadgen_test"

// envelope is the part of an event the tests look at first.
type envelope struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// refs holds the ids an event's object is about.
type refs struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Customer string `json:"customer"`
}

func decode(t testing.TB, b []byte) envelope {
	t.Helper()
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return e
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	cfg := Config{Events: 500, Customers: 50, Duplicates: 0.2, Shuffle: true, Seed: 3}
	a, ea := Generate(cfg)
	b, eb := Generate(cfg)
	if !slices.EqualFunc(a, b, bytes.Equal) || !reflect.DeepEqual(ea, eb) {
		t.Error("the same Config gave different traffic")
	}
	cfg.Seed = 4
	if c, _ := Generate(cfg); slices.EqualFunc(a, c, bytes.Equal) {
		t.Error("another seed gave the same traffic")
	}
}

func TestGenerateCountsAndDuplicates(t *testing.T) {
	t.Parallel()
	const n, customers = 2000, 150
	for _, shuffle := range []bool{false, true} {
		t.Run(fmt.Sprintf("shuffle=%v", shuffle), func(t *testing.T) {
			events, exp := Generate(Config{Events: n, Customers: customers, Duplicates: 0.1, Shuffle: shuffle, Seed: 7})
			if exp.Events != n || exp.DistinctEventIDs != n || exp.Duplicates != n/10 || exp.Sends != n+n/10 || len(events) != exp.Sends {
				t.Fatalf("events %d distinct %d duplicates %d sends %d, len %d", exp.Events, exp.DistinctEventIDs, exp.Duplicates, exp.Sends, len(events))
			}
			total := 0
			for _, c := range exp.ByType {
				total += c
			}
			if total != n {
				t.Errorf("ByType sums to %d", total)
			}
			if exp.Prelude != 5 {
				t.Errorf("prelude %d", exp.Prelude)
			}
			first := map[string]int{}
			seen := map[string][]byte{}
			dups := 0
			perCustomer := map[string]int{}
			for i, b := range events {
				e := decode(t, b)
				if i < exp.Prelude && !strings.HasPrefix(e.Type, "product.") && !strings.HasPrefix(e.Type, "price.") {
					t.Errorf("send %d in the prelude is %s", i, e.Type)
				}
				if prev, ok := seen[e.ID]; ok {
					dups++
					if &prev[0] != &b[0] {
						t.Errorf("duplicate of %s is not the same bytes", e.ID)
					}
					if i < exp.Prelude || i <= first[e.ID] {
						t.Errorf("duplicate of %s at %d, original at %d", e.ID, i, first[e.ID])
					}
					continue
				}
				seen[e.ID], first[e.ID] = b, i
				var r refs
				_ = json.Unmarshal(e.Data.Object, &r)
				if c := customerOf(r); c != "" {
					perCustomer[c]++
				}
			}
			if len(seen) != n || dups != n/10 {
				t.Errorf("%d distinct ids, %d duplicates", len(seen), dups)
			}
			// No hot row: the events are spread over all customers.
			if len(perCustomer) != customers {
				t.Errorf("%d customers have events, want %d", len(perCustomer), customers)
			}
			for c, k := range perCustomer {
				if k > 3*n/customers {
					t.Errorf("customer %s has %d events", c, k)
				}
			}
		})
	}
}

func customerOf(r refs) string {
	if r.Object == "customer" {
		return r.ID
	}
	return r.Customer
}

// TestGenerateStoryOrder: in story order the created time of every object's
// and every customer's events increases; shuffled, the same events come in
// another order.
func TestGenerateStoryOrder(t *testing.T) {
	t.Parallel()
	cfg := Config{Events: 2000, Customers: 100, Seed: 11}
	events, exp := Generate(cfg)
	last := map[string]int64{}
	for _, b := range events {
		e := decode(t, b)
		var r refs
		_ = json.Unmarshal(e.Data.Object, &r)
		for _, key := range []string{"object " + r.ID, "customer " + customerOf(r)} {
			if strings.HasSuffix(key, " ") {
				continue
			}
			if e.Created <= last[key] {
				t.Fatalf("%s: %s %s created %d, not after %d", key, e.ID, e.Type, e.Created, last[key])
			}
			last[key] = e.Created
		}
	}
	cfg.Shuffle = true
	shuffled, exp2 := Generate(cfg)
	ids := func(evs [][]byte) []string {
		var out []string
		for _, b := range evs {
			out = append(out, decode(t, b).ID)
		}
		return out
	}
	a, b := ids(events), ids(shuffled)
	if slices.Equal(a, b) {
		t.Error("Shuffle did not change the order")
	}
	if !slices.Equal(a[:exp.Prelude], b[:exp2.Prelude]) {
		t.Error("Shuffle moved the catalog prelude")
	}
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Error("Shuffle changed the events")
	}
}

// fixtureIDs are ids of the fixtures' story that generated events must not
// carry (price_Fixture1 and prod_Fixture1 are the generator's Pro plan).
var fixtureIDs = [][]byte{}

func init() {
	for _, s := range []string{"cus", "sub", "si", "in", "pi", "ch", "re", "cs_test", "pm", "dp", "il", "txn"} {
		fixtureIDs = append(fixtureIDs, []byte(`"`+s+`_Fixture`))
	}
	fixtureIDs = append(fixtureIDs, []byte("jenny@example.com"), []byte("Jenny Rosen"))
}

// subjectOf is the subject id the generator gives customer id (cus_L000123:
// u_123).
func subjectOf(customer string) string {
	return "u_" + strings.TrimLeft(strings.TrimPrefix(customer, "cus_L"), "0")
}

// TestGeneratedEventsAreValid: every event verifies with stripe-go, its
// object decodes into the stripe-go type, and the ids are the generator's.
func TestGeneratedEventsAreValid(t *testing.T) {
	t.Parallel()
	events, exp := Generate(Config{Events: 1500, Customers: 120, Seed: 5})
	if len(events) != 1500 {
		t.Fatal(len(events))
	}
	priceCreated := map[string]int64{} // from the catalog, which comes first
	for _, payload := range events {
		ev, err := webhook.ConstructEventWithOptions(payload, signNow(payload), secret, webhook.ConstructEventOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range fixtureIDs {
			if bytes.Contains(payload, id) {
				t.Errorf("%s %s still holds the fixture's %s", ev.ID, ev.Type, id)
			}
		}
		raw := ev.Data.Raw
		switch typ := string(ev.Type); {
		case strings.HasPrefix(typ, "checkout.session."):
			var s stripe.CheckoutSession
			mustDecode(t, raw, &s)
			if s.Customer == nil || s.Metadata["billwire_subject_type"] != "user" || s.Metadata["billwire_subject_id"] != subjectOf(s.Customer.ID) ||
				"user:"+s.Metadata["billwire_subject_id"] != s.ClientReferenceID ||
				s.Mode != stripe.CheckoutSessionModeSubscription || s.Subscription == nil {
				t.Errorf("%s: session %+v", ev.ID, s)
			}
		case strings.HasPrefix(typ, "customer.subscription."):
			var s stripe.Subscription
			mustDecode(t, raw, &s)
			if s.Customer == nil || s.Metadata["billwire_subject_type"] != "user" || s.Metadata["billwire_subject_id"] != subjectOf(s.Customer.ID) ||
				len(s.Items.Data) != 1 || s.Items.Data[0].Price.UnitAmount == 0 || s.CurrentPeriodEnd <= s.CurrentPeriodStart ||
				s.Items.Data[0].Price.Created != priceCreated[s.Items.Data[0].Price.ID] || s.Items.Data[0].Plan.Amount != s.Items.Data[0].Price.UnitAmount {
				t.Errorf("%s: subscription %+v", ev.ID, s)
			}
		case strings.HasPrefix(typ, "customer."):
			var c stripe.Customer
			mustDecode(t, raw, &c)
		case strings.HasPrefix(typ, "invoice."):
			var in stripe.Invoice
			mustDecode(t, raw, &in)
			if in.SubscriptionDetails.Metadata["billwire_subject_id"] != subjectOf(in.Customer.ID) || in.Lines.Data[0].Amount != in.AmountDue ||
				in.PaymentIntent == nil || in.Subscription == nil || in.Lines.Data[0].Price.ID != exp.Subscriptions[in.Subscription.ID].Price {
				t.Errorf("%s: invoice %+v", ev.ID, in)
			}
		case strings.HasPrefix(typ, "payment_intent."):
			var pi stripe.PaymentIntent
			mustDecode(t, raw, &pi)
			if (pi.Status == stripe.PaymentIntentStatusSucceeded) != (pi.LastPaymentError == nil) {
				t.Errorf("%s: payment intent %+v", ev.ID, pi)
			}
		case typ == "charge.refunded":
			var ch stripe.Charge
			mustDecode(t, raw, &ch)
			if !ch.Refunded || ch.AmountRefunded != ch.Amount || ch.PaymentMethodDetails.Card.AmountAuthorized != ch.Amount {
				t.Errorf("%s: charge %+v", ev.ID, ch)
			}
		case typ == "refund.created":
			var re stripe.Refund
			mustDecode(t, raw, &re)
		case strings.HasPrefix(typ, "product."):
			var p stripe.Product
			mustDecode(t, raw, &p)
		case strings.HasPrefix(typ, "price."):
			var p stripe.Price
			mustDecode(t, raw, &p)
			if p.Created != ev.Created {
				t.Errorf("%s: price created %d, event %d", ev.ID, p.Created, ev.Created)
			}
			priceCreated[p.ID] = p.Created
		default:
			t.Errorf("unexpected event type %s", typ)
		}
	}
}

func signNow(payload []byte) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret}).Header
}

func mustDecode(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%T: %v", v, err)
	}
}

// TestExpectationMatchesAProjection replays shuffled, duplicated traffic
// through a small projection (newest event per object wins, duplicate ids
// ignored) built on stripe-go and compares the result with the Expectation.
func TestExpectationMatchesAProjection(t *testing.T) {
	t.Parallel()
	events, exp := Generate(Config{Events: 3000, Customers: 80, Duplicates: 0.3, Shuffle: true, Seed: 9})
	got := newExpectation()
	newest := map[string]int64{}
	apply := func(key string, created int64) bool {
		if created < newest[key] {
			return false
		}
		newest[key] = created
		return true
	}
	seen := map[string]bool{}
	for _, b := range events {
		ev := decode(t, b)
		if seen[ev.ID] {
			continue
		}
		seen[ev.ID] = true
		raw, at := []byte(ev.Data.Object), ev.Created
		switch typ := ev.Type; {
		case strings.HasPrefix(typ, "product."):
			var p stripe.Product
			mustDecode(t, raw, &p)
			if apply(p.ID, at) {
				got.Products[p.ID] = ProductState{Name: p.Name}
			}
		case strings.HasPrefix(typ, "price."):
			var p stripe.Price
			mustDecode(t, raw, &p)
			if apply(p.ID, at) {
				got.Prices[p.ID] = PriceState{Product: p.Product.ID, UnitAmount: p.UnitAmount, Currency: string(p.Currency), Interval: string(p.Recurring.Interval), LookupKey: p.LookupKey}
			}
		case strings.HasPrefix(typ, "checkout.session."):
			var s stripe.CheckoutSession
			mustDecode(t, raw, &s)
			if apply(s.ID, at) {
				got.CheckoutSessions[s.ID] = SessionState{Customer: s.Customer.ID, Subscription: s.Subscription.ID, ClientReferenceID: s.ClientReferenceID,
					SubjectType: s.Metadata["billwire_subject_type"], SubjectID: s.Metadata["billwire_subject_id"], AmountTotal: s.AmountTotal,
					Status: string(s.Status), PaymentStatus: string(s.PaymentStatus)}
			}
		case strings.HasPrefix(typ, "customer.subscription."):
			var s stripe.Subscription
			mustDecode(t, raw, &s)
			if apply(s.ID, at) {
				got.Subscriptions[s.ID] = SubscriptionState{Status: string(s.Status), Customer: s.Customer.ID, Price: s.Items.Data[0].Price.ID,
					Item: s.Items.Data[0].ID, CancelAtPeriodEnd: s.CancelAtPeriodEnd, CurrentPeriodStart: s.CurrentPeriodStart,
					CurrentPeriodEnd: s.CurrentPeriodEnd, LatestInvoice: s.LatestInvoice.ID,
					SubjectType: s.Metadata["billwire_subject_type"], SubjectID: s.Metadata["billwire_subject_id"]}
			}
		case strings.HasPrefix(typ, "customer."):
			var c stripe.Customer
			mustDecode(t, raw, &c)
			if apply(c.ID, at) {
				got.Customers[c.ID] = CustomerState{Email: c.Email, Name: c.Name, SubjectID: c.Metadata["billwire_subject_id"]}
			}
		case strings.HasPrefix(typ, "invoice."):
			var in stripe.Invoice
			mustDecode(t, raw, &in)
			if apply(in.ID, at) {
				got.Invoices[in.ID] = InvoiceState{Status: string(in.Status), Customer: in.Customer.ID, Subscription: in.Subscription.ID,
					PaymentIntent: in.PaymentIntent.ID, AmountDue: in.AmountDue, AmountPaid: in.AmountPaid, Currency: string(in.Currency)}
			}
		case strings.HasPrefix(typ, "payment_intent."):
			var pi stripe.PaymentIntent
			mustDecode(t, raw, &pi)
			if apply(pi.ID, at) {
				p := got.Payments[pi.ID]
				p.Status, p.Amount, p.Currency, p.Customer, p.Invoice, p.Charge = string(pi.Status), pi.Amount, string(pi.Currency), pi.Customer.ID, pi.Invoice.ID, pi.LatestCharge.ID
				got.Payments[pi.ID] = p
			}
		case typ == "charge.refunded":
			var ch stripe.Charge
			mustDecode(t, raw, &ch)
			if apply(ch.ID, at) {
				p := got.Payments[ch.PaymentIntent.ID]
				p.AmountRefunded = ch.AmountRefunded
				got.Payments[ch.PaymentIntent.ID] = p
			}
		case strings.HasPrefix(typ, "refund."):
			var re stripe.Refund
			mustDecode(t, raw, &re)
			if apply(re.ID, at) {
				got.Refunds[re.ID] = RefundState{Charge: re.Charge.ID, PaymentIntent: re.PaymentIntent.ID, Amount: re.Amount, Status: string(re.Status)}
			}
		}
	}
	got.finish()
	for name, pair := range map[string][2]any{
		"products":              {got.Products, exp.Products},
		"prices":                {got.Prices, exp.Prices},
		"customers":             {got.Customers, exp.Customers},
		"checkout sessions":     {got.CheckoutSessions, exp.CheckoutSessions},
		"subscriptions":         {got.Subscriptions, exp.Subscriptions},
		"invoices":              {got.Invoices, exp.Invoices},
		"payments":              {got.Payments, exp.Payments},
		"refunds":               {got.Refunds, exp.Refunds},
		"subscription statuses": {got.SubscriptionStatuses, exp.SubscriptionStatuses},
		"payment statuses":      {got.PaymentStatuses, exp.PaymentStatuses},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s: the projection and the Expectation differ", name)
			diffMaps(t, pair[0], pair[1])
		}
	}
	if got.RefundCount != exp.RefundCount || got.RefundedAmount != exp.RefundedAmount || exp.RefundCount == 0 {
		t.Errorf("refunds %d (%d) vs expected %d (%d)", got.RefundCount, got.RefundedAmount, exp.RefundCount, exp.RefundedAmount)
	}
	// The mix covers every kind of step.
	for _, s := range []string{"active", "past_due", "canceled"} {
		if exp.SubscriptionStatuses[s] == 0 {
			t.Errorf("no %s subscription in %v", s, exp.SubscriptionStatuses)
		}
	}
	for _, typ := range []string{"customer.created", "customer.updated", "checkout.session.completed", "customer.subscription.created",
		"customer.subscription.updated", "customer.subscription.deleted", "invoice.paid", "invoice.payment_failed",
		"payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded", "refund.created"} {
		if exp.ByType[typ] == 0 {
			t.Errorf("no %s event", typ)
		}
	}
}

func diffMaps(t *testing.T, got, want any) {
	t.Helper()
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	shown := 0
	for _, k := range w.MapKeys() {
		if gv := g.MapIndex(k); !gv.IsValid() || !reflect.DeepEqual(gv.Interface(), w.MapIndex(k).Interface()) {
			if shown++; shown <= 5 {
				var gi any
				if gv.IsValid() {
					gi = gv.Interface()
				}
				t.Errorf("  %v: projection %+v, expected %+v", k, gi, w.MapIndex(k).Interface())
			}
		}
	}
	if g.Len() != w.Len() {
		t.Errorf("  projection has %d entries, expected %d", g.Len(), w.Len())
	}
}

// receiver is a webhook endpoint that verifies signatures the way billwire
// does (stripe-go's webhook package) and counts what it gets.
type receiver struct {
	mu       sync.Mutex
	byID     map[string]int
	arrivals []string
	conns    map[string]bool
	inFlight atomic.Int64
	maxIn    atomic.Int64
	fail     func(id string) int // status to answer with; 0: 200
	delay    time.Duration
	headers  http.Header
}

func newReceiver() *receiver {
	return &receiver{byID: map[string]int{}, conns: map[string]bool{}}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := rc.inFlight.Add(1)
	defer rc.inFlight.Add(-1)
	for {
		m := rc.maxIn.Load()
		if n <= m || rc.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	body, _ := io.ReadAll(r.Body)
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), secret, webhook.ConstructEventOptions{})
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad signature: "+fmt.Sprint(err), http.StatusBadRequest)
		return
	}
	if rc.delay > 0 {
		time.Sleep(rc.delay)
	}
	rc.mu.Lock()
	rc.byID[ev.ID]++
	rc.arrivals = append(rc.arrivals, ev.ID)
	rc.conns[r.RemoteAddr] = true
	rc.headers = r.Header.Clone()
	rc.mu.Unlock()
	if rc.fail != nil {
		if s := rc.fail(ev.ID); s != 0 {
			http.Error(w, "failed on purpose", s)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

func TestRun(t *testing.T) {
	t.Parallel()
	events, exp := Generate(Config{Events: 3000, Customers: 300, Duplicates: 0.1, Shuffle: true, Seed: 2})
	rc := newReceiver()
	srv := httptest.NewServer(rc)
	defer srv.Close()

	const workers = 6
	res, err := Run(context.Background(), RunConfig{URL: srv.URL + "/webhooks/stripe/test", Secret: secret, Concurrency: workers, Prelude: exp.Prelude}, events)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != exp.Sends || res.OK != exp.Sends || res.NotOK != 0 || res.Errors != 0 || res.ByStatus["200"] != exp.Sends || res.Stopped || res.Failed() {
		t.Errorf("result %+v", res)
	}
	l := res.Latency
	if !(l.P50 > 0 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max && l.Mean > 0 && l.Mean <= l.Max) {
		t.Errorf("latencies %+v", l)
	}
	if res.EventsPerSecond <= 0 || res.Elapsed <= 0 {
		t.Errorf("rate %v over %vs", res.EventsPerSecond, res.Elapsed)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	twice := 0
	for _, k := range rc.byID {
		if k == 2 {
			twice++
		} else if k != 1 {
			t.Errorf("an event arrived %d times", k)
		}
	}
	if len(rc.byID) != exp.DistinctEventIDs || len(rc.arrivals) != exp.Sends || twice != exp.Duplicates {
		t.Errorf("received %d distinct, %d in all, %d twice; want %d, %d, %d", len(rc.byID), len(rc.arrivals), twice, exp.DistinctEventIDs, exp.Sends, exp.Duplicates)
	}
	for i := range exp.Prelude {
		if want := decode(t, events[i]).ID; rc.arrivals[i] != want {
			t.Errorf("arrival %d is %s, want the prelude's %s", i, rc.arrivals[i], want)
		}
	}
	if m := rc.maxIn.Load(); m > workers {
		t.Errorf("%d requests in flight at once, more than %d workers", m, workers)
	}
	if len(rc.conns) > workers {
		t.Errorf("%d connections for %d workers: keep-alive is not reused", len(rc.conns), workers)
	}
	if ct := rc.headers.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestRunCountsFailures(t *testing.T) {
	t.Parallel()
	events, exp := Generate(Config{Events: 400, Customers: 40, Seed: 1})
	rc := newReceiver()
	rc.fail = func(id string) int {
		switch {
		case strings.HasSuffix(id, "7"):
			return http.StatusServiceUnavailable
		case strings.HasSuffix(id, "3"):
			return http.StatusConflict
		}
		return 0
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	res, err := Run(context.Background(), RunConfig{URL: srv.URL, Secret: secret, Concurrency: 3, Prelude: exp.Prelude}, events)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 400 || res.ByStatus["503"] != 40 || res.ByStatus["409"] != 40 || res.OK != 320 || res.NotOK != 80 || !res.Failed() {
		t.Errorf("result %+v", res)
	}
	if len(res.Failures) != maxFailures || !strings.Contains(strings.Join(res.Failures, "\n"), "failed on purpose") {
		t.Errorf("failures %q", res.Failures)
	}

	// Another secret: every request is refused by the signature check.
	res, err = Run(context.Background(), RunConfig{URL: srv.URL, Secret: "whsec_wrong", Concurrency: 3}, events[:50])
	if err != nil {
		t.Fatal(err)
	}
	if res.ByStatus["400"] != 50 || res.OK != 0 {
		t.Errorf("wrong secret: %+v", res)
	}
}

func TestRunStops(t *testing.T) {
	t.Parallel()
	events, _ := Generate(Config{Events: 300, Customers: 30, Seed: 1})
	rc := newReceiver()
	rc.delay = 20 * time.Millisecond
	srv := httptest.NewServer(rc)
	defer srv.Close()

	t.Run("duration", func(t *testing.T) {
		res, err := Run(context.Background(), RunConfig{URL: srv.URL, Secret: secret, Concurrency: 2, Duration: 200 * time.Millisecond}, events)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Stopped || res.Sent == 0 || res.Sent >= len(events) || res.Errors != 0 || res.OK != res.Sent {
			t.Errorf("result %+v", res)
		}
		if res.Elapsed > 2 {
			t.Errorf("ran %vs past a 200ms cap", res.Elapsed)
		}
	})
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		res, err := Run(ctx, RunConfig{URL: srv.URL, Secret: secret, Concurrency: 2}, events)
		if err != context.DeadlineExceeded || !res.Stopped || res.Sent >= len(events) {
			t.Errorf("err %v, result %+v", err, res)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		res, err := Run(context.Background(), RunConfig{URL: srv.URL, Secret: secret, Concurrency: 4, Timeout: 5 * time.Millisecond}, events[:8])
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 8 || res.Errors != 8 || res.ByStatus["error"] != 8 || !res.Failed() {
			t.Errorf("result %+v", res)
		}
	})
}

func TestRunSendsOnlyToLoopback(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://127.0.0.1:8787/webhooks/stripe/test", "http://[::1]:80/x", "http://localhost:8787", "https://127.0.0.2/x"} {
		if err := CheckURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://example.com/webhooks/stripe/test", "http://10.0.0.1/x", "http://0.0.0.0:8787/",
		"ftp://127.0.0.1/x", "127.0.0.1:8787", "http://localhost.example.com/", "http://[::ffff:8.8.8.8]/"} {
		if err := CheckURL(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	res, err := Run(context.Background(), RunConfig{URL: "http://example.com/hook", Secret: secret}, [][]byte{[]byte(`{}`)})
	if err == nil || res.Sent != 0 {
		t.Errorf("Run to example.com: %v, %+v", err, res)
	}
	if _, err := Run(context.Background(), RunConfig{URL: "http://127.0.0.1:1/"}, nil); err == nil {
		t.Error("Run without a secret")
	}
}

func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		Generate(Config{Events: 10000, Duplicates: 0.1, Seed: 1})
	}
}
