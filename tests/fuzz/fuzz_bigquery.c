/*
 * fuzz_bigquery.c - libFuzzer target for the bigquery plugin's reading of
 * BigQuery's answers: the input is a jobs.query / getQueryResults page
 * ({"schema": {"fields": [...]}, "rows": [{"f": [{"v": ...}]}], ...}); its
 * schema is parsed and every cell of every row decoded, as bq_query.c
 * does; the same bytes are also read as an error envelope (bq_error.c) and
 * as a TIMESTAMP cell's text.  The plugin's sources are compiled in (so
 * libFuzzer sees their coverage), with the shared mapping's value helpers.
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - a RECORD / REPEATED / JSON cell whose text is not one JSON value
 *     (an integer past 64 bits read as a double, as the hub reads it);
 *   - an INT64 cell accepted whose text is not an exact 64-bit integer;
 *   - a TIMESTAMP outside the microsecond grid (nsec not a multiple of
 *     1000, or out of [0, 1e9));
 *   - an error message with a line break or not valid UTF-8 (in a buffer
 *     of any size: cut mid-character), or a code outside the set the
 *     envelope may give;
 *   - text_utf8_repair() (plugins/common/text.h) leaving the bytes not
 *     valid UTF-8, making them longer, or changing valid UTF-8.
 *
 *   make fuzz     (tests/fuzz/run.sh; seeds from tests/fixtures/bigquery/
 *                  when there are any)
 */
#include "../../plugins/bigquery/bq_cell.c"
#include "../../plugins/bigquery/bq_error.c"
#include "../../plugins/bigquery/bq_http.c"
#include "../../plugins/common/rm_value.c"
#include "../../plugins/common/text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when s is valid UTF-8 (jansson checks strictly). */
static int is_utf8(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

/* The repair of any bytes is valid UTF-8, no longer, and leaves valid
 * UTF-8 as it was. */
static void check_repair(const char *text)
{
	size_t len = strlen(text);
	char *copy = strdup(text);

	if (!copy)
		return;
	text_utf8_repair(copy);
	if (!is_utf8(copy) || strlen(copy) > len || (is_utf8(text) && strcmp(copy, text) != 0))
		abort();
	free(copy);
}

/* The envelope decoded into err[size]: one line of valid UTF-8. */
static hub_rc check_error(const char *text, long status, const char *retry_after, size_t size)
{
	char err[1024];
	hub_rc rc = bq_error_decode(status, text, retry_after, err, size);

	if (strchr(err, '\n') || strchr(err, '\r') || !is_utf8(err))
		abort();
	return rc;
}

static void check_cell(const struct bq_field *f, const struct rm_cell *c)
{
	int64_t v;

	if (c->is_null)
		return;
	switch (bq_rm_type(f)) {
	case RM_JSON:
		/* RECORD / REPEATED / JSON must be one JSON value as the hub
		 * reads a record's JSON (record_hub.c: an integer past 64 bits
		 * is a double), not as plain json_loads() does */
		if (!json_text_is_json(c->text, JSON_DECODE_ANY))
			abort();
		break;
	case RM_NUMBER:
		if (f->type == BQ_T_INT64 && bq_int64_check(c->text, &v))
			abort();
		break;
	case RM_TIMESTAMP:
		if (f->type == BQ_T_TIMESTAMP &&
		    (c->nsec < 0 || c->nsec >= 1000000000 || c->nsec % 1000))
			abort();
		break;
	default:
		if (!c->text)
			abort();
		break;
	}
}

static void read_page(json_t *root, int is_micros)
{
	json_t *rows = json_object_get(root, "rows"), *row;
	struct bq_field *fields = NULL;
	struct bq_text *scratch;
	size_t n = 0, i;
	char err[512];

	if (bq_schema_parse(json_object_get(json_object_get(root, "schema"), "fields"), &fields, &n,
			    err, sizeof(err)))
		return;
	scratch = calloc(n, sizeof(*scratch));
	if (!scratch)
		goto out;
	json_array_foreach(rows, i, row) {
		json_t *cells = json_object_get(row, "f");
		struct rm_cell c;

		if (json_array_size(cells) != n)
			continue; /* bq_query.c refuses such a row */
		for (size_t k = 0; k < n; k++) {
			hub_rc rc = bq_cell_decode(&fields[k],
						   json_object_get(json_array_get(cells, k), "v"),
						   is_micros, &c, &scratch[k], err, sizeof(err));
			if (rc == HUB_OK)
				check_cell(&fields[k], &c);
			else if (rc != HUB_ERR_INTERNAL && rc != HUB_ERR_NOMEM)
				abort();
		}
	}
	for (i = 0; i < n; i++)
		free(scratch[i].p);
	free(scratch);
out:
	bq_fields_free(fields, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), reason[64];
	json_t *root;
	int64_t sec;
	int32_t nsec;
	hub_rc rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	root = json_loads(text, 0, NULL);
	if (root) {
		read_page(root, 1);
		read_page(root, 0);
		json_decref(root);
	}

	rc = check_error(text, size ? 300 + data[0] : 500, size > 1 ? "5" : "", 1024);
	(void)check_error(text, 400, "", size > 1 ? 1 + data[1] % 256 : 1);
	check_repair(text);
	if (rc != HUB_RETRY && rc != HUB_ERR_AUTH && rc != HUB_ERR_CONFIG && rc != HUB_ERR_INTERNAL)
		abort();
	bq_error_reason(text, reason, sizeof(reason));

	if (size < 64 && bq_timestamp_parse(text, size & 1, &sec, &nsec) == 0 &&
	    (nsec < 0 || nsec >= 1000000000 || nsec % 1000))
		abort();
	free(text);
	return 0;
}
