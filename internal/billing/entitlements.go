package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/checkout"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/lazyre"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// featureKeyRE is what billwire accepts as a feature lookup key: Stripe
// allows up to 80 characters; billwire keeps them to identifier characters
// so that the app can use them as constants.
var featureKeyRE = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$`)

func checkFeatureKey(k string) error {
	if !featureKeyRE().MatchString(k) {
		return inputErr("feature %q is not a valid lookup key: use 1 to 80 letters, digits, _ . : or -, starting with a letter or digit, e.g. \"api_access\"", k)
	}
	return nil
}

// FeatureResult is one feature set_entitlements handled.
type FeatureResult struct {
	LookupKey string `json:"lookup_key"`
	FeatureID string `json:"feature_id"`
	// Feature is "created" or "existing" (reused by lookup key).
	Feature string `json:"feature"`
	// Attachment is "attached" or "already_attached".
	Attachment string `json:"attachment"`
}

// EntitlementsResult reports set_entitlements.
type EntitlementsResult struct {
	Env       vocab.Env       `json:"env"`
	ProductID string          `json:"product_id"`
	Features  []FeatureResult `json:"features"`
	// OtherAttached are features attached to the product before and not
	// named in this call; they are left attached.
	OtherAttached []string `json:"other_attached"`
	NextStep      string   `json:"next_step"`
}

// SetEntitlements makes sure each feature (by lookup key) exists in
// Stripe's Entitlements, creating the missing ones, and is attached to the
// product. It adds; it never detaches. Customers who buy the product are
// then entitled to the features, and Stripe reports that in
// entitlements.active_entitlement_summary.updated events.
func (s *Service) SetEntitlements(ctx context.Context, env vocab.Env, productID string, features []string) (*EntitlementsResult, error) {
	productID = strings.TrimSpace(productID)
	if productID == "" {
		return nil, inputErr("product_id is required: a prod_… id from list_catalog (for live, the live id from billwire://price-map)")
	}
	if len(features) == 0 {
		return nil, inputErr("features is empty: give the lookup keys of the features the product grants, e.g. [\"api_access\", \"priority_support\"]")
	}
	var keys []string
	seen := map[string]bool{}
	for _, f := range features {
		f = strings.TrimSpace(f)
		if err := checkFeatureKey(f); err != nil {
			return nil, err
		}
		if !seen[f] {
			seen[f] = true
			keys = append(keys, f)
		}
	}
	if len(keys) > 100 {
		return nil, inputErr("%d features in one call: give at most 100", len(keys))
	}
	_, c, e, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	// Reading the product's features first also checks that the product
	// exists, before anything is created.
	attached, err := c.ProductFeatures(ctx, productID)
	if err != nil {
		if stripeapi.IsNotFound(err) {
			return nil, inputErr("product %q does not exist in this Stripe account's %s mode: find the id with list_catalog {env: %q} (for live, the live id from billwire://price-map)", productID, env, env)
		}
		return nil, err
	}
	attachedByKey := map[string]bool{}
	for _, pf := range attached {
		if pf.EntitlementFeature != nil {
			attachedByKey[pf.EntitlementFeature.LookupKey] = true
		}
	}
	res := &EntitlementsResult{Env: env, ProductID: productID, Features: []FeatureResult{}, OtherAttached: []string{}}
	for _, k := range keys {
		fr := FeatureResult{LookupKey: k, Feature: "existing"}
		f, created, err := ensureFeature(ctx, c, env, e.AccountID, k, k)
		if err != nil {
			return nil, err
		}
		if created {
			fr.Feature = "created"
		}
		fr.FeatureID = f.ID
		if attachedByKey[k] {
			fr.Attachment = "already_attached"
		} else {
			if _, err := c.AttachFeature(ctx, productID, f.ID, stripeapi.IdempotencyKey("attach_feature", env, e.AccountID, productID, f.ID)); err != nil {
				return nil, fmt.Errorf("attach feature %q to %s (the features before it are attached; retry the same call to finish): %w", k, productID, err)
			}
			fr.Attachment = "attached"
		}
		res.Features = append(res.Features, fr)
	}
	for k := range attachedByKey {
		if !seen[k] {
			res.OtherAttached = append(res.OtherAttached, k)
		}
	}
	slices.Sort(res.OtherAttached)
	s.log.Info().Str("env", string(env)).Str("product", productID).Strs("features", keys).Msg("entitlements set")
	res.NextStep = "customers who buy this product get these features; gate app features with check_entitlement (or the app's own read of it), which answers from the entitlement summaries Stripe sends as webhook events"
	return res, nil
}

// ensureFeature returns the active feature with lookup key k in c's mode,
// creating it, named name, when there is none; created says it was.
func ensureFeature(ctx context.Context, c *stripeapi.Client, env vocab.Env, account, k, name string) (f *stripe.EntitlementsFeature, created bool, err error) {
	if f, err = c.FeatureByLookupKey(ctx, k); err != nil || f != nil {
		return f, false, err
	}
	p := &stripe.EntitlementsFeatureParams{Name: stripe.String(name), LookupKey: stripe.String(k)}
	if f, err = c.CreateFeature(ctx, p, stripeapi.IdempotencyKey("create_feature", env, account, k)); err != nil {
		return nil, false, fmt.Errorf("create feature %q: %w", k, err)
	}
	return f, true, nil
}

// EntitlementCheck explains an entitlement answer.
type EntitlementCheck struct {
	Env        vocab.Env    `json:"env"`
	Subject    auth.Subject `json:"subject"`
	Feature    string       `json:"feature"`
	Allowed    bool         `json:"allowed"`
	CustomerID string       `json:"customer_id,omitempty"`
	// Features are the customer's active features (lookup keys).
	Features []string `json:"features"`
	// SourceAt is when Stripe computed the summary answered from.
	SourceAt *time.Time `json:"source_at,omitempty"`
	Reason   string     `json:"reason"`
}

// CheckEntitlement answers whether subject may use feature in env, from
// the entitlement summaries Stripe sent: the subject's customer (from
// payments.customer_mappings) must have the feature among its active
// entitlements. No customer, or no summary yet, means no.
func (s *Service) CheckEntitlement(ctx context.Context, env vocab.Env, subject auth.Subject, feature string) (bool, *EntitlementCheck, error) {
	if err := subject.Validate(); err != nil {
		return false, nil, inputErr("%s", err)
	}
	// Any lookup key Stripe holds may be asked about, also ones made in the
	// Dashboard outside billwire's stricter alphabet.
	feature = strings.TrimSpace(feature)
	if feature == "" || len(feature) > 80 {
		return false, nil, inputErr("feature must be a feature's lookup key (1 to 80 characters), e.g. \"api_access\"")
	}
	st, err := s.stores.Get(ctx)
	if err != nil {
		return false, nil, err
	}
	out := &EntitlementCheck{Env: env, Subject: subject, Feature: feature, Features: []string{}}
	se, err := st.GetSubjectEntitlements(ctx, env, subject.Type, subject.ID)
	if errors.Is(err, store.ErrNotFound) {
		out.Reason = fmt.Sprintf("no Stripe customer is mapped to %s %s in %s: it has not completed a checkout yet (or its events have not arrived: see list_webhook_events)", subject.Type, subject.ID, env)
		return false, out, nil
	}
	if err != nil {
		return false, nil, err
	}
	out.CustomerID = se.CustomerID
	if se.Summary == nil {
		out.Reason = fmt.Sprintf("Stripe has sent no entitlement summary for customer %s yet: it has no product with features (set_entitlements attaches them), or the entitlements.active_entitlement_summary.updated event has not arrived", se.CustomerID)
		return false, out, nil
	}
	out.SourceAt = &se.Summary.SourceAt
	if se.Summary.Features != nil {
		out.Features = se.Summary.Features
	}
	for _, f := range out.Features {
		if f == feature {
			out.Allowed = true
		}
	}
	if out.Allowed {
		out.Reason = fmt.Sprintf("%s is an active entitlement of customer %s", feature, se.CustomerID)
	} else {
		out.Reason = fmt.Sprintf("%s is not among the active entitlements of customer %s", feature, se.CustomerID)
	}
	return out.Allowed, out, nil
}

// FetchEntitlementSummary builds a customer's complete
// entitlements.active_entitlement_summary from Stripe's active entitlements
// list, every page: what to store when an event's summary is truncated
// (store.ErrEntitlementSummaryTruncated), as of the time of the fetch.
func (s *Service) FetchEntitlementSummary(ctx context.Context, env vocab.Env, customerID string) (json.RawMessage, error) {
	_, c, _, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	return c.ActiveEntitlementSummary(ctx, customerID)
}

// RefreshEntitlementSummary fetches a customer's active entitlements from
// Stripe and stores them as of now.
func (s *Service) RefreshEntitlementSummary(ctx context.Context, env vocab.Env, customerID string) error {
	at := time.Now()
	obj, err := s.FetchEntitlementSummary(ctx, env, customerID)
	if err != nil {
		return err
	}
	st, err := s.stores.Get(ctx)
	if err != nil {
		return err
	}
	return st.PutEntitlementSummary(ctx, env, obj, at)
}

// SubjectEntitlement answers the app's entitlement route: may the subject
// use feature, under the session API's ownership rules.
func (s *Service) SubjectEntitlement(ctx context.Context, env vocab.Env, caller *auth.Caller, sub auth.Subject, feature string) (*EntitlementCheck, error) {
	if err := sub.Validate(); err != nil {
		return nil, fault.New(fault.Invalid, "invalid_subject", "%s", err)
	}
	if err := caller.Authorize(env, sub, auth.Read); err != nil {
		return nil, err
	}
	_, out, err := s.CheckEntitlement(ctx, env, sub, feature)
	if fault.Is(err, fault.Invalid) {
		return nil, fault.New(fault.Invalid, "invalid_request", "%s", err)
	}
	if err != nil {
		return nil, checkout.StoreFailure(s.log, err)
	}
	return out, nil
}
