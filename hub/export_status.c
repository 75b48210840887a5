/*
 * export_status.c - what the exporter keeps in the store besides its
 * cursor (the saved state: disabled or not, the last error, the config
 * fingerprint the state belongs to) and the status document that
 * `profilehub exports` and GET /v1/exports show.
 *
 * The status never shows a change's content (dead letters hold personal
 * data): only seqs, times, reasons and counts; and the backfill's state
 * and count, not its position (a profile ID).
 */
#include "export_int.h"

#include "alloc.h"
#include "util.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void export_key_cursor(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "export_cursor:%s", name);
}

void export_key_batch_end(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "export_batch_end:%s", name);
}

void export_key_state(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "export_state:%s", name);
}

/*
 * The fingerprint of an export's config: scrypt (RFC 7914) of its whole
 * mapping, secrets included (a new secret is a change: the usual fix of a
 * refused credential), the first 8 bytes in hex after "s:".  Slow on
 * purpose: the store keeps it, and whoever reads the store and knows the
 * rest of the config could test guesses of a short secret against a fast
 * digest at billions a second (older versions kept plain SHA-256: still
 * recognised, export_fingerprint_is_of()).  N = 2^14, r = 8: 16 MiB and
 * some 0.1 s, paid only where a disable is saved or read, once a config
 * in a process (fp_memo).  The salt is
 * fixed: what is hashed already holds the export's name and settings, so
 * no table computed ahead serves two deployments.
 */
#define FP_PREFIX "s:"
#define FP_SCRYPT_N 16384
#define FP_SCRYPT_R 8
#define FP_SCRYPT_P 1
#define FP_SCRYPT_MAXMEM (64u << 20)
static const char fp_salt[] = "profilehub export config fingerprint";

/* The n bytes at md as 2n lowercase hex digits and a NUL, into out. */
static void fingerprint_hex(const unsigned char *md, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * The fingerprints this process computed, by SHA-256 of the config text:
 * a config does not change while a process runs, so each GET /v1/exports
 * of a disabled export paid scrypt's 0.1 s again.  In memory only (the
 * process holds the config itself); a few entries, the oldest replaced.
 */
#define FP_MEMO_SIZE 16
static struct {
	unsigned char key[32];
	char fp[20];
} fp_memo[FP_MEMO_SIZE];
static unsigned fp_memo_used, fp_memo_next, fp_n_computed;
static pthread_mutex_t fp_memo_lock = PTHREAD_MUTEX_INITIALIZER;

/* 1 with the fingerprint of the config whose SHA-256 is key in out, else 0 */
static int fp_memo_get(const unsigned char key[32], char out[20])
{
	int is_found = 0;

	pthread_mutex_lock(&fp_memo_lock);
	for (unsigned i = 0; i < fp_memo_used && !is_found; i++)
		if (memcmp(fp_memo[i].key, key, 32) == 0) {
			memcpy(out, fp_memo[i].fp, 20);
			is_found = 1;
		}
	pthread_mutex_unlock(&fp_memo_lock);
	return is_found;
}

static void fp_memo_put(const unsigned char key[32], const char fp[20])
{
	pthread_mutex_lock(&fp_memo_lock);
	memcpy(fp_memo[fp_memo_next].key, key, 32);
	memcpy(fp_memo[fp_memo_next].fp, fp, 20);
	fp_memo_next = (fp_memo_next + 1) % FP_MEMO_SIZE;
	if (fp_memo_used < FP_MEMO_SIZE)
		fp_memo_used++;
	fp_n_computed++;
	pthread_mutex_unlock(&fp_memo_lock);
}

int export_fingerprint(const struct config_instance *ci, char out[20])
{
	unsigned char md[8], key[32];
	char *text = cfg_to_json(ci->node);
	int rc = -1;

	if (!text || !SHA256((const unsigned char *)text, strlen(text), key))
		goto out;
	if (fp_memo_get(key, out)) {
		rc = 0;
		goto out;
	}
	if (EVP_PBE_scrypt(text, strlen(text), (const unsigned char *)fp_salt,
			   sizeof(fp_salt) - 1, FP_SCRYPT_N, FP_SCRYPT_R, FP_SCRYPT_P,
			   FP_SCRYPT_MAXMEM, md, sizeof(md)) == 1) {
		memcpy(out, FP_PREFIX, 2);
		fingerprint_hex(md, sizeof(md), out + 2);
		fp_memo_put(key, out);
		rc = 0;
	}
out:
	hub_free(text);
	return rc;
}

