/*
 * test_export_postgres.c - the postgres export plugin driven directly
 * (loaded as the hub loads it, its own hub_call), against a real
 * PostgreSQL: HUB_TEST_PG_URL when set (a superuser's, as tests/pgtest.sh
 * gives), else a throwaway server this suite starts with tests/pgtest.sh
 * and stops at its end.  Each test makes its own database (and roles),
 * so tests share nothing but the server.  That server does not fsync
 * (PGTEST_FSYNC=off, as the PostgreSQL unit pass's): no test here crashes
 * the machine under it, so what the tests see is the same, and each
 * test's CREATE DATABASE and DROP DATABASE wait on no disk.
 *
 * Everything is synchronous: a batch is one call, what it did is read back
 * with psql-like queries after it returned.  How a batch is cut into
 * statements and what a SQLSTATE means (plugins/postgres/pgx_batch.c) is
 * compiled in and tested as well.
 */
#include "plugtest.h"
#include "testlib.h"

#include "../../plugins/postgres/pgx_batch.c"

#include "../../hub/alloc.h"
#include "../../hub/config.h"
#include "../../hub/host.h"
#include "../../hub/log.h"
#include "../../hub/plugin.h"
#include "../../hub/util.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *pg_dir;   /* the server this suite started, or NULL */
static char *pg_base;  /* postgresql://postgres@127.0.0.1:PORT (no database) */
static int n_dbs;

/* ---- the server --------------------------------------------------------- */

static int suite_init(void)
{
	const char *url = getenv("HUB_TEST_PG_URL");
	char *cmd, line[512] = "";
	FILE *f;
	char *slash;

	if (!url || !*url) {
		if (!(pg_dir = testlib_mkdtemp()) || chmod(pg_dir, 0755) != 0 ||
		    asprintf(&cmd, "PGTEST_FSYNC=off HUB_BUILD=%s sh tests/pgtest.sh start %s",
			     testlib_build_dir(), pg_dir) < 0)
			return 1;
		f = popen(cmd, "r");
		free(cmd);
		if (!f)
			return 1;
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		if (pclose(f) != 0 || !line[0]) {
			fprintf(stderr,
				"export_postgres: tests/pgtest.sh did not start a server\n");
			return 1;
		}
		line[strcspn(line, "\n")] = '\0';
		url = line;
	}
	/* the URL without its database (and query) */
	if (!(pg_base = strdup(url)))
		return 1;
	pg_base[strcspn(pg_base, "?")] = '\0';
	slash = strrchr(pg_base, '/');
	if (!slash || slash - pg_base < 12)
		return 1;
	*slash = '\0';
	return 0;
}

static int suite_clean(void)
{
	if (pg_dir) {
		char *cmd;
		if (asprintf(&cmd, "sh tests/pgtest.sh stop %s", pg_dir) > 0) {
			if (system(cmd) != 0)
				fprintf(stderr, "export_postgres: stopping the server failed\n");
			free(cmd);
		}
		testlib_rmtree(pg_dir);
		free(pg_dir);
	}
	free(pg_base);
	return 0;
}

/* The URL of database `db` as user `user` (NULL: postgres), malloc'd. */
static char *db_url(const char *db, const char *user)
{
	char *url;
	const char *rest = strstr(pg_base, "://");
	const char *host = strchr(rest + 3, '@');

	host = host ? host + 1 : rest + 3;
	CU_ASSERT_FATAL(asprintf(&url, "postgresql://%s@%s/%s", user ? user : "postgres", host,
				 db) > 0);
	return url;
}

/* Runs sql (printf-style) on database db as the superuser; the first value
 * of the result (malloc'd, "" when none), or NULL on an error (printed). */
static char *sql_on(const char *db, const char *fmt, ...) HUB_PRINTF(2, 3);

static char *sql_on(const char *db, const char *fmt, ...)
{
	char *url = db_url(db, NULL), *sql, *out = NULL;
	va_list ap;
	PGconn *c = PQconnectdb(url);
	PGresult *res;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&sql, fmt, ap);
	va_end(ap);
	CU_ASSERT_FATAL(n > 0);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "export_postgres: %s", PQerrorMessage(c));
		goto out;
	}
	PQsetClientEncoding(c, "UTF8");
	res = PQexec(c, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK)
		out = strdup(PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
	else
		fprintf(stderr, "export_postgres: %s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
out:
	PQfinish(c);
	free(sql);
	free(url);
	return out;
}

/* sql_on() that must succeed, its value dropped. */
#define SQL_OK(db, ...)                                                        \
	do {                                                                   \
		char *v_ = sql_on(db, __VA_ARGS__);                            \
		CU_ASSERT_PTR_NOT_NULL_FATAL(v_);                              \
		free(v_);                                                      \
	} while (0)

/* sql_on()'s value must be `want`. */
#define SQL_IS(want, db, ...)                                                  \
	do {                                                                   \
		char *v_ = sql_on(db, __VA_ARGS__);                            \
		CU_ASSERT_PTR_NOT_NULL(v_);                                    \
		if (v_)                                                        \
			CU_ASSERT_STRING_EQUAL(v_, want);                      \
		free(v_);                                                      \
	} while (0)

/* A new database (name into db, size 32) with `options` (SQL after
 * CREATE DATABASE name). */
static void db_new(char *db, size_t size, const char *options)
{
	snprintf(db, size, "xp_%d_%d", (int)getpid(), ++n_dbs);
	SQL_OK("postgres", "CREATE DATABASE %s TEMPLATE template0 %s", db, options ? options : "");
}

static void db_drop(const char *db)
{
	SQL_OK("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
}

/* ---- the plugin ----------------------------------------------------------- */

struct px {
	struct plugin_module mod;
	struct hub_config *cfg;
	struct hub_instance *inst;
	atomic_int stop;
	struct hub_call call;
};

/* The plugin (`so`, under the build directory) loaded and an instance with
 * url and `keys` (YAML lines, four spaces in): 0, or -1 with err set when
 * create() refused. */
static int px_open_so(struct px *x, const char *so_path, const char *url, const char *keys,
		      char *err, size_t err_size)
{
	char *so, *yaml;

	memset(x, 0, sizeof(*x));
	CU_ASSERT_FATAL(asprintf(&so, "%s/%s", testlib_build_dir(), so_path) > 0);
	CU_ASSERT_EQUAL_FATAL(plugin_load(so, &x->mod, err, err_size), 0);
	free(so);
	CU_ASSERT_FATAL(
		asprintf(&yaml, "exports:\n  - name: wh\n    plugin: postgres\n    url: \"%s\"\n%s",
			 url, keys ? keys : "") > 0);
	CU_ASSERT_EQUAL_FATAL(config_load_string("px.yaml", yaml, &x->cfg, err, err_size), 0);
	free(yaml);
	x->call.stop = &x->stop;
	if (plugin_instance_create(&x->mod, &x->cfg->exports[0], &x->inst, err, err_size))
		return -1;
	x->call.inst = x->inst;
	return 0;
}

/* The plugin as built (PGX_CHUNK_MAX_BYTES of pgx.h). */
static int px_open(struct px *x, const char *url, const char *keys, char *err, size_t err_size)
{
	return px_open_so(x, "plugins/postgres.so", url, keys, err, err_size);
}

static void px_close(struct px *x)
{
	if (x->inst)
		plugin_instance_destroy(x->inst);
	config_free(x->cfg);
	plugin_unload(&x->mod);
}

static hub_rc px_send(struct px *x, const char *const *changes, size_t n, size_t *n_done,
		      char *err, size_t err_size)
{
	err[0] = '\0';
	return x->mod.desc->export_batch(x->inst->state, &x->call, changes, n, n_done, err,
					 err_size);
}

static hub_rc px_check(struct px *x, char *err, size_t err_size)
{
	err[0] = '\0';
	return x->mod.desc->check_connect(x->inst->state, err, err_size);
}

/* ---- the url ---------------------------------------------------------------- */

/* check and run warn of a url to another machine whose server is not
 * verified (libpq's default sslmode, prefer, takes any certificate and
 * falls back to clear text), naming the mode, never the url. */
static void test_a_url_to_another_machine_without_verify_full_is_warned_of(void)
{
	static const struct {
		const char *url, *mode; /* mode NULL: no warning */
	} rows[] = {
		{"postgresql://hub:pw@db.example.com/hub", "prefer"},
		{"postgresql://hub:pw@db.example.com/hub?sslmode=require", "require"},
		{"postgresql://hub:pw@db.example.com/hub?sslmode=disable", "disable"},
		{"host=10.0.0.5 dbname=hub user=hub password=pw", "prefer"},
		{"postgresql://hub:pw@127.0.0.1,db.example.com/hub", "prefer"},
		{"postgresql://hub:pw@db.example.com/hub?sslmode=verify-full", NULL},
		{"postgresql://hub:pw@db.example.com/hub?sslmode=verify-ca", NULL},
		{"postgresql://hub:pw@127.0.0.1:5432/hub", NULL},
		{"postgresql://hub:pw@localhost/hub", NULL},
		{"postgresql://hub:pw@[::1]/hub", NULL},
		{"host=/var/run/postgresql dbname=hub", NULL},
		{"postgresql:///hub", NULL},
	};

	unsetenv("PGHOST");
	unsetenv("PGHOSTADDR");
	unsetenv("PGSSLMODE");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct testlib_capture cap;
		char err[1024] = "", want[64], *logged;
		struct px x;

		CU_ASSERT_EQUAL_FATAL(px_open(&x, rows[i].url, "    table: t\n", err, sizeof(err)),
				      0);
		testlib_capture_begin(&cap);
		CU_ASSERT_EQUAL(plugin_instance_check_config(&x.mod, &x.cfg->exports[0], err,
							     sizeof(err)),
				0);
		logged = testlib_capture_end(&cap);
		snprintf(want, sizeof(want), "url: sslmode=%s to a host other than this machine",
			 rows[i].mode ? rows[i].mode : "");
		if ((strstr(logged, want) != NULL) != (rows[i].mode != NULL) ||
		    (!rows[i].mode && *logged))
			fprintf(stderr, "\n  row %zu: logged \"%s\"", i, logged);
		CU_ASSERT_EQUAL(strstr(logged, want) != NULL, rows[i].mode != NULL);
		CU_ASSERT(rows[i].mode || !*logged);
		CU_ASSERT_PTR_NULL(strstr(logged, "example.com"));
		CU_ASSERT_PTR_NULL(strstr(logged, "pw"));
		free(logged);
		px_close(&x);
	}
}

/* An '@' then a '/' in the password: libpq read "tPassw0rd" as the host
 * and quoted it in every connect error.  Refused at create, naming the
 * remedy, without quoting any of it. */
static void test_an_unescaped_at_in_the_password_is_refused(void)
{
	struct px x;
	char err[1024] = "", db[32], *url, *host = strrchr(pg_base, '@');
	const char *one[] = {"{\"seq\":1,\"kind\":\"profile_updated\",\"profile_id\":\"p1\","
			     "\"profile\":{\"profile_id\":\"p1\"}}"};
	size_t n_done = 0;

	db_new(db, sizeof(db), NULL);
	CU_ASSERT_FATAL(asprintf(&url, "postgresql://postgres:S3cr@tPassw0rd/xyz@%s/%s",
				 host ? host + 1 : pg_base + 13, db) > 0);
	CU_ASSERT_EQUAL(px_open(&x, url, NULL, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "%40"));
	CU_ASSERT_PTR_NULL(strstr(err, "Passw0rd"));
	CU_ASSERT_PTR_NULL(strstr(err, "S3cr"));
	px_close(&x);
	free(url);

	/* percent-encoded, the same password works (the server trusts it) */
	CU_ASSERT_FATAL(asprintf(&url, "postgresql://postgres:S3cr%%40tPassw0rd%%2Fxyz@%s/%s",
				 host ? host + 1 : pg_base + 13, db) > 0);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	SQL_IS("1", db, "SELECT count(*) FROM profilehub_profiles");
	px_close(&x);
	free(url);
	db_drop(db);
}

/* A '/' in the user name: libpq read what follows, password included, as
 * the database name, which connect errors quote, and no password to star
 * out; an '@' in it, as the user name.  Refused at create, as store.url is
 * (found by fuzz_url). */
static void test_an_unescaped_slash_in_the_user_is_refused(void)
{
	struct px x;
	char err[1024] = "";

	CU_ASSERT_EQUAL(px_open(&x, "postgresql://us/er:S3cretPassw0rd@localhost/db", NULL, err,
				sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a valid PostgreSQL connection URL"));
	CU_ASSERT_PTR_NULL(strstr(err, "Passw0rd"));
	px_close(&x);

	/* an '@' in it: the user ends there, and the query sets the user
	 * ":S3cretPassw0rd@localhost/db", quoted by connect errors */
	CU_ASSERT_EQUAL(px_open(&x, "postgresql://us@?user=:S3cretPassw0rd@localhost/db", NULL,
				err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "%40"));
	CU_ASSERT_PTR_NULL(strstr(err, "Passw0rd"));
	px_close(&x);
}

/* Belt and braces: whatever libpq quotes of the password is starred out of
 * the error (here the password is also the name of a missing database). */
static void test_no_part_of_the_password_is_in_a_libpq_message(void)
{
	struct px x;
	char err[1024] = "", *url, *host = strrchr(pg_base, '@');
	const char *one[] = {"{\"seq\":1,\"kind\":\"profile_updated\",\"profile_id\":\"p1\","
			     "\"profile\":{\"profile_id\":\"p1\"}}"};
	size_t n_done = 9;

	CU_ASSERT_FATAL(asprintf(&url, "postgresql://postgres:Missing_db_pw@%s/missing_db_pw_2",
				 host ? host + 1 : pg_base + 13) > 0);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_check(&x, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not exist"));
	CU_ASSERT_PTR_NULL(strstr(err, "issing"));
	CU_ASSERT_PTR_NULL(strstr(err, "db_pw"));
	CU_ASSERT_NOT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 0);
	CU_ASSERT_PTR_NULL(strstr(err, "db_pw"));
	px_close(&x);
	free(url);
}

/* ---- the session ------------------------------------------------------------ */

/* A change for profile pid at seq whose attribute "name" is `name`. */
static char *change_named(int seq, const char *pid, const char *name)
{
	char *c;
	CU_ASSERT_FATAL(asprintf(&c,
				 "{\"seq\":%d,\"kind\":\"profile_updated\",\"profile_id\":\"%s\","
				 "\"profile\":{\"profile_id\":\"%s\",\"attributes\":"
				 "{\"name\":\"%s\"}}}",
				 seq, pid, pid, name) > 0);
	return c;
}

/* A LATIN1 database, and a url asking for LATIN1 too: the changes' UTF-8
 * still arrives as the characters it spells ("Zoë", not "ZoÃ«"), and one the
 * database cannot hold ("€") is a data error for its change. */
static void test_text_arrives_as_written_in_a_database_not_in_utf8(void)
{
	struct px x;
	char err[1024] = "", db[32], *url, *with_query;
	char *zoe = change_named(1, "p1", "Zo\xc3\xab"),
	     *euro = change_named(2, "p2", "\xe2\x82\xac");
	const char *one[1];
	size_t n_done = 0;

	db_new(db, sizeof(db), "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'");
	url = db_url(db, NULL);
	CU_ASSERT_FATAL(asprintf(&with_query, "%s?client_encoding=LATIN1", url) > 0);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, with_query, NULL, err, sizeof(err)), 0);
	one[0] = zoe;
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	SQL_IS("Zo\xc3\xab", db, "SELECT doc->'attributes'->>'name' FROM profilehub_profiles");
	one[0] = euro;
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_EQUAL(n_done, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "22P05"));
	SQL_IS("1", db, "SELECT count(*) FROM profilehub_profiles");
	px_close(&x);
	free(with_query);
	free(url);
	free(zoe);
	free(euro);
	db_drop(db);
}

