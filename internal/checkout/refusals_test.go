package checkout

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v79"

	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/vocab"
)

// A store failure is a database to retry (connection, shutdown and
// resource classes) or billwire's own fault; a refusal passes as it is.
func TestStoreFailure(t *testing.T) {
	log := zerolog.New(io.Discard)
	refusal := fault.New(fault.Conflict, "idempotency_conflict", "used")
	cases := []struct {
		err  error
		kind fault.Kind
		code string
	}{
		{&pgconn.PgError{Code: "23505"}, fault.Internal, "internal_error"},
		{fmt.Errorf("insert: %w", &pgconn.PgError{Code: "42P01"}), fault.Internal, "internal_error"},
		{&pgconn.PgError{Code: "08006"}, fault.Unavailable, "database_unavailable"},
		{&pgconn.PgError{Code: "57P01"}, fault.Unavailable, "database_unavailable"},
		{&pgconn.PgError{Code: "53300"}, fault.Unavailable, "database_unavailable"},
		{errors.New("dial tcp: connection refused"), fault.Unavailable, "database_unavailable"},
		{fmt.Errorf("start: %w", refusal), fault.Conflict, "idempotency_conflict"},
	}
	for _, c := range cases {
		f := StoreFailure(log, c.err)
		if f.Kind != c.kind || f.Code != c.code {
			t.Errorf("%v: %v %s, want %v %s", c.err, f.Kind, f.Code, c.kind, c.code)
		}
		if c.code != refusal.Code && (f.Error() != c.err.Error() || f.Message == c.err.Error()) {
			t.Errorf("%v: the cause must be the text and never the message (%q)", c.err, f.Message)
		}
	}
}

// What Stripe said about the request reaches the caller; what concerns
// billwire's key, pace or Stripe's availability does not.
func TestStripeProblem(t *testing.T) {
	said := &stripe.Error{Msg: "No such price: 'price_x'"}
	cases := []struct {
		err  error
		code string
		msg  string
	}{
		{errors.Join(&stripeapi.Error{Status: 400}, said), "stripe_rejected", "Stripe refused the request: No such price: 'price_x'"},
		{&stripeapi.Error{Status: 402}, "stripe_rejected", "Stripe refused the request"},
		{errors.Join(&stripeapi.Error{Status: 401}, said), "stripe_rejected", "Stripe refused billwire's credentials; the operator must check billwire serve's log"},
		{&stripeapi.Error{Status: 403}, "stripe_rejected", "Stripe refused billwire's credentials; the operator must check billwire serve's log"},
		{errors.Join(&stripeapi.Error{Status: 429}, said), "stripe_unavailable", "Stripe could not be reached or did not answer; retry shortly"},
		{&stripeapi.Error{Status: 500}, "stripe_unavailable", "Stripe could not be reached or did not answer; retry shortly"},
		{&stripeapi.Error{}, "stripe_unavailable", "Stripe could not be reached or did not answer; retry shortly"},
	}
	for _, c := range cases {
		f := stripeProblem(c.err)
		if f.Kind != fault.Upstream || f.Code != c.code || f.Message != c.msg || !errors.Is(f, c.err) {
			t.Errorf("%v: %v %s %q", c.err, f.Kind, f.Code, f.Message)
		}
	}
}

// The price cache is bounded: past its size it starts again, and a
// fingerprint is kept with each entry.
func TestPriceCacheIsBounded(t *testing.T) {
	var c priceCache
	prices := []store.CheckoutPrice{{ID: "price_1", Active: true, ProductActive: true, Currency: "usd", Type: "one_time"}}
	for i := 0; i < maxCachedPriceSets; i++ {
		c.put(priceRefs(vocab.Test, []string{"price_" + strconv.Itoa(i)}, nil), prices)
	}
	first := priceRefs(vocab.Test, []string{"price_0"}, nil)
	if _, fp, ok := c.get(first); !ok || fp != store.PriceFingerprint(prices) {
		t.Fatalf("entry 0: %q %v", fp, ok)
	}
	c.put(priceRefs(vocab.Live, []string{"price_0"}, nil), prices)
	if _, _, ok := c.get(first); ok || len(c.m) != 1 {
		t.Fatalf("the cache grew past %d entries (%d)", maxCachedPriceSets, len(c.m))
	}
	if priceRefs(vocab.Test, []string{"a"}, nil) == priceRefs(vocab.Test, nil, []string{"a"}) {
		t.Fatal("a price id and a lookup key with the same text share a cache entry")
	}
}
