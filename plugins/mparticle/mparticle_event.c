/*
 * mparticle_event.c - reads one event of an mParticle batch
 * ({"event_type": "...", "data": {...}}) into a struct mp_event and checks
 * the fields its mapping reads: the type (one of mParticle's), the time,
 * the message id, custom_attributes, and what each mapped type needs
 * (event_name, screen_name, a product action's shape, push registration).
 * Nothing is emitted or allocated here.
 *
 * Types with no record of their own (crash_report, breadcrumb,
 * application_state_transition, validation_result, ...) are read, checked
 * alike and ignored;
 * a type mParticle does not define is refused, as the Events API does.
 *
 * user_identity_change (mParticle's UserIdentityChangeEvent) carries
 * data.new and data.old, each {identity_type, identity,
 * timestamp_unixtime_ms, created_this_batch}: both name one identity type.
 * For customer_id, a new identity is a login and an old one with no new
 * one (null, absent or "") a logout; see mp_event_change().
 *
 * user_attribute_change (mParticle's UserAttributeChangeEvent) carries
 * data.user_attribute_name, new, old and deleted.  The batch's
 * user_attributes already hold every value the user has; what they cannot
 * say is a removal (mParticle's webhook output just leaves the key out),
 * so only "deleted": true counts: it names the attribute to delete.
 */
#include "mparticle.h"

#include <stdio.h>
#include <string.h>

struct mp_type {
	const char *name;
	enum mp_kind kind;
};

static const struct mp_type mp_types[] = {
	{"custom_event", MP_CUSTOM},
	{"screen_view", MP_SCREEN},
	{"commerce_event", MP_COMMERCE},
	{"session_start", MP_SESSION_START},
	{"session_end", MP_SESSION_END},
	{"push_registration", MP_PUSH},
	{"unknown", MP_IGNORED},
	{"crash_report", MP_IGNORED},
	{"opt_out", MP_OPT_OUT},
	{"first_run", MP_IGNORED},
	{"pre_attribution", MP_IGNORED},
	{"application_state_transition", MP_IGNORED},
	{"push_message", MP_IGNORED},
	{"push_reaction", MP_IGNORED},
	{"network_performance", MP_IGNORED},
	{"breadcrumb", MP_IGNORED},
	{"profile", MP_IGNORED},
	{"user_attribute_change", MP_ATTRIBUTE_CHANGE},
	{"user_identity_change", MP_IDENTITY_CHANGE},
	{"uninstall", MP_IGNORED},
	{"media", MP_IGNORED},
	/* a data plan's verdict on an event, which the webhook output sends
	 * with "Send Validation Results" (mParticle's EventTypeEnum) */
	{"validation_result", MP_IGNORED},
};

/* A member, with JSON null read as absent. */
static json_t *ev_member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/* An optional string of at most MP_MAX_TEXT bytes; "" is absent. */
static const char *ev_text(json_t *obj, const char *key, const char **out)
{
	json_t *v = ev_member(obj, key);

	*out = NULL;
	if (!v)
		return NULL;
	if (!json_is_string(v))
		return "must be a string";
	if (json_string_length(v) > MP_MAX_TEXT)
		return "longer than 256 bytes";
	if (json_string_length(v) > 0)
		*out = json_string_value(v);
	return NULL;
}

/* A required, non-empty name of at most MP_MAX_TEXT bytes. */
static const char *ev_name(json_t *obj, const char *key, const char **out)
{
	const char *why = ev_text(obj, key, out);

	if (why)
		return why;
	return *out ? NULL : "required, a non-empty string";
}

/* custom_event's event_name, screen_view's screen_name: required and
 * non-empty.  mParticle cuts an S2S event name past its limit (256
 * characters) rather than refusing the batch ("For S2S data, names
 * exceeding the limit will be truncated", Default Service Limits): a name
 * past MP_MAX_TEXT bytes (the hub's limit) is cut at the last whole UTF-8
 * character that fits, into ev->name_buf. */
static const char *ev_event_name(json_t *obj, const char *key, struct mp_event *ev)
{
	json_t *v = ev_member(obj, key);
	const char *s = json_string_value(v);
	size_t cut = MP_MAX_TEXT;

	ev->name = NULL;
	if (v && !s)
		return "must be a string";
	if (!s || !*s)
		return "required, a non-empty string";
	if (json_string_length(v) <= MP_MAX_TEXT) {
		ev->name = s;
		return NULL;
	}
	while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
		cut--; /* s[cut] continues a character: cut before it */
	memcpy(ev->name_buf, s, cut);
	ev->name_buf[cut] = '\0';
	ev->name = ev->name_buf;
	return NULL;
}

static int ev_type_of(json_t *v, size_t v_len, const char *name)
{
	return strlen(name) == v_len && memcmp(json_string_value(v), name, v_len) == 0;
}

