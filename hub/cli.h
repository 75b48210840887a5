/*
 * cli.h - what the subcommands share: the loaded configuration, opening
 * the store, printing errors as "profilehub: <what>: <why>".
 * Exit codes: 0 ok, 1 failure, 2 usage.
 */
#ifndef HUB_CLI_H
#define HUB_CLI_H

#include "config.h"
#include "record.h"
#include "store.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* The file name of the configuration a command runs on when there is no
 * conf/hub.yaml at the default place (cli_load_config says so once). */
#define CLI_DEFAULTS_NAME "(defaults)"

struct cli {
	const char *config_path;  /* -c FILE (default conf/hub.yaml) */
	int is_config_explicit;
	int has_log_level_flag;   /* --log-level given: it wins over the config */
	struct hub_config *cfg;
	const char *prog_dir;     /* directory of the running binary */
};

void cli_error(const char *what, const char *fmt, ...) HUB_PRINTF(2, 3);
int cli_usage(const char *usage);
/* A misuse of `cmd`'s arguments: names it ("profilehub: dump: unknown
 * argument --bogus"), then the usage; exit 2.  With --help given, the usage
 * alone (the answer asked for). */
int cli_misuse(const char *cmd, const char *usage, const char *fmt, ...) HUB_PRINTF(3, 4);
/* --help was given to the command: cli_misuse() and cli_usage() answer
 * with the usage alone. */
void cli_set_help_asked(int is_asked);
/* The reason argv[i] was not taken, for cli_misuse: a known flag with no
 * value after it, or an unknown argument.  `flags` lists the command's
 * flags that take a value, NULL-terminated. */
const char *cli_arg_problem(char **argv, int argc, int i, const char *const *flags, char *buf,
			    size_t size);

/* The reason `flag`, which takes one value, was not taken a second time
 * (first, then second): "--source given twice (\"a\", then \"b\"): ...".
 * The last given won, silently. */
const char *cli_given_twice(const char *flag, const char *first, const char *second, char *buf,
			    size_t size);
/* argv[*i] when it is flags[f] (NULL-terminated, each taking one value)
 * with a value after it: the value into *vals[f] and *i onto it, 1; -1 with
 * why when *vals[f] has one already (cli_given_twice); 0 for any other
 * argument, the flag without its value included (cli_arg_problem). */
int cli_flag_take(int argc, char **argv, int *i, const char *const *flags,
		  const char **const *vals, char *why, size_t why_size);
/* fflush(stdout): 0, or -1 when what was written did not all reach it;
 * the first such failure's errno is kept for the command's own message
 * (a later call, with nothing left to write, would find errno stale). */
int cli_stdout_flush(void);
/* The errno of the first failed cli_stdout_flush(), or 0. */
int cli_stdout_errno(void);

/* Loads cli->cfg (once).  Returns 0, or -1 after printing the error. */
int cli_load_config(struct cli *cli);
/* The same for a command that creates no plugin instance or one only: the
 * variables of the sources' and exports' own keys may be unset (config.h). */
int cli_load_config_lazy_env(struct cli *cli);
void cli_record_rules(const struct hub_config *cfg, struct record_rules *rules);
/* Opens the plugin registry (plugin_dir, or next to the binary). */
struct plugin_registry;
int cli_registry_open(struct cli *cli, struct plugin_registry *reg);
/* What `check` and `run` both refuse, so that check says what run will:
 * every source and export, enabled or not, against its plugin's keys and
 * the hub's (a missing plugin, an unknown key, a bad schedule or kinds),
 * then two enabled exports writing one target, each error printed.
 * Returns the number of entries refused. */
int cli_check_entries(const struct plugin_registry *reg, const struct hub_config *cfg);
/* Two enabled exports writing one target (cli_targets.c), each pair's
 * error printed.  Returns the number of exports refused. */
int cli_check_export_targets(const struct plugin_registry *reg, const struct hub_config *cfg);
/* The README's example secrets (conf/hub.yaml's fallbacks): a warning
 * while http.listen is loopback, an error of `cmd` beyond it.  The value is
 * public, yet never printed.  0, or -1 after printing the errors. */
int cli_check_example_secrets(const struct cli *cli, const char *cmd);

/* Opens the configured store (creating the directory of an SQLite file). */
int cli_open_store(struct cli *cli, struct store **out);
/* The same for a command that reads or changes what is stored (dump,
 * profile, privacy, exports): an SQLite file that does not exist is an
 * error, not a new empty store (a command run from the wrong directory
 * would read nothing, or erase in the wrong store, and say it was done). */
int cli_open_existing_store(struct cli *cli, struct store **out);
/* 1 when the configuration's store is an SQLite file that does not exist
 * (no run or import created it: it holds nothing), errno access()'s; else
 * 0 (PostgreSQL: only opening it tells). */
int cli_store_is_missing(const struct cli *cli);
/* As cli_open_store, but a store an older hub made is left as it is,
 * which it prints on stdout (check --connect): STORE_OLDER, *out unset. */
int cli_open_store_unmigrated(struct cli *cli, struct store **out);

int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_dump(struct cli *cli, int argc, char **argv);
int cmd_profile(struct cli *cli, int argc, char **argv);
int cmd_privacy(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_sync(struct cli *cli, int argc, char **argv);
int cmd_exports(struct cli *cli, int argc, char **argv);

#endif
