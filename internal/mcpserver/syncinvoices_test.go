package mcpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

// fixtureInvoice is the invoice of the invoice.payment_failed fixture with
// id and the fields in set.
func fixtureInvoice(t *testing.T, id string, set map[string]any) []byte {
	t.Helper()
	set["id"] = id
	var ev struct {
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(eventfixtures.MustEvent(t, "invoice.payment_failed", eventfixtures.Options{Object: set}), &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Data.Object
}

// sync_catalog backfills invoices page by page, with the ordering guard of
// the projection: a listing never overwrites a newer state from a webhook.
func TestSyncBackfillsInvoices(t *testing.T) {
	t.Parallel()
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	h := newHarness(t, harnessOpts{base: fake.URL(), rateLimit: 1000})
	h.ok("configure_stripe_keys", map[string]any{"env": "test", "secret_key": testKey})
	ctx := context.Background()
	for i := range 150 { // two pages
		fake.AddInvoice(testKey, fixtureInvoice(t, fmt.Sprintf("in_Backfill%03d", i), map[string]any{"status": "open"}))
	}
	fake.AddInvoice(testKey, fixtureInvoice(t, "in_Newer", map[string]any{"status": "open", "amount_paid": 0}))
	fake.AddInvoice(testKey, fixtureInvoice(t, "in_Older", map[string]any{"status": "paid", "amount_paid": 2000}))
	// A webhook stored in_Newer as paid after the listing was read, and
	// in_Older as open before it.
	store := func(raw []byte, at time.Time) {
		t.Helper()
		if _, err := h.store.Upsert(ctx, vocab.Test, vocab.Invoices, []json.RawMessage{raw}, at); err != nil {
			t.Fatal(err)
		}
	}
	store(fixtureInvoice(t, "in_Newer", map[string]any{"status": "paid", "amount_paid": 2000}), time.Now().Add(time.Hour))
	store(fixtureInvoice(t, "in_Older", map[string]any{"status": "open", "amount_paid": 0}), time.Now().Add(-time.Hour))

	res := h.ok("sync_catalog", map[string]any{"env": "test", "objects": []string{"invoices"}})
	if res["status"] != "succeeded" || get(res, "counts", "invoices") != float64(152) {
		t.Fatalf("sync = %v", res)
	}
	if n := count(t, h.store, "invoices"); n != 152 {
		t.Fatalf("invoices stored = %d, want 152", n)
	}
	var pages int
	for _, r := range fake.Requests() {
		if r.Path == "/v1/invoices" {
			pages++
		}
	}
	if pages != 2 {
		t.Fatalf("%d requests of /v1/invoices, want 2 pages", pages)
	}
	row := func(id string) (status string, paid int64, subject string) {
		t.Helper()
		if err := h.store.Pool().QueryRow(ctx, `SELECT status, amount_paid, coalesce(subject_id, '') FROM payments.invoices WHERE id = $1 AND env = 'test'`,
			id).Scan(&status, &paid, &subject); err != nil {
			t.Fatal(err)
		}
		return
	}
	if s, paid, _ := row("in_Newer"); s != "paid" || paid != 2000 {
		t.Fatalf("in_Newer = %s %d: the listing overwrote the newer webhook state", s, paid)
	}
	if s, paid, _ := row("in_Older"); s != "paid" || paid != 2000 {
		t.Fatalf("in_Older = %s %d: the listing did not replace the older state", s, paid)
	}
	if s, _, subject := row("in_Backfill149"); s != "open" || subject != "u_123" {
		t.Fatalf("in_Backfill149 = %s, subject %q", s, subject)
	}
	// The backfilled invoices are the subject's.
	list := h.ok("list_invoices", map[string]any{"env": "test", "query": "u_123"})
	if invs, _ := list["invoices"].([]any); len(invs) < 5 {
		t.Fatalf("list_invoices = %v", list)
	}
}
