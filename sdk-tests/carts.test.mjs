// Carts through the official clients, unchanged: the classic client invents a cart id and goes
// straight to it; the generated shopper client creates carts with POST /v2/carts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gateway, MemoryStorageFactory } from '@elasticpath/js-sdk';
import { createShopperClient, createACart, manageCarts, getACart } from '@epcc-sdk/sdks-shopper';
import { startKassa, memoryStorage } from './kassa.mjs';

let kassa;
let productId;

const classic = (extra = {}) =>
  gateway({ client_id: kassa.clientId, host: kassa.host, protocol: 'http', storage: new MemoryStorageFactory(), ...extra });

before(async () => {
  kassa = await startKassa();
  const admin = classic({ client_secret: kassa.clientSecret });
  const product = await admin.PCM.Create({
    attributes: { name: 'Oban 14', sku: 'OBAN-14', slug: 'oban-14', commodity_type: 'physical', status: 'live' },
  });
  productId = product.data.id;
  const book = await admin.PriceBooks.Create({ attributes: { name: 'Retail' } });
  await admin.PriceBooks.Prices.Create({
    pricebookId: book.data.id,
    body: { attributes: { sku: 'OBAN-14', currencies: { USD: { amount: 6500, includes_tax: false } } } },
  });
  const hierarchy = await admin.Hierarchies.Create({ attributes: { name: 'Highlands' } });
  const node = await admin.Hierarchies.Nodes.Create({ hierarchyId: hierarchy.data.id, body: { attributes: { name: 'Coastal' } } });
  await admin.Hierarchies.Relationships.Create({
    hierarchyId: hierarchy.data.id,
    nodeId: node.data.id,
    body: [{ type: 'product', id: productId }],
  });
  const catalog = await admin.Catalogs.Create({
    attributes: { name: 'Store', hierarchy_ids: [hierarchy.data.id], pricebook_ids: [{ id: book.data.id, priority: 1 }] },
  });
  await admin.Catalogs.Releases.Create({ catalogId: catalog.data.id });
});

after(async () => {
  await kassa.stop();
});

test('the classic client: an invented cart id, products, custom items, updates', async () => {
  const shopper = classic();
  const cart = shopper.Cart();
  const empty = await cart.Get();
  assert.equal(empty.data.type, 'cart');
  assert.equal(empty.data.meta.display_price.with_tax.amount, 0);

  const added = await cart.AddProduct(productId, 2);
  assert.equal(added.data[0].product_id, productId);
  assert.equal(added.data[0].quantity, 2);
  await cart.AddCustomItem({ type: 'custom_item', name: 'Gift wrap', sku: 'WRAP', quantity: 1, price: { amount: 500 } });
  const items = await cart.Items();
  assert.equal(items.data.length, 2);
  assert.equal(items.meta.display_price.with_tax.amount, 2 * 6500 + 500);

  const line = items.data.find((i) => i.type === 'custom_item');
  const updated = await cart.UpdateItem(line.id, 3);
  assert.equal(updated.data.find((i) => i.id === line.id).quantity, 3);
  const withItems = await cart.With('items').Get();
  assert.equal(withItems.included.items.length, 2);

  await assert.rejects(cart.AddProduct('00000000-0000-0000-0000-000000000001', 1), (body) => body.errors[0].title === 'Product not found');
});

test('the generated shopper client: createACart, manageCarts, getACart', async () => {
  const { client } = createShopperClient({ baseUrl: kassa.baseUrl }, { clientId: kassa.clientId, storage: memoryStorage() });
  const created = await createACart({ client, body: { data: { name: 'Shopper cart' } } });
  assert.equal(created.response.status, 201);
  const cartID = created.data.data.id;
  const added = await manageCarts({ client, path: { cartID }, body: { data: { type: 'cart_item', id: productId, quantity: 1 } } });
  assert.equal(added.response.status, 201, JSON.stringify(added.error));
  const read = await getACart({ client, path: { cartID }, query: { include: ['items'] } });
  assert.equal(read.data.data.name, 'Shopper cart');
  assert.equal(read.data.included.items[0].unit_price.amount, 6500);
  const bad = await manageCarts({ client, path: { cartID }, body: { data: { type: 'cart_item', id: productId, quantity: -1 } } });
  assert.equal(bad.response.status, 400);
  assert.ok(Array.isArray(bad.error.errors));
});

test('the classic client: custom discounts on a cart and on a line, as an admin', async () => {
  const admin = classic({ client_secret: kassa.clientSecret });
  const cart = admin.Cart('sdk-custom-discounts');
  await cart.UpdateCart({ discount_settings: { custom_discounts_enabled: true } });
  await cart.AddCustomItem({ type: 'custom_item', name: 'Dram', sku: 'DRAM', quantity: 2, price: { amount: 1000, includes_tax: false } });
  const items = await cart.Items();
  const line = items.data.find((i) => i.sku === 'DRAM');
  const onCart = await cart.AddCartCustomDiscount({
    external_id: 'talon-1', discount_engine: 'Talon.one', description: 'Loyalty', discount_code: 'LOYAL', amount: -300,
  });
  assert.equal(onCart.data.type, 'custom_discount');
  assert.equal(onCart.data.amount.amount, -300);
  // The classic client sends this one to `…/items/{id}//custom-discounts`.
  const onLine = await cart.AddItemCustomDiscount(line.id, {
    external_id: 'talon-2', discount_engine: 'Talon.one', description: 'Line', discount_code: 'LINE', amount: -200,
  });
  assert.equal(onLine.data.relationships.item.data.id, line.id);
  const read = await cart.With('custom_discounts').Get();
  assert.equal(read.data.meta.display_price.discount.amount, -500);
  assert.equal(read.data.meta.display_price.with_tax.amount, 1500);
  assert.equal(read.included.custom_discounts.length, 2);
  const updated = await cart.UpdateCartCustomDiscount(onCart.data.id, { amount: -100 });
  assert.equal(updated.data.amount.amount, -100);
  await cart.RemoveItemCustomDiscount(line.id, onLine.data.id);
  await cart.RemoveCartCustomDiscount(onCart.data.id);
  const after = await cart.Get();
  assert.equal(after.data.meta.display_price.with_tax.amount, 2000);
  // A shopper may not set them.
  await assert.rejects(
    classic().Cart('sdk-custom-discounts').AddCartCustomDiscount({ external_id: 'x', discount_engine: 'x', description: 'x', discount_code: 'x', amount: -1 }),
    (body) => body.errors[0].status === 403 || body.errors[0].status === '403',
  );
});
