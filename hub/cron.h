/*
 * cron.h - when a pull source runs: `every 15m` (an interval) or a 5-field
 * cron expression ("minute hour day-of-month month day-of-week"), always
 * in UTC, and the next time either fires.  Pure functions of their
 * arguments: no clock, no allocation (the scheduler and the fuzzer call
 * them with any time they like).
 */
#ifndef HUB_CRON_H
#define HUB_CRON_H

#include <stddef.h>
#include <stdint.h>

struct cron {
	int is_interval;
	int64_t interval_ms;   /* is_interval: > 0 */

	/* cron: one bit per allowed value */
	uint64_t minutes;      /* bit m: minute 0..59 */
	uint32_t hours;        /* bit h: hour 0..23 */
	uint32_t days;         /* bit d: day of month 1..31 */
	uint16_t months;       /* bit m: month 1..12 */
	uint8_t weekdays;      /* bit d: 0 = Sunday .. 6 = Saturday */
	int is_days_any;       /* day of month was "*" (or "?") */
	int is_weekdays_any;   /* day of week was "*" (or "?") */
};

/*
 * Parses a schedule:
 *   every 15m | every 1h30m | every 90s | every 2d
 *   5 fields: numbers, ranges a-b, steps (star)/n a-b/n a/n, lists a,b,c; month
 *   names JAN..DEC, day names SUN..SAT (7 is Sunday too); @hourly, @daily
 *   (@midnight), @weekly, @monthly, @yearly (@annually).
 * As in Vixie cron, when both day fields are restricted a day matching
 * either one fires.  A schedule that can never fire ("0 0 31 2 *") is an
 * error.  Returns 0, or -1 with err set ("field 2 (hour): 24 is out of
 * range 0-23").
 */
int cron_parse(const char *text, struct cron *out, char *err, size_t err_size);

/* The first firing time strictly after `after_ms` (ms since the epoch,
 * UTC): after_ms + interval, or the next whole minute the fields allow.
 * -1 when there is none within 400 years. */
int64_t cron_next_ms(const struct cron *c, int64_t after_ms);

/* 1 when a cron schedule fires at the minute holding `ms`; intervals: 0. */
int cron_matches_ms(const struct cron *c, int64_t ms);

#endif
