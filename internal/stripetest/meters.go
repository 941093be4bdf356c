package stripetest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The fake's billing meters:
//
//	POST /v1/billing/meters, GET /v1/billing/meters, GET /v1/billing/meters/{id}
//
// A meter's event_name is unique among the account's active meters, as
// with Stripe. A metered price (recurring[usage_type]=metered) that names
// recurring[meter] must name an active meter of the account.

// meter is a Stripe billing meter (API 2024-06-20).
type meter struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	Created            int64              `json:"created"`
	CustomerMapping    meterCustomerMap   `json:"customer_mapping"`
	DefaultAggregation meterAggregation   `json:"default_aggregation"`
	DisplayName        string             `json:"display_name"`
	EventName          string             `json:"event_name"`
	EventTimeWindow    *string            `json:"event_time_window"`
	Livemode           bool               `json:"livemode"`
	Status             string             `json:"status"`
	StatusTransitions  meterTransitions   `json:"status_transitions"`
	Updated            int64              `json:"updated"`
	ValueSettings      meterValueSettings `json:"value_settings"`
}

type meterCustomerMap struct {
	EventPayloadKey string `json:"event_payload_key"`
	Type            string `json:"type"`
}

type meterAggregation struct {
	Formula string `json:"formula"`
}

type meterTransitions struct {
	DeactivatedAt *int64 `json:"deactivated_at"`
}

type meterValueSettings struct {
	EventPayloadKey string `json:"event_payload_key"`
}

// meterState is a scope's meters; nil until used.
type meterState struct {
	meters []*meter
}

func (sc *scope) metersLocked() *meterState {
	if sc.meters == nil {
		sc.meters = &meterState{}
	}
	return sc.meters
}

// findMeterLocked returns the scope's meter id, or nil.
func (ms *meterState) findMeterLocked(id string) *meter {
	i := slices.IndexFunc(ms.meters, func(m *meter) bool { return m.ID == id })
	if i < 0 {
		return nil
	}
	return ms.meters[i]
}

// routeMeters returns the handler of a billing meters path, or nil.
func (f *Fake) routeMeters(q *apiRequest, rest string) func(*apiRequest) response {
	id, ok := strings.CutPrefix(rest, "billing/meters")
	switch {
	case !ok:
		return nil
	case id == "" && q.method == http.MethodPost:
		return f.createMeter
	case id == "" && q.method == http.MethodGet:
		return f.listMeters
	case strings.HasPrefix(id, "/") && !strings.Contains(id[1:], "/") && len(id) > 1 && q.method == http.MethodGet:
		return func(q *apiRequest) response { return f.retrieveMeter(q, id[1:]) }
	}
	return nil
}

func (f *Fake) createMeter(q *apiRequest) response {
	if r := checkParams(q.params, []string{"display_name", "event_name", "event_time_window",
		"customer_mapping[event_payload_key]", "customer_mapping[type]", "default_aggregation[formula]",
		"value_settings[event_payload_key]"}, nil, nil); r != nil {
		return *r
	}
	p := q.params
	for _, k := range []string{"display_name", "event_name", "default_aggregation[formula]"} {
		if p.Get(k) == "" {
			return *missing(k)
		}
	}
	formula := p.Get("default_aggregation[formula]")
	if formula != "sum" && formula != "count" && formula != "last" {
		return invalidRequest(http.StatusBadRequest, "", "default_aggregation[formula]", "Invalid default_aggregation[formula]: must be one of count, sum, or last")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := f.scopeLocked(q).metersLocked()
	for _, m := range ms.meters {
		if m.Status == "active" && m.EventName == p.Get("event_name") {
			return invalidRequest(http.StatusBadRequest, "", "event_name",
				fmt.Sprintf("An active meter with event_name `%s` already exists.", m.EventName))
		}
	}
	now := time.Now().Unix()
	m := &meter{
		ID: f.newIDLocked("mtr_"), Object: "billing.meter", Created: now, Updated: now,
		CustomerMapping: meterCustomerMap{EventPayloadKey: cmp.Or(p.Get("customer_mapping[event_payload_key]"), "stripe_customer_id"),
			Type: cmp.Or(p.Get("customer_mapping[type]"), "by_id")},
		DefaultAggregation: meterAggregation{Formula: formula},
		DisplayName:        p.Get("display_name"), EventName: p.Get("event_name"),
		EventTimeWindow: optString(p, "event_time_window"), Livemode: q.live, Status: "active",
		ValueSettings: meterValueSettings{EventPayloadKey: cmp.Or(p.Get("value_settings[event_payload_key]"), "value")},
	}
	ms.meters = append(ms.meters, m)
	return jsonResponse(http.StatusOK, m)
}

func (f *Fake) listMeters(q *apiRequest) response {
	if r := checkParams(q.params, append(slices.Clone(pageParams), "status"), nil, nil); r != nil {
		return *r
	}
	status := q.params.Get("status")
	f.mu.Lock()
	var out []meter
	for _, m := range f.scopeLocked(q).metersLocked().meters {
		if status == "" || m.Status == status {
			out = append(out, *m)
		}
	}
	f.mu.Unlock()
	return pageOf(q, "/v1/billing/meters", out, func(m meter) string { return m.ID })
}

func (f *Fake) retrieveMeter(q *apiRequest, id string) response {
	if r := checkParams(q.params, nil, nil, nil); r != nil {
		return *r
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.scopeLocked(q).metersLocked().findMeterLocked(id)
	if m == nil {
		r := noSuch("billing.meter", id, "id")
		r.status = http.StatusNotFound
		return r
	}
	return jsonResponse(http.StatusOK, *m)
}

// checkMeteredLocked refuses a metered price whose recurring[meter] is not
// an active meter of the scope, as Stripe does; one without a meter is a
// legacy metered price.
func (sc *scope) checkMeteredLocked(rec *recurring) *response {
	if rec == nil || rec.UsageType != "metered" {
		return nil
	}
	if rec.Meter == nil {
		return nil // a legacy metered price (usage records), allowed in 2024-06-20
	}
	m := sc.metersLocked().findMeterLocked(*rec.Meter)
	if m == nil || m.Status != "active" {
		r := noSuch("billing.meter", *rec.Meter, "recurring[meter]")
		return &r
	}
	return nil
}
