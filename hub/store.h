/*
 * store.h - the storage interface: one struct of function pointers per
 * backend (store_sqlite.c, later store_pg.c).  The unification engine
 * (unify.c) and the profile document (profile.c) are written against these
 * primitives only, so every backend produces the same profiles byte for
 * byte.  Nothing outside store_*.c knows an SQL dialect.
 *
 * Threading: a struct store is one connection, used by one thread at a time
 * (the intake writer owns its own; readers open their own).
 *
 * Return values: 0 success, 1 "found" where a function looks something up,
 * -1 failure with the message in the store's error buffer (store_error()).
 * Strings passed in are borrowed; strings handed to callbacks are valid only
 * during the callback; the strings of a struct a lookup fills (attr_get,
 * consent_get) are the store's, valid until its next call.
 */
#ifndef HUB_STORE_H
#define HUB_STORE_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

#define PROFILE_ID_SIZE 24 /* "p_" + 16 base32 chars + NUL, with room */

struct store;

#define CUSTOM_ID_SIZE 1025 /* 1024 bytes + NUL (IDENTITY.md section 1) */

/* A profile row, self-contained. */
struct store_profile {
	char id[PROFILE_ID_SIZE];
	int64_t seq;              /* creation order */
	int is_anonymous;
	char custom_id[CUSTOM_ID_SIZE]; /* "" when anonymous */
	char merged_into[PROFILE_ID_SIZE]; /* "" when live */
	int merge_count;
	int64_t created_at_ms;
};

/* last_seen of an installation never seen: below any time, so the first
 * sighting (at the epoch, 0, or before it) takes its place.  0 was "never"
 * before: a row an older hub left at 0 reads as seen at 0 (every hub
 * touches an installation in the transaction that attaches it). */
#define STORE_NEVER_SEEN INT64_MIN
#define STORE_NEVER_SEEN_SQL "(-9223372036854775807 - 1)"

/* An identifier held by a profile.  Installation columns are meaningful
 * for type "installation_id" only. */
struct store_ident {
	const char *type;
	const char *value;
	const char *profile_id;
	const char *platform;    /* NULL: unknown */
	int64_t last_seen_ms;    /* STORE_NEVER_SEEN: never */
	int push_enabled;        /* -1 unset, 0, 1 */
};

struct store_attr {
	const char *key;
	const char *value_json;  /* NULL when deleted */
	int type;                /* enum attr_type */
	int64_t ts_ms;
	int is_deleted;
	int64_t changed_at_ms;   /* wall time of the last change (for the view) */
};

struct store_consent {
	const char *channel;     /* "email_marketing" | "sms_marketing" */
	const char *state;       /* "subscribed" | "unsubscribed" | NULL (unset) */
	int64_t ts_ms;
	const char *source;
};

struct store_event {
	int64_t seq;             /* store order, for paging */
	const char *profile_id;
	int64_t ts_ms;
	const char *source;
	const char *message_id;
	const char *name;
	const char *properties_json;
};

struct store_log_entry {
	int64_t seq;             /* row order, numbered by log_append (for paging) */
	int64_t at_ms;           /* record time */
	const char *profile_id;
	const char *action;      /* attach detach move merge create rename erase
				    merge_refused (unify.c: a cap or limit) */
	const char *id_type;     /* may be NULL */
	const char *id_value;    /* may be NULL */
	const char *other_profile_id; /* merge: absorbed; move: from */
	const char *reason;      /* "login", "logout", "record m12 (web)" ... */
};

/* One row of the change feed (outbox).  payload_json is the kind's own
 * part (the event for "event", {"merged_from": [...]} for "merged", the
 * erased identifier types for "erased", "{}" for "profile_updated"). */
struct store_change {
	int64_t seq;             /* monotonic, assigned by the store */
	const char *kind;        /* profile_updated | event | merged | erased */
	const char *profile_id;
	int64_t at_ms;
	const char *payload_json;
};

struct store_dead_letter {
	const char *export_name;
	int64_t seq;
	const char *profile_id;  /* whose change it is (erase deletes it) */
	int64_t at_ms;           /* when it was dead-lettered */
	const char *reason;
	const char *change_json;
};

/* The callbacks of a listing: a row's strings last until the callback
 * returns; nonzero stops the listing.  The listing's arguments (a cursor,
 * a key, a prefix) are read while it runs (SQLite binds them as they
 * are): a callback must not change or free them. */
