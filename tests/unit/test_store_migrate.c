/*
 * test_store_migrate.c - an SQLite store made by an older hub opens and is
 * migrated in place, keeping its data; one made by a newer hub is refused
 * with a clear message, and stops the writes of a hub that had it open
 * already; a new one is not readable by other users.
 * tests/fixtures/store/schema_v3.sql is the schema version 3 shipped
 * with, verbatim.
 */
#include "testlib.h"

#include "../../hub/lease_lock.h"
#include "../../hub/store.h"
#include "../../hub/util.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *make_v3_store(const char *dir)
{
	char *db = NULL, *schema = NULL;
	sqlite3 *h = NULL;
	size_t len;
	char err[256];

	schema = file_read_all("tests/fixtures/store/schema_v3.sql", SIZE_MAX, &len, err,
			       sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(schema);
	CU_ASSERT_FATAL(asprintf(&db, "%s/v3.db", dir) > 0);
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &h), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(h, schema, NULL, NULL, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(
		sqlite3_exec(h,
			     "INSERT INTO meta VALUES('schema_version', '3');"
			     "INSERT INTO profiles VALUES('p_old', 1, 'C1', NULL, 0, 1000);"
			     "INSERT INTO meta VALUES('profile_seq', '1');"
			     "INSERT INTO identifiers(type, value, profile_id)"
			     " VALUES('custom_id', 'C1', 'p_old');"
			     "INSERT INTO attributes VALUES('p_old', '$email_address',"
			     " '\"Ann@X.com\"', 0, 5, 0, 5);"
			     "INSERT INTO outbox(kind, profile_id, at, payload)"
			     " VALUES('profile_updated', 'p_old', 1, '{}');"
			     "INSERT INTO outbox(kind, profile_id, at, payload)"
			     " VALUES('profile_updated', 'p_gone', 2, '{}');"
			     /* an erase of the newest change */
			     "DELETE FROM outbox WHERE seq = 2;"
			     /* crm had seen it */
			     "INSERT INTO meta VALUES('export_cursor:crm', '2');"
			     "INSERT INTO dead_letters VALUES('crm', 1, 5, 'refused', '{}');",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(h);
	free(schema);
	return db;
}

static int count_changes(void *ctx, const struct store_change *c)
{
	int64_t *max = ctx;
	if (c->seq > *max)
		*max = c->seq;
	return 0;
}

/* 1 when the store at db has an index of that name, read from the file */
static int has_index(const char *db, const char *name)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int found;

	CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &h), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE"
						 " type = 'index' AND name = ?1", -1, &st, NULL),
			      SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	sqlite3_close(h);
	return found;
}

static int count_profiles(void *ctx, const struct store_profile *p)
{
	(void)p;
	(*(int *)ctx)++;
	return 0;
}

static void test_version_3_store_is_migrated_keeping_its_data(void)
{
	char *dir = testlib_mkdtemp(), *db = make_v3_store(dir), pid[PROFILE_ID_SIZE], err[512];
	struct store *s = NULL;
	struct store_change c = {.kind = "profile_updated", .profile_id = "p_old", .at_ms = 3,
				 .payload_json = "{}"};
	struct store_dead_letter dl = {.export_name = "crm", .seq = 9, .profile_id = "p_old",
				       .at_ms = 6, .reason = "x", .change_json = "{}"};
	int64_t max = 0;
	int n_found = 0;

	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "C1", pid), 1);
	CU_ASSERT_STRING_EQUAL(pid, "p_old");
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	/* seq 2 was handed out before the migration: never again */
	CU_ASSERT_EQUAL(s->ops->outbox_append(s, &c), 0);
	CU_ASSERT_EQUAL(s->ops->dead_letter_put(s, &dl), 0);
	CU_ASSERT_EQUAL(s->ops->dead_letter_delete_profile(s, "p_old"), 0);
	CU_ASSERT_EQUAL(s->ops->commit(s), 0);
	CU_ASSERT_EQUAL(s->ops->outbox_read(s, 0, 10, count_changes, &max), 0);
	CU_ASSERT_EQUAL(max, 3);
	/* its emails are found without their case (step 5 -> 6: the index) */
	CU_ASSERT_EQUAL(s->ops->attr_find_profiles(s, "$email_address", "\"ann@x.com\"", "", 0,
						   count_profiles, &n_found), 0);
	CU_ASSERT_EQUAL(n_found, 1);
	store_close(s);
	CU_ASSERT(has_index(db, "attributes_email_ci"));
	/* and it opens again as the current version */
	CU_ASSERT_EQUAL(store_sqlite_open(db, &s, err, sizeof(err)), 0);
	store_close(s);
	testlib_rmtree(dir);
	free(dir);
	free(db);
}

