package billing

import (
	"context"
	"errors"

	"github.com/billwire/billwire/internal/money"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// Catalog is a page of products with their prices.
type Catalog struct {
	Env        vocab.Env       `json:"env"`
	Products   []store.Product `json:"products"`
	NextCursor string          `json:"next_cursor,omitempty"`
	// Meters are the billing meters metered prices bill, on the first page
	// of an unfiltered listing.
	Meters []store.Meter `json:"meters,omitempty"`
}

// Customers is a page of customers.
type Customers struct {
	Env        vocab.Env        `json:"env"`
	Customers  []store.Customer `json:"customers"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// Subscriptions is a page of subscriptions.
type Subscriptions struct {
	Env           vocab.Env            `json:"env"`
	Subscriptions []store.Subscription `json:"subscriptions"`
	NextCursor    string               `json:"next_cursor,omitempty"`
}

// PaymentHistory is a page of payment history.
type PaymentHistory struct {
	Env        vocab.Env             `json:"env"`
	Records    []store.PaymentRecord `json:"payments"`
	NextCursor string                `json:"next_cursor,omitempty"`
}

// WebhookEvents is a page of the event ledger.
type WebhookEvents struct {
	Env        vocab.Env            `json:"env"`
	Events     []store.WebhookEvent `json:"events"`
	NextCursor string               `json:"next_cursor,omitempty"`
}

// ListCatalog reads a page of the mirrored catalog, each price with its human form.
func (s *Service) ListCatalog(ctx context.Context, env vocab.Env, p store.Page) (*Catalog, error) {
	prods, cursor, err := list(ctx, s, env, p, (*store.Store).ListCatalog)
	if err != nil {
		return nil, err
	}
	for i := range prods {
		for j := range prods[i].Prices {
			priceDisplay(&prods[i].Prices[j])
		}
	}
	out := &Catalog{Env: env, Products: prods, NextCursor: cursor}
	if p.Cursor == "" && p.Query == "" {
		st, err := s.stores.Get(ctx)
		if err != nil {
			return nil, err
		}
		if out.Meters, err = st.ListMeters(ctx, env); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// priceDisplay fills a mirrored price's human form.
func priceDisplay(pr *store.Price) {
	interval, count := "", int64(0)
	if pr.Interval != nil {
		interval = *pr.Interval
	}
	if pr.IntervalCount != nil {
		count = int64(*pr.IntervalCount)
	}
	if pr.UsageType != nil && *pr.UsageType == "metered" {
		var amount, pkg int64
		if pr.UnitAmount != nil {
			amount = *pr.UnitAmount
		}
		if pr.PackageSize != nil {
			pkg = *pr.PackageSize
		}
		decimal := ""
		if pr.UnitAmountDecimal != nil {
			decimal = *pr.UnitAmountDecimal
		}
		pr.Display = MeteredDisplay(amount, decimal, pr.Currency, interval, count, pkg)
		return
	}
	if pr.UnitAmount != nil {
		pr.Display = money.FormatPrice(*pr.UnitAmount, pr.Currency, interval, count)
	}
}

// ListCustomers reads a page of mirrored customers.
func (s *Service) ListCustomers(ctx context.Context, env vocab.Env, p store.Page) (*Customers, error) {
	cs, cursor, err := list(ctx, s, env, p, (*store.Store).ListCustomers)
	if err != nil {
		return nil, err
	}
	return &Customers{Env: env, Customers: cs, NextCursor: cursor}, nil
}

// ListSubscriptions reads a page of mirrored subscriptions.
func (s *Service) ListSubscriptions(ctx context.Context, env vocab.Env, p store.Page) (*Subscriptions, error) {
	subs, cursor, err := list(ctx, s, env, p, (*store.Store).ListSubscriptions)
	if err != nil {
		return nil, err
	}
	for i := range subs {
		for j := range subs[i].Items {
			it := &subs[i].Items[j]
			if it.UnitAmount == nil || it.Currency == nil {
				continue
			}
			interval, count := "", int64(0)
			if it.Interval != nil {
				interval = *it.Interval
			}
			if it.IntervalCount != nil {
				count = int64(*it.IntervalCount)
			}
			it.Display = money.FormatPrice(*it.UnitAmount, *it.Currency, interval, count)
		}
	}
	return &Subscriptions{Env: env, Subscriptions: subs, NextCursor: cursor}, nil
}

// list runs one store list query; a bad cursor is the caller's to fix, and
// an empty page is an empty JSON array, not null.
func list[T any](ctx context.Context, s *Service, env vocab.Env, p store.Page,
	query func(*store.Store, context.Context, vocab.Env, store.Page) ([]T, string, error)) ([]T, string, error) {
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, "", err
	}
	rows, cursor, err := query(st, ctx, env, p)
	if errors.Is(err, store.ErrBadCursor) || errors.Is(err, store.ErrBadFilter) {
		return nil, "", inputErr("%s", err)
	}
	if err != nil {
		return nil, "", err
	}
	if rows == nil {
		rows = []T{}
	}
	return rows, cursor, nil
}

// ListPaymentHistory reads a page of projected payments, failures, refunds and disputes.
func (s *Service) ListPaymentHistory(ctx context.Context, env vocab.Env, p store.Page) (*PaymentHistory, error) {
	rows, cursor, err := list(ctx, s, env, p, (*store.Store).ListPaymentHistory)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if rows[i].Currency != nil {
			rows[i].Display = money.Format(rows[i].Amount, *rows[i].Currency)
		}
	}
	return &PaymentHistory{Env: env, Records: rows, NextCursor: cursor}, nil
}

// Invoices is a page of projected invoices.
type Invoices struct {
	Env        vocab.Env       `json:"env"`
	Invoices   []store.Invoice `json:"invoices"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// ListInvoices reads a page of projected invoices, newest first.
func (s *Service) ListInvoices(ctx context.Context, env vocab.Env, p store.Page) (*Invoices, error) {
	rows, cursor, err := list(ctx, s, env, p, (*store.Store).ListInvoices)
	if err != nil {
		return nil, err
	}
	return &Invoices{Env: env, Invoices: rows, NextCursor: cursor}, nil
}

// ListWebhookEvents reads a page of recorded events, newest first.
func (s *Service) ListWebhookEvents(ctx context.Context, env vocab.Env, p store.Page) (*WebhookEvents, error) {
	rows, cursor, err := list(ctx, s, env, p, (*store.Store).ListWebhookEvents)
	if err != nil {
		return nil, err
	}
	return &WebhookEvents{Env: env, Events: rows, NextCursor: cursor}, nil
}

// CheckoutSessions is a page of the session API's checkout sessions.
type CheckoutSessions struct {
	Env              vocab.Env               `json:"env"`
	CheckoutSessions []store.CheckoutSession `json:"checkout_sessions"`
	NextCursor       string                  `json:"next_cursor,omitempty"`
}

// ListCheckoutSessions reads a page of checkout sessions, newest first:
// what an agent needs to follow a checkout without billwire's tables.
func (s *Service) ListCheckoutSessions(ctx context.Context, env vocab.Env, p store.Page) (*CheckoutSessions, error) {
	cs, cursor, err := list(ctx, s, env, p, (*store.Store).ListCheckoutSessions)
	if err != nil {
		return nil, err
	}
	return &CheckoutSessions{Env: env, CheckoutSessions: cs, NextCursor: cursor}, nil
}
