/*
 * mparticle_map.c - one checked mParticle batch -> canonical records
 * (IDENTITY.md sections 2, 4, 5, 9), handed to the host with emit().
 *
 * Every record of a batch carries the batch's identifiers (customer_id ->
 * custom_id, the device id -> installation_id, email, mobile_number ->
 * phone, mpid and the other identities as external ids: the host keeps
 * only the configured ones) and its platform, except identity changes.
 * In order:
 *
 *   identity   one per user_identity_change of customer_id, in event
 *   changes    order: a new customer_id -> identify {custom_id: new,
 *              installation_id: the batch's device} (a login, or a user
 *              switch); the customer_id removed (new null, absent or "",
 *              old set) -> logout {installation_id}.  They come first:
 *              an mParticle batch is one user's (its MPID), and the SDKs
 *              log the change for the user it leads to, so the batch's
 *              identities, attributes and events are that user's, after
 *              the change.  At data.timestamp_unixtime_ms, else
 *              data.new's, else the batch's time.  Changes of other
 *              identity types emit nothing: the batch's user_identities
 *              already say what the user has, and a removal has no record
 *   attribute  one attributes record per user_attribute_change with
 *   deletions  "deleted": true, in event order: {mapped name: null} at
 *              data.timestamp_unixtime_ms, else the batch's time (the
 *              webhook's way to say a removal: its user_attributes just
 *              lack the key).  Before the identify: the batch's
 *              user_attributes are the state after its events
 *   identify   when the batch sets attributes or push, or has no event
 *              that says who it is: user_attributes (reserved $FirstName,
 *              $LastName, $Mobile, $Country -> $first_name, $last_name,
 *              $phone_number, $region; other names lowercased custom keys;
 *              a null value is an mParticle tag, an attribute without a
 *              value: skipped, never a delete), deleted_user_attributes ->
 *              null, device_info.locale_* -> $language / $region, push; at
 *              the batch's time
 *   consent    one per GDPR purpose mapped to a channel, at its own time
 *   attributes ccpa.data_sale_opt_out.consented -> ccpa_data_sale_opt_out
 *              (a bool), at its own time
 *   opt-outs   one attributes record per opt_out event with
 *              data.is_opted_out: {opted_out: bool}, at the event's time
 *   track      one per event: custom_event (data.event_name, + its
 *              custom_event_type), screen_view
 *              ("$screen", + "name"), commerce_event ("$commerce", + the
 *              product action, products, totals, promotions, impressions,
 *              currency), session_start / session_end ("$session_start" /
 *              "$session_end", + session ids and duration); properties are
 *              data.custom_attributes; at data.timestamp_unixtime_ms
 *
 * message_id: the event's message_id (webhook) or data.source_message_id;
 * else "mp-" + a SHA-256 of the batch's source_request_id and the record's
 * place in it ("event:<index>", "identify", "consent:<channel>", "ccpa"),
 * so a resent batch is applied once.  Without a source_request_id, an
 * event's record (track, attribute deletion, opt-out) hashes the batch's text
 * instead: SHA-256 of the body or import line exactly as received, or for
 * a batch of an array (/v2/bulkevents, the webhook) its element's
 * canonical dump (compact, keys sorted), with the event's index.  Two
 * identical events of one batch then stay two records (the host's content
 * hash would make them one: same content, same receive time), and the same
 * batch sent again gets the same ids.  The batch's own records (identify,
 * consent, CCPA) and identity changes keep NULL there: the host hashes
 * their content.
 */
#include "mparticle.h"

#include "../common/alloc_watch.h"
#include "../common/text.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- message ids ------------------------------------------------------ */

#define MP_SHA256_LEN 32

/* SHA-256 of the n parts (parts[i], lens[i] bytes) into md.  0, or -1
 * when OpenSSL fails (out of memory). */
