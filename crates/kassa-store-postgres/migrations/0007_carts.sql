-- Carts and their lines. A cart's id is chosen by the client (or generated); its currency is
-- fixed by the first line. Totals are computed from the lines, never stored.
CREATE TABLE carts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    contact_email TEXT,
    currency TEXT,
    custom_discounts_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    use_rule_promotions BOOLEAN NOT NULL DEFAULT FALSE,
    defer_inventory_check BOOLEAN NOT NULL DEFAULT FALSE,
    custom_attributes JSONB NOT NULL DEFAULT '{}',
    snapshot_date BIGINT,
    payment_intent_id TEXT,
    account_id UUID,
    customer_id UUID,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX carts_account ON carts (account_id, updated_at);
CREATE INDEX carts_customer ON carts (customer_id, updated_at);
CREATE INDEX carts_updated ON carts (updated_at);
CREATE INDEX carts_expires ON carts (expires_at);

CREATE TABLE cart_items (
    id UUID PRIMARY KEY,
    cart_id TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    line_key TEXT NOT NULL,
    product_id UUID,
    sku TEXT,
    name TEXT NOT NULL,
    description TEXT,
    slug TEXT,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_amount BIGINT NOT NULL,
    includes_tax BOOLEAN NOT NULL,
    custom_inputs JSONB NOT NULL DEFAULT '{}',
    catalog_id UUID,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX cart_items_line_key ON cart_items (cart_id, line_key);
