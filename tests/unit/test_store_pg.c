/*
 * test_store_pg.c - what only the PostgreSQL store's own connection shows
 * (its session settings), reached through store_pg_int.h, which the store
 * suite cannot include beside the SQLite store's.  Run by the PostgreSQL
 * pass of tests/run.sh; on SQLite its tests return at once.
 */
#include "testlib.h"
#include "teststore.h"

#include "../../hub/config.h"
#include "../../hub/store_pg_int.h"
#include "../../hub/util.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

/* ---- store_pg_exec.c: errors, the pipeline, reconnects ------------------ */

#define EXEC_DB "hub_exec"

/* A store on database EXEC_DB made afresh ("public"), its URL into url;
 * NULL on SQLite, or (a failed assertion) when it cannot be opened. */
static struct store *exec_open(char *url, size_t size)
{
	char err[512] = "";
	struct store *s = NULL;

	if (!teststore_is_pg())
		return NULL;
	if (teststore_pg_fresh_db(EXEC_DB, "", url, size) ||
	    store_pg_open(url, "", &s, err, sizeof(err)))
		fprintf(stderr, "\n  no store on %s: %s\n", EXEC_DB, err);
	CU_ASSERT_PTR_NOT_NULL(s);
	return s;
}

/* Whether S_BLOCK_ANY, a read, gave a result. */
static int exec_reads(struct store *s)
{
	PGresult *res = pg_run(pgs(s), S_BLOCK_ANY, "");

	PQclear(res);
	return res != NULL;
}

/* Profile P inserted, down the pipeline: 0, or -1. */
static int exec_insert_p(struct store *s)
{
	return pg_command(pgs(s), S_PROFILE_INSERT, "sisii", "P", (int64_t)1, (const char *)NULL,
			  (int64_t)0, (int64_t)0);
}

static void exec_close(struct store *s)
{
	store_close(s);
	CU_ASSERT_EQUAL(teststore_pg_exec(getenv("HUB_TEST_PG_URL"),
					  "DROP DATABASE " EXEC_DB " WITH (FORCE)"),
			0);
}

/* The server ends every session of EXEC_DB (as a restart would), and waits
 * until they are gone; with is_down it takes no new ones either. */
static int exec_sessions_end(int is_down)
{
	const char *admin = getenv("HUB_TEST_PG_URL");

	if (teststore_pg_exec(admin, is_down ? "ALTER DATABASE " EXEC_DB " ALLOW_CONNECTIONS false"
					     : "ALTER DATABASE " EXEC_DB " ALLOW_CONNECTIONS true"))
		return -1;
	return teststore_pg_exec(admin, "DO $$BEGIN PERFORM pg_terminate_backend(pid, 10000)"
					" FROM pg_stat_activity"
					" WHERE datname = '" EXEC_DB "'; END$$");
}

/* `sql` on the database of url must give one row whose first value is
 * `want` (no row is a failure, not a pass). */
static void exec_value_is(const char *url, const char *sql, const char *want)
{
	PGconn *c = PQconnectdb(url);
	PGresult *res = PQexec(c, sql);

	CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_TUPLES_OK);
	CU_ASSERT_EQUAL(PQntuples(res), 1);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), want);
	PQclear(res);
	PQfinish(c);
}

/* A statement failing with SQLSTATE `state`: whether the store calls the
 * failure retryable (-1: the statement did not fail). */
static int exec_fail_with(struct store *s, const char *state)
{
	char sql[160];

	s->is_retryable = 0;
	snprintf(sql, sizeof(sql),
		 "DO $$BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = '%s'; END$$", state);
	if (pg_exec_simple(pgs(s), sql, W_BEGIN) != -1)
		return -1;
	return s->is_retryable;
}

/* A serialization failure, a deadlock and a lock not available are another
 * writer's doing (retryable); a unique violation is not. */
static void test_pg_exec_conflict_states_are_retryable(void)
{
	char url[512];
	struct store *s;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL(exec_fail_with(s, "40001"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "refused (begin, SQLSTATE 40001)"));
	CU_ASSERT_EQUAL(exec_fail_with(s, "40P01"), 1);
	CU_ASSERT_EQUAL(exec_fail_with(s, "55P03"), 1);
	CU_ASSERT_EQUAL(exec_fail_with(s, "23505"), 0);
	exec_close(s);
}

/* An answer of class 57P (the server shut down, or ended this session) is a
 * lost connection, even while libpq still holds it open. */
static void test_pg_exec_an_operator_intervention_is_a_lost_connection(void)
{
	char url[512];
	struct store *s;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL(exec_fail_with(s, "57P01"), 0);
	CU_ASSERT_EQUAL(PQstatus(pgs(s)->conn), CONNECTION_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "postgres: connection to "));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), " lost (begin): refused"));
	exec_close(s);
}

/* A write sent down the pipeline fails at the next statement waited for,
 * named by the write (its first 40 characters), not by the read. */
static void test_pg_exec_a_pipelined_write_failure_is_named_by_the_write(void)
{
	char url[512];
	struct store *s;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(pg_begin(s), 0);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(exec_insert_p(s), 0);
	CU_ASSERT_PTR_NULL(pg_run(pgs(s), S_META_GET, "s", "k"));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "(INSERT INTO profiles(id, seq,"
						      " custom_id,..., SQLSTATE 23505)"));
	CU_ASSERT_EQUAL(pg_rollback(s), 0);
	exec_close(s);
}

/* After a reconnect every statement is prepared anew on the new session; a
 * Parse that fails is named by its statement. */
static void test_pg_exec_a_new_session_prepares_again(void)
{
	char url[512];
	struct store *s;
	PGresult *res;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	res = pg_run(pgs(s), S_META_GET, "s", "k");
	CU_ASSERT_PTR_NOT_NULL(res);
	PQclear(res);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(url, "ALTER TABLE meta RENAME TO meta_away"), 0);
	CU_ASSERT_EQUAL_FATAL(exec_sessions_end(0), 0);
	/* reconnected: prepared again, against the table gone */
	CU_ASSERT_PTR_NULL(pg_run(pgs(s), S_META_GET, "s", "k"));
	CU_ASSERT_EQUAL(PQstatus(pgs(s)->conn), CONNECTION_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "(SELECT value FROM meta WHERE key = $1...,"
						      " SQLSTATE 42P01)"));
	exec_close(s);
}

/* The wait before the next attempt, from "next attempt in N ms"; -1. */
static long exec_next_attempt_ms(struct store *s)
{
	const char *at;

	CU_ASSERT_PTR_NULL(pg_run(pgs(s), S_BLOCK_ANY, ""));
	at = strstr(store_error(s), "(next attempt in ");
	return at ? strtol(at + strlen("(next attempt in "), NULL, 10) : -1;
}

/* A failed attempt against a server that refuses connections, saying so,
 * and the wait it set before the next one. */
