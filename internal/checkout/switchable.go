package checkout

import (
	"context"
	"fmt"
	"strings"

	"github.com/billwire/billwire/internal/lazyre"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// SwitchableResult is env's families of switchable prices after a change.
type SwitchableResult struct {
	Env      vocab.Env                `json:"env"`
	Families []store.SwitchableFamily `json:"families"`
	// PortalProducts is how many products the Billing Portal offers to
	// switch between (Stripe's limit is 10: the first 10 by family).
	PortalProducts int    `json:"portal_products"`
	Warning        string `json:"warning,omitempty"`
}

var familyRE = lazyre.New(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// maxFamilyProducts is Stripe's limit of products a portal switches between.
const maxFamilyProducts = 10

// SetSwitchablePrices sets family's switchable prices in env (ids or
// lookup keys): active licensed recurring prices of at most 10 products.
// No prices removes the family. The change route lets an end user switch
// only within one family, and the Billing Portal offers them.
func (s *Service) SetSwitchablePrices(ctx context.Context, env vocab.Env, family string, refs []string) (*SwitchableResult, error) {
	if !familyRE().MatchString(family) {
		return nil, badRequest("invalid_request", "family %q must be 1 to 64 lowercase letters, digits, - or _ (e.g. \"plans\")", family)
	}
	st, err := s.core.Store(ctx)
	if err != nil {
		return nil, s.unavailable(err)
	}
	ids, err := s.switchableIDs(ctx, st, env, refs)
	if err != nil {
		return nil, err
	}
	if err := st.SetSwitchablePrices(ctx, env, family, ids); err != nil {
		return nil, s.unavailable(err)
	}
	out := &SwitchableResult{Env: env}
	if out.Families, err = st.SwitchablePrices(ctx, env); err != nil {
		return nil, s.unavailable(err)
	}
	products, err := st.PortalProducts(ctx, env)
	if err != nil {
		return nil, s.unavailable(err)
	}
	out.PortalProducts = min(len(products), maxFamilyProducts)
	if len(products) > maxFamilyProducts {
		out.Warning = "the families hold more than 10 products together: the Billing Portal offers the first 10 (by family name); the change route takes all of them"
	}
	return out, nil
}

// switchableIDs resolves refs to price ids, each an active licensed
// recurring price of env, of at most maxFamilyProducts products.
func (s *Service) switchableIDs(ctx context.Context, st *store.Store, env vocab.Env, refs []string) ([]string, error) {
	items := make([]ChangeItem, len(refs))
	var ids, keys []string
	for i, r := range refs {
		if strings.HasPrefix(r, "price_") {
			items[i].PriceID, ids = r, append(ids, r)
		} else {
			items[i].LookupKey, keys = r, append(keys, r)
		}
	}
	prices, err := st.ChangePrices(ctx, env, ids, keys)
	if err != nil {
		return nil, s.unavailable(err)
	}
	out := make([]string, len(refs))
	products := map[string]bool{}
	for i, it := range items {
		p, ok := findPrice(prices, it)
		switch {
		case !ok:
			return nil, s.unknownPrice(ctx, st, env, fmt.Sprintf("prices[%d]", i), it)
		case !p.Active || !p.ProductActive:
			return nil, badRequest("inactive_price", "prices[%d]: price %s (or its product) is archived in Stripe", i, p.ID)
		case p.Type != "recurring":
			return nil, badRequest("one_time_price", "prices[%d]: price %s is a one-time price; only recurring prices are switched between", i, p.ID)
		case p.Metered:
			return nil, badRequest("metered_price", "prices[%d]: price %s is metered; a family holds licensed prices (metered items follow the plan, not the user's switch)", i, p.ID)
		}
		for j := range i {
			if out[j] == p.ID {
				return nil, badRequest("duplicate_price", "prices[%d]: price %s is already prices[%d]", i, p.ID, j)
			}
		}
		out[i], products[p.ProductID] = p.ID, true
	}
	if len(products) > maxFamilyProducts {
		return nil, badRequest("too_many_products", "the prices belong to %d products; a family holds at most %d (Stripe's Billing Portal limit)", len(products), maxFamilyProducts)
	}
	return out, nil
}
