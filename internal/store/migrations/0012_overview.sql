-- Issue 15: the dashboard overview. Each section below belongs to one part
-- of the change; later parts add their own section at the end.

-- == overview rollups: per-day figures kept by triggers ==

-- The overview never scans history on a page view: statement-level
-- triggers on the projected tables (so webhooks, sync, replays and
-- simulations all keep them) fold each statement's rows into these small
-- tables, and this migration backfills them from the rows already there.
-- Days are UTC days. An update that changes none of a row's figures writes
-- nothing. The rollup rows that every webhook would otherwise lock (today's
-- MRR, a status's count) are split in shards by backend (shard, see
-- payments.overview_shard), so concurrent webhook transactions rarely wait
-- for each other; readers sum the shards. Each trigger upserts in key
-- order, so two transactions of one shard wait instead of deadlocking.

-- The shard of the rollup rows this backend writes.
CREATE FUNCTION payments.overview_shard() RETURNS smallint
LANGUAGE sql STABLE AS $$ SELECT (pg_backend_pid() % 8)::smallint $$;

-- How many months one interval_count × interval is worth: a month is a
-- twelfth of a year of 365 days or 52 weeks.
CREATE FUNCTION payments.months_per_interval(iv text, n integer) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE iv
        WHEN 'day' THEN 12.0 / 365
        WHEN 'week' THEN 12.0 / 52
        WHEN 'month' THEN 1.0
        WHEN 'year' THEN 12.0
    END * greatest(coalesce(n, 1), 1)
$$;

-- What each subscription adds to MRR now, per currency: for active,
-- past_due and trialing subscriptions, the licensed items' list price ×
-- quantity per month, before discounts (metered and amountless prices add
-- nothing). trialing says the subscription is in its trial (shown apart).
CREATE TABLE payments.subscription_mrr (
    env             text NOT NULL CHECK (env IN ('test', 'live')),
    subscription_id text NOT NULL,
    currency        text NOT NULL,
    trialing        boolean NOT NULL,
    mrr             numeric NOT NULL, -- minor units per month
    PRIMARY KEY (subscription_id, currency, env)
);

-- The day's change of MRR per currency; MRR at the end of a day is the sum
-- of its row and all earlier ones.
CREATE TABLE payments.overview_mrr_daily (
    env      text NOT NULL CHECK (env IN ('test', 'live')),
    day      date NOT NULL,
    currency text NOT NULL,
    active   numeric NOT NULL DEFAULT 0, -- active and past_due
    trialing numeric NOT NULL DEFAULT 0,
    shard    smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency, env, shard)
);

-- Money per day and currency: payments that succeeded (counted on their
-- day even when refunded later) and refunds that succeeded.
CREATE TABLE payments.overview_revenue_daily (
    env      text NOT NULL CHECK (env IN ('test', 'live')),
    day      date NOT NULL,
    currency text NOT NULL,
    paid     bigint NOT NULL DEFAULT 0,
    refunded bigint NOT NULL DEFAULT 0,
    payments integer NOT NULL DEFAULT 0,
    refunds  integer NOT NULL DEFAULT 0,
    shard    smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency, env, shard)
);

-- Subscriptions per day: new by created, canceled by canceled_at, ended by ended_at.
CREATE TABLE payments.overview_subscriptions_daily (
    env      text NOT NULL CHECK (env IN ('test', 'live')),
    day      date NOT NULL,
    created  integer NOT NULL DEFAULT 0,
    canceled integer NOT NULL DEFAULT 0,
    ended    integer NOT NULL DEFAULT 0,
    shard    smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, env, shard)
);

-- Subscriptions by status now.
CREATE TABLE payments.overview_subscription_statuses (
    env    text NOT NULL CHECK (env IN ('test', 'live')),
    status text NOT NULL,
    n      bigint NOT NULL DEFAULT 0,
    shard    smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (status, env, shard)
);

-- Trials ending soon, for the overview and the subscriptions list.
CREATE INDEX subscriptions_trial_ending ON payments.subscriptions (trial_end) WHERE status = 'trialing';

