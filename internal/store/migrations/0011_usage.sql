-- Issue 14: usage-based billing on Stripe Meters. Each section below belongs
-- to one part of the change; later parts add their own section at the end.

-- == catalog: the meters ==

-- payments.meters: Stripe's billing meters, mirrored by sync and after
-- billwire's own writes (API 2024-06-20 has no meter events). aggregation
-- is default_aggregation.formula (sum or count), value_key the payload key
-- of the value (value_settings.event_payload_key) and customer_key the
-- payload key of the Stripe customer id (customer_mapping.event_payload_key).
-- Stripe keeps event_name unique among active meters; the usage API reads
-- the active meter of an event_name.
CREATE TABLE payments.meters (
    env          text NOT NULL CHECK (env IN ('test', 'live')),
    id           text NOT NULL,
    event_name   text NOT NULL,
    display_name text NOT NULL,
    aggregation  text NOT NULL,
    value_key    text NOT NULL,
    customer_key text NOT NULL,
    status       text NOT NULL,
    livemode     boolean NOT NULL,
    created      timestamptz NOT NULL,
    data         jsonb NOT NULL,
    source_at    timestamptz NOT NULL,
    synced_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (env, id)
);
CREATE INDEX meters_event_name ON payments.meters (env, event_name);

COMMENT ON TABLE payments.meters IS
    'billwire: Stripe billing meters (create_meter, sync). See README, Usage-based billing.';

-- == usage ingest: the accepted usage events ==

-- payments.usage_events: every event POST /api/payments/{env}/usage
-- accepted, committed (synchronous commit) before the 202. identifier is
-- the app's, or derived from the request's Idempotency-Key; (env,
-- identifier) is unique, so a retried event is a duplicate (same content)
-- or refused identifier_conflict. timestamp_given says whether the app
-- dated the event (else event_time is when billwire accepted it, and a
-- retry is compared without it). status is the sender's: pending (to
-- send), sent, waiting_for_customer (the subject has no Stripe customer
-- yet), failed (Stripe refused it for good, or 35 days passed), unknown
-- (a send whose outcome is unknown, past Stripe's 24-hour identifier
-- window), late (dated in a period already invoiced). The table carries
-- only its primary key, so ingest costs one index insert per event; the
-- sender adds the index it claims by.
CREATE TABLE payments.usage_events (
    env             text NOT NULL CHECK (env IN ('test', 'live')),
    identifier      text NOT NULL,
    meter_id        text NOT NULL,
    event_name      text NOT NULL,
    subject_type    text NOT NULL,
    subject_id      text NOT NULL,
    value           numeric NOT NULL CHECK (value >= 0),
    event_time      timestamptz NOT NULL,
    timestamp_given boolean NOT NULL,
    api_key_id      text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'waiting_for_customer', 'failed', 'unknown', 'late')),
    accepted_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (env, identifier)
);

COMMENT ON TABLE payments.usage_events IS
    'billwire: usage accepted by POST /api/payments/{env}/usage, for the sender. See README, Usage-based billing.';
