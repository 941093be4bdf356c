package stripetest

import (
	"crypto/rand"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"
)

// Webhook endpoints: POST/GET /v1/webhook_endpoints, GET, POST and DELETE
// /v1/webhook_endpoints/{id}. The fake delivers no events; a test that
// plays Stripe signs its deliveries with the secret from WebhookEndpoints.

type webhookEndpoint struct {
	ID            string            `json:"id"`
	Object        string            `json:"object"`
	APIVersion    *string           `json:"api_version"`
	Application   *string           `json:"application"`
	Created       int64             `json:"created"`
	Description   *string           `json:"description"`
	EnabledEvents []string          `json:"enabled_events"`
	Livemode      bool              `json:"livemode"`
	Metadata      map[string]string `json:"metadata"`
	// Secret is only filled in the answer to the create, as Stripe
	// returns the signing secret only then.
	Secret string `json:"secret,omitempty"`
	Status string `json:"status"`
	URL    string `json:"url"`

	secret  string
	connect bool
}

// An endpoint's fields are never modified in place (updates assign new
// slices and maps), so a shallow copy taken under f.mu can be encoded after
// it is released.

// state returns the endpoint as WebhookEndpoints reports it.
func (e *webhookEndpoint) state() map[string]any {
	m := map[string]any{
		"id":             e.ID,
		"object":         e.Object,
		"api_version":    nil,
		"application":    nil,
		"connect":        e.connect,
		"created":        e.Created,
		"description":    nil,
		"enabled_events": slices.Clone(e.EnabledEvents),
		"livemode":       e.Livemode,
		"metadata":       maps.Clone(e.Metadata),
		"secret":         e.secret,
		"status":         e.Status,
		"url":            e.URL,
	}
	if e.APIVersion != nil {
		m["api_version"] = *e.APIVersion
	}
	if e.Description != nil {
		m["description"] = *e.Description
	}
	return m
}

// WebhookEndpoints returns the current state of the webhook endpoints of
// the account and mode key acts on (without a Stripe-Account header), in
// creation order. Each is a map of the fields Stripe returns (created int64,
// enabled_events []string, metadata map[string]string, nullable fields as
// nil or a string) plus two that the API does not return after the create:
// "secret" (string), the signing secret, and "connect" (bool).
func (f *Fake) WebhookEndpoints(key string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.keyScopeLocked(key)
	out := make([]map[string]any, len(sc.endpoints))
	for i, e := range sc.endpoints {
		out[i] = e.state()
	}
	return out
}

// DisableWebhookEndpoint sets the status of webhook endpoint id of the
// account and mode key acts on to "disabled", as Stripe does after failing
// to deliver to it for days. It panics if there is no such endpoint.
func (f *Fake) DisableWebhookEndpoint(key, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.keyScopeLocked(key)
	j, ok := sc.endpointIdx[id]
	if !ok {
		panic(fmt.Sprintf("stripetest: DisableWebhookEndpoint: no webhook endpoint %q for key %s", id, maskKey(key)))
	}
	e := *sc.endpoints[j]
	e.Status = "disabled"
	sc.endpoints[j] = &e
}

