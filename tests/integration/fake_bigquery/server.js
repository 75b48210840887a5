// server.js - a fake of BigQuery's REST API v2 and of Google's token
// endpoints for the tests, written from the documented request and response
// shapes (shared/design/WIRE.md) and proven faithful by Google's own clients
// (tests/integration/bigquery_clients.sh: the `bq` tool and the npm
// @google-cloud/bigquery client read the same rows through it).
//
//   POST /token                 OAuth 2 JWT-bearer grant: the assertion must
//                               verify against --public-key (RS256) with iss
//                               --client-email, aud this URL, a scope, and
//                               exp <= iat + 3600 -> {access_token, expires_in}
//   GET  /computeMetadata/v1/instance/service-accounts/default/token
//                               the metadata server (Metadata-Flavor: Google)
//   POST /bigquery/v2/projects/P/queries          jobs.query
//   GET  /bigquery/v2/projects/P/queries/JOB      getQueryResults (pageToken,
//                               startIndex, maxResults; jobComplete: false
//                               first when asked to)
//   POST /bigquery/v2/projects/P/jobs, GET .../jobs/JOB   jobs.insert / get
//   POST /bigquery/v2/projects/P/jobs/JOB/cancel  jobs.cancel (an empty body;
//                               ?location=): the job ends DONE with errorResult
//                               "stopped", its results refused from then on;
//                               counted per job in GET /_state's cancels
//
// Every /bigquery request needs a Bearer token the token endpoints issued
// (or --static-token); errors are Google's envelope {"error": {code,
// message, errors: [{reason, message, domain}], status}}.
//
// It "runs" only the queries the tests write: SELECT * | a, b FROM
// [`]proj.dataset.TABLE[`] [WHERE col >= @cursor] [ORDER BY a [ASC | DESC]
// [NULLS FIRST | LAST], ...] [LIMIT n], with BigQuery's rules: @cursor must
// type-check against the column (the same type, numeric types together,
// DATE with DATETIME, a STRING parameter coerced to a time type) or the query
// fails with BigQuery's "No matching signature" (dry runs too: dryRun answers
// the result's schema and no job); NULLs sort first ascending, last
// descending.  The tables are --data {TABLE: {schema: [{name, type, mode,
// fields}], rows: [[...]], denied?, generate?, page_rows?}}.  Row values are
// natural JSON (INT64 as strings,
// TIMESTAMP as int64 microseconds in strings, RECORD as objects, REPEATED
// as arrays) and are written as BigQuery writes cells: strings, {v} arrays,
// {f} records; TIMESTAMP as float seconds in Java's notation
// ("1.767571200123E9") unless formatOptions.useInt64Timestamp asks for
// int64 microseconds.  Pages hold at most --page-rows rows (BigQuery's own
// size limit), fewer when maxResults says so.
//
// Test controls (no auth): POST /_control {faults: [{on: "query" (a jobs.query
// that runs) | "dryrun" | "results" | "cancel" | "token" | "metadata", status (200:
// the job failed, told in errors[] of a 200 answer, on "query" and "results"), reason,
// message, retry_after, delay_ms (token and cancel: answered that late; without a
// status, answered as usual), skip (the first N such requests pass it by)}],
// async_polls: N, append: {TABLE: [rows]}, hold_pages_after: N (from then
// on, the N+1th next-page request waits until {release: true}), float_timestamps: true (ignore
// useInt64Timestamp), token_lifetime: seconds}; GET /_log -> the requests
// seen; GET /_state -> {held, tokens_issued, pages_served, cancels: {JOB: n}}.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const zlib = require('zlib');

function arg(name, dflt) {
	const i = process.argv.indexOf('--' + name);
	return i > 0 ? process.argv[i + 1] : dflt;
}

const pubKey = arg('public-key') ? crypto.createPublicKey(fs.readFileSync(arg('public-key'), 'utf8')) : null;
const clientEmail = arg('client-email', '');
const staticToken = arg('static-token', '');
const pageRows = parseInt(arg('page-rows', '5'), 10);
const tables = JSON.parse(fs.readFileSync(arg('data'), 'utf8'));
let port = 0;

const control = { faults: [], async_polls: 0, hold_pages_after: -1, float_timestamps: false,
	token_lifetime: 3600 };
const log = [];
const tokens = new Map();     // access token -> expiry (ms)
const jobs = new Map();       // jobId -> job
const byRequestId = new Map();
const held = [];              // page requests waiting for {release: true}
let pagesServed = 0;          // next pages (with a pageToken) answered
let holdBase = 0;             // pagesServed when hold_pages_after was set
let nextJob = 1;
let tokensIssued = 0;
const cancels = {};           // jobId -> jobs.cancel calls answered for it

// ---- generated tables (benchmarks, kill tests) ------------------------------------