static int64_t exec_failed_attempt_wait(struct store *s)
{
	pgs(s)->reconnect_at_ms = 0; /* any wait before it is over */
	CU_ASSERT_PTR_NULL(pg_run(pgs(s), S_BLOCK_ANY, ""));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), " refused the connection: "));
	return pgs(s)->backoff_ms;
}

/* A server that refuses connections: one attempt, then none for 100 ms,
 * the wait doubling at each failed attempt up to 5 s, and back to 100 ms
 * once an attempt succeeds; a call within the wait fails at once, saying
 * how long is left.  (The waits are cut short by hand, and read from the
 * store rather than timed: a loaded machine may take 100 ms between two
 * calls.) */
static void test_pg_exec_reconnects_back_off_from_100_ms_to_5_s(void)
{
	char url[512], *logged;
	struct store *s;
	struct testlib_capture cap;
	long ms;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(exec_sessions_end(1), 0);
	testlib_capture_begin(&cap);
	CU_ASSERT_PTR_NULL(pg_run(pgs(s), S_BLOCK_ANY, ""));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), " refused the connection: "));
	CU_ASSERT_EQUAL(pgs(s)->backoff_ms, 100);
	CU_ASSERT_EQUAL(exec_failed_attempt_wait(s), 200);
	CU_ASSERT_EQUAL(exec_failed_attempt_wait(s), 400);
	/* within the wait: no attempt, the time left said */
	pgs(s)->reconnect_at_ms = time_mono_ms() + 60000;
	ms = exec_next_attempt_ms(s);
	CU_ASSERT(ms > 50000 && ms <= 60000);
	CU_ASSERT_EQUAL(pgs(s)->backoff_ms, 400);
	/* the longest wait */
	pgs(s)->backoff_ms = 4000;
	CU_ASSERT_EQUAL(exec_failed_attempt_wait(s), 5000);
	CU_ASSERT_EQUAL(exec_failed_attempt_wait(s), 5000);
	/* back: the next attempt connects, and a new loss waits 100 ms again */
	CU_ASSERT_EQUAL_FATAL(exec_sessions_end(0), 0);
	pgs(s)->reconnect_at_ms = 0;
	CU_ASSERT(exec_reads(s));
	CU_ASSERT_EQUAL(pgs(s)->backoff_ms, 0);
	logged = testlib_capture_end(&cap);
	/* five failed attempts are one outage of the process, not a line each
	 * (none when another test's outage was still running), its end one line */
	CU_ASSERT(testlib_lines_with(logged, "PostgreSQL refuses the hub's connections") <= 1);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "PostgreSQL takes the hub's connections again"
						   " (refusing them since "),
			1);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "connection attempts refused)"));
	free(logged);
	CU_ASSERT_EQUAL_FATAL(exec_sessions_end(1), 0);
	CU_ASSERT_EQUAL(exec_failed_attempt_wait(s), 100);
	/* and over again, so that no outage outlives the test */
	CU_ASSERT_EQUAL_FATAL(exec_sessions_end(0), 0);
	pgs(s)->reconnect_at_ms = 0;
	CU_ASSERT(exec_reads(s));
	exec_close(s);
}

/* A reset the server refuses (here its database is gone: a missing one is
 * refused whatever the authentication) says so, with the server's
 * reason, in the error and as an outage of its own in the log, never
 * the password of the URL; it said "cannot reach" the server and
 * "PostgreSQL unreachable", sending the reader to the network.  Once the
 * database is back, the outage's end. */
static void test_pg_exec_a_refused_reset_is_not_unreachable(void)
{
	char url[512], secret_url[600], err[512] = "", *logged;
	const char *why = " refused the connection: connection to server at ";
	const char *missing = "FATAL:  database \"" EXEC_DB "\" does not exist";
	struct testlib_capture cap;
	struct store *s, *s2 = NULL;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	snprintf(secret_url, sizeof(secret_url), "%s?password=Secret-Pw-77", url);
	CU_ASSERT_EQUAL_FATAL(store_pg_open(secret_url, "", &s2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(getenv("HUB_TEST_PG_URL"),
						"DROP DATABASE " EXEC_DB " WITH (FORCE)"),
			      0);
	testlib_capture_begin(&cap);
	CU_ASSERT_PTR_NULL(pg_run(pgs(s2), S_BLOCK_ANY, ""));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s2), why));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s2), missing));
	CU_ASSERT_PTR_NULL(strstr(store_error(s2), "cannot reach"));
	CU_ASSERT_PTR_NULL(strstr(store_error(s2), "Secret-Pw-77"));
	CU_ASSERT_EQUAL_FATAL(teststore_pg_fresh_db(EXEC_DB, "", url, sizeof(url)), 0);
	pgs(s2)->reconnect_at_ms = 0;
	CU_ASSERT_EQUAL(pg_reconnect(pgs(s2)), 0);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "error [store] PostgreSQL refuses the hub's"
						   " connections: postgres: "),
			1);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, missing), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "PostgreSQL unreachable"), 0);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "PostgreSQL takes the hub's connections again"
						   " (refusing them since "),
			1);
	CU_ASSERT_PTR_NULL(strstr(logged, "Secret-Pw-77"));
	free(logged);
	store_close(s2);
	exec_close(s);
}

/* A port of 127.0.0.1 on which nothing listens (bound, then let go), or 0. */
static int exec_closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &n) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* A reset that reaches no server (its connection's port has no listener)
 * is "cannot reach", logged as "PostgreSQL unreachable", not as a
 * refusal; and the outage's end once a server answers. */
static void test_pg_exec_an_unreachable_server_is_unreachable(void)
{
	char url[512], gone[128], *logged;
	struct testlib_capture cap;
	struct store *s;
	int port;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_FATAL((port = exec_closed_port()) > 0);
	snprintf(gone, sizeof(gone), "host=127.0.0.1 port=%d dbname=" EXEC_DB, port);
	testlib_capture_begin(&cap);
	PQfinish(pgs(s)->conn); /* the store's connection now leads nowhere */
	pgs(s)->conn = PQconnectdb(gone);
	CU_ASSERT_PTR_NULL(pg_run(pgs(s), S_BLOCK_ANY, ""));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "postgres: cannot reach "));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "Connection refused"));
	PQfinish(pgs(s)->conn);
	pgs(s)->conn = PQconnectdb(url);
	pgs(s)->reconnect_at_ms = 0;
	CU_ASSERT(exec_reads(s));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "error [store] PostgreSQL unreachable: postgres:"
						   " cannot reach "),
			1);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "PostgreSQL refuses"), 0);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, " refused the connection"), 0);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "reconnected to PostgreSQL (unreachable since "),
			1);
	free(logged);
	exec_close(s);
}

