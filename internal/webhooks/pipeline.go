package webhooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A writer keeps one connection in pipeline mode and sends each batch as
// one implicit transaction (its statements, then Sync: PostgreSQL commits
// at the Sync, or rolls the whole batch back if a statement fails). It
// sends the next batch before it reads the results of the one before, so
// PostgreSQL runs batch after batch without waiting for billwire to answer
// the callers of the last one and gather the next; the connection runs
// them in order, so each sees what the one before committed.

// flight is a batch on its way through a writer's connection.
type flight struct {
	writer  int
	batch   []*item
	results []result
	// alone marks the events that run in a transaction of their own after
	// the batch (see prepare); shared are the others, in ledger key order.
	alone   []bool
	shared  []int
	mapped  [][]mappingKey
	queries []*pgx.QueuedQuery
	sent    bool
}

// prepare decides which events of a batch share its transaction and builds
// its statements. An event runs alone afterwards (see slowOne) when it is a
// replay, a second copy of an event in the batch, a second state of one
// object from the same second (the one-event path orders them), or a
// payload that cannot be projected (the one-event path records the
// failure).
func (p *Processor) prepare(f *flight, batch []*item) {
	f.batch, f.results, f.alone, f.mapped = batch, make([]result, len(batch)), make([]bool, len(batch)), make([][]mappingKey, len(batch))
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
			f.alone[i] = true
			continue
		}
		events[ek] = true
		if _, ok := stateTables[it.e.ObjectType]; ok {
			sk := objectKey{it.env, it.e.ObjectType, it.e.ObjectID, it.at}
			if states[sk] {
				f.alone[i] = true
				continue
			}
			states[sk] = true
		}
		if it.projErr != nil {
			f.alone[i] = true // the one-event path records the failure, if the event is new
			continue
		}
		q.merge(it.rows)
		f.mapped[i] = it.rows.mapped
		f.shared = append(f.shared, i)
	}
	if len(f.shared) == 0 {
		return
	}
	// The ledger rows in key order too (see layers).
	slices.SortFunc(f.shared, func(a, b int) int {
		return cmp.Or(cmp.Compare(batch[a].env, batch[b].env), cmp.Compare(batch[a].e.ID, batch[b].e.ID))
	})
	n := len(f.shared)
	var (
		env, id, typ, status, source = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		created, at                  = make([]time.Time, n), make([]time.Time, n)
		apiVersion, objectID, tie    = make(texts, n), make(texts, n), make(texts, n)
		payload                      = make(jsons, n)
	)
	for j, i := range f.shared {
		it := batch[i]
		e := it.e
		env[j], id[j], typ[j], status[j], source[j] = string(it.env), e.ID, e.Type, string(statusFor(e)), it.source
		created[j], at[j], apiVersion[j], objectID[j], payload[j] = e.CreatedAt(), it.at, str(e.APIVersion), str(e.ObjectID), ledgerPayload(e)
		if _, ok := stateTables[e.ObjectType]; ok && it.checkTie {
			tie[j] = &e.ObjectType
		}
	}
	b := &pgx.Batch{}
	b.Queue(batchClaimSQL, env, id, typ, created, apiVersion, objectID, status, source, payload, tie, at)
	q.queue(b)
	f.queries = b.QueuedQueries
}

// finish completes a flight whose transaction committed (err nil) or
// failed: it records the settled mappings, runs the events that go alone
// (all of them when the transaction failed: a bad event then fails alone,
// and its failure is recorded on its own), and answers the callers.
func (p *Processor) finish(f *flight, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(f.shared) > 0 {
		if err != nil {
			if len(f.shared) > 1 || !isProjectionError(err) {
				p.log.Debug().Err(err).Int("events", len(f.shared)).Msg("webhook batch failed; retrying its events one by one")
			}
			for _, i := range f.shared {
				f.alone[i] = true
			}
		} else {
			var keys []mappingKey
			for _, i := range f.shared {
				if !f.alone[i] && f.results[i].status == Processed {
					keys = append(keys, f.mapped[i]...)
				}
			}
			p.settle(keys)
		}
	}
	for i, it := range f.batch {
		if f.alone[i] {
			f.results[i] = p.slowOne(ctx, it)
		}
	}
	p.keys.release(f)
	for i, it := range f.batch {
		it.done <- f.results[i]
	}
}

