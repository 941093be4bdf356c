package resources_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
	"github.com/billwire/billwire/resources"
)

// The resources alone, on a server of their own over a database of their
// own: what they list and what reading each returns. That data written by
// the tools shows in them is tested end to end in internal/mcpserver.

const testKey = "sk_test_51BillwireResourcesKey0000004242"

type fixture struct {
	t     *testing.T
	s     *server.MCPServer
	store *store.Store
	svc   *billing.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := storetest.New(t)
	fake := stripetest.StartFake(t, stripetest.FakeOptions{})
	svc := billing.New(billing.Static(st), stripeapi.Options{BaseURL: fake.URL()}, zerolog.Nop())
	s := server.NewMCPServer("resources-test", "1", server.WithResourceCapabilities(false, false), server.WithResourceRecovery())
	resources.Register(s, svc)
	return &fixture{t: t, s: s, store: st, svc: svc}
}

// rpc sends one JSON-RPC request to the server, as a client's transport
// would, and decodes the result into out; an error answer is an error.
func (f *fixture) rpc(method string, params, out any) error {
	f.t.Helper()
	req, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := json.Marshal(f.s.HandleMessage(context.Background(), req))
	if err != nil {
		f.t.Fatal(err)
	}
	var r struct {
		Result json.RawMessage
		Error  *struct{ Message string }
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		f.t.Fatalf("%s: %v: %s", method, err, resp)
	}
	if r.Error != nil {
		return errors.New(r.Error.Message)
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		f.t.Fatalf("%s: %v: %s", method, err, r.Result)
	}
	return nil
}

// read reads uri, which must answer one JSON text, and returns the text.
func (f *fixture) read(uri string) (string, error) {
	f.t.Helper()
	var res struct {
		Contents []struct {
			URI, MIMEType, Text string
		}
	}
	if err := f.rpc("resources/read", map[string]any{"uri": uri}, &res); err != nil {
		return "", err
	}
	if len(res.Contents) != 1 || res.Contents[0].MIMEType != "application/json" || res.Contents[0].URI != uri {
		f.t.Fatalf("read %s: not one JSON text of that URI: %+v", uri, res.Contents)
	}
	return res.Contents[0].Text, nil
}

// readJSON reads uri, which must succeed, and decodes it.
func (f *fixture) readJSON(uri string) map[string]any {
	f.t.Helper()
	text, err := f.read(uri)
	if err != nil {
		f.t.Fatalf("read %s: %v", uri, err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		f.t.Fatalf("read %s: %v\n%s", uri, err, text)
	}
	return v
}

// upsert stores Stripe objects of one kind, as a sync would.
func (f *fixture) upsert(env vocab.Env, kind vocab.Kind, objs ...string) {
	f.t.Helper()
	raw := make([]json.RawMessage, len(objs))
	for i, o := range objs {
		raw[i] = json.RawMessage(o)
	}
	if _, err := f.store.Upsert(context.Background(), env, kind, raw, time.Now()); err != nil {
		f.t.Fatal(err)
	}
}

// The URIs and templates are public names (README, MCP resources): each
// is listed with a description and the JSON MIME type, and every list says
// how it pages.
func TestResourcesListed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var rs struct {
		Resources []struct{ URI, Name, Description, MIMEType string }
	}
	if err := f.rpc("resources/list", map[string]any{}, &rs); err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range rs.Resources {
		uris = append(uris, r.URI)
		if r.MIMEType != "application/json" || r.Description == "" || r.Name == "" {
			t.Errorf("%s: name %q, MIME type %q, description %q", r.URI, r.Name, r.MIMEType, r.Description)
		}
	}
	slices.Sort(uris)
	if want := []string{"billwire://price-map", "billwire://settings"}; !slices.Equal(uris, want) {
		t.Errorf("resources %v, want %v", uris, want)
	}
	var ts struct {
		ResourceTemplates []struct{ URITemplate, Description, MIMEType string }
	}
	if err := f.rpc("resources/templates/list", map[string]any{}, &ts); err != nil {
		t.Fatal(err)
	}
	var templates []string
	for _, rt := range ts.ResourceTemplates {
		uri := rt.URITemplate
		templates = append(templates, uri)
		if rt.MIMEType != "application/json" || rt.Description == "" {
			t.Errorf("%s: MIME type %q, description %q", uri, rt.MIMEType, rt.Description)
		}
		if strings.HasSuffix(uri, "{?cursor,query}") && (!strings.Contains(rt.Description, "next_cursor") || !strings.Contains(rt.Description, "?cursor=")) {
			t.Errorf("%s does not say how it pages: %q", uri, rt.Description)
		}
	}
	slices.Sort(templates)
	want := []string{
		"billwire://{env}/catalog{?cursor,query}",
		"billwire://{env}/checkout-sessions{?cursor,query}",
		"billwire://{env}/customers{?cursor,query}",
		"billwire://{env}/invoices{?cursor,query}",
		"billwire://{env}/meters",
		"billwire://{env}/payment-history{?cursor,query}",
		"billwire://{env}/subjects/{type}/{id}",
		"billwire://{env}/subjects/{type}/{id}/usage{?event_name}",
		"billwire://{env}/subscriptions{?cursor,query}",
		"billwire://{env}/webhook-events{?cursor,query}",
	}
	if !slices.Equal(templates, want) {
		t.Errorf("templates %v, want %v", templates, want)
	}
}

