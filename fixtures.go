// Package billwire is the root of the billwire module. The code lives under
// cmd/ and internal/; this package only holds the test fixtures embedded for
// tests and the load generator.
package billwire

import "embed"

// EventFixtures holds testdata/events/<event type>.json: for every Stripe
// event type billwire handles, one complete event object as Stripe delivers
// it for API version 2024-06-20. All fixtures tell one story with the same
// ids (cus_Fixture1, sub_Fixture1, in_Fixture1, pi_Fixture1, ...); use
// internal/eventfixtures to build events from them.
//
//go:embed testdata/events/*.json
var EventFixtures embed.FS
