package checkout

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// retryTrialMaxAge is how old a checkout row retried under its idempotency
// key may be and still carry its trial: its claim holds for 25 hours from
// the row, and a session made at the retry lives 24 hours from then.
const retryTrialMaxAge = time.Hour

// CreateCheckout creates a Checkout Session for the request's subject on
// behalf of caller: the local row first, then the subject's customer (made
// once per subject, under a lock), then the session in Stripe.
func (s *Service) CreateCheckout(ctx context.Context, env vocab.Env, caller *auth.Caller, origins auth.Origins, r CheckoutRequest) (*CheckoutResult, error) {
	if err := checkFieldsAllowed(caller, &r); err != nil {
		return nil, err
	}
	if err := r.validate(origins); err != nil {
		return nil, err
	}
	if err := caller.Authorize(env, r.Subject, auth.Buy); err != nil {
		return nil, err
	}
	st, c, err := s.sessionClient(ctx, env)
	if err != nil {
		return nil, err
	}
	ids, keys := lineItemRefs(&r)
	request, hash := r.record()
	if caller.Kind == "user" { // an end user's repeat gets the session still open for it
		if res, err := s.reusableCheckout(ctx, st, env, caller.Requester(), &r, hash, ids, keys); res != nil || err != nil {
			return res, err
		}
	}
	nc := store.NewCheckout{
		Env: env, Mode: r.Mode, Requester: caller.Requester(), IdempotencyKey: r.IdempotencyKey, RequestHash: hash,
		Request: request, SubjectType: r.Subject.Type, SubjectID: r.Subject.ID, Metadata: r.Metadata,
	}
	b, err := s.writeRow(ctx, st, &r, nc, ids, keys)
	if err != nil {
		return nil, err
	}
	if !b.created {
		if res, err := b.again(&r, hash); res != nil || err != nil {
			return res, err
		}
	}
	customer, err := SubjectCustomer(ctx, st, c, env, r.Subject, b.mapping)
	if err != nil {
		return nil, s.checkoutFailed(ctx, st, b.row.ID, err)
	}
	sess, err := c.CreateCheckoutSession(ctx, b.sessionParams(&r, customer), stripeapi.IdempotencyKey("checkout", env, b.row.ID, b.row.CreatedAt.UnixMicro(), hash))
	if err != nil {
		return nil, s.checkoutFailed(ctx, st, b.row.ID, err)
	}
	// Stored without waiting: see store.CheckoutOpened. A lost update is
	// repaired by a retry or by the session's first event.
	rowID, reuse := b.row.ID, ""
	if caller.Kind == "user" { // only end users' sessions are given again
		reuse = reuseDigest(hash, b.pricesFP)
	}
	st.CheckoutOpenedReusable(rowID, sess.ID, sess.URL, customer, reuse, func(err error) {
		s.log.Error().Err(err).Int64("checkout", rowID).Msg("session API: store the created session; its first event will")
	})
	return &CheckoutResult{ID: rowID, StripeSessionID: sess.ID, URL: sess.URL}, nil
}

// alreadySubscribed refuses a subscription checkout for a product the
// subject already has a subscription to that still bills (sub: "sub_…
// (status)", as the store found it while writing nothing): a team
// subscribing twice pays twice, and plans change in the Billing Portal.
// The app's backend may allow it (allow_multiple).
func alreadySubscribed(env vocab.Env, r *CheckoutRequest, sub string) error {
	return fault.New(fault.Conflict, "already_subscribed",
		"%s %s already has subscription %s to a product of this checkout: change its plan through the Billing Portal (POST /api/payments/%s/portal-sessions) rather than subscribing again; the app's backend may pass allow_multiple: true with an API key to open a second subscription on purpose",
		r.Subject.Type, r.Subject.ID, sub, env)
}

// rowWritten is a checkout's local row with the prices it was written
// for, their fingerprint and the terms they grant.
type rowWritten struct {
	row      *store.Checkout
	created  bool           // false: the idempotency key's earlier row
	mapping  *store.Mapping // the subject's customer, nil when it has none
	prices   []store.CheckoutPrice
	pricesFP string
	terms    checkoutTerms
}

