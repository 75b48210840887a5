/*
 * export.h - the exporter: for every enabled export of the config, a thread
 * with its own store connection that reads the change feed (outbox) after
 * the export's cursor, turns each change into the JSON of API.md ("The
 * change feed"), filters it (kinds, attributes), hands batches to the
 * export plugin's export_batch() and advances the cursor only after the
 * plugin reports the changes durably accepted.
 *
 * Delivery is at least once and in seq order (so in order per profile): a
 * crash between the plugin's acknowledgement and the cursor commit sends
 * the same changes again, with the same seqs.
 *
 * Reactions to a plugin's answer:
 *   HUB_OK          the n_done leading changes are delivered
 *   HUB_RETRY       full-jitter exponential backoff; a message that starts
 *                   with "retry after <N>s" (or "<N>ms") waits at least that
 *                   long (how a plugin passes an HTTP Retry-After)
 *   HUB_ERR_DATA    the change at n_done is bad: it goes to the dead letters
 *                   with the message as reason and the cursor moves past it.
 *                   When the call held more than one undelivered change the
 *                   bad one is not known: those changes are sent again one
 *                   at a time, and only a change refused alone is
 *                   dead-lettered
 *   HUB_ERR_AUTH,   the export is disabled (state "disabled", the message
 *   HUB_ERR_CONFIG  kept) until its configuration changes: the state is
 *                   saved with a fingerprint of the export's config, so a
 *                   restart with the same config stays disabled
 *   anything else   like HUB_RETRY
 * An answer that cannot be trusted (a bug in the plugin: *n_done past the
 * changes given, or a code not of enum hub_rc) counts none of the call as
 * delivered: logged (naming the export and the plugin, at most every 10 s
 * with a count), then the batch is sent again after a backoff.
 * Erase changes are always delivered, whatever `kinds` says.
 *
 * Pruning: a change is deleted from the outbox once every export of the
 * config (enabled or not, running here or in another process) has a
 * committed cursor at or past it; at most one pass per 10 s, by a worker
 * that holds its lease.  So the outbox holds what some export has still to
 * deliver, and an export added to the config later starts with what is
 * left, then its backfill (export_backfill.c: a profile_updated change for
 * every live profile, for it alone; `backfill: false` turns it off).
 * Processes sharing a store must list the same exports.
 *
 * Store keys (meta): "export_cursor:<name>" (the last handled seq, decimal),
 * "export_state:<name>" (JSON: state, last error, config fingerprint) and
 * "export_backfill:<name>" (JSON: state, position, profiles written).
 */
#ifndef HUB_EXPORT_H
#define HUB_EXPORT_H

#include "config.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>

struct exporter;

/* Registers every export of cfg in store s (export_known.c), as a
 * process that writes the change feed for them does before its first
 * write (intake_start()): one with `backfill: false` the store did not
 * know starts at the feed's end then.  0, or -1 with err set. */
int export_register_in(struct store *s, const struct hub_config *cfg, char *err, size_t err_size);

/*
 * Loads the plugins, checks every enabled export against its plugin (a
 * missing plugin, an unknown key or a bad `kinds` value fails the start
 * with "file:line:col: ..."), then starts one thread per enabled export.
 * A plugin whose create() fails leaves its export disabled until the hub
 * restarts, not the hub stopped: in the log and the running hub's status
 * (GET /v1/exports), not saved (`profilehub exports` shows the saved
 * state).  No export configured: *out is a valid, empty exporter.  Returns 0, or -1 with err set.
 */
int export_start(struct exporter **out, const struct hub_config *cfg, char *err,
		 size_t err_size);

/* The exporter's own keys of one export entry (`kinds`, `batch_size`), as
 * export_start() reads them: 0, or -1 with "file:line:col: ..." in err.
 * For `profilehub check`. */
int export_check_config(const struct config_instance *ci, char *err, size_t err_size);

/* Stops every thread after its batch in progress (its cursor committed)
 * and frees everything.  A plugin that does not return from export_batch()
 * holds it up: every 10 s the log names the export and its plugin.  NULL is
 * ignored. */
void export_stop(struct exporter *ex);

/* Wakes the threads waiting for new changes (they also poll the outbox
 * every EXPORT_POLL_MS).  May be called from any thread. */
void export_notify(struct exporter *ex);

#define EXPORT_POLL_MS 100

/* Waits until every running export has read the outbox to its end at
 * least once after this call (or is disabled), at most timeout_ms.
 * Returns 0, or -1 on timeout.  For tests and benchmarks. */
int export_wait_idle(struct exporter *ex, int64_t timeout_ms);

