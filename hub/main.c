/*
 * main.c - the profilehub command line: global options (-c FILE,
 * --log-level L, before or after the subcommand, never as another
 * option's value), dispatch to the subcommands of API.md, and the small
 * ones (version, plugins, check).
 * The data subcommands live in cli_import.c and cli_data.c, `run` in
 * cli_run.c, what they share (errors, config, store, registry) in cli.c.
 */
#include "cli.h"

#include "alloc.h"
#include "export.h"
#include "log.h"
#include "plugin.h"
#include "scheduler.h"
#include "util.h"
#include "version.h"

#include "../plugins/common/pg_tls.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libgen.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>
#include <zlib.h>

static const char usage_text[] =
	"usage: profilehub [-c FILE] [--log-level LEVEL] <command> [options]\n"
	"\n"
	"commands:\n"
	"  run                       run the hub (HTTP intake, API, scheduler, exports)\n"
	"  check [--connect]         validate the config and load every plugin\n"
	"  import FILE|- --source NAME [--format canonical|<plugin>]\n"
	"         [--commit-every RECORDS] [--rejects FILE]\n"
	"                            backfill records from a JSON Lines file (gzip too)\n"
	"  sync SOURCE [--full]      run one pull sync now\n"
	"  profile (--custom-id C | --installation-id I | --email E | --phone P |\n"
	"           --profile-id P | --external TYPE=VALUE) [--after P] [--events all|N]\n"
	"                            print matching profile documents (64 a page)\n"
	"  dump [--events all|N]     every live profile, one JSON document per line\n"
	"  privacy (access|erase) (--custom-id C | --installation-id I |\n"
	"           --external TYPE=VALUE | --profile-id P)\n"
	"                            a person's document, or their erasure\n"
	"  exports [--json]          export state, cursor, lag, backfill and dead letters\n"
	"  exports backfill NAME     send every live profile to export NAME again\n"
	"  exports dead-letters NAME [--after SEQ] [--limit N] [--json]\n"
	"                            a page of export NAME's dead letters (100 a page)\n"
	"  exports retry NAME        send the dead letters of export NAME again\n"
	"  exports enable NAME       enable export NAME again once what disabled it is fixed\n"
	"  exports forget NAME       an export taken out of every config stops holding the feed\n"
	"  plugins [--describe NAME] the plugins found, with kind and ABI version\n"
	"  version                   versions of profilehub and its libraries\n"
	"\n"
	"-c FILE defaults to conf/hub.yaml.  LEVEL: error, warn, info, debug.\n"
	"<command> --help prints its usage.  Exit status: 0 done, 1 failed (named on\n"
	"stderr; a source, export or plugin not configured or found too; import: a\n"
	"line rejected too), 2 a misuse of the arguments; run and\n"
	"sync: 130 when a second Ctrl-C or SIGTERM quits at once.\n";

/* ---- version, plugins, check ---------------------------------------- */

