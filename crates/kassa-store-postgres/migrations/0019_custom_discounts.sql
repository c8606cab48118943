-- Custom discounts on carts (item_id NULL) and on their lines. A line's go with the line, a
-- cart's with the cart. amount is negative, in minor units.
CREATE TABLE cart_custom_discounts (
    id UUID PRIMARY KEY,
    cart_id TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    item_id UUID REFERENCES cart_items (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    discount_engine TEXT NOT NULL,
    description TEXT NOT NULL,
    discount_code TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount < 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX cart_custom_discounts_cart ON cart_custom_discounts (cart_id, created_at);
CREATE INDEX cart_custom_discounts_item ON cart_custom_discounts (item_id) WHERE item_id IS NOT NULL;
