/*
 * api_privacy.c - the management API's privacy requests (api.h): POST
 * /v1/privacy/requests (an access or an erase) and GET
 * /v1/privacy/requests/<id> (what became of one).  A request names the
 * person by one identifier, or a profile by its profile_id (a merged
 * profile's takes its live survivor; one no profile has is a 404, nothing
 * recorded).
 *
 * Erasure is a record like any other: it goes through the intake, so it
 * is ordered with ingestion and blocks what arrives after it.
 * Privacy requests are recorded in the store (meta rows, privacy.h: what
 * GET /v1/privacy/requests/<id> answers, never whom a request was about),
 * so that a restarted hub or another process on the same store answers
 * for them; their effect is in the store too.  An access request's record
 * is written on a connection of the API's own once its document is ready,
 * and at its end; an erase's, "done", in the erase's transaction by the
 * intake writer (an erase waits off the request threads, and so does its
 * record).  A request has a record from when its ID is given out.
 *
 * An access document has no bound (every event of a profile), so it is
 * never built whole in memory: it is written a page of events at a time
 * (access_doc.c), within one read snapshot, to an unnamed temporary file,
 * and the pooled connection goes back before the answer begins; the
 * answer is a stream (struct api_stream) that reads the file back as the
 * transport sends it.
 *
 * Never the intake writer's connection (a record goes on the API's own,
 * an erase through the intake), and no snapshot held while a client reads.
 */
#include "api_int.h"

#include "access_doc.h"
#include "alloc.h"
#include "http_ingest.h"
#include "log.h"
#include "privacy.h"
#include "profile.h"
#include "record.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct privacy_request {
	char id[32];
	char type[8];
	char status[16];
	int64_t created_ms;
	int64_t finished_ms;
};

/* A streamed access document (api.h).  Used by one thread at a time: the
 * one that runs the request, then the transport's, which reads it and
 * frees it. */
struct api_stream {
	struct api *api;
	FILE *spool;                    /* the whole document, written before
					 * the answer: no snapshot is held
					 * while the client reads */
	int spool_errno;                /* why writing it failed */
	struct privacy_request request; /* its record, written at the end */
	int state;                      /* STREAM_* */
};

enum { STREAM_SENDING, STREAM_DONE, STREAM_BROKEN };

/* ---- privacy requests ---------------------------------------------------- */

/* A new request ("running", created now) in *out, not yet recorded.  0,
 * or -1 (logged) when no random ID can be drawn: a fixed one would be
 * shared by every such request, and an erase's record, whose message_id
 * is the ID (source "privacy"), would be dropped as a duplicate of the
 * first. */
static int request_new(const char *type, struct privacy_request *out)
{
	char why[256];

	memset(out, 0, sizeof(*out));
	if (privacy_request_id_new(out->id, sizeof(out->id), why, sizeof(why))) {
		log_error("api", "%s request refused: %s", type, why);
		return -1;
	}
	snprintf(out->type, sizeof(out->type), "%s", type);
	snprintf(out->status, sizeof(out->status), "running");
	out->created_ms = time_now_ms();
	return 0;
}

/* The answer when request_new() failed. */
static int respond_no_request_id(struct api_response *resp)
{
	return api_respond_error(resp, 503, "random_unavailable",
				 "the hub cannot draw a random request ID; see its log");
}

static json_t *request_json(const struct privacy_request *r)
{
	return privacy_request_json(r->id, r->type, r->status, r->created_ms, r->finished_ms);
}

/* The meta row of a request: its key, and its value (what GET answers,
 * malloc'd by jansson; NULL when out of memory). */
static void request_key(char *key, size_t size, const char *id)
{
	privacy_request_key(key, size, id);
}

