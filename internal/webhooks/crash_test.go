package webhooks_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/pgcluster"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripetest"
)

// PostgreSQL crashes (stop -m immediate) under load: every event answered
// 2xx is still recorded and projected afterwards, and every other one
// succeeds when Stripe retries it.
func TestDatabaseCrashUnderLoad(t *testing.T) {
	t.Parallel()
	cluster := pgcluster.Start(t)
	st, err := store.Open(context.Background(), cluster.DSN("postgres"), storetest.MasterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	r := rigOn(t, st, stripetest.StartFake(t, stripetest.FakeOptions{}), true)

	const workers, perWorker = 6, 120
	events := make([][]byte, workers*perWorker)
	for i := range events {
		events[i] = eventfixtures.MustEvent(t, "invoice.paid", eventfixtures.Options{ID: fmt.Sprintf("evt_crash_%04d", i),
			Object: map[string]any{"id": fmt.Sprintf("in_crash_%04d", i), "payment_intent": fmt.Sprintf("pi_crash_%04d", i)}})
	}
	acked := make([]atomic.Bool, len(events))
	var nAcked atomic.Int64
	crashed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(events); i += workers {
				code, _ := r.sendNoFail(events[i])
				if code == http.StatusOK {
					acked[i].Store(true)
					if nAcked.Add(1) == 150 {
						once.Do(func() { close(crashed) })
					}
				}
			}
		}()
	}
	select {
	case <-crashed:
	case <-time.After(60 * time.Second):
		t.Fatal("load never reached 150 acknowledged events")
	}
	cluster.StopImmediate(t)
	time.Sleep(300 * time.Millisecond) // deliveries fail while the database is down
	cluster.Start(t)
	wg.Wait()
	st.Pool().Reset() // the test's own connections died with the server
	var missing []string
	for i := range events {
		if !acked[i].Load() {
			continue
		}
		id := fmt.Sprintf("evt_crash_%04d", i)
		var n int
		if err := st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM payments.webhook_events e
			JOIN payments.payment_history p ON p.env = e.env AND p.key = $2
			WHERE e.id = $1 AND e.status = 'processed'`, id, fmt.Sprintf("pi_crash_%04d", i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d events answered 2xx are missing after the crash: %v", len(missing), missing)
	}
	failedBefore := len(events) - int(nAcked.Load())
	if failedBefore == 0 {
		t.Fatal("no delivery failed during the crash: the test proves nothing")
	}
	// Stripe retries the rest.
	for i := range events {
		if acked[i].Load() {
			continue
		}
		ok := false
		for try := 0; try < 60 && !ok; try++ { // Stripe retries for days; a loaded machine may need seconds to recover
			code, _ := r.sendNoFail(events[i])
			ok = code == http.StatusOK
			if !ok {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if !ok {
			t.Fatalf("event %d never succeeded after recovery", i)
		}
	}
	if n := r.count("payment_history", ""); n != int64(len(events)) {
		t.Fatalf("%d payments after retries, want %d", n, len(events))
	}
	t.Logf("%d acknowledged before the crash, %d failed and succeeded on retry", nAcked.Load(), failedBefore)
}

// sendNoFail delivers like send but reports a transport error as status 0.
func (r *rig) sendNoFail(payload []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, r.url+"/webhooks/stripe/test", bytesReader(payload))
	req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, secret, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
