package webhooks

import (
	"context"

	"github.com/billwire/billwire/internal/vocab"
)

// OnSent makes p's writers call f after each batch they send, with the
// batches in flight on the connection and its backend's pid.
func OnSent(p *Processor, f func(inflight int, backend uint32)) { p.engine.OnSent(f) }

// Arrive announces a delivery being read, as the receiver does when one
// comes in: the writers wait for its event (up to MaxWait). The returned
// function processes that event.
func Arrive(p *Processor) func(ctx context.Context, env vocab.Env, e *Event) (Status, error) {
	a := p.arrive()
	return func(ctx context.Context, env vocab.Env, e *Event) (Status, error) {
		st, _, err := p.process(ctx, env, e, "webhook", false, a)
		return st, err
	}
}