// pipe is a writer's connection in pipeline mode.
type pipe struct {
	conn   *pgxpool.Conn
	pl     *pgconn.Pipeline
	stmts  map[string]*pgconn.StatementDescription
	eqb    pgx.ExtendedQueryBuilder
	cancel context.CancelFunc
	guard  *time.Timer // breaks the connection when a batch takes too long
	buf    []byte
	vals   [][]byte
	broken bool
}

// batchTimeout bounds a batch's time in PostgreSQL; a connection that
// takes longer is closed and its batches retried one event at a time.
const batchTimeout = 30 * time.Second

// pipeSQL are the statements a writer's connection prepares.
var pipeSQL = func() []string {
	s := []string{batchClaimSQL, mappingSQL, placeholderSQL, adoptSQL, checkoutSQL, lineItemsSQL, paymentSQL, summarySQL}
	return append(s, objectSQL[:]...)
}()

func (p *Processor) openPipe() (*pipe, error) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	pp := &pipe{conn: c, stmts: make(map[string]*pgconn.StatementDescription, len(pipeSQL))}
	for i, sql := range pipeSQL {
		sd, err := c.Conn().Prepare(ctx, fmt.Sprintf("billwire_webhooks_%d", i), sql)
		if err != nil {
			c.Release()
			return nil, err
		}
		pp.stmts[sql] = sd
	}
	pctx, pcancel := context.WithCancel(context.Background())
	pp.cancel = pcancel
	pp.guard = time.AfterFunc(time.Hour, pcancel)
	pp.guard.Stop()
	pp.pl = c.Conn().PgConn().StartPipeline(pctx)
	return pp, nil
}

// close ends pipeline mode and gives the connection back (a broken one is
// closed).
func (pp *pipe) close() {
	pp.guard.Stop()
	if err := pp.pl.Close(); err != nil {
		pp.broken = true
	}
	pp.cancel()
	if pp.broken {
		pp.conn.Conn().Close(context.Background()) //nolint:errcheck // broken anyway
	}
	pp.conn.Release()
}

// send queues a flight's statements and a Sync. The parameters of every
// statement are encoded before anything is queued: a batch goes whole or
// not at all.
func (pp *pipe) send(f *flight) error {
	type encoded struct {
		sd                     *pgconn.StatementDescription
		params                 []span // of pp.buf; nil for NULL
		formats, resultFormats []int16
	}
	pp.buf = pp.buf[:0]
	enc := make([]encoded, len(f.queries))
	for k, q := range f.queries {
		sd := pp.stmts[q.SQL]
		if sd == nil {
			return fmt.Errorf("webhooks: statement not prepared: %.40s", q.SQL)
		}
		if err := pp.eqb.Build(pp.conn.Conn().TypeMap(), sd, q.Arguments); err != nil {
			return fmt.Errorf("encode the arguments of a batch statement: %w", err)
		}
		e := encoded{sd: sd, params: make([]span, len(pp.eqb.ParamValues)),
			formats: slices.Clone(pp.eqb.ParamFormats), resultFormats: slices.Clone(pp.eqb.ResultFormats)}
		for i, v := range pp.eqb.ParamValues {
			if v == nil {
				e.params[i] = span{-1, 0}
				continue
			}
			e.params[i] = span{len(pp.buf), len(v)}
			pp.buf = append(pp.buf, v...)
		}
		enc[k] = e
	}
	for _, e := range enc {
		pp.vals = pp.vals[:0]
		for _, s := range e.params {
			if s.off < 0 {
				pp.vals = append(pp.vals, nil)
			} else {
				pp.vals = append(pp.vals, pp.buf[s.off:s.off+s.n:s.off+s.n])
			}
		}
		pp.pl.SendQueryStatement(e.sd, pp.vals, e.formats, e.resultFormats)
	}
	if err := pp.pl.Sync(); err != nil {
		pp.broken = true
		return err
	}
	f.sent = true
	return nil
}

// span is a slice of a buffer that may still move.
type span struct{ off, n int }

