/*
 * postgres.c - "reverse ETL into your own database": an export that keeps
 * one row per live profile in a table of a PostgreSQL database,
 *
 *     <table>(profile_id text PRIMARY KEY, doc jsonb NOT NULL,
 *             updated_seq bigint NOT NULL)
 *
 * created when missing (also when dropped while the export runs: a batch
 * finding no table sets up a new connection, once).  `doc` is the profile
 * document without events, as the change feed carries it.  The session's
 * client_encoding is UTF8 (a character the database's encoding cannot hold
 * is a data error for its change, never converted wrongly); a SQL_ASCII
 * database is refused.
 *
 * One transaction per batch, acknowledged once it commits: a statement
 * (APPLY_SQL) per chunk of the batch (pgx_batch.c: at most 64 MB of JSON,
 * as jsonb holds at most 256 MB), each chunk bound as a single JSON
 * parameter, so no SQL is built from data and the plugin parses nothing.
 * Each chunk is reduced to the last action per profile (in seq order):
 * upsert the document a change carries, delete on erased, delete the
 * absorbed profiles of a merged change (so `kinds`, when set, must include
 * merged); a change whose profile no longer exists does nothing (the
 * merged or erased change that removed it deletes the row).  An upsert
 * never replaces a row written by a later seq, so a batch replayed after a
 * crash cannot move a row back in time.
 *
 * Errors: connection and server trouble (SQLSTATE classes 08, 40, 53, 55,
 * 57, 58) retry; refused credentials (28) disable; a wrong table or missing
 * privilege (42) disable as configuration errors, except a table dropped
 * meanwhile (42P01 from a batch: set up again, once, else retried); bad
 * data (22, 23) is HUB_ERR_DATA for the batch, which the exporter then
 * narrows down to the change at fault; so is a program limit (54: a change
 * too large for jsonb, or nested too deep), which no retry gets past.
 * Setting up a new connection (the table, the prepared statement) never
 * fails with HUB_ERR_DATA: no change is at fault there (a concurrent
 * CREATE TABLE IF NOT EXISTS can fail with 23505, or 42P07), so it retries
 * on a new connection.
 *
 * The connection URL (it may hold a password) is secret: it is checked once
 * at create, and no message ever quotes it or libpq's text about parsing
 * it (that text echoes the URL).  A URL whose password holds an unescaped
 * '@' is refused (libpq would read the rest as the host, and quote it), and
 * every libpq message copied into an error has what it holds of the
 * password starred out.
 */
#include "pgx.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct hub_config_key postgres_keys[] = {
	{.name = "url", .type = HUB_CFG_STRING, .is_required = 1,
	 .is_secret = HUB_SECRET_CONNECTION,
	 .description = "libpq connection URI of the target database"},
	{.name = "table", .type = HUB_CFG_STRING, .default_value = "profilehub_profiles",
	 .description = "target table, optionally schema-qualified (created when missing)"},
	{.name = "timeout", .type = HUB_CFG_DURATION, .default_value = "30s",
	 .description = "how long a batch's statement may run or wait for a lock on the "
			"table before it is retried (statement_timeout, lock_timeout); "
			"5 s more without any answer from the target also retries"},
	{.name = NULL},
};

/*
 * A chunk of the batch in one statement (the chunks of a batch in one
 * transaction, in order), its changes bound as one JSON array ($1).  The
 * last action per profile wins, in the order of the chunk: a change with a
 * profile upserts it, an erased change deletes its row, a merged change
 * deletes the absorbed profiles' rows.  Both %s are the quoted table name.
 */
#define APPLY_SQL                                                                  \
	"WITH c AS (SELECT x, ord FROM jsonb_array_elements($1::jsonb)"            \
	"            WITH ORDINALITY AS e(x, ord)),"                               \
	" a AS (SELECT x->>'profile_id' AS pid, ord, 1 AS sub,"                    \
	"              CASE WHEN x->>'kind' = 'erased' THEN NULL ELSE x->'profile' END AS doc," \
	"              (x->>'seq')::bigint AS seq"                                 \
	"         FROM c WHERE x->>'kind' = 'erased' OR x ? 'profile'"             \
	"       UNION ALL"                                                         \
	"       SELECT m, ord, 0, NULL, (x->>'seq')::bigint"                       \
	"         FROM c, jsonb_array_elements_text(CASE WHEN jsonb_typeof(x->'merged_from')" \
	"              = 'array' THEN x->'merged_from' ELSE '[]' END) AS m),"      \
	" last AS (SELECT DISTINCT ON (pid) pid, doc, seq FROM a"                  \
	"          ORDER BY pid, ord DESC, sub DESC),"                             \
	" gone AS (DELETE FROM %s WHERE profile_id IN"                             \
	"          (SELECT pid FROM last WHERE doc IS NULL))"                      \
	" INSERT INTO %s AS t (profile_id, doc, updated_seq)"                      \
	" SELECT pid, doc, seq FROM last WHERE doc IS NOT NULL"                    \
	" ON CONFLICT (profile_id) DO UPDATE SET doc = EXCLUDED.doc,"              \
	" updated_seq = EXCLUDED.updated_seq WHERE t.updated_seq <= EXCLUDED.updated_seq"

