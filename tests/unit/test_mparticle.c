/*
 * test_mparticle.c - drives plugins/mparticle (mParticle Events API and
 * webhook output) through the real loader and host table
 * (tests/unit/plugtest.h): requests go straight to the plugin's routes with
 * a struct hub_call whose emit validates each record like the hub does
 * (record_from_hub) and keeps a copy.  Covers the mapping of every mParticle
 * event type (fixtures in tests/fixtures/mparticle/, shaped after
 * mParticle's JSON reference), the int64 mpid kept exactly, consent, Basic
 * and webhook auth (401 vs 403), a table of malformed requests (each must
 * emit nothing) and import_line.
 */
#include "plugtest.h"

#include "../../hub/alloc.h"
#include "../../hub/host.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES "tests/fixtures/mparticle"

#define BASIC_OK "Basic bXBfa2V5XzE6bXBfc2VjcmV0XzE="  /* mp_key_1:mp_secret_1 */
#define WEBHOOK_AUTH "Bearer wh-token-1"

/* ---- the world (tests/unit/plugtest.h) ------------------------------- */

/* One source "mp" of the plugin, with its own keys (%s). */
#define CONFIG                                                        \
	"identity:\n  external:\n    mpid: {limit: 1, priority: 1}\n" \
	"    other_id_2: {limit: 5, priority: 2}\n"                   \
	"sources:\n  - name: mp\n    plugin: mparticle\n%s"

static const char default_keys[] = "    api_key: mp_key_1\n"
				   "    api_secret: mp_secret_1\n"
				   "    webhook_authorization: \"" WEBHOOK_AUTH "\"\n";

static void fixture_open_with(struct pt_fixture *f, const char *keys_yaml)
{
	pt_open(f, "mparticle", CONFIG, keys_yaml);
}

static void fixture_open(struct pt_fixture *f)
{
	fixture_open_with(f, default_keys);
}

/* Sends a fixture to a route with the right credentials; expects 202. */
static void send_fixture_ok(struct pt_fixture *f, const char *path, const char *name)
{
	const char *auth = strcmp(path, "/webhook") == 0 ? WEBHOOK_AUTH : BASIC_OK;

	pt_post_file_ok(f, path, auth, FIXTURES, name, 202, "{}");
}

/* Checks an error answer: status, code, index and event_index (-1: none). */
static void assert_error(const struct hub_response *resp, int status, const char *code,
			 long index, long event_index)
{
	json_t *doc = pt_answer_json(resp, status), *errs, *err;

	errs = json_object_get(doc, "errors");
	CU_ASSERT_EQUAL(json_array_size(errs), 1);
	CU_ASSERT_EQUAL(json_object_size(doc), 1);
	err = json_array_get(errs, 0);
	pt_assert_error_object(err, code);
	pt_assert_index(err, "index", index);
	pt_assert_index(err, "event_index", event_index);
	json_decref(doc);
}

/* The message of an error answer (static buffer). */
static const char *error_message(const struct hub_response *resp)
{
	static char msg[1024];
	json_t *doc = json_loads(resp->body, 0, NULL);
	const char *m = json_string_value(
		json_object_get(json_array_get(json_object_get(doc, "errors"), 0), "message"));

	snprintf(msg, sizeof(msg), "%s", m ? m : "");
	json_decref(doc);
	return msg;
}

/* Sends row `i` of a refusal table to path (NULL: /v2/events) and checks
 * the 400: its code, indexes and exact message, and that nothing was
 * emitted. */
static void send_refused(struct pt_fixture *f, size_t i, const char *path, const char *body,
			 const char *code, long index, long event_index, const char *message)
{
	const char *auth;
	struct hub_response resp;
	hub_rc rc;

	path = path ? path : "/v2/events";
	auth = strcmp(path, "/webhook") == 0 ? WEBHOOK_AUTH : BASIC_OK;
	rc = pt_send(f, path, "Authorization", auth, body, strlen(body), &resp);
	assert_error(&resp, 400, code, index, event_index);
	pt_assert_refused(f, message, rc, &resp, 400);
	if (strcmp(error_message(&resp), message) != 0)
		fprintf(stderr, "\n  row %zu: %s", i, error_message(&resp));
	CU_ASSERT_STRING_EQUAL(error_message(&resp), message);
}

/* ---- mapping: one fixture per event type -------------------------------- */

static void test_custom_event_maps_identities_device_and_attributes(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v2/events", "custom_event.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);

	/* the identify: user attributes, deletions, locale, push */
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_IDENTIFY);
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "cust-1001");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "6f0e9c3a-7b2d-4e1f-9a8b-0c1d2e3f4a5b");
	ASSERT_STR_OR_NULL(pt_id_of(s, "email"), "ann.lee@example.com");
	ASSERT_STR_OR_NULL(pt_id_of(s, "phone"), "+14155550123");
	ASSERT_STR_OR_NULL(pt_id_of(s, "other"), "legacy-77");
	ASSERT_STR_OR_NULL(pt_id_of(s, "other_id_2"), "crm-5521");
	ASSERT_STR_OR_NULL(pt_id_of(s, "mpid"), "-8433569109474474420");
	ASSERT_STR_OR_NULL(pt_external_of(s, "mpid"), "-8433569109474474420");
	CU_ASSERT_EQUAL(s->n_ids, 7);
	ASSERT_STR_OR_NULL(s->platform, "ios");
	CU_ASSERT_EQUAL(s->push_enabled, 1);
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767225600500LL);
	ASSERT_JSON(s->attributes_json,
		    "{\"$language\": \"fr\", \"$region\": \"FR\", \"$first_name\": \"Ann\","
		    " \"$last_name\": \"Lee\", \"age\": 34, \"favorite_color\": \"blue\","
		    " \"plan\": \"gold\", \"interests\": [\"running\", \"jazz\"],"
		    " \"old_plan\": null, \"zip\": null}");
	CU_ASSERT_EQUAL(s->n_warnings, 0);
	CU_ASSERT_PTR_NOT_NULL(s->message_id);
	CU_ASSERT_EQUAL(strncmp(s->message_id ? s->message_id : "", "mp-", 3), 0);

	/* the event */
	s = &f.got.recs[1];
	CU_ASSERT_EQUAL(s->type, HUB_REC_TRACK);
	ASSERT_STR_OR_NULL(s->event_name, "Added To Wishlist");
	ASSERT_JSON(s->properties_json,
		    "{\"sku\": \"SKU-42\", \"price\": 18.99, \"color\": \"red\","
		    " \"custom_event_type\": \"user_preference\"}");
	ASSERT_STR_OR_NULL(s->message_id, "3DBFC52E-164F-405E-885E-2B448B301F83");
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767225600123LL);
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "cust-1001");
	ASSERT_STR_OR_NULL(pt_id_of(s, "mpid"), "-8433569109474474420");
	ASSERT_STR_OR_NULL(s->platform, "ios");
	CU_ASSERT_EQUAL(s->push_enabled, -1);
	CU_ASSERT_PTR_NULL(s->attributes_json);
	/* /v2/events: the event by its index, the batch's identify by none */
	ASSERT_STR_OR_NULL(s->origin, "events[0]");
	ASSERT_STR_OR_NULL(f.got.recs[0].origin, NULL);
	pt_close(&f);
}

static void test_screen_view_becomes_screen_event_with_its_name(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v2/events", "screen_view.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1); /* nothing to say in an identify */
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_TRACK);
	ASSERT_STR_OR_NULL(s->event_name, "$screen");
	ASSERT_JSON(s->properties_json,
		    "{\"product_id\": \"SKU-42\", \"name\": \"Product Detail\"}");
	ASSERT_STR_OR_NULL(s->message_id, "95efd10d-ea9d-4eb9-b2e8-6c4170c9c7f4");
	/* the Node SDK's "customerid" */
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "cust-2002");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "a1b2c3d4e5f60718");
	ASSERT_STR_OR_NULL(s->platform, "android");
	CU_ASSERT_EQUAL(s->n_ids, 2);
	pt_close(&f);
}

static void test_commerce_event_carries_product_action_and_totals(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v2/events", "commerce_event.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_TRACK);
	ASSERT_STR_OR_NULL(s->event_name, "$commerce");
	ASSERT_JSON(s->properties_json,
		    "{\"channel\": \"app\", \"action\": \"purchase\","
		    " \"transaction_id\": \"T-12345\","
		    " \"affiliation\": \"online\", \"total_amount\": 57.97, \"tax_amount\": 4.64,"
		    " \"shipping_amount\": 5, \"checkout_step\": 0, \"currency_code\": \"EUR\","
		    " \"products\": [{\"id\": \"SKU-42\", \"name\": \"Trail Shoe\","
		    " \"brand\": \"Acme\", \"category\": \"shoes\", \"variant\": \"red\","
		    " \"position\": 1, \"price\": 48.33,"
		    " \"quantity\": 1, \"total_product_amount\": 48.33,"
		    " \"custom_attributes\": {\"size\": \"42\"}},"
		    " {\"id\": \"SKU-7\", \"name\": \"Socks\", \"price\": 4.82, \"quantity\": 2,"
		    " \"total_product_amount\": 9.64}]}");
	ASSERT_STR_OR_NULL(s->platform, "web");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "web-dev-3003");
	ASSERT_STR_OR_NULL(pt_id_of(s, "email"), "bo@example.com");

	s = &f.got.recs[1];
	ASSERT_STR_OR_NULL(s->event_name, "$commerce");
	ASSERT_JSON(s->properties_json,
		    "{\"promotion_action\": {\"action\": \"click\", \"promotions\": [{\"id\": "
		    "\"PROMO-1\", \"name\": \"Winter Sale\", \"creative\": \"banner\", "
		    "\"position\": \"top\"}]}, \"product_impressions\": "
		    "[{\"product_impression_list\": \"Search Results\", "
		    "\"products\": [{\"id\": \"SKU-9\", \"name\": \"Cap\", \"price\": 12}]}]}");
	ASSERT_STR_OR_NULL(s->message_id, "promo-click-1");
	pt_close(&f);
}

static void test_session_events_and_derived_message_ids(void)
{
	struct pt_fixture f;
	struct pt_seen *s;
	char first[64];

	fixture_open(&f);
	send_fixture_ok(&f, "/v2/events", "session_events.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	s = &f.got.recs[0];
	ASSERT_STR_OR_NULL(s->event_name, "$session_start");
	ASSERT_JSON(s->properties_json,
		    "{\"session_id\": -2271448330363288817,"
		    " \"session_uuid\": \"8B8DFAA2-17C7-43E8-88EE-5F2DCF016D56\"}");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "3fb44a79-df2d-446d-acf1-e87eda854ae1");
	CU_ASSERT_PTR_NULL(s->platform);
	ASSERT_STR_OR_NULL(f.got.recs[1].event_name, "Played Track");
	ASSERT_JSON(f.got.recs[1].properties_json,
		    "{\"track\": \"Blue in Green\", \"seconds\": 337,"
		    " \"custom_event_type\": \"media\"}");
	s = &f.got.recs[2];
	ASSERT_STR_OR_NULL(s->event_name, "$session_end");
	ASSERT_JSON(s->properties_json,
		    "{\"session_duration_ms\": 421000,"
		    " \"session_id\": -2271448330363288817,"
		    " \"session_uuid\": \"8B8DFAA2-17C7-43E8-88EE-5F2DCF016D56\"}");
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767226321000LL);

	/* no source_message_id: "mp-" + a hash of source_request_id and the
	 * event's index: distinct, stable across a resend */
	for (size_t i = 0; i < 3; i++) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(f.got.recs[i].message_id);
		CU_ASSERT_EQUAL(strlen(f.got.recs[i].message_id), 43);
		CU_ASSERT_EQUAL(strncmp(f.got.recs[i].message_id, "mp-", 3), 0);
	}
	CU_ASSERT_STRING_NOT_EQUAL(f.got.recs[0].message_id, f.got.recs[1].message_id);
	CU_ASSERT_STRING_NOT_EQUAL(f.got.recs[1].message_id, f.got.recs[2].message_id);
	snprintf(first, sizeof(first), "%s", f.got.recs[0].message_id);
	pt_reset(&f.got);
	send_fixture_ok(&f, "/v2/events", "session_events.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	CU_ASSERT_STRING_EQUAL(f.got.recs[0].message_id, first);
	pt_close(&f);
}

static void test_other_event_types_are_accepted_and_only_push_counts(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v2/events", "other_events.json");
	/* the user_identity_change sets a customer_id: a login of the device,
	 * first (test_identity_change_records below); the opt_out its
	 * attribute, last */
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_IDENTIFY);
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "123456");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "feed1234beef5678");
	CU_ASSERT_EQUAL(s->n_ids, 2);
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767226000100LL);
	CU_ASSERT_EQUAL(s->push_enabled, -1);
	/* no track: one identify says who, with the last push registration */
	s = &f.got.recs[1];
	CU_ASSERT_EQUAL(s->type, HUB_REC_IDENTIFY);
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "feed1234beef5678");
	CU_ASSERT_EQUAL(s->n_ids, 1);
	ASSERT_STR_OR_NULL(s->platform, "android"); /* application_info.os */
	CU_ASSERT_EQUAL(s->push_enabled, 0);
	CU_ASSERT_PTR_NULL(s->attributes_json);
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767226000900LL); /* the latest event */
	s = &f.got.recs[2];
	CU_ASSERT_EQUAL(s->type, HUB_REC_ATTRIBUTES);
	ASSERT_JSON(s->attributes_json, "{\"opted_out\": false}");
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767226000600LL);
	pt_close(&f);
}

/* mParticle's webhook output sends data planning verdicts as events of
 * type validation_result when its "Send Validation Results" is on: a type
 * mParticle defines (its event models' EventTypeEnum), so it is accepted
 * and stores nothing; refused as unknown_type, it took the batch's real
 * events with it (mParticle drops what a 4xx answers). */
static void test_webhook_validation_result_is_accepted_not_stored(void)
{
	static const char body[] =
		"[{\"user_identities\":[{\"identity_type\":\"customer_id\",\"identity\":\"v1\"}],"
		"\"source_request_id\":\"vr-1\",\"environment\":\"production\",\"events\":["
		"{\"event_type\":\"validation_result\",\"data\":{\"match\":{\"type\":"
		"\"custom_event\",\"criteria\":{\"event_name\":\"Signed Up\","
		"\"custom_event_type\":\"other\"}},\"validation_errors\":[{"
		"\"validation_error_type\":\"unplanned\",\"key\":\"Signed Up\","
		"\"error_pointer\":\"#\"}],\"timestamp_unixtime_ms\":1767226400000}},"
		"{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"Signed Up\","
		"\"custom_event_type\":\"other\",\"timestamp_unixtime_ms\":1767226400000}}]}]";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", WEBHOOK_AUTH, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_TRACK);
	ASSERT_STR_OR_NULL(f.got.recs[0].event_name, "Signed Up");
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "custom_id"), "v1");
	pt_close(&f);
}

static void test_consent_maps_gdpr_purposes_and_ccpa_with_their_times(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v2/events", "consent.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 4);
	/* identify: a batch without events still says who it is */
	CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_IDENTIFY);
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "custom_id"), "cust-4004");
	CU_ASSERT_EQUAL(f.got.recs[0].timestamp_ms, 1767226100000LL);
	s = &f.got.recs[1];
	CU_ASSERT_EQUAL(s->type, HUB_REC_CONSENT);
	ASSERT_JSON(s->consent_json, "{\"email_marketing\": \"subscribed\"}");
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767000000000LL);
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "cust-4004");
	s = &f.got.recs[2];
	CU_ASSERT_EQUAL(s->type, HUB_REC_CONSENT);
	/* purpose names compare case-insensitively: "SMS_Marketing" */
	ASSERT_JSON(s->consent_json, "{\"sms_marketing\": \"unsubscribed\"}");
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767100000000LL);
	s = &f.got.recs[3];
	CU_ASSERT_EQUAL(s->type, HUB_REC_ATTRIBUTES);
	ASSERT_JSON(s->attributes_json, "{\"ccpa_data_sale_opt_out\": true}");
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767200000000LL);
	/* location_collection maps to nothing; the ids differ per record */
	CU_ASSERT_STRING_NOT_EQUAL(f.got.recs[1].message_id, f.got.recs[2].message_id);
	pt_close(&f);
}

static void test_consent_purposes_are_configurable(void)
{
	static const char body[] =
		"{\"user_identities\": {\"customer_id\": \"c1\"}, \"events\": [],"
		" \"consent_state\": {\"gdpr\": {"
		"\"newsletter\": {\"consented\": false, \"timestamp_unixtime_ms\": 1767000000000},"
		"\"email_marketing\": {\"consented\": true},"
		"\"Texts\": {\"consented\": true}}}}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open_with(&f, "    api_key: mp_key_1\n"
			      "    api_secret: mp_secret_1\n"
			      "    gdpr_email_purpose: Newsletter\n"
			      "    gdpr_sms_purpose: texts\n");
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	ASSERT_JSON(f.got.recs[1].consent_json, "{\"email_marketing\": \"unsubscribed\"}");
	CU_ASSERT_EQUAL(f.got.recs[1].timestamp_ms, 1767000000000LL);
	ASSERT_JSON(f.got.recs[2].consent_json, "{\"sms_marketing\": \"subscribed\"}");
	CU_ASSERT_EQUAL(f.got.recs[2].timestamp_ms, 0); /* none: the receive time */
	pt_close(&f);
}

static void test_bulkevents_maps_every_batch(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v2/bulkevents", "bulk.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	/* batch 0: anonymous device */
	s = &f.got.recs[0];
	ASSERT_STR_OR_NULL(s->event_name, "Opened App");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "bulk-device-1");
	CU_ASSERT_PTR_NULL(pt_id_of(s, "custom_id"));
	ASSERT_STR_OR_NULL(s->platform, "ios");
	/* batch 1: the login, attributes first, then its event */
	s = &f.got.recs[1];
	CU_ASSERT_EQUAL(s->type, HUB_REC_IDENTIFY);
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "cust-5005");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "bulk-device-1");
	ASSERT_JSON(s->attributes_json, "{\"plan\": \"silver\"}");
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767226300000LL);
	ASSERT_STR_OR_NULL(f.got.recs[2].event_name, "$screen");
	/* derived ids differ between batches */
	CU_ASSERT_STRING_NOT_EQUAL(f.got.recs[0].message_id, f.got.recs[2].message_id);
	/* each record says where it is in the request (ABI 1.3 origin) */
	ASSERT_STR_OR_NULL(f.got.recs[0].origin, "batches[0].events[0]");
	ASSERT_STR_OR_NULL(f.got.recs[1].origin, "batches[1]");
	ASSERT_STR_OR_NULL(f.got.recs[2].origin, "batches[1].events[0]");
	pt_close(&f);
}

static void test_webhook_reads_identity_arrays_and_message_ids(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/webhook", "webhook.json");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_IDENTIFY);
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "cust-6006");
	ASSERT_STR_OR_NULL(pt_id_of(s, "email"), "di@example.com");
	ASSERT_STR_OR_NULL(pt_id_of(s, "other_id_2"), "crm-6006");
	ASSERT_STR_OR_NULL(pt_id_of(s, "installation_id"), "0a1b2c3d4e5f6789");
	ASSERT_STR_OR_NULL(pt_id_of(s, "mpid"), "9223372036854775807");
	ASSERT_STR_OR_NULL(pt_external_of(s, "mpid"), "9223372036854775807");
	CU_ASSERT_EQUAL(s->n_ids, 5); /* some_future_type is no identity */
	ASSERT_JSON(s->attributes_json, "{\"$phone_number\": \"+33612345678\", \"gender\": \"f\"}");
	ASSERT_STR_OR_NULL(s->platform, "android");
	s = &f.got.recs[1];
	ASSERT_STR_OR_NULL(s->event_name, "Subscribed");
	ASSERT_STR_OR_NULL(s->message_id, "wh-msg-1");
	ASSERT_JSON(s->properties_json,
		    "{\"tier\": \"pro\", \"custom_event_type\": \"transaction\"}");
	s = &f.got.recs[2];
	ASSERT_STR_OR_NULL(s->event_name, "$screen");
	ASSERT_STR_OR_NULL(s->message_id, "wh-msg-2"); /* wins over source_message_id */
	pt_close(&f);
}

/* ---- user_identity_change: login and logout ---------------------------- */

/* Small request pieces (the malformed-request table below uses them too). */
#define EV_OK "{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\"}}"
#define IDS "\"user_identities\":{\"customer_id\":\"u\"}"
#define BATCH_OK "{" IDS ",\"events\":[" EV_OK "]}"

/* The records collected so far, one "type custom_id installation_id" per
 * record ("-" for none), joined by "; " (static buffer). */
