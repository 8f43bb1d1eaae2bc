-- Create index "webhookevent_pending" to table: "webhook_events"
CREATE INDEX "webhookevent_pending" ON "webhook_events" ("id") WHERE ((processed_at IS NULL) AND (connection_id IS NOT NULL));
