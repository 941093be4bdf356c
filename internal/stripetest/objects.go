package stripetest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The wire shapes below follow what Stripe returns for API version
// 2024-06-20: id and object first, the other fields in Stripe's
// (alphabetical) order, nullable fields as pointers so they encode as null.
// Fields the fake never fills are typed *struct{} and always null.

// Object kinds, as used by CountCreated and SeedID.
const (
	KindProduct      = "product"
	KindPrice        = "price"
	KindCustomer     = "customer"
	KindSubscription = "subscription"
)

// seedEpoch is the creation time of seeded object 0 (2024-06-01T00:00:00Z);
// seeded object i of each kind was created i seconds later.
const seedEpoch = 1717200000

var (
	emptyMetadata = map[string]string{}
	emptyStrings  = []string{}
	emptyObjects  = []struct{}{}
)

type product struct {
	ID                  string            `json:"id"`
	Object              string            `json:"object"`
	Active              bool              `json:"active"`
	Created             int64             `json:"created"`
	DefaultPrice        *string           `json:"default_price"`
	Description         *string           `json:"description"`
	Images              []string          `json:"images"`
	Livemode            bool              `json:"livemode"`
	MarketingFeatures   []struct{}        `json:"marketing_features"`
	Metadata            map[string]string `json:"metadata"`
	Name                string            `json:"name"`
	PackageDimensions   *struct{}         `json:"package_dimensions"`
	Shippable           *bool             `json:"shippable"`
	StatementDescriptor *string           `json:"statement_descriptor"`
	TaxCode             *string           `json:"tax_code"`
	Type                string            `json:"type"`
	UnitLabel           *string           `json:"unit_label"`
	Updated             int64             `json:"updated"`
	URL                 *string           `json:"url"`
}

type recurring struct {
	AggregateUsage  *string `json:"aggregate_usage"`
	Interval        string  `json:"interval"`
	IntervalCount   int64   `json:"interval_count"`
	Meter           *string `json:"meter"`
	TrialPeriodDays *int64  `json:"trial_period_days"`
	UsageType       string  `json:"usage_type"`
}

type price struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Active            bool               `json:"active"`
	BillingScheme     string             `json:"billing_scheme"`
	Created           int64              `json:"created"`
	Currency          string             `json:"currency"`
	CustomUnitAmount  *struct{}          `json:"custom_unit_amount"`
	Livemode          bool               `json:"livemode"`
	LookupKey         *string            `json:"lookup_key"`
	Metadata          map[string]string  `json:"metadata"`
	Nickname          *string            `json:"nickname"`
	Product           string             `json:"product"`
	Recurring         *recurring         `json:"recurring"`
	TaxBehavior       string             `json:"tax_behavior"`
	TiersMode         *string            `json:"tiers_mode"`
	TransformQuantity *transformQuantity `json:"transform_quantity"`
	Type              string             `json:"type"`
	UnitAmount        *int64             `json:"unit_amount"`
	UnitAmountDecimal *string            `json:"unit_amount_decimal"`
}

// transformQuantity is a price's transform_quantity: usage divided by
// DivideBy, rounded up or down.
type transformQuantity struct {
	DivideBy int64  `json:"divide_by"`
	Round    string `json:"round"`
}

type invoiceSettings struct {
	CustomFields         *struct{} `json:"custom_fields"`
	DefaultPaymentMethod *string   `json:"default_payment_method"`
	Footer               *string   `json:"footer"`
	RenderingOptions     *struct{} `json:"rendering_options"`
}

type customer struct {
	ID                  string            `json:"id"`
	Object              string            `json:"object"`
	Address             *struct{}         `json:"address"`
	Balance             int64             `json:"balance"`
	Created             int64             `json:"created"`
	Currency            *string           `json:"currency"`
	DefaultSource       *string           `json:"default_source"`
	Delinquent          bool              `json:"delinquent"`
	Description         *string           `json:"description"`
	Discount            *struct{}         `json:"discount"`
	Email               *string           `json:"email"`
	InvoicePrefix       string            `json:"invoice_prefix"`
	InvoiceSettings     invoiceSettings   `json:"invoice_settings"`
	Livemode            bool              `json:"livemode"`
	Metadata            map[string]string `json:"metadata"`
	Name                *string           `json:"name"`
	NextInvoiceSequence int64             `json:"next_invoice_sequence"`
	Phone               *string           `json:"phone"`
	PreferredLocales    []string          `json:"preferred_locales"`
	Shipping            *struct{}         `json:"shipping"`
	TaxExempt           string            `json:"tax_exempt"`
	TestClock           *string           `json:"test_clock"`
}

