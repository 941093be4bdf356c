package runtime_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/ratelimit"
	"github.com/billwire/billwire/internal/runtime"
	"github.com/billwire/billwire/internal/vocab"
)

const checkoutPath = "/api/payments/test/checkout-sessions"

// distinct is a checkout body whose success URL is its own, so that no
// reuse of an open session answers it: each one asks Stripe for a session.
func distinct(subject map[string]any, i int64) map[string]any {
	b := checkoutBody(subject)
	b["success_url"] = fmt.Sprintf("%s/billing?try=%d", appOrigin, i)
	return b
}

// flood posts n requests at concurrency conc and counts the answers by
// status; it returns the 429s too.
func (r *rig) flood(n, conc int, bearer, path string, body func(i int64) map[string]any) (map[int]int, []reply) {
	var mu sync.Mutex
	codes := map[int]int{}
	var limited []reply
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				res := r.do("POST", path, bearer, body(i))
				mu.Lock()
				codes[res.status]++
				if res.status == http.StatusTooManyRequests {
					limited = append(limited, res)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return codes, limited
}

// checkLimited checks 429 answers: rate_limited, a Retry-After of whole
// seconds (at least 1) and a message that says when to retry and names want.
func checkLimited(t *testing.T, limited []reply, want string) {
	t.Helper()
	for _, res := range limited {
		secs, err := strconv.Atoi(res.header.Get("Retry-After"))
		msg := fmt.Sprint(res.body["message"])
		if res.body["code"] != "rate_limited" || err != nil || secs < 1 || secs > 60 ||
			!strings.Contains(msg, fmt.Sprintf("retry in %d s", secs)) || !strings.Contains(msg, want) {
			t.Fatalf("429 answer: Retry-After %q, body %v; want rate_limited, whole seconds ≥ 1, a message naming %q", res.header.Get("Retry-After"), res.body, want)
		}
	}
}

// allowance is what a 10/m, burst 5 bucket lets through in d.
func allowance(d time.Duration) int { return 5 + int(d.Seconds()*10/60) + 1 }

// One user's token floods checkouts at concurrency 8: the burst and the
// rate's allowance reach Stripe, the rest are refused with nothing written,
// and another user checks out as before.
func TestOneUserFloodIsRateLimited(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	tok := token(t, jwt.MapClaims{"sub": "u_flood"})
	start := time.Now()
	codes, limited := r.flood(200, 8, tok, checkoutPath, func(i int64) map[string]any { return distinct(user("u_flood"), i) })
	allowed := allowance(time.Since(start))
	if codes[201] < 5 || codes[201] > allowed || codes[201]+codes[429] != 200 {
		t.Fatalf("answers %v: want at most %d created (burst 5 + the rate's allowance), the rest 429", codes, allowed)
	}
	checkLimited(t, limited, "u_flood")
	if n := r.rec.Calls("POST /v1/checkout/sessions"); n != codes[201] {
		t.Fatalf("Stripe saw %d session creates for %d sessions", n, codes[201])
	}
	if n := r.rec.Calls("POST /v1/customers"); n != 1 {
		t.Fatalf("Stripe saw %d customer creates", n)
	}
	if n := r.countRows(`subject_id = 'u_flood'`); n != codes[201] {
		t.Fatalf("%d rows for %d sessions: a refused request wrote one", n, codes[201])
	}
	other := r.do("POST", checkoutPath, token(t, jwt.MapClaims{"sub": "u_other"}), checkoutBody(user("u_other")))
	if other.status != http.StatusCreated {
		t.Fatalf("another user during the flood: %d %v", other.status, other.body)
	}
}

// The per-subject limit of API keys holds across keys: two keys together
// get one subject's budget, and another subject keeps its own.
func TestSubjectLimitHoldsAcrossAPIKeys(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	second, hash, hint := auth.NewAPIKey()
	if _, err := r.st.CreateAPIKey(context.Background(), vocab.Test, "second-backend", hash, hint); err != nil {
		t.Fatal(err)
	}
	keys := []string{r.apiKey, second}
	created := 0
	var limited []reply
	for i := range 12 {
		res := r.do("POST", checkoutPath, keys[i%2], distinct(team("t_9"), int64(i)))
		switch res.status {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
			limited = append(limited, res)
		default:
			t.Fatalf("checkout %d: %d %v", i, res.status, res.body)
		}
	}
	if created != 5 || len(limited) != 7 {
		t.Fatalf("%d created, %d limited across two keys: want the subject's burst, 5", created, len(limited))
	}
	checkLimited(t, limited, "subject team:t_9")
	for _, k := range keys {
		if res := r.do("POST", checkoutPath, k, checkoutBody(team("t_10"))); res.status != http.StatusCreated {
			t.Fatalf("another subject: %d %v", res.status, res.body)
		}
	}
}

// An API key is limited over all its subjects.
func TestAPIKeyLimit(t *testing.T) {
	t.Parallel()
	r := newRigWith(t, func(c *runtime.APIConfig) {
		rates := runtime.DefaultSessionRates()
		rates.Key = ratelimit.Rate{N: 3, Period: time.Minute, Burst: 3}
		c.Rates = &rates
	})
	for i := range 3 {
		if res := r.do("POST", checkoutPath, r.apiKey, checkoutBody(user(fmt.Sprint("u_k", i)))); res.status != http.StatusCreated {
			t.Fatalf("checkout %d: %d %v", i, res.status, res.body)
		}
	}
	res := r.do("POST", checkoutPath, r.apiKey, checkoutBody(user("u_k9")))
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("4th subject: %d %v", res.status, res.body)
	}
	checkLimited(t, []reply{res}, "API key app-backend")
	// A caller looping over refusals waits for each: it cannot turn them
	// into a flood of answers.
	start := time.Now()
	if res := r.do("POST", checkoutPath, r.apiKey, checkoutBody(user("u_k9"))); res.status != http.StatusTooManyRequests || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("a refusal answered in %v (%d); want it held 100 ms", time.Since(start), res.status)
	}
	if n := r.rec.Calls("POST /v1/checkout/sessions"); n != 3 {
		t.Fatalf("Stripe saw %d session creates, want 3", n)
	}
}

