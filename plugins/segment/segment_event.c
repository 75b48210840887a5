/*
 * segment_event.c - reads one Segment event (a JSON object of the HTTP
 * Tracking API, Segment Spec) into a struct seg_event and checks its
 * structure: the type, the types of every field the mapping reads, the
 * fields each type requires, the times (its size is measured on the raw
 * body, segment_request.c).  Nothing is emitted or allocated here: a
 * request is read whole before anything leaves, which is what makes it
 * all-or-nothing.
 *
 * Segment accepts a number where an ID is expected (userId: 42); numbers
 * become their decimal text in the event's own buffers.  An integer too
 * big for 64 bits is read as a double (segment_request.c): an ID that was
 * one has lost digits and is refused.
 *
 * A time is "given" or not, apart from its value: the epoch and every
 * instant before it are times like any other (the hub checks the range).
 */
#include "segment.h"
#include "../common/time_text.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[] = {
	[SEG_IDENTIFY] = "identify", [SEG_TRACK] = "track", [SEG_PAGE] = "page",
	[SEG_SCREEN] = "screen",     [SEG_GROUP] = "group", [SEG_ALIAS] = "alias",
};

#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

static int type_parse(const char *name, enum seg_type *out)
{
	for (size_t i = 0; i < N_TYPES; i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*out = (enum seg_type)i;
			return 0;
		}
	}
	return -1;
}

const char *seg_type_name(enum seg_type type)
{
	return (size_t)type < N_TYPES ? type_names[type] : "?";
}

void seg_error_set(struct seg_error *e, int status, const char *code, long index,
		   const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->code = code;
	e->index = index;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

/* ---- times ------------------------------------------------------------ */

/* The hub's own reader of canonical records' times: one grammar for both
 * (plugins/common/time_text.h), but a date alone is not a Segment time. */
int seg_time_parse(const char *s, int64_t *ms)
{
	return time_text_parse_ms(s, 1, ms);
}

/* ---- fields ----------------------------------------------------------- */

/* A member, with JSON null read as absent. */
static json_t *member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/* The shortest decimal text that reads back as the same double. */
static void real_text(double v, char *buf, size_t size)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* No int64_t reaches this: an ID of it or more is an integer too big for
 * 64 bits (read as a double) or a decimal as large. */
#define SEG_INT64_LIMIT 9223372036854775808.0 /* 2^63 */

/* How an ID field failed. */
enum seg_id_rc {
	SEG_ID_OK = 0,     /* absent, or valid (*out set) */
	SEG_ID_TYPE,       /* not a string nor a number */
	SEG_ID_IMPRECISE,  /* a number that may have been rounded (see below) */
};

/* An ID: a string, or a number as its decimal text.  An integral number
 * of 2^63 or more (an integer too big for 64 bits, read as a double) has
 * lost digits (JavaScript sends such IDs as strings anyway) and is refused
 * rather than stored as some other ID, whatever else the body holds. */
static enum seg_id_rc read_id(json_t *obj, const char *key, const char **out, char *buf,
			      size_t size)
{
	json_t *v = member(obj, key);
	double d;

	*out = NULL;
	if (!v)
		return SEG_ID_OK;
	if (json_is_string(v)) {
		*out = json_string_value(v);
		return SEG_ID_OK;
	}
	if (json_is_integer(v)) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*out = buf;
		return SEG_ID_OK;
	}
	if (!json_is_real(v) || !isfinite(d = json_real_value(v)))
		return SEG_ID_TYPE;
	if (d == floor(d) && fabs(d) >= SEG_INT64_LIMIT)
		return SEG_ID_IMPRECISE;
	real_text(d, buf, size);
	*out = buf;
	return SEG_ID_OK;
}

/* The message of a bad ID field (a literal: read_*() return it as is). */
#define SEG_ID_MESSAGE(rc, field, wrong_type)                                              \
	((rc) == SEG_ID_IMPRECISE                                                          \
		 ? field ": a number of 2^63 or more (an integer too big for 64 bits) "    \
			 "cannot be kept exactly: send the ID as a string"               \
		 : wrong_type)

