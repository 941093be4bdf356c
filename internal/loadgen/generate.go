// Package loadgen generates realistic Stripe webhook traffic for billwire and
// sends it to a webhook endpoint: the engine of cmd/billwire-loadgen, also
// usable from Go benchmarks.
//
// [Generate] builds the events from the fixtures of internal/eventfixtures:
// many customers, each with its own subscription story (sign-up through
// Checkout, renewals, failed renewals and their retries, cancellations,
// refunds, renamed customers), so that no single row is hot. It also
// returns the [Expectation]: the state a correct projection of the events
// ends in, whatever order they arrive in, for checking the database
// afterwards. [Run] posts the events, signed at send time, with a number of
// concurrent workers and measures the answers.
package loadgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// DefaultStart is the default [Config.Start]: 2024-07-01T00:00:00Z, after
// API version 2024-06-20 was released.
var DefaultStart = time.Unix(1719792000, 0).UTC()

// Config describes the traffic [Generate] builds.
type Config struct {
	// Events is the number of distinct events to generate. Duplicates come
	// on top of it.
	Events int
	// Customers is the number of customers the events are spread over
	// (round robin, a story step each); default 2000. With fewer events than
	// five per customer, only the first customers get any.
	Customers int
	// Duplicates is the fraction (0 to 1) of the events that are sent a
	// second time, with the same bytes, at a random later point.
	Duplicates float64
	// Shuffle sends the events in random order instead of story order. The
	// catalog (Expectation.Prelude events) always comes first.
	Shuffle bool
	// Seed seeds every random choice: the same Config gives the same
	// events, byte for byte, event ids included.
	Seed uint64
	// Start is the created time of the first events; default DefaultStart.
	// Each customer's story starts a second after the previous customer's
	// and advances a second per event.
	Start time.Time
}

// Expectation is what the database should hold after all events were
// applied, in any order, by a projection that keeps the newest state of
// every object (by event created time) and ignores duplicate event ids.
type Expectation struct {
	// Events is the number of distinct events (Config.Events).
	Events int `json:"events"`
	// Duplicates is the number of events sent twice.
	Duplicates int `json:"duplicates"`
	// Sends is the number of requests: Events + Duplicates.
	Sends int `json:"sends"`
	// DistinctEventIDs is the number of distinct event ids (= Events).
	DistinctEventIDs int `json:"distinct_event_ids"`
	// Prelude is the number of leading events that create the catalog;
	// send them before the rest (RunConfig.Prelude).
	Prelude int `json:"prelude"`
	// ByType counts the distinct events per event type.
	ByType map[string]int `json:"by_type"`

	Products         map[string]ProductState      `json:"products"`
	Prices           map[string]PriceState        `json:"prices"`
	Customers        map[string]CustomerState     `json:"customers"`
	CheckoutSessions map[string]SessionState      `json:"checkout_sessions"`
	Subscriptions    map[string]SubscriptionState `json:"subscriptions"`
	Invoices         map[string]InvoiceState      `json:"invoices"`
	// Payments is keyed by payment intent id, the canonical key of a
	// payment.
	Payments map[string]PaymentState `json:"payments"`
	Refunds  map[string]RefundState  `json:"refunds"`

	// SubscriptionStatuses counts Subscriptions by final status.
	SubscriptionStatuses map[string]int `json:"subscription_statuses"`
	// PaymentStatuses counts Payments by final status.
	PaymentStatuses map[string]int `json:"payment_statuses"`
	// RefundCount and RefundedAmount sum up Refunds.
	RefundCount    int   `json:"refund_count"`
	RefundedAmount int64 `json:"refunded_amount"`
}

// ProductState is a product's final state.
type ProductState struct {
	Name string `json:"name"`
}

// PriceState is a price's final state.
type PriceState struct {
	Product    string `json:"product"`
	UnitAmount int64  `json:"unit_amount"`
	Currency   string `json:"currency"`
	Interval   string `json:"interval"`
	LookupKey  string `json:"lookup_key"`
}

// CustomerState is a customer's final state.
type CustomerState struct {
	Email     string `json:"email"`
	Name      string `json:"name"`
	SubjectID string `json:"subject_id"`
}

// SessionState is a Checkout Session's final state (all complete and paid).
type SessionState struct {
	Customer          string `json:"customer"`
	Subscription      string `json:"subscription"`
	ClientReferenceID string `json:"client_reference_id"`
	SubjectType       string `json:"subject_type"`
	SubjectID         string `json:"subject_id"`
	AmountTotal       int64  `json:"amount_total"`
	Status            string `json:"status"`
	PaymentStatus     string `json:"payment_status"`
}