#define TIMEOUT_MAX_MS 86400000LL /* 1 day: PostgreSQL takes at most 2^31 - 1 ms */
#define NAME_MAX_BYTES 63          /* PostgreSQL cuts longer names (NAMEDATALEN - 1) */
#define ANSWER_MARGIN_MS 5000      /* past statement_timeout: the server's own answers first */
#define WAIT_SLICE_MS 200          /* how often a wait for an answer looks at should_stop() */
#define CANCEL_WAIT_MS 2000        /* the most a cancel request of a query given up takes */

struct pgx {
	const struct hub_host *host;
	const struct hub_instance *inst;
	char *url;
	char *password;   /* as libpq parses it from url, or NULL: starred out
			   * of messages */
	char table[140];  /* quoted: "schema"."name" */
	long long timeout_ms; /* statement_timeout and lock_timeout (0: none) */
	long long answer_ms; /* the wait for an answer: the session's
			      * statement_timeout and ANSWER_MARGIN_MS (0: none) */
	PGconn *conn;     /* connected and set up; NULL: connect on the next batch */
	struct hub_call *call; /* during export_batch(): should_stop(); else NULL */
};

/* ---- identifiers -------------------------------------------------------- */

/* Lower case only: PostgreSQL folds an unquoted name to lower case, and the
 * name is quoted here, so `analytics.Profiles` would have been a second
 * table beside the user's analytics.profiles (table_has_upper()). */
static int is_ident_char(char c, int first)
{
	return c == '_' || (c >= 'a' && c <= 'z') ||
	       (!first && ((c >= '0' && c <= '9') || c == '$'));
}

static int table_has_upper(const char *name)
{
	for (; *name; name++)
		if (*name >= 'A' && *name <= 'Z')
			return 1;
	return 0;
}

/* "name" or "schema.name" of plain lower-case identifiers of at most 63
 * bytes each (PostgreSQL would cut a longer one, silently: two long names
 * that share their first 63 bytes would be one table), double-quoted into
 * out. */
static int table_quote(const char *name, char *out, size_t size)
{
	size_t o = 0, part_len = 0;
	int first = 1, n_dots = 0;

	if (size < 3)
		return -1;
	out[o++] = '"';
	for (const char *p = name; *p; p++) {
		if (o + 4 >= size)
			return -1;
		/* one '.' at most: db.schema.name passed, then every batch
		 * failed on the cross-database reference (0A000), retried */
		if (*p == '.' && !first && n_dots++ == 0) {
			out[o++] = '"';
			out[o++] = '.';
			out[o++] = '"';
			first = 1;
			part_len = 0;
			continue;
		}
		if (!is_ident_char(*p, first) || ++part_len > NAME_MAX_BYTES)
			return -1;
		out[o++] = *p;
		first = 0;
	}
	if (first)
		return -1;
	out[o++] = '"';
	out[o] = '\0';
	return 0;
}

/* ---- create / destroy ----------------------------------------------------- */

static void pgx_disconnect(struct pgx *p)
{
	if (p->conn)
		PQfinish(p->conn);
	p->conn = NULL;
}

static void postgres_destroy(void *state)
{
	struct pgx *p = state;

	if (!p)
		return;
	pgx_disconnect(p);
	if (p->url)
		explicit_bzero(p->url, strlen(p->url));
	free(p->url);
	if (p->password)
		explicit_bzero(p->password, strlen(p->password));
	free(p->password);
	free(p);
}

/* Whether a postgresql:// URI has an '@' other than the one that ends the
 * user name and password (libpq's: the first '@', when no '/' comes before
 * it): an unescaped '@' in the password (libpq ends the password at the
 * first '@', then reads "rest@host" as the host or, after a '/', as the
 * database name), or in the user name ("a@?user=:pw@h" ends the user at its
 * '@' and sets the user ":pw@h" from the query; "a/?user=:pw@h" as well). */
static int uri_has_stray_at(const char *url)
{
	static const char *const schemes[] = {"postgresql://", "postgres://"};
	const char *at;

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(url, schemes[i], n) != 0)
			continue;
		url += n;
		if (!(at = strchr(url, '@')))
			return 0;
		return (size_t)(at - url) > strcspn(url, "/") || strchr(at + 1, '@') != NULL;
	}
	return 0;
}

