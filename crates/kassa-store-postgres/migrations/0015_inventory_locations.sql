-- Multi-location inventory (Elastic Path's `EP-Inventories-Multi-Location: true` API).
--
-- A product's stock is a set of positions, each with its own available and allocated levels:
-- the `inventories` row is the position kept outside any location (all of a product's stock
-- when the store uses no locations, so the basic API and every existing path work on it as
-- before), and `stock_positions` holds one row per location the product is stocked at. A
-- product's totals are the sum of its positions; nothing derived is stored. Every stock move
-- changes exactly one position with one conditional UPDATE, guarded by that row's CHECKs.
CREATE TABLE inventory_locations (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    external_ref TEXT,
    description TEXT,
    -- A JSON array of address lines, or NULL.
    address JSONB,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);
CREATE UNIQUE INDEX inventory_locations_slug ON inventory_locations (slug);
CREATE INDEX inventory_locations_created ON inventory_locations (created_at, id);

-- A location's position of a product's stock. Deleted with the product's stock record; a
-- location cannot be deleted while a position there holds stock (the foreign key refuses).
CREATE TABLE stock_positions (
    product_id UUID NOT NULL REFERENCES inventories (product_id) ON DELETE CASCADE,
    location_id UUID NOT NULL REFERENCES inventory_locations (id),
    available BIGINT NOT NULL CHECK (available >= 0),
    allocated BIGINT NOT NULL CHECK (allocated >= 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (product_id, location_id)
);
CREATE INDEX stock_positions_location ON stock_positions (location_id);

-- A transaction names the slug of the location it moved (as the slug was then); `set` (the
-- multi-location API's "set the total") joins the four actions and may set a total of 0.
ALTER TABLE stock_transactions ADD COLUMN location TEXT;
ALTER TABLE stock_transactions DROP CONSTRAINT stock_transactions_action_check;
ALTER TABLE stock_transactions ADD CONSTRAINT stock_transactions_action_check
    CHECK (action IN ('increment', 'decrement', 'allocate', 'deallocate', 'set'));
ALTER TABLE stock_transactions DROP CONSTRAINT stock_transactions_quantity_check;
ALTER TABLE stock_transactions ADD CONSTRAINT stock_transactions_quantity_check
    CHECK (quantity > 0 OR (action = 'set' AND quantity = 0));

-- The stock location (slug) a cart line draws from; an order item keeps the slug it was
-- checked out with and the location's id, which its stock moves use (a later rename of the
-- slug does not lose them).
ALTER TABLE cart_items ADD COLUMN location TEXT;
ALTER TABLE order_items ADD COLUMN location TEXT;
ALTER TABLE order_items ADD COLUMN location_id UUID;
