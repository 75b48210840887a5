/*
 * store_pg.c - the PostgreSQL store (libpq), for several hub processes on
 * one database.  Same schema semantics and same result order as
 * store_sqlite.c, so `profilehub dump` is byte for byte the same: text
 * columns are COLLATE "C" (memcmp order, like SQLite's BINARY), integers
 * int8, JSON kept as the text written (not jsonb).
 *
 * Every statement is prepared once per connection, the first time it runs
 * there (a new connection, after a failover or for the API's pool, costs
 * no round trip for the ~70 statements it may never run), and bound with
 * parameters; the only SQL text built here is the schema name, which the
 * config restricts to [a-z_][a-z0-9_]* (checked again below).  Inside a
 * transaction statements are pipelined: a write is sent without waiting,
 * and its result is read with the next statement that must be waited for
 * (a read, the savepoint release, the commit), which reports its failure.
 *
 * Several writers (READ COMMITTED: every statement sees what committed
 * before it started), made equivalent to one writer by advisory locks:
 *   - ident_lock (the intake, at group start): every identifier of the
 *     group, in one fixed order (by bucket: LOCK_BUCKET_MASK), then the
 *     profiles holding them, likewise.  Identifier locks taken in one order cannot deadlock.
 *     What the group's identifiers are (holder, block) is then read once
 *     into the memo, which stays true while the locks are held.
 *   - after ident_lock, ident_get of an identifier the memo does not know
 *     locks the profile it finds and reads again until the holder is
 *     stable, so a profile's data is only read or written under its lock.
 *     A profile reached out of order may deadlock: the server aborts one
 *     group (40P01), which sets is_retryable, and the intake retries it.
 *   - erase writes blocks for identifiers it did not lock: block_put
 *     takes that identifier's lock first.
 *   - the outbox is buffered and written at commit under one lock, so seq
 *     order is commit order and an exporter never skips a row.
 * Sequences give profile_seq, row_seq (events, identity log) and outbox
 * seq; they never repeat, across processes too.
 *
 * A lost connection is reset at the next begin (or read) with backoff;
 * the transaction that saw it fails and the intake answers HUB_RETRY.
 * Never print the URL as configured: it may hold a password.
 *
 * This file opens the store (the URL checked, and described without its
 * password; the session set up; the schema migrated), holds the leases
 * and closes it.  Statements, the pipeline and reconnects are in
 * store_pg_exec.c, transactions and the outbox in store_pg_tx.c, the
 * operations on the tables in store_pg_ops.c; store_pg_int.h is what they
 * share.
 */
#include "store_pg_int.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include "../plugins/common/pg_tls.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Migrations, applied in order inside one transaction under LOCK_MIGRATE;
 * meta.schema_version counts the steps applied.  Append only: never edit a
 * step that has shipped.  Step 1 is store_sqlite.c's schema 3.
 */
