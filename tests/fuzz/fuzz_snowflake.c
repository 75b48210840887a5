/*
 * fuzz_snowflake.c - libFuzzer target for the snowflake plugin's reading of
 * Snowflake's SQL API answers (plugins/snowflake/sf_sqlapi.c,
 * sf_sqlapi_stmt.c, sf_sqlapi_result.c and sf_cell.c, compiled in, with
 * the shared mapping's value helpers and cursor code).  The input is a
 * conversation:
 * answers separated by form feeds (never in JSON outside an escape), each
 * a body, or "HTTP <status>\n" and a body:
 *
 *   answer 0   the statement's: a 200 result set (its code checked, then
 *              take_result, then every row through api_next), a 202 or a
 *              200 saying 333334 (its statementHandle), or an error
 *              (sf_sqlapi_status_error)
 *   answer N   partition N's, handed over where api_next would fetch it
 *              (take_partition); past the last one api_next's own fetch
 *              fails at once (no key, no network)
 *
 * The whole input is also read as one cell of every column type
 * (sf_cell_convert, epoch_parse), as a non-2xx body and as a header line.
 *
 * Findings, besides crashes, sanitizer reports and leaks:
 *   - an accepted TIMESTAMP with nanoseconds outside [0, 1e9) or seconds
 *     beyond int64 microseconds, or whose epoch text does not read back
 *     from its seconds and nanoseconds; a DATE not on a midnight or whose
 *     day count does not read back; a FIXED that is not a decimal; a REAL
 *     that is not what strtod reads; a BOOLEAN that is not its word (in any case) or digit;
 *   - an accepted cell the mapping does not turn into JSON;
 *   - a refused cell without its message, or whose message has a control
 *     character; an error envelope's message with a line break, or a code
 *     the status does not give (a 422 retried without a transient
 *     SQLSTATE, or not retried with one);
 *   - an empty answer (curl calls no body callback) read as anything but
 *     empty: the error of an empty non-2xx without "(no message)";
 *   - a statement handle taken that could not go into a URL as it is.
 *
 *   make fuzz     (tests/fuzz/run.sh; seeds from tests/fixtures/snowflake/
 *                  when there are any)
 */
#include "../../plugins/snowflake/sf_cell.c"
#include "../../plugins/snowflake/sf_sqlapi.c"
#include "../../plugins/snowflake/sf_sqlapi_stmt.c"
#include "../../plugins/snowflake/sf_sqlapi_result.c"
#include "../../plugins/common/rm_value.c"
#include "../../plugins/common/rm_cursor.c" /* the LIMIT 0 wrapper trims the query */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ANSWERS 16
#define CELL_MAX 128 /* longer inputs are not read as one cell */

/* ---- what the transport links to: no key, no rowmap ---------------------------------------- */

int sf_jwt_new(const char *key_file, const char *account, const char *user,
	       struct sf_jwt **out, char *err, size_t err_size)
{
	(void)key_file;
	(void)account;
	(void)user;
	*out = NULL;
	snprintf(err, err_size, "fuzz: no key");
	return -1;
}

void sf_jwt_free(struct sf_jwt *j)
{
	(void)j;
}

const char *sf_jwt_token(struct sf_jwt *j, int64_t now_s, char *err, size_t err_size)
{
	(void)j;
	(void)now_s;
	snprintf(err, err_size, "fuzz: no key");
	return NULL; /* sf_sqlapi_http() fails before any request */
}

const char *sf_jwt_fingerprint(const struct sf_jwt *j)
{
	(void)j;
	return "SHA256:fuzz";
}

int rowmap_bind(struct rowmap *m, const struct rm_column *cols, size_t n, char *err,
		size_t err_size)
{
	(void)m;
	(void)cols;
	(void)n;
	(void)err;
	(void)err_size;
	return 0;
}

int rowmap_cursor_column(const struct rowmap *m)
{
	(void)m;
	return -1;
}

static int64_t fuzz_now(void)
{
	return 1772000000000LL;
}

static const struct hub_host fuzz_host = {.now_ms = fuzz_now};

/* ---- invariants ------------------------------------------------------------------------------ */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A decimal as one canonical text: no leading zeros, the fraction to 9
 * digits (with_fraction), no sign on zero.  s is "[-]digits[.digits]". */
