package fault_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/billwire/billwire/internal/fault"
)

func TestErrorTextKindAndMatching(t *testing.T) {
	cause := errors.New("pq: connection refused")
	sentinel := &fault.Error{Kind: fault.NotFound, Code: "unknown_thing", Message: "unknown thing"}
	cases := []struct {
		name     string
		err      error
		text     string
		kind     fault.Kind
		sentinel bool
	}{
		{"message only", fault.New(fault.Invalid, "invalid_request", "mode %q is not supported", "x"), `mode "x" is not supported`, fault.Invalid, false},
		{"cause is the text", fault.Wrap(fault.Unavailable, "database_unavailable", "retry shortly", cause), "pq: connection refused", fault.Unavailable, false},
		{"wrapped with %w", fmt.Errorf("ctx: %w", fault.New(fault.NotFound, "unknown_thing", "no thing")), "ctx: no thing", fault.NotFound, true},
		{"same code, other kind", fault.New(fault.Conflict, "unknown_thing", "no"), "no", fault.Conflict, false},
		{"plain error", cause, "pq: connection refused", fault.Internal, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.err.Error(); got != c.text {
				t.Errorf("text %q, want %q", got, c.text)
			}
			if got := fault.KindOf(c.err); got != c.kind {
				t.Errorf("kind %v, want %v", got, c.kind)
			}
			if got := errors.Is(c.err, sentinel); got != c.sentinel {
				t.Errorf("errors.Is(sentinel) = %v, want %v", got, c.sentinel)
			}
		})
	}
	if w := fault.Wrap(fault.Upstream, "stripe_unavailable", "retry", cause); !errors.Is(w, cause) {
		t.Error("a wrapped cause is not found by errors.Is")
	}
	if e, ok := fault.As(fmt.Errorf("x: %w", fault.Invalidf("bad"))); !ok || e.Code != "invalid_request" || e.Message != "bad" {
		t.Errorf("As = %+v, %v", e, ok)
	}
	if fault.Invalid.String() != "invalid" || fault.Kind(200).String() != "kind(200)" {
		t.Error("kind names")
	}
}
