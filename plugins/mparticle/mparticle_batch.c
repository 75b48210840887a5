/*
 * mparticle_batch.c - reads one mParticle batch into a struct mp_batch and
 * checks every field the mapping reads (mparticle_map.c), then every event
 * (mparticle_event.c).  Nothing is emitted or allocated here.
 *
 *   user_identities   an object {"customer_id": "C1", "email": ...} (the
 *                     Events API; the Node SDK says "customerid") or an
 *                     array [{"identity_type", "identity"}] (mParticle's
 *                     outbound webhook): both are read everywhere
 *   mpid              a JSON integer or its decimal text: int64, exact
 *   device ids        device_info.ios_idfv, device_info.android_uuid, the
 *                     batch's mp_deviceid: the first usable one is the
 *                     installation (an all-zero IDFV, as iOS sends when
 *                     tracking is limited, is not usable)
 *   platform          device_info.platform, else application_info.os, else
 *                     the kind of device id (IDFV: ios, Android UUID: android)
 *   consent_state     gdpr purposes mapped to a channel (gdpr_purposes,
 *                     case-insensitive: mparticle_consent.c; others are
 *                     logged once per name) and ccpa.data_sale_opt_out,
 *                     each with its own time
 *   a logout          a user_identity_change that removes the customer_id
 *                     logs the batch's device out: refused without one
 *   environment       "development" (any case) marks a development batch;
 *                     absent, null, "production" or any other string is
 *                     production (mParticle's default when it is absent)
 *
 * Unknown keys are ignored, JSON null is read as absent.
 */
#include "mparticle.h"

#include "../common/text.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MP_TIME_MAX 253402300799999LL /* 9999-12-31T23:59:59.999Z */

void mp_error_set(struct mp_error *e, int status, const char *code, long index,
		  const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->code = code;
	e->index = index;
	e->event_index = -1;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

/* A batch-level error: "user_identities: ..." or "batches[2].user_identities: ...". */
static int batch_fail(struct mp_error *e, long index, const char *code, const char *field,
		      const char *why)
{
	if (index < 0)
		mp_error_set(e, 400, code, -1, "%s: %s", field, why);
	else
		mp_error_set(e, 400, code, index, "batches[%ld].%s: %s", index, field, why);
	return -1;
}

/* An event's error: index names the event (one batch) or the batch (bulk,
 * with event_index).  `why` is "field: what is wrong", or for the event
 * itself ": what is wrong". */
static int event_fail(struct mp_error *e, long index, size_t i, const char *code,
		      const char *why)
{
	const char *dot = why[0] == ':' ? "" : ".";

	if (index < 0) {
		mp_error_set(e, 400, code, (long)i, "events[%zu]%s%s", i, dot, why);
	} else {
		mp_error_set(e, 400, code, index, "batches[%ld].events[%zu]%s%s", index, i, dot,
			     why);
		e->event_index = (long)i;
	}
	return -1;
}

/* ---- values ----------------------------------------------------------- */

static json_t *b_member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

int mp_read_time(json_t *obj, const char *key, int64_t *ms)
{
	json_t *v = b_member(obj, key);
	double d;

	*ms = MP_TIME_NONE;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > MP_TIME_MAX)
			return -1;
		*ms = (int64_t)json_integer_value(v);
		return 0;
	}
	/* JavaScript may print a whole number of ms as 1.7e12 */
	d = json_real_value(v);
	if (!json_is_real(v) || !(d >= 0 && d <= (double)MP_TIME_MAX) || d != (double)(int64_t)d)
		return -1;
	*ms = (int64_t)d;
	return 0;
}

