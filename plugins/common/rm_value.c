/*
 * rm_value.c - the values of the row mapping: a small text buffer (the
 * record's JSON is written here, no JSON library on the hot path), times
 * and decimals parsed and compared as values, and a cell turned into the
 * JSON value of an attribute or a consent state by its column's type and
 * the attribute's cast (`date(x)`, `number(x)`, ...).  BYTES (base64 text)
 * read as strings everywhere, but compare by their bytes (rm_base64_cmp).
 */
#include "rowmap_int.h"
#include "json_bigint.h"
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- buffers --------------------------------------------------------------- */

void rm_buf_reset(struct buf *b)
{
	b->len = 0;
	b->failed = 0;
	if (b->p)
		b->p[0] = '\0';
}

void rm_buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void rm_buf_puts(struct buf *b, const char *s)
{
	rm_buf_add(b, s, strlen(s));
}

void rm_buf_json_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	rm_buf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7] = "\\u00";
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rm_buf_add(b, run, (size_t)(s - run));
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			rm_buf_add(b, esc, 2);
		} else {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			rm_buf_add(b, esc, 6);
		}
	}
	rm_buf_add(b, run, (size_t)(s - run));
	rm_buf_add(b, "\"", 1);
}

/* ---- times and numbers ------------------------------------------------------ */

int64_t rm_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

void rm_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dm[m - 1];
}

/* "Z", "+02:00", "+0200", "+02", " +02:00" or nothing (UTC) -> seconds. */
static int parse_offset(const char *p, int *off_sec)
{
	int sign, h = 0, mi = 0;

	*off_sec = 0;
	if (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return 0;
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (digits(&p, 2, &h))
		return -1;
	if (*p == ':')
		p++;
	if (*p && digits(&p, 2, &mi))
		return -1;
	if (*p || h > 23 || mi > 59)
		return -1;
	*off_sec = sign * (h * 3600 + mi * 60);
	return 0;
}

int rm_time_parse(const char *s, int64_t *sec, int32_t *nsec)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, se = 0, off;
	int32_t ns = 0;

	if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if (*p == 'T' || *p == 't' || (*p == ' ' && isdigit((unsigned char)p[1]))) {
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &se))
				return -1;
			if (*p == '.') {
				int32_t scale = 100000000;
				if (!isdigit((unsigned char)*++p))
					return -1;
				for (; isdigit((unsigned char)*p); p++, scale /= 10)
					ns += (*p - '0') * scale;
			}
		}
		if (h > 23 || mi > 59 || se > 60)
			return -1;
	}
	if (parse_offset(p, &off))
		return -1;
	*sec = rm_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
	*nsec = ns;
	return 0;
}

char *rm_time_format(int64_t sec, int32_t nsec, char *buf, size_t size)
{
	/* floor division, without sec - 86399 (which overflows near INT64_MIN) */
	int64_t days = sec / 86400, rem = sec % 86400, y;
	int m, d;

	if (rem < 0) {
		rem += 86400;
		days--;
	}

	rm_civil_from_days(days, &y, &m, &d);
	snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%09dZ", (long long)y, m, d,
		 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (int)nsec);
	return buf;
}

/* RFC 3339 with milliseconds: what the hub reads as a date attribute. */
char *rm_time_format_ms(int64_t sec, int32_t nsec, char *buf, size_t size)
{
	char full[48];

	rm_time_format(sec, nsec, full, sizeof(full));
	/* "....SS.mmmnnnnnnZ" -> "....SS.mmmZ" */
	snprintf(buf, size, "%.*sZ", (int)(strlen(full) - 7), full);
	return buf;
}

/* Splits a decimal into sign, integer digits (no leading zeros) and
 * fraction digits (no trailing zeros).  -1 when it is not a plain decimal. */
static int decimal_split(const char *s, int *neg, const char **ip, size_t *il, const char **fp,
			 size_t *fl)
{
	*neg = *s == '-';
	if (*s == '-' || *s == '+')
		s++;
	while (*s == '0' && isdigit((unsigned char)s[1]))
		s++;
	*ip = s;
	while (isdigit((unsigned char)*s))
		s++;
	*il = (size_t)(s - *ip);
	if (*il == 1 && **ip == '0')
		*il = 0;
	*fp = s;
	*fl = 0;
	if (*s == '.') {
		*fp = ++s;
		while (isdigit((unsigned char)*s))
			s++;
		*fl = (size_t)(s - *fp);
		while (*fl && (*fp)[*fl - 1] == '0')
			(*fl)--;
	}
	return *s ? -1 : 0;
}

