/*
 * outage.c - see outage.h.
 */
#include "outage.h"

#include "util.h"

enum outage_line outage_fail(struct outage *o, int64_t n, int64_t every_ms)
{
	int64_t now = time_mono_ms();

	if (!o->since_ms) {
		o->since_ms = time_now_ms();
		o->began_ms = o->logged_ms = now;
		o->n = n;
		return OUTAGE_FIRST;
	}
	o->n += n;
	if (now - o->logged_ms < every_ms)
		return OUTAGE_QUIET;
	o->logged_ms = now;
	return OUTAGE_REMIND;
}

int outage_end(struct outage *o, struct outage *was)
{
	if (!o->since_ms)
		return 0;
	*was = *o;
	o->since_ms = 0;
	return 1;
}

int64_t outage_seconds(const struct outage *was)
{
	return (time_mono_ms() - was->began_ms) / 1000;
}
