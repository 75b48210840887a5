/*
 * export.c - the exporter as the rest of the hub sees it: each export's
 * keys of the config (`kinds`, `attributes`, `backfill`, `batch_size`),
 * one thread per enabled export started (export_worker.c) and stopped,
 * woken on new changes, and what other threads ask of it: the status
 * (export_status.c), the lag for GET /metrics, a backfill, dead letters
 * sent again.
 *
 * Runs on the hub's threads (its start and stop, the API's), never on a
 * worker's: it delivers nothing and moves no cursor.  What it shares with
 * the workers is struct exporter, under its locks (export_int.h).  Nothing
 * here knows SQL, HTTP or a plugin's protocol.
 */
#include "export_int.h"

#include "alloc.h"
#include "log.h"
#include "outage.h"
#include "plugin.h"
#include "record.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BATCH_DEFAULT 100
#define BATCH_MAX 10000

/* ---- configuration ---------------------------------------------------- */

/* The `kinds` of an export as a mask of feed kinds (every kind when it has
 * none). */
static int read_kinds(const struct config_instance *ci, unsigned *mask, char *err,
		      size_t err_size)
{
	const struct cfg_node *n = cfg_get(ci->node, "kinds");
	char key[64], path[80];

	*mask = 0;
	if (!n || n->kind != CFG_SEQ)
		return 0;
	cfg_path_key(key, sizeof(key), ci->path, "kinds");
	if (n->n_children == 0) { /* a mask of none is every kind */
		cfg_errorf(err, err_size, n, 0, key,
			   "lists no kind, which would deliver every one: leave the key out to"
			   " deliver every kind, or list those to deliver (%s)", feed_kind_list());
		return -1;
	}
	for (size_t i = 0; i < n->n_children; i++) {
		const struct cfg_node *k = &n->children[i];
		const char *name = k->value ? k->value : "", *best;
		int kind = feed_kind_parse(name);
		if (kind < 0) {
			cfg_path_index(path, sizeof(path), key, i);
			best = feed_kind_closest(name);
			cfg_errorf(err, err_size, k, 0, path, "unknown change kind (%s%s%s%s)",
				   best ? "did you mean \"" : "", best ? best : "",
				   best ? "\"?; " : "", feed_kind_list());
			return -1;
		}
		*mask |= 1u << kind;
	}
	return 0;
}

/* The `attributes` an export lists, NULL when it lists none (it is sent
 * every attribute). */
static const struct cfg_node *listed_attributes(const struct config_instance *ci)
{
	const struct cfg_node *n = cfg_get(ci->node, "attributes");

	return n && n->kind == CFG_SEQ && n->n_children ? n : NULL;
}

/* `attributes: []` lists none, and the worker sends every attribute when
 * none is listed (as without the key): refused, whichever was meant, so
 * that a list emptied by mistake never sends what it meant to keep.  A
 * name no profile holds ("", "Plan", "$email") is refused too: it kept
 * nothing, and a list of only such names sent profiles without any. */
static int check_attributes(const struct config_instance *ci, char *err, size_t err_size)
{
	const struct cfg_node *n = cfg_get(ci->node, "attributes");
	char key[64], path[80], why[320];

	if (!n || n->kind != CFG_SEQ)
		return 0;
	cfg_path_key(key, sizeof(key), ci->path, "attributes");
	if (!n->n_children) {
		cfg_errorf(err, err_size, n, 0, key,
			   "lists no attribute, which would send every one: leave the key out"
			   " to send every attribute, or list those to send");
		return -1;
	}
	for (size_t i = 0; i < n->n_children; i++) {
		const struct cfg_node *a = &n->children[i];

		if (!record_attr_key_refusal(a->value ? a->value : "", why, sizeof(why)))
			continue;
		cfg_path_index(path, sizeof(path), key, i);
		cfg_errorf(err, err_size, a, 0, path, "%s", why);
		return -1;
	}
	return 0;
}

