package usage_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/pgcluster"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/usage"
	"github.com/billwire/billwire/internal/vocab"
)

// PostgreSQL crashes (stop -m immediate) under ingest: every batch the
// intake accepted (the route's 202) is still there afterwards, the app's
// retries of the others count nothing twice, and Stripe's total per
// customer is the sum accepted, sent by two senders at once.
func TestDatabaseCrashUnderIngest(t *testing.T) {
	t.Parallel()
	cluster := pgcluster.Start(t)
	st, err := store.Open(context.Background(), cluster.DSN("postgres"), storetest.MasterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	r := rigOn(t, st, fake)
	r.mapCustomer("u_1", "cus_A")
	r.mapCustomer("u_2", "cus_B")

	const workers, batches, size = 6, 240, 50
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	batch := func(i int) []usage.Event {
		evs := make([]usage.Event, size)
		for k := range evs {
			evs[k] = ev("api_tokens", fmt.Sprint("u_", 1+(i+k)%2), float64(k%5+1), base.Add(time.Duration(i%7)*time.Minute), fmt.Sprintf("b%d-%d", i, k))
		}
		return evs
	}
	acked := make([]atomic.Bool, batches)
	var nAcked atomic.Int64
	crashed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < batches; i += workers {
				res, err := r.in.Ingest(context.Background(), vocab.Test, "key_1", "", &usage.Request{Events: batch(i)})
				if err == nil && res.Accepted == size {
					acked[i].Store(true)
					if nAcked.Add(1) == 40 {
						once.Do(func() { close(crashed) })
					}
				}
			}
		}()
	}
	select {
	case <-crashed:
	case <-time.After(60 * time.Second):
		t.Fatal("ingest never reached 40 accepted batches")
	}
	cluster.StopImmediate(t)
	time.Sleep(300 * time.Millisecond) // requests fail while the database is down
	cluster.Start(t)
	wg.Wait()
	st.Pool().Reset()
	failed := batches - int(nAcked.Load())
	if failed == 0 {
		t.Fatal("no batch failed during the crash: the test proves nothing")
	}
	// Every accepted batch survived: retrying it finds only duplicates.
	// The app retries the rest until they are taken.
	want := map[string]float64{}
	for i := range batches {
		var res *usage.Result
		for try := 0; try < 100; try++ {
			if res, err = r.in.Ingest(context.Background(), vocab.Test, "key_1", "", &usage.Request{Events: batch(i)}); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("batch %d never succeeded after recovery: %v", i, err)
		}
		if acked[i].Load() && res.Duplicates != size {
			t.Fatalf("batch %d was accepted before the crash, but its retry answered %+v", i, res)
		}
		if res.Accepted+res.Duplicates != size {
			t.Fatalf("batch %d retry answered %+v", i, res)
		}
		for _, e := range batch(i) {
			var v float64
			fmt.Sscan(string(e.Value), &v)
			want[map[string]string{"u_1": "cus_A", "u_2": "cus_B"}[e.Subject.ID]] += v
		}
	}
	r.drain(r.sender(), r.sender())
	for cus, v := range want {
		if got := fake.MeterTotal(testKey, "api_tokens", cus); got != v {
			t.Errorf("Stripe counts %v for %s, accepted %v", got, cus, v)
		}
	}
	if _, dups := fake.MeterEventIdentifiers(testKey); dups != 0 {
		t.Fatalf("%d meter events sent twice", dups)
	}
	t.Logf("%d batches accepted before the crash, %d retried after it", nAcked.Load(), failed)
}

// rigOn is newRig on an open store and fake.
func rigOn(t *testing.T, st *store.Store, fake *stripetest.Fake) *rig {
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000}, zerolog.Nop())
	ctx := context.Background()
	if _, err := svc.ConfigureKey(ctx, vocab.Test, testKey, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateMeter(ctx, vocab.Test, billing.MeterInput{EventName: "api_tokens", DisplayName: "Tokens"}); err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, st: st, fake: fake, in: usage.NewIntake(st)}
}
