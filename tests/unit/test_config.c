/*
 * test_config.c - the configuration: YAML tree with positions, ${VAR}
 * expansion, key-table checks and struct hub_config loading.
 *
 * Most tests are tables: one row per malformed config with the exact full
 * message expected ("bad.yaml:3:5: store.driver: ...").  Inline rows are
 * loaded under the name "bad.yaml"; file rows from tests/fixtures/config/
 * (tests run from the repository root).
 */
#include "testlib.h"

#include "../../hub/alloc.h"
#include "../../hub/config.h"
#include "../../hub/store.h"
#include "../../hub/util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURES "tests/fixtures/config/"

struct bad_case {
	const char *text;     /* inline YAML loaded as "bad.yaml"; NULL: file */
	const char *file;     /* fixture path when text is NULL */
	const char *expected; /* the whole message */
};

static void check_bad_rows(const struct bad_case *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct hub_config *cfg = NULL;
		char err[512] = "";
		int rc;

		if (rows[i].text)
			rc = config_load_string("bad.yaml", rows[i].text, &cfg, err, sizeof(err));
		else
			rc = config_load(rows[i].file, &cfg, err, sizeof(err));
		if (rc != -1 || strcmp(err, rows[i].expected) != 0)
			fprintf(stderr,
				"\n  row %zu: rc %d\n    got      \"%s\"\n    expected \"%s\"\n", i,
				rc, err, rows[i].expected);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_PTR_NULL(cfg);
		CU_ASSERT_STRING_EQUAL(err, rows[i].expected);
		config_free(cfg);
	}
}

#define CHECK_BAD_ROWS(rows) check_bad_rows(rows, sizeof(rows) / sizeof(rows[0]))

static struct hub_config *load_ok(const char *text)
{
	struct hub_config *cfg = NULL;
	char err[512] = "";

	if (config_load_string("ok.yaml", text, &cfg, err, sizeof(err)) != 0)
		fprintf(stderr, "\n  unexpected error: %s\n", err);
	CU_ASSERT_PTR_NOT_NULL(cfg);
	return cfg;
}

/* A person is named by custom_id, installation_id or an external id of
 * identity.external, but not by one named email or phone (several people
 * may share one: a privacy request by it would erase them all). */
static void test_person_keys_leave_out_an_external_email_or_phone(void)
{
	struct hub_config *cfg = load_ok("store:\n  path: var/hub.db\nidentity:\n"
					 "  external:\n    email: {limit: 5}\n"
					 "    crm_id: {limit: 1}\n    phone: {limit: 5}\n");
	char keys[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT(config_person_key(cfg, "custom_id"));
	CU_ASSERT(config_person_key(cfg, "crm_id"));
	CU_ASSERT_FALSE(config_person_key(cfg, "email"));
	CU_ASSERT_FALSE(config_person_key(cfg, "phone"));
	CU_ASSERT_FALSE(config_person_key(cfg, "mpid"));
	CU_ASSERT_STRING_EQUAL(config_person_keys(cfg, keys, sizeof(keys)),
			       "custom_id, installation_id or crm_id");
	config_free(cfg);
}

/* ---- malformed configs ---------------------------------------------- */

static void test_yaml_syntax_error_names_file_line_col(void)
{
	static const struct bad_case rows[] = {
		{NULL, FIXTURES "tab_indent.yaml",
		 FIXTURES "tab_indent.yaml:3:1: found character that cannot start any token "
			  "(while scanning for the next token at 3:1); YAML is indented with"
			  " spaces, never tabs"},
		{NULL, FIXTURES "unclosed_quote.yaml",
		 FIXTURES "unclosed_quote.yaml:6:1: found unexpected end of stream "
			  "(while scanning a quoted scalar at 3:9)"},
		{NULL, FIXTURES "bad_indent.yaml",
		 FIXTURES "bad_indent.yaml:3:9: mapping values are not allowed in this context"},
		{"store: {driver: sqlite\n", NULL,
		 "bad.yaml:2:1: did not find expected ',' or '}' (while parsing a flow "
		 "mapping at 1:8)"},
	};
	CHECK_BAD_ROWS(rows);
}

/* The quoting hint looks at the character libyaml names, whose index
 * counts characters, not bytes: non-ASCII text (or a BOM) before it made
 * the hint vanish or name another character. */
static void test_quote_hint_after_non_ascii_text(void)
{
	static const struct bad_case rows[] = {
		{"# caf\xc3\xa9\nschedule: */15 * * * *\n", NULL,
		 "bad.yaml:2:12: did not find expected alphabetic or numeric character (while "
		 "scanning an alias at 2:11); a value starting with '*' must be quoted, as in "
		 "\"*/15 * * * *\""},
		{"\xef\xbb\xbf" "a: @daily\n", NULL,
		 "bad.yaml:1:4: found character that cannot start any token (while scanning for "
		 "the next token at 1:4); a value starting with '@' must be quoted,"
		 " as in \"@daily\""},
		{"a: \xe2\x82\xac*\n`b: 1\n", NULL,
		 "bad.yaml:2:1: found character that cannot start any token (while scanning for "
		 "the next token at 2:1); a value starting with '`' must be quoted"},
	};
	CHECK_BAD_ROWS(rows);
}

/* A tab where indentation is read: libyaml names no tab, and an editor
 * showing tabs as spaces shows nothing wrong. */
static void test_tab_indent_is_named(void)
{
	static const struct bad_case rows[] = {
		{"http:\n  \tthreads: 2\n", NULL,
		 "bad.yaml:2:3: found character that cannot start any token (while scanning for "
		 "the next token at 2:3); YAML is indented with spaces, never tabs"},
		{"sources:\n\t- name: web\n", NULL,
		 "bad.yaml:2:1: found character that cannot start any token (while scanning for "
		 "the next token at 2:1); YAML is indented with spaces, never tabs"},
		{"x:\n  - a\n  -\tb\n", NULL,
		 "bad.yaml:3:4: found character that cannot start any token (while scanning for "
		 "the next token at 3:4); YAML is indented with spaces, never tabs"},
	};
	CHECK_BAD_ROWS(rows);
}

static void test_duplicate_key_is_refused(void)
{
	static const struct bad_case rows[] = {
		{NULL, FIXTURES "duplicate_key.yaml",
		 FIXTURES "duplicate_key.yaml:6:1: store: duplicate key (first at line 2)"},
		{"http:\n  threads: 2\n  threads: 3\n", NULL,
		 "bad.yaml:3:3: http.threads: duplicate key (first at line 2)"},
	};
	CHECK_BAD_ROWS(rows);
}

static void test_unknown_key_suggests_closest(void)
{
	static const struct bad_case rows[] = {
		{"sourcse: []\n", NULL,
		 "bad.yaml:1:1: sourcse: unknown key (did you mean \"sources\"?)"},
		{"store:\n  drvier: sqlite\n", NULL,
		 "bad.yaml:2:3: store.drvier: unknown key (did you mean \"driver\"?)"},
		{"http:\n  listen: 127.0.0.1:8080\n  port: 8080\n", NULL,
		 "bad.yaml:3:3: http.port: unknown key"},
		{"identity:\n  external:\n    crm_id: {limt: 1}\n", NULL,
		 "bad.yaml:3:14: identity.external.crm_id.limt: unknown key"
		 " (did you mean \"limit\"?)"},
		/* {api_secret:S} is one key: what follows its colon, perhaps a
		 * secret, was printed */
		{"identity:\n  external:\n    crm_id: {limit:SECRET7}\n", NULL,
		 "bad.yaml:3:14: identity.external.crm_id.limit: unknown key holding a ':' with no "
		 "space after it (write \"key: value\"; what follows the ':' is not shown)"},
		/* a merge key, and a variable in a key: said, not just "unknown" */
		{"http:\n  <<: {threads: 2}\n", NULL,
		 "bad.yaml:2:3: http.<<: YAML merge keys (<<) are not read here:"
		 " write the keys out"},
		{"http:\n  ${KEY}: 2\n", NULL,
		 "bad.yaml:2:3: http.${KEY}: unknown key (${...} is expanded in values only,"
		 " never in keys)"},
		/* a key in another case is always suggested: "HTTP" is four
		 * edits from "http", as many as its letters, and got none */
		{"HTTP:\n  threads: 2\n", NULL,
		 "bad.yaml:1:1: HTTP: unknown key (did you mean \"http\"?)"},
		{"Store:\n  path: x.db\n", NULL,
		 "bad.yaml:1:1: Store: unknown key (did you mean \"store\"?)"},
		{"http:\n  MAX_BODY: 10\n", NULL,
		 "bad.yaml:2:3: http.MAX_BODY: unknown key (did you mean \"max_body\"?)"},
		{"API: {}\n", NULL, "bad.yaml:1:1: API: unknown key (did you mean \"api\"?)"},
		/* name and plugin are read before the entry's keys are checked:
		 * "Plugin" was a missing "plugin" */
		{"sources:\n  - name: web\n    Plugin: segment\n", NULL,
		 "bad.yaml:3:5: sources[0].Plugin: unknown key (did you mean \"plugin\"?)"},
		{"exports:\n  - NAME: j\n    plugin: jsonl\n", NULL,
		 "bad.yaml:2:5: exports[0].NAME: unknown key (did you mean \"name\"?)"},
	};
	CHECK_BAD_ROWS(rows);
}

static void test_wrong_type_is_reported_at_the_value(void)
{
	static const struct bad_case rows[] = {
		{"http:\n  threads: many\n", NULL,
		 "bad.yaml:2:12: http.threads: expected an integer"},
		{"http:\n  threads: 2.5\n", NULL,
		 "bad.yaml:2:12: http.threads: expected an integer"},
		{"sources:\n  - name: web\n    plugin: segment\n    enabled: maybe\n", NULL,
		 "bad.yaml:4:14: sources[0].enabled: expected a boolean"},
		{"identity:\n  blocked_values: test@example.com\n", NULL,
		 "bad.yaml:2:19: identity.blocked_values: expected a list of strings"},
		{"identity:\n  blocked_values:\n    - a\n    - {b: c}\n", NULL,
		 "bad.yaml:4:7: identity.blocked_values: expected a list of strings"},
		{"store: sqlite\n", NULL, "bad.yaml:1:8: store: expected a mapping"},
		{"http:\n  timeout: 30 seconds\n", NULL,
		 "bad.yaml:2:12: http.timeout: expected a duration like 30s, 15m, 1h30m or 2d"},
		{"http:\n  listen: [127.0.0.1, 8080]\n", NULL,
		 "bad.yaml:2:11: http.listen: expected a string"},
		{"sources:\n  name: web\n", NULL,
		 "bad.yaml:2:3: sources: expected a list of mappings"},
		{"sources: web\n", NULL, "bad.yaml:1:10: sources: expected a list of mappings"},
		{"exports: 3\n", NULL, "bad.yaml:1:10: exports: expected a list of mappings"},
		{"exports:\n  - webhook\n", NULL, "bad.yaml:2:5: exports[0]: expected a mapping"},
	};
	CHECK_BAD_ROWS(rows);
}

/* http.cors_origins: absent is any origin; "*" among them too; [] none;
 * an entry that is no web origin (no scheme, a path, a trailing slash,
 * empty) is refused at its place; its scheme may be in any case (origins
 * are compared without case). */
static void test_cors_origins_are_web_origins_or_a_star(void)
{
	static const char expected[] =
		": expected a web origin, scheme://host[:port] with no path"
		" (https://shop.example, http://localhost:3000), or \"*\"";
	static const struct {
		const char *text, *where;
	} bad[] = {
		{"http:\n  cors_origins: [shop.example]\n", "bad.yaml:2:18: http.cors_origins[0]"},
		{"http:\n  cors_origins: [\"*\", https://shop.example/]\n",
		 "bad.yaml:2:23: http.cors_origins[1]"},
		{"http:\n  cors_origins: [\"https://a b\"]\n", "bad.yaml:2:18: http.cors_origins[0]"},
		{"http:\n  cors_origins: [\"https://\"]\n", "bad.yaml:2:18: http.cors_origins[0]"},
		{"http:\n  cors_origins: [ftp://shop.example]\n",
		 "bad.yaml:2:18: http.cors_origins[0]"},
	};
	struct hub_config *any, *none, *some, *star, *upper;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hub_config *cfg = NULL;
		char err[512] = "", want[512];

		snprintf(want, sizeof(want), "%s%s", bad[i].where, expected);
		CU_ASSERT_EQUAL(config_load_string("bad.yaml", bad[i].text, &cfg, err,
						   sizeof(err)), -1);
		CU_ASSERT_STRING_EQUAL(err, want);
		config_free(cfg);
	}
	any = load_ok("http: {listen: \"127.0.0.1:0\"}\n");
	none = load_ok("http: {cors_origins: []}\n");
	some = load_ok("http: {cors_origins: [https://shop.example, \"http://[::1]:3000\"]}\n");
	star = load_ok("http: {cors_origins: [https://shop.example, \"*\"]}\n");
	upper = load_ok("http: {cors_origins: [HTTPS://Shop.example, Http://localhost:3000]}\n");
	if (!any || !none || !some || !star || !upper)
		goto out;
	CU_ASSERT(any->http_cors_any && any->n_http_cors_origins == 0);
	CU_ASSERT(!none->http_cors_any && none->n_http_cors_origins == 0);
	CU_ASSERT(!some->http_cors_any && some->n_http_cors_origins == 2);
	CU_ASSERT_STRING_EQUAL(some->http_cors_origins[1], "http://[::1]:3000");
	CU_ASSERT(star->http_cors_any);
	CU_ASSERT(!upper->http_cors_any && upper->n_http_cors_origins == 2);
out:
	config_free(upper);
	config_free(any);
	config_free(none);
	config_free(some);
	config_free(star);
}

static void test_missing_required_key_points_at_the_mapping(void)
{
	static const struct bad_case rows[] = {
		{"sources:\n  - plugin: segment\n", NULL,
		 "bad.yaml:2:5: sources[0]: missing required key \"name\""},
		{"sources:\n  - name: web\n    plugin: segment\n  - name: app\n", NULL,
		 "bad.yaml:4:5: sources[1]: missing required key \"plugin\""},
		{"store:\n  driver: postgres\n", NULL,
		 "bad.yaml:2:3: store: missing required key \"url\""},
		{"sources:\n  - name:\n    plugin: segment\n", NULL,
		 "bad.yaml:2:10: sources[0].name: expected a string"},
	};
	CHECK_BAD_ROWS(rows);
}

static void test_duplicate_instance_name_is_refused(void)
{
	static const struct bad_case rows[] = {
		{"sources:\n  - name: web\n    plugin: segment\n"
		 "  - name: web\n    plugin: mparticle\n",
		 NULL, "bad.yaml:4:11: sources[1].name: duplicate source name \"web\""},
		{"exports:\n  - {name: feed, plugin: webhook}\n  - {name: other, plugin: jsonl}\n"
		 "  - {name: feed, plugin: jsonl}\n",
		 NULL, "bad.yaml:4:12: exports[2].name: duplicate export name \"feed\""},
		{"sources:\n  - name: Web Site\n    plugin: segment\n", NULL,
		 "bad.yaml:2:11: sources[0].name: must be 1 to 64 characters of a-z, 0-9, _ and -"},
		{"sources:\n  - name: web\n    plugin: ../evil\n", NULL,
		 "bad.yaml:3:13: sources[0].plugin: must be 1 to 64 characters"
		 " of a-z, 0-9, _ and -"},
		/* a name in another case: its lower case suggested */
		{"sources:\n  - name: web\n    plugin: Segment\n", NULL,
		 "bad.yaml:3:13: sources[0].plugin: must be 1 to 64 characters of a-z, 0-9, _ and -"
		 " (did you mean \"segment\"?)"},
		{"exports:\n  - name: Feed-1\n    plugin: jsonl\n", NULL,
		 "bad.yaml:2:11: exports[0].name: must be 1 to 64 characters of a-z, 0-9, _ and -"
		 " (did you mean \"feed-1\"?)"},
		{"identity:\n  external:\n    CRM_ID: {limit: 1}\n", NULL,
		 "bad.yaml:3:5: identity.external.CRM_ID: an external id name must be 1 to 64"
		 " characters of a-z, 0-9 and _ (did you mean \"crm_id\"?)"},
	};
	CHECK_BAD_ROWS(rows);
}

