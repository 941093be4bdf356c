// Package eventfixtures builds signed Stripe webhook events from the fixtures
// embedded at the module root (testdata/events/<event type>.json), for tests
// and the load generator.
//
// Every fixture is a complete Stripe event for API version 2024-06-20, the
// version stripe-go v79 pins, and all of them tell one story with the same
// ids:
//
//   - catalog: product prod_Fixture1 "Pro" and price price_Fixture1
//     (2000 usd monthly, lookup key pro_monthly) are created and updated;
//   - sign-up: customer cus_Fixture1 (jenny@example.com, metadata
//     billwire_subject_type=user, billwire_subject_id=u_123) pays through
//     Checkout Session cs_test_Fixture1 (mode subscription,
//     client_reference_id "user:u_123", the same subject metadata).
//     Subscription sub_Fixture1 (item si_Fixture1) starts incomplete; the
//     first payment of invoice in_Fixture1 by payment intent pi_Fixture1 is
//     declined (card_declined, insufficient_funds; charge
//     ch_FixtureDeclined), a second card needs 3D Secure, then succeeds
//     (charge ch_Fixture1) and the subscription becomes active. The
//     checkout.session.async_payment_* and checkout.session.expired
//     fixtures are alternative endings of the same session;
//   - dispute inquiry dp_Fixture1 on ch_Fixture1, full refund re_Fixture1,
//     the inquiry closes;
//   - the renewal invoice in_Fixture2 (subscription_cycle, 2000 usd) is
//     created as a draft, finalized, updated (its description), marked
//     uncollectible and voided, unpaid;
//   - a free month (trial) without a card on file: trial_will_end, paused,
//     resumed, then the subscription is canceled, the customer deleted and
//     the catalog retired.
//
// The created timestamps increase along the story, in that order.
package eventfixtures

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/billwire/billwire"
)

// Types lists every event type that has a fixture, sorted.
var Types = []string{
	"charge.dispute.closed",
	"charge.dispute.created",
	"charge.refunded",
	"checkout.session.async_payment_failed",
	"checkout.session.async_payment_succeeded",
	"checkout.session.completed",
	"checkout.session.expired",
	"customer.created",
	"customer.deleted",
	"customer.subscription.created",
	"customer.subscription.deleted",
	"customer.subscription.paused",
	"customer.subscription.resumed",
	"customer.subscription.trial_will_end",
	"customer.subscription.updated",
	"customer.updated",
	"entitlements.active_entitlement_summary.updated",
	"invoice.created",
	"invoice.finalized",
	"invoice.marked_uncollectible",
	"invoice.paid",
	"invoice.payment_action_required",
	"invoice.payment_failed",
	"invoice.updated",
	"invoice.voided",
	"payment_intent.payment_failed",
	"payment_intent.succeeded",
	"price.created",
	"price.deleted",
	"price.updated",
	"product.created",
	"product.deleted",
	"product.updated",
	"refund.created",
	"refund.updated",
}

// APIVersion is the Stripe API version of the fixtures and the default of
// [Options.APIVersion]; it is the version stripe-go v79 expects.
const APIVersion = stripe.APIVersion

// Options changes the fixture an [Event] is built from. The zero value gives
// the fixture with a fresh event id.
type Options struct {
	// ID is the event id; the default is "evt_" followed by 24 random
	// characters.
	ID string
	// Created is the event's created time in Unix seconds; the default is
	// the fixture's.
	Created int64
	// Livemode sets livemode on the event and on every object of the
	// fixture inside it (values given in Object and Previous are written as
	// given).
	Livemode bool
	// APIVersion is the event's api_version; the default is "2024-06-20".
	APIVersion string
	// Replace maps ids (or any string value) to replacements: every string
	// value anywhere in data.object and data.previous_attributes that equals
	// a key is replaced by its value, before Object and Previous are
	// applied. Use it to move the whole story to other ids, e.g.
	// {"cus_Fixture1": "cus_L000001", "sub_Fixture1": "sub_L000001"}; map
	// keys (metadata keys, for example) are left alone.
	Replace map[string]string
	// Object holds top-level keys merged into data.object, overwriting the
	// fixture's values, e.g. {"id": "sub_X", "status": "past_due",
	// "customer": "cus_X"}. A nil value sets the key to null.
	Object map[string]any
	// Previous replaces data.previous_attributes when non-nil.
	Previous map[string]any
}

