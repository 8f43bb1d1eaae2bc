-- Create "calls" table
CREATE TABLE "calls" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "uuid" character varying NOT NULL, "direction" character varying NOT NULL, "status" character varying NOT NULL DEFAULT 'CONNECTING', "remote_number" character varying NOT NULL DEFAULT '', "sip_number" character varying NOT NULL DEFAULT '', "started_at" timestamptz NULL, "answered_at" timestamptz NULL, "ended_at" timestamptz NULL, "duration" bigint NOT NULL DEFAULT 0, "total_duration" bigint NOT NULL DEFAULT 0, "end_cause" character varying NULL, "agent_id" character varying NULL, "campaign_id" character varying NOT NULL, "contact_id" character varying NULL, "conversation_id" character varying NULL, PRIMARY KEY ("id"));
-- Create index "call_campaign_id_created_at" to table: "calls"
CREATE INDEX "call_campaign_id_created_at" ON "calls" ("campaign_id", "created_at");
-- Create index "calls_uuid_key" to table: "calls"
CREATE UNIQUE INDEX "calls_uuid_key" ON "calls" ("uuid");
-- Create "campaigns" table
CREATE TABLE "campaigns" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "description" character varying NOT NULL DEFAULT '', "archived_at" timestamptz NULL, PRIMARY KEY ("id"));
-- Create "campaign_members" table
CREATE TABLE "campaign_members" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "role" character varying NOT NULL, "campaign_id" character varying NOT NULL, "user_id" character varying NOT NULL, PRIMARY KEY ("id"));
-- Create index "campaignmember_campaign_id_user_id" to table: "campaign_members"
CREATE UNIQUE INDEX "campaignmember_campaign_id_user_id" ON "campaign_members" ("campaign_id", "user_id");
-- Create index "campaignmember_user_id" to table: "campaign_members"
CREATE INDEX "campaignmember_user_id" ON "campaign_members" ("user_id");
-- Create "connections" table
CREATE TABLE "connections" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "platform" character varying NOT NULL, "external_id" character varying NOT NULL, "name" character varying NOT NULL DEFAULT '', "username" character varying NULL, "status" character varying NOT NULL DEFAULT 'ACTIVE', "status_reason" character varying NULL, "connected_at" timestamptz NOT NULL, "disconnected_at" timestamptz NULL, "token_expires_at" timestamptz NULL, "credentials" bytea NULL, "token_hint" character varying NOT NULL DEFAULT '', "webhook_last_received_at" timestamptz NULL, "webhook_total_received" bigint NOT NULL DEFAULT 0, "webhook_error_count" bigint NOT NULL DEFAULT 0, "webhook_last_error" character varying NULL, "campaign_id" character varying NOT NULL, PRIMARY KEY ("id"));
-- Create index "connection_campaign_id" to table: "connections"
CREATE INDEX "connection_campaign_id" ON "connections" ("campaign_id");
-- Create index "connection_platform_external_id" to table: "connections"
CREATE UNIQUE INDEX "connection_platform_external_id" ON "connections" ("platform", "external_id") WHERE (disconnected_at IS NULL);
-- Create "contacts" table
CREATE TABLE "contacts" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "platform" character varying NOT NULL, "external_id" character varying NOT NULL, "name" character varying NOT NULL DEFAULT '', "avatar_url" character varying NULL, "phone" character varying NULL, "customer_id" character varying NULL, "campaign_id" character varying NOT NULL, PRIMARY KEY ("id"));
-- Create index "contact_campaign_id_platform_external_id" to table: "contacts"
CREATE UNIQUE INDEX "contact_campaign_id_platform_external_id" ON "contacts" ("campaign_id", "platform", "external_id");
-- Create "conversations" table
CREATE TABLE "conversations" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "status" character varying NOT NULL DEFAULT 'OPEN', "last_message_at" timestamptz NOT NULL, "unread_count" bigint NOT NULL DEFAULT 0, "campaign_id" character varying NOT NULL, "connection_id" character varying NOT NULL, "contact_id" character varying NOT NULL, "assignee_id" character varying NULL, "last_message_id" character varying NULL, PRIMARY KEY ("id"));
-- Create index "conversation_assignee_id" to table: "conversations"
CREATE INDEX "conversation_assignee_id" ON "conversations" ("assignee_id");
-- Create index "conversation_campaign_id_last_message_at" to table: "conversations"
CREATE INDEX "conversation_campaign_id_last_message_at" ON "conversations" ("campaign_id", "last_message_at");
-- Create index "conversation_contact_id_connection_id_status" to table: "conversations"
CREATE INDEX "conversation_contact_id_connection_id_status" ON "conversations" ("contact_id", "connection_id", "status");
-- Create "messages" table
CREATE TABLE "messages" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "direction" character varying NOT NULL, "kind" character varying NOT NULL DEFAULT 'TEXT', "text" text NOT NULL DEFAULT '', "attachments" jsonb NULL, "external_id" character varying NULL, "status" character varying NOT NULL DEFAULT 'SENT', "error" character varying NULL, "sent_at" timestamptz NOT NULL, "campaign_id" character varying NOT NULL, "connection_id" character varying NOT NULL, "conversation_id" character varying NOT NULL, "sender_id" character varying NULL, PRIMARY KEY ("id"));
-- Create index "message_campaign_id" to table: "messages"
CREATE INDEX "message_campaign_id" ON "messages" ("campaign_id");
-- Create index "message_connection_id_external_id" to table: "messages"
CREATE UNIQUE INDEX "message_connection_id_external_id" ON "messages" ("connection_id", "external_id");
-- Create index "message_conversation_id_sent_at" to table: "messages"
CREATE INDEX "message_conversation_id_sent_at" ON "messages" ("conversation_id", "sent_at");
-- Create "tags" table
CREATE TABLE "tags" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "color" character varying NOT NULL DEFAULT '', "campaign_id" character varying NOT NULL, PRIMARY KEY ("id"));
-- Create index "tag_campaign_id_name" to table: "tags"
CREATE UNIQUE INDEX "tag_campaign_id_name" ON "tags" ("campaign_id", "name");
-- Create "users" table
CREATE TABLE "users" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "email" character varying NOT NULL, "name" character varying NOT NULL, "password_hash" character varying NOT NULL, "role" character varying NOT NULL DEFAULT 'MEMBER', PRIMARY KEY ("id"));
-- Create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX "users_email_key" ON "users" ("email");
-- Create "webhook_events" table
CREATE TABLE "webhook_events" ("id" character varying NOT NULL, "platform" character varying NOT NULL, "event_type" character varying NOT NULL, "dedup_key" character varying NOT NULL, "payload" bytea NOT NULL, "received_at" timestamptz NOT NULL, "processed_at" timestamptz NULL, "response_status" bigint NOT NULL DEFAULT 200, "error" character varying NULL, "attempts" bigint NOT NULL DEFAULT 0, "next_attempt_at" timestamptz NULL, "campaign_id" character varying NULL, "connection_id" character varying NULL, PRIMARY KEY ("id"));
-- Create index "webhookevent_campaign_id_received_at" to table: "webhook_events"
CREATE INDEX "webhookevent_campaign_id_received_at" ON "webhook_events" ("campaign_id", "received_at");
-- Create index "webhookevent_connection_id_dedup_key" to table: "webhook_events"
CREATE UNIQUE INDEX "webhookevent_connection_id_dedup_key" ON "webhook_events" ("connection_id", "dedup_key");
-- Create index "webhookevent_received_at" to table: "webhook_events"
CREATE INDEX "webhookevent_received_at" ON "webhook_events" ("received_at");
-- Create "conversation_tags" table
CREATE TABLE "conversation_tags" ("conversation_id" character varying NOT NULL, "tag_id" character varying NOT NULL, PRIMARY KEY ("conversation_id", "tag_id"));
-- Modify "calls" table
ALTER TABLE "calls" ADD CONSTRAINT "calls_campaigns_calls" FOREIGN KEY ("campaign_id") REFERENCES "campaigns" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, ADD CONSTRAINT "calls_contacts_calls" FOREIGN KEY ("contact_id") REFERENCES "contacts" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, ADD CONSTRAINT "calls_conversations_calls" FOREIGN KEY ("conversation_id") REFERENCES "conversations" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, ADD CONSTRAINT "calls_users_agent" FOREIGN KEY ("agent_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
-- Modify "campaign_members" table
ALTER TABLE "campaign_members" ADD CONSTRAINT "campaign_members_campaigns_members" FOREIGN KEY ("campaign_id") REFERENCES "campaigns" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, ADD CONSTRAINT "campaign_members_users_memberships" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION;
-- Modify "connections" table
ALTER TABLE "connections" ADD CONSTRAINT "connections_campaigns_connections" FOREIGN KEY ("campaign_id") REFERENCES "campaigns" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION;
-- Modify "contacts" table
ALTER TABLE "contacts" ADD CONSTRAINT "contacts_campaigns_contacts" FOREIGN KEY ("campaign_id") REFERENCES "campaigns" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION;
-- Modify "conversations" table
ALTER TABLE "conversations" ADD CONSTRAINT "conversations_campaigns_conversations" FOREIGN KEY ("campaign_id") REFERENCES "campaigns" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, ADD CONSTRAINT "conversations_connections_conversations" FOREIGN KEY ("connection_id") REFERENCES "connections" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, ADD CONSTRAINT "conversations_contacts_conversations" FOREIGN KEY ("contact_id") REFERENCES "contacts" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, ADD CONSTRAINT "conversations_messages_last_message" FOREIGN KEY ("last_message_id") REFERENCES "messages" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, ADD CONSTRAINT "conversations_users_assignee" FOREIGN KEY ("assignee_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
-- Modify "messages" table
ALTER TABLE "messages" ADD CONSTRAINT "messages_campaigns_messages" FOREIGN KEY ("campaign_id") REFERENCES "campaigns" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, ADD CONSTRAINT "messages_connections_messages" FOREIGN KEY ("connection_id") REFERENCES "connections" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, ADD CONSTRAINT "messages_conversations_messages" FOREIGN KEY ("conversation_id") REFERENCES "conversations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, ADD CONSTRAINT "messages_users_sender" FOREIGN KEY ("sender_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
-- Modify "tags" table
ALTER TABLE "tags" ADD CONSTRAINT "tags_campaigns_tags" FOREIGN KEY ("campaign_id") REFERENCES "campaigns" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION;
-- Modify "webhook_events" table
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_campaigns_webhook_events" FOREIGN KEY ("campaign_id") REFERENCES "campaigns" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, ADD CONSTRAINT "webhook_events_connections_webhook_events" FOREIGN KEY ("connection_id") REFERENCES "connections" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
-- Modify "conversation_tags" table
ALTER TABLE "conversation_tags" ADD CONSTRAINT "conversation_tags_conversation_id" FOREIGN KEY ("conversation_id") REFERENCES "conversations" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, ADD CONSTRAINT "conversation_tags_tag_id" FOREIGN KEY ("tag_id") REFERENCES "tags" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
