package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/money"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// TestIDMetadataKey is the metadata key promote_catalog stamps on the live
// copy of a test product or price: the test object's id. A re-run finds
// the copies by it, so nothing is copied twice.
const TestIDMetadataKey = "billwire_test_id"

// The actions promote_catalog reports for each product and price.
const (
	ActionWouldCreate = "would_create" // dry run: a live copy would be created
	ActionCreated     = "created"      // a live copy was created
	ActionExists      = "exists"       // a live copy exists (billwire_test_id or the price map)
	ActionAdopt       = "would_adopt"  // dry run: a live price with the same lookup key and terms would be mapped
	ActionAdopted     = "adopted"      // a live price with the same lookup key and terms was mapped
	ActionConflict    = "conflict"     // a different live price holds the lookup key: nothing done
	ActionUnsupported = "unsupported"  // a price billwire cannot copy faithfully: nothing done
	ActionWouldAttach = "would_attach" // dry run: a feature would be attached to the live product
	ActionAttached    = "attached"     // a feature was attached to the live product
)

// PromotedProduct is what promote_catalog did (or would do) with a test product.
type PromotedProduct struct {
	TestID string `json:"test_product_id"`
	Name   string `json:"name"`
	Action string `json:"action"`
	LiveID string `json:"live_product_id,omitempty"`
}

// PromotedPrice is what promote_catalog did (or would do) with a test price.
type PromotedPrice struct {
	TestID        string `json:"test_price_id"`
	TestProductID string `json:"test_product_id"`
	LookupKey     string `json:"lookup_key,omitempty"`
	Display       string `json:"display"`
	Action        string `json:"action"`
	LiveID        string `json:"live_price_id,omitempty"`
	Reason        string `json:"reason,omitempty"`
}

// PromotedFeature is what promote_catalog did (or would do) with an
// entitlement feature attached to a test product.
type PromotedFeature struct {
	TestProductID string `json:"test_product_id"`
	LiveProductID string `json:"live_product_id,omitempty"`
	LookupKey     string `json:"lookup_key"`
	// Action is exists (already attached in live), would_attach or attached.
	Action string `json:"action"`
	// Feature is the live feature by that lookup key: existing, created or
	// (dry run) would_create.
	Feature string `json:"feature,omitempty"`
}

// PromoteResult reports a promote_catalog run.
type PromoteResult struct {
	DryRun        bool              `json:"dry_run"`
	TestAccountID string            `json:"test_account_id"`
	LiveAccountID string            `json:"live_account_id,omitempty"`
	LiveKey       string            `json:"live_key"`
	Products      []PromotedProduct `json:"products"`
	Prices        []PromotedPrice   `json:"prices"`
	Features      []PromotedFeature `json:"features"`
	Meters        []PromotedMeter   `json:"meters"`
	Counts        map[string]int    `json:"counts"`
	Warnings      []string          `json:"warnings,omitempty"`
	NextStep      string            `json:"next_step"`
}

// liveKeyMissing is the instruction for a human when no live key is set.
const liveKeyMissing = "no live Stripe key is set: live keys never pass through MCP; ask the human to run `billwire keys set --env live` in a terminal (it reads the key from standard input), then call promote_catalog again"

// PromoteCatalog copies the active test products and their active prices
// to live mode and records the test→live price map. It is idempotent: each
// live copy carries billwire_test_id in its metadata and is created with an
// idempotency key derived from the test id, so a re-run maps the copies it
// finds instead of creating new ones. A live price that already holds a
// test price's lookup key is adopted when its terms match and reported as a
// conflict otherwise. With dryRun nothing is written anywhere; it reports
// what would be created (without a live key, as if live mode were empty).
func (s *Service) PromoteCatalog(ctx context.Context, dryRun bool) (*PromoteResult, error) {
	st, testC, testE, err := s.stripeFor(ctx, vocab.Test)
	if err != nil {
		return nil, fmt.Errorf("promote_catalog reads the test catalog from Stripe: %w", err)
	}
	res := &PromoteResult{DryRun: dryRun, TestAccountID: testE.AccountID, Products: []PromotedProduct{}, Prices: []PromotedPrice{}, Features: []PromotedFeature{}, Meters: []PromotedMeter{}, Counts: map[string]int{}}
	liveC, liveE, err := s.liveTarget(ctx, res, testE, dryRun)
	if err != nil {
		return nil, err
	}
	in, err := readPromotion(ctx, st, testC, liveC)
	if err != nil {
		return nil, err
	}
	p := &promotion{s: s, st: st, c: liveC, e: liveE, res: res, dryRun: dryRun, liveRaw: in.live.productRaw}
	if err := p.run(ctx, testC, in); err != nil {
		return nil, err
	}
	res.count()
	res.NextStep = p.nextStep()
	if !dryRun {
		s.log.Info().Int("products", len(res.Products)).Int("prices", len(res.Prices)).Msg("catalog promoted to live")
	}
	return res, nil
}