var (
	// eventTypePattern is the shape of an event type, such as
	// "customer.subscription.created".
	eventTypePattern = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)
	// apiVersionPattern is the shape of a Stripe API version, such as
	// "2024-06-20" or "2024-09-30.acacia".
	apiVersionPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$`)
)

// enabledEvents returns the enabled_events parameter; present reports
// whether it was given at all. Event types are checked for their shape
// only, not against Stripe's list.
func enabledEvents(params url.Values) (events []string, present bool, r *response) {
	if _, ok := params["enabled_events"]; ok {
		// Only the elements enabled_events[N] or enabled_events[] carry
		// values; a bare enabled_events may only try to unset the list.
		if params.Get("enabled_events") == "" {
			return nil, true, emptyParam("enabled_events")
		}
		return nil, true, unknownParam("enabled_events")
	}
	events = arrayParam(params, "enabled_events")
	if len(events) == 0 {
		return nil, hasPrefixedParam(params, "enabled_events["), nil
	}
	for _, ev := range events {
		if ev != "*" && !eventTypePattern.MatchString(ev) {
			e := invalidRequest(http.StatusBadRequest, "", "enabled_events", fmt.Sprintf(
				"Invalid enabled_events: %q is not an event type (such as customer.created) or *.", ev))
			return nil, true, &e
		}
	}
	return events, true, nil
}

// endpointURL validates the url parameter: an absolute http or https URL.
// (Stripe also wants it publicly reachable; the fake accepts loopback
// addresses so that tests can point endpoints at local servers.)
func endpointURL(params url.Values) (string, *response) {
	s := params.Get("url")
	if _, ok := params["url"]; !ok {
		return "", missing("url")
	}
	if s == "" {
		return "", emptyParam("url")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r := invalidRequest(http.StatusBadRequest, "url_invalid", "url", "Invalid URL: "+s)
		return "", &r
	}
	return s, nil
}

// createWebhookEndpoint serves POST /v1/webhook_endpoints.
func (f *Fake) createWebhookEndpoint(q *apiRequest) response {
	params := q.params
	if r := checkParams(params, []string{"api_version", "connect", "description", "enabled_events", "url"},
		[]string{"enabled_events"}, []string{"metadata"}); r != nil {
		return *r
	}
	u, r := endpointURL(params)
	if r != nil {
		return *r
	}
	events, _, r := enabledEvents(params)
	if r != nil {
		return *r
	}
	if len(events) == 0 {
		return *missing("enabled_events")
	}
	apiVersion := optString(params, "api_version")
	if _, ok := params["api_version"]; ok {
		switch {
		case apiVersion == nil:
			return *emptyParam("api_version")
		case !apiVersionPattern.MatchString(*apiVersion):
			return invalidRequest(http.StatusBadRequest, "", "api_version", "Invalid api_version: "+*apiVersion)
		}
	}
	connect, _, r := parseBool(params, "connect")
	if r != nil {
		return *r
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.scopeLocked(q)
	e := &webhookEndpoint{
		ID:            f.newIDLocked("we_"),
		Object:        "webhook_endpoint",
		APIVersion:    apiVersion,
		Created:       time.Now().Unix(),
		Description:   optString(params, "description"),
		EnabledEvents: events,
		Livemode:      q.live,
		Metadata:      mapParam(params, "metadata"),
		Status:        "enabled",
		URL:           u,
		secret:        newWebhookSecret(),
		connect:       connect,
	}
	sc.endpointIdx[e.ID] = len(sc.endpoints)
	sc.endpoints = append(sc.endpoints, e)
	cp := *e
	cp.Secret = e.secret
	return jsonResponse(http.StatusOK, &cp)
}

// newWebhookSecret returns a signing secret shaped like Stripe's.
func newWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails
	for i, c := range b {
		b[i] = base62[int(c)%len(base62)]
	}
	return "whsec_" + string(b)
}

// updateWebhookEndpoint serves POST /v1/webhook_endpoints/{id}.
func (f *Fake) updateWebhookEndpoint(q *apiRequest, id string) response {
	params := q.params
	// Stripe itself refuses these on update (the API version of an
	// endpoint is fixed; a new endpoint is needed to change it).
	for _, k := range []string{"api_version", "connect"} {
		if _, ok := params[k]; ok {
			return invalidRequest(http.StatusBadRequest, "parameter_unknown", k, "Received unknown parameter: "+k)
		}
	}
	if r := checkParams(params, []string{"description", "disabled", "enabled_events", "url"},
		[]string{"enabled_events"}, []string{"metadata"}); r != nil {
		return *r
	}
	var u string
	if _, ok := params["url"]; ok {
		var r *response
		if u, r = endpointURL(params); r != nil {
			return *r
		}
	}
	events, eventsSet, r := enabledEvents(params)
	if r != nil {
		return *r
	}
	disabled, disabledSet, r := parseBool(params, "disabled")
	if r != nil {
		return *r
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.scopeLocked(q)
	j, ok := sc.endpointIdx[id]
	if !ok {
		r := noSuch("webhook endpoint", id, "id")
		r.status = http.StatusNotFound
		return r
	}
	e := *sc.endpoints[j]
	if u != "" {
		e.URL = u
	}
	if eventsSet {
		e.EnabledEvents = events
	}
	if disabledSet {
		e.Status = "enabled"
		if disabled {
			e.Status = "disabled"
		}
	}
	if _, ok := params["description"]; ok {
		e.Description = optString(params, "description")
	}
	e.Metadata = updateMetadata(e.Metadata, params, "metadata")
	sc.endpoints[j] = &e
	return jsonResponse(http.StatusOK, &e)
}

// deleteWebhookEndpoint serves DELETE /v1/webhook_endpoints/{id}.
func (f *Fake) deleteWebhookEndpoint(q *apiRequest, id string) response {
	if r := checkParams(q.params, nil, nil, nil); r != nil {
		return *r
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.scopeLocked(q)
	j, ok := sc.endpointIdx[id]
	if !ok {
		r := noSuch("webhook endpoint", id, "id")
		r.status = http.StatusNotFound
		return r
	}
	sc.endpoints = slices.Delete(sc.endpoints, j, j+1)
	delete(sc.endpointIdx, id)
	for k := j; k < len(sc.endpoints); k++ {
		sc.endpointIdx[sc.endpoints[k].ID] = k
	}
	return jsonResponse(http.StatusOK, map[string]any{"id": id, "object": "webhook_endpoint", "deleted": true})
}
