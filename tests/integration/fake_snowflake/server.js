// server.js - a fake of Snowflake's SQL API v2 for the tests, written from
// the documented request and response shapes (shared/design/WIRE.md):
//
//   POST /api/v2/statements?requestId=ID[&retry=true]
//        body {statement, timeout, database, schema, warehouse, role,
//              bindings: {"1": {type: "TEXT"|"FIXED"|"REAL"|"BOOLEAN"|
//              "DATE"|"TIMESTAMP_*", value}}, parameters}
//        -> 200 result set (partition 0 inline), 202 {statementHandle} when
//           asked to run "asynchronously", 422 for a SQL error (a requestId
//           that failed answers its failure again, one that ran its result
//           set again, logged answered_again: it does not run twice)
//        -> 408 {statementHandle, ...} when it ran past its `timeout` (the
//           timed_out fault below), answered again to its requestId
//   GET  /api/v2/statements/HANDLE            -> 202 while running, then 200
//   GET  /api/v2/statements/HANDLE?partition=N -> {data} (gzip if accepted)
//   POST /api/v2/statements/HANDLE/cancel -> 200 {statementHandle, code,
//        sqlState, message, statementStatusUrl}; a cancelled statement's
//        GET then answers 422 (SQLSTATE 57014), an unknown handle's 404
//
// Every /api/v2 request must carry a key-pair JWT (RS256) that verifies
// against --public-key, with iss ACCOUNT.USER.SHA256:<fingerprint>, sub
// ACCOUNT.USER and exp <= iat + 3600; else 401.
//
// It "runs" only the queries the tests write: SELECT ... FROM <TABLE>
// [WHERE <col> >= ?] [ORDER BY a, b] (and the LIMIT 0 wrapper of
// check --connect), over tables from --data, cells as jsonv2 strings,
// after lexing it as Snowflake does (comments, strings; parentheses that
// do not balance or a `;` before the end fail as Snowflake's errors).  As
// in SQL, NULL >= x is not true (the row is left out) and ORDER BY puts
// NULLs last (Snowflake's default for ASC).  The bound value is cast as
// Snowflake would: a number bound against a text column casts every cell
// to a number, and one that is not fails the statement (22018); text bound
// against a DATE or TIMESTAMP_* column reads as Snowflake's AUTO input
// format (epoch seconds, a date, a timestamp; DATE takes a timestamp's
// day), else 22007; NUMBERs compare exactly, as decimals.
//
// Test controls (no auth): POST /_control {faults: [{on: "post"|"get"|
// "partition", status, retry_after, empty (no body at all, as gateways
// answer), bad_gzip (a 200 saying gzip whose body is not: cut or spoiled
// in transit), sql_state, code, message (a 422's), partition: N (only a
// request for partition N takes it), cut_after: BYTES with cut: "close" |
// "reset" | "hold" (a partition's answer, or a POST's 200, with its real
// headers and Content-Length the whole body's, then only its first BYTES
// bytes, a partition gzip'd if accepted: the connection is closed, reset,
// or held open until the client leaves; its log entry says `cut: {how,
// sent, of}`; unframed: true sends neither Content-Length nor chunks, so
// the body ends where the connection does, as HTTP/1.0 allows), timed_out:
// true (the statement ran past its `timeout` and Snowflake cancelled it: a
// POST's, or a poll's and every later one's, answer is Snowflake's 408, a
// QueryStatus naming the statement; a POST's requestId answers it again),
// answer_code: CODE with message (a POST's or a poll's 200 carries that
// code instead of 090001: "333334" a QueryStatus without rows, the
// statement still running and polled as after a 202; any other its result
// set with rows, as if read blindly)}],
// async_polls: N, append:
// {TABLE: [rows]}}; GET /_log -> every /api/v2 request seen (a statement's
// handle in `handle`).  A fault is taken once, by the first request it fits.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const zlib = require('zlib');

function arg(name, dflt) {
	const i = process.argv.indexOf('--' + name);
	return i > 0 ? process.argv[i + 1] : dflt;
}

const pubPem = fs.readFileSync(arg('public-key'), 'utf8');
const pubKey = crypto.createPublicKey(pubPem);
const fingerprint = 'SHA256:' + crypto.createHash('sha256')
	.update(pubKey.export({ type: 'spki', format: 'der' })).digest('base64');
