/*
 * test_plugin.c - the plugin loader (hub/plugin.c, plugin_check.c) and the host table
 * (hub/host.c): every refusal message exactly, the registry, instance
 * checks against the config, and config values read through the host.
 * The .so files come from $(HUB_BUILD)/plugins and tests/plugins.
 */
#include "testlib.h"

#include "../../hub/alloc.h"
#include "../../hub/config.h"
#include "../../hub/host.h"
#include "../../hub/log.h"
#include "../../hub/plugin.h"
#include "../../hub/plugin_int.h"
#include "../../hub/record.h"
#include "../../hub/util.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *test_plugin_path(const char *name)
{
	char *path;
	if (asprintf(&path, "%s/tests/plugins/%s.so", testlib_build_dir(), name) < 0)
		return NULL;
	return path;
}

static char *example_path(void)
{
	char *path;
	if (asprintf(&path, "%s/plugins/example.so", testlib_build_dir()) < 0)
		return NULL;
	return path;
}

/* Loads `path`, which must be refused with exactly `expected`. */
static void expect_refusal(const char *path, const char *expected)
{
	struct plugin_module mod;
	char err[1024] = "";

	CU_ASSERT_EQUAL(plugin_load(path, &mod, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, expected);
	if (strcmp(err, expected) != 0)
		fprintf(stderr, "\n  got:      %s\n  expected: %s\n", err, expected);
	CU_ASSERT_PTR_NULL(mod.handle);
	CU_ASSERT_PTR_NULL(mod.name);
	CU_ASSERT_PTR_NULL(mod.desc);
}

/* Writes `tmpl` with its first "%s" replaced by `path`. */
static void fill_path(char *out, size_t size, const char *tmpl, const char *path)
{
	const char *at = strstr(tmpl, "%s");

	if (!at) {
		snprintf(out, size, "%s", tmpl);
		return;
	}
	snprintf(out, size, "%.*s%s%s", (int)(at - tmpl), tmpl, path, at + 2);
}

/* One row per test plugin: the message, with %s for the path. */
static void test_refusals_name_the_plugin_and_the_problem(void)
{
	static const struct {
		const char *plugin;
		const char *message;
	} rows[] = {
		{"bad_magic", "plugin \"bad_magic\" (%s) is not a profilehub plugin "
			      "(bad ABI magic 0xdeadbeef: a descriptor begins "
			      ".abi = HUB_ABI_STAMP_INIT)"},
		{"no_entry", "plugin \"no_entry\" (%s) has no hub_plugin_entry function (define "
			     "it as hub_plugin.h declares it, with HUB_EXPORT)"},
		{"null_entry",
		 "plugin \"null_entry\" (%s): hub_plugin_entry returned no descriptor"},
		{"wrong_name", "plugin \"wrong_name\" (%s) calls itself \"right_name\" (a "
			       "descriptor's name must be its file name without .so)"},
		{"pull_no_callback",
		 "plugin \"pull_no_callback\" (%s): role pull declared but pull() is missing"},
		{"push_no_routes",
		 "plugin \"push_no_routes\" (%s): role push declared but routes[] is missing"},
		{"export_no_callback", "plugin \"export_no_callback\" (%s): role export declared "
				       "but export_batch() is missing"},
		{"no_create", "plugin \"no_create\" (%s): create() is missing"},
		{"empty_description",
		 "plugin \"empty_description\" (%s): description is missing"},
		{"dup_key", "plugin \"dup_key\" (%s): config key \"path\" is declared twice"},
		{"no_description",
		 "plugin \"no_description\" (%s): config key \"limit\" has no description"},
		{"bad_default",
		 "plugin \"bad_default\" (%s): config key \"limit\": default \"lots\""
		 " is not an int"},
		{"hub_key", "plugin \"hub_key\" (%s): config key \"batch_size\" is the hub's own "
			    "key of every export (an int): declared a string"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *path = test_plugin_path(rows[i].plugin);
		char expected[1024];

		fill_path(expected, sizeof(expected), rows[i].message, path);
		expect_refusal(path, expected);
		free(path);
	}
}

static void test_other_abi_major_is_refused(void)
{
	char *path = test_plugin_path("bad_abi_major");
	char expected[1024];

	snprintf(expected, sizeof(expected),
		 "plugin \"bad_abi_major\" (%s) built for ABI %d.0, hub provides %d.%d", path,
		 HUB_ABI_MAJOR + 1, HUB_ABI_MAJOR, HUB_ABI_MINOR);
	expect_refusal(path, expected);
	free(path);
}

/* emit() of the test below: the hub's own validation of the record,
 * received at VALIDATE_NOW_MS. */
#define VALIDATE_NOW_MS 1767323045000LL
static hub_rc validate_emit(struct hub_call *call, const struct hub_record *rec, char *err,
			    size_t err_size)
{
	struct record **out = call->ctx;
	struct record_rules rules = {0};
	struct record_warnings w = {0};
	hub_rc rc;

	rc = record_from_hub(rec, "next", &rules, VALIDATE_NOW_MS, out, &w, err, err_size);
	record_warnings_clear(&w);
	/* none of the test plugins gives an origin: a record sized for an
	 * older minor (older_minor) sets one past its end, never read */
	CU_ASSERT_PTR_NULL(record_origin(rec));
	return rc;
}

/* Loads the plugin at path, which must load; what the loader logged
 * (malloc'd). */
static char *load_logged(const char *path, struct plugin_module *mod)
{
	struct testlib_capture cap;
	char err[1024] = "", *logged;
	int rc;

	testlib_capture_begin(&cap);
	rc = plugin_load(path, mod, err, sizeof(err));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	return logged;
}

/* Creates an instance of the loaded plugin `name` (a source of that name)
 * and pulls once: one record, valid for the hub, returned (owned by the
 * caller: record_free()). */
static struct record *pull_one(const struct plugin_module *mod, const char *name)
{
	struct hub_config *cfg = NULL;
	struct hub_instance *inst = NULL;
	struct record *rec = NULL;
	struct hub_call call = {.on_emit = validate_emit, .ctx = &rec};
	char err[1024] = "", *yaml;

	CU_ASSERT_FATAL(asprintf(&yaml, "sources:\n  - name: %s\n    plugin: %s\n", name, name) >
			0);
	CU_ASSERT_EQUAL_FATAL(config_load_string("test.yaml", yaml, &cfg, err, sizeof(err)), 0);
	free(yaml);
	CU_ASSERT_EQUAL_FATAL(plugin_instance_create(mod, &cfg->sources[0], &inst, err,
						     sizeof(err)), 0);
	call.inst = inst;
	CU_ASSERT_EQUAL(mod->desc->pull(inst->state, &call, NULL, 10, err, sizeof(err)), HUB_OK);
	CU_ASSERT_PTR_NOT_NULL(rec);
	plugin_instance_destroy(inst);
	config_free(cfg);
	return rec;
}

static void pull_once(const struct plugin_module *mod, const char *name)
{
	record_free(pull_one(mod, name));
}

/* Same major, next minor, bigger structs: loaded (with a note at info), its
 * descriptor and records read up to what this hub knows. */
static void test_newer_abi_minor_is_accepted(void)
{
	char *path = test_plugin_path("newer_minor");
	struct plugin_module mod;
	char expected[1024], *logged = load_logged(path, &mod);

	snprintf(expected, sizeof(expected),
		 " info [plugins] plugin \"newer_minor\" (%s) built for ABI %d.%d, hub provides "
		 "%d.%d: members added after %d.%d are ignored\n",
		 path, HUB_ABI_MAJOR, HUB_ABI_MINOR + 1, HUB_ABI_MAJOR, HUB_ABI_MINOR,
		 HUB_ABI_MAJOR, HUB_ABI_MINOR);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, expected));
	free(logged);
	CU_ASSERT_EQUAL(mod.desc->abi.minor, HUB_ABI_MINOR + 1);
	CU_ASSERT(mod.desc->abi.plugin_size > sizeof(struct hub_plugin));
	CU_ASSERT_STRING_EQUAL(mod.desc->name, "newer_minor");

	/* create() found what it needs with HUB_HOST_HAS; its bigger record is
	 * taken for the members this hub knows. */
	pull_once(&mod, "newer_minor");
	plugin_unload(&mod);
	free(path);

	/* A newer minor only appends: a smaller descriptor is still refused. */
	path = test_plugin_path("newer_minor_small");
	snprintf(expected, sizeof(expected),
		 "plugin \"newer_minor_small\" (%s) has a %zu-byte descriptor, ABI %d.%d expects "
		 "at least %zu",
		 path, sizeof(struct hub_plugin) - 8, HUB_ABI_MAJOR, HUB_ABI_MINOR + 1,
		 sizeof(struct hub_plugin));
	expect_refusal(path, expected);
	free(path);
}

/* A plugin built for ABI 1.1 (before hub_host.reject()) loads without a
 * note, and works through the table it knows: the prefix of this one. */
static void test_older_abi_minor_is_accepted(void)
{
	char *path = test_plugin_path("older_minor");
	struct plugin_module mod;
	char *logged = load_logged(path, &mod);

	CU_ASSERT_PTR_NULL(strstr(logged, "older_minor")); /* nothing to note */
	free(logged);
	CU_ASSERT_EQUAL(mod.desc->abi.minor, 1);
	CU_ASSERT(mod.desc->abi.minor < HUB_ABI_MINOR);
	CU_ASSERT_PTR_NOT_NULL(mod.desc->import_line); /* 1.1's member is read */

	pull_once(&mod, "older_minor");
	plugin_unload(&mod);
	free(path);
}

/* A plugin built for ABI 1.4 loads (its hub_record ends at origin, before
 * 1.5's has_timestamp), and its timestamp_ms of 0 keeps 1.4's meaning,
 * unset: the receive time, though the flag past its record's end says 1.
 * Its descriptor ends before 1.6's error_body, which is not read either. */
static void test_abi_1_4_record_time_of_0_is_unset(void)
{
	char *path = test_plugin_path("minor_1_4");
	struct plugin_module mod;
	char *logged = load_logged(path, &mod);
	struct record *rec;

	CU_ASSERT_PTR_NULL(strstr(logged, "minor_1_4")); /* nothing to note */
	free(logged);
	CU_ASSERT_EQUAL(mod.desc->abi.minor, 4);
	CU_ASSERT_EQUAL(mod.desc->abi.record_size, offsetof(struct hub_record, has_timestamp));
	CU_ASSERT_EQUAL(mod.desc->abi.plugin_size, offsetof(struct hub_plugin, error_body));
	CU_ASSERT_PTR_NULL(mod.error_body); /* set past its end: never read */
	rec = pull_one(&mod, "minor_1_4");
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	CU_ASSERT_EQUAL(rec->timestamp_ms, VALIDATE_NOW_MS);
	record_free(rec);
	plugin_unload(&mod);
	free(path);
}

static void test_struct_sizes_are_checked(void)
{
	char *path = test_plugin_path("small_descriptor");
	char expected[1024];

	snprintf(expected, sizeof(expected),
		 "plugin \"small_descriptor\" (%s) has a 16-byte descriptor, ABI %d.%d expects %zu",
		 path, HUB_ABI_MAJOR, HUB_ABI_MINOR, sizeof(struct hub_plugin));
	expect_refusal(path, expected);
	free(path);

	path = test_plugin_path("bad_record_size");
	snprintf(expected, sizeof(expected),
		 "plugin \"bad_record_size\" (%s) has a %zu-byte hub_record, ABI %d.%d expects %zu",
		 path, sizeof(struct hub_record) + 8, HUB_ABI_MAJOR, HUB_ABI_MINOR,
		 sizeof(struct hub_record));
	expect_refusal(path, expected);
	free(path);
}

static void test_unloadable_file_gives_dlerror(void)
{
	char *dir = testlib_mkdtemp();
	char *path = testlib_write_file(dir, "garbage.so", "not an ELF file\n");
	char *missing;
	char expected[2048];
	void *h;

	/* The message embeds dlerror(): get the same text from dlopen. */
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	CU_ASSERT_PTR_NULL_FATAL(h);
	snprintf(expected, sizeof(expected), "plugin \"garbage\" (%s): cannot load: %s", path,
		 dlerror());
	expect_refusal(path, expected);

	CU_ASSERT(asprintf(&missing, "%s/missing.so", dir) > 0);
	h = dlopen(missing, RTLD_NOW | RTLD_LOCAL);
	CU_ASSERT_PTR_NULL_FATAL(h);
	snprintf(expected, sizeof(expected), "plugin \"missing\" (%s): cannot load: %s", missing,
		 dlerror());
	expect_refusal(missing, expected);

	free(missing);
	free(path);
	/* a one-letter name is still a name without ".so" */
	path = testlib_write_file(dir, "g.so", "not an ELF file either\n");
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	CU_ASSERT_PTR_NULL_FATAL(h);
	snprintf(expected, sizeof(expected), "plugin \"g\" (%s): cannot load: %s", path,
		 dlerror());
	expect_refusal(path, expected);
	free(path);
	testlib_rmtree(dir);
	free(dir);
}

