package webhooks_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// The meter counts what the receiver answered: a recorded event, its
// duplicate, a forgery (refused), a delivery to an unknown route (not
// counted: it names no environment) and one to live, which has no secret
// (failed, 503); Run flushes it, and the store sums replicas.
func TestMeterCountsAnswersAndFlushes(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	good := r.event("customer.created", eventfixtures.Options{ID: "evt_metered"})
	r.mustSend(good)
	r.mustSend(good)
	if code, _ := r.post("test", good, eventfixtures.Sign(good, "whsec_someoneElsesSecret000", time.Now())); code != http.StatusBadRequest {
		t.Fatalf("forged = %d", code)
	}
	if code, _ := r.post("staging", good, eventfixtures.Sign(good, secret, time.Now())); code != http.StatusNotFound {
		t.Fatalf("unknown env = %d", code)
	}
	if code, _ := r.post("live", good, eventfixtures.Sign(good, secret, time.Now())); code != http.StatusServiceUnavailable {
		t.Fatalf("live without a secret = %d", code)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.meter.Run(ctx, r.st, "replica-a", time.Hour, zerolog.Nop()) }()
	stop() // the last flush happens on the way out
	<-done
	// A second replica's minute adds to the same minute.
	now := time.Now().UTC().Truncate(time.Minute)
	lat := make([]int64, len(store.LatencyBoundsMs)+1)
	lat[3] = 2
	if err := r.st.AddWebhookMinutes(context.Background(), "replica-b", []store.WebhookMinute{{Env: vocab.Test, Minute: now, Accepted: 2, Latency: lat}}); err != nil {
		t.Fatal(err)
	}
	mins, err := r.st.WebhookMinutes(context.Background(), vocab.Test, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var total store.WebhookMinute
	var accepted int64
	for _, m := range mins {
		total.Accepted, total.Duplicate, total.Refused, total.Failed = total.Accepted+m.Accepted, total.Duplicate+m.Duplicate, total.Refused+m.Refused, total.Failed+m.Failed
		for _, n := range m.Latency {
			accepted += n
		}
	}
	if total.Accepted != 3 || total.Duplicate != 1 || total.Refused != 1 || total.Failed != 0 || accepted != 3 {
		t.Errorf("flushed %+v with %d latencies; want 3 accepted (1 + replica b's 2), 1 duplicate, 1 refused, 0 failed, 3 latencies", total, accepted)
	}
	if rows := r.meter.Drain(); len(rows) != 0 {
		t.Errorf("the meter kept %d rows after its flush", len(rows))
	}
	live, err := r.st.WebhookMinutes(context.Background(), vocab.Live, now.Add(-time.Hour))
	if err != nil || len(live) != 1 || live[0].Failed != 1 {
		t.Errorf("live minutes = %+v, %v", live, err)
	}
}