/* A batch's last change of a profile wins (changes apply in seq order),
 * and no batch moves a row back in time: one replayed after a crash with
 * an older seq leaves the row, one of the same seq (the document as it is
 * at its delivery) rewrites it.  A merged change deletes the rows of the
 * profiles it absorbed. */
static void test_the_last_change_wins_and_a_row_never_goes_back(void)
{
	struct px x;
	char err[1024] = "", db[32], *url;
	char *older = change_named(6, "p1", "older"), *newer = change_named(7, "p1", "newer");
	char *stale = change_named(5, "p1", "stale"), *again = change_named(7, "p1", "again");
	char *p2 = change_named(8, "p2", "other"), *merged = NULL;
	const char *two[2] = {older, newer}, *one[1];
	size_t n_done = 0;

	CU_ASSERT_FATAL(asprintf(&merged, "{\"seq\":9,\"kind\":\"merged\",\"profile_id\":\"p1\","
					  "\"profile\":{\"profile_id\":\"p1\",\"attributes\":"
					  "{\"name\":\"merged\"}},\"merged_from\":[\"p2\"]}") > 0);
	db_new(db, sizeof(db), NULL);
	url = db_url(db, NULL);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_send(&x, two, 2, &n_done, err, sizeof(err)), HUB_OK);
	SQL_IS("newer 7", db, "SELECT (doc->'attributes'->>'name') || ' ' || updated_seq"
			      " FROM profilehub_profiles");
	one[0] = stale;
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	SQL_IS("newer 7", db, "SELECT (doc->'attributes'->>'name') || ' ' || updated_seq"
			      " FROM profilehub_profiles");
	one[0] = again;
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	SQL_IS("again 7", db, "SELECT (doc->'attributes'->>'name') || ' ' || updated_seq"
			      " FROM profilehub_profiles");
	/* p2 merged into p1: its row goes, p1's is the document sent */
	one[0] = p2;
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	one[0] = merged;
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	SQL_IS("p1 merged 9", db, "SELECT string_agg(profile_id || ' ' || (doc->'attributes'->>"
				  "'name') || ' ' || updated_seq, ',') FROM profilehub_profiles");
	px_close(&x);
	free(url);
	free(older);
	free(newer);
	free(stale);
	free(again);
	free(p2);
	free(merged);
	db_drop(db);
}

/* SQL_ASCII converts and checks nothing: refused at connect, named. */
static void test_a_sql_ascii_database_is_refused(void)
{
	struct px x;
	char err[1024] = "", db[32], *url;

	db_new(db, sizeof(db), "ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'");
	url = db_url(db, NULL);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_check(&x, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "SQL_ASCII"));
	px_close(&x);
	free(url);
	db_drop(db);
}

/* What a statement-level trigger on the target table saw of the session
 * that inserted: the plugin's own settings, observed from outside. */
#define WATCH_SQL                                                              \
	"CREATE TABLE profilehub_profiles (profile_id text PRIMARY KEY,"      \
	" doc jsonb NOT NULL, updated_seq bigint NOT NULL);"                   \
	"CREATE TABLE seen (synchronous_commit text, client_encoding text);"   \
	"CREATE FUNCTION watch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"  \
	" INSERT INTO seen VALUES (current_setting('synchronous_commit'),"     \
	" current_setting('client_encoding')); RETURN NULL; END$$;"            \
	"CREATE TRIGGER watch AFTER INSERT ON profilehub_profiles"             \
	" FOR EACH STATEMENT EXECUTE FUNCTION watch()"

/* A database whose default is synchronous_commit = off: the export's
 * session has it on (its commit returns once flushed), as a trigger of
 * the table sees. */
static void test_commits_are_synchronous_where_the_database_says_off(void)
{
	struct px x;
	char err[1024] = "", db[32], *url, *c = change_named(1, "p1", "ann");
	const char *one[] = {c};
	size_t n_done = 0;

	db_new(db, sizeof(db), NULL);
	SQL_OK(db, "ALTER DATABASE %s SET synchronous_commit = off", db);
	SQL_OK(db, WATCH_SQL);
	SQL_IS("off", db, "SHOW synchronous_commit"); /* a new session's default */
	url = db_url(db, NULL);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	SQL_IS("on", db, "SELECT string_agg(synchronous_commit, ',') FROM seen");
	px_close(&x);
	free(url);
	free(c);
	db_drop(db);
}

/* ---- the table ------------------------------------------------------------- */

/* The target table dropped while the export runs is created again by the
 * next batch (it disabled the export as a configuration error, 42P01). */
static void test_a_dropped_table_is_created_again(void)
{
	struct px x;
	char err[1024] = "", db[32], *url;
	char *c1 = change_named(1, "p1", "ann"), *c2 = change_named(2, "p2", "bob");
	const char *one[1];
	size_t n_done = 0;

	db_new(db, sizeof(db), NULL);
	url = db_url(db, NULL);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, "    table: hub_t\n", err, sizeof(err)), 0);
	one[0] = c1;
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	SQL_OK(db, "DROP TABLE hub_t");
	one[0] = c2;
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	SQL_IS("p2", db, "SELECT string_agg(profile_id, ',') FROM hub_t");
	px_close(&x);
	free(url);
	free(c1);
	free(c2);
	db_drop(db);
}

/* The stop of the hub, asked once a query of export wh waits for a lock in
 * database db (its own connection: no CUnit off the test's thread). */
struct stopper {
	struct px *x;
	char *url;
	pthread_t thread;
};

static void *stop_once_waiting(void *arg)
{
	struct stopper *st = arg;
	PGconn *c = PQconnectdb(st->url);
	const int64_t deadline = time_mono_ms() + 30000;

	while (PQstatus(c) == CONNECTION_OK && time_mono_ms() < deadline) {
		const struct timespec poll = {0, 10000000L};
		PGresult *res = PQexec(c, "SELECT 1 FROM pg_stat_activity WHERE application_name"
					  " = 'profilehub-export' AND wait_event_type = 'Lock'");
		int is_waiting = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;

		PQclear(res);
		if (is_waiting)
			break;
		nanosleep(&poll, NULL);
	}
	PQfinish(c);
	atomic_store(&st->x->stop, 1);
	return NULL;
}