static int filter_attributes(struct export_worker *w)
{
	const struct cfg_node *n = listed_attributes(w->conf);

	if (!n)
		return 0;
	w->filter.attributes = hub_calloc(n->n_children + 1, sizeof(*w->filter.attributes));
	if (!w->filter.attributes)
		return -1;
	for (size_t i = 0; i < n->n_children; i++)
		if (n->children[i].value)
			w->filter.attributes[w->filter.n_attributes++] = n->children[i].value;
	return 0;
}

/* `backfill` (default true); it runs only when profile_updated is wanted. */
static int read_backfill(const struct config_instance *ci, unsigned kinds_mask, int *is_on,
			 char *err, size_t err_size)
{
	const struct cfg_node *n = cfg_get(ci->node, "backfill");

	*is_on = 1;
	if (n && !(n->kind == CFG_SCALAR && n->is_null) && cfg_as_bool(n, is_on)) {
		char path[64];
		cfg_path_key(path, sizeof(path), ci->path, "backfill");
		cfg_errorf(err, err_size, n, 0, path, "expected true or false");
		return -1;
	}
	if (kinds_mask && !(kinds_mask & (1u << FEED_PROFILE_UPDATED)))
		*is_on = 0;
	return 0;
}

int export_is_backfill_off(const struct config_instance *ci)
{
	const struct cfg_node *n = cfg_get(ci->node, "backfill");
	int is_on = 1;

	return n && !(n->kind == CFG_SCALAR && n->is_null) && cfg_as_bool(n, &is_on) == 0 &&
	       !is_on;
}

static int read_batch_size(const struct config_instance *ci, size_t *size, char *err,
			   size_t err_size)
{
	const struct cfg_node *n = cfg_get(ci->node, "batch_size");
	int64_t v = BATCH_DEFAULT;

	if (n && !(n->kind == CFG_SCALAR && n->is_null) &&
	    (cfg_as_int(n, &v) || v < 1 || v > BATCH_MAX)) {
		char path[64];
		cfg_path_key(path, sizeof(path), ci->path, "batch_size");
		cfg_errorf(err, err_size, n, 0, path, "expected 1 to %d", BATCH_MAX);
		return -1;
	}
	*size = (size_t)v;
	return 0;
}

int export_check_config(const struct config_instance *ci, char *err, size_t err_size)
{
	unsigned mask;
	size_t size;
	int is_on;

	return read_kinds(ci, &mask, err, err_size) || check_attributes(ci, err, err_size) ||
			       read_backfill(ci, mask, &is_on, err, err_size) ||
			       read_batch_size(ci, &size, err, err_size)
		       ? -1
		       : 0;
}

/* Sets on obj a string array `key` of the mask's kind names. */
static int set_kinds(json_t *obj, unsigned mask)
{
	json_t *a = json_array();

	for (int k = 0; a && k < FEED_N_KINDS; k++)
		if ((mask & (1u << k)) && json_array_append_new(a, json_string(feed_kind_name(k))))
			goto fail;
	return json_object_set_new(obj, "kinds", a);
fail:
	json_decref(a);
	return -1;
}

static int set_attributes(json_t *obj, const struct cfg_node *n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n->n_children; i++)
		if (n->children[i].value &&
		    json_array_append_new(a, json_string(n->children[i].value)))
			goto fail;
	return json_object_set_new(obj, "attributes", a);
fail:
	json_decref(a);
	return -1;
}

int export_filters_json(const struct config_instance *ci, json_t *obj)
{
	const struct cfg_node *attrs = listed_attributes(ci);
	unsigned mask = 0;
	char err[256];

	if (read_kinds(ci, &mask, err, sizeof(err)) == 0 && mask && set_kinds(obj, mask))
		return -1;
	return attrs && set_attributes(obj, attrs) ? -1 : 0;
}

/* Checks one export against its plugin and creates its instance; a
 * create() failure only disables it. */
