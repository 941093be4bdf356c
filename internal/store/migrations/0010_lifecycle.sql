-- Issue 13: subscription lifecycle in the app. Each section below belongs to
-- one part of the change; later parts add their own section at the end.

-- == invoices and dunning: the invoices of a subject ==

-- payments.invoices: Stripe's invoices, projected from the invoice.* events
-- (created, finalized, updated, paid, payment_failed,
-- payment_action_required, voided, marked_uncollectible) with the same
-- ordering guard as every mirrored object: a row keeps the newest state
-- (source_at). subscription_id is read from both API shapes: top-level
-- subscription (2024-06-20) and parent.subscription_details.subscription
-- (basil and later). The subject is the subscription's metadata (or the
-- invoice's), else the customer's mapping.
CREATE TABLE payments.invoices (
    env                  text NOT NULL CHECK (env IN ('test', 'live')),
    id                   text NOT NULL,
    customer_id          text,
    subject_type         text,
    subject_id           text,
    subscription_id      text,
    number               text,
    status               text,
    currency             text,
    amount_due           bigint NOT NULL DEFAULT 0,
    amount_paid          bigint NOT NULL DEFAULT 0,
    amount_remaining     bigint NOT NULL DEFAULT 0,
    attempt_count        integer NOT NULL DEFAULT 0,
    next_payment_attempt timestamptz,
    hosted_invoice_url   text,
    invoice_pdf          text,
    period_start         timestamptz,
    period_end           timestamptz,
    created              timestamptz NOT NULL,
    source_at            timestamptz NOT NULL,
    data                 jsonb NOT NULL,
    synced_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, env)
);
CREATE INDEX invoices_subject ON payments.invoices (subject_id, subject_type, env, created DESC);
CREATE INDEX invoices_customer ON payments.invoices (customer_id, env, created DESC);

COMMENT ON TABLE payments.invoices IS
    'billwire: Stripe invoices projected from invoice.* events (newest state wins). See README, Invoices.';

-- A payment of an invoice also carries the invoice's dunning state, so the
-- app can email the user a link to pay after a failed attempt:
-- attempt_count, next_payment_attempt (null when Stripe will not retry)
-- and hosted_invoice_url, from payments.invoices (projected before the
-- payments of the same batch); null for a payment without an invoice.
CREATE OR REPLACE FUNCTION payments.billing_change_payment() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    change text;
    s_type text := NEW.subject_type;
    s_id text := NEW.subject_id;
    cs payments.checkout_sessions%ROWTYPE;
    inv payments.invoices%ROWTYPE;
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
        SELECT * INTO cs FROM payments.checkout_sessions x
        WHERE x.stripe_id = NEW.checkout_session_id AND x.env = NEW.env;
    END IF;
    IF NEW.invoice_id IS NOT NULL THEN
        SELECT * INTO inv FROM payments.invoices x WHERE x.id = NEW.invoice_id AND x.env = NEW.env;
    END IF;
    INSERT INTO payments.billing_changes (env, kind, key, subject_type, subject_id, customer_id, status, amount, amount_refunded,
        currency, state)
    VALUES (NEW.env, change, NEW.key, s_type, s_id, NEW.customer_id, NEW.status, NEW.amount, NEW.amount_refunded, NEW.currency,
        jsonb_build_object('kind', NEW.kind, 'status', NEW.status, 'payment_intent_id', NEW.payment_intent_id,
            'charge_id', NEW.charge_id, 'invoice_id', NEW.invoice_id, 'subscription_id', NEW.subscription_id,
            'checkout_session_id', NEW.checkout_session_id, 'checkout_mode', cs.mode, 'checkout_quantity', cs.units,
            'checkout_payment_status', cs.payment_status,
            'checkout_amount_subtotal', payments.checkout_subtotal(cs.data),
            'checkout_currency', cs.currency,
            'checkout_line_items', payments.checkout_line_items(cs.line_items, cs.request),
            'checkout_subject_type', cs.subject_type, 'checkout_subject_id', cs.subject_id,
            'metadata', coalesce(cs.metadata, '{}'::jsonb),
            'failures', NEW.failures, 'failure_code', NEW.failure_code, 'failure_message', NEW.failure_message,
            'reason', NEW.reason, 'occurred_at', NEW.occurred_at,
            'attempt_count', inv.attempt_count, 'next_payment_attempt', inv.next_payment_attempt,
            'hosted_invoice_url', inv.hosted_invoice_url));
    RETURN NULL;
END $$;

-- == plan changes: switchable prices and the changes in flight ==

