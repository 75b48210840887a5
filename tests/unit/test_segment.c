/*
 * test_segment.c - drives plugins/segment (Segment HTTP Tracking API and
 * Webhooks destination) through the real loader and host table
 * (tests/unit/plugtest.h): requests go straight to the plugin's routes with
 * a struct hub_call whose emit validates each record like the hub does
 * (record_from_hub) and keeps a copy.  Covers the mapping of every Segment
 * Spec type to canonical records (fixtures in tests/fixtures/segment/),
 * write-key auth, webhook signatures, a table of malformed requests (each
 * must emit nothing) and the import_line callback.
 */
#include "plugtest.h"

#include "../../hub/alloc.h"
#include "../../hub/record.h"
#include "../../hub/util.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES "tests/fixtures/segment"

#define KEY1_BASIC "Basic d2tfbGl2ZV8xOg=="	    /* "wk_live_1:" */
#define KEY2_BASIC "Basic d2tfbGl2ZV8yOmlnbm9yZWQ=" /* "wk_live_2:ignored" */
#define WEBHOOK_SECRET "whsec_test_secret"

/* ---- the world (tests/unit/plugtest.h) ------------------------------- */

/* One source "web" of the plugin, with its own keys (%s). */
#define CONFIG                                                          \
	"identity:\n  external:\n    crm_id: {limit: 1, priority: 1}\n" \
	"sources:\n  - name: web\n    plugin: segment\n%s"

static const char default_keys[] = "    write_keys: [wk_live_1, wk_live_2]\n"
				   "    webhook_secret: " WEBHOOK_SECRET "\n";

static void fixture_open_with(struct pt_fixture *f, const char *keys_yaml)
{
	pt_open(f, "segment", CONFIG, keys_yaml);
}

static void fixture_open(struct pt_fixture *f)
{
	fixture_open_with(f, default_keys);
}

/* Sends a fixture to a route with key 1; expects 200. */
static void send_fixture_ok(struct pt_fixture *f, const char *path, const char *name)
{
	pt_post_file_ok(f, path, KEY1_BASIC, FIXTURES, name, 200, "{\"success\":true}");
}

static int64_t ms(const char *rfc3339)
{
	int64_t v = 0;

	CU_ASSERT_EQUAL(time_parse_rfc3339(rfc3339, &v), 0);
	return v;
}

/* Checks the error answer: status, code, index (-1: none). */
static void assert_error(const struct hub_response *resp, int status, const char *code, long index)
{
	json_t *doc = pt_answer_json(resp, status), *err = json_object_get(doc, "error");

	pt_assert_error_object(err, code);
	pt_assert_index(err, "index", index);
	json_decref(doc);
}

/* ---- mapping: the Segment Spec examples -------------------------------- */

static void test_identify_spec_example_maps_ids_traits_and_context(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v1/identify", "identify.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_IDENTIFY);
	ASSERT_STR_OR_NULL(s->message_id, "022bb90c-bbac-11e4-8dfc-aa07a5b093db");
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "97980cfea0067");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "507f191e810c19729de860ea");
	CU_ASSERT_EQUAL(s->n_ids, 2);
	ASSERT_STR_OR_NULL(s->platform, "web");
	ASSERT_STR_OR_NULL(s->attributes_json,
			   "{\"name\":\"Peter Gibbons\",\"$email_address\":\"peter@example.com\","
			   "\"$first_name\":\"Peter\",\"$last_name\":\"Gibbons\","
			   "\"$phone_number\":\"+14155550100\",\"plan\":\"premium\",\"logins\":5,"
			   "\"createdat\":\"2015-02-01T10:00:00.000Z\","
			   "\"address\":{\"street\":\"6th St\",\"city\":\"San Francisco\","
			   "\"state\":\"CA\",\"postalCode\":\"94103\",\"country\":\"USA\"},"
			   "\"$language\":\"fr\",\"$region\":\"FR\","
			   "\"$timezone\":\"Europe/Paris\"}");
	/* the nested address is no attribute value: the hub drops it, warns */
	CU_ASSERT_EQUAL(s->n_warnings, 1);
	CU_ASSERT_PTR_NULL(s->event_name);
	CU_ASSERT_PTR_NULL(s->properties_json);
	CU_ASSERT_EQUAL(s->timestamp_ms, ms("2015-02-23T22:28:55.111Z"));
	CU_ASSERT_EQUAL(s->sent_at_ms, ms("2015-02-23T22:28:55.111Z"));
	CU_ASSERT_EQUAL(s->received_at_ms, 0);
	pt_close(&f);
}

static void test_track_spec_example_maps_event_and_properties(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v1/track", "track.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_TRACK);
	ASSERT_STR_OR_NULL(s->event_name, "Course Clicked");
	ASSERT_STR_OR_NULL(s->properties_json, "{\"title\":\"Intro to Analytics\"}");
	ASSERT_STR_OR_NULL(s->message_id, "ajs-f8ca1e4de5024d9430b3928bd8ac6b96");
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "AiUGstSDIg");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "23adfd82-aa0f-45a7-a756-24f2a7a4c895");
	ASSERT_STR_OR_NULL(s->platform, "web");
	CU_ASSERT_PTR_NULL(s->attributes_json);
	/* timestamp wins over originalTimestamp; sentAt corrects the skew */
	CU_ASSERT_EQUAL(s->timestamp_ms, ms("2015-12-12T19:11:01.249Z"));
	CU_ASSERT_EQUAL(s->sent_at_ms, ms("2015-12-12T19:11:01.169Z"));
	CU_ASSERT_EQUAL(s->received_at_ms, 0);
	pt_close(&f);
}

static void test_page_becomes_page_event_with_its_name(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v1/page", "page.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_TRACK);
	ASSERT_STR_OR_NULL(s->event_name, "$page");
	ASSERT_STR_OR_NULL(s->properties_json,
			   "{\"title\":\"Welcome | Initech\","
			   "\"url\":\"http://www.example.com\",\"name\":\"Home\"}");
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "97980cfea0067");
	CU_ASSERT_PTR_NULL(s->platform); /* no library, os or device named */
	pt_close(&f);
}

static void test_screen_becomes_screen_event_on_ios(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v1/screen", "screen.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_TRACK);
	ASSERT_STR_OR_NULL(s->event_name, "$screen");
	ASSERT_STR_OR_NULL(s->properties_json,
			   "{\"variation\":\"blue signup button\",\"name\":\"Home\"}");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "3a12eab0-bca7-11e4-8dfc-aa07a5b093db");
	ASSERT_STR_OR_NULL(s->platform, "ios");
	pt_close(&f);
}

static void test_group_becomes_group_event_with_id_and_traits(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v1/group", "group.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_TRACK);
	ASSERT_STR_OR_NULL(s->event_name, "$group");
	ASSERT_STR_OR_NULL(s->properties_json,
			   "{\"group_id\":\"0e8c78ea9d97a7b8185e8632\",\"traits\":{\"name\":"
			   "\"Initech\",\"industry\":\"Technology\",\"employees\":329,"
			   "\"plan\":\"enterprise\",\"total billed\":830}}");
	CU_ASSERT_PTR_NULL(s->attributes_json);
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "97980cfea0067");
	pt_close(&f);
}

static void test_alias_maps_previous_id_and_user_id(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v1/alias", "alias.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_ALIAS);
	ASSERT_STR_OR_NULL(s->previous_id, "39239-239239-239239-23923");
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "507f191e81");
	CU_ASSERT_PTR_NULL(pt_id_of(s, "installation_id")); /* an alias names no device */
	CU_ASSERT_EQUAL(s->n_ids, 1);
	CU_ASSERT_PTR_NULL(s->event_name);
	pt_close(&f);
}

/* Every fixture also goes through /v1/batch and the webhook unchanged. */
static void test_spec_examples_map_alike_through_batch(void)
{
	static const char *const names[] = {"identify.json", "track.json", "page.json",
					    "screen.json",   "group.json", "alias.json"};
	struct hub_response resp;
	struct pt_fixture f;
	char *items[6], *body;
	size_t n = 0;

	for (size_t i = 0; i < 6; i++)
		items[i] = pt_read_file(FIXTURES, names[i]);
	body = calloc(1, 16384);
	n += (size_t)sprintf(body, "{\"batch\": [");
	for (size_t i = 0; i < 6; i++)
		n += (size_t)sprintf(body + n, "%s%s", i ? "," : "", items[i]);
	sprintf(body + n, "]}");
	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY2_BASIC, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 6);
	CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_IDENTIFY);
	ASSERT_STR_OR_NULL(f.got.recs[1].event_name, "Course Clicked");
	ASSERT_STR_OR_NULL(f.got.recs[2].event_name, "$page");
	ASSERT_STR_OR_NULL(f.got.recs[3].event_name, "$screen");
	ASSERT_STR_OR_NULL(f.got.recs[4].event_name, "$group");
	CU_ASSERT_EQUAL(f.got.recs[5].type, HUB_REC_ALIAS);
	pt_close(&f);
	for (size_t i = 0; i < 6; i++)
		free(items[i]);
	free(body);
}

static void test_batch_context_merges_into_items(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v1/batch", "batch_context.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);

	/* item 0: every context field from the batch */
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_IDENTIFY);
	ASSERT_STR_OR_NULL(s->message_id, "b1");
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "u-100");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "a-100");
	ASSERT_STR_OR_NULL(s->attributes_json,
			   "{\"$email_address\":\"ann@example.com\",\"plan\":\"gold\","
			   "\"$language\":\"de\",\"$region\":\"DE\","
			   "\"$timezone\":\"Europe/Berlin\"}");
	ASSERT_STR_OR_NULL(s->platform, "server"); /* Linux: unknown; analytics-node */
	CU_ASSERT_EQUAL(s->timestamp_ms, ms("2026-03-01T10:00:00.000Z"));
	CU_ASSERT_EQUAL(s->sent_at_ms, ms("2026-03-01T10:00:10.000Z")); /* the batch's */
	CU_ASSERT_EQUAL(s->n_warnings, 0);

	/* item 1: its own os, locale, externalIds and sentAt win */
	s = &f.got.recs[1];
	CU_ASSERT_EQUAL(s->type, HUB_REC_TRACK);
	ASSERT_STR_OR_NULL(s->event_name, "Order Completed");
	ASSERT_STR_OR_NULL(s->properties_json, "{\"total\":18.5,\"currency\":\"EUR\"}");
	ASSERT_STR_OR_NULL(s->platform, "android");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "a-100");
	ASSERT_STR_OR_NULL(pt_id_of(s, "crm_id"), "K7");
	CU_ASSERT_PTR_NULL(pt_id_of(s, "custom_id"));
	CU_ASSERT_EQUAL(s->sent_at_ms, ms("2026-03-01T10:00:09.000Z"));

	/* item 2: no timestamp (the hub's receive time applies), own timezone,
	 * the batch's locale; device.type once os.name says nothing */
	s = &f.got.recs[2];
	ASSERT_STR_OR_NULL(s->attributes_json, "{\"$language\":\"de\",\"$region\":\"DE\","
					       "\"$timezone\":\"America/New_York\"}");
	ASSERT_STR_OR_NULL(s->platform, "android");
	CU_ASSERT_EQUAL(s->timestamp_ms, 0);
	CU_ASSERT_EQUAL(s->sent_at_ms, 0);
	CU_ASSERT_EQUAL(s->received_at_ms, 0);
	pt_close(&f);
}

/* ---- mapping details ---------------------------------------------------- */

/* One identify with a context; returns its attributes JSON (malloc'd). */
static char *identify_attributes(struct pt_fixture *f, const char *context_json)
{
	struct hub_response resp;
	char body[512];

	snprintf(body, sizeof(body), "{\"userId\": \"u1\", \"context\": %s}", context_json);
	CU_ASSERT_EQUAL(pt_post(f, "/v1/identify", KEY1_BASIC, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	return pt_take_attributes(&f->got);
}

static void test_locale_and_timezone_become_native_attributes(void)
{
	static const struct {
		const char *context, *attributes;
	} rows[] = {
		{"{\"locale\": \"fr-FR\"}", "{\"$language\":\"fr\",\"$region\":\"FR\"}"},
		{"{\"locale\": \"en_us\"}", "{\"$language\":\"en\",\"$region\":\"US\"}"},
		{"{\"locale\": \"zh-Hans-CN\"}", "{\"$language\":\"zh\",\"$region\":\"CN\"}"},
		{"{\"locale\": \"es-419\"}", "{\"$language\":\"es\",\"$region\":\"419\"}"},
		/* four digits are no region: the next subtag is */
		{"{\"locale\": \"en-1234-GB\"}", "{\"$language\":\"en\",\"$region\":\"GB\"}"},
		{"{\"locale\": \"DE\"}", "{\"$language\":\"de\"}"},
		/* ISO 639 codes have two or three letters */
		{"{\"locale\": \"fil-PH\"}", "{\"$language\":\"fil\",\"$region\":\"PH\"}"},
		{"{\"locale\": \"engl-US\"}", "{}"},
		{"{\"locale\": \"english\"}", "{}"},
		{"{\"locale\": 7}", "{}"},
		{"{\"timezone\": \"Asia/Tokyo\"}", "{\"$timezone\":\"Asia/Tokyo\"}"},
		{"{\"locale\": \"pt-BR\", \"timezone\": \"America/Sao_Paulo\"}",
		 "{\"$language\":\"pt\",\"$region\":\"BR\",\"$timezone\":\"America/Sao_Paulo\"}"},
	};
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *attrs = identify_attributes(&f, rows[i].context);
		ASSERT_STR_OR_NULL(attrs, rows[i].attributes);
		free(attrs);
	}
	pt_close(&f);
}

/* An identify's context.messaging_subscriptions (Twilio Engage) sets the
 * consent of its channels: EMAIL and SMS, SUBSCRIBED / UNSUBSCRIBED /
 * DID_NOT_SUBSCRIBE (unset), the last entry of a channel winning; other
 * channels set nothing; another status goes as sent, for the hub to drop
 * with a warning.  A track's is ignored; a malformed list is refused
 * naming it.  The list was ignored: a Segment-fed hub had no consent. */
static void test_messaging_subscriptions_set_consent(void)
{
	static const struct {
		const char *type, *subscriptions, *consent; /* consent NULL: none */
	} rows[] = {
		{"identify",
		 "[{\"key\": \"ann@example.com\", \"type\": \"EMAIL\", \"status\": \"SUBSCRIBED\"},"
		 " {\"key\": \"+15550100\", \"type\": \"SMS\", \"status\": \"UNSUBSCRIBED\"}]",
		 "{\"email_marketing\":\"subscribed\",\"sms_marketing\":\"unsubscribed\"}"},
		{"identify", "[{\"type\": \"sms\", \"status\": \"did_not_subscribe\"}]",
		 "{\"sms_marketing\":null}"},
		{"identify",
		 "[{\"type\": \"EMAIL\", \"status\": \"SUBSCRIBED\"},"
		 " {\"type\": \"EMAIL\", \"status\": \"UNSUBSCRIBED\"}]",
		 "{\"email_marketing\":\"unsubscribed\"}"},
		{"identify", "[{\"type\": \"EMAIL\", \"status\": \"SUBSCRIBE\"}]",
		 "{\"email_marketing\":\"SUBSCRIBE\"}"},
		{"identify",
		 "[{\"type\": \"WHATSAPP\", \"status\": \"SUBSCRIBED\"},"
		 " {\"type\": \"IOS_PUSH\", \"status\": \"SUBSCRIBED\"}]",
		 NULL},
		{"identify", "[]", NULL},
		{"track", "[{\"type\": \"EMAIL\", \"status\": \"SUBSCRIBED\"}]", NULL},
	};
	static const char *const refused[] = {
		"{\"type\": \"EMAIL\"}", "[{\"type\": \"EMAIL\"}]",
		"[{\"type\": \"EMAIL\", \"status\": true}]", "[7]"};
	struct hub_response resp;
	struct pt_fixture f;
	char body[512];

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct pt_seen *s;
		snprintf(body, sizeof(body),
			 "{\"type\": \"%s\", \"userId\": \"u1\", \"event\": \"e\","
			 " \"context\": {\"messaging_subscriptions\": %s}}",
			 rows[i].type, rows[i].subscriptions);
		s = pt_post_one(&f, rows[i].type[0] == 't' ? "/v1/track" : "/v1/identify",
				KEY1_BASIC, body);
		ASSERT_STR_OR_NULL(s->consent_json, rows[i].consent);
		pt_reset(&f.got);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		hub_rc rc;
		snprintf(body, sizeof(body),
			 "{\"userId\": \"u1\", \"context\": {\"messaging_subscriptions\": %s}}",
			 refused[i]);
		rc = pt_post(&f, "/v1/identify", KEY1_BASIC, body, &resp);
		assert_error(&resp, 400, "invalid_event", 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, "context.messaging_subscriptions"));
		pt_assert_refused(&f, refused[i], rc, &resp, 400);
	}
	pt_close(&f);
}