/* A session holding a lock on pg_settings (which the session setup reads)
 * until it has been idle in its transaction for 8 s: the server logs a new
 * session in and then does not answer its setup for as long.  Its
 * connection (ROLLBACK ends it sooner), or NULL (a failed assertion). */
static PGconn *exec_dba_locks_settings(const char *url)
{
	PGconn *dba = PQconnectdb(url);
	PGresult *res = PQexec(dba, "SET idle_in_transaction_session_timeout = '8s'; BEGIN;"
				    " LOCK TABLE pg_catalog.pg_settings IN ACCESS EXCLUSIVE MODE");
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "\n  pg_settings not locked: %s\n", PQerrorMessage(dba));
	CU_ASSERT(ok);
	PQclear(res);
	if (ok)
		return dba;
	PQfinish(dba);
	return NULL;
}

/* A wait since t0 (time_mono_ms) for a session setup bounded by a URL's
 * connect_timeout=2 ended at about 2 s: 8 s (until the lock of
 * exec_dba_locks_settings went) without the bound; 7 s leaves a loaded
 * machine room to connect.  `what`: the wait, for the message. */
static void exec_gave_up_at_2_s(int64_t t0, const char *what)
{
	int64_t took_ms = time_mono_ms() - t0;

	CU_ASSERT(took_ms >= 1900 && took_ms < 7000);
	if (took_ms < 1900 || took_ms >= 7000)
		fprintf(stderr, "\n  the %s took %lld ms\n", what, (long long)took_ms);
}

/* A reset to a server that logs in and then does not answer the session
 * setup (exec_dba_locks_settings) gives up after connect_timeout (the
 * URL's 2 s here; the hub's default 10 s), saying what hung, as the
 * connection attempt itself does; once the server answers, the next
 * attempt connects.  The setup was waited for without end (here until the
 * lock went, 8 s), holding the writer and every request waiting on it. */
static void test_pg_exec_a_reset_gives_up_a_hung_setup_at_connect_timeout(void)
{
	char url[512], short_url[560], err[512] = "";
	struct store *s, *s2 = NULL;
	PGconn *dba;
	int64_t t0;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL(pgs(s)->connect_timeout_ms, 10000);
	snprintf(short_url, sizeof(short_url), "%s?connect_timeout=2", url);
	CU_ASSERT_EQUAL_FATAL(store_pg_open(short_url, "", &s2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(pgs(s2)->connect_timeout_ms, 2000);
	CU_ASSERT_EQUAL_FATAL(exec_sessions_end(0), 0);
	if (!(dba = exec_dba_locks_settings(url)))
		goto out;
	t0 = time_mono_ms();
	CU_ASSERT_PTR_NULL(pg_run(pgs(s2), S_BLOCK_ANY, ""));
	exec_gave_up_at_2_s(t0, "reset");
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s2), " accepted the connection, then did not"
						       " answer the session setup within 2000 ms"));
	PQclear(PQexec(dba, "ROLLBACK"));
	PQfinish(dba);
	pgs(s2)->reconnect_at_ms = 0;
	CU_ASSERT(exec_reads(s2));
out:
	store_close(s2);
	exec_close(s);
}

/* An open whose session setup the server does not answer (it took the
 * login: exec_dba_locks_settings) gives up after connect_timeout (the
 * URL's 2 s here), saying what hung, as a reset does; once the server
 * answers, the open succeeds.  It waited without end (here until the lock
 * went, 8 s): `run` hung at its start. */
static void test_pg_an_open_gives_up_a_hung_setup_at_connect_timeout(void)
{
	char url[512], short_url[560], err[512] = "";
	struct store *s, *s2 = NULL;
	PGconn *dba;
	int64_t t0;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	snprintf(short_url, sizeof(short_url), "%s?connect_timeout=2", url);
	if (!(dba = exec_dba_locks_settings(url)))
		goto out;
	t0 = time_mono_ms();
	CU_ASSERT_EQUAL(store_pg_open(short_url, "", &s2, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(s2);
	exec_gave_up_at_2_s(t0, "open");
	CU_ASSERT_PTR_NOT_NULL(strstr(err, " accepted the connection, then did not answer the"
					   " session setup within 2000 ms (connect_timeout)"));
	PQclear(PQexec(dba, "ROLLBACK"));
	PQfinish(dba);
	CU_ASSERT_EQUAL(store_pg_open(short_url, "", &s2, err, sizeof(err)), 0);
out:
	store_close(s2);
	exec_close(s);
}

/* A reset that reaches the server whose session setup is refused (here the
 * lock_timeout the hub SETs, past the server's range) says so, with the
 * server's reason and SQLSTATE, in the error and the log: it said "cannot
 * reach" the server, with libpq's last message. */
static void test_pg_exec_a_refused_session_setup_says_why(void)
{
	char url[512], *logged;
	struct store *s;
	struct testlib_capture cap;
	const char *why = "the session setup failed: invalid value for parameter"
			  " \"lock_timeout\": \"1099511627776ms\" (session setup, SQLSTATE 22023)";

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL(store_pg_lock_timeout_set(s, (int64_t)1 << 40), -1); /* at once too */
	CU_ASSERT_EQUAL_FATAL(exec_sessions_end(0), 0);
	testlib_capture_begin(&cap);
	CU_ASSERT_PTR_NULL(pg_run(pgs(s), S_BLOCK_ANY, ""));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), " accepted the connection, but"));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), why));
	CU_ASSERT_PTR_NULL(strstr(store_error(s), "cannot reach"));
	/* a value the server takes: the next attempt connects */
	CU_ASSERT_EQUAL(store_pg_lock_timeout_set(s, 2000), 0);
	pgs(s)->reconnect_at_ms = 0;
	CU_ASSERT(exec_reads(s));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, why));
	free(logged);
	exec_close(s);
}

/* A session says which process it is (application_name "profilehub pid
 * N"), so that pg_stat_activity and pg_locks name the hub holding a lease
 * when several share the database; it was "profilehub" for every one. */
static void test_pg_a_session_names_its_process(void)
{
	char url[512], sql[160], want[40];
	struct store *s;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	snprintf(sql, sizeof(sql), "SELECT application_name FROM pg_stat_activity WHERE pid = %d",
		 PQbackendPID(pgs(s)->conn));
	snprintf(want, sizeof(want), "profilehub pid %ld", (long)getpid());
	exec_value_is(url, sql, want);
	exec_close(s);
}

/* profile_lock (an erase by profile ID) takes the lock another process's
 * group takes for the profile holding an identifier (S_IDENT_LOCK_OWNERS:
 * its bucket under the profile salt), held to the end of the transaction;
 * outside one it is refused. */
