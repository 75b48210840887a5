/*
 * outage.c - a failure that repeats, logged as a state (see outage.h):
 * this keeps its times and count and writes its lines; the caller says
 * when something failed or succeeded, and in which words.
 */
#include "outage.h"

#include "log.h"
#include "util.h"

void outage_note_failure(struct outage *o, const struct outage_words *w, int64_t n,
			 const char *err)
{
	enum hub_log_level level = w->is_warn ? HUB_LOG_WARN : HUB_LOG_ERROR;
	int64_t now = time_mono_ms();
	char since[40];

	if (!o->since_ms) {
		o->since_ms = time_now_ms();
		o->began_ms = o->logged_ms = now;
		o->n = n;
		log_msg(level, w->module, "%s: %s; %s (logged again at most every %lld s)",
			w->first, err, w->meanwhile, (long long)(w->every_ms / 1000));
		return;
	}
	o->n += n;
	if (now - o->logged_ms < w->every_ms)
		return;
	o->logged_ms = now;
	log_msg(level, w->module, "%s since %s: %lld %s so far; the last: %s", w->ongoing,
		time_format_ms(o->since_ms, since, sizeof(since)), (long long)o->n, w->counted,
		err);
}

int outage_note_ok(struct outage *o, const struct outage_words *w)
{
	char since[40];

	if (!o->since_ms)
		return 0;
	log_info(w->module, "%s (%s since %s, for %lld s: %lld %s)", w->over, w->was,
		 time_format_ms(o->since_ms, since, sizeof(since)),
		 (long long)((time_mono_ms() - o->began_ms) / 1000), (long long)o->n, w->counted);
	o->since_ms = 0;
	return 1;
}
