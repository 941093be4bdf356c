package stripetest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The items of a subscription change, as the update (items[i][...]) and
// the preview (subscription_details[items][i][...]) name them, checked as
// Stripe checks them and planned into the items the subscription would
// have.

// itemParam is one items[i] of a change.
type itemParam struct {
	idx       int
	id, price string
	quantity  *int64
	deleted   bool
}

// parseItems takes the prefix[i][field] parameters out of params: it
// returns them in index order and the other parameters.
func parseItems(params url.Values, prefix string, fields []string) ([]itemParam, url.Values, *response) {
	rest := url.Values{}
	byIdx := map[int]*itemParam{}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		tail, ok := strings.CutPrefix(k, prefix+"[")
		if !ok {
			rest[k] = params[k]
			continue
		}
		idxs, field, ok := strings.Cut(tail, "][")
		idx, err := strconv.Atoi(idxs)
		field, closed := strings.CutSuffix(field, "]")
		if !ok || err != nil || idx < 0 || !closed || !slices.Contains(fields, field) {
			return nil, nil, unknownParam(k)
		}
		p := byIdx[idx]
		if p == nil {
			p = &itemParam{idx: idx}
			byIdx[idx] = p
		}
		if r := p.set(k, field, params.Get(k)); r != nil {
			return nil, nil, r
		}
	}
	out := make([]itemParam, 0, len(byIdx))
	for _, p := range byIdx {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b itemParam) int { return a.idx - b.idx })
	return out, rest, nil
}

func (p *itemParam) set(key, field, v string) *response {
	switch field {
	case "id":
		p.id = v
	case "price":
		p.price = v
	case "quantity":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			r := invalidRequest(http.StatusBadRequest, "parameter_invalid_integer", key, "Invalid integer: "+v)
			return &r
		}
		p.quantity = &n
	case "deleted":
		d, _, r := parseBool(url.Values{key: {v}}, key)
		if r != nil {
			return r
		}
		p.deleted = d
	}
	return nil
}

// change is a planned change of a subscription's items.
type change struct {
	old, items []map[string]any // before and after
	credited   []map[string]any // old items that change or go
	charged    []map[string]any // new or changed items
	reset      bool             // the billing interval changes
	behavior   string           // proration_behavior
	at         int64            // proration_date
}

// planChangeLocked plans the items ps of an update of sub (prefix names
// them in errors); newID makes the ids of added items.
func (f *Fake) planChangeLocked(sc *scope, live bool, sub map[string]any, ps []itemParam, prefix string, newID func(string) string) (*change, *response) {
	c := &change{old: itemsOf(sub)}
	next := make([]map[string]any, len(c.old))
	pos := map[string]int{}
	for i, it := range c.old {
		next[i] = it
		pos[fmt.Sprint(it["id"])] = i
	}
	removed := map[int]bool{}
	for _, p := range ps {
		name := fmt.Sprintf("%s[%d]", prefix, p.idx)
		if p.id == "" {
			if p.deleted {
				return nil, missing(name + "[id]")
			}
			it, r := f.newItemLocked(sc, live, sub, p, name, newID)
			if r != nil {
				return nil, r
			}
			next = append(next, it)
			c.charged = append(c.charged, it)
			continue
		}
		i, ok := pos[p.id]
		if !ok {
			r := noSuch("subscription_item", p.id, name+"[id]")
			return nil, &r
		}
		if p.deleted {
			removed[i] = true
			c.credited = append(c.credited, c.old[i])
			continue
		}
		it, changed, r := f.changeItemLocked(sc, live, sub, c.old[i], p, name)
		if r != nil {
			return nil, r
		}
		if changed {
			next[i] = it
			c.credited = append(c.credited, c.old[i])
			c.charged = append(c.charged, it)
		}
	}
	for i, it := range next {
		if !removed[i] {
			c.items = append(c.items, it)
		}
	}
	return c, c.check(prefix)
}

