package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
)

// Status is what became of an event.
type Status string

// The outcomes of processing an event.
const (
	Processed Status = "processed" // projected now
	Duplicate Status = "duplicate" // recorded before: nothing to do
	Ignored   Status = "ignored"   // recorded; billwire does not project its type
	Failed    Status = "failed"    // projection failed and was rolled back; the sender should retry
	Parked    Status = "parked"    // failed too often; kept for replay, no more retries wanted
)

// Fetcher fetches an object from Stripe, for events that cannot be ordered
// by their payload.
type Fetcher interface {
	FetchObject(ctx context.Context, env store.Env, path string) (json.RawMessage, error)
}

// Options tune a Processor.
type Options struct {
	// MaxAttempts is how many failed attempts park an event (default 5).
	MaxAttempts int
	// Writers is how many transactions run at once (default 2).
	Writers int
	// MaxBatch bounds the events sharing one commit (default 64).
	MaxBatch int
}

// Processor records and projects events. Concurrent events share
// transactions: a writer takes every event waiting, projects each under its
// own savepoint (so one bad event never fails its neighbours) and commits
// once; each caller is answered after the commit that holds its event.
type Processor struct {
	pool  *pgxpool.Pool
	fetch Fetcher
	log   zerolog.Logger
	opts  Options

	queue  chan *item
	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	wg     sync.WaitGroup
}

type item struct {
	env      store.Env
	e        *Event
	obj      json.RawMessage
	at       time.Time
	checkTie bool
	source   string
	force    bool
	done     chan result
}

type result struct {
	status    Status
	needFetch bool
	err       error // the projection's error (Failed, Parked), or the batch's
}

// NewProcessor starts the writers.
func NewProcessor(pool *pgxpool.Pool, fetch Fetcher, log zerolog.Logger, o Options) *Processor {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Writers <= 0 {
		o.Writers = 2
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	p := &Processor{pool: pool, fetch: fetch, log: log, opts: o, queue: make(chan *item, 4*o.MaxBatch)}
	for range o.Writers {
		p.wg.Add(1)
		go p.writer()
	}
	return p
}

// Close waits for queued events to finish, then stops the writers.
func (p *Processor) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// ErrClosed means the processor is shutting down.
var ErrClosed = errors.New("billwire is shutting down")

// Process records e for env and projects it, once. source says where it came
// from (webhook, reconcile, replay); force re-projects an event recorded
// before (replay). The error is set when the event's fate is unknown (the
// database failed): the sender should retry.
func (p *Processor) Process(ctx context.Context, env store.Env, e *Event, source string, force bool) (Status, error) {
	r, err := p.submit(ctx, &item{env: env, e: e, obj: e.Data.Object, at: e.CreatedAt(), checkTie: true, source: source, force: force})
	if err != nil {
		return "", err
	}
	if r.needFetch {
		// Two states of one object in the same second: ask Stripe for the current one.
		path, _ := e.FetchPath()
		fetched := time.Now()
		obj, ferr := p.fetch.FetchObject(ctx, env, path)
		if ferr != nil {
			return p.fail(ctx, env, e, source, force, fmt.Errorf("re-fetch %s to order same-second events: %w", path, ferr))
		}
		r, err = p.submit(ctx, &item{env: env, e: e, obj: obj, at: fetched, source: source, force: force})
		if err != nil {
			return "", err
		}
	}
	if r.status == Failed || r.status == Parked {
		return r.status, nil
	}
	return r.status, r.err
}

// LastError of a failed or parked event is logged by the writer; callers
// read it from the ledger.

func (p *Processor) submit(ctx context.Context, it *item) (result, error) {
	it.done = make(chan result, 1)
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return result{}, ErrClosed
	}
	select {
	case p.queue <- it:
	case <-ctx.Done():
		p.mu.RUnlock()
		return result{}, ctx.Err()
	}
	p.mu.RUnlock()
	// Once queued, the event is processed whatever happens to the caller;
	// the caller waits for the commit.
	select {
	case r := <-it.done:
		return r, r.batchErr()
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
}

func (r result) batchErr() error {
	if r.status == "" {
		return r.err
	}
	return nil
}

// fail records a failure that happened outside a writer (a re-fetch).
func (p *Processor) fail(ctx context.Context, env store.Env, e *Event, source string, force bool, cause error) (Status, error) {
	var st Status
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var err error
		st, err = p.recordFailure(ctx, tx, &item{env: env, e: e, source: source, force: force}, cause)
		return err
	})
	if err != nil {
		return "", err
	}
	return st, nil
}

func (p *Processor) writer() {
	defer p.wg.Done()
	batch := make([]*item, 0, p.opts.MaxBatch)
	for first := range p.queue {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < p.opts.MaxBatch {
			select {
			case it, ok := <-p.queue:
				if !ok {
					break drain
				}
				batch = append(batch, it)
			default:
				break drain
			}
		}
		results := p.runBatch(batch)
		for i, it := range batch {
			it.done <- results[i]
		}
	}
}