/* A source's page_size (1..1000000) and max_retries (0..1000) take their
 * whole range, both ends included, and nothing past it; null is unset. */
static void test_source_limits_take_their_whole_range(void)
{
	static const struct bad_case rows[] = {
		{"sources:\n  - {name: a, plugin: p, page_size: 1000001}\n", NULL,
		 "bad.yaml:2:37: sources[0].page_size: must be between 1 and 1000000"},
		{"sources:\n  - {name: a, plugin: p, page_size: 0}\n", NULL,
		 "bad.yaml:2:37: sources[0].page_size: must be between 1 and 1000000"},
		{"sources:\n  - {name: a, plugin: p, max_retries: 1001}\n", NULL,
		 "bad.yaml:2:39: sources[0].max_retries: must be between 0 and 1000"},
		{"sources:\n  - {name: a, plugin: p, max_retries: -1}\n", NULL,
		 "bad.yaml:2:39: sources[0].max_retries: must be between 0 and 1000"},
	};
	struct hub_config *cfg;

	CHECK_BAD_ROWS(rows);
	cfg = load_ok("sources:\n  - {name: a, plugin: p, page_size: 1000000, max_retries: 1000}\n"
		      "  - {name: b, plugin: p, page_size: 1, max_retries: 0}\n"
		      "  - {name: c, plugin: p, page_size: null, max_retries: null}\n");
	if (!cfg)
		return;
	CU_ASSERT_EQUAL(cfg->n_sources, 3);
	config_free(cfg);
}

/* The hub's own limits take their whole range, each end included; one
 * past either end is refused, naming both ends when there is a maximum
 * short of the type's. */
static void test_config_hub_limits_take_their_whole_range(void)
{
	static const struct bad_case rows[] = {
		{"http:\n  threads: 0\n", NULL,
		 "bad.yaml:2:12: http.threads: must be between 1 and 1024"},
		{"http:\n  max_connections: 0\n", NULL,
		 "bad.yaml:2:20: http.max_connections: must be between 1 and 1000000"},
		{"http:\n  max_connections: 1000001\n", NULL,
		 "bad.yaml:2:20: http.max_connections: must be between 1 and 1000000"},
		{"identity:\n  max_installations: 0\n", NULL,
		 "bad.yaml:2:22: identity.max_installations: must be at least 1"},
		{"identity:\n  max_attributes: 0\n", NULL,
		 "bad.yaml:2:19: identity.max_attributes: must be at least 1"},
	};
	struct hub_config *lo, *hi;

	CHECK_BAD_ROWS(rows);
	lo = load_ok("http: {listen: \"127.0.0.1:0\", threads: 1, max_connections: 1,"
		     " max_body: 1, timeout: 1ms}\n"
		     "identity:\n  max_installations: 1\n  max_attributes: 1\n"
		     "  external: {crm_id: {limit: 1, priority: 1}}\n"
		     "privacy: {erase_block_days: 1}\nintake: {queue_max: 1}\n");
	hi = load_ok("http: {listen: \"[::1]:65535\", threads: 1024, max_connections: 1000000,"
		     " max_body: 1073741824, timeout: 24h}\n"
		     "identity:\n  max_installations: 2147483647\n  max_attributes: 2147483647\n"
		     "  external: {crm_id: {limit: 2147483647, priority: 2147483647}}\n"
		     "privacy: {erase_block_days: 2147483647}\n"
		     "intake: {queue_max: 2147483647}\n");
	if (!lo || !hi)
		goto out;
	CU_ASSERT(lo->http_threads == 1 && hi->http_threads == 1024);
	CU_ASSERT(lo->http_max_connections == 1 && hi->http_max_connections == 1000000);
	CU_ASSERT(lo->http_max_body == 1 && hi->http_max_body == 1073741824);
	CU_ASSERT(lo->http_timeout_ms == 1 && hi->http_timeout_ms == 24LL * 3600 * 1000);
	CU_ASSERT(lo->max_installations == 1 && hi->max_installations == INT32_MAX);
	CU_ASSERT(lo->max_attributes == 1 && hi->max_attributes == INT32_MAX);
	CU_ASSERT(lo->erase_block_days == 1 && hi->erase_block_days == INT32_MAX);
	CU_ASSERT(lo->intake_queue_max == 1 && hi->intake_queue_max == INT32_MAX);
	CU_ASSERT_EQUAL_FATAL(lo->n_external_ids, 1);
	CU_ASSERT_EQUAL_FATAL(hi->n_external_ids, 1);
	CU_ASSERT(lo->external_ids[0].limit == 1 && lo->external_ids[0].priority == 1);
	CU_ASSERT(hi->external_ids[0].limit == INT32_MAX &&
		  hi->external_ids[0].priority == INT32_MAX);
out:
	config_free(hi);
	config_free(lo);
}

/* http.listen is host:port with both parts: no port, an unclosed IPv6
 * bracket, empty brackets or a port with a letter is refused as not
 * host:port; a port past 65535 saying so. */
static void test_config_listen_needs_a_host_and_a_port(void)
{
#define LISTEN_MUST "http.listen: expected host:port, like 127.0.0.1:8080 (0.0.0.0:8080" \
		    " for every interface; [::1]:8080 for IPv6)"
#define PORT_MUST "http.listen: the port must be from 0 to 65535 (0: any free one)"
	static const struct bad_case rows[] = {
		{"http:\n  listen: \"127.0.0.1:\"\n", NULL, "bad.yaml:2:11: " LISTEN_MUST},
		{"http:\n  listen: \"[::1:8080\"\n", NULL, "bad.yaml:2:11: " LISTEN_MUST},
		{"http:\n  listen: \"[]:8080\"\n", NULL, "bad.yaml:2:11: " LISTEN_MUST},
		{"http:\n  listen: \"127.0.0.1:65536\"\n", NULL, "bad.yaml:2:11: " PORT_MUST},
		{"http:\n  listen: \"[::1]:99999\"\n", NULL, "bad.yaml:2:11: " PORT_MUST},
		{"http:\n  listen: \"127.0.0.1:80a\"\n", NULL, "bad.yaml:2:11: " LISTEN_MUST},
	};
#undef LISTEN_MUST
#undef PORT_MUST
	CHECK_BAD_ROWS(rows);
}

/* The host of http.listen is read as `run` binds it: `check` said ok to
 * each of these, and `run` refused it ("... is not host:port", no place)
 * or bound another address than the one written (getaddrinfo reads
 * "010.0.0.1" as octal 8.0.0.1, "0" as 0.0.0.0: every interface). */
static void test_config_listen_host_is_an_address_or_a_name(void)
{
#define HOST_MUST "http.listen: the host must be an IPv4 address (127.0.0.1), an IPv6 one" \
		  " in brackets ([::1]) or a host name (localhost)"
	static const struct bad_case rows[] = {
		{"http:\n  listen: \"256.1.1.1:80\"\n", NULL, "bad.yaml:2:11: " HOST_MUST},
		{"http:\n  listen: \"010.0.0.1:80\"\n", NULL, "bad.yaml:2:11: " HOST_MUST},
		{"http:\n  listen: \"127.1:8080\"\n", NULL, "bad.yaml:2:11: " HOST_MUST},
		{"http:\n  listen: \"0:8080\"\n", NULL, "bad.yaml:2:11: " HOST_MUST},
		{"http:\n  listen: \"0x7f.1:8080\"\n", NULL, "bad.yaml:2:11: " HOST_MUST},
		{"http:\n  listen: \"[127.0.0.1]:8080\"\n", NULL, "bad.yaml:2:11: " HOST_MUST},
		{"http:\n  listen: \"[]]:8080\"\n", NULL, "bad.yaml:2:11: " HOST_MUST},
		{"http:\n  listen: \"127.0.0.1 :8080\"\n", NULL, "bad.yaml:2:11: " HOST_MUST},
		{"http:\n  listen: \"hub..example:8080\"\n", NULL, "bad.yaml:2:11: " HOST_MUST},
		{"http:\n  listen: \".hub:8080\"\n", NULL, "bad.yaml:2:11: " HOST_MUST},
	};
	static const char *const good[] = {
		"127.0.0.1:8080", "0.0.0.0:0", "localhost:8080", "[::]:8080", "[::1]:65535",
		"[::ffff:127.0.0.1]:80", "[fe80::1%lo]:80", "hub-1.internal.:8080",
		"my_service:80", "Hub.Example.COM:80",
	};
	char text[128];
#undef HOST_MUST
	CHECK_BAD_ROWS(rows);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct hub_config *cfg;

		snprintf(text, sizeof(text), "http:\n  listen: \"%s\"\n", good[i]);
		cfg = load_ok(text);
		if (cfg)
			CU_ASSERT_STRING_EQUAL(cfg->http_listen, good[i]);
		config_free(cfg);
	}
}

/* store.lock_timeout under postgres is a duration from 1ms to 24h, or 0s
 * (wait without end); unset it is not set (the store keeps the role's,
 * database's or URL's, else 10 s).  sqlite has none, and beside a
 * lock_timeout in the URL's options, whichever way written, it is refused
 * without the URL. */
static void test_config_store_lock_timeout_is_a_postgres_duration(void)
{
#define PG "store:\n  driver: postgres\n  url: postgresql://h/db\n"
#define MUST "store.lock_timeout: must be from 1ms to 24h, or 0s (wait without end)"
#define BOTH "store.lock_timeout: store.url's options set lock_timeout too: keep one of them"
	static const struct bad_case rows[] = {
		{PG "  lock_timeout: 25h\n", NULL, "bad.yaml:4:17: " MUST},
		{PG "  lock_timeout: -1s\n", NULL,
		 "bad.yaml:4:17: store.lock_timeout: expected a duration like 30s, 15m, 1h30m or"
		 " 2d"},
		{"store:\n  lock_timeout: 5s\n", NULL,
		 "bad.yaml:2:17: store.lock_timeout: a key of driver: postgres, and the driver is"
		 " sqlite (the default)"},
		{"store:\n  driver: postgres\n  url: \"postgresql://u:secret@h/db?options=-c%20"
		 "lock_timeout%3D1s\"\n  lock_timeout: 5s\n", NULL, "bad.yaml:4:17: " BOTH},
		{"store:\n  driver: postgres\n  url: \"host=h options='-cstatement_timeout=1"
		 " --Lock-Timeout=1s'\"\n  lock_timeout: 5s\n", NULL, "bad.yaml:4:17: " BOTH},
	};
	static const struct {
		const char *yaml;
		int64_t ms;
	} good[] = {
		{PG "  lock_timeout: 0s\n", 0},
		{PG "  lock_timeout: 1500ms\n", 1500},
		{PG "  lock_timeout: 24h\n", 24 * 3600 * 1000LL},
		/* another setting's name holding it is not it */
		{"store:\n  driver: postgres\n  url: \"postgresql://h/db?options=-c%20"
		 "deadlock_timeout%3D1s\"\n  lock_timeout: 30s\n", 30000},
	};
	struct hub_config *cfg;

	CHECK_BAD_ROWS(rows);
	cfg = load_ok(PG);
	CU_ASSERT(cfg && !cfg->is_store_lock_timeout_set);
	config_free(cfg);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cfg = load_ok(good[i].yaml);
		CU_ASSERT(cfg && cfg->is_store_lock_timeout_set);
		CU_ASSERT_EQUAL(cfg ? cfg->store_lock_timeout_ms : -1, good[i].ms);
		config_free(cfg);
	}
#undef BOTH
#undef MUST
#undef PG
}

/* store.schema under postgres is a plain SQL identifier of at most 63
 * characters, "public" when not given; sqlite has none. */
static void test_config_store_schema_is_a_plain_identifier(void)
{
#define PG "store:\n  driver: postgres\n  url: postgresql://h/db\n"
#define SCHEMA_MUST \
	"store.schema: must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63)"
	static const struct bad_case rows[] = {
		{PG "  schema: 1st\n", NULL, "bad.yaml:4:11: " SCHEMA_MUST},
		{PG "  schema: s123456789012345678901234567890123456789012345678901234567890123\n",
		 NULL, "bad.yaml:4:11: " SCHEMA_MUST},
		{"store:\n  schema: hub\n", NULL,
		 "bad.yaml:2:11: store.schema: a key of driver: postgres, and the driver is sqlite"
		 " (the default)"},
	};
	static const char *const good[] = {
		"_hub_2", "s12345678901234567890123456789012345678901234567890123456789012",
	};
	struct hub_config *cfg;
	char text[256];

	CHECK_BAD_ROWS(rows);
	cfg = load_ok(PG);
	CU_ASSERT_STRING_EQUAL(cfg && cfg->store_schema ? cfg->store_schema : "", "public");
	config_free(cfg);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), PG "  schema: %s\n", good[i]);
		cfg = load_ok(text);
		CU_ASSERT_STRING_EQUAL(cfg && cfg->store_schema ? cfg->store_schema : "", good[i]);
		config_free(cfg);
	}
#undef SCHEMA_MUST
#undef PG
}

/* store.path is a file's path, never an SQLite URI: Debian's SQLite reads
 * "file:..." as one ("file::memory:": each connection's own empty
 * database; "file:data/hub.db?cache=private": data/hub.db) where the hub
 * made the directory "file:data", the file "file:data/hub.db?..." and its
 * leases' locks by the name as written.  A path merely holding "file:" or
 * "memory" is a file. */
static void test_config_store_path_is_no_sqlite_uri(void)
{
#define URI_MUST(v) \
	"bad.yaml:2:9: store.path: must name a file, not an SQLite URI: \"" v "\" (the hub" \
	" makes the file, its directory and its leases' locks by the name as written: write" \
	" the file's path)"
	static const struct bad_case rows[] = {
		{"store:\n  path: \"file::memory:\"\n", NULL, URI_MUST("file::memory:")},
		{"store:\n  path: \"file:hub?mode=memory&cache=shared\"\n", NULL,
		 URI_MUST("file:hub?mode=memory&cache=shared")},
		{"store:\n  path: \"file:data/hub.db?cache=private\"\n", NULL,
		 URI_MUST("file:data/hub.db?cache=private")},
		{"store:\n  path: \"file:///var/lib/hub.db\"\n", NULL,
		 URI_MUST("file:///var/lib/hub.db")},
	};
	static const char *const good[] = {
		"var/hub.db", "memory.db", ":memory:x", "./file:hub.db", "data/file:x", "FILE.db",
	};
	struct hub_config *cfg;
	char text[256];

	CHECK_BAD_ROWS(rows);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "store:\n  path: \"%s\"\n", good[i]);
		cfg = load_ok(text);
		CU_ASSERT_STRING_EQUAL(cfg && cfg->store_path ? cfg->store_path : "", good[i]);
		config_free(cfg);
	}
#undef URI_MUST
}