static char *request_text(const struct privacy_request *r)
{
	json_t *o = request_json(r);
	char *text = o ? json_dumps_whole(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return text;
}

/* Writes r's record in a transaction of the API's record connection,
 * beside the intake writer as any other writer (never on the intake's
 * connection).  0, or -1 (logged: the record keeps what it said before). */
static int request_save(struct api *api, const struct privacy_request *r)
{
	char key[64], err[512] = "out of memory";
	char *text = request_text(r);
	struct store *s;
	int rc = -1;

	request_key(key, sizeof(key), r->id);
	pthread_mutex_lock(&api->record_lock);
	if (!text || (!api->record_store &&
		      store_open_existing(api->cfg, &api->record_store, err, sizeof(err))))
		goto out;
	s = api->record_store;
	if (s->ops->begin(s))
		goto failed;
	if (s->ops->meta_put(s, key, text) || s->ops->commit(s)) {
		s->ops->rollback(s);
		goto failed;
	}
	rc = 0;
	goto out;
failed:
	snprintf(err, sizeof(err), "%s", store_error(s));
	store_close(s); /* in doubt: never reused */
	api->record_store = NULL;
out:
	pthread_mutex_unlock(&api->record_lock);
	if (rc)
		log_error("api", "%s request %s: its record (%s) could not be written: %s", r->type,
			  r->id, r->status, err);
	free(text); /* json_dumps() allocates with malloc */
	return rc;
}

/* A request's end: its record says status, finished now. */
static void request_finish(struct api *api, struct privacy_request *r, const char *status)
{
	snprintf(r->status, sizeof(r->status), "%s", status);
	r->finished_ms = time_now_ms();
	request_save(api, r);
}

/* access_doc_sink: into the stream's spool file; the first failure's
 * errno is kept for the log. */
static int spool_sink(void *ctx, const char *data, size_t len)
{
	struct api_stream *st = ctx;

	if (fwrite(data, 1, len, st->spool) == len)
		return 0;
	if (!st->spool_errno)
		st->spool_errno = errno ? errno : EIO;
	return -1;
}

long api_stream_read(struct api_stream *st, char *buf, size_t max)
{
	size_t n;

	if (st->state != STREAM_SENDING)
		return st->state == STREAM_BROKEN ? -1 : 0;
	n = fread(buf, 1, max, st->spool);
	if (n > 0)
		return (long)n;
	if (ferror(st->spool)) {
		/* the 200 and part of the document are out: the answer is
		 * cut short, and what the client got is not valid JSON */
		log_error("api", "access request %s: reading its spooled document: %s",
			  st->request.id, strerror(errno));
		st->state = STREAM_BROKEN;
		return -1;
	}
	/* recorded before the end of the answer reaches the client: a GET
	 * that follows says done */
	st->state = STREAM_DONE;
	request_finish(st->api, &st->request, "done");
	return 0;
}

void api_stream_free(struct api_stream *st)
{
	if (!st)
		return;
	if (st->state == STREAM_SENDING)
		log_warn("api", "access request %s: the document was not read to its end "
			 "(the client went away, or the server stops)", st->request.id);
	if (st->state != STREAM_DONE)
		request_finish(st->api, &st->request, "failed");
	if (st->spool)
		fclose(st->spool);
	hub_free(st);
}

/* The record as the answer shows it before the work is over (the access
 * document's stream, an erase's commit): "done", finished now.
 * Provisional: if the document breaks off, the answer is not valid JSON;
 * if the erase is not committed, the answer is a 429 or 503; either way
 * the record (GET) says "failed". */
static json_t *request_json_provisional(const struct privacy_request *r)
{
	struct privacy_request shown = *r;

	snprintf(shown.status, sizeof(shown.status), "done");
	shown.finished_ms = time_now_ms();
	return request_json(&shown);
}

/* An unnamed file for a document (under $TMPDIR, else /tmp), readable by
 * this process alone: O_TMPFILE where the file system has it, else a
 * mkstemp name removed at once (a file that cannot be removed is not
 * used: it would keep personal data after the answer).  Not inherited by
 * a child a plugin may start.  Gone when closed.  NULL with errno set. */
static FILE *spool_open(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	FILE *f;
	int fd, saved;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(path, sizeof(path), "%s/profilehub-access.XXXXXX", dir);
		if ((fd = mkostemp(path, O_CLOEXEC)) < 0)
			return NULL;
		if (unlink(path) != 0) {
			saved = errno;
			close(fd);
			errno = saved;
			return NULL;
		}
	}
	if (!(f = fdopen(fd, "w+"))) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return f;
}

/*
 * Writes the access document of the profiles of by = value to a spool
 * file, within s's snapshot, then gives s back: a client reading slowly
 * holds no snapshot (which on PostgreSQL holds back vacuum and on SQLite
 * the WAL's checkpoints), and a store failure is a 500 before the
 * document, never a 200 cut short.  The answer streams the file.  Takes s.
 */