/*
 * The state of every configured export as
 *   {"exports": [{"name", "plugin", "enabled", "state", "cursor", "last_seq",
 *                 "lag", "delivered", "dead_lettered", "last_error",
 *                 "last_error_at", "next_attempt_at", "backfill": null or
 *                 {"state": "running"|"done", "profiles", "started_at",
 *                  "finished_at", "waiting"}, "dead_letters": [{"seq", "at",
 *                 "reason"}, ...]}, ...],
 *    "elsewhere": [{"name", "cursor"}, ...]}
 * where "lag" is last_seq - cursor (a distance in seqs, cheap to find: it
 * bounds what is left to deliver, and counts seqs an erasure deleted and
 * other exports' backfill and retried changes too; 0: caught up), and
 * "elsewhere" lists the exports the store knows that this
 * configuration does not have (export_known.c): they hold the feed.
 * `ex` is the running exporter of this process or NULL (then the state
 * saved in the store is shown; counters are absent).  The cursor is the
 * store's unless this process holds the export's lease, and so is the
 * last error while another process holds it.  `s` is a store
 * connection the caller owns and uses on this thread; only read.  Dead
 * letters: the first dead_letters_max of each export.  Returns a new
 * reference, or NULL with err set.  Never contains a change's content.
 */
json_t *export_status_json(struct exporter *ex, struct store *s, const struct hub_config *cfg,
			   size_t dead_letters_max, char *err, size_t err_size);

/* A page of dead letters: the default and the most (GET /v1/exports shows
 * the first EXPORT_DEAD_LETTERS_PAGE of each export). */
#define EXPORT_DEAD_LETTERS_PAGE 100
#define EXPORT_DEAD_LETTERS_PAGE_MAX 1000

/*
 * One page of export `name`'s dead letters, lowest seq first, those after
 * seq `after` (0: from the first), at most `limit` (1..PAGE_MAX):
 *   {"export", "dead_letters": [{"seq", "at", "reason"}, ...],
 *    "dead_letters_total", "next": "<seq>" or null}
 * where "next" is the last seq listed while more follow (the next page is
 * after it), and "dead_letters_total" counts all of the export's, read in
 * the caller's snapshot of `s` (GET /v1/exports/<name>/dead_letters,
 * `profilehub exports dead-letters NAME`).  Never a change's content.
 * A new reference, or NULL with err set.
 */
json_t *export_dead_letters_page(struct store *s, const char *name, int64_t after,
				 size_t limit, char *err, size_t err_size);

/* Tests: hook(ctx) runs in export_dead_letters_page() between its read of
 * the page and its read of the total (to commit a dead letter between
 * them).  NULL: none.  Set before use, on the thread that reads. */
void export_set_dead_letters_hook(void (*hook)(void *ctx), void *ctx);

/* export_status_json() for the management API (GET /v1/exports), shaped
 * as struct api_providers.exports_status with ctx = the running exporter:
 * reads through a store connection of the exporter's own, one caller at a
 * time; the first 100 dead letters of each export.  NULL on failure
 * (logged). */
json_t *export_status_provider(void *exporter);

/* One export's place in the change feed, as GET /metrics shows it. */
struct export_lag {
	const char *name;        /* the config's */
	int64_t cursor;          /* as the status's "cursor" */
	int64_t last_seq;        /* the feed's end (the status's "last_seq") */
};

/* What GET /metrics shows of an export this process runs, from its live
 * state (no store read): counts since the process started. */
struct export_stat {
	const char *name;        /* the config's */
	int64_t delivered;       /* changes its plugin accepted */
	int64_t dead_lettered;   /* changes it dead-lettered */
	int is_disabled;         /* disabled: waits for a config change or `exports enable` */
	int is_leased;           /* this process holds its lease (it delivers) */
	int64_t failing_ms;      /* how long its attempts have failed in a row; 0: not */
	int64_t failed_attempts; /* attempts failed in a row (0: its last delivered) */
	int is_failing;          /* its last attempt failed: it retries with backoff */
};

/* out[i] for each export this process runs (at most max; an export that
 * is `enabled: false` has none); how many. */
size_t export_stats(struct exporter *ex, struct export_stat *out, size_t max);

/* How many exports the configuration of ex lists, enabled or not (0 for
 * NULL). */
size_t export_count(const struct exporter *ex);

/* For GET /metrics: out[i] for each export of the configuration (at most
 * max), read as export_status_json() reads them (the live cursor while
 * this process holds the lease) on a connection of the exporter's own for
 * this read alone: per export one meta read and export_outbox_last_seq's
 * O(log n) indexed probes, never a scan of the feed.  One read at a time:
 * a scrape that comes while another's read is under way (a store that
 * stopped answering keeps it waiting) does not wait for it but gets what
 * the last read found, with *age_ms since that read (0 for a read of its
 * own); the status (export_status_provider) never waits for either.
 * Returns how many, or -1 on a store failure (logged as an outage: the
 * first, then at most one line a minute, and one when a scrape reads it
 * again; nothing is kept from before it). */