// check refuses the item sets Stripe refuses and notes an interval change.
func (c *change) check(prefix string) *response {
	if len(c.items) == 0 {
		r := invalidRequest(http.StatusBadRequest, "", prefix, "A subscription must have at least one active price.")
		return &r
	}
	first, _ := c.items[0]["price"].(map[string]any)
	seen := map[string]bool{}
	for _, it := range c.items {
		price, _ := it["price"].(map[string]any)
		id := fmt.Sprint(price["id"])
		if seen[id] {
			r := invalidRequest(http.StatusBadRequest, "", prefix,
				fmt.Sprintf("Cannot add multiple subscription items with the same price: %s.", id))
			return &r
		}
		seen[id] = true
		if !sameInterval(first, price) {
			r := invalidRequest(http.StatusBadRequest, "", prefix,
				"Currency and interval fields must match across all plans on this subscription. Found mismatch in interval field.")
			return &r
		}
	}
	if len(c.old) > 0 {
		oldFirst, _ := c.old[0]["price"].(map[string]any)
		c.reset = !sameInterval(oldFirst, first)
	}
	return nil
}

func (f *Fake) newItemLocked(sc *scope, live bool, sub map[string]any, p itemParam, name string, newID func(string) string) (map[string]any, *response) {
	if p.price == "" {
		return nil, missing(name + "[price]")
	}
	price, r := f.itemPriceLocked(sc, live, sub, p.price, name)
	if r != nil {
		return nil, r
	}
	it := map[string]any{"id": newID("si_"), "object": "subscription_item", "billing_thresholds": nil, "created": time.Now().Unix(),
		"discounts": []any{}, "metadata": map[string]any{}, "subscription": sub["id"], "tax_rates": []any{}}
	return it, setItemPrice(it, price, p, name, true)
}

// changeItemLocked applies p to a copy of item; changed reports whether
// its price or quantity changed.
func (f *Fake) changeItemLocked(sc *scope, live bool, sub, item map[string]any, p itemParam, name string) (map[string]any, bool, *response) {
	it := cloneMap(item)
	price, _ := it["price"].(map[string]any)
	if p.price != "" && p.price != price["id"] {
		var r *response
		if price, r = f.itemPriceLocked(sc, live, sub, p.price, name); r != nil {
			return nil, false, r
		}
	}
	before := quantityOf(item)
	if r := setItemPrice(it, price, p, name, false); r != nil {
		return nil, false, r
	}
	oldPrice, _ := item["price"].(map[string]any)
	return it, oldPrice["id"] != price["id"] || quantityOf(it) != before, nil
}

// setItemPrice sets the price and quantity of item it: a metered price
// takes no quantity; a licensed one keeps its quantity unless p sets it
// (a new item starts at 1).
func setItemPrice(it, price map[string]any, p itemParam, name string, isNew bool) *response {
	if metered(price) {
		if p.quantity != nil {
			r := invalidRequest(http.StatusBadRequest, "", name+"[quantity]",
				fmt.Sprintf("Quantity should not be specified where usage_type is `metered`. Remove quantity from `%s`.", name))
			return &r
		}
		delete(it, "quantity")
	} else if p.quantity != nil {
		it["quantity"] = *p.quantity
	} else if isNew || it["quantity"] == nil {
		it["quantity"] = int64(1)
	}
	it["price"], it["plan"] = price, planOf(price)
	return nil
}

// itemPriceLocked looks up a price an item may take: active, recurring
// and in the subscription's currency.
func (f *Fake) itemPriceLocked(sc *scope, live bool, sub map[string]any, id, name string) (map[string]any, *response) {
	price, ok := f.priceLocked(sc, live, id)
	param := name + "[price]"
	var r response
	switch {
	case !ok:
		r = noSuch("price", id, param)
	case price["recurring"] == nil:
		r = invalidRequest(http.StatusBadRequest, "", param, "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.")
	case price["active"] != true:
		r = invalidRequest(http.StatusBadRequest, "", param, "The price specified is inactive. This field only accepts active prices.")
	case price["currency"] != sub["currency"]:
		r = invalidRequest(http.StatusBadRequest, "", param,
			"Currency and interval fields must match across all plans on this subscription. Found mismatch in currency field.")
	default:
		return price, nil
	}
	return nil, &r
}
