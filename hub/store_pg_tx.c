/*
 * store_pg_tx.c - the PostgreSQL store's transactions: begin (into the
 * pipeline), savepoints, rollback and commit; and the outbox: changes are
 * buffered in the transaction and written at commit under one lock, so seq
 * order is commit order across processes.  A COMMIT whose answer is lost is
 * settled by asking the server over a new connection: never say "not
 * stored" of what may have committed (is_commit_unknown).  No statement
 * SQL here (store_pg_exec.c), only transaction control.
 */
#include "store_pg_int.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* commit_status asks this long: a server restarting, an old backend's COMMIT */
#define COMMIT_SETTLE_MS 10000
#define COMMIT_RECONNECT_MS 200 /* commit_status: between its connection attempts */

/* ---- transactions --------------------------------------------------- */

static void outbox_row_free(struct outbox_row *row)
{
	hub_free(row->kind);
	hub_free(row->profile_id);
	hub_free(row->payload);
}

void pg_outbox_drop(struct pg_store *ps, size_t from)
{
	for (size_t i = from; i < ps->outbox_n; i++)
		outbox_row_free(&ps->outbox[i]);
	ps->outbox_n = from;
	if (ps->outbox_mark > from)
		ps->outbox_mark = from;
	if (ps->outbox_sent > from)
		ps->outbox_sent = from;
}

/* The savepoint is released: the rows written inside it are the
 * transaction's now, and leave the buffer. */
static void outbox_forget_sent(struct pg_store *ps)
{
	size_t sent = ps->outbox_sent;

	ps->is_in_savepoint = 0;
	if (sent == 0)
		return;
	for (size_t i = 0; i < sent; i++)
		outbox_row_free(&ps->outbox[i]);
	memmove(ps->outbox, ps->outbox + sent, (ps->outbox_n - sent) * sizeof(*ps->outbox));
	ps->outbox_n -= sent;
	ps->outbox_mark = 0;
	ps->outbox_sent = 0;
}

/* Leaves the pipeline (after the last result was read). */
static void pipe_end(struct pg_store *ps)
{
	if (ps->is_pipelined && PQpipelineStatus(ps->conn) != PQ_PIPELINE_OFF &&
	    PQstatus(ps->conn) == CONNECTION_OK)
		PQexitPipelineMode(ps->conn);
	/* Results left uncollected (the server went away mid-pipeline, its
	 * FATAL read but not yet the closed socket) keep the connection in
	 * pipeline mode, where every synchronous call fails without touching
	 * the socket, and PQstatus stays OK: reset it before its next use. */
	if (PQpipelineStatus(ps->conn) != PQ_PIPELINE_OFF)
		ps->is_ready = 0;
	ps->is_pipelined = 0;
	ps->n_pending = 0;
}

static void tx_reset(struct pg_store *ps)
{
	pg_outbox_drop(ps, 0);
	ps->outbox_mark = 0;
	ps->is_in_savepoint = 0;
	ps->is_multi_writer = 0;
	memo_reset(&ps->memo);
}

/* A transaction a failed BEGIN left open on a live connection is rolled
 * back, the failure's error kept: else what ran next outside a
 * transaction (a read, a lease) failed "current transaction is aborted"
 * (25P02) until the next BEGIN. */
static void begin_failed_end(struct pg_store *ps)
{
	char keep_err[sizeof(ps->base.err)];

	if (PQstatus(ps->conn) != CONNECTION_OK ||
	    PQtransactionStatus(ps->conn) == PQTRANS_IDLE)
		return;
	memcpy(keep_err, ps->base.err, sizeof(keep_err)); /* the cause matters more */
	if (pg_exec_simple(ps, "ROLLBACK", W_ROLLBACK))
		ps->is_ready = 0; /* reset before its next use */
	memcpy(ps->base.err, keep_err, sizeof(keep_err));
}