static const char *const migrations[] = {
	"CREATE TABLE IF NOT EXISTS profiles(id text COLLATE \"C\" PRIMARY KEY,"
	" seq int8 NOT NULL UNIQUE, custom_id text COLLATE \"C\","
	" merged_into text COLLATE \"C\", merge_count int8 NOT NULL DEFAULT 0,"
	" created_at int8 NOT NULL);"
	"CREATE INDEX IF NOT EXISTS profiles_merged ON profiles(merged_into)"
	" WHERE merged_into IS NOT NULL;"
	"CREATE TABLE IF NOT EXISTS identifiers(type text COLLATE \"C\" NOT NULL,"
	" value text COLLATE \"C\" NOT NULL, profile_id text COLLATE \"C\" NOT NULL,"
	" platform text COLLATE \"C\", last_seen int8 NOT NULL DEFAULT 0,"
	" push_enabled int8 NOT NULL DEFAULT -1, PRIMARY KEY(type, value));"
	"CREATE INDEX IF NOT EXISTS identifiers_profile ON identifiers(profile_id, type, value);"
	"CREATE TABLE IF NOT EXISTS attributes(profile_id text COLLATE \"C\" NOT NULL,"
	" key text COLLATE \"C\" NOT NULL, value text COLLATE \"C\", type int8 NOT NULL,"
	" ts int8 NOT NULL, deleted int8 NOT NULL, changed_at int8 NOT NULL,"
	" PRIMARY KEY(profile_id, key));"
	/* md5: a long value must not overflow a B-tree entry */
	"CREATE INDEX IF NOT EXISTS attributes_lookup ON attributes(key, md5(value))"
	" WHERE key IN ('$email_address', '$phone_number');"
	"CREATE TABLE IF NOT EXISTS consent(profile_id text COLLATE \"C\" NOT NULL,"
	" channel text COLLATE \"C\" NOT NULL, state text COLLATE \"C\", ts int8 NOT NULL,"
	" source text COLLATE \"C\" NOT NULL, PRIMARY KEY(profile_id, channel));"
	"CREATE TABLE IF NOT EXISTS events(profile_id text COLLATE \"C\" NOT NULL,"
	" ts int8 NOT NULL, message_id text COLLATE \"C\" NOT NULL, seq int8 NOT NULL,"
	" source text COLLATE \"C\" NOT NULL, name text COLLATE \"C\" NOT NULL,"
	" properties text NOT NULL, PRIMARY KEY(profile_id, ts, message_id, seq));"
	"CREATE TABLE IF NOT EXISTS dedupe(source text COLLATE \"C\" NOT NULL,"
	" message_id text COLLATE \"C\" NOT NULL, PRIMARY KEY(source, message_id));"
	"CREATE TABLE IF NOT EXISTS blocks(type text COLLATE \"C\" NOT NULL,"
	" value text COLLATE \"C\" NOT NULL, until int8 NOT NULL, PRIMARY KEY(type, value));"
	"CREATE TABLE IF NOT EXISTS identity_log(profile_id text COLLATE \"C\" NOT NULL,"
	" seq int8 NOT NULL, at int8 NOT NULL, action text COLLATE \"C\" NOT NULL,"
	" id_type text COLLATE \"C\", id_value text COLLATE \"C\","
	" other_profile_id text COLLATE \"C\", reason text COLLATE \"C\","
	" PRIMARY KEY(profile_id, seq));"
	"CREATE INDEX IF NOT EXISTS identity_log_other ON identity_log(other_profile_id)"
	" WHERE other_profile_id IS NOT NULL;"
	"CREATE TABLE IF NOT EXISTS outbox(seq int8 PRIMARY KEY, kind text COLLATE \"C\" NOT NULL,"
	" profile_id text COLLATE \"C\" NOT NULL, at int8 NOT NULL, payload text NOT NULL);"
	"CREATE INDEX IF NOT EXISTS outbox_profile ON outbox(profile_id);"
	"CREATE TABLE IF NOT EXISTS dead_letters(export_name text COLLATE \"C\" NOT NULL,"
	" seq int8 NOT NULL, profile_id text COLLATE \"C\" NOT NULL, at int8 NOT NULL,"
	" reason text NOT NULL, change text NOT NULL, PRIMARY KEY(export_name, seq));"
	"CREATE INDEX IF NOT EXISTS dead_letters_profile ON dead_letters(profile_id);"
	"CREATE SEQUENCE IF NOT EXISTS profile_seq;"
	"CREATE SEQUENCE IF NOT EXISTS row_seq;"
	"CREATE SEQUENCE IF NOT EXISTS outbox_seq;"
	/* the owner of an identifier, its profile locked and the owner read
	 * again until stable (each statement sees the latest commits) */
	"CREATE OR REPLACE FUNCTION hub_ident_owner(t text, v text, salt int4) RETURNS text"
	" LANGUAGE plpgsql VOLATILE AS $f$"
	" DECLARE cur text; again text;"
	" BEGIN"
	"  SELECT profile_id INTO cur FROM identifiers WHERE type = t AND value = v;"
	"  LOOP"
	"   IF cur IS NULL THEN RETURN NULL; END IF;"
	"   PERFORM pg_advisory_xact_lock(salt, hashtext(cur));"
	"   SELECT profile_id INTO again FROM identifiers WHERE type = t AND value = v;"
	"   IF again IS NOT DISTINCT FROM cur THEN RETURN cur; END IF;"
	"   cur := again;"
	"  END LOOP;"
	" END $f$;",
	/* 2: profiles are locked by bucket (LOCK_BUCKET_MASK) */
	"CREATE OR REPLACE FUNCTION hub_ident_owner(t text, v text, salt int4) RETURNS text"
	" LANGUAGE plpgsql VOLATILE AS $f$"
	" DECLARE cur text; again text;"
	" BEGIN"
	"  SELECT profile_id INTO cur FROM identifiers WHERE type = t AND value = v;"
	"  LOOP"
	"   IF cur IS NULL THEN RETURN NULL; END IF;"
	"   PERFORM pg_advisory_xact_lock(salt, hashtext(cur) & " LOCK_BUCKET_MASK ");"
	"   SELECT profile_id INTO again FROM identifiers WHERE type = t AND value = v;"
	"   IF again IS NOT DISTINCT FROM cur THEN RETURN cur; END IF;"
	"   cur := again;"
	"  END LOOP;"
	" END $f$;",
	/* 3: email lookups without case: lower() of a "C" column folds ASCII
	 * letters alone, as SQLite's does (md5: a long value); in parentheses:
	 * clang's -Wstring-concatenation takes two lines of one step for a
	 * missing comma between two */
	("CREATE INDEX IF NOT EXISTS attributes_email_ci ON attributes(md5(lower(value)))"
	 " WHERE key = '$email_address';"),
};

#define SCHEMA_VERSION ((int)ARRAY_SIZE(migrations))

/* ---- the connection ------------------------------------------------- */

/* Whether a postgresql:// URI holds an '@' other than the one that ends its
 * user name and password (libpq's: the first '@', when no '/' comes before
 * it).  Any other is a user name's or password's '@' not percent-encoded,
 * which moves the password into the host, port, database name or a query's
 * user ("u@?user=:pw@h" sets the user ":pw@h", "u/?user=:pw@h" too): the
 * plugins/postgres export refuses the same, in uri_has_stray_at. */
static int url_has_stray_at(const char *url)
{
	static const char *const schemes[] = {"postgresql://", "postgres://"};
	const char *rest, *at;

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(url, schemes[i], n) != 0)
			continue;
		rest = url + n;
		if (!(at = strchr(rest, '@')))
			return 0;
		return (size_t)(at - rest) > strcspn(rest, "/") || strchr(at + 1, '@') != NULL;
	}
	return 0;
}

