/*
 * cli_exports.c - `profilehub exports [--json]`: every configured export
 * with its state, cursor, lag (the outbox's last seq minus the cursor),
 * last error and backfill, then the dead letters of each with their
 * reasons.  `profilehub exports backfill NAME` asks for a backfill
 * (export_backfill.c): every live profile to that export again;
 * `profilehub exports retry NAME` sends its dead letters again
 * (export_redrive.c); `profilehub exports enable NAME` enables one an
 * error disabled (export_enable()); `profilehub exports dead-letters NAME
 * [--after SEQ] [--limit N] [--json]` pages through its dead letters.
 *
 * It reads the store only, so it works while `profilehub run` runs in
 * another process: the state shown is the saved one ("enabled",
 * "disabled", "off"); GET /v1/exports of the running hub shows the live one.
 * A change's content (personal data) is never printed.
 */
#include "cli.h"

#include "export.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEAD_LETTERS_SHOWN EXPORT_DEAD_LETTERS_PAGE

static const char *str_or(json_t *o, const char *key, const char *fallback)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : fallback;
}

/* The table's column widths: each its widest value's, its title's at least
 * (a name or plugin longer than a fixed width shifted the rest of its row). */
struct table_widths {
	int name, plugin, state, cursor, lag;
};

static int width_max(int w, const char *text)
{
	size_t n = strlen(text);
	return n > (size_t)w ? (int)(n < 300 ? n : 300) : w;
}

static int width_of_int(int w, json_t *v)
{
	char text[32];

	snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
	return width_max(w, text);
}

static struct table_widths table_widths(json_t *exports)
{
	struct table_widths tw = {4, 6, 5, 6, 3}; /* NAME PLUGIN STATE CURSOR LAG */
	size_t i;
	json_t *e;

	json_array_foreach(exports, i, e) {
		tw.name = width_max(tw.name, str_or(e, "name", "?"));
		tw.plugin = width_max(tw.plugin, str_or(e, "plugin", "?"));
		tw.state = width_max(tw.state, str_or(e, "state", "?"));
		tw.cursor = width_of_int(tw.cursor, json_object_get(e, "cursor"));
		tw.lag = width_of_int(tw.lag, json_object_get(e, "lag"));
	}
	return tw;
}

static void print_table(json_t *exports)
{
	struct table_widths tw = table_widths(exports);
	size_t i;
	json_t *e;

	printf("%-*s  %-*s  %-*s  %*s  %*s  %s\n", tw.name, "NAME", tw.plugin, "PLUGIN",
	       tw.state, "STATE", tw.cursor, "CURSOR", tw.lag, "LAG", "LAST ERROR");
	json_array_foreach(exports, i, e) {
		printf("%-*s  %-*s  %-*s  %*lld  %*lld  ", tw.name, str_or(e, "name", "?"),
		       tw.plugin, str_or(e, "plugin", "?"), tw.state, str_or(e, "state", "?"),
		       tw.cursor, (long long)json_integer_value(json_object_get(e, "cursor")),
		       tw.lag, (long long)json_integer_value(json_object_get(e, "lag")));
		if (json_is_true(json_object_get(e, "last_error_is_past")))
			printf("- (past, delivered since: %s: %s)\n",
			       str_or(e, "last_error_at", "?"), str_or(e, "last_error", ""));
		else if (json_string_value(json_object_get(e, "last_error")))
			printf("%s: %s\n", str_or(e, "last_error_at", "?"),
			       str_or(e, "last_error", ""));
		else
			printf("-\n");
	}
}

/* One line per export whose backfill runs or ran. */
static void print_backfills(json_t *exports)
{
	size_t i;
	json_t *e;

	json_array_foreach(exports, i, e) {
		json_t *b = json_object_get(e, "backfill");
		json_int_t n;

		if (!json_is_object(b))
			continue;
		n = json_integer_value(json_object_get(b, "profiles"));
		printf("backfill of %s: %s, %lld profile%s, started %s", str_or(e, "name", "?"),
		       str_or(b, "state", "?"), (long long)n, plural_s((size_t)n),
		       str_or(b, "started_at", "?"));
		if (json_string_value(json_object_get(b, "finished_at")))
			printf(", finished %s", str_or(b, "finished_at", "?"));
		if (json_string_value(json_object_get(b, "waiting")))
			printf("; waiting: %s", str_or(b, "waiting", "?"));
		putchar('\n');
	}
}

