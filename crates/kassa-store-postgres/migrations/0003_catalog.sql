-- Product catalog administration (/pcm/...) and currencies (/v2/currencies).

CREATE TABLE products (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    sku TEXT,
    slug TEXT,
    description TEXT,
    status TEXT NOT NULL,
    commodity_type TEXT NOT NULL,
    upc_ean TEXT,
    mpn TEXT,
    external_ref TEXT,
    extensions JSONB,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX products_sku_key ON products (sku);
CREATE UNIQUE INDEX products_slug_key ON products (slug);
CREATE INDEX products_created ON products (created_at, id);

CREATE TABLE hierarchies (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    slug TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Names and slugs are unique among siblings (top-level nodes are siblings of each other).
CREATE TABLE nodes (
    id UUID PRIMARY KEY,
    hierarchy_id UUID NOT NULL REFERENCES hierarchies (id) ON DELETE CASCADE,
    parent_id UUID REFERENCES nodes (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    slug TEXT,
    sort_order BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX nodes_sibling_name_key ON nodes (hierarchy_id, COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), name);
CREATE UNIQUE INDEX nodes_sibling_slug_key ON nodes (hierarchy_id, COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), slug);
CREATE INDEX nodes_parent ON nodes (parent_id);

CREATE TABLE node_products (
    node_id UUID NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    product_id UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (node_id, product_id)
);
CREATE INDEX node_products_product ON node_products (product_id);

CREATE TABLE pricebooks (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    external_ref TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX pricebooks_name_key ON pricebooks (name);

-- currencies and sales: the JSON of kassa_core::pricing::PriceSheet's two maps.
CREATE TABLE prices (
    id UUID PRIMARY KEY,
    pricebook_id UUID NOT NULL REFERENCES pricebooks (id) ON DELETE CASCADE,
    sku TEXT NOT NULL,
    external_ref TEXT,
    currencies JSONB NOT NULL,
    sales JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX prices_pricebook_sku_key ON prices (pricebook_id, sku);

CREATE TABLE currencies (
    id UUID PRIMARY KEY,
    code TEXT NOT NULL,
    exchange_rate DOUBLE PRECISION NOT NULL,
    format TEXT NOT NULL,
    decimal_point TEXT NOT NULL,
    thousand_separator TEXT NOT NULL,
    decimal_places BIGINT NOT NULL,
    is_default BOOLEAN NOT NULL,
    enabled BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX currencies_code_key ON currencies (code);
-- At most one default; the stores keep it exactly one.
CREATE UNIQUE INDEX currencies_default_key ON currencies (is_default) WHERE is_default;

-- A store starts with USD as its default currency.
INSERT INTO currencies VALUES (
    '00000000-0000-7000-8000-000000000001', 'USD', 1.0, '${price}', '.', ',', 2, TRUE, TRUE,
    (extract(epoch FROM now()) * 1000)::bigint, (extract(epoch FROM now()) * 1000)::bigint
);
