package commit

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// flight is a batch on its way through a writer's connection.
type flight[T, R any] struct {
	writer  int
	jobs    []*job[T, R]
	items   []T
	results []R
	plan    Plan
	sent    bool
}

// writer gathers batches and keeps up to two of them in its connection.
func (e *Engine[T, R]) writer(w int) {
	defer e.wg.Done()
	var pp *pipe
	defer func() {
		if pp != nil {
			pp.close()
		}
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var inflight []*flight[T, R]
	closed := false
	last := 0 // the size of the batch before
	for {
		var batch []*job[T, R]
		if len(inflight) < 2 {
			batch, closed = e.nextBatch(w, len(inflight) == 0, closed, timer)
			// Expect as many as the last two batches held on average, a
			// gather that found nothing counting as an empty batch: callers
			// settle in two groups that take turns, and a batch that took
			// them all (the other group came back empty) is split again.
			n := len(batch)
			e.sizes[w].Store(int64((n + last + 1) / 2))
			last = n
		}
		if len(batch) > 0 {
			f := &flight[T, R]{writer: w}
			if batch = e.keys.take(f, batch); len(batch) > 0 {
				e.prepare(f, batch)
				prev := pp
				if pp = e.send(pp, f); pp == nil && prev != nil {
					// The connection broke: so did the batches sent before.
					for _, g := range inflight {
						g.sent = false
					}
				}
				inflight = append(inflight, f)
				if e.sent != nil && pp != nil && f.sent {
					e.sent(len(inflight), pp.backend())
				}
			}
		}
		if len(inflight) == 0 {
			if closed && !e.keys.waiting(w) {
				return
			}
			continue
		}
		if len(inflight) == 1 && len(batch) > 0 && !closed {
			continue // gather the next batch while this one runs
		}
		f := inflight[0]
		inflight = inflight[1:]
		var err error
		switch {
		case len(f.plan.Shared) == 0:
		case !f.sent || pp == nil:
			err = errNotSent
		default:
			err = e.read(pp, f)
			if pp.broken {
				// The connection is gone, and so are the batches behind this one.
				pp.close()
				pp = nil
				for _, g := range inflight {
					g.sent = false
				}
			}
		}
		e.finish(f, err)
	}
}

var errNotSent = errors.New("the batch could not be sent")

func (e *Engine[T, R]) prepare(f *flight[T, R], batch []*job[T, R]) {
	f.jobs, f.items, f.results = batch, make([]T, len(batch)), make([]R, len(batch))
	for i, j := range batch {
		f.items[i] = j.it
	}
	f.plan = e.c.Prepare(f.items)
	if f.plan.Alone == nil {
		f.plan.Alone = make([]bool, len(batch))
	}
}

// send sends f over pp, opening a connection first if there is none; it
// returns the connection, nil if it broke.
func (e *Engine[T, R]) send(pp *pipe, f *flight[T, R]) *pipe {
	if len(f.plan.Shared) == 0 {
		return pp
	}
	if pp == nil {
		var err error
		if pp, err = openPipe(e.conns, e.opts.Prepared); err != nil {
			e.log.Debug().Err(err).Msg("commit: no connection for a batch; its items go one by one")
			return nil
		}
	}
	if err := pp.send(f.plan.Statements); err != nil {
		e.log.Debug().Err(err).Msg("commit: could not send a batch; its items go one by one")
		if pp.broken {
			pp.close()
			return nil
		}
		return pp
	}
	f.sent = true
	return pp
}

// read reads f's results: the first statement's row of each shared item
// gives its result (or sends it alone).
func (e *Engine[T, R]) read(pp *pipe, f *flight[T, R]) error {
	shared := f.plan.Shared
	return pp.read(len(f.plan.Statements), len(shared), func(j int, row Row) error {
		i := shared[j]
		r, alone, err := e.c.Claimed(f.items[i], row)
		if err != nil {
			return err
		}
		f.results[i], f.plan.Alone[i] = r, alone
		return nil
	})
}

// finish completes a flight whose transaction committed (err nil) or
// failed: it tells the Committer what committed, runs the items that go
// alone (all of them when the transaction failed: a bad item then fails
// alone, and its failure is recorded on its own), and answers the callers.
func (e *Engine[T, R]) finish(f *flight[T, R], err error) {
	ctx, cancel := context.WithTimeout(context.Background(), BatchTimeout)
	defer cancel()
	p := &f.plan
	if len(p.Shared) > 0 {
		if err != nil {
			var pe *pgconn.PgError
			if len(p.Shared) > 1 || !errors.As(err, &pe) {
				e.log.Debug().Err(err).Int("items", len(p.Shared)).Msg("commit: batch failed; retrying its items one by one")
			}
			for _, i := range p.Shared {
				p.Alone[i] = true
			}
		} else {
			committed := make([]int, 0, len(p.Shared))
			for _, i := range p.Shared {
				if !p.Alone[i] {
					committed = append(committed, i)
				}
			}
			e.c.Committed(f.items, committed, f.results)
		}
	}
	for i, it := range f.items {
		if p.Alone[i] {
			f.results[i] = e.c.Alone(ctx, it)
		}
	}
	e.keys.release(f)
	for i, j := range f.jobs {
		j.done <- f.results[i]
	}
}