static int access_stream_start(struct api *api, const struct privacy_request *r, struct store *s,
			       const char *by, const char *value, struct api_response *resp)
{
	struct api_stream *st = hub_calloc(1, sizeof(*st));
	char(*ids)[PROFILE_ID_SIZE] = hub_calloc(API_FIND_MAX, PROFILE_ID_SIZE);
	struct access_doc_writer *w = NULL;
	json_t *head = NULL;
	int n, rc, code = 503;
	const char *err_code = "no_memory", *why = "out of memory";

	if (!st || !ids)
		goto fail;
	st->api = api;
	st->request = *r;
	if (!(st->spool = spool_open())) {
		log_error("api", "access request %s: no spool file: %s", r->id, strerror(errno));
		err_code = "spool_failed";
		why = "the hub cannot write a temporary file; see its log";
		goto fail;
	}
	n = profile_find(s, by, value, ids, API_FIND_MAX);
	if (n < 0)
		goto store_failed;
	head = request_json_provisional(r);
	w = head ? access_doc_writer_new(s, api->cfg, head, "document", by, value,
					 (const char(*)[PROFILE_ID_SIZE])ids, (size_t)n,
					 JSON_COMPACT | HUB_JSON_REAL, spool_sink, st)
		 : NULL;
	if (!w)
		goto fail;
	while ((rc = access_doc_writer_step(w)) > 0)
		;
	if (rc < 0 && !st->spool_errno)
		goto store_failed;
	if (!st->spool_errno && (fflush(st->spool) || fseek(st->spool, 0, SEEK_SET)))
		st->spool_errno = errno ? errno : EIO;
	if (st->spool_errno) {
		log_error("api", "access request %s: writing its spool file: %s", r->id,
			  strerror(st->spool_errno));
		err_code = "spool_failed";
		why = "the hub cannot write a temporary file; see its log";
		goto fail;
	}
	access_doc_writer_free(w);
	w = NULL;
	json_decref(head);
	head = NULL;
	hub_free(ids);
	ids = NULL;
	api_pool_give(api, s); /* ends the snapshot: the document is whole */
	s = NULL;
	/* the document gives out the ID: GET must know it from now on */
	if (request_save(api, r)) {
		err_code = "store_unavailable";
		why = "the store failed to record the request; see the hub's log";
		goto fail;
	}
	api_resp_header(resp, "Cache-Control", "no-store");
	api_resp_header(resp, "X-Content-Type-Options", "nosniff");
	resp->status = 200;
	resp->content_type = "application/json";
	resp->stream = st;
	return 1;
store_failed:
	log_error("api", "access request %s: %s", r->id, store_error(s));
	code = 500;
	store_close(s); /* in doubt: never reused */
	s = NULL;
fail:
	access_doc_writer_free(w);
	json_decref(head);
	hub_free(ids);
	if (s)
		api_pool_give(api, s);
	if (st && st->spool)
		fclose(st->spool);
	hub_free(st);
	if (code == 500)
		return api_respond_error(resp, 500, "store_error",
					 "the store failed; see the hub's log");
	return api_respond_error(resp, 503, err_code, "%s", why);
}

static int privacy_access(struct api *api, const char *by, const char *value,
			  struct api_response *resp)
{
	struct privacy_request r;
	struct store *s;

	if (request_new("access", &r))
		return respond_no_request_id(resp);
	if (!(s = api_pool_take(api)))
		return api_respond_store_unavailable(resp);
	return access_stream_start(api, &r, s, by, value, resp);
}

/* An erase's record once done, committed with its batch (the batch's
 * cursor_key and cursor_value point here); freed at the batch's end
 * (ingest_pending.on_end). */
struct erase_done {
	char key[64];
	char *text;                     /* jansson's */
};

static void erase_done_free(void *ctx, hub_rc rc)
{
	struct erase_done *d = ctx;

	(void)rc; /* the record went with the batch, or nothing did: the
		   * client of an erase not committed got no ID */
	free(d->text); /* json_dumps() allocates with malloc */
	hub_free(d);
}

/* An erase's answers when it is not committed: not the ingestion's words
 * ("the records could not be stored"), which say nothing of the erase. */
static const struct ingest_fail_words erase_fail_words = {
	"the erase was not done: nothing was erased (the store could not commit it);"
	" retry later",
	"whether the erase was done is unknown (the store's answer to the commit was lost);"
	" request it again: an erase may be repeated safely",
};

/*
 * An erase is a record through the intake, committed before the answer,
 * like ingestion: the answer is pending on its batch (resp->pending), which
 * the transport submits and waits for off its request threads, so erase
 * requests never hold them while commits are slow.  The answer's record
 * says "done", and the same record is committed in the erase's transaction
 * (GET says "done" once the answer is out).  If the commit fails the client
 * gets 429 or 503 instead, without an ID, and no record is left.
 */
static int privacy_erase(struct api *api, const char *by, const char *value,
			 struct api_response *resp)
{
	struct privacy_request r;
	struct erase_done *done = NULL;
	struct record *rec = NULL;
	char err[512];
	json_t *shown;
	hub_rc rc;