static int worker_init(struct exporter *ex, struct export_worker *w,
		       const struct config_instance *ci, char *err, size_t err_size)
{
	char raw[sizeof(w->create_error)] = "";

	w->ex = ex;
	w->conf = ci;
	w->live.state = "starting";
	snprintf(w->who, sizeof(w->who), "export %s", ci->name);
	w->mod = plugin_registry_find(&ex->reg, ci->plugin);
	if (!w->mod) {
		plugin_registry_missing_at(&ex->reg, ci, err, err_size);
		return -1;
	}
	w->filter.export_name = ci->name;
	if (plugin_instance_check(w->mod, ci, 1, err, err_size) ||
	    read_kinds(ci, &w->filter.kinds_mask, err, err_size) ||
	    check_attributes(ci, err, err_size) ||
	    read_backfill(ci, w->filter.kinds_mask, &w->is_backfill_on, err, err_size) ||
	    read_batch_size(ci, &w->batch_size, err, err_size))
		return -1;
	if (filter_attributes(w)) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	if (plugin_instance_create(w->mod, ci, &w->inst, raw, sizeof(raw))) {
		w->inst = NULL;
		/* UTF-8, as the 409 of POST /v1/exports/<name>/enable, the
		 * status and the log quote it (a library's Latin-1 text made
		 * that answer impossible to build) */
		str_copy_utf8(w->create_error, sizeof(w->create_error), raw);
	}
	return 0;
}

static int open_registry(struct exporter *ex, char *err, size_t err_size)
{
	char *dir = ex->cfg->plugin_dir ? hub_strdup(ex->cfg->plugin_dir) : plugin_default_dir();
	int rc;

	if (!dir) {
		err_set(err, err_size, "cannot find the plugin directory");
		return -1;
	}
	rc = plugin_registry_open(&ex->reg, dir, err, err_size);
	hub_free(dir);
	ex->has_reg = rc == 0;
	return rc;
}

static int exporter_init_sync(struct exporter *ex)
{
	if (time_cond_init(&ex->wake))
		return -1;
	if (time_cond_init(&ex->idle)) {
		pthread_cond_destroy(&ex->wake);
		return -1;
	}
	pthread_mutex_init(&ex->lock, NULL);
	pthread_mutex_init(&ex->status_lock, NULL);
	pthread_mutex_init(&ex->lag_lock, NULL);
	pthread_mutex_init(&ex->prune_lock, NULL);
	return 0;
}

/* Every export of the configuration, enabled or not, is registered in
 * the store before anything runs, so that every process sharing it keeps
 * the feed for them (export_known.c). */
static int register_exports(const struct hub_config *cfg, char *err, size_t err_size)
{
	struct store *s = NULL;
	int rc;

	if (cfg->n_exports == 0)
		return 0;
	if (store_open_existing(cfg, &s, err, err_size))
		return -1;
	rc = export_register_in(s, cfg, err, err_size);
	store_close(s);
	return rc;
}

int export_register_in(struct store *s, const struct hub_config *cfg, char *err, size_t err_size)
{
	if (export_known_register(s, cfg) == 0)
		return 0;
	err_set(err, err_size, "registering the exports in the store: %s", store_error(s));
	return -1;
}