int export_lag_provider(struct exporter *ex, struct export_lag *out, size_t max,
			int64_t *age_ms);

/* ---- pieces, exposed for tests ---------------------------------------- */

/* The wait before retry number `attempt` (0-based): a uniform draw from
 * [0, min(cap, base * 2^attempt)] made from `random` (full jitter), and
 * never less than retry_after_ms.  In ms. */
int64_t export_backoff_ms(unsigned attempt, int64_t retry_after_ms, uint64_t random);


/* Tests: the backoff's base and cap (defaults 200 ms and 30 s). */
void export_set_backoff(int64_t base_ms, int64_t cap_ms);

/* Tests: the least time between two pruning passes of the change feed
 * (default 10 s; 0: at every step of a worker, so a worker caught up has
 * pruned before export_wait_idle() returns). */
void export_set_prune_interval(int64_t ms);

/* Tests: how often a stop held up by a plugin says so, in whole seconds
 * (default 10; 0 or less: the default); returns the previous value. */
int64_t export_set_stop_note(int64_t s);

/* Tests: how often a disabled export reads its saved state (default 1 s;
 * 0 or less: the default). */
void export_set_enable_poll(int64_t ms);

/* Tests: the Nth load of a worker's cursor and state (at its start and at
 * each new lease take) fails as a store error would (0: off). */
void export_set_load_fault(int nth);

/* Tests: while on, a worker's save of its own disable fails as a store that
 * refuses writes would (its other writes go through). */
void export_set_disable_save_fault(int on);
/* Tests: how many saves that fault refused since the start. */
int export_disable_save_refusals(void);

/* Tests: the next n commits of a worker's cursor are refused, as by a
 * store that cannot write (0: off). */
void export_set_cursor_save_fault(int n);

/* Tests: hook(ctx, s) runs on the thread of each read of the lag for
 * GET /metrics, just before it reads the store s (to stall it as a store
 * that stopped answering would).  Set before any scrape. */
void export_set_lag_hook(struct exporter *ex, void (*hook)(void *ctx, struct store *s),
			 void *ctx);

/* For tests: profiles per backfill transaction (0: the default). */
void export_set_backfill_page(size_t n);

/*
 * Asks for a backfill of export `name` (`profilehub exports backfill`): a
 * profile_updated change for every live profile, from the first, in its
 * own transaction.  A hub running the export starts it once the export has
 * delivered what is before it; one already running starts over.  0, or -1
 * with s->err set.
 */
int export_backfill_request(struct store *s, const char *name);

/* Sets on obj what export ci is limited to, as its privacy access
 * document's recipient says it: "kinds" (names, when it lists some) and
 * "attributes" (when it lists some).  0, or -1 out of memory. */
int export_filters_json(const struct config_instance *ci, json_t *obj);

/* The export of cfg named `name`, or NULL. */
const struct config_instance *export_config(const struct hub_config *cfg, const char *name);

/* Can export `name` of cfg be backfilled?  EXPORT_BACKFILL_OK, or why not
 * (err says it for people). */
enum export_backfill_check {
	EXPORT_BACKFILL_OK = 0,
	EXPORT_BACKFILL_NO_EXPORT = 1,    /* no export of that name */
	EXPORT_BACKFILL_NO_UPDATES = 2,   /* its kinds leave out profile_updated */
	EXPORT_NOT_STARTED = 3,           /* enable: its plugin could not start here */
	EXPORT_OFF = 4,                   /* enable: `enabled: false` in the configuration */
	EXPORT_NOT_RUNNING = 5,           /* retry: no process runs it (export_retry_check) */
};
enum export_backfill_check export_backfill_check(const struct hub_config *cfg, const char *name,
						 char *err, size_t err_size);

/* POST /v1/exports/<name>/backfill: export_backfill_check(), then
 * export_backfill_request() on the exporter's status connection, and the
 * workers woken.  0; 1 (EXPORT_BACKFILL_* in *why, err set); -1 the store
 * failed (err set). */
int export_backfill_provider(void *exporter, const char *name, int *why, char *err,
			     size_t err_size);

/*
 * Sends the dead letters of export `name` again (`profilehub exports retry`):
 * each becomes a new change in the feed for that export alone ("retry_of":
 * its seq; the profile as it is when delivered, the survivor of a merge
 * since; skipped if the profile was erased since, an erasure aside) and
 * leaves the dead letters, a page per transaction.  Only those there when
 * it starts: one refused again is dead-lettered anew.  *n_retried: how
 * many.  0, or -1 with s->err set.
 */
int export_dead_letters_retry(struct store *s, const char *name, int64_t now_ms,
			      int64_t *n_retried);

