-- Multi-location inventory (Elastic Path's `EP-Inventories-Multi-Location: true` API).
--
-- A product's stock is a set of positions, each with its own available and allocated levels:
-- the `inventories` row is the position kept outside any location (all of a product's stock
-- when the store uses no locations, so the basic API and every existing path work on it as
-- before), and `stock_positions` holds one row per location the product is stocked at. A
-- product's totals are the sum of its positions; nothing derived is stored. Every stock move
-- changes exactly one position with one conditional UPDATE, guarded by that row's CHECKs.
CREATE TABLE inventory_locations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    external_ref TEXT,
    description TEXT,
    -- A JSON array of address lines, or NULL.
    address TEXT,
    latitude REAL,
    longitude REAL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);
CREATE UNIQUE INDEX inventory_locations_slug ON inventory_locations (slug);
CREATE INDEX inventory_locations_created ON inventory_locations (created_at, id);

-- A location's position of a product's stock. Deleted with the product's stock record; a
-- location cannot be deleted while a position there holds stock (the foreign key refuses).
CREATE TABLE stock_positions (
    product_id TEXT NOT NULL REFERENCES inventories (product_id) ON DELETE CASCADE,
    location_id TEXT NOT NULL REFERENCES inventory_locations (id),
    available INTEGER NOT NULL CHECK (available >= 0),
    allocated INTEGER NOT NULL CHECK (allocated >= 0),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (product_id, location_id)
) WITHOUT ROWID;
CREATE INDEX stock_positions_location ON stock_positions (location_id);

-- A transaction names the slug of the location it moved (as the slug was then); `set` (the
-- multi-location API's "set the total") joins the four actions and may set a total of 0.
-- SQLite cannot change a CHECK in place: the table is rebuilt with its rows.
CREATE TABLE stock_transactions_new (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES inventories (product_id) ON DELETE CASCADE,
    action TEXT NOT NULL CHECK (action IN ('increment', 'decrement', 'allocate', 'deallocate', 'set')),
    quantity INTEGER NOT NULL CHECK (quantity > 0 OR (action = 'set' AND quantity = 0)),
    created_at INTEGER NOT NULL,
    location TEXT
);
INSERT INTO stock_transactions_new (id, product_id, action, quantity, created_at)
    SELECT id, product_id, action, quantity, created_at FROM stock_transactions;
DROP TABLE stock_transactions;
ALTER TABLE stock_transactions_new RENAME TO stock_transactions;
CREATE INDEX stock_transactions_product ON stock_transactions (product_id, created_at, id);

-- The stock location (slug) a cart line draws from; an order item keeps the slug it was
-- checked out with and the location's id, which its stock moves use (a later rename of the
-- slug does not lose them).
ALTER TABLE cart_items ADD COLUMN location TEXT;
ALTER TABLE order_items ADD COLUMN location TEXT;
ALTER TABLE order_items ADD COLUMN location_id TEXT;