const account = arg('account').toUpperCase();
const user = arg('user').toUpperCase();
const partitionRows = parseInt(arg('partition-rows', '5'), 10);
const tables = JSON.parse(fs.readFileSync(arg('data'), 'utf8'));

const control = { faults: [], async_polls: 0 };
const log = [];
const statements = new Map();   // handle -> {columns, rows, polls_left}
const byRequestId = new Map();  // requestId -> handle
const failedByRequestId = new Map(); // requestId -> {status, body}: its 422 or 408
let nextHandle = 1;

function send(res, status, body, headers) {
	const text = JSON.stringify(body);
	res.writeHead(status, Object.assign({ 'Content-Type': 'application/json' }, headers || {}));
	res.end(text);
}

function b64urlDecode(s) {
	return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

// The reason a request's JWT is refused, or null.
function jwtProblem(req) {
	const auth = req.headers.authorization || '';
	if (req.headers['x-snowflake-authorization-token-type'] !== 'KEYPAIR_JWT')
		return 'missing X-Snowflake-Authorization-Token-Type: KEYPAIR_JWT';
	if (!req.headers['user-agent'])
		return 'missing User-Agent';
	if (!auth.startsWith('Bearer '))
		return 'missing Bearer token';
	const parts = auth.slice(7).split('.');
	if (parts.length !== 3)
		return 'not a JWT';
	let header, claims;
	try {
		header = JSON.parse(b64urlDecode(parts[0]));
		claims = JSON.parse(b64urlDecode(parts[1]));
	} catch (e) {
		return 'undecodable JWT';
	}
	if (header.alg !== 'RS256')
		return 'alg must be RS256';
	const ok = crypto.verify('RSA-SHA256', Buffer.from(parts[0] + '.' + parts[1]), pubKey,
		b64urlDecode(parts[2]));
	if (!ok)
		return 'bad signature';
	const now = Math.floor(Date.now() / 1000);
	if (claims.iss !== `${account}.${user}.${fingerprint}`)
		return `iss ${claims.iss} is not ${account}.${user}.${fingerprint}`;
	if (claims.sub !== `${account}.${user}`)
		return 'bad sub';
	if (typeof claims.iat !== 'number' || typeof claims.exp !== 'number' ||
	    claims.exp - claims.iat > 3600)
		return 'exp must be at most iat + 3600';
	if (claims.exp <= now || claims.iat > now + 60)
		return 'expired or not yet valid';
	return null;
}

const DAY_NS = 86400n * 1000000000n;

// A TIMESTAMP_* cell, "1767323045.123456789" (TZ adds " 1440"), -> ns
// (BigInt); the sign is the whole value's ("-0.5" is half a second before
// 1970), as the plugin reads it.
function epochNs(s) {
	const m = /^(-?)(\d+)(?:\.(\d{1,9}))?(?: \d+)?$/.exec(s);
	if (!m)
		throw new Error('not an epoch cell: ' + s);
	const ns = BigInt(m[2]) * 1000000000n + BigInt(((m[3] || '') + '000000000').slice(0, 9));
	return m[1] ? -ns : ns;
}

// Bound text cast to a time as Snowflake's AUTO input format reads it ->
// ns (BigInt), or null: an integer is seconds since the epoch (from
// 31536000000 on, milliseconds; then microseconds, nanoseconds); else a
// date, or a date and a time ('T' or a space) with up to 9 decimals and
// Z or an offset.
function castTimeNs(s) {
	if (/^-?\d+$/.test(s)) {
		const v = BigInt(s), a = v < 0n ? -v : v;
		const scale = a < 31536000000n ? 1000000000n : a < 31536000000000n ? 1000000n :
			a < 31536000000000000n ? 1000n : 1n;
		return v * scale;
	}
	const m = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?)?(Z|[+-]\d\d:?\d\d)?$/
		.exec(s);
	if (!m)
		return null;
	const d = new Date(0); // setUTCFullYear: Date.UTC reads years 0..99 as 1900..1999
	d.setUTCFullYear(+m[1], +m[2] - 1, +m[3]);
	if (d.getUTCMonth() !== +m[2] - 1 || +m[4] > 23 || +m[5] > 59 || +m[6] > 59)
		return null;
	let off = 0;
	if (m[8] && m[8] !== 'Z') {
		const hm = m[8].slice(1).replace(':', '');
		off = (m[8][0] === '-' ? -1 : 1) * (Number(hm.slice(0, 2)) * 3600 + Number(hm.slice(2)) * 60);
	}
	const sec = BigInt(d.getTime() / 1000 + (+m[4] || 0) * 3600 + (+m[5] || 0) * 60 +
		(+m[6] || 0) - off);
	return sec * 1000000000n + BigInt(((m[7] || '') + '000000000').slice(0, 9));
}