static const char *records_text(const struct pt_collector *c)
{
	static const char *const types[] = {"identify", "track",  "attributes", "consent",
					    "logout",   "alias", "erase"};
	static char text[1024];
	size_t len = 0;

	text[0] = '\0';
	for (size_t i = 0; i < c->n_recs && len < sizeof(text); i++) {
		const struct pt_seen *r = &c->recs[i];
		const char *cid = pt_id_of(r, "custom_id"), *inst = pt_id_of(r, "installation_id");
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s %s %s", i ? "; " : "",
					(size_t)r->type < 7 ? types[r->type] : "?", cid ? cid : "-",
					inst ? inst : "-");
	}
	return text;
}

/* A logout batch of an iOS device (tests/fixtures/mparticle/
 * identity_change.json): the change comes first, then the batch's
 * (anonymous) events; a change of email emits nothing. */
static void test_identity_change_logout_logs_the_device_out(void)
{
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	send_fixture_ok(&f, "/v2/events", "identity_change.json");
	CU_ASSERT_STRING_EQUAL(records_text(&f.got),
			       "logout - 9A8B7C6D-5E4F-4A3B-2C1D-0E9F8A7B6C5D; "
			       "track - 9A8B7C6D-5E4F-4A3B-2C1D-0E9F8A7B6C5D");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_LOGOUT);
	CU_ASSERT_EQUAL(s->n_ids, 1); /* the device alone: no crm id, no custom_id */
	ASSERT_STR_OR_NULL(s->platform, "ios");
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767226400000LL);
	ASSERT_STR_OR_NULL(s->message_id, "c1d2e3f4-logout-7007");
	CU_ASSERT_PTR_NULL(s->attributes_json);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s->rec);
	CU_ASSERT_EQUAL(s->rec->is_logout, 1);
	s = &f.got.recs[1];
	CU_ASSERT_EQUAL(s->type, HUB_REC_TRACK);
	ASSERT_STR_OR_NULL(s->event_name, "Browsed As Guest");
	ASSERT_STR_OR_NULL(pt_id_of(s, "other_id_2"), "crm-7007");
	CU_ASSERT_PTR_NULL(pt_id_of(s, "custom_id"));
	pt_close(&f);
}

#define DEV "\"mp_deviceid\":\"D1\""
#define UIC(new_side, old_side) \
	"{\"event_type\":\"user_identity_change\",\"data\":{\"new\":" new_side \
	",\"old\":" old_side "}}"
#define CID(identity) "{\"identity_type\":\"customer_id\",\"identity\":" identity "}"
#define LOGOUT_C1 UIC(CID("null"), CID("\"C1\""))

/* What each change becomes, and where it goes among the batch's records. */
static void test_identity_change_records(void)
{
	static const struct {
		const char *what, *body, *records;
	} rows[] = {
		{"login", "{" DEV ",\"events\":[" UIC(CID("\"C1\""), "null") "]}",
		 "identify C1 D1; identify - D1"},
		{"user switch", "{" DEV ",\"user_identities\":{\"customer_id\":\"C2\"},\"events\":["
		 UIC(CID("\"C2\""), CID("\"C1\"")) "," EV_OK "]}",
		 "identify C2 D1; track C2 D1"},
		{"the Node SDK's customerid", "{" DEV ",\"events\":[" UIC(
			 "{\"identity_type\":\"customerid\",\"identity\":\"C1\"}",
			 CID("null")) "]}",
		 "identify C1 D1; identify - D1"},
		{"an integer customer_id",
		 "{" DEV ",\"events\":[" UIC(CID("1234567890123"), "null") "]}",
		 "identify 1234567890123 D1; identify - D1"},
		{"logout: new identity null", "{" DEV ",\"events\":[" LOGOUT_C1 "]}",
		 "logout - D1; identify - D1"},
		{"logout: new identity empty",
		 "{" DEV ",\"events\":[" UIC(CID("\"\""), CID("\"C1\"")) "]}",
		 "logout - D1; identify - D1"},
		{"logout: new side null", "{" DEV ",\"events\":[" UIC("null", CID("\"C1\"")) "]}",
		 "logout - D1; identify - D1"},
		{"logout: new side absent",
		 "{" DEV ",\"events\":[{\"event_type\":\"user_identity_change\","
		 "\"data\":{\"old\":" CID("\"C1\"") "}}]}",
		 "logout - D1; identify - D1"},
		{"logout: new identity absent", "{" DEV ",\"events\":[" UIC(
			 "{\"identity_type\":\"customer_id\"}", CID("\"C1\"")) "]}",
		 "logout - D1; identify - D1"},
		{"logout: an Android device",
		 "{\"device_info\":{\"android_uuid\":\"A1\"},\"events\":[" LOGOUT_C1 "]}",
		 "logout - A1; identify - A1"},
		{"no customer_id before or after",
		 "{" DEV ",\"events\":[" UIC(CID("null"), CID("null")) "]}",
		 "identify - D1"},
		{"an email change", "{" DEV ",\"events\":[" UIC(
			 "{\"identity_type\":\"email\",\"identity\":\"b@x\"}",
			 "{\"identity_type\":\"email\",\"identity\":\"a@x\"}") "]}",
		 "identify - D1"},
		{"an email removed", "{" DEV ",\"events\":[" UIC(
			 "{\"identity_type\":\"email\",\"identity\":null}",
			 "{\"identity_type\":\"email\",\"identity\":\"a@x\"}") "]}",
		 "identify - D1"},
		{"an other change", "{" DEV ",\"events\":[" UIC(
			 "{\"identity_type\":\"other\",\"identity\":\"o2\"}",
			 "{\"identity_type\":\"other\",\"identity\":\"o1\"}") "]}",
		 "identify - D1"},
		{"an other removed", "{" DEV ",\"events\":[" UIC(
			 "{\"identity_type\":\"other\",\"identity\":null}",
			 "{\"identity_type\":\"other\",\"identity\":\"o1\"}") "]}",
		 "identify - D1"},
		{"an identity type not mapped", "{" DEV ",\"events\":[" UIC(
			 "{\"identity_type\":\"some_future_type\",\"identity\":\"x\"}",
			 "{\"identity_type\":\"some_future_type\",\"identity\":null}") "]}",
		 "identify - D1"},
		{"login without a device", "{\"events\":[" UIC(CID("\"C1\""), "null") "]}",
		 "identify C1 -"},
		{"the change comes before the batch's user and events",
		 "{" DEV ",\"user_attributes\":{\"plan\":\"free\"},\"events\":[" EV_OK ","
		 LOGOUT_C1 "]}",
		 "logout - D1; identify - D1; track - D1"},
		{"two changes, in event order",
		 "{" DEV ",\"events\":[" UIC(CID("\"C1\""), "null") "," LOGOUT_C1 "," EV_OK "]}",
		 "identify C1 D1; logout - D1; track - D1"},
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		hub_rc rc = pt_post(&f, "/v2/events", BASIC_OK, rows[i].body, &resp);
		const char *got = records_text(&f.got);
		CU_ASSERT_EQUAL(rc, HUB_OK);
		CU_ASSERT_EQUAL(resp.status, 202);
		if (rc != HUB_OK || strcmp(got, rows[i].records) != 0)
			fprintf(stderr, "\n  %s: %d %s -> \"%s\"", rows[i].what, resp.status,
				resp.body, got);
		CU_ASSERT_STRING_EQUAL(got, rows[i].records);
		pt_reset(&f.got);
	}
	pt_close(&f);
}

/* The change's time: data's, else data.new's, else the batch's; its id:
 * source_message_id, else derived from source_request_id like an event's,
 * so a resent batch logs out once. */
static void test_identity_change_time_and_message_id(void)
{
	static const char body[] =
		"{" DEV ",\"source_request_id\":\"R9\",\"timestamp_unixtime_ms\":1767000000000,"
		"\"events\":["
		"{\"event_type\":\"user_identity_change\",\"data\":{\"timestamp_unixtime_ms\":"
		"1767000000300,\"source_message_id\":\"S1\","
		"\"new\":{\"identity_type\":\"customer_id\","
		"\"identity\":\"C1\",\"timestamp_unixtime_ms\":1767000000200}}},"
		"{\"event_type\":\"user_identity_change\",\"data\":{\"new\":{\"identity_type\":"
		"\"customer_id\",\"identity\":\"C2\",\"timestamp_unixtime_ms\":1767000000400},"
		"\"old\":" CID("\"C1\"") "}},"
		"{\"event_type\":\"user_identity_change\",\"data\":{\"new\":null,\"old\":"
		CID("\"C2\"") "}}]}";
	struct hub_response resp;
	struct pt_fixture f;
	char second[64];

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_STRING_EQUAL(records_text(&f.got),
			       "identify C1 D1; identify C2 D1; logout - D1; identify - D1");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 4);
	CU_ASSERT_EQUAL(f.got.recs[0].timestamp_ms, 1767000000300LL);
	CU_ASSERT_EQUAL(f.got.recs[1].timestamp_ms, 1767000000400LL);
	CU_ASSERT_EQUAL(f.got.recs[2].timestamp_ms, 1767000000000LL);
	ASSERT_STR_OR_NULL(f.got.recs[0].message_id, "S1");
	CU_ASSERT_EQUAL(strncmp(f.got.recs[1].message_id, "mp-", 3), 0);
	CU_ASSERT_EQUAL(strncmp(f.got.recs[2].message_id, "mp-", 3), 0);
	CU_ASSERT_STRING_NOT_EQUAL(f.got.recs[1].message_id, f.got.recs[2].message_id);
	CU_ASSERT_STRING_NOT_EQUAL(f.got.recs[2].message_id, f.got.recs[3].message_id);
	snprintf(second, sizeof(second), "%s", f.got.recs[1].message_id);
	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 4);
	CU_ASSERT_STRING_EQUAL(f.got.recs[1].message_id, second);
	pt_close(&f);
}

/* A time of 0 is the epoch: the hub keeps it as 0 ms (has_timestamp, ABI
 * 1.5), not as the receive time.  An event's, a consent's or a change's own
 * 0 wins over the batch's time and over data.new's; a batch without a time
 * takes its latest event's, 0 too.  Only a time the input lacks is left to
 * the hub (PT_NOW_MS). */
static void test_times_at_the_epoch_are_kept(void)
{
#define AT_EPOCH ",\"timestamp_unixtime_ms\":0"
	static const struct {
		const char *what, *body, *records;
		int64_t hub_ms[4]; /* what the hub made of each record's time */
		size_t n;
	} rows[] = {
		{"own times of 0 beside a batch time",
		 "{" DEV ",\"timestamp_unixtime_ms\":1767000000000,\"consent_state\":{\"gdpr\":"
		 "{\"email_marketing\":{\"consented\":true" AT_EPOCH "}}},\"events\":["
		 "{\"event_type\":\"user_identity_change\",\"data\":{\"new\":{\"identity_type\":"
		 "\"customer_id\",\"identity\":\"C1\",\"timestamp_unixtime_ms\":1767000000200}"
		 AT_EPOCH "}},"
		 "{\"event_type\":\"user_attribute_change\",\"data\":{\"user_attribute_name\":"
		 "\"tier\",\"deleted\":true" AT_EPOCH "}},"
		 "{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\"" AT_EPOCH "}}]}",
		 "identify C1 D1; attributes - D1; consent - D1; track - D1", {0, 0, 0, 0}, 4},
		{"no batch time: the latest event's, 0",
		 "{" DEV ",\"user_attributes\":{\"plan\":\"gold\"},\"consent_state\":{\"gdpr\":"
		 "{\"sms_marketing\":{\"consented\":false}}},\"events\":["
		 "{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\"" AT_EPOCH "}},"
		 "{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"untimed\"}}]}",
		 "identify - D1; consent - D1; track - D1; track - D1", {0, 0, 0, PT_NOW_MS}, 4},
		{"a batch time of 0",
		 "{" DEV AT_EPOCH ",\"user_attributes\":{\"plan\":\"gold\"}}", "identify - D1",
		 {0}, 1},
		{"no time anywhere",
		 "{" DEV ",\"user_attributes\":{\"plan\":\"gold\"},\"consent_state\":{\"gdpr\":"
		 "{\"email_marketing\":{\"consented\":true}}}}",
		 "identify - D1; consent - D1", {PT_NOW_MS, PT_NOW_MS}, 2},
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, rows[i].body, &resp), HUB_OK);
		CU_ASSERT_STRING_EQUAL(records_text(&f.got), rows[i].records);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, rows[i].n);
		for (size_t j = 0; j < rows[i].n; j++) {
			if (f.got.recs[j].rec->timestamp_ms != rows[i].hub_ms[j])
				fprintf(stderr, "\n  %s: record %zu at %lld ms\n", rows[i].what, j,
					(long long)f.got.recs[j].rec->timestamp_ms);
			CU_ASSERT_EQUAL(f.got.recs[j].rec->timestamp_ms, rows[i].hub_ms[j]);
		}
		pt_reset(&f.got);
	}
	pt_close(&f);
#undef AT_EPOCH
}

/* Malformed user_identity_change data: 400 naming the member, nothing
 * emitted, on every route. */
static void test_identity_change_bad_input_names_the_field(void)
{
#define UIC_DATA(data) "{\"event_type\":\"user_identity_change\",\"data\":" data "}"
#define NEW_C1 "\"new\":" CID("\"C1\"")
#define NO_DEVICE_WHY                                                                   \
	": a customer_id logout needs the batch's device id (device_info.ios_idfv, "      \
	"device_info.android_uuid or mp_deviceid)"
	static const struct {
		const char *path, *body, *code;
		long index, event_index;
		const char *message;
	} rows[] = {
		{NULL, "{" DEV ",\"events\":[{\"event_type\":\"user_identity_change\"}]}",
		 "invalid_event", 0, -1,
		 "events[0].data: required for user_identity_change: an object with \"new\" and "
		 "\"old\""},
		{NULL, "{" DEV ",\"events\":[" UIC_DATA("{}") "]}", "invalid_event", 0, -1,
		 "events[0].data: \"new\" or \"old\" required: {identity_type, identity}"},
		{NULL, "{" DEV ",\"events\":[" UIC("null", "null") "]}", "invalid_event", 0, -1,
		 "events[0].data: \"new\" or \"old\" required: {identity_type, identity}"},
		{NULL, "{" DEV ",\"events\":[" EV_OK "," UIC("\"C1\"", "null") "]}",
		 "invalid_event", 1, -1, "events[1].data.new: must be an object"},
		{NULL, "{" DEV ",\"events\":[" UIC(CID("\"C1\""), "[]") "]}", "invalid_event", 0,
		 -1, "events[0].data.old: must be an object"},
		{NULL, "{" DEV ",\"events\":[" UIC("{\"identity\":\"C1\"}", "null") "]}",
		 "invalid_event", 0, -1,
		 "events[0].data.new.identity_type: required, a non-empty string"},
		{NULL, "{" DEV ",\"events\":["
		 UIC("null", "{\"identity_type\":7,\"identity\":\"C1\"}") "]}",
		 "invalid_event", 0, -1,
		 "events[0].data.old.identity_type: required, a non-empty string"},
		{NULL, "{" DEV ",\"events\":["
		 UIC("{\"identity_type\":\"\",\"identity\":\"C1\"}", "null") "]}",
		 "invalid_event", 0, -1,
		 "events[0].data.new.identity_type: required, a non-empty string"},
		{NULL, "{" DEV ",\"events\":[" UIC(CID("{\"id\":\"C1\"}"), "null") "]}",
		 "invalid_event", 0, -1,
		 "events[0].data.new.identity: must be a string, an integer or null"},
		{NULL, "{" DEV ",\"events\":[" UIC("null", CID("true")) "]}", "invalid_event", 0,
		 -1, "events[0].data.old.identity: must be a string, an integer or null"},
		{NULL, "{" DEV ",\"events\":[" UIC(CID("1.5"), "null") "]}", "invalid_event", 0, -1,
		 "events[0].data.new.identity: must be a string, an integer or null"},
		{NULL, "{" DEV ",\"events\":["
		 UIC("{\"identity_type\":\"customer_id\",\"identity\":\"C1\","
		 "\"timestamp_unixtime_ms\":\"now\"}", "null") "]}", "invalid_event", 0, -1,
		 "events[0].data.new.timestamp_unixtime_ms: must be a time in ms since the epoch "
		 "(an integer)"},
		{NULL, "{" DEV ",\"events\":[" UIC("null", "{\"identity_type\":\"customer_id\","
		 "\"identity\":\"C1\",\"timestamp_unixtime_ms\":-1}") "]}", "invalid_event", 0, -1,
		 "events[0].data.old.timestamp_unixtime_ms: must be a time in ms since the epoch "
		 "(an integer)"},
		{NULL, "{" DEV ",\"events\":["
		 UIC("{\"identity_type\":\"customer_id\",\"identity\":\"C1\","
		 "\"created_this_batch\":\"yes\"}", "null") "]}", "invalid_event", 0, -1,
		 "events[0].data.new.created_this_batch: must be a boolean"},
		{NULL, "{" DEV ",\"events\":[" UIC(CID("\"C1\""), "{\"identity_type\":\"email\","
		 "\"identity\":\"a@x\"}") "]}", "invalid_event", 0, -1,
		 "events[0].data.old.identity_type: must be the identity type of "
		 "data.new.identity_type"},
		/* the canonical name of the new side's type is no type of mParticle's */
		{NULL, "{" DEV ",\"events\":["
		 UIC(CID("\"C1\""), "{\"identity_type\":\"custom_id\","
		 "\"identity\":\"C1\"}") "]}", "invalid_event", 0, -1,
		 "events[0].data.old.identity_type: must be the identity type of "
		 "data.new.identity_type"},
		{NULL, "{" DEV ",\"events\":["
		 UIC(CID("\"C1\""), "{\"identity_type\":\"some_future_type\","
		 "\"identity\":\"x\"}") "]}", "invalid_event", 0, -1,
		 "events[0].data.old.identity_type: must be the identity type of "
		 "data.new.identity_type"},
		{NULL, "{\"user_identities\":{\"email\":\"a@x\"},\"events\":[" LOGOUT_C1 "]}",
		 "invalid_event", 0, -1, "events[0]" NO_DEVICE_WHY},
		{NULL, "{\"user_identities\":{\"email\":\"a@x\"},\"events\":[" EV_OK "," LOGOUT_C1
		 "," LOGOUT_C1 "]}", "invalid_event", 1, -1, "events[1]" NO_DEVICE_WHY},
		{NULL, "{\"device_info\":{\"ios_idfv\":\"00000000-0000-0000-0000-000000000000\"},"
		 "\"events\":[" EV_OK "," LOGOUT_C1 "]}", "invalid_event", 1, -1,
		 "events[1]" NO_DEVICE_WHY},
		{"/v2/bulkevents", "[" BATCH_OK ",{" IDS ",\"events\":[" EV_OK "," LOGOUT_C1 "]}]",
		 "invalid_event", 1, 1, "batches[1].events[1]" NO_DEVICE_WHY},
		{"/v2/bulkevents",
		 "[{" DEV ",\"events\":[" UIC_DATA("{" NEW_C1 ",\"old\":5}") "]}]",
		 "invalid_event", 0, 0, "batches[0].events[0].data.old: must be an object"},
		{"/webhook", "[{" DEV ",\"events\":[" UIC_DATA("[]") "]}]", "invalid_event", 0, 0,
		 "batches[0].events[0].data: must be an object"},
	};
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		send_refused(&f, i, rows[i].path, rows[i].body, rows[i].code, rows[i].index,
			     rows[i].event_index, rows[i].message);
	pt_close(&f);
#undef UIC_DATA
#undef NEW_C1
#undef NO_DEVICE_WHY
}

/* Every fixture batch also goes through /v2/bulkevents and the webhook
 * (as an array) unchanged. */
static void test_fixtures_map_alike_through_bulk_and_webhook(void)
{
	static const char *const names[] = {"custom_event.json", "screen_view.json",
					    "commerce_event.json", "session_events.json",
					    "other_events.json", "consent.json", "webhook.json",
					    "identity_change.json"};
	static const size_t n_records[] = {2, 1, 2, 3, 3, 4, 3, 2};
	const size_t n = sizeof(names) / sizeof(names[0]);
	struct hub_response resp;
	struct pt_fixture f;
	size_t total = 0, len = 0;
	char *body = calloc(1, 64 * 1024);

	for (size_t i = 0; i < n; i++) {
		char *item = pt_read_file(FIXTURES, names[i]);
		len += (size_t)sprintf(body + len, "%s%s", i ? "," : "[", item);
		total += n_records[i];
		free(item);
	}
	strcpy(body + len, "]");
	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL(f.got.n_recs, total);
	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", WEBHOOK_AUTH, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_recs, total);
	pt_close(&f);
	free(body);
}

