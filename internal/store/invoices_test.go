package store_test

import (
	"context"
	"testing"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/vocab"
)

func TestListInvoices(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	for i, r := range []struct{ env, id, customer, status string }{
		{"test", "in_A", "cus_1", "paid"},
		{"test", "in_B", "cus_2", "open"},
		{"test", "in_C", "cus_1", "open"},
		{"live", "in_D", "cus_1", "open"},
	} {
		if _, err := st.Pool().Exec(ctx, `INSERT INTO payments.invoices (env, id, customer_id, status, number, created, source_at, data)
			VALUES ($1, $2, $3, $4, 'N-' || $2, to_timestamp(1750000000 + $5), now(), '{}')`, r.env, r.id, r.customer, r.status, i); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(p store.Page) ([]string, string) {
		t.Helper()
		rows, next, err := st.ListInvoices(ctx, vocab.Test, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.ID)
		}
		return out, next
	}
	first, next := ids(store.Page{Limit: 2})
	if len(first) != 2 || first[0] != "in_C" || first[1] != "in_B" || next == "" {
		t.Fatalf("first page %v, next %q", first, next)
	}
	if rest, next := ids(store.Page{Limit: 2, Cursor: next}); len(rest) != 1 || rest[0] != "in_A" || next != "" {
		t.Fatalf("second page %v, next %q", rest, next)
	}
	for q, want := range map[string]string{"cus_2": "in_B", "N-in_A": "in_A", "PAID": "in_A", "in_C": "in_C"} {
		if got, _ := ids(store.Page{Query: q}); len(got) != 1 || got[0] != want {
			t.Errorf("query %q: %v, want %s", q, got, want)
		}
	}
	if got, _ := ids(store.Page{Query: "in_D"}); len(got) != 0 {
		t.Errorf("a live invoice in the test list: %v", got)
	}
	if _, _, err := st.ListInvoices(ctx, vocab.Test, store.Page{Cursor: store.EncodeCursor("junk")}); err == nil {
		t.Errorf("a bad cursor was accepted")
	}
}
