/*
 * log.c - the hub's logger: one line per message on stderr,
 * "2026-11-30T09:00:00.000Z warn [web] message".  Thread-safe: a line is
 * formatted in a local buffer and written with one fputs under stdio's lock.
 */
#include "log.h"

#include "util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int current_level = HUB_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum hub_log_level level)
{
	atomic_store(&current_level, (int)level);
}

enum hub_log_level log_get_level(void)
{
	return (enum hub_log_level)atomic_load(&current_level);
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void log_vmsg(enum hub_log_level level, const char *who, const char *fmt, va_list ap)
{
	char line[2048];
	char when[32];
	int n;

	if ((int)level > atomic_load(&current_level))
		return;
	time_format_ms(time_now_ms(), when, sizeof(when));
	n = snprintf(line, sizeof(line), "%s %s [%s] ", when,
		     level_names[level], who ? who : "hub");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

void log_msg(enum hub_log_level level, const char *who, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, who, fmt, ap);
	va_end(ap);
}
