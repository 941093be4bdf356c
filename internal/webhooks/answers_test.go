package webhooks_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks"
)

// foreignFetcher answers every re-fetch with obj, whatever was asked: a
// misrouted proxy, a mock, or a bug.
type foreignFetcher struct {
	obj     json.RawMessage
	fetched atomic.Int32
}

func (f *foreignFetcher) FetchObject(context.Context, vocab.Env, string) (json.RawMessage, error) {
	f.fetched.Add(1)
	return f.obj, nil
}

// answer posts a signed event to url and decodes the receiver's answer.
func answer(t *testing.T, url string, payload []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/stripe/test", strings.NewReader(string(payload)))
	req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, secret, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// Two states of one subscription in the same second make billwire ask
// Stripe for the current one. An answer about another object (another id,
// another customer) must not be stored: the event fails with a clear error,
// is retried like any failure, and projects nothing; a fetch that answers
// the object asked for is said so (resolved_by fetch).
func TestFetchedObjectMustBeTheEventsObject(t *testing.T) {
	t.Parallel()
	r := newRig(t) // key and secret configured on r.st
	const at = 1_750_000_900
	base := func(id, status string) []byte {
		return r.event("customer.subscription.updated", eventfixtures.Options{ID: "evt_" + id + "_" + status, Created: at,
			Object: map[string]any{"id": "sub_Mine", "status": status, "customer": "cus_Mine"}})
	}
	for _, c := range []struct {
		name    string
		foreign map[string]any
	}{
		{"another subscription", map[string]any{"id": "sub_Other", "object": "subscription", "status": "active", "customer": "cus_Mine"}},
		{"another customer", map[string]any{"id": "sub_Mine", "object": "subscription", "status": "active", "customer": "cus_Other"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ev struct {
				Data struct{ Object json.RawMessage } `json:"data"`
			}
			json.Unmarshal(r.event("customer.subscription.updated", eventfixtures.Options{Object: c.foreign}), &ev)
			ff := &foreignFetcher{obj: ev.Data.Object}
			proc := webhooks.NewProcessor(r.st, ff, zerolog.Nop(), webhooks.Options{MaxAttempts: 3})
			mux := http.NewServeMux()
			mux.Handle("POST /webhooks/stripe/{env}", webhooks.NewReceiver(proc, r.st, zerolog.Nop()))
			srv := httptest.NewServer(mux)
			t.Cleanup(func() { srv.Close(); proc.Close() })
			id := strings.ReplaceAll(c.name, " ", "_")
			if code, a := answer(t, srv.URL, base(id, "canceled")); code != http.StatusOK {
				t.Fatalf("first state: %d %v", code, a)
			}
			code, a := answer(t, srv.URL, base(id, "active"))
			if ff.fetched.Load() == 0 {
				t.Fatal("the same-second state was not re-fetched")
			}
			if code != http.StatusInternalServerError || a["status"] != "failed" {
				t.Fatalf("a foreign fetch answered %d %v, want a failure Stripe retries", code, a)
			}
			if got := r.one(`SELECT last_error FROM payments.webhook_events WHERE id = 'evt_` + id + `_active'`); !strings.Contains(got.(string), "fetched object does not match the event") {
				t.Fatalf("ledger error = %v", got)
			}
			if n := r.count("subscriptions", "id = 'sub_Other' OR customer_id = 'cus_Other'"); n != 0 {
				t.Fatalf("the foreign object was stored (%d rows)", n)
			}
			if got := r.one(`SELECT status FROM payments.subscriptions WHERE id = 'sub_Mine'`); got != "canceled" {
				t.Fatalf("the subscription changed to %v", got)
			}
		})
	}
}

// An event older than the stored state of its object is answered stale and
// recorded so: nothing changed. A same-second pair resolved by a fetch of
// the right object says resolved_by fetch, in the answer and the ledger.
func TestAnswersSayWhatHappened(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	newer := r.event("customer.subscription.updated", eventfixtures.Options{ID: "evt_newer", Created: 1_750_001_000,
		Object: map[string]any{"id": "sub_Ans", "status": "canceled", "customer": "cus_Ans"}})
	older := r.event("customer.subscription.updated", eventfixtures.Options{ID: "evt_older", Created: 1_750_000_000,
		Object: map[string]any{"id": "sub_Ans", "status": "active", "customer": "cus_Ans"}})
	if code, a := answer(t, r.url, newer); code != 200 || a["status"] != "processed" {
		t.Fatalf("newer: %d %v", code, a)
	}
	if code, a := answer(t, r.url, older); code != 200 || a["status"] != "stale" {
		t.Fatalf("older: %d %v, want stale", code, a)
	}
	if got := r.one(`SELECT status FROM payments.webhook_events WHERE id = 'evt_older'`); got != "stale" {
		t.Fatalf("ledger says %v", got)
	}
	if got := r.one(`SELECT status FROM payments.subscriptions WHERE id = 'sub_Ans'`); got != "canceled" {
		t.Fatalf("the stale event changed the subscription to %v", got)
	}
	if code, a := answer(t, r.url, older); code != 200 || a["status"] != "duplicate" {
		t.Fatalf("again: %d %v", code, a)
	}

	// A tie, resolved by fetching the right object from Stripe (the fake).
	const at = 1_750_002_000
	current := r.event("customer.subscription.updated", eventfixtures.Options{Object: map[string]any{"id": "sub_Tie", "status": "past_due", "customer": "cus_Tie"}})
	var env struct {
		Data struct{ Object json.RawMessage } `json:"data"`
	}
	json.Unmarshal(current, &env)
	r.fake.PutObject(testKey, env.Data.Object)
	for i, status := range []string{"active", "unpaid"} {
		e := r.event("customer.subscription.updated", eventfixtures.Options{ID: "evt_tie_" + status, Created: at,
			Object: map[string]any{"id": "sub_Tie", "status": status, "customer": "cus_Tie"}})
		code, a := answer(t, r.url, e)
		if code != 200 || a["status"] != "processed" || (i == 1) != (a["resolved_by"] == "fetch") {
			t.Fatalf("tie %d: %d %v", i, code, a)
		}
	}
	if got := r.one(`SELECT resolved_by FROM payments.webhook_events WHERE id = 'evt_tie_unpaid'`); got != "fetch" {
		t.Fatalf("ledger resolved_by = %v", got)
	}
	if got := r.one(`SELECT status FROM payments.subscriptions WHERE id = 'sub_Tie'`); got != "past_due" {
		t.Fatalf("after the fetch: %v, want what Stripe says", got)
	}
}
