-- A bundle's components (kassa_core::bundles::Components) as JSON; NULL for any other product.
ALTER TABLE products ADD COLUMN components TEXT;