// SubscriptionState is a subscription's final state.
type SubscriptionState struct {
	Status             string `json:"status"`
	Customer           string `json:"customer"`
	Price              string `json:"price"`
	Item               string `json:"item"`
	CancelAtPeriodEnd  bool   `json:"cancel_at_period_end"`
	CurrentPeriodStart int64  `json:"current_period_start"`
	CurrentPeriodEnd   int64  `json:"current_period_end"`
	LatestInvoice      string `json:"latest_invoice"`
	SubjectType        string `json:"subject_type"`
	SubjectID          string `json:"subject_id"`
}

// InvoiceState is an invoice's final state.
type InvoiceState struct {
	Status        string `json:"status"`
	Customer      string `json:"customer"`
	Subscription  string `json:"subscription"`
	PaymentIntent string `json:"payment_intent"`
	AmountDue     int64  `json:"amount_due"`
	AmountPaid    int64  `json:"amount_paid"`
	Currency      string `json:"currency"`
}

// PaymentState is a payment's final state. Status is the payment intent's
// status in the newest payment_intent.* event ("succeeded" or
// "requires_payment_method"); a refund leaves it "succeeded" and sets
// AmountRefunded.
type PaymentState struct {
	Status         string `json:"status"`
	Amount         int64  `json:"amount"`
	AmountRefunded int64  `json:"amount_refunded"`
	Currency       string `json:"currency"`
	Customer       string `json:"customer"`
	Invoice        string `json:"invoice"`
	Charge         string `json:"charge"`
}

// RefundState is a refund's final state.
type RefundState struct {
	Charge        string `json:"charge"`
	PaymentIntent string `json:"payment_intent"`
	Amount        int64  `json:"amount"`
	Status        string `json:"status"`
}

// plan is a price generated subscriptions use.
type plan struct {
	product, productName   string
	price, lookupKey, nick string
	amount                 int64
	interval               string // month or year
	weight                 float64
}

// plans: the fixtures' Pro monthly price and two more, so that amounts vary.
var plans = []*plan{
	{"prod_Fixture1", "Pro", "price_Fixture1", "pro_monthly", "Pro monthly", 2000, "month", 0.70},
	{"prod_Fixture1", "Pro", "price_LProYearly", "pro_yearly", "Pro yearly", 20000, "year", 0.15},
	{"prod_LTeam", "Team", "price_LTeamMonthly", "team_monthly", "Team monthly", 5000, "month", 0.15},
}

// Generate builds the traffic cfg describes: events in send order
// (duplicates included; a duplicate is the same []byte as its original) and
// the expected final state. It panics only if the embedded fixtures are
// broken, which the tests of internal/eventfixtures rule out.
func Generate(cfg Config) (events [][]byte, expect Expectation) {
	if cfg.Customers <= 0 {
		cfg.Customers = 2000
	}
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	cfg.Duplicates = min(max(cfg.Duplicates, 0), 1)
	g := &gen{
		cfg:          cfg,
		rng:          rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		tag:          strconv.FormatUint(cfg.Seed, 36),
		tmpl:         mustTemplates(),
		exp:          newExpectation(),
		priceCreated: map[string]int64{},
	}
	if cfg.Events > 0 {
		g.catalog()
		g.exp.Prelude = len(g.events)
		g.customers()
	}
	g.exp.Events = len(g.events)
	g.exp.DistinctEventIDs = len(g.events)
	g.exp.finish()
	events = g.sendOrder()
	g.exp.Sends = len(events)
	g.exp.Duplicates = len(events) - len(g.events)
	return events, *g.exp
}

func newExpectation() *Expectation {
	return &Expectation{
		ByType:           map[string]int{},
		Products:         map[string]ProductState{},
		Prices:           map[string]PriceState{},
		Customers:        map[string]CustomerState{},
		CheckoutSessions: map[string]SessionState{},
		Subscriptions:    map[string]SubscriptionState{},
		Invoices:         map[string]InvoiceState{},
		Payments:         map[string]PaymentState{},
		Refunds:          map[string]RefundState{},
	}
}

func (e *Expectation) finish() {
	e.SubscriptionStatuses = map[string]int{}
	for _, s := range e.Subscriptions {
		e.SubscriptionStatuses[s.Status]++
	}
	e.PaymentStatuses = map[string]int{}
	for _, p := range e.Payments {
		e.PaymentStatuses[p.Status]++
	}
	e.RefundCount = len(e.Refunds)
	e.RefundedAmount = 0
	for _, r := range e.Refunds {
		e.RefundedAmount += r.Amount
	}
}

