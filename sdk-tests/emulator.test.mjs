// kassa in a storefront's test suite (README "kassa in your test suite"): a fault rule makes the
// store answer Elastic Path's 429 twice, the official client retries by itself, and the request
// journal shows what it sent; and two tests, each on a store of its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gateway, MemoryStorageFactory } from '@elasticpath/js-sdk';
import { readFile } from 'node:fs/promises';
import { startKassa } from './kassa.mjs';

let kassa;
let admin;

// kassa's own endpoints: plain HTTP calls with an admin token.
async function kassaCall(method, path, body) {
  const res = await fetch(`${kassa.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: body && JSON.stringify({ data: body }),
  });
  return res.status === 204 ? null : res.json();
}

before(async () => {
  kassa = await startKassa();
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: kassa.clientId, client_secret: kassa.clientSecret });
  admin = (await (await fetch(`${kassa.baseUrl}/oauth/access_token`, { method: 'POST', body: form })).json()).access_token;
});

after(async () => {
  await kassa.stop();
});

test("the classic client retries Elastic Path's 429, and the journal shows each attempt", async () => {
  const store = '/_kassa/stores/default';
  await kassaCall('DELETE', `${store}/requests`);
  const rule = await kassaCall('POST', `${store}/faults`, {
    route: '/v2/carts/*/items', method: 'POST', status: 429, times: 2,
  });
  assert.equal(rule.data.meta.fired, 0);

  const shopper = gateway({
    client_id: kassa.clientId, host: kassa.host, protocol: kassa.protocol,
    storage: new MemoryStorageFactory(), retryDelay: 10, retryJitter: 10,
  });
  const added = await shopper.Cart('retried').AddCustomItem({
    type: 'custom_item', name: 'Gift wrap', sku: 'WRAP', quantity: 1, price: { amount: 500 },
  });
  assert.equal(added.data[0].quantity, 1, 'added once, after two refusals');

  const journal = await kassaCall('GET', `${store}/requests?route=/v2/carts/{id}/items`);
  assert.deepEqual(journal.data.map((r) => r.status), [201, 429, 429], 'newest first');
  assert.equal(journal.data[1].fault_id, rule.data.id);
  assert.equal(JSON.parse(journal.data[0].request.body).data.sku, 'WRAP');
  assert.equal(journal.data[0].request.headers.authorization, '[redacted]');

  const counted = await kassaCall('GET', `${store}/faults/${rule.data.id}`);
  assert.equal(counted.data.meta.fired, 2);
  await kassaCall('DELETE', `${store}/faults`);
});

// A store per test: each test makes its own store and points the unchanged SDK at it by its
// client id; the stores share nothing, and deleting one removes everything it held.
async function newStore(data = {}) {
  const store = (await kassaCall('POST', '/_kassa/stores', data)).data;
  const sdk = (credentials) => gateway({
    ...credentials, host: kassa.host, protocol: kassa.protocol, storage: new MemoryStorageFactory(),
  });
  return {
    id: store.id,
    shopper: sdk({ client_id: store.client_id }),
    admin: sdk({ client_id: store.client_id, client_secret: store.client_secret }),
  };
}

test('two per-test stores, each with the official SDK, see nothing of each other', async () => {
  const [a, b] = [await newStore(), await newStore()];
  await a.shopper.Cart('shared-name').AddCustomItem({
    type: 'custom_item', name: 'Only in A', sku: 'A-ONLY', quantity: 2, price: { amount: 700 },
  });
  await a.admin.Customers.Create({ type: 'customer', name: 'Ada', email: 'ada@example.com' });

  const inA = await a.shopper.Cart('shared-name').Items();
  assert.deepEqual(inA.data.map((i) => [i.sku, i.quantity]), [['A-ONLY', 2]]);
  const inB = await b.shopper.Cart('shared-name').Items();
  assert.deepEqual(inB.data, [], "B has a cart of that name only as Elastic Path makes one: empty");
  assert.equal((await a.admin.Customers.All()).data.length, 1);
  assert.equal((await b.admin.Customers.All()).data.length, 0);

  // Each store's journal holds its own requests.
  const journalOf = async (id) => (await kassaCall('GET', `/_kassa/stores/${id}/requests?route=/v2/carts/{id}/items`)).data;
  assert.deepEqual((await journalOf(a.id)).map((r) => r.method), ['GET', 'POST']);
  assert.deepEqual((await journalOf(b.id)).map((r) => r.method), ['GET']);

  await kassaCall('DELETE', `/_kassa/stores/${a.id}`);
  await kassaCall('DELETE', `/_kassa/stores/${b.id}`);
  const left = (await kassaCall('GET', '/_kassa/stores')).data.map((s) => s.id);
  assert.deepEqual(left, ['default']);
});

// Snapshots: a store made from a fixture (kassa's own demo store, a fixture file like any export)
// serves its catalog to the unchanged SDK, and its export makes an identical store.
test('a store made from a fixture serves it to the SDK and exports the same bytes', async () => {
  const demo = JSON.parse(await readFile(new URL('../crates/kassa/fixtures/demo.json', import.meta.url)));
  const store = await newStore({ fixture: demo });
  const products = await store.shopper.ShopperCatalog.Products.All();
  assert.deepEqual(products.data.map((p) => p.attributes.sku).sort(), ['DEMO-HOODIE', 'DEMO-MUG', 'DEMO-TEE']);

  const exported = async (id) => (await fetch(`${kassa.baseUrl}/_kassa/stores/${id}/export`, {
    headers: { authorization: `Bearer ${admin}` },
  })).text();
  const snapshot = await exported(store.id);
  const copy = await newStore({ fixture: JSON.parse(snapshot) });
  assert.equal(await exported(copy.id), snapshot);
  for (const s of [store, copy]) await kassaCall('DELETE', `/_kassa/stores/${s.id}`);
});