static int magnitude_cmp(const char *ai, size_t al, const char *af, size_t afl, const char *bi,
			 size_t bl, const char *bf, size_t bfl)
{
	int c;

	if (al != bl)
		return al < bl ? -1 : 1;
	if ((c = memcmp(ai, bi, al)) != 0)
		return c < 0 ? -1 : 1;
	for (size_t i = 0; i < afl || i < bfl; i++) {
		char x = i < afl ? af[i] : '0', y = i < bfl ? bf[i] : '0';
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

int rm_decimal_cmp(const char *a, const char *b)
{
	const char *ai, *af, *bi, *bf;
	size_t al, afl, bl, bfl;
	int an, bn, az, bz, c;

	if (decimal_split(a, &an, &ai, &al, &af, &afl) ||
	    decimal_split(b, &bn, &bi, &bl, &bf, &bfl)) {
		double x = strtod(a, NULL), y = strtod(b, NULL);
		return x < y ? -1 : x > y;
	}
	az = al == 0 && afl == 0;
	bz = bl == 0 && bfl == 0;
	if (az)
		an = 0;
	if (bz)
		bn = 0;
	if (an != bn)
		return an ? -1 : 1;
	c = magnitude_cmp(ai, al, af, afl, bi, bl, bf, bfl);
	return an ? -c : c;
}

/* ---- base64 (BigQuery's BYTES) ------------------------------------------------------- */

/* Standard base64 with its padding ("", "QQ==", "AAEC/w=="). */
static int base64_is_valid(const char *s)
{
	size_t n = strlen(s), pad = 0;

	while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
		pad++;
	if (n % 4)
		return 0;
	for (size_t i = 0; i < n - pad; i++)
		if (text_base64_digit((unsigned char)s[i], 0) < 0)
			return 0;
	return 1;
}

/* Decodes a valid base64 text a byte at a time. */
struct base64_reader {
	const char *p;
	unsigned bits;
	int n_bits;
};

/* The next byte, or -1 at the end (the padding). */
static int base64_next(struct base64_reader *r)
{
	while (r->n_bits < 8) {
		if (!*r->p || *r->p == '=')
			return -1;
		r->bits = ((r->bits << 6) |
			   (unsigned)text_base64_digit((unsigned char)*r->p++, 0)) & 0x3fff;
		r->n_bits += 6;
	}
	r->n_bits -= 8;
	return (int)(r->bits >> r->n_bits) & 0xff;
}

int rm_base64_cmp(const char *a, const char *b)
{
	struct base64_reader x = {a, 0, 0}, y = {b, 0, 0};
	int va = base64_is_valid(a), vb = base64_is_valid(b), ca, cb;

	if (!va || !vb) { /* not from BigQuery: text, after the values */
		int r = va != vb ? (va ? -1 : 1) : strcmp(a, b);
		return r < 0 ? -1 : r > 0;
	}
	do {
		ca = base64_next(&x);
		cb = base64_next(&y);
		if (ca != cb)
			return ca < cb ? -1 : 1;
	} while (ca >= 0);
	return 0;
}

/* ---- epoch numbers ------------------------------------------------------------------- */

/* An exponent this large leaves no digit of a text within years 0..9999. */
#define EPOCH_EXP_MAX 1000000000000LL

/* A decimal's text as written: [sign] digits [. digits] [e [sign] digits]
 * (at least one digit before the exponent).  Its value is the mantissa's
 * digits, the '.' left out, times 10^(exp - n_frac): read a digit at a
 * time, never through a double, so "1700000000.123" keeps its .123. */
struct epoch_text {
	const char *m; /* the mantissa: n_int digits, then '.' and n_frac digits */
	size_t n_int, n_frac;
	int64_t exp;   /* saturated at +-EPOCH_EXP_MAX */
	int is_neg;
};

/* Reads s as an epoch_text; -1 when it is none (spaces, "nan", hex...). */
static int epoch_text_read(const char *s, struct epoch_text *e)
{
	int is_exp_neg;

	memset(e, 0, sizeof(*e));
	e->is_neg = *s == '-';
	if (*s == '-' || *s == '+')
		s++;
	e->m = s;
	e->n_int = strspn(s, "0123456789");
	s += e->n_int;
	if (*s == '.') {
		e->n_frac = strspn(s + 1, "0123456789");
		s += 1 + e->n_frac;
	}
	if (e->n_int + e->n_frac == 0)
		return -1;
	if (*s != 'e' && *s != 'E')
		return *s ? -1 : 0;
	is_exp_neg = *++s == '-';
	if (*s == '-' || *s == '+')
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++)
		if (e->exp < EPOCH_EXP_MAX)
			e->exp = e->exp * 10 + (*s - '0');
	if (e->exp > EPOCH_EXP_MAX)
		e->exp = EPOCH_EXP_MAX;
	if (is_exp_neg)
		e->exp = -e->exp;
	return *s ? -1 : 0;
}

/* The digit of the mantissa at decimal position q (0: its units, -1: its
 * tenths); 0 outside its digits. */
static int epoch_mantissa_digit(const struct epoch_text *e, int64_t q)
{
	if (q >= 0 && q < (int64_t)e->n_int)
		return e->m[e->n_int - 1 - (size_t)q] - '0';
	if (q < 0 && -q <= (int64_t)e->n_frac)
		return e->m[e->n_int + (size_t)-q] - '0'; /* past the '.' */
	return 0;
}

/* The digit of the value at decimal position pos. */
static int epoch_digit(const struct epoch_text *e, int64_t pos)
{
	return epoch_mantissa_digit(e, pos - e->exp);
}

/* The position of the value's highest non-zero digit; -1 when it is 0. */
static int epoch_top(const struct epoch_text *e, int64_t *top)
{
	for (int64_t q = (int64_t)e->n_int - 1; q >= -(int64_t)e->n_frac; q--) {
		if (epoch_mantissa_digit(e, q)) {
			*top = q + e->exp;
			return 0;
		}
	}
	return -1;
}

/* 1 when a digit of the value at or below position pos is not 0. */
static int epoch_has_digits_below(const struct epoch_text *e, int64_t pos)
{
	int64_t q_max = pos - e->exp;

	for (int64_t q = -(int64_t)e->n_frac; q < (int64_t)e->n_int && q <= q_max; q++)
		if (epoch_mantissa_digit(e, q))
			return 1;
	return 0;
}

/*
 * Epoch numbers: seconds, or ms / us / ns by magnitude (as Snowflake reads
 * them: below 1e11 seconds, below 1e14 ms, below 1e17 us, else ns), split
 * at the decimal digits into seconds and nanoseconds (floored: the digits
 * past the nanosecond are dropped, toward the past); -1 outside years
 * 0..9999.
 */
static int epoch_split(const struct epoch_text *e, int64_t *sec, int32_t *nsec)
{
	int64_t top, k, s = 0;
	int32_t ns = 0;
	int has_sub_ns;

	*sec = 0;
	*nsec = 0;
	if (epoch_top(e, &top))
		return 0; /* zero */
	k = top < 11 ? 0 : top < 14 ? 3 : top < 17 ? 6 : 9; /* the unit: 10^-k s */
	if (top - k > 11)
		return -1; /* 10^12 s and more: past year 9999 */
	for (int64_t j = 11; j >= 0; j--)
		s = s * 10 + epoch_digit(e, j + k);
	for (int64_t j = -1; j >= -9; j--)
		ns = ns * 10 + epoch_digit(e, j + k);
	has_sub_ns = epoch_has_digits_below(e, k - 10);
	if (e->is_neg && (s || ns || has_sub_ns)) {
		/* -(s seconds + ns + a part of a nanosecond), floored */
		s = -s - 1;
		ns = 1000000000 - ns - has_sub_ns;
		if (ns == 1000000000) {
			s++;
			ns = 0;
		}
	}
	if (s < RM_SEC_MIN || s > RM_SEC_MAX)
		return -1;
	*sec = s;
	*nsec = ns;
	return 0;
}

/* A double as epoch time: split at the digits of its shortest text that
 * reads back as it (FLOAT 1700000000.123 is "1700000000.123", not the
 * 1700000000.12299990654 it holds); -1 for NaN and infinities too. */
static int epoch_from_double(double v, int64_t *sec, int32_t *nsec)
{
	struct epoch_text e;
	char text[40];

	if (!isfinite(v))
		return -1;
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, v);
		if (strtod(text, NULL) == v)
			break;
	}
	if (epoch_text_read(text, &e))
		return -1;
	return epoch_split(&e, sec, nsec);
}