type plan struct {
	ID              string            `json:"id"`
	Object          string            `json:"object"`
	Active          bool              `json:"active"`
	AggregateUsage  *string           `json:"aggregate_usage"`
	Amount          *int64            `json:"amount"`
	AmountDecimal   *string           `json:"amount_decimal"`
	BillingScheme   string            `json:"billing_scheme"`
	Created         int64             `json:"created"`
	Currency        string            `json:"currency"`
	Interval        string            `json:"interval"`
	IntervalCount   int64             `json:"interval_count"`
	Livemode        bool              `json:"livemode"`
	Metadata        map[string]string `json:"metadata"`
	Meter           *string           `json:"meter"`
	Nickname        *string           `json:"nickname"`
	Product         string            `json:"product"`
	TiersMode       *string           `json:"tiers_mode"`
	TransformUsage  *struct{}         `json:"transform_usage"`
	TrialPeriodDays *int64            `json:"trial_period_days"`
	UsageType       string            `json:"usage_type"`
}

type subscriptionItem struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	BillingThresholds *struct{}         `json:"billing_thresholds"`
	Created           int64             `json:"created"`
	Discounts         []struct{}        `json:"discounts"`
	Metadata          map[string]string `json:"metadata"`
	Plan              *plan             `json:"plan"`
	Price             *price            `json:"price"`
	Quantity          int64             `json:"quantity"`
	Subscription      string            `json:"subscription"`
	TaxRates          []struct{}        `json:"tax_rates"`
}

type subscriptionItemList struct {
	Object  string              `json:"object"`
	Data    []*subscriptionItem `json:"data"`
	HasMore bool                `json:"has_more"`
	URL     string              `json:"url"`
}

type automaticTax struct {
	Enabled   bool      `json:"enabled"`
	Liability *struct{} `json:"liability"`
}

type cancellationDetails struct {
	Comment  *string `json:"comment"`
	Feedback *string `json:"feedback"`
	Reason   *string `json:"reason"`
}

type subscriptionInvoiceSettings struct {
	AccountTaxIDs *struct{}         `json:"account_tax_ids"`
	Issuer        map[string]string `json:"issuer"`
}

type paymentSettings struct {
	PaymentMethodOptions     *struct{} `json:"payment_method_options"`
	PaymentMethodTypes       *struct{} `json:"payment_method_types"`
	SaveDefaultPaymentMethod string    `json:"save_default_payment_method"`
}

type trialSettings struct {
	EndBehavior map[string]string `json:"end_behavior"`
}

type subscription struct {
	ID                            string                      `json:"id"`
	Object                        string                      `json:"object"`
	Application                   *string                     `json:"application"`
	ApplicationFeePercent         *float64                    `json:"application_fee_percent"`
	AutomaticTax                  automaticTax                `json:"automatic_tax"`
	BillingCycleAnchor            int64                       `json:"billing_cycle_anchor"`
	BillingCycleAnchorConfig      *struct{}                   `json:"billing_cycle_anchor_config"`
	BillingThresholds             *struct{}                   `json:"billing_thresholds"`
	CancelAt                      *int64                      `json:"cancel_at"`
	CancelAtPeriodEnd             bool                        `json:"cancel_at_period_end"`
	CanceledAt                    *int64                      `json:"canceled_at"`
	CancellationDetails           cancellationDetails         `json:"cancellation_details"`
	CollectionMethod              string                      `json:"collection_method"`
	Created                       int64                       `json:"created"`
	Currency                      string                      `json:"currency"`
	CurrentPeriodEnd              int64                       `json:"current_period_end"`
	CurrentPeriodStart            int64                       `json:"current_period_start"`
	Customer                      string                      `json:"customer"`
	DaysUntilDue                  *int64                      `json:"days_until_due"`
	DefaultPaymentMethod          *string                     `json:"default_payment_method"`
	DefaultSource                 *string                     `json:"default_source"`
	DefaultTaxRates               []struct{}                  `json:"default_tax_rates"`
	Description                   *string                     `json:"description"`
	Discount                      *struct{}                   `json:"discount"`
	Discounts                     []struct{}                  `json:"discounts"`
	EndedAt                       *int64                      `json:"ended_at"`
	InvoiceSettings               subscriptionInvoiceSettings `json:"invoice_settings"`
	Items                         subscriptionItemList        `json:"items"`
	LatestInvoice                 *string                     `json:"latest_invoice"`
	Livemode                      bool                        `json:"livemode"`
	Metadata                      map[string]string           `json:"metadata"`
	NextPendingInvoiceItemInvoice *int64                      `json:"next_pending_invoice_item_invoice"`
	OnBehalfOf                    *string                     `json:"on_behalf_of"`
	PauseCollection               *struct{}                   `json:"pause_collection"`
	PaymentSettings               paymentSettings             `json:"payment_settings"`
	PendingInvoiceItemInterval    *struct{}                   `json:"pending_invoice_item_interval"`
	PendingSetupIntent            *string                     `json:"pending_setup_intent"`
	PendingUpdate                 *struct{}                   `json:"pending_update"`
	Schedule                      *string                     `json:"schedule"`
	StartDate                     int64                       `json:"start_date"`
	Status                        string                      `json:"status"`
	TestClock                     *string                     `json:"test_clock"`
	TransferData                  *struct{}                   `json:"transfer_data"`
	TrialEnd                      *int64                      `json:"trial_end"`
	TrialSettings                 trialSettings               `json:"trial_settings"`
	TrialStart                    *int64                      `json:"trial_start"`
}