/* A function no library defines is found at load (RTLD_NOW), not at the
 * first call, which would end the hub. */
static void test_unresolved_symbol_is_refused_at_load(void)
{
	char *path = test_plugin_path("unresolved");
	char expected[2048];
	const char *why;
	void *h;

	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	CU_ASSERT_PTR_NULL_FATAL(h);
	why = dlerror();
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "undefined symbol: profilehub_no_such_function"));
	snprintf(expected, sizeof(expected), "plugin \"unresolved\" (%s): cannot load: %s", path,
		 why);
	expect_refusal(path, expected);
	free(path);
}

/* A config loaded for a command that creates no plugin instance may hold
 * an unset variable in a plugin's key: creating that instance refuses it
 * with the message a full load gives, before the plugin sees "". */
static void test_an_instance_with_an_unset_variable_is_not_created(void)
{
	char *path = example_path(), *dir = testlib_mkdtemp(), *yaml, want[512];
	struct plugin_module mod;
	struct hub_config *cfg = NULL;
	struct hub_instance *inst = NULL;
	char err[1024] = "";

	unsetenv("HUB_TEST_UNSET_VAR");
	yaml = testlib_write_file(dir, "hub.yaml",
				  "sources:\n  - name: wh\n    plugin: example\n"
				  "    path: ${HUB_TEST_UNSET_VAR}\n");
	CU_ASSERT_EQUAL_FATAL(plugin_load(path, &mod, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(config_load_lazy_env(yaml, &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_create(&mod, &cfg->sources[0], &inst, err, sizeof(err)),
			-1);
	CU_ASSERT_PTR_NULL(inst);
	snprintf(want, sizeof(want), "%s:4:11: sources[0].path: environment variable HUB_TEST_UNSET_VAR"
		 " is not set",
		 yaml);
	CU_ASSERT_STRING_EQUAL(err, want);
	config_free(cfg);
	plugin_unload(&mod);
	testlib_rmtree(dir);
	free(dir);
	free(yaml);
	free(path);
}

static void test_example_loads_with_name_version_and_roles(void)
{
	char *path = example_path();
	struct plugin_module mod;
	char err[1024] = "", roles[64];

	CU_ASSERT_EQUAL_FATAL(plugin_load(path, &mod, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_STRING_EQUAL(mod.name, "example");
	CU_ASSERT_STRING_EQUAL(mod.path, path);
	CU_ASSERT_PTR_NOT_NULL(mod.handle);
	CU_ASSERT_STRING_EQUAL(mod.desc->name, "example");
	CU_ASSERT_STRING_EQUAL(mod.desc->version, "1.0.0");
	CU_ASSERT_EQUAL(mod.desc->roles, HUB_ROLE_PULL);
	CU_ASSERT_STRING_EQUAL(plugin_roles_string(mod.desc->roles, roles, sizeof(roles)), "pull");
	CU_ASSERT_STRING_EQUAL(mod.desc->config[0].name, "path");
	CU_ASSERT(mod.desc->config[0].is_required);
	CU_ASSERT_STRING_EQUAL(mod.desc->config[1].name, "batch");
	CU_ASSERT_STRING_EQUAL(mod.desc->config[1].default_value, "100");
	plugin_unload(&mod);
	CU_ASSERT_PTR_NULL(mod.handle);
	free(path);
}

/* The common keys a pull only hands to its plugin (kind, map) may be the
 * plugin's own: it loads, and its types are the ones checked. */
static void test_pull_plugin_may_own_kind_and_map(void)
{
	char *path = test_plugin_path("pull_own_keys");
	struct plugin_module mod;
	struct hub_config *cfg = NULL;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(plugin_load(path, &mod, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(config_load_string("test.yaml",
						 "sources:\n"
						 "  - name: rows\n"
						 "    plugin: pull_own_keys\n"
						 "    kind: [a, b]\n"
						 "    map: rows.yaml\n"
						 "    page_size: 200\n",
						 &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_check(&mod, &cfg->sources[0], 0, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	config_free(cfg);
	plugin_unload(&mod);
	free(path);
}

static void test_roles_string_joins_with_commas(void)
{
	char buf[64], tiny[6];

	CU_ASSERT_STRING_EQUAL(plugin_roles_string(0, buf, sizeof(buf)), "");
	CU_ASSERT_STRING_EQUAL(plugin_roles_string(HUB_ROLE_PUSH, buf, sizeof(buf)), "push");
	CU_ASSERT_STRING_EQUAL(plugin_roles_string(HUB_ROLE_PUSH | HUB_ROLE_EXPORT, buf,
						   sizeof(buf)), "push,export");
	CU_ASSERT_STRING_EQUAL(plugin_roles_string(HUB_ROLE_PUSH | HUB_ROLE_PULL |
						   HUB_ROLE_EXPORT, buf, sizeof(buf)),
			       "push,pull,export");
	/* Truncated, never overrun. */
	CU_ASSERT_STRING_EQUAL(plugin_roles_string(HUB_ROLE_PUSH | HUB_ROLE_PULL, tiny,
						   sizeof(tiny)), "push,");
}

static void test_default_dir_is_next_to_the_binary(void)
{
	char *dir = plugin_default_dir();
	char exe[4096], expected[4200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	CU_ASSERT_FATAL(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(expected, sizeof(expected), "%s/plugins", exe);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	CU_ASSERT_STRING_EQUAL(dir, expected);
	hub_free(dir);
}

static void test_registry_loads_every_so_sorted(void)
{
	/* made in the reverse of the order expected */
	static const char *const links[] = {"pull_own_keys.so", "tests/plugins/pull_own_keys.so",
					    "older_minor.so", "tests/plugins/older_minor.so",
					    "minor_1_6.so", "tests/plugins/minor_1_6.so",
					    "kitchen_sink.so", "tests/plugins/kitchen_sink.so",
					    "example.so", "plugins/example.so", NULL};
	static const char *const sorted[] = {"example", "kitchen_sink", "minor_1_6",
					     "older_minor", "pull_own_keys"};
	char *dir = testlib_plugin_dir(links);
	char *notes = testlib_write_file(dir, "README", "not a plugin\n");
	char *hidden = testlib_write_file(dir, ".hidden.so", "skipped\n");
	struct plugin_registry reg;
	char err[1024] = "";
	const struct plugin_module *m;

	CU_ASSERT_EQUAL_FATAL(plugin_registry_open(&reg, dir, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(reg.dir, dir);
	CU_ASSERT_EQUAL_FATAL(reg.n_mods, ARRAY_SIZE(sorted));
	CU_ASSERT_EQUAL(reg.n_refused, 0); /* .hidden.so is not even tried */
	for (size_t i = 0; i < ARRAY_SIZE(sorted); i++) {
		CU_ASSERT_STRING_EQUAL(reg.mods[i].name, sorted[i]);
		CU_ASSERT_PTR_EQUAL(plugin_registry_find(&reg, sorted[i]), &reg.mods[i]);
	}
	m = plugin_registry_find(&reg, "kitchen_sink");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL(m->desc->roles, HUB_ROLE_PUSH | HUB_ROLE_EXPORT);
	m = plugin_registry_find(&reg, "example");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_STRING_EQUAL(m->desc->name, "example");
	CU_ASSERT_PTR_NULL(plugin_registry_find(&reg, "segment"));
	plugin_registry_close(&reg);
	CU_ASSERT_EQUAL(reg.n_mods, 0);

	free(notes);
	free(hidden);
	testlib_rmtree(dir);
	free(dir);
}

/* A typo is matched against every loaded plugin, not the first 64 by
 * name only: here the one it means sorts 71st of 71. */
static void test_registry_suggests_past_the_64th_plugin(void)
{
	struct plugin_module mods[71];
	char names[71][16], why[1024];
	struct plugin_registry reg = {.dir = "/plugins", .mods = mods, .n_mods = 71};

	memset(mods, 0, sizeof(mods));
	for (int i = 0; i < 70; i++) {
		snprintf(names[i], sizeof(names[i]), "aaa_%02d", i);
		mods[i].name = names[i];
	}
	snprintf(names[70], sizeof(names[70]), "warehouse");
	mods[70].name = names[70];
	CU_ASSERT_STRING_EQUAL(plugin_registry_missing(&reg, "warehose", why, sizeof(why)),
			       "no plugin named \"warehose\" in /plugins (did you mean "
			       "\"warehouse\"?; plugins: aaa_00, aaa_01, aaa_02, aaa_03, aaa_04, "
			       "aaa_05, aaa_06, aaa_07, aaa_08, aaa_09, aaa_10, aaa_11, aaa_12, "
			       "aaa_13, aaa_14, aaa_15, aaa_16, aaa_17, aaa_18, aaa_19, aaa_20, "
			       "aaa_21, aaa_22, aaa_23, ...)");
	reg.n_mods = 0; /* a directory without plugins says so */
	CU_ASSERT_STRING_EQUAL(plugin_registry_missing(&reg, "warehose", why, sizeof(why)),
			       "no plugin named \"warehose\" in /plugins (no plugin there)");
	reg.n_mods = 71;
	CU_ASSERT_PTR_NOT_NULL(plugin_registry_find(&reg, "warehouse"));
}

/* A refused file (a stale build, another ABI major) is skipped, not the
 * end of the hub: it matters only to a config naming it, which is told
 * why (it stopped every hub whose plugin directory held one). */
static void test_registry_skips_a_refused_plugin_and_says_why(void)
{
	static const char *const links[] = {"example.so", "plugins/example.so",
					    "wrong_name.so", "tests/plugins/wrong_name.so", NULL};
	char *dir = testlib_plugin_dir(links);
	struct plugin_registry reg;
	char err[1024] = "", expected[2048], why[1024];

	snprintf(expected, sizeof(expected),
		 "plugin \"wrong_name\" (%s/wrong_name.so) calls itself \"right_name\" (a"
		 " descriptor's name must be its file name without .so)", dir);
	CU_ASSERT_EQUAL_FATAL(plugin_registry_open(&reg, dir, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(reg.n_mods, 1);
	CU_ASSERT_STRING_EQUAL(reg.mods[0].name, "example");
	CU_ASSERT_PTR_NULL(plugin_registry_find(&reg, "wrong_name"));
	CU_ASSERT_STRING_EQUAL(plugin_registry_missing(&reg, "wrong_name", why, sizeof(why)),
			       expected);
	snprintf(expected, sizeof(expected), "no plugin named \"other\" in %s (plugins: example)",
		 dir);
	CU_ASSERT_STRING_EQUAL(plugin_registry_missing(&reg, "other", why, sizeof(why)),
			       expected);
	/* a typo of a loaded plugin's name is named, as a key's is */
	snprintf(expected, sizeof(expected),
		 "no plugin named \"exmaple\" in %s (did you mean \"example\"?; plugins: example)",
		 dir);
	CU_ASSERT_STRING_EQUAL(plugin_registry_missing(&reg, "exmaple", why, sizeof(why)),
			       expected);
	plugin_registry_close(&reg);
	CU_ASSERT_EQUAL(reg.n_refused, 0);
	testlib_rmtree(dir);
	free(dir);
}

/* dir_from/name copied (its bytes, not a link) into dir_to: 0, or -1. */
static int file_copy(const char *dir_from, const char *dir_to, const char *name)
{
	char *from = NULL, *to = NULL, buf[65536];
	FILE *in = NULL, *out = NULL;
	size_t n;
	int rc = -1;

	if (asprintf(&from, "%s/%s", dir_from, name) < 0 || asprintf(&to, "%s/%s", dir_to, name) < 0)
		goto out;
	if (!(in = fopen(from, "rb")) || !(out = fopen(to, "wb")))
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			goto out;
	rc = ferror(in) ? -1 : 0;
out:
	if (in)
		fclose(in);
	if (out && fclose(out))
		rc = -1;
	free(from);
	free(to);
	return rc;
}

/* The registry of two test directories a and b (dirs: their list) closed,
 * the directories removed, and the strings freed. */
static void two_dirs_close(struct plugin_registry *reg, char *dirs, char *a, char *b)
{
	plugin_registry_close(reg);
	free(dirs);
	testlib_rmtree(a);
	testlib_rmtree(b);
	free(a);
	free(b);
}

/* plugin_dir lists several directories: the plugins of each are loaded;
 * a name two of them hold is refused, naming both files (neither is used:
 * which one a hub runs must not depend on the order of a list). */
static void test_registry_of_two_dirs_loads_both_and_refuses_a_name_held_twice(void)
{
	static const char *const hub_own[] = {"example.so", "plugins/example.so",
					      "kitchen_sink.so", "tests/plugins/kitchen_sink.so",
					      NULL};
	static const char *const operator_own[] = {"older_minor.so",
						   "tests/plugins/older_minor.so", NULL};
	char *a = testlib_plugin_dir(hub_own), *b = testlib_plugin_dir(operator_own), *dirs;
	struct plugin_registry reg;
	char err[1024] = "", expected[2048], why[1024];

	/* the operator's example.so: a file of its own, not a link to the hub's */
	CU_ASSERT_EQUAL_FATAL(file_copy(a, b, "example.so"), 0);
	CU_ASSERT_FATAL(asprintf(&dirs, "%s:%s", a, b) > 0);
	CU_ASSERT_EQUAL_FATAL(plugin_registry_open(&reg, dirs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(reg.n_mods, 2);
	CU_ASSERT_STRING_EQUAL(reg.mods[0].name, "kitchen_sink");
	CU_ASSERT_STRING_EQUAL(reg.mods[1].name, "older_minor");
	CU_ASSERT_PTR_NULL(plugin_registry_find(&reg, "example"));
	snprintf(expected, sizeof(expected),
		 "plugin \"example\" is in two plugin directories, %s/example.so and "
		 "%s/example.so: remove one (plugin_dir lists %s)", a, b, dirs);
	CU_ASSERT_STRING_EQUAL(plugin_registry_missing(&reg, "example", why, sizeof(why)),
			       expected);
	snprintf(expected, sizeof(expected), "no plugin named \"other\" in %s or %s (plugins: "
		 "kitchen_sink, older_minor)", a, b);
	CU_ASSERT_STRING_EQUAL(plugin_registry_missing(&reg, "other", why, sizeof(why)),
			       expected);
	two_dirs_close(&reg, dirs, a, b);
}

/* One file reached from two directories of plugin_dir (the hub's plugin
 * linked into the operator's directory, as the docs had it before lists;
 * a directory listed twice under two spellings) is one plugin, loaded
 * once: no order of the list chooses between two builds.  It was refused
 * as "in two plugin directories", and a config naming it failed. */
static void test_registry_loads_one_file_reached_from_two_dirs_once(void)
{
	static const char *const hub_own[] = {"example.so", "plugins/example.so", NULL};
	static const char *const operator_own[] = {"example.so", "plugins/example.so",
						   "older_minor.so",
						   "tests/plugins/older_minor.so", NULL};
	char *a = testlib_plugin_dir(hub_own), *b = testlib_plugin_dir(operator_own), *dirs;
	struct plugin_registry reg;
	char err[1024] = "";

	CU_ASSERT_FATAL(asprintf(&dirs, "%s:%s:%s/.", a, b, a) > 0);
	CU_ASSERT_EQUAL_FATAL(plugin_registry_open(&reg, dirs, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(reg.n_refused, 0);
	CU_ASSERT_EQUAL_FATAL(reg.n_mods, 2);
	CU_ASSERT_STRING_EQUAL(reg.mods[0].name, "example");
	CU_ASSERT_STRING_EQUAL(reg.mods[1].name, "older_minor");
	CU_ASSERT_PTR_NOT_NULL(plugin_registry_find(&reg, "example"));
	two_dirs_close(&reg, dirs, a, b);
}

/* Whoever can write a plugin file runs code in the hub: one writable by
 * anyone is refused before dlopen() runs a byte of it, naming its mode
 * and the fix, and a config that names it fails with that.  It was
 * loaded (the README said the hub did not check). */
static void test_registry_refuses_a_plugin_file_anyone_may_write(void)
{
	static const char *const hub_own[] = {"kitchen_sink.so", "tests/plugins/kitchen_sink.so",
					      NULL};
	static const char *const linked[] = {"example.so", "plugins/example.so", NULL};
	char *a = testlib_plugin_dir(hub_own), *b = testlib_plugin_dir(linked), *so, *dirs;
	struct plugin_registry reg;
	char err[1024] = "", expected[2048], why[1024];

	CU_ASSERT_EQUAL_FATAL(file_copy(b, a, "example.so"), 0); /* a file, not a link */
	CU_ASSERT_FATAL(asprintf(&so, "%s/example.so", a) > 0);
	CU_ASSERT_EQUAL_FATAL(chmod(so, 0666), 0);
	CU_ASSERT_EQUAL_FATAL(plugin_registry_open(&reg, a, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(reg.n_refused, 1);
	CU_ASSERT_EQUAL_FATAL(reg.n_mods, 1);
	CU_ASSERT_STRING_EQUAL(reg.mods[0].name, "kitchen_sink");
	snprintf(expected, sizeof(expected), "plugin \"example\" (%s): writable by anyone (mode "
		 "0666), not loaded: whoever can change it runs code in the hub; chmod o-w %s",
		 so, so);
	CU_ASSERT_STRING_EQUAL(plugin_registry_missing(&reg, "example", why, sizeof(why)),
			       expected);
	plugin_registry_close(&reg);
	/* writable by its group (a umask of 002) is the operator's choice */
	CU_ASSERT_EQUAL_FATAL(chmod(so, 0664), 0);
	CU_ASSERT_EQUAL_FATAL(plugin_registry_open(&reg, a, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(reg.n_refused, 0);
	CU_ASSERT_EQUAL(reg.n_mods, 2);
	free(so);
	CU_ASSERT_FATAL(asprintf(&dirs, "%s", a) > 0);
	two_dirs_close(&reg, dirs, a, b);
}

/* A plugin directory anyone may write to fails the registry, naming the
 * directory, the mode and the fix; one under a directory anyone may rename
 * it in (writable by all, not sticky) is warned of, naming both; a sticky
 * one above (as /tmp) is fine.  Such a directory's plugins were loaded. */
static void test_registry_refuses_a_dir_anyone_may_write(void)
{
	static const char *const hub_own[] = {"kitchen_sink.so", "tests/plugins/kitchen_sink.so",
					      NULL};
	char *a = testlib_plugin_dir(hub_own), *real = realpath(a, NULL), *sub;
	struct plugin_registry reg;
	struct testlib_capture cap;
	char err[1024] = "", expected[2048], *log_text;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(real);
	CU_ASSERT_EQUAL_FATAL(chmod(a, 0777), 0);
	CU_ASSERT_EQUAL(plugin_registry_open(&reg, a, err, sizeof(err)), -1);
	snprintf(expected, sizeof(expected), "plugin directory %s: writable by anyone (mode "
		 "0777): whoever can put a .so there runs code in the hub; chmod o-w %s", a, real);
	CU_ASSERT_STRING_EQUAL(err, expected);
	CU_ASSERT_FATAL(asprintf(&sub, "%s/sub", a) > 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0755), 0);
	testlib_capture_begin(&cap);
	rc = plugin_registry_open(&reg, sub, err, sizeof(err));
	log_text = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc == 0)
		plugin_registry_close(&reg);
	snprintf(expected, sizeof(expected), "plugin directory %s: %s above it is writable by "
		 "anyone (mode 0777, not sticky): whoever can replace the directory runs code in "
		 "the hub; chmod o-w %s", sub, real, real);
	CU_ASSERT_EQUAL(testlib_lines_with(log_text, expected), 1);
	free(log_text);
	CU_ASSERT_EQUAL_FATAL(chmod(a, 01777), 0);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(plugin_registry_open(&reg, sub, err, sizeof(err)), 0);
	log_text = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NULL(strstr(log_text, "writable by anyone"));
	free(log_text);
	plugin_registry_close(&reg);
	CU_ASSERT_EQUAL_FATAL(chmod(a, 0750), 0);
	CU_ASSERT_EQUAL(plugin_registry_open(&reg, a, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(reg.n_mods, 1);
	plugin_registry_close(&reg);
	testlib_rmtree(a);
	free(sub);
	free(real);
	free(a);
}

/* A plugin directory reached through a link held by a directory anyone
 * may rename entries of is warned of as such a directory above it is:
 * whoever replaces the link chooses the plugins.  It was not (the check
 * looked only at the link's target and the target's parents). */
static void test_registry_warns_of_a_link_in_a_dir_anyone_may_write(void)
{
	static const char *const hub_own[] = {"kitchen_sink.so", "tests/plugins/kitchen_sink.so",
					      NULL};
	char *a = testlib_plugin_dir(hub_own), *w = testlib_mkdtemp(), *link;
	struct plugin_registry reg;
	struct testlib_capture cap;
	char err[1024] = "", expected[2048], *log_text;
	int rc;

	CU_ASSERT_FATAL(asprintf(&link, "%s/plugins", w) > 0);
	CU_ASSERT_EQUAL_FATAL(symlink(a, link), 0);
	CU_ASSERT_EQUAL_FATAL(chmod(w, 0777), 0);
	testlib_capture_begin(&cap);
	rc = plugin_registry_open(&reg, link, err, sizeof(err));
	log_text = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc == 0) {
		CU_ASSERT_EQUAL(reg.n_mods, 1);
		plugin_registry_close(&reg);
	}
	snprintf(expected, sizeof(expected), "plugin directory %s: %s above it is writable by "
		 "anyone (mode 0777, not sticky): whoever can replace the directory runs code in "
		 "the hub; chmod o-w %s", link, w, w);
	CU_ASSERT_EQUAL(testlib_lines_with(log_text, expected), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(log_text, "writable"), 1);
	free(log_text);
	CU_ASSERT_EQUAL_FATAL(chmod(w, 0755), 0);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(plugin_registry_open(&reg, link, err, sizeof(err)), 0);
	log_text = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NULL(strstr(log_text, "writable"));
	free(log_text);
	plugin_registry_close(&reg);
	testlib_rmtree(w);
	testlib_rmtree(a);
	free(link);
	free(w);
	free(a);
}

/* A group other than the hub's own: root may give a file any; another
 * user one of its supplementary groups; -1 when there is none. */
static gid_t another_group(void)
{
	gid_t groups[64];
	int n = getgroups(64, groups);

	if (geteuid() == 0)
		return getegid() + 4242;
	for (int i = 0; i < n; i++)
		if (groups[i] != getegid())
			return groups[i];
	return (gid_t)-1;
}

/* Group-writable stays allowed (a umask of 002, the hub's own group), but
 * a plugin file or directory a shared group may write is warned of, naming
 * the group and the fix: its every member runs code in the hub.  It was
 * loaded silently. */
static void test_registry_warns_of_a_shared_group_that_may_write(void)
{
	static const char *const hub_own[] = {"kitchen_sink.so", "tests/plugins/kitchen_sink.so",
					      NULL};
	char *a = testlib_plugin_dir(hub_own), *real = realpath(a, NULL), *so, *from;
	gid_t other = another_group();
	struct plugin_registry reg;
	struct testlib_capture cap;
	char err[1024] = "", expected[2048], *log_text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(real);
	CU_ASSERT_FATAL(asprintf(&so, "%s/kitchen_sink.so", a) > 0);
	CU_ASSERT_EQUAL_FATAL(chmod(a, 0770), 0);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(plugin_registry_open(&reg, a, err, sizeof(err)), 0);
	log_text = testlib_capture_end(&cap);
	plugin_registry_close(&reg);
	CU_ASSERT_PTR_NULL(strstr(log_text, "writable")); /* the hub's own group */
	free(log_text);
	if (other == (gid_t)-1) {
		fprintf(stderr, "(no other group to try) ");
		goto out;
	}
	CU_ASSERT_EQUAL_FATAL(chown(a, (uid_t)-1, other), 0);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(plugin_registry_open(&reg, a, err, sizeof(err)), 0);
	log_text = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(reg.n_mods, 1);
	plugin_registry_close(&reg);
	snprintf(expected, sizeof(expected), "plugin directory %s: writable by group %u (mode "
		 "0770), not the hub's own (%u): every member of it can change what runs in the "
		 "hub; chmod g-w %s, or make the group the hub's", a, (unsigned)other,
		 (unsigned)getegid(), real);
	CU_ASSERT_EQUAL(testlib_lines_with(log_text, expected), 1);
	free(log_text);
	CU_ASSERT_EQUAL_FATAL(chmod(a, 0750), 0);
	CU_ASSERT_FATAL(asprintf(&from, "%s/tests/plugins", testlib_build_dir()) > 0);
	CU_ASSERT_EQUAL_FATAL(unlink(so), 0); /* a link: a file of its own instead */
	CU_ASSERT_EQUAL_FATAL(file_copy(from, a, "kitchen_sink.so"), 0);
	free(from);
	CU_ASSERT_EQUAL_FATAL(chmod(so, 0664), 0);
	CU_ASSERT_EQUAL_FATAL(chown(so, (uid_t)-1, other), 0);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(plugin_registry_open(&reg, a, err, sizeof(err)), 0);
	log_text = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(reg.n_mods, 1);
	plugin_registry_close(&reg);
	snprintf(expected, sizeof(expected), "plugin \"kitchen_sink\" (%s): writable by group %u "
		 "(mode 0664), not the hub's own (%u): every member of it can change what runs in "
		 "the hub; chmod g-w %s, or make the group the hub's", so, (unsigned)other,
		 (unsigned)getegid(), so);
	CU_ASSERT_EQUAL(testlib_lines_with(log_text, expected), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(log_text, "writable"), 1);
	free(log_text);
out:
	testlib_rmtree(a);
	free(so);
	free(real);
	free(a);
}

static void test_registry_of_missing_dir_fails(void)
{
	struct plugin_registry reg;
	char err[1024] = "";

	CU_ASSERT_EQUAL(plugin_registry_open(&reg, "/nonexistent/plugins", err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "plugin directory /nonexistent/plugins: "
				    "No such file or directory");
}

static void test_empty_registry_finds_nothing(void)
{
	char *dir = testlib_mkdtemp();
	struct plugin_registry reg;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(plugin_registry_open(&reg, dir, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(reg.n_mods, 0);
	CU_ASSERT_PTR_NULL(plugin_registry_find(&reg, "example"));
	plugin_registry_close(&reg);
	testlib_rmtree(dir);
	free(dir);
}

/* ---- instances ------------------------------------------------------ */

/* The YAML of tests below: line 1 "sources:", the entry starts at 2:5. */
struct world {
	struct plugin_module example, sink;
	struct hub_config *cfg;
};

static int world_open(struct world *w, const char *yaml, char *err, size_t err_size)
{
	char *path = example_path(), *sink = test_plugin_path("kitchen_sink");
	int rc = -1;

	memset(w, 0, sizeof(*w));
	if (plugin_load(path, &w->example, err, err_size) ||
	    plugin_load(sink, &w->sink, err, err_size))
		goto out;
	rc = config_load_string("test.yaml", yaml, &w->cfg, err, err_size);
out:
	free(path);
	free(sink);
	return rc;
}

static void world_close(struct world *w)
{
	config_free(w->cfg);
	plugin_unload(&w->sink);
	plugin_unload(&w->example);
}

static void test_instance_check_accepts_valid_example_config(void)
{
	struct world w;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(world_open(&w,
					 "sources:\n"
					 "  - name: lines\n"
					 "    plugin: example\n"
					 "    schedule: every 1m\n"
					 "    path: /tmp/events.jsonl\n"
					 "    batch: 10\n",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_check(&w.example, &w.cfg->sources[0], 0, err,
					      sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	world_close(&w);
}

static void test_instance_check_refuses_unknown_key(void)
{
	struct world w;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(world_open(&w,
					 "sources:\n"
					 "  - name: lines\n"
					 "    plugin: example\n"
					 "    path: /tmp/events.jsonl\n"
					 "    batchh: 10\n",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_check(&w.example, &w.cfg->sources[0], 0, err,
					      sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "test.yaml:5:5: sources[0].batchh: unknown key "
				    "(did you mean \"batch\"?)");
	world_close(&w);
}

static void test_instance_check_refuses_missing_required_path(void)
{
	struct world w;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(world_open(&w,
					 "sources:\n"
					 "  - name: lines\n"
					 "    plugin: example\n",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_check(&w.example, &w.cfg->sources[0], 0, err,
					      sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "test.yaml:2:5: sources[0]: missing required key \"path\"");
	world_close(&w);
}

static void test_instance_check_refuses_wrong_type(void)
{
	struct world w;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(world_open(&w,
					 "sources:\n"
					 "  - name: lines\n"
					 "    plugin: example\n"
					 "    path: /tmp/events.jsonl\n"
					 "    batch: many\n",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_check(&w.example, &w.cfg->sources[0], 0, err,
					      sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "test.yaml:5:12: sources[0].batch: expected an integer");
	world_close(&w);
}

static void test_instance_check_needs_the_role(void)
{
	struct world w;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(world_open(&w,
					 "exports:\n"
					 "  - name: out\n"
					 "    plugin: example\n"
					 "    path: /tmp/x\n",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_check(&w.example, &w.cfg->exports[0], 1, err,
					      sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "test.yaml:3:13: exports[0].plugin: plugin \"example\" "
				    "is not an export (its roles: pull)");
	/* kitchen_sink pushes and exports: fine as either. */
	CU_ASSERT_EQUAL(plugin_instance_check(&w.sink, &w.cfg->exports[0], 1, err,
					      sizeof(err)), -1); /* but path is not its key */
	CU_ASSERT_STRING_EQUAL(err, "test.yaml:4:5: exports[0].path: unknown key");
	world_close(&w);
}

static void test_instance_create_reports_plugin_message(void)
{
	struct world w;
	struct hub_instance *inst = (struct hub_instance *)1;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(world_open(&w,
					 "sources:\n"
					 "  - name: web\n"
					 "    plugin: kitchen_sink\n"
					 "    fail: true\n",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_create(&w.sink, &w.cfg->sources[0], &inst, err,
					       sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(inst);
	CU_ASSERT_STRING_EQUAL(err, "sources[0] \"web\" (plugin kitchen_sink): told to fail");
	world_close(&w);
}

/* A failure without a message: the code's meaning, or its number when the
 * hub does not know it. */
static void test_instance_create_names_a_code_without_message(void)
{
	struct world w;
	struct hub_instance *inst = NULL;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(world_open(&w,
					 "sources:\n"
					 "  - name: web\n"
					 "    plugin: kitchen_sink\n"
					 "    fail_code: 42\n"
					 "  - name: web2\n"
					 "    plugin: kitchen_sink\n"
					 "    fail_code: 4\n",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_create(&w.sink, &w.cfg->sources[0], &inst, err,
					       sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(inst);
	CU_ASSERT_STRING_EQUAL(err, "sources[0] \"web\" (plugin kitchen_sink): "
				    "unknown result code 42");
	CU_ASSERT_EQUAL(plugin_instance_create(&w.sink, &w.cfg->sources[1], &inst, err,
					       sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "sources[1] \"web2\" (plugin kitchen_sink): "
				    "credentials refused");
	world_close(&w);
}

static void test_instance_create_checks_config_first(void)
{
	struct world w;
	struct hub_instance *inst = NULL;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(world_open(&w,
					 "sources:\n"
					 "  - name: lines\n"
					 "    plugin: example\n",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_create(&w.example, &w.cfg->sources[0], &inst, err,
					       sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(inst);
	CU_ASSERT_STRING_EQUAL(err, "test.yaml:2:5: sources[0]: missing required key \"path\"");
	world_close(&w);
}

/* ---- the host table ------------------------------------------------- */

/* world_open(yaml), and kitchen_sink's instance of its first source (or
 * export, is_export), to destroy before world_close(). */
static struct hub_instance *sink_open(struct world *w, const char *yaml, int is_export)
{
	struct hub_instance *inst = NULL;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(world_open(w, yaml, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(plugin_instance_create(&w->sink, is_export ? &w->cfg->exports[0]
									: &w->cfg->sources[0],
						     &inst, err, sizeof(err)), 0);
	return inst;
}

static void test_host_reads_config_values_and_defaults(void)
{
	const struct hub_host *h = host_table();
	struct world w;
	struct hub_instance *inst;
	const char *json;

	inst = sink_open(&w,
			 "sources:\n"
			 "  - name: web\n"
			 "    plugin: kitchen_sink\n"
			 "    count: 7\n"
			 "    tags: [x, \"y\", z]\n"
			 "    anything: {deep: [1, true, null]}\n"
			 "    token: s3cret\n"
			 "    every: 90s\n"
			 "    greeting: ~\n", 0);
	CU_ASSERT_STRING_EQUAL(h->instance_name(inst), "web");

	/* From the YAML. */
	CU_ASSERT_EQUAL(h->config_int(inst, "count"), 7);
	CU_ASSERT_STRING_EQUAL(h->config_string(inst, "count"), "7");
	CU_ASSERT_EQUAL(h->config_list_size(inst, "tags"), 3);
	CU_ASSERT_STRING_EQUAL(h->config_list_item(inst, "tags", 1), "y");
	CU_ASSERT_PTR_NULL(h->config_list_item(inst, "tags", 3));
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "tags"), "[\"x\",\"y\",\"z\"]");
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "anything"), "{\"deep\":[1,true,null]}");
	CU_ASSERT_STRING_EQUAL(h->config_string(inst, "token"), "s3cret");
	CU_ASSERT_EQUAL(h->config_int(inst, "every"), 90000);

	/* Defaults (a null value counts as absent). */
	CU_ASSERT_STRING_EQUAL(h->config_string(inst, "greeting"), "hello");
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "greeting"), "\"hello\"");
	CU_ASSERT_EQUAL(h->config_bool(inst, "loud"), 1);
	CU_ASSERT_DOUBLE_EQUAL(h->config_float(inst, "ratio"), 0.5, 1e-12);
	CU_ASSERT_EQUAL(h->config_bool(inst, "fail"), 0);
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "opts"), "{\"x\":1,\"y\":\"2\"}");

	/* Common keys are readable too. */
	CU_ASSERT_STRING_EQUAL(h->config_string(inst, "plugin"), "kitchen_sink");
	CU_ASSERT_EQUAL(h->config_bool(inst, "enabled"), 1);

	/* Declared, absent, no default. */
	CU_ASSERT_PTR_NULL(h->config_string(inst, "limit"));
	CU_ASSERT_EQUAL(h->config_int(inst, "limit"), 0);
	CU_ASSERT_PTR_NULL(h->config_json(inst, "limit"));
	CU_ASSERT_EQUAL(h->config_list_size(inst, "limit"), 0);

	/* Undeclared keys read as unset (and log a warning, muted here). */
	log_set_level(HUB_LOG_ERROR);
	CU_ASSERT_PTR_NULL(h->config_string(inst, "nonsense"));
	CU_ASSERT_EQUAL(h->config_int(inst, "nonsense"), 0);
	log_set_level(HUB_LOG_INFO);

	/* JSON text lives as long as the instance: the same pointer each time. */
	json = h->config_json(inst, "tags");
	CU_ASSERT_PTR_EQUAL(h->config_json(inst, "tags"), json);

	plugin_instance_destroy(inst);
	world_close(&w);
}

/* config_json() of a scalar key reads it as its declared type, as the
 * typed getters do; an ANY key as the YAML reads it. */
static void test_host_config_json_follows_the_declared_type(void)
{
	const struct hub_host *h = host_table();
	struct world w;
	struct hub_instance *inst;

	inst = sink_open(&w,
			 "sources:\n"
			 "  - name: web\n"
			 "    plugin: kitchen_sink\n"
			 "    fail: no\n"
			 "    greeting: 0123\n"
			 "    count: \"42\"\n"
			 "    every: 30s\n"
			 "    ratio: 1\n"
			 "    anything: \"3\"\n", 0);
	CU_ASSERT_EQUAL(h->config_bool(inst, "fail"), 0);
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "fail"), "false");
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "greeting"), "\"0123\"");
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "count"), "42");
	CU_ASSERT_EQUAL(h->config_int(inst, "every"), 30000);
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "every"), "30000");
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "ratio"), "1.0");
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "anything"), "\"3\"");
	/* defaults too (loud: "yes"), and the common keys (enabled: "true") */
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "loud"), "true");
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "enabled"), "true");
	plugin_instance_destroy(inst);
	world_close(&w);
}

static void test_host_defaults_apply_to_lists(void)
{
	const struct hub_host *h = host_table();
	struct world w;
	struct hub_instance *inst;

	inst = sink_open(&w,
			 "exports:\n"
			 "  - name: out\n"
			 "    plugin: kitchen_sink\n"
			 "    batch_size: 5\n", 1);
	CU_ASSERT_EQUAL(h->config_list_size(inst, "tags"), 2);
	CU_ASSERT_STRING_EQUAL(h->config_list_item(inst, "tags", 0), "a");
	CU_ASSERT_STRING_EQUAL(h->config_list_item(inst, "tags", 1), "b");
	CU_ASSERT_EQUAL(h->config_int(inst, "every"), 120000);
	CU_ASSERT_STRING_EQUAL(h->config_json(inst, "every"), "120000");
	/* An export reads the export common keys. */
	CU_ASSERT_EQUAL(h->config_int(inst, "batch_size"), 5);
	plugin_instance_destroy(inst);
	world_close(&w);
}

struct sink {
	int n_emitted, n_rejected, n_warned, n_skipped;
	char cursor[64];
	char reason[64];
};

static hub_rc sink_emit(struct hub_call *call, const struct hub_record *rec, char *err,
			size_t err_size)
{
	struct sink *s = call->ctx;
	if (rec->type == HUB_REC_ALIAS) {
		snprintf(err, err_size, "no aliases here");
		return HUB_ERR_DATA;
	}
	s->n_emitted++;
	return HUB_OK;
}

static hub_rc sink_checkpoint(struct hub_call *call, const char *cursor)
{
	struct sink *s = call->ctx;
	snprintf(s->cursor, sizeof(s->cursor), "%s", cursor);
	return HUB_OK;
}

/* reject() and warn(): keep the reason, count it in *n. */
static hub_rc sink_note(struct sink *s, int *n, const char *why)
{
	snprintf(s->reason, sizeof(s->reason), "%s", why);
	(*n)++;
	return HUB_OK;
}

static hub_rc sink_reject(struct hub_call *call, const char *why)
{
	struct sink *s = call->ctx;
	return sink_note(s, &s->n_rejected, why);
}

static hub_rc sink_warn(struct hub_call *call, const char *why)
{
	struct sink *s = call->ctx;
	return sink_note(s, &s->n_warned, why);
}

/* ABI 1.2 appended reject() to the table, after secret_equal: the table's
 * size and minor say so, so a plugin's HUB_HOST_HAS(host, reject) holds;
 * reject() goes to the call's on_reject, and nowhere without one. */
static void test_host_has_reject_and_forwards_it(void)
{
	const struct hub_host *h = host_table();
	struct sink s = {0};
	struct hub_call call = {.on_emit = sink_emit, .on_reject = sink_reject, .ctx = &s};
	struct hub_call export_call = {.on_emit = sink_emit, .ctx = &s};
	struct hub_host old = *h;
	struct testlib_capture cap;
	char *logged;

	CU_ASSERT(h->abi_minor >= 2);
	CU_ASSERT_EQUAL(offsetof(struct hub_host, reject),
			offsetof(struct hub_host, secret_equal) + sizeof(h->secret_equal));
	CU_ASSERT(h->size >= offsetof(struct hub_host, reject) + sizeof(h->reject));
	CU_ASSERT(HUB_HOST_HAS(h, reject));
	CU_ASSERT_PTR_NOT_NULL_FATAL(h->reject);

	/* a 1.1 hub's table ends before it */
	old.size = (uint32_t)offsetof(struct hub_host, reject);
	CU_ASSERT(HUB_HOST_HAS(&old, secret_equal));
	CU_ASSERT(!HUB_HOST_HAS(&old, reject));

	CU_ASSERT_EQUAL(h->reject(&call, "line 3: not a user"), HUB_OK);
	CU_ASSERT_EQUAL(s.n_rejected, 1);
	CU_ASSERT_STRING_EQUAL(s.reason, "line 3: not a user");
	CU_ASSERT_EQUAL(h->reject(&call, NULL), HUB_OK);
	CU_ASSERT_STRING_EQUAL(s.reason, "refused by the plugin");
	CU_ASSERT_EQUAL(h->reject(&call, ""), HUB_OK);
	CU_ASSERT_STRING_EQUAL(s.reason, "refused by the plugin");
	CU_ASSERT_EQUAL(s.n_rejected, 3);
	CU_ASSERT_EQUAL(s.n_emitted, 0);

	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(h->reject(&export_call, "x"), HUB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(h->reject(NULL, "x"), HUB_ERR_INTERNAL);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "reject() outside of a source's call"));
	free(logged);
	CU_ASSERT_EQUAL(s.n_rejected, 3);
}

/* ABI 1.4 appended batch_range() after reject: an export's call gives the
 * range the exporter planned; any other call gets HUB_ERR_INTERNAL, logged. */
static void test_host_has_batch_range_for_an_export_call(void)
{
	const struct hub_host *h = host_table();
	struct sink s = {0};
	struct hub_call export_call = {.on_emit = sink_emit, .ctx = &s,
				       .batch_first = 11, .batch_last = 40};
	struct hub_call source_call = {.on_emit = sink_emit, .ctx = &s};
	struct hub_host old = *h;
	struct testlib_capture cap;
	int64_t first = 0, last = 0;
	char *logged;

	CU_ASSERT(h->abi_minor >= 4);
	CU_ASSERT_EQUAL(offsetof(struct hub_host, batch_range),
			offsetof(struct hub_host, reject) + sizeof(h->reject));
	CU_ASSERT(h->size >= offsetof(struct hub_host, batch_range) + sizeof(h->batch_range));
	CU_ASSERT(HUB_HOST_HAS(h, batch_range));
	/* a 1.3 hub's table ends before it */
	old.size = (uint32_t)offsetof(struct hub_host, batch_range);
	CU_ASSERT(HUB_HOST_HAS(&old, reject));
	CU_ASSERT(!HUB_HOST_HAS(&old, batch_range));

	CU_ASSERT_EQUAL(h->batch_range(&export_call, &first, &last), HUB_OK);
	CU_ASSERT_EQUAL(first, 11);
	CU_ASSERT_EQUAL(last, 40);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(h->batch_range(&source_call, &first, &last), HUB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(h->batch_range(NULL, &first, &last), HUB_ERR_INTERNAL);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "batch_range() outside of an export batch"));
	free(logged);
	CU_ASSERT_EQUAL(first, 11); /* untouched by the refusals */
}

static void test_host_forwards_to_the_call(void)
{
	const struct hub_host *h = host_table();
	atomic_int stop = 0;
	struct sink s = {0};
	struct hub_call call = {.on_emit = sink_emit, .on_checkpoint = sink_checkpoint,
				.stop = &stop, .ctx = &s};
	struct hub_call no_pull = {.on_emit = sink_emit, .ctx = &s};
	struct hub_record rec;
	char err[256] = "";

	CU_ASSERT_EQUAL(h->size, sizeof(struct hub_host));
	CU_ASSERT_EQUAL(h->abi_major, HUB_ABI_MAJOR);
	CU_ASSERT_EQUAL(h->abi_minor, HUB_ABI_MINOR);
	CU_ASSERT(HUB_HOST_HAS(h, secret_equal));

	hub_record_init(&rec, HUB_REC_TRACK);
	CU_ASSERT_EQUAL(h->emit(&call, &rec, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(s.n_emitted, 1);
	hub_record_init(&rec, HUB_REC_ALIAS);
	CU_ASSERT_EQUAL(h->emit(&call, &rec, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_STRING_EQUAL(err, "no aliases here");

	CU_ASSERT_EQUAL(h->checkpoint(&call, "42"), HUB_OK);
	CU_ASSERT_STRING_EQUAL(s.cursor, "42");
	CU_ASSERT_EQUAL(h->checkpoint(&no_pull, "43"), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(s.cursor, "42");

	CU_ASSERT_EQUAL(h->should_stop(&call), 0);
	atomic_store(&stop, 1);
	CU_ASSERT_EQUAL(h->should_stop(&call), 1);
	CU_ASSERT_EQUAL(h->should_stop(&no_pull), 0);

	host_set_fixed_now_ms(1767323045000);
	CU_ASSERT_EQUAL(h->now_ms(), 1767323045000);
	host_set_fixed_now_ms(0);
	CU_ASSERT(h->now_ms() > 1700000000000);

	CU_ASSERT_EQUAL(h->secret_equal("abc", 3, "abc", 3), 1);
	CU_ASSERT_EQUAL(h->secret_equal("abc", 3, "abd", 3), 0);
	CU_ASSERT_EQUAL(h->secret_equal("ab", 2, "abc", 3), 0);

	h->log(NULL, HUB_LOG_DEBUG, "host log without an instance: %d", 1);
}

/* A plugin's record, cursor and batch calls the host cannot forward are
 * refused, the record and cursor ones without reaching the call. */
static void test_host_refuses_what_it_cannot_forward(void)
{
	const struct hub_host *h = host_table();
	struct sink s = {0};
	struct hub_call call = {.on_emit = sink_emit, .on_checkpoint = sink_checkpoint,
				.ctx = &s, .batch_first = 1, .batch_last = 9};
	struct hub_call no_emit = {.on_checkpoint = sink_checkpoint, .ctx = &s};
	struct testlib_capture cap;
	struct hub_record rec;
	int64_t seq = 0;
	char err[256] = "", *logged;

	hub_record_init(&rec, HUB_REC_TRACK);
	CU_ASSERT_EQUAL(h->emit(&no_emit, &rec, err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_STRING_EQUAL(err, "emit() outside of a call");
	CU_ASSERT_EQUAL(h->emit(NULL, &rec, err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(h->emit(&call, NULL, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_STRING_EQUAL(err, "emit() of a NULL record");
	CU_ASSERT_EQUAL(s.n_emitted, 0);

	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(h->checkpoint(&call, NULL), HUB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(h->checkpoint(NULL, "1"), HUB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(h->batch_range(&call, NULL, &seq), HUB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(h->batch_range(&call, &seq, NULL), HUB_ERR_INTERNAL);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "checkpoint() with a NULL cursor"));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, " error [plugin] checkpoint() outside of a pull"));
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "batch_range() outside of an export batch"),
			2);
	free(logged);
	CU_ASSERT_STRING_EQUAL(s.cursor, "");
	CU_ASSERT_EQUAL(seq, 0);
	CU_ASSERT_EQUAL(h->should_stop(NULL), 0);
}

static hub_rc sink_skip(struct hub_call *call, const char *why)
{
	struct sink *s = call->ctx;
	return sink_note(s, &s->n_skipped, why);
}

/* ABI 1.12: skip() goes to the call's on_skip with the plugin's reason, or
 * a generic one for none, and is logged for the 1st, 2nd, 4th, ... skip of
 * the instance only; a call without on_skip (an export batch) refuses it,
 * logged.  A plugin could count what it skips on purpose only as rejected
 * (reject()), which people alert on. */
static void test_host_has_skip_and_forwards_it(void)
{
	const struct hub_host *h = host_table();
	struct hub_instance inst = {.name = "mp"};
	struct sink s = {0};
	struct hub_call call = {.inst = &inst, .on_emit = sink_emit, .on_skip = sink_skip,
				.ctx = &s};
	struct hub_call export_call = {.on_emit = sink_emit, .ctx = &s, .batch_last = 1};
	enum hub_log_level saved = log_get_level();
	struct testlib_capture cap;
	char *logged;

	CU_ASSERT_FATAL(HUB_HOST_HAS(h, skip));
	CU_ASSERT(h->abi_minor >= 12);
	log_set_level(HUB_LOG_INFO);
	testlib_capture_begin(&cap);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(h->skip(&call, "a development batch"), HUB_OK);
	CU_ASSERT_EQUAL(h->skip(&call, ""), HUB_OK);
	logged = testlib_capture_end(&cap);
	log_set_level(saved);
	CU_ASSERT_EQUAL(s.n_skipped, 6);
	CU_ASSERT_STRING_EQUAL(s.reason, "not stored, as the plugin chose");
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "[mp] skipped: a development batch"), 3);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "(4 item(s) skipped so far)"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "skipped:"), 3); /* 1, 2, 4: not 3, 5, 6 */
	free(logged);

	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(h->skip(&export_call, "x"), HUB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(h->skip(NULL, "x"), HUB_ERR_INTERNAL);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "skip() outside of a source's call"));
	CU_ASSERT_EQUAL(s.n_skipped, 6);
	free(logged);
}

/* ABI 1.6: warn() goes to the call's on_warn with the plugin's reason, or
 * a generic one for none; a call without on_warn (an export batch) refuses
 * it, logged.  query (1.7) and alloc_failed (1.8) are in the table too. */
static void test_host_has_warn_and_forwards_it(void)
{
	const struct hub_host *h = host_table();
	struct sink s = {0};
	struct hub_call call = {.on_emit = sink_emit, .on_warn = sink_warn, .ctx = &s};
	struct hub_call export_call = {.on_emit = sink_emit, .ctx = &s, .batch_last = 1};
	struct testlib_capture cap;
	char *logged;

	CU_ASSERT(HUB_HOST_HAS(h, warn) && HUB_HOST_HAS(h, query) && HUB_HOST_HAS(h, alloc_failed));
	CU_ASSERT_PTR_NOT_NULL(h->warn);
	CU_ASSERT_PTR_NOT_NULL(h->query);
	CU_ASSERT_PTR_NOT_NULL(h->alloc_failed);

	CU_ASSERT_EQUAL(h->warn(&call, "age: not a number"), HUB_OK);
	CU_ASSERT_STRING_EQUAL(s.reason, "age: not a number");
	CU_ASSERT_EQUAL(h->warn(&call, ""), HUB_OK);
	CU_ASSERT_STRING_EQUAL(s.reason, "a value was left out by the plugin");
	s.reason[0] = '\0';
	CU_ASSERT_EQUAL(h->warn(&call, NULL), HUB_OK);
	CU_ASSERT_STRING_EQUAL(s.reason, "a value was left out by the plugin");
	CU_ASSERT_EQUAL(s.n_warned, 3);

	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(h->warn(&export_call, "x"), HUB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(h->warn(NULL, "x"), HUB_ERR_INTERNAL);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "warn() outside of a source's call"), 2);
	free(logged);
	CU_ASSERT_EQUAL(s.n_warned, 3);
}

/* A call kept by a plugin is refused however late it is used: here after
 * its slot served HOST_CALL_SLOTS more calls and is live again, on this
 * same thread, for another call (which the kept one must not reach). */
static void test_host_refuses_a_call_kept_past_its_slots_reuse(void)
{
	const struct hub_host *h = host_table();
	struct sink first = {0}, later = {0};
	struct hub_call call1 = {.on_emit = sink_emit, .ctx = &first};
	struct hub_call call2 = {.on_emit = sink_emit, .ctx = &later};
	struct hub_call *kept, *live;
	struct hub_record rec;
	struct testlib_capture cap;
	char err[256] = "", *logged;

	hub_record_init(&rec, HUB_REC_TRACK);
	kept = host_call_enter(&call1, "pull");
	CU_ASSERT_EQUAL(h->emit(kept, &rec, err, sizeof(err)), HUB_OK);
	host_call_leave(kept);
	for (int i = 0; i < HOST_CALL_SLOTS - 1; i++)
		host_call_leave(host_call_enter(&call2, "pull"));
	live = host_call_enter(&call2, "pull");
	host_reset_refusal_lines();
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(h->emit(kept, &rec, err, sizeof(err)), HUB_ERR_INTERNAL);
	CU_ASSERT_EQUAL(h->should_stop(kept), 1);
	logged = testlib_capture_end(&cap);
	host_set_fixed_now_ms(0);
	CU_ASSERT_EQUAL(later.n_emitted, 0);
	CU_ASSERT_EQUAL(first.n_emitted, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "called emit() during its pull() with the call of an "
				      "earlier callback (no longer live"));
	CU_ASSERT_EQUAL(h->emit(live, &rec, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(later.n_emitted, 1);
	host_call_leave(live);
	free(logged);
}

/* A plugin looping over a kept call does not fill the log: the first
 * refusal is logged, then one line per PLUGIN_BAD_ANSWER_NOTE_MS at most,
 * counting those not logged.  Every refusal is still refused. */
static void test_host_refusal_lines_are_rate_limited(void)
{
	const struct hub_host *h = host_table();
	struct sink s = {0};
	struct hub_call call = {.on_emit = sink_emit, .ctx = &s};
	struct hub_call *kept = host_call_enter(&call, "handle");
	struct hub_record rec;
	struct testlib_capture cap;
	char err[256], *logged;
	int n_refused = 0;
	const int64_t t0 = 4000000000000LL;

	host_call_leave(kept);
	hub_record_init(&rec, HUB_REC_TRACK);
	host_reset_refusal_lines();
	host_set_fixed_now_ms(t0);
	testlib_capture_begin(&cap);
	for (int i = 0; i < 100; i++)
		n_refused += h->emit(kept, &rec, err, sizeof(err)) == HUB_ERR_INTERNAL;
	host_set_fixed_now_ms(t0 + PLUGIN_BAD_ANSWER_NOTE_MS - 1);
	n_refused += h->reject(kept, "x") == HUB_ERR_INTERNAL;
	logged = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(n_refused, 101);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "refused"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "ownership rule 6); refused\n")); /* no count */
	free(logged);

	host_set_fixed_now_ms(t0 + PLUGIN_BAD_ANSWER_NOTE_MS);
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(h->warn(kept, "x"), HUB_ERR_INTERNAL);
	logged = testlib_capture_end(&cap);
	host_set_fixed_now_ms(0);
	CU_ASSERT_EQUAL(testlib_lines_with(logged, ""), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "called warn() after its handle() returned"));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "(and 100 more refusals of kept or foreign calls "
				      "since the last such line, not logged: at most one every 10 s)"));
	CU_ASSERT_EQUAL(s.n_emitted, 0);
	free(logged);
}

/* log() names the instance (else "plugin"), brings a level out of range
 * into error..debug, and skips a NULL format. */
static void test_host_log_clamps_the_level_and_names_the_instance(void)
{
	const struct hub_host *h = host_table();
	void (*log_any)(const struct hub_instance *, enum hub_log_level, const char *, ...) =
		h->log;
	struct hub_instance inst = {.name = (char *)"web"};
	struct testlib_capture cap;
	char *logged;

	log_set_level(HUB_LOG_DEBUG);
	testlib_capture_begin(&cap);
	h->log(&inst, (enum hub_log_level)9, "too quiet %d", 1);
	h->log(&inst, (enum hub_log_level)-1, "too loud %d", 2);
	h->log(NULL, HUB_LOG_WARN, "nobody %d", 3);
	log_any(&inst, HUB_LOG_ERROR, NULL);
	logged = testlib_capture_end(&cap);
	log_set_level(HUB_LOG_INFO);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, " debug [web] too quiet 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, " error [web] too loud 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, " warn [plugin] nobody 3\n"));
	CU_ASSERT_EQUAL(testlib_lines_with(logged, ""), 3);
	free(logged);
}

/* The readers answer 0 / NULL for a value of another shape (a word read
 * as a number, a map read as a list, a null item), and for an index past
 * a list's end (4 items: the parser's first capacity, so under ASan a read
 * past it is caught); an undeclared key reads as unset with a warning
 * naming it. */
static void test_host_config_readers_refuse_other_shapes(void)
{
	const struct hub_host *h = host_table();
	struct testlib_capture cap;
	struct world w;
	struct hub_instance *inst;
	char *logged;

	inst = sink_open(&w,
			 "sources:\n"
			 "  - name: web\n"
			 "    plugin: kitchen_sink\n"
			 "    anything: [a, ~, c, d]\n", 0);
	CU_ASSERT_EQUAL(h->config_int(inst, "greeting"), 0);
	CU_ASSERT_EQUAL(h->config_bool(inst, "greeting"), 0);
	CU_ASSERT_DOUBLE_EQUAL(h->config_float(inst, "greeting"), 0, 1e-12);
	CU_ASSERT_PTR_NULL(h->config_string(inst, "tags"));
	CU_ASSERT_EQUAL(h->config_int(inst, "opts"), 0);
	CU_ASSERT_EQUAL(h->config_list_size(inst, "opts"), 0);
	CU_ASSERT_PTR_NULL(h->config_list_item(inst, "opts", 0));
	CU_ASSERT_EQUAL(h->config_list_size(inst, "anything"), 4);
	CU_ASSERT_STRING_EQUAL(h->config_list_item(inst, "anything", 0), "a");
	CU_ASSERT_PTR_NULL(h->config_list_item(inst, "anything", 1));
	CU_ASSERT_STRING_EQUAL(h->config_list_item(inst, "anything", 3), "d");
	CU_ASSERT_PTR_NULL(h->config_list_item(inst, "anything", 4));

	testlib_capture_begin(&cap);
	CU_ASSERT_PTR_NULL(h->config_json(inst, "nonsense"));
	CU_ASSERT_PTR_NULL(h->config_string(inst, NULL)); /* no key: unset, no warning */
	CU_ASSERT_PTR_NULL(h->config_string(NULL, "count"));
	CU_ASSERT_PTR_NULL(h->instance_name(NULL));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, " warn [web] plugin read config key \"nonsense\", "
					      "which it does not declare\n"));
	CU_ASSERT_EQUAL(testlib_lines_with(logged, ""), 1);
	free(logged);
	plugin_instance_destroy(inst);
	world_close(&w);
}

/* An instance "t" of a plugin "fake" that declares `keys`, over the one
 * source of `yaml`, without loading a plugin: returns what
 * host_instance_config_load() does.  fake_close() after. */
struct fake {
	struct hub_plugin desc;
	struct plugin_module mod;
	struct hub_config *cfg;
	struct hub_instance inst;
};

static int fake_open(struct fake *f, const struct hub_config_key *keys, const char *yaml,
		     char *err, size_t err_size)
{
	memset(f, 0, sizeof(*f));
	f->desc.config = keys;
	f->mod.name = (char *)"fake";
	f->mod.desc = &f->desc;
	f->inst.name = (char *)"t";
	f->inst.mod = &f->mod;
	CU_ASSERT_EQUAL_FATAL(config_load_string("test.yaml", yaml, &f->cfg, err, err_size), 0);
	f->inst.conf = &f->cfg->sources[0];
	return host_instance_config_load(&f->inst, err, err_size);
}

static void fake_close(struct fake *f)
{
	host_instance_config_free(&f->inst);
	config_free(f->cfg);
}

/* An ANY key's default is flow YAML read as a tree, not a string; a
 * required ANY key set to null reads as JSON null (only an optional
 * key's null means "absent"), and as no string. */
static void test_host_any_default_is_a_tree_and_a_required_null_stays(void)
{
	static const struct hub_config_key keys[] = {
		{.name = "shape", .type = HUB_CFG_ANY, .default_value = "[x, y]",
		 .description = "any, with a default"},
		{.name = "must", .type = HUB_CFG_ANY, .is_required = 1,
		 .description = "any, required"},
		{.name = NULL},
	};
	const struct hub_host *h = host_table();
	struct fake f;
	char err[1024] = "";

	CU_ASSERT_EQUAL_FATAL(fake_open(&f, keys,
					"sources:\n"
					"  - name: t\n"
					"    plugin: fake\n"
					"    must: ~\n",
					err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(h->config_list_size(&f.inst, "shape"), 2);
	CU_ASSERT_STRING_EQUAL(h->config_list_item(&f.inst, "shape", 1), "y");
	CU_ASSERT_STRING_EQUAL(h->config_json(&f.inst, "shape"), "[\"x\",\"y\"]");
	CU_ASSERT_STRING_EQUAL(h->config_json(&f.inst, "must"), "null");
	CU_ASSERT_PTR_NULL(h->config_string(&f.inst, "must"));
	fake_close(&f);
}

/* A list default that does not parse (plugin_load() refuses such a
 * plugin; the host does not rely on it) fails the load, naming the
 * instance, the plugin and the key, and leaves no resolved config. */
static void test_host_refuses_a_default_it_cannot_parse(void)
{
	static const struct hub_config_key keys[] = {
		{.name = "shape", .type = HUB_CFG_STRING_LIST, .default_value = "[x, y",
		 .description = "a list, its default unclosed"},
		{.name = NULL},
	};
	static const char expected[] = "sources[0] \"t\" (plugin fake): default of shape: ";
	struct fake f;
	char err[1024] = "";

	CU_ASSERT_EQUAL(fake_open(&f, keys, "sources:\n  - name: t\n    plugin: fake\n", err,
				  sizeof(err)), -1);
	CU_ASSERT_EQUAL(strncmp(err, expected, strlen(expected)), 0);
	CU_ASSERT(strlen(err) > strlen(expected));
	CU_ASSERT_PTR_NULL(f.inst.json);
	fake_close(&f);
}

static void test_instance_create_survives_allocation_failures(void)
{
	struct world w;
	struct hub_instance *inst;
	char err[1024] = "";
	long n;

	CU_ASSERT_EQUAL_FATAL(world_open(&w,
					 "sources:\n"
					 "  - name: web\n"
					 "    plugin: kitchen_sink\n"
					 "    tags: [x]\n",
					 err, sizeof(err)), 0);
	for (n = 1; n < 200; n++) {
		int rc;
		alloc_fail_after(n);
		rc = plugin_instance_create(&w.sink, &w.cfg->sources[0], &inst, err, sizeof(err));
		alloc_fail_after(0);
		if (rc == 0) {
			plugin_instance_destroy(inst);
			break;
		}
		CU_ASSERT_PTR_NULL(inst);
	}
	CU_ASSERT(n > 1 && n < 200);
	world_close(&w);
}

/* A plugin of ABI 1.6 or 1.10 has the members its minor appended taken,
 * its descriptor ending exactly there, and none set past that end. */
static void test_minors_1_6_and_1_10_give_what_they_appended(void)
{
	char *path = test_plugin_path("minor_1_6");
	struct plugin_module mod;
	struct hub_config *cfg = NULL;
	char err[1024] = "", *logged = load_logged(path, &mod);

	free(logged);
	CU_ASSERT_EQUAL(mod.desc->abi.plugin_size, offsetof(struct hub_plugin, check_config));
	CU_ASSERT_PTR_EQUAL(mod.error_body, mod.desc->error_body);
	CU_ASSERT_PTR_NOT_NULL(mod.error_body);
	CU_ASSERT_PTR_NULL(mod.check_config); /* set past its end: never called */
	CU_ASSERT_PTR_NULL(mod.admit);
	CU_ASSERT_EQUAL_FATAL(config_load_string("test.yaml",
						 "sources:\n  - name: p\n    plugin: minor_1_6\n",
						 &cfg, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_check_config(&mod, &cfg->sources[0], err, sizeof(err)),
			0);
	config_free(cfg);
	plugin_unload(&mod);
	free(path);

	path = test_plugin_path("minor_1_10");
	logged = load_logged(path, &mod);
	free(logged);
	CU_ASSERT_EQUAL(mod.desc->abi.plugin_size, offsetof(struct hub_plugin, admit));
	CU_ASSERT_PTR_NULL(mod.error_body); /* it has none */
	CU_ASSERT_PTR_EQUAL(mod.check_config, mod.desc->check_config);
	CU_ASSERT_PTR_NOT_NULL(mod.check_config);
	CU_ASSERT_PTR_NULL(mod.admit); /* set past its end: never called */
	plugin_unload(&mod);
	free(path);
}

/* A pull plugin of ABI 1.13 ends at admit: its run_end (ABI 1.14), set
 * past that end, is never taken; one of this hub's minor has it taken. */
static void test_minor_1_13_has_no_run_end(void)
{
	char *path = test_plugin_path("minor_1_13");
	struct plugin_module mod;
	char *logged = load_logged(path, &mod);

	free(logged);
	CU_ASSERT_EQUAL_FATAL(mod.desc->abi.plugin_size, offsetof(struct hub_plugin, run_end));
	CU_ASSERT_PTR_NOT_NULL(mod.desc->run_end);
	CU_ASSERT_PTR_NULL(mod.run_end); /* set past its end: never called */
	plugin_unload(&mod);
	free(path);

	path = test_plugin_path("gated_pull");
	logged = load_logged(path, &mod);
	free(logged);
	CU_ASSERT_EQUAL_FATAL(mod.desc->abi.plugin_size, sizeof(struct hub_plugin));
	CU_ASSERT_PTR_NOT_NULL(mod.desc->run_end);
	CU_ASSERT_PTR_EQUAL(mod.run_end, mod.desc->run_end);
	plugin_unload(&mod);
	free(path);
}

/* Loads the plugin at `path` (freed) and checks the YAML's first source
 * against it; 0, or -1 with err set.  The caller frees *cfg and unloads
 * *mod. */
static int source_check(char *path, struct plugin_module *mod, struct hub_config **cfg,
			const char *yaml, char *err, size_t err_size)
{
	int rc = -1;

	if (plugin_load(path, mod, err, err_size))
		goto out;
	if (config_load_string("test.yaml", yaml, cfg, err, err_size))
		goto out;
	rc = plugin_instance_check(mod, &(*cfg)->sources[0], 0, err, err_size);
out:
	free(path);
	return rc;
}

/* A key only a pull reads is refused on a source that cannot pull, unless
 * the plugin declares it as its own; an export is not a source. */
static void test_pull_keys_on_a_push_source_unless_its_own(void)
{
	struct plugin_module mod;
	struct hub_config *cfg = NULL;
	struct world w;
	char err[1024] = "";

	CU_ASSERT_EQUAL(source_check(test_plugin_path("minor_1_10"), &mod, &cfg,
				     "sources:\n  - name: p\n    plugin: minor_1_10\n"
				     "    page_size: 50\n", err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	config_free(cfg);
	plugin_unload(&mod);

	CU_ASSERT_EQUAL_FATAL(world_open(&w,
					 "sources:\n"
					 "  - name: web\n"
					 "    plugin: kitchen_sink\n"
					 "    schedule: every 1m\n",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(plugin_instance_check(&w.sink, &w.cfg->sources[0], 0, err, sizeof(err)),
			-1);
	CU_ASSERT_STRING_EQUAL(err, "test.yaml:4:5: sources[0].schedule: only a pull source "
				    "reads this key, and plugin \"kitchen_sink\" cannot pull");
	world_close(&w);
}

/* A pull's kind is one of the four the hub maps, or unset (null), on a
 * plugin of ABI 1.12 or older that reads it undeclared (older_minor); a
 * plugin that declares kind as its own has its own values checked. */
static void test_pull_kind_is_one_of_four_unless_the_plugins_own(void)
{
	static const char *const kinds[] = {"attributes", "events", "consent", "erase", "~"};
	struct plugin_module mod;
	struct hub_config *cfg = NULL;
	char err[1024] = "", yaml[256];

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		snprintf(yaml, sizeof(yaml), "sources:\n  - name: old\n    plugin: older_minor\n"
			 "    kind: %s\n", kinds[i]);
		CU_ASSERT_EQUAL(source_check(test_plugin_path("older_minor"), &mod, &cfg, yaml,
					     err, sizeof(err)), 0);
		CU_ASSERT_STRING_EQUAL(err, "");
		config_free(cfg);
		plugin_unload(&mod);
	}
	CU_ASSERT_EQUAL(source_check(test_plugin_path("older_minor"), &mod, &cfg,
				     "sources:\n  - name: old\n    plugin: older_minor\n"
				     "    kind: rows\n", err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "test.yaml:4:11: sources[0].kind: \"rows\" is not one of "
				    "attributes, events, consent, erase");
	config_free(cfg);
	plugin_unload(&mod);

	/* pull_own_keys declares kind a list: a scalar is its type's error */
	CU_ASSERT_EQUAL(source_check(test_plugin_path("pull_own_keys"), &mod, &cfg,
				     "sources:\n  - name: rows\n    plugin: pull_own_keys\n"
				     "    kind: rows\n", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(strstr(err, "is not one of"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sources[0].kind: "));
	config_free(cfg);
	plugin_unload(&mod);
}

/* The keys a pull only hands to its plugin (query, cursor, cursor_start,
 * kind, map) are refused, at the key, on a source whose plugin (ABI 1.13
 * on) does not declare them: example reads a file, and would have ignored
 * them.  pull_own_keys declares kind and map, not query.  A plugin of an
 * older minor (older_minor, 1.1) is handed them all, as before. */
static void test_pull_keys_the_plugin_does_not_declare_are_refused(void)
{
	static const char *const keys[] = {"query", "cursor", "cursor_start", "kind", "map"};
	struct plugin_module mod;
	struct hub_config *cfg = NULL;
	char err[1024] = "", yaml[256], want[512];

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		snprintf(yaml, sizeof(yaml), "sources:\n  - name: lines\n    plugin: example\n"
			 "    path: /tmp/x\n    %s: ~\n", keys[i]);
		CU_ASSERT_EQUAL(source_check(example_path(), &mod, &cfg, yaml, err, sizeof(err)),
				-1);
		snprintf(want, sizeof(want), "test.yaml:5:5: sources[0].%s: plugin \"example\" does"
			 " not read this key (not one of its keys: profilehub plugins --describe"
			 " example)", keys[i]);
		CU_ASSERT_STRING_EQUAL(err, want);
		config_free(cfg);
		plugin_unload(&mod);
	}

	CU_ASSERT_EQUAL(source_check(test_plugin_path("pull_own_keys"), &mod, &cfg,
				     "sources:\n  - name: rows\n    plugin: pull_own_keys\n"
				     "    kind: [a]\n    map: m.yaml\n    query: SELECT 1\n",
				     err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "test.yaml:6:5: sources[0].query: plugin "
					   "\"pull_own_keys\" does not read this key"));
	config_free(cfg);
	plugin_unload(&mod);

	err[0] = '\0';
	CU_ASSERT_EQUAL(source_check(test_plugin_path("older_minor"), &mod, &cfg,
				     "sources:\n  - name: old\n    plugin: older_minor\n"
				     "    query: SELECT 1\n    cursor: [a, b]\n    cursor_start: x\n"
				     "    map: {custom_id: id}\n", err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	config_free(cfg);
	plugin_unload(&mod);
}

/* plugin_instance_destroy() hands the state to the plugin's destroy(). */
static void test_instance_destroy_calls_the_plugin(void)
{
	struct plugin_module mod;
	struct hub_config *cfg = NULL;
	struct hub_instance *inst = NULL;
	char err[1024] = "";
	int *destroyed, before;

	CU_ASSERT_EQUAL_FATAL(source_check(test_plugin_path("minor_1_10"), &mod, &cfg,
					   "sources:\n  - name: p\n    plugin: minor_1_10\n", err,
					   sizeof(err)), 0);
	destroyed = dlsym(mod.handle, "minor_1_10_destroyed");
	CU_ASSERT_PTR_NOT_NULL_FATAL(destroyed);
	before = *destroyed;
	CU_ASSERT_EQUAL_FATAL(plugin_instance_create(&mod, &cfg->sources[0], &inst, err,
						     sizeof(err)), 0);
	CU_ASSERT_EQUAL(*destroyed, before);
	plugin_instance_destroy(inst);
	CU_ASSERT_EQUAL(*destroyed, before + 1);
	config_free(cfg);
	plugin_unload(&mod);
}

/* What each result code is called in messages (a refusal without text). */
static void test_rc_text_names_every_code(void)
{
	static const struct {
		hub_rc rc;
		const char *text;
	} codes[] = {
		{HUB_OK, "ok"},
		{HUB_MORE, "more"},
		{HUB_RETRY, "temporary failure"},
		{HUB_ERR_CONFIG, "configuration error"},
		{HUB_ERR_AUTH, "credentials refused"},
		{HUB_ERR_DATA, "bad data"},
		{HUB_ERR_INTERNAL, "internal error"},
		{HUB_ERR_NOMEM, "out of memory"},
		{HUB_ERR_BUSY, "busy"},
		{HUB_ERR_STOPPED, "stopped"},
	};
	char buf[48];

	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		CU_ASSERT_STRING_EQUAL(plugin_rc_text(codes[i].rc, buf, sizeof(buf)),
				       codes[i].text);
		CU_ASSERT(plugin_rc_is_known(codes[i].rc));
	}
	CU_ASSERT_FALSE(plugin_rc_is_known((hub_rc)(HUB_ERR_STOPPED + 1)));
	CU_ASSERT_FALSE(plugin_rc_is_known((hub_rc)-1));
	CU_ASSERT_STRING_EQUAL(plugin_rc_text((hub_rc)(HUB_ERR_STOPPED + 1), buf, sizeof(buf)),
			       "unknown result code 10");
}

/* ---- descriptors checked in memory (plugin_check.c) ------------------ */

static hub_rc mem_create(const struct hub_host *host, const struct hub_instance *inst,
			 void **state, char *err, size_t err_size)
{
	(void)host, (void)inst, (void)err, (void)err_size;
	*state = NULL;
	return HUB_OK;
}

static hub_rc mem_pull(void *state, struct hub_call *call, const char *cursor, size_t budget,
		       char *err, size_t err_size)
{
	(void)state, (void)call, (void)cursor, (void)budget, (void)err, (void)err_size;
	return HUB_OK;
}

static hub_rc mem_export(void *state, struct hub_call *call, const char *const *changes,
			 size_t n, size_t *n_done, char *err, size_t err_size)
{
	(void)state, (void)call, (void)changes, (void)err, (void)err_size;
	*n_done = n;
	return HUB_OK;
}

static hub_rc mem_handle(void *state, struct hub_call *call, const struct hub_request *req,
			 struct hub_response *resp)
{
	(void)state, (void)call, (void)req, (void)resp;
	return HUB_OK;
}

/* A valid descriptor named "t" of push and pull (it has an export's
 * callback too); routes and keys as given (NULL: one route, no keys). */
static struct hub_plugin mem_descriptor(const struct hub_route *routes,
					const struct hub_config_key *keys)
{
	static const struct hub_route one[] = {{"POST", "/v1/t", mem_handle}, {NULL}};
	struct hub_plugin d = {.abi = HUB_ABI_STAMP_INIT, .name = "t", .version = "1",
			       .description = "in memory",
			       .roles = HUB_ROLE_PUSH | HUB_ROLE_PULL,
			       .config = keys, .create = mem_create, .pull = mem_pull,
			       .export_batch = mem_export, .routes = routes ? routes : one};
	return d;
}

/* d's refusal ("" when it is accepted), after "plugin "t" (/p/t.so)". */
static const char *mem_refusal(const struct hub_plugin *d, char *err, size_t err_size)
{
	static const char prefix[] = "plugin \"t\" (/p/t.so)";

	err[0] = '\0';
	if (plugin_check_descriptor(d, "t", "/p/t.so", err, err_size) == 0)
		return err;
	CU_ASSERT_NSTRING_EQUAL(err, prefix, sizeof(prefix) - 1);
	CU_ASSERT_NOT_EQUAL(err[0], '\0');
	return err + sizeof(prefix) - 1;
}

/* Each part of a descriptor a later call would need is checked at load. */
static void test_descriptor_refusals_in_memory(void)
{
	struct hub_plugin d;
	char err[1024];

	d = mem_descriptor(NULL, NULL);
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)), "");
	d.name = NULL;
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)), ": name is missing");
	d = mem_descriptor(NULL, NULL);
	d.version = "";
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)), ": version is missing");
	d = mem_descriptor(NULL, NULL);
	d.description = "";
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)), ": description is missing");
	d = mem_descriptor(NULL, NULL);
	d.roles = 0;
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)), ": declares no role");
	d.roles = HUB_ROLE_PULL | 0x40;
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)), ": declares unknown roles 0x40");
}

static void test_descriptor_routes_in_memory(void)
{
	static const struct hub_route none[] = {{NULL}};
	static const struct hub_route relative[] = {{"POST", "v1/t", mem_handle}, {NULL}};
	static const struct hub_route no_handle[] = {{"POST", "/a", mem_handle},
						     {"GET", "/a", NULL}, {NULL}};
	/* one path, two methods: two routes; the same pair twice: refused */
	static const struct hub_route methods[] = {{"POST", "/a", mem_handle},
						   {"GET", "/a", mem_handle}, {NULL}};
	static const struct hub_route twice[] = {{"POST", "/a", mem_handle},
						 {"GET", "/a", mem_handle},
						 {"POST", "/a", mem_handle}, {NULL}};
	struct hub_plugin d;
	char err[1024];

	d = mem_descriptor(none, NULL);
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)),
			       ": role push declared but routes[] is missing");
	d = mem_descriptor(relative, NULL);
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)),
			       ": routes[0] path must start with \"/\"");
	d = mem_descriptor(no_handle, NULL);
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)),
			       ": routes[1] (GET /a) has no handle()");
	d = mem_descriptor(methods, NULL);
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)), "");
	d = mem_descriptor(twice, NULL);
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)),
			       ": routes[2] (POST /a) is declared twice");
	/* a pull-only plugin's routes are not its business */
	d = mem_descriptor(relative, NULL);
	d.roles = HUB_ROLE_PULL;
	CU_ASSERT_STRING_EQUAL(mem_refusal(&d, err, sizeof(err)), "");
}