/* BEGIN of a write transaction, with meta.schema_version read in the same
 * round trip: a newer hub that migrated the shared schema since this one
 * opened it stops this one's writes (pg_schema_check).  0, -1 with the
 * error set (nothing left open), -2 refused (rolled back). */
static int begin_write(struct pg_store *ps)
{
	PGresult *res = PQexec(ps->conn, "BEGIN; SELECT value FROM meta"
					 " WHERE key = 'schema_version'");
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pg_fail(ps, res, W_BEGIN);
		begin_failed_end(ps);
	} else if (pg_schema_check(ps, PQntuples(res) ? PQgetvalue(res, 0, 0) : "0")) {
		pg_exec_simple(ps, "ROLLBACK", W_ROLLBACK);
		pg_leases_give_up(ps); /* the newer processes deliver */
		rc = -2;
	}
	PQclear(res);
	return rc;
}

/* Opens a transaction with `sql` (a lost connection is reset first) and
 * enters the pipeline; a write transaction (sql NULL) checks the schema's
 * version first (begin_write). */
static int tx_open(struct pg_store *ps, const char *sql)
{
	struct store *s = &ps->base;

	if (ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: begin inside a transaction");
		return -1;
	}
	s->is_retryable = 0;
	s->is_lock_timeout = 0;
	s->is_commit_unknown = 0;
	tx_reset(ps);
	if (store_fault_hit(s))
		return -1;
	for (int attempt = 0;; attempt++) {
		if ((PQstatus(ps->conn) != CONNECTION_OK || !ps->is_ready) && pg_reconnect(ps))
			return -1;
		/* never inherit a transaction a failure left open */
		if (PQtransactionStatus(ps->conn) == PQTRANS_INTRANS ||
		    PQtransactionStatus(ps->conn) == PQTRANS_INERROR)
			pg_exec_simple(ps, "ROLLBACK", W_ROLLBACK);
		int rc = sql ? pg_exec_simple(ps, sql, W_BEGIN) : begin_write(ps);
		if (rc == 0)
			break;
		if (rc == -2)
			return -1;
		/* a server restart shows on the first statement after it */
		if (attempt > 0 || PQstatus(ps->conn) == CONNECTION_OK)
			return -1;
	}
	ps->in_tx = 1;
	if (PQenterPipelineMode(ps->conn) == 1) {
		ps->is_pipelined = 1;
		ps->n_pending = 0;
		ps->pending_head = 0;
	}
	return 0;
}

int pg_begin(struct store *s)
{
	return tx_open(pgs(s), NULL);
}