// liveTarget is the live client and environment a promotion writes to,
// reported on res; without a live key, a dry run reports as if live mode
// were empty (nil client) and a real run is refused.
func (s *Service) liveTarget(ctx context.Context, res *PromoteResult, testE *store.Environment, dryRun bool) (*stripeapi.Client, *store.Environment, error) {
	_, liveC, liveE, err := s.stripeFor(ctx, vocab.Live)
	switch {
	case errors.Is(err, ErrNotConfigured) && dryRun:
		res.LiveKey = "missing"
		res.Warnings = append(res.Warnings, liveKeyMissing)
		return nil, nil, nil
	case errors.Is(err, ErrNotConfigured):
		return nil, nil, errors.New(liveKeyMissing)
	case err != nil:
		return nil, nil, err
	}
	res.LiveKey, res.LiveAccountID = liveE.KeyMasked, liveE.AccountID
	if liveE.AccountID != testE.AccountID {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the test key belongs to account %s and the live key to %s: the catalog is copied across accounts (fine for a Stripe sandbox; otherwise check the keys)", testE.AccountID, liveE.AccountID))
	}
	return liveC, liveE, nil
}

// promotionInput is what a promotion reads before it writes: the active
// test catalog, what live mode holds, and the test→live price map.
type promotionInput struct {
	products   []listed[stripe.Product]
	prices     []listed[stripe.Price]
	live       *liveCatalog
	mappedLive map[string]string // test price id → live price id
}

// readPromotion reads a promotion's input; liveC nil reads live mode as empty.
func readPromotion(ctx context.Context, st *store.Store, testC, liveC *stripeapi.Client) (*promotionInput, error) {
	testProducts, err := listAll[stripe.Product](ctx, testC.ListProducts, url.Values{"active": {"true"}})
	if err != nil {
		return nil, err
	}
	testPrices, err := listAll[stripe.Price](ctx, testC.ListPrices, url.Values{"active": {"true"}})
	if err != nil {
		return nil, err
	}
	live := &liveCatalog{products: map[string]listed[stripe.Product]{}, prices: map[string]listed[stripe.Price]{},
		byLookupKey: map[string]listed[stripe.Price]{}, byID: map[string]listed[stripe.Price]{}, productRaw: map[string]json.RawMessage{}}
	if liveC != nil {
		if err := live.load(ctx, liveC); err != nil {
			return nil, err
		}
	}
	mapped, err := st.PriceMap(ctx)
	if err != nil {
		return nil, err
	}
	mappedLive := map[string]string{}
	for _, m := range mapped {
		mappedLive[m.TestPriceID] = m.LivePriceID
	}
	return &promotionInput{products: testProducts, prices: testPrices, live: live, mappedLive: mappedLive}, nil
}