static void test_pg_profile_lock_is_the_holders_lock(void)
{
	char url[512], sql[200];
	struct store *s;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL(s->ops->profile_lock(s, "p_aaaaaaaaaaaaaaaa"), -1);
	snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_xact_lock(%s, hashtext("
		 "'p_aaaaaaaaaaaaaaaa') & " LOCK_BUCKET_MASK ")", pgs(s)->profile_lock_text);
	CU_ASSERT_EQUAL_FATAL(pg_begin(s), 0);
	CU_ASSERT_EQUAL(s->ops->profile_lock(s, "p_aaaaaaaaaaaaaaaa"), 0);
	exec_value_is(url, sql, "f"); /* another session waits for it */
	CU_ASSERT_EQUAL_FATAL(pg_commit(s), 0);
	exec_value_is(url, sql, "t");
	exec_close(s);
}

/* A statement whose first run on the connection (its Parse and itself)
 * would not fit behind PIPE_MAX_PENDING - 1 results in flight waits for
 * them first: the failure among them is still named by its statement. */
static void test_pg_exec_a_full_pipeline_is_read_before_a_parse(void)
{
	char url[512];
	struct store *s;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(pg_begin(s), 0);
	CU_ASSERT_EQUAL(exec_insert_p(s), 0);
	CU_ASSERT_EQUAL_FATAL(pg_commit(s), 0);
	/* the first one fails (P exists), the rest are skipped */
	CU_ASSERT_EQUAL_FATAL(pg_begin(s), 0);
	for (int i = 0; i < PIPE_MAX_PENDING - 1; i++)
		CU_ASSERT_EQUAL(exec_insert_p(s), 0);
	CU_ASSERT_EQUAL(pgs(s)->prep[S_ATTR_COUNT], 0);
	CU_ASSERT_PTR_NULL(pg_run(pgs(s), S_ATTR_COUNT, "s", "P"));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "(INSERT INTO profiles(id, seq,"
						      " custom_id,..., SQLSTATE 23505)"));
	CU_ASSERT_EQUAL(pg_rollback(s), 0);
	exec_close(s);
}

/* blocks (one row) as a view whose every read takes a number from
 * sequence runs, then fails */
#define COUNTED_BLOCKS_SQL                                                     \
	"INSERT INTO blocks VALUES ('t', 'v', 1); CREATE SEQUENCE runs;"       \
	"CREATE FUNCTION counted() RETURNS bool LANGUAGE plpgsql AS $$BEGIN"   \
	" PERFORM nextval('runs'); RAISE EXCEPTION 'refused'; END$$;"          \
	"ALTER TABLE blocks RENAME TO blocks_away;"                            \
	"CREATE VIEW blocks AS SELECT * FROM blocks_away WHERE counted()"

/* Outside a transaction a statement that fails on a live connection is
 * not run again (only a lost connection is reset and the statement run
 * once more): what it did before failing is done once. */
static void test_pg_exec_a_failure_on_a_live_connection_is_not_run_again(void)
{
	char url[512];
	struct store *s;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(url, COUNTED_BLOCKS_SQL), 0);
	CU_ASSERT_PTR_NULL(pg_run(pgs(s), S_BLOCK_ANY, ""));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "postgres: refused ("));
	exec_value_is(url, "SELECT last_value FROM runs", "1");
	exec_close(s);
}

/* A lease whose connection was lost is no longer held: the reconnected
 * store takes it anew, never answers from its memory of the old session. */
static void test_pg_exec_a_reconnect_forgets_the_leases(void)
{
	char url[512], err[512] = "";
	struct store *s, *s2 = NULL;
	int64_t epoch = 0;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(store_pg_open(url, "", &s2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(pg_lease_try(s, "export:x", &epoch), 1);
	CU_ASSERT_EQUAL_FATAL(exec_sessions_end(0), 0);
	CU_ASSERT(exec_reads(s)); /* reconnects */
	CU_ASSERT_EQUAL(pg_lease_try(s2, "export:x", &epoch), 1);
	CU_ASSERT_EQUAL(pg_lease_try(s, "export:x", &epoch), 0);
	store_close(s2);
	exec_close(s);
}

/* The connection lost between taking a lease's lock and bumping its epoch:
 * the lock went with the old session, so the lease is not taken. */
static void test_pg_exec_a_lease_whose_lock_was_lost_is_not_taken(void)
{
	char url[512];
	struct store *s;
	int64_t epoch = 0;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	s->fault_kind = STORE_FAULT_GONE;
	s->fault_calls = 0;
	s->fault_at[0] = 4; /* the epoch's (a new name: no id, its id made, taken) */
	CU_ASSERT_EQUAL(pg_lease_try(s, "export:x", &epoch), -1);
	CU_ASSERT_EQUAL(s->fault_disconnects, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "connection lost taking lease export:x"));
	CU_ASSERT_EQUAL(pgs(s)->n_leases, 0);
	exec_close(s);
}

/* A session whose set-up failed (is_ready 0) runs no statement: it is made
 * again first. */
static void test_pg_exec_a_session_not_set_up_is_made_again_first(void)
{
	char url[512];
	struct store *s;
	uint64_t gen;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	gen = pgs(s)->conn_gen;
	pgs(s)->is_ready = 0;
	CU_ASSERT(exec_reads(s));
	CU_ASSERT_EQUAL(pgs(s)->conn_gen, gen + 1);
	CU_ASSERT_EQUAL(pgs(s)->is_ready, 1);
	exec_close(s);
}

/* The link cut under a transaction whose COMMIT is in flight, results of
 * statements before it unread: the failure is named by COMMIT, whose
 * answer is what was lost. */
static void test_pg_exec_a_link_cut_under_commit_is_named_by_commit(void)
{
	char url[512];
	struct store *s;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(pg_begin(s), 0);
	CU_ASSERT_EQUAL(pg_command(pgs(s), S_META_PUT, "ss", "k", "v"), 0);
	CU_ASSERT_EQUAL(shutdown(PQsocket(pgs(s)->conn), SHUT_RDWR), 0);
	CU_ASSERT_EQUAL(pg_commit(s), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), " lost (commit): "));
	pg_rollback(s);
	exec_close(s);
}

/* A COMMIT whose answer was lost, settled as committed over a new
 * connection, leaves no pipeline behind: a read outside a transaction
 * runs as ever. */
static void test_pg_exec_a_read_after_a_lost_commit_answer_runs(void)
{
	char url[512];
	struct store *s;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(pg_begin(s), 0);
	CU_ASSERT_EQUAL(exec_insert_p(s), 0);
	s->fault_commit_cut = STORE_CUT_AFTER_COMMIT;
	CU_ASSERT_EQUAL(pg_commit(s), 0);
	CU_ASSERT_EQUAL(s->fault_disconnects, 1);
	CU_ASSERT(exec_reads(s));
	exec_close(s);
}

/* A fault armed for the next statement (store.h, the fault tests) fails a
 * write only sent down the pipeline too, not only a statement waited for. */
