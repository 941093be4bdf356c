package usage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/usage"
	"github.com/billwire/billwire/internal/vocab"
)

const testKey = "sk_test_51BillwireUsageKey0000000004242"

type rig struct {
	t    *testing.T
	st   *store.Store
	fake *stripetest.Fake
	in   *usage.Intake
}

func newRig(t *testing.T, rate float64) *rig {
	st := storetest.New(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{RateLimit: rate})
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000}, zerolog.Nop())
	ctx := context.Background()
	if _, err := svc.ConfigureKey(ctx, vocab.Test, testKey, false); err != nil {
		t.Fatal(err)
	}
	for _, m := range []billing.MeterInput{{EventName: "api_tokens", DisplayName: "Tokens"}, {EventName: "api_calls", DisplayName: "Calls", Aggregation: "count"}} {
		if _, err := svc.CreateMeter(ctx, vocab.Test, m); err != nil {
			t.Fatal(err)
		}
	}
	return &rig{t: t, st: st, fake: fake, in: usage.NewIntake(st)}
}

// sender is a serve replica's sender: a billing service of its own.
func (r *rig) sender() *usage.Sender {
	return usage.NewSender(billing.New(billing.Static(r.st), stripeapi.Options{BaseURL: r.fake.URL(), RateLimit: 1000}, zerolog.Nop()), zerolog.Nop(), 0)
}

func (r *rig) mapCustomer(subject, customer string) {
	r.t.Helper()
	if _, err := r.st.Pool().Exec(context.Background(), `INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id)
		VALUES ('test', 'user', $1, $2)`, subject, customer); err != nil {
		r.t.Fatal(err)
	}
}

// ingest accepts events; it fails the test unless all are accepted.
func (r *rig) ingest(evs ...usage.Event) {
	r.t.Helper()
	res, err := r.in.Ingest(context.Background(), vocab.Test, "key_1", "", &usage.Request{Events: evs})
	if err != nil || res.Accepted != len(evs) {
		r.t.Fatalf("ingest: %+v %v", res, err)
	}
}

func ev(name, subject string, value float64, at time.Time, id string) usage.Event {
	return usage.Event{EventName: name, Subject: auth.Subject{Type: "user", ID: subject}, Value: json.RawMessage(fmt.Sprint(value)),
		Timestamp: json.RawMessage(fmt.Sprint(at.Unix())), Identifier: id}
}

// drain runs senders concurrently until nothing is left to send.
func (r *rig) drain(senders ...*usage.Sender) {
	r.t.Helper()
	ctx := context.Background()
	for range 50 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		sent := 0
		for _, s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := s.Step(ctx, vocab.Test)
				if err != nil {
					r.t.Error(err)
				}
				mu.Lock()
				sent += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		if sent == 0 {
			return
		}
	}
	r.t.Fatal("the senders never finished")
}

func (r *rig) statuses() map[string]int {
	r.t.Helper()
	rows, _ := r.st.Pool().Query(context.Background(), `SELECT status, count(*) FROM payments.usage_events GROUP BY status`)
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		rows.Scan(&s, &n) //nolint:errcheck
		out[s] = n
	}
	return out
}