// run promotes the products (oldest first), then their prices, then the
// products' features.
func (p *promotion) run(ctx context.Context, testC *stripeapi.Client, in *promotionInput) error {
	sort.SliceStable(in.products, func(i, j int) bool { return in.products[i].v.Created < in.products[j].v.Created })
	adoptable := adoptableProducts(in.prices, in.live)
	liveProduct := map[string]string{} // test product id → live product id ("" in a dry run before creation)
	for _, tp := range in.products {
		id, err := p.product(ctx, tp, in.live, adoptable[tp.v.ID])
		if err != nil {
			return err
		}
		liveProduct[tp.v.ID] = id
	}
	var err error
	if p.liveMeters, err = p.meters(ctx, testC); err != nil {
		return err
	}
	sort.SliceStable(in.prices, func(i, j int) bool { return in.prices[i].v.Created < in.prices[j].v.Created })
	for _, tp := range in.prices {
		productID := ""
		if tp.v.Product != nil {
			productID = tp.v.Product.ID
		}
		liveProd, ok := liveProduct[productID]
		if !ok {
			continue // its product is archived: not part of the active catalog
		}
		if err := p.price(ctx, tp, productID, liveProd, in.mappedLive[tp.v.ID], in.live); err != nil {
			return err
		}
	}
	return p.features(ctx, testC, in.products, liveProduct)
}

// count fills Counts: products_, features_ and prices_ per action.
func (res *PromoteResult) count() {
	for _, pr := range res.Products {
		res.Counts["products_"+pr.Action]++
	}
	for _, f := range res.Features {
		res.Counts["features_"+f.Action]++
	}
	for _, m := range res.Meters {
		res.Counts["meters_"+m.Action]++
	}
	for _, pr := range res.Prices {
		res.Counts["prices_"+pr.Action]++
	}
}

// listed is an object decoded for reading, with the JSON Stripe sent for storing.
type listed[T any] struct {
	v   *T
	raw json.RawMessage
}

// listAll lists every page of a Stripe list (a stripeapi.Client's ListProducts, ListPrices, …).
func listAll[T any](ctx context.Context, list func(context.Context, string, int, url.Values) (*stripeapi.Page, error), filters url.Values) ([]listed[T], error) {
	var out []listed[T]
	after := ""
	for {
		page, err := list(ctx, after, 100, filters)
		if err != nil {
			return nil, err
		}
		for _, raw := range page.Data {
			v := new(T)
			if err := json.Unmarshal(raw, v); err != nil {
				return nil, fmt.Errorf("decode %T: %w", *new(T), err)
			}
			out = append(out, listed[T]{v: v, raw: raw})
		}
		if !page.HasMore || len(page.Data) == 0 {
			return out, nil
		}
		var last struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(page.Data[len(page.Data)-1], &last); err != nil {
			return nil, fmt.Errorf("decode %T: %w", *new(T), err)
		}
		after = last.ID
	}
}

// liveCatalog indexes what live mode holds.
type liveCatalog struct {
	products    map[string]listed[stripe.Product] // by billwire_test_id
	prices      map[string]listed[stripe.Price]   // by billwire_test_id
	byLookupKey map[string]listed[stripe.Price]   // active prices by lookup key
	byID        map[string]listed[stripe.Price]
	productRaw  map[string]json.RawMessage // every live product by id
}

func (l *liveCatalog) load(ctx context.Context, c *stripeapi.Client) error {
	prods, err := listAll[stripe.Product](ctx, c.ListProducts, nil)
	if err != nil {
		return err
	}
	for _, p := range prods {
		l.productRaw[p.v.ID] = p.raw
		if id := p.v.Metadata[TestIDMetadataKey]; id != "" {
			if _, dup := l.products[id]; !dup || p.v.Active {
				l.products[id] = p
			}
		}
	}
	prices, err := listAll[stripe.Price](ctx, c.ListPrices, nil)
	if err != nil {
		return err
	}
	for _, p := range prices {
		l.byID[p.v.ID] = p
		if id := p.v.Metadata[TestIDMetadataKey]; id != "" {
			if _, dup := l.prices[id]; !dup || p.v.Active {
				l.prices[id] = p
			}
		}
		if p.v.LookupKey != "" && p.v.Active {
			l.byLookupKey[p.v.LookupKey] = p
		}
	}
	return nil
}

// promotion is one promote_catalog run.
type promotion struct {
	s       *Service
	st      *store.Store
	c       *stripeapi.Client // live; nil in a dry run without a live key
	e       *store.Environment
	res     *PromoteResult
	dryRun  bool
	stored  map[string]bool            // live products stored in the mirror by this run
	liveRaw map[string]json.RawMessage // live products as listed
	// liveMeters maps active test meters to their live copies ("" in a dry
	// run before creation).
	liveMeters map[string]string
}