// Event returns the fixture of event type typ with o applied, as compact
// JSON ready to be signed with [Sign] and posted to a webhook endpoint. Keys
// keep the fixture's order (Stripe's: id and object first); keys that Object
// adds come after the fixture's.
func Event(typ string, o Options) ([]byte, error) {
	all, err := load()
	if err != nil {
		return nil, err
	}
	f, ok := all[typ]
	if !ok {
		return nil, fmt.Errorf("eventfixtures: no fixture for event type %q (have %s)", typ, strings.Join(Types, ", "))
	}
	if o.ID == "" {
		o.ID = "evt_" + randomID(24)
	}
	if o.APIVersion == "" {
		o.APIVersion = APIVersion
	}
	e := encoder{buf: make([]byte, 0, f.size+len(o.Object)*64+256), live: o.Livemode}
	e.buf = append(e.buf, '{')
	for i, k := range f.event.keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.key(k)
		switch v := f.event.vals[i]; k {
		case "id":
			e.str(o.ID)
		case "created":
			if o.Created != 0 {
				e.buf = strconv.AppendInt(e.buf, o.Created, 10)
			} else {
				e.tmpl(v)
			}
		case "api_version":
			e.str(o.APIVersion)
		case "livemode":
			e.buf = strconv.AppendBool(e.buf, o.Livemode)
		case "data":
			e.data(v.(*object), o)
		default:
			e.tmpl(v)
		}
	}
	e.buf = append(e.buf, '}')
	if e.err != nil {
		return nil, fmt.Errorf("eventfixtures: %s: %w", typ, e.err)
	}
	return e.buf, nil
}

// TB is the part of testing.TB that MustEvent uses; the package does not
// import testing, so that the binaries that build events link no test code.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// MustEvent is [Event] for tests: it fails tb on error.
func MustEvent(tb TB, typ string, o Options) []byte {
	tb.Helper()
	b, err := Event(typ, o)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Sign returns the value of the Stripe-Signature header for payload signed
// with the endpoint secret (whsec_…) at time at (the zero time: now), as
// Stripe computes it (stripe-go's webhook.GenerateTestSignedPayload).
func Sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload:   payload,
		Secret:    secret,
		Timestamp: at,
	}).Header
}

// fixture is a parsed fixture file.
type fixture struct {
	event *object
	size  int // bytes of the file, more than the compact encoding needs
}

// object is a JSON object with its keys in the order of the file.
type object struct {
	keys []string
	vals []any // *object, []any, string, json.Number, bool or nil
}

func (o *object) get(k string) (any, bool) {
	for i, key := range o.keys {
		if key == k {
			return o.vals[i], true
		}
	}
	return nil, false
}

// load parses every fixture once.
var load = sync.OnceValues(func() (map[string]*fixture, error) {
	all := make(map[string]*fixture, len(Types))
	for _, typ := range Types {
		name := path.Join("testdata/events", typ+".json")
		b, err := fs.ReadFile(billwire.EventFixtures, name)
		if err != nil {
			return nil, fmt.Errorf("eventfixtures: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		v, err := parse(dec)
		if err == nil {
			if _, e := dec.Token(); e != io.EOF {
				err = errors.New("data after the event")
			}
		}
		if err != nil {
			return nil, fmt.Errorf("eventfixtures: %s: %w", name, err)
		}
		ev, ok := v.(*object)
		if !ok {
			return nil, fmt.Errorf("eventfixtures: %s: not an object", name)
		}
		if got, _ := ev.get("type"); got != typ {
			return nil, fmt.Errorf("eventfixtures: %s: type is %v", name, got)
		}
		data, _ := ev.get("data")
		d, ok := data.(*object)
		if ok {
			obj, _ := d.get("object")
			_, ok = obj.(*object)
		}
		if !ok {
			return nil, fmt.Errorf("eventfixtures: %s: no data.object", name)
		}
		for _, k := range []string{"id", "created", "api_version"} {
			if _, ok := ev.get(k); !ok {
				return nil, fmt.Errorf("eventfixtures: %s: no %s", name, k)
			}
		}
		all[typ] = &fixture{event: ev, size: len(b)}
	}
	return all, nil
})

// parse reads one JSON value, keeping the order of object keys.
func parse(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		o := &object{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := parse(dec)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, k.(string))
			o.vals = append(o.vals, v)
		}
		_, err := dec.Token() // '}'
		return o, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := parse(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token() // ']'
		return a, err
	default:
		return tok, nil // string, json.Number, bool, nil
	}
}

// encoder writes an event: the fixture with Options applied on the way.
type encoder struct {
	buf     []byte
	live    bool
	replace map[string]string // applied to fixture strings inside data
	err     error
}

func (e *encoder) data(d *object, o Options) {
	e.buf = append(e.buf, '{')
	wrotePrev := false
	for i, k := range d.keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.key(k)
		e.replace = o.Replace
		switch v := d.vals[i]; k {
		case "object":
			e.merged(v.(*object), o.Object)
		case "previous_attributes":
			wrotePrev = true
			if o.Previous != nil {
				e.any(o.Previous)
			} else {
				e.tmpl(v)
			}
		default:
			e.tmpl(v)
		}
		e.replace = nil
	}
	if !wrotePrev && o.Previous != nil {
		e.buf = append(e.buf, ',')
		e.key("previous_attributes")
		e.any(o.Previous)
	}
	e.buf = append(e.buf, '}')
}

