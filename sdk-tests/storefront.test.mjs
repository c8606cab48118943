// Elastic Path's reference storefront (elasticpath/composable-frontend, examples/core, read at
// commit 8bb8d40c) replayed against kassa through @epcc-sdk/sdks-shopper: the same operations,
// paths, query strings, headers and bodies its middleware, pages and server actions send, in the
// order a shopper meets them. Nothing of the storefront's code is used here; its client set-up is
// reproduced: every request carries the implicit token from the credentials cookie, the selected
// account's token from the account member cookie once logged in, and
// `EP-Inventories-Multi-Location: true`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gateway, MemoryStorageFactory } from '@elasticpath/js-sdk';
import {
  createClient,
  createAnAccessToken,
  createACart,
  getAllCurrencies,
  getByContextAllHierarchies,
  getByContextHierarchyChildNodes,
  getByContextHierarchyNodes,
  getByContextAllProducts,
  getByContextProduct,
  getByContextChildProducts,
  getStock,
  listLocations,
  getAllFiles,
  manageCarts,
  updateACartItem,
  getACart,
  deleteAPromotionViaPromotionCode,
  checkoutApi,
  paymentSetup,
  deleteAllCartItems,
  postV2AccountMembersTokens,
  getV2AccountsAccountId,
  getV2AccountMembersAccountMemberId,
  putV2AccountsAccountId,
  getV2AccountAddresses,
  getV2AccountAddress,
  postV2AccountAddress,
  putV2AccountAddress,
  deleteV2AccountAddress,
  getCustomerOrders,
  getAnOrder,
  postMultiSearch,
  configureByContextProduct,
} from '@epcc-sdk/sdks-shopper';
import { startKassa } from './kassa.mjs';

let kassa;
let store;

// A 1×1 PNG and a one-page PDF, as a merchant uploads them.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n');

