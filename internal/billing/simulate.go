package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/billwire/billwire/internal/auth"
	"github.com/billwire/billwire/internal/fault"
	"github.com/billwire/billwire/internal/scaffold"
	"github.com/billwire/billwire/internal/simulate"
	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/vocab"
)

// SimulateRequest asks for a billing story told as simulated Stripe events
// (test mode only).
type SimulateRequest struct {
	Subject   auth.Subject
	LookupKey string
	Scenario  string
	// Clear removes every simulated object instead of telling a story.
	Clear bool
	// ReceiverURL is billwire serve's base URL (BILLWIRE_PUBLIC_URL);
	// empty means DefaultPublicURL.
	ReceiverURL string
	HTTPClient  *http.Client
}

// AccessChange is what a scaffolded access function said before and after.
type AccessChange struct {
	Function string `json:"function"`
	Before   bool   `json:"before"`
	After    bool   `json:"after"`
}

// SimulateResult reports a told story: what the receiver answered to each
// event, and what changed for the subject.
type SimulateResult struct {
	Env            vocab.Env                   `json:"env"`
	Scenario       string                      `json:"scenario,omitempty"`
	Receiver       string                      `json:"receiver,omitempty"`
	SubscriptionID string                      `json:"subscription_id,omitempty"`
	Deliveries     []simulate.Delivery         `json:"deliveries,omitempty"`
	Changes        []store.BillingChange       `json:"changes,omitempty"`
	Access         []AccessChange              `json:"access,omitempty"`
	Subscriptions  []store.SubjectSubscription `json:"subscriptions,omitempty"`
	Cleared        *store.SimulatedCleared     `json:"cleared,omitempty"`
	OK             bool                        `json:"ok"`
	NextStep       string                      `json:"next_step"`
}

// SimulateEvents tells a billing story for a subject and a price (by
// lookup key) as the Stripe events it would produce, signed with the
// stored test signing secret and posted to the running receiver, for where
// Stripe cannot reach billwire. It is test mode only, always.
func (s *Service) SimulateEvents(ctx context.Context, r SimulateRequest) (*SimulateResult, error) {
	st, err := s.stores.Get(ctx)
	if err != nil {
		return nil, err
	}
	if r.Clear {
		return s.clearSimulated(ctx, st, r)
	}
	story, err := storyOf(ctx, st, r)
	if err != nil {
		return nil, err
	}
	events, err := simulate.Build(story)
	if err != nil {
		return nil, inputErr("%s", err)
	}
	return s.tell(ctx, st, r, story.Scenario, events)
}

// storyOf checks the request and reads what the story starts from: the
// price, the subject's subscription to it (a new one is refused while one
// still bills) and its customer.
func storyOf(ctx context.Context, st *store.Store, r SimulateRequest) (simulate.Story, error) {
	const env = vocab.Test
	var story simulate.Story
	if err := r.Subject.Validate(); err != nil {
		return story, inputErr("subject: %s", err)
	}
	sc, err := simulate.ParseScenario(r.Scenario)
	if err != nil {
		return story, inputErr("scenario: %s", err)
	}
	if strings.TrimSpace(r.LookupKey) == "" {
		return story, inputErr("lookup_key is required: the lookup key of the recurring test price the subscription bills (see billwire://test/catalog)")
	}
	priceID, priceObj, err := testPrice(ctx, st, r.LookupKey)
	if err != nil {
		return story, err
	}
	story = simulate.Story{Scenario: sc, SubjectType: r.Subject.Type, SubjectID: r.Subject.ID, Price: priceObj}
	subObj, after, simulated, err := st.SimulatedSubscription(ctx, env, r.Subject.Type, r.Subject.ID, priceID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return story, err
	case sc == simulate.CheckoutCompleted && !ended(subObj):
		how := "simulate renewal, payment_failed, canceled or deleted to continue it, or clear the simulated objects (simulate_events {clear: true}, billwire simulate --clear) to start over"
		if !simulated {
			how = "it lives in Stripe: cancel it with cancel_test_subscription first"
		}
		return story, fault.New(fault.Conflict, "already_subscribed", "%s %s already has subscription %s to %s: %s", r.Subject.Type, r.Subject.ID, subID(subObj), r.LookupKey, how)
	case sc != simulate.CheckoutCompleted:
		story.Subscription, story.After = subObj, after
	}
	if m, err := st.SubjectMapping(ctx, env, r.Subject.Type, r.Subject.ID); err == nil {
		story.CustomerID = m.CustomerID
	} else if !errors.Is(err, store.ErrNotFound) {
		return story, err
	}
	return story, nil
}

