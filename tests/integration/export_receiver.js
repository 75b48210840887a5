// export_receiver.js - the webhook receiver of tests/integration/export_webhook.sh
// and bench/export: an HTTP server (Node built-ins only) that checks what the
// webhook export sends, records what it accepts, and fails on demand.
//
//   node export_receiver.js PORT SECRET LOG [--digest]
//
// POST /hook     a batch: {"changes": [...]}.  It must be signed as
//                plugins/webhook/README.md says (verify() below): the
//                X-Profilehub-Signature "v1=" and the hex HMAC-SHA256, keyed
//                with SECRET, of "<X-Profilehub-Timestamp>.<Idempotency-Key>.
//                <raw body>" (else 401, counted in bad_signatures), with a
//                timestamp at most 5 minutes from this clock (else 401,
//                counted in stale_timestamps); and the Idempotency-Key must
//                be "<name>-<first>-<last>", the range the batch was planned
//                over, holding the seqs of its changes (else 400, counted in
//                bad_keys).  Then, by the current mode:
//                  ok      every change is appended to LOG (one JSON line:
//                          key, seq, kind, profile_id, custom_id, has_profile,
//                          keys; with --digest also digest, the hex SHA-256
//                          of the change's JSON), synchronously, before the
//                          200
//                  500     answers 500
//                  429     answers 429 with Retry-After: <retry_after>
//                  400     answers 400
//                  hang    never answers (the export's timeout must fire)
//                  delay   records like ok, then holds the answer for 30 s
//                  slow    records like ok, then answers 200 after 1 s
//                          (the test kills the hub meanwhile: the batch is
//                          stored here but not acknowledged to the hub)
// POST /mode     {"mode": "...", "retry_after": N}: switches the mode
// GET  /stats    {"requests", "accepted", "changes", "bad_signatures",
//                 "stale_timestamps", "bad_keys", "by_mode": {mode: requests}}
// GET  /last     the last batch /hook recorded, as it came: {"key",
//                 "timestamp", "signature", "body_base64"} (404 before one)
// POST /verify[?now=UNIX_SECONDS]
//                verify() only, as if this clock said `now`: 204, or 401
//                with {"error": why}; records and counts nothing (the test
//                sends a recorded batch again, altered, to see it refused)
//
// Prints "listening PORT" once it accepts connections.
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

const [port, secret, logPath, digestFlag] = process.argv.slice(2);
const withDigest = digestFlag === '--digest';
if (!port || !secret || !logPath) {
	console.error('usage: node export_receiver.js PORT SECRET LOG [--digest]');
	process.exit(2);
}

let mode = 'ok';
let retryAfter = 1;
const stats = {
	requests: 0, accepted: 0, changes: 0, bad_signatures: 0, stale_timestamps: 0, bad_keys: 0,
	by_mode: {},
};
const held = [];
let last = null;

function readBody(req) {
	return new Promise((resolve, reject) => {
		const parts = [];
		req.on('data', (d) => parts.push(d));
		req.on('end', () => resolve(Buffer.concat(parts)));
		req.on('error', reject);
	});
}

function answer(res, status, headers, why) {
	res.writeHead(status, Object.assign({ 'Content-Type': 'application/json' }, headers || {}));
	res.end(JSON.stringify(status < 300 ? { ok: true } : { error: why || 'status ' + status }));
}

// Why the request is not an authentic, fresh one of the export, or null
// (plugins/webhook/README.md: "Verifying a request").
function verify(req, body, nowSeconds) {
	const stamp = String(req.headers['x-profilehub-timestamp'] || '');
	const key = String(req.headers['idempotency-key'] || '');
	const got = Buffer.from(String(req.headers['x-profilehub-signature'] || ''));
	if (!/^[0-9]{1,12}$/.test(stamp))
		return 'no timestamp';
	const want = Buffer.from('v1=' + crypto.createHmac('sha256', secret)
		.update(stamp + '.' + key + '.').update(body).digest('hex'));
	if (got.length !== want.length || !crypto.timingSafeEqual(got, want))
		return 'bad signature';
	if (Math.abs(nowSeconds - Number(stamp)) > 300)
		return 'stale timestamp';
	return null;
}