/* A NUMBER's text as epoch time: its decimal digits exactly, or, in forms
 * that are no plain decimal (" 5", "0x1p4"), what strtod() reads. */
static int epoch_from_text(const char *s, int64_t *sec, int32_t *nsec)
{
	struct epoch_text e;
	char *end;
	double v;

	if (epoch_text_read(s, &e) == 0)
		return epoch_split(&e, sec, nsec);
	v = strtod(s, &end);
	if (end == s || *end)
		return -1;
	return epoch_from_double(v, sec, nsec);
}

/* ---- cells as values ---------------------------------------------------------------- */

/* A cell as an instant within years 0..9999 (see rowmap_int.h); -1 when
 * it is none. */
int rm_cell_instant(enum rm_type type, const struct rm_cell *c, int64_t *sec, int32_t *nsec)
{
	if (c->is_null)
		return -1;
	if (type == RM_BYTES)
		type = RM_STRING; /* base64 text, as a string */
	switch (type) {
	case RM_TIMESTAMP:
		if (c->sec < RM_SEC_MIN || c->sec > RM_SEC_MAX)
			return -1;
		*sec = c->sec;
		*nsec = c->nsec;
		return 0;
	case RM_STRING:
		return rm_time_parse(c->text, sec, nsec);
	case RM_NUMBER:
		return epoch_from_text(c->text, sec, nsec);
	case RM_FLOAT:
		return epoch_from_double(c->f, sec, nsec);
	default:
		return -1;
	}
}

