package stripetest

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v79"
)

func lineAmounts(inv *stripe.Invoice) []int64 {
	var out []int64
	for _, l := range inv.Lines.Data {
		out = append(out, l.Amount)
	}
	return out
}

func (s *shop) preview(t *testing.T, sub *stripe.Subscription, behavior string, at int64, items []*stripe.SubscriptionItemsParams) *stripe.Invoice {
	t.Helper()
	d := &stripe.InvoiceCreatePreviewSubscriptionDetailsParams{ProrationBehavior: stripe.String(behavior), ProrationDate: stripe.Int64(at)}
	for _, it := range items {
		d.Items = append(d.Items, &stripe.InvoiceCreatePreviewSubscriptionDetailsItemParams{ID: it.ID, Price: it.Price, Quantity: it.Quantity, Deleted: it.Deleted})
	}
	inv, err := s.c.Invoices.CreatePreview(&stripe.InvoiceCreatePreviewParams{Customer: stripe.String(s.customer), Subscription: stripe.String(sub.ID), SubscriptionDetails: d})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// The preview of a change bills exactly what the change then bills, with
// the same proration date, and changes nothing by itself.
func TestPreviewEqualsTheCharge(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_PreviewFake000001")
	for name, tc := range map[string]struct {
		from     *stripe.Price
		items    func(sub *stripe.Subscription) []*stripe.SubscriptionItemsParams
		behavior string
	}{
		"upgrade":         {s.basic, func(sub *stripe.Subscription) []*stripe.SubscriptionItemsParams { return swap(sub, s.pro) }, "always_invoice"},
		"interval change": {s.basic, func(sub *stripe.Subscription) []*stripe.SubscriptionItemsParams { return swap(sub, s.proYearly) }, "create_prorations"},
		"seats and add-on": {s.pro, func(sub *stripe.Subscription) []*stripe.SubscriptionItemsParams {
			return []*stripe.SubscriptionItemsParams{{ID: stripe.String(sub.Items.Data[0].ID), Quantity: stripe.Int64(7)}, {Price: stripe.String(s.extra.ID), Quantity: stripe.Int64(3)}}
		}, "always_invoice"},
	} {
		sub := s.subscribe(t, "pm_card_visa", tc.from, 2)
		at := sub.CurrentPeriodStart + (sub.CurrentPeriodEnd-sub.CurrentPeriodStart)/3 + 7 // an uneven share, rounded
		before := len(s.events(t))
		preview := s.preview(t, sub, tc.behavior, at, tc.items(sub))
		if len(s.events(t)) != before {
			t.Errorf("%s: the preview told events", name)
		}
		if again, _ := s.c.Subscriptions.Get(sub.ID, nil); again.Items.Data[0].Price.ID != tc.from.ID || len(again.Items.Data) != 1 {
			t.Errorf("%s: the preview changed the subscription", name)
		}
		got := s.update(t, sub.ID, &stripe.SubscriptionParams{Items: tc.items(sub), ProrationBehavior: stripe.String(tc.behavior), ProrationDate: stripe.Int64(at)})
		inv := got.LatestInvoice
		if preview.AmountDue != inv.AmountDue || preview.Total != inv.Total || !slices.Equal(lineAmounts(preview), lineAmounts(inv)) || preview.AmountDue <= 0 {
			t.Errorf("%s: preview %d %v, charged %d %v", name, preview.AmountDue, lineAmounts(preview), inv.AmountDue, lineAmounts(inv))
		}
		if preview.Object != "invoice" || preview.Currency != "usd" || !strings.HasPrefix(preview.ID, "upcoming_in_") {
			t.Errorf("%s: preview %s %s %s", name, preview.ID, preview.Object, preview.Currency)
		}
	}
}

// Under create_prorations the preview is the next invoice: the prorations
// and the next period at the new price. Once the change is made, the next
// invoice is the same.
func TestPreviewOfTheNextInvoice(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_PreviewFake000002")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	at := midPeriod(sub)
	preview := s.preview(t, sub, "create_prorations", at, swap(sub, s.pro))
	if !slices.Equal(lineAmounts(preview), []int64{-500, 1500, 3000}) || preview.AmountDue != 4000 ||
		preview.PeriodStart != sub.CurrentPeriodStart || preview.PeriodEnd != sub.CurrentPeriodEnd {
		t.Fatalf("preview %v due %d period %d..%d", lineAmounts(preview), preview.AmountDue, preview.PeriodStart, preview.PeriodEnd)
	}
	if l := preview.Lines.Data[0]; !l.Proration || l.Period.Start != at || l.Price.ID != s.basic.ID || l.Quantity != 1 {
		t.Fatalf("credit line %+v", l)
	}
	if l := preview.Lines.Data[2]; l.Proration || l.Price.ID != s.pro.ID || l.Period.Start != sub.CurrentPeriodEnd {
		t.Fatalf("period line %+v", l)
	}
	s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.pro), ProrationDate: stripe.Int64(at)})
	after := s.preview(t, sub, "create_prorations", at, nil)
	if !slices.Equal(lineAmounts(after), []int64{-500, 1500, 3000}) {
		t.Fatalf("next invoice after the change %v", lineAmounts(after))
	}
	// none: no prorations, the next period only.
	if none := s.preview(t, sub, "none", at, []*stripe.SubscriptionItemsParams{{ID: stripe.String(sub.Items.Data[0].ID), Quantity: stripe.Int64(2)}}); !slices.Equal(lineAmounts(none), []int64{-500, 1500, 6000}) {
		t.Fatalf("none %v", lineAmounts(none))
	}
}