/* A string member, or NULL: "" reads as absent.  -1 on a wrong type. */
static int b_string(json_t *obj, const char *key, const char **out)
{
	json_t *v = b_member(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return -1;
	if (json_string_length(v) > 0)
		*out = json_string_value(v);
	return 0;
}

static int b_object(json_t *obj, const char *key, json_t **out)
{
	json_t *v = b_member(obj, key);

	*out = json_is_object(v) ? v : NULL;
	return v && !*out ? -1 : 0;
}

int mp_identity_value(json_t *v, const char **out, char *buf)
{
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		if (json_string_length(v) > 0)
			*out = json_string_value(v);
		return 0;
	}
	if (json_is_integer(v)) {
		snprintf(buf, MP_NUM_SIZE, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*out = buf;
		return 0;
	}
	return -1;
}

/* ---- identities -------------------------------------------------------- */

/* mParticle identity types and the identifier each becomes.  Types not
 * listed are ignored; "mpid" is no identity type here (the batch's own
 * member is). */
static const struct {
	const char *identity;
	const char *type;
} mp_identity_types[] = {
	{"customer_id", "custom_id"},
	{"customerid", "custom_id"},
	{"email", "email"},
	{"mobile_number", "phone"},
	{"other", "other"},
	{"other_id_2", "other_id_2"},
	{"other_id_3", "other_id_3"},
	{"other_id_4", "other_id_4"},
	{"other_id_5", "other_id_5"},
	{"other_id_6", "other_id_6"},
	{"other_id_7", "other_id_7"},
	{"other_id_8", "other_id_8"},
	{"other_id_9", "other_id_9"},
	{"other_id_10", "other_id_10"},
	{"facebook", "facebook"},
	{"facebook_custom_audience_id", "facebook_custom_audience_id"},
	{"twitter", "twitter"},
	{"google", "google"},
	{"microsoft", "microsoft"},
	{"yahoo", "yahoo"},
	{"alias", "alias"},
	{"phone_number_2", "phone_number_2"},
	{"phone_number_3", "phone_number_3"},
};

#define N_IDENTITY_TYPES (sizeof(mp_identity_types) / sizeof(mp_identity_types[0]))

const char *mp_identity_type(const char *name)
{
	for (size_t i = 0; i < N_IDENTITY_TYPES; i++)
		if (strcmp(name, mp_identity_types[i].identity) == 0)
			return mp_identity_types[i].type;
	return NULL;
}

/* Single-valued identifier types: a second, different value is an error
 * (the host would refuse the record; say it here, naming the field). */
static int is_single(const char *type)
{
	return strcmp(type, "custom_id") == 0 || strcmp(type, "email") == 0 ||
	       strcmp(type, "phone") == 0 || strcmp(type, "installation_id") == 0 ||
	       strcmp(type, "mpid") == 0;
}

/* Adds type=value (value NULL: nothing).  Returns NULL, or why not in
 * why[WHY_SIZE] (the hub's identifier type named, never a value). */
#define WHY_SIZE 160
static const char *ident_add(struct mp_batch *b, const char *type, const char *value,
			     char why[WHY_SIZE])
{
	if (!value)
		return NULL;
	for (size_t i = 0; i < b->n_ids; i++) {
		if (strcmp(b->ids[i].type, type) != 0)
			continue;
		if (strcmp(b->ids[i].value, value) == 0)
			return NULL; /* said twice */
		if (is_single(type)) {
			snprintf(why, WHY_SIZE, "two different values of one identity (a second"
				 " %s, unlike the one before it: a batch is one user's)", type);
			return why;
		}
	}
	if (b->n_ids >= MP_MAX_IDS - 2) /* room for the device and the mpid */
		return "too many identities";
	b->ids[b->n_ids++] = (struct hub_ident){type, value};
	return NULL;
}

/* {"customer_id": "C1", "email": "a@x", ...} */
static int identities_object(struct mp_batch *b, json_t *obj, long index, struct mp_error *e)
{
	char field[96], why_buf[WHY_SIZE];
	const char *key, *type, *value, *why;
	json_t *v;

	json_object_foreach(obj, key, v) {
		if (!(type = mp_identity_type(key)))
			continue;
		snprintf(field, sizeof(field), "user_identities.%.40s", key);
		if (mp_identity_value(v, &value, b->num[b->n_ids]))
			return batch_fail(e, index, "invalid_batch", field,
					  "must be a string or an integer");
		if ((why = ident_add(b, type, value, why_buf)))
			return batch_fail(e, index, "invalid_batch", field, why);
	}
	return 0;
}

/* [{"identity_type": "customer_id", "identity": "C1"}, ...] */
static int identities_array(struct mp_batch *b, json_t *arr, long index, struct mp_error *e)
{
	char field[64], why_buf[WHY_SIZE];
	const char *type, *value, *why;
	size_t i;
	json_t *item;

	json_array_foreach(arr, i, item) {
		json_t *t = json_object_get(item, "identity_type");
		snprintf(field, sizeof(field), "user_identities[%zu]", i);
		if (!json_is_object(item) || !json_is_string(t))
			return batch_fail(e, index, "invalid_batch", field,
					  "must be an object with a string \"identity_type\"");
		if (!(type = mp_identity_type(json_string_value(t))))
			continue;
		if (mp_identity_value(json_object_get(item, "identity"), &value, b->num[b->n_ids]))
			return batch_fail(e, index, "invalid_batch", field,
					  "\"identity\" must be a string or an integer");
		if ((why = ident_add(b, type, value, why_buf)))
			return batch_fail(e, index, "invalid_batch", field, why);
	}
	return 0;
}

/* mpid: a JSON integer, or the decimal text of one ("-" and digits only);
 * printed back from the int64, so "0042" is 42 and the digits of a JSON
 * integer come back as they were sent. */
static int read_mpid(struct mp_batch *b, long index, struct mp_error *e)
{
	static const char why[] = "must be a 64-bit integer (a JSON integer or its decimal text)";
	json_t *v = b_member(b->obj, "mpid");
	char *buf = b->num[b->n_ids], *end;
	long long n;

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t digits = strspn(s + (s[0] == '-'), "0123456789");
		if (digits == 0 || s[(s[0] == '-') + digits] != '\0')
			return batch_fail(e, index, "invalid_batch", "mpid", why);
		errno = 0;
		n = strtoll(s, &end, 10);
		if (errno == ERANGE)
			return batch_fail(e, index, "invalid_batch", "mpid", why);
	} else {
		return batch_fail(e, index, "invalid_batch", "mpid", why);
	}
	snprintf(buf, MP_NUM_SIZE, "%lld", n);
	b->ids[b->n_ids++] = (struct hub_ident){"mpid", buf};
	return 0;
}