/* NULL, or the error code with why filled. */
static const char *ev_read_type(struct mp_event *ev, char *why, size_t why_size)
{
	json_t *v = ev_member(ev->item, "event_type");
	size_t len;

	if (!v) {
		snprintf(why, why_size, "event_type: missing");
		return "missing_field";
	}
	if (!json_is_string(v)) {
		snprintf(why, why_size, "event_type: must be a string");
		return "invalid_event";
	}
	len = json_string_length(v);
	for (size_t i = 0; i < sizeof(mp_types) / sizeof(mp_types[0]); i++) {
		if (ev_type_of(v, len, mp_types[i].name)) {
			ev->kind = mp_types[i].kind;
			return NULL;
		}
	}
	/* %.40s: a message never grows with the input */
	snprintf(why, why_size, "event_type: unknown type \"%.40s\"", json_string_value(v));
	return "unknown_type";
}

/* commerce_event: the product action, promotions and impressions. */
static const char *ev_commerce(json_t *data, const char **field)
{
	json_t *action = ev_member(data, "product_action"), *v, *product;
	size_t i;

	*field = "data.product_action";
	if (action && !json_is_object(action))
		return "must be an object";
	if (action) {
		*field = "data.product_action.action";
		if (!json_is_string(json_object_get(action, "action")))
			return "required, a string";
		*field = "data.product_action.products";
		v = ev_member(action, "products");
		if (v && !json_is_array(v))
			return "must be an array";
		json_array_foreach(v, i, product) {
			if (!json_is_object(product))
				return "must be an array of objects";
		}
	}
	*field = "data.promotion_action";
	v = ev_member(data, "promotion_action");
	if (v && !json_is_object(v))
		return "must be an object";
	*field = "data.product_impressions";
	v = ev_member(data, "product_impressions");
	if (v && !json_is_array(v))
		return "must be an array";
	*field = "data.currency_code";
	v = ev_member(data, "currency_code");
	if (v && !json_is_string(v))
		return "must be a string";
	return NULL;
}

/* The members of data.new / data.old, to name the one at fault. */
struct ev_side_fields {
	const char *side, *identity_type, *identity, *timestamp, *created;
};

static const struct ev_side_fields ev_new_fields = {
	"data.new", "data.new.identity_type", "data.new.identity",
	"data.new.timestamp_unixtime_ms", "data.new.created_this_batch"};
static const struct ev_side_fields ev_old_fields = {
	"data.old", "data.old.identity_type", "data.old.identity",
	"data.old.timestamp_unixtime_ms", "data.old.created_this_batch"};

/* One side of an identity change: NULL (absent or null) or
 * {identity_type, identity, timestamp_unixtime_ms, created_this_batch}.
 * *type_name: its identity_type, or NULL when the side is absent. */
static const char *ev_change_side(json_t *side, const struct ev_side_fields *f,
				  const char **type_name, const char **identity, char *num,
				  int64_t *ms, const char **field)
{
	json_t *v;

	*type_name = *identity = NULL;
	*ms = MP_TIME_NONE;
	if (!side)
		return NULL;
	*field = f->side;
	if (!json_is_object(side))
		return "must be an object";
	*field = f->identity_type;
	v = ev_member(side, "identity_type");
	if (!json_is_string(v) || json_string_length(v) == 0)
		return "required, a non-empty string";
	*type_name = json_string_value(v);
	*field = f->identity;
	if (mp_identity_value(json_object_get(side, "identity"), identity, num))
		return "must be a string, an integer or null";
	*field = f->timestamp;
	if (mp_read_time(side, "timestamp_unixtime_ms", ms))
		return "must be a time in ms since the epoch (an integer)";
	*field = f->created;
	v = ev_member(side, "created_this_batch");
	if (v && !json_is_boolean(v))
		return "must be a boolean";
	return NULL;
}

/* user_identity_change: data.new and data.old of one identity type. */
static const char *ev_identity_change(struct mp_event *ev, const char **field)
{
	json_t *data = ev->data, *new_side, *old_side;
	const char *new_type, *old_type, *why, *mapped_new, *mapped_old;
	int64_t old_ms;

	*field = "data";
	if (!data)
		return "required for user_identity_change: an object with \"new\" and \"old\"";
	new_side = ev_member(data, "new");
	old_side = ev_member(data, "old");
	if (!new_side && !old_side)
		return "\"new\" or \"old\" required: {identity_type, identity}";
	if ((why = ev_change_side(new_side, &ev_new_fields, &new_type, &ev->new_identity,
				  ev->new_num, &ev->new_ms, field)) ||
	    (why = ev_change_side(old_side, &ev_old_fields, &old_type, &ev->old_identity,
				  ev->old_num, &old_ms, field)))
		return why;
	mapped_new = new_type ? mp_identity_type(new_type) : NULL;
	mapped_old = old_type ? mp_identity_type(old_type) : NULL;
	/* one change is of one identity ("customer_id" and the Node SDK's
	 * "customerid" are one) */
	if (new_type && old_type &&
	    (!mapped_new != !mapped_old ||
	     strcmp(mapped_new ? mapped_new : new_type, mapped_old ? mapped_old : old_type))) {
		*field = "data.old.identity_type";
		return "must be the identity type of data.new.identity_type";
	}
	ev->change_type = mapped_new ? mapped_new : mapped_old;
	return NULL;
}