typedef int (*store_change_cb)(void *ctx, const struct store_change *c);
typedef int (*store_dead_letter_cb)(void *ctx, const struct store_dead_letter *d);
typedef int (*store_ident_cb)(void *ctx, const struct store_ident *id);
typedef int (*store_attr_cb)(void *ctx, const struct store_attr *a);
typedef int (*store_consent_cb)(void *ctx, const struct store_consent *c);
typedef int (*store_event_cb)(void *ctx, const struct store_event *e);
typedef int (*store_log_cb)(void *ctx, const struct store_log_entry *e);
typedef int (*store_profile_cb)(void *ctx, const struct store_profile *p);
typedef int (*store_meta_cb)(void *ctx, const char *key, const char *value);

struct store_ops {
	const char *name;
	/* 1: the backend serializes all writers itself (SQLite's one write
	 * lock): ident_lock does nothing, and callers may skip building its
	 * list of identifiers */
	int has_one_writer;

	/* connection and transactions */
	void (*close)(struct store *s);
	int (*begin)(struct store *s);
	int (*commit)(struct store *s);      /* durable (fsync) on return */
	int (*rollback)(struct store *s);
	int (*savepoint)(struct store *s);   /* one level: a batch */
	int (*savepoint_release)(struct store *s);
	int (*savepoint_rollback)(struct store *s);
	/* optional (may be NULL): one consistent read snapshot for several
	 * reads (a profile document), and one lock instead of one per read */
	int (*read_begin)(struct store *s);
	int (*read_end)(struct store *s);

	/* meta: small key/value settings (schema version, id key, counters) */
	int (*meta_get)(struct store *s, const char *key, char *out, size_t out_size);
	int (*meta_put)(struct store *s, const char *key, const char *value);
	/* meta_get that holds the value until the transaction ends, so that a
	 * writer of the key waits for this transaction (PostgreSQL: FOR SHARE;
	 * SQLite's write lock already does).  The fence of a cursor reads a
	 * lease's epoch with it (intake.c, export_commit.c): a lease taken by another
	 * process meanwhile lands either after this transaction or is seen. */
	int (*meta_get_held)(struct store *s, const char *key, char *out, size_t out_size);
	/* every key starting with prefix, in key order (a few: not for a
	 * big table) */
	int (*meta_list)(struct store *s, const char *prefix, store_meta_cb cb, void *ctx);
	int (*meta_delete)(struct store *s, const char *key); /* none there: no error */

	/* dedupe: 1 when (source, message_id) was new and is now remembered,
	 * 0 when it was already there */
	int (*dedupe_add)(struct store *s, const char *source, const char *message_id);
	int (*dedupe_remove)(struct store *s, const char *source, const char *message_id);

	/* erasure block list */
	int (*block_get)(struct store *s, const char *type, const char *value,
			 int64_t *until_ms);          /* 1 found */
	int (*block_put)(struct store *s, const char *type, const char *value,
			 int64_t until_ms);           /* keeps the later */
	int (*block_any)(struct store *s);           /* 1 when the list is not empty */
	/* deletes at most `limit` blocks that ended at or before upto_ms
	 * (until <= upto_ms), in the caller's transaction; *n_deleted says
	 * how many (fewer than limit: none is left, or PostgreSQL skipped
	 * rows other transactions hold, for a later call).  A block extended
	 * meanwhile (block_put by another connection) is never deleted.  0
	 * or -1 */
	int (*block_prune)(struct store *s, int64_t upto_ms, size_t limit, size_t *n_deleted);

	/* profiles */
	/* the next profile sequence number: never repeats in a store */
	int (*profile_next_seq)(struct store *s, int64_t *seq);
	int (*profile_insert)(struct store *s, const struct store_profile *p);
	int (*profile_get)(struct store *s, const char *id, struct store_profile *out);
	int (*profile_set_custom_id)(struct store *s, const char *id, const char *custom_id);
	/* a = tombstone merged into b; tombstones of a now point to b;
	 * b.merge_count = merge_count; b.created_at = the earlier of the two */
	int (*profile_mark_merged)(struct store *s, const char *a, const char *b,
				   int b_merge_count);
	int (*profile_delete)(struct store *s, const char *id); /* row only */
	int (*profile_tombstones)(struct store *s, const char *id,
				  store_profile_cb cb, void *ctx); /* merged into id */
	/* live profiles sorted by id; after_id "" = from the start */
	int (*profile_iter_live)(struct store *s, const char *after_id, size_t limit,
				 store_profile_cb cb, void *ctx);