int store_pg_url_check(const char *url)
{
	char *why = NULL;
	PQconninfoOption *opts;
	int ok;

	if (url_has_stray_at(url))
		return 0;
	opts = PQconninfoParse(url, &why);
	ok = opts != NULL;

	if (why) { /* libpq's message quotes the URL: never shown */
		memset(why, 0, strlen(why));
		PQfreemem(why);
	} else if (!opts) {
		return -1;
	}
	for (PQconninfoOption *o = opts; ok && o->keyword; o++) {
		if (!o->val)
			continue;
		/* an '@' or '/' of the password, not percent-encoded, moves
		 * the password into these (host "pw@h", port "pa", dbname
		 * "ss@h/db", a query's hostaddr "h:pw@h"), and from there
		 * into every message */
		if ((strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0 ||
		     strcmp(o->keyword, "dbname") == 0) &&
		    strchr(o->val, '@'))
			ok = 0;
		if (strcmp(o->keyword, "port") == 0 && o->val[strspn(o->val, "0123456789,")])
			ok = 0;
	}
	PQconninfoFree(opts);
	return ok;
}

/* Is the option `opt` (len bytes) "name=..."?  The server reads a name in
 * any case and '-' as '_'. */
static int option_is(const char *opt, size_t len, const char *name)
{
	size_t i = 0;

	for (; i < len && name[i]; i++) {
		char c = (char)tolower((unsigned char)opt[i]);
		if ((c == '-' ? '_' : c) != name[i])
			return 0;
	}
	return !name[i] && i < len && opt[i] == '=';
}

/* The options are split at white space (a backslash keeps the next byte),
 * as the server splits them: "-c name=v", "-cname=v" or "--name=v". */
int store_pg_url_sets(const char *url, const char *name)
{
	PQconninfoOption *opts;
	const char *p = NULL;
	int is_after_c = 0, is_set = 0;

	if (!url)
		return 0;
	if (!(opts = PQconninfoParse(url, NULL)))
		return -1; /* url was checked: out of memory */
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "options") == 0)
			p = o->val;
	while (p && *p && !is_set) {
		size_t len = 0;

		p += strspn(p, " \t\n\v\f\r");
		for (; p[len] && !isspace((unsigned char)p[len]); len++)
			len += p[len] == '\\' && p[len + 1];
		if (is_after_c)
			is_set = option_is(p, len, name);
		else if (len > 2 && (strncmp(p, "-c", 2) == 0 || strncmp(p, "--", 2) == 0))
			is_set = option_is(p + 2, len - 2, name);
		is_after_c = len == 2 && strncmp(p, "-c", 2) == 0;
		p += len;
	}
	PQconninfoFree(opts);
	return is_set;
}

int store_pg_url_has_written_password(const char *text)
{
	PQconninfoOption *opts = PQconninfoParse(text, NULL);
	int is_written = 0;

	if (!opts)
		return 0;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && *o->val &&
		    !strstr(o->val, "${"))
			is_written = 1;
	PQconninfoFree(opts);
	return is_written;
}

int store_pg_url_unverified(const char *url, char *mode, size_t size)
{
	return pg_tls_unverified(url, mode, size);
}

/* "user@host:port/dbname" from a URL or conninfo, without the password,
 * its control bytes escaped (a %0A in the user name would start a line of
 * its own in an error printed or logged). */
static void describe_url(const char *url, char *out, size_t size)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	const char *user = NULL, *host = NULL, *port = NULL, *db = NULL;
	char plain[512];

	if (!opts) {
		snprintf(out, size, "(unparsable PostgreSQL URL)");
		return;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (strcmp(o->keyword, "user") == 0)
			user = o->val;
		else if (strcmp(o->keyword, "host") == 0 ||
			 (!host && strcmp(o->keyword, "hostaddr") == 0))
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
	}
	snprintf(plain, sizeof(plain), "%s%s%s%s%s/%s", user ? user : "", user ? "@" : "",
		 host ? host : "localhost", port ? ":" : "", port ? port : "", db ? db : "");
	log_escape(plain, out, size);
	PQconninfoFree(opts);
}

/* The connection's session locks are gone (a reset, a close). */
void pg_leases_forget(struct pg_store *ps)
{
	for (size_t i = 0; i < ps->n_leases; i++)
		hub_free(ps->leases[i].name);
	ps->n_leases = 0;
}

static void kept_clear(struct pg_store *ps)
{
	for (int i = 0; i < S_COUNT; i++) {
		PQclear(ps->kept[i]);
		ps->kept[i] = NULL;
	}
}

/* One statement of the session's setup, answered by `until` (0: no bound):
 * 0, or -1 with the error set. */
static int setup_run(struct pg_store *ps, const char *sql, int n, const char *const *vals,
		     int64_t until)
{
	PGresult *res = pg_exec_until(ps, sql, n, vals, W_SETUP, until);
	int rc = 0;

	if (!res)
		return -1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = pg_fail(ps, res, W_SETUP);
	PQclear(res);
	return rc;
}

/*
 * A lock another session holds (a DBA's LOCK TABLE, a transaction left
 * open) made the hub's statements wait for it without end: pushes hung
 * until their clients gave up.  Sessions wait store.lock_timeout at most
 * (store_pg_lock_timeout_set), else PG_LOCK_TIMEOUT where nothing else set
 * lock_timeout, then fail (55P03, pg_fail names the wait).  Bound as a
 * value, never spliced in.  Not while the store is opened: a second
 * process waits for the first one's migration as long as it takes.
 */
static int lock_timeout_apply(struct pg_store *ps, int64_t until)
{
	const char *vals[1] = {ps->lock_timeout};

	if (!ps->is_lock_timeout_ours)
		return 0;
	return setup_run(ps, "SELECT set_config('lock_timeout', $1, false)", 1, vals, until);
}

