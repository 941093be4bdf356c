package runtime_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/ratelimit"
	"github.com/billwire/billwire/internal/runtime"
)

// BenchmarkSubscriptionChangeOverhead measures what billwire adds to the
// preview and change routes beyond their Stripe calls, as
// BenchmarkCheckoutOverhead does (server time less the time waiting for
// Stripe, at concurrency 8), against the stateful fake, since stripe-mock
// keeps no subscriptions: 64 users with a test subscription each, calling
// with their own tokens. Each change switches a user's plan between Basic
// and Pro (an upgrade, invoiced and paid at once, then a downgrade).
//
//	go test -run '^$' -bench SubscriptionChangeOverhead -benchtime 2000x ./internal/runtime/
func BenchmarkSubscriptionChangeOverhead(b *testing.B) {
	for _, route := range []string{"preview", "change"} {
		b.Run(route, func(b *testing.B) {
			var m overheadMeter
			open := ratelimit.Rate{N: 1_000_000, Period: time.Second, Burst: 1_000_000}
			r := startLifeWith(b, lifeConfig{
				stripeClient: &http.Client{Transport: timedTransport{}, Timeout: 30 * time.Second},
				wrap:         m.wrap,
				rates:        &runtime.SessionRates{User: open, Subject: open, Key: open},
			})
			const subs = 64
			ids, toks := make([]string, subs), make([]string, subs)
			for i := range subs {
				u := fmt.Sprintf("u_%d", i)
				ids[i], toks[i] = r.subscribe(auth.Subject{Type: "user", ID: u}, "basic_monthly"), userToken(b, u)
			}
			bodies := [2][]byte{}
			bodies[0], _ = json.Marshal(target(r.prices["pro_monthly"], 1))
			bodies[1], _ = json.Marshal(target(r.prices["basic_monthly"], 1))
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			post := func(i int) error {
				k, body := i%subs, bodies[0]
				if route == "change" { // the subscription's (i/subs)-th change: up, then down
					body = bodies[(i/subs)%2]
				}
				req, _ := http.NewRequest("POST", r.url+subPath(ids[k], route), bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+toks[k])
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("%s %d: status %d: %s", route, i, resp.StatusCode, out)
				}
				return nil
			}
			m.run(b, post)
		})
	}
}
