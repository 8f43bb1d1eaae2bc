-- Modify "domain_events" table
ALTER TABLE "domain_events" ADD COLUMN "trace_parent" character varying NULL;
-- Modify "webhook_events" table
ALTER TABLE "webhook_events" ADD COLUMN "trace_parent" character varying NULL;