// adoptableProducts maps a test product to the live product that already
// sells it: the one product holding, with the same terms, the lookup keys
// of its prices (made by hand before go-live). A test product whose
// lookup keys are held on several live products maps to none.
func adoptableProducts(testPrices []listed[stripe.Price], live *liveCatalog) map[string]string {
	candidates := map[string]map[string]bool{}
	for _, tp := range testPrices {
		t := tp.v
		if t.Product == nil || t.LookupKey == "" {
			continue
		}
		if _, copied := live.prices[t.ID]; copied {
			continue
		}
		holder, ok := live.byLookupKey[t.LookupKey]
		if !ok || holder.v.Product == nil || !sameTerms(t, holder.v, "") {
			continue
		}
		if candidates[t.Product.ID] == nil {
			candidates[t.Product.ID] = map[string]bool{}
		}
		candidates[t.Product.ID][holder.v.Product.ID] = true
	}
	out := map[string]string{}
	for testID, lives := range candidates {
		if len(lives) == 1 {
			for id := range lives {
				out[testID] = id
			}
		}
	}
	return out
}

// product finds, adopts or creates the live copy of a test product and
// returns its id.
func (p *promotion) product(ctx context.Context, tp listed[stripe.Product], live *liveCatalog, adoptable string) (string, error) {
	t := tp.v
	out := PromotedProduct{TestID: t.ID, Name: t.Name}
	if lp, ok := live.products[t.ID]; ok {
		out.Action, out.LiveID = ActionExists, lp.v.ID
		p.res.Products = append(p.res.Products, out)
		if !p.dryRun {
			if err := p.storeLiveProduct(ctx, lp.v.ID, nil); err != nil {
				return "", err
			}
		}
		return lp.v.ID, nil
	}
	if adoptable != "" {
		out.LiveID = adoptable
		if p.dryRun {
			out.Action = ActionAdopt
			p.res.Products = append(p.res.Products, out)
			return adoptable, nil
		}
		if err := p.storeLiveProduct(ctx, adoptable, nil); err != nil {
			return "", err
		}
		out.Action = ActionAdopted
		p.res.Products = append(p.res.Products, out)
		return adoptable, nil
	}
	if p.dryRun {
		out.Action = ActionWouldCreate
		p.res.Products = append(p.res.Products, out)
		return "", nil
	}
	params := &stripe.ProductParams{Name: stripe.String(t.Name)}
	if t.Description != "" {
		params.Description = stripe.String(t.Description)
	}
	if t.UnitLabel != "" {
		params.UnitLabel = stripe.String(t.UnitLabel)
	}
	if t.StatementDescriptor != "" {
		params.StatementDescriptor = stripe.String(t.StatementDescriptor)
	}
	if t.URL != "" {
		params.URL = stripe.String(t.URL)
	}
	if t.TaxCode != nil && t.TaxCode.ID != "" {
		params.TaxCode = stripe.String(t.TaxCode.ID)
	}
	for _, img := range t.Images {
		params.Images = append(params.Images, stripe.String(img))
	}
	for k, v := range t.Metadata {
		params.AddMetadata(k, v)
	}
	params.AddMetadata(TestIDMetadataKey, t.ID)
	prod, raw, err := p.c.CreateProduct(ctx, params, stripeapi.IdempotencyKey("promote_product", p.e.AccountID, t.ID))
	if err != nil {
		return "", fmt.Errorf("copy product %s (%s) to live: %w; nothing after it was copied, call promote_catalog again to continue (nothing is created twice)", t.ID, t.Name, err)
	}
	if err := p.storeLiveProduct(ctx, prod.ID, raw); err != nil {
		return "", err
	}
	out.Action, out.LiveID = ActionCreated, prod.ID
	p.res.Products = append(p.res.Products, out)
	return prod.ID, nil
}

