package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/money"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// PageSize is the number of rows on a page.
const PageSize = 50

// MaxPage is the last numbered page. Pages are OFFSET pages, which cost
// more the deeper they go; past this one a search or a filter reaches older
// rows instead.
const MaxPage = 200

// layout is what every page's frame needs.
type layout struct {
	Title    string
	Env      vocab.Env
	Nav      string // the current page, for the menu
	CSRF     string
	Flash    string
	FlashErr bool
	// OtherEnv links to the same page in the other environment.
	OtherEnv string
	Signed   bool
}

// Live reports whether the page shows live data, which the frame marks.
func (l layout) Live() bool { return l.Env == vocab.Live }

// pager links a numbered page to its neighbours.
type pager struct {
	Page       int
	Prev       string
	Next       string
	First      string
	Empty      bool // nothing on this page
	OutOfRange bool // no such page: a number past the end, or not a page number
	Beyond     bool // past MaxPage
	MaxPage    int
}

var pages = map[string]func(*Dashboard, http.ResponseWriter, *http.Request, *session, vocab.Env){
	"catalog":       (*Dashboard).catalog,
	"customers":     (*Dashboard).customers,
	"subscriptions": (*Dashboard).subscriptions,
	"payments":      (*Dashboard).payments,
	"webhooks":      (*Dashboard).webhooks,
	"usage":         (*Dashboard).usage,
	"settings":      (*Dashboard).settings,
}

func (d *Dashboard) page(w http.ResponseWriter, r *http.Request, s *session) {
	env, err := vocab.ParseEnv(r.PathValue("env"))
	h, ok := pages[r.PathValue("page")]
	if err != nil || !ok || r.PathValue("env") != string(env) {
		d.fail(w, r, http.StatusNotFound, "There is no such page in the dashboard.")
		return
	}
	h(d, w, r, s, env)
}

func (d *Dashboard) frame(r *http.Request, s *session, env vocab.Env, nav, title string) layout {
	other := vocab.Live
	if env == vocab.Live {
		other = vocab.Test
	}
	l := layout{Title: title, Env: env, Nav: nav, CSRF: s.csrf, OtherEnv: "/dashboard/" + string(other) + "/" + nav, Signed: true}
	if f, ok := strings.CutPrefix(s.flash, "err:"); ok {
		l.Flash, l.FlashErr = f, true
	} else {
		l.Flash = strings.TrimPrefix(s.flash, "ok:")
	}
	return l
}

// listParams reads a list page's query: page number, search and filters.
type listParams struct {
	page   int
	bad    bool // the page parameter is not a page number
	q      string
	status string
	// subject is "type:id" or "id".
	subject string
	// since is a UTC date (2006-01-02) or an RFC 3339 time; badSince when it is neither.
	since    time.Time
	badSince bool
}

func readList(r *http.Request) listParams {
	q := r.URL.Query()
	p := listParams{page: 1, q: strings.TrimSpace(q.Get("q")), status: strings.TrimSpace(q.Get("status")),
		subject: strings.TrimSpace(q.Get("subject"))}
	p.since, p.badSince = readSince(q.Get("since"))
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			p.bad = true
		} else {
			p.page = n
		}
	}
	return p
}

// storePage is the store's view of the list parameters; ok is false when the
// page is out of range, and then nothing is read.
func (p listParams) storePage() (store.Page, bool) {
	sp := store.Page{Query: p.q, Limit: PageSize, Offset: (p.page - 1) * PageSize, Status: p.status, Since: p.since}
	if t, id, ok := strings.Cut(p.subject, ":"); ok {
		sp.SubjectType, sp.SubjectID = t, id
	} else {
		sp.SubjectID = p.subject
	}
	return sp, !p.bad && p.page <= MaxPage
}

// pager builds the links of a list page that returned n rows with more
// remaining or not.
func (p listParams) pager(r *http.Request, n int, more bool) pager {
	link := func(page int) string {
		q := r.URL.Query()
		q.Del("page")
		if page > 1 {
			q.Set("page", strconv.Itoa(page))
		}
		if enc := q.Encode(); enc != "" {
			return r.URL.Path + "?" + enc
		}
		return r.URL.Path
	}
	pg := pager{Page: p.page, First: link(1), Empty: n == 0, MaxPage: MaxPage}
	switch {
	case p.bad:
		pg.OutOfRange = true
		return pg
	case p.page > MaxPage:
		pg.Beyond = true
		return pg
	case n == 0 && p.page > 1:
		pg.OutOfRange = true
	}
	if p.page > 1 {
		pg.Prev = link(min(p.page-1, MaxPage))
	}
	if more && p.page < MaxPage {
		pg.Next = link(p.page + 1)
	}
	return pg
}

