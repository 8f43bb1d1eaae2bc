-- Modify "webhook_events" table
ALTER TABLE "webhook_events" ADD COLUMN "lane" smallint NOT NULL DEFAULT 0;