// A user's limit spans the subjects it acts for; a team's members share the
// team's budget for user tokens, but cannot spend the app backend's budget
// for the team (API keys count the subject apart).
func TestUserAndTeamLimits(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	member := token(t, jwt.MapClaims{"sub": "u_m", "teams": []string{"t_a", "t_b"}})
	for i, sub := range []map[string]any{team("t_a"), team("t_a"), team("t_b"), team("t_b"), user("u_m")} {
		if res := r.do("POST", checkoutPath, member, distinct(sub, int64(i))); res.status != http.StatusCreated {
			t.Fatalf("checkout %d: %d %v", i, res.status, res.body)
		}
	}
	res := r.do("POST", checkoutPath, member, distinct(team("t_b"), 99))
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("6th checkout of the user: %d %v", res.status, res.body)
	}
	checkLimited(t, []reply{res}, "user u_m")

	// Another member floods team t_c: the team's budget for user tokens goes.
	flooder := token(t, jwt.MapClaims{"sub": "u_f", "teams": []string{"t_c"}})
	codes, _ := r.flood(10, 4, flooder, checkoutPath, func(i int64) map[string]any { return distinct(team("t_c"), i) })
	if codes[201] != 5 {
		t.Fatalf("flood of team t_c: %v", codes)
	}
	peer := token(t, jwt.MapClaims{"sub": "u_peer", "teams": []string{"t_c"}})
	res = r.do("POST", checkoutPath, peer, distinct(team("t_c"), 100))
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("another member for the flooded team: %d %v", res.status, res.body)
	}
	checkLimited(t, []reply{res}, "subject team:t_c")
	if res := r.do("POST", checkoutPath, peer, checkoutBody(user("u_peer"))); res.status != http.StatusCreated {
		t.Fatalf("that member for itself: %d %v", res.status, res.body)
	}
	if res := r.do("POST", checkoutPath, r.apiKey, checkoutBody(team("t_c"))); res.status != http.StatusCreated {
		t.Fatalf("the app's backend for the flooded team: %d %v", res.status, res.body)
	}
}

