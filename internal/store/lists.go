package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
)

// Page asks for one page of a list: after Cursor (from the previous page's
// NextCursor), skipping Offset rows, matching Query and the filters, at most
// Limit rows.
//
// Query is a search that stays on indexes, so it costs the same on a
// million rows as on ten: it matches an id exactly (the object's own, its
// customer's, subject's, invoice's, …), a status word exactly (then it acts
// as the Status filter), and the start of a customer's email or name. The
// catalog, which stays small, matches any part of names, ids and lookup keys.
type Page struct {
	Cursor string
	Query  string
	Limit  int
	// Offset skips rows after the cursor: the dashboard's numbered pages.
	Offset int
	// Status keeps rows with this status (subscriptions, payment history, webhook events).
	Status string
	// SubjectID keeps the rows of one subject, and SubjectType, when set, of
	// that type (subscriptions, payment history).
	SubjectType, SubjectID string
	// Since keeps rows from this time on (payment history, by occurred_at;
	// the newest-first walk stops at it, so it stays on the same indexes).
	Since time.Time
}

// DefaultLimit and MaxLimit bound page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// customerMatches bounds how many customers a name or email prefix brings
// into a search of subscriptions or payments, so that a one-letter search
// cannot pull in the whole table.
const customerMatches = 100

// The statuses each list knows; a query that is one of them filters by it.
var (
	SubscriptionStatuses = []string{"active", "trialing", "past_due", "unpaid", "paused", "incomplete", "incomplete_expired", "canceled"}
	PaymentStatuses      = []string{"succeeded", "failed", "requires_action", "refunded", "partially_refunded", "pending", "canceled",
		"needs_response", "under_review", "won", "lost", "warning_needs_response", "warning_under_review", "warning_closed"}
	EventStatuses = []string{"processed", "stale", "ignored", "failed", "parked"}
)

// ErrBadCursor means a cursor was not made by billwire.
var ErrBadCursor = fmt.Errorf("cursor is not one billwire returned: pass next_cursor from the previous page unchanged, or omit it to start at the first page")

// ErrBadFilter means a filter value is not one the list knows.
var ErrBadFilter = errors.New("unknown filter value")

// EncodeCursor makes an opaque cursor from the last id of a page.
func EncodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + lastID))
}

// DecodeCursor reverses EncodeCursor; "" is the first page.
func DecodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), "v1:") {
		return "", ErrBadCursor
	}
	return strings.TrimPrefix(string(b), "v1:"), nil
}

func (p Page) norm() (after, q string, limit int, err error) {
	after, err = DecodeCursor(p.Cursor)
	limit = p.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		limit = MaxLimit
	}
	return after, strings.TrimSpace(p.Query), limit, err
}

// statusQuery turns a query that is one of statuses into the status filter.
func (p *Page) statusQuery(q string, statuses []string) string {
	if lq := strings.ToLower(q); p.Status == "" && slices.Contains(statuses, lq) {
		p.Status = lq
		return ""
	}
	return q
}

// likeAny is a LIKE pattern matching q anywhere, with q's wildcards literal.
func likeAny(q string) string {
	if q == "" {
		return ""
	}
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
}

// prefixRange bounds, in text_pattern_ops order (bytes), the lowercased
// strings that start with q: lo <= s < hi. Unlike LIKE 'q%' it stays on the
// index under a generic plan.
func prefixRange(q string) (lo, hi string) {
	lo = strings.ToLower(q)
	return lo, lo + "\U0010FFFF"
}

// sqlArgs numbers the arguments of a statement built from the filters given,
// so each combination is its own statement with its own plan.
type sqlArgs []any

func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// tail is the ORDER BY, LIMIT (one more than a page, to know if more remain) and OFFSET.
func (a *sqlArgs) tail(order string, limit, offset int) string {
	s := " ORDER BY " + order + " LIMIT " + a.add(limit+1)
	if offset > 0 {
		s += " OFFSET " + a.add(offset)
	}
	return s
}

// customersMatching selects the ids of at most customerMatches customers of
// env whose email or name starts with the query (lo, hi from prefixRange).
func customersMatching(env, lo, hi string) string {
	return `(SELECT id FROM payments.customers WHERE env = ` + env + ` AND lower(email) ~>=~ ` + lo + ` AND lower(email) ~<~ ` + hi + `
		UNION SELECT id FROM payments.customers WHERE env = ` + env + ` AND lower(name) ~>=~ ` + lo + ` AND lower(name) ~<~ ` + hi + `
		LIMIT ` + strconv.Itoa(customerMatches) + `)`
}

