/*
 * bq_query.c - the query as the pull loop reads it: its state from create
 * to destroy, the rp_reader_ops (open, next, close) and check.
 *
 * One page (at most maxResults rows: the pull's page size) is in memory at
 * a time; its rows are decoded (bq_cell.c) one by one as the pull loop asks
 * for them, and the next page is asked for (bq_job.c) when they run out.
 * :cursor is the named parameter @cursor (its text: bq_param.c), typed
 * from the first cursor column: before a process's first query a dry run
 * learns the column's type from the result's schema (the parameter's type
 * must suit the column before BigQuery accepts the dry run, so it tries a
 * few, below), and every result's schema keeps it up to date.
 * `cursor_type` overrides it; a guess from the value is the last resort.
 *
 * Never sends a request itself: every call to the API, and the polls,
 * retries and cancel around it, go through bq_job.c.
 */
#include "bq_query_int.h"
#include "../common/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESULTS_CAP 100000
#define MAX_EMPTY_PAGES 1000

/* ---- the :cursor parameter --------------------------------------------------------- */

/* The cursor column's type, remembered for the next @cursor. */
static void learn_type(struct bq_query *q, struct rowmap *m)
{
	int i = rowmap_cursor_column(m);
	const struct bq_field *f;

	if (i < 0 || (size_t)i >= q->n_fields)
		return;
	f = &q->fields[i];
	if (f->is_repeated)
		return;
	switch (f->type) {
	case BQ_T_TIMESTAMP:
	case BQ_T_DATETIME:
	case BQ_T_DATE:
	case BQ_T_INT64:
	case BQ_T_NUMERIC:
	case BQ_T_BIGNUMERIC:
	case BQ_T_FLOAT64:
	case BQ_T_STRING:
	case BQ_T_BYTES:
		snprintf(q->learned_type, sizeof(q->learned_type), "%s", bq_type_name(f->type));
		break;
	default:
		break;
	}
}

/* ---- results ----------------------------------------------------------------------- */

static void result_free(struct bq_query *q)
{
	json_decref(q->page);
	q->page = NULL;
	for (size_t i = 0; q->scratch && i < q->n_fields; i++)
		free(q->scratch[i].p);
	free(q->scratch);
	free(q->cols);
	free(q->cells);
	bq_fields_free(q->fields, q->n_fields);
	free(q->job_url);
	free(q->cancel_url);
	free(q->job_id);
	free(q->page_token);
	q->scratch = NULL;
	q->cols = NULL;
	q->cells = NULL;
	q->fields = NULL;
	q->job_url = NULL;
	q->cancel_url = NULL;
	q->job_id = NULL;
	q->is_job_running = 0;
	q->page_token = NULL;
	q->n_fields = q->row_no = 0;
}

/* Takes a page: the schema on the first one, its rows, its pageToken. */
static hub_rc take_page(struct bq_query *q, json_t *root, char *err, size_t err_size)
{
	const char *tok = json_string_value(json_object_get(root, "pageToken"));

	json_decref(q->page);
	q->page = root;
	q->row_no = 0;
	free(q->page_token);
	q->page_token = NULL;
	if (tok && *tok && !(q->page_token = strdup(tok))) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	if (!json_is_array(json_object_get(root, "rows")) && json_object_get(root, "rows")) {
		snprintf(err, err_size, "getQueryResults: rows is not an array");
		return HUB_ERR_INTERNAL;
	}
	return HUB_OK;
}

static hub_rc take_schema(struct bq_query *q, json_t *root, struct rowmap *m, char *err,
			  size_t err_size)
{
	if (bq_schema_parse(json_object_get(json_object_get(root, "schema"), "fields"), &q->fields,
			    &q->n_fields, err, err_size))
		return HUB_ERR_INTERNAL;
	q->cols = calloc(q->n_fields, sizeof(*q->cols));
	q->cells = calloc(q->n_fields, sizeof(*q->cells));
	q->scratch = calloc(q->n_fields, sizeof(*q->scratch));
	if (!q->cols || !q->cells || !q->scratch) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	for (size_t i = 0; i < q->n_fields; i++) {
		q->cols[i].name = q->fields[i].name;
		q->cols[i].type = bq_rm_type(&q->fields[i]);
	}
	if (rowmap_bind(m, q->cols, q->n_fields, err, err_size))
		return HUB_ERR_CONFIG;
	learn_type(q, m);
	return HUB_OK;
}

/* ---- the cursor column's type, before the first query --------------------------------- */

