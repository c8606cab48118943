-- Variations, their options and the options' modifiers (/pcm/variations), the variations
-- attached to a product, and child products built from them.

CREATE TABLE variations (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    sort_order BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX variations_created ON variations (created_at, id);

CREATE TABLE variation_options (
    id UUID PRIMARY KEY,
    variation_id UUID NOT NULL REFERENCES variations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    sort_order BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX variation_options_variation ON variation_options (variation_id, created_at, id);

-- kind is the modifier's `type`; value, seek and set as kassa_core::variations::Modifier.
CREATE TABLE variation_modifiers (
    id UUID PRIMARY KEY,
    option_id UUID NOT NULL REFERENCES variation_options (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT,
    seek TEXT,
    set_value TEXT,
    reference_name TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX variation_modifiers_option ON variation_modifiers (option_id, created_at, id);

-- position keeps the order the variations were attached in (the order of a child's options).
CREATE TABLE product_variations (
    product_id UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    variation_id UUID NOT NULL REFERENCES variations (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    PRIMARY KEY (product_id, variation_id)
);
CREATE INDEX product_variations_variation ON product_variations (variation_id);

-- A child product: its parent and its options (one per variation, sorted ids joined by ',').
-- The unique index is what keeps a build idempotent: one child per parent and combination, even
-- when two builds run at once.
ALTER TABLE products ADD COLUMN parent_id UUID REFERENCES products (id) ON DELETE CASCADE;
ALTER TABLE products ADD COLUMN child_options TEXT;
CREATE UNIQUE INDEX products_child_key ON products (parent_id, child_options) WHERE parent_id IS NOT NULL;
