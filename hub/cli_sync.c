/*
 * cli_sync.c - `profilehub sync SOURCE [--full]`: one pull sync in the
 * foreground, through the same intake (and so the same transactions and
 * dedupe) as the daemon.  A progress line on a terminal, a summary at the
 * end, exit 1 with the error when the sync fails after its retries.
 *
 * SIGINT/SIGTERM: the page in progress finishes and commits, then the
 * command stops (exit 1: not caught up); a second signal exits at once
 * (the uncommitted page is simply read again next time).  The signals are
 * blocked in every thread and taken by a sigwait() thread.
 */
#include "cli.h"

#include "alloc.h"
#include "intake.h"
#include "log.h"
#include "plugin.h"
#include "sync.h"
#include "util.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROGRESS_EVERY_MS 250

struct sync_cli {
	struct plugin_registry reg;
	int has_reg;
	struct hub_instance *inst;
	struct intake *intake;
	struct store *reader;
	struct sync_stop stop;
	pthread_t signals;
	int has_signals;
	sigset_t sigs;
	int is_tty;
	int64_t started_ms, last_progress_ms;
};

/* ---- signals ----------------------------------------------------------- */

static void *signal_main(void *arg)
{
	struct sync_cli *c = arg;
	int sig, n_stops = 0;

	for (;;) {
		if (sigwait(&c->sigs, &sig) != 0 || sig == SIGUSR1)
			return NULL; /* SIGUSR1: the command is done */
		if (++n_stops > 1)
			_exit(130);
		log_info("sync", "%s: finishing the page in progress (again to quit at once)",
			 sig == SIGINT ? "SIGINT" : "SIGTERM");
		sync_stop_request(&c->stop);
	}
}

