// mparticle_sdk.js - the real mParticle Node SDK (npm "mparticle") sends
// batches to a running hub's mparticle source: ApiClient.basePath points at
// http://127.0.0.1:PORT/in/<source>/v2, so uploadEvents() posts to
// /v2/events and bulkUploadEvents() to /v2/bulkevents, with the SDK's own
// Basic key:secret header.
//
// The calls, in order (each awaited: the SDK's callback runs after the
// hub's answer, and a 2xx means committed - no sleeps):
//   1. uploadEvents: PREFIX-user-1 on iOS (IDFV, push token, locale),
//      attributes, consent, an mpid above 2^53 (as text: a JS number cannot
//      hold it), a custom event, a screen view and a purchase;
//   2. bulkUploadEvents: two anonymous batches of device PREFIX-dev-2 and a
//      session of PREFIX-user-3;
//   3. uploadEvents: PREFIX-user-2 logs in on PREFIX-dev-2 (the login of
//      IDENTITY.md: the anonymous profile becomes PREFIX-user-2's);
//   4. the refusals: a wrong secret (403), no credentials (401).
// Prints "PREFIX: N batches delivered, refusals as expected" or the error
// and exits 1.
//
// Usage: MPARTICLE_API_KEY=... MPARTICLE_API_SECRET=... \
//        node mparticle_sdk.js BASE_PATH PREFIX
//   (BASE_PATH e.g. http://127.0.0.1:8080/in/mp/v2; secrets come from the
//   environment, never from the command line)
'use strict';

const mParticle = require('mparticle');

const [basePath, prefix] = process.argv.slice(2);
const apiKey = process.env.MPARTICLE_API_KEY;
const apiSecret = process.env.MPARTICLE_API_SECRET;
if (!basePath || !prefix || !apiKey || !apiSecret) {
  console.error('usage: MPARTICLE_API_KEY=... MPARTICLE_API_SECRET=... node mparticle_sdk.js BASE_PATH PREFIX');
  process.exit(2);
}

const T0 = Date.now() - 3600 * 1000; // an hour ago: event times in the past

function api(key, secret) {
  const client = new mParticle.ApiClient();
  client.basePath = basePath;
  client.timeout = 10000;
  return new mParticle.EventsApi(new mParticle.Configuration(key, secret), client);
}

// Resolves with the HTTP status of the answer (2xx) or rejects.
function call(events, method, body) {
  return new Promise((resolve, reject) => {
    events[method](body, (error, data, response) => {
      if (error) reject(error);
      else resolve(response.status);
    });
  });
}

// Resolves with the status of a refused call; rejects if it was accepted.
function refused(events, method, body) {
  return new Promise((resolve, reject) => {
    events[method](body, (error) => {
      if (!error) reject(new Error(`${method} was accepted, a refusal was expected`));
      else resolve(error.status);
    });
  });
}

function customEvent(name, at, attrs, messageId) {
  const e = new mParticle.AppEvent(mParticle.AppEvent.CustomEventType.navigation, name);
  e.timestamp_unixtime_ms = at;
  if (attrs) e.custom_attributes = attrs;
  if (messageId) e.source_message_id = messageId;
  return e;
}

function screenView(name, at, attrs) {
  const e = new mParticle.ScreenViewEvent(name);
  e.timestamp_unixtime_ms = at;
  if (attrs) e.custom_attributes = attrs;
  return e;
}

// 1. one batch: identities, device, attributes, consent, three events
function userOne() {
  const batch = new mParticle.Batch(mParticle.Batch.Environment.production);
  batch.source_request_id = `${prefix}-req-1`;
  batch.user_identities = new mParticle.UserIdentities();
  batch.user_identities.customerid = `${prefix}-user-1`;
  batch.user_identities.email = `${prefix}.one@example.com`;
  batch.user_identities.other_id_2 = `${prefix}-crm-1`; // not configured: ignored
  batch.mpid = '-8433569109474474420';
  const device = new mParticle.DeviceInformation();
  device.platform = 'iOS';
  device.ios_idfv = `${prefix}-idfv-1`;
  device.push_token = 'c0ffee';
  device.locale_language = 'fr';
  device.locale_country = 'FR';
  batch.device_info = device;
  batch.user_attributes = {
    $FirstName: 'Ann', $LastName: 'Lee', 'Favorite Color': 'blue', plan: 'gold', $Age: 34,
  };
  batch.consent_state = {
    gdpr: { email_marketing: { consented: true, document: 'v3', timestamp_unixtime_ms: T0 } },
    ccpa: { data_sale_opt_out: { consented: true, timestamp_unixtime_ms: T0 } },
  };
  batch.addEvent(customEvent('Order Completed', T0 + 1000, { total: 42, currency: 'EUR' },
    `${prefix}-m1`));
  batch.addEvent(screenView('Home', T0 + 2000, { tab: 'feed' }));
  const purchase = new mParticle.CommerceEvent();
  purchase.timestamp_unixtime_ms = T0 + 3000;
  purchase.currency_code = 'EUR';
  purchase.product_action = new mParticle.ProductAction(
    mParticle.ProductAction.Action.purchase, 'T-1', 57.5,
    [new mParticle.Product('SKU-1', 'Trail Shoe', 50, 50),
      new mParticle.Product('SKU-2', 'Socks', 7.5, 7.5)]);
  batch.addEvent(purchase);
  return batch;
}

