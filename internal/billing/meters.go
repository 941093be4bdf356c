package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// MeterCustomerKey is the payload key of the Stripe customer id in the meter
// events billwire sends: meters billwire creates map customers by id.
const MeterCustomerKey = "stripe_customer_id"

// MeterInput is what create_meter takes.
type MeterInput struct {
	EventName   string
	DisplayName string
	// Aggregation is sum (the default) or count.
	Aggregation string
	// ValueKey is the payload key of the value (sum meters; default value).
	ValueKey string `json:",omitempty"`
}

func (in *MeterInput) validate() error {
	in.EventName, in.DisplayName = strings.TrimSpace(in.EventName), strings.TrimSpace(in.DisplayName)
	in.Aggregation = strings.ToLower(strings.TrimSpace(in.Aggregation))
	if in.Aggregation == "" {
		in.Aggregation = "sum"
	}
	switch {
	case in.EventName == "" || utf8.RuneCountInString(in.EventName) > 100:
		return inputErr("event_name is required, 1 to 100 characters: the name the app reports usage under, e.g. api_tokens")
	case in.DisplayName == "" || utf8.RuneCountInString(in.DisplayName) > 250:
		return inputErr("display_name is required, 1 to 250 characters: the meter's name in Stripe, e.g. \"API tokens\"")
	case in.Aggregation != "sum" && in.Aggregation != "count":
		return inputErr("aggregation %q is not supported: use sum (the events' values add up) or count (each event counts 1)", in.Aggregation)
	case in.Aggregation == "count" && in.ValueKey != "":
		return inputErr("value_key applies to sum meters; a count meter counts events: drop value_key")
	case in.ValueKey == MeterCustomerKey || utf8.RuneCountInString(in.ValueKey) > 100:
		return inputErr("value_key %q is not allowed: use 1 to 100 characters other than %s (default value)", in.ValueKey, MeterCustomerKey)
	}
	return nil
}

// Meters is env's mirrored meters.
type Meters struct {
	Env    vocab.Env     `json:"env"`
	Meters []store.Meter `json:"meters"`
}

// CreateMeter creates a billing meter mapping customers by Stripe customer
// id and mirrors it. A retry with the same arguments sends the same
// idempotency key, so Stripe creates one.
func (s *Service) CreateMeter(ctx context.Context, env vocab.Env, in MeterInput) (*store.Meter, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	st, c, e, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	p := &stripe.BillingMeterParams{
		EventName:          stripe.String(in.EventName),
		DisplayName:        stripe.String(in.DisplayName),
		DefaultAggregation: &stripe.BillingMeterDefaultAggregationParams{Formula: stripe.String(in.Aggregation)},
		CustomerMapping: &stripe.BillingMeterCustomerMappingParams{Type: stripe.String("by_id"),
			EventPayloadKey: stripe.String(MeterCustomerKey)},
	}
	if in.ValueKey != "" {
		p.ValueSettings = &stripe.BillingMeterValueSettingsParams{EventPayloadKey: stripe.String(in.ValueKey)}
	}
	return s.createMeter(ctx, st, c, e, p, stripeapi.IdempotencyKey("create_meter", e.Env, e.AccountID, in))
}

func (s *Service) createMeter(ctx context.Context, st *store.Store, c *stripeapi.Client, e *store.Environment, p *stripe.BillingMeterParams, key string) (*store.Meter, error) {
	fetched := time.Now()
	m, raw, err := c.CreateMeter(ctx, p, key)
	if err != nil {
		return nil, err
	}
	if err := st.UpsertMeters(ctx, e.Env, []json.RawMessage{raw}, fetched); err != nil {
		return nil, fmt.Errorf("meter %s was created in Stripe but not stored (%w); retry the same call: Stripe will return the same meter", m.ID, err)
	}
	s.log.Info().Str("env", string(e.Env)).Str("meter", m.ID).Msg("meter created")
	return st.MeterByID(ctx, e.Env, m.ID)
}

// ListMeters reads env's mirrored meters.
func (s *Service) ListMeters(ctx context.Context, env vocab.Env) (*Meters, error) {
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := st.ListMeters(ctx, env)
	if err != nil {
		return nil, err
	}
	return &Meters{Env: env, Meters: ms}, nil
}

// syncMeters mirrors every meter of the account (a few per account, all
// pages) and returns how many it stored.
func syncMeters(ctx context.Context, st *store.Store, c *stripeapi.Client, env vocab.Env) (int64, error) {
	var n int64
	after := ""
	for {
		fetched := time.Now()
		page, err := c.ListMeters(ctx, after, pageSize, nil)
		if err != nil {
			return n, fmt.Errorf("sync meters: %w", err)
		}
		if err := st.UpsertMeters(ctx, env, page.Data, fetched); err != nil {
			return n, err
		}
		n += int64(len(page.Data))
		if !page.HasMore || len(page.Data) == 0 {
			return n, nil
		}
		var last struct{ ID string }
		if err := json.Unmarshal(page.Data[len(page.Data)-1], &last); err != nil {
			return n, err
		}
		after = last.ID
	}
}

// activeMeter returns env's active meter id, refreshing the mirror from
// Stripe when billwire has not seen it.
func (s *Service) activeMeter(ctx context.Context, st *store.Store, c *stripeapi.Client, env vocab.Env, id string) (*store.Meter, error) {
	m, err := st.MeterByID(ctx, env, id)
	if errors.Is(err, store.ErrNotFound) {
		if _, err := syncMeters(ctx, st, c, env); err != nil {
			return nil, err
		}
		m, err = st.MeterByID(ctx, env, id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, inputErr("meter %q does not exist in this Stripe account's %s mode: create it with create_meter, or find its id with list_meters", id, env)
	case err != nil:
		return nil, err
	case m.Status != "active":
		return nil, inputErr("meter %s (%s) is %s: a metered price needs an active meter; pick another with list_meters", m.ID, m.EventName, m.Status)
	}
	return m, nil
}

// ReplayUsage makes env's failed meter events pending again: the usage
// sender resends them, with the same identifiers.
func (s *Service) ReplayUsage(ctx context.Context, env vocab.Env) (int64, error) {
	st, err := s.stores.Get(ctx)
	if err != nil {
		return 0, err
	}
	return st.ReplayFailedUsage(ctx, env)
}
