-- Modify "users" table
ALTER TABLE "users" DROP COLUMN "sessions_valid_after", ADD COLUMN "session_epoch" bigint NOT NULL DEFAULT 0;