/* One key, declared as given, on a plugin of `roles`: its refusal. */
static const char *mem_key_refusal(struct hub_config_key key, unsigned roles, char *err,
				   size_t err_size)
{
	struct hub_config_key keys[2] = {key, {.name = NULL}};
	struct hub_plugin d = mem_descriptor(NULL, keys);

	d.roles = roles;
	return mem_refusal(&d, err, err_size); /* points into err */
}

#define PUSH_PULL (HUB_ROLE_PUSH | HUB_ROLE_PULL)

static void test_descriptor_keys_in_memory(void)
{
	char err[1024];

	CU_ASSERT_STRING_EQUAL(mem_key_refusal((struct hub_config_key){.name = "", .description =
									"d"}, PUSH_PULL,
					       err, sizeof(err)),
			       ": config key 0 has an empty name");
	CU_ASSERT_STRING_EQUAL(mem_key_refusal((struct hub_config_key){
						       .name = "x", .type = (enum hub_config_type)8,
						       .description = "d"}, PUSH_PULL,
					       err, sizeof(err)),
			       ": config key \"x\" has unknown type 8");
	CU_ASSERT_STRING_EQUAL(mem_key_refusal((struct hub_config_key){.name = "x",
								       .description = ""},
					       PUSH_PULL, err, sizeof(err)),
			       ": config key \"x\" has no description");
	CU_ASSERT_STRING_EQUAL(mem_key_refusal((struct hub_config_key){
						       .name = "x", .default_value = "a",
						       .is_required = 1, .description = "d"},
					       PUSH_PULL, err, sizeof(err)),
			       ": config key \"x\" is required but has a default");
	/* a secret's default is never shown */
	CU_ASSERT_STRING_EQUAL(mem_key_refusal((struct hub_config_key){
						       .name = "x", .type = HUB_CFG_INT,
						       .default_value = "hunter2", .is_secret = 1,
						       .description = "d"},
					       PUSH_PULL, err, sizeof(err)),
			       ": config key \"x\": default is not an int");
}

