package stripetest

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v79"
)

// newEndpoint creates a webhook endpoint through stripe-go and fails the
// test if that fails.
func newEndpoint(t *testing.T, f *Fake, key, u string, events ...string) *stripe.WebhookEndpoint {
	t.Helper()
	e, err := newClient(f.URL(), key).WebhookEndpoints.New(&stripe.WebhookEndpointParams{
		URL:           stripe.String(u),
		EnabledEvents: stripe.StringSlice(events),
	})
	if err != nil {
		t.Fatalf("creating a webhook endpoint: %v", err)
	}
	return e
}

func TestFakeWebhookEndpointSecretOnlyOnCreate(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	sc := newClient(f.URL(), testKey)
	params := &stripe.WebhookEndpointParams{
		URL:           stripe.String("http://127.0.0.1:8080/stripe/webhook"),
		EnabledEvents: stripe.StringSlice([]string{"customer.subscription.updated", "invoice.paid"}),
		APIVersion:    stripe.String("2024-06-20"),
		Description:   stripe.String("billwire"),
		Connect:       stripe.Bool(true),
	}
	params.AddMetadata("owner", "billwire")
	created, err := sc.WebhookEndpoints.New(params)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.ID, "we_") || created.Object != "webhook_endpoint" || created.Status != "enabled" ||
		created.URL != "http://127.0.0.1:8080/stripe/webhook" || created.APIVersion != "2024-06-20" ||
		created.Description != "billwire" || created.Metadata["owner"] != "billwire" || created.Livemode ||
		created.Application != "" || created.Created == 0 ||
		fmt.Sprint(created.EnabledEvents) != "[customer.subscription.updated invoice.paid]" {
		t.Fatalf("created endpoint %+v", created)
	}
	secret, ok := strings.CutPrefix(created.Secret, "whsec_")
	if !ok || len(secret) != 32 || strings.Trim(secret, base62) != "" {
		t.Fatalf("secret %q, want whsec_ and 32 letters and digits", created.Secret)
	}

	got, err := sc.WebhookEndpoints.Get(created.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != "" || got.ID != created.ID || got.URL != created.URL || got.Status != "enabled" {
		t.Errorf("retrieved endpoint %+v: want it without the secret", got)
	}
	raw := do(t, "GET", f.URL()+"/v1/webhook_endpoints/"+created.ID, testKey, nil)
	var fields map[string]any
	decode(t, raw.body, &fields)
	if _, has := fields["secret"]; has {
		t.Errorf("GET returns a secret field: %s", raw.body)
	}
	if _, has := fields["connect"]; has {
		t.Errorf("GET returns a connect field, which Stripe does not: %s", raw.body)
	}

	// The helper reports the secret and the connect flag.
	eps := f.WebhookEndpoints(testKey)
	if len(eps) != 1 || eps[0]["id"] != created.ID || eps[0]["secret"] != created.Secret || eps[0]["connect"] != true ||
		eps[0]["api_version"] != "2024-06-20" || eps[0]["status"] != "enabled" || eps[0]["created"] != created.Created ||
		fmt.Sprint(eps[0]["enabled_events"]) != "[customer.subscription.updated invoice.paid]" {
		t.Errorf("WebhookEndpoints = %v", eps)
	}

	// Secrets are random; api_version and description are null when not
	// given; "*" enables every event.
	r := do(t, "POST", f.URL()+"/v1/webhook_endpoints", testKey,
		url.Values{"url": {"https://example.com/hook"}, "enabled_events[]": {"*"}}, "Idempotency-Key", "we-1")
	if r.status != 200 {
		t.Fatalf("second create: %d %s", r.status, r.body)
	}
	var second map[string]any
	decode(t, r.body, &second)
	if second["secret"] == created.Secret || second["api_version"] != nil || second["description"] != nil ||
		second["application"] != nil || fmt.Sprint(second["enabled_events"]) != "[*]" {
		t.Errorf("second endpoint %s", r.body)
	}
	// An idempotent replay returns the same endpoint and secret and creates
	// nothing.
	replay := do(t, "POST", f.URL()+"/v1/webhook_endpoints", testKey,
		url.Values{"url": {"https://example.com/hook"}, "enabled_events[]": {"*"}}, "Idempotency-Key", "we-1")
	if !bytes.Equal(replay.body, r.body) || replay.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %s", replay.body)
	}
	if n := len(f.WebhookEndpoints(testKey)); n != 2 {
		t.Errorf("%d endpoints after a replay, want 2", n)
	}
}

