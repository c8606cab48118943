-- Rule promotions (`/v2/rule-promotions`): the attributes, with the validated rule set kept as
-- the JSON the client sent. `promotions_version` is one row bumped by every promotion write: a
-- node compares it (one indexed read, at most once a second) to know whether its compiled
-- promotions are still current.
CREATE TABLE rule_promotions (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL,
    automatic BOOLEAN NOT NULL,
    stackable BOOLEAN NOT NULL,
    override_stacking BOOLEAN NOT NULL,
    priority BIGINT,
    starts_at BIGINT,
    ends_at BIGINT,
    rule_set TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX rule_promotions_created ON rule_promotions (created_at, id);

CREATE TABLE promotions_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO promotions_version (id, version) VALUES (1, 0);

-- Codes match ignoring case: `code_key` is the lower-cased code, unique within its promotion
-- (Elastic Path allows one code on several promotions: adding it to a cart applies each).
-- `uses` counts redemptions; checkout adds to it with a conditional update in the order's
-- transaction, so `uses <= max_uses` always holds.
CREATE TABLE promotion_codes (
    id UUID PRIMARY KEY,
    promotion_id UUID NOT NULL REFERENCES rule_promotions (id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    code_key TEXT NOT NULL,
    uses BIGINT NOT NULL DEFAULT 0,
    max_uses BIGINT,
    user_id UUID,
    consume_unit TEXT NOT NULL,
    max_uses_per_shopper BIGINT,
    includes_guests BOOLEAN NOT NULL DEFAULT FALSE,
    is_for_new_shopper BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    CONSTRAINT promotion_codes_code_key UNIQUE (promotion_id, code_key),
    CONSTRAINT promotion_codes_uses CHECK (max_uses IS NULL OR uses <= max_uses)
);
CREATE INDEX promotion_codes_promotion ON promotion_codes (promotion_id, created_at, id);
CREATE INDEX promotion_codes_key ON promotion_codes (code_key);

CREATE TABLE promotion_usages (
    id UUID PRIMARY KEY,
    promotion_id UUID NOT NULL,
    code_id UUID NOT NULL,
    code TEXT NOT NULL,
    order_id UUID,
    times_used BIGINT NOT NULL,
    used_on BIGINT NOT NULL,
    customer_id UUID,
    account_id UUID,
    customer_email TEXT,
    anonymized BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT NOT NULL
);
CREATE INDEX promotion_usages_promotion ON promotion_usages (promotion_id, used_on, id);
CREATE INDEX promotion_usages_code ON promotion_usages (code_id, used_on, id);

-- The codes a shopper added to a cart (`promotion_item`), kept until removed or the cart goes.
CREATE TABLE cart_promotion_codes (
    cart_id TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    code_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (cart_id, code_key)
);

-- The discounts an order was placed with (JSON arrays of {promotion_id, code, amount}).
ALTER TABLE orders ADD COLUMN discounts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE order_items ADD COLUMN discounts TEXT NOT NULL DEFAULT '[]';