/*
 * The dry runs that learn the first cursor column's type.  BigQuery checks
 * `col >= @cursor` before it answers even a dry run, so @cursor needs a
 * type that suits the column before the column's type is known: these are
 * tried in turn, and the first one accepted wins (its result's schema then
 * names the column's own type).  A STRING parameter coerces to DATE,
 * DATETIME, TIME and TIMESTAMP (the value must read as each: a date does),
 * INT64 to NUMERIC, BIGNUMERIC and FLOAT64, DATE to DATETIME; TIMESTAMP and
 * DATE cover a query where the STRING coercion does not apply.
 */
static const struct {
	const char *type, *value;
} probes[] = {
	{"STRING", "1970-01-01"},
	{"INT64", "0"},
	{"TIMESTAMP", "1970-01-01 00:00:00+00:00"},
	{"DATE", "1970-01-01"},
	{"BYTES", ""},
};

/* BigQuery refused the query for @cursor's type (err from answer_error):
 * the next probe may fit. */
static int is_type_refused(hub_rc rc, const char *err)
{
	return rc == HUB_ERR_CONFIG && strstr(err, "BigQuery invalidQuery") &&
	       strstr(err, "No matching signature");
}

/* Dry runs until one is accepted (probes[]); its schema binds the map and
 * sets learned_type (when the column's type is one a parameter can have).
 * Any error but a refused type ends it; when every type is refused, the
 * first refusal is the error. */
static hub_rc probe_type(struct bq_query *q, struct rowmap *m, char *err, size_t err_size)
{
	const size_t n = sizeof(probes) / sizeof(probes[0]);
	char first[512] = "";
	hub_rc rc = HUB_OK;
	json_t *root;

	for (size_t i = 0; i < n; i++) {
		q->sent_from = TYPE_PROBE;
		rc = bq_run_query(q, probes[i].type, probes[i].value, 1, &root, err, err_size);
		if (rc == HUB_OK) {
			q->is_probed = 1;
			if (json_object_get(root, "schema"))
				rc = take_schema(q, root, m, err, err_size);
			json_decref(root);
			result_free(q);
			return rc;
		}
		if (!is_type_refused(rc, err))
			return rc;
		if (i == 0)
			snprintf(first, sizeof(first), "%s", err);
	}
	snprintf(err, err_size, "%s (dry runs found no @cursor type the query accepts: STRING, "
		 "INT64, TIMESTAMP, DATE and BYTES were tried; set cursor_type)", first);
	return rc;
}

/* @cursor's type for the next query (*type NULL: guess it from the value):
 * cursor_type, else the cursor column's, learned by dry runs before a
 * process's first query.  *did_probe (may be NULL) says whether this call
 * ran them. */
static hub_rc cursor_type_for(struct bq_query *q, struct rowmap *m, const char **type,
			      int *did_probe, char *err, size_t err_size)
{
	hub_rc rc;

	*type = NULL;
	if (did_probe)
		*did_probe = 0;
	if (q->cursor_type) {
		q->sent_from = TYPE_CONFIG;
		*type = q->cursor_type;
		return HUB_OK;
	}
	if (!q->learned_type[0] && !q->is_probed) {
		if ((rc = probe_type(q, m, err, err_size)) != HUB_OK)
			return rc;
		if (did_probe)
			*did_probe = 1;
	}
	q->sent_from = q->learned_type[0] ? TYPE_COLUMN : TYPE_GUESSED;
	*type = q->learned_type[0] ? q->learned_type : NULL;
	return HUB_OK;
}

/* ---- the reader -------------------------------------------------------------------- */

static hub_rc q_open(void *t, struct rowmap *m, const char *param, size_t batch_hint, char *err,
		     size_t err_size)
{
	struct bq_query *q = t;
	const char *type;
	json_t *root;
	hub_rc rc;

	result_free(q);
	q->max_results = batch_hint < 1 ? 1 : batch_hint > MAX_RESULTS_CAP ? MAX_RESULTS_CAP
									 : batch_hint;
	if ((rc = cursor_type_for(q, m, &type, NULL, err, err_size)) != HUB_OK ||
	    (rc = bq_run_query(q, type, param, 0, &root, err, err_size)) != HUB_OK)
		return rc;
	if ((rc = take_schema(q, root, m, err, err_size)) != HUB_OK ||
	    (rc = take_page(q, root, err, err_size)) != HUB_OK) {
		if (q->page != root)
			json_decref(root);
		result_free(q);
	}
	return rc;
}