static void canonical(const char *s, size_t n, int with_fraction, char *out, size_t size)
{
	const char *end = s + n, *dot;
	int is_neg = s < end && *s == '-', is_zero = 1;
	size_t len = 0;
	char frac[10] = "000000000";

	s += is_neg;
	while (s + 1 < end && *s == '0' && is_digit(s[1]))
		s++;
	dot = memchr(s, '.', (size_t)(end - s));
	if (!dot)
		dot = end;
	for (const char *p = s; p < end; p++)
		if (is_digit(*p) && *p != '0')
			is_zero = 0;
	for (size_t i = 0; dot + 1 + i < end && i < 9; i++)
		frac[i] = dot[1 + i];
	len = (size_t)snprintf(out, size, "%s%.*s", is_neg && !is_zero ? "-" : "", (int)(dot - s),
			       s);
	if (with_fraction && len < size)
		snprintf(out + len, size - len, ".%s", frac);
}

static void check_epoch(const char *text, const struct rm_cell *c)
{
	char want[64], got[64];

	if (c->nsec < 0 || c->nsec >= 1000000000 || c->sec > EPOCH_MAX_S ||
	    c->sec < -EPOCH_MAX_S - 1)
		abort();
	canonical(text, strcspn(text, " "), 1, want, sizeof(want));
	if (c->sec < 0 && c->nsec)
		snprintf(got, sizeof(got), "-%lld.%09d", (long long)-(c->sec + 1),
			 (int)(1000000000 - c->nsec));
	else
		snprintf(got, sizeof(got), "%lld.%09d", (long long)c->sec, (int)c->nsec);
	if (strcmp(want, got) != 0)
		abort(); /* the instant is not the text's */
}

static void check_date(const char *text, const struct rm_cell *c)
{
	char want[64], got[64];

	if (c->nsec || c->sec % 86400 || c->sec / 86400 > DATE_MAX_DAYS ||
	    c->sec / 86400 < -DATE_MAX_DAYS)
		abort();
	canonical(text, strlen(text), 0, want, sizeof(want));
	snprintf(got, sizeof(got), "%lld", (long long)(c->sec / 86400));
	if (strcmp(want, got) != 0)
		abort();
}

static void check_real(const char *text, const struct rm_cell *c)
{
	double v;

	if (strcasecmp(text, "nan") == 0) {
		if (!isnan(c->f))
			abort();
		return;
	}
	v = strcasecmp(text, "inf") == 0 ? INFINITY
	    : strcasecmp(text, "-inf") == 0 ? -INFINITY
					     : strtod(text, NULL);
	if (!(v == c->f) || strpbrk(text, "xXpP \t\n"))
		abort();
}

/* An accepted FIXED or DECFLOAT starts with a decimal number ("-12.50"):
 * past it, or abort. */
static const char *check_decimal(const char *s)
{
	s += *s == '-';
	if (!is_digit(*s))
		abort();
	s += strspn(s, "0123456789");
	if (*s == '.') {
		if (!is_digit(s[1]))
			abort();
		s += 1 + strspn(s + 1, "0123456789");
	}
	return s;
}

/* FIXED's text, then maybe an exponent; a finite double */
static void check_decfloat(const char *s)
{
	const char *p = check_decimal(s);
	char *end;
	double v;

	if (*p == 'e' || *p == 'E') {
		p += 1 + (p[1] == '+' || p[1] == '-');
		if (!is_digit(*p))
			abort();
		p += strspn(p, "0123456789");
	}
	v = strtod(s, &end);
	if (*p || *end || !isfinite(v))
		abort();
}

/* The mapping turns every accepted cell into JSON (a VARIANT as it came). */
static void check_mapped(enum sf_kind k, enum rm_type rm, const struct rm_cell *c)
{
	static const enum rm_cast casts[] = {CAST_NONE, CAST_DATE, CAST_NUMBER, CAST_STRING,
					     CAST_BOOL};
	struct buf b = {0};
	json_t *j;

	for (size_t i = 0; i < sizeof(casts) / sizeof(casts[0]); i++) {
		rm_buf_reset(&b);
		if (rm_append_value(&b, rm, casts[i], c) || b.failed)
			continue;
		if (k == K_JSON && (casts[i] == CAST_NONE || casts[i] == CAST_NUMBER))
			continue; /* VARIANT's own text */
		j = json_loads(b.p, JSON_DECODE_ANY, NULL);
		if (!j)
			abort();
		json_decref(j);
	}
	free(b.p);
}

