/*
 * unify_edges.c - the identity links of a canonical JSON Lines stream, as
 * CSV for the warehouse baseline of bench/unify (PostgreSQL COPY):
 *
 *     unify_edges < records.jsonl > edges.csv
 *
 * One row (record node, identifier node) per usable identifier of a
 * record: "r:<message_id>","<type>:<value>".  A record is a node so that
 * every event gets the label of its person, as every event of profilehub
 * lands on a profile.
 *
 * Like any identity-stitching model worth running, it drops the junk values
 * the hub blocks (IDENTITY.md section 1: "", "0", "-1", "null", "anonymous"
 * ...), else one "null" would glue every user together.  email and phone are
 * contact points, not merge keys, so they make no link; an alias links its
 * previous_id as an installation; an erase is no link.  A line that is not a
 * JSON object is skipped (the import rejects it too).
 *
 * Standalone on purpose (jansson only, no hub code): the baseline must not
 * move when the hub does.  Never used by the hub or its tests.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* IDENTITY.md section 1: empty or all whitespace, ^[0-]*$, -1, the words. */
static int is_usable(const char *v)
{
	static const char *const words[] = {
		"null",  "nil",   "(null)",    "none",      "undefined", "nan",
		"infinity", "-infinity", "true", "false", "anonymous", "guest",
		"[object object]",
	};
	const char *p;

	for (p = v; *p == '0' || *p == '-'; p++)
		;
	if (*p == '\0' || strcmp(v, "-1") == 0)
		return 0; /* covers "" too */
	for (p = v; *p && isspace((unsigned char)*p); p++)
		;
	if (*p == '\0')
		return 0;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(v, words[i]) == 0)
			return 0;
	return 1;
}

/* One CSV field, always quoted ("" for a quote). */
static void put_field(const char *prefix, const char *sep, const char *v)
{
	putchar('"');
	fputs(prefix, stdout);
	fputs(sep, stdout);
	for (; *v; v++) {
		if (*v == '"')
			putchar('"');
		putchar(*v);
	}
	putchar('"');
}

static void put_edge(const char *message_id, const char *type, const char *value)
{
	put_field("r", ":", message_id);
	putchar(',');
	put_field(type, ":", value);
	putchar('\n');
}

static void line_edges(json_t *rec)
{
	const char *type = json_string_value(json_object_get(rec, "type"));
	const char *mid = json_string_value(json_object_get(rec, "message_id"));
	const char *prev = json_string_value(json_object_get(rec, "previous_id"));
	json_t *ids = json_object_get(rec, "identifiers"), *v;
	const char *key;

	if (!type || !mid || strcmp(type, "erase") == 0)
		return;
	if (json_is_object(ids)) {
		json_object_foreach(ids, key, v) {
			const char *s = json_string_value(v);
			if (!s || strcmp(key, "email") == 0 || strcmp(key, "phone") == 0 ||
			    !is_usable(s))
				continue;
			put_edge(mid, key, s);
		}
	}
	if (strcmp(type, "alias") == 0 && prev && is_usable(prev))
		put_edge(mid, "installation_id", prev);
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long n_bad = 0;

	while ((len = getline(&line, &cap, stdin)) >= 0) {
		json_t *rec = json_loadb(line, (size_t)len, 0, NULL);
		if (json_is_object(rec))
			line_edges(rec);
		else if (len > 1)
			n_bad++;
		json_decref(rec);
	}
	free(line);
	if (n_bad)
		fprintf(stderr, "unify_edges: %ld lines skipped (not a JSON object)\n", n_bad);
	if (ferror(stdin) || fflush(stdout) != 0 || ferror(stdout)) {
		perror("unify_edges");
		return 1;
	}
	return 0;
}