// Settings shows both environments, the key masked: never the full secret.
func TestSettingsResource(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	envs := func() []any {
		t.Helper()
		st, _ := f.readJSON("billwire://settings")["environments"].([]any)
		if len(st) != 2 {
			t.Fatalf("settings environments = %v", st)
		}
		return st
	}
	// A test key may be set through MCP; a live key only by a human.
	for i, step := range []string{"configure_stripe_keys", "billwire keys set --env live"} {
		m := envs()[i].(map[string]any)
		if m["env"] != string(vocab.Envs[i]) || m["configured"] != false || !strings.Contains(m["next_step"].(string), step) {
			t.Errorf("unconfigured settings[%d] = %v, want the next step %q", i, m, step)
		}
	}
	if _, err := f.svc.ConfigureKey(context.Background(), vocab.Test, testKey, false); err != nil {
		t.Fatal(err)
	}
	test := envs()[0].(map[string]any)
	if test["configured"] != true || test["key"] != "sk_test_…4242" || !strings.HasPrefix(test["account_id"].(string), "acct_") {
		t.Errorf("configured test settings = %v", test)
	}
	if text, _ := f.read("billwire://settings"); strings.Contains(text, testKey) || strings.Contains(text, testKey[8:]) {
		t.Errorf("settings show the secret key: %s", text)
	}
}

// Every list reads one page of its environment's rows in a JSON envelope
// that names the environment, an empty list as [] rather than null.
func TestListResourcesRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.upsert(vocab.Test, vocab.Products, `{"id":"prod_R1","object":"product","name":"Pro","active":true,"created":1700000000,"metadata":{}}`)
	f.upsert(vocab.Test, vocab.Prices, `{"id":"price_R1","object":"price","product":"prod_R1","active":true,"currency":"usd","unit_amount":2000,
		"type":"recurring","recurring":{"interval":"month","interval_count":1},"lookup_key":"pro_monthly","created":1700000000,"metadata":{}}`)
	f.upsert(vocab.Test, vocab.Customers, `{"id":"cus_R1","object":"customer","email":"r1@example.com","created":1700000000,"metadata":{}}`)
	f.upsert(vocab.Test, vocab.Subscriptions, `{"id":"sub_R1","object":"subscription","customer":"cus_R1","status":"active","currency":"usd",
		"current_period_end":1800000000,"cancel_at_period_end":false,"created":1700000000,"livemode":false,"metadata":{},
		"items":{"object":"list","data":[{"id":"si_R1","object":"subscription_item","subscription":"sub_R1","price":{"id":"price_R1","object":"price"},"quantity":3}],"has_more":false}}`)
	for _, tc := range []struct {
		name, list, id string
	}{
		{"catalog", "products", "prod_R1"},
		{"customers", "customers", "cus_R1"},
		{"subscriptions", "subscriptions", "sub_R1"},
		{"payment-history", "payments", ""},
		{"webhook-events", "events", ""},
		{"checkout-sessions", "checkout_sessions", ""},
	} {
		for _, env := range vocab.Envs {
			v := f.readJSON(fmt.Sprintf("billwire://%s/%s", env, tc.name))
			rows, ok := v[tc.list].([]any)
			switch {
			case v["env"] != string(env) || !ok:
				t.Errorf("%s/%s = %v, want env %s and a %s array", env, tc.name, v, env, tc.list)
			case env == vocab.Test && tc.id != "" && (len(rows) != 1 || rows[0].(map[string]any)["id"] != tc.id):
				t.Errorf("test/%s = %v, want %s", tc.name, rows, tc.id)
			case (env == vocab.Live || tc.id == "") && len(rows) != 0:
				t.Errorf("%s/%s = %v, want none", env, tc.name, rows)
			}
		}
	}
	cat := f.readJSON("billwire://test/catalog")
	if price, _ := cat["products"].([]any)[0].(map[string]any)["prices"].([]any); len(price) != 1 || price[0].(map[string]any)["display"] != "20.00 USD / month" {
		t.Errorf("catalog prices = %v, want the price with its display", price)
	}
	sub := f.readJSON("billwire://test/subscriptions")["subscriptions"].([]any)[0].(map[string]any)
	if items, _ := sub["items"].([]any); len(items) != 1 || items[0].(map[string]any)["quantity"] != float64(3) {
		t.Errorf("subscription items = %v", sub["items"])
	}
	if m := f.readJSON("billwire://price-map"); m["prices"] == nil || len(m["prices"].([]any)) != 0 {
		t.Errorf("price-map of a fresh database = %v, want an empty list", m)
	}
}