/* How many queries of the export run in database db. */
static int export_queries_running(const char *db)
{
	char *v = sql_on(db, "SELECT count(*) FROM pg_stat_activity WHERE application_name"
			     " = 'profilehub-export' AND state = 'active'");
	int n = v ? atoi(v) : -1;

	free(v);
	return n;
}

/* Export wh, connecting with `url` (to database db), given up on a batch
 * that waits for a lock on its table (held by the connection returned,
 * for the caller to PQfinish), as the hub stops; what was logged meanwhile
 * in *logged (malloc'd). */
static PGconn *batch_given_up(const char *url, const char *db, char **logged)
{
	struct px x;
	struct stopper st = {.x = &x, .url = db_url(db, NULL)};
	struct testlib_capture cap;
	char err[1024] = "";
	char *c1 = change_named(1, "p1", "ann"), *c2 = change_named(2, "p2", "bob");
	const char *one[1];
	size_t n_done = 0;
	PGconn *locker;
	PGresult *res;

	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, "    table: hub_t\n    timeout: 0\n", err,
				      sizeof(err)), 0);
	one[0] = c1;
	CU_ASSERT_EQUAL_FATAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	locker = PQconnectdb(st.url);
	res = PQexec(locker, "BEGIN; LOCK TABLE hub_t IN ACCESS EXCLUSIVE MODE");
	CU_ASSERT_EQUAL_FATAL(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&st.thread, NULL, stop_once_waiting, &st), 0);
	one[0] = c2;
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_RETRY);
	*logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "given up, the hub is stopping"));
	pthread_join(st.thread, NULL);
	px_close(&x);
	free(st.url);
	free(c1);
	free(c2);
	return locker;
}

/* A batch given up while its statement waits for a lock (the hub stops;
 * `timeout: 0`, so the server has no timeout of its own) is cancelled on
 * the server before the connection is dropped.  It was only dropped: the
 * backend, waiting for the lock, never read the connection again and went
 * on waiting (and holding its own locks) until the lock came free. */
static void test_a_batch_given_up_is_cancelled_on_the_server(void)
{
	char db[32], *url, *logged;
	int64_t deadline;
	PGconn *locker;

	db_new(db, sizeof(db), NULL);
	url = db_url(db, NULL);
	locker = batch_given_up(url, db, &logged);
	CU_ASSERT_PTR_NULL(logged ? strstr(logged, "cancelling") : "");
	/* the cancel reaches the backend at once, it ends the query then */
	deadline = time_mono_ms() + 10000;
	while (export_queries_running(db) != 0 && time_mono_ms() < deadline) {
		const struct timespec poll = {0, 10000000L};
		nanosleep(&poll, NULL);
	}
	CU_ASSERT_EQUAL(export_queries_running(db), 0);
	PQclear(PQexec(locker, "ROLLBACK"));
	PQfinish(locker);
	free(logged);
	free(url);
	db_drop(db);
}

/* A TCP relay on 127.0.0.1 to the suite's server: its first connection
 * (the export's session) is relayed both ways; any later one (a cancel
 * request) is taken and held, never read or answered, as a server or a
 * network gone quiet would. */
struct relay {
	int listen_fd, port, server_port;
	/* a pipe's ends (or -1), to look at the cancel's child: when its
	 * request comes (the child alive, waiting for an answer), the write
	 * end is closed here and probe_state says whether the read end saw
	 * its end then (1) or some other process held it still (2) */
	int probe_r, probe_w;
	atomic_int probe_state;
	atomic_int stop;
	pthread_t thread;
};

static void relay_probe(struct relay *r)
{
	struct pollfd pfd = {.fd = r->probe_r, .events = POLLIN};

	if (r->probe_w < 0)
		return;
	close(r->probe_w);
	r->probe_w = -1;
	atomic_store(&r->probe_state, poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP) ? 1 : 2);
}

static int relay_connect_server(const struct relay *r)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->server_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Copies what `from` has to `to`: 0, or -1 at its end (or an error). */
static int relay_copy(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));

	for (ssize_t off = 0; n > 0 && off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w <= 0)
			return -1;
		off += w;
	}
	return n > 0 ? 0 : -1;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	int client = -1, server = -1, held[8], n_held = 0;

	while (!atomic_load(&r->stop)) {
		struct pollfd fds[3] = {{.fd = r->listen_fd, .events = POLLIN},
					{.fd = client, .events = POLLIN},
					{.fd = server, .events = POLLIN}};
		int fd;

		if (poll(fds, 3, 50) <= 0)
			continue;
		if ((fds[0].revents & POLLIN) && (fd = accept(r->listen_fd, NULL, NULL)) >= 0) {
			if (client < 0 && server < 0 && n_held == 0) {
				client = fd;
				server = relay_connect_server(r);
			} else if (n_held < 8) {
				held[n_held++] = fd;
				relay_probe(r);
			} else {
				close(fd);
			}
		}
		if ((fds[1].revents && relay_copy(client, server)) ||
		    (fds[2].revents && relay_copy(server, client))) {
			close(client);
			close(server);
			client = server = -2; /* the session is over */
		}
	}
	if (client >= 0)
		close(client);
	if (server >= 0)
		close(server);
	while (n_held > 0)
		close(held[--n_held]);
	return NULL;
}

/* probe: a pipe's ends (relay_probe()), or NULL */
static void relay_start(struct relay *r, const int *probe)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	const char *colon = strrchr(pg_base, ':');

	memset(r, 0, sizeof(*r));
	CU_ASSERT_PTR_NOT_NULL_FATAL(colon);
	r->server_port = atoi(colon + 1);
	r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(r->listen_fd >= 0 &&
			bind(r->listen_fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			listen(r->listen_fd, 8) == 0 &&
			getsockname(r->listen_fd, (struct sockaddr *)&a, &len) == 0);
	r->port = ntohs(a.sin_port);
	r->probe_r = probe ? probe[0] : -1;
	r->probe_w = probe ? probe[1] : -1;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&r->thread, NULL, relay_main, r), 0);
}

static void relay_stop(struct relay *r)
{
	atomic_store(&r->stop, 1);
	pthread_join(r->thread, NULL);
	close(r->listen_fd);
	if (r->probe_r >= 0)
		close(r->probe_r);
	if (r->probe_w >= 0)
		close(r->probe_w);
}

/* A batch given up as the hub stops, its export connected through a
 * relay that holds the cancel request (probe: relay_start()'s); what was
 * logged meanwhile (malloc'd), the probe's state in *probe_state. */
static char *batch_given_up_cancel_held(const int *probe, int *probe_state)
{
	struct relay r;
	char db[32], *url, *logged;
	PGconn *locker;

	db_new(db, sizeof(db), NULL);
	relay_start(&r, probe);
	CU_ASSERT_FATAL(asprintf(&url, "postgresql://postgres@127.0.0.1:%d/%s", r.port, db) > 0);
	locker = batch_given_up(url, db, &logged);
	*probe_state = atomic_load(&r.probe_state);
	PQclear(PQexec(locker, "ROLLBACK"));
	PQfinish(locker);
	relay_stop(&r);
	free(url);
	db_drop(db);
	return logged;
}

/* A cancel request the server does not answer (here a relay that holds
 * it) is given up after 2 s, its child process killed, and logged: the
 * batch still ends, HUB_RETRY, and the connection is dropped. */
static void test_a_cancel_without_an_answer_is_given_up_and_logged(void)
{
	int probe_state;
	char *logged = batch_given_up_cancel_held(NULL, &probe_state);

	CU_ASSERT_PTR_NOT_NULL(logged ? strstr(logged, "cancelling the query given up failed (no"
					   " answer from the server within 2 s): the server may"
					   " run it on until its own timeout") : NULL);
	free(logged);
}

/* The cancel's child process (fork() of the hub) holds none of the hub's
 * descriptors while it waits: one the hub closes meanwhile is closed (here
 * a pipe's write end, closed as the child's request comes in, its read
 * end seeing the end at once).  The child held them all: a client
 * connection the hub ended stayed open, a port it stopped listening on
 * still took connections, for up to 2 s. */
static void test_the_cancel_child_holds_no_descriptor_of_the_hub(void)
{
	int probe[2], probe_state = 0;

	CU_ASSERT_EQUAL_FATAL(pipe(probe), 0);
	free(batch_given_up_cancel_held(probe, &probe_state));
	CU_ASSERT_EQUAL(probe_state, 1);
}

/* A role that may read and write the existing table but not create in its
 * schema delivers (CREATE TABLE IF NOT EXISTS refused it, 42501, and the
 * export was disabled); check --connect names the privileges a role that
 * may only read lacks (it passed, then every batch was refused). */
static void test_a_role_needs_only_the_privileges_it_uses(void)
{
	struct px x;
	char err[1024] = "", db[32], writer[40], reader[40], *url,
	     *c = change_named(1, "p1", "ann");
	const char *one[] = {c};
	size_t n_done = 0;

	db_new(db, sizeof(db), NULL);
	snprintf(writer, sizeof(writer), "%s_w", db);
	snprintf(reader, sizeof(reader), "%s_r", db);
	SQL_OK(db, "CREATE SCHEMA hub; CREATE TABLE hub.profiles (profile_id text PRIMARY KEY,"
		   " doc jsonb NOT NULL, updated_seq bigint NOT NULL);"
		   "CREATE ROLE %s LOGIN; GRANT USAGE ON SCHEMA hub TO %s;"
		   "GRANT SELECT, INSERT, UPDATE, DELETE ON hub.profiles TO %s;"
		   "CREATE ROLE %s LOGIN; GRANT USAGE, CREATE ON SCHEMA hub TO %s;"
		   "GRANT SELECT ON hub.profiles TO %s",
	       writer, writer, writer, reader, reader, reader);

	url = db_url(db, writer);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, "    table: hub.profiles\n", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_check(&x, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	SQL_IS("p1", db, "SELECT string_agg(profile_id, ',') FROM hub.profiles");
	px_close(&x);
	free(url);

	url = db_url(db, reader);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, "    table: hub.profiles\n", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_check(&x, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "INSERT, UPDATE, DELETE"));
	px_close(&x);
	free(url);
	free(c);
	db_drop(db);
	SQL_OK("postgres", "DROP ROLE %s; DROP ROLE %s", writer, reader);
}

/* Names of more than 63 bytes are refused (PostgreSQL cut them: two long
 * names sharing their first 63 bytes were one table); 63 are taken whole. */
