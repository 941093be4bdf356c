// Package stripetest is test support for code that talks to Stripe. Tests
// must never reach the real Stripe API; this package gives them three
// stand-ins:
//
//   - [Mock] starts (once per test process) the stripe-mock server pinned by
//     the module's tool directive. stripe-mock validates requests against
//     Stripe's OpenAPI spec and answers with canned fixtures; it keeps no
//     state.
//   - [Fake] is a small stateful in-process fake of a handful of Stripe
//     endpoints (account, products, prices, customers, subscriptions,
//     webhook endpoints, events, and the objects events are about) that
//     remembers what was created, makes and changes subscriptions as
//     Stripe does (prorations, invoices paid by test cards, pending
//     updates, invoice previews, pause and resume; see subscriptions.go)
//     and tells each change as Stripe's events, honours idempotency keys,
//     serves large deterministic seeded catalogues in constant memory,
//     records every request and can inject latency, rate limiting and
//     failures.
//   - [Recorder] sits in front of stripe-mock and adds the little memory
//     the session API's tests need (ids, metadata, idempotent replays).
//
// The fake checks what needs its memory and what Stripe refuses but
// stripe-mock lets through; the checks of Stripe's spec on requests that
// billwire's tests also send to stripe-mock are stripe-mock's alone.
//
// All three speak Stripe's wire format (form-encoded requests, JSON responses and
// Stripe's error envelope) as stripe-go v79 (API version 2024-06-20) expects,
// so production clients can simply be pointed at their URL.
package stripetest