// A list pages by 50: next_cursor while more remain, ?cursor= reads the
// next page, ?query= searches.
func TestListResourcesPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var customers []string
	for i := range 120 {
		customers = append(customers, fmt.Sprintf(`{"id":"cus_P%03d","object":"customer","email":"p%03d@example.com","created":%d,"metadata":{}}`, i, i, 1700000000+i))
	}
	f.upsert(vocab.Test, vocab.Customers, customers...)
	f.upsert(vocab.Live, vocab.Customers, `{"id":"cus_Live1","object":"customer","created":1700000000,"metadata":{}}`)
	seen := map[string]bool{}
	var sizes []int
	uri := "billwire://test/customers"
	for range 5 {
		page := f.readJSON(uri)
		rows := page["customers"].([]any)
		sizes = append(sizes, len(rows))
		for _, r := range rows {
			seen[r.(map[string]any)["id"].(string)] = true
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		uri = "billwire://test/customers?cursor=" + next
	}
	if !slices.Equal(sizes, []int{50, 50, 20}) || len(seen) != 120 || seen["cus_Live1"] {
		t.Fatalf("pages of %v held %d distinct customers (live one: %v), want 50, 50, 20 and the 120 test ones", sizes, len(seen), seen["cus_Live1"])
	}
	// The start of an email finds its customer.
	found := f.readJSON("billwire://test/customers?query=p042")["customers"].([]any)
	if len(found) != 1 || found[0].(map[string]any)["id"] != "cus_P042" {
		t.Errorf("query = %v, want cus_P042", found)
	}
}

// A bad environment, cursor or subject is an error, not an empty page.
func TestResourcesRefuseBadURIs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for uri, want := range map[string]string{
		"billwire://staging/customers":              "staging",
		"billwire://test/catalog?cursor=%23%23%23":  "next_cursor",
		"billwire://test/subjects/organization/o_1": "subject.type",
		"billwire://test/subjects/user/%20":         "subject",
	} {
		if text, err := f.read(uri); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s = %q, %v; want an error mentioning %q", uri, text, err, want)
		}
	}
}

// A subject's billing state: its customer and whether the mapping is
// confirmed, its subscriptions that bill, its payments.
func TestSubjectResource(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.upsert(vocab.Test, vocab.Customers, `{"id":"cus_S1","object":"customer","email":"team@example.com","created":1700000000,"metadata":{}}`)
	if _, err := f.store.SubjectCustomer(ctx, vocab.Test, "team", "t_42", nil, func(context.Context, string) (string, json.RawMessage, error) {
		return "cus_S1", nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	v := f.readJSON("billwire://test/subjects/team/t_42")
	sub, _ := v["subject"].(map[string]any)
	cus, _ := v["customer"].(map[string]any)
	if v["env"] != "test" || sub["type"] != "team" || sub["id"] != "t_42" || v["has_billing"] != true ||
		cus["id"] != "cus_S1" || cus["mapping_confirmed"] != false {
		t.Errorf("subject = %v", v)
	}
	none := f.readJSON("billwire://test/subjects/user/u_nobody")
	if none["has_billing"] != false || none["customer"] != nil || len(none["subscriptions"].([]any)) != 0 || len(none["recent_payments"].([]any)) != 0 {
		t.Errorf("a subject without billing = %v", none)
	}
	if other := f.readJSON("billwire://live/subjects/team/t_42"); other["customer"] != nil {
		t.Errorf("the test mapping shows in live: %v", other)
	}
}
