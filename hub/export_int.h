/*
 * export_int.h - what the exporter's files share (export.c: threads and
 * reactions; export_feed.c: the change JSON; export_status.c: saved state
 * and the status document).  Not for the rest of the hub: see export.h.
 */
#ifndef HUB_EXPORT_INT_H
#define HUB_EXPORT_INT_H

#include "export.h"

#include <stddef.h>
#include <stdint.h>

/* Change kinds the feed knows (bit i of feed_filter.kinds_mask). */
enum feed_kind {
	FEED_PROFILE_UPDATED = 0,
	FEED_EVENT = 1,
	FEED_MERGED = 2,
	FEED_ERASED = 3,
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

/* Registers every export of cfg in the store, in one transaction.  0, or
 * -1 with s->err set. */
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
	char fingerprint[20];   /* of the config the state was saved under */
};

/* The store keys of an export. */
void export_key_cursor(char *buf, size_t size, const char *name);
void export_key_state(char *buf, size_t size, const char *name);
void export_key_batch_end(char *buf, size_t size, const char *name);

/* Hex digest of the export's whole config mapping (secrets included, so a
 * new secret counts as a change).  0 or -1. */
int export_fingerprint(const struct config_instance *ci, char out[20]);

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
	const char *state;       /* starting idle delivering retrying disabled stopped */
	int lease;               /* 1 this worker holds the export's lease, -1
				    another process does (or took it), 0 not
				    tried (starting, stopped) */
	int64_t cursor;
	int64_t delivered;
	int64_t dead_lettered;
	char last_error[512];
	int64_t last_error_at_ms;
	int64_t next_attempt_at_ms;
};

/* Copies the live state of export `name`; 1 found, 0 not running. */
int export_live_get(struct exporter *ex, const char *name, struct export_live *out);

/* export_lag_provider() on the caller's connection s (only read).  Returns
 * how many, or -1 with s->err set. */
int export_lag_read(struct exporter *ex, struct store *s, const struct hub_config *cfg,
		    struct export_lag *out, size_t max);

#endif
