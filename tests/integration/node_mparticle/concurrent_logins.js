// concurrent_logins.js - concurrent mParticle clients for
// tests/integration/pg_multiprocess_http.sh.  CLIENTS clients run at once,
// each through the real `mparticle` npm SDK (EventsApi.uploadEvents and
// bulkUploadEvents), each request to a hub picked at random among those
// given.  Each client owns DEVICES devices (a device is one ordered stream:
// a client sends its next request only after the answer to the last one)
// and logs shared users in and out of them: anonymous events, logins
// (user_identities.customerid + a user_identity_change from no customer_id),
// events of the logged-in user, logouts (a user_identity_change from a
// customer_id to none, mParticle's UserIdentityChangeEvent), user switches on
// a device (a change from one customer_id to another) and bulk requests of
// two batches of one device.  The users: USERS regular ones every client
// picks from, and in one round in three a fresh user that every client logs
// in at once (so its profile is created under contention).  Clients go in
// rounds of one request each, sent together.  Some requests are resent (the
// same body, so the same message ids) to another hub after their answer,
// some are sent to two hubs at once, and a few are invalid (an event
// without a name) and must be refused with 400.  429 and 503 are retried
// (the same body, after a short pause).
//
// Writes to OUT:
//   log.jsonl      every delivery: client, round, hub, status, kind, body
//   replay.jsonl   the batches of every accepted delivery, one per line,
//                  client after client, each client's in its order: a
//                  serial order of the same records
//   expected.tsv   the profiles the accepted requests must leave, whatever
//                  the order the hubs applied them in (see the .sh header):
//                  "custom_id|anon TAB installations TAB event ids" (sorted)
//   events.txt     the message id of every accepted event
//   never.txt      the customer ids of the refused requests
// and prints one summary line.  Exits 1 if a valid request is not accepted
// on every hub it went to (or has no answer) or an invalid one is not 400.
//
// Usage: MPARTICLE_API_KEY=... MPARTICLE_API_SECRET=... node concurrent_logins.js \
//          OUT SEED CLIENTS DEVICES USERS ROUNDS BASE_PATH...
'use strict';

const fs = require('fs');
const path = require('path');
const mParticle = require('mparticle');

const [out, seedArg, clientsArg, devicesArg, usersArg, roundsArg, ...bases] =
  process.argv.slice(2);
const apiKey = process.env.MPARTICLE_API_KEY;
const apiSecret = process.env.MPARTICLE_API_SECRET;
if (!out || !bases.length || !apiKey || !apiSecret) {
  console.error('usage: node concurrent_logins.js OUT SEED CLIENTS DEVICES USERS ROUNDS BASE_PATH...');
  process.exit(2);
}
const SEED = Number(seedArg);
const CLIENTS = Number(clientsArg);
const DEVICES = Number(devicesArg);
const USERS = Number(usersArg);
const ROUNDS = Number(roundsArg);
const T0 = Date.now() - 3600 * 1000;
const MAX_TRIES = 100; // per delivery, on 429 / 503

// mulberry32: a small seeded PRNG, one per client
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const apis = bases.map((basePath) => {
  const client = new mParticle.ApiClient();
  client.basePath = basePath;
  client.timeout = 30000;
  return new mParticle.EventsApi(new mParticle.Configuration(apiKey, apiSecret), client);
});

// mParticle's UserIdentityChangeEvent; the SDK has no model for it, so this
// is one in the SDK's manner (Batch.addEvent asks getEventType()).
class UserIdentityChange {
  constructor(newId, oldId, at, messageId) {
    const side = (id) => ({
      identity_type: 'customer_id', identity: id, timestamp_unixtime_ms: at,
      created_this_batch: false,
    });
    this.new = side(newId);
    this.old = side(oldId);
    this.timestamp_unixtime_ms = at;
    this.source_message_id = messageId;
  }

  getEventType() { return 'user_identity_change'; }
}

// Resolves with the final HTTP status (0: no answer) and the tries made.
function deliver(hub, method, body) {
  return new Promise((resolve) => {
    let tries = 0;
    const once = () => {
      tries++;
      apis[hub][method](body, (error, data, response) => {
        const status = error ? (error.status || 0) : response.status;
        if ((status === 429 || status === 503) && tries < MAX_TRIES) {
          setTimeout(once, 20 + 10 * Math.min(tries, 5)); // the client's retry pause
          return;
        }
        resolve({ status, tries });
      });
    };
    once();
  });
}

const log = [];
const replay = [];    // [client] -> lines
const eventsOk = [];
const never = [];
const stats = {
  requests: 0, accepted: 0, refused: 0, resent: 0, doubled: 0, retries: 0, logins: 0, logouts: 0,
  fresh: 0,
};
let failures = 0;

