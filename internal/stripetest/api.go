package stripetest

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// collection describes one listable kind. Objects are addressed by their
// position in the list order: seeded objects 0..seeds-1, then the objects
// created in the scope.
type collection struct {
	noun   string // "price", as in "No such price"
	path   string // "/v1/prices"
	prefix string // "price_"
	seeds  int

	// filters and arrayFilters are the list parameters besides pagination.
	filters, arrayFilters []string

	// The functions below except seed, create, update and remove are
	// called with f.mu held.
	createdCount func(sc *scope) int
	createdIndex func(sc *scope, id string) (int, bool)
	// created returns a copy of created object j, safe to encode
	// after f.mu is released.
	created func(sc *scope, j int) any
	// matcher builds the list filter from the parameters.
	matcher func(sc *scope, params url.Values) (func(pos int) bool, *response)

	seed   func(i int, live bool) any
	create func(q *apiRequest) response // nil if the kind cannot be created

	// update and remove serve POST and DELETE /v1/<kind>/<id>; nil if the
	// kind cannot be updated or deleted.
	update, remove func(q *apiRequest, id string) response
}

// position returns the list position of the object with the given id.
func (c *collection) position(sc *scope, id string) (int, bool) {
	if i, ok := parseSeedID(c.prefix, id); ok && i < c.seeds {
		return i, true
	}
	if j, ok := c.createdIndex(sc, id); ok {
		return c.seeds + j, true
	}
	return 0, false
}

// collection returns the collection served under /v1/<name>.
func (f *Fake) collection(name string) *collection {
	s := f.seeds
	switch name {
	case "products":
		return &collection{
			noun: "product", path: "/v1/products", prefix: "prod_", seeds: s.products,
			filters: []string{"active"}, arrayFilters: []string{"ids"},
			createdCount: func(sc *scope) int { return len(sc.products) },
			createdIndex: func(sc *scope, id string) (int, bool) { j, ok := sc.productIdx[id]; return j, ok },
			created:      func(sc *scope, j int) any { p := *sc.products[j]; return &p },
			matcher:      f.productMatcher,
			seed:         func(i int, live bool) any { return seedProduct(s, i, live) },
			create:       f.createProduct,
		}
	case "prices":
		return &collection{
			noun: "price", path: "/v1/prices", prefix: "price_", seeds: s.prices,
			filters: []string{"active", "currency", "product", "type"}, arrayFilters: []string{"lookup_keys"},
			createdCount: func(sc *scope) int { return len(sc.prices) },
			createdIndex: func(sc *scope, id string) (int, bool) { j, ok := sc.priceIdx[id]; return j, ok },
			created:      func(sc *scope, j int) any { p := *sc.prices[j]; return &p },
			matcher:      f.priceMatcher,
			seed:         func(i int, live bool) any { return seedPrice(s, i, live) },
			create:       f.createPrice,
		}
	case "customers":
		return &collection{
			noun: "customer", path: "/v1/customers", prefix: "cus_", seeds: s.customers,
			filters:      []string{"email"},
			createdCount: func(*scope) int { return 0 },
			createdIndex: func(*scope, string) (int, bool) { return 0, false },
			matcher:      f.customerMatcher,
			seed:         func(i int, live bool) any { return seedCustomer(s, i, live) },
		}
	case "subscriptions":
		return &collection{
			noun: "subscription", path: "/v1/subscriptions", prefix: "sub_", seeds: s.subscriptions,
			filters:      []string{"customer", "price", "status"},
			createdCount: func(*scope) int { return 0 },
			createdIndex: func(*scope, string) (int, bool) { return 0, false },
			matcher:      f.subscriptionMatcher,
			seed:         func(i int, live bool) any { return seedSubscription(s, i, live) },
		}
	case "invoices":
		return f.invoiceCollection()
	case "webhook_endpoints":
		return &collection{
			noun: "webhook endpoint", path: "/v1/webhook_endpoints", prefix: "we_",
			createdCount: func(sc *scope) int { return len(sc.endpoints) },
			createdIndex: func(sc *scope, id string) (int, bool) { j, ok := sc.endpointIdx[id]; return j, ok },
			created:      func(sc *scope, j int) any { e := *sc.endpoints[j]; return &e },
			matcher:      func(*scope, url.Values) (func(int) bool, *response) { return func(int) bool { return true }, nil },
			create:       f.createWebhookEndpoint,
			update:       f.updateWebhookEndpoint,
			remove:       f.deleteWebhookEndpoint,
		}
	}
	return nil
}

