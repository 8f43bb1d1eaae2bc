-- Modify "messages" table
ALTER TABLE "messages" ADD COLUMN "external_ids" jsonb NULL, ADD COLUMN "client_message_id" character varying NULL, ADD COLUMN "attempts" bigint NOT NULL DEFAULT 0, ADD COLUMN "next_attempt_at" timestamptz NULL, ADD COLUMN "claimed_at" timestamptz NULL;
-- Create index "message_conversation_id_client_message_id" to table: "messages"
CREATE UNIQUE INDEX "message_conversation_id_client_message_id" ON "messages" ("conversation_id", "client_message_id");
-- Create index "message_external_ids" to table: "messages"
CREATE INDEX "message_external_ids" ON "messages" USING gin ("external_ids");
-- Create index "message_outbox" to table: "messages"
CREATE INDEX "message_outbox" ON "messages" ("conversation_id", "position") WHERE (((direction)::text = 'OUTBOUND'::text) AND ((status)::text = 'PENDING'::text));
-- Modify "tags" table
ALTER TABLE "tags" ALTER COLUMN "color" SET DEFAULT '#9ca3af';
-- Modify "conversations" table
ALTER TABLE "conversations" ADD COLUMN "read_at" timestamptz NULL, ADD COLUMN "read_by_id" character varying NULL, ADD CONSTRAINT "conversations_users_read_by" FOREIGN KEY ("read_by_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
