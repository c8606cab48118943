-- Stock per product. Products are referenced by id only (no foreign key: the catalog lives
-- elsewhere). `total` is not stored: it is always available + allocated, so it cannot drift.
-- The CHECKs are the last line of defence; every change is a conditional UPDATE that refuses
-- to take a level below zero.
CREATE TABLE inventories (
    product_id UUID PRIMARY KEY,
    available BIGINT NOT NULL CHECK (available >= 0),
    allocated BIGINT NOT NULL CHECK (allocated >= 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX inventories_created ON inventories (created_at, product_id);

-- The history of each stock record; deleted with it.
CREATE TABLE stock_transactions (
    id UUID PRIMARY KEY,
    product_id UUID NOT NULL REFERENCES inventories (product_id) ON DELETE CASCADE,
    action TEXT NOT NULL CHECK (action IN ('increment', 'decrement', 'allocate', 'deallocate')),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    created_at BIGINT NOT NULL
);
CREATE INDEX stock_transactions_product ON stock_transactions (product_id, created_at, id);
