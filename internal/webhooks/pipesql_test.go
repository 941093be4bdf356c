package webhooks

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
)

// Every statement a batch can hold is prepared on the writers' connections:
// a batch with one that is not fails whole, and its events then run one by
// one, each in a transaction of its own.
func TestEveryBatchStatementIsPrepared(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_750_000_000, 0)
	q := &plan{env: vocab.Test, ev: "evt_1", oid: "obj_1", lineItems: json.RawMessage(`[]`)}
	mapSubject(q, vocab.Test, subject{"user", "u_1"}, "cus_1")
	q.placeholders = append(q.placeholders, placeholderRow{vocab.Test, "prod_1", false, at, q.ev})
	for _, k := range objectKinds {
		q.object(k, json.RawMessage(`{"id": "obj_1"}`), at)
	}
	q.checkouts = append(q.checkouts, checkoutRow{env: vocab.Test, stripeID: "cs_1", row: 7, lineItems: q.lineItems, at: at, ev: q.ev})
	q.payment(vocab.Test, payment{key: "pi_1", kind: "payment", status: "succeeded", at: at, eventID: q.ev})
	q.payment(vocab.Test, payment{key: "re_1", kind: "refund", status: "succeeded", at: at, eventID: q.ev})
	q.summaries = append(q.summaries, summaryRow{env: vocab.Test, customer: "cus_1", obj: json.RawMessage(`{}`), at: at, ev: q.ev})
	b := &pgx.Batch{}
	q.queue(b)
	for _, qq := range b.QueuedQueries {
		if !slices.Contains(pipeSQL, qq.SQL) {
			t.Errorf("a batch statement is not prepared on the writers' connections: %.120s", qq.SQL)
		}
	}
	if len(b.QueuedQueries) < 10 {
		t.Fatalf("the plan queued %d statements: the test does not cover them all", len(b.QueuedQueries))
	}
}