static int read_string(json_t *obj, const char *key, const char **out)
{
	json_t *v = member(obj, key);

	*out = json_string_value(v);
	return v && !*out ? -1 : 0;
}

static int read_object(json_t *obj, const char *key, json_t **out)
{
	json_t *v = member(obj, key);

	*out = json_is_object(v) ? v : NULL;
	return v && !*out ? -1 : 0;
}

/* A date-time member: 0 when absent (*has = 0, *ms = 0) or valid (*has =
 * 1, *ms any instant, 0 and negative ones included), -1 otherwise. */
static int read_time(json_t *obj, const char *key, int *has, int64_t *ms)
{
	const char *s;

	*has = 0;
	*ms = 0;
	if (read_string(obj, key, &s))
		return -1;
	if (!s)
		return 0;
	if (seg_time_parse(s, ms))
		return -1;
	*has = 1;
	return 0;
}

/* UTF-8 characters (the text is valid UTF-8: jansson checked it). */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* ---- context ---------------------------------------------------------- */

json_t *seg_context_get(const struct seg_event *ev, const char *const *path)
{
	json_t *a = member(ev->item, "context");
	json_t *b = ev->batch ? ev->batch->context : NULL;

	for (; *path; path++) {
		a = json_is_object(a) ? member(a, *path) : NULL;
		b = json_is_object(b) ? member(b, *path) : NULL;
		/* the item's value wins unless both sides are objects to merge */
		if (a && !(json_is_object(a) && json_is_object(b)))
			b = NULL;
	}
	return a ? a : b;
}

/* context.<name> into *out (NULL when absent): an array of objects, each
 * with a string k1 and a string k2.  0, or -1 with e filled (400). */
static int context_list(const struct seg_event *ev, const char *name, const char *k1,
			const char *k2, long index, struct seg_error *e, json_t **out)
{
	const char *const path[] = {name, NULL};
	json_t *list = seg_context_get(ev, path), *x;
	size_t i;

	*out = NULL;
	if (!list)
		return 0;
	if (!json_is_array(list)) {
		seg_error_set(e, 400, "invalid_event", index, "context.%s: must be an array", name);
		return -1;
	}
	json_array_foreach(list, i, x) {
		if (!json_is_string(json_object_get(x, k1)) ||
		    !json_is_string(json_object_get(x, k2))) {
			seg_error_set(e, 400, "invalid_event", index,
				      "context.%s[%zu]: must be an object with a string \"%s\" "
				      "and a string \"%s\"",
				      name, i, k1, k2);
			return -1;
		}
	}
	*out = list;
	return 0;
}

/* An identify's context.traits into ev->context_traits: the event's and
 * the batch's, merged key by key as the rest of the context is (the
 * event's win; an event's own value that is no object wins whole, and is
 * refused).  RudderStack's libraries put an identify's traits there (its
 * JavaScript and mobile SDKs there only, its Node SDK in both places).
 * Another call's context.traits repeats the user's cached traits (the
 * mobile libraries add them to every call): not read, so a stale copy
 * never overwrites what a later identify set. */
static int context_traits(struct seg_event *ev, long index, struct seg_error *e)
{
	json_t *context = member(ev->item, "context"); /* an object or NULL (read_payload) */
	json_t *own = context ? member(context, "traits") : NULL;
	json_t *lent = ev->batch->context ? member(ev->batch->context, "traits") : NULL;

	if ((own && !json_is_object(own)) || (!own && lent && !json_is_object(lent))) {
		seg_error_set(e, 400, "invalid_event", index, "context.traits: must be an object");
		return -1;
	}
	ev->context_traits[0] = own;
	ev->context_traits[1] = json_is_object(lent) ? lent : NULL;
	return 0;
}

/* context.externalIds: [{"id", "type", "collection", "encoding"}]; and an
 * identify's context.traits and context.messaging_subscriptions (Twilio
 * Engage): [{"key", "type", "status"}], whose consent is segment_map.c's
 * (other types ignore them, as Segment does). */
