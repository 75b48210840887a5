/*
 * sf_sqlapi_result.c - the sql_api transport's result set, and its reader
 * ops (open, next, close) and check.
 *
 * A 200 answer's rowType binds its columns to the map and tells the first
 * cursor column's type (for a first run's :cursor); its rows come a
 * partition at a time, partition 0 with the answer, the others fetched
 * (GET ?partition=N) when the rows before them are read.
 *
 * Cells arrive as strings (jsonv2): NUMBER as decimal text, BOOLEAN
 * "true"/"false", TIMESTAMP_* as epoch seconds with 9 decimals (TZ adds an
 * offset after a space), DATE as days since the epoch, VARIANT as JSON.
 * A cell that is not a value of its column's type (sf_cell.c), or a time
 * beyond int64 microseconds, fails the page, naming the partition, row,
 * column and type.  A partition whose rows are not as many as
 * partitionInfo's rowCount says fails the run (retried), as does one cut
 * in transit: its transfer failed (the error names the partition, its
 * statement and the bytes received), or its JSON breaks off at its end (an
 * answer without a length, which curl takes as whole).
 * One partition is in memory at a time.
 *
 * Never sends a statement itself: sf_sqlapi_run_statement does
 * (sf_sqlapi_stmt.c), the LIMIT 0 one too.
 */
#include "sf_sqlapi_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sf_sqlapi_result_free(struct sf_api *a)
{
	json_decref(a->part);
	json_decref(a->part_info);
	a->part = a->part_info = NULL;
	for (size_t i = 0; i < a->n_cols; i++)
		free(a->names[i]);
	free(a->names);
	free(a->cols);
	free(a->kinds);
	free(a->cells);
	free(a->handle);
	a->names = NULL;
	a->cols = NULL;
	a->kinds = NULL;
	a->cells = NULL;
	a->handle = NULL;
	a->n_cols = a->n_parts = a->part_no = a->row_no = 0;
}

static hub_rc take_columns(struct sf_api *a, json_t *meta, char *err, size_t err_size)
{
	json_t *row_type = json_object_get(meta, "rowType"), *col;
	size_t i, n = json_array_size(row_type);

	if (!json_is_array(row_type) || n == 0) {
		snprintf(err, err_size, "a result set without rowType");
		return HUB_ERR_INTERNAL;
	}
	a->names = calloc(n, sizeof(*a->names));
	a->cols = calloc(n, sizeof(*a->cols));
	a->kinds = calloc(n, sizeof(*a->kinds));
	a->cells = calloc(n, sizeof(*a->cells));
	if (!a->names || !a->cols || !a->kinds || !a->cells)
		goto nomem;
	json_array_foreach(row_type, i, col) {
		const char *name = json_string_value(json_object_get(col, "name"));
		if (!(a->names[i] = strdup(name ? name : "")))
			goto nomem;
		a->n_cols = i + 1;
		a->cols[i].name = a->names[i];
		a->kinds[i] = sf_kind_of(json_string_value(json_object_get(col, "type")),
				      &a->cols[i].type);
	}
	return HUB_OK;
nomem:
	snprintf(err, err_size, "out of memory");
	return HUB_ERR_NOMEM;
}

/* Partition n's rows (data) against partitionInfo[n].rowCount, when
 * given: a partition answered short (cut in transit, a proxy's limit) was
 * taken as whole, and the cursor moved past rows never read.  HUB_RETRY:
 * the run reads it again from the committed cursor. */
static hub_rc check_row_count(const struct sf_api *a, size_t n, const json_t *data, char *err,
			      size_t err_size)
{
	json_t *count = json_object_get(json_array_get(a->part_info, n), "rowCount");
	size_t got = json_array_size(data);

	if (!json_is_integer(count) || json_integer_value(count) == (json_int_t)got)
		return HUB_OK;
	snprintf(err, err_size, "partition %zu: %zu rows where partitionInfo says %lld: the run "
		 "is retried (the answer was not the whole partition)", n, got,
		 (long long)json_integer_value(count));
	return HUB_RETRY;
}

