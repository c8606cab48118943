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

-- Rule promotion jobs (code_generate, code_export): kassa runs each at once and keeps it, with an
-- export's CSV and the secret token of its download link.
CREATE TABLE promotion_jobs (
    id UUID PRIMARY KEY,
    promotion_id UUID NOT NULL REFERENCES rule_promotions (id) ON DELETE CASCADE,
    job_type TEXT NOT NULL,
    name TEXT NOT NULL,
    parameters TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT NOT NULL,
    file_token TEXT UNIQUE,
    file TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX promotion_jobs_promotion ON promotion_jobs (promotion_id, created_at);
