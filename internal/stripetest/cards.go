package stripetest

import "fmt"

// SetSubscriptionCard makes subscription id of key's account (without a
// Stripe-Account header) pay with test payment method token from now on
// (pm_card_visa, pm_card_chargeDeclinedInsufficientFunds,
// pm_card_authenticationRequired…), as when the customer's card expires or
// is replaced. It panics for an unknown subscription or token.
func (f *Fake) SetSubscriptionCard(key, id, token string) {
	how, ok := testCards[token]
	if !ok {
		panic(fmt.Sprintf("stripetest: SetSubscriptionCard: unknown test payment method %q", token))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.keyScopeLocked(key).subscriptionsLocked()
	sub, ok := st.subs[id]
	if !ok {
		panic(fmt.Sprintf("stripetest: SetSubscriptionCard: no subscription %s", id))
	}
	pm := f.newIDLocked("pm_")
	st.cards[pm] = how
	sub["default_payment_method"] = pm
}