static void check_cell(enum sf_kind k, enum rm_type rm, const struct rm_cell *c)
{
	const char *s = c->text;

	if (c->is_null)
		return;
	if (!s)
		abort();
	switch (k) {
	case K_TIMESTAMP_NTZ:
	case K_TIMESTAMP_LTZ:
	case K_TIMESTAMP_TZ:
		check_epoch(s, c);
		break;
	case K_DATE:
		check_date(s, c);
		break;
	case K_FIXED:
		if (*check_decimal(s))
			abort();
		break;
	case K_REAL:
		check_real(s, c);
		break;
	case K_DECFLOAT:
		check_decfloat(s);
		break;
	case K_BOOLEAN:
		/* the words in any case, as Snowflake's connectors read them */
		if (c->b != (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0) ||
		    (!c->b && strcasecmp(s, "false") != 0 && strcmp(s, "0") != 0))
			abort();
		break;
	case K_TIME: /* "HH:MM:SS", then a fraction without trailing zeros */
		if (strlen(s) < 8 || !is_digit(s[0]) || !is_digit(s[1]) || s[2] != ':' ||
		    !is_digit(s[3]) || !is_digit(s[4]) || s[5] != ':' || !is_digit(s[6]) ||
		    !is_digit(s[7]) || (s[0] - '0') * 10 + (s[1] - '0') > 23 || s[3] > '5' ||
		    s[6] > '5')
			abort();
		if (s[8] && (s[8] != '.' || strlen(s) > 18 || strspn(s + 9, "0123456789") !=
				 strlen(s + 9) || !s[9] || s[strlen(s) - 1] == '0'))
			abort();
		break;
	default:
		break;
	}
	check_mapped(k, rm, c);
}