/* "export seq profile_id" of every dead letter, in that order, read
 * straight from the file (the store's ops do not show profile_id). */
static char *dead_letter_rows(const char *db)
{
	static char rows[1024];
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	size_t len = 0;

	rows[0] = '\0';
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &h), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(h, "SELECT export_name, seq, profile_id FROM"
						 " dead_letters ORDER BY export_name, seq",
						 -1, &st, NULL),
			      SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && len < sizeof(rows) - 64)
		len += (size_t)snprintf(rows + len, sizeof(rows) - len, "%s %lld '%s';",
					(const char *)sqlite3_column_text(st, 0),
					(long long)sqlite3_column_int64(st, 1),
					(const char *)sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return rows;
}

/* Dead letters written by a version 3 hub had no profile_id column; step
 * 3 -> 4 gave them '' and an erase (dead_letter_delete_profile) never
 * matched them, so they kept the person's data.  Step 4 -> 5 takes the
 * profile from the change; one of a profile erased since goes (an erased
 * change stays: it holds no personal data); a change it cannot read stays
 * as it is. */
static void test_dead_letters_of_a_version_3_store_go_with_an_erase(void)
{
	char *dir = testlib_mkdtemp(), *db = make_v3_store(dir), err[512];
	struct store *s = NULL;
	sqlite3 *h = NULL;

	CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &h), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(
		sqlite3_exec(h,
			     "INSERT INTO profiles VALUES('p_tomb', 2, NULL, 'p_old', 0, 1001);"
			     "INSERT INTO dead_letters VALUES('feed', 1, 5, 'refused',"
			     " '{\"seq\":1,\"kind\":\"event\",\"profile_id\":\"p_old\","
			     "\"custom_id\":\"C1\",\"event\":{\"name\":\"buy\"}}');"
			     "INSERT INTO dead_letters VALUES('feed', 2, 5, 'refused',"
			     " '{\"kind\":\"profile_updated\",\"profile_id\":\"p_tomb\"}');"
			     "INSERT INTO dead_letters VALUES('feed', 3, 5, 'refused',"
			     " '{\"kind\":\"event\",\"profile_id\":\"p_erased\","
			     "\"custom_id\":\"C2\"}');"
			     "INSERT INTO dead_letters VALUES('feed', 4, 5, 'refused',"
			     " '{\"kind\":\"erased\",\"profile_id\":\"p_erased\"}');"
			     "INSERT INTO dead_letters VALUES('feed', 5, 5, 'refused', 'not JSON');"
			     "INSERT INTO dead_letters VALUES('feed', 6, 5, 'refused',"
			     " '{\"profile_id\":7}');",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(h);

	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s, err, sizeof(err)), 0);
	store_close(s);
	CU_ASSERT_STRING_EQUAL(dead_letter_rows(db), "crm 1 '';feed 1 'p_old';feed 2 'p_tomb';"
						     "feed 4 'p_erased';feed 5 '';feed 6 '';");
	/* the erase of p_old (and of p_tomb, merged into it) takes them */
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL(s->ops->dead_letter_delete_profile(s, "p_old"), 0);
	CU_ASSERT_EQUAL(s->ops->dead_letter_delete_profile(s, "p_tomb"), 0);
	CU_ASSERT_EQUAL(s->ops->commit(s), 0);
	store_close(s);
	CU_ASSERT_STRING_EQUAL(dead_letter_rows(db), "crm 1 '';feed 4 'p_erased';feed 5 '';"
						     "feed 6 '';");
	testlib_rmtree(dir);
	free(dir);
	free(db);
}