/* "  seq N  <at>  <reason>", a line each */
static void print_dead_letter_rows(json_t *list)
{
	size_t j;
	json_t *d;

	json_array_foreach(list, j, d)
		printf("  seq %-10lld %s  %s\n",
		       (long long)json_integer_value(json_object_get(d, "seq")),
		       str_or(d, "at", "?"), str_or(d, "reason", ""));
}

static void print_dead_letters(json_t *exports)
{
	size_t i;
	json_t *e;

	json_array_foreach(exports, i, e) {
		json_t *list = json_object_get(e, "dead_letters");
		if (!json_array_size(list))
			continue;
		json_int_t total = json_integer_value(json_object_get(e, "dead_letters_total"));
		if (total > (json_int_t)json_array_size(list))
			printf("\ndead letters of %s (%zu of %lld shown, lowest seq first):\n",
			       str_or(e, "name", "?"), json_array_size(list), (long long)total);
		else
			printf("\ndead letters of %s (%zu):\n", str_or(e, "name", "?"),
			       json_array_size(list));
		print_dead_letter_rows(list);
		if (total > (json_int_t)json_array_size(list))
			printf("  (the next ones: profilehub exports dead-letters %s --after %lld)\n",
			       str_or(e, "name", "?"),
			       (long long)json_integer_value(json_object_get(
				       json_array_get(list, json_array_size(list) - 1), "seq")));
	}
}

/* `profilehub exports backfill NAME`: asked for in the store; says what it
 * waits for as `profilehub exports` does (the export off or disabled). */
static int exports_backfill(struct cli *cli, const char *name)
{
	struct store *s = NULL;
	json_t *status, *backfill;
	const char *waiting;
	char err[512];
	size_t i;

	if (cli_load_config_lazy_env(cli))
		return CLI_FAIL;
	if (export_backfill_check(cli->cfg, name, err, sizeof(err)) != EXPORT_BACKFILL_OK) {
		cli_error("exports", "%s", err);
		return CLI_FAIL;
	}
	if (cli_open_existing_store(cli, &s))
		return CLI_FAIL;
	if (export_backfill_request(s, name)) {
		cli_error("exports", "%s", store_error(s));
		store_close(s);
		return CLI_FAIL;
	}
	status = export_status_json(NULL, s, cli->cfg, 0, err, sizeof(err));
	store_close(s);
	if (!status) {
		cli_error("exports", "backfill of %s asked for, its status unknown: %s", name, err);
		return CLI_FAIL;
	}
	/* the status lists the exports in the configuration's order */
	i = (size_t)(export_config(cli->cfg, name) - cli->cfg->exports);
	backfill =
		json_object_get(json_array_get(json_object_get(status, "exports"), i), "backfill");
	waiting = json_string_value(json_object_get(backfill, "waiting"));
	if (waiting)
		printf("backfill of %s asked for and recorded; it waits: %s; then the hub"
		       " running it sends every live profile to it (`profilehub exports`"
		       " shows how far it is)\n",
		       name, waiting);
	else
		printf("backfill of %s asked for: the hub running it sends every live profile to it"
		       " (a profile_updated change each) once it has delivered what is before;"
		       " `profilehub exports` shows how far it is\n",
		       name);
	json_decref(status);
	return CLI_OK;
}

/* The exports the store knows from other configurations: they hold the
 * change feed. */
static void print_elsewhere(json_t *elsewhere)
{
	size_t i;
	json_t *e;

	json_array_foreach(elsewhere, i, e)
		printf("export %s: not in this configuration, known to the store (another process's"
		       " configuration): it keeps the change feed from seq %lld on; if no process"
		       " runs it any more: profilehub exports forget %s\n",
		       str_or(e, "name", "?"),
		       (long long)json_integer_value(json_object_get(e, "cursor")),
		       str_or(e, "name", "?"));
}

