package scaffold_test

import (
	"context"
	"testing"

	"github.com/billwire/billwire/internal/scaffold"
	"github.com/billwire/billwire/internal/store/storetest"
)

// BenchmarkCreditsTrigger measures what the credits scaffold adds to the
// projection: per op, one paid Checkout Session's change that grants and
// one succeeded refund's change that takes part of it back, each its own
// transaction as webhook deliveries are, for revision 1 (no revocation
// memory) and the current revision. The ledger and the revocations are
// analyzed once the first grants exist, as autovacuum would.
//
//	go test -run '^$' -bench BenchmarkCreditsTrigger -benchtime 2000x ./internal/scaffold/
func BenchmarkCreditsTrigger(b *testing.B) {
	current, err := scaffold.Generate(scaffold.Options{Pattern: scaffold.Credits, Grants: map[string]int64{"credits_100": 100, "credits_1k": 1000}})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, sql string }{
		{"revision_1", mustRead(b, "v2r1", "credits")},
		{"revision_2", current.SQL},
	} {
		b.Run(c.name, func(b *testing.B) {
			st := storetest.New(b)
			ctx := context.Background()
			if _, err := st.Pool().Exec(ctx, c.sql); err != nil {
				b.Fatal(err)
			}
			grant := `INSERT INTO payments.billing_changes (env, kind, key, subject_type, subject_id, status, amount, currency, state)
				SELECT 'test', 'checkout_session', 'cs_' || $1::int, 'user', 'u_' || $1::int, 'complete', 1000, 'usd',
					jsonb_build_object('mode', 'payment', 'payment_status', 'paid', 'payment_intent_id', 'pi_' || $1::int, 'metadata', '{}'::jsonb,
						'line_items', jsonb_build_array(jsonb_build_object('price_id', 'price_x', 'lookup_key', 'credits_100', 'quantity', 1)))`
			refund := `INSERT INTO payments.billing_changes (env, kind, key, status, amount, currency, state)
				SELECT 'test', 'refund', 're_' || $1::int, 'succeeded', 500, 'usd', jsonb_build_object('payment_intent_id', 'pi_' || $1::int)`
			for i := -100; i < 0; i++ { // some history, analyzed
				st.Pool().Exec(ctx, grant, i)
				st.Pool().Exec(ctx, refund, i)
			}
			if _, err := st.Pool().Exec(ctx, `ANALYZE public.credit_ledger`); err != nil {
				b.Fatal(err)
			}
			st.Pool().Exec(ctx, `ANALYZE public.credit_ledger_revocations`) // revision 2 only
			b.ResetTimer()
			for i := range b.N {
				if _, err := st.Pool().Exec(ctx, grant, i); err != nil {
					b.Fatal(err)
				}
				if _, err := st.Pool().Exec(ctx, refund, i); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			var n, balance int64
			if err := st.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE reason = 'refund'), sum(credits)::bigint FROM public.credit_ledger`).Scan(&n, &balance); err != nil ||
				n != int64(b.N)+100 || balance != 50*(int64(b.N)+100) {
				b.Fatalf("ledger: %d refunds, balance %d, %v; want each payment granted 100 and half taken back", n, balance, err)
			}
		})
	}
}