-- payments.switchable_prices: the prices a subscription may switch between,
-- per product family, as set_switchable_prices sets them. They feed the
-- session API's change route (an end user switches only within the family
-- of the subscription's current prices) and the Billing Portal's plan
-- switching. A price is in one family at most.
CREATE TABLE payments.switchable_prices (
    env        text NOT NULL CHECK (env IN ('test', 'live')),
    family     text NOT NULL,
    price_id   text NOT NULL,
    position   integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (price_id, env)
);
CREATE INDEX switchable_prices_family ON payments.switchable_prices (env, family, position);

COMMENT ON TABLE payments.switchable_prices IS
    'billwire: the prices a subscription may switch between, per family (set_switchable_prices). See README, Plan changes.';

-- payments.subscription_changes: one row per change, cancel or resume of a
-- subscription through the session API or MCP, written before Stripe is
-- called. At most one per subscription is in flight (a second is refused
-- with change_in_progress); a repeated idempotency key of the same
-- requester gets the stored answer. A failed call deletes its row, so
-- nothing is left half-written; a row left in flight by a crash is taken
-- over after two minutes.
CREATE TABLE payments.subscription_changes (
    id              bigserial PRIMARY KEY,
    env             text NOT NULL CHECK (env IN ('test', 'live')),
    subscription_id text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('change', 'cancel', 'resume')),
    requester       text NOT NULL,
    idempotency_key text,
    request_hash    text NOT NULL,
    state           text NOT NULL DEFAULT 'in_flight' CHECK (state IN ('in_flight', 'done')),
    answer          jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE UNIQUE INDEX subscription_changes_in_flight ON payments.subscription_changes (subscription_id, env)
    WHERE state = 'in_flight';
CREATE UNIQUE INDEX subscription_changes_idempotency ON payments.subscription_changes (env, requester, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- payments.begin_subscription_change records a change in flight in one
-- round trip (see store.BeginSubscriptionChange): outcome 'begun' (id,
-- created_at), 'replay' (answer), 'in_progress' or 'conflict'. Its commit
-- does not wait for the WAL flush: a row lost to a crash only loses the
-- guard of a change whose process died with it.
CREATE FUNCTION payments.begin_subscription_change(p_env text, p_sub text, p_kind text, p_requester text, p_key text,
    p_hash text, p_takeover interval, OUT outcome text, OUT change_id bigint, OUT change_created timestamptz, OUT change_answer jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    prior payments.subscription_changes%ROWTYPE;
BEGIN
    SET LOCAL synchronous_commit = off;
    IF p_key IS NOT NULL THEN
        SELECT * INTO prior FROM payments.subscription_changes
        WHERE env = p_env AND requester = p_requester AND idempotency_key = p_key FOR UPDATE;
        IF FOUND THEN
            change_id := prior.id;
            change_created := prior.created_at;
            IF prior.request_hash <> p_hash THEN
                outcome := 'conflict';
            ELSIF prior.state = 'done' THEN
                outcome := 'replay';
                change_answer := prior.answer;
            ELSIF prior.created_at > now() - p_takeover THEN
                outcome := 'in_progress';
            ELSE
                outcome := 'begun'; -- its process died: retried under the same row
            END IF;
            RETURN;
        END IF;
    END IF;
    DELETE FROM payments.subscription_changes
    WHERE subscription_id = p_sub AND env = p_env AND state = 'in_flight' AND created_at < now() - p_takeover;
    BEGIN
        INSERT INTO payments.subscription_changes (env, subscription_id, kind, requester, idempotency_key, request_hash)
        VALUES (p_env, p_sub, p_kind, p_requester, p_key, p_hash) RETURNING id, created_at INTO change_id, change_created;
        outcome := 'begun';
    EXCEPTION WHEN unique_violation THEN
        outcome := 'in_progress';
    END;
END $$;

-- payments.finish_subscription_change ends a change: with its answer, or
-- deleted (p_answer null) when it failed. Asynchronous commit, as above.
CREATE FUNCTION payments.finish_subscription_change(p_id bigint, p_answer jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL synchronous_commit = off;
    IF p_answer IS NULL THEN
        DELETE FROM payments.subscription_changes WHERE id = p_id;
    ELSE
        UPDATE payments.subscription_changes SET state = 'done', answer = p_answer, finished_at = now() WHERE id = p_id;
    END IF;
END $$;

-- == grace (issue 13) ==

-- The subscription_state change carries source_at: the created time of the
-- Stripe event the subscription's state comes from (or the time of the
-- fetch that read it), so that a scaffold can tell since when, on Stripe's
-- clock, a subscription is past_due (subscription_access revision 2,
-- past_due_since and grace_days). An older event never reaches the outbox:
-- the projection's ordering guard keeps the newer state.
CREATE OR REPLACE FUNCTION payments.billing_change_subscription() RETURNS trigger
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
            'ended_at', NEW.ended_at, 'trial_end', NEW.trial_end, 'items', items,
            'source_at', NEW.source_at));
    RETURN NULL;
END $$;
