/*
 * record.c - the one validation path for canonical records (IDENTITY.md
 * sections 1, 2, 4, 5 and 9).  Both doors, a plugin's struct hub_record
 * (record_from_hub, in record_hub.c) and a canonical JSON line
 * (record_from_json, in record_json.c), fill a struct record_input and call
 * record_build(), here, which applies every rule in one pass and returns an
 * owned struct record.  The rules of single values (blocked identifiers,
 * attribute formats, consent) are record_value.c's; derived message ids are
 * record_msgid.c's.
 *
 * Ideas a reader needs:
 * - JSON payloads (attributes, consent, properties) are parsed once, by the
 *   door; the record keeps references (json_incref) into them, never copies,
 *   except the event properties and set attribute values, kept as the
 *   compact text the store writes (a third of the objects' memory, and no
 *   dump in the writer).
 * - Warnings (an invalid attribute dropped) are collected locally and handed
 *   to the caller only when the record is accepted.
 * - Every message starts with the field path and quotes at most 64 bytes of
 *   a user value (record_show).
 *
 * Never: look at the store, log, or keep state between records.  Dedupe,
 * erase blocks, limits and merges are unify.c's.
 */
#include "record_int.h"

#include "alloc.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Times a record may carry: 0001-01-01 .. 9999-12-31 (keeps sums in range). */
#define TIME_MIN_MS (-62135596800000LL)
#define TIME_MAX_MS 253402300799999LL

/* ---- record type names ------------------------------------------------- */

static const char *const type_names[] = {
	[HUB_REC_IDENTIFY] = "identify", [HUB_REC_TRACK] = "track",
	[HUB_REC_ATTRIBUTES] = "attributes", [HUB_REC_CONSENT] = "consent",
	[HUB_REC_LOGOUT] = "logout", [HUB_REC_ALIAS] = "alias",
	[HUB_REC_ERASE] = "erase",
};

const char *record_type_name(enum hub_record_type t)
{
	if ((unsigned)t >= ARRAY_SIZE(type_names))
		return NULL;
	return type_names[t];
}

int record_type_parse(const char *name, enum hub_record_type *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(type_names); i++) {
		if (name && strcmp(name, type_names[i]) == 0) {
			*out = (enum hub_record_type)i;
			return 0;
		}
	}
	return -1;
}

/* ---- warnings ---------------------------------------------------------- */

void record_warnings_clear(struct record_warnings *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		hub_free(w->items[i]);
	memset(w, 0, sizeof(*w));
}

static int HUB_PRINTF(2, 0) warnings_vadd(struct record_warnings *w, const char *fmt, va_list ap)
{
	char msg[256];

	w->total++;
	if (w->n == ARRAY_SIZE(w->items))
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	w->items[w->n] = hub_strdup(msg);
	if (!w->items[w->n])
		return -1;
	w->n++;
	return 0;
}

int record_warnings_add(struct record_warnings *w, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = warnings_vadd(w, fmt, ap);
	va_end(ap);
	return rc;
}

/* Appends `from` to `to` (which may be NULL) and empties `from`. */
static void warnings_move(struct record_warnings *from, struct record_warnings *to)
{
	for (size_t i = 0; i < from->n; i++) {
		if (to && to->n < ARRAY_SIZE(to->items))
			to->items[to->n++] = from->items[i];
		else
			hub_free(from->items[i]);
	}
	if (to)
		to->total += from->total;
	memset(from, 0, sizeof(*from));
}

/* ---- the builder -------------------------------------------------------- */

enum ident_kind {
	IDENT_NONE,
	IDENT_CUSTOM,
	IDENT_INSTALL,
	IDENT_EXTERNAL,
	IDENT_EMAIL,
	IDENT_PHONE
};