/*
 * Whether libpq reads the URL as a connection string (pgx_connect passes it
 * as an expanded dbname): 1 yes, 0 no, -1 out of memory; with 1, the
 * password it holds (malloc'd) in *password, or NULL.  Also refused: a
 * host or dbname holding '@' or a port that is not digits, which is where
 * an unescaped '@' or '/' in a password (or a '/' in the user name) ends
 * up, to be quoted by connect errors (as store_pg_url_check does).
 * libpq's message is dropped unread: it quotes the URL.
 */
static int url_is_valid(const char *url, char **password)
{
	char *why = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &why);
	int ok = opts != NULL;

	if (why) {
		memset(why, 0, strlen(why));
		PQfreemem(why);
	} else if (!opts) {
		return -1;
	}
	for (PQconninfoOption *o = opts; ok && o->keyword; o++) {
		if (!o->val)
			continue;
		if ((strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0 ||
		     strcmp(o->keyword, "dbname") == 0) &&
		    strchr(o->val, '@'))
			ok = 0;
		if (strcmp(o->keyword, "port") == 0 && o->val[strspn(o->val, "0123456789,")])
			ok = 0;
		if (strcmp(o->keyword, "password") == 0 && *o->val &&
		    !(*password = strdup(o->val)))
			ok = -1;
	}
	if (opts) {
		for (PQconninfoOption *o = opts; o->keyword; o++)
			if (o->val)
				memset(o->val, 0, strlen(o->val));
	}
	PQconninfoFree(opts);
	return ok;
}

/* Whether the export's `kinds` (a key of every export, read through the
 * host like the plugin's own) let merged changes through: the rows of the
 * profiles a merge absorbed are deleted by them alone (erased changes
 * reach every export whatever its kinds).  Left out: every kind. */
static int kinds_have_merged(const struct hub_host *host, const struct hub_instance *inst)
{
	size_t n = host->config_list_size(inst, "kinds");

	for (size_t i = 0; i < n; i++) {
		const char *kind = host->config_list_item(inst, "kinds", i);
		if (kind && strcmp(kind, "merged") == 0)
			return 1;
	}
	return n == 0;
}

static hub_rc postgres_create(const struct hub_host *host, const struct hub_instance *inst,
			      void **state, char *err, size_t err_size)
{
	struct pgx *p = calloc(1, sizeof(*p));

	if (!p || !(p->url = strdup(host->config_string(inst, "url")))) {
		free(p);
		return HUB_ERR_NOMEM;
	}
	p->host = host;
	p->inst = inst;
	if (uri_has_stray_at(p->url)) {
		snprintf(err, err_size, "url: not a valid PostgreSQL connection URL: an '@' in "
					"the user name, password, database name or a query "
					"value must be percent-encoded as %%40");
		postgres_destroy(p);
		return HUB_ERR_CONFIG;
	}
	switch (url_is_valid(p->url, &p->password)) {
	case 1:
		break;
	case 0:
		snprintf(err, err_size, "url: not a valid PostgreSQL connection URL (expected "
					"postgresql://user:password@host:port/dbname, special "
					"characters percent-encoded)");
		postgres_destroy(p);
		return HUB_ERR_CONFIG;
	default:
		postgres_destroy(p);
		return HUB_ERR_NOMEM;
	}
	if (table_has_upper(host->config_string(inst, "table"))) {
		snprintf(err, err_size, "table: \"%s\" has upper-case letters: PostgreSQL folds "
					"a name written without quotes to lower case, so write the "
					"name in lower case",
			 host->config_string(inst, "table"));
		postgres_destroy(p);
		return HUB_ERR_CONFIG;
	}
	if (table_quote(host->config_string(inst, "table"), p->table, sizeof(p->table))) {
		snprintf(err, err_size, "table: expected name or schema.name of lower-case "
					"letters, digits and _ (at most 63 characters each)");
		postgres_destroy(p);
		return HUB_ERR_CONFIG;
	}
	if (!kinds_have_merged(host, inst)) {
		snprintf(err, err_size,
			 "kinds: must include merged (or be left out): without it "
			 "the rows of profiles merged into others are never deleted");
		postgres_destroy(p);
		return HUB_ERR_CONFIG;
	}
	p->timeout_ms = (long long)host->config_int(inst, "timeout");
	if (p->timeout_ms < 0 || p->timeout_ms > TIMEOUT_MAX_MS) {
		snprintf(err, err_size, "timeout: at most 1d (0: none)");
		postgres_destroy(p);
		return HUB_ERR_CONFIG;
	}
	*state = p;
	return HUB_OK;
}

/* ---- errors ------------------------------------------------------------- */

/* Stars out of text every run of at least 4 characters (of the whole
 * password when it is shorter) that is also part of the password: libpq
 * quotes what it was given, and a password misread as a host, a port or a
 * database name would be quoted. */