for (const t of Object.values(tables)) {
	if (!t.generate)
		continue;
	const base = 1767225600000000n; // 2026-01-01T00:00:00Z in microseconds
	t.rows = [];
	for (let i = 1; i <= t.generate; i++) {
		// 3 rows share each updated_at: ties across every page boundary
		const ts = base + BigInt(Math.floor((i - 1) / 3)) * 1000000n;
		t.rows.push([String(i), `g${i % (t.users || t.generate)}`, `g${i}@example.com`,
			i % 2 ? 'gold' : 'silver', String(ts), `evt${i % 7}`]);
	}
}

// ---- replies -------------------------------------------------------------------------

function send(req, res, status, body, headers) {
	let text = JSON.stringify(body);
	const h = Object.assign({ 'Content-Type': 'application/json; charset=UTF-8' }, headers || {});
	if (/\bgzip\b/.test(req.headers['accept-encoding'] || '') && text.length > 1024) {
		h['Content-Encoding'] = 'gzip';
		text = zlib.gzipSync(text);
	}
	res.writeHead(status, h);
	res.end(text);
}

const STATUS = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED',
	404: 'NOT_FOUND', 409: 'ALREADY_EXISTS', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL',
	503: 'UNAVAILABLE' };

class ApiError extends Error {
	constructor(code, reason, message) {
		super(message);
		this.code = code;
		this.reason = reason;
	}
}

function sendError(req, res, entry, code, reason, message, headers) {
	entry.status = code;
	entry.reason = reason;
	entry.message = message;
	send(req, res, code, { error: { code, message, errors: [{ message, domain: 'global', reason }],
		status: STATUS[code] || 'UNKNOWN' } }, headers);
}

function takeFault(on) {
	const i = control.faults.findIndex(f => f.on === on);
	if (i >= 0 && control.faults[i].skip > 0) { // the first `skip` such requests pass it
		control.faults[i].skip--;
		return null;
	}
	return i < 0 ? null : control.faults.splice(i, 1)[0];
}

// The fault f's delay_ms (a slow answer), then answer(); a fault with a
// delay and no status is answered as usual, only late.
function afterDelay(f, answer) {
	if (f && f.delay_ms)
		return setTimeout(answer, f.delay_ms);
	answer();
}

function sendFault(req, res, entry, f) {
	if (f.status === 200) // a job that failed, as a 200 answer: errors[] and no schema
		return sendJobFailed(req, res, entry, f);
	const headers = f.retry_after !== undefined ? { 'Retry-After': String(f.retry_after) } : {};
	const reason = f.reason || (f.status === 429 ? 'rateLimitExceeded' : 'backendError');
	const msg = f.message || (reason === 'rateLimitExceeded' ? 'Exceeded rate limits: too many ' +
		'api requests per user per method for this user_method.' :
		'Error encountered during execution. Retrying may solve the problem.');
	sendError(req, res, entry, f.status, reason, msg, headers);
}

// A completed job that failed may be answered 200: jobComplete, errors[] and
// no schema nor rows (present "only when the query completes successfully").
function sendJobFailed(req, res, entry, f) {
	const reason = f.reason || 'invalidQuery';
	const message = f.message || 'Query error: division by zero: 1 / 0';
	Object.assign(entry, { status: 200, reason, message });
	send(req, res, 200, { kind: 'bigquery#getQueryResultsResponse', jobComplete: true,
		errors: [{ reason, message, domain: 'global' }] });
}

// ---- tokens ---------------------------------------------------------------------------

function b64urlDecode(s) {
	return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function issueToken() {
	const t = 'ya29.fake-' + crypto.randomBytes(12).toString('hex');
	tokens.set(t, Date.now() + control.token_lifetime * 1000);
	tokensIssued++;
	return { access_token: t, expires_in: control.token_lifetime, token_type: 'Bearer' };
}

// The reason an assertion is refused, or null.
function assertionProblem(assertion) {
	const parts = (assertion || '').split('.');
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
	if (!crypto.verify('RSA-SHA256', Buffer.from(parts[0] + '.' + parts[1]), pubKey,
		b64urlDecode(parts[2])))
		return 'Invalid JWT Signature.';
	const now = Math.floor(Date.now() / 1000);
	if (claims.iss !== clientEmail)
		return `iss ${claims.iss} is not the service account`;
	if (claims.aud !== `http://127.0.0.1:${port}/token`)
		return `aud ${claims.aud} is not this token_uri`;
	if (typeof claims.scope !== 'string' ||
	    !/https:\/\/www\.googleapis\.com\/auth\/(bigquery|cloud-platform)/.test(claims.scope))
		return 'no BigQuery scope';
	if (typeof claims.iat !== 'number' || typeof claims.exp !== 'number' ||
	    claims.exp - claims.iat > 3600)
		return 'Invalid JWT: Token must be a short-lived token (60 minutes)';
	if (claims.exp <= now || claims.iat > now + 60)
		return 'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.';
	return null;
}

function tokenEndpoint(req, res, body, entry) {
	const f = takeFault('token');
	afterDelay(f, () => tokenAnswer(req, res, body, entry, f));
}

function tokenAnswer(req, res, body, entry, f) {
	const form = new URLSearchParams(body);
	if (f && f.status) {
		entry.status = f.status;
		return send(req, res, f.status, { error: f.reason || 'internal_failure',
			error_description: f.message || 'try again' },
		f.retry_after !== undefined ? { 'Retry-After': String(f.retry_after) } : {});
	}
	if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
		entry.status = 400;
		return send(req, res, 400, { error: 'unsupported_grant_type',
			error_description: 'Invalid grant_type: ' + form.get('grant_type') });
	}
	const problem = assertionProblem(form.get('assertion'));
	if (problem) {
		entry.status = 400;
		entry.jwt_problem = problem;
		return send(req, res, 400, { error: 'invalid_grant', error_description: problem });
	}
	entry.status = 200;
	send(req, res, 200, issueToken());
}

