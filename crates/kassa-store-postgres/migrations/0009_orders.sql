-- Orders, written once by checkout together with their items, and the idempotency keys that
-- make creating POSTs safe to retry. Money is in minor units; times are epoch milliseconds.
CREATE TABLE orders (
    id UUID PRIMARY KEY,
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
    customer_id UUID,
    account_id UUID,
    account_member_id UUID,
    billing_address JSONB NOT NULL,
    shipping_address JSONB NOT NULL,
    custom_attributes JSONB NOT NULL DEFAULT '{}',
    calculation_method TEXT NOT NULL,
    with_tax BIGINT NOT NULL,
    without_tax BIGINT NOT NULL,
    tax BIGINT NOT NULL,
    discount BIGINT NOT NULL,
    without_discount BIGINT NOT NULL,
    shipping_amount BIGINT NOT NULL,
    shipping_discount BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX orders_account ON orders (account_id, created_at);
CREATE INDEX orders_customer ON orders (customer_id, created_at);
CREATE INDEX orders_created ON orders (created_at);

CREATE TABLE order_items (
    id UUID PRIMARY KEY,
    order_id UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    cart_item_id UUID NOT NULL,
    kind TEXT NOT NULL,
    product_id UUID,
    sku TEXT,
    name TEXT NOT NULL,
    description TEXT,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_amount BIGINT NOT NULL,
    includes_tax BOOLEAN NOT NULL,
    custom_inputs JSONB NOT NULL DEFAULT '{}',
    catalog_id UUID,
    taxes JSONB NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
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
    locked_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