static void test_store_of_a_newer_hub_is_refused(void)
{
	char *dir = testlib_mkdtemp(), *db = make_v3_store(dir), err[512], *sql = NULL;
	struct store *s = NULL;
	sqlite3 *h = NULL;

	CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &h), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_exec(h, "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
				     NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	CU_ASSERT_EQUAL(store_sqlite_open(db, &s, err, sizeof(err)), -1);
	CU_ASSERT_FATAL(
		asprintf(&sql, "sqlite: %s has schema version 99, made by a newer hub", db) > 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, sql));
	testlib_rmtree(dir);
	free(dir);
	free(db);
	free(sql);
}

/* meta.schema_version of the store at db, read straight from the file */
static int schema_version_of(const char *db)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int version = -1;

	CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &h), SQLITE_OK);
	if (sqlite3_prepare_v2(h, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return version;
}

/* The tables of the database at db, by name, ';' after each */
static char *table_names(const char *db)
{
	static char names[512];
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;

	names[0] = '\0';
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &h), SQLITE_OK);
	if (sqlite3_prepare_v2(h, "SELECT group_concat(name || ';', '') FROM (SELECT name"
				  " FROM sqlite_master WHERE type = 'table' ORDER BY name)",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(names, sizeof(names), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return names;
}

/* store.path naming another program's SQLite database is refused, naming
 * the file and one of its tables, and the file is left as it was: the
 * hub's tables went in beside that program's (a read command too).  An
 * empty file there is a new store. */
static void test_another_program_s_database_is_refused_and_left_as_it_is(void)
{
	char *dir = testlib_mkdtemp(), *db = NULL, *empty = NULL, *want = NULL, err[512] = "";
	struct store *s = NULL;
	sqlite3 *h = NULL;
	FILE *f;

	CU_ASSERT_FATAL(asprintf(&db, "%s/grafana.db", dir) > 0 &&
			asprintf(&empty, "%s/empty.db", dir) > 0);
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &h), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(h, "CREATE TABLE dashboard(id INTEGER PRIMARY KEY);"
					      " CREATE TABLE alert(id);", NULL, NULL, NULL),
			      SQLITE_OK);
	sqlite3_close(h);
	CU_ASSERT_FATAL(asprintf(&want, "sqlite: %s is not a profilehub store: it holds tables"
				       " of another program (\"alert\")", db) > 0);
	CU_ASSERT_EQUAL(store_sqlite_open(db, &s, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_sqlite_open_existing(db, &s, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_sqlite_open_unmigrated(db, &s, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_STRING_EQUAL(table_names(db), "alert;dashboard;");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(empty, "w"));
	fclose(f);
	CU_ASSERT_EQUAL(store_sqlite_open(empty, &s, err, sizeof(err)), 0);
	store_close(s);
	CU_ASSERT(schema_version_of(empty) > 0); /* made */
	testlib_rmtree(dir);
	free(dir);
	free(db);
	free(empty);
	free(want);
}

/* A write through s of key in its own transaction: 0, or -1 */
static int meta_put_tx(struct store *s, const char *key)
{
	if (s->ops->begin(s))
		return -1;
	if (s->ops->meta_put(s, key, "1") || s->ops->commit(s)) {
		s->ops->rollback(s);
		return -1;
	}
	return 0;
}

/* Two processes on one file (a hub beside an import), and a newer hub
 * migrates it while they have it open (a table made, schema_version
 * bumped, by a third connection as its migration does): their next write
 * transactions write nothing, naming both versions and the file, logged
 * once per connection, and leave the write lock free for the newer hub;
 * their reads go on.  They wrote their old rows into the new schema. */
static void test_a_store_migrated_by_a_newer_hub_meanwhile_stops_writes(void)
{
	char *dir = testlib_mkdtemp(), *db = NULL, *want = NULL, err[512], got[32] = "", *log;
	struct store *s = NULL, *s2 = NULL;
	struct testlib_capture cap;
	sqlite3 *h = NULL;

	CU_ASSERT_FATAL(asprintf(&db, "%s/hub.db", dir) > 0);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(meta_put_tx(s, "before"), 0);
	CU_ASSERT_EQUAL(meta_put_tx(s2, "before2"), 0);
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &h), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(h, "BEGIN IMMEDIATE; CREATE TABLE newer(x);"
					      " UPDATE meta SET value = value + 1"
					      " WHERE key = 'schema_version'; COMMIT",
					      NULL, NULL, NULL),
			      SQLITE_OK);
	CU_ASSERT_FATAL(asprintf(&want, "sqlite: %s: store schema version %d, this hub knows %d:"
				       " a newer hub migrated it", db, schema_version_of(db),
				 schema_version_of(db) - 1) > 0);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(meta_put_tx(s, "after"), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), want));
	CU_ASSERT_EQUAL(meta_put_tx(s, "after"), -1);
	CU_ASSERT_EQUAL(meta_put_tx(s2, "after2"), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s2), want));
	log = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(log, want), 2); /* once per connection */
	free(log);
	/* the refused BEGIN let the lock go: the newer hub writes at once */
	sqlite3_busy_timeout(h, 0);
	CU_ASSERT_EQUAL(sqlite3_exec(h, "BEGIN IMMEDIATE; COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	CU_ASSERT_EQUAL(s2->ops->read_begin(s2), 0);
	CU_ASSERT_EQUAL(s2->ops->meta_get(s2, "before", got, sizeof(got)), 1);
	CU_ASSERT_EQUAL(s2->ops->meta_get(s2, "after", got, sizeof(got)), 0);
	CU_ASSERT_EQUAL(s2->ops->meta_get(s2, "after2", got, sizeof(got)), 0);
	CU_ASSERT_EQUAL(s2->ops->read_end(s2), 0);
	store_close(s2);
	store_close(s);
	testlib_rmtree(dir);
	free(dir);
	free(db);
	free(want);
}

/* Such a process held export and sync leases: at its refused write it
 * gives them up, in one line, and takes none again, so the newer hub
 * delivers those exports (they were held until it was stopped); another
 * older connection that only takes leases is refused too. */
static void test_an_older_hub_gives_up_its_leases_after_a_migration(void)
{
	char *dir = testlib_mkdtemp(), *db = NULL, *leases = NULL, err[512], *log;
	struct store *s = NULL, *s2 = NULL;
	struct testlib_capture cap;
	struct lease_locks newer;
	int64_t epoch = 0;
	sqlite3 *h = NULL;

	CU_ASSERT_FATAL(asprintf(&db, "%s/hub.db", dir) > 0 &&
			asprintf(&leases, "%s-leases", db) > 0);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "export:a", &epoch), 1);
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "sync:b", &epoch), 1);
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &h), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(h, "UPDATE meta SET value = value + 1"
					      " WHERE key = 'schema_version'", NULL, NULL, NULL),
			      SQLITE_OK);
	sqlite3_close(h);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(meta_put_tx(s, "after"), -1);
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "export:a", &epoch), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "a newer hub migrated it"));
	CU_ASSERT_EQUAL(s2->ops->lease_try(s2, "export:c", &epoch), -1);
	log = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "this process gives up its 2 leases"
					   " (export:a, ...) for the newer processes"), 1);
	free(log);
	CU_ASSERT_EQUAL_FATAL(lease_locks_init(&newer, leases), 0);
	CU_ASSERT_EQUAL(lease_locks_take(&newer, "export:a", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(lease_locks_take(&newer, "sync:b", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(lease_locks_take(&newer, "export:c", err, sizeof(err)), 1);
	lease_locks_free(&newer);
	store_close(s2);
	store_close(s);
	testlib_rmtree(dir);
	free(dir);
	free(db);
	free(leases);
}

/* check --connect opens a store without migrating one an older hub made
 * (that hub may still run, or be needed back: a migrated store is refused
 * by it); it says which version it found, and a new store is made. */
static void test_an_older_store_opened_unmigrated_is_left_as_it_is(void)
{
	char *dir = testlib_mkdtemp(), *db = make_v3_store(dir), err[512], *fresh = NULL;
	struct store *s = NULL;

	CU_ASSERT_EQUAL(store_sqlite_open_unmigrated(db, &s, err, sizeof(err)), STORE_OLDER);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "has schema version 3, made by an older hub"));
	CU_ASSERT_EQUAL(schema_version_of(db), 3);
	CU_ASSERT_EQUAL(store_sqlite_open_unmigrated(db, &s, err, sizeof(err)), STORE_OLDER);
	CU_ASSERT_EQUAL(schema_version_of(db), 3);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s, err, sizeof(err)), 0);
	store_close(s);
	CU_ASSERT(schema_version_of(db) > 3);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open_unmigrated(db, &s, err, sizeof(err)), 0);
	store_close(s);
	CU_ASSERT_FATAL(asprintf(&fresh, "%s/new.db", dir) > 0);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open_unmigrated(fresh, &s, err, sizeof(err)), 0);
	store_close(s);
	testlib_rmtree(dir);
	free(dir);
	free(db);
	free(fresh);
}

