/*
 * fuzz_time.c - libFuzzer target for the RFC 3339 readers, against one
 * reference model written here:
 *
 *   - the hub's time_parse_rfc3339 (hub/util.c: canonical records, dates
 *     in attribute values);
 *   - the segment plugin's seg_time_parse (timestamp, sentAt...): since
 *     session 42 the same reader (plugins/common/time_text.h), a date
 *     alone refused;
 *   - the shared warehouse mapping's rm_time_parse (plugins/common/
 *     rm_value.c: TIMESTAMP cells as text, cursors read back);
 *   - the example plugin's parse_time_ms (plugins/example/example.c: the
 *     template every new plugin starts from).
 *
 * The model reads the union of what they document: YYYY-MM-DD, then
 * optionally [Tt ]hh:mm[:ss[(.|,)digits]], then optionally a space and Z,
 * z, +hh, +hhmm or +hh:mm (a colon with nothing after it too, as two of
 * them take it); the date a real one (the day within its month), hh <= 23,
 * mm <= 59, ss <= 60 (a leap second), an offset within 23:59.
 *
 * Findings, besides crashes and sanitizer reports:
 *   - a reader accepting a text the model refuses (a sign or a space
 *     inside a number, a 31st of February, an hour of -1...);
 *   - a reader giving another instant than the model's: seconds, and the
 *     fraction cut to its precision (ms; ns for rm_time_parse);
 *   - the hub's time_format_ms / rm_time_format text of that instant not
 *     read back to it by its own reader.
 *
 *   make fuzz     (tests/fuzz/run.sh; seeds from tests/fixtures/time/)
 */
#include "../../plugins/common/rm_value.c"

/* static names of rm_value.c that segment's and example's sources use too */
#define digits seg_digits
#define days_in_month seg_days_in_month
#include "../../plugins/segment/segment.c"
#include "../../plugins/segment/segment_auth.c"
#include "../../plugins/segment/segment_event.c"
#include "../../plugins/segment/segment_map.c"
#include "../../plugins/segment/segment_msgid.c"
#include "../../plugins/segment/segment_request.c"
#undef digits
#undef days_in_month

#define hub_plugin_entry example_hub_plugin_entry
#define get_string example_get_string
#include "../../plugins/example/example.c"
#undef hub_plugin_entry
#undef get_string

#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the model -------------------------------------------------------------------------- */

struct instant {
	int64_t sec;
	int32_t nsec; /* the fraction cut to ns */
	int has_time, has_seconds, has_zone;
};

static int model_digits(const char **p, int n, int *out)
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

