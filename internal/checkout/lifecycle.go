package checkout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// ChangePreview is what a change would charge, from Stripe's invoice preview.
type ChangePreview struct {
	Currency string `json:"currency"`
	// ProrationDate is the time the prorations are computed for: send it
	// with the change, so the charge equals what was shown.
	ProrationDate     int64  `json:"proration_date"`
	ProrationBehavior string `json:"proration_behavior"`
	// AmountDueNow is invoiced at once (always_invoice or a new billing
	// interval); 0 when the prorations go on the next invoice.
	AmountDueNow int64 `json:"amount_due_now"`
	// AppliesWhenPaid: the change applies only once amount_due_now is paid.
	AppliesWhenPaid bool           `json:"applies_when_paid"`
	NextInvoice     PreviewInvoice `json:"next_invoice"`
	Lines           []PreviewLine  `json:"lines"`
}

// PreviewInvoice is the next invoice after the change.
type PreviewInvoice struct {
	Amount      int64     `json:"amount"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
}

// PreviewLine is one line of the previewed invoice.
type PreviewLine struct {
	Description string `json:"description"`
	Amount      int64  `json:"amount"`
	Proration   bool   `json:"proration"`
}

// ChangeResult is the answer of a change, cancel or resume: the
// subscription as Stripe answered (in the subject route's shape; the
// projection follows from the webhook).
type ChangeResult struct {
	Subscription store.SubjectSubscription `json:"subscription"`
	// Pending: the change applies once LatestInvoice is paid (a declined
	// card, or 3-D Secure to complete at its hosted_invoice_url).
	Pending bool `json:"pending"`
	// LatestInvoice is the invoice the change made, when it invoiced at once.
	LatestInvoice *InvoiceLink `json:"latest_invoice,omitempty"`
	// Replayed is set when an idempotency key returned an earlier answer.
	Replayed bool `json:"-"`
}

// InvoiceLink is an invoice for the user to see or pay.
type InvoiceLink struct {
	ID               string `json:"id"`
	Status           string `json:"status"`
	AmountDue        int64  `json:"amount_due"`
	Currency         string `json:"currency"`
	HostedInvoiceURL string `json:"hosted_invoice_url,omitempty"`
}

// CancelRequest is the body of POST …/subscriptions/{id}/cancel.
type CancelRequest struct {
	// AtPeriodEnd (default true) ends the subscription when its period
	// ends; false ends it now (API keys only).
	AtPeriodEnd *bool `json:"at_period_end,omitempty"`
}

// PreviewSubscriptionChange previews a change of subscription id to r's
// items with Stripe's invoice preview; it changes nothing.
func (s *Service) PreviewSubscriptionChange(ctx context.Context, env vocab.Env, caller *auth.Caller, id string, r PreviewRequest) (*ChangePreview, error) {
	if err := r.validate(caller); err != nil {
		return nil, err
	}
	st, c, o, err := s.owned(ctx, env, caller, id)
	if err != nil {
		return nil, err
	}
	p, err := s.plan(ctx, st, c, env, caller, id, o, &r, nil)
	if err != nil {
		return nil, err
	}
	// After an invoice now, the next is the renewal at the new prices: a
	// second preview without prorations, asked at the same time.
	var renewal chan previewed
	if p.invoicesNow && !p.intervalChange {
		renewal = make(chan previewed, 1)
		go func() {
			inv, err := c.PreviewInvoice(ctx, p.previewParams("none"))
			renewal <- previewed{inv, err}
		}()
	}
	first, err := c.PreviewInvoice(ctx, p.previewParams(p.behavior))
	if err != nil {
		return nil, changeProblem(err)
	}
	out := &ChangePreview{Currency: string(first.Currency), ProrationDate: p.prorationDate, ProrationBehavior: p.behavior,
		AppliesWhenPaid: p.pending, NextInvoice: nextInvoice(first), Lines: linesOf(first)}
	switch {
	case !p.invoicesNow:
	case p.intervalChange:
		out.AmountDueNow, out.NextInvoice = first.AmountDue, renewalAfter(first, p.target[0])
	default:
		out.AmountDueNow = first.AmountDue
		r := <-renewal
		if r.err != nil {
			return nil, changeProblem(r.err)
		}
		out.NextInvoice = nextInvoice(r.inv)
	}
	return out, nil
}

type previewed struct {
	inv *stripe.Invoice
	err error
}

// previewParams ask Stripe's invoice preview for the change under behavior.
func (p *changePlan) previewParams(behavior string) *stripe.InvoiceCreatePreviewParams {
	d := &stripe.InvoiceCreatePreviewSubscriptionDetailsParams{ProrationBehavior: stripe.String(behavior)}
	if behavior != "none" { // Stripe takes no proration_date without prorations
		d.ProrationDate = stripe.Int64(p.prorationDate)
	}
	for _, it := range p.items {
		d.Items = append(d.Items, &stripe.InvoiceCreatePreviewSubscriptionDetailsItemParams{
			ID: optional(it.id), Price: optional(it.price), Quantity: it.quantity, Deleted: optionalTrue(it.deleted)})
	}
	return &stripe.InvoiceCreatePreviewParams{Customer: stripe.String(p.sub.Customer.ID), Subscription: stripe.String(p.sub.ID), SubscriptionDetails: d}
}

// updateParams change the subscription as planned.
func (p *changePlan) updateParams() *stripe.SubscriptionParams {
	u := &stripe.SubscriptionParams{ProrationBehavior: stripe.String(p.behavior)}
	if p.behavior != "none" {
		u.ProrationDate = stripe.Int64(p.prorationDate)
	}
	if p.pending {
		// Stripe's pending updates cannot delete items: such a change is
		// refused unless paid at once instead (error_if_incomplete).
		u.PaymentBehavior = stripe.String("pending_if_incomplete")
		for _, it := range p.items {
			if it.deleted {
				u.PaymentBehavior = stripe.String("error_if_incomplete")
			}
		}
	}
	for _, it := range p.items {
		u.Items = append(u.Items, &stripe.SubscriptionItemsParams{
			ID: optional(it.id), Price: optional(it.price), Quantity: it.quantity, Deleted: optionalTrue(it.deleted)})
	}
	if p.invoicesNow { // only then is there an invoice to show; the answer decodes faster without
		u.AddExpand("latest_invoice")
	}
	return u
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optionalTrue(b bool) *bool {
	if !b {
		return nil
	}
	return &b
}

func linesOf(inv *stripe.Invoice) []PreviewLine {
	out := []PreviewLine{}
	if inv.Lines == nil {
		return out
	}
	for _, l := range inv.Lines.Data {
		out = append(out, PreviewLine{Description: l.Description, Amount: l.Amount, Proration: l.Proration})
	}
	return out
}

// nextInvoice is a previewed invoice as the next invoice: its amount and
// the period its lines other than prorations bill.
func nextInvoice(inv *stripe.Invoice) PreviewInvoice {
	out := PreviewInvoice{Amount: inv.AmountDue, PeriodStart: time.Unix(inv.PeriodStart, 0).UTC(), PeriodEnd: time.Unix(inv.PeriodEnd, 0).UTC()}
	start, end := periodOf(inv)
	if end > 0 {
		out.PeriodStart, out.PeriodEnd = time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
	}
	return out
}

// periodOf is the period the invoice's lines other than prorations bill.
func periodOf(inv *stripe.Invoice) (start, end int64) {
	if inv.Lines == nil {
		return 0, 0
	}
	for _, l := range inv.Lines.Data {
		if l.Proration || l.Period == nil {
			continue
		}
		if start == 0 || l.Period.Start < start {
			start = l.Period.Start
		}
		end = max(end, l.Period.End)
	}
	return start, end
}

// renewalAfter is the invoice after inv, which starts a new billing
// interval: the same charge (its lines other than prorations) for the
// period after.
func renewalAfter(inv *stripe.Invoice, p store.ChangePrice) PreviewInvoice {
	var amount int64
	if inv.Lines != nil {
		for _, l := range inv.Lines.Data {
			if !l.Proration {
				amount += l.Amount
			}
		}
	}
	_, end := periodOf(inv)
	start := time.Unix(end, 0).UTC()
	n := int(max(p.IntervalCount, 1))
	next := map[string]time.Time{"day": start.AddDate(0, 0, n), "week": start.AddDate(0, 0, 7*n), "month": start.AddDate(0, n, 0), "year": start.AddDate(n, 0, 0)}[p.Interval]
	return PreviewInvoice{Amount: amount, PeriodStart: start, PeriodEnd: next}
}

// ChangeSubscription changes subscription id to r's items: the change's row
// first (one change of a subscription in flight; a repeated idempotency
// key gets the first answer), then the subscription read from Stripe, the
// target checked, and the update sent.
func (s *Service) ChangeSubscription(ctx context.Context, env vocab.Env, caller *auth.Caller, id string, r ChangeRequest) (*ChangeResult, error) {
	if err := r.validate(caller); err != nil {
		return nil, err
	}
	if r.IdempotencyKey != "" && !idemKeyRE().MatchString(r.IdempotencyKey) {
		return nil, badRequest("invalid_request", "idempotency_key must be 1 to 255 printable ASCII characters without spaces")
	}
	return s.lifecycle(ctx, env, caller, id, "change", r.IdempotencyKey, r, func(st *store.Store, c *stripeapi.Client, o *store.SubscriptionOwner, key string) (*ChangeResult, error) {
		p, err := s.plan(ctx, st, c, env, caller, id, o, &r.PreviewRequest, r.ProrationDate)
		if err != nil {
			return nil, err
		}
		sub, err := c.UpdateSubscription(ctx, id, p.updateParams(), key)
		if err != nil {
			return nil, changeProblem(err)
		}
		return s.result(ctx, st, env, sub, p.invoicesNow, p.prices)
	})
}

// CancelSubscription cancels subscription id at its period's end, or now
// (an API key's at_period_end: false).
func (s *Service) CancelSubscription(ctx context.Context, env vocab.Env, caller *auth.Caller, id string, r CancelRequest) (*ChangeResult, error) {
	atEnd := r.AtPeriodEnd == nil || *r.AtPeriodEnd
	if !atEnd && caller.Kind == "user" {
		return nil, badRequest("field_not_allowed", "at_period_end: false may not be sent with an end user's token: a user cancels at the end of the period they paid for; the app's backend may end a subscription now with an API key")
	}
	return s.lifecycle(ctx, env, caller, id, "cancel", "", r, func(st *store.Store, c *stripeapi.Client, _ *store.SubscriptionOwner, key string) (*ChangeResult, error) {
		var sub *stripe.Subscription
		var err error
		if atEnd {
			p := &stripe.SubscriptionParams{CancelAtPeriodEnd: stripe.Bool(true)}
			sub, err = c.UpdateSubscription(ctx, id, p, key)
		} else {
			sub, err = c.CancelSubscription(ctx, id)
		}
		if err != nil {
			return nil, changeProblem(err)
		}
		return s.result(ctx, st, env, sub, false, nil)
	})
}

// ResumeSubscription resumes subscription id: a paused subscription
// starts billing again (its billing cycle anchor unchanged); otherwise its
// pending cancellation is cleared.
func (s *Service) ResumeSubscription(ctx context.Context, env vocab.Env, caller *auth.Caller, id string) (*ChangeResult, error) {
	return s.lifecycle(ctx, env, caller, id, "resume", "", nil, func(st *store.Store, c *stripeapi.Client, o *store.SubscriptionOwner, key string) (*ChangeResult, error) {
		sub, err := current(ctx, c, id, o)
		if err != nil {
			return nil, err
		}
		switch {
		case sub.Status == stripe.SubscriptionStatusPaused:
			sub, err = c.ResumeSubscription(ctx, id, &stripe.SubscriptionResumeParams{BillingCycleAnchor: stripe.String("unchanged")}, key)
		case sub.CancelAtPeriodEnd || sub.CancelAt != 0:
			p := &stripe.SubscriptionParams{CancelAtPeriodEnd: stripe.Bool(false)}
			if !sub.CancelAtPeriodEnd {
				p.AddExtra("cancel_at", "")
			}
			sub, err = c.UpdateSubscription(ctx, id, p, key)
		default:
			return nil, fault.New(fault.Conflict, "nothing_to_resume", "subscription %s is %s and not set to cancel: there is nothing to resume", id, sub.Status)
		}
		if err != nil {
			return nil, changeProblem(err)
		}
		return s.result(ctx, st, env, sub, false, nil)
	})
}

// lifecycle runs one change, cancel or resume of subscription id: its
// owner checked, its row begun (or an earlier answer replayed), fn given
// the Stripe idempotency key of the row, and the row finished: with the
// answer, or deleted when fn failed, so that nothing is half-written.
func (s *Service) lifecycle(ctx context.Context, env vocab.Env, caller *auth.Caller, id, kind, idemKey string, req any,
	fn func(st *store.Store, c *stripeapi.Client, o *store.SubscriptionOwner, key string) (*ChangeResult, error)) (*ChangeResult, error) {
	st, c, o, err := s.owned(ctx, env, caller, id)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(struct {
		Kind, ID string
		Req      any
	}{kind, id, req})
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:])
	start, err := st.BeginSubscriptionChange(ctx, store.NewChange{Env: env, SubscriptionID: id, Kind: kind,
		Requester: caller.Requester(), IdempotencyKey: idemKey, RequestHash: hash})
	switch {
	case errors.Is(err, store.ErrChangeInProgress):
		return nil, fault.New(fault.Conflict, "change_in_progress", "another change of subscription %s is in flight; retry once it has answered", id)
	case errors.Is(err, store.ErrIdempotencyConflict):
		return nil, fault.New(fault.Conflict, "idempotency_conflict", "idempotency_key %q was already used with a different request; use a new key for a different change", idemKey)
	case err != nil:
		return nil, s.unavailable(err)
	case start.Answer != nil:
		var res ChangeResult
		if err := json.Unmarshal(start.Answer, &res); err != nil {
			return nil, s.unavailable(err)
		}
		res.Replayed = true
		return &res, nil
	}
	res, err := fn(st, c, o, stripeapi.IdempotencyKey("subscription_"+kind, env, start.ID, start.CreatedAt.UnixMicro(), hash))
	var answer json.RawMessage
	if err == nil {
		answer, _ = json.Marshal(res)
	}
	if ferr := st.FinishSubscriptionChange(context.WithoutCancel(ctx), start.ID, answer); ferr != nil {
		s.log.Warn().Err(ferr).Str("subscription", id).Msg("session API: finish the subscription change's row; it is taken over after two minutes")
	}
	return res, err
}

// result is Stripe's answer as the subject route shows a subscription,
// with the invoice the change made when it invoiced at once.
// known are prices already read.
func (s *Service) result(ctx context.Context, st *store.Store, env vocab.Env, sub *stripe.Subscription, invoiced bool, known []store.ChangePrice) (*ChangeResult, error) {
	out := &ChangeResult{Pending: sub.PendingUpdate != nil}
	out.Subscription = store.SubjectSubscription{ID: sub.ID, Status: string(sub.Status), CancelAtPeriodEnd: sub.CancelAtPeriodEnd}
	if sub.Customer != nil {
		out.Subscription.CustomerID = sub.Customer.ID
	}
	if sub.CurrentPeriodEnd != 0 {
		t := time.Unix(sub.CurrentPeriodEnd, 0).UTC()
		out.Subscription.CurrentPeriodEnd = &t
	}
	if sub.TrialEnd != 0 {
		t := time.Unix(sub.TrialEnd, 0).UTC()
		out.Subscription.TrialEnd = &t
	}
	if items := subItems(sub); len(items) > 0 && items[0].Price != nil {
		it := items[0]
		out.Subscription.PriceID, out.Subscription.Quantity = it.Price.ID, it.Quantity
		p, ok := findPrice(known, ChangeItem{PriceID: it.Price.ID})
		if !ok {
			prices, err := st.ChangePrices(ctx, env, []string{it.Price.ID}, nil)
			if err != nil {
				return nil, s.unavailable(err)
			}
			p, _ = findPrice(prices, ChangeItem{PriceID: it.Price.ID})
		}
		out.Subscription.LookupKey, out.Subscription.ProductID, out.Subscription.Plan = p.LookupKey, p.ProductID, p.Plan
	}
	if inv := sub.LatestInvoice; (invoiced || out.Pending) && inv != nil {
		out.LatestInvoice = &InvoiceLink{ID: inv.ID, Status: string(inv.Status), AmountDue: inv.AmountDue,
			Currency: string(inv.Currency), HostedInvoiceURL: inv.HostedInvoiceURL}
	}
	return out, nil
}
