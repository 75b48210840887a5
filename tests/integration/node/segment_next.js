// segment_next.js - @segment/analytics-node (the current Segment Node
// library) sends the six calls to the hub's /in/web/v1/batch in one batch
// (flushAt 20), then closeAndFlush().  With --bad-key it sends one track
// with a wrong write key and succeeds only if the hub refused it.
'use strict';

const { Analytics } = require('@segment/analytics-node');
const { args, sendAll, run } = require('./common');

async function main() {
  const { base, prefix, writeKey, path } = args();
  const badKey = process.argv.includes('--bad-key');
  const analytics = new Analytics({
    writeKey: badKey ? `${writeKey}-wrong` : writeKey,
    host: base,
    path,
    flushAt: 20,
    flushInterval: 60000,
    maxRetries: 0,
  });
  const errors = [];
  analytics.on('error', (err) => errors.push(err));

  if (badKey) {
    const refused = new Promise((resolve) => {
      analytics.track({ userId: `${prefix}-user`, event: 'Never Stored' }, (err) => resolve(err));
    });
    await analytics.closeAndFlush({ timeout: 10000 });
    const err = await refused;
    if (!err) throw new Error('a wrong write key was accepted');
    return 0;
  }
  const delivered = sendAll(analytics, prefix);
  await analytics.closeAndFlush({ timeout: 10000 });
  await Promise.all(delivered);
  if (errors.length) throw errors[0];
  return delivered.length;
}

run(main);
