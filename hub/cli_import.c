/*
 * cli_import.c - `profilehub import FILE|- --source NAME`: a file of
 * records, canonical JSON lines or a source's own format mapped by its
 * plugin's import_line (--format), into the store through the intake
 * queue, like every other door.  The batches go out from a ring of slots
 * as one ordered stream: once one fails the later ones are not stored,
 * and the report says from which line to run the same file again.
 * Memory follows the records and bytes in flight, never the file's size.
 * SIGINT/SIGTERM stop the reading: what was read commits, and the report
 * says where to go on (a second signal exits at once, as a crash: the
 * same run again completes it).  It never writes the store itself (the
 * intake's writer does), and never holds a line longer than
 * IMPORT_LINE_MAX whole.  --rejects keeps the rejected lines in a file.
 */
#include "cli.h"

#include "alloc.h"
#include "host.h"
#include "intake.h"
#include "linereader.h"
#include "log.h"
#include "plugin.h"
#include "record.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IMPORT_BATCH 2000
/* Records per commit (--commit-every): each commit writes every page its
 * records dirtied to the WAL, so on a store bigger than the page cache big
 * groups cost several times less than small ones (bench/unify).  Import
 * keeps a group's records in flight, plus IMPORT_LOOKAHEAD parsed ahead so
 * the writer never waits: about 0.5 KB a record, within the RSS budget. */
#define IMPORT_COMMIT_EVERY 150000
#define IMPORT_LOOKAHEAD 20000
#define IMPORT_WINDOW ((IMPORT_COMMIT_EVERY + IMPORT_LOOKAHEAD) / IMPORT_BATCH)
/* Memory follows the bytes in flight too, not only the records: lines
 * held by submitted batches stop at IMPORT_BYTES_IN_FLIGHT (the oldest
 * batches are waited for), and a line longer than IMPORT_LINE_MAX is
 * rejected without being held whole.  The benchmark's 236-byte lines
 * never reach the first; 1 MB events would keep 48 of them in flight. */
#define IMPORT_BYTES_IN_FLIGHT (48u << 20)
#define IMPORT_BATCH_BYTES (IMPORT_BYTES_IN_FLIGHT / 8) /* a batch closes early */
#define IMPORT_LINE_MAX (1u << 20)
#define IMPORT_MAX_ERRORS 10
#define IMPORT_MAX_WARNINGS 10

/* The first warnings of one kind, in the order noted. */
struct import_warnings {
	char *text[IMPORT_MAX_WARNINGS];
	int64_t line[IMPORT_MAX_WARNINGS];
	size_t n;
};

/* The first SIGINT or SIGTERM: stop reading (import_on_signal). */
static volatile sig_atomic_t import_signal;

struct import_slot {
	struct intake_batch batch;
	struct record *records[IMPORT_BATCH];
	int64_t lines[IMPORT_BATCH]; /* the file's line of each record */
	size_t bytes;            /* of the lines its records came from */
	int64_t first_line;      /* the file's line of its first record */
	int64_t read_warnings;   /* validation's warnings about its records:
				  * none applies if the batch is not stored */
	int is_busy;
};

struct import_state {
	struct intake *intake;
	struct import_slot slots[IMPORT_WINDOW];
	size_t n_slots;          /* slots in use: the window for --commit-every */
	size_t batch_max;        /* records a batch closes at: IMPORT_BATCH, or
				  * --commit-every when smaller (a group takes
				  * whole batches, so it commits no more often) */
	int is_adding_line;      /* a plugin line's records: one batch if they fit */
	size_t next_slot;
	size_t bytes_in_flight;  /* of the busy slots */
	size_t line_bytes;       /* of the line being read, until a slot takes it */
	char read_error[128];    /* why the input could not be read */
	struct unify_counts total;
	int64_t n_lines, n_warnings; /* n_lines: records read (blank lines aside) */
	int64_t n_skipped, n_line_skipped; /* items the plugin skip()ped; of the line */
	int64_t line_no;              /* the file's line being read, for errors */
	char *errors[IMPORT_MAX_ERRORS];
	size_t n_errors;
	/* the first warnings, named like errors, in two lists each in line
	 * order: validation's (as lines are read) and the writer's (as their
	 * batches commit, later); the report merges them by line */
	struct import_warnings read_warnings, writer_warnings;
	int failed;
	/* The batches are one ordered stream: once one fails, the later ones
	 * are not stored either (intake.h), so what is stored is the lines
	 * before the first failed batch's; a run of the same file again
	 * completes it in order. */
	struct intake_chain chain;
	int64_t unstored_from;   /* that first line, 0: none */
	char unstored_why[640];  
	int is_unstored_unknown; /* its batch's COMMIT answer was lost: maybe stored */
	int stopped_by;          /* the signal that stopped the reading, or 0 */
	int is_stop_at_a_line;   /* the stop cut line unstored_from (bytes of it read);
				  * 0: nothing past the line before was read */
	FILE *rejects;           /* --rejects: the rejected lines, or NULL */
	const char *rejects_path;
	int rejects_errno;       /* why writing it failed, or 0 */
	int64_t n_rejects_kept, n_rejects_too_long;
	struct import_slot *last_slot; /* where the last record read went */
	int64_t started_ms, last_progress_ms;
	int is_tty;

