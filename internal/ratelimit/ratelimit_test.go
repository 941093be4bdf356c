package ratelimit_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/ratelimit"
)

func TestParseRate(t *testing.T) {
	good := map[string]ratelimit.Rate{
		"10/m,burst=5":     {N: 10, Period: time.Minute, Burst: 5},
		" 600/m, burst=60": {N: 600, Period: time.Minute, Burst: 60},
		"5/s":              {N: 5, Period: time.Second, Burst: 5},
		"100/h,burst=1":    {N: 100, Period: time.Hour, Burst: 1},
		"off":              {},
		"0":                {},
	}
	for in, want := range good {
		got, err := ratelimit.ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, err := ratelimit.ParseRate(got.String()); err != nil || again != got {
			t.Errorf("ParseRate(%q.String() = %q) = %+v, %v", in, got.String(), again, err)
		}
	}
	for _, in := range []string{"", "10", "10/d", "ten/m", "-1/m", "0/m", "10/m,5", "10/m,burst=0", "10/m,burst=x", "10/m,rate=5", "2000000/s", "1.5/s"} {
		if r, err := ratelimit.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %+v, want an error", in, r)
		}
	}
}

var perMinute = ratelimit.Rate{N: 10, Period: time.Minute, Burst: 5}

func TestBurstThenRate(t *testing.T) {
	l := ratelimit.New(0)
	now := time.Now()
	a := ratelimit.Ask{Key: "u1", Rate: perMinute}
	for i := range 5 {
		if ok, _, _ := l.TakeAt(now, a); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry, denied := l.TakeAt(now, a)
	if ok || denied != 0 || retry != 6*time.Second {
		t.Fatalf("6th request: ok %v, retry %v, denied %d; want refused, retry 6s", ok, retry, denied)
	}
	if ok, _, _ := l.TakeAt(now.Add(5900*time.Millisecond), a); ok {
		t.Fatal("a token came back before 6 s")
	}
	if ok, _, _ := l.TakeAt(now.Add(6*time.Second), a); !ok {
		t.Fatal("no token after 6 s")
	}
	// Another key has its own bucket.
	if ok, _, _ := l.TakeAt(now, ratelimit.Ask{Key: "u2", Rate: perMinute}); !ok {
		t.Fatal("another key was refused")
	}
}

// A request takes from all its buckets or from none: a refusal by one does
// not spend the others.
func TestTakeIsAllOrNothing(t *testing.T) {
	l := ratelimit.New(0)
	now := time.Now()
	user := ratelimit.Ask{Key: "user", Rate: perMinute}
	subject := ratelimit.Ask{Key: "subject", Rate: ratelimit.Rate{N: 1, Period: time.Hour, Burst: 1}}
	if ok, _, _ := l.TakeAt(now, user, subject); !ok {
		t.Fatal("first request refused")
	}
	for range 3 {
		ok, retry, denied := l.TakeAt(now, user, subject)
		if ok || denied != 1 || retry != time.Hour {
			t.Fatalf("ok %v retry %v denied %d; want the subject's refusal, retry 1h", ok, retry, denied)
		}
	}
	for i := range 4 { // the user's bucket still holds 4
		if ok, _, _ := l.TakeAt(now, user); !ok {
			t.Fatalf("user request %d refused: the subject's refusals spent the user's tokens", i+1)
		}
	}
	if ok, _, _ := l.TakeAt(now, user); ok {
		t.Fatal("the user's bucket holds more than its burst")
	}
	if ok, _, _ := l.TakeAt(now, ratelimit.Ask{Key: "x", Rate: ratelimit.Rate{}}); !ok {
		t.Fatal("an off rate refused")
	}
}

func TestRefund(t *testing.T) {
	l := ratelimit.New(0)
	now := time.Now()
	a := ratelimit.Ask{Key: "k", Rate: perMinute}
	for range 20 {
		if ok, _, _ := l.TakeAt(now, a); !ok {
			t.Fatal("refunded tokens did not come back")
		}
		l.RefundAt(now, a)
	}
	for range 5 {
		l.TakeAt(now, a)
	}
	for range 10 {
		l.RefundAt(now, a)
	}
	n := 0
	for {
		if ok, _, _ := l.TakeAt(now, a); !ok {
			break
		}
		n++
	}
	if n != 5 {
		t.Fatalf("%d tokens after refunds, want the burst (5)", n)
	}
}

// Idle full buckets are forgotten: after a quiet minute the map is empty.
func TestIdleBucketsAreForgotten(t *testing.T) {
	l := ratelimit.New(0)
	now := time.Now()
	for i := range 1000 {
		l.TakeAt(now, ratelimit.Ask{Key: fmt.Sprint("k", i), Rate: perMinute})
	}
	if l.Len() != 1000 {
		t.Fatalf("%d buckets, want 1000", l.Len())
	}
	l.TakeAt(now.Add(2*time.Minute), ratelimit.Ask{Key: "late", Rate: perMinute})
	if n := l.Len(); n != 1 {
		t.Fatalf("%d buckets after a quiet two minutes, want 1", n)
	}
}

// An attacker's flood of distinct keys (a new user, subject or key on every
// request) fills the map to its cap and no further, and does not reset a
// busy key's empty bucket.
func TestFloodOfDistinctKeysIsBounded(t *testing.T) {
	const max = 2000
	l := ratelimit.New(max)
	now := time.Now()
	hot := ratelimit.Ask{Key: "hot", Rate: perMinute}
	for range 5 {
		l.TakeAt(now, hot)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	long := strings.Repeat("x", 4096) // long keys cost a hash each, not their length
	for i := range 200_000 {
		at := now.Add(time.Duration(i) * time.Microsecond) // 0.2 s of flood: no bucket refills
		if ok, _, _ := l.TakeAt(at, ratelimit.Ask{Key: fmt.Sprint(long, i), Rate: perMinute}); !ok {
			t.Fatalf("distinct key %d refused", i)
		}
		if i%10_000 == 0 && l.Len() > max {
			t.Fatalf("%d buckets after %d keys, cap %d", l.Len(), i+1, max)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := l.Len(); n > max {
		t.Fatalf("%d buckets, cap %d", n, max)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 1<<20 {
		t.Fatalf("heap grew %d bytes over the flood", grown)
	}
	if ok, _, _ := l.TakeAt(now.Add(time.Second), hot); ok {
		t.Fatal("the flood evicted the busy key's empty bucket: it got a fresh burst")
	}
}

func TestCheckTakesNothing(t *testing.T) {
	l := ratelimit.New(0)
	a := ratelimit.Ask{Key: "k", Rate: ratelimit.Rate{N: 1, Period: time.Hour, Burst: 2}}
	for range 10 {
		if ok, _ := l.Check(a); !ok {
			t.Fatal("Check refused a full bucket")
		}
	}
	l.Take(a)
	l.Take(a)
	ok, retry := l.Check(a)
	if ok || retry < 59*time.Minute || retry > time.Hour {
		t.Fatalf("Check of an empty bucket: %v %v", ok, retry)
	}
}
