// kassa in a storefront's test suite (README "kassa in your test suite"): a fault rule makes the
// store answer Elastic Path's 429 twice, the official client retries by itself, and the request
// journal shows what it sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gateway, MemoryStorageFactory } from '@elasticpath/js-sdk';
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
