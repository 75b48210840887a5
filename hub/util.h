/*
 * util.h - small helpers every module uses: time in ms, RFC 3339 text,
 * constant-time secret comparison, a growable string buffer, error buffers.
 */
#ifndef HUB_UTIL_H
#define HUB_UTIL_H

#include "include/hub_plugin.h"

#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Flag for every json_dumps() of data: 15 significant digits print a
 * decimal as it was written (18.99, not 18.989999999999998). */
#define HUB_JSON_REAL JSON_REAL_PRECISION(15)

/* json_dumps and json_loads that give NULL when an allocation failed on
 * the way (hub_json_malloc notes it): jansson then goes on with bytes left
 * out (a key, a string's last byte) rather than failing.  For loads,
 * *is_oom (when not NULL) tells a failed allocation from bad text. */
struct json_t;
struct json_error_t;
char *json_dumps_whole(const struct json_t *v, size_t flags);
struct json_t *json_loads_whole(const char *text, size_t flags, struct json_error_t *jerr,
				int *is_oom);

/* Wall clock in ms since the epoch. */
int64_t time_now_ms(void);
/* Monotonic clock in ms (for durations and timeouts). */
int64_t time_mono_ms(void);
/* The same in microseconds (for durations shorter than a millisecond). */
int64_t time_mono_us(void);
/* *ts = ms from now on `clock` (the clock of the condition variable waited
 * on: CLOCK_REALTIME by default, CLOCK_MONOTONIC when so made), for
 * pthread_cond_timedwait. */
void time_deadline(struct timespec *ts, clockid_t clock, int64_t ms);
/* Initializes *cond so that its timed waits read CLOCK_MONOTONIC (a
 * deadline from time_deadline(ts, CLOCK_MONOTONIC, ms)): a wall clock set
 * back cannot stretch them.  0, or -1 with *cond not initialized. */
int time_cond_init(pthread_cond_t *cond);

/* The value of a hex digit, either case; -1 for any other byte. */
int hex_digit(char c);

/* "2026-11-30T09:00:00.000Z" (buf >= 25 bytes).  Returns buf. */
char *time_format_ms(int64_t ms, char *buf, size_t size);
/* Parses RFC 3339 / ISO 8601 date-times ("2026-11-30T09:00:00.123Z",
 * "+02:00" offsets, fractions of any length, "2026-11-30" alone).
 * Returns 0 and sets *ms, or -1. */
int time_parse_rfc3339(const char *s, int64_t *ms);

/* A duration as the configuration writes it (every HUB_CFG_DURATION key
 * and a schedule's "every"): one or more groups of digits and a unit, d, h,
 * m, s or ms, larger units first and each once ("1h30m", "2d", "90s",
 * "1s500ms"), or digits alone: seconds.  0 with *ms set; -1 when not
 * written so; -2 when written so but past INT64_MAX milliseconds. */
int duration_parse_ms(const char *s, int64_t *ms);

/* The longest wait a plugin's "retry after" is honoured for. */
#define RETRY_AFTER_MAX_MS (3600 * 1000LL)

/* The wait a plugin asked for by starting its error message with
 * "retry after <N>s" or "retry after <N>ms" (hub_plugin.h, ERRORS), in ms
 * and at most RETRY_AFTER_MAX_MS; 0 when it asked for none. */
int64_t retry_after_ms_parse(const char *message);

/* The wait before retry `attempt` (0-based): uniform in
 * [0, min(cap, base * 2^attempt)] drawn from `random` (full jitter).  One
 * policy for syncs (scheduler_plan.c) and exports (export_worker.c). */
int64_t backoff_jitter_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, uint64_t random);

/* 1 when the two secrets are equal; time depends only on the lengths. */
int secret_equal(const char *a, size_t a_len, const char *b, size_t b_len);

/* Copies src into dst[size], cut to size - 1 bytes and NUL-terminated
 * (size > 0): snprintf("%s") without the format machinery, for the hot
 * paths that copy IDs. */
void str_copy(char *dst, size_t size, const char *src);

/* The same for text that goes into JSON (json_string() refuses invalid
 * UTF-8): cut at a character boundary, each ill-formed subpart (RFC 3629:
 * overlong forms, surrogates, past U+10FFFF, stray bytes) written as '?'.
 * For a plugin's or a server's error text. */
void str_copy_utf8(char *dst, size_t size, const char *src);
/* 1 when s is well-formed UTF-8 (RFC 3629), 0 otherwise. */
int str_is_utf8(const char *s);

/* Writes a message into a caller-owned error buffer (may be NULL). */
void err_set(char *err, size_t err_size, const char *fmt, ...) HUB_PRINTF(3, 4);

/* A growable NUL-terminated string.  On allocation failure it sets
 * `failed` and drops further appends; check it once at the end. */
struct strbuf {
	char *data;
	size_t len;
	size_t cap;
	int failed;
};

void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
void strbuf_append(struct strbuf *sb, const char *s, size_t n);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) HUB_PRINTF(2, 3);
/* Hands the buffer to the caller (hub_free it); the strbuf is emptied. */
char *strbuf_take(struct strbuf *sb);

/* Reads a whole file of at most `max` bytes (SIZE_MAX: no limit); returns
 * a hub_malloc'd NUL-terminated buffer, or NULL with "path: why" in err
 * (strerror, "out of memory", or the limit passed). */
char *file_read_all(const char *path, size_t max, size_t *len, char *err, size_t err_size);

/* "s" after a count other than 1: "%zu source%s", n, plural_s(n). */
static inline const char *plural_s(size_t n)
{
	return n == 1 ? "" : "s";
}

#endif
