package checkout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/lazyre"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// ChangeItem is one item of a subscription's target state.
type ChangeItem struct {
	PriceID   string `json:"price_id,omitempty" jsonschema_description:"A recurring price id (price_…) of billwire's catalog in this environment."`
	LookupKey string `json:"lookup_key,omitempty" jsonschema_description:"Or the price's lookup key."`
	Quantity  int64  `json:"quantity,omitempty" jsonschema_description:"Seats, within the price's bounds (default 1 to 999). Omit it for a metered price; omitted for a licensed price it keeps the matched item's quantity (1 for a new item)."`
}

// PreviewRequest is the body of POST …/subscriptions/{id}/preview.
type PreviewRequest struct {
	// Items are the subscription's target state: its new plan and quantities.
	Items []ChangeItem `json:"items"`
	// ProrationBehavior is create_prorations (default), always_invoice or
	// none; only an API key may send it.
	ProrationBehavior string `json:"proration_behavior,omitempty"`
}

// ChangeRequest is the body of POST …/subscriptions/{id}/change.
type ChangeRequest struct {
	PreviewRequest
	// ProrationDate is the preview's proration_date, so the charge equals
	// what was shown; from an end user's token it must be less than
	// prorationDateMaxAge old.
	ProrationDate  *int64 `json:"proration_date,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// prorationDateMaxAge is how old a proration_date from an end user's token
// may be: a preview shown a little earlier, not a date chosen to pay less.
const prorationDateMaxAge = 15 * time.Minute

// subscriptionIDRE is what a subscription id looks like; anything else is
// unknown without asking the database or Stripe.
var subscriptionIDRE = lazyre.New(`^sub_[A-Za-z0-9]{1,250}$`)

// unknownSubscription is the one answer for a subscription the caller may
// not see, whether it exists or not, so that ids cannot be probed.
func unknownSubscription(id string) error {
	return fault.New(fault.NotFound, "unknown_subscription", "subscription %q is not a subscription of a subject this caller may manage in this environment; use an id from the subject route's subscriptions", id)
}

// owned returns the store, the Stripe client and the subject whose
// subscription id is, once the caller may manage that subject: from
// billwire's mirror, before Stripe is asked anything. A caller that may not
// read the subject gets unknown_subscription; one that may read but not
// manage it (a team member without the billing role) is forbidden.
func (s *Service) owned(ctx context.Context, env vocab.Env, caller *auth.Caller, id string) (*store.Store, *stripeapi.Client, *store.SubscriptionOwner, error) {
	if !subscriptionIDRE().MatchString(id) {
		return nil, nil, nil, unknownSubscription(id)
	}
	st, c, err := s.sessionClient(ctx, env)
	if err != nil {
		return nil, nil, nil, err
	}
	o, err := st.SubscriptionSubject(ctx, env, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil, unknownSubscription(id)
	}
	if err != nil {
		return nil, nil, nil, s.unavailable(err)
	}
	sub := auth.Subject{Type: o.SubjectType, ID: o.SubjectID}
	if caller.Authorize(env, sub, auth.Read) != nil {
		return nil, nil, nil, unknownSubscription(id)
	}
	if err := caller.Authorize(env, sub, auth.Manage); err != nil {
		return nil, nil, nil, err
	}
	return st, c, o, nil
}

// current reads subscription id from Stripe (not the mirror), which must
// still bill o's customer. The caller may manage the subject by now, so the
// refusals say what is wrong.
func current(ctx context.Context, c *stripeapi.Client, id string, o *store.SubscriptionOwner) (*stripe.Subscription, error) {
	sub, err := c.Subscription(ctx, id)
	switch {
	case stripeapi.IsNotFound(err):
		return nil, fault.New(fault.NotFound, "unknown_subscription", "Stripe has no subscription %s (a simulated one, sub_sim_…, lives only in billwire's tables; change a real test subscription, e.g. from create_test_subscription)", id)
	case err != nil:
		return nil, changeProblem(err)
	case sub.Customer == nil || sub.Customer.ID != o.CustomerID:
		return nil, fault.New(fault.NotFound, "unknown_subscription", "Stripe bills subscription %s to another customer than the subject's (%s): billwire's mirror is behind Stripe; run sync_catalog (billwire sync) and retry", id, o.CustomerID)
	}
	return sub, nil
}

// changeProblem turns a failed Stripe call of a change into a refusal:
// Stripe refusing it for the subscription's state is a conflict
// (stripe_refused) with Stripe's reason; Stripe unreachable or failing is
// stripe_unavailable; billwire's credentials refused are stripe_rejected.
func changeProblem(err error) error {
	var se *stripeapi.Error
	var sErr *stripe.Error
	switch {
	case errors.As(err, &se) && (se.Status == 401 || se.Status == 403):
		return stripeProblem(err)
	case errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != 429:
		msg := "Stripe refused the change in this subscription's state"
		if errors.As(err, &sErr) && sErr.Msg != "" {
			msg += ": " + secrets.Redact(sErr.Msg)
		}
		return fault.Wrap(fault.Conflict, "stripe_refused", msg, err)
	}
	return fault.Wrap(fault.Unavailable, "stripe_unavailable", "Stripe could not be reached or did not answer; nothing was changed, retry shortly", err)
}

// changePlan is a change worked out: what to send Stripe and how.
type changePlan struct {
	sub   *stripe.Subscription
	items []changeItem
	// behavior is the proration_behavior sent; invoicesNow is set when the
	// change is invoiced at once (always_invoice, or a new interval);
	// pending when it applies only once paid (pending_if_incomplete).
	behavior             string
	invoicesNow, pending bool
	intervalChange       bool
	prorationDate        int64
	target               []store.ChangePrice // by target item
	prices               []store.ChangePrice // all read: the target's and the current
}

// changeItem is one item sent to Stripe: an existing item (id) changed or
// deleted, or a new one.
type changeItem struct {
	id, price string
	quantity  *int64
	deleted   bool
}

// validate checks the items and the caller's fields before anything is read.
func (r *PreviewRequest) validate(caller *auth.Caller) error {
	if len(r.Items) == 0 {
		return badRequest("invalid_request", "items names the subscription's target state and needs at least one item: [{\"price_id\": \"price_…\", \"quantity\": 1}]")
	}
	if len(r.Items) > 20 {
		return badRequest("invalid_request", "at most 20 items per subscription")
	}
	for i, it := range r.Items {
		if (it.PriceID == "") == (it.LookupKey == "") {
			return badRequest("invalid_request", "items[%d] needs exactly one of price_id or lookup_key", i)
		}
		if it.Quantity < 0 || it.Quantity > 999 {
			return badRequest("quantity_out_of_range", "items[%d].quantity is %d: it must be 1 to 999 (or omitted)", i, it.Quantity)
		}
	}
	switch {
	case r.ProrationBehavior != "" && caller.Kind == "user":
		return badRequest("field_not_allowed", "proration_behavior may not be sent with an end user's token: an end user's change is prorated (an upgrade is invoiced at once and applies once paid); the app's backend may choose it with an API key")
	case r.ProrationBehavior != "" && !slices.Contains([]string{"create_prorations", "always_invoice", "none"}, r.ProrationBehavior):
		return badRequest("invalid_request", "proration_behavior %q is not one of create_prorations, always_invoice, none", r.ProrationBehavior)
	}
	return nil
}

// plan reads the subscription from Stripe and the target prices from the
// catalog, checks the target against both, and works out the items to send
// and how the change is prorated and paid. date is the caller's
// proration_date, nil for now.
func (s *Service) plan(ctx context.Context, st *store.Store, c *stripeapi.Client, env vocab.Env, caller *auth.Caller, id string, o *store.SubscriptionOwner, r *PreviewRequest, date *int64) (*changePlan, error) {
	sub, err := current(ctx, c, id, o)
	if err != nil {
		return nil, err
	}
	ids, keys := changeRefs(r.Items, sub)
	prices, err := st.ChangePrices(ctx, env, ids, keys)
	if err != nil {
		return nil, s.unavailable(err)
	}
	p := &changePlan{sub: sub, prices: prices}
	if p.target, err = s.targetPrices(ctx, st, env, r.Items, prices, sub); err != nil {
		return nil, err
	}
	if caller.Kind == "user" {
		if err := switchable(p.target, prices, sub); err != nil {
			return nil, err
		}
	}
	if p.items, err = diffItems(sub, r.Items, p.target); err != nil {
		return nil, err
	}
	p.intervalChange = intervalOf(p.target[0]) != subscriptionInterval(sub)
	raises := raisesPrice(sub, p.target, p.items)
	p.behavior = r.ProrationBehavior
	switch {
	case caller.Kind == "user" && (raises || p.intervalChange):
		// Stripe applies a pending update only with an invoice paid now, so
		// an end user's upgrade is invoiced at once and waits for payment.
		p.behavior, p.pending = "always_invoice", true
	case caller.Kind == "user", p.behavior == "":
		p.behavior = "create_prorations"
	}
	p.invoicesNow = p.behavior == "always_invoice" || p.intervalChange
	p.pending = p.pending || (raises && p.invoicesNow)
	if p.prorationDate, err = prorationDate(caller, date); err != nil {
		return nil, err
	}
	return p, nil
}

// prorationDate is the proration date to send: the caller's, which from an
// end user's token must be recent (a preview's), else now.
func prorationDate(caller *auth.Caller, date *int64) (int64, error) {
	now := time.Now()
	if date == nil {
		return now.Unix(), nil
	}
	t := time.Unix(*date, 0)
	if caller.Kind == "user" && (t.Before(now.Add(-prorationDateMaxAge)) || t.After(now.Add(time.Minute))) {
		return 0, badRequest("stale_proration_date", "proration_date %d is not within the last %v: preview the change again and send the new preview's proration_date", *date, prorationDateMaxAge)
	}
	return *date, nil
}

// changeRefs are the price ids and lookup keys to read: the target's and
// the subscription's current prices.
func changeRefs(items []ChangeItem, sub *stripe.Subscription) (ids, keys []string) {
	for _, it := range items {
		if it.PriceID != "" {
			ids = append(ids, it.PriceID)
		} else {
			keys = append(keys, it.LookupKey)
		}
	}
	for _, it := range subItems(sub) {
		if it.Price != nil {
			ids = append(ids, it.Price.ID)
		}
	}
	return ids, keys
}

func subItems(sub *stripe.Subscription) []*stripe.SubscriptionItem {
	if sub.Items == nil {
		return nil
	}
	return sub.Items.Data
}

// targetPrices resolves the target items to catalog prices and checks each
// against the subscription: active, recurring, in its currency, one
// billing interval, each price once, quantities within the price's bounds.
func (s *Service) targetPrices(ctx context.Context, st *store.Store, env vocab.Env, items []ChangeItem, prices []store.ChangePrice, sub *stripe.Subscription) ([]store.ChangePrice, error) {
	out := make([]store.ChangePrice, len(items))
	for i, it := range items {
		p, ok := findPrice(prices, it)
		if !ok {
			return nil, s.unknownPrice(ctx, st, env, fmt.Sprintf("items[%d]", i), it)
		}
		switch {
		case !p.Active || !p.ProductActive:
			return nil, badRequest("inactive_price", "items[%d]: price %s (or its product) is archived in Stripe; use an active price", i, p.ID)
		case p.Type != "recurring":
			return nil, badRequest("one_time_price", "items[%d]: price %s is a one-time price; a subscription takes recurring prices", i, p.ID)
		case p.Currency != string(sub.Currency):
			return nil, badRequest("currency_mismatch", "items[%d]: price %s is in %s but the subscription bills in %s; use a price in %s", i, p.ID, strings.ToUpper(p.Currency), strings.ToUpper(string(sub.Currency)), strings.ToUpper(string(sub.Currency)))
		case p.Metered && it.Quantity != 0:
			return nil, badRequest("metered_quantity", "items[%d]: price %s is metered (billed by usage): omit quantity", i, p.ID)
		case !p.Metered && it.Quantity != 0 && (it.Quantity < p.MinQuantity || it.Quantity > p.MaxQuantity):
			return nil, badRequest("quantity_out_of_range", "items[%d].quantity is %d: price %s takes %d to %d", i, it.Quantity, p.ID, p.MinQuantity, p.MaxQuantity)
		case i > 0 && intervalOf(p) != intervalOf(out[0]):
			return nil, badRequest("mixed_intervals", "items[%d]: price %s bills every %s but items[0] every %s; a subscription's items share one billing interval", i, p.ID, intervalOf(p), intervalOf(out[0]))
		}
		for j := range i {
			if out[j].ID == p.ID {
				return nil, badRequest("duplicate_price", "items[%d]: price %s is already items[%d]; set its quantity there", i, p.ID, j)
			}
		}
		out[i] = p
	}
	return out, nil
}

func findPrice(prices []store.ChangePrice, it ChangeItem) (store.ChangePrice, bool) {
	for _, p := range prices {
		if (it.PriceID != "" && p.ID == it.PriceID) || (it.LookupKey != "" && p.LookupKey == it.LookupKey) {
			return p, true
		}
	}
	return store.ChangePrice{}, false
}

// unknownPrice refuses a target item not in env's catalog, saying so when
// the price is another environment's.
func (s *Service) unknownPrice(ctx context.Context, st *store.Store, env vocab.Env, where string, it ChangeItem) error {
	if it.PriceID != "" {
		other, err := st.PriceEnvironments(ctx, env, []string{it.PriceID})
		if err != nil {
			return s.unavailable(err)
		}
		if e, ok := other[it.PriceID]; ok {
			return badRequest("price_in_other_environment", "%s: price %s is a %s price; this is the %s environment: use the %s price (promote_catalog copies the catalog)", where, it.PriceID, e, env, env)
		}
		return badRequest("unknown_price", "%s: price %s is not in billwire's %s catalog; create it (create_plan / create_price) or run sync_catalog", where, it.PriceID, env)
	}
	return badRequest("unknown_price", "%s: lookup_key %q names no price of billwire's %s catalog", where, it.LookupKey, env)
}

// switchable checks an end user's change: the target prices and those it
// replaces are all of one family of switchable prices (set_switchable_prices).
func switchable(target, prices []store.ChangePrice, sub *stripe.Subscription) error {
	family := target[0].Family
	for i, p := range target {
		if p.Family == "" || p.Family != family {
			return badRequest("price_not_switchable", "items[%d]: price %s is not among the switchable prices of this subscription's plan family; the app sets them with set_switchable_prices", i, p.ID)
		}
	}
	for _, it := range subItems(sub) {
		if it.Price == nil {
			continue
		}
		// A current price billwire does not know is in no family either.
		if p, ok := findPrice(prices, ChangeItem{PriceID: it.Price.ID}); !ok || p.Family != family {
			return badRequest("price_not_switchable", "the subscription's current price %s is not in family %q of the target prices; the app sets the families with set_switchable_prices", it.Price.ID, family)
		}
	}
	return nil
}

// diffItems matches the target items to the subscription's items, by
// price first, then by product, then licensed items in order: a matched
// item gets the target's price and quantity, an unmatched target is added,
// an unmatched item is deleted.
// Licensed items always carry their quantity, metered items never.
func diffItems(sub *stripe.Subscription, items []ChangeItem, target []store.ChangePrice) ([]changeItem, error) {
	existing := subItems(sub)
	match := make([]int, len(items))
	used := make([]bool, len(existing))
	for i := range match {
		match[i] = -1
	}
	// By price, then by product, then any licensed item left with any
	// target left: a plan switch swaps the price on the item Stripe has.
	for pass := range 3 {
		for i, p := range target {
			for j, e := range existing {
				if match[i] >= 0 || used[j] || e.Price == nil {
					continue
				}
				metered := e.Price.Recurring != nil && e.Price.Recurring.UsageType == stripe.PriceRecurringUsageTypeMetered
				if (pass == 0 && e.Price.ID == p.ID) || (pass == 1 && e.Price.Product != nil && e.Price.Product.ID == p.ProductID) ||
					(pass == 2 && !metered && !p.Metered) {
					match[i], used[j] = j, true
				}
			}
		}
	}
	var out []changeItem
	changed := false
	for i, p := range target {
		ci := changeItem{price: p.ID}
		q := items[i].Quantity
		if j := match[i]; j >= 0 {
			ci.id = existing[j].ID
			if q == 0 {
				q = existing[j].Quantity
			}
			changed = changed || existing[j].Price.ID != p.ID || (!p.Metered && existing[j].Quantity != q)
		} else {
			changed = true
		}
		if !p.Metered {
			q = max(q, 1)
			if q < p.MinQuantity || q > p.MaxQuantity {
				return nil, badRequest("quantity_out_of_range", "items[%d].quantity is %d: price %s takes %d to %d", i, q, p.ID, p.MinQuantity, p.MaxQuantity)
			}
			ci.quantity = &q
		}
		out = append(out, ci)
	}
	for j, e := range existing {
		if !used[j] {
			out, changed = append(out, changeItem{id: e.ID, deleted: true}), true
		}
	}
	if !changed {
		return nil, badRequest("nothing_to_change", "the subscription already has these prices and quantities")
	}
	return out, nil
}

// interval is a billing period: "month", or "3 month".
func interval(unit string, count int64) string {
	if count <= 1 {
		return unit
	}
	return fmt.Sprintf("%d %s", count, unit)
}

func intervalOf(p store.ChangePrice) string { return interval(p.Interval, p.IntervalCount) }

// subscriptionInterval is the billing period of the subscription's items.
func subscriptionInterval(sub *stripe.Subscription) string {
	for _, it := range subItems(sub) {
		if it.Price != nil && it.Price.Recurring != nil {
			return interval(string(it.Price.Recurring.Interval), it.Price.Recurring.IntervalCount)
		}
	}
	return ""
}

// daysPer is the length of a billing period unit in days, on average.
var daysPer = map[string]float64{"day": 1, "week": 7, "month": 365.2425 / 12, "year": 365.2425}

// raisesPrice reports that the target costs more per day than the
// subscription's licensed items do now. A price that is not a plain
// per-unit amount (tiered) counts as a raise: it is charged before it applies.
func raisesPrice(sub *stripe.Subscription, target []store.ChangePrice, diff []changeItem) bool {
	before, after := 0.0, 0.0
	for _, it := range subItems(sub) {
		p := it.Price
		if p == nil || p.Recurring == nil || p.Recurring.UsageType == stripe.PriceRecurringUsageTypeMetered {
			continue
		}
		if p.BillingScheme == stripe.PriceBillingSchemeTiered || p.TransformQuantity != nil {
			return true
		}
		before += perDay(p.UnitAmount*it.Quantity, string(p.Recurring.Interval), p.Recurring.IntervalCount)
	}
	for i, p := range target {
		if p.Metered {
			continue
		}
		if p.UnitAmount == nil {
			return true
		}
		after += perDay(*p.UnitAmount**diff[i].quantity, p.Interval, p.IntervalCount)
	}
	return after > before+1e-9
}

func perDay(amount int64, unit string, count int64) float64 {
	d := daysPer[unit] * float64(max(count, 1))
	if d == 0 {
		return 0
	}
	return float64(amount) / d
}
