package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/vocab"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// APIKey is a stored server-to-server key, without the key itself.
type APIKey struct {
	ID         int64       `json:"id"`
	Env        vocab.Env   `json:"env"`
	Name       string      `json:"name"`
	Hint       string      `json:"key"`
	Scope      vocab.Scope `json:"scope"`
	CreatedAt  time.Time   `json:"created_at"`
	LastUsedAt *time.Time  `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time  `json:"revoked_at,omitempty"`
}

// ErrNameTaken means an active API key of that name exists in the environment.
var ErrNameTaken = errors.New("name taken")

// CreateAPIKey stores the hash of a new session API key.
func (s *Store) CreateAPIKey(ctx context.Context, env vocab.Env, name string, hash []byte, hint string) (*APIKey, error) {
	return s.CreateScopedAPIKey(ctx, env, name, vocab.ScopeSession, hash, hint)
}

// CreateScopedAPIKey stores the hash of a new key of scope.
func (s *Store) CreateScopedAPIKey(ctx context.Context, env vocab.Env, name string, scope vocab.Scope, hash []byte, hint string) (*APIKey, error) {
	k := APIKey{Env: env, Name: name, Hint: hint, Scope: scope}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO payments.api_keys (env, name, key_hash, key_hint, scope) VALUES ($1, $2, $3, $4, $5)
		RETURNING id, created_at`, env, name, hash, hint, scope).Scan(&k.ID, &k.CreatedAt)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return nil, ErrNameTaken
	}
	if err != nil {
		return nil, fmt.Errorf("store api key: %w", err)
	}
	return &k, nil
}

// ListAPIKeys lists keys, newest first; revoked ones too when all is set.
func (s *Store) ListAPIKeys(ctx context.Context, all bool) ([]APIKey, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, env, name, key_hint, scope, created_at, last_used_at, revoked_at FROM payments.api_keys
		WHERE $1 OR revoked_at IS NULL ORDER BY id DESC`, all)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) {
		var k APIKey
		err := r.Scan(&k.ID, &k.Env, &k.Name, &k.Hint, &k.Scope, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
		return k, err
	})
}

// RevokeAPIKey revokes the active key named name in env.
func (s *Store) RevokeAPIKey(ctx context.Context, env vocab.Env, name string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE payments.api_keys SET revoked_at = now()
		WHERE name = $1 AND env = $2 AND revoked_at IS NULL`, name, env)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// APIKeyByHash finds an active key by its hash and notes its use (at most
// once a minute, so that a busy caller does not write on every request).
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error) {
	var k APIKey
	var stale bool
	err := s.pool.QueryRow(ctx, `
		SELECT id, env, name, key_hint, scope, created_at, coalesce(last_used_at < now() - interval '1 minute', true)
		FROM payments.api_keys WHERE key_hash = $1 AND revoked_at IS NULL`, hash).
		Scan(&k.ID, &k.Env, &k.Name, &k.Hint, &k.Scope, &k.CreatedAt, &stale)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("look up api key: %w", err)
	}
	if stale {
		if _, err := s.pool.Exec(ctx, `UPDATE payments.api_keys SET last_used_at = now() WHERE id = $1`, k.ID); err != nil {
			return nil, fmt.Errorf("note api key use: %w", err)
		}
	}
	return &k, nil
}

// CheckoutPrice is what a checkout needs to know of a price.
type CheckoutPrice struct {
	ID            string
	LookupKey     string
	ProductID     string
	Active        bool
	ProductActive bool
	Currency      string
	Type          string // one_time or recurring
	// The checkout terms the app set on the price, kept in the Stripe
	// price's metadata (the vocab.MetaTrialPeriodDays, vocab.MetaAllowPromotionCodes and
	// vocab.MetaAutomaticTax keys). A trial that is not a whole number of 1 to 730
	// days reads as none; a flag is set only by the text "true".
	TrialPeriodDays     int64
	AllowPromotionCodes bool
	AutomaticTax        bool
	// MinQuantity and MaxQuantity bound the quantity a checkout or change
	// may buy (vocab.MetaMinQuantity, vocab.MetaMaxQuantity; default 1 to 999).
	MinQuantity, MaxQuantity int64
	// Metered prices bill usage: a checkout buys them without a quantity.
	Metered bool
}

// priceTermsSQL reads a price's checkout terms from its metadata, never
// failing on what a human may have typed into it in Stripe's Dashboard.
const priceTermsSQL = `
		CASE WHEN p.metadata->>'` + vocab.MetaTrialPeriodDays + `' ~ '^[0-9]{1,3}$' THEN
			CASE WHEN (p.metadata->>'` + vocab.MetaTrialPeriodDays + `')::int BETWEEN 1 AND 730
				THEN (p.metadata->>'` + vocab.MetaTrialPeriodDays + `')::bigint ELSE 0 END
			ELSE 0 END AS trial_period_days,
		coalesce(p.metadata->>'` + vocab.MetaAllowPromotionCodes + `' = 'true', false) AS allow_promotion_codes,
		coalesce(p.metadata->>'` + vocab.MetaAutomaticTax + `' = 'true', false) AS automatic_tax,
		CASE WHEN qb.lo <= qb.hi THEN qb.lo ELSE 1 END AS min_quantity,
		CASE WHEN qb.lo <= qb.hi THEN qb.hi ELSE 999 END AS max_quantity`