static int map_sha256(const char *const *parts, const size_t *lens, size_t n,
		      unsigned char md[EVP_MAX_MD_SIZE])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned md_len = 0;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, parts[i], lens[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len == MP_SHA256_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* "mp-" + 40 hex digits of SHA-256(key "\n" what), or NULL without a key
 * (or when OpenSSL fails).  `out` has MP_MSGID_SIZE bytes. */
static const char *hashed_id(const char *key, const char *what, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	const char *parts[] = {key, "\n", what};
	size_t lens[3];

	if (!key)
		return NULL;
	lens[0] = strlen(key);
	lens[1] = 1;
	lens[2] = strlen(what);
	if (map_sha256(parts, lens, 3, md))
		return NULL;
	memcpy(out, "mp-", 3);
	text_hex(md, 20, out + 3);
	return out;
}

/* A record of the batch itself (identify, consent, CCPA) or an identity
 * change: keyed by source_request_id only, as always (NULL without). */
static const char *derived_id(const struct mp_batch *b, const char *what, char *out)
{
	return hashed_id(b->source_request_id, what, out);
}

/* An event's record: its own id, else keyed by source_request_id, else by
 * the batch's text (b->text_digest), with the event's index.  When neither
 * the event nor its batch has a time (the Node SDK's default), the time of
 * the request is keyed too: such an event's time is its arrival, and the
 * same action sent again later is another event (mParticle keeps both), so
 * only an import line's (received_ms 0) stays the same from run to run. */
static const char *event_id(const struct mp_batch *b, const struct mp_event *ev, size_t i,
			    char *out)
{
	char what[32], key[MP_DIGEST_SIZE + 32];

	if (ev->message_id)
		return ev->message_id;
	snprintf(what, sizeof(what), "event:%zu", i);
	if (b->source_request_id)
		return hashed_id(b->source_request_id, what, out);
	if (!b->text_digest[0])
		return NULL;
	if (ev->timestamp_ms == MP_TIME_NONE && b->timestamp_ms == MP_TIME_NONE &&
	    b->received_ms)
		snprintf(key, sizeof(key), "text:%s@%lld", b->text_digest,
			 (long long)b->received_ms);
	else
		snprintf(key, sizeof(key), "text:%s", b->text_digest);
	return hashed_id(key, what, out);
}

int mp_batch_digest(struct mp_batch *b, const char *text, size_t len, long batch_index)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char at[32];
	const char *parts[2] = {text, at};
	size_t lens[2] = {len, 0};

	b->text_digest[0] = '\0';
	/* a batch of an array: its index too, so two alike batches differ */
	if (batch_index >= 0)
		lens[1] = (size_t)snprintf(at, sizeof(at), "\x1f%ld", batch_index);
	if (map_sha256(parts, lens, batch_index >= 0 ? 2 : 1, md))
		return -1;
	text_hex(md, MP_SHA256_LEN, b->text_digest);
	return 0;
}

/* ---- identify --------------------------------------------------------- */

static int set_case(json_t *attrs, const char *key, const char *value, int upper)
{
	char buf[16];
	size_t n = strlen(value);

	if (n >= sizeof(buf))
		return json_object_set_new(attrs, key, json_string(value));
	for (size_t i = 0; i <= n; i++)
		buf[i] = (char)(upper ? toupper((unsigned char)value[i])
				      : tolower((unsigned char)value[i]));
	return json_object_set_new(attrs, key, json_string(buf));
}

/* The identify record's attributes (new reference; an empty object when
 * the batch says nothing), or NULL when memory runs out. */
static json_t *identify_attributes(const struct mp_batch *b)
{
	json_t *attrs = json_object(), *v;
	const char *key, *lang, *country;
	char name[MP_ATTR_NAME_SIZE];
	size_t i;

	if (!attrs)
		return NULL;
	lang = json_string_value(json_object_get(b->device_info, "locale_language"));
	country = json_string_value(json_object_get(b->device_info, "locale_country"));
	if ((lang && *lang && set_case(attrs, "$language", lang, 0)) ||
	    (country && *country && set_case(attrs, "$region", country, 1)))
		goto fail;
	json_object_foreach(b->user_attributes, key, v) {
		if (json_is_null(v))
			continue; /* a tag: no value to store, and no delete */
		mp_attr_name(key, name);
		if (json_object_set(attrs, name, v))
			goto fail;
	}
	json_array_foreach(b->deleted_attributes, i, v) {
		mp_attr_name(json_string_value(v), name);
		if (json_object_set_new(attrs, name, json_null()))
			goto fail;
	}
	return attrs;
fail:
	json_decref(attrs);
	return NULL;
}

/* ---- track properties -------------------------------------------------- */

/* Copies obj[key] to props[as] when it is there and not null. */
static int copy_member(json_t *props, const char *as, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return v && !json_is_null(v) ? json_object_set(props, as, v) : 0;
}