static int cmd_version(int argc, char **argv)
{
	curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
	int pq = PQlibVersion(); /* 160004: 16.4 */
	char why[160];

	if (argc > 1)
		return cli_misuse("version", "profilehub version", "%s",
				  cli_arg_problem(argv, argc, 1, NULL, why, sizeof(why)));
	printf("profilehub %s (plugin ABI %d.%d)\n", HUB_VERSION, HUB_ABI_MAJOR, HUB_ABI_MINOR);
	printf("  sqlite %s\n", sqlite3_libversion());
	printf("  jansson %s\n", jansson_version_str());
	printf("  libyaml %s\n", yaml_get_version_string());
	printf("  libmicrohttpd %s\n", MHD_get_version());
	printf("  libcurl %s\n", curl->version);
	printf("  openssl %s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("  libpq %d.%d\n", pq / 10000, pq % 10000);
	printf("  zlib %s\n", zlibVersion());
	return CLI_OK;
}

static const char *const cfg_type_names[] = {
	"string", "integer", "boolean", "number", "duration", "list of strings", "mapping", "any",
};

/* Keys, one each with its type, flags and description.  A key whose
 * description starts "pull:" only when is_pull (cfg_instances.c); none the
 * hub leaves to plugin `owner` (listed among its own keys if it reads it). */
static void keys_describe(const struct hub_config_key *keys, int is_pull,
			  const struct hub_plugin *owner)
{
	for (const struct hub_config_key *k = keys; k && k->name; k++) {
		const char *desc = k->description ? k->description : "";
		int is_pull_key = strncmp(desc, "pull: ", 6) == 0;

		if ((is_pull_key && !is_pull) || (owner && plugin_owns_pull_key(owner, k->name)))
			continue;
		printf("    %-18s %s%s%s", k->name, cfg_type_names[k->type],
		       k->is_required ? ", required" : "", k->is_secret ? ", secret" : "");
		if (k->default_value)
			printf(", default %s", k->is_secret ? "(hidden)" : k->default_value);
		printf("\n      %s\n", is_pull_key ? desc + 6 : desc);
	}
}

/* The plugin's own keys, then those the hub reads on every entry of its
 * roles (a source's schedule, an export's kinds and batch_size). */
static void plugin_describe(const struct plugin_module *m)
{
	unsigned r = m->desc->roles;
	char roles[64];

	printf("%s %s: %s\n", m->name, m->desc->version, m->desc->description);
	printf("  roles: %s\n  file: %s\n  ABI: %u.%u\n  keys:\n",
	       plugin_roles_string(r, roles, sizeof(roles)), m->path, m->desc->abi.major,
	       m->desc->abi.minor);
	keys_describe(m->desc->config, 1, NULL);
	if (r & (HUB_ROLE_PUSH | HUB_ROLE_PULL)) {
		printf("  keys of every source entry (read by the hub):\n");
		keys_describe(config_keys_common_source, (r & HUB_ROLE_PULL) != 0, m->desc);
	}
	if (r & HUB_ROLE_EXPORT) {
		printf("  keys of every export entry (read by the hub):\n");
		keys_describe(config_keys_common_export, 0, NULL);
	}
}

static int cmd_plugins(struct cli *cli, int argc, char **argv)
{
	static const char *const flags[] = {"--describe", NULL};
	struct plugin_registry reg;
	const char *describe = NULL;
	const char **const vals[] = {&describe};
	char roles[64], why[1024];

	for (int i = 1; i < argc; i++) {
		int took = cli_flag_take(argc, argv, &i, flags, vals, why, sizeof(why));

		if (took <= 0)
			return cli_misuse("plugins", "profilehub plugins [--describe NAME]", "%s",
					  took < 0 ? why
						   : cli_arg_problem(argv, argc, i, flags, why,
								     sizeof(why)));
	}
	if (cli_load_config_lazy_env(cli) || cli_registry_open(cli, &reg))
		return CLI_FAIL;
	if (describe) {
		const struct plugin_module *m = plugin_registry_find(&reg, describe);
		if (!m) {
			cli_error("plugins", "%s",
				  plugin_registry_missing(&reg, describe, why, sizeof(why)));
			plugin_registry_close(&reg);
			return CLI_FAIL;
		}
		plugin_describe(m);
	} else {
		printf("%-14s %-8s %-16s %-6s %s\n", "NAME", "VERSION", "ROLES", "ABI",
		       "DESCRIPTION");
		for (size_t i = 0; i < reg.n_mods; i++) {
			const struct plugin_module *m = &reg.mods[i];
			printf("%-14s %-8s %-16s %u.%-4u %s\n", m->name, m->desc->version,
			       plugin_roles_string(m->desc->roles, roles, sizeof(roles)),
			       m->desc->abi.major, m->desc->abi.minor, m->desc->description);
		}
	}
	plugin_registry_close(&reg);
	return CLI_OK;
}

/* The hub's own keys of an entry: an export's `kinds` and `batch_size`, a
 * source's `schedule`, read as `run` reads them. */
static int check_hub_keys(const struct config_instance *ci, int is_export, char *err,
			  size_t err_size)
{
	struct cron cron;

	if (is_export)
		return export_check_config(ci, err, err_size);
	return scheduler_check_schedule(ci, &cron, err, err_size) < 0 ? -1 : 0;
}

/* A connection string whose password is written in the file: said with
 * its place, never its value.  `var` names the ${VAR} to read it from. */
static void warn_password_in_file(const struct cfg_node *n, const char *path, const char *var,
				  const char *or_else)
{
	log_warn("hub", "%s:%d:%d: %s: the password is written in the file (anyone who reads"
			" the file or a copy of it has it): read it from the environment, as %s:"
			" \"${%s}\"%s",
		 n->file, n->line, n->col, path, n->key, var, or_else);
}

/* The plugin's connection strings (HUB_SECRET_CONNECTION) of an entry
 * that passed its checks, as store.url: warned about when the file holds
 * their password. */
static void warn_entry_passwords(const struct plugin_module *m, const struct config_instance *ci)
{
	char path[256], var[160];

	for (const struct hub_config_key *k = m->desc->config; k && k->name; k++) {
		const struct cfg_node *n =
			k->is_secret == HUB_SECRET_CONNECTION
				? config_password_in_file(cfg_get(ci->node, k->name))
				: NULL;
		size_t i = 0;

		if (!n)
			continue;
		/* ${PG_OUT_URL} for the url of export pg-out */
		snprintf(var, sizeof(var), "%s_%s", ci->name, k->name);
		for (; var[i]; i++)
			var[i] = var[i] == '-' ? '_' : (char)toupper((unsigned char)var[i]);
		cfg_path_key(path, sizeof(path), ci->path, k->name);
		warn_password_in_file(n, path, var, "");
	}
}

/* One source or export entry, enabled or not, against its plugin's keys
 * and the hub's, then the plugin's own check of its values.  Prints the
 * error; 0 or -1. */
static int check_entry(const struct plugin_registry *reg, const struct config_instance *ci,
		       int is_export)
{
	const struct plugin_module *m = plugin_registry_find(reg, ci->plugin);
	char err[1024];

	if (!m) {
		fprintf(stderr, "profilehub: %s\n",
			plugin_registry_missing_at(reg, ci, err, sizeof(err)));
		return -1;
	}
	if (plugin_instance_check(m, ci, is_export, err, sizeof(err)) ||
	    check_hub_keys(ci, is_export, err, sizeof(err)) ||
	    plugin_instance_check_config(m, ci, err, sizeof(err))) {
		fprintf(stderr, "profilehub: %s\n", err);
		return -1;
	}
	warn_entry_passwords(m, ci);
	return 0;
}

int cli_check_entries(const struct plugin_registry *reg, const struct hub_config *cfg)
{
	int n_bad = 0;

	for (size_t i = 0; i < cfg->n_sources; i++)
		n_bad += check_entry(reg, &cfg->sources[i], 0) != 0;
	for (size_t i = 0; i < cfg->n_exports; i++)
		n_bad += check_entry(reg, &cfg->exports[i], 1) != 0;
	if (n_bad == 0)
		n_bad += cli_check_export_targets(reg, cfg);
	return n_bad;
}

/* A store.url to another machine that does not verify the server. */
static void warn_store_unverified(const struct hub_config *cfg)
{
	const struct cfg_node *url;
	char mode[32];

	if ((url = config_store_url_unverified(cfg, mode, sizeof(mode))))
		log_warn("hub", "%s:%d:%d: store.url: sslmode=%s to a host other than this machine: %s;"
				" add sslmode=verify-full (with sslrootcert, the server's CA)",
			 url->file, url->line, url->col, mode, pg_tls_risk(mode));
}

/* API tokens that are short, or that are also a source's or an export's
 * secret: places only, never values. */
static void warn_weak_api_tokens(const struct hub_config *cfg)
{
	const struct cfg_node *token = NULL, *same, *t;

	if ((same = config_api_token_reused(cfg, &token)))
		log_warn("hub", "%s:%d:%d: api.tokens: this token is also the value at %s:%d:%d (a"
				" source's or an export's secret): whoever holds that secret (a"
				" Segment write key is in every web page that sends with it) could"
				" read and erase profiles; give the API a token of its own",
			 token->file, token->line, token->col, same->file, same->line, same->col);
	if ((t = config_api_token_short(cfg)))
		log_warn("hub", "%s:%d:%d: api.tokens: a token of %zu characters can be guessed;"
				" use %d random characters or more (openssl rand -hex 32)",
			 t->file, t->line, t->col, strlen(t->value), 2 * CONFIG_API_TOKEN_MIN);
}

int cli_check_example_secrets(const struct cli *cli, const char *cmd)
{
	const struct cfg_node *found[8], *url;
	size_t n = config_example_secrets(cli->cfg, found, ARRAY_SIZE(found));
	const char *listen = cli->cfg->http_listen;
	int is_local = config_listen_is_loopback(listen);

	for (size_t i = 0; i < n && i < ARRAY_SIZE(found); i++) {
		if (is_local)
			log_warn("hub", "%s:%d:%d: this secret is the README's example value: fine"
					" on this machine; set your own before listening beyond it",
				 found[i]->file, found[i]->line, found[i]->col);
		else
			cli_error(cmd, "%s:%d:%d: this secret is the README's example value, and"
				       " http.listen (%s) is reachable from other machines: set a"
				       " secret of your own (conf/hub.yaml reads them from"
				       " HUB_API_TOKEN and SEGMENT_WRITE_KEY)",
				  found[i]->file, found[i]->line, found[i]->col, listen);
	}
	if (n > ARRAY_SIZE(found))
		log_warn("hub", "and %zu more of the README's example secrets",
			 n - ARRAY_SIZE(found));
	/* an empty file, not the defaults cli_load_config already named */
	if (cli->cfg->root && !cli->cfg->root->children &&
	    strcmp(cli->cfg->file, CLI_DEFAULTS_NAME) != 0)
		log_warn("hub", "%s: the configuration is empty: running on the defaults (the"
				" SQLite store var/hub.db, HTTP on 127.0.0.1:8080, no sources, no"
				" exports)", cli->cfg->file);
	if ((url = config_store_password_in_file(cli->cfg)))
		warn_password_in_file(url, "store.url", "HUB_DATABASE_URL", ", or from ~/.pgpass");
	warn_store_unverified(cli->cfg);
	warn_weak_api_tokens(cli->cfg);
	return n && !is_local ? -1 : 0;
}

/* With `check --connect`: creates an entry that passed cli_check_entries()
 * (a plugin's own checks: creating may open files, so not without
 * --connect) and lets it open its connections once. */
static int check_connect(const struct plugin_registry *reg, const struct config_instance *ci)
{
	const struct plugin_module *m = plugin_registry_find(reg, ci->plugin);
	struct hub_instance *inst = NULL;
	char err[1024], code[48];
	hub_rc crc;
	int rc = 0;

	if (plugin_instance_create(m, ci, &inst, err, sizeof(err))) {
		fprintf(stderr, "profilehub: %s\n", err);
		return -1;
	}
	err[0] = '\0';
	crc = m->desc->check_connect ? m->desc->check_connect(inst->state, err, sizeof(err))
				     : HUB_OK;
	plugin_err_end(err, sizeof(err));
	if (crc != HUB_OK) {
		fprintf(stderr, "profilehub: %s \"%s\": %s\n", ci->path, ci->name,
			err[0] ? err : plugin_rc_text(crc, code, sizeof(code)));
		rc = -1;
	}
	plugin_instance_destroy(inst);
	return rc;
}

static int cmd_check(struct cli *cli, int argc, char **argv)
{
	struct plugin_registry reg;
	int connect = 0, n_bad = 0;
	size_t n_plugins;
	char why[160];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--connect") == 0)
			connect = 1;
		else
			return cli_misuse("check", "profilehub check [--connect]", "%s",
					  cli_arg_problem(argv, argc, i, NULL, why, sizeof(why)));
	}
	if (cli_load_config(cli) || cli_registry_open(cli, &reg))
		return CLI_FAIL;
	n_bad = cli_check_example_secrets(cli, "check") != 0;
	n_bad += cli_check_entries(&reg, cli->cfg);
	if (connect && n_bad == 0) {
		for (size_t i = 0; i < cli->cfg->n_sources; i++)
			n_bad += check_connect(&reg, &cli->cfg->sources[i]) != 0;
		for (size_t i = 0; i < cli->cfg->n_exports; i++)
			n_bad += check_connect(&reg, &cli->cfg->exports[i]) != 0;
	}
	if (connect && n_bad == 0) {
		/* an older store stays as it is: its hub may still run, or be
		 * needed back (one migrated refuses it) */
		struct store *s;
		int rc = cli_open_store_unmigrated(cli, &s);
		if (rc == 0)
			store_close(s);
		n_bad += rc == -1;
	}
	n_plugins = reg.n_mods;
	plugin_registry_close(&reg);
	if (n_bad)
		return CLI_FAIL;
	printf("%s: ok (%zu source%s, %zu export%s, %zu plugin%s)\n", cli->cfg->file,
	       cli->cfg->n_sources, plural_s(cli->cfg->n_sources), cli->cfg->n_exports,
	       plural_s(cli->cfg->n_exports), n_plugins, plural_s(n_plugins));
	return CLI_OK;
}