static void check_message(const char *err)
{
	if (!err[0])
		abort();
	for (const char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
}

/* ---- the conversation ------------------------------------------------------------------------ */

/* "HTTP 404\n{...}": the status, *body after the line; else 200. */
static long answer_status(char **body)
{
	char *p = *body, *end;
	long status;

	if (strncmp(p, "HTTP ", 5) != 0 || !is_digit(p[5]))
		return 200;
	status = strtol(p + 5, &end, 10);
	if (*end != '\n' || status < 100 || status > 599)
		return 200;
	*body = end + 1;
	return status;
}

/* As sf_sqlapi_http() leaves an answer: emptied, then what curl hands
 * on_body (nothing for an empty body). */
static void set_body(struct sf_api *a, const char *body)
{
	body_reset(&a->resp);
	if (*body)
		on_body((char *)body, 1, strlen(body), &a->resp);
}

/* A 422's class from the sqlState the body holds (a JSON object's). */
static hub_rc want_422(struct sf_api *a)
{
	json_t *root = json_loads(a->resp.p ? a->resp.p : "", 0, NULL);
	const char *s = json_string_value(json_object_get(root, "sqlState"));
	hub_rc want = HUB_ERR_DATA;

	if (s && (strncmp(s, "08", 2) == 0 || strcmp(s, "40001") == 0 || strcmp(s, "57014") == 0))
		want = HUB_RETRY;
	else if (s && strncmp(s, "42", 2) == 0)
		want = HUB_ERR_CONFIG;
	json_decref(root);
	return want;
}

static void check_status_error(struct sf_api *a, long status)
{
	int is_empty = a->resp.len == 0;
	char err[SF_MSG] = "";
	hub_rc rc = sf_sqlapi_status_error(a, status, err, sizeof(err)), want;
	size_t n = strlen(err);

	if (status == 429 || status == 408 || status >= 500)
		want = status == 501 ? HUB_ERR_INTERNAL : HUB_RETRY;
	else if (status == 401 || status == 403)
		want = HUB_ERR_AUTH;
	else if (status == 422)
		want = want_422(a);
	else
		want = status >= 400 ? HUB_ERR_CONFIG : HUB_ERR_INTERNAL;
	if (rc != want || strchr(err, '\n') || strchr(err, '\r') || !err[0])
		abort();
	if (is_empty && status != 401 && status != 403 &&
	    (n < 12 || strcmp(err + n - 12, "(no message)") != 0))
		abort();
}

static void check_row(struct sf_api *a, const struct rm_cell *row)
{
	if (row != a->cells)
		abort();
	for (size_t i = 0; i < a->n_cols; i++)
		check_cell(a->kinds[i], a->cols[i].type, &row[i]);
}

/* Reads the rows of partition 0 and of each partition answered. */
static void read_rows(struct sf_api *a, char **answers, size_t n_answers)
{
	json_t *data;
	const struct rm_cell *row;
	char err[SF_MSG];
	size_t next = 1;
	hub_rc rc;

	for (;;) {
		data = json_object_get(a->part, "data");
		if (a->row_no >= json_array_size(data) && a->part_no + 1 < a->n_parts &&
		    next < n_answers) {
			char *body = answers[next++];
			long status = answer_status(&body);

			set_body(a, body);
			err[0] = '\0';
			if (take_partition(a, a->part_no + 1, status, err, sizeof(err)) != HUB_OK) {
				if (!err[0])
					abort();
				return;
			}
			continue;
		}
		err[0] = '\0';
		rc = api_next(a, &row, err, sizeof(err));
		if (rc == HUB_OK)
			return;
		if (rc != HUB_MORE) {
			if (!err[0] || (rc != HUB_ERR_INTERNAL && rc != HUB_ERR_NOMEM))
				abort();
			return;
		}
		check_row(a, row);
	}
}

static void converse(struct sf_api *a, char **answers, size_t n_answers)
{
	char *body = answers[0], h[HANDLE_MAX + 1], err[SF_MSG] = "";
	long status = answer_status(&body);
	json_t *root;

	set_body(a, body);
	if (is_running_answer(a, status)) {
		if (take_accepted(a, status, h, sizeof(h), err, sizeof(err)) == HUB_OK) {
			if (!sf_sqlapi_handle_is_valid(h))
				abort();
		} else {
			check_message(err);
		}
		return;
	}
	if (status != 200) {
		check_status_error(a, status);
		return;
	}
	if (!(root = json_loads(a->resp.p, 0, NULL)))
		return;
	if (answer_code_check(root, err, sizeof(err)) != HUB_OK) { /* no rows read */
		check_message(err);
		json_decref(root);
		return;
	}
	if (take_result(a, root, NULL, err, sizeof(err)) == HUB_OK) {
		if (a->n_cols == 0 || a->n_parts == 0 ||
		    (a->n_parts > 1 && !sf_sqlapi_handle_is_valid(a->handle)))
			abort();
		read_rows(a, answers, n_answers);
	} else if (!err[0]) {
		abort();
	}
	sf_sqlapi_result_free(a);
}

/* ---- one cell, an error body, a header line ------------------------------------------------ */

static void read_cell(const uint8_t *data, size_t size)
{
	/* time last: it rewrites v */
	static const char *const types[] = {"text", "fixed", "real", "boolean", "date",
					    "timestamp_ntz", "timestamp_ltz", "timestamp_tz",
					    "variant", "decfloat", "time"};
	json_t *v = json_stringn((const char *)data, size); /* UTF-8, as json_loads() leaves it */
	struct rm_cell c;
	int64_t sec;
	int32_t nsec;

	if (!v)
		return;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		enum rm_type rm;
		enum sf_kind k = sf_kind_of(types[i], &rm);
		char err[SF_MSG] = "";
		hub_rc rc = sf_cell_convert(k, v, &c, "C", err, sizeof(err));

		if (rc == HUB_OK)
			check_cell(k, rm, &c);
		else if (rc != HUB_ERR_INTERNAL || strncmp(err, "column C: ", 10) != 0)
			abort();
		else
			check_message(err);
	}
	for (int has_offset = 0; has_offset <= 1; has_offset++)
		if (epoch_parse(json_string_value(v), has_offset, &sec, &nsec) == CELL_OK &&
		    (nsec < 0 || nsec >= 1000000000))
			abort();
	json_decref(v);
}

static void read_header(struct sf_api *a, const uint8_t *data, size_t size)
{
	char *line = malloc(size ? size : 1); /* as curl hands it: not NUL-terminated */

	if (!line)
		return;
	memcpy(line, data, size);
	if (on_header(line, 1, size, a) != size || strlen(a->retry_after) >= sizeof(a->retry_after))
		abort();
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *answers[MAX_ANSWERS], *p;
	struct sf_api *a = calloc(1, sizeof(*a));
	size_t n = 0;

	if (!text || !a || !(a->base = strdup("https://fuzz.invalid")))
		goto out;
	a->host = &fuzz_host;
	memcpy(text, data, size);
	text[size] = '\0';

	if (size <= CELL_MAX)
		read_cell(data, size);
	read_header(a, data, size);
	set_body(a, text);
	check_status_error(a, 400 + (long)(size % 200));

	for (p = text; n < MAX_ANSWERS; p++) {
		answers[n++] = p;
		if (!(p = strchr(p, '\f')))
			break;
		*p = '\0';
	}
	converse(a, answers, n);
out:
	sf_api_free(a);
	free(text);
	return 0;
}