// read reads a sent flight's results: the claim's answer per shared event,
// the other statements' completions, then the Sync that ends (commits) its
// transaction. An error is the transaction's: it was rolled back.
func (pp *pipe) read(f *flight) (err error) {
	pp.guard.Reset(batchTimeout)
	defer pp.guard.Stop()
	defer func() {
		if err != nil {
			pp.skip(err)
		}
	}()
	res, err := pp.pl.GetResults()
	if err != nil {
		return err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return fmt.Errorf("webhooks: unexpected pipeline result %T", res)
	}
	j := 0
	for rr.NextRow() {
		vals := rr.Values()
		if j >= len(f.shared) || len(vals) != 3 {
			rr.Close() //nolint:errcheck
			return fmt.Errorf("claim answered more than %d rows", len(f.shared))
		}
		dup, same, claimed := boolValue(rr, vals, 0), boolValue(rr, vals, 1), boolValue(rr, vals, 2)
		i := f.shared[j]
		switch {
		case claimed:
			f.results[i] = result{status: statusFor(f.batch[i].e)}
		case same && !dup:
			f.alone[i] = true // decided precisely after this batch
		default:
			f.results[i] = result{status: Duplicate}
		}
		j++
	}
	if _, err := rr.Close(); err != nil {
		return err
	}
	if j != len(f.shared) {
		return fmt.Errorf("claim answered %d rows for %d events", j, len(f.shared))
	}
	for range len(f.queries) - 1 {
		res, err := pp.pl.GetResults()
		if err != nil {
			return err
		}
		if rr, ok := res.(*pgconn.ResultReader); ok {
			if _, err := rr.Close(); err != nil {
				return err
			}
		} else {
			return fmt.Errorf("webhooks: unexpected pipeline result %T", res)
		}
	}
	res, err = pp.pl.GetResults()
	if err != nil {
		return err
	}
	if _, ok := res.(*pgconn.PipelineSync); !ok {
		return fmt.Errorf("webhooks: unexpected pipeline result %T", res)
	}
	return nil
}

// skip reads past the rest of a failed transaction's results, up to its
// Sync. A failure that is not PostgreSQL's (the connection broke) leaves
// the pipeline unusable.
func (pp *pipe) skip(cause error) {
	var pe *pgconn.PgError
	if !errors.As(cause, &pe) {
		pp.broken = true
		return
	}
	for {
		res, err := pp.pl.GetResults()
		if err != nil && !errors.As(err, &pe) {
			pp.broken = true
			return
		}
		if _, ok := res.(*pgconn.PipelineSync); ok {
			return
		}
		if res == nil && err == nil {
			pp.broken = true // nothing more, and no Sync
			return
		}
	}
}

func boolValue(rr *pgconn.ResultReader, vals [][]byte, i int) bool {
	v := vals[i]
	if len(v) == 0 {
		return false
	}
	if rr.FieldDescriptions()[i].Format == pgx.BinaryFormatCode {
		return v[0] != 0
	}
	return v[0] == 't'
}

