/*
 * cli_run.c - `profilehub run`: the daemon.  Loads the plugins, checks
 * every source and export as `check` does (disabled ones too), creates an
 * instance of every enabled push source, opens the store, starts the
 * intake writer, the store's upkeep (housekeep.c) and the HTTP server,
 * then waits for SIGINT/SIGTERM and stops in order: no new connections,
 * requests in progress finished, queued batches applied and committed,
 * store closed, instances destroyed.
 * SIGHUP is logged and ignored: there is no reload, and its default action
 * would end the process at once, cutting requests in progress.
 *
 * While it stops, a stop watch thread takes the signals: a second SIGINT
 * or SIGTERM quits at once (exit 130), saying what was abandoned (nothing
 * is lost: what was not committed was not acknowledged, and an export's
 * cursor moves only past what its plugin accepted), and every 10 s the log
 * says which step the stop still waits for (a plugin that ignores
 * should_stop() can hold one up).
 *
 * These signals (and SIGUSR1, which ends the stop watch) are blocked in
 * every thread (before any is created) and taken by sigwait() here, so no
 * handler runs in the middle of anything.
 */
#include "cli.h"

#include "alloc.h"
#include "api.h"
#include "export.h"
#include "housekeep.h"
#include "http.h"
#include "intake.h"
#include "log.h"
#include "plugin.h"
#include "scheduler.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RUN_STOP_NOTE_S 10 /* how often a stop still waiting says so */

/* A step of run_close(): what it waits for, and what quitting in the
 * middle of it leaves for later. */
struct run_step {
	const char *what;
	const char *abandoned;
};

enum { STEP_DELAY, STEP_HTTP, STEP_SYNCS, STEP_UPKEEP, STEP_INTAKE, STEP_EXPORTS, STEP_PLUGINS };

static const struct run_step run_steps[] = {
	[STEP_DELAY] = {"http.stop_delay to pass (/readyz answers 503, requests are served)",
			"a request in progress was not answered: its client sends it again"},
	[STEP_HTTP] = {"the HTTP requests in progress",
		       "a request not answered was not acknowledged: its client sends it again"},
	[STEP_SYNCS] = {"the syncs in progress",
			"a sync's page not committed is read again at its next run"},
	[STEP_UPKEEP] = {"the store's upkeep", "it runs again after a restart"},
	[STEP_INTAKE] = {"the queued batches to commit",
			 "a batch not committed was not acknowledged: its sender sends it again"},
	[STEP_EXPORTS] = {"the exports' batches in flight",
			  "a batch in flight is sent again after a restart (an export's cursor "
			  "moves only past what its plugin accepted)"},
	[STEP_PLUGINS] = {"the push sources' plugins to close", "nothing is lost"},
};

/* What `run` holds; torn down in reverse order by run_close(). */
struct run {
	struct plugin_registry reg;
	int has_reg;
	struct hub_instance **push;
	size_t n_push;
	struct intake *intake;
	struct api *api;
	struct http_server *http;
	struct exporter *exports;
	struct scheduler *sched;
	struct housekeep *housekeep;

	/* the stop: run_close()'s step (main thread), read by the stop watch */
	_Atomic(const struct run_step *) step;
	atomic_int is_closed;
	sigset_t watch_signals; /* SIGINT, SIGTERM, SIGHUP, SIGUSR1 */
	pthread_t watch;
	int has_watch;
};

/* The API's status providers (their ctx is the run): GET /v1/exports,
 * POST /v1/exports/<name>/backfill, GET /v1/sources and
 * POST /v1/sources/<name>/sync. */
static json_t *run_exports_status(void *ctx)
{
	struct run *r = ctx;
	return export_status_provider(r->exports);
}

static json_t *run_sources_status(void *ctx)
{
	struct run *r = ctx;
	return r->sched ? scheduler_status_json(r->sched) : json_array();
}

/* SCHEDULER_RUNNING means queued after the running run; scheduler_trigger()
 * says the same while the scheduler stops, but the API never sees that:
 * run_close() stops the HTTP server (no route runs after) before the
 * scheduler. */
static int run_source_trigger(void *ctx, const char *name, int is_full)
{
	struct run *r = ctx;
	return r->sched && scheduler_trigger_full(r->sched, name, is_full) != SCHEDULER_NO_SOURCE
		       ? 0
		       : -1;
}

static int run_export_backfill(void *ctx, const char *name, int *why, char *err,
			       size_t err_size)
{
	struct run *r = ctx;
	return export_backfill_provider(r->exports, name, why, err, err_size);
}

static int run_export_retry(void *ctx, const char *name, int *why, int64_t *n_retried,
			    char *err, size_t err_size)
{
	struct run *r = ctx;
	return export_retry_provider(r->exports, name, why, n_retried, err, err_size);
}

static int run_export_enable(void *ctx, const char *name, int *why, int *was_disabled,
			     char *err, size_t err_size)
{
	struct run *r = ctx;
	return export_enable_provider(r->exports, name, why, was_disabled, err, err_size);
}

/* The plugins; every source and export checked as `check` checks them,
 * disabled ones included (cli_check_entries), and an instance of every
 * enabled push source. */
