// Checkout through the classic @elasticpath/js-sdk, unchanged: a guest `Checkout` (shipping
// defaults to billing), an account member's `CheckoutWithAccountManagementToken`, and paying an
// order through the manual gateway (`Gateways.Enabled`, `Orders.Payment`, `Transactions.Capture`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gateway, MemoryStorageFactory } from '@elasticpath/js-sdk';
import { startKassa } from './kassa.mjs';

let kassa;
let admin;

const classic = (extra = {}) =>
  gateway({
    client_id: kassa.clientId,
    host: kassa.host,
    protocol: 'http',
    storage: new MemoryStorageFactory(),
    ...extra,
  });

const address = {
  first_name: 'John',
  last_name: 'Doe',
  line_1: '1234 Disney Drive',
  city: 'Anaheim',
  region: 'CA',
  postcode: '92802',
  country: 'US',
};

before(async () => {
  kassa = await startKassa();
  admin = classic({ client_secret: kassa.clientSecret });
});

after(async () => {
  await kassa.stop();
});

test('a guest checks out with Checkout', async () => {
  const shopper = classic();
  await shopper.Cart('sdk-guest').AddCustomItem({ name: 'Mug', sku: 'MUG', quantity: 2, price: { amount: 1000 } });
  const order = await shopper.Cart('sdk-guest').Checkout({ name: 'April Ludgate', email: 'april@ludgate.com' }, address);
  assert.equal(order.data.type, 'order');
  assert.equal(order.data.status, 'incomplete');
  assert.equal(order.data.payment, 'unpaid');
  assert.deepEqual(order.data.shipping_address, address);
  assert.equal(order.data.meta.display_price.with_tax.amount, 2000);
  const read = await admin.Orders.Get(order.data.id);
  assert.equal(read.data.id, order.data.id);
});

test('an account member checks out with CheckoutWithAccountManagementToken', async () => {
  const settings = await admin.AccountAuthenticationSettings.Get();
  const realmId = settings.data.relationships.authentication_realm.data.id;
  const profile = await admin.PasswordProfile.Create(realmId, {
    data: { type: 'password_profile', name: 'passwords', username_format: 'email', enable_one_time_password_token: false },
  });
  const user = await admin.UserAuthenticationInfo.Create(realmId, {
    data: { type: 'user_authentication_info', name: 'Ron Swanson', email: 'ron@swanson.com' },
  });
  await admin.UserAuthenticationPasswordProfile.Create(realmId, user.data.id, {
    data: {
      type: 'user_authentication_password_profile_info',
      password_profile_id: profile.data.id,
      username: 'ron@swanson.com',
      password: 'lagavulin16',
    },
  });
  const account = await admin.Accounts.Create({ type: 'account', name: 'Pawnee Parks', legal_name: 'Pawnee Parks Dept' });
  await admin.AccountMemberships.Create(account.data.id, { type: 'account_membership', account_member_id: user.data.id });

  const shopper = classic();
  const tokens = await shopper.AccountMembers.GenerateAccountToken({
    type: 'account_management_authentication_token',
    authentication_mechanism: 'password',
    password_profile_id: profile.data.id,
    username: 'ron@swanson.com',
    password: 'lagavulin16',
  });
  const token = tokens.data[0].token;
  await shopper.Cart('sdk-account').AddCustomItem({ name: 'Whisky', sku: 'LAG16', quantity: 1, price: { amount: 8999 } });
  const order = await shopper
    .Cart('sdk-account')
    .CheckoutWithAccountManagementToken({ name: 'Ron Swanson', email: 'ron@swanson.com' }, address, undefined, token);
  assert.equal(order.data.status, 'incomplete');
  assert.deepEqual(order.data.contact, { name: 'Ron Swanson', email: 'ron@swanson.com' });
  assert.equal(order.data.relationships.account.data.id, account.data.id);
  assert.equal(order.data.relationships.account_member.data.id, user.data.id);
  assert.equal(order.data.meta.display_price.with_tax.amount, 8999);
});

test('the admin enables the manual gateway, a guest pays with Orders.Payment, the admin captures', async () => {
  const enabled = await admin.Gateways.Enabled('manual', true);
  assert.equal(enabled.data.slug, 'manual');
  assert.equal(enabled.data.enabled, true);

  const shopper = classic();
  await shopper.Cart('sdk-pay').AddCustomItem({ name: 'Bench', sku: 'BENCH', quantity: 1, price: { amount: 4200 } });
  const order = await shopper.Cart('sdk-pay').Checkout({ name: 'Leslie Knope', email: 'leslie@knope.com' }, address);
  const payment = await shopper.Orders.Payment(order.data.id, {
    gateway: 'manual',
    method: 'authorize',
    paymentmethod_meta: { custom_reference: 'waffles', name: 'JJ' },
  });
  assert.equal(payment.data.type, 'transaction');
  assert.equal(payment.data.transaction_type, 'authorize');
  assert.equal(payment.data.status, 'complete');
  assert.equal(payment.data.amount, 4200);
  assert.equal(payment.data.relationships.order.data.id, order.data.id);
  const authorized = await admin.Orders.Get(order.data.id);
  assert.equal(authorized.data.payment, 'authorized');
  assert.equal(authorized.data.status, 'processing');

  const captured = await admin.Transactions.Capture({ order: order.data.id, transaction: payment.data.id });
  assert.equal(captured.data.transaction_type, 'capture');
  assert.equal(captured.data.status, 'complete');
  const paid = await admin.Orders.Get(order.data.id);
  assert.equal(paid.data.payment, 'paid');
  assert.equal(paid.data.status, 'complete');
  assert.equal(paid.data.meta.display_price.balance_owing.amount, 0);
  const transactions = await admin.Transactions.All({ order: order.data.id });
  assert.equal(transactions.data.length, 1);
});
