package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/internal/webhooks/commit"
)

// Status is what became of an event.
type Status string

// The outcomes of processing an event.
const (
	Processed Status = "processed" // projected now
	Stale     Status = "stale"     // older than the stored state of its object: recorded, nothing changed
	Duplicate Status = "duplicate" // recorded before: nothing to do
	Ignored   Status = "ignored"   // recorded; billwire does not project its type
	Failed    Status = "failed"    // projection failed and was rolled back; the sender should retry
	Parked    Status = "parked"    // failed too often; kept for replay, no more retries wanted
)

// Fetcher fetches an object from Stripe, for events that cannot be ordered
// by their payload.
type Fetcher interface {
	FetchObject(ctx context.Context, env vocab.Env, path string) (json.RawMessage, error)
}

// SummaryFetcher builds a customer's complete active entitlement summary
// from Stripe, for summary events whose list is truncated. The Fetcher may
// implement it; without it such events fail (and are retried).
type SummaryFetcher interface {
	FetchEntitlementSummary(ctx context.Context, env vocab.Env, customer string) (json.RawMessage, error)
}

// LineItemFetcher lists what a Checkout Session bought, for a payment
// session billwire did not make, when a credits scaffold needs its line
// items. The Fetcher may implement it; without it such events fail (and
// are retried).
type LineItemFetcher interface {
	FetchCheckoutLineItems(ctx context.Context, env vocab.Env, session string) ([]store.CheckoutLineItem, error)
}

// Options tune a Processor.
type Options struct {
	// MaxAttempts is how many failed attempts park an event (default 5).
	MaxAttempts int
	// Writers is how many connections write batches (default 1); each
	// keeps up to two batches in flight, which PostgreSQL runs in turn.
	Writers int
	// MaxBatch bounds the events sharing one commit (default 64).
	MaxBatch int
	// MaxWait bounds how long a writer waits for the events it expects
	// (see gather) before it commits without them (default 2ms; negative:
	// no waiting).
	MaxWait time.Duration
	// Engine is how events commit (default Pipelined).
	Engine Engine
}

// Engine is how a Processor commits events.
type Engine int

const (
	// Pipelined commits concurrent events together: batches on the writers'
	// pipelined connections, up to two in flight each (see
	// internal/webhooks/commit).
	Pipelined Engine = iota
	// Reference commits each event in a transaction of its own, in its
	// caller's goroutine, one event of a key at a time (see slowOne): the
	// engine the pipelined one is tested against, and the path every event
	// of a failed batch takes.
	Reference
)

// Processor records and projects events. It prepares each event in its
// caller's goroutine (a truncated summary or a Checkout Session's line
// items fetched, the rows worked out: see project) and hands it to the
// commit engine (internal/webhooks/commit), which commits concurrent events
// together and answers each caller after the commit that holds its event.
// Each statement writes its rows in key order, so transactions of several
// processes on one database wait for each other's rows rather than
// deadlock.
type Processor struct {
	pool     *pgxpool.Pool
	ownsPool bool
	fetch    Fetcher
	log      zerolog.Logger
	opts     Options
	engine   *commit.Engine[*item, result]

	// settled holds subject-customer pairs whose mapping a committed
	// transaction confirmed (or found decided otherwise). A confirmed mapping
	// never changes, so later events of the pair skip the mapping statement.
	settledMu sync.RWMutex
	settled   map[mappingKey]struct{}
	credits   boundEnvs
	closeOnce sync.Once
}

type item struct {
	env      vocab.Env
	e        *Event
	obj      json.RawMessage
	at       time.Time
	checkTie bool
	source   string
	force    bool
	// lineItems are the Checkout Session's line items, fetched before the
	// event is queued (see checkoutLineItems).
	lineItems json.RawMessage
	// rows are what the event writes (see project); projErr says why it
	// cannot be projected.
	rows    *plan
	projErr error
}

type result struct {
	status    Status
	needFetch bool
	err       error // the projection's error (Failed, Parked), or the batch's
}

// NewProcessor starts the writers, over connections of their own to st's
// database (see store.OpenConns).
func NewProcessor(st *store.Store, fetch Fetcher, log zerolog.Logger, o Options) *Processor {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	own, owned, err := st.OpenConns(max(4, 2*max(1, o.Writers)), store.PlannerSettings)
	if err != nil {
		log.Error().Err(err).Msg("webhooks: cannot open the processor's connections; using the shared pool")
	}
	p := &Processor{pool: own, ownsPool: owned, fetch: fetch, log: log, opts: o, settled: map[mappingKey]struct{}{}}
	p.engine = commit.New(committer{p}, own, log, commit.Options{Writers: o.Writers, MaxBatch: o.MaxBatch, MaxWait: o.MaxWait,
		Reference: o.Engine == Reference, Prepared: pipeSQL})
	return p
}