static void test_a_table_name_past_63_bytes_is_refused(void)
{
	struct px x;
	char err[1024] = "", db[32], keys[256], *url, *c = change_named(1, "p1", "ann");
	const char *one[] = {c};
	const char *n63 = "t23456789012345678901234567890123456789012345678901234567890123";
	size_t n_done = 0;

	db_new(db, sizeof(db), NULL);
	url = db_url(db, NULL);
	snprintf(keys, sizeof(keys), "    table: %s4\n", n63);
	CU_ASSERT_EQUAL(px_open(&x, url, keys, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "at most 63"));
	px_close(&x);
	snprintf(keys, sizeof(keys), "    table: %s4.profiles\n", n63);
	CU_ASSERT_EQUAL(px_open(&x, url, keys, err, sizeof(err)), -1);
	px_close(&x);
	snprintf(keys, sizeof(keys), "    table: %s\n", n63);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, keys, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	SQL_IS("1", db, "SELECT count(*) FROM %s", n63);
	px_close(&x);
	free(url);
	free(c);
	db_drop(db);
}

/* A name with upper-case letters is refused, saying why: PostgreSQL folds
 * unquoted names to lower case, and the name is quoted, so
 * analytics.Profiles filled a second table "Profiles" while the user's
 * analytics.profiles stayed empty.  Written in lower case, it is that table. */
static void test_a_table_name_in_upper_case_is_refused(void)
{
	static const char *const names[] = {"analytics.Profiles", "Analytics.profiles",
					    "PROFILES"};
	struct px x;
	char err[1024] = "", db[32], keys[256], *url, *c = change_named(1, "p1", "ann");
	const char *one[] = {c};
	size_t n_done = 0;

	db_new(db, sizeof(db), NULL);
	url = db_url(db, NULL);
	SQL_OK(db, "CREATE SCHEMA analytics; CREATE TABLE analytics.Profiles (profile_id text"
		   " PRIMARY KEY, doc jsonb NOT NULL, updated_seq bigint NOT NULL)");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(keys, sizeof(keys), "    table: %s\n", names[i]);
		CU_ASSERT_EQUAL(px_open(&x, url, keys, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, names[i]));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "folds a name written without quotes to "
						   "lower case, so write the name in lower case"));
		px_close(&x);
	}
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, "    table: analytics.profiles\n", err,
				      sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	SQL_IS("p1", db, "SELECT string_agg(profile_id, ',') FROM analytics.Profiles");
	SQL_IS("1", db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'analytics'");
	px_close(&x);
	free(url);
	free(c);
	db_drop(db);
}

/* A name of three parts (db.schema.name) is refused at create: it passed,
 * then every batch failed on the cross-database reference (0A000) and was
 * retried forever. */
static void test_a_table_name_of_three_parts_is_refused(void)
{
	static const char *const names[] = {"otherdb.public.hub_t", "a.b.c", "a.b."};
	struct px x;
	char err[1024] = "", keys[256], *url = db_url("postgres", NULL);

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(keys, sizeof(keys), "    table: %s\n", names[i]);
		CU_ASSERT_EQUAL(px_open(&x, url, keys, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "table: expected name or schema.name"));
		px_close(&x);
	}
	CU_ASSERT_EQUAL(px_open(&x, url, "    table: public.hub_t\n", err, sizeof(err)), 0);
	px_close(&x);
	free(url);
}

/* A notice of the server (a trigger's RAISE NOTICE) goes to the hub's log
 * at debug, never raw onto stderr as libpq's "NOTICE:  ..." line. */
static void test_server_notices_go_to_the_log_at_debug(void)
{
	struct px x;
	struct testlib_capture cap;
	char err[1024] = "", db[32], *url, *out;
	char *c1 = change_named(1, "p1", "ann"), *c2 = change_named(2, "p2", "bob");
	const char *one[1];
	size_t n_done = 0;

	db_new(db, sizeof(db), NULL);
	SQL_OK(db, "CREATE TABLE profilehub_profiles (profile_id text PRIMARY KEY,"
		   " doc jsonb NOT NULL, updated_seq bigint NOT NULL);"
		   "CREATE FUNCTION say() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
		   " RAISE NOTICE 'said by a trigger'; RETURN NULL; END$$;"
		   "CREATE TRIGGER say AFTER INSERT ON profilehub_profiles"
		   " FOR EACH STATEMENT EXECUTE FUNCTION say()");
	url = db_url(db, NULL);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, NULL, err, sizeof(err)), 0);
	one[0] = c1;
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	out = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NULL(strstr(out, "said by a trigger")); /* info: not logged */
	free(out);

	one[0] = c2;
	log_set_level(HUB_LOG_DEBUG);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	out = testlib_capture_end(&cap);
	log_set_level(HUB_LOG_INFO);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(out, "debug [wh] the target database says (NOTICE): said by a trigger"));
	CU_ASSERT_PTR_NULL(strstr(out, "NOTICE:"));
	free(out);
	px_close(&x);
	free(url);
	free(c1);
	free(c2);
	db_drop(db);
}

/* ---- the batch ------------------------------------------------------------- */

/* A batch is cut into statements of at most max_bytes of JSON array, each
 * with at least one change, covering every change once and in order. */
static void test_a_batch_is_cut_into_chunks_of_a_bounded_size(void)
{
	static const char *const changes[] = {"aaaa", "bb", "ccccccccccccccc", "d", "e"};
	static const struct {
		size_t from, max_bytes, end;
	} cases[] = {
		{0, 100, 5},  /* all: [aaaa,bb,ccccccccccccccc,d,e] is 29 bytes */
		{0, 29, 5},   /* exactly */
		{0, 28, 4},
		{0, 9, 2},    /* [aaaa,bb] is 9 */
		{0, 8, 1},
		{0, 1, 1},    /* a change past the cap goes alone */
		{2, 17, 3},   /* [ccccccccccccccc] alone is 17 */
		{2, 3, 3},
		{3, 4, 4},    /* [d] is 3 */
		{3, 5, 5},    /* [d,e] is 5 */
		{5, 5, 5},    /* nothing left */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t end = pgx_chunk_end(changes, ARRAY_SIZE(changes), cases[i].from,
					   cases[i].max_bytes);
		CU_ASSERT_EQUAL(end, cases[i].end);
		if (end != cases[i].end)
			fprintf(stderr, "\n  case %zu: end %zu, want %zu\n", i, end, cases[i].end);
	}
}

/* A SQLSTATE's meaning for a batch; a program limit (class 54: a jsonb
 * past 256 MB, a document nested too deep) fell through to a retry, and
 * the same batch failed so forever. */
static void test_a_sqlstate_says_what_a_batch_failure_is(void)
{
	static const struct {
		const char *state;
		hub_rc rc;
	} cases[] = {
		{"54000", HUB_ERR_DATA}, {"54001", HUB_ERR_DATA}, {"22P02", HUB_ERR_DATA},
		{"23505", HUB_ERR_DATA}, {"28P01", HUB_ERR_AUTH}, {"42501", HUB_ERR_CONFIG},
		{"3D000", HUB_ERR_CONFIG}, {"42P07", HUB_RETRY},   {"40001", HUB_RETRY},
		{"08006", HUB_RETRY},    {"57014", HUB_RETRY},     {NULL, HUB_RETRY},
		/* a duplicate object: CREATE ... IF NOT EXISTS racing another creator */
		{"42710", HUB_RETRY},    {"3F000", HUB_ERR_CONFIG}, {"", HUB_RETRY},
		/* a target that cannot take the statement (a view, a table with
		 * rules, deletes published without a replica identity): no retry
		 * mends it; a lock not available, an object in use do */
		{"0A000", HUB_ERR_CONFIG}, {"55000", HUB_ERR_CONFIG}, {"55P03", HUB_RETRY},
		{"55006", HUB_RETRY},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		CU_ASSERT_EQUAL(pgx_sqlstate_rc(cases[i].state), cases[i].rc);
		if (pgx_sqlstate_rc(cases[i].state) != cases[i].rc)
			fprintf(stderr, "\n  %s: %d\n", cases[i].state ? cases[i].state : "(none)",
				(int)pgx_sqlstate_rc(cases[i].state));
	}
}

/* A not-null violation (23502) is a configuration error only on a column
 * of the export's own table that it does not write: every change fails
 * alike there (each was dead-lettered, one by one).  On profile_id, doc or
 * updated_seq it is the change's (no profile_id, no seq); on another
 * table (a trigger's) it stays the data error it was. */
