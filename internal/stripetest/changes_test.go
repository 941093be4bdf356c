package stripetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/client"
	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/billwire/billwire/internal/eventfixtures"
)

// shop is a fake with a catalogue to change plans in: Basic 10 usd and Pro
// 30 usd a month, Pro 300 usd a year, and the prices a change must refuse.
type shop struct {
	f                                      *Fake
	c                                      *client.API
	key                                    string
	basic, pro, proYearly                  *stripe.Price
	eur, metered, oneTime, inactive, extra *stripe.Price
	customer                               string
}

func newShop(t *testing.T, key string) *shop {
	t.Helper()
	f := StartFake(t, FakeOptions{})
	s := &shop{f: f, c: newClient(f.URL(), key), key: key}
	prod, err := s.c.Products.New(&stripe.ProductParams{Name: stripe.String("Pro")})
	if err != nil {
		t.Fatal(err)
	}
	price := func(currency string, amount int64, interval, usage string, active bool) *stripe.Price {
		p := &stripe.PriceParams{Product: stripe.String(prod.ID), Currency: stripe.String(currency), UnitAmount: stripe.Int64(amount), Active: stripe.Bool(active)}
		if interval != "" {
			p.Recurring = &stripe.PriceRecurringParams{Interval: stripe.String(interval), UsageType: stripe.String(usage)}
		}
		pr, err := s.c.Prices.New(p)
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	s.basic = price("usd", 1000, "month", "licensed", true)
	s.pro = price("usd", 3000, "month", "licensed", true)
	s.proYearly = price("usd", 30000, "year", "licensed", true)
	s.eur = price("eur", 1000, "month", "licensed", true)
	s.metered = price("usd", 5, "month", "metered", true)
	s.oneTime = price("usd", 1000, "", "", true)
	s.inactive = price("usd", 500, "month", "licensed", false)
	s.extra = price("usd", 200, "month", "licensed", true)
	cus, err := s.c.Customers.New(&stripe.CustomerParams{})
	if err != nil {
		t.Fatal(err)
	}
	s.customer = cus.ID
	return s
}

// card attaches a test card token and returns its payment method id.
func (s *shop) card(t *testing.T, token string) string {
	t.Helper()
	pm, err := s.c.PaymentMethods.Attach(token, &stripe.PaymentMethodAttachParams{Customer: stripe.String(s.customer)})
	if err != nil {
		t.Fatal(err)
	}
	return pm.ID
}

func (s *shop) subscribe(t *testing.T, token string, price *stripe.Price, quantity int64) *stripe.Subscription {
	t.Helper()
	sub, err := s.c.Subscriptions.New(&stripe.SubscriptionParams{Customer: stripe.String(s.customer), DefaultPaymentMethod: stripe.String(s.card(t, token)),
		Items: []*stripe.SubscriptionItemsParams{{Price: stripe.String(price.ID), Quantity: stripe.Int64(quantity)}}})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// midPeriod is the middle of sub's current period (periods are whole days,
// so the middle is a whole second and prorations are exact halves).
func midPeriod(sub *stripe.Subscription) int64 {
	return sub.CurrentPeriodStart + (sub.CurrentPeriodEnd-sub.CurrentPeriodStart)/2
}

type toldEvent struct {
	Type string `json:"type"`
	Data struct {
		Object   map[string]any `json:"object"`
		Previous map[string]any `json:"previous_attributes"`
	} `json:"data"`
}

// events returns the events told so far, oldest first.
func (s *shop) events(t *testing.T) []toldEvent {
	t.Helper()
	r := do(t, http.MethodGet, s.f.URL()+"/v1/events?limit=100", s.key, nil)
	var list struct {
		Data []toldEvent `json:"data"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(list.Data)
	return list.Data
}

// since returns the types of the events told after the first n.
func since(events []toldEvent, n int) []string {
	var out []string
	for _, e := range events[n:] {
		out = append(out, e.Type)
	}
	return out
}

func (s *shop) update(t *testing.T, id string, p *stripe.SubscriptionParams) *stripe.Subscription {
	t.Helper()
	p.AddExpand("latest_invoice.payment_intent")
	sub, err := s.c.Subscriptions.Update(id, p)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func swap(sub *stripe.Subscription, price *stripe.Price) []*stripe.SubscriptionItemsParams {
	return []*stripe.SubscriptionItemsParams{{ID: stripe.String(sub.Items.Data[0].ID), Price: stripe.String(price.ID)}}
}

// An upgrade in mid-period under always_invoice bills at once the
// remaining half of Pro minus the unused half of Basic, paid by the card,
// told as Stripe tells it.
func TestUpgradeAlwaysInvoiceChargesTheProration(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000001")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	before := len(s.events(t))
	got := s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.pro),
		ProrationBehavior: stripe.String("always_invoice"), ProrationDate: stripe.Int64(midPeriod(sub))})
	inv := got.LatestInvoice
	if inv == nil || inv.ID == sub.LatestInvoice.ID || inv.AmountDue != 1000 || inv.AmountPaid != 1000 || inv.Status != "paid" ||
		inv.HostedInvoiceURL == "" || inv.PaymentIntent == nil || inv.PaymentIntent.Status != "succeeded" {
		t.Fatalf("latest invoice %+v", inv)
	}
	var amounts []int64
	for _, l := range inv.Lines.Data {
		if !l.Proration || l.Period.Start != midPeriod(sub) || l.Period.End != sub.CurrentPeriodEnd {
			t.Errorf("line %+v", l)
		}
		amounts = append(amounts, l.Amount)
	}
	if !slices.Equal(amounts, []int64{-500, 1500}) || !strings.HasPrefix(inv.Lines.Data[0].Description, "Unused time on Pro after ") {
		t.Fatalf("lines %v %q", amounts, inv.Lines.Data[0].Description)
	}
	if got.Items.Data[0].Price.ID != s.pro.ID || got.Items.Data[0].ID != sub.Items.Data[0].ID || got.CurrentPeriodEnd != sub.CurrentPeriodEnd {
		t.Fatalf("items %+v", got.Items.Data[0])
	}
	if again, _ := s.c.Subscriptions.Get(sub.ID, nil); again.Items.Data[0].Price.ID != s.pro.ID || again.LatestInvoice.ID != inv.ID {
		t.Fatalf("stored %+v", again)
	}
	events := s.events(t)
	want := []string{"customer.subscription.updated", "invoice.created", "invoice.finalized", "invoice.paid", "payment_intent.succeeded"}
	if got := since(events, before); !slices.Equal(got, want) {
		t.Fatalf("told %v, want %v", got, want)
	}
	prev := events[before].Data.Previous
	plan, _ := prev["plan"].(map[string]any)
	if prev["items"] == nil || plan["id"] != s.basic.ID || prev["latest_invoice"] != sub.LatestInvoice.ID {
		t.Fatalf("previous_attributes %v", prev)
	}
}

// Under create_prorations a seat change bills nothing now: the prorations
// wait as pending invoice items, and the next invoice shows them with the
// next period at the new quantity.
func TestCreateProrationsWaitForTheNextInvoice(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000002")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	before := len(s.events(t))
	got := s.update(t, sub.ID, &stripe.SubscriptionParams{ProrationDate: stripe.Int64(midPeriod(sub)),
		Items: []*stripe.SubscriptionItemsParams{{ID: stripe.String(sub.Items.Data[0].ID), Quantity: stripe.Int64(3)}}})
	if got.LatestInvoice.ID != sub.LatestInvoice.ID || got.Items.Data[0].Quantity != 3 {
		t.Fatalf("update %+v", got)
	}
	events := s.events(t)
	if got := since(events, before); !slices.Equal(got, []string{"customer.subscription.updated", "invoiceitem.created", "invoiceitem.created"}) {
		t.Fatalf("told %v", got)
	}
	if q := events[before].Data.Previous["quantity"]; q != 1.0 {
		t.Fatalf("previous quantity %v", events[before].Data.Previous)
	}
	it := s.c.InvoiceItems.List(&stripe.InvoiceItemListParams{Customer: stripe.String(s.customer), Pending: stripe.Bool(true)})
	var pending []int64
	for it.Next() {
		pending = append(pending, it.InvoiceItem().Amount)
	}
	if err := it.Err(); err != nil || !slices.Equal(pending, []int64{1500, -500}) {
		t.Fatalf("pending %v %v", pending, err)
	}
	next, err := s.c.Invoices.CreatePreview(&stripe.InvoiceCreatePreviewParams{Customer: stripe.String(s.customer), Subscription: stripe.String(sub.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if next.AmountDue != 1000+3000 || len(next.Lines.Data) != 3 || next.PeriodEnd != sub.CurrentPeriodEnd {
		t.Fatalf("next invoice %d %d lines, period end %d", next.AmountDue, len(next.Lines.Data), next.PeriodEnd)
	}
	if l := next.Lines.Data[2]; l.Proration || l.Amount != 3000 || l.Quantity != 3 || l.Period.Start != sub.CurrentPeriodEnd {
		t.Fatalf("next period line %+v", l)
	}
}

// A downgrade credits: under always_invoice the invoice totals the credit,
// nothing is due and the credit goes to the balance.
func TestDowngradeCredits(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000003")
	sub := s.subscribe(t, "pm_card_visa", s.pro, 1)
	got := s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.basic),
		ProrationBehavior: stripe.String("always_invoice"), ProrationDate: stripe.Int64(midPeriod(sub))})
	inv := got.LatestInvoice
	if inv.Total != -1000 || inv.AmountDue != 0 || inv.Status != "paid" || inv.PaymentIntent != nil || inv.EndingBalance != -1000 {
		t.Fatalf("invoice %+v", inv)
	}
	if c, _ := s.c.Customers.Get(s.customer, nil); c.Balance != -1000 {
		t.Fatalf("customer balance %d", c.Balance)
	}
	// The credit pays the way back up: previewed and charged alike.
	back := s.preview(t, sub, "always_invoice", midPeriod(sub), swap(sub, s.pro))
	got = s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.pro),
		ProrationBehavior: stripe.String("always_invoice"), ProrationDate: stripe.Int64(midPeriod(sub))})
	inv = got.LatestInvoice
	if inv.Total != 1000 || inv.StartingBalance != -1000 || inv.AmountDue != 0 || inv.EndingBalance != 0 || back.AmountDue != 0 || back.StartingBalance != -1000 {
		t.Fatalf("upgrade back: invoice %+v, preview due %d", inv, back.AmountDue)
	}
	if c, _ := s.c.Customers.Get(s.customer, nil); c.Balance != 0 {
		t.Fatalf("customer balance after %d", c.Balance)
	}
}

// With pending_if_incomplete a declined upgrade changes nothing but
// pending_update and the open invoice; paying it applies the change.
func TestPendingIfIncompleteWaitsForPayment(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000004")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	s.update(t, sub.ID, &stripe.SubscriptionParams{DefaultPaymentMethod: stripe.String(s.card(t, "pm_card_chargeDeclinedInsufficientFunds"))})
	before := len(s.events(t))
	got := s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.pro), PaymentBehavior: stripe.String("pending_if_incomplete"),
		ProrationBehavior: stripe.String("always_invoice"), ProrationDate: stripe.Int64(midPeriod(sub))})
	inv := got.LatestInvoice
	if got.Items.Data[0].Price.ID != s.basic.ID || got.Status != "active" || got.PendingUpdate == nil ||
		got.PendingUpdate.SubscriptionItems[0].Price.ID != s.pro.ID || got.PendingUpdate.ExpiresAt <= sub.CurrentPeriodStart {
		t.Fatalf("subscription %+v pending %+v", got, got.PendingUpdate)
	}
	if inv.Status != "open" || inv.AmountDue != 1000 || inv.HostedInvoiceURL == "" || inv.PaymentIntent.Status != "requires_payment_method" {
		t.Fatalf("invoice %+v", inv)
	}
	want := []string{"customer.subscription.updated", "invoice.created", "invoice.finalized", "invoice.payment_failed", "payment_intent.payment_failed"}
	if got := since(s.events(t), before); !slices.Equal(got, want) {
		t.Fatalf("told %v, want %v", got, want)
	}
	before = len(s.events(t))
	s.f.PayInvoice(s.key, inv.ID)
	paid, err := s.c.Subscriptions.Get(sub.ID, nil)
	if err != nil || paid.Items.Data[0].Price.ID != s.pro.ID || paid.PendingUpdate != nil || paid.LatestInvoice.ID != inv.ID {
		t.Fatalf("after payment %+v %v", paid, err)
	}
	if i, _ := s.c.Invoices.Get(inv.ID, nil); i.Status != "paid" || i.AmountPaid != 1000 {
		t.Fatalf("invoice after payment %+v", i)
	}
	if got := since(s.events(t), before); !slices.Equal(got, []string{"invoice.paid", "payment_intent.succeeded", "customer.subscription.updated"}) {
		t.Fatalf("told %v", got)
	}
}

// error_if_incomplete refuses a change the card cannot pay, and changes
// nothing.
func TestErrorIfIncompleteRefusesAnUnpaidChange(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000005")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	s.update(t, sub.ID, &stripe.SubscriptionParams{DefaultPaymentMethod: stripe.String(s.card(t, "pm_card_authenticationRequired"))})
	before := len(s.events(t))
	_, err := s.c.Subscriptions.Update(sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.pro),
		PaymentBehavior: stripe.String("error_if_incomplete"), ProrationBehavior: stripe.String("always_invoice")})
	if se := stripeErr(t, err); se.HTTPStatusCode != http.StatusPaymentRequired || se.Type != "card_error" {
		t.Fatalf("error %+v", se)
	}
	if again, _ := s.c.Subscriptions.Get(sub.ID, nil); again.Items.Data[0].Price.ID != s.basic.ID || len(s.events(t)) != before {
		t.Fatalf("changed: %+v", again)
	}
}

// A monthly to yearly switch restarts the period now and bills the year at
// once, less the unused month, whatever the proration behavior.
func TestIntervalChangeInvoicesAtOnce(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000006")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	got := s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.proYearly), ProrationDate: stripe.Int64(midPeriod(sub))})
	inv := got.LatestInvoice
	if inv.ID == sub.LatestInvoice.ID || inv.AmountDue != 30000-500 || inv.Status != "paid" {
		t.Fatalf("invoice %+v", inv)
	}
	if got.CurrentPeriodStart < sub.CurrentPeriodStart || got.BillingCycleAnchor != got.CurrentPeriodStart ||
		got.CurrentPeriodEnd-got.CurrentPeriodStart < 365*86400 {
		t.Fatalf("period %d..%d anchor %d", got.CurrentPeriodStart, got.CurrentPeriodEnd, got.BillingCycleAnchor)
	}
	if l := inv.Lines.Data[1]; l.Proration || l.Amount != 30000 || l.Period.End != got.CurrentPeriodEnd {
		t.Fatalf("year line %+v", l)
	}
}

// What Stripe refuses, the fake refuses with Stripe's message, and the
// subscription stays as it was. Several are an end user's ways to pay
// less: another currency, a metered price without seats, a one-time or
// retired price, a proration date outside the period.
func TestChangeRefusals(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000007")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	si := sub.Items.Data[0].ID
	canceled := s.subscribe(t, "pm_card_visa", s.basic, 1)
	if _, err := s.c.Subscriptions.Cancel(canceled.ID, nil); err != nil {
		t.Fatal(err)
	}
	incomplete := s.subscribe(t, "pm_card_chargeDeclinedInsufficientFunds", s.basic, 1)
	for name, tc := range map[string]struct {
		sub  string
		form url.Values
		want string
	}{
		"unknown item":      {sub.ID, url.Values{"items[0][id]": {"si_nope"}, "items[0][price]": {s.pro.ID}}, "No such subscription_item: 'si_nope'"},
		"other currency":    {sub.ID, url.Values{"items[0][id]": {si}, "items[0][price]": {s.eur.ID}}, "Found mismatch in currency field."},
		"mixed intervals":   {sub.ID, url.Values{"items[0][price]": {s.proYearly.ID}}, "Found mismatch in interval field."},
		"metered quantity":  {sub.ID, url.Values{"items[0][price]": {s.metered.ID}, "items[0][quantity]": {"1"}}, "Quantity should not be specified where usage_type is `metered`. Remove quantity from `items[0]`."},
		"inactive price":    {sub.ID, url.Values{"items[0][id]": {si}, "items[0][price]": {s.inactive.ID}}, "The price specified is inactive. This field only accepts active prices."},
		"one-time price":    {sub.ID, url.Values{"items[0][id]": {si}, "items[0][price]": {s.oneTime.ID}}, "`type=one_time`"},
		"unknown price":     {sub.ID, url.Values{"items[0][id]": {si}, "items[0][price]": {"price_nope"}}, "No such price: 'price_nope'"},
		"same price twice":  {sub.ID, url.Values{"items[0][price]": {s.basic.ID}}, "Cannot add multiple subscription items with the same price"},
		"no items left":     {sub.ID, url.Values{"items[0][id]": {si}, "items[0][deleted]": {"true"}}, "at least one"},
		"negative seats":    {sub.ID, url.Values{"items[0][id]": {si}, "items[0][quantity]": {"-1"}}, "Invalid integer: -1"},
		"unknown param":     {sub.ID, url.Values{"items[0][id]": {si}, "items[0][price_data][unit_amount]": {"1"}}, "Received unknown parameter: items[0][price_data][unit_amount]"},
		"unknown behavior":  {sub.ID, url.Values{"proration_behavior": {"free"}}, "Invalid proration_behavior"},
		"proration too old": {sub.ID, url.Values{"items[0][id]": {si}, "items[0][price]": {s.pro.ID}, "proration_date": {"1000"}}, "current billing period"},
		"both cancels":      {sub.ID, url.Values{"cancel_at": {"4102444800"}, "cancel_at_period_end": {"true"}}, "only specify one of these parameters: cancel_at, cancel_at_period_end"},
		"pending metadata":  {sub.ID, url.Values{"payment_behavior": {"pending_if_incomplete"}, "metadata[a]": {"b"}}, "`metadata[a]` parameter cannot be used with `payment_behavior=pending_if_incomplete`"},
		"pending cancel":    {sub.ID, url.Values{"payment_behavior": {"pending_if_incomplete"}, "cancel_at_period_end": {"true"}}, "`cancel_at_period_end` parameter cannot be used"},
		"pending delete":    {sub.ID, url.Values{"payment_behavior": {"pending_if_incomplete"}, "items[0][id]": {si}, "items[0][deleted]": {"true"}}, "`items[0][deleted]` parameter cannot be used"},
		"canceled":          {canceled.ID, url.Values{"items[0][id]": {canceled.Items.Data[0].ID}, "items[0][price]": {s.pro.ID}}, "A canceled subscription can only update its cancellation_details and metadata."},
		"canceled resume":   {canceled.ID, url.Values{"cancel_at_period_end": {"false"}}, "A canceled subscription can only update its cancellation_details and metadata."},
		"incomplete":        {incomplete.ID, url.Values{"items[0][id]": {incomplete.Items.Data[0].ID}, "items[0][price]": {s.pro.ID}}, "status `incomplete` can only update"},
	} {
		before := len(s.events(t))
		r := do(t, http.MethodPost, s.f.URL()+"/v1/subscriptions/"+tc.sub, s.key, tc.form)
		if e := r.errorBody(t); r.status != http.StatusBadRequest || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: %d %q, want %q", name, r.status, e.Message, tc.want)
		}
		if len(s.events(t)) != before {
			t.Errorf("%s: told events", name)
		}
	}
	if again, _ := s.c.Subscriptions.Get(sub.ID, nil); again.Items.Data[0].Price.ID != s.basic.ID || again.Items.Data[0].Quantity != 1 || len(again.Items.Data) != 1 {
		t.Fatalf("changed: %+v", again.Items.Data)
	}
	// Metadata still reaches a canceled subscription.
	if r := do(t, http.MethodPost, s.f.URL()+"/v1/subscriptions/"+canceled.ID, s.key, url.Values{"metadata[note]": {"x"}}); r.status != http.StatusOK {
		t.Fatalf("metadata of a canceled subscription: %d %s", r.status, r.body)
	}
}

// Items are added, swapped and deleted in one update; a metered item takes
// no quantity and bills no proration.
func TestItemsAddSwapDelete(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000008")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 2)
	got := s.update(t, sub.ID, &stripe.SubscriptionParams{ProrationBehavior: stripe.String("always_invoice"), ProrationDate: stripe.Int64(midPeriod(sub)),
		Items: []*stripe.SubscriptionItemsParams{{ID: stripe.String(sub.Items.Data[0].ID), Deleted: stripe.Bool(true)},
			{Price: stripe.String(s.pro.ID), Quantity: stripe.Int64(2)}, {Price: stripe.String(s.metered.ID)}}})
	if len(got.Items.Data) != 2 || got.Items.Data[0].Price.ID != s.pro.ID || got.Items.Data[0].Quantity != 2 || got.Items.Data[1].Price.ID != s.metered.ID {
		t.Fatalf("items %+v", got.Items.Data)
	}
	if inv := got.LatestInvoice; inv.AmountDue != 3000-1000 || len(inv.Lines.Data) != 2 || !strings.Contains(inv.Lines.Data[1].Description, "2 × Pro") {
		t.Fatalf("invoice %d %+v", inv.AmountDue, inv.Lines.Data)
	}
}

// Cancellation terms: at period end, at a date, and cleared with an empty
// cancel_at.
func TestCancellationTerms(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000009")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	if got := s.update(t, sub.ID, &stripe.SubscriptionParams{CancelAt: stripe.Int64(sub.CurrentPeriodEnd - 60)}); got.CancelAt != sub.CurrentPeriodEnd-60 || got.CancelAtPeriodEnd {
		t.Fatalf("cancel_at %+v", got)
	}
	p := &stripe.SubscriptionParams{CancelAtPeriodEnd: stripe.Bool(false)}
	p.AddExtra("cancel_at", "")
	if got := s.update(t, sub.ID, p); got.CancelAt != 0 || got.CanceledAt != 0 || got.CancelAtPeriodEnd {
		t.Fatalf("cleared %+v", got)
	}
	if got := s.update(t, sub.ID, &stripe.SubscriptionParams{CancelAtPeriodEnd: stripe.Bool(true)}); !got.CancelAtPeriodEnd || got.CancelAt != sub.CurrentPeriodEnd {
		t.Fatalf("at period end %+v", got)
	}
	// No next invoice once the subscription ends with its period.
	_, err := s.c.Invoices.CreatePreview(&stripe.InvoiceCreatePreviewParams{Subscription: stripe.String(sub.ID)})
	if se := stripeErr(t, err); se.Code != "invoice_upcoming_none" {
		t.Fatalf("preview of an ending subscription: %+v", se)
	}
}

// A pending interval change keeps the month until its invoice is paid;
// the payment then starts the year at the anchor of the change.
func TestPendingIntervalChangeStartsOnPayment(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000010")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	s.update(t, sub.ID, &stripe.SubscriptionParams{DefaultPaymentMethod: stripe.String(s.card(t, "pm_card_authenticationRequired"))})
	got := s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.proYearly), PaymentBehavior: stripe.String("pending_if_incomplete")})
	pu := got.PendingUpdate
	if pu == nil || pu.BillingCycleAnchor < sub.CurrentPeriodStart || got.CurrentPeriodEnd != sub.CurrentPeriodEnd || got.Items.Data[0].Price.ID != s.basic.ID {
		t.Fatalf("pending %+v subscription %+v", pu, got)
	}
	if got.LatestInvoice.Status != "open" || got.LatestInvoice.PaymentIntent.Status != "requires_action" {
		t.Fatalf("invoice %+v", got.LatestInvoice)
	}
	s.f.PayInvoice(s.key, got.LatestInvoice.ID)
	paid, _ := s.c.Subscriptions.Get(sub.ID, nil)
	if paid.Items.Data[0].Price.ID != s.proYearly.ID || paid.CurrentPeriodStart != pu.BillingCycleAnchor || paid.BillingCycleAnchor != pu.BillingCycleAnchor ||
		paid.CurrentPeriodEnd-paid.CurrentPeriodStart < 365*86400 || paid.PendingUpdate != nil {
		t.Fatalf("after payment %+v", paid)
	}
}

// A declined change under the default allow_incomplete applies anyway and
// leaves the subscription past_due until the invoice is paid.
func TestAllowIncompleteGoesPastDue(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000011")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	s.update(t, sub.ID, &stripe.SubscriptionParams{DefaultPaymentMethod: stripe.String(s.card(t, "pm_card_chargeCustomerFail"))})
	got := s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.pro), ProrationBehavior: stripe.String("always_invoice")})
	if got.Status != "past_due" || got.Items.Data[0].Price.ID != s.pro.ID || got.PendingUpdate != nil || got.LatestInvoice.Status != "open" {
		t.Fatalf("subscription %+v", got)
	}
	if inv := got.LatestInvoice; inv.AttemptCount != 1 || inv.NextPaymentAttempt <= inv.Created || inv.HostedInvoiceURL == "" {
		t.Fatalf("dunning fields of %+v", inv)
	}
	s.f.PayInvoice(s.key, got.LatestInvoice.ID)
	if paid, _ := s.c.Subscriptions.Get(sub.ID, nil); paid.Status != "active" {
		t.Fatalf("after payment %s", paid.Status)
	}
}

// An invoice made at once takes the subscription's pending prorations
// with it, as Stripe's does.
func TestAlwaysInvoiceTakesPendingItems(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000012")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	at := midPeriod(sub)
	s.update(t, sub.ID, &stripe.SubscriptionParams{ProrationDate: stripe.Int64(at),
		Items: []*stripe.SubscriptionItemsParams{{ID: stripe.String(sub.Items.Data[0].ID), Quantity: stripe.Int64(2)}}})
	got := s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.pro), ProrationBehavior: stripe.String("always_invoice"), ProrationDate: stripe.Int64(at)})
	// Pending: -500 +1000 (one more seat); now: -1000 (2 Basic) +3000 (2 Pro).
	if inv := got.LatestInvoice; inv.AmountDue != 500+2000 || len(inv.Lines.Data) != 4 {
		t.Fatalf("invoice %d %v", inv.AmountDue, lineAmounts(inv))
	}
	it := s.c.InvoiceItems.List(&stripe.InvoiceItemListParams{Customer: stripe.String(s.customer), Pending: stripe.Bool(true)})
	if it.Next() {
		t.Fatalf("still pending: %+v", it.InvoiceItem())
	}
}

// pending_if_incomplete holds only a change that invoices now: under
// create_prorations nothing is charged, so the change applies at once and
// its prorations wait for the next invoice, as on Stripe.
func TestPendingIfIncompleteWithoutAnInvoiceAppliesAtOnce(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000013")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	s.update(t, sub.ID, &stripe.SubscriptionParams{DefaultPaymentMethod: stripe.String(s.card(t, "pm_card_chargeDeclinedInsufficientFunds"))})
	got := s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.pro), PaymentBehavior: stripe.String("pending_if_incomplete")})
	if got.Items.Data[0].Price.ID != s.pro.ID || got.PendingUpdate != nil || got.LatestInvoice.ID != sub.LatestInvoice.ID {
		t.Fatalf("subscription %+v", got)
	}
	p := &stripe.SubscriptionParams{}
	p.AddExpand("latest_invoice.payment_intent")
	if again, err := s.c.Subscriptions.Get(sub.ID, p); err != nil || again.LatestInvoice.Status != "paid" || again.LatestInvoice.PaymentIntent.Status != "succeeded" {
		t.Fatalf("get expanded: %+v %v", again, err)
	}
}

// Every event a change tells is one stripe-go's webhook package accepts,
// invoiceitem.created (which has no fixture) included, and decodes to the
// object it is about.
func TestChangeEventsVerify(t *testing.T) {
	t.Parallel()
	s := newShop(t, "sk_test_ChangesFake000014")
	sub := s.subscribe(t, "pm_card_visa", s.basic, 1)
	s.update(t, sub.ID, &stripe.SubscriptionParams{Items: []*stripe.SubscriptionItemsParams{{ID: stripe.String(sub.Items.Data[0].ID), Quantity: stripe.Int64(2)}}})
	s.update(t, sub.ID, &stripe.SubscriptionParams{Items: swap(sub, s.pro), ProrationBehavior: stripe.String("always_invoice")})
	r := do(t, http.MethodGet, s.f.URL()+"/v1/events?limit=100", s.key, nil)
	var list struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, raw := range list.Data {
		e, err := webhook.ConstructEvent(raw, eventfixtures.Sign(raw, "whsec_changes", time.Now()), "whsec_changes")
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		seen[string(e.Type)] = true
		if e.Type == "invoiceitem.created" {
			var ii stripe.InvoiceItem
			if err := json.Unmarshal(e.Data.Raw, &ii); err != nil || ii.Subscription.ID != sub.ID || !ii.Proration || ii.Invoice != nil {
				t.Fatalf("invoice item %+v %v", ii, err)
			}
		}
		if e.Type == "invoice.paid" {
			var inv stripe.Invoice
			if err := json.Unmarshal(e.Data.Raw, &inv); err != nil || inv.Subscription.ID != sub.ID || inv.Lines == nil || len(inv.Lines.Data) == 0 {
				t.Fatalf("invoice %+v %v", inv, err)
			}
		}
	}
	for _, typ := range []string{"invoiceitem.created", "invoice.created", "invoice.finalized", "invoice.paid", "customer.subscription.updated"} {
		if !seen[typ] {
			t.Errorf("no %s among %v", typ, seen)
		}
	}
}