/* lock_timeout's value and pg_settings' source: the server's (its default,
 * or postgresql.conf's) 0, which no one set for the hub.  A role's, a
 * database's or the URL's is theirs, 0 too ("user", "database",
 * "client"). */
static int lock_timeout_is_unset(const char *value, const char *source)
{
	return strcmp(value, "0") == 0 &&
	       (strcmp(source, "default") == 0 || strcmp(source, "configuration file") == 0 ||
		!*source);
}

/* As a SET in the session: over the role's, the database's, PGOPTIONS'. */
int store_pg_lock_timeout_set(struct store *s, int64_t ms)
{
	struct pg_store *ps = pgs(s);
	int is_whole_s = ms && ms % 1000 == 0;

	ps->lock_timeout_cfg_ms = ms;
	snprintf(ps->lock_timeout, sizeof(ps->lock_timeout), is_whole_s ? "%llds" : "%lldms",
		 (long long)(is_whole_s ? ms / 1000 : ms));
	ps->is_lock_timeout_ours = 1;
	return lock_timeout_apply(ps, 0);
}

/*
 * Per-connection settings: search_path (bound as a value, never spliced
 * in), the lock namespace, durable commits even where the server's
 * default is synchronous_commit=off, and a lock_timeout (lock_timeout_apply).
 * Each statement answered by `until` (0: no bound): the check of a lost
 * COMMIT sets up its new connection within its 10 s.
 */
int pg_session_setup(struct pg_store *ps, int64_t until)
{
	const char *vals[1] = {ps->schema};
	PGresult *res = pg_exec_until(ps,
				      "SELECT set_config('search_path', quote_ident($1), false),"
				      " hashtext($1), current_setting('synchronous_commit'),"
				      " current_setting('server_encoding'),"
				      " current_setting('lock_timeout'),"
				      " (SELECT source FROM pg_settings WHERE name = 'lock_timeout')",
				      1, vals, W_SETUP, until);
	int rc = 0;

	if (!res)
		return -1; /* no answer by `until` */
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = pg_fail(ps, res, W_SETUP);
		goto out;
	}
	/* the hub stores any UTF-8 text, as SQLite does: a database of
	 * another encoding would refuse some of it (a whole group failing), or
	 * not check it at all (SQL_ASCII) */
	if (strcmp(PQgetvalue(res, 0, 3), "UTF8") != 0) {
		err_set(ps->base.err, sizeof(ps->base.err),
			"postgres: database %s has encoding %s; the hub needs UTF8 (CREATE"
			" DATABASE ... ENCODING 'UTF8' TEMPLATE template0)",
			ps->where, PQgetvalue(res, 0, 3));
		rc = -1;
		goto out;
	}
	ps->salt = (int32_t)strtol(PQgetvalue(res, 0, 1), NULL, 10);
	snprintf(ps->profile_lock_text, sizeof(ps->profile_lock_text), "%d",
		 (int)(ps->salt ^ LOCK_PROFILE));
	snprintf(ps->ident_lock_text, sizeof(ps->ident_lock_text), "%d",
		 (int)(ps->salt ^ LOCK_IDENT));
	if (strcmp(PQgetvalue(res, 0, 2), "off") == 0 &&
	    setup_run(ps, "SET synchronous_commit = on", 0, NULL, until))
		rc = -1;
	/* store.lock_timeout's wins; else one a DBA set (the role, the
	 * database, the URL's options) is kept, also 0 (wait without end): by
	 * where it comes from, not its value */
	if (ps->lock_timeout_cfg_ms < 0) {
		ps->is_lock_timeout_ours = lock_timeout_is_unset(PQgetvalue(res, 0, 4),
								 PQgetvalue(res, 0, 5));
		snprintf(ps->lock_timeout, sizeof(ps->lock_timeout), "%s",
			 ps->is_lock_timeout_ours ? PG_LOCK_TIMEOUT : PQgetvalue(res, 0, 4));
	}
	if (rc == 0 && ps->is_open_done)
		rc = lock_timeout_apply(ps, until);
out:
	PQclear(res);
	return rc;
}

/*
 * Test hook, for fault injection of kind STORE_FAULT_GONE (store.h): the
 * server terminates this connection's backend, asked from a second
 * connection with the same parameters (PQconninfo), kept from call to call
 * in fault_killer (a connection costs 15 ms on a small machine, and a test
 * takes a thousand), which then waits until the backend is gone from
 * pg_stat_activity (by then its transaction is rolled back and its locks
 * are free; polled every millisecond: pg_terminate_backend's own wait polls
 * every 100 ms).  The statement about to run then meets a dead connection,
 * as after a server crash or a failover.  Never called unless a test armed
 * fault_at.  1 once the backend is gone, 0 when the connection was broken
 * already, -1.
 */
static PGconn *fault_killer_get(struct pg_store *ps)
{
	const char *keys[48], *vals[48];
	PQconninfoOption *opts;
	int n = 0;

	if (ps->fault_killer && PQstatus(ps->fault_killer) == CONNECTION_OK)
		return ps->fault_killer;
	PQfinish(ps->fault_killer);
	ps->fault_killer = NULL;
	if (!(opts = PQconninfo(ps->conn)))
		return NULL;
	for (PQconninfoOption *o = opts; o->keyword && n < 47; o++)
		if (o->val && *o->val) {
			keys[n] = o->keyword;
			vals[n++] = o->val;
		}
	keys[n] = vals[n] = NULL;
	ps->fault_killer = PQconnectdbParams(keys, vals, 0);
	PQconninfoFree(opts);
	return PQstatus(ps->fault_killer) == CONNECTION_OK ? ps->fault_killer : NULL;
}

