-- A bundle line's selected options (kassa_core::bundles::LineBundle), on the cart line and copied
-- to the order item; NULL for any other line. JSONB: the checkout's one-statement read takes the
-- component products whose stock it checks from it.
ALTER TABLE cart_items ADD COLUMN bundle JSONB;
ALTER TABLE order_items ADD COLUMN bundle JSONB;
