// Package commit is the webhook commit engine: items in, one result per
// item out. Concurrent items share transactions: a writer takes the items
// waiting and commits them in one transaction, sent over its pipelined
// connection while its previous one still runs; each caller is answered
// after the commit that holds its item. Items of one key (a customer, an
// object) are never in two transactions at once. The Reference engine
// commits each item in a transaction of its own instead.
//
// The engine knows nothing of what it commits: a Committer builds a
// batch's statements (Prepare), reads the answer of its first statement
// (Claimed), learns what committed (Committed), and commits an item alone
// (Alone), which is also where every item of a failed batch goes.
package commit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// Statement is one statement of a batch.
type Statement struct {
	SQL  string
	Args []any
}

// Plan is how a batch commits. Its Statements run in one transaction; the
// first answers one row per Shared item, in that order. The items marked
// Alone commit after it, each in a transaction of its own.
type Plan struct {
	Statements []Statement
	Shared     []int
	Alone      []bool
}

// Committer is what the engine asks of the owner of the items.
type Committer[T, R any] interface {
	// Key is the ordering key of an item: items of one key are never in
	// two transactions at once.
	Key(it T) string
	// Prepare builds the plan of a batch.
	Prepare(batch []T) Plan
	// Claimed reads the first statement's row for a shared item: its
	// result, or alone when it must commit on its own after the batch.
	Claimed(it T, row Row) (r R, alone bool, err error)
	// Committed is told the shared items the batch committed (those
	// Claimed sent alone excluded) and their results.
	Committed(batch []T, shared []int, results []R)
	// Alone commits one item in a transaction of its own.
	Alone(ctx context.Context, it T) R
}

// Options tune an Engine.
type Options struct {
	// Writers is how many connections write batches (default 1); each
	// keeps up to two batches in flight, which PostgreSQL runs in turn.
	Writers int
	// MaxBatch bounds the items sharing one commit (default 64).
	MaxBatch int
	// MaxWait bounds how long a writer waits for the items it expects (see
	// gather) before it commits without them (default 2ms; negative: no
	// waiting).
	MaxWait time.Duration
	// Reference commits each item alone, in its caller's goroutine, one
	// item of a key at a time: the engine the pipelined one is tested
	// against.
	Reference bool
	// Prepared are the statements a writer's connection prepares: every
	// statement of a batch must be among them.
	Prepared []string
}

// ErrClosed means the engine is shutting down.
var ErrClosed = errors.New("billwire is shutting down")

// BatchTimeout bounds a batch's time in PostgreSQL; a connection that
// takes longer is closed and its batches' items go alone.
const BatchTimeout = 30 * time.Second

// Engine commits items of type T, answering results of type R.
type Engine[T, R any] struct {
	c     Committer[T, R]
	conns *pgxpool.Pool
	log   zerolog.Logger
	opts  Options

	queue chan *job[T, R]
	// sizes holds each writer's last batch size: a writer expects as many
	// items as the writers' last batches held on average.
	sizes    []atomic.Int64
	arrivals arrivals
	keys     keys[T, R]
	serial   keyLocks // the Reference engine's
	// sent, when set (by tests only), is called by a writer after it sent a
	// batch, with the batches in flight and its connection's backend.
	sent func(inflight int, backend uint32)

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	wg     sync.WaitGroup
}

// job is an item on its way, with where its result goes.
type job[T, R any] struct {
	it   T
	key  string
	done chan R
}

// New starts the writers over conns (the Reference engine has none).
func New[T, R any](c Committer[T, R], conns *pgxpool.Pool, log zerolog.Logger, o Options) *Engine[T, R] {
	if o.Writers <= 0 {
		o.Writers = 1
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	if o.MaxWait == 0 {
		o.MaxWait = 2 * time.Millisecond
	}
	e := &Engine[T, R]{c: c, conns: conns, log: log, opts: o,
		queue: make(chan *job[T, R], 4*o.MaxBatch), sizes: make([]atomic.Int64, o.Writers),
		keys: keys[T, R]{owner: map[string]keyOwner[T, R]{}, held: make([][]*job[T, R], o.Writers)}}
	if o.Reference {
		return e
	}
	for w := range o.Writers {
		e.wg.Add(1)
		go e.writer(w)
	}
	return e
}

// OnSent makes the writers call f after each batch they send, with the
// batches in flight on the connection and its backend's pid. For tests
// (fault injection); call it before the first Commit.
func (e *Engine[T, R]) OnSent(f func(inflight int, backend uint32)) { e.sent = f }

// Close waits for queued items to commit, then stops the writers.
func (e *Engine[T, R]) Close() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.queue)
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// Commit commits it and returns its result. a, if not nil, is the
// delivery it came with (see Arrive): it leaves once the item is queued.
// Once queued, the item commits whatever happens to ctx; Commit then
// returns ctx's error without waiting for it.
func (e *Engine[T, R]) Commit(ctx context.Context, it T, a *Arrival) (R, error) {
	defer a.Leave()
	var zero R
	j := &job[T, R]{it: it, key: e.c.Key(it), done: make(chan R, 1)}
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return zero, ErrClosed
	}
	if e.opts.Reference {
		e.wg.Add(1) // Close waits for it
		e.mu.RUnlock()
		defer e.wg.Done()
		a.Leave()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), BatchTimeout)
		defer cancel()
		unlock := e.serial.lock(j.key)
		defer unlock()
		return e.c.Alone(rctx, it), nil
	}
	select {
	case e.queue <- j:
	case <-ctx.Done():
		e.mu.RUnlock()
		return zero, ctx.Err()
	}
	e.mu.RUnlock()
	a.Leave()
	select {
	case r := <-j.done:
		return r, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
