-- A product's build rules (kassa_core::variations::BuildRules) as JSON; NULL when it has none.
ALTER TABLE products ADD COLUMN build_rules JSONB;

-- Each product a bundle's components name as an option, once per bundle, written with the
-- bundle. The foreign key on product_id is what refuses deleting a product a bundle uses (and a
-- parent whose child one uses), however the delete and the bundle's write interleave: the
-- bundle's insert holds a key-share lock on the product row until it commits.
CREATE TABLE bundle_options (
    bundle_id UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    product_id UUID NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
    PRIMARY KEY (bundle_id, product_id)
);
CREATE INDEX bundle_options_product ON bundle_options (product_id);
INSERT INTO bundle_options (bundle_id, product_id)
SELECT DISTINCT p.id, (o.value ->> 'id')::uuid
FROM products AS p, jsonb_each(p.components) AS c, jsonb_array_elements(c.value -> 'options') AS o
WHERE jsonb_typeof(p.components) = 'object'
  AND (o.value ->> 'id')::uuid IN (SELECT id FROM products);
