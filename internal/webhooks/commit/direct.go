package commit

// Direct commits batches in its caller's goroutine, over one pipelined
// connection, as a writer with nothing else in flight does: for
// benchmarks of what a batch costs.
type Direct[T, R any] struct {
	e  *Engine[T, R]
	pp *pipe
}

// Direct returns a Direct over the engine's connections and Committer.
func (e *Engine[T, R]) Direct() *Direct[T, R] { return &Direct[T, R]{e: e} }

// Commit commits batch (as one batch, but for the items whose key another
// batch holds) and returns the results in its order.
func (d *Direct[T, R]) Commit(batch []T) []R {
	jobs := make([]*job[T, R], len(batch))
	for i, it := range batch {
		jobs[i] = &job[T, R]{it: it, key: d.e.c.Key(it), done: make(chan R, 1)}
	}
	f := &flight[T, R]{}
	d.e.prepare(f, d.e.keys.take(f, jobs))
	d.pp = d.e.send(d.pp, f)
	var err error
	switch {
	case len(f.plan.Shared) == 0:
	case !f.sent:
		err = errNotSent
	default:
		err = d.e.read(d.pp, f)
		if d.pp.broken {
			d.pp.close()
			d.pp = nil
		}
	}
	d.e.finish(f, err)
	out := make([]R, len(jobs))
	for i, j := range jobs {
		out[i] = <-j.done
	}
	return out
}

// Backend is the pid of the connection's server process, 0 before the
// first batch.
func (d *Direct[T, R]) Backend() uint32 {
	if d.pp == nil {
		return 0
	}
	return d.pp.backend()
}

// Close gives the connection back.
func (d *Direct[T, R]) Close() {
	if d.pp != nil {
		d.pp.close()
		d.pp = nil
	}
}