// Stripe's total per customer and meter equals the sum accepted, with two
// senders at once: a sum meter's events become one meter event per
// customer and minute (and one more for those accepted after it was
// sent), a count meter's are sent one by one, no identifier is sent twice,
// and usage of a subject without a customer waits for its mapping.
func TestSenderCountsEveryAcceptedUnitOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, 0)
	r.mapCustomer("u_1", "cus_A")
	r.mapCustomer("u_2", "cus_B")
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	want := map[string]float64{}
	var evs []usage.Event
	for i := range 300 {
		subject, cus := "u_1", "cus_A"
		if i%3 == 0 {
			subject, cus = "u_2", "cus_B"
		}
		at := base.Add(time.Duration(i%5)*time.Minute + time.Duration(i%50)*time.Second)
		evs = append(evs, ev("api_tokens", subject, float64(i%7)+0.5, at, fmt.Sprint("t", i)))
		want["api_tokens "+cus] += float64(i%7) + 0.5
		if i%10 == 0 {
			evs = append(evs, ev("api_calls", subject, 99, at, fmt.Sprint("c", i)))
			want["api_calls "+cus]++
		}
	}
	evs = append(evs, ev("api_tokens", "u_3", 40, base, "w1"))
	r.ingest(evs...)
	r.drain(r.sender(), r.sender())
	if st := r.statuses(); st["waiting_for_customer"] != 1 || st["pending"] != 0 {
		t.Fatalf("statuses %v", st)
	}
	// Late events of minutes already sent, and the waiting subject's customer.
	r.ingest(ev("api_tokens", "u_1", 2, base, "late1"), ev("api_tokens", "u_1", 3, base, "late2"))
	want["api_tokens cus_A"] += 5
	r.mapCustomer("u_3", "cus_C")
	want["api_tokens cus_C"] += 40
	r.drain(r.sender(), r.sender())

	for k, v := range want {
		var name, cus string
		fmt.Sscan(k, &name, &cus)
		if got := r.fake.MeterTotal(testKey, name, cus); got != v {
			t.Errorf("Stripe counts %v for %s, accepted %v", got, k, v)
		}
	}
	ids, dups := r.fake.MeterEventIdentifiers(testKey)
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	if dups != 0 || len(slices.Compact(sorted)) != len(ids) {
		t.Fatalf("identifiers sent twice: %d duplicates", dups)
	}
	// 2 customers × 5 minutes for tokens, one more for the late events,
	// one for the waiting subject, and 30 count events.
	if len(ids) != 10+1+1+30 {
		t.Fatalf("%d meter events sent", len(ids))
	}
	if st := r.statuses(); st["sent"] != len(evs)+2 {
		t.Fatalf("statuses %v", st)
	}
}

// Under a rate limit that answers 429s, the sender backs off and every
// unit still counts once; a bucket Stripe refuses for good is failed with
// Stripe's reason.
func TestSenderBacksOffAndFails(t *testing.T) {
	t.Parallel()
	r := newRig(t, 5)
	r.mapCustomer("u_1", "cus_A")
	r.mapCustomer("u_2", "cus_gone")
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var evs []usage.Event
	for i := range 40 {
		evs = append(evs, ev("api_calls", "u_1", 1, base.Add(time.Duration(i)*time.Second), fmt.Sprint("c", i)))
	}
	r.ingest(evs...)
	r.drain(r.sender())
	if got := r.fake.MeterTotal(testKey, "api_calls", "cus_A"); got != 40 {
		t.Fatalf("Stripe counts %v of 40", got)
	}
	if r.fake.RateLimited() == 0 {
		t.Fatal("the fake's rate limit never answered 429: the test tests nothing")
	}
	if _, err := r.st.Pool().Exec(context.Background(), `UPDATE payments.meters SET customer_key = 'no_such_key' WHERE event_name = 'api_tokens'`); err != nil {
		t.Fatal(err)
	}
	r.ingest(ev("api_tokens", "u_2", 5, base, "bad"))
	r.drain(r.sender())
	var status, reason string
	if err := r.st.Pool().QueryRow(context.Background(), `SELECT e.status, coalesce(b.last_error, '') FROM payments.usage_events e
		JOIN payments.usage_buckets b ON b.env = e.env AND b.identifier = e.bucket WHERE e.identifier = 'bad'`).Scan(&status, &reason); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || reason == "" {
		t.Fatalf("refused bucket: %s %q", status, reason)
	}
	st, err := billing.New(billing.Static(r.st), stripeapi.Options{}, zerolog.Nop()).Status(context.Background(), []vocab.Env{vocab.Test})
	if err != nil || st[0].UsageSender == nil || st[0].UsageSender.Failed != 1 || st[0].UsageSender.Pending != 0 {
		t.Fatalf("get_payments_status: %+v %v", st[0].UsageSender, err)
	}
	// The cause fixed, replay_usage_events resends it.
	if _, err := r.st.Pool().Exec(context.Background(), `UPDATE payments.meters SET customer_key = 'stripe_customer_id'`); err != nil {
		t.Fatal(err)
	}
	if n, err := r.st.ReplayFailedUsage(context.Background(), vocab.Test); err != nil || n != 1 {
		t.Fatalf("replayed %d (%v)", n, err)
	}
	r.drain(r.sender())
	if got := r.fake.MeterTotal(testKey, "api_tokens", "cus_gone"); got != 5 {
		t.Fatalf("after the replay Stripe counts %v of 5", got)
	}
}

