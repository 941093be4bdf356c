package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/billwire/billwire/internal/store/storetest"
)

const secret = "whsec_cmd_test"

func noEnv(string) string { return "" }

// endpoint verifies signatures with stripe-go and counts event ids; status
// answers every request.
func endpoint(t *testing.T, status int) (*httptest.Server, map[string]int, *sync.Mutex) {
	seen := map[string]int{}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), secret, webhook.ConstructEventOptions{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[ev.ID]++
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, seen, &mu
}

func TestLoadgen(t *testing.T) {
	srv, seen, mu := endpoint(t, http.StatusOK)
	out := filepath.Join(t.TempDir(), "summary.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{
		"--url", srv.URL + "/webhooks/stripe/test", "--secret", secret, "--events", "300", "--concurrency", "4",
		"--duplicates", "0.1", "--shuffle", "--customers", "30", "--seed", "4", "--out", out,
	}, &stdout, &stderr, noEnv)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"sending 330 events (300 distinct, 30 duplicates)", "sent 330 events", "events/s", "2xx: 330  non-2xx: 0  errors: 0  (200: 330)", "p50", "p99"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if !s.Complete || s.Result.OK != 330 || s.Expected.Sends != 330 || s.Expected.DistinctEventIDs != 300 ||
		len(s.Expected.Subscriptions) == 0 || len(s.Expected.Payments) == 0 || s.Expected.SubscriptionStatuses["active"] == 0 {
		t.Errorf("summary %s", b)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 300 {
		t.Errorf("the endpoint saw %d distinct events", len(seen))
	}
}

func TestLoadgenFailures(t *testing.T) {
	srv, _, _ := endpoint(t, http.StatusInternalServerError)
	var stdout, stderr bytes.Buffer
	// The secret from the environment.
	env := func(k string) string {
		if k == "BILLWIRE_LOADGEN_SECRET" {
			return secret
		}
		return ""
	}
	code := run(context.Background(), []string{"--url", srv.URL, "--events", "20", "--customers", "5"}, &stdout, &stderr, env)
	if code != 1 || !strings.Contains(stdout.String(), "non-2xx: 20") || !strings.Contains(stderr.String(), "HTTP 500") {
		t.Errorf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}

func TestLoadgenUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--url", "http://127.0.0.1:1/"},
		{"--url", "http://example.com/webhooks/stripe/test", "--secret", secret},
		{"--url", "http://127.0.0.1:1/", "--secret", secret, "--duplicates", "2"},
		{"--url", "http://127.0.0.1:1/", "--secret", secret, "--events", "0"},
		{"--url", "http://127.0.0.1:1/", "--secret", secret, "extra"},
		{"--bogus"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr, noEnv); code != 2 || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr, noEnv); code != 0 || !strings.Contains(stderr.String(), "--duplicates") {
		t.Errorf("--help: exit %d\n%s", code, stderr.String())
	}
}

// An endpoint that answers 2xx but projects nothing fails the database check.
func TestLoadgenChecksTheDatabase(t *testing.T) {
	srv, _, _ := endpoint(t, http.StatusOK)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--url", srv.URL + "/webhooks/stripe/test", "--secret", secret, "--events", "40",
		"--customers", "5", "--check-database", storetest.DSN(t)}, &stdout, &stderr, noEnv)
	if code != 1 || !strings.Contains(stderr.String(), "database differs: ledger: processed missing, want 40") ||
		strings.Contains(stdout.String(), "database checked") {
		t.Errorf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}
