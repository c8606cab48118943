// The whole shopper journey through the classic @elasticpath/js-sdk, unchanged, as a storefront
// drives it: the admin sets the store up with client_credentials; a shopper with an implicit token
// logs in as an account member, reads the catalog, fills an account cart, checks out with the
// account management token, lists the account's orders and pays; the admin captures. Bad input
// reaches the client as an `errors` array at each stage.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gateway, MemoryStorageFactory } from '@elasticpath/js-sdk';
import { startKassa } from './kassa.mjs';

let kassa;

const classic = (extra = {}) =>
  gateway({ client_id: kassa.clientId, host: kassa.host, protocol: 'http', storage: new MemoryStorageFactory(), ...extra });

const address = {
  first_name: 'Leslie',
  last_name: 'Knope',
  line_1: '100 State Street',
  city: 'Pawnee',
  region: 'IN',
  postcode: '46001',
  country: 'US',
};

const hasErrors = (field) => (body) =>
  Array.isArray(body.errors) && body.errors.length > 0 && (!field || body.errors.some((e) => (e.source ?? '').includes(field)));

before(async () => {
  kassa = await startKassa();
});

after(async () => {
  await kassa.stop();
});

test('admin set-up, then a member shops, checks out, lists orders and pays; the admin captures', async () => {
  // --- The admin (client_credentials) sets up the store.
  const admin = classic({ client_secret: kassa.clientSecret });
  const settings = await admin.AccountAuthenticationSettings.Get();
  const realmId = settings.data.relationships.authentication_realm.data.id;
  const profile = await admin.PasswordProfile.Create(realmId, {
    data: { type: 'password_profile', name: 'members', username_format: 'email', enable_one_time_password_token: false },
  });
  const user = await admin.UserAuthenticationInfo.Create(realmId, {
    data: { type: 'user_authentication_info', name: 'Leslie Knope', email: 'leslie@pawnee.gov' },
  });
  await admin.UserAuthenticationPasswordProfile.Create(realmId, user.data.id, {
    data: {
      type: 'user_authentication_password_profile_info',
      password_profile_id: profile.data.id,
      username: 'leslie@pawnee.gov',
      password: 'waffles-forever',
    },
  });
  const account = await admin.Accounts.Create({ type: 'account', name: 'Parks Department', legal_name: 'Pawnee Parks' });
  await admin.AccountMemberships.Create(account.data.id, { type: 'account_membership', account_member_id: user.data.id });

  const product = await admin.PCM.Create({
    attributes: { name: 'Park bench', sku: 'BENCH-1', slug: 'bench-1', commodity_type: 'physical', status: 'live' },
  });
  const productId = product.data.id;
  const book = await admin.PriceBooks.Create({ attributes: { name: 'Pawnee prices' } });
  await admin.PriceBooks.Prices.Create({
    pricebookId: book.data.id,
    body: { attributes: { sku: 'BENCH-1', currencies: { USD: { amount: 25000, includes_tax: false } } } },
  });
  const hierarchy = await admin.Hierarchies.Create({ attributes: { name: 'Furniture' } });
  const node = await admin.Hierarchies.Nodes.Create({ hierarchyId: hierarchy.data.id, body: { attributes: { name: 'Outdoor' } } });
  await admin.Hierarchies.Relationships.Create({ hierarchyId: hierarchy.data.id, nodeId: node.data.id, body: [{ type: 'product', id: productId }] });
  const catalog = await admin.Catalogs.Create({
    attributes: { name: 'Pawnee store', hierarchy_ids: [hierarchy.data.id], pricebook_ids: [{ id: book.data.id, priority: 1 }] },
  });
  await admin.Catalogs.Releases.Create({ catalogId: catalog.data.id });
  const stock = await admin.Inventories.Create(productId, 5);
  assert.equal(stock.data.available, 5);
  const enabled = await admin.Gateways.Enabled('manual', true);
  assert.equal(enabled.data.enabled, true);

  // --- The shopper (implicit token) logs in as the account member.
  const shopper = classic();
  const tokens = await shopper.AccountMembers.GenerateAccountToken({
    type: 'account_management_authentication_token',
    authentication_mechanism: 'password',
    password_profile_id: profile.data.id,
    username: 'leslie@pawnee.gov',
    password: 'waffles-forever',
  });
  const token = tokens.data[0].token;
  await assert.rejects(
    shopper.AccountMembers.GenerateAccountToken({
      type: 'account_management_authentication_token',
      authentication_mechanism: 'password',
      password_profile_id: profile.data.id,
      username: 'leslie@pawnee.gov',
    }),
    hasErrors('password'),
  );

  // From here on the storefront sends the account token on every request (config.headers), as
  // real storefronts do: the classic cart, order and payment calls have no parameter for it.
  const member = classic({ headers: { 'EP-Account-Management-Authentication-Token': token } });

  // Catalog read: the price the cart will charge.
  const read = await member.ShopperCatalog.Products.Get({ productId });
  assert.equal(read.data.attributes.sku, 'BENCH-1');
  assert.equal(read.data.meta.display_price.without_tax.amount, 25000);

  // An account cart: product and custom items, associated with the account.
  const cart = member.Cart();
  await cart.AddProduct(productId, 2);
  await cart.AddCustomItem({ type: 'custom_item', name: 'Delivery', sku: 'DELIVERY', quantity: 1, price: { amount: 1500 } });
  await assert.rejects(cart.AddProduct(productId, 10), (body) => body.errors[0].title === 'Insufficient stock');
  const associated = await cart.AddAccountAssociation(account.data.id, token);
  assert.equal(associated.data[0].id, account.data.id);
  const items = await cart.Items();
  assert.equal(items.meta.display_price.with_tax.amount, 2 * 25000 + 1500);

  // Checkout with the account management token.
  await assert.rejects(
    cart.CheckoutWithAccountManagementToken({ name: 'Leslie Knope', email: 'not-an-email' }, address, undefined, token),
    hasErrors('contact.email'),
  );
  const order = await cart.CheckoutWithAccountManagementToken({ name: 'Leslie Knope', email: 'leslie@pawnee.gov' }, address, undefined, token);
  assert.equal(order.data.status, 'incomplete');
  assert.equal(order.data.payment, 'unpaid');
  assert.equal(order.data.relationships.account.data.id, account.data.id);
  assert.equal(order.data.meta.display_price.balance_owing.amount, 51500);

  // The account's orders.
  const orders = await member.Orders.All();
  assert.deepEqual(orders.data.map((o) => o.id), [order.data.id]);
  assert.equal(orders.meta.results.total, 1);
  const orderItems = await member.Orders.Items(order.data.id);
  assert.equal(orderItems.data.length, 2);

  // Paying: more than is owed is refused and records nothing; then the balance is authorized.
  await assert.rejects(member.Orders.Payment(order.data.id, { gateway: 'manual', method: 'purchase', amount: 999999 }), hasErrors());
  await assert.rejects(member.Orders.Payment(order.data.id, { gateway: 'stripe', method: 'purchase' }), hasErrors());
  const payment = await member.Orders.Payment(order.data.id, { gateway: 'manual', method: 'authorize' });
  assert.equal(payment.data.transaction_type, 'authorize');
  assert.equal(payment.data.amount, 51500);
  const authorized = await member.Orders.Get(order.data.id);
  assert.equal(authorized.data.payment, 'authorized');
  assert.equal(authorized.data.status, 'processing');
  // Stock is allocated by the first complete transaction.
  const allocated = await admin.Inventories.Get(productId);
  assert.equal(allocated.data.allocated, 2);
  assert.equal(allocated.data.available, 3);

  // --- The admin captures.
  const captured = await admin.Transactions.Capture({ order: order.data.id, transaction: payment.data.id });
  assert.equal(captured.data.transaction_type, 'capture');
  const paid = await admin.Orders.Get(order.data.id);
  assert.equal(paid.data.payment, 'paid');
  assert.equal(paid.data.status, 'complete');
  assert.equal(paid.data.meta.display_price.paid.amount, 51500);
  assert.equal(paid.data.meta.display_price.balance_owing.amount, 0);
  await assert.rejects(admin.Transactions.Capture({ order: order.data.id, transaction: payment.data.id }), hasErrors());
});