function record(key, changes) {
	const lines = changes.map((c) => JSON.stringify(Object.assign({
		key, seq: c.seq, kind: c.kind, profile_id: c.profile_id,
		custom_id: c.custom_id === undefined ? '(absent)' : c.custom_id,
		has_profile: c.profile !== undefined, keys: Object.keys(c),
	}, withDigest ? {
		digest: crypto.createHash('sha256').update(JSON.stringify(c)).digest('hex'),
	} : {})) + '\n');
	fs.appendFileSync(logPath, lines.join(''));
	stats.accepted++;
	stats.changes += changes.length;
}

function remember(req, key, body) {
	last = {
		key,
		timestamp: req.headers['x-profilehub-timestamp'],
		signature: req.headers['x-profilehub-signature'],
		body_base64: body.toString('base64'),
	};
}

async function hook(req, res) {
	const body = await readBody(req);
	stats.requests++;
	stats.by_mode[mode] = (stats.by_mode[mode] || 0) + 1;
	const why = verify(req, body, Math.floor(Date.now() / 1000));
	if (why) {
		stats[why === 'stale timestamp' ? 'stale_timestamps' : 'bad_signatures']++;
		return answer(res, 401, null, why);
	}
	let changes;
	try {
		changes = JSON.parse(body.toString('utf8')).changes;
	} catch (e) {
		return answer(res, 400);
	}
	const key = String(req.headers['idempotency-key'] || '');
	const m = /^(.+)-(\d+)-(\d+)$/.exec(key);
	if (!Array.isArray(changes) || changes.length === 0 || !m ||
	    Number(m[2]) > changes[0].seq || Number(m[3]) < changes[changes.length - 1].seq) {
		stats.bad_keys++;
		return answer(res, 400);
	}
	switch (mode) {
	case 'ok':
		record(key, changes);
		remember(req, key, body);
		return answer(res, 200);
	case 'delay':
		record(key, changes);
		remember(req, key, body);
		held.push(setTimeout(() => answer(res, 200), 30000));
		return undefined;
	case 'slow':
		record(key, changes);
		remember(req, key, body);
		held.push(setTimeout(() => answer(res, 200), 1000));
		return undefined;
	case '429':
		return answer(res, 429, { 'Retry-After': String(retryAfter) });
	case 'hang':
		held.push(res);
		return undefined;
	default:
		return answer(res, Number(mode) || 500);
	}
}

async function setMode(req, res) {
	const m = JSON.parse((await readBody(req)).toString('utf8'));
	mode = String(m.mode);
	if (m.retry_after !== undefined)
		retryAfter = m.retry_after;
	answer(res, 200);
}

async function verifyOnly(req, res, url) {
	const body = await readBody(req);
	const now = url.searchParams.get('now');
	const why = verify(req, body, now === null ? Math.floor(Date.now() / 1000) : Number(now));
	if (why)
		return answer(res, 401, null, why);
	res.writeHead(204);
	return res.end();
}

const server = http.createServer((req, res) => {
	const url = new URL(req.url, 'http://receiver');
	let p;
	if (req.method === 'POST' && req.url === '/hook')
		p = hook(req, res);
	else if (req.method === 'POST' && url.pathname === '/verify')
		p = verifyOnly(req, res, url);
	else if (req.method === 'GET' && req.url === '/last')
		p = Promise.resolve(last ? res.end(JSON.stringify(last)) : answer(res, 404));
	else if (req.method === 'POST' && req.url === '/mode')
		p = setMode(req, res);
	else if (req.method === 'GET' && req.url === '/stats')
		p = Promise.resolve(res.end(JSON.stringify(stats)));
	else
		p = Promise.resolve(answer(res, 404));
	p.catch((e) => {
		console.error(e);
		answer(res, 500);
	});
});
server.keepAliveTimeout = 60000;
server.listen(Number(port), '127.0.0.1', () => console.log('listening ' + server.address().port));