/* A default must read as its key's type; list, object and any defaults
 * are flow YAML. */
static void test_descriptor_defaults_in_memory(void)
{
	static const struct {
		enum hub_config_type type;
		const char *value, *refusal; /* NULL: accepted */
	} rows[] = {
		{HUB_CFG_DURATION, "90s", NULL},
		{HUB_CFG_DURATION, "soon", "default \"soon\" is not a duration"},
		{HUB_CFG_STRING_LIST, "[a, b]", NULL},
		{HUB_CFG_STRING_LIST, "a", "default \"a\" is not a list of strings"},
		{HUB_CFG_STRING_LIST, "[a, ~]", "default \"[a, ~]\" is not a list of strings"},
		{HUB_CFG_OBJECT, "{a: 1}", NULL},
		{HUB_CFG_OBJECT, "[a]", "default \"[a]\" is not an object"},
		{HUB_CFG_ANY, "{a: [1, 2]}", NULL},
		{HUB_CFG_ANY, "[a", "default \"[a\" is not a value"},
	};
	char err[1024], expected[256];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct hub_config_key k = {.name = "x", .type = rows[i].type,
					   .default_value = rows[i].value, .description = "d"};

		if (rows[i].refusal)
			snprintf(expected, sizeof(expected), ": config key \"x\": %s",
				 rows[i].refusal);
		else
			expected[0] = '\0';
		CU_ASSERT_STRING_EQUAL(mem_key_refusal(k, PUSH_PULL, err, sizeof(err)), expected);
	}
}