static void test_pg_exec_an_armed_fault_fails_a_pipelined_write(void)
{
	char url[512];
	struct store *s;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(pg_begin(s), 0);
	s->fault_calls = 0;
	s->fault_at[0] = 1;
	CU_ASSERT_EQUAL(exec_insert_p(s), -1);
	CU_ASSERT_STRING_EQUAL(store_error(s), "injected fault: disk I/O error");
	CU_ASSERT_EQUAL(pg_rollback(s), 0);
	exec_close(s);
}

/* Meta key `key` on handle s, put in a write transaction: 0, or -1. */
static int exec_meta_put(struct store *s, const char *key)
{
	if (pg_begin(s))
		return -1;
	if (pg_command(pgs(s), S_META_PUT, "ss", key, "v") || pg_commit(s)) {
		pg_rollback(s);
		return -1;
	}
	return 0;
}

/* The setting `name` of the store's session is `want`. */
static void exec_setting_is(struct store *s, const char *name, const char *want)
{
	const char *vals[1] = {name};
	PGresult *res = PQexecParams(pgs(s)->conn, "SELECT current_setting($1)", 1, NULL, vals,
				     NULL, NULL, 0);

	CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_TUPLES_OK);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), want);
	PQclear(res);
}

/* A DBA's session on the database of url, holding `table` locked in an
 * open transaction (PQexec(dba, "ROLLBACK") lets it go). */
static PGconn *exec_dba_locks(const char *url, const char *table)
{
	PGconn *dba = PQconnectdb(url);
	char sql[96];
	PGresult *res;

	snprintf(sql, sizeof(sql), "BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", table);
	res = PQexec(dba, sql);

	CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	return dba;
}

/* A DBA's LOCK TABLE made the hub's writes wait for it without end: its
 * sessions had no lock_timeout.  They have PG_LOCK_TIMEOUT now, also after
 * a reconnect, and one set by the URL (a DBA's, 0 too) is kept; a write meeting
 * the held lock fails after it, named as a lock wait, retryable, with
 * nothing stored and no transaction left open, and runs once it is free.
 * is_lock_timeout says so to the intake (not run again) until the next
 * BEGIN. */
static void test_pg_a_held_lock_fails_a_write_after_the_lock_timeout(void)
{
	char url[512], short_url[600], err[512] = "";
	struct store *s, *s2 = NULL, *s3 = NULL;
	PGconn *dba;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	exec_setting_is(s, "lock_timeout", PG_LOCK_TIMEOUT);
	CU_ASSERT_EQUAL(exec_sessions_end(0), 0);
	pgs(s)->reconnect_at_ms = 0;
	CU_ASSERT_EQUAL(pg_reconnect(pgs(s)), 0);
	exec_setting_is(s, "lock_timeout", PG_LOCK_TIMEOUT);
	snprintf(short_url, sizeof(short_url), "%s?options=-c%%20lock_timeout%%3D300ms", url);
	CU_ASSERT_EQUAL_FATAL(store_pg_open(short_url, "", &s2, err, sizeof(err)), 0);
	exec_setting_is(s2, "lock_timeout", "300ms");
	/* 0 set on purpose (wait without end) is the DBA's too */
	snprintf(short_url, sizeof(short_url), "%s?options=-c%%20lock_timeout%%3D0", url);
	CU_ASSERT_EQUAL_FATAL(store_pg_open(short_url, "", &s3, err, sizeof(err)), 0);
	exec_setting_is(s3, "lock_timeout", "0");
	store_close(s3);
	dba = exec_dba_locks(url, "profiles");
	CU_ASSERT_EQUAL_FATAL(pg_begin(s2), 0);
	CU_ASSERT_EQUAL(exec_insert_p(s2) || pg_commit(s2), 1);
	CU_ASSERT_EQUAL(s2->is_retryable, 1);
	CU_ASSERT_EQUAL(s2->is_lock_timeout, 1); /* the intake runs it not again */
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s2), "waited lock_timeout (300ms) for a lock"
						       " another session holds on schema \"public\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s2), "SQLSTATE 55P03"));
	pg_rollback(s2);
	CU_ASSERT_EQUAL(PQtransactionStatus(pgs(s2)->conn), PQTRANS_IDLE);
	PQclear(PQexec(dba, "ROLLBACK"));
	exec_value_is(url, "SELECT count(*) FROM profiles", "0");
	CU_ASSERT_EQUAL_FATAL(pg_begin(s2), 0);
	CU_ASSERT_EQUAL(s2->is_lock_timeout, 0); /* a later conflict is retried */
	CU_ASSERT_EQUAL(exec_insert_p(s2), 0);
	CU_ASSERT_EQUAL(pg_commit(s2), 0);
	exec_value_is(url, "SELECT count(*) FROM profiles", "1");
	PQfinish(dba);
	store_close(s2);
	exec_close(s);
}

/* A BEGIN whose read of the schema's version failed on a live connection
 * (meta locked by a DBA past lock_timeout) left the session in the failed
 * transaction: what ran next outside a transaction (a read, a lease)
 * failed with "current transaction is aborted" (SQLSTATE 25P02) until the
 * next BEGIN.  It is rolled back at once, its cause kept as the error. */
static void test_pg_a_failed_begin_leaves_no_transaction_open(void)
{
	char url[512], short_url[600], err[512] = "";
	struct store *s, *s2 = NULL;
	PGconn *dba;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	snprintf(short_url, sizeof(short_url), "%s?options=-c%%20lock_timeout%%3D300ms", url);
	CU_ASSERT_EQUAL_FATAL(store_pg_open(short_url, "", &s2, err, sizeof(err)), 0);
	dba = exec_dba_locks(url, "meta");
	CU_ASSERT_EQUAL(pg_begin(s2), -1);
	CU_ASSERT_EQUAL(s2->is_lock_timeout, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s2), "SQLSTATE 55P03"));
	CU_ASSERT_EQUAL(PQtransactionStatus(pgs(s2)->conn), PQTRANS_IDLE);
	PQclear(PQexec(dba, "ROLLBACK"));
	CU_ASSERT_EQUAL(exec_reads(s2), 1); /* not "current transaction is aborted" */
	PQfinish(dba);
	store_close(s2);
	exec_close(s);
}

/* A commit after a statement failed, the failure read and the transaction
 * not rolled back (a caller going on past it), stores nothing and says
 * it failed: the server ends such a transaction as ROLLBACK whatever is
 * sent, and a commit said to succeed would answer 2xx for nothing. */
static void test_pg_a_commit_after_a_failed_statement_fails(void)
{
	char url[512];
	struct store *s;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(pg_begin(s), 0);
	CU_ASSERT_EQUAL(exec_insert_p(s), 0);
	CU_ASSERT_EQUAL(exec_insert_p(s), 0); /* sent: P again, refused by its key */
	CU_ASSERT_EQUAL(exec_reads(s), 0);    /* the refusal read here */
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), "SQLSTATE 23505"));
	CU_ASSERT_EQUAL(pg_commit(s), -1);
	pg_rollback(s);
	CU_ASSERT_EQUAL(PQtransactionStatus(pgs(s)->conn), PQTRANS_IDLE);
	exec_value_is(url, "SELECT count(*) FROM profiles", "0");
	exec_close(s);
}