static int commerce_properties(json_t *props, json_t *data)
{
	static const char *const action_keys[] = {
		"action",          "transaction_id",  "affiliation",     "total_amount",
		"tax_amount",      "shipping_amount", "coupon_code",     "checkout_step",
		"checkout_options", "product_action_list", "product_list_source", "products",
	};
	json_t *action = json_object_get(data, "product_action");

	for (size_t i = 0; i < sizeof(action_keys) / sizeof(action_keys[0]); i++)
		if (copy_member(props, action_keys[i], action, action_keys[i]))
			return -1;
	return copy_member(props, "currency_code", data, "currency_code") ||
	       copy_member(props, "promotion_action", data, "promotion_action") ||
	       copy_member(props, "product_impressions", data, "product_impressions");
}

/* The event's properties (new reference), or NULL when memory runs out. */
static json_t *event_properties(const struct mp_event *ev)
{
	json_t *props = ev->custom_attributes ? json_copy(ev->custom_attributes) : json_object();
	int failed = 0;

	if (!props)
		return NULL;
	switch (ev->kind) {
	case MP_SCREEN:
		failed = json_object_set_new(props, "name", json_string(ev->name));
		break;
	case MP_COMMERCE:
		failed = commerce_properties(props, ev->data);
		break;
	case MP_SESSION_END:
		failed = copy_member(props, "session_duration_ms", ev->data, "session_duration_ms");
		/* fall through */
	case MP_SESSION_START:
		failed = failed || copy_member(props, "session_id", ev->data, "session_id") ||
			 copy_member(props, "session_uuid", ev->data, "session_uuid");
		break;
	case MP_CUSTOM:
		/* mParticle tells custom events apart by name and type */
		failed = copy_member(props, "custom_event_type", ev->data, "custom_event_type");
		break;
	case MP_PUSH:
	case MP_IDENTITY_CHANGE:
	case MP_ATTRIBUTE_CHANGE:
	case MP_OPT_OUT:
	case MP_IGNORED:
		break;
	}
	if (failed) {
		json_decref(props);
		return NULL;
	}
	return props;
}

static const char *event_name(const struct mp_event *ev)
{
	switch (ev->kind) {
	case MP_CUSTOM:
		return ev->name;
	case MP_SCREEN:
		return "$screen";
	case MP_COMMERCE:
		return "$commerce";
	case MP_SESSION_START:
		return "$session_start";
	case MP_SESSION_END:
		return "$session_end";
	case MP_PUSH:
	case MP_IDENTITY_CHANGE:
	case MP_ATTRIBUTE_CHANGE:
	case MP_OPT_OUT:
	case MP_IGNORED:
		break;
	}
	return NULL;
}

/* ---- emitting ---------------------------------------------------------- */

/* The host's answer to a refused record -> the request's answer.  `event`
 * is the event's index in its batch, or -1 for a batch-level record. */
/* Where an item is in the request: "batches[1].events[2]", "batches[1]"
 * (a batch of a list), "events[2]" (/v2/events) or "" (the one batch). */
static const char *item_path(long index, long event, char *buf, size_t size)
{
	buf[0] = '\0';
	if (index >= 0 && event >= 0)
		snprintf(buf, size, "batches[%ld].events[%ld]", index, event);
	else if (index >= 0)
		snprintf(buf, size, "batches[%ld]", index);
	else if (event >= 0)
		snprintf(buf, size, "events[%ld]", event);
	return buf;
}

static void emit_error(hub_rc rc, long index, long event, const char *why, struct mp_error *e)
{
	long at = index >= 0 ? index : event;
	char where[64];

	item_path(index, event, where, sizeof(where));
	switch (rc) {
	case HUB_ERR_DATA:
		mp_error_set(e, 400, "invalid_event", at, "%s%s%s", where, where[0] ? ": " : "",
			     why);
		break;
	case HUB_ERR_BUSY:
	case HUB_ERR_STOPPED:
	case HUB_RETRY:
		mp_error_set(e, 503, "unavailable", at, "cannot store now: %s", why);
		break;
	case HUB_ERR_NOMEM:
		mp_error_set(e, 500, "internal", at, "out of memory");
		break;
	default:
		mp_error_set(e, 500, "internal", at, "%s", why[0] ? why : "emit failed");
		break;
	}
	if (index >= 0)
		e->event_index = event;
}

/* `t`, else `otherwise` when the input gave no such time. */
static int64_t time_or(int64_t t, int64_t otherwise)
{
	return t != MP_TIME_NONE ? t : otherwise;
}

/* The record's time: MP_TIME_NONE leaves it unset (the receive time); any
 * other is a time, the epoch (0) included (has_timestamp, ABI 1.5). */
