package commit

import (
	"sync"
	"time"
)

// expect is how many items a writer waits for: as many as the writers'
// last batches held on average. Under a steady stream of deliveries, the
// callers of one commit come back together while the next batch runs.
func (e *Engine[T, R]) expect() int {
	var n int64
	for i := range e.sizes {
		n += e.sizes[i].Load()
	}
	return max(1, int((n+int64(len(e.sizes))/2)/int64(len(e.sizes))))
}

// nextBatch gathers a batch for writer w: the items handed to it (see
// keys), and those queued. With block, it waits for the first item; else
// it returns what comes within MaxWait (maybe nothing), and waits at all
// only under concurrent traffic (batches of more than one item, or
// deliveries being read): a caller that sends one item at a time would
// only wait longer for its answer. Once the queue is closed (closed, in
// and out), only the items handed to w remain.
func (e *Engine[T, R]) nextBatch(w int, block, closed bool, timer *time.Timer) ([]*job[T, R], bool) {
	batch := append(make([]*job[T, R], 0, e.opts.MaxBatch), e.keys.next(w)...)
	if closed {
		return batch, true
	}
	if len(batch) == 0 && !block && e.expect() <= 1 && e.arrivals.idle() == nil {
		select {
		case first, ok := <-e.queue:
			if !ok {
				return nil, true
			}
			batch = append(batch, first)
		default:
			return nil, false
		}
	}
	if len(batch) == 0 {
		if block {
			first, ok := <-e.queue
			if !ok {
				return nil, true
			}
			batch = append(batch, first)
		} else {
			timer.Reset(e.opts.MaxWait)
			select {
			case first, ok := <-e.queue:
				timer.Stop()
				if !ok {
					return nil, true
				}
				batch = append(batch, first)
			case <-timer.C:
				return nil, false
			}
		}
	}
	return e.gather(batch, e.expect(), timer), false
}

// gather adds to batch the items queued and, up to MaxWait, those it
// expects, and those of deliveries being read right now (see Arrival): a
// commit that takes an item along costs far less than one of its own.
func (e *Engine[T, R]) gather(batch []*job[T, R], expect int, timer *time.Timer) []*job[T, R] {
	waiting := false
	defer func() {
		if waiting {
			timer.Stop()
		}
	}()
	for len(batch) < e.opts.MaxBatch {
		select {
		case j, ok := <-e.queue:
			if !ok {
				return batch
			}
			batch = append(batch, j)
			continue
		default:
		}
		idle := e.arrivals.idle()
		if (idle == nil && len(batch) >= expect) || e.opts.MaxWait <= 0 {
			return batch
		}
		if !waiting {
			waiting = true
			timer.Reset(e.opts.MaxWait)
		}
		select {
		case j, ok := <-e.queue:
			if !ok {
				return batch
			}
			batch = append(batch, j)
		case <-idle: // nil: never
		case <-timer.C:
			waiting = false
			return e.drain(batch)
		}
	}
	return batch
}

func (e *Engine[T, R]) drain(batch []*job[T, R]) []*job[T, R] {
	for len(batch) < e.opts.MaxBatch {
		select {
		case j, ok := <-e.queue:
			if !ok {
				return batch
			}
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

// arrivals counts the deliveries being read (between Arrive and their
// item's queueing, or their refusal).
type arrivals struct {
	mu   sync.Mutex
	n    int
	none chan struct{} // closed when n drops to 0; nil while n is 0
}

func (a *arrivals) add() {
	a.mu.Lock()
	if a.n == 0 {
		a.none = make(chan struct{})
	}
	a.n++
	a.mu.Unlock()
}

func (a *arrivals) done() {
	a.mu.Lock()
	a.n--
	if a.n == 0 {
		close(a.none)
		a.none = nil
	}
	a.mu.Unlock()
}

// idle returns a channel closed when no delivery is being read, or nil if
// none is now.
func (a *arrivals) idle() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.none
}

// Arrival is a delivery being read: the writers wait a moment for its
// item rather than commit without it. It leaves once its item is queued
// (Commit does that) or refused.
type Arrival struct {
	a    *arrivals
	left bool
}

// Arrive announces a delivery that is being read.
func (e *Engine[T, R]) Arrive() *Arrival {
	e.arrivals.add()
	return &Arrival{a: &e.arrivals}
}

// Leave ends the announcement; later calls do nothing, and so does a nil
// Arrival.
func (a *Arrival) Leave() {
	if a == nil || a.left {
		return
	}
	a.left = true
	a.a.done()
}
