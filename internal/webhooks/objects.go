package webhooks

// The fields billwire reads from each kind of Stripe object, as struct tags
// say (the tags are what encoding/json would read; the scan methods read the
// same fields in one pass over the object: see scan.go).

type customerFields struct {
	ID       string            `json:"id"`
	Metadata map[string]string `json:"metadata"`
}

func (c *customerFields) scan(obj []byte) error {
	return members(obj, false, func(k, v []byte) error {
		switch string(k) {
		case "id":
			return scanString(v, &c.ID)
		case "metadata":
			return scanMetadata(v, &c.Metadata)
		}
		return nil
	})
}

type priceFields struct {
	Product  ref  `json:"product"`
	Livemode bool `json:"livemode"`
}

func (p *priceFields) scan(obj []byte) error {
	return members(obj, false, func(k, v []byte) error {
		switch string(k) {
		case "product":
			return scanRef(v, &p.Product)
		case "livemode":
			return scanBool(v, &p.Livemode)
		}
		return nil
	})
}

type subscriptionFields struct {
	ID       string            `json:"id"`
	Customer ref               `json:"customer"`
	Metadata map[string]string `json:"metadata"`
}

func (s *subscriptionFields) scan(obj []byte) error {
	return members(obj, false, func(k, v []byte) error {
		switch string(k) {
		case "id":
			return scanString(v, &s.ID)
		case "customer":
			return scanRef(v, &s.Customer)
		case "metadata":
			return scanMetadata(v, &s.Metadata)
		}
		return nil
	})
}

type checkoutFields struct {
	ID                string            `json:"id"`
	Mode              string            `json:"mode"`
	Status            string            `json:"status"`
	PaymentStatus     string            `json:"payment_status"`
	Customer          ref               `json:"customer"`
	Subscription      ref               `json:"subscription"`
	PaymentIntent     ref               `json:"payment_intent"`
	ClientReferenceID string            `json:"client_reference_id"`
	AmountTotal       int64             `json:"amount_total"`
	Currency          string            `json:"currency"`
	Metadata          map[string]string `json:"metadata"`
	Created           int64             `json:"created"`
}

func (cs *checkoutFields) scan(obj []byte) error {
	return members(obj, false, func(k, v []byte) error {
		switch string(k) {
		case "id":
			return scanString(v, &cs.ID)
		case "mode":
			return scanString(v, &cs.Mode)
		case "status":
			return scanString(v, &cs.Status)
		case "payment_status":
			return scanString(v, &cs.PaymentStatus)
		case "customer":
			return scanRef(v, &cs.Customer)
		case "subscription":
			return scanRef(v, &cs.Subscription)
		case "payment_intent":
			return scanRef(v, &cs.PaymentIntent)
		case "client_reference_id":
			return scanString(v, &cs.ClientReferenceID)
		case "amount_total":
			return scanInt(v, &cs.AmountTotal)
		case "currency":
			return scanString(v, &cs.Currency)
		case "metadata":
			return scanMetadata(v, &cs.Metadata)
		case "created":
			return scanInt(v, &cs.Created)
		}
		return nil
	})
}

type metadataFields struct {
	Metadata map[string]string `json:"metadata"`
}

func (m *metadataFields) scan(obj []byte) error {
	return members(obj, false, func(k, v []byte) error {
		if string(k) == "metadata" {
			return scanMetadata(v, &m.Metadata)
		}
		return nil
	})
}

type parentFields struct { // newer API versions
	SubscriptionDetails struct {
		Subscription ref               `json:"subscription"`
		Metadata     map[string]string `json:"metadata"`
	} `json:"subscription_details"`
}

func (p *parentFields) scan(obj []byte) error {
	return members(obj, false, func(k, v []byte) error {
		if string(k) != "subscription_details" {
			return nil
		}
		d := &p.SubscriptionDetails
		return members(v, false, func(k, v []byte) error {
			switch string(k) {
			case "subscription":
				return scanRef(v, &d.Subscription)
			case "metadata":
				return scanMetadata(v, &d.Metadata)
			}
			return nil
		})
	})
}

type errorFields struct {
	Code        string `json:"code"`
	DeclineCode string `json:"decline_code"`
	Message     string `json:"message"`
}

// scanError reads an error object into *e (made when nil; null sets it to nil).
func scanError(v []byte, e **errorFields) error {
	if isNull(v) {
		*e = nil
		return nil
	}
	if *e == nil {
		*e = &errorFields{}
	}
	x := *e
	return members(v, false, func(k, v []byte) error {
		switch string(k) {
		case "code":
			return scanString(v, &x.Code)
		case "decline_code":
			return scanString(v, &x.DeclineCode)
		case "message":
			return scanString(v, &x.Message)
		}
		return nil
	})
}

type invoiceFields struct {
	ID                    string            `json:"id"`
	AmountPaid            int64             `json:"amount_paid"`
	AmountDue             int64             `json:"amount_due"`
	Currency              string            `json:"currency"`
	Customer              ref               `json:"customer"`
	Subscription          ref               `json:"subscription"`
	PaymentIntent         ref               `json:"payment_intent"`
	Charge                ref               `json:"charge"`
	AttemptCount          int64             `json:"attempt_count"`
	Created               int64             `json:"created"`
	Metadata              map[string]string `json:"metadata"`
	SubscriptionDetails   metadataFields    `json:"subscription_details"`
	Parent                parentFields      `json:"parent"`
	LastFinalizationError *errorFields      `json:"last_finalization_error"`
}