func TestFakeWebhookEndpointCreateErrors(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	for _, tc := range []struct {
		name        string
		form        url.Values
		code, param string
	}{
		{"no url", url.Values{"enabled_events[0]": {"invoice.paid"}}, "parameter_missing", "url"},
		{"empty url", url.Values{"url": {""}, "enabled_events[0]": {"invoice.paid"}}, "parameter_invalid_empty", "url"},
		{"relative url", url.Values{"url": {"/hook"}, "enabled_events[0]": {"invoice.paid"}}, "url_invalid", "url"},
		{"ftp url", url.Values{"url": {"ftp://example.com/hook"}, "enabled_events[0]": {"invoice.paid"}}, "url_invalid", "url"},
		{"no events", url.Values{"url": {"https://example.com"}}, "parameter_missing", "enabled_events"},
		{"empty events", url.Values{"url": {"https://example.com"}, "enabled_events": {""}}, "parameter_invalid_empty", "enabled_events"},
		{"bad event", url.Values{"url": {"https://example.com"}, "enabled_events[0]": {"Invoice Paid"}}, "", "enabled_events"},
		{"bad api_version", url.Values{"url": {"https://example.com"}, "enabled_events[0]": {"*"}, "api_version": {"latest"}}, "", "api_version"},
		{"bad connect", url.Values{"url": {"https://example.com"}, "enabled_events[0]": {"*"}, "connect": {"yes"}}, "", "connect"},
		{"expand", url.Values{"url": {"https://example.com"}, "enabled_events[0]": {"*"}, "expand[0]": {"x"}}, "parameter_unknown", "expand[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, "POST", f.URL()+"/v1/webhook_endpoints", testKey, tc.form)
			e := r.errorBody(t)
			if r.status != 400 || e.Type != "invalid_request_error" || e.Code != tc.code || e.Param != tc.param {
				t.Errorf("%d %+v, want 400 code %q param %q", r.status, e, tc.code, tc.param)
			}
		})
	}
	t.Cleanup(func() {
		if n := len(f.WebhookEndpoints(testKey)); n != 0 {
			t.Errorf("failed creates left %d endpoints", n)
		}
	})
}