int export_start(struct exporter **out, const struct hub_config *cfg, char *err,
		 size_t err_size)
{
	struct exporter *ex = hub_calloc(1, sizeof(*ex));
	size_t n = 0;

	*out = NULL;
	if (!ex || exporter_init_sync(ex)) {
		hub_free(ex);
		err_set(err, err_size, "out of memory");
		return -1;
	}
	ex->cfg = cfg;
	if (register_exports(cfg, err, err_size))
		goto fail;
	for (size_t i = 0; i < cfg->n_exports; i++)
		n += cfg->exports[i].is_enabled != 0;
	if (n == 0)
		goto done;
	if (open_registry(ex, err, err_size) ||
	    !(ex->workers = hub_calloc(n, sizeof(*ex->workers))))
		goto fail;
	for (size_t i = 0; i < cfg->n_exports; i++) {
		if (!cfg->exports[i].is_enabled)
			continue;
		if (worker_init(ex, &ex->workers[ex->n_workers++], &cfg->exports[i], err,
				err_size))
			goto fail;
	}
	for (size_t i = 0; i < ex->n_workers; i++) {
		struct export_worker *w = &ex->workers[i];
		if (pthread_create(&w->thread, NULL, export_worker_main, w) != 0) {
			err_set(err, err_size, "cannot start the thread of export \"%s\"",
				w->conf->name);
			goto fail;
		}
		w->has_thread = 1;
	}
done:
	*out = ex;
	return 0;
fail:
	if (ex->has_reg && !err[0])
		err_set(err, err_size, "out of memory");
	export_stop(ex);
	return -1;
}

#define EXPORT_STOP_NOTE_S 10 /* how often a stop still waiting says so */

static _Atomic int64_t stop_note_s = EXPORT_STOP_NOTE_S; /* tests shorten it */

int64_t export_set_stop_note(int64_t s)
{
	return atomic_exchange(&stop_note_s, s > 0 ? s : EXPORT_STOP_NOTE_S);
}

/* Joins a worker's thread.  Every EXPORT_STOP_NOTE_S it has not ended (a
 * plugin blocked in export_batch(), not checking should_stop()), logs what
 * the stop waits for; on the monotonic clock (ex->idle's), so that a wall
 * clock set back does not hold the note back.  The wait is on w->is_exited
 * under the lock, then a plain pthread_join(): ThreadSanitizer does not
 * know pthread_clockjoin_np (GCC 12), so a timed join hid the join from it
 * and everything the stop freed after showed as a race with the worker. */
static void worker_join(struct export_worker *w)
{
	struct exporter *ex = w->ex;
	struct timespec until;
	const char *state;
	int64_t waited_s = 0, every_s = atomic_load(&stop_note_s);

	time_deadline(&until, CLOCK_MONOTONIC, every_s * 1000);
	pthread_mutex_lock(&ex->lock);
	while (!w->is_exited) {
		if (pthread_cond_timedwait(&ex->idle, &ex->lock, &until) != ETIMEDOUT)
			continue;
		waited_s += every_s;
		state = w->live.state;
		pthread_mutex_unlock(&ex->lock);
		log_warn(w->who, "stopping: still waiting after %" PRId64 " s for plugin %s (%s)%s",
			 waited_s, w->mod->name, state,
			 strcmp(state, "delivering") == 0 ? ": its export_batch() has not returned"
							  : "");
		time_deadline(&until, CLOCK_MONOTONIC, every_s * 1000);
		pthread_mutex_lock(&ex->lock);
	}
	pthread_mutex_unlock(&ex->lock);
	pthread_join(w->thread, NULL); /* it has returned, or is about to */
}

void export_stop(struct exporter *ex)
{
	if (!ex)
		return;
	pthread_mutex_lock(&ex->lock);
	atomic_store(&ex->stop, 1);
	pthread_cond_broadcast(&ex->wake);
	pthread_mutex_unlock(&ex->lock);
	for (size_t i = 0; i < ex->n_workers; i++) {
		struct export_worker *w = &ex->workers[i];
		if (w->has_thread)
			worker_join(w);
		plugin_instance_destroy(w->inst);
		hub_free(w->filter.attributes);
		hub_free(w->texts);
		hub_free(w->rows);
	}
	hub_free(ex->workers);
	if (ex->has_reg)
		plugin_registry_close(&ex->reg);
	store_close(ex->status_store);
	store_close(ex->lag_store);
	hub_free(ex->lag_kept);
	pthread_mutex_destroy(&ex->status_lock);
	pthread_mutex_destroy(&ex->lag_lock);
	pthread_mutex_destroy(&ex->prune_lock);
	pthread_cond_destroy(&ex->wake);
	pthread_cond_destroy(&ex->idle);
	pthread_mutex_destroy(&ex->lock);
	hub_free(ex);
}

