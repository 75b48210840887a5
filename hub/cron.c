/*
 * cron.c - parsing schedules and finding their next firing time (UTC).
 *
 * A cron expression becomes five bit sets; the next time is found by
 * walking forward a day (or a whole month) at a time and, on a day that
 * matches, picking the first allowed hour and minute.  The Gregorian
 * calendar repeats every 400 years (146097 days, a whole number of
 * weeks), so a schedule that does not fire within 400 years never fires;
 * cron_parse() refuses those.  Civil dates are computed here (Howard
 * Hinnant's algorithms) rather than with timegm(), so results do not
 * depend on the process's time zone or libc.
 */
#include "cron.h"

#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MINUTE_MS 60000LL
#define DAY_MS 86400000LL
#define SEARCH_DAYS (146097LL + 31) /* 400 years and a month */
#define INTERVAL_MAX_MS (366LL * DAY_MS)

struct field {
	const char *name;
	int min, max;
	const char *const *names; /* 3-letter names of min.., or NULL */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
					  "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field fields[5] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day of month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	{"day of week", 0, 7, day_names},
};

/* ---- civil time ------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
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

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday_of(int64_t days)
{
	int64_t w = (days + 4) % 7;
	return (int)(w < 0 ? w + 7 : w);
}

/* ---- parsing ----------------------------------------------------------- */

/* A number or a name of the field; advances *p.  -1 when neither. */
static int parse_value(const char **p, const struct field *f)
{
	const char *s = *p;
	int v = 0, n = 0;

	if (isdigit((unsigned char)*s)) {
		while (isdigit((unsigned char)s[n]) && v < 1000)
			v = v * 10 + (s[n++] - '0');
		*p = s + n;
		return v;
	}
	for (int i = 0; f->names && f->names[i]; i++) {
		if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
			*p = s + 3;
			return f->min + i;
		}
	}
	return -1;
}

static int check_range(int v, const struct field *f, int index, char *err, size_t err_size)
{
	if (v >= f->min && v <= f->max)
		return 0;
	err_set(err, err_size, "field %d (%s): %d is out of range %d-%d", index + 1, f->name, v,
		f->min, f->max);
	return -1;
}

/* One list item: * ? a a-b with an optional /step. */
static int parse_item(const char *s, const char *end, const struct field *f, int index,
		      uint64_t *bits, char *err, size_t err_size)
{
	int lo = f->min, hi = f->max, step = 1;

	if (*s == '*' || *s == '?') {
		if (*s == '?' && index != 2 && index != 4)
			goto bad;
		s++;
	} else {
		if ((lo = parse_value(&s, f)) < 0) {
			err_set(err, err_size, "field %d (%s): expected a number%s", index + 1,
				f->name, f->names ? " or a name" : "");
			return -1;
		}
		if (check_range(lo, f, index, err, err_size))
			return -1;
		hi = lo;
		if (*s == '-') {
			s++;
			if ((hi = parse_value(&s, f)) < 0)
				goto bad;
			if (check_range(hi, f, index, err, err_size))
				return -1;
			if (hi < lo) {
				err_set(err, err_size, "field %d (%s): range %d-%d goes backwards",
					index + 1, f->name, lo, hi);
				return -1;
			}
		} else if (*s == '/') {
			hi = f->max; /* "a/n": from a to the end */
		}
	}
	if (*s == '/') {
		s++;
		if (!isdigit((unsigned char)*s))
			goto bad;
		step = parse_value(&s, f);
		if (step < 1 || step > f->max) {
			err_set(err, err_size, "field %d (%s): step %d is out of range 1-%d",
				index + 1, f->name, step, f->max);
			return -1;
		}
	}
	if (s != end)
		goto bad;
	for (int v = lo; v <= hi; v += step)
		*bits |= 1ULL << (index == 4 && v == 7 ? 0 : v);
	return 0;
bad:
	err_set(err, err_size, "field %d (%s): cannot read it (numbers, a-b, */n, lists a,b)",
		index + 1, f->name);
	return -1;
}

static int parse_field(const char *s, size_t len, int index, uint64_t *bits, int *is_any,
		       char *err, size_t err_size)
{
	const struct field *f = &fields[index];
	const char *end = s + len, *item = s;

	*bits = 0;
	*is_any = len > 0 && (*s == '*' || *s == '?');
	while (item <= end) {
		const char *comma = memchr(item, ',', (size_t)(end - item));
		const char *item_end = comma ? comma : end;

		if (item_end == item) {
			err_set(err, err_size, "field %d (%s): empty list item", index + 1,
				f->name);
			return -1;
		}
		if (parse_item(item, item_end, f, index, bits, err, err_size))
			return -1;
		item = item_end + 1;
	}
	return 0;
}

static int parse_interval(const char *s, struct cron *out, char *err, size_t err_size)
{
	char text[64];
	size_t n;
	int64_t ms;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0 || n >= sizeof(text) || memchr(s, ' ', n) || memchr(s, '\t', n))
		goto bad;
	memcpy(text, s, n);
	text[n] = '\0';
	/* the config's durations (util.c), but with a unit: digits alone
	 * are seconds there, and "every 15" reads as minutes to many */
	if (strspn(text, "0123456789") == n || duration_parse_ms(text, &ms) ||
	    ms < 1000 || ms > INTERVAL_MAX_MS)
		goto bad;
	out->is_interval = 1;
	out->interval_ms = ms;
	return 0;