/* A VFS over the default one whose first exclusive take of the WAL write
 * lock (shm lock 0) while armed first runs race_hook: another process
 * migrating the store in the moment between a hub's read of the schema
 * version and its BEGIN IMMEDIATE, which no sleep could place. */
struct race_file {
	sqlite3_file base;
	sqlite3_file *real; /* the default VFS's file, in the same allocation */
};

static sqlite3_vfs race_vfs, *race_real_vfs;
static sqlite3_io_methods race_methods;
static const char *race_db; /* armed while set */
static int race_migrated;

static int race_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	struct race_file *rf = (struct race_file *)f;
	const char *db = race_db;
	struct store *other = NULL;
	char err[512];

	if (db && offset == 0 && (flags & SQLITE_SHM_LOCK) && (flags & SQLITE_SHM_EXCLUSIVE)) {
		race_db = NULL; /* once; the other store's own takes pass */
		race_migrated = store_sqlite_open(db, &other, err, sizeof(err)) == 0;
		if (other)
			store_close(other);
	}
	return rf->real->pMethods->xShmLock(rf->real, offset, n, flags);
}

#define RACE_FWD(name, proto, args) \
	static int race_##name proto { return ((struct race_file *)f)->real->pMethods->name args; }
RACE_FWD(xClose, (sqlite3_file *f), (((struct race_file *)f)->real))
RACE_FWD(xRead, (sqlite3_file *f, void *b, int n, sqlite3_int64 o),
	 (((struct race_file *)f)->real, b, n, o))