-- The UTC day of a time.
CREATE FUNCTION payments.utc_day(t timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE AS $$ SELECT (t AT TIME ZONE 'UTC')::date $$;

-- The MRR of the subscriptions (env, id) as the tables hold them now.
CREATE FUNCTION payments.mrr_of(envs text[], ids text[])
RETURNS TABLE (env text, subscription_id text, currency text, trialing boolean, mrr numeric)
LANGUAGE sql STABLE AS $$
    SELECT s.env, s.id, p.currency, s.status = 'trialing',
        sum(p.unit_amount * i.quantity / payments.months_per_interval(p.recurring_interval, p.recurring_interval_count))
    FROM (SELECT DISTINCT a.env, a.id FROM unnest(envs, ids) a(env, id)) a
    JOIN payments.subscriptions s ON s.id = a.id AND s.env = a.env
    JOIN payments.subscription_items i ON i.subscription_id = s.id AND i.env = s.env
    JOIN payments.prices p ON p.id = i.price_id AND p.env = i.env
    WHERE s.status IN ('active', 'past_due', 'trialing') AND p.type = 'recurring' AND p.unit_amount IS NOT NULL
      AND payments.months_per_interval(p.recurring_interval, p.recurring_interval_count) IS NOT NULL
      AND coalesce(p.data->'recurring'->>'usage_type', 'licensed') <> 'metered'
    GROUP BY s.env, s.id, p.currency, s.status
$$;

-- Recomputing a subscription's MRR cost the webhook transaction more than
-- everything else it does, so the triggers only mark the subscription
-- dirty here, and payments.mrr_fold recomputes the marked ones: the
-- overview folds before it reads (store.Overview), and billwire serve folds
-- once a minute (store.FoldMRR). day is the UTC day of the first change
-- since the last fold, the day the fold books the change of MRR on. A mark
-- locks its row until the marking transaction ends (ON CONFLICT DO UPDATE
-- ... WHERE false locks without writing), and a fold skips locked marks:
-- so a fold never waits, and never deletes a mark whose change it cannot
-- see yet (that mark is folded by the next fold).
CREATE TABLE payments.mrr_dirty (
    env             text NOT NULL CHECK (env IN ('test', 'live')),
    subscription_id text NOT NULL,
    day             date NOT NULL DEFAULT payments.utc_day(now()),
    PRIMARY KEY (subscription_id, env)
);

-- Recomputes the MRR of the subscriptions (env, id) and books the change
-- on book_day (none when it did not change): their rows that changed or
-- went are deleted, the new ones inserted, and the difference booked. Only
-- mrr_fold calls it.
CREATE FUNCTION payments.mrr_refresh(envs text[], ids text[], book_day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    fresh payments.subscription_mrr[];
    gone payments.subscription_mrr[];
BEGIN
    SELECT coalesce(array_agg((f.env, f.subscription_id, f.currency, f.trialing, f.mrr)::payments.subscription_mrr), '{}')
    INTO fresh FROM payments.mrr_of(envs, ids) f;
    WITH d AS (
        DELETE FROM payments.subscription_mrr m USING (SELECT DISTINCT * FROM unnest(envs, ids)) a(env, id)
        WHERE m.subscription_id = a.id AND m.env = a.env
          AND NOT EXISTS (SELECT 1 FROM unnest(fresh) f WHERE f.subscription_id = m.subscription_id AND f.env = m.env
              AND f.currency = m.currency AND f.trialing = m.trialing AND f.mrr = m.mrr)
        RETURNING m.*)
    SELECT coalesce(array_agg(d), '{}') INTO gone FROM d;
    WITH added AS (
        INSERT INTO payments.subscription_mrr (env, subscription_id, currency, trialing, mrr)
        SELECT * FROM unnest(fresh) f ORDER BY f.subscription_id, f.currency, f.env
        ON CONFLICT (subscription_id, currency, env) DO NOTHING
        RETURNING env, currency, trialing, mrr)
    INSERT INTO payments.overview_mrr_daily AS t (env, day, currency, active, trialing, shard)
    SELECT x.env, book_day, x.currency,
        coalesce(sum(x.mrr) FILTER (WHERE NOT x.trialing), 0), coalesce(sum(x.mrr) FILTER (WHERE x.trialing), 0),
        payments.overview_shard()
    FROM (SELECT a.env, a.currency, a.trialing, a.mrr FROM added a
          UNION ALL SELECT g.env, g.currency, g.trialing, -g.mrr FROM unnest(gone) g) x
    GROUP BY x.env, x.currency
    HAVING coalesce(sum(x.mrr) FILTER (WHERE NOT x.trialing), 0) <> 0 OR coalesce(sum(x.mrr) FILTER (WHERE x.trialing), 0) <> 0
    ORDER BY x.env, x.currency
    ON CONFLICT (day, currency, env, shard) DO UPDATE
        SET active = t.active + EXCLUDED.active, trialing = t.trialing + EXCLUDED.trialing;
END $$;

-- Marks the subscriptions (env, id) dirty, in key order (PL/pgSQL, so that
-- its plan is kept for the connection: an SQL function is planned again at
-- every call).
CREATE FUNCTION payments.mrr_mark(envs text[], ids text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO payments.mrr_dirty AS t (env, subscription_id)
    SELECT DISTINCT a.env, a.id FROM unnest(envs, ids) a(env, id) ORDER BY a.id, a.env
    ON CONFLICT (subscription_id, env) DO UPDATE SET day = t.day WHERE false;
END $$;

-- Folds the marks that no transaction holds: recomputes their MRR and
-- books each change on its mark's day. Returns how many it folded.
CREATE FUNCTION payments.mrr_fold() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    FOR r IN
        WITH claimed AS (
            DELETE FROM payments.mrr_dirty d USING (
                SELECT subscription_id, env FROM payments.mrr_dirty ORDER BY subscription_id, env FOR UPDATE SKIP LOCKED) c
            WHERE d.subscription_id = c.subscription_id AND d.env = c.env
            RETURNING d.env, d.subscription_id, d.day)
        SELECT c.day, array_agg(c.env) AS envs, array_agg(c.subscription_id) AS ids FROM claimed c GROUP BY c.day ORDER BY c.day
    LOOP
        PERFORM payments.mrr_refresh(r.envs, r.ids, r.day);
        n := n + cardinality(r.ids);
    END LOOP;
    RETURN n;
END $$;

-- What one subscription row adds to the daily counts.
CREATE FUNCTION payments.subscription_days(created_at timestamptz, canceled_at timestamptz, ended_at timestamptz)
RETURNS TABLE (day date, created integer, canceled integer, ended integer)
LANGUAGE sql IMMUTABLE AS $$
    SELECT payments.utc_day(created_at), 1, 0, 0
    UNION ALL SELECT payments.utc_day(canceled_at), 0, 1, 0 WHERE canceled_at IS NOT NULL
    UNION ALL SELECT payments.utc_day(ended_at), 0, 0, 1 WHERE ended_at IS NOT NULL
$$;

-- What the overview reads of a subscription row.
CREATE TYPE payments.subscription_fact AS (env text, id text, status text, created timestamptz, canceled_at timestamptz, ended_at timestamptz);

-- Books the change from the old facts o to the new facts n: only the days
-- and statuses whose counts changed are written (and locked).
CREATE FUNCTION payments.subscriptions_book(n payments.subscription_fact[], o payments.subscription_fact[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO payments.overview_subscriptions_daily AS t (env, day, created, canceled, ended, shard)
    SELECT x.env, x.day, sum(x.created), sum(x.canceled), sum(x.ended), payments.overview_shard() FROM (
        SELECT r.env, d.day, d.created, d.canceled, d.ended
        FROM unnest(n) r CROSS JOIN LATERAL payments.subscription_days(r.created, r.canceled_at, r.ended_at) d
        UNION ALL
        SELECT r.env, d.day, -d.created, -d.canceled, -d.ended
        FROM unnest(o) r CROSS JOIN LATERAL payments.subscription_days(r.created, r.canceled_at, r.ended_at) d) x
    GROUP BY x.env, x.day
    HAVING sum(x.created) <> 0 OR sum(x.canceled) <> 0 OR sum(x.ended) <> 0
    ORDER BY x.day, x.env
    ON CONFLICT (day, env, shard) DO UPDATE SET created = t.created + EXCLUDED.created,
        canceled = t.canceled + EXCLUDED.canceled, ended = t.ended + EXCLUDED.ended;
    INSERT INTO payments.overview_subscription_statuses AS t (env, status, n, shard)
    SELECT x.env, x.status, sum(x.k), payments.overview_shard() FROM (
        SELECT r.env, r.status, 1 AS k FROM unnest(n) r
        UNION ALL SELECT r.env, r.status, -1 FROM unnest(o) r) x
    GROUP BY x.env, x.status HAVING sum(x.k) <> 0 ORDER BY x.status, x.env
    ON CONFLICT (status, env, shard) DO UPDATE SET n = t.n + EXCLUDED.n;
    -- MRR follows status (items have their own trigger)
    PERFORM payments.mrr_mark(array_agg(x.env), array_agg(x.id))
    FROM (SELECT r.env, r.id FROM unnest(n) r UNION SELECT r.env, r.id FROM unnest(o) r) x HAVING count(*) > 0;
END $$;

-- An update is booked only for the rows whose facts changed.
CREATE FUNCTION payments.overview_subscriptions() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n payments.subscription_fact[];
    o payments.subscription_fact[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg((r.env, r.id, r.status, r.created, r.canceled_at, r.ended_at)::payments.subscription_fact) INTO n FROM new_rows r;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg((r.env, r.id, r.status, r.created, r.canceled_at, r.ended_at)::payments.subscription_fact) INTO o FROM old_rows r;
    ELSE
        SELECT array_agg((a.env, a.id, a.status, a.created, a.canceled_at, a.ended_at)::payments.subscription_fact),
               array_agg((b.env, b.id, b.status, b.created, b.canceled_at, b.ended_at)::payments.subscription_fact)
        INTO n, o
        FROM new_rows a JOIN old_rows b ON b.id = a.id AND b.env = a.env
        WHERE (a.status, a.created, a.canceled_at, a.ended_at) IS DISTINCT FROM (b.status, b.created, b.canceled_at, b.ended_at);
    END IF;
    IF n IS NOT NULL OR o IS NOT NULL THEN
        PERFORM payments.subscriptions_book(coalesce(n, '{}'), coalesce(o, '{}'));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER overview_insert AFTER INSERT ON payments.subscriptions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION payments.overview_subscriptions();
CREATE TRIGGER overview_update AFTER UPDATE ON payments.subscriptions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION payments.overview_subscriptions();
CREATE TRIGGER overview_delete AFTER DELETE ON payments.subscriptions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION payments.overview_subscriptions();

CREATE FUNCTION payments.overview_subscription_items() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    envs text[] := '{}';
    ids text[] := '{}';
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT coalesce(array_agg(r.env), '{}'), coalesce(array_agg(r.subscription_id), '{}') INTO envs, ids FROM new_rows r;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT coalesce(array_agg(r.env), '{}'), coalesce(array_agg(r.subscription_id), '{}') INTO envs, ids FROM old_rows r;
    ELSE
        SELECT coalesce(array_agg(x.env), '{}'), coalesce(array_agg(x.sid), '{}') INTO envs, ids FROM (
            SELECT a.env, a.subscription_id AS sid FROM new_rows a JOIN old_rows b ON b.id = a.id AND b.env = a.env
            WHERE (a.subscription_id, a.price_id, a.quantity) IS DISTINCT FROM (b.subscription_id, b.price_id, b.quantity)
            UNION SELECT b.env, b.subscription_id FROM new_rows a JOIN old_rows b ON b.id = a.id AND b.env = a.env
            WHERE (a.subscription_id, a.price_id, a.quantity) IS DISTINCT FROM (b.subscription_id, b.price_id, b.quantity)) x;
    END IF;
    IF cardinality(ids) > 0 THEN
        PERFORM payments.mrr_mark(envs, ids);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER overview_insert AFTER INSERT ON payments.subscription_items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION payments.overview_subscription_items();
CREATE TRIGGER overview_update AFTER UPDATE ON payments.subscription_items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION payments.overview_subscription_items();
CREATE TRIGGER overview_delete AFTER DELETE ON payments.subscription_items
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION payments.overview_subscription_items();

-- What one payment history row adds to the day's money.
CREATE FUNCTION payments.revenue_of(kind text, status text, amount bigint, cur text, occurred_at timestamptz)
RETURNS TABLE (day date, currency text, paid bigint, refunded bigint, payments integer, refunds integer)
LANGUAGE sql IMMUTABLE AS $$
    SELECT payments.utc_day(occurred_at), cur,
        CASE WHEN kind = 'payment' THEN amount ELSE 0 END, CASE WHEN kind = 'refund' THEN amount ELSE 0 END,
        (kind = 'payment')::integer, (kind = 'refund')::integer
    WHERE cur IS NOT NULL
      AND ((kind = 'payment' AND status IN ('succeeded', 'refunded', 'partially_refunded'))
        OR (kind = 'refund' AND status = 'succeeded'))
$$;

-- What the overview reads of a payment history row.
CREATE TYPE payments.payment_fact AS (env text, kind text, status text, amount bigint, currency text, occurred_at timestamptz);

-- Books the change from the old facts o to the new facts n (only changed
-- days). PL/pgSQL, so that its plan is kept for the connection: as an SQL
-- function it was planned again at every call, most of the rollups' cost
-- on the webhook path.
CREATE FUNCTION payments.revenue_book(n payments.payment_fact[], o payments.payment_fact[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO payments.overview_revenue_daily AS t (env, day, currency, paid, refunded, payments, refunds, shard)
    SELECT x.env, x.day, x.currency, sum(x.paid), sum(x.refunded), sum(x.payments), sum(x.refunds), payments.overview_shard() FROM (
        SELECT r.env, v.day, v.currency, v.paid, v.refunded, v.payments, v.refunds
        FROM unnest(n) r CROSS JOIN LATERAL payments.revenue_of(r.kind, r.status, r.amount, r.currency, r.occurred_at) v
        UNION ALL
        SELECT r.env, v.day, v.currency, -v.paid, -v.refunded, -v.payments, -v.refunds
        FROM unnest(o) r CROSS JOIN LATERAL payments.revenue_of(r.kind, r.status, r.amount, r.currency, r.occurred_at) v) x
    GROUP BY x.env, x.day, x.currency
    HAVING sum(x.paid) <> 0 OR sum(x.refunded) <> 0 OR sum(x.payments) <> 0 OR sum(x.refunds) <> 0
    ORDER BY x.day, x.currency, x.env
    ON CONFLICT (day, currency, env, shard) DO UPDATE SET paid = t.paid + EXCLUDED.paid, refunded = t.refunded + EXCLUDED.refunded,
        payments = t.payments + EXCLUDED.payments, refunds = t.refunds + EXCLUDED.refunds;
END $$;

-- An update is booked only for the rows whose facts changed.
CREATE FUNCTION payments.overview_payments() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n payments.payment_fact[];
    o payments.payment_fact[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg((r.env, r.kind, r.status, r.amount, r.currency, r.occurred_at)::payments.payment_fact) INTO n FROM new_rows r;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg((r.env, r.kind, r.status, r.amount, r.currency, r.occurred_at)::payments.payment_fact) INTO o FROM old_rows r;
    ELSE
        SELECT array_agg((a.env, a.kind, a.status, a.amount, a.currency, a.occurred_at)::payments.payment_fact),
               array_agg((b.env, b.kind, b.status, b.amount, b.currency, b.occurred_at)::payments.payment_fact)
        INTO n, o
        FROM new_rows a JOIN old_rows b ON b.key = a.key AND b.env = a.env
        WHERE (a.kind, a.status, a.amount, a.currency, a.occurred_at) IS DISTINCT FROM (b.kind, b.status, b.amount, b.currency, b.occurred_at);
    END IF;
    IF n IS NOT NULL OR o IS NOT NULL THEN
        PERFORM payments.revenue_book(coalesce(n, '{}'), coalesce(o, '{}'));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER overview_insert AFTER INSERT ON payments.payment_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION payments.overview_payments();
CREATE TRIGGER overview_update AFTER UPDATE ON payments.payment_history
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION payments.overview_payments();
CREATE TRIGGER overview_delete AFTER DELETE ON payments.payment_history
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION payments.overview_payments();

-- Backfill, set-based. MRR history before this migration is rebuilt from
-- what the rows say: a subscription's MRR counts from its creation (as
-- trialing while it still is) until it ended.
INSERT INTO payments.subscription_mrr (env, subscription_id, currency, trialing, mrr)
SELECT f.* FROM (SELECT array_agg(env) e, array_agg(id) i FROM payments.subscriptions) a, payments.mrr_of(a.e, a.i) f;

INSERT INTO payments.overview_mrr_daily (env, day, currency, active, trialing)
SELECT env, day, currency, sum(active), sum(trialing) FROM (
    SELECT m.env, payments.utc_day(s.created) AS day, m.currency,
        CASE WHEN m.trialing THEN 0 ELSE m.mrr END AS active, CASE WHEN m.trialing THEN m.mrr ELSE 0 END AS trialing
    FROM payments.subscription_mrr m JOIN payments.subscriptions s ON s.id = m.subscription_id AND s.env = m.env
    UNION ALL
    SELECT s.env, x.day, p.currency,
        x.sign * p.unit_amount * i.quantity / payments.months_per_interval(p.recurring_interval, p.recurring_interval_count), 0
    FROM payments.subscriptions s
    JOIN payments.subscription_items i ON i.subscription_id = s.id AND i.env = s.env
    JOIN payments.prices p ON p.id = i.price_id AND p.env = i.env
    CROSS JOIN LATERAL (VALUES (payments.utc_day(s.created), 1), (payments.utc_day(s.ended_at), -1)) x(day, sign)
    WHERE s.ended_at IS NOT NULL AND s.status NOT IN ('active', 'past_due', 'trialing')
      AND p.type = 'recurring' AND p.unit_amount IS NOT NULL
      AND payments.months_per_interval(p.recurring_interval, p.recurring_interval_count) IS NOT NULL
      AND coalesce(p.data->'recurring'->>'usage_type', 'licensed') <> 'metered'
) b GROUP BY env, day, currency;

INSERT INTO payments.overview_subscriptions_daily (env, day, created, canceled, ended)
SELECT s.env, d.day, sum(d.created), sum(d.canceled), sum(d.ended)
FROM payments.subscriptions s CROSS JOIN LATERAL payments.subscription_days(s.created, s.canceled_at, s.ended_at) d
GROUP BY s.env, d.day;

INSERT INTO payments.overview_subscription_statuses (env, status, n)
SELECT env, status, count(*) FROM payments.subscriptions GROUP BY env, status;

INSERT INTO payments.overview_revenue_daily (env, day, currency, paid, refunded, payments, refunds)
SELECT p.env, v.day, v.currency, sum(v.paid), sum(v.refunded), sum(v.payments), sum(v.refunds)
FROM payments.payment_history p CROSS JOIN LATERAL payments.revenue_of(p.kind, p.status, p.amount, p.currency, p.occurred_at) v
GROUP BY p.env, v.day, v.currency;

-- == webhook pipeline: deliveries per minute, flushed by each replica ==

-- What billwire serve's receiver answered, per minute: each replica keeps
-- counters and a latency histogram in memory and adds them here once a
-- minute (store.AddWebhookMinutes); the overview sums the replicas. latency
-- counts accepted deliveries by time from arrival to answer, in the buckets
-- of store.LatencyBoundsMs (the last one is everything slower). Rows older
-- than two days are deleted by the flush.
CREATE TABLE payments.webhook_minutes (
    env       text NOT NULL CHECK (env IN ('test', 'live')),
    minute    timestamptz NOT NULL,
    replica   text NOT NULL,
    accepted  bigint NOT NULL DEFAULT 0,
    duplicate bigint NOT NULL DEFAULT 0,
    refused   bigint NOT NULL DEFAULT 0,
    failed    bigint NOT NULL DEFAULT 0,
    latency   bigint[] NOT NULL,
    PRIMARY KEY (minute, replica, env)
);