// quantityBoundsSQL is a lateral join reading a price's quantity bounds as
// billing.QuantityBounds does: each a whole number of 1 to 999, else its
// default; a min above the max reads as both defaults (in priceTermsSQL).
const quantityBoundsSQL = `
	CROSS JOIN LATERAL (SELECT
		CASE WHEN p.metadata->>'` + vocab.MetaMinQuantity + `' ~ '^[0-9]{1,3}$' AND (p.metadata->>'` + vocab.MetaMinQuantity + `')::int >= 1
			THEN (p.metadata->>'` + vocab.MetaMinQuantity + `')::bigint ELSE 1 END AS lo,
		CASE WHEN p.metadata->>'` + vocab.MetaMaxQuantity + `' ~ '^[0-9]{1,3}$' AND (p.metadata->>'` + vocab.MetaMaxQuantity + `')::int >= 1
			THEN (p.metadata->>'` + vocab.MetaMaxQuantity + `')::bigint ELSE 999 END AS hi) qb`

const checkoutPricesSQL = `
	SELECT p.id, coalesce(p.lookup_key, '') AS lookup_key, p.product_id, p.active, coalesce(pr.active, false) AS product_active,
		p.currency, p.type,` + priceTermsSQL + `,
		coalesce(p.data->'recurring'->>'usage_type', 'licensed') = 'metered' AS metered
	FROM payments.prices p LEFT JOIN payments.products pr ON pr.id = p.product_id AND pr.env = p.env` + quantityBoundsSQL + `
	WHERE (p.id = ANY($2) OR p.lookup_key = ANY($3)) AND p.env = $1`

func scanCheckoutPrice(r pgx.CollectableRow) (CheckoutPrice, error) {
	var p CheckoutPrice
	err := r.Scan(&p.ID, &p.LookupKey, &p.ProductID, &p.Active, &p.ProductActive, &p.Currency, &p.Type,
		&p.TrialPeriodDays, &p.AllowPromotionCodes, &p.AutomaticTax, &p.MinQuantity, &p.MaxQuantity, &p.Metered)
	return p, err
}

// CheckoutPrices returns the prices of env named by ids or lookup keys.
func (s *Store) CheckoutPrices(ctx context.Context, env vocab.Env, ids, lookupKeys []string) ([]CheckoutPrice, error) {
	rows, err := s.pool.Query(ctx, checkoutPricesSQL, env, ids, lookupKeys)
	if err != nil {
		return nil, fmt.Errorf("read prices: %w", err)
	}
	return pgx.CollectRows(rows, scanCheckoutPrice)
}

// PriceFingerprint is the text StartCheckout compares, inside PostgreSQL,
// with the prices it reads: equal means they are still the prices the
// caller checked.
func PriceFingerprint(prices []CheckoutPrice) string {
	ps := slices.Clone(prices)
	slices.SortFunc(ps, func(a, b CheckoutPrice) int { return strings.Compare(a.ID, b.ID) })
	var b strings.Builder
	bit := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\x1e')
		}
		for j, f := range []string{p.ID, p.LookupKey, p.ProductID, bit(p.Active), bit(p.ProductActive), p.Currency, p.Type,
			strconv.FormatInt(p.TrialPeriodDays, 10), bit(p.AllowPromotionCodes), bit(p.AutomaticTax),
			strconv.FormatInt(p.MinQuantity, 10), strconv.FormatInt(p.MaxQuantity, 10)} {
			if j > 0 {
				b.WriteByte('\x1f')
			}
			b.WriteString(f)
		}
	}
	return b.String()
}

