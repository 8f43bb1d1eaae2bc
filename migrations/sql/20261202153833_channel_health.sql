-- Modify "connections" table
ALTER TABLE "connections" ADD COLUMN "health" jsonb NULL, ADD COLUMN "last_sync_at" timestamptz NULL, ADD COLUMN "next_check_at" timestamptz NULL;
-- Modify "messages" table
ALTER TABLE "messages" ADD COLUMN "author" jsonb NULL, ADD COLUMN "edited_at" timestamptz NULL;
-- Drop index "webhookevent_pending" from table: "webhook_events"
DROP INDEX "webhookevent_pending";
-- Modify "webhook_events" table
ALTER TABLE "webhook_events" ADD COLUMN "repeats" bigint NOT NULL DEFAULT 0, ADD COLUMN "skipped_at" timestamptz NULL;
-- Create index "webhookevent_pending" to table: "webhook_events"
CREATE INDEX "webhookevent_pending" ON "webhook_events" ("id") WHERE ((processed_at IS NULL) AND (failed_at IS NULL) AND (skipped_at IS NULL) AND (connection_id IS NOT NULL));