// 2. bulk: the anonymous device, and a session of user-3
function bulk() {
  const a = new mParticle.Batch(mParticle.Batch.Environment.production);
  a.source_request_id = `${prefix}-req-a`;
  a.mp_deviceid = `${prefix}-dev-2`;
  a.addEvent(customEvent('Browsed', T0 + 4000, { category: 'shoes' }));
  const b = new mParticle.Batch(mParticle.Batch.Environment.production);
  b.source_request_id = `${prefix}-req-b`;
  b.mp_deviceid = `${prefix}-dev-2`;
  b.addEvent(screenView('Catalog', T0 + 5000));
  const c = new mParticle.Batch(mParticle.Batch.Environment.production);
  c.source_request_id = `${prefix}-req-c`;
  c.user_identities = new mParticle.UserIdentities();
  c.user_identities.customerid = `${prefix}-user-3`;
  c.device_info = new mParticle.DeviceInformation();
  c.device_info.platform = 'Android';
  c.device_info.android_uuid = `${prefix}-uuid-3`;
  const start = new mParticle.SessionStartEvent();
  start.timestamp_unixtime_ms = T0 + 6000;
  start.session_id = 77;
  c.addEvent(start);
  c.addEvent(customEvent('Played', T0 + 7000, { seconds: 337 }));
  const end = new mParticle.SessionEndEvent(60000);
  end.timestamp_unixtime_ms = T0 + 66000;
  end.session_id = 77;
  c.addEvent(end);
  const optOut = new mParticle.OptOutEvent(true); // the SDK's opt_out: the attribute opted_out
  optOut.timestamp_unixtime_ms = T0 + 67000;
  c.addEvent(optOut);
  return [a, b, c];
}

// 3. the login on the anonymous device
function login() {
  const batch = new mParticle.Batch(mParticle.Batch.Environment.production);
  batch.source_request_id = `${prefix}-req-login`;
  batch.mp_deviceid = `${prefix}-dev-2`;
  batch.user_identities = new mParticle.UserIdentities();
  batch.user_identities.customerid = `${prefix}-user-2`;
  batch.user_attributes = { plan: 'silver' };
  batch.addEvent(customEvent('Signed In', T0 + 8000));
  return batch;
}

function never() {
  const batch = new mParticle.Batch(mParticle.Batch.Environment.production);
  batch.user_identities = new mParticle.UserIdentities();
  batch.user_identities.customerid = `${prefix}-bad-1`;
  batch.addEvent(customEvent('Never Stored', T0));
  return batch;
}

async function main() {
  const events = api(apiKey, apiSecret);
  const statuses = [];
  statuses.push(await call(events, 'uploadEvents', userOne()));
  statuses.push(await call(events, 'bulkUploadEvents', bulk()));
  statuses.push(await call(events, 'uploadEvents', login()));
  for (const s of statuses) if (s !== 202) throw new Error(`status ${s}, 202 expected`);

  const wrong = await refused(api(apiKey, `${apiSecret}-wrong`), 'uploadEvents', never());
  if (wrong !== 403) throw new Error(`a wrong secret: status ${wrong}, 403 expected`);
  const none = await refused(api('', ''), 'bulkUploadEvents', [never()]);
  if (none !== 401) throw new Error(`no credentials: status ${none}, 401 expected`);
  return 5;
}

main().then((n) => {
  console.log(`${prefix}: ${n} batches delivered, refusals as expected`);
  process.exit(0);
}, (err) => {
  console.error(`${prefix}: ${err && err.stack ? err.stack : err}`);
  if (err && err.response && err.response.text) console.error(err.response.text);
  process.exit(1);
});