// startCheckoutSQL reads the checkout's prices and the subject's mapping,
// and inserts the initialized row only when the prices' fingerprint is $4
// (or $13, anyway, is true), all in one statement. The fingerprint's text is
// PriceFingerprint's. units is the sum of the request's quantities;
// line_items ($14) are the prices the caller resolved (valid when the
// fingerprint holds, or, with anyway, checked by the caller).
const startCheckoutSQL = `
	WITH p AS (` + checkoutPricesSQL + `),
	fp AS (
		SELECT coalesce(coalesce(string_agg(concat_ws(E'\x1f', p.id, p.lookup_key, p.product_id, p.active::int, p.product_active::int,
			p.currency, p.type,
			p.trial_period_days, p.allow_promotion_codes::int, p.automatic_tax::int,
			p.min_quantity, p.max_quantity), E'\x1e' ORDER BY p.id COLLATE "C"), '') = $4, false) AS current FROM p),
	sub AS (` + subscribedSQL + `),
	ins AS (
		INSERT INTO payments.checkout_sessions (env, mode, status, requester, idempotency_key, request_hash, request,
			subject_type, subject_id, client_reference_id, metadata, units, line_items)
		SELECT $1, $5, 'initialized', $6, $7, $8, $9, $10, $11, $10 || ':' || $11, coalesce($12::jsonb, '{}'),
			(SELECT sum((li->>'quantity')::bigint) FROM jsonb_array_elements(
				CASE jsonb_typeof($9::jsonb->'line_items') WHEN 'array' THEN $9::jsonb->'line_items' END) li), $14::jsonb
		FROM fp WHERE (fp.current OR $13) AND NOT EXISTS (SELECT 1 FROM sub)
		ON CONFLICT (idempotency_key, requester, env) WHERE idempotency_key IS NOT NULL DO NOTHING
		RETURNING id, created_at),
	m AS (
		SELECT m.customer_id, m.confirmed,
			coalesce((SELECT c.deleted FROM payments.customers c WHERE c.id = m.customer_id AND c.env = m.env), false) AS deleted
		FROM payments.customer_mappings m
		WHERE m.subject_id = $11 AND m.subject_type = $10 AND m.env = $1)
	SELECT fp.current OR $13, ins.id, ins.created_at, m.customer_id, m.confirmed, m.deleted,
		CASE WHEN NOT (fp.current OR $13) THEN (SELECT array_agg(row(p.*)) FROM p) END, 0::bigint,
		(SELECT id || ' (' || status || ')' FROM sub)
	FROM fp LEFT JOIN ins ON true LEFT JOIN m ON true`

// subscribedSQL (a CTE of startCheckoutSQL, asked when $REFUSE) finds a
// subscription of the subject that still bills (active, trialing or
// past_due) to the product of any of the checkout's prices (p): then no
// row is written. The subscription's products come from its items as
// Stripe sent them; the subject's subscriptions are few, along the
// subscriptions_subject index.
const subscribedSQL = `
		SELECT s.id, s.status FROM payments.subscriptions s
		CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(s.data->'items'->'data') WHEN 'array' THEN s.data->'items'->'data' END) AS it(item)
		WHERE $REFUSE AND s.subject_id = $11 AND s.subject_type = $10 AND s.env = $1
			AND s.status IN ('active', 'trialing', 'past_due')
			AND CASE jsonb_typeof(it.item->'price'->'product') WHEN 'object' THEN it.item->'price'->'product'->>'id'
				ELSE it.item->'price'->>'product' END IN (SELECT product_id FROM p)
		LIMIT 1`

// startTrialCheckoutSQL is startCheckoutSQL for a checkout that would carry
// a trial: the same statement, which also claims the trial (trialClaimSQL)
// and returns how many of its products it claimed. A checkout without one
// sends the shorter statement, which costs PostgreSQL less to run.
var startTrialCheckoutSQL = strings.Replace(strings.Replace(strings.Replace(startCheckoutSQL,
	"\n\tSELECT fp.current OR $13", ",\n\t"+trialClaimSQL+"\n\tSELECT fp.current OR $13", 1),
	"END, 0::bigint", "END, (SELECT count(*) FROM claim)", 1), "$REFUSE", "$18", 1)

// startPlainCheckoutSQL is startCheckoutSQL as sent without a trial: the
// subscription check's flag is its 15th argument.
var startPlainCheckoutSQL = strings.Replace(startCheckoutSQL, "$REFUSE", "$15", 1)

// trialClaimSQL (two more CTEs of startTrialCheckoutSQL) claims the trial
// of a row just inserted: $15 days for the products $16 (sorted, distinct),
// unless the subject already had a trial of one of them (had); with $17
// (the caller set the trial itself) the claims are recorded whatever the
// subject had, where they are free. It reads
// m, the subject's mapping, and ins, the row. A claim held by a checkout
// that still holds it (payments.trial_claim_holds) is not taken over;
// since the statement's snapshot does not see a claim committed
// concurrently, the primary key's conflict (re-checked on the committed
// row, whose checkout the snapshot then does not see either) refuses it.
const trialClaimSQL = `had AS (
		SELECT 1 FROM payments.trial_claims c JOIN payments.checkout_sessions cs ON cs.id = c.checkout_id
		WHERE c.product_id = ANY($16) AND c.subject_id = $11 AND c.subject_type = $10 AND c.env = $1
		  AND payments.trial_claim_holds(cs.status, cs.created_at)
		UNION ALL
		SELECT 1 FROM payments.subscriptions s
		WHERE s.id IN (SELECT id FROM payments.subscriptions WHERE customer_id = (SELECT customer_id FROM m) AND env = $1
		               UNION SELECT id FROM payments.subscriptions WHERE subject_id = $11 AND subject_type = $10 AND env = $1)
		  AND s.env = $1 AND (s.trial_end IS NOT NULL OR s.data->>'trial_start' IS NOT NULL)
		  AND (EXISTS (SELECT 1 FROM payments.subscription_items si JOIN payments.prices sp ON sp.id = si.price_id AND sp.env = si.env
		               WHERE si.subscription_id = s.id AND si.env = s.env AND sp.product_id = ANY($16))
		       OR EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(s.data->'items'->'data') WHEN 'array' THEN s.data->'items'->'data' END) it
		                  WHERE coalesce(it->'price'->'product'->>'id', it->'price'->>'product') = ANY($16)))),
	claim AS (
		INSERT INTO payments.trial_claims AS c (env, subject_type, subject_id, product_id, checkout_id, trial_period_days)
		SELECT $1, $10, $11, pid, ins.id, $15 FROM ins, unnest($16::text[]) pid
		WHERE $15 > 0 AND ($17 OR NOT EXISTS (SELECT 1 FROM had))
		ORDER BY pid
		ON CONFLICT (subject_id, subject_type, product_id, env) DO UPDATE
			SET checkout_id = EXCLUDED.checkout_id, trial_period_days = EXCLUDED.trial_period_days, created_at = now()
			WHERE EXISTS (SELECT 1 FROM payments.checkout_sessions cs
				WHERE cs.id = c.checkout_id AND NOT payments.trial_claim_holds(cs.status, cs.created_at))
		RETURNING c.product_id)`