static hub_rc q_next(void *t, const struct rm_cell **row, char *err, size_t err_size)
{
	struct bq_query *q = t;
	json_t *rows = json_object_get(q->page, "rows"), *r, *cells, *root;
	size_t n_empty = 0;
	hub_rc rc;

	while (q->row_no >= json_array_size(rows)) {
		if (!q->page_token)
			return HUB_OK;
		if (!q->job_url) {
			snprintf(err, err_size, "jobs.query: a pageToken without a job");
			return HUB_ERR_INTERNAL;
		}
		if (++n_empty > MAX_EMPTY_PAGES) {
			snprintf(err, err_size, "getQueryResults: %d pages without rows",
				 MAX_EMPTY_PAGES);
			return HUB_ERR_INTERNAL;
		}
		if ((rc = bq_get_results(q, 1, &root, err, err_size)) != HUB_OK)
			return rc;
		if ((rc = take_page(q, root, err, err_size)) != HUB_OK)
			return rc;
		rows = json_object_get(q->page, "rows");
	}
	r = json_array_get(rows, q->row_no++);
	cells = json_object_get(r, "f");
	if (!json_is_array(cells) || json_array_size(cells) != q->n_fields) {
		snprintf(err, err_size, "a row without its %zu cells", q->n_fields);
		return HUB_ERR_INTERNAL;
	}
	for (size_t i = 0; i < q->n_fields; i++)
		if ((rc = bq_cell_decode(&q->fields[i],
					 json_object_get(json_array_get(cells, i), "v"), 1,
					 &q->cells[i], &q->scratch[i], err, err_size)) != HUB_OK)
			return rc;
	*row = q->cells;
	return HUB_MORE;
}

static void q_close(void *t)
{
	result_free(t);
}

const struct rp_reader_ops bq_query_ops = {
	.open = q_open,
	.next = q_next,
	.close = q_close,
};

hub_rc bq_query_check(struct bq_query *q, struct rowmap *m, const char *param, char *err,
		      size_t err_size)
{
	char ptype[16], pvalue[1024];
	const char *type;
	int did_probe;
	json_t *root;
	hub_rc rc;

	result_free(q);
	q->max_results = 1;
	if ((rc = cursor_type_for(q, m, &type, &did_probe, err, err_size)) != HUB_OK)
		return rc;
	if (did_probe) { /* the query and the map passed a dry run: the value is left */
		if (bq_param_for(type, bq_param_value(type, param), ptype, sizeof(ptype), pvalue,
				 sizeof(pvalue), err, err_size))
			return HUB_ERR_CONFIG;
		return HUB_OK;
	}
	if ((rc = bq_run_query(q, type, param, 1, &root, err, err_size)) != HUB_OK)
		return rc;
	if (json_object_get(root, "schema"))
		rc = take_schema(q, root, m, err, err_size);
	json_decref(root);
	result_free(q);
	return rc;
}

/* ---- lifecycle --------------------------------------------------------------------- */

void bq_query_set_call(struct bq_query *q, struct hub_call *call)
{
	q->call = call;
	q->http.stop.call = call;
}

int bq_query_endpoint_check(const char *endpoint, char *err, size_t err_size)
{
	if (!endpoint || text_url_http_prefix(endpoint))
		return 0;
	snprintf(err, err_size, "endpoint: expected an http:// or https:// URL");
	return -1;
}

int bq_query_new(const struct hub_host *host, const struct hub_instance *inst,
		 const struct bq_query_config *cfg, struct bq_query **out, char *err,
		 size_t err_size)
{
	struct bq_query *q = calloc(1, sizeof(*q));
	size_t n;

	*out = NULL;
	if (!q) {
		bq_auth_free(cfg->auth);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	q->host = host;
	q->inst = inst;
	q->auth = cfg->auth;
	q->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 0;
	if (bq_http_init(&q->http, err, err_size))
		goto fail;
	q->http.stop.host = host;
	q->http.transfer_ms = transient_transfer_ms(q->timeout_ms, BQ_QUERY_TIMEOUT_DEFAULT_MS);
	if (!(q->base = strdup(cfg->endpoint ? cfg->endpoint : BQ_DEFAULT_ENDPOINT)) ||
	    !(q->query = strdup(cfg->query)) ||
	    !(q->project_esc = bq_http_escape(&q->http, cfg->project)) ||
	    (cfg->location && (!(q->location = strdup(cfg->location)) ||
			       !(q->location_esc = bq_http_escape(&q->http, cfg->location)))) ||
	    (cfg->cursor_type && !(q->cursor_type = strdup(cfg->cursor_type)))) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	n = strlen(q->base);
	while (n && q->base[n - 1] == '/')
		q->base[--n] = '\0';
	if (bq_query_endpoint_check(q->base, err, err_size))
		goto fail;
	*out = q;
	return 0;
fail:
	bq_query_free(q);
	return -1;
}

void bq_query_free(struct bq_query *q)
{
	if (!q)
		return;
	result_free(q);
	bq_http_cleanup(&q->http);
	bq_auth_free(q->auth);
	free(q->pending_param);
	free(q->base);
	free(q->project_esc);
	free(q->location);
	free(q->location_esc);
	free(q->query);
	free(q->cursor_type);
	free(q);
}