void export_notify(struct exporter *ex)
{
	if (!ex)
		return;
	pthread_mutex_lock(&ex->lock);
	ex->wake_gen++;
	pthread_cond_broadcast(&ex->wake);
	pthread_mutex_unlock(&ex->lock);
}

/* 1 when every worker has read to the end since generation gen (or will
 * not read again). */
static int all_idle_since(struct exporter *ex, uint64_t gen)
{
	for (size_t i = 0; i < ex->n_workers; i++) {
		const struct export_worker *w = &ex->workers[i];
		const char *st = w->live.state;
		if (w->idle_gen < gen && strcmp(st, "disabled") != 0 && strcmp(st, "stopped") != 0)
			return 0;
	}
	return 1;
}

int export_wait_idle(struct exporter *ex, int64_t timeout_ms)
{
	struct timespec until;
	int rc = 0;

	time_deadline(&until, CLOCK_MONOTONIC, timeout_ms);
	/* the generation waited for is the latest: a worker that wrote to the
	 * feed meanwhile (a backfill page) woke the others to read it */
	pthread_mutex_lock(&ex->lock);
	++ex->wake_gen;
	pthread_cond_broadcast(&ex->wake);
	while (!all_idle_since(ex, ex->wake_gen))
		if (pthread_cond_timedwait(&ex->idle, &ex->lock, &until) != 0) {
			rc = all_idle_since(ex, ex->wake_gen) ? 0 : -1;
			break;
		}
	pthread_mutex_unlock(&ex->lock);
	return rc;
}

/* GET /v1/exports that cannot read the store: a line at most this often */
#define STATUS_LOG_MS 10000

/*
 * Requests whose status cannot be read (the store down) are logged as a
 * state, as the API's other routes log theirs (api.c), not one line each:
 * a dashboard polling GET /v1/exports through an outage wrote an error line
 * a request.  The first with its cause, then at most one line every
 * STATUS_LOG_MS with the count, and one when a request reads it again.
 */
static const struct outage_words status_outage_words = {
	.module = "export",
	.every_ms = STATUS_LOG_MS,
	.first = "status for GET /v1/exports",
	.meanwhile = "it is answered 503 until the store can be read",
	.ongoing = "status for GET /v1/exports unread",
	.counted = "requests answered 503",
	.over = "status for GET /v1/exports read again",
	.was = "unread",
};

json_t *export_status_provider(void *exporter)
{
	struct exporter *ex = exporter;
	json_t *status = NULL;
	char err[512] = "";

	if (!ex)
		return NULL;
	pthread_mutex_lock(&ex->status_lock);
	if (ex->status_store ||
	    store_open_existing(ex->cfg, &ex->status_store, err, sizeof(err)) == 0)
		status = export_status_json(ex, ex->status_store, ex->cfg, 100, err, sizeof(err));
	if (!status)
		outage_note_failure(&ex->status_outage, &status_outage_words, 1, err);
	else
		outage_note_ok(&ex->status_outage, &status_outage_words);
	pthread_mutex_unlock(&ex->status_lock);
	return status;
}

size_t export_stats(struct exporter *ex, struct export_stat *out, size_t max)
{
	int64_t now = time_mono_ms();
	size_t n = 0;

	if (!ex)
		return 0;
	pthread_mutex_lock(&ex->lock);
	for (; n < ex->n_workers && n < max; n++) {
		const struct export_worker *w = &ex->workers[n];
		out[n].name = w->conf->name;
		out[n].delivered = w->live.delivered;
		out[n].dead_lettered = w->live.dead_lettered;
		out[n].is_disabled = strcmp(w->live.state, "disabled") == 0;
		out[n].is_leased = w->live.lease == 1;
		out[n].is_failing = w->live.failing_began_ms != 0;
		out[n].failing_ms = out[n].is_failing ? now - w->live.failing_began_ms : 0;
		out[n].failed_attempts = w->live.failed_attempts;
	}
	pthread_mutex_unlock(&ex->lock);
	return n;
}

