package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/vocab"
)

// A credits scaffold is bound to an environment by an enabled trigger on
// payments.billing_changes with the scaffold's marker: pattern credits (or
// a later credits_v…), whatever other fields the marker carries.
func TestCreditsBoundEnvs(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		if _, err := st.Pool().Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`)
	trigger := func(name, comment string) {
		exec(fmt.Sprintf(`CREATE TRIGGER %s AFTER INSERT ON payments.billing_changes FOR EACH ROW EXECUTE FUNCTION public.noop()`, name))
		exec(fmt.Sprintf(`COMMENT ON TRIGGER %s ON payments.billing_changes IS '%s'`, name, comment))
	}
	got := func() map[vocab.Env]bool {
		t.Helper()
		envs, err := store.CreditsBoundEnvs(ctx, st.Pool())
		if err != nil {
			t.Fatal(err)
		}
		return envs
	}
	// Not bindings: another pattern, a look-alike, an unmarked comment, a
	// marker on another table's trigger, a disabled trigger.
	trigger("orders", "billwire scaffold_fulfillment pattern=one_time_orders env=test table=public.orders")
	trigger("lookalike", "billwire scaffold_fulfillment pattern=creditsX env=test table=public.x")
	trigger("unmarked", "my credits pattern=credits env=test")
	trigger("off", "billwire scaffold_fulfillment pattern=credits env=test table=public.off")
	exec(`ALTER TABLE payments.billing_changes DISABLE TRIGGER off`)
	exec(`CREATE TABLE public.other (id int)`)
	exec(`CREATE TRIGGER elsewhere AFTER INSERT ON public.other FOR EACH ROW EXECUTE FUNCTION public.noop()`)
	exec(`COMMENT ON TRIGGER elsewhere ON public.other IS 'billwire scaffold_fulfillment pattern=credits env=test table=public.other'`)
	if envs := got(); len(envs) != 0 {
		t.Fatalf("bound without a credits scaffold: %v", envs)
	}
	trigger("credits_live", "billwire scaffold_fulfillment pattern=credits env=live table=public.credit_ledger")
	trigger("credits_test", "billwire scaffold_fulfillment pattern=credits_v2 version=2 env=test table=public.credit_ledger grants=credits_100")
	if envs := got(); !reflect.DeepEqual(envs, map[vocab.Env]bool{vocab.Live: true, vocab.Test: true}) {
		t.Fatalf("bound = %v, want test and live", envs)
	}
}
