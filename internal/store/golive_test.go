package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/vocab"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), storetest.DSN(t), storetest.MasterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestPriceMap(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	if m, err := s.PriceMap(ctx); err != nil || len(m) != 0 {
		t.Fatalf("empty map = %v, %v", m, err)
	}
	key := "pro_monthly"
	put := func(test, live string, lk *string) {
		t.Helper()
		if err := s.PutPriceMapping(ctx, store.PriceMapping{TestPriceID: test, LivePriceID: live, TestProductID: "prod_T", LiveProductID: "prod_L", LookupKey: lk}); err != nil {
			t.Fatal(err)
		}
	}
	put("price_T2", "price_L2", nil)
	put("price_T1", "price_L1", &key)
	first, _ := s.PriceMap(ctx)
	put("price_T1", "price_L1", &key) // the same again keeps its time
	again, _ := s.PriceMap(ctx)
	if len(again) != 2 || again[0].TestPriceID != "price_T1" || *again[0].LookupKey != key || again[1].LookupKey != nil ||
		!again[0].PromotedAt.Equal(first[0].PromotedAt) {
		t.Fatalf("map = %+v", again)
	}
	put("price_T1", "price_L9", &key) // re-pointed
	m, _ := s.PriceMap(ctx)
	if m[0].LivePriceID != "price_L9" || len(m) != 2 {
		t.Fatalf("re-pointed map = %+v", m)
	}
	// A live price maps from one test price only.
	if err := s.PutPriceMapping(ctx, store.PriceMapping{TestPriceID: "price_T3", LivePriceID: "price_L9", TestProductID: "p", LiveProductID: "p"}); err == nil {
		t.Fatal("two test prices mapped to one live price")
	}
}