// Close waits for queued events to finish, then stops the writers and
// closes the processor's connections.
func (p *Processor) Close() {
	p.closeOnce.Do(func() {
		p.engine.Close()
		if p.ownsPool {
			p.pool.Close()
		}
	})
}

// ErrClosed means the processor is shutting down.
var ErrClosed = commit.ErrClosed

// Process records e for env and projects it, once. source says where it came
// from (webhook, reconcile, replay); force re-projects an event recorded
// before (replay). The error is set when the event's fate is unknown (the
// database failed): the sender should retry.
func (p *Processor) Process(ctx context.Context, env vocab.Env, e *Event, source string, force bool) (Status, error) {
	st, _, err := p.process(ctx, env, e, source, force, nil)
	return st, err
}

// process is Process for a delivery that arrived: a leaves once the event is
// queued. resolvedBy is "fetch" when the event's object was asked of Stripe
// (its state tied with another of the same second).
func (p *Processor) process(ctx context.Context, env vocab.Env, e *Event, source string, force bool, a *commit.Arrival) (_ Status, resolvedBy string, _ error) {
	obj, at := e.Data.Object, e.CreatedAt()
	if e.Type == EntitlementSummaryType {
		if sum, err := store.ParseEntitlementSummary(obj); err == nil && sum.HasMore {
			// Stripe lists only the first entitlements in the event: store
			// the whole list, fetched now, so that none is lost.
			sf, ok := p.fetch.(SummaryFetcher)
			var ferr error
			if !ok {
				ferr = errors.New("no way to fetch the whole list")
			} else if obj, ferr = sf.FetchEntitlementSummary(ctx, env, sum.Customer); ferr == nil {
				at = time.Now()
			}
			if ferr != nil {
				a.Leave()
				st, err := p.fail(ctx, env, e, source, force, fmt.Errorf("fetch the active entitlements of %s (the event's list is truncated): %w", sum.Customer, ferr))
				return st, "", err
			}
		}
	}
	// What a payment session made elsewhere bought, when a credits scaffold
	// needs it: asked of Stripe here, before the event joins a batch.
	items, err := p.checkoutLineItems(ctx, env, e, obj, force, a)
	if err != nil {
		a.Leave()
		st, err := p.fail(ctx, env, e, source, force, err)
		return st, "", err
	}
	r, err := p.submit(ctx, &item{env: env, e: e, obj: obj, at: at, checkTie: true, source: source, force: force, lineItems: items}, a)
	if err != nil {
		return "", "", err
	}
	if r.needFetch {
		// Two states of one object in the same second: ask Stripe for the current one.
		path, _ := e.FetchPath()
		fetched := time.Now()
		obj, ferr := p.fetch.FetchObject(ctx, env, path)
		if ferr == nil && (!json.Valid(obj) || bytes.TrimLeft(obj, " \t\r\n")[0] != '{') {
			ferr = errors.New("Stripe's answer is not a JSON object")
		}
		if ferr == nil {
			ferr = sameObject(e.Data.Object, obj)
		}
		if ferr != nil {
			st, err := p.fail(ctx, env, e, source, force, fmt.Errorf("re-fetch %s to order same-second events: %w", path, ferr))
			return st, "", err
		}
		r, err = p.submit(ctx, &item{env: env, e: e, obj: obj, at: fetched, source: source, force: force, lineItems: items}, nil)
		if err != nil {
			return "", "", err
		}
		if r.status == Processed {
			resolvedBy = "fetch"
			if err := store.MarkResolvedBy(ctx, p.pool, env, e.ID, resolvedBy); err != nil {
				p.log.Warn().Err(err).Str("event", e.ID).Msg("webhook: record resolved_by")
			}
		}
	}
	if r.status == Failed || r.status == Parked {
		return r.status, resolvedBy, nil
	}
	return r.status, resolvedBy, r.err
}

// sameObject checks that a re-fetched object is the one the event is
// about: the same id and, for an object that belongs to a customer, the
// same customer. Anything else (a mock's fixture, a misrouted proxy) would
// be stored as this object's state: a team could keep access after its
// cancellation, or get another's.
func sameObject(event, fetched json.RawMessage) error {
	var a, b objectOwner
	if err := json.Unmarshal(event, &a); err != nil {
		return fmt.Errorf("read the event's object: %w", err)
	}
	if err := json.Unmarshal(fetched, &b); err != nil {
		return fmt.Errorf("read the fetched object: %w", err)
	}
	if a.ID != b.ID || (a.Customer != "" && a.Customer != b.Customer) {
		return fmt.Errorf("fetched object does not match the event: the event is about %s, Stripe answered %s; nothing was projected", a, b)
	}
	return nil
}