	/* identifiers */
	int (*ident_get)(struct store *s, const char *type, const char *value,
			 char profile_id[PROFILE_ID_SIZE]); /* 1 found */
	int (*ident_put)(struct store *s, const char *type, const char *value,
			 const char *profile_id);     /* insert or move */
	int (*ident_delete)(struct store *s, const char *type, const char *value);
	int (*ident_count)(struct store *s, const char *profile_id, const char *type);
	int (*ident_count_all)(struct store *s, const char *profile_id);
	int (*ident_list)(struct store *s, const char *profile_id,
			  store_ident_cb cb, void *ctx);  /* by type, value */
	int (*ident_reassign)(struct store *s, const char *from, const char *to);
	/* installation columns: platform NULL keeps the stored one; last_seen
	 * keeps the max (STORE_NEVER_SEEN takes any time: 0 and one before
	 * 1970 too); push -1 keeps the stored one */
	int (*install_touch)(struct store *s, const char *installation_id,
			     const char *platform, int64_t seen_ms, int push_enabled);
	int (*ident_delete_profile)(struct store *s, const char *profile_id);

	/* attributes */
	int (*attr_get)(struct store *s, const char *profile_id, const char *key,
			struct store_attr *out);      /* 1 found */
	int (*attr_put)(struct store *s, const char *profile_id, const struct store_attr *a);
	/* attr_put unless the stored write is newer (its ts > a->ts_ms; a
	 * tie writes a): last-write-wins in one statement, no read first */
	int (*attr_put_newer)(struct store *s, const char *profile_id,
			      const struct store_attr *a);
	int (*attr_list)(struct store *s, const char *profile_id,
			 store_attr_cb cb, void *ctx);  /* sorted by key */
	int (*attr_delete_profile)(struct store *s, const char *profile_id);
	/* how many attributes the profile stores (deleted ones too: their
	 * tombstones are rows), or -1 */
	int (*attr_count)(struct store *s, const char *profile_id);
	/* live profiles whose current attribute key equals value, sorted by
	 * id, after after_id ("" = from the start), at most limit (0: all);
	 * $email_address ignores the case of ASCII letters: value_json given
	 * with those in lower case */
	int (*attr_find_profiles)(struct store *s, const char *key, const char *value_json,
				  const char *after_id, size_t limit, store_profile_cb cb,
				  void *ctx);

	/* consent */
	int (*consent_get)(struct store *s, const char *profile_id, const char *channel,
			   struct store_consent *out); /* 1 found */
	int (*consent_put)(struct store *s, const char *profile_id, const struct store_consent *c);
	/* consent_put unless the stored state is newer (ts > c->ts_ms): 1
	 * when that changed the channel's state (none stored reads as unset:
	 * a first subscribed/unsubscribed is a change, a first unset is stored
	 * but no change), 0 when it did not (older, or the same state: its
	 * time and source are still taken), -1 error */
	int (*consent_put_newer)(struct store *s, const char *profile_id,
				 const struct store_consent *c);
	int (*consent_list)(struct store *s, const char *profile_id,
			    store_consent_cb cb, void *ctx);
	int (*consent_delete_profile)(struct store *s, const char *profile_id);

	/* events */
	int (*event_insert)(struct store *s, const struct store_event *e);
	int (*event_move)(struct store *s, const char *from, const char *to);
	/* newest first (ts desc, message_id desc, seq desc), strictly after
	 * `before` in that order (NULL: from the newest); limit 0 = all */
	int (*event_list)(struct store *s, const char *profile_id,
			  const struct store_event *before, size_t limit,
			  store_event_cb cb, void *ctx);
	int (*event_stats)(struct store *s, const char *profile_id, int64_t *count,
			   int64_t *last_ts_ms);
	int (*event_delete_profile)(struct store *s, const char *profile_id);

	/* Multi-writer backends: take the locks for these identifiers, in the
	 * order given (callers sort by type, value), until the transaction
	 * ends.  SQLite has one writer and does nothing. */
	int (*ident_lock)(struct store *s, const struct store_ident *ids, size_t n);
	/* Multi-writer backends: lock one profile (as ident_lock locks the
	 * holders of the group's identifiers) until the transaction ends, for
	 * a profile reached by its ID, not through an identifier (an erase by
	 * profile ID).  Out of the group's order: a deadlock is broken by the
	 * server and the group run again (is_retryable).  In a transaction;
	 * SQLite does nothing. */
	int (*profile_lock)(struct store *s, const char *profile_id);