const isTime = type => type.startsWith('timestamp') || type === 'date';

// A time cell as a number that orders it: DATE cells are days since the
// epoch, TIMESTAMP_* cells epoch seconds (epochNs).
function timeKey(type, cell) {
	return type === 'date' ? BigInt(cell) : epochNs(cell);
}

// A value bound against a time column, cast as Snowflake casts it, as a
// timeKey: DATE reads every TIMESTAMP text too, the time truncated (its
// day); text that reads as neither fails as Snowflake's 22007.
function boundTimeKey(type, v) {
	const ns = castTimeNs(v);
	if (ns === null)
		throw new SqlError(type === 'date' ? '100040' : '100035', '22007',
			`${type === 'date' ? 'Date' : 'Timestamp'} '${v}' is not recognized`);
	if (type !== 'date')
		return ns;
	return ns >= 0n ? ns / DAY_NS : -((-ns + DAY_NS - 1n) / DAY_NS); // floor
}

// An exact number's text ("-12.50", "1e3") -> {n, scale}: n / 10^scale
// (BigInt n); null when it is not one.
function decimal(s) {
	const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(s.trim());
	if (!m || !(m[2] || m[3]))
		return null;
	let digits = m[2] + (m[3] || ''), scale = (m[3] || '').length - Number(m[4] || 0);
	if (scale < 0) {
		digits += '0'.repeat(-scale);
		scale = 0;
	}
	return { n: BigInt(m[1] + digits), scale };
}

// Two NUMBER values compared exactly (beyond 2^53 too); as doubles when one
// is not a decimal.
function compareFixed(a, b) {
	const x = decimal(a), y = decimal(b);
	if (!x || !y)
		return Number(a) < Number(b) ? -1 : Number(a) > Number(b) ? 1 : 0;
	const s = Math.max(x.scale, y.scale);
	const p = x.n * 10n ** BigInt(s - x.scale), q = y.n * 10n ** BigInt(s - y.scale);
	return p < q ? -1 : p > q ? 1 : 0;
}

// Two cells of a column, for ORDER BY: NULLs last.  A WHERE never compares
// a NULL (matches()).
function compare(type, a, b) {
	if (a === null || b === null)
		return (a === null) - (b === null);
	if (isTime(type)) {
		const x = timeKey(type, a), y = timeKey(type, b);
		return x < y ? -1 : x > y ? 1 : 0;
	}
	if (type === 'fixed')
		return compareFixed(a, b);
	if (type === 'real')
		return Number(a) - Number(b);
	return a < b ? -1 : a > b ? 1 : 0;
}

class SqlError extends Error {
	constructor(code, state, message) {
		super(message);
		this.code = code;
		this.state = state;
	}
}

const NUMBER_BINDINGS = ['FIXED', 'REAL'];
const TIME_BINDINGS = ['DATE', 'TIMESTAMP_NTZ', 'TIMESTAMP_LTZ', 'TIMESTAMP_TZ'];
const BINDINGS = ['TEXT', 'BOOLEAN', ...NUMBER_BINDINGS, ...TIME_BINDINGS];

function notNumeric(v) {
	return new SqlError('100038', '22018', `Numeric value '${v}' is not recognized`);
}

// A column's type compared with a binding's: a row filter for
// `col >= ?` (NULL >= x is never true), or a SqlError as Snowflake's.
function matches(col, b) {
	const numeric = v => v.trim() !== '' && !Number.isNaN(Number(v));
	if (!BINDINGS.includes(b.type) || typeof b.value !== 'string')
		throw new SqlError('002049', '42601', 'SQL compilation error: Bind variable ? not set.');
	if (NUMBER_BINDINGS.includes(b.type) && !numeric(b.value))
		throw notNumeric(b.value);
	if (NUMBER_BINDINGS.includes(b.type) && isTime(col.type))
		throw new SqlError('002010', '42000', `SQL compilation error: Can not convert ` +
			`parameter 1 of type [${b.type}] into expected type [${col.type.toUpperCase()}]`);
	if (NUMBER_BINDINGS.includes(b.type) && col.type === 'text') {
		// the text column is cast to a number, cell by cell
		return v => {
			if (!numeric(v))
				throw notNumeric(v);
			return Number(v) >= Number(b.value);
		};
	}
	if (b.type === 'TEXT' && (col.type === 'fixed' || col.type === 'real') && !numeric(b.value))
		throw notNumeric(b.value);
	if (b.type === 'REAL' && col.type === 'fixed') // the NUMBER compared as a double
		return v => Number(v) >= Number(b.value);
	if (isTime(col.type)) {
		const at = boundTimeKey(col.type, b.value);
		return v => timeKey(col.type, v) >= at;
	}
	return v => compare(col.type, v, b.value) >= 0;
}