static int signals_start(struct sync_cli *c)
{
	sigemptyset(&c->sigs);
	sigaddset(&c->sigs, SIGINT);
	sigaddset(&c->sigs, SIGTERM);
	sigaddset(&c->sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &c->sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (pthread_create(&c->signals, NULL, signal_main, c) != 0)
		return -1;
	c->has_signals = 1;
	return 0;
}

static void signals_stop(struct sync_cli *c)
{
	if (!c->has_signals)
		return;
	pthread_kill(c->signals, SIGUSR1);
	pthread_join(c->signals, NULL);
}

/* ---- output ------------------------------------------------------------ */

static void progress_line(struct sync_cli *c, const struct sync_report *rep, int is_final)
{
	int64_t now = time_mono_ms();
	double secs;

	if (!c->is_tty || (!is_final && now - c->last_progress_ms < PROGRESS_EVERY_MS))
		return;
	c->last_progress_ms = now;
	secs = (double)(now - c->started_ms) / 1000.0;
	/* "\033[K" clears what a longer line before left (a rate that lost a digit) */
	fprintf(stderr, "\r%" PRId64 " rows, %.0f rows/s, %.1fs elapsed\033[K%s", rep->read,
		secs > 0 ? (double)rep->read / secs : 0.0, secs, is_final ? "\n" : "");
	fflush(stderr);
	log_progress_shown(!is_final);
}

static void on_progress(void *ctx, const struct sync_report *rep)
{
	progress_line(ctx, rep, 0);
}

static void print_summary(struct sync_cli *c, const char *source, const struct sync_report *rep)
{
	progress_line(c, rep, 1);
	printf("read %" PRId64 ", applied %" PRId64 ", duplicates %" PRId64 ", rejected %" PRId64
	       ", blocked %" PRId64 ", refused %" PRId64 "\n",
	       rep->read, rep->applied, rep->duplicates, rep->rejected, rep->blocked, rep->refused);
	if (rep->warnings)
		printf("warnings %" PRId64 " (values dropped as invalid, over a limit or not"
		       " convertible; the rest of each record kept)\n", rep->warnings);
	if (rep->skipped)
		printf("skipped %" PRId64 " (items the plugin does not store, as configured;"
		       " the reason in the log)\n", rep->skipped);
	if (rep->n_retries)
		printf("retries %d\n", rep->n_retries);
	printf("cursor %s\n", rep->cursor ? rep->cursor : "(none)");
	cli_stdout_flush(); /* a failure is named by main, with its errno */
	for (size_t i = 0; i < rep->n_warning_reasons; i++)
		fprintf(stderr, "profilehub: sync: %s: warning: %s\n", source,
			rep->warning_reasons[i]);
	for (size_t i = 0; i < rep->n_reasons; i++)
		fprintf(stderr, "profilehub: sync: %s: rejected: %s\n", source, rep->reasons[i]);
	if (rep->rejected > (int64_t)rep->n_reasons && rep->n_reasons)
		fprintf(stderr, "profilehub: sync: %s: ... %" PRId64 " rejected in all\n", source,
			rep->rejected);
}

/* ---- setup ------------------------------------------------------------- */

/* A source sync can pull: its plugin is found and pulls. */
static int is_pull_source(void *reg, const struct config_instance *ci)
{
	const struct plugin_module *m = plugin_registry_find(reg, ci->plugin);

	return m && (m->desc->roles & HUB_ROLE_PULL);
}

static int open_registry(struct sync_cli *c, struct cli *cli)
{
	char err[1024], *dir;
	int rc;

	dir = cli->cfg->plugin_dir ? hub_strdup(cli->cfg->plugin_dir) : plugin_default_dir();
	if (!dir) {
		cli_error("sync", "cannot find the plugin directory");
		return -1;
	}
	rc = plugin_registry_open(&c->reg, dir, err, sizeof(err));
	hub_free(dir);
	if (rc) {
		cli_error("plugins", "%s", err);
		return -1;
	}
	c->has_reg = 1;
	return 0;
}

/* A source that is not, or cannot be, pulled: said with the pull sources
 * it could have been. */
static void say_not_pulled(struct sync_cli *c, struct cli *cli, const char *name,
			   const struct config_instance *ci, const struct plugin_module *m)
{
	char err[1024];

	if (!ci)
		cli_error("sync", "%s",
			  config_missing_source_kept(cli->cfg, "pull source", is_pull_source,
						     &c->reg, name, err, sizeof(err)));
	else if (m->desc->roles & HUB_ROLE_PUSH)
		cli_error("sync", "source \"%s\" (plugin %s) is a push source: it is not synced"
			  " (its data is sent to the hub over HTTP)", name, ci->plugin);
	else
		cli_error("sync", "source \"%s\" (plugin %s) is not a pull source", name,
			  ci->plugin);
}

/* The plugin registry and the source's instance.  0 or -1 (printed). */
static int open_instance(struct sync_cli *c, struct cli *cli, const char *name)
{
	const struct config_instance *ci = config_source(cli->cfg, name);
	const struct plugin_module *m = NULL;
	char err[1024];

	if (ci && !ci->is_enabled) {
		cli_error("sync", "source \"%s\" is disabled (enabled: false)", name);
		return -1;
	}
	if (open_registry(c, cli))
		return -1;
	if (ci && !(m = plugin_registry_find(&c->reg, ci->plugin))) {
		cli_error("sync", "%s", plugin_registry_missing_at(&c->reg, ci, err, sizeof(err)));
		return -1;
	}
	if (!ci || !(m->desc->roles & HUB_ROLE_PULL)) {
		say_not_pulled(c, cli, name, ci, m);
		return -1;
	}
	if (plugin_instance_create(m, ci, &c->inst, err, sizeof(err))) {
		fprintf(stderr, "profilehub: %s\n", err);
		return -1;
	}
	return 0;
}

static int open_store(struct sync_cli *c, struct cli *cli)
{
	struct store *writer;
	char err[1024];

	if (cli_open_store(cli, &writer))
		return -1;
	if (intake_start(&c->intake, writer, cli->cfg, err, sizeof(err))) {
		cli_error("sync", "%s", err);
		store_close(writer);
		return -1;
	}
	return cli_open_existing_store(cli, &c->reader);
}

static void sync_cli_close(struct sync_cli *c)
{
	signals_stop(c);
	intake_stop(c->intake); /* everything submitted was waited for */
	if (c->reader)
		store_close(c->reader);
	plugin_instance_destroy(c->inst);
	if (c->has_reg)
		plugin_registry_close(&c->reg);
	sync_stop_destroy(&c->stop);
}

static int run_sync(struct sync_cli *c, struct cli *cli, const char *name, int is_full,
		    int64_t epoch)
{
	struct record_rules rules;
	struct sync_params p;
	struct sync_report rep;
	int rc = CLI_FAIL;

	cli_record_rules(cli->cfg, &rules);
	memset(&p, 0, sizeof(p));
	p.inst = c->inst;
	p.intake = c->intake;
	p.reader = c->reader;
	p.rules = &rules;
	p.is_full = is_full;
	p.fence_epoch = epoch; /* a page after losing the lease moves no cursor */
	p.stop = &c->stop;
	p.max_retries = -1;
	p.on_progress = on_progress;
	p.ctx = c;
	c->is_tty = isatty(STDERR_FILENO);
	c->started_ms = time_mono_ms();
	sync_run(&p, &rep);
	print_summary(c, name, &rep);
	if (rep.rc == HUB_OK)
		rc = CLI_OK;
	else if (rep.is_lease_lost)
		cli_error("sync", "%s: %s", name, rep.err);
	else if (rep.rc == HUB_ERR_STOPPED)
		cli_error("sync", "%s: stopped before catching up (the cursor is at the last "
			  "committed page)", name);
	else
		cli_error("sync", "%s: %s", name, rep.err);
	sync_report_free(&rep);
	return rc;
}

int cmd_sync(struct cli *cli, int argc, char **argv)
{
	static const char usage[] = "profilehub sync SOURCE [--full]";
	const char *name = NULL;
	struct sync_cli c;
	char lease[300], why[160];
	int64_t epoch = 0;
	int is_full = 0, leased, rc = CLI_FAIL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--full") == 0)
			is_full = 1;
		else if (!name && argv[i][0] != '-')
			name = argv[i];
		else
			return cli_misuse("sync", usage, "%s",
					  cli_arg_problem(argv, argc, i, NULL, why, sizeof(why)));
	}
	if (!name)
		return cli_misuse("sync", usage, "the SOURCE to pull is needed");
	if (cli_load_config_lazy_env(cli)) /* the source's own are needed (plugin.c) */
		return CLI_FAIL;
	memset(&c, 0, sizeof(c));
	sync_stop_init(&c.stop);
	/* before any thread exists, so every thread inherits the mask */
	if (signals_start(&c)) {
		cli_error("sync", "cannot start the signal thread");
		goto out;
	}
	if (open_instance(&c, cli, name) || open_store(&c, cli))
		goto out;
	/* one process at a time (the scheduler of `run` takes it too), on the
	 * reader's connection: not the intake writer's */
	snprintf(lease, sizeof(lease), "sync:%s", name);
	leased = c.reader->ops->lease_try(c.reader, lease, &epoch);
	if (leased < 0) {
		cli_error("sync", "%s: taking the lease: %s", name, store_error(c.reader));
		goto out;
	}
	if (leased == 0) {
		cli_error("sync", "%s: another process is running this sync (it holds the "
			  "lease %s); try again when it has finished", name, lease);
		goto out;
	}
	rc = run_sync(&c, cli, name, is_full, epoch);
	c.reader->ops->lease_release(c.reader, lease);
out:
	sync_cli_close(&c);
	return rc;
}
