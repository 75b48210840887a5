/*
 * retry_after.h - the reader of a Retry-After header line (RFC 9110
 * 10.2.3), shared by the plugins that honour it: delta-seconds or an HTTP
 * date (IMF-fixdate, and the obsolete RFC 850 and asctime forms, through
 * curl_getdate).  Header-only, so that a fuzz target may include several
 * plugins into one translation unit.
 */
#ifndef PLUGINS_COMMON_RETRY_AFTER_H
#define PLUGINS_COMMON_RETRY_AFTER_H

#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RETRY_AFTER_NOT_IT (-2) /* another header */
#define RETRY_AFTER_UNREAD (-1) /* neither delta-seconds nor an HTTP date */

/* The seconds that a header line, as curl hands it (len bytes, not
 * NUL-terminated, CRLF at its end), asks to wait before trying again:
 * delta-seconds (past LONG_MAX: LONG_MAX), or an HTTP date less now (0
 * when it is past); RETRY_AFTER_UNREAD or RETRY_AFTER_NOT_IT otherwise.
 * The caller caps it, whichever form it came in. */
static inline long retry_after_line(const char *line, size_t len, time_t now)
{
	static const char name[] = "retry-after:";
	size_t name_len = sizeof(name) - 1;
	char value[128];
	const char *v;
	time_t at;

	if (len <= name_len || strncasecmp(line, name, name_len) != 0)
		return RETRY_AFTER_NOT_IT;
	if (len - name_len >= sizeof(value))
		len = name_len + sizeof(value) - 1; /* no date is that long: unread */
	memcpy(value, line + name_len, len - name_len);
	value[len - name_len] = '\0';
	value[strcspn(value, "\r\n")] = '\0';
	v = value + strspn(value, " \t"); /* OWS */
	if (*v >= '0' && *v <= '9')
		return strtol(v, NULL, 10);
	if (!*v || (at = curl_getdate(v, NULL)) == -1)
		return RETRY_AFTER_UNREAD;
	if (at <= now)
		return 0;
	return at - now > LONG_MAX ? LONG_MAX : (long)(at - now);
}

/* Keeps a Retry-After line's seconds, as digits, in out ("" when they
 * could not be read); another header leaves out as it was. */
static inline void retry_after_keep(const char *line, size_t len, char *out, size_t out_size)
{
	long s = retry_after_line(line, len, time(NULL));

	if (s == RETRY_AFTER_UNREAD)
		out[0] = '\0';
	else if (s != RETRY_AFTER_NOT_IT)
		snprintf(out, out_size, "%ld", s);
}

#endif