function syntaxError(token) {
	return new SqlError('001003', '42000', 'SQL compilation error:\nsyntax error line 1 at ' +
		`position 0 unexpected '${token}'.`);
}

// The statement as Snowflake's lexer sees it: strings ('...' with '' and
// backslash escapes), quoted names, $$...$$ kept; comments (--, //, /* */)
// become a space.  Parentheses must balance and a `;` may only end the
// statement (outside parentheses, nothing after it but space and
// comments), else the syntax error or the statement count error Snowflake
// answers.
function lex(s) {
	let out = '', depth = 0, ended = false, i = 0;
	while (i < s.length) {
		const c = s[i];
		let j;
		if (s.startsWith('--', i) || s.startsWith('//', i)) {
			j = s.indexOf('\n', i);
			i = j < 0 ? s.length : j;
			out += ' ';
			continue;
		}
		if (s.startsWith('/*', i)) {
			if ((j = s.indexOf('*/', i + 2)) < 0)
				throw syntaxError('<EOF>');
			i = j + 2;
			out += ' ';
			continue;
		}
		if (ended && !/\s/.test(c))
			throw new SqlError('000008', '0A000', 'Actual statement count 2 did not match the ' +
				'desired statement count 1.');
		if (c === "'" || c === '"') {
			for (j = i + 1; j < s.length; j++) {
				if (c === "'" && s[j] === '\\')
					j++;
				else if (s[j] === c && s[j + 1] === c)
					j++;
				else if (s[j] === c)
					break;
			}
			if (j >= s.length)
				throw syntaxError('<EOF>');
			out += s.slice(i, j + 1);
			i = j + 1;
			continue;
		}
		if (s.startsWith('$$', i)) {
			if ((j = s.indexOf('$$', i + 2)) < 0)
				throw syntaxError('<EOF>');
			out += s.slice(i, j + 2);
			i = j + 2;
			continue;
		}
		if (c === '(')
			depth++;
		else if (c === ')' && --depth < 0)
			throw syntaxError(')');
		else if (c === ';') {
			if (depth > 0)
				throw syntaxError(';');
			ended = true;
		}
		out += c;
		i++;
	}
	if (depth > 0)
		throw syntaxError('<EOF>');
	return out.replace(/;\s*$/, '');
}

// The tiny SQL the tests write -> {columns, rows}.
function execute(text, bindings) {
	const statement = lex(text);
	const from = /\bFROM\s+([A-Za-z_][\w.]*)/i.exec(statement);
	const name = from ? from[1].split('.').pop().toUpperCase() : '';
	const table = tables[name];
	if (!table)
		throw new SqlError('002003', '42S02', `SQL compilation error:\nObject '${name}' does ` +
			'not exist or not authorized.');
	const cols = table.columns;
	const index = c => {
		const i = cols.findIndex(k => k.name.toUpperCase() === c.toUpperCase());
		if (i < 0)
			throw new SqlError('000904', '42000', `SQL compilation error: error line 1 at ` +
				`position 0\ninvalid identifier '${c.toUpperCase()}'`);
		return i;
	};
	let rows = table.rows.slice();
	const where = /\bWHERE\s+(\w+)\s*>=\s*\?/i.exec(statement);
	if (where) {
		const b = bindings && bindings['1'];
		if (!b)
			throw new SqlError('002049', '42601', 'SQL compilation error: Bind variable ? not set.');
		const i = index(where[1]);
		const atOrAfter = matches(cols[i], b);
		rows = rows.filter(r => r[i] !== null && atOrAfter(r[i]));
	}
	const order = /\bORDER\s+BY\s+([\w\s,]+?)\s*(\)|$|LIMIT)/i.exec(statement);
	if (order) {
		const keys = order[1].split(',').map(s => index(s.trim()));
		rows.sort((x, y) => {
			for (const k of keys) {
				const c = compare(cols[k].type, x[k], y[k]);
				if (c)
					return c;
			}
			return 0;
		});
	}
	if (/\)\s*LIMIT\s+0\s*$/i.test(statement))
		rows = [];
	return { columns: cols, rows };
}