// sendOrder shuffles (when asked) and inserts the duplicates.
func (g *gen) sendOrder() [][]byte {
	n, pre := len(g.events), g.exp.Prelude
	type send struct {
		key float64
		ev  []byte
	}
	order := make([]send, n, n+int(float64(n)*g.cfg.Duplicates)+1)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	if g.cfg.Shuffle {
		rest := perm[pre:]
		g.rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	}
	for pos, i := range perm {
		order[pos] = send{float64(pos), g.events[i]}
	}
	dups := int(math.Round(float64(n) * g.cfg.Duplicates))
	if dups > 0 {
		// Sample dups positions, each sent again at a random later point
		// (after the prelude): a key in (max(pos, pre-1), n].
		for _, pos := range g.rng.Perm(n)[:dups] {
			lo := float64(max(pos, pre-1))
			key := lo + (float64(n)-lo)*(1-g.rng.Float64())
			order = append(order, send{key, order[pos].ev})
		}
		slices.SortStableFunc(order, func(a, b send) int { return cmp.Compare(a.key, b.key) })
	}
	out := make([][]byte, len(order))
	for i, s := range order {
		out[i] = s.ev
	}
	return out
}

// ---------------------------------------------------------------------------
// The story generator.

type gen struct {
	cfg    Config
	rng    *rand.Rand
	tag    string
	tmpl   *templates
	exp    *Expectation
	events [][]byte
	// priceCreated is when the catalog created each price.
	priceCreated map[string]int64
}

type customer struct {
	n                   int
	id, email, name     string
	subject, prefix, pm string
	clock               int64 // created of the customer's next event
	created             int64 // 0 until customer.created
	renames             int
	subs                int // subscriptions started
	sub                 *subscription
	invoices            int
	refundable          []*payment // paid, not refunded
}

type subscription struct {
	id, item, session      string
	plan                   *plan
	status                 string
	created                int64
	periodStart, periodEnd int64
	cancelAtPeriodEnd      bool
	canceledAt, endedAt    int64
	cancelReason           string
	latestInvoice          string
	open                   *payment // the unpaid renewal while past_due
}

type payment struct {
	seq                            int
	invoice, pi, charge            string
	declined, line                 string
	amount                         int64
	created, chargeCreated         int64
	attempts                       int
	billingReason                  string
	periodStart, periodEnd         int64 // the invoice's
	linePeriodStart, linePeriodEnd int64 // the subscription period billed
}

func (c *customer) tick() int64 {
	t := c.clock
	c.clock++
	return t
}

func (g *gen) remaining() int { return g.cfg.Events - len(g.events) }

// emit builds one event and records it.
func (g *gen) emit(typ string, o eventfixtures.Options) {
	o.ID = fmt.Sprintf("evt_L%s_%08d", g.tag, len(g.events)+1)
	b, err := eventfixtures.Event(typ, o)
	if err != nil {
		panic(fmt.Sprintf("loadgen: %v", err))
	}
	g.events = append(g.events, b)
	g.exp.ByType[typ]++
}

func (g *gen) catalog() {
	// The catalog timeline: each product, then its prices, a second apart
	// and before every customer's story. Prices inside subscriptions and
	// invoices carry the same created times.
	type entry struct {
		p       *plan
		product bool
		at      int64
	}
	var timeline []entry
	t := g.cfg.Start.Unix() - 100
	seenProduct := map[string]bool{}
	for _, p := range plans {
		if !seenProduct[p.product] {
			seenProduct[p.product] = true
			timeline = append(timeline, entry{p, true, t})
			t++
		}
		timeline = append(timeline, entry{p, false, t})
		g.priceCreated[p.price] = t
		t++
	}
	for _, e := range timeline {
		if g.remaining() == 0 {
			return
		}
		p := e.p
		if e.product {
			obj := map[string]any{"id": p.product, "name": p.productName, "created": e.at, "updated": e.at}
			if p.productName != "Pro" {
				obj["description"] = p.productName + " plan: everything in Pro for up to 20 seats."
			}
			g.emit("product.created", eventfixtures.Options{Created: e.at, Object: obj})
			g.exp.Products[p.product] = ProductState{Name: p.productName}
			continue
		}
		g.emit("price.created", eventfixtures.Options{Created: e.at, Object: g.priceObject(p)})
		g.exp.Prices[p.price] = PriceState{Product: p.product, UnitAmount: p.amount, Currency: "usd", Interval: p.interval, LookupKey: p.lookupKey}
	}
}

func (g *gen) pickPlan() *plan {
	r := g.rng.Float64()
	for _, p := range plans {
		if r < p.weight {
			return p
		}
		r -= p.weight
	}
	return plans[0]
}