/* ---- dispatch ------------------------------------------------------- */

/* 0, or -1 after naming `flag` given a second time (its first value
 * `had`): the last one silently won. */
static int global_once(const char *flag, const char *had, const char *value)
{
	char why[320];

	if (!had)
		return 0;
	fprintf(stderr, "profilehub: %s\n", cli_given_twice(flag, had, value, why, sizeof(why)));
	return -1;
}

/* 1 when `arg` is an option of a command that takes the argument after
 * it as its value (usage_text's "--flag VALUE"; none is a flag without a
 * value in another command). */
static int option_takes_value(const char *arg)
{
	static const char *const options[] = {
		"--source", "--format", "--commit-every", "--rejects", /* import */
		"--describe",                                          /* plugins */
		"--events", "--after", "--limit",                      /* dump, profile, exports */
		"--custom-id", "--installation-id", "--email", "--phone", "--profile-id",
		"--external",                                          /* profile, privacy */
	};

	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		if (strcmp(arg, options[i]) == 0)
			return 1;
	return 0;
}

/* --log-level's value that is no level: named, the closest level as "did
 * you mean" (another case, "WARN", or a letter or two off), as the
 * config's log_level says it.  Returns -1. */
static int log_level_refuse(const char *value)
{
	const char *best = cfg_closest_name(value, log_level_names, LOG_N_LEVELS);

	cli_error("--log-level", "unknown level \"%s\" (%s%s%serror, warn, info, debug)", value,
		  best ? "did you mean \"" : "", best ? best : "", best ? "\"?; " : "");
	return -1;
}

