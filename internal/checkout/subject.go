package checkout

import (
	"context"
	"errors"
	"sort"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// SubjectBilling is a subject's billing state from projected data.
type SubjectBilling struct {
	Env           vocab.Env                   `json:"env"`
	Subject       auth.Subject                `json:"subject"`
	HasBilling    bool                        `json:"has_billing"`
	Customer      *store.SubjectCustomerInfo  `json:"customer"`
	Subscriptions []store.SubjectSubscription `json:"subscriptions"`
	Payments      []store.PaymentRecord       `json:"recent_payments"`
	// Invoices are the subject's newest invoices (SubjectInvoiceLimit).
	Invoices []store.SubjectInvoice `json:"invoices"`
	// Entitlements are the lookup keys of the features Stripe last reported
	// active for the subject's customer.
	Entitlements []string `json:"entitlements"`
}

// SubjectInvoiceLimit is how many invoices the subject route shows.
const SubjectInvoiceLimit = 12

// GetSubjectBilling returns the subject's customer, its subscriptions that
// still bill, its recent payments and its newest invoices.
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
	out := &SubjectBilling{Env: env, Subject: sub, Subscriptions: []store.SubjectSubscription{}, Payments: []store.PaymentRecord{}, Invoices: []store.SubjectInvoice{}, Entitlements: []string{}}
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
	if out.Invoices, err = st.SubjectInvoices(ctx, env, customer, sub.Type, sub.ID, SubjectInvoiceLimit); err != nil {
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
	out.HasBilling = out.Customer != nil || len(out.Subscriptions) > 0 || len(out.Payments) > 0 || len(out.Invoices) > 0
	return out, nil
}
