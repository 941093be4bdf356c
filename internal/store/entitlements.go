package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Execer runs a statement: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// ErrEntitlementSummaryTruncated means a summary object lists only the first
// page of the customer's entitlements (Stripe puts at most 10 in the event):
// the whole list must be fetched (billing.Service.FetchEntitlementSummary)
// and that stored instead.
var ErrEntitlementSummaryTruncated = errors.New("the entitlement summary holds only the first page of entitlements (has_more)")

// EntitlementSummaryObject is what billwire reads from a Stripe
// entitlements.active_entitlement_summary object.
type EntitlementSummaryObject struct {
	Customer string
	Livemode bool
	// Features are the lookup keys of the active entitlements listed.
	Features []string
	// HasMore is set when the list is truncated.
	HasMore bool
}

// ParseEntitlementSummary reads an entitlements.active_entitlement_summary
// object (data.object of entitlements.active_entitlement_summary.updated).
func ParseEntitlementSummary(obj json.RawMessage) (*EntitlementSummaryObject, error) {
	var o struct {
		Object       string `json:"object"`
		Customer     string `json:"customer"`
		Livemode     bool   `json:"livemode"`
		Entitlements *struct {
			Data []struct {
				LookupKey string `json:"lookup_key"`
			} `json:"data"`
			HasMore bool `json:"has_more"`
		} `json:"entitlements"`
	}
	if err := json.Unmarshal(obj, &o); err != nil {
		return nil, fmt.Errorf("entitlement summary: %w", err)
	}
	switch {
	case o.Object != "entitlements.active_entitlement_summary":
		return nil, fmt.Errorf("entitlement summary: object is %q, want entitlements.active_entitlement_summary", o.Object)
	case o.Customer == "":
		return nil, errors.New("entitlement summary: no customer")
	case o.Entitlements == nil:
		return nil, errors.New("entitlement summary: no entitlements list")
	}
	out := &EntitlementSummaryObject{Customer: o.Customer, Livemode: o.Livemode, HasMore: o.Entitlements.HasMore, Features: []string{}}
	for _, e := range o.Entitlements.Data {
		if e.LookupKey != "" {
			out.Features = append(out.Features, e.LookupKey)
		}
	}
	return out, nil
}

// entitlementSummaryUpsert is the statement that stores summary objects,
// reading its rows from the query input, whose columns are env (text), o
// (the summary object, jsonb) and at (timestamptz), each unless a summary
// from a newer source is stored. The features column holds the lookup keys
// of its entitlements, sorted and without repeats. The webhook batches
// (summarySQL) and ProjectEntitlementSummary share it.
func entitlementSummaryUpsert(input string) string {
	return `
	INSERT INTO payments.entitlement_summaries AS t (env, customer_id, features, source_at, data)
	SELECT r.env, r.o->>'customer',
		ARRAY(SELECT DISTINCT e->>'lookup_key' FROM jsonb_array_elements(coalesce(r.o->'entitlements'->'data', '[]')) e
			WHERE coalesce(e->>'lookup_key', '') <> '' ORDER BY 1),
		r.at, r.o
	FROM (` + input + `) r
	ON CONFLICT (customer_id, env) DO UPDATE SET features = EXCLUDED.features, source_at = EXCLUDED.source_at,
		data = EXCLUDED.data, updated_at = now()
	WHERE t.source_at <= EXCLUDED.source_at`
}

// entitlementSummarySQL stores a summary object ($2) for env ($1) as of $3.
var entitlementSummarySQL = entitlementSummaryUpsert(`SELECT $1::text AS env, $2::jsonb AS o, $3::timestamptz AS at`)

// entitlementSummaryStatement is the statement ProjectEntitlementSummary
// runs, for callers that batch statements. It does not check the object:
// call ParseEntitlementSummary first.
func entitlementSummaryStatement(env vocab.Env, obj json.RawMessage, sourceAt time.Time) (string, []any) {
	return entitlementSummarySQL, []any{env, string(obj), sourceAt}
}

