/*
 * segment_map.c - one checked Segment event -> one canonical record
 * (IDENTITY.md sections 2 and 9), handed to the host with emit().
 *
 *   identify  identify: traits, then context.traits -> attributes (email ->
 *             $email_address, ...; other keys named as text_attr_name
 *             does), context.locale ->
 *             $language + $region,
 *             context.timezone -> $timezone
 *   track     track named `event` with `properties`
 *   page      track "$page" with properties + name; screen: "$screen"
 *   group     track "$group" with {"group_id", "traits"}
 *   alias     alias: previousId -> previous_id, userId -> custom_id
 *
 * Every type: userId -> custom_id, anonymousId -> installation_id,
 * context.externalIds -> identifiers of their own type (the host keeps the
 * configured ones), the platform from context.os.name, context.device.type
 * or context.library.name.  Values are passed as they are: the host checks
 * attribute values and drops a bad one with a warning.
 *
 * message_id: the event's messageId, else the one segment_msgid.c derives
 * (segment_request.c sets it before the event comes here).
 *
 * Times: the ABI says "unset" with 0 (hub_plugin.h), so only here does a
 * time the event gave at exactly 1970-01-01T00:00:00.000Z become "unset":
 * the hub then takes the receive time (timestamp), does no skew correction
 * (sentAt) or takes its own receive time (receivedAt).  Every other
 * instant, those before 1970 too, goes as it is; the hub checks the range.
 */
#include "segment.h"

#include "../common/alloc_watch.h"
#include "../common/text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- platform --------------------------------------------------------- */

struct name_map {
	const char *name;
	const char *platform;
};

static const struct name_map os_platforms[] = {
	{"ios", "ios"},     {"ipados", "ios"}, {"iphone os", "ios"},
	{"android", "android"},
};

static const struct name_map device_platforms[] = {
	{"ios", "ios"}, {"android", "android"}, {"web", "web"}, {"browser", "web"},
};

static const struct name_map library_platforms[] = {
	{"analytics.js", "web"},
	{"analytics-next", "web"},
	{"@segment/analytics-next", "web"},
	{"rudderstack-javascript-sdk", "web"},
	{"RudderLabs JavaScript SDK", "web"}, /* RudderStack's browser SDK, v1.1 and v3 */
	{"analytics-ios", "ios"},
	{"analytics-swift", "ios"},
	{"analytics-android", "android"},
	{"analytics-kotlin", "android"},
	{"analytics-node", "server"},
	{"@segment/analytics-node", "server"},
	{"rudder-sdk-node", "server"},
	{"@rudderstack/rudder-sdk-node", "server"},
	{"analytics-python", "server"},
	{"analytics-ruby", "server"},
	{"analytics-go", "server"},
	{"analytics-java", "server"},
	{"analytics-php", "server"},
	{"Analytics.NET", "server"}, /* Segment's .NET server library */
};

static const char *name_lookup(const char *name, const struct name_map *map, size_t n)
{
	for (size_t i = 0; name && i < n; i++)
		if (strcasecmp(name, map[i].name) == 0)
			return map[i].platform;
	return NULL;
}

static const char *context_string(const struct seg_event *ev, const char *a, const char *b)
{
	const char *path[] = {a, b, NULL};

	return json_string_value(seg_context_get(ev, path));
}

/* 1 when context.<a>.<b> is a non-empty string. */
static int context_says(const struct seg_event *ev, const char *a, const char *b)
{
	const char *s = context_string(ev, a, b);

	return s && *s;
}

/* The platform context.library.name implies.  A browser or server
 * library's holds on any OS; a mobile one's ("ios", "android") only when
 * the call names neither an OS nor a device type: analytics-swift also
 * runs on macOS, tvOS, watchOS and Linux (os.name "tvOS", device.type
 * "macos", ...), and such an installation is no iOS one. */
static const char *library_platform(const struct seg_event *ev)
{
	const char *p = name_lookup(context_string(ev, "library", "name"), library_platforms,
				    sizeof(library_platforms) / sizeof(library_platforms[0]));
	int is_mobile = p && (strcmp(p, "ios") == 0 || strcmp(p, "android") == 0);

	if (is_mobile && (context_says(ev, "os", "name") || context_says(ev, "device", "type")))
		return NULL;
	return p;
}

