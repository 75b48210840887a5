/*
 * pgx_query.c - one query of the postgres export and its answer.  A query
 * is sent on the non-blocking connection and its answer waited for within
 * p->answer_ms (the session's statement_timeout and 5 s more), looking at
 * should_stop() every WAIT_SLICE_MS; with no answer in time, or the hub
 * stopping, the query is cancelled on the server (PQcancel() in a
 * short-lived child, CANCEL_WAIT_MS at most) and the connection dropped.
 * A failed result becomes a hub_rc (pgx_sqlstate_rc) and a message.
 *
 * Never copies a libpq message into an error or the log but through
 * pgx_copy_message(), which stars out the password; knows nothing of the
 * table or the batch (postgres.c, pgx_conn.c).
 */
#include "pgx.h"
#include "../common/mono_clock.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_SLICE_MS 200          /* how often a wait for an answer looks at should_stop() */
#define CANCEL_WAIT_MS 2000        /* the most a cancel request of a query given up takes */

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
void pgx_copy_message(const struct pgx *p, const char *msg, char *err, size_t err_size)
{
	snprintf(err, err_size, "%s", msg ? msg : "unknown error");
	err[strcspn(err, "\n")] = '\0';
	scrub_password(p, err);
}

/* A not-null violation of a column of the table that the export does not
 * write (pgx_is_unwritten_not_null()): HUB_ERR_CONFIG, err naming the
 * table and the column; else the code state says (pgx_sqlstate_rc()). */
static hub_rc unwritten_column_fail(const struct pgx *p, const PGresult *res,
				    const char *state, const char *what, char *err,
				    size_t err_size)
{
	const char *column = res ? PQresultErrorField(res, PG_DIAG_COLUMN_NAME) : NULL;
	char named[128];

	if (!res || !pgx_is_unwritten_not_null(p->table, state,
					       PQresultErrorField(res, PG_DIAG_TABLE_NAME),
					       column))
		return pgx_sqlstate_rc(state);
	snprintf(named, sizeof(named), "column \"%s\" is", column);
	snprintf(err, err_size, "%s: " PGX_UNWRITTEN_FMT " (SQLSTATE 23502): " PGX_UNWRITTEN_FIX,
		 what, p->table, named, "it");
	return HUB_ERR_CONFIG;
}

/* A failed result: its code, the message in err; a broken connection, or
 * one that lost its prepared statement (26000), is dropped so the next
 * batch reconnects and sets up again. */
hub_rc pgx_result_fail(struct pgx *p, PGresult *res, const char *what, char *err,
		       size_t err_size)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	hub_rc rc;
	char msg[512];

	pgx_copy_message(p, res ? PQresultErrorMessage(res) : PQerrorMessage(p->conn), msg,
			 sizeof(msg));
	snprintf(err, err_size, "%s: %s%s%s%s", what, msg, state ? " (SQLSTATE " : "",
		 state ? state : "", state ? ")" : "");
	rc = unwritten_column_fail(p, res, state, what, err, err_size);
	if (PQstatus(p->conn) != CONNECTION_OK || (state && strcmp(state, "26000") == 0))
		pgx_disconnect(p);
	PQclear(res);
	return rc;
}

/* ---- waiting for an answer ---------------------------------------------- */

static int is_stopping(const struct pgx *p)
{
	return p->call && p->host->should_stop(p->call);
}

/* Sends what is queued and reads until the answer is in (PQisBusy() 0), or
 * the connection broke (PQgetResult() then says how): 0.  1 when the hub
 * is stopping or the deadline (a mono_clock_ms(); 0: none) passed first.  The
 * connection is non-blocking (pgx_connect), and poll() wakes at least
 * every WAIT_SLICE_MS to look at should_stop(). */
static int answer_wait(struct pgx *p, int64_t deadline)
{
	for (;;) {
		int flush = PQflush(p->conn);
		struct pollfd pfd = {.fd = PQsocket(p->conn), .events = POLLIN};
		int64_t left = deadline ? deadline - mono_clock_ms() : WAIT_SLICE_MS;

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
 * mono_clock_ms()), into out; 0, or -1 when the deadline came first. */
static int cancel_read(int fd, int64_t deadline, char *out, size_t size)
{
	size_t n = 0;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - mono_clock_ms();
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
	if (cancel_read(fds[0], mono_clock_ms() + CANCEL_WAIT_MS, got, sizeof(got))) {
		kill(pid, SIGKILL);
		snprintf(why, sizeof(why), "no answer from the server within %d s",
			 CANCEL_WAIT_MS / 1000);
	} else if (got[0] == 'n' && got[1]) {
		pgx_copy_message(p, got + 1, why, sizeof(why));
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
 * an error before it; NULL when nothing was sent (pgx_result_fail()
 * reads the connection's message).  A target that stops answering (a stopped
 * server, a half-open connection whose peer kernel still acknowledges)
 * held the export, and the hub's stop, for good: with no answer within
 * p->answer_ms (0: no limit), or when the hub
 * is stopping, the query is cancelled (pgx_cancel(): bounded, a failure
 * logged), the connection dropped (the next batch connects again; the
 * server rolls the transaction back) and HUB_RETRY returned, *res NULL.
 */
hub_rc pgx_query_end(struct pgx *p, int sent, const char *what, PGresult **res, char *err,
		     size_t err_size)
{
	int64_t deadline = p->answer_ms ? mono_clock_ms() + p->answer_ms : 0;
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

/* A query with its answer (pgx_query_end()) of status `want` in *res (the
 * caller clears it): HUB_OK; else the failure's code, its message in err. */
hub_rc pgx_query_expect(struct pgx *p, int sent, ExecStatusType want, const char *what,
			PGresult **res, char *err, size_t err_size)
{
	hub_rc rc = pgx_query_end(p, sent, what, res, err, err_size);

	if (rc == HUB_OK && PQresultStatus(*res) != want) {
		rc = pgx_result_fail(p, *res, what, err, err_size);
		*res = NULL;
	}
	return rc;
}

hub_rc pgx_table_row(struct pgx *p, const char *sql, const char *what, PGresult **res,
		     char *err, size_t err_size)
{
	const char *vals[1] = {p->table};
	hub_rc rc = pgx_query_expect(p, PQsendQueryParams(p->conn, sql, 1, NULL, vals, NULL,
							   NULL, 0),
				     PGRES_TUPLES_OK, what, res, err, err_size);

	if (rc == HUB_OK && (rc = pgx_one_row(PQntuples(*res), what, err, err_size)) != HUB_OK) {
		PQclear(*res);
		*res = NULL;
	}
	return rc;
}

hub_rc pgx_exec_simple(struct pgx *p, const char *sql, const char *what, char *err,
		       size_t err_size)
{
	PGresult *res;
	hub_rc rc = pgx_query_expect(p, PQsendQuery(p->conn, sql), PGRES_COMMAND_OK, what, &res,
				     err, err_size);

	PQclear(res);
	return rc;
}
