package dashboard

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/money"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// overviewView is the overview page: the business and the webhook pipeline
// of one environment at a glance.
type overviewView struct {
	layout
	Today    string // the overview's UTC day
	MRR      []mrrCard
	Revenue  []revenueCard
	Subs     chart
	Statuses []store.StatusCount
	O        *store.Overview
	Reasons  []store.StatusCount
	// Mismatches counts the last 30 days' payments that did not pay an order, not refunded.
	Mismatches int64
	Endpoint   *store.WebhookEndpoint
	Health     *store.WebhookHealth
	Pipeline   pipelineView
	// Links to the lists behind the figures.
	FailedLink, TrialsLink, RevenueLink string
}

type mrrCard struct {
	Currency, Active, Trialing string
	Chart                      chart
}

type revenueCard struct {
	Currency, Net, Paid, Refunded string
	Payments, Refunds             int64
	Chart                         chart
}

// overviewPage serves /dashboard/{env}/, the landing page of an environment.
func (d *Dashboard) overviewPage(w http.ResponseWriter, r *http.Request, s *session) {
	env, err := vocab.ParseEnv(r.PathValue("env"))
	if err != nil || r.PathValue("env") != string(env) {
		d.fail(w, r, http.StatusNotFound, "There is no such page in the dashboard.")
		return
	}
	d.overview(w, r, s, env)
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, s *session, env vocab.Env) {
	st, err := d.svc.Store(r.Context())
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	now := d.opts.Now().UTC()
	o, err := st.Overview(r.Context(), env, now)
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	v := overviewView{layout: d.frame(r, s, env, "", "Overview"), O: o, Today: o.Today.Format("Monday, 2 January 2006"),
		Statuses: o.Statuses, Reasons: o.FailureReasons}
	v.OtherEnv = "/dashboard/" + string(otherEnv(env)) + "/"
	mm, err := d.svc.FulfillmentMismatches(r.Context(), env, 0)
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	v.Mismatches = mm.Open
	if v.Endpoint, err = st.Webhook(r.Context(), env); err != nil && !errors.Is(err, store.ErrNotFound) {
		d.failErr(w, r, err)
		return
	}
	if v.Health, err = st.WebhookHealth(r.Context(), env); err != nil {
		d.failErr(w, r, err)
		return
	}
	mins, err := st.WebhookMinutes(r.Context(), env, now.Add(-24*time.Hour))
	if err != nil {
		d.failErr(w, r, err)
		return
	}
	v.Pipeline = newPipeline(mins, now)
	v.fill(env, now)
	d.render(w, r, http.StatusOK, "overview", v)
}

func otherEnv(env vocab.Env) vocab.Env {
	if env == vocab.Live {
		return vocab.Test
	}
	return vocab.Live
}

// fill builds the charts and the links from the figures.
func (v *overviewView) fill(env vocab.Env, now time.Time) {
	o := v.O
	days := make([]time.Time, store.OverviewDays)
	for i := range days {
		days[i] = o.Today.AddDate(0, 0, i+1-store.OverviewDays)
	}
	for _, m := range o.MRR {
		active, trialing := series{Name: "MRR", Class: "s1"}, series{Name: "Trialing", Class: "s2"}
		for _, d := range m.Days {
			active.Values, trialing.Values = append(active.Values, d.Active), append(trialing.Values, d.Trialing)
		}
		f := moneyIn(m.Currency)
		v.MRR = append(v.MRR, mrrCard{Currency: m.Currency, Active: f(m.Active), Trialing: f(m.Trialing),
			Chart: lineChart("mrr-"+m.Currency, "MRR in "+m.Currency+", last 30 days",
				fmt.Sprintf("MRR at the end of each day; now %s, plus %s in trials.", f(m.Active), f(m.Trialing)),
				dayAxis(days), []series{active, trialing}, f, axisIn(m.Currency))})
	}
	for _, rc := range o.Revenue {
		paid, refunded, net := series{Name: "Paid", Class: "s1"}, series{Name: "Refunded", Class: "s3"}, series{Name: "Net", Class: "s2"}
		for _, d := range rc.Days {
			paid.Values = append(paid.Values, d.Paid)
			refunded.Values = append(refunded.Values, -d.Refunded)
			net.Values = append(net.Values, d.Net)
		}
		f := moneyIn(rc.Currency)
		v.Revenue = append(v.Revenue, revenueCard{Currency: rc.Currency, Net: f(rc.Net), Paid: f(rc.Paid), Refunded: f(rc.Refunded),
			Payments: rc.Payments, Refunds: rc.Refunds,
			Chart: barChart("revenue-"+rc.Currency, "Net revenue in "+rc.Currency+" per day, last 30 days",
				fmt.Sprintf("Payments succeeded each day (up) and refunds succeeded (down); net %s over 30 days.", f(rc.Net)),
				dayAxis(days), []series{paid, refunded}, f, axisIn(rc.Currency))})
	}
	created, canceled, ended := series{Name: "New", Class: "s1"}, series{Name: "Canceled", Class: "s3"}, series{Name: "Ended", Class: "s4"}
	var nNew, nCanceled, nEnded int64
	for _, d := range o.Subscriptions {
		created.Values, canceled.Values, ended.Values = append(created.Values, d.Created), append(canceled.Values, d.Canceled), append(ended.Values, d.Ended)
		nNew, nCanceled, nEnded = nNew+d.Created, nCanceled+d.Canceled, nEnded+d.Ended
	}
	v.Subs = barChart("subscriptions", "Subscriptions per day, last 30 days",
		fmt.Sprintf("New subscriptions by creation day (%d), canceled by cancellation day (%d), ended by end day (%d).", nNew, nCanceled, nEnded),
		dayAxis(days), []series{created, canceled, ended}, count, count)
	base := "/dashboard/" + string(env)
	since := now.Add(-store.OverviewWindow).Truncate(time.Second).Format(time.RFC3339)
	v.FailedLink = base + "/payments?" + url.Values{"status": {"failed"}, "since": {since}}.Encode()
	v.TrialsLink = base + "/subscriptions?status=trialing"
	v.RevenueLink = base + "/payments?since=" + days[0].Format("2006-01-02")
}

// readSince reads a list's since filter: a UTC date or an RFC 3339 time.
func readSince(v string) (t time.Time, bad bool) {
	if v = strings.TrimSpace(v); v == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, false
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, false
	}
	return time.Time{}, true
}

func count(n int64) string { return strconv.FormatInt(n, 10) }

// axisIn writes minor units of currency on an axis: in major units, short,
// with the currency in the chart's title.
func axisIn(currency string) func(int64) string {
	scale := 1.0
	if c, ok := money.Lookup(currency); ok {
		scale = math.Pow(10, float64(c.Decimals))
	}
	return func(n int64) string { return compact(float64(n) / scale) }
}

// moneyIn formats minor units of currency.
func moneyIn(currency string) func(int64) string {
	return func(n int64) string { return money.Format(n, currency) }
}
