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
