// Package webhooks is billwire's webhook runtime: it verifies Stripe's
// signatures, records each event once in the ledger and projects it into the
// payment tables in the same transaction, sharing commits between concurrent
// deliveries.
package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event is the part of a Stripe event that is stable across API versions;
// the object itself is kept raw and read field by field.
type Event struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Type       string `json:"type"`
	Created    int64  `json:"created"`
	Livemode   bool   `json:"livemode"`
	APIVersion string `json:"api_version"`
	Data       struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
	// Raw is the event as delivered.
	Raw json.RawMessage `json:"-"`
	// ObjectID and ObjectType are data.object's id and object fields.
	ObjectID   string `json:"-"`
	ObjectType string `json:"-"`
	// Customer is the customer the object belongs to (its id for a customer).
	Customer string `json:"-"`
}

// ErrMalformed means a body is not a Stripe event billwire can read.
var ErrMalformed = errors.New("malformed event")

// ParseEvent reads a Stripe event from its JSON. The body is validated
// whole; data.object is kept as delivered, a slice of body.
func ParseEvent(body []byte) (*Event, error) {
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v) // for the error's text
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var e Event
	err := members(body, false, func(k, v []byte) error {
		switch string(k) {
		case "id":
			return scanString(v, &e.ID)
		case "object":
			return scanString(v, &e.Object)
		case "type":
			return scanString(v, &e.Type)
		case "created":
			return scanInt(v, &e.Created)
		case "livemode":
			return scanBool(v, &e.Livemode)
		case "api_version":
			return scanString(v, &e.APIVersion)
		case "data":
			return members(v, false, func(k, v []byte) error {
				if string(k) == "object" {
					e.Data.Object = v
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.Object != "event" || e.ID == "" || e.Type == "" || e.Created <= 0 {
		return nil, fmt.Errorf("%w: not a Stripe event (needs object \"event\", id, type, created)", ErrMalformed)
	}
	if len(e.Data.Object) == 0 || e.Data.Object[0] != '{' {
		return nil, fmt.Errorf("%w: data.object is not an object", ErrMalformed)
	}
	var head headFields
	if err := head.scan(e.Data.Object); err != nil {
		return nil, fmt.Errorf("%w: data.object: %v", ErrMalformed, err)
	}
	e.ObjectID, e.ObjectType, e.Customer = head.ID, head.Object, string(head.Customer)
	if head.Object == "customer" {
		e.Customer = head.ID
	}
	e.Raw = body
	return &e, nil
}

// CreatedAt is the event's creation time.
func (e *Event) CreatedAt() time.Time { return time.Unix(e.Created, 0).UTC() }

// withField returns a JSON object with one more top-level field (a later key
// wins in jsonb, so this overrides an existing one).
func withField(obj json.RawMessage, field string, value any) json.RawMessage {
	v, _ := json.Marshal(value)
	obj = bytes.TrimRight(obj, " \t\r\n")
	out := make([]byte, 0, len(obj)+len(field)+len(v)+4)
	out = append(out, obj[:len(obj)-1]...)
	if len(bytes.TrimSpace(obj[1:len(obj)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(out, '"')
	out = append(out, field...)
	out = append(out, '"', ':')
	out = append(out, v...)
	return append(out, '}')
}

// ref is a field that Stripe sends as an id or, when expanded, as an object.
type ref string

func (r *ref) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var o struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*r = ref(o.ID)
		return nil
	}
	if string(b) == "null" {
		*r = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*r = ref(s)
	return nil
}

func (r ref) ptr() *string {
	if r == "" {
		return nil
	}
	s := string(r)
	return &s
}

func str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