struct builder {
	const struct record_input *in;
	const struct record_rules *rules;
	int64_t now_ms;
	struct record *r;
	struct record_warnings warn; /* this record's, moved out on success */
	const char *email;           /* identifiers.email as an attribute */
	const char *phone;
	int has_custom_id_value;     /* a custom_id string, even a blocked one */
	/* the first blocked value given of each kind (borrowed from `in`): a
	 * record refused for want of an identifier says which it was sent */
	const char *blocked_custom;
	const char *blocked_install;
	const char *blocked_ext_type;
	const char *blocked_ext;
	int has_contact;             /* identifiers.email or .phone given (not external ids) */
	/* the first identifier type given with a value that is none of the
	 * hub's (an external id identity.external does not configure: an
	 * mParticle batch's mpid), named alike (borrowed from `in`) */
	const char *ignored_type;
	json_t *props;               /* track: the properties object (owned) */
	size_t cap_attrs;
	char *err;
	size_t err_size;
};

static hub_rc HUB_PRINTF(2, 3) reject(struct builder *b, const char *fmt, ...)
{
	va_list ap;

	if (b->err && b->err_size) {
		va_start(ap, fmt);
		vsnprintf(b->err, b->err_size, fmt, ap);
		va_end(ap);
	}
	return HUB_ERR_DATA;
}

static hub_rc nomem(struct builder *b)
{
	err_set(b->err, b->err_size, "out of memory");
	return HUB_ERR_NOMEM;
}

static hub_rc HUB_PRINTF(2, 3) warn(struct builder *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = warnings_vadd(&b->warn, fmt, ap);
	va_end(ap);
	return rc ? nomem(b) : HUB_OK;
}

static hub_rc copy_string(struct builder *b, char **dst, const char *s)
{
	*dst = hub_strdup(s);
	return *dst ? HUB_OK : nomem(b);
}

static enum ident_kind ident_kind(const char *type, const struct record_rules *rules,
				  const struct config_external_id **ext)
{
	if (strcmp(type, "custom_id") == 0)
		return IDENT_CUSTOM;
	if (strcmp(type, "installation_id") == 0)
		return IDENT_INSTALL;
	for (size_t i = 0; rules && i < rules->n_external_ids; i++) {
		if (strcmp(type, rules->external_ids[i].name) == 0) {
			*ext = &rules->external_ids[i];
			return IDENT_EXTERNAL;
		}
	}
	if (strcmp(type, "email") == 0)
		return IDENT_EMAIL;
	if (strcmp(type, "phone") == 0)
		return IDENT_PHONE;
	return IDENT_NONE;
}

int record_is_ident_type(const char *type, const struct record_rules *rules)
{
	const struct config_external_id *ext;

	return ident_kind(type, rules, &ext) != IDENT_NONE;
}

static hub_rc build_head(struct builder *b)
{
	const struct record_input *in = b->in;
	size_t len;

	if (!record_type_name(in->type))
		return reject(b, "type: unknown record type %d", (int)in->type);
	b->r->type = in->type;
	len = in->source ? strlen(in->source) : 0;
	if (len == 0)
		return reject(b, "source: missing");
	if (len > RECORD_SOURCE_MAX)
		return reject(b, "source: longer than %d bytes", RECORD_SOURCE_MAX);
	if (!record_utf8_valid(in->source, len))
		return reject(b, "source: not valid UTF-8");
	if (in->message_id) {
		len = strlen(in->message_id);
		if (len == 0 || len > RECORD_MESSAGE_ID_MAX)
			return reject(b, "message_id: must be 1..%d bytes", RECORD_MESSAGE_ID_MAX);
		if (!record_utf8_valid(in->message_id, len))
			return reject(b, "message_id: not valid UTF-8");
		if (copy_string(b, &b->r->message_id, in->message_id))
			return HUB_ERR_NOMEM;
	}
	if (in->origin && copy_string(b, &b->r->origin, in->origin))
		return HUB_ERR_NOMEM;
	return copy_string(b, &b->r->source, in->source);
}

/* A received_at the record carries (an import's, a plugin's) is at most
 * the clamp's 24 h ahead of the hub's clock: the clamp is measured from
 * it, and a far-future one would win last-write-wins for years. */
