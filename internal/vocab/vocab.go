// Package vocab is billwire's shared vocabulary: the environments, the kinds
// of Stripe object billwire mirrors and the billwire_* metadata keys it
// writes on Stripe objects. Every layer may import it; it imports nothing of
// billwire's own.
package vocab

import (
	"fmt"
	"strings"
)

// Env is a Stripe environment: test or live.
type Env string

// The two environments.
const (
	Test Env = "test"
	Live Env = "live"
)

// Envs lists both environments in display order.
var Envs = []Env{Test, Live}

// ParseEnv validates an environment name.
func ParseEnv(s string) (Env, error) {
	switch Env(strings.ToLower(strings.TrimSpace(s))) {
	case Test:
		return Test, nil
	case Live:
		return Live, nil
	}
	return "", fmt.Errorf("unknown environment %q: use \"test\" or \"live\"", s)
}

// Kind is a kind of Stripe object billwire mirrors.
type Kind string

// The mirrored kinds, in the order a sync visits them (prices need their products).
const (
	Products      Kind = "products"
	Prices        Kind = "prices"
	Customers     Kind = "customers"
	Subscriptions Kind = "subscriptions"
	// Invoices are projected from the invoice.* events; a sync backfills them.
	Invoices Kind = "invoices"
)

// Kinds lists every mirrored kind in sync order.
var Kinds = []Kind{Products, Prices, Customers, Subscriptions, Invoices}

// ParseKind validates an object kind name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown object type %q: use products, prices, customers, subscriptions or invoices", s)
}

// The metadata keys billwire writes on Stripe objects. Every key starts with
// MetaPrefix, which a caller's own metadata may not use.
const (
	// MetaPrefix starts every key billwire reserves.
	MetaPrefix = "billwire_"

	// MetaSubjectType and MetaSubjectID name the subject (user or team)
	// that owns a customer, subscription or checkout session.
	MetaSubjectType = "billwire_subject_type"
	MetaSubjectID   = "billwire_subject_id"
	// MetaCheckoutID is the session API's row behind a checkout session.
	MetaCheckoutID = "billwire_checkout_id"

	// MetaTrialPeriodDays, MetaAllowPromotionCodes and MetaAutomaticTax are
	// a price's terms, which user-token checkouts follow.
	MetaTrialPeriodDays     = "billwire_trial_period_days"
	MetaAllowPromotionCodes = "billwire_allow_promotion_codes"
	MetaAutomaticTax        = "billwire_automatic_tax"
	// MetaMinQuantity and MetaMaxQuantity bound the quantity (seats) of a
	// price in checkouts and subscription changes: whole numbers within
	// 1 to MaxQuantity; absent or malformed, the defaults.
	MetaMinQuantity = "billwire_min_quantity"
	MetaMaxQuantity = "billwire_max_quantity"

	// MetaManaged ("true") and MetaEnv mark a webhook endpoint billwire
	// created and manages, and the environment it serves.
	MetaManaged = "billwire_managed"
	MetaEnv     = "billwire_env"

	// MetaSimulated ("true") marks an object that billwire's simulated
	// events made up: it is not in Stripe, and sync never takes its absence
	// from Stripe's lists for a deletion.
	MetaSimulated = "billwire_simulated"
)

// Scope is what a billwire API key opens.
type Scope string

// The scopes of an API key.
const (
	// ScopeSession opens the session API (/api/payments/…): an app's backend.
	ScopeSession Scope = "session"
	// ScopeMCP opens MCP over HTTP (/mcp) in the key's environment, no live writes.
	ScopeMCP Scope = "mcp"
	// ScopeMCPLive opens MCP over HTTP with live writes (each still confirmed): live keys only.
	ScopeMCPLive Scope = "mcp:live"
)

// ParseScope validates a scope for a key of env.
func ParseScope(s string, env Env) (Scope, error) {
	switch sc := Scope(strings.TrimSpace(s)); sc {
	case ScopeSession, ScopeMCP:
		return sc, nil
	case ScopeMCPLive:
		if env != Live {
			return "", fmt.Errorf("scope mcp:live is for live keys only (--env live); a %s key for MCP is --scope mcp", env)
		}
		return sc, nil
	}
	return "", fmt.Errorf("unknown scope %q: use session (the session API, the default), mcp (MCP over HTTP) or mcp:live (MCP over HTTP with live writes, live keys only)", s)
}

// MCP reports whether the scope opens /mcp.
func (s Scope) MCP() bool { return s == ScopeMCP || s == ScopeMCPLive }

// The default quantity bounds of a price, and the largest any price takes.
const (
	DefaultMinQuantity = 1
	MaxQuantity        = 999
)
