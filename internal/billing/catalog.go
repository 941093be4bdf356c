package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/money"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// ProductInput is what create_product takes.
type ProductInput struct {
	Name        string
	Description string
	Metadata    map[string]string
}

// PriceInput is what create_price takes.
type PriceInput struct {
	ProductID     string
	UnitAmount    int64
	Currency      string
	Interval      string
	IntervalCount int64
	LookupKey     string
	Nickname      string
	PriceTermsInput
	MeteredInput
}

// PriceTermsInput are the checkout terms end users get with a price (see
// CreateCheckout), stored in its Stripe metadata. Unset fields are left
// out of the idempotency key, so a call without terms derives the key it
// always did.
type PriceTermsInput struct {
	// TrialPeriodDays (1 to 730, recurring prices only) is the trial a
	// subscription checkout of the price gets, once per subject and product.
	TrialPeriodDays int64 `json:",omitempty"`
	// AllowPromotionCodes lets the customer enter promotion codes.
	AllowPromotionCodes bool `json:",omitempty"`
	// AutomaticTax turns on Stripe Tax for the checkout.
	AutomaticTax bool `json:",omitempty"`
	// MinQuantity and MaxQuantity (1 to 999; 0: the defaults 1 and 999)
	// bound the quantity, e.g. seats, that checkouts and plan changes of
	// the price accept.
	MinQuantity int64 `json:",omitempty"`
	MaxQuantity int64 `json:",omitempty"`
}

func (t *PriceTermsInput) validate(interval string) error {
	switch {
	case t.TrialPeriodDays < 0 || t.TrialPeriodDays > 730:
		return inputErr("trial_period_days is %d: Stripe allows a trial of 1 to 730 days (omit it for none)", t.TrialPeriodDays)
	case t.TrialPeriodDays > 0 && interval == "":
		return inputErr("trial_period_days applies to recurring prices only: set interval (e.g. month), or drop trial_period_days for a one-time price")
	case t.MinQuantity < 0 || t.MinQuantity > vocab.MaxQuantity:
		return inputErr("min_quantity is %d: it must be 1 to %d (omit it for %d)", t.MinQuantity, vocab.MaxQuantity, vocab.DefaultMinQuantity)
	case t.MaxQuantity < 0 || t.MaxQuantity > vocab.MaxQuantity:
		return inputErr("max_quantity is %d: it must be 1 to %d (omit it for %d)", t.MaxQuantity, vocab.MaxQuantity, vocab.MaxQuantity)
	case t.MinQuantity > 0 && t.MaxQuantity > 0 && t.MinQuantity > t.MaxQuantity:
		return inputErr("min_quantity %d is above max_quantity %d", t.MinQuantity, t.MaxQuantity)
	}
	return nil
}

// metadata stamps the terms on a price's metadata.
func (t *PriceTermsInput) metadata(add func(k, v string)) {
	if t.TrialPeriodDays > 0 {
		add(vocab.MetaTrialPeriodDays, strconv.FormatInt(t.TrialPeriodDays, 10))
	}
	if t.AllowPromotionCodes {
		add(vocab.MetaAllowPromotionCodes, "true")
	}
	if t.AutomaticTax {
		add(vocab.MetaAutomaticTax, "true")
	}
	if t.MinQuantity > 0 {
		add(vocab.MetaMinQuantity, strconv.FormatInt(t.MinQuantity, 10))
	}
	if t.MaxQuantity > 0 {
		add(vocab.MetaMaxQuantity, strconv.FormatInt(t.MaxQuantity, 10))
	}
}

// priceTerms reads the terms back from a price's metadata.
func priceTerms(md map[string]string) PriceTermsResult {
	var t PriceTermsResult
	if n, err := strconv.ParseInt(md[vocab.MetaTrialPeriodDays], 10, 64); err == nil && n >= 1 && n <= 730 {
		t.TrialPeriodDays = n
	}
	t.AllowPromotionCodes = md[vocab.MetaAllowPromotionCodes] == "true"
	t.AutomaticTax = md[vocab.MetaAutomaticTax] == "true"
	t.MinQuantity, t.MaxQuantity = QuantityBounds(md)
	return t
}