// storeLiveProduct mirrors a live product: raw as Stripe sent it, or,
// when raw is nil, as listed in live.
func (p *promotion) storeLiveProduct(ctx context.Context, id string, raw json.RawMessage) error {
	if p.stored == nil {
		p.stored = map[string]bool{}
	}
	if p.stored[id] {
		return nil
	}
	if raw == nil {
		raw = p.liveRaw[id]
	}
	if _, err := p.st.Upsert(ctx, vocab.Live, vocab.Products, []json.RawMessage{raw}, time.Now()); err != nil {
		return fmt.Errorf("live product %s is in Stripe but not stored (%w); call promote_catalog again", id, err)
	}
	p.stored[id] = true
	return nil
}

// features attaches to each live product the entitlement features (by
// lookup key) its test product has, creating the live features that do not
// exist yet. It adds; it never detaches.
func (p *promotion) features(ctx context.Context, testC *stripeapi.Client, testProducts []listed[stripe.Product], liveProduct map[string]string) error {
	type liveFeature struct{ id, report string }
	cache := map[string]liveFeature{} // by lookup key: each live feature is looked up once
	resolve := func(f *stripe.EntitlementsFeature) (liveFeature, error) {
		if lf, ok := cache[f.LookupKey]; ok {
			return lf, nil
		}
		lf := liveFeature{report: ActionWouldCreate}
		switch {
		case p.c == nil:
		case p.dryRun:
			found, err := p.c.FeatureByLookupKey(ctx, f.LookupKey)
			if err != nil {
				return lf, err
			}
			if found != nil {
				lf = liveFeature{found.ID, "existing"}
			}
		default:
			found, created, err := ensureFeature(ctx, p.c, vocab.Live, p.e.AccountID, f.LookupKey, f.Name)
			if err != nil {
				return lf, fmt.Errorf("copy feature %q to live: %w; call promote_catalog again to finish (nothing is created twice)", f.LookupKey, err)
			}
			lf = liveFeature{found.ID, "existing"}
			if created {
				lf.report = ActionCreated
			}
		}
		cache[f.LookupKey] = lf
		return lf, nil
	}
	for _, tp := range testProducts {
		attached, err := testC.ProductFeatures(ctx, tp.v.ID)
		if err != nil {
			return fmt.Errorf("read the features of test product %s: %w", tp.v.ID, err)
		}
		liveID := liveProduct[tp.v.ID]
		have := map[string]bool{}
		if len(attached) > 0 && liveID != "" && p.c != nil {
			lf, err := p.c.ProductFeatures(ctx, liveID)
			if err != nil {
				return fmt.Errorf("read the features of live product %s: %w", liveID, err)
			}
			for _, pf := range lf {
				if pf.EntitlementFeature != nil {
					have[pf.EntitlementFeature.LookupKey] = true
				}
			}
		}
		for _, pf := range attached {
			f := pf.EntitlementFeature
			if f == nil || f.LookupKey == "" {
				continue
			}
			out := PromotedFeature{TestProductID: tp.v.ID, LiveProductID: liveID, LookupKey: f.LookupKey, Action: ActionExists}
			if !have[f.LookupKey] {
				lf, err := resolve(f)
				if err != nil {
					return err
				}
				out.Action, out.Feature = ActionWouldAttach, lf.report
				if !p.dryRun {
					key := stripeapi.IdempotencyKey("attach_feature", vocab.Live, p.e.AccountID, liveID, lf.id)
					if _, err := p.c.AttachFeature(ctx, liveID, lf.id, key); err != nil {
						return fmt.Errorf("attach feature %q to live product %s: %w; call promote_catalog again to finish (nothing is attached twice)", f.LookupKey, liveID, err)
					}
					out.Action = ActionAttached
				}
			}
			p.res.Features = append(p.res.Features, out)
		}
	}
	return nil
}