// Nobody spends a subject's budget by asking for it without the right to,
// and refusals that cost nothing (a bad request) give their token back.
func TestRefusalsSpendNoBudget(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	attacker := token(t, jwt.MapClaims{"sub": "u_att"})
	for i := range 10 {
		if res := r.do("POST", checkoutPath, attacker, distinct(user("u_victim"), int64(i))); res.status != http.StatusForbidden {
			t.Fatalf("checkout for another user: %d %v", res.status, res.body)
		}
	}
	victim := token(t, jwt.MapClaims{"sub": "u_victim"})
	bad := checkoutBody(user("u_victim"), map[string]any{"price_id": "price_Nope", "quantity": 1})
	for range 10 {
		if res := r.do("POST", checkoutPath, victim, bad); res.status != http.StatusBadRequest {
			t.Fatalf("unknown price: %d %v", res.status, res.body)
		}
	}
	for i := range 5 {
		if res := r.do("POST", checkoutPath, victim, distinct(user("u_victim"), int64(i))); res.status != http.StatusCreated {
			t.Fatalf("the victim's checkout %d: %d %v", i, res.status, res.body)
		}
	}
	if res := r.do("POST", checkoutPath, victim, distinct(user("u_victim"), 6)); res.status != http.StatusTooManyRequests {
		t.Fatalf("the victim's 6th: %d %v", res.status, res.body)
	}
}

// Billing Portal sessions share the limits.
func TestPortalIsRateLimited(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if res := r.do("POST", checkoutPath, r.apiKey, checkoutBody(user("u_p"))); res.status != http.StatusCreated {
		t.Fatalf("checkout %d %v", res.status, res.body)
	}
	tok := token(t, jwt.MapClaims{"sub": "u_p"})
	codes, limited := r.flood(20, 4, tok, "/api/payments/test/portal-sessions", func(int64) map[string]any {
		return map[string]any{"subject": user("u_p"), "return_url": appOrigin + "/billing"}
	})
	if codes[201] != 5 || codes[429] != 15 {
		t.Fatalf("portal flood: %v", codes)
	}
	checkLimited(t, limited, "u_p")
	if n := r.rec.Calls("POST /v1/billing_portal/sessions"); n != 5 {
		t.Fatalf("Stripe saw %d portal sessions, want 5", n)
	}
}

func TestParseSessionRates(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	r, err := runtime.ParseSessionRates(env(nil))
	if err != nil || r != runtime.DefaultSessionRates() || r.User.String() != "10/m,burst=5" || r.Key.String() != "600/m,burst=60" {
		t.Fatalf("defaults: %+v %v", r, err)
	}
	r, err = runtime.ParseSessionRates(env(map[string]string{runtime.RateUserEnv: "off", runtime.RateKeyEnv: "20/s,burst=40"}))
	if err != nil || !r.User.Off() || r.Subject.String() != "10/m,burst=5" || r.Key.String() != "20/s,burst=40" {
		t.Fatalf("set: %+v %v", r, err)
	}
	_, err = runtime.ParseSessionRates(env(map[string]string{runtime.RateSubjectEnv: "10 per minute"}))
	if err == nil || !strings.Contains(err.Error(), runtime.RateSubjectEnv) || !strings.Contains(err.Error(), "N/m") {
		t.Fatalf("a bad value: %v", err)
	}
}
