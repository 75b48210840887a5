// browser.js - Segment's own browser library, analytics-next (analytics.js
// 2.0, from npm), in Debian's chromium driven by playwright-core (headless,
// loopback only), posting to a running hub that
// tests/integration/segment_browser.sh started.  The page is served from an
// origin of its own (another port), as a shop's site would be, so every
// call crosses origins: the library posts with an Authorization header, the
// browser asks the hub first (an OPTIONS preflight), then posts to the short
// paths (/v1/i, /v1/t, /v1/p) and reads the answer.
//
// Checks: each call's delivery succeeds (the library saw a 2xx it could
// read), each is posted once (no retry: an answer the browser hid made the
// library send it again), no console error (a CORS refusal is one), and
// nothing leaves 127.0.0.1.  The script then reads the profile through the
// API.  Against a hub without CORS or the short paths: every post fails
// and is sent again, each refusal a console error.
//
// Usage: HUB=http://127.0.0.1:PORT WRITE_KEY=... [CHROMIUM=/usr/bin/chromium]
//        node browser.js
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const HUB = new URL(process.env.HUB);
const WRITE_KEY = process.env.WRITE_KEY;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const BUNDLES = path.join(__dirname, 'node_modules/@segment/analytics-next/dist/umd');

let passed = 0;
let failed = 0;
function check(what, ok, detail) {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.log(`FAIL: ${what}${detail === undefined ? '' : `: ${detail}`}`);
  }
}

// The shop's page: the library's bundle (its lazy chunks from the same
// place: cdnURL), its settings given inline (no request for them), then an
// identify, a track and a page, each awaited; window.outcome says how each
// delivery ended.
function pageHtml(origin) {
  const settings = {
    writeKey: WRITE_KEY,
    cdnURL: origin,
    cdnSettings: {
      integrations: {
        'Segment.io': { apiKey: WRITE_KEY, apiHost: `${HUB.host}/in/web/v1`, protocol: 'http' },
      },
    },
  };
  return `<!doctype html><meta charset="utf-8"><title>shop</title>
<script src="/analytics-next/bundles/index.js"></script>
<script>
window.outcome = (async () => {
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(${JSON.stringify(settings)},
    { disableClientPersistence: true });
  const how = (ctx) => (ctx.failedDelivery() ? 'failed: ' + ctx.failedDelivery().reason : 'ok');
  const out = [];
  out.push(how(await analytics.identify('ann-browser',
    { plan: 'gold', 'Favorite Color': 'blue', email: 'ann.browser@example.com' })));
  out.push(how(await analytics.track('Order Completed', { revenue: 9.5 })));
  out.push(how(await analytics.page('Shop', 'Home')));
  return out;
})().catch((e) => ['threw: ' + e]);
</script>`;
}

// The page's origin: index.html and the library's files, nothing else.
function servePage() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(pageHtml(`http://127.0.0.1:${server.address().port}`));
      return;
    }
    const name = url.pathname.replace(/^\/analytics-next\/bundles\//, '');
    if (name !== url.pathname && /^[A-Za-z0-9_.-]+\.js$/.test(name) &&
        fs.existsSync(path.join(BUNDLES, name))) {
      res.writeHead(200, { 'Content-Type': 'application/javascript' });
      fs.createReadStream(path.join(BUNDLES, name)).pipe(res);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  const server = await servePage();
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
      '--disable-default-apps', '--disable-extensions',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  const ctx = await browser.newContext();
  await ctx.route((url) => url.hostname !== '127.0.0.1', (route) => {
    check('only loopback requests', false, route.request().url());
    return route.abort();
  });
  const page = await ctx.newPage();
  const toHub = [];        // "METHOD /path status" of every answer from the hub
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('response', (resp) => {
    const url = new URL(resp.url());
    if (url.host === HUB.host) toHub.push(`${resp.request().method()} ${url.pathname} ${resp.status()}`);
  });
  page.on('requestfailed', (req) => {
    const url = new URL(req.url());
    if (url.host === HUB.host) toHub.push(`${req.method()} ${url.pathname} failed`);
  });
  // the answers of the three posts, however the page's promise and these
  // events interleave
  const answered = ['i', 't', 'p'].map((p) => page.waitForResponse(
    (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === `/in/web/v1/${p}`,
    { timeout: 30000 }).catch(() => null));

  await page.goto(origin + '/');
  const outcome = await page.evaluate(() => window.outcome);
  await Promise.all(answered);
  check('identify, track and page delivered', JSON.stringify(outcome) === '["ok","ok","ok"]',
    JSON.stringify(outcome));
  const posts = toHub.filter((r) => r.startsWith('POST '));
  check('one post per call, to the short paths, each answered 200',
    JSON.stringify(posts.sort()) === JSON.stringify(
      ['POST /in/web/v1/i 200', 'POST /in/web/v1/p 200', 'POST /in/web/v1/t 200']),
    JSON.stringify(toHub));
  // the preflights do not show here (chromium sends them from its network
  // service): a post with an Authorization header that was answered and
  // read across origins had its preflight answered
  check('no request to the hub failed', !toHub.some((r) => r.endsWith(' failed')),
    JSON.stringify(toHub));
  check('no console errors', consoleErrors.length === 0, JSON.stringify(consoleErrors));

  await browser.close();
  server.close();
  console.log(`segment_browser: ${passed} checks passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL: ${e.stack || e}`);
  console.log(`segment_browser: ${passed} checks passed, ${failed + 1} failed`);
  process.exit(1);
});