	if (request_new("erase", &r))
		return respond_no_request_id(resp);
	rc = privacy_erase_record(&api->rules, by, value, r.id, &rec, err, sizeof(err));
	if (rc == HUB_ERR_DATA)
		return api_respond_error(resp, 400, "invalid_request", "%s", err);
	done = rc == HUB_OK ? hub_calloc(1, sizeof(*done)) : NULL;
	shown = done ? request_json_provisional(&r) : NULL;
	if (done)
		done->text = shown ? json_dumps_whole(shown, JSON_COMPACT) : NULL;
	json_decref(shown);
	if (done && done->text && !(resp->pending = ingest_pending_new(&rec, 1, 200, done->text)))
		rec = NULL; /* freed by ingest_pending_new */
	if (!done || !resp->pending) {
		record_free(rec);
		if (done)
			erase_done_free(done, HUB_ERR_NOMEM);
		return api_respond_error(resp, 503, "no_memory", "out of memory");
	}
	request_key(done->key, sizeof(done->key), r.id);
	resp->pending->batch.cursor_key = done->key;
	resp->pending->batch.cursor_value = done->text;
	resp->pending->on_end = erase_done_free;
	resp->pending->on_end_ctx = done;
	resp->pending->fail_words = &erase_fail_words;
	resp->status = 200;
	return 1;
}

/* The 400 for a body jansson could not read: where, and what is wrong in
 * jansson's words; not the token it quotes ("... near 'token'"), which
 * could be anything the client sent (an identifier). */
static int respond_bad_json(struct api_response *resp, json_error_t *jerr)
{
	char *near = strstr(jerr->text, " near ");

	if (near)
		*near = '\0';
	return api_respond_error(resp, 400, "invalid_json",
				 "invalid JSON at line %d, column %d: %s", jerr->line, jerr->column,
				 jerr->text);
}

/* A key that names whom a request is about: a person key
 * (config_person_key: custom_id, installation_id, an external id) or
 * profile_id (a profile, merged or live, even one holding no identifier). */
static int privacy_key(const struct api *api, const char *key)
{
	return config_person_key(api->cfg, key) || strcmp(key, "profile_id") == 0;
}

/* The keys privacy_key() takes, for the messages, into buf. */
static const char *privacy_keys(const struct api *api, char *buf, size_t size)
{
	char keys[256];

	snprintf(buf, size, "%s, or a profile's profile_id",
		 config_person_keys(api->cfg, keys, sizeof(keys)));
	return buf;
}

/* The first member of a privacy request's body that is not type or a
 * key privacy_key() takes, or an identifier that is not a non-empty
 * string, said into msg; 0
 * when there is none.  An erase cannot be undone: an option it does not
 * know ("dry_run") or a second identifier it could not read is refused,
 * never passed over. */
static int privacy_body_problem(const struct api *api, json_t *body, char *msg, size_t size)
{
	char shown[RECORD_SHOW_SIZE], keys[320];
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v) {
		int is_id = privacy_key(api, key);
		if (!is_id && strcmp(key, "type") != 0) {
			snprintf(msg, size, "unknown key \"%s\": a privacy request has type and %s",
				 record_show(shown, key), privacy_keys(api, keys, sizeof(keys)));
			return 1;
		}
		if (is_id && (!json_is_string(v) || !*json_string_value(v))) {
			snprintf(msg, size, "%s must be a non-empty string (or left out)", key);
			return 1;
		}
	}
	return 0;
}

/*
 * A body's profile_id: well formed (else a 400 naming the field) and the
 * ID of a profile, live or merged into one (else a 404 naming it): an
 * answer before anything is stored, no request ID given out.  0, or 1
 * with the answer in resp.
 */
static int privacy_profile_check(struct api *api, const char *pid, struct api_response *resp)
{
	char live[PROFILE_ID_SIZE];
	struct store *s;
	int rc;

	if (api_profile_id_check("profile_id", pid, resp))
		return 1;
	if (!(s = api_pool_take(api)))
		return api_respond_store_unavailable(resp);
	rc = profile_resolve_id(s, pid, live);
	if (rc < 0) {
		log_error("api", "privacy request for profile %s: %s", pid, store_error(s));
		store_close(s); /* in doubt: never reused */
		return api_respond_error(resp, 500, "store_error",
					 "the store failed; see the hub's log");
	}
	api_pool_give(api, s);
	if (rc == 0)
		return api_respond_error(resp, 404, "not_found",
					 "profile_id: no profile %s (nothing was done)", pid);
	return 0;
}

