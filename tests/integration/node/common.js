// common.js - what every client script sends, and how it waits.
//
// Each script drives one real npm client against a running hub: the same
// six Segment calls (identify, track, page, screen, group, alias) for its
// own users (ids prefixed with the client's name), then flushes.  A call's
// callback runs after the hub answered its request, so waiting for every
// callback (and the client's flush promise) is the synchronization: no
// sleeps.  Any error fails the script (exit 1).
//
// Usage: node <script>.js BASE_URL PREFIX   (the write key comes from the
// environment, SEGMENT_WRITE_KEY, never from the command line)
'use strict';

const PATH = '/in/web/v1/batch';

function args() {
  const [base, prefix] = process.argv.slice(2);
  const writeKey = process.env.SEGMENT_WRITE_KEY;
  if (!base || !prefix || !writeKey) {
    console.error('usage: SEGMENT_WRITE_KEY=... node script.js BASE_URL PREFIX');
    process.exit(2);
  }
  return { base, prefix, writeKey, path: PATH };
}

// The calls, in order.  user-1 is identified on installation anon-1 and
// has three events; anon-2 views a page, then is aliased to user-2.
function calls(p) {
  return [
    ['identify', {
      userId: `${p}-user-1`,
      anonymousId: `${p}-anon-1`,
      traits: { email: `${p}.one@example.com`, firstName: 'Ann', lastName: 'Lee', plan: 'gold', logins: 3 },
      context: { locale: 'fr-FR', timezone: 'Europe/Paris' },
    }],
    ['track', { userId: `${p}-user-1`, event: 'Order Completed', properties: { total: 42, currency: 'EUR' } }],
    ['page', { anonymousId: `${p}-anon-2`, name: 'Pricing', properties: { path: '/pricing' } }],
    ['screen', { userId: `${p}-user-1`, name: 'Home', properties: { tab: 'feed' } }],
    ['group', { userId: `${p}-user-1`, groupId: `${p}-acme`, traits: { name: 'Acme Inc', employees: 50 } }],
    ['alias', { userId: `${p}-user-2`, previousId: `${p}-anon-2` }],
  ];
}

// Calls client[method](message, callback) for each call; returns one
// promise per call, settled by its callback.
function sendAll(client, prefix) {
  return calls(prefix).map(([method, message]) => new Promise((resolve, reject) => {
    client[method](message, (err) => (err ? reject(new Error(`${method}: ${err.message || err}`)) : resolve()));
  }));
}

// Runs main(); prints "<prefix>: N calls delivered" or the error, exits.
function run(main) {
  main().then((n) => {
    console.log(`${process.argv[3]}: ${n} calls delivered`);
    process.exit(0);
  }, (err) => {
    console.error(`${process.argv[3]}: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  });
}

module.exports = { args, calls, sendAll, run };
