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

-- == the sender: meter events to Stripe ==

-- payments.usage_buckets: the meter events the sender sends to Stripe. A
-- sum meter's accepted events of one customer, meter and minute of event
-- time become one bucket (bucket_key s:<meter>:<customer>:<minute>), its
-- value their sum; events of that minute accepted after the bucket was
-- made get a bucket of the next seq. A count meter's event is a bucket of
-- its own (bucket_key e:<identifier>). identifier is what Stripe
-- deduplicates on (derived from env, bucket_key and seq). A sender claims a
-- due bucket with FOR UPDATE SKIP LOCKED and a lease (lease_until), so
-- several replicas never send one at the same time; a bucket whose outcome
-- is unknown is retried with the same identifier while Stripe still
-- deduplicates it (23 hours after its first attempt), then it is unknown.
CREATE TABLE payments.usage_buckets (
    env              text NOT NULL CHECK (env IN ('test', 'live')),
    identifier       text NOT NULL,
    bucket_key       text NOT NULL,
    seq              integer NOT NULL,
    meter_id         text NOT NULL,
    event_name       text NOT NULL,
    customer_id      text NOT NULL,
    event_time       timestamptz NOT NULL,
    value            numeric NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'unknown')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    first_attempt_at timestamptz,
    sent_at          timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (env, identifier),
    UNIQUE (env, bucket_key, seq)
);
CREATE INDEX usage_buckets_due ON payments.usage_buckets (next_attempt_at) WHERE status = 'pending';

-- usage_events.bucket: the bucket an event is sent in (null until bucketed).
ALTER TABLE payments.usage_events ADD COLUMN bucket text;
CREATE INDEX usage_events_unbucketed ON payments.usage_events (env, accepted_at)
    WHERE status = 'pending' AND bucket IS NULL;
CREATE INDEX usage_events_waiting ON payments.usage_events (env, subject_type, subject_id)
    WHERE status = 'waiting_for_customer';
CREATE INDEX usage_events_bucket ON payments.usage_events (env, bucket) WHERE bucket IS NOT NULL;

COMMENT ON TABLE payments.usage_buckets IS
    'billwire: meter events the usage sender sends to Stripe (aggregated per customer, meter and minute). See README, Usage-based billing.';

-- == retention: sent usage is pruned ==

-- Sent events and buckets older than BILLWIRE_USAGE_RETENTION (by event
-- time) are deleted by the sender, along these indexes.
CREATE INDEX usage_events_sent ON payments.usage_events (event_time) WHERE status = 'sent';
CREATE INDEX usage_buckets_sent ON payments.usage_buckets (event_time) WHERE status = 'sent';

-- == status: what get_payments_status reports of the sender ==
CREATE INDEX usage_buckets_unsettled ON payments.usage_buckets (env, status) WHERE status IN ('failed', 'unknown');

-- == reconciliation: what was sent against Stripe's summaries ==

-- payments.usage_reconciliations: per UTC day, meter and customer, what
-- billwire sent (sum meters: the sum of the sent buckets; count meters:
-- their number) against Stripe's meter event summary of that day.
CREATE TABLE payments.usage_reconciliations (
    env            text NOT NULL CHECK (env IN ('test', 'live')),
    day            date NOT NULL,
    meter_id       text NOT NULL,
    customer_id    text NOT NULL,
    billwire_total numeric NOT NULL,
    stripe_total   numeric NOT NULL,
    checked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (env, day, meter_id, customer_id)
);

-- == a subject's usage: GET /api/payments/{env}/subjects/{type}/{id}/usage ==

-- The subject's accepted usage of one meter over its period, by event time.
CREATE INDEX usage_events_subject ON payments.usage_events (env, subject_type, subject_id, meter_id, event_time);
