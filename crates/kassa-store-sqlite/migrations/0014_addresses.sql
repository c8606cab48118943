-- Saved addresses of accounts and customers, and the limits of /v2/settings
-- (`shopper_address_limit`) and /v2/settings/account-membership (`membership_limit`).
-- An address belongs to exactly one account or one customer and goes with it.
CREATE TABLE addresses (
    id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    customer_id TEXT REFERENCES customers (id) ON DELETE CASCADE,
    name TEXT,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    company_name TEXT,
    line_1 TEXT NOT NULL,
    line_2 TEXT,
    city TEXT,
    postcode TEXT NOT NULL,
    county TEXT,
    region TEXT,
    country TEXT NOT NULL,
    phone_number TEXT,
    instructions TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK ((account_id IS NULL) <> (customer_id IS NULL))
);
-- Every lookup names one owner, so each index holds only the rows that have one.
CREATE INDEX addresses_account ON addresses (account_id, created_at, id) WHERE account_id IS NOT NULL;
CREATE INDEX addresses_customer ON addresses (customer_id, created_at, id) WHERE customer_id IS NOT NULL;

ALTER TABLE store_settings ADD COLUMN shopper_address_limit INTEGER NOT NULL DEFAULT 25
    CHECK (shopper_address_limit BETWEEN 1 AND 25000);
ALTER TABLE store_settings ADD COLUMN membership_limit INTEGER NOT NULL DEFAULT 10000
    CHECK (membership_limit BETWEEN 1 AND 10000);
