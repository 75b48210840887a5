/*
 * time_text.h - the one reader of date-time text that the hub's canonical
 * records and date attributes (hub/util.c, time_parse_rfc3339) and the
 * Segment plugin's fields (seg_time_parse) share, so that a time one
 * takes the other takes too, as the same instant.  Header-only, like
 * json_bigint.h: the hub and a plugin each compile it in.
 *
 *   YYYY-MM-DD                             midnight UTC (unless a time is needed)
 *   YYYY-MM-DD(T|t| )hh:mm[:ss[(.|,)d+]]Z  Z or z, +hh:mm, +hhmm or +hh (or -)
 *
 * The day within its month, hh <= 23, mm <= 59, ss <= 60 (a leap second
 * is the next second's first instant), an offset within 23:59; digits of
 * a fraction past the millisecond are cut.
 */
#ifndef PLUGINS_COMMON_TIME_TEXT_H
#define PLUGINS_COMMON_TIME_TEXT_H

#include <stdint.h>

static inline int time_text_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static inline int time_text_month_days(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant). */
static inline int64_t time_text_days(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;

	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* The zone at *p: minutes east of UTC; -1 when there is none or it is
 * malformed ("+05:" included). */
static inline int time_text_zone(const char **p, int *minutes)
{
	int sign, h, m = 0;

	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		*minutes = 0;
		return 0;
	}
	if (**p != '+' && **p != '-')
		return -1;
	sign = *(*p)++ == '-' ? -1 : 1;
	if (time_text_digits(p, 2, &h))
		return -1;
	if (**p == ':' || (**p >= '0' && **p <= '9')) {
		*p += **p == ':';
		if (time_text_digits(p, 2, &m))
			return -1;
	}
	if (h > 23 || m > 59)
		return -1;
	*minutes = sign * (h * 60 + m);
	return 0;
}

/* hh:mm[:ss[(.|,)digits]] at *p: its milliseconds into the day. */
static inline int time_text_clock(const char **p, int64_t *ms)
{
	int h, mi, se = 0, frac = 0, scale = 100;

	if (time_text_digits(p, 2, &h) || *(*p)++ != ':' || time_text_digits(p, 2, &mi))
		return -1;
	if (**p == ':') {
		(*p)++;
		if (time_text_digits(p, 2, &se))
			return -1;
		if (**p == '.' || **p == ',') {
			(*p)++;
			if (**p < '0' || **p > '9')
				return -1;
			for (; **p >= '0' && **p <= '9'; (*p)++, scale /= 10)
				frac += (**p - '0') * scale; /* past ms, scale is 0 */
		}
	}
	if (h > 23 || mi > 59 || se > 60)
		return -1;
	*ms = ((int64_t)h * 3600 + mi * 60 + se) * 1000 + frac;
	return 0;
}

/* 0 and *ms (from the epoch) when s is a date-time of the grammar above,
 * else -1 (*ms untouched).  is_time_needed: a date alone is refused (a
 * sentAt of midnight would move an event by hours). */
static inline int time_text_parse_ms(const char *s, int is_time_needed, int64_t *ms)
{
	const char *p = s;
	int y, mo, d, off = 0;
	int64_t clock_ms = 0;

	if (!s || time_text_digits(&p, 4, &y) || *p++ != '-' || time_text_digits(&p, 2, &mo) ||
	    *p++ != '-' || time_text_digits(&p, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > time_text_month_days(y, mo))
		return -1;
	if (*p || is_time_needed) {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return -1;
		p++;
		if (time_text_clock(&p, &clock_ms) || time_text_zone(&p, &off) || *p)
			return -1;
	}
	*ms = time_text_days(y, mo, d) * 86400000 + clock_ms - (int64_t)off * 60000;
	return 0;
}

#endif
