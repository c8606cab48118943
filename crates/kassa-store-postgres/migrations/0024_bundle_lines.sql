-- A bundle line's selected options (kassa_core::bundles::LineBundle), on the cart line and copied
-- to the order item; NULL for any other line. JSONB: the checkout's one-statement read takes the
-- component products whose stock it checks from it.
ALTER TABLE cart_items ADD COLUMN bundle JSONB;
ALTER TABLE order_items ADD COLUMN bundle JSONB;
-- A tax item on one component product of a bundle line (Elastic Path's bundle component taxes);
-- NULL for a tax on the whole line.
ALTER TABLE cart_tax_items ADD COLUMN component_product_id UUID;
