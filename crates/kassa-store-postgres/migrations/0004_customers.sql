-- Legacy customers. `email_normalized` (trimmed, lower-case) carries the uniqueness rule, so two
-- concurrent sign-ups with the same address cannot both succeed.
CREATE TABLE customers (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    password_hash TEXT,
    external_ref TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX customers_email_key ON customers (email_normalized);
CREATE INDEX customers_created ON customers (created_at, id);
