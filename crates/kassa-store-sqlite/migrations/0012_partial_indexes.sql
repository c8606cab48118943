-- Indexes on columns that are NULL for most rows hold only the rows with a value: an account's
-- order has no customer and a guest's no account, a new order has no order number or external
-- reference, an account's cart has no customer. Every lookup names a value (`col = ?`, which
-- implies NOT NULL), so it still uses them, and a write no longer touches a b-tree per NULL column.
DROP INDEX orders_account_created;
DROP INDEX orders_customer_created;
DROP INDEX orders_order_number;
DROP INDEX orders_external_ref;
DROP INDEX order_items_product;
DROP INDEX carts_account;
DROP INDEX carts_customer;
CREATE INDEX orders_account_created ON orders (account_id, created_at, id) WHERE account_id IS NOT NULL;
CREATE INDEX orders_customer_created ON orders (customer_id, created_at, id) WHERE customer_id IS NOT NULL;
CREATE INDEX orders_order_number ON orders (order_number) WHERE order_number IS NOT NULL;
CREATE INDEX orders_external_ref ON orders (external_ref) WHERE external_ref IS NOT NULL;
CREATE INDEX order_items_product ON order_items (product_id, order_id) WHERE product_id IS NOT NULL;
CREATE INDEX carts_account ON carts (account_id, updated_at) WHERE account_id IS NOT NULL;
CREATE INDEX carts_customer ON carts (customer_id, updated_at) WHERE customer_id IS NOT NULL;