RACE_FWD(xWrite, (sqlite3_file *f, const void *b, int n, sqlite3_int64 o),
	 (((struct race_file *)f)->real, b, n, o))
RACE_FWD(xTruncate, (sqlite3_file *f, sqlite3_int64 n), (((struct race_file *)f)->real, n))
RACE_FWD(xSync, (sqlite3_file *f, int fl), (((struct race_file *)f)->real, fl))
RACE_FWD(xFileSize, (sqlite3_file *f, sqlite3_int64 *n), (((struct race_file *)f)->real, n))
RACE_FWD(xLock, (sqlite3_file *f, int l), (((struct race_file *)f)->real, l))
RACE_FWD(xUnlock, (sqlite3_file *f, int l), (((struct race_file *)f)->real, l))
RACE_FWD(xCheckReservedLock, (sqlite3_file *f, int *r), (((struct race_file *)f)->real, r))
RACE_FWD(xFileControl, (sqlite3_file *f, int op, void *a), (((struct race_file *)f)->real, op, a))
RACE_FWD(xSectorSize, (sqlite3_file *f), (((struct race_file *)f)->real))
RACE_FWD(xDeviceCharacteristics, (sqlite3_file *f), (((struct race_file *)f)->real))
RACE_FWD(xShmMap, (sqlite3_file *f, int i, int sz, int ext, void volatile **p),
	 (((struct race_file *)f)->real, i, sz, ext, p))
RACE_FWD(xShmUnmap, (sqlite3_file *f, int del), (((struct race_file *)f)->real, del))

static void race_shm_barrier(sqlite3_file *f)
{
	((struct race_file *)f)->real->pMethods->xShmBarrier(((struct race_file *)f)->real);
}