// The model: who holds each device and who owns each event, from the
// accepted requests of the device's (one) client, in order.
const deviceState = new Map(); // device -> customer id or null (anonymous)
const pendingAnon = new Map(); // device -> events on its anonymous profile
const owned = new Map();       // customer id -> events
const known = new Set();       // customer ids that exist

function own(user, ids) {
  if (!owned.has(user)) owned.set(user, []);
  owned.get(user).push(...ids);
}

// A batch's effect, as the hub applies it: the identity change first, then
// the events (mparticle_map.c).
function model(b) {
  const d = b.device;
  if (!deviceState.has(d)) {
    deviceState.set(d, null);
    pendingAnon.set(d, []);
  }
  if (b.change === 'login' || b.change === 'switch') {
    known.add(b.user);
    if (deviceState.get(d) === null) { // the anonymous profile merges in
      own(b.user, pendingAnon.get(d));
      pendingAnon.set(d, []);
    }
    deviceState.set(d, b.user);
  } else if (b.change === 'logout') {
    deviceState.set(d, null); // a new anonymous profile; nothing moves
  }
  const user = deviceState.get(d);
  if (user !== null) own(user, b.events);
  else pendingAnon.get(d).push(...b.events);
}

function makeClient(c) {
  const rand = prng(SEED * 1000 + c);
  const pick = (n) => Math.floor(rand() * n);
  const devices = Array.from({ length: DEVICES }, (_, i) => `c${c}-dev-${i}`);
  const state = new Map(devices.map((d) => [d, null])); // as the client believes
  const user = () => `user-${pick(USERS)}`;
  const lines = [];
  replay[c] = lines;
  let seq = 0;

  // One batch of device d: meta says what it means for the model.
  function batch(d, customer, change, nEvents, invalid) {
    const k = ++seq;
    const at = T0 + c * 100000000 + k * 1000;
    const b = new mParticle.Batch(mParticle.Batch.Environment.production);
    const meta = { device: d, user: customer, change, events: [] };
    b.source_request_id = `c${c}-r${k}`;
    b.mp_deviceid = d;
    b.device_info = new mParticle.DeviceInformation();
    b.device_info.platform = c % 2 ? 'Android' : 'iOS';
    if (customer) {
      b.user_identities = new mParticle.UserIdentities();
      b.user_identities.customerid = customer;
    }
    if (change === 'login') b.addEvent(new UserIdentityChange(customer, null, at, `c${c}-r${k}-uic`));
    if (change === 'switch') b.addEvent(new UserIdentityChange(customer, state.get(d), at, `c${c}-r${k}-uic`));
    if (change === 'logout') b.addEvent(new UserIdentityChange(null, state.get(d), at, `c${c}-r${k}-uic`));
    for (let i = 0; i < nEvents; i++) {
      const id = `c${c}-r${k}-e${i}`;
      const e = new mParticle.AppEvent(mParticle.AppEvent.CustomEventType.navigation,
        invalid && i === nEvents - 1 ? '' : `Step ${pick(5)}`);
      e.timestamp_unixtime_ms = at + 1 + i;
      e.source_message_id = id;
      b.addEvent(e);
      meta.events.push(id);
    }
    if (change === 'login' || change === 'switch') state.set(d, customer);
    if (change === 'logout') state.set(d, null);
    return { b, meta };
  }

  // What the device does next, from what the client believes it is.  In a
  // round with a fresh user every client logs it in (or switches to it) at
  // once: the user's profile is created under contention.
  function next(d, fresh) {
    const cur = state.get(d);
    const r = rand();
    if (fresh && cur !== fresh) {
      if (cur === null) return [batch(d, fresh, 'login', pick(2))];
      if (r < 0.7) return [batch(d, fresh, 'switch', pick(2))];
      return [batch(d, null, 'logout', 0), batch(d, fresh, 'login', pick(2))];
    }
    if (cur === null) {
      if (r < 0.4) return [batch(d, null, null, 1 + pick(2))];
      return [batch(d, user(), 'login', pick(3))];
    }
    if (r < 0.3) return [batch(d, cur, null, 1 + pick(2))];
    if (r < 0.6) return [batch(d, null, 'logout', pick(2))];
    if (r < 0.8) {
      let v = user();
      while (v === cur) v = user();
      return [batch(d, v, 'switch', pick(2))];
    }
    // bulk: the user's events then a logout, or a logout then a login
    if (r < 0.9) return [batch(d, cur, null, 1), batch(d, null, 'logout', pick(2))];
    const first = batch(d, null, 'logout', 0);
    return [first, batch(d, user(), 'login', pick(2))];
  }

  // One request of this client (with its resend or double send).
  return async function step(round, fresh) {
    const d = devices[pick(DEVICES)];
    const before = new Map(state);
    let items;
    const invalid = !fresh && rand() < 0.03;
    if (invalid) {
      items = [batch(d, `never-c${c}-${seq + 1}`, null, 2, true)];
    } else {
      items = next(d, fresh);
    }
    const bulk = items.length > 1;
    const method = bulk ? 'bulkUploadEvents' : 'uploadEvents';
    const body = bulk ? items.map((x) => x.b) : items[0].b;
    const text = JSON.stringify(body);
    const kind = invalid ? 'invalid' : items.map((x) => x.meta.change || 'events').join('+');
    const hub = pick(apis.length);
    const mode = rand();
    let results;
    stats.requests++;
    if (!invalid && mode < 0.05) { // the same body to two hubs at once
      stats.doubled++;
      const other = (hub + 1 + pick(apis.length - 1)) % apis.length;
      results = await Promise.all([deliver(hub, method, body), deliver(other, method, body)]);
      results[0].hub = hub;
      results[1].hub = other;
    } else {
      results = [await deliver(hub, method, body)];
      results[0].hub = hub;
      if (!invalid && mode < 0.1 && results[0].status >= 200 && results[0].status < 300) {
        stats.resent++; // a client's resend after an answer it did not trust
        const other = (hub + 1 + pick(apis.length - 1)) % apis.length;
        const again = await deliver(other, method, body);
        again.hub = other;
        results.push(again);
      }
    }
    let accepted = false;
    for (const res of results) {
      const ok = res.status >= 200 && res.status < 300;
      stats.retries += res.tries - 1;
      log.push(JSON.stringify({ client: c, round, hub: res.hub, status: res.status,
        tries: res.tries, kind, accepted: ok, body: text }));
      if (ok) {
        lines.push(...items.map((x) => JSON.stringify(x.b)));
        accepted = true;
      }
    }
    if (invalid) {
      never.push(items[0].meta.user);
      if (accepted || results.some((res) => res.status !== 400)) {
        console.error(`client ${c} round ${round}: an invalid request answered ${results.map((x) => x.status)}`);
        failures++;
      } else {
        stats.refused++;
      }
      return;
    }
    if (!accepted || results.some((res) => !(res.status >= 200 && res.status < 300))) {
      // a valid request must end 2xx on every hub it went to: anything else
      // (no answer, 5xx, 400) leaves its outcome unclear to the model
      console.error(`client ${c} round ${round} (${kind}): answered ${results.map((x) => x.status)}`);
      failures++;
      state.clear();
      for (const [k, v] of before) state.set(k, v);
      return;
    }
    stats.accepted++;
    if (/login|switch/.test(kind)) stats.logins++;
    if (/logout/.test(kind)) stats.logouts++;
    for (const x of items) model(x.meta);
    for (const x of items) eventsOk.push(...x.meta.events);
  };
}