	/* Leases: one process at a time runs a named job ("sync:<source>",
	 * "export:<name>").  lease_try: 1 held by this connection (now or
	 * already; *epoch set to the lease's take count, bumped by each take),
	 * 0 held by another connection, -1 error.  Outside a transaction, on a
	 * connection of the caller's own (not the intake writer's): the lease
	 * lives as long as the connection (PostgreSQL: a session advisory lock,
	 * freed when the process dies; SQLite: an flock(2) on a file per
	 * name in <store>-leases/, lease_lock.h).  lease_release: 0 or -1. */
	int (*lease_try)(struct store *s, const char *name, int64_t *epoch);
	int (*lease_release)(struct store *s, const char *name);

	/* change feed (outbox), written in the transaction of the change */
	int (*outbox_append)(struct store *s, const struct store_change *c);
	/* changes with seq > after_seq, in seq order, at most limit (0: 1000) */
	int (*outbox_read)(struct store *s, int64_t after_seq, size_t limit,
			   store_change_cb cb, void *ctx);
	int (*outbox_delete_profile)(struct store *s, const char *profile_id);
	/* Inside a transaction: 1 when the change `seq` is still in the feed,
	 * held so that nothing deletes it (an erase) until the transaction
	 * ends (PostgreSQL: FOR SHARE; SQLite's write lock already does); 0
	 * when it is gone; -1 */
	int (*outbox_hold)(struct store *s, int64_t seq);
	/* deletes the first `limit` changes with seq <= upto_seq (every export
	 * has passed them), in seq order; *n_deleted says how many.  0 or -1 */
	int (*outbox_prune)(struct store *s, int64_t upto_seq, size_t limit,
			    size_t *n_deleted);

	/* dead letters of exports */
	int (*dead_letter_put)(struct store *s, const struct store_dead_letter *d);
	/* those of export_name after seq `after` (0: from the first), in seq
	 * order, at most limit (0: 100) */
	int (*dead_letter_list)(struct store *s, const char *export_name, int64_t after,
				size_t limit, store_dead_letter_cb cb, void *ctx);
	int (*dead_letter_delete_profile)(struct store *s, const char *profile_id);
	/* the one dead letter (export_name, seq): 1 deleted, 0 none there (a
	 * concurrent transaction deleted it first: PostgreSQL waits for it), -1 */
	int (*dead_letter_delete)(struct store *s, const char *export_name, int64_t seq);
	/* the largest seq of the export's dead letters, 0 when it has none */
	int (*dead_letter_last_seq)(struct store *s, const char *export_name, int64_t *seq);
	/* how many dead letters the export has */
	int (*dead_letter_count)(struct store *s, const char *export_name, int64_t *n);

	/* identity log */
	int (*log_append)(struct store *s, const struct store_log_entry *e);
	/* The rows of profile_id's log with seq > after_seq, in seq order (the
	 * order they were appended), at most limit: its own rows and the rows
	 * of other profiles that name it as other_profile_id (a move away from
	 * it, a merge of it, a detach to it).  after_seq 0: from the first (the
	 * store's row numbers start at 1 and never repeat, so a page ends at
	 * one row and the next begins after it). */
	int (*log_page)(struct store *s, const char *profile_id, int64_t after_seq,
			size_t limit, store_log_cb cb, void *ctx);
	/* Deletes the profile's own rows; rows of other profiles that name it
	 * (a move away from it, a detach to it) stay theirs, with the other
	 * profile forgotten (other_profile_id NULL). */
	int (*log_delete_profile)(struct store *s, const char *profile_id);
};

