/*
 * export_int.h - what the exporter's files share (export.c: its start and
 * stop and what other threads ask of it; export_worker.c: the threads and
 * reactions; export_commit.c: what a worker writes to the store under its
 * lease; export_feed.c: the change JSON; export_status.c: saved state and
 * the status document).  Not for the rest of the hub: see export.h.
 */
#ifndef HUB_EXPORT_INT_H
#define HUB_EXPORT_INT_H

#include "export.h"
#include "outage.h"
#include "plugin.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Change kinds the feed knows (bit i of feed_filter.kinds_mask). */
enum feed_kind {
	FEED_PROFILE_UPDATED = 0,
	FEED_EVENT = 1,
	FEED_MERGED = 2,
	FEED_ERASED = 3,
	FEED_N_KINDS = 4,
};

/* One outbox row, copied (the store's strings live only in its callback),
 * and the JSON text handed to the plugin (NULL: filtered out). */
struct feed_row {
	int64_t seq;
	int64_t at_ms;
	int kind;            /* enum feed_kind, -1 unknown */
	char *kind_name;
	char profile_id[PROFILE_ID_SIZE];
	char *payload;
	char *backfill_for; /* a backfill change: the one export it is for */
	char *retry_for;    /* a dead letter sent again: the one export it is for */
	int64_t retry_of;   /* ... and the seq it was dead-lettered under */
	char *text;
};

struct feed_page {
	struct feed_row *rows;
	size_t n, cap;
	int64_t until;       /* rows after this seq are not read */
	int failed;
};

/* Profile documents kept across pages (export_feed.c); one per worker. */
struct feed_docs {
	struct doc_slot *slots;
	size_t n;
	int64_t horizon;          /* the outbox's end before the current page's builds */
};

struct feed_filter {
	const char *export_name;  /* backfill changes for other exports are skipped */
	unsigned kinds_mask;      /* 0: every kind */
	const char **attributes;  /* NULL: every attribute */
	size_t n_attributes;
};

/* enum feed_kind of a name, or -1. */
int feed_kind_parse(const char *name);
const char *feed_kind_list(void);
/* The name of an enum feed_kind. */
const char *feed_kind_name(int kind);
/* The kind closest to a name that is none ("Event"), for "did you mean";
 * else NULL. */
const char *feed_kind_closest(const char *name);

/* Reads up to `limit` rows with after < seq <= until.  0, or -1 with
 * s->err set. */
int feed_page_read(struct store *s, int64_t after, int64_t until, size_t limit,
		   struct feed_page *pg);
/* Builds the text of every wanted row (profile documents read from s, or
 * from dc while current).  0, or -1 with s->err set. */
int feed_page_build(struct feed_page *pg, struct store *s, const struct feed_filter *f,
		    struct feed_docs *dc);
void feed_docs_free(struct feed_docs *dc);
void feed_page_clear(struct feed_page *pg);
void feed_page_free(struct feed_page *pg);
/* 1 when the export delivers this row. */
int feed_is_wanted(const struct feed_row *r, const struct feed_filter *f);

/* ---- backfill (export_backfill.c) --------------------------------------- */

#define EXPORT_BACKFILL_PAGE 500 /* profiles per transaction */

enum backfill_state {
	BACKFILL_NONE = 0,    /* never asked (an export with a history) */
	BACKFILL_RUNNING = 1,
	BACKFILL_DONE = 2,
};

/* What "export_backfill:<name>" holds. */
struct export_backfill {
	enum backfill_state state;
	char after[PROFILE_ID_SIZE]; /* the last profile written; "": none yet */
	int64_t sent;                /* profiles written to the feed so far */
	int64_t started_at_ms, finished_at_ms;
};

void export_key_backfill(char *buf, size_t size, const char *name);
const char *export_backfill_state_name(enum backfill_state st);
/* 0 (absent: zeroed), 1 loaded, -1 store failure.  is_held: inside a
 * write transaction, held to its end (meta_get_held). */
int export_backfill_load(struct store *s, const char *name, struct export_backfill *b,
			 int is_held);
int export_backfill_put(struct store *s, const char *name, const struct export_backfill *b);
/* A backfill from the first profile, started now. */
void export_backfill_start(struct export_backfill *b, int64_t now_ms);
/* 1 when the export committed a cursor or planned a batch before (it ran),
 * 0 when it never did, -1 store failure. */
int export_has_history(struct store *s, const char *name);
/* Inside the caller's transaction: a change for each of the next live
 * profiles after b->after (a page), b moved past them (done when the page
 * was not full).  The number written, or -1 with s->err set. */
