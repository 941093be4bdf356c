-- Runtime sessions: who may call billwire's session API, the local record of
-- every Checkout Session billwire creates, and the Billing Portal configuration.

-- Server-to-server API keys (bwk_…). Only a SHA-256 of the key is kept: the
-- key is 32 random bytes, so a slow hash would add nothing but latency.
CREATE TABLE payments.api_keys (
    id           bigserial PRIMARY KEY,
    env          text NOT NULL CHECK (env IN ('test', 'live')),
    name         text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE,
    key_hint     text NOT NULL, -- bwk_…last4, safe to show
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX api_keys_active_name ON payments.api_keys (name, env) WHERE revoked_at IS NULL;

-- A runtime checkout row is written before Stripe is called (status
-- initialized), then holds Stripe's id and URL (open) or the error (failed).
-- requester names the caller (apikey:<id>, user:<sub>, mcp); an
-- idempotency key is scoped to it.
ALTER TABLE payments.checkout_sessions
    ADD COLUMN requester       text,
    ADD COLUMN idempotency_key text,
    ADD COLUMN request_hash    text,
    ADD COLUMN request         jsonb,
    ADD COLUMN url             text,
    ADD COLUMN error_code      text,
    ADD COLUMN error           text;
CREATE UNIQUE INDEX checkout_sessions_idempotency ON payments.checkout_sessions (idempotency_key, requester, env)
    WHERE idempotency_key IS NOT NULL;

-- The Billing Portal configuration billwire created (or reuses) in Stripe,
-- and a digest of what it allows, so it is updated when the catalog changes.
ALTER TABLE payments.environments
    ADD COLUMN portal_configuration_id     text,
    ADD COLUMN portal_configuration_digest text,
    ADD COLUMN portal_configured_at        timestamptz;