static hub_rc received_at_check(struct builder *b, int64_t ms)
{
	char at[32], now[32];

	if (ms < TIME_MIN_MS || ms > TIME_MAX_MS)
		return reject(b, "received_at: out of range");
	if (b->now_ms >= ms - RECORD_FUTURE_CLAMP_MS) /* ms in range: no overflow */
		return HUB_OK;
	return reject(b, "received_at: %s is more than 24 h ahead of the hub's clock (%s)",
		      time_format_ms(ms, at, sizeof(at)),
		      time_format_ms(b->now_ms, now, sizeof(now)));
}

/* received_at defaults to now, timestamp to received_at; skew correction
 * when the source knows the send time; the 24 h future clamp. */
static hub_rc build_times(struct builder *b)
{
	const struct record_input *in = b->in;
	struct record *r = b->r;
	hub_rc rc;

	r->received_at_ms = in->has_received_at ? in->received_at_ms : b->now_ms;
	if ((rc = received_at_check(b, r->received_at_ms)) != HUB_OK)
		return rc;
	if (!in->has_timestamp) {
		r->timestamp_ms = r->received_at_ms;
		return HUB_OK;
	}
	if (in->timestamp_ms < TIME_MIN_MS || in->timestamp_ms > TIME_MAX_MS)
		return reject(b, "timestamp: out of range");
	r->timestamp_ms = in->timestamp_ms;
	if (in->sent_at_ms) {
		if (in->sent_at_ms < TIME_MIN_MS || in->sent_at_ms > TIME_MAX_MS)
			return reject(b, "sent_at: out of range");
		r->timestamp_ms += r->received_at_ms - in->sent_at_ms;
		if (r->timestamp_ms < TIME_MIN_MS) /* a send time far in the future */
			return reject(b,
				      "sent_at: the clock-skew correction (received_at - sent_at)"
				      " puts the timestamp before year 1");
	}
	/* the clamp also keeps a corrected time inside the range: a receive
	 * time near year 9999 plus a skew of hours would pass it */
	if (r->timestamp_ms > r->received_at_ms + RECORD_FUTURE_CLAMP_MS ||
	    r->timestamp_ms > TIME_MAX_MS)
		r->timestamp_ms = r->received_at_ms;
	return HUB_OK;
}

/* Sets a single-valued identifier; a second, different value rejects. */
static hub_rc ident_set_once(struct builder *b, const char *type, char **dst,
			     const char *value)
{
	if (*dst)
		return strcmp(*dst, value) == 0
			       ? HUB_OK
			       : reject(b, "identifiers.%s: given twice with different values",
					type);
	return copy_string(b, dst, value);
}

static hub_rc contact_set_once(struct builder *b, const char *type, const char **dst,
			       const char *value)
{
	if (*dst && strcmp(*dst, value) != 0)
		return reject(b, "identifiers.%s: given twice with different values", type);
	*dst = value;
	return HUB_OK;
}

static hub_rc external_add(struct builder *b, const struct config_external_id *ext,
			   const char *value)
{
	struct record *r = b->r;
	struct record_ident *x;

	for (size_t i = 0; i < r->n_externals; i++)
		if (strcmp(r->externals[i].type, ext->name) == 0 &&
		    strcmp(r->externals[i].value, value) == 0)
			return HUB_OK;
	if (!r->externals) { /* room for every identifier of the record */
		r->externals = hub_calloc(b->in->n_idents, sizeof(*r->externals));
		if (!r->externals)
			return nomem(b);
	}
	x = &r->externals[r->n_externals];
	x->type = hub_strdup(ext->name);
	x->value = hub_strdup(value);
	x->priority = ext->priority;
	x->limit = ext->limit;
	r->n_externals++; /* counted now so record_free releases a half-built one */
	if (!x->type || !x->value)
		return nomem(b);
	return HUB_OK;
}

#define NO_IDENTIFIER "identifiers: no usable identifier"

/* A blocked identifier is absent (IDENTITY.md section 1); remembered only
 * to name it if the record is refused for want of one. */
