package stripetest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Stripe Entitlements in the fake: features, the features attached to
// products, and customers' active entitlements.
//
//	GET, POST /v1/entitlements/features (list with lookup_key and archived filters, create)
//	GET       /v1/entitlements/features/{id}
//	GET, POST /v1/products/{id}/features (list, attach)
//	DELETE    /v1/products/{id}/features/{product_feature}
//	GET       /v1/entitlements/active_entitlements (customer required)
//
// As with Stripe, a feature's lookup_key is unique among the account's
// features, and a feature can be attached to a product once. Active
// entitlements are what SetActiveEntitlements says: the fake bills nothing.

// KindFeature is the kind CountCreated counts Entitlements features under.
const KindFeature = "entitlements.feature"

// feature is an entitlements.feature.
type feature struct {
	ID        string            `json:"id"`
	Object    string            `json:"object"`
	Active    bool              `json:"active"`
	Livemode  bool              `json:"livemode"`
	LookupKey string            `json:"lookup_key"`
	Metadata  map[string]string `json:"metadata"`
	Name      string            `json:"name"`
}

// productFeature is a product_feature: a feature attached to a product.
type productFeature struct {
	ID                 string  `json:"id"`
	Object             string  `json:"object"`
	EntitlementFeature feature `json:"entitlement_feature"`
	Livemode           bool    `json:"livemode"`
	product            string
}

// activeEntitlement is an entitlements.active_entitlement.
type activeEntitlement struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Feature   string `json:"feature"`
	Livemode  bool   `json:"livemode"`
	LookupKey string `json:"lookup_key"`
}

// entitlementState is one scope's entitlements.
type entitlementState struct {
	features []*feature
	attached []*productFeature
	active   map[string][]activeEntitlement // by customer
}

func (sc *scope) entitlementsLocked() *entitlementState {
	if sc.ent == nil {
		sc.ent = &entitlementState{active: map[string][]activeEntitlement{}}
	}
	return sc.ent
}

// routeEntitlements returns the handler of an entitlements path, or nil.
// rest is the path after /v1/.
func (f *Fake) routeEntitlements(q *apiRequest, rest string) func(*apiRequest) response {
	parts := strings.Split(rest, "/")
	switch {
	case rest == "entitlements/features" && q.method == http.MethodGet:
		return f.listFeatures
	case rest == "entitlements/features" && q.method == http.MethodPost:
		return f.createFeature
	case len(parts) == 3 && parts[0] == "entitlements" && parts[1] == "features" && parts[2] != "" && q.method == http.MethodGet:
		return func(q *apiRequest) response { return f.retrieveFeature(q, parts[2]) }
	case rest == "entitlements/active_entitlements" && q.method == http.MethodGet:
		return f.listActiveEntitlements
	case len(parts) == 3 && parts[0] == "products" && parts[1] != "" && parts[2] == "features":
		switch q.method {
		case http.MethodGet:
			return func(q *apiRequest) response { return f.listProductFeatures(q, parts[1]) }
		case http.MethodPost:
			return func(q *apiRequest) response { return f.attachFeature(q, parts[1]) }
		}
	case len(parts) == 4 && parts[0] == "products" && parts[2] == "features" && parts[3] != "" && q.method == http.MethodDelete:
		return func(q *apiRequest) response { return f.detachFeature(q, parts[1], parts[3]) }
	}
	return nil
}

// pageOf serves a page of objects (in list order) with their ids.
func pageOf[T any](q *apiRequest, path string, objs []T, id func(T) string) response {
	limit, after, before, r := parsePage(q.params)
	if r != nil {
		return *r
	}
	cursor := -1
	if cid, param := cursorParam(after, before); cid != "" {
		i := slices.IndexFunc(objs, func(o T) bool { return id(o) == cid })
		if i < 0 {
			return noSuch("object", cid, param)
		}
		cursor = i
	}
	positions, hasMore := paginate(len(objs), limit, cursor, before != "", func(int) bool { return true })
	data := make([]any, len(positions))
	for i, p := range positions {
		data[i] = objs[p]
	}
	return jsonResponse(http.StatusOK, listPage{Object: "list", URL: path, HasMore: hasMore, Data: data})
}