static int race_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	struct race_file *rf = (struct race_file *)f;
	int rc;

	(void)vfs;
	rf->real = (sqlite3_file *)(rf + 1);
	rc = race_real_vfs->xOpen(race_real_vfs, name, rf->real, flags, out);
	/* the real file's methods are set even on failure, when it needs closing */
	rf->base.pMethods = rf->real->pMethods ? &race_methods : NULL;
	return rc;
}

static void race_vfs_install(void)
{
	race_real_vfs = sqlite3_vfs_find(NULL);
	race_vfs = *race_real_vfs;
	race_vfs.zName = "race";
	race_vfs.szOsFile = (int)sizeof(struct race_file) + race_real_vfs->szOsFile;
	race_vfs.xOpen = race_open;
	race_methods = (sqlite3_io_methods){
		.iVersion = 2, .xClose = race_xClose, .xRead = race_xRead, .xWrite = race_xWrite,
		.xTruncate = race_xTruncate, .xSync = race_xSync, .xFileSize = race_xFileSize,
		.xLock = race_xLock, .xUnlock = race_xUnlock,
		.xCheckReservedLock = race_xCheckReservedLock, .xFileControl = race_xFileControl,
		.xSectorSize = race_xSectorSize,
		.xDeviceCharacteristics = race_xDeviceCharacteristics,
		.xShmMap = race_xShmMap, .xShmLock = race_shm_lock, .xShmBarrier = race_shm_barrier,
		.xShmUnmap = race_xShmUnmap,
	};
	CU_ASSERT_EQUAL_FATAL(sqlite3_vfs_register(&race_vfs, 1), SQLITE_OK);
}

/* Two hubs starting on one old store (two `run`s after an upgrade): the
 * second read the version before the first migrated, then took the write
 * lock after it and ran the steps again: "duplicate column name:
 * profile_id" (step 3 -> 4), and it refused to start.  The version is read
 * in the migration's own transaction. */
static void test_a_store_migrated_by_another_process_meanwhile_opens(void)
{
	char *dir = testlib_mkdtemp(), *db = make_v3_store(dir), err[512] = "";
	struct store *s = NULL;
	sqlite3 *h = NULL;
	int rc;

	/* WAL already, as a store a hub has run on is, and kept open through
	 * the race: the WAL index needs no recovery (which takes the write
	 * lock too) when the hub opens it */
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(db, &h), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_exec(h, "PRAGMA journal_mode=WAL; SELECT count(*) FROM meta", NULL,
				     NULL, NULL), SQLITE_OK);
	race_vfs_install();
	race_migrated = 0;
	race_db = db;
	rc = store_sqlite_open(db, &s, err, sizeof(err));
	race_db = NULL;
	sqlite3_vfs_unregister(&race_vfs);
	sqlite3_close(h);
	CU_ASSERT(race_migrated); /* the race took place */
	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0)
		fprintf(stderr, "\n  store_sqlite_open: %s\n", err);
	if (s) {
		char pid[PROFILE_ID_SIZE];
		CU_ASSERT_EQUAL(s->ops->ident_get(s, "custom_id", "C1", pid), 1);
		store_close(s);
	}
	testlib_rmtree(dir);
	free(dir);
	free(db);
}

static unsigned mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 0777) : 01000;
}

/* A new store's file, and its WAL and shared-memory files, are readable by
 * their owner and group only, whatever the umask: they hold personal data
 * and the profile ID key (they were 0644 under umask 022).  So are the
 * lock files of its leases, one per name in <store>-leases/.  An existing
 * file keeps the mode it was given. */