struct store {
	const struct store_ops *ops;
	char err[512];
	unsigned char id_key[32]; /* the profile ID key, loaded at open */
	/* Set by the open that created the schema (a new, empty store): where
	 * it is (the SQLite file; the PostgreSQL schema and server), for
	 * `run` to say so; "" otherwise. */
	char created_where[400];
	void *id_mac;             /* EVP_MAC_CTX keyed with id_key (store.c), or NULL */
	/* Fault injection for tests: the statements numbered fault_at[0] and
	 * fault_at[1] (1-based, counted from when armed) fail once each as an
	 * I/O error would; 0 is off.  fault_calls counts while any is armed.
	 * Backends call store_fault_hit() before every statement. */
	long fault_at[2];
	long fault_calls;
	/* Set by a backend when its last failure was a transient conflict with
	 * another writer (deadlock, serialization failure): the caller rolls
	 * back and retries the whole transaction.  Cleared by begin. */
	int is_retryable;
	/* ... and that conflict was a lock wait that timed out (PostgreSQL's
	 * lock_timeout): it waited already, so the caller does not retry.
	 * Cleared by begin. */
	int is_lock_timeout;
	/* Fault injection, continued: what a fault of fault_at does (enum
	 * store_fault_kind; 0, the default, is STORE_FAULT_IO). */
	int fault_kind;
	/* Set by a backend with a connection to lose (store_pg.c): makes the
	 * connection go away for real.  1 it took it away, 0 it was gone
	 * already, -1 it could not (the fault then fails the statement as
	 * STORE_FAULT_IO). */
	int (*fault_disconnect)(struct store *s);
	long fault_disconnects; /* live connections the faults took away */
	/* Tests (PostgreSQL): the connection of the next COMMIT is taken away
	 * when its answer has come, unread (STORE_CUT_AFTER_COMMIT: the answer
	 * lost, the transaction committed), or just before COMMIT is sent
	 * (STORE_CUT_BEFORE_COMMIT: the server aborts it).  Cleared when used. */
	int fault_commit_cut;
	/* Set by a commit that failed with its outcome unknown: the connection
	 * was lost during COMMIT and the server could not be asked since
	 * whether the transaction committed.  Cleared by begin. */
	int is_commit_unknown;
	long busy_waits;        /* SQLite: times this connection waited for a lock */
	/* Set by the intake on its connection, which applies records: SQLite
	 * gives it a writer's page cache and its caches of identifier owners
	 * and blocks.  Other connections read, or write bookkeeping only. */
	int is_intake_writer;
	/* Tests: the intake writer's cache of identifier owners (SQLite) is
	 * sized for this many keys; 0, the default, is 131,072 (13 MB).  A test
	 * that makes a thousand small stores sizes it down: under
	 * AddressSanitizer each 13 MB allocation (its shadow written at calloc
	 * and again at free) cost as much as the store's records. */
	size_t n_ident_cache_keys;
};

/* Kinds of injected failure (struct store, fault_kind). */
enum store_fault_kind {
	STORE_FAULT_IO = 0, /* the statement fails as a disk I/O error would */
	/* The connection really goes away just before the statement (on
	 * PostgreSQL the server terminates the store's backend), which then
	 * meets the broken connection as after a server crash: the backend's
	 * own error handling and reconnection are what is tested.  A backend
	 * without a connection (SQLite): as STORE_FAULT_IO. */
	STORE_FAULT_GONE = 1,
};

enum store_commit_cut { STORE_CUT_NONE = 0, STORE_CUT_AFTER_COMMIT, STORE_CUT_BEFORE_COMMIT };

/* 1 (and s->err set) when this statement must fail by injection.  A
 * STORE_FAULT_GONE fault returns 0 once the connection is gone: the
 * statement goes ahead and fails (or reconnects) on its own. */
int store_fault_hit(struct store *s);

/* Opens the backend named by cfg->store_driver, creating or migrating the
 * schema.  Returns 0 or -1 with err set.  Only the process's first
 * connection (the one that makes a new store) opens with it; every other
 * opens with store_open_existing. */
int store_open(const struct hub_config *cfg, struct store **out, char *err, size_t err_size);
/* As store_open, but an SQLite store's file must exist: a store deleted
 * under a running hub is never replaced by a new, empty one (with a new
 * ID key) by the next reader to connect. */
int store_open_existing(const struct hub_config *cfg, struct store **out, char *err,
			size_t err_size);
/* As store_open, but a store an older hub made is not migrated (after
 * which that hub would refuse it): STORE_OLDER, err naming its version
 * and STORE_OLDER_TEXT.  For `check --connect`, which changes nothing. */
int store_open_unmigrated(const struct hub_config *cfg, struct store **out, char *err,
			  size_t err_size);
#define STORE_OLDER (-2)
/* after "... has schema version %d, ": this hub's version (%d) */
#define STORE_OLDER_TEXT                                                                \
	"made by an older hub: left as it is; the first other command of this hub to"  \
	" open it migrates it to version %d, after which an older hub refuses it (back" \
	" it up first to keep the way back)"
void store_close(struct store *s);
const char *store_error(const struct store *s);

/* SQLite backend (store_sqlite.c): store_sqlite_open creates the file
 * when there is none, store_sqlite_open_existing fails.  A commit fails
 * once the file at path is no longer the one opened (deleted, replaced). */
int store_sqlite_open(const char *path, struct store **out, char *err, size_t err_size);
int store_sqlite_open_existing(const char *path, struct store **out, char *err, size_t err_size);
/* As store_sqlite_open, not migrating an older store (store_open_unmigrated) */
int store_sqlite_open_unmigrated(const char *path, struct store **out, char *err,
				 size_t err_size);
