/*
 * record_json.c - the canonical JSON door: one JSON object per record, the
 * form of `import --format canonical` and of shared/data/scenarios (see the
 * scenarios README).  It parses the text once, reads the top-level members
 * into a struct record_input (strings and payload objects borrowed from the
 * parsed tree) and hands it to record_build() in record.c, which owns every
 * rule.
 *
 * Only what JSON adds is checked here: syntax, duplicate keys, member types
 * (a string where a string belongs), time texts.  Never apply a record rule
 * here; a rule written twice drifts.
 */
#include "record_int.h"

#include "alloc.h"
#include "util.h"

/* header-only, shared with the push sources */
#include "../plugins/common/json_bigint.h"

#include <string.h>

#define STACK_IDENTS 16

/* jansson's message, with the token it quotes cut to RECORD_SHOW_MAX bytes. */
hub_rc record_json_error(char *err, size_t err_size, const char *field,
			 const json_error_t *e)
{
	char text[sizeof(e->text)], shown[RECORD_SHOW_SIZE];
	const char *sep = *field ? ": " : "";
	char *near;

	if (json_error_code(e) == json_error_out_of_memory) {
		err_set(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	/* jansson quotes the offending token: "... near 'token'". */
	memcpy(text, e->text, sizeof(text));
	text[sizeof(text) - 1] = '\0';
	near = strstr(text, " near '");
	if (near) {
		char *token = near + 7;
		size_t n = strlen(token);
		if (n && token[n - 1] == '\'')
			token[n - 1] = '\0';
		*near = '\0';
		err_set(err, err_size, "%s%sinvalid JSON: %s near '%s' at %d:%d", field, sep,
			text, record_show(shown, token), e->line, e->column);
	} else {
		err_set(err, err_size, "%s%sinvalid JSON: %s at %d:%d", field, sep, text,
			e->line, e->column);
	}
	return HUB_ERR_DATA;
}

struct json_door {
	json_t *root;
	const struct record_rules *rules;
	struct record_input in;
	struct hub_ident stack_idents[STACK_IDENTS];
	struct hub_ident *idents;
	char *err;
	size_t err_size;
};

static hub_rc HUB_PRINTF(2, 3) door_reject(struct json_door *d, const char *fmt, ...)
{
	va_list ap;

	if (d->err && d->err_size) {
		va_start(ap, fmt);
		vsnprintf(d->err, d->err_size, fmt, ap);
		va_end(ap);
	}
	return HUB_ERR_DATA;
}

/* A string member; absent or null: *out = NULL. */
static hub_rc read_string(struct json_door *d, json_t *obj, const char *key,
			  const char *field, const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return HUB_OK;
	if (!json_is_string(v))
		return door_reject(d, "%s: must be a string", field);
	*out = json_string_value(v);
	return HUB_OK;
}

/* RFC 3339 text or integer ms; absent or null: *has = 0. */
static hub_rc read_time(struct json_door *d, const char *key, int64_t *ms, int *has)
{
	json_t *v = json_object_get(d->root, key);

	*has = 0;
	if (!v || json_is_null(v))
		return HUB_OK;
	if (json_is_integer(v)) {
		*ms = json_integer_value(v);
	} else if (!json_is_string(v) || time_parse_rfc3339(json_string_value(v), ms) != 0) {
		return door_reject(d, "%s: not an RFC 3339 time", key);
	}
	*has = 1;
	return HUB_OK;
}

static hub_rc read_type(struct json_door *d)
{
	char shown[RECORD_SHOW_SIZE];
	const char *name;
	hub_rc rc;

	if ((rc = read_string(d, d->root, "type", "type", &name)))
		return rc;
	if (!name)
		return door_reject(d, "type: missing");
	if (record_type_parse(name, &d->in.type) != 0)
		return door_reject(d, "type: unknown record type \"%s\"", record_show(shown, name));
	return HUB_OK;
}

static hub_rc read_head(struct json_door *d, const char *default_source)
{
	struct record_input *in = &d->in;
	json_t *push, *platform;
	hub_rc rc;

	if ((rc = read_type(d)) ||
	    (rc = read_string(d, d->root, "source", "source", &in->source)) ||
	    (rc = read_string(d, d->root, "message_id", "message_id", &in->message_id)) ||
	    (rc = read_time(d, "timestamp", &in->timestamp_ms, &in->has_timestamp)) ||
	    (rc = read_time(d, "received_at", &in->received_at_ms, &in->has_received_at)))
		return rc;
	if (!in->source)
		in->source = default_source;
	push = json_object_get(d->root, "push_enabled");
	in->push_enabled = -1;
	if (push && !json_is_null(push)) {
		if (!json_is_boolean(push))
			return door_reject(d, "push_enabled: must be a boolean");
		in->push_enabled = json_is_true(push);
	}
	/* A platform that is no string is a warning, like an unknown one. */
	platform = json_object_get(d->root, "platform");
	if (json_is_string(platform))
		in->platform = json_string_value(platform);
	else if (platform && !json_is_null(platform))
		in->is_platform_invalid = 1;
	if (in->type == HUB_REC_ALIAS)
		return read_string(d, d->root, "previous_id", "previous_id", &in->previous_id);
	return HUB_OK;
}

/* identifiers: only identifier types are read; a non-string value of one
 * rejects; null is absent, except custom_id null on identify (logout).
 * The first other key with a string value is noted, for the refusal of a
 * record with no usable identifier to name it. */
static hub_rc read_idents(struct json_door *d)
{
	json_t *ids = json_object_get(d->root, "identifiers"), *value;
	char shown[RECORD_SHOW_SIZE];
	size_t cap, n = 0;
	const char *key;

	if (!ids || json_is_null(ids))
		return HUB_OK;
	if (!json_is_object(ids))
		return door_reject(d, "identifiers: must be an object");
	cap = json_object_size(ids);
	if (cap > STACK_IDENTS) {
		d->idents = hub_calloc(cap, sizeof(*d->idents));
		if (!d->idents) {
			err_set(d->err, d->err_size, "out of memory");
			return HUB_ERR_NOMEM;
		}
	}
	json_object_foreach(ids, key, value) {
		if (!record_is_ident_type(key, d->rules)) {
			if (!d->in.ignored_ident_type && json_is_string(value))
				d->in.ignored_ident_type = key;
			continue;
		}
		if (json_is_null(value)) {
			if (strcmp(key, "custom_id") == 0)
				d->in.custom_id_is_null = d->in.type == HUB_REC_IDENTIFY;
			continue;
		}
		if (!json_is_string(value))
			return door_reject(d, "identifiers.%s: must be a string",
					   record_show(shown, key));
		d->idents[n].type = key;
		d->idents[n].value = json_string_value(value);
		n++;
	}
	d->in.idents = d->idents;
	d->in.n_idents = n;
	return HUB_OK;
}

static hub_rc read_event(struct json_door *d)
{
	json_t *event = json_object_get(d->root, "event");

	if (!event || json_is_null(event))
		return door_reject(d, "event: missing");
	if (!json_is_object(event))
		return door_reject(d, "event: must be an object");
	d->in.properties = json_object_get(event, "properties");
	return read_string(d, event, "name", "event.name", &d->in.event_name);
}

hub_rc record_from_json(const char *text, size_t len, const char *default_source,
			const struct record_rules *rules, int64_t now_ms,
			struct record **out, struct record_warnings *warnings,
			char *err, size_t err_size)
{
	struct json_door d = {.rules = rules, .err = err, .err_size = err_size};
	const char *nul;
	json_error_t e;
	int had_big;
	hub_rc rc;

	*out = NULL;
	d.idents = d.stack_idents;
	if (text && (nul = memchr(text, '\0', len))) {
		/* jansson reads a NUL as the end of its input, and says so */
		err_set(err, err_size, "invalid JSON: a NUL byte at 1:%zu",
			(size_t)(nul - text) + 1);
		return HUB_ERR_DATA;
	}
	/* an integer past 64 bits, as JavaScript prints 12345678901234567000, is
	 * read as a double, as the push sources read it */
	d.root = json_loadb_big_ints(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &e,
				     &had_big, alloc_failed_poll);
	if (had_big < 0) {
		err_set(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	if (!d.root)
		return record_json_error(err, err_size, "", &e);
	if (!json_is_object(d.root)) {
		rc = door_reject(&d, "record: must be a JSON object");
		goto out;
	}
	if ((rc = read_head(&d, default_source)) || (rc = read_idents(&d)))
		goto out;
	if (d.in.type == HUB_REC_TRACK && (rc = read_event(&d)))
		goto out;
	d.in.attributes = json_object_get(d.root, "attributes");
	d.in.consent = json_object_get(d.root, "consent");
	rc = record_build(&d.in, rules, now_ms, out, warnings, err, err_size);
out:
	if (d.idents != d.stack_idents)
		hub_free(d.idents);
	json_decref(d.root);
	return rc;
}