size_t export_count(const struct exporter *ex)
{
	return ex ? ex->cfg->n_exports : 0;
}

#define LAG_LOG_MS 60000 /* scrapes that cannot read the lag: a line at most this often */

/*
 * Scrapes that cannot read the lag (the store down) are logged as a state,
 * not one line each (a scrape every 15 s for an hour of outage): the first
 * with its cause, then at most one line every LAG_LOG_MS naming the count,
 * and one when a scrape reads it again.
 */
static const struct outage_words lag_outage_words = {
	.module = "export",
	.every_ms = LAG_LOG_MS,
	.first = "lag for /metrics",
	.meanwhile = "export_lag_changes is left out until it can be read",
	.ongoing = "lag for /metrics unread",
	.counted = "scrapes",
	.over = "lag for /metrics read again",
	.was = "unread",
};

/* Keeps the n lags a read found (none when it failed: n < 0) for the
 * scrapes that come while the next read waits on the store. */
static void lag_keep(struct exporter *ex, const struct export_lag *lags, int n)
{
	pthread_mutex_lock(&ex->lock);
	if (!ex->lag_kept && n > 0)
		ex->lag_kept = hub_calloc(ex->cfg->n_exports, sizeof(*ex->lag_kept));
	ex->n_lag_kept = ex->lag_kept && n > 0 ? (size_t)n : 0;
	if (ex->n_lag_kept)
		memcpy(ex->lag_kept, lags, ex->n_lag_kept * sizeof(*lags));
	ex->lag_kept_ms = time_mono_ms();
	pthread_mutex_unlock(&ex->lock);
}

/* The lags kept by the last read (at most max), *age_ms since it. */
static int lag_kept_get(struct exporter *ex, struct export_lag *out, size_t max,
			int64_t *age_ms)
{
	size_t n;

	pthread_mutex_lock(&ex->lock);
	n = ex->n_lag_kept < max ? ex->n_lag_kept : max;
	if (n)
		memcpy(out, ex->lag_kept, n * sizeof(*out));
	*age_ms = time_mono_ms() - ex->lag_kept_ms;
	pthread_mutex_unlock(&ex->lock);
	return (int)n;
}

int export_lag_provider(struct exporter *ex, struct export_lag *out, size_t max,
			int64_t *age_ms)
{
	char err[512] = "";
	int n = -1;

	*age_ms = 0;
	if (export_count(ex) == 0 || max == 0)
		return 0;
	if (pthread_mutex_trylock(&ex->lag_lock) != 0)
		return lag_kept_get(ex, out, max, age_ms); /* a read is under way */
	if (ex->lag_store || store_open_existing(ex->cfg, &ex->lag_store, err, sizeof(err)) == 0) {
		if (ex->lag_hook)
			ex->lag_hook(ex->lag_hook_ctx, ex->lag_store);
		n = export_lag_read(ex, ex->lag_store, ex->cfg, out, max);
		if (n < 0)
			err_set(err, sizeof(err), "%s", store_error(ex->lag_store));
	}
	if (n < 0)
		outage_note_failure(&ex->lag_outage, &lag_outage_words, 1, err);
	else
		outage_note_ok(&ex->lag_outage, &lag_outage_words);
	lag_keep(ex, out, n);
	pthread_mutex_unlock(&ex->lag_lock);
	return n;
}

void export_set_lag_hook(struct exporter *ex, void (*hook)(void *ctx, struct store *s),
			 void *ctx)
{
	ex->lag_hook = hook;
	ex->lag_hook_ctx = ctx;
}

/* ---- asking for a backfill ------------------------------------------------ */

const struct config_instance *export_config(const struct hub_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_exports; i++)
		if (strcmp(cfg->exports[i].name, name) == 0)
			return &cfg->exports[i];
	return NULL;
}