	/* --format <plugin>: the source instance whose import_line maps a
	 * line, and the records of the line being mapped (kept only if the
	 * whole line maps) */
	struct hub_instance *inst;
	const struct record_rules *rules;
	struct record **pending;
	size_t n_pending, cap_pending;
	int64_t n_line_warnings;
	hub_rc emit_failed_rc;  /* the line's first emit() failure not a
				 * refusal (out of memory): the line fails */
	char emit_failed_why[160];
};

/* Frees the texts. */
static void import_warnings_free(struct import_warnings *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->text[i]); /* asprintf's */
	w->n = 0;
}

static void import_note_error(struct import_state *st, int64_t line, const char *msg)
{
	st->total.rejected++;
	st->total.records++;
	if (st->n_errors < IMPORT_MAX_ERRORS &&
	    asprintf(&st->errors[st->n_errors], "line %" PRId64 ": %s", line, msg) >= 0)
		st->n_errors++;
}

/* A warning about a record of line `line` (a value dropped, the rest
 * applied): counted by the caller, the first ones of list w kept to be
 * shown, with the record's origin in its line when the plugin gives one
 * (ABI 1.3). */
static void import_note_warning(struct import_warnings *w, int64_t line, const char *origin,
				const char *msg)
{
	if (w->n < IMPORT_MAX_WARNINGS &&
	    asprintf(&w->text[w->n], "line %" PRId64 "%s%s%s: %s", line, origin ? " (" : "",
		     origin ? origin : "", origin ? ")" : "", msg) >= 0)
		w->line[w->n++] = line;
}

/* Validation's warnings about a record of line `line`. */
static void import_note_warnings(struct import_state *st, int64_t line, const char *origin,
				 const struct record_warnings *w)
{
	for (size_t i = 0; i < w->n; i++)
		import_note_warning(&st->read_warnings, line, origin, w->items[i]);
}

/* The writer's warnings about the records of a committed slot (an array
 * op past the limit because of what was stored: intake.h). */
static void import_note_batch_warnings(struct import_state *st, const struct import_slot *slot)
{
	st->n_warnings += slot->batch.counts.warnings;
	for (size_t i = 0; i < slot->batch.n_warnings; i++) {
		const struct intake_warning *w = &slot->batch.warnings[i];
		import_note_warning(&st->writer_warnings, slot->lines[w->index],
				    slot->records[w->index]->origin, w->message);
	}
}

static void slot_release(struct import_slot *slot)
{
	for (size_t i = 0; i < slot->batch.n_records; i++)
		record_free(slot->records[i]);
	slot->batch.n_records = 0;
	slot->bytes = 0;
	slot->read_warnings = 0;
	slot->is_busy = 0;
}

/* Waits for a submitted slot and adds its counts. */
static void import_finish_slot(struct import_state *st, struct import_slot *slot)
{
	struct unify_counts *c = &slot->batch.counts;
	if (!slot->is_busy)
		return;
	st->bytes_in_flight -= slot->bytes;
	if (intake_wait(st->intake, &slot->batch) != HUB_OK) {
		/* the earliest failed batch says why; the later ones failed
		 * because it did */
		if (!st->unstored_from || slot->first_line < st->unstored_from) {
			st->unstored_from = slot->first_line;
			st->is_unstored_unknown = slot->batch.is_outcome_unknown;
			snprintf(st->unstored_why, sizeof(st->unstored_why), "%s", slot->batch.err);
		}
		st->failed = 1;
		/* the values its records would have kept the rest of: a
		 * warning says the rest was applied, and none was */
		st->n_warnings -= slot->read_warnings;
	} else {
		st->total.records += c->records;
		st->total.applied += c->applied;
		st->total.duplicates += c->duplicates;
		st->total.blocked += c->blocked;
		st->total.refused += c->refused;
		import_note_batch_warnings(st, slot);
	}
	slot_release(slot);
}

/* Below this, the rate is shown as "-": the first batch after a few
 * milliseconds made it "111556 records/s, 0.0s elapsed". */
#define IMPORT_RATE_MIN_MS 500

static void import_progress(struct import_state *st, int is_final)
{
	int64_t now = time_mono_ms(), elapsed_ms = now - st->started_ms;
	char rate[32] = "-";

	if (!st->is_tty || (!is_final && now - st->last_progress_ms < 250))
		return;
	st->last_progress_ms = now;
	if (elapsed_ms >= IMPORT_RATE_MIN_MS)
		snprintf(rate, sizeof(rate), "%.0f",
			 (double)st->n_lines * 1000.0 / (double)elapsed_ms);
	/* "\033[K" clears what a longer line before left (a rate that lost a digit) */
	fprintf(stderr, "\r%" PRId64 " records, %s records/s, %.1fs elapsed\033[K%s", st->n_lines,
		rate, (double)elapsed_ms / 1000.0, is_final ? "\n" : "");
	log_progress_shown(!is_final);
}