// customers runs the stories round robin, a step per customer per round,
// until the budget of events is spent exactly.
func (g *gen) customers() {
	cs := make([]*customer, g.cfg.Customers)
	for i := range cs {
		n := i + 1
		cs[i] = &customer{
			n:       n,
			id:      fmt.Sprintf("cus_L%06d", n),
			email:   fmt.Sprintf("customer%06d@example.com", n),
			name:    fmt.Sprintf("Customer %d", n),
			subject: fmt.Sprintf("u_%d", n),
			prefix:  fmt.Sprintf("L%06d", n),
			pm:      fmt.Sprintf("pm_L%06d", n),
			clock:   g.cfg.Start.Unix() + int64(n),
		}
	}
	for g.remaining() > 0 {
		for _, c := range cs {
			if g.remaining() == 0 {
				return
			}
			g.step(c)
		}
	}
}

// step plays the customer's next story step, or a one-event step when the
// budget has no room for it.
func (g *gen) step(c *customer) {
	s := c.sub
	var size int
	var do func()
	switch {
	case s == nil:
		size = 4
		if c.created == 0 {
			size = 5
		}
		do = func() { g.signUp(c) }
	case s.status == "past_due":
		if g.rng.Float64() < 0.7 {
			size, do = 3, func() { g.retrySucceeds(c) }
		} else {
			size, do = 1, func() { g.cancel(c, "payment_failed") }
		}
	default:
		r := g.rng.Float64()
		switch {
		case r < 0.55 || (r >= 0.83 && r < 0.93 && len(c.refundable) == 0):
			if s.cancelAtPeriodEnd {
				size, do = 1, func() { g.cancel(c, "cancellation_requested") }
			} else {
				size, do = 3, func() { g.renew(c) }
			}
		case r < 0.65:
			size, do = 3, func() { g.renewalFails(c) }
		case r < 0.75:
			size, do = 1, func() { g.rename(c) }
		case r < 0.83:
			size, do = 1, func() { g.toggleCancelAtPeriodEnd(c) }
		case r < 0.93:
			size, do = 2, func() { g.refund(c) }
		default:
			size, do = 1, func() { g.cancel(c, "cancellation_requested") }
		}
	}
	if size > g.remaining() {
		if c.created != 0 {
			g.rename(c)
		} else {
			g.customerCreated(c)
		}
		return
	}
	do()
}

func (g *gen) replacer(c *customer, p *payment) map[string]string {
	r := map[string]string{
		"cus_Fixture1":       c.id,
		"jenny@example.com":  c.email,
		"Jenny Rosen":        c.name,
		"u_123":              c.subject,
		"user:u_123":         "user:" + c.subject,
		"7D5C1F0A":           c.prefix,
		"pm_Fixture1":        c.pm,
		"pm_FixtureDeclined": c.pm + "_declined",
	}
	if s := c.sub; s != nil {
		r["sub_Fixture1"] = s.id
		r["si_Fixture1"] = s.item
		r["cs_test_Fixture1"] = s.session
		r["price_Fixture1"] = s.plan.price
		r["prod_Fixture1"] = s.plan.product
	}
	if p != nil {
		r["in_Fixture1"] = p.invoice
		r["pi_Fixture1"] = p.pi
		r["ch_Fixture1"] = p.charge
		r["ch_FixtureDeclined"] = p.declined
		r["il_Fixture1"] = p.line
		r["txn_Fixture1"] = "txn_" + p.charge[3:]
		r["pi_Fixture1_secret_Fixture1ClientSecret0001"] = p.pi + "_secret_L" + strconv.Itoa(p.seq)
	}
	return r
}

func (c *customer) subjectMeta() map[string]any {
	return map[string]any{vocab.MetaSubjectType: "user", vocab.MetaSubjectID: c.subject}
}

// customerCreated emits customer.created.
func (g *gen) customerCreated(c *customer) {
	t := c.tick()
	c.created = t
	g.emit("customer.created", eventfixtures.Options{Created: t, Replace: g.replacer(c, nil), Object: map[string]any{
		"created": t, "metadata": c.subjectMeta(),
	}})
	g.exp.Customers[c.id] = CustomerState{Email: c.email, Name: c.name, SubjectID: c.subject}
}