static int pg_fault_disconnect(struct store *s)
{
	struct pg_store *ps = pgs(s);
	const char *params[1];
	PGconn *killer;
	PGresult *res;
	char pid[16];
	int rc = -1;

	if (PQstatus(ps->conn) != CONNECTION_OK)
		return 0; /* gone already */
	if (!(killer = fault_killer_get(ps)))
		return -1;
	snprintf(pid, sizeof(pid), "%d", PQbackendPID(ps->conn));
	params[0] = pid;
	res = PQexecParams(killer, "SELECT pg_terminate_backend($1::int4)", 1, NULL, params, NULL,
			   NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		rc = 1; /* signalled: wait until it is gone */
	PQclear(res);
	for (int ms = 0; rc == 1 && ms < 10000; ms++) {
		const struct timespec pause = {0, 1000000};
		res = PQexecParams(killer, "SELECT 1 FROM pg_stat_activity WHERE pid = $1::int4", 1,
				   NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			rc = -1;
		else if (PQntuples(res) == 0)
			rc = 2; /* gone */
		PQclear(res);
		if (rc == 1)
			nanosleep(&pause, NULL);
	}
	return rc == 2 ? 1 : -1; /* else: still there after 10 s */
}

/* ---- leases ---------------------------------------------------------- */

static int lease_find(const struct pg_store *ps, const char *name)
{
	for (size_t i = 0; i < ps->n_leases; i++)
		if (strcmp(ps->leases[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * An older process that stopped writing (pg_schema_check) kept its
 * export's and syncs' leases until it was stopped, and the newer ones
 * could deliver nothing meanwhile.  They are its only session locks (the
 * migration's is held only while the store opens).
 */
void pg_leases_give_up(struct pg_store *ps)
{
	char keep_err[sizeof(ps->base.err)];
	size_t n = ps->n_leases;

	if (n == 0)
		return;
	memcpy(keep_err, ps->base.err, sizeof(keep_err)); /* the cause matters more */
	log_warn("store", "schema \"%s\" was migrated by a newer hub (version %ld): this process"
		 " gives up its %zu lease%s (%s%s) for the newer processes, and takes none",
		 ps->schema, ps->schema_newer, n, plural_s(n), ps->leases[0].name,
		 n > 1 ? ", ..." : "");
	pg_leases_forget(ps);
	if (pg_exec_simple(ps, "SELECT pg_advisory_unlock_all()", W_LEASE_GIVE_UP))
		ps->is_ready = 0; /* reset before its next use: the locks go with it */
	memcpy(ps->base.err, keep_err, sizeof(keep_err));
}

/* A lease is not taken, nor one held kept, once a newer hub migrated the
 * schema: 0, or -1 with the error set (pg_schema_check's). */
static int lease_schema_check(struct pg_store *ps, const char *version)
{
	char text[24];

	if (!version) {
		snprintf(text, sizeof(text), "%ld", ps->schema_newer);
		version = text;
	}
	if (!pg_schema_check(ps, version))
		return 0;
	pg_leases_give_up(ps);
	return -1;
}

/*
 * A lease is a session lock on an id of its own name: a row
 * lease_id:<name> of meta, made at the name's first take from the counter
 * lease_id_last, so two names never share a lock.  Until session 46 it
 * was the lock (salt ^ LOCK_LEASE, hashtext(name)), which two names whose
 * hashes meet shared: two processes wanting the two leases took turns.
 * That lock is still taken beside the id's, shared: hubs before session
 * 46 take it exclusive, so a new and an old process sharing one schema
 * (the schema's version is the same: nothing stops the old) never hold
 * one lease together, while new processes only meet at the id.
 */

/* Releases the locks of the lease (name, id), both held: 0, or -1 with
 * the error set. */
static int lease_unlock(struct pg_store *ps, const char *name, int id)
{
	PGresult *res = pg_run(ps, S_LEASE_RELEASE, "ddds", (int)(ps->salt ^ LOCK_LEASE_ID), id,
			       (int)(ps->salt ^ LOCK_LEASE), name);

	PQclear(res);
	return res ? 0 : -1;
}

/* Takes the locks of lease `name` on this session, making its name's id
 * first if it has none: 1 taken (its id in *id), 0 held by another
 * session, -1 with the error set. */
static int lease_lock(struct pg_store *ps, const char *name, int *id)
{
	int cls = (int)(ps->salt ^ LOCK_LEASE_ID), old_cls = (int)(ps->salt ^ LOCK_LEASE), rc;
	PGresult *res;

	for (int is_made = 0;; is_made = 1) {
		if (!(res = pg_run(ps, S_LEASE_TRY, "dsd", cls, name, old_cls)))
			return -1;
		if (PQntuples(res) == 1)
			break;
		PQclear(res);
		if (is_made) { /* a row of meta deleted as it was made */
			err_set(ps->base.err, sizeof(ps->base.err), "postgres: lease %s has no"
				" lease_id row in meta though one was just made", name);
			return -1;
		}
		if (pg_command(ps, S_LEASE_ID_MAKE, "s", name))
			return -1;
	}
	rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	*id = (int)pg_col_int(res, 0, 1);
	PQclear(res);
	return rc;
}

/* The lease's locks (lease_lock), then lease_epoch:<name> bumped
 * (autocommit).  A lease already held here is not taken again (session
 * locks stack). */
int pg_lease_try(struct store *s, const char *name, int64_t *epoch)
{
	struct pg_store *ps = pgs(s);
	int i, rc, id = 0;
	uint64_t gen;
	PGresult *res;

	if (ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: lease_try inside a transaction");
		return -1;
	}
	if (ps->schema_newer && lease_schema_check(ps, NULL))
		return -1;
	if ((i = lease_find(ps, name)) >= 0) {
		*epoch = ps->leases[i].epoch;
		return 1;
	}
	if (ps->n_leases == ps->size_leases) {
		size_t size = ps->size_leases ? 2 * ps->size_leases : 8;
		struct pg_lease *leases = hub_realloc(ps->leases, size * sizeof(*leases));
		if (!leases) {
			err_set(s->err, sizeof(s->err), "out of memory");
			return -1;
		}
		ps->leases = leases;
		ps->size_leases = size;
	}
	if ((rc = lease_lock(ps, name, &id)) <= 0)
		return rc;
	gen = ps->conn_gen;
	res = pg_run(ps, S_LEASE_EPOCH, "s", name);
	rc = res && PQntuples(res) == 1 && ps->conn_gen == gen;
	if (rc) {
		*epoch = pg_col_int(res, 0, 0);
		rc = !pg_schema_check(ps, PQgetisnull(res, 0, 1) ? "0" : PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	if (!rc) {
		if (ps->conn_gen != gen) /* the lock went with the old connection */
			err_set(s->err, sizeof(s->err), "postgres: connection lost taking lease %s",
				name);
		else
			lease_unlock(ps, name, id);
		return -1;
	}
	if (!(ps->leases[ps->n_leases].name = hub_strdup(name))) {
		lease_unlock(ps, name, id);
		err_set(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	ps->leases[ps->n_leases].id = id;
	ps->leases[ps->n_leases++].epoch = *epoch;
	return 1;
}

int pg_lease_release(struct store *s, const char *name)
{
	struct pg_store *ps = pgs(s);
	int i = lease_find(ps, name), id;

	if (i < 0)
		return 0; /* not held (or lost with a connection) */
	if (ps->in_tx) { /* still held, and still known */
		err_set(s->err, sizeof(s->err), "postgres: lease_release inside a transaction");
		return -1;
	}
	/* forgotten before the statement, which may reconnect (and forget
	 * every lease): a lock it failed to free goes with the connection */
	id = ps->leases[i].id;
	hub_free(ps->leases[i].name);
	ps->leases[i] = ps->leases[--ps->n_leases];
	return lease_unlock(ps, name, id);
}

/* ---- open / close --------------------------------------------------- */

void pg_close(struct store *s)
{
	struct pg_store *ps = pgs(s);
	if (!ps)
		return;
	kept_clear(ps);
	pg_leases_forget(ps);
	hub_free(ps->leases);
	pg_outbox_drop(ps, 0);
	hub_free(ps->outbox);
	memo_free(&ps->memo);
	PQfinish(ps->fault_killer);
	PQfinish(ps->conn);
	hub_free(ps);
}

/* Server notices ("relation already exists, skipping") are not errors. */
static void pg_notice(void *arg, const char *msg)
{
	char line[256];
	(void)arg;
	pg_first_line(line, sizeof(line), msg);
	log_debug("store", "postgres: %s", line);
}

static int is_plain_identifier(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n &&
	       !(s[0] >= '0' && s[0] <= '9');
}

/* A DDL statement of the migration to version `to` (from `from`).  A
 * refusal for want of privileges says what the role lacks and what to do:
 * the running hub needs none of them once the schema is at its version. */
static int migrate_exec(struct pg_store *ps, const char *sql, long from, long to)
{
	PGresult *res = PQexec(ps->conn, sql);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char line[256];
	int rc = 0;

	if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
		goto out;
	rc = pg_fail(ps, res, W_MIGRATE);
	if (!state || strcmp(state, "42501") != 0)
		goto out;
	pg_first_line(line, sizeof(line), PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
	err_set(ps->base.err, sizeof(ps->base.err),
		"postgres: schema \"%s\" at %s is at version %ld and this hub must %s it to"
		" version %ld, which this role may not: %s (SQLSTATE 42501); start the hub once as"
		" a role that may (CREATE on the database for a new schema, owner of the schema"
		" and its tables to migrate one): later starts need only USAGE on the schema,"
		" SELECT, INSERT, UPDATE, DELETE on its tables and USAGE, SELECT, UPDATE on its"
		" sequences", ps->schema, ps->where, from, from ? "migrate" : "create", to, line);
out:
	PQclear(res);
	return rc;
}

/* Reads meta.schema_version into *version (0: no meta table, or no row)
 * and whether the schema exists, without DDL: a role that may not create
 * runs a hub on a schema migrated by another.  0, or -1. */
static int migrate_read_version(struct pg_store *ps, int *is_schema, long *version)
{
	const char *vals[1] = {ps->schema};
	PGresult *res = PQexecParams(ps->conn,
				     "SELECT EXISTS(SELECT 1 FROM pg_namespace WHERE nspname = $1),"
				     " to_regclass(quote_ident($1) || '.meta') IS NOT NULL",
				     1, NULL, vals, NULL, NULL, 0);
	int rc = 0, is_meta;

	*version = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = pg_fail(ps, res, W_MIGRATE);
		goto out;
	}
	*is_schema = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	is_meta = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	PQclear(res);
	res = NULL;
	if (!is_meta)
		goto out;
	vals[0] = "schema_version";
	res = PQexecParams(ps->conn, "SELECT value FROM meta WHERE key = $1", 1, NULL, vals, NULL,
			   NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pg_fail(ps, res, W_MIGRATE);
		goto out;
	}
	if (PQntuples(res) > 0)
		*version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
out:
	PQclear(res);
	return rc;
}

/* The schema and its meta table, made where missing (DDL only then). */
static int migrate_create_meta(struct pg_store *ps, int is_schema)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS \"%s\"", ps->schema);
	if (!is_schema && migrate_exec(ps, sql, 0, SCHEMA_VERSION))
		return -1;
	return migrate_exec(ps, "CREATE TABLE IF NOT EXISTS meta(key text COLLATE \"C\""
				" PRIMARY KEY, value text NOT NULL)", 0, SCHEMA_VERSION);
}

/* Applies the steps after `version` and records SCHEMA_VERSION. */
static int migrate_steps(struct pg_store *ps, long version)
{
	const char *vals[2] = {"schema_version", NULL};
	char version_text[16];
	PGresult *res;
	int rc;

	/* a step builds an index over a whole table: a statement_timeout set
	 * on the role or database for the hub's short statements would cancel
	 * it at every start, and the store could never be upgraded */
	if (pg_exec_simple(ps, "SET LOCAL statement_timeout = 0", W_MIGRATE))
		return -1;
	if (version)
		log_info("store", "migrating PostgreSQL schema \"%s\" from version %ld to %d: writes"
			 " to its tables wait until it commits", ps->schema, version,
			 SCHEMA_VERSION);
	for (long v = version; v < SCHEMA_VERSION; v++)
		if (migrate_exec(ps, migrations[v], version, SCHEMA_VERSION))
			return -1;
	snprintf(version_text, sizeof(version_text), "%d", SCHEMA_VERSION);
	vals[1] = version_text;
	res = PQexecParams(ps->conn,
			   "INSERT INTO meta(key, value) VALUES($1, $2)"
			   " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
			   2, NULL, vals, NULL, NULL, 0);
	rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pg_fail(ps, res, W_MIGRATE);
	PQclear(res);
	if (rc)
		return -1;
	log_msg(version ? HUB_LOG_INFO : HUB_LOG_DEBUG, "store",
		"PostgreSQL schema \"%s\" at version %d (was %ld)", ps->schema, SCHEMA_VERSION,
		version);
	return 0;
}

/*
 * Creates the schema and applies the missing migrations in one
 * transaction.  The caller holds LOCK_MIGRATE (a session lock), so two
 * processes starting on an empty database do not race.  Without
 * is_migrate an older schema is left as it is: STORE_OLDER.  A schema at
 * this hub's version is read, not written: no privilege beyond its tables'.
 */
static int migrate(struct pg_store *ps, int is_migrate, char *err, size_t err_size)
{
	long version = 0;
	int is_schema = 0, rc = -1;

	if (pg_exec_simple(ps, "BEGIN", W_MIGRATE) ||
	    migrate_read_version(ps, &is_schema, &version))
		goto fail;
	if (version == 0 && (migrate_create_meta(ps, is_schema) ||
			     migrate_read_version(ps, &is_schema, &version)))
		goto fail;
	if (version > SCHEMA_VERSION) {
		err_set(ps->base.err, sizeof(ps->base.err),
			"postgres: schema \"%s\" at %s: store schema version %ld, this hub knows"
			" %d: a newer hub migrated it (run that hub, or restore a backup made"
			" before the upgrade)", ps->schema, ps->where, version, SCHEMA_VERSION);
		goto fail;
	}
	if (!is_migrate && version > 0 && version < SCHEMA_VERSION) {
		err_set(ps->base.err, sizeof(ps->base.err),
			"postgres: the store in schema \"%s\" at %s has schema version %ld, "
			STORE_OLDER_TEXT, ps->schema, ps->where, version, SCHEMA_VERSION);
		rc = STORE_OLDER;
		goto fail;
	}
	if ((version < SCHEMA_VERSION && migrate_steps(ps, version)) ||
	    pg_exec_simple(ps, "COMMIT", W_MIGRATE))
		goto fail;
	if (version == 0) /* none before: made by this open */
		snprintf(ps->base.created_where, sizeof(ps->base.created_where),
			 "schema \"%s\" of %s", ps->schema, ps->where);
	return 0;
fail:
	err_set(err, err_size, "%s", ps->base.err);
	pg_exec_simple(ps, "ROLLBACK", W_MIGRATE);
	return rc;
}

int pg_schema_check(struct pg_store *ps, const char *version)
{
	long v = strtol(version, NULL, 10);

	if (v <= SCHEMA_VERSION)
		return 0;
	err_set(ps->base.err, sizeof(ps->base.err),
		"postgres: schema \"%s\" at %s: store schema version %ld, this hub knows %d:"
		" a newer hub migrated it while this one ran; this process writes nothing more"
		" (stop it and start the new version)", ps->schema, ps->where, v, SCHEMA_VERSION);
	ps->schema_newer = v;
	if (!ps->is_schema_newer_logged) {
		ps->is_schema_newer_logged = 1;
		log_error("store", "%s", ps->base.err);
	}
	return -1;
}

/* A session-level advisory lock on (salt ^ cls, 0): lock (1) or unlock (0). */
static int migrate_lock(struct pg_store *ps, int is_lock)
{
	char cls[16];
	const char *vals[1] = {cls};
	PGresult *res;
	int rc = 0;

	snprintf(cls, sizeof(cls), "%d", (int)(ps->salt ^ LOCK_MIGRATE));
	res = PQexecParams(ps->conn,
			   is_lock ? "SELECT pg_advisory_lock($1::int4, 0)"
				   : "SELECT pg_advisory_unlock($1::int4, 0)",
			   1, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_fail(ps, res, W_MIGRATE);
	PQclear(res);
	return rc;
}

/* libpq's connect_timeout of conn in ms, as libpq reads it: at least 2 s,
 * 0 (none) when it is 0, negative or unreadable. */
static int64_t conn_timeout_ms(PGconn *conn)
{
	PQconninfoOption *opts = PQconninfo(conn);
	long secs = 0;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "connect_timeout") == 0 && o->val)
			secs = strtol(o->val, NULL, 10);
	PQconninfoFree(opts);
	if (secs <= 0)
		return 0;
	return (secs < 2 ? 2 : secs) * 1000LL;
}

/* The new connection's session setup, answered within connect_timeout as
 * a reset's is (pg_reconnect_until): a server that took the login and then
 * never answered held `run` at its start without end.  0, or -1 with the
 * error set. */
static int open_session_setup(struct pg_store *ps)
{
	int64_t until = ps->connect_timeout_ms ? time_mono_ms() + ps->connect_timeout_ms : 0;

	if (pg_session_setup(ps, until) == 0)
		return 0;
	if (until && PQtransactionStatus(ps->conn) == PQTRANS_ACTIVE)
		pg_setup_unanswered_say(ps, ps->connect_timeout_ms); /* still in flight */
	return -1;
}

static int pg_open_as(const char *url, const char *schema, int is_migrate, struct store **out,
		      char *err, size_t err_size)
{
	/* defaults before dbname (the URL may override them), encoding after.
	 * A server gone without a reset (a failover, a dropped route) is
	 * noticed within about a minute (keepalives while idle, a TCP user
	 * timeout while a statement waits), not after the kernel's 15 minutes
	 * of retransmissions with the writer and every waiter stuck. */
	const char *const keys[] = {"connect_timeout", "fallback_application_name", "keepalives",
				    "keepalives_idle", "keepalives_interval", "keepalives_count",
				    "tcp_user_timeout", "dbname", "client_encoding", NULL};
	const char *vals[] = {"10", NULL, "1", "30", "10", "3", "60000", url, "UTF8", NULL};
	char app_name[40];
	struct pg_store *ps;
	int is_locked = 0, rc = -1;

	if (!url || !*url) {
		err_set(err, err_size, "postgres: store.url is not set");
		return -1;
	}
	switch (store_pg_url_check(url)) {
	case 1:
		break;
	case 0:
		err_set(err, err_size, "postgres: store.url: %s", STORE_PG_URL_INVALID);
		return -1;
	default:
		err_set(err, err_size, "out of memory");
		return -1;
	}
	schema = schema && *schema ? schema : "public";
	if (!is_plain_identifier(schema)) {
		err_set(err, err_size, "postgres: store.schema must match [a-z_][a-z0-9_]*");
		return -1;
	}
	ps = hub_calloc(1, sizeof(*ps));
	if (!ps) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	ps->base.ops = &pg_ops;
	ps->base.fault_disconnect = pg_fault_disconnect;
	ps->lock_timeout_cfg_ms = -1; /* none: store_pg_lock_timeout_set */
	snprintf(ps->schema, sizeof(ps->schema), "%s", schema);
	describe_url(url, ps->where, sizeof(ps->where));
	/* which process a session is (pg_stat_activity, pg_locks: who holds a
	 * lease) when several hubs share the database */
	snprintf(app_name, sizeof(app_name), "profilehub pid %ld", (long)getpid());
	vals[1] = app_name;
	ps->conn = PQconnectdbParams(keys, vals, 1);
	if (!ps->conn) {
		err_set(err, err_size, "out of memory");
		goto fail;
	}
	if (PQstatus(ps->conn) != CONNECTION_OK) {
		char line[256];
		pg_first_line(line, sizeof(line), PQerrorMessage(ps->conn));
		err_set(err, err_size, "postgres: cannot connect to %s: %s", ps->where, line);
		goto fail;
	}
	PQsetNoticeProcessor(ps->conn, pg_notice, NULL);
	ps->connect_timeout_ms = conn_timeout_ms(ps->conn);
	/* the migration lock is waited for without end: another hub migrating */
	if (open_session_setup(ps) || migrate_lock(ps, 1)) {
		err_set(err, err_size, "%s", ps->base.err);
		goto fail;
	}
	is_locked = 1;
	if ((rc = migrate(ps, is_migrate, err, err_size)))
		goto fail;
	rc = -1;
	ps->is_ready = 1; /* statements are prepared as they first run */
	/* under the lock too: two processes on a new store agree on one key */
	if (store_load_id_key(&ps->base, err, err_size))
		goto fail;
	is_locked = 0;
	ps->is_open_done = 1;
	if (migrate_lock(ps, 0) || lock_timeout_apply(ps, 0)) {
		err_set(err, err_size, "%s", ps->base.err);
		goto fail;
	}
	*out = &ps->base;
	return 0;
fail:
	if (is_locked)
		migrate_lock(ps, 0);
	pg_close(&ps->base);
	return rc;
}

int store_pg_open(const char *url, const char *schema, struct store **out, char *err,
		  size_t err_size)
{
	return pg_open_as(url, schema, 1, out, err, err_size);
}

int store_pg_open_unmigrated(const char *url, const char *schema, struct store **out,
			     char *err, size_t err_size)
{
	return pg_open_as(url, schema, 0, out, err, err_size);
}
