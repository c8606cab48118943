-- A product line's picture (Elastic Path's cart item `image`): the product's main image as the
-- published catalog had it when the line was last added to, as compact JSON
-- (`{"file_id","file_name","mime_type","location"?}`), copied like the line's name so a cart
-- renders with no file read. NULL for custom items and products without a main image.
ALTER TABLE cart_items ADD COLUMN image TEXT;
