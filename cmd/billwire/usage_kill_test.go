package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

const killKey = "sk_test_51UsageKillNineKey000000000000004242"

// billwire serve is killed (-9) while the app's backend reports usage and
// while the sender sends it, and started again: every event a 202 accepted
// reaches Stripe exactly once (Stripe's total per customer equals the sum
// of all events, each retried until accepted), and no meter event
// identifier is sent twice.
func TestUsageSurvivesKillNine(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	e := env(t, fake.URL())
	ctx := context.Background()
	st, err := store.Open(ctx, e["DATABASE_URL"], storetest.KeyFromBytes(t, bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 100}, zerolog.Nop())
	if _, err := svc.ConfigureKey(ctx, vocab.Test, killKey, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateMeter(ctx, vocab.Test, billing.MeterInput{EventName: "api_tokens", DisplayName: "API tokens"}); err != nil {
		t.Fatal(err)
	}
	customers := []string{"cus_KillA", "cus_KillB"}
	for i, c := range customers {
		if _, err := st.Pool().Exec(ctx, `INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id, confirmed) VALUES ('test', 'user', $1, $2, true)`,
			fmt.Sprintf("u_%d", i), c); err != nil {
			t.Fatal(err)
		}
	}
	code, key, errs := cli(t, e, "", "apikeys", "create", "--env", "test", "--name", "backend")
	if code != 0 {
		t.Fatalf("apikeys create: %s", errs)
	}
	key = strings.TrimSpace(key)
	addr := freeAddr(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--addr", addr)
		cmd.Env = environ(e)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 200; i++ {
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
		return cmd
	}
	const batches, size = 120, 50
	want := map[string]float64{}
	body := make([][]byte, batches)
	base := time.Now().Add(-20 * time.Minute).Truncate(time.Minute)
	for i := range body {
		evs := make([]map[string]any, size)
		for k := range evs {
			u := (i + k) % 2
			v := float64(k%7 + 1)
			want[customers[u]] += v
			evs[k] = map[string]any{"event_name": "api_tokens", "subject": map[string]any{"type": "user", "id": fmt.Sprintf("u_%d", u)},
				"value": v, "timestamp": base.Add(time.Duration(i%15) * time.Minute).Unix(), "identifier": fmt.Sprintf("kill-%d-%d", i, k)}
		}
		body[i], _ = json.Marshal(map[string]any{"events": evs})
	}
	post := func(i int) bool {
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/payments/test/usage", bytes.NewReader(body[i]))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var res struct {
			Accepted, Duplicates int
		}
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &res)
		return resp.StatusCode == http.StatusAccepted && res.Accepted+res.Duplicates == size
	}
	// Ingest at concurrency 4; serve dies after about a third of it.
	cmd := start()
	acked := make([]bool, batches)
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= batches {
					return
				}
				ok := post(i)
				mu.Lock()
				acked[i] = ok
				if i == batches/3 {
					cmd.Process.Kill() //nolint:errcheck // kill -9 mid-ingest (and mid-send)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cmd.Wait() //nolint:errcheck
	// Started again: the backend retries every batch that got no 202, and
	// serve is killed once more while the sender sends.
	cmd = start()
	for i, ok := range acked {
		for !ok {
			ok = post(i)
		}
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Kill() //nolint:errcheck
	cmd.Wait()         //nolint:errcheck
	cmd = start()
	defer func() { cmd.Process.Kill(); cmd.Wait() }() //nolint:errcheck
	deadline := time.Now().Add(120 * time.Second)
	for {
		done := true
		for _, c := range customers {
			done = done && fake.MeterTotal(killKey, "api_tokens", c) == want[c]
		}
		var open int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM payments.usage_events WHERE status <> 'sent'`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if done && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, c := range customers {
				t.Errorf("%s: Stripe counted %v, want %v", c, fake.MeterTotal(killKey, "api_tokens", c), want[c])
			}
			t.Fatalf("%d events not sent after 120 s", open)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ids, dups := fake.MeterEventIdentifiers(killKey)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("meter event %s accepted twice", id)
		}
		seen[id] = true
	}
	t.Logf("%d meter events, %d repeated identifiers answered as duplicates", len(ids), dups)
}