/* `profilehub exports forget NAME` */
static int exports_forget(struct cli *cli, const char *name)
{
	struct store *s = NULL;
	int was_known = 0;
	char hint[1024] = "";

	if (cli_load_config_lazy_env(cli))
		return CLI_FAIL;
	if (export_config(cli->cfg, name)) {
		cli_error("exports", "export %s is in %s: take it out of the configuration"
			  " (of every process) first", name, cli->cfg->file);
		return CLI_FAIL;
	}
	if (cli_open_existing_store(cli, &s))
		return CLI_FAIL;
	if (export_forget(s, name, &was_known)) {
		cli_error("exports", "%s", store_error(s));
		store_close(s);
		return CLI_FAIL;
	}
	if (!was_known)
		export_forget_missing(s, cli->cfg, name, hint, sizeof(hint));
	store_close(s);
	if (!was_known)
		printf("the store did not know an export %s: nothing to forget%s\n", name, hint);
	else
		printf("export %s forgotten: it no longer holds the change feed; a process whose"
		       " configuration still has it registers it again when it starts\n", name);
	return CLI_OK;
}

/* The configuration and the store, for an action on export `name` of the
 * configuration; 0, or -1 (said). */
static int open_for_export(struct cli *cli, const char *name, struct store **s)
{
	char err[1024];

	if (cli_load_config_lazy_env(cli))
		return -1;
	if (!export_config(cli->cfg, name)) {
		cli_error("exports", "%s", config_missing_export(cli->cfg, name, err, sizeof(err)));
		return -1;
	}
	return cli_open_existing_store(cli, s) ? -1 : 0;
}

/* `profilehub exports enable NAME`.  One `enabled: false` in the
 * configuration is not enabled by it: exit 1 as the API's 409 off (a saved
 * disable is cleared still, and said), so a script does not go on as if
 * the export delivered. */
static int exports_enable(struct cli *cli, const char *name)
{
	const struct config_instance *ci;
	struct store *s = NULL;
	int was_disabled = 0;

	if (open_for_export(cli, name, &s))
		return CLI_FAIL;
	if (export_enable(s, name, &was_disabled)) {
		cli_error("exports", "%s", store_error(s));
		store_close(s);
		return CLI_FAIL;
	}
	store_close(s);
	ci = export_config(cli->cfg, name);
	if (ci && !ci->is_enabled) {
		cli_error("exports", "export %s is off in %s (enabled: false)%s: no hub delivers"
			  " it until its entry there says enabled: true",
			  name, cli->config_path,
			  was_disabled ? "; its disable in the store is cleared" : "");
		return CLI_FAIL;
	}
	if (!was_disabled)
		printf("export %s is not disabled in the store: nothing to enable there (a"
		       " running hub whose store refused to save a disable keeps it disabled"
		       " in memory: its GET /v1/exports says so, and POST"
		       " /v1/exports/%s/enable enables it)\n",
		       name, name);
	else
		printf("export %s enabled again: the hub running it delivers from its cursor within"
		       " a second (a restart starts it too); one refused again is disabled again\n",
		       name);
	return CLI_OK;
}

/* The configuration and the store for the dead letters of `name` (to list
 * or retry): an export of the configuration, or one the store knows from
 * another hub's (hubs sharing a store may each run exports of their own;
 * a retried dead letter waits in the feed for the export's worker,
 * wherever it runs).  0, or -1 (said). */
static int open_for_dead_letters(struct cli *cli, const char *name, struct store **s)
{
	char err[1024], known_there[1024];
	int known;

	if (cli_load_config_lazy_env(cli))
		return -1;
	/* no store yet: it knows no export from elsewhere either */
	if (!export_config(cli->cfg, name) && cli_store_is_missing(cli)) {
		cli_error("exports", "%s", config_missing_export(cli->cfg, name, err, sizeof(err)));
		return -1;
	}
	if (cli_open_existing_store(cli, s))
		return -1;
	known = export_exists(*s, cli->cfg, name);
	if (known > 0)
		return 0;
	if (known < 0)
		cli_error("exports", "%s", store_error(*s));
	else
		cli_error("exports", "%s, nor does the store know it from another configuration%s",
			  config_missing_export(cli->cfg, name, err, sizeof(err)),
			  export_forget_missing(*s, cli->cfg, name, known_there,
						sizeof(known_there)));
	store_close(*s);
	*s = NULL;
	return -1;
}

