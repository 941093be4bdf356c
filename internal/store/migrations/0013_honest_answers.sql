-- Issue 18: the ledger says what happened to each event.
--
-- stale: the event was older than the stored state of its object, so its
-- object did not change (it is recorded, and answered 200, like a
-- processed one). resolved_by: how the event's object was resolved; 'fetch'
-- when its state tied with another of the same second and was asked of
-- Stripe. (Issues 12 to 15 hold 0009 to 0012; the runner applies every
-- missing version in order, whichever lands first.)

ALTER TABLE payments.webhook_events DROP CONSTRAINT IF EXISTS webhook_events_status_check;
ALTER TABLE payments.webhook_events ADD CONSTRAINT webhook_events_status_check
    CHECK (status IN ('processed', 'stale', 'ignored', 'failed', 'parked'));
ALTER TABLE payments.webhook_events ADD COLUMN resolved_by text
    CHECK (resolved_by IN ('fetch'));

-- The retention pruner keeps no payload of a stale event either.
DROP INDEX IF EXISTS payments.webhook_events_prunable;
CREATE INDEX webhook_events_prunable ON payments.webhook_events (received_at)
    WHERE payload IS NOT NULL AND status IN ('processed', 'stale', 'ignored');