/// The admin's calls (client_credentials), JSON or a multipart form.
async function admin(method, path, body) {
  if (!store.adminToken) {
    const token = await fetch(`${kassa.baseUrl}/oauth/access_token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: kassa.clientId, client_secret: kassa.clientSecret }),
    }).then((r) => r.json());
    store.adminToken = token.access_token;
  }
  const form = body instanceof FormData;
  const res = await fetch(`${kassa.baseUrl}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${store.adminToken}`,
      'EP-Inventories-Multi-Location': 'true',
      ...(body && !form ? { 'Content-Type': 'application/json' } : {}),
    },
    body: form ? body : body && JSON.stringify(body),
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
  return res.status === 204 ? null : res.json();
}

async function upload(bytes, type, name) {
  const form = new FormData();
  form.append('file', new Blob([bytes], { type }), name);
  return (await admin('POST', '/v2/files', form)).data;
}

/// A shopper's browser: the storefront's cookies.
class Cookies extends Map {}

/// The storefront's API client: the shopper SDK with its request interceptors, reading the
/// credentials from the cookies at each request as the storefront's Next.js middleware does.
function storefrontClient(cookies) {
  const client = createClient({ baseUrl: kassa.baseUrl });
  client.interceptors.request.use((request) => {
    const credentials = cookies.get('_store_ep_credentials');
    if (credentials && !request.headers.has('Authorization')) {
      request.headers.set('Authorization', `Bearer ${JSON.parse(credentials).access_token}`);
    }
    const member = cookies.get('_store_ep_account_member_token');
    if (member) {
      const { accounts, selected } = JSON.parse(member);
      const token = accounts[selected]?.token;
      if (token) request.headers.set('EP-Account-Management-Authentication-Token', token);
    }
    request.headers.set('EP-Inventories-Multi-Location', 'true');
    return request;
  });
  return client;
}

/// The storefront's middleware on a first visit: an implicit token, then a cart for the cookie.
async function firstVisit() {
  const cookies = new Cookies();
  const auth = await createAnAccessToken({ baseUrl: kassa.baseUrl, body: { grant_type: 'implicit', client_id: kassa.clientId } });
  assert.equal(auth.response.status, 200, JSON.stringify(auth.error));
  assert.ok(new Date(auth.data.expires * 1000) > new Date(), 'expires is in epoch seconds');
  cookies.set('_store_ep_credentials', JSON.stringify({ ...auth.data, client_id: kassa.clientId }));
  const cart = await createACart({
    baseUrl: kassa.baseUrl,
    headers: { Authorization: `Bearer ${auth.data.access_token}` },
    body: { data: { name: 'Cart' } },
  });
  assert.equal(cart.response.status, 201, JSON.stringify(cart.error));
  assert.ok(new Date(cart.data.data.meta.timestamps.expires_at) > new Date(), 'the cart cookie expires with the cart');
  cookies.set('_store_ep_cart', cart.data.data.id);
  return { cookies, client: storefrontClient(cookies) };
}

const shopperHeaders = { 'Accept-Language': 'en', 'X-Moltin-Currency': 'USD' };

/// The checkout form's shipping address, empty optional inputs sent as the form has them.
const formAddress = {
  first_name: 'Ann',
  last_name: 'Perkins',
  company_name: '',
  line_1: '12 Elm Street',
  line_2: '',
  city: 'Pawnee',
  county: '',
  region: 'IN',
  postcode: '47998',
  country: 'US',
  phone_number: '',
  instructions: '',
};

before(async () => {
  kassa = await startKassa();
  store = {};
  const classic = gateway({
    client_id: kassa.clientId,
    client_secret: kassa.clientSecret,
    host: kassa.host,
    protocol: kassa.protocol,
    storage: new MemoryStorageFactory(),
  });

  // Navigation: a hierarchy with two top-level nodes, one of them with a child.
  const hierarchy = await classic.Hierarchies.Create({ attributes: { name: 'Kitchen', slug: 'kitchen' } });
  const node = (name, parent) =>
    classic.Hierarchies.Nodes.Create({
      hierarchyId: hierarchy.data.id,
      body: {
        attributes: { name, slug: name.toLowerCase() },
        ...(parent ? { relationships: { parent: { data: { type: 'node', id: parent } } } } : {}),
      },
    });
  const mugs = await node('Mugs');
  const espresso = await node('Espresso', mugs.data.id);
  const pots = await node('Pots');
  store.hierarchyId = hierarchy.data.id;

  // Two products with images, prices (the mug with a volume tier) and stock at two locations.
  const product = async (name, sku, nodeId, amount, tiers) => {
    const p = await classic.PCM.Create({
      attributes: { name, sku, slug: sku.toLowerCase(), description: `The ${name}`, commodity_type: 'physical', status: 'live' },
    });
    await classic.Hierarchies.Relationships.Create({ hierarchyId: hierarchy.data.id, nodeId, body: [{ type: 'product', id: p.data.id }] });
    const image = await upload(PNG, 'image/png', `${sku}.png`);
    await admin('POST', `/pcm/products/${p.data.id}/relationships/main_image`, { data: { type: 'file', id: image.id } });
    await classic.PriceBooks.Prices.Create({
      pricebookId: store.bookId,
      body: { attributes: { sku, currencies: { USD: { amount, includes_tax: false, ...(tiers ? { tiers } : {}) } } } },
    });
    return { id: p.data.id, imageId: image.id, imageHref: image.link.href };
  };
  store.bookId = (await classic.PriceBooks.Create({ attributes: { name: 'Retail' } })).data.id;
  store.mug = await product('Blue Mug', 'MUG-BLUE', mugs.data.id, 1000, { six: { minimum_quantity: 6, amount: 800 } });
  store.pot = await product('Tea Pot', 'POT-TEA', pots.data.id, 3000);
  store.cup = await product('Espresso Cup', 'CUP-ESPRESSO', espresso.data.id, 600);
  // A bundle without a price of its own (priced by the shopper's selection): the pot, and two
  // mugs (the default) or two espresso cups.
  const option = (p, quantity, isDefault) => ({ id: p.id, type: 'product', quantity, default: isDefault });
  const set = await admin('POST', '/pcm/products', {
    data: {
      type: 'product',
      attributes: {
        name: 'Breakfast Set', sku: 'SET-BREAKFAST', slug: 'set-breakfast', description: 'A pot and two cups',
        commodity_type: 'physical', status: 'live',
        components: {
          pot: { name: 'Pot', min: 1, max: 1, sort_order: 1, options: [option(store.pot, 1, true)] },
          cups: { name: 'Cups', min: 1, max: 1, sort_order: 2, options: [option(store.mug, 2, true), option(store.cup, 2, false)] },
        },
      },
    },
  });
  await classic.Hierarchies.Relationships.Create({ hierarchyId: hierarchy.data.id, nodeId: pots.data.id, body: [{ type: 'product', id: set.data.id }] });
  const setImage = await upload(PNG, 'image/png', 'SET-BREAKFAST.png');
  await admin('POST', `/pcm/products/${set.data.id}/relationships/main_image`, { data: { type: 'file', id: setImage.id } });
  store.set = { id: set.data.id };
  const manual = await upload(PDF, 'application/pdf', 'care.pdf');
  await admin('POST', `/pcm/products/${store.mug.id}/relationships/files`, { data: [{ type: 'file', id: manual.id }] });
  store.manualId = manual.id;
  for (const [name, slug] of [['York Store', 'york'], ['Leeds Warehouse', 'leeds']]) {
    await admin('POST', '/v2/inventories/locations', { data: { type: 'inventory_location', attributes: { name, slug } } });
  }
  for (const p of [store.mug, store.pot, store.cup]) {
    await admin('POST', '/v2/inventories', {
      data: { type: 'stock', id: p.id, attributes: { locations: { york: { available: 2 }, leeds: { available: 20 } } } },
    });
  }
  const catalog = await classic.Catalogs.Create({
    attributes: { name: 'Store', hierarchy_ids: [hierarchy.data.id], pricebook_ids: [{ id: store.bookId, priority: 1 }] },
  });
  await classic.Catalogs.Releases.Create({ catalogId: catalog.data.id });
  store.catalogId = catalog.data.id;
  await classic.Gateways.Enabled('manual', true);

  // An account with a member who logs in with the storefront's password profile.
  const settings = await classic.AccountAuthenticationSettings.Get();
  const realmId = settings.data.relationships.authentication_realm.data.id;
  const profile = await classic.PasswordProfile.Create(realmId, {
    data: { type: 'password_profile', name: 'storefront', username_format: 'email', enable_one_time_password_token: false },
  });
  store.passwordProfileId = profile.data.id;
  const user = await classic.UserAuthenticationInfo.Create(realmId, {
    data: { type: 'user_authentication_info', name: 'Ann Perkins', email: 'ann@perkins.example' },
  });
  await classic.UserAuthenticationPasswordProfile.Create(realmId, user.data.id, {
    data: {
      type: 'user_authentication_password_profile_info',
      password_profile_id: profile.data.id,
      username: 'ann@perkins.example',
      password: 'nurse-perkins-1',
    },
  });
  const account = await classic.Accounts.Create({ type: 'account', name: 'Perkins Clinic', legal_name: 'Perkins Clinic' });
  await classic.AccountMemberships.Create(account.data.id, { type: 'account_membership', account_member_id: user.data.id });
  store.accountId = account.data.id;
  store.memberId = user.data.id;
});

after(async () => {
  await kassa.stop();
});

test('home: the navigation and the featured products with their main images', async () => {
  const { client } = await firstVisit();
  const hierarchies = await getByContextAllHierarchies({ client });
  assert.equal(hierarchies.response.status, 200, JSON.stringify(hierarchies.error));
  const [kitchen] = hierarchies.data.data;
  assert.equal(kitchen.attributes.name, 'Kitchen');
  const top = await getByContextHierarchyChildNodes({ client, path: { hierarchy_id: kitchen.id } });
  const all = await getByContextHierarchyNodes({ client, path: { hierarchy_id: kitchen.id } });
  assert.deepEqual(top.data.data.map((n) => n.attributes.name), ['Mugs', 'Pots']);
  const mugs = top.data.data[0];
  const second = all.data.data.filter((n) => n?.relationships?.parent?.data.id === mugs.id);
  assert.deepEqual(second.map((n) => n.attributes.slug), ['espresso']);

  const featured = await getByContextAllProducts({ client, query: { include: ['main_image'] } });
  assert.equal(featured.response.status, 200, JSON.stringify(featured.error));
  const products = featured.data.data.slice(0, 4);
  assert.deepEqual(products.map((p) => p.attributes.sku), ['MUG-BLUE', 'POT-TEA', 'CUP-ESPRESSO', 'SET-BREAKFAST']);
  const images = featured.data.included.main_images;
  for (const p of products) {
    const image = images.find((i) => i.id === p.relationships.main_image.data.id);
    assert.ok(image, `main image of ${p.attributes.sku}`);
    assert.equal(image.meta.dimensions.width, 1);
    // The picture itself, from kassa, as a browser loads it.
    const res = await fetch(image.link.href);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), PNG);
  }
});

test('product page by slug and by id: images, files, stock under the multi-location header', async () => {
  const { client } = await firstVisit();
  const currencies = await getAllCurrencies({ client });
  assert.equal(currencies.response.status, 200, JSON.stringify(currencies.error));
  assert.ok(currencies.data.data.some((c) => c.code === 'USD' && c.default));

  const bySlug = await getByContextAllProducts({
    client,
    query: { filter: 'eq(slug,mug-blue)', include: ['main_image', 'files', 'component_products'] },
    headers: shopperHeaders,
  });
  assert.equal(bySlug.response.status, 200, JSON.stringify(bySlug.error));
  assert.equal(bySlug.data.data.length, 1);
  const product = { data: bySlug.data.data[0], included: bySlug.data.included };
  assert.equal(product.data.id, store.mug.id);
  assert.equal(product.data.meta.product_types[0], 'standard');
  assert.equal(product.data.meta.display_price.without_tax.amount, 1000);
  assert.equal(product.included.main_images[0].id, store.mug.imageId);
  assert.deepEqual(product.included.files.map((f) => [f.id, f.mime_type]), [[store.manualId, 'application/pdf']]);
  assert.deepEqual(product.included.component_products ?? [], []);

  const byId = await getByContextProduct({
    client,
    path: { product_id: store.mug.id },
    query: { include: ['main_image', 'files', 'component_products'] },
    headers: shopperHeaders,
  });
  assert.equal(byId.response.status, 200, JSON.stringify(byId.error));
  assert.equal(byId.data.data.relationships.main_image.data.id, store.mug.imageId);

  const [locations, inventory] = await Promise.all([
    listLocations({ client }),
    getStock({ client, path: { product_uuid: store.mug.id } }),
  ]);
  assert.equal(inventory.response.status, 200, JSON.stringify(inventory.error));
  const stock = inventory.data.data.attributes;
  assert.equal(Number(stock.available), 22);
  assert.equal(Number(stock.locations.york.available), 2);
  const names = Object.fromEntries(locations.data.data.map((l) => [l.attributes.slug, l.attributes.name]));
  assert.deepEqual(names, { york: 'York Store', leeds: 'Leeds Warehouse' });

  // Files by id, as the bundle page looks up its components' images.
  const files = await getAllFiles({ client, query: { filter: `in(id,${store.mug.imageId},${store.pot.imageId})` } });
  assert.equal(files.response.status, 200, JSON.stringify(files.error));
  assert.equal(files.data.data.length, 2);
});

test('a guest adds to the cart, changes the quantity, and checks out with blank optional fields', async () => {
  const { cookies, client } = await firstVisit();
  const cartID = cookies.get('_store_ep_cart');

  // Add to cart from the product page, at a location; six mugs reach the volume tier.
  const added = await manageCarts({
    client,
    path: { cartID },
    body: { data: { type: 'cart_item', id: store.mug.id, quantity: 6, location: 'leeds' } },
    headers: { 'X-Moltin-Currency': 'USD' },
  });
  assert.equal(added.response.status, 201, JSON.stringify(added.error));
  const line = added.data.data[0];
  assert.equal(line.unit_price.amount, 800);
  const tooMany = await manageCarts({
    client,
    path: { cartID },
    body: { data: { type: 'cart_item', id: store.pot.id, quantity: 3, location: 'york' } },
    headers: { 'X-Moltin-Currency': 'USD' },
  });
  assert.equal(tooMany.response.status, 400);
  assert.equal(tooMany.error.errors[0].title, 'Insufficient stock');
  await manageCarts({
    client,
    path: { cartID },
    body: { data: { type: 'cart_item', id: store.pot.id, quantity: 1, location: 'york' } },
    headers: { 'X-Moltin-Currency': 'USD' },
  });

  // The cart page's quantity change: back below the tier, back to the base price.
  const updated = await updateACartItem({
    client,
    path: { cartID, cartitemID: line.id },
    body: { data: { id: line.id, quantity: 2, location: line.location } },
    headers: { 'X-Moltin-Currency': 'USD' },
  });
  assert.equal(updated.response.status, 200, JSON.stringify(updated.error));
  const mugLine = updated.data.data.find((i) => i.id === line.id);
  assert.equal(mugLine.quantity, 2);
  assert.equal(mugLine.unit_price.amount, 1000);

  // The cart sheet: the cart with its items, and their products by id.
  const cart = await getACart({ client, path: { cartID }, query: { include: ['items'] }, headers: shopperHeaders });
  assert.equal(cart.response.status, 200, JSON.stringify(cart.error));
  assert.equal(cart.data.data.meta.display_price.with_tax.amount, 2 * 1000 + 3000);
  // The thumbnails: each line's image.
  const thumbnail = (id) => cart.data.included.items.find((item) => item.product_id === id).image?.href;
  assert.equal(thumbnail(store.mug.id), store.mug.imageHref);
  assert.equal(thumbnail(store.pot.id), store.pot.imageHref);
  const productIds = cart.data.included.items.map((item) => item.product_id).filter(Boolean);
  const details = await getByContextAllProducts({ client, query: { filter: `in(id,${productIds.join(',')})` }, headers: shopperHeaders });
  assert.deepEqual(details.data.data.map((p) => p.id).sort(), [store.mug.id, store.pot.id].sort());

  // Checkout: shipping as a custom item, the guest's order with the form's blank inputs, payment.
  const shipping = await manageCarts({
    client,
    path: { cartID },
    body: { data: { type: 'custom_item', name: 'Shipping', sku: '__shipping_standard', quantity: 1, price: { amount: 500, includes_tax: true } } },
    headers: shopperHeaders,
  });
  assert.equal(shipping.response.status, 201, JSON.stringify(shipping.error));
  const order = await checkoutApi({
    client,
    path: { cartID },
    body: {
      data: {
        customer: { email: 'ann@example.com', name: 'Ann Perkins' },
        billing_address: formAddress,
        shipping_address: formAddress,
      },
    },
    headers: shopperHeaders,
  });
  assert.equal(order.response.status, 201, JSON.stringify(order.error));
  assert.equal(order.data.data.shipping_address.line_1, '12 Elm Street');
  assert.equal(order.data.data.shipping_address.line_2, undefined);
  assert.equal(order.data.data.meta.display_price.with_tax.amount, 2 * 1000 + 3000 + 500);
  const payment = await paymentSetup({
    client,
    path: { orderID: order.data.data.id },
    body: { data: { gateway: 'manual', method: 'purchase' } },
    headers: shopperHeaders,
  });
  assert.equal(payment.response.status, 200, JSON.stringify(payment.error));
  assert.equal(payment.data.data.status, 'complete');

  // The confirmation: the cart's products with their main images, then the cart is emptied.
  const confirmation = await getByContextAllProducts({
    client,
    query: { filter: `in(id,${productIds})`, include: ['main_image'] },
    headers: shopperHeaders,
  });
  assert.equal(confirmation.data.included.main_images.length, 2);
  const emptied = await deleteAllCartItems({ client, path: { cartID }, headers: shopperHeaders });
  assert.ok(emptied.response.ok, JSON.stringify(emptied.error));
  const empty = await getACart({ client, path: { cartID }, query: { include: ['items'] } });
  assert.equal(empty.data.data.meta.display_price.with_tax.amount, 0);
  const emptyLookup = await getByContextAllProducts({ client, query: { filter: 'in(id,)' } });
  assert.deepEqual(emptyLookup.data.data, []);

  // The payment allocated the mugs at Leeds and the pot at York.
  const stock = await admin('GET', `/v2/inventories/${store.mug.id}`);
  assert.equal(Number(stock.data.attributes.locations.leeds.allocated), 2);
  const pot = await admin('GET', `/v2/inventories/${store.pot.id}`);
  assert.equal(Number(pot.data.attributes.locations.york.allocated), 1);
});

test('a guest applies a promotion code, sees the discount, removes it, and checks out with it', async () => {
  // The merchant's promotion: 20 % off the cart with the code SPRING20 (at most 5 uses).
  const promo = await admin('POST', '/v2/rule-promotions', {
    data: {
      type: 'rule_promotion', name: 'Spring sale', description: '20% off', enabled: true,
      rule_set: { actions: [{ strategy: 'cart_discount', args: ['percent', 20] }] },
    },
  });
  await admin('POST', `/v2/rule-promotions/${promo.data.id}/codes`, {
    data: { type: 'promotion_codes', codes: [{ code: 'SPRING20', uses: 5 }] },
  });

  const { cookies, client } = await firstVisit();
  const cartID = cookies.get('_store_ep_cart');
  await manageCarts({
    client,
    path: { cartID },
    body: { data: { type: 'custom_item', name: 'Gift card', sku: 'gift-card', quantity: 2, price: { amount: 2500, includes_tax: true } } },
    headers: shopperHeaders,
  });

  // The cart's promo box: the code as the shopper typed it; a wrong one is refused.
  const wrong = await manageCarts({ client, path: { cartID }, body: { data: { type: 'promotion_item', code: 'WINTER' } }, headers: shopperHeaders });
  assert.equal(wrong.response.status, 404);
  const applied = await manageCarts({ client, path: { cartID }, body: { data: { type: 'promotion_item', code: 'spring20' } }, headers: shopperHeaders });
  assert.equal(applied.response.status, 201, JSON.stringify(applied.error));
  const promotionLine = applied.data.data.find((i) => i.type === 'promotion_item');
  assert.equal(promotionLine.sku, 'SPRING20');
  assert.equal(applied.data.meta.display_price.discount.amount, -1000);

  // The cart page reads the cart with its promotions: the discount and the applied code.
  const cart = await getACart({
    client,
    path: { cartID },
    query: { include: ['items', 'promotions', 'tax_items', 'custom_discounts'] },
    headers: shopperHeaders,
  });
  assert.equal(cart.response.status, 200, JSON.stringify(cart.error));
  assert.equal(cart.data.data.meta.display_price.with_tax.amount, 4000);
  assert.equal(cart.data.data.meta.display_price.discount.amount, -1000);
  assert.equal(cart.data.included.promotions[0].id, promo.data.id);
  const gift = cart.data.included.items.find((i) => i.sku === 'gift-card');
  assert.equal(gift.discounts[0].code, 'SPRING20');
  assert.equal(gift.meta.display_price.with_tax.value.amount, 4000);

  // Removed from the cart sheet, then applied again.
  const removed = await deleteAPromotionViaPromotionCode({ client, path: { cartID, promoCode: 'SPRING20' }, headers: shopperHeaders });
  assert.equal(removed.response.status, 204, JSON.stringify(removed.error));
  const without = await getACart({ client, path: { cartID }, query: { include: ['items', 'promotions'] }, headers: shopperHeaders });
  assert.equal(without.data.data.meta.display_price.with_tax.amount, 5000);
  assert.deepEqual(without.data.included.promotions, []);
  await manageCarts({ client, path: { cartID }, body: { data: { type: 'promotion_item', code: 'SPRING20' } }, headers: shopperHeaders });

  // Checkout keeps the discount; the code has been used once.
  const order = await checkoutApi({
    client,
    path: { cartID },
    body: { data: { customer: { email: 'ann@example.com', name: 'Ann Perkins' }, billing_address: formAddress, shipping_address: formAddress } },
    headers: shopperHeaders,
  });
  assert.equal(order.response.status, 201, JSON.stringify(order.error));
  assert.equal(order.data.data.meta.display_price.with_tax.amount, 4000);
  assert.equal(order.data.data.meta.display_price.discount.amount, -1000);
  const codes = await admin('GET', `/v2/rule-promotions/${promo.data.id}/codes`);
  assert.equal(codes.data[0].uses, 1);
  const usages = await admin('GET', `/v2/rule-promotions/${promo.data.id}/usages`);
  assert.equal(usages.data[0].order_id, order.data.data.id);
});

test('a member logs in, renames the account, keeps an address book, checks out with it and reads the orders', async () => {
  const { cookies, client } = await firstVisit();

  // The login form.
  const bad = await postV2AccountMembersTokens({
    client,
    body: {
      data: {
        type: 'account_management_authentication_token',
        authentication_mechanism: 'password',
        password_profile_id: store.passwordProfileId,
        username: 'ann@perkins.example',
        password: 'wrong-password',
      },
    },
  });
  assert.equal(bad.response.status, 401);
  const { accountID, accountMemberId, tokens } = await logIn(cookies, client);
  assert.ok(!Number.isNaN(new Date(tokens[0].expires).getTime()), 'expires is a date');
  assert.equal(accountID, store.accountId);
  assert.equal(accountMemberId, store.memberId);

  // The account summary and its rename.
  const account = await getV2AccountsAccountId({ client, path: { accountID } });
  assert.equal(account.data.data.name, 'Perkins Clinic');
  const member = await getV2AccountMembersAccountMemberId({ client, path: { accountMemberID: accountMemberId } });
  assert.equal(member.data.data.email, 'ann@perkins.example');
  const renamed = await putV2AccountsAccountId({
    client,
    path: { accountID },
    body: { data: { type: 'account', name: 'Perkins Health', legal_name: 'Perkins Health' } },
  });
  assert.equal(renamed.response.status, 200, JSON.stringify(renamed.error));
  assert.equal((await getV2AccountsAccountId({ client, path: { accountID } })).data.data.name, 'Perkins Health');

  // The address book: add (the form drops an empty line 2), edit, read.
  const { company_name, line_2, county, phone_number, instructions, ...filled } = formAddress;
  const added = await postV2AccountAddress({
    client,
    path: { accountID },
    body: { data: { type: 'address', name: 'Clinic', ...filled, phone_number: '555-555-0100' } },
  });
  assert.equal(added.response.status, 201, JSON.stringify(added.error));
  const addressID = added.data.data.id;
  const edited = await putV2AccountAddress({
    client,
    path: { accountID, addressID },
    body: { data: { type: 'address', name: 'Clinic', ...filled, line_1: '14 Elm Street', instructions: 'Side door' } },
  });
  assert.equal(edited.response.status, 200, JSON.stringify(edited.error));
  const book = await getV2AccountAddresses({ client, path: { accountID } });
  assert.deepEqual(book.data.data.map((a) => [a.name, a.line_1]), [['Clinic', '14 Elm Street']]);

  // Checkout picks the saved address; the member pays.
  const cartID = cookies.get('_store_ep_cart');
  await manageCarts({ client, path: { cartID }, body: { data: { type: 'cart_item', id: store.pot.id, quantity: 1, location: 'leeds' } } });
  const picked = (await getV2AccountAddress({ client, path: { accountID, addressID } })).data.data;
  const address = Object.fromEntries(
    ['first_name', 'last_name', 'line_1', 'city', 'region', 'postcode', 'country', 'phone_number', 'instructions'].map((k) => [k, picked[k]]),
  );
  const order = await checkoutApi({
    client,
    path: { cartID },
    body: {
      data: {
        account: { id: accountID, member_id: accountMemberId },
        contact: { name: 'Ann Perkins', email: 'ann@perkins.example' },
        billing_address: { ...address, line_2: '' },
        shipping_address: address,
      },
    },
    headers: shopperHeaders,
  });
  assert.equal(order.response.status, 201, JSON.stringify(order.error));
  assert.equal(order.data.data.shipping_address.line_1, '14 Elm Street');
  assert.equal(order.data.data.relationships.account.data.id, accountID);
  const paid = await paymentSetup({ client, path: { orderID: order.data.data.id }, body: { data: { gateway: 'manual', method: 'purchase' } } });
  assert.equal(paid.response.status, 200, JSON.stringify(paid.error));

  // Order history: the account's orders only (not the earlier guest's), with items and images.
  const orders = await getCustomerOrders({ client, query: { include: ['items'], 'page[limit]': 10, 'page[offset]': 0 } });
  assert.equal(orders.response.status, 200, JSON.stringify(orders.error));
  assert.deepEqual(orders.data.data.map((o) => o.id), [order.data.data.id]);
  assert.equal(Number(orders.data.meta.results.total), 1);
  assert.equal(orders.data.data[0].payment, 'paid');
  const items = orders.data.included.items;
  const productIds = items.map((i) => i.product_id).filter(Boolean);
  const products = await getByContextAllProducts({ client, query: { filter: `in(id,${productIds})`, include: ['main_image'] } });
  assert.equal(products.data.included.main_images[0].id, store.pot.imageId);
  const one = await getAnOrder({ client, path: { orderID: order.data.data.id }, query: { include: ['items'] } });
  assert.equal(one.data.included.items[0].product_id, store.pot.id);

  // The address is deleted from the book.
  const removed = await deleteV2AccountAddress({ client, path: { accountID, addressID } });
  assert.equal(removed.response.status, 204);
  assert.deepEqual((await getV2AccountAddresses({ client, path: { accountID } })).data.data, []);
});

test('search: the listing page (categories, price range, price sort) and the autocomplete box', async () => {
  const { client } = await firstVisit();
  // The catalog search adapter's listing request: hierarchical and price facets, no query.
  const listingSearch = (extra) => ({
    type: 'search', q: '*', facet_by: 'meta.search.categories.lvl0,price.USD.float_price',
    max_facet_values: 10, page: 1, per_page: 20, ...extra,
  });
  // The index is built in the background after the publish: until then kassa answers 503.
  let listing;
  for (let i = 0; i < 600; i++) {
    listing = await postMultiSearch({ client, headers: shopperHeaders, body: { searches: [listingSearch({})] } });
    if (listing.response.status !== 503) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(listing.response.status, 200, JSON.stringify(listing.error));
  const [all] = listing.data.results;
  assert.equal(all.found, 4);
  assert.deepEqual(all.hits.map((h) => h.document.attributes.sku), ['MUG-BLUE', 'POT-TEA', 'CUP-ESPRESSO', 'SET-BREAKFAST']);
  assert.equal(all.hits[0].document.attributes.price.USD.amount, 1000);
  assert.equal(all.hits[0].document.meta.display_price.with_tax.currency, 'USD');
  const [categories, price] = all.facet_counts;
  assert.deepEqual(categories.counts.map((c) => [c.value, c.count]), [['Kitchen', 4]]);
  assert.equal(price.stats.min, 6);
  assert.equal(price.stats.max, 30);

  // A category picked in the menu, the price slider moved, sorted by price: InstantSearch's filters.
  const refined = await postMultiSearch({
    client,
    headers: shopperHeaders,
    body: {
      searches: [
        listingSearch({ filter_by: 'meta.search.categories.lvl1:=[`Kitchen > Mugs`] && price.USD.float_price:=[5..20]' }),
        listingSearch({ sort_by: 'price.USD.float_price:desc' }),
      ],
    },
  });
  assert.equal(refined.response.status, 200, JSON.stringify(refined.error));
  assert.deepEqual(refined.data.results[0].hits.map((h) => h.document.attributes.sku), ['MUG-BLUE', 'CUP-ESPRESSO']);
  // The bundle has no price of its own: it sorts last.
  assert.deepEqual(refined.data.results[1].hits.map((h) => h.document.attributes.sku), ['POT-TEA', 'MUG-BLUE', 'CUP-ESPRESSO', 'SET-BREAKFAST']);

  // The search box's autocomplete, exactly as the storefront sends it.
  const predictions = await postMultiSearch({
    client,
    body: { searches: [{ type: 'autocomplete', highlight_full_fields: 'name', q: 'tea', include_fields: 'name' }] },
  });
  assert.equal(predictions.response.status, 200, JSON.stringify(predictions.error));
  const [suggestion] = predictions.data.results[0].hits;
  assert.equal(suggestion.document.q, 'Tea Pot');
  assert.equal(suggestion.highlights.find((h) => h.field === 'q').snippet, '<mark>Tea</mark> Pot');

  // A typed query with a typo finds the mug; a filter that does not parse is the spec's 400.
  const typed = await postMultiSearch({ client, body: { searches: [{ type: 'search', q: 'bleu mug' }] } });
  assert.equal(typed.response.status, 200, JSON.stringify(typed.error));
  assert.deepEqual(typed.data.results[0].hits.map((h) => h.document.attributes.sku), ['MUG-BLUE']);
  const bad = await postMultiSearch({ client, body: { searches: [{ type: 'search', q: '*', filter_by: 'price:>' }] } });
  assert.equal(bad.response.status, 400);
  assert.equal(bad.error.errors[0].title, 'Invalid Filter');
});

/// The login form's request, and the account member cookie the storefront keeps from it.
async function logIn(cookies, client) {
  const login = await postV2AccountMembersTokens({
    client,
    body: {
      data: {
        type: 'account_management_authentication_token',
        authentication_mechanism: 'password',
        password_profile_id: store.passwordProfileId,
        username: 'ann@perkins.example',
        password: 'nurse-perkins-1',
      },
    },
  });
  assert.equal(login.response.status, 201, JSON.stringify(login.error));
  const tokens = login.data.data;
  cookies.set(
    '_store_ep_account_member_token',
    JSON.stringify({
      accounts: Object.fromEntries(
        tokens.map((t) => [
          t.account_id,
          { account_id: t.account_id, account_name: t.account_name, expires: t.expires, token: t.token, type: t.type },
        ]),
      ),
      selected: tokens[0].account_id,
      accountMemberId: login.data.meta.account_member_id,
    }),
  );
  return { accountID: tokens[0].account_id, accountMemberId: login.data.meta.account_member_id, tokens };
}

test('bundle configurator: the bundle page, an option picked and priced, the bundle in the cart and the order', async () => {
  const { cookies, client } = await firstVisit();
  const cartID = cookies.get('_store_ep_cart');
  const { accountID, accountMemberId } = await logIn(cookies, client);

  // The product page by slug, read as every product page reads it: with its component products.
  const page = await getByContextAllProducts({
    client,
    query: { filter: 'eq(slug,set-breakfast)', include: ['main_image', 'files', 'component_products'] },
    headers: shopperHeaders,
  });
  assert.equal(page.response.status, 200, JSON.stringify(page.error));
  const bundle = page.data.data[0];
  assert.equal(bundle.id, store.set.id);
  assert.equal(bundle.meta.product_types[0], 'bundle');
  // The components in their sort order, each option named from the included component products.
  const componentProducts = page.data.included.component_products;
  const components = Object.entries(bundle.attributes.components).sort(([, a], [, b]) => a.sort_order - b.sort_order);
  assert.deepEqual(
    components.map(([key, c]) => [key, c.name, c.min, c.max, c.options.map((o) => componentProducts.find((p) => p.id === o.id).attributes.name)]),
    [['pot', 'Pot', 1, 1, ['Tea Pot']], ['cups', 'Cups', 1, 1, ['Blue Mug', 'Espresso Cup']]],
  );
  // The form starts from the default selection, priced by it; each option shows its own price.
  assert.deepEqual(bundle.meta.bundle_configuration.selected_options, { pot: { [store.pot.id]: 1 }, cups: { [store.mug.id]: 2 } });
  assert.equal(bundle.meta.display_price.without_tax.amount, 3000 + 2 * 1000);
  const cupProduct = componentProducts.find((p) => p.id === store.cup.id);
  assert.equal(cupProduct.meta.display_price.without_tax.amount, 600);
  // The options' pictures, looked up by id as the page does.
  const imageIds = componentProducts.map((p) => p.relationships?.main_image?.data?.id).filter(Boolean);
  const files = await getAllFiles({ client, query: { filter: `in(id,${imageIds.join(',')})` } });
  assert.equal(files.response.status, 200, JSON.stringify(files.error));
  assert.deepEqual(files.data.data.map((f) => f.id).sort(), [store.mug.imageId, store.pot.imageId, store.cup.imageId].sort());

  // The shopper picks the espresso cups: the configure call prices the selection.
  const selected = { pot: { [store.pot.id]: 1 }, cups: { [store.cup.id]: 2 } };
  const configured = await configureByContextProduct({
    client,
    path: { product_id: bundle.id },
    query: { include: ['main_image', 'files', 'component_products'] },
    body: { data: { selected_options: selected } },
    headers: shopperHeaders,
  });
  assert.equal(configured.response.status, 200, JSON.stringify(configured.error));
  assert.deepEqual(configured.data.data.meta.bundle_configuration.selected_options, selected);
  assert.equal(configured.data.data.meta.display_price.without_tax.amount, 3000 + 2 * 600);
  // Both kinds of cups at once is more than the component allows: refused, naming it.
  const both = await configureByContextProduct({
    client,
    path: { product_id: bundle.id },
    body: { data: { selected_options: { ...selected, cups: { [store.mug.id]: 2, [store.cup.id]: 2 } } } },
    headers: shopperHeaders,
  });
  assert.equal(both.response.status, 400);
  assert.equal(both.error.errors[0].source, 'data.selected_options.cups');

  // The page reads the bundle's stock for the locations it offers: a bundle keeps none of its
  // own, so kassa shows the whole sets its default components make at each location.
  const offered = await getStock({ client, path: { product_uuid: bundle.id } });
  assert.equal(offered.response.status, 200, JSON.stringify(offered.error));
  const locations = offered.data.data.attributes.locations;
  const location = Object.keys(locations).find((slug) => Number(locations[slug].available) > 0);
  assert.equal(location, 'leeds');

  // Add to cart with the selection (the bundle form's server action), twice the set, at the
  // location the form offers first.
  const added = await manageCarts({
    client,
    path: { cartID },
    body: { data: { type: 'cart_item', id: bundle.id, bundle_configuration: { selected_options: selected }, quantity: 2, location } },
    headers: { 'X-Moltin-Currency': 'USD' },
  });
  assert.equal(added.response.status, 201, JSON.stringify(added.error));
  const line = added.data.data.find((i) => i.product_id === bundle.id);
  assert.deepEqual(line.bundle_configuration.selected_options, selected);
  assert.equal(line.unit_price.amount, 4200);
  assert.equal(line.value.amount, 2 * 4200);
  assert.deepEqual(line.components.cups.options, [{ id: store.cup.id, type: 'product', quantity: 2 }]);

  // The cart sheet shows the line with its configuration and price.
  const cart = await getACart({ client, path: { cartID }, query: { include: ['items'] }, headers: shopperHeaders });
  assert.equal(cart.response.status, 200, JSON.stringify(cart.error));
  assert.equal(cart.data.data.meta.display_price.with_tax.amount, 2 * 4200);
  const item = cart.data.included.items.find((i) => i.product_id === bundle.id);
  assert.equal(item.sku, 'SET-BREAKFAST');
  assert.deepEqual(item.bundle_configuration.selected_options, selected);

  // The member checks out and pays; the order's items keep the configuration.
  const order = await checkoutApi({
    client,
    path: { cartID },
    body: {
      data: {
        account: { id: accountID, member_id: accountMemberId },
        contact: { name: 'Ann Perkins', email: 'ann@perkins.example' },
        billing_address: formAddress,
        shipping_address: formAddress,
      },
    },
    headers: shopperHeaders,
  });
  assert.equal(order.response.status, 201, JSON.stringify(order.error));
  assert.equal(order.data.data.meta.display_price.with_tax.amount, 2 * 4200);
  const paid = await paymentSetup({ client, path: { orderID: order.data.data.id }, body: { data: { gateway: 'manual', method: 'purchase' } } });
  assert.equal(paid.response.status, 200, JSON.stringify(paid.error));
  const placed = await getAnOrder({ client, path: { orderID: order.data.data.id }, query: { include: ['items'] } });
  assert.equal(placed.response.status, 200, JSON.stringify(placed.error));
  const [orderItem] = placed.data.included.items;
  assert.equal(orderItem.product_id, bundle.id);
  assert.equal(orderItem.quantity, 2);
  assert.equal(orderItem.unit_price.amount, 4200);
  assert.deepEqual(orderItem.bundle_configuration.selected_options, selected);
  assert.equal(orderItem.components.pot.name, 'Pot');

  // The payment took each component's stock at Leeds: four espresso cups, two more pots (the
  // member's earlier order took one).
  const cups = await admin('GET', `/v2/inventories/${store.cup.id}`);
  assert.equal(Number(cups.data.attributes.locations.leeds.allocated), 4);
  const pots = await admin('GET', `/v2/inventories/${store.pot.id}`);
  assert.equal(Number(pots.data.attributes.locations.leeds.allocated), 3);
  // The set's stock is what its default components (a pot, two mugs) make at Leeds now.
  const mugs = await admin('GET', `/v2/inventories/${store.mug.id}`);
  const set = await admin('GET', `/v2/inventories/${bundle.id}`);
  const leeds = (stock) => Number(stock.data.attributes.locations.leeds.available);
  assert.equal(leeds(set), Math.min(leeds(pots), Math.floor(leeds(mugs) / 2)));
});

// The product page's variation picker: the child whose options are the ones picked, found by
// walking the parent's `variation_matrix` (option id → child id, or the same over the next
// variation); and back, the options of a child from its id.
function childFromOptions(picked, matrix) {
  if (typeof matrix === 'string') return matrix;
  for (const option of picked) {
    if (matrix[option] !== undefined) return childFromOptions(picked, matrix[option]);
  }
  return undefined;
}

function optionsOfChild(childId, matrix, path = []) {
  if (typeof matrix === 'string') return matrix === childId ? path : undefined;
  for (const [option, next] of Object.entries(matrix)) {
    const found = optionsOfChild(childId, next, [...path, option]);
    if (found) return found;
  }
  return undefined;
}

// Last: it publishes a release with more products than the tests above expect.
test('variation picker: a parent page with its children, a size picked, the child in the cart and checked out', async () => {
  // The merchant: a Size variation (M costs 2.00 more), a T-shirt parent in a new node of the
  // navigation, its children built, the parent priced and stocked per child, published again.
  const size = await admin('POST', '/pcm/variations', { data: { type: 'product-variation', attributes: { name: 'Size' } } });
  const optionIds = {};
  for (const name of ['S', 'M', 'L']) {
    const option = await admin('POST', `/pcm/variations/${size.data.id}/options`, {
      data: { type: 'product-variation-option', attributes: { name, description: `Size ${name}` } },
    });
    optionIds[name] = option.data.id;
  }
  await admin('POST', `/pcm/variations/${size.data.id}/options/${optionIds.M}/modifiers`, {
    data: { type: 'product-variation-modifier', attributes: { type: 'price_increment', value: '200' } },
  });
  const tee = (await admin('POST', '/pcm/products', {
    data: { type: 'product', attributes: { name: 'Tee', sku: 'TEE', slug: 'tee', commodity_type: 'physical', status: 'live' } },
  })).data;
  await admin('POST', `/pcm/products/${tee.id}/relationships/variations`, { data: [{ type: 'product-variation', id: size.data.id }] });
  const built = await admin('POST', `/pcm/products/${tee.id}/build`);
  assert.equal(built.data.meta.children_created, 3);
  const tees = (await admin('POST', `/pcm/hierarchies/${store.hierarchyId}/nodes`, { data: { type: 'node', attributes: { name: 'Tees', slug: 'tees' } } })).data;
  await admin('POST', `/pcm/hierarchies/${store.hierarchyId}/nodes/${tees.id}/relationships/products`, { data: [{ type: 'product', id: tee.id }] });
  await admin('POST', `/pcm/pricebooks/${store.bookId}/prices`, {
    data: { type: 'product-price', attributes: { sku: 'TEE', currencies: { USD: { amount: 2000, includes_tax: false } } } },
  });
  const adminChildren = (await admin('GET', `/pcm/products/${tee.id}/children`)).data;
  for (const child of adminChildren) {
    await admin('POST', '/v2/inventories', { data: { type: 'stock', id: child.id, attributes: { locations: { leeds: { available: 5 } } } } });
  }
  await admin('POST', `/catalogs/${store.catalogId}/releases`);

  const { cookies, client } = await firstVisit();
  const cartID = cookies.get('_store_ep_cart');

  // The parent's page: the product, its variations and matrix, and its children.
  const page = await getByContextProduct({
    client,
    path: { product_id: tee.id },
    query: { include: ['main_image', 'files', 'component_products'] },
    headers: shopperHeaders,
  });
  assert.equal(page.response.status, 200, JSON.stringify(page.error));
  const parent = page.data.data;
  assert.equal(parent.meta.product_types[0], 'parent');
  assert.equal(parent.attributes.base_product, true);
  const [sizes] = parent.meta.variations;
  assert.equal(sizes.name, 'Size');
  assert.deepEqual(sizes.options.map((o) => o.name).sort(), ['L', 'M', 'S']);
  const children = await getByContextChildProducts({ client, path: { product_id: tee.id }, headers: shopperHeaders });
  assert.equal(children.response.status, 200, JSON.stringify(children.error));
  const prices = Object.fromEntries(children.data.data.map((c) => [c.attributes.sku, c.meta.display_price.without_tax.amount]));
  assert.deepEqual(prices, { 'TEE-S': 2000, 'TEE-M': 2200, 'TEE-L': 2000 });

  // The shopper picks M: the picker resolves the child from the matrix and opens its page.
  const medium = sizes.options.find((o) => o.name === 'M');
  const childId = childFromOptions([medium.id], parent.meta.variation_matrix);
  assert.ok(childId, JSON.stringify(parent.meta.variation_matrix));
  assert.equal(children.data.data.find((c) => c.id === childId).attributes.sku, 'TEE-M');
  const childPage = await getByContextProduct({
    client,
    path: { product_id: childId },
    query: { include: ['main_image', 'files', 'component_products'] },
    headers: shopperHeaders,
  });
  assert.equal(childPage.response.status, 200, JSON.stringify(childPage.error));
  const child = childPage.data.data;
  assert.equal(child.meta.product_types[0], 'child');
  assert.equal(child.meta.display_price.without_tax.amount, 2200);
  // The child's page reads its base product for the picker, and shows M as picked.
  const base = await getByContextProduct({ client, path: { product_id: child.attributes.base_product_id }, headers: shopperHeaders });
  assert.equal(base.data.data.id, tee.id);
  assert.deepEqual(optionsOfChild(childId, base.data.data.meta.variation_matrix), [medium.id]);

  // Add to cart: the child, not the parent.
  const parentAdd = await manageCarts({
    client,
    path: { cartID },
    body: { data: { type: 'cart_item', id: tee.id, quantity: 1, location: 'leeds' } },
    headers: shopperHeaders,
  });
  assert.equal(parentAdd.response.status, 400);
  assert.equal(parentAdd.error.errors[0].title, 'Cannot add a parent product');
  const added = await manageCarts({
    client,
    path: { cartID },
    body: { data: { type: 'cart_item', id: childId, quantity: 2, location: 'leeds' } },
    headers: shopperHeaders,
  });
  assert.equal(added.response.status, 201, JSON.stringify(added.error));
  const line = added.data.data.find((i) => i.product_id === childId);
  assert.equal(line.sku, 'TEE-M');
  assert.equal(line.unit_price.amount, 2200);

  // Checkout and payment.
  const order = await checkoutApi({
    client,
    path: { cartID },
    body: { data: { customer: { email: 'ann@example.com', name: 'Ann Perkins' }, billing_address: formAddress, shipping_address: formAddress } },
    headers: shopperHeaders,
  });
  assert.equal(order.response.status, 201, JSON.stringify(order.error));
  assert.equal(order.data.data.meta.display_price.with_tax.amount, 4400);
  const payment = await paymentSetup({
    client,
    path: { orderID: order.data.data.id },
    body: { data: { gateway: 'manual', method: 'purchase' } },
    headers: shopperHeaders,
  });
  assert.equal(payment.response.status, 200, JSON.stringify(payment.error));
  assert.equal(payment.data.data.status, 'complete');
  const stock = await admin('GET', `/v2/inventories/${childId}`);
  assert.equal(Number(stock.data.attributes.locations.leeds.allocated), 2);
});