static int read_identities(struct mp_batch *b, long index, struct mp_error *e)
{
	json_t *v = b_member(b->obj, "user_identities");

	if (json_is_object(v) && identities_object(b, v, index, e))
		return -1;
	if (json_is_array(v) && identities_array(b, v, index, e))
		return -1;
	if (v && !json_is_object(v) && !json_is_array(v))
		return batch_fail(e, index, "invalid_batch", "user_identities",
				  "must be an object (or an array of {identity_type, identity})");
	return read_mpid(b, index, e);
}

/* ---- device ----------------------------------------------------------- */

static const struct {
	const char *name;
	const char *platform;
} mp_platforms[] = {
	{"ios", "ios"},         {"tvos", "ios"},         {"ipados", "ios"},
	{"android", "android"}, {"fire_tv", "android"},  {"firetv", "android"},
	{"web", "web"},         {"mobile_web", "web"},   {"mobileweb", "web"},
	{"out_of_band", "server"},
	/* application_info.os's own spellings */
	{"outofband", "server"}, {"unityios", "ios"},    {"unityandroid", "android"},
};

static const char *platform_of(const char *name)
{
	for (size_t i = 0; name && i < sizeof(mp_platforms) / sizeof(mp_platforms[0]); i++)
		if (strcasecmp(name, mp_platforms[i].name) == 0)
			return mp_platforms[i].platform;
	return NULL;
}

/* A device id worth keeping: not "0000-..." (iOS without tracking). */
static int device_id_usable(const char *id)
{
	return id && id[strspn(id, "0-")] != '\0';
}