static void test_a_not_null_violation_is_configuration_off_the_written_columns(void)
{
	static const struct {
		const char *table, *state, *err_table, *column;
		int is_config;
	} cases[] = {
		{"\"profilehub_profiles\"", "23502", "profilehub_profiles", "tenant", 1},
		{"\"hub\".\"profiles\"", "23502", "profiles", "tenant", 1},
		{"\"hub\".\"profiles\"", "23502", "profiles", "profile_id", 0},
		{"\"hub\".\"profiles\"", "23502", "profiles", "doc", 0},
		{"\"hub\".\"profiles\"", "23502", "profiles", "updated_seq", 0},
		{"\"hub\".\"profiles\"", "23502", "audit", "tenant", 0},
		{"\"hub\".\"profiles\"", "23502", "profiles_x", "tenant", 0},
		{"\"hub\".\"profiles\"", "23502", "profile", "tenant", 0},
		{"\"hub\".\"profiles\"", "23505", "profiles", "tenant", 0},
		{"\"hub\".\"profiles\"", NULL, "profiles", "tenant", 0},
		{"\"hub\".\"profiles\"", "23502", NULL, "tenant", 0},
		{"\"hub\".\"profiles\"", "23502", "profiles", NULL, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int got = pgx_is_unwritten_not_null(cases[i].table, cases[i].state,
						    cases[i].err_table, cases[i].column);
		CU_ASSERT_EQUAL(got, cases[i].is_config);
		if (got != cases[i].is_config)
			fprintf(stderr, "\n  case %zu: %d\n", i, got);
	}
}

/* A login the server refuses, as libpq words it (no SQLSTATE comes with
 * it): one its pg_hba.conf has no line for, or rejects, was retried for
 * ever like a network error; now credentials refused (HUB_ERR_AUTH), as a
 * wrong password and a webhook's 401/403 are. */
static void test_a_refused_login_s_text_says_what_it_is(void)
{
	static const struct {
		const char *text;
		hub_rc rc;
	} cases[] = {
		{"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  no pg_hba.conf"
		 " entry for host \"127.0.0.1\", user \"u\", database \"d\", no encryption\n",
		 HUB_ERR_AUTH},
		{"connection to server at \"h\" (10.0.0.1), port 5432 failed: FATAL:  pg_hba.conf"
		 " rejects connection for host \"10.0.0.2\", user \"u\", database \"d\"\n",
		 HUB_ERR_AUTH},
		{"... failed: FATAL:  role \"u\" is not permitted to log in\n", HUB_ERR_AUTH},
		{"... failed: FATAL:  password authentication failed for user \"u\"\n",
		 HUB_ERR_AUTH},
		{"... failed: fe_sendauth: no password supplied\n", HUB_ERR_AUTH},
		{"... failed: FATAL:  database \"d\" does not exist\n", HUB_ERR_CONFIG},
		{"... failed: FATAL:  permission denied for database \"d\"\nDETAIL:  User does"
		 " not have CONNECT privilege.\n", HUB_ERR_CONFIG},
		{"... failed: Connection refused\n\tIs the server running on that host and"
		 " accepting TCP/IP connections?\n", HUB_RETRY},
		{"... failed: FATAL:  the database system is starting up\n", HUB_RETRY},
		{"... failed: FATAL:  sorry, too many clients already\n", HUB_RETRY},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		hub_rc got = pgx_connect_refusal_rc(cases[i].text);
		CU_ASSERT_EQUAL(got, cases[i].rc);
		if (got != cases[i].rc)
			fprintf(stderr, "\n  case %zu: %d\n", i, (int)got);
	}
}

/* A query that answers one row and answers another count fails with a
 * message naming it (it was an empty message), to be retried. */
static void test_a_one_row_query_answering_another_count_says_so(void)
{
	char err[128] = "";

	CU_ASSERT_EQUAL(pgx_one_row(1, "looking for the table", err, sizeof(err)), HUB_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(pgx_one_row(0, "looking for the table", err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "looking for the table: the server answered 0 rows, not one");
	CU_ASSERT_EQUAL(pgx_one_row(2, "reading the privileges", err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_STRING_EQUAL(err, "reading the privileges: the server answered 2 rows, not one");
}

/* A change PostgreSQL cannot take (here nested past its stack depth,
 * 54001, as a profile past jsonb's 256 MB gets 54000) fails its batch as
 * bad data, nothing of the batch stored, so the exporter dead-letters that
 * change alone; it was retried, the same batch forever. */
static void test_a_change_past_a_limit_of_postgresql_is_bad_data(void)
{
	enum { DEPTH = 200000 };
	struct px x;
	char err[1024] = "", db[32], *url, *c1 = change_named(1, "p1", "ann"), *deep;
	const char *both[2];
	size_t n_done = 9, o;

	deep = malloc(2 * DEPTH + 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(deep);
	o = (size_t)sprintf(deep, "{\"seq\":2,\"kind\":\"profile_updated\",\"profile_id\":\"p2\","
				  "\"profile\":{\"profile_id\":\"p2\",\"attributes\":{\"a\":");
	memset(deep + o, '[', DEPTH);
	memset(deep + o + DEPTH, ']', DEPTH);
	strcpy(deep + o + 2 * DEPTH, "}}}");
	both[0] = c1;
	both[1] = deep;
	db_new(db, sizeof(db), NULL);
	url = db_url(db, NULL);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_send(&x, both, 2, &n_done, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_EQUAL(n_done, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "(SQLSTATE 54001)"));
	SQL_IS("0", db, "SELECT count(*) FROM profilehub_profiles");
	/* as the exporter then sends them: one at a time */
	CU_ASSERT_EQUAL(px_send(&x, both, 1, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	CU_ASSERT_EQUAL(px_send(&x, both + 1, 1, &n_done, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_EQUAL(n_done, 0);
	SQL_IS("p1", db, "SELECT string_agg(profile_id, ',') FROM profilehub_profiles");
	px_close(&x);
	free(url);
	free(c1);
	free(deep);
	db_drop(db);
}

/* The statement cap of the plugin's test build (Makefile: PGX_SMALL_SO):
 * what a cap of 64 MB does, with changes of 0.5 MB, not 32 MB. */
#define SMALL_CHUNK_SO "tests/plugins/small_chunk/postgres.so"
#define SMALL_CHUNK_MAX_BYTES PGX_TEST_CHUNK_MAX_BYTES

/* A change of (a bit over) half the test build's cap, its seq as the JSON
 * `seq`: two of them are two statements. */
static char *change_of_half_a_chunk(const char *seq, const char *pid)
{
	size_t len = SMALL_CHUNK_MAX_BYTES / 2 + 1024, o;
	char *c = malloc(len + 200);

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	o = (size_t)sprintf(c, "{\"seq\":%s,\"kind\":\"profile_updated\",\"profile_id\":\"%s\","
			       "\"profile\":{\"profile_id\":\"%s\",\"attributes\":{\"a\":\"",
			    seq, pid, pid);
	memset(c + o, 'v', len);
	strcpy(c + o + len, "\"}}}");
	return c;
}

/* A batch past the statement cap goes as several statements in one
 * transaction: a change refused in the second leaves nothing of the first
 * (n_done 0, as the exporter counts on), and the batch made good is
 * stored whole on the same connection.  On the plugin's test build, whose
 * cap is 1 MB (the same code; 64 MB made this test send 128 MB). */
static void test_a_batch_of_several_statements_is_one_transaction(void)
{
	struct px x;
	char err[1024] = "", db[32], *url;
	char *c1 = change_of_half_a_chunk("1", "p1"), *c2 = change_of_half_a_chunk("2", "p2");
	char *bad = change_of_half_a_chunk("\"two\"", "p2"); /* refused: 22P02 */
	const char *batch[2] = {c1, bad};
	size_t n_done = 9;

	db_new(db, sizeof(db), NULL);
	url = db_url(db, NULL);
	CU_ASSERT_EQUAL_FATAL(px_open_so(&x, SMALL_CHUNK_SO, url, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(pgx_chunk_end(batch, 2, 0, SMALL_CHUNK_MAX_BYTES), 1);
	CU_ASSERT_EQUAL(px_send(&x, batch, 2, &n_done, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_EQUAL(n_done, 0);
	SQL_IS("0", db, "SELECT count(*) FROM profilehub_profiles");
	/* the statements that reach the table, counted by a trigger: the
	 * test build's cap is the one in force */
	SQL_OK(db, "CREATE TABLE stmts (n int); INSERT INTO stmts VALUES (0);"
		   " CREATE FUNCTION count_stmt() RETURNS trigger LANGUAGE plpgsql AS"
		   " $$BEGIN UPDATE stmts SET n = n + 1; RETURN NULL; END$$;"
		   " CREATE TRIGGER count_stmt AFTER INSERT ON profilehub_profiles"
		   " FOR EACH STATEMENT EXECUTE FUNCTION count_stmt()");
	batch[1] = c2;
	CU_ASSERT_EQUAL(px_send(&x, batch, 2, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 2);
	SQL_IS("p1:1,p2:2", db, "SELECT string_agg(profile_id || ':' || updated_seq, ','"
				" ORDER BY profile_id) FROM profilehub_profiles");
	SQL_IS("2", db, "SELECT n FROM stmts");
	px_close(&x);
	free(url);
	free(c1);
	free(bad);
	free(c2);
	db_drop(db);
}

/* ---- the config ------------------------------------------------------------ */

/* kinds without merged are refused: the rows of profiles merged away were
 * never deleted (the exporter filters the merged changes out). */
static void test_kinds_without_merged_are_refused(void)
{
	struct px x;
	char err[1024] = "", *url = db_url("postgres", NULL);

	CU_ASSERT_EQUAL(px_open(&x, url, "    kinds: [profile_updated]\n", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "kinds: must include merged"));
	px_close(&x);
	CU_ASSERT_EQUAL(px_open(&x, url, "    kinds: [profile_updated, merged]\n", err,
				sizeof(err)), 0);
	px_close(&x);
	CU_ASSERT_EQUAL(px_open(&x, url, NULL, err, sizeof(err)), 0);
	px_close(&x);
	free(url);
}

/* ---- more rules (mutation pass) --------------------------------------------- */

/* The table as the plugin makes it. */
#define PROFILES_SQL                                                           \
	"CREATE TABLE profilehub_profiles (profile_id text PRIMARY KEY,"      \
	" doc jsonb NOT NULL, updated_seq bigint NOT NULL);"

/* A function `name` running `body` (plpgsql) and the trigger `name` that
 * runs it after each statement inserting into the table. */
#define TRIGGER_SQL(name, body)                                                \
	"CREATE FUNCTION " name "() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN " \
	body " RETURN NULL; END$$; CREATE TRIGGER " name " AFTER INSERT ON"    \
	" profilehub_profiles FOR EACH STATEMENT EXECUTE FUNCTION " name "();"

/* A database of its own, `setup` (SQL, or NULL) run in it, and the export
 * (plugin `so` under the build directory, NULL: as built) on it. */
struct pw {
	struct px x;
	char db[32];
	char *url;
};

static void pw_open(struct pw *w, const char *setup, const char *so, const char *url_query,
		    const char *keys)
{
	char err[1024] = "", *base;

	db_new(w->db, sizeof(w->db), NULL);
	if (setup)
		SQL_OK(w->db, "%s", setup);
	base = db_url(w->db, NULL);
	CU_ASSERT_FATAL(asprintf(&w->url, "%s%s", base, url_query ? url_query : "") > 0);
	free(base);
	CU_ASSERT_EQUAL_FATAL(px_open_so(&w->x, so ? so : "plugins/postgres.so", w->url, keys, err,
					 sizeof(err)), 0);
}

static void pw_close(struct pw *w)
{
	px_close(&w->x);
	free(w->url);
	db_drop(w->db);
}

/* The batch changes[0..n) sent to w's export: its code, n_done as said. */
static hub_rc pw_send(struct pw *w, const char *const *changes, size_t n, size_t want_done,
		      char *err, size_t err_size)
{
	size_t n_done = 9;
	hub_rc rc = px_send(&w->x, changes, n, &n_done, err, err_size);

	CU_ASSERT_EQUAL(n_done, want_done);
	return rc;
}

/* URLs refused at create as not valid, none quoted: what libpq cannot
 * parse, a host, hostaddr or dbname holding '@' and a port not of digits
 * (where an unescaped '@' or '/' of a password ends up); and an '@' in a
 * query value of either scheme (a user ":password@host"), named as one to
 * percent-encode. */
static void test_urls_refused_at_create_say_why_and_quote_nothing(void)
{
	static const struct {
		const char *url, *says;
	} cases[] = {
		{"postgresql://localhost/db?no_such_key=S3cretPassw0rd", "(expected postgresql://"},
		{"host=localhost dbname=S3cret@Passw0rd", "not a valid PostgreSQL connection URL"},
		{"host=S3cret@Passw0rd dbname=db", "not a valid PostgreSQL connection URL"},
		{"hostaddr=S3cret@Passw0rd dbname=db", "not a valid PostgreSQL connection URL"},
		{"host=localhost port=S3cretPassw0rd dbname=db",
		 "not a valid PostgreSQL connection URL"},
		{"postgresql://localhost/db?user=:S3cretPassw0rd@h", "%40"},
		{"postgres://localhost/db?user=:S3cretPassw0rd@h", "%40"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct px x;
		char err[1024] = "";

		CU_ASSERT_EQUAL(px_open(&x, cases[i].url, NULL, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].says));
		CU_ASSERT_PTR_NULL(strstr(err, "Passw0rd"));
		if (!strstr(err, cases[i].says))
			fprintf(stderr, "\n  case %zu: %s\n", i, err);
		px_close(&x);
	}
}

/* A table name's parts: digits, '_' and '$' after a first letter or '_';
 * two parts of 63 bytes each are taken whole; an empty part, or a first
 * character of another kind, refused. */
static void test_a_table_name_is_one_or_two_plain_identifiers(void)
{
#define N63 "t23456789012345678901234567890123456789012345678901234567890123"
	static const char *const refused[] = {".hub_t", "hub_t.", "a..b", "1hub", "$hub",
					      "hub-t", "hub_Z"};
	static const char *const taken[] = {N63 "." N63, "_t_1$x"};
	char err[1024] = "", keys[256], *url = db_url("postgres", NULL);
	char *c = change_named(1, "p1", "ann");
	const char *one[] = {c};

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		struct px x;

		snprintf(keys, sizeof(keys), "    table: \"%s\"\n", refused[i]);
		CU_ASSERT_EQUAL(px_open(&x, url, keys, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "table: "));
		px_close(&x);
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "has upper-case letters")); /* hub_Z */
	for (size_t i = 0; i < ARRAY_SIZE(taken); i++) {
		struct pw w;

		snprintf(keys, sizeof(keys), "    table: %s\n", taken[i]);
		pw_open(&w, "CREATE SCHEMA " N63, NULL, NULL, keys);
		CU_ASSERT_EQUAL(pw_send(&w, one, 1, 1, err, sizeof(err)), HUB_OK);
		SQL_IS("p1", w.db, "SELECT string_agg(profile_id, ',') FROM %s", taken[i]);
		pw_close(&w);
	}
#undef N63
	free(url);
	free(c);
}

/* timeout: at most 1d (0: none). */
static void test_a_timeout_past_one_day_is_refused(void)
{
	static const struct {
		const char *keys;
		int rc;
	} cases[] = {{"    timeout: 86401s\n", -1}, {"    timeout: 1d\n", 0}};
	char *url = db_url("postgres", NULL);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct px x;
		char err[1024] = "";

		CU_ASSERT_EQUAL(px_open(&x, url, cases[i].keys, err, sizeof(err)), cases[i].rc);
		if (cases[i].rc)
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "timeout: at most 1d"));
		px_close(&x);
	}
	free(url);
}

/* `profilehub check` without --connect refused none of the export's
 * values: a url libpq cannot read, a table name it would not take, kinds
 * without merged or a timeout past a day passed it ("ok") and stopped
 * `run`.  check_config() (ABI 1.10) refuses what create() refuses, in its
 * words, quoting nothing of the url; nothing connects (no server here). */
static void test_check_refuses_what_create_refuses(void)
{
#define GOOD_URL "postgresql://hub:S3cretPassw0rd@127.0.0.1:1/hub"
	static const struct {
		const char *url, *keys, *refusal; /* refusal NULL: taken */
	} rows[] = {
		{"postgresql://hub:S3cret@Passw0rd@127.0.0.1/hub", "",
		 "url: not a valid PostgreSQL connection URL: an '@' in the user name"},
		{"postgresql://localhost/db?no_such_key=S3cretPassw0rd", "",
		 "url: not a valid PostgreSQL connection URL (expected postgresql://"},
		{GOOD_URL, "    table: analytics.Profiles\n",
		 "table: \"analytics.Profiles\" has upper-case letters"},
		{GOOD_URL, "    table: a.b.c\n", "table: expected name or schema.name"},
		{GOOD_URL, "    kinds: [profile_updated]\n", "kinds: must include merged"},
		{GOOD_URL, "    timeout: 86401s\n", "timeout: at most 1d (0: none)"},
		{GOOD_URL, "    table: analytics.profiles\n    timeout: 1d\n", NULL},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char created[1024] = "", err[1024] = "";
		struct px x;
		int rc, created_rc = px_open(&x, rows[i].url, rows[i].keys, created,
					     sizeof(created));

		rc = plugin_instance_check_config(&x.mod, &x.cfg->exports[0], err, sizeof(err));
		pt_check_is_create_s(rc, err, created_rc, created, rows[i].refusal, i);
		CU_ASSERT_EQUAL(created_rc, rc);
		CU_ASSERT_PTR_NULL(strstr(err, "Passw0rd"));
		px_close(&x);
	}
#undef GOOD_URL
}

/* What a trigger on the target table saw of the export's session: its
 * statement_timeout and lock_timeout, separated by a space. */
#define TIMEOUTS_SQL                                                           \
	PROFILES_SQL                                                           \
	"CREATE TABLE seen (t text);"                                          \
	TRIGGER_SQL("watch", "INSERT INTO seen VALUES"                         \
			     " (current_setting('statement_timeout') || ' '"   \
			     " || current_setting('lock_timeout'));")

/* The session's statement_timeout and lock_timeout are `timeout` (30 s
 * when left out), unless the url sets them itself. */
static void test_the_session_times_out_as_the_timeout_key_says(void)
{
	static const struct {
		const char *query, *keys, *seen;
	} cases[] = {
		{NULL, NULL, "30s 30s"},
		{NULL, "    timeout: 5s\n", "5s 5s"},
		{"?options=-c%20statement_timeout%3D7000", "    timeout: 5s\n", "7s 5s"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct pw w;
		char err[1024] = "", *c = change_named(1, "p1", "ann");
		const char *one[] = {c};

		pw_open(&w, TIMEOUTS_SQL, NULL, cases[i].query, cases[i].keys);
		CU_ASSERT_EQUAL(pw_send(&w, one, 1, 1, err, sizeof(err)), HUB_OK);
		SQL_IS(cases[i].seen, w.db, "SELECT string_agg(t, ',') FROM seen");
		pw_close(&w);
		free(c);
	}
}

/* check --connect names a missing SELECT too: an upsert reads the row it
 * compares, so a role that may only insert, update and delete is refused
 * at every batch. */
static void test_check_connect_names_a_missing_select_privilege(void)
{
	struct px x;
	char err[1024] = "", db[32], role[40], *url;

	db_new(db, sizeof(db), NULL);
	snprintf(role, sizeof(role), "%s_w", db);
	SQL_OK(db, PROFILES_SQL "CREATE ROLE %s LOGIN;"
				"GRANT INSERT, UPDATE, DELETE ON profilehub_profiles TO %s",
	       role, role);
	url = db_url(db, role);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_check(&x, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "the role has no SELECT privilege on the table"));
	px_close(&x);
	free(url);
	db_drop(db);
	SQL_OK("postgres", "DROP ROLE %s", role);
}

/* A batch that fails on a missing table (42P01) again on a new connection
 * which found the table (here a trigger of it writes a table that is
 * gone) is retried, not taken for a wrong table name. */
static void test_a_missing_table_after_a_new_set_up_is_a_retry(void)
{
	struct pw w;
	char err[1024] = "", *c = change_named(1, "p1", "ann");
	const char *one[] = {c};

	pw_open(&w, PROFILES_SQL TRIGGER_SQL("lost", "INSERT INTO gone VALUES (1);"), NULL, NULL,
		NULL);
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 0, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "(SQLSTATE 42P01)"));
	SQL_OK(w.db, "CREATE TABLE gone (n int)");
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 1, err, sizeof(err)), HUB_OK);
	pw_close(&w);
	free(c);
}

/* A batch refused at its COMMIT (here a deferred constraint trigger) is
 * not acknowledged: bad data, n_done 0, nothing stored. */
static void test_a_batch_refused_at_its_commit_is_not_delivered(void)
{
	struct pw w;
	char err[1024] = "", *c = change_named(1, "p1", "ann");
	const char *one[] = {c};

	pw_open(&w,
		PROFILES_SQL "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
			     " RAISE check_violation USING MESSAGE = 'refused at commit'; END$$;"
			     "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON profilehub_profiles"
			     " DEFERRABLE INITIALLY DEFERRED"
			     " FOR EACH ROW EXECUTE FUNCTION refuse()",
		NULL, NULL, NULL);
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 0, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "committing the batch: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "refused at commit (SQLSTATE 23514)"));
	SQL_IS("0", w.db, "SELECT count(*) FROM profilehub_profiles");
	pw_close(&w);
	free(c);
}

/* A change refused in the first statement of a batch ends the batch there,
 * with that change's failure (22P02, bad data): the next statement is not
 * sent into the aborted transaction (whose 25P02 is a retry, for ever). */
static void test_a_change_refused_in_the_first_statement_is_the_failure(void)
{
	struct pw w;
	char err[1024] = "";
	char *bad = change_of_half_a_chunk("\"one\"", "p1");
	char *c2 = change_of_half_a_chunk("2", "p2");
	const char *batch[2] = {bad, c2};

	pw_open(&w, NULL, SMALL_CHUNK_SO, NULL, NULL);
	CU_ASSERT_EQUAL(pw_send(&w, batch, 2, 0, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "(SQLSTATE 22P02)"));
	SQL_IS("0", w.db, "SELECT count(*) FROM profilehub_profiles");
	pw_close(&w);
	free(bad);
	free(c2);
}

/* Changes that fit the cap go in one statement, however many. */
static void test_a_batch_under_the_cap_is_one_statement(void)
{
	struct pw w;
	char err[1024] = "";
	char *c[3] = {change_named(1, "p1", "a"), change_named(2, "p2", "b"),
		      change_named(3, "p3", "c")};
	const char *batch[3] = {c[0], c[1], c[2]};

	pw_open(&w,
		PROFILES_SQL "CREATE TABLE stmts (n int); INSERT INTO stmts VALUES (0);"
			TRIGGER_SQL("count_stmt", "UPDATE stmts SET n = n + 1;"),
		NULL, NULL, NULL);
	CU_ASSERT_EQUAL(pw_send(&w, batch, 3, 3, err, sizeof(err)), HUB_OK);
	SQL_IS("3", w.db, "SELECT count(*) FROM profilehub_profiles");
	SQL_IS("1", w.db, "SELECT n FROM stmts");
	pw_close(&w);
	for (int i = 0; i < 3; i++)
		free(c[i]);
}

/* The hub_call of a batch is the batch's alone: check --connect after it,
 * with that call's stop set (the call is gone), is not given up. */
static void test_a_batch_s_stop_is_not_looked_at_after_the_batch(void)
{
	struct pw w;
	char err[1024] = "", *c = change_named(1, "p1", "ann");
	const char *one[] = {c};

	pw_open(&w, NULL, NULL, NULL, NULL);
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 1, err, sizeof(err)), HUB_OK);
	atomic_store(&w.x.stop, 1);
	CU_ASSERT_EQUAL(px_check(&w.x, err, sizeof(err)), HUB_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	pw_close(&w);
	free(c);
}

/* An erased change deletes its profile's row, also one upserted earlier in
 * the same batch; a merged change keeps its own profile's row even when
 * it names it among those it absorbed. */
static void test_an_erased_change_deletes_its_row(void)
{
	struct pw w;
	char err[1024] = "";
	char *p1 = change_named(1, "p1", "ann"), *p2 = change_named(2, "p2", "bob"),
	     *p3 = change_named(4, "p3", "cy");
	const char *erase1 = "{\"seq\":3,\"kind\":\"erased\",\"profile_id\":\"p1\"}";
	const char *erase3 = "{\"seq\":5,\"kind\":\"erased\",\"profile_id\":\"p3\"}";
	const char *self = "{\"seq\":6,\"kind\":\"merged\",\"profile_id\":\"p2\",\"profile\":"
			   "{\"profile_id\":\"p2\"},\"merged_from\":[\"p2\"]}";
	const char *first[] = {p1, p2}, *second[] = {erase1, p3, erase3, self};

	pw_open(&w, NULL, NULL, NULL, NULL);
	CU_ASSERT_EQUAL(pw_send(&w, first, 2, 2, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(pw_send(&w, second, 4, 4, err, sizeof(err)), HUB_OK);
	SQL_IS("p2:6", w.db, "SELECT string_agg(profile_id || ':' || updated_seq, ','"
			     " ORDER BY profile_id) FROM profilehub_profiles");
	pw_close(&w);
	free(p1);
	free(p2);
	free(p3);
}

/* Every run of 4 or more characters of the password in a libpq message is
 * starred out, whole, and nothing shorter: here the message is "database
 * \"missing_db\" does not exist" and the passwords share "does" or "not"
 * with it.  The message ends at its first line. */
static void test_runs_of_four_characters_of_the_password_are_starred_out(void)
{
	static const struct {
		const char *password, *says;
	} cases[] = {
		{"doesQQQQ", "\"missing_db\" **** not exist"},
		{"notQQQQQ", "\"missing_db\" does not exist"},
	};
	const char *host = strrchr(pg_base, '@');

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct px x;
		char err[1024] = "", *url;

		CU_ASSERT_FATAL(asprintf(&url, "postgresql://postgres:%s@%s/missing_db",
					 cases[i].password, host ? host + 1 : pg_base + 13) > 0);
		CU_ASSERT_EQUAL_FATAL(px_open(&x, url, NULL, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(px_check(&x, err, sizeof(err)), HUB_ERR_CONFIG);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].says));
		CU_ASSERT_PTR_NULL(strchr(err, '\n'));
		if (!strstr(err, cases[i].says))
			fprintf(stderr, "\n  case %zu: %s\n", i, err);
		px_close(&x);
		free(url);
	}
}

/* The export's connection ended by the server (here its backend
 * terminated) fails the batch then, as a retry; the next batch connects
 * again and delivers.  So does a batch after a check --connect that found
 * the connection lost. */
static void test_a_lost_connection_is_made_again_by_the_next_batch(void)
{
	struct pw w;
	char err[1024] = "";
	char *c1 = change_named(1, "p1", "ann"), *c2 = change_named(2, "p2", "bob");
	const char *one[1] = {c1};

	pw_open(&w, NULL, NULL, NULL, NULL);
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 1, err, sizeof(err)), HUB_OK);
	SQL_IS("1", w.db, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
			  " WHERE application_name = 'profilehub-export'");
	one[0] = c2;
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 0, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 1, err, sizeof(err)), HUB_OK);
	SQL_IS("p1,p2", w.db, "SELECT string_agg(profile_id, ',' ORDER BY profile_id)"
			      " FROM profilehub_profiles");
	SQL_IS("1", w.db, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
			  " WHERE application_name = 'profilehub-export'");
	CU_ASSERT_EQUAL(px_check(&w.x, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 1, err, sizeof(err)), HUB_OK);
	pw_close(&w);
	free(c1);
	free(c2);
}

/* An event trigger refusing every CREATE TABLE: RAISE `raise`. */
#define NO_CREATE_TABLE_SQL(raise)                                             \
	"CREATE FUNCTION no_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN" \
	" RAISE " raise "; END$$;"                                             \
	"CREATE EVENT TRIGGER no_ddl ON ddl_command_start WHEN TAG IN ('CREATE TABLE')" \
	" EXECUTE FUNCTION no_ddl()"

/* A set-up of the connection refused with a data-class SQLSTATE (here an
 * event trigger refuses the CREATE TABLE with 23505, as a concurrent
 * creator can) is no change's fault: a retry, not bad data. */
static void test_a_set_up_refused_as_bad_data_is_a_retry(void)
{
	struct pw w;
	char err[1024] = "", *c = change_named(1, "p1", "ann");
	const char *one[] = {c};

	pw_open(&w, NO_CREATE_TABLE_SQL("unique_violation USING MESSAGE = 'created meanwhile'"),
		NULL, NULL, NULL);
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 0, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "(SQLSTATE 23505)"));
	SQL_OK(w.db, "DROP EVENT TRIGGER no_ddl");
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 1, err, sizeof(err)), HUB_OK);
	pw_close(&w);
	free(c);
}

