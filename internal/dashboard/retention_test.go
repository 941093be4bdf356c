package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/billwire/billwire/internal/eventfixtures"
	"github.com/billwire/billwire/internal/stripetest"
)

// An event whose payload was pruned is marked in the list; its replay
// fetches it from Stripe, or says that Stripe no longer has it and what to
// run instead.
func TestReplayOfAPrunedEvent(t *testing.T) {
	t.Parallel()
	w := newWorld(t, stripetest.FakeOptions{})
	if _, err := w.st.Pool().Exec(context.Background(), `UPDATE payments.webhook_events SET payload = NULL WHERE id = 'evt_DashPaid'`); err != nil {
		t.Fatal(err)
	}
	b := w.browser(t)
	csrf := b.login()
	page := b.get("/dashboard/test/webhooks?q=evt_DashPaid")
	wantIn(t, "pruned event", page.body, "(payload pruned)")
	wantNotIn(t, "parked event", b.get("/dashboard/test/webhooks?q="+parkedID).body, "(payload pruned)")

	replay := func() {
		t.Helper()
		a := b.do(http.MethodPost, "/dashboard/test/webhooks/replay", url.Values{"event_id": {"evt_DashPaid"}, "csrf": {csrf}},
			"Sec-Fetch-Site", "same-origin", "Origin", w.srv.URL)
		if a.code != http.StatusSeeOther {
			t.Fatalf("replay = %d: %s", a.code, a.body)
		}
	}
	replay()
	wantIn(t, "replay of an event Stripe no longer has", b.get("/dashboard/test/webhooks").body,
		"cannot be replayed", "Stripe no longer has the event", "billwire sync --env test")

	w.fake.AddEvent(testKey, eventfixtures.MustEvent(t, "invoice.paid", eventfixtures.Options{ID: "evt_DashPaid",
		Replace: map[string]string{"in_Fixture1": "in_DashPaid"}})) // the invoice the ledger recorded
	replay()
	wantIn(t, "replay fetched from Stripe", b.get("/dashboard/test/webhooks").body,
		"Replayed evt_DashPaid: it was processed and is now processed.", "fetched from Stripe")
}
