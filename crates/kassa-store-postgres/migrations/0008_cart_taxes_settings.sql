-- Tax items on cart lines, and the store-wide settings record.
-- A tax item is a rate (exact, in parts per million) or a fixed amount, never both. cart_id repeats
-- the line's cart so that one query loads all tax items of a cart.
CREATE TABLE cart_tax_items (
    id UUID PRIMARY KEY,
    cart_id TEXT NOT NULL,
    item_id UUID NOT NULL REFERENCES cart_items (id) ON DELETE CASCADE,
    name TEXT,
    code TEXT,
    jurisdiction TEXT,
    rate_ppm BIGINT CHECK (rate_ppm >= 0),
    amount BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((rate_ppm IS NULL) <> (amount IS NULL))
);
CREATE INDEX cart_tax_items_cart ON cart_tax_items (cart_id, created_at);
CREATE INDEX cart_tax_items_item ON cart_tax_items (item_id);

CREATE TABLE store_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    page_length BIGINT NOT NULL DEFAULT 25,
    calculation_method TEXT NOT NULL DEFAULT 'line',
    cart_expiry_days BIGINT NOT NULL DEFAULT 7,
    show_all_carts BOOLEAN NOT NULL DEFAULT FALSE,
    custom_discounts_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    use_rule_promotions BOOLEAN NOT NULL DEFAULT FALSE,
    defer_inventory_check BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO store_settings (id) VALUES (1);