/* The person a body names: the last of its person keys with a non-empty
 * string (*by, *value: the body's), and how many it has. */
static int privacy_body_person(const struct api *api, json_t *body, const char **by,
			       const char **value)
{
	const char *key;
	json_t *v;
	int n = 0;

	json_object_foreach(body, key, v) {
		const char *text = json_string_value(v);
		if (privacy_key(api, key) && text && *text) {
			n++;
			*by = key;
			*value = text;
		}
	}
	return n;
}

int api_post_privacy(struct api *api, const struct api_request *req, struct api_response *resp)
{
	char problem[512], keys[320];
	json_error_t jerr;
	json_t *body = req->body
			       ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
			       : NULL;
	const char *type, *by = NULL, *value = NULL;
	int n_ids, rc;

	if (req->body && !body)
		return respond_bad_json(resp, &jerr);
	if (!json_is_object(body)) {
		json_decref(body);
		return api_respond_error(
			resp, 400, "invalid_json",
			"the body must be a JSON object like {\"type\": \"access\", "
			"\"custom_id\": \"C1\"}");
	}
	type = json_string_value(json_object_get(body, "type"));
	n_ids = privacy_body_person(api, body, &by, &value);
	privacy_keys(api, keys, sizeof(keys));
	if (!json_object_get(body, "type")) /* missing, as every other member is */
		rc = api_respond_error(resp, 400, "missing_parameter",
				       "give the request's type: \"access\" or \"erase\"");
	else if (!type || (strcmp(type, "access") != 0 && strcmp(type, "erase") != 0))
		rc = api_respond_error(resp, 400, "invalid_parameter",
				       "type must be \"access\" or \"erase\"");
	else if (n_ids > 1)
		rc = api_respond_error(resp, 400, "invalid_parameter",
				       "give one of the person's identifiers (%s), not several",
				       keys);
	else if (!by && (json_object_get(body, "email") || json_object_get(body, "phone")))
		rc = api_respond_error(
			resp, 400, "missing_parameter",
			"give the person's %s (a string): an email or a"
			" phone may be more than one person's; find whose it is first (GET"
			" /v1/profiles?email=...) and send that profile's custom_id or"
			" installation_id",
			keys);
	else if (privacy_body_problem(api, body, problem, sizeof(problem)))
		rc = api_respond_error(resp, 400, "invalid_parameter", "%s", problem);
	else if (!by)
		rc = api_respond_error(resp, 400, "missing_parameter",
				       "give the person's %s (a string)", keys);
	else if (strcmp(by, "profile_id") == 0 && privacy_profile_check(api, value, resp))
		rc = 1;
	else if (strcmp(type, "access") == 0)
		rc = privacy_access(api, by, value, resp);
	else
		rc = privacy_erase(api, by, value, resp);
	json_decref(body);
	return rc;
}

/* 1 when id is one request_new() draws: "pr_" and 16 hex digits. */
static int request_id_is_valid(const char *id)
{
	return strncmp(id, "pr_", 3) == 0 && strlen(id) == 19 &&
	       strspn(id + 3, "0123456789abcdef") == 16;
}

int api_get_privacy(struct api *api, const char *id, struct api_response *resp)
{
	char shown[RECORD_SHOW_SIZE], key[64], text[512];
	json_t *found = NULL;
	struct store *s;
	int rc;

	/* as a malformed profile ID is (api_profile_id_check): it was a 404
	 * "no privacy request", which told a client with a mangled ID (cut
	 * short, upper-cased) to look for a request that was never made */
	if (!request_id_is_valid(id))
		return api_respond_error(resp, 400, "invalid_parameter",
					 "id: \"%s\" is not a privacy request ID (pr_ and 16"
					 " hex digits, a-f lowercase, as POST /v1/privacy/requests"
					 " answers in \"id\")",
					 record_show(shown, id));
	if (!(s = api_pool_take(api)))
		return api_respond_store_unavailable(resp);
	request_key(key, sizeof(key), id);
	rc = s->ops->meta_get(s, key, text, sizeof(text));
	if (rc < 0) {
		log_error("api", "privacy request %s: %s", id, store_error(s));
		store_close(s);
		return api_respond_error(resp, 500, "store_error",
					 "the store failed; see the hub's log");
	}
	api_pool_give(api, s);
	if (rc == 1 && !(found = json_loads_whole(text, 0, NULL, NULL)))
		return api_respond_error(resp, 500, "internal",
					 "the request's record is unreadable");
	if (!found)
		return api_respond_error(resp, 404, "not_found", "no privacy request %s", id);
	return api_respond_json(resp, 200, found);
}
