// Account Management and customers through the official clients, unchanged: the classic
// @elasticpath/js-sdk for the admin set-up and a shopper, the generated @epcc-sdk/sdks-shopper for
// another shopper.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gateway, MemoryStorageFactory } from '@elasticpath/js-sdk';
import {
  createShopperClient,
  postV2AccountMembersTokens,
  getV2Accounts,
  getV2AccountsAccountId,
  putV2AccountsAccountId,
  getV2AccountAddresses,
  getV2AccountAddress,
  postV2AccountAddress,
  putV2AccountAddress,
  deleteV2AccountAddress,
  getAllCurrencies,
} from '@epcc-sdk/sdks-shopper';
import { startKassa, memoryStorage } from './kassa.mjs';

let kassa;
let admin;
const fixture = {};

const classic = (extra = {}) =>
  gateway({
    client_id: kassa.clientId,
    host: kassa.host,
    protocol: 'http',
    storage: new MemoryStorageFactory(),
    ...extra,
  });

before(async () => {
  kassa = await startKassa();
  admin = classic({ client_secret: kassa.clientSecret });
});

after(async () => {
  await kassa.stop();
});

test('admin sets up the realm, a password profile, a user, an account and a membership', async () => {
  const settings = await admin.AccountAuthenticationSettings.Get();
  const realmId = settings.data.relationships.authentication_realm.data.id;
  assert.match(realmId, /^[0-9a-f-]{36}$/);
  await admin.AccountAuthenticationSettings.Update({
    type: 'account_authentication_settings',
    enable_self_signup: true,
    auto_create_account_for_account_members: true,
  });

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

  const members = await admin.AccountMembers.Filter({ eq: { email: 'ron@swanson.com' } }).All();
  assert.equal(members.data.length, 1);
  assert.equal(members.data[0].id, user.data.id);
  Object.assign(fixture, { realmId, profileId: profile.data.id, memberId: user.data.id, accountId: account.data.id });
});

test('a shopper logs in with the classic client and reads their account', async () => {
  const shopper = classic();
  const tokens = await shopper.AccountMembers.GenerateAccountToken({
    type: 'account_management_authentication_token',
    authentication_mechanism: 'password',
    password_profile_id: fixture.profileId,
    username: 'ron@swanson.com',
    password: 'lagavulin16',
  });
  assert.equal(tokens.data.length, 1);
  assert.equal(tokens.data[0].account_id, fixture.accountId);
  assert.equal(tokens.meta.account_member_id, fixture.memberId);

  // Storefronts pass the account token to every call through config.headers.
  const asAccount = classic({ headers: { 'EP-Account-Management-Authentication-Token': tokens.data[0].token } });
  const account = await asAccount.Accounts.Get(fixture.accountId);
  assert.equal(account.data.name, 'Pawnee Parks');
  const all = await asAccount.Accounts.All();
  assert.deepEqual(all.data.map((a) => a.id), [fixture.accountId]);
});

test('a shopper signs up and logs in with the generated client', async () => {
  const { client } = createShopperClient({ baseUrl: kassa.baseUrl }, { clientId: kassa.clientId, storage: memoryStorage() });
  const signup = await postV2AccountMembersTokens({
    client,
    body: {
      data: {
        type: 'account_management_authentication_token',
        authentication_mechanism: 'self_signup',
        password_profile_id: fixture.profileId,
        username: 'leslie@knope.com',
        password: 'waffles4ever',
        name: 'Leslie Knope',
        email: 'leslie@knope.com',
      },
    },
  });
  assert.equal(signup.error, undefined, JSON.stringify(signup.error));
  assert.equal(signup.response.status, 201);
  const [token] = signup.data.data;
  assert.equal(token.account_name, 'Leslie Knope');

  const headers = { 'EP-Account-Management-Authentication-Token': token.token };
  const mine = await getV2AccountsAccountId({ client, headers, path: { accountID: token.account_id } });
  assert.equal(mine.data.data.id, token.account_id);
  const list = await getV2Accounts({ client, headers });
  assert.deepEqual(list.data.data.map((a) => a.id), [token.account_id]);
  // Another account is not there for this token.
  const other = await getV2AccountsAccountId({ client, headers, path: { accountID: fixture.accountId } });
  assert.equal(other.response.status, 404);
  assert.ok(Array.isArray(other.error.errors));
  Object.assign(fixture, { client, memberHeaders: headers, memberAccountId: token.account_id });
});