/* A batch waiting for a lock on the table past `timeout` fails with the
 * server's own answer (lock_timeout 55P03 or statement_timeout 57014), a
 * retry: the export's wait for an answer gives the server 5 s more. */
static void test_a_lock_wait_past_the_timeout_is_the_server_s_retry(void)
{
	struct pw w;
	char err[1024] = "", *c = change_named(1, "p1", "ann");
	const char *one[] = {c};
	char *url;
	PGconn *locker;
	PGresult *res;

	pw_open(&w, PROFILES_SQL, NULL, NULL, "    timeout: 1s\n");
	url = db_url(w.db, NULL);
	locker = PQconnectdb(url);
	res = PQexec(locker, "BEGIN; LOCK TABLE profilehub_profiles IN ACCESS EXCLUSIVE MODE");
	CU_ASSERT_EQUAL_FATAL(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 0, err, sizeof(err)), HUB_RETRY);
	CU_ASSERT(strstr(err, "(SQLSTATE 55P03)") || strstr(err, "(SQLSTATE 57014)"));
	PQclear(PQexec(locker, "ROLLBACK"));
	PQfinish(locker);
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 1, err, sizeof(err)), HUB_OK);
	pw_close(&w);
	free(url);
	free(c);
}

/* A connect that failed leaves no connection behind: the next batch
 * connects anew (here to the database created meanwhile) and delivers. */