/* The hub's own keys keep their type on the entries the hub reads them
 * on, and only there. */
static void test_descriptor_hub_keys_in_memory(void)
{
	struct hub_config_key schedule = {.name = "schedule", .type = HUB_CFG_INT,
					  .description = "d"};
	struct hub_config_key batch = {.name = "batch_size", .type = HUB_CFG_STRING,
				       .description = "d"};
	char err[1024];

	/* a pull's schedule is the hub's; a push-only source's is its own */
	CU_ASSERT_STRING_EQUAL(mem_key_refusal(schedule, HUB_ROLE_PULL, err, sizeof(err)),
			       ": config key \"schedule\" is the hub's own key of every pull "
			       "source (a string): declared an int");
	CU_ASSERT_STRING_EQUAL(mem_key_refusal(schedule, HUB_ROLE_PUSH, err, sizeof(err)), "");
	/* batch_size is the hub's on an export only */
	CU_ASSERT_STRING_EQUAL(mem_key_refusal(batch, PUSH_PULL, err, sizeof(err)), "");
	CU_ASSERT_STRING_EQUAL(mem_key_refusal(batch, HUB_ROLE_PULL | HUB_ROLE_EXPORT, err,
					       sizeof(err)),
			       ": config key \"batch_size\" is the hub's own key of every export "
			       "(an int): declared a string");
}

