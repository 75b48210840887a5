// seed.js - the canonical records the Profiles View test starts from, as
// JSON Lines on stdout (imported with `profilehub import FILE --source app`
// before the hub starts).  Times are relative to NOW_MS (argv[2]) so the
// page shows "5 min ago" rather than a date long past.
//
// ann-42: an iOS app (push on) and a browser, consents, native and custom
// attributes, 45 events over the last day and a half (more than one page
// of the feed).  sam-1 and sam-2 share an email: a search lists both.
// hist-7 logged out and in again 60 times on one phone: an identity history
// of 122 rows, more than a page (100).  The others are named where they
// are added, with the check they serve (view.js).
'use strict';

const now = Number(process.argv[2]) || Date.now();
const at = (msAgo) => new Date(now - msAgo).toISOString();
const MIN = 60 * 1000;
const out = [];
const add = (r) => out.push(JSON.stringify({ source: 'app', ...r }));

add({
  type: 'identify', message_id: 'seed-ann-1', timestamp: at(6 * 24 * 60 * MIN),
  identifiers: { custom_id: 'ann-42', installation_id: 'ios-ann' }, platform: 'ios', push_enabled: true,
  attributes: {
    $email_address: 'ann@example.com', $phone_number: '+33612345678', $first_name: 'Ann',
    $last_name: 'Lee', $language: 'fr', $timezone: 'Europe/Paris', $region: 'FR',
    plan: 'gold', lifetime_value: 1249.5, vip: true, topics: ['running', 'sales'],
  },
  consent: { email_marketing: 'subscribed', sms_marketing: 'unsubscribed' },
});
add({
  type: 'identify', message_id: 'seed-ann-2', timestamp: at(2 * 24 * 60 * MIN),
  identifiers: { custom_id: 'ann-42', installation_id: 'web-ann' }, platform: 'web',
});

const kinds = [
  ['$screen', { name: 'Home' }],
  ['Viewed Product', { sku: 'RUN-220', name: 'Trail shoes', price: 129.0 }],
  ['Added to Cart', { sku: 'RUN-220', quantity: 1 }],
  ['$page', { name: 'Checkout', path: '/checkout' }],
  ['Order Completed', { order_id: 'o-1001', total: 129.0, currency: 'EUR' }],
];
for (let k = 1; k <= 45; k++) {
  const [name, properties] = kinds[k % kinds.length];
  add({
    type: 'track', message_id: `seed-ev-${String(k).padStart(2, '0')}`,
    timestamp: at((46 - k) * 47 * MIN),
    identifiers: { installation_id: k % 2 ? 'ios-ann' : 'web-ann' }, platform: k % 2 ? 'ios' : 'web',
    event: { name, properties: { ...properties, step: k } },
  });
}

for (const id of ['sam-1', 'sam-2']) {
  add({
    type: 'identify', message_id: `seed-${id}`, timestamp: at(3 * 60 * MIN),
    identifiers: { custom_id: id }, attributes: { $email_address: 'family@example.com', $first_name: 'Sam' },
  });
}

for (let i = 0; i <= 60; i++) {
  const t = 5 * 24 * 60 - 2 * i;
  if (i > 0) {
    add({ type: 'logout', message_id: `seed-hist-o${i}`, timestamp: at(t * MIN),
      identifiers: { installation_id: 'ios-hist' } });
  }
  add({
    type: 'identify', message_id: `seed-hist-i${i}`, timestamp: at((t - 1) * MIN),
    identifiers: { custom_id: 'hist-7', installation_id: 'ios-hist' }, platform: 'ios',
  });
}

// more people share one address than a lookup lists (50)
for (let i = 1; i <= 51; i++) {
  add({
    type: 'identify', message_id: `seed-crowd-${i}`, timestamp: at(3 * 60 * MIN),
    identifiers: { custom_id: `crowd-${i}` }, attributes: { $email_address: 'crowd@example.com' },
  });
}

// feed-3: 45 events (a page of 30 and one older page), for an older
// page read while a live event changes the profile
add({ type: 'identify', message_id: 'seed-feed-0', timestamp: at(3 * 24 * 60 * MIN),
  identifiers: { custom_id: 'feed-3' } });
for (let k = 1; k <= 45; k++) {
  add({ type: 'track', message_id: `seed-feed-${String(k).padStart(2, '0')}`, timestamp: at((46 - k) * 30 * MIN),
    identifiers: { custom_id: 'feed-3' }, event: { name: 'Read Article', properties: { n: k } } });
}

// wide-1: 5,000 custom attributes, each with its time on the page
const wide = {};
for (let i = 0; i < 5000; i++) wide[`attr_${String(i).padStart(4, '0')}`] = i;
add({ type: 'identify', message_id: 'seed-wide-1', timestamp: at(2 * 24 * 60 * MIN),
  identifiers: { custom_id: 'wide-1' }, attributes: wide });