/* The store of EXEC_DB (exec_open's) that store_open makes from a config
 * whose store section is `url` and `extra` YAML: the hub's way.  NULL, and
 * the reason on stderr, when it cannot. */
static struct store *exec_open_cfg(const char *url, const char *extra)
{
	char yaml[1024], err[1024] = "";
	struct hub_config *cfg = NULL;
	struct store *s = NULL;

	snprintf(yaml, sizeof(yaml), "store:\n  driver: postgres\n  url: \"%s\"\n%s", url,
		 extra);
	if (config_load_string("hub.yaml", yaml, &cfg, err, sizeof(err)) ||
	    store_open(cfg, &s, err, sizeof(err)))
		fprintf(stderr, "\n  no store from config: %s\n", err);
	config_free(cfg);
	return s;
}

/* store.lock_timeout is the hub's sessions' lock_timeout over one the
 * database sets (a DBA's 0, kept without the key), also after a reconnect;
 * a write meeting a held lock fails after it, the wait named with it. */
static void test_pg_store_lock_timeout_wins_over_the_databases(void)
{
	char url[512];
	struct store *s, *keyed;
	PGconn *dba;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(url, "ALTER DATABASE " EXEC_DB
						     " SET lock_timeout = 0"),
			      0);
	store_close(s);
	s = exec_open_cfg(url, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	exec_setting_is(s, "lock_timeout", "0"); /* the DBA's, without the key */
	keyed = exec_open_cfg(url, "  lock_timeout: 300ms\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(keyed);
	exec_setting_is(keyed, "lock_timeout", "300ms");
	CU_ASSERT_EQUAL(exec_sessions_end(0), 0);
	pgs(keyed)->reconnect_at_ms = 0;
	CU_ASSERT_EQUAL(pg_reconnect(pgs(keyed)), 0);
	exec_setting_is(keyed, "lock_timeout", "300ms");
	dba = exec_dba_locks(url, "profiles");
	CU_ASSERT_EQUAL_FATAL(pg_begin(keyed), 0);
	CU_ASSERT_EQUAL(exec_insert_p(keyed) || pg_commit(keyed), 1);
	CU_ASSERT_EQUAL(keyed->is_lock_timeout, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(keyed), "waited lock_timeout (300ms) for a"));
	pg_rollback(keyed);
	PQclear(PQexec(dba, "ROLLBACK"));
	PQfinish(dba);
	/* whole seconds are written as such, as the docs write them */
	CU_ASSERT_EQUAL(store_pg_lock_timeout_set(keyed, 2000), 0);
	exec_setting_is(keyed, "lock_timeout", "2s");
	store_close(keyed);
	exec_close(s);
}

/* A newer hub migrates the schema of s (its schema_version bumped, as its
 * migrate() does); into want what the refusal says.  0, or -1. */
static int exec_schema_bump(const char *url, struct store *s, char *want, size_t size)
{
	PGresult *res = PQexec(pgs(s)->conn, "SELECT value FROM meta WHERE"
					     " key = 'schema_version'");
	long known = 0;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		known = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	snprintf(want, size, "store schema version %ld, this hub knows %ld", known + 1, known);
	if (known <= 0)
		return -1;
	return teststore_pg_exec(url, "UPDATE meta SET value = (value::int8 + 1)::text"
				      " WHERE key = 'schema_version'");
}

/* A rolling upgrade: two hubs on one schema, and a newer hub migrates it
 * while they run (its schema_version bumped, as its migrate() does).  A
 * running hub's next write transaction sees the new version in its BEGIN's
 * round trip and writes nothing, naming both versions, logged once per
 * handle; its reads go on. */
static void test_pg_a_schema_migrated_by_a_newer_hub_stops_writes(void)
{
	char url[512], err[512] = "", want[128], *log;
	struct testlib_capture cap;
	struct store *s, *s2 = NULL;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(store_pg_open(url, "", &s2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(exec_meta_put(s, "before"), 0);
	CU_ASSERT_EQUAL_FATAL(exec_schema_bump(url, s, want, sizeof(want)), 0);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(exec_meta_put(s, "after"), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), want));
	CU_ASSERT_EQUAL(exec_meta_put(s, "after"), -1);
	CU_ASSERT_EQUAL(exec_meta_put(s2, "after2"), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s2), want));
	log = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(log, want), 2); /* once per handle */
	free(log);
	CU_ASSERT(exec_reads(s2));
	CU_ASSERT_EQUAL(pgs(s)->in_tx, 0);
	/* the refused BEGIN is rolled back: left idle in a transaction, the
	 * connection would hold its lock on meta, which the newer hub's next
	 * migration step waits for */
	CU_ASSERT_EQUAL(PQtransactionStatus(pgs(s)->conn), PQTRANS_IDLE);
	exec_value_is(url, "SELECT count(*) FROM meta WHERE key IN ('before', 'after', 'after2')",
		      "1");
	store_close(s2);
	exec_close(s);
}

/* How many advisory locks the store's session holds. */
static void exec_advisory_locks_are(const char *url, struct store *s, const char *want)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
				   " AND pid = %d", PQbackendPID(pgs(s)->conn));
	exec_value_is(url, sql, want);
}

/* An older hub that stopped writing once a newer one migrated the schema
 * kept its leases until it was stopped, and the newer processes could
 * deliver none of those exports.  Its next write gives them up (one line
 * naming them), a lease held is not kept nor a new one taken, by that
 * handle and by one that never wrote (at its take), and another process
 * takes them. */
static void test_pg_an_older_hub_gives_up_its_leases_after_a_migration(void)
{
	char url[512], err[512] = "", want[128], sql[200], *log;
	struct testlib_capture cap;
	struct store *s, *s2 = NULL;
	int64_t epoch = 0;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL_FATAL(store_pg_open(url, "", &s2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(pg_lease_try(s, "export:a", &epoch), 1);
	CU_ASSERT_EQUAL(pg_lease_try(s, "sync:b", &epoch), 1);
	exec_advisory_locks_are(url, s, "4"); /* two a lease: pg_lease_try */
	CU_ASSERT_EQUAL_FATAL(exec_schema_bump(url, s, want, sizeof(want)), 0);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(exec_meta_put(s, "after"), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), want));
	exec_advisory_locks_are(url, s, "0");
	CU_ASSERT_EQUAL(pg_lease_try(s, "export:a", &epoch), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), want));
	CU_ASSERT_EQUAL(pg_lease_try(s2, "export:c", &epoch), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s2), want));
	exec_advisory_locks_are(url, s, "0");
	exec_advisory_locks_are(url, s2, "0");
	log = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "this process gives up its 2 leases (export:a, ...)"
						 " for the newer processes"),
			1);
	free(log);
	snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%d, hashtext('export:a'))",
		 (int)(pgs(s)->salt ^ LOCK_LEASE));
	exec_value_is(url, sql, "t");
	store_close(s2);
	exec_close(s);
}