// writeRow writes the checkout's row, nc with its line items and trial
// claim. The first round trip writes it only if the prices are still those
// this process checked last time for the same references; otherwise the
// prices read then are checked and the row written in a second.
func (s *Service) writeRow(ctx context.Context, st *store.Store, r *CheckoutRequest, nc store.NewCheckout, ids, keys []string) (*rowWritten, error) {
	refs := priceRefs(nc.Env, ids, keys)
	var prices []store.CheckoutPrice
	expect := ""
	if found, fp, ok := s.prices.get(refs); ok {
		var err error
		if prices, err = resolvePrices(found, nc.Env, r); err == nil {
			expect, nc.LineItems = fp, resolvedLineItems(prices, r)
		}
	}
	terms := termsOf(prices, r)
	terms.claim(&nc)
	nc.RefuseIfSubscribed = r.Mode == "subscription" && !r.AllowMultiple
	start, err := st.StartCheckout(ctx, nc, ids, keys, expect)
	if err != nil {
		return nil, s.unavailable(err)
	}
	if start.Subscribed != "" {
		return nil, alreadySubscribed(nc.Env, r, start.Subscribed)
	}
	b := &rowWritten{row: start.Row, created: start.Created, mapping: start.Mapping, prices: prices, pricesFP: expect, terms: terms}
	if start.Current {
		return b, nil
	}
	b.pricesFP = store.PriceFingerprint(start.Prices)
	s.prices.put(refs, start.Prices)
	if b.prices, err = resolvePrices(start.Prices, nc.Env, r); err != nil {
		return nil, err
	}
	b.terms = termsOf(b.prices, r)
	b.terms.claim(&nc)
	nc.LineItems = resolvedLineItems(b.prices, r)
	again, err := st.InsertCheckoutFor(ctx, nc, ids, keys)
	if err != nil {
		return nil, s.unavailable(err)
	}
	if again.Subscribed != "" {
		return nil, alreadySubscribed(nc.Env, r, again.Subscribed)
	}
	b.row, b.created = again.Row, again.Created
	return b, nil
}

// again handles a row written earlier under the request's idempotency
// key: the session it opened, a refusal (another body, or the first
// request still under way), or nil to try Stripe again (under the same
// Stripe idempotency key) for a failed or abandoned row.
func (b *rowWritten) again(r *CheckoutRequest, hash string) (*CheckoutResult, error) {
	row := b.row
	switch {
	case row.RequestHash != hash:
		return nil, fault.New(fault.Conflict, "idempotency_conflict", "idempotency_key %q was already used with a different request body; use a new key for a different checkout", r.IdempotencyKey)
	case row.StripeID != "":
		return &CheckoutResult{ID: row.ID, StripeSessionID: row.StripeID, URL: row.URL, Replayed: true}, nil
	case row.Status == "initialized" && time.Since(row.CreatedAt) < time.Minute:
		return nil, fault.New(fault.Conflict, "request_in_progress", "a request with idempotency_key %q is still being processed; retry in a few seconds", r.IdempotencyKey)
	}
	if row.Status != "initialized" || time.Since(row.CreatedAt) >= retryTrialMaxAge {
		// Only a row whose trial claim held all along keeps its trial:
		// a failed row's stopped holding when it failed (another
		// checkout of the subject may hold it now), and a session made
		// now for an older row would outlive its claim.
		row.TrialDays = 0
	}
	return nil, nil
}

// SubjectCustomer is the subject's Stripe customer: the mapped one, or one
// created (once per subject, under a lock) stamped with the subject.
func SubjectCustomer(ctx context.Context, st *store.Store, c *stripeapi.Client, env vocab.Env, sub auth.Subject, mapping *store.Mapping) (string, error) {
	return st.SubjectCustomer(ctx, env, sub.Type, sub.ID, mapping, func(ctx context.Context, replaced string) (string, json.RawMessage, error) {
		p := &stripe.CustomerParams{}
		p.AddMetadata(vocab.MetaSubjectType, sub.Type)
		p.AddMetadata(vocab.MetaSubjectID, sub.ID)
		cust, err := c.CreateCustomer(ctx, p, stripeapi.IdempotencyKey("customer", env, sub, replaced))
		if err != nil {
			return "", nil, err
		}
		return cust.ID, cust.LastResponse.RawJSON, nil
	})
}

