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

// A full listing that does not return a product marks it inactive only when
// billwire first stored it at least 10 minutes before the listing began, by
// billwire's own clock: stripe-mock dates every object 2009, so Stripe's
// created cannot tell a product made a second ago from one long gone.
func TestMarkUnlistedGoesByFirstSeen(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	prod := func(id string) json.RawMessage {
		// 1234567890: 2009-02-13, a stripe-mock date.
		return json.RawMessage(`{"id":"` + id + `","object":"product","name":"Pro","active":true,"livemode":false,"created":1234567890}`)
	}
	listedAt := time.Now()
	for _, id := range []string{"prod_JustCreated", "prod_LongGone"} {
		if _, err := st.Upsert(ctx, vocab.Test, vocab.Products, []json.RawMessage{prod(id)}, listedAt.Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// prod_LongGone was first stored 11 minutes before the listing began.
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.products SET first_seen_at = $1 WHERE id = 'prod_LongGone'`,
		listedAt.Add(-11*time.Minute)); err != nil {
		t.Fatal(err)
	}
	marked, err := st.MarkUnlisted(ctx, vocab.Test, vocab.Products, listedAt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(marked, []string{"prod_LongGone"}) {
		t.Fatalf("marked %v, want only prod_LongGone (prod_JustCreated was stored a second before the listing)", marked)
	}
	var active bool
	if err := st.Pool().QueryRow(ctx, `SELECT active FROM payments.products WHERE id = 'prod_JustCreated'`).Scan(&active); err != nil || !active {
		t.Fatalf("prod_JustCreated active = %v (%v)", active, err)
	}

	// The same for customers; a later upsert keeps the first-seen time.
	cus := json.RawMessage(`{"id":"cus_Old","object":"customer","created":1234567890,"livemode":false,"metadata":{}}`)
	if _, err := st.Upsert(ctx, vocab.Test, vocab.Customers, []json.RawMessage{cus}, listedAt.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE payments.customers SET first_seen_at = $1 WHERE id = 'cus_Old'`,
		listedAt.Add(-11*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Upsert(ctx, vocab.Test, vocab.Customers, []json.RawMessage{cus}, listedAt.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	marked, err = st.MarkUnlisted(ctx, vocab.Test, vocab.Customers, listedAt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(marked, []string{"cus_Old"}) {
		t.Fatalf("customers marked %v, want cus_Old", marked)
	}
}
