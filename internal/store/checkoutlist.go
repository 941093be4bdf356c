package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/vocab"
)

// CheckoutSession is one row of the session API's checkout sessions, as a
// read-only list shows it.
type CheckoutSession struct {
	ID            int64     `json:"id"`
	StripeID      *string   `json:"stripe_id"`
	SubjectType   *string   `json:"subject_type"`
	SubjectID     *string   `json:"subject_id"`
	Mode          *string   `json:"mode"`
	Status        string    `json:"status"`
	PaymentStatus *string   `json:"payment_status"`
	CustomerID    *string   `json:"customer_id,omitempty"`
	Subscription  *string   `json:"subscription_id,omitempty"`
	AmountTotal   *int64    `json:"amount_total,omitempty"`
	Currency      *string   `json:"currency,omitempty"`
	CreatedAt     time.Time `json:"created"`
}

// ListCheckoutSessions returns a page of env's checkout sessions, newest
// first. Query is a Stripe session id (cs_…) or a subject id; Status keeps
// one status.
func (s *Store) ListCheckoutSessions(ctx context.Context, env vocab.Env, p Page) ([]CheckoutSession, string, error) {
	after, q, limit, err := p.norm()
	if err != nil {
		return nil, "", err
	}
	var a sqlArgs
	where := "c.env = " + a.add(env)
	if after != "" {
		id, err := strconv.ParseInt(after, 10, 64)
		if err != nil {
			return nil, "", ErrBadCursor
		}
		where += " AND c.id < " + a.add(id)
	}
	if p.Status != "" {
		where += " AND c.status = " + a.add(p.Status)
	}
	if p.SubjectID != "" {
		where += " AND c.subject_id = " + a.add(p.SubjectID)
		if p.SubjectType != "" {
			where += " AND c.subject_type = " + a.add(p.SubjectType)
		}
	}
	if q != "" {
		qa := a.add(q)
		where += " AND (c.stripe_id = " + qa + " OR c.subject_id = " + qa + ")"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, c.stripe_id, c.subject_type, c.subject_id, c.mode, c.status, c.payment_status, c.customer_id,
			c.subscription_id, c.amount_total, c.currency, c.created_at
		FROM payments.checkout_sessions c
		WHERE `+where+a.tail("c.id DESC", limit, p.Offset), a...)
	if err != nil {
		return nil, "", fmt.Errorf("list checkout sessions: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[CheckoutSession])
	if err != nil {
		return nil, "", fmt.Errorf("list checkout sessions: %w", err)
	}
	out, cursor := next(out, limit, func(c CheckoutSession) string { return strconv.FormatInt(c.ID, 10) })
	return out, cursor, nil
}