function partitions(rows) {
	const parts = [];
	for (let i = 0; i < rows.length; i += partitionRows)
		parts.push(rows.slice(i, i + partitionRows));
	return parts.length ? parts : [[]];
}

// A statement's 200 (f: an answer_code fault, its code and message instead).
function answer200(handle, st, f) {
	if (!f || !f.answer_code)
		return resultSet(handle, st);
	if (f.answer_code === '333334')
		return { code: '333334', message: f.message || 'Asynchronous execution in progress.',
			statementHandle: handle, statementStatusUrl: `/api/v2/statements/${handle}` };
	return Object.assign(resultSet(handle, st), { code: f.answer_code,
		message: f.message || 'unknown' });
}

function resultSet(handle, st) {
	const parts = partitions(st.rows);
	return {
		resultSetMetaData: {
			numRows: st.rows.length,
			format: 'jsonv2',
			partitionInfo: parts.map(p => ({ rowCount: p.length,
				uncompressedSize: JSON.stringify(p).length })),
			rowType: st.columns.map(c => ({ name: c.name, type: c.type, scale: c.scale || 0,
				precision: c.precision || 38, nullable: true, length: null, byteLength: null })),
		},
		data: parts[0],
		code: '090001',
		statementStatusUrl: `/api/v2/statements/${handle}?requestId=${st.requestId}`,
		requestId: st.requestId,
		sqlState: '00000',
		statementHandle: handle,
		message: 'Statement executed successfully.',
		createdOn: Date.now(),
	};
}

// The first fault armed for this request (a partition's: for its number
// when the fault names one), taken: it fires once.
function takeFault(on, partition) {
	const i = control.faults.findIndex(f => f.on === on &&
		(f.partition === undefined || f.partition === partition));
	return i < 0 ? null : control.faults.splice(i, 1)[0];
}

// An answer cut in transit (f.cut_after, f.cut): its headers as a whole
// answer's (f.unframed: without a length, the body closed by the
// connection's end), then the first bytes of its body, then the
// connection closed (FIN), reset (RST) or held open, sending nothing more.
function sendCut(res, f, headers, body, entry) {
	const sent = Math.max(0, Math.min(f.cut_after, body.length - 1));
	if (f.unframed) {
		res.useChunkedEncodingByDefault = false;
		res.shouldKeepAlive = false;
	} else {
		headers = Object.assign({ 'Content-Length': String(body.length) }, headers);
	}
	res.writeHead(200, headers);
	res.write(body.subarray(0, sent), () => {
		entry.cut = { how: f.cut, sent, of: body.length };
		if (f.cut === 'reset')
			res.socket.resetAndDestroy();
		else if (f.cut !== 'hold')
			res.socket.destroy();
	});
}

function sendFault(res, f) {
	const headers = f.retry_after !== undefined ? { 'Retry-After': String(f.retry_after) } : {};
	if (f.bad_gzip) {
		res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
		return res.end(Buffer.from('this is not gzip'));
	}
	if (f.empty) { // a gateway's answer: a status, no body at all
		res.writeHead(f.status, headers);
		return res.end();
	}
	const body = { code: f.code || '000000', message: f.message || (f.status === 429 ?
		'Too many requests' : 'Service temporarily unavailable') };
	if (f.sql_state)
		body.sqlState = f.sql_state;
	send(res, f.status, body, headers);
}

