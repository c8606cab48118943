-- The outbox and its log with fewer b-trees per event (issue 23): on SQLite every row and index
-- entry of the outbox is written by the one writer that every cart and checkout waits for, and
-- each page they dirty is written to the WAL at commit and copied back by the checkpoint.
--
-- * A job carries its event's payload: no `integration_events` row (and its id index) beside it,
--   and no index from jobs to events. An event observed by two integrations is stored twice.
-- * No index of finished jobs: the sweep walks each integration's jobs by creation time.
-- * A log row has no primary key: nothing looks a log up by its id, and the newest-first lists
--   read the rowid (the order attempts were recorded in) through the integration and job indexes.
ALTER TABLE integration_logs RENAME TO outbox_old_logs;
ALTER TABLE integration_jobs RENAME TO outbox_old_jobs;

CREATE TABLE integration_jobs (
    id TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    leased_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO integration_jobs (id, integration_id, event, payload, status, attempts, next_at, leased_by,
    created_at, updated_at)
    SELECT j.id, j.integration_id, j.event, e.payload, j.status, j.attempts, j.next_at, j.leased_by,
        j.created_at, j.updated_at
    FROM outbox_old_jobs j JOIN integration_events e ON e.id = j.event_id;

CREATE TABLE integration_logs (
    id TEXT NOT NULL,
    job_id TEXT NOT NULL REFERENCES integration_jobs (id) ON DELETE CASCADE,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    succeeded INTEGER NOT NULL,
    status_code INTEGER,
    body TEXT,
    error_detail TEXT,
    duration_ms INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO integration_logs (id, job_id, integration_id, attempt, succeeded, status_code, body, error_detail,
    duration_ms, created_at)
    SELECT id, job_id, integration_id, attempt, succeeded, status_code, body, error_detail, duration_ms, created_at
    FROM outbox_old_logs ORDER BY created_at, id;

DROP TABLE outbox_old_logs;
DROP TABLE outbox_old_jobs;
DROP TABLE integration_events;

-- What the delivery workers poll: pending jobs by when they are due (a leased job is due again
-- when its lease ends: leasing sets next_at to the end of the lease).
CREATE INDEX integration_jobs_due ON integration_jobs (next_at) WHERE status = 'pending';
CREATE INDEX integration_jobs_integration ON integration_jobs (integration_id, created_at, id);
CREATE INDEX integration_logs_integration ON integration_logs (integration_id);
CREATE INDEX integration_logs_job ON integration_logs (job_id);