static void scrub_password(const struct pgx *p, char *text)
{
	size_t pw_len = p->password ? strlen(p->password) : 0;
	size_t min = pw_len < 4 ? pw_len : 4;
	size_t len = strlen(text);

	if (!pw_len)
		return;
	for (size_t i = 0; i + min <= len;) {
		size_t run = 0;
		while (i + run < len && run < pw_len &&
		       memmem(p->password, pw_len, text + i, run + 1))
			run++;
		if (run >= min) {
			memset(text + i, '*', run);
			i += run;
		} else {
			i++;
		}
	}
}

/* The message without its trailing newline, nothing of the password in it. */
static void copy_message(const struct pgx *p, const char *msg, char *err, size_t err_size)
{
	snprintf(err, err_size, "%s", msg ? msg : "unknown error");
	err[strcspn(err, "\n")] = '\0';
	scrub_password(p, err);
}

/* A failed result: its code, the message in err; a broken connection, or
 * one that lost its prepared statement (26000), is dropped so the next
 * batch reconnects and sets up again. */
static hub_rc result_fail(struct pgx *p, PGresult *res, const char *what, char *err,
			  size_t err_size)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	hub_rc rc = pgx_sqlstate_rc(state);
	char msg[512];

	copy_message(p, res ? PQresultErrorMessage(res) : PQerrorMessage(p->conn), msg,
		     sizeof(msg));
	snprintf(err, err_size, "%s: %s%s%s%s", what, msg, state ? " (SQLSTATE " : "",
		 state ? state : "", state ? ")" : "");
	if (PQstatus(p->conn) != CONNECTION_OK || (state && strcmp(state, "26000") == 0))
		pgx_disconnect(p);
	PQclear(res);
	return rc;
}

/* ---- waiting for an answer ---------------------------------------------- */

static int64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_stopping(const struct pgx *p)
{
	return p->call && p->host->should_stop(p->call);
}

/* Sends what is queued and reads until the answer is in (PQisBusy() 0), or
 * the connection broke (PQgetResult() then says how): 0.  1 when the hub
 * is stopping or the deadline (a clock_ms(); 0: none) passed first.  The
 * connection is non-blocking (pgx_connect), and poll() wakes at least
 * every WAIT_SLICE_MS to look at should_stop(). */
static int answer_wait(struct pgx *p, int64_t deadline)
{
	for (;;) {
		int flush = PQflush(p->conn);
		struct pollfd pfd = {.fd = PQsocket(p->conn), .events = POLLIN};
		int64_t left = deadline ? deadline - clock_ms() : WAIT_SLICE_MS;

		if (flush < 0 || !PQconsumeInput(p->conn))
			return 0;
		if (flush == 0 && !PQisBusy(p->conn))
			return 0;
		if (left <= 0 || is_stopping(p))
			return 1;
		if (flush)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, (int)(left < WAIT_SLICE_MS ? left : WAIT_SLICE_MS)) < 0 &&
		    errno != EINTR)
			return 1;
	}
}

/* The child of pgx_cancel(): PQcancel() (async-signal-safe, so fit to run
 * after a fork() of a threaded process), its outcome written to fd: "y",
 * or "n" and libpq's message.  It first closes every descriptor of the hub
 * it was born with but fd (and stdin, stdout, stderr): held here, a socket
 * the hub closes meanwhile would stay open (a client's connection not
 * ended, a listening port still taking connections), and another cancel's
 * pipe would not see its end (close_range(): Linux 5.9; before, they are
 * held for the child's 2 s at most, as without it). */
static void cancel_child(PGcancel *cancel, int fd)
{
	char buf[257];

	if (fd > 3)
		close_range(3, (unsigned)fd - 1, 0);
	close_range((unsigned)fd + 1, ~0U, 0);
	buf[0] = PQcancel(cancel, buf + 1, sizeof(buf) - 1) ? 'y' : 'n';
	if (write(fd, buf, buf[0] == 'y' ? 1 : 1 + strlen(buf + 1)) < 0)
		_exit(1);
	_exit(0);
}

/* What cancel_child() wrote to fd before EOF or the deadline (a
 * clock_ms()), into out; 0, or -1 when the deadline came first. */
static int cancel_read(int fd, int64_t deadline, char *out, size_t size)
{
	size_t n = 0;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - clock_ms();
		ssize_t got;

		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return -1;
		if (!pfd.revents)
			continue;
		got = read(fd, out + n, size - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || (n += (size_t)got) == size - 1)
			break;
	}
	out[n] = '\0';
	return 0;
}

/*
 * Asks the server to cancel the query in progress on p->conn, before the
 * connection is dropped: a backend waiting for a lock does not read its
 * connection, so it would wait on (and hold what it locked so far) until
 * the server's own timeout, or for ever without one.  PQcancel() waits
 * without a bound for the server (its connect, its close): it runs in a
 * child process, given CANCEL_WAIT_MS at most, then killed.  A cancel that
 * failed or did not end in time is logged (warn); the connection is
 * dropped either way.
 */
