package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// pageSize is Stripe's largest list page.
const pageSize = 100

// staleRunAfter is how long a running sync may go without progress before it
// counts as dead (its process stopped) and becomes resumable.
const staleRunAfter = 2 * time.Minute

// lister lists one page of each mirrored kind.
var lister = map[vocab.Kind]func(*stripeapi.Client, context.Context, string, int, url.Values) (*stripeapi.Page, error){
	vocab.Products:      (*stripeapi.Client).ListProducts,
	vocab.Prices:        (*stripeapi.Client).ListPrices,
	vocab.Customers:     (*stripeapi.Client).ListCustomers,
	vocab.Subscriptions: (*stripeapi.Client).ListSubscriptions,
	vocab.Invoices:      (*stripeapi.Client).ListInvoices,
}

var listFilters = map[vocab.Kind]url.Values{
	vocab.Subscriptions: {"status": {"all"}}, // Stripe omits canceled subscriptions otherwise
}

// Progress reports a sync under way.
type Progress struct {
	Kind  vocab.Kind `json:"kind"`
	Total int64      `json:"total"` // objects synced so far, all kinds
	Count int64      `json:"count"` // objects of Kind synced so far
}

// SyncResult reports a finished (or failed) sync.
type SyncResult struct {
	Env         vocab.Env        `json:"env"`
	RunID       int64            `json:"run_id"`
	Status      string           `json:"status"`
	Counts      map[string]int64 `json:"counts"`
	ResumedFrom *int64           `json:"resumed_from,omitempty"`
	// Removed counts, per kind, the objects billwire held that Stripe no
	// longer has (deleted there without an event reaching billwire), now
	// marked as the deletion events mark them: customers deleted, products
	// inactive.
	Removed map[string]int64 `json:"removed,omitempty"`
	Seconds float64          `json:"seconds"`
	Error   string           `json:"error,omitempty"`
}

// Sync mirrors the given kinds (all when empty) from Stripe into the store,
// a page at a time. Each page is stored as it arrives, so a failure keeps
// what came before; the next Sync of the same kinds resumes after it.
func (s *Service) Sync(ctx context.Context, env vocab.Env, kinds []vocab.Kind, progress func(Progress)) (*SyncResult, error) {
	if len(kinds) == 0 {
		kinds = vocab.Kinds
	}
	objects := make([]string, 0, len(kinds))
	for _, k := range vocab.Kinds { // canonical order, no duplicates
		if slices.Contains(kinds, k) {
			objects = append(objects, string(k))
		}
	}
	st, c, e, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	if err := st.AbandonStaleRuns(ctx, env, staleRunAfter); err != nil {
		return nil, err
	}
	var resume *store.SyncRun
	if last, err := st.LastSyncRun(ctx, env); err == nil && last.Status == "failed" &&
		last.AccountID == e.AccountID && slices.Equal(last.Objects, objects) {
		resume = last
	}
	run, err := st.StartSyncRun(ctx, env, e.AccountID, objects, resume)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	j := &syncJob{s: s, st: st, c: c, env: env, run: run, progress: progress, removed: map[string]int64{}}
	meters, runErr := j.meters(ctx, objects)
	if runErr == nil {
		runErr = j.run_(ctx, objects)
	}
	if err := st.FinishSyncRun(run, runErr); err != nil && runErr == nil {
		runErr = err
	}
	res := &SyncResult{Env: env, RunID: run.ID, Status: run.Status, Counts: run.Counts, ResumedFrom: run.ResumedFrom,
		Removed: j.removed, Seconds: time.Since(started).Seconds()}
	if meters > 0 {
		res.Counts = maps.Clone(res.Counts)
		if res.Counts == nil {
			res.Counts = map[string]int64{}
		}
		res.Counts["meters"] = meters
	}
	if runErr != nil {
		res.Error = runErr.Error()
		s.log.Warn().Str("env", string(env)).Int64("run", run.ID).Err(runErr).Msg("sync failed")
		return res, fmt.Errorf("sync stopped: %w; what was synced before is kept, and running the same sync again resumes where it stopped", runErr)
	}
	s.log.Info().Str("env", string(env)).Int64("run", run.ID).Any("counts", run.Counts).Msg("sync finished")
	return res, nil
}

type syncJob struct {
	s        *Service
	st       *store.Store
	c        *stripeapi.Client
	env      vocab.Env
	progress func(Progress)

	mu      sync.Mutex // guards run, removed and the progress callback
	run     *store.SyncRun
	removed map[string]int64
}

// meters mirrors the account's meters when the catalog is synced: prices
// refer to them, and Stripe sends no meter events to keep them current.
func (j *syncJob) meters(ctx context.Context, objects []string) (int64, error) {
	if !slices.Contains(objects, string(vocab.Prices)) && !slices.Contains(objects, string(vocab.Products)) {
		return 0, nil
	}
	return syncMeters(ctx, j.st, j.c, j.env)
}

