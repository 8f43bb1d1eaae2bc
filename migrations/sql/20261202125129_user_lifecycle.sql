-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "deactivated_at" timestamptz NULL, ADD COLUMN "sessions_valid_after" timestamptz NULL, ADD COLUMN "kept_session" character varying NULL, ADD COLUMN "access_version" bigint NOT NULL DEFAULT 0;