/* 1 when a 19-digit integer still fits 64 bits. */
static int fits_int64(const char *s, size_t n_int)
{
	char *end;

	if (n_int != 19)
		return 0;
	errno = 0;
	(void)strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* A JSON number as the hub reads it: integers that fit 64 bits stay exact
 * (BigQuery's INT64 up to 2^63 - 1), longer ones and odd forms (".5")
 * become a double; 1 when not a number. */
static int append_number(struct buf *b, const char *s)
{
	const char *p = s;
	size_t n_int;
	char num[48], *end;
	int is_plain;

	if (*p == '-')
		p++;
	n_int = strspn(p, "0123456789");
	is_plain = n_int > 0 && !(p[0] == '0' && n_int > 1);
	p += n_int;
	if (is_plain && *p == '.') {
		size_t n_frac = strspn(p + 1, "0123456789");
		is_plain = n_frac > 0;
		p += 1 + n_frac;
	}
	if (is_plain && *p == '\0' && (strchr(s, '.') || n_int <= 18 || fits_int64(s, n_int))) {
		rm_buf_puts(b, s);
		return 0;
	}
	double v = strtod(s, &end);
	if (end == s || *end || !isfinite(v))
		return 1;
	snprintf(num, sizeof(num), "%.17g", v);
	rm_buf_puts(b, num);
	return 0;
}

static int bool_word(const char *s, int *out)
{
	static const char *const yes[] = {"true", "t", "yes", "y", "1", "on"};
	static const char *const no[] = {"false", "f", "no", "n", "0", "off"};

	for (size_t i = 0; i < 6; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

/* 1 when text is one JSON value (a string column holding JSON); an
 * integer past 64 bits in it is one, as the hub reads it as a double. */
static int json_text_is_valid(const char *text)
{
	return json_text_is_json(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES);
}

static void append_date(struct buf *b, int64_t sec, int32_t nsec)
{
	char t[48];
	rm_buf_json_string(b, rm_time_format_ms(sec, nsec, t, sizeof(t)));
}

/* The cell as the JSON value of an attribute or property.  1: nothing
 * written (the cast does not apply: the attribute is left out). */
int rm_append_value(struct buf *b, enum rm_type type, enum rm_cast cast,
			const struct rm_cell *c)
{
	int64_t sec;
	int32_t nsec;
	int flag;
	char num[48];

	if (c->is_null) {
		rm_buf_puts(b, "null");
		return 0;
	}
	if (type == RM_BYTES)
		type = RM_STRING; /* base64 text, as a string */
	switch (cast) {
	case CAST_DATE:
		if (rm_cell_instant(type, c, &sec, &nsec))
			return 1;
		append_date(b, sec, nsec);
		return 0;
	case CAST_NUMBER:
		if (type == RM_BOOL)
			rm_buf_puts(b, c->b ? "1" : "0");
		else if (type == RM_FLOAT)
			return rm_append_value(b, type, CAST_NONE, c);
		else if (type == RM_NUMBER || type == RM_STRING)
			return append_number(b, c->text);
		else
			return 1;
		return 0;
	case CAST_BOOL:
		if (type == RM_BOOL)
			flag = c->b;
		else if (type == RM_NUMBER || type == RM_FLOAT)
			flag = type == RM_FLOAT ? c->f != 0 : rm_decimal_cmp(c->text, "0") != 0;
		else if (type != RM_STRING || bool_word(c->text, &flag))
			return 1;
		rm_buf_puts(b, flag ? "true" : "false");
		return 0;
	case CAST_STRING:
		if (type == RM_STRING || type == RM_NUMBER || type == RM_JSON) {
			rm_buf_json_string(b, c->text);
			return 0;
		}
		if (type == RM_TIMESTAMP)
			append_date(b, c->sec, c->nsec);
		else if (type == RM_BOOL)
			rm_buf_puts(b, c->b ? "\"true\"" : "\"false\"");
		else {
			snprintf(num, sizeof(num), "\"%.17g\"", c->f);
			rm_buf_puts(b, num);
		}
		return 0;
	case CAST_JSON:
		if (type != RM_STRING && type != RM_JSON)
			return rm_append_value(b, type, CAST_NONE, c);
		if (!json_text_is_valid(c->text))
			return 1;
		rm_buf_puts(b, c->text);
		return 0;
	case CAST_NONE:
		break;
	}
	switch (type) {
	case RM_NUMBER:
		return append_number(b, c->text) ? (rm_buf_json_string(b, c->text), 0) : 0;
	case RM_FLOAT:
		if (!isfinite(c->f))
			return 1;
		snprintf(num, sizeof(num), "%.17g", c->f);
		rm_buf_puts(b, num);
		return 0;
	case RM_BOOL:
		rm_buf_puts(b, c->b ? "true" : "false");
		return 0;
	case RM_TIMESTAMP:
		append_date(b, c->sec, c->nsec);
		return 0;
	case RM_JSON:
		/* VARIANT: JSON text, but not always JSON ("undefined" of a
		 * JavaScript UDF, NaN): left out, as json() leaves it, rather
		 * than make the record's attributes no JSON (refused whole) */
		if (!json_text_is_valid(c->text))
			return 1;
		rm_buf_puts(b, c->text);
		return 0;
	default:
		rm_buf_json_string(b, c->text);
		return 0;
	}
}

/* Consent: booleans and yes/no words -> subscribed / unsubscribed. */
void rm_append_consent(struct buf *b, enum rm_type type, const struct rm_cell *c)
{
	int flag = -1;

	if (c->is_null) {
		rm_buf_puts(b, "null");
		return;
	}
	if (type == RM_BYTES)
		type = RM_STRING;
	if (type == RM_BOOL)
		flag = c->b;
	else if (type == RM_NUMBER)
		flag = rm_decimal_cmp(c->text, "0") != 0;
	else if (type == RM_FLOAT)
		flag = c->f != 0;
	else if (type == RM_STRING && bool_word(c->text, &flag) != 0) {
		if (strcasecmp(c->text, "subscribed") == 0 || strcasecmp(c->text, "opt_in") == 0 ||
		    strcasecmp(c->text, "opted_in") == 0)
			flag = 1;
		else if (strcasecmp(c->text, "unsubscribed") == 0 ||
			 strcasecmp(c->text, "opt_out") == 0 ||
			 strcasecmp(c->text, "opted_out") == 0)
			flag = 0;
	}
	if (flag < 0) {
		rm_buf_json_string(b, type == RM_STRING || type == RM_JSON ? c->text : "?");
		return; /* the hub says what is wrong with it */
	}
	rm_buf_puts(b, flag ? "\"subscribed\"" : "\"unsubscribed\"");
}