static void pgx_cancel(struct pgx *p)
{
	PGcancel *cancel = PQgetCancel(p->conn);
	char got[257] = "", why[300] = "";
	int fds[2] = {-1, -1}, status = 0;
	pid_t pid = -1;

	if (!cancel) {
		snprintf(why, sizeof(why), "no cancel key for the connection");
		goto fail;
	}
	if (pipe(fds) || (pid = fork()) < 0) {
		snprintf(why, sizeof(why), "%s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		cancel_child(cancel, fds[1]);
	close(fds[1]);
	fds[1] = -1;
	if (cancel_read(fds[0], clock_ms() + CANCEL_WAIT_MS, got, sizeof(got))) {
		kill(pid, SIGKILL);
		snprintf(why, sizeof(why), "no answer from the server within %d s",
			 CANCEL_WAIT_MS / 1000);
	} else if (got[0] == 'n' && got[1]) {
		copy_message(p, got + 1, why, sizeof(why));
	} else if (got[0] != 'y') {
		snprintf(why, sizeof(why), "the cancel request ended without a word");
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!why[0])
		goto out;
fail:
	p->host->log(p->inst, HUB_LOG_WARN, "cancelling the query given up failed (%s): the"
		     " server may run it on until its own timeout", why);
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	PQfreeCancel(cancel);
}

/*
 * The answer to the query just sent (sent: what PQsend*() returned), as
 * PQexec() gives it, in *res (the caller clears it): the last result, or
 * an error before it; NULL when nothing was sent (result_fail() reads the
 * connection's message).  A target that stops answering (a stopped
 * server, a half-open connection whose peer kernel still acknowledges)
 * held the export, and the hub's stop, for good: with no answer within
 * p->answer_ms (0: no limit), or when the hub
 * is stopping, the query is cancelled (pgx_cancel(): bounded, a failure
 * logged), the connection dropped (the next batch connects again; the
 * server rolls the transaction back) and HUB_RETRY returned, *res NULL.
 */
static hub_rc query_end(struct pgx *p, int sent, const char *what, PGresult **res, char *err,
			size_t err_size)
{
	int64_t deadline = p->answer_ms ? clock_ms() + p->answer_ms : 0;
	PGresult *next;

	*res = NULL;
	if (!sent)
		return HUB_OK;
	while (!answer_wait(p, deadline)) {
		if (!(next = PQgetResult(p->conn)))
			return HUB_OK;
		if (*res && PQresultStatus(*res) == PGRES_FATAL_ERROR) {
			PQclear(next);
			continue;
		}
		PQclear(*res);
		*res = next;
	}
	PQclear(*res);
	*res = NULL;
	if (is_stopping(p))
		snprintf(err, err_size, "%s: given up, the hub is stopping", what);
	else
		snprintf(err, err_size, "%s: no answer from the target within %lld s", what,
			 p->answer_ms / 1000);
	pgx_cancel(p);
	pgx_disconnect(p);
	return HUB_RETRY;
}

/* A query with its answer (query_end()) of status `want` in *res (the
 * caller clears it): HUB_OK; else the failure's code, its message in err. */
static hub_rc query_expect(struct pgx *p, int sent, ExecStatusType want, const char *what,
			   PGresult **res, char *err, size_t err_size)
{
	hub_rc rc = query_end(p, sent, what, res, err, err_size);

	if (rc == HUB_OK && PQresultStatus(*res) != want) {
		rc = result_fail(p, *res, what, err, err_size);
		*res = NULL;
	}
	return rc;
}

static hub_rc exec_simple(struct pgx *p, const char *sql, const char *what, char *err,
			  size_t err_size)
{
	PGresult *res;
	hub_rc rc = query_expect(p, PQsendQuery(p->conn, sql), PGRES_COMMAND_OK, what, &res, err,
				 err_size);

	PQclear(res);
	return rc;
}

/* p->answer_ms from the session's statement_timeout as set_timeouts() left
 * it, the url's when it sets one: a statement the url lets wait longer
 * than `timeout` (0: for ever) is not given up on before the server does.
 * lock_timeout adds nothing: statement_timeout bounds lock waits too, and
 * without it a statement may run long on its own. */
static hub_rc read_answer_wait(struct pgx *p, char *err, size_t err_size)
{
	PGresult *res;
	hub_rc rc = query_expect(p, PQsendQuery(p->conn, "SELECT setting::bigint FROM pg_settings"
						      " WHERE name = 'statement_timeout'"),
				 PGRES_TUPLES_OK, "reading statement_timeout", &res, err,
				 err_size);
	long long ms;

	if (rc != HUB_OK)
		return rc;
	ms = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	p->answer_ms = ms > 0 ? ms + ANSWER_MARGIN_MS : 0;
	PQclear(res);
	return HUB_OK;
}

/* `timeout` as the session's statement_timeout and lock_timeout, unless
 * the url sets them (options=-c ...: their source is "client"), and
 * synchronous_commit on when it is off, whoever set it (a batch is
 * acknowledged once its commit returns: with it off, a crash of the server
 * lost batches the export's cursor had passed; every other value flushes
 * the commit locally first).  Session settings, not startup options, which
 * a pooler such as PgBouncer refuses. */
static hub_rc set_timeouts(struct pgx *p, char *err, size_t err_size)
{
	char sql[256];
	PGresult *res;
	hub_rc rc;

	snprintf(sql, sizeof(sql),
		 "SELECT set_config(name, CASE name WHEN 'synchronous_commit' THEN 'on'"
		 " ELSE '%lld' END, false) FROM pg_settings"
		 " WHERE (name IN ('statement_timeout', 'lock_timeout') AND source <> 'client')"
		 " OR (name = 'synchronous_commit' AND setting = 'off')",
		 p->timeout_ms);
	rc = query_expect(p, PQsendQuery(p->conn, sql), PGRES_TUPLES_OK,
			  "setting the timeouts and synchronous_commit", &res, err, err_size);
	PQclear(res);
	if (rc != HUB_OK)
		return rc;
	return read_answer_wait(p, err, err_size);
}

static hub_rc exec_prepare(struct pgx *p, const char *name, const char *sql, char *err,
			   size_t err_size)
{
	PGresult *res;
	hub_rc rc = query_expect(p, PQsendPrepare(p->conn, name, sql, 1, NULL), PGRES_COMMAND_OK,
				 "preparing", &res, err, err_size);

	PQclear(res);
	return rc;
}

/* ---- the connection ----------------------------------------------------- */

/* A server's notice or warning (a RAISE NOTICE of a trigger on the table):
 * into the hub's log at debug, not libpq's default, raw onto stderr. */
static void notice_to_log(void *arg, const PGresult *res)
{
	struct pgx *p = arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY);
	char msg[512];

	copy_message(p, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), msg, sizeof(msg));
	p->host->log(p->inst, HUB_LOG_DEBUG, "the target database says (%s): %s",
		     severity ? severity : "notice", msg);
}

