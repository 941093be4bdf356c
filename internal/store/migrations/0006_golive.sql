-- Going live and entitlements: the test→live price map that promote_catalog
-- keeps, and the projection of Stripe's active entitlement summaries.

-- One row per test price copied to live mode by promote_catalog. Test and
-- live ids live in separate namespaces, so the row is the link between them;
-- lookup keys are the same on both sides and resolve per environment.
CREATE TABLE payments.price_map (
    test_price_id   text PRIMARY KEY,
    live_price_id   text NOT NULL UNIQUE,
    test_product_id text NOT NULL,
    live_product_id text NOT NULL,
    lookup_key      text,
    promoted_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX price_map_test_product ON payments.price_map (test_product_id);

-- A customer's active entitlements, from
-- entitlements.active_entitlement_summary.updated: the lookup keys of the
-- features Stripe says the customer may use now. source_at is the created
-- time of the newest event (or fetch) applied; an older one never
-- overwrites it. data is the summary object as Stripe sent it.
CREATE TABLE payments.entitlement_summaries (
    env         text NOT NULL CHECK (env IN ('test', 'live')),
    customer_id text NOT NULL,
    features    text[] NOT NULL DEFAULT '{}',
    source_at   timestamptz NOT NULL,
    data        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, env)
);