// unsupported says why a price cannot be copied faithfully, or "".
func unsupported(t *stripe.Price, liveMeters map[string]string) string {
	if metered(t) {
		return meteredUnsupported(t, liveMeters)
	}
	switch {
	case t.BillingScheme == stripe.PriceBillingSchemeTiered:
		return "tiered pricing is not copied: create this price in live mode in the Stripe Dashboard, then call promote_catalog again (it adopts a live price with the same lookup key and terms)"
	case t.CustomUnitAmount != nil:
		return "customer-chosen amounts are not copied: create this price in live mode in the Stripe Dashboard"
	case t.TransformQuantity != nil:
		return "transform_quantity is not copied: create this price in live mode in the Stripe Dashboard"
	case t.UnitAmount == 0 && t.UnitAmountDecimal != 0 && float64(int64(t.UnitAmountDecimal)) != t.UnitAmountDecimal:
		return "fractional unit amounts are not copied: create this price in live mode in the Stripe Dashboard"
	}
	return ""
}

// sameTerms reports whether a live price charges what a test price does,
// for the live copy of its product.
func sameTerms(t, l *stripe.Price, liveProduct string) bool {
	interval := func(p *stripe.Price) (string, int64) {
		if p.Recurring == nil {
			return "", 0
		}
		return string(p.Recurring.Interval), p.Recurring.IntervalCount
	}
	ti, tc := interval(t)
	li, lc := interval(l)
	lp := ""
	if l.Product != nil {
		lp = l.Product.ID
	}
	return t.Currency == l.Currency && t.UnitAmount == l.UnitAmount && t.Type == l.Type && ti == li && tc == lc && sameUsage(t, l) &&
		(liveProduct == "" || lp == liveProduct)
}

func display(t *stripe.Price) string {
	if metered(t) {
		return meteredDisplay(t)
	}
	interval, count := "", int64(0)
	if t.Recurring != nil {
		interval, count = string(t.Recurring.Interval), t.Recurring.IntervalCount
	}
	return money.FormatPrice(t.UnitAmount, string(t.Currency), interval, count)
}

// price finds, adopts or creates the live copy of a test price.
func (p *promotion) price(ctx context.Context, tp listed[stripe.Price], testProduct, liveProduct, mappedLive string, live *liveCatalog) error {
	t := tp.v
	out := PromotedPrice{TestID: t.ID, TestProductID: testProduct, LookupKey: t.LookupKey, Display: display(t)}
	add := func(action, liveID, reason string) {
		out.Action, out.LiveID, out.Reason = action, liveID, reason
		p.res.Prices = append(p.res.Prices, out)
	}
	// A copy made earlier: by the price map, else by its metadata.
	existing, found := live.byID[mappedLive]
	if !found || !existing.v.Active {
		existing, found = live.prices[t.ID]
	}
	if found {
		add(ActionExists, existing.v.ID, "")
		return p.record(ctx, t, testProduct, liveProduct, existing)
	}
	if why := unsupported(t, p.liveMeters); why != "" {
		add(ActionUnsupported, "", why)
		return nil
	}
	if t.LookupKey != "" {
		if holder, ok := live.byLookupKey[t.LookupKey]; ok {
			if !sameTerms(t, holder.v, liveProduct) {
				add(ActionConflict, holder.v.ID, fmt.Sprintf("live price %s already uses lookup key %q with other terms (%s): archive it or move its lookup key in the Stripe Dashboard, or change the test price's lookup key; then call promote_catalog again", holder.v.ID, t.LookupKey, display(holder.v)))
				return nil
			}
			if tt, lt := priceTerms(t.Metadata), priceTerms(holder.v.Metadata); tt != lt {
				add(ActionConflict, holder.v.ID, fmt.Sprintf("live price %s has lookup key %q and the same amount, but other checkout terms (test: %s; live: %s): set the live price's metadata to the test price's (%s, %s, %s) in the Stripe Dashboard, or archive it; then call promote_catalog again", holder.v.ID, t.LookupKey, tt, lt, vocab.MetaTrialPeriodDays, vocab.MetaAllowPromotionCodes, vocab.MetaAutomaticTax))
				return nil
			}
			if p.dryRun {
				add(ActionAdopt, holder.v.ID, "")
				return nil
			}
			add(ActionAdopted, holder.v.ID, "")
			return p.record(ctx, t, testProduct, liveProduct, holder)
		}
	}
	if p.dryRun {
		add(ActionWouldCreate, "", "")
		return nil
	}
	params := &stripe.PriceParams{
		Product:    stripe.String(liveProduct),
		Currency:   stripe.String(string(t.Currency)),
		UnitAmount: stripe.Int64(t.UnitAmount),
	}
	if t.Recurring != nil {
		params.Recurring = &stripe.PriceRecurringParams{Interval: stripe.String(string(t.Recurring.Interval)), IntervalCount: stripe.Int64(t.Recurring.IntervalCount)}
	}
	if t.LookupKey != "" {
		params.LookupKey = stripe.String(t.LookupKey)
	}
	if t.Nickname != "" {
		params.Nickname = stripe.String(t.Nickname)
	}
	if t.TaxBehavior != "" && t.TaxBehavior != stripe.PriceTaxBehaviorUnspecified {
		params.TaxBehavior = stripe.String(string(t.TaxBehavior))
	}
	for k, v := range t.Metadata {
		params.AddMetadata(k, v)
	}
	params.AddMetadata(TestIDMetadataKey, t.ID)
	if metered(t) {
		meteredParams(params, t, p.liveMeters[t.Recurring.Meter])
	}
	price, raw, err := p.c.CreatePrice(ctx, params, stripeapi.IdempotencyKey("promote_price", p.e.AccountID, t.ID, liveProduct))
	if err != nil {
		return fmt.Errorf("copy price %s (%s) to live: %w; call promote_catalog again to continue (nothing is created twice)", t.ID, display(t), err)
	}
	add(ActionCreated, price.ID, "")
	return p.record(ctx, t, testProduct, liveProduct, listed[stripe.Price]{v: price, raw: raw})
}