enum export_backfill_check export_backfill_check(const struct hub_config *cfg, const char *name,
						 char *err, size_t err_size)
{
	const struct config_instance *ci = export_config(cfg, name);
	unsigned mask = 0;
	char kerr[256];

	if (!ci) {
		config_missing_export(cfg, name, err, err_size);
		return EXPORT_BACKFILL_NO_EXPORT;
	}
	if (read_kinds(ci, &mask, kerr, sizeof(kerr)) == 0 && mask &&
	    !(mask & (1u << FEED_PROFILE_UPDATED))) {
		err_set(err, err_size, "export %s: its kinds leave out profile_updated, so a"
			" backfill would send it nothing", name);
		return EXPORT_BACKFILL_NO_UPDATES;
	}
	return EXPORT_BACKFILL_OK;
}

/* An API action's export: 0 in the configuration; 1 not (*why
 * EXPORT_BACKFILL_NO_EXPORT, err says it); -1 no exporter. */
static int provider_named(struct exporter *ex, const char *name, int *why, char *err,
			  size_t err_size)
{
	*why = EXPORT_BACKFILL_OK;
	if (!ex) {
		err_set(err, err_size, "no exporter");
		return -1;
	}
	if (!export_config(ex->cfg, name)) {
		config_missing_export(ex->cfg, name, err, err_size);
		*why = EXPORT_BACKFILL_NO_EXPORT;
		return 1;
	}
	return 0;
}

/* Retrying only puts dead letters back in the shared feed, for the
 * export's own worker wherever it runs: an export another hub's
 * configuration runs (known to the store) is retried from any hub, as its
 * dead letters are read from any (GET /v1/exports/<name>/dead_letters),
 * while a process runs it (export_retry_check): else they stay dead
 * letters. */
int export_retry_provider(void *exporter, const char *name, int *why, int64_t *n_retried,
			  char *err, size_t err_size)
{
	struct exporter *ex = exporter;
	struct store *s = NULL;
	int rc;

	*n_retried = 0;
	*why = EXPORT_BACKFILL_OK;
	if (!ex) {
		err_set(err, err_size, "no exporter");
		return -1;
	}
	/* a connection of its own: a retry of many dead letters runs many
	 * transactions, and the status (GET /v1/exports) must not wait */
	if (store_open_existing(ex->cfg, &s, err, err_size))
		return -1;
	if ((rc = export_exists(s, ex->cfg, name)) == 0) {
		config_missing_export(ex->cfg, name, err, err_size);
		*why = EXPORT_BACKFILL_NO_EXPORT;
		rc = 1;
	} else if (rc > 0 && (rc = export_retry_check(s, ex->cfg, name, err, err_size)) == 0) {
		*why = EXPORT_NOT_RUNNING;
		rc = 1;
	} else if (rc > 0) {
		rc = export_dead_letters_retry(s, name, time_now_ms(), n_retried);
	}
	if (rc < 0)
		err_set(err, err_size, "%s", store_error(s));
	store_close(s);
	if (rc == 0) {
		log_info("export", "%s: %lld dead letters sent again, asked for over the API%s",
			 name, (long long)*n_retried,
			 export_config(ex->cfg, name)
				 ? ""
				 : " (not in this configuration: the process running it, which"
					   " holds its lease, delivers them)");
		export_notify(ex);
	}
	return rc;
}

int export_backfill_provider(void *exporter, const char *name, int *why, char *err,
			     size_t err_size)
{
	struct exporter *ex = exporter;
	int rc = -1;

	*why = EXPORT_BACKFILL_OK;
	if (!ex) {
		err_set(err, err_size, "no exporter");
		return -1;
	}
	if ((*why = (int)export_backfill_check(ex->cfg, name, err, err_size)) != EXPORT_BACKFILL_OK)
		return 1;
	pthread_mutex_lock(&ex->status_lock);
	if (ex->status_store ||
	    store_open_existing(ex->cfg, &ex->status_store, err, err_size) == 0) {
		rc = export_backfill_request(ex->status_store, name);
		if (rc)
			err_set(err, err_size, "%s", store_error(ex->status_store));
	}
	pthread_mutex_unlock(&ex->status_lock);
	if (rc == 0) {
		log_info("export", "backfill of %s asked for over the API", name);
		export_notify(ex);
	}
	return rc;
}