// tell delivers a story's events to the receiver and reports each answer,
// the subject's outbox changes and its access functions before and after.
func (s *Service) tell(ctx context.Context, st *store.Store, r SimulateRequest, sc simulate.Scenario, events []simulate.Event) (*SimulateResult, error) {
	const env = vocab.Test
	secrets, err := st.WebhookSecrets(ctx, env)
	if err != nil {
		return nil, inputErr("no test signing secret to sign the events with: call setup_webhook {env: \"test\"} first")
	}
	base := strings.TrimRight(r.ReceiverURL, "/")
	if base == "" {
		base = DefaultPublicURL
	}
	out := &SimulateResult{Env: env, Scenario: string(sc), Receiver: ReceiverURL(base, env), SubscriptionID: subscriptionOf(events)}
	seq, err := st.LastBillingChange(ctx)
	if err != nil {
		return nil, err
	}
	access, err := s.accessFunctions(ctx, st, r.Subject)
	if err != nil {
		return nil, err
	}
	if out.Deliveries, err = simulate.Deliver(ctx, r.HTTPClient, out.Receiver, secrets.Current, events); err != nil {
		return nil, inputErr("%s; start `billwire serve` on this database and master key, and set BILLWIRE_PUBLIC_URL to where it listens", err)
	}
	if out.Changes, err = st.SubjectBillingChanges(ctx, env, r.Subject.Type, r.Subject.ID, seq); err != nil {
		return nil, err
	}
	for i := range access {
		if access[i].After, err = st.HasAccess(ctx, access[i].schema, access[i].name, r.Subject.ID); err != nil {
			return nil, err
		}
		out.Access = append(out.Access, access[i].AccessChange)
	}
	if out.Subscriptions, err = st.SubjectSubscriptions(ctx, env, "", r.Subject.Type, r.Subject.ID, store.ActiveStatuses); err != nil {
		return nil, err
	}
	out.OK = len(out.Deliveries) == len(events)
	for _, d := range out.Deliveries {
		out.OK = out.OK && d.OK() && d.Status != "failed"
	}
	switch {
	case !out.OK:
		out.NextStep = "a delivery was not processed: read its error, then list_webhook_events {env: \"test\"} and the serve log"
	case len(out.Changes) == 0:
		out.NextStep = "the events were processed but nothing changed for this subject: check that the subject matches the one your app reads"
	default:
		out.NextStep = "check the app's view (its access function or tables) for this subject; simulate_events {clear: true} removes the simulated objects when done"
	}
	return out, nil
}

// subscriptionOf is the subscription a story's events are about.
func subscriptionOf(events []simulate.Event) string {
	id := ""
	for _, e := range events {
		if !strings.HasPrefix(e.Type, "customer.subscription.") {
			continue
		}
		var head struct {
			Data struct {
				Object struct {
					ID string `json:"id"`
				} `json:"object"`
			} `json:"data"`
		}
		if json.Unmarshal(e.Payload, &head) == nil {
			id = head.Data.Object.ID
		}
	}
	return id
}

// testPrice is the active test price with lookupKey, as mirrored: its id
// and the full Stripe object.
func testPrice(ctx context.Context, st *store.Store, lookupKey string) (string, json.RawMessage, error) {
	id, err := st.LookupKeyPrice(ctx, vocab.Test, lookupKey)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, inputErr("no active test price has lookup key %q: create it with create_plan, or run sync if it exists in Stripe", lookupKey)
	}
	if err != nil {
		return "", nil, err
	}
	obj, err := st.PriceObject(ctx, vocab.Test, id)
	return id, obj, err
}

// scaffoldedAccess is an access function of a subscription-access scaffold.
type scaffoldedAccess struct {
	AccessChange
	schema, name string
}

// accessFunctions lists the test environment's scaffolded access
// functions with what each says now about the subject.
func (s *Service) accessFunctions(ctx context.Context, st *store.Store, sub auth.Subject) ([]scaffoldedAccess, error) {
	bs, err := scaffold.Bindings(ctx, st)
	if err != nil {
		return nil, err
	}
	var out []scaffoldedAccess
	for _, b := range bs {
		if b.Pattern != scaffold.SubscriptionAccess || b.Env != string(vocab.Test) || !b.Enabled {
			continue
		}
		schema, table, ok := strings.Cut(b.Table, ".")
		if !ok {
			schema, table = "public", b.Table
		}
		name := strings.TrimSuffix(table, "_billing_status") + "_has_access"
		if !strings.HasSuffix(table, "_billing_status") {
			name = table + "_has_access"
		}
		before, err := st.HasAccess(ctx, schema, name, sub.ID)
		if err != nil {
			return nil, fmt.Errorf("call %s.%s: %w", schema, name, err)
		}
		out = append(out, scaffoldedAccess{AccessChange: AccessChange{Function: schema + "." + name, Before: before}, schema: schema, name: name})
	}
	return out, nil
}

func (s *Service) clearSimulated(ctx context.Context, st *store.Store, r SimulateRequest) (*SimulateResult, error) {
	c, err := st.ClearSimulated(ctx, vocab.Test)
	if err != nil {
		return nil, err
	}
	return &SimulateResult{Env: vocab.Test, Cleared: &c, OK: true,
		NextStep: "the simulated objects and events are gone from billwire's tables; the app's own fulfillment rows keep their last state (simulate deleted before clearing to end access)"}, nil
}

func ended(sub json.RawMessage) bool {
	var s struct {
		Status string `json:"status"`
	}
	json.Unmarshal(sub, &s) //nolint:errcheck
	return s.Status == "canceled" || s.Status == "incomplete_expired"
}

func subID(sub json.RawMessage) string {
	var s struct {
		ID string `json:"id"`
	}
	json.Unmarshal(sub, &s) //nolint:errcheck
	return s.ID
}