static hub_rc blocked_note(struct builder *b, enum ident_kind kind, const struct hub_ident *id)
{
	if (kind == IDENT_CUSTOM && !b->blocked_custom)
		b->blocked_custom = id->value;
	else if (kind == IDENT_INSTALL && !b->blocked_install)
		b->blocked_install = id->value;
	else if (kind == IDENT_EXTERNAL && !b->blocked_ext) {
		b->blocked_ext_type = id->type;
		b->blocked_ext = id->value;
	}
	return HUB_OK;
}

/* "" or, when the identifier was given as a blocked value, what says so:
 * ` ("null" is a blocked value, so absent)` (shown in buf). */
static const char *blocked_why(char buf[RECORD_SHOW_SIZE + 48], const char *value)
{
	char shown[RECORD_SHOW_SIZE];

	if (!value)
		return "";
	snprintf(buf, RECORD_SHOW_SIZE + 48, " (\"%s\" is a blocked value, so absent)",
		 record_show(shown, value));
	return buf;
}

static hub_rc ident_take(struct builder *b, const struct hub_ident *id)
{
	const struct config_external_id *ext = NULL;
	enum ident_kind kind = ident_kind(id->type, b->rules, &ext);
	char shown[RECORD_SHOW_SIZE];
	size_t len;

	if (!id->value)
		return HUB_OK;
	if (kind == IDENT_NONE) {
		if (!b->ignored_type)
			b->ignored_type = id->type;
		return HUB_OK;
	}
	len = strlen(id->value);
	if (kind == IDENT_CUSTOM)
		b->has_custom_id_value = 1;
	/* every identifier, not only custom_id: a longer value would be a key
	 * PostgreSQL's index refuses at commit, a record never stored */
	if (len > RECORD_IDENT_MAX && kind != IDENT_EMAIL && kind != IDENT_PHONE)
		return reject(b, "identifiers.%s: longer than %d bytes",
			      record_show(shown, id->type), RECORD_IDENT_MAX);
	if (!record_utf8_valid(id->value, len))
		return reject(b, "identifiers.%s: not valid UTF-8", record_show(shown, id->type));
	if (record_value_is_blocked(id->value, b->rules))
		return blocked_note(b, kind, id);
	switch (kind) {
	case IDENT_CUSTOM:
		return ident_set_once(b, "custom_id", &b->r->custom_id, id->value);
	case IDENT_INSTALL:
		return ident_set_once(b, "installation_id", &b->r->installation_id, id->value);
	case IDENT_EXTERNAL:
		return external_add(b, ext, id->value);
	case IDENT_EMAIL:
		b->has_contact = 1;
		return contact_set_once(b, "email", &b->email, id->value);
	case IDENT_PHONE:
		b->has_contact = 1;
		return contact_set_once(b, "phone", &b->phone, id->value);
	case IDENT_NONE:
		break;
	}
	return HUB_OK;
}

static int external_cmp(const void *pa, const void *pb)
{
	const struct record_ident *a = pa, *b = pb;
	int c;

	if (a->priority != b->priority)
		return a->priority < b->priority ? -1 : 1;
	c = strcmp(a->type, b->type);
	return c ? c : strcmp(a->value, b->value);
}

static hub_rc build_idents(struct builder *b)
{
	const struct record_input *in = b->in;
	hub_rc rc;

	for (size_t i = 0; i < in->n_idents; i++) {
		if (!in->idents[i].type)
			return reject(b, "identifiers[%zu]: type missing", i);
		if ((rc = ident_take(b, &in->idents[i])))
			return rc;
	}
	if (b->r->n_externals > 1)
		qsort(b->r->externals, b->r->n_externals, sizeof(*b->r->externals), external_cmp);
	return HUB_OK;
}

static void externals_drop(struct record *r)
{
	for (size_t i = 0; i < r->n_externals; i++) {
		hub_free(r->externals[i].type);
		hub_free(r->externals[i].value);
	}
	hub_free(r->externals);
	r->externals = NULL;
	r->n_externals = 0;
}

