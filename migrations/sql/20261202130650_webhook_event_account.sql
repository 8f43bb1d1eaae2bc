-- Modify "webhook_events" table
ALTER TABLE "webhook_events" ADD COLUMN "account" character varying NULL;
-- Create index "webhookevent_platform_account_dedup_key" to table: "webhook_events"
CREATE UNIQUE INDEX "webhookevent_platform_account_dedup_key" ON "webhook_events" ("platform", "account", "dedup_key");