bad:
	err_set(err, err_size, "\"every\" needs a duration from 1s to 366d such as 30s, 15m, "
		"1h30m or 2d");
	return -1;
}

static const struct {
	const char *name;
	const char *expr;
} macros[] = {
	{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

static int parse_fields(const char *s, struct cron *out, char *err, size_t err_size)
{
	uint64_t bits[5];
	int any[5], n = 0;

	while (*s) {
		const char *start;

		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		start = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		if (n == 5) {
			n++;
			break;
		}
		if (parse_field(start, (size_t)(s - start), n, &bits[n], &any[n], err, err_size))
			return -1;
		n++;
	}
	if (n != 5) {
		err_set(err, err_size, "expected \"every <duration>\" or 5 cron fields "
			"(minute hour day-of-month month day-of-week), found %s%d",
			n > 5 ? "more than " : "", n > 5 ? 5 : n);
		return -1;
	}
	out->minutes = bits[0];
	out->hours = (uint32_t)bits[1];
	out->days = (uint32_t)bits[2];
	out->months = (uint16_t)bits[3];
	out->weekdays = (uint8_t)bits[4];
	out->is_days_any = any[2];
	out->is_weekdays_any = any[4];
	return 0;
}

int cron_parse(const char *text, struct cron *out, char *err, size_t err_size)
{
	memset(out, 0, sizeof(*out));
	if (!text) {
		err_set(err, err_size, "no schedule");
		return -1;
	}
	while (isspace((unsigned char)*text))
		text++;
	if (strncmp(text, "CRON_TZ=", 8) == 0 || strncmp(text, "TZ=", 3) == 0) {
		err_set(err, err_size,
			"a time zone (%.*s) is not read: cron schedules are UTC, so give the "
			"hours in UTC (and mind that a zone's offset changes with DST)",
			(int)strcspn(text, " \t"), text);
		return -1;
	}
	if (strncmp(text, "every", 5) == 0 && (text[5] == ' ' || text[5] == '\t'))
		return parse_interval(text + 5, out, err, err_size);
	if (*text == '@') {
		for (size_t i = 0; i < ARRAY_SIZE(macros); i++)
			if (strcmp(text, macros[i].name) == 0)
				return parse_fields(macros[i].expr, out, err, err_size);
		err_set(err, err_size,
			"unknown macro (@hourly, @daily, @weekly, @monthly, @yearly)");
		return -1;
	}
	if (parse_fields(text, out, err, err_size))
		return -1;
	/* 2000-01-01: any start works, the calendar repeats every 400 years */
	if (cron_next_ms(out, 946684800000LL) < 0) {
		err_set(err, err_size, "this schedule never fires (no such day in those months)");
		return -1;
	}
	return 0;
}

/* ---- next time --------------------------------------------------------- */

static int day_matches(const struct cron *c, int64_t days, int mday)
{
	int dom = (c->days >> mday) & 1;
	int dow = (c->weekdays >> weekday_of(days)) & 1;

	/* Vixie cron: a "*" in either day field means both must match */
	if (c->is_days_any || c->is_weekdays_any)
		return dom && dow;
	return dom || dow;
}

/* First set bit >= from in bits[0..max], or -1. */
static int next_bit(uint64_t bits, int from, int max)
{
	for (int i = from; i <= max; i++)
		if ((bits >> i) & 1)
			return i;
	return -1;
}

int64_t cron_next_ms(const struct cron *c, int64_t after_ms)
{
	int64_t minute, day;
	int mod; /* minute of the day to search from */

	if (c->is_interval)
		return c->interval_ms > 0 && after_ms <= INT64_MAX - c->interval_ms
			       ? after_ms + c->interval_ms
			       : -1;
	if (after_ms > INT64_MAX / 2 || after_ms < INT64_MIN / 2)
		return -1;
	minute = floor_div(after_ms, MINUTE_MS) + 1;
	day = floor_div(minute, 1440);
	mod = (int)(minute - day * 1440);
	for (int64_t i = 0; i < SEARCH_DAYS; i++) {
		int64_t y;
		int m, d, h, mi = -1;

		civil_from_days(day, &y, &m, &d);
		if (!((c->months >> m) & 1)) {
			day = m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1);
			mod = 0;
			continue;
		}
		if (day_matches(c, day, d)) {
			for (h = next_bit(c->hours, mod / 60, 23); h >= 0;
			     h = next_bit(c->hours, h + 1, 23)) {
				mi = next_bit(c->minutes, h == mod / 60 ? mod % 60 : 0, 59);
				if (mi >= 0)
					return (day * 1440 + h * 60 + mi) * MINUTE_MS;
			}
		}
		day++;
		mod = 0;
	}
	return -1;
}

int cron_matches_ms(const struct cron *c, int64_t ms)
{
	int64_t minute, day, y;
	int mod, m, d;

	if (c->is_interval || ms > INT64_MAX / 2 || ms < INT64_MIN / 2)
		return 0;
	minute = floor_div(ms, MINUTE_MS);
	day = floor_div(minute, 1440);
	mod = (int)(minute - day * 1440);
	civil_from_days(day, &y, &m, &d);
	return ((c->months >> m) & 1) && day_matches(c, day, d) && ((c->hours >> (mod / 60)) & 1) &&
	       ((c->minutes >> (mod % 60)) & 1);
}
