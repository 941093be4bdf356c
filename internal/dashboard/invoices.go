package dashboard

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// Invoices on the dashboard: a customer's page lists the customer's, and
// the payment history the environment's newest.

// invoicesShown bounds the invoices on a customer's page and on the
// payment history.
const invoicesShown = 50

// invoiceRow is an invoice as a page lists it; Customer and Subject are
// set where the page is not one customer's.
type invoiceRow struct {
	store.SubjectInvoice
	Customer, Subject string
}

// invoiceTable is what the invoices template shows: Wide adds the
// customer and subject columns, Filtered says a filter chose the rows.
type invoiceTable struct {
	Env            vocab.Env
	Rows           []invoiceRow
	Wide, Filtered bool
}

type customerView struct {
	layout
	Customer store.Customer
	Invoices []invoiceRow
}

// customer is one customer's page: who it is and its invoices, in env.
func (d *Dashboard) customer(w http.ResponseWriter, r *http.Request, s *session) {
	env, err := vocab.ParseEnv(r.PathValue("env"))
	if err != nil || r.PathValue("env") != string(env) {
		d.fail(w, r, http.StatusNotFound, "There is no such page in the dashboard.")
		return
	}
	id := r.PathValue("id")
	res, err := d.svc.ListCustomers(r.Context(), env, store.Page{Query: id, Limit: PageSize})
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	v := customerView{layout: d.frame(r, s, env, "customers", "Customer "+id)}
	found := false
	for _, c := range res.Customers {
		if c.ID == id {
			v.Customer, found = c, true
		}
	}
	if !found {
		d.fail(w, r, http.StatusNotFound, "There is no customer "+id+" in "+string(env)+".")
		return
	}
	st, err := d.svc.Store(r.Context())
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	invs, err := st.CustomerInvoices(r.Context(), env, id, invoicesShown)
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	v.Invoices = make([]invoiceRow, len(invs))
	for i, inv := range invs {
		v.Invoices[i] = invoiceRow{SubjectInvoice: inv}
	}
	d.render(w, r, http.StatusOK, "customer", v)
}

// paymentInvoices are the newest invoices of env for the payment history:
// of the subject (or the id) its filter names, else of its search.
func (d *Dashboard) paymentInvoices(r *http.Request, env vocab.Env, lp listParams) ([]invoiceRow, error) {
	q := lp.q
	if lp.subject != "" {
		q = lp.subject
		if _, id, ok := strings.Cut(lp.subject, ":"); ok {
			q = id
		}
	}
	res, err := d.svc.ListInvoices(r.Context(), env, store.Page{Query: q, Limit: invoicesShown})
	if err != nil {
		return nil, err
	}
	out := make([]invoiceRow, len(res.Invoices))
	for i, inv := range res.Invoices {
		row := invoiceRow{SubjectInvoice: inv.SubjectInvoice, Customer: deref(inv.CustomerID)}
		if inv.SubjectID != nil {
			row.Subject = deref(inv.SubjectType) + ":" + *inv.SubjectID
		}
		out[i] = row
	}
	return out, nil
}

// invoiceURL is a hosted invoice or PDF link as Stripe sends it, only when
// it is an https URL (anything else is not linked).
func invoiceURL(s *string) template.URL {
	if s == nil {
		return ""
	}
	u, err := url.Parse(*s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return ""
	}
	return template.URL(u.String()) //nolint:gosec // https only, from Stripe's invoice
}