int export_backfill_write_page(struct store *s, const char *name, struct export_backfill *b,
			       int64_t now_ms);
/* The export a feed row's payload addresses (a backfill change): 1 with
 * *name hub_malloc'd (the caller frees it), 0 for every other change, -1
 * out of memory. */
int export_backfill_target(const char *payload, char **name);

/* ---- dead letters sent again (export_redrive.c) ------------------------ */

/* A feed row's payload that addresses a retried dead letter: 1 with *name
 * (the export) and *inner (the change's own payload) allocated, the caller
 * frees them (hub_free, free); 0 for every other change; -1 out of memory. */
int export_retry_target(const char *payload, char **name, int64_t *retry_of, char **inner);

/* ---- the exports the store knows (export_known.c) ------------------------ */

#define EXPORT_NAME_SIZE 256

/* 1 when the export's config says `backfill: false` (export.c). */
int export_is_backfill_off(const struct config_instance *ci);

/* Registers every export of cfg in the store, in one transaction; one
 * with `backfill: false` that never ran starts at the feed's end then
 * (its cursor saved there).  0, or -1 with s->err set. */
int export_known_register(struct store *s, const struct hub_config *cfg);
/* The exports registered in the store that cfg does not configure (another
 * process's, or one taken out of the configurations): *names (hub_free
 * it), *n of them.  0, or -1 with s->err set. */
int export_known_elsewhere(struct store *s, const struct hub_config *cfg,
			   char (**names)[EXPORT_NAME_SIZE], size_t *n);

/* ---- saved state (export_status.c) ------------------------------------- */

/* What "export_state:<name>" holds. */
struct export_saved {
	int is_disabled;
	char error[512];
	int64_t error_at_ms;
	int is_error_past;      /* delivered since the error */
	char fingerprint[20];   /* of the config the state was saved under */
};

/* The store keys of an export. */
void export_key_cursor(char *buf, size_t size, const char *name);
void export_key_state(char *buf, size_t size, const char *name);
void export_key_batch_end(char *buf, size_t size, const char *name);

/* The fingerprint of the export's whole config mapping (secrets included,
 * so a new secret counts as a change): "s:" and 16 hex digits of a slow,
 * salted hash, so that the store's copy gives no fast test of a guessed
 * secret (export_status.c).  Some 0.1 s: computed only for a disable,
 * once a config in a process (later calls find it in memory).  0 or -1. */
int export_fingerprint(const struct config_instance *ci, char out[20]);
/* How many fingerprints this process computed (not found in memory): tests. */
unsigned export_fingerprint_n_computed(void);
/* Whether saved (a state's fingerprint) is of ci's config: equal to fp
 * (export_fingerprint(ci); "" when it could not be computed), or the plain
 * SHA-256 fingerprint older versions saved, of the same config. */
int export_fingerprint_is_of(const struct config_instance *ci, const char *saved,
			     const char *fp);
/* Whether saved is of the older, fast form. */
int export_fingerprint_is_legacy(const char *saved);
/* Replaces in the store the older fingerprint `legacy` of export name's
 * disable with fp, in a transaction of its own, unless the state changed
 * since.  0, or -1 with s->err set. */
int export_fingerprint_upgrade(struct store *s, const char *name, const char *legacy,
			       const char *fp);

/* 0 (absent: zeroed), 1 loaded, -1 store failure. */
int export_saved_load(struct store *s, const char *name, struct export_saved *st);
int export_saved_put(struct store *s, const char *name, const struct export_saved *st);
/* Stores v (a reference it takes; NULL: out of memory) as compact JSON
 * under key.  0, or -1 with s->err set. */
int export_meta_put_json(struct store *s, const char *key, json_t *v);
/* The saved cursor and end of the planned batch, 0 when none. */
int export_cursor_load(struct store *s, const char *name, int64_t *cursor);
int export_batch_end_load(struct store *s, const char *name, int64_t *end);

/* Live counters the status shows for a running export (copied under the
 * exporter's lock). */
struct export_live {
	const char *state;       /* starting idle delivering retrying disabled stopped,
				    "held by another process" */
	int lease;               /* 1 this worker holds the export's lease, -1
				    another process does (or took it), 0 not
				    tried (starting, stopped) */
	int64_t cursor;
	int64_t delivered;
	int64_t dead_lettered;
	char last_error[512];
	int64_t last_error_at_ms;
	int is_error_past;       /* delivered since last_error */
	int64_t next_attempt_at_ms; /* when "retrying" tries again; 0 in any other state */
	int64_t failing_began_ms; /* monotonic: w->failing began; 0: not failing */
	int64_t failed_attempts;  /* w->failing's count: attempts failed in a row */
};

