package loadgen

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query: a *pgxpool.Pool, a *pgx.Conn or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// maxDifferences bounds what Check reports.
const maxDifferences = 20

// Check compares billwire's tables in env (schema payments) with the state
// the traffic should have left, after every event was delivered: the
// ledger, products, prices, customers and their subject mappings, Checkout
// Sessions, subscriptions with their items, payments and refunds. It returns
// the differences found (at most 20, then a count), none when the database
// holds exactly the expected rows; the error is for a query that failed.
func Check(ctx context.Context, db Querier, env string, exp Expectation) ([]string, error) {
	c := &checker{}
	q := func(sql string, want map[string]string, what string) error {
		rows, err := db.Query(ctx, sql, env)
		if err != nil {
			return fmt.Errorf("check %s: %w", what, err)
		}
		got := map[string]string{}
		var keyErr error
		_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
			vals, err := r.Values()
			if err != nil {
				return struct{}{}, err
			}
			key := fmt.Sprint(vals[0])
			if _, dup := got[key]; dup && keyErr == nil {
				keyErr = fmt.Errorf("check %s: %s stored twice", what, key)
			}
			got[key] = row(vals[1:]...)
			return struct{}{}, nil
		})
		if err != nil {
			return fmt.Errorf("check %s: %w", what, err)
		}
		if keyErr != nil {
			c.add(keyErr.Error())
		}
		c.compare(what, got, want)
		return nil
	}
	// Every row is keyed by its first column; the rest is compared as text.
	want := func(n int, each func(yield func(k string, v ...any))) map[string]string {
		m := make(map[string]string, n)
		each(func(k string, v ...any) { m[k] = row(v...) })
		return m
	}
	checks := []struct {
		what, sql string
		want      map[string]string
	}{
		{"ledger", `SELECT CASE status WHEN 'stale' THEN 'processed' ELSE status END, count(*) FROM payments.webhook_events WHERE env = $1 GROUP BY 1`,
			map[string]string{"processed": row(exp.DistinctEventIDs)}},
		{"products", `SELECT id, name FROM payments.products WHERE env = $1`,
			want(len(exp.Products), func(y func(string, ...any)) {
				for id, p := range exp.Products {
					y(id, p.Name)
				}
			})},
		{"prices", `SELECT id, product_id, unit_amount, currency, coalesce(recurring_interval, ''), coalesce(lookup_key, '')
			FROM payments.prices WHERE env = $1`,
			want(len(exp.Prices), func(y func(string, ...any)) {
				for id, p := range exp.Prices {
					y(id, p.Product, p.UnitAmount, p.Currency, p.Interval, p.LookupKey)
				}
			})},
		{"customers", `SELECT c.id, coalesce(c.email, ''), coalesce(c.name, ''), coalesce(m.subject_id, '')
			FROM payments.customers c LEFT JOIN payments.customer_mappings m ON m.customer_id = c.id AND m.env = c.env
			WHERE c.env = $1`,
			want(len(exp.Customers), func(y func(string, ...any)) {
				for id, c := range exp.Customers {
					y(id, c.Email, c.Name, c.SubjectID)
				}
			})},
		{"checkout sessions", `SELECT stripe_id, coalesce(customer_id, ''), coalesce(subscription_id, ''), coalesce(client_reference_id, ''),
				coalesce(subject_type, ''), coalesce(subject_id, ''), coalesce(amount_total, 0), status, coalesce(payment_status, '')
			FROM payments.checkout_sessions WHERE env = $1`,
			want(len(exp.CheckoutSessions), func(y func(string, ...any)) {
				for id, s := range exp.CheckoutSessions {
					y(id, s.Customer, s.Subscription, s.ClientReferenceID, s.SubjectType, s.SubjectID,
						s.AmountTotal, s.Status, s.PaymentStatus)
				}
			})},
		{"subscriptions", `SELECT s.id, s.status, s.customer_id, coalesce(i.price_id, ''), coalesce(i.id, ''), s.cancel_at_period_end,
				extract(epoch FROM s.current_period_start)::bigint, extract(epoch FROM s.current_period_end)::bigint,
				coalesce(s.subject_type, ''), coalesce(s.subject_id, ''),
				(SELECT count(*) FROM payments.subscription_items n WHERE n.subscription_id = s.id AND n.env = s.env)
			FROM payments.subscriptions s
			LEFT JOIN payments.subscription_items i ON i.subscription_id = s.id AND i.env = s.env
			WHERE s.env = $1`,
			want(len(exp.Subscriptions), func(y func(string, ...any)) {
				for id, s := range exp.Subscriptions {
					y(id, s.Status, s.Customer, s.Price, s.Item, s.CancelAtPeriodEnd,
						s.CurrentPeriodStart, s.CurrentPeriodEnd, s.SubjectType, s.SubjectID, int64(1))
				}
			})},
		{"payments", `SELECT key, status, amount, amount_refunded, coalesce(currency, ''), coalesce(customer_id, ''),
				coalesce(invoice_id, ''), coalesce(subject_id, '')
			FROM payments.payment_history WHERE env = $1 AND kind = 'payment'`,
			want(len(exp.Payments), func(y func(string, ...any)) {
				for pi, p := range exp.Payments {
					status := map[string]string{"succeeded": "succeeded", "requires_payment_method": "failed"}[p.Status]
					if p.Status == "succeeded" && p.AmountRefunded > 0 {
						status = "partially_refunded"
						if p.AmountRefunded >= p.Amount {
							status = "refunded"
						}
					}
					subject := ""
					if c, ok := exp.Customers[p.Customer]; ok {
						subject = c.SubjectID
					}
					y(pi, status, p.Amount, p.AmountRefunded, p.Currency, p.Customer, p.Invoice, subject)
				}
			})},
		{"refunds", `SELECT key, amount, status, coalesce(payment_intent_id, ''), coalesce(charge_id, '')
			FROM payments.payment_history WHERE env = $1 AND kind = 'refund'`,
			want(len(exp.Refunds), func(y func(string, ...any)) {
				for id, r := range exp.Refunds {
					y(id, r.Amount, r.Status, r.PaymentIntent, r.Charge)
				}
			})},
	}
	for _, ch := range checks {
		if err := q(ch.sql, ch.want, ch.what); err != nil {
			return c.out(), err
		}
	}
	return c.out(), nil
}

// row formats the values of a row for comparison.
func row(v ...any) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, " | ")
}

type checker struct {
	diffs []string
	more  int
}

func (c *checker) add(s string) {
	if len(c.diffs) < maxDifferences {
		c.diffs = append(c.diffs, s)
	} else {
		c.more++
	}
}

func (c *checker) compare(what string, got, want map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		switch {
		case !ok:
			c.add(fmt.Sprintf("%s: %s missing, want %s", what, k, want[k]))
		case g != want[k]:
			c.add(fmt.Sprintf("%s: %s = %s, want %s", what, k, g, want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			c.add(fmt.Sprintf("%s: unexpected %s = %s", what, k, got[k]))
		}
	}
}

func (c *checker) out() []string {
	if c.more > 0 {
		return append(c.diffs, fmt.Sprintf("… and %d more differences", c.more))
	}
	return c.diffs
}
