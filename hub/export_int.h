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
	unsigned kinds_mask;      /* 0: every kind */
	const char **attributes;  /* NULL: every attribute */
	size_t n_attributes;
};

/* enum feed_kind of a name, or -1. */
int feed_kind_parse(const char *name);
const char *feed_kind_list(void);

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
/* The saved cursor and end of the planned batch, 0 when none. */
int export_cursor_load(struct store *s, const char *name, int64_t *cursor);
int export_batch_end_load(struct store *s, const char *name, int64_t *end);

/* Live counters the status shows for a running export (copied under the
 * exporter's lock). */
struct export_live {
	const char *state;       /* starting idle delivering retrying disabled stopped */
	int64_t cursor;
	int64_t delivered;
	int64_t dead_lettered;
	char last_error[512];
	int64_t last_error_at_ms;
	int64_t next_attempt_at_ms;
};

/* Copies the live state of export `name`; 1 found, 0 not running. */
int export_live_get(struct exporter *ex, const char *name, struct export_live *out);

#endif