static int read_device(struct mp_batch *b, long index, struct mp_error *e)
{
	static const char *const strings[] = {"ios_idfv", "android_uuid", "platform",
					      "push_token", "locale_language",
					      "locale_country"};
	const char *idfv, *uuid, *mp_id, *platform, *push, *os, *install = NULL;
	char field[48];
	json_t *app;

	if (b_object(b->obj, "device_info", &b->device_info))
		return batch_fail(e, index, "invalid_batch", "device_info", "must be an object");
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		const char *s;
		snprintf(field, sizeof(field), "device_info.%s", strings[i]);
		if (b_string(b->device_info, strings[i], &s))
			return batch_fail(e, index, "invalid_batch", field, "must be a string");
	}
	if (b_string(b->obj, "mp_deviceid", &mp_id))
		return batch_fail(e, index, "invalid_batch", "mp_deviceid", "must be a string");
	if (b_object(b->obj, "application_info", &app) || b_string(app, "os", &os))
		return batch_fail(e, index, "invalid_batch", "application_info",
				  "must be an object with a string \"os\"");
	b_string(b->device_info, "ios_idfv", &idfv);
	b_string(b->device_info, "android_uuid", &uuid);
	b_string(b->device_info, "platform", &platform);
	b_string(b->device_info, "push_token", &push);
	b->platform = platform_of(platform);
	if (!b->platform)
		b->platform = platform_of(os);
	if (device_id_usable(idfv)) {
		install = idfv;
		if (!b->platform)
			b->platform = "ios";
	} else if (device_id_usable(uuid)) {
		install = uuid;
		if (!b->platform)
			b->platform = "android";
	} else if (device_id_usable(mp_id)) {
		install = mp_id;
	}
	if (install)
		b->ids[b->n_ids++] = (struct hub_ident){"installation_id", install};
	b->installation_id = install;
	/* push_registration events may have set it; the batch's device says
	 * what holds now */
	if (push) {
		b->push_enabled = 1;
		b->push_event = -1;
	}
	return 0;
}

/* ---- attributes and consent ------------------------------------------- */

static const struct {
	const char *reserved; /* lowercased, without "$" */
	const char *native;
} mp_reserved[] = {
	{"firstname", "$first_name"},
	{"lastname", "$last_name"},
	{"mobile", "$phone_number"},
	{"country", "$region"},
};

/* A key of which no [a-z0-9_] is left ("名前", "$"): the key itself,
 * ASCII lowercased and cut at a character, so that the host's warning
 * (such a name is no attribute name) says which one was dropped and two
 * of them stay two warnings, not one key of "". */
static void attr_name_as_sent(const char *key, char *out)
{
	size_t n = text_utf8_prefix(key, MP_ATTR_NAME_SIZE - 1);

	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)key[i]);
	out[n] = '\0';
}

void mp_attr_name(const char *key, char *out)
{
	const char *p = key;

	if (*p == '$') {
		p++;
		for (size_t i = 0; i < sizeof(mp_reserved) / sizeof(mp_reserved[0]); i++) {
			if (strcasecmp(p, mp_reserved[i].reserved) == 0) {
				snprintf(out, MP_ATTR_NAME_SIZE, "%s", mp_reserved[i].native);
				return;
			}
		}
	}
	/* $age, $gender, $city, $state, $zip, $address and any other name:
	 * a custom attribute */
	text_attr_name(p, out, MP_ATTR_NAME_SIZE);
	if (!out[0])
		attr_name_as_sent(key, out);
}

static int read_attributes(struct mp_batch *b, long index, struct mp_error *e)
{
	json_t *v, *name;
	size_t i;

	if (b_object(b->obj, "user_attributes", &b->user_attributes))
		return batch_fail(e, index, "invalid_batch", "user_attributes",
				  "must be an object");
	v = b_member(b->obj, "deleted_user_attributes");
	if (v && !json_is_array(v))
		return batch_fail(e, index, "invalid_batch", "deleted_user_attributes",
				  "must be an array of strings");
	b->deleted_attributes = v;
	json_array_foreach(v, i, name) {
		if (!json_is_string(name))
			return batch_fail(e, index, "invalid_batch", "deleted_user_attributes",
					  "must be an array of strings");
	}
	return 0;
}

/* {"consented": bool, "timestamp_unixtime_ms"?: int, ...}; NULL or why. */
static const char *consent_read(json_t *v, int *consented, int64_t *ms)
{
	json_t *c = json_object_get(v, "consented");

	if (!json_is_object(v))
		return "must be an object";
	if (!json_is_boolean(c))
		return "\"consented\": required, a boolean";
	if (mp_read_time(v, "timestamp_unixtime_ms", ms))
		return "\"timestamp_unixtime_ms\": must be a time in ms (an integer)";
	*consented = json_is_true(c);
	return NULL;
}

