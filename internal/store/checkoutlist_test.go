package store_test

import (
	"context"
	"testing"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/vocab"
)

func TestListCheckoutSessions(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	for _, r := range []struct{ env, stripeID, typ, id string }{
		{"test", "cs_test_A", "team", "t_1"},
		{"test", "cs_test_B", "user", "u_2"},
		{"test", "cs_test_C", "team", "t_1"},
		{"live", "cs_live_D", "team", "t_1"},
	} {
		if _, err := st.Pool().Exec(ctx, `INSERT INTO payments.checkout_sessions (env, stripe_id, mode, status, subject_type, subject_id)
			VALUES ($1, $2, 'subscription', 'open', $3, $4)`, r.env, r.stripeID, r.typ, r.id); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(p store.Page) ([]string, string) {
		t.Helper()
		rows, cursor, err := st.ListCheckoutSessions(ctx, vocab.Test, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, *r.StripeID)
		}
		return out, cursor
	}
	first, cursor := ids(store.Page{Limit: 2})
	if len(first) != 2 || first[0] != "cs_test_C" || first[1] != "cs_test_B" || cursor == "" {
		t.Fatalf("first page %v (cursor %q), want newest first", first, cursor)
	}
	if rest, cursor := ids(store.Page{Limit: 2, Cursor: cursor}); len(rest) != 1 || rest[0] != "cs_test_A" || cursor != "" {
		t.Fatalf("second page %v (cursor %q)", rest, cursor)
	}
	if got, _ := ids(store.Page{Query: "cs_test_B"}); len(got) != 1 || got[0] != "cs_test_B" {
		t.Fatalf("by Stripe id: %v", got)
	}
	if got, _ := ids(store.Page{Query: "t_1"}); len(got) != 2 {
		t.Fatalf("by subject: %v (the live one must not show)", got)
	}
	if _, _, err := st.ListCheckoutSessions(ctx, vocab.Test, store.Page{Cursor: "junk"}); err == nil {
		t.Fatal("a bad cursor was accepted")
	}
}