/* A 200 result set: its columns bound into m, partition 0 kept. */
static hub_rc take_result(struct sf_api *a, json_t *root, struct rowmap *m, char *err,
			  size_t err_size)
{
	json_t *meta = json_object_get(root, "resultSetMetaData");
	json_t *parts = json_object_get(meta, "partitionInfo");
	const char *format = json_string_value(json_object_get(meta, "format"));
	const char *handle = json_string_value(json_object_get(root, "statementHandle"));
	char v[48];
	hub_rc rc;

	sf_sqlapi_result_free(a);
	a->part = root;
	if (format && strcmp(format, "jsonv2") != 0) {
		snprintf(err, err_size, "result format \"%s\" (only jsonv2 is read)", format);
		return HUB_ERR_INTERNAL;
	}
	if ((rc = take_columns(a, meta, err, err_size)) != HUB_OK)
		return rc;
	a->n_parts = json_array_size(parts) ? json_array_size(parts) : 1;
	a->part_info = json_incref(parts);
	if ((rc = check_row_count(a, 0, json_object_get(root, "data"), err, err_size)) != HUB_OK)
		return rc;
	if (!handle && a->n_parts > 1) {
		snprintf(err, err_size, "a result set in %zu partitions without a statementHandle",
			 a->n_parts);
		return HUB_ERR_INTERNAL;
	}
	if (handle && !sf_sqlapi_handle_is_valid(handle)) {
		sf_excerpt(handle, v, sizeof(v));
		snprintf(err, err_size,
			 "a result set whose statementHandle is not a handle: \"%s\"", v);
		return HUB_ERR_INTERNAL;
	}
	if (!(a->handle = strdup(handle ? handle : ""))) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	if (rowmap_bind(m, a->cols, a->n_cols, err, err_size))
		return HUB_ERR_CONFIG;
	return HUB_OK;
}

/* The first cursor column's type, from the result just bound to m. */
static void learn_cursor_kind(struct sf_api *a, const struct rowmap *m)
{
	int i = rowmap_cursor_column(m);

	if (i < 0 || (size_t)i >= a->n_cols)
		return;
	a->cursor_kind = a->kinds[i];
	a->is_kind_known = 1;
}

/* The query as a subquery with LIMIT 0 (malloc'd), or NULL.  The query
 * goes on lines of its own, without its trailing semicolons and comments:
 * a `--` comment at its end would swallow `) LIMIT 0`, a `;` end the
 * statement inside the parentheses. */
static char *empty_statement(const char *query)
{
	size_t len = rowmap_query_trimmed_len(query, RM_SQL_SNOWFLAKE), n = len + 64;
	char *sql = malloc(n);

	if (sql)
		snprintf(sql, n, "SELECT * FROM (\n%.*s\n) LIMIT 0", (int)len, query);
	return sql;
}

/* The query with LIMIT 0 (:cursor bound to param): its columns checked
 * against the map and the cursor column's type learned, no row read. */
