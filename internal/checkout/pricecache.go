package checkout

import (
	"strings"
	"sync"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// priceCache remembers, per set of line-item references, the prices the
// catalog last gave for them and their fingerprint. It is never trusted on
// its own: StartCheckout writes a checkout's row only when PostgreSQL finds
// the same fingerprint, so a cached entry saves a round trip and nothing
// else.
type priceCache struct {
	mu sync.Mutex
	m  map[string]cachedPrices
}

type cachedPrices struct {
	prices      []store.CheckoutPrice
	fingerprint string
}

// maxCachedPriceSets bounds the cache; apps use few distinct line-item sets.
const maxCachedPriceSets = 4096

// priceRefs is the cache key of a checkout's references.
func priceRefs(env vocab.Env, ids, keys []string) string {
	return string(env) + "\x1d" + strings.Join(ids, "\x1f") + "\x1d" + strings.Join(keys, "\x1f")
}

func (c *priceCache) get(refs string) ([]store.CheckoutPrice, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[refs]
	return e.prices, e.fingerprint, ok
}

func (c *priceCache) put(refs string, prices []store.CheckoutPrice) {
	e := cachedPrices{prices: prices, fingerprint: store.PriceFingerprint(prices)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedPriceSets {
		c.m = make(map[string]cachedPrices)
	}
	c.m[refs] = e
}