static void record_time(struct hub_record *rec, int64_t timestamp_ms)
{
	if (timestamp_ms == MP_TIME_NONE)
		return;
	rec->timestamp_ms = timestamp_ms;
	rec->has_timestamp = 1;
}

/* A record of the batch: identifiers, platform and time filled. */
static void record_start(const struct mp_batch *b, struct hub_record *rec,
			 enum hub_record_type type, int64_t timestamp_ms)
{
	hub_record_init(rec, type);
	rec->identifiers = b->ids;
	rec->n_identifiers = b->n_ids;
	rec->platform = b->platform;
	record_time(rec, timestamp_ms);
}

/* Emits rec whose payload is `payload` (new reference, dumped into
 * *slot), then frees it. */
static hub_rc emit_with(const struct mp_state *st, struct hub_call *call,
			struct hub_record *rec, json_t *payload, const char **slot, long index,
			long event, struct mp_error *e)
{
	char why[MP_MSG_SIZE - 80] = "", where[64];
	char *text = NULL;
	hub_rc rc = HUB_ERR_NOMEM;

	/* jansson leaves out what it cannot allocate (alloc_watch.h), in
	 * the payload, its dump or the batch's digest */
	if ((payload && !(text = json_dumps(payload, JSON_COMPACT))) || alloc_watch_lost(st->host))
		goto out;
	*slot = text;
	rec->origin = item_path(index, event, where, sizeof(where)); /* "": the one batch */
	rc = st->host->emit(call, rec, why, sizeof(why));
out:
	if (rc != HUB_OK)
		emit_error(rc, index, event, why, e);
	free(text);
	json_decref(payload);
	return rc;
}

/* Does user_attributes hold a value (not only tags)? */
static int has_attribute_values(json_t *user_attributes)
{
	const char *key;
	json_t *v;

	json_object_foreach(user_attributes, key, v) {
		if (!json_is_null(v))
			return 1;
	}
	return 0;
}

/* Does the batch need an identify record? */
static int wants_identify(const struct mp_batch *b)
{
	return has_attribute_values(b->user_attributes) ||
	       json_array_size(b->deleted_attributes) > 0 || b->push_enabled >= 0 ||
	       json_string_value(json_object_get(b->device_info, "locale_language")) ||
	       json_string_value(json_object_get(b->device_info, "locale_country")) ||
	       (b->n_tracks == 0 && b->n_ids > 0);
}

/* Push is an installation's (IDENTITY.md): a batch without a usable
 * device id has none to hold it, and it was dropped without a word.  The
 * client is told (the 2xx's warnings) which field asked for it and why;
 * the identify just emitted carries none. */
static hub_rc warn_push_dropped(const struct mp_state *st, struct hub_call *call,
				const struct mp_batch *b, long index, struct mp_error *e)
{
	char why[256], field[48];
	hub_rc rc;

	if (!HUB_HOST_HAS(st->host, warn)) /* a host before ABI 1.6 */
		return HUB_OK;
	if (b->push_event >= 0)
		snprintf(field, sizeof(field), "events[%ld] (push_registration)", b->push_event);
	else
		snprintf(field, sizeof(field), "device_info.push_token");
	snprintf(why, sizeof(why), "%s: push not stored: the batch has no device id "
		 "(device_info.ios_idfv, device_info.android_uuid or mp_deviceid, not all "
		 "zeros) to store it on", field);
	if ((rc = st->host->warn(call, why)) != HUB_OK)
		emit_error(rc, index, -1, "", e);
	return rc;
}

static hub_rc emit_identify(const struct mp_state *st, struct hub_call *call,
			    const struct mp_batch *b, long index, struct mp_error *e)
{
	struct hub_record rec;
	char id[MP_MSGID_SIZE];
	json_t *attrs = identify_attributes(b);
	hub_rc rc;

	if (!attrs) {
		emit_error(HUB_ERR_NOMEM, index, -1, "", e);
		return HUB_ERR_NOMEM;
	}
	record_start(b, &rec, HUB_REC_IDENTIFY, b->timestamp_ms);
	rec.message_id = derived_id(b, "identify", id);
	rec.push_enabled = b->installation_id ? b->push_enabled : -1;
	if (json_object_size(attrs) == 0) {
		json_decref(attrs);
		attrs = NULL;
	}
	rc = emit_with(st, call, &rec, attrs, &rec.attributes_json, index, -1, e);
	if (rc == HUB_OK && b->push_enabled >= 0 && !b->installation_id)
		rc = warn_push_dropped(st, call, b, index, e);
	return rc;
}

