package runtime_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// Inside billwire serve, a replay (from the dashboard, or the MCP server
// beside it) runs through serve's one processor, and so keeps its
// per-customer ordering: once that processor stops, the replay is refused
// as shutting down rather than committed beside it by another.
func TestReplayInsideServeUsesServesProcessor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	for _, id := range []string{"evt_replay_1", "evt_replay_2"} {
		e := eventfixtures.MustEvent(t, "customer.created", eventfixtures.Options{ID: id})
		if _, err := st.Pool().Exec(ctx, `INSERT INTO payments.webhook_events (env, id, type, created, object_id, status, attempts, payload)
			VALUES ('test', $1, 'customer.created', now(), 'cus_Fixture1', 'parked', 5, $2)`, id, string(e)); err != nil {
			t.Fatal(err)
		}
	}
	log := zerolog.Nop()
	svc := billing.New(billing.Static(st), stripeapi.Options{}, log)
	t.Cleanup(svc.Close)
	srv, err := runtime.New(st, svc, log, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := svc.Replay(ctx, vocab.Test, "evt_replay_1"); err != nil || res.Status != string(webhooks.Processed) {
		t.Fatalf("replay while serve runs = %+v, %v", res, err)
	}
	srv.Processor().Close()
	if res, err := svc.Replay(ctx, vocab.Test, "evt_replay_2"); !errors.Is(err, webhooks.ErrClosed) {
		t.Fatalf("replay after serve's processor stopped = %+v, %v; want %v", res, err, webhooks.ErrClosed)
	}
}
