-- A product's build rules (kassa_core::variations::BuildRules) as JSON; NULL when it has none.
ALTER TABLE products ADD COLUMN build_rules TEXT;

-- Each product a bundle's components name as an option, once per bundle, written with the
-- bundle. The foreign key on product_id is what refuses deleting a product a bundle uses (and a
-- parent whose child one uses), however the delete and the bundle's write interleave.
CREATE TABLE bundle_options (
    bundle_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
    PRIMARY KEY (bundle_id, product_id)
);
CREATE INDEX bundle_options_product ON bundle_options (product_id);
INSERT INTO bundle_options (bundle_id, product_id)
SELECT DISTINCT p.id, json_extract(o.value, '$.id')
FROM products AS p, json_each(p.components) AS c, json_each(c.value, '$.options') AS o
WHERE p.components IS NOT NULL
  AND json_extract(o.value, '$.id') IN (SELECT id FROM products);
