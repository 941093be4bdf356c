-- Fulfillment: the outbox of billing changes, the app's stable surface, and
-- the ledger of app migrations billwire applied for it.

-- payments.billing_changes: one row each time a projection really changes
-- the state of a subscription, a checkout session or a money movement,
-- written by triggers in the same transaction as the projection. The app's
-- fulfillment reacts to this table (triggers or polling), never to
-- billwire's other tables, which may change.
--
-- kind:
--   subscription_state       a subscription's status, plan, quantity or period changed (key sub_…)
--   checkout_session         a Checkout Session's status or payment_status changed (key cs_…)
--   payment_succeeded        a payment succeeded (key: the payment's canonical key, pi_… or in_…)
--   payment_failed           a payment attempt failed (same key; state.failures counts attempts)
--   payment_action_required  a payment needs the customer's action, e.g. 3D Secure (same key)
--   payment_refunded         a payment was refunded in part or in full (same key; amount_refunded)
--   refund                   a refund was created or changed status (key re_…)
--   dispute                  a dispute was opened or changed status (key dp_…)
-- The same kind and key can appear again when more becomes known (e.g. the
-- subject, or the checkout session of a payment): consumers act once per key.
CREATE TABLE payments.billing_changes (
    seq             bigserial PRIMARY KEY,
    env             text NOT NULL CHECK (env IN ('test', 'live')),
    kind            text NOT NULL CHECK (kind IN ('subscription_state', 'checkout_session', 'payment_succeeded',
                        'payment_failed', 'payment_action_required', 'payment_refunded', 'refund', 'dispute')),
    key             text NOT NULL,
    subject_type    text,
    subject_id      text,
    customer_id     text,
    status          text,
    amount          bigint,
    amount_refunded bigint,
    currency        text,
    state           jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE payments.billing_changes IS
    'billwire outbox: one row per real change of a subscription, checkout session or payment, written in the projection''s transaction. See README, Fulfillment.';

-- The triggers are PL/pgSQL throughout: PostgreSQL caches the plans of
-- their statements per connection, where an SQL-language function called
-- from a trigger would be planned again on every call.

-- The items of a subscription object, as the app needs them, and what
-- they cost per period.
CREATE FUNCTION payments.subscription_items_state(data jsonb, OUT items jsonb, OUT amount bigint)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    SELECT coalesce(jsonb_agg(jsonb_build_object(
            'price_id', x.price_id, 'product_id', x.product_id, 'lookup_key', x.lookup_key,
            'unit_amount', x.unit_amount, 'quantity', x.quantity) ORDER BY x.n), '[]'::jsonb),
        sum(x.unit_amount * x.quantity)
    INTO items, amount
    FROM (SELECT n,
            CASE jsonb_typeof(i->'price') WHEN 'object' THEN i->'price'->>'id' ELSE i->>'price' END AS price_id,
            CASE jsonb_typeof(i->'price'->'product') WHEN 'object' THEN i->'price'->'product'->>'id'
                ELSE i->'price'->>'product' END AS product_id,
            i->'price'->>'lookup_key' AS lookup_key,
            (i->'price'->>'unit_amount')::bigint AS unit_amount,
            coalesce((i->>'quantity')::bigint, 1) AS quantity
        FROM jsonb_array_elements(CASE jsonb_typeof(data->'items'->'data') WHEN 'array' THEN data->'items'->'data' ELSE '[]' END)
            WITH ORDINALITY AS e(i, n)) x;
END $$;

-- The columns of a subscription the app needs; with the items, its state.
CREATE FUNCTION payments.billing_change_subscription() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    items jsonb;
    total bigint;
    s_type text := NEW.subject_type;
    s_id text := NEW.subject_id;
    same_columns boolean := false;
BEGIN
    -- The trigger's WHEN let an UPDATE through because a column or the
    -- object changed. Unchanged columns and items mean nothing the app
    -- needs changed. Items come from the object: the items table may be
    -- written after this row.
    IF TG_OP = 'UPDATE' THEN
        same_columns := (OLD.status, OLD.customer_id, OLD.subject_type, OLD.subject_id, OLD.currency, OLD.current_period_start,
            OLD.current_period_end, OLD.cancel_at_period_end, OLD.canceled_at, OLD.ended_at, OLD.trial_end)
            IS NOT DISTINCT FROM (NEW.status, NEW.customer_id, NEW.subject_type, NEW.subject_id, NEW.currency, NEW.current_period_start,
            NEW.current_period_end, NEW.cancel_at_period_end, NEW.canceled_at, NEW.ended_at, NEW.trial_end);
        IF same_columns AND OLD.data->'items' = NEW.data->'items' THEN
            RETURN NULL;
        END IF;
    END IF;
    SELECT x.items, x.amount INTO items, total FROM payments.subscription_items_state(NEW.data) x;
    IF same_columns AND items = (SELECT x.items FROM payments.subscription_items_state(OLD.data) x) THEN
        RETURN NULL;
    END IF;
    IF s_id IS NULL THEN
        SELECT m.subject_type, m.subject_id INTO s_type, s_id FROM payments.customer_mappings m
        WHERE m.customer_id = NEW.customer_id AND m.env = NEW.env;
    END IF;
    INSERT INTO payments.billing_changes (env, kind, key, subject_type, subject_id, customer_id, status, amount, currency, state)
    VALUES (NEW.env, 'subscription_state', NEW.id, s_type, s_id, NEW.customer_id, NEW.status,
        total,
        NEW.currency,
        jsonb_build_object('status', NEW.status,
            'price_id', items->0->>'price_id', 'product_id', items->0->>'product_id',
            'lookup_key', items->0->>'lookup_key', 'quantity', (items->0->>'quantity')::bigint,
            'current_period_start', NEW.current_period_start, 'current_period_end', NEW.current_period_end,
            'cancel_at_period_end', NEW.cancel_at_period_end, 'canceled_at', NEW.canceled_at,
            'ended_at', NEW.ended_at, 'trial_end', NEW.trial_end, 'items', items));
    RETURN NULL;
END $$;

-- An UPDATE reaches the function only when a column the app needs or the
-- object changed: replays and re-syncs of equal rows cost nothing more.
CREATE TRIGGER billing_changes AFTER INSERT ON payments.subscriptions
    FOR EACH ROW EXECUTE FUNCTION payments.billing_change_subscription();
CREATE TRIGGER billing_changes_update AFTER UPDATE ON payments.subscriptions
    FOR EACH ROW WHEN ((OLD.status, OLD.customer_id, OLD.subject_type, OLD.subject_id, OLD.currency, OLD.current_period_start,
            OLD.current_period_end, OLD.cancel_at_period_end, OLD.canceled_at, OLD.ended_at, OLD.trial_end)
        IS DISTINCT FROM (NEW.status, NEW.customer_id, NEW.subject_type, NEW.subject_id, NEW.currency, NEW.current_period_start,
            NEW.current_period_end, NEW.cancel_at_period_end, NEW.canceled_at, NEW.ended_at, NEW.trial_end)
        OR OLD.data IS DISTINCT FROM NEW.data)
    EXECUTE FUNCTION payments.billing_change_subscription();

-- The line items billwire's session API recorded for a checkout (null for
-- sessions created elsewhere: Stripe's events do not carry them), and the
-- number of units they buy.
CREATE FUNCTION payments.checkout_units(request jsonb, OUT line_items jsonb, OUT quantity bigint)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(request->'line_items') = 'array' THEN
        line_items := request->'line_items';
        SELECT sum((li->>'quantity')::bigint) INTO quantity FROM jsonb_array_elements(line_items) li;
    END IF;
END $$;

-- Checkout sessions, once Stripe's id is known. state.metadata carries what
-- the app put in the session (e.g. order_id).
CREATE FUNCTION payments.billing_change_checkout() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s_type text := NEW.subject_type;
    s_id text := NEW.subject_id;
    items jsonb;
    units bigint;
BEGIN
    IF s_id IS NULL AND NEW.customer_id IS NOT NULL THEN
        SELECT m.subject_type, m.subject_id INTO s_type, s_id FROM payments.customer_mappings m
        WHERE m.customer_id = NEW.customer_id AND m.env = NEW.env;
    END IF;
    IF NEW.request IS NOT NULL THEN
        SELECT u.line_items, u.quantity INTO items, units FROM payments.checkout_units(NEW.request) u;
    END IF;
    INSERT INTO payments.billing_changes (env, kind, key, subject_type, subject_id, customer_id, status, amount, currency, state)
    VALUES (NEW.env, 'checkout_session', NEW.stripe_id, s_type, s_id, NEW.customer_id, NEW.status, NEW.amount_total, NEW.currency,
        jsonb_build_object('status', NEW.status, 'payment_status', NEW.payment_status, 'mode', NEW.mode,
            'payment_intent_id', NEW.payment_intent_id, 'subscription_id', NEW.subscription_id,
            'client_reference_id', NEW.client_reference_id, 'metadata', NEW.metadata,
            'line_items', items, 'quantity', units));
    RETURN NULL;
END $$;

CREATE TRIGGER billing_changes AFTER INSERT ON payments.checkout_sessions
    FOR EACH ROW WHEN (NEW.stripe_id IS NOT NULL)
    EXECUTE FUNCTION payments.billing_change_checkout();
CREATE TRIGGER billing_changes_update AFTER UPDATE ON payments.checkout_sessions
    FOR EACH ROW WHEN (NEW.stripe_id IS NOT NULL AND
        (OLD.stripe_id, OLD.mode, OLD.status, OLD.payment_status, OLD.customer_id, OLD.subscription_id, OLD.payment_intent_id,
            OLD.client_reference_id, OLD.subject_type, OLD.subject_id, OLD.amount_total, OLD.currency, OLD.metadata)
        IS DISTINCT FROM (NEW.stripe_id, NEW.mode, NEW.status, NEW.payment_status, NEW.customer_id, NEW.subscription_id, NEW.payment_intent_id,
            NEW.client_reference_id, NEW.subject_type, NEW.subject_id, NEW.amount_total, NEW.currency, NEW.metadata))
    EXECUTE FUNCTION payments.billing_change_checkout();

-- Money movements. A payment that came through Checkout carries the
-- session's mode, metadata (e.g. order_id) and units bought in its state.
CREATE FUNCTION payments.billing_change_payment() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    change text;
    s_type text := NEW.subject_type;
    s_id text := NEW.subject_id;
    cs_mode text;
    cs_metadata jsonb;
    cs_request jsonb;
    units bigint;
BEGIN
    change := CASE NEW.kind
        WHEN 'refund' THEN 'refund'
        WHEN 'dispute' THEN 'dispute'
        ELSE CASE NEW.status
            WHEN 'succeeded' THEN 'payment_succeeded'
            WHEN 'failed' THEN 'payment_failed'
            WHEN 'requires_action' THEN 'payment_action_required'
            WHEN 'refunded' THEN 'payment_refunded'
            WHEN 'partially_refunded' THEN 'payment_refunded'
        END
    END;
    IF change IS NULL THEN
        RETURN NULL; -- a payment status billwire does not report
    END IF;
    IF s_id IS NULL AND NEW.customer_id IS NOT NULL THEN
        SELECT m.subject_type, m.subject_id INTO s_type, s_id FROM payments.customer_mappings m
        WHERE m.customer_id = NEW.customer_id AND m.env = NEW.env;
    END IF;
    IF NEW.checkout_session_id IS NOT NULL THEN
        SELECT cs.mode, cs.metadata, cs.request INTO cs_mode, cs_metadata, cs_request FROM payments.checkout_sessions cs
        WHERE cs.stripe_id = NEW.checkout_session_id AND cs.env = NEW.env;
        IF cs_request IS NOT NULL THEN
            SELECT u.quantity INTO units FROM payments.checkout_units(cs_request) u;
        END IF;
    END IF;
    INSERT INTO payments.billing_changes (env, kind, key, subject_type, subject_id, customer_id, status, amount, amount_refunded,
        currency, state)
    VALUES (NEW.env, change, NEW.key, s_type, s_id, NEW.customer_id, NEW.status, NEW.amount, NEW.amount_refunded, NEW.currency,
        jsonb_build_object('kind', NEW.kind, 'status', NEW.status, 'payment_intent_id', NEW.payment_intent_id,
            'charge_id', NEW.charge_id, 'invoice_id', NEW.invoice_id, 'subscription_id', NEW.subscription_id,
            'checkout_session_id', NEW.checkout_session_id, 'checkout_mode', cs_mode, 'checkout_quantity', units,
            'metadata', coalesce(cs_metadata, '{}'::jsonb),
            'failures', NEW.failures, 'failure_code', NEW.failure_code, 'failure_message', NEW.failure_message,
            'reason', NEW.reason, 'occurred_at', NEW.occurred_at));
    RETURN NULL;
END $$;

CREATE TRIGGER billing_changes AFTER INSERT ON payments.payment_history
    FOR EACH ROW EXECUTE FUNCTION payments.billing_change_payment();
CREATE TRIGGER billing_changes_update AFTER UPDATE ON payments.payment_history
    FOR EACH ROW WHEN ((OLD.kind, OLD.status, OLD.amount, OLD.amount_refunded, OLD.currency, OLD.customer_id, OLD.subject_type,
            OLD.subject_id, OLD.invoice_id, OLD.subscription_id, OLD.payment_intent_id, OLD.checkout_session_id, OLD.failures, OLD.reason)
        IS DISTINCT FROM (NEW.kind, NEW.status, NEW.amount, NEW.amount_refunded, NEW.currency, NEW.customer_id, NEW.subject_type,
            NEW.subject_id, NEW.invoice_id, NEW.subscription_id, NEW.payment_intent_id, NEW.checkout_session_id, NEW.failures, NEW.reason))
    EXECUTE FUNCTION payments.billing_change_payment();

-- The ledger of app migrations billwire applied (scaffold_fulfillment with
-- apply: true): a name is applied once; the same name with other content is
-- refused as drift.
CREATE TABLE payments.app_migrations (
    name       text PRIMARY KEY,
    checksum   text NOT NULL, -- sha256 of sql, hex
    sql        text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