// A sender killed after Stripe took a meter event but before it recorded
// that (kill -9 mid-send) leaves the bucket claimed; when the lease ends
// another sender resends it with the same identifier, Stripe refuses the
// repeat, and the bucket counts as sent: Stripe's total is unchanged.
func TestSenderKilledMidSendCountsOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, 0)
	r.mapCustomer("u_1", "cus_A")
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	r.ingest(ev("api_tokens", "u_1", 7, base, "a"), ev("api_tokens", "u_1", 5, base.Add(time.Second), "b"))
	ctx := context.Background()
	if _, err := r.st.BucketUsage(ctx, vocab.Test, 100); err != nil {
		t.Fatal(err)
	}
	claimed, err := r.st.ClaimBuckets(ctx, vocab.Test, 10, 0) // the dead sender's lease ends at once
	if err != nil || len(claimed) != 1 || claimed[0].Value != "12" {
		t.Fatalf("claimed %+v %v", claimed, err)
	}
	c, err := stripeapi.New(vocab.Test, testKey, stripeapi.Options{BaseURL: r.fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	b := claimed[0]
	if err := c.SendMeterEvent(ctx, stripeapi.MeterEvent{EventName: b.EventName, Identifier: b.Identifier, CustomerKey: "stripe_customer_id",
		CustomerID: b.CustomerID, ValueKey: "value", Value: b.Value, Timestamp: b.EventTime}); err != nil {
		t.Fatal(err)
	}
	// The sender died here. Another one takes over (the lease ended at
	// the claim's transaction time, before the next claim's).
	r.drain(r.sender())
	if got := r.fake.MeterTotal(testKey, "api_tokens", "cus_A"); got != 12 {
		t.Fatalf("Stripe counts %v, accepted 12", got)
	}
	if _, dups := r.fake.MeterEventIdentifiers(testKey); dups != 1 {
		t.Fatalf("the resend was not the same identifier: %d duplicates", dups)
	}
	if st := r.statuses(); st["sent"] != 2 {
		t.Fatalf("statuses %v", st)
	}
}

// Sent usage older than the retention is pruned; pending and waiting
// usage, and sent usage within it, stay.
func TestPruneKeepsWhatIsNotSentOrRecent(t *testing.T) {
	t.Parallel()
	r := newRig(t, 0)
	r.mapCustomer("u_1", "cus_A")
	now := time.Now()
	r.ingest(ev("api_calls", "u_1", 1, now.Add(-30*24*time.Hour), "old"), ev("api_calls", "u_1", 1, now.Add(-time.Hour), "new"),
		ev("api_calls", "u_2", 1, now.Add(-30*24*time.Hour), "waiting"))
	r.drain(r.sender())
	n, err := r.st.PruneUsage(context.Background(), now.Add(-20*24*time.Hour), 10)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v)", n, err)
	}
	if st := r.statuses(); st["sent"] != 1 || st["waiting_for_customer"] != 1 {
		t.Fatalf("left %v", st)
	}
	if u, err := r.st.UsageSender(context.Background(), vocab.Test); err != nil || u == nil || u.Waiting != 1 || u.Pending != 0 || u.OldestPendingSeconds != nil {
		t.Fatalf("sender status %+v %v", u, err)
	}
	for s, want := range map[string]time.Duration{"": usage.DefaultRetention, "0": 0, "40d": 40 * 24 * time.Hour, "960h": 960 * time.Hour} {
		if d, err := usage.ParseRetention(s); err != nil || d != want {
			t.Errorf("ParseRetention(%q) = %v %v", s, d, err)
		}
	}
	if _, err := usage.ParseRetention("forever"); err == nil {
		t.Error("ParseRetention accepted forever")
	}
}

