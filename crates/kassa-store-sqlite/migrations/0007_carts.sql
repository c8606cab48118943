-- Carts and their lines. A cart's id is chosen by the client (or generated); its currency is
-- fixed by the first line. Totals are computed from the lines, never stored.
CREATE TABLE carts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    contact_email TEXT,
    currency TEXT,
    custom_discounts_enabled INTEGER NOT NULL DEFAULT 0,
    use_rule_promotions INTEGER NOT NULL DEFAULT 0,
    defer_inventory_check INTEGER NOT NULL DEFAULT 0,
    custom_attributes TEXT NOT NULL DEFAULT '{}',
    snapshot_date INTEGER,
    payment_intent_id TEXT,
    account_id TEXT,
    customer_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX carts_account ON carts (account_id, updated_at);
CREATE INDEX carts_customer ON carts (customer_id, updated_at);
CREATE INDEX carts_updated ON carts (updated_at);
CREATE INDEX carts_expires ON carts (expires_at);

CREATE TABLE cart_items (
    id TEXT PRIMARY KEY,
    cart_id TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    line_key TEXT NOT NULL,
    product_id TEXT,
    sku TEXT,
    name TEXT NOT NULL,
    description TEXT,
    slug TEXT,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_amount INTEGER NOT NULL,
    includes_tax INTEGER NOT NULL,
    custom_inputs TEXT NOT NULL DEFAULT '{}',
    catalog_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX cart_items_line_key ON cart_items (cart_id, line_key);
