/*
 * util.c - time, RFC 3339, constant-time comparison, strbuf, file reading.
 */
#include "util.h"

#include "alloc.h"
#include "../plugins/common/time_text.h"

#include <ctype.h>
#include <jansson.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void time_deadline(struct timespec *ts, clockid_t clock, int64_t ms)
{
	clock_gettime(clock, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int time_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	int rc = -1;

	if (pthread_condattr_init(&ca))
		return -1;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(cond, &ca) == 0)
		rc = 0;
	pthread_condattr_destroy(&ca);
	return rc;
}

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int64_t time_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
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

char *time_format_ms(int64_t ms, char *buf, size_t size)
{
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int64_t frac = ms - secs * 1000;
	int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	int64_t rem = secs - days * 86400;
	int64_t y;
	int m, d;

	civil_from_days(days, &y, &m, &d);
	snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
		 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
	return buf;
}

/* One reader with the Segment plugin's (plugins/common/time_text.h); a
 * date alone is midnight UTC (a date attribute, a record's day). */
int time_parse_rfc3339(const char *s, int64_t *ms)
{
	return time_text_parse_ms(s, 0, ms);
}

/* One group's unit at s ("ms" before "m"): its milliseconds and length,
 * or 0. */
static int64_t duration_unit(const char *s, size_t *len)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"ms", 1}, {"m", 60000}, {"s", 1000}};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		*len = strlen(units[i].name);
		if (strncmp(s, units[i].name, *len) == 0)
			return units[i].ms;
	}
	return 0;
}

int duration_parse_ms(const char *s, int64_t *out)
{
	int64_t total = 0, last_unit = INT64_MAX;
	int is_over = 0;

	do {
		int64_t v = 0, unit;
		size_t len = 0;

		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (v > (INT64_MAX - 9) / 10)
				is_over = 1;
			else
				v = v * 10 + (*s - '0');
		}
		if (!*s && last_unit == INT64_MAX)
			unit = 1000; /* digits alone: seconds */
		else if (!(unit = duration_unit(s, &len)) || unit >= last_unit)
			return -1; /* no unit, or "30m1h", "1m1m" */
		if (is_over || v > INT64_MAX / unit || v * unit > INT64_MAX - total)
			is_over = 1;
		else
			total += v * unit;
		last_unit = unit;
		s += len;
	} while (*s);
	if (is_over)
		return -2;
	*out = total;
	return 0;
}

int64_t retry_after_ms_parse(const char *message)
{
	static const char prefix[] = "retry after ";
	const char *p;
	int64_t v = 0;

	if (!message || strncmp(message, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	p = message + sizeof(prefix) - 1;
	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++)
		if (v < RETRY_AFTER_MAX_MS)
			v = v * 10 + (*p - '0');
	if (strncmp(p, "ms", 2) == 0)
		return v < RETRY_AFTER_MAX_MS ? v : RETRY_AFTER_MAX_MS;
	if (*p == 's')
		return v < RETRY_AFTER_MAX_MS / 1000 ? v * 1000 : RETRY_AFTER_MAX_MS;
	return 0;
}

int secret_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
	/* Compare over b's length (the configured secret) so the time never
	 * depends on where the first difference is. */
	unsigned char diff = (unsigned char)(a_len != b_len);
	for (size_t i = 0; i < b_len; i++) {
		unsigned char ca = i < a_len ? (unsigned char)a[i] : 0;
		diff |= (unsigned char)(ca ^ (unsigned char)b[i]);
	}
	return diff == 0;
}

void str_copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The bytes at s that form one UTF-8 character (RFC 3629: no overlong
 * form, surrogate or code point past U+10FFFF): its length, *ok 1; else the
 * length of the maximal ill-formed subpart there (Unicode 3.9), *ok 0. */
static size_t utf8_span(const char *s, int *ok)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
	size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : 2;

	*ok = p[0] < 0x80;
	if (p[0] < 0xC2 || p[0] > 0xF4) /* ASCII; a continuation, C0, C1, F5..FF */
		return 1;
	if (p[0] == 0xE0 || p[0] == 0xF0)
		lo = p[0] == 0xE0 ? 0xA0 : 0x90;
	if (p[0] == 0xED || p[0] == 0xF4)
		hi = p[0] == 0xED ? 0x9F : 0x8F;
	for (size_t i = 1; i < n; i++) {
		if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xBF))
			return i; /* the NUL too: never read past it */
	}
	*ok = 1;
	return n;
}