static void test_traits_win_over_context_and_keys_are_lowercased(void)
{
	static const char body[] =
		"{\"userId\": \"u1\", \"traits\": {\"$language\": \"it\", \"First_Name\": \"Ann\","
		" \"LastName\": \"Lee\", \"EMAIL\": \"ann@example.com\", \"FavoriteColor\": "
		"\"red\", \"$timezone\": \"Europe/Rome\"},"
		" \"context\": {\"locale\": \"fr-FR\", \"timezone\": \"Asia/Tokyo\"}}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/identify", KEY1_BASIC, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	ASSERT_STR_OR_NULL(f.got.recs[0].attributes_json,
			   "{\"$language\":\"it\",\"$first_name\":\"Ann\",\"$last_name\":\"Lee\","
			   "\"$email_address\":\"ann@example.com\",\"favoritecolor\":\"red\","
			   "\"$timezone\":\"Europe/Rome\",\"$region\":\"FR\"}");
	pt_close(&f);
}

/* RudderStack's JavaScript and mobile SDKs send an identify's traits in
 * context.traits only (its Node SDK in both places): they were dropped, and
 * the identify stored no attribute.  The event's traits win over them, name
 * by mapped name ("email" and "Email" are one $email_address), and they win
 * over the locale and timezone; the batch's context.traits merge into the
 * event's, key by key, as the rest of the context does; another call's
 * context.traits (the cached traits the mobile libraries repeat on every
 * call) sets nothing; one that is no object is refused, naming it.  The
 * anonymousId RudderStack's JavaScript SDK adds to them is no attribute. */
static void test_context_traits_are_an_identifys_traits_under_its_own(void)
{
	static const char rudder[] =
		"{\"type\": \"identify\", \"userId\": \"u1\", \"context\": {\"locale\":"
		" \"fr-FR\", \"traits\": {\"Email\": \"ann@example.com\", \"name\": \"Ann\","
		" \"$region\": \"BE\", \"anonymousId\": \"1e7673da\"}}}";
	static const char both[] =
		"{\"type\": \"identify\", \"userId\": \"u1\", \"traits\": {\"email\":"
		" \"new@example.com\", \"plan\": \"gold\"}, \"context\": {\"traits\": {\"Email\":"
		" \"old@example.com\", \"plan\": \"free\", \"logins\": 3}}}";
	static const char batch[] =
		"{\"context\": {\"traits\": {\"plan\": \"batch\", \"tier\": 2}}, \"batch\": ["
		"{\"type\": \"identify\", \"userId\": \"u1\"},"
		"{\"type\": \"identify\", \"userId\": \"u2\","
		" \"context\": {\"traits\": {\"plan\": \"own\"}}},"
		"{\"type\": \"track\", \"userId\": \"u3\", \"event\": \"e\","
		" \"context\": {\"traits\": {\"plan\": \"cached\"}}}]}";
	static const char bad[] =
		"{\"batch\": [{\"type\": \"identify\", \"userId\": \"u1\"},"
		" {\"type\": \"identify\", \"userId\": \"u2\","
		" \"context\": {\"traits\": [\"gold\"]}}]}";
	struct hub_response resp;
	struct pt_fixture f;
	json_t *doc;

	fixture_open(&f);
	ASSERT_STR_OR_NULL(pt_post_one(&f, "/v1/identify", KEY1_BASIC, rudder)->attributes_json,
			   "{\"$email_address\":\"ann@example.com\",\"name\":\"Ann\","
			   "\"$region\":\"BE\",\"$language\":\"fr\"}");
	pt_reset(&f.got);
	ASSERT_STR_OR_NULL(pt_post_one(&f, "/v1/identify", KEY1_BASIC, both)->attributes_json,
			   "{\"$email_address\":\"new@example.com\",\"plan\":\"gold\","
			   "\"logins\":3}");
	pt_reset(&f.got);

	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, batch, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	ASSERT_STR_OR_NULL(f.got.recs[0].attributes_json, "{\"plan\":\"batch\",\"tier\":2}");
	ASSERT_STR_OR_NULL(f.got.recs[1].attributes_json, "{\"plan\":\"own\",\"tier\":2}");
	CU_ASSERT_PTR_NULL(f.got.recs[2].attributes_json);
	pt_reset(&f.got);

	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, bad, &resp), HUB_ERR_DATA);
	assert_error(&resp, 400, "invalid_event", 1);
	doc = pt_answer_json(&resp, 400);
	ASSERT_STR_OR_NULL(json_string_value(json_object_get(json_object_get(doc, "error"),
							     "message")),
			   "context.traits: must be an object");
	json_decref(doc);
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	pt_close(&f);
}

/* A trait named anonymousId, in traits as in context.traits and in any
 * case, is the installation's identifier (the event's anonymousId gives
 * it as installation_id), no attribute: in `traits` it became an
 * "anonymousid" attribute each device overwrote in turn.  A trait named
 * otherwise ("anonymous_id") stays one. */
static void test_a_trait_named_anonymous_id_is_no_attribute(void)
{
	static const char *const bodies[] = {
		"{\"type\": \"identify\", \"userId\": \"u1\", \"anonymousId\": \"a-1\","
		" \"traits\": {\"anonymousId\": \"a-1\", \"plan\": \"gold\"}}",
		"{\"type\": \"identify\", \"userId\": \"u1\", \"anonymousId\": \"a-1\","
		" \"traits\": {\"ANONYMOUSID\": \"a-1\", \"plan\": \"gold\"},"
		" \"context\": {\"traits\": {\"anonymousId\": \"a-1\"}}}",
		"{\"type\": \"identify\", \"userId\": \"u1\", \"anonymousId\": \"a-1\","
		" \"context\": {\"traits\": {\"anonymousId\": \"a-1\", \"plan\": \"gold\"}}}",
	};
	static const char kept[] = "{\"type\": \"identify\", \"userId\": \"u1\","
				   " \"traits\": {\"anonymous_id\": \"x\"}}";
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
		const struct pt_seen *s = pt_post_one(&f, "/v1/identify", KEY1_BASIC, bodies[i]);

		ASSERT_STR_OR_NULL(s->attributes_json, "{\"plan\":\"gold\"}");
		ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "a-1");
		pt_reset(&f.got);
	}
	ASSERT_STR_OR_NULL(pt_post_one(&f, "/v1/identify", KEY1_BASIC, kept)->attributes_json,
			   "{\"anonymous_id\":\"x\"}");
	pt_close(&f);
}

/* A trait key of spaces, dashes or other marks is named as the mParticle
 * source names its attributes (a run of them one '_'): it was only
 * lowercased, and the host dropped "favorite color" with a warning.  A
 * native one ($...) stays as written; a key of nothing usable stays
 * lowercased, for the host's warning to name. */
static void test_trait_keys_are_named_as_mparticle_names_attributes(void)
{
	static const char body[] =
		"{\"userId\": \"u1\", \"traits\": {\"Favorite Color\": \"blue\","
		" \"account-type\": \"pro\", \"First Name\": \"Ann\", \"  Total _Spend! \": 3,"
		" \"$Timezone\": \"Europe/Rome\", \"\u00c9\u00e9\": 1}}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/identify", KEY1_BASIC, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	ASSERT_STR_OR_NULL(f.got.recs[0].attributes_json,
			   "{\"favorite_color\":\"blue\",\"account_type\":\"pro\","
			   "\"$first_name\":\"Ann\",\"total_spend\":3,"
			   "\"$timezone\":\"Europe/Rome\",\"\u00c9\u00e9\":1}");
	pt_close(&f);
}

static void test_external_ids_become_identifiers(void)
{
	static const char body[] =
		"{\"type\": \"track\", \"event\": \"Signed Up\", \"anonymousId\": \"a1\","
		" \"context\": {\"externalIds\": ["
		"{\"id\": \"K7\", \"type\": \"crm_id\", \"collection\": \"users\", \"encoding\": "
		"\"none\"},"
		"{\"id\": \"Z9\", \"type\": \"zendesk_id\"},"
		"{\"id\": \"evil\", \"type\": \"custom_id\"}]}}";
	struct hub_response resp;
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	s = &f.got.recs[0];
	/* the hub keeps configured types only (crm_id); custom_id comes from
	 * userId alone */
	CU_ASSERT_EQUAL(s->n_ids, 3);
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "a1");
	ASSERT_STR_OR_NULL(pt_id_of(s, "crm_id"), "K7");
	ASSERT_STR_OR_NULL(pt_id_of(s, "zendesk_id"), "Z9");
	CU_ASSERT_PTR_NULL(pt_id_of(s, "custom_id"));
	pt_close(&f);
}

static void test_platform_detection(void)
{
	static const struct {
		const char *context, *platform;
	} rows[] = {
		{"{\"os\": {\"name\": \"iOS\"}}", "ios"},
		{"{\"os\": {\"name\": \"iPadOS\"}}", "ios"},
		{"{\"os\": {\"name\": \"Android\"}, \"library\": {\"name\": \"analytics.js\"}}",
		 "android"},
		{"{\"device\": {\"type\": \"android\"}}", "android"},
		{"{\"device\": {\"type\": \"web\"}}", "web"},
		{"{\"device\": {\"type\": \"browser\"}}", "web"},
		{"{\"device\": {\"type\": \"ios\"}, \"library\": {\"name\": \"analytics-node\"}}",
		 "ios"},
		{"{\"os\": {\"name\": \"Mac OS X\"}, \"library\": {\"name\": \"analytics.js\"}}",
		 "web"},
		{"{\"library\": {\"name\": \"analytics-next\"}}", "web"},
		{"{\"library\": {\"name\": \"@segment/analytics-node\"}}", "server"},
		{"{\"library\": {\"name\": \"analytics-node\"}}", "server"},
		{"{\"library\": {\"name\": \"rudder-sdk-node\"}}", "server"},
		/* RudderStack's browser SDK: an empty os.name, its own library name */
		{"{\"os\": {\"name\": \"\"},"
		 " \"library\": {\"name\": \"RudderLabs JavaScript SDK\"}}", "web"},
		{"{\"library\": {\"name\": \"my-own-sdk\"}}", NULL},
		/* a mobile library's platform only when the call names no OS nor
		 * device type: analytics-swift on macOS, tvOS and watchOS is no iOS */
		{"{\"library\": {\"name\": \"analytics-swift\"}}", "ios"},
		{"{\"os\": {\"name\": \"\"}, \"library\": {\"name\": \"analytics-kotlin\"}}",
		 "android"},
		{"{\"os\": {\"name\": \"Version 14.1 (Build 23B74)\"}, \"device\": {\"type\": "
		 "\"macos\"}, \"library\": {\"name\": \"analytics-swift\"}}", NULL},
		{"{\"os\": {\"name\": \"tvOS\"}, \"device\": {\"type\": \"tvos\"},"
		 " \"library\": {\"name\": \"analytics-swift\"}}", NULL},
		{"{\"device\": {\"type\": \"watchos\"}, \"library\": {\"name\": \"analytics-swift\"}}",
		 NULL},
		{"{\"os\": {\"name\": \"Linux\"}, \"library\": {\"name\": \"analytics-kotlin\"}}", NULL},
		{"{\"library\": {\"name\": \"Analytics.NET\"}}", "server"},
		/* a server library is one on any OS */
		{"{\"os\": {\"name\": \"Linux\"}, \"library\": {\"name\": \"analytics-python\"}}",
		 "server"},
		{"{\"os\": \"iOS\"}", NULL},
		{"{}", NULL},
	};
	struct hub_response resp;
	struct pt_fixture f;
	char body[512];

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(body, sizeof(body),
			 "{\"anonymousId\": \"a1\", \"event\": \"e\", \"context\": %s}",
			 rows[i].context);
		CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC, body, &resp), HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		ASSERT_STR_OR_NULL(f.got.recs[0].platform, rows[i].platform);
		pt_reset(&f.got);
	}
	pt_close(&f);
}

static void test_skew_correction_fields(void)
{
	static const struct {
		const char *path, *body;
		const char *timestamp, *sent_at; /* NULL: 0 */
	} rows[] = {
		/* timestamp and sentAt: both go to the hub, which corrects */
		{"/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": "
		 "\"2026-01-02T03:04:05.678Z\", \"sentAt\": \"2026-01-02T03:04:06Z\"}",
		 "2026-01-02T03:04:05.678Z", "2026-01-02T03:04:06.000Z"},
		/* RudderStack: originalTimestamp instead of timestamp */
		{"/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"originalTimestamp\": "
		 "\"2026-01-02T03:04:05.000+02:00\", \"sentAt\": "
		 "\"2026-01-02T01:04:07.500Z\"}",
		 "2026-01-02T01:04:05.000Z", "2026-01-02T01:04:07.500Z"},
		/* no sentAt: the time as it is */
		{"/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": "
		 "\"2026-01-02T03:04:05.123456Z\"}",
		 "2026-01-02T03:04:05.123Z", NULL},
		/* no event time: nothing to correct */
		{"/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"sentAt\": "
		 "\"2026-01-02T03:04:05Z\"}",
		 NULL, NULL},
		/* the batch's sentAt */
		{"/v1/batch",
		 "{\"sentAt\": \"2026-01-02T03:05:00Z\", \"batch\": [{\"type\": "
		 "\"track\", \"userId\": \"u\", \"event\": \"e\", \"timestamp\": "
		 "\"2026-01-02T03:04:00Z\"}]}",
		 "2026-01-02T03:04:00.000Z", "2026-01-02T03:05:00.000Z"},
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CU_ASSERT_EQUAL(pt_post(&f, rows[i].path, KEY1_BASIC, rows[i].body, &resp),
				HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		CU_ASSERT_EQUAL(f.got.recs[0].timestamp_ms,
				rows[i].timestamp ? ms(rows[i].timestamp) : 0);
		CU_ASSERT_EQUAL(f.got.recs[0].sent_at_ms,
				rows[i].sent_at ? ms(rows[i].sent_at) : 0);
		CU_ASSERT_EQUAL(f.got.recs[0].received_at_ms, 0);
		pt_reset(&f.got);
	}
	pt_close(&f);
}

static void test_numeric_ids_become_decimal_text(void)
{
	static const char body[] = "{\"batch\": ["
				   "{\"type\": \"identify\", \"userId\": 42, \"anonymousId\": 7.5},"
				   "{\"type\": \"group\", \"userId\": -12, \"groupId\": 1e3},"
				   "{\"type\": \"alias\", \"userId\": 9007199254740993,"
				   " \"previousId\": 0.1}]}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "custom_id"), "42");
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "installation_id"), "7.5");
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[1], "custom_id"), "-12");
	ASSERT_STR_OR_NULL(f.got.recs[1].properties_json, "{\"group_id\":\"1000\",\"traits\":{}}");
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[2], "custom_id"), "9007199254740993");
	ASSERT_STR_OR_NULL(f.got.recs[2].previous_id, "0.1");
	pt_close(&f);
}

/* Without messageId: "seg-" + 64 hex digits. */
static int is_derived_id(const char *id)
{
	if (!id || strncmp(id, "seg-", 4) != 0 || strlen(id) != 4 + 64)
		return 0;
	return strspn(id + 4, "0123456789abcdef") == 64;
}

/* Up to 99 characters, whatever their bytes: 99 four-byte characters are
 * 396 bytes, which the hub's message_id takes (it took 256). */
static void test_message_id_optional_and_up_to_99_chars(void)
{
	char body[1024], id[100], wide[99 * 4 + 1] = "";
	struct hub_response resp;
	struct pt_fixture f;

	memset(id, 'm', 99);
	id[99] = '\0';
	for (int i = 0; i < 99; i++)
		strcat(wide, "\xf0\x9f\x98\x80"); /* U+1F600 */
	snprintf(body, sizeof(body),
		 "{\"batch\": [{\"type\": \"track\", \"userId\": \"u\", \"event\": \"e\"},"
		 "{\"type\": \"track\", \"userId\": \"u\", \"event\": \"e\", \"messageId\": \"\"},"
		 "{\"type\": \"track\", \"userId\": \"u\", \"event\": \"e\", \"messageId\": "
		 "\"%s\"},"
		 "{\"type\": \"track\", \"userId\": \"u\", \"event\": \"e\", \"messageId\": "
		 "\"%s\"}]}",
		 id, wide);
	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 4);
	/* absent or "": derived from the body and the index */
	CU_ASSERT(is_derived_id(f.got.recs[0].message_id));
	CU_ASSERT(is_derived_id(f.got.recs[1].message_id));
	ASSERT_STR_OR_NULL(f.got.recs[2].message_id, id);
	ASSERT_STR_OR_NULL(f.got.recs[3].message_id, wide);
	CU_ASSERT_PTR_NULL(f.got.recs[0].properties_json);
	pt_close(&f);
}

/* Two identical events of one request without messageId nor timestamp
 * were one record to the hub (its content hash, same receive time): their
 * message_ids come from their content and their occurrence in the
 * request, so both are applied, and a resent body gets the same ids
 * (applied once), whatever its whitespace. */