/* The URL passed url_is_valid() at create, so libpq's message here is about
 * the server or the network, not the URL's text. */
static hub_rc connect_fail(struct pgx *p, char *err, size_t err_size)
{
	const char *raw = PQerrorMessage(p->conn);
	char msg[512];
	hub_rc rc = HUB_RETRY;

	if (strstr(raw, "authentication failed") || strstr(raw, "no password supplied"))
		rc = HUB_ERR_AUTH;
	else if (strstr(raw, "does not exist"))
		rc = HUB_ERR_CONFIG;
	copy_message(p, raw, msg, sizeof(msg));
	snprintf(err, err_size, "connecting: %s", msg);
	pgx_disconnect(p);
	return rc;
}

/* The session's client_encoding is UTF8 whatever the URL or the database
 * say (the changes are UTF-8: in another client encoding the server would
 * convert them as if they were in that one, "Zoë" stored as "ZoÃ«"), so a
 * character the database cannot hold fails its change (22P05, a data
 * error) instead.  A SQL_ASCII database converts and checks nothing: refused. */
static hub_rc set_encoding(struct pgx *p, char *err, size_t err_size)
{
	const char *db_encoding;

	hub_rc rc = exec_simple(p, "SET client_encoding TO 'UTF8'", "setting client_encoding",
				err, err_size);

	if (rc != HUB_OK)
		return rc;
	db_encoding = PQparameterStatus(p->conn, "server_encoding");
	if (db_encoding && strcmp(db_encoding, "SQL_ASCII") == 0) {
		snprintf(err, err_size, "the database's encoding is SQL_ASCII, which stores text "
					"unchecked: use a database in UTF8 (or another encoding)");
		return HUB_ERR_CONFIG;
	}
	return HUB_OK;
}

/* Whether the table is missing.  Asked first because CREATE TABLE IF NOT
 * EXISTS needs CREATE on the schema even when the table exists: a role
 * that may only read and write the table was refused (42501). */
static hub_rc table_is_missing(struct pgx *p, int *is_missing, char *err, size_t err_size)
{
	const char *vals[1] = {p->table};
	const char *what = "looking for the table";
	PGresult *res;
	hub_rc rc = query_expect(p,
				 PQsendQueryParams(p->conn, "SELECT to_regclass($1) IS NULL", 1,
						   NULL, vals, NULL, NULL, 0),
				 PGRES_TUPLES_OK, what, &res, err, err_size);

	if (rc != HUB_OK)
		return rc;
	if (PQntuples(res) != 1)
		return result_fail(p, res, what, err, err_size);
	*is_missing = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return HUB_OK;
}

