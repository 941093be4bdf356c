-- Issue 13: subscription lifecycle in the app. Each section below belongs to
-- one part of the change; later parts add their own section at the end.

-- == invoices and dunning: the invoices of a subject ==

-- payments.invoices: Stripe's invoices, projected from the invoice.* events
-- (created, finalized, updated, paid, payment_failed,
-- payment_action_required, voided, marked_uncollectible) with the same
-- ordering guard as every mirrored object: a row keeps the newest state
-- (source_at). subscription_id is read from both API shapes: top-level
-- subscription (2024-06-20) and parent.subscription_details.subscription
-- (basil and later). The subject is the subscription's metadata (or the
-- invoice's), else the customer's mapping.
CREATE TABLE payments.invoices (
    env                  text NOT NULL CHECK (env IN ('test', 'live')),
    id                   text NOT NULL,
    customer_id          text,
    subject_type         text,
    subject_id           text,
    subscription_id      text,
    number               text,
    status               text,
    currency             text,
    amount_due           bigint NOT NULL DEFAULT 0,
    amount_paid          bigint NOT NULL DEFAULT 0,
    amount_remaining     bigint NOT NULL DEFAULT 0,
    attempt_count        integer NOT NULL DEFAULT 0,
    next_payment_attempt timestamptz,
    hosted_invoice_url   text,
    invoice_pdf          text,
    period_start         timestamptz,
    period_end           timestamptz,
    created              timestamptz NOT NULL,
    source_at            timestamptz NOT NULL,
    data                 jsonb NOT NULL,
    synced_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, env)
);
CREATE INDEX invoices_subject ON payments.invoices (subject_id, subject_type, env, created DESC);
CREATE INDEX invoices_customer ON payments.invoices (customer_id, env, created DESC);

COMMENT ON TABLE payments.invoices IS
    'billwire: Stripe invoices projected from invoice.* events (newest state wins). See README, Invoices.';
