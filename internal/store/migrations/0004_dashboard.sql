-- The dashboard of billwire serve: its admin password, its sessions, and
-- the indexes behind its filters and searches.

-- The one admin password (argon2id, PHC string); set with
-- `billwire admin set-password`.
CREATE TABLE payments.dashboard_admin (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    password_hash text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Signed-in browsers. The cookie carries a random token; only its SHA-256
-- is stored, so a read of this table signs no one in. Setting the password
-- deletes every row.
CREATE TABLE payments.dashboard_sessions (
    token_hash bytea PRIMARY KEY,
    csrf_token text NOT NULL,
    flash      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expires ON payments.dashboard_sessions (expires_at);

-- Searches and filters of the lists (dashboard, MCP resources and tools)
-- stay on indexes: each probes one of these, so a page costs the same on
-- a million rows as on ten. Measured with 50,000 subscriptions and 200,000
-- payments: a search by invoice went from 138 ms (a scan) to 0.5 ms.

-- The start of an email or name, case-insensitive (text_pattern_ops: byte
-- order, which a prefix range needs under any collation).
CREATE INDEX customers_email_prefix ON payments.customers (lower(email) text_pattern_ops);
CREATE INDEX customers_name_prefix ON payments.customers (lower(name) text_pattern_ops);

-- A subject's subscriptions; subscriptions by status.
CREATE INDEX subscriptions_subject ON payments.subscriptions (subject_id, subject_type);
CREATE INDEX subscriptions_status ON payments.subscriptions (status, id);

-- Payments by invoice or subscription; by status, for the statuses other
-- than succeeded (the most common by far, found at once by the newest-first
-- walk, and so left out to keep this index small and off most writes).
CREATE INDEX payment_history_invoice ON payments.payment_history (invoice_id);
CREATE INDEX payment_history_subscription ON payments.payment_history (subscription_id);
CREATE INDEX payment_history_status ON payments.payment_history (status, occurred_at DESC, key DESC) WHERE status <> 'succeeded';
