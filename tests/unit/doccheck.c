/*
 * doccheck.c - see doccheck.h.
 */
#include "doccheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

static int all_strings(const json_t *arr)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (!json_is_string(v))
			return 0;
	return 1;
}

json_t *doccheck_sorted(const json_t *v)
{
	if (json_is_object(v)) {
		json_t *o = json_object();
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)v, k, x)
			json_object_set_new(o, k, doccheck_sorted(x));
		return o;
	}
	if (json_is_array(v)) {
		size_t n = json_array_size(v), i;
		json_t **items = calloc(n ? n : 1, sizeof(*items));
		json_t *a = json_array();
		for (i = 0; i < n; i++)
			items[i] = doccheck_sorted(json_array_get(v, i));
		if (all_strings(v))
			qsort(items, n, sizeof(*items), cmp_str);
		for (i = 0; i < n; i++)
			json_array_append_new(a, items[i]);
		free(items);
		return a;
	}
	return json_deep_copy(v);
}

#define FAIL(...)                                                              \
	do {                                                                   \
		snprintf(err, err_size, __VA_ARGS__);                          \
		return -1;                                                     \
	} while (0)

static int has_duplicates(const json_t *arr)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		for (size_t j = i + 1; j < json_array_size(arr); j++)
			if (json_equal(json_array_get(arr, i), json_array_get(arr, j)))
				return 1;
	return 0;
}

/* IDENTITY.md 5: the push subscriptions are the platforms with at least
 * one enabled installation, each once. */
static int push_differs(const json_t *insts, const json_t *push)
{
	size_t i, n_listed = 0;
	json_t *v;

	if (!json_is_array(push) || has_duplicates(push))
		return 1;
	json_array_foreach(insts, i, v) {
		const json_t *platform = json_object_get(v, "platform");
		int listed = 0;
		if (!json_is_true(json_object_get(v, "push_enabled")) || !json_is_string(platform))
			continue;
		for (size_t j = 0; j < json_array_size(push); j++)
			listed |= json_equal(platform, json_array_get(push, j));
		if (!listed)
			return 1;
	}
	/* and nothing else: every listed platform has an enabled installation */
	for (size_t j = 0; j < json_array_size(push); j++) {
		int found = 0;
		json_array_foreach(insts, i, v)
			found |= json_is_true(json_object_get(v, "push_enabled")) &&
				 json_equal(json_object_get(v, "platform"),
					    json_array_get(push, j));
		n_listed += (size_t)found;
	}
	return n_listed != json_array_size(push);
}

int doccheck_rules(const json_t *doc, int all_events, char *err, size_t err_size)
{
	const json_t *custom = json_object_get(doc, "custom_id");
	const json_t *anon = json_object_get(doc, "anonymous");
	const json_t *ids = json_object_get(doc, "identifiers");
	const json_t *subs = json_object_get(doc, "subscriptions");
	const json_t *attrs = json_object_get(doc, "attributes");
	const json_t *insts = json_object_get(doc, "installations");
	const json_t *events = json_object_get(doc, "events");
	const json_t *id_custom = json_object_get(ids, "custom_id");
	const json_t *id_inst = json_object_get(ids, "installation_id");
	const char *k;
	json_t *v;
	size_t i;

	if (!custom || !json_is_boolean(anon) || !json_is_object(ids))
		FAIL("custom_id, anonymous or identifiers missing");
	if (json_is_true(anon) != json_is_null(custom))
		FAIL("anonymous disagrees with custom_id");
	if (json_is_null(custom) ? id_custom != NULL
				 : (json_array_size(id_custom) != 1 ||
				    !json_equal(json_array_get(id_custom, 0), custom)))
		FAIL("identifiers.custom_id disagrees with custom_id");
	if (!subs || !json_object_get(subs, "email_marketing") ||
	    !json_object_get(subs, "sms_marketing"))
		FAIL("subscriptions must show both channels");
	json_object_foreach((json_t *)attrs, k, v)
		if (json_is_null(v))
			FAIL("attribute %s is null (deleted attributes are absent)", k);
	json_object_foreach((json_t *)ids, k, v) {
		if (json_array_size(v) == 0)
			FAIL("identifiers.%s is empty", k);
		if (has_duplicates(v))
			FAIL("identifiers.%s holds a value twice", k);
		if (strcmp(k, "email") == 0 || strcmp(k, "phone") == 0)
			FAIL("identifiers.%s present though not configured", k);
	}
	if (json_array_size(insts) != json_array_size(id_inst))
		FAIL("installations and identifiers.installation_id differ in size");
	json_array_foreach(insts, i, v) {
		json_t *iid = json_object_get(v, "installation_id");
		int found = 0;
		for (size_t j = 0; j < json_array_size(id_inst); j++)
			found |= json_equal(iid, json_array_get(id_inst, j));
		if (!found)
			FAIL("installation %s not in identifiers", json_string_value(iid));
	}
	if (push_differs(insts, json_object_get(subs, "push")))
		FAIL("subscriptions.push is not the platforms of the push-enabled installations");
	for (i = 0; i < json_array_size(events); i++)
		for (size_t j = i + 1; j < json_array_size(events); j++) {
			json_t *a = json_array_get(events, i), *b = json_array_get(events, j);
			if (json_equal(json_object_get(a, "message_id"),
				       json_object_get(b, "message_id")) &&
			    json_equal(json_object_get(a, "source"), json_object_get(b, "source")))
				FAIL("event %s listed twice",
				     json_string_value(json_object_get(a, "message_id")));
		}
	if (all_events && (json_int_t)json_array_size(events) !=
				  json_integer_value(json_object_get(doc, "event_count")))
		FAIL("events holds %zu events, event_count says %lld", json_array_size(events),
		     (long long)json_integer_value(json_object_get(doc, "event_count")));
	return 0;
}