/* A logout (logout record, or identify with custom_id null) looks only at
 * the installation. */
static hub_rc rules_logout(struct builder *b)
{
	struct record *r = b->r;
	char why[RECORD_SHOW_SIZE + 48];

	if (r->type == HUB_REC_IDENTIFY && b->has_custom_id_value)
		return reject(b, "identifiers.custom_id: both null and a value");
	r->is_logout = 1;
	hub_free(r->custom_id);
	r->custom_id = NULL;
	externals_drop(r);
	b->email = b->phone = NULL; /* either form looks only at the installation */
	if (!r->installation_id)
		return reject(b, "identifiers.installation_id: required for logout%s",
			      blocked_why(why, b->blocked_install));
	return HUB_OK;
}

/* previous_id -> custom_id; the installation and contact points are ignored. */
static hub_rc rules_alias(struct builder *b)
{
	struct record *r = b->r;
	const char *prev = b->in->previous_id;
	char why[RECORD_SHOW_SIZE + 48];
	size_t len;

	hub_free(r->installation_id);
	r->installation_id = NULL;
	b->email = b->phone = NULL;
	if (!r->custom_id)
		return reject(b, "identifiers.custom_id: required for alias%s",
			      blocked_why(why, b->blocked_custom));
	if (!prev)
		return HUB_OK;
	len = strlen(prev);
	if (len > RECORD_IDENT_MAX)
		return reject(b, "previous_id: longer than %d bytes", RECORD_IDENT_MAX);
	if (!record_utf8_valid(prev, len))
		return reject(b, "previous_id: not valid UTF-8");
	if (record_value_is_blocked(prev, b->rules))
		return HUB_OK;
	return copy_string(b, &r->previous_id, prev);
}

/* No usable identifier: saying why when the record gave one that does not
 * count: the first blocked value (a warehouse row whose user_id is 0, a
 * client sending "undefined"), a type identity.external does not configure
 * (an mParticle batch of an mpid alone, the hub keeping no mpid), or an
 * email or phone, which are contact points (IDENTITY.md section 1), not
 * merge keys. */
static hub_rc reject_no_identifier(struct builder *b)
{
	const char *type = b->blocked_custom    ? "custom_id"
			   : b->blocked_install ? "installation_id"
						: b->blocked_ext_type;
	const char *value = b->blocked_custom ? b->blocked_custom
			    : b->blocked_install ? b->blocked_install
						 : b->blocked_ext;
	char shown_type[RECORD_SHOW_SIZE], shown[RECORD_SHOW_SIZE];

	if (value)
		return reject(b, NO_IDENTIFIER ": identifiers.%s \"%s\" is a blocked value, so absent",
			      record_show(shown_type, type), record_show(shown, value));
	if (b->ignored_type)
		return reject(b, NO_IDENTIFIER ": identifiers.%s is none of custom_id,"
				 " installation_id or an external id identity.external"
				 " configures, so ignored",
			      record_show(shown_type, b->ignored_type));
	if (b->has_contact)
		return reject(b, NO_IDENTIFIER ": email and phone are contact points, not identifiers"
				 " (unless identity.external names them)");
	return reject(b, NO_IDENTIFIER " (custom_id, installation_id or an external id)");
}

static hub_rc build_type_rules(struct builder *b)
{
	struct record *r = b->r;

	if (r->type == HUB_REC_LOGOUT || (r->type == HUB_REC_IDENTIFY && b->in->custom_id_is_null))
		return rules_logout(b);
	if (r->type == HUB_REC_ALIAS)
		return rules_alias(b);
	if (r->type == HUB_REC_ERASE)
		b->email = b->phone = NULL;
	if (!r->custom_id && !r->installation_id && r->n_externals == 0)
		return reject_no_identifier(b);
	return HUB_OK;
}

/* Push belongs to an installation (unify.c stores it with install_touch):
 * a record with push_enabled and none to store it on keeps the value (its
 * derived message_id reads it) and says it is not stored.  An alias's
 * installation is its previous_id (when no profile holds it as a custom_id,
 * known only when it applies); an erasure stores nothing anyway. */