/* `profilehub exports retry NAME` */
static int exports_retry(struct cli *cli, const char *name)
{
	struct store *s = NULL;
	int64_t n = 0;
	char why[1024];
	int rc;

	if (open_for_dead_letters(cli, name, &s))
		return CLI_FAIL;
	if ((rc = export_retry_check(s, cli->cfg, name, why, sizeof(why))) <= 0) {
		cli_error("exports", "%s", rc < 0 ? store_error(s) : why);
		store_close(s);
		return CLI_FAIL;
	}
	if (export_dead_letters_retry(s, name, time_now_ms(), &n)) {
		cli_error("exports", "%s", store_error(s));
		store_close(s);
		return CLI_FAIL;
	}
	store_close(s);
	printf("%lld dead letters of %s sent again: the hub running it delivers them after what"
	       " is in the feed (each a new change with \"retry_of\", the profile as it is"
	       " then); one refused again is dead-lettered again\n",
	       (long long)n, name);
	return CLI_OK;
}

/* `profilehub exports dead-letters NAME [--after SEQ] [--limit N]
 * [--json]`: one page, as GET /v1/exports/<name>/dead_letters answers it;
 * the next page's option on stderr, as `profilehub profile` says its. */
struct dl_args {
	const char *name;
	int64_t after;
	long limit;
	int is_json;
};

/* A whole number of min..max at argv[i + 1], for flag argv[i] (its value
 * given before: had, NULL if none): 0, or -1 with why. */
static int dl_number(int argc, char **argv, int i, long long min, long long max,
		     long long *out, const char *had, char *why, size_t why_size)
{
	char *end;

	if (i + 1 >= argc) {
		snprintf(why, why_size, "%s needs a value", argv[i]);
		return -1;
	}
	if (had) {
		cli_given_twice(argv[i], had, argv[i + 1], why, why_size);
		return -1;
	}
	errno = 0;
	*out = strtoll(argv[i + 1], &end, 10);
	if (!isdigit((unsigned char)argv[i + 1][0]) || *end || errno == ERANGE || *out < min ||
	    *out > max) {
		snprintf(why, why_size, "%s: \"%.64s\" is not a number from %lld to %lld",
			 argv[i], argv[i + 1], min, max);
		return -1;
	}
	return 0;
}

/* argv[0] is "dead-letters".  0, or -1 with why. */
static int dl_args_parse(int argc, char **argv, struct dl_args *a, char *why, size_t why_size)
{
	const char *after = NULL, *limit = NULL;
	long long v;

	*a = (struct dl_args){NULL, 0, EXPORT_DEAD_LETTERS_PAGE, 0};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			a->is_json = 1;
		} else if (strcmp(argv[i], "--after") == 0) {
			if (dl_number(argc, argv, i, 0, INT64_MAX, &v, after, why, why_size))
				return -1;
			after = argv[++i];
			a->after = v;
		} else if (strcmp(argv[i], "--limit") == 0) {
			if (dl_number(argc, argv, i, 1, EXPORT_DEAD_LETTERS_PAGE_MAX, &v, limit, why,
				      why_size))
				return -1;
			limit = argv[++i];
			a->limit = (long)v;
		} else if (argv[i][0] != '-' && !a->name) {
			a->name = argv[i];
		} else {
			cli_arg_problem(argv, argc, i, NULL, why, why_size);
			return -1;
		}
	}
	if (!a->name) {
		snprintf(why, why_size, "dead-letters takes one export NAME");
		return -1;
	}
	return 0;
}