type catalogView struct {
	layout
	Q        string
	Products []store.Product
	// LiveMap maps test price ids to live ones, when the price map is wired (issue 5).
	LiveMap map[string]string
	Pager   pager
}

func (d *Dashboard) catalog(w http.ResponseWriter, r *http.Request, s *session, env vocab.Env) {
	lp := readList(r)
	v := catalogView{layout: d.frame(r, s, env, "catalog", "Catalog"), Q: lp.q, Products: []store.Product{}}
	sp, ok := lp.storePage()
	more := false
	if ok {
		sp.Status, sp.SubjectID, sp.SubjectType = "", "", ""
		res, err := d.svc.ListCatalog(r.Context(), env, sp)
		if err != nil {
			d.failErr(w, r, err)
			return
		}
		v.Products, more = res.Products, res.NextCursor != ""
		if d.opts.PriceMap != nil && env == vocab.Test {
			var ids []string
			for _, p := range v.Products {
				for _, pr := range p.Prices {
					ids = append(ids, pr.ID)
				}
			}
			if v.LiveMap, err = d.opts.PriceMap(r.Context(), ids); err != nil {
				d.failErr(w, r, err)
				return
			}
			if v.LiveMap == nil {
				v.LiveMap = map[string]string{}
			}
		}
	}
	v.Pager = lp.pager(r, len(v.Products), more)
	d.render(w, r, http.StatusOK, "catalog", v)
}

type customersView struct {
	layout
	Q         string
	Customers []store.Customer
	Pager     pager
}

func (d *Dashboard) customers(w http.ResponseWriter, r *http.Request, s *session, env vocab.Env) {
	lp := readList(r)
	v := customersView{layout: d.frame(r, s, env, "customers", "Customers"), Q: lp.q}
	sp, ok := lp.storePage()
	more := false
	if ok {
		sp.Status, sp.SubjectID, sp.SubjectType = "", "", ""
		res, err := d.svc.ListCustomers(r.Context(), env, sp)
		if err != nil {
			d.failErr(w, r, err)
			return
		}
		v.Customers, more = res.Customers, res.NextCursor != ""
	}
	v.Pager = lp.pager(r, len(v.Customers), more)
	d.render(w, r, http.StatusOK, "customers", v)
}

type subscriptionsView struct {
	layout
	Q, Status, Subject string
	Statuses           []string
	Subscriptions      []store.Subscription
	Pager              pager
}

func (d *Dashboard) subscriptions(w http.ResponseWriter, r *http.Request, s *session, env vocab.Env) {
	lp := readList(r)
	v := subscriptionsView{layout: d.frame(r, s, env, "subscriptions", "Subscriptions"), Q: lp.q, Status: lp.status,
		Subject: lp.subject, Statuses: store.SubscriptionStatuses}
	if lp.status != "" && !slices.Contains(store.SubscriptionStatuses, lp.status) {
		d.fail(w, r, http.StatusBadRequest, fmt.Sprintf("Unknown subscription status %q: choose one from the list.", lp.status))
		return
	}
	sp, ok := lp.storePage()
	more := false
	if ok {
		res, err := d.svc.ListSubscriptions(r.Context(), env, sp)
		if err != nil {
			d.failErr(w, r, err)
			return
		}
		v.Subscriptions, more = res.Subscriptions, res.NextCursor != ""
	}
	v.Pager = lp.pager(r, len(v.Subscriptions), more)
	d.render(w, r, http.StatusOK, "subscriptions", v)
}

type paymentsView struct {
	layout
	Q, Status, Subject string
	Since              string // the since filter as given, when set
	Statuses           []string
	Records            []store.PaymentRecord
	Pager              pager
	// Mismatches are payments that named an order but did not pay for it.
	Mismatches *store.MismatchSummary
	Mismatch   []mismatchRow
	// Invoices are the newest invoices, of the filter's subject if any,
	// shown on the first page.
	Invoices     []invoiceRow
	ShowInvoices bool
}

// Filtered says a search or a subject filter chose the rows.
func (v paymentsView) Filtered() bool { return v.Q != "" || v.Subject != "" }

