/*
 * testhub.h - a hub world for unit tests: a temp dir, a config, a store
 * (SQLite, or PostgreSQL when HUB_TEST_STORE=postgres: see teststore.h) and
 * an intake writer, with helpers to apply canonical JSON records and read
 * every live profile back as documents (like `profilehub dump`).
 */
#ifndef HUB_TESTHUB_H
#define HUB_TESTHUB_H

#include "../../hub/config.h"
#include "../../hub/intake.h"
#include "../../hub/record.h"
#include "../../hub/store.h"

#include <jansson.h>

struct testhub {
	char *dir;
	char *schema;           /* PostgreSQL: this world's schema; NULL on SQLite */
	char *store_yaml;       /* the `store:` section of cfg (teststore_yaml), for
				 * a test that loads another config on the same store */
	struct hub_config *cfg;
	struct intake *intake;
	struct store *reader;   /* a second connection for reads */
	struct store *writer;   /* the intake's own (borrowed): a test arms its fault
				 * injection while the intake is idle */
	struct record_rules rules;
	struct unify_counts counts;
	char err[1024];
};

/* Starts a world; `yaml_extra` is appended to a config that sets the store
 * (may be NULL).  Returns NULL and prints on failure. */
struct testhub *testhub_start(const char *yaml_extra);
void testhub_stop(struct testhub *th);

/* Applies JSON Lines text (one batch per call); counts add up in th->counts,
 * rejected records included.  Returns 0, or -1 on a store failure. */
int testhub_apply_lines(struct testhub *th, const char *jsonl);
/* testhub_apply_lines() through another intake writer on the same store
 * (another process's, with a configuration of its own). */
int testhub_apply_lines_via(struct testhub *th, struct intake *in, const char *jsonl);
/* Applies already-validated records as one batch (takes ownership). */
int testhub_apply_records(struct testhub *th, struct record **recs, size_t n);

/* Every live profile document, sorted by profile ID (new reference). */
json_t *testhub_dump(struct testhub *th, long n_events);

#endif
