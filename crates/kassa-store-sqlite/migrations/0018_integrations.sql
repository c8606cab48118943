-- Integrations (/v2/integrations), the outbox of their events and the log of every delivery.

CREATE TABLE integrations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    integration_type TEXT NOT NULL,
    observes TEXT NOT NULL,        -- JSON array of event names, as given
    configuration TEXT NOT NULL,   -- JSON object, checked for its type
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX integrations_created ON integrations (created_at, id);

-- What each integration observes, one row per event name: the outbox write joins it by event.
CREATE TABLE integration_observes (
    event TEXT NOT NULL,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    PRIMARY KEY (event, integration_id)
);
CREATE INDEX integration_observes_integration ON integration_observes (integration_id);

-- The outbox: each observed event once (its payload, the resource as the API rendered it), and
-- one job per event and observing integration, written in the transaction of the change that
-- caused the event. A job's id is the event id its receiver sees (stable across attempts). The
-- payload is apart so that leasing and settling a job rewrite a small row, not the payload.
CREATE TABLE integration_events (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE integration_jobs (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES integration_events (id) ON DELETE CASCADE,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    leased_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- What the delivery workers poll: pending jobs by when they are due (a leased job is due again
-- when its lease ends: leasing sets next_at to the end of the lease).
CREATE INDEX integration_jobs_due ON integration_jobs (next_at) WHERE status = 'pending';
CREATE INDEX integration_jobs_integration ON integration_jobs (integration_id, created_at, id);
CREATE INDEX integration_jobs_event ON integration_jobs (event_id);
CREATE INDEX integration_jobs_finished ON integration_jobs (updated_at) WHERE status <> 'pending';

-- Every delivery attempt.
CREATE TABLE integration_logs (
    id TEXT PRIMARY KEY,
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
CREATE INDEX integration_logs_created ON integration_logs (created_at, id);
CREATE INDEX integration_logs_integration ON integration_logs (integration_id, created_at, id);
CREATE INDEX integration_logs_job ON integration_logs (job_id, created_at, id);