// mismatchRow is a fulfillment mismatch as the payments page shows it.
type mismatchRow struct {
	store.FulfillmentMismatch
	Paid, Owed, Payer, Owner string
	Link                     template.URL
}

// mismatchesShown bounds the mismatches listed above the payment history.
const mismatchesShown = 20

func mismatchRows(env vocab.Env, ms []store.FulfillmentMismatch) []mismatchRow {
	out := make([]mismatchRow, len(ms))
	for i, m := range ms {
		var d struct {
			OrderAmount    *int64  `json:"order_amount"`
			OrderCurrency  *string `json:"order_currency"`
			OrderOwner     *string `json:"order_owner"`
			AmountSubtotal *int64  `json:"amount_subtotal"`
			AmountTotal    *int64  `json:"amount_total"`
			Currency       *string `json:"currency"`
			SubjectType    *string `json:"subject_type"`
			SubjectID      *string `json:"subject_id"`
		}
		_ = json.Unmarshal(m.Detail, &d) // what the app's trigger wrote; unknown fields stay blank
		r := mismatchRow{FulfillmentMismatch: m}
		amount := func(a *int64, c *string) string {
			if a == nil {
				return "—"
			}
			if c == nil {
				return strconv.FormatInt(*a, 10)
			}
			return money.Format(*a, *c)
		}
		paid := d.AmountSubtotal
		if paid == nil {
			paid = d.AmountTotal
		}
		r.Paid, r.Owed = amount(paid, d.Currency), amount(d.OrderAmount, d.OrderCurrency)
		if d.SubjectID != nil {
			r.Payer = deref(d.SubjectType) + ":" + *d.SubjectID
		}
		r.Owner = deref(d.OrderOwner)
		if m.PaymentIntentID != nil {
			r.Link = stripeLink(env, "payments", *m.PaymentIntentID)
		}
		out[i] = r
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (d *Dashboard) payments(w http.ResponseWriter, r *http.Request, s *session, env vocab.Env) {
	lp := readList(r)
	v := paymentsView{layout: d.frame(r, s, env, "payments", "Payment history"), Q: lp.q, Status: lp.status,
		Subject: lp.subject, Statuses: store.PaymentStatuses}
	if lp.status != "" && !slices.Contains(store.PaymentStatuses, lp.status) {
		d.fail(w, r, http.StatusBadRequest, fmt.Sprintf("Unknown payment status %q: choose one from the list.", lp.status))
		return
	}
	if lp.badSince {
		d.fail(w, r, http.StatusBadRequest, "The since filter takes a UTC date like 2026-01-31 or an RFC 3339 time like 2026-01-31T12:00:00Z.")
		return
	}
	if !lp.since.IsZero() {
		v.Since = r.URL.Query().Get("since")
	}
	sp, ok := lp.storePage()
	more := false
	if ok {
		res, err := d.svc.ListPaymentHistory(r.Context(), env, sp)
		if err != nil {
			d.failErr(w, r, err)
			return
		}
		v.Records, more = res.Records, res.NextCursor != ""
	}
	mm, err := d.svc.FulfillmentMismatches(r.Context(), env, mismatchesShown)
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	if mm.Total > 0 {
		v.Mismatches, v.Mismatch = mm, mismatchRows(env, mm.Latest)
	}
	if v.ShowInvoices = ok && lp.page == 1; v.ShowInvoices {
		if v.Invoices, err = d.paymentInvoices(r, env, lp); err != nil {
			d.failErr(w, r, err)
			return
		}
	}
	v.Pager = lp.pager(r, len(v.Records), more)
	d.render(w, r, http.StatusOK, "payments", v)
}

type webhooksView struct {
	layout
	Q, Status string
	Statuses  []string
	Endpoint  *store.WebhookEndpoint
	Health    *store.WebhookHealth
	Events    []store.WebhookEvent
	Back      string
	Pager     pager
}

func (d *Dashboard) webhooks(w http.ResponseWriter, r *http.Request, s *session, env vocab.Env) {
	lp := readList(r)
	v := webhooksView{layout: d.frame(r, s, env, "webhooks", "Webhooks"), Q: lp.q, Status: lp.status,
		Statuses: store.EventStatuses, Back: r.URL.RequestURI()}
	if lp.status != "" && !slices.Contains(store.EventStatuses, lp.status) {
		d.fail(w, r, http.StatusBadRequest, fmt.Sprintf("Unknown event status %q: choose one from the list.", lp.status))
		return
	}
	st, err := d.svc.Store(r.Context())
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	if v.Endpoint, err = st.Webhook(r.Context(), env); err != nil && !errors.Is(err, store.ErrNotFound) {
		d.failErr(w, r, err)
		return
	}
	if v.Health, err = st.WebhookHealth(r.Context(), env); err != nil {
		d.failErr(w, r, err)
		return
	}
	sp, ok := lp.storePage()
	more := false
	if ok {
		sp.SubjectID, sp.SubjectType = "", ""
		res, err := d.svc.ListWebhookEvents(r.Context(), env, sp)
		if err != nil {
			d.failErr(w, r, err)
			return
		}
		v.Events, more = res.Events, res.NextCursor != ""
	}
	v.Pager = lp.pager(r, len(v.Events), more)
	d.render(w, r, http.StatusOK, "webhooks", v)
}

type settingsView struct {
	layout
	Status  billing.EnvStatus
	Syncing bool // a sync started here is running
	// Audit is the newest calls over MCP HTTP in this environment.
	Audit []store.AuditEntry
}

func (d *Dashboard) settings(w http.ResponseWriter, r *http.Request, s *session, env vocab.Env) {
	sts, err := d.svc.Status(r.Context(), []vocab.Env{env})
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	st, err := d.svc.Store(r.Context())
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	audit, err := st.ListAudit(r.Context(), store.AuditFilter{Env: env, Limit: 20})
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	d.mu.Lock()
	syncing := d.syncing[env]
	d.mu.Unlock()
	d.render(w, r, http.StatusOK, "settings", settingsView{layout: d.frame(r, s, env, "settings", "Settings"), Status: sts[0], Syncing: syncing, Audit: audit})
}

// replay re-projects one recorded event (the button of a parked one).
func (d *Dashboard) replay(w http.ResponseWriter, r *http.Request, s *session) {
	env, err := vocab.ParseEnv(r.PathValue("env"))
	if err != nil {
		d.fail(w, r, http.StatusNotFound, "There is no such page in the dashboard.")
		return
	}
	back := "/dashboard/" + string(env) + "/webhooks"
	if b := r.PostFormValue("back"); strings.HasPrefix(b, back) && !strings.ContainsAny(b, "\\\r\n") {
		back = b
	}
	id := strings.TrimSpace(r.PostFormValue("event_id"))
	res, err := d.svc.Replay(r.Context(), env, id)
	var msg string
	switch {
	case fault.Is(err, fault.Invalid):
		msg = "err:" + err.Error()
	case err != nil:
		d.log.Error().Err(err).Str("env", string(env)).Str("event", id).Msg("dashboard replay failed")
		msg = "err:Replaying " + id + " failed; the server log has the details."
	case res.Status == "processed" || res.Status == "ignored":
		d.log.Info().Str("env", string(env)).Str("event", id).Str("was", res.Was).Str("now", res.Status).Msg("event replayed from the dashboard")
		msg = fmt.Sprintf("ok:Replayed %s: it was %s and is now %s.", res.EventID, res.Was, res.Status)
		if res.Refetched {
			msg += " Its payload had been pruned from the ledger, so it was fetched from Stripe."
		}
	default:
		msg = fmt.Sprintf("err:Replayed %s: it was %s and is still %s; its last error is in the list below.", res.EventID, res.Was, res.Status)
	}
	d.flashAndGo(w, r, s, msg, back)
}

// sync starts a sync of env in the background (one at a time per
// environment): it can take minutes, longer than a request should. The
// Settings page shows its progress from the sync run it records.
func (d *Dashboard) sync(w http.ResponseWriter, r *http.Request, s *session) {
	env, err := vocab.ParseEnv(r.PathValue("env"))
	if err != nil {
		d.fail(w, r, http.StatusNotFound, "There is no such page in the dashboard.")
		return
	}
	back := "/dashboard/" + string(env) + "/settings"
	st, err := d.svc.Store(r.Context())
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	if _, err := st.GetEnvironment(r.Context(), env); errors.Is(err, store.ErrNotFound) {
		d.flashAndGo(w, r, s, fmt.Sprintf("err:No Stripe key is set for %s: run `billwire keys set --env %s` first.", env, env), back)
		return
	} else if err != nil {
		d.failErr(w, r, err)
		return
	}
	d.mu.Lock()
	if d.syncing[env] {
		d.mu.Unlock()
		d.flashAndGo(w, r, s, "err:A sync of "+string(env)+" is already running.", back)
		return
	}
	d.syncing[env] = true
	d.bg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.bg.Done()
		defer func() { d.mu.Lock(); delete(d.syncing, env); d.mu.Unlock() }()
		ctx, cancel := context.WithTimeout(d.bgCtx, time.Hour)
		defer cancel()
		res, err := d.svc.Sync(ctx, env, nil, nil)
		if err != nil {
			d.log.Warn().Err(err).Str("env", string(env)).Msg("sync from the dashboard failed")
			return
		}
		d.log.Info().Str("env", string(env)).Int64("run", res.RunID).Any("counts", res.Counts).Msg("sync from the dashboard finished")
	}()
	d.log.Info().Str("env", string(env)).Msg("sync started from the dashboard")
	d.flashAndGo(w, r, s, "ok:Sync of "+string(env)+" started; this page shows its progress.", back)
}

func (d *Dashboard) flashAndGo(w http.ResponseWriter, r *http.Request, s *session, msg, to string) {
	if st, err := d.svc.Store(r.Context()); err == nil {
		if err := st.SetFlash(r.Context(), s.hash, msg); err != nil {
			d.log.Warn().Err(err).Msg("dashboard message not stored")
		}
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// stripeID is what an id must look like to be put in a Stripe URL.
var stripeID = regexp.MustCompile(`^[a-z]+_[A-Za-z0-9_]+$`)

// stripeLink is the page of an object in Stripe's dashboard: under /test/
// for test mode, without for live.
func stripeLink(env vocab.Env, kind, id string) template.URL {
	if !stripeID.MatchString(id) {
		return ""
	}
	base := "https://dashboard.stripe.com/"
	if env == vocab.Test {
		base += "test/"
	}
	return template.URL(base + kind + "/" + url.PathEscape(id)) //nolint:gosec // a fixed origin and a checked id
}

// paymentLink is where a payment history row is handled in Stripe: a
// payment's page (where it is refunded), a refund's, a dispute's (where it is answered).
func paymentLink(env vocab.Env, p store.PaymentRecord) template.URL {
	switch p.Kind {
	case "refund":
		return stripeLink(env, "refunds", p.Key)
	case "dispute":
		return stripeLink(env, "disputes", p.Key)
	}
	switch {
	case p.PaymentIntentID != nil:
		return stripeLink(env, "payments", *p.PaymentIntentID)
	case p.ChargeID != nil:
		return stripeLink(env, "payments", *p.ChargeID)
	case p.InvoiceID != nil:
		return stripeLink(env, "invoices", *p.InvoiceID)
	}
	return ""
}

var funcs = template.FuncMap{
	"stripe":      stripeLink,
	"paymentLink": paymentLink,
	"invoiceURL":  invoiceURL,
	"invoiceTable": func(env vocab.Env, rows []invoiceRow, wide, filtered bool) invoiceTable {
		return invoiceTable{Env: env, Rows: rows, Wide: wide, Filtered: filtered}
	},
	"str": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"when": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04")
		case *time.Time:
			if t == nil || t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04")
		}
		return ""
	},
	"money": func(amount int64, currency *string) string {
		if currency == nil {
			return strconv.FormatInt(amount, 10)
		}
		return money.Format(amount, *currency)
	},
	"sel": func(a, b string) bool { return a == b },
	"paymentAction": func(p store.PaymentRecord) string {
		switch {
		case p.Kind == "refund":
			return "View refund"
		case p.Kind == "dispute" && strings.HasSuffix(p.Status, "needs_response"):
			return "Respond in Stripe"
		case p.Kind == "dispute":
			return "View dispute"
		case p.Status == "succeeded" || p.Status == "partially_refunded":
			return "Refund in Stripe"
		}
		return "View in Stripe"
	},
	"filters": func(q, placeholder string, statuses []string, status string, subjectFilter bool, subject string) filterView {
		return filterView{Q: q, Placeholder: placeholder, Statuses: statuses, Status: status, SubjectFilter: subjectFilter, Subject: subject}
	},
}

// filterView is the search form of a list.
type filterView struct {
	Q, Placeholder string
	Statuses       []string
	Status         string
	SubjectFilter  bool
	Subject        string
}
