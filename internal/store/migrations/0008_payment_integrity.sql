-- Payment integrity: fulfillment checks the money, not the caller's word.
-- Each section below belongs to one part of the change; later parts add
-- their own section at the end.

-- == fulfillment: what a payment bought, and what it failed to pay ==

-- The line items a Checkout Session bought, as [{price_id, lookup_key,
-- quantity}]: written by the session API from the prices it resolved, or,
-- for a payment-mode session made elsewhere, fetched from Stripe when a
-- credits scaffold needs them. Null while unknown.
ALTER TABLE payments.checkout_sessions ADD COLUMN line_items jsonb;

-- Payments that named an order (or bought credits) but did not pay for it:
-- written by the app's scaffolded triggers in the projection's transaction,
-- so that the app can refund. reason: underpaid, wrong_currency,
-- wrong_owner, unpaid, order_incomplete (and, for credits, no_grant).
CREATE TABLE payments.fulfillment_mismatches (
    id          bigserial PRIMARY KEY,
    env         text NOT NULL CHECK (env IN ('test', 'live')),
    payment_key text NOT NULL, -- the Checkout Session (cs_…) or payment (pi_…) that did not pay
    order_id    text,
    reason      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (env, payment_key, order_id, reason)
);
CREATE INDEX fulfillment_mismatches_recent ON payments.fulfillment_mismatches (env, created_at DESC);

COMMENT ON TABLE payments.fulfillment_mismatches IS
    'billwire: payments that did not pay what they named (an order underpaid, in another currency, by another owner, unpaid). See README, Fulfillment.';

-- The checkout_session change now carries what the session charged before
-- discounts (amount_subtotal) and the line items bought with their lookup
-- keys (line_items; from the column above, else the session API's request
-- as the caller named them, else null).
CREATE OR REPLACE FUNCTION payments.billing_change_checkout() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s_type text := NEW.subject_type;
    s_id text := NEW.subject_id;
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.stripe_id, OLD.mode, OLD.status, OLD.payment_status, OLD.customer_id, OLD.subscription_id,
            OLD.payment_intent_id, OLD.client_reference_id, OLD.subject_type, OLD.subject_id, OLD.amount_total, OLD.currency,
            OLD.metadata, OLD.line_items, OLD.data->'amount_subtotal')
        IS NOT DISTINCT FROM (NEW.stripe_id, NEW.mode, NEW.status, NEW.payment_status, NEW.customer_id, NEW.subscription_id,
            NEW.payment_intent_id, NEW.client_reference_id, NEW.subject_type, NEW.subject_id, NEW.amount_total, NEW.currency,
            NEW.metadata, NEW.line_items, NEW.data->'amount_subtotal') THEN
        RETURN NULL; -- nothing the app needs changed
    END IF;
    IF s_id IS NULL AND NEW.customer_id IS NOT NULL THEN
        SELECT m.subject_type, m.subject_id INTO s_type, s_id FROM payments.customer_mappings m
        WHERE m.customer_id = NEW.customer_id AND m.env = NEW.env;
    END IF;
    INSERT INTO payments.billing_changes (env, kind, key, subject_type, subject_id, customer_id, status, amount, currency, state)
    VALUES (NEW.env, 'checkout_session', NEW.stripe_id, s_type, s_id, NEW.customer_id, NEW.status, NEW.amount_total, NEW.currency,
        jsonb_build_object('status', NEW.status, 'payment_status', NEW.payment_status, 'mode', NEW.mode,
            'payment_intent_id', NEW.payment_intent_id, 'subscription_id', NEW.subscription_id,
            'client_reference_id', NEW.client_reference_id, 'metadata', NEW.metadata,
            'amount_subtotal', payments.checkout_subtotal(NEW.data),
            'line_items', payments.checkout_line_items(NEW.line_items, NEW.request),
            'quantity', NEW.units));
    RETURN NULL;
END $$;

-- What a session charged before discounts, from Stripe's object.
CREATE FUNCTION payments.checkout_subtotal(data jsonb) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(data->'amount_subtotal') = 'number' THEN
        RETURN (data->>'amount_subtotal')::bigint;
    END IF;
    RETURN NULL;
END $$;

