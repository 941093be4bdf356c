package runtime_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
)

// billwire serve prunes the ledger in the background from its start: the
// payload of a processed event older than the retention goes, a newer
// one's stays, and the pruner stops with the server.
func TestServePrunesOldPayloadsInTheBackground(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	if _, err := st.Pool().Exec(ctx, `INSERT INTO payments.webhook_events (env, id, type, created, status, attempts, received_at, payload)
		VALUES ('test', 'evt_old', 'customer.created', now(), 'processed', 1, now() - interval '2 hours', '{"id": "evt_old"}'),
		       ('test', 'evt_new', 'customer.created', now(), 'processed', 1, now() - interval '30 minutes', '{"id": "evt_new"}')`); err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	svc := billing.New(billing.Static(st), stripeapi.Options{}, log)
	srv, err := runtime.New(st, svc, log, runtime.Options{EventRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	kept := func(id string) bool {
		var k bool
		if err := st.Pool().QueryRow(ctx, `SELECT payload IS NOT NULL FROM payments.webhook_events WHERE id = $1`, id).Scan(&k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	deadline := time.Now().Add(10 * time.Second)
	for kept("evt_old") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if kept("evt_old") || !kept("evt_new") {
		t.Fatalf("after serve started: evt_old kept %v, evt_new kept %v", kept("evt_old"), kept("evt_new"))
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(35 * time.Second):
		t.Fatal("serve did not stop")
	}
}