static struct import_slot *import_current(struct import_state *st)
{
	struct import_slot *slot = &st->slots[st->next_slot];
	import_finish_slot(st, slot); /* the oldest in the window */
	return slot;
}

/* The intake's queue is full: waits for this import's oldest batch in
 * flight (the ring fills in order from next_slot + 1), or, with none in
 * flight (other writers filled the queue), a millisecond. */
static void import_wait_for_room(struct import_state *st)
{
	static const struct timespec ms = {0, 1000000};

	for (size_t i = 1; i < st->n_slots; i++) {
		struct import_slot *s = &st->slots[(st->next_slot + i) % st->n_slots];
		if (s->is_busy) {
			import_finish_slot(st, s);
			return;
		}
	}
	nanosleep(&ms, NULL);
}

static void import_submit(struct import_state *st)
{
	struct import_slot *slot = &st->slots[st->next_slot];
	hub_rc rc;

	if (slot->is_busy || slot->batch.n_records == 0)
		return; /* in flight from the last round, or nothing to send */
	slot->batch.records = slot->records;
	slot->batch.chain = &st->chain;
	while ((rc = intake_submit(st->intake, &slot->batch)) == HUB_ERR_BUSY)
		import_wait_for_room(st);
	if (rc != HUB_OK) {
		cli_error("import", "intake refused the batch (%d)", (int)rc);
		st->failed = 1;
		slot_release(slot);
		return;
	}
	slot->is_busy = 1;
	st->bytes_in_flight += slot->bytes;
	st->next_slot = (st->next_slot + 1) % st->n_slots;
	/* past the byte budget: wait for the oldest batches (next_slot is the
	 * oldest busy slot, as the ring fills in order) */
	for (size_t i = 0; i < st->n_slots && st->bytes_in_flight > IMPORT_BYTES_IN_FLIGHT; i++)
		import_finish_slot(st, &st->slots[(st->next_slot + i) % st->n_slots]);
	import_progress(st, 0);
}

static void import_add(struct import_state *st, struct record *rec)
{
	struct import_slot *slot = import_current(st);
	if (slot->batch.n_records == 0)
		slot->first_line = st->line_no;
	st->last_slot = slot;
	slot->lines[slot->batch.n_records] = st->line_no;
	slot->records[slot->batch.n_records++] = rec;
	slot->bytes += st->line_bytes; /* a line's records count it once */
	st->line_bytes = 0;
	if (slot->batch.n_records == IMPORT_BATCH || slot->bytes >= IMPORT_BATCH_BYTES ||
	    (slot->batch.n_records >= st->batch_max && !st->is_adding_line))
		import_submit(st);
}

/* emit() could not take a record of the line (out of memory): remembered,
 * so that a plugin going on regardless does not have the line counted as
 * imported without it (import_line_plugin).  Returns rc. */
static hub_rc import_emit_failed(struct import_state *st, hub_rc rc, const char *why)
{
	if (st->emit_failed_rc == HUB_OK) {
		st->emit_failed_rc = rc;
		snprintf(st->emit_failed_why, sizeof(st->emit_failed_why), "%s", why);
	}
	return rc;
}

/* on_emit of a plugin's import_line: validate, keep until the line ends. */
static hub_rc import_on_emit(struct hub_call *call, const struct hub_record *hr, char *err,
			     size_t err_size)
{
	struct import_state *st = call->ctx;
	struct record_warnings warn = {0};
	struct record *rec = NULL;
	hub_rc rc;

	if (st->n_pending == st->cap_pending) {
		size_t cap = st->cap_pending ? 2 * st->cap_pending : 16;
		struct record **grown = hub_realloc(st->pending, cap * sizeof(*grown));
		if (!grown) {
			err_set(err, err_size, "out of memory");
			return import_emit_failed(st, HUB_ERR_NOMEM, err);
		}
		st->pending = grown;
		st->cap_pending = cap;
	}
	rc = record_from_hub(hr, st->inst->name, st->rules, time_now_ms(), &rec, &warn, err,
			     err_size);
	st->n_line_warnings += (int64_t)warn.total;
	if (rc == HUB_OK)
		import_note_warnings(st, st->line_no, record_origin(hr), &warn);
	record_warnings_clear(&warn);
	if (rc == HUB_OK)
		st->pending[st->n_pending++] = rec;
	else if (rc == HUB_ERR_DATA)
		import_note_error(st, st->line_no, err); /* the plugin goes on (hub_plugin.h) */
	else
		import_emit_failed(st, rc, err);
	return rc;
}

/* on_reject of a plugin's import_line (ABI 1.2): one item of the line
 * the plugin refused, counted and named like a line the hub rejects. */
static hub_rc import_on_reject(struct hub_call *call, const char *why)
{
	struct import_state *st = call->ctx;

	import_note_error(st, st->line_no, why);
	return HUB_OK;
}

/* on_warn of a plugin's import_line (ABI 1.6): a value the plugin left
 * out of the record it last emitted, counted and named like one that
 * validation left out. */