// The metadata server: the token, the project, and 200 for the probes
// Google's auth libraries make; every answer says Metadata-Flavor: Google.
function metadataEndpoint(req, res, url, entry) {
	const flavor = { 'Metadata-Flavor': 'Google' };
	if (req.headers['metadata-flavor'] !== 'Google') {
		entry.status = 403;
		res.writeHead(403, flavor);
		return res.end('Missing required header: Metadata-Flavor');
	}
	const f = takeFault('metadata');
	if (f) {
		entry.status = f.status;
		return send(req, res, f.status, { error: 'unavailable' }, flavor);
	}
	entry.status = 200;
	if (/\/service-accounts\/[^/]+\/token$/.test(url.pathname))
		return send(req, res, 200, issueToken(), flavor);
	if (url.pathname.endsWith('/project/project-id')) {
		res.writeHead(200, Object.assign({ 'Content-Type': 'application/text' }, flavor));
		return res.end('proj-test');
	}
	if (/\/service-accounts\/[^/]+\/email$/.test(url.pathname)) {
		res.writeHead(200, Object.assign({ 'Content-Type': 'application/text' }, flavor));
		return res.end(clientEmail || 'default');
	}
	if (/\/service-accounts\/[^/]+\/scopes$/.test(url.pathname)) {
		res.writeHead(200, Object.assign({ 'Content-Type': 'application/text' }, flavor));
		return res.end('https://www.googleapis.com/auth/cloud-platform');
	}
	res.writeHead(200, Object.assign({ 'Content-Type': 'application/text' }, flavor));
	res.end('');
}

function tokenKind(req) {
	const auth = req.headers.authorization || '';
	if (!auth.startsWith('Bearer '))
		return null;
	const t = auth.slice(7);
	if (staticToken && t === staticToken)
		return 'static';
	const exp = tokens.get(t);
	return exp && exp > Date.now() ? 'issued' : null;
}

// ---- values ---------------------------------------------------------------------------

// Java's Double.toString, as BigQuery writes float TIMESTAMPs.
function javaDouble(d) {
	if (d === 0)
		return '0.0';
	const a = Math.abs(d);
	if (a >= 1e-3 && a < 1e7) {
		const s = String(d);
		return s.includes('.') ? s : s + '.0';
	}
	let [m, e] = d.toExponential().split('e');
	if (!m.includes('.'))
		m += '.0';
	return `${m}E${e.replace('+', '')}`;
}

function encodeScalar(type, v, int64ts) {
	if (v === null || v === undefined)
		return null;
	switch (type) {
	case 'TIMESTAMP':
		return int64ts ? String(v) : javaDouble(Number(BigInt(v)) / 1e6);
	case 'BOOLEAN': case 'BOOL':
		return v ? 'true' : 'false';
	case 'JSON':
		return JSON.stringify(v);
	case 'FLOAT': case 'FLOAT64':
		return typeof v === 'number' ? String(v) : v;
	default:
		return String(v);
	}
}

function encodeValue(field, v, int64ts, asElement) {
	if (field.mode === 'REPEATED' && !asElement)
		return (v || []).map(x => ({ v: encodeValue(field, x, int64ts, true) }));
	if (v === null || v === undefined)
		return null;
	if (field.type === 'RECORD' || field.type === 'STRUCT')
		return { f: field.fields.map(sub => ({ v: encodeValue(sub, v[sub.name], int64ts, false) })) };
	return encodeScalar(field.type, v, int64ts);
}

function encodeRow(fields, row, int64ts) {
	return { f: fields.map((f, i) => ({ v: encodeValue(f, row[i], int64ts, false) })) };
}

// BigQuery's TIMESTAMP range, 0001-01-01 00:00:00 to 9999-12-31
// 23:59:59.999999 UTC, in microseconds (DATE and DATETIME span the same).
const TIME_MIN_US = -62135596800000000n, TIME_MAX_US = 253402300799999999n;

