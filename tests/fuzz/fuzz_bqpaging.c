/*
 * fuzz_bqpaging.c - the bigquery plugin's conversation with the REST API
 * (plugins/bigquery/bq_query.c, bq_job.c and bq_param.c, compiled in with
 * bq_cell.c, bq_error.c and the shared mapping and pull loop): the dry
 * runs that learn @cursor's type, jobs.query, getQueryResults polled
 * while jobComplete is false, pageToken after pageToken, over a scripted
 * transport whose answers come from the input.  fuzz_bigquery has one
 * page's schema and cells; this is the paging around them.  Pulls run as
 * the hub runs them (each from the last checkpoint, the hub's host table
 * validating every record) until the end, an error, or a bound.  No
 * network, no token, no sleep.
 *
 * The input:
 *
 *   byte 0   bits 0-2: budget 1 + b; bit 3: cursor_type TIMESTAMP in the
 *            config (else the dry runs learn it); bit 4: cursor (t, id)
 *            else t; bit 5: a location in the config; bit 6: each pull
 *            a new run (jobs.query again from the saved checkpoint, not
 *            the open result resumed), ended at a checkpoint seen before
 *   rest     the answers in the order the plugin asks, separated by form
 *            feeds: each a body, or "HTTP <status>\n" and a body (200
 *            else); past the last one every call fails in transit
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - a URL the plugin asks for that is not the endpoint's, or holds a
 *     byte that cannot be in a URL (a jobId, projectId, location or
 *     pageToken from an answer not escaped);
 *   - more calls in one pull than answers + 3 + 2 * (GET_RETRIES_MAX + 1)
 *     (past the answers a GET is sent again in place, and a job given up
 *     on before it completed is cancelled: one jobs.cancel), more pulls than
 *     answers + 3 (a loop that never ends);
 *   - a HUB_MORE without a checkpoint, a checkpoint that
 *     rowmap_cursor_first() cannot read back;
 *   - in new runs, a checkpoint seen before saved again by a run that
 *     emitted a row (with a first cursor value) no earlier run had: it
 *     failed to advance (fuzzpull.h's run_ends_at_repeat());
 *   - a refusal without a message.
 *
 *   make fuzz     (tests/fuzz/run.sh; seeds from tests/fixtures/bqpaging/)
 */
#include <time.h>

/* the poll's waits: none */
#define nanosleep(req, rem) fuzz_nanosleep(req, rem)
static int fuzz_nanosleep(const struct timespec *req, struct timespec *rem)
{
	(void)req;
	(void)rem;
	return 0;
}

/* the transport and the token are the script's */
#define bq_http_request real_bq_http_request
#include "../../plugins/bigquery/bq_http.c"
#undef bq_http_request

#include "../../plugins/bigquery/bq_cell.c"
#include "../../plugins/bigquery/bq_error.c"
#include "../../plugins/common/rm_cursor.c"
#include "../../plugins/common/rm_value.c"
#include "../../plugins/common/rowmap.c"
#include "../../plugins/common/rowpull.c"

#define FUZZ_PULL_SOURCE "bq"
#include "fuzzpull.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE "https://bq.example"
#define MAX_ANSWERS 32
#define GET_RETRIES_MAX 4 /* bq_job.c's GET_RETRIES, checked below */

struct answer {
	long status;
	const char *body;
	size_t len;
};

static struct {
	struct answer a[MAX_ANSWERS];
	size_t n, pos, calls_this_pull;
} script;

hub_rc bq_http_request(struct bq_http *h, const char *url, const char *bearer,
		       const char *extra, const char *body, const char *content_type,
		       const char *what, long *status, char *err, size_t err_size);

hub_rc bq_http_request(struct bq_http *h, const char *url, const char *bearer,
		       const char *extra, const char *body, const char *content_type,
		       const char *what, long *status, char *err, size_t err_size)
{
	const struct answer *a;

	(void)bearer, (void)extra, (void)body, (void)content_type;
	if (strncmp(url, BASE "/bigquery/v2/projects/",
		    strlen(BASE "/bigquery/v2/projects/")) != 0) {
		fprintf(stderr, "%s: URL \"%s\" is not the endpoint's\n", what, url);
		abort();
	}
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '#' || *p == '"' || *p == '<' || *p == '>' ||
		    *p == '\\' || *p == '^' || *p == '`' || *p == '{' || *p == '|' || *p == '}') {
			fprintf(stderr, "%s: URL \"%s\" holds byte 0x%02x\n", what, url, *p);
			abort();
		}
	/* past the script's end every call fails in transit: a GET is sent
	 * again in place (bq_job.c's GET_RETRIES) before the pull gives up,
	 * and cancels the job if it had not completed */
	if (++script.calls_this_pull > script.n + 3 + 2 * (GET_RETRIES_MAX + 1)) {
		fprintf(stderr, "%zu calls in one pull over %zu answers\n", script.calls_this_pull,
			script.n);
		abort();
	}
	bq_text_reset(&h->resp);
	h->retry_after[0] = '\0';
	if (script.pos >= script.n) {
		snprintf(err, err_size, "%s: the script has no more answers", what);
		return HUB_RETRY;
	}
	a = &script.a[script.pos++];
	bq_text_add(&h->resp, a->body, a->len);
	if (h->resp.failed) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	if (a->status == 429 || a->status == 503)
		snprintf(h->retry_after, sizeof(h->retry_after), "1");
	*status = a->status;
	return HUB_OK;
}