/* Pulls -c/--config and --log-level out of argv wherever an option may
 * stand, each once: a command's option's value is its own ("profile
 * --custom-id -c" looks up "-c"; -c took it as its config).  Returns the
 * new argc, or -1 on a usage error. */
static int take_global_options(struct cli *cli, int argc, char **argv)
{
	const char *log_level = NULL;
	int out = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (option_takes_value(a) && i + 1 < argc) {
			argv[out++] = argv[i++];
			argv[out++] = argv[i];
		} else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			if (global_once(a, cli->is_config_explicit ? cli->config_path : NULL,
					argv[i + 1]))
				return -1;
			cli->config_path = argv[++i];
			cli->is_config_explicit = 1;
		} else if (strcmp(a, "--log-level") == 0 && i + 1 < argc) {
			int lvl;
			if (global_once(a, log_level, argv[i + 1]))
				return -1;
			log_level = argv[++i];
			lvl = log_level_parse(log_level);
			if (lvl < 0)
				return log_level_refuse(log_level);
			log_set_level((enum hub_log_level)lvl);
			cli->has_log_level_flag = 1;
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ||
			   strcmp(a, "--log-level") == 0) {
			cli_error(a, "needs a value (%s)",
				  strcmp(a, "--log-level") == 0 ? "LEVEL" : "a config FILE");
			return -1;
		} else {
			argv[out++] = argv[i];
		}
	}
	return out;
}