// objectOwner is an object's id and customer, as sameObject compares them.
type objectOwner struct {
	ID       string `json:"id"`
	Customer ref    `json:"customer"`
}

func (o objectOwner) String() string {
	if o.Customer == "" {
		return strconv.Quote(o.ID)
	}
	return strconv.Quote(o.ID) + " of customer " + strconv.Quote(string(o.Customer))
}

// checkoutLineItems fetches from Stripe the line items of the Checkout
// Session an event is about, as a line_items column holds them, when
// they are needed and unknown: for a payment-mode session, in an
// environment a credits scaffold is bound to, whose row has no line items
// (billwire did not make it), unless the event was recorded before. It
// returns nil otherwise. Its error means the event must not be projected
// now. The delivery leaves (a) before Stripe is asked: the writers do not
// wait for it meanwhile.
func (p *Processor) checkoutLineItems(ctx context.Context, env vocab.Env, e *Event, obj json.RawMessage, force bool, a *commit.Arrival) (json.RawMessage, error) {
	if e.ObjectType != "checkout.session" || !Projects(e.Type) {
		return nil, nil
	}
	bound, err := p.credits.bound(ctx, p.pool, env)
	if err != nil || !bound {
		return nil, err
	}
	var cs checkoutFields
	if err := cs.scan(obj); err != nil || cs.Mode != "payment" || cs.ID == "" {
		return nil, nil // not a payment; or unreadable, which the projection reports
	}
	need, err := store.CheckoutLineItemsNeeded(ctx, p.pool, env, e.ID, cs.ID, billwireRow(cs.Metadata), force)
	if err != nil || !need {
		return nil, err
	}
	lf, ok := p.fetch.(LineItemFetcher)
	if !ok {
		return nil, fmt.Errorf("the credits scaffold bound to %s needs the line items of checkout session %s, and this process cannot fetch them", env, cs.ID)
	}
	a.Leave()
	items, err := lf.FetchCheckoutLineItems(ctx, env, cs.ID)
	if err != nil {
		return nil, fmt.Errorf("fetch the line items of checkout session %s (a credits scaffold is bound to %s): %w", cs.ID, env, err)
	}
	return store.LineItemsJSON(items), nil
}

// boundTTL is how long the environments a credits scaffold is bound to are
// cached: a scaffold applied while billwire serve runs takes effect within
// that time.
const boundTTL = 5 * time.Second

// boundEnvs caches store.CreditsBoundEnvs. One reader asks the database
// at a time; the others wait for its answer (or their context).
type boundEnvs struct {
	mu      sync.Mutex
	envs    map[vocab.Env]bool
	at      time.Time
	loading chan struct{} // closed when the read in flight ends; nil when none
	err     error
}

func (b *boundEnvs) bound(ctx context.Context, q store.RowQuerier, env vocab.Env) (bool, error) {
	for {
		b.mu.Lock()
		if b.envs != nil && time.Since(b.at) < boundTTL {
			ok := b.envs[env]
			b.mu.Unlock()
			return ok, nil
		}
		if wait := b.loading; wait != nil {
			b.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return false, ctx.Err()
			}
			b.mu.Lock()
			err := b.err
			b.mu.Unlock()
			if err != nil {
				return false, err
			}
			continue
		}
		done := make(chan struct{})
		b.loading = done
		b.mu.Unlock()
		envs, err := store.CreditsBoundEnvs(ctx, q)
		b.mu.Lock()
		b.loading, b.err = nil, err
		if err == nil {
			b.envs, b.at = envs, time.Now()
		}
		b.mu.Unlock()
		close(done)
		if err != nil {
			return false, err
		}
	}
}

// submit hands an item to the commit engine and waits for its result.
func (p *Processor) submit(ctx context.Context, it *item, a *commit.Arrival) (result, error) {
	p.project(it)
	r, err := p.engine.Commit(ctx, it, a)
	if err != nil {
		return result{}, err
	}
	return r, r.batchErr()
}

func (r result) batchErr() error {
	if r.status == "" {
		return r.err
	}
	return nil
}