func next[T any](rows []T, limit int, id func(T) string) ([]T, string) {
	if len(rows) > limit {
		rows = rows[:limit]
		return rows, EncodeCursor(id(rows[limit-1]))
	}
	return rows, ""
}

// Product is a product with its prices, as the agent and the app see it.
type Product struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description *string           `json:"description,omitempty"`
	Active      bool              `json:"active"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Created     time.Time         `json:"created"`
	Prices      []Price           `json:"prices"`
}

// Price is one price of a product.
type Price struct {
	ID            string            `json:"id"`
	ProductID     string            `json:"product_id"`
	Active        bool              `json:"active"`
	Currency      string            `json:"currency"`
	UnitAmount    *int64            `json:"unit_amount"`
	Type          string            `json:"type"`
	Interval      *string           `json:"interval,omitempty"`
	IntervalCount *int32            `json:"interval_count,omitempty"`
	LookupKey     *string           `json:"lookup_key,omitempty"`
	Nickname      *string           `json:"nickname,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	// UsageType is licensed or metered (recurring prices only); a metered
	// price bills the usage its Meter counts, per PackageSize units when set.
	UsageType         *string `json:"usage_type,omitempty"`
	Meter             *string `json:"meter,omitempty"`
	UnitAmountDecimal *string `json:"unit_amount_decimal,omitempty"`
	PackageSize       *int64  `json:"package_size,omitempty"`
	// Display is the price for a human, e.g. "20.00 USD / month"; filled by the caller.
	Display string `json:"display,omitempty"`
}