/* A worker waiting, disabled, for export_enable(): no longer shown
 * disabled, so export_wait_idle() waits for the delivery it goes on with
 * (it sets its state again if the store still says disabled). */
static void enable_mark(struct exporter *ex, const char *name)
{
	pthread_mutex_lock(&ex->lock);
	for (size_t i = 0; i < ex->n_workers; i++) {
		struct export_worker *w = &ex->workers[i];
		if (w->inst && strcmp(w->conf->name, name) == 0 &&
		    strcmp(w->live.state, "disabled") == 0)
			w->live.state = "starting";
	}
	pthread_mutex_unlock(&ex->lock);
}

/* The store has export `name` enabled: a worker here disabled it, the
 * store refusing to save that, is asked to drop its disable.  1 asked. */
static int enable_unsaved(struct exporter *ex, const char *name)
{
	int is_asked = 0;

	pthread_mutex_lock(&ex->lock);
	for (size_t i = 0; i < ex->n_workers; i++) {
		struct export_worker *w = &ex->workers[i];
		if (w->inst && strcmp(w->conf->name, name) == 0 && w->is_unsaved_shared)
			is_asked = w->is_enable_asked = 1;
	}
	pthread_mutex_unlock(&ex->lock);
	return is_asked;
}

/* The worker of export `name` whose plugin could not start (its create()
 * failed), or NULL.  w->inst is set before the workers start and never
 * changes while they run. */
static const struct export_worker *worker_not_started(const struct exporter *ex,
						       const char *name)
{
	for (size_t i = 0; i < ex->n_workers; i++)
		if (!ex->workers[i].inst && strcmp(ex->workers[i].conf->name, name) == 0)
			return &ex->workers[i];
	return NULL;
}

int export_enable_provider(void *exporter, const char *name, int *why, int *was_disabled,
			   char *err, size_t err_size)
{
	struct exporter *ex = exporter;
	const struct export_worker *dead;
	int rc = -1;

	*was_disabled = 0;
	if ((rc = provider_named(ex, name, why, err, err_size)) != 0)
		return rc;
	/* it answered was_disabled false, and the export still delivered
	 * nothing: the operator was left to guess why */
	if (!export_config(ex->cfg, name)->is_enabled) {
		err_set(err, err_size,
			"export %s is off in the configuration (enabled: false): no hub delivers"
			" it until its entry there says enabled: true",
			name);
		*why = EXPORT_OFF;
		return 1;
	}
	/* disabled till a restart: enabling it in the store would change
	 * nothing here, and answered was_disabled false of an export its
	 * status shows disabled */
	if ((dead = worker_not_started(ex, name)) != NULL) {
		err_set(err, err_size,
			"export %s is disabled because its plugin could not start (%s): fix that,"
			" then restart the hub, which creates it again",
			name, dead->create_error);
		*why = EXPORT_NOT_STARTED;
		return 1;
	}
	rc = -1;
	pthread_mutex_lock(&ex->status_lock);
	if (ex->status_store ||
	    store_open_existing(ex->cfg, &ex->status_store, err, err_size) == 0) {
		rc = export_enable(ex->status_store, name, was_disabled);
		if (rc)
			err_set(err, err_size, "%s", store_error(ex->status_store));
	}
	pthread_mutex_unlock(&ex->status_lock);
	if (rc == 0 && !*was_disabled)
		*was_disabled = enable_unsaved(ex, name);
	if (rc == 0 && *was_disabled) {
		log_info("export", "%s enabled again, asked for over the API", name);
		enable_mark(ex, name);
		export_notify(ex);
	}
	return rc;
}