// Usage dated before the current period of the customer's subscription to
// its meter (a period already invoiced) is sent and flagged late.
func TestSenderFlagsUsageOfAnInvoicedPeriodLate(t *testing.T) {
	t.Parallel()
	r := newRig(t, 0)
	r.mapCustomer("u_1", "cus_A")
	ctx := context.Background()
	meters, err := r.st.ActiveMeters(ctx, vocab.Test)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	raw := func(m map[string]any) []json.RawMessage { b, _ := json.Marshal(m); return []json.RawMessage{b} }
	for _, o := range []struct {
		kind vocab.Kind
		obj  map[string]any
	}{
		{vocab.Products, map[string]any{"id": "prod_T", "object": "product", "name": "Tokens", "active": true, "created": 1718900000}},
		{vocab.Prices, map[string]any{"id": "price_T", "object": "price", "product": "prod_T", "currency": "usd", "active": true, "created": 1718900000,
			"type": "recurring", "unit_amount": 1, "recurring": map[string]any{"interval": "month", "interval_count": 1, "usage_type": "metered", "meter": meters["api_tokens"].ID}}},
		{vocab.Subscriptions, map[string]any{"id": "sub_T", "object": "subscription", "customer": "cus_A", "status": "active", "currency": "usd", "created": 1718900000,
			"current_period_start": now.Add(-24 * time.Hour).Unix(), "current_period_end": now.Add(24 * time.Hour).Unix(),
			"items": map[string]any{"data": []any{map[string]any{"id": "si_T", "price": map[string]any{"id": "price_T"}}}}}},
	} {
		if _, err := r.st.Upsert(ctx, vocab.Test, o.kind, raw(o.obj), now); err != nil {
			t.Fatal(err)
		}
	}
	r.ingest(ev("api_tokens", "u_1", 3, now.Add(-48*time.Hour), "old"), ev("api_tokens", "u_1", 4, now.Add(-time.Hour), "current"),
		ev("api_calls", "u_1", 1, now.Add(-48*time.Hour), "other-meter"))
	r.drain(r.sender())
	var late []string
	rows, _ := r.st.Pool().Query(ctx, `SELECT identifier FROM payments.usage_events WHERE status = 'late'`)
	for rows.Next() {
		var id string
		rows.Scan(&id) //nolint:errcheck
		late = append(late, id)
	}
	if fmt.Sprint(late) != "[old]" {
		t.Fatalf("late events %v, want [old]", late)
	}
	if st := r.statuses(); st["sent"] != 2 {
		t.Fatalf("statuses %v", st)
	}
}

// The daily reconciliation compares what was sent, per meter and
// customer, with Stripe's event summaries of the day, and
// get_payments_status reports a difference.
func TestReconcileReportsDifferences(t *testing.T) {
	t.Parallel()
	r := newRig(t, 0)
	r.mapCustomer("u_1", "cus_A")
	r.mapCustomer("u_2", "cus_B")
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	r.ingest(ev("api_tokens", "u_1", 7, day.Add(time.Hour), "a"), ev("api_tokens", "u_2", 5, day.Add(2*time.Hour), "b"),
		ev("api_calls", "u_1", 40, day.Add(3*time.Hour), "c"), ev("api_calls", "u_1", 40, day.Add(4*time.Hour), "d"))
	s := r.sender()
	r.drain(s)
	ctx := context.Background()
	n, err := s.Reconcile(ctx, vocab.Test, day)
	if err != nil || n != 3 {
		t.Fatalf("reconciled %d pairs (%v)", n, err)
	}
	u, err := r.st.UsageSender(ctx, vocab.Test)
	if err != nil || u.Reconciliation == nil || u.Reconciliation.Checked != 3 || u.Reconciliation.Differences != 0 {
		t.Fatalf("reconciliation %+v %v", u, err)
	}
	// A sent meter event Stripe does not have (say, sent from a restored backup).
	if _, err := r.st.Pool().Exec(ctx, `INSERT INTO payments.usage_buckets (env, identifier, bucket_key, seq, meter_id, event_name, customer_id, event_time, value, status)
		SELECT 'test', 'bw_ghost', 'ghost', 0, id, 'api_tokens', 'cus_B', $1, 3, 'sent' FROM payments.meters WHERE event_name = 'api_tokens'`, day.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reconcile(ctx, vocab.Test, day); err != nil {
		t.Fatal(err)
	}
	st, err := billing.New(billing.Static(r.st), stripeapi.Options{}, zerolog.Nop()).Status(ctx, []vocab.Env{vocab.Test})
	if err != nil {
		t.Fatal(err)
	}
	rec := st[0].UsageSender.Reconciliation
	if rec.Differences != 1 || len(rec.Examples) != 1 || rec.Examples[0].CustomerID != "cus_B" || rec.Examples[0].BillwireTotal != 8 || rec.Examples[0].StripeTotal != 5 {
		t.Fatalf("reconciliation %+v", rec)
	}
	if !strings.Contains(st[0].NextStep, "differ") {
		t.Fatalf("next step %q", st[0].NextStep)
	}
}