static hub_rc push_check_installation(struct builder *b)
{
	const struct record *r = b->r;

	if (r->push_enabled < 0 || r->type == HUB_REC_ERASE)
		return HUB_OK;
	if (r->type == HUB_REC_ALIAS)
		return r->previous_id && strcmp(r->previous_id, r->custom_id) != 0
			       ? HUB_OK
			       : warn(b, "push_enabled: not stored: the alias names no installation"
					 " (a previous_id other than its custom_id)");
	if (!r->installation_id)
		return warn(b, "push_enabled: not stored: the record has no installation_id");
	return HUB_OK;
}

static hub_rc build_device(struct builder *b)
{
	static const char *const platforms[] = {"ios", "android", "web", "server"};
	const struct record_input *in = b->in;
	hub_rc rc;

	if (in->push_enabled < -1 || in->push_enabled > 1)
		return reject(b, "push_enabled: must be -1, 0 or 1");
	b->r->push_enabled = in->push_enabled;
	if ((rc = push_check_installation(b)))
		return rc;
	if (in->is_platform_invalid)
		return warn(b, "platform: must be ios, android, web or server");
	if (!in->platform)
		return HUB_OK;
	for (size_t i = 0; i < ARRAY_SIZE(platforms); i++) {
		if (strcmp(in->platform, platforms[i]) == 0) {
			b->r->platform = platforms[i]; /* static: no copy per record */
			return HUB_OK;
		}
	}
	return warn(b, "platform: must be ios, android, web or server");
}

/* ---- payloads -------------------------------------------------------- */

static int attr_exists(const struct record *r, const char *key)
{
	for (size_t i = 0; i < r->n_attrs; i++)
		if (strcmp(r->attrs[i].key, key) == 0)
			return 1;
	return 0;
}

/* The largest number HUB_JSON_REAL writes that reads back: from
 * 1.797693134862315e308 up, 15 digits round past DBL_MAX (a stored value
 * the store could not read again: its event's properties were lost). */
#define REAL_STORED_MAX 1.79769313486231e308

/* Numbers are kept to 15 significant digits; past the largest that reads
 * back they become it, as every other number is rounded. */
static void reals_clamp(json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d > REAL_STORED_MAX || d < -REAL_STORED_MAX)
			json_real_set(v, d > 0 ? REAL_STORED_MAX : -REAL_STORED_MAX);
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, item)
			reals_clamp(item);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			reals_clamp(item);
	}
}

/* Appends a valid attribute: a set value as its text, array ops as new
 * references to their JSON. */
static hub_rc attr_push(struct builder *b, const char *key, json_t *value,
			const struct attr_verdict *v)
{
	struct record_attr *a = &b->r->attrs[b->r->n_attrs];

	a->key = hub_strdup(key);
	if (!a->key)
		return nomem(b);
	b->r->n_attrs++; /* from here on, record_free frees what it holds */
	a->op = v->op;
	a->type = v->type;
	if (v->op == ATTR_OP_SET) {
		reals_clamp(value);
		a->value_json =
			json_dumps_whole(value, JSON_COMPACT | JSON_ENCODE_ANY | HUB_JSON_REAL);
		if (!a->value_json)
			return nomem(b);
	}
	if (v->op == ATTR_OP_ARRAY) {
		a->add = json_incref(v->add);
		a->remove = json_incref(v->remove);
	}
	return HUB_OK;
}

/* $email_address / $phone_number set to a blocked value: as given in
 * identifiers.email / .phone, where blocked values are absent (IDENTITY.md
 * 1), so the same address is not kept through one door and dropped
 * through the other. */
static int is_blocked_contact(const struct builder *b, const char *key, json_t *value)
{
	return (strcmp(key, "$email_address") == 0 || strcmp(key, "$phone_number") == 0) &&
	       json_is_string(value) && record_value_is_blocked(json_string_value(value), b->rules);
}

