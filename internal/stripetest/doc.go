// Package stripetest is test support for code that talks to Stripe. Tests
// must never reach the real Stripe API; this package gives them two
// stand-ins:
//
//   - [Mock] starts (once per test process) the stripe-mock server pinned by
//     the module's tool directive. stripe-mock validates requests against
//     Stripe's OpenAPI spec and answers with canned fixtures; it keeps no
//     state.
//   - [Fake] is a small stateful in-process fake of a handful of Stripe
//     endpoints (account, products, prices, customers, subscriptions,
//     webhook endpoints, events, and the objects events are about) that
//     remembers what was created, honours idempotency keys, serves large
//     deterministic seeded catalogues in constant memory, records every
//     request and can inject latency, rate limiting and failures.
//
// Both speak Stripe's wire format (form-encoded requests, JSON responses and
// Stripe's error envelope) as stripe-go v79 (API version 2024-06-20) expects,
// so production clients can simply be pointed at their URL.
package stripetest