// A TIMESTAMP parameter or literal -> microseconds (BigInt), or null when it
// does not read as one or is out of range (a DATE or DATETIME as at UTC).
function timeMicros(s) {
	const m = /^(\d{4})-(\d\d?)-(\d\d?)(?:[T ](\d\d?):(\d\d)(?::(\d\d)(\.\d+)?)?)?\s*(Z|UTC|[+-]\d\d(?::?\d\d)?)?$/i
		.exec(s);
	if (!m)
		return null;
	let off = 0;
	if (m[8] && !/^(Z|UTC)$/i.test(m[8])) {
		const sign = m[8][0] === '-' ? -1 : 1;
		const digits = m[8].slice(1).replace(':', '');
		off = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0));
	}
	const d = new Date(0); // setUTCFullYear: Date.UTC reads years 0..99 as 1900..1999
	d.setUTCFullYear(+m[1], +m[2] - 1, +m[3]);
	if (d.getUTCMonth() !== +m[2] - 1)
		return null;
	d.setUTCHours(+(m[4] || 0), +(m[5] || 0), +(m[6] || 0));
	const frac = BigInt(((m[7] || '.').slice(1) + '000000').slice(0, 6));
	const us = BigInt(d.getTime()) * 1000n + frac - BigInt(off) * 60000000n;
	return us < TIME_MIN_US || us > TIME_MAX_US ? null : us;
}

// A column's or a parameter's type by its standard SQL name.
function sqlType(t) {
	return { INTEGER: 'INT64', FLOAT: 'FLOAT64', BOOLEAN: 'BOOL', DECIMAL: 'NUMERIC',
		BIGDECIMAL: 'BIGNUMERIC', STRUCT: 'RECORD' }[t] || t;
}

const NUMERIC_TYPES = ['INT64', 'NUMERIC', 'BIGNUMERIC', 'FLOAT64'];
const DECIMAL_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
// A FLOAT64 parameter's value: a decimal, or Infinity, -Infinity and NaN
// spelled as BigQuery writes them in result rows and Google's clients send
// them (Java's Double.toString, Ruby's Float#to_s); C's "inf" is refused.
const FLOAT_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?Infinity$|^NaN$/;

// Two decimal texts compared exactly (INT64 beyond 2^53, NUMERIC's 38
// digits); floats in exponent form, Infinity or NaN as doubles, NaN before
// every number (BigQuery's ORDER BY; a filter leaves it out: isNaNValue).
function compareNumbers(a, b) {
	if (!DECIMAL_RE.test(a) || !DECIMAL_RE.test(b)) {
		const x = Number(a), y = Number(b);
		const nx = Number.isNaN(x), ny = Number.isNaN(y);
		if (nx || ny)
			return ny - nx;
		return x < y ? -1 : x > y ? 1 : 0;
	}
	const split = s => {
		let [i, f] = s.replace(/^[+-]/, '').split('.');
		i = (i || '0').replace(/^0+(?=\d)/, '');
		f = (f || '').replace(/0+$/, '');
		return { neg: s[0] === '-' && (/[1-9]/.test(i) || f !== ''), i, f };
	};
	const x = split(a), y = split(b);
	if (x.neg !== y.neg)
		return x.neg ? -1 : 1;
	let c = x.i.length - y.i.length || (x.i < y.i ? -1 : x.i > y.i ? 1 : 0);
	if (!c) {
		const n = Math.max(x.f.length, y.f.length);
		const fx = x.f.padEnd(n, '0'), fy = y.f.padEnd(n, '0');
		c = fx < fy ? -1 : fx > fy ? 1 : 0;
	}
	return Math.sign(x.neg ? -c : c);
}

// Two non-NULL values of a column's type (as the table's rows hold them):
// <0, 0, >0, as BigQuery orders them.
function compareValues(type, a, b) {
	switch (sqlType(type)) {
	case 'TIMESTAMP': { // int64 microseconds
		const x = BigInt(a), y = BigInt(b);
		return x < y ? -1 : x > y ? 1 : 0;
	}
	case 'DATE': case 'DATETIME': { // civil times, compared as UTC
		const x = timeMicros(a), y = timeMicros(b);
		return x < y ? -1 : x > y ? 1 : 0;
	}
	case 'INT64': case 'NUMERIC': case 'BIGNUMERIC': case 'FLOAT64':
		return compareNumbers(String(a), String(b));
	case 'BYTES': // base64 text: the bytes decide
		return Buffer.compare(Buffer.from(a, 'base64'), Buffer.from(b, 'base64'));
	case 'BOOL':
		return (a ? 1 : 0) - (b ? 1 : 0);
	default:
		return a < b ? -1 : a > b ? 1 : 0;
	}
}

// Whether a FLOAT64 value is NaN: any comparison with it is false.
function isNaNValue(type, v) {
	return sqlType(type) === 'FLOAT64' && Number.isNaN(Number(v));
}

// ORDER BY's comparison of two values: BigQuery puts NULLs first when
// ascending (the default) and last when descending, unless NULLS FIRST or
// NULLS LAST says otherwise.
function compare(type, a, b, desc, nullsFirst) {
	if (a === null || b === null) {
		if (a === b)
			return 0;
		const first = nullsFirst === undefined ? !desc : nullsFirst;
		return (a === null) === first ? -1 : 1;
	}
	const c = compareValues(type, a, b);
	return desc ? -c : c;
}