// route returns the handler for q, or nil for an unknown URL.
func (f *Fake) route(q *apiRequest) func(*apiRequest) response {
	rest, ok := strings.CutPrefix(q.path, "/v1/")
	if !ok {
		return nil
	}
	if h := f.routeEntitlements(q, rest); h != nil {
		return h
	}
	if h := f.routePortal(q, rest); h != nil {
		return h
	}
	if h := f.routeLineItems(q, rest); h != nil {
		return h
	}
	if h := f.routeCheckout(q, rest); h != nil {
		return h
	}
	if h := f.routeSubscriptions(q, rest); h != nil {
		return h
	}
	// Checkout sessions are the one kind nested a level deeper.
	var name, id string
	var hasID bool
	if s, ok := strings.CutPrefix(rest, "checkout/sessions"); ok && (s == "" || s[0] == '/') {
		name, id, hasID = "checkout/sessions", strings.TrimPrefix(s, "/"), s != ""
	} else {
		name, id, hasID = strings.Cut(rest, "/")
	}
	if hasID && (id == "" || strings.Contains(id, "/")) {
		return nil
	}
	switch name {
	case "account":
		if !hasID && q.method == http.MethodGet {
			return f.getAccount
		}
		return nil
	case "events":
		switch {
		case q.method != http.MethodGet:
			return nil
		case hasID:
			return func(q *apiRequest) response { return f.retrieveEvent(q, id) }
		}
		return f.listEvents
	}
	c := f.collection(name)
	if object, ok := storedKinds[name]; ok && q.method == http.MethodGet && hasID {
		return func(q *apiRequest) response { return f.retrieveStored(object, c, q, id) }
	}
	switch {
	case c == nil:
		return nil
	case q.method == http.MethodGet && hasID:
		return func(q *apiRequest) response { return f.retrieve(c, q, id) }
	case q.method == http.MethodGet:
		return func(q *apiRequest) response { return f.list(c, q) }
	case q.method == http.MethodPost && !hasID && c.create != nil:
		return c.create
	case q.method == http.MethodPost && hasID && c.update != nil:
		return func(q *apiRequest) response { return c.update(q, id) }
	case q.method == http.MethodDelete && hasID && c.remove != nil:
		return func(q *apiRequest) response { return c.remove(q, id) }
	}
	return nil
}

// getAccount serves GET /v1/account.
func (f *Fake) getAccount(q *apiRequest) response {
	if r := checkParams(q.params, nil, nil, nil); r != nil {
		return *r
	}
	if f.opts.RestrictedNoAccount && strings.HasPrefix(q.key, "rk_") {
		return invalidRequest(http.StatusForbidden, "", "", fmt.Sprintf(
			"The provided key '%s' does not have the required permissions for this endpoint on account '%s'. Having the 'rak_accounts_kyc_basic_read' permission would allow this request to continue.",
			maskKey(q.key), q.account))
	}
	return jsonResponse(http.StatusOK, accountObject(q.account))
}

// AccountName returns the display name (settings.dashboard.display_name and
// business_profile.name) the fake reports for account id acct.
func AccountName(acct string) string { return "Fake Account " + acct }

// accountEmail returns the email the fake reports for account id acct.
func accountEmail(acct string) string { return strings.ToLower(acct) + "@example.com" }

