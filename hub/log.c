/*
 * log.c - the hub's logger: one line per message on stderr,
 * "2026-11-30T09:00:00.000Z warn [web] message".  Thread-safe: a line is
 * formatted in a local buffer and written with one fputs under stdio's lock.
 *
 * Messages carry outside data (a message id, a header's name, a file's
 * line), so control characters are written escaped (\n, \r, \t, \xNN):
 * a client cannot start a forged line or send terminal escapes.
 */
#include "log.h"

#include "util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int current_level = HUB_LOG_INFO;

static atomic_int is_progress_shown; /* set by the main thread, read by any */

const char *const log_level_names[LOG_N_LEVELS] = {"error", "warn", "info", "debug"};

void log_progress_shown(int is_shown)
{
	atomic_store(&is_progress_shown, is_shown);
}

const char *log_progress_erase(void)
{
	return atomic_load(&is_progress_shown) ? "\r\033[K" : "";
}

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
	for (size_t i = 0; i < LOG_N_LEVELS; i++)
		if (strcmp(name, log_level_names[i]) == 0)
			return (int)i;
	return -1;
}

size_t log_escape(const char *in, char *out, size_t out_size)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (out_size == 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		char esc[5] = {0};
		if (*p >= 0x20 && *p != 0x7f)
			esc[0] = (char)*p;
		else if (*p == '\n' || *p == '\r' || *p == '\t') {
			esc[0] = '\\';
			esc[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
		} else {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[*p >> 4];
			esc[3] = hex[*p & 15];
		}
		size_t len = strlen(esc);
		if (n + len >= out_size)
			break; /* cut at a whole escape */
		memcpy(out + n, esc, len);
		n += len;
	}
	out[n] = '\0';
	return n;
}

long long log_note_add(struct log_note *l, long long n_new, int64_t now_ms)
{
	long long n = atomic_fetch_add(&l->n, n_new) + n_new;
	int64_t last = atomic_load(&l->noted_ms);

	if (now_ms <= 0)
		now_ms = 1; /* 0 says "none yet" */
	if (last != 0 && now_ms - last < LOG_NOTE_MS)
		return 0;
	if (!atomic_compare_exchange_strong(&l->noted_ms, &last, now_ms))
		return 0; /* another thread writes this one */
	return n;
}

void log_vmsg(enum hub_log_level level, const char *who, const char *fmt, va_list ap)
{
	char msg[2048], line[2048];
	char when[32];
	int n;

	if ((int)level > atomic_load(&current_level))
		return;
	time_format_ms(time_now_ms(), when, sizeof(when));
	n = snprintf(line, sizeof(line), "%s %s [%s] ", when,
		     log_level_names[level], who ? who : "hub");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_escape(msg, line + n, sizeof(line) - (size_t)n);
	fprintf(stderr, "%s%s\n", log_progress_erase(), line);
}

void log_msg(enum hub_log_level level, const char *who, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, who, fmt, ap);
	va_end(ap);
}
