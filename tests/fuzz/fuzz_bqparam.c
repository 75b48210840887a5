/*
 * fuzz_bqparam.c - the bigquery plugin's @cursor parameter (bq_param.c:
 * bq_param_for, guess_type, param_time) and its service-account key file
 * (bq_jwt.c: bq_sa_key_parse).  The saved cursor comes from the
 * warehouse's own cells (a checkpoint) or from cursor_start in the config;
 * the key file is whatever credentials_file points at.
 *
 * byte 0: the cursor_type (index into types[], the last ones: NULL, i.e.
 * guessed, and a bogus name); rest: the param text (NUL-cut); also the
 * whole rest as the key file's JSON.
 * Findings: crashes, sanitizer reports, leaks; an accepted value that does
 * not fit its buffer, or an accepted TIMESTAMP/DATE that does not read
 * back through rm_time_parse.
 */
#include "../../plugins/bigquery/bq_auth.c"
#include "../../plugins/bigquery/bq_cell.c"
#include "../../plugins/bigquery/bq_error.c"
#include "../../plugins/bigquery/bq_http.c"
#include "../../plugins/bigquery/bq_jwt.c"
#include "../../plugins/bigquery/bq_query.c"
#include "../../plugins/bigquery/bq_job.c"
#include "../../plugins/bigquery/bq_param.c"
#include "../../plugins/common/rm_value.c"
#include "../../plugins/common/rm_cursor.c"
#include "../../plugins/common/rowmap.c"
#include "../../plugins/common/rowpull.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const types[] = {"TIMESTAMP", "DATETIME", "DATE", "INT64", "NUMERIC",
				    "BIGNUMERIC", "FLOAT64", "STRING", "BYTES", "timestamp",
				    "BOOL", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char type_out[16], value[1024], err[512], *text;
	const char *type;
	struct bq_sa_key *k = NULL;

	if (size < 1 || size > 4096 || !(text = malloc(size)))
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	type = types[data[0] % (sizeof(types) / sizeof(types[0]))];

	/* with the param, and as a first run (NULL) */
	for (int pass = 0; pass < 2; pass++) {
		const char *param = pass ? bq_param_value(type, NULL) : text;
		value[0] = '\0';
		if (bq_param_for(type, param, type_out, sizeof(type_out), value, sizeof(value), err,
				 sizeof(err)) == 0) {
			if (!type_out[0])
				abort();
			/* a value passed through as written is never cut */
			if (param &&
			    (strcmp(type_out, "STRING") == 0 || strcmp(type_out, "BYTES") == 0 ||
			     strcmp(type_out, "INT64") == 0 || strcmp(type_out, "NUMERIC") == 0) &&
			    strcmp(value, param) != 0) {
				fprintf(stderr, "param \"%s\" as %s sent as \"%s\"\n", param,
					type_out, value);
				abort();
			}
			/* a FLOAT64 is the same double, spelled as BigQuery reads
			 * one: decimal digits, or Infinity / -Infinity; never NaN */
			if (param && strcmp(type_out, "FLOAT64") == 0 &&
			    (strtod(value, NULL) != strtod(param, NULL) ||
			     (strspn(value, "0123456789+-.eE") != strlen(value) &&
			      strcmp(value, "Infinity") != 0 && strcmp(value, "-Infinity") != 0))) {
				fprintf(stderr, "param \"%s\" as FLOAT64 sent as \"%s\"\n", param,
					value);
				abort();
			}
			if (strcmp(type_out, "TIMESTAMP") == 0 || strcmp(type_out, "DATE") == 0) {
				int64_t s;
				int32_t ns;
				/* an epoch-seconds cursor past year 9999 gives a
				 * year BigQuery refuses itself: not checked here */
				if ((!param || rm_time_parse(param, &s, &ns) == 0) &&
				    rm_time_parse(value, &s, &ns) != 0) {
					fprintf(stderr, "param \"%s\" as %s gives \"%s\"\n",
						param ? param : "(null)", type_out, value);
					abort();
				}
			}
		} else if (!err[0]) {
			abort();
		}
	}
	(void)guess_type(text);
	if (bq_sa_key_parse(text, &k, err, sizeof(err)) == 0) {
		char *jwt = bq_jwt_assertion(k, "scope", 1772000000);
		free(jwt);
		bq_sa_key_free(k);
	}
	free(text);
	return 0;
}