static int check_context(struct seg_event *ev, long index, struct seg_error *e)
{
	if (context_list(ev, "externalIds", "type", "id", index, e, &ev->external_ids))
		return -1;
	if (ev->type != SEG_IDENTIFY)
		return 0;
	if (context_traits(ev, index, e))
		return -1;
	return context_list(ev, "messaging_subscriptions", "type", "status", index, e,
			    &ev->subscriptions);
}

/* ---- one event --------------------------------------------------------- */

/* A type none of type_names: refused naming it and the accepted ones.  The
 * Segment Spec's types are lowercase, as every library sends them; "Track"
 * is refused as any unknown type, the answer naming the spelling meant. */
static void type_unknown(const char *name, long index, struct seg_error *e)
{
	const char *meant = NULL;

	for (size_t i = 0; i < N_TYPES && !meant; i++)
		if (strcasecmp(name, type_names[i]) == 0)
			meant = type_names[i];
	/* %.40s: a message never grows with the input */
	seg_error_set(e, 400, "unknown_type", index,
		      "type: unknown type \"%.40s\"%s%s%s: must be one of identify, track, "
		      "page, screen, group, alias (lowercase)",
		      name, meant ? " (write \"" : "", meant ? meant : "", meant ? "\")" : "");
}

/* The type: the item's "type", or the single call's path when absent. */
static int read_type(struct seg_event *ev, int forced, long index, struct seg_error *e)
{
	json_t *v = member(ev->item, "type");
	const char *name = json_string_value(v);
	enum seg_type t;

	if (!v && forced >= 0) {
		ev->type = (enum seg_type)forced;
		return 0;
	}
	if (!v) {
		seg_error_set(e, 400, "missing_field", index, "type: missing");
		return -1;
	}
	if (!name) {
		seg_error_set(e, 400, "invalid_event", index, "type: must be a string");
		return -1;
	}
	if (type_parse(name, &t)) {
		type_unknown(name, index, e);
		return -1;
	}
	if (forced >= 0 && t != (enum seg_type)forced) {
		/* %.40s: a message never grows with the input */
		seg_error_set(e, 400, "unknown_type", index,
			      "type: \"%.40s\" does not match the path", name);
		return -1;
	}
	ev->type = t;
	return 0;
}

/* The identifiers every type has. */
static const char *read_ids(struct seg_event *ev)
{
	json_t *it = ev->item;
	enum seg_id_rc rc;

	if (read_string(it, "messageId", &ev->message_id))
		return "messageId: must be a string";
	if (ev->message_id && utf8_chars(ev->message_id) > SEG_MAX_MESSAGE_ID)
		return "messageId: must be shorter than 100 characters";
	if (ev->message_id && !*ev->message_id)
		ev->message_id = NULL; /* "": the host derives one */
	rc = read_id(it, "userId", &ev->user_id, ev->user_id_buf,
		     sizeof(ev->user_id_buf));
	if (rc)
		return SEG_ID_MESSAGE(rc, "userId", "userId: must be a string or a number");
	rc = read_id(it, "anonymousId", &ev->anonymous_id, ev->anonymous_id_buf,
		     sizeof(ev->anonymous_id_buf));
	if (rc)
		return SEG_ID_MESSAGE(rc, "anonymousId",
				      "anonymousId: must be a string or a number");
	if (ev->type == SEG_ALIAS ? !ev->user_id : !ev->user_id && !ev->anonymous_id)
		return ev->type == SEG_ALIAS ? "userId: required for alias"
					     : "userId or anonymousId: one is required";
	return NULL;
}

/* timestamp (RudderStack: originalTimestamp), sentAt, receivedAt.  Which
 * were given is kept apart from their values: any instant is a time.  An
 * archived (imported) event's timestamp is corrected already; one that has
 * only originalTimestamp, the device's clock, is corrected here as Segment
 * does: by receivedAt - sentAt (the hub adds it when it gets sentAt). */
