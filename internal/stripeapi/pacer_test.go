package stripeapi

import (
	"testing"
	"time"
)

// Half a second's requests go at once; the next ones are spaced at the rate,
// and an idle while fills the bucket again.
func TestPacerLetsABurstThroughThenPaces(t *testing.T) {
	p := newPacer(24)
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 12 {
		if d := p.reserve(t0); d != 0 {
			t.Fatalf("request %d of the burst waits %v", i+1, d)
		}
	}
	for i := 1; i <= 3; i++ {
		if d, want := p.reserve(t0), time.Duration(i)*(time.Second/24); d != want {
			t.Fatalf("request %d after the burst waits %v, want %v", 12+i, d, want)
		}
	}
	later := t0.Add(3 * time.Second)
	for i := range 12 {
		if d := p.reserve(later); d != 0 {
			t.Fatalf("after an idle while, request %d waits %v", i+1, d)
		}
	}
	if d := p.reserve(later); d != time.Second/24 {
		t.Fatalf("the 13th request of the second burst waits %v", d)
	}
}

// Below one request a second, the bucket holds one.
func TestPacerBelowOnePerSecond(t *testing.T) {
	p := newPacer(0.5)
	t0 := time.Unix(1_800_000_000, 0)
	if d := p.reserve(t0); d != 0 {
		t.Fatalf("first request waits %v", d)
	}
	if d := p.reserve(t0); d != 2*time.Second {
		t.Fatalf("second request waits %v, want 2s", d)
	}
}