static int run_open_sources(struct run *r, struct cli *cli)
{
	const struct hub_config *cfg = cli->cfg;
	char err[1024];

	if (cfg->n_sources == 0 && cfg->n_exports == 0)
		return 0;
	if (cli_registry_open(cli, &r->reg))
		return -1;
	r->has_reg = 1;
	if (cli_check_entries(&r->reg, cfg))
		return -1;
	if (cfg->n_sources && !(r->push = hub_calloc(cfg->n_sources, sizeof(*r->push)))) {
		cli_error("run", "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->n_sources; i++) {
		const struct config_instance *ci = &cfg->sources[i];
		const struct plugin_module *m = plugin_registry_find(&r->reg, ci->plugin);

		/* pull sources: run by the scheduler */
		if (!ci->is_enabled || !(m->desc->roles & HUB_ROLE_PUSH))
			continue;
		if (plugin_instance_create(m, ci, &r->push[r->n_push], err, sizeof(err))) {
			fprintf(stderr, "profilehub: %s\n", err);
			return -1;
		}
		r->n_push++;
	}
	return 0;
}

/* Held while run_close() changes step and while the stop watch reads what
 * a step waits for: the push instances it names live until STEP_PLUGINS. */
static pthread_mutex_t run_step_lock = PTHREAD_MUTEX_INITIALIZER;

/* run_close() is at `step` now (the stop watch reads it). */
static void run_step_to(struct run *r, int step)
{
	pthread_mutex_lock(&run_step_lock);
	atomic_store(&r->step, &run_steps[step]);
	pthread_mutex_unlock(&run_step_lock);
	log_debug("hub", "stopping: waiting for %s", run_steps[step].what);
}

/* What the stop waits for, into buf: the step's words and, while it waits
 * for the HTTP requests, the push sources whose route handlers hold some
 * (a plugin that does not return names itself).  *stepp: the step named,
 * for what quitting in it leaves.  The stop watch's. */
static const char *run_waits_for(struct run *r, char *buf, size_t size,
				 const struct run_step **stepp)
{
	const struct run_step *step;
	size_t len;

	pthread_mutex_lock(&run_step_lock);
	*stepp = step = atomic_load(&r->step);
	snprintf(buf, size, "%s", step->what);
	for (size_t i = 0; step == &run_steps[STEP_HTTP] && i < r->n_push; i++) {
		int n = atomic_load(&r->push[i]->n_in_handler);
		if (n > 0 && (len = strlen(buf)) < size)
			snprintf(buf + len, size - len,
				 "%s source \"%s\" (plugin %s): %d in its route"
				 " handler",
				 len > strlen(step->what) ? "," : ";", r->push[i]->name,
				 r->push[i]->mod->name, n);
	}
	pthread_mutex_unlock(&run_step_lock);
	return buf;
}

static void run_close(struct run *r)
{
	if (http_stop_delay_ms(r->http) > 0) {
		run_step_to(r, STEP_DELAY);
		http_stop_delay(r->http); /* a load balancer sees /readyz 503 meanwhile */
	}
	run_step_to(r, STEP_HTTP);
	http_stop(r->http);      /* no route is called after this */
	run_step_to(r, STEP_SYNCS);
	scheduler_stop(r->sched); /* a running sync commits its page */
	run_step_to(r, STEP_UPKEEP);
	housekeep_stop(r->housekeep);
	api_close(r->api);
	run_step_to(r, STEP_INTAKE);
	intake_stop(r->intake);  /* applies what is queued, closes the store */
	run_step_to(r, STEP_EXPORTS);
	export_stop(r->exports); /* batches in flight finish, cursors saved */
	run_step_to(r, STEP_PLUGINS);
	for (size_t i = 0; i < r->n_push; i++)
		plugin_instance_destroy(r->push[i]);
	hub_free(r->push);
	if (r->has_reg)
		plugin_registry_close(&r->reg);
}

/* Waits for SIGINT or SIGTERM (returned); a SIGHUP meanwhile is logged and
 * ignored.  `signals` holds the three, blocked in every thread. */
static int run_wait_stop(const sigset_t *signals)
{
	int sig = 0;

	for (;;) {
		if (sigwait(signals, &sig) != 0)
			return SIGTERM; /* EINVAL: not with this set; stop anyway */
		if (sig != SIGHUP)
			return sig;
		log_warn("hub", "SIGHUP: no configuration reload; ignored");
	}
}

/* The stop watch, while run_close() runs: a second SIGINT or SIGTERM quits
 * at once; every RUN_STOP_NOTE_S the log says what the stop waits for.
 * SIGUSR1 once r->is_closed is set ends it. */
static void *run_watch_main(void *arg)
{
	struct run *r = arg;
	const struct timespec every = {RUN_STOP_NOTE_S, 0};
	const struct run_step *step;
	char what[512];
	int sig;

	for (;;) {
		sig = sigtimedwait(&r->watch_signals, NULL, &every);
		if (sig == SIGINT || sig == SIGTERM) {
			/* "a second": sigwait takes the lower number first, so of a
			 * SIGTERM and a SIGINT sent together either may come second;
			 * what it leaves is of the step named (read once) */
			run_waits_for(r, what, sizeof(what), &step);
			fprintf(stderr,
				"profilehub: %s, a second stop signal: quitting at once, not"
				" waiting for %s; %s\n",
				sig == SIGINT ? "SIGINT" : "SIGTERM", what, step->abandoned);
			_exit(130);
		}
		if (sig == SIGUSR1 && atomic_load(&r->is_closed))
			return NULL;
		if (sig == SIGHUP)
			log_warn("hub", "SIGHUP: no configuration reload; ignored");
		else if (sig < 0 && errno == EAGAIN)
			log_warn("hub",
				 "stopping: still waiting for %s (SIGINT or SIGTERM again"
				 " quits at once)",
				 run_waits_for(r, what, sizeof(what), &step));
	}
}

/* Stops the hub (run_close) with the stop watch on. */
static void run_stop(struct run *r)
{
	int first = http_stop_delay_ms(r->http) > 0 ? STEP_DELAY : STEP_HTTP;

	atomic_store(&r->step, &run_steps[first]); /* before run_close() says it */
	r->has_watch = pthread_create(&r->watch, NULL, run_watch_main, r) == 0;
	if (!r->has_watch)
		log_warn("hub", "no stop watch thread: a second signal will not quit at once");
	run_close(r);
	if (r->has_watch) {
		atomic_store(&r->is_closed, 1);
		pthread_kill(r->watch, SIGUSR1);
		pthread_join(r->watch, NULL);
	}
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	struct run r;
	struct http_context ctx;
	struct api_providers providers = {0};
	struct store *store = NULL;
	sigset_t signals;
	char err[1024];
	int sig;

	if (argc > 1)
		return cli_misuse("run", "profilehub run", "%s",
				  cli_arg_problem(argv, argc, 1, NULL, err, sizeof(err)));
	memset(&r, 0, sizeof(r));
	if (cli_load_config(cli) || cli_check_example_secrets(cli, "run"))
		return CLI_FAIL;
	/* block the stop signals, SIGHUP and SIGUSR1 before any thread exists
	 * (plugins' included); this thread takes them with sigwait(), then the
	 * stop watch */
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGHUP);
	r.watch_signals = signals;
	sigaddset(&r.watch_signals, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &r.watch_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (http_listen_check(cli->cfg->http_listen, err, sizeof(err))) {
		cli_error("run", "%s", err); /* before any export or sync starts */
		goto fail;
	}
	if (run_open_sources(&r, cli) || cli_open_store(cli, &store))
		goto fail;
	/* a store deleted while the hub was down is not quietly replaced */
	if (store->created_where[0])
		log_info("store", "created a new, empty store at %s", store->created_where);
	if (intake_start(&r.intake, store, cli->cfg, err, sizeof(err))) {
		cli_error("run", "%s", err);
		store_close(store);
		goto fail;
	}
	if (housekeep_start(&r.housekeep, cli->cfg, err, sizeof(err))) {
		cli_error("run", "%s", err);
		goto fail;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cli->cfg;
	ctx.intake = r.intake;
	ctx.push = r.push;
	ctx.n_push = r.n_push;
	if (export_start(&r.exports, cli->cfg, err, sizeof(err))) {
		cli_error("run", "%s", err);
		goto fail;
	}
	if (scheduler_start(&r.sched, cli->cfg, r.has_reg ? &r.reg : NULL, r.intake, err,
			    sizeof(err))) {
		cli_error("run", "%s", err);
		goto fail;
	}
	providers.exports_status = run_exports_status;
	providers.sources_status = run_sources_status;
	providers.source_trigger = run_source_trigger;
	providers.export_backfill = run_export_backfill;
	providers.export_retry = run_export_retry;
	providers.export_enable = run_export_enable;
	providers.ctx = &r;
	if (api_open(&r.api, cli->cfg, r.intake, &providers, err, sizeof(err))) {
		cli_error("run", "%s", err);
		goto fail;
	}
	ctx.api = r.api;
	ctx.exports = r.exports;
	ctx.sched = r.sched;
	if (http_start(&r.http, &ctx, err, sizeof(err))) {
		cli_error("run", "%s", err);
		goto fail;
	}
	if (!cli->cfg->n_api_tokens)
		log_warn("hub", "api.tokens is not set: the management API (/v1), the Profiles "
				"View and /metrics from afar refuse every request");
	log_info("hub", "listening on http://%s (port %d), store %s, %zu push source%s",
		 cli->cfg->http_listen, http_port(r.http),
		 cli->cfg->store_driver ? cli->cfg->store_driver : "sqlite", r.n_push,
		 plural_s(r.n_push));
	sig = run_wait_stop(&signals);
	log_info("hub", "%s: stopping (again to quit at once)",
		 sig == SIGINT ? "SIGINT" : "SIGTERM");
	run_stop(&r);
	log_info("hub", "stopped");
	return CLI_OK;
fail:
	run_close(&r);
	return CLI_FAIL;
}
