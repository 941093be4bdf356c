package stripetest

import (
	"encoding/json"
	"fmt"
)

// AddInvoice lists an invoice for the account and mode key acts on, as if
// the fake had made it: GET /v1/invoices returns it among the fake's own
// invoices (newest first; filters customer, subscription and status, with
// string ids), and GET /v1/invoices/{id} serves it. raw is the invoice's
// full JSON with a string id; a later AddInvoice of the same id replaces it
// in place. AddInvoice panics if raw is not an object with an id.
func (f *Fake) AddInvoice(key string, raw []byte) {
	var inv map[string]any
	if err := json.Unmarshal(raw, &inv); err != nil {
		panic(fmt.Sprintf("stripetest: AddInvoice: %v", err))
	}
	if id, _ := inv["id"].(string); id == "" {
		panic("stripetest: AddInvoice: not an invoice with a string id")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.storeLocked(f.keyScopeLocked(key), inv, "invoice")
}
