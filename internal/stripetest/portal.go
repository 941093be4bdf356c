package stripetest

import (
	"net/http"
	"strings"
)

// The Billing Portal in the fake: configurations (create, retrieve,
// update), which billwire keeps and a human may deactivate. Portal
// sessions need no memory: stripe-mock serves them.
//
//	POST      /v1/billing_portal/configurations
//	GET, POST /v1/billing_portal/configurations/{id}

// portalConfiguration is a billing_portal.configuration.
type portalConfiguration struct {
	ID        string            `json:"id"`
	Object    string            `json:"object"`
	Active    bool              `json:"active"`
	IsDefault bool              `json:"is_default"`
	Livemode  bool              `json:"livemode"`
	Metadata  map[string]string `json:"metadata"`
}

// routePortal returns the handler of a billing portal path, or nil. rest is
// the path after /v1/.
func (f *Fake) routePortal(q *apiRequest, rest string) func(*apiRequest) response {
	tail, ok := strings.CutPrefix(rest, "billing_portal/")
	if !ok {
		return nil
	}
	switch {
	case tail == "configurations" && q.method == http.MethodPost:
		return f.createPortalConfiguration
	case strings.HasPrefix(tail, "configurations/") && (q.method == http.MethodGet || q.method == http.MethodPost):
		id := strings.TrimPrefix(tail, "configurations/")
		return func(q *apiRequest) response { return f.portalConfigurationByID(q, id) }
	}
	return nil
}

func (f *Fake) createPortalConfiguration(q *apiRequest) response {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.scopeLocked(q)
	if sc.portal == nil {
		sc.portal = map[string]*portalConfiguration{}
	}
	c := &portalConfiguration{ID: f.newIDLocked("bpc_"), Object: "billing_portal.configuration", Active: true,
		Livemode: q.live, Metadata: mapParam(q.params, "metadata")}
	sc.portal[c.ID] = c
	f.created["billing_portal.configuration"]++
	return jsonResponse(http.StatusOK, c)
}

func (f *Fake) portalConfigurationByID(q *apiRequest, id string) response {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.scopeLocked(q).portal[id]
	if !ok {
		r := noSuch("billing_portal.configuration", id, "id")
		r.status = http.StatusNotFound
		return r
	}
	if q.method == http.MethodPost {
		if v := q.params.Get("active"); v != "" {
			c.Active = v == "true"
		}
	}
	return jsonResponse(http.StatusOK, c)
}

// DeactivatePortalConfiguration deactivates a configuration of key's
// account, as a human could in the Dashboard.
func (f *Fake) DeactivatePortalConfiguration(key, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.keyScopeLocked(key).portal[id]; ok {
		c.Active = false
	}
}