// signUp: customer.created (first time), checkout.session.completed,
// customer.subscription.created, invoice.paid, payment_intent.succeeded.
func (g *gen) signUp(c *customer) {
	if c.created == 0 {
		g.customerCreated(c)
	}
	c.subs++
	suffix := fmt.Sprintf("L%06d", c.n)
	if c.subs > 1 {
		suffix += "_" + strconv.Itoa(c.subs)
	}
	t := c.tick()
	s := &subscription{
		id: "sub_" + suffix, item: "si_" + suffix, session: "cs_test_" + suffix,
		plan: g.pickPlan(), status: "active", created: t,
	}
	s.periodStart, s.periodEnd = t, periodEnd(t, s.plan.interval)
	c.sub = s
	p := g.newPayment(c, "subscription_create", t, t, s.periodStart, s.periodEnd)
	s.latestInvoice = p.invoice

	g.emit("checkout.session.completed", eventfixtures.Options{Created: t, Replace: g.replacer(c, p), Object: map[string]any{
		"created": t - 60, "expires_at": t - 60 + 86400, "customer": c.id, "subscription": s.id,
		"invoice": p.invoice, "amount_subtotal": p.amount, "amount_total": p.amount, "currency": "usd",
		"client_reference_id": "user:" + c.subject, "metadata": c.subjectMeta(),
		"status": "complete", "payment_status": "paid",
	}})
	g.exp.CheckoutSessions[s.session] = SessionState{
		Customer: c.id, Subscription: s.id, ClientReferenceID: "user:" + c.subject,
		SubjectType: "user", SubjectID: c.subject, AmountTotal: p.amount, Status: "complete", PaymentStatus: "paid",
	}
	g.emit("customer.subscription.created", eventfixtures.Options{Created: c.tick(), Replace: g.replacer(c, p), Object: g.subscriptionObject(c)})
	g.recordSubscription(c)
	p.attempts = 1
	g.pay(c, p)
}

// newPayment starts the next invoice of the customer's subscription.
func (g *gen) newPayment(c *customer, reason string, created, periodStart, lineStart, lineEnd int64) *payment {
	c.invoices++
	suffix := fmt.Sprintf("L%06d_%04d", c.n, c.invoices)
	return &payment{
		seq: c.invoices, invoice: "in_" + suffix, pi: "pi_" + suffix, charge: "ch_" + suffix,
		declined: "ch_" + suffix + "_declined", line: "il_" + suffix,
		amount: c.sub.plan.amount, created: created, billingReason: reason,
		periodStart: periodStart, periodEnd: created, linePeriodStart: lineStart, linePeriodEnd: lineEnd,
	}
}

// pay emits invoice.paid and payment_intent.succeeded for p.
func (g *gen) pay(c *customer, p *payment) {
	t := c.tick()
	p.chargeCreated = t
	g.emit("invoice.paid", eventfixtures.Options{Created: t, Replace: g.replacer(c, p), Object: g.invoiceObject(c, p, "paid", t)})
	g.recordInvoice(c, p, "paid")
	t = c.tick()
	g.emit("payment_intent.succeeded", eventfixtures.Options{Created: t, Replace: g.replacer(c, p), Object: g.paymentIntentObject(c, p, "succeeded")})
	g.recordPayment(c, p, "succeeded")
	c.refundable = append(c.refundable, p)
}

// renew: customer.subscription.updated (new period), invoice.paid,
// payment_intent.succeeded.
func (g *gen) renew(c *customer) {
	s := c.sub
	t := c.tick()
	prev := g.advancePeriod(c, t)
	p := g.newPayment(c, "subscription_cycle", t, prev["current_period_start"].(int64), s.periodStart, s.periodEnd)
	s.latestInvoice = p.invoice
	g.emit("customer.subscription.updated", eventfixtures.Options{Created: t, Replace: g.replacer(c, p), Object: g.subscriptionObject(c), Previous: prev})
	g.recordSubscription(c)
	p.attempts = 1
	g.pay(c, p)
}

// advancePeriod starts the subscription's next period at t and returns the
// previous_attributes of that change. (The stories advance a second per
// event, not a month per renewal, so a period starts at its renewal event.)
func (g *gen) advancePeriod(c *customer, t int64) map[string]any {
	s := c.sub
	prev := map[string]any{
		"current_period_start": s.periodStart, "current_period_end": s.periodEnd, "latest_invoice": s.latestInvoice,
	}
	s.periodStart, s.periodEnd = t, periodEnd(t, s.plan.interval)
	return prev
}

// renewalFails: invoice.payment_failed, payment_intent.payment_failed,
// customer.subscription.updated (past_due).
func (g *gen) renewalFails(c *customer) {
	s := c.sub
	t := c.tick()
	oldStatus := s.status
	prev := g.advancePeriod(c, t)
	p := g.newPayment(c, "subscription_cycle", t, prev["current_period_start"].(int64), s.periodStart, s.periodEnd)
	p.attempts = 1
	s.latestInvoice = p.invoice
	s.open = p
	g.emit("invoice.payment_failed", eventfixtures.Options{Created: t, Replace: g.replacer(c, p), Object: g.invoiceObject(c, p, "open", 0)})
	g.recordInvoice(c, p, "open")
	g.emit("payment_intent.payment_failed", eventfixtures.Options{Created: c.tick(), Replace: g.replacer(c, p), Object: g.paymentIntentObject(c, p, "requires_payment_method")})
	g.recordPayment(c, p, "requires_payment_method")
	s.status = "past_due"
	prev["status"] = oldStatus
	g.emit("customer.subscription.updated", eventfixtures.Options{Created: c.tick(), Replace: g.replacer(c, p), Object: g.subscriptionObject(c), Previous: prev})
	g.recordSubscription(c)
}