// ProjectEntitlementSummary stores a customer's active entitlements from an
// entitlements.active_entitlement_summary object as of sourceAt (the
// event's created time, or the time of a fetch); a summary already stored
// from a newer source is kept. A truncated summary is refused with
// ErrEntitlementSummaryTruncated, so that a partial list never revokes
// features: fetch the whole list and store that.
func ProjectEntitlementSummary(ctx context.Context, db Execer, env vocab.Env, obj json.RawMessage, sourceAt time.Time) error {
	sum, err := ParseEntitlementSummary(obj)
	if err != nil {
		return err
	}
	if sum.HasMore {
		return fmt.Errorf("customer %s: %w", sum.Customer, ErrEntitlementSummaryTruncated)
	}
	if sum.Livemode != (env == vocab.Live) {
		return fmt.Errorf("entitlement summary of customer %s has livemode %v, but the environment is %s", sum.Customer, sum.Livemode, env)
	}
	sql, args := entitlementSummaryStatement(env, obj, sourceAt)
	if _, err := db.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("store entitlement summary of %s: %w", sum.Customer, err)
	}
	return nil
}

// EntitlementSummary is a customer's stored active entitlements.
type EntitlementSummary struct {
	Env        vocab.Env `json:"env"`
	CustomerID string    `json:"customer_id"`
	Features   []string  `json:"features"`
	SourceAt   time.Time `json:"source_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// GetEntitlementSummary returns the stored summary of a customer, or ErrNotFound.
func (s *Store) GetEntitlementSummary(ctx context.Context, env vocab.Env, customerID string) (*EntitlementSummary, error) {
	var e EntitlementSummary
	err := s.pool.QueryRow(ctx, `
		SELECT env, customer_id, features, source_at, updated_at FROM payments.entitlement_summaries
		WHERE customer_id = $2 AND env = $1`, env, customerID).Scan(&e.Env, &e.CustomerID, &e.Features, &e.SourceAt, &e.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read entitlement summary of %s: %w", customerID, err)
	}
	return &e, nil
}

// SubjectEntitlements is what billwire knows of a subject's entitlements:
// its customer and, once Stripe sent one, the customer's summary.
type SubjectEntitlements struct {
	CustomerID string
	// MappingConfirmed is set once a webhook event confirmed the customer.
	MappingConfirmed bool
	// Summary is nil until Stripe sent a summary for the customer.
	Summary *EntitlementSummary
}

// GetSubjectEntitlements resolves a subject to its customer through
// payments.customer_mappings and reads the customer's summary. It returns
// ErrNotFound when no customer is mapped to the subject.
func (s *Store) GetSubjectEntitlements(ctx context.Context, env vocab.Env, subjectType, subjectID string) (*SubjectEntitlements, error) {
	var out SubjectEntitlements
	var features []string
	var sourceAt, updatedAt *time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT m.customer_id, m.confirmed, e.features, e.source_at, e.updated_at
		FROM payments.customer_mappings m
		LEFT JOIN payments.entitlement_summaries e ON e.customer_id = m.customer_id AND e.env = m.env
		WHERE m.subject_id = $3 AND m.subject_type = $2 AND m.env = $1`, env, subjectType, subjectID).
		Scan(&out.CustomerID, &out.MappingConfirmed, &features, &sourceAt, &updatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read entitlements of %s %s: %w", subjectType, subjectID, err)
	}
	if sourceAt != nil {
		out.Summary = &EntitlementSummary{Env: env, CustomerID: out.CustomerID, Features: features, SourceAt: *sourceAt, UpdatedAt: *updatedAt}
	}
	return &out, nil
}

// PutEntitlementSummary is ProjectEntitlementSummary outside a
// transaction: for a summary fetched from Stripe rather than projected
// from an event.
func (s *Store) PutEntitlementSummary(ctx context.Context, env vocab.Env, obj json.RawMessage, sourceAt time.Time) error {
	return ProjectEntitlementSummary(ctx, s.pool, env, obj, sourceAt)
}