function postStatement(req, res, url, body, entry) {
	const requestId = url.searchParams.get('requestId');
	const retry = url.searchParams.get('retry') === 'true';
	entry.requestId = requestId;
	entry.retry = retry;
	let parsed;
	try {
		parsed = JSON.parse(body);
	} catch (e) {
		return send(res, 400, { code: '390142', message: 'Incoming request body is not JSON.' });
	}
	entry.binding = parsed.bindings && parsed.bindings['1'] ? parsed.bindings['1'].value : null;
	entry.statement = parsed.statement;
	entry.database = parsed.database;
	entry.timeout = parsed.timeout;
	entry.binding_type = parsed.bindings && parsed.bindings['1'] ? parsed.bindings['1'].type : null;
	if (byRequestId.has(requestId) || failedByRequestId.has(requestId)) {
		if (!retry)
			entry.duplicate_without_retry = true;
		if (failedByRequestId.has(requestId)) { // it ran and failed: the same failure
			const failed = failedByRequestId.get(requestId);
			entry.status = failed.status;
			entry.failed_again = true;
			return send(res, failed.status, failed.body);
		}
		const handle = byRequestId.get(requestId); // it ran: its result, not run again
		entry.status = 200;
		entry.answered_again = true;
		return send(res, 200, resultSet(handle, statements.get(handle)));
	}
	const f = takeFault('post');
	if (f && f.status === 422) { // the statement ran and failed
		entry.status = 422;
		const failure = { code: f.code || '000000', message: f.message || 'failed',
			sqlState: f.sql_state, statementHandle: 'failed-' + nextHandle++ };
		failedByRequestId.set(requestId, { status: 422, body: failure });
		return send(res, 422, failure);
	}
	if (f && f.timed_out) { // it ran past its timeout: Snowflake cancelled it
		entry.status = 408;
		const failure = timedOut('timedout-' + nextHandle++, parsed.timeout);
		failedByRequestId.set(requestId, { status: 408, body: failure });
		return send(res, 408, failure);
	}
	if (f && !f.cut && !f.answer_code) {
		entry.status = f.status;
		return sendFault(res, f);
	}
	let st;
	try {
		st = execute(parsed.statement, parsed.bindings);
	} catch (e) {
		if (!(e instanceof SqlError))
			throw e;
		entry.status = 422;
		const failure = { code: e.code, message: e.message, sqlState: e.state,
			statementHandle: 'failed-' + nextHandle++ };
		failedByRequestId.set(requestId, { status: 422, body: failure });
		return send(res, 422, failure);
	}
	const handle = `01b2c3d4-0000-${String(nextHandle++).padStart(4, '0')}-0000-000000000000`;
	st.requestId = requestId;
	st.timeout = parsed.timeout;
	st.polls_left = control.async_polls + (f && f.answer_code === '333334' ? 1 : 0);
	statements.set(handle, st);
	byRequestId.set(requestId, handle);
	entry.handle = handle;
	if (f && f.answer_code) {
		if (f.answer_code === '333334')
			st.polls_left--; // this answer was its first "still running"
		entry.status = 200;
		return send(res, 200, answer200(handle, st, f));
	}
	if (st.polls_left > 0) {
		entry.status = 202;
		return send(res, 202, { code: '333334', message: 'Asynchronous execution in progress. ' +
			'Use provided query id to perform query monitoring and management.',
		statementHandle: handle, statementStatusUrl: `/api/v2/statements/${handle}` });
	}
	entry.status = 200;
	if (f) // a cut: the statement ran, its answer is lost on the way
		return sendCut(res, f, { 'Content-Type': 'application/json' },
			Buffer.from(JSON.stringify(resultSet(handle, st))), entry);
	send(res, 200, resultSet(handle, st));
}

function notFound(res, entry) {
	entry.status = 404;
	send(res, 404, { code: '000709', message: 'Statement not found' });
}

// A statement cancelled while it ran fails as Snowflake's cancelled ones do.
// Snowflake's 408: a QueryStatus naming the statement that ran past its
// timeout (seconds) and was cancelled.
function timedOut(handle, timeout) {
	return { code: '000630', sqlState: '57014', statementHandle: handle,
		message: `Statement reached its statement or warehouse timeout of ${timeout} ` +
			'second(s) and was canceled.',
		statementStatusUrl: `/api/v2/statements/${handle}` };
}

function cancelledFailure(handle) {
	return { code: '000604', sqlState: '57014', message: 'SQL execution canceled',
		statementHandle: handle };
}

function cancelStatement(req, res, handle, entry) {
	const st = statements.get(handle);
	entry.handle = handle;
	entry.cancel = true;
	if (!st)
		return notFound(res, entry);
	if (st.polls_left > 0) // still running: it stops (a finished one keeps its result)
		st.cancelled = true;
	entry.status = 200;
	send(res, 200, { statementHandle: handle, code: '000000', sqlState: '00000',
		message: 'successfully canceled', statementStatusUrl: `/api/v2/statements/${handle}` });
}

