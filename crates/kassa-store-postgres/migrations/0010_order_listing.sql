-- Indexes for GET /v2/orders at a million orders. Each list shape clients use is an index whose
-- prefix is the equality (the caller's account or customer, a status, an email) followed by the
-- sort key and the id tie-breaker, so a page is read in order and the scan stops after the page:
-- no sort of the matching set. The 0009 indexes without the id are replaced.
DROP INDEX orders_account;
DROP INDEX orders_customer;
DROP INDEX orders_created;
CREATE INDEX orders_account_created ON orders (account_id, created_at, id);
CREATE INDEX orders_customer_created ON orders (customer_id, created_at, id);
CREATE INDEX orders_created ON orders (created_at, id);
CREATE INDEX orders_updated ON orders (updated_at, id);
CREATE INDEX orders_status_created ON orders (status, created_at, id);
CREATE INDEX orders_payment_created ON orders (payment, created_at, id);
CREATE INDEX orders_shipping_created ON orders (shipping, created_at, id);
CREATE INDEX orders_customer_email ON orders (customer_email, created_at, id);
CREATE INDEX orders_contact_email ON orders (contact_email, created_at, id);
CREATE INDEX orders_order_number ON orders (order_number);
CREATE INDEX orders_external_ref ON orders (external_ref);
-- product_id / product_sku filters: the orders having such an item.
CREATE INDEX order_items_product ON order_items (product_id, order_id);
CREATE INDEX order_items_sku ON order_items (sku, order_id);