// Whether `col >= @p` type-checks, as BigQuery's analyzer decides: the same
// type; types with a common supertype (INT64 -> NUMERIC -> BIGNUMERIC ->
// FLOAT64; DATE -> DATETIME); or a STRING parameter, which coerces to DATE,
// DATETIME, TIME and TIMESTAMP (GoogleSQL's parameter coercion).
function comparable(colType, t) {
	return colType === t || (NUMERIC_TYPES.includes(colType) && NUMERIC_TYPES.includes(t)) ||
		(['DATE', 'DATETIME'].includes(colType) && ['DATE', 'DATETIME'].includes(t)) ||
		(t === 'STRING' && ['DATE', 'DATETIME', 'TIME', 'TIMESTAMP'].includes(colType));
}

const DATE_RE = /^\d{4}-\d{1,2}-\d{1,2}$/;
const DATETIME_RE = /^\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d\d(?::\d\d(?:\.\d{1,6})?)?)?$/i;

// Whether text reads as a value of a parameter type.
function readsAs(type, v) {
	switch (type) {
	case 'TIMESTAMP': return timeMicros(v) !== null;
	case 'DATE': return DATE_RE.test(v) && timeMicros(v) !== null;
	case 'DATETIME': return DATETIME_RE.test(v) && timeMicros(v) !== null;
	case 'TIME': return /^\d{1,2}:\d\d(:\d\d(\.\d{1,6})?)?$/.test(v);
	case 'INT64': return /^-?\d+$/.test(v) && BigInt(v) >= -(2n ** 63n) && BigInt(v) < 2n ** 63n;
	case 'NUMERIC': case 'BIGNUMERIC': return DECIMAL_RE.test(v);
	case 'FLOAT64': return FLOAT_RE.test(v);
	case 'BYTES': return /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0;
	default: return true;
	}
}

// The @cursor parameter as a value of the column's type (as the table's rows
// hold it), or BigQuery's error.
function paramValue(col, p, at) {
	const t = sqlType(p.parameterType && p.parameterType.type);
	const v = p.parameterValue && p.parameterValue.value;
	const colType = sqlType(col.type);
	if (!comparable(colType, t))
		throw new ApiError(400, 'invalidQuery', `No matching signature for operator >= for ` +
			`argument types: ${colType}, ${t}. Supported signature: ANY >= ANY at [1:${at}]`);
	if (typeof v !== 'string')
		throw new ApiError(400, 'invalidQuery', 'Query parameter \'cursor\' has no value');
	if (!readsAs(t, v))
		throw new ApiError(400, 'invalid', t === 'TIMESTAMP' ? `Invalid timestamp: '${v}'`
			: `Invalid ${t} value: ${v}`);
	if (t === 'STRING' && !readsAs(colType, v)) // coerced to the column's time type
		throw new ApiError(400, 'invalidQuery', `Could not cast literal "${v}" to type ` +
			`${colType} at [1:${at}]`);
	if (colType === 'TIMESTAMP')
		return String(timeMicros(v));
	return v;
}

// ---- the tiny SQL -----------------------------------------------------------------------