/* ---- mpid: a signed 64-bit integer, exactly ------------------------------ */

static void test_mpid_int64_round_trip_is_exact(void)
{
	static const struct {
		const char *json, *digits;
	} rows[] = {
		{"-8433569109474474420", "-8433569109474474420"},
		{"9223372036854775807", "9223372036854775807"},
		{"-9223372036854775808", "-9223372036854775808"},
		{"9007199254740993", "9007199254740993"},   /* 2^53 + 1: no double holds it */
		{"7636538281262557001", "7636538281262557001"},
		{"42", "42"},
		{"\"-8433569109474474420\"", "-8433569109474474420"},
		{"\"9223372036854775807\"", "9223372036854775807"},
		{"\"0042\"", "42"},
	};
	struct hub_response resp;
	struct pt_fixture f;
	char body[256];

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(body, sizeof(body),
			 "{\"mpid\": %s, \"events\": [{\"event_type\": \"custom_event\","
			 " \"data\": {\"event_name\": \"e\"}}]}",
			 rows[i].json);
		CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "mpid"), rows[i].digits);
		ASSERT_STR_OR_NULL(pt_external_of(&f.got.recs[0], "mpid"), rows[i].digits);
		pt_reset(&f.got);
	}
	pt_close(&f);
}

/* An integer past 64 bits, as JavaScript prints 12345678901234567000: read
 * as a double, and only it (the batch was refused whole, 400); the mpid
 * and every other integer stay integers, digit for digit. */
static void test_integer_past_64_bits_is_kept_as_a_double(void)
{
	static const char body[] =
		"{\"mpid\": 9007199254740993, \"user_identities\": {\"customer_id\": \"u1\"},"
		" \"user_attributes\": {\"visits\": 3},"
		" \"events\": [{\"event_type\": \"custom_event\", \"data\": {\"event_name\": \"e\","
		" \"custom_attributes\": {\"order_ref\": 12345678901234567000, \"qty\": 2,"
		" \"note\": \"-99999999999999999999\"}}}]}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "mpid"), "9007199254740993");
	ASSERT_JSON(f.got.recs[1].properties_json,
		    "{\"order_ref\": 1.2345678901234567e19, \"qty\": 2,"
		    " \"note\": \"-99999999999999999999\"}");
	ASSERT_JSON(f.got.recs[0].attributes_json, "{\"visits\": 3}");
	pt_close(&f);
}

/* ---- mapping details ---------------------------------------------------- */

/* One batch with user_attributes `attrs_json`; returns the identify's
 * attributes (malloc'd) or NULL. */
static char *identify_attributes(struct pt_fixture *f, const char *attrs_json)
{
	struct hub_response resp;
	char body[1024];

	snprintf(body, sizeof(body),
		 "{\"user_identities\": {\"customer_id\": \"u1\"}, \"user_attributes\": %s}",
		 attrs_json);
	CU_ASSERT_EQUAL(pt_post(f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	return pt_take_attributes(&f->got);
}

static void test_user_attribute_names(void)
{
	static const struct {
		const char *in, *out;
	} rows[] = {
		{"{\"$FirstName\": \"A\"}", "{\"$first_name\": \"A\"}"},
		{"{\"$firstname\": \"A\"}", "{\"$first_name\": \"A\"}"},
		{"{\"$LastName\": \"B\"}", "{\"$last_name\": \"B\"}"},
		{"{\"$Mobile\": \"+4915112345678\"}", "{\"$phone_number\": \"+4915112345678\"}"},
		{"{\"$Country\": \"DE\"}", "{\"$region\": \"DE\"}"},
		{"{\"$Age\": 30, \"$Gender\": \"m\", \"$City\": \"Berlin\", \"$State\": \"BE\","
		 " \"$Zip\": \"10115\", \"$Address\": \"Unter den Linden 1\"}",
		 "{\"age\": 30, \"gender\": \"m\", \"city\": \"Berlin\", \"state\": \"BE\","
		 " \"zip\": \"10115\", \"address\": \"Unter den Linden 1\"}"},
		{"{\"hair color\": \"brown\"}", "{\"hair_color\": \"brown\"}"},
		{"{\"Loyalty-Tier (2025)\": 3}", "{\"loyalty_tier_2025\": 3}"},
		/* a run beside an underscore adds no second one */
		{"{\"Total _Spend\": 5, \"Plan_ Tier\": 2}",
		 "{\"total_spend\": 5, \"plan_tier\": 2}"},
		{"{\"$Custom\": true}", "{\"custom\": true}"},
		{"{\"already_ok_9\": 1.5}", "{\"already_ok_9\": 1.5}"},
		{"{\"list\": [\"a\", \"b\"]}", "{\"list\": [\"a\", \"b\"]}"},
		/* null: an mParticle tag (an attribute without a value), no delete */
		{"{\"tag\": null, \"kept\": 1}", "{\"kept\": 1}"},
	};
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *attrs = identify_attributes(&f, rows[i].in);
		ASSERT_JSON(attrs, rows[i].out);
		free(attrs);
	}
	pt_close(&f);
}

static void test_platform_and_device_id_choice(void)
{
	static const struct {
		const char *device, *extra, *platform, *installation;
	} rows[] = {
		{"{\"platform\": \"iOS\"}", "", "ios", NULL},
		{"{\"platform\": \"tvOS\"}", "", "ios", NULL},
		{"{\"platform\": \"Android\"}", "", "android", NULL},
		{"{\"platform\": \"web\"}", "", "web", NULL},
		{"{\"platform\": \"roku\"}", "", NULL, NULL},
		{"{}", ", \"application_info\": {\"os\": \"IOS\"}", "ios", NULL},
		{"{}", ", \"application_info\": {\"os\": \"OutOfBand\"}", "server", NULL},
		{"{}", ", \"application_info\": {\"os\": \"UnityIOS\"}", "ios", NULL},
		{"{}", ", \"application_info\": {\"os\": \"UnityAndroid\"}", "android", NULL},
		{"{\"ios_idfv\": \"V1\"}", "", "ios", "V1"},
		{"{\"android_uuid\": \"U1\"}", "", "android", "U1"},
		{"{\"ios_idfv\": \"V1\", \"android_uuid\": \"U1\"}", ", \"mp_deviceid\": \"D1\"",
		 "ios", "V1"},
		/* an all-zero IDFV is no device: the next id is */
		{"{\"ios_idfv\": \"00000000-0000-0000-0000-000000000000\", \"platform\": \"iOS\"}",
		 ", \"mp_deviceid\": \"D1\"", "ios", "D1"},
		{"{\"android_uuid\": \"\"}", ", \"mp_deviceid\": \"D1\"", NULL, "D1"},
		{"{\"platform\": \"Android\", \"ios_idfv\": \"V1\"}", "", "android", "V1"},
		{"{\"platform\": \"iOS\", \"android_uuid\": \"U1\"}", "", "ios", "U1"},
		/* device_info.platform wins over application_info.os */
		{"{\"platform\": \"web\"}", ", \"application_info\": {\"os\": \"IOS\"}", "web",
		 NULL},
	};
	struct hub_response resp;
	struct pt_fixture f;
	char body[512];

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(body, sizeof(body),
			 "{\"user_identities\": {\"customer_id\": \"u1\"}, \"device_info\": %s%s,"
			 " \"events\": [{\"event_type\": \"custom_event\", \"data\":"
			 " {\"event_name\": \"e\"}}]}",
			 rows[i].device, rows[i].extra);
		CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		ASSERT_STR_OR_NULL(f.got.recs[0].platform, rows[i].platform);
		ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "installation_id"),
				   rows[i].installation);
		pt_reset(&f.got);
	}
	pt_close(&f);
}

static void test_message_id_precedence(void)
{
	static const char body[] =
		"{\"source_request_id\": \"R1\", \"user_identities\": {\"customer_id\": \"u1\"},"
		" \"events\": ["
		"{\"event_type\": \"custom_event\", \"message_id\": \"M\", \"data\": "
		"{\"event_name\": \"a\", \"source_message_id\": \"S\"}},"
		"{\"event_type\": \"custom_event\", \"data\": {\"event_name\": \"b\","
		" \"source_message_id\": \"S2\"}},"
		"{\"event_type\": \"custom_event\", \"data\": {\"event_name\": \"c\","
		" \"source_message_id\": \"\"}}]}";
	static const char no_request_id[] =
		"{\"user_identities\": {\"customer_id\": \"u1\"}, \"events\": ["
		"{\"event_type\": \"custom_event\", \"data\": {\"event_name\": \"d\"}}]}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	ASSERT_STR_OR_NULL(f.got.recs[0].message_id, "M");
	ASSERT_STR_OR_NULL(f.got.recs[1].message_id, "S2");
	CU_ASSERT_EQUAL(strncmp(f.got.recs[2].message_id, "mp-", 3), 0);
	pt_reset(&f.got);
	/* neither: "mp-" + a hash of the batch's text and the event's index */
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, no_request_id, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.got.recs[0].message_id);
	CU_ASSERT_EQUAL(strncmp(f.got.recs[0].message_id, "mp-", 3), 0);
	pt_close(&f);
}

/* A null user attribute is an mParticle tag (an attribute without a
 * value): nothing to store, and above all no delete.  Deletions come in
 * deleted_user_attributes. */
static void test_null_user_attribute_is_no_delete(void)
{
	static const char with_deleted[] =
		"{" IDS ",\"user_attributes\":{\"VIP\":null,\"plan\":\"gold\"},"
		"\"deleted_user_attributes\":[\"Old Plan\"]}";
	static const char tag_only[] = "{" IDS ",\"user_attributes\":{\"VIP\":null},"
				       "\"events\":[" EV_OK "]}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, with_deleted, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_IDENTIFY);
	ASSERT_JSON(f.got.recs[0].attributes_json, "{\"plan\": \"gold\", \"old_plan\": null}");
	pt_reset(&f.got);
	/* a tag alone sets nothing: no identify, only the event */
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, tag_only, &resp), HUB_OK);
	CU_ASSERT_STRING_EQUAL(records_text(&f.got), "track u -");
	for (size_t i = 0; i < f.got.n_recs; i++)
		CU_ASSERT_PTR_NULL(f.got.recs[i].attributes_json);
	pt_close(&f);
}

/* A user attribute name with nothing of [a-z0-9_] in it (another script,
 * "$" alone) is no attribute name: the hub drops it with a warning.  The
 * warning must say which one: the name goes as sent (lowercased), never as
 * "" (which named none, and made two such attributes one key, the first
 * dropped without a word).  Deletions likewise. */
static void test_attribute_without_a_usable_name_is_named(void)
{
	static const char body[] =
		"{" IDS ",\"user_attributes\":{\"名前\":\"Ann\",\"$\":\"x\",\"Plan\":\"gold\"},"
		"\"deleted_user_attributes\":[\"Ω€\"],\"events\":[{\"event_type\":"
		"\"user_attribute_change\",\"data\":{\"deleted\":true,"
		"\"user_attribute_name\":\"ÄÖ\"}}]}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	/* the deletion by user_attribute_change, then the identify */
	ASSERT_JSON(f.got.recs[0].attributes_json, "{\"ÄÖ\": null}");
	CU_ASSERT_EQUAL(f.got.recs[0].n_warnings, 1);
	ASSERT_JSON(f.got.recs[1].attributes_json,
		    "{\"名前\": \"Ann\", \"$\": \"x\", \"plan\": \"gold\", \"Ω€\": null}");
	CU_ASSERT_EQUAL(f.got.recs[1].n_warnings, 3);
	pt_close(&f);
}

/* Sends body to path; copies the message ids of its n records to ids. */
static void post_ids(struct pt_fixture *f, const char *path, const char *body, size_t n,
		     char ids[][64])
{
	struct hub_response resp;

	CU_ASSERT_EQUAL(pt_post(f, path, BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f->got.n_recs, n);
	for (size_t i = 0; i < n; i++) {
		const char *id = f->got.recs[i].message_id;
		CU_ASSERT_PTR_NOT_NULL_FATAL(id);
		CU_ASSERT_EQUAL(strlen(id), 43);
		CU_ASSERT_EQUAL(strncmp(id, "mp-", 3), 0);
		snprintf(ids[i], 64, "%s", id);
	}
	pt_reset(&f->got);
}

/* Two identical events of one batch without source_message_id,
 * source_request_id or times: two ids (a hash of the batch's text, the
 * request's time and the event's index).  The request sent again in the
 * same millisecond gets the same two; sent later, two others: an event
 * without a time is the action done again (the Node SDK sends no time by
 * default; two uploads of "Tapped Buy" were stored once).  A batch with a
 * time, and an import line, get the same ids whenever they come.  On
 * /v2/events and /v2/bulkevents alike.  The identify keeps the host's
 * content hash, as before. */
static void test_identical_events_without_ids_stay_two_and_dedupe_on_resend(void)
{
	static const char batch[] = "{" IDS ",\"events\":[" EV_OK "," EV_OK "]}";
	static const char timed[] = "{" IDS ",\"timestamp_unixtime_ms\":1767000000000,"
				    "\"events\":[" EV_OK "," EV_OK "]}";
	static const char bulk[] = "[" BATCH_OK ",{" IDS ",\"events\":[" EV_OK "," EV_OK "]}]";
	static const char twice[] =
		"[{" IDS ",\"events\":[" EV_OK "]},{" IDS ",\"events\":[" EV_OK "]}]";
	static const char with_attrs[] =
		"{" IDS ",\"user_attributes\":{\"plan\":\"gold\"},\"events\":[" EV_OK "]}";
	char first[4][64], again[4][64], line_ids[2][64];
	struct hub_response resp;
	struct pt_fixture f;
	char err[256] = "";

	fixture_open(&f);
	host_set_fixed_now_ms(1767225600000);
	post_ids(&f, "/v2/events", batch, 2, first);
	CU_ASSERT_STRING_NOT_EQUAL(first[0], first[1]);
	post_ids(&f, "/v2/events", batch, 2, again);
	CU_ASSERT_STRING_EQUAL(again[0], first[0]);
	CU_ASSERT_STRING_EQUAL(again[1], first[1]);
	host_set_fixed_now_ms(1767225601000); /* a second later: done again */
	post_ids(&f, "/v2/events", batch, 2, again);
	CU_ASSERT_STRING_NOT_EQUAL(again[0], first[0]);
	CU_ASSERT_STRING_NOT_EQUAL(again[1], first[1]);
	CU_ASSERT_STRING_NOT_EQUAL(again[0], again[1]);

	/* a batch with a time: the same ids a second later (a resend) */
	post_ids(&f, "/v2/events", timed, 2, first);
	host_set_fixed_now_ms(1767225602000);
	post_ids(&f, "/v2/events", timed, 2, again);
	CU_ASSERT_STRING_EQUAL(again[0], first[0]);
	CU_ASSERT_STRING_EQUAL(again[1], first[1]);

	/* bulk: each batch's own text; batch 1 is not batch 0 */
	post_ids(&f, "/v2/bulkevents", bulk, 3, first);
	CU_ASSERT_STRING_NOT_EQUAL(first[1], first[2]);
	CU_ASSERT_STRING_NOT_EQUAL(first[0], first[1]);
	post_ids(&f, "/v2/bulkevents", bulk, 3, again);
	for (size_t i = 0; i < 3; i++)
		CU_ASSERT_STRING_EQUAL(again[i], first[i]);
	/* a batch of an array is hashed as its canonical dump: the same batch
	 * with its keys in another order, in another array, has the same ids */
	post_ids(&f, "/v2/bulkevents", "[{" IDS ",\"events\":[" EV_OK "]}]", 1, first);
	post_ids(&f, "/v2/bulkevents", "[{\"events\":[" EV_OK "]," IDS "}," BATCH_OK "]", 2,
		 again);
	CU_ASSERT_STRING_EQUAL(again[0], first[0]);
	/* two identical batches of one array stay apart: the index is hashed */
	post_ids(&f, "/v2/bulkevents", twice, 2, first);
	CU_ASSERT_STRING_NOT_EQUAL(first[0], first[1]);

	/* import: the line, the same ids at any time */
	for (int run = 0; run < 2; run++) {
		host_set_fixed_now_ms(1767225603000 + run * 1000);
		CU_ASSERT_EQUAL(pt_import_line(&f, batch, err, sizeof(err)), HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
		for (size_t i = 0; i < 2; i++) {
			const char *id = f.got.recs[i].message_id ? f.got.recs[i].message_id : "";
			if (run == 0)
				snprintf(line_ids[i], 64, "%s", id);
			else
				CU_ASSERT_STRING_EQUAL(id, line_ids[i]);
		}
		pt_reset(&f.got);
	}
	CU_ASSERT_STRING_NOT_EQUAL(line_ids[0], line_ids[1]);
	CU_ASSERT_EQUAL(strncmp(line_ids[0], "mp-", 3), 0);
	host_set_fixed_now_ms(0);

	/* the batch's own records keep their ids (none: the host's hash) */
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, with_attrs, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_IDENTIFY);
	CU_ASSERT_PTR_NULL(f.got.recs[0].message_id);
	CU_ASSERT_PTR_NOT_NULL(f.got.recs[1].message_id);
	pt_close(&f);
}

/* The webhook keys an event without a time by the request's time too, as
 * the Events API does: the same batch in the same millisecond has the same
 * id, a second later another. */
static void test_webhook_event_without_a_time_sent_later_is_another(void)
{
	static const char batch[] = "{" IDS ",\"events\":[" EV_OK "]}";
	char ids[3][64];
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (int i = 0; i < 3; i++) {
		host_set_fixed_now_ms(1767225600000 + (i == 2) * 1000);
		CU_ASSERT_EQUAL(pt_post(&f, "/webhook", WEBHOOK_AUTH, batch, &resp), HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(f.got.recs[0].message_id);
		snprintf(ids[i], sizeof(ids[i]), "%s", f.got.recs[0].message_id);
		pt_reset(&f.got);
	}
	host_set_fixed_now_ms(0);
	CU_ASSERT_STRING_EQUAL(ids[1], ids[0]);
	CU_ASSERT_STRING_NOT_EQUAL(ids[2], ids[0]);
	pt_close(&f);
}

/* mParticle's webhook output says a removed attribute with a
 * user_attribute_change event, "deleted": true (the batch's
 * user_attributes just lack the key): an attributes record deleting the
 * mapped name at the event's time (else the batch's), after the identity
 * changes and before the batch's identify.  deleted false: as before. */
static void test_user_attribute_change_deleted_deletes_the_attribute(void)
{
#define UAC(extra) "{\"event_type\":\"user_attribute_change\"" extra "}"
	static const char body[] =
		"[{\"user_identities\":[{\"identity_type\":\"customer_id\",\"identity\":\"u1\"}],"
		"\"timestamp_unixtime_ms\":1767000000900,\"user_attributes\":{\"plan\":\"gold\"},"
		"\"events\":["
		UAC(",\"message_id\":\"wh-d1\","
		    "\"data\":{\"user_attribute_name\":\"Favorite Color\","
		    "\"new\":null,\"old\":\"blue\",\"deleted\":true,\"is_new_attribute\":false,"
		    "\"timestamp_unixtime_ms\":1767000000500}") ","
		UAC(",\"data\":{\"user_attribute_name\":\"plan\","
		    "\"new\":\"gold\",\"old\":\"silver\","
		    "\"deleted\":false,\"timestamp_unixtime_ms\":1767000000600}") ","
		UAC(",\"data\":{\"user_attribute_name\":\"$Country\",\"deleted\":true}") ","
		UAC(",\"data\":{\"user_attribute_name\":\"tier\",\"new\":\"x\"}") "]}]";
	struct hub_response resp;
	struct pt_fixture f;
	struct pt_seen *s;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", WEBHOOK_AUTH, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_STRING_EQUAL(records_text(&f.got),
			       "attributes u1 -; attributes u1 -; identify u1 -");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	s = &f.got.recs[0];
	CU_ASSERT_EQUAL(s->type, HUB_REC_ATTRIBUTES);
	ASSERT_JSON(s->attributes_json, "{\"favorite_color\": null}");
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767000000500LL);
	ASSERT_STR_OR_NULL(s->message_id, "wh-d1");
	s = &f.got.recs[1];
	ASSERT_JSON(s->attributes_json, "{\"$region\": null}");
	CU_ASSERT_EQUAL(s->timestamp_ms, 1767000000900LL); /* none: the batch's */
	CU_ASSERT_EQUAL(strncmp(s->message_id ? s->message_id : "", "mp-", 3), 0);
	s = &f.got.recs[2];
	ASSERT_JSON(s->attributes_json, "{\"plan\": \"gold\"}");
	ASSERT_STR_OR_NULL(f.got.recs[0].origin, "batches[0].events[0]");
	ASSERT_STR_OR_NULL(f.got.recs[1].origin, "batches[0].events[2]");
	ASSERT_STR_OR_NULL(f.got.recs[2].origin, "batches[0]");
	pt_close(&f);
#undef UAC
}

