-- Orders, written once by checkout together with their items, and the idempotency keys that
-- make creating POSTs safe to retry. Money is in minor units; times are epoch milliseconds.
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    payment TEXT NOT NULL,
    shipping TEXT NOT NULL,
    cart_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    order_number TEXT,
    external_ref TEXT,
    contact_name TEXT,
    contact_email TEXT,
    customer_name TEXT,
    customer_email TEXT,
    customer_id TEXT,
    account_id TEXT,
    account_member_id TEXT,
    billing_address TEXT NOT NULL,
    shipping_address TEXT NOT NULL,
    custom_attributes TEXT NOT NULL DEFAULT '{}',
    calculation_method TEXT NOT NULL,
    with_tax INTEGER NOT NULL,
    without_tax INTEGER NOT NULL,
    tax INTEGER NOT NULL,
    discount INTEGER NOT NULL,
    without_discount INTEGER NOT NULL,
    shipping_amount INTEGER NOT NULL,
    shipping_discount INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX orders_account ON orders (account_id, created_at);
CREATE INDEX orders_customer ON orders (customer_id, created_at);
CREATE INDEX orders_created ON orders (created_at);

CREATE TABLE order_items (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    cart_item_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    product_id TEXT,
    sku TEXT,
    name TEXT NOT NULL,
    description TEXT,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_amount INTEGER NOT NULL,
    includes_tax INTEGER NOT NULL,
    custom_inputs TEXT NOT NULL DEFAULT '{}',
    catalog_id TEXT,
    taxes TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX order_items_position ON order_items (order_id, position);

-- state: 'in_flight' while the first request runs (locked_at says since when), then 'done'
-- with the response to replay.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    response_status INTEGER,
    response_body TEXT,
    locked_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