static hub_rc emit_consent(const struct mp_state *st, struct hub_call *call,
			   const struct mp_batch *b, const char *channel, int consented,
			   int64_t ms, long index, struct mp_error *e)
{
	struct hub_record rec;
	char id[MP_MSGID_SIZE], what[48];
	json_t *consent;

	if (consented < 0)
		return HUB_OK;
	consent = json_pack("{s:s}", channel, consented ? "subscribed" : "unsubscribed");
	record_start(b, &rec, HUB_REC_CONSENT, time_or(ms, b->timestamp_ms));
	snprintf(what, sizeof(what), "consent:%s", channel);
	rec.message_id = derived_id(b, what, id);
	if (!consent) {
		emit_error(HUB_ERR_NOMEM, index, -1, "", e);
		return HUB_ERR_NOMEM;
	}
	return emit_with(st, call, &rec, consent, &rec.consent_json, index, -1, e);
}

static hub_rc emit_ccpa(const struct mp_state *st, struct hub_call *call,
			const struct mp_batch *b, long index, struct mp_error *e)
{
	const struct mp_consent *c = &b->consent;
	struct hub_record rec;
	char id[MP_MSGID_SIZE];
	json_t *attrs;

	if (c->ccpa_opt_out < 0)
		return HUB_OK;
	attrs = json_pack("{s:b}", "ccpa_data_sale_opt_out", c->ccpa_opt_out);
	if (!attrs) {
		emit_error(HUB_ERR_NOMEM, index, -1, "", e);
		return HUB_ERR_NOMEM;
	}
	record_start(b, &rec, HUB_REC_ATTRIBUTES, time_or(c->ccpa_ms, b->timestamp_ms));
	rec.message_id = derived_id(b, "ccpa", id);
	return emit_with(st, call, &rec, attrs, &rec.attributes_json, index, -1, e);
}

static hub_rc emit_event(const struct mp_state *st, struct hub_call *call,
			 const struct mp_batch *b, const struct mp_event *ev, size_t i,
			 long index, struct mp_error *e)
{
	struct hub_record rec;
	char id[MP_MSGID_SIZE];
	json_t *props;

	if (!event_name(ev))
		return HUB_OK;
	if (!(props = event_properties(ev))) {
		emit_error(HUB_ERR_NOMEM, index, (long)i, "", e);
		return HUB_ERR_NOMEM;
	}
	record_start(b, &rec, HUB_REC_TRACK, ev->timestamp_ms);
	rec.event_name = event_name(ev);
	rec.message_id = event_id(b, ev, i, id);
	return emit_with(st, call, &rec, props, &rec.properties_json, index, (long)i, e);
}

/* An attributes record of event i (attrs: a new reference, NULL when
 * memory ran out) with the batch's identifiers, at the event's time, else
 * the batch's, keyed like the event's track would be. */
static hub_rc emit_event_attributes(const struct mp_state *st, struct hub_call *call,
				    const struct mp_batch *b, const struct mp_event *ev,
				    size_t i, json_t *attrs, long index, struct mp_error *e)
{
	struct hub_record rec;
	char id[MP_MSGID_SIZE];

	if (!attrs) {
		emit_error(HUB_ERR_NOMEM, index, (long)i, "", e);
		return HUB_ERR_NOMEM;
	}
	record_start(b, &rec, HUB_REC_ATTRIBUTES, time_or(ev->timestamp_ms, b->timestamp_ms));
	rec.message_id = event_id(b, ev, i, id);
	return emit_with(st, call, &rec, attrs, &rec.attributes_json, index, (long)i, e);
}

/* A user_attribute_change that deletes: an attributes record with the
 * mapped name set to null (IDENTITY.md: null deletes), carrying the
 * batch's identifiers like deleted_user_attributes' identify, at the
 * event's time, else the batch's. */
static hub_rc emit_attribute_delete(const struct mp_state *st, struct hub_call *call,
				    const struct mp_batch *b, const struct mp_event *ev,
				    size_t i, long index, struct mp_error *e)
{
	char name[MP_ATTR_NAME_SIZE];

	if (ev->kind != MP_ATTRIBUTE_CHANGE || !ev->deleted_attribute)
		return HUB_OK;
	mp_attr_name(ev->deleted_attribute, name);
	return emit_event_attributes(st, call, b, ev, i, json_pack("{s:n}", name), index, e);
}

