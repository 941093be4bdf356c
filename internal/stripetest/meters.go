package stripetest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
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
	// seen holds the meter events' identifiers, events the accepted
	// events, duplicates how many posts repeated an identifier.
	seen       map[string]bool
	events     []meterEventRecord
	duplicates int
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
	if rest == "billing/meter_events" && q.method == http.MethodPost {
		return f.createMeterEvent
	}
	id, ok := strings.CutPrefix(rest, "billing/meters")
	switch {
	case !ok:
		return nil
	case id == "" && q.method == http.MethodPost:
		return f.createMeter
	case id == "" && q.method == http.MethodGet:
		return f.listMeters
	case strings.HasSuffix(id, "/event_summaries") && q.method == http.MethodGet:
		return func(q *apiRequest) response {
			return f.meterEventSummaries(q, strings.TrimSuffix(strings.TrimPrefix(id, "/"), "/event_summaries"))
		}
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

// meterEventRecord is one meter event the fake accepted.
type meterEventRecord struct {
	EventName, Identifier, Customer string
	Value                           float64
	Timestamp                       int64
}

// createMeterEvent serves POST /v1/billing/meter_events: an active meter
// of event_name, the customer under its customer key, a value under its
// value key and an identifier not seen before in the scope (Stripe's
// window is 24 hours; the fake's is its lifetime), else Stripe's 400
// "An event already exists with identifier …".
func (f *Fake) createMeterEvent(q *apiRequest) response {
	if r := checkParams(q.params, []string{"event_name", "identifier", "timestamp"}, nil, []string{"payload"}); r != nil {
		return *r
	}
	p := q.params
	if p.Get("event_name") == "" {
		return *missing("event_name")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := f.scopeLocked(q).metersLocked()
	var m *meter
	for _, x := range ms.meters {
		if x.Status == "active" && x.EventName == p.Get("event_name") {
			m = x
		}
	}
	if m == nil {
		return invalidRequest(http.StatusBadRequest, "", "event_name", fmt.Sprintf("No active meter was found with event_name `%s`.", p.Get("event_name")))
	}
	payload := mapParam(p, "payload")
	cust := payload[m.CustomerMapping.EventPayloadKey]
	if cust == "" {
		return invalidRequest(http.StatusBadRequest, "", "payload", "The payload is missing the customer mapping key "+m.CustomerMapping.EventPayloadKey+".")
	}
	value := 1.0
	if m.DefaultAggregation.Formula != "count" {
		v, err := strconv.ParseFloat(payload[m.ValueSettings.EventPayloadKey], 64)
		if err != nil || v < 0 {
			return invalidRequest(http.StatusBadRequest, "", "payload", "The payload value must be a non-negative number.")
		}
		value = v
	}
	id := p.Get("identifier")
	if id == "" {
		id = f.newIDLocked("mev_")
	}
	if ms.seen == nil {
		ms.seen = map[string]bool{}
	}
	if ms.seen[id] {
		ms.duplicates++
		return invalidRequest(http.StatusBadRequest, "", "identifier", fmt.Sprintf("An event already exists with identifier %s.", id))
	}
	ms.seen[id] = true
	ts := time.Now().Unix()
	if p.Get("timestamp") != "" {
		n, r := parseInt(p, "timestamp")
		if r != nil {
			return *r
		}
		ts = n
	}
	ms.events = append(ms.events, meterEventRecord{EventName: m.EventName, Identifier: id, Customer: cust, Value: value, Timestamp: ts})
	return jsonResponse(http.StatusOK, map[string]any{"object": "billing.meter_event", "created": time.Now().Unix(), "event_name": m.EventName,
		"identifier": id, "livemode": q.live, "payload": payload, "timestamp": ts})
}

// MeterTotal is the usage the fake counted for customer on the meter of
// eventName, in the account and mode of key: what Stripe would bill.
func (f *Fake) MeterTotal(key, eventName, customer string) float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var sum float64
	for _, e := range f.keyScopeLocked(key).metersLocked().events {
		if e.EventName == eventName && e.Customer == customer {
			sum += e.Value
		}
	}
	return sum
}

// MeterEventIdentifiers returns the identifiers of every meter event
// posted to the fake in key's account and mode that it accepted, and
// how many posts it refused as duplicates.
func (f *Fake) MeterEventIdentifiers(key string) (accepted []string, duplicates int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := f.keyScopeLocked(key).metersLocked()
	for _, e := range ms.events {
		accepted = append(accepted, e.Identifier)
	}
	return accepted, ms.duplicates
}

// meterEventSummaries serves GET /v1/billing/meters/{id}/event_summaries:
// one summary of the customer's events over [start_time, end_time).
func (f *Fake) meterEventSummaries(q *apiRequest, id string) response {
	if r := checkParams(q.params, append(slices.Clone(pageParams), "customer", "start_time", "end_time"), nil, nil); r != nil {
		return *r
	}
	start, r := parseInt(q.params, "start_time")
	if r != nil {
		return *r
	}
	end, r := parseInt(q.params, "end_time")
	if r != nil {
		return *r
	}
	cust := q.params.Get("customer")
	if cust == "" {
		return *missing("customer")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := f.scopeLocked(q).metersLocked()
	m := ms.findMeterLocked(id)
	if m == nil {
		r := noSuch("billing.meter", id, "id")
		r.status = http.StatusNotFound
		return r
	}
	var sum float64
	for _, e := range ms.events {
		if e.EventName == m.EventName && e.Customer == cust && e.Timestamp >= start && e.Timestamp < end {
			sum += e.Value
		}
	}
	summary := map[string]any{"id": "mtrusg_" + id, "object": "billing.meter_event_summary", "aggregated_value": sum,
		"start_time": start, "end_time": end, "livemode": q.live, "meter": id}
	return jsonResponse(http.StatusOK, listPage{Object: "list", URL: "/v1/billing/meters/" + id + "/event_summaries", Data: []any{summary}})
}