int str_is_utf8(const char *s)
{
	while (*s) {
		int ok;
		size_t n = utf8_span(s, &ok);
		if (!ok)
			return 0;
		s += n;
	}
	return 1;
}

void str_copy_utf8(char *dst, size_t size, const char *src)
{
	size_t o = 0;

	while (*src) {
		int ok;
		size_t n = utf8_span(src, &ok), out = ok ? n : 1;

		if (o + out >= size)
			break;
		if (ok)
			memcpy(dst + o, src, n);
		else
			dst[o] = '?';
		o += out;
		src += n;
	}
	dst[o] = '\0';
}

void err_set(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;
	if (!err || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

void strbuf_init(struct strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void strbuf_free(struct strbuf *sb)
{
	hub_free(sb->data);
	strbuf_init(sb);
}

static int strbuf_grow(struct strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;
	if (sb->failed)
		return -1;
	if (need <= sb->cap)
		return 0;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap *= 2;
	char *p = hub_realloc(sb->data, cap);
	if (!p) {
		sb->failed = 1;
		return -1;
	}
	sb->data = p;
	sb->cap = cap;
	return 0;
}

void strbuf_append(struct strbuf *sb, const char *s, size_t n)
{
	if (strbuf_grow(sb, n))
		return;
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_append(sb, s, strlen(s));
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || strbuf_grow(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

char *strbuf_take(struct strbuf *sb)
{
	char *p = sb->data;
	if (!p && !sb->failed)
		p = hub_strdup("");
	strbuf_init(sb);
	return p;
}

char *file_read_all(const char *path, size_t max, size_t *len, char *err, size_t err_size)
{
	FILE *f = fopen(path, "rb");
	struct strbuf sb;
	char chunk[65536];
	size_t n;

	if (!f) {
		err_set(err, err_size, "%s: %s", path, strerror(errno));
		return NULL;
	}
	strbuf_init(&sb);
	errno = 0;
	/* stops at the first failure: /dev/zero or a directory never ends */
	while (!sb.failed && sb.len <= max && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		strbuf_append(&sb, chunk, n);
	if (ferror(f) || sb.failed || sb.len > max) {
		if (sb.failed)
			err_set(err, err_size, "%s: out of memory", path);
		else if (sb.len > max)
			err_set(err, err_size, "%s: larger than %zu bytes, the most it may be",
				path, max);
		else
			err_set(err, err_size, "%s: %s", path, strerror(errno ? errno : EIO));
		fclose(f);
		strbuf_free(&sb);
		return NULL;
	}
	fclose(f);
	if (len)
		*len = sb.len;
	return strbuf_take(&sb);
}

int64_t backoff_jitter_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, uint64_t random)
{
	int64_t ceiling = base_ms > 0 ? base_ms : 0;

	for (unsigned i = 0; i < attempt && ceiling < cap_ms; i++)
		ceiling *= 2;
	if (ceiling > cap_ms)
		ceiling = cap_ms;
	if (ceiling <= 0)
		return 0;
	return (int64_t)(random % (uint64_t)(ceiling + 1));
}

/* ---- jansson, whole or nothing ---------------------------------------- */

char *json_dumps_whole(const json_t *v, size_t flags)
{
	char *text;

	alloc_failed_clear();
	text = json_dumps(v, flags);
	if (text && alloc_failed_seen()) {
		free(text); /* jansson's: its allocator's free */
		return NULL;
	}
	return text;
}

json_t *json_loads_whole(const char *text, size_t flags, json_error_t *jerr, int *is_oom)
{
	json_t *v;

	alloc_failed_clear();
	v = json_loads(text, flags, jerr);
	if (!alloc_failed_seen()) {
		if (is_oom)
			*is_oom = 0;
		return v;
	}
	if (is_oom)
		*is_oom = 1;
	json_decref(v);
	return NULL;
}
