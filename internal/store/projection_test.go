package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// Every statement a batch can hold is among ProjectionStatements,
// which the webhook writers' connections prepare: a batch with one that is
// not fails whole, and its events then run one by one, each in a
// transaction of its own.
func TestEveryProjectionStatementIsListed(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_750_000_000, 0)
	q := &Projection{}
	q.Mappings = append(q.Mappings, MappingRow{Env: vocab.Test, SubjectType: "user", Subject: "u_1", Customer: "cus_1", Event: "evt_1"})
	q.Placeholders = append(q.Placeholders, PlaceholderRow{Env: vocab.Test, Product: "prod_1", At: at, Event: "evt_1"})
	for _, k := range ProjectedKinds {
		q.Object(k, ObjectRow{Env: vocab.Test, ID: "obj_1", Object: json.RawMessage(`{"id": "obj_1"}`), At: at, Event: "evt_1"})
	}
	q.Checkouts = append(q.Checkouts, CheckoutRow{Env: vocab.Test, StripeID: "cs_1", Row: 7, LineItems: json.RawMessage(`[]`), At: at, Event: "evt_1"})
	q.Payment(PaymentRow{Env: vocab.Test, Key: "pi_1", Kind: "payment", Status: "succeeded", At: at, Event: "evt_1"})
	q.Payment(PaymentRow{Env: vocab.Test, Key: "re_1", Kind: "refund", Status: "succeeded", At: at, Event: "evt_1"})
	q.Summaries = append(q.Summaries, SummaryRow{Env: vocab.Test, Customer: "cus_1", Object: json.RawMessage(`{}`), At: at, Event: "evt_1"})
	b := &pgx.Batch{}
	QueueClaims(b, []EventClaim{{Env: vocab.Test, ID: "evt_1", Type: "customer.created", ObjectType: "customer", CheckTie: true}})
	q.Queue(b)
	listed := ProjectionStatements()
	for _, qq := range b.QueuedQueries {
		found := false
		for _, sql := range listed {
			found = found || sql == qq.SQL
		}
		if !found {
			t.Errorf("a projection statement is not listed: %.120s", qq.SQL)
		}
	}
	if len(b.QueuedQueries) < 10 || len(b.QueuedQueries) < len(listed) {
		t.Fatalf("the projection queued %d statements of %d: the test does not cover them all", len(b.QueuedQueries), len(listed))
	}
}