function getStatement(req, res, url, handle, entry) {
	const st = statements.get(handle);
	const partition = url.searchParams.get('partition');
	entry.handle = handle;
	entry.partition = partition === null ? null : Number(partition);
	const f = takeFault(partition === null ? 'get' : 'partition', entry.partition);
	if (f && f.timed_out && st) // a poll: the statement ran past its timeout
		st.timed_out = true;
	else if (f && !f.cut && !f.answer_code) {
		entry.status = f.status;
		return sendFault(res, f);
	}
	if (!st)
		return notFound(res, entry);
	if (st.timed_out) {
		entry.status = 408;
		return send(res, 408, timedOut(handle, st.timeout));
	}
	if (st.cancelled) {
		entry.status = 422;
		return send(res, 422, cancelledFailure(handle));
	}
	if (partition === null) {
		if (f && f.answer_code) {
			if (f.answer_code === '333334' && st.polls_left > 0)
				st.polls_left--;
			entry.status = 200;
			return send(res, 200, answer200(handle, st, f));
		}
		if (st.polls_left > 0) {
			st.polls_left--;
			entry.status = 202;
			return send(res, 202, { code: '333334', message: 'Asynchronous execution in progress.',
				statementHandle: handle, statementStatusUrl: `/api/v2/statements/${handle}` });
		}
		entry.status = 200;
		return send(res, 200, resultSet(handle, st));
	}
	const parts = partitions(st.rows);
	const n = Number(partition);
	if (!(n >= 0 && n < parts.length)) {
		entry.status = 422;
		return send(res, 422, { code: '000000', message: `partition ${partition} does not exist` });
	}
	const text = JSON.stringify({ data: parts[n] });
	const headers = { 'Content-Type': 'application/json' };
	let body = Buffer.from(text);
	entry.status = 200;
	if (/\bgzip\b/.test(req.headers['accept-encoding'] || '')) {
		entry.gzip = true;
		headers['Content-Encoding'] = 'gzip';
		body = zlib.gzipSync(text);
	}
	if (f)
		return sendCut(res, f, headers, body, entry);
	res.writeHead(200, headers);
	res.end(body);
}

function handle(req, res, body) {
	const url = new URL(req.url, 'http://localhost');
	if (url.pathname === '/_control' && req.method === 'POST') {
		const c = JSON.parse(body);
		if (c.faults)
			control.faults.push(...c.faults);
		if (c.async_polls !== undefined)
			control.async_polls = c.async_polls;
		for (const [name, rows] of Object.entries(c.append || {}))
			tables[name].rows.push(...rows);
		return send(res, 200, { ok: true });
	}
	if (url.pathname === '/_log')
		return send(res, 200, log);
	const entry = { at: Date.now(), method: req.method, path: url.pathname };
	log.push(entry);
	const problem = jwtProblem(req);
	if (problem) {
		entry.status = 401;
		entry.jwt_problem = problem;
		return send(res, 401, { code: '390144', message: `JWT token is invalid. [${problem}]` });
	}
	entry.jwt_ok = true;
	if (url.pathname === '/api/v2/statements' && req.method === 'POST')
		return postStatement(req, res, url, body, entry);
	const m = /^\/api\/v2\/statements\/([^/]+)$/.exec(url.pathname);
	if (m && req.method === 'GET')
		return getStatement(req, res, url, m[1], entry);
	const c = /^\/api\/v2\/statements\/([^/]+)\/cancel$/.exec(url.pathname);
	if (c && req.method === 'POST')
		return cancelStatement(req, res, c[1], entry);
	entry.status = 404;
	send(res, 404, { code: '000000', message: 'no such route' });
}

const server = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', c => chunks.push(c));
	req.on('end', () => {
		try {
			handle(req, res, Buffer.concat(chunks).toString('utf8'));
		} catch (e) {
			send(res, 500, { code: '000000', message: String(e.stack) });
		}
	});
});

server.listen(0, '127.0.0.1', () => {
	const file = arg('port-file');
	fs.writeFileSync(file + '.tmp', String(server.address().port));
	fs.renameSync(file + '.tmp', file); /* whole, or not there yet */
});
for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => {
		server.close(() => process.exit(0));
		server.closeAllConnections(); // a held cut's too
	});