/* One snapshot for the reads of a request (a profile document). */
int pg_read_begin(struct store *s)
{
	return tx_open(pgs(s), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

int pg_read_end(struct store *s)
{
	return pg_rollback(s); /* nothing was written */
}

/* Sends a transaction control statement: pipelined, or waited for. */
static int tx_statement(struct pg_store *ps, const char *sql, int id)
{
	if (ps->is_pipelined)
		return pg_pipe_send(ps, id, sql, 0, NULL);
	return pg_exec_simple(ps, sql, id);
}

/* Writes the buffered changes: numbers taken under the outbox lock, held
 * to commit, so seq order is commit order across processes. */
static int outbox_flush(struct pg_store *ps)
{
	struct strbuf kinds, pids, ats, payloads;
	char first_text[24];
	int64_t first = 0;
	int rc = -1;

	if (ps->outbox_n == ps->outbox_sent)
		return 0;
	if (pg_query_int(pg_run(ps, S_OUTBOX_ALLOC, "di", (int)(ps->salt ^ LOCK_OUTBOX),
				(int64_t)(ps->outbox_n - ps->outbox_sent)), &first) != 1)
		return -1;
	pg_array_open(&kinds);
	pg_array_open(&pids);
	pg_array_open(&ats);
	pg_array_open(&payloads);
	for (size_t i = ps->outbox_sent; i < ps->outbox_n; i++) {
		char at[24];
		snprintf(at, sizeof(at), "%lld", (long long)ps->outbox[i].at_ms);
		pg_array_add(&kinds, ps->outbox[i].kind);
		pg_array_add(&pids, ps->outbox[i].profile_id);
		pg_array_add(&ats, at);
		pg_array_add(&payloads, ps->outbox[i].payload);
	}
	pg_array_close(&kinds);
	pg_array_close(&pids);
	pg_array_close(&ats);
	pg_array_close(&payloads);
	snprintf(first_text, sizeof(first_text), "%lld", (long long)first);
	if (kinds.failed || pids.failed || ats.failed || payloads.failed) {
		err_set(ps->base.err, sizeof(ps->base.err), "out of memory");
		goto out;
	}
	/* waited for: the arrays are freed on return */
	{
		PGresult *res = pg_run(ps, S_OUTBOX_INSERT, "sssss", first_text, kinds.data,
				       pids.data, ats.data, payloads.data);
		if (!res)
			goto out;
		PQclear(res);
	}
	if (ps->is_in_savepoint) {
		/* the earlier batches' rows went in inside this batch's
		 * savepoint: its rollback would undo them */
		pg_outbox_drop(ps, ps->outbox_mark);
		ps->outbox_sent = ps->outbox_n;
	} else {
		pg_outbox_drop(ps, 0);
	}
	rc = 0;
out:
	strbuf_free(&kinds);
	strbuf_free(&pids);
	strbuf_free(&ats);
	strbuf_free(&payloads);
	return rc;
}

/* A new connection, tried every COMMIT_RECONNECT_MS until `until`: a
 * server that restarted (the COMMIT cut by its shutdown) answers again
 * within seconds, and one attempt at once found it still starting, so the
 * outcome stayed unknown.  Each attempt ends by `until` too: one begun
 * late ran its own connect_timeout past it.  0, or -1 with the error set. */
static int commit_reconnect(struct pg_store *ps, int64_t until)
{
	struct timespec pause = {0, COMMIT_RECONNECT_MS * 1000 * 1000};

	for (;;) {
		ps->reconnect_at_ms = 0; /* no backoff: the caller is waiting */
		if (pg_reconnect_until(ps, until) == 0)
			return 0;
		if (time_mono_ms() + COMMIT_RECONNECT_MS > until)
			return -1;
		nanosleep(&pause, NULL);
	}
}

/* What txid_status() said in res (PQclear it after): 1 committed, 0
 * aborted, 2 still in progress, -1 no answer (the error says why). */
static int xid_status_read(struct pg_store *ps, const PGresult *res, const char *xid)
{
	const char *st;

	if (!res)
		return -1; /* pg_exec_until said why */
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		return pg_fail(ps, res, W_XID_STATUS);
	if (PQgetisnull(res, 0, 0)) {
		err_set(ps->base.err, sizeof(ps->base.err), "postgres: transaction %s is too old"
			" for txid_status to tell", xid);
		return -1;
	}
	st = PQgetvalue(res, 0, 0);
	if (strcmp(st, "in progress") == 0) {
		err_set(ps->base.err, sizeof(ps->base.err), "postgres: transaction %s still in"
			" progress after %d s", xid, COMMIT_SETTLE_MS / 1000);
		return 2;
	}
	if (strcmp(st, "committed") == 0 || strcmp(st, "aborted") == 0)
		return st[0] == 'c';
	err_set(ps->base.err, sizeof(ps->base.err), "postgres: txid_status said \"%.40s\"", st);
	return -1;
}

/* txid_status() of the transaction `xid` over a new connection: 1
 * committed, 0 aborted, -1 unknown, the error saying why the server could
 * not tell.  The server is asked for up to COMMIT_SETTLE_MS: reached again
 * (commit_reconnect), a transaction still "in progress" (its old backend
 * finishing the COMMIT the client no longer hears) asked again, and so is
 * one whose answer a link that broke again lost (over a new connection: it
 * was "unknown" at once, the 10 s not spent).  Every statement of it, the
 * new session's setup too, is answered by then or given up
 * (pg_exec_until): a server that accepts the login and then hangs held it
 * until the TCP user timeout. */
static int commit_status(struct pg_store *ps, const char *xid)
{
	struct timespec in_progress = {0, 50 * 1000 * 1000};
	struct timespec lost = {0, COMMIT_RECONNECT_MS * 1000 * 1000};
	int64_t until = time_mono_ms() + COMMIT_SETTLE_MS;
	int is_linked = 0;

	for (;;) {
		PGresult *res;
		int rc;

		if (!is_linked && commit_reconnect(ps, until))
			return -1;
		res = pg_exec_until(ps, "SELECT txid_status($1::bigint)", 1, &xid, W_XID_STATUS,
				    until);
		rc = xid_status_read(ps, res, xid);
		PQclear(res);
		if (rc == 0 || rc == 1)
			return rc;
		is_linked = PQstatus(ps->conn) == CONNECTION_OK && ps->is_ready;
		if (rc == -1 && is_linked)
			return -1; /* the server's own answer: asked again, the same */
		if (time_mono_ms() + (is_linked ? 0 : COMMIT_RECONNECT_MS) >= until)
			return -1;
		nanosleep(is_linked ? &in_progress : &lost, NULL);
	}
}

/*
 * The connection broke after COMMIT was sent: the server may have committed
 * (only its answer lost) or not.  Saying "not stored" of a commit that
 * happened would be false, so the server is asked, over a new connection,
 * what became of the transaction: 0 when it committed, else -1 with the
 * error, and is_commit_unknown set when it cannot tell, saying why (never
 * more of the URL than ps->where).
 */
static int commit_settle(struct pg_store *ps, const char *xid)
{
	struct store *s = &ps->base;
	char lost[sizeof(s->err)], why[sizeof(s->err)];
	int status;

	snprintf(lost, sizeof(lost), "%s", s->err);
	if (strcmp(xid, "-") == 0) { /* it wrote nothing: nothing to have stored */
		err_set(s->err, sizeof(s->err), "%s; the transaction had written nothing", lost);
		return -1;
	}
	status = xid[0] ? commit_status(ps, xid) : -1; /* a reconnect ends the tx */
	if (status == 1) {
		tx_reset(ps);
		log_warn("store", "the answer to COMMIT was lost (%s); transaction %s committed",
			 lost, xid);
		return 0;
	}
	if (status == 0) {
		err_set(s->err, sizeof(s->err), "%s; the transaction did not commit", lost);
		return -1;
	}
	s->is_commit_unknown = 1;
	if (!xid[0]) {
		err_set(s->err, sizeof(s->err), "%s; whether COMMIT took effect is unknown (the"
			" transaction's id was lost with the link: the server cannot be asked): a"
			" resend is safe (message IDs dedupe)", lost);
		return -1;
	}
	snprintf(why, sizeof(why), "%s", pg_err_reason(ps));
	err_set(s->err, sizeof(s->err),
		"%s; whether COMMIT took effect is unknown (the server could not say within"
		" %d s: %.200s): a resend is safe (message IDs dedupe)", lost,
		COMMIT_SETTLE_MS / 1000, why);
	return -1;
}

/* Tests: the fault_commit_cut of this moment.  1 when the connection was
 * taken away (the error set as a lost link's), 0 otherwise. */
static int commit_cut(struct pg_store *ps, int when)
{
	struct store *s = &ps->base;

	if (s->fault_commit_cut != when || !s->fault_disconnect)
		return 0;
	s->fault_commit_cut = STORE_CUT_NONE;
	if (when == STORE_CUT_BEFORE_COMMIT && pg_pipe_collect(ps, NULL)) /* the xid */
		return 0;
	if (s->fault_disconnect(s) <= 0)
		return 0;
	s->fault_disconnects++;
	err_set(s->err, sizeof(s->err), "postgres: connection to %s lost (commit): injected",
		ps->where);
	return 1;
}

int pg_commit(struct store *s)
{
	struct pg_store *ps = pgs(s);
	PGresult *res = NULL;
	int rc = -1;

	if (!ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: commit without a transaction");
		return -1;
	}
	if (outbox_flush(ps) || store_fault_hit(s))
		return -1;
	if (ps->is_pipelined) {
		/* the transaction's id, to ask about a COMMIT whose answer is
		 * lost: read in COMMIT's own round trip (pg_pipe_collect_ex keeps
		 * it in ps->xid), not one more while the outbox lock is held.
		 * The flush request makes the server send it before it runs
		 * COMMIT: held for the sync, it was lost with COMMIT's answer */
		ps->xid[0] = '\0';
		if (pg_pipe_send(ps, W_XID, "SELECT txid_current_if_assigned()", 0, NULL) ||
		    PQsendFlushRequest(ps->conn) != 1)
			return -1; /* COMMIT not sent: nothing committed */
		if (commit_cut(ps, STORE_CUT_BEFORE_COMMIT))
			return commit_settle(ps, ps->xid); /* as if COMMIT were lost on its way */
		if (pg_pipe_send(ps, W_COMMIT, "COMMIT", 0, NULL) ||
		    pg_pipe_collect_ex(ps, &res, 1)) {
			if (PQstatus(ps->conn) == CONNECTION_OK)
				return -1; /* the server's answer: not committed; the
					    * caller rolls back what may be left */
			return commit_settle(ps, ps->xid);
		}
		if (commit_cut(ps, STORE_CUT_AFTER_COMMIT)) {
			PQclear(res);
			return commit_settle(ps, ps->xid);
		}
	} else {
		res = PQexec(ps->conn, "COMMIT");
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			pg_fail(ps, res, W_COMMIT);
			PQclear(res);
			return -1;
		}
	}
	/* COMMIT of a failed transaction "succeeds" as ROLLBACK */
	if (res && strcmp(PQcmdStatus(res), "COMMIT") == 0)
		rc = 0;
	else
		err_set(s->err, sizeof(s->err),
			"postgres: the transaction had failed and was rolled back");
	PQclear(res);
	pipe_end(ps);
	ps->in_tx = 0;
	tx_reset(ps);
	return rc;
}

int pg_rollback(struct store *s)
{
	struct pg_store *ps = pgs(s);
	char keep_err[sizeof(s->err)];
	int rc = 0;

	tx_reset(ps);
	if (!ps->in_tx)
		return 0;
	ps->in_tx = 0;
	memcpy(keep_err, s->err, sizeof(keep_err)); /* the cause matters more */
	if (PQstatus(ps->conn) == CONNECTION_OK) {
		if (ps->is_pipelined) {
			/* first what is in flight (a failure there would abort
			 * the ROLLBACK itself), then the ROLLBACK */
			if (ps->n_pending)
				pg_pipe_collect_ex(ps, NULL, 1);
			rc = pg_pipe_send(ps, W_ROLLBACK, "ROLLBACK", 0, NULL) ||
					     pg_pipe_collect_ex(ps, NULL, 1)
				     ? -1
				     : 0;
		} else
			rc = pg_exec_simple(ps, "ROLLBACK", W_ROLLBACK);
	}
	pipe_end(ps);
	memcpy(s->err, keep_err, sizeof(keep_err));
	return rc;
}

int pg_savepoint(struct store *s)
{
	struct pg_store *ps = pgs(s);
	if (store_fault_hit(s) || tx_statement(ps, "SAVEPOINT batch", W_SAVEPOINT))
		return -1;
	ps->outbox_mark = ps->outbox_n;
	ps->is_in_savepoint = 1;
	return 0;
}

/* Reads every result in flight: a batch is released only once all its
 * statements are known to have succeeded. */
int pg_savepoint_release(struct store *s)
{
	struct pg_store *ps = pgs(s);
	if (store_fault_hit(s) || tx_statement(ps, "RELEASE SAVEPOINT batch", W_RELEASE) ||
	    pg_pipe_collect(ps, NULL))
		return -1; /* rolled back next: what it wrote is kept */
	outbox_forget_sent(ps);
	return 0;
}

int pg_savepoint_rollback(struct store *s)
{
	struct pg_store *ps = pgs(s);
	pg_outbox_drop(ps, ps->outbox_mark);
	ps->outbox_sent = 0; /* undone: the earlier batches' rows go in again */
	memo_reset(&ps->memo); /* the undone writes were in it */
	if (store_fault_hit(s) || tx_statement(ps, "ROLLBACK TO SAVEPOINT batch", W_ROLLBACK_TO) ||
	    tx_statement(ps, "RELEASE SAVEPOINT batch", W_RELEASE))
		return -1;
	ps->is_in_savepoint = 0;
	return pg_pipe_collect(ps, NULL);
}

/* ---- the outbox (change feed) --------------------------------------- */

int pg_outbox_append(struct store *s, const struct store_change *c)
{
	struct pg_store *ps = pgs(s);
	struct outbox_row *row;

	if (!ps->in_tx) {
		err_set(s->err, sizeof(s->err), "postgres: outbox_append outside a transaction");
		return -1;
	}
	if (ps->outbox_n == ps->outbox_cap) {
		size_t cap = ps->outbox_cap ? 2 * ps->outbox_cap : 64;
		void *grown = hub_realloc(ps->outbox, cap * sizeof(*ps->outbox));
		if (!grown)
			goto oom;
		ps->outbox = grown;
		ps->outbox_cap = cap;
	}
	row = &ps->outbox[ps->outbox_n];
	row->kind = hub_strdup(c->kind);
	row->profile_id = hub_strdup(c->profile_id);
	row->payload = hub_strdup(c->payload_json);
	row->at_ms = c->at_ms;
	ps->outbox_n++;
	if (!row->kind || !row->profile_id || !row->payload) {
		pg_outbox_drop(ps, ps->outbox_n - 1);
		goto oom;
	}
	return 0;
oom:
	err_set(s->err, sizeof(s->err), "out of memory");
	return -1;
}

int pg_outbox_read(struct store *s, int64_t after, size_t limit, store_change_cb cb, void *ctx)
{
	struct pg_store *ps = pgs(s);
	PGresult *res;

	/* the transaction's own changes are part of what it reads */
	if (ps->in_tx && outbox_flush(ps))
		return -1;
	res = pg_run(ps, S_OUTBOX_READ, "in", after, limit ? limit : 1000);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_change c = {
			.seq = pg_col_int(res, i, 0),
			.kind = pg_col_text(res, i, 1),
			.profile_id = pg_col_text(res, i, 2),
			.at_ms = pg_col_int(res, i, 3),
			.payload_json = pg_col_text(res, i, 4),
		};
		if (cb(ctx, &c))
			break;
	}
	PQclear(res);
	return 0;
}

/* The buffered changes go in first, so that the DELETE takes the
 * profile's buffered changes too (they carry personal data), and a
 * rollback to the batch's savepoint undoes both: the earlier batches'
 * changes of the profile, written inside the savepoint, stay buffered
 * until it is released (outbox_flush) and go in again if it is not. */
int pg_outbox_delete_profile(struct store *s, const char *pid)
{
	struct pg_store *ps = pgs(s);

	if (outbox_flush(ps))
		return -1;
	return pg_command(ps, S_OUTBOX_DELETE_PROFILE, "s", pid);
}
