// rudder.js - @rudderstack/rudder-sdk-node (Segment-compatible; gzips its
// bodies by default, labelled application/x-www-form-urlencoded; sends
// originalTimestamp instead of timestamp) sends the six calls to the hub's
// /in/web/v1/batch, then flush().
'use strict';

const Analytics = require('@rudderstack/rudder-sdk-node');
const { args, sendAll, run } = require('./common');

async function main() {
  const { base, prefix, writeKey, path } = args();
  const client = new Analytics(writeKey, {
    dataPlaneUrl: base,
    path,
    flushAt: 20,
    flushInterval: 60000,
    retryCount: 0,
    timeout: 30000, // a request the hub never answers fails the test, not the run's watchdog
    axiosConfig: { proxy: false },
    logLevel: 'error',
  });
  const delivered = sendAll(client, prefix);
  await client.flush();
  await Promise.all(delivered);
  return delivered.length;
}

run(main);