/* A channel two purposes set keeps the later consent (a purpose without a
 * time is at the batch's); at the same time (or none) the more restrictive,
 * unsubscribed, as a merge tie does (IDENTITY.md section 5). */
static void channel_set(int *value, int64_t *value_ms, int consented, int64_t ms)
{
	if (*value >= 0 && (*value_ms > ms || (*value_ms == ms && !*value)))
		return;
	*value = consented;
	*value_ms = ms;
}

static int read_consent(const struct mp_state *st, struct mp_batch *b, long index,
			struct mp_error *e)
{
	struct mp_consent *c = &b->consent;
	json_t *state, *gdpr, *ccpa, *v;
	const char *purpose, *why;
	char field[96];
	unsigned channels;
	int consented;
	int64_t ms;

	c->email = c->sms = c->ccpa_opt_out = -1;
	c->email_ms = c->sms_ms = c->ccpa_ms = MP_TIME_NONE;
	if (b_object(b->obj, "consent_state", &state))
		return batch_fail(e, index, "invalid_batch", "consent_state", "must be an object");
	if (b_object(state, "gdpr", &gdpr))
		return batch_fail(e, index, "invalid_batch", "consent_state.gdpr",
				  "must be an object");
	json_object_foreach(gdpr, purpose, v) {
		if (json_is_null(v))
			continue;
		snprintf(field, sizeof(field), "consent_state.gdpr.%.40s", purpose);
		if ((why = consent_read(v, &consented, &ms)))
			return batch_fail(e, index, "invalid_batch", field, why);
		channels = mp_purpose_channels(st, purpose);
		if (ms == MP_TIME_NONE) /* at the batch's time, as its record is (read_events) */
			ms = b->timestamp_ms;
		if (channels & MP_CH_EMAIL)
			channel_set(&c->email, &c->email_ms, consented, ms);
		if (channels & MP_CH_SMS)
			channel_set(&c->sms, &c->sms_ms, consented, ms);
		if (!channels)
			mp_unmapped_purpose(st, purpose);
	}
	if (b_object(state, "ccpa", &ccpa))
		return batch_fail(e, index, "invalid_batch", "consent_state.ccpa",
				  "must be an object");
	v = b_member(ccpa, "data_sale_opt_out");
	if (v && (why = consent_read(v, &consented, &ms)))
		return batch_fail(e, index, "invalid_batch", "consent_state.ccpa.data_sale_opt_out",
				  why);
	if (v) {
		c->ccpa_opt_out = consented;
		c->ccpa_ms = ms;
	}
	return 0;
}

/* ---- events ----------------------------------------------------------- */

static int read_events(struct mp_batch *b, long index, struct mp_error *e)
{
	struct mp_event ev;
	const char *code;
	char why[MP_MSG_SIZE - 64];
	int64_t latest = MP_TIME_NONE;
	size_t i;
	json_t *item;

	b->events = b_member(b->obj, "events");
	if (b->events && !json_is_array(b->events))
		return batch_fail(e, index, "invalid_batch", "events", "must be an array");
	json_array_foreach(b->events, i, item) {
		if ((code = mp_event_read(item, &ev, why, sizeof(why))))
			return event_fail(e, index, i, code, why);
		if (ev.timestamp_ms > latest)
			latest = ev.timestamp_ms;
		if (ev.kind == MP_PUSH) {
			b->push_enabled = ev.push_enabled;
			b->push_event = (long)i;
		} else if (ev.kind == MP_IDENTITY_CHANGE) {
			if (b->first_logout < 0 && mp_event_change(&ev) == MP_CHANGE_LOGOUT)
				b->first_logout = (long)i;
		} else if (ev.kind != MP_IGNORED && ev.kind != MP_ATTRIBUTE_CHANGE &&
			   ev.kind != MP_OPT_OUT)
			b->n_tracks++;
	}
	if (b->timestamp_ms == MP_TIME_NONE)
		b->timestamp_ms = latest;
	return 0;
}

/* ---- /v2/bulkevents/historical ----------------------------------------- */

#define MP_FUTURE_MS (24LL * 3600 * 1000) /* the hub's clamp of future times */

/* What is wrong with a historical time more than 24 h ahead of now_ms,
 * into why: the hub would store the upload's time instead (its 24 h clamp
 * of future times).  1 when it is, else 0. */
