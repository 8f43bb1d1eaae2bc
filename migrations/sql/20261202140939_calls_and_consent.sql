-- Drop index "calls_uuid_key" from table: "calls"
DROP INDEX "calls_uuid_key";
-- Modify "calls" table
ALTER TABLE "calls" ADD COLUMN "answered_elsewhere" boolean NOT NULL DEFAULT false, ADD COLUMN "missed" boolean NOT NULL DEFAULT false, ADD COLUMN "announced_at" timestamptz NULL;
-- Create index "call_campaign_id_uuid" to table: "calls"
CREATE UNIQUE INDEX "call_campaign_id_uuid" ON "calls" ("campaign_id", "uuid");
-- Modify "connections" table
ALTER TABLE "connections" ADD COLUMN "widget" jsonb NULL;
-- Drop index "contact_campaign_id_platform_external_id" from table: "contacts"
DROP INDEX "contact_campaign_id_platform_external_id";
-- Modify "contacts" table
-- Existing contacts are all chat contacts: their channel is their platform.
ALTER TABLE "contacts" ADD COLUMN "channel" character varying NULL;
UPDATE "contacts" SET "channel" = "platform";
ALTER TABLE "contacts" ALTER COLUMN "channel" SET NOT NULL;
ALTER TABLE "contacts" ALTER COLUMN "platform" DROP NOT NULL, ADD COLUMN "consent_granted_at" timestamptz NULL, ADD COLUMN "customer_id_sync_error" character varying NULL, ADD COLUMN "following" boolean NULL, ADD COLUMN "following_changed_at" timestamptz NULL;
-- Create index "contact_campaign_id_channel_external_id" to table: "contacts"
CREATE UNIQUE INDEX "contact_campaign_id_channel_external_id" ON "contacts" ("campaign_id", "channel", "external_id");
-- Create index "contact_campaign_id_phone" to table: "contacts"
CREATE INDEX "contact_campaign_id_phone" ON "contacts" ("campaign_id", "phone");
-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "softphone_domain" character varying NULL, ADD COLUMN "softphone_username" character varying NULL, ADD COLUMN "softphone_secret" bytea NULL;
-- Create "call_events" table
CREATE TABLE "call_events" ("id" character varying NOT NULL, "event" character varying NOT NULL, "data" jsonb NOT NULL, "received_at" timestamptz NOT NULL, "call_id" character varying NOT NULL, "campaign_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "call_events_calls_events" FOREIGN KEY ("call_id") REFERENCES "calls" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "call_events_campaigns_call_events" FOREIGN KEY ("campaign_id") REFERENCES "campaigns" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "callevent_call_id_received_at" to table: "call_events"
CREATE INDEX "callevent_call_id_received_at" ON "call_events" ("call_id", "received_at");
-- Create "widget_stats" table
CREATE TABLE "widget_stats" ("id" character varying NOT NULL, "connection_id" character varying NOT NULL, "action" character varying NOT NULL, "count" bigint NOT NULL DEFAULT 0, "last_at" timestamptz NOT NULL, "campaign_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "widget_stats_campaigns_widget_stats" FOREIGN KEY ("campaign_id") REFERENCES "campaigns" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "widgetstat_connection_id_action" to table: "widget_stats"
CREATE UNIQUE INDEX "widgetstat_connection_id_action" ON "widget_stats" ("connection_id", "action");
