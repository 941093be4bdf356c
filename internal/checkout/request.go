package checkout

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/lazyre"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// badRequest is a refusal of the caller's request (a fault.Invalid with code).
func badRequest(code, format string, args ...any) error {
	return fault.New(fault.Invalid, code, format, args...)
}

// LineItem is one price of a checkout, named by id or lookup key.
type LineItem struct {
	PriceID   string `json:"price_id,omitempty" jsonschema_description:"A price id (price_…) from billwire's catalog."`
	LookupKey string `json:"lookup_key,omitempty" jsonschema_description:"Or the price's lookup key in this environment."`
	Quantity  int64  `json:"quantity,omitempty" jsonschema_description:"1 to 999; omit it for a metered price (billed by usage)."`
}

// CheckoutRequest is the body of POST /api/payments/{env}/checkout-sessions.
type CheckoutRequest struct {
	Mode                string            `json:"mode"`
	LineItems           []LineItem        `json:"line_items"`
	Subject             auth.Subject      `json:"subject"`
	SuccessURL          string            `json:"success_url"`
	CancelURL           string            `json:"cancel_url"`
	IdempotencyKey      string            `json:"idempotency_key,omitempty"`
	TrialPeriodDays     *int64            `json:"trial_period_days,omitempty"`
	AllowPromotionCodes *bool             `json:"allow_promotion_codes,omitempty"`
	AutomaticTax        *bool             `json:"automatic_tax,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	// AllowMultiple lets the app's backend (an API key) open a
	// subscription checkout for a product the subject already pays for.
	AllowMultiple bool `json:"allow_multiple,omitempty"`
}

// CheckoutResult is what the app redirects the browser with.
type CheckoutResult struct {
	// ID is billwire's row.
	ID              int64  `json:"id"`
	StripeSessionID string `json:"stripe_session_id"`
	URL             string `json:"url"`
	// Replayed is set when an idempotency key returned an earlier session.
	Replayed bool `json:"-"`
}

var idemKeyRE = lazyre.New(`^[\x21-\x7e]{1,255}$`)

func (r *CheckoutRequest) validate(origins auth.Origins) error {
	switch r.Mode {
	case "subscription", "payment":
	case "":
		return badRequest("invalid_request", "mode is required: \"subscription\" or \"payment\"")
	default:
		return badRequest("invalid_request", "mode %q is not supported: use \"subscription\" or \"payment\"", r.Mode)
	}
	if err := r.Subject.Validate(); err != nil {
		code := "invalid_subject"
		if r.Subject == (auth.Subject{}) {
			code = "subject_required"
		}
		return badRequest(code, "%s", err)
	}
	if len(r.LineItems) == 0 {
		return badRequest("invalid_request", "line_items needs at least one item: [{\"price_id\": \"price_…\", \"quantity\": 1}]")
	}
	if len(r.LineItems) > 20 {
		return badRequest("invalid_request", "at most 20 line_items per checkout")
	}
	for i, li := range r.LineItems {
		if (li.PriceID == "") == (li.LookupKey == "") {
			return badRequest("invalid_request", "line_items[%d] needs exactly one of price_id or lookup_key", i)
		}
		if li.Quantity < 0 || li.Quantity > 999 {
			return badRequest("quantity_out_of_range", "line_items[%d].quantity is %d: it must be 1 to 999", i, li.Quantity)
		}
	}
	for field, u := range map[string]string{"success_url": r.SuccessURL, "cancel_url": r.CancelURL} {
		if u == "" {
			return badRequest("invalid_request", "%s is required", field)
		}
		if err := origins.CheckRedirect(field, u); err != nil {
			return badRequest("redirect_not_allowed", "%s", err)
		}
	}
	if r.IdempotencyKey != "" && !idemKeyRE().MatchString(r.IdempotencyKey) {
		return badRequest("invalid_request", "idempotency_key must be 1 to 255 printable ASCII characters without spaces")
	}
	if r.TrialPeriodDays != nil {
		if r.Mode != "subscription" {
			return badRequest("invalid_request", "trial_period_days applies to mode \"subscription\" only")
		}
		if *r.TrialPeriodDays < 0 || *r.TrialPeriodDays > 730 {
			return badRequest("invalid_request", "trial_period_days must be 1 to 730, or 0 for no trial (the prices' trial otherwise applies)")
		}
	}
	if len(r.Metadata) > 40 {
		return badRequest("invalid_request", "at most 40 metadata keys")
	}
	for k, v := range r.Metadata {
		if strings.HasPrefix(k, vocab.MetaPrefix) {
			return badRequest("reserved_metadata", "metadata key %q is reserved: keys starting with %q are billwire's (it stamps the subject itself)", k, vocab.MetaPrefix)
		}
		if k == "" || len(k) > 40 || len(v) > 500 {
			return badRequest("invalid_request", "metadata key %q: keys are 1 to 40 characters, values at most 500", k)
		}
	}
	return nil
}

// record is the request as billwire records it, without its idempotency
// key (a column of its own), and its hash, the fingerprint for idempotency:
// the same key with another body is refused.
func (r CheckoutRequest) record() (json.RawMessage, string) {
	r.IdempotencyKey = ""
	b, _ := json.Marshal(r)
	h := sha256.Sum256(b)
	return b, hex.EncodeToString(h[:])
}

// lineItemRefs splits the line items into price ids and lookup keys.
func lineItemRefs(r *CheckoutRequest) (ids, keys []string) {
	for _, li := range r.LineItems {
		if li.PriceID != "" {
			ids = append(ids, li.PriceID)
		} else {
			keys = append(keys, li.LookupKey)
		}
	}
	return ids, keys
}

// resolvePrices checks the line items against the prices found in
// billwire's catalog and returns their prices in order.
func resolvePrices(found []store.CheckoutPrice, env vocab.Env, r *CheckoutRequest) ([]store.CheckoutPrice, error) {
	byID, byKey := map[string]store.CheckoutPrice{}, map[string]store.CheckoutPrice{}
	for _, p := range found {
		byID[p.ID] = p
		if p.LookupKey != "" && p.Active {
			byKey[p.LookupKey] = p
		}
	}
	out := make([]store.CheckoutPrice, len(r.LineItems))
	currency, recurring := "", 0
	for i, li := range r.LineItems {
		p, ok := byID[li.PriceID]
		name := li.PriceID
		if li.LookupKey != "" {
			p, ok = byKey[li.LookupKey]
			name = "lookup_key " + strconv.Quote(li.LookupKey)
			if !ok {
				for _, f := range found {
					if f.LookupKey == li.LookupKey {
						p, ok = f, true
					}
				}
			}
		}
		switch {
		case !ok:
			return nil, badRequest("unknown_price", "line_items[%d]: %s is not in billwire's %s catalog; create it (create_plan / create_price) or run sync_catalog", i, name, env)
		case !p.Active || !p.ProductActive:
			return nil, badRequest("inactive_price", "line_items[%d]: price %s (or its product) is archived in Stripe; use an active price", i, p.ID)
		case currency != "" && p.Currency != currency:
			return nil, badRequest("mixed_currencies", "line_items[%d]: price %s is in %s but earlier items are in %s; one checkout takes one currency", i, p.ID, strings.ToUpper(p.Currency), strings.ToUpper(currency))
		case r.Mode == "payment" && p.Type == "recurring":
			return nil, badRequest("wrong_price_mode", "line_items[%d]: price %s is recurring; use mode \"subscription\" for it, or a one-time price for mode \"payment\"", i, p.ID)
		case p.Metered && r.LineItems[i].Quantity != 0:
			return nil, badRequest("metered_quantity", "line_items[%d]: price %s is metered (billed by usage): omit quantity", i, p.ID)
		case !p.Metered && (r.LineItems[i].Quantity < p.MinQuantity || r.LineItems[i].Quantity > p.MaxQuantity):
			return nil, badRequest("quantity_out_of_range", "line_items[%d].quantity is %d: price %s takes %d to %d", i, r.LineItems[i].Quantity, p.ID, p.MinQuantity, p.MaxQuantity)
		}
		currency = p.Currency
		if p.Type == "recurring" {
			recurring++
		}
		out[i] = p
	}
	if r.Mode == "subscription" && recurring == 0 {
		return nil, badRequest("wrong_price_mode", "mode \"subscription\" needs at least one recurring price; for one-time prices use mode \"payment\"")
	}
	return out, nil
}

// resolvedLineItems are the request's line items as the checkout buys them:
// each with the price it resolved to (prices, from resolvePrices, in the
// request's order) and that price's lookup key.
func resolvedLineItems(prices []store.CheckoutPrice, r *CheckoutRequest) []store.CheckoutLineItem {
	out := make([]store.CheckoutLineItem, len(prices))
	for i := range prices {
		out[i] = store.CheckoutLineItem{PriceID: prices[i].ID, Quantity: r.LineItems[i].Quantity}
		if prices[i].LookupKey != "" {
			out[i].LookupKey = &prices[i].LookupKey
		}
	}
	return out
}