// retrySucceeds: invoice.paid, payment_intent.succeeded,
// customer.subscription.updated (active again).
func (g *gen) retrySucceeds(c *customer) {
	s := c.sub
	p := s.open
	s.open = nil
	p.attempts++
	g.pay(c, p)
	s.status = "active"
	g.emit("customer.subscription.updated", eventfixtures.Options{Created: c.tick(), Replace: g.replacer(c, p), Object: g.subscriptionObject(c), Previous: map[string]any{"status": "past_due"}})
	g.recordSubscription(c)
}

// cancel: customer.subscription.deleted.
func (g *gen) cancel(c *customer, reason string) {
	s := c.sub
	t := c.tick()
	if s.canceledAt == 0 {
		s.canceledAt = t
	}
	s.endedAt = t
	s.status = "canceled"
	s.cancelReason = reason
	g.emit("customer.subscription.deleted", eventfixtures.Options{Created: t, Replace: g.replacer(c, nil), Object: g.subscriptionObject(c)})
	g.recordSubscription(c)
	if s.open != nil {
		// The unpaid renewal stays open (the payment intent keeps
		// requires_payment_method).
		s.open = nil
	}
	c.sub = nil
}

// toggleCancelAtPeriodEnd: customer.subscription.updated.
func (g *gen) toggleCancelAtPeriodEnd(c *customer) {
	s := c.sub
	t := c.tick()
	var prev map[string]any
	if !s.cancelAtPeriodEnd {
		prev = map[string]any{"cancel_at": nil, "cancel_at_period_end": false, "canceled_at": nil,
			"cancellation_details": map[string]any{"reason": nil}}
		s.cancelAtPeriodEnd, s.canceledAt, s.cancelReason = true, t, "cancellation_requested"
	} else {
		prev = map[string]any{"cancel_at": s.periodEnd, "cancel_at_period_end": true, "canceled_at": s.canceledAt,
			"cancellation_details": map[string]any{"reason": "cancellation_requested"}}
		s.cancelAtPeriodEnd, s.canceledAt, s.cancelReason = false, 0, ""
	}
	g.emit("customer.subscription.updated", eventfixtures.Options{Created: t, Replace: g.replacer(c, nil), Object: g.subscriptionObject(c), Previous: prev})
	g.recordSubscription(c)
}

// rename: customer.updated.
func (g *gen) rename(c *customer) {
	t := c.tick()
	old := c.name
	c.renames++
	c.name = fmt.Sprintf("Customer %d (%d)", c.n, c.renames)
	g.emit("customer.updated", eventfixtures.Options{Created: t, Replace: g.replacer(c, nil), Object: map[string]any{
		"name": c.name, "created": c.created, "metadata": c.subjectMeta(),
		"next_invoice_sequence": c.invoices + 1, "currency": currencyIf(c.invoices > 0),
	}, Previous: map[string]any{"name": old}})
	g.exp.Customers[c.id] = CustomerState{Email: c.email, Name: c.name, SubjectID: c.subject}
}

func currencyIf(billed bool) any {
	if billed {
		return "usd"
	}
	return nil
}

// refund: charge.refunded, refund.created for the oldest refundable payment.
func (g *gen) refund(c *customer) {
	p := c.refundable[0]
	c.refundable = c.refundable[1:]
	re := fmt.Sprintf("re_L%06d_%04d", c.n, p.seq)
	r := g.replacer(c, p)
	r["re_Fixture1"] = re
	r["txn_FixtureRefund1"] = "txn_" + re[3:]
	t := c.tick()
	pmd := deepCopy(g.tmpl.chargePMD).(map[string]any)
	card := pmd["card"].(map[string]any)
	card["amount_authorized"] = p.amount
	card["overcapture"].(map[string]any)["maximum_amount_capturable"] = p.amount
	g.emit("charge.refunded", eventfixtures.Options{Created: t, Replace: r, Object: map[string]any{
		"amount": p.amount, "amount_captured": p.amount, "amount_refunded": p.amount, "refunded": true,
		"disputed": false, "created": p.chargeCreated, "payment_method_details": pmd,
		"description": paymentDescription(p),
	}, Previous: map[string]any{"amount_refunded": 0, "refunded": false}})
	g.emit("refund.created", eventfixtures.Options{Created: c.tick(), Replace: r, Object: map[string]any{
		"amount": p.amount, "created": t,
	}})
	g.exp.Refunds[re] = RefundState{Charge: p.charge, PaymentIntent: p.pi, Amount: p.amount, Status: "succeeded"}
	ps := g.exp.Payments[p.pi]
	ps.AmountRefunded = p.amount
	g.exp.Payments[p.pi] = ps
}

