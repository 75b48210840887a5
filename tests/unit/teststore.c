/*
 * teststore.c - see teststore.h.  The only test file that talks to
 * PostgreSQL directly (to drop a world's schema, to digest its rows);
 * everything else goes through store.h.
 */
#include "teststore.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int teststore_is_pg(void)
{
	const char *b = getenv("HUB_TEST_STORE");
	return b && strcmp(b, "postgres") == 0;
}

char *teststore_yaml(const char *dir, char **schema)
{
	static unsigned counter;
	const char *url = getenv("HUB_TEST_PG_URL");
	struct timespec ts;
	char *yaml = NULL;

	*schema = NULL;
	if (!teststore_is_pg()) {
		if (asprintf(&yaml, "store:\n  path: %s/hub.db\n", dir) < 0)
			return NULL;
		return yaml;
	}
	if (!url || !*url || strchr(url, '"')) {
		fprintf(stderr, "teststore: HUB_TEST_STORE=postgres needs HUB_TEST_PG_URL\n");
		return NULL;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	if (asprintf(schema, "t_%x_%x_%lx", (unsigned)getpid(),
		     __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED),
		     (unsigned long)ts.tv_nsec) < 0) {
		*schema = NULL;
		return NULL;
	}
	if (asprintf(&yaml, "store:\n  driver: postgres\n  url: \"%s\"\n  schema: %s\n", url,
		     *schema) < 0) {
		free(*schema);
		*schema = NULL;
		return NULL;
	}
	return yaml;
}

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg; /* "drop cascades to N other objects" */
}

void teststore_drop(const char *schema)
{
	const char *url = getenv("HUB_TEST_PG_URL");
	char sql[128];
	PGconn *c;
	PGresult *res;

	if (!schema || !url)
		return;
	c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "teststore: cannot drop schema %s: %s", schema, PQerrorMessage(c));
		PQfinish(c);
		return;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	/* the name is ours: t_ and hex digits */
	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS \"%s\" CASCADE", schema);
	res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fprintf(stderr, "teststore: dropping schema %s: %s", schema, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
}

int teststore_pg_exec(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *res = PQexec(c, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "teststore_pg_exec: %s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	return ok ? 0 : -1;
}

int teststore_pg_fresh_db(const char *name, const char *with, char *url, size_t size)
{
	const char *base = getenv("HUB_TEST_PG_URL"), *slash = base ? strrchr(base, '/') : NULL;
	char sql[512];

	if (!slash) {
		fprintf(stderr, "teststore_pg_fresh_db: no HUB_TEST_PG_URL with a database\n");
		return -1;
	}
	snprintf(url, size, "%.*s/%s", (int)(slash - base), base, name);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
	if (teststore_pg_exec(base, sql))
		return -1;
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s %s", name, with);
	return teststore_pg_exec(base, sql);
}

char *teststore_digest(const char *schema)
{
	/* one statement: query_to_xml runs the per-table query */
	static const char sql[] =
		"SELECT string_agg(c.relname || ' ' || (xpath('/row/h/text()', query_to_xml("
		" format('SELECT md5(coalesce(string_agg(x::text, chr(10) ORDER BY x::text), ''''))"
		" AS h FROM %I.%I x', n.nspname, c.relname), false, true, '')))[1]::text,"
		" chr(10) ORDER BY c.relname)"
		" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
		" WHERE n.nspname = $1 AND c.relkind = 'r'";
	static PGconn *c; /* kept from call to call: a test digests often */
	const char *url = getenv("HUB_TEST_PG_URL");
	const char *params[1] = {schema};
	char *out = NULL;
	PGresult *res;

	if (!schema || !url) {
		PQfinish(c);
		c = NULL;
		return NULL;
	}
	if (!c || PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		c = PQconnectdb(url);
	}
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "teststore: cannot digest schema %s: %s", schema,
			PQerrorMessage(c));
		return NULL;
	}
	res = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		out = strdup(PQgetvalue(res, 0, 0));
	else
		fprintf(stderr, "teststore: digesting schema %s: %s", schema, PQerrorMessage(c));
	PQclear(res);
	return out;
}

/* The value of a one-row, one-column query with at most one parameter, on a
 * connection of its own to HUB_TEST_PG_URL, as text into out: 0, else -1
 * (with the error on stderr, or without HUB_TEST_PG_URL). */
static int pg_value(const char *sql, const char *param, char *out, size_t size)
{
	const char *url = getenv("HUB_TEST_PG_URL");
	PGconn *c;
	PGresult *res;
	int rc = -1;

	if (!url)
		return -1;
	c = PQconnectdb(url);
	res = PQexecParams(c, sql, param ? 1 : 0, NULL, &param, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    (size_t)snprintf(out, size, "%s", PQgetvalue(res, 0, 0)) < size)
		rc = 0;
	else
		fprintf(stderr, "teststore: %s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	return rc;
}

/* The count a query gives (pg_value), -1 on error. */
static int pg_count(const char *sql, const char *param)
{
	char n[32];

	return pg_value(sql, param, n, sizeof(n)) ? -1 : atoi(n);
}

int teststore_lock_waiters(void)
{
	return pg_count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
			NULL);
}

int teststore_pg_clock(char *out, size_t size)
{
	return pg_value("SELECT clock_timestamp()::text", NULL, out, size);
}

int teststore_snapshots_before(const char *clock)
{
	return pg_count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
			" AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
			" AND backend_xmin IS NOT NULL AND xact_start < $1::timestamptz",
			clock);
}

void *teststore_hold_writes(const char *schema)
{
	const char *url = getenv("HUB_TEST_PG_URL");
	char sql[160];
	PGconn *c;
	PGresult *res;

	if (!schema || !url)
		return NULL;
	c = PQconnectdb(url);
	/* the name is ours: t_ and hex digits */
	snprintf(sql, sizeof(sql), "BEGIN; LOCK TABLE \"%s\".meta IN ACCESS EXCLUSIVE MODE",
		 schema);
	res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "teststore_hold_writes: %s: %s", sql, PQerrorMessage(c));
		PQfinish(c);
		c = NULL;
	}
	PQclear(res);
	return c;
}

int teststore_release_writes(void *hold)
{
	PGconn *c = hold;
	PGresult *res;
	int rc = -1;

	if (!c)
		return -1;
	res = PQexec(c, "ROLLBACK");
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		rc = 0;
	else
		fprintf(stderr, "teststore_release_writes: %s", PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	return rc;
}