-- The line items a session bought: the resolved column, else the request's.
CREATE FUNCTION payments.checkout_line_items(line_items jsonb, request jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(line_items) = 'array' THEN
        RETURN line_items;
    END IF;
    IF jsonb_typeof(request->'line_items') = 'array' THEN
        RETURN request->'line_items';
    END IF;
    RETURN NULL;
END $$;

-- A payment that came through Checkout also carries the session's
-- payment_status, amount_subtotal, line items and subject.
CREATE OR REPLACE FUNCTION payments.billing_change_payment() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    change text;
    s_type text := NEW.subject_type;
    s_id text := NEW.subject_id;
    cs payments.checkout_sessions%ROWTYPE;
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
            'reason', NEW.reason, 'occurred_at', NEW.occurred_at));
    RETURN NULL;
END $$;

-- == ledger retention: the ledger does not grow without bound ==

-- An event keeps its id, type, times, status and attempts for good (the
-- dedup key and the audit log), but not always its payload: an ignored
-- type is recorded without one, and billwire serve's pruner drops the
-- payloads of processed events older than BILLWIRE_EVENT_RETENTION (see
-- store.PruneEventPayloads). Failed and parked events keep theirs until a
-- replay resolves them; replaying a pruned event fetches it from Stripe.
-- Dropping NOT NULL changes the catalog only, whatever the table's size.
ALTER TABLE payments.webhook_events ALTER COLUMN payload DROP NOT NULL;

-- Ignored events recorded before this release keep their payloads here:
-- nulling them in this migration would rewrite every such row (a large
-- part of a ledger whose endpoint sent all types) inside the migration's
-- one transaction, which holds the ledger's lock until it commits. The
-- pruner takes them instead, in small batches, like processed events, once
-- they are older than the retention.

-- The pruner's work list: the events whose payload may go, oldest first.
-- A processed event enters it when it is recorded and leaves it when its
-- payload is pruned, so it holds about one retention window of events;
-- ignored events are recorded without a payload and never enter it.
CREATE INDEX webhook_events_prunable ON payments.webhook_events (received_at)
    WHERE payload IS NOT NULL AND status IN ('processed', 'ignored');
-- == user-token terms: a product's trial once per subject ==

-- The trials billwire's checkouts carry, one row per subject and product:
-- the checkout that carried (or carries) a trial of that product for that
-- subject. A new checkout may take the row over only when that checkout no
-- longer holds it (payments.trial_claim_holds): one that expired, failed,
-- or never completed within Stripe's 24 hours. Completed and pending ones
-- hold it, so two concurrent checkouts cannot both get the trial: the
-- primary key makes the second wait for the first and see it. The session
-- API also refuses the trial when the mirror holds a subscription of the
-- subject's customer (or carrying the subject) with a trial of the product.
CREATE TABLE payments.trial_claims (
    env               text NOT NULL CHECK (env IN ('test', 'live')),
    subject_type      text NOT NULL,
    subject_id        text NOT NULL,
    product_id        text NOT NULL,
    checkout_id       bigint NOT NULL REFERENCES payments.checkout_sessions (id) ON DELETE CASCADE,
    trial_period_days integer NOT NULL CHECK (trial_period_days BETWEEN 1 AND 730),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_id, subject_type, product_id, env)
);
CREATE INDEX trial_claims_checkout ON payments.trial_claims (checkout_id);

-- Whether a checkout in this state still holds its trial: not when it
-- expired or failed, nor when it stayed unfinished past Stripe's 24-hour
-- session lifetime (plus an hour's margin).
CREATE FUNCTION payments.trial_claim_holds(status text, created_at timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT (status IN ('expired', 'failed')
        OR (status IN ('initialized', 'open') AND created_at < now() - interval '25 hours'))
$$;
-- == fair use: reuse of open Checkout Sessions ==

-- An end user who repeats a checkout (the same user, subject, request and
-- prices) gets the session billwire opened for it while it is open, instead
-- of a new one. reuse_digest is what the repeat must match: the request's
-- hash with the prices it bought (see store.ReusableCheckout). It is set
-- when Stripe's session is stored, on end users' sessions only. The index
-- holds those while open: a session leaves it when its row completes or
-- expires.
ALTER TABLE payments.checkout_sessions ADD COLUMN reuse_digest text;
CREATE INDEX checkout_sessions_reusable ON payments.checkout_sessions (subject_id, subject_type, env, request_hash, created_at)
    WHERE status = 'open' AND reuse_digest IS NOT NULL;