func periodEnd(start int64, interval string) int64 {
	t := time.Unix(start, 0).UTC()
	if interval == "year" {
		return t.AddDate(1, 0, 0).Unix()
	}
	return t.AddDate(0, 1, 0).Unix()
}

func paymentDescription(p *payment) string {
	if p.billingReason == "subscription_create" {
		return "Subscription creation"
	}
	return "Subscription update"
}

// ---------------------------------------------------------------------------
// Object overrides.

func (g *gen) subscriptionObject(c *customer) map[string]any {
	s := c.sub
	o := map[string]any{
		"id": s.id, "customer": c.id, "status": s.status, "created": s.created, "start_date": s.created,
		"billing_cycle_anchor": s.created, "current_period_start": s.periodStart, "current_period_end": s.periodEnd,
		"latest_invoice": s.latestInvoice, "default_payment_method": c.pm, "metadata": c.subjectMeta(),
		"currency": "usd", "items": g.itemsList(c), "cancel_at_period_end": s.cancelAtPeriodEnd,
		"cancel_at": nil, "canceled_at": nil, "ended_at": nil, "trial_start": nil, "trial_end": nil, "pause_collection": nil,
		"cancellation_details": map[string]any{"comment": nil, "feedback": nil, "reason": nil},
		"trial_settings":       map[string]any{"end_behavior": map[string]any{"missing_payment_method": "create_invoice"}},
	}
	if s.cancelAtPeriodEnd {
		o["cancel_at"] = s.periodEnd
	}
	if s.canceledAt != 0 {
		o["canceled_at"] = s.canceledAt
	}
	if s.endedAt != 0 {
		o["ended_at"] = s.endedAt
	}
	if s.cancelReason != "" {
		o["cancellation_details"] = map[string]any{"comment": nil, "feedback": nil, "reason": s.cancelReason}
	}
	return o
}

func (g *gen) itemsList(c *customer) map[string]any {
	s := c.sub
	item := deepCopy(g.tmpl.item).(map[string]any)
	item["id"] = s.item
	item["created"] = s.created + 1
	item["subscription"] = s.id
	item["price"] = g.priceObject(s.plan)
	item["plan"] = g.planObject(s.plan)
	return map[string]any{
		"object": "list", "data": []any{item}, "has_more": false, "total_count": 1,
		"url": stripeapi.SubscriptionItemsURL(s.id),
	}
}

func (g *gen) invoiceObject(c *customer, p *payment, status string, paidAt int64) map[string]any {
	s := c.sub
	line := deepCopy(g.tmpl.line).(map[string]any)
	line["id"] = p.line
	line["invoice"] = p.invoice
	line["subscription"] = s.id
	line["subscription_item"] = s.item
	line["amount"] = p.amount
	line["amount_excluding_tax"] = p.amount
	line["unit_amount_excluding_tax"] = strconv.FormatInt(p.amount, 10)
	line["description"] = fmt.Sprintf("1 × %s (at $%d.%02d / %s)", s.plan.productName, p.amount/100, p.amount%100, s.plan.interval)
	line["metadata"] = c.subjectMeta()
	line["period"] = map[string]any{"start": p.linePeriodStart, "end": p.linePeriodEnd}
	line["price"] = g.priceObject(s.plan)
	line["plan"] = g.planObject(s.plan)
	var paidAtV any
	if paidAt != 0 {
		paidAtV = paidAt
	}
	charge := p.charge
	if status != "paid" {
		charge = p.declined
	}
	amountPaid := int64(0)
	if status == "paid" {
		amountPaid = p.amount
	}
	var nextAttempt any
	if status == "open" && p.billingReason == "subscription_cycle" {
		nextAttempt = p.created + 3*86400
	}
	return map[string]any{
		"id": p.invoice, "customer": c.id, "subscription": s.id, "payment_intent": p.pi, "charge": charge,
		"status": status, "paid": status == "paid", "amount_due": p.amount, "amount_paid": amountPaid,
		"amount_remaining": p.amount - amountPaid, "subtotal": p.amount, "subtotal_excluding_tax": p.amount,
		"total": p.amount, "total_excluding_tax": p.amount, "attempt_count": p.attempts, "attempted": true,
		"billing_reason": p.billingReason, "created": p.created, "effective_at": p.created + 1,
		"webhooks_delivered_at": p.created, "period_start": p.periodStart, "period_end": p.periodEnd,
		"number": fmt.Sprintf("%s-%04d", c.prefix, p.seq), "next_payment_attempt": nextAttempt,
		"status_transitions": map[string]any{"finalized_at": p.created + 1, "marked_uncollectible_at": nil, "paid_at": paidAtV, "voided_at": nil},
		"lines": map[string]any{"object": "list", "data": []any{line}, "has_more": false, "total_count": 1,
			"url": stripeapi.InvoiceLinesURL(p.invoice)},
		"customer_name": c.name, "customer_email": c.email,
		"subscription_details": map[string]any{"metadata": c.subjectMeta()},
	}
}

