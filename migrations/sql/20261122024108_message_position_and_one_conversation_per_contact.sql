-- Drop index "conversation_contact_id_connection_id_status" from table: "conversations"
DROP INDEX "conversation_contact_id_connection_id_status";
-- Create index "conversation_connection_id_contact_id" to table: "conversations"
CREATE UNIQUE INDEX "conversation_connection_id_contact_id" ON "conversations" ("connection_id", "contact_id");
-- Drop index "message_conversation_id_sent_at" from table: "messages"
DROP INDEX "message_conversation_id_sent_at";
-- Modify "messages" table
ALTER TABLE "messages" ADD COLUMN "position" character varying NOT NULL;
-- Create index "message_conversation_id_position" to table: "messages"
CREATE INDEX "message_conversation_id_position" ON "messages" ("conversation_id", "position");
