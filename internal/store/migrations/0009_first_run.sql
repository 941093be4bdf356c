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
