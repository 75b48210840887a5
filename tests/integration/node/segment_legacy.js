// segment_legacy.js - analytics-node (the legacy Segment Node library,
// axios inside) sends the six calls to the hub's /in/web/v1/batch, then
// flush().  It flushes its first call at once, the rest on flush().
'use strict';

const Analytics = require('analytics-node');
const { args, sendAll, run } = require('./common');

async function main() {
  const { base, prefix, writeKey, path } = args();
  const client = new Analytics(writeKey, {
    host: base,
    path,
    flushAt: 20,
    flushInterval: 60000,
    retryCount: 0,
    timeout: 30000, // a request the hub never answers fails the test, not the run's watchdog
    axiosConfig: { proxy: false },
  });
  const delivered = sendAll(client, prefix);
  await client.flush();
  await Promise.all(delivered);
  return delivered.length;
}

run(main);