func accountObject(acct string) map[string]any {
	name := AccountName(acct)
	return map[string]any{
		"id":     acct,
		"object": "account",
		"business_profile": map[string]any{
			"annual_revenue":         nil,
			"estimated_worker_count": nil,
			"mcc":                    nil,
			"name":                   name,
			"product_description":    nil,
			"support_address":        nil,
			"support_email":          nil,
			"support_phone":          nil,
			"support_url":            nil,
			"url":                    nil,
		},
		"business_type":     "company",
		"capabilities":      map[string]any{"card_payments": "active", "transfers": "active"},
		"charges_enabled":   true,
		"controller":        map[string]any{"type": "account"},
		"country":           "US",
		"created":           seedEpoch,
		"default_currency":  "usd",
		"details_submitted": true,
		"email":             accountEmail(acct),
		"external_accounts": map[string]any{
			"object":   "list",
			"data":     emptyObjects,
			"has_more": false,
			"url":      "/v1/accounts/" + acct + "/external_accounts",
		},
		"future_requirements": noRequirements(),
		"metadata":            emptyMetadata,
		"payouts_enabled":     true,
		"requirements":        noRequirements(),
		"settings": map[string]any{
			"bacs_debit_payments": map[string]any{"display_name": nil, "service_user_number": nil},
			"branding":            map[string]any{"icon": nil, "logo": nil, "primary_color": nil, "secondary_color": nil},
			"card_issuing":        map[string]any{"tos_acceptance": map[string]any{"date": nil, "ip": nil}},
			"card_payments": map[string]any{
				"decline_on":                        map[string]any{"avs_failure": true, "cvc_failure": true},
				"statement_descriptor_prefix":       nil,
				"statement_descriptor_prefix_kana":  nil,
				"statement_descriptor_prefix_kanji": nil,
			},
			"dashboard": map[string]any{
				"display_name": name,
				"timezone":     "Etc/UTC",
			},
			"payments": map[string]any{
				"statement_descriptor":              strings.ToUpper(name[:min(len(name), 22)]),
				"statement_descriptor_kana":         nil,
				"statement_descriptor_kanji":        nil,
				"statement_descriptor_prefix_kana":  nil,
				"statement_descriptor_prefix_kanji": nil,
			},
			"invoices": map[string]any{"default_account_tax_ids": nil},
			"payouts": map[string]any{
				"debit_negative_balances": true,
				"schedule":                map[string]any{"delay_days": 2, "interval": "daily"},
				"statement_descriptor":    nil,
			},
			"sepa_debit_payments": map[string]any{},
		},
		"tos_acceptance": map[string]any{"date": seedEpoch, "ip": "127.0.0.1", "user_agent": nil},
		"type":           "standard",
	}
}

// noRequirements is the requirements hash of a fully verified account.
func noRequirements() map[string]any {
	return map[string]any{
		"alternatives":         emptyObjects,
		"current_deadline":     nil,
		"currently_due":        emptyStrings,
		"disabled_reason":      nil,
		"errors":               emptyObjects,
		"eventually_due":       emptyStrings,
		"past_due":             emptyStrings,
		"pending_verification": emptyStrings,
	}
}

// pageParams are the pagination parameters every list accepts.
var pageParams = []string{"limit", "starting_after", "ending_before"}

// list serves GET /v1/<kind>.
func (f *Fake) list(c *collection, q *apiRequest) response {
	if r := checkParams(q.params, append(slices.Clone(pageParams), c.filters...), c.arrayFilters, nil); r != nil {
		return *r
	}
	limit, after, before, r := parsePage(q.params)
	if r != nil {
		return *r
	}

	f.mu.Lock()
	sc := f.scopeLocked(q)
	match, r := c.matcher(sc, q.params)
	if r != nil {
		f.mu.Unlock()
		return *r
	}
	total := c.seeds + c.createdCount(sc)
	cursor := -1
	if id, param := cursorParam(after, before); id != "" {
		p, ok := c.position(sc, id)
		if !ok {
			f.mu.Unlock()
			return noSuch(c.noun, id, param)
		}
		cursor = p
	}
	positions, hasMore := paginate(total, limit, cursor, before != "", match)
	data := make([]any, len(positions))
	for i, p := range positions {
		if p >= c.seeds {
			data[i] = c.created(sc, p-c.seeds)
		}
	}
	f.mu.Unlock()

	for i, p := range positions {
		if p < c.seeds {
			data[i] = c.seed(p, q.live)
		}
	}
	return jsonResponse(http.StatusOK, listPage{Object: "list", URL: c.path, HasMore: hasMore, Data: data})
}

// retrieve serves GET /v1/<kind>/<id>.
func (f *Fake) retrieve(c *collection, q *apiRequest, id string) response {
	if r := checkParams(q.params, nil, nil, nil); r != nil {
		return *r
	}
	f.mu.Lock()
	sc := f.scopeLocked(q)
	p, ok := c.position(sc, id)
	var obj any
	if ok && p >= c.seeds {
		obj = c.created(sc, p-c.seeds)
	}
	f.mu.Unlock()
	if !ok {
		r := noSuch(c.noun, id, "id")
		r.status = http.StatusNotFound
		return r
	}
	if obj == nil {
		obj = c.seed(p, q.live)
	}
	return jsonResponse(http.StatusOK, obj)
}

// parsePage returns the page size and the cursors of a list request.
func parsePage(params url.Values) (limit int, after, before string, r *response) {
	limit, r = parseLimit(params)
	if r != nil {
		return 0, "", "", r
	}
	after, before = params.Get("starting_after"), params.Get("ending_before")
	if after != "" && before != "" {
		e := invalidRequest(http.StatusBadRequest, "parameters_exclusive", "ending_before",
			"You may only specify one of these parameters: ending_before, starting_after.")
		return 0, "", "", &e
	}
	return limit, after, before, nil
}

