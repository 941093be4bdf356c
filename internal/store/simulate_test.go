package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/vocab"
)

// A simulated customer is never in Stripe's lists: a sync does not mark it
// deleted, while a real one missing from the list is.
func TestMarkUnlistedKeepsSimulatedCustomers(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	old := time.Now().Add(-time.Hour)
	objs := []json.RawMessage{
		json.RawMessage(`{"id":"cus_sim_A","object":"customer","created":1719792000,"livemode":false,"metadata":{"billwire_simulated":"true"}}`),
		json.RawMessage(`{"id":"cus_Gone","object":"customer","created":1719792000,"livemode":false,"metadata":{}}`),
	}
	if _, err := st.Upsert(ctx, vocab.Test, vocab.Customers, objs, old); err != nil {
		t.Fatal(err)
	}
	// Both were first stored long before the listing.
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.customers SET first_seen_at = $1`, old); err != nil {
		t.Fatal(err)
	}
	marked, err := st.MarkUnlisted(ctx, vocab.Test, vocab.Customers, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(marked, []string{"cus_Gone"}) {
		t.Fatalf("marked %v, want only cus_Gone", marked)
	}
}