enum mp_change mp_event_change(const struct mp_event *ev)
{
	if (ev->kind != MP_IDENTITY_CHANGE || !ev->change_type ||
	    strcmp(ev->change_type, "custom_id") != 0)
		return MP_CHANGE_NONE;
	if (ev->new_identity)
		return MP_CHANGE_LOGIN;
	return ev->old_identity ? MP_CHANGE_LOGOUT : MP_CHANGE_NONE;
}

/* user_attribute_change: data.deleted, a boolean when present; true needs
 * data.user_attribute_name, the attribute removed.  false or absent: the
 * new value is in the batch's user_attributes, nothing more to read. */
static const char *ev_attribute_change(struct mp_event *ev, const char **field)
{
	json_t *deleted = ev_member(ev->data, "deleted");

	*field = "data.deleted";
	if (deleted && !json_is_boolean(deleted))
		return "must be a boolean";
	if (!json_is_true(deleted))
		return NULL;
	*field = "data.user_attribute_name";
	return ev_name(ev->data, "user_attribute_name", &ev->deleted_attribute);
}

/* What each kind needs.  Sets *field to the member at fault. */
static const char *ev_read_kind(struct mp_event *ev, const char **field)
{
	json_t *data = ev->data, *v;

	switch (ev->kind) {
	case MP_CUSTOM:
		*field = "data.event_name";
		return ev_event_name(data, "event_name", ev);
	case MP_SCREEN:
		*field = "data.screen_name";
		return ev_event_name(data, "screen_name", ev);
	case MP_COMMERCE:
		return ev_commerce(data, field);
	case MP_PUSH:
		*field = "data.register";
		v = ev_member(data, "register");
		if (v && !json_is_boolean(v))
			return "must be a boolean";
		ev->push_enabled = v ? json_is_true(v) : 1;
		return NULL;
	case MP_OPT_OUT:
		*field = "data.is_opted_out";
		v = ev_member(data, "is_opted_out");
		if (v && !json_is_boolean(v))
			return "must be a boolean";
		ev->opted_out = v ? json_is_true(v) : -1;
		return NULL;
	case MP_IDENTITY_CHANGE:
		return ev_identity_change(ev, field);
	case MP_ATTRIBUTE_CHANGE:
		return ev_attribute_change(ev, field);
	case MP_SESSION_START:
	case MP_SESSION_END:
	case MP_IGNORED:
		break;
	}
	return NULL;
}

const char *mp_event_read(json_t *item, struct mp_event *ev, char *why, size_t why_size)
{
	const char *field = NULL, *bad, *code;
	json_t *v;

	memset(ev, 0, sizeof(*ev));
	ev->item = item;
	ev->push_enabled = ev->opted_out = -1;
	ev->timestamp_ms = ev->new_ms = MP_TIME_NONE;
	if (!json_is_object(item)) {
		snprintf(why, why_size, ": must be an object");
		return "invalid_event";
	}
	if ((code = ev_read_type(ev, why, why_size)))
		return code;
	v = ev_member(item, "data");
	if (v && !json_is_object(v)) {
		snprintf(why, why_size, "data: must be an object");
		return "invalid_event";
	}
	ev->data = v;
	if (mp_read_time(v, "timestamp_unixtime_ms", &ev->timestamp_ms)) {
		snprintf(why, why_size, "data.timestamp_unixtime_ms: must be a time in ms since "
					"the epoch (an integer)");
		return "invalid_event";
	}
	/* the webhook's message_id wins over the client's source_message_id */
	if ((bad = ev_text(item, "message_id", &ev->message_id))) {
		field = "message_id";
		goto fail;
	}
	if (!ev->message_id &&
	    (bad = ev_text(v, "source_message_id", &ev->message_id))) {
		field = "data.source_message_id";
		goto fail;
	}
	ev->custom_attributes = ev_member(v, "custom_attributes");
	if (ev->custom_attributes && !json_is_object(ev->custom_attributes)) {
		field = "data.custom_attributes";
		bad = "must be an object";
		goto fail;
	}
	if ((bad = ev_read_kind(ev, &field)))
		goto fail;
	return NULL;
fail:
	snprintf(why, why_size, "%s: %s", field, bad);
	return "invalid_event";
}
