-- The webhook runtime: the event ledger, the managed endpoint and its
-- secrets, and the tables events are projected into.

ALTER TABLE payments.environments
    ADD COLUMN webhook_secret_enc         bytea,
    ADD COLUMN webhook_secret_masked      text,
    ADD COLUMN webhook_prev_secret_enc    bytea,
    ADD COLUMN webhook_prev_secret_until  timestamptz,
    ADD COLUMN webhook_source             text CHECK (webhook_source IN ('managed', 'cli')),
    ADD COLUMN webhook_endpoint_id        text,
    ADD COLUMN webhook_url                text,
    ADD COLUMN webhook_events             text[],
    ADD COLUMN webhook_status             text,
    ADD COLUMN webhook_updated_at         timestamptz;

-- The ledger: one row per Stripe event, the dedup key and the audit log in one.
-- status: processed | ignored (a type billwire does not project) | failed
-- (will be retried by Stripe) | parked (failed too often; replayable).
CREATE TABLE payments.webhook_events (
    env          text NOT NULL CHECK (env IN ('test', 'live')),
    id           text NOT NULL,
    type         text NOT NULL,
    created      timestamptz NOT NULL,
    api_version  text,
    object_id    text,
    status       text NOT NULL CHECK (status IN ('processed', 'ignored', 'failed', 'parked')),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    source       text NOT NULL DEFAULT 'webhook',
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    payload      json NOT NULL, -- kept as delivered; never queried inside, so not parsed into jsonb
    PRIMARY KEY (id, env)
);
CREATE INDEX webhook_events_recent ON payments.webhook_events (received_at DESC, id DESC);
CREATE INDEX webhook_events_failing ON payments.webhook_events (status) WHERE status IN ('failed', 'parked');

-- Which Stripe customer pays for a subject (a user or a team): unique both ways.
CREATE TABLE payments.customer_mappings (
    env          text NOT NULL CHECK (env IN ('test', 'live')),
    subject_type text NOT NULL,
    subject_id   text NOT NULL,
    customer_id  text NOT NULL,
    confirmed    boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz,
    PRIMARY KEY (subject_id, subject_type, env),
    UNIQUE (customer_id, env)
);

-- Checkout sessions: written locally before Stripe is called (runtime sessions)
-- or first seen in an event; stripe_id is Stripe's cs_… id.
CREATE TABLE payments.checkout_sessions (
    id                  bigserial PRIMARY KEY,
    env                 text NOT NULL CHECK (env IN ('test', 'live')),
    stripe_id           text,
    mode                text,
    status              text NOT NULL,
    payment_status      text,
    customer_id         text,
    subscription_id     text,
    payment_intent_id   text,
    client_reference_id text,
    subject_type        text,
    subject_id          text,
    amount_total        bigint,
    currency            text,
    metadata            jsonb NOT NULL DEFAULT '{}',
    data                jsonb,
    source_at           timestamptz NOT NULL DEFAULT '-infinity',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX checkout_sessions_stripe_id ON payments.checkout_sessions (stripe_id, env);

-- Payment history: one row per money movement, keyed canonically so that the
-- several events describing the same money update one row: a payment by its
-- PaymentIntent (or its invoice when it has none), a refund by re_…, a dispute by dp_….
CREATE TABLE payments.payment_history (
    env                 text NOT NULL CHECK (env IN ('test', 'live')),
    key                 text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('payment', 'refund', 'dispute')),
    status              text NOT NULL,
    amount              bigint NOT NULL DEFAULT 0,
    amount_refunded     bigint NOT NULL DEFAULT 0,
    currency            text,
    customer_id         text,
    subject_type        text,
    subject_id          text,
    invoice_id          text,
    subscription_id     text,
    payment_intent_id   text,
    charge_id           text,
    checkout_session_id text,
    failure_code        text,
    failure_message     text,
    failures            integer NOT NULL DEFAULT 0,
    reason              text,
    occurred_at         timestamptz NOT NULL,
    source_at           timestamptz NOT NULL,
    last_event_id       text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key, env)
);
CREATE INDEX payment_history_recent ON payments.payment_history (occurred_at DESC, key DESC);
CREATE INDEX payment_history_subject ON payments.payment_history (subject_id, subject_type);
CREATE INDEX payment_history_customer ON payments.payment_history (customer_id);
CREATE INDEX payment_history_charge ON payments.payment_history (charge_id);

ALTER TABLE payments.subscriptions
    ADD COLUMN subject_type text,
    ADD COLUMN subject_id   text;

-- JSON documents compress with lz4 where the server has it: about as small
-- as pglz at a fraction of the CPU, which the webhook path spends on every event.
DO $$
BEGIN
    IF 'lz4' = ANY (SELECT unnest(enumvals) FROM pg_settings WHERE name = 'default_toast_compression') THEN
        ALTER TABLE payments.webhook_events ALTER COLUMN payload SET COMPRESSION lz4;
        ALTER TABLE payments.products ALTER COLUMN data SET COMPRESSION lz4;
        ALTER TABLE payments.prices ALTER COLUMN data SET COMPRESSION lz4;
        ALTER TABLE payments.customers ALTER COLUMN data SET COMPRESSION lz4;
        ALTER TABLE payments.subscriptions ALTER COLUMN data SET COMPRESSION lz4;
        ALTER TABLE payments.checkout_sessions ALTER COLUMN data SET COMPRESSION lz4;
    END IF;
END $$;
