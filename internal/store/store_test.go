package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billwire/billwire/internal/store"
	"github.com/billwire/billwire/internal/store/storetest"
	"github.com/billwire/billwire/internal/vocab"
)

func raw(format string, args ...any) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(format, args...))
}

func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	t.Parallel()
	dsn := storetest.DSN(t)
	ctx := context.Background()
	pool, err := store.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The template is migrated already; drop the schema to migrate from scratch, from 4 processes at once.
	if _, err := pool.Exec(ctx, `DROP SCHEMA payments CASCADE`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = store.Migrate(ctx, pool) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	var n int
	// One row per migration file.
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM payments.schema_migrations`).Scan(&n); err != nil || n != len(store.MigrationFiles()) {
		t.Fatalf("applied migrations = %d (%v), want %d", n, err, len(store.MigrationFiles()))
	}
}

func TestMasterKeyFingerprint(t *testing.T) {
	t.Parallel()
	dsn := storetest.DSN(t)
	ctx := context.Background()
	k1 := storetest.MasterKey(t)
	s, err := store.Open(ctx, dsn, k1)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = store.Open(ctx, dsn, k1); err != nil {
		t.Fatalf("same key refused: %v", err)
	}
	s.Close()
	_, err = store.Open(ctx, dsn, storetest.MasterKey(t))
	if !errors.Is(err, store.ErrMasterKeyMismatch) || !strings.Contains(err.Error(), "BILLWIRE_MASTER_KEY") {
		t.Fatalf("other key: %v, want a mismatch that names BILLWIRE_MASTER_KEY", err)
	}
}

// Processes that first open a fresh database at once all record or accept
// the same master key (two billwire processes starting on the embedded
// cluster).
func TestConcurrentFirstOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := storetest.MasterKey(t)
	for range 5 {
		dsn := storetest.DSN(t)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := store.Open(ctx, dsn, key)
				if err == nil {
					s.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("concurrent first open: %v", err)
			}
		}
	}
}

func TestUnreachableDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := store.Open(ctx, "postgres://nobody:hunter2@127.0.0.1:1/x?connect_timeout=2", storetest.MasterKey(t))
	if err == nil || !strings.Contains(err.Error(), "cannot reach PostgreSQL at 127.0.0.1:1/x") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

// A failed connection says which of its causes it is, and what to do.
func TestConnectErrorSaysWhy(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := url.Parse(storetest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	host := admin.Hostname()
	if h := admin.Query().Get("host"); h != "" { // the tests' private cluster: a socket
		host = h
	}
	noDB := *admin
	noDB.Path = "/billwire_no_such_database"
	noRole := *admin
	noRole.User = url.UserPassword("billwire_no_such_role", "hunter2")
	for _, tc := range []struct{ name, dsn, want string }{
		{"server not running", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", "server not running: start PostgreSQL"},
		{"no socket", "host=/nonexistent/billwire dbname=x", "server not running: start PostgreSQL"},
		{"database does not exist", noDB.String(), "database does not exist: create it (createdb -h " + host},
		{"role does not exist", noRole.String(), "role does not exist: create it (createuser"},
	} {
		_, err := store.Connect(ctx, tc.dsn)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// HasSchema finds billwire's schema and creates nothing where it is missing.
func TestHasSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	migrated := storetest.DSN(t)
	if !store.HasSchema(ctx, migrated) {
		t.Fatal("HasSchema(migrated database) = false")
	}
	db, err := pgx.Connect(ctx, migrated)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `DROP SCHEMA payments CASCADE`); err != nil {
		t.Fatal(err)
	}
	if store.HasSchema(ctx, migrated) || store.HasSchema(ctx, "postgres://nobody@127.0.0.1:1/x") {
		t.Fatal("HasSchema = true without the schema")
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = 'payments'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("payments schemas after HasSchema = %d, %v", n, err)
	}
}

func TestRedactDSN(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://bob:hunter2@db:5432/app?sslmode=disable": "postgres://bob:xxxxx@db:5432/app?sslmode=disable",
		"host=db user=bob password=hunter2 dbname=app":       "host=db user=bob password=xxxxx dbname=app",
		"postgres://bob@db/app":                              "postgres://bob@db/app",
	} {
		if got := store.RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEnvironmentKeyIsSealed(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	const key = "sk_test_51SecretValueNobodySees4242"
	if err := s.PutEnvironment(ctx, vocab.Test, key, "secret", "acct_1", "Acme", "sk_test_…4242", false); err != nil {
		t.Fatal(err)
	}
	e, err := s.GetEnvironment(ctx, vocab.Test)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.SecretKey(e); err != nil || got != key {
		t.Fatalf("SecretKey = %q, %v", got, err)
	}
	var leaked bool
	if err := s.Pool().QueryRow(ctx, `SELECT position('SecretValue'::bytea in secret_key_enc) > 0
		FROM payments.environments`).Scan(&leaked); err != nil || leaked {
		t.Fatalf("plaintext key stored: %v %v", leaked, err)
	}
	if _, err := s.GetEnvironment(ctx, vocab.Live); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("live = %v, want ErrNotFound", err)
	}
}

func TestUpsertKeepsNewerData(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	t0 := time.Now()
	prod := func(name string) json.RawMessage {
		return raw(`{"id":"prod_1","object":"product","name":%q,"active":true,"created":1700000000,"livemode":false,"metadata":{"tier":"pro"}}`, name)
	}
	if _, err := s.Upsert(ctx, vocab.Test, vocab.Products, []json.RawMessage{prod("New")}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upsert(ctx, vocab.Test, vocab.Products, []json.RawMessage{prod("Old")}, t0.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	price := raw(`{"id":"price_1","object":"price","product":"prod_1","active":true,"currency":"usd","unit_amount":2000,"type":"recurring","recurring":{"interval":"month","interval_count":1},"lookup_key":"pro_monthly","created":1700000001,"livemode":false,"metadata":{}}`)
	if _, err := s.Upsert(ctx, vocab.Test, vocab.Prices, []json.RawMessage{price}, t0); err != nil {
		t.Fatal(err)
	}
	got, nextCursor, err := s.ListCatalog(ctx, vocab.Test, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "New" || got[0].Metadata["tier"] != "pro" || nextCursor != "" {
		t.Fatalf("catalog = %+v, %q", got, nextCursor)
	}
	if p := got[0].Prices; len(p) != 1 || *p[0].UnitAmount != 2000 || *p[0].Interval != "month" || *p[0].LookupKey != "pro_monthly" {
		t.Fatalf("prices = %+v", p)
	}
	// A price whose product is not stored is refused whole.
	orphan := raw(`{"id":"price_2","object":"price","product":"prod_missing","active":true,"currency":"usd","unit_amount":100,"type":"one_time","created":1700000001}`)
	if _, err := s.Upsert(ctx, vocab.Test, vocab.Prices, []json.RawMessage{orphan}, t0); err == nil {
		t.Fatal("price without product stored")
	}
	missing, err := s.MissingProducts(ctx, vocab.Test, []string{"prod_1", "prod_missing"})
	if err != nil || len(missing) != 1 || missing[0] != "prod_missing" {
		t.Fatalf("MissingProducts = %v, %v", missing, err)
	}
}

func TestSubscriptionItemsFollowPayload(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	sub := func(items string) json.RawMessage {
		return raw(`{"id":"sub_1","object":"subscription","customer":"cus_1","status":"active","currency":"usd","current_period_end":1800000000,"cancel_at_period_end":false,"created":1700000000,"livemode":false,"metadata":{},"items":{"object":"list","data":[%s],"has_more":false}}`, items)
	}
	item := func(id, price string, q int) string {
		return fmt.Sprintf(`{"id":%q,"object":"subscription_item","subscription":"sub_1","price":{"id":%q,"object":"price"},"quantity":%d}`, id, price, q)
	}
	t0 := time.Now()
	if _, err := s.Upsert(ctx, vocab.Test, vocab.Subscriptions, []json.RawMessage{sub(item("si_1", "price_a", 1) + "," + item("si_2", "price_b", 2))}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upsert(ctx, vocab.Test, vocab.Subscriptions, []json.RawMessage{sub(item("si_2", "price_b", 5))}, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	subs, _, err := s.ListSubscriptions(ctx, vocab.Test, store.Page{Query: "active"})
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 || len(subs[0].Items) != 1 || subs[0].Items[0].ID != "si_2" || subs[0].Items[0].Quantity != 5 {
		t.Fatalf("subs = %+v", subs)
	}
	if subs[0].CurrentPeriodEnd == nil || subs[0].CurrentPeriodEnd.Unix() != 1800000000 {
		t.Fatalf("period end = %v", subs[0].CurrentPeriodEnd)
	}
}

func TestListPaginationAndSearch(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	var objs []json.RawMessage
	for i := range 7 {
		objs = append(objs, raw(`{"id":"cus_%02d","object":"customer","email":"user%d@example.com","name":"User_%d","created":1700000000,"livemode":false}`, i, i, i))
	}
	if _, err := s.Upsert(ctx, vocab.Test, vocab.Customers, objs, time.Now()); err != nil {
		t.Fatal(err)
	}
	var seen []string
	cursor := ""
	for {
		page, nextCursor, err := s.ListCustomers(ctx, vocab.Test, store.Page{Cursor: cursor, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			seen = append(seen, c.ID)
		}
		if nextCursor == "" {
			break
		}
		cursor = nextCursor
	}
	if strings.Join(seen, ",") != "cus_00,cus_01,cus_02,cus_03,cus_04,cus_05,cus_06" {
		t.Fatalf("pages = %v", seen)
	}
	hits, _, err := s.ListCustomers(ctx, vocab.Test, store.Page{Query: "user3@"})
	if err != nil || len(hits) != 1 || hits[0].ID != "cus_03" {
		t.Fatalf("search = %+v, %v", hits, err)
	}
	// LIKE wildcards in a query are literal.
	if hits, _, _ := s.ListCustomers(ctx, vocab.Test, store.Page{Query: "%"}); len(hits) != 0 {
		t.Fatalf("%% matched %d rows", len(hits))
	}
	if _, _, err := s.ListCustomers(ctx, vocab.Test, store.Page{Cursor: "garbage!"}); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
	if other, _, _ := s.ListCustomers(ctx, vocab.Live, store.Page{}); len(other) != 0 {
		t.Fatal("live sees test rows")
	}
}

func TestListFiltersAndOffsets(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	_, err := s.Pool().Exec(ctx, `
		INSERT INTO payments.payment_history (env, key, kind, status, amount, currency, customer_id, subject_type, subject_id, invoice_id, occurred_at, source_at)
		SELECT 'test', 'pi_' || i, 'payment', CASE WHEN i % 3 = 0 THEN 'failed' ELSE 'succeeded' END, 100 * i, 'usd', 'cus_' || (i % 2),
			'user', 'u_' || (i % 2), 'in_' || i, now() - i * interval '1 minute', now()
		FROM generate_series(1, 9) i`)
	if err != nil {
		t.Fatal(err)
	}
	keys := func(p store.Page) string {
		t.Helper()
		rows, _, err := s.ListPaymentHistory(ctx, vocab.Test, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.Key)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		p    store.Page
		want string
	}{
		{store.Page{Limit: 3}, "pi_1,pi_2,pi_3"},
		{store.Page{Limit: 3, Offset: 3}, "pi_4,pi_5,pi_6"},
		{store.Page{Limit: 3, Offset: 9}, ""},
		{store.Page{Status: "failed"}, "pi_3,pi_6,pi_9"},
		{store.Page{Status: "succeeded", SubjectID: "u_1", SubjectType: "user"}, "pi_1,pi_5,pi_7"},
		{store.Page{SubjectID: "u_1", SubjectType: "team"}, ""},
		{store.Page{Query: "in_4"}, "pi_4"},
		{store.Page{Query: "FAILED"}, "pi_3,pi_6,pi_9"},
		{store.Page{Query: "cus_0", Offset: 1, Limit: 2}, "pi_4,pi_6"},
		{store.Page{Query: "in_"}, ""}, // ids match whole, never as a prefix
	} {
		if got := keys(c.p); got != c.want {
			t.Errorf("%+v = %q, want %q", c.p, got, c.want)
		}
	}
	if _, _, err := s.ListPaymentHistory(ctx, vocab.Test, store.Page{Status: "paid'; DROP TABLE x; --"}); !errors.Is(err, store.ErrBadFilter) {
		t.Errorf("unknown status: %v", err)
	}
	if _, _, err := s.ListWebhookEvents(ctx, vocab.Test, store.Page{Status: "done"}); !errors.Is(err, store.ErrBadFilter) {
		t.Errorf("unknown event status: %v", err)
	}
}