/* 0, or -1 when stdout could not be written (said). */
static int print_dead_letters_page(const struct dl_args *a, json_t *page)
{
	json_t *list = json_object_get(page, "dead_letters");
	const char *next = json_string_value(json_object_get(page, "next"));

	if (a->is_json) {
		json_dumpf(page, stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		printf("dead letters of %s after seq %lld: %zu shown of %lld, lowest seq first\n",
		       a->name, (long long)a->after, json_array_size(list),
		       (long long)json_integer_value(json_object_get(page, "dead_letters_total")));
		print_dead_letter_rows(list);
	}
	if (cli_stdout_flush()) {
		cli_error("exports", "cannot write to stdout: %s", strerror(cli_stdout_errno()));
		return -1;
	}
	/* after the page: on a terminal, below it */
	if (next)
		cli_error("exports", "more dead letters follow: the same command with --after %s",
			  next);
	return 0;
}

/* The page of a, and its total, of one read snapshot of s, as the API
 * reads them: a dead letter committed between the two reads made them
 * disagree.  A new reference, or NULL with err set. */
static json_t *dead_letters_read(struct store *s, const struct dl_args *a, char *err,
				 size_t err_size)
{
	json_t *page;

	if (s->ops->read_begin && s->ops->read_begin(s)) {
		err_set(err, err_size, "%s", store_error(s));
		return NULL;
	}
	page = export_dead_letters_page(s, a->name, a->after, (size_t)a->limit, err, err_size);
	if (s->ops->read_end)
		s->ops->read_end(s); /* only read: nothing to lose */
	return page;
}

static int exports_dead_letters(struct cli *cli, int argc, char **argv, const char *usage)
{
	struct dl_args a;
	struct store *s = NULL;
	char err[1024];
	json_t *page;
	int rc;

	if (dl_args_parse(argc, argv, &a, err, sizeof(err)))
		return cli_misuse("exports", usage, "%s", err);
	if (open_for_dead_letters(cli, a.name, &s))
		return CLI_FAIL;
	page = dead_letters_read(s, &a, err, sizeof(err));
	store_close(s);
	if (!page) {
		cli_error("exports", "dead letters of %s: %s", a.name, err);
		return CLI_FAIL;
	}
	rc = print_dead_letters_page(&a, page) ? CLI_FAIL : CLI_OK;
	json_decref(page);
	return rc;
}

int cmd_exports(struct cli *cli, int argc, char **argv)
{
	struct store *s = NULL;
	json_t *status;
	char err[1024];
	int is_json = 0;

	static const char usage[] =
		"profilehub exports [--json] | profilehub exports backfill NAME"
		" | profilehub exports retry NAME | profilehub exports enable NAME"
		" | profilehub exports forget NAME"
		" | profilehub exports dead-letters NAME [--after SEQ] [--limit N] [--json]";
	static const struct {
		const char *action;
		int (*run)(struct cli *cli, const char *name);
	} actions[] = {
		{"forget", exports_forget}, {"retry", exports_retry},
		{"backfill", exports_backfill}, {"enable", exports_enable},
	};

	if (argc >= 2 && strcmp(argv[1], "dead-letters") == 0)
		return exports_dead_letters(cli, argc - 1, argv + 1, usage);
	for (size_t a = 0; argc >= 2 && a < ARRAY_SIZE(actions); a++) {
		if (strcmp(argv[1], actions[a].action) != 0)
			continue;
		if (argc != 3)
			return cli_misuse("exports", usage, "%s takes one export NAME, %d given",
					  actions[a].action, argc - 2);
		return actions[a].run(cli, argv[2]);
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			is_json = 1;
		else
			return cli_misuse("exports", usage, "%s",
					  cli_arg_problem(argv, argc, i, NULL, err, sizeof(err)));
	}
	if (cli_load_config_lazy_env(cli) || cli_open_existing_store(cli, &s))
		return CLI_FAIL;
	status = export_status_json(NULL, s, cli->cfg, DEAD_LETTERS_SHOWN, err, sizeof(err));
	store_close(s);
	if (!status) {
		cli_error("exports", "%s", err);
		return CLI_FAIL;
	}
	if (is_json) {
		json_dumpf(status, stdout, JSON_COMPACT);
		putchar('\n');
	} else if (json_array_size(json_object_get(status, "exports")) == 0) {
		printf("no exports configured in %s\n", cli->cfg->file);
		print_elsewhere(json_object_get(status, "elsewhere"));
	} else {
		print_table(json_object_get(status, "exports"));
		print_backfills(json_object_get(status, "exports"));
		print_dead_letters(json_object_get(status, "exports"));
		print_elsewhere(json_object_get(status, "elsewhere"));
	}
	json_decref(status);
	return CLI_OK;
}
