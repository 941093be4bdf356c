package store

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// group runs the statements of concurrent callers together: the callers
// waiting when a batch starts share its round trip and its transaction, so
// one commit (and one WAL flush) serves them all. A caller alone runs at
// once, by itself. At most lanes batches run at a time; callers who come
// while they all run wait for the next one.
//
// A batch that fails is rolled back as a whole, so its operations then run
// again one by one, each getting its own result.
//
// There is no goroutine to start or stop: the caller who starts a batch runs
// it (or, for a caller who does not wait, a goroutine of its own), and hands
// what is waiting after it to a new goroutine.
//
// It does not share the webhook commit engine (internal/webhooks/commit),
// and should not: that engine exists for what the session API's writes do
// not need. Webhook events about one customer must commit in order, so it
// holds per-key ownership across batches; it claims each event in the
// ledger and answers per item from the claim's rows (duplicate, tie,
// claimed); it keeps two batches in flight on long-lived pipelined
// connections with planner settings of their own, and writers that live as
// long as the processor. The session API's rows are independent of each
// other (each caller writes its own checkout row, in any order), a caller
// needs only "committed or not", and its writes ride the store's shared
// pool beside the reads of the same request: a transaction per batch on a
// pooled connection, started by whoever comes first, is all it takes, and
// the engine's goroutines, connections and ordering would be cost without
// use.
type group struct {
	pool  *pgxpool.Pool
	lanes int

	mu      sync.Mutex
	waiting []*groupOp
	running int
	pending int        // operations submitted and not done
	idle    *sync.Cond // signalled when pending drops to 0; on mu
}

// groupOp is one caller's statements. queue adds them to a batch, with
// callbacks that store their results; it may be called again when the
// operation runs on its own after a failed batch. done gets the outcome.
type groupOp struct {
	queue func(b *pgx.Batch)
	done  func(error)
}

// maxGroupBatch bounds the operations in one batch.
const maxGroupBatch = 64

// do runs queue's statements in a batch with whatever else is waiting, and
// returns when they are committed (or failed).
func (g *group) do(queue func(b *pgx.Batch)) error {
	ch := make(chan error, 1)
	g.submit(queue, func(err error) { ch <- err }, true)
	return <-ch
}

// later runs queue's statements like do, without waiting: done (which must
// be quick) gets the outcome. wait waits for it.
func (g *group) later(queue func(b *pgx.Batch), done func(error)) {
	g.submit(queue, done, false)
}

// wait returns when no operation is pending.
func (g *group) wait() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.pending > 0 {
		g.cond().Wait()
	}
}

// cond returns g.idle, made on first use; g.mu is held.
func (g *group) cond() *sync.Cond {
	if g.idle == nil {
		g.idle = sync.NewCond(&g.mu)
	}
	return g.idle
}

func (g *group) submit(queue func(b *pgx.Batch), done func(error), inline bool) {
	op := &groupOp{queue: queue, done: func(err error) {
		done(err)
		g.mu.Lock()
		if g.pending--; g.pending == 0 {
			g.cond().Broadcast()
		}
		g.mu.Unlock()
	}}
	g.mu.Lock()
	g.pending++
	g.waiting = append(g.waiting, op)
	if g.running >= g.lanes {
		g.mu.Unlock()
		return
	}
	g.running++
	batch := g.take()
	g.mu.Unlock()
	if inline {
		g.run(batch)
	} else {
		go g.run(batch)
	}
}

// take removes the next batch from the waiting list; g.mu is held.
func (g *group) take() []*groupOp {
	n := min(len(g.waiting), maxGroupBatch)
	batch := g.waiting[:n:n]
	g.waiting = g.waiting[n:]
	if len(g.waiting) == 0 {
		g.waiting = nil
	}
	return batch
}

// run executes batch, then leaves the lane to what waits next.
func (g *group) run(batch []*groupOp) {
	g.exec(batch)
	g.mu.Lock()
	if len(g.waiting) == 0 {
		g.running--
		g.mu.Unlock()
		return
	}
	next := g.take()
	g.mu.Unlock()
	go g.run(next)
}

func (g *group) exec(batch []*groupOp) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := &pgx.Batch{}
	for _, op := range batch {
		op.queue(b)
	}
	err := g.pool.SendBatch(ctx, b).Close()
	if err == nil || len(batch) == 1 {
		for _, op := range batch {
			op.done(err)
		}
		return
	}
	for _, op := range batch {
		b := &pgx.Batch{}
		op.queue(b)
		op.done(g.pool.SendBatch(ctx, b).Close())
	}
}
