/*
 * sync_columns.c - which cursor columns a saved cursor is a position in.
 *
 * A pull source's committed cursor ("cursor:<source>") holds values only.
 * Beside it, in the same transaction, goes the `cursor` config it was read
 * with ("cursor_columns:<source>", a JSON array of lowercased names, as
 * column names match case-insensitively).  A later run whose `cursor` no
 * longer starts with those columns (another column, or the same ones in
 * another order) would otherwise bind the old column's value to the new
 * one and skip its rows silently; it fails instead, asking for --full.
 * Adding columns after the saved ones (a unique last column) keeps it.
 */
#include "sync.h"

#include "alloc.h"
#include "host.h"
#include "util.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

void sync_cursor_columns_key(const char *source, char *buf, size_t size)
{
	snprintf(buf, size, "cursor_columns:%s", source);
}

/* A lowercased copy of a JSON string item; NULL when not a string. */
static json_t *lower_name(const json_t *item)
{
	const char *s = json_string_value(item);
	char *low;
	json_t *out;

	if (!s || !(low = hub_strdup(s)))
		return NULL;
	for (char *c = low; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	out = json_string(low);
	hub_free(low);
	return out;
}

char *sync_cursor_columns(const struct hub_instance *inst)
{
	const char *text = host_table()->config_json(inst, "cursor");
	json_t *conf = text ? json_loads_whole(text, JSON_DECODE_ANY, NULL, NULL) : NULL;
	json_t *list = json_array(), *item;
	char *out = NULL;
	size_t i;

	if (!conf || !list)
		goto out;
	if (json_is_string(conf) && json_array_append_new(list, lower_name(conf)))
		goto out;
	json_array_foreach(conf, i, item)
		if (json_array_append_new(list, lower_name(item)))
			goto out;
	if (json_array_size(list) > 0)
		out = json_dumps_whole(list, JSON_COMPACT);
out:
	json_decref(conf);
	json_decref(list);
	return out;
}

int sync_cursor_columns_fit(const char *saved, const char *now)
{
	json_t *a = json_loads_whole(saved, 0, NULL, NULL);
	json_t *b = json_loads_whole(now, 0, NULL, NULL);
	size_t n = json_array_size(a);
	int fits = json_is_array(a) && json_is_array(b) && n > 0 && n <= json_array_size(b);

	for (size_t i = 0; fits && i < n; i++)
		fits = json_equal(json_array_get(a, i), json_array_get(b, i));
	json_decref(a);
	json_decref(b);
	return fits;
}