/* An opt_out event that says is_opted_out: an attributes record setting
 * the attribute opted_out (true: the user opted out of tracking).
 * mParticle's opt-out is no consent to a channel and no erase: the flag
 * lets an export or a query leave the person out. */
static hub_rc emit_opt_out(const struct mp_state *st, struct hub_call *call,
			   const struct mp_batch *b, const struct mp_event *ev, size_t i,
			   long index, struct mp_error *e)
{
	if (ev->kind != MP_OPT_OUT || ev->opted_out < 0)
		return HUB_OK;
	return emit_event_attributes(st, call, b, ev, i,
				     json_pack("{s:b}", "opted_out", ev->opted_out), index, e);
}

/* A login (identify of the new custom_id on the device) or a logout of
 * the device; nothing for any other change. */
static hub_rc emit_change(const struct mp_state *st, struct hub_call *call,
			  const struct mp_batch *b, const struct mp_event *ev, size_t i,
			  long index, struct mp_error *e)
{
	enum mp_change change = mp_event_change(ev);
	struct hub_ident ids[2];
	struct hub_record rec;
	char id[MP_MSGID_SIZE], what[32];
	size_t n = 0;

	if (change == MP_CHANGE_NONE)
		return HUB_OK;
	if (change == MP_CHANGE_LOGIN)
		ids[n++] = (struct hub_ident){"custom_id", ev->new_identity};
	if (b->installation_id)
		ids[n++] = (struct hub_ident){"installation_id", b->installation_id};
	hub_record_init(&rec, change == MP_CHANGE_LOGIN ? HUB_REC_IDENTIFY : HUB_REC_LOGOUT);
	rec.identifiers = ids;
	rec.n_identifiers = n;
	rec.platform = b->platform;
	record_time(&rec, time_or(ev->timestamp_ms, time_or(ev->new_ms, b->timestamp_ms)));
	snprintf(what, sizeof(what), "event:%zu", i);
	rec.message_id = ev->message_id ? ev->message_id : derived_id(b, what, id);
	return emit_with(st, call, &rec, NULL, &rec.attributes_json, index, (long)i, e);
}

/* Reads event i of a checked batch again (it cannot fail). */
static hub_rc event_again(json_t *item, struct mp_event *ev, size_t i, long index,
			  struct mp_error *e)
{
	char why[MP_MSG_SIZE];

	if (!mp_event_read(item, ev, why, sizeof(why)))
		return HUB_OK;
	emit_error(HUB_ERR_INTERNAL, index, (long)i, why, e);
	return HUB_ERR_INTERNAL;
}

/* Reads every event of the batch again and hands it to emit_one
 * (emit_change, emit_attribute_delete, emit_opt_out or emit_event). */
static hub_rc emit_each_event(const struct mp_state *st, struct hub_call *call,
			      const struct mp_batch *b,
			      hub_rc (*emit_one)(const struct mp_state *, struct hub_call *,
						 const struct mp_batch *, const struct mp_event *,
						 size_t, long, struct mp_error *),
			      long index, struct mp_error *e)
{
	struct mp_event ev;
	size_t i;
	json_t *item;
	hub_rc rc;

	json_array_foreach(b->events, i, item) {
		if ((rc = event_again(item, &ev, i, index, e)) != HUB_OK ||
		    (rc = emit_one(st, call, b, &ev, i, index, e)) != HUB_OK)
			return rc;
	}
	return HUB_OK;
}

hub_rc mp_batch_emit(const struct mp_state *st, struct hub_call *call,
		     const struct mp_batch *b, long index, struct mp_error *e)
{
	const struct mp_consent *c = &b->consent;
	hub_rc rc;

	if ((rc = emit_each_event(st, call, b, emit_change, index, e)) != HUB_OK ||
	    (rc = emit_each_event(st, call, b, emit_attribute_delete, index, e)) != HUB_OK)
		return rc;
	if (wants_identify(b) && (rc = emit_identify(st, call, b, index, e)) != HUB_OK)
		return rc;
	if ((rc = emit_consent(st, call, b, "email_marketing", c->email, c->email_ms, index,
			       e)) != HUB_OK ||
	    (rc = emit_consent(st, call, b, "sms_marketing", c->sms, c->sms_ms, index, e)) !=
		    HUB_OK ||
	    (rc = emit_ccpa(st, call, b, index, e)) != HUB_OK)
		return rc;
	if ((rc = emit_each_event(st, call, b, emit_opt_out, index, e)) != HUB_OK)
		return rc;
	return emit_each_event(st, call, b, emit_event, index, e);
}