// QuantityBounds reads a price's quantity bounds from its metadata, as
// billwire's SQL does: a bound that is not a whole number of 1 to 999, or
// a pair with min above max, reads as the defaults.
func QuantityBounds(md map[string]string) (lo, hi int64) {
	lo, hi = vocab.DefaultMinQuantity, vocab.MaxQuantity
	if n, err := strconv.ParseInt(md[vocab.MetaMinQuantity], 10, 64); err == nil && n >= 1 && n <= vocab.MaxQuantity {
		lo = n
	}
	if n, err := strconv.ParseInt(md[vocab.MetaMaxQuantity], 10, 64); err == nil && n >= 1 && n <= vocab.MaxQuantity {
		hi = n
	}
	if lo > hi {
		return vocab.DefaultMinQuantity, vocab.MaxQuantity
	}
	return lo, hi
}

// PriceTermsResult are a price's checkout terms as stored in Stripe.
type PriceTermsResult struct {
	TrialPeriodDays     int64 `json:"trial_period_days,omitempty"`
	AllowPromotionCodes bool  `json:"allow_promotion_codes,omitempty"`
	AutomaticTax        bool  `json:"automatic_tax,omitempty"`
	MinQuantity         int64 `json:"min_quantity"`
	MaxQuantity         int64 `json:"max_quantity"`
}

