package billing_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/billwire/billwire/internal/billing"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/stripeapi"
	"github.com/billwire/billwire/internal/stripetest"
	"github.com/billwire/billwire/internal/vocab"
)

func keysCheck(t *testing.T, svc *billing.Service) billing.Check {
	t.Helper()
	rep, err := svc.CheckIntegration(context.Background(), vocab.Test, billing.DoctorOptions{ReceiverURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if c.Name == "keys" {
			return c
		}
	}
	t.Fatal("no keys check")
	return billing.Check{}
}

// A key that now answers for another account fails the check, and the fix
// that switches accounts says it deletes the mirror and to ask the human.
func TestKeysCheckWarnsBeforeAFixThatClearsData(t *testing.T) {
	t.Parallel()
	const key = "sk_test_51DoctorKeysCheck00000000000004242"
	fake := stripetest.StartFake(t, stripetest.FakeOptions{Accounts: map[string]string{key: "acct_Before"}})
	svc := billing.New(billing.Static(storetest.New(t)), stripeapi.Options{BaseURL: fake.URL(), RateLimit: 1000}, zerolog.Nop())
	if _, err := svc.ConfigureKey(context.Background(), vocab.Test, key, false); err != nil {
		t.Fatal(err)
	}
	if ck := keysCheck(t, svc); !ck.OK {
		t.Fatalf("before: %+v", ck)
	}
	fake.SetAccount(key, "acct_After")
	ck := keysCheck(t, svc)
	if ck.OK || !ck.ClearsData || !strings.Contains(ck.Fix, "DELETES") || !strings.Contains(ck.Fix, "ask the human") {
		t.Fatalf("after the account changed: %+v", ck)
	}
}

// Against stripe-mock, which invents an account on every call, the account
// check is skipped, said so, and does not fail.
func TestKeysCheckSkipsTheAccountAgainstAMock(t *testing.T) {
	t.Parallel()
	svc := billing.New(billing.Static(storetest.New(t)), stripeapi.Options{BaseURL: stripetest.Mock(t), RateLimit: 1000}, zerolog.Nop())
	if _, err := svc.ConfigureKey(context.Background(), vocab.Test, "sk_test_51DoctorKeysMock0000000000000004242", false); err != nil {
		t.Fatal(err)
	}
	ck := keysCheck(t, svc)
	if !ck.OK || ck.ClearsData || !strings.Contains(ck.Detail, "skipped") {
		t.Fatalf("against the mock: %+v", ck)
	}
}