static hub_rc import_on_warn(struct hub_call *call, const char *why)
{
	struct import_state *st = call->ctx;

	const struct record *last = st->n_pending ? st->pending[st->n_pending - 1] : NULL;

	st->n_line_warnings++;
	import_note_warning(&st->read_warnings, st->line_no, last ? last->origin : NULL, why);
	return HUB_OK;
}

/* on_skip of a plugin's import_line (ABI 1.12): an item of the line the
 * plugin deliberately does not store (host_skip logged why), counted
 * apart from the rejected once the line stands. */
static hub_rc import_on_skip(struct hub_call *call, const char *why)
{
	struct import_state *st = call->ctx;

	(void)why;
	st->n_line_skipped++;
	return HUB_OK;
}

/* Forgets the rejections and warnings noted since the counts and errors
 * were `mark`: the line failed after all, and counts once, as a whole. */
static void import_rejections_drop(struct import_state *st, const struct unify_counts *mark,
				   size_t n_errors, size_t n_warnings_shown)
{
	while (st->n_errors > n_errors)
		free(st->errors[--st->n_errors]); /* asprintf's */
	while (st->read_warnings.n > n_warnings_shown)
		free(st->read_warnings.text[--st->read_warnings.n]);
	st->total.rejected = mark->rejected;
	st->total.records = mark->records;
}

/* One line of the source's own format, through the plugin's mapping.  An
 * item of it refused on the way (a record emit() refused, or reject()) is
 * counted and named when the line's other records stand; a failed line
 * counts once, its records and those notes dropped.  A record emit() could
 * not take (out of memory) fails the line as emit() did, whatever the
 * plugin answered after it (it should have stopped: hub_plugin.h). */
static hub_rc import_line_plugin(struct import_state *st, const char *line, size_t len,
				 char *err, size_t err_size)
{
	struct hub_call call = {.inst = st->inst, .on_emit = import_on_emit,
				.on_reject = import_on_reject, .on_warn = import_on_warn,
				.on_skip = import_on_skip, .ctx = st};
	struct unify_counts mark = st->total;
	size_t n_errors = st->n_errors, n_warnings_shown = st->read_warnings.n;
	struct import_slot *cur;
	struct hub_call *h;
	hub_rc rc;

	st->n_pending = 0;
	st->n_line_warnings = 0;
	st->n_line_skipped = 0;
	st->emit_failed_rc = HUB_OK;
	h = host_call_enter(&call, "import_line");
	rc = st->inst->mod->desc->import_line(st->inst->state, h, line, len, err, err_size);
	host_call_leave(h);
	plugin_err_end(err, err_size);
	if (st->emit_failed_rc != HUB_OK && rc != st->emit_failed_rc) {
		err_set(err, err_size, "the %s plugin went on after emit() failed (%s)",
			st->inst->mod->name, st->emit_failed_why);
		rc = st->emit_failed_rc;
	}
	/* a line's records go in one batch (all stored or none), unless there
	 * are more than a batch holds: the batch so far goes first when they
	 * would not fit, by count or by bytes */
	cur = &st->slots[st->next_slot];
	if (rc == HUB_OK && st->n_pending && !cur->is_busy && cur->batch.n_records &&
	    (cur->batch.n_records + st->n_pending > st->batch_max ||
	     cur->bytes + st->line_bytes >= IMPORT_BATCH_BYTES))
		import_submit(st);
	st->is_adding_line = 1;
	for (size_t i = 0; i < st->n_pending; i++) {
		if (rc == HUB_OK)
			import_add(st, st->pending[i]);
		else
			record_free(st->pending[i]);
	}
	st->is_adding_line = 0;
	cur = &st->slots[st->next_slot];
	if (!cur->is_busy && cur->batch.n_records >= st->batch_max)
		import_submit(st);
	if (rc != HUB_OK)
		import_rejections_drop(st, &mark, n_errors, n_warnings_shown);
	if (rc == HUB_OK) {
		st->n_warnings += st->n_line_warnings;
		st->n_skipped += st->n_line_skipped;
		if (st->n_pending && st->last_slot)
			st->last_slot->read_warnings += st->n_line_warnings;
	} else if (!err[0])
		err_set(err, err_size, "the %s plugin refused the line (%d)", st->inst->mod->name,
			(int)rc);
	return rc;
}

/* fopen() opens a directory for reading; its first read fails */
/* 0 when f can be read as lines, else why not as an errno: a directory
 * (EISDIR), or a stdin that is closed (EBADF: `import - <&-` read what the
 * store's open put there, /dev/null, and said "records 0", exit 0). */
static int input_errno(FILE *f)
{
	struct stat st;

	if (fstat(fileno(f), &st) != 0)
		return errno;
	return S_ISDIR(st.st_mode) ? EISDIR : 0;
}

/* Spaces and tabs only (a NUL is not blank: a zero-filled block left by a
 * crash is rejected, not skipped). */
static int is_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t')
			return 0;
	return 1;
}

/* The line being read failed with rc (err says why): rejected, unless
 * memory ran out (HUB_ERR_NOMEM), which says nothing of the line: then the
 * import stops at it as at a failed batch (the lines before it are
 * stored, a run again completes the rest). */