func (t PriceTermsResult) String() string {
	var parts []string
	if t.TrialPeriodDays > 0 {
		parts = append(parts, fmt.Sprintf("a %d-day trial", t.TrialPeriodDays))
	}
	if t.AllowPromotionCodes {
		parts = append(parts, "promotion codes")
	}
	if t.AutomaticTax {
		parts = append(parts, "automatic tax")
	}
	if t.MinQuantity != vocab.DefaultMinQuantity || t.MaxQuantity != vocab.MaxQuantity {
		parts = append(parts, fmt.Sprintf("quantity %d to %d", t.MinQuantity, t.MaxQuantity))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ProductResult is a created product as stored.
type ProductResult struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Active      bool              `json:"active"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// PriceResult is a created price as stored, with its human form.
type PriceResult struct {
	ID            string `json:"id"`
	ProductID     string `json:"product_id"`
	UnitAmount    int64  `json:"unit_amount"`
	Currency      string `json:"currency"`
	Interval      string `json:"interval,omitempty"`
	IntervalCount int64  `json:"interval_count,omitempty"`
	LookupKey     string `json:"lookup_key,omitempty"`
	Nickname      string `json:"nickname,omitempty"`
	// Display is the amount for a human, e.g. "20.00 USD / month": check it.
	Display string `json:"display"`
	// The terms end users get with the price (see PriceTermsInput).
	PriceTermsResult
	// Metered prices: the meter, the decimal amount and the package size.
	UsageType         string `json:"usage_type,omitempty"`
	MeterID           string `json:"meter_id,omitempty"`
	UnitAmountDecimal string `json:"unit_amount_decimal,omitempty"`
	PackageSize       int64  `json:"package_size,omitempty"`
}

// metered fills a metered price's fields and display from Stripe's answer.
func (out *PriceResult) metered(p *stripe.Price) {
	out.UsageType, out.MeterID = string(p.Recurring.UsageType), p.Recurring.Meter
	out.MinQuantity, out.MaxQuantity = 0, 0
	if p.UnitAmountDecimal != float64(p.UnitAmount) {
		out.UnitAmountDecimal = strconv.FormatFloat(p.UnitAmountDecimal, 'f', -1, 64)
	}
	if p.TransformQuantity != nil {
		out.PackageSize = p.TransformQuantity.DivideBy
	}
	out.Display = MeteredDisplay(out.UnitAmount, out.UnitAmountDecimal, out.Currency, out.Interval, out.IntervalCount, out.PackageSize)
}

func (in *ProductInput) validate() error {
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "":
		return inputErr("name is required: the product name customers see, e.g. \"Pro\"")
	case utf8.RuneCountInString(in.Name) > 250:
		return inputErr("name is %d characters; Stripe allows at most 250", utf8.RuneCountInString(in.Name))
	case len(in.Metadata) > 50:
		return inputErr("metadata has %d keys; Stripe allows at most 50", len(in.Metadata))
	}
	for k, v := range in.Metadata {
		if k == "" || utf8.RuneCountInString(k) > 40 || strings.ContainsAny(k, "[]") {
			return inputErr("metadata key %q is not allowed: keys are 1 to 40 characters without square brackets", k)
		}
		if utf8.RuneCountInString(v) > 500 {
			return inputErr("metadata value for %q is longer than Stripe's 500 characters", k)
		}
	}
	return nil
}

var maxIntervalCount = map[string]int64{"day": 1095, "week": 156, "month": 36, "year": 3}

func (in *PriceInput) validate() error {
	in.ProductID = strings.TrimSpace(in.ProductID)
	in.Currency = strings.ToLower(strings.TrimSpace(in.Currency))
	in.Interval = strings.ToLower(strings.TrimSpace(in.Interval))
	if in.ProductID == "" {
		return inputErr("product_id is required: a prod_… id from create_product or list_catalog")
	}
	if err := in.MeteredInput.validate(in.UnitAmount, in.Currency, in.Interval); err != nil {
		return err
	}
	if in.MeterID == "" {
		if err := money.ValidateAmount(in.UnitAmount, in.Currency); err != nil {
			return inputErr("%s", err)
		}
	} else if in.MinQuantity != 0 || in.MaxQuantity != 0 {
		return inputErr("min_quantity and max_quantity bound seats of licensed prices; a metered price has no quantity: drop them")
	}
	if in.Interval == "" {
		if in.IntervalCount != 0 {
			return inputErr("interval_count needs an interval: set interval to day, week, month or year, or drop interval_count for a one-time price")
		}
	} else {
		if !money.ValidInterval(in.Interval) {
			return inputErr("unknown interval %q: use day, week, month or year, or omit it for a one-time price", in.Interval)
		}
		if in.IntervalCount == 0 {
			in.IntervalCount = 1
		}
		if in.IntervalCount < 1 || in.IntervalCount > maxIntervalCount[in.Interval] {
			return inputErr("interval_count %d is out of range for %s: Stripe allows 1 to %d (at most three years)", in.IntervalCount, in.Interval, maxIntervalCount[in.Interval])
		}
	}
	if utf8.RuneCountInString(in.LookupKey) > 200 {
		return inputErr("lookup_key is longer than Stripe's 200 characters")
	}
	return in.PriceTermsInput.validate(in.Interval)
}

// CreateProduct creates a product in Stripe and stores it. A retry with the
// same arguments sends the same idempotency key, so Stripe creates one.
func (s *Service) CreateProduct(ctx context.Context, env vocab.Env, in ProductInput) (*ProductResult, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	st, c, e, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	return s.createProduct(ctx, st, c, e, in)
}

func (s *Service) createProduct(ctx context.Context, st *store.Store, c *stripeapi.Client, e *store.Environment, in ProductInput) (*ProductResult, error) {
	p := &stripe.ProductParams{Name: stripe.String(in.Name)}
	if in.Description != "" {
		p.Description = stripe.String(in.Description)
	}
	for k, v := range in.Metadata {
		p.AddMetadata(k, v)
	}
	fetched := time.Now()
	prod, raw, err := c.CreateProduct(ctx, p, stripeapi.IdempotencyKey("create_product", e.Env, e.AccountID, in))
	if err != nil {
		return nil, err
	}
	if _, err := st.Upsert(ctx, e.Env, vocab.Products, []json.RawMessage{raw}, fetched); err != nil {
		return nil, fmt.Errorf("product %s was created in Stripe but not stored (%w); retry the same call: Stripe will return the same product", prod.ID, err)
	}
	s.log.Info().Str("env", string(e.Env)).Str("product", prod.ID).Msg("product created")
	return &ProductResult{ID: prod.ID, Name: prod.Name, Description: prod.Description, Active: prod.Active, Metadata: prod.Metadata}, nil
}

// CreatePrice creates a price for a product, storing the product first when
// billwire has not seen it yet, so a price is never stored without it.
func (s *Service) CreatePrice(ctx context.Context, env vocab.Env, in PriceInput) (*PriceResult, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	st, c, e, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	missing, err := st.MissingProducts(ctx, env, []string{in.ProductID})
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		if err := s.FetchProducts(ctx, st, c, env, missing); err != nil {
			if stripeapi.IsNotFound(err) {
				return nil, inputErr("product %q does not exist in this Stripe account's %s mode: create it with create_product (or use create_plan for product and price in one call), or find the id with list_catalog", in.ProductID, env)
			}
			return nil, err
		}
	}
	return s.createPrice(ctx, st, c, e, in)
}

func (s *Service) createPrice(ctx context.Context, st *store.Store, c *stripeapi.Client, e *store.Environment, in PriceInput) (*PriceResult, error) {
	if in.MeterID != "" {
		if _, err := s.activeMeter(ctx, st, c, e.Env, in.MeterID); err != nil {
			return nil, err
		}
	}
	p := &stripe.PriceParams{
		Product:    stripe.String(in.ProductID),
		UnitAmount: stripe.Int64(in.UnitAmount),
		Currency:   stripe.String(in.Currency),
	}
	if in.Interval != "" {
		p.Recurring = &stripe.PriceRecurringParams{Interval: stripe.String(in.Interval), IntervalCount: stripe.Int64(in.IntervalCount)}
	}
	if in.LookupKey != "" {
		p.LookupKey = stripe.String(in.LookupKey)
	}
	if in.Nickname != "" {
		p.Nickname = stripe.String(in.Nickname)
	}
	in.PriceTermsInput.metadata(p.AddMetadata)
	in.MeteredInput.params(p)
	fetched := time.Now()
	price, raw, err := c.CreatePrice(ctx, p, stripeapi.IdempotencyKey("create_price", e.Env, e.AccountID, in))
	if err != nil {
		return nil, err
	}
	if _, err := st.Upsert(ctx, e.Env, vocab.Prices, []json.RawMessage{raw}, fetched); err != nil {
		return nil, fmt.Errorf("price %s was created in Stripe but not stored (%w); retry the same call: Stripe will return the same price", price.ID, err)
	}
	s.log.Info().Str("env", string(e.Env)).Str("price", price.ID).Msg("price created")
	out := &PriceResult{ID: price.ID, ProductID: in.ProductID, UnitAmount: price.UnitAmount, Currency: string(price.Currency),
		LookupKey: price.LookupKey, Nickname: price.Nickname, PriceTermsResult: priceTerms(price.Metadata)}
	if price.Recurring != nil {
		out.Interval, out.IntervalCount = string(price.Recurring.Interval), price.Recurring.IntervalCount
	}
	out.Display = money.FormatPrice(out.UnitAmount, out.Currency, out.Interval, out.IntervalCount)
	if price.Recurring != nil && price.Recurring.UsageType == stripe.PriceRecurringUsageTypeMetered {
		out.metered(price)
	}
	return out, nil
}

// PlanInput is what create_plan takes: a product and its price in one call.
type PlanInput struct {
	Name       string
	UnitAmount int64
	Currency   string
	Interval   string
	LookupKey  string
	PriceTermsInput
	MeteredInput
}

// PlanResult is a created product with its price.
type PlanResult struct {
	Product ProductResult `json:"product"`
	Price   PriceResult   `json:"price"`
}

// CreatePlan creates a product and its price. Both inputs are checked before
// Stripe is called; a retry after a failure finishes the job without
// creating anything twice.
func (s *Service) CreatePlan(ctx context.Context, env vocab.Env, in PlanInput) (*PlanResult, error) {
	prodIn := ProductInput{Name: in.Name}
	priceIn := PriceInput{ProductID: "(new)", UnitAmount: in.UnitAmount, Currency: in.Currency, Interval: in.Interval, LookupKey: in.LookupKey,
		PriceTermsInput: in.PriceTermsInput, MeteredInput: in.MeteredInput}
	if err := prodIn.validate(); err != nil {
		return nil, err
	}
	if err := priceIn.validate(); err != nil {
		return nil, err
	}
	st, c, e, err := s.stripeFor(ctx, env)
	if err != nil {
		return nil, err
	}
	if priceIn.MeterID != "" {
		if _, err := s.activeMeter(ctx, st, c, env, priceIn.MeterID); err != nil {
			return nil, err
		}
	}
	prod, err := s.createProduct(ctx, st, c, e, prodIn)
	if err != nil {
		return nil, err
	}
	priceIn.ProductID = prod.ID
	price, err := s.createPrice(ctx, st, c, e, priceIn)
	if err != nil {
		return nil, fmt.Errorf("product %s was created, but its price was not: %w; retry the same create_plan call to finish (nothing is created twice)", prod.ID, err)
	}
	return &PlanResult{Product: *prod, Price: *price}, nil
}

// FetchProducts retrieves products from Stripe and stores them: one by id,
// more a hundred at a time with the list endpoint's ids filter.
func (s *Service) FetchProducts(ctx context.Context, st *store.Store, c *stripeapi.Client, env vocab.Env, ids []string) error {
	fetched := time.Now()
	if len(ids) == 1 {
		raw, err := c.Product(ctx, ids[0])
		if err != nil {
			return err
		}
		_, err = st.Upsert(ctx, env, vocab.Products, []json.RawMessage{raw}, fetched)
		return err
	}
	for chunk := range slices.Chunk(ids, 100) {
		page, err := c.ListProducts(ctx, "", len(chunk), url.Values{"ids[]": chunk})
		if err != nil {
			return err
		}
		if len(page.Data) < len(chunk) {
			return fmt.Errorf("stripe returned %d of the %d products that prices refer to", len(page.Data), len(chunk))
		}
		if _, err := st.Upsert(ctx, env, vocab.Products, page.Data, fetched); err != nil {
			return err
		}
	}
	return nil
}