test('a member keeps an address book and renames the account, as the storefront does', async () => {
  const { client, memberHeaders: headers, memberAccountId: accountID } = fixture;
  // The storefront's address form drops empty inputs and sends the rest.
  const created = await postV2AccountAddress({
    client,
    headers,
    path: { accountID },
    body: {
      data: {
        type: 'address',
        name: 'Home',
        first_name: 'Leslie',
        last_name: 'Knope',
        line_1: '1 Main Street',
        city: 'Pawnee',
        region: 'IN',
        postcode: '47998',
        country: 'US',
        phone_number: '555-555-1234',
      },
    },
  });
  assert.equal(created.error, undefined, JSON.stringify(created.error));
  const addressID = created.data.data.id;
  assert.equal(created.data.data.relationships.account.id, accountID);

  const list = await getV2AccountAddresses({ client, headers, path: { accountID } });
  assert.deepEqual(list.data.data.map((a) => a.name), ['Home']);
  const updated = await putV2AccountAddress({
    client,
    headers,
    path: { accountID, addressID },
    body: { data: { type: 'address', name: 'Home', first_name: 'Leslie', last_name: 'Knope', line_1: '2 Main Street', region: 'IN', postcode: '47998', country: 'US' } },
  });
  assert.equal(updated.error, undefined, JSON.stringify(updated.error));
  const read = await getV2AccountAddress({ client, headers, path: { accountID, addressID } });
  assert.equal(read.data.data.line_1, '2 Main Street');
  // Another account's book is not there for this token.
  const foreign = await getV2AccountAddresses({ client, headers, path: { accountID: fixture.accountId } });
  assert.equal(foreign.response.status, 404);
  const removed = await deleteV2AccountAddress({ client, headers, path: { accountID, addressID } });
  assert.equal(removed.response.status, 204);

  const renamed = await putV2AccountsAccountId({
    client,
    headers,
    path: { accountID },
    body: { data: { type: 'account', name: 'Knope 2028', legal_name: 'Knope 2028' } },
  });
  assert.equal(renamed.error, undefined, JSON.stringify(renamed.error));
  assert.equal(renamed.data.data.name, 'Knope 2028');

  // The cart and checkout pages list currencies with the implicit token alone.
  const currencies = await getAllCurrencies({ client });
  assert.equal(currencies.error, undefined, JSON.stringify(currencies.error));
  assert.ok(currencies.data.data.some((c) => c.code === 'USD'));
});

test('customers register and get tokens through the classic client', async () => {
  const created = await admin.Customers.Create({ type: 'customer', name: 'Ann Perkins', email: 'ann@perkins.com', password: 'nurseann1' });
  assert.equal(created.data.email, 'ann@perkins.com');
  const shopper = classic();
  const token = await shopper.Customers.Token('ann@perkins.com', 'nurseann1');
  assert.equal(token.data.customer_id, created.data.id);
  assert.equal(typeof token.data.token, 'string');
});

test('bad input reaches the clients as an errors array', async () => {
  const shopper = classic();
  await assert.rejects(
    shopper.AccountMembers.GenerateAccountToken({
      type: 'account_management_authentication_token',
      authentication_mechanism: 'password',
      password_profile_id: fixture.profileId,
      username: 'ron@swanson.com',
      password: 'wrong-password',
    }),
    (body) => Array.isArray(body.errors) && body.errors[0].status === '401',
  );
  await assert.rejects(admin.Accounts.Create({ type: 'account' }), (body) => body.errors[0].source === 'data.name');
  await assert.rejects(shopper.Accounts.All(), (body) => Array.isArray(body.errors) && body.errors[0].status === '403');
});
