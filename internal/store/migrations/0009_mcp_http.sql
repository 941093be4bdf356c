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