// sessionParams are the Checkout Session's parameters: the row's prices
// and terms for customer, the request's metadata and the subject stamped
// on the session and on its subscription or payment.
func (b *rowWritten) sessionParams(r *CheckoutRequest, customer string) *stripe.CheckoutSessionParams {
	p := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(r.Mode),
		Customer:          stripe.String(customer),
		ClientReferenceID: stripe.String(r.Subject.String()),
		SuccessURL:        stripe.String(r.SuccessURL),
		CancelURL:         stripe.String(r.CancelURL),
	}
	for i, price := range b.prices {
		li := &stripe.CheckoutSessionLineItemParams{Price: stripe.String(price.ID)}
		if !price.Metered { // Stripe refuses a quantity for a metered price
			li.Quantity = stripe.Int64(r.LineItems[i].Quantity)
		}
		p.LineItems = append(p.LineItems, li)
	}
	stamp := func(add func(k, v string)) {
		for k, v := range r.Metadata {
			add(k, v)
		}
		add(vocab.MetaSubjectType, r.Subject.Type)
		add(vocab.MetaSubjectID, r.Subject.ID)
	}
	stamp(p.AddMetadata)
	p.AddMetadata(vocab.MetaCheckoutID, strconv.FormatInt(b.row.ID, 10))
	if r.Mode == "subscription" {
		p.SubscriptionData = &stripe.CheckoutSessionSubscriptionDataParams{}
		stamp(p.SubscriptionData.AddMetadata)
	} else {
		p.PaymentIntentData = &stripe.CheckoutSessionPaymentIntentDataParams{}
		stamp(p.PaymentIntentData.AddMetadata)
	}
	trialDays := b.row.TrialDays
	if b.terms.trialForced {
		trialDays = b.terms.trialDays
	}
	b.terms.apply(p, trialDays)
	return p
}

// checkoutFailed records a failure on the row and returns the refusal.
func (s *Service) checkoutFailed(ctx context.Context, st *store.Store, id int64, err error) error {
	var p *fault.Error
	var se *stripeapi.Error
	switch {
	case errors.As(err, &se):
		p = stripeProblem(err)
	default:
		p = s.unavailable(err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := st.CheckoutFailed(ctx, id, p.Code, secrets.Redact(p.Error())); rerr != nil {
		s.log.Error().Err(rerr).Int64("checkout", id).Msg("record checkout failure")
	}
	return p
}

// TestCheckoutInput is create_test_checkout_session's request.
type TestCheckoutInput struct {
	PriceID    string
	LookupKey  string
	Subject    auth.Subject
	SuccessURL string
	// PublicURL is billwire serve's base URL, home of the default success page.
	PublicURL string
}

// DefaultPublicURL is billwire serve's address when BILLWIRE_PUBLIC_URL is unset.
const DefaultPublicURL = "http://127.0.0.1:8787"

// CreateTestCheckout creates a test-mode Checkout Session for one price
// through the same path as the HTTP route, so an agent can walk the
// journey. The mode follows the price (recurring → subscription).
func (s *Service) CreateTestCheckout(ctx context.Context, origins auth.Origins, in TestCheckoutInput) (*CheckoutResult, error) {
	if (in.PriceID == "") == (in.LookupKey == "") {
		return nil, badRequest("invalid_request", "give exactly one of price_id or lookup_key (list_catalog shows both)")
	}
	base := strings.TrimRight(in.PublicURL, "/")
	if base == "" {
		base = DefaultPublicURL
	}
	origins = origins.With(base)
	st, err := s.core.Store(ctx)
	if err != nil {
		return nil, s.unavailable(err)
	}
	mode, quantity := "payment", int64(1)
	found, err := st.CheckoutPrices(ctx, vocab.Test, nonEmpty(in.PriceID), nonEmpty(in.LookupKey))
	if err != nil {
		return nil, s.unavailable(err)
	}
	for _, p := range found {
		if p.Type == "recurring" {
			mode = "subscription"
		}
		if p.Metered {
			quantity = 0
		}
	}
	r := CheckoutRequest{
		Mode:       mode,
		LineItems:  []LineItem{{PriceID: in.PriceID, LookupKey: in.LookupKey, Quantity: quantity}},
		Subject:    in.Subject,
		SuccessURL: in.SuccessURL,
		CancelURL:  base + "/checkout/done?canceled=1",
	}
	if r.SuccessURL == "" {
		r.SuccessURL = base + "/checkout/done?session_id={CHECKOUT_SESSION_ID}"
	}
	return s.CreateCheckout(ctx, vocab.Test, auth.MCPCaller, origins, r)
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