static void import_line_failed(struct import_state *st, hub_rc rc, const char *err)
{
	if (rc != HUB_ERR_NOMEM) {
		import_note_error(st, st->line_no, err);
		return;
	}
	if (!st->unstored_from || st->line_no < st->unstored_from) {
		st->unstored_from = st->line_no;
		st->is_unstored_unknown = 0;
		snprintf(st->unstored_why, sizeof(st->unstored_why), "line %" PRId64 ": %s",
			 st->line_no, err);
	}
	st->failed = 1;
}

/* A line that is not blank, trimmed: its records into the batches, or its
 * rejection noted. */
static void import_line_take(struct import_state *st, const char *source, const char *line,
			     size_t len)
{
	struct record_warnings warn = {0};
	struct record *rec = NULL;
	char err[512] = "";
	int64_t n_warn;
	hub_rc rc;

	st->n_lines++;
	st->line_bytes = len;
	if (st->inst) {
		if ((rc = import_line_plugin(st, line, len, err, sizeof(err))) != HUB_OK)
			import_line_failed(st, rc, err);
		return;
	}
	rc = record_from_json(line, len, source, st->rules, time_now_ms(), &rec, &warn, err,
			      sizeof(err));
	n_warn = (int64_t)warn.total;
	st->n_warnings += n_warn;
	if (rc == HUB_OK)
		import_note_warnings(st, st->line_no, NULL, &warn);
	record_warnings_clear(&warn);
	if (rc != HUB_OK) {
		import_line_failed(st, rc, err);
		return;
	}
	import_add(st, rec);
	st->last_slot->read_warnings += n_warn;
}

/* --rejects: a line with a rejection, as read (line break and byte order
 * mark aside), to fix and import again; what of it was stored is then a
 * duplicate. */
static void import_keep_rejected(struct import_state *st, const char *line, size_t len)
{
	if (!st->rejects || st->rejects_errno)
		return;
	if (fwrite(line, 1, len, st->rejects) != len || putc('\n', st->rejects) == EOF)
		st->rejects_errno = errno ? errno : EIO;
	else
		st->n_rejects_kept++;
}

static void import_line(struct import_state *st, const char *source, char *line, size_t len)
{
	int64_t rejected = st->total.rejected;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (st->line_no == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3; /* a UTF-8 byte order mark (Excel, PowerShell) */
		len -= 3;
	}
	if (is_blank(line, len))
		return;
	import_line_take(st, source, line, len);
	if (st->total.rejected > rejected)
		import_keep_rejected(st, line, len);
}

/* Stopped by a signal after line st->line_no: the next line is the first
 * not stored (unless a failed batch's is earlier), if there is one:
 * `is_at_a_line` when bytes of it were read. */
static void import_note_stop(struct import_state *st, int is_at_a_line)
{
	st->stopped_by = import_signal;
	if (st->unstored_from && st->unstored_from <= st->line_no + 1)
		return;
	st->unstored_from = st->line_no + 1;
	st->is_stop_at_a_line = is_at_a_line;
	st->is_unstored_unknown = 0;
	snprintf(st->unstored_why, sizeof(st->unstored_why),
		 "stopped by %s after line %" PRId64 " (what was read before it is committed)",
		 st->stopped_by == SIGINT ? "SIGINT" : "SIGTERM", st->line_no);
}

static int import_stream(struct cli *cli, FILE *in, const char *source, struct import_state *st)
{
	struct record_rules rules;
	struct line_reader reader;
	enum line_result got = LINE_END;
	char *line, err[128];
	size_t len;

	cli_record_rules(cli->cfg, &rules);
	st->rules = &rules;
	line_reader_init(&reader, in, IMPORT_LINE_MAX);
	reader.stop = &import_signal; /* a line without end must not outlast a stop */
	while (!st->failed && !import_signal &&
	       (got = line_reader_next(&reader, &line, &len)) > 0) {
		st->line_no++;
		if (got == LINE_OK) {
			import_line(st, source, line, len);
			continue;
		}
		st->n_lines++;
		snprintf(err, sizeof(err),
			 "the line is %zu bytes, longer than a record may be (%u)", len,
			 IMPORT_LINE_MAX);
		import_note_error(st, st->line_no, err);
		st->n_rejects_too_long++; /* not held: not kept either */
	}
	if (import_signal && (got != LINE_END || !reader.is_eof)) {
		/* a read it interrupted (a pipe) is no error */
		import_note_stop(st, line_reader_has_read_past(&reader));
		got = LINE_END;
	}
	if (got == LINE_ERROR)
		snprintf(st->read_error, sizeof(st->read_error), "%s", line_reader_error(&reader));
	line_reader_free(&reader);
	import_submit(st);
	/* oldest first (the ring from next_slot): the writer's warnings are
	 * noted in line order */
	for (size_t i = 0; i < st->n_slots; i++)
		import_finish_slot(st, &st->slots[(st->next_slot + i) % st->n_slots]);
	st->rules = NULL; /* borrowed from this frame */
	return got == LINE_ERROR ? -1 : 0;
}

/* The first warnings by line: each list is in line order, so the first
 * IMPORT_MAX_WARNINGS of the file are among the two lists' own. */
