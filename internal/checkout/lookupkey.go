package checkout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// ErrUnknownLookupKey means no active price of the environment has the
// lookup key: a fault.Invalid with code unknown_lookup_key, which
// errors.Is matches for every such error.
var ErrUnknownLookupKey = &fault.Error{Kind: fault.Invalid, Code: "unknown_lookup_key", Message: "unknown lookup key"}

// ResolveLookupKey returns the id of env's active price with lookupKey:
// from billwire's mirror, else from Stripe (and then mirrored). Lookup keys
// are the same in both environments while price ids differ, so an app that
// names prices by lookup key works unchanged after go-live. An unknown key
// is ErrUnknownLookupKey with a message that says what to do.
func (s *Service) ResolveLookupKey(ctx context.Context, env vocab.Env, lookupKey string) (string, error) {
	lookupKey = strings.TrimSpace(lookupKey)
	if lookupKey == "" {
		return "", fault.Invalidf("lookup_key is empty: give the price's lookup key, e.g. pro_monthly (list_catalog shows them)")
	}
	st, err := s.core.Store(ctx)
	if err != nil {
		return "", err
	}
	id, err := st.LookupKeyPrice(ctx, env, lookupKey)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	_, c, err := s.core.StripeClient(ctx, env)
	if err != nil {
		return "", err
	}
	page, err := c.ListPrices(ctx, "", 1, url.Values{"lookup_keys[]": {lookupKey}, "active": {"true"}})
	if err != nil {
		return "", fmt.Errorf("resolve lookup key %q: %w", lookupKey, err)
	}
	if len(page.Data) == 0 {
		how := "create it with create_plan or create_price (lookup_key), or check the spelling with list_catalog"
		if env == vocab.Live {
			how = "copy the test catalog with promote_catalog, or check the spelling with list_catalog {env: \"live\"}"
		}
		return "", fault.New(fault.Invalid, ErrUnknownLookupKey.Code, "no active %s price has lookup key %q: %s", env, lookupKey, how)
	}
	var price struct {
		ID      string          `json:"id"`
		Product json.RawMessage `json:"product"`
	}
	if err := json.Unmarshal(page.Data[0], &price); err != nil {
		return "", fmt.Errorf("decode price: %w", err)
	}
	productID := strings.Trim(string(price.Product), `"`)
	if missing, err := st.MissingProducts(ctx, env, []string{productID}); err == nil && len(missing) > 0 {
		if err := s.core.FetchProducts(ctx, st, c, env, missing); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	if _, err := st.Upsert(ctx, env, vocab.Prices, page.Data[:1], time.Now()); err != nil {
		return "", err
	}
	return price.ID, nil
}
