// read.js ENDPOINT PROJECT LOCATION QUERY CURSOR_TYPE CURSOR_VALUE - runs the
// query with Google's own Node.js client (@google-cloud/bigquery) against
// ENDPOINT (apiEndpoint: the fake of tests/integration/fake_bigquery) and
// prints each row as one JSON line: typed values as the client gives them
// (INT64 wrapped to keep its digits, NUMERIC as Big, TIMESTAMP / DATE /
// DATETIME as objects), each written as its text.  Credentials come the
// way Google's auth library finds them: here the metadata server at
// GCE_METADATA_HOST.  Pages of 4 rows (maxResults) force getQueryResults
// paging.
'use strict';

const { BigQuery } = require('@google-cloud/bigquery');

const [endpoint, projectId, location, query, type, value] = process.argv.slice(2);
const bq = new BigQuery({ projectId, apiEndpoint: endpoint, location });

function plain(v) {
	if (v === null || v === undefined)
		return null;
	if (Array.isArray(v))
		return v.map(plain);
	if (typeof v === 'object') {
		if (v.constructor && v.constructor.name === 'Big')
			return v.toString();
		if ('value' in v && /^BigQuery/.test(v.constructor && v.constructor.name))
			return String(v.value); // BigQueryTimestamp, BigQueryDate, BigQueryInt, ...
		const out = {};
		for (const [k, x] of Object.entries(v))
			out[k] = plain(x);
		return out;
	}
	return v;
}

(async () => {
	const cursor = type === 'TIMESTAMP' ? bq.timestamp(value) : value;
	const [rows] = await bq.query({ query, params: { cursor }, types: { cursor: type },
		maxResults: 4, wrapIntegers: true, location });
	for (const r of rows)
		process.stdout.write(JSON.stringify(plain(r)) + '\n');
})().catch(e => {
	process.stderr.write(`read.js: ${e.message}\n`);
	process.exit(1);
});