static void import_print_warnings(const struct import_state *st)
{
	const struct import_warnings *v = &st->read_warnings, *w = &st->writer_warnings;
	size_t i = 0, j = 0, n = 0, n_v = v->n;

	/* validation's warnings of lines not stored are none: their records
	 * kept nothing (the import stopped before them) */
	while (st->unstored_from && n_v && v->line[n_v - 1] >= st->unstored_from)
		n_v--;
	for (; n < IMPORT_MAX_WARNINGS && (i < n_v || j < w->n); n++) {
		int is_v = j == w->n || (i < n_v && v->line[i] <= w->line[j]);
		fprintf(stderr, "profilehub: import: warning: %s\n",
			is_v ? v->text[i++] : w->text[j++]);
	}
	if (n && st->n_warnings > (int64_t)n)
		fprintf(stderr, "profilehub: import: ... and %" PRId64 " more warnings\n",
			st->n_warnings - (int64_t)n);
}

/* Closes --rejects (a write that failed shows there) and says what it
 * holds. */
static void import_report_rejects(const struct import_state *st)
{
	if (!st->rejects_path)
		return;
	if (st->rejects_errno) {
		fprintf(stderr, "profilehub: import: --rejects \"%s\": %s (after %" PRId64
			" rejected lines written)\n", st->rejects_path, strerror(st->rejects_errno),
			st->n_rejects_kept);
		return;
	}
	fprintf(stderr, "profilehub: import: %" PRId64 " rejected lines written to %s",
		st->n_rejects_kept, st->rejects_path);
	if (st->n_rejects_too_long)
		fprintf(stderr, ", not the %" PRId64 " longer than %u bytes",
			st->n_rejects_too_long, IMPORT_LINE_MAX);
	fputc('\n', stderr);
}

static void import_close_rejects(struct import_state *st)
{
	if (st->rejects && fclose(st->rejects) != 0 && !st->rejects_errno)
		st->rejects_errno = errno ? errno : EIO;
	st->rejects = NULL;
}

/*
 * The first line not stored, and why.  A stop between lines, nothing of
 * the next one read, names no line past the last one read: the file may
 * hold none (a pipe whose writer had sent all it had, a file read to its
 * last newline), and "line N+1 is not stored" named a line that was never
 * there.
 */
static void import_report_unstored(const struct import_state *st)
{
	int64_t last = st->line_no;

	if (!st->unstored_from)
		return;
	fprintf(stderr, "profilehub: import: %s\n", st->unstored_why);
	if (st->stopped_by && st->unstored_from > last && !st->is_stop_at_a_line) {
		if (last)
			fprintf(stderr, "profilehub: import: nothing after line %" PRId64
				" was read: line %" PRId64 " and those before it are stored, any"
				" after it is not: to go on, run the same file again; what is"
				" stored is skipped as duplicates\n", last, last);
		else
			fprintf(stderr, "profilehub: import: no line was read, none is stored:"
				" to go on, run the same file again\n");
		return;
	}
	fprintf(stderr, "profilehub: import: line %" PRId64
		" and every line after it are %s (the lines before it are stored):"
		" %s the same file again; what is stored is skipped"
		" as duplicates\n", st->unstored_from,
		st->is_unstored_unknown ? "not stored, but for those of the batches whose"
					  " COMMIT answer was lost, which may be"
				       : "not stored",
		st->stopped_by ? "to go on, run" : "fix the cause and run");
}

static void import_report(const struct import_state *st)
{
	const struct unify_counts *t = &st->total;
	import_progress((struct import_state *)st, 1);
	printf("records %" PRId64 ", applied %" PRId64 ", duplicates %" PRId64 ", blocked %" PRId64
	       ", refused %" PRId64 ", rejected %" PRId64 "\n",
	       t->records, t->applied, t->duplicates, t->blocked, t->refused, t->rejected);
	if (st->n_skipped)
		printf("skipped %" PRId64 " (items the %s plugin does not store, as configured;"
		       " the reason in the log)\n", st->n_skipped, st->inst->mod->name);
	if (st->n_warnings)
		printf("warnings %" PRId64 " (values dropped as invalid, over a limit or not"
		       " convertible; the rest of each record kept)\n", st->n_warnings);
	import_print_warnings(st);
	for (size_t i = 0; i < st->n_errors; i++)
		fprintf(stderr, "profilehub: import: %s\n", st->errors[i]);
	if (t->rejected > (int64_t)st->n_errors)
		fprintf(stderr, "profilehub: import: ... and %" PRId64 " more rejected\n",
			t->rejected - (int64_t)st->n_errors);
	import_report_rejects(st);
	import_report_unstored(st);
}

static void import_on_signal(int sig)
{
	import_signal = sig;
}

/* SIGINT and SIGTERM stop the reading (SIGINT left ignored when it is, as
 * for a job started in the background); once: SA_RESETHAND makes a second
 * one end the process.  No SA_RESTART: a read waiting on a pipe returns.
 * The actions before are kept in old[2] (SIGTERM's, SIGINT's), for
 * import_restore_signals() once the reading is over. */
