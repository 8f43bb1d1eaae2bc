-- Modify "connections" table
ALTER TABLE "connections" ADD COLUMN "webhook_last_error_at" timestamptz NULL;