// cursorParam returns the pagination cursor and the parameter that gave it
// (none if both are empty; the caller has refused both together).
func cursorParam(after, before string) (id, param string) {
	if before != "" {
		return before, "ending_before"
	}
	if after != "" {
		return after, "starting_after"
	}
	return "", ""
}

// paginate returns a page of at most limit positions in 0..total-1 that
// match, in list order, and whether more matching positions lie beyond the
// page. Without a cursor (cursor < 0) the page starts at the top of the
// list; otherwise it holds the matching positions just after the cursor
// (starting_after) or, if backward, just before it (ending_before).
func paginate(total, limit, cursor int, backward bool, match func(int) bool) (positions []int, hasMore bool) {
	if backward {
		for p := cursor - 1; p >= 0; p-- {
			if match(p) {
				if len(positions) == limit {
					hasMore = true
					break
				}
				positions = append(positions, p)
			}
		}
		slices.Reverse(positions)
		return positions, hasMore
	}
	for p := cursor + 1; p < total; p++ {
		if match(p) {
			if len(positions) == limit {
				hasMore = true
				break
			}
			positions = append(positions, p)
		}
	}
	return positions, hasMore
}

func noSuch(noun, id, param string) response {
	return invalidRequest(http.StatusBadRequest, "resource_missing", param, fmt.Sprintf("No such %s: '%s'", noun, id))
}

func (f *Fake) productMatcher(sc *scope, params url.Values) (func(int) bool, *response) {
	active, activeSet, r := parseBool(params, "active")
	if r != nil {
		return nil, r
	}
	ids := arrayParam(params, "ids")
	seeds := f.seeds.products
	return func(p int) bool {
		var id string
		var isActive bool
		if p < seeds {
			id, isActive = "", true
		} else {
			pr := sc.products[p-seeds]
			id, isActive = pr.ID, pr.Active
		}
		if activeSet && isActive != active {
			return false
		}
		if len(ids) > 0 {
			if id == "" {
				id = seedID("prod_", p)
			}
			return slices.Contains(ids, id)
		}
		return true
	}, nil
}

func (f *Fake) priceMatcher(sc *scope, params url.Values) (func(int) bool, *response) {
	active, activeSet, r := parseBool(params, "active")
	if r != nil {
		return nil, r
	}
	typ := params.Get("type")
	currency, product := strings.ToLower(params.Get("currency")), params.Get("product")
	lookupKeys := arrayParam(params, "lookup_keys")
	s := f.seeds
	return func(p int) bool {
		if p < s.prices {
			// Seeded prices are active, recurring, in usd, without lookup key.
			return (!activeSet || active) &&
				(typ == "" || typ == "recurring") &&
				(currency == "" || currency == "usd") &&
				(product == "" || product == seedID("prod_", seedPriceProduct(s, p))) &&
				len(lookupKeys) == 0
		}
		pr := sc.prices[p-s.prices]
		return (!activeSet || pr.Active == active) &&
			(typ == "" || pr.Type == typ) &&
			(currency == "" || pr.Currency == currency) &&
			(product == "" || pr.Product == product) &&
			(len(lookupKeys) == 0 || pr.LookupKey != nil && slices.Contains(lookupKeys, *pr.LookupKey))
	}, nil
}

func (f *Fake) customerMatcher(_ *scope, params url.Values) (func(int) bool, *response) {
	email := params.Get("email")
	if email == "" {
		return func(int) bool { return true }, nil
	}
	return func(p int) bool { return seedCustomerEmail(p) == email }, nil
}

func (f *Fake) subscriptionMatcher(_ *scope, params url.Values) (func(int) bool, *response) {
	status := params.Get("status")
	// Every seeded subscription is active: the default (everything but
	// canceled), "all" and "active" select them all, any other status none.
	if status != "" && status != "all" && status != "active" {
		return func(int) bool { return false }, nil
	}
	s := f.seeds
	cust, custSet := -1, params.Get("customer") != ""
	if custSet {
		if i, ok := parseSeedID("cus_", params.Get("customer")); ok {
			cust = i
		}
	}
	price, priceSet := -1, params.Get("price") != ""
	if priceSet {
		if i, ok := parseSeedID("price_", params.Get("price")); ok {
			price = i
		}
	}
	return func(p int) bool {
		return (!custSet || seedSubscriptionCustomer(s, p) == cust) &&
			(!priceSet || seedSubscriptionPrice(s, p) == price)
	}, nil
}