// runBatch projects a batch in one transaction. If the transaction itself
// fails (the database went away), every event in it gets the error.
func (p *Processor) runBatch(batch []*item) []result {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := make([]result, len(batch))
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		for i, it := range batch {
			r, err := p.projectOne(ctx, tx, it)
			if err != nil {
				return err
			}
			results[i] = r
		}
		return nil
	})
	if err != nil {
		p.log.Error().Err(err).Int("events", len(batch)).Msg("webhook batch failed; senders will retry")
		for i := range results {
			results[i] = result{err: fmt.Errorf("record event: %w", err)}
		}
	}
	return results
}

// retryable errors are another transaction's doing: try the event again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001" || pe.Code == "55P03")
}

// projectOne claims and projects one event under a savepoint. A projection
// error rolls back to the savepoint and is recorded as a failed attempt; an
// error it returns breaks the whole transaction.
func (p *Processor) projectOne(ctx context.Context, tx pgx.Tx, it *item) (result, error) {
	for attempt := 0; ; attempt++ {
		if _, err := tx.Exec(ctx, "SAVEPOINT ev"); err != nil {
			return result{}, err
		}
		r, perr := p.claimAndProject(ctx, tx, it)
		if perr == nil {
			if r.needFetch {
				if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT ev"); err != nil {
					return result{}, err
				}
			}
			_, err := tx.Exec(ctx, "RELEASE SAVEPOINT ev")
			return r, err
		}
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT ev"); err != nil {
			return result{}, err
		}
		if retryable(perr) && attempt < 3 {
			continue
		}
		st, err := p.recordFailure(ctx, tx, it, perr)
		if err != nil {
			return result{}, err
		}
		return result{status: st, err: perr}, nil
	}
}

const claimSQL = `
	INSERT INTO payments.webhook_events AS w (env, id, type, created, api_version, object_id, status, attempts, source, processed_at, payload)
	VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, now(), $9)
	ON CONFLICT (env, id) DO UPDATE SET status = EXCLUDED.status, attempts = w.attempts + 1, last_error = NULL,
		processed_at = now(), source = EXCLUDED.source
	WHERE w.status = 'failed' OR $10
	RETURNING w.attempts`

func (p *Processor) claimAndProject(ctx context.Context, tx pgx.Tx, it *item) (result, error) {
	e := it.e
	proj, projects := projectors[e.Type]
	status := Processed
	if !projects {
		status = Ignored
	}
	var tie bool
	if q, ok := tieSQL(e.ObjectType); ok && it.checkTie && projects {
		if err := tx.QueryRow(ctx, q, it.env, e.ObjectID, it.at, it.obj).Scan(&tie); err != nil {
			return result{}, err
		}
	}
	var attempts int
	err := tx.QueryRow(ctx, claimSQL, it.env, e.ID, e.Type, e.CreatedAt(), str(e.APIVersion), str(e.ObjectID),
		string(status), it.source, e.Raw, it.force).Scan(&attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return result{status: Duplicate}, nil
	}
	if err != nil {
		return result{}, err
	}
	if tie {
		return result{needFetch: true}, nil
	}
	if projects {
		if err := proj(ctx, tx, it.env, e, it.obj, it.at); err != nil {
			return result{}, err
		}
	}
	return result{status: status}, nil
}

// recordFailure counts a failed attempt in the ledger (the projection itself
// was rolled back) and parks the event after MaxAttempts. A parked event
// that fails again on replay stays parked.
func (p *Processor) recordFailure(ctx context.Context, tx pgx.Tx, it *item, cause error) (Status, error) {
	e := it.e
	msg := secrets.Redact(cause.Error())
	var status string
	var attempts int
	err := tx.QueryRow(ctx, `
		INSERT INTO payments.webhook_events AS w (env, id, type, created, api_version, object_id, status, attempts, last_error, source, payload)
		VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $10 <= 1 THEN 'parked' ELSE 'failed' END, 1, $7, $8, $9)
		ON CONFLICT (env, id) DO UPDATE SET attempts = w.attempts + 1, last_error = EXCLUDED.last_error,
			status = CASE WHEN w.attempts + 1 >= $10 OR ($11 AND w.status = 'parked') THEN 'parked' ELSE 'failed' END
		WHERE w.status = 'failed' OR $11
		RETURNING w.status, w.attempts`,
		it.env, e.ID, e.Type, e.CreatedAt(), str(e.APIVersion), str(e.ObjectID), msg, it.source, e.Raw,
		p.opts.MaxAttempts, it.force).Scan(&status, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return Duplicate, nil // processed meanwhile by another receiver
	}
	if err != nil {
		return "", err
	}
	ev := p.log.Warn()
	if status == string(Parked) {
		ev = p.log.Error()
	}
	ev.Str("env", string(it.env)).Str("event", e.ID).Str("type", e.Type).Int("attempts", attempts).Str("error", msg).
		Msg("webhook event " + status)
	return Status(status), nil
}
