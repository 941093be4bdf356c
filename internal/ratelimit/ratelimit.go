// Package ratelimit is a token-bucket limiter over many keys in bounded
// memory: a bucket per key, created full, refilled at its rate up to its
// burst; idle full buckets are forgotten (a forgotten bucket is a full one),
// and the number of buckets held is capped, so a flood of distinct keys
// costs a fixed amount of memory.
package ratelimit

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is N events per Period with bursts of up to Burst. The zero Rate is
// off: it limits nothing.
type Rate struct {
	N      int
	Period time.Duration // time.Second, time.Minute or time.Hour
	Burst  int
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.N <= 0 }

// perSecond is the refill rate.
func (r Rate) perSecond() float64 { return float64(r.N) / r.Period.Seconds() }

// String is r in the form ParseRate reads: "10/m,burst=5", or "off".
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s,burst=%d", r.N, unitOf(r.Period), r.Burst)
}

// Describe is r in words, for messages: "10 a minute, 5 at once".
func (r Rate) Describe() string {
	if r.Off() {
		return "no limit"
	}
	word := map[string]string{"s": "a second", "m": "a minute", "h": "an hour"}[unitOf(r.Period)]
	return fmt.Sprintf("%d %s, %d at once", r.N, word, r.Burst)
}

func unitOf(d time.Duration) string {
	switch d {
	case time.Second:
		return "s"
	case time.Hour:
		return "h"
	}
	return "m"
}

// Form is the syntax ParseRate accepts, for error messages.
const Form = `N/s, N/m or N/h with an optional ",burst=B" (e.g. "10/m,burst=5"), or "off" (or 0) for no limit`

// maxN bounds N and Burst, so that nothing overflows.
const maxN = 1_000_000

// ParseRate reads "N/s", "N/m" or "N/h" (N events a second, minute or
// hour), optionally followed by ",burst=B" (at most B at once; default N),
// or "off" or "0", which is no limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	spec, burst, hasBurst := strings.Cut(s, ",")
	n, unit, ok := strings.Cut(strings.TrimSpace(spec), "/")
	if !ok {
		return Rate{}, errors.New("missing /s, /m or /h")
	}
	var r Rate
	switch strings.TrimSpace(unit) {
	case "s":
		r.Period = time.Second
	case "m":
		r.Period = time.Minute
	case "h":
		r.Period = time.Hour
	default:
		return Rate{}, fmt.Errorf("unit %q is not s, m or h", unit)
	}
	var err error
	if r.N, err = count(n); err != nil {
		return Rate{}, fmt.Errorf("N: %w", err)
	}
	r.Burst = r.N
	if hasBurst {
		b, ok := strings.CutPrefix(strings.TrimSpace(burst), "burst=")
		if !ok {
			return Rate{}, fmt.Errorf("%q after the comma is not burst=B", strings.TrimSpace(burst))
		}
		if r.Burst, err = count(b); err != nil {
			return Rate{}, fmt.Errorf("burst: %w", err)
		}
	}
	return r, nil
}

func count(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > maxN {
		return 0, fmt.Errorf("%q is not a whole number from 1 to %d", strings.TrimSpace(s), maxN)
	}
	return n, nil
}

// Ask is one bucket a request takes a token from: its key and its rate.
type Ask struct {
	Key  string
	Rate Rate
}

// Limiter holds the buckets. It is safe for concurrent use.
type Limiter struct {
	mu        sync.Mutex
	seed      maphash.Seed
	epoch     time.Time
	max       int
	buckets   map[uint64]bucket
	lastSweep int64
}

// bucket is one key's tokens at last (ns since the epoch); full is when it
// will hold its burst again, after which it is the same as no bucket.
type bucket struct {
	tokens     float64
	last, full int64
}

// DefaultMaxKeys is how many buckets a Limiter holds by default: about
// 5 MB at most.
const DefaultMaxKeys = 100_000

// sweepEvery is how often idle full buckets are forgotten.
const sweepEvery = int64(time.Minute)