// fail records a failure that happened outside a writer (a re-fetch).
func (p *Processor) fail(ctx context.Context, env vocab.Env, e *Event, source string, force bool, cause error) (Status, error) {
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

// arrive announces a delivery that is being read (see commit.Arrival).
func (p *Processor) arrive() *commit.Arrival { return p.engine.Arrive() }

// claim is the ledger claim of an item.
func claim(it *item) store.EventClaim {
	e := it.e
	return store.EventClaim{Env: it.env, ID: e.ID, Type: e.Type, Created: e.CreatedAt(), APIVersion: e.APIVersion,
		ObjectType: e.ObjectType, ObjectID: e.ObjectID, Status: string(statusFor(e)), Source: it.source, Payload: ledgerPayload(e),
		Force: it.force, CheckTie: it.checkTie, At: it.at, Object: it.obj}
}

func statusFor(e *Event) Status {
	if Projects(e.Type) {
		return Processed
	}
	return Ignored
}

// ledgerPayload is what the ledger keeps of an event as it claims it: the
// event as delivered, but nothing for a type billwire ignores (its id, type
// and times are enough to answer a duplicate). Processed payloads go later
// (see Pruner); failed and parked events keep theirs for the retries.
func ledgerPayload(e *Event) json.RawMessage {
	if statusFor(e) == Ignored {
		return nil
	}
	return e.Raw
}

// maxSettled bounds the settled-mappings cache; it starts over when full.
const maxSettled = 200_000

func (p *Processor) isSettled(k mappingKey) bool {
	p.settledMu.RLock()
	defer p.settledMu.RUnlock()
	_, ok := p.settled[k]
	return ok
}

// settle records mappings a committed transaction settled.
func (p *Processor) settle(keys []mappingKey) {
	if len(keys) == 0 {
		return
	}
	p.settledMu.Lock()
	defer p.settledMu.Unlock()
	if len(p.settled)+len(keys) > maxSettled {
		clear(p.settled)
	}
	for _, k := range keys {
		p.settled[k] = struct{}{}
	}
}

// project works out the rows of an item, in the caller's goroutine: the
// writers, which run one batch after another, only put rows together.
func (p *Processor) project(it *item) {
	q := &plan{settled: p.isSettled, env: it.env, ev: it.e.ID, oid: it.e.ObjectID, lineItems: it.lineItems}
	if proj, ok := projectors[it.e.Type]; ok {
		it.projErr = proj(q, it.env, it.e, it.obj, it.at)
	}
	it.rows = q
}

// slowOne claims and projects one event in its own transaction. A
// projection error is recorded as a failed attempt in a separate small
// transaction; lock conflicts with other transactions are retried.
func (p *Processor) slowOne(ctx context.Context, it *item) result {
	for attempt := 0; ; attempt++ {
		var r result
		var projErr error
		var mapped []mappingKey
		err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
			tie, claimed, stale, err := store.ClaimEvent(ctx, tx, claim(it))
			if err != nil {
				return err
			}
			switch {
			case tie:
				r = result{needFetch: true}
				return nil
			case !claimed:
				r = result{status: Duplicate}
				return nil
			}
			if it.projErr != nil {
				projErr = it.projErr
				return it.projErr
			}
			q := it.rows
			b := &pgx.Batch{}
			q.Queue(b)
			if b.Len() > 0 {
				if err := tx.SendBatch(ctx, b).Close(); err != nil {
					projErr = err
					return err
				}
			}
			mapped = q.mapped
			r = result{status: statusFor(it.e)}
			if stale {
				r.status = Stale
			}
			return nil
		})
		if err == nil {
			p.settle(mapped)
			return r
		}
		if retryable(err) && attempt < 3 {
			continue
		}
		if projErr == nil {
			p.log.Error().Err(err).Str("event", it.e.ID).Msg("webhook event not recorded; the sender will retry")
			return result{err: fmt.Errorf("record event: %w", err)}
		}
		var st Status
		ferr := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
			var err error
			st, err = p.recordFailure(ctx, tx, it, projErr)
			return err
		})
		if ferr != nil {
			return result{err: fmt.Errorf("record failure: %w", ferr)}
		}
		return result{status: st, err: projErr}
	}
}

// recordFailure counts a failed attempt in the ledger (the projection itself
// was rolled back) and parks the event after MaxAttempts. A parked event
// that fails again on replay stays parked.
func (p *Processor) recordFailure(ctx context.Context, tx pgx.Tx, it *item, cause error) (Status, error) {
	e := it.e
	msg := secrets.Redact(cause.Error())
	status, attempts, err := store.RecordEventFailure(ctx, tx, store.EventFailure{Env: it.env, ID: e.ID, Type: e.Type,
		Created: e.CreatedAt(), APIVersion: e.APIVersion, ObjectID: e.ObjectID, Error: msg, Source: it.source, Payload: e.Raw,
		MaxAttempts: p.opts.MaxAttempts, Force: it.force})
	if errors.Is(err, store.ErrNotFailed) {
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

// retryable errors are another transaction's doing: try the event again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001" || pe.Code == "55P03" || pe.Code == "23505")
}