func TestLookupKeyPricePerEnvironment(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	now := time.Now()
	for _, env := range vocab.Envs {
		live := env == vocab.Live
		if _, err := s.Upsert(ctx, env, vocab.Products, []json.RawMessage{raw(`{"id":"prod_1","object":"product","name":"Pro","active":true,"created":1700000000,"livemode":%v}`, live)}, now); err != nil {
			t.Fatal(err)
		}
	}
	prices := []struct {
		env    vocab.Env
		id     string
		key    string
		active bool
	}{
		{vocab.Test, "price_test_old", "pro_monthly", false},
		{vocab.Test, "price_test_new", "pro_monthly", true},
		{vocab.Live, "price_live", "pro_monthly", true},
		{vocab.Live, "price_live_team", "team_monthly", false},
	}
	for _, p := range prices {
		obj := raw(`{"id":%q,"object":"price","product":"prod_1","active":%v,"currency":"usd","unit_amount":2000,"type":"recurring",
			"recurring":{"interval":"month","interval_count":1},"lookup_key":%q,"created":1700000000,"livemode":%v}`, p.id, p.active, p.key, p.env == vocab.Live)
		if _, err := s.Upsert(ctx, p.env, vocab.Prices, []json.RawMessage{obj}, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		env       vocab.Env
		key, want string
	}{
		{vocab.Test, "pro_monthly", "price_test_new"},
		{vocab.Live, "pro_monthly", "price_live"},
	} {
		if got, err := s.LookupKeyPrice(ctx, c.env, c.key); err != nil || got != c.want {
			t.Errorf("%s %s = %q, %v; want %s", c.env, c.key, got, err, c.want)
		}
	}
	for _, c := range []struct {
		env vocab.Env
		key string
	}{{vocab.Live, "team_monthly"}, {vocab.Test, "team_monthly"}, {vocab.Test, "nope"}} {
		if _, err := s.LookupKeyPrice(ctx, c.env, c.key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s %s: err = %v, want ErrNotFound", c.env, c.key, err)
		}
	}
}

// summaryFixture is the entitlements.active_entitlement_summary.updated
// event of the fixture story (cus_Fixture1 is entitled to api_access and
// priority_support).
func summaryFixture(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/events/entitlements.active_entitlement_summary.updated.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func summaryObject(t *testing.T, customer string, live, hasMore bool, keys ...string) json.RawMessage {
	t.Helper()
	data := []map[string]any{}
	for _, k := range keys {
		data = append(data, map[string]any{"id": "ent_" + k, "object": "entitlements.active_entitlement", "feature": "feat_" + k,
			"livemode": live, "lookup_key": k})
	}
	b, err := json.Marshal(map[string]any{"object": "entitlements.active_entitlement_summary", "customer": customer, "livemode": live,
		"entitlements": map[string]any{"object": "list", "data": data, "has_more": hasMore, "url": "/v1/customer/" + customer + "/entitlements"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEntitlementSummaryFixture(t *testing.T) {
	t.Parallel()
	const secret = "whsec_test_fixtures"
	payload := summaryFixture(t)
	ev, err := webhook.ConstructEventWithOptions(payload, eventfixtures.Sign(payload, secret, time.Now()), secret, webhook.ConstructEventOptions{})
	if err != nil {
		t.Fatalf("the fixture does not verify as a Stripe event: %v", err)
	}
	if ev.Type != "entitlements.active_entitlement_summary.updated" || ev.APIVersion != "2024-06-20" || ev.Livemode {
		t.Fatalf("event %s %s live %v", ev.Type, ev.APIVersion, ev.Livemode)
	}
	var sum stripe.EntitlementsActiveEntitlementSummary
	if err := json.Unmarshal(ev.Data.Raw, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Customer != "cus_Fixture1" || sum.Entitlements == nil || len(sum.Entitlements.Data) != 2 || sum.Entitlements.Data[0].LookupKey != "api_access" ||
		sum.Entitlements.Data[0].Feature == nil || sum.Entitlements.Data[0].Feature.ID != "feat_test_Fixture1" {
		t.Fatalf("summary = %+v", sum)
	}
	for k := range ev.Data.PreviousAttributes {
		if _, ok := ev.Data.Object[k]; !ok {
			t.Errorf("previous_attributes.%s is not a key of data.object", k)
		}
	}
	parsed, err := store.ParseEntitlementSummary(ev.Data.Raw)
	if err != nil || parsed.Customer != "cus_Fixture1" || parsed.HasMore || !slices.Equal(parsed.Features, []string{"api_access", "priority_support"}) {
		t.Fatalf("parsed = %+v, %v", parsed, err)
	}
}

func TestProjectEntitlementSummary(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	t0 := time.Unix(1719914527, 0)
	var ev struct {
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(summaryFixture(t), &ev); err != nil {
		t.Fatal(err)
	}
	if err := store.ProjectEntitlementSummary(ctx, s.Pool(), vocab.Test, ev.Data.Object, t0); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetEntitlementSummary(ctx, vocab.Test, "cus_Fixture1")
	if err != nil || !slices.Equal(got.Features, []string{"api_access", "priority_support"}) || !got.SourceAt.Equal(t0) {
		t.Fatalf("summary = %+v, %v", got, err)
	}
	// An older summary (a late delivery) leaves the newer one; a newer replaces it.
	if err := store.ProjectEntitlementSummary(ctx, s.Pool(), vocab.Test, summaryObject(t, "cus_Fixture1", false, false), t0.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetEntitlementSummary(ctx, vocab.Test, "cus_Fixture1"); len(got.Features) != 2 {
		t.Fatalf("an older summary overwrote a newer one: %+v", got)
	}
	if err := store.ProjectEntitlementSummary(ctx, s.Pool(), vocab.Test, summaryObject(t, "cus_Fixture1", false, false, "seats", "api_access", "seats"), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetEntitlementSummary(ctx, vocab.Test, "cus_Fixture1"); !slices.Equal(got.Features, []string{"api_access", "seats"}) {
		t.Fatalf("newer summary = %+v", got)
	}
	// Losing every entitlement is a summary too.
	if err := store.ProjectEntitlementSummary(ctx, s.Pool(), vocab.Test, summaryObject(t, "cus_Fixture1", false, false), t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetEntitlementSummary(ctx, vocab.Test, "cus_Fixture1"); got.Features == nil || len(got.Features) != 0 {
		t.Fatalf("emptied summary = %#v", got.Features)
	}
	// Refused, nothing stored: truncated, wrong mode, not a summary.
	bad := []struct {
		obj  json.RawMessage
		env  vocab.Env
		want string
	}{
		{summaryObject(t, "cus_2", false, true, "a"), vocab.Test, "has_more"},
		{summaryObject(t, "cus_2", false, false, "a"), vocab.Live, "livemode"},
		{raw(`{"object":"customer","id":"cus_2"}`), vocab.Test, "entitlements.active_entitlement_summary"},
		{raw(`{"object":"entitlements.active_entitlement_summary","livemode":false,"entitlements":{"data":[]}}`), vocab.Test, "no customer"},
	}
	for _, b := range bad {
		err := store.ProjectEntitlementSummary(ctx, s.Pool(), b.env, b.obj, t0)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: err = %v, want %q", b.obj, err, b.want)
		}
	}
	if _, err := s.GetEntitlementSummary(ctx, vocab.Test, "cus_2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused summary was stored: %v", err)
	}
	if err := store.ProjectEntitlementSummary(ctx, s.Pool(), vocab.Test, summaryObject(t, "cus_2", false, true, "a"), t0); !errors.Is(err, store.ErrEntitlementSummaryTruncated) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestSubjectEntitlements(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	if _, err := s.GetSubjectEntitlements(ctx, vocab.Test, "team", "t_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unmapped subject: %v", err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id, confirmed)
		VALUES ('test', 'team', 't_1', 'cus_A', true), ('live', 'team', 't_1', 'cus_L', false)`); err != nil {
		t.Fatal(err)
	}
	se, err := s.GetSubjectEntitlements(ctx, vocab.Test, "team", "t_1")
	if err != nil || se.CustomerID != "cus_A" || !se.MappingConfirmed || se.Summary != nil {
		t.Fatalf("before any summary: %+v, %v", se, err)
	}
	at := time.Now().Truncate(time.Second)
	if err := store.ProjectEntitlementSummary(ctx, s.Pool(), vocab.Test, summaryObject(t, "cus_A", false, false, "api_access"), at); err != nil {
		t.Fatal(err)
	}
	se, err = s.GetSubjectEntitlements(ctx, vocab.Test, "team", "t_1")
	if err != nil || se.Summary == nil || !slices.Equal(se.Summary.Features, []string{"api_access"}) || !se.Summary.SourceAt.Equal(at) {
		t.Fatalf("after the summary: %+v, %v", se, err)
	}
	// The live mapping sees nothing of the test summary.
	se, err = s.GetSubjectEntitlements(ctx, vocab.Live, "team", "t_1")
	if err != nil || se.CustomerID != "cus_L" || se.Summary != nil {
		t.Fatalf("live: %+v, %v", se, err)
	}
}

// Another account on either side leaves the price map pointing nowhere and
// the summaries describing another account's customers: both go.
func TestAccountChangeClearsMapAndSummaries(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	const key = "sk_live_FAKEstoreFixture1234"
	if err := s.PutEnvironment(ctx, vocab.Live, key, "secret", "acct_A", "", "sk_live_…1234", false); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPriceMapping(ctx, store.PriceMapping{TestPriceID: "price_T", LivePriceID: "price_L", TestProductID: "prod_T", LiveProductID: "prod_L"}); err != nil {
		t.Fatal(err)
	}
	for _, env := range vocab.Envs {
		if err := store.ProjectEntitlementSummary(ctx, s.Pool(), env, summaryObject(t, "cus_A", env == vocab.Live, false, "x"), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// The same account again keeps both.
	if err := s.PutEnvironment(ctx, vocab.Live, key, "secret", "acct_A", "", "sk_live_…1234", false); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.PriceMap(ctx); len(m) != 1 {
		t.Fatalf("map = %v", m)
	}
	if err := s.PutEnvironment(ctx, vocab.Live, key, "secret", "acct_B", "", "sk_live_…1234", true); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.PriceMap(ctx); len(m) != 0 {
		t.Fatalf("map after the account change = %v", m)
	}
	if _, err := s.GetEntitlementSummary(ctx, vocab.Live, "cus_A"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("live summary after the account change: %v", err)
	}
	if _, err := s.GetEntitlementSummary(ctx, vocab.Test, "cus_A"); err != nil {
		t.Fatalf("the test summary went with the live account: %v", err)
	}
}