static hub_rc run_empty(struct sf_api *a, struct rowmap *m, const char *param, char *err,
			size_t err_size)
{
	char *sql = empty_statement(a->query);
	json_t *root;
	hub_rc rc;

	if (!sql) {
		snprintf(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	rc = sf_sqlapi_run_statement(a, sql, param, &root, err, err_size);
	free(sql);
	if (rc == HUB_OK && (rc = take_result(a, root, m, err, err_size)) == HUB_OK)
		learn_cursor_kind(a, m);
	sf_sqlapi_result_free(a);
	return rc;
}

static hub_rc api_open(void *t, struct rowmap *m, const char *param, size_t batch_hint,
		       char *err, size_t err_size)
{
	struct sf_api *a = t;
	json_t *root;
	hub_rc rc;

	(void)batch_hint; /* Snowflake sizes the partitions */
	/* a first run binds the start of the cursor column's type: learn it */
	if (!param && !a->is_kind_known && (rc = run_empty(a, m, NULL, err, err_size)) != HUB_OK)
		return rc;
	if ((rc = sf_sqlapi_run_statement(a, a->query, param, &root, err, err_size)) != HUB_OK)
		return rc;
	if ((rc = take_result(a, root, m, err, err_size)) != HUB_OK)
		sf_sqlapi_result_free(a);
	else
		learn_cursor_kind(a, m);
	return rc;
}

/* A partition's answer (the body in a->resp, its HTTP status) taken as
 * the current partition n. */
static hub_rc take_partition(struct sf_api *a, size_t n, long status, char *err,
			     size_t err_size)
{
	json_error_t jerr;
	json_t *root;
	hub_rc rc;

	if (status == 404) {
		snprintf(err, err_size, "partition %zu of the result is gone (HTTP 404)", n);
		return HUB_RETRY;
	}
	if (status != 200)
		return sf_sqlapi_status_error(a, status, err, err_size);
	root = json_loads(a->resp.p ? a->resp.p : "", 0, &jerr);
	if (!root && sf_sqlapi_answer_is_cut(a, &jerr)) {
		snprintf(err, err_size, "partition %zu of statement %s: the answer breaks off after "
			 "%zu bytes (decoded), in the middle of its JSON: cut in transit", n,
			 a->handle ? a->handle : "?", a->resp.len);
		return HUB_RETRY;
	}
	if (!root || !json_is_array(json_object_get(root, "data"))) {
		json_decref(root);
		snprintf(err, err_size, "partition %zu: not a JSON result", n);
		return HUB_ERR_INTERNAL;
	}
	if ((rc = check_row_count(a, n, json_object_get(root, "data"), err, err_size)) != HUB_OK) {
		json_decref(root);
		return rc;
	}
	json_decref(a->part);
	a->part = root;
	a->part_no = n;
	a->row_no = 0;
	return HUB_OK;
}

/* A partition's transfer that failed in transit (cut, reset, stalled; err
 * says how): err then names the partition, its statement and the bytes of
 * its body that came (as sent, gzip'd or not) of those its Content-Length
 * promised, before curl's words. */
static void partition_in_transit(struct sf_api *a, size_t n, char *err, size_t err_size)
{
	curl_off_t got = 0, of = -1;
	char why[SF_MSG], of_text[32] = "";

	snprintf(why, sizeof(why), "%s", err);
	curl_easy_getinfo(a->curl, CURLINFO_SIZE_DOWNLOAD_T, &got);
	curl_easy_getinfo(a->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &of);
	if (of >= 0)
		snprintf(of_text, sizeof(of_text), " of %lld", (long long)of);
	snprintf(err, err_size, "partition %zu of statement %s: %lld%s bytes received: %s", n,
		 a->handle, (long long)got, of_text, why);
}

static hub_rc fetch_partition(struct sf_api *a, size_t n, char *err, size_t err_size)
{
	char url[1024];
	long status = 0;
	hub_rc rc;

	snprintf(url, sizeof(url), "%s/api/v2/statements/%s?partition=%zu", a->base, a->handle, n);
	if ((rc = sf_sqlapi_http(a, url, NULL, &status, err, err_size)) != HUB_OK) {
		if (rc == HUB_RETRY) /* the run reads it again from the committed cursor */
			partition_in_transit(a, n, err, err_size);
		return rc;
	}
	return take_partition(a, n, status, err, err_size);
}

static hub_rc api_next(void *t, const struct rm_cell **row, char *err, size_t err_size)
{
	struct sf_api *a = t;
	json_t *data = json_object_get(a->part, "data"), *r;
	char why[SF_MSG];
	hub_rc rc;

	while (a->row_no >= json_array_size(data)) {
		if (a->part_no + 1 >= a->n_parts)
			return HUB_OK;
		if ((rc = fetch_partition(a, a->part_no + 1, err, err_size)) != HUB_OK)
			return rc;
		data = json_object_get(a->part, "data");
	}
	r = json_array_get(data, a->row_no++);
	if (!json_is_array(r) || json_array_size(r) != a->n_cols) {
		snprintf(err, err_size, "partition %zu row %zu: expected %zu cells", a->part_no,
			 a->row_no, a->n_cols);
		return HUB_ERR_INTERNAL;
	}
	for (size_t i = 0; i < a->n_cols; i++) {
		if ((rc = sf_cell_convert(a->kinds[i], json_array_get(r, i), &a->cells[i],
					   a->names[i], why, sizeof(why))) != HUB_OK) {
			snprintf(err, err_size, "partition %zu row %zu: %s", a->part_no, a->row_no,
				 why);
			return rc;
		}
	}
	*row = a->cells;
	return HUB_MORE;
}

static void api_close(void *t)
{
	sf_sqlapi_result_free(t);
}

const struct rp_reader_ops sf_api_ops = {
	.open = api_open,
	.next = api_next,
	.close = api_close,
};

hub_rc sf_api_check(struct sf_api *a, struct rowmap *m, const char *param, char *err,
		    size_t err_size)
{
	return run_empty(a, m, param, err, err_size);
}
