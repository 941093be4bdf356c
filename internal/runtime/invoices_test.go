package runtime_test

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billwire/billwire/internal/eventfixtures"
)

// The subject route lists the subject's newest 12 invoices, with receipt
// links and nothing of other customers' invoices or Stripe's internals.
func TestSubjectRouteListsInvoices(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	u := token(t, jwt.MapClaims{"sub": "u_v"})
	if res := r.do("POST", "/api/payments/test/checkout-sessions", u, checkoutBody(user("u_v"))); res.status != 201 {
		t.Fatalf("checkout %d %v", res.status, res.body)
	}
	cust := r.rec.Bodies("POST /v1/checkout/sessions")[0].Get("customer")
	send := func(id, customer string, created int64, meta any) {
		t.Helper()
		payload := eventfixtures.MustEvent(t, "invoice.finalized", eventfixtures.Options{Created: time.Now().Unix(),
			Object: map[string]any{"id": id, "customer": customer, "created": created, "number": "N-" + id,
				"subscription_details": map[string]any{"metadata": meta}}})
		req, _ := http.NewRequest("POST", r.url+"/webhooks/stripe/test", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", eventfixtures.Sign(payload, whsec, time.Now()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("invoice %s answered %d", id, resp.StatusCode)
		}
	}
	// 13 invoices of the subject's customer, without subject metadata: the mapping names the subject.
	for i := range 13 {
		send(fmt.Sprintf("in_V%02d", i), cust, 1_750_000_000+int64(i), map[string]any{})
	}
	// Another customer's invoice, for another user.
	send("in_Other", "cus_Other", 1_760_000_000, map[string]any{"billwire_subject_type": "user", "billwire_subject_id": "u_x"})
	res := r.do("GET", "/api/payments/test/subjects/user/u_v", u, nil)
	invs, _ := res.body["invoices"].([]any)
	if res.status != 200 || len(invs) != 12 {
		t.Fatalf("subject: %d, %d invoices: %v", res.status, len(invs), res.body)
	}
	first := invs[0].(map[string]any)
	var keys []string
	for k := range first {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"amount_due", "amount_paid", "created", "currency", "hosted_invoice_url", "id", "invoice_pdf", "number", "status"}; !slices.Equal(keys, want) {
		t.Errorf("invoice fields %v, want %v", keys, want)
	}
	if first["id"] != "in_V12" || first["number"] != "N-in_V12" || first["status"] != "open" || first["amount_due"] != 2000.0 ||
		first["currency"] != "usd" || first["hosted_invoice_url"] == nil || first["invoice_pdf"] == nil {
		t.Errorf("newest invoice: %v", first)
	}
	if last := invs[11].(map[string]any); last["id"] != "in_V01" {
		t.Errorf("oldest shown: %v, want in_V01 (in_V00 is the 13th)", last["id"])
	}
	other := r.do("GET", "/api/payments/test/subjects/user/u_x", token(t, jwt.MapClaims{"sub": "u_x"}), nil)
	if invs, _ := other.body["invoices"].([]any); len(invs) != 1 || invs[0].(map[string]any)["id"] != "in_Other" {
		t.Errorf("u_x sees %v", other.body["invoices"])
	}
}
