package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

const month = 30 * 24 * time.Hour

// ignoredEvent is an event of a type billwire does not project.
func (r *rig) ignoredEvent(id string) []byte {
	e := r.event("customer.created", eventfixtures.Options{ID: id})
	return bytes.Replace(e, []byte(`"type":"customer.created"`), []byte(`"type":"customer.tax_id.created"`), 1)
}

// payloadKept reports whether the ledger still holds event id's payload.
func (r *rig) payloadKept(id string) bool {
	r.t.Helper()
	return r.one(`SELECT payload IS NOT NULL FROM payments.webhook_events WHERE id = $1`, id).(bool)
}

// age moves events' reception back by d, as if they had arrived then.
func (r *rig) age(d time.Duration, ids ...string) {
	r.t.Helper()
	tag, err := r.st.Pool().Exec(context.Background(),
		`UPDATE payments.webhook_events SET received_at = received_at - make_interval(secs => $1) WHERE id = ANY($2)`, d.Seconds(), ids)
	if err != nil || tag.RowsAffected() != int64(len(ids)) {
		r.t.Fatalf("age %v: %v, %d rows", ids, err, tag.RowsAffected())
	}
}

func (r *rig) pruner(retention time.Duration, o webhooks.PrunerOptions) *webhooks.Pruner {
	if o.Pause == 0 {
		o.Pause = time.Millisecond
	}
	return webhooks.NewPruner(r.st, retention, zerolog.Nop(), o)
}