// The query's result {table, fields, rows}; a dry run only checks the query
// and answers no rows.
function execute(project, body, isDry) {
	const sql = body.query || '';
	if (body.useLegacySql !== false)
		throw new ApiError(400, 'invalidQuery', 'Invalid table name: `' + sql.slice(0, 40) +
			'` [Try using standard SQL (https://cloud.google.com/bigquery/docs/reference/standard-sql/enabling-standard-sql)].');
	const from = /\bFROM\s+`?([\w.-]+)`?/i.exec(sql);
	if (!from)
		throw new ApiError(400, 'invalidQuery', 'Syntax error: Expected keyword FROM at [1:1]');
	const parts = from[1].split('.');
	const name = parts[parts.length - 1];
	const table = tables[name];
	const full = `${parts.length > 2 ? parts[0] : project}:${parts.length > 1 ? parts[parts.length - 2] : 'dataset'}.${name}`;
	if (!table)
		throw new ApiError(404, 'notFound', `Not found: Table ${full} was not found in location ` +
			(body.location || 'US'));
	if (table.denied)
		throw new ApiError(403, 'accessDenied', `Access Denied: Table ${full}: User does not ` +
			'have permission to query table ' + full + ', or perhaps it does not exist.');
	const fields = table.schema;
	const index = c => {
		const i = fields.findIndex(f => f.name.toLowerCase() === c.toLowerCase());
		if (i < 0)
			throw new ApiError(400, 'invalidQuery', `Unrecognized name: ${c} at [1:${sql.indexOf(c) + 1}]`);
		return i;
	};
	const select = /^\s*SELECT\s+(.*?)\s+FROM\b/is.exec(sql);
	const cols = !select || select[1].trim() === '*' ? fields.map((_, i) => i)
		: select[1].split(',').map(s => index(s.trim()));
	let rows = table.rows.slice();
	const where = /\bWHERE\s+(\w+)\s*>=\s*@(\w+)/i.exec(sql);
	if (where) {
		const params = body.queryParameters || [];
		if (body.parameterMode && String(body.parameterMode).toUpperCase() !== 'NAMED') // Node sends "named"
			throw new ApiError(400, 'invalidQuery', 'Named parameters are not supported in ' +
				'positional parameter mode');
		const p = params.find(q => q.name === where[2]);
		if (!p)
			throw new ApiError(400, 'invalidQuery', `Query parameter '${where[2]}' not found at ` +
				`[1:${where.index + where[0].indexOf('@') + 1}]`);
		const i = index(where[1]);
		const v = paramValue(fields[i], p, where.index + where[0].indexOf('>') + 1);
		if (!isDry)
			rows = rows.filter(r => r[i] !== null && !isNaNValue(fields[i].type, r[i]) &&
				!isNaNValue(fields[i].type, v) &&
				compareValues(fields[i].type, r[i], v) >= 0);
	} else if (/@\w+/.test(sql)) {
		throw new ApiError(400, 'invalidQuery', 'Syntax error: the fake reads only WHERE col >= @p');
	}
	const order = /\bORDER\s+BY\s+([\w\s,]+?)\s*(\)|$|LIMIT)/i.exec(sql);
	if (isDry)
		rows = [];
	if (order) {
		const keys = order[1].split(',').map(s => {
			const k = /^(\w+)(?:\s+(ASC|DESC))?(?:\s+NULLS\s+(FIRST|LAST))?$/i.exec(s.trim());
			if (!k)
				throw new ApiError(400, 'invalidQuery', `Syntax error: the fake reads ORDER BY ` +
					`col [ASC | DESC] [NULLS FIRST | LAST], not "${s.trim()}"`);
			return { i: index(k[1]), desc: /^desc$/i.test(k[2] || ''),
				nullsFirst: k[3] ? /^first$/i.test(k[3]) : undefined };
		});
		rows.sort((x, y) => {
			for (const k of keys) {
				const c = compare(fields[k.i].type, x[k.i], y[k.i], k.desc, k.nullsFirst);
				if (c)
					return c;
			}
			return 0;
		});
	}
	const limit = /\bLIMIT\s+(\d+)\s*$/i.exec(sql);
	if (limit)
		rows = rows.slice(0, Number(limit[1]));
	return { table: name, fields: cols.map(i => fields[i]), rows: rows.map(r => cols.map(i => r[i])) };
}

// ---- jobs ------------------------------------------------------------------------------------

function jobRef(job) {
	return { projectId: job.project, jobId: job.id, location: job.location };
}

function page(job, start, max, int64ts) {
	const n = Math.min(max > 0 ? max : job.page_rows, job.page_rows);
	const rows = job.rows.slice(start, start + n);
	// no rows: BigQuery leaves `rows` out (clients read it as null), not []
	const out = rows.length ? { rows: rows.map(r => encodeRow(job.fields, r,
		int64ts && !control.float_timestamps)) } : {};
	if (start + n < job.rows.length)
		out.pageToken = Buffer.from(JSON.stringify({ j: job.id, o: start + n, x: '+/=' }))
			.toString('base64');
	return out;
}

function resultBody(kind, job, start, max, int64ts) {
	return Object.assign({ kind, etag: '"' + job.id + '"', schema: { fields: job.fields },
		jobReference: jobRef(job), totalRows: String(job.rows.length),
		totalBytesProcessed: String(job.rows.length * 100), jobComplete: true, cacheHit: false },
	page(job, start, max, int64ts));
}

function newJob(project, body, id) {
	const r = execute(project, body);
	const job = { id: id || `job_fake${String(nextJob++).padStart(6, '0')}`, project,
		location: body.location || 'US', fields: r.fields, rows: r.rows,
		polls_left: control.async_polls, query: body.query, created: Date.now(),
		page_rows: tables[r.table].page_rows || pageRows };
	jobs.set(job.id, job);
	return job;
}