// New returns a Limiter holding at most maxKeys buckets (DefaultMaxKeys
// when maxKeys < 1). Keys are kept as 64-bit hashes under a random seed,
// so a long key costs no more than a short one.
func New(maxKeys int) *Limiter {
	if maxKeys < 1 {
		maxKeys = DefaultMaxKeys
	}
	return &Limiter{seed: maphash.MakeSeed(), epoch: time.Now(), max: maxKeys, buckets: map[uint64]bucket{}}
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Take takes a token from every asked bucket, or from none: it reports
// false, with how long until all of them would have one and the index of
// an ask that had none, when any is empty. Asks whose rate is off are
// ignored.
func (l *Limiter) Take(asks ...Ask) (ok bool, retry time.Duration, denied int) {
	return l.TakeAt(time.Now(), asks...)
}

// TakeAt is Take at the time now.
func (l *Limiter) TakeAt(now time.Time, asks ...Ask) (ok bool, retry time.Duration, denied int) {
	t := int64(now.Sub(l.epoch))
	var hashes [4]uint64
	hs := hashes[:0]
	for _, a := range asks {
		hs = append(hs, maphash.String(l.seed, a.Key))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(t)
	denied = -1
	var after float64
	for i, a := range asks {
		if a.Rate.Off() {
			continue
		}
		if tok := l.tokens(hs[i], a.Rate, t); tok < 1 {
			if wait := (1 - tok) / a.Rate.perSecond(); denied < 0 || wait > after {
				denied, after = i, wait
			}
		}
	}
	if denied >= 0 {
		return false, time.Duration(math.Ceil(after * float64(time.Second))), denied
	}
	for i, a := range asks {
		if !a.Rate.Off() {
			l.set(hs[i], a.Rate, t, l.tokens(hs[i], a.Rate, t)-1)
		}
	}
	return true, 0, -1
}

// Check reports, without taking anything, whether a's bucket holds a
// token now, and if not how long until it does: a cheap early refusal
// before the work that a Take would follow.
func (l *Limiter) Check(a Ask) (ok bool, retry time.Duration) {
	if a.Rate.Off() {
		return true, 0
	}
	h := maphash.String(l.seed, a.Key)
	t := int64(time.Since(l.epoch))
	l.mu.Lock()
	tok := l.tokens(h, a.Rate, t)
	l.mu.Unlock()
	if tok >= 1 {
		return true, 0
	}
	return false, time.Duration(math.Ceil((1 - tok) / a.Rate.perSecond() * float64(time.Second)))
}

// Refund gives back the tokens a Take of the same asks took (a request
// that turned out to cost nothing), up to each bucket's burst.
func (l *Limiter) Refund(asks ...Ask) { l.RefundAt(time.Now(), asks...) }

// RefundAt is Refund at the time now.
func (l *Limiter) RefundAt(now time.Time, asks ...Ask) {
	t := int64(now.Sub(l.epoch))
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range asks {
		if a.Rate.Off() {
			continue
		}
		h := maphash.String(l.seed, a.Key)
		if _, ok := l.buckets[h]; ok {
			l.set(h, a.Rate, t, l.tokens(h, a.Rate, t)+1)
		}
	}
}

// tokens is what the bucket of h holds at t.
func (l *Limiter) tokens(h uint64, r Rate, t int64) float64 {
	b, ok := l.buckets[h]
	if !ok || t >= b.full {
		return float64(r.Burst)
	}
	return math.Min(float64(r.Burst), b.tokens+float64(t-b.last)/float64(time.Second)*r.perSecond())
}

// set stores the bucket of h with tok tokens at t, making room first when
// the Limiter is full. A full bucket is dropped rather than stored.
func (l *Limiter) set(h uint64, r Rate, t int64, tok float64) {
	burst := float64(r.Burst)
	if tok >= burst {
		delete(l.buckets, h)
		return
	}
	if _, ok := l.buckets[h]; !ok && len(l.buckets) >= l.max {
		l.evict(t)
	}
	full := t + int64((burst-tok)/r.perSecond()*float64(time.Second))
	l.buckets[h] = bucket{tokens: tok, last: t, full: full}
}

// evict makes room for one bucket: among a few buckets (map iteration
// starts at a random place), a full one if any, else the one closest to
// full, so that the buckets of busy keys are the last to go.
func (l *Limiter) evict(t int64) {
	const sample = 16
	var victim uint64
	best, n := int64(math.MaxInt64), 0
	for h, b := range l.buckets {
		if b.full <= t {
			victim = h
			break
		}
		if b.full < best {
			victim, best = h, b.full
		}
		if n++; n == sample {
			break
		}
	}
	delete(l.buckets, victim)
}

// sweep forgets the buckets that are full again, at most once a sweepEvery.
func (l *Limiter) sweep(t int64) {
	if t-l.lastSweep < sweepEvery {
		return
	}
	l.lastSweep = t
	for h, b := range l.buckets {
		if b.full <= t {
			delete(l.buckets, h)
		}
	}
}