// An ignored type is recorded with its id, type and times but no payload,
// through the batch path and the one-event path alike; a duplicate is
// still a 2xx no-op.
func TestIgnoredEventIsStoredWithoutPayload(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if body := r.mustSend(r.ignoredEvent("evt_ignored_1")); !strings.Contains(body, `"ignored"`) {
		t.Fatalf("ignored type: %s", body)
	}
	if got := r.one(`SELECT status || ' ' || type || ' ' || (created IS NOT NULL) || ' ' || (received_at IS NOT NULL)
		FROM payments.webhook_events WHERE id = 'evt_ignored_1'`); got != "ignored customer.tax_id.created true true" {
		t.Fatalf("ledger row = %v", got)
	}
	if r.payloadKept("evt_ignored_1") {
		t.Fatal("an ignored event's payload was stored")
	}
	for range 2 {
		if body := r.mustSend(r.ignoredEvent("evt_ignored_1")); !strings.Contains(body, `"duplicate"`) {
			t.Fatalf("duplicate of an ignored event: %s", body)
		}
	}
	if n := r.count("webhook_events", "id = 'evt_ignored_1'"); n != 1 {
		t.Fatalf("%d rows for one ignored event", n)
	}
	// The one-event path (a forced claim, as replays make) writes no payload either.
	e, err := webhooks.ParseEvent(r.ignoredEvent("evt_ignored_2"))
	if err != nil {
		t.Fatal(err)
	}
	proc := webhooks.NewProcessor(r.st, r.svc, zerolog.Nop(), webhooks.Options{})
	defer proc.Close()
	if st, err := proc.Process(context.Background(), vocab.Test, e, "replay", true); err != nil || st != webhooks.Ignored {
		t.Fatalf("forced ignored event: %v %v", st, err)
	}
	if r.payloadKept("evt_ignored_2") {
		t.Fatal("the one-event path stored an ignored event's payload")
	}
	// A projected type keeps its payload.
	r.mustSend(r.event("customer.created", eventfixtures.Options{ID: "evt_kept"}))
	if !r.payloadKept("evt_kept") {
		t.Fatal("a processed event's payload was not stored")
	}
	// The list shows which events still carry their payload.
	page, err := r.svc.ListWebhookEvents(context.Background(), vocab.Test, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, e := range page.Events {
		kept[e.ID] = e.PayloadKept
	}
	if !kept["evt_kept"] || kept["evt_ignored_1"] || len(kept) != 3 {
		t.Fatalf("payload_kept in the list = %v", kept)
	}
}

// poisonEvent cannot be projected (a price without a product).
func (r *rig) poisonEvent(id string) []byte {
	return r.event("price.created", eventfixtures.Options{ID: id, Object: map[string]any{"id": "price_" + id, "product": nil}})
}

// The pruner drops the payloads of processed events older than the
// retention, and of ignored ones recorded with a payload before this
// release; newer events, failed and parked ones keep theirs, and every row
// stays, so a duplicate of a pruned event is still a no-op.
func TestPrunerDropsOnlyOldProcessedPayloads(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	for i := range 5 {
		r.mustSend(r.event("customer.created", eventfixtures.Options{ID: fmt.Sprintf("evt_old_%d", i),
			Object: map[string]any{"id": fmt.Sprintf("cus_old_%d", i)}}))
	}
	r.mustSend(r.event("customer.created", eventfixtures.Options{ID: "evt_new", Object: map[string]any{"id": "cus_new"}}))
	r.mustSend(r.event("customer.created", eventfixtures.Options{ID: "evt_almost", Object: map[string]any{"id": "cus_almost"}}))
	// failed once; parked after three attempts (the rig's MaxAttempts)
	if code, _ := r.send(r.poisonEvent("evt_failed")); code != 500 {
		t.Fatalf("poison answered %d", code)
	}
	for range 3 {
		r.send(r.poisonEvent("evt_parked"))
	}
	if got := r.one(`SELECT string_agg(id || ' ' || status, ', ' ORDER BY id) FROM payments.webhook_events WHERE status IN ('failed', 'parked')`); got != "evt_failed failed, evt_parked parked" {
		t.Fatalf("failing events = %v", got)
	}
	// An ignored event recorded with its payload by an earlier version.
	if _, err := r.st.Pool().Exec(ctx, `INSERT INTO payments.webhook_events (env, id, type, created, status, attempts, payload)
		VALUES ('test', 'evt_legacy_ignored', 'customer.tax_id.created', now(), 'ignored', 1, '{"id": "evt_legacy_ignored"}')`); err != nil {
		t.Fatal(err)
	}
	old := []string{"evt_old_0", "evt_old_1", "evt_old_2", "evt_old_3", "evt_old_4", "evt_failed", "evt_parked", "evt_legacy_ignored"}
	r.age(month+time.Hour, old...)
	r.age(month-time.Hour, "evt_almost")

	// Retention 0 keeps everything.
	if n, err := r.pruner(0, webhooks.PrunerOptions{}).Prune(ctx); err != nil || n != 0 {
		t.Fatalf("retention 0 pruned %d, %v", n, err)
	}
	for _, id := range append(old, "evt_new", "evt_almost") {
		if !r.payloadKept(id) {
			t.Fatalf("retention 0 pruned %s", id)
		}
	}

	// Batches of two: one pass takes all six, batch after batch.
	n, err := r.pruner(month, webhooks.PrunerOptions{Batch: 2}).Prune(ctx)
	if err != nil || n != 6 {
		t.Fatalf("pruned %d, %v; want 6", n, err)
	}
	for _, id := range []string{"evt_old_0", "evt_old_1", "evt_old_2", "evt_old_3", "evt_old_4", "evt_legacy_ignored"} {
		if r.payloadKept(id) {
			t.Errorf("%s kept its payload past the retention", id)
		}
	}
	for _, id := range []string{"evt_new", "evt_almost", "evt_failed", "evt_parked"} {
		if !r.payloadKept(id) {
			t.Errorf("%s lost its payload", id)
		}
	}
	if n := r.count("webhook_events", ""); n != 10 {
		t.Fatalf("the ledger has %d rows after pruning, want all 10", n)
	}
	// Nothing left to do: a second pass prunes nothing.
	if n, err := r.pruner(month, webhooks.PrunerOptions{}).Prune(ctx); err != nil || n != 0 {
		t.Fatalf("second pass pruned %d, %v", n, err)
	}
	// Deduplication is by the row, which stays.
	if body := r.mustSend(r.event("customer.created", eventfixtures.Options{ID: "evt_old_0", Object: map[string]any{"id": "cus_old_0"}})); !strings.Contains(body, `"duplicate"`) {
		t.Fatalf("duplicate of a pruned event: %s", body)
	}
	// A parked event keeps its payload for the replay that resolves it.
	if res, err := r.svc.Replay(ctx, vocab.Test, "evt_parked"); err != nil || res.Refetched || res.Status != "parked" {
		t.Fatalf("replay of the parked event: %+v, %v", res, err)
	}
}

// A row that another transaction holds locked (a webhook batch claiming a
// duplicate of it, a replay) is skipped, not waited for: the pass ends at
// once, and the next one takes the row.
func TestPrunerSkipsLockedRowsInsteadOfWaiting(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	ids := []string{"evt_lock_0", "evt_lock_1", "evt_lock_2"}
	for i, id := range ids {
		r.mustSend(r.event("customer.created", eventfixtures.Options{ID: id, Object: map[string]any{"id": fmt.Sprintf("cus_lock_%d", i)}}))
	}
	r.age(2*month, ids...)
	tx, err := r.st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	// The lock a webhook batch takes on a recorded event it sees again.
	if _, err := tx.Exec(ctx, `INSERT INTO payments.webhook_events AS w (env, id, type, created, status, attempts, payload)
		VALUES ('test', 'evt_lock_1', 'customer.created', now(), 'processed', 1, '{}')
		ON CONFLICT (id, env) DO UPDATE SET attempts = w.attempts + 1 WHERE w.status = 'failed'`); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	n, err := r.pruner(month, webhooks.PrunerOptions{}).Prune(pctx)
	if took := time.Since(start); err != nil || n != 2 || took > 3*time.Second {
		t.Fatalf("pruning beside a locked row: %d, %v after %v; want 2 at once", n, err, took)
	}
	if !r.payloadKept("evt_lock_1") || r.payloadKept("evt_lock_0") || r.payloadKept("evt_lock_2") {
		t.Fatal("the locked row was pruned, or its neighbours were not")
	}
	// Meanwhile the webhook path is not held up by the pruner either.
	if body := r.mustSend(r.event("customer.created", eventfixtures.Options{ID: "evt_lock_0", Object: map[string]any{"id": "cus_lock_0"}})); !strings.Contains(body, `"duplicate"`) {
		t.Fatalf("duplicate: %s", body)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := r.pruner(month, webhooks.PrunerOptions{}).Prune(ctx); err != nil || n != 1 || r.payloadKept("evt_lock_1") {
		t.Fatalf("after the lock: pruned %d, %v", n, err)
	}
}

// Several replicas pruning at once share the work: each payload goes once,
// none waits for another, none fails.
func TestPrunersOnSeveralReplicas(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.st.Pool().Exec(ctx, `INSERT INTO payments.webhook_events (env, id, type, created, status, attempts, received_at, payload)
		SELECT 'test', 'evt_many_' || i, 'customer.created', now(), 'processed', 1, now() - interval '40 days' + i * interval '1 second',
			'{"id": "x"}' FROM generate_series(1, 3000) i`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := r.pruner(month, webhooks.PrunerOptions{Batch: 100}).Prune(ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	// A pass that met a batch short of rows another replica held may stop
	// early; the next pass finishes the work.
	n, err := r.pruner(month, webhooks.PrunerOptions{}).Prune(ctx)
	if err != nil || total+n != 3000 {
		t.Fatalf("replicas pruned %d, then %d more (%v); want 3000 in all", total, n, err)
	}
	if left := r.count("webhook_events", "payload IS NOT NULL"); left != 0 {
		t.Fatalf("%d payloads left", left)
	}
}

// A pruned event is replayed from Stripe's copy (GET /v1/events/{id}),
// which is what gets projected; one Stripe no longer has gives an error
// that says so and what to do instead.
func TestReplayOfPrunedEventRefetchesFromStripe(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	paid := r.event("invoice.paid", eventfixtures.Options{ID: "evt_paid_pruned"})
	r.mustSend(paid)
	r.mustSend(r.event("invoice.paid", eventfixtures.Options{ID: "evt_gone", Replace: map[string]string{"in_Fixture1": "in_Gone",
		"pi_Fixture1": "pi_Gone"}}))
	r.age(2*month, "evt_paid_pruned", "evt_gone")
	if n, err := r.pruner(month, webhooks.PrunerOptions{}).Prune(ctx); err != nil || n != 2 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if got := r.one(`SELECT amount FROM payments.payment_history WHERE key = 'pi_Fixture1'`); got != int64(2000) {
		t.Fatalf("amount before replay = %v", got)
	}
	// Stripe's copy: what Stripe serves for the event now (here with
	// another amount, to tell which one was projected).
	stripeCopy := r.event("invoice.paid", eventfixtures.Options{ID: "evt_paid_pruned", Object: map[string]any{"amount_paid": 2500}})
	r.fake.AddEvent(testKey, stripeCopy)
	// The copy ties with the stored invoice (same second, other data): the
	// replay re-fetches the invoice, which Stripe now has as in the copy.
	var ev struct {
		Data struct{ Object json.RawMessage }
	}
	if err := json.Unmarshal(stripeCopy, &ev); err != nil {
		t.Fatal(err)
	}
	r.fake.PutObject(testKey, ev.Data.Object)
	res, err := r.svc.Replay(ctx, vocab.Test, "evt_paid_pruned")
	if err != nil || !res.Refetched || res.Was != "processed" || res.Status != "processed" {
		t.Fatalf("replay of a pruned event = %+v, %v", res, err)
	}
	if got := r.one(`SELECT amount FROM payments.payment_history WHERE key = 'pi_Fixture1'`); got != int64(2500) {
		t.Fatalf("amount after replay = %v: Stripe's copy was not projected", got)
	}
	fetched := 0
	for _, q := range r.fake.Requests() {
		if q.Method == "GET" && q.Path == "/v1/events/evt_paid_pruned" {
			fetched++
		}
	}
	if fetched != 1 {
		t.Fatalf("GET /v1/events/evt_paid_pruned made %d times", fetched)
	}
	// Stripe keeps events 30 days: this one is gone there too.
	_, err = r.svc.Replay(ctx, vocab.Test, "evt_gone")
	if err == nil || !fault.Is(err, fault.Invalid) {
		t.Fatalf("replay of an event Stripe no longer has: %v", err)
	}
	for _, want := range []string{"evt_gone", "pruned", "Stripe no longer has", webhooks.RetentionEnv, "sync_catalog", "billwire sync --env test"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if got := r.one(`SELECT status || ' ' || attempts FROM payments.webhook_events WHERE id = 'evt_gone'`); got != "processed 1" {
		t.Fatalf("the failed replay changed the ledger: %v", got)
	}
	// An ignored event has nothing to project: no Stripe call.
	r.mustSend(r.ignoredEvent("evt_ignored_replay"))
	before := len(r.fake.Requests())
	if res, err := r.svc.Replay(ctx, vocab.Test, "evt_ignored_replay"); err != nil || res.Status != "ignored" {
		t.Fatalf("replay of an ignored event = %+v, %v", res, err)
	}
	if len(r.fake.Requests()) != before {
		t.Fatal("replaying an ignored event called Stripe")
	}
}

func TestParseRetention(t *testing.T) {
	t.Parallel()
	good := map[string]time.Duration{
		"": month, "0": 0, "0s": 0, "0d": 0, "720h": 720 * time.Hour, "30d": month, " 7d ": 7 * 24 * time.Hour,
		"90m": 90 * time.Minute, "1h30m": 90 * time.Minute,
	}
	for in, want := range good {
		if got, err := webhooks.ParseRetention(in); err != nil || got != want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"30", "-1h", "-3d", "1.5d", "d", "30D", "thirty days", "30 d", "1w", "99999999d", "1e3h"} {
		_, err := webhooks.ParseRetention(in)
		if err == nil || !strings.Contains(err.Error(), webhooks.RetentionEnv) || !strings.Contains(err.Error(), "30d") {
			t.Errorf("ParseRetention(%q): %v; want an error naming %s and the forms", in, err, webhooks.RetentionEnv)
		}
	}
}

// A pruned event whose copy from Stripe fails to project is failed again,
// and keeps that copy for the replays that resolve it.
func TestPrunedEventThatFailsOnReplayKeepsStripesCopy(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	r.mustSend(r.event("product.created", eventfixtures.Options{}))
	r.mustSend(r.event("price.created", eventfixtures.Options{ID: "evt_price_pruned"}))
	r.age(2*month, "evt_price_pruned")
	if n, err := r.pruner(month, webhooks.PrunerOptions{}).Prune(ctx); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	// Stripe's copy is about the recorded price (another would be refused), and cannot be projected.
	r.fake.AddEvent(testKey, r.event("price.created", eventfixtures.Options{ID: "evt_price_pruned", Object: map[string]any{"product": nil}}))
	res, err := r.svc.Replay(ctx, vocab.Test, "evt_price_pruned")
	if err != nil || !res.Refetched || res.Status != "failed" {
		t.Fatalf("replay = %+v, %v", res, err)
	}
	if !r.payloadKept("evt_price_pruned") {
		t.Fatal("the failed event did not keep Stripe's copy")
	}
	if n, err := r.pruner(month, webhooks.PrunerOptions{}).Prune(ctx); err != nil || n != 0 || !r.payloadKept("evt_price_pruned") {
		t.Fatalf("the pruner took a failed event's payload: %d, %v", n, err)
	}
}

// A pruned event is replayed from Stripe's copy only when that copy is the
// event the ledger recorded: another type or another object under the same
// id is refused with an error that says so, and nothing is projected.
func TestReplayOfPrunedEventRefusesAnotherEventFromStripe(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	r.mustSend(r.event("invoice.paid", eventfixtures.Options{ID: "evt_type_swapped"}))
	r.mustSend(r.event("invoice.paid", eventfixtures.Options{ID: "evt_object_swapped", Replace: map[string]string{
		"in_Fixture1": "in_Mine", "pi_Fixture1": "pi_Mine"}}))
	r.age(2*month, "evt_type_swapped", "evt_object_swapped")
	if n, err := r.pruner(month, webhooks.PrunerOptions{}).Prune(ctx); err != nil || n != 2 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	ledger := func() any {
		return r.one(`SELECT string_agg(id || ' ' || status || ' ' || attempts || ' ' || (payload IS NOT NULL), ', ' ORDER BY id)
			FROM payments.webhook_events`)
	}
	payments := func() any {
		return r.one(`SELECT string_agg(key || ' ' || status || ' ' || amount, ', ' ORDER BY key) FROM payments.payment_history`)
	}
	ledgerBefore, paymentsBefore := ledger(), payments()
	// Stripe answers, under the recorded ids, an event of another type, and
	// one about another invoice (with another amount, to tell if it landed).
	r.fake.AddEvent(testKey, r.event("invoice.payment_failed", eventfixtures.Options{ID: "evt_type_swapped"}))
	r.fake.AddEvent(testKey, r.event("invoice.paid", eventfixtures.Options{ID: "evt_object_swapped",
		Object: map[string]any{"amount_paid": 9900}, Replace: map[string]string{"in_Fixture1": "in_Other", "pi_Fixture1": "pi_Other"}}))
	for id, want := range map[string][]string{
		"evt_type_swapped":   {"evt_type_swapped", "invoice.paid", "invoice.payment_failed"},
		"evt_object_swapped": {"evt_object_swapped", "in_Mine", "in_Other"},
	} {
		res, err := r.svc.Replay(ctx, vocab.Test, id)
		if err == nil {
			t.Fatalf("replay of %s with another event from Stripe = %+v", id, res)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("replay of %s: error %q does not say %q", id, err, w)
			}
		}
	}
	if got := ledger(); got != ledgerBefore {
		t.Fatalf("the refused replays changed the ledger:\n%v\nwas\n%v", got, ledgerBefore)
	}
	if got := payments(); got != paymentsBefore {
		t.Fatalf("the refused replays projected:\n%v\nwas\n%v", got, paymentsBefore)
	}
}