/*
 * Would a retry of export `name`'s dead letters reach a process that sends
 * them?  A retry only puts them back in the feed, for the export's worker:
 * for an export no process runs they would wait there for no one, out of
 * sight (no longer dead letters, their reasons gone) until `exports
 * forget` deletes them.  1 yes: cfg runs it (enabled: its hub sends them,
 * now or once it starts), or another process holds its lease now (it runs
 * it); 0 no (why says so, nothing changed); -1 with s->err set.  Outside
 * a transaction.  A process that stops right after the check leaves them
 * in the feed, held for it, as a hub stopped after any retry does.
 */
int export_retry_check(struct store *s, const struct hub_config *cfg, const char *name,
		       char *why, size_t why_size);

/* POST /v1/exports/<name>/dead_letters/retry: the export must exist, in
 * the configuration or known to the store from another's (export_exists():
 * the retried changes wait in the feed for its worker, wherever it runs)
 * (1, EXPORT_BACKFILL_NO_EXPORT in *why) and be run by some process
 * (export_retry_check(): 1, EXPORT_NOT_RUNNING, nothing changed), then
 * export_dead_letters_retry() on a connection of its own (its transactions
 * must not hold up the status reads) and the workers woken.  0
 * (*n_retried set), or -1 the store failed (err set). */
int export_retry_provider(void *exporter, const char *name, int *why, int64_t *n_retried,
			  char *err, size_t err_size);

/*
 * Enables export `name` again after an error disabled it (refused
 * credentials, a wrong URL, a missing table: fixed at the receiver, its
 * configuration unchanged): `profilehub exports enable NAME`.  The store
 * forgets the disable; a hub running the export sees it within a second
 * (export_enable_provider() at once) and delivers from its cursor.
 * *was_disabled: the store had it disabled.  0, or -1 with s->err set.
 */
int export_enable(struct store *s, const char *name, int *was_disabled);

/* POST /v1/exports/<name>/enable: the export must exist (1,
 * EXPORT_BACKFILL_NO_EXPORT in *why, err set), be on in the configuration
 * (1, EXPORT_OFF: nothing changed) and its plugin have started
 * in this process (1, EXPORT_NOT_STARTED: only a restart creates it
 * again), then export_enable() on the exporter's status connection and the
 * workers woken.  0 (*was_disabled set), or -1 the store failed (err set). */
int export_enable_provider(void *exporter, const char *name, int *why, int *was_disabled,
			   char *err, size_t err_size);

/*
 * `profilehub exports forget NAME`: the store stops knowing export NAME
 * (taken out of every configuration): it no longer holds the change feed,
 * and its cursor, saved state and dead letters go.  Refused (-1) while a
 * process runs it (PostgreSQL: holds its lease); refuse a name the
 * configuration still has (the caller does).  *was_known: it was
 * registered.  0, or -1 with s->err set.
 */
int export_forget(struct store *s, const char *name, int *was_known);
/* For a name export_forget() did not know: " (did you mean \"y\"?; the
 * store knows, outside the configuration: y, z)", or that it knows none
 * (a typo must not leave the real one holding the feed unsaid).  Into
 * buf ("" when the store cannot be read); returns buf. */
const char *export_forget_missing(struct store *s, const struct hub_config *cfg,
				  const char *name, char *buf, size_t size);

/* 1 when the store knows export `name` (a hub registered it: this
 * configuration's, or another's sharing the store), 0 when not, -1 on a
 * store failure (s->err). */
int export_is_known(struct store *s, const char *name);

/* 1 when cfg configures export `name` or the store knows it from another
 * configuration sharing it ("elsewhere" in export_status_json()), 0 when
 * neither does, -1 on a store failure (s->err). */
int export_exists(struct store *s, const struct hub_config *cfg, const char *name);

/* The export name closest to `name` (a typo's "did you mean") among those
 * cfg configures and, s not NULL, those the store knows from other
 * configurations, into buf ("" when none is close).  0, or -1 when the
 * store could not be read (s->err; buf then from cfg alone) or out of
 * memory. */
int export_closest_name(struct store *s, const struct hub_config *cfg, const char *name,
			char *buf, size_t size);

/* Inside the caller's write transaction, before it takes any other lock:
 * 1 when the store knows an export (export_known.c), 0 when none, -1 on a
 * store failure.  The answer holds until the transaction ends: an export
 * registered meanwhile waits for it (several writers), or it sees the
 * export. */
int export_known_any(struct store *s);

/* The largest seq in the outbox, found with O(log n) indexed probes;
 * `floor` is returned when there is none above it.  0, or -1 on a store
 * failure. */
int export_outbox_last_seq(struct store *s, int64_t floor, int64_t *last);

#endif