/* Copies the live state of export `name`; 1 found, 0 not running. */
int export_live_get(struct exporter *ex, const char *name, struct export_live *out);

/* export_lag_provider() on the caller's connection s (only read).  Returns
 * how many, or -1 with s->err set. */
int export_lag_read(struct exporter *ex, struct store *s, const struct hub_config *cfg,
		    struct export_lag *out, size_t max);

/* ---- the exporter and its workers (export.c, export_worker.c) ---------- */

/* A line that may repeat once per change or batch, logged at most once
 * every LOG_EVERY_MS (export_worker.c, log_every_due()). */
#define LOG_EVERY_MS 10000
struct log_every {
	int is_logged;
	int64_t logged_ms;  /* monotonic: its last line */
	int64_t n_unlogged; /* occurrences since, not logged */
};
/* Whether l's line is due at now_ms (monotonic); when it is, *n_since is
 * how many occurrences it stands for besides itself. */
int export_log_every_due_at(struct log_every *l, int64_t now_ms, int64_t *n_since);

struct export_worker {
	struct exporter *ex;
	const struct config_instance *conf; /* borrowed from the config */
	const struct plugin_module *mod;
	struct hub_instance *inst;          /* NULL: create() failed */
	char create_error[512];
	struct feed_filter filter;
	size_t batch_size;
	char fingerprint[20];               /* the worker thread's, computed when
					       first needed: export_worker_fingerprint() */
	char who[80];                       /* "export crm_feed" for logs */
	pthread_t thread;
	int has_thread;
	int is_exited;                      /* under exporter.lock: the thread's last
					       step is done (worker_join waits for it) */

	/* the worker thread's own */
	struct store *store;
	struct feed_page page;
	struct feed_docs docs;
	size_t page_limit;                  /* the limit the page was read with */
	const char **texts;                 /* texts_cap entries */
	size_t *rows;                       /* row index of texts[i] */
	size_t texts_cap;
	int64_t cursor;                     /* committed */
	int64_t batch_end;                  /* committed: the batch after cursor
					       ends here (<= cursor: none) */
	int64_t isolate_until;              /* one change per call up to this seq */
	struct log_every dead_log;          /* "change N was dead-lettered" */
	struct log_every isolate_log;       /* "... sending them one at a time" */
	unsigned attempt;
	struct outage failing;              /* deliveries failing, logged as a state */
	struct outage save_failing;         /* cursor saves failing (export_commit.c) */
	struct outage dead_failing;         /* dead-letter saves failing (the same) */
	int64_t sent_end;                   /* the plugin took the changes up to
					       here (past cursor: unsaved) */
	int is_sent_told;                   /* save_failing said that they may
					       be sent again */
	int64_t wait_ms;
	uint64_t rng;
	struct export_saved saved;
	int is_saved_dirty;
	int is_enable_told;    /* "configuration changed ...: enabled again" logged */
	int is_disable_unsaved; /* disabled here, the store refused to save it */
	int64_t unsaved_epoch;  /* while it is: the epoch of this process's last take
				   of the lease (a take of another process since:
				   its disable is dropped, not saved over newer state) */
	int64_t lease_epoch;                /* of the lease held; 0: none (a store
					       without leases); -1: lost or held
					       by another process (fenced off:
					       nothing is committed until the
					       lease is taken) */
	int is_backfill_on;                 /* `backfill` and profile_updated wanted */
	int64_t backfill_until;             /* the feed's end when this worker last
					       wrote a backfill page: the next page
					       waits until the cursor passes it
					       (-1: unknown, after a load) */
	int64_t backfill_looked_ms;         /* when export_worker_backfill_beside last looked */
	int is_delivering;                  /* its last call delivered changes */
	int is_backfill_new;                /* never ran: its backfill is to be
					       saved as started (export_worker_backfill_begin) */

	/* under ex->lock */
	struct export_live live;
	uint64_t idle_gen;                  /* wake_gen of its last read to the end */
	int is_unsaved_shared;              /* is_disable_unsaved, for the API's enable */
	int is_enable_asked;                /* the API's enable found it: the worker
					       drops its unsaved disable */
};

