package checkout

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// SubjectUsage is a subject's usage of one meter in its subscription's
// current period.
type SubjectUsage struct {
	Env            vocab.Env    `json:"env"`
	Subject        auth.Subject `json:"subject"`
	SubscriptionID string       `json:"subscription_id"`
	EventName      string       `json:"event_name"`
	MeterID        string       `json:"meter_id"`
	PeriodStart    time.Time    `json:"period_start"`
	PeriodEnd      time.Time    `json:"period_end"`
	// Total is Stripe's summary over [period start, StripeThrough) plus the
	// usage billwire accepted at or after StripeThrough, which Stripe's
	// summaries may not count yet.
	Total         float64   `json:"total"`
	StripeThrough time.Time `json:"stripe_through"`
	// Days are the period's accepted usage per UTC day, from billwire.
	Days []store.UsageDay `json:"days"`
}

// summaryLag is how far Stripe's meter event summaries may lag behind:
// usage after now less this comes from billwire's own rows.
const summaryLag = 10 * time.Minute

// stripeTotals caches Stripe's summaries for 60 s: a page polling the
// usage does not ask Stripe on every view.
type stripeTotals struct {
	mu sync.Mutex
	m  map[string]cachedTotal
}

type cachedTotal struct {
	value float64
	until time.Time
}

func (c *stripeTotals) get(key string, now time.Time) (float64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[key]
	return t.value, ok && now.Before(t.until)
}

func (c *stripeTotals) put(key string, v float64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]cachedTotal{}
	}
	c.m[key] = cachedTotal{v, now.Add(time.Minute)}
}

// GetSubjectUsage returns the subject's usage of the meter named by
// eventName ("" when the subject's subscriptions bill one meter) in its
// metered subscription's current period.
func (s *Service) GetSubjectUsage(ctx context.Context, env vocab.Env, caller *auth.Caller, sub auth.Subject, eventName string) (*SubjectUsage, error) {
	if err := sub.Validate(); err != nil {
		return nil, badRequest("invalid_subject", "%s", err)
	}
	if err := caller.Authorize(env, sub, auth.Read); err != nil {
		return nil, err
	}
	st, c, err := s.sessionClient(ctx, env)
	if err != nil {
		return nil, err
	}
	subs, err := st.SubjectMeteredSubscriptions(ctx, env, sub.Type, sub.ID, eventName)
	if err != nil {
		return nil, s.unavailable(err)
	}
	switch {
	case len(subs) == 0 && eventName != "":
		return nil, fault.New(fault.NotFound, "no_metered_subscription", "%s has no active subscription billing meter %q", sub, eventName)
	case len(subs) == 0:
		return nil, fault.New(fault.NotFound, "no_metered_subscription", "%s has no active subscription with a metered price", sub)
	case len(subs) > 1:
		names := make([]string, len(subs))
		for i, m := range subs {
			names[i] = m.EventName
		}
		return nil, badRequest("event_name_required", "%s is billed on %d meters (%s): pass ?event_name=", sub, len(subs), strings.Join(names, ", "))
	}
	m := subs[0]
	now := time.Now()
	start := m.PeriodStart.UTC().Truncate(time.Minute)
	through := now.Add(-summaryLag).UTC().Truncate(time.Minute)
	if through.Before(start) {
		through = start
	}
	out := &SubjectUsage{Env: env, Subject: sub, SubscriptionID: m.SubscriptionID, EventName: m.EventName, MeterID: m.MeterID,
		PeriodStart: m.PeriodStart.UTC(), PeriodEnd: m.PeriodEnd.UTC(), StripeThrough: through, Days: []store.UsageDay{}}
	days, err := st.SubjectUsageDays(ctx, env, sub.Type, sub.ID, m, start, m.PeriodEnd, through)
	if err != nil {
		return nil, s.unavailable(err)
	}
	for _, d := range days {
		out.Days, out.Total = append(out.Days, d), out.Total+d.Since
	}
	if through.After(start) {
		key := string(env) + "\x00" + m.MeterID + "\x00" + m.CustomerID + "\x00" + start.String() + "\x00" + through.String()
		v, ok := s.usageTotals.get(key, now)
		if !ok {
			if v, err = c.MeterEventTotal(ctx, m.MeterID, m.CustomerID, start, through); err != nil {
				return nil, stripeProblem(err)
			}
			s.usageTotals.put(key, v, now)
		}
		out.Total += v
	}
	return out, nil
}