static void test_a_failed_connect_is_made_anew_by_the_next_batch(void)
{
	struct px x;
	char err[1024] = "", db[32], *url, *c = change_named(1, "p1", "ann");
	const char *one[] = {c};
	size_t n_done = 9;

	snprintf(db, sizeof(db), "xp_%d_%d", (int)getpid(), ++n_dbs);
	url = db_url(db, NULL);
	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not exist"));
	SQL_OK("postgres", "CREATE DATABASE %s TEMPLATE template0", db);
	CU_ASSERT_EQUAL(px_send(&x, one, 1, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	SQL_IS("p1", db, "SELECT string_agg(profile_id, ',') FROM profilehub_profiles");
	px_close(&x);
	free(url);
	free(c);
	db_drop(db);
}

/* Puts `text` in file `path`, all of it, in place (the server's file keeps
 * its owner): 0, or -1 with nothing sure. */
static int file_put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc = f && fputs(text, f) >= 0 ? 0 : -1;

	if (f && fclose(f))
		rc = -1;
	return rc;
}

/* 1 once a login as `user` (with its password) is refused for its
 * credentials, 0 after 10 s: the server reloads its pg_hba.conf after
 * pg_reload_conf() returns. */
static int login_is_refused(const char *user)
{
	char *url = db_url("postgres", user);
	int is_refused = 0;

	for (int64_t until = time_mono_ms() + 10000; !is_refused && time_mono_ms() < until;) {
		struct timespec pause = {0, 5 * 1000 * 1000};
		PGconn *c = PQconnectdb(url);

		is_refused = PQstatus(c) != CONNECTION_OK &&
			     strstr(PQerrorMessage(c), "password authentication failed") != NULL;
		PQfinish(c);
		if (!is_refused)
			nanosleep(&pause, NULL);
	}
	free(url);
	return is_refused;
}

/* What one batch of an export logging in as `user` returns, its error
 * into err. */
static hub_rc batch_as(const char *user, char *err, size_t err_size)
{
	char *url = db_url("postgres", user), *c = change_named(1, "p1", "ann");
	const char *one[] = {c};
	size_t n_done = 9;
	struct px x;
	hub_rc rc;

	CU_ASSERT_EQUAL_FATAL(px_open(&x, url, NULL, err, err_size), 0);
	rc = px_send(&x, one, 1, &n_done, err, err_size);
	CU_ASSERT_EQUAL(n_done, 0);
	px_close(&x);
	free(url);
	free(c);
	return rc;
}

/* Credentials the server refuses (a wrong password, none where one is
 * asked for, a login its pg_hba.conf has no line for or rejects: the last
 * two were retried for ever) are HUB_ERR_AUTH: no retry mends them, as
 * none mends a webhook's 401/403.  The test server trusts every login;
 * while the test runs its pg_hba.conf trusts postgres alone over TCP, asks
 * role xp_pw for its password, rejects xp_rj and has no line for others. */
static void test_credentials_refused_are_an_auth_error(void)
{
	char *hba = sql_on("postgres", "SHOW hba_file"), *kept = NULL;
	char err[1024] = "";
	size_t n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(hba);
	kept = file_read_all(hba, 1 << 20, &n, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(kept);
	SQL_OK("postgres", "CREATE ROLE xp_pw LOGIN PASSWORD 'right'");
	CU_ASSERT_EQUAL_FATAL(file_put(hba, "local all all trust\n"
					    "host all postgres 127.0.0.1/32 trust\n"
					    "host all xp_pw 127.0.0.1/32 scram-sha-256\n"
					    "host all xp_rj 127.0.0.1/32 reject\n"),
			      0);
	SQL_OK("postgres", "SELECT pg_reload_conf()");
	if (login_is_refused("xp_pw:wrong")) {
		CU_ASSERT_EQUAL(batch_as("xp_pw:wrong", err, sizeof(err)), HUB_ERR_AUTH);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "password authentication failed"));
		CU_ASSERT_EQUAL(batch_as("xp_pw", err, sizeof(err)), HUB_ERR_AUTH);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "no password supplied"));
		CU_ASSERT_EQUAL(batch_as("xp_none:S3cretPw", err, sizeof(err)), HUB_ERR_AUTH);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "no pg_hba.conf entry for host"));
		CU_ASSERT_PTR_NULL(strstr(err, "S3cretPw"));
		CU_ASSERT_EQUAL(batch_as("xp_rj", err, sizeof(err)), HUB_ERR_AUTH);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "pg_hba.conf rejects connection"));
	} else {
		CU_FAIL("the server never asked xp_pw for its password");
	}
	CU_ASSERT_EQUAL(file_put(hba, kept), 0);
	SQL_OK("postgres", "SELECT pg_reload_conf()");
	SQL_OK("postgres", "DROP ROLE xp_pw");
	hub_free(kept);
	free(hba);
}

/* The wait for an answer is the session's statement_timeout and 5 s, as
 * the url or the timeout key left it; none when the url sets none (0). */
