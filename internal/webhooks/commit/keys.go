package commit

import "sync"

// keys keeps the items of one key out of a batch while another batch holds
// that key: what a transaction reads of an object (is the stored state
// from the same second?) must not change under it by a concurrent
// transaction of this process. Batches of one writer's connection run one
// after another, but the items that go alone run beside them. An item
// whose key is held waits for the next batch of the writer whose batch
// holds it.
type keys[T, R any] struct {
	mu    sync.Mutex
	owner map[string]keyOwner[T, R]
	held  [][]*job[T, R] // per writer: items for its next batch
}

// keyOwner is the flight holding a key, or, with flight nil, the writer
// whose next batch will.
type keyOwner[T, R any] struct {
	flight *flight[T, R]
	writer int
}

// take makes f hold the keys of the items of batch it keeps, and moves
// the items whose key another flight holds to that flight's writer's next
// batch.
func (k *keys[T, R]) take(f *flight[T, R], batch []*job[T, R]) []*job[T, R] {
	k.mu.Lock()
	defer k.mu.Unlock()
	kept := batch[:0]
	for _, j := range batch {
		if o, ok := k.owner[j.key]; ok && o.flight != f && (o.flight != nil || o.writer != f.writer) {
			k.held[o.writer] = append(k.held[o.writer], j)
			continue
		}
		k.owner[j.key] = keyOwner[T, R]{f, f.writer}
		kept = append(kept, j)
	}
	return kept
}

// release frees the keys of f but those of the items waiting for its
// writer's next batch.
func (k *keys[T, R]) release(f *flight[T, R]) {
	k.mu.Lock()
	defer k.mu.Unlock()
	keep := make(map[string]bool, len(k.held[f.writer]))
	for _, j := range k.held[f.writer] {
		keep[j.key] = true
	}
	for key, o := range k.owner {
		if o.flight == f {
			if keep[key] {
				k.owner[key] = keyOwner[T, R]{nil, f.writer}
			} else {
				delete(k.owner, key)
			}
		}
	}
}

// next returns the items handed to writer w.
func (k *keys[T, R]) next(w int) []*job[T, R] {
	k.mu.Lock()
	defer k.mu.Unlock()
	h := k.held[w]
	k.held[w] = nil
	return h
}

// waiting reports whether items wait for writer w's next batch.
func (k *keys[T, R]) waiting(w int) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.held[w]) > 0
}

// keyLocks serialize the Reference engine's items of one key, as batches
// hold keys.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu    sync.Mutex
	users int
}

// lock waits for key and returns its unlock.
func (k *keyLocks) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
