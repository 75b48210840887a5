/*
 * log.h - leveled logging to stderr, each line prefixed with a time, the
 * level and the instance (or module) it concerns.  Never pass secrets.
 */
#ifndef HUB_LOG_H
#define HUB_LOG_H

#include "include/hub_plugin.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

void log_set_level(enum hub_log_level level);
enum hub_log_level log_get_level(void);
/* The levels' names, by level ("error" is HUB_LOG_ERROR). */
#define LOG_N_LEVELS 4
extern const char *const log_level_names[LOG_N_LEVELS];

/* "error" "warn" "info" "debug"; returns -1 for anything else. */
int log_level_parse(const char *name);

/* Copies `in` to `out` with every control character written as \n, \r,
 * \t or \xNN (what log_msg does to a message), cut at a whole escape
 * to fit; returns the length written.  out_size 0: nothing. */
size_t log_escape(const char *in, char *out, size_t out_size);

/* A progress line without its newline is on stderr (import's and sync's,
 * on a terminal) while is_shown: each line logged, and cli_error's, first
 * erases it (they were written after its text, on its line), and the next
 * progress draws it again.  Its last one, ending the line, sets 0. */
void log_progress_shown(int is_shown);
/* What erases a shown progress line ("\r\033[K"), or "". */
const char *log_progress_erase(void);

void log_msg(enum hub_log_level level, const char *who, const char *fmt, ...)
	HUB_PRINTF(3, 4);
void log_vmsg(enum hub_log_level level, const char *who, const char *fmt, va_list ap)
	HUB_PRINTF(3, 0);

/* A line that a client can have repeated at will (once per record or per
 * request): logged the first time, then at most once every LOG_NOTE_MS,
 * each line with the count so far, so a flood of them writes a line every
 * 10 s rather than one per item.  Zeroed to start; any thread. */
#define LOG_NOTE_MS 10000
struct log_note {
	atomic_llong n;           /* occurrences so far */
	_Atomic int64_t noted_ms; /* monotonic time of its last line, 0: none yet */
};

/* Counts n_new occurrences at now_ms (monotonic).  Returns the count so far
 * when a line is due (the caller writes it, with that count), else 0. */
long long log_note_add(struct log_note *l, long long n_new, int64_t now_ms);

#define log_error(who, ...) log_msg(HUB_LOG_ERROR, who, __VA_ARGS__)
#define log_warn(who, ...) log_msg(HUB_LOG_WARN, who, __VA_ARGS__)
#define log_info(who, ...) log_msg(HUB_LOG_INFO, who, __VA_ARGS__)
#define log_debug(who, ...) log_msg(HUB_LOG_DEBUG, who, __VA_ARGS__)

#endif