static hub_rc attrs_read(struct builder *b, json_t *attrs)
{
	char shown[RECORD_SHOW_SIZE];
	struct attr_verdict v;
	const char *key, *why;
	json_t *value;
	hub_rc rc;

	if (!attrs || json_is_null(attrs))
		return HUB_OK;
	if (!json_is_object(attrs))
		return reject(b, "attributes: must be an object");
	json_object_foreach(attrs, key, value) {
		why = record_attr_check(key, value, &v);
		if (!why && is_blocked_contact(b, key, value))
			why = "a blocked value (identity.blocked_values), not stored";
		if (why)
			rc = warn(b, "attributes.%s: %s", record_show(shown, key), why);
		else
			rc = attr_push(b, key, value, &v);
		if (rc)
			return rc;
	}
	return HUB_OK;
}

/* identifiers.email / .phone set $email_address / $phone_number, unless the
 * record's attributes set them too (those win). */
static hub_rc contact_attr(struct builder *b, const char *key, const char *field,
			   const char *text)
{
	struct attr_verdict v;
	const char *why;
	json_t *value;
	hub_rc rc;

	if (!text || attr_exists(b->r, key))
		return HUB_OK;
	value = json_string(text);
	if (!value)
		return nomem(b);
	why = record_attr_check(key, value, &v);
	if (why)
		rc = warn(b, "identifiers.%s: %s", field, why);
	else
		rc = attr_push(b, key, value, &v);
	json_decref(value);
	return rc;
}

/* Every key is a channel: a known one's bad value, and any other key (a
 * misspelt channel would drop an opt-out unseen), is a warning. */
static hub_rc consent_read(struct builder *b, json_t *consent)
{
	static const char *const channels[] = {"email_marketing", "sms_marketing"};
	enum consent_state *states[] = {&b->r->email_marketing, &b->r->sms_marketing};
	char shown[RECORD_SHOW_SIZE];
	const char *key, *why;
	json_t *value;
	size_t i;
	hub_rc rc;

	if (!consent || json_is_null(consent))
		return HUB_OK;
	if (!json_is_object(consent))
		return reject(b, "consent: must be an object");
	json_object_foreach(consent, key, value) {
		for (i = 0; i < ARRAY_SIZE(channels) && strcmp(key, channels[i]) != 0; i++)
			;
		if (i == ARRAY_SIZE(channels))
			why = "unknown channel (the channels are email_marketing and"
			      " sms_marketing), not stored";
		else
			why = record_consent_check(value, states[i]);
		if (why && (rc = warn(b, "consent.%s: %s", record_show(shown, key), why)))
			return rc;
	}
	return HUB_OK;
}

static hub_rc event_read(struct builder *b)
{
	const char *name = b->in->event_name;
	json_t *props = b->in->properties;
	size_t len;

	if (!name)
		return reject(b, "event.name: missing");
	len = strlen(name);
	if (len == 0)
		return reject(b, "event.name: empty");
	if (len > RECORD_EVENT_NAME_MAX)
		return reject(b, "event.name: longer than %d bytes", RECORD_EVENT_NAME_MAX);
	if (!record_utf8_valid(name, len))
		return reject(b, "event.name: not valid UTF-8");
	if (props && !json_is_null(props) && !json_is_object(props))
		return reject(b, "event.properties: must be an object");
	if (copy_string(b, &b->r->event_name, name))
		return HUB_ERR_NOMEM;
	b->props = props && !json_is_null(props) ? json_incref(props) : json_object();
	return b->props ? HUB_OK : nomem(b);
}