/* The platform the event came from ("ios", "android", "web", "server"). */
static const char *event_platform(const struct seg_event *ev)
{
	const char *p;

	p = name_lookup(context_string(ev, "os", "name"), os_platforms,
			sizeof(os_platforms) / sizeof(os_platforms[0]));
	if (!p)
		p = name_lookup(context_string(ev, "device", "type"), device_platforms,
				sizeof(device_platforms) / sizeof(device_platforms[0]));
	return p ? p : library_platform(ev);
}

/* ---- attributes ------------------------------------------------------- */

/* Lowercased trait names that become native attributes. */
static const struct name_map native_traits[] = {
	{"email", "$email_address"}, {"phone", "$phone_number"},
	{"firstname", "$first_name"}, {"first_name", "$first_name"},
	{"lastname", "$last_name"},   {"last_name", "$last_name"},
};

/* Sets one trait under its attribute name: a native one ($...) lowercased,
 * any other as the mParticle source names its attributes ("Favorite
 * Color" -> favorite_color, text_attr_name), or lowercased when nothing of
 * it is left, so that the host's warning names it.  A trait named
 * anonymousId (any case) is none: it is the installation's identifier
 * (RudderStack's SDKs keep it among an identify's traits: the JavaScript
 * SDK's context.traits, the Android SDK's RudderTraits), which the
 * event's anonymousId gives as installation_id; as an attribute every
 * device would overwrite it in turn.  Returns 0 or -1 (memory). */