function postQuery(req, res, project, body, entry) {
	let q;
	try {
		q = JSON.parse(body);
	} catch (e) {
		return sendError(req, res, entry, 400, 'parseError', 'Parse Error');
	}
	const p = (q.queryParameters || []).find(x => x.name === 'cursor');
	entry.param = p ? { type: p.parameterType.type, value: p.parameterValue.value } : null;
	Object.assign(entry, { requestId: q.requestId, maxResults: q.maxResults, location: q.location,
		dryRun: !!q.dryRun, parameterMode: q.parameterMode || null, query: q.query,
		useInt64Timestamp: !!(q.formatOptions && q.formatOptions.useInt64Timestamp) });
	if (q.requestId && byRequestId.has(q.requestId)) {
		entry.duplicate = true;
		const job = jobs.get(byRequestId.get(q.requestId));
		entry.status = 200;
		return send(req, res, 200, resultBody('bigquery#queryResponse', job, 0, q.maxResults,
			entry.useInt64Timestamp));
	}
	const f = takeFault(q.dryRun ? 'dryrun' : 'query');
	if (f)
		return sendFault(req, res, entry, f);
	let job;
	try {
		if (q.dryRun) {
			const r = execute(project, q, true);
			entry.status = 200;
			return send(req, res, 200, { kind: 'bigquery#queryResponse', schema: { fields: r.fields },
				jobReference: { projectId: project, location: q.location || 'US' },
				totalBytesProcessed: '0', jobComplete: true, cacheHit: false });
		}
		job = newJob(project, q);
	} catch (e) {
		if (!(e instanceof ApiError))
			throw e;
		return sendError(req, res, entry, e.code, e.reason, e.message);
	}
	if (q.requestId)
		byRequestId.set(q.requestId, job.id);
	entry.job = job.id;
	entry.status = 200;
	if (job.polls_left > 0)
		return send(req, res, 200, { kind: 'bigquery#queryResponse', jobReference: jobRef(job),
			jobComplete: false });
	send(req, res, 200, resultBody('bigquery#queryResponse', job, 0, q.maxResults,
		entry.useInt64Timestamp));
}

function getResults(req, res, url, jobId, entry) {
	const job = jobs.get(jobId);
	const token = url.searchParams.get('pageToken');
	const max = Number(url.searchParams.get('maxResults') || 0);
	const int64ts = url.searchParams.get('formatOptions.useInt64Timestamp') === 'true';
	Object.assign(entry, { job: jobId, pageToken: token, maxResults: max || null,
		location: url.searchParams.get('location'), useInt64Timestamp: int64ts });
	const f = takeFault('results');
	if (f)
		return sendFault(req, res, entry, f);
	if (!job)
		return sendError(req, res, entry, 404, 'notFound', `Not found: Job ${jobId}`);
	if (job.cancelled)
		return sendError(req, res, entry, 400, 'stopped', CANCELLED);
	if (job.polls_left > 0) {
		job.polls_left--;
		entry.status = 200;
		entry.jobComplete = false;
		return send(req, res, 200, { kind: 'bigquery#getQueryResultsResponse',
			jobReference: jobRef(job), jobComplete: false });
	}
	let start = Number(url.searchParams.get('startIndex') || 0);
	if (token) {
		let t;
		try {
			t = JSON.parse(Buffer.from(token, 'base64').toString());
		} catch (e) {
			return sendError(req, res, entry, 400, 'invalid', 'Invalid page token');
		}
		if (t.j !== jobId || t.x !== '+/=')
			return sendError(req, res, entry, 400, 'invalid', 'Invalid page token');
		start = t.o;
	}
	const reply = () => {
		entry.status = 200;
		entry.rows = Math.min(max > 0 ? max : job.page_rows, job.page_rows,
			Math.max(0, job.rows.length - start));
		send(req, res, 200, resultBody('bigquery#getQueryResultsResponse', job, start, max, int64ts));
	};
	if (token && control.hold_pages_after >= 0 &&
	    pagesServed - holdBase >= control.hold_pages_after) {
		entry.held = true;
		held.push(reply);
		return;
	}
	if (token)
		pagesServed++;
	reply();
}

const CANCELLED = 'Job execution was cancelled: User requested cancellation';

function jobStatus(job) {
	if (job.cancelled)
		return { state: 'DONE', errorResult: { reason: 'stopped', message: CANCELLED },
			errors: [{ reason: 'stopped', message: CANCELLED }] };
	return { state: job.polls_left > 0 ? 'RUNNING' : 'DONE' };
}

function jobResource(job) {
	return { kind: 'bigquery#job', id: `${job.project}:${job.location}.${job.id}`,
		jobReference: jobRef(job), configuration: { query: { query: job.query, useLegacySql: false } },
		status: jobStatus(job),
		statistics: { creationTime: String(job.created), startTime: String(job.created),
			endTime: String(job.created + 1), totalBytesProcessed: '0',
			query: { totalBytesProcessed: '0', totalBytesBilled: '0', cacheHit: false,
				statementType: 'SELECT', schema: { fields: job.fields } } } };
}

function insertJob(req, res, project, body, entry) {
	let j;
	try {
		j = JSON.parse(body);
	} catch (e) {
		return sendError(req, res, entry, 400, 'parseError', 'Parse Error');
	}
	const q = (j.configuration && j.configuration.query) || {};
	const p = (q.queryParameters || []).find(x => x.name === 'cursor');
	entry.param = p ? { type: p.parameterType.type, value: p.parameterValue.value } : null;
	entry.query = q.query;
	try {
		const job = newJob(project, Object.assign({ location: j.jobReference &&
			j.jobReference.location }, q), j.jobReference && j.jobReference.jobId);
		entry.job = job.id;
		entry.status = 200;
		send(req, res, 200, jobResource(job));
	} catch (e) {
		if (!(e instanceof ApiError))
			throw e;
		sendError(req, res, entry, e.code, e.reason, e.message);
	}
}