static void test_the_wait_for_an_answer_follows_the_session_s_timeout(void)
{
	static const struct {
		const char *query;
		long long answer_ms;
	} cases[] = {
		{NULL, 35000},
		{"?options=-c%20statement_timeout%3D7000", 12000},
		{"?options=-c%20statement_timeout%3D0", 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct pw w;
		char err[1024] = "", *c = change_named(1, "p1", "ann");
		const char *one[] = {c};

		pw_open(&w, NULL, NULL, cases[i].query, NULL);
		CU_ASSERT_EQUAL(pw_send(&w, one, 1, 1, err, sizeof(err)), HUB_OK);
		CU_ASSERT_EQUAL(((struct pgx *)w.x.inst->state)->answer_ms, cases[i].answer_ms);
		pw_close(&w);
		free(c);
	}
}

/* A set-up refused as credentials (SQLSTATE class 28; here an event
 * trigger refuses the CREATE TABLE so) stays HUB_ERR_AUTH, not a retry. */
static void test_a_set_up_refused_as_credentials_is_an_auth_error(void)
{
	struct pw w;
	char err[1024] = "", *c = change_named(1, "p1", "ann");
	const char *one[] = {c};

	pw_open(&w, NO_CREATE_TABLE_SQL("invalid_authorization_specification"), NULL, NULL, NULL);
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 0, err, sizeof(err)), HUB_ERR_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "(SQLSTATE 28000)"));
	pw_close(&w);
	free(c);
}

/* A table with NOT NULL columns the export does not write, without a
 * default: every change failed its INSERT (23502) and was dead-lettered,
 * one by one.  Refused when the connection is set up, by check --connect
 * and by the first batch alike, naming the table and each such column
 * (not one with a default or an identity): nothing stored, nothing
 * dead-lettered; delivered once the columns take NULL. */
static void test_a_not_null_column_it_does_not_write_is_refused_at_set_up(void)
{
	struct pw w;
	char err[1024] = "", *c = change_named(1, "p1", "ann");
	const char *one[] = {c};

	pw_open(&w,
		PROFILES_SQL "ALTER TABLE profilehub_profiles ADD COLUMN tenant text NOT NULL,"
			     " ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY,"
			     " ADD COLUMN at timestamptz NOT NULL DEFAULT now(),"
			     " ADD COLUMN region text NOT NULL",
		NULL, NULL, NULL);
	CU_ASSERT_EQUAL(px_check(&w.x, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "the table \"profilehub_profiles\": columns"
					   " \"tenant\", \"region\" are NOT NULL without a"
					   " default and the export does not write them"));
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 0, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "columns \"tenant\", \"region\" are NOT NULL"));
	SQL_IS("0", w.db, "SELECT count(*) FROM profilehub_profiles");
	SQL_OK(w.db, "ALTER TABLE profilehub_profiles ALTER COLUMN tenant DROP NOT NULL");
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 0, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ": column \"region\" is NOT NULL without a default"
					   " and the export does not write it"));
	SQL_OK(w.db, "ALTER TABLE profilehub_profiles ALTER COLUMN region DROP NOT NULL");
	CU_ASSERT_EQUAL(px_check(&w.x, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 1, err, sizeof(err)), HUB_OK);
	SQL_IS("1", w.db, "SELECT count(*) FROM profilehub_profiles");
	pw_close(&w);
	free(c);
}

/* Many such columns, of long names beyond ASCII: the message names the
 * first five and counts the others, whole and valid UTF-8 (the list was cut
 * at 400 bytes, inside a name and a character, its verb lost). */
static void test_many_unwritten_columns_are_named_whole(void)
{
#define E6 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	static const char e30[] = E6 E6 E6 E6 E6; /* 30 x U+00E9: 60 bytes */
#undef E6
	struct pw w;
	char err[1024] = "", sql[2048], want[160];
	size_t o = (size_t)snprintf(sql, sizeof(sql), "%s",
				    PROFILES_SQL "ALTER TABLE profilehub_profiles");

	for (int i = 0; i < 8; i++) /* 62 bytes each: 8 of them pass 400 */
		o += (size_t)snprintf(sql + o, sizeof(sql) - o,
				      "%s ADD COLUMN \"%d_%s\" text NOT NULL", i ? "," : "", i, e30);
	pw_open(&w, sql, NULL, NULL, NULL);
	CU_ASSERT_EQUAL(px_check(&w.x, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT(str_is_utf8(err));
	snprintf(want, sizeof(want), "columns \"0_%s\", \"1_%s\"", e30, e30);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	snprintf(want, sizeof(want), "\"4_%s\" (and 3 more) are NOT NULL without a default", e30);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not write them: give each such column a default"));
	CU_ASSERT_PTR_NULL(strstr(err, "\"5_"));
	pw_close(&w);
}

/* A column made NOT NULL without a default while the export runs (on a
 * connection set up before): its 23502 disables the export, naming the
 * table and the column, instead of dead-lettering every change; the batch
 * is not stored, and once the column has a default it is delivered. */
static void test_a_not_null_column_made_while_it_runs_disables_it(void)
{
	struct pw w;
	char err[1024] = "", *c1 = change_named(1, "p1", "ann"), *c2 = change_named(2, "p2", "bo");
	const char *first[] = {c1}, *second[] = {c2};

	pw_open(&w,
		PROFILES_SQL "ALTER TABLE profilehub_profiles"
			     " ADD COLUMN tenant text NOT NULL DEFAULT 'a'",
		NULL, NULL, NULL);
	CU_ASSERT_EQUAL(pw_send(&w, first, 1, 1, err, sizeof(err)), HUB_OK);
	SQL_OK(w.db, "ALTER TABLE profilehub_profiles ALTER COLUMN tenant DROP DEFAULT");
	CU_ASSERT_EQUAL(pw_send(&w, second, 1, 0, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "applying the batch: the table \"profilehub_profiles\":"
					   " column \"tenant\" is NOT NULL without a default and"
					   " the export does not write it (SQLSTATE 23502)"));
	SQL_IS("p1", w.db, "SELECT string_agg(profile_id, ',') FROM profilehub_profiles");
	SQL_OK(w.db, "ALTER TABLE profilehub_profiles ALTER COLUMN tenant SET DEFAULT 'b'");
	CU_ASSERT_EQUAL(pw_send(&w, second, 1, 1, err, sizeof(err)), HUB_OK);
	SQL_IS("p1,p2", w.db,
	       "SELECT string_agg(profile_id, ',' ORDER BY profile_id) FROM profilehub_profiles");
	pw_close(&w);
	free(c1);
	free(c2);
}

/* A target that cannot take the export's statement (here a view that
 * cannot be written: 55000 when the connection prepares it) is a wrong
 * table: the export is disabled, naming it, by check --connect and a
 * batch alike; it was retried for ever. */
static void test_a_target_that_cannot_take_the_statement_is_a_wrong_table(void)
{
	struct pw w;
	char err[1024] = "", *c = change_named(1, "p1", "ann");
	const char *one[] = {c};

	pw_open(&w,
		"CREATE VIEW profilehub_profiles AS SELECT 'p0'::text AS profile_id,"
		" '{}'::jsonb AS doc, 0::bigint AS updated_seq",
		NULL, NULL, NULL);
	CU_ASSERT_EQUAL(px_check(&w.x, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "view \"profilehub_profiles\" (SQLSTATE 55000)"));
	CU_ASSERT_EQUAL(pw_send(&w, one, 1, 0, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "view \"profilehub_profiles\" (SQLSTATE 55000)"));
	pw_close(&w);
	free(c);
}

TEST_SUITE(export_postgres, suite_init, suite_clean,
	   TEST(test_a_url_to_another_machine_without_verify_full_is_warned_of),
	   TEST(test_an_unescaped_at_in_the_password_is_refused),
	   TEST(test_an_unescaped_slash_in_the_user_is_refused),
	   TEST(test_no_part_of_the_password_is_in_a_libpq_message),
	   TEST(test_text_arrives_as_written_in_a_database_not_in_utf8),
	   TEST(test_the_last_change_wins_and_a_row_never_goes_back),
	   TEST(test_a_sql_ascii_database_is_refused),
	   TEST(test_commits_are_synchronous_where_the_database_says_off),
	   TEST(test_a_dropped_table_is_created_again),
	   TEST(test_a_batch_given_up_is_cancelled_on_the_server),
	   TEST(test_a_cancel_without_an_answer_is_given_up_and_logged),
	   TEST(test_the_cancel_child_holds_no_descriptor_of_the_hub),
	   TEST(test_a_role_needs_only_the_privileges_it_uses),
	   TEST(test_a_table_name_past_63_bytes_is_refused),
	   TEST(test_a_table_name_in_upper_case_is_refused),
	   TEST(test_a_table_name_of_three_parts_is_refused),
	   TEST(test_server_notices_go_to_the_log_at_debug),
	   TEST(test_a_batch_is_cut_into_chunks_of_a_bounded_size),
	   TEST(test_a_sqlstate_says_what_a_batch_failure_is),
	   TEST(test_a_one_row_query_answering_another_count_says_so),
	   TEST(test_a_change_past_a_limit_of_postgresql_is_bad_data),
	   TEST(test_a_batch_of_several_statements_is_one_transaction),
	   TEST(test_kinds_without_merged_are_refused),
	   TEST(test_urls_refused_at_create_say_why_and_quote_nothing),
	   TEST(test_a_table_name_is_one_or_two_plain_identifiers),
	   TEST(test_a_timeout_past_one_day_is_refused),
	   TEST(test_check_refuses_what_create_refuses),
	   TEST(test_the_session_times_out_as_the_timeout_key_says),
	   TEST(test_check_connect_names_a_missing_select_privilege),
	   TEST(test_a_missing_table_after_a_new_set_up_is_a_retry),
	   TEST(test_a_batch_refused_at_its_commit_is_not_delivered),
	   TEST(test_a_change_refused_in_the_first_statement_is_the_failure),
	   TEST(test_a_batch_under_the_cap_is_one_statement),
	   TEST(test_a_batch_s_stop_is_not_looked_at_after_the_batch),
	   TEST(test_an_erased_change_deletes_its_row),
	   TEST(test_runs_of_four_characters_of_the_password_are_starred_out),
	   TEST(test_a_lost_connection_is_made_again_by_the_next_batch),
	   TEST(test_a_set_up_refused_as_bad_data_is_a_retry),
	   TEST(test_a_lock_wait_past_the_timeout_is_the_server_s_retry),
	   TEST(test_a_failed_connect_is_made_anew_by_the_next_batch),
	   TEST(test_credentials_refused_are_an_auth_error),
	   TEST(test_the_wait_for_an_answer_follows_the_session_s_timeout),
	   TEST(test_a_set_up_refused_as_credentials_is_an_auth_error),
	   TEST(test_a_not_null_violation_is_configuration_off_the_written_columns),
	   TEST(test_a_refused_login_s_text_says_what_it_is),
	   TEST(test_a_not_null_column_it_does_not_write_is_refused_at_set_up),
	   TEST(test_many_unwritten_columns_are_named_whole),
	   TEST(test_a_not_null_column_made_while_it_runs_disables_it),
	   TEST(test_a_target_that_cannot_take_the_statement_is_a_wrong_table))