/* A handle that learns of the migration at a lease's take (it never
 * wrote): the take is refused, and the lease it already holds is not kept
 * at its next renewal either: all of them are given up there (answered 1
 * from the handle's own list, it was kept until a write). */
static void test_pg_a_lease_refused_at_its_take_gives_up_the_ones_held(void)
{
	char url[512], want[128];
	struct store *s;
	int64_t epoch = 0;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	CU_ASSERT_EQUAL(pg_lease_try(s, "export:a", &epoch), 1);
	CU_ASSERT_EQUAL_FATAL(exec_schema_bump(url, s, want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(pg_lease_try(s, "export:b", &epoch), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), want));
	CU_ASSERT_EQUAL(pg_lease_try(s, "export:a", &epoch), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_error(s), want));
	exec_advisory_locks_are(url, s, "0");
	exec_close(s);
}

/* Two lease names whose hashtext meet, "export:n70005" and "sync:n7512"
 * (found by grouping hashtext('export:n' || i) and hashtext('sync:n' || i),
 * i from 1 to 150000, by value; asserted here), are two leases: two
 * processes each hold one at once, and each is still one process's.  They
 * shared the lock (salt ^ LOCK_LEASE, hashtext(name)): the second process
 * waited for the first's export to take its sync. */
static void test_pg_two_names_whose_hashes_meet_are_two_leases(void)
{
	char url[512], err[512] = "";
	struct store *s, *s2 = NULL;
	int64_t epoch = 0;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	exec_value_is(url, "SELECT hashtext('export:n70005') = hashtext('sync:n7512')", "t");
	CU_ASSERT_EQUAL_FATAL(store_pg_open(url, "", &s2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(pg_lease_try(s, "export:n70005", &epoch), 1);
	CU_ASSERT_EQUAL(pg_lease_try(s2, "sync:n7512", &epoch), 1);
	CU_ASSERT_EQUAL(pg_lease_try(s2, "export:n70005", &epoch), 0);
	CU_ASSERT_EQUAL(pg_lease_try(s, "sync:n7512", &epoch), 0);
	CU_ASSERT_EQUAL(pg_lease_release(s, "export:n70005"), 0);
	CU_ASSERT_EQUAL(pg_lease_try(s2, "export:n70005", &epoch), 1);
	exec_value_is(url, "SELECT count(*) FROM meta WHERE left(key, 9) = 'lease_id:'", "2");
	store_close(s2);
	exec_close(s);
}

/* A hub before session 46 takes (is_take) or releases lease export:a on
 * its session `old` (the lock it knew: LOCK_LEASE by the name's hash, on
 * the schema of s): its answer must be `want`. */
static void exec_old_hub_lease(PGconn *old, struct store *s, int is_take, const char *want)
{
	char sql[120];
	PGresult *res;

	snprintf(sql, sizeof(sql),
		 is_take ? "SELECT pg_try_advisory_lock(%d, hashtext('export:a'))"
			 : "SELECT pg_advisory_unlock(%d, hashtext('export:a'))",
		 (int)(pgs(s)->salt ^ LOCK_LEASE));
	res = PQexec(old, sql);
	CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_TUPLES_OK);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), want);
	PQclear(res);
}

/* A hub before session 46 sharing the schema (its lease taken by hand on a
 * session of its own: pg_try_advisory_lock(salt ^ LOCK_LEASE,
 * hashtext(name))) and this one never hold one lease together, whichever
 * takes it first; this one's failed take leaves no lock behind. */
static void test_pg_a_lease_is_not_held_beside_an_older_hubs(void)
{
	char url[512];
	struct store *s;
	PGconn *old;
	int64_t epoch = 0;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	old = PQconnectdb(url);
	CU_ASSERT_EQUAL_FATAL(PQstatus(old), CONNECTION_OK);
	exec_old_hub_lease(old, s, 1, "t");
	CU_ASSERT_EQUAL(pg_lease_try(s, "export:a", &epoch), 0);
	exec_advisory_locks_are(url, s, "0");
	exec_old_hub_lease(old, s, 0, "t");
	CU_ASSERT_EQUAL(pg_lease_try(s, "export:a", &epoch), 1);
	exec_old_hub_lease(old, s, 1, "f");
	CU_ASSERT_EQUAL(pg_lease_release(s, "export:a"), 0);
	exec_advisory_locks_are(url, s, "0");
	exec_old_hub_lease(old, s, 1, "t");
	PQfinish(old);
	exec_close(s);
}

/* A schema an older hub made (version 2: no attributes_email_ci) is
 * migrated at its first open by this hub: the index that email lookups
 * without case use is made, and the version recorded.  Without the step
 * the lookups still answer, scanning every attribute. */
static void test_pg_a_version_2_schema_gets_the_email_index(void)
{
	char url[512], err[512] = "", known[32] = "";
	struct store *s, *s2 = NULL;
	PGresult *res;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	res = PQexec(pgs(s)->conn, "SELECT value FROM meta WHERE key = 'schema_version'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		snprintf(known, sizeof(known), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	CU_ASSERT_FATAL(strtol(known, NULL, 10) > 2);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(url, "DROP INDEX attributes_email_ci;"
						     " UPDATE meta SET value = '2'"
						     " WHERE key = 'schema_version'"),
			      0);
	exec_value_is(url, "SELECT count(*) FROM pg_indexes"
			   " WHERE indexname = 'attributes_email_ci'", "0");
	CU_ASSERT_EQUAL_FATAL(store_pg_open(url, "", &s2, err, sizeof(err)), 0);
	exec_value_is(url, "SELECT count(*) FROM pg_indexes WHERE indexname ="
			   " 'attributes_email_ci' AND indexdef LIKE '%md5(lower(value))%'", "1");
	exec_value_is(url, "SELECT value FROM meta WHERE key = 'schema_version'", known);
	store_close(s2);
	exec_close(s);
}

/* A role with no CREATE anywhere (a DBA's runtime role: USAGE on the schema,
 * DML on its tables and sequences) opens a schema another role migrated,
 * and writes to it; asked to create a new schema, it is refused naming the
 * privilege and what to do. */