/* A malformed user_attribute_change: 400 naming the member, nothing
 * emitted (all or nothing), on every route. */
static void test_user_attribute_change_bad_input_names_the_field(void)
{
#define UAC_DATA(data) "{\"event_type\":\"user_attribute_change\",\"data\":" data "}"
	static const struct {
		const char *path, *body;
		long index, event_index;
		const char *message;
	} rows[] = {
		{NULL, "{" IDS ",\"events\":["
		 UAC_DATA("{\"user_attribute_name\":\"a\",\"deleted\":\"yes\"}") "]}", 0, -1,
		 "events[0].data.deleted: must be a boolean"},
		{NULL, "{" IDS ",\"events\":[" EV_OK "," UAC_DATA("{\"deleted\":1}") "]}", 1, -1,
		 "events[1].data.deleted: must be a boolean"},
		{NULL, "{" IDS ",\"events\":[" UAC_DATA("{\"deleted\":true}") "]}", 0, -1,
		 "events[0].data.user_attribute_name: required, a non-empty string"},
		{NULL, "{" IDS ",\"events\":["
		 UAC_DATA("{\"deleted\":true,\"user_attribute_name\":\"\"}") "]}", 0, -1,
		 "events[0].data.user_attribute_name: required, a non-empty string"},
		{NULL, "{" IDS ",\"events\":["
		 UAC_DATA("{\"deleted\":true,\"user_attribute_name\":7}") "]}", 0, -1,
		 "events[0].data.user_attribute_name: must be a string"},
		{"/v2/bulkevents", "[" BATCH_OK ",{" IDS ",\"events\":["
		 UAC_DATA("{\"deleted\":true}") "]}]", 1, 0,
		 "batches[1].events[0].data.user_attribute_name: required, a non-empty string"},
		{"/webhook", "[" BATCH_OK ",{" IDS ",\"events\":[" EV_OK "," UAC_DATA(
		 "{\"user_attribute_name\":\"a\",\"deleted\":\"true\"}") "]}]", 1, 1,
		 "batches[1].events[1].data.deleted: must be a boolean"},
	};
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		send_refused(&f, i, rows[i].path, rows[i].body, "invalid_event", rows[i].index,
			     rows[i].event_index, rows[i].message);
	pt_close(&f);
#undef UAC_DATA
}

static void test_customer_id_spellings(void)
{
	static const char same[] = "{\"user_identities\": {\"customer_id\": \"u1\","
				   " \"customerid\": \"u1\"}}";
	static const char number[] = "{\"user_identities\": {\"customer_id\": 1234567890123}}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, same, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT_EQUAL(f.got.recs[0].n_ids, 1);
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "custom_id"), "u1");
	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, number, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	ASSERT_STR_OR_NULL(pt_id_of(&f.got.recs[0], "custom_id"), "1234567890123");
	pt_close(&f);
}

static void test_empty_batches_succeed_with_nothing(void)
{
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, "{}", &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, "{\"events\": []}", &resp), HUB_OK);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK, "[]", &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	pt_close(&f);
}

/* A batch of an mpid alone (the Events API's minimum) on a hub that keeps
 * no MPIDs (identity.external without mpid): refused, and the answer says
 * the mpid was ignored and why, not only "no usable identifier"; with mpid
 * configured, the same batch is stored under it. */
static void test_an_mpid_alone_is_refused_naming_identity_external(void)
{
	static const char batch[] =
		"{\"mpid\": -8433569109474474420, \"events\": [{\"event_type\": \"custom_event\","
		" \"data\": {\"event_name\": \"e\"}}]}";
	struct hub_response resp;
	struct pt_fixture f;

	pt_open(&f, "mparticle", "sources:\n  - name: mp\n    plugin: mparticle\n%s",
		default_keys);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, batch, &resp), HUB_ERR_DATA);
	assert_error(&resp, 400, "invalid_event", 0, -1);
	ASSERT_STR_OR_NULL(error_message(&resp),
			   "events[0]: identifiers: no usable identifier: identifiers.mpid is none"
			   " of custom_id, installation_id or an external id identity.external"
			   " configures, so ignored");
	pt_close(&f);

	fixture_open(&f);
	ASSERT_STR_OR_NULL(pt_external_of(pt_post_one(&f, "/v2/events", BASIC_OK, batch), "mpid"),
			   "-8433569109474474420");
	pt_close(&f);
}

/* A record the hub refuses (no usable identifier: an mpid alone is not
 * one unless configured, "null" is a blocked value) fails the request,
 * naming the batch and the event; the host discards the call. */
static void test_record_refused_by_the_hub_fails_the_request(void)
{
	static const char bulk[] =
		"[{\"user_identities\": {\"customer_id\": \"u1\"}},"
		" {\"user_identities\": {\"customer_id\": \"null\"}, \"events\": ["
		"{\"event_type\": \"custom_event\", \"data\": {\"event_name\": \"e\"}}]}]";
	static const char one[] =
		"{\"events\": [{\"event_type\": \"custom_event\","
		" \"data\": {\"event_name\": \"e\"}}]}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK, bulk, &resp), HUB_ERR_DATA);
	assert_error(&resp, 400, "invalid_event", 1, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(error_message(&resp), "no usable identifier"));
	CU_ASSERT_PTR_NOT_NULL(strstr(error_message(&resp), "batches[1].events[0]"));
	CU_ASSERT_EQUAL(f.got.n_emits, 2);
	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, one, &resp), HUB_ERR_DATA);
	assert_error(&resp, 400, "invalid_event", 0, -1);
	pt_close(&f);
}

/* A record the hub cannot store now is a 503 with Retry-After, which
 * senders retry. */
static void test_record_the_hub_cannot_store_now_is_503(void)
{
	static const char one[] =
		"{\"user_identities\": {\"customer_id\": \"u1\"}, \"events\": ["
		"{\"event_type\": \"custom_event\", \"data\": {\"event_name\": \"e\","
		" \"source_message_id\": \"m2\"}}]}";

	pt_assert_cannot_store_now(fixture_open, "/v2/events", BASIC_OK, one, "m2");
}

/* A record the hub refuses with `why`: a JSON 400 naming event 0, whose
 * message is "events[0]: " and why (pt_sweep_refusal_reasons). */
static hub_rc send_refused_with(struct pt_fixture *f, const char *why, size_t min_len)
{
	static const char one[] =
		"{\"user_identities\": {\"customer_id\": \"u1\"}, \"events\": ["
		"{\"event_type\": \"custom_event\", \"data\": {\"event_name\": \"e\","
		" \"source_message_id\": \"m2\"}}]}";
	struct hub_response resp;
	char sent[1024];
	hub_rc rc;

	f->got.refuse_message_id = "m2";
	rc = pt_post(f, "/v2/events", BASIC_OK, one, &resp);
	assert_error(&resp, 400, "invalid_event", 0, -1);
	snprintf(sent, sizeof(sent), "events[0]: %s", why);
	pt_assert_message_kept(error_message(&resp), sent, min_len);
	return rc;
}

/* Why the hub refused a record reaches the client in the answer's
 * message, at any length: cut to fit the 1 KB body (to 120 bytes when its
 * escapes do not fit) and never inside a character, so the answer stays
 * JSON with its code and index. */
static void test_refusal_reason_of_any_length_keeps_the_answer_json(void)
{
	struct pt_fixture f;

	fixture_open(&f);
	/* the reason is cut at 431 bytes, inside the 216th character */
	pt_sweep_refusal_reasons(&f, send_refused_with, 11 + 430);
	pt_close(&f);
}

/* ---- auth -------------------------------------------------------------- */

static const char small_batch[] =
	"{\"user_identities\": {\"customer_id\": \"u1\"}, \"events\": [{\"event_type\":"
	" \"custom_event\", \"data\": {\"event_name\": \"e\"}}]}";

static void test_basic_auth_401_when_missing_403_when_wrong(void)
{
	static const struct {
		const char *auth;
		int status;
	} rows[] = {
		{BASIC_OK, 202},
		{"basic bXBfa2V5XzE6bXBfc2VjcmV0XzE", 202},         /* case, no padding */
		{"  Basic   bXBfa2V5XzE6bXBfc2VjcmV0XzE=  ", 202},
		{NULL, 401},
		{"", 401},
		{"Basic", 401},
		{"Basic ", 401},
		{"Bearer bXBfa2V5XzE6bXBfc2VjcmV0XzE=", 401},
		{"BasicbXBfa2V5XzE6bXBfc2VjcmV0XzE=", 401},          /* no space after it */
		{"Basic bXBfa2V5XzE=", 401},                         /* "mp_key_1": no colon */
		{"Basic !!!!", 401},                                 /* not base64 */
		{"Basic bXBfa2V5XzE6bXBfc2VjcmV0XzEQQ", 401},        /* 29 chars: not base64 */
		{"Basic bXBfa2V5XzE6bXBfc2VjcmV0XzE= extra", 401},
		{"Basic bXBfa2V5XzE6d3Jvbmc-", 401},                 /* URL-safe base64 */
		{"Basic bXBfa2V5XzE6d3Jvbmc=", 403},                 /* mp_key_1:wrong */
		{"Basic d3Jvbmc6bXBfc2VjcmV0XzE=", 403},             /* wrong:mp_secret_1 */
		{"Basic bXBfa2V5XzE6", 403},                         /* mp_key_1: */
		{"Basic Om1wX3NlY3JldF8x", 403},                     /* :mp_secret_1 */
		{"Basic bXBfa2V5XzE6bXBfc2VjcmV0XzE6eA==", 403},     /* secret + ":x" */
		{"Basic bXBfa2V5XzE6bXBfc2VjcmV0Xw==", 403},         /* a prefix */
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		hub_rc rc = pt_post(&f, "/v2/events", rows[i].auth, small_batch, &resp);
		if (resp.status != rows[i].status)
			fprintf(stderr, "\n  row %zu: %d %s\n", i, resp.status, resp.body);
		if (rows[i].status == 202) {
			CU_ASSERT_EQUAL(rc, HUB_OK);
			CU_ASSERT_EQUAL(resp.status, 202);
			continue;
		}
		CU_ASSERT_EQUAL(rc, HUB_ERR_DATA);
		assert_error(&resp, rows[i].status,
			     rows[i].status == 401 ? "unauthorized" : "forbidden", -1, -1);
		CU_ASSERT_PTR_NULL(strstr(resp.body, "mp_secret"));
		CU_ASSERT_PTR_NULL(strstr(resp.body, "mp_key_1"));
	}
	CU_ASSERT_EQUAL(f.got.n_recs, 3);
	/* the webhook's value does not open the API, nor Basic the webhook */
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", WEBHOOK_AUTH, small_batch, &resp),
			HUB_ERR_DATA);
	assert_error(&resp, 401, "unauthorized", -1, -1);
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", BASIC_OK, small_batch, &resp), HUB_ERR_DATA);
	assert_error(&resp, 403, "forbidden", -1, -1);
	CU_ASSERT_EQUAL(f.got.n_recs, 3);
	pt_close(&f);
}

static void test_webhook_auth_and_switches(void)
{
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", NULL, small_batch, &resp), HUB_ERR_DATA);
	assert_error(&resp, 401, "unauthorized", -1, -1);
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", " \t ", small_batch, &resp), HUB_ERR_DATA);
	assert_error(&resp, 401, "unauthorized", -1, -1); /* blank: none at all */
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", "Bearer wh-token-2", small_batch, &resp),
			HUB_ERR_DATA);
	assert_error(&resp, 403, "forbidden", -1, -1);
	CU_ASSERT_PTR_NULL(strstr(resp.body, "wh-token"));
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", "Bearer wh-token-1x", small_batch, &resp),
			HUB_ERR_DATA);
	assert_error(&resp, 403, "forbidden", -1, -1);
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", " " WEBHOOK_AUTH " ", small_batch, &resp),
			HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	pt_close(&f);

	/* API only: the webhook is off; webhook only: the API is off */
	fixture_open_with(&f, "    api_key: k\n    api_secret: s\n");
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", WEBHOOK_AUTH, small_batch, &resp), HUB_ERR_DATA);
	assert_error(&resp, 404, "not_found", -1, -1);
	pt_close(&f);
	fixture_open_with(&f, "    webhook_authorization: \"" WEBHOOK_AUTH "\"\n");
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, small_batch, &resp), HUB_ERR_DATA);
	assert_error(&resp, 404, "not_found", -1, -1);
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", WEBHOOK_AUTH, small_batch, &resp), HUB_OK);
	pt_close(&f);
}

/* admit() (ABI 1.11) answers from the headers before the body is read,
 * as the routes do: 401 with no credentials, 403 with wrong ones, 404 for
 * what this source has off; each message names what was sent. */
static void test_admit_refuses_from_the_headers_alone(void)
{
	static const struct {
		const char *keys, *path, *auth;
		int status; /* 0: admitted */
		const char *message;
	} rows[] = {
		{default_keys, "/v2/events", NULL, 401,
		 "missing or unreadable Basic credentials (api_key:api_secret)"},
		{default_keys, "/v2/bulkevents", "Basic bXBfa2V5XzE6d3Jvbmc=", 403,
		 "wrong Basic credentials (api_key:api_secret)"},
		{default_keys, "/v2/bulkevents", BASIC_OK, 0, NULL},
		{default_keys, "/v2/bulkevents/historical", NULL, 401,
		 "missing or unreadable Basic credentials (api_key:api_secret)"},
		{default_keys, "/v2/bulkevents/historical", "Basic bXBfa2V5XzE6d3Jvbmc=", 403,
		 "wrong Basic credentials (api_key:api_secret)"},
		{default_keys, "/v2/bulkevents/historical", BASIC_OK, 0, NULL},
		{"    webhook_authorization: \"" WEBHOOK_AUTH "\"\n", "/v2/bulkevents/historical",
		 BASIC_OK, 404, "no such route"},
		{default_keys, "/webhook", NULL, 401, "missing or unreadable Authorization"},
		{default_keys, "/webhook", BASIC_OK, 403, "wrong Authorization"},
		{default_keys, "/webhook", WEBHOOK_AUTH, 0, NULL},
		/* off: the words of a path the hub does not serve, naming no key */
		{"    api_key: k\n    api_secret: s\n", "/webhook", WEBHOOK_AUTH, 404,
		 "no such route"},
		{"    webhook_authorization: \"" WEBHOOK_AUTH "\"\n", "/v2/events", BASIC_OK, 404,
		 "no such route"},
	};
	static const char *const codes[] = {[401] = "unauthorized", [403] = "forbidden",
					    [404] = "not_found"};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct hub_response resp;
		struct pt_fixture f;
		hub_rc rc;

		fixture_open_with(&f, rows[i].keys);
		rc = pt_admit(&f, rows[i].path, rows[i].auth ? "Authorization" : NULL,
			      rows[i].auth, &resp);
		if (resp.status != rows[i].status)
			fprintf(stderr, "\n  row %zu: %d %s\n", i, resp.status, resp.body);
		CU_ASSERT_EQUAL(rc, rows[i].status ? HUB_ERR_DATA : HUB_OK);
		if (rows[i].status) {
			assert_error(&resp, rows[i].status, codes[rows[i].status], -1, -1);
			CU_ASSERT_STRING_EQUAL(error_message(&resp), rows[i].message);
		} else {
			CU_ASSERT_EQUAL(resp.status, 0);
		}
		pt_close(&f);
	}
}

/* A route that is off answers as a path the hub does not serve (above);
 * the log tells the operator which key would turn it on, on the 1st, 2nd,
 * 4th... request (a caller cannot fill the log), never what was sent. */
static void test_a_route_off_is_said_in_the_log_not_the_answer(void)
{
	struct testlib_capture cap;
	struct hub_response resp;
	struct pt_fixture f;
	char *said;

	fixture_open_with(&f, "    api_key: k\n    api_secret: s\n");
	testlib_capture_begin(&cap);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(pt_post(&f, "/webhook", WEBHOOK_AUTH, small_batch, &resp),
				HUB_ERR_DATA);
	said = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "POST /webhook is off (no webhook_authorization "
					   "set): "), 3);
	CU_ASSERT_EQUAL(testlib_lines_with(said, ": 4 requests to it answered 404 as an unknown "
					   "path so far"), 1);
	CU_ASSERT_PTR_NULL(strstr(said, WEBHOOK_AUTH));
	CU_ASSERT_PTR_NULL(strstr(resp.body, "webhook_authorization"));
	free(said);
	pt_close(&f);

	fixture_open_with(&f, "    webhook_authorization: \"" WEBHOOK_AUTH "\"\n");
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK, "[]", &resp), HUB_ERR_DATA);
	said = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "the Events API (POST /v2/events, "
					   "/v2/bulkevents, /v2/bulkevents/historical) is off (no "
					   "api_key set): 1 request to it answered 404"), 1);
	CU_ASSERT_PTR_NULL(strstr(resp.body, "api_key"));
	free(said);
	pt_close(&f);
}

static void test_create_checks_the_keys(void)
{
	static const struct {
		const char *yaml, *message;
	} rows[] = {
		{"", "set api_key and api_secret (Events API), webhook_authorization (webhook) "
		     "or both"},
		{"    api_key: k\n", "set api_key and api_secret together"},
		{"    api_secret: s\n", "set api_key and api_secret together"},
		{"    api_key: \"\"\n    api_secret: s\n",
		 "@test.yaml:8:14: sources[0] \"mp\" (plugin mparticle): api_key: must not be empty"},
		/* an empty secret: the host's config check, at its place */
		{"    webhook_authorization: \"\"\n",
		 "@sources[0].webhook_authorization: must not be empty"},
		/* the plugin's message starts with the key: at its place */
		{"    api_key: \"a:b\"\n    api_secret: s\n",
		 "@test.yaml:8:14: sources[0] \"mp\" (plugin mparticle): api_key: must not contain"
		 " \":\" (Basic auth)"},
		{"    api_key: k\n    api_secret: s\n    gdpr_sms_purpose: \"\"\n",
		 "@test.yaml:10:23: sources[0] \"mp\" (plugin mparticle): gdpr_sms_purpose: must not"
		 " be empty"},
		{"    api_key: k\n    api_secret: s\n    gdpr_purposes: {news: email}\n",
		 "@: sources[0] \"mp\" (plugin mparticle): gdpr_purposes.news: must be a channel, email_marketing or sms_marketing, or a "
		 "list of them"},
		{"    api_key: k\n    api_secret: s\n    gdpr_purposes: {news: email_marketing}\n"
		 "    gdpr_email_purpose: news\n",
		 "set gdpr_purposes or gdpr_email_purpose / gdpr_sms_purpose, not both"},
		/* a list's refusal names its place in the file too */
		{"    api_key: k\n    api_secret: s\n    environments: [staging]\n",
		 "@10:20: sources[0] \"mp\" (plugin mparticle): environments[0]: \"staging\" is no mParticle environment (production or "
		 "development)"},
		{"    api_key: k\n    api_secret: s\n    environments: []\n",
		 "@10:19: sources[0] \"mp\" (plugin mparticle): environments: empty: it would store nothing (the default is [production])"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pt_fixture f;
		char err[1024] = "", expected[1024];

		CU_ASSERT_EQUAL(
			pt_try_open(&f, "mparticle", err, sizeof(err), CONFIG, rows[i].yaml), -1);
		if (rows[i].message[0] == '@') { /* "file:line:col: " then the message */
			CU_ASSERT_PTR_NOT_NULL(strstr(err, rows[i].message + 1));
			pt_close(&f);
			continue;
		}
		snprintf(expected, sizeof(expected), "sources[0] \"mp\" (plugin mparticle): %s",
			 rows[i].message);
		if (strcmp(err, expected) != 0)
			fprintf(stderr, "\n  create row %zu: %s", i, err);
		CU_ASSERT_STRING_EQUAL(err, expected);
		pt_close(&f);
	}
}

/* `profilehub check` without --connect creates nothing: a source without
 * credentials, or with api_key alone, passed it ("ok") and then stopped
 * `run`. check_config() (ABI 1.10) refuses what create() refuses of the
 * values, with create()'s words. */
static void test_check_refuses_what_create_refuses_of_the_keys(void)
{
	static const struct {
		const char *yaml, *refusal; /* NULL: taken */
	} rows[] = {
		{"", "set api_key and api_secret (Events API), webhook_authorization (webhook) "
		     "or both"},
		{"    api_key: k\n", "set api_key and api_secret together"},
		{"    api_secret: s\n", "set api_key and api_secret together"},
		{"    api_key: \"\"\n    api_secret: s\n",
		 "test.yaml:8:14: sources[0] \"mp\" (plugin mparticle): api_key: must not be empty"},
		{"    api_key: \"a:b\"\n    api_secret: s\n",
		 "test.yaml:8:14: sources[0] \"mp\" (plugin mparticle): api_key: must not"
		 " contain \":\" (Basic auth)"},
		{"    api_key: k\n    api_secret: s\n    gdpr_sms_purpose: \"\"\n",
		 "test.yaml:10:23: sources[0] \"mp\" (plugin mparticle): gdpr_sms_purpose: must not"
		 " be empty"},
		{"    api_key: k\n    api_secret: s\n    gdpr_purposes: {n: [sms_marketing, x]}\n",
		 "gdpr_purposes.n: must be a channel, email_marketing or sms_marketing, or a "
		 "list of them"},
		{"    api_key: k\n    api_secret: s\n    gdpr_purposes: {n: sms_marketing}\n",
		 NULL},
		{"    api_key: k\n    api_secret: s\n    environments: [stage]\n",
		 "environments[0]: \"stage\" is no mParticle environment (production or "
		 "development)"},
		/* without case, as a batch's environment is read */
		{"    api_key: k\n    api_secret: s\n    environments: [Production]\n", NULL},
		{"    api_key: k\n    api_secret: s\n    environments: [development]\n", NULL},
		{"    api_key: k\n    api_secret: s\n", NULL},
		{"    webhook_authorization: " WEBHOOK_AUTH "\n", NULL},
	};

	/* create() refuses the same (test_create_checks_the_keys) */
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char yaml[1024];

		snprintf(yaml, sizeof(yaml), CONFIG, rows[i].yaml);
		pt_check_config_is("mparticle", yaml, rows[i].refusal, i);
	}
}

