package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
)

// CheckoutLineItem is one line of what a Checkout Session bought, as
// payments.checkout_sessions.line_items holds it: the price (with its
// lookup key, null when it has none) and the quantity.
type CheckoutLineItem struct {
	PriceID   string  `json:"price_id"`
	LookupKey *string `json:"lookup_key"`
	Quantity  int64   `json:"quantity"`
}

// LineItemsJSON is items as the line_items column holds them; nil for none.
func LineItemsJSON(items []CheckoutLineItem) json.RawMessage {
	if items == nil {
		return nil
	}
	b, err := json.Marshal(items)
	if err != nil { // strings and numbers only: not expected
		panic(err)
	}
	return b
}

// RowQuerier runs a query that returns rows: a pool, a connection or a
// transaction.
type RowQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scaffoldMarker starts the comment the scaffold puts on every object it
// makes: "billwire scaffold_fulfillment pattern=… env=… table=…" (later
// generators may add fields).
const scaffoldMarker = "billwire scaffold_fulfillment "

// CreditsBoundEnvs reports the environments a credits scaffold is bound
// to: those named by an enabled trigger on payments.billing_changes whose
// comment is the scaffold's marker with pattern credits (or a later
// generator's credits_v…).
func CreditsBoundEnvs(ctx context.Context, q RowQuerier) (map[vocab.Env]bool, error) {
	rows, err := q.Query(ctx, `
		SELECT d.description FROM pg_trigger t
		JOIN pg_description d ON d.objoid = t.oid AND d.classoid = 'pg_trigger'::regclass AND d.objsubid = 0
		WHERE t.tgrelid = 'payments.billing_changes'::regclass AND NOT t.tgisinternal AND t.tgenabled <> 'D'
		  AND d.description LIKE 'billwire scaffold\_fulfillment %'`)
	if err != nil {
		return nil, fmt.Errorf("read the scaffolds bound to payments.billing_changes: %w", err)
	}
	comments, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the scaffolds bound to payments.billing_changes: %w", err)
	}
	out := map[vocab.Env]bool{}
	for _, c := range comments {
		f := markerFields(c)
		if p := f["pattern"]; p != "credits" && !strings.HasPrefix(p, "credits_v") {
			continue
		}
		if env, err := vocab.ParseEnv(f["env"]); err == nil {
			out[env] = true
		}
	}
	return out, nil
}

// markerFields reads the key=value fields of a scaffold marker.
func markerFields(comment string) map[string]string {
	rest, ok := strings.CutPrefix(comment, scaffoldMarker)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for _, f := range strings.Fields(rest) {
		if k, v, ok := strings.Cut(f, "="); ok {
			if _, dup := out[k]; !dup {
				out[k] = v
			}
		}
	}
	return out
}

// CheckoutLineItemsNeeded reports whether the webhook projection has to
// fetch the line items of Checkout Session stripeID before it projects
// event eventID about it: not when billwire's row for the session (by
// Stripe's id, or the session API's row named in its metadata, row, that
// has no session yet) holds them already, nor when the event was recorded
// before (a duplicate, unless force: a replay).
func CheckoutLineItemsNeeded(ctx context.Context, q RowQuerier, env vocab.Env, eventID, stripeID string, row int64, force bool) (bool, error) {
	var need bool
	err := q.QueryRow(ctx, `
		SELECT NOT EXISTS (SELECT 1 FROM payments.checkout_sessions c
				WHERE c.stripe_id = $2 AND c.env = $1 AND c.line_items IS NOT NULL)
			AND NOT EXISTS (SELECT 1 FROM payments.checkout_sessions c
				WHERE c.id = $3 AND c.env = $1 AND c.stripe_id IS NULL AND c.requester IS NOT NULL AND c.line_items IS NOT NULL)
			AND ($5 OR NOT EXISTS (SELECT 1 FROM payments.webhook_events w WHERE w.id = $4 AND w.env = $1 AND w.status <> 'failed'))`,
		env, stripeID, row, eventID, force).Scan(&need)
	if err != nil {
		return false, fmt.Errorf("read the line items of checkout session %s: %w", stripeID, err)
	}
	return need, nil
}