struct exporter {
	const struct hub_config *cfg;
	struct plugin_registry reg;
	int has_reg;
	struct export_worker *workers;
	size_t n_workers;
	atomic_int stop;
	pthread_mutex_t lock;
	pthread_cond_t wake;  /* new changes or stop: idle workers wait on it */
	pthread_cond_t idle;  /* a worker read to the end or stopped */
	uint64_t wake_gen;    /* bumped by export_notify and export_wait_idle */
	pthread_mutex_t status_lock; /* guards status_store and status_outage (API threads) */
	struct store *status_store;
	struct outage status_outage; /* GET /v1/exports that could not read the store
					(status_outage_words) */
	/* the lag for GET /metrics (export_lag_provider): one read at a time,
	 * on a connection of its own, so that a read the store keeps waiting
	 * holds up neither the status nor the other scrapes (they show the
	 * last read's lag, kept under lock, and its age) */
	pthread_mutex_t lag_lock;    /* guards lag_store and lag_outage */
	struct store *lag_store;
	struct outage lag_outage;    /* scrapes whose lag could not be read
					(lag_outage_words) */
	struct export_lag *lag_kept; /* under lock: the last read's (cfg->n_exports) */
	size_t n_lag_kept;           /* under lock: 0 after a failed read */
	int64_t lag_kept_ms;         /* under lock: when it was read, monotonic */
	void (*lag_hook)(void *ctx, struct store *s); /* tests; set before use */
	void *lag_hook_ctx;
	int64_t prune_next_ms;       /* under lock: when the next pass is due */
	pthread_mutex_t prune_lock;  /* one pruning pass at a time */
	int is_held_noted;           /* under prune_lock: an export known from
					elsewhere held the feed, logged once */
};

/* The thread of a worker (arg: its struct export_worker), started by
 * export_start(): delivers until the exporter stops or the export is
 * disabled, then releases its lease and closes its store. */
void *export_worker_main(void *arg);

/* ---- what a worker writes to the store (export_commit.c) ---------------- */

/* All called on the worker's thread, on its own connection. */

/* The worker's config fingerprint (export_fingerprint()), computed on the
 * first call (slow: only a disable needs it); "" when it could not be
 * (out of memory: a disable saved with it ends at the next start). */
const char *export_worker_fingerprint(struct export_worker *w);

/* Changes per read after `cursor`: 1 while a refused change is isolated. */
size_t export_worker_limit(const struct export_worker *w, int64_t cursor);
/* The new cursor, the end of the next batch (planned again when `replan`),
 * the saved state when it changed and dl (NULL: none) in one transaction
 * fenced by the lease.  0, or -1 (logged; nothing changed). */
int export_worker_commit(struct export_worker *w, int64_t cursor,
			 const struct store_dead_letter *dl, int replan);
/* The saved state alone, in a transaction of its own, the lease taken for
 * it and given back (a worker waiting, disabled, holds none): 0 saved; 1
 * not, another process holds the lease (it delivers the export: its state
 * is that process's to save); 2 not, another process took the lease since
 * w->unsaved_epoch (its state may be newer: an enable, a cursor); -1
 * error (not logged). */
int export_worker_save_state(struct export_worker *w);
/* Opens the worker's own connection and loads its cursor and saved state:
 * 0; 1 the export stays disabled (same config as when it was disabled); -1
 * with err set. */
int export_worker_open_store(struct export_worker *w, char *err, size_t err_size);
/* Takes the export's lease: 1 held (the cursor reloaded on a new take), 0
 * another process holds it, -1 an error or the export is disabled (err
 * set; *is_disabled). */
int export_worker_lease(struct export_worker *w, int *is_disabled, char *err, size_t err_size);
/* The lease's name, "export:<name>". */
void export_lease_name(const struct export_worker *w, char *buf, size_t size);
/* Deletes the changes every export has passed, when a pass is due (a
 * failure is logged and tried again at the next). */
void export_worker_prune(struct export_worker *w);
/* Whether a pruning pass is due at `now` (claimed when it is); a pass
 * planned more than an interval ahead (the wall clock went back) is. */
int export_prune_is_due(struct exporter *ex, int64_t now);
/* A new export's backfill saved as started, before its first plan or
 * cursor: 0 (also when the lease was found lost), or -1 a store failure. */
int export_worker_backfill_begin(struct export_worker *w);
/* The next page of a running backfill, in a fenced transaction: when the
 * export has delivered everything before it (export_worker_backfill), or
 * while it still delivers and its last page is delivered (_beside, at most
 * once a second).  1 a page was written, 0 none is due, -1 a store failure. */
int export_worker_backfill(struct export_worker *w);
int export_worker_backfill_beside(struct export_worker *w);

#endif
