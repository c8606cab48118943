-- A bundle line's selected options (kassa_core::bundles::LineBundle) as compact JSON, on the cart
-- line and copied to the order item; NULL for any other line. The stock a bundle line takes is
-- its components' (read from here at checkout and when the order's stock moves).
ALTER TABLE cart_items ADD COLUMN bundle TEXT;
ALTER TABLE order_items ADD COLUMN bundle TEXT;
-- A tax item on one component product of a bundle line (Elastic Path's bundle component taxes);
-- NULL for a tax on the whole line.
ALTER TABLE cart_tax_items ADD COLUMN component_product_id TEXT;
