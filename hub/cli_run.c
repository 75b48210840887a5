/*
 * cli_run.c - `profilehub run`: the daemon.  Opens the store, starts the
 * intake writer and the HTTP server, then waits for SIGINT/SIGTERM and
 * stops in order: no new requests, queued batches applied, store closed.
 */
#include "cli.h"

#include "http.h"
#include "intake.h"
#include "log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

int cmd_run(struct cli *cli, int argc, char **argv)
{
	struct http_context ctx;
	struct http_server *http = NULL;
	struct intake *intake = NULL;
	struct store *store;
	sigset_t stop_signals;
	char err[1024];
	int sig = 0;

	(void)argv;
	if (argc > 1)
		return cli_usage("profilehub run");
	if (cli_load_config(cli) || cli_open_store(cli, &store))
		return CLI_FAIL;
	/* block the stop signals in every thread; this one waits for them */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (intake_start(&intake, store, cli->cfg, err, sizeof(err))) {
		cli_error("run", "%s", err);
		store_close(store);
		return CLI_FAIL;
	}
	ctx.cfg = cli->cfg;
	ctx.intake = intake;
	if (http_start(&http, &ctx, err, sizeof(err))) {
		cli_error("run", "%s", err);
		intake_stop(intake);
		return CLI_FAIL;
	}
	log_info("hub", "listening on http://%s (port %d), store %s", cli->cfg->http_listen,
		 http_port(http), cli->cfg->store_driver);
	sigwait(&stop_signals, &sig);
	log_info("hub", "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	http_stop(http);
	intake_stop(intake);
	log_info("hub", "stopped");
	return CLI_OK;
}
