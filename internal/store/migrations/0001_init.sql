-- billwire's own tables live in schema payments; every row carries its environment.
CREATE SCHEMA IF NOT EXISTS payments;

CREATE TABLE payments.meta (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per configured environment: the encrypted Stripe key and its account.
CREATE TABLE payments.environments (
    env            text PRIMARY KEY CHECK (env IN ('test', 'live')),
    secret_key_enc bytea NOT NULL,
    key_masked     text NOT NULL,
    key_kind       text NOT NULL CHECK (key_kind IN ('secret', 'restricted')),
    account_id     text NOT NULL,
    account_name   text NOT NULL DEFAULT '',
    configured_at  timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- No index leads with env (keys end with it): a lookup by key then has
-- exactly one index that fits, whatever plan PostgreSQL caches while the
-- tables are still small. An index entered on env alone would be scanned
-- whole, and grow with the table.

-- Catalog and billing objects mirrored from Stripe. Columns hold what the app
-- and the agent need; data holds the full Stripe object. source_at is the time
-- of the newest Stripe fetch or event applied: older data never overwrites it.
CREATE TABLE payments.products (
    env         text NOT NULL CHECK (env IN ('test', 'live')),
    id          text NOT NULL,
    name        text NOT NULL,
    description text,
    active      boolean NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}',
    livemode    boolean NOT NULL,
    created     timestamptz NOT NULL,
    data        jsonb NOT NULL,
    source_at   timestamptz NOT NULL,
    synced_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, env)
);

CREATE TABLE payments.prices (
    env                      text NOT NULL,
    id                       text NOT NULL,
    product_id               text NOT NULL,
    active                   boolean NOT NULL,
    currency                 text NOT NULL,
    unit_amount              bigint,
    type                     text NOT NULL,
    recurring_interval       text,
    recurring_interval_count integer,
    lookup_key               text,
    nickname                 text,
    metadata                 jsonb NOT NULL DEFAULT '{}',
    livemode                 boolean NOT NULL,
    created                  timestamptz NOT NULL,
    data                     jsonb NOT NULL,
    source_at                timestamptz NOT NULL,
    synced_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, env),
    FOREIGN KEY (env, product_id) REFERENCES payments.products (env, id)
);
CREATE INDEX prices_product ON payments.prices (product_id);
CREATE INDEX prices_lookup_key ON payments.prices (lookup_key);

CREATE TABLE payments.customers (
    env         text NOT NULL CHECK (env IN ('test', 'live')),
    id          text NOT NULL,
    email       text,
    name        text,
    description text,
    metadata    jsonb NOT NULL DEFAULT '{}',
    livemode    boolean NOT NULL,
    created     timestamptz NOT NULL,
    deleted     boolean NOT NULL DEFAULT false,
    data        jsonb NOT NULL,
    source_at   timestamptz NOT NULL,
    synced_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, env)
);

CREATE TABLE payments.subscriptions (
    env                  text NOT NULL CHECK (env IN ('test', 'live')),
    id                   text NOT NULL,
    customer_id          text NOT NULL,
    status               text NOT NULL,
    currency             text,
    current_period_start timestamptz,
    current_period_end   timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    canceled_at          timestamptz,
    ended_at             timestamptz,
    trial_end            timestamptz,
    metadata             jsonb NOT NULL DEFAULT '{}',
    livemode             boolean NOT NULL,
    created              timestamptz NOT NULL,
    data                 jsonb NOT NULL,
    source_at            timestamptz NOT NULL,
    synced_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, env)
);
CREATE INDEX subscriptions_customer ON payments.subscriptions (customer_id);

CREATE TABLE payments.subscription_items (
    env             text NOT NULL,
    id              text NOT NULL,
    subscription_id text NOT NULL,
    price_id        text NOT NULL,
    quantity        bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (id, env),
    FOREIGN KEY (env, subscription_id) REFERENCES payments.subscriptions (env, id) ON DELETE CASCADE
);
CREATE INDEX subscription_items_subscription ON payments.subscription_items (subscription_id);

-- One row per sync: its progress (cursors per object type) makes a failed sync resumable.
CREATE TABLE payments.sync_runs (
    id           bigserial PRIMARY KEY,
    env          text NOT NULL CHECK (env IN ('test', 'live')),
    account_id   text NOT NULL,
    objects      text[] NOT NULL,
    status       text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    counts       jsonb NOT NULL DEFAULT '{}',
    cursors      jsonb NOT NULL DEFAULT '{}',
    done         text[] NOT NULL DEFAULT '{}',
    error        text,
    resumed_from bigint REFERENCES payments.sync_runs (id),
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX sync_runs_env ON payments.sync_runs (env, id DESC);
