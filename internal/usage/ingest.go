// Package usage is usage-based billing's runtime: the usage API's intake
// (ingest.go: validation, identifiers, the durable commit).
package usage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/lazyre"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// The limits of an event the usage API accepts.
const (
	// MaxEvents is the most events one request carries.
	MaxEvents = 1000
	// MaxAge is how old an event's timestamp may be (Stripe takes meter
	// events up to 35 days old; a day is left for the sender).
	MaxAge = 34 * 24 * time.Hour
	// MaxFuture is how far ahead of billwire's clock a timestamp may be.
	MaxFuture = 5 * time.Minute
	// MaxIdentifier is Stripe's limit on a meter event's identifier.
	MaxIdentifier = 100
)

// Request is the body of POST /api/payments/{env}/usage.
type Request struct {
	Events []Event `json:"events"`
}

// Event is one usage event as the app reports it.
type Event struct {
	EventName string       `json:"event_name"`
	Subject   auth.Subject `json:"subject"`
	// Value is a finite number ≥ 0 (a count meter counts the event whatever it is).
	Value json.RawMessage `json:"value"`
	// Timestamp is when the usage happened: Unix seconds or RFC 3339; now when omitted.
	Timestamp json.RawMessage `json:"timestamp,omitempty"`
	// Identifier (1 to 100 printable ASCII characters) makes a retry a
	// duplicate; derived from the Idempotency-Key header when omitted.
	Identifier string `json:"identifier,omitempty"`
}

// Result is the 202 answer.
type Result struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
}