static void test_idless_events_get_ids_from_their_content_and_occurrence(void)
{
	static const char body[] =
		"{\"batch\": [{\"type\": \"track\", \"userId\": \"u1\", \"event\": \"Same\"},"
		"{\"type\": \"track\", \"userId\": \"u1\", \"event\": \"Same\"}]}";
	static const char spaced[] =
		"{\"batch\": [{\"type\": \"track\", \"userId\": \"u1\", \"event\": \"Same\"},"
		"{\"event\": \"Same\", \"type\": \"track\", \"userId\": \"u1\"}] }";
	static const char other[] =
		"{\"batch\": [{\"type\": \"track\", \"userId\": \"u1\", \"event\": \"Other\"}]}";
	static const char single[] = "{\"userId\": \"u1\", \"name\": \"Home\"}";
	static const char line[] = "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Same\"}";
	char first[2][80], page_id[80], err[512] = "";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_FATAL(is_derived_id(f.got.recs[i].message_id));
		/* what the hub keeps */
		CU_ASSERT_STRING_EQUAL(f.got.recs[i].rec->message_id, f.got.recs[i].message_id);
		snprintf(first[i], sizeof(first[i]), "%s", f.got.recs[i].message_id);
	}
	CU_ASSERT_STRING_NOT_EQUAL(first[0], first[1]);
	pt_reset(&f.got);

	/* the same events again, other whitespace and key order: the same ids */
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, spaced, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	ASSERT_STR_OR_NULL(f.got.recs[0].message_id, first[0]);
	ASSERT_STR_OR_NULL(f.got.recs[1].message_id, first[1]);
	pt_reset(&f.got);

	/* another event: another id */
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, other, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT(is_derived_id(f.got.recs[0].message_id));
	CU_ASSERT_STRING_NOT_EQUAL(f.got.recs[0].message_id, first[0]);
	pt_reset(&f.got);

	/* one body on two single-call paths is two different records */
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/page", KEY1_BASIC, single, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	snprintf(page_id, sizeof(page_id), "%s", f.got.recs[0].message_id);
	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/screen", KEY1_BASIC, single, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT(is_derived_id(f.got.recs[0].message_id));
	CU_ASSERT_STRING_NOT_EQUAL(f.got.recs[0].message_id, page_id);
	pt_reset(&f.got);

	/* an imported line: the same content, the same id, run after run (and
	 * as the first such event of a request) */
	CU_ASSERT_EQUAL(pt_import_line(&f, line, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(pt_import_line(&f, line, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	ASSERT_STR_OR_NULL(f.got.recs[0].message_id, first[0]);
	ASSERT_STR_OR_NULL(f.got.recs[1].message_id, first[0]);
	pt_close(&f);
}

/* What identifies an event without messageId is the event, not how it was
 * sent: one with a time of its own, sent again with a new sentAt (its own
 * or the batch's), a new receivedAt, _metadata or writeKey, alone rather
 * than second in a batch, or as a single call, keeps its id; one without a time of its
 * own, sent again with a new sentAt, is another action (another id).  One
 * row per resend: its body, and whether its first event's id is the
 * first row's. */
static void test_an_idless_resend_keeps_its_id_whatever_its_transport(void)
{
#define EV_T "\"type\": \"track\", \"userId\": \"u1\", \"event\": \"Buy\"," \
	     " \"timestamp\": \"2026-03-01T10:00:00.000Z\""
#define EV_NT "\"type\": \"track\", \"userId\": \"u1\", \"event\": \"Tap\""
	static const struct {
		const char *body;
		int is_same; /* the id of the row's first event is its group's first */
		int group;   /* 0: with a timestamp, 1: without */
	} rows[] = {
		{"{\"batch\": [{" EV_T ", \"sentAt\": \"2026-03-01T10:00:01.000Z\"}]}", 1, 0},
		{"{\"batch\": [{" EV_T ", \"sentAt\": \"2026-03-01T10:05:00.000Z\"}]}", 1, 0},
		{"{\"sentAt\": \"2026-03-01T11:00:00.000Z\", \"batch\": [{" EV_T "}]}", 1, 0},
		{"{\"batch\": [{" EV_T ", \"receivedAt\": \"2026-03-01T10:05:00.000Z\","
		 " \"_metadata\": {\"bundled\": [\"Segment.io\"]}}]}", 1, 0},
		{"{\"writeKey\": \"wk_live_1\", \"batch\": [{" EV_T ", \"writeKey\": \"wk_live_1\"}]}",
		 1, 0},
		{"{\"batch\": [{" EV_T ", \"messageId\": \"\"}]}", 1, 0},
		{"{\"batch\": [{" EV_T ", \"properties\": {\"n\": 2}}]}", 0, 0},
		{"{\"batch\": [{" EV_NT ", \"sentAt\": \"2026-03-01T10:00:01.000Z\"}]}", 1, 1},
		{"{\"batch\": [{" EV_NT ", \"sentAt\": \"2026-03-01T10:00:01.000Z\"}]}", 1, 1},
		{"{\"batch\": [{" EV_NT ", \"sentAt\": \"2026-03-01T10:05:00.000Z\"}]}", 0, 1},
		{"{\"sentAt\": \"2026-03-01T10:05:00.000Z\", \"batch\": [{" EV_NT "}]}", 0, 1},
	};
	char first[2][80] = {"", ""};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *id;
		int g = rows[i].group;

		pt_reset(&f.got);
		CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, rows[i].body, &resp), HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		id = f.got.recs[0].message_id;
		CU_ASSERT_FATAL(is_derived_id(id));
		if (!first[g][0])
			snprintf(first[g], sizeof(first[g]), "%s", id);
		CU_ASSERT_EQUAL(strcmp(id, first[g]) == 0, rows[i].is_same);
		if ((strcmp(id, first[g]) == 0) != rows[i].is_same)
			fprintf(stderr, "idless resend row %zu: id %s\n", i, id);
	}
	/* second in a batch, after another event: the same id as alone */
	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC,
				"{\"batch\": [{" EV_NT "}, {" EV_T "}]}", &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	ASSERT_STR_OR_NULL(f.got.recs[1].message_id, first[0]);
	/* a single call, "type" left out (the path says it), null or written:
	 * the same id as through /v1/batch (it was another, stored twice) */
	for (int i = 0; i < 3; i++) {
		static const char *const types[] = {"", "\"type\": null, ",
						    "\"type\": \"track\", "};
		char body[256];

		snprintf(body, sizeof(body),
			 "{%s\"userId\": \"u1\", \"event\": \"Buy\","
			 " \"timestamp\": \"2026-03-01T10:00:00.000Z\"}",
			 types[i]);
		pt_reset(&f.got);
		CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC, body, &resp), HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		ASSERT_STR_OR_NULL(f.got.recs[0].message_id, first[0]);
	}
	pt_close(&f);
#undef EV_T
#undef EV_NT
}

/* Times are given or not apart from their value: 1969 is a time (the hub
 * range-checks it), the epoch too (timestamp wins over originalTimestamp,
 * and has_timestamp, ABI 1.5, keeps it as 0 ms: not the receive time; a
 * sentAt corrects it), but a sentAt at the epoch reads as unset
 * (documented); a malformed time is still a 400 naming the field. */
static void test_times_before_and_at_the_epoch(void)
{
	static const struct {
		const char *what, *path, *body;
		int status;
		int64_t timestamp, sent_at, received_at; /* as emitted */
		int64_t hub_timestamp;                   /* what the hub made of it */
		const char *message;                     /* of a refusal */
	} rows[] = {
		{"a second before the epoch", "/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": \"1969-12-31T23:59:59Z\"}",
		 200, -1000, 0, 0, -1000, NULL},
		{"1969 with an offset and ms", "/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": "
		 "\"1969-12-31T23:00:00.250-01:00\"}",
		 200, 250, 0, 0, 250, NULL},
		{"1969 timestamp and sentAt", "/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": \"1969-12-31T23:59:58Z\", "
		 "\"sentAt\": \"1969-12-31T23:59:59Z\"}",
		 200, -2000, -1000, 0, -2000 + PT_NOW_MS + 1000, NULL},
		{"1969 batch sentAt", "/v1/batch",
		 "{\"sentAt\": \"1969-12-31T23:59:59Z\", \"batch\": [{\"type\": \"track\", "
		 "\"userId\": \"u\", \"event\": \"e\", \"timestamp\": \"1969-12-31T23:59:58Z\"}]}",
		 200, -2000, -1000, 0, -2000 + PT_NOW_MS + 1000, NULL},
		{"the epoch wins over originalTimestamp and is kept", "/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": \"1970-01-01T00:00:00Z\", "
		 "\"originalTimestamp\": \"2020-01-01T00:00:00Z\"}",
		 200, 0, 0, 0, 0, NULL},
		{"the epoch in a batch, corrected by its sentAt", "/v1/batch",
		 "{\"sentAt\": \"1970-01-01T00:00:01Z\", \"batch\": [{\"type\": \"track\", "
		 "\"userId\": \"u\", \"event\": \"e\", "
		 "\"timestamp\": \"1970-01-01T00:00:00.000Z\"}]}",
		 200, 0, 1000, 0, PT_NOW_MS - 1000, NULL},
		{"a sentAt at the epoch corrects nothing", "/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": \"1969-12-31T23:59:59Z\", "
		 "\"sentAt\": \"1970-01-01T00:00:00Z\"}",
		 200, -1000, 0, 0, -1000, NULL},
		{"year 0: the hub's range check", "/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": \"0000-06-01T00:00:00Z\"}",
		 400, 0, 0, 0, 0, "timestamp: out of range"},
		{"malformed 1969", "/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": \"1969-12-32T00:00:00Z\"}",
		 400, 0, 0, 0, 0, "timestamp: must be an ISO 8601 date-time with its zone "
				  "(2024-05-01T10:00:00Z)"},
		{"a time without its zone", "/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": \"2024-05-01T10:00:00\"}",
		 400, 0, 0, 0, 0, "timestamp: must be an ISO 8601 date-time with its zone "
				  "(2024-05-01T10:00:00Z)"},
		{"malformed sentAt", "/v1/track",
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": \"1969-12-31T23:59:59Z\", "
		 "\"sentAt\": \"1969-12-31\"}",
		 400, 0, 0, 0, 0, "sentAt: must be an ISO 8601 date-time with its zone "
				  "(2024-05-01T10:00:00Z)"},
	};
	static const char line[] = "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\","
				   "\"timestamp\":\"1969-07-20T20:17:40Z\","
				   "\"receivedAt\":\"1969-07-20T20:17:41Z\"}";
	struct hub_response resp;
	struct pt_fixture f;
	char err[512] = "";

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		hub_rc rc = pt_post(&f, rows[i].path, KEY1_BASIC, rows[i].body, &resp);

		if (resp.status != rows[i].status)
			fprintf(stderr, "\n  %s: %d %s\n", rows[i].what, resp.status, resp.body);
		CU_ASSERT_EQUAL(resp.status, rows[i].status);
		if (rows[i].status != 200) {
			assert_error(&resp, 400, "invalid_event", 0);
			CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, rows[i].message));
			CU_ASSERT_EQUAL(rc, HUB_ERR_DATA);
			pt_reset(&f.got);
			continue;
		}
		CU_ASSERT_EQUAL(rc, HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		CU_ASSERT_EQUAL(f.got.recs[0].timestamp_ms, rows[i].timestamp);
		CU_ASSERT_EQUAL(f.got.recs[0].sent_at_ms, rows[i].sent_at);
		CU_ASSERT_EQUAL(f.got.recs[0].received_at_ms, rows[i].received_at);
		CU_ASSERT_EQUAL(f.got.recs[0].rec->timestamp_ms, rows[i].hub_timestamp);
		pt_reset(&f.got);
	}
	/* an import keeps a 1969 receivedAt */
	CU_ASSERT_EQUAL(pt_import_line(&f, line, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT_EQUAL(f.got.recs[0].timestamp_ms, ms("1969-07-20T20:17:40Z"));
	CU_ASSERT_EQUAL(f.got.recs[0].received_at_ms, ms("1969-07-20T20:17:41Z"));
	CU_ASSERT_EQUAL(f.got.recs[0].rec->received_at_ms, ms("1969-07-20T20:17:41Z"));
	pt_close(&f);
}

/* The canonical record's time of text (record_from_json), its received_at
 * (and the hub's clock) far enough ahead that no clamp moves it: the
 * instant, or -1 refused. */
static int64_t canonical_time(const char *text)
{
	char json[512], err[256] = "";
	struct record *r = NULL;
	int64_t got = -1;

	snprintf(json, sizeof(json),
		 "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"m1\","
		 "\"identifiers\":{\"custom_id\":\"C1\"},\"timestamp\":\"%s\","
		 "\"received_at\":\"9999-12-31T23:59:59.999Z\"}", text);
	if (record_from_json(json, strlen(json), "test", NULL, 253402300799999LL, &r, NULL, err,
			     sizeof(err)) == HUB_OK)
		got = r->timestamp_ms;
	record_free(r);
	return got;
}

/* Segment's timestamp (POST /v1/track, as emitted): the instant, or -1
 * when the event is refused (400). */
static int64_t segment_time(struct pt_fixture *f, const char *text)
{
	char body[512];
	struct hub_response resp;
	int64_t got = -1;

	snprintf(body, sizeof(body),
		 "{\"userId\": \"u\", \"event\": \"e\", \"timestamp\": \"%s\"}", text);
	pt_post(f, "/v1/track", KEY1_BASIC, body, &resp);
	if (resp.status == 200 && f->got.n_recs == 1)
		got = f->got.recs[0].timestamp_ms;
	else
		CU_ASSERT_EQUAL(resp.status, 400);
	pt_reset(&f->got);
	return got;
}

/* One grammar of date-time text for Segment's fields and canonical records
 * (plugins/common/time_text.h): each row read alike by both, but a date
 * alone (a record's day, a sentAt that would move events by hours).  They
 * had differed: Segment refused a time without seconds, which records
 * take; records refused a decimal comma and a "+hh" zone, which Segment
 * took; Segment took "+02:" with nothing after its colon. */
static void test_segment_and_canonical_records_read_times_alike(void)
{
	static const int64_t b = 1714557600000; /* 2024-05-01T10:00:00Z */
	static const struct {
		const char *text;
		int64_t ms; /* -1: refused */
	} rows[] = {
		{"2024-05-01T10:00:00Z", b},
		{"2024-05-01t10:00:00z", b},
		{"2024-05-01 10:00:00Z", b},
		{"2024-05-01T10:00:00+00:00", b},
		{"2024-05-01T10:00:00+0000", b},
		{"2024-05-01T12:00:00+02", b},            /* was refused by records */
		{"2024-05-01T07:30:00-0230", b},
		{"2024-05-01T10:00Z", b},                 /* was refused by Segment */
		{"2024-05-01T10:00:00.123456789Z", b + 123},
		{"2024-05-01T10:00:00,5Z", b + 500},      /* was refused by records */
		{"2024-05-01T09:59:60Z", b},              /* a leap second */
		{"1969-12-31T23:59:58.999Z", -1001},
		{"9999-12-31T23:59:59.999Z", 253402300799999},
		{"2024-05-01T10:00:00", -1},              /* a time needs its zone */
		{"2024-05-01T10:00:00+02:", -1},          /* was taken by Segment */
		{"2024-05-01T10:00:00+2", -1},
		{"2024-05-01T10Z", -1},
		{"2024-05-01T10:00:00.Z", -1},
		{"2024-05-01Z", -1},
		{"10000-01-01T00:00:00Z", -1},
		{"2024-05-01T10:00:61Z", -1},
	};
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(canonical_time("2024-05-01"), b - 10 * 3600000);
	CU_ASSERT_EQUAL(segment_time(&f, "2024-05-01"), -1);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int64_t want = rows[i].ms, seg = segment_time(&f, rows[i].text);
		int64_t rec = canonical_time(rows[i].text);

		if (seg != want || rec != want) {
			fprintf(stderr, "\n  \"%s\": Segment %lld, record %lld, expected %lld\n",
				rows[i].text, (long long)seg, (long long)rec, (long long)want);
			CU_FAIL("a time read differently");
		}
	}
	pt_close(&f);
}

/* An integer too big for 64 bits (JavaScript sends 12345678901234567000 as
 * plain digits) made jansson refuse the whole body: such integers, and
 * only those, are read as doubles.  Every other integer of the request
 * stays one (they became doubles, 3 -> 3.0, another user's too), and so
 * does a numeric ID, exactly, even past 2^53; an ID that was itself too
 * big is refused, naming it. */