/* ---- malformed requests: nothing is ever emitted ----------------------- */


static char *make_bytes(size_t n)
{
	char *body = malloc(n + 1);
	size_t head = strlen(BATCH_OK) - 1;

	memcpy(body, BATCH_OK, head); /* without its last "}" */
	memset(body + head, ' ', n - head - 1);
	body[n - 1] = '}';
	body[n] = '\0';
	return body;
}

static char *make_256kb_plus_one(void)
{
	return make_bytes(256 * 1024 + 1);
}

static char *make_101_batches(void)
{
	size_t len = strlen(BATCH_OK) + 1;
	char *body = malloc(101 * len + 8), *p = body;

	*p++ = '[';
	for (int i = 0; i < 101; i++)
		p += sprintf(p, "%s%s", i ? "," : "", BATCH_OK);
	strcpy(p, "]");
	return body;
}

static char *make_deep_nesting(void)
{
	size_t depth = 5000;
	char *body = malloc(2 * depth + 256), *p = body;

	p += sprintf(p, "{" IDS ",\"user_attributes\":{\"x\":");
	memset(p, '[', depth);
	p += depth;
	memset(p, ']', depth);
	p += depth;
	strcpy(p, "}}");
	return body;
}

static char *make_long_message_id(void)
{
	char id[258], *body;

	memset(id, 'm', 257);
	id[257] = '\0';
	CU_ASSERT(asprintf(&body,
			   "{" IDS ",\"events\":[" EV_OK ",{\"event_type\":\"custom_event\","
			   "\"data\":{\"event_name\":\"e\",\"source_message_id\":\"%s\"}}]}",
			   id) > 0);
	return body;
}

struct bad_row {
	const char *what;
	const char *path;  /* NULL: /v2/events */
	const char *body;  /* or make() */
	char *(*make)(void);
	size_t len;        /* 0: strlen(body) */
	int status;
	const char *code;
	long index, event_index;
};

static const struct bad_row bad_rows[] = {
	{"broken JSON", NULL, "{\"events\": [", NULL, 0, 400, "invalid_json", -1, -1},
	{"empty body", NULL, "", NULL, 0, 400, "invalid_json", -1, -1},
	{"not JSON", NULL, "hello", NULL, 0, 400, "invalid_json", -1, -1},
	{"trailing garbage", NULL, BATCH_OK " x", NULL, 0, 400, "invalid_json", -1, -1},
	{"invalid UTF-8", NULL, "{\"user_identities\":{\"customer_id\":\"u\xff\"}}", NULL, 0,
	 400, "invalid_json", -1, -1},
	{"escaped NUL", NULL, "{\"user_identities\":{\"customer_id\":\"u\\u0000v\"}}", NULL, 0,
	 400, "invalid_json", -1, -1},
	{"raw NUL byte", NULL, "{" IDS "}\0", NULL, sizeof("{" IDS "}"), 400, "invalid_json", -1,
	 -1},
	{"deep nesting", NULL, NULL, make_deep_nesting, 0, 400, "invalid_json", -1, -1},
	{"duplicate key", NULL, "{" IDS "," IDS "}", NULL, 0, 400, "invalid_json", -1, -1},
	{"duplicate key in an event", NULL,
	 "{" IDS ",\"events\":[" EV_OK ",{\"event_type\":\"custom_event\",\"event_type\":"
	 "\"screen_view\"}]}", NULL, 0, 400, "invalid_json", -1, -1},
	{"body an array", NULL, "[" BATCH_OK "]", NULL, 0, 400, "invalid_request", -1, -1},
	{"body a string", NULL, "\"batch\"", NULL, 0, 400, "invalid_json", -1, -1},
	{"body a number array", NULL, "[1]", NULL, 0, 400, "invalid_request", -1, -1},
	{"bulk: body an object", "/v2/bulkevents", BATCH_OK, NULL, 0, 400, "invalid_request", -1,
	 -1},
	{"bulk: 101 batches", "/v2/bulkevents", NULL, make_101_batches, 0, 400,
	 "too_many_batches", -1, -1},
	{"historical: body an object", "/v2/bulkevents/historical", BATCH_OK, NULL, 0, 400,
	 "invalid_request", -1, -1},
	{"historical: 101 batches", "/v2/bulkevents/historical", NULL, make_101_batches, 0, 400,
	 "too_many_batches", -1, -1},
	{"historical: bad event of batch 1", "/v2/bulkevents/historical",
	 "[{" IDS ",\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"event_name\":"
	 "\"e\",\"timestamp_unixtime_ms\":1}}]},{" IDS ",\"events\":[{\"event_type\":"
	 "\"custom_event\",\"data\":{\"timestamp_unixtime_ms\":1}}]}]",
	 NULL, 0, 400, "invalid_event", 1, 0},
	{"bulk: batch 2 a number", "/v2/bulkevents", "[" BATCH_OK "," BATCH_OK ",7]", NULL, 0,
	 400, "invalid_batch", 2, -1},
	{"bulk: bad event of batch 1", "/v2/bulkevents",
	 "[" BATCH_OK ",{" IDS ",\"events\":[" EV_OK "," EV_OK
	 ",{\"event_type\":\"custom_event\"}]}]",
	 NULL, 0, 400, "invalid_event", 1, 2},
	{"events an object", NULL, "{" IDS ",\"events\":{}}", NULL, 0, 400, "invalid_batch", -1,
	 -1},
	{"event a string", NULL, "{" IDS ",\"events\":[" EV_OK ",\"x\"]}", NULL, 0, 400,
	 "invalid_event", 1, -1},
	{"event_type missing", NULL, "{" IDS ",\"events\":[{\"data\":{}}]}", NULL, 0, 400,
	 "missing_field", 0, -1},
	{"event_type a number", NULL, "{" IDS ",\"events\":[{\"event_type\":3}]}", NULL, 0, 400,
	 "invalid_event", 0, -1},
	{"event_type unknown", NULL,
	 "{" IDS ",\"events\":[" EV_OK ",{\"event_type\":\"purchase\"}]}",
	 NULL, 0, 400, "unknown_type", 1, -1},
	{"event_type a prefix of a type", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"custom\",\"data\":{\"event_name\":\"e\"}}]}",
	 NULL, 0, 400, "unknown_type", 0, -1},
	{"event_type empty", NULL, "{" IDS ",\"events\":[{\"event_type\":\"\"}]}", NULL, 0, 400,
	 "unknown_type", 0, -1},
	{"event_type in the wrong case", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"Custom_Event\",\"data\":{\"event_name\":\"e\"}}]}",
	 NULL, 0, 400, "unknown_type", 0, -1},
	{"data an array", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"session_start\",\"data\":[]}]}",
	 NULL, 0, 400, "invalid_event", 0, -1},
	{"custom_event without event_name", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"custom_event\",\"data\":{}}]}", NULL, 0, 400,
	 "invalid_event", 0, -1},
	{"event_name empty", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"\"}}]}",
	 NULL, 0, 400, "invalid_event", 0, -1},
	{"event_name a number", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"event_name\":5}}]}",
	 NULL, 0, 400, "invalid_event", 0, -1},
	{"screen_view without screen_name", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"screen_view\",\"data\":{\"event_name\":\"x\"}}]}",
	 NULL, 0, 400, "invalid_event", 0, -1},
	{"timestamp a string", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\","
	 "\"timestamp_unixtime_ms\":\"1767225600000\"}}]}", NULL, 0, 400, "invalid_event", 0, -1},
	{"timestamp negative", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\","
	 "\"timestamp_unixtime_ms\":-5}}]}", NULL, 0, 400, "invalid_event", 0, -1},
	{"timestamp a fraction", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\","
	 "\"timestamp_unixtime_ms\":1767225600000.5}}]}", NULL, 0, 400, "invalid_event", 0, -1},
	{"source_message_id a number", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\","
	 "\"source_message_id\":12}}]}", NULL, 0, 400, "invalid_event", 0, -1},
	{"source_message_id over 256 bytes", NULL, NULL, make_long_message_id, 0, 400,
	 "invalid_event", 1, -1},
	{"custom_attributes an array", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\","
	 "\"custom_attributes\":[1]}}]}", NULL, 0, 400, "invalid_event", 0, -1},
	{"product_action without action", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"commerce_event\",\"data\":{\"product_action\":"
	 "{\"products\":[]}}}]}", NULL, 0, 400, "invalid_event", 0, -1},
	{"products not objects", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"commerce_event\",\"data\":{\"product_action\":"
	 "{\"action\":\"purchase\",\"products\":[\"SKU\"]}}}]}", NULL, 0, 400, "invalid_event", 0,
	 -1},
	{"push register a string", NULL,
	 "{" IDS ",\"events\":[{\"event_type\":\"push_registration\",\"data\":{\"register\":"
	 "\"yes\"}}]}", NULL, 0, 400, "invalid_event", 0, -1},
	{"user_identities a string", NULL, "{\"user_identities\":\"u\"}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"customer_id an object", NULL, "{\"user_identities\":{\"customer_id\":{\"id\":1}}}", NULL,
	 0, 400, "invalid_batch", -1, -1},
	{"customer_id a bool", NULL, "{\"user_identities\":{\"customer_id\":true}}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"customer_id and customerid differ", NULL,
	 "{\"user_identities\":{\"customer_id\":\"a\",\"customerid\":\"b\"}}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"identity array item without type", NULL, "{\"user_identities\":[{\"identity\":\"u\"}]}",
	 NULL, 0, 400, "invalid_batch", -1, -1},
	{"mpid a real", NULL, "{" IDS ",\"mpid\":1.5}", NULL, 0, 400, "invalid_batch", -1, -1},
	{"mpid 2^63 as text", NULL, "{" IDS ",\"mpid\":\"9223372036854775808\"}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"mpid past int64", NULL, "{" IDS ",\"mpid\":9223372036854775808}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"customer_id past int64", NULL,
	 "{\"user_identities\":{\"customer_id\":-9223372036854775809}}",
	 NULL, 0, 400, "invalid_batch", -1, -1},
	{"mpid not digits", NULL, "{" IDS ",\"mpid\":\"12a\"}", NULL, 0, 400, "invalid_batch", -1,
	 -1},
	{"mpid a lone minus sign", NULL, "{" IDS ",\"mpid\":\"-\"}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"mpid an empty string", NULL, "{" IDS ",\"mpid\":\"\"}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"mpid a bool", NULL, "{" IDS ",\"mpid\":true}", NULL, 0, 400, "invalid_batch", -1, -1},
	{"device_info a list", NULL, "{" IDS ",\"device_info\":[]}", NULL, 0, 400, "invalid_batch",
	 -1, -1},
	{"ios_idfv a number", NULL, "{" IDS ",\"device_info\":{\"ios_idfv\":7}}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"push_token a bool", NULL, "{" IDS ",\"device_info\":{\"push_token\":true}}", NULL, 0,
	 400, "invalid_batch", -1, -1},
	{"mp_deviceid a number", NULL, "{" IDS ",\"mp_deviceid\":7}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"user_attributes an array", NULL, "{" IDS ",\"user_attributes\":[]}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"deleted_user_attributes of numbers", NULL, "{" IDS ",\"deleted_user_attributes\":[1]}",
	 NULL, 0, 400, "invalid_batch", -1, -1},
	/* found by fuzz_http: only the first element used to be checked */
	{"deleted_user_attributes: a string, then an object", NULL,
	 "{" IDS ",\"deleted_user_attributes\":[\"Old Plan\",{\"a\":1}]}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"consent without consented", NULL,
	 "{" IDS ",\"consent_state\":{\"gdpr\":{\"email_marketing\":{\"document\":\"d\"}}}}", NULL,
	 0, 400, "invalid_batch", -1, -1},
	{"consented a string", NULL,
	 "{" IDS ",\"consent_state\":{\"ccpa\":{\"data_sale_opt_out\":{\"consented\":\"yes\"}}}}",
	 NULL, 0, 400, "invalid_batch", -1, -1},
	{"batch timestamp a string", NULL, "{" IDS ",\"timestamp_unixtime_ms\":\"now\"}", NULL, 0,
	 400, "invalid_batch", -1, -1},
	{"source_request_id a number", NULL, "{" IDS ",\"source_request_id\":5}", NULL, 0, 400,
	 "invalid_batch", -1, -1},
	{"a body over 256 KB", NULL, NULL, make_256kb_plus_one, 0, 413, "body_too_large", -1, -1},
	{"bulk: a body over 256 KB", "/v2/bulkevents", NULL, make_256kb_plus_one, 0, 413,
	 "body_too_large", -1, -1},
	{"webhook: bad event of batch 0", "/webhook",
	 "[{" IDS ",\"events\":[{\"event_type\":\"nope\"}]}]", NULL, 0, 400, "unknown_type", 0, 0},
	{"webhook: a body over 256 KB", "/webhook", NULL, make_256kb_plus_one, 0, 413,
	 "body_too_large", -1, -1},
};

static void test_malformed_requests_emit_nothing(void)
{
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
		const struct bad_row *row = &bad_rows[i];
		const char *path = row->path ? row->path : "/v2/events";
		const char *auth = strcmp(path, "/webhook") == 0 ? WEBHOOK_AUTH : BASIC_OK;
		char *made = row->make ? row->make() : NULL;
		const char *body = made ? made : row->body;
		size_t len = row->len ? row->len : strlen(body);
		struct hub_response resp;
		hub_rc rc;

		rc = pt_send(&f, path, "Authorization", auth, body, len, &resp);
		assert_error(&resp, row->status, row->code, row->index, row->event_index);
		pt_assert_refused(&f, row->what, rc, &resp, row->status);
		free(made);
	}
	pt_close(&f);
}

/* A JSON error keeps jansson's own words, never the client's text around
 * it ("near '...'"): it could be a secret sent in the wrong place. */
static void test_json_errors_never_repeat_the_sent_text(void)
{
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, "{\"api_secret\" \"sk_live_T9\"}",
				&resp),
			HUB_ERR_DATA);
	assert_error(&resp, 400, "invalid_json", -1, -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, "':' expected"));
	CU_ASSERT_PTR_NULL(strstr(resp.body, "sk_live_T9"));
	CU_ASSERT_PTR_NULL(strstr(resp.body, "near"));
	pt_close(&f);
}

/* A body of exactly 256 KB is fine, on the webhook too. */
static void test_body_of_256kb_is_accepted(void)
{
	struct hub_response resp;
	struct pt_fixture f;
	char *body = make_bytes(256 * 1024);

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", WEBHOOK_AUTH, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL(f.got.n_recs, 2);
	pt_close(&f);
	free(body);
}

/* The limits are inclusive: 100 batches of a bulk request, 256 bytes of
 * an event name; a batch holds at most 30 identities of its own (room is
 * kept for its device and its mpid). */
static void test_limits_are_inclusive(void)
{
	char name[257], *bulk = malloc(100 * (sizeof(BATCH_OK) + 1) + 2), *p = bulk, *body;
	char *ids = malloc(31 * 64 + 1), *q = ids;
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	p += sprintf(p, "[");
	for (int i = 0; i < 100; i++)
		p += sprintf(p, "%s" BATCH_OK, i ? "," : "");
	sprintf(p, "]");
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK, bulk, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL(f.got.n_recs, 100);
	pt_reset(&f.got);
	memset(name, 'n', 256);
	name[256] = '\0';
	CU_ASSERT_FATAL(asprintf(&body, "{" IDS ",\"events\":[{\"event_type\":\"custom_event\","
					"\"data\":{\"event_name\":\"%s\"}}]}", name) > 0);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	ASSERT_STR_OR_NULL(f.got.recs[0].event_name, name);
	pt_reset(&f.got);
	free(body);
	/* one byte more: cut to the 256, as mParticle truncates S2S names */
	CU_ASSERT_FATAL(asprintf(&body, "{" IDS ",\"events\":[{\"event_type\":\"custom_event\","
					"\"data\":{\"event_name\":\"%sn\"}}]}", name) > 0);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	ASSERT_STR_OR_NULL(f.got.recs[0].event_name, name);
	pt_reset(&f.got);
	free(body);
	for (int i = 0; i < 31; i++)
		q += sprintf(q, "%s{\"identity_type\":\"other\",\"identity\":\"o%d\"}",
			     i ? "," : "", i);
	CU_ASSERT_FATAL(asprintf(&body, "{\"user_identities\":[%s]}", ids) > 0);
	send_refused(&f, 0, NULL, body, "invalid_batch", -1, -1,
		     "user_identities[30]: too many identities");
	free(body);
	free(ids);
	free(bulk);
	pt_close(&f);
}

/* mParticle's Default Service Limits: an event name past 256 characters
 * is "truncated" for S2S data, not refused.  A long event_name or
 * screen_name is cut to at most 256 bytes (the hub's limit) at a character
 * boundary: 300 'e' become 256 of them; 100 three-byte characters (300
 * bytes) become 85 of them (255 bytes), never a split character.  The
 * rest of the batch is stored as sent. */
static void test_long_event_names_are_cut_not_refused(void)
{
	char ascii[301], wide[301], *body;
	struct hub_response resp;
	struct pt_fixture f;
	json_t *props;

	memset(ascii, 'e', 300);
	ascii[300] = '\0';
	for (int i = 0; i < 100; i++)
		memcpy(wide + 3 * i, "\xe2\x82\xac", 3); /* U+20AC, the euro sign */
	wide[300] = '\0';
	fixture_open(&f);
	CU_ASSERT_FATAL(asprintf(&body,
				 "{" IDS ",\"events\":[{\"event_type\":\"custom_event\","
				 "\"data\":{\"event_name\":\"%s\"}},{\"event_type\":\"custom_event\","
				 "\"data\":{\"event_name\":\"%s\"}},{\"event_type\":\"screen_view\","
				 "\"data\":{\"screen_name\":\"%s\"}}]}",
				 ascii, wide, wide) > 0);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	ascii[256] = '\0';
	ASSERT_STR_OR_NULL(f.got.recs[0].event_name, ascii);
	wide[255] = '\0';
	ASSERT_STR_OR_NULL(f.got.recs[1].event_name, wide);
	ASSERT_STR_OR_NULL(f.got.recs[2].event_name, "$screen");
	props = json_loads(f.got.recs[2].properties_json, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(props);
	ASSERT_STR_OR_NULL(json_string_value(json_object_get(props, "name")), wide);
	json_decref(props);
	free(body);
	pt_close(&f);
}

/* A time in ms is one up to the last ms of the year 9999, inclusive. */
static void test_times_run_to_the_end_of_9999(void)
{
	static const char last[] = "{" IDS ",\"events\":[{\"event_type\":\"custom_event\","
				   "\"data\":{\"event_name\":\"e\","
				   "\"timestamp_unixtime_ms\":253402300799999}}]}";
	static const char past[] = "{" IDS ",\"events\":[{\"event_type\":\"custom_event\","
				   "\"data\":{\"event_name\":\"e\","
				   "\"timestamp_unixtime_ms\":253402300800000}}]}";
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post_one(&f, "/v2/events", BASIC_OK, last)->timestamp_ms,
			253402300799999LL);
	pt_reset(&f.got);
	send_refused(&f, 0, NULL, past, "invalid_event", 0, -1,
		     "events[0].data.timestamp_unixtime_ms: must be a time in ms since the epoch "
		     "(an integer)");
	pt_close(&f);
}

/* device_info's locale alone asks for an identify, even beside events:
 * $language lowercased, $region uppercased. */
static void test_device_locale_sets_language_and_region(void)
{
	static const struct {
		const char *device, *attributes;
	} rows[] = {
		{"{\"locale_language\": \"PT\", \"locale_country\": \"br\"}",
		 "{\"$language\": \"pt\", \"$region\": \"BR\"}"},
		{"{\"locale_language\": \"de\"}", "{\"$language\": \"de\"}"},
		{"{\"locale_country\": \"at\"}", "{\"$region\": \"AT\"}"},
	};
	struct hub_response resp;
	struct pt_fixture f;
	char body[512];

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(body, sizeof(body), "{" IDS ",\"device_info\":%s,\"events\":[" EV_OK "]}",
			 rows[i].device);
		CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
		CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_IDENTIFY);
		ASSERT_JSON(f.got.recs[0].attributes_json, rows[i].attributes);
		CU_ASSERT_EQUAL(f.got.recs[1].type, HUB_REC_TRACK);
		pt_reset(&f.got);
	}
	pt_close(&f);
}

/* A custom event keeps its custom_event_type (mParticle tells "Search" of
 * type search from "Search" of type navigation): a property that wins over
 * a custom attribute of that name; without one the properties are as sent. */
static void test_custom_event_keeps_its_custom_event_type(void)
{
	static const char typed[] =
		"{" IDS ",\"events\":[{\"event_type\":\"custom_event\",\"data\":{"
		"\"event_name\":\"Search\",\"custom_event_type\":\"navigation\","
		"\"custom_attributes\":{\"custom_event_type\":\"mine\",\"q\":\"shoes\"}}}]}";
	static const char untyped[] =
		"{" IDS ",\"events\":[{\"event_type\":\"custom_event\",\"data\":{"
		"\"event_name\":\"Search\",\"custom_event_type\":null,"
		"\"custom_attributes\":{\"q\":\"hats\"}}}]}";
	struct pt_fixture f;

	fixture_open(&f);
	ASSERT_JSON(pt_post_one(&f, "/v2/events", BASIC_OK, typed)->properties_json,
		    "{\"custom_event_type\": \"navigation\", \"q\": \"shoes\"}");
	pt_reset(&f.got);
	ASSERT_JSON(pt_post_one(&f, "/v2/events", BASIC_OK, untyped)->properties_json,
		    "{\"q\": \"hats\"}");
	pt_close(&f);
}

/* Every member of the product action the README lists becomes a property. */
static void test_commerce_event_carries_every_product_action_member(void)
{
	static const char body[] =
		"{" IDS ",\"events\":[{\"event_type\":\"commerce_event\",\"data\":{"
		"\"product_action\":{\"action\":\"checkout\",\"transaction_id\":\"T1\","
		"\"affiliation\":\"shop\",\"total_amount\":10,\"tax_amount\":1,"
		"\"shipping_amount\":2,\"coupon_code\":\"SAVE5\",\"checkout_step\":2,"
		"\"checkout_options\":\"express\",\"product_action_list\":\"Cart\","
		"\"product_list_source\":\"Home\",\"products\":[],\"ignored\":1}}}]}";
	struct pt_fixture f;

	fixture_open(&f);
	ASSERT_JSON(pt_post_one(&f, "/v2/events", BASIC_OK, body)->properties_json,
		    "{\"action\": \"checkout\", \"transaction_id\": \"T1\","
		    " \"affiliation\": \"shop\", \"total_amount\": 10, \"tax_amount\": 1,"
		    " \"shipping_amount\": 2, \"coupon_code\": \"SAVE5\", \"checkout_step\": 2,"
		    " \"checkout_options\": \"express\", \"product_action_list\": \"Cart\","
		    " \"product_list_source\": \"Home\", \"products\": []}");
	pt_close(&f);
}

/* A push_registration that unregisters is news too: the batch asks for an
 * identify with push off, even beside events. */
static void test_push_unregistration_asks_for_an_identify(void)
{
	static const char body[] = "{" DEV ",\"events\":[{\"event_type\":\"push_registration\","
				   "\"data\":{\"register\":false}}," EV_OK "]}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_IDENTIFY);
	CU_ASSERT_EQUAL(f.got.recs[0].push_enabled, 0);
	CU_ASSERT_EQUAL(f.got.recs[1].type, HUB_REC_TRACK);
	pt_close(&f);
}

/* A push_registration without "register" registers the device. */
static void test_push_registration_registers_by_default(void)
{
	static const char body[] = "{" DEV ",\"events\":[{\"event_type\":\"push_registration\","
				   "\"data\":{}}]}";
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post_one(&f, "/v2/events", BASIC_OK, body)->push_enabled, 1);
	pt_close(&f);
}

/* The error messages name the place of the fault. */
static void test_error_messages_name_the_field(void)
{
	static const struct {
		const char *path, *body, *message;
	} rows[] = {
		{"/v2/events", "{" IDS ",\"events\":[" EV_OK ",{\"event_type\":\"custom_event\"}]}",
		 "events[1].data.event_name: required, a non-empty string"},
		{"/v2/events", "{" IDS ",\"events\":[" EV_OK ",7]}",
		 "events[1]: must be an object"},
		{"/v2/bulkevents", "[" BATCH_OK ",{\"mpid\":1.5}]",
		 "batches[1].mpid: must be a 64-bit integer (a JSON integer or its decimal text)"},
		{"/v2/bulkevents", "[{\"events\":[{\"event_type\":\"x\"}]}]",
		 "batches[0].events[0].event_type: unknown type \"x\""},
		{"/v2/events", "{\"user_identities\":{\"customer_id\":\"a\",\"customerid\":\"b\"}}",
		 "user_identities.customerid: two different values of one identity (a second"
		 " custom_id, unlike the one before it: a batch is one user's)"},
		{"/v2/events", "{\"user_identities\":[{\"identity_type\":\"email\","
		 "\"identity\":\"a@x.com\"},{\"identity_type\":\"email\","
		 "\"identity\":\"b@x.com\"}]}",
		 "user_identities[1]: two different values of one identity (a second email,"
		 " unlike the one before it: a batch is one user's)"},
		{"/v2/events", "{\"user_identities\":[{\"identity_type\":\"mobile_number\","
		 "\"identity\":\"+14155550100\"},{\"identity_type\":\"mobile_number\","
		 "\"identity\":\"+14155550101\"}]}",
		 "user_identities[1]: two different values of one identity (a second phone,"
		 " unlike the one before it: a batch is one user's)"},
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CU_ASSERT_EQUAL(pt_post(&f, rows[i].path, BASIC_OK, rows[i].body, &resp),
				HUB_ERR_DATA);
		CU_ASSERT_STRING_EQUAL(error_message(&resp), rows[i].message);
	}
	pt_close(&f);
}

/* Each batch-level refusal says the member and what it must be (the exact
 * message); nothing is emitted. */
static void test_batch_refusals_name_the_member_and_the_rule(void)
{
#define GDPR_EMAIL(v) "{" IDS ",\"consent_state\":{\"gdpr\":{\"email_marketing\":" v "}}}"
	static const struct {
		const char *body, *message;
	} rows[] = {
		{"{\"user_identities\":[{\"identity_type\":\"email\",\"identity\":true}]}",
		 "user_identities[0]: \"identity\" must be a string or an integer"},
		{"{" IDS ",\"device_info\":{\"locale_language\":7}}",
		 "device_info.locale_language: must be a string"},
		{"{" IDS ",\"device_info\":{\"locale_country\":false}}",
		 "device_info.locale_country: must be a string"},
		{"{" IDS ",\"device_info\":{\"platform\":3}}",
		 "device_info.platform: must be a string"},
		{"{" IDS ",\"application_info\":\"ios\"}",
		 "application_info: must be an object with a string \"os\""},
		{"{" IDS ",\"application_info\":{\"os\":5}}",
		 "application_info: must be an object with a string \"os\""},
		{"{" IDS ",\"consent_state\":\"yes\"}", "consent_state: must be an object"},
		{"{" IDS ",\"consent_state\":{\"gdpr\":[]}}",
		 "consent_state.gdpr: must be an object"},
		{"{" IDS ",\"consent_state\":{\"ccpa\":true}}",
		 "consent_state.ccpa: must be an object"},
		{GDPR_EMAIL("true"), "consent_state.gdpr.email_marketing: must be an object"},
		{GDPR_EMAIL("{\"consented\":true,\"timestamp_unixtime_ms\":\"x\"}"),
		 "consent_state.gdpr.email_marketing: \"timestamp_unixtime_ms\": must be a time in "
		 "ms (an integer)"},
		{"{" IDS ",\"consent_state\":{\"ccpa\":{\"data_sale_opt_out\":{\"consented\":1}}}}",
		 "consent_state.ccpa.data_sale_opt_out: \"consented\": required, a boolean"},
		{"{" IDS ",\"timestamp_unixtime_ms\":\"now\"}",
		 "timestamp_unixtime_ms: must be a time in ms since the epoch (an integer)"},
		{"{" IDS ",\"deleted_user_attributes\":{\"plan\":true}}",
		 "deleted_user_attributes: must be an array of strings"},
	};
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		send_refused(&f, i, NULL, rows[i].body, "invalid_batch", -1, -1, rows[i].message);
	send_refused(&f, 0, "/v2/bulkevents", "[" BATCH_OK ",7]", "invalid_batch", 1, -1,
		     "batches[1]: must be a batch object");
	pt_close(&f);
#undef GDPR_EMAIL
}

/* Each event-level refusal says the member and what it must be; a type
 * name is quoted up to 40 bytes, so the message never grows with it. */
static void test_event_refusals_name_the_member_and_the_rule(void)
{
#define ONE_EVENT(type, data) \
	"{" IDS ",\"events\":[{\"event_type\":\"" type "\",\"data\":" data "}]}"
#define T40 "abcdefghijabcdefghijabcdefghijabcdefghij"
	static const struct {
		const char *body, *code, *message;
	} rows[] = {
		{ONE_EVENT("commerce_event", "{\"product_action\":\"buy\"}"), "invalid_event",
		 "events[0].data.product_action: must be an object"},
		{ONE_EVENT("commerce_event", "{\"product_action\":{\"action\":\"purchase\","
					     "\"products\":{}}}"), "invalid_event",
		 "events[0].data.product_action.products: must be an array"},
		{ONE_EVENT("commerce_event", "{\"product_action\":{\"products\":[]}}"),
		 "invalid_event", "events[0].data.product_action.action: required, a string"},
		{ONE_EVENT("commerce_event", "{\"product_action\":{\"action\":\"purchase\","
					     "\"products\":[{},\"SKU\"]}}"), "invalid_event",
		 "events[0].data.product_action.products: must be an array of objects"},
		{ONE_EVENT("commerce_event", "{\"promotion_action\":[]}"), "invalid_event",
		 "events[0].data.promotion_action: must be an object"},
		{ONE_EVENT("commerce_event", "{\"product_impressions\":{}}"), "invalid_event",
		 "events[0].data.product_impressions: must be an array"},
		{ONE_EVENT("commerce_event", "{\"currency_code\":978}"), "invalid_event",
		 "events[0].data.currency_code: must be a string"},
		{ONE_EVENT("opt_out", "{\"is_opted_out\":\"yes\"}"), "invalid_event",
		 "events[0].data.is_opted_out: must be a boolean"},
		{ONE_EVENT("custom_event", "{\"event_name\":\"e\",\"custom_attributes\":[1]}"),
		 "invalid_event", "events[0].data.custom_attributes: must be an object"},
		{ONE_EVENT("push_registration", "{\"register\":\"yes\"}"), "invalid_event",
		 "events[0].data.register: must be a boolean"},
		{"{" IDS ",\"events\":[{\"event_type\":\"session_start\",\"message_id\":5}]}",
		 "invalid_event", "events[0].message_id: must be a string"},
		{ONE_EVENT("screen_view", "{\"screen_name\":\"\"}"), "invalid_event",
		 "events[0].data.screen_name: required, a non-empty string"},
		{ONE_EVENT("session_end", "{\"source_message_id\":5}"), "invalid_event",
		 "events[0].data.source_message_id: must be a string"},
		{"{" IDS ",\"events\":[{\"event_type\":[\"custom_event\"]}]}", "invalid_event",
		 "events[0].event_type: must be a string"},
		/* two types no mapping knows are two types all the same */
		{"{" IDS ",\"events\":[" UIC("{\"identity_type\":\"future_a\",\"identity\":\"x\"}",
					   "{\"identity_type\":\"future_b\",\"identity\":\"y\"}")
		 "]}", "invalid_event",
		 "events[0].data.old.identity_type: must be the identity type of "
		 "data.new.identity_type"},
		{ONE_EVENT(T40 "KLMNOPQRST", "{}"), "unknown_type",
		 "events[0].event_type: unknown type \"" T40 "\""},
	};
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		send_refused(&f, i, NULL, rows[i].body, rows[i].code, 0, -1, rows[i].message);
	pt_close(&f);
#undef ONE_EVENT
#undef T40
}

/* JavaScript may print a whole number of ms as a real (1.767e12): a time
 * all the same, 0.0 and the last ms of 9999 included; past it, refused. */
static void test_times_written_as_reals_are_read_as_whole_ms(void)
{
#define AT(t) "{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\"," \
	      "\"timestamp_unixtime_ms\":" t "}}"
	static const char body[] = "{" IDS ",\"events\":[" AT("1.767e12") "," AT("0.0") ","
				   AT("253402300799999.0") "]}";
	static const char past[] = "{" IDS ",\"events\":[" AT("253402300800000.0") "]}";
	static const int64_t want[] = {1767000000000LL, 0, 253402300799999LL};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	for (size_t i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(f.got.recs[i].timestamp_ms, want[i]);
	pt_reset(&f.got);
	send_refused(&f, 0, NULL, past, "invalid_event", 0, -1,
		     "events[0].data.timestamp_unixtime_ms: must be a time in ms since the epoch "
		     "(an integer)");
	pt_close(&f);
#undef AT
}

/* Identities sent as integers each keep their own digits, beside an
 * integer mpid, in both shapes of user_identities. */
static void test_integer_identities_keep_their_own_digits(void)
{
	static const char *const bodies[] = {
		"{\"mpid\":789,\"user_identities\":{\"customer_id\":123,\"other\":456}}",
		"{\"mpid\":789,\"user_identities\":[{\"identity_type\":\"customer_id\","
		"\"identity\":123},{\"identity_type\":\"other\",\"identity\":456}]}",
	};
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		const struct pt_seen *s = pt_post_one(&f, "/v2/events", BASIC_OK, bodies[i]);
		CU_ASSERT_EQUAL(s->n_ids, 3);
		ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "123");
		ASSERT_STR_OR_NULL(pt_id_of(s, "other"), "456");
		ASSERT_STR_OR_NULL(pt_id_of(s, "mpid"), "789");
		pt_reset(&f.got);
	}
	pt_close(&f);
}

