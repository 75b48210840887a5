/*
 * test_store_pg.c - what only the PostgreSQL store's own connection shows
 * (its session settings), reached through store_pg_int.h, which the store
 * suite cannot include beside the SQLite store's.  Run by the PostgreSQL
 * pass of tests/run.sh; on SQLite its tests return at once.
 */
#include "testlib.h"
#include "teststore.h"

#include "../../hub/store_pg_int.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A database whose sessions default to synchronous_commit=off: the store's
 * connection commits durably all the same.  No schema named: "public". */
static void test_pg_open_commits_durably_where_the_database_does_not(void)
{
	const char *url = getenv("HUB_TEST_PG_URL");
	char other[512], err[512] = "";
	struct store *s = NULL;
	PGresult *res;

	if (!teststore_is_pg())
		return;
	CU_ASSERT_EQUAL_FATAL(teststore_pg_fresh_db("hub_async", "", other, sizeof(other)), 0);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(url, "ALTER DATABASE hub_async"
						     " SET synchronous_commit = off"),
			      0);
	CU_ASSERT_EQUAL_FATAL(store_pg_open(other, "", &s, err, sizeof(err)), 0);
	res = PQexec(pgs(s)->conn, "SELECT current_setting('synchronous_commit'),"
				   " to_regclass('public.meta') IS NOT NULL");
	CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_TUPLES_OK);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), "on");
		CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 1), "t");
	}
	PQclear(res);
	store_close(s);
	CU_ASSERT_EQUAL(teststore_pg_exec(url, "DROP DATABASE hub_async"), 0);
}

TEST_SUITE(store_pg, NULL, NULL,
	   TEST(test_pg_open_commits_durably_where_the_database_does_not))