// ListCatalog returns a page of products (by id), each with all its prices.
// Query matches any part of a product's name or id, or of a price's id or lookup key.
func (s *Store) ListCatalog(ctx context.Context, env vocab.Env, p Page) ([]Product, string, error) {
	after, q, limit, err := p.norm()
	if err != nil {
		return nil, "", err
	}
	var a sqlArgs
	e := a.add(env)
	where := "p.env = " + e
	if after != "" {
		where += " AND p.id > " + a.add(after)
	}
	if q != "" {
		like := a.add(likeAny(q))
		where += ` AND (p.name ILIKE ` + like + ` OR p.id ILIKE ` + like + ` OR EXISTS (SELECT 1 FROM payments.prices pr
			WHERE pr.env = p.env AND pr.product_id = p.id AND (pr.id ILIKE ` + like + ` OR pr.lookup_key ILIKE ` + like + `)))`
	}
	rows, err := s.pool.Query(ctx, `
		SELECT p.id, p.name, p.description, p.active, p.metadata, p.created,
			coalesce((SELECT jsonb_agg(jsonb_build_object('id', pr.id, 'product_id', pr.product_id, 'active', pr.active,
				'currency', pr.currency, 'unit_amount', pr.unit_amount, 'type', pr.type, 'interval', pr.recurring_interval,
				'interval_count', pr.recurring_interval_count, 'lookup_key', pr.lookup_key, 'nickname', pr.nickname,
				'metadata', pr.metadata, 'usage_type', pr.data->'recurring'->>'usage_type', 'meter', pr.data->'recurring'->>'meter',
				'unit_amount_decimal', pr.data->>'unit_amount_decimal', 'package_size', pr.data->'transform_quantity'->'divide_by')
				ORDER BY pr.active DESC, pr.created, pr.id)
			FROM payments.prices pr WHERE pr.env = p.env AND pr.product_id = p.id), '[]')
		FROM (SELECT * FROM payments.products p WHERE `+where+a.tail("p.id", limit, p.Offset)+`) p
		ORDER BY p.id`, a...)
	if err != nil {
		return nil, "", fmt.Errorf("list catalog: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Product, error) {
		var pr Product
		var prices []byte
		err := r.Scan(&pr.ID, &pr.Name, &pr.Description, &pr.Active, &pr.Metadata, &pr.Created, &prices)
		if err == nil {
			err = json.Unmarshal(prices, &pr.Prices)
		}
		return pr, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list catalog: %w", err)
	}
	out, nextCursor := next(out, limit, func(p Product) string { return p.ID })
	return out, nextCursor, nil
}

// Customer is a Stripe customer as billwire mirrors it.
type Customer struct {
	ID          string            `json:"id"`
	Email       *string           `json:"email,omitempty"`
	Name        *string           `json:"name,omitempty"`
	Description *string           `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Created     time.Time         `json:"created"`
	Deleted     bool              `json:"deleted,omitempty"`
	// Subject is the app's user or team this customer pays for, from customer_mappings.
	Subject *Subject `json:"subject,omitempty"`
}

// Subject is a user or team of the app, mapped to a Stripe customer.
type Subject struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	// Confirmed is set once a webhook projection saw the mapping in Stripe.
	Confirmed bool `json:"confirmed"`
}

// ListCustomers returns a page of customers (by id), each with its subject.
// Query matches the customer id or its subject id exactly, or the start of
// the email or name.
func (s *Store) ListCustomers(ctx context.Context, env vocab.Env, p Page) ([]Customer, string, error) {
	after, q, limit, err := p.norm()
	if err != nil {
		return nil, "", err
	}
	var a sqlArgs
	e := a.add(env)
	where := "c.env = " + e
	if after != "" {
		where += " AND c.id > " + a.add(after)
	}
	if q != "" {
		lo, hi := prefixRange(q)
		qa, loA, hiA := a.add(q), a.add(lo), a.add(hi)
		where += ` AND c.id IN (
			SELECT id FROM payments.customers WHERE env = ` + e + ` AND id = ` + qa + `
			UNION SELECT customer_id FROM payments.customer_mappings WHERE env = ` + e + ` AND subject_id = ` + qa + `
			UNION SELECT id FROM payments.customers WHERE env = ` + e + ` AND lower(email) ~>=~ ` + loA + ` AND lower(email) ~<~ ` + hiA + `
			UNION SELECT id FROM payments.customers WHERE env = ` + e + ` AND lower(name) ~>=~ ` + loA + ` AND lower(name) ~<~ ` + hiA + `)`
	}
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, c.email, c.name, c.description, c.metadata, c.created, c.deleted, m.subject_type, m.subject_id, m.confirmed
		FROM payments.customers c
		LEFT JOIN payments.customer_mappings m ON m.customer_id = c.id AND m.env = c.env
		WHERE `+where+a.tail("c.id", limit, p.Offset), a...)
	if err != nil {
		return nil, "", fmt.Errorf("list customers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Customer, error) {
		var c Customer
		var st, sid *string
		var confirmed *bool
		err := r.Scan(&c.ID, &c.Email, &c.Name, &c.Description, &c.Metadata, &c.Created, &c.Deleted, &st, &sid, &confirmed)
		if st != nil && sid != nil {
			c.Subject = &Subject{Type: *st, ID: *sid, Confirmed: confirmed != nil && *confirmed}
		}
		return c, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list customers: %w", err)
	}
	out, nextCursor := next(out, limit, func(c Customer) string { return c.ID })
	return out, nextCursor, nil
}

// Subscription is a Stripe subscription with its items.
type Subscription struct {
	ID                 string             `json:"id"`
	CustomerID         string             `json:"customer_id"`
	CustomerEmail      *string            `json:"customer_email,omitempty"`
	CustomerName       *string            `json:"customer_name,omitempty"`
	SubjectType        *string            `json:"subject_type,omitempty"`
	SubjectID          *string            `json:"subject_id,omitempty"`
	Status             string             `json:"status"`
	Currency           *string            `json:"currency,omitempty"`
	CurrentPeriodStart *time.Time         `json:"current_period_start,omitempty"`
	CurrentPeriodEnd   *time.Time         `json:"current_period_end,omitempty"`
	CancelAtPeriodEnd  bool               `json:"cancel_at_period_end"`
	CanceledAt         *time.Time         `json:"canceled_at,omitempty"`
	TrialEnd           *time.Time         `json:"trial_end,omitempty"`
	Metadata           map[string]string  `json:"metadata,omitempty"`
	Created            time.Time          `json:"created"`
	Items              []SubscriptionItem `json:"items"`
}

// SubscriptionItem is one price on a subscription, with the plan it names
// when the price is mirrored.
type SubscriptionItem struct {
	ID            string  `json:"id"`
	PriceID       string  `json:"price_id"`
	Quantity      int64   `json:"quantity"`
	ProductID     *string `json:"product_id,omitempty"`
	ProductName   *string `json:"product_name,omitempty"`
	Nickname      *string `json:"nickname,omitempty"`
	UnitAmount    *int64  `json:"unit_amount,omitempty"`
	Currency      *string `json:"currency,omitempty"`
	Interval      *string `json:"interval,omitempty"`
	IntervalCount *int32  `json:"interval_count,omitempty"`
	// Display is the price for a human, e.g. "20.00 USD / month"; filled by the caller.
	Display string `json:"display,omitempty"`
}

// ListSubscriptions returns a page of subscriptions (by id) with their plans,
// customers and subjects. Query matches the subscription, customer or
// subject id exactly, a status, or the start of the customer's email or name.
func (s *Store) ListSubscriptions(ctx context.Context, env vocab.Env, p Page) ([]Subscription, string, error) {
	after, q, limit, err := p.norm()
	if err != nil {
		return nil, "", err
	}
	q = p.statusQuery(q, SubscriptionStatuses)
	var a sqlArgs
	e := a.add(env)
	where := "s.env = " + e
	if after != "" {
		where += " AND s.id > " + a.add(after)
	}
	if p.Status != "" {
		where += " AND s.status = " + a.add(p.Status)
	}
	if p.SubjectID != "" {
		where += " AND s.subject_id = " + a.add(p.SubjectID)
		if p.SubjectType != "" {
			where += " AND s.subject_type = " + a.add(p.SubjectType)
		}
	}
	if q != "" {
		lo, hi := prefixRange(q)
		qa, loA, hiA := a.add(q), a.add(lo), a.add(hi)
		where += ` AND s.id IN (
			SELECT id FROM payments.subscriptions WHERE env = ` + e + ` AND id = ` + qa + `
			UNION SELECT id FROM payments.subscriptions WHERE env = ` + e + ` AND customer_id = ` + qa + `
			UNION SELECT id FROM payments.subscriptions WHERE env = ` + e + ` AND subject_id = ` + qa + `
			UNION SELECT id FROM payments.subscriptions WHERE env = ` + e + ` AND customer_id IN ` + customersMatching(e, loA, hiA) + `)`
	}
	rows, err := s.pool.Query(ctx, `
		SELECT s.id, s.customer_id, c.email, c.name, s.subject_type, s.subject_id, s.status, s.currency,
			s.current_period_start, s.current_period_end, s.cancel_at_period_end, s.canceled_at, s.trial_end, s.metadata, s.created,
			coalesce((SELECT jsonb_agg(jsonb_build_object('id', i.id, 'price_id', i.price_id, 'quantity', i.quantity,
					'product_id', pr.product_id, 'product_name', pd.name, 'nickname', pr.nickname, 'unit_amount', pr.unit_amount,
					'currency', pr.currency, 'interval', pr.recurring_interval, 'interval_count', pr.recurring_interval_count) ORDER BY i.id)
				FROM payments.subscription_items i
				LEFT JOIN payments.prices pr ON pr.id = i.price_id AND pr.env = i.env
				LEFT JOIN payments.products pd ON pd.id = pr.product_id AND pd.env = pr.env
				WHERE i.env = s.env AND i.subscription_id = s.id), '[]')
		FROM (SELECT * FROM payments.subscriptions s WHERE `+where+a.tail("s.id", limit, p.Offset)+`) s
		LEFT JOIN payments.customers c ON c.id = s.customer_id AND c.env = s.env
		ORDER BY s.id`, a...)
	if err != nil {
		return nil, "", fmt.Errorf("list subscriptions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) {
		var sub Subscription
		var items []byte
		err := r.Scan(&sub.ID, &sub.CustomerID, &sub.CustomerEmail, &sub.CustomerName, &sub.SubjectType, &sub.SubjectID,
			&sub.Status, &sub.Currency, &sub.CurrentPeriodStart, &sub.CurrentPeriodEnd,
			&sub.CancelAtPeriodEnd, &sub.CanceledAt, &sub.TrialEnd, &sub.Metadata, &sub.Created, &items)
		if err == nil {
			err = json.Unmarshal(items, &sub.Items)
		}
		return sub, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list subscriptions: %w", err)
	}
	out, nextCursor := next(out, limit, func(s Subscription) string { return s.ID })
	return out, nextCursor, nil
}
