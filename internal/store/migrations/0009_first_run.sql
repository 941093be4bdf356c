-- Issue 12 §4: sync never archives what it just created.
--
-- first_seen_at: when billwire first stored the customer or product, by the
-- database's clock. A full listing marks one deleted (a product inactive)
-- only when it was first seen at least 10 minutes before the listing began;
-- Stripe's created (a mock's fixed 2009 dates, another clock) no longer
-- decides. Prices and subscriptions are not marked by a listing, so they
-- have none. Existing rows take synced_at, the last time billwire wrote
-- them: they were first stored no later than that, so the margin still
-- holds for them, and rows untouched for 10 minutes stay archivable.
-- (Other parts of issue 12 may append to this file below.)
ALTER TABLE payments.customers ADD COLUMN first_seen_at timestamptz;
UPDATE payments.customers SET first_seen_at = synced_at;
ALTER TABLE payments.customers ALTER COLUMN first_seen_at SET DEFAULT now(),
    ALTER COLUMN first_seen_at SET NOT NULL;

ALTER TABLE payments.products ADD COLUMN first_seen_at timestamptz;
UPDATE payments.products SET first_seen_at = synced_at;
ALTER TABLE payments.products ALTER COLUMN first_seen_at SET DEFAULT now(),
    ALTER COLUMN first_seen_at SET NOT NULL;

-- MCP over HTTP (issue 12 §2): what an API key may open, and the audit log
-- of every call made over HTTP.

-- A key opens the session API (session), MCP over HTTP (mcp), or MCP with
-- live writes (mcp:live, live keys only). Keys made before this migration
-- were session keys.
ALTER TABLE payments.api_keys
    ADD COLUMN scope text NOT NULL DEFAULT 'session'
        CHECK (scope IN ('session', 'mcp', 'mcp:live')),
    ADD CONSTRAINT api_keys_live_scope CHECK (scope <> 'mcp:live' OR env = 'live');

-- One row per tool call, resource read or prompt over /mcp: who (the key's
-- id and name, kept if the key is revoked), what (the tool, resource URI or
-- prompt) and how it ended (ok or the error's code). Never the arguments:
-- some carry secrets.
CREATE TABLE payments.mcp_audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    env         text NOT NULL CHECK (env IN ('test', 'live')),
    key_id      bigint NOT NULL,
    key_name    text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('tool', 'resource', 'prompt')),
    name        text NOT NULL,
    result      text NOT NULL,
    duration_ms integer NOT NULL
);
CREATE INDEX mcp_audit_env_at ON payments.mcp_audit (env, at DESC, id DESC);
CREATE INDEX mcp_audit_key_at ON payments.mcp_audit (key_id, at DESC, id DESC);