// Rejection is one event refused, by its index in the request.
type Rejection struct {
	Index   int    `json:"index"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Store is what the intake needs of billwire's database.
type Store interface {
	ActiveMeters(ctx context.Context, env vocab.Env) (map[string]store.Meter, error)
	InsertUsage(ctx context.Context, env vocab.Env, apiKeyID string, b *store.UsageBatch) (map[string]bool, error)
	SameUsage(ctx context.Context, env vocab.Env, b *store.UsageBatch) ([]bool, error)
}

// Intake validates and commits usage events. It caches the active meters
// for meterTTL, re-reading them at once when an event names one it does
// not know (a meter just created by create_meter).
type Intake struct {
	st  Store
	now func() time.Time

	mu     sync.Mutex
	meters map[vocab.Env]meterCache
}

type meterCache struct {
	byName map[string]store.Meter
	until  time.Time
}

// meterTTL is how long the intake trusts its copy of the active meters.
const meterTTL = 5 * time.Second

// NewIntake returns an intake over st.
func NewIntake(st Store) *Intake {
	return &Intake{st: st, now: time.Now, meters: map[vocab.Env]meterCache{}}
}

// MaxBody is the largest request body the usage API reads.
const MaxBody = 1 << 20

// Decode reads a request body strictly.
func Decode(body io.Reader) (*Request, error) {
	var req Request
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fault.New(fault.Invalid, "invalid_json", "the body must be {\"events\": [{\"event_name\", \"subject\": {\"type\", \"id\"}, \"value\", \"timestamp\"?, \"identifier\"?}]}: %s", err)
	}
	if len(req.Events) == 0 || len(req.Events) > MaxEvents {
		return nil, fault.New(fault.Invalid, "invalid_batch", "events holds %d events: send 1 to %d per request", len(req.Events), MaxEvents)
	}
	return &req, nil
}

// Ingest validates each event of req, commits the valid ones for env and
// the caller's API key before it returns, and reports what it accepted.
// idempotencyKey is the request's Idempotency-Key header ("" when absent).
func (in *Intake) Ingest(ctx context.Context, env vocab.Env, apiKeyID, idempotencyKey string, req *Request) (*Result, error) {
	res := &Result{Rejected: []Rejection{}}
	meters, err := in.activeMeters(ctx, env, req.Events)
	if err != nil {
		return nil, err
	}
	now := in.now()
	var b store.UsageBatch
	index := make([]int, 0, len(req.Events)) // the request index of each event of b
	for i := range req.Events {
		ev, r := validate(&req.Events[i], meters, now, apiKeyID, idempotencyKey, i)
		if r != nil {
			res.Rejected = append(res.Rejected, *r)
			continue
		}
		b.Add(ev)
		index = append(index, i)
	}
	if b.Len() == 0 {
		return res, nil
	}
	inserted, err := in.st.InsertUsage(ctx, env, apiKeyID, &b)
	if err != nil {
		return nil, err
	}
	return res, in.count(ctx, env, &b, index, inserted, res)
}

// count fills res: an event whose identifier it inserted is accepted (the
// first of a repeated identifier), the others are duplicates when the
// stored event has their content and identifier_conflict otherwise.
func (in *Intake) count(ctx context.Context, env vocab.Env, b *store.UsageBatch, index []int, inserted map[string]bool, res *Result) error {
	var rest store.UsageBatch
	var restIndex []int
	for j, id := range b.Identifiers {
		if inserted[id] {
			res.Accepted++
			delete(inserted, id)
			continue
		}
		rest.Add(store.UsageEvent{Identifier: id, EventName: b.EventNames[j], SubjectType: b.SubjectTypes[j], SubjectID: b.SubjectIDs[j],
			Value: b.Values[j], EventTime: b.EventTimes[j], TimestampGiven: b.TimestampsGiven[j]})
		restIndex = append(restIndex, index[j])
	}
	if rest.Len() == 0 {
		return nil
	}
	same, err := in.st.SameUsage(ctx, env, &rest)
	if err != nil {
		return err
	}
	for j, ok := range same {
		if ok {
			res.Duplicates++
			continue
		}
		res.Rejected = append(res.Rejected, Rejection{Index: restIndex[j], Code: "identifier_conflict",
			Message: fmt.Sprintf("identifier %q was accepted before with other content (event_name, subject, value or timestamp): give this event its own identifier", rest.Identifiers[j])})
	}
	return nil
}

// activeMeters returns env's active meters, re-read when the cached copy
// is stale or lacks an event name the request uses.
func (in *Intake) activeMeters(ctx context.Context, env vocab.Env, events []Event) (map[string]store.Meter, error) {
	in.mu.Lock()
	c, ok := in.meters[env]
	in.mu.Unlock()
	if ok && in.now().Before(c.until) && knowsAll(c.byName, events) {
		return c.byName, nil
	}
	m, err := in.st.ActiveMeters(ctx, env)
	if err != nil {
		return nil, err
	}
	in.mu.Lock()
	in.meters[env] = meterCache{byName: m, until: in.now().Add(meterTTL)}
	in.mu.Unlock()
	return m, nil
}

func knowsAll(m map[string]store.Meter, events []Event) bool {
	for i := range events {
		if _, ok := m[events[i].EventName]; !ok {
			return false
		}
	}
	return true
}

var identifierRE = lazyre.New(`^[\x21-\x7e]{1,100}$`)

// validate checks one event and returns it as stored, or why it is refused.
func validate(e *Event, meters map[string]store.Meter, now time.Time, apiKeyID, idempotencyKey string, i int) (store.UsageEvent, *Rejection) {
	reject := func(code, format string, args ...any) (store.UsageEvent, *Rejection) {
		return store.UsageEvent{}, &Rejection{Index: i, Code: code, Message: fmt.Sprintf(format, args...)}
	}
	m, ok := meters[e.EventName]
	if !ok {
		return reject("unknown_meter", "event_name %q is not an active meter in this environment: create it with create_meter (list_meters shows the meters)", truncate(e.EventName))
	}
	if err := e.Subject.Validate(); err != nil {
		return reject("invalid_subject", "%s", err)
	}
	value, ok := number(e.Value)
	if !ok {
		return reject("invalid_value", "value must be a finite JSON number of at least 0, e.g. 1500")
	}
	at, given, r := eventTime(e.Timestamp, now, i)
	if r != nil {
		return store.UsageEvent{}, r
	}
	id := e.Identifier
	switch {
	case id == "" && idempotencyKey == "":
		return reject("identifier_required", "give the event an identifier (1 to %d characters, unique per event) or send the request with an Idempotency-Key header, so a retry is not counted twice", MaxIdentifier)
	case id == "":
		id = DerivedIdentifier(apiKeyID, idempotencyKey, i)
	case !identifierRE().MatchString(id):
		return reject("invalid_identifier", "identifier must be 1 to %d printable ASCII characters without spaces", MaxIdentifier)
	}
	return store.UsageEvent{Identifier: id, MeterID: m.ID, EventName: e.EventName, SubjectType: e.Subject.Type, SubjectID: e.Subject.ID,
		Value: value, EventTime: at, TimestampGiven: given}, nil
}

// numberRE is a JSON number literal.
var numberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// number returns a JSON value that is a finite number ≥ 0 as its text.
func number(raw json.RawMessage) (string, bool) {
	s := string(raw)
	if !numberRE.MatchString(s) || len(s) > 40 {
		return "", false
	}
	v, err := strconv.ParseFloat(s, 64)
	return s, err == nil && !math.IsInf(v, 0) && v >= 0
}

// eventTime reads an event's timestamp (Unix seconds or RFC 3339; now
// when absent) and checks it is at most MaxAge old and MaxFuture ahead.
func eventTime(raw json.RawMessage, now time.Time, i int) (time.Time, bool, *Rejection) {
	if len(raw) == 0 || string(raw) == "null" {
		return now, false, nil
	}
	var at time.Time
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return at, false, &Rejection{Index: i, Code: "invalid_timestamp", Message: "timestamp must be Unix seconds or an RFC 3339 time, e.g. 1718900000 or \"2024-06-20T16:13:20Z\""}
		}
		at = t
	} else if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		at = time.Unix(n, 0)
	} else {
		return at, false, &Rejection{Index: i, Code: "invalid_timestamp", Message: "timestamp must be whole Unix seconds or an RFC 3339 time, e.g. 1718900000 or \"2024-06-20T16:13:20Z\""}
	}
	switch {
	case at.Before(now.Add(-MaxAge)):
		return at, false, &Rejection{Index: i, Code: "timestamp_too_old", Message: "timestamp is more than 34 days ago: Stripe no longer takes usage that old"}
	case at.After(now.Add(MaxFuture)):
		return at, false, &Rejection{Index: i, Code: "timestamp_in_future", Message: "timestamp is more than 5 minutes ahead of billwire's clock: send when the usage happened"}
	}
	return at, true, nil
}

// DerivedIdentifier is the identifier of the index-th event of a request
// without one: base64url(sha256(API key id, Idempotency-Key, index)), 43
// characters.
func DerivedIdentifier(apiKeyID, idempotencyKey string, index int) string {
	h := sha256.New()
	h.Write([]byte(apiKeyID))
	h.Write([]byte{0})
	h.Write([]byte(idempotencyKey))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(index)))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// truncate shortens what a caller sent for an error message.
func truncate(s string) string {
	if utf8.RuneCountInString(s) <= 100 {
		return s
	}
	return string([]rune(s)[:100]) + "…"
}