static hub_rc build_payload(struct builder *b)
{
	const struct record_input *in = b->in;
	struct record *r = b->r;
	hub_rc rc;

	b->cap_attrs = 2; /* room for the contact points */
	if (record_reads_attributes(r->type) && json_is_object(in->attributes))
		b->cap_attrs += json_object_size(in->attributes);
	if (b->email || b->phone || b->cap_attrs > 2) {
		r->attrs = hub_calloc(b->cap_attrs, sizeof(*r->attrs));
		if (!r->attrs)
			return nomem(b);
	}
	if (record_reads_attributes(r->type) && (rc = attrs_read(b, in->attributes)))
		return rc;
	if ((rc = contact_attr(b, "$email_address", "email", b->email)) ||
	    (rc = contact_attr(b, "$phone_number", "phone", b->phone)))
		return rc;
	if (record_reads_consent(r->type) && (rc = consent_read(b, in->consent)))
		return rc;
	if (r->type == HUB_REC_TRACK)
		return event_read(b);
	return HUB_OK;
}

static hub_rc build_message_id(struct builder *b)
{
	char id[RECORD_DERIVED_ID_SIZE];

	if (b->r->message_id)
		return HUB_OK;
	if (record_derive_message_id(b->in, b->r, b->email, b->phone, b->props, id) != 0)
		return nomem(b);
	return copy_string(b, &b->r->message_id, id);
}

/* Last, once the message id is derived from the object: the properties
 * as the text the store keeps. */
static hub_rc build_properties_text(struct builder *b)
{
	if (!b->props)
		return HUB_OK;
	reals_clamp(b->props);
	b->r->properties_json = json_dumps_whole(b->props, JSON_COMPACT | HUB_JSON_REAL);
	return b->r->properties_json ? HUB_OK : nomem(b);
}

hub_rc record_build(const struct record_input *in, const struct record_rules *rules,
		    int64_t now_ms, struct record **out, struct record_warnings *warnings,
		    char *err, size_t err_size)
{
	struct builder b = {
		.in = in, .rules = rules, .now_ms = now_ms, .err = err, .err_size = err_size,
		.ignored_type = in->ignored_ident_type,
	};
	hub_rc rc;

	*out = NULL;
	b.r = hub_calloc(1, sizeof(*b.r));
	if (!b.r)
		return nomem(&b);
	b.r->push_enabled = -1;
	if ((rc = build_head(&b)) || (rc = build_times(&b)) || (rc = build_idents(&b)) ||
	    (rc = build_type_rules(&b)) || (rc = build_device(&b)) ||
	    (rc = build_payload(&b)) || (rc = build_message_id(&b)) ||
	    (rc = build_properties_text(&b)))
		goto fail;
	json_decref(b.props);
	warnings_move(&b.warn, warnings);
	*out = b.r;
	return HUB_OK;
fail:
	json_decref(b.props);
	record_warnings_clear(&b.warn);
	record_free(b.r);
	return rc;
}

hub_rc record_erase_of_profile(const char *profile_id, const char *request_id, int64_t now_ms,
			       struct record **out, char *err, size_t err_size)
{
	struct record *r = hub_calloc(1, sizeof(*r));

	*out = NULL;
	if (r) {
		r->type = HUB_REC_ERASE;
		r->timestamp_ms = r->received_at_ms = now_ms;
		r->push_enabled = -1;
		r->source = hub_strdup("privacy");
		r->message_id = hub_strdup(request_id);
		r->profile_id = hub_strdup(profile_id);
	}
	if (!r || !r->source || !r->message_id || !r->profile_id) {
		record_free(r);
		err_set(err, err_size, "out of memory");
		return HUB_ERR_NOMEM;
	}
	*out = r;
	return HUB_OK;
}

void record_free(struct record *r)
{
	if (!r)
		return;
	hub_free(r->source);
	hub_free(r->message_id);
	hub_free(r->custom_id);
	hub_free(r->installation_id);
	externals_drop(r);
	hub_free(r->previous_id);
	hub_free(r->profile_id);
	for (size_t i = 0; i < r->n_attrs; i++) {
		hub_free(r->attrs[i].key);
		free(r->attrs[i].value_json); /* json_dumps' */
		json_decref(r->attrs[i].add);
		json_decref(r->attrs[i].remove);
	}
	hub_free(r->attrs);
	hub_free(r->event_name);
	free(r->properties_json); /* json_dumps' */
	hub_free(r->origin);
	hub_free(r);
}
