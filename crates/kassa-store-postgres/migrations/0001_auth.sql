-- Signing keys for self-contained tokens; cached by every node.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- Administrator credentials. Deleted keys are kept (deleted_at set) so their outstanding tokens
-- can be refused and their client_id is never handed out again.
CREATE TABLE application_keys (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    client_id TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    reserved_rate_limit BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE UNIQUE INDEX application_keys_client_id_key ON application_keys (client_id);
CREATE INDEX application_keys_live ON application_keys (deleted_at, created_at);