/* A command whose output did not all reach stdout (a full disk) fails,
 * named: a script must not take a cut answer for a whole one.  A reader
 * that closed the pipe ends the command by SIGPIPE first, as it ends cat
 * (only run and sync ignore it).  Commands that check their own writes
 * have said so already. */
static int stdout_check(const char *cmd, int rc)
{
	if (cli_stdout_flush() == 0)
		return rc;
	if (rc == CLI_OK) {
		fprintf(stderr, "profilehub: %s: cannot write to stdout: %s\n", cmd,
			strerror(cli_stdout_errno()));
		rc = CLI_FAIL;
	}
	return rc;
}

/* A command that is none of ours: named, the closest one as "did you
 * mean" (a letter or two off), then the usage. */
static int unknown_command(const char *cmd)
{
	static const char *const commands[] = {"run",     "check",   "import", "dump",
					       "profile", "privacy", "sync",   "exports",
					       "plugins", "version", "help"};
	const char *closest = cfg_closest_name(cmd, commands, ARRAY_SIZE(commands));

	if (closest)
		fprintf(stderr, "profilehub: unknown command \"%s\" (did you mean \"%s\"?)\n\n%s",
			cmd, closest, usage_text);
	else
		fprintf(stderr, "profilehub: unknown command \"%s\"\n\n%s", cmd, usage_text);
	return CLI_USAGE;
}

