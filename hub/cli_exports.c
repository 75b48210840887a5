/*
 * cli_exports.c - `profilehub exports [--json]`: every configured export
 * with its state, cursor, lag (changes in the outbox after the cursor) and
 * last error, then the dead letters of each with their reasons.
 *
 * It reads the store only, so it works while `profilehub run` runs in
 * another process: the state shown is the saved one ("enabled",
 * "disabled", "off"); GET /v1/exports of the running hub shows the live one.
 * A change's content (personal data) is never printed.
 */
#include "cli.h"

#include "export.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define DEAD_LETTERS_SHOWN 100

static const char *str_or(json_t *o, const char *key, const char *fallback)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : fallback;
}

static void print_table(json_t *exports)
{
	size_t i;
	json_t *e;

	printf("%-20s %-10s %-10s %10s %10s  %s\n", "NAME", "PLUGIN", "STATE", "CURSOR", "LAG",
	       "LAST ERROR");
	json_array_foreach(exports, i, e) {
		printf("%-20s %-10s %-10s %10lld %10lld  ", str_or(e, "name", "?"),
		       str_or(e, "plugin", "?"), str_or(e, "state", "?"),
		       (long long)json_integer_value(json_object_get(e, "cursor")),
		       (long long)json_integer_value(json_object_get(e, "lag")));
		if (json_string_value(json_object_get(e, "last_error")))
			printf("%s: %s\n", str_or(e, "last_error_at", "?"), str_or(e, "last_error", ""));
		else
			printf("-\n");
	}
}

static void print_dead_letters(json_t *exports)
{
	size_t i, j;
	json_t *e, *d;

	json_array_foreach(exports, i, e) {
		json_t *list = json_object_get(e, "dead_letters");
		if (!json_array_size(list))
			continue;
		printf("\ndead letters of %s (%zu%s):\n", str_or(e, "name", "?"),
		       json_array_size(list),
		       json_array_size(list) >= DEAD_LETTERS_SHOWN ? " shown" : "");
		json_array_foreach(list, j, d)
			printf("  seq %-10lld %s  %s\n",
			       (long long)json_integer_value(json_object_get(d, "seq")),
			       str_or(d, "at", "?"), str_or(d, "reason", ""));
	}
}

int cmd_exports(struct cli *cli, int argc, char **argv)
{
	struct store *s = NULL;
	json_t *status;
	char err[1024];
	int is_json = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			is_json = 1;
		else
			return cli_usage("profilehub exports [--json]");
	}
	if (cli_load_config(cli) || cli_open_store(cli, &s))
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
	} else {
		print_table(json_object_get(status, "exports"));
		print_dead_letters(json_object_get(status, "exports"));
	}
	json_decref(status);
	return CLI_OK;
}
