-- The commit-rate limit: one single-row INSERT per transaction (pgbench runs
-- each script as one transaction in autocommit), with the cluster's own
-- durability settings (fsync and synchronous_commit left as configured).
-- Every acknowledged webhook costs at least a share of one such commit, so
-- this bounds what group commit has to beat. The harness creates the table
-- first; see README.md.
INSERT INTO probe_pgbench (v) VALUES (1);