// merged writes the fixture object obj with the keys of over overwritten or
// added.
func (e *encoder) merged(obj *object, over map[string]any) {
	e.buf = append(e.buf, '{')
	for i, k := range obj.keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.key(k)
		if v, ok := over[k]; ok {
			e.any(v)
		} else if k == "livemode" {
			e.buf = strconv.AppendBool(e.buf, e.live)
		} else {
			e.tmpl(obj.vals[i])
		}
	}
	var extra []string
	for k := range over {
		if _, ok := obj.get(k); !ok {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		e.buf = append(e.buf, ',')
		e.key(k)
		e.any(over[k])
	}
	e.buf = append(e.buf, '}')
}

// tmpl writes a value of the fixture: livemode set, strings replaced.
func (e *encoder) tmpl(v any) {
	switch v := v.(type) {
	case *object:
		e.buf = append(e.buf, '{')
		for i, k := range v.keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.key(k)
			if k == "livemode" {
				e.buf = strconv.AppendBool(e.buf, e.live)
				continue
			}
			e.tmpl(v.vals[i])
		}
		e.buf = append(e.buf, '}')
	case []any:
		e.buf = append(e.buf, '[')
		for i, x := range v {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.tmpl(x)
		}
		e.buf = append(e.buf, ']')
	case string:
		if r, ok := e.replace[v]; ok {
			v = r
		}
		e.str(v)
	case json.Number:
		e.buf = append(e.buf, v...)
	case bool:
		e.buf = strconv.AppendBool(e.buf, v)
	case nil:
		e.buf = append(e.buf, "null"...)
	}
}

// any writes a value given in Options as it is (no livemode, no Replace).
// Maps are written with id and object first, then sorted keys, as Stripe
// does.
func (e *encoder) any(v any) {
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.str(v)
	case bool:
		e.buf = strconv.AppendBool(e.buf, v)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, v, 10)
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			e.buf = strconv.AppendInt(e.buf, int64(v), 10)
		} else {
			e.marshal(v)
		}
	case json.Number:
		e.buf = append(e.buf, v...)
	case map[string]string:
		keys := slices.Sorted(maps.Keys(v))
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.key(k)
			e.str(v[k])
		}
		e.buf = append(e.buf, '}')
	case map[string]any:
		e.buf = append(e.buf, '{')
		for i, k := range stripeOrder(v) {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.key(k)
			e.any(v[k])
		}
		e.buf = append(e.buf, '}')
	case []any:
		e.buf = append(e.buf, '[')
		for i, x := range v {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.any(x)
		}
		e.buf = append(e.buf, ']')
	default:
		e.marshal(v)
	}
}

func (e *encoder) marshal(v any) {
	b, err := json.Marshal(v)
	if err != nil && e.err == nil {
		e.err = err
	}
	e.buf = append(e.buf, b...)
}

func stripeOrder(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "id" && k != "object" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range []string{"object", "id"} {
		if _, ok := m[k]; ok {
			keys = slices.Insert(keys, 0, k)
		}
	}
	return keys
}

func (e *encoder) key(k string) {
	e.str(k)
	e.buf = append(e.buf, ':')
}

// str appends s as a JSON string (escaping as encoding/json does, without
// its HTML escaping).
func (e *encoder) str(s string) {
	const hex = "0123456789abcdef"
	e.buf = append(e.buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			e.buf = append(e.buf, s[start:i]...)
			switch c {
			case '"', '\\':
				e.buf = append(e.buf, '\\', c)
			case '\n':
				e.buf = append(e.buf, '\\', 'n')
			case '\r':
				e.buf = append(e.buf, '\\', 'r')
			case '\t':
				e.buf = append(e.buf, '\\', 't')
			default:
				e.buf = append(e.buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			e.buf = append(e.buf, s[start:i]...)
			if r == utf8.RuneError {
				e.buf = append(e.buf, `\ufffd`...)
			} else {
				e.buf = append(e.buf, '\\', 'u', '2', '0', '2', hex[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	e.buf = append(e.buf, s[start:]...)
	e.buf = append(e.buf, '"')
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}