static void test_integer_too_big_for_64_bits_is_kept_as_a_double(void)
{
	static const char body[] =
		"{\"batch\": [{\"type\": \"track\", \"userId\": 42, \"anonymousId\": -7,"
		" \"event\": \"Order\", \"properties\": {\"order\": 12345678901234567000,"
		" \"refund\": -12345678901234567000, \"qty\": 3, \"price\": 9.5,"
		" \"min\": -9223372036854775808, \"max\": 9223372036854775807,"
		" \"e\": 1e25, \"s\": \"99999999999999999999\\\"\"}},"
		"{\"type\": \"group\", \"userId\": 9007199254740993, \"groupId\": \"g\","
		" \"traits\": {\"logins\": 7}}]}";
	struct hub_response resp;
	struct pt_fixture f;
	json_t *props;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_STRING_EQUAL(resp.body, "{\"success\":true}");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	ASSERT_JSON(f.got.recs[0].properties_json,
		    "{\"order\": 1.2345678901234567e19, \"refund\": -1.2345678901234567e19,"
		    " \"qty\": 3, \"price\": 9.5, \"min\": -9223372036854775808,"
		    " \"max\": 9223372036854775807, \"e\": 1e25,"
		    " \"s\": \"99999999999999999999\\\"\"}");
	props = json_loads(f.got.recs[0].properties_json, 0, NULL);
	CU_ASSERT(json_is_real(json_object_get(props, "order")));
	CU_ASSERT_EQUAL(json_real_value(json_object_get(props, "order")), 12345678901234567000.0);
	CU_ASSERT(json_is_integer(json_object_get(props, "qty")));
	CU_ASSERT(json_is_integer(json_object_get(props, "min")));
	CU_ASSERT(json_is_string(json_object_get(props, "s")));
	json_decref(props);
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "custom_id"), "42");
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "installation_id"), "-7");
	/* the other event's integers too: an ID past 2^53, exactly, a trait */
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[1], "custom_id"), "9007199254740993");
	ASSERT_JSON(f.got.recs[1].properties_json,
		    "{\"group_id\": \"g\", \"traits\": {\"logins\": 7}}");
	pt_reset(&f.got);

	/* an ID that was itself too big for 64 bits is refused, naming it */
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC,
				"{\"userId\": 12345678901234567000, \"event\": \"e\"}", &resp),
			HUB_ERR_DATA);
	assert_error(&resp, 400, "invalid_event", 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, "userId: a number of 2^63 or more (an integer too"
					      " big for 64 bits) cannot be kept exactly"));
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	/* a body broken after a big integer: the error's column is the
	 * body's own (the ".0" written after the integer moved it) */
	{
		static const char broken[] = "{\"userId\": \"u\", \"event\": \"e\", \"properties\":"
					     " {\"n\": 12345678901234567000, \"x\": tru}}";
		char same[sizeof(broken)], want[64];
		json_error_t jerr;
		memcpy(same, broken, sizeof(broken));
		memcpy(strstr(same, "12345678901234567000"), "1.234567890123456e19", 20);
		CU_ASSERT_PTR_NULL(json_loads(same, 0, &jerr));
		snprintf(want, sizeof(want), "at line 1, column %d:", jerr.column);
		CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC, broken, &resp), HUB_ERR_DATA);
		assert_error(&resp, 400, "invalid_json", -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, want));
	}
	/* so is a decimal as large, whatever else the body holds (it was
	 * refused beside another event's big integer only) */
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC,
				"{\"userId\": 1e19, \"event\": \"e\"}", &resp),
			HUB_ERR_DATA);
	assert_error(&resp, 400, "invalid_event", 0);
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	pt_close(&f);
}

/* A page's or screen's top-level `category` (legacy analytics-node,
 * RudderStack, the mobile libraries) lands in its properties beside
 * `name`; @segment/analytics-node copies it there itself, so the two were
 * stored differently.  A `context.device.token`
 * (the push token) enables push on the installation; none, or "", says
 * nothing; a call without anonymousId has no installation to enable. */
static void test_page_category_and_the_push_token(void)
{
	static const struct {
		const char *body;
		int push;
	} tokens[] = {
		{"{\"anonymousId\": \"d1\", \"traits\": {},"
		 " \"context\": {\"device\":"
		 " {\"token\": \"ff15bc0c20c4aa6cd50854ff165fd265c838e5\"}}}", 1},
		{"{\"anonymousId\": \"d1\", \"traits\": {}, \"context\": {\"device\": {}}}", -1},
		{"{\"anonymousId\": \"d1\", \"traits\": {},"
		 " \"context\": {\"device\": {\"token\": \"\"}}}", -1},
		{"{\"userId\": \"u1\", \"traits\": {},"
		 " \"context\": {\"device\": {\"token\": \"t\"}}}", -1},
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(
		pt_post(&f, "/v1/page", KEY1_BASIC,
			"{\"anonymousId\": \"d1\", \"name\": \"Pricing\", \"category\": \"Docs\","
			" \"properties\": {\"path\": \"/p\"}}",
			&resp),
		HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	ASSERT_JSON(f.got.recs[0].properties_json,
		    "{\"path\": \"/p\", \"name\": \"Pricing\", \"category\": \"Docs\"}");
	pt_reset(&f.got);
	/* a screen's too (analytics-swift, -kotlin); one not a string is left out */
	CU_ASSERT_EQUAL(
		pt_post(&f, "/v1/screen", KEY1_BASIC,
			"{\"anonymousId\": \"d1\", \"name\": \"Home\", \"category\": \"Main\"}",
			&resp),
		HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	ASSERT_JSON(f.got.recs[0].properties_json, "{\"name\": \"Home\", \"category\": \"Main\"}");
	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/page", KEY1_BASIC,
				"{\"anonymousId\": \"d1\", \"category\": 7}", &resp),
			HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	ASSERT_JSON(f.got.recs[0].properties_json, "{}");
	pt_reset(&f.got);
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		CU_ASSERT_EQUAL(pt_post(&f, "/v1/identify", KEY1_BASIC, tokens[i].body, &resp),
				HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		CU_ASSERT_EQUAL(f.got.recs[0].push_enabled, tokens[i].push);
		CU_ASSERT_EQUAL(f.got.n_warns, 0);
		pt_reset(&f.got);
	}
	/* an empty anonymousId is no installation: the token is not stored,
	 * and the warning names what the client sent, not push_enabled nor
	 * installation_id (the host's words) */
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/identify", KEY1_BASIC,
				"{\"userId\": \"u1\", \"anonymousId\": \"\", \"traits\": {},"
				" \"context\": {\"device\": {\"token\": \"t\"}}}",
				&resp),
			HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT_EQUAL(f.got.recs[0].push_enabled, -1);
	CU_ASSERT_EQUAL(f.got.recs[0].n_warnings, 0);
	CU_ASSERT_EQUAL_FATAL(f.got.n_warns, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(f.got.warns[0], "context.device.token: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(f.got.warns[0], "anonymousId is empty"));
	CU_ASSERT_PTR_NULL(strstr(f.got.warns[0], "push_enabled"));
	CU_ASSERT_PTR_NULL(strstr(f.got.warns[0], "installation_id"));
	pt_close(&f);
}

/* A type is one of the Segment Spec's six, in lowercase as every library
 * sends it: another ("Track" too) is refused naming what was sent and the
 * accepted values; a single call's path does not excuse it. */
static void test_type_refusal_names_the_type_and_the_accepted_ones(void)
{
	static const struct {
		const char *path, *body, *message;
	} rows[] = {
		{"/v1/batch", "{\"batch\": [{\"type\": \"Track\", \"userId\": \"u\","
		 " \"event\": \"e\"}]}",
		 "type: unknown type \"Track\" (write \"track\"): must be one of identify, track,"
		 " page, screen, group, alias (lowercase)"},
		{"/v1/track", "{\"type\": \"TRACK\", \"userId\": \"u\", \"event\": \"e\"}",
		 "type: unknown type \"TRACK\" (write \"track\"): must be one of identify, track,"
		 " page, screen, group, alias (lowercase)"},
		{"/v1/batch", "{\"batch\": [{\"type\": \"purchase\", \"userId\": \"u\"}]}",
		 "type: unknown type \"purchase\": must be one of identify, track, page, screen,"
		 " group, alias (lowercase)"},
		{"/v1/track", "{\"type\": \"identify\", \"userId\": \"u\"}",
		 "type: \"identify\" does not match the path"},
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *doc;

		CU_ASSERT_EQUAL(pt_post(&f, rows[i].path, KEY1_BASIC, rows[i].body, &resp),
				HUB_ERR_DATA);
		assert_error(&resp, 400, "unknown_type", 0);
		doc = pt_answer_json(&resp, 400);
		ASSERT_STR_OR_NULL(json_string_value(json_object_get(json_object_get(doc, "error"),
								     "message")),
				   rows[i].message);
		json_decref(doc);
		CU_ASSERT_EQUAL(f.got.n_emits, 0);
		pt_reset(&f.got);
	}
	pt_close(&f);
}

static void test_single_calls_take_their_type_from_the_path(void)
{
	static const struct {
		const char *path, *body, *event_name;
		enum hub_record_type type;
	} rows[] = {
		{"/v1/identify", "{\"userId\": \"u\"}", NULL, HUB_REC_IDENTIFY},
		{"/v1/track", "{\"userId\": \"u\", \"event\": \"Played\"}", "Played",
		 HUB_REC_TRACK},
		{"/v1/track", "{\"type\": \"track\", \"userId\": \"u\", \"event\": \"X\"}", "X",
		 HUB_REC_TRACK},
		{"/v1/page", "{\"anonymousId\": \"a\"}", "$page", HUB_REC_TRACK},
		{"/v1/screen", "{\"anonymousId\": \"a\", \"name\": null}", "$screen",
		 HUB_REC_TRACK},
		{"/v1/group", "{\"userId\": \"u\", \"groupId\": \"g\"}", "$group", HUB_REC_TRACK},
		{"/v1/alias", "{\"userId\": \"u\", \"previousId\": \"p\"}", NULL, HUB_REC_ALIAS},
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CU_ASSERT_EQUAL(pt_post(&f, rows[i].path, KEY1_BASIC, rows[i].body, &resp),
				HUB_OK);
		CU_ASSERT_EQUAL(resp.status, 200);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		CU_ASSERT_EQUAL(f.got.recs[0].type, rows[i].type);
		ASSERT_STR_OR_NULL(f.got.recs[0].event_name, rows[i].event_name);
		pt_reset(&f.got);
	}
	pt_close(&f);
}

/* The paths Segment's own libraries post to: analytics-next one call at
 * /v1/<first letter of the type> (writeKey in a text/plain body) or a batch
 * at /v1/b, as analytics-swift and analytics-kotlin do; the classic
 * analytics-android posts batches to /v1/import.  Each is the route of its
 * long name. */
static void test_short_paths_of_the_segment_libraries(void)
{
	static const struct {
		const char *path, *body, *event_name;
		enum hub_record_type type;
	} rows[] = {
		{"/v1/i", "{\"type\": \"identify\", \"userId\": \"u\", \"writeKey\": \"wk_live_1\"}",
		 NULL, HUB_REC_IDENTIFY},
		{"/v1/t", "{\"type\": \"track\", \"userId\": \"u\", \"event\": \"Played\"}",
		 "Played", HUB_REC_TRACK},
		{"/v1/p", "{\"type\": \"page\", \"anonymousId\": \"a\"}", "$page", HUB_REC_TRACK},
		{"/v1/s", "{\"type\": \"screen\", \"anonymousId\": \"a\"}", "$screen",
		 HUB_REC_TRACK},
		{"/v1/g", "{\"type\": \"group\", \"userId\": \"u\", \"groupId\": \"g\"}", "$group",
		 HUB_REC_TRACK},
		{"/v1/a", "{\"type\": \"alias\", \"userId\": \"u\", \"previousId\": \"p\"}", NULL,
		 HUB_REC_ALIAS},
		{"/v1/b",
		 "{\"batch\": [{\"type\": \"track\", \"userId\": \"u\", \"event\": \"B\"}], "
		 "\"sentAt\": \"2026-01-01T00:00:00.000Z\"}",
		 "B", HUB_REC_TRACK},
		{"/v1/import", "{\"batch\": [{\"type\": \"track\", \"userId\": \"u\", \"event\": \"I\"}]}",
		 "I", HUB_REC_TRACK},
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* the first row authenticates with the body's writeKey */
		CU_ASSERT_EQUAL(pt_post(&f, rows[i].path, i == 0 ? NULL : KEY1_BASIC,
					rows[i].body, &resp),
				HUB_OK);
		CU_ASSERT_EQUAL(resp.status, 200);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		CU_ASSERT_EQUAL(f.got.recs[0].type, rows[i].type);
		ASSERT_STR_OR_NULL(f.got.recs[0].event_name, rows[i].event_name);
		pt_reset(&f.got);
	}
	/* a short path checks the type like its long name */
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/t", KEY1_BASIC,
				"{\"type\": \"identify\", \"userId\": \"u\"}", &resp),
			HUB_ERR_DATA);
	CU_ASSERT_EQUAL(resp.status, 400);
	CU_ASSERT_EQUAL(f.got.n_recs, 0);
	pt_close(&f);
}

static void test_empty_batch_succeeds_with_nothing(void)
{
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, "{\"batch\": []}", &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	pt_close(&f);
}

/* A record the hub refuses (no usable identifier: "undefined" is a blocked
 * value) fails the request naming its index; the host discards the call. */
static void test_record_refused_by_the_hub_fails_the_request(void)
{
	static const char body[] =
		"{\"batch\": ["
		"{\"type\": \"track\", \"userId\": \"u1\", \"event\": \"e\"},"
		"{\"type\": \"track\", \"userId\": \"undefined\", \"event\": \"e\"}]}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, body, &resp), HUB_ERR_DATA);
	assert_error(&resp, 400, "invalid_event", 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, "no usable identifier"));
	CU_ASSERT_EQUAL(f.got.n_emits, 2);
	pt_close(&f);
}

/* An ID the hub drops (empty or blocked) leaves a record it refuses: the
 * answer names the Segment fields that held such values, not the
 * canonical ones. */
static void test_empty_or_blocked_ids_are_named_as_sent(void)
{
#define BLOCKED "empty or blocked (such as \"null\")"
	static const struct {
		const char *path, *body, *message;
		long index;
	} rows[] = {
		{"/v1/alias", "{\"userId\": \"null\", \"previousId\": \"x\"}",
		 "userId: " BLOCKED ": alias requires a usable userId", 0},
		{"/v1/track", "{\"userId\": \"\", \"anonymousId\": \"\", \"event\": \"x\"}",
		 "userId and anonymousId: " BLOCKED ", so no usable identifier", 0},
		{"/v1/page", "{\"anonymousId\": \"0\"}",
		 "anonymousId: " BLOCKED ", so no usable identifier", 0},
		{"/v1/identify",
		 "{\"userId\": \"undefined\", \"context\": {\"externalIds\":"
		 " [{\"type\": \"crm_id\", \"id\": \"null\"}]}}",
		 "userId: " BLOCKED ", so no usable identifier (nor in context.externalIds)", 0},
		{"/v1/batch",
		 "{\"batch\": [{\"type\": \"alias\", \"userId\": \"u\", \"previousId\": \"p\"},"
		 " {\"type\": \"alias\", \"userId\": \" \", \"anonymousId\": \"a\","
		 " \"previousId\": \"p\"}]}",
		 "userId: " BLOCKED ": alias requires a usable userId", 1},
	};
	struct hub_response resp;
	struct pt_fixture f;
	char err[512] = "";

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *doc;
		hub_rc rc = pt_post(&f, rows[i].path, KEY1_BASIC, rows[i].body, &resp);

		assert_error(&resp, 400, "invalid_event", rows[i].index);
		doc = pt_answer_json(&resp, 400);
		ASSERT_STR_OR_NULL(json_string_value(json_object_get(json_object_get(doc, "error"),
								     "message")),
				   rows[i].message);
		json_decref(doc);
		CU_ASSERT_EQUAL(rc, HUB_ERR_DATA);
		pt_reset(&f.got);
	}
	/* an imported line alike */
	CU_ASSERT_EQUAL(pt_import_line(&f,
				       "{\"type\": \"alias\", \"userId\": \"null\", "
				       "\"previousId\": \"x\"}",
				       err, sizeof(err)),
			HUB_ERR_DATA);
	CU_ASSERT_STRING_EQUAL(err, rows[0].message);
	pt_close(&f);
#undef BLOCKED
}

/* ---- auth -------------------------------------------------------------- */

static const char small_track[] = "{\"userId\": \"u\", \"event\": \"e\"}";

static void test_basic_auth_accepts_every_configured_key(void)
{
	static const char *const ok[] = {KEY1_BASIC, KEY2_BASIC, "basic d2tfbGl2ZV8xOg",
					 "  Basic   d2tfbGl2ZV8x  "};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", ok[i], small_track, &resp), HUB_OK);
		CU_ASSERT_EQUAL(resp.status, 200);
	}
	CU_ASSERT_EQUAL(f.got.n_recs, 4);
	pt_close(&f);
}

/* A write key whose base64 has '+' or '/' is read in either alphabet
 * (URL-safe base64 writes them '-' and '_'). */