/* 1 when --help or -h stands anywhere after the command, which is then
 * left with argv[1] = "--help" alone: its usage is the answer, and nothing
 * runs.  Given to the command whole, the flag was the value of another
 * ("privacy erase --custom-id --help" erased custom_id "--help", exit 0;
 * "exports backfill --help" looked for an export "--help", exit 1). */
static int help_take(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			argv[1] = argv[i];
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = {.config_path = "conf/hub.yaml"};
	const char *cmd;
	int rc;

	/* jansson's allocations note a failure (it reports none apart from
	 * bad input): profile_doc.c tells a stored value it cannot read from
	 * memory running out */
	json_set_alloc_funcs(hub_json_malloc, hub_free);
	/* a write past the file-size limit (ulimit -f) fails with EFBIG, as
	 * one to a full disk fails with ENOSPC, and is reported as that is:
	 * SIGXFSZ's default action killed the process, `run` with its
	 * requests in flight (tests/integration/file_limit.sh) */
	signal(SIGXFSZ, SIG_IGN);
	argc = take_global_options(&cli, argc - 1, argv + 1);
	argv++;
	if (argc < 0) /* named already */
		return CLI_USAGE;
	if (argc == 0) {
		fputs(usage_text, stderr);
		return CLI_USAGE;
	}
	cmd = argv[0];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		fputs(usage_text, stdout);
		return stdout_check(cmd, CLI_OK);
	}
	if (help_take(argc, argv)) {
		cli_set_help_asked(1);
		argc = 2; /* the command sees only its --help: its usage, nothing run */
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
		rc = cmd_version(argc, argv);
	else if (strcmp(cmd, "plugins") == 0)
		rc = cmd_plugins(&cli, argc, argv);
	else if (strcmp(cmd, "check") == 0)
		rc = cmd_check(&cli, argc, argv);
	else if (strcmp(cmd, "import") == 0)
		rc = cmd_import(&cli, argc, argv);
	else if (strcmp(cmd, "dump") == 0)
		rc = cmd_dump(&cli, argc, argv);
	else if (strcmp(cmd, "profile") == 0)
		rc = cmd_profile(&cli, argc, argv);
	else if (strcmp(cmd, "privacy") == 0)
		rc = cmd_privacy(&cli, argc, argv);
	else if (strcmp(cmd, "run") == 0)
		rc = cmd_run(&cli, argc, argv);
	else if (strcmp(cmd, "sync") == 0)
		rc = cmd_sync(&cli, argc, argv);
	else if (strcmp(cmd, "exports") == 0)
		rc = cmd_exports(&cli, argc, argv);
	else
		rc = unknown_command(cmd);
	config_free(cli.cfg);
	return stdout_check(cmd, rc);
}
