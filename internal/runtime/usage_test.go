package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/usage"
	"github.com/billwire/billwire/internal/vocab"
)

const usagePath = "/api/payments/test/usage"

// seedMeter mirrors an active meter of env for event name.
func seedMeter(t testing.TB, st *store.Store, env vocab.Env, id, name, formula string) {
	t.Helper()
	m, _ := json.Marshal(map[string]any{"id": id, "object": "billing.meter", "event_name": name, "display_name": name, "status": "active",
		"livemode": env == vocab.Live, "created": 1718900000, "default_aggregation": map[string]any{"formula": formula},
		"customer_mapping": map[string]any{"event_payload_key": "stripe_customer_id", "type": "by_id"}, "value_settings": map[string]any{"event_payload_key": "value"}})
	if err := st.UpsertMeters(context.Background(), env, []json.RawMessage{m}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func usageEvent(id string, value any, extra ...any) map[string]any {
	e := map[string]any{"event_name": "api_tokens", "subject": user("u_1"), "value": value}
	if id != "" {
		e["identifier"] = id
	}
	for i := 0; i+1 < len(extra); i += 2 {
		e[extra[i].(string)] = extra[i+1]
	}
	return e
}

func events(evs ...map[string]any) map[string]any { return map[string]any{"events": evs} }

// storedUsage returns the sum of the values stored and how many events.
func storedUsage(t testing.TB, st *store.Store) (float64, int) {
	t.Helper()
	var sum float64
	var n int
	if err := st.Pool().QueryRow(context.Background(), `SELECT coalesce(sum(value), 0)::float8, count(*) FROM payments.usage_events`).Scan(&sum, &n); err != nil {
		t.Fatal(err)
	}
	return sum, n
}

// Usage comes from the app's backend only: an end user's token (who would
// report less usage than they used, or usage for another subject) is
// refused and nothing is stored; so is an API key of the other
// environment, a body past 1000 events, and an empty one.
func TestUsageIngestRefusesWhatIsNotTheBackend(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	seedMeter(t, r.st, vocab.Test, "mtr_Tokens", "api_tokens", "sum")
	liveKey, lh, hint := auth.NewAPIKey()
	if _, err := r.st.CreateAPIKey(context.Background(), vocab.Live, "live-backend", lh, hint); err != nil {
		t.Fatal(err)
	}
	many := make([]map[string]any, usage.MaxEvents+1)
	for i := range many {
		many[i] = usageEvent(fmt.Sprint("e", i), 1)
	}
	for _, c := range []struct {
		name, bearer string
		body         any
		status       int
		code         string
	}{
		{"user token", token(t, jwt.MapClaims{"sub": "u_1"}), events(usageEvent("a", 1)), 403, "api_key_required"},
		{"no credentials", "", events(usageEvent("a", 1)), 401, "unauthenticated"},
		{"live key on test", liveKey, events(usageEvent("a", 1)), 403, ""},
		{"1001 events", r.apiKey, events(many...), 400, "invalid_batch"},
		{"no events", r.apiKey, events(), 400, "invalid_batch"},
		{"unknown field", r.apiKey, events(usageEvent("a", 1, "customer", "cus_other")), 400, "invalid_json"},
	} {
		res := r.do("POST", usagePath, c.bearer, c.body)
		if res.status != c.status || (c.code != "" && res.body["code"] != c.code) {
			t.Errorf("%s: %d %v, want %d %s", c.name, res.status, res.body, c.status, c.code)
		}
	}
	if _, n := storedUsage(t, r.st); n != 0 {
		t.Fatalf("%d refused events stored", n)
	}
}

// Each bad event is rejected alone with its index and code; the rest of
// the batch is committed before the 202.
func TestUsageIngestRejectsBadEventsAlone(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	seedMeter(t, r.st, vocab.Test, "mtr_Tokens", "api_tokens", "sum")
	seedMeter(t, r.st, vocab.Live, "mtr_LiveOnly", "live_only", "sum")
	now := time.Now()
	body := events(
		usageEvent("ok-1", 1500),
		usageEvent("neg", -1),
		usageEvent("str", "100"),
		usageEvent("huge", json.Number("1e400")),
		map[string]any{"event_name": "live_only", "subject": user("u_1"), "value": 1, "identifier": "other-env"},
		usageEvent("old", 1, "timestamp", now.Add(-35*24*time.Hour).Unix()),
		usageEvent("future", 1, "timestamp", now.Add(10*time.Minute).Unix()),
		usageEvent("badsubject", 1, "subject", map[string]any{"type": "admin", "id": "u_1"}),
		usageEvent(strings.Repeat("x", 101), 1),
		usageEvent("", 1),
		usageEvent("ok-2", 0.5, "timestamp", now.Add(-time.Hour).Format(time.RFC3339)),
		usageEvent("badtime", 1, "timestamp", "yesterday"),
	)
	res := r.do("POST", usagePath, r.apiKey, body)
	if res.status != 202 || res.body["accepted"] != float64(2) || res.body["duplicates"] != float64(0) {
		t.Fatalf("answered %d %v", res.status, res.body)
	}
	want := map[float64]string{1: "invalid_value", 2: "invalid_value", 3: "invalid_value", 4: "unknown_meter", 5: "timestamp_too_old",
		6: "timestamp_in_future", 7: "invalid_subject", 8: "invalid_identifier", 9: "identifier_required", 11: "invalid_timestamp"}
	got := map[float64]string{}
	for _, rj := range res.body["rejected"].([]any) {
		m := rj.(map[string]any)
		got[m["index"].(float64)] = m["code"].(string)
		if m["message"] == "" {
			t.Errorf("rejection without a message: %v", m)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rejected %v, want %v", got, want)
	}
	if sum, n := storedUsage(t, r.st); n != 2 || sum != 1500.5 {
		t.Fatalf("stored %d events summing %v", n, sum)
	}
	var meter, status string
	if err := r.st.Pool().QueryRow(context.Background(), `SELECT meter_id, status FROM payments.usage_events WHERE identifier = 'ok-1'`).Scan(&meter, &status); err != nil || meter != "mtr_Tokens" || status != "pending" {
		t.Fatalf("stored event: %s %s %v", meter, status, err)
	}
}

// A retried event counts once: the same identifier with the same content
// is a duplicate, with other content (a retry that claims less usage) it
// is refused identifier_conflict; events without identifiers get theirs
// from the Idempotency-Key, so a retried request is all duplicates.
func TestUsageIngestCountsRetriesOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	seedMeter(t, r.st, vocab.Test, "mtr_Tokens", "api_tokens", "sum")
	at := time.Now().Add(-time.Minute).Unix()
	first := events(usageEvent("a", 10, "timestamp", at), usageEvent("b", 20))
	if res := r.do("POST", usagePath, r.apiKey, first); res.status != 202 || res.body["accepted"] != float64(2) {
		t.Fatalf("first: %d %v", res.status, res.body)
	}
	// b had no timestamp: its retry is dated later and still the same event.
	again := events(usageEvent("a", 10, "timestamp", at), usageEvent("b", 20), usageEvent("a", 1, "timestamp", at),
		usageEvent("c", 5), usageEvent("c", 5), usageEvent("c", 6))
	res := r.do("POST", usagePath, r.apiKey, again)
	if res.status != 202 || res.body["accepted"] != float64(1) || res.body["duplicates"] != float64(3) {
		t.Fatalf("retry: %d %v", res.status, res.body)
	}
	rej := res.body["rejected"].([]any)
	if len(rej) != 2 || get(rej[0], "code") != "identifier_conflict" || get(rej[1], "code") != "identifier_conflict" {
		t.Fatalf("rejected %v", rej)
	}
	if sum, n := storedUsage(t, r.st); n != 3 || sum != 35 {
		t.Fatalf("stored %d events summing %v", n, sum)
	}

	noIDs := events(usageEvent("", 7), usageEvent("", 7))
	for i, want := range []float64{2, 0} {
		res := r.do("POST", usagePath, r.apiKey, noIDs, "Idempotency-Key", "req-42")
		if res.status != 202 || res.body["accepted"] != want || res.body["duplicates"] != 2-want {
			t.Fatalf("request %d with Idempotency-Key: %d %v", i, res.status, res.body)
		}
	}
	if res := r.do("POST", usagePath, r.apiKey, noIDs, "Idempotency-Key", "req-43"); res.body["accepted"] != float64(2) {
		t.Fatalf("another Idempotency-Key: %v", res.body)
	}
	var n int
	if err := r.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM payments.usage_events WHERE length(identifier) = 43`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d derived identifiers stored (%v)", n, err)
	}
}

func get(v any, key string) any {
	m, _ := v.(map[string]any)
	return m[key]
}

// A meter created while serve runs (create_meter in the MCP process) is
// known to the very next request that names it.
func TestUsageIngestSeesANewMeterAtOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	seedMeter(t, r.st, vocab.Test, "mtr_Tokens", "api_tokens", "sum")
	late := map[string]any{"event_name": "minutes", "subject": user("u_1"), "value": 3, "identifier": "m-1"}
	res := r.do("POST", usagePath, r.apiKey, events(usageEvent("t-1", 1), late))
	if res.body["accepted"] != float64(1) || get(res.body["rejected"].([]any)[0], "code") != "unknown_meter" {
		t.Fatalf("before the meter: %v", res.body)
	}
	seedMeter(t, r.st, vocab.Test, "mtr_Minutes", "minutes", "count")
	if res := r.do("POST", usagePath, r.apiKey, events(late)); res.body["accepted"] != float64(1) {
		t.Fatalf("after the meter: %v", res.body)
	}
}