/* check --connect: the privileges on the table that a batch needs
 * (SELECT reads the rows an upsert or a delete compares), named when
 * missing: a role that can create the table but not write it passed the
 * check, then every batch was refused. */
static hub_rc check_privileges(struct pgx *p, char *err, size_t err_size)
{
	const char *vals[1] = {p->table};
	const char *what = "reading the privileges on the table";
	PGresult *res;
	hub_rc rc = query_expect(
		p,
		PQsendQueryParams(p->conn,
				  "SELECT string_agg(priv, ', ' ORDER BY ord) FROM unnest(ARRAY["
				  "'SELECT', 'INSERT', 'UPDATE', 'DELETE']) WITH ORDINALITY AS"
				  " t(priv, ord) WHERE NOT has_table_privilege($1::text, priv)",
				  1, NULL, vals, NULL, NULL, 0),
		PGRES_TUPLES_OK, what, &res, err, err_size);

	if (rc != HUB_OK)
		return rc;
	if (PQntuples(res) != 1)
		return result_fail(p, res, what, err, err_size);
	if (!PQgetisnull(res, 0, 0)) {
		snprintf(err, err_size, "the role has no %s privilege on the table %s",
			 PQgetvalue(res, 0, 0), p->table);
		rc = HUB_ERR_CONFIG;
	}
	PQclear(res);
	return rc;
}

/* The table and the prepared statement on a new connection. */
static hub_rc pgx_setup(struct pgx *p, char *err, size_t err_size)
{
	char sql[2048];
	int is_missing = 0;
	hub_rc rc;

	if ((rc = set_encoding(p, err, err_size)) != HUB_OK ||
	    (rc = set_timeouts(p, err, err_size)) != HUB_OK ||
	    (rc = table_is_missing(p, &is_missing, err, err_size)) != HUB_OK)
		return rc;
	if (is_missing) {
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS %s (profile_id text PRIMARY KEY,"
			 " doc jsonb NOT NULL, updated_seq bigint NOT NULL)",
			 p->table);
		rc = exec_simple(p, sql, "creating the table", err, err_size);
		if (rc != HUB_OK)
			return rc;
	}
	snprintf(sql, sizeof(sql), APPLY_SQL, p->table, p->table);
	return exec_prepare(p, "profilehub_apply", sql, err, err_size);
}

static hub_rc pgx_connect(struct pgx *p, char *err, size_t err_size)
{
	/* Defaults before dbname (the URL may override them).  A target that
	 * stops answering (a half-open connection, a table locked by someone
	 * else) fails the batch within the timeouts (the server's, then
	 * query_end()'s), to be retried: it never holds the export, or a stop
	 * of the hub, for good. */
	const char *keys[] = {"connect_timeout", "application_name", "keepalives",
			      "keepalives_idle", "keepalives_interval", "keepalives_count",
			      "tcp_user_timeout", "dbname", NULL};
	const char *values[] = {"10", "profilehub-export", "1", "30", "10", "3", "60000", p->url,
				NULL};
	hub_rc rc;

	if (p->conn)
		return HUB_OK;
	p->conn = PQconnectdbParams(keys, values, 1);
	/* until set_timeouts() reads the session's own */
	p->answer_ms = p->timeout_ms ? p->timeout_ms + ANSWER_MARGIN_MS : 0;
	if (!p->conn)
		return HUB_ERR_NOMEM;
	if (PQstatus(p->conn) != CONNECTION_OK)
		return connect_fail(p, err, err_size);
	PQsetNoticeReceiver(p->conn, notice_to_log, p);
	/* every query waits for its answer in query_end(), which sends too */
	if (PQsetnonblocking(p->conn, 1) != 0) {
		pgx_disconnect(p);
		return HUB_RETRY;
	}
	rc = pgx_setup(p, err, err_size);
	if (rc == HUB_OK)
		return HUB_OK;
	/* Not half set up: the next attempt connects and sets up again.  A
	 * wrong table or privilege (42), refused credentials (28) stay as
	 * they are; anything else is no change's fault, so it retries. */
	pgx_disconnect(p);
	if (rc == HUB_ERR_CONFIG || rc == HUB_ERR_AUTH || rc == HUB_ERR_NOMEM)
		return rc;
	return HUB_RETRY;
}

/* ---- a batch ------------------------------------------------------------ */

/* Whether res failed with 42P01 (undefined table). */
static int is_undefined_table(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return PQresultStatus(res) != PGRES_COMMAND_OK && state && strcmp(state, "42P01") == 0;
}

