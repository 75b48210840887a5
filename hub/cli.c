/*
 * cli.c - what the subcommands share (cli.h): errors and misuse printed
 * as "profilehub: <what>: <why>", the configuration loaded once, the
 * store and the plugin registry opened for a command, stdout's flush.
 * In libhub, not main.c, so that unit tests can run a subcommand
 * (cmd_import) as the binary does.  No subcommand lives here.
 */
#include "cli.h"

#include "alloc.h"
#include "log.h"
#include "plugin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_error(const char *what, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%sprofilehub: %s: ", log_progress_erase(), what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* `profilehub <command> --help`: the command's usage is the answer asked
 * for (stdout, exit 0), not a misuse. */
static int is_help_asked;

void cli_set_help_asked(int is_asked)
{
	is_help_asked = is_asked;
}

int cli_misuse(const char *cmd, const char *usage, const char *fmt, ...)
{
	va_list ap;

	if (!is_help_asked) {
		fprintf(stderr, "profilehub: %s: ", cmd);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	return cli_usage(usage);
}

const char *cli_arg_problem(char **argv, int argc, int i, const char *const *flags, char *buf,
			    size_t size)
{
	for (size_t f = 0; flags && flags[f]; f++)
		if (strcmp(argv[i], flags[f]) == 0 && i + 1 >= argc) {
			snprintf(buf, size, "%s needs a value", argv[i]);
			return buf;
		}
	snprintf(buf, size, "unexpected argument \"%s\"", argv[i]);
	return buf;
}

const char *cli_given_twice(const char *flag, const char *first, const char *second, char *buf,
			    size_t size)
{
	snprintf(buf, size, "%s given twice (\"%.100s\", then \"%.100s\"): it takes one value",
		 flag, first, second);
	return buf;
}

int cli_flag_take(int argc, char **argv, int *i, const char *const *flags,
		  const char **const *vals, char *why, size_t why_size)
{
	size_t f;

	for (f = 0; flags[f] && strcmp(argv[*i], flags[f]) != 0; f++)
		;
	if (!flags[f] || *i + 1 >= argc)
		return 0;
	if (*vals[f]) {
		cli_given_twice(flags[f], *vals[f], argv[*i + 1], why, why_size);
		return -1;
	}
	*vals[f] = argv[++*i];
	return 1;
}

int cli_usage(const char *usage)
{
	if (is_help_asked) {
		printf("usage: %s\n", usage);
		return CLI_OK;
	}
	fprintf(stderr, "usage: %s\n", usage);
	return CLI_USAGE;
}

static int load_config(struct cli *cli, int is_lazy_env)
{
	char err[1024];

	if (cli->cfg)
		return 0;
	if (!cli->is_config_explicit && access(cli->config_path, F_OK) != 0) {
		/* no config at the default place: run on defaults, and say so */
		if (config_load_string(CLI_DEFAULTS_NAME, "{}", &cli->cfg, err, sizeof(err)) == 0) {
			fprintf(stderr,
				"profilehub: no %s here: using the defaults (-c FILE to name"
				" a config)\n",
				cli->config_path);
			return 0;
		}
	} else if ((is_lazy_env
			    ? config_load_lazy_env(cli->config_path, &cli->cfg, err, sizeof(err))
			    : config_load(cli->config_path, &cli->cfg, err, sizeof(err))) == 0) {
		if (cli->cfg->log_level && !cli->has_log_level_flag) {
			int lvl = log_level_parse(cli->cfg->log_level);
			if (lvl >= 0)
				log_set_level((enum hub_log_level)lvl);
		}
		return 0;
	}
	fprintf(stderr, "profilehub: %s\n", err);
	return -1;
}

int cli_load_config(struct cli *cli)
{
	return load_config(cli, 0);
}

int cli_load_config_lazy_env(struct cli *cli)
{
	return load_config(cli, 1);
}

void cli_record_rules(const struct hub_config *cfg, struct record_rules *rules)
{
	rules->external_ids = cfg->external_ids;
	rules->n_external_ids = cfg->n_external_ids;
	rules->blocked_values = cfg->blocked_values;
	rules->n_blocked_values = cfg->n_blocked_values;
}

/* mkdir -p of the directory that will hold `path`. */
static int make_parent_dirs(const char *path)
{
	char *copy = hub_strdup(path);
	int rc = 0;

	if (!copy)
		return -1;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0750) != 0 && errno != EEXIST)
			rc = -1;
		*p = '/';
	}
	hub_free(copy);
	return rc;
}

static int open_store(struct cli *cli, int is_migrate, struct store **out)
{
	char err[1024];
	const char *driver = cli->cfg->store_driver ? cli->cfg->store_driver : "sqlite";
	int rc;

	if (strcmp(driver, "sqlite") == 0 && cli->cfg->store_path)
		make_parent_dirs(cli->cfg->store_path);
	rc = is_migrate ? store_open(cli->cfg, out, err, sizeof(err))
			: store_open_unmigrated(cli->cfg, out, err, sizeof(err));
	if (rc == 0)
		return 0;
	if (rc == STORE_OLDER) {
		printf("store: %s\n", err);
		return STORE_OLDER;
	}
	cli_error("store", "%s", err);
	return -1;
}

int cli_open_store(struct cli *cli, struct store **out)
{
	return open_store(cli, 1, out);
}

int cli_open_store_unmigrated(struct cli *cli, struct store **out)
{
	return open_store(cli, 0, out);
}

int cli_store_is_missing(const struct cli *cli)
{
	const char *driver = cli->cfg->store_driver ? cli->cfg->store_driver : "sqlite";
	const char *path = cli->cfg->store_path;

	return strcmp(driver, "sqlite") == 0 && path && access(path, F_OK) != 0;
}

int cli_open_existing_store(struct cli *cli, struct store **out)
{
	char err[1024];
	const char *path = cli->cfg->store_path;

	if (cli_store_is_missing(cli)) {
		cli_error("store", "%s: %s (%s-c FILE names the config; run or an import"
			  " creates the store): nothing was read or changed",
			  path, strerror(errno),
			  path[0] == '/' ? "" : "a relative store.path is read from the current"
						" directory; ");
		return -1;
	}
	if (store_open_existing(cli->cfg, out, err, sizeof(err)) == 0)
		return 0;
	cli_error("store", "%s", err);
	return -1;
}

static char *cli_plugin_dir(struct cli *cli)
{
	if (cli->cfg && cli->cfg->plugin_dir)
		return hub_strdup(cli->cfg->plugin_dir);
	return plugin_default_dir();
}

static int stdout_first_errno;

int cli_stdout_flush(void)
{
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	if (!stdout_first_errno)
		stdout_first_errno = errno ? errno : EIO;
	return -1;
}

int cli_stdout_errno(void)
{
	return stdout_first_errno ? stdout_first_errno : EIO;
}

int cli_registry_open(struct cli *cli, struct plugin_registry *reg)
{
	char err[1024];
	char *dir = cli_plugin_dir(cli);
	int rc;

	if (!dir) {
		cli_error("plugins", "cannot find the plugin directory");
		return -1;
	}
	rc = plugin_registry_open(reg, dir, err, sizeof(err));
	if (rc)
		cli_error("plugins", "%s", err);
	hub_free(dir);
	return rc;
}