static void test_basic_auth_reads_standard_and_url_safe_base64(void)
{
	static const char *const ok[] = {"Basic az4+Pzo=", "Basic az4-Pzo="}; /* "k>>?:" */
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open_with(&f, "    write_keys: [\"k>>?\"]\n");
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", ok[i], small_track, &resp), HUB_OK);
		CU_ASSERT_EQUAL(resp.status, 200);
	}
	CU_ASSERT_EQUAL(f.got.n_recs, 2);
	pt_close(&f);
}

static void test_body_write_key_is_accepted(void)
{
	static const char *const ok[] = {
		"{\"writeKey\": \"wk_live_2\", \"batch\": [{\"type\": \"track\", \"userId\": "
		"\"u\", \"event\": \"e\"}]}",
		"{\"writeKey\": \"wk_live_1\", \"userId\": \"u\", \"event\": \"e\"}",
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", NULL, ok[0], &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", NULL, ok[1], &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(f.got.n_recs, 2);
	pt_close(&f);
}

static void test_wrong_or_missing_key_is_401_and_never_echoed(void)
{
	static const struct {
		const char *auth, *body;
	} rows[] = {
		{"Basic bm9wZTo=", small_track}, /* "nope:" */
		{"Basic bm9wZTo=", "{\"writeKey\": \"wk_live_1\", \"userId\": \"u\", "
				   "\"event\": \"e\"}"}, /* header wins */
		{NULL, small_track},			 /* no key */
		{NULL, "{\"writeKey\": \"wk_live_3\", \"userId\": \"u\", \"event\": \"e\"}"},
		{NULL, "{\"writeKey\": \"\", \"userId\": \"u\", \"event\": \"e\"}"},
		{NULL, "{\"writeKey\": 12, \"userId\": \"u\", \"event\": \"e\"}"},
		{"Bearer wk_live_1", small_track},
		{"Basic", small_track},
		{"Basic Og==", small_track},		  /* ":" */
		{"Basic d2tfbGl2ZV8xOg==x", small_track}, /* not base64 */
		{"Basic d2tfbGl2ZV8xOg== extra", small_track},
		{"Basic d2tfbGl2ZV8xX:", small_track},
		{"Basicd2tfbGl2ZV8xOg==", small_track}, /* no space after the scheme */
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", rows[i].auth, rows[i].body, &resp),
				HUB_ERR_DATA);
		assert_error(&resp, 401, "unauthorized", -1);
		CU_ASSERT_PTR_NULL(strstr(resp.body, "wk_live"));
	}
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	pt_close(&f);
}

static void test_webhook_only_source_refuses_the_api(void)
{
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open_with(&f, "    webhook_secret: " WEBHOOK_SECRET "\n");
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC, small_track, &resp), HUB_ERR_DATA);
	assert_error(&resp, 401, "unauthorized", -1);
	pt_close(&f);
}

/* admit() (ABI 1.11) answers from the headers before the body is read: a
 * wrong Basic key, a webhook without X-Signature or a source without a
 * webhook are refused; no Authorization (the key may be in the body) and
 * any X-Signature (checked on the body later) are let through. */
static void test_admit_refuses_from_the_headers_alone(void)
{
	static const struct {
		const char *path, *hname, *hvalue;
		int status; /* 0: admitted */
		const char *message;
	} rows[] = {
		{"/v1/batch", "Authorization", "Basic bm9wZTo=", 401, "unknown write key"},
		{"/v1/track", "Authorization", KEY1_BASIC, 0, NULL},
		{"/v1/identify", NULL, NULL, 0, NULL},
		{"/webhook", NULL, NULL, 401, "missing or wrong X-Signature"},
		{"/webhook", "Authorization", KEY1_BASIC, 401, "missing or wrong X-Signature"},
		{"/webhook", "X-Signature", "00", 0, NULL},
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		hub_rc rc = pt_admit(&f, rows[i].path, rows[i].hname, rows[i].hvalue, &resp);

		if (resp.status != rows[i].status)
			fprintf(stderr, "\n  row %zu: %d %s\n", i, resp.status, resp.body);
		CU_ASSERT_EQUAL(rc, rows[i].status ? HUB_ERR_DATA : HUB_OK);
		if (!rows[i].status) {
			CU_ASSERT_EQUAL(resp.status, 0);
			continue;
		}
		assert_error(&resp, rows[i].status, "unauthorized", -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, rows[i].message));
	}
	pt_close(&f);
	fixture_open_with(&f, "    write_keys: [wk_live_1]\n");
	CU_ASSERT_EQUAL(pt_admit(&f, "/webhook", "X-Signature", "00", &resp), HUB_ERR_DATA);
	assert_error(&resp, 404, "not_found", -1);
	pt_close(&f);
}

/* A write key with ":" is refused: it would never match through Basic auth. */
#define COLON_KEY_REFUSAL                                                           \
	"write_keys[1]: must not contain \":\" (a Basic auth user name ends at its first " \
	"\":\": the key would never match)"

static void test_create_needs_a_key_or_a_secret(void)
{
	static const struct {
		const char *yaml, *message;
	} rows[] = {
		{"", "set write_keys (tracking API), webhook_secret (webhooks) or both"},
		{"    write_keys: []\n",
		 "set write_keys (tracking API), webhook_secret (webhooks) or both"},
		/* an empty secret: the host's config check, at its place */
		{"    write_keys: [wk_live_1, \"\"]\n",
		 "@sources[0].write_keys[1]: must not be empty"},
		{"    webhook_secret: \"\"\n", "@sources[0].webhook_secret: must not be empty"},
		{"    webhook_secret: \"\\n\"\n",
		 "@sources[0].webhook_secret: must not be blank (spaces or line breaks only)"},
		/* Basic auth could never carry it: named by its place, not its value */
		{"    write_keys: [wk_live_1, \"wk:2\"]\n", "=test.yaml:7:29: sources[0] \"web\" "
		 "(plugin segment): " COLON_KEY_REFUSAL},
		/* the plugin's message starts with the key: at its place */
		{"    write_keys: [wk_live_1]\n    webhook_batch_signature: true\n",
		 "=test.yaml:8:30: sources[0] \"web\" (plugin segment): "
		 "webhook_batch_signature: true"
		 " needs webhook_secret"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pt_fixture f;
		char err[1024] = "", expected[1024];

		CU_ASSERT_EQUAL(pt_try_open(&f, "segment", err, sizeof(err), CONFIG, rows[i].yaml),
				-1);
		if (rows[i].message[0] == '@') { /* "file:line:col: " then the message */
			CU_ASSERT_PTR_NOT_NULL(strstr(err, rows[i].message + 1));
			pt_close(&f);
			continue;
		}
		if (rows[i].message[0] == '=') /* the whole error */
			snprintf(expected, sizeof(expected), "%s", rows[i].message + 1);
		else
			snprintf(expected, sizeof(expected),
				 "sources[0] \"web\" (plugin segment): %s", rows[i].message);
		CU_ASSERT_STRING_EQUAL(err, expected);
		pt_close(&f);
	}
}

/* `profilehub check` without --connect creates nothing: a source with
 * neither write_keys nor webhook_secret passed it ("ok") and then stopped
 * `run`. check_config() (ABI 1.10) refuses what create() refuses of which
 * keys are set, with create()'s words. */
static void test_check_refuses_what_create_refuses_of_the_keys(void)
{
	static const struct {
		const char *yaml, *refusal; /* NULL: taken */
	} rows[] = {
		{"", "set write_keys (tracking API), webhook_secret (webhooks) or both"},
		{"    write_keys: []\n",
		 "set write_keys (tracking API), webhook_secret (webhooks) or both"},
		{"    write_keys: [wk_live_1]\n    webhook_batch_signature: true\n",
		 "webhook_batch_signature: true needs webhook_secret"},
		{"    write_keys: [wk_live_1]\n", NULL},
		{"    write_keys: [wk_live_1, \"wk:2\"]\n", COLON_KEY_REFUSAL},
		{"    webhook_secret: " WEBHOOK_SECRET "\n    webhook_batch_signature: true\n", NULL},
		/* the hub refuses an empty secret first; the plugin's own check
		 * is create()'s all the same */
		{"    webhook_secret: \"\"\n", "webhook_secret is empty"},
		{"    write_keys: [wk_live_1, \"\"]\n", "write_keys[1] is empty"},
	};

	/* create() refuses the same (test_create_needs_a_key_or_a_secret) */
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char yaml[1024];

		snprintf(yaml, sizeof(yaml), CONFIG, rows[i].yaml);
		pt_check_config_is("segment", yaml, rows[i].refusal, i);
	}
}

/* ---- webhook ----------------------------------------------------------- */