static int model_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01, counted the slow way (years 0..9999). */
static int64_t model_days(int y, int m, int d)
{
	static const int before[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
	int64_t days = 0;

	for (int k = y; k < 1970; k++)
		days -= 365 + model_leap(k);
	for (int k = 1970; k < y; k++)
		days += 365 + model_leap(k);
	return days + before[m - 1] + (m > 2 && model_leap(y)) + d - 1;
}

/* 0 and *t when s is a time of the union grammar, else -1. */
static int model_parse(const char *s, struct instant *t)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, se = 0, oh = 0, om = 0, sign = 1;

	memset(t, 0, sizeof(*t));
	if (model_digits(&p, 4, &y) || *p++ != '-' || model_digits(&p, 2, &mo) || *p++ != '-' ||
	    model_digits(&p, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > dm[mo - 1] + (mo == 2 && model_leap(y)))
		return -1;
	if ((*p == 'T' || *p == 't' || *p == ' ') && p[1] >= '0' && p[1] <= '9') {
		p++;
		t->has_time = 1;
		if (model_digits(&p, 2, &h) || *p++ != ':' || model_digits(&p, 2, &mi))
			return -1;
		if (*p == ':') {
			p++;
			t->has_seconds = 1;
			if (model_digits(&p, 2, &se))
				return -1;
			if ((*p == '.' || *p == ',') && p[1] >= '0' && p[1] <= '9') {
				int32_t scale = 100000000;
				for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
					t->nsec += (*p - '0') * scale;
			}
		}
		if (h > 23 || mi > 59 || se > 60)
			return -1;
	}
	if (*p == ' ')
		p++;
	if (*p == 'Z' || *p == 'z') {
		p++;
		t->has_zone = 1;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		t->has_zone = 1;
		if (model_digits(&p, 2, &oh))
			return -1;
		if (*p == ':')
			p++;
		if (*p && model_digits(&p, 2, &om))
			return -1;
		if (oh > 23 || om > 59)
			return -1;
	}
	if (*p)
		return -1;
	t->sec = model_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
		 sign * (oh * 3600 + om * 60);
	return 0;
}

static int64_t model_ms(const struct instant *t)
{
	return t->sec * 1000 + t->nsec / 1000000;
}

/* ---- the readers ------------------------------------------------------------------------ */

/* A reader that accepted s: the model must too, to the same instant. */
static void check_ms(const char *s, int64_t ms, int is_model_ok, const struct instant *t)
{
	if (!is_model_ok || ms != model_ms(t)) {
		fprintf(stderr, "fuzz_time: \"%s\" read as %lld ms, model %s %lld\n", s,
			(long long)ms, is_model_ok ? "says" : "refuses it;",
			is_model_ok ? (long long)model_ms(t) : 0LL);
		abort();
	}
}

/* The hub writes ms as it reads them back (years 0..9999). */
static void check_hub_round_trip(int64_t ms)
{
	char buf[64];
	int64_t back;

	time_format_ms(ms, buf, sizeof(buf));
	if (time_parse_rfc3339(buf, &back) != 0 || back != ms) {
		fprintf(stderr, "fuzz_time: %lld ms written \"%s\", not read back\n",
			(long long)ms, buf);
		abort();
	}
}

static void check_rm_round_trip(int64_t sec, int32_t nsec)
{
	char buf[64];
	int64_t s2;
	int32_t ns2;

	rm_time_format(sec, nsec, buf, sizeof(buf));
	if (rm_time_parse(buf, &s2, &ns2) != 0 || s2 != sec || ns2 != nsec) {
		fprintf(stderr, "fuzz_time: %lld.%09d written \"%s\", not read back\n",
			(long long)sec, (int)nsec, buf);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct instant t;
	char *s;
	int64_t ms, sec;
	int32_t nsec;
	int is_ok;

	if (size > 64 || !(s = malloc(size + 1)))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	is_ok = model_parse(s, &t) == 0;

	if (time_parse_rfc3339(s, &ms) == 0) {
		check_ms(s, ms, is_ok, &t);
		/* years 0000..9999 only, as below: "0000-01-01T01:04:06+03:30"
		 * is in year -1, which records refuse (record.c) */
		if (ms >= RM_SEC_MIN * 1000 && ms <= RM_SEC_MAX * 1000 + 999)
			check_hub_round_trip(ms);
	}
	if (seg_time_parse(s, &ms) == 0)
		check_ms(s, ms, is_ok, &t);
	if (parse_time_ms(s, &ms) == 0)
		check_ms(s, ms, is_ok, &t);
	if (rm_time_parse(s, &sec, &nsec) == 0) {
		if (!is_ok || sec != t.sec || nsec != t.nsec) {
			fprintf(stderr, "fuzz_time: \"%s\" read as %lld.%09d, model %s\n", s,
				(long long)sec, (int)nsec, is_ok ? "differs" : "refuses it");
			abort();
		}
		/* only years 0000..9999 have a text that reads back (rowmap.h):
		 * "0000-01-01+02" is in year -1, and rowpull refuses such a
		 * cursor before its checkpoint */
		if (sec >= RM_SEC_MIN && sec <= RM_SEC_MAX)
			check_rm_round_trip(sec, nsec);
	}
	free(s);
	return 0;
}