// record stores the live price in the mirror and the mapping (not in a dry run).
func (p *promotion) record(ctx context.Context, t *stripe.Price, testProduct, liveProduct string, lp listed[stripe.Price]) error {
	if p.dryRun {
		return nil
	}
	if lp.v.Product != nil && lp.v.Product.ID != liveProduct {
		// A copy moved to another live product by hand: store that product too.
		liveProduct = lp.v.Product.ID
		if _, listed := p.liveRaw[liveProduct]; listed {
			if err := p.storeLiveProduct(ctx, liveProduct, nil); err != nil {
				return err
			}
		} else if err := p.s.FetchProducts(ctx, p.st, p.c, vocab.Live, []string{liveProduct}); err != nil {
			return err
		}
	}
	if _, err := p.st.Upsert(ctx, vocab.Live, vocab.Prices, []json.RawMessage{lp.raw}, time.Now()); err != nil {
		return fmt.Errorf("live price %s is in Stripe but not stored (%w); call promote_catalog again", lp.v.ID, err)
	}
	m := store.PriceMapping{TestPriceID: t.ID, LivePriceID: lp.v.ID, TestProductID: testProduct, LiveProductID: liveProduct}
	if t.LookupKey != "" {
		m.LookupKey = &t.LookupKey
	}
	return p.st.PutPriceMapping(ctx, m)
}

func (p *promotion) nextStep() string {
	blocked := 0
	for _, pr := range p.res.Prices {
		if pr.Action == ActionConflict || pr.Action == ActionUnsupported {
			blocked++
		}
	}
	var b strings.Builder
	switch {
	case p.c == nil:
		b.WriteString(liveKeyMissing)
	case p.dryRun:
		b.WriteString("review this list with the human; to copy, call promote_catalog with confirm_live: true (the server must run with --allow-live-writes)")
	default:
		b.WriteString("read billwire://price-map for the test→live ids; lookup keys resolve per environment, so the app keeps using them. Then set up live webhooks (setup_webhook with env live and confirm_live: true) and check_integration with env live")
	}
	if blocked > 0 {
		fmt.Fprintf(&b, ". %d price(s) were not copied: see each one's reason", blocked)
	}
	return b.String()
}

// PriceMap returns the test→live price map promote_catalog keeps.
func (s *Service) PriceMap(ctx context.Context) ([]store.PriceMapping, error) {
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, err
	}
	m, err := st.PriceMap(ctx)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = []store.PriceMapping{}
	}
	return m, nil
}
