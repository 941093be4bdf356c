package commit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// alone is a Committer whose items only commit alone, counting how many of
// one key commit at once.
type alone struct {
	mu      sync.Mutex
	running map[string]int
	most    map[string]int
	done    atomic.Int64
}

type testItem struct{ key, name string }

func (c *alone) Key(it testItem) string { return it.key }
func (c *alone) Prepare(batch []testItem) Plan {
	p := Plan{Alone: make([]bool, len(batch))}
	for i := range p.Alone {
		p.Alone[i] = true
	}
	return p
}
func (c *alone) Claimed(testItem, Row) (string, bool, error)            { return "", false, nil }
func (c *alone) Committed(batch []testItem, shared []int, res []string) {}
func (c *alone) Alone(ctx context.Context, it testItem) string {
	c.mu.Lock()
	c.running[it.key]++
	c.most[it.key] = max(c.most[it.key], c.running[it.key])
	c.mu.Unlock()
	time.Sleep(time.Millisecond)
	c.mu.Lock()
	c.running[it.key]--
	c.mu.Unlock()
	c.done.Add(1)
	return "committed " + it.name
}

// The Reference engine commits each item alone, one item of a key at a
// time, answers each caller with its own item's result, lets Close wait
// for the items under way and refuses items after it.
func TestReferenceEngine(t *testing.T) {
	t.Parallel()
	c := &alone{running: map[string]int{}, most: map[string]int{}}
	e := New[testItem, string](c, nil, zerolog.Nop(), Options{Reference: true})
	var wg sync.WaitGroup
	const n = 40
	got := make([]string, n)
	for i := range n {
		it := testItem{key: []string{"a", "b"}[i%2], name: string(rune('A' + i))}
		wg.Go(func() {
			r, err := e.Commit(context.Background(), it, e.Arrive())
			if err != nil {
				t.Error(err)
			}
			got[i] = r
		})
	}
	wg.Wait()
	for i, r := range got {
		if want := "committed " + string(rune('A'+i)); r != want {
			t.Errorf("item %d answered %q, want %q", i, r, want)
		}
	}
	if c.most["a"] != 1 || c.most["b"] != 1 {
		t.Errorf("items of one key at once: %v; want 1", c.most)
	}
	e.Close()
	if _, err := e.Commit(context.Background(), testItem{key: "a"}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want %v", err, ErrClosed)
	}
	if c.done.Load() != n {
		t.Fatalf("%d items committed of %d", c.done.Load(), n)
	}
}

// Through the writers, a batch whose plan shares nothing sends each item
// alone (no connection is needed), and each caller gets its own result.
func TestWritersAnswerEachItem(t *testing.T) {
	t.Parallel()
	c := &alone{running: map[string]int{}, most: map[string]int{}}
	e := New[testItem, string](c, nil, zerolog.Nop(), Options{Writers: 2})
	var wg sync.WaitGroup
	const n = 40
	got := make([]string, n)
	for i := range n {
		it := testItem{key: []string{"a", "b", "c"}[i%3], name: string(rune('A' + i))}
		wg.Go(func() {
			r, err := e.Commit(context.Background(), it, nil)
			if err != nil {
				t.Error(err)
			}
			got[i] = r
		})
	}
	wg.Wait()
	e.Close()
	for i, r := range got {
		if want := "committed " + string(rune('A'+i)); r != want {
			t.Errorf("item %d answered %q, want %q", i, r, want)
		}
	}
	if c.done.Load() != n {
		t.Fatalf("%d items committed of %d", c.done.Load(), n)
	}
}