// writer gathers batches and keeps up to two of them in its connection.
func (p *Processor) writer(w int) {
	defer p.wg.Done()
	var pp *pipe
	defer func() {
		if pp != nil {
			pp.close()
		}
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var inflight []*flight
	closed := false
	last := 0 // the size of the batch before
	for {
		var batch []*item
		if len(inflight) < 2 {
			batch, closed = p.nextBatch(w, len(inflight) == 0, closed, timer)
			// Expect as many as the last two batches held on average, a
			// gather that found nothing counting as an empty batch: callers
			// settle in two groups that take turns, and a batch that took
			// them all (the other group came back empty) is split again.
			n := len(batch)
			p.sizes[w].Store(int64((n + last + 1) / 2))
			last = n
		}
		if len(batch) > 0 {
			f := &flight{writer: w}
			if batch = p.keys.take(f, batch); len(batch) > 0 {
				p.prepare(f, batch)
				prev := pp
				if pp = p.send(pp, f); pp == nil && prev != nil {
					// The connection broke: so did the batches sent before.
					for _, g := range inflight {
						g.sent = false
					}
				}
				inflight = append(inflight, f)
			}
		}
		if len(inflight) == 0 {
			if closed && !p.keys.waiting(w) {
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
		case len(f.shared) == 0:
		case !f.sent || pp == nil:
			err = errNotSent
		default:
			err = pp.read(f)
			if pp.broken {
				// The connection is gone, and so are the batches behind this one.
				pp.close()
				pp = nil
				for _, g := range inflight {
					g.sent = false
				}
			}
		}
		p.finish(f, err)
	}
}

// send sends f over pp, opening a connection first if there is none; it
// returns the connection, nil if it broke.
func (p *Processor) send(pp *pipe, f *flight) *pipe {
	if len(f.shared) == 0 {
		return pp
	}
	if pp == nil {
		var err error
		if pp, err = p.openPipe(); err != nil {
			p.log.Debug().Err(err).Msg("webhooks: no connection for a batch; its events go one by one")
			return nil
		}
	}
	if err := pp.send(f); err != nil {
		p.log.Debug().Err(err).Msg("webhooks: could not send a batch; its events go one by one")
		if pp.broken {
			pp.close()
			return nil
		}
	}
	return pp
}

var errNotSent = errors.New("the batch could not be sent")

// nextBatch gathers a batch for writer w: the events handed to it (see
// keys), and those queued. With block, it waits for the first event; else
// it returns what comes within MaxWait (maybe nothing), and waits at all
// only under concurrent traffic (batches of more than one event, or
// deliveries being read): a caller that sends one event at a time would
// only wait longer for its answer. Once the queue is closed (closed, in
// and out), only the events handed to w remain.
func (p *Processor) nextBatch(w int, block, closed bool, timer *time.Timer) ([]*item, bool) {
	batch := append(make([]*item, 0, p.opts.MaxBatch), p.keys.next(w)...)
	if closed {
		return batch, true
	}
	if len(batch) == 0 && !block && p.expect() <= 1 && p.arrivals.idle() == nil {
		select {
		case first, ok := <-p.queue:
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
			first, ok := <-p.queue
			if !ok {
				return nil, true
			}
			batch = append(batch, first)
		} else {
			timer.Reset(p.opts.MaxWait)
			select {
			case first, ok := <-p.queue:
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
	return p.gather(batch, p.expect(), timer), false
}

// keys keeps the events about one customer (or, without a customer, one
// object) out of a batch while another batch holds that key: what a
// transaction reads of an object (is the stored state from the same
// second?) must not change under it by a concurrent transaction of this
// process. Batches of one writer's connection run one after another, but
// the events that go alone run beside them. An event whose key is held
// waits for the next batch of the writer whose batch holds it.
type keys struct {
	mu    sync.Mutex
	owner map[string]keyOwner
	held  [][]*item // per writer: events for its next batch
}

// keyOwner is the flight holding a key, or, with flight nil, the writer
// whose next batch will.
type keyOwner struct {
	flight *flight
	writer int
}

func keyOf(it *item) string {
	if it.e.Customer != "" {
		return string(it.env) + " customer " + it.e.Customer
	}
	return string(it.env) + " " + it.e.ObjectType + " " + it.e.ObjectID
}

// take makes f hold the keys of the events of batch it keeps, and moves
// the events whose key another flight holds to that flight's writer's next
// batch.
func (k *keys) take(f *flight, batch []*item) []*item {
	k.mu.Lock()
	defer k.mu.Unlock()
	kept := batch[:0]
	for _, it := range batch {
		key := keyOf(it)
		if o, ok := k.owner[key]; ok && o.flight != f && (o.flight != nil || o.writer != f.writer) {
			k.held[o.writer] = append(k.held[o.writer], it)
			continue
		}
		k.owner[key] = keyOwner{f, f.writer}
		kept = append(kept, it)
	}
	return kept
}

// release frees the keys of f but those of the events waiting for its
// writer's next batch.
func (k *keys) release(f *flight) {
	k.mu.Lock()
	defer k.mu.Unlock()
	keep := make(map[string]bool, len(k.held[f.writer]))
	for _, it := range k.held[f.writer] {
		keep[keyOf(it)] = true
	}
	for key, o := range k.owner {
		if o.flight == f {
			if keep[key] {
				k.owner[key] = keyOwner{nil, f.writer}
			} else {
				delete(k.owner, key)
			}
		}
	}
}

// next returns the events handed to writer w.
func (k *keys) next(w int) []*item {
	k.mu.Lock()
	defer k.mu.Unlock()
	h := k.held[w]
	k.held[w] = nil
	return h
}

// waiting reports whether events wait for writer w's next batch.
func (k *keys) waiting(w int) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.held[w]) > 0
}