/* Sends body to /v2/events; expects it taken and the records as
 * records_text() says them. */
static void post_expect_records(struct pt_fixture *f, const char *body, const char *records)
{
	struct hub_response resp;

	CU_ASSERT_EQUAL(pt_post(f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_STRING_EQUAL(records_text(&f->got), records);
}

/* post_expect_records(), then record i: its attributes and its time. */
static void post_expect_attributes(struct pt_fixture *f, const char *body, const char *records,
				   size_t i, const char *attributes, int64_t timestamp_ms)
{
	post_expect_records(f, body, records);
	CU_ASSERT_FATAL(f->got.n_recs > i);
	ASSERT_JSON(f->got.recs[i].attributes_json, attributes);
	CU_ASSERT_EQUAL(f->got.recs[i].timestamp_ms, timestamp_ms);
}

/* An empty push_token is no token: it asks for no identify with push on. */
static void test_empty_push_token_is_no_push_token(void)
{
	static const char body[] =
		"{" IDS ",\"device_info\":{\"push_token\":\"\"},\"events\":[" EV_OK "]}";
	struct pt_fixture f;

	fixture_open(&f);
	post_expect_records(&f, body, "track u -");
	pt_close(&f);
}

/*
 * Push is an installation's: a push_token, or a push_registration, in a
 * batch without a device id (an all-zero IDFV is none) has nothing to be
 * stored on.  It went without a word (the identify carried push on and the
 * hub let it go); now the identify carries none and a warning, for the 2xx
 * answer's "warnings", names the field and why.  With a device id, no word.
 */
static void test_push_without_a_device_id_is_warned(void)
{
	static const struct {
		const char *body, *records, *field;
	} rows[] = {
		{"{" IDS ",\"device_info\":{\"push_token\":\"tok\"},\"events\":[" EV_OK "]}",
		 "identify u -; track u -", "device_info.push_token"},
		{"{" IDS ",\"device_info\":{\"push_token\":\"tok\",\"ios_idfv\":"
		 "\"00000000-0000-0000-0000-000000000000\"}}",
		 "identify u -", "device_info.push_token"},
		{"{" IDS ",\"events\":[" EV_OK ",{\"event_type\":\"push_registration\","
		 "\"data\":{\"register\":false}}]}",
		 "identify u -; track u -", "events[1] (push_registration)"},
	};
	static const char with_device[] =
		"{" DEV ",\"device_info\":{\"push_token\":\"tok\"},\"events\":[" EV_OK "]}";
	struct pt_fixture f;
	char want[256];

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		post_expect_records(&f, rows[i].body, rows[i].records);
		CU_ASSERT_FATAL(f.got.n_recs > 0);
		CU_ASSERT_EQUAL(f.got.recs[0].push_enabled, -1);
		snprintf(want, sizeof(want), "%s: push not stored: the batch has no device id "
			 "(device_info.ios_idfv, device_info.android_uuid or mp_deviceid, not all "
			 "zeros) to store it on", rows[i].field);
		CU_ASSERT_EQUAL_FATAL(f.got.n_warns, 1);
		CU_ASSERT_STRING_EQUAL(f.got.warns[0], want);
		pt_reset(&f.got);
	}
	post_expect_records(&f, with_device, "identify - D1; track - D1");
	CU_ASSERT_EQUAL(f.got.recs[0].push_enabled, 1);
	CU_ASSERT_EQUAL(f.got.n_warns, 0);
	pt_close(&f);
}

/* The batch's device says what holds now: a push_token beside a
 * push_registration that unregisters leaves push on. */
static void test_device_push_token_wins_over_an_unregistration(void)
{
	static const char body[] =
		"{" DEV ",\"device_info\":{\"push_token\":\"tok\"},\"events\":["
		"{\"event_type\":\"push_registration\",\"data\":{\"register\":false}}," EV_OK "]}";
	struct pt_fixture f;

	fixture_open(&f);
	post_expect_records(&f, body, "identify - D1; track - D1");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	CU_ASSERT_EQUAL(f.got.recs[0].push_enabled, 1);
	pt_close(&f);
}

/* user_identities as an object: keys that are no identity type are
 * ignored, "mpid" too (the batch's own mpid member is the mpid). */
static void test_identity_object_ignores_keys_not_mapped(void)
{
	static const char body[] = "{\"user_identities\":{\"customer_id\":\"u\","
				   "\"some_future_type\":\"x\",\"mpid\":\"7\"}}";
	struct pt_fixture f;
	const struct pt_seen *s;

	fixture_open(&f);
	s = pt_post_one(&f, "/v2/events", BASIC_OK, body);
	CU_ASSERT_EQUAL(s->n_ids, 1);
	ASSERT_STR_OR_NULL(pt_id_of(s, "custom_id"), "u");
	CU_ASSERT_PTR_NULL(pt_id_of(s, "mpid"));
	pt_close(&f);
}

/* A batch whose events make no track (ignored types, an attribute change
 * that deletes nothing) still says who it is with an identify. */
static void test_batch_without_tracks_still_says_who_it_is(void)
{
	static const struct {
		const char *body, *records;
	} rows[] = {
		{"{" IDS ",\"events\":[{\"event_type\":\"crash_report\"}]}", "identify u -"},
		{"{" IDS ",\"events\":[{\"event_type\":\"user_attribute_change\",\"data\":"
		 "{\"user_attribute_name\":\"plan\",\"new\":\"gold\"}}]}", "identify u -"},
		{"{" IDS ",\"events\":[{\"event_type\":\"crash_report\"}," EV_OK "]}", "track u -"},
	};
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		post_expect_records(&f, rows[i].body, rows[i].records);
		pt_reset(&f.got);
	}
	pt_close(&f);
}