/* Tests: the WAL size (pages) past which a commit restarts the WAL itself
 * (0: the default, 65536). */
void store_sqlite_set_wal_restart_pages(int pages);
/* Tests: one attempt of the checkpointer, on a connection of its own to
 * the store at path, logged as the checkpointer logs it: 0 done, 1 another
 * connection held the store (no failure), -1 failed. */
int store_sqlite_checkpoint_attempt(const char *path);
/* Tests: the checkpointer's truncation of the WAL once idle, likewise: 0
 * done (the -wal file empty), 1 the store in use (a writer, a reader of an
 * older snapshot: never waited for), -1 failed. */
int store_sqlite_wal_truncate_attempt(const char *path);
/* Tests: the connection's page cache in KiB (the intake's writer has a
 * bigger one than readers: store_sqlite_tx.c), -1 on error. */
int store_sqlite_page_cache_kib(struct store *s);
/* PostgreSQL backend (store_pg.c): url is a libpq URI or conninfo string,
 * schema a plain identifier ([a-z_][a-z0-9_]*, "public" when NULL). */
int store_pg_open(const char *url, const char *schema, struct store **out, char *err,
		  size_t err_size);
/* As store_pg_open, not migrating an older schema (store_open_unmigrated) */
int store_pg_open_unmigrated(const char *url, const char *schema, struct store **out,
			     char *err, size_t err_size);
/* store.lock_timeout: ms (0 without end, at most STORE_PG_LOCK_TIMEOUT_MAX_MS)
 * is this session's lock_timeout and every later one's, whatever the role,
 * database or URL set.  0, or -1 with store_error set. */
int store_pg_lock_timeout_set(struct store *s, int64_t ms);
#define STORE_PG_LOCK_TIMEOUT_MAX_MS (24 * 3600 * 1000LL)
/* Does url (checked by store_pg_url_check) set the server setting `name` in
 * its options ("-c name=v", "--name=v")?  1 yes, 0 no, -1 out of memory. */
int store_pg_url_sets(const char *url, const char *name);
/* Is url a connection string whose parts libpq reads as written?  A
 * password with an '@' or '/' not percent-encoded is read as part of the
 * host, port or database name (or, after a user name's '@', of a user set
 * by the query), and would then be shown in messages.
 * 1 yes, 0 no (say STORE_PG_URL_INVALID, never libpq's message: it quotes
 * the URL), -1 out of memory. */
int store_pg_url_check(const char *url);
/* Does the connection string written as `text` (before ${VAR} expansion,
 * a ${VAR:-default} as its default: cfg_node.raw) hold a password of its
 * own, not a ${...} reference?  1 yes, 0 no (also when it does not parse:
 * then it is all a reference). */
int store_pg_url_has_written_password(const char *text);
/* Does the connection string `url` reach a host other than this machine
 * with an sslmode short of verify-ca (libpq's default, prefer, included)?
 * 1 with that mode in mode[size], else 0 (plugins/common/pg_tls.h). */
int store_pg_url_unverified(const char *url, char *mode, size_t size);
#define STORE_PG_URL_INVALID                                                       \
	"not a valid PostgreSQL connection URL (expected "                          \
	"postgresql://user:password@host:port/dbname, with special characters of " \
	"the user name and password percent-encoded: @ as %40, / as %2F; an @ "    \
	"of the database name or a query value too)"

/* Backends call this at the end of their open: loads (or creates and
 * commits) the store's profile ID key.  0 or -1 with err set. */
int store_load_id_key(struct store *s, char *err, size_t err_size);

/* Profile IDs: opaque, unguessable ("p_" + 16 base32 chars of a keyed hash
 * of a per-store counter).  Fills id; returns 0 or -1. */
int store_new_profile_id(struct store *s, char id[PROFILE_ID_SIZE], int64_t *seq);

/* 1 when id has the form store_new_profile_id gives ("p_" + 16 of its
 * base32 characters), else 0: a privacy request's profile_id is checked
 * so before anything is looked up or stored. */
int store_profile_id_is_valid(const char *id);
/* What a message says a profile ID is ("16 letters and digits" read as
 * any: p_0123456789abcdef, no ID's shape, was "not p_ and 16 letters and
 * digits"). */
#define PROFILE_ID_SHAPE \
	"p_ and 16 of a-z and 2-9, without l and o, as the hub gives them"

#endif
