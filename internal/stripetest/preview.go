package stripetest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// POST /v1/invoices/create_preview for a subscription, with the change of
// subscription_details (items, proration_behavior, proration_date) as
// stripe-go v79 sends it. It answers the invoice the change would make at
// once (always_invoice with prorations, or an interval change), else the
// subscription's next invoice: its pending invoice items, the change's
// prorations under create_prorations, and the next period at the new
// prices. It changes nothing; the amounts are the ones an update with the
// same items and proration_date then bills (billing.go computes both).

var previewExact = []string{"customer", "subscription", "subscription_details[proration_behavior]", "subscription_details[proration_date]"}

func (f *Fake) createPreview(q *apiRequest) response {
	items, rest, r := parseItems(q.params, "subscription_details[items]", itemFields)
	if r != nil {
		return *r
	}
	if r := checkParams(rest, previewExact, []string{"expand"}, nil); r != nil {
		return *r
	}
	behavior, at, atSet, r := parseProration(q.params, "subscription_details[proration_behavior]", "subscription_details[proration_date]")
	if r != nil {
		return *r
	}
	subID := q.params.Get("subscription")
	if subID == "" {
		return *missingNote("subscription", "the stripetest fake previews a subscription's invoices only: pass subscription")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.scopeLocked(q)
	sub, ok := sc.subscriptionsLocked().subs[subID]
	if !ok {
		return noSuch("subscription", subID, "subscription")
	}
	if cus := q.params.Get("customer"); cus != "" && cus != sub["customer"] {
		return invalidRequest(http.StatusBadRequest, "", "subscription",
			fmt.Sprintf("The subscription %s does not belong to the customer %s.", subID, cus))
	}
	if len(items) > 0 { // a change of items, refused as the update would be
		if r := checkStatusAllows(sub, url.Values{"items": nil}); r != nil {
			return *r
		}
	}
	now := time.Now().Unix()
	if !atSet {
		at = now
	}
	inv, r := f.previewLocked(sc, q.live, sub, items, behavior, at, now)
	if r != nil {
		return *r
	}
	return jsonResponse(http.StatusOK, inv)
}

func missingNote(param, note string) *response {
	r := invalidRequest(http.StatusBadRequest, "parameter_missing", param, fmt.Sprintf("Missing required param: %s (%s).", param, note))
	return &r
}

// previewLocked computes the previewed invoice without storing anything:
// the ids it shows are temporary, as Stripe's upcoming lines are.
func (f *Fake) previewLocked(sc *scope, live bool, sub map[string]any, items []itemParam, behavior string, at, now int64) (map[string]any, *response) {
	n := 0
	tmpID := func(prefix string) string {
		n++
		return fmt.Sprintf("%stmp_%s%04d", prefix, strings.TrimPrefix(fmt.Sprint(sub["id"]), "sub_"), n)
	}
	c := &change{old: itemsOf(sub), items: itemsOf(sub)}
	if len(items) > 0 {
		var r *response
		if c, r = f.planChangeLocked(sc, live, sub, items, "subscription_details[items]", tmpID); r != nil {
			return nil, r
		}
	}
	c.behavior, c.at = behavior, at
	if r := checkProrationDate(sub, at, "subscription_details[proration_date]"); r != nil {
		return nil, r
	}
	id := "upcoming_in_" + strings.TrimPrefix(fmt.Sprint(sub["id"]), "sub_")
	lines := f.changeLinesLocked(sc, sub, c, now)
	var inv map[string]any
	if invoicesNow(sub, c, lines) {
		inv = f.invoiceForLocked(sc, sub, lines, id, tmpID, now)
	} else {
		if sub["cancel_at_period_end"] == true || sub["status"] == "canceled" {
			return nil, upcomingNone(sub)
		}
		if behavior != "create_prorations" {
			lines = nil
		}
		inv = f.nextInvoiceLocked(sc, sub, c.items, lines, id, tmpID)
	}
	inv["subscription_proration_date"] = at
	return inv, nil
}

// nextInvoiceLocked is the next invoice of sub once its items are items:
// its pending invoice items, the new prorations, and the next period.
func (f *Fake) nextInvoiceLocked(sc *scope, sub map[string]any, items []map[string]any, prorations []line, id string, newID func(string) string) map[string]any {
	end := num(sub["current_period_end"])
	objs := append(pendingLinesLocked(sc, sub, newID), lineObjects(append(prorations, f.periodLinesLocked(sc, items, end)...), sub, newID)...)
	inv := invoiceObject(id, sub, objs, "subscription_cycle", balanceLocked(sc, fmt.Sprint(sub["customer"])), num(sub["current_period_start"]), end, end)
	inv["next_payment_attempt"] = end
	return inv
}

func upcomingNone(sub map[string]any) *response {
	r := invalidRequest(http.StatusNotFound, "invoice_upcoming_none", "",
		fmt.Sprintf("No upcoming invoices for customer: %s", sub["customer"]))
	return &r
}