/* A null GDPR purpose or CCPA opt-out is absent; one purpose may be
 * configured for both channels, and then sets both. */
static void test_consent_nulls_are_absent_and_one_purpose_sets_both(void)
{
	static const char with_null[] =
		"{" IDS ",\"consent_state\":{\"gdpr\":{\"email_marketing\":null,"
		"\"sms_marketing\":{\"consented\":true}},\"ccpa\":{\"data_sale_opt_out\":null}}}";
	static const char shared[] =
		"{" IDS ",\"consent_state\":{\"gdpr\":{\"Marketing\":{\"consented\":false}}}}";
	struct pt_fixture f;

	fixture_open(&f);
	post_expect_records(&f, with_null, "identify u -; consent u -");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	ASSERT_JSON(f.got.recs[1].consent_json, "{\"sms_marketing\": \"subscribed\"}");
	pt_close(&f);
	fixture_open_with(&f, "    api_key: mp_key_1\n    api_secret: mp_secret_1\n"
			      "    gdpr_email_purpose: marketing\n"
			      "    gdpr_sms_purpose: marketing\n");
	post_expect_records(&f, shared, "identify u -; consent u -; consent u -");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	ASSERT_JSON(f.got.recs[1].consent_json, "{\"email_marketing\": \"unsubscribed\"}");
	ASSERT_JSON(f.got.recs[2].consent_json, "{\"sms_marketing\": \"unsubscribed\"}");
	pt_close(&f);
}

/* gdpr_purposes maps any number of purposes to the two channels (a list
 * sets both); only two purposes could be named before, and every other
 * was dropped.  Channels are read without case, as purposes are
 * (Email_Marketing was refused). */
static void test_gdpr_purposes_map_sets_channels(void)
{
	static const char body[] =
		"{\"user_identities\": {\"customer_id\": \"c1\"}, \"events\": [],"
		" \"consent_state\": {\"gdpr\": {"
		"\"Promotions\": {\"consented\": true},"
		"\"all_marketing\": {\"consented\": false}}}}";
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open_with(&f, "    api_key: mp_key_1\n"
			      "    api_secret: mp_secret_1\n"
			      "    gdpr_purposes:\n"
			      "      promotions: Email_Marketing\n"
			      "      All_Marketing: [EMAIL_MARKETING, sms_Marketing]\n");
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	CU_ASSERT_EQUAL(f.got.recs[1].type, HUB_REC_CONSENT);
	CU_ASSERT_EQUAL(f.got.recs[2].type, HUB_REC_CONSENT);
	/* both purposes set email at no time: the more restrictive wins */
	ASSERT_JSON(f.got.recs[1].consent_json, "{\"email_marketing\": \"unsubscribed\"}");
	ASSERT_JSON(f.got.recs[2].consent_json, "{\"sms_marketing\": \"unsubscribed\"}");
	pt_close(&f);
}

/* Each of the two bodies (one batch, its purposes a and b both of
 * email_marketing, in either key order) gives one email consent: `want`
 * at want_ms. */
static void check_one_channel(const char *const bodies[2], const char *want, int64_t want_ms)
{
	struct hub_response resp;
	struct pt_fixture f;

	for (size_t i = 0; i < 2; i++) {
		fixture_open_with(&f, "    api_key: mp_key_1\n    api_secret: mp_secret_1\n"
				      "    gdpr_purposes: {a: email_marketing, b: email_marketing}\n");
		CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, bodies[i], &resp), HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
		ASSERT_JSON(f.got.recs[1].consent_json, want);
		CU_ASSERT_EQUAL(f.got.recs[1].timestamp_ms, want_ms);
		pt_close(&f);
	}
}

/* Two purposes of one channel: the later consent wins, whatever the key
 * order of the batch. */
static void test_gdpr_purposes_of_one_channel_keep_the_later(void)
{
	static const char *const bodies[] = {
		"{" IDS ",\"consent_state\":{\"gdpr\":{"
		"\"a\":{\"consented\":true,\"timestamp_unixtime_ms\":1767000000002},"
		"\"b\":{\"consented\":false,\"timestamp_unixtime_ms\":1767000000001}}}}",
		"{" IDS ",\"consent_state\":{\"gdpr\":{"
		"\"b\":{\"consented\":false,\"timestamp_unixtime_ms\":1767000000001},"
		"\"a\":{\"consented\":true,\"timestamp_unixtime_ms\":1767000000002}}}}",
	};

	check_one_channel(bodies, "{\"email_marketing\": \"subscribed\"}", 1767000000002LL);
}

/* A purpose without its own time is at the batch's time, as its record is:
 * it was older than any timed one, so an older "consented": true beat a
 * withdrawal the batch sent now (and the hub stored subscribed). */
static void test_gdpr_purpose_without_a_time_is_at_the_batchs(void)
{
	static const char *const bodies[] = {
		"{" IDS ",\"timestamp_unixtime_ms\":1767000000005,\"consent_state\":{\"gdpr\":{"
		"\"a\":{\"consented\":false},"
		"\"b\":{\"consented\":true,\"timestamp_unixtime_ms\":1767000000001}}}}",
		"{" IDS ",\"timestamp_unixtime_ms\":1767000000005,\"consent_state\":{\"gdpr\":{"
		"\"b\":{\"consented\":true,\"timestamp_unixtime_ms\":1767000000001},"
		"\"a\":{\"consented\":false}}}}",
	};

	check_one_channel(bodies, "{\"email_marketing\": \"unsubscribed\"}", 1767000000005LL);
}

/* Two purposes of one channel at the same time: the more restrictive,
 * unsubscribed, whatever the key order (as a merge's tie, IDENTITY.md 5). */
static void test_gdpr_purposes_of_one_channel_at_one_time_keep_unsubscribed(void)
{
	static const char *const bodies[] = {
		"{" IDS ",\"consent_state\":{\"gdpr\":{"
		"\"a\":{\"consented\":true,\"timestamp_unixtime_ms\":1767000000001},"
		"\"b\":{\"consented\":false,\"timestamp_unixtime_ms\":1767000000001}}}}",
		"{" IDS ",\"consent_state\":{\"gdpr\":{"
		"\"b\":{\"consented\":false,\"timestamp_unixtime_ms\":1767000000001},"
		"\"a\":{\"consented\":true,\"timestamp_unixtime_ms\":1767000000001}}}}",
	};
	struct hub_response resp;
	struct pt_fixture f;

	for (size_t i = 0; i < 2; i++) {
		fixture_open_with(&f, "    api_key: mp_key_1\n    api_secret: mp_secret_1\n"
				      "    gdpr_purposes: {a: email_marketing,"
				      " b: email_marketing}\n");
		CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, bodies[i], &resp), HUB_OK);
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
		ASSERT_JSON(f.got.recs[1].consent_json, "{\"email_marketing\": \"unsubscribed\"}");
		pt_close(&f);
	}
}

/* Unmapped purposes are named in the log up to 32 of them, then one line
 * says no more are, once, however many more come. */
static void test_unmapped_gdpr_purposes_are_logged_up_to_32_names(void)
{
	struct testlib_capture cap;
	struct hub_response resp;
	struct pt_fixture f;
	char *body, *said;
	size_t len = 0;
	FILE *m = open_memstream(&body, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	fputs("{" IDS ",\"consent_state\":{\"gdpr\":{", m);
	for (int i = 0; i < 34; i++)
		fprintf(m, "%s\"u%d\":{\"consented\":true}", i ? "," : "", i);
	fputs("}}}", m);
	CU_ASSERT_FATAL(fclose(m) == 0);
	fixture_open(&f);
	testlib_capture_begin(&cap);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
	said = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "no subscription channel for this purpose"), 32);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "more unmapped GDPR purposes: no longer logged"
					   " (32 named already)"), 1);
	free(said);
	free(body);
	pt_close(&f);
}

/* A purpose no setting maps was dropped without a word: now it is logged,
 * once per purpose name (without case), however often it comes. */
static void test_unmapped_gdpr_purposes_are_logged_once_each(void)
{
	static const char body[] =
		"{" IDS ",\"consent_state\":{\"gdpr\":{"
		"\"analytics\":{\"consented\":true},\"Email_Marketing\":{\"consented\":true},"
		"\"location_collection\":{\"consented\":false}}}}";
	static const char again[] =
		"{" IDS ",\"consent_state\":{\"gdpr\":{\"Analytics\":{\"consented\":false}}}}";
	struct testlib_capture cap;
	struct hub_response resp;
	struct pt_fixture f;
	char *said;

	fixture_open(&f);
	testlib_capture_begin(&cap);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, body, &resp), HUB_OK);
		CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, again, &resp), HUB_OK);
	}
	said = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "no subscription channel for this purpose"), 2);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "consent_state.gdpr.\"analytics\": no "
					   "subscription channel"), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "consent_state.gdpr.\"location_collection\": "
					   "no subscription channel"), 1);
	free(said);
	pt_close(&f);
}

/* What posting `body` to `path` logged (malloc'd), its rc in *rc. */
static char *said_posting(struct pt_fixture *f, const char *path, const char *body,
			  struct hub_response *resp, hub_rc *rc)
{
	struct testlib_capture cap;

	testlib_capture_begin(&cap);
	*rc = pt_post(f, path, BASIC_OK, body, resp);
	return testlib_capture_end(&cap);
}

/* An unmapped purpose is said when the batch that names it is read, even
 * if the request is then refused (here for its second batch): the line is
 * about the source's settings, true whatever that request's fate, and the
 * fixed request resent is not logged again (decided in session 44: only a
 * committed batch could be told apart, which the plugin never learns). */
static void test_an_unmapped_purpose_of_a_refused_request_is_said_once(void)
{
#define ADS_BATCH "{" IDS ",\"consent_state\":{\"gdpr\":{\"ads\":{\"consented\":true}}}}"
	static const char refused[] = "[" ADS_BATCH ",{" IDS ",\"events\":5}]";
	static const char fixed[] = "[" ADS_BATCH "]";
#undef ADS_BATCH
	struct hub_response resp;
	struct pt_fixture f;
	hub_rc rc;
	char *said;

	fixture_open(&f);
	said = said_posting(&f, "/v2/bulkevents", refused, &resp, &rc);
	CU_ASSERT_EQUAL(rc, HUB_ERR_DATA);
	CU_ASSERT_EQUAL(resp.status, 400);
	CU_ASSERT_EQUAL(testlib_lines_with(said, "consent_state.gdpr.\"ads\": no subscription "
					   "channel"), 1);
	free(said);
	said = said_posting(&f, "/v2/bulkevents", fixed, &resp, &rc);
	CU_ASSERT_EQUAL(rc, HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL(testlib_lines_with(said, ""), 0);
	free(said);
	pt_close(&f);
}

/* A CCPA opt-out that is not given (consented false) is said too: an
 * attributes record setting the flag false, at the consent's time. */
static void test_ccpa_opt_out_withdrawn_is_recorded_false(void)
{
	static const char body[] =
		"{" IDS ",\"consent_state\":{\"ccpa\":{\"data_sale_opt_out\":"
		"{\"consented\":false,\"timestamp_unixtime_ms\":1767000000000}}}}";
	struct pt_fixture f;

	fixture_open(&f);
	post_expect_attributes(&f, body, "identify u -; attributes u -", 1,
			       "{\"ccpa_data_sale_opt_out\": false}", 1767000000000LL);
	pt_close(&f);
}

/* mParticle's opt_out event (a user opted out of tracking) was accepted and
 * ignored: the profile never said so.  Now data.is_opted_out sets the
 * attribute opted_out, at the event's time, keyed like an event; without
 * is_opted_out it says nothing (the batch's identify says who it is). */
static void test_opt_out_event_sets_the_opted_out_attribute(void)
{
#define OPT_OUT(v) "{\"event_type\":\"opt_out\",\"data\":{\"is_opted_out\":" v \
	",\"timestamp_unixtime_ms\":1767000000000}}"
	static const char body[] = "{\"source_request_id\":\"R5\"," IDS ",\"events\":["
				   OPT_OUT("true") "," EV_OK "]}";
	static const char back[] = "{" IDS ",\"events\":[" OPT_OUT("false") "]}";
	static const char unsaid[] = "{" IDS ",\"events\":[{\"event_type\":\"opt_out\"}]}";
	struct pt_fixture f;

	fixture_open(&f);
	post_expect_attributes(&f, body, "attributes u -; track u -", 0, "{\"opted_out\": true}",
			       1767000000000LL);
	ASSERT_STR_OR_NULL(f.got.recs[0].origin, "events[0]");
	CU_ASSERT_EQUAL(strncmp(f.got.recs[0].message_id ? f.got.recs[0].message_id : "", "mp-",
				3), 0);
	pt_reset(&f.got);
	post_expect_records(&f, back, "identify u -; attributes u -");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	ASSERT_JSON(f.got.recs[1].attributes_json, "{\"opted_out\": false}");
	pt_reset(&f.got);
	post_expect_records(&f, unsaid, "identify u -");
	pt_close(&f);
#undef OPT_OUT
}

/* ---- source_request_id ---------------------------------------------------- */

#define REQ_BATCH(rid, user) \
	"{\"source_request_id\":\"" rid "\",\"user_identities\":{\"customer_id\":\"" user \
	"\"},\"events\":[" EV_OK "]}"

/* Two batches of one request with one source_request_id and other
 * content: the second's records took the first's message ids and were
 * dropped as duplicates (another user's data, lost behind a 202).  It is no
 * resend (a resend is another request): a 400 naming both, and nothing
 * stored.  The same batch twice is a repeat: both emitted with the same
 * message ids, so the hub counts the second's as the duplicates they are
 * (a 400 would lose the request's other batches: no client retries one). */
static void test_request_id_shared_by_two_batches_is_refused(void)
{
	static const char bulk[] = "[" REQ_BATCH("R1", "a") "," REQ_BATCH("R2", "b") ","
				   REQ_BATCH("R1", "c") "]";
	static const char same[] = "[" REQ_BATCH("R1", "a") "," REQ_BATCH("R1", "a") "]";
	static const char apart[] = "[" REQ_BATCH("R1", "a") "," REQ_BATCH("R2", "b") ","
				    BATCH_OK "," BATCH_OK "]";
	struct pt_fixture f;
	struct hub_response resp;
	hub_rc rc;

	fixture_open(&f);
	rc = pt_post(&f, "/v2/bulkevents", BASIC_OK, bulk, &resp);
	assert_error(&resp, 400, "invalid_batch", 2, -1);
	pt_assert_refused(&f, "batches[2].source_request_id: the same as batches[0]'s", rc,
			  &resp, 400);
	CU_ASSERT_STRING_EQUAL(error_message(&resp),
			       "batches[2].source_request_id: the same as batches[0]'s, with other "
			       "content: each batch of a request needs its own (the second would be "
			       "dropped as a duplicate of the first)");
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	CU_ASSERT_EQUAL(pt_post(&f, "/webhook", WEBHOOK_AUTH, same, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	CU_ASSERT_STRING_EQUAL(f.got.recs[0].message_id, f.got.recs[1].message_id);
	pt_close(&f);
	fixture_open(&f);
	/* batches without one, or with their own, go through */
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK, apart, &resp), HUB_OK);
	CU_ASSERT_STRING_EQUAL(records_text(&f.got), "track a -; track b -; track u -; track u -");
	pt_close(&f);
}

/* ---- environments -------------------------------------------------------- */

#define DEV_BATCH "{\"environment\":\"development\"," IDS ",\"events\":[" EV_OK "]}"
#define PROD_BATCH "{\"environment\":\"production\"," IDS ",\"events\":[" EV_OK "]}"
#define SKIPPED(n, env)                                                                 \
	"{\"not_stored\":{\"batches\":" #n ",\"reason\":\"environment " env ": not one of " \
	"this source's environments\"}}"

/* mParticle keeps development data apart from production: a development
 * batch is acknowledged (202, so no retry), not stored, and the answer
 * says so; absent, null or "unknown" is production (mParticle's default).
 * Development batches were stored with the production ones. */
static void test_development_batches_are_acknowledged_not_stored(void)
{
	static const struct {
		const char *path, *body, *answer, *records;
	} rows[] = {
		{"/v2/events", DEV_BATCH, SKIPPED(1, "development"), ""},
		{"/v2/events", "{\"environment\":\"Development\"," IDS "}",
		 SKIPPED(1, "development"), ""},
		{"/v2/events", PROD_BATCH, "{}", "track u -"},
		{"/v2/events", BATCH_OK, "{}", "track u -"},
		{"/v2/events", "{\"environment\":null," IDS ",\"events\":[" EV_OK "]}", "{}",
		 "track u -"},
		{"/v2/events", "{\"environment\":\"unknown\"," IDS ",\"events\":[" EV_OK "]}",
		 "{}", "track u -"},
		{"/v2/bulkevents", "[" DEV_BATCH "," PROD_BATCH "," DEV_BATCH "]",
		 SKIPPED(2, "development"), "track u -"},
		{"/webhook", "[" PROD_BATCH "," DEV_BATCH "]", SKIPPED(1, "development"),
		 "track u -"},
	};
	struct pt_fixture f;
	struct hub_response resp;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *auth = strcmp(rows[i].path, "/webhook") == 0 ? WEBHOOK_AUTH : BASIC_OK;
		CU_ASSERT_EQUAL(pt_post(&f, rows[i].path, auth, rows[i].body, &resp), HUB_OK);
		CU_ASSERT_EQUAL(resp.status, 202);
		if (strcmp(resp.body, rows[i].answer) != 0)
			fprintf(stderr, "\n  env row %zu: %s", i, resp.body);
		CU_ASSERT_STRING_EQUAL(resp.body, rows[i].answer);
		CU_ASSERT_STRING_EQUAL(records_text(&f.got), rows[i].records);
		pt_reset(&f.got);
	}
	pt_close(&f);
}

/* Each development batch not stored is counted by the host as skipped
 * (skip(), ABI 1.12: records_skipped_total, the import summary), with its
 * reason; it was only a log line of the plugin's. */
static void test_development_batches_are_skipped_with_the_host(void)
{
	struct pt_fixture f;
	struct hub_response resp;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK,
				"[" DEV_BATCH "," PROD_BATCH "," DEV_BATCH "]", &resp), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_skips, 2);
	CU_ASSERT_EQUAL(f.got.n_rejects, 0);
	if (f.got.n_skips)
		CU_ASSERT_STRING_EQUAL(f.got.skips[0], "a development batch not stored: the "
				       "source's environments are [production]");
	pt_close(&f);
}

/* A host older than ABI 1.12 has no skip(): the plugin does not call past
 * its table, and logs the batches itself, as before, at the 1st, 2nd, 4th,
 * 8th...: an app left sending development data writes no line per request
 * into the log. */
static void test_development_batches_on_an_older_host_are_logged(void)
{
	struct hub_host old = *host_table();
	struct testlib_capture cap;
	struct hub_response resp;
	struct pt_fixture f;
	void *state = NULL, *saved;
	char err[256], *said;

	old.size = (uint32_t)offsetof(struct hub_host, skip); /* 1.11's table */
	old.abi_minor = 11;
	old.skip = NULL;
	fixture_open(&f);
	CU_ASSERT_EQUAL_FATAL(f.mod.desc->create(&old, f.inst, &state, err, sizeof(err)), HUB_OK);
	saved = f.inst->state;
	f.inst->state = state;
	testlib_capture_begin(&cap);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(pt_post(&f, "/v2/events", BASIC_OK, DEV_BATCH, &resp), HUB_OK);
	said = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_EQUAL(f.got.n_skips, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(said, "1 development batch(es) not stored so far"));
	CU_ASSERT_EQUAL(testlib_lines_with(said, " development batch(es) not stored so far"), 3);
	CU_ASSERT_EQUAL(testlib_lines_with(said, " 4 development batch(es) not stored so far"), 1);
	free(said);
	f.inst->state = saved;
	f.mod.desc->destroy(state);
	pt_close(&f);
}

/* A development batch is still checked: a bad one is refused like any,
 * naming it, and the request stores nothing. */
