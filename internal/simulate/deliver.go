package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/eventfixtures"
)

// Delivery is what the receiver answered to one event.
type Delivery struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	// Code is the HTTP status; 0 when the receiver could not be reached.
	Code int `json:"code"`
	// Status is the receiver's word for what it did (processed, duplicate,
	// ignored, stale, failed, ...); ResolvedBy says when it had to fetch
	// the object from Stripe.
	Status     string `json:"status,omitempty"`
	ResolvedBy string `json:"resolved_by,omitempty"`
	Error      string `json:"error,omitempty"`
}

// OK reports whether the receiver took the event (2xx).
func (d Delivery) OK() bool { return d.Code/100 == 2 }

// Deliver signs each event with secret and posts it to url (the receiver's
// route, .../webhooks/stripe/{env}), one after another as Stripe would
// within a story, and returns each answer. It stops at the first event the
// receiver does not take: the later ones build on it. The error is only
// for a receiver that cannot be reached at all.
func Deliver(ctx context.Context, hc *http.Client, url, secret string, events []Event) ([]Delivery, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	out := make([]Delivery, 0, len(events))
	for _, e := range events {
		d := Delivery{EventID: e.ID, Type: e.Type}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(e.Payload))
		if err != nil {
			return out, fmt.Errorf("receiver URL %q: %w", url, err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", eventfixtures.Sign(e.Payload, secret, time.Now()))
		resp, err := hc.Do(req)
		if err != nil {
			return out, fmt.Errorf("billwire serve does not answer at %s: %w", url, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		d.Code = resp.StatusCode
		var a struct {
			Status     string `json:"status"`
			ResolvedBy string `json:"resolved_by"`
			Error      string `json:"error"`
		}
		if json.Unmarshal(body, &a) == nil {
			d.Status, d.ResolvedBy, d.Error = a.Status, a.ResolvedBy, a.Error
		} else if !d.OK() {
			d.Error = strings.TrimSpace(string(body))
		}
		out = append(out, d)
		if !d.OK() {
			break
		}
	}
	return out, nil
}
