/*
 * teststore.h - which store backend the unit tests run on, so the same
 * suites (scenarios, random, store, export) prove both:
 * HUB_TEST_STORE=sqlite (the default) or postgres, with HUB_TEST_PG_URL
 * naming a database the tests may create schemas in (tests/pgtest.sh
 * starts a throwaway one).  On PostgreSQL every world gets its own fresh
 * schema, dropped at its end.
 */
#ifndef HUB_TESTSTORE_H
#define HUB_TESTSTORE_H

#include <stddef.h>

/* 1 when the tests run on PostgreSQL. */
int teststore_is_pg(void);

/* The `store:` section of a world's config (malloc'd YAML), or NULL with
 * a message on stderr.  SQLite: dir/hub.db.  PostgreSQL: a new schema
 * t_<unique>, its name in *schema (malloc'd; NULL on SQLite). */
char *teststore_yaml(const char *dir, char **schema);

/* Drops a schema made by teststore_yaml and everything in it (NULL: no-op). */
void teststore_drop(const char *schema);

/* A digest of every row of every table of a schema made by teststore_yaml
 * (per table, the md5 of its rows' text in sorted order), to show that a
 * failed transaction left nothing behind.  Sequences are left out:
 * PostgreSQL never rolls them back.  Malloc'd text, or NULL with a message
 * on stderr.  Keeps its connection for the next call; NULL closes it. */
char *teststore_digest(const char *schema);

/* Runs one statement (or several, ';' between) on the database of `url`
 * from a connection of its own; 0 when it worked, else -1 with the error
 * on stderr. */
int teststore_pg_exec(const char *url, const char *sql);

/* PostgreSQL: database `name` on the test server made afresh (dropped
 * first if there) by "CREATE DATABASE name <with>", its URL into url; 0,
 * else -1 with the error on stderr (and without HUB_TEST_PG_URL). */
int teststore_pg_fresh_db(const char *name, const char *with, char *url, size_t size);

/* PostgreSQL: how many sessions wait for a lock now (pg_stat_activity),
 * -1 on error or without HUB_TEST_PG_URL. */
int teststore_lock_waiters(void);

/* PostgreSQL: the server's clock_timestamp() as text into out; 0, else -1
 * with the error on stderr. */
int teststore_pg_clock(char *out, size_t size);

/* PostgreSQL: how many other client sessions of the test database hold a
 * snapshot (backend_xmin, what holds back vacuum) in a transaction begun
 * before `clock` (teststore_pg_clock), -1 on error. */
int teststore_snapshots_before(const char *clock);

/* PostgreSQL: holds every write transaction on schema (teststore_yaml) in
 * its BEGIN, as a transaction of another connection holding SQLite's write
 * lock does: an ACCESS EXCLUSIVE lock on its meta table, which each reads
 * at BEGIN, from a connection of its own.  The hold, or NULL with the
 * error on stderr. */
void *teststore_hold_writes(const char *schema);

/* Lets them go and closes the hold's connection: 0, else -1. */
int teststore_release_writes(void *hold);

#endif