// listPage is Stripe's list envelope.
type listPage struct {
	Object  string `json:"object"`
	URL     string `json:"url"`
	HasMore bool   `json:"has_more"`
	Data    []any  `json:"data"`
}

// idPrefixes maps each kind to its Stripe id prefix.
var idPrefixes = map[string]string{
	KindProduct:      "prod_",
	KindPrice:        "price_",
	KindCustomer:     "cus_",
	KindSubscription: "sub_",
}

const seedDigits = 8

// SeedID returns the id of the seeded object of the given kind (KindProduct,
// KindPrice, KindCustomer or KindSubscription) at index i, such as
// "prod_seed00000003" for SeedID(KindProduct, 3). Seeded ids sort in index
// order. SeedID panics on an unknown kind.
func SeedID(kind string, i int) string {
	prefix, ok := idPrefixes[kind]
	if !ok {
		panic(fmt.Sprintf("stripetest: unknown kind %q", kind))
	}
	return seedID(prefix, i)
}

func seedID(prefix string, i int) string {
	b := make([]byte, 0, len(prefix)+4+seedDigits)
	b = append(b, prefix...)
	b = append(b, "seed"...)
	n := strconv.Itoa(i)
	for range seedDigits - len(n) {
		b = append(b, '0')
	}
	return string(append(b, n...))
}