/* identity.external holds CONFIG_MAX_EXTERNAL_IDS ids at most. */
static void test_config_external_ids_are_bounded(void)
{
	char text[64 * 16 + 64], *at;
	struct hub_config *cfg = NULL;
	char err[512] = "", expected[128];

	for (int n = CONFIG_MAX_EXTERNAL_IDS; n <= CONFIG_MAX_EXTERNAL_IDS + 1; n++) {
		at = text + sprintf(text, "identity:\n  external:\n");
		for (int i = 0; i < n; i++)
			at += sprintf(at, "    e%d:\n", i);
		if (n == CONFIG_MAX_EXTERNAL_IDS) {
			cfg = load_ok(text);
			CU_ASSERT_EQUAL(cfg ? cfg->n_external_ids : 0, (size_t)n);
			config_free(cfg);
			continue;
		}
		snprintf(expected, sizeof(expected),
			 "bad.yaml:3:5: identity.external: at most %d external id types",
			 CONFIG_MAX_EXTERNAL_IDS);
		CU_ASSERT_EQUAL(config_load_string("bad.yaml", text, &cfg, err, sizeof(err)), -1);
		CU_ASSERT_STRING_EQUAL(err, expected);
		CU_ASSERT_PTR_NULL(cfg);
	}
}

/* A config loaded from text without a name is "<config>" in messages. */
static void test_config_unnamed_text_is_config_in_messages(void)
{
	struct hub_config *cfg = NULL;
	char err[512] = "";

	CU_ASSERT_EQUAL(config_load_string(NULL, "log_level: loud\n", &cfg, err, sizeof(err)),
			-1);
	CU_ASSERT_STRING_EQUAL(err, "<config>:1:12: log_level: must be error, warn, info or debug");
	CU_ASSERT_EQUAL_FATAL(config_load_string(NULL, "", &cfg, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(cfg->file, "<config>");
	config_free(cfg);
}

static void test_unset_env_var_is_an_error(void)
{
	static const struct bad_case rows[] = {
		{"http:\n  listen: ${HUB_TEST_UNSET_VAR}\n", NULL,
		 "bad.yaml:2:11: http.listen: environment variable HUB_TEST_UNSET_VAR is not set"},
		{"api:\n  tokens:\n    - \"a-${HUB_TEST_UNSET_VAR}\"\n", NULL,
		 "bad.yaml:3:7: api.tokens[0]: environment variable HUB_TEST_UNSET_VAR is not set"},
		{"log_level: ${HUB_TEST_UNSET_VAR\n", NULL,
		 "bad.yaml:1:12: log_level: malformed ${...} reference: no closing }"},
		{"log_level: ${}\n", NULL,
		 "bad.yaml:1:12: log_level: malformed ${...} reference (use ${NAME} or ${NAME:-default})"},
		{"log_level: ${HUB X}\n", NULL,
		 "bad.yaml:1:12: log_level: malformed ${...} reference (use ${NAME} or ${NAME:-default})"},
		{"log_level: ${HUB_X:default}\n", NULL,
		 "bad.yaml:1:12: log_level: malformed ${...} reference (use ${NAME} or ${NAME:-default})"},
	};

	unsetenv("HUB_TEST_UNSET_VAR");
	CHECK_BAD_ROWS(rows);
}

/* A command that creates no plugin instance (profile, dump, privacy,
 * exports) loads a config whose sources' and exports' own keys name
 * variables the operator's shell has not set; the hub's own keys, and an
 * entry's common ones, still need theirs, with config_load()'s message. */
static void test_unset_env_var_of_a_plugin_key_waits_for_the_plugin(void)
{
	static const char plugin_keys[] =
		"sources:\n"
		"  - name: wh\n"
		"    plugin: example\n"
		"    path: ${HUB_TEST_UNSET_VAR}\n"
		"exports:\n"
		"  - name: hook\n"
		"    plugin: webhook\n"
		"    url: \"https://h.example.com/${HUB_TEST_UNSET_VAR}\"\n"
		"    secret: ${HUB_TEST_OTHER_UNSET_VAR}\n";
	static const struct {
		const char *text, *expected;
	} hub_keys[] = {
		{"store:\n  path: ${HUB_TEST_UNSET_VAR}\n",
		 ":2:9: store.path: environment variable HUB_TEST_UNSET_VAR is not set"},
		{"sources:\n  - name: ${HUB_TEST_UNSET_VAR}\n    plugin: example\n",
		 ":2:11: sources[0].name: environment variable HUB_TEST_UNSET_VAR is not set"},
		{"exports:\n  - name: x\n    plugin: webhook\n    kinds: [\"${HUB_TEST_UNSET_VAR}\"]\n",
		 ":4:13: exports[0].kinds[0]: environment variable HUB_TEST_UNSET_VAR is not set"},
		{"sources:\n  - ${HUB_TEST_UNSET_VAR}\n",
		 ":2:5: sources[0]: environment variable HUB_TEST_UNSET_VAR is not set"},
	};
	char *dir = testlib_mkdtemp(), *path, want[512], err[512];
	struct hub_config *cfg = NULL;
	const struct cfg_node *url;

	unsetenv("HUB_TEST_UNSET_VAR");
	unsetenv("HUB_TEST_OTHER_UNSET_VAR");
	path = testlib_write_file(dir, "hub.yaml", plugin_keys);
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4:11: sources[0].path: environment variable HUB_TEST_UNSET_VAR"
		 " is not set\n", path);
	CU_ASSERT_EQUAL(strncmp(err, want, strlen(want)), 0);
	CU_ASSERT_EQUAL_FATAL(config_load_lazy_env(path, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg->n_sources, 1);
	CU_ASSERT_EQUAL(cfg->n_exports, 1);
	url = cfg_get(cfg->exports[0].node, "url");
	CU_ASSERT_STRING_EQUAL(url->value, "https://h.example.com/");
	snprintf(want, sizeof(want), "%s:8:10: exports[0].url: environment variable HUB_TEST_UNSET_VAR"
		 " is not set",
		 path);
	CU_ASSERT_STRING_EQUAL(url->unset_env, want);
	/* the first of the entry in the file's order */
	CU_ASSERT_PTR_EQUAL(cfg_first_unset_env(cfg->exports[0].node), url);
	config_free(cfg);
	free(path);
	for (size_t i = 0; i < sizeof(hub_keys) / sizeof(hub_keys[0]); i++) {
		path = testlib_write_file(dir, "hub.yaml", hub_keys[i].text);
		snprintf(want, sizeof(want), "%s%s", path, hub_keys[i].expected);
		cfg = NULL;
		CU_ASSERT_EQUAL(config_load_lazy_env(path, &cfg, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NULL(cfg);
		CU_ASSERT_STRING_EQUAL(err, want);
		CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof(err)), -1);
		CU_ASSERT_STRING_EQUAL(err, want);
		free(path);
	}
	testlib_rmtree(dir);
	free(dir);
}

/* Every unset variable of a file is named in one error, one a line with
 * its place, in the file's order (config_load: all of them; the lazy load:
 * those the hub reads; a plugin check: its entry's), so that one run tells
 * what to set; what the buffer cannot hold is counted. */
static void test_every_unset_env_var_is_named_at_once(void)
{
	static const char text[] =
		"store:\n"
		"  path: ${HUB_TEST_UNSET_A}\n"
		"api:\n"
		"  tokens: [\"${HUB_TEST_SET_VAR}\", \"${HUB_TEST_UNSET_B}\"]\n"
		"exports:\n"
		"  - name: hook\n"
		"    plugin: webhook\n"
		"    url: ${HUB_TEST_UNSET_C}\n"
		"    secret: ${HUB_TEST_UNSET_D}\n";
	static const char *const lines[] = {
		":2:9: store.path: environment variable HUB_TEST_UNSET_A is not set",
		":4:35: api.tokens[1]: environment variable HUB_TEST_UNSET_B is not set",
		":8:10: exports[0].url: environment variable HUB_TEST_UNSET_C is not set",
		":9:13: exports[0].secret: environment variable HUB_TEST_UNSET_D is not set",
	};
	char *dir = testlib_mkdtemp(), *path, want[2048], err[1024], small[200];
	struct hub_config *cfg = NULL;

	unsetenv("HUB_TEST_UNSET_A");
	unsetenv("HUB_TEST_UNSET_B");
	unsetenv("HUB_TEST_UNSET_C");
	unsetenv("HUB_TEST_UNSET_D");
	setenv("HUB_TEST_SET_VAR", "tok", 1);
	path = testlib_write_file(dir, "hub.yaml", text);
	want[0] = '\0';
	for (size_t i = 0; i < 4; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s%s",
			 i ? "\n" : "", path, lines[i]);
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, want);
	/* the lazy load: the hub's own keys only */
	*strstr(strstr(want, "\n") + 1, "\n") = '\0';
	CU_ASSERT_EQUAL(config_load_lazy_env(path, &cfg, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, want);
	/* too many for the buffer: the first whole, the rest counted */
	CU_ASSERT_EQUAL(config_load(path, &cfg, small, sizeof(small)), -1);
	snprintf(want, sizeof(want), "%s%s\n", path, lines[0]);
	CU_ASSERT_EQUAL(strncmp(small, want, strlen(want)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(small, " more unset)"));
	CU_ASSERT_PTR_NULL(cfg);
	unsetenv("HUB_TEST_SET_VAR");
	free(path);
	testlib_rmtree(dir);
	free(dir);
}

/* ${A:-${B}} is refused whether A is set or not: the first } ended the
 * reference, so the value was the literal "${B}" (A unset, B never said
 * to be unset) or A's value and a stray "}" (A set). */
static void test_nested_reference_in_a_default_is_refused(void)
{
	static const struct bad_case rows[] = {
		{"api:\n  tokens: [\"${HUB_TEST_UNSET_VAR:-${HUB_TEST_OLD_VAR}}\"]\n", NULL,
		 "bad.yaml:2:12: api.tokens[0]: nested ${...} in a default is not supported"},
		{"api:\n  tokens: [\"${HUB_TEST_TOKEN:-${HUB_TEST_OLD_VAR}}\"]\n", NULL,
		 "bad.yaml:2:12: api.tokens[0]: nested ${...} in a default is not supported"},
		{"http:\n  listen: \"${HUB_TEST_UNSET_VAR:-127.0.0.1:${HUB_TEST_TOKEN}}\"\n", NULL,
		 "bad.yaml:2:11: http.listen: nested ${...} in a default is not supported"},
	};

	unsetenv("HUB_TEST_UNSET_VAR");
	unsetenv("HUB_TEST_OLD_VAR");
	setenv("HUB_TEST_TOKEN", "SECRET123", 1);
	CHECK_BAD_ROWS(rows);
	unsetenv("HUB_TEST_TOKEN");
}

/* `n_lines` lines "<letter>: ${HUB_TEST_BIG}..." of n_refs references each. */
static char *repeated_refs(int n_lines, int n_refs)
{
	static const char ref[] = "${HUB_TEST_BIG}";
	char *text = malloc((size_t)n_lines * (4 + (size_t)n_refs * strlen(ref)) + 1);
	char *at = text;

	for (int l = 0; text && l < n_lines; l++) {
		at += sprintf(at, "%c: ", 'a' + l);
		for (int r = 0; r < n_refs; r++)
			at += sprintf(at, "%s", ref);
		*at++ = '\n';
		*at = '\0';
	}
	return text;
}

/* Parses `text` (freed here) as "t.yaml": it loads when `expected` is
 * NULL, else fails with exactly that message.  Returns the tree
 * (cfg_free it) or NULL. */
static struct cfg_node *parse_expecting(char *text, const char *expected)
{
	struct cfg_node *root = NULL;
	char err[512] = "";
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	rc = cfg_parse_string("t.yaml", text, strlen(text), &root, err, sizeof(err));
	free(text);
	if (expected) {
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_STRING_EQUAL(err, expected);
	} else {
		CU_ASSERT_EQUAL(rc, 0);
	}
	return root;
}

/* ${...} expansion is capped, each value at 1 MiB and the file's expanded
 * values at 16 MiB together (references repeated in a small file made
 * gigabytes): the value where a cap is passed is named, not printed. */
static void test_expansion_is_capped(void)
{
	static const struct {
		int n_lines, n_refs;
		const char *expected; /* NULL: loads */
	} rows[] = {
		{1, 16, NULL},
		{1, 17,
		 "t.yaml:1:4: value too long after ${...} expansion (at most 1048576 bytes)"},
		{16, 16, NULL},
		{17, 16,
		 "t.yaml:17:4: values too long after ${...} expansion (at most 16777216 bytes"
		 " in the whole file)"},
	};
	char *big = malloc(65536 + 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, 'x', 65536);
	big[65536] = '\0';
	setenv("HUB_TEST_BIG", big, 1);
	free(big);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cfg_node *root = parse_expecting(
			repeated_refs(rows[i].n_lines, rows[i].n_refs), rows[i].expected);
		if (root)
			CU_ASSERT_EQUAL(strlen(cfg_get(root, "a")->value), 1u << 20);
		cfg_free(root);
	}
	unsetenv("HUB_TEST_BIG");
}

/* A config file is read up to 16 MiB, and a read that fails says why: a
 * directory was a "read error"; /dev/zero never ended (read on past the
 * memory, which a failed allocation did not stop), so it comes last. */
static void test_unreadable_config_file_says_why(void)
{
	char *dir = testlib_mkdtemp(), *big = NULL, *want = NULL;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	CU_ASSERT_FATAL(asprintf(&big, "%s/big.yaml", dir) > 0);
	CU_ASSERT_FATAL(asprintf(&want, "%s: larger than 16777216 bytes, the most it may be",
				 big) > 0);
	fd = open(big, O_WRONLY | O_CREAT, 0600);
	CU_ASSERT_FATAL(fd >= 0 && ftruncate(fd, (16 << 20) + 1) == 0); /* sparse */
	close(fd);
	{
		const struct bad_case rows[] = {
			{NULL, "tests/fixtures/config", "tests/fixtures/config: Is a directory"},
			{NULL, FIXTURES "none.yaml",
			 FIXTURES "none.yaml: No such file or directory"},
			{NULL, big, want},
			{NULL, "/dev/zero",
			 "/dev/zero: larger than 16777216 bytes, the most it may be"},
		};
		CHECK_BAD_ROWS(rows);
	}
	testlib_rmtree(dir);
	free(dir);
	free(big);
	free(want);
}

/* A mapping or list of more than 10000 entries is refused at the first
 * one past (100000 keys kept the duplicate check busy for minutes). */
static void test_too_many_entries_are_refused(void)
{
	static const struct {
		int is_list, n;
		const char *expected; /* NULL: loads */
	} rows[] = {
		{0, 10000, NULL},
		{0, 10001, "t.yaml:10001:1: more than 10000 entries in one mapping or list"},
		{1, 10000, NULL},
		{1, 10001, "t.yaml:10002:3: a: more than 10000 entries in one mapping or list"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *text = malloc((size_t)rows[i].n * 16 + 8), *at = text;

		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		at += sprintf(at, "%s", rows[i].is_list ? "a:\n" : "");
		for (int k = 0; k < rows[i].n; k++)
			at += sprintf(at, rows[i].is_list ? "- %d\n" : "k%d: 1\n", k);
		cfg_free(parse_expecting(text, rows[i].expected));
	}
	/* the file as a whole: 6 mappings of 9,000 each pass 50,000 in the sixth */
	{
		char *text = malloc(6 * 9000 * 16 + 64), *at = text;

		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		for (int m = 0; m < 6; m++) {
			at += sprintf(at, "m%d:\n", m);
			for (int k = 0; k < 9000; k++)
				at += sprintf(at, "  k%d: 1\n", k);
		}
		cfg_free(parse_expecting(
			text, "t.yaml:50001:3: m5: more than 50000 entries in the file"));
	}
}

static void test_bad_values_are_refused(void)
{
	static const struct bad_case rows[] = {
		{NULL, FIXTURES "bad_driver.yaml",
		 FIXTURES "bad_driver.yaml:2:11: store.driver: must be sqlite or postgres"},
		{"privacy:\n  erase_block_days: -1\n", NULL,
		 "bad.yaml:2:21: privacy.erase_block_days: must be at least 1"},
		{"intake:\n  queue_max: 0\n", NULL,
		 "bad.yaml:2:14: intake.queue_max: must be at least 1"},
		/* past the type's maximum: both bounds named, not "at least" */
		{"intake:\n  queue_max: 2147483648\n", NULL,
		 "bad.yaml:2:14: intake.queue_max: must be between 1 and 2147483647"},
		{"privacy:\n  erase_block_days: 9223372036854775807\n", NULL,
		 "bad.yaml:2:21: privacy.erase_block_days: must be between 1 and 2147483647"},
		{"http:\n  threads: 5000\n", NULL,
		 "bad.yaml:2:12: http.threads: must be between 1 and 1024"},
		/* past 64 bits: out of range, not "expected an integer" */
		{"http:\n  max_body: 99999999999999999999\n", NULL,
		 "bad.yaml:2:13: http.max_body: integer out of range (-9223372036854775808 to "
		 "9223372036854775807)"},
		{"privacy:\n  erase_block_days: -9223372036854775809\n", NULL,
		 "bad.yaml:2:21: privacy.erase_block_days: integer out of range "
		 "(-9223372036854775808 to 9223372036854775807)"},
		{"http:\n  timeout: 99999999999999999999s\n", NULL,
		 "bad.yaml:2:12: http.timeout: duration too long (at most 106751991167d)"},
		{"http:\n  timeout: 106751991168d\n", NULL,
		 "bad.yaml:2:12: http.timeout: duration too long (at most 106751991167d)"},
		{"http:\n  timeout: 106751991167d23h\n", NULL,
		 "bad.yaml:2:12: http.timeout: duration too long (at most 106751991167d)"},
		{"http:\n  timeout: 99999999999999999999h30x\n", NULL,
		 "bad.yaml:2:12: http.timeout: expected a duration like 30s, 15m, 1h30m or 2d"},
		{"http:\n  timeout: 24h1ms\n", NULL,
		 "bad.yaml:2:12: http.timeout: must be from 1ms to 24h"},
		/* not digits: still what is expected */
		{"http:\n  max_body: 1MiB\n", NULL,
		 "bad.yaml:2:13: http.max_body: expected an integer"},
		{"http:\n  timeout: -5s\n", NULL,
		 "bad.yaml:2:12: http.timeout: expected a duration like 30s, 15m, 1h30m or 2d"},
		{"http:\n  timeout: 0s\n", NULL,
		 "bad.yaml:2:12: http.timeout: must be from 1ms to 24h"},
		{"http:\n  timeout: 25h\n", NULL,
		 "bad.yaml:2:12: http.timeout: must be from 1ms to 24h"},
		{"http:\n  stop_delay: 61s\n", NULL,
		 "bad.yaml:2:15: http.stop_delay: must be from 0s (a stop drains at once) to 60s"},
		{"http:\n  stop_delay: -1s\n", NULL,
		 "bad.yaml:2:15: http.stop_delay: expected a duration like 30s, 15m, 1h30m or 2d"},
		{"http:\n  listen: localhost\n", NULL,
		 "bad.yaml:2:11: http.listen: expected host:port, like 127.0.0.1:8080 (0.0.0.0:8080"
		 " for every interface; [::1]:8080 for IPv6)"},
		{"http:\n  listen: \"::1:8080\"\n", NULL,
		 "bad.yaml:2:11: http.listen: expected host:port, like 127.0.0.1:8080 (0.0.0.0:8080"
		 " for every interface; [::1]:8080 for IPv6)"},
		{"plugin_dir: \"/a::/b\"\n", NULL,
		 "bad.yaml:1:13: plugin_dir: a directory must not be empty (an empty part "
		 "between ':')"},
		{"plugin_dir: /a:/b:/a\n", NULL,
		 "bad.yaml:1:13: plugin_dir: directory /a is listed twice"},
		{"plugin_dir: [/a, /b, /b]\n", NULL,
		 "bad.yaml:1:22: plugin_dir[2]: directory /b is listed twice"},
		{"plugin_dir:\n  - /a\n  - /b:/c\n", NULL,
		 "bad.yaml:3:5: plugin_dir[1]: a directory in a list must not hold ':' (give each "
		 "directory as an item of its own)"},
		{"plugin_dir: {a: b}\n", NULL,
		 "bad.yaml:1:13: plugin_dir: must be a directory or a list of directories"},
		{"plugin_dir: []\n", NULL,
		 "bad.yaml:1:13: plugin_dir: must be a directory or a list of directories"},
		{"log_level: verbose\n", NULL,
		 "bad.yaml:1:12: log_level: must be error, warn, info or debug"},
		/* another case, or a letter or two off: the value suggested */
		{"log_level: INFO\n", NULL,
		 "bad.yaml:1:12: log_level: must be error, warn, info or debug (did you mean"
		 " \"info\"?)"},
		{"store:\n  driver: SQLite\n", NULL,
		 "bad.yaml:2:11: store.driver: must be sqlite or postgres"
		 " (did you mean \"sqlite\"?)"},
		{"store:\n  driver: PostgreSQL\n  url: postgresql://h/db\n", NULL,
		 "bad.yaml:2:11: store.driver: must be sqlite or postgres (did you mean"
		 " \"postgres\"?)"},
		{"store:\n  path: \"\"\n", NULL, "bad.yaml:2:9: store.path: must not be empty"},
		/* each connection's own database: the API read none of the intake's */
		{"store:\n  path: \":memory:\"\n", NULL,
		 "bad.yaml:2:9: store.path: must name a file: \":memory:\" would be a new, empty"
		 " database for each connection (the API would read nothing the intake stored,"
		 " and nothing would outlive the hub)"},
		{"store:\n  driver: postgres\n  url: postgresql://h/db\n  schema: \"x; DROP\"\n",
		 NULL,
		 "bad.yaml:4:11: store.schema: must be a lower-case SQL identifier "
		 "([a-z_][a-z0-9_]*, at most 63)"},
		{"api:\n  tokens: [good, \"\"]\n", NULL,
		 "bad.yaml:2:18: api.tokens[1]: must not be empty"},
		{"api:\n  tokens: [good, \" \\t\"]\n", NULL,
		 "bad.yaml:2:18: api.tokens[1]: must not be blank (spaces or line breaks only)"},
		{"api:\n  tokens: [\"\\n\"]\n", NULL,
		 "bad.yaml:2:12: api.tokens[0]: must not be blank (spaces or line breaks only)"},
	};
	CHECK_BAD_ROWS(rows);
}

/* An integer with a leading zero was read as decimal (010 as 10) where
 * YAML 1.1 readers take octal (8): refused, naming the value and what to
 * write; 0 itself, and a string's leading zero, are left alone. */
static void test_integer_with_a_leading_zero_is_refused(void)
{
	static const struct bad_case rows[] = {
		{"http:\n  threads: 010\n", NULL,
		 "bad.yaml:2:12: http.threads: 010 has a leading zero, which YAML 1.1"
		 " reads as octal (010 is 8): write 10"},
		{"http:\n  max_body: 08080\n", NULL,
		 "bad.yaml:2:13: http.max_body: 08080 has a leading zero, which YAML 1.1 reads as"
		 " octal (010 is 8): write 8080"},
		{"privacy:\n  erase_block_days: \"-007\"\n", NULL,
		 "bad.yaml:2:21: privacy.erase_block_days: -007 has a leading zero, which YAML 1.1"
		 " reads as octal (010 is 8): write -7"},
		{"intake:\n  queue_max: 000\n", NULL,
		 "bad.yaml:2:14: intake.queue_max: 000 has a leading zero, which YAML 1.1 reads as"
		 " octal (010 is 8): write 0"},
		{"identity:\n  external:\n    crm_id: {limit: 05}\n", NULL,
		 "bad.yaml:3:21: identity.external.crm_id.limit: 05 has a leading zero, which YAML"
		 " 1.1 reads as octal (010 is 8): write 5"},
		/* a duration written as bare seconds, too */
		{"http:\n  timeout: 030\n", NULL,
		 "bad.yaml:2:12: http.timeout: 030 has a leading zero, which YAML 1.1"
		 " reads as octal (010 is 8): write 30"},
	};
	static const struct hub_config_key keys[] = {
		{"pin", HUB_CFG_INT, NULL, 0, 1, "a secret number"},
		{"ratio", HUB_CFG_FLOAT, NULL, 0, 0, "a number"},
		{0},
	};
	static const struct {
		const char *text, *expected;
	} plugin_rows[] = {
		{"pin: 0123\n",
		 "p.yaml:1:6: sources[0].pin: a leading zero, which YAML 1.1 reads as"
		 " octal (010 is 8): write the number without it"},
		{"ratio: 010\n", "p.yaml:1:8: sources[0].ratio: 010 has a leading zero, which YAML"
				 " 1.1 reads as octal (010 is 8): write 10"},
	};
	static const char zip[] = "a: 0\nb: -0\nc: {zip: 01234}\n";
	struct cfg_node *root = NULL;
	char err[512] = "", *json;
	int64_t v = -1;

	CHECK_BAD_ROWS(rows);
	for (size_t i = 0; i < sizeof(plugin_rows) / sizeof(plugin_rows[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(cfg_parse_string("p.yaml", plugin_rows[i].text,
						       strlen(plugin_rows[i].text), &root, err,
						       sizeof(err)), 0);
		CU_ASSERT_EQUAL(cfg_check_keys(root, "sources[0]", keys, NULL, err, sizeof(err)),
				-1);
		CU_ASSERT_STRING_EQUAL(err, plugin_rows[i].expected);
		CU_ASSERT_PTR_NULL(strstr(err, "123"));
		cfg_free(root);
	}
	/* 0 and -0 read; an ANY value keeps its leading zero as text (a zip
	 * code), where it became the number 1234 */
	CU_ASSERT_EQUAL_FATAL(cfg_parse_string("z.yaml", zip, strlen(zip), &root, err,
					       sizeof(err)), 0);
	CU_ASSERT(cfg_as_int(cfg_get(root, "a"), &v) == 0 && v == 0);
	CU_ASSERT(cfg_as_int(cfg_get(root, "b"), &v) == 0 && v == 0);
	json = cfg_to_json(cfg_get(root, "c"));
	CU_ASSERT_STRING_EQUAL(json ? json : "", "{\"zip\":\"01234\"}");
	hub_free(json);
	cfg_free(root);
}

static void test_bad_external_id_is_refused(void)
{
	static const struct bad_case rows[] = {
		{"identity:\n  external:\n    custom_id: {limit: 1}\n", NULL,
		 "bad.yaml:3:5: identity.external.custom_id: custom_id is a built-in "
		 "identifier, not an external id"},
		{"identity:\n  external:\n    installation_id:\n", NULL,
		 "bad.yaml:3:5: identity.external.installation_id: installation_id is a built-in "
		 "identifier, not an external id"},
		{"identity:\n  external:\n    CRM-ID: {}\n", NULL,
		 "bad.yaml:3:5: identity.external.CRM-ID: an external id name must be 1 to 64 "
		 "characters of a-z, 0-9 and _"},
		{"identity:\n  external:\n    crm-id: {}\n", NULL, /* no dash, unlike a source */
		 "bad.yaml:3:5: identity.external.crm-id: an external id name must be 1 to 64 "
		 "characters of a-z, 0-9 and _"},
		{"identity:\n  external:\n    crm_id: {priority: 0}\n", NULL,
		 "bad.yaml:3:24: identity.external.crm_id.priority: must be at least 1"},
		{"identity:\n  external:\n    crm_id: {limit: 0}\n", NULL,
		 "bad.yaml:3:21: identity.external.crm_id.limit: must be at least 1"},
		{"identity:\n  external:\n    crm_id: 1\n", NULL,
		 "bad.yaml:3:13: identity.external.crm_id: expected a mapping"},
	};
	CHECK_BAD_ROWS(rows);
}

static void test_yaml_features_outside_plain_data_are_refused(void)
{
	static const struct bad_case rows[] = {
		{NULL, FIXTURES "anchor_alias.yaml",
		 FIXTURES
		 "anchor_alias.yaml:1:11: defaults: anchors and aliases are not supported"},
		{"http: *h\n", NULL, "bad.yaml:1:7: http: anchors and aliases are not supported"},
		{"http:\n  threads: !!int 4\n", NULL,
		 "bad.yaml:2:12: http.threads: YAML tags are not supported"},
		{NULL, FIXTURES "two_documents.yaml",
		 FIXTURES "two_documents.yaml:2:1: only one YAML document is allowed "
			  "(found a second ---)"},
		{"? [a, b]\n: c\n", NULL,
		 "bad.yaml:1:3: a key must be a plain string, not a list or mapping"},
		{"store:\n  ~: x\n", NULL, "bad.yaml:2:3: store: a key must not be empty or null"},
		{"log_level: \"in\\0fo\"\n", NULL,
		 "bad.yaml:1:12: log_level: NUL characters are not allowed"},
	};
	CHECK_BAD_ROWS(rows);
}

static void test_top_level_must_be_a_mapping(void)
{
	static const struct bad_case rows[] = {
		{"- store\n- http\n", NULL,
		 "bad.yaml:1:1: the top level must be a mapping (key: value)"},
		{"# a comment\njust text\n", NULL,
		 "bad.yaml:2:1: the top level must be a mapping (key: value)"},
	};
	CHECK_BAD_ROWS(rows);
}

/* A store.url whose password is written in the file is found (run and
 * check warn about it), also as the default of a ${VAR:-default}; one read
 * from ${VAR}, or with no password, not. */
static void test_store_password_written_in_the_file_is_found(void)
{
	static const struct {
		const char *url;
		int is_written;
	} rows[] = {
		{"postgresql://hub:hunter2@127.0.0.1/hub", 1},
		{"postgresql://hub:hunter2@${HUB_TEST_PGHOST}/hub", 1},
		{"postgresql://hub@127.0.0.1/hub?password=hunter2", 1},
		{"host=127.0.0.1 user=hub password=hunter2 dbname=hub", 1},
		{"${HUB_TEST_PGURL}", 0},
		{"postgresql://hub:${HUB_TEST_PGPASS}@127.0.0.1/hub", 0},
		{"postgresql://hub@127.0.0.1/hub", 0},
		{"postgresql://hub:@127.0.0.1/hub", 0},
		{"host=127.0.0.1 user=hub password='' dbname=hub", 0},
		/* a default is written in the file: the password of an unset
		 * or empty variable */
		{"${HUB_TEST_UNSET_PGURL:-postgresql://hub:hunter2@127.0.0.1/hub}", 1},
		{"postgresql://hub:${HUB_TEST_UNSET_PGPASS:-hunter2}@127.0.0.1/hub", 1},
		{"${HUB_TEST_PGURL:-postgresql://hub@127.0.0.1/hub}", 0},
		{"postgresql://hub:${HUB_TEST_PGPASS:-}@127.0.0.1/hub", 0},
		{"postgresql://hub:pa$$word@127.0.0.1/hub", 1},
		/* no password, only words like it */
		{"postgresql://password@127.0.0.1/hub?sslpassword=x&passfile=/p", 0},
		{"host=127.0.0.1 user=password sslpassword=x dbname=${HUB_TEST_PGHOST}", 0},
	};
	struct hub_config *cfg;
	char text[256];

	setenv("HUB_TEST_PGHOST", "127.0.0.1", 1);
	setenv("HUB_TEST_PGURL", "postgresql://hub:hunter2@127.0.0.1/hub", 1);
	setenv("HUB_TEST_PGPASS", "hunter2", 1);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct cfg_node *n;

		snprintf(text, sizeof(text), "store:\n  driver: postgres\n  url: \"%s\"\n",
			 rows[i].url);
		cfg = load_ok(text);
		if (!cfg)
			continue;
		n = config_store_password_in_file(cfg);
		if ((n != NULL) != rows[i].is_written)
			fprintf(stderr, "\n  row %zu: %s\n", i, rows[i].url);
		CU_ASSERT_EQUAL(n != NULL, rows[i].is_written);
		if (n)
			CU_ASSERT_EQUAL(n->line, 3);
		config_free(cfg);
	}
	unsetenv("HUB_TEST_PGHOST");
	unsetenv("HUB_TEST_PGURL");
	unsetenv("HUB_TEST_PGPASS");
	cfg = load_ok("store:\n  path: var/hub.db\n"); /* sqlite: no url */
	CU_ASSERT_PTR_NULL(cfg ? config_store_password_in_file(cfg) : NULL);
	config_free(cfg);
}

/* A postgres store.url to another machine with an sslmode short of
 * verify-ca (libpq's default, prefer, takes any certificate and falls back
 * to clear text) is found, with its mode, for run and check to warn; the
 * environment's PGSSLMODE and PGHOST count as libpq reads them. */
static void test_store_url_to_another_machine_unverified_is_found(void)
{
	static const struct {
		const char *url, *sslmode_env, *mode; /* mode NULL: not found */
	} rows[] = {
		{"postgresql://hub@db.example.com/hub", NULL, "prefer"},
		{"postgresql://hub@db.example.com/hub?sslmode=allow", NULL, "allow"},
		{"postgresql://hub@db.example.com/hub?sslmode=require", NULL, "require"},
		{"postgresql://hub@db.example.com/hub", "verify-full", NULL},
		{"postgresql://hub@db.example.com/hub?sslmode=prefer", "verify-full", "prefer"},
		{"postgresql://hub@db.example.com/hub?sslmode=verify-full", NULL, NULL},
		{"host=db.example.com hostaddr=10.0.0.5 sslmode=verify-ca", NULL, NULL},
		{"postgresql://hub@127.0.0.2:5432/hub", NULL, NULL},
		{"host=/tmp dbname=hub", NULL, NULL},
		{"dbname=hub", NULL, NULL}, /* the default socket */
	};
	struct hub_config *cfg;
	char text[256], mode[32];

	unsetenv("PGHOSTADDR");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct cfg_node *n;

		unsetenv("PGHOST");
		if (rows[i].sslmode_env)
			setenv("PGSSLMODE", rows[i].sslmode_env, 1);
		else
			unsetenv("PGSSLMODE");
		snprintf(text, sizeof(text), "store:\n  driver: postgres\n  url: \"%s\"\n",
			 rows[i].url);
		if (!(cfg = load_ok(text)))
			continue;
		mode[0] = '\0';
		n = config_store_url_unverified(cfg, mode, sizeof(mode));
		if ((n != NULL) != (rows[i].mode != NULL))
			fprintf(stderr, "\n  row %zu: %s\n", i, rows[i].url);
		CU_ASSERT_EQUAL(n != NULL, rows[i].mode != NULL);
		if (n && rows[i].mode) {
			CU_ASSERT_STRING_EQUAL(mode, rows[i].mode);
			CU_ASSERT_EQUAL(n->line, 3);
		}
		config_free(cfg);
	}
	unsetenv("PGSSLMODE");
	setenv("PGHOST", "db.example.com", 1);
	cfg = load_ok("store:\n  driver: postgres\n  url: \"dbname=hub\"\n");
	CU_ASSERT_PTR_NOT_NULL(cfg ? config_store_url_unverified(cfg, mode, sizeof(mode)) : NULL);
	config_free(cfg);
	unsetenv("PGHOST");
	cfg = load_ok("store:\n  path: var/hub.db\n"); /* sqlite: no url */
	CU_ASSERT_PTR_NULL(cfg ? config_store_url_unverified(cfg, mode, sizeof(mode)) : NULL);
	config_free(cfg);
}

/* A plugin's connection string (HUB_SECRET_CONNECTION: the postgres
 * export's url, Snowflake's ODBC connection_string, the webhook export's
 * url) is read for a written password as store.url is, ODBC's PWD= and
 * an http(s) URL's user info too: nothing warned of them. */
static void test_connection_string_password_in_the_file_is_found(void)
{
	static const struct {
		const char *text;
		int is_written;
	} rows[] = {
		{"postgresql://hub:hunter2@127.0.0.1/hub", 1},
		{"host=h user=hub password=hunter2", 1},
		{"${HUB_TEST_UNSET_URL:-postgresql://hub:hunter2@h/hub}", 1},
		{"postgresql://hub:${HUB_TEST_PGPASS}@127.0.0.1/hub", 0},
		{"Driver={SnowflakeDSIIDriver};Server=x;UID=u;PWD=hunter2", 1},
		{"Driver=x;UID=u;pwd = hunter2;", 1},
		{"Driver=x;UID=u;Password={hun;ter2}}};Role=r", 1},
		{"DSN=prod;PWD=${HUB_TEST_PGPASS}", 0},
		{"DSN=prod;PWD=${HUB_TEST_UNSET_PWD:-hunter2}", 1},
		{"DSN=prod;PWD=${HUB_TEST_UNSET_PWD:-}", 0},
		{"DSN=prod;PWD=;UID=u", 0},
		{"DSN=prod;PWD={}", 0},
		{"DSN=prod;UID=pwd;Description={PWD=x}", 0},
		{"Driver={x;PWD=y};UID=u", 0},
		{"${HUB_TEST_ODBC}", 0},
		{"DSN=prod", 0},
		/* a segment without '=' (or an empty one) before the password */
		{"Driver=x;Trusted;PWD=hunter2", 1},
		{"Driver=x;;PWD=hunter2", 1},
		{"Driver=x; Trusted Connection ;UID=u;Password={hunter2}", 1},
		{"Driver=x;Trusted", 0},
		/* blanks around a key or before its value */
		{"Driver=x; PWD=hunter2", 1},
		{"DSN=prod;PWD= ;UID=u", 0},
		{"DSN=prod;PWD= {}", 0},
		{"DSN=prod;Flag;UID=u;", 0},
		/* Snowflake's passphrase of an encrypted private key file */
		{"DSN=prod;authenticator=SNOWFLAKE_JWT;priv_key_file=/k.p8;"
		 "priv_key_file_pwd=hunter2",
		 1},
		{"DSN=prod;PRIV_KEY_FILE_PWD = {hun;ter2}", 1},
		{"DSN=prod;priv_key_file_pwd=${HUB_TEST_PGPASS}", 0},
		{"DSN=prod;priv_key_file_pwd=", 0},
		{"DSN=prod;priv_key_file=/k.p8;x_pwd=y;pwd_file=/p", 0},
		/* a URL of another scheme (the webhook export's): its user info */
		{"https://hook:hunter2@example.com/in?x=1", 1},
		{"http://hook:hunter2@127.0.0.1:8080", 1},
		{"HTTPS://a@b:hun@ter2@example.com/", 1},
		{"${HUB_TEST_UNSET_URL:-https://hook:hunter2@example.com/}", 1},
		{"https://hook:${HUB_TEST_PGPASS}@example.com/in", 0},
		{"https://hook:${HUB_TEST_UNSET_PWD:-}@example.com/in", 0},
		{"https://hook@example.com/in", 0},
		{"https://hook:@example.com/in", 0},
		{"https://example.com/in?user=a:b@c", 0},
		{"https://example.com/a:b@c", 0},
		{"https://example.com/in#a:b@c", 0},
		{"https://example.com#a:b@c", 0},
		{"https://example.com?u=a:b@c", 0},
		{"mailto:a:b@c", 0},
		{"1ttp://a:b@c", 0},
	};
	struct cfg_node *root;
	char text[256], err[256];

	setenv("HUB_TEST_PGPASS", "hunter2", 1);
	setenv("HUB_TEST_ODBC", "DSN=x;PWD=hunter2", 1);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct cfg_node *n;

		snprintf(text, sizeof(text), "v: \"%s\"\n", rows[i].text);
		root = NULL;
		CU_ASSERT_EQUAL_FATAL(cfg_parse_string("c.yaml", text, strlen(text), &root, err,
						       sizeof(err)), 0);
		n = config_password_in_file(cfg_get(root, "v"));
		if ((n != NULL) != rows[i].is_written)
			fprintf(stderr, "\n  row %zu: %s\n", i, rows[i].text);
		CU_ASSERT_EQUAL(n != NULL, rows[i].is_written);
		cfg_free(root);
	}
	unsetenv("HUB_TEST_PGPASS");
	unsetenv("HUB_TEST_ODBC");
	CU_ASSERT_PTR_NULL(config_password_in_file(NULL));
}

/* A recognisable secret in a wrong-typed or malformed secret value must
 * not reach the message. */
static void test_secret_value_never_in_message(void)
{
	static const struct bad_case rows[] = {
		{"api:\n  tokens: sk_live_SECRET123\n", NULL,
		 "bad.yaml:2:11: api.tokens: expected a list of strings"},
		{"api:\n  tokens: [[sk_live_SECRET123]]\n", NULL,
		 "bad.yaml:2:12: api.tokens: expected a list of strings"},
		{"store:\n  driver: postgres\n  url: [\"postgresql://hub:SECRET123@db/hub\"]\n",
		 NULL, "bad.yaml:3:8: store.url: expected a string"},
		{"api:\n  tokens: [\"SECRET123${oops\"]\n", NULL,
		 "bad.yaml:2:12: api.tokens[0]: malformed ${...} reference: no closing }"},
		{"store:\n  driver: postgres\n  url: \"\"\n", NULL,
		 "bad.yaml:3:8: store.url: must not be empty"},
	};
	static const struct hub_config_key plugin_keys[] = {
		{"webhook_secret", HUB_CFG_STRING, NULL, 1, 1, "secret"},
		{0},
	};
	struct cfg_node *root = NULL;
	char err[512] = "";
	static const char text[] = "webhook_secret: {value: SECRET123}\n";

	CHECK_BAD_ROWS(rows);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CU_ASSERT_PTR_NULL(strstr(rows[i].expected, "SECRET123"));

	CU_ASSERT_EQUAL_FATAL(cfg_parse_string("p.yaml", text, strlen(text), &root, err,
					       sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg_check_keys(root, "sources[0]", plugin_keys, NULL, err, sizeof(err)),
			-1);
	CU_ASSERT_STRING_EQUAL(err, "p.yaml:1:17: sources[0].webhook_secret: expected a string");
	CU_ASSERT_PTR_NULL(strstr(err, "SECRET123"));
	cfg_free(root);
}

/* A secret written "$NAME" (as Docker Compose, systemd or a shell would
 * expand it) is kept as written here, so the hub ran with the variable's
 * name as its API token or write key: refused, without the value.  $$NAME
 * (a literal $), ${NAME}, a secret whose expansion is "$NAME", and $NAME in
 * a key that is no secret stay as they were. */
static void test_secret_written_as_shell_reference_is_refused(void)
{
	static const struct bad_case rows[] = {
		{"api:\n  tokens: [\"$HUB_API_TOKEN\"]\n", NULL,
		 "bad.yaml:2:12: api.tokens[0]: written as $NAME, which is kept as written, not read"
		 " from the environment: write ${NAME} (or $$ for a literal $)"},
		{"api:\n  tokens: [good-token-1, $_t0]\n", NULL,
		 "bad.yaml:2:26: api.tokens[1]: written as $NAME, which is kept as written, not read"
		 " from the environment: write ${NAME} (or $$ for a literal $)"},
		{"store:\n  driver: postgres\n  url: $HUB_DATABASE_URL\n", NULL,
		 "bad.yaml:3:8: store.url: written as $NAME, which is kept as written, not read"
		 " from the environment: write ${NAME} (or $$ for a literal $)"},
	};
	struct hub_config *cfg;

	CHECK_BAD_ROWS(rows);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CU_ASSERT_PTR_NULL(strstr(rows[i].expected, "HUB_"));

	cfg = load_ok("api:\n  tokens: [\"$$HUB_API_TOKEN\", \"$9x\", \"a$B\", \"$A b\"]\n");
	if (cfg) {
		CU_ASSERT_EQUAL(cfg->n_api_tokens, 4);
		CU_ASSERT_STRING_EQUAL(cfg->api_tokens[0], "$HUB_API_TOKEN");
		config_free(cfg);
	}
	setenv("HUB_TEST_SHELL_REF", "$NOT_A_REFERENCE", 1);
	cfg = load_ok("api:\n  tokens: [\"${HUB_TEST_SHELL_REF}\"]\n");
	if (cfg) {
		CU_ASSERT_STRING_EQUAL(cfg->api_tokens[0], "$NOT_A_REFERENCE");
		config_free(cfg);
	}
	unsetenv("HUB_TEST_SHELL_REF");
	cfg = load_ok("log_level: info\nidentity:\n  blocked_values: [$email_address]\n");
	config_free(cfg);
}

/* A password with an '@' or '/' that is not percent-encoded is read by
 * libpq as part of the host, port or database name, which messages show;
 * and libpq's own parse errors quote the whole URL.  Such a URL is refused
 * at load, and by the store itself, without a piece of the password. */
static void test_store_url_read_wrongly_is_refused_without_the_password(void)
{
	static const char *const urls[] = {
		"postgresql://hub:pa/ssWORD@127.0.0.1:5432/hubdb",
		"postgresql://hub:s3cr@tWORD@127.0.0.1:1/hubdb",
		"postgresql://hub:12/ssWORD@127.0.0.1/hubdb",
		/* no "@host": the password lands in the port */
		"postgresql://hub:SECRETWORD/hubdb",
		"postgresql://hub:SECRETWORD@[::1/hubdb",
		"postgresql://hub:SECRET%zzWORD@host/db",
		/* a '?' in the user part: the password lands in hostaddr */
		"postgresql://hub/h?hostaddr=127.0.0.1:SECRETWORD@host:/",
		/* an '@' in the user part: the query sets the user "SECRETWORD@h" */
		"postgresql://hub@?user=:SECRETWORD@h:1/db",
		/* the same, the user's '@' after a '?' (libpq's user name and
		 * password end at the first '@' before a '/') */
		"postgresql://hub:x?y@?user=:SECRETWORD@h:1/db",
		/* a '/' in the user part: no user name, the query sets it */
		"postgresql://hub/?user=:SECRETWORD@h:1/db",
		"postgres://hub/?user=:SECRETWORD@h:1/db", /* the short scheme */
	};
	static const char *const good[] = {
		"postgresql://hub:s3cr%40t%2FWORD@127.0.0.1:5432/hubdb",
		"postgresql:///hubdb?host=/var/run/postgresql",
		"host=127.0.0.1 port=5432 dbname=hub user=hub password=pw@x/y",
	};

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct hub_config *cfg = NULL;
		struct store *st = NULL;
		char *text, err[512] = "";

		CU_ASSERT_FATAL(asprintf(&text, "store:\n  driver: postgres\n  url: \"%s\"\n",
					 urls[i]) > 0);
		CU_ASSERT_EQUAL(config_load_string("bad.yaml", text, &cfg, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(
			strstr(err, "bad.yaml:3:8: store.url: not a valid PostgreSQL"));
		CU_ASSERT_PTR_NULL(strstr(err, "WORD"));
		config_free(cfg);
		free(text);
		CU_ASSERT_EQUAL(store_pg_open(urls[i], NULL, &st, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NULL(st);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "store.url: not a valid PostgreSQL"));
		CU_ASSERT_PTR_NULL(strstr(err, "WORD"));
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CU_ASSERT_EQUAL(store_pg_url_check(good[i]), 1);
}

/* store_pg_open checks its arguments before it connects: a URL is needed,
 * and a schema PostgreSQL keeps as written ([a-z_][a-z0-9_]*, at most 63
 * bytes: a longer name is cut, and two would meet).  Its errors name where
 * it connects as user@host:port/db, the host before a hostaddr, localhost
 * for none. */
static void test_store_pg_open_checks_its_arguments_first(void)
{
	/* port 1 on loopback: refused at once, no server needed */
	static const char url[] = "postgresql://u:pw@127.0.0.1:1/db";
	static const struct {
		const char *url, *schema, *err;
	} rows[] = {
		{"", NULL, "postgres: store.url is not set"},
		{NULL, NULL, "postgres: store.url is not set"},
		{url, "1abc", "postgres: store.schema must match"},
		{url, "Abc", "postgres: store.schema must match"},
		{url, "a23456789012345678901234567890123456789012345678901234567890123x",
		 "postgres: store.schema must match"},
		{url, "a23456789012345678901234567890123456789012345678901234567890123",
		 "postgres: cannot connect to u@127.0.0.1:1/db: "},
		{url, "", "postgres: cannot connect to u@127.0.0.1:1/db: "},
		{"postgresql://u@h.invalid:1/db?hostaddr=127.0.0.1", NULL,
		 "postgres: cannot connect to u@h.invalid:1/db: "},
		{"postgresql://u@:1/db", NULL, "postgres: cannot connect to u@localhost:1/db: "},
		{"postgresql://u@127.0.0.1:1/db?hostaddr=127.0.0.1", NULL,
		 "postgres: cannot connect to u@127.0.0.1:1/db: "},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct store *st = NULL;
		char err[512] = "";

		CU_ASSERT_EQUAL(store_pg_open(rows[i].url, rows[i].schema, &st, err, sizeof(err)),
				-1);
		CU_ASSERT_PTR_NULL(st);
		if (strncmp(err, rows[i].err, strlen(rows[i].err)) != 0)
			fprintf(stderr, "\n  row %zu: %s", i, err);
		CU_ASSERT_EQUAL(strncmp(err, rows[i].err, strlen(rows[i].err)), 0);
	}
}

/* A control byte in the URL's user or database name (%0A) is escaped in
 * the store's errors: printed or logged, it started a line of its own. */
static void test_store_url_control_bytes_are_escaped_in_errors(void)
{
	struct store *st = NULL;
	char err[512] = "";

	/* port 1 on loopback: refused at once, no server needed */
	CU_ASSERT_EQUAL(store_pg_open("postgresql://us%0Aer:pw@127.0.0.1:1/d%1Bb", NULL, &st, err,
				      sizeof(err)),
			-1);
	CU_ASSERT_PTR_NULL(st);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot connect to us\\ner@127.0.0.1:1/d\\x1bb"));
	CU_ASSERT_PTR_NULL(strchr(err, '\n'));
	CU_ASSERT_PTR_NULL(strchr(err, '\x1b'));
	CU_ASSERT_PTR_NULL(strstr(err, "pw"));
}

/* conf/hub.yaml's fallback secrets are found wherever they are (for `run`
 * to refuse them beyond loopback); listen addresses are told apart. */
static void test_example_secrets_are_found_and_loopback_told_apart(void)
{
	static const struct {
		const char *listen;
		int is_loopback;
	} listens[] = {
		{"127.0.0.1:8080", 1}, {"127.10.0.1:80", 1}, {"localhost:8080", 1},
		{"LocalHost:8080", 1}, /* names are case-blind */
		{"[::1]:8080", 1},     {"0.0.0.0:8080", 0},  {"10.0.0.5:8080", 0},
		{"[::]:8080", 0},      {"127:8080", 0},      {"localhostx:1", 0},
		{"127.example.com:8080", 0}, /* a name: it may resolve anywhere */
		{"127.:8080", 0},     {"[::100]:8080", 0},
		{NULL, 1},
	};
	struct hub_config *cfg = load_ok("api:\n  tokens: [\"dev-token-change-me\"]\n"
					 "sources:\n  - name: web\n    plugin: segment\n"
					 "    write_keys: [\"k1\", \"dev-write-key\"]\n");
	const struct cfg_node *found[1];

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	/* both are counted, the first given when there is room for one */
	CU_ASSERT_EQUAL_FATAL(config_example_secrets(cfg, found, 1), 2);
	CU_ASSERT_EQUAL(found[0]->line, 2); /* the tokens line */
	config_free(cfg);
	cfg = load_ok("api:\n  tokens: [\"mine\", \"dev-token-of-mine\"]\n");
	CU_ASSERT_EQUAL(config_example_secrets(cfg, found, 1), 0); /* only the very words */
	config_free(cfg);
	for (size_t i = 0; i < sizeof(listens) / sizeof(listens[0]); i++)
		CU_ASSERT_EQUAL(config_listen_is_loopback(listens[i].listen),
				listens[i].is_loopback);
}

static void test_api_tokens_reused_or_short_are_found(void)
{
	struct hub_config *cfg = load_ok("api:\n  tokens: [\"0123456789abcdef-own\","
					 " \"0123456789abcdef-web\"]\n"
					 "sources:\n  - name: web\n    plugin: segment\n"
					 "    write_keys: [\"k1\", \"0123456789abcdef-web\"]\n");
	const struct cfg_node *token = NULL, *same;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	same = config_api_token_reused(cfg, &token);
	CU_ASSERT_PTR_NOT_NULL_FATAL(same);
	CU_ASSERT_PTR_NOT_NULL_FATAL(token);
	CU_ASSERT_EQUAL(token->line, 2);
	CU_ASSERT_EQUAL(same->line, 6); /* the write keys' line */
	CU_ASSERT_PTR_NULL(config_api_token_short(cfg));
	config_free(cfg);
	cfg = load_ok("api:\n  tokens: [\"0123456789abcdef-own\", \"short-1\"]\n"
		      "sources:\n  - name: web\n    plugin: segment\n"
		      "    write_keys: [\"k1\"]\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	token = NULL;
	CU_ASSERT_PTR_NULL(config_api_token_reused(cfg, &token));
	CU_ASSERT_PTR_NULL(token);
	CU_ASSERT_PTR_NOT_NULL_FATAL(config_api_token_short(cfg));
	CU_ASSERT_STRING_EQUAL(config_api_token_short(cfg)->value, "short-1");
	config_free(cfg);
	/* an export's secret too; 16 characters are enough, 15 are short */
	cfg = load_ok("api:\n  tokens: [\"0123456789abcdef\"]\n"
		      "exports:\n  - name: hook\n    plugin: webhook\n"
		      "    secret: \"0123456789abcdef\"\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	token = NULL;
	same = config_api_token_reused(cfg, &token);
	CU_ASSERT_PTR_NOT_NULL_FATAL(same);
	CU_ASSERT_EQUAL(same->line, 6); /* the secret's line */
	CU_ASSERT_PTR_NULL(config_api_token_short(cfg));
	config_free(cfg);
	cfg = load_ok("api:\n  tokens: [\"0123456789abcde\"]\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_PTR_NOT_NULL(config_api_token_short(cfg));
	config_free(cfg);
	cfg = load_ok("sources:\n  - name: web\n    plugin: segment\n    write_keys: [\"k1\"]\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_PTR_NULL(config_api_token_reused(cfg, &token)); /* no api section */
	CU_ASSERT_PTR_NULL(config_api_token_short(cfg));
	config_free(cfg);
}

/* ---- valid configs --------------------------------------------------- */

static void test_empty_config_gets_every_default(void)
{
	static const char *const texts[] = {"", "# only comments\n", "---\n", "{}\n"};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct hub_config *cfg = load_ok(texts[i]);
		if (!cfg)
			continue;
		CU_ASSERT_STRING_EQUAL(cfg->file, "ok.yaml");
		CU_ASSERT_PTR_NULL(cfg->plugin_dir);
		CU_ASSERT_STRING_EQUAL(cfg->log_level, "info");
		CU_ASSERT_STRING_EQUAL(cfg->store_driver, "sqlite");
		CU_ASSERT_STRING_EQUAL(cfg->store_path, "var/hub.db");
		CU_ASSERT_PTR_NULL(cfg->store_url);
		CU_ASSERT_PTR_NULL(cfg->store_schema); /* sqlite: no schema */
		CU_ASSERT_STRING_EQUAL(cfg->http_listen, "127.0.0.1:8080");
		CU_ASSERT_EQUAL(cfg->http_threads, 4);
		CU_ASSERT_EQUAL(cfg->http_max_connections, 1024);
		CU_ASSERT_EQUAL(cfg->http_timeout_ms, 30000);
		CU_ASSERT_EQUAL(cfg->http_max_body, 1048576);
		CU_ASSERT_EQUAL(cfg->n_api_tokens, 0);
		CU_ASSERT_EQUAL(cfg->n_external_ids, 0);
		CU_ASSERT_EQUAL(cfg->n_blocked_values, 0);
		CU_ASSERT_EQUAL(cfg->max_installations, 1000);
		CU_ASSERT_EQUAL(cfg->max_attributes, 1000);
		CU_ASSERT_EQUAL(cfg->erase_block_days, 30);
		CU_ASSERT_EQUAL(cfg->intake_queue_max, 1024);
		CU_ASSERT_EQUAL(cfg->n_sources, 0);
		CU_ASSERT_EQUAL(cfg->n_exports, 0);
		config_free(cfg);
	}
}

static void test_null_sections_read_as_empty(void)
{
	struct hub_config *cfg = load_ok("store:\nhttp:\nsources:\nexports:\nidentity:\n"
					 "  external:\n");
	if (!cfg)
		return;
	CU_ASSERT_STRING_EQUAL(cfg->store_driver, "sqlite");
	CU_ASSERT_EQUAL(cfg->http_threads, 4);
	CU_ASSERT_EQUAL(cfg->n_sources, 0);
	config_free(cfg);
}

static void test_env_var_expands_with_default(void)
{
	struct hub_config *cfg;

	setenv("HUB_TEST_TOKEN", "tok-from-env", 1);
	setenv("HUB_TEST_EMPTY", "", 1);
	unsetenv("HUB_TEST_UNSET_VAR");
	cfg = load_ok(
		"api:\n  tokens: [\"${HUB_TEST_TOKEN}\", \"${HUB_TEST_UNSET_VAR:-fallback}\",\n"
		"           \"${HUB_TEST_EMPTY:-when-empty}\", \"x${HUB_TEST_TOKEN:-no}y\"]\n"
		"http:\n  threads: ${HUB_TEST_UNSET_VAR:-6}\n");
	if (cfg) {
		CU_ASSERT_EQUAL_FATAL(cfg->n_api_tokens, 4);
		CU_ASSERT_STRING_EQUAL(cfg->api_tokens[0], "tok-from-env");
		CU_ASSERT_STRING_EQUAL(cfg->api_tokens[1], "fallback");
		CU_ASSERT_STRING_EQUAL(cfg->api_tokens[2], "when-empty");
		CU_ASSERT_STRING_EQUAL(cfg->api_tokens[3], "xtok-from-envy");
		CU_ASSERT_EQUAL(cfg->http_threads, 6);
		config_free(cfg);
	}
	unsetenv("HUB_TEST_TOKEN");
	unsetenv("HUB_TEST_EMPTY");
}

/* A ${VAR} filled from a file (a Kubernetes secret, `echo tok > file`)
 * ends in the file's line break: one "\n" or "\r\n" at the end of each
 * value is dropped, or a write key or token would never match.  Only one,
 * and no other whitespace; a value that is only a line break is empty, so
 * its default applies. */
static void test_env_var_loses_one_trailing_line_break(void)
{
	static const struct {
		const char *env, *alone, *inside; /* ${V:-fallback}, a${V}b */
	} rows[] = {
		{"tok\n", "tok", "atokb"},
		{"tok\r\n", "tok", "atokb"},
		{"tok\n\n", "tok\n", "atok\nb"},
		{"tok \t\n", "tok \t", "atok \tb"},
		{"to\nk", "to\nk", "ato\nkb"},
		{"tok\r", "tok\r", "atok\rb"},
		{"\n", "fallback", "ab"},
		{"tok ", "tok ", "atok b"}, /* nothing but the line break */
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct hub_config *cfg;

		setenv("HUB_TEST_TOKEN", rows[i].env, 1);
		cfg = load_ok("api:\n  tokens: [\"${HUB_TEST_TOKEN:-fallback}\", "
			      "\"a${HUB_TEST_TOKEN}b\"]\n");
		if (!cfg)
			continue;
		CU_ASSERT_EQUAL_FATAL(cfg->n_api_tokens, 2);
		if (strcmp(cfg->api_tokens[0], rows[i].alone) ||
		    strcmp(cfg->api_tokens[1], rows[i].inside))
			fprintf(stderr, "\n  row %zu: got \"%s\", \"%s\"\n", i, cfg->api_tokens[0],
				cfg->api_tokens[1]);
		CU_ASSERT_STRING_EQUAL(cfg->api_tokens[0], rows[i].alone);
		CU_ASSERT_STRING_EQUAL(cfg->api_tokens[1], rows[i].inside);
		config_free(cfg);
	}
	unsetenv("HUB_TEST_TOKEN");
}

static void test_dollar_dollar_is_a_literal_dollar(void)
{
	static const char text[] =
		"a: $$HUB_TEST_TOKEN\nb: \"cost $$5, $$${HUB_TEST_UNSET_VAR:-x}\"\n"
		"$c: $email_address\nd: ${HUB_TEST_UNSET_VAR:-}\n";
	struct cfg_node *root = NULL;
	char err[256] = "";

	unsetenv("HUB_TEST_UNSET_VAR");
	CU_ASSERT_EQUAL_FATAL(cfg_parse_string("t.yaml", text, strlen(text), &root, err,
					       sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(cfg_get(root, "a")->value, "$HUB_TEST_TOKEN");
	CU_ASSERT_STRING_EQUAL(cfg_get(root, "b")->value, "cost $5, $x");
	CU_ASSERT_STRING_EQUAL(cfg_get(root, "$c")->value, "$email_address"); /* keys as written */
	/* empty text, not null: an empty secret from the environment is said
	 * to be empty, not taken for an absent key */
	CU_ASSERT_STRING_EQUAL(cfg_get(root, "d")->value, "");
	CU_ASSERT_FALSE(cfg_get(root, "d")->is_null);
	cfg_free(root);
}

static void test_external_ids_sorted_by_priority_then_name(void)
{
	struct hub_config *cfg =
		load_ok("identity:\n  external:\n    zeta: {priority: 1}\n"
			"    mpid: {priority: 3, limit: 2}\n    crm_id: {limit: 1}\n"
			"    email:\n    alpha: {priority: 3}\n");
	if (!cfg)
		return;
	CU_ASSERT_EQUAL_FATAL(cfg->n_external_ids, 5);
	CU_ASSERT_STRING_EQUAL(cfg->external_ids[0].name, "crm_id");
	CU_ASSERT_EQUAL(cfg->external_ids[0].limit, 1);
	CU_ASSERT_EQUAL(cfg->external_ids[0].priority, 1);
	CU_ASSERT_STRING_EQUAL(cfg->external_ids[1].name, "email");
	CU_ASSERT_EQUAL(cfg->external_ids[1].limit, 5);
	CU_ASSERT_STRING_EQUAL(cfg->external_ids[2].name, "zeta");
	CU_ASSERT_STRING_EQUAL(cfg->external_ids[3].name, "alpha");
	CU_ASSERT_STRING_EQUAL(cfg->external_ids[4].name, "mpid");
	CU_ASSERT_EQUAL(cfg->external_ids[4].limit, 2);
	CU_ASSERT_EQUAL(cfg->external_ids[4].priority, 3);
	config_free(cfg);
}

/* plugin_dir: one directory, a ':'-joined path (as PATH, from ${VAR} too)
 * or a YAML list; kept ':'-joined for the registry. */
static void test_plugin_dir_takes_a_list(void)
{
	static const char *const rows[][2] = {
		{"plugin_dir: /usr/lib/profilehub\n", "/usr/lib/profilehub"},
		{"plugin_dir: /usr/lib/profilehub:/opt/x\n", "/usr/lib/profilehub:/opt/x"},
		{"plugin_dir: [/usr/lib/profilehub, /opt/x]\n", "/usr/lib/profilehub:/opt/x"},
		{"plugin_dir:\n  - /usr/lib/profilehub\n  - rel/x\n", "/usr/lib/profilehub:rel/x"},
		/* one directory's name the start of another's: not listed twice */
		{"plugin_dir: /opt/xy:/opt/x\n", "/opt/xy:/opt/x"},
		{"plugin_dir: [/opt/xy, /opt/x]\n", "/opt/xy:/opt/x"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct hub_config *cfg = NULL;
		char err[512] = "";

		CU_ASSERT_EQUAL_FATAL(config_load_string("t.yaml", rows[i][0], &cfg, err,
							 sizeof(err)), 0);
		CU_ASSERT_STRING_EQUAL(err, "");
		CU_ASSERT_STRING_EQUAL(cfg->plugin_dir, rows[i][1]);
		config_free(cfg);
	}
}

static void test_sources_and_exports_keep_common_keys(void)
{
	struct hub_config *cfg;
	char err[512] = "";

	setenv("HUB_TEST_FIXTURE_TOKEN", "from-env", 1);
	CU_ASSERT_EQUAL_FATAL(config_load(FIXTURES "valid_full.yaml", &cfg, err, sizeof(err)), 0);
	unsetenv("HUB_TEST_FIXTURE_TOKEN");
	CU_ASSERT_STRING_EQUAL(cfg->plugin_dir, "build/plugins");
	CU_ASSERT_STRING_EQUAL(cfg->log_level, "debug");
	CU_ASSERT_STRING_EQUAL(cfg->store_driver, "postgres");
	CU_ASSERT_STRING_EQUAL(cfg->store_url, "postgresql://hub@127.0.0.1/hub");
	CU_ASSERT_STRING_EQUAL(cfg->store_schema, "profilehub");
	CU_ASSERT_STRING_EQUAL(cfg->http_listen, "[::1]:9090");
	CU_ASSERT_EQUAL(cfg->http_timeout_ms, 120000);
	CU_ASSERT_EQUAL(cfg->http_max_body, 65536);
	CU_ASSERT_EQUAL_FATAL(cfg->n_api_tokens, 2);
	CU_ASSERT_STRING_EQUAL(cfg->api_tokens[0], "from-env");
	CU_ASSERT_EQUAL(cfg->n_blocked_values, 3);
	CU_ASSERT_EQUAL(cfg->erase_block_days, 7);
	CU_ASSERT_EQUAL(cfg->intake_queue_max, 16);

	CU_ASSERT_EQUAL_FATAL(cfg->n_sources, 2);
	CU_ASSERT_STRING_EQUAL(cfg->sources[0].name, "web");
	CU_ASSERT_STRING_EQUAL(cfg->sources[0].plugin, "segment");
	CU_ASSERT_TRUE(cfg->sources[0].is_enabled);
	CU_ASSERT_STRING_EQUAL(cfg->sources[0].path, "sources[0]");
	CU_ASSERT_STRING_EQUAL(cfg->sources[1].name, "warehouse_users");
	CU_ASSERT_FALSE(cfg->sources[1].is_enabled);
	CU_ASSERT_STRING_EQUAL(cfg->sources[1].path, "sources[1]");
	CU_ASSERT_PTR_NOT_NULL(cfg_get(cfg->sources[1].node, "query"));
	CU_ASSERT_EQUAL(cfg->sources[1].node->line, 31);
	CU_ASSERT_EQUAL(cfg->sources[1].node->col, 5);

	CU_ASSERT_EQUAL_FATAL(cfg->n_exports, 1);
	CU_ASSERT_STRING_EQUAL(cfg->exports[0].name, "crm_feed");
	CU_ASSERT_STRING_EQUAL(cfg->exports[0].path, "exports[0]");
	/* the plugin keys of each instance pass with the common tables */
	CU_ASSERT_EQUAL(cfg_check_keys(cfg->exports[0].node, cfg->exports[0].path,
				       (const struct hub_config_key[]){
					       {"url", HUB_CFG_STRING, NULL, 1, 0, "where"}, {0}},
				       config_keys_common_export, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg_check_keys(cfg->sources[1].node, cfg->sources[1].path, NULL,
				       config_keys_common_source, err, sizeof(err)), 0);
	config_free(cfg);
}

static void test_conf_hub_yaml_loads_cleanly(void)
{
	struct hub_config *cfg = NULL;
	char err[512] = "";

	if (config_load("conf/hub.yaml", &cfg, err, sizeof(err)) != 0)
		fprintf(stderr, "\n  conf/hub.yaml: %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->store_driver, "sqlite");
	CU_ASSERT_STRING_EQUAL(cfg->store_path, "var/hub.db");
	CU_ASSERT_STRING_EQUAL(cfg->http_listen, "127.0.0.1:8080");
	CU_ASSERT_EQUAL(cfg->n_api_tokens, 1);
	config_free(cfg);
}

static void test_positions_are_one_based_for_keys_and_values(void)
{
	static const char text[] = "top:\n  list:\n    - a\n    -   b\n  flow: {k: v}\n";
	struct cfg_node *root = NULL;
	const struct cfg_node *top, *list, *flow;
	char err[256] = "";

	CU_ASSERT_EQUAL_FATAL(cfg_parse_string("pos.yaml", text, strlen(text), &root, err,
					       sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(root->file, "pos.yaml");
	top = cfg_get(root, "top");
	CU_ASSERT_PTR_NOT_NULL_FATAL(top);
	CU_ASSERT_EQUAL(top->key_line, 1);
	CU_ASSERT_EQUAL(top->key_col, 1);
	CU_ASSERT_EQUAL(top->line, 2);
	CU_ASSERT_EQUAL(top->col, 3);
	list = cfg_get(top, "list");
	CU_ASSERT_PTR_NOT_NULL_FATAL(list);
	CU_ASSERT_EQUAL(list->kind, CFG_SEQ);
	CU_ASSERT_EQUAL_FATAL(list->n_children, 2);
	CU_ASSERT_EQUAL(list->children[1].line, 4);
	CU_ASSERT_EQUAL(list->children[1].col, 9);
	CU_ASSERT_PTR_NULL(list->children[1].key);
	flow = cfg_get(top, "flow");
	CU_ASSERT_PTR_NOT_NULL_FATAL(flow);
	CU_ASSERT_EQUAL(flow->children[0].key_line, 5);
	CU_ASSERT_EQUAL(flow->children[0].key_col, 10);
	CU_ASSERT_EQUAL(flow->children[0].col, 13);
	CU_ASSERT_PTR_NULL(cfg_get(top, "missing"));
	CU_ASSERT_PTR_NULL(cfg_get(list, "a"));
	cfg_free(root);
}

/* An empty integer or a lone sign is not "out of range": it says what
 * the key expects, as any other word does. */
static void test_an_empty_integer_is_not_out_of_range(void)
{
	static const char *const texts[] = {"\"\"", "'-'", "'+'"};

	for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
		char text[64], err[256] = "";
		struct cfg_node *root = NULL;

		snprintf(text, sizeof(text), "v: %s\n", texts[k]);
		CU_ASSERT_EQUAL_FATAL(cfg_parse_string("t.yaml", text, strlen(text), &root, err,
						       sizeof(err)), 0);
		CU_ASSERT_EQUAL(cfg_check_type(cfg_get(root, "v"), "v", HUB_CFG_INT, err,
					       sizeof(err)), -1);
		CU_ASSERT_PTR_NULL(strstr(err, "out of range"));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "expected an integer"));
		cfg_free(root);
	}
}

/* "Did you mean": two edits at most, a swap of neighbours counting one,
 * and fewer edits than the name has letters. */
static void test_closest_name_is_within_two_edits_and_shorter_than_the_name(void)
{
	static const char *const names[] = {"listen", "ab", "abcdef"};

	CU_ASSERT_STRING_EQUAL(cfg_closest_name("lsitne", names, 3), "listen"); /* two swaps */
	CU_ASSERT_STRING_EQUAL(cfg_closest_name("lisetn", names, 3), "listen");
	CU_ASSERT_PTR_NULL(cfg_closest_name("abcxyz", names + 2, 1));           /* three edits */
	CU_ASSERT_STRING_EQUAL(cfg_closest_name("abcxyf", names + 2, 1), "abcdef");
	CU_ASSERT_PTR_NULL(cfg_closest_name("cd", names + 1, 1));    /* two edits, two letters */
	CU_ASSERT_STRING_EQUAL(cfg_closest_name("cb", names + 1, 1), "ab");
}

static void test_typed_readers_accept_only_their_type(void)
{
	static const struct {
		const char *text;
		int int_ok;
		int64_t i;
		int bool_ok;
		int b;
		int float_ok;
		double f;
		int dur_ok;
		int64_t ms;
	} rows[] = {
		{"42", 1, 42, 0, 0, 1, 42.0, 1, 42000},
		{"-7", 1, -7, 0, 0, 1, -7.0, 0, 0},
		{"2.5", 0, 0, 0, 0, 1, 2.5, 0, 0},
		{"1e3", 0, 0, 0, 0, 1, 1000.0, 0, 0},
		{"yes", 0, 0, 1, 1, 0, 0, 0, 0},
		{"Off", 0, 0, 1, 0, 0, 0, 0, 0},
		{"TRUE", 0, 0, 1, 1, 0, 0, 0, 0},
		{"30s", 0, 0, 0, 0, 0, 0, 1, 30000},
		{"15m", 0, 0, 0, 0, 0, 0, 1, 900000},
		{"2h", 0, 0, 0, 0, 0, 0, 1, 7200000},
		{"1d", 0, 0, 0, 0, 0, 0, 1, 86400000},
		{"250ms", 0, 0, 0, 0, 0, 0, 1, 250},
		/* compound, as a schedule's "every" reads it (one grammar) */
		{"1h30m", 0, 0, 0, 0, 0, 0, 1, 5400000},
		{"2d12h30m15s250ms", 0, 0, 0, 0, 0, 0, 1, 217815250},
		{"30m1h", 0, 0, 0, 0, 0, 0, 0, 0},
		{"1m1m", 0, 0, 0, 0, 0, 0, 0, 0},
		{"1h30", 0, 0, 0, 0, 0, 0, 0, 0},
		{"1h 30m", 0, 0, 0, 0, 0, 0, 0, 0},
		{"h", 0, 0, 0, 0, 0, 0, 0, 0},
		{"99999999999999999999", 0, 0, 0, 0, 1, 1e20, 0, 0},
		{"9223372036854775807", 1, INT64_MAX, 0, 0, 1, 9223372036854775807.0, 0, 0},
		{"1w", 0, 0, 0, 0, 0, 0, 0, 0},
		{"5 s", 0, 0, 0, 0, 0, 0, 0, 0},
		{"", 0, 0, 0, 0, 0, 0, 0, 0},
		{".inf", 0, 0, 0, 0, 0, 0, 0, 0},
		{"0x10", 0, 0, 0, 0, 0, 0, 0, 0},
		{"~", 0, 0, 0, 0, 0, 0, 0, 0},
		{"on", 0, 0, 1, 1, 0, 0, 0, 0},
		{"OFF", 0, 0, 1, 0, 0, 0, 0, 0},
		{"1e", 0, 0, 0, 0, 0, 0, 0, 0},     /* an exponent needs digits */
		{"1e+", 0, 0, 0, 0, 0, 0, 0, 0},
		{"1e-400", 0, 0, 0, 0, 1, 0.0, 0, 0}, /* below a double's range: 0 */
		{"1e400", 0, 0, 0, 0, 0, 0, 0, 0},  /* above it: refused */
	};

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		char text[96];
		struct cfg_node *root = NULL;
		char err[256];

		/* v plain, w quoted: quoting does not change typed reading (only
		 * JSON conversion); '' and '~' quoted are strings, not null. */
		snprintf(text, sizeof(text), "v: %s\nw: '%s'\n", rows[r].text, rows[r].text);
		CU_ASSERT_EQUAL_FATAL(cfg_parse_string("t.yaml", text, strlen(text), &root, err,
						       sizeof(err)), 0);
		for (int k = 0; k < 2; k++) {
			const struct cfg_node *v = cfg_get(root, k ? "w" : "v");
			int64_t i = 0, ms = 0;
			double f = 0, tol = 1e-9 * (1 + (rows[r].f < 0 ? -rows[r].f : rows[r].f));
			int b = -1;

			CU_ASSERT_EQUAL(cfg_as_int(v, &i) == 0, rows[r].int_ok);
			if (rows[r].int_ok)
				CU_ASSERT_EQUAL(i, rows[r].i);
			CU_ASSERT_EQUAL(cfg_as_bool(v, &b) == 0, rows[r].bool_ok);
			if (rows[r].bool_ok)
				CU_ASSERT_EQUAL(b, rows[r].b);
			CU_ASSERT_EQUAL(cfg_as_float(v, &f) == 0, rows[r].float_ok);
			if (rows[r].float_ok)
				CU_ASSERT_DOUBLE_EQUAL(f, rows[r].f, tol);
			CU_ASSERT_EQUAL(cfg_as_duration_ms(v, &ms) == 0, rows[r].dur_ok);
			if (rows[r].dur_ok)
				CU_ASSERT_EQUAL(ms, rows[r].ms);
		}
		cfg_free(root);
	}
	CU_ASSERT_EQUAL(cfg_as_int(NULL, &(int64_t){0}), -1);
}

/* http.timeout reads durations as a schedule's "every" does: "1h30m"
 * was refused there while "every 1h30m" was taken. */
static void test_http_timeout_reads_a_compound_duration(void)
{
	struct hub_config *cfg = load_ok("http:\n  timeout: 1h30m\n");

	CU_ASSERT_EQUAL(cfg ? cfg->http_timeout_ms : 0, 5400000);
	config_free(cfg);
}

static void test_to_json_of_nested_map(void)
{
	static const char text[] =
		"map:\n"
		"  custom_id: user_id\n"
		"  n: 12\n"
		"  f: 0.1\n"
		"  flags: [true, False, yes, ~, null, '', \"3\"]\n"
		"  big: 123456789012345678901234567890\n"
		"  zip: '01234'\n"
		"  attributes: {$email_address: email, date(signup): created_at}\n"
		"  empty: {}\n";
	struct cfg_node *root = NULL;
	char err[256] = "";
	char *json;

	CU_ASSERT_EQUAL_FATAL(cfg_parse_string("j.yaml", text, strlen(text), &root, err,
					       sizeof(err)), 0);
	json = cfg_to_json(cfg_get(root, "map"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	CU_ASSERT_STRING_EQUAL(json,
			       "{\"custom_id\":\"user_id\",\"n\":12,\"f\":0.1,"
			       "\"flags\":[true,false,\"yes\",null,null,\"\",\"3\"],"
			       "\"big\":\"123456789012345678901234567890\",\"zip\":\"01234\","
			       "\"attributes\":{\"$email_address\":\"email\","
			       "\"date(signup)\":\"created_at\"},\"empty\":{}}");
	hub_free(json);
	json = cfg_to_json(&cfg_get(cfg_get(root, "map"), "flags")->children[6]);
	CU_ASSERT_STRING_EQUAL(json, "\"3\"");
	hub_free(json);
	cfg_free(root);
}

static void test_check_keys_with_a_plugin_table(void)
{
	static const struct hub_config_key segment_keys[] = {
		{"write_keys", HUB_CFG_STRING_LIST, NULL, 1, 1, "write keys"},
		{"webhook_secret", HUB_CFG_STRING, NULL, 0, 1, "webhook secret"},
		{"ratio", HUB_CFG_FLOAT, "0.5", 0, 0, "a number"},
		{"options", HUB_CFG_ANY, NULL, 0, 0, "anything"},
		{0},
	};
	static const struct {
		const char *text;
		const char *expected; /* NULL: passes */
	} rows[] = {
		{"name: web\nplugin: segment\nwrite_keys: [a, b]\nratio: 1\noptions: [1, {a: b}]\n",
		 NULL},
		{"name: web\nplugin: segment\nwrite_keys: []\n"
		 "webhook_secret:\nschedule: every 1m\n",
		 NULL},
		{"name: web\nplugin: segment\nwrite_key: [a]\n",
		 "s.yaml:3:1: sources[0].write_key: unknown key (did you mean \"write_keys\"?)"},
		{"name: web\nplugin: segment\n",
		 "s.yaml:1:1: sources[0]: missing required key \"write_keys\""},
		{"plugin: segment\nwrite_keys: [a]\n",
		 "s.yaml:1:1: sources[0]: missing required key \"name\""},
		{"name: web\nplugin: segment\nwrite_keys: [a]\npage_size: ten\n",
		 "s.yaml:4:12: sources[0].page_size: expected an integer"},
		{"name: web\nplugin: segment\nwrite_keys: [a]\nratio: half\n",
		 "s.yaml:4:8: sources[0].ratio: expected a number"},
		{"name: web\nplugin: segment\nwrite_keys:\n",
		 "s.yaml:3:12: sources[0].write_keys: expected a list of strings"},
		{"name: web\nplugin: segment\nwrite_keys: [a]\nmap: [a]\n",
		 "s.yaml:4:6: sources[0].map: expected a mapping"},
		{"name: web\nplugin: segment\nwrite_keys: [a]\nzz: 1\n",
		 "s.yaml:4:1: sources[0].zz: unknown key"},
		{"name: web\nplugin: segment\nWrite_Keys: [a]\n",
		 "s.yaml:3:1: sources[0].Write_Keys: unknown key (did you mean \"write_keys\"?)"},
		{"name: web\nplugin: segment\nwrite_keys: [a]\nPAGE_SIZE: 1\n",
		 "s.yaml:4:1: sources[0].PAGE_SIZE: unknown key (did you mean \"page_size\"?)"},
	};

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct cfg_node *root = NULL;
		char err[512] = "";
		int rc;

		CU_ASSERT_EQUAL_FATAL(cfg_parse_string("s.yaml", rows[r].text, strlen(rows[r].text),
						       &root, err, sizeof(err)), 0);
		rc = cfg_check_keys(root, "sources[0]", segment_keys, config_keys_common_source,
				    err, sizeof(err));
		if (rows[r].expected) {
			if (strcmp(err, rows[r].expected) != 0)
				fprintf(stderr, "\n  row %zu: got \"%s\"\n", r, err);
			CU_ASSERT_EQUAL(rc, -1);
			CU_ASSERT_STRING_EQUAL(err, rows[r].expected);
		} else {
			if (rc)
				fprintf(stderr, "\n  row %zu: unexpected \"%s\"\n", r, err);
			CU_ASSERT_EQUAL(rc, 0);
		}
		cfg_free(root);
	}
}

/* Every allocation of a full load may fail: each failure is an error
 * message, never a crash or a leak (ASan build). */
static void test_load_survives_every_allocation_failure(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(FIXTURES "valid_full.yaml", "rb");
	int loaded = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	{
		char buf[8192];
		len = fread(buf, 1, sizeof(buf) - 1, f);
		buf[len] = '\0';
		text = strdup(buf);
	}
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	for (long n = 1; n < 10000 && !loaded; n++) {
		struct hub_config *cfg = NULL;
		char err[512] = "";

		alloc_fail_after(n);
		if (config_load_string("full.yaml", text, &cfg, err, sizeof(err)) == 0) {
			loaded = 1;
		} else {
			CU_ASSERT_PTR_NULL(cfg);
			if (!strstr(err, "out of memory"))
				fprintf(stderr, "\n  allocation %ld: \"%s\"\n", n, err);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "out of memory"));
		}
		alloc_fail_after(0);
		config_free(cfg);
	}
	CU_ASSERT_TRUE(loaded);
	free(text);
}

/* A plugin's message names its key first ("map.event: ..."): the node of
 * that path, else none; no guessing from a word that is no such path. */
static void test_a_message_key_path_finds_its_node(void)
{
	static const char text[] = "map:\n  event: {name: e}\nlines: [a, b]\nurl: x\n"
				   "attributes: {$email_address: e, date(signup): s, a.b: c, a: {b: d}}\n";
	static const struct {
		const char *message;
		int line, col; /* 0: no node */
	} rows[] = {
		{"map.event: expected {name: column}", 2, 10},
		{"map.event.name: unknown column", 2, 17},
		{"lines[1]: empty", 3, 12},
		{"url: not an http:// or https:// URL", 4, 6},
		{"url:", 4, 6},
		{"url must be a URL", 0, 0},       /* no colon after the path */
		{"url:x", 0, 0},                   /* no space after it */
		{"query: required", 0, 0},         /* a key the entry lacks */
		{"map.evnt: bad", 0, 0},
		{"lines[2]: past the end", 0, 0},
		{"lines[x]: bad", 0, 0},
		{"url[0]: not a list", 0, 0},
		{"map..event: bad", 0, 0},
		{": nothing", 0, 0},
		{"told to fail", 0, 0},
		/* keys the documented map syntax writes: a native attribute, a cast */
		{"attributes.$email_address: expected a column name", 5, 30},
		{"attributes.date(signup): expected a column name", 5, 47},
		{"attributes.date(signup.x: bad", 0, 0},
		{"attributes.a.b: bad", 5, 55},    /* the longer key first */
		{"attributes.a: bad", 5, 61},
	};
	struct cfg_node *root = NULL;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(cfg_parse_string("k.yaml", text, strlen(text), &root, err,
					       sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct cfg_node *n = cfg_path_lead(root, rows[i].message);
		if (!rows[i].line) {
			if (n)
				fprintf(stderr, "\n%s: found a node\n", rows[i].message);
			CU_ASSERT_PTR_NULL(n);
			continue;
		}
		CU_ASSERT_PTR_NOT_NULL_FATAL(n);
		if (n->line != rows[i].line || n->col != rows[i].col)
			fprintf(stderr, "\n%s: %d:%d\n", rows[i].message, n->line, n->col);
		CU_ASSERT_EQUAL(n->line, rows[i].line);
		CU_ASSERT_EQUAL(n->col, rows[i].col);
	}
	cfg_free(root);
}

/* Mappings nest 64 levels below the top at most: a 65th is refused at
 * its position and path, naming the bound. */
static void test_nesting_is_bounded_at_64_levels(void)
{
	for (int depth = 64; depth <= 65; depth++) {
		struct strbuf sb;
		char expected[512];
		int n = snprintf(expected, sizeof(expected), "t.yaml:1:%d: a", 4 + 4 * 64);

		for (int i = 0; i < 64; i++) /* the key path to the 65th mapping */
			n += snprintf(expected + n, sizeof(expected) - (size_t)n, ".a");
		snprintf(expected + n, sizeof(expected) - (size_t)n,
			 ": nested deeper than 64 levels");
		strbuf_init(&sb);
		strbuf_puts(&sb, "a: ");
		for (int i = 0; i < depth; i++)
			strbuf_puts(&sb, "{a: ");
		strbuf_puts(&sb, "1");
		for (int i = 0; i < depth; i++)
			strbuf_puts(&sb, "}");
		strbuf_puts(&sb, "\n");
		cfg_free(parse_expecting(strbuf_take(&sb), depth == 64 ? NULL : expected));
	}
}

/* A variable's name is a letter or _ then letters, digits and _, at most
 * 255 bytes; its value must be UTF-8 (no overlong form, no surrogate, no
 * cut sequence), and the error names the variable, never the value. */
static void test_env_var_names_and_values_are_checked(void)
{
	static const struct {
		const char *value;       /* of HUB_TEST_V9 */
		const char *yaml;
		const char *expected;    /* NULL: loads, a is "<x>" */
	} rows[] = {
		{"x", "a: <${HUB_TEST_V9}>\n", NULL},
		{"x", "a: ${9V}\n",
		 "t.yaml:1:4: a: malformed ${...} reference (use ${NAME} or ${NAME:-default})"},
		{"\xc0\x80", "a: ${HUB_TEST_V9}\n",
		 "t.yaml:1:4: a: environment variable HUB_TEST_V9 is not valid UTF-8"},
		{"\xe0\x80\x80", "a: ${HUB_TEST_V9}\n",
		 "t.yaml:1:4: a: environment variable HUB_TEST_V9 is not valid UTF-8"},
		{"\xed\xbf\xbf", "a: ${HUB_TEST_V9}\n",
		 "t.yaml:1:4: a: environment variable HUB_TEST_V9 is not valid UTF-8"},
		{"ok\xc3", "a: ${HUB_TEST_V9}\n",
		 "t.yaml:1:4: a: environment variable HUB_TEST_V9 is not valid UTF-8"},
	};
	char name[320], yaml[400];
	struct cfg_node *root;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		setenv("HUB_TEST_V9", rows[i].value, 1);
		root = parse_expecting(strdup(rows[i].yaml), rows[i].expected);
		if (root && !rows[i].expected)
			CU_ASSERT_STRING_EQUAL(cfg_get(root, "a")->value, "<x>");
		cfg_free(root);
	}
	unsetenv("HUB_TEST_V9");
	memset(name, 'N', 256);
	name[256] = '\0';
	snprintf(yaml, sizeof(yaml), "a: ${%s}\n", name);
	cfg_free(parse_expecting(strdup(yaml),
				 "t.yaml:1:4: a: environment variable name is too long"));
	name[255] = '\0';
	snprintf(yaml, sizeof(yaml), "a: ${%s}\n", name);
	CU_ASSERT_FATAL(snprintf(name, sizeof(name), "t.yaml:1:4: a: environment variable %.255s is"
				 " not set", yaml + 5) > 0);
	cfg_free(parse_expecting(strdup(yaml), name));
}

/* The 1 MiB bound holds for the whole value, the text written after its
 * last reference too. */
static void test_expansion_cap_counts_text_after_the_references(void)
{
	char *big = malloc(65536 + 1), *text = repeated_refs(1, 16);

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	memset(big, 'x', 65536);
	big[65536] = '\0';
	setenv("HUB_TEST_BIG", big, 1);
	free(big);
	text[strlen(text) - 1] = 'y'; /* the newline: one byte more */
	cfg_free(parse_expecting(
		text, "t.yaml:1:4: value too long after ${...} expansion (at most 1048576 bytes)"));
	unsetenv("HUB_TEST_BIG");
}

/* Null is ~, null, Null, NULL or nothing, written plain; a quoted or
 * !!str-tagged null is the text "null".  A scalar with a reference keeps
 * what the file alone gives ($$ as written) beside its value. */
static void test_null_forms_and_what_the_file_wrote(void)
{
	struct cfg_node *root = parse_expecting(
		strdup("a: Null\nb: !!str null\nc: \"null\"\nd: ${HUB_TEST_UNSET_9:-x}$$\n"),
		NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT(cfg_get(root, "a")->is_null);
	CU_ASSERT(!cfg_get(root, "b")->is_null);
	CU_ASSERT(cfg_get(root, "b")->is_quoted);
	CU_ASSERT(!cfg_get(root, "c")->is_null);
	CU_ASSERT_STRING_EQUAL(cfg_get(root, "d")->value, "x$");
	CU_ASSERT_STRING_EQUAL(cfg_get(root, "d")->raw, "x$$");
	cfg_free(root);
}

/* A file that is not UTF-8 is refused at the line and column of the bad
 * byte (libyaml gives only its offset). */
static void test_bad_utf8_in_the_file_is_placed(void)
{
	char err[512] = "";
	struct cfg_node *root = NULL;
	static const char text[] = "a: b\ncd: \xff\n";

	CU_ASSERT_EQUAL(cfg_parse_string("t.yaml", text, sizeof(text) - 1, &root, err,
					 sizeof(err)),
			-1);
	CU_ASSERT_EQUAL(strncmp(err, "t.yaml:2:5: ", 12), 0);
	cfg_free(root);
}

TEST_SUITE(config, NULL, NULL, TEST(test_nesting_is_bounded_at_64_levels),
	   TEST(test_env_var_names_and_values_are_checked),
	   TEST(test_person_keys_leave_out_an_external_email_or_phone),
	   TEST(test_expansion_cap_counts_text_after_the_references),
	   TEST(test_null_forms_and_what_the_file_wrote),
	   TEST(test_bad_utf8_in_the_file_is_placed),
	   TEST(test_a_message_key_path_finds_its_node),
	   TEST(test_yaml_syntax_error_names_file_line_col),
	   TEST(test_quote_hint_after_non_ascii_text),
	   TEST(test_tab_indent_is_named),
	   TEST(test_duplicate_key_is_refused),
	   TEST(test_unknown_key_suggests_closest),
	   TEST(test_wrong_type_is_reported_at_the_value),
	   TEST(test_cors_origins_are_web_origins_or_a_star),
	   TEST(test_missing_required_key_points_at_the_mapping),
	   TEST(test_duplicate_instance_name_is_refused),
	   TEST(test_source_limits_take_their_whole_range),
	   TEST(test_config_hub_limits_take_their_whole_range),
	   TEST(test_config_listen_needs_a_host_and_a_port),
	   TEST(test_config_listen_host_is_an_address_or_a_name),
	   TEST(test_config_store_schema_is_a_plain_identifier),
	   TEST(test_config_store_lock_timeout_is_a_postgres_duration),
	   TEST(test_config_store_path_is_no_sqlite_uri),
	   TEST(test_config_external_ids_are_bounded),
	   TEST(test_config_unnamed_text_is_config_in_messages),
	   TEST(test_unset_env_var_is_an_error),
	   TEST(test_every_unset_env_var_is_named_at_once),
	   TEST(test_unset_env_var_of_a_plugin_key_waits_for_the_plugin),
	   TEST(test_bad_values_are_refused),
	   TEST(test_integer_with_a_leading_zero_is_refused),
	   TEST(test_bad_external_id_is_refused),
	   TEST(test_yaml_features_outside_plain_data_are_refused),
	   TEST(test_top_level_must_be_a_mapping),
	   TEST(test_store_password_written_in_the_file_is_found),
	   TEST(test_store_url_to_another_machine_unverified_is_found),
	   TEST(test_connection_string_password_in_the_file_is_found),
	   TEST(test_secret_value_never_in_message),
	   TEST(test_store_url_read_wrongly_is_refused_without_the_password),
	   TEST(test_store_pg_open_checks_its_arguments_first),
	   TEST(test_store_url_control_bytes_are_escaped_in_errors),
	   TEST(test_secret_written_as_shell_reference_is_refused),
	   TEST(test_example_secrets_are_found_and_loopback_told_apart),
	   TEST(test_api_tokens_reused_or_short_are_found),
	   TEST(test_empty_config_gets_every_default),
	   TEST(test_null_sections_read_as_empty),
	   TEST(test_env_var_expands_with_default),
	   TEST(test_nested_reference_in_a_default_is_refused),
	   TEST(test_expansion_is_capped),
	   TEST(test_unreadable_config_file_says_why),
	   TEST(test_too_many_entries_are_refused),
	   TEST(test_env_var_loses_one_trailing_line_break),
	   TEST(test_dollar_dollar_is_a_literal_dollar),
	   TEST(test_external_ids_sorted_by_priority_then_name),
	   TEST(test_plugin_dir_takes_a_list),
	   TEST(test_sources_and_exports_keep_common_keys),
	   TEST(test_conf_hub_yaml_loads_cleanly),
	   TEST(test_positions_are_one_based_for_keys_and_values),
	   TEST(test_typed_readers_accept_only_their_type),
	   TEST(test_an_empty_integer_is_not_out_of_range),
	   TEST(test_closest_name_is_within_two_edits_and_shorter_than_the_name),
	   TEST(test_http_timeout_reads_a_compound_duration),
	   TEST(test_to_json_of_nested_map),
	   TEST(test_check_keys_with_a_plugin_table),
	   TEST(test_load_survives_every_allocation_failure))
