-- Payments: the order's money figures kept in step with its transactions, the transactions
-- themselves, the gateways' enabled flags, and where a store reserves stock.
ALTER TABLE orders ADD COLUMN paid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN authorized INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN balance_owing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN fully_paid_at INTEGER;
-- Whether the order's stock-managed products are allocated to it right now.
ALTER TABLE orders ADD COLUMN stock_allocated INTEGER NOT NULL DEFAULT 0;
UPDATE orders SET balance_owing = with_tax WHERE payment = 'unpaid';

CREATE TABLE order_transactions (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    gateway TEXT NOT NULL,
    transaction_type TEXT NOT NULL,
    status TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    refunded_amount INTEGER NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
    currency TEXT NOT NULL,
    custom_reference TEXT,
    name TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX order_transactions_order ON order_transactions (order_id, created_at, id);

CREATE TABLE payment_gateways (
    slug TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

ALTER TABLE store_settings ADD COLUMN inventory_reserve_at TEXT NOT NULL DEFAULT 'payment'
    CHECK (inventory_reserve_at IN ('payment', 'checkout'));