static void test_a_new_store_is_not_readable_by_others(void)
{
	char *dir = testlib_mkdtemp(), *db = NULL, *wal = NULL, *shm = NULL, *leases = NULL,
	     *lock = NULL, err[512];
	struct store *s = NULL;
	int64_t epoch = 0;
	mode_t umask_was = umask(022);

	CU_ASSERT_FATAL(asprintf(&db, "%s/hub.db", dir) > 0 && asprintf(&wal, "%s-wal", db) > 0 &&
			asprintf(&shm, "%s-shm", db) > 0 &&
			asprintf(&leases, "%s-leases", db) > 0 &&
			asprintf(&lock, "%s/export%%3acrm", leases) > 0);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(s->ops->begin(s), 0);
	CU_ASSERT_EQUAL(s->ops->meta_put(s, "k", "v"), 0);
	CU_ASSERT_EQUAL(s->ops->commit(s), 0);
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "export:crm", &epoch), 1);
	CU_ASSERT_EQUAL(mode_of(db), 0640);
	CU_ASSERT_EQUAL(mode_of(wal) & 0007, 0);
	CU_ASSERT_EQUAL(mode_of(shm) & 0007, 0);
	CU_ASSERT_EQUAL(mode_of(leases), 0750);
	CU_ASSERT_EQUAL(mode_of(lock), 0640);
	store_close(s);
	CU_ASSERT_EQUAL(chmod(db, 0644), 0);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(mode_of(db), 0644);
	store_close(s);
	umask(umask_was);
	testlib_rmtree(dir);
	free(dir);
	free(db);
	free(wal);
	free(shm);
	free(leases);
	free(lock);
}

/* A store reached by two paths (a symlink) is one store with one set of
 * leases: each path had its own <path>-leases/, so two hubs both held
 * every lease and delivered every export.  Made by root, the lock files
 * are its owner's, as SQLite gives it the -wal and -shm: the service user
 * still takes its leases after a `sudo profilehub run`. */
static void test_a_store_by_two_paths_has_one_set_of_leases_given_to_its_owner(void)
{
	char *dir = testlib_mkdtemp(), *db = NULL, *link = NULL, *leases = NULL,
	     *link_leases = NULL, *lock = NULL, err[512];
	struct store *s = NULL, *s2 = NULL;
	int64_t epoch = 0;
	int is_root = geteuid() == 0;
	struct stat st;

	CU_ASSERT_FATAL(asprintf(&db, "%s/real.db", dir) > 0 &&
			asprintf(&link, "%s/link.db", dir) > 0 &&
			asprintf(&leases, "%s-leases", db) > 0 &&
			asprintf(&link_leases, "%s-leases", link) > 0 &&
			asprintf(&lock, "%s/export%%3acrm", leases) > 0);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s, err, sizeof(err)), 0);
	store_close(s);
	CU_ASSERT_EQUAL_FATAL(symlink("real.db", link), 0);
	if (is_root) { /* and a directory an earlier root run made, root's */
		CU_ASSERT_EQUAL(chown(db, 65534, 65534), 0);
		CU_ASSERT_EQUAL(mkdir(leases, 0750), 0);
	}
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(db, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_sqlite_open(link, &s2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(s->ops->lease_try(s, "export:crm", &epoch), 1);
	CU_ASSERT_EQUAL(s2->ops->lease_try(s2, "export:crm", &epoch), 0);
	CU_ASSERT_NOT_EQUAL(access(link_leases, F_OK), 0);
	if (is_root) {
		CU_ASSERT(stat(leases, &st) == 0 && st.st_uid == 65534 && st.st_gid == 65534);
		CU_ASSERT(stat(lock, &st) == 0 && st.st_uid == 65534 && st.st_gid == 65534);
	}
	store_close(s2);
	store_close(s);
	testlib_rmtree(dir);
	free(dir);
	free(db);
	free(link);
	free(leases);
	free(link_leases);
	free(lock);
}

TEST_SUITE(store_migrate, NULL, NULL,
	   TEST(test_version_3_store_is_migrated_keeping_its_data),
	   TEST(test_dead_letters_of_a_version_3_store_go_with_an_erase),
	   TEST(test_store_of_a_newer_hub_is_refused),
	   TEST(test_another_program_s_database_is_refused_and_left_as_it_is),
	   TEST(test_an_older_store_opened_unmigrated_is_left_as_it_is),
	   TEST(test_a_store_migrated_by_another_process_meanwhile_opens),
	   TEST(test_a_store_migrated_by_a_newer_hub_meanwhile_stops_writes),
	   TEST(test_an_older_hub_gives_up_its_leases_after_a_migration),
	   TEST(test_a_new_store_is_not_readable_by_others),
	   TEST(test_a_store_by_two_paths_has_one_set_of_leases_given_to_its_owner))