func (g *gen) paymentIntentObject(c *customer, p *payment, status string) map[string]any {
	o := map[string]any{
		"id": p.pi, "amount": p.amount, "currency": "usd", "customer": c.id, "invoice": p.invoice,
		"created": p.created + 1, "status": status, "description": paymentDescription(p),
		"amount_received": int64(0), "latest_charge": p.declined, "payment_method": nil,
	}
	if status == "succeeded" {
		o["amount_received"] = p.amount
		o["latest_charge"] = p.charge
		o["payment_method"] = c.pm
	}
	return o
}

func (g *gen) priceObject(p *plan) map[string]any {
	o := deepCopy(g.tmpl.price).(map[string]any)
	o["id"] = p.price
	o["product"] = p.product
	o["created"] = g.priceCreated[p.price]
	o["unit_amount"] = p.amount
	o["unit_amount_decimal"] = strconv.FormatInt(p.amount, 10)
	o["lookup_key"] = p.lookupKey
	o["nickname"] = p.nick
	o["recurring"].(map[string]any)["interval"] = p.interval
	return o
}

func (g *gen) planObject(p *plan) map[string]any {
	o := deepCopy(g.tmpl.plan).(map[string]any)
	o["id"] = p.price
	o["product"] = p.product
	o["created"] = g.priceCreated[p.price]
	o["amount"] = p.amount
	o["amount_decimal"] = strconv.FormatInt(p.amount, 10)
	o["nickname"] = p.nick
	o["interval"] = p.interval
	return o
}

// ---------------------------------------------------------------------------
// Expectation bookkeeping.

func (g *gen) recordSubscription(c *customer) {
	s := c.sub
	g.exp.Subscriptions[s.id] = SubscriptionState{
		Status: s.status, Customer: c.id, Price: s.plan.price, Item: s.item, CancelAtPeriodEnd: s.cancelAtPeriodEnd,
		CurrentPeriodStart: s.periodStart, CurrentPeriodEnd: s.periodEnd, LatestInvoice: s.latestInvoice,
		SubjectType: "user", SubjectID: c.subject,
	}
}

func (g *gen) recordInvoice(c *customer, p *payment, status string) {
	paid := int64(0)
	if status == "paid" {
		paid = p.amount
	}
	g.exp.Invoices[p.invoice] = InvoiceState{
		Status: status, Customer: c.id, Subscription: c.sub.id, PaymentIntent: p.pi,
		AmountDue: p.amount, AmountPaid: paid, Currency: "usd",
	}
}

func (g *gen) recordPayment(c *customer, p *payment, status string) {
	charge := p.declined
	if status == "succeeded" {
		charge = p.charge
	}
	g.exp.Payments[p.pi] = PaymentState{
		Status: status, Amount: p.amount, Currency: "usd", Customer: c.id, Invoice: p.invoice, Charge: charge,
	}
}

// ---------------------------------------------------------------------------
// Nested objects taken from the fixtures.

type templates struct {
	price, plan, item, line, chargePMD map[string]any
}

var mustTemplates = sync.OnceValue(func() *templates {
	object := func(typ string) map[string]any {
		b, err := eventfixtures.Event(typ, eventfixtures.Options{ID: "evt_template"})
		if err != nil {
			panic(fmt.Sprintf("loadgen: %v", err))
		}
		var ev struct {
			Data struct {
				Object map[string]any `json:"object"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			panic(fmt.Sprintf("loadgen: %s: %v", typ, err))
		}
		return ev.Data.Object
	}
	first := func(list any) map[string]any {
		return list.(map[string]any)["data"].([]any)[0].(map[string]any)
	}
	line := first(object("invoice.paid")["lines"])
	return &templates{
		price:     line["price"].(map[string]any),
		plan:      line["plan"].(map[string]any),
		line:      line,
		item:      first(object("customer.subscription.updated")["items"]),
		chargePMD: object("charge.refunded")["payment_method_details"].(map[string]any),
	}
})

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = deepCopy(e)
		}
		return s
	default:
		return v
	}
}