/* The stamp: a minor up to the hub's has exactly its sizes; a newer one
 * at least the hub's. */
static void test_stamp_sizes_in_memory(void)
{
	const uint32_t rec = (uint32_t)sizeof(struct hub_record);
	const uint32_t full = (uint32_t)sizeof(struct hub_plugin);
	const uint32_t size_1_9 = (uint32_t)offsetof(struct hub_plugin, check_config);
	const uint32_t size_1_10 = (uint32_t)offsetof(struct hub_plugin, admit);
	struct hub_abi_stamp s;
	char err[1024] = "";
	int is_newer = -1;

	s = (struct hub_abi_stamp){HUB_ABI_MAGIC, HUB_ABI_MAJOR, 9, size_1_9, rec};
	CU_ASSERT_EQUAL(plugin_check_stamp(&s, "t", "/p/t.so", &is_newer, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(is_newer, 0);
	s.minor = 10, s.plugin_size = size_1_10;
	CU_ASSERT_EQUAL(plugin_check_stamp(&s, "t", "/p/t.so", &is_newer, err, sizeof(err)), 0);
	/* an older minor bigger than it was */
	s.plugin_size = size_1_10 + 8;
	CU_ASSERT_EQUAL(plugin_check_stamp(&s, "t", "/p/t.so", &is_newer, err, sizeof(err)), -1);
	s.plugin_size = size_1_10, s.record_size = rec + 8;
	CU_ASSERT_EQUAL(plugin_check_stamp(&s, "t", "/p/t.so", &is_newer, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "-byte hub_record, ABI 1.10 expects"));
	s.record_size = rec - 8; /* or smaller */
	CU_ASSERT_EQUAL(plugin_check_stamp(&s, "t", "/p/t.so", &is_newer, err, sizeof(err)), -1);
	/* a newer minor: exactly this hub's sizes will do, a smaller record not */
	s = (struct hub_abi_stamp){HUB_ABI_MAGIC, HUB_ABI_MAJOR, HUB_ABI_MINOR + 1, full, rec};
	CU_ASSERT_EQUAL(plugin_check_stamp(&s, "t", "/p/t.so", &is_newer, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(is_newer, 1);
	s.minor = HUB_ABI_MINOR;
	CU_ASSERT_EQUAL(plugin_check_stamp(&s, "t", "/p/t.so", &is_newer, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(is_newer, 0);
	s.minor = HUB_ABI_MINOR + 1, s.record_size = rec - 8;
	CU_ASSERT_EQUAL(plugin_check_stamp(&s, "t", "/p/t.so", &is_newer, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "expects at least"));
}

TEST_SUITE(plugin, NULL, NULL,
	   TEST(test_refusals_name_the_plugin_and_the_problem),
	   TEST(test_other_abi_major_is_refused),
	   TEST(test_newer_abi_minor_is_accepted),
	   TEST(test_older_abi_minor_is_accepted),
	   TEST(test_abi_1_4_record_time_of_0_is_unset),
	   TEST(test_struct_sizes_are_checked),
	   TEST(test_unloadable_file_gives_dlerror),
	   TEST(test_unresolved_symbol_is_refused_at_load),
	   TEST(test_minors_1_6_and_1_10_give_what_they_appended),
	   TEST(test_minor_1_13_has_no_run_end),
	   TEST(test_pull_keys_on_a_push_source_unless_its_own),
	   TEST(test_pull_kind_is_one_of_four_unless_the_plugins_own),
	   TEST(test_pull_keys_the_plugin_does_not_declare_are_refused),
	   TEST(test_instance_destroy_calls_the_plugin),
	   TEST(test_rc_text_names_every_code),
	   TEST(test_descriptor_refusals_in_memory),
	   TEST(test_descriptor_routes_in_memory),
	   TEST(test_descriptor_keys_in_memory),
	   TEST(test_descriptor_defaults_in_memory),
	   TEST(test_descriptor_hub_keys_in_memory),
	   TEST(test_stamp_sizes_in_memory),
	   TEST(test_example_loads_with_name_version_and_roles),
	   TEST(test_an_instance_with_an_unset_variable_is_not_created),
	   TEST(test_pull_plugin_may_own_kind_and_map),
	   TEST(test_roles_string_joins_with_commas),
	   TEST(test_default_dir_is_next_to_the_binary),
	   TEST(test_registry_loads_every_so_sorted),
	   TEST(test_registry_skips_a_refused_plugin_and_says_why),
	   TEST(test_registry_suggests_past_the_64th_plugin),
	   TEST(test_registry_of_two_dirs_loads_both_and_refuses_a_name_held_twice),
	   TEST(test_registry_loads_one_file_reached_from_two_dirs_once),
	   TEST(test_registry_refuses_a_plugin_file_anyone_may_write),
	   TEST(test_registry_refuses_a_dir_anyone_may_write),
	   TEST(test_registry_warns_of_a_link_in_a_dir_anyone_may_write),
	   TEST(test_registry_warns_of_a_shared_group_that_may_write),
	   TEST(test_registry_of_missing_dir_fails),
	   TEST(test_empty_registry_finds_nothing),
	   TEST(test_instance_check_accepts_valid_example_config),
	   TEST(test_instance_check_refuses_unknown_key),
	   TEST(test_instance_check_refuses_missing_required_path),
	   TEST(test_instance_check_refuses_wrong_type),
	   TEST(test_instance_check_needs_the_role),
	   TEST(test_instance_create_reports_plugin_message),
	   TEST(test_instance_create_names_a_code_without_message),
	   TEST(test_instance_create_checks_config_first),
	   TEST(test_host_reads_config_values_and_defaults),
	   TEST(test_host_config_json_follows_the_declared_type),
	   TEST(test_host_defaults_apply_to_lists),
	   TEST(test_host_forwards_to_the_call),
	   TEST(test_host_has_reject_and_forwards_it),
	   TEST(test_host_has_batch_range_for_an_export_call),
	   TEST(test_host_refuses_what_it_cannot_forward),
	   TEST(test_host_has_warn_and_forwards_it),
	   TEST(test_host_has_skip_and_forwards_it),
	   TEST(test_host_refuses_a_call_kept_past_its_slots_reuse),
	   TEST(test_host_refusal_lines_are_rate_limited),
	   TEST(test_host_log_clamps_the_level_and_names_the_instance),
	   TEST(test_host_config_readers_refuse_other_shapes),
	   TEST(test_host_any_default_is_a_tree_and_a_required_null_stays),
	   TEST(test_host_refuses_a_default_it_cannot_parse),
	   TEST(test_instance_create_survives_allocation_failures))