func (f *Fake) listFeatures(q *apiRequest) response {
	if r := checkParams(q.params, append(slices.Clone(pageParams), "archived", "lookup_key"), nil, nil); r != nil {
		return *r
	}
	archived, archivedSet, r := parseBool(q.params, "archived")
	if r != nil {
		return *r
	}
	lookupKey := q.params.Get("lookup_key")
	f.mu.Lock()
	var out []feature
	for _, ft := range f.scopeLocked(q).entitlementsLocked().features {
		// Like Stripe, the list shows active features unless archived=true.
		if ft.Active == (archivedSet && archived) {
			continue
		}
		if lookupKey != "" && ft.LookupKey != lookupKey {
			continue
		}
		out = append(out, *ft)
	}
	f.mu.Unlock()
	return pageOf(q, "/v1/entitlements/features", out, func(ft feature) string { return ft.ID })
}

func (f *Fake) createFeature(q *apiRequest) response {
	if r := checkParams(q.params, []string{"lookup_key", "name"}, nil, []string{"metadata"}); r != nil {
		return *r
	}
	// stripe-mock refuses them missing but not empty.
	for _, p := range []string{"lookup_key", "name"} {
		if v, ok := q.params[p]; ok && v[0] == "" {
			return *emptyParam(p)
		}
	}
	lookupKey := q.params.Get("lookup_key")
	if len(lookupKey) > 80 {
		return invalidRequest(http.StatusBadRequest, "", "lookup_key", "Lookup keys must be at most 80 characters.")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.scopeLocked(q).entitlementsLocked()
	for _, ft := range st.features {
		if ft.LookupKey == lookupKey {
			return invalidRequest(http.StatusBadRequest, "", "lookup_key",
				fmt.Sprintf("A feature (`%s`) already uses that lookup key.", ft.ID))
		}
	}
	ft := &feature{ID: f.newIDLocked("feat_"), Object: "entitlements.feature", Active: true, Livemode: q.live,
		LookupKey: lookupKey, Metadata: mapParam(q.params, "metadata"), Name: q.params.Get("name")}
	st.features = append(st.features, ft)
	f.created[KindFeature]++
	return jsonResponse(http.StatusOK, ft)
}

func (f *Fake) retrieveFeature(q *apiRequest, id string) response {
	if r := checkParams(q.params, nil, nil, nil); r != nil {
		return *r
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ft := range f.scopeLocked(q).entitlementsLocked().features {
		if ft.ID == id {
			return jsonResponse(http.StatusOK, ft)
		}
	}
	r := noSuch("feature", id, "id")
	r.status = http.StatusNotFound
	return r
}

// productExistsLocked reports whether a product exists in q's scope.
func (f *Fake) productExistsLocked(q *apiRequest, id string) bool {
	_, ok := f.collection("products").position(f.scopeLocked(q), id)
	return ok
}

func noSuchProduct(id string) response {
	r := noSuch("product", id, "product")
	r.status = http.StatusNotFound
	return r
}

func (f *Fake) listProductFeatures(q *apiRequest, productID string) response {
	if r := checkParams(q.params, pageParams, nil, nil); r != nil {
		return *r
	}
	f.mu.Lock()
	if !f.productExistsLocked(q, productID) {
		f.mu.Unlock()
		return noSuchProduct(productID)
	}
	var out []productFeature
	for _, pf := range f.scopeLocked(q).entitlementsLocked().attached {
		if pf.product == productID {
			out = append(out, *pf)
		}
	}
	f.mu.Unlock()
	return pageOf(q, "/v1/products/"+productID+"/features", out, func(pf productFeature) string { return pf.ID })
}

func (f *Fake) attachFeature(q *apiRequest, productID string) response {
	if r := checkParams(q.params, []string{"entitlement_feature"}, nil, nil); r != nil {
		return *r
	}
	featureID := q.params.Get("entitlement_feature")
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.productExistsLocked(q, productID) {
		return noSuchProduct(productID)
	}
	st := f.scopeLocked(q).entitlementsLocked()
	i := slices.IndexFunc(st.features, func(ft *feature) bool { return ft.ID == featureID })
	if i < 0 {
		return noSuch("feature", featureID, "entitlement_feature")
	}
	for _, pf := range st.attached {
		if pf.product == productID && pf.EntitlementFeature.ID == featureID {
			return invalidRequest(http.StatusBadRequest, "", "entitlement_feature",
				fmt.Sprintf("The feature %s is already attached to product %s.", featureID, productID))
		}
	}
	pf := &productFeature{ID: f.newIDLocked("prodft_"), Object: "product_feature", EntitlementFeature: *st.features[i],
		Livemode: q.live, product: productID}
	st.attached = append(st.attached, pf)
	return jsonResponse(http.StatusOK, pf)
}

func (f *Fake) detachFeature(q *apiRequest, productID, id string) response {
	if r := checkParams(q.params, nil, nil, nil); r != nil {
		return *r
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.scopeLocked(q).entitlementsLocked()
	i := slices.IndexFunc(st.attached, func(pf *productFeature) bool { return pf.ID == id && pf.product == productID })
	if i < 0 {
		r := noSuch("product_feature", id, "id")
		r.status = http.StatusNotFound
		return r
	}
	st.attached = slices.Delete(st.attached, i, i+1)
	return jsonResponse(http.StatusOK, map[string]any{"id": id, "object": "product_feature", "deleted": true})
}

func (f *Fake) listActiveEntitlements(q *apiRequest) response {
	if r := checkParams(q.params, append(slices.Clone(pageParams), "customer"), nil, nil); r != nil {
		return *r
	}
	customer := q.params.Get("customer")
	f.mu.Lock()
	out := slices.Clone(f.scopeLocked(q).entitlementsLocked().active[customer])
	f.mu.Unlock()
	return pageOf(q, "/v1/entitlements/active_entitlements", out, func(a activeEntitlement) string { return a.ID })
}

// SetActiveEntitlements makes the customer's active entitlements, in the
// account and mode key acts on, the features with these lookup keys
// (creating features that do not exist), as Stripe would after the
// customer bought products with them.
func (f *Fake) SetActiveEntitlements(key, customer string, lookupKeys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	live := isLiveKey(key)
	st := f.keyScopeLocked(key).entitlementsLocked()
	var active []activeEntitlement
	for _, k := range lookupKeys {
		i := slices.IndexFunc(st.features, func(ft *feature) bool { return ft.LookupKey == k })
		if i < 0 {
			st.features = append(st.features, &feature{ID: f.newIDLocked("feat_"), Object: "entitlements.feature", Active: true,
				Livemode: live, LookupKey: k, Metadata: map[string]string{}, Name: k})
			i = len(st.features) - 1
		}
		active = append(active, activeEntitlement{ID: f.newIDLocked("ent_"), Object: "entitlements.active_entitlement",
			Feature: st.features[i].ID, Livemode: live, LookupKey: k})
	}
	st.active[customer] = active
}

// ProductFeatureKeys returns the lookup keys of the features attached to a
// product, in the account and mode key acts on, in attachment order.
func (f *Fake) ProductFeatureKeys(key, productID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, pf := range f.keyScopeLocked(key).entitlementsLocked().attached {
		if pf.product == productID {
			out = append(out, pf.EntitlementFeature.LookupKey)
		}
	}
	return out
}

// Features returns the lookup keys of the features, in the account and
// mode key acts on, in creation order.
func (f *Fake) Features(key string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, ft := range f.keyScopeLocked(key).entitlementsLocked().features {
		out = append(out, ft.LookupKey)
	}
	return out
}