// out-1 logged out of ios-out: the installation went to a new anonymous
// profile (a detach row of out-1's, naming that one)
add({ type: 'identify', message_id: 'seed-out-1', timestamp: at(4 * 60 * MIN),
  identifiers: { custom_id: 'out-1', installation_id: 'ios-out' }, platform: 'ios' });
add({ type: 'logout', message_id: 'seed-out-2', timestamp: at(3 * 60 * MIN),
  identifiers: { installation_id: 'ios-out' } });

// custom IDs with a space after and before: found and erased as they are
for (const id of ['space-5 ', ' lead-5']) {
  add({ type: 'identify', message_id: `seed-${id.trim()}`, timestamp: at(2 * 60 * MIN), identifiers: { custom_id: id } });
}

// tie-1: three events at one time, told apart by message_id: one with an
// emoji (past U+FFFF), one with U+FF01, one ASCII
for (const mid of ['tie-\u{1F600}', 'tie-\uFF01', 'tie-a']) {
  add({ type: 'track', message_id: mid, timestamp: at(90 * MIN), identifiers: { custom_id: 'tie-1' },
    event: { name: 'Tied' } });
}

// proto-1: names an object has by inheritance (Object.prototype's): events
// "constructor", "toString" and "__proto__" (each with a "name" property,
// as a $screen has), external ids of the types "constructor" and "__proto__"
// (configured in view_browser.sh; a computed key, as a literal __proto__
// would set the object's prototype and not be written)
add({ type: 'identify', message_id: 'seed-proto-0', timestamp: at(80 * MIN),
  identifiers: { custom_id: 'proto-1', constructor: 'K1', ['__proto__']: 'K2' } });
['constructor', 'toString', '__proto__'].forEach((name, i) => {
  add({ type: 'track', message_id: `seed-proto-${i + 1}`, timestamp: at((70 - i) * MIN),
    identifiers: { custom_id: 'proto-1' }, event: { name, properties: { name: 'hello' } } });
});

// crm-only-1: an anonymous profile known by an external id alone, as a
// warehouse row makes one
add({ type: 'identify', message_id: 'seed-crm-only-1', timestamp: at(75 * MIN),
  identifiers: { crm_id: 'crm-only-1' }, attributes: { plan: 'gold' } });

// big-1: an integer past 2^53, written as the JSON text a client sends
// (JSON.stringify cannot write it): the access document must keep it
out.push(`{"source":"app","type":"identify","message_id":"seed-big-1","timestamp":"${at(60 * MIN)}",` +
  '"identifiers":{"custom_id":"big-1"},"attributes":{"big":9007199254740993}}');

// rtl-1: values a page must show as text only: markup in an event's name
// and properties, in attributes and in an installation ID, and direction
// overrides (U+202E, never ended) in the custom ID, message IDs and an
// array's item, which must reverse nothing around them
add({ type: 'identify', message_id: 'seed-rtl-1\u202E', timestamp: at(50 * MIN),
  identifiers: { custom_id: 'rtl\u202E9', installation_id: '<img src=x id=xss-inst>' }, platform: 'web',
  attributes: { $email_address: 'rtl@example.com', $first_name: '<script id=xss-name>', topics: ['a\u202Eb', 'after'],
    site: 'javascript:document.body.id="xss"' } });
add({ type: 'track', message_id: 'seed-rtl\u202E-2', timestamp: at(40 * MIN), identifiers: { custom_id: 'rtl\u202E9' },
  event: { name: '<img src=x id=xss-ev></script><script>document.body.id="xss"</script>',
    properties: { '<b id=xss-k>k</b>': '<svg id=xss-v onload=alert(1)>' } } });

// list-1, list-2: markup in what a list of matches shows (a name, an
// email: without spaces, as an email must be): a search for
// "<img src=x id=xss-list>" finds list-1 by its custom ID and list-2 by
// its installation ID
add({ type: 'identify', message_id: 'seed-list-1', timestamp: at(30 * MIN),
  identifiers: { custom_id: '<img src=x id=xss-list>' } });
add({ type: 'identify', message_id: 'seed-list-2', timestamp: at(30 * MIN),
  identifiers: { custom_id: 'list-2', installation_id: '<img src=x id=xss-list>' }, platform: 'web',
  attributes: { $email_address: '<b/id=xss-mail>@example.com' } });

// long-1, long-2: custom IDs of 200 characters without a space, sharing an
// email of 70: a list of matches, a profile and its erase dialog at a
// phone's width, none wider than the screen
for (const n of [1, 2]) {
  add({ type: 'identify', message_id: `seed-long-${n}`, timestamp: at(20 * MIN),
    identifiers: { custom_id: `long-${n}-${'x'.repeat(200)}` },
    attributes: { $email_address: 'firstname.lastname.marketing-department@subsidiary-company.example.com' } });
}

process.stdout.write(out.join('\n') + '\n');