// The preview refuses what the update refuses, and what the fake cannot
// preview.
func TestPreviewRefusals(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_PreviewFake000003")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	si := sub.Items.Data[0].ID
	for name, tc := range map[string]struct {
		form url.Values
		want string
	}{
		"other currency":   {url.Values{"subscription": {sub.ID}, "subscription_details[items][0][id]": {si}, "subscription_details[items][0][price]": {s.eur.ID}}, "mismatch in currency"},
		"metered quantity": {url.Values{"subscription": {sub.ID}, "subscription_details[items][0][price]": {s.metered.ID}, "subscription_details[items][0][quantity]": {"2"}}, "Remove quantity from `subscription_details[items][0]`"},
		"other customer":   {url.Values{"subscription": {sub.ID}, "customer": {"cus_other"}}, "does not belong to the customer"},
		"unknown sub":      {url.Values{"subscription": {"sub_nope"}}, "No such subscription: 'sub_nope'"},
		"no subscription":  {url.Values{"customer": {s.customer}}, "Missing required param: subscription"},
		"legacy spelling":  {url.Values{"subscription": {sub.ID}, "subscription_items[0][price]": {s.pro.ID}}, "Received unknown parameter: subscription_items[0][price]"},
		"date outside":     {url.Values{"subscription": {sub.ID}, "subscription_details[proration_date]": {"1000"}}, "current billing period"},
	} {
		r := do(t, http.MethodPost, s.f.URL()+"/v1/invoices/create_preview", s.key, tc.form)
		if e := r.errorBody(t); r.status != http.StatusBadRequest || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: %d %q, want %q", name, r.status, e.Message, tc.want)
		}
	}
}

// A paused subscription resumes: with billing_cycle_anchor=unchanged on its
// period, with now on a new period billed at once; any other is refused.
func TestResumePaused(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_PreviewFake000004")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	if _, err := s.c.Subscriptions.Resume(sub.ID, nil); stripeErr(t, err).HTTPStatusCode != http.StatusBadRequest ||
		!strings.Contains(err.Error(), "Subscription is not paused") {
		t.Fatalf("resume of an active subscription: %v", err)
	}
	before := len(s.events(t))
	s.f.PauseSubscription(s.key, sub.ID)
	if got, _ := s.c.Subscriptions.Get(sub.ID, nil); got.Status != "paused" {
		t.Fatalf("paused: %s", got.Status)
	}
	got, err := s.c.Subscriptions.Resume(sub.ID, &stripe.SubscriptionResumeParams{BillingCycleAnchor: stripe.String("unchanged"), ProrationBehavior: stripe.String("none")})
	if err != nil || got.Status != "active" || got.CurrentPeriodEnd != sub.CurrentPeriodEnd || got.LatestInvoice.ID != sub.LatestInvoice.ID {
		t.Fatalf("resumed %+v %v", got, err)
	}
	want := []string{"customer.subscription.paused", "customer.subscription.updated", "customer.subscription.resumed", "customer.subscription.updated"}
	events := s.events(t)
	if got := since(events, before); !slices.Equal(got, want) {
		t.Fatalf("told %v, want %v", got, want)
	}
	if prev := events[len(events)-1].Data.Previous; prev["status"] != "paused" {
		t.Fatalf("previous_attributes %v", prev)
	}
	s.f.PauseSubscription(s.key, sub.ID)
	p := &stripe.SubscriptionResumeParams{}
	p.AddExpand("latest_invoice")
	got, err = s.c.Subscriptions.Resume(sub.ID, p)
	if err != nil || got.Status != "active" || got.LatestInvoice.ID == sub.LatestInvoice.ID || got.LatestInvoice.AmountPaid != 1000 || got.BillingCycleAnchor < sub.CurrentPeriodStart {
		t.Fatalf("resumed now %+v %v", got, err)
	}
	r := do(t, http.MethodPost, s.f.URL()+"/v1/subscriptions/"+sub.ID+"/resume", s.key, url.Values{"billing_cycle_anchor": {"later"}})
	if r.status != http.StatusBadRequest {
		t.Fatalf("bad anchor: %d %s", r.status, r.body)
	}
}

// The invoices the fake made are listed newest first, by customer,
// subscription and status, a page at a time; stored ones stay out.
func TestInvoicesList(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_PreviewFake000005")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	got := s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.pro), ProrationBehavior: stripe.String("always_invoice")})
	other := s.subscribe(t, "pm_card_chargeDeclinedInsufficientFunds", s.basic, 1)
	s.f.PutObject(s.key, []byte(`{"id":"in_stored","object":"invoice","customer":"`+s.customer+`"}`))
	list := func(params *stripe.InvoiceListParams) []string {
		var ids []string
		it := s.c.Invoices.List(params)
		for it.Next() {
			ids = append(ids, it.Invoice().ID)
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	all := &stripe.InvoiceListParams{Customer: stripe.String(s.customer)}
	all.Limit = stripe.Int64(1) // pages of one, followed by the iterator
	if ids := list(all); !slices.Equal(ids, []string{other.LatestInvoice.ID, got.LatestInvoice.ID, sub.LatestInvoice.ID}) {
		t.Fatalf("all %v", ids)
	}
	if ids := list(&stripe.InvoiceListParams{Subscription: stripe.String(sub.ID)}); !slices.Equal(ids, []string{got.LatestInvoice.ID, sub.LatestInvoice.ID}) {
		t.Fatalf("by subscription %v", ids)
	}
	if ids := list(&stripe.InvoiceListParams{Status: stripe.String("open")}); !slices.Equal(ids, []string{other.LatestInvoice.ID}) {
		t.Fatalf("open %v", ids)
	}
}