func TestFakeWebhookEndpointUpdate(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	sc := newClient(f.URL(), testKey)
	withMeta := func(p *stripe.WebhookEndpointParams, kv ...string) *stripe.WebhookEndpointParams {
		for i := 0; i+1 < len(kv); i += 2 {
			p.AddMetadata(kv[i], kv[i+1])
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		params *stripe.WebhookEndpointParams
		check  func(e *stripe.WebhookEndpoint) bool
	}{
		{"enabled events", &stripe.WebhookEndpointParams{EnabledEvents: stripe.StringSlice([]string{"charge.refunded", "charge.dispute.created"})},
			func(e *stripe.WebhookEndpoint) bool {
				return fmt.Sprint(e.EnabledEvents) == "[charge.refunded charge.dispute.created]" && e.Status == "enabled"
			}},
		{"disable", &stripe.WebhookEndpointParams{Disabled: stripe.Bool(true)},
			func(e *stripe.WebhookEndpoint) bool { return e.Status == "disabled" && len(e.EnabledEvents) == 1 }},
		{"enable", &stripe.WebhookEndpointParams{Disabled: stripe.Bool(false)},
			func(e *stripe.WebhookEndpoint) bool { return e.Status == "enabled" }},
		{"url", &stripe.WebhookEndpointParams{URL: stripe.String("https://example.com/v2")},
			func(e *stripe.WebhookEndpoint) bool { return e.URL == "https://example.com/v2" }},
		{"description", &stripe.WebhookEndpointParams{Description: stripe.String("new")},
			func(e *stripe.WebhookEndpoint) bool { return e.Description == "new" }},
		{"metadata merge", withMeta(&stripe.WebhookEndpointParams{}, "b", "2", "a", ""),
			func(e *stripe.WebhookEndpoint) bool { return fmt.Sprint(e.Metadata) == "map[b:2 c:3]" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := withMeta(&stripe.WebhookEndpointParams{
				URL:           stripe.String("https://example.com/v1"),
				EnabledEvents: stripe.StringSlice([]string{"invoice.paid"}),
				Description:   stripe.String("old"),
			}, "a", "1", "c", "3")
			e, err := sc.WebhookEndpoints.New(p)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "enable" {
				f.DisableWebhookEndpoint(testKey, e.ID)
			}
			updated, err := sc.WebhookEndpoints.Update(e.ID, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sc.WebhookEndpoints.Get(e.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(updated) || !tc.check(got) {
				t.Errorf("update answered %+v, then GET %+v", updated, got)
			}
			if updated.Secret != "" || updated.Created != e.Created || updated.ID != e.ID {
				t.Errorf("update answered %+v", updated)
			}
		})
	}

	e := newEndpoint(t, f, testKey, "https://example.com/errors", "invoice.paid")
	// Unsetting with empty values, as stripe-go cannot.
	r := do(t, "POST", f.URL()+"/v1/webhook_endpoints/"+e.ID, testKey, url.Values{"description": {""}, "metadata": {""}})
	var unset map[string]any
	decode(t, r.body, &unset)
	if r.status != 200 || unset["description"] != nil || fmt.Sprint(unset["metadata"]) != "map[]" {
		t.Errorf("unsetting: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name        string
		id          string
		form        url.Values
		status      int
		code, param string
	}{
		{"api_version", e.ID, url.Values{"api_version": {"2024-06-20"}}, 400, "parameter_unknown", "api_version"},
		{"connect", e.ID, url.Values{"connect": {"true"}}, 400, "parameter_unknown", "connect"},
		{"empty events", e.ID, url.Values{"enabled_events": {""}}, 400, "parameter_invalid_empty", "enabled_events"},
		{"bad event", e.ID, url.Values{"enabled_events[0]": {"*.paid"}}, 400, "", "enabled_events"},
		{"bad url", e.ID, url.Values{"url": {"example.com"}}, 400, "url_invalid", "url"},
		{"bad disabled", e.ID, url.Values{"disabled": {"1"}}, 400, "", "disabled"},
		{"unknown id", "we_nope", url.Values{"disabled": {"true"}}, 404, "resource_missing", "id"},
	} {
		r := do(t, "POST", f.URL()+"/v1/webhook_endpoints/"+tc.id, testKey, tc.form)
		e := r.errorBody(t)
		if r.status != tc.status || e.Code != tc.code || e.Param != tc.param {
			t.Errorf("%s: %d %+v, want %d code %q param %q", tc.name, r.status, e, tc.status, tc.code, tc.param)
		}
	}
	if r := do(t, "POST", f.URL()+"/v1/webhook_endpoints/we_nope", testKey, nil); r.errorBody(t).Message != "No such webhook endpoint: 'we_nope'" {
		t.Errorf("unknown endpoint: %s", r.body)
	}
	// A failed update changes nothing.
	eps := f.WebhookEndpoints(testKey)
	last := eps[len(eps)-1]
	if last["id"] != e.ID || last["status"] != "enabled" || last["url"] != "https://example.com/errors" ||
		fmt.Sprint(last["enabled_events"]) != "[invoice.paid]" || last["api_version"] != nil {
		t.Errorf("after failed updates: %v", last)
	}
}

func TestFakeWebhookEndpointListAndDelete(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{})
	sc := newClient(f.URL(), testKey)
	var ids []string
	for i := range 5 {
		ids = append(ids, newEndpoint(t, f, testKey, fmt.Sprintf("https://example.com/%d", i), "invoice.paid").ID)
	}
	other := newEndpoint(t, f, "sk_test_otheraccount", "https://example.com/other", "*")
	live := newEndpoint(t, f, "sk_live_abcdefgh1234", "https://example.com/live", "*")
	if !live.Livemode {
		t.Errorf("endpoint created with a live key: livemode false")
	}

	list := func(params *stripe.WebhookEndpointListParams) []string {
		t.Helper()
		it := sc.WebhookEndpoints.List(params)
		var got []string
		for it.Next() {
			e := it.WebhookEndpoint()
			if e.Secret != "" {
				t.Errorf("listed endpoint %s carries its secret", e.ID)
			}
			got = append(got, e.ID)
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, tc := range []struct {
		name   string
		params *stripe.WebhookEndpointListParams
		want   []string
	}{
		{"all in pages of 2", &stripe.WebhookEndpointListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(2)}}, ids},
		{"starting_after", &stripe.WebhookEndpointListParams{ListParams: stripe.ListParams{StartingAfter: stripe.String(ids[2])}}, ids[3:]},
		{"single page", &stripe.WebhookEndpointListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(3), Single: true}}, ids[:3]},
	} {
		if got := list(tc.params); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if r := do(t, "GET", f.URL()+"/v1/webhook_endpoints?limit=2", testKey, nil); !strings.Contains(string(r.body), `"url":"/v1/webhook_endpoints","has_more":true`) {
		t.Errorf("list envelope: %s", r.body)
	}
	if r := do(t, "GET", f.URL()+"/v1/webhook_endpoints/"+other.ID, testKey, nil); r.status != 404 {
		t.Errorf("another account's endpoint: %d", r.status)
	}

	deleted, err := sc.WebhookEndpoints.Del(ids[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	if !deleted.Deleted || deleted.ID != ids[1] || deleted.Object != "webhook_endpoint" {
		t.Errorf("delete answered %+v", deleted)
	}
	r := do(t, "DELETE", f.URL()+"/v1/webhook_endpoints/"+ids[3], testKey, nil)
	var body map[string]any
	decode(t, r.body, &body)
	if want := fmt.Sprint(map[string]any{"id": ids[3], "object": "webhook_endpoint", "deleted": true}); r.status != 200 || fmt.Sprint(body) != want {
		t.Errorf("DELETE: %d %s", r.status, r.body)
	}
	want := []string{ids[0], ids[2], ids[4]}
	if got := list(&stripe.WebhookEndpointListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(1)}}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after deleting: %v, want %v", got, want)
	}
	var helperIDs []string
	for _, e := range f.WebhookEndpoints(testKey) {
		helperIDs = append(helperIDs, e["id"].(string))
	}
	if fmt.Sprint(helperIDs) != fmt.Sprint(want) {
		t.Errorf("WebhookEndpoints ids %v, want %v", helperIDs, want)
	}
	for _, id := range []string{ids[1], "we_nope"} {
		_, err := sc.WebhookEndpoints.Get(id, nil)
		if se := stripeErr(t, err); se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing {
			t.Errorf("GET %s: %v", id, err)
		}
		_, err = sc.WebhookEndpoints.Del(id, nil)
		if se := stripeErr(t, err); se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing {
			t.Errorf("DELETE %s: %v", id, err)
		}
	}
	if n := len(f.WebhookEndpoints("sk_test_otheraccount")); n != 1 {
		t.Errorf("the other account has %d endpoints, want 1", n)
	}
	if eps := f.WebhookEndpoints("sk_live_abcdefgh1234"); len(eps) != 1 || eps[0]["livemode"] != true {
		t.Errorf("live endpoints %v", eps)
	}
}

func TestFakeDisableWebhookEndpoint(t *testing.T) {
	t.Parallel()
	f := StartFake(t, FakeOptions{Accounts: map[string]string{testKey: "acct_1Hooks", "rk_test_hooks1": "acct_1Hooks"}})
	e := newEndpoint(t, f, testKey, "https://example.com/hook", "invoice.paid")
	// Another key of the same account and mode sees the same endpoints.
	f.DisableWebhookEndpoint("rk_test_hooks1", e.ID)
	got, err := newClient(f.URL(), testKey).WebhookEndpoints.Get(e.ID, nil)
	if err != nil || got.Status != "disabled" {
		t.Fatalf("after DisableWebhookEndpoint: %+v, %v", got, err)
	}
	if eps := f.WebhookEndpoints(testKey); eps[0]["status"] != "disabled" || eps[0]["secret"] != e.Secret {
		t.Errorf("WebhookEndpoints %v", eps)
	}
	for _, tc := range []struct{ key, id string }{
		{testKey, "we_nope"},
		{"sk_live_abcdefgh1234", e.ID}, // another mode
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("DisableWebhookEndpoint(%s, %s) did not panic", tc.key, tc.id)
				}
			}()
			f.DisableWebhookEndpoint(tc.key, tc.id)
		}()
	}
}

func TestWildcardMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"invoice.paid", "invoice.paid", true},
		{"invoice.paid", "invoice.paid.x", false},
		{"*", "anything.at.all", true},
		{"customer.*", "customer.created", true},
		{"customer.*", "customer.subscription.deleted", true},
		{"customer.*", "customer", false},
		{"*.created", "customer.subscription.created", true},
		{"*.created", "invoice.paid", false},
		{"customer.*.created", "customer.subscription.created", true},
		{"customer.*.created", "customer.created", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
	} {
		if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}

func TestUpdateMetadata(t *testing.T) {
	t.Parallel()
	orig := map[string]string{"a": "1", "b": "2"}
	for _, tc := range []struct {
		query, want string
	}{
		{"", "map[a:1 b:2]"},
		{"metadata[c]=3", "map[a:1 b:2 c:3]"},
		{"metadata[a]=&metadata[b]=9", "map[b:9]"},
		{"metadata=", "map[]"},
		{"metadata=&metadata[z]=1", "map[z:1]"},
	} {
		params, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(updateMetadata(orig, params, "metadata")); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.query, got, tc.want)
		}
	}
	if fmt.Sprint(orig) != "map[a:1 b:2]" {
		t.Errorf("updateMetadata modified its input: %v", orig)
	}
}