static void import_catch_signals(struct sigaction old[2])
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = import_on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old[0]);
	if (sigaction(SIGINT, NULL, &old[1]) == 0 && old[1].sa_handler != SIG_IGN)
		sigaction(SIGINT, &sa, NULL);
}

/* What import_catch_signals() replaced, back, once the last commit is
 * over: the command run in a process that goes on (the unit tests) leaves
 * no handler behind. */
static void import_restore_signals(const struct sigaction old[2])
{
	sigaction(SIGTERM, &old[0], NULL);
	sigaction(SIGINT, &old[1], NULL);
}

/* The threads started while *old is saved (the store's, the intake's)
 * never take SIGINT or SIGTERM: this thread's read must be interrupted. */
static void import_block_signals(int is_blocked, sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (is_blocked)
		pthread_sigmask(SIG_BLOCK, &set, old);
	else
		pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* 1 when --rejects `path` is the file being read (in): opened for writing
 * it would be emptied before a line of it is read, the lines that were to
 * be fixed and imported again lost. */
static int import_rejects_is_input(const char *path, FILE *in)
{
	struct stat a, b;

	return stat(path, &a) == 0 && fstat(fileno(in), &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* 1 when plugin m maps lines (import_line, ABI 1.1). */
static int plugin_imports_lines(const struct plugin_module *m)
{
	return m->desc->abi.plugin_size >=
		       offsetof(struct hub_plugin, import_line) + sizeof(m->desc->import_line) &&
	       m->desc->import_line;
}

/* The formats --format takes, "canonical, segment, ..." into buf. */
static const char *import_formats(const struct plugin_registry *reg, char *buf, size_t size)
{
	size_t len = (size_t)snprintf(buf, size, "canonical");

	for (size_t i = 0; i < reg->n_mods && len < size; i++)
		if (plugin_imports_lines(&reg->mods[i]))
			len += (size_t)snprintf(buf + len, size - len, ", %s",
						reg->mods[i].desc->name);
	return buf;
}

/* --format <plugin>: a plugin that maps lines, and the configured source
 * named `source` must use it.  The records get the source's name, as live
 * traffic would, so dedupe spans both.  CLI_OK, or CLI_FAIL with the error
 * printed: a format or source the configuration does not have is a failure
 * (exit 1), as `sync` and `plugins --describe` answer a name they lack. */
static int import_open_plugin(struct cli *cli, const char *format, const char *source,
			      struct plugin_registry *reg, struct hub_instance **inst)
{
	const struct config_instance *ci = NULL;
	const struct plugin_module *m;
	char err[1024], formats[512];

	if (cli_registry_open(cli, reg))
		return CLI_FAIL;
	m = plugin_registry_find(reg, format);
	if (!m || !plugin_imports_lines(m)) {
		cli_error("import", "--format %s: %s; --format takes one of: %s", format,
			  m ? "this plugin cannot import lines (no import_line)"
			    : plugin_registry_missing(reg, format, err, sizeof(err)),
			  import_formats(reg, formats, sizeof(formats)));
		goto fail;
	}
	for (size_t i = 0; i < cli->cfg->n_sources; i++)
		if (strcmp(cli->cfg->sources[i].name, source) == 0)
			ci = &cli->cfg->sources[i];
	if (!ci || strcmp(ci->plugin, format) != 0) {
		cli_error("import", "--format %s reads the config of the source --source names: %s",
			  format,
			  config_missing_source(cli->cfg, format, source, err, sizeof(err)));
		goto fail;
	}
	if (plugin_instance_create(m, ci, inst, err, sizeof(err))) {
		cli_error("import", "%s", err);
		goto fail;
	}
	return CLI_OK;
fail:
	plugin_registry_close(reg);
	return CLI_FAIL;
}

/* --commit-every: 1 .. IMPORT_COMMIT_EVERY records (the window holds no
 * more).  0, or -1 with what is wrong in why (a misuse: the usage follows
 * it, as every other misuse of import's arguments). */
static int import_parse_commit_every(const char *arg, long *out, char *why, size_t why_size)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno || end == arg || *end || n < 1 || n > IMPORT_COMMIT_EVERY) {
		snprintf(why, why_size,
			 "--commit-every: \"%.100s\" is not a number of records from 1 to %d",
			 arg, IMPORT_COMMIT_EVERY);
		return -1;
	}
	*out = n;
	return 0;
}

/* --source NAME as a record's source must be (record.c): 0, or -1 with
 * what is wrong in why (a misuse).  Every line without a "source" of its
 * own was rejected for it ("source: missing" for an empty NAME), the
 * whole file read and the import exit 1. */
static int import_check_source(const char *source, char *why, size_t why_size)
{
	size_t len = strlen(source);

	if (len == 0)
		snprintf(why, why_size,
			 "--source: an empty NAME (the records' source, for dedupe)");
	else if (len > RECORD_SOURCE_MAX)
		snprintf(why, why_size, "--source: a NAME of %zu bytes, longer than %d", len,
			 RECORD_SOURCE_MAX);
	else if (!str_is_utf8(source))
		snprintf(why, why_size, "--source: not valid UTF-8");
	else
		return 0;
	return -1;
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"profilehub import FILE|- --source NAME [--format canonical|<plugin>]\n"
		"                  [--commit-every RECORDS] [--rejects FILE]";
	static const char *const flags[] = {"--source", "--format", "--commit-every",
					    "--rejects", NULL};
	const char *file = NULL, *source = NULL, *format = NULL;
	const char *commit_every_arg = NULL, *rejects = NULL;
	const char **const vals[] = {&source, &format, &commit_every_arg, &rejects};
	long commit_every = IMPORT_COMMIT_EVERY;
	struct plugin_registry reg;
	struct import_state *st = NULL;
	struct store *store = NULL;
	FILE *in = NULL;
	sigset_t sigs;
	struct sigaction old_actions[2];
	char err[512];
	int rc = CLI_FAIL, in_errno = 0;

	for (int i = 1; i < argc; i++) {
		int took = cli_flag_take(argc, argv, &i, flags, vals, err, sizeof(err));

		if (took < 0)
			return cli_misuse("import", usage, "%s", err);
		if (took)
			continue;
		if (!file && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
			file = argv[i];
		else
			return cli_misuse("import", usage, "%s",
					  cli_arg_problem(argv, argc, i, flags, err, sizeof(err)));
	}
	if (!format)
		format = "canonical";
	if (!file)
		return cli_misuse("import", usage, "the FILE to import is needed (- reads stdin)");
	if (!source)
		return cli_misuse("import", usage,
				  "--source NAME is needed (the records' source, for dedupe)");
	if (import_check_source(source, err, sizeof(err)))
		return cli_misuse("import", usage, "%s", err);
	if (commit_every_arg &&
	    import_parse_commit_every(commit_every_arg, &commit_every, err, sizeof(err)))
		return cli_misuse("import", usage, "%s", err);
	if (cli_load_config_lazy_env(cli)) /* --format's source's own are needed */
		return CLI_FAIL;
	st = hub_calloc(1, sizeof(*st));
	if (!st) {
		cli_error("import", "out of memory");
		return CLI_FAIL;
	}
	if (strcmp(format, "canonical") != 0 &&
	    (rc = import_open_plugin(cli, format, source, &reg, &st->inst)) != CLI_OK) {
		hub_free(st);
		return rc;
	}
	rc = CLI_FAIL;
	in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	if (!in || (in_errno = input_errno(in)) != 0) {
		cli_error("import", "\"%s\": %s", file, strerror(in ? in_errno : errno));
		goto out;
	}
	if (rejects && import_rejects_is_input(rejects, in)) {
		cli_error("import", "--rejects %s is the file being imported: name another file"
			  " (it would be emptied before it is read)", rejects);
		goto out;
	}
	if (rejects && !(st->rejects = fopen(rejects, "w"))) {
		cli_error("import", "--rejects \"%s\": %s", rejects, strerror(errno));
		goto out;
	}
	st->rejects_path = rejects;
	import_block_signals(1, &sigs);
	if (cli_open_store(cli, &store)) {
		import_block_signals(0, &sigs);
		goto out;
	}
	if (intake_start(&st->intake, store, cli->cfg, err, sizeof(err))) {
		import_block_signals(0, &sigs);
		cli_error("import", "%s", err);
		store_close(store);
		goto out;
	}
	import_block_signals(0, &sigs);
	import_signal = 0; /* a run before in this process (the unit tests) */
	import_catch_signals(old_actions);
	intake_set_bulk(st->intake, (size_t)commit_every);
	st->batch_max = (size_t)commit_every < IMPORT_BATCH ? (size_t)commit_every : IMPORT_BATCH;
	st->n_slots = ((size_t)commit_every + IMPORT_LOOKAHEAD + st->batch_max - 1) / st->batch_max;
	if (st->n_slots > IMPORT_WINDOW)
		st->n_slots = IMPORT_WINDOW;
	st->started_ms = time_mono_ms();
	st->is_tty = isatty(STDERR_FILENO);
	if (import_stream(cli, in, source, st) && st->line_no)
		cli_error("import", "\"%s\": read error after line %" PRId64 ": %s", file,
			  st->line_no, st->read_error);
	else if (st->read_error[0])
		cli_error("import", "\"%s\": read error: %s", file, st->read_error);
	else if (!st->failed && !st->stopped_by)
		rc = st->total.rejected ? CLI_FAIL : CLI_OK;
	intake_stop(st->intake); /* a first signal meanwhile lets the commit end */
	import_restore_signals(old_actions);
	import_close_rejects(st);
	if (st->rejects_errno)
		rc = CLI_FAIL;
	import_report(st);
out:
	import_close_rejects(st);
	for (size_t i = 0; i < st->n_errors; i++)
		free(st->errors[i]);
	import_warnings_free(&st->read_warnings);
	import_warnings_free(&st->writer_warnings);
	if (st->inst) {
		plugin_instance_destroy(st->inst);
		plugin_registry_close(&reg);
	}
	hub_free(st->pending);
	hub_free(st);
	if (in && in != stdin)
		fclose(in);
	return rc;
}