static void test_development_batches_are_still_checked(void)
{
	static const char body[] = "[" PROD_BATCH ",{\"environment\":\"development\","
				   "\"events\":[{\"data\":{}}]}]";
	struct pt_fixture f;
	struct hub_response resp;

	fixture_open(&f);
	pt_post(&f, "/v2/bulkevents", BASIC_OK, body, &resp);
	assert_error(&resp, 400, "missing_field", 1, 0);
	pt_post(&f, "/v2/events", BASIC_OK, "{\"environment\":1}", &resp);
	assert_error(&resp, 400, "invalid_batch", -1, -1);
	CU_ASSERT_STRING_EQUAL(error_message(&resp),
			       "environment: must be a string (\"production\" or \"development\")");
	pt_close(&f);
}

/* environments: [development] (a staging hub) stores development batches
 * and skips production ones; both store everything; an import line is
 * filtered alike.  The names are read without case, as a batch's
 * environment is ([Development] refused to start the hub). */
static void test_environments_setting_chooses_what_is_stored(void)
{
	struct pt_fixture f;
	struct hub_response resp;
	char err[512] = "";

	fixture_open_with(&f, "    api_key: mp_key_1\n    api_secret: mp_secret_1\n"
			      "    environments: [development]\n");
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK,
				"[" DEV_BATCH "," PROD_BATCH "," BATCH_OK "]", &resp), HUB_OK);
	CU_ASSERT_STRING_EQUAL(resp.body, SKIPPED(2, "production"));
	CU_ASSERT_STRING_EQUAL(records_text(&f.got), "track u -");
	pt_close(&f);

	fixture_open_with(&f, "    api_key: mp_key_1\n    api_secret: mp_secret_1\n"
			      "    environments: [Production, DEVELOPMENT]\n");
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK, "[" DEV_BATCH "," PROD_BATCH "]",
				&resp), HUB_OK);
	CU_ASSERT_STRING_EQUAL(resp.body, "{}");
	CU_ASSERT_STRING_EQUAL(records_text(&f.got), "track u -; track u -");
	pt_close(&f);

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_import_line(&f, DEV_BATCH, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	CU_ASSERT_EQUAL(pt_import_line(&f, PROD_BATCH, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_emits, 1);
	pt_close(&f);
}

/* ---- import ------------------------------------------------------------ */

/* ---- /v2/bulkevents/historical ------------------------------------------ */

#define HIST "/v2/bulkevents/historical"
#define T_2015 "1425168000000" /* 2015-03-01T00:00:00Z */
#define T_2016 "1451606400000" /* 2016-01-01T00:00:00Z */
#define T_2100 "4102444800000" /* 2100-01-01T00:00:00Z: past the 24 h clamp */
#define EV_AT(t) "{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"e\"," \
		 "\"timestamp_unixtime_ms\":" t "}}"

/* A backfill keeps the times it sends, through the hub's own record too
 * (no clamp, no skew correction): the events', the identify at the
 * latest event's, a batch without events at its own time; 202 {} as
 * /v2/bulkevents answers. */
static void test_historical_keeps_the_times_sent(void)
{
	static const char body[] =
		"[{" IDS ",\"user_attributes\":{\"plan\":\"gold\"},\"events\":[" EV_AT(T_2016)
		",{\"event_type\":\"screen_view\",\"data\":{\"screen_name\":\"Home\","
		"\"timestamp_unixtime_ms\":" T_2015 "}}]},"
		"{" IDS ",\"timestamp_unixtime_ms\":" T_2015 ",\"user_attributes\":"
		"{\"plan\":\"silver\"}}]";
	static const int64_t want[] = {1451606400000LL, 1451606400000LL, 1425168000000LL,
				       1425168000000LL};
	static const enum hub_record_type types[] = {HUB_REC_IDENTIFY, HUB_REC_TRACK,
						     HUB_REC_TRACK, HUB_REC_IDENTIFY};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(pt_post(&f, HIST, BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_STRING_EQUAL(resp.body, "{}");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 4);
	for (size_t i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(f.got.recs[i].type, types[i]);
		CU_ASSERT_EQUAL(f.got.recs[i].timestamp_ms, want[i]);
		CU_ASSERT_EQUAL(f.got.recs[i].rec->timestamp_ms, want[i]);
	}
	ASSERT_STR_OR_NULL(f.got.recs[2].origin, "batches[0].events[1]");
	ASSERT_STR_OR_NULL(f.got.recs[3].origin, "batches[1]");
	/* the same array through /v2/bulkevents: the same message ids, so a
	 * backfill sent again either way is all duplicates */
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK, body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 8);
	for (size_t i = 1; i < 3; i++) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(f.got.recs[i].message_id);
		ASSERT_STR_OR_NULL(f.got.recs[i + 4].message_id, f.got.recs[i].message_id);
		CU_ASSERT_EQUAL(f.got.recs[i + 4].rec->timestamp_ms, want[i]);
	}
	pt_close(&f);
}

/* An event without its own time would be stored at the upload's: refused
 * naming the batch and the event (index, event_index), nothing of the
 * request stored; what /v2/bulkevents takes alike is the route's rule. */
static void test_historical_refuses_events_without_their_time(void)
{
	static const struct {
		const char *body, *code;
		long index, event_index;
		const char *message;
	} rows[] = {
		{"[{" IDS ",\"events\":[" EV_AT(T_2015) "]},{" IDS ",\"events\":[" EV_AT(T_2015)
		 "," EV_AT(T_2016) "," EV_OK "]}]",
		 "missing_field", 1, 2,
		 "batches[1].events[2].data.timestamp_unixtime_ms: required on "
		 "/v2/bulkevents/historical (without it the event would be stored at the time "
		 "of the upload)"},
		{"[{" IDS ",\"events\":[{\"event_type\":\"crash_report\"}]}]", "missing_field", 0,
		 0,
		 "batches[0].events[0].data.timestamp_unixtime_ms: required on "
		 "/v2/bulkevents/historical (without it the event would be stored at the time "
		 "of the upload)"},
		{"[{" IDS ",\"timestamp_unixtime_ms\":" T_2015 ",\"events\":[" EV_AT("null") "]}]",
		 "missing_field", 0, 0,
		 "batches[0].events[0].data.timestamp_unixtime_ms: required on "
		 "/v2/bulkevents/historical (without it the event would be stored at the time "
		 "of the upload)"},
		{"[{" IDS ",\"events\":[" EV_AT(T_2015) "]},{" IDS ",\"user_attributes\":"
		 "{\"plan\":\"gold\"},\"events\":[]}]",
		 "missing_field", 1, -1,
		 "batches[1].timestamp_unixtime_ms: required on /v2/bulkevents/historical for a "
		 "batch without events (its attributes would take the time of the upload)"},
		{"[{\"environment\":\"development\"," IDS ",\"events\":[" EV_OK "]}]",
		 "missing_field", 0, 0,
		 "batches[0].events[0].data.timestamp_unixtime_ms: required on "
		 "/v2/bulkevents/historical (without it the event would be stored at the time "
		 "of the upload)"},
		{"{" IDS ",\"events\":[" EV_AT(T_2015) "]}", "invalid_request", -1, -1,
		 "body: must be an array of batch objects"},
	};
	struct hub_response resp;
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		send_refused(&f, i, HIST, rows[i].body, rows[i].code, rows[i].index,
			     rows[i].event_index, rows[i].message);
	/* the same batches on /v2/bulkevents: taken, at the receive time */
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK, rows[0].body, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 4);
	CU_ASSERT_EQUAL(f.got.recs[2].rec->timestamp_ms, 1451606400000LL);
	CU_ASSERT_EQUAL(f.got.recs[3].rec->timestamp_ms, PT_NOW_MS);
	pt_close(&f);
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The hub clamps a time more than 24 h ahead to the receive time: on
 * /v2/bulkevents it is stored at the upload's time; a backfill refuses
 * it, an event's, a batch's or a consent purpose's, rather than store it
 * rewritten. */
static void test_historical_refuses_times_the_hub_would_clamp(void)
{
	static const char event[] = "[{" IDS ",\"events\":[" EV_AT(T_2015) "]},"
				    "{" IDS ",\"events\":[" EV_AT(T_2100) "]}]";
	static const char batch[] = "[{" IDS ",\"timestamp_unixtime_ms\":" T_2100
				    ",\"events\":[" EV_AT(T_2015) "]}]";
	static const char consent[] = "[{" IDS ",\"events\":[" EV_AT(T_2015) "],"
				      "\"consent_state\":{\"gdpr\":{\"email_marketing\":"
				      "{\"consented\":true,\"timestamp_unixtime_ms\":" T_2100 "}}}}]";
	struct hub_response resp;
	struct pt_fixture f;
	hub_rc rc;

	fixture_open(&f);
	rc = pt_post(&f, HIST, BASIC_OK, event, &resp);
	assert_error(&resp, 400, "invalid_event", 1, 0);
	pt_assert_refused(&f, "an event in 2100", rc, &resp, 400);
	CU_ASSERT_TRUE(starts_with(error_message(&resp),
				   "batches[1].events[0].data.timestamp_unixtime_ms: " T_2100
				   " is more than 24 h ahead of the hub's clock ("));
	CU_ASSERT_PTR_NOT_NULL(strstr(error_message(&resp), "historical data is in the past"));
	rc = pt_post(&f, HIST, BASIC_OK, batch, &resp);
	assert_error(&resp, 400, "invalid_batch", 0, -1);
	pt_assert_refused(&f, "a batch in 2100", rc, &resp, 400);
	CU_ASSERT_TRUE(starts_with(error_message(&resp),
				   "batches[0].timestamp_unixtime_ms: " T_2100 " is more than 24 h"));
	rc = pt_post(&f, HIST, BASIC_OK, consent, &resp);
	assert_error(&resp, 400, "invalid_batch", 0, -1);
	pt_assert_refused(&f, "a consent in 2100", rc, &resp, 400);
	CU_ASSERT_TRUE(starts_with(error_message(&resp),
				   "batches[0].consent_state: a purpose's timestamp_unixtime_ms: " T_2100
				   " is more than 24 h"));
	/* /v2/bulkevents: stored, the hub's clamp at the receive time */
	CU_ASSERT_EQUAL(pt_post(&f, "/v2/bulkevents", BASIC_OK, event, &resp), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	CU_ASSERT_EQUAL(f.got.recs[1].rec->timestamp_ms, PT_NOW_MS);
	pt_close(&f);
}

static void test_import_line_maps_one_batch_without_auth(void)
{
	struct pt_fixture f;
	char err[512] = "";
	char *line = pt_read_file(FIXTURES, "webhook.json");

	/* a JSON Lines line: the fixture's newlines would not be in it, but
	 * JSON does not care */
	fixture_open(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.mod.desc->import_line);
	CU_ASSERT_EQUAL(pt_import_line(&f, line, err, sizeof(err)), HUB_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	ASSERT_STR_OR_NULL(pt_external_of(&f.got.recs[0], "mpid"), "9223372036854775807");
	ASSERT_STR_OR_NULL(f.got.recs[1].message_id, "wh-msg-1");
	pt_close(&f);
	free(line);
}

static void test_import_line_refuses_bad_lines(void)
{
	static const struct {
		const char *line, *message;
	} rows[] = {
		{"{\"events\": [", "invalid JSON at line 1, column "},
		{"[" BATCH_OK "]", "body: must be a batch object"},
		{"{\"events\":[{\"event_type\":\"user_identity_change\","
		 "\"data\":{\"new\":\"x\"}}]}",
		 "events[0].data.new: must be an object"},
		{"{\"events\":[{\"data\":{}}]}", "events[0].event_type: missing"},
		{"{\"mpid\": \"x\"}", "mpid: must be a 64-bit integer"},
	};
	struct pt_fixture f;

	fixture_open(&f);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char err[512] = "";
		CU_ASSERT_EQUAL(pt_import_line(&f, rows[i].line, err, sizeof(err)), HUB_ERR_DATA);
		if (strncmp(err, rows[i].message, strlen(rows[i].message)) != 0)
			fprintf(stderr, "\n  import row %zu: %s\n", i, err);
		CU_ASSERT_NSTRING_EQUAL(err, rows[i].message, strlen(rows[i].message));
	}
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	pt_close(&f);
}

/* ---- out of memory ------------------------------------------------------ */

/* Memory running out while a valid body is read is a 5xx, which clients
 * retry, never a 400, which they drop: jansson reports it as a syntax error
 * ("invalid token", line -1), and it was answered as invalid JSON; an
 * import counted the line as rejected. */
static void test_out_of_memory_is_5xx_never_400(void)
{
	char *bulk = pt_read_file(FIXTURES, "bulk.json");
	char *line = pt_read_file(FIXTURES, "webhook.json");
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT(pt_sweep_out_of_memory(&f, "/v2/bulkevents", BASIC_OK, bulk, alloc_fail_after) >
		  10);
	CU_ASSERT(pt_sweep_out_of_memory(&f, "/v2/bulkevents", BASIC_OK, bulk, alloc_fail_only) >
		  10);
	CU_ASSERT(pt_sweep_out_of_memory(&f, NULL, NULL, line, alloc_fail_after) > 10);
	CU_ASSERT(pt_sweep_out_of_memory(&f, NULL, NULL, line, alloc_fail_only) > 10);
	pt_close(&f);
	free(line);
	free(bulk);
}

/* The hub's own refusals on our routes (error_body, ABI 1.6) are written in
 * mParticle's shape, with no index; bytes that are no text become '?'; a
 * message that cannot fit leaves the body empty (the hub's shape then),
 * never cut JSON. */
static void test_hub_refusals_are_written_in_mparticles_shape(void)
{
	char body[1024], escaped[400];
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.mod.desc->error_body);
	f.mod.desc->error_body(405, "method_not_allowed", "use POST on this route", body,
			       sizeof(body));
	CU_ASSERT_STRING_EQUAL(body, "{\"errors\":[{\"code\":\"method_not_allowed\","
				     "\"message\":\"use POST on this route\"}]}");
	f.mod.desc->error_body(415, "unsupported_encoding", "a \xff byte", body, sizeof(body));
	CU_ASSERT_STRING_EQUAL(body, "{\"errors\":[{\"code\":\"unsupported_encoding\","
				     "\"message\":\"a ? byte\"}]}");
	/* 399 bytes that take 6 each in JSON: past the hub's 1 KB */
	memset(escaped, '\x01', sizeof(escaped) - 1);
	escaped[sizeof(escaped) - 1] = '\0';
	memset(body, 'x', sizeof(body));
	f.mod.desc->error_body(400, "bad_request", escaped, body, sizeof(body));
	body[sizeof(body) - 1] = '\0'; /* as the hub does */
	CU_ASSERT_STRING_EQUAL(body, "");
	pt_close(&f);
}

static void test_descriptor_declares_routes_and_secret_keys(void)
{
	static const char *const paths[] = {"/v2/events", "/v2/bulkevents",
					    "/v2/bulkevents/historical", "/webhook"};
	struct pt_fixture f;

	fixture_open(&f);
	CU_ASSERT_EQUAL(f.mod.desc->roles, HUB_ROLE_PUSH);
	pt_assert_routes(&f, "POST", paths, 4);
	for (const struct hub_config_key *k = f.mod.desc->config; k->name; k++) {
		int secret = strcmp(k->name, "api_secret") == 0 ||
			     strcmp(k->name, "webhook_authorization") == 0;
		CU_ASSERT_EQUAL(k->is_secret, secret);
		CU_ASSERT_FALSE(k->is_required);
	}
	pt_close(&f);
}

TEST_SUITE(mparticle, NULL, NULL,
	   TEST(test_custom_event_maps_identities_device_and_attributes),
	   TEST(test_screen_view_becomes_screen_event_with_its_name),
	   TEST(test_commerce_event_carries_product_action_and_totals),
	   TEST(test_session_events_and_derived_message_ids),
	   TEST(test_other_event_types_are_accepted_and_only_push_counts),
	   TEST(test_webhook_validation_result_is_accepted_not_stored),
	   TEST(test_consent_maps_gdpr_purposes_and_ccpa_with_their_times),
	   TEST(test_gdpr_purposes_map_sets_channels),
	   TEST(test_gdpr_purposes_of_one_channel_keep_the_later),
	   TEST(test_gdpr_purpose_without_a_time_is_at_the_batchs),
	   TEST(test_unmapped_gdpr_purposes_are_logged_once_each),
	   TEST(test_an_unmapped_purpose_of_a_refused_request_is_said_once),
	   TEST(test_gdpr_purposes_of_one_channel_at_one_time_keep_unsubscribed),
	   TEST(test_unmapped_gdpr_purposes_are_logged_up_to_32_names),
	   TEST(test_consent_purposes_are_configurable),
	   TEST(test_bulkevents_maps_every_batch),
	   TEST(test_webhook_reads_identity_arrays_and_message_ids),
	   TEST(test_identity_change_logout_logs_the_device_out),
	   TEST(test_identity_change_records),
	   TEST(test_identity_change_time_and_message_id),
	   TEST(test_times_at_the_epoch_are_kept),
	   TEST(test_identity_change_bad_input_names_the_field),
	   TEST(test_fixtures_map_alike_through_bulk_and_webhook),
	   TEST(test_mpid_int64_round_trip_is_exact),
	   TEST(test_user_attribute_names),
	   TEST(test_platform_and_device_id_choice),
	   TEST(test_integer_past_64_bits_is_kept_as_a_double),
	   TEST(test_message_id_precedence),
	   TEST(test_null_user_attribute_is_no_delete),
	   TEST(test_attribute_without_a_usable_name_is_named),
	   TEST(test_identical_events_without_ids_stay_two_and_dedupe_on_resend),
	   TEST(test_webhook_event_without_a_time_sent_later_is_another),
	   TEST(test_user_attribute_change_deleted_deletes_the_attribute),
	   TEST(test_user_attribute_change_bad_input_names_the_field),
	   TEST(test_customer_id_spellings),
	   TEST(test_empty_batches_succeed_with_nothing),
	   TEST(test_an_mpid_alone_is_refused_naming_identity_external),
	   TEST(test_record_refused_by_the_hub_fails_the_request),
	   TEST(test_record_the_hub_cannot_store_now_is_503),
	   TEST(test_refusal_reason_of_any_length_keeps_the_answer_json),
	   TEST(test_basic_auth_401_when_missing_403_when_wrong),
	   TEST(test_webhook_auth_and_switches),
	   TEST(test_admit_refuses_from_the_headers_alone),
	   TEST(test_a_route_off_is_said_in_the_log_not_the_answer),
	   TEST(test_create_checks_the_keys),
	   TEST(test_check_refuses_what_create_refuses_of_the_keys),
	   TEST(test_malformed_requests_emit_nothing),
	   TEST(test_json_errors_never_repeat_the_sent_text),
	   TEST(test_body_of_256kb_is_accepted), TEST(test_limits_are_inclusive),
	   TEST(test_long_event_names_are_cut_not_refused),
	   TEST(test_times_run_to_the_end_of_9999),
	   TEST(test_device_locale_sets_language_and_region),
	   TEST(test_commerce_event_carries_every_product_action_member),
	   TEST(test_custom_event_keeps_its_custom_event_type),
	   TEST(test_push_unregistration_asks_for_an_identify),
	   TEST(test_push_registration_registers_by_default),
	   TEST(test_error_messages_name_the_field),
	   TEST(test_batch_refusals_name_the_member_and_the_rule),
	   TEST(test_event_refusals_name_the_member_and_the_rule),
	   TEST(test_times_written_as_reals_are_read_as_whole_ms),
	   TEST(test_integer_identities_keep_their_own_digits),
	   TEST(test_empty_push_token_is_no_push_token),
	   TEST(test_device_push_token_wins_over_an_unregistration),
	   TEST(test_push_without_a_device_id_is_warned),
	   TEST(test_identity_object_ignores_keys_not_mapped),
	   TEST(test_batch_without_tracks_still_says_who_it_is),
	   TEST(test_consent_nulls_are_absent_and_one_purpose_sets_both),
	   TEST(test_ccpa_opt_out_withdrawn_is_recorded_false),
	   TEST(test_opt_out_event_sets_the_opted_out_attribute),
	   TEST(test_request_id_shared_by_two_batches_is_refused),
	   TEST(test_development_batches_are_acknowledged_not_stored),
	   TEST(test_development_batches_are_skipped_with_the_host),
	   TEST(test_development_batches_on_an_older_host_are_logged),
	   TEST(test_development_batches_are_still_checked),
	   TEST(test_environments_setting_chooses_what_is_stored),
	   TEST(test_historical_keeps_the_times_sent),
	   TEST(test_historical_refuses_events_without_their_time),
	   TEST(test_historical_refuses_times_the_hub_would_clamp),
	   TEST(test_import_line_maps_one_batch_without_auth),
	   TEST(test_import_line_refuses_bad_lines),
	   TEST(test_out_of_memory_is_5xx_never_400),
	   TEST(test_hub_refusals_are_written_in_mparticles_shape),
	   TEST(test_descriptor_declares_routes_and_secret_keys))