static const char *read_times(struct seg_event *ev)
{
	const struct seg_batch_ctx *b = ev->batch;
	int has_original, has_sent, has_received, has_timestamp;
	int64_t original, sent, received;

	if (read_time(ev->item, "timestamp", &ev->has_timestamp, &ev->timestamp_ms))
		return "timestamp: " SEG_TIME_WANTED;
	if (read_time(ev->item, "originalTimestamp", &has_original, &original))
		return "originalTimestamp: " SEG_TIME_WANTED;
	if (read_time(ev->item, "sentAt", &has_sent, &sent))
		return "sentAt: " SEG_TIME_WANTED;
	if (read_time(ev->item, "receivedAt", &has_received, &received))
		return "receivedAt: " SEG_TIME_WANTED;
	has_timestamp = ev->has_timestamp;
	if (!ev->has_timestamp) {
		ev->has_timestamp = has_original;
		ev->timestamp_ms = original;
	}
	ev->has_sent_at = ev->has_received_at = 0;
	ev->sent_at_ms = ev->received_at_ms = 0;
	if (b->mode == SEG_MODE_API && ev->has_timestamp) {
		ev->has_sent_at = has_sent || b->has_sent_at;
		ev->sent_at_ms = has_sent ? sent : b->sent_at_ms;
	}
	if (b->mode == SEG_MODE_IMPORT) {
		ev->has_received_at = has_received;
		ev->received_at_ms = received;
		if (!has_timestamp && has_original && has_sent && has_received) {
			ev->has_sent_at = 1;
			ev->sent_at_ms = sent;
		}
	}
	return NULL;
}

/* What each type carries. */
static const char *read_payload(struct seg_event *ev)
{
	json_t *it = ev->item, *other;
	enum seg_id_rc rc;

	if (read_object(it, "context", &other))
		return "context: must be an object";
	if (read_object(it, "integrations", &other))
		return "integrations: must be an object";
	switch (ev->type) {
	case SEG_TRACK:
		if (read_string(it, "event", &ev->event) || !ev->event || !*ev->event)
			return "event: required, a non-empty string";
		if (strlen(ev->event) > SEG_MAX_EVENT_NAME) /* else named event.name by the hub */
			return "event: longer than 256 bytes";
		/* fall through */
	case SEG_PAGE:
	case SEG_SCREEN:
		if (read_object(it, "properties", &ev->properties))
			return "properties: must be an object";
		if (ev->type != SEG_TRACK && read_string(it, "name", &ev->name))
			return "name: must be a string";
		/* a view's category: taken when it is a string (Segment
		 * accepts anything there: another type is no reason to
		 * refuse the batch) */
		if (ev->type != SEG_TRACK)
			ev->category = json_string_value(member(it, "category"));
		break;
	case SEG_GROUP:
		rc = read_id(it, "groupId", &ev->group_id, ev->group_id_buf,
			     sizeof(ev->group_id_buf));
		if (rc || !ev->group_id)
			return SEG_ID_MESSAGE(rc, "groupId",
					      "groupId: required, a string or a number");
		/* fall through */
	case SEG_IDENTIFY:
		if (read_object(it, "traits", &ev->traits))
			return "traits: must be an object";
		break;
	case SEG_ALIAS:
		rc = read_id(it, "previousId", &ev->previous_id, ev->previous_id_buf,
			     sizeof(ev->previous_id_buf));
		if (rc || !ev->previous_id)
			return SEG_ID_MESSAGE(rc, "previousId",
					      "previousId: required, a string or a number");
		break;
	}
	return NULL;
}

int seg_event_read(json_t *item, long index, int forced, const struct seg_batch_ctx *batch,
		   struct seg_event *ev, struct seg_error *e)
{
	const char *why;

	memset(ev, 0, sizeof(*ev));
	ev->item = item;
	ev->batch = batch;
	if (!json_is_object(item)) {
		seg_error_set(e, 400, "invalid_event", index, "event: must be an object");
		return -1;
	}
	if (read_type(ev, forced, index, e))
		return -1;
	if ((why = read_ids(ev)) || (why = read_times(ev)) || (why = read_payload(ev))) {
		seg_error_set(e, 400, "invalid_event", index, "%s", why);
		return -1;
	}
	return check_context(ev, index, e);
}