// jobs.cancel: "The request body must be empty"; a job that already ended
// stays as it ended (BigQuery answers its final state).
function cancelJob(req, res, url, project, id, body, entry) {
	const job = jobs.get(id);
	Object.assign(entry, { job: id, cancel: true, location: url.searchParams.get('location') });
	if (body.length)
		return sendError(req, res, entry, 400, 'invalid', 'The request body must be empty');
	if (!job)
		return sendError(req, res, entry, 404, 'notFound', `Not found: Job ${project}:${id}`);
	cancels[id] = (cancels[id] || 0) + 1;
	const f = takeFault('cancel');
	afterDelay(f, () => {
		if (f && f.status)
			return sendFault(req, res, entry, f);
		if (job.polls_left > 0) {
			job.polls_left = 0;
			job.cancelled = true;
		}
		entry.status = 200;
		send(req, res, 200, { kind: 'bigquery#jobCancelResponse', job: jobResource(job) });
	});
}

// ---- routing --------------------------------------------------------------------------------

function handle(req, res, body) {
	const url = new URL(req.url, 'http://localhost');
	if (url.pathname === '/_control' && req.method === 'POST') {
		const c = JSON.parse(body);
		if (c.faults)
			control.faults.push(...c.faults);
		for (const k of ['async_polls', 'hold_pages_after', 'float_timestamps', 'token_lifetime'])
			if (c[k] !== undefined)
				control[k] = c[k];
		if (c.hold_pages_after !== undefined)
			holdBase = pagesServed;
		for (const [name, rows] of Object.entries(c.append || {}))
			tables[name].rows.push(...rows);
		if (c.release) {
			control.hold_pages_after = -1;
			held.splice(0).forEach(f => f());
		}
		return send(req, res, 200, { ok: true });
	}
	if (url.pathname === '/_log')
		return send(req, res, 200, log);
	if (url.pathname === '/_state')
		return send(req, res, 200, { held: held.length, tokens_issued: tokensIssued,
			pages_served: pagesServed, cancels });
	const entry = { at: Date.now(), method: req.method, path: url.pathname };
	log.push(entry);
	if (url.pathname === '/token' && req.method === 'POST')
		return tokenEndpoint(req, res, body, entry);
	if (url.pathname.startsWith('/computeMetadata/'))
		return metadataEndpoint(req, res, url, entry);
	const m = /^\/bigquery\/v2\/projects\/([^/]+)\/(queries|jobs)(?:\/([^/]+))?(\/cancel)?$/.exec(url.pathname);
	if (!m)
		return sendError(req, res, entry, 404, 'notFound', 'Not found: URL ' + url.pathname);
	entry.token = tokenKind(req);
	if (!entry.token)
		return sendError(req, res, entry, 401, 'authError', 'Request had invalid authentication ' +
			'credentials. Expected OAuth 2 access token, login cookie or other valid ' +
			'authentication credential.');
	const project = decodeURIComponent(m[1]);
	const id = m[3] && decodeURIComponent(m[3]);
	if (m[4]) {
		if (m[2] === 'jobs' && id && req.method === 'POST')
			return cancelJob(req, res, url, project, id, body, entry);
		return sendError(req, res, entry, 404, 'notFound', 'Not found: ' + req.method + ' ' + url.pathname);
	}
	if (m[2] === 'queries' && !id && req.method === 'POST')
		return postQuery(req, res, project, body, entry);
	if (m[2] === 'queries' && id && req.method === 'GET')
		return getResults(req, res, url, id, entry);
	if (m[2] === 'jobs' && !id && req.method === 'POST')
		return insertJob(req, res, project, body, entry);
	if (m[2] === 'jobs' && id && req.method === 'GET') {
		const job = jobs.get(id);
		if (!job)
			return sendError(req, res, entry, 404, 'notFound', `Not found: Job ${project}:${id}`);
		entry.status = 200;
		return send(req, res, 200, jobResource(job));
	}
	sendError(req, res, entry, 404, 'notFound', 'Not found: ' + req.method + ' ' + url.pathname);
}

const server = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', c => chunks.push(c));
	req.on('end', () => {
		try {
			handle(req, res, Buffer.concat(chunks).toString('utf8'));
		} catch (e) {
			send(req, res, 500, { error: { code: 500, message: String(e.stack),
				errors: [{ reason: 'internalError', message: String(e) }], status: 'INTERNAL' } });
		}
	});
});

server.listen(0, '127.0.0.1', () => {
	port = server.address().port;
	const file = arg('port-file');
	fs.writeFileSync(file + '.tmp', String(port));
	fs.renameSync(file + '.tmp', file); /* whole, or not there yet */
});
for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => process.exit(0));