// CheckoutStart is what StartCheckout read and wrote.
type CheckoutStart struct {
	// Current reports that the prices were those expected, so the row was
	// written (Row, Created) unless the requester had used its idempotency
	// key before (Row is then that earlier row, Created false).
	Current bool
	Row     *Checkout
	Created bool
	// vocab.Prices are the prices read, when they were not those expected.
	Prices []CheckoutPrice
	// Mapping is the subject's customer, nil when it has none.
	Mapping *Mapping
	// Subscribed, with NewCheckout.RefuseIfSubscribed, names the
	// subscription ("sub_… (active)") of the subject that still bills for a
	// product of the checkout's prices: then no row was written.
	Subscribed string
}

// releaseTrialSQL drops the claims of a row that lost part of its claim to
// a concurrent checkout: without all of them it carries no trial.
const releaseTrialSQL = `DELETE FROM payments.trial_claims WHERE checkout_id = $1`

// StartCheckout is the first round trip of a checkout: it reads the
// subject's mapping and the checkout's prices (named by ids and lookup
// keys), and writes c's initialized row, but only if the prices are still
// those whose PriceFingerprint is expect (the caller checked them; "" for
// none). When they are not, nothing is written and the prices read are
// returned: the caller checks them and calls InsertCheckout.
//
// Concurrent calls share a round trip and a commit (see group).
func (s *Store) StartCheckout(ctx context.Context, c NewCheckout, ids, lookupKeys []string, expect string) (*CheckoutStart, error) {
	return s.startCheckout(ctx, c, ids, lookupKeys, expect, false)
}

// InsertCheckout writes an initialized row, whatever the prices. When the
// requester already used the idempotency key, it writes nothing and returns
// the earlier row with created false.
func (s *Store) InsertCheckout(ctx context.Context, c NewCheckout) (*Checkout, bool, error) {
	start, err := s.startCheckout(ctx, c, nil, nil, "", true)
	if err != nil {
		return nil, false, err
	}
	return start.Row, start.Created, nil
}

// InsertCheckoutFor is InsertCheckout for the prices ids and lookupKeys,
// which RefuseIfSubscribed reads (CheckoutStart.Subscribed).
func (s *Store) InsertCheckoutFor(ctx context.Context, c NewCheckout, ids, lookupKeys []string) (*CheckoutStart, error) {
	return s.startCheckout(ctx, c, ids, lookupKeys, "", true)
}