unsigned export_fingerprint_n_computed(void)
{
	unsigned n;

	pthread_mutex_lock(&fp_memo_lock);
	n = fp_n_computed;
	pthread_mutex_unlock(&fp_memo_lock);
	return n;
}

/* The fingerprint older versions saved: the first 8 bytes of SHA-256 of
 * the config, in hex.  0 or -1. */
static int fingerprint_legacy(const struct config_instance *ci, char out[20])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char *text = cfg_to_json(ci->node);
	int rc = -1;

	if (text && EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL) == 1 &&
	    md_len >= 8) {
		fingerprint_hex(md, 8, out);
		rc = 0;
	}
	hub_free(text);
	return rc;
}

int export_fingerprint_is_legacy(const char *saved)
{
	return strlen(saved) == 16 && strspn(saved, "0123456789abcdef") == 16;
}

/* a and b equal, in a time that does not depend on where they differ */
static int fingerprint_equal(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

int export_fingerprint_is_of(const struct config_instance *ci, const char *saved,
			     const char *fp)
{
	char legacy[20];

	if (strncmp(saved, FP_PREFIX, 2) == 0)
		return fp[0] != '\0' && fingerprint_equal(saved, fp);
	return export_fingerprint_is_legacy(saved) && fingerprint_legacy(ci, legacy) == 0 &&
	       fingerprint_equal(saved, legacy);
}

static int saved_load(struct store *s, const char *name, struct export_saved *st, int is_held);

int export_fingerprint_upgrade(struct store *s, const char *name, const char *legacy,
			       const char *fp)
{
	struct export_saved saved;
	int rc;

	if (s->ops->begin(s))
		return -1;
	/* held: an enable another process has not committed yet is waited
	 * for and read (READ COMMITTED); read plainly, the disable read
	 * before it was written over it once it committed */
	rc = saved_load(s, name, &saved, 1);
	/* only the very state read before: another process may have
	 * enabled the export, or disabled it again, meanwhile */
	if (rc > 0 && saved.is_disabled && strcmp(saved.fingerprint, legacy) == 0) {
		snprintf(saved.fingerprint, sizeof(saved.fingerprint), "%s", fp);
		rc = export_saved_put(s, name, &saved);
	}
	if (rc < 0 || s->ops->commit(s)) {
		s->ops->rollback(s);
		return -1;
	}
	return 0;
}

int export_cursor_load(struct store *s, const char *name, int64_t *cursor)
{
	char key[300], text[32];
	int rc;

	export_key_cursor(key, sizeof(key), name);
	rc = s->ops->meta_get(s, key, text, sizeof(text));
	*cursor = rc == 1 ? strtoll(text, NULL, 10) : 0;
	return rc < 0 ? -1 : 0;
}

static const char *string_or_empty(json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v ? v : "";
}

int export_batch_end_load(struct store *s, const char *name, int64_t *end)
{
	char key[300], text[32];
	int rc;

	export_key_batch_end(key, sizeof(key), name);
	rc = s->ops->meta_get(s, key, text, sizeof(text));
	*end = rc == 1 ? strtoll(text, NULL, 10) : 0;
	return rc < 0 ? -1 : 0;
}

/* export_saved_load(), the state held to the transaction's end when
 * is_held (meta_get_held: a writer of it waits, and it waits for one). */
static int saved_load(struct store *s, const char *name, struct export_saved *st, int is_held)
{
	char key[300], text[2048];
	json_t *v;
	int rc;

	memset(st, 0, sizeof(*st));
	export_key_state(key, sizeof(key), name);
	rc = is_held ? s->ops->meta_get_held(s, key, text, sizeof(text))
		     : s->ops->meta_get(s, key, text, sizeof(text));
	if (rc <= 0)
		return rc;
	v = json_loads_whole(text, 0, NULL, NULL);
	if (!v)
		return 0; /* damaged: as if never saved */
	st->is_disabled = json_is_true(json_object_get(v, "disabled"));
	snprintf(st->error, sizeof(st->error), "%s", string_or_empty(v, "error"));
	st->error_at_ms = json_integer_value(json_object_get(v, "error_at"));
	st->is_error_past = json_is_true(json_object_get(v, "error_past"));
	snprintf(st->fingerprint, sizeof(st->fingerprint), "%s", string_or_empty(v, "config"));
	json_decref(v);
	return 1;
}

int export_saved_load(struct store *s, const char *name, struct export_saved *st)
{
	return saved_load(s, name, st, 0);
}

int export_meta_put_json(struct store *s, const char *key, json_t *v)
{
	char *text = v ? json_dumps_whole(v, JSON_COMPACT) : NULL;
	int rc;

	json_decref(v);
	if (!text) {
		err_set(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	rc = s->ops->meta_put(s, key, text);
	free(text); /* json_dumps() allocates with malloc */
	return rc;
}

int export_saved_put(struct store *s, const char *name, const struct export_saved *st)
{
	char key[300];

	export_key_state(key, sizeof(key), name);
	return export_meta_put_json(s, key,
				    json_pack("{s:b, s:s, s:I, s:b, s:s}", "disabled",
					      st->is_disabled, "error", st->error, "error_at",
					      (json_int_t)st->error_at_ms, "error_past",
					      st->is_error_past, "config",
					      /* only a disable needs it: none is
					       * kept that nothing reads */
					      st->is_disabled ? st->fingerprint : ""));
}

int export_enable(struct store *s, const char *name, int *was_disabled)
{
	struct export_saved saved;
	int rc;

	*was_disabled = 0;
	if (s->ops->begin(s))
		return -1;
	rc = export_saved_load(s, name, &saved);
	if (rc > 0 && saved.is_disabled) {
		/* the error stays, for `profilehub exports`; the config it
		 * was disabled under no longer matters */
		saved.is_disabled = 0;
		*was_disabled = 1;
		rc = export_saved_put(s, name, &saved);
	}
	if (rc < 0 || s->ops->commit(s)) {
		s->ops->rollback(s);
		return -1;
	}
	return 0;
}

/* ---- the status document --------------------------------------------- */

static json_t *time_or_null(int64_t ms)
{
	char buf[32];
	return ms > 0 ? json_string(time_format_ms(ms, buf, sizeof(buf))) : json_null();
}

struct dl_ctx {
	json_t *list;
	int failed;
};

/* A dead letter's reason as UTF-8, each ill-formed byte a '?': one stored
 * as the plugin gave it (SQLite kept Latin-1 text before the worker cleaned
 * it) failed every status and page, json_string() refusing it.  A new
 * reference, or NULL for want of memory. */
static json_t *reason_json(const char *reason)
{
	size_t size;
	char *clean;
	json_t *v;

	if (!reason || str_is_utf8(reason))
		return json_string(reason ? reason : "");
	size = strlen(reason) + 1; /* a '?' per ill-formed part: never longer */
	if (!(clean = hub_malloc(size)))
		return NULL;
	str_copy_utf8(clean, size, reason);
	v = json_string(clean);
	hub_free(clean);
	return v;
}

static int dead_letter_add(void *ctx, const struct store_dead_letter *d)
{
	struct dl_ctx *c = ctx;
	/* "o": NULL (no memory) fails the pack, which frees what it took */
	json_t *o = json_pack("{s:I, s:o, s:o}", "seq", (json_int_t)d->seq, "at",
			      time_or_null(d->at_ms), "reason", reason_json(d->reason));
	if (!o || json_array_append_new(c->list, o)) {
		c->failed = 1;
		return 1;
	}
	return 0;
}

/* Sets in o the fields of one part of the status, packed (json_pack's
 * `fmt` and its arguments; "o": a NULL for want of memory fails the pack,
 * which frees what it took): 0, or -1 for want of memory, o then with some
 * of them or none.  Each set was left unchecked: a status could come back
 * with fields missing instead of failing. */
static int status_set(json_t *o, const char *fmt, ...)
{
	json_t *part;
	va_list ap;

	va_start(ap, fmt);
	part = json_vpack_ex(NULL, 0, fmt, ap);
	va_end(ap);
	return json_object_update_new(o, part); /* -1 for a NULL part */
}

/* The last error, and whether it is past (delivered since): an export
 * that caught up after it is not failing.  0, or -1 for want of memory. */
static int status_error(json_t *o, const char *error, int64_t at_ms, int is_past)
{
	return status_set(o, "{s:o, s:o, s:b}", "last_error",
			  error[0] ? json_string(error) : json_null(), "last_error_at",
			  time_or_null(at_ms), "last_error_is_past", error[0] && is_past);
}

/* Whether the store has the export disabled under this configuration
 * (refused credentials, a configuration its plugin refused).  A
 * configuration naming a variable this process lacks (config_load_lazy_env:
 * `profilehub exports` in an operator's shell) has no fingerprint to
 * compare: the store's word stands (a hub started on a changed one clears
 * the disable). */
static int saved_is_disabled(const struct config_instance *ci, const struct export_saved *saved)
{
	char fp[20] = "";

	if (!saved->is_disabled || cfg_first_unset_env(ci->node))
		return saved->is_disabled;
	/* slow (export_fingerprint()): once a status, only for a disable */
	export_fingerprint(ci, fp);
	return export_fingerprint_is_of(ci, saved->fingerprint, fp);
}

/* State, error and counters: live when this process runs the export,
 * else what the store saved.  Live too, the cursor while this process
 * holds the export's lease, and the last error unless another process
 * holds it: that one moves them in the store, and this worker's copies
 * are what it read at its start or last take (*cursor and saved are what
 * the caller read from the store).  0, or -1 for want of memory. */
static int status_state(json_t *o, struct exporter *ex, const struct config_instance *ci,
			const struct export_saved *saved, int64_t *cursor)
{
	struct export_live live;
	const char *state = "enabled";

	if (ex && export_live_get(ex, ci->name, &live)) {
		if (live.lease > 0)
			*cursor = live.cursor;
		if (status_set(o, "{s:s, s:I, s:I}", "state", live.state, "delivered",
			       (json_int_t)live.delivered, "dead_lettered",
			       (json_int_t)live.dead_lettered) ||
		    (live.lease < 0 ? status_error(o, saved->error, saved->error_at_ms,
						   saved->is_error_past)
				    : status_error(o, live.last_error, live.last_error_at_ms,
						   live.is_error_past)))
			return -1;
		return status_set(o, "{s:o}", "next_attempt_at",
				  time_or_null(live.next_attempt_at_ms));
	}
	if (!ci->is_enabled)
		state = "off";
	else if (saved->is_disabled)
		state = "disabled";
	if (status_set(o, "{s:s}", "state", state))
		return -1;
	return status_error(o, saved->error, saved->error_at_ms, saved->is_error_past);
}

/* Why a running backfill makes no progress with this configuration, or
 * NULL: the export is off; disabled, saved so (saved) or in the state
 * status_state() put in o (a plugin that could not start, till a restart),
 * named with its error; or its kinds leave out profile_updated.  A
 * disabled one said nothing: it seemed to run. */
static const char *backfill_waiting(const struct hub_config *cfg,
				    const struct config_instance *ci,
				    const struct export_saved *saved, json_t *o, char *buf,
				    size_t size)
{
	const char *state = json_string_value(json_object_get(o, "state"));
	const char *error = json_string_value(json_object_get(o, "last_error"));
	int is_saved = saved->is_disabled;

	if (!ci->is_enabled)
		return "the export is off (enabled: false): the backfill goes on when it is on";
	if (is_saved || (state && strcmp(state, "disabled") == 0)) {
		snprintf(buf, size, "the export is disabled (%s): the backfill goes on once %s",
			 is_saved ? saved->error : error ? error : "no reason known",
			 is_saved ? "its configuration changes"
				  : "the hub restarts and its plugin can start");
		return buf;
	}
	if (export_backfill_check(cfg, ci->name, buf, size) == EXPORT_BACKFILL_NO_UPDATES)
		return buf;
	return NULL;
}

/*
 * Why a part of the status could not be read: the store failed (its error
 * says why) or memory ran out.  Told apart where they happen: the store's
 * error is not cleared by the statements that succeed, and GET /v1/exports
 * keeps its connection, so after a failure for want of memory it was an
 * earlier statement's, unrelated.
 */
enum status_rc {
	STATUS_OK = 0,
	STATUS_STORE_FAILED = -1,
	STATUS_NO_MEMORY = -2,
};

/* The backfill as the status shows it into *out, null when none was ever
 * asked for.  A running one says what it waits for (o: the export's
 * status so far, with its state and last error). */
static enum status_rc status_backfill(struct store *s, const struct hub_config *cfg,
				      const struct config_instance *ci,
				      const struct export_saved *saved, json_t *o, json_t **out)
{
	struct export_backfill b;
	char why[1280];
	const char *waiting;
	int rc = export_backfill_load(s, ci->name, &b, 0);

	if (rc < 0)
		return STATUS_STORE_FAILED;
	if (rc == 0 || b.state == BACKFILL_NONE) {
		*out = json_null();
		return STATUS_OK;
	}
	waiting = b.state == BACKFILL_RUNNING
			  ? backfill_waiting(cfg, ci, saved, o, why, sizeof(why))
			  : NULL;
	*out = json_pack("{s:s, s:I, s:o, s:o, s:o}", "state", export_backfill_state_name(b.state),
			 "profiles", (json_int_t)b.sent,
			 "started_at", time_or_null(b.started_at_ms),
			 "finished_at", time_or_null(b.finished_at_ms), "waiting",
			 waiting ? json_string(waiting) : json_null());
	return *out ? STATUS_OK : STATUS_NO_MEMORY;
}

/* One export's status into *out (a new reference). */
static enum status_rc status_one(struct exporter *ex, struct store *s,
				 const struct hub_config *cfg, const struct config_instance *ci,
				 size_t dl_max, json_t **out)
{
	json_t *backfill;
	struct export_saved saved;
	struct dl_ctx dl = {json_array(), 0};
	int64_t cursor = 0, last = 0, n_dead = 0;
	json_t *o = json_pack("{s:s, s:s, s:b}", "name", ci->name, "plugin", ci->plugin,
			      "enabled", ci->is_enabled);
	enum status_rc rc = STATUS_STORE_FAILED;

	if (!o || !dl.list)
		goto nomem;
	if (export_saved_load(s, ci->name, &saved) < 0 ||
	    export_cursor_load(s, ci->name, &cursor))
		goto fail;
	/* from here: disabled under this configuration */
	saved.is_disabled = saved_is_disabled(ci, &saved);
	if (status_state(o, ex, ci, &saved, &cursor))
		goto nomem;
	if (export_outbox_last_seq(s, cursor, &last))
		goto fail;
	/* lag: a distance in seqs, not a count of the export's changes (export.h) */
	if (status_set(o, "{s:I, s:I, s:I}", "cursor", (json_int_t)cursor, "last_seq",
		       (json_int_t)last, "lag", (json_int_t)(last > cursor ? last - cursor : 0)))
		goto nomem;
	if ((rc = status_backfill(s, cfg, ci, &saved, o, &backfill)) != STATUS_OK)
		goto fail;
	if (json_object_set_new(o, "backfill", backfill))
		goto nomem;
	rc = STATUS_STORE_FAILED;
	if (dl_max && s->ops->dead_letter_list(s, ci->name, 0, dl_max, dead_letter_add, &dl))
		goto fail;
	if (dl.failed)
		goto nomem;
	/* the list is o's, or freed, either way */
	if (json_object_set_new(o, "dead_letters", dl.list)) {
		dl.list = NULL;
		goto nomem;
	}
	dl.list = NULL;
	/* the list holds the first dl_max: how many there are in all */
	if (s->ops->dead_letter_count(s, ci->name, &n_dead))
		goto fail;
	if (status_set(o, "{s:I}", "dead_letters_total", (json_int_t)n_dead))
		goto nomem;
	*out = o;
	return STATUS_OK;
nomem:
	rc = STATUS_NO_MEMORY;
fail:
	json_decref(dl.list);
	json_decref(o);
	return rc;
}

/* dead_letter_add() with one more than the page holds: its seq is not
 * listed, but says a next page follows. */
struct dl_page {
	struct dl_ctx dl;
	size_t limit, n;
	int64_t last_seq; /* of the last one listed */
};

static int dead_letter_page_add(void *ctx, const struct store_dead_letter *d)
{
	struct dl_page *pg = ctx;

	if (++pg->n > pg->limit)
		return 1;
	pg->last_seq = d->seq;
	return dead_letter_add(&pg->dl, d);
}

static void (*dead_letters_hook)(void *ctx); /* tests */
static void *dead_letters_hook_ctx;

void export_set_dead_letters_hook(void (*hook)(void *ctx), void *ctx)
{
	dead_letters_hook = hook;
	dead_letters_hook_ctx = ctx;
}

/* The page's list then its total: one snapshot only in the caller's. */
static int dead_letters_read(struct store *s, const char *name, int64_t after,
			     struct dl_page *pg, int64_t *total)
{
	if (s->ops->dead_letter_list(s, name, after, pg->limit + 1, dead_letter_page_add, pg))
		return -1;
	if (pg->dl.failed)
		return 0;
	if (dead_letters_hook)
		dead_letters_hook(dead_letters_hook_ctx);
	return s->ops->dead_letter_count(s, name, total);
}

json_t *export_dead_letters_page(struct store *s, const char *name, int64_t after,
				 size_t limit, char *err, size_t err_size)
{
	struct dl_page pg = {{json_array(), 0}, limit, 0, 0};
	int64_t total = 0;
	char next[24];
	json_t *page;

	if (!pg.dl.list)
		goto nomem;
	if (dead_letters_read(s, name, after, &pg, &total)) {
		err_set(err, err_size, "%s", store_error(s));
		json_decref(pg.dl.list);
		return NULL;
	}
	if (pg.dl.failed) {
		json_decref(pg.dl.list);
		goto nomem;
	}
	snprintf(next, sizeof(next), "%lld", (long long)pg.last_seq);
	/* "o": the list is the page's, or freed with it on a failure */
	page = json_pack("{s:s, s:o, s:I, s:o}", "export", name, "dead_letters", pg.dl.list,
			 "dead_letters_total", (json_int_t)total, "next",
			 pg.n > pg.limit ? json_string(next) : json_null());
	if (page)
		return page;
nomem: /* said as such, not as the store's last error (an earlier one's) */
	err_set(err, err_size, "out of memory");
	return NULL;
}

int export_lag_read(struct exporter *ex, struct store *s, const struct hub_config *cfg,
		    struct export_lag *out, size_t max)
{
	struct export_live live;
	size_t n = 0;

	for (; n < cfg->n_exports && n < max; n++) {
		const char *name = cfg->exports[n].name;
		out[n].name = name;
		if (export_cursor_load(s, name, &out[n].cursor))
			return -1;
		/* as status_state(): this worker's while it holds the lease */
		if (ex && export_live_get(ex, name, &live) && live.lease > 0)
			out[n].cursor = live.cursor;
		if (export_outbox_last_seq(s, out[n].cursor, &out[n].last_seq))
			return -1;
	}
	return (int)n;
}

/* [{"name", "cursor"}] of the exports the store knows from other
 * configurations into *out (a new reference).  A name list that could not
 * be kept for want of memory is the store's failure, said so in its error
 * (export_known_elsewhere). */
static enum status_rc status_elsewhere(struct store *s, const struct hub_config *cfg,
				       json_t **out)
{
	char(*names)[EXPORT_NAME_SIZE] = NULL;
	json_t *list = json_array();
	enum status_rc rc = STATUS_NO_MEMORY;
	size_t n = 0;

	if (!list)
		goto fail;
	rc = STATUS_STORE_FAILED;
	if (export_known_elsewhere(s, cfg, &names, &n))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		int64_t cursor;
		rc = STATUS_STORE_FAILED;
		if (export_cursor_load(s, names[i], &cursor))
			goto fail;
		rc = STATUS_NO_MEMORY;
		if (json_array_append_new(list, json_pack("{s:s, s:I}", "name", names[i], "cursor",
							  (json_int_t)cursor)))
			goto fail;
	}
	hub_free(names);
	*out = list;
	return STATUS_OK;
fail:
	hub_free(names);
	json_decref(list);
	return rc;
}

json_t *export_status_json(struct exporter *ex, struct store *s, const struct hub_config *cfg,
			   size_t dead_letters_max, char *err, size_t err_size)
{
	json_t *list = json_array(), *o = NULL, *elsewhere = NULL, *status;
	enum status_rc rc = list ? STATUS_OK : STATUS_NO_MEMORY;

	for (size_t i = 0; rc == STATUS_OK && i < cfg->n_exports; i++) {
		rc = status_one(ex, s, cfg, &cfg->exports[i], dead_letters_max, &o);
		if (rc == STATUS_OK && json_array_append_new(list, o))
			rc = STATUS_NO_MEMORY;
	}
	if (rc == STATUS_OK && (rc = status_elsewhere(s, cfg, &elsewhere)) == STATUS_OK) {
		/* "o": both are the status's, or freed with it on a failure */
		status = json_pack("{s:o, s:o}", "exports", list, "elsewhere", elsewhere);
		if (status)
			return status;
		list = NULL;
		rc = STATUS_NO_MEMORY;
	}
	if (rc == STATUS_NO_MEMORY) /* said as such, not as the store's last error */
		err_set(err, err_size, "out of memory");
	else
		err_set(err, err_size, "%s", store_error(s));
	json_decref(list);
	return NULL;
}
