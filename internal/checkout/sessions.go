package checkout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/secrets"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
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
	Quantity  int64  `json:"quantity" jsonschema_description:"1 to 999."`
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

// retryTrialMaxAge is how old a checkout row retried under its idempotency
// key may be and still carry its trial: its claim holds for 25 hours from
// the row, and a session made at the retry lives 24 hours from then.
const retryTrialMaxAge = time.Hour

var idemKeyRE = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)

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
		if li.Quantity < 1 || li.Quantity > 999 {
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
	if r.IdempotencyKey != "" && !idemKeyRE.MatchString(r.IdempotencyKey) {
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

// stripeProblem turns a failed Stripe call into a refusal for the caller
// (a fault.Upstream). The message keeps only what Stripe said about the
// request itself (a 4xx other than 401, 403 and 429, which are about
// billwire's key or pace), without billwire's operation, Stripe's request
// id or hints for the operator; everything else gets a generic message.
// The whole text is the cause.
func stripeProblem(err error) *fault.Error {
	var se *stripeapi.Error
	var sErr *stripe.Error
	switch {
	case errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden):
		return fault.Wrap(fault.Upstream, "stripe_rejected", "Stripe refused billwire's credentials; the operator must check billwire serve's log", err)
	case errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != http.StatusTooManyRequests:
		msg := "Stripe refused the request"
		if errors.As(err, &sErr) && sErr.Msg != "" {
			msg += ": " + secrets.Redact(sErr.Msg)
		}
		return fault.Wrap(fault.Upstream, "stripe_rejected", msg, err)
	}
	return fault.Wrap(fault.Upstream, "stripe_unavailable", "Stripe could not be reached or did not answer; retry shortly", err)
}

func (s *Service) sessionClient(ctx context.Context, env vocab.Env) (*store.Store, *stripeapi.Client, error) {
	if c := s.core.RecentClient(env, 2*time.Second); c != nil {
		st, err := s.core.Store(ctx)
		if err != nil {
			return nil, nil, s.unavailable(err)
		}
		return st, c, nil
	}
	st, c, err := s.core.StripeClient(ctx, env)
	if f, ok := fault.As(err); ok && f.Code == "not_configured" {
		return nil, nil, fault.Wrap(fault.Unavailable, "not_configured", "payments are not set up for this environment yet; the operator must configure billwire", err)
	}
	if err != nil {
		return nil, nil, s.unavailable(err)
	}
	return st, c, nil
}

// unavailable turns a store failure into a refusal (StoreFailure).
func (s *Service) unavailable(err error) *fault.Error { return StoreFailure(s.log, err) }

// StoreFailure turns a store failure into a refusal: a database that does
// not answer is a fault.Unavailable to retry; anything else is logged and
// a fault.Internal, without internals in its message. A fault.Error is
// returned as it is.
func StoreFailure(log zerolog.Logger, err error) *fault.Error {
	if f, ok := fault.As(err); ok {
		return f
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !strings.HasPrefix(pe.Code, "08") && !strings.HasPrefix(pe.Code, "57") && !strings.HasPrefix(pe.Code, "53") {
		log.Error().Str("error", secrets.Redact(err.Error())).Msg("session API")
		return fault.Wrap(fault.Internal, "internal_error", "billwire could not record the request; the error is in billwire serve's log", err)
	}
	log.Warn().Str("error", secrets.Redact(err.Error())).Msg("session API: database unavailable")
	return fault.Wrap(fault.Unavailable, "database_unavailable", "billwire's database is unavailable; retry shortly", err)
}

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
	// The first round trip writes the row only if the prices are still
	// those this process checked last time for the same references.
	refs := priceRefs(env, ids, keys)
	var prices []store.CheckoutPrice
	var items []store.CheckoutLineItem
	expect := ""
	if found, fp, ok := s.prices.get(refs); ok {
		if prices, err = resolvePrices(found, env, &r); err == nil {
			expect, items = fp, resolvedLineItems(prices, &r)
		}
	}
	nc := store.NewCheckout{
		Env: env, Mode: r.Mode, Requester: caller.Requester(), IdempotencyKey: r.IdempotencyKey, RequestHash: hash,
		Request: request, SubjectType: r.Subject.Type, SubjectID: r.Subject.ID, Metadata: r.Metadata, LineItems: items,
	}
	terms := termsOf(prices, &r)
	terms.claim(&nc)
	start, err := st.StartCheckout(ctx, nc, ids, keys, expect)
	if err != nil {
		return nil, s.unavailable(err)
	}
	row, created, mapping := start.Row, start.Created, start.Mapping
	pricesFP := expect
	if !start.Current {
		pricesFP = store.PriceFingerprint(start.Prices)
		s.prices.put(refs, start.Prices)
		if prices, err = resolvePrices(start.Prices, env, &r); err != nil {
			return nil, err
		}
		terms = termsOf(prices, &r)
		terms.claim(&nc)
		nc.LineItems = resolvedLineItems(prices, &r)
		if row, created, err = st.InsertCheckout(ctx, nc); err != nil {
			return nil, s.unavailable(err)
		}
	}
	if !created {
		switch {
		case row.RequestHash != hash:
			return nil, fault.New(fault.Conflict, "idempotency_conflict", "idempotency_key %q was already used with a different request body; use a new key for a different checkout", r.IdempotencyKey)
		case row.StripeID != "":
			return &CheckoutResult{ID: row.ID, StripeSessionID: row.StripeID, URL: row.URL, Replayed: true}, nil
		case row.Status == "initialized" && time.Since(row.CreatedAt) < time.Minute:
			return nil, fault.New(fault.Conflict, "request_in_progress", "a request with idempotency_key %q is still being processed; retry in a few seconds", r.IdempotencyKey)
		}
		// failed, or abandoned mid-way: try Stripe again under the same Stripe idempotency key
		if row.Status != "initialized" || time.Since(row.CreatedAt) >= retryTrialMaxAge {
			// Only a row whose trial claim held all along keeps its trial:
			// a failed row's stopped holding when it failed (another
			// checkout of the subject may hold it now), and a session made
			// now for an older row would outlive its claim.
			row.TrialDays = 0
		}
	}
	customer, err := st.SubjectCustomer(ctx, env, r.Subject.Type, r.Subject.ID, mapping, func(ctx context.Context, replaced string) (string, json.RawMessage, error) {
		p := &stripe.CustomerParams{}
		p.AddMetadata(vocab.MetaSubjectType, r.Subject.Type)
		p.AddMetadata(vocab.MetaSubjectID, r.Subject.ID)
		cust, err := c.CreateCustomer(ctx, p, stripeapi.IdempotencyKey("customer", env, r.Subject, replaced))
		if err != nil {
			return "", nil, err
		}
		return cust.ID, cust.LastResponse.RawJSON, nil
	})
	if err != nil {
		return nil, s.checkoutFailed(ctx, st, row.ID, err)
	}
	p := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(r.Mode),
		Customer:          stripe.String(customer),
		ClientReferenceID: stripe.String(r.Subject.String()),
		SuccessURL:        stripe.String(r.SuccessURL),
		CancelURL:         stripe.String(r.CancelURL),
	}
	for i, price := range prices {
		p.LineItems = append(p.LineItems, &stripe.CheckoutSessionLineItemParams{Price: stripe.String(price.ID), Quantity: stripe.Int64(r.LineItems[i].Quantity)})
	}
	stamp := func(add func(k, v string)) {
		for k, v := range r.Metadata {
			add(k, v)
		}
		add(vocab.MetaSubjectType, r.Subject.Type)
		add(vocab.MetaSubjectID, r.Subject.ID)
	}
	stamp(p.AddMetadata)
	p.AddMetadata(vocab.MetaCheckoutID, strconv.FormatInt(row.ID, 10))
	if r.Mode == "subscription" {
		p.SubscriptionData = &stripe.CheckoutSessionSubscriptionDataParams{}
		stamp(p.SubscriptionData.AddMetadata)
	} else {
		p.PaymentIntentData = &stripe.CheckoutSessionPaymentIntentDataParams{}
		stamp(p.PaymentIntentData.AddMetadata)
	}
	trialDays := row.TrialDays
	if terms.trialForced {
		trialDays = terms.trialDays
	}
	terms.apply(p, trialDays)
	sess, err := c.CreateCheckoutSession(ctx, p, stripeapi.IdempotencyKey("checkout", env, row.ID, row.CreatedAt.UnixMicro(), hash))
	if err != nil {
		return nil, s.checkoutFailed(ctx, st, row.ID, err)
	}
	// Stored without waiting: see store.CheckoutOpened. A lost update is
	// repaired by a retry or by the session's first event.
	rowID, reuse := row.ID, ""
	if caller.Kind == "user" { // only end users' sessions are given again
		reuse = reuseDigest(hash, pricesFP)
	}
	st.CheckoutOpenedReusable(rowID, sess.ID, sess.URL, customer, reuse, func(err error) {
		s.log.Error().Err(err).Int64("checkout", rowID).Msg("session API: store the created session; its first event will")
	})
	return &CheckoutResult{ID: row.ID, StripeSessionID: sess.ID, URL: sess.URL}, nil
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

// PortalRequest is the body of POST /api/payments/{env}/portal-sessions.
type PortalRequest struct {
	Subject        auth.Subject `json:"subject"`
	ReturnURL      string       `json:"return_url"`
	Flow           string       `json:"flow,omitempty"`
	SubscriptionID string       `json:"subscription_id,omitempty"`
}

// PortalResult is the portal session to redirect to.
type PortalResult struct {
	ID              string `json:"id"`
	URL             string `json:"url"`
	CustomerID      string `json:"customer_id"`
	ConfigurationID string `json:"configuration_id"`
	SubscriptionID  string `json:"subscription_id,omitempty"`
}

// billingStatuses are the subscription states a portal flow can act on.
var billingStatuses = []string{"active", "trialing", "past_due"}

// CreatePortal opens the Billing Portal for the subject's customer.
func (s *Service) CreatePortal(ctx context.Context, env vocab.Env, caller *auth.Caller, origins auth.Origins, r PortalRequest) (*PortalResult, error) {
	if err := r.Subject.Validate(); err != nil {
		code := "invalid_subject"
		if r.Subject == (auth.Subject{}) {
			code = "subject_required"
		}
		return nil, badRequest(code, "%s", err)
	}
	if r.ReturnURL == "" {
		return nil, badRequest("invalid_request", "return_url is required")
	}
	if err := origins.CheckRedirect("return_url", r.ReturnURL); err != nil {
		return nil, badRequest("redirect_not_allowed", "%s", err)
	}
	switch r.Flow {
	case "", "cancel", "update_plan", "payment_method":
	default:
		return nil, badRequest("invalid_request", "flow %q is not supported: use \"cancel\", \"update_plan\" or \"payment_method\" (or omit it for the portal's home)", r.Flow)
	}
	if err := caller.Authorize(env, r.Subject, auth.Manage); err != nil {
		return nil, err
	}
	st, c, err := s.sessionClient(ctx, env)
	if err != nil {
		return nil, err
	}
	m, err := st.SubjectMapping(ctx, env, r.Subject.Type, r.Subject.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.Deleted) {
		return nil, fault.New(fault.NotFound, "no_billing_yet", "%s has no Stripe customer yet: the subject must complete a checkout first", r.Subject)
	}
	if err != nil {
		return nil, s.unavailable(err)
	}
	out := &PortalResult{CustomerID: m.CustomerID}
	if r.Flow == "cancel" || r.Flow == "update_plan" {
		subs, err := st.SubjectSubscriptions(ctx, env, m.CustomerID, r.Subject.Type, r.Subject.ID, nil)
		if err != nil {
			return nil, s.unavailable(err)
		}
		var active []store.SubjectSubscription
		for _, x := range subs {
			switch {
			case x.CustomerID != m.CustomerID:
			case r.SubscriptionID != "":
				if x.ID == r.SubscriptionID {
					active = append(active, x)
				}
			case contains(billingStatuses, x.Status):
				active = append(active, x)
			}
		}
		switch {
		case r.SubscriptionID != "" && len(active) == 0:
			return nil, fault.New(fault.NotFound, "unknown_subscription", "subscription %q does not belong to %s", r.SubscriptionID, r.Subject)
		case len(active) == 0:
			return nil, fault.New(fault.Conflict, "no_active_subscription", "%s has no active subscription to %s", r.Subject, strings.ReplaceAll(r.Flow, "_", " "))
		case len(active) > 1:
			ids := make([]string, len(active))
			for i, a := range active {
				ids[i] = a.ID
			}
			return nil, fault.New(fault.Conflict, "subscription_id_required", "%s has %d active subscriptions (%s): pass subscription_id", r.Subject, len(active), strings.Join(ids, ", "))
		case !contains(billingStatuses, active[0].Status):
			return nil, fault.New(fault.Conflict, "no_active_subscription", "subscription %s is %s; only an active, trialing or past_due subscription can be changed", active[0].ID, active[0].Status)
		}
		out.SubscriptionID = active[0].ID
	}
	cfg, err := s.PortalConfiguration(ctx, st, c, env)
	if err != nil {
		return nil, err
	}
	out.ConfigurationID = cfg
	p := &stripe.BillingPortalSessionParams{
		Customer:      stripe.String(m.CustomerID),
		ReturnURL:     stripe.String(r.ReturnURL),
		Configuration: stripe.String(cfg),
	}
	switch r.Flow {
	case "cancel":
		p.FlowData = &stripe.BillingPortalSessionFlowDataParams{Type: stripe.String("subscription_cancel"),
			SubscriptionCancel: &stripe.BillingPortalSessionFlowDataSubscriptionCancelParams{Subscription: stripe.String(out.SubscriptionID)}}
	case "update_plan":
		p.FlowData = &stripe.BillingPortalSessionFlowDataParams{Type: stripe.String("subscription_update"),
			SubscriptionUpdate: &stripe.BillingPortalSessionFlowDataSubscriptionUpdateParams{Subscription: stripe.String(out.SubscriptionID)}}
	case "payment_method":
		p.FlowData = &stripe.BillingPortalSessionFlowDataParams{Type: stripe.String("payment_method_update")}
	}
	sess, err := c.CreatePortalSession(ctx, p)
	if err != nil {
		return nil, stripeProblem(err)
	}
	out.ID, out.URL = sess.ID, sess.URL
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// PortalConfiguration creates, updates or reuses the Billing Portal
// configuration billwire manages: payment methods, invoices, cancellation at
// period end, and switching between the catalog's active recurring prices
// (with promotion codes only when all of them take promotion codes).
func (s *Service) PortalConfiguration(ctx context.Context, st *store.Store, c *stripeapi.Client, env vocab.Env) (string, error) {
	products, err := st.PortalProducts(ctx, env)
	if err != nil {
		return "", s.unavailable(err)
	}
	if len(products) > 10 {
		products = products[:10] // Stripe's limit for plan switching
	}
	p := &stripe.BillingPortalConfigurationParams{
		BusinessProfile: &stripe.BillingPortalConfigurationBusinessProfileParams{Headline: stripe.String("Manage your billing")},
		Features: &stripe.BillingPortalConfigurationFeaturesParams{
			CustomerUpdate: &stripe.BillingPortalConfigurationFeaturesCustomerUpdateParams{
				Enabled: stripe.Bool(true), AllowedUpdates: stripe.StringSlice([]string{"email", "address", "tax_id"})},
			InvoiceHistory:      &stripe.BillingPortalConfigurationFeaturesInvoiceHistoryParams{Enabled: stripe.Bool(true)},
			PaymentMethodUpdate: &stripe.BillingPortalConfigurationFeaturesPaymentMethodUpdateParams{Enabled: stripe.Bool(true)},
			SubscriptionCancel: &stripe.BillingPortalConfigurationFeaturesSubscriptionCancelParams{
				Enabled: stripe.Bool(true), Mode: stripe.String("at_period_end")},
			SubscriptionUpdate: &stripe.BillingPortalConfigurationFeaturesSubscriptionUpdateParams{Enabled: stripe.Bool(len(products) > 0)},
		},
	}
	if len(products) > 0 {
		su := p.Features.SubscriptionUpdate
		// Promotion codes are a price's term (allow_promotion_codes): the
		// portal takes them only when every price it offers does.
		updates, promo := []string{"price", "quantity"}, true
		for _, pp := range products {
			promo = promo && pp.PromotionCodes
		}
		if promo {
			updates = append(updates, "promotion_code")
		}
		su.DefaultAllowedUpdates = stripe.StringSlice(updates)
		su.ProrationBehavior = stripe.String("create_prorations")
		for _, pp := range products {
			su.Products = append(su.Products, &stripe.BillingPortalConfigurationFeaturesSubscriptionUpdateProductParams{
				Product: stripe.String(pp.ID), Prices: stripe.StringSlice(pp.Prices)})
		}
	}
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	digest := hex.EncodeToString(sum[:])
	cur, err := st.PortalConfiguration(ctx, env)
	if err != nil {
		return "", s.unavailable(err)
	}
	if cur.ID != "" && cur.Digest == digest {
		return cur.ID, nil
	}
	var cfg *stripe.BillingPortalConfiguration
	if cur.ID != "" {
		cfg, err = c.UpdatePortalConfiguration(ctx, cur.ID, p)
		if stripeapi.IsNotFound(err) {
			cur.ID = ""
		}
	}
	if cur.ID == "" {
		p.AddMetadata("billwire", "managed")
		cfg, err = c.CreatePortalConfiguration(ctx, p, stripeapi.IdempotencyKey("portal_configuration", env, digest))
	}
	if err != nil {
		return "", stripeProblem(err)
	}
	if err := st.SetPortalConfiguration(ctx, env, cfg.ID, digest); err != nil {
		return "", s.unavailable(err)
	}
	return cfg.ID, nil
}

// SubjectBilling is a subject's billing state from projected data.
type SubjectBilling struct {
	Env           vocab.Env                   `json:"env"`
	Subject       auth.Subject                `json:"subject"`
	HasBilling    bool                        `json:"has_billing"`
	Customer      *store.SubjectCustomerInfo  `json:"customer"`
	Subscriptions []store.SubjectSubscription `json:"subscriptions"`
	Payments      []store.PaymentRecord       `json:"recent_payments"`
	// Entitlements are the lookup keys of the features Stripe last reported
	// active for the subject's customer.
	Entitlements []string `json:"entitlements"`
}

// GetSubjectBilling returns the subject's customer, its subscriptions that
// still bill, and its recent payments.
func (s *Service) GetSubjectBilling(ctx context.Context, env vocab.Env, caller *auth.Caller, sub auth.Subject) (*SubjectBilling, error) {
	if err := sub.Validate(); err != nil {
		return nil, badRequest("invalid_subject", "%s", err)
	}
	if err := caller.Authorize(env, sub, auth.Read); err != nil {
		return nil, err
	}
	st, err := s.core.Store(ctx)
	if err != nil {
		return nil, s.unavailable(err)
	}
	out := &SubjectBilling{Env: env, Subject: sub, Subscriptions: []store.SubjectSubscription{}, Payments: []store.PaymentRecord{}, Entitlements: []string{}}
	customer := ""
	m, err := st.SubjectMapping(ctx, env, sub.Type, sub.ID)
	switch {
	case err == nil:
		info, err := st.CustomerInfo(ctx, env, m.CustomerID)
		if err != nil {
			return nil, s.unavailable(err)
		}
		info.Confirmed = m.Confirmed
		out.Customer, customer = &info, m.CustomerID
	case !errors.Is(err, store.ErrNotFound):
		return nil, s.unavailable(err)
	}
	if out.Subscriptions, err = st.SubjectSubscriptions(ctx, env, customer, sub.Type, sub.ID, store.ActiveStatuses); err != nil {
		return nil, s.unavailable(err)
	}
	if out.Payments, err = st.SubjectPayments(ctx, env, customer, sub.Type, sub.ID, 10); err != nil {
		return nil, s.unavailable(err)
	}
	if customer != "" {
		es, err := st.GetEntitlementSummary(ctx, env, customer)
		switch {
		case err == nil && es.Features != nil:
			out.Entitlements = es.Features
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, s.unavailable(err)
		}
	}
	sort.SliceStable(out.Subscriptions, func(i, j int) bool {
		return out.Subscriptions[i].Status == "active" && out.Subscriptions[j].Status != "active"
	})
	out.HasBilling = out.Customer != nil || len(out.Subscriptions) > 0 || len(out.Payments) > 0
	return out, nil
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
	mode := "payment"
	found, err := st.CheckoutPrices(ctx, vocab.Test, nonEmpty(in.PriceID), nonEmpty(in.LookupKey))
	if err != nil {
		return nil, s.unavailable(err)
	}
	for _, p := range found {
		if p.Type == "recurring" {
			mode = "subscription"
		}
	}
	r := CheckoutRequest{
		Mode:       mode,
		LineItems:  []LineItem{{PriceID: in.PriceID, LookupKey: in.LookupKey, Quantity: 1}},
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
