// Multi-location inventory as Elastic Path's reference storefront uses it, through the generated
// @epcc-sdk/sdks-shopper with the storefront's request interceptor (`EP-Inventories-Multi-Location:
// true` on every request): the product page's getStock and listLocations, then add to cart with a
// location and the cart's quantity update, which sends the line's location back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gateway, MemoryStorageFactory } from '@elasticpath/js-sdk';
import { createShopperClient, getStock, listLocations, manageCarts, updateACartItem, getACart } from '@epcc-sdk/sdks-shopper';
import { startKassa, memoryStorage } from './kassa.mjs';

let kassa;
let productId;

/// A call as the admin (client_credentials), with the multi-location header.
async function admin(method, path, body) {
  const token = await fetch(`${kassa.baseUrl}/oauth/access_token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: kassa.clientId, client_secret: kassa.clientSecret }),
  }).then((r) => r.json());
  const res = await fetch(`${kassa.baseUrl}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${token.access_token}`,
      'Content-Type': 'application/json',
      'EP-Inventories-Multi-Location': 'true',
    },
    body: body && JSON.stringify(body),
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

/// The storefront's client: the shopper SDK with its multi-location interceptor.
function storefrontClient() {
  const { client } = createShopperClient({ baseUrl: kassa.baseUrl }, { clientId: kassa.clientId, storage: memoryStorage() });
  client.interceptors.request.use((request) => {
    request.headers.set('EP-Inventories-Multi-Location', 'true');
    return request;
  });
  return client;
}

before(async () => {
  kassa = await startKassa();
  const classic = gateway({
    client_id: kassa.clientId,
    client_secret: kassa.clientSecret,
    host: kassa.host,
    protocol: 'http',
    storage: new MemoryStorageFactory(),
  });
  const product = await classic.PCM.Create({
    attributes: { name: 'Garden chair', sku: 'CHAIR-1', slug: 'chair-1', commodity_type: 'physical', status: 'live' },
  });
  productId = product.data.id;
  const book = await classic.PriceBooks.Create({ attributes: { name: 'Retail' } });
  await classic.PriceBooks.Prices.Create({
    pricebookId: book.data.id,
    body: { attributes: { sku: 'CHAIR-1', currencies: { USD: { amount: 4500, includes_tax: false } } } },
  });
  const hierarchy = await classic.Hierarchies.Create({ attributes: { name: 'Garden' } });
  const node = await classic.Hierarchies.Nodes.Create({ hierarchyId: hierarchy.data.id, body: { attributes: { name: 'Chairs' } } });
  await classic.Hierarchies.Relationships.Create({ hierarchyId: hierarchy.data.id, nodeId: node.data.id, body: [{ type: 'product', id: productId }] });
  const catalog = await classic.Catalogs.Create({
    attributes: { name: 'Store', hierarchy_ids: [hierarchy.data.id], pricebook_ids: [{ id: book.data.id, priority: 1 }] },
  });
  await classic.Catalogs.Releases.Create({ catalogId: catalog.data.id });
  for (const [name, slug] of [['York Store', 'york'], ['Stevenage Warehouse', 'stevenage']]) {
    await admin('POST', '/v2/inventories/locations', { data: { type: 'inventory_location', attributes: { name, slug } } });
  }
  await admin('POST', '/v2/inventories', {
    data: { type: 'stock', id: productId, attributes: { locations: { york: { available: 1 }, stevenage: { available: 8 } } } },
  });
});

after(async () => {
  await kassa.stop();
});

test('the product page: getStock and listLocations in the multi-location shapes', async () => {
  const client = storefrontClient();
  const [locations, stock] = await Promise.all([
    listLocations({ client }),
    getStock({ client, path: { product_uuid: productId } }),
  ]);
  assert.equal(stock.response.status, 200, JSON.stringify(stock.error));
  const inventory = stock.data.data;
  assert.equal(Number(inventory.attributes.available), 9);
  assert.equal(Number(inventory.attributes.locations.york.available), 1);
  assert.equal(Number(inventory.attributes.locations.stevenage.available), 8);
  assert.equal(locations.response.status, 200, JSON.stringify(locations.error));
  // The location selector: each stock location's name found by its slug.
  for (const slug of Object.keys(inventory.attributes.locations)) {
    const details = locations.data.data.find((l) => l.attributes.slug === slug);
    assert.ok(details?.attributes?.name, slug);
  }
});

test('add to cart with a location, then the quantity update the cart page sends', async () => {
  const client = storefrontClient();
  const cartID = `storefront-${Date.now()}`;
  const short = await manageCarts({ client, path: { cartID }, body: { data: { type: 'cart_item', id: productId, quantity: 2, location: 'york' } } });
  assert.equal(short.response.status, 400);
  assert.equal(short.error.errors[0].title, 'Insufficient stock');
  const added = await manageCarts({ client, path: { cartID }, body: { data: { type: 'cart_item', id: productId, quantity: 2, location: 'stevenage' } } });
  assert.equal(added.response.status, 201, JSON.stringify(added.error));
  const item = added.data.data[0];
  assert.equal(item.location, 'stevenage');
  const updated = await updateACartItem({
    client,
    path: { cartID, cartitemID: item.id },
    body: { data: { id: item.id, quantity: 3, location: item.location } },
  });
  assert.equal(updated.response.status, 200, JSON.stringify(updated.error));
  const cart = await getACart({ client, path: { cartID }, query: { include: ['items'] } });
  assert.equal(cart.data.included.items[0].quantity, 3);
  assert.equal(cart.data.included.items[0].location, 'stevenage');
  const unknown = await manageCarts({ client, path: { cartID }, body: { data: { type: 'cart_item', id: productId, quantity: 1, location: 'leeds' } } });
  assert.equal(unknown.response.status, 400);
  assert.equal(unknown.error.errors[0].source, 'data.location');
});