// Rounds: every client sends one request (and waits for its answer), all
// at once; one round in three brings a fresh user that every client logs
// in.  Rounds only line the clients up; the hubs see the requests of a
// round concurrently.
async function runRounds() {
  const clients = Array.from({ length: CLIENTS }, (_, c) => makeClient(c));
  const rand = prng(SEED);
  for (let round = 0; round < ROUNDS; round++) {
    const fresh = rand() < 1 / 3 ? `fresh-${round}` : null;
    if (fresh) stats.fresh++;
    await Promise.all(clients.map((step) => step(round, fresh)));
  }
}

async function main() {
  await runRounds();
  const expected = [];
  for (const u of known) {
    const devs = [...deviceState].filter(([, s]) => s === u).map(([d]) => d).sort();
    expected.push([u, devs.join(','), (owned.get(u) || []).slice().sort().join(',')].join('\t'));
  }
  for (const [d, s] of deviceState) {
    if (s === null) expected.push(['anon', d, pendingAnon.get(d).slice().sort().join(',')].join('\t'));
  }
  const write = (name, lines) =>
    fs.writeFileSync(path.join(out, name), lines.length ? `${lines.join('\n')}\n` : '');
  write('log.jsonl', log);
  write('replay.jsonl', replay.flat());
  write('expected.tsv', expected.sort());
  write('events.txt', eventsOk);
  write('never.txt', never);
  console.log(`clients: ${stats.requests} requests, ${stats.accepted} accepted (`
    + `${stats.logins} with a login or switch, ${stats.logouts} with a logout), `
    + `${stats.fresh} users logged in by every client at once, ${stats.refused} refused as `
    + `expected, ${stats.resent} resent, ${stats.doubled} sent twice at once, `
    + `${stats.retries} retries after 429/503, ${failures} failures`);
  process.exit(failures ? 1 : 0);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