static void test_pg_a_role_that_may_not_create_runs_a_migrated_schema(void)
{
	const char *admin = getenv("HUB_TEST_PG_URL");
	char url[512], app_url[560], err[1024] = "";
	struct store *s = NULL, *app = NULL;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	snprintf(app_url, sizeof(app_url), "%s?user=hub_app", url);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(admin, "DROP ROLE IF EXISTS hub_app"), 0);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(admin, "CREATE ROLE hub_app LOGIN"), 0);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(url, "REVOKE ALL ON DATABASE " EXEC_DB
						     " FROM PUBLIC; REVOKE CREATE ON SCHEMA public"
						     " FROM PUBLIC; GRANT CONNECT ON DATABASE " EXEC_DB
						     " TO hub_app; GRANT USAGE ON SCHEMA public TO"
						     " hub_app; GRANT SELECT, INSERT, UPDATE, DELETE"
						     " ON ALL TABLES IN SCHEMA public TO hub_app;"
						     " GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN"
						     " SCHEMA public TO hub_app"),
			      0);
	CU_ASSERT_EQUAL(store_pg_open(app_url, "", &app, err, sizeof(err)), 0);
	if (app) {
		CU_ASSERT_EQUAL(exec_meta_put(app, "by_app"), 0);
		store_close(app);
		app = NULL;
	} else {
		fprintf(stderr, "\n  hub_app: %s\n", err);
	}
	exec_value_is(url, "SELECT count(*) FROM meta WHERE key = 'by_app'", "1");
	CU_ASSERT_EQUAL(store_pg_open(app_url, "other", &app, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "schema \"other\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "SQLSTATE 42501"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "start the hub once as a role that may"));
	store_close(app);
	exec_close(s);
	CU_ASSERT_EQUAL(teststore_pg_exec(admin, "DROP ROLE hub_app"), 0);
}

/* An upgrade on a database whose sessions have a statement_timeout far
 * shorter than step 3's index build (over 400k email attributes: 300 ms or
 * more here): the migration runs to its end, not cancelled at every start.
 * The timeout leaves the session's own setup (a few ms) room on a loaded
 * machine: at 20 ms, CI's once cancelled the setup, not the migration. */
static void test_pg_a_migration_outlasts_a_statement_timeout(void)
{
	const char *admin = getenv("HUB_TEST_PG_URL");
	char url[512], err[512] = "";
	struct store *s = NULL;

	if (!(s = exec_open(url, sizeof(url))))
		return;
	store_close(s);
	s = NULL;
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(url, "DROP INDEX attributes_email_ci;"
						     " INSERT INTO attributes SELECT 'p' || i,"
						     " '$email_address', 'U' || i || '@X.com', 1, 0,"
						     " 0, 0 FROM generate_series(1, 400000) i;"
						     " UPDATE meta SET value = '2'"
						     " WHERE key = 'schema_version'"),
			      0);
	CU_ASSERT_EQUAL_FATAL(teststore_pg_exec(admin, "ALTER DATABASE " EXEC_DB
						       " SET statement_timeout = '100ms'"),
			      0);
	CU_ASSERT_EQUAL(store_pg_open(url, "", &s, err, sizeof(err)), 0);
	if (!s)
		fprintf(stderr, "\n  migration: %s\n", err);
	exec_value_is(url, "SELECT count(*) FROM pg_indexes"
			   " WHERE indexname = 'attributes_email_ci'", "1");
	exec_value_is(url, "SELECT value FROM meta WHERE key = 'schema_version'", "3");
	if (s)
		exec_close(s);
	else
		CU_ASSERT_EQUAL(teststore_pg_exec(admin, "DROP DATABASE " EXEC_DB " WITH (FORCE)"),
				0);
}

/* An error's first line is cut to the buffer, its terminator included. */
static void test_pg_exec_a_first_line_is_cut_to_its_buffer(void)
{
	char buf[8] = "#######";

	pg_first_line(buf, 4, "abcd\nefg");
	CU_ASSERT_STRING_EQUAL(buf, "abc");
	pg_first_line(buf, sizeof(buf), "abcd\nefg");
	CU_ASSERT_STRING_EQUAL(buf, "abcd");
	pg_first_line(buf, sizeof(buf), NULL);
	CU_ASSERT_STRING_EQUAL(buf, "");
}

TEST_SUITE(store_pg, NULL, NULL,
	   TEST(test_pg_open_commits_durably_where_the_database_does_not),
	   TEST(test_pg_exec_conflict_states_are_retryable),
	   TEST(test_pg_exec_an_operator_intervention_is_a_lost_connection),
	   TEST(test_pg_exec_a_pipelined_write_failure_is_named_by_the_write),
	   TEST(test_pg_exec_a_new_session_prepares_again),
	   TEST(test_pg_exec_reconnects_back_off_from_100_ms_to_5_s),
	   TEST(test_pg_exec_a_refused_reset_is_not_unreachable),
	   TEST(test_pg_exec_an_unreachable_server_is_unreachable),
	   TEST(test_pg_exec_a_reset_gives_up_a_hung_setup_at_connect_timeout),
	   TEST(test_pg_an_open_gives_up_a_hung_setup_at_connect_timeout),
	   TEST(test_pg_exec_a_refused_session_setup_says_why),
	   TEST(test_pg_a_session_names_its_process),
	   TEST(test_pg_profile_lock_is_the_holders_lock),
	   TEST(test_pg_exec_a_full_pipeline_is_read_before_a_parse),
	   TEST(test_pg_exec_a_failure_on_a_live_connection_is_not_run_again),
	   TEST(test_pg_exec_a_reconnect_forgets_the_leases),
	   TEST(test_pg_exec_a_lease_whose_lock_was_lost_is_not_taken),
	   TEST(test_pg_exec_a_session_not_set_up_is_made_again_first),
	   TEST(test_pg_exec_a_link_cut_under_commit_is_named_by_commit),
	   TEST(test_pg_exec_a_read_after_a_lost_commit_answer_runs),
	   TEST(test_pg_exec_an_armed_fault_fails_a_pipelined_write),
	   TEST(test_pg_exec_a_first_line_is_cut_to_its_buffer),
	   TEST(test_pg_a_schema_migrated_by_a_newer_hub_stops_writes),
	   TEST(test_pg_a_held_lock_fails_a_write_after_the_lock_timeout),
	   TEST(test_pg_a_failed_begin_leaves_no_transaction_open),
	   TEST(test_pg_a_commit_after_a_failed_statement_fails),
	   TEST(test_pg_store_lock_timeout_wins_over_the_databases),
	   TEST(test_pg_an_older_hub_gives_up_its_leases_after_a_migration),
	   TEST(test_pg_a_lease_refused_at_its_take_gives_up_the_ones_held),
	   TEST(test_pg_two_names_whose_hashes_meet_are_two_leases),
	   TEST(test_pg_a_lease_is_not_held_beside_an_older_hubs),
	   TEST(test_pg_a_version_2_schema_gets_the_email_index),
	   TEST(test_pg_a_role_that_may_not_create_runs_a_migrated_schema),
	   TEST(test_pg_a_migration_outlasts_a_statement_timeout))