/* [c0,c1,...]: the changes are JSON text already.  malloc'd or NULL. */
static char *changes_join(const char *const *changes, size_t n)
{
	size_t total = 3, off = 0;
	char *out;

	for (size_t i = 0; i < n; i++)
		total += strlen(changes[i]) + 1;
	if (!(out = malloc(total)))
		return NULL;
	out[off++] = '[';
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(changes[i]);
		if (i)
			out[off++] = ',';
		memcpy(out + off, changes[i], len);
		off += len;
	}
	out[off++] = ']';
	out[off] = '\0';
	return out;
}

/* Ends the failed transaction of a batch, if one is still open: ROLLBACK,
 * or a new connection for the next batch when even that fails. */
static void batch_rollback(struct pgx *p)
{
	char err[256]; /* the batch's failure is the one to report */

	if (!p->conn || PQtransactionStatus(p->conn) == PQTRANS_IDLE)
		return;
	if (exec_simple(p, "ROLLBACK", "rolling back", err, sizeof(err)) != HUB_OK)
		pgx_disconnect(p);
}

/* One attempt at the batch: BEGIN, a statement per chunk (pgx_chunk_end()),
 * COMMIT.  HUB_OK once committed; else the failure's code with its message
 * in err, the transaction ended, and *is_no_table set when the table was
 * missing (42P01). */
static hub_rc batch_apply(struct pgx *p, const char *const *changes, size_t n, int *is_no_table,
			  char *err, size_t err_size)
{
	const char *what = "starting the transaction";
	PGresult *res;
	hub_rc rc = query_end(p, PQsendQuery(p->conn, "BEGIN"), what, &res, err, err_size);

	for (size_t from = 0, end;
	     rc == HUB_OK && PQresultStatus(res) == PGRES_COMMAND_OK && from < n; from = end) {
		char *json;

		end = pgx_chunk_end(changes, n, from, PGX_CHUNK_MAX_BYTES);
		PQclear(res);
		if (!(json = changes_join(changes + from, end - from))) {
			batch_rollback(p);
			return HUB_ERR_NOMEM;
		}
		what = "applying the batch";
		rc = query_end(p,
			       PQsendQueryPrepared(p->conn, "profilehub_apply", 1,
						   (const char *const *)&json, NULL, NULL, 0),
			       what, &res, err, err_size);
		free(json);
	}
	if (rc != HUB_OK)
		return rc; /* no answer: the connection is dropped, the transaction with it */
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		what = "committing the batch";
		if ((rc = query_end(p, PQsendQuery(p->conn, "COMMIT"), what, &res, err,
				    err_size)) != HUB_OK)
			return rc;
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			return HUB_OK;
		}
	}
	*is_no_table = is_undefined_table(res);
	rc = result_fail(p, res, what, err, err_size);
	batch_rollback(p);
	return rc;
}

/* The batch in one transaction on the connection (set up first when there
 * is none), once more on a new one when the table was dropped meanwhile. */
static hub_rc export_apply(struct pgx *p, const char *const *changes, size_t n, char *err,
			   size_t err_size)
{
	int is_no_table = 0;
	hub_rc rc;

	if ((rc = pgx_connect(p, err, err_size)) != HUB_OK)
		return rc;
	rc = batch_apply(p, changes, n, &is_no_table, err, err_size);
	if (is_no_table) {
		/* the table was dropped since this connection set up: a new one
		 * creates it again (once: should it fail so again, retry) */
		pgx_disconnect(p);
		err[0] = '\0';
		if ((rc = pgx_connect(p, err, err_size)) != HUB_OK)
			return rc;
		is_no_table = 0;
		rc = batch_apply(p, changes, n, &is_no_table, err, err_size);
		if (is_no_table) {
			pgx_disconnect(p);
			return HUB_RETRY;
		}
	}
	return rc;
}

/* `call` is kept for the batch: query_end() looks at should_stop(). */
static hub_rc postgres_export(void *state, struct hub_call *call, const char *const *changes,
			      size_t n, size_t *n_done, char *err, size_t err_size)
{
	struct pgx *p = state;
	hub_rc rc;

	*n_done = 0;
	p->call = call;
	rc = export_apply(p, changes, n, err, err_size);
	p->call = NULL;
	if (rc == HUB_OK)
		*n_done = n;
	return rc;
}

static hub_rc postgres_check_connect(void *state, char *err, size_t err_size)
{
	hub_rc rc = pgx_connect(state, err, err_size);

	return rc == HUB_OK ? check_privileges(state, err, err_size) : rc;
}

static const struct hub_plugin postgres_plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "postgres",
	.version = "1.0.0",
	.description = "keeps the current profile documents in a PostgreSQL table",
	.roles = HUB_ROLE_EXPORT,
	.config = postgres_keys,
	.create = postgres_create,
	.destroy = postgres_destroy,
	.check_connect = postgres_check_connect,
	.export_batch = postgres_export,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &postgres_plugin;
}