static void hmac_hex(const char *data, size_t len, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;

	HMAC(EVP_sha1(), WEBHOOK_SECRET, (int)strlen(WEBHOOK_SECRET), (const unsigned char *)data,
	     len, md, &md_len);
	CU_ASSERT_EQUAL(md_len, 20);
	for (unsigned i = 0; i < md_len; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static hub_rc send_webhook(struct pt_fixture *f, const char *signature, const char *body,
			   struct hub_response *resp)
{
	return pt_send(f, "/webhook", signature ? "X-Signature" : NULL, signature, body,
		       strlen(body), resp);
}

static const char webhook_event[] =
	"{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"wh-1\","
	"\"messageId\":\"wh-m1\",\"timestamp\":\"2026-02-01T10:00:00.000Z\","
	"\"sentAt\":\"2026-02-01T10:00:09.000Z\",\"receivedAt\":\"2026-02-01T10:00:10.000Z\"}";

static void test_webhook_valid_signature_is_stored(void)
{
	struct hub_response resp;
	struct pt_fixture f;
	char sig[41], upper[41];

	hmac_hex(webhook_event, strlen(webhook_event), sig);
	fixture_open(&f);
	CU_ASSERT_EQUAL(send_webhook(&f, sig, webhook_event, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	ASSERT_STR_OR_NULL(f.got.recs[0].event_name, "Order Completed");
	ASSERT_STR_OR_NULL(f.got.recs[0].message_id, "wh-m1");
	/* Segment corrected the time already: no second skew correction */
	CU_ASSERT_EQUAL(f.got.recs[0].timestamp_ms, ms("2026-02-01T10:00:00.000Z"));
	CU_ASSERT_EQUAL(f.got.recs[0].sent_at_ms, 0);
	/* hex digits in upper case are the same signature */
	for (int i = 0; i < 41; i++)
		upper[i] = (char)toupper((unsigned char)sig[i]);
	CU_ASSERT_EQUAL(send_webhook(&f, upper, webhook_event, &resp), HUB_OK);
	pt_close(&f);
}

static void test_webhook_bad_or_missing_signature_is_401(void)
{
	static const char *const bad[] = {
		NULL,	  "",	      "0000000000000000000000000000000000000000",
		"nothex", "4f3c2b1a", /* a prefix length */
	};
	struct hub_response resp;
	struct pt_fixture f;
	char sig[41], other[41];
	char *tampered = strdup(webhook_event);

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(send_webhook(&f, bad[i], webhook_event, &resp), HUB_ERR_DATA);
		assert_error(&resp, 401, "unauthorized", -1);
	}
	/* a signature of another body */
	hmac_hex(webhook_event, strlen(webhook_event), sig);
	tampered[strlen(tampered) - 3] = '9';
	CU_ASSERT_EQUAL(send_webhook(&f, sig, tampered, &resp), HUB_ERR_DATA);
	assert_error(&resp, 401, "unauthorized", -1);
	/* a signature with another secret */
	strcpy(other, sig);
	other[0] = other[0] == 'a' ? 'b' : 'a';
	CU_ASSERT_EQUAL(send_webhook(&f, other, webhook_event, &resp), HUB_ERR_DATA);
	assert_error(&resp, 401, "unauthorized", -1);
	/* a write key does not open the webhook */
	CU_ASSERT_EQUAL(pt_send(&f, "/webhook", "Authorization", KEY1_BASIC, webhook_event,
				strlen(webhook_event), &resp),
			HUB_ERR_DATA);
	assert_error(&resp, 401, "unauthorized", -1);
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	free(tampered);
	pt_close(&f);
}

/* Segment Actions batch mode: an array signed over its first element only. */
static const char batch_first[] = "{\"type\":\"identify\",\"userId\":\"wh-2\",\"traits\":{"
				  "\"email\":\"b@example.com\"}}";
static const char batch_second[] = "{\"type\":\"page\",\"userId\":\"wh-2\",\"name\":\"Pricing\"}";

/* The source's keys with webhook_batch_signature set. */
static const char batch_signature_keys[] = "    write_keys: [wk_live_1, wk_live_2]\n"
					   "    webhook_secret: " WEBHOOK_SECRET "\n"
					   "    webhook_batch_signature: true\n";

/* A refusal of a first-element signature: 401 that names the option and the
 * source, and shows neither the secret nor the signature. */
static void assert_batch_signature_refused(struct pt_fixture *f, hub_rc rc,
					   const struct hub_response *resp, const char *sig)
{
	json_t *doc = pt_answer_json(resp, 401), *err = json_object_get(doc, "error");
	const char *message = json_string_value(json_object_get(err, "message"));

	pt_assert_error_object(err, "unauthorized");
	ASSERT_STR_OR_NULL(message, "X-Signature covers only the first element (Segment Actions "
				    "batching): set webhook_batch_signature: true on source web "
				    "to accept such batches");
	CU_ASSERT_PTR_NULL(strstr(resp->body, WEBHOOK_SECRET));
	CU_ASSERT_PTR_NULL(strstr(resp->body, sig));
	json_decref(doc);
	pt_assert_refused(f, "a first-element signature", rc, resp, 401);
}

/* The reviewer's attack: one genuine signed event E with its signature S,
 * and [E, anything] sent with S.  By default nothing of it is stored. */
static void test_webhook_spliced_batch_is_refused_by_default(void)
{
	static const char forged[] = "{\"type\":\"identify\",\"userId\":\"victim\","
				     "\"traits\":{\"email\":\"attacker@evil.com\"}}";
	struct hub_response resp;
	struct pt_fixture f;
	char body[1024], sig[41];
	hub_rc rc;

	hmac_hex(webhook_event, strlen(webhook_event), sig);
	fixture_open(&f);
	/* E alone with S is genuine */
	CU_ASSERT_EQUAL(send_webhook(&f, sig, webhook_event, &resp), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_recs, 1);
	pt_reset(&f.got);

	snprintf(body, sizeof(body), "[%s,%s]", webhook_event, forged);
	rc = send_webhook(&f, sig, body, &resp);
	assert_batch_signature_refused(&f, rc, &resp, sig);
	/* with whitespace around the elements, and with E alone in an array */
	snprintf(body, sizeof(body), "[ \n%s , %s]\n", webhook_event, forged);
	rc = send_webhook(&f, sig, body, &resp);
	assert_batch_signature_refused(&f, rc, &resp, sig);
	snprintf(body, sizeof(body), "[%s]", webhook_event);
	rc = send_webhook(&f, sig, body, &resp);
	assert_batch_signature_refused(&f, rc, &resp, sig);
	pt_close(&f);
}

/* A genuine Actions batch is refused too by default: it cannot be told
 * from a spliced one. */
static void test_webhook_first_element_signature_needs_the_option(void)
{
	struct hub_response resp;
	struct pt_fixture f;
	char body[512], sig[41];
	hub_rc rc;

	snprintf(body, sizeof(body), "[%s,%s]", batch_first, batch_second);
	hmac_hex(batch_first, strlen(batch_first), sig);
	fixture_open_with(&f, "    webhook_secret: " WEBHOOK_SECRET "\n"
			      "    webhook_batch_signature: false\n");
	rc = send_webhook(&f, sig, body, &resp);
	assert_batch_signature_refused(&f, rc, &resp, sig);
	pt_close(&f);
}

static void test_webhook_whole_body_signed_array_is_accepted_by_default(void)
{
	struct hub_response resp;
	struct pt_fixture f;
	char body[512], whole[41], sig[41];

	snprintf(body, sizeof(body), "[ %s,\n%s ]", batch_first, batch_second);
	hmac_hex(body, strlen(body), whole);
	fixture_open(&f);
	CU_ASSERT_EQUAL(send_webhook(&f, whole, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	ASSERT_STR_OR_NULL(f.got.recs[0].attributes_json, "{\"$email_address\":\"b@example.com\"}");
	ASSERT_STR_OR_NULL(f.got.recs[1].event_name, "$page");
	pt_reset(&f.got);

	/* the second element's signature is no signature at all */
	hmac_hex(batch_second, strlen(batch_second), sig);
	CU_ASSERT_EQUAL(send_webhook(&f, sig, body, &resp), HUB_ERR_DATA);
	assert_error(&resp, 401, "unauthorized", -1);
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	pt_close(&f);
}

static void test_webhook_batch_signature_option_accepts_first_element_signed_arrays(void)
{
	struct hub_response resp;
	struct pt_fixture f;
	char body[512], sig[41], whole[41];

	snprintf(body, sizeof(body), "[%s,%s]", batch_first, batch_second);
	hmac_hex(batch_first, strlen(batch_first), sig);
	fixture_open_with(&f, batch_signature_keys);
	CU_ASSERT_EQUAL(send_webhook(&f, sig, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	ASSERT_STR_OR_NULL(f.got.recs[0].attributes_json, "{\"$email_address\":\"b@example.com\"}");
	ASSERT_STR_OR_NULL(f.got.recs[1].event_name, "$page");
	pt_reset(&f.got);

	/* with whitespace around the element, the element's own text counts */
	snprintf(body, sizeof(body), "[ \n%s , %s]\n", batch_first, batch_second);
	CU_ASSERT_EQUAL(send_webhook(&f, sig, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_recs, 2);
	pt_reset(&f.got);

	/* a signature of the whole array body and a classic event still pass */
	hmac_hex(body, strlen(body), whole);
	CU_ASSERT_EQUAL(send_webhook(&f, whole, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_recs, 2);
	pt_reset(&f.got);
	hmac_hex(webhook_event, strlen(webhook_event), whole);
	CU_ASSERT_EQUAL(send_webhook(&f, whole, webhook_event, &resp), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_recs, 1);
	pt_reset(&f.got);

	/* the second element's signature is not the first's */
	hmac_hex(batch_second, strlen(batch_second), sig);
	CU_ASSERT_EQUAL(send_webhook(&f, sig, body, &resp), HUB_ERR_DATA);
	assert_error(&resp, 401, "unauthorized", -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, "missing or wrong X-Signature"));
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	pt_close(&f);
}

/* The signature header's forms: a true prefix of the signature, or one
 * longer than any digest, is refused; blanks before it are not part of it. */
static void test_webhook_signature_must_be_whole(void)
{
	struct hub_response resp;
	struct pt_fixture f;
	char sig[41], prefix[9], spaced[43], longer[201];

	hmac_hex(webhook_event, strlen(webhook_event), sig);
	snprintf(prefix, sizeof(prefix), "%.8s", sig);
	snprintf(spaced, sizeof(spaced), " \t%s", sig);
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	memcpy(longer, sig, 40);
	fixture_open(&f);
	CU_ASSERT_EQUAL(send_webhook(&f, prefix, webhook_event, &resp), HUB_ERR_DATA);
	assert_error(&resp, 401, "unauthorized", -1);
	CU_ASSERT_EQUAL(send_webhook(&f, longer, webhook_event, &resp), HUB_ERR_DATA);
	assert_error(&resp, 401, "unauthorized", -1);
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	CU_ASSERT_EQUAL(send_webhook(&f, spaced, webhook_event, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(f.got.n_recs, 1);
	pt_close(&f);
}

/* Sends body with the signature of signed[0..len) to a source that takes
 * first-element signatures; returns the answer's status. */
static int webhook_status_signed_over(const char *body, const char *signed_text, size_t len)
{
	struct hub_response resp;
	struct pt_fixture f;
	char sig[41];
	int status;

	hmac_hex(signed_text, len, sig);
	fixture_open_with(&f, batch_signature_keys);
	send_webhook(&f, sig, body, &resp);
	status = resp.status;
	if (status != 200)
		CU_ASSERT_EQUAL(f.got.n_recs, 0);
	pt_close(&f);
	return status;
}

/*
 * Where a first element ends: after its closing brace, whatever strings
 * with escaped quotes, braces and brackets, or nested arrays it holds; a
 * scalar at the first blank.  A body that is no array (an object signed
 * over its first string), an empty array or a cut one has no first element.
 */
static void test_webhook_first_element_is_read_to_its_own_end(void)
{
	static const char first[] = "{\"type\":\"track\",\"userId\":\"wh-3\",\"event\":\"E\","
				    "\"properties\":{\"note\":\"a\\\"}]\","
				    "\"tags\":[\"x\",[\"y\"]]}}";
	char body[512];

	snprintf(body, sizeof(body), "[%s,%s]", first, batch_second);
	CU_ASSERT_EQUAL(webhook_status_signed_over(body, first, strlen(first)), 200);
	/* a scalar: read up to the blank, then refused for its shape, not its signature */
	snprintf(body, sizeof(body), "[1 ,%s]", batch_second);
	CU_ASSERT_EQUAL(webhook_status_signed_over(body, "1", 1), 400);
	CU_ASSERT_EQUAL(webhook_status_signed_over(webhook_event, "\"type\"", 6), 401);
	CU_ASSERT_EQUAL(webhook_status_signed_over("[]", "", 0), 401);
	/* signed over the cut element and the NUL after the body: a reader
	 * running one byte past the end would take it */
	CU_ASSERT_EQUAL(webhook_status_signed_over("[{\"a\":1", "{\"a\":1", 7), 401);
}

/* The host checks the option's type and name against the declared key. */
static void test_webhook_batch_signature_config_errors_name_the_key(void)
{
	static const struct {
		const char *value, *expected;
	} rows[] = {
		{"    webhook_batch_signature: maybe\n",
		 "sources[0].webhook_batch_signature: expected a boolean"},
		{"    webhook_batch_signature: [true]\n",
		 "sources[0].webhook_batch_signature: expected a boolean"},
		{"    webhook_batch_signatures: true\n",
		 "sources[0].webhook_batch_signatures: unknown key (did you mean "
		 "\"webhook_batch_signature\"?)"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pt_fixture f;
		char err[1024] = "";

		CU_ASSERT_EQUAL(pt_try_open(&f, "segment", err, sizeof(err), CONFIG "%s",
					    default_keys, rows[i].value),
				-1);
		if (!strstr(err, rows[i].expected))
			fprintf(stderr, "\n  row %zu: %s\n", i, err);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, rows[i].expected));
		CU_ASSERT_PTR_NULL(strstr(err, WEBHOOK_SECRET));
		pt_close(&f);
	}
}

static void test_webhook_bad_events_are_400_after_the_signature(void)
{
	static const char body[] = "[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\"},"
				   "{\"type\":\"purchase\",\"userId\":\"u\"}]";
	struct hub_response resp;
	struct pt_fixture f;
	char sig[41];

	hmac_hex(body, strlen(body), sig);
	fixture_open(&f);
	CU_ASSERT_EQUAL(send_webhook(&f, sig, body, &resp), HUB_ERR_DATA);
	assert_error(&resp, 400, "unknown_type", 1);
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	pt_close(&f);
}

/* Without webhook_secret the webhook is off: answered with the words of a
 * path the hub does not serve (tests/unit/test_http.c compares the two
 * bodies), naming no key; the log tells the operator which key would turn
 * it on, on the 1st, 2nd, 4th... request (a caller cannot fill the log). */
static void test_webhook_is_off_without_a_secret(void)
{
	struct testlib_capture cap;
	struct hub_response resp;
	struct pt_fixture f;
	char *said;

	fixture_open_with(&f, "    write_keys: [wk_live_1]\n");
	testlib_capture_begin(&cap);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(send_webhook(&f, "00", webhook_event, &resp), HUB_ERR_DATA);
	said = testlib_capture_end(&cap);
	assert_error(&resp, 404, "not_found", -1);
	CU_ASSERT_STRING_EQUAL(resp.body, "{\"error\":{\"code\":\"not_found\",\"message\":"
					  "\"no such route\"}}");
	CU_ASSERT_EQUAL(testlib_lines_with(said, "POST /webhook is off (no webhook_secret set): "),
			3);
	CU_ASSERT_EQUAL(testlib_lines_with(said, ": 4 requests to it answered 404 as an unknown "
					   "path so far"), 1);
	free(said);
	/* a PUT or PATCH (Actions "Send" mappings) is logged with its own
	 * method: the 8th request is a PUT, the 16th a PATCH */
	testlib_capture_begin(&cap);
	for (int i = 5; i < 16; i++)
		CU_ASSERT_EQUAL(pt_send_as(&f, i < 8 ? "PUT" : "PATCH", "/webhook", "X-Signature",
					   "00", webhook_event, strlen(webhook_event), &resp),
				HUB_ERR_DATA);
	said = testlib_capture_end(&cap);
	assert_error(&resp, 404, "not_found", -1);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "PUT /webhook is off (no webhook_secret set): "
					   "8 requests"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "PATCH /webhook is off (no webhook_secret set): "
					   "16 requests"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "POST /webhook"), 0);
	free(said);
	pt_close(&f);
}

/* A webhook body of 500 KB is taken, as on the tracking API (the limit is
 * inclusive); a byte more is a 413 before any signature is computed over
 * it, a wrong one too. */
static void test_webhook_body_limit_is_inclusive_and_checked_first(void)
{
	size_t limit = 500 * 1024;
	char *body = malloc(limit + 2), sig[41];
	struct hub_response resp;
	struct pt_fixture f;
	hub_rc rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	memset(body, ' ', limit + 1);
	memcpy(body, webhook_event, strlen(webhook_event));
	body[limit] = '\0';
	hmac_hex(body, limit, sig);
	fixture_open(&f);
	CU_ASSERT_EQUAL(send_webhook(&f, sig, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(f.got.n_recs, 1);
	pt_reset(&f.got);
	body[limit] = ' ';
	body[limit + 1] = '\0';
	rc = send_webhook(&f, sig, body, &resp);
	assert_error(&resp, 413, "body_too_large", -1);
	pt_assert_refused(&f, "a signed 500 KB + 1 webhook", rc, &resp, 413);
	rc = send_webhook(&f, "00", body, &resp);
	assert_error(&resp, 413, "body_too_large", -1);
	pt_assert_refused(&f, "an unsigned 500 KB + 1 webhook", rc, &resp, 413);
	pt_close(&f);
	free(body);
}

/* ---- malformed requests: nothing is ever emitted ----------------------- */

static char *repeat_events(size_t n, const char *event)
{
	size_t len = strlen(event) + 1, cap = 32 + n * len;
	char *body = malloc(cap), *p = body;

	p += sprintf(p, "{\"batch\": [");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", event);
	sprintf(p, "]}");
	return body;
}

static char *make_2501_events(void)
{
	return repeat_events(2501, "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\"}");
}

/* A webhook array (Actions batch mode) holds at most 2500 events, as a
 * batch does: 2501 is too_many_events and nothing of it is emitted (the
 * count check dropped for arrays passed every test). */
static void test_webhook_array_holds_at_most_2500_events(void)
{
	static const size_t counts[] = {2500, 2501};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		char *batch = repeat_events(counts[i], "{\"type\":\"track\",\"userId\":\"u\","
					    "\"event\":\"e\"}");
		char *array = batch + strlen("{\"batch\": "), sig[41];
		hub_rc rc;

		array[strlen(array) - 1] = '\0'; /* the batch's closing brace */
		hmac_hex(array, strlen(array), sig);
		rc = send_webhook(&f, sig, array, &resp);
		if (counts[i] <= 2500) {
			CU_ASSERT_EQUAL(rc, HUB_OK);
			CU_ASSERT_EQUAL(resp.status, 200);
			CU_ASSERT_EQUAL(f.got.n_recs, counts[i]);
		} else {
			CU_ASSERT_EQUAL(rc, HUB_ERR_DATA);
			assert_error(&resp, 400, "too_many_events", -1);
			CU_ASSERT_EQUAL(f.got.n_emits, 0);
		}
		pt_reset(&f.got);
		free(batch);
	}
	pt_close(&f);
}

/* Item 1 is just over 32 KB (compact JSON), item 0 is fine. */
static char *make_event_over_32kb(void)
{
	char *pad = malloc(32 * 1024 + 1), *body;

	memset(pad, 'x', 32 * 1024);
	pad[32 * 1024] = '\0';
	CU_ASSERT(asprintf(&body,
			   "{\"batch\": [{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\"},"
			   "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\","
			   "\"properties\":{\"p\":\"%s\"}}]}",
			   pad) > 0);
	free(pad);
	return body;
}

static char *make_501kb_body(void)
{
	size_t n = 501 * 1024;
	char *body = malloc(n + 1);

	memset(body, ' ', n);
	memcpy(body, "{\"batch\": []}", 13);
	body[n] = '\0';
	return body;
}

/* A 400 KB string: fits the body, not an event. */
static char *make_huge_string(void)
{
	size_t n = 400 * 1024;
	char *body = malloc(n + 128), *p = body;

	p += sprintf(p, "{\"batch\": [{\"type\":\"identify\",\"userId\":\"");
	memset(p, 'u', n);
	p += n;
	sprintf(p, "\"}]}");
	return body;
}

static char *make_deep_nesting(void)
{
	size_t depth = 5000;
	char *body = malloc(2 * depth + 128), *p = body;

	p += sprintf(p, "{\"batch\": [{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\","
			"\"properties\":{\"p\":");
	memset(p, '[', depth);
	p += depth;
	memset(p, ']', depth);
	p += depth;
	sprintf(p, "}}]}");
	return body;
}

static char *make_long_message_id(void)
{
	char id[101], *body;

	memset(id, 'm', 100);
	id[100] = '\0';
	CU_ASSERT(asprintf(&body,
			   "{\"batch\": [{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\","
			   "\"messageId\":\"%s\"}]}",
			   id) > 0);
	return body;
}

/* 99 characters, 198 bytes: fine; 100 two-byte characters are not. */
static char *make_long_utf8_message_id(void)
{
	char id[256] = "", *body;

	for (int i = 0; i < 100; i++)
		strcat(id, "\xc3\xa9");
	CU_ASSERT(asprintf(&body,
			   "{\"batch\": [{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\","
			   "\"messageId\":\"%s\"}]}",
			   id) > 0);
	return body;
}

#define TRACK_FIELDS "\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\""
#define OK_ITEM "{" TRACK_FIELDS "}"

struct bad_row {
	const char *what;
	const char *path; /* NULL: /v1/batch */
	const char *auth; /* NULL: key 1; "" : no header */
	const char *body; /* or make() */
	char *(*make)(void);
	size_t len; /* 0: strlen(body) */
	int status;
	const char *code;
	long index;
};

static const struct bad_row bad_rows[] = {
	{"broken JSON", NULL, NULL, "{\"batch\": [", NULL, 0, 400, "invalid_json", -1},
	{"empty body", NULL, NULL, "", NULL, 0, 400, "invalid_json", -1},
	{"not JSON", NULL, NULL, "hello", NULL, 0, 400, "invalid_json", -1},
	{"trailing garbage", NULL, NULL, "{\"batch\": []} x", NULL, 0, 400, "invalid_json", -1},
	{"invalid UTF-8", NULL, NULL, "{\"batch\": [{" TRACK_FIELDS ",\"anonymousId\":\"a\xff\"}]}",
	 NULL, 0, 400, "invalid_json", -1},
	{"overlong UTF-8", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"anonymousId\":\"\xc0\xaf\"}]}", NULL, 0, 400,
	 "invalid_json", -1},
	{"raw NUL byte", NULL, NULL, "{\"batch\": [{" TRACK_FIELDS "}]\0}", NULL, 55, 400,
	 "invalid_json", -1},
	{"escaped NUL", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"anonymousId\":\"a\\u0000b\"}]}", NULL, 0, 400,
	 "invalid_json", -1},
	{"lone surrogate", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"anonymousId\":\"\\ud800\"}]}", NULL, 0, 400,
	 "invalid_json", -1},
	{"deep nesting", NULL, NULL, NULL, make_deep_nesting, 0, 400, "invalid_json", -1},
	{"duplicate top key", NULL, NULL, "{\"batch\": [], \"batch\": []}", NULL, 0, 400,
	 "invalid_json", -1},
	{"duplicate event key", NULL, NULL,
	 "{\"batch\": [" OK_ITEM ", {" TRACK_FIELDS ",\"userId\":\"v\"}]}", NULL, 0, 400,
	 "invalid_json", -1},
	{"body is an array", NULL, NULL, "[" OK_ITEM "]", NULL, 0, 400, "invalid_request", -1},
	{"batch missing", NULL, NULL, "{}", NULL, 0, 400, "invalid_request", -1},
	{"batch an object", NULL, NULL, "{\"batch\": {" TRACK_FIELDS "}}", NULL, 0, 400,
	 "invalid_request", -1},
	{"batch context a string", NULL, NULL, "{\"batch\": [], \"context\": \"x\"}", NULL, 0, 400,
	 "invalid_request", -1},
	{"batch sentAt not a date", NULL, NULL, "{\"batch\": [], \"sentAt\": \"yesterday\"}", NULL,
	 0, 400, "invalid_request", -1},
	{"batch integrations a list", NULL, NULL, "{\"batch\": [], \"integrations\": []}", NULL, 0,
	 400, "invalid_request", -1},
	{"batch sentAt a number", NULL, NULL, "{\"batch\": [], \"sentAt\": 1767225600000}", NULL, 0,
	 400, "invalid_request", -1},
	{"event a number", NULL, NULL, "{\"batch\": [1]}", NULL, 0, 400, "invalid_event", 0},
	{"second event a string", NULL, NULL, "{\"batch\": [" OK_ITEM ", \"x\"]}", NULL, 0, 400,
	 "invalid_event", 1},
	{"type not a string", NULL, NULL,
	 "{\"batch\": [" OK_ITEM "," OK_ITEM ",{\"type\":3,\"userId\":\"u\"}]}", NULL, 0, 400,
	 "invalid_event", 2},
	{"type missing", NULL, NULL, "{\"batch\": [" OK_ITEM ",{\"userId\":\"u\"}]}", NULL, 0, 400,
	 "missing_field", 1},
	{"type unknown", NULL, NULL, "{\"batch\": [{\"type\":\"purchase\",\"userId\":\"u\"}]}",
	 NULL, 0, 400, "unknown_type", 0},
	{"type in the wrong case", NULL, NULL,
	 "{\"batch\": [{\"type\":\"Track\",\"userId\":\"u\","
	 "\"event\":\"e\"}]}",
	 NULL, 0, 400, "unknown_type", 0},
	{"userId an object", NULL, NULL,
	 "{\"batch\": [{\"type\":\"identify\",\"userId\":{\"id\":1}}]}", NULL, 0, 400,
	 "invalid_event", 0},
	{"userId a bool", NULL, NULL, "{\"batch\": [{\"type\":\"identify\",\"userId\":true}]}",
	 NULL, 0, 400, "invalid_event", 0},
	{"anonymousId an array", NULL, NULL,
	 "{\"batch\": [{\"type\":\"identify\",\"anonymousId\":[\"a\"]}]}", NULL, 0, 400,
	 "invalid_event", 0},
	{"no userId nor anonymousId", NULL, NULL,
	 "{\"batch\": [{\"type\":\"track\",\"event\":\"e\"}]}", NULL, 0, 400, "invalid_event", 0},
	{"track without event", NULL, NULL, "{\"batch\": [{\"type\":\"track\",\"userId\":\"u\"}]}",
	 NULL, 0, 400, "invalid_event", 0},
	{"event name a number", NULL, NULL,
	 "{\"batch\": [{\"type\":\"track\",\"userId\":\"u\",\"event\":5}]}", NULL, 0, 400,
	 "invalid_event", 0},
	{"properties an array", NULL, NULL, "{\"batch\": [{" TRACK_FIELDS ",\"properties\":[1]}]}",
	 NULL, 0, 400, "invalid_event", 0},
	{"traits a string", NULL, NULL,
	 "{\"batch\": [{\"type\":\"identify\",\"userId\":\"u\",\"traits\":\"x\"}]}", NULL, 0, 400,
	 "invalid_event", 0},
	{"item context a string", NULL, NULL, "{\"batch\": [{" TRACK_FIELDS ",\"context\":\"x\"}]}",
	 NULL, 0, 400, "invalid_event", 0},
	{"integrations a list", NULL, NULL, "{\"batch\": [{" TRACK_FIELDS ",\"integrations\":[]}]}",
	 NULL, 0, 400, "invalid_event", 0},
	{"timestamp not a date", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"timestamp\":\"2026-13-01T00:"
	 "00:00Z\"}]}",
	 NULL, 0, 400, "invalid_event", 0},
	{"timestamp without zone", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"timestamp\":\"2026-01-01T00:"
	 "00:00\"}]}",
	 NULL, 0, 400, "invalid_event", 0},
	{"timestamp on February 29 of 2026", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"timestamp\":\"2026-02-29T00:00:00Z\"}]}", NULL, 0, 400,
	 "invalid_event", 0},
	{"timestamp offset of 24 hours", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"timestamp\":\"2026-01-01T00:00:00+24:00\"}]}", NULL, 0,
	 400, "invalid_event", 0},
	{"timestamp offset of 60 minutes", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"timestamp\":\"2026-01-01T00:00:00+05:60\"}]}", NULL, 0,
	 400, "invalid_event", 0},
	{"timestamp a number", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"timestamp\":1767225600000}]}", NULL, 0, 400,
	 "invalid_event", 0},
	{"item sentAt not a date", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"sentAt\":\"now\"}]}", NULL, 0, 400, "invalid_event", 0},
	{"big integer, then broken JSON", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"properties\":{\"n\":12345678901234567000}}", NULL,
	 0, 400, "invalid_json", -1},
	{"big integer and a duplicate key", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"properties\":{\"n\":12345678901234567000,"
	 "\"n\":1}}]}",
	 NULL, 0, 400, "invalid_json", -1},
	{"a real past a double", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"properties\":{\"n\":1e400}}]}", NULL, 0, 400,
	 "invalid_json", -1},
	{"big integer and a previousId over 2^53", NULL, NULL,
	 "{\"batch\": [" OK_ITEM ",{\"type\":\"alias\",\"userId\":\"u\","
	 "\"previousId\":-12345678901234567000}]}",
	 NULL, 0, 400, "invalid_event", 1},
	{"userId of 2^63 exactly", NULL, NULL,
	 "{\"batch\": [{\"type\":\"identify\",\"userId\":9223372036854775808}]}", NULL, 0, 400,
	 "invalid_event", 0},
	{"messageId a number", NULL, NULL, "{\"batch\": [{" TRACK_FIELDS ",\"messageId\":12}]}",
	 NULL, 0, 400, "invalid_event", 0},
	{"messageId 100 chars", NULL, NULL, NULL, make_long_message_id, 0, 400, "invalid_event", 0},
	{"messageId 100 UTF-8 chars", NULL, NULL, NULL, make_long_utf8_message_id, 0, 400,
	 "invalid_event", 0},
	{"group without groupId", NULL, NULL,
	 "{\"batch\": [{\"type\":\"group\",\"userId\":\"u\"}]}", NULL, 0, 400, "invalid_event", 0},
	{"alias without previousId", NULL, NULL,
	 "{\"batch\": [{\"type\":\"alias\",\"userId\":\"u\"}]}", NULL, 0, 400, "invalid_event", 0},
	{"alias without userId", NULL, NULL,
	 "{\"batch\": [{\"type\":\"alias\",\"anonymousId\":\"a\",\"previousId\":\"p\"}]}", NULL, 0,
	 400, "invalid_event", 0},
	{"externalIds an object", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"context\":{\"externalIds\":{\"id\":\"1\"}}}]}", NULL, 0,
	 400, "invalid_event", 0},
	{"externalId without type", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"context\":{\"externalIds\":[{\"id\":\"1\"}]}}]}", NULL,
	 0, 400, "invalid_event", 0},
	{"externalId without id", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"context\":{\"externalIds\":[{\"type\":\"crm_id\"}]}}]}",
	 NULL, 0, 400, "invalid_event", 0},
	{"externalId id a number", NULL, NULL,
	 "{\"batch\": [{" TRACK_FIELDS ",\"context\":{\"externalIds\":[{\"id\":7,"
	 "\"type\":\"crm_id\"}]}}]}",
	 NULL, 0, 400, "invalid_event", 0},
	{"externalIds in the batch context", NULL, NULL,
	 "{\"batch\": [" OK_ITEM "], \"context\":{\"externalIds\":[7]}}", NULL, 0, 400,
	 "invalid_event", 0},
	{"2501 events", NULL, NULL, NULL, make_2501_events, 0, 400, "too_many_events", -1},
	{"an event over 32 KB", NULL, NULL, NULL, make_event_over_32kb, 0, 400, "event_too_large",
	 1},
	{"a huge string", NULL, NULL, NULL, make_huge_string, 0, 400, "event_too_large", 0},
	{"a 501 KB body", NULL, NULL, NULL, make_501kb_body, 0, 413, "body_too_large", -1},
	{"a 501 KB body, no auth", NULL, "", NULL, make_501kb_body, 0, 413, "body_too_large", -1},
	{"unknown write key", NULL, "Basic bm9wZTo=", "{\"batch\": [" OK_ITEM "]}", NULL, 0, 401,
	 "unauthorized", -1},
	{"no write key", NULL, "", "{\"batch\": [" OK_ITEM "]}", NULL, 0, 401, "unauthorized", -1},
	{"wrong key, bad body", NULL, "Basic bm9wZTo=", "{\"batch\": [1]}", NULL, 0, 401,
	 "unauthorized", -1},
	{"single call: an array", "/v1/track", NULL, "[" OK_ITEM "]", NULL, 0, 400,
	 "invalid_request", -1},
	{"single call: another type", "/v1/track", NULL, "{\"type\":\"identify\",\"userId\":\"u\"}",
	 NULL, 0, 400, "unknown_type", 0},
	{"single call: over 32 KB", "/v1/identify", NULL, NULL, make_huge_string, 0, 400,
	 "event_too_large", 0},
	{"single call: no identifier", "/v1/page", NULL, "{\"name\":\"Home\"}", NULL, 0, 400,
	 "invalid_event", 0},
};

static void test_malformed_requests_emit_nothing(void)
{
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
		const struct bad_row *row = &bad_rows[i];
		const char *auth = row->auth ? (*row->auth ? row->auth : NULL) : KEY1_BASIC;
		char *made = row->make ? row->make() : NULL;
		const char *body = made ? made : row->body;
		size_t len = row->len ? row->len : strlen(body);
		struct hub_response resp;
		hub_rc rc;

		rc = pt_send(&f, row->path ? row->path : "/v1/batch",
			     auth ? "Authorization" : NULL, auth, body, len, &resp);
		assert_error(&resp, row->status, row->code, row->index);
		pt_assert_refused(&f, row->what, rc, &resp, row->status);
		free(made);
	}
	pt_close(&f);
}

/* A JSON error keeps jansson's own words, never the client's text around
 * it ("near '...'"): it could be a write key sent in the wrong place. */
static void test_json_errors_never_repeat_the_sent_text(void)
{
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, "{\"writeKey\" \"wk_secret_T9\"}",
				&resp),
			HUB_ERR_DATA);
	assert_error(&resp, 400, "invalid_json", -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, "':' expected"));
	CU_ASSERT_PTR_NULL(strstr(resp.body, "wk_secret_T9"));
	CU_ASSERT_PTR_NULL(strstr(resp.body, "near"));
	pt_close(&f);
}

/* A track event of n properties 0.1 ("p0":0.1), `sep` between them
 * (malloc'd). */
static char *make_float_event(size_t n, const char *sep)
{
	char *ev = malloc(128 + n * (16 + strlen(sep))), *p = ev;

	p += sprintf(p, "{\"type\":\"track\",\"userId\":\"big1\",\"event\":\"Floats\","
			"\"properties\":{");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s\"p%zu\":0.1", i ? sep : "", i);
	sprintf(p, "}}");
	return ev;
}

/* Checks a refusal as event_too_large of item `index`, which is `size`
 * bytes. */
static void assert_too_large(struct pt_fixture *f, hub_rc rc, const struct hub_response *resp,
			     long index, size_t size)
{
	json_t *doc = pt_answer_json(resp, 400), *err = json_object_get(doc, "error");
	char want[64];

	snprintf(want, sizeof(want), "event: %zu bytes, the limit is 32768", size);
	pt_assert_error_object(err, "event_too_large");
	pt_assert_index(err, "index", index);
	ASSERT_STR_OR_NULL(json_string_value(json_object_get(err, "message")), want);
	json_decref(doc);
	pt_assert_refused(f, "an event over 32 KB as sent", rc, resp, 400);
}

/* An event's size is its text as sent: 0.1 counts 3 bytes (jansson prints
 * it back in 19), whitespace between tokens none; the limit stays 32 KB,
 * for a single call, a batch and a webhook array alike. */
static void test_event_size_is_its_text_as_sent(void)
{
	char *small = make_float_event(2300, ","), *spaced = make_float_event(2300, ",\n    ");
	char *big = make_float_event(3000, ","), *body = NULL, sig[41];
	struct hub_response resp;
	struct pt_fixture f;
	hub_rc rc;

	CU_ASSERT(strlen(small) > 20 * 1024 && strlen(small) < 32 * 1024);
	CU_ASSERT(strlen(spaced) > 32 * 1024);
	CU_ASSERT(strlen(big) > 32 * 1024);
	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC, small, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	/* pretty-printed, after another member, "batch" spelt with an escape */
	CU_ASSERT(
		asprintf(&body,
			 "{ \"context\": {\"a\": [1, \"]\"]},\n  \"\\u0062atch\" : [ %s ,\n %s ] }",
			 small, spaced) > 0);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	free(body);
	CU_ASSERT(asprintf(&body, "[%s, %s]", spaced, small) > 0);
	hmac_hex(body, strlen(body), sig);
	CU_ASSERT_EQUAL(send_webhook(&f, sig, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(f.got.n_recs, 5);
	pt_reset(&f.got);
	free(body);

	rc = pt_post(&f, "/v1/track", KEY1_BASIC, big, &resp);
	assert_too_large(&f, rc, &resp, 0, strlen(big));
	CU_ASSERT(asprintf(&body, "{\"batch\": [%s, %s]}", small, big) > 0);
	rc = pt_post(&f, "/v1/batch", KEY1_BASIC, body, &resp);
	assert_too_large(&f, rc, &resp, 1, strlen(big));
	free(body);
	CU_ASSERT(asprintf(&body, "[%s,%s]", small, big) > 0);
	hmac_hex(body, strlen(body), sig);
	rc = send_webhook(&f, sig, body, &resp);
	assert_too_large(&f, rc, &resp, 1, strlen(big));
	free(body);
	free(small);
	free(spaced);
	free(big);
	pt_close(&f);
}

#define NAME_16 "abcdefghijklmnop"
#define NAME_64 NAME_16 NAME_16 NAME_16 NAME_16
#define NAME_256 NAME_64 NAME_64 NAME_64 NAME_64
#define LONG_NAME_257 NAME_256 "x"

/* A track event of exactly `size` bytes as sent, its property holding
 * `n_escapes` escapes ("\n": two bytes of text each) (malloc'd). */
static char *make_sized_event(size_t size, size_t n_escapes)
{
	static const char head[] = "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\","
				   "\"properties\":{\"p\":\"";
	static const char tail[] = "\"}}";
	size_t fixed = strlen(head) + strlen(tail), pad = size - fixed - 2 * n_escapes;
	char *ev = malloc(size + 1), *p = ev;

	p += sprintf(p, "%s", head);
	for (size_t i = 0; i < n_escapes; i++)
		p += sprintf(p, "\\n");
	memset(p, 'x', pad);
	p += pad;
	sprintf(p, "%s", tail);
	CU_ASSERT_EQUAL(strlen(ev), size);
	return ev;
}

/* The limits are inclusive (WIRE.md): 2500 events, an event of 32 KB as
 * sent (an escape counts both its bytes), a body of 500 KB; and the hub's
 * 256 bytes of an event name. */
static void test_limits_are_inclusive(void)
{
	static const char name_256[] =
		"{\"userId\":\"u\",\"event\":\"" NAME_256 "\"}";
	char *events = repeat_events(2500, OK_ITEM), *at = make_sized_event(32 * 1024, 100);
	char *over = make_sized_event(32 * 1024 + 1, 100), *body = malloc(500 * 1024 + 1);
	struct hub_response resp;
	struct pt_fixture f;
	hub_rc rc;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, events, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(f.got.n_recs, 2500);
	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC, at, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(f.got.n_recs, 1);
	pt_reset(&f.got);
	rc = pt_post(&f, "/v1/track", KEY1_BASIC, over, &resp);
	assert_too_large(&f, rc, &resp, 0, 32 * 1024 + 1);
	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC, name_256, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(f.got.n_recs, 1);
	pt_reset(&f.got);
	memset(body, ' ', 500 * 1024);
	memcpy(body, "{\"batch\": [" OK_ITEM "]}", strlen("{\"batch\": [" OK_ITEM "]}"));
	body[500 * 1024] = '\0';
	CU_ASSERT_EQUAL(pt_post(&f, "/v1/batch", KEY1_BASIC, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(f.got.n_recs, 1);
	pt_close(&f);
	free(body);
	free(over);
	free(at);
	free(events);
}

/* The batch context merges into an item's context at every depth: an
 * item's device.id beside the batch's device.type keeps both. */
static void test_batch_context_merges_nested_objects(void)
{
	static const char body[] =
		"{\"batch\": [{" TRACK_FIELDS ",\"context\":{\"device\":{\"id\":\"d1\"}}}],"
		" \"context\": {\"device\": {\"type\": \"android\"}}}";
	struct pt_fixture f;

	fixture_open(&f);
	ASSERT_STR_OR_NULL(pt_post_one(&f, "/v1/batch", KEY1_BASIC, body)->platform, "android");
	pt_close(&f);
}

/* February 29 exists in leap years only: every fourth year, but not a
 * century unless it divides by 400 (2000 yes, 1900 and 2100 no). */
static void test_february_29_exists_in_gregorian_leap_years_only(void)
{
	static const struct {
		const char *timestamp;
		int is_date;
	} rows[] = {
		{"2024-02-29T12:00:00Z", 1},
		{"2000-02-29T12:00:00Z", 1},
		{"1600-02-29T12:00:00Z", 1},
		{"1900-02-29T12:00:00Z", 0},
		{"2100-02-29T12:00:00Z", 0},
		{"2023-02-29T12:00:00Z", 0},
	};
	struct hub_response resp;
	struct pt_fixture f;
	char body[256];

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(body, sizeof(body), "{" TRACK_FIELDS ",\"timestamp\":\"%s\"}",
			 rows[i].timestamp);
		if (rows[i].is_date) {
			CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC, body, &resp), HUB_OK);
			CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
			CU_ASSERT_EQUAL(f.got.recs[0].timestamp_ms, ms(rows[i].timestamp));
		} else {
			CU_ASSERT_EQUAL(pt_post(&f, "/v1/track", KEY1_BASIC, body, &resp),
					HUB_ERR_DATA);
			assert_error(&resp, 400, "invalid_event", 0);
			CU_ASSERT_EQUAL(f.got.n_emits, 0);
		}
		pt_reset(&f.got);
	}
	pt_close(&f);
}

/* An event without timestamp says so (has_timestamp 0): the hub takes its
 * receive time, not the epoch that 0 would be. */
static void test_an_event_without_a_timestamp_takes_the_receive_time(void)
{
	struct pt_fixture f;
	const struct pt_seen *s;

	fixture_open(&f);
	s = pt_post_one(&f, "/v1/track", KEY1_BASIC, OK_ITEM);
	CU_ASSERT_EQUAL(s->timestamp_ms, 0);
	CU_ASSERT_EQUAL(s->rec->timestamp_ms, f.got.now_ms);
	pt_close(&f);
}

/* A record the hub cannot store now is a 503 with Retry-After, which
 * Segment's senders retry (WIRE.md). */
static void test_record_the_hub_cannot_store_now_is_503(void)
{
	static const char body[] = "{\"batch\": [" OK_ITEM ","
				   "{" TRACK_FIELDS ",\"messageId\":\"m2\"}]}";

	pt_assert_cannot_store_now(fixture_open, "/v1/batch", KEY1_BASIC, body, "m2");
}

/* A record the hub refuses with `why`: a JSON 400 naming event 0, whose
 * message keeps why (pt_sweep_refusal_reasons). */
static hub_rc send_refused_with(struct pt_fixture *f, const char *why, size_t min_len)
{
	static const char body[] = "{" TRACK_FIELDS ",\"messageId\":\"m1\"}";
	struct hub_response resp;
	json_t *doc, *err;
	hub_rc rc;

	f->got.refuse_message_id = "m1";
	rc = pt_post(f, "/v1/track", KEY1_BASIC, body, &resp);
	doc = pt_answer_json(&resp, 400);
	err = json_object_get(doc, "error");
	pt_assert_error_object(err, "invalid_event");
	pt_assert_index(err, "index", 0);
	pt_assert_message_kept(json_string_value(json_object_get(err, "message")), why, min_len);
	json_decref(doc);
	return rc;
}

/* The hub's reason for a refused record is the message of the answer,
 * which stays JSON with its code and index whatever the reason's length:
 * cut to fit the 1 KB body (to 120 bytes when its escapes do not fit),
 * never inside a character. */
static void test_refusal_reason_of_any_length_keeps_the_answer_json(void)
{
	struct pt_fixture f;

	fixture_open(&f);
	/* a message holds 511 bytes: 255 of the characters */
	pt_sweep_refusal_reasons(&f, send_refused_with, 510);
	pt_close(&f);
}

/* ---- import ------------------------------------------------------------ */

static void test_import_line_maps_one_event_without_auth(void)
{
	static const char line[] =
		"{\"type\":\"identify\",\"userId\":\"imp-1\",\"anonymousId\":\"dev-1\","
		"\"traits\":{\"email\":\"imp@example.com\"},\"messageId\":\"imp-m1\","
		"\"timestamp\":\"2024-05-01T08:00:00.000Z\",\"sentAt\":\"2024-05-01T08:00:03."
		"000Z\","
		"\"receivedAt\":\"2024-05-01T08:00:04.000Z\",\"writeKey\":\"whatever\"}";
	struct pt_fixture f;
	char err[512] = "";

	fixture_open(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.mod.desc->import_line);
	CU_ASSERT_EQUAL(pt_import_line(&f, line, err, sizeof(err)), HUB_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_IDENTIFY);
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "custom_id"), "imp-1");
	ASSERT_STR_OR_NULL(f.got.recs[0].attributes_json,
			   "{\"$email_address\":\"imp@example.com\"}");
	/* archived events are corrected already and keep their receive time */
	CU_ASSERT_EQUAL(f.got.recs[0].timestamp_ms, ms("2024-05-01T08:00:00.000Z"));
	CU_ASSERT_EQUAL(f.got.recs[0].sent_at_ms, 0);
	CU_ASSERT_EQUAL(f.got.recs[0].received_at_ms, ms("2024-05-01T08:00:04.000Z"));
	pt_close(&f);
}

/* An archived event with only originalTimestamp (the device's clock) is
 * corrected by receivedAt - sentAt, as Segment corrects timestamp; with
 * timestamp, or without sentAt or receivedAt, it goes as it is. */
static void test_import_line_corrects_an_original_timestamp(void)
{
	static const struct {
		const char *times;
		const char *hub_timestamp;
	} rows[] = {
		/* the device's clock 60 s behind: sent at 08:00:10 device time,
		 * received at 08:01:10 */
		{"\"originalTimestamp\":\"2024-05-01T08:00:00.000Z\","
		 "\"sentAt\":\"2024-05-01T08:00:10"
		 ".000Z\",\"receivedAt\":\"2024-05-01T08:01:10.000Z\"",
		 "2024-05-01T08:01:00.000Z"},
		{"\"timestamp\":\"2024-05-01T08:01:00.000Z\","
		 "\"originalTimestamp\":\"2024-05-01T08:00:00"
		 ".000Z\",\"sentAt\":\"2024-05-01T08:00:10.000Z\","
		 "\"receivedAt\":\"2024-05-01T08:01:10"
		 ".000Z\"",
		 "2024-05-01T08:01:00.000Z"},
		{"\"originalTimestamp\":\"2024-05-01T08:00:00.000Z\","
		 "\"receivedAt\":\"2024-05-01T08:01:10"
		 ".000Z\"",
		 "2024-05-01T08:00:00.000Z"},
		/* sentAt without receivedAt: no skew to measure */
		{"\"originalTimestamp\":\"2024-05-01T08:00:00.000Z\","
		 "\"sentAt\":\"2024-05-01T08:00:10.000Z\"",
		 "2024-05-01T08:00:00.000Z"},
	};
	struct pt_fixture f;
	char err[512], line[512];

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(
			line, sizeof(line),
			"{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\","
			"\"messageId\":\"m%zu\",%s}",
			i, rows[i].times);
		err[0] = '\0';
		CU_ASSERT_EQUAL(pt_import_line(&f, line, err, sizeof(err)), HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		if (f.got.recs[0].rec->timestamp_ms != ms(rows[i].hub_timestamp))
			fprintf(stderr, "\n  row %zu: %lld\n", i,
				(long long)f.got.recs[0].rec->timestamp_ms);
		CU_ASSERT_EQUAL(f.got.recs[0].rec->timestamp_ms, ms(rows[i].hub_timestamp));
		pt_reset(&f.got);
	}
	pt_close(&f);
}


static void test_import_line_refuses_bad_lines(void)
{
	static const struct {
		const char *line, *message;
	} rows[] = {
		{"{\"type\":\"track\",\"userId\":", "invalid JSON at line 1, column "},
		{"[{\"type\":\"track\"}]", "body: must be an event object"},
		{"{\"userId\":\"u\"}", "type: missing"},
		{"{\"type\":\"track\",\"userId\":\"u\"}", "event: required, a non-empty string"},
		{"{\"type\":\"track\",\"userId\":\"u\",\"event\":\"\"}",
		 "event: required, a non-empty string"},
		{"{\"type\":\"track\",\"userId\":\"u\",\"event\":\"" LONG_NAME_257 "\"}",
		 "event: longer than 256 bytes"},
		{"{\"batch\":[]}", "type: missing"},
	};
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char err[512] = "";
		CU_ASSERT_EQUAL(pt_import_line(&f, rows[i].line, err, sizeof(err)), HUB_ERR_DATA);
		CU_ASSERT_NSTRING_EQUAL(err, rows[i].message, strlen(rows[i].message));
	}
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	pt_close(&f);
}

/* ---- out of memory ------------------------------------------------------ */

/* Two events whose objects have at most 8 members: jansson 2.14 crashes
 * when the allocation of a larger object's rehash fails and a later one
 * does not (alloc_fail_only). */
#define SMALL_IDENTIFY                                                                    \
	"{\"type\":\"identify\",\"userId\":\"u1\",\"timestamp\":\"2026-01-01T00:00:00Z\","        \
	"\"traits\":{\"plan\":\"gold\",\"n\":3,\"tags\":[\"a\",\"b\"]},"                          \
	"\"context\":{\"locale\":\"fr-FR\"}}"
#define SMALL_TRACK                                                                       \
	"{\"type\":\"track\",\"anonymousId\":\"a1\",\"event\":\"Bought\",\"messageId\":\"m2\","  \
	"\"properties\":{\"sku\":\"s-1\",\"qty\":2,\"big\":12345678901234567000}}"

/* Memory running out while a valid body is read is a 5xx, which Segment's
 * senders retry, never a 400, which they drop: jansson reports it as a
 * syntax error ("invalid token", line -1), and it was answered as the
 * client's invalid JSON; an import counted the line as rejected.  Nor
 * does a value jansson left out of what it built or printed reach a
 * record. */
static void test_out_of_memory_is_5xx_never_400(void)
{
	static const char small[] = "{\"batch\":[" SMALL_IDENTIFY "," SMALL_TRACK "],"
				    "\"context\":{\"app\":{\"name\":\"a\"},"
				    "\"traits\":{\"plan\":\"p\",\"anonymousId\":\"x\"}}}";
	char *track = pt_read_file(FIXTURES, "track.json");
	char *identify = pt_read_file(FIXTURES, "identify.json");
	char *body = NULL;
	struct pt_fixture f;

	CU_ASSERT_FATAL(asprintf(&body, "{\"batch\": [%s, %s], \"context\": {\"app\": "
					"{\"name\": \"a\"}}, \"big\": 12345678901234567000}",
				 track, identify) > 0);
	fixture_open(&f);
	CU_ASSERT(pt_sweep_out_of_memory(&f, "/v1/batch", KEY1_BASIC, body, alloc_fail_after) > 10);
	CU_ASSERT(pt_sweep_out_of_memory(&f, "/v1/batch", KEY1_BASIC, small, alloc_fail_only) > 10);
	CU_ASSERT(pt_sweep_out_of_memory(&f, NULL, NULL, track, alloc_fail_after) > 10);
	CU_ASSERT(pt_sweep_out_of_memory(&f, NULL, NULL, SMALL_IDENTIFY, alloc_fail_only) > 10);
	pt_close(&f);
	free(body);
	free(identify);
	free(track);
}

static void test_descriptor_declares_routes_and_secret_keys(void)
{
	/* the tracking API takes POST only; the webhook what Segment's
	 * Webhooks (Actions) "Send" may use: POST, PUT or PATCH */
	static const char *const routes[] = {
		"POST /v1/batch", "POST /v1/identify", "POST /v1/track", "POST /v1/page",
		"POST /v1/screen", "POST /v1/group", "POST /v1/alias", "POST /webhook",
		"POST /v1/b", "POST /v1/import", "POST /v1/i", "POST /v1/t", "POST /v1/p",
		"POST /v1/s", "POST /v1/g", "POST /v1/a", "PUT /webhook", "PATCH /webhook"};
	const size_t n = sizeof(routes) / sizeof(routes[0]);
	struct pt_fixture f;
	char route[64];
	size_t i = 0;

	fixture_open(&f);
	CU_ASSERT_EQUAL(f.mod.desc->roles, HUB_ROLE_PUSH);
	for (const struct hub_route *r = f.mod.desc->routes; r->method; r++, i++) {
		CU_ASSERT_FATAL(i < n);
		snprintf(route, sizeof(route), "%s %s", r->method, r->path);
		CU_ASSERT_STRING_EQUAL(route, routes[i]);
		if (strcmp(r->path, "/webhook") == 0) /* one handler whatever the method */
			CU_ASSERT_PTR_EQUAL(r->handle, f.mod.desc->routes[7].handle);
	}
	CU_ASSERT_EQUAL(i, n);
	/* the keys and the secret are secret; the switch is not */
	for (const struct hub_config_key *k = f.mod.desc->config; k->name; k++) {
		CU_ASSERT_EQUAL(k->is_secret, strcmp(k->name, "webhook_batch_signature") != 0);
		CU_ASSERT_FALSE(k->is_required);
	}
	pt_close(&f);
}

TEST_SUITE(segment, NULL, NULL, TEST(test_identify_spec_example_maps_ids_traits_and_context),
	   TEST(test_track_spec_example_maps_event_and_properties),
	   TEST(test_page_becomes_page_event_with_its_name),
	   TEST(test_screen_becomes_screen_event_on_ios),
	   TEST(test_group_becomes_group_event_with_id_and_traits),
	   TEST(test_alias_maps_previous_id_and_user_id),
	   TEST(test_spec_examples_map_alike_through_batch),
	   TEST(test_batch_context_merges_into_items),
	   TEST(test_locale_and_timezone_become_native_attributes),
	   TEST(test_messaging_subscriptions_set_consent),
	   TEST(test_traits_win_over_context_and_keys_are_lowercased),
	   TEST(test_context_traits_are_an_identifys_traits_under_its_own),
	   TEST(test_a_trait_named_anonymous_id_is_no_attribute),
	   TEST(test_trait_keys_are_named_as_mparticle_names_attributes),
	   TEST(test_external_ids_become_identifiers), TEST(test_platform_detection),
	   TEST(test_skew_correction_fields), TEST(test_numeric_ids_become_decimal_text),
	   TEST(test_message_id_optional_and_up_to_99_chars),
	   TEST(test_idless_events_get_ids_from_their_content_and_occurrence),
	   TEST(test_an_idless_resend_keeps_its_id_whatever_its_transport),
	   TEST(test_times_before_and_at_the_epoch),
	   TEST(test_segment_and_canonical_records_read_times_alike),
	   TEST(test_integer_too_big_for_64_bits_is_kept_as_a_double),
	   TEST(test_page_category_and_the_push_token),
	   TEST(test_single_calls_take_their_type_from_the_path),
	   TEST(test_type_refusal_names_the_type_and_the_accepted_ones),
	   TEST(test_short_paths_of_the_segment_libraries),
	   TEST(test_empty_batch_succeeds_with_nothing),
	   TEST(test_record_refused_by_the_hub_fails_the_request),
	   TEST(test_empty_or_blocked_ids_are_named_as_sent),
	   TEST(test_basic_auth_accepts_every_configured_key),
	   TEST(test_body_write_key_is_accepted),
	   TEST(test_wrong_or_missing_key_is_401_and_never_echoed),
	   TEST(test_webhook_only_source_refuses_the_api),
	   TEST(test_admit_refuses_from_the_headers_alone),
	   TEST(test_basic_auth_reads_standard_and_url_safe_base64),
	   TEST(test_create_needs_a_key_or_a_secret),
	   TEST(test_check_refuses_what_create_refuses_of_the_keys),
	   TEST(test_webhook_valid_signature_is_stored),
	   TEST(test_webhook_bad_or_missing_signature_is_401),
	   TEST(test_webhook_spliced_batch_is_refused_by_default),
	   TEST(test_webhook_first_element_signature_needs_the_option),
	   TEST(test_webhook_whole_body_signed_array_is_accepted_by_default),
	   TEST(test_webhook_array_holds_at_most_2500_events),
	   TEST(test_webhook_batch_signature_option_accepts_first_element_signed_arrays),
	   TEST(test_webhook_batch_signature_config_errors_name_the_key),
	   TEST(test_webhook_signature_must_be_whole),
	   TEST(test_webhook_first_element_is_read_to_its_own_end),
	   TEST(test_webhook_bad_events_are_400_after_the_signature),
	   TEST(test_webhook_is_off_without_a_secret),
	   TEST(test_webhook_body_limit_is_inclusive_and_checked_first),
	   TEST(test_malformed_requests_emit_nothing),
	   TEST(test_json_errors_never_repeat_the_sent_text),
	   TEST(test_event_size_is_its_text_as_sent),
	   TEST(test_limits_are_inclusive), TEST(test_batch_context_merges_nested_objects),
	   TEST(test_february_29_exists_in_gregorian_leap_years_only),
	   TEST(test_an_event_without_a_timestamp_takes_the_receive_time),
	   TEST(test_record_the_hub_cannot_store_now_is_503),
	   TEST(test_refusal_reason_of_any_length_keeps_the_answer_json),
	   TEST(test_import_line_maps_one_event_without_auth),
	   TEST(test_import_line_refuses_bad_lines),
	   TEST(test_out_of_memory_is_5xx_never_400),
	   TEST(test_import_line_corrects_an_original_timestamp),
	   TEST(test_descriptor_declares_routes_and_secret_keys))
