-- Drop index "message_connection_id_external_id" from table: "messages"
DROP INDEX "message_connection_id_external_id";
-- Modify "messages" table
ALTER TABLE "messages" ADD COLUMN "account" character varying NOT NULL DEFAULT '';
-- Data: the platform ids stored so far are taken as those of the account each
-- connection holds now (before this, a switched connection kept no record of
-- which account a message came from).
UPDATE "messages" m SET "account" = c."external_id" FROM "connections" c
WHERE c."id" = m."connection_id" AND (m."external_id" IS NOT NULL OR m."external_ids" IS NOT NULL);
-- Create index "message_connection_id_account_external_id" to table: "messages"
CREATE UNIQUE INDEX "message_connection_id_account_external_id" ON "messages" ("connection_id", "account", "external_id");
-- Drop index "webhookevent_connection_id_dedup_key" from table: "webhook_events"
DROP INDEX "webhookevent_connection_id_dedup_key";
-- Create index "webhookevent_connection_id_id" to table: "webhook_events"
CREATE INDEX "webhookevent_connection_id_id" ON "webhook_events" ("connection_id", "id");
-- Create index "webhookevent_rejected" to table: "webhook_events"
CREATE UNIQUE INDEX "webhookevent_rejected" ON "webhook_events" ("connection_id", "dedup_key") WHERE ((event_type)::text = 'rejected'::text);