func (s *Store) startCheckout(ctx context.Context, c NewCheckout, ids, lookupKeys []string, expect string, anyway bool) (*CheckoutStart, error) {
	req, err := c.request()
	if err != nil {
		return nil, err
	}
	var idem, exp *string
	if c.IdempotencyKey != "" {
		idem = &c.IdempotencyKey
	}
	if expect != "" {
		exp = &expect
	}
	var (
		out       CheckoutStart
		id        *int64
		createdAt *time.Time
		customer  *string
		confirmed *bool
		deleted   *bool
		prices    []checkoutPriceRow
		claimed   int
	)
	trialProducts := c.TrialProducts
	if trialProducts == nil {
		trialProducts = []string{}
	}
	sql, args := startPlainCheckoutSQL, []any{c.Env, ids, lookupKeys, exp, c.Mode, c.Requester, idem, c.RequestHash,
		req, c.SubjectType, c.SubjectID, c.Metadata, anyway, LineItemsJSON(c.LineItems)}
	if c.TrialDays > 0 && len(trialProducts) > 0 {
		sql, args = startTrialCheckoutSQL, append(args, c.TrialDays, trialProducts, c.TrialForced)
	}
	args = append(args, c.RefuseIfSubscribed)
	var subscribed *string
	err = s.starts.do(func(b *pgx.Batch) {
		b.Queue(sql, args...).QueryRow(func(row pgx.Row) error {
			return row.Scan(&out.Current, &id, &createdAt, &customer, &confirmed, &deleted, &prices, &claimed, &subscribed)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("record checkout session: %w", err)
	}
	trialDays := int64(0)
	switch {
	case id == nil || c.TrialDays <= 0 || len(trialProducts) == 0:
	case c.TrialForced || claimed == len(trialProducts):
		trialDays = c.TrialDays
	case claimed > 0:
		// A concurrent checkout took some of the products first.
		if _, err := s.pool.Exec(ctx, releaseTrialSQL, *id); err != nil {
			return nil, fmt.Errorf("release trial claims: %w", err)
		}
	}
	if customer != nil {
		out.Mapping = &Mapping{CustomerID: *customer, Confirmed: *confirmed, Deleted: *deleted}
	}
	if subscribed != nil {
		out.Subscribed = *subscribed
		return &out, nil
	}
	for _, p := range prices {
		out.Prices = append(out.Prices, CheckoutPrice(p))
	}
	switch {
	case !out.Current:
	case id != nil:
		out.Row = &Checkout{ID: *id, Env: c.Env, Status: "initialized", RequestHash: c.RequestHash, CreatedAt: *createdAt, TrialDays: trialDays}
		out.Created = true
	default:
		if out.Row, err = s.checkoutWhere(ctx, `idempotency_key = $1 AND requester = $2 AND env = $3`, c.IdempotencyKey, c.Requester, c.Env); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// checkoutPriceRow scans one price of StartCheckout's array of records.
type checkoutPriceRow CheckoutPrice

func (p *checkoutPriceRow) ScanIndex(i int) any {
	return [...]any{&p.ID, &p.LookupKey, &p.ProductID, &p.Active, &p.ProductActive, &p.Currency, &p.Type,
		&p.TrialPeriodDays, &p.AllowPromotionCodes, &p.AutomaticTax, &p.MinQuantity, &p.MaxQuantity, &p.Metered}[i]
}

// Mapping is the Stripe customer that pays for a subject.
type Mapping struct {
	CustomerID string
	Confirmed  bool
	Deleted    bool // the customer was deleted in Stripe
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// mappingSQL reads a subject's mapping. The customer is looked up by a
// subquery: as a join, a generic plan over a small customers table scans
// all of the environment's customers for it.
const mappingSQL = `
	SELECT m.customer_id, m.confirmed,
		coalesce((SELECT c.deleted FROM payments.customers c WHERE c.id = m.customer_id AND c.env = m.env), false)
	FROM payments.customer_mappings m
	WHERE m.subject_id = $3 AND m.subject_type = $2 AND m.env = $1`

func mappingOf(ctx context.Context, q querier, env vocab.Env, subjectType, subjectID string) (*Mapping, error) {
	var m Mapping
	err := q.QueryRow(ctx, mappingSQL, env, subjectType, subjectID).Scan(&m.CustomerID, &m.Confirmed, &m.Deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read customer mapping: %w", err)
	}
	return &m, nil
}

// SubjectMapping returns the subject's customer, or ErrNotFound.
func (s *Store) SubjectMapping(ctx context.Context, env vocab.Env, subjectType, subjectID string) (*Mapping, error) {
	return mappingOf(ctx, s.pool, env, subjectType, subjectID)
}

// SubjectCustomer runs create under a lock on the subject, so that
// concurrent first checkouts of one subject share one customer: a usable
// mapped customer is returned as is; otherwise create makes one in Stripe and
// the mapping (unconfirmed until a webhook confirms it) is written before
// the lock is released.
//
// create gets the customer being replaced (a deleted one), if any, and returns
// the new customer's id and full Stripe object, which is mirrored at once.
//
// known is the mapping the caller read already (nil: none, or not read).
func (s *Store) SubjectCustomer(ctx context.Context, env vocab.Env, subjectType, subjectID string, known *Mapping, create func(ctx context.Context, replaced string) (string, json.RawMessage, error)) (string, error) {
	if known != nil && !known.Deleted {
		return known.CustomerID, nil
	}
	var customer string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
			"billwire/subject/"+string(env)+"/"+subjectType+"/"+subjectID); err != nil {
			return err
		}
		m, err := mappingOf(ctx, tx, env, subjectType, subjectID)
		if err == nil && !m.Deleted {
			customer = m.CustomerID
			return nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		replaced := ""
		if m != nil {
			replaced = m.CustomerID
		}
		var obj json.RawMessage
		if customer, obj, err = create(ctx, replaced); err != nil {
			return err
		}
		// The mapping before the customer, in the order the webhook
		// projection of customer.created takes the two: the other order
		// deadlocks with it. The projection may be mapping the new customer
		// (from its metadata) at this very moment: DO NOTHING without a
		// target waits for it and yields on either unique key, and the
		// UPDATE then replaces a deleted customer's mapping.
		if _, err = tx.Exec(ctx, `
			INSERT INTO payments.customer_mappings (env, subject_type, subject_id, customer_id)
			VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			env, subjectType, subjectID, customer); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `
			UPDATE payments.customer_mappings SET customer_id = $4, confirmed = false, confirmed_at = NULL, created_at = now()
			WHERE subject_id = $3 AND subject_type = $2 AND env = $1 AND customer_id <> $4`,
			env, subjectType, subjectID, customer); err != nil {
			return err
		}
		if len(obj) == 0 {
			return nil
		}
		return UpsertTx(ctx, tx, env, vocab.Customers, []json.RawMessage{obj}, time.Now())
	})
	if err != nil {
		return "", err
	}
	return customer, nil
}

// Checkout is billwire's row for a runtime Checkout Session.
type Checkout struct {
	ID          int64
	Env         vocab.Env
	StripeID    string
	URL         string
	Status      string
	RequestHash string
	ErrorCode   string
	Error       string
	CreatedAt   time.Time
	// TrialDays is the trial the checkout carries (see NewCheckout.TrialDays); 0 for none.
	TrialDays int64
}

// NewCheckout is the row written before Stripe is called.
type NewCheckout struct {
	Env            vocab.Env
	Mode           string
	Requester      string
	IdempotencyKey string // optional, scoped to Requester
	RequestHash    string
	Request        any // marshaled to JSON, unless a json.RawMessage already
	SubjectType    string
	SubjectID      string
	Metadata       map[string]string
	// TrialDays (> 0) is the trial a subscription checkout would carry for
	// TrialProducts (its recurring prices' products, sorted, distinct). The
	// row gets it only if the subject never had a trial of any of them: no
	// checkout of the subject that holds a trial claim for one of them (see
	// payments.trial_claims), no mirrored subscription of the subject's
	// customer or carrying the subject with a trial (trial_start or
	// trial_end set, any status) and an item of one of them. The written
	// row's Checkout.TrialDays says what it got.
	TrialDays     int64
	TrialProducts []string
	// TrialForced grants TrialDays whatever the subject had (the caller set
	// the trial itself); the claims are still recorded where free.
	TrialForced bool
	// LineItems are the request's line items with their prices resolved
	// (id and lookup key), in the request's order.
	LineItems []CheckoutLineItem
	// RefuseIfSubscribed writes no row when the subject already has a
	// subscription that still bills to a product of the prices
	// (CheckoutStart.Subscribed says which).
	RefuseIfSubscribed bool
}

// request is the request's JSON.
func (c *NewCheckout) request() (json.RawMessage, error) {
	if raw, ok := c.Request.(json.RawMessage); ok {
		return raw, nil
	}
	return json.Marshal(c.Request)
}

func (s *Store) checkoutWhere(ctx context.Context, where string, args ...any) (*Checkout, error) {
	var c Checkout
	err := s.pool.QueryRow(ctx, `
		SELECT id, env, coalesce(stripe_id, ''), coalesce(url, ''), status, coalesce(request_hash, ''),
			coalesce(error_code, ''), coalesce(error, ''), created_at,
			coalesce((SELECT max(tc.trial_period_days) FROM payments.trial_claims tc WHERE tc.checkout_id = checkout_sessions.id), 0)
		FROM payments.checkout_sessions WHERE `+where, args...).
		Scan(&c.ID, &c.Env, &c.StripeID, &c.URL, &c.Status, &c.RequestHash, &c.ErrorCode, &c.Error, &c.CreatedAt, &c.TrialDays)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read checkout session: %w", err)
	}
	return &c, nil
}

// GetCheckout returns billwire's checkout row id.
func (s *Store) GetCheckout(ctx context.Context, id int64) (*Checkout, error) {
	return s.checkoutWhere(ctx, `id = $1`, id)
}

const checkoutOpenedSQL = `
	WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
	UPDATE payments.checkout_sessions t SET stripe_id = $2, url = $3,
		status = CASE WHEN t.stripe_id IS NULL THEN 'open' ELSE t.status END,
		customer_id = coalesce(t.customer_id, $4), reuse_digest = coalesce($5, t.reuse_digest),
		error_code = NULL, error = NULL, updated_at = now()
	FROM async WHERE t.id = $1 AND (t.stripe_id IS NULL OR t.stripe_id = $2)`

// CheckoutOpened stores Stripe's session on the row, without waiting: the
// update is written with those of concurrent requests, and failed (when not
// nil) gets the error if it could not be. Flush and Close wait for it.
//
// It commits asynchronously, and the session API answers without waiting
// for it: the row itself was durable before Stripe was called, and losing
// this update in a crash loses nothing Stripe does not give back. A retry
// under the same idempotency key is told the request is in progress, then
// gets the same session from Stripe; and the session's first event names
// the row (billwire_checkout_id), which the webhook projection then adopts.
// For the same reason a row the projection adopted first keeps its state
// here.
//
// A webhook may also have projected the session into a row of its own
// (keyed by Stripe's id, without billwire's row id): that row is then folded
// into this one.
func (s *Store) CheckoutOpened(id int64, stripeID, url, customer string, failed func(error)) {
	s.CheckoutOpenedReusable(id, stripeID, url, customer, "", failed)
}

// CheckoutOpenedReusable is CheckoutOpened that also stores the session's
// reuse digest (see ReusableCheckout; "" for none), in the same update.
func (s *Store) CheckoutOpenedReusable(id int64, stripeID, url, customer, reuseDigest string, failed func(error)) {
	var digest *string
	if reuseDigest != "" {
		digest = &reuseDigest
	}
	s.opens.later(func(b *pgx.Batch) {
		b.Queue(checkoutOpenedSQL, id, stripeID, url, customer, digest)
	}, func(err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err = s.checkoutOpened(ctx, id, stripeID, url, customer, err); err != nil && failed != nil {
			failed(err)
		}
	})
}

// checkoutOpened folds an early webhook row when the update found one.
func (s *Store) checkoutOpened(ctx context.Context, id int64, stripeID, url, customer string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		err = s.foldCheckout(ctx, id, stripeID, url, customer)
	}
	if err != nil {
		return fmt.Errorf("store checkout session %s: %w", stripeID, err)
	}
	return nil
}

// foldCheckout moves the state of a row a webhook created for stripeID onto
// billwire's own row id.
func (s *Store) foldCheckout(ctx context.Context, id int64, stripeID, url, customer string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			WITH early AS (
				DELETE FROM payments.checkout_sessions e
				WHERE e.stripe_id = $2 AND e.env = (SELECT env FROM payments.checkout_sessions WHERE id = $1)
				  AND e.id <> $1 AND e.requester IS NULL
				RETURNING e.*)
			UPDATE payments.checkout_sessions t SET stripe_id = $2, url = $3, customer_id = coalesce(early.customer_id, $4),
				status = early.status, payment_status = early.payment_status, subscription_id = early.subscription_id,
				payment_intent_id = early.payment_intent_id, amount_total = early.amount_total, currency = early.currency,
				data = early.data, source_at = early.source_at, line_items = coalesce(t.line_items, early.line_items),
				error_code = NULL, error = NULL, updated_at = now()
			FROM early WHERE t.id = $1`, id, stripeID, url, customer)
		if err == nil && tag.RowsAffected() != 1 {
			err = fmt.Errorf("Stripe's session id %s is already recorded for another checkout", stripeID)
		}
		return err
	})
}

// CheckoutFailed records why Stripe did not create the session.
func (s *Store) CheckoutFailed(ctx context.Context, id int64, code, msg string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE payments.checkout_sessions SET status = 'failed', error_code = $2, error = $3, updated_at = now()
		WHERE id = $1 AND status IN ('initialized', 'failed')`, id, code, msg)
	if err != nil {
		return fmt.Errorf("record checkout failure: %w", err)
	}
	return nil
}

// PortalConfig is the Billing Portal configuration billwire manages in env.
type PortalConfig struct {
	ID           string     `json:"id"`
	Digest       string     `json:"-"`
	ConfiguredAt *time.Time `json:"configured_at,omitempty"`
}

// PortalConfiguration returns env's portal configuration (empty when none).
func (s *Store) PortalConfiguration(ctx context.Context, env vocab.Env) (PortalConfig, error) {
	var p PortalConfig
	err := s.pool.QueryRow(ctx, `
		SELECT coalesce(portal_configuration_id, ''), coalesce(portal_configuration_digest, ''), portal_configured_at
		FROM payments.environments WHERE env = $1`, env).Scan(&p.ID, &p.Digest, &p.ConfiguredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("read portal configuration: %w", err)
	}
	return p, nil
}

// SetPortalConfiguration records env's portal configuration.
func (s *Store) SetPortalConfiguration(ctx context.Context, env vocab.Env, id, digest string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE payments.environments SET portal_configuration_id = $2, portal_configuration_digest = $3,
			portal_configured_at = now() WHERE env = $1`, env, id, digest)
	if err != nil {
		return fmt.Errorf("store portal configuration: %w", err)
	}
	return nil
}

// PortalProduct is a product with the recurring prices a customer may switch between.
type PortalProduct struct {
	ID     string
	Prices []string
	// PromotionCodes reports that every one of vocab.Prices takes promotion
	// codes (the app's term, vocab.MetaAllowPromotionCodes).
	PromotionCodes bool
	// SeatBounds reports that one of Prices bounds its quantity
	// (vocab.MetaMinQuantity or vocab.MetaMaxQuantity).
	SeatBounds bool
}

// PortalProducts lists the products of env's switchable prices (see
// SetSwitchablePrices) with those of their prices still active, in the
// families' order.
func (s *Store) PortalProducts(ctx context.Context, env vocab.Env) ([]PortalProduct, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT pr.id, array_agg(p.id ORDER BY sw.family, sw.position),
			bool_and(coalesce(p.metadata->>'`+vocab.MetaAllowPromotionCodes+`' = 'true', false)),
			bool_or(p.metadata ? '`+vocab.MetaMinQuantity+`' OR p.metadata ? '`+vocab.MetaMaxQuantity+`')
		FROM payments.switchable_prices sw
		JOIN payments.prices p ON p.id = sw.price_id AND p.env = sw.env
		JOIN payments.products pr ON pr.id = p.product_id AND pr.env = p.env
		WHERE sw.env = $1 AND p.active AND pr.active AND p.type = 'recurring'
		GROUP BY pr.id ORDER BY min(sw.family), min(sw.position), pr.id`, env)
	if err != nil {
		return nil, fmt.Errorf("read portal products: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PortalProduct, error) {
		var p PortalProduct
		err := r.Scan(&p.ID, &p.Prices, &p.PromotionCodes, &p.SeatBounds)
		return p, err
	})
}

// SubjectSubscription is a subscription as the app shows it.
type SubjectSubscription struct {
	ID                string     `json:"id"`
	Status            string     `json:"status"`
	CustomerID        string     `json:"customer_id"`
	PriceID           string     `json:"price_id,omitempty"`
	LookupKey         string     `json:"lookup_key,omitempty"`
	ProductID         string     `json:"product_id,omitempty"`
	Plan              string     `json:"plan,omitempty"`
	Quantity          int64      `json:"quantity,omitempty"`
	CurrentPeriodEnd  *time.Time `json:"current_period_end,omitempty"`
	CancelAtPeriodEnd bool       `json:"cancel_at_period_end"`
	TrialEnd          *time.Time `json:"trial_end,omitempty"`
}

// ActiveStatuses are the subscription states that still bill (or will).
var ActiveStatuses = []string{"active", "trialing", "past_due", "unpaid", "incomplete", "paused"}

// SubjectSubscriptions returns the subscriptions of customer (or carrying
// the subject) in the given statuses (all when none), newest first.
func (s *Store) SubjectSubscriptions(ctx context.Context, env vocab.Env, customer, subjectType, subjectID string, statuses []string) ([]SubjectSubscription, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT s.id, s.status, s.customer_id, coalesce(i.price_id, ''), coalesce(p.lookup_key, ''), coalesce(p.product_id, ''),
			coalesce(nullif(pr.name, ''), p.nickname, ''), coalesce(i.quantity, 0), s.current_period_end, s.cancel_at_period_end, s.trial_end
		FROM payments.subscriptions s
		LEFT JOIN LATERAL (SELECT price_id, quantity FROM payments.subscription_items si
			WHERE si.subscription_id = s.id AND si.env = s.env ORDER BY si.id LIMIT 1) i ON true
		LEFT JOIN payments.prices p ON p.id = i.price_id AND p.env = s.env
		LEFT JOIN payments.products pr ON pr.id = p.product_id AND pr.env = s.env
		WHERE s.id IN (SELECT id FROM payments.subscriptions WHERE customer_id = $2 AND env = $1
		               UNION SELECT id FROM payments.subscriptions WHERE subject_id = $4 AND subject_type = $3 AND env = $1)
		  AND s.env = $1 AND (coalesce(cardinality($5::text[]), 0) = 0 OR s.status = ANY($5))
		ORDER BY s.created DESC, s.id LIMIT 50`, env, customer, subjectType, subjectID, statuses)
	if err != nil {
		return nil, fmt.Errorf("read subscriptions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SubjectSubscription, error) {
		var x SubjectSubscription
		err := r.Scan(&x.ID, &x.Status, &x.CustomerID, &x.PriceID, &x.LookupKey, &x.ProductID, &x.Plan, &x.Quantity,
			&x.CurrentPeriodEnd, &x.CancelAtPeriodEnd, &x.TrialEnd)
		return x, err
	})
}

// SubjectCustomerInfo is the customer shown for a subject.
type SubjectCustomerInfo struct {
	ID        string `json:"id"`
	Email     string `json:"email,omitempty"`
	Name      string `json:"name,omitempty"`
	Confirmed bool   `json:"mapping_confirmed"`
	Deleted   bool   `json:"deleted,omitempty"`
}

// CustomerInfo returns what billwire has mirrored of customer (id only when nothing).
func (s *Store) CustomerInfo(ctx context.Context, env vocab.Env, customer string) (SubjectCustomerInfo, error) {
	c := SubjectCustomerInfo{ID: customer}
	err := s.pool.QueryRow(ctx, `SELECT coalesce(email, ''), coalesce(name, ''), deleted FROM payments.customers
		WHERE id = $1 AND env = $2`, customer, env).Scan(&c.Email, &c.Name, &c.Deleted)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("read customer: %w", err)
	}
	return c, nil
}

// SubjectPayments returns the newest payment history rows of customer or
// the subject.
func (s *Store) SubjectPayments(ctx context.Context, env vocab.Env, customer, subjectType, subjectID string, limit int) ([]PaymentRecord, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT key, kind, status, amount, amount_refunded, currency, customer_id, subject_type, subject_id, invoice_id,
			subscription_id, payment_intent_id, charge_id, checkout_session_id, failure_code, failure_message, failures, reason, occurred_at
		FROM payments.payment_history
		WHERE key IN (SELECT key FROM payments.payment_history WHERE customer_id = $2 AND env = $1
		              UNION SELECT key FROM payments.payment_history WHERE subject_id = $4 AND subject_type = $3 AND env = $1)
		  AND env = $1
		ORDER BY occurred_at DESC, key DESC LIMIT $5`, env, customer, subjectType, subjectID, limit)
	if err != nil {
		return nil, fmt.Errorf("read payments: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PaymentRecord])
	if err != nil {
		return nil, fmt.Errorf("read payments: %w", err)
	}
	return out, nil
}
