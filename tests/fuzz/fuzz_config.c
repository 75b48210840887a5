/*
 * fuzz_config.c - libFuzzer target for the configuration: any bytes go
 * through cfg_parse_string (YAML tree, ${VAR} expansion), the typed readers,
 * cfg_to_json and the written-password check of connection strings (libpq,
 * ODBC, URLs) on every node, cfg_path_lead with the text as a plugin's
 * message naming a key path, then config_load_string on the same text
 * (and the check of a password written in store.url); the same bytes
 * parsed as the commands that run no plugin do (an unset ${VAR} kept on its
 * node, then looked for where the hub reads).
 * Everything is freed; a crash, a sanitizer report or a leak is a finding.
 * A few variables are set for ${VAR} to find (LLVMFuzzerInitialize).
 * Seeds: tests/fixtures/config/.
 */
#include "alloc.h"
#include "config.h"
#include "config_int.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void walk(const struct cfg_node *n, int depth)
{
	int64_t i;
	double d;
	int b;
	char *json;

	(void)cfg_as_int(n, &i);
	(void)cfg_as_bool(n, &b);
	(void)cfg_as_float(n, &d);
	(void)cfg_as_duration_ms(n, &i);
	(void)config_password_in_file(n);
	if (depth < 3) {
		json = cfg_to_json(n);
		hub_free(json);
	}
	for (size_t k = 0; k < n->n_children; k++)
		walk(&n->children[k], depth + 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ${VAR} expansion with variables that are set: a short one, an empty one,
 * one of 64 KB, one holding YAML syntax, and two ending in the line break
 * expansion drops (one of nothing else) (an expanded value is text,
 * never parsed again); seeds name them (tests/fixtures/config/env_*.yaml). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char big[65537];

	(void)argc, (void)argv;
	memset(big, 'x', sizeof(big) - 1);
	setenv("FUZZ_SHORT", "s3cret", 1);
	setenv("FUZZ_EMPTY", "", 1);
	setenv("FUZZ_BIG", big, 1);
	setenv("FUZZ_YAML", "a: [1, {b: ${FUZZ_SHORT}}]\n- &x *y", 1);
	setenv("FUZZ_CRLF", "s3cret\r\n", 1);
	setenv("FUZZ_NL", "\n", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct hub_config_key keys[] = {
		{"write_keys", HUB_CFG_STRING_LIST, NULL, 1, 1, "fuzz"},
		{"timeout", HUB_CFG_DURATION, "30s", 0, 0, "fuzz"},
		{0},
	};
	struct cfg_node *root = NULL;
	struct hub_config *cfg = NULL;
	char err[512];
	char *text;

	/* config_load_string reads a NUL-terminated text */
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cfg_parse_string("fuzz.yaml", (const char *)data, size, &root, err,
			     sizeof(err)) == 0) {
		walk(root, 0);
		/* the text as a plugin's message naming a key path of the tree
		 * ("a.b: x" finds the value of key "a.b") */
		(void)cfg_path_lead(root, text);
		(void)cfg_check_keys(root, "sources[0]", keys, config_keys_common_source, err,
				     sizeof(err));
		cfg_free(root);
	}
	/* as the commands that run no plugin parse it: an unset variable is
	 * kept on its node, and looked for where the hub reads */
	if (cfg_parse_string_with("fuzz.yaml", (const char *)data, size,
				  CFG_PARSE_DEFER_UNSET_ENV, &root, err, sizeof(err)) == 0) {
		struct strbuf lines;
		size_t n;

		walk(root, 0);
		(void)cfg_first_unset_env(root);
		strbuf_init(&lines);
		if ((n = cfg_unset_env_the_hub_reads(root, &lines)))
			cfg_unset_env_error(&lines, n, err, sizeof(err));
		strbuf_free(&lines);
		cfg_free(root);
	}

	if (config_load_string("fuzz.yaml", text, &cfg, err, sizeof(err)) == 0) {
		(void)config_store_password_in_file(cfg); /* store.url's text (raw) */
		config_free(cfg);
	}
	free(text);
	return 0;
}
