// Catalog administration through the classic client's PXM calls (/pcm/...), unchanged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gateway, MemoryStorageFactory } from '@elasticpath/js-sdk';
import { startKassa } from './kassa.mjs';

let kassa;
let admin;

before(async () => {
  kassa = await startKassa();
  admin = gateway({
    client_id: kassa.clientId,
    client_secret: kassa.clientSecret,
    host: kassa.host,
    protocol: 'http',
    storage: new MemoryStorageFactory(),
  });
});

after(async () => {
  await kassa.stop();
});

test('products, a price book with prices, and a hierarchy with a node holding the product', async () => {
  const product = await admin.PCM.Create({
    attributes: { name: 'Lagavulin 16', sku: 'LAG-16', slug: 'lagavulin-16', commodity_type: 'physical', status: 'live' },
  });
  assert.equal(product.data.type, 'product');
  assert.equal(product.data.attributes.sku, 'LAG-16');
  const fetched = await admin.PCM.Get(product.data.id);
  assert.equal(fetched.data.attributes.name, 'Lagavulin 16');
  const found = await admin.PCM.Filter({ eq: { sku: 'LAG-16' } }).All();
  assert.deepEqual(found.data.map((p) => p.id), [product.data.id]);

  const book = await admin.PriceBooks.Create({ attributes: { name: 'Retail', description: 'List prices' } });
  const price = await admin.PriceBooks.Prices.Create({
    pricebookId: book.data.id,
    body: { attributes: { sku: 'LAG-16', currencies: { USD: { amount: 8999, includes_tax: false } } } },
  });
  assert.equal(price.data.attributes.currencies.USD.amount, 8999);

  const hierarchy = await admin.Hierarchies.Create({ attributes: { name: 'Whisky', slug: 'whisky' } });
  const node = await admin.Hierarchies.Nodes.Create({
    hierarchyId: hierarchy.data.id,
    body: { attributes: { name: 'Islay', slug: 'islay' } },
  });
  await admin.Hierarchies.Relationships.Create({
    hierarchyId: hierarchy.data.id,
    nodeId: node.data.id,
    body: [{ type: 'product', id: product.data.id }],
  });

  await assert.rejects(
    admin.PCM.Create({ attributes: { name: 'Duplicate', sku: 'LAG-16', commodity_type: 'physical' } }),
    (body) => Array.isArray(body.errors) && String(body.errors[0].status) === '409',
  );
  await assert.rejects(
    admin.PriceBooks.Prices.Create({
      pricebookId: book.data.id,
      body: { attributes: { sku: 'NEG', currencies: { USD: { amount: -1, includes_tax: false } } } },
    }),
    (body) => Array.isArray(body.errors) && body.errors.some((e) => /amount/.test(e.source ?? '')),
  );
});

test('currencies', async () => {
  const eur = await admin.Currencies.Create({
    type: 'currency',
    code: 'EUR',
    exchange_rate: 1,
    format: '{price} €',
    decimal_point: ',',
    thousand_separator: '.',
    decimal_places: 2,
    default: false,
    enabled: true,
  });
  assert.equal(eur.data.code, 'EUR');
  const all = await admin.Currencies.All();
  assert.deepEqual(all.data.map((c) => c.code).sort(), ['EUR', 'USD']);
});

test('a catalog published through the classic client, read by a shopper client', async () => {
  const product = await admin.PCM.Create({
    attributes: { name: 'Ardbeg 10', sku: 'ARD-10', slug: 'ardbeg-10', commodity_type: 'physical', status: 'live' },
  });
  const book = await admin.PriceBooks.Create({ attributes: { name: 'Shop' } });
  await admin.PriceBooks.Prices.Create({
    pricebookId: book.data.id,
    body: { attributes: { sku: 'ARD-10', currencies: { USD: { amount: 5499, includes_tax: false } } } },
  });
  const hierarchy = await admin.Hierarchies.Create({ attributes: { name: 'Islay malts' } });
  const node = await admin.Hierarchies.Nodes.Create({
    hierarchyId: hierarchy.data.id,
    body: { attributes: { name: 'Peated' } },
  });
  await admin.Hierarchies.Relationships.Create({
    hierarchyId: hierarchy.data.id,
    nodeId: node.data.id,
    body: [{ type: 'product', id: product.data.id }],
  });

  const catalog = await admin.Catalogs.Create({
    attributes: {
      name: 'Storefront',
      hierarchy_ids: [hierarchy.data.id],
      pricebook_ids: [{ id: book.data.id, priority: 1 }],
    },
  });
  assert.equal(catalog.data.type, 'catalog');
  const release = await admin.Catalogs.Releases.Create({ catalogId: catalog.data.id });
  assert.equal(release.data.meta.release_status, 'PUBLISHED');
  const releases = await admin.Catalogs.Releases.All({ catalogId: catalog.data.id });
  assert.deepEqual(releases.data.map((r) => r.id), [release.data.id]);

  const shopper = gateway({
    client_id: kassa.clientId,
    host: kassa.host,
    protocol: 'http',
    storage: new MemoryStorageFactory(),
  });
  const products = await shopper.ShopperCatalog.Products.All();
  const listed = products.data.find((p) => p.id === product.data.id);
  assert.ok(listed, 'the published product is listed');
  assert.equal(listed.meta.display_price.without_tax.formatted, '$54.99');
  const one = await shopper.ShopperCatalog.Products.Get({ productId: product.data.id });
  assert.equal(one.data.attributes.sku, 'ARD-10');
  assert.equal(one.data.meta.catalog_id, catalog.data.id);
  await assert.rejects(
    shopper.Catalogs.Create({ attributes: { name: 'Not allowed' } }),
    (body) => Array.isArray(body.errors) && String(body.errors[0].status) === '403',
  );
});