// run_ syncs independent kinds concurrently (they share the client's rate
// limit pacing); prices follow products because they reference them.
func (j *syncJob) run_(ctx context.Context, objects []string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var lanes [][]vocab.Kind
	var catalog []vocab.Kind
	for _, o := range objects {
		k := vocab.Kind(o)
		if k == vocab.Products || k == vocab.Prices {
			catalog = append(catalog, k)
		} else {
			lanes = append(lanes, []vocab.Kind{k})
		}
	}
	if len(catalog) > 0 {
		lanes = append([][]vocab.Kind{catalog}, lanes...)
	}
	var wg sync.WaitGroup
	for _, lane := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, k := range lane {
				if err := j.syncKind(ctx, k); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

type fetched struct {
	page *stripeapi.Page
	at   time.Time
	err  error
}

// syncKind pages through one kind. The next page is fetched while the
// current one is stored, so the store never holds back the request pacing.
func (j *syncJob) syncKind(ctx context.Context, kind vocab.Kind) error {
	j.mu.Lock()
	done := slices.Contains(j.run.Done, string(kind))
	cursor := j.run.Cursors[string(kind)]
	j.mu.Unlock()
	if done {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan fetched, 1)
	go func() {
		defer close(pages)
		after := cursor
		for {
			at := time.Now()
			p, err := lister[kind](j.c, ctx, after, pageSize, listFilters[kind])
			more := err == nil && p.HasMore && len(p.Data) > 0
			if more { // read the cursor before the page is handed over
				var last struct{ ID string }
				if err = json.Unmarshal(p.Data[len(p.Data)-1], &last); err == nil {
					after = last.ID
				}
			}
			select {
			case pages <- fetched{page: p, at: at, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil || !more {
				return
			}
		}
	}()
	var listedAt time.Time // when the first page was asked for
	complete := false
	for f := range pages {
		if f.err != nil {
			return fmt.Errorf("%s: %w", kind, f.err)
		}
		if listedAt.IsZero() {
			listedAt = f.at
		}
		if err := j.store(ctx, kind, f.page.Data, f.at); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		complete = !f.page.HasMore || len(f.page.Data) == 0
		if err := j.advance(ctx, kind, f.page, complete); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// A listing from the start, read to its end, holds every object of the
	// kind: those it did not return were deleted in Stripe. (A resumed
	// listing read its first pages earlier and cannot tell.)
	if complete && cursor == "" && store.DeletedInStripe(kind) {
		ids, err := j.st.MarkUnlisted(ctx, j.env, kind, listedAt)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		if len(ids) > 0 {
			j.mu.Lock()
			j.removed[string(kind)] = int64(len(ids))
			j.mu.Unlock()
			j.s.log.Info().Str("env", string(j.env)).Str("kind", string(kind)).Int("count", len(ids)).
				Strs("first", ids[:min(len(ids), 10)]).Msg("sync: gone from Stripe, marked deleted")
		}
	}
	return nil
}

func (j *syncJob) store(ctx context.Context, kind vocab.Kind, objs []json.RawMessage, at time.Time) error {
	switch kind {
	case vocab.Prices:
		if err := j.ensureProducts(ctx, objs); err != nil {
			return err
		}
	case vocab.Subscriptions:
		for i, o := range objs {
			full, err := j.completeItems(ctx, o)
			if err != nil {
				return err
			}
			objs[i] = full
		}
	}
	_, err := j.st.Upsert(ctx, j.env, kind, objs, at)
	return err
}

// ensureProducts stores the products of prices that billwire has not seen
// (created in Stripe after the product pages were read).
func (j *syncJob) ensureProducts(ctx context.Context, prices []json.RawMessage) error {
	ids := make([]string, 0, len(prices))
	for _, o := range prices {
		var p struct {
			Product json.RawMessage `json:"product"`
		}
		if err := json.Unmarshal(o, &p); err != nil {
			return err
		}
		var id string
		if json.Unmarshal(p.Product, &id) != nil {
			var obj struct{ ID string }
			json.Unmarshal(p.Product, &obj) //nolint:errcheck
			id = obj.ID
		}
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	missing, err := j.st.MissingProducts(ctx, j.env, ids)
	if err != nil || len(missing) == 0 {
		return err
	}
	return j.s.FetchProducts(ctx, j.st, j.c, j.env, missing)
}

// completeItems fetches the rest of a subscription's items when Stripe's
// embedded list was cut short, so the stored items are the whole set.
func (j *syncJob) completeItems(ctx context.Context, sub json.RawMessage) (json.RawMessage, error) {
	var head struct {
		ID    string `json:"id"`
		Items struct {
			Data    []json.RawMessage `json:"data"`
			HasMore bool              `json:"has_more"`
		} `json:"items"`
	}
	if err := json.Unmarshal(sub, &head); err != nil || !head.Items.HasMore {
		return sub, err
	}
	items := head.Items.Data
	after := ""
	if n := len(items); n > 0 {
		var last struct{ ID string }
		json.Unmarshal(items[n-1], &last) //nolint:errcheck
		after = last.ID
	}
	for {
		p, err := j.c.ListSubscriptionItems(ctx, head.ID, after, pageSize)
		if err != nil {
			return nil, err
		}
		items = append(items, p.Data...)
		if !p.HasMore || len(p.Data) == 0 {
			break
		}
		var last struct{ ID string }
		json.Unmarshal(p.Data[len(p.Data)-1], &last) //nolint:errcheck
		after = last.ID
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(sub, &obj); err != nil {
		return nil, err
	}
	list, err := json.Marshal(map[string]any{"object": "list", "data": items, "has_more": false})
	if err != nil {
		return nil, err
	}
	obj["items"] = list
	return json.Marshal(obj)
}

// advance records a stored page in the run (cursor, count, done) and reports progress.
func (j *syncJob) advance(ctx context.Context, kind vocab.Kind, p *stripeapi.Page, last bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if n := len(p.Data); n > 0 {
		var obj struct{ ID string }
		if err := json.Unmarshal(p.Data[n-1], &obj); err != nil {
			return err
		}
		j.run.Cursors[string(kind)] = obj.ID
		j.run.Counts[string(kind)] += int64(n)
	}
	if last {
		j.run.Done = append(j.run.Done, string(kind))
	}
	if err := j.st.SaveSyncProgress(ctx, j.run); err != nil {
		return err
	}
	if j.progress != nil {
		var total int64
		for _, n := range j.run.Counts {
			total += n
		}
		j.progress(Progress{Kind: kind, Total: total, Count: j.run.Counts[string(kind)]})
	}
	return nil
}