static int historical_future(int64_t ms, int64_t now_ms, char *why, size_t why_size)
{
	if (ms == MP_TIME_NONE || now_ms <= 0 || ms - MP_FUTURE_MS <= now_ms)
		return 0;
	snprintf(why, why_size, "%lld is more than 24 h ahead of the hub's clock (%lld): "
		 "historical data is in the past", (long long)ms, (long long)now_ms);
	return 1;
}

int mp_batch_historical(const struct mp_batch *b, long index, int64_t now_ms,
			struct mp_error *e)
{
	char why[160], field_why[200];
	json_t *item;
	int64_t ms;
	size_t i;

	json_array_foreach(b->events, i, item) {
		/* mp_event_read() took it: absent, null or a time */
		(void)mp_read_time(b_member(item, "data"), "timestamp_unixtime_ms", &ms);
		if (ms == MP_TIME_NONE)
			return event_fail(e, index, i, "missing_field",
					  "data.timestamp_unixtime_ms: required on "
					  "/v2/bulkevents/historical (without it the event "
					  "would be stored at the time of the upload)");
		if (historical_future(ms, now_ms, why, sizeof(why))) {
			snprintf(field_why, sizeof(field_why), "data.timestamp_unixtime_ms: %s",
				 why);
			return event_fail(e, index, i, "invalid_event", field_why);
		}
	}
	/* the batch's own time, else its latest event's (read_events) */
	if (b->timestamp_ms == MP_TIME_NONE)
		return batch_fail(e, index, "missing_field", "timestamp_unixtime_ms",
				  "required on /v2/bulkevents/historical for a batch without "
				  "events (its attributes would take the time of the upload)");
	if (historical_future(b->timestamp_ms, now_ms, why, sizeof(why)))
		return batch_fail(e, index, "invalid_batch", "timestamp_unixtime_ms", why);
	/* a consent purpose's own time, as its record takes it */
	if (historical_future(b->consent.email_ms, now_ms, why, sizeof(why)) ||
	    historical_future(b->consent.sms_ms, now_ms, why, sizeof(why)) ||
	    historical_future(b->consent.ccpa_ms, now_ms, why, sizeof(why)))
		return batch_fail(e, index, "invalid_batch",
				  "consent_state: a purpose's timestamp_unixtime_ms", why);
	return 0;
}

/* ---- one batch -------------------------------------------------------- */

int mp_batch_read(const struct mp_state *st, json_t *obj, long index, struct mp_batch *b,
		  struct mp_error *e)
{
	const char *env;

	memset(b, 0, sizeof(*b));
	b->obj = obj;
	b->push_enabled = -1;
	b->push_event = -1;
	b->first_logout = -1;
	if (!json_is_object(obj)) {
		if (index < 0)
			mp_error_set(e, 400, "invalid_request", -1, "body: must be a batch object");
		else
			mp_error_set(e, 400, "invalid_batch", index,
				     "batches[%ld]: must be a batch object", index);
		return -1;
	}
	if (b_string(obj, "source_request_id", &b->source_request_id))
		return batch_fail(e, index, "invalid_batch", "source_request_id",
				  "must be a string");
	if (b_string(obj, "environment", &env))
		return batch_fail(e, index, "invalid_batch", "environment",
				  "must be a string (\"production\" or \"development\")");
	b->development = env && strcasecmp(env, "development") == 0;
	if (mp_read_time(obj, "timestamp_unixtime_ms", &b->timestamp_ms))
		return batch_fail(e, index, "invalid_batch", "timestamp_unixtime_ms",
				  "must be a time in ms since the epoch (an integer)");
	if (read_identities(b, index, e) || read_events(b, index, e) ||
	    read_device(b, index, e) || read_attributes(b, index, e) ||
	    read_consent(st, b, index, e))
		return -1;
	/* a logout is the device's: without one there is nothing to log out
	 * (IDENTITY.md: a logout record needs its installation) */
	if (b->first_logout >= 0 && !b->installation_id)
		return event_fail(
			e, index, (size_t)b->first_logout, "invalid_event",
			": a customer_id logout needs the batch's device id "
			"(device_info.ios_idfv, device_info.android_uuid or mp_deviceid)");
	return 0;
}