const char *bq_auth_token(struct bq_auth *a, struct bq_http *h, int64_t now_ms, hub_rc *rc,
			  char *err, size_t err_size)
{
	(void)a, (void)h, (void)now_ms, (void)rc, (void)err, (void)err_size;
	return "fuzz-token";
}

int bq_auth_invalidate(struct bq_auth *a)
{
	(void)a;
	return 0; /* a 401 is not tried again */
}

void bq_auth_free(struct bq_auth *a)
{
	(void)a;
}

#include "../../plugins/bigquery/bq_query.c"
#include "../../plugins/bigquery/bq_job.c"
#include "../../plugins/bigquery/bq_param.c"
_Static_assert(GET_RETRIES <= GET_RETRIES_MAX, "the script's bound counts GET_RETRIES");

static hub_rc on_reject(struct hub_call *call, const char *why)
{
	(void)call, (void)why;
	return HUB_OK;
}

/* "HTTP <status>\n" in front of a body: its status, the body after it. */
static void take_answer(const char *p, size_t len)
{
	struct answer *a = &script.a[script.n++];

	a->status = 200;
	if (len > 5 && memcmp(p, "HTTP ", 5) == 0) {
		const char *nl = memchr(p, '\n', len);
		long v = 0;
		size_t i = 5;
		while (i < len && i < 8 && p[i] >= '0' && p[i] <= '9')
			v = v * 10 + (p[i++] - '0');
		if (nl && v >= 100) {
			a->status = v;
			len -= (size_t)(nl + 1 - p);
			p = nl + 1;
		}
	}
	a->body = p;
	a->len = len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rm_config mc = {.source = "bq",
			       .map_json =
				       "{\"custom_id\": \"id\", \"attributes\": {\"seen\": \"t\"}}",
			       .kind = "attributes"};
	struct bq_query_config qc = {.endpoint = BASE "/", .project = "my project",
				     .query = "SELECT t, id FROM d.t WHERE t >= @cursor"};
	struct rowmap *m = NULL;
	struct bq_query *q = NULL;
	struct got g = {0};
	static struct seen seen;
	struct hub_call call = {.on_emit = on_emit, .on_checkpoint = on_checkpoint,
				.on_reject = on_reject, .ctx = &g};
	struct rowpull rp;
	const char *p, *end;
	size_t budget;
	char err[512];
	hub_rc rc = HUB_MORE;

	if (size < 1 || size > 65536)
		return 0;
	memset(&script, 0, sizeof(script));
	budget = 1 + (data[0] & 7);
	qc.cursor_type = (data[0] & 8) ? "TIMESTAMP" : NULL;
	mc.cursor_json = (data[0] & 16) ? "[\"t\", \"id\"]" : "\"t\"";
	qc.location = (data[0] & 32) ? "EU" : NULL;
	p = (const char *)data + 1;
	end = (const char *)data + size;
	while (p < end && script.n < MAX_ANSWERS) {
		const char *ff = memchr(p, '\f', (size_t)(end - p));
		size_t len = ff ? (size_t)(ff - p) : (size_t)(end - p);
		take_answer(p, len);
		p += len + (ff != NULL);
	}

	if (rowmap_new(&mc, &m, err, sizeof(err)) ||
	    bq_query_new(host_table(), NULL, &qc, &q, err, sizeof(err))) {
		fprintf(stderr, "fuzz_bqpaging: %s\n", err);
		abort();
	}
	bq_query_set_call(q, &call);
	memset(&rp, 0, sizeof(rp));
	rp.host = host_table();
	rp.map = m;
	rp.ops = pull_ops_wrap(&bq_query_ops, &g, m);
	rp.t = q;
	for (size_t pulls = 0; rc == HUB_MORE; pulls++) {
		char *from = g.cursor ? strdup(g.cursor) : NULL;
		if (pulls > script.n + 3) {
			fprintf(stderr, "%zu pulls over %zu answers\n", pulls, script.n);
			abort();
		}
		err[0] = '\0';
		script.calls_this_pull = 0;
		if (data[0] & 64)
			rowpull_close(&rp); /* a new run: nothing resumed */
		rc = rowpull_pull(&rp, &call, from, budget, err, sizeof(err));
		if (rc == HUB_MORE && !g.cursor)
			abort();
		if (rc != HUB_OK && rc != HUB_MORE && !err[0])
			abort(); /* every failure says why */
		if ((data[0] & 64) && rc == HUB_MORE && run_ends_at_repeat(&seen, &g))
			rc = HUB_OK; /* a new run from it would repeat what followed it */
		free(from);
	}
	rowpull_close(&rp);
	bq_query_free(q);
	rowmap_free(m);
	free(g.cursor);
	tuples_clear(&g.emitted);
	seen_clear(&seen);
	return 0;
}