func (in *invoiceFields) scan(obj []byte) error {
	return members(obj, false, func(k, v []byte) error {
		switch string(k) {
		case "id":
			return scanString(v, &in.ID)
		case "amount_paid":
			return scanInt(v, &in.AmountPaid)
		case "amount_due":
			return scanInt(v, &in.AmountDue)
		case "currency":
			return scanString(v, &in.Currency)
		case "customer":
			return scanRef(v, &in.Customer)
		case "subscription":
			return scanRef(v, &in.Subscription)
		case "payment_intent":
			return scanRef(v, &in.PaymentIntent)
		case "charge":
			return scanRef(v, &in.Charge)
		case "attempt_count":
			return scanInt(v, &in.AttemptCount)
		case "created":
			return scanInt(v, &in.Created)
		case "metadata":
			return scanMetadata(v, &in.Metadata)
		case "subscription_details":
			return in.SubscriptionDetails.scan(v)
		case "parent":
			return in.Parent.scan(v)
		case "last_finalization_error":
			return scanError(v, &in.LastFinalizationError)
		}
		return nil
	})
}

type paymentIntentFields struct {
	ID               string            `json:"id"`
	Amount           int64             `json:"amount"`
	AmountReceived   int64             `json:"amount_received"`
	Currency         string            `json:"currency"`
	Customer         ref               `json:"customer"`
	Invoice          ref               `json:"invoice"`
	LatestCharge     ref               `json:"latest_charge"`
	Created          int64             `json:"created"`
	Metadata         map[string]string `json:"metadata"`
	LastPaymentError *errorFields      `json:"last_payment_error"`
}

func (pi *paymentIntentFields) scan(obj []byte) error {
	return members(obj, false, func(k, v []byte) error {
		switch string(k) {
		case "id":
			return scanString(v, &pi.ID)
		case "amount":
			return scanInt(v, &pi.Amount)
		case "amount_received":
			return scanInt(v, &pi.AmountReceived)
		case "currency":
			return scanString(v, &pi.Currency)
		case "customer":
			return scanRef(v, &pi.Customer)
		case "invoice":
			return scanRef(v, &pi.Invoice)
		case "latest_charge":
			return scanRef(v, &pi.LatestCharge)
		case "created":
			return scanInt(v, &pi.Created)
		case "metadata":
			return scanMetadata(v, &pi.Metadata)
		case "last_payment_error":
			return scanError(v, &pi.LastPaymentError)
		}
		return nil
	})
}

type chargeFields struct {
	ID             string `json:"id"`
	Amount         int64  `json:"amount"`
	AmountRefunded int64  `json:"amount_refunded"`
	Currency       string `json:"currency"`
	Customer       ref    `json:"customer"`
	Invoice        ref    `json:"invoice"`
	PaymentIntent  ref    `json:"payment_intent"`
	Created        int64  `json:"created"`
}

func (ch *chargeFields) scan(obj []byte) error {
	return members(obj, false, func(k, v []byte) error {
		switch string(k) {
		case "id":
			return scanString(v, &ch.ID)
		case "amount":
			return scanInt(v, &ch.Amount)
		case "amount_refunded":
			return scanInt(v, &ch.AmountRefunded)
		case "currency":
			return scanString(v, &ch.Currency)
		case "customer":
			return scanRef(v, &ch.Customer)
		case "invoice":
			return scanRef(v, &ch.Invoice)
		case "payment_intent":
			return scanRef(v, &ch.PaymentIntent)
		case "created":
			return scanInt(v, &ch.Created)
		}
		return nil
	})
}

// relatedFields are a refund's or a dispute's.
type relatedFields struct {
	ID            string `json:"id"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Status        string `json:"status"`
	Reason        string `json:"reason"`
	Charge        ref    `json:"charge"`
	PaymentIntent ref    `json:"payment_intent"`
	Created       int64  `json:"created"`
	FailureReason string `json:"failure_reason"` // refunds only
}

func (o *relatedFields) scan(obj []byte) error {
	return members(obj, false, func(k, v []byte) error {
		switch string(k) {
		case "id":
			return scanString(v, &o.ID)
		case "amount":
			return scanInt(v, &o.Amount)
		case "currency":
			return scanString(v, &o.Currency)
		case "status":
			return scanString(v, &o.Status)
		case "reason":
			return scanString(v, &o.Reason)
		case "charge":
			return scanRef(v, &o.Charge)
		case "payment_intent":
			return scanRef(v, &o.PaymentIntent)
		case "created":
			return scanInt(v, &o.Created)
		case "failure_reason":
			return scanString(v, &o.FailureReason)
		}
		return nil
	})
}

// headFields are what every event needs of its object.
type headFields struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Customer ref    `json:"customer"`
}

func (h *headFields) scan(obj []byte) error {
	return members(obj, false, func(k, v []byte) error {
		switch string(k) {
		case "id":
			return scanString(v, &h.ID)
		case "object":
			return scanString(v, &h.Object)
		case "customer":
			return scanRef(v, &h.Customer)
		}
		return nil
	})
}
