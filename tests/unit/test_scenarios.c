/*
 * test_scenarios.c - the identity test vectors of shared/data/scenarios
 * (IDENTITY.md section 8): each .jsonl is applied to a fresh store and the
 * live profiles are compared with the .expected.json as the scenarios
 * README says (identifier sets match profiles; profile IDs are ignored).
 */
#include "doccheck.h"
#include "testhub.h"
#include "testlib.h"

#include "../../hub/profile.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The scenario's config (JSON) as hub YAML (identity.external only). */
static char *scenario_yaml(const json_t *config)
{
	json_t *ext = json_object_get(json_object_get(config, "identity"), "external");
	const char *name;
	json_t *spec;
	char *yaml = strdup(""), *grown;

	if (!ext || !json_object_size(ext))
		return yaml;
	free(yaml);
	yaml = strdup("identity:\n  external:\n");
	json_object_foreach(ext, name, spec) {
		if (asprintf(&grown, "%s    %s: {limit: %lld, priority: %lld}\n", yaml, name,
			     (long long)json_integer_value(json_object_get(spec, "limit")),
			     (long long)json_integer_value(json_object_get(spec, "priority"))) < 0)
			break;
		free(yaml);
		yaml = grown;
	}
	return yaml;
}

/* The fields the README compares, in an order-free form. */
static json_t *comparable(const json_t *doc)
{
	json_t *c = json_object(), *insts = json_array(), *mids = json_array();
	json_t *subs = json_object_get(doc, "subscriptions");
	size_t i;
	json_t *v;

	json_object_set(c, "custom_id", json_object_get(doc, "custom_id"));
	json_object_set(c, "anonymous", json_object_get(doc, "anonymous"));
	json_object_set_new(c, "attributes", doccheck_sorted(json_object_get(doc, "attributes")));
	json_object_set(c, "email_marketing", json_object_get(subs, "email_marketing"));
	json_object_set(c, "sms_marketing", json_object_get(subs, "sms_marketing"));
	json_array_foreach(json_object_get(doc, "installations"), i, v) {
		json_t *o = json_object();
		json_object_set(o, "installation_id", json_object_get(v, "installation_id"));
		json_object_set(o, "platform", json_object_get(v, "platform"));
		json_array_append_new(insts, o);
	}
	json_object_set_new(c, "installations", insts);
	json_object_set_new(c, "identifiers", doccheck_sorted(json_object_get(doc, "identifiers")));
	json_object_set(c, "event_count", json_object_get(doc, "event_count"));
	json_array_foreach(json_object_get(doc, "events"), i, v)
		json_array_append(mids, json_object_get(v, "message_id"));
	json_object_set_new(c, "events", mids);
	return c;
}

static int push_given_matches(const json_t *expected, const json_t *actual)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(expected, "installations"), i, e) {
		json_t *want = json_object_get(e, "push_enabled");
		json_t *got =
			json_object_get(json_array_get(json_object_get(actual, "installations"), i),
					"push_enabled");
		if (want && !json_equal(want, got))
			return 0;
	}
	return 1;
}

static void check_counts(const char *name, const json_t *want, const struct unify_counts *got)
{
	const struct { const char *key; int64_t value; } rows[] = {
		{"records", got->records},       {"applied", got->applied},
		{"duplicates", got->duplicates}, {"blocked", got->blocked},
		{"rejected", got->rejected},     {"refused", got->refused},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_int_t w = json_integer_value(json_object_get(want, rows[i].key));
		if (w != rows[i].value)
			fprintf(stderr, "\n  %s: count %s: expected %lld, got %lld", name,
				rows[i].key, (long long)w, (long long)rows[i].value);
		CU_ASSERT_EQUAL(w, rows[i].value);
	}
}

static void run_scenario(const char *dir, const char *name)
{
	char path[1024], err[256];
	json_t *expected, *dump = NULL;
	struct testhub *th = NULL;
	char *lines = NULL, *yaml = NULL;
	size_t i;
	json_t *want;

	snprintf(path, sizeof(path), "%s/%s.expected.json", dir, name);
	expected = json_load_file(path, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(expected);
	snprintf(path, sizeof(path), "%s/%s.jsonl", dir, name);
	{
		FILE *f = fopen(path, "r");
		size_t cap = 0;
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		getdelim(&lines, &cap, '\0', f);
		fclose(f);
	}
	yaml = scenario_yaml(json_object_get(expected, "config"));
	th = testhub_start(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	/* one record per batch, as an HTTP client or a sync page would */
	for (char *line = strtok(lines, "\n"); line; line = strtok(NULL, "\n"))
		CU_ASSERT_EQUAL(testhub_apply_lines(th, line), 0);
	check_counts(name, json_object_get(expected, "counts"), &th->counts);

	dump = testhub_dump(th, PROFILE_EVENTS_ALL);
	CU_ASSERT_EQUAL(json_array_size(dump),
			json_array_size(json_object_get(expected, "profiles")));
	json_array_foreach(json_object_get(expected, "profiles"), i, want) {
		json_t *want_c = comparable(want), *match = NULL;
		json_t *want_ids = json_object_get(want_c, "identifiers");
		size_t j;
		json_t *got;
		json_array_foreach(dump, j, got) {
			json_t *got_c = comparable(got);
			if (json_equal(json_object_get(got_c, "identifiers"), want_ids))
				match = got;
			json_decref(got_c);
		}
		if (!match) {
			char *w = json_dumps(want_ids, JSON_COMPACT);
			fprintf(stderr, "\n  %s: no profile with identifiers %s", name, w);
			free(w);
			CU_FAIL("expected profile missing");
		} else {
			json_t *got_c = comparable(match);
			if (!json_equal(got_c, want_c)) {
				char *w = json_dumps(want_c, JSON_COMPACT),
				     *g = json_dumps(got_c, JSON_COMPACT);
				fprintf(stderr, "\n  %s:\n   expected %s\n   got      %s", name, w,
					g);
				free(w);
				free(g);
				CU_FAIL("profile differs");
			}
			CU_ASSERT(push_given_matches(want, match));
			json_decref(got_c);
		}
		json_decref(want_c);
	}
	json_array_foreach(dump, i, want) {
		if (doccheck_rules(want, 1, err, sizeof(err))) {
			fprintf(stderr, "\n  %s: document rule broken: %s", name, err);
			CU_FAIL("document rules");
		}
	}
	json_decref(dump);
	json_decref(expected);
	testhub_stop(th);
	free(lines);
	free(yaml);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_every_scenario_vector_passes(void)
{
	char *dir = testlib_shared_path("data/scenarios");
	char *names[64];
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	d = opendir(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((de = readdir(d)) && n < 64) {
		size_t len = strlen(de->d_name);
		if (len > 6 && strcmp(de->d_name + len - 6, ".jsonl") == 0)
			names[n++] = strndup(de->d_name, len - 6);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	CU_ASSERT(n >= 12);
	for (size_t i = 0; i < n; i++) {
		run_scenario(dir, names[i]);
		free(names[i]);
	}
	free(dir);
}

TEST_SUITE(scenarios, NULL, NULL, TEST(test_every_scenario_vector_passes))