// createProduct serves POST /v1/products.
func (f *Fake) createProduct(q *apiRequest) response {
	if r := checkParams(q.params,
		[]string{"active", "description", "id", "name", "shippable", "statement_descriptor", "tax_code", "unit_label", "url"},
		[]string{"images"}, []string{"metadata"}); r != nil {
		return *r
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, r := f.newProductLocked(q, "")
	if r != nil {
		return *r
	}
	return jsonResponse(http.StatusOK, p)
}

// newProductLocked validates the product parameters (under prefix, such as
// "product_data", if not empty) and creates the product.
func (f *Fake) newProductLocked(q *apiRequest, prefix string) (*product, *response) {
	name := func(n string) string {
		if prefix == "" {
			return n
		}
		return prefix + "[" + n + "]"
	}
	params := q.params
	sc := f.scopeLocked(q)
	// stripe-mock refuses a missing name but not an empty one.
	if v, ok := params[name("name")]; ok && v[0] == "" {
		return nil, emptyParam(name("name"))
	}
	active, activeSet, r := parseBool(params, name("active"))
	if r != nil {
		return nil, r
	}
	shippable, shippableSet, r := parseBool(params, name("shippable"))
	if r != nil {
		return nil, r
	}
	id := params.Get(name("id"))
	if id != "" {
		if _, exists := f.collection("products").position(sc, id); exists {
			r := invalidRequest(http.StatusBadRequest, "resource_already_exists", name("id"), "Product already exists.")
			return nil, &r
		}
	} else {
		id = f.newIDLocked("prod_")
	}
	now := time.Now().Unix()
	p := &product{
		ID:                  id,
		Object:              "product",
		Active:              !activeSet || active,
		Created:             now,
		Description:         optString(params, name("description")),
		Images:              arrayParam(params, name("images")),
		Livemode:            q.live,
		MarketingFeatures:   emptyObjects,
		Metadata:            mapParam(params, name("metadata")),
		Name:                params.Get(name("name")),
		StatementDescriptor: optString(params, name("statement_descriptor")),
		TaxCode:             optString(params, name("tax_code")),
		Type:                "service",
		UnitLabel:           optString(params, name("unit_label")),
		Updated:             now,
		URL:                 optString(params, name("url")),
	}
	if p.Images == nil {
		p.Images = emptyStrings
	}
	if shippableSet {
		p.Shippable = &shippable
	}
	sc.productIdx[p.ID] = len(sc.products)
	sc.products = append(sc.products, p)
	f.created[KindProduct]++
	cp := *p
	return &cp, nil
}

// createPrice serves POST /v1/prices.
func (f *Fake) createPrice(q *apiRequest) response {
	if r := checkParams(q.params,
		[]string{
			"active", "currency", "lookup_key", "nickname", "product", "tax_behavior",
			"transfer_lookup_key", "unit_amount", "unit_amount_decimal",
			"recurring[interval]", "recurring[interval_count]", "recurring[usage_type]",
			"product_data[active]", "product_data[id]", "product_data[name]",
			"product_data[statement_descriptor]", "product_data[tax_code]", "product_data[unit_label]",
		},
		nil, []string{"metadata", "product_data[metadata]"}); r != nil {
		return *r
	}
	params := q.params
	currency := strings.ToLower(params.Get("currency"))
	if len(currency) != 3 || strings.Trim(currency, "abcdefghijklmnopqrstuvwxyz") != "" {
		return invalidRequest(http.StatusBadRequest, "", "currency", fmt.Sprintf("Invalid currency: %s.", params.Get("currency")))
	}
	productID, hasProductData := params.Get("product"), hasPrefixedParam(params, "product_data[")
	switch {
	case productID != "" && hasProductData:
		return invalidRequest(http.StatusBadRequest, "parameters_exclusive", "product",
			"You may only specify one of these parameters: product, product_data.")
	case productID == "" && !hasProductData:
		return *missing("product")
	}
	active, activeSet, r := parseBool(params, "active")
	if r != nil {
		return *r
	}
	transfer, _, r := parseBool(params, "transfer_lookup_key")
	if r != nil {
		return *r
	}

	var unitAmount *int64
	var unitAmountDecimal *string
	_, hasAmount := params["unit_amount"]
	_, hasDecimal := params["unit_amount_decimal"]
	switch {
	case hasAmount && hasDecimal:
		return invalidRequest(http.StatusBadRequest, "parameters_exclusive", "unit_amount",
			"You may only specify one of these parameters: unit_amount, unit_amount_decimal.")
	case hasAmount:
		n, r := parseInt(params, "unit_amount")
		if r != nil {
			return *r
		}
		if n < 0 {
			return invalidRequest(http.StatusBadRequest, "", "unit_amount", "This value must be greater than or equal to 0.")
		}
		unitAmount, unitAmountDecimal = &n, ptr(strconv.FormatInt(n, 10))
	case hasDecimal:
		s := params.Get("unit_amount_decimal")
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || strings.ContainsAny(s, "eEnN+-") {
			return invalidRequest(http.StatusBadRequest, "", "unit_amount_decimal", "Invalid decimal: "+s)
		}
		unitAmountDecimal = ptr(strconv.FormatFloat(v, 'f', -1, 64))
		if v == float64(int64(v)) {
			unitAmount = ptr(int64(v))
		}
	default:
		return *missing("unit_amount")
	}

	var rec *recurring
	if hasPrefixedParam(params, "recurring[") {
		var r *response
		if rec, r = parseRecurring(params); r != nil {
			return *r
		}
	}

	taxBehavior := cmp.Or(params.Get("tax_behavior"), "unspecified")
	lookupKey := optString(params, "lookup_key")
	if lookupKey != nil && len(*lookupKey) > 200 {
		return invalidRequest(http.StatusBadRequest, "", "lookup_key", "Lookup keys must be at most 200 characters.")
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.scopeLocked(q)
	var holder *price
	if lookupKey != nil {
		for _, p := range sc.prices {
			if p.LookupKey != nil && *p.LookupKey == *lookupKey {
				holder = p
				break
			}
		}
		if holder != nil && !transfer {
			return invalidRequest(http.StatusBadRequest, "", "lookup_key",
				fmt.Sprintf("A price (`%s`) already uses that lookup key.", holder.ID))
		}
	}
	if productID != "" {
		if _, ok := f.collection("products").position(sc, productID); !ok {
			return noSuch("product", productID, "product")
		}
	} else {
		p, r := f.newProductLocked(q, "product_data")
		if r != nil {
			return *r
		}
		productID = p.ID
	}
	if holder != nil {
		holder.LookupKey = nil
	}
	typ := "one_time"
	if rec != nil {
		typ = "recurring"
	}
	p := &price{
		ID:                f.newIDLocked("price_"),
		Object:            "price",
		Active:            !activeSet || active,
		BillingScheme:     "per_unit",
		Created:           time.Now().Unix(),
		Currency:          currency,
		Livemode:          q.live,
		LookupKey:         lookupKey,
		Metadata:          mapParam(params, "metadata"),
		Nickname:          optString(params, "nickname"),
		Product:           productID,
		Recurring:         rec,
		TaxBehavior:       taxBehavior,
		Type:              typ,
		UnitAmount:        unitAmount,
		UnitAmountDecimal: unitAmountDecimal,
	}
	sc.priceIdx[p.ID] = len(sc.prices)
	sc.prices = append(sc.prices, p)
	f.created[KindPrice]++
	return jsonResponse(http.StatusOK, p)
}

// parseRecurring reads the recurring parameters. stripe-mock checks the
// interval and usage type against Stripe's enums; the fake adds the limit
// on the interval count, which the spec does not state.
func parseRecurring(params url.Values) (*recurring, *response) {
	rec := &recurring{Interval: params.Get("recurring[interval]"), IntervalCount: 1,
		UsageType: cmp.Or(params.Get("recurring[usage_type]"), "licensed")}
	if params.Get("recurring[interval_count]") != "" {
		n, r := parseInt(params, "recurring[interval_count]")
		if r != nil {
			return nil, r
		}
		maxCount := map[string]int64{"day": 1095, "week": 156, "month": 36, "year": 3}[rec.Interval]
		if n < 1 || n > maxCount {
			r := invalidRequest(http.StatusBadRequest, "", "recurring[interval_count]",
				"The maximum billing interval is 3 years; the interval count must be at least 1.")
			return nil, &r
		}
		rec.IntervalCount = n
	}
	if rec.UsageType == "metered" {
		rec.AggregateUsage = ptr("sum")
	}
	return rec, nil
}

// newIDLocked returns a new id for an object created through the fake.
func (f *Fake) newIDLocked(prefix string) string {
	f.nextID++
	return fmt.Sprintf("%sfake%08d", prefix, f.nextID)
}
