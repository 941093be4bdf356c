package webhooks

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks/commit"
)

// committer is the processor's side of the commit engine: what a batch of
// events writes (their claims in the ledger, then the rows of their plans),
// what the claims answered, and the one-event path (slowOne).
type committer struct{ p *Processor }

// pipeSQL are the statements a writer's connection prepares: the batch
// claim and the projection's.
var pipeSQL = func() []string {
	var s []string
	for _, name := range slices.Sorted(maps.Keys(store.ProjectionStatements())) {
		s = append(s, store.ProjectionStatements()[name])
	}
	return s
}()

// Key keeps the events about one customer (or, without a customer, one
// object) out of concurrent transactions.
func (committer) Key(it *item) string { return keyOf(it) }

func keyOf(it *item) string {
	if it.e.Customer != "" {
		return string(it.env) + " customer " + it.e.Customer
	}
	return string(it.env) + " " + it.e.ObjectType + " " + it.e.ObjectID
}

// Prepare decides which events of a batch share its transaction and builds
// its statements. An event runs alone afterwards (see slowOne) when it is a
// replay, a second copy of an event in the batch, a second state of one
// object from the same second (the one-event path orders them), or a
// payload that cannot be projected (the one-event path records the
// failure).
func (committer) Prepare(batch []*item) commit.Plan {
	f := commit.Plan{Alone: make([]bool, len(batch))}
	q := &plan{}
	type objectKey struct {
		env     vocab.Env
		typ, id string
		at      time.Time
	}
	events := make(map[[2]string]bool, len(batch))
	states := make(map[objectKey]bool, len(batch))
	for i, it := range batch {
		ek := [2]string{string(it.env), it.e.ID}
		if it.force || events[ek] {
			f.Alone[i] = true
			continue
		}
		events[ek] = true
		if store.ReplacesState(it.e.ObjectType) {
			sk := objectKey{it.env, it.e.ObjectType, it.e.ObjectID, it.at}
			if states[sk] {
				f.Alone[i] = true
				continue
			}
			states[sk] = true
		}
		if it.projErr != nil {
			f.Alone[i] = true // the one-event path records the failure, if the event is new
			continue
		}
		q.merge(it.rows)
		f.Shared = append(f.Shared, i)
	}
	if len(f.Shared) == 0 {
		return f
	}
	// The ledger rows in key order too (see layers).
	slices.SortFunc(f.Shared, func(a, b int) int {
		return cmp.Or(cmp.Compare(batch[a].env, batch[b].env), cmp.Compare(batch[a].e.ID, batch[b].e.ID))
	})
	claims := make([]store.EventClaim, len(f.Shared))
	for j, i := range f.Shared {
		claims[j] = claim(batch[i])
	}
	b := &pgx.Batch{}
	store.QueueClaims(b, claims)
	q.Queue(b)
	f.Statements = make([]commit.Statement, len(b.QueuedQueries))
	for k, qq := range b.QueuedQueries {
		f.Statements[k] = commit.Statement{SQL: qq.SQL, Args: qq.Arguments}
	}
	return f
}

// Claimed reads batchClaimSQL's answer for an event: (dup, same, claimed, newer).
func (committer) Claimed(it *item, row commit.Row) (result, bool, error) {
	if row.Len() != 4 {
		return result{}, false, fmt.Errorf("the claim answered %d columns", row.Len())
	}
	dup, same, claimed, newer := row.Bool(0), row.Bool(1), row.Bool(2), row.Bool(3)
	switch {
	case claimed && newer && statusFor(it.e) == Processed:
		return result{status: Stale}, false, nil
	case claimed:
		return result{status: statusFor(it.e)}, false, nil
	case same && !dup:
		return result{}, true, nil // decided precisely after this batch
	default:
		return result{status: Duplicate}, false, nil
	}
}

// Committed records the mappings the processed events settled.
func (c committer) Committed(batch []*item, shared []int, results []result) {
	var keys []mappingKey
	for _, i := range shared {
		if results[i].status == Processed {
			keys = append(keys, batch[i].rows.mapped...)
		}
	}
	c.p.settle(keys)
}

// Alone commits an event in a transaction of its own.
func (c committer) Alone(ctx context.Context, it *item) result { return c.p.slowOne(ctx, it) }
