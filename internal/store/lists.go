package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Page asks for one page of a list: after Cursor (from the previous page's
// NextCursor), matching Query, at most Limit rows.
type Page struct {
	Cursor string
	Query  string
	Limit  int
}

// DefaultLimit and MaxLimit bound page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// ErrBadCursor means a cursor was not made by billwire.
var ErrBadCursor = fmt.Errorf("cursor is not one billwire returned: pass next_cursor from the previous page unchanged, or omit it to start at the first page")

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

func (p Page) norm() (after, like string, limit int, err error) {
	after, err = DecodeCursor(p.Cursor)
	limit = p.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		limit = MaxLimit
	}
	if q := strings.TrimSpace(p.Query); q != "" {
		like = "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
	}
	return after, like, limit, err
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
	// Display is the price for a human, e.g. "20.00 USD / month"; filled by the caller.
	Display string `json:"display,omitempty"`
}

// ListCatalog returns a page of products (by id), each with all its prices.
// Query matches product name or id, price id or lookup key.
func (s *Store) ListCatalog(ctx context.Context, env Env, p Page) ([]Product, string, error) {
	after, like, limit, err := p.norm()
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT p.id, p.name, p.description, p.active, p.metadata, p.created,
			coalesce((SELECT jsonb_agg(jsonb_build_object('id', pr.id, 'product_id', pr.product_id, 'active', pr.active,
				'currency', pr.currency, 'unit_amount', pr.unit_amount, 'type', pr.type, 'interval', pr.recurring_interval,
				'interval_count', pr.recurring_interval_count, 'lookup_key', pr.lookup_key, 'nickname', pr.nickname,
				'metadata', pr.metadata) ORDER BY pr.active DESC, pr.created, pr.id)
			FROM payments.prices pr WHERE pr.env = p.env AND pr.product_id = p.id), '[]')
		FROM payments.products p
		WHERE p.env = $1 AND p.id > $2
		  AND ($3 = '' OR p.name ILIKE $3 OR p.id ILIKE $3 OR EXISTS (SELECT 1 FROM payments.prices pr
			WHERE pr.env = p.env AND pr.product_id = p.id AND (pr.id ILIKE $3 OR pr.lookup_key ILIKE $3)))
		ORDER BY p.id LIMIT $4`, env, after, like, limit+1)
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

// GetPrice returns one stored price, or ErrNotFound.
func (s *Store) GetPrice(ctx context.Context, env Env, id string) (*Price, error) {
	var p Price
	err := s.pool.QueryRow(ctx, `SELECT id, product_id, active, currency, unit_amount, type, recurring_interval,
		recurring_interval_count, lookup_key, nickname, metadata FROM payments.prices WHERE env = $1 AND id = $2`, env, id).
		Scan(&p.ID, &p.ProductID, &p.Active, &p.Currency, &p.UnitAmount, &p.Type, &p.Interval, &p.IntervalCount,
			&p.LookupKey, &p.Nickname, &p.Metadata)
	if err == pgx.ErrNoRows {
		return nil, ErrNotFound
	}
	return &p, err
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
}

// ListCustomers returns a page of customers (by id). Query matches id, email or name.
func (s *Store) ListCustomers(ctx context.Context, env Env, p Page) ([]Customer, string, error) {
	after, like, limit, err := p.norm()
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, email, name, description, metadata, created, deleted FROM payments.customers
		WHERE env = $1 AND id > $2 AND ($3 = '' OR id ILIKE $3 OR email ILIKE $3 OR name ILIKE $3)
		ORDER BY id LIMIT $4`, env, after, like, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list customers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Customer, error) {
		var c Customer
		err := r.Scan(&c.ID, &c.Email, &c.Name, &c.Description, &c.Metadata, &c.Created, &c.Deleted)
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

// SubscriptionItem is one price on a subscription.
type SubscriptionItem struct {
	ID       string `json:"id"`
	PriceID  string `json:"price_id"`
	Quantity int64  `json:"quantity"`
}

// ListSubscriptions returns a page of subscriptions (by id). Query matches the
// subscription id, status, customer id or the customer's email.
func (s *Store) ListSubscriptions(ctx context.Context, env Env, p Page) ([]Subscription, string, error) {
	after, like, limit, err := p.norm()
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT s.id, s.customer_id, s.status, s.currency, s.current_period_start, s.current_period_end,
			s.cancel_at_period_end, s.canceled_at, s.trial_end, s.metadata, s.created,
			coalesce((SELECT jsonb_agg(jsonb_build_object('id', i.id, 'price_id', i.price_id, 'quantity', i.quantity) ORDER BY i.id)
				FROM payments.subscription_items i WHERE i.env = s.env AND i.subscription_id = s.id), '[]')
		FROM payments.subscriptions s
		WHERE s.env = $1 AND s.id > $2
		  AND ($3 = '' OR s.id ILIKE $3 OR s.status ILIKE $3 OR s.customer_id ILIKE $3 OR EXISTS (
			SELECT 1 FROM payments.customers c WHERE c.env = s.env AND c.id = s.customer_id AND c.email ILIKE $3))
		ORDER BY s.id LIMIT $4`, env, after, like, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list subscriptions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) {
		var sub Subscription
		var items []byte
		err := r.Scan(&sub.ID, &sub.CustomerID, &sub.Status, &sub.Currency, &sub.CurrentPeriodStart, &sub.CurrentPeriodEnd,
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