static int trait_set(json_t *attrs, const char *key, json_t *value)
{
	char *lower = strdup(key), name[SEG_ATTR_NAME_SIZE];
	const char *native;
	int rc;

	if (!lower)
		return -1;
	for (char *c = lower; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	text_attr_name(key, name, sizeof(name));
	if (lower[0] == '$' || !name[0])
		snprintf(name, sizeof(name), "%s", lower);
	native = name_lookup(name, native_traits, sizeof(native_traits) / sizeof(native_traits[0]));
	rc = strcmp(name, "anonymousid") == 0 ? 0
					       : json_object_set(attrs, native ? native : name, value);
	free(lower);
	return rc;
}

/* "fr-FR", "fr_FR", "zh-Hans-CN", "en" -> $language (and $region). */
static int locale_set(json_t *attrs, const char *locale)
{
	char lang[4] = "", region[4] = "";
	size_t n = strspn(locale, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
	const char *p = locale + n;

	if (n < 2 || n > 3 || (*p && *p != '-' && *p != '_'))
		return 0; /* not a locale: nothing to say */
	for (size_t i = 0; i < n; i++)
		lang[i] = (char)tolower((unsigned char)locale[i]);
	while (*p && !region[0]) {
		size_t len = strcspn(++p, "-_");
		int alpha = len == 2 && isalpha((unsigned char)p[0]) &&
			    isalpha((unsigned char)p[1]);
		int digits = len == 3 && strspn(p, "0123456789") >= 3;
		if (alpha || digits)
			for (size_t i = 0; i < len; i++)
				region[i] = (char)toupper((unsigned char)p[i]);
		p += len;
	}
	if (!json_object_get(attrs, "$language") &&
	    json_object_set_new(attrs, "$language", json_string(lang)))
		return -1;
	if (region[0] && !json_object_get(attrs, "$region") &&
	    json_object_set_new(attrs, "$region", json_string(region)))
		return -1;
	return 0;
}

/* Every trait of `traits` (an object or NULL) into attrs.  0 or -1. */
static int traits_set(json_t *attrs, json_t *traits)
{
	const char *key;
	json_t *value;

	json_object_foreach(traits, key, value) {
		if (trait_set(attrs, key, value))
			return -1;
	}
	return 0;
}

/* identify: traits, then context.traits (RudderStack's place for them:
 * the event's, then the batch's), then what the rest of the context says;
 * each source wins over the ones after it, attribute by attribute (a
 * trait's name as mapped: "email" beside a context's "Email" is one
 * $email_address, the event's).  An anonymousId among them is left out
 * (trait_set). */
static json_t *identify_attributes(const struct seg_event *ev)
{
	json_t *attrs = json_object(), *more = NULL;
	const char *locale, *tz;

	if (!attrs || traits_set(attrs, ev->traits))
		goto fail;
	for (size_t i = 0; i < 2; i++) {
		if (!ev->context_traits[i])
			continue;
		if (!(more = json_object()) || traits_set(more, ev->context_traits[i]))
			goto fail;
		if (json_object_update_missing(attrs, more))
			goto fail;
		json_decref(more);
		more = NULL;
	}
	if ((locale = context_string(ev, "locale", NULL)) && locale_set(attrs, locale))
		goto fail;
	tz = context_string(ev, "timezone", NULL);
	if (tz && !json_object_get(attrs, "$timezone") &&
	    json_object_set_new(attrs, "$timezone", json_string(tz)))
		goto fail;
	json_decref(more);
	return attrs;
fail:
	json_decref(more);
	json_decref(attrs);
	return NULL;
}

/* ---- event properties ------------------------------------------------- */

/* page / screen: the properties plus the name and category (sent beside
 * `name` by the libraries other than @segment/analytics-node, which copies
 * them into the properties itself). */
static json_t *view_properties(const struct seg_event *ev)
{
	json_t *props = ev->properties ? json_copy(ev->properties) : json_object();

	if (props && ((ev->name && json_object_set_new(props, "name", json_string(ev->name))) ||
		      (ev->category &&
		       json_object_set_new(props, "category", json_string(ev->category))))) {
		json_decref(props);
		return NULL;
	}
	return props;
}

static json_t *group_properties(const struct seg_event *ev)
{
	json_t *traits = ev->traits ? json_incref(ev->traits) : json_object();

	if (!traits)
		return NULL;
	return json_pack("{s:s, s:o}", "group_id", ev->group_id, "traits", traits);
}

/* The payload of the record, as a JSON object (new reference), or NULL
 * when the type has none.  *failed on memory errors. */
static json_t *payload(const struct seg_event *ev, int *failed)
{
	json_t *p = NULL;

	switch (ev->type) {
	case SEG_IDENTIFY:
		p = identify_attributes(ev);
		break;
	case SEG_TRACK:
		return ev->properties ? json_incref(ev->properties) : NULL;
	case SEG_PAGE:
	case SEG_SCREEN:
		p = view_properties(ev);
		break;
	case SEG_GROUP:
		p = group_properties(ev);
		break;
	case SEG_ALIAS:
		return NULL;
	}
	*failed = !p;
	return p;
}

/* An identify's consent from context.messaging_subscriptions (Twilio
 * Engage): type EMAIL -> email_marketing, SMS -> sms_marketing (other
 * channels, WHATSAPP or push, are not the hub's); status SUBSCRIBED ->
 * "subscribed", UNSUBSCRIBED -> "unsubscribed", DID_NOT_SUBSCRIBE -> null
 * (unset), any other status as sent, which the hub drops with a warning
 * naming it, never taken for a state it is not.  The last entry of a
 * channel wins.  A new reference, NULL when there is none; *failed on
 * memory errors. */
static json_t *subscriptions_consent(const struct seg_event *ev, int *failed)
{
	json_t *consent, *x;
	size_t i;

	if (!json_array_size(ev->subscriptions))
		return NULL;
	if (!(consent = json_object())) {
		*failed = 1;
		return NULL;
	}
	json_array_foreach(ev->subscriptions, i, x) {
		const char *type = json_string_value(json_object_get(x, "type"));
		const char *status = json_string_value(json_object_get(x, "status"));
		const char *channel = strcasecmp(type, "EMAIL") == 0 ? "email_marketing"
				      : strcasecmp(type, "SMS") == 0 ? "sms_marketing"
								       : NULL;
		json_t *state = strcasecmp(status, "SUBSCRIBED") == 0 ? json_string("subscribed")
				: strcasecmp(status, "UNSUBSCRIBED") == 0
					? json_string("unsubscribed")
				: strcasecmp(status, "DID_NOT_SUBSCRIBE") == 0 ? json_null()
									       : json_string(status);
		if (channel && json_object_set_new(consent, channel, state))
			*failed = 1;
		else if (!channel)
			json_decref(state);
	}
	if (json_object_size(consent) == 0 || *failed) {
		json_decref(consent);
		return NULL;
	}
	return consent;
}

/* ---- the record -------------------------------------------------------- */

static size_t identifiers_fill(const struct seg_event *ev, struct hub_ident *ids)
{
	size_t n = 0, i;
	json_t *x;

	if (ev->user_id)
		ids[n++] = (struct hub_ident){"custom_id", ev->user_id};
	if (ev->anonymous_id && ev->type != SEG_ALIAS)
		ids[n++] = (struct hub_ident){"installation_id", ev->anonymous_id};
	json_array_foreach(ev->external_ids, i, x) {
		const char *type = json_string_value(json_object_get(x, "type"));
		/* userId and anonymousId alone say who: never an externalId */
		if (strcmp(type, "custom_id") == 0 || strcmp(type, "installation_id") == 0)
			continue;
		ids[n++] = (struct hub_ident){type, json_string_value(json_object_get(x, "id"))};
	}
	return n;
}

/* sentAt and receivedAt as the ABI carries them: 0 is "unset", so one at
 * exactly the epoch reads as unset (docs/plugins.md, ABI 1.5).  The event
 * time says it was given (has_timestamp, ABI 1.5): the epoch is kept. */
static int64_t abi_time(int has, int64_t ms)
{
	return has ? ms : 0;
}

static const char *const view_names[] = {
	[SEG_PAGE] = "$page", [SEG_SCREEN] = "$screen", [SEG_GROUP] = "$group",
};

static void record_fill(const struct seg_event *ev, struct hub_record *rec,
			struct hub_ident *ids, const char *message_id, const char *payload_text,
			const char *consent_text)
{
	const char *token;

	hub_record_init(rec, ev->type == SEG_IDENTIFY ? HUB_REC_IDENTIFY
			     : ev->type == SEG_ALIAS  ? HUB_REC_ALIAS
						      : HUB_REC_TRACK);
	rec->message_id = message_id;
	rec->timestamp_ms = abi_time(ev->has_timestamp, ev->timestamp_ms);
	rec->has_timestamp = ev->has_timestamp;
	rec->sent_at_ms = abi_time(ev->has_sent_at, ev->sent_at_ms);
	rec->received_at_ms = abi_time(ev->has_received_at, ev->received_at_ms);
	rec->identifiers = ids;
	rec->n_identifiers = identifiers_fill(ev, ids);
	rec->platform = event_platform(ev);
	/* a device with a push token (the mobile libraries send it on every
	 * call once registered) can be sent pushes; none says nothing; an
	 * empty anonymousId is no installation (token_dropped() says so; an
	 * alias's installation is its previousId) */
	token = context_string(ev, "device", "token");
	if (ev->anonymous_id && (*ev->anonymous_id || ev->type == SEG_ALIAS) && token && *token)
		rec->push_enabled = 1;
	switch (ev->type) {
	case SEG_IDENTIFY:
		rec->attributes_json = payload_text;
		rec->consent_json = consent_text;
		break;
	case SEG_TRACK:
		rec->event_name = ev->event;
		rec->properties_json = payload_text;
		break;
	case SEG_PAGE:
	case SEG_SCREEN:
	case SEG_GROUP:
		rec->event_name = view_names[ev->type];
		rec->properties_json = payload_text;
		break;
	case SEG_ALIAS:
		rec->previous_id = ev->previous_id;
		break;
	}
}

/* The host's refusal of a record without a usable identifier names the
 * canonical fields.  The event gave userId or anonymousId (segment_event.c
 * requires them), so what it gave was empty or blocked (IDENTITY.md: "",
 * "null", "0", ...): said of the fields the client sent.  0 when `why` is
 * another refusal. */
static int ids_refused(const struct seg_event *ev, long index, const char *why, struct seg_error *e)
{
	static const char alias[] = "identifiers.custom_id: required for alias";
	static const char none[] = "identifiers: no usable identifier";
	int has_anonymous = ev->anonymous_id && ev->type != SEG_ALIAS;

	if (strncmp(why, alias, sizeof(alias) - 1) == 0) {
		seg_error_set(e, 400, "invalid_event", index,
			      "userId: empty or blocked (such as \"null\"): alias requires a "
			      "usable userId");
		return 1;
	}
	if (strncmp(why, none, sizeof(none) - 1) != 0)
		return 0;
	seg_error_set(e, 400, "invalid_event", index,
		      "%s: empty or blocked (such as \"null\"), so no usable identifier%s",
		      !ev->user_id    ? "anonymousId"
		      : has_anonymous ? "userId and anonymousId"
				      : "userId",
		      json_array_size(ev->external_ids) ? " (nor in context.externalIds)" : "");
	return 1;
}

static void emit_error(const struct seg_event *ev, hub_rc rc, long index, const char *why,
		       struct seg_error *e)
{
	switch (rc) {
	case HUB_ERR_DATA:
		if (!ids_refused(ev, index, why, e))
			seg_error_set(e, 400, "invalid_event", index, "%s", why);
		break;
	case HUB_ERR_BUSY:
	case HUB_ERR_STOPPED:
	case HUB_RETRY:
		seg_error_set(e, 503, "unavailable", index, "cannot store now: %s", why);
		break;
	case HUB_ERR_NOMEM:
		seg_error_set(e, 500, "internal", index, "out of memory");
		break;
	default:
		seg_error_set(e, 500, "internal", index, "%s", why[0] ? why : "emit failed");
		break;
	}
}

/* After an accepted record: a push token that an empty anonymousId left
 * without an installation is named as the client sent it (the host's own
 * warning would name push_enabled and installation_id, fields the client
 * never sent).  HUB_OK, or warn()'s code with e filled. */
static hub_rc token_dropped(const struct seg_state *st, struct hub_call *call,
			    const struct seg_event *ev, long index, struct seg_error *e)
{
	const char *token = context_string(ev, "device", "token");
	hub_rc rc;

	if (ev->type == SEG_ALIAS || !ev->anonymous_id || *ev->anonymous_id || !token ||
	    !*token || !HUB_HOST_HAS(st->host, warn))
		return HUB_OK;
	rc = st->host->warn(call, "context.device.token: push not stored: anonymousId is "
				  "empty, so there is no installation to store it on");
	if (rc != HUB_OK)
		emit_error(ev, rc, index, "", e);
	return rc;
}

hub_rc seg_event_emit(const struct seg_state *st, struct hub_call *call,
		      const struct seg_event *ev, long index, struct seg_error *e)
{
	size_t n_ext = json_array_size(ev->external_ids);
	struct hub_ident *ids = malloc((2 + n_ext) * sizeof(*ids));
	char *text = NULL, *ctext = NULL, why[SEG_MSG_SIZE] = "";
	struct hub_record rec;
	int failed = 0;
	json_t *p = NULL, *c = NULL;
	hub_rc rc = HUB_ERR_NOMEM;

	if (!ids)
		goto fail;
	p = payload(ev, &failed);
	c = failed ? NULL : subscriptions_consent(ev, &failed);
	/* jansson leaves out what it cannot allocate (alloc_watch.h) */
	if (failed || (p && !(text = json_dumps(p, JSON_COMPACT))) ||
	    (c && !(ctext = json_dumps(c, JSON_COMPACT))) || alloc_watch_lost(st->host))
		goto fail;
	record_fill(ev, &rec, ids, ev->message_id, text, ctext);
	rc = st->host->emit(call, &rec, why, sizeof(why));
	if (rc == HUB_OK) {
		rc = token_dropped(st, call, ev, index, e);
		goto out;
	}
fail:
	emit_error(ev, rc, index, why, e);
out:
	free(text);
	free(ctext);
	json_decref(p);
	json_decref(c);
	free(ids);
	return rc;
}
