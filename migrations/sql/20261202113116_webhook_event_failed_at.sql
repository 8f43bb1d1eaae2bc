-- Drop index "webhookevent_pending" from table: "webhook_events"
DROP INDEX "webhookevent_pending";
-- Modify "webhook_events" table
ALTER TABLE "webhook_events" ADD COLUMN "failed_at" timestamptz NULL;
-- Create index "webhookevent_pending" to table: "webhook_events"
CREATE INDEX "webhookevent_pending" ON "webhook_events" ("id") WHERE ((processed_at IS NULL) AND (failed_at IS NULL) AND (connection_id IS NOT NULL));