// parseSeedID returns the index encoded in a seeded id with the given prefix.
func parseSeedID(prefix, id string) (int, bool) {
	digits, ok := strings.CutPrefix(id, prefix+"seed")
	if !ok || len(digits) != seedDigits {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

func ptr[T any](v T) *T { return &v }

// seeds holds the number of seeded objects of each kind, already adjusted so
// that every reference points at an existing seeded object.
type seeds struct {
	products, prices, customers, subscriptions int
}

func newSeeds(o FakeOptions) seeds {
	s := seeds{
		products:      max(o.Products, 0),
		prices:        max(o.Prices, 0),
		customers:     max(o.Customers, 0),
		subscriptions: max(o.Subscriptions, 0),
	}
	if s.subscriptions > 0 {
		s.prices = max(s.prices, 1)
		s.customers = max(s.customers, 1)
	}
	if s.prices > 0 {
		s.products = max(s.products, 1)
	}
	return s
}

func seedProduct(s seeds, i int, live bool) *product {
	created := int64(seedEpoch + i)
	p := &product{
		ID:                seedID("prod_", i),
		Object:            "product",
		Active:            true,
		Created:           created,
		Description:       ptr(fmt.Sprintf("Seeded product number %d", i)),
		Images:            emptyStrings,
		Livemode:          live,
		MarketingFeatures: emptyObjects,
		Metadata:          emptyMetadata,
		Name:              fmt.Sprintf("Seed Product %d", i),
		Type:              "service",
		Updated:           created,
	}
	// Price i belongs to product i % products, so product i's first price
	// is price i.
	if i < s.prices {
		p.DefaultPrice = ptr(seedID("price_", i))
	}
	return p
}

// seedPriceProduct returns the index of the product seeded price i belongs to.
func seedPriceProduct(s seeds, i int) int { return i % s.products }

func seedPrice(s seeds, i int, live bool) *price {
	amount := int64(500 + (i%20)*100)
	interval := "month"
	if i%3 == 2 {
		interval = "year"
		amount *= 10
	}
	return &price{
		ID:            seedID("price_", i),
		Object:        "price",
		Active:        true,
		BillingScheme: "per_unit",
		Created:       int64(seedEpoch + i),
		Currency:      "usd",
		Livemode:      live,
		Metadata:      emptyMetadata,
		Nickname:      ptr(fmt.Sprintf("Seed Price %d", i)),
		Product:       seedID("prod_", seedPriceProduct(s, i)),
		Recurring: &recurring{
			Interval:      interval,
			IntervalCount: 1,
			UsageType:     "licensed",
		},
		TaxBehavior:       "unspecified",
		Type:              "recurring",
		UnitAmount:        ptr(amount),
		UnitAmountDecimal: ptr(strconv.FormatInt(amount, 10)),
	}
}

func seedCustomerEmail(i int) string { return fmt.Sprintf("customer%08d@example.com", i) }

func seedCustomer(s seeds, i int, live bool) *customer {
	c := &customer{
		ID:                  seedID("cus_", i),
		Object:              "customer",
		Created:             int64(seedEpoch + i),
		Email:               ptr(seedCustomerEmail(i)),
		InvoicePrefix:       fmt.Sprintf("SEED%04X", i&0xffff),
		Livemode:            live,
		Metadata:            emptyMetadata,
		Name:                ptr(fmt.Sprintf("Seed Customer %d", i)),
		NextInvoiceSequence: 1,
		PreferredLocales:    emptyStrings,
		TaxExempt:           "none",
	}
	// Customer i has subscriptions i, i+customers, ...: a customer that has
	// been billed carries the subscription currency.
	if i < s.subscriptions {
		c.Currency = ptr("usd")
	}
	return c
}

// seedSubscriptionCustomer and seedSubscriptionPrice return the indexes of
// the customer and price of seeded subscription i.
func seedSubscriptionCustomer(s seeds, i int) int { return i % s.customers }
func seedSubscriptionPrice(s seeds, i int) int    { return i % s.prices }

func seedSubscription(s seeds, i int, live bool) *subscription {
	id := seedID("sub_", i)
	created := int64(seedEpoch + i)
	pr := seedPrice(s, seedSubscriptionPrice(s, i), live)
	years, months := 0, pr.Recurring.IntervalCount
	if pr.Recurring.Interval == "year" {
		years, months = int(months), 0
	}
	periodEnd := time.Unix(created, 0).UTC().AddDate(years, int(months), 0).Unix()
	item := &subscriptionItem{
		ID:           seedID("si_", i),
		Object:       "subscription_item",
		Created:      created,
		Discounts:    emptyObjects,
		Metadata:     emptyMetadata,
		Plan:         planFor(pr),
		Price:        pr,
		Quantity:     1,
		Subscription: id,
		TaxRates:     emptyObjects,
	}
	return &subscription{
		ID:                 id,
		Object:             "subscription",
		BillingCycleAnchor: created,
		CollectionMethod:   "charge_automatically",
		Created:            created,
		Currency:           pr.Currency,
		CurrentPeriodEnd:   periodEnd,
		CurrentPeriodStart: created,
		Customer:           seedID("cus_", seedSubscriptionCustomer(s, i)),
		DefaultTaxRates:    emptyObjects,
		Discounts:          emptyObjects,
		InvoiceSettings: subscriptionInvoiceSettings{
			Issuer: map[string]string{"type": "self"},
		},
		Items: subscriptionItemList{
			Object: "list",
			Data:   []*subscriptionItem{item},
			URL:    "/v1/subscription_items?subscription=" + id,
		},
		Livemode:        live,
		Metadata:        emptyMetadata,
		PaymentSettings: paymentSettings{SaveDefaultPaymentMethod: "off"},
		StartDate:       created,
		Status:          "active",
		TrialSettings: trialSettings{
			EndBehavior: map[string]string{"missing_payment_method": "create_invoice"},
		},
	}
}

// planFor returns the legacy plan view of a recurring price, as Stripe
// embeds it in subscription items.
func planFor(p *price) *plan {
	if p.Recurring == nil {
		return nil
	}
	return &plan{
		ID:             p.ID,
		Object:         "plan",
		Active:         p.Active,
		AggregateUsage: p.Recurring.AggregateUsage,
		Amount:         p.UnitAmount,
		AmountDecimal:  p.UnitAmountDecimal,
		BillingScheme:  p.BillingScheme,
		Created:        p.Created,
		Currency:       p.Currency,
		Interval:       p.Recurring.Interval,
		IntervalCount:  p.Recurring.IntervalCount,
		Livemode:       p.Livemode,
		Metadata:       p.Metadata,
		Meter:          p.Recurring.Meter,
		Nickname:       p.Nickname,
		Product:        p.Product,
		TiersMode:      p.TiersMode,
		UsageType:      p.Recurring.UsageType,
	}
}
