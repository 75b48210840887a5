/*
 * test_rowmap.c - suite `rowmap`: the warehouse mapping shared by the
 * Snowflake and BigQuery plugins (plugins/common/rowmap.c, rowpull.c),
 * compiled into this test as it is into each plugin.  Config refusals,
 * column binding (case-insensitive, clear errors), typed values, the
 * message_id, cursor tuples (typed comparison, ties), the :cursor rewrite,
 * and the pull loop over a scripted transport: pages end only between
 * different cursor tuples, a resumed sync neither loses nor repeats a row,
 * and rows out of cursor order or ties longer than a page may hold fail
 * the pull; under a real sync (an in-test plugin) such a page is not
 * applied and the cursor stays.  Also the UTF-8 repair of
 * plugins/common/text.h that messages go through.
 */
#include "testlib.h"

#include "testhub.h"

#include "../../hub/host.h"
#include "../../hub/plugin.h"
#include "../../hub/sync.h"
#include "../../hub/util.h"

/* the plugin-side code under test, built in (as plugin.mk does) */
#include "../../plugins/common/rowmap.c"
#include "../../plugins/common/rm_value.c"
#include "../../plugins/common/rm_cursor.c"
#include "../../plugins/common/rowpull.c"
#include "../../plugins/common/text.h"

#define MAX_GOT 64
#define GOT_NOW_MS 1772000000000LL /* the receive time got_emit validates with */

struct got {
	struct {
		enum hub_record_type type;
		char ids[256];  /* "custom_id=u1 crm_id=K" */
		char *attrs, *consent, *props, *name, *platform, *message_id;
		int64_t ts;
		int has_ts;     /* has_timestamp: ts is a time even when 0 (ABI 1.5) */
		int64_t hub_ts; /* the hub's time of it (record_from_hub at
				   GOT_NOW_MS); INT64_MIN when the hub refuses it */
		char *origin;   /* hub_record.origin (ABI 1.3) */
	} r[MAX_GOT];
	size_t n;
	char cursors[MAX_GOT][128];
	size_t n_cursors;
	char warns[MAX_GOT][320]; /* warn() (ABI 1.6) */
	size_t n_warns;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static hub_rc got_emit(struct hub_call *call, const struct hub_record *rec, char *err,
		       size_t err_size)
{
	struct got *g = call->ctx;
	struct record *hub = NULL;
	char why[256];
	size_t len = 0;

	(void)err;
	(void)err_size;
	CU_ASSERT_FATAL(g->n < MAX_GOT);
	g->r[g->n].hub_ts = record_from_hub(rec, "wh", NULL, GOT_NOW_MS, &hub, NULL, why,
					    sizeof(why)) == HUB_OK
				    ? hub->timestamp_ms
				    : INT64_MIN;
	record_free(hub);
	g->r[g->n].type = rec->type;
	g->r[g->n].ids[0] = '\0';
	for (size_t i = 0; i < rec->n_identifiers; i++)
		len += (size_t)snprintf(g->r[g->n].ids + len, sizeof(g->r[0].ids) - len, "%s%s=%s",
					i ? " " : "", rec->identifiers[i].type,
					rec->identifiers[i].value);
	g->r[g->n].attrs = dup_or_null(rec->attributes_json);
	g->r[g->n].consent = dup_or_null(rec->consent_json);
	g->r[g->n].props = dup_or_null(rec->properties_json);
	g->r[g->n].name = dup_or_null(rec->event_name);
	g->r[g->n].platform = dup_or_null(rec->platform);
	g->r[g->n].message_id = dup_or_null(rec->message_id);
	g->r[g->n].origin = dup_or_null(rec->origin);
	g->r[g->n].ts = rec->timestamp_ms;
	g->r[g->n].has_ts = rec->has_timestamp;
	g->n++;
	return HUB_OK;
}

static hub_rc got_checkpoint(struct hub_call *call, const char *cursor)
{
	struct got *g = call->ctx;

	CU_ASSERT_FATAL(g->n_cursors < MAX_GOT);
	snprintf(g->cursors[g->n_cursors++], sizeof(g->cursors[0]), "%s", cursor);
	return HUB_OK;
}

static hub_rc got_warn(struct hub_call *call, const char *why)
{
	struct got *g = call->ctx;

	CU_ASSERT_FATAL(g->n_warns < MAX_GOT);
	snprintf(g->warns[g->n_warns++], sizeof(g->warns[0]), "%s", why);
	return HUB_OK;
}

static void got_clear(struct got *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->r[i].attrs);
		free(g->r[i].consent);
		free(g->r[i].props);
		free(g->r[i].name);
		free(g->r[i].platform);
		free(g->r[i].message_id);
		free(g->r[i].origin);
	}
	memset(g, 0, sizeof(*g));
}

static struct hub_call call_for(struct got *g)
{
	struct hub_call c = {0};

	c.on_emit = got_emit;
	c.on_checkpoint = got_checkpoint;
	c.on_warn = got_warn;
	c.ctx = g;
	return c;
}

static struct rowmap *map_new(const char *map, const char *kind, const char *cursor)
{
	struct rm_config c = {"wh", map, kind, cursor};
	struct rowmap *m = NULL;
	char err[512];

	if (rowmap_new(&c, &m, err, sizeof(err)))
		fprintf(stderr, "\n  rowmap_new: %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	return m;
}

/* ---- config and binding ------------------------------------------------------------ */

static void test_config_mistakes_name_the_key(void)
{
	static const struct {
		const char *map, *kind, *cursor, *err;
	} rows[] = {
		{NULL, NULL, "\"t\"", "map: required: a mapping of record fields to columns"},
		{"{\"custom_id\": \"u\", \"colour\": \"c\"}", NULL, "\"t\"",
		 "map.colour: unknown key (custom_id, installation_id, external, platform, "
		 "timestamp, attributes, consent, event, message_id)"},
		{"{\"custom_id\": 3, \"attributes\": {\"a\": \"a\"}}", NULL, "\"t\"",
		 "map.custom_id: expected a column name"},
		{"{\"attributes\": {\"plan\": \"plan\"}}", NULL, "\"t\"",
		 "map: needs an identifier column (custom_id, installation_id or external)"},
		{"{\"custom_id\": \"u\", \"attributes\": {\"when(x)\": \"a\"}}", NULL, "\"t\"",
		 "map.attributes.when(x): a name, or date(name), number(name), string(name), "
		 "bool(name), json(name)"},
		{"{\"custom_id\": \"u\", \"attributes\": {\"a\": \"a\"}}", "rows", "\"t\"",
		 "kind: \"rows\" is not one of attributes, events, consent, erase"},
		{"{\"custom_id\": \"u\"}", "events", "\"t\"",
		 "map.event: kind events needs map.event.name"},
		{"{\"custom_id\": \"u\", \"event\": {\"properties\": \"p\"}}", NULL, "\"t\"",
		 "map.event.name: required (the event name column)"},
		{"{\"custom_id\": \"u\", \"consent\": {\"push\": \"p\"}}", "consent", "\"t\"",
		 "map.consent.push: unknown channel (email_marketing, sms_marketing)"},
		{"{\"custom_id\": \"u\", \"attributes\": {\"a\": \"a\"}}", NULL, NULL,
		 "cursor: required (the column, or list of columns, the query orders by)"},
		{"{\"custom_id\": \"u\", \"attributes\": {\"a\": \"a\"}}", NULL, "[]",
		 "cursor: expected a column name or a list of them"},
		{"{\"custom_id\": \"u\", \"message_id\": \"id\", \"attributes\": {\"a\": \"a\"}}",
		 NULL, "\"t\"",
		 "map.message_id: only for kind events (rows of other kinds change in place: their "
		 "message_id hashes what they carry)"},
		{"{\"custom_id\": \"u\", \"message_id\": 7, \"event\": {\"name\": \"n\"}}", NULL,
		 "\"t\"", "map.message_id: expected a column name"},
		/* one attribute twice, once lowercased or its cast left out (the hub
		 * refused every row: "duplicate object key") */
		{"{\"custom_id\": \"u\", \"attributes\": {\"Plan\": \"a\", \"plan\": \"b\"}}", NULL,
		 "\"t\"", "map.attributes.plan: declared twice (Plan, plan)"},
		{"{\"custom_id\": \"u\", \"attributes\": {\"plan\": \"a\", "
		 "\"string(plan)\": \"b\"}}",
		 NULL, "\"t\"", "map.attributes.plan: declared twice (plan, string(plan))"},
		{"{\"custom_id\": \"u\", \"attributes\": {\"date(Seen)\": \"a\", \"x\": \"x\", "
		 "\"number(seen)\": \"b\"}}",
		 NULL, "\"t\"", "map.attributes.seen: declared twice (date(Seen), number(seen))"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct rm_config c = {"wh", rows[i].map, rows[i].kind, rows[i].cursor};
		struct rowmap *m = NULL;
		char err[512] = "";

		CU_ASSERT_EQUAL(rowmap_new(&c, &m, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NULL(m);
		if (strcmp(err, rows[i].err) != 0) {
			fprintf(stderr, "\n  row %zu: got \"%s\"\n  want \"%s\"\n", i, err,
				rows[i].err);
			CU_FAIL("wrong message");
		}
	}
}

/*
 * An attribute no profile can hold (an unknown native one, a custom name
 * outside [a-z0-9_]{1,30} once lowercased) is refused with the config,
 * naming the key as written and the rule (the host's attr_key_refusal(),
 * ABI 1.15).  It passed `check` and `run`, then was dropped from every
 * row's record with a warning.  A host before 1.15 has no such check.
 */
static void test_attribute_no_profile_holds_is_refused(void)
{
	static const char natives[] = "custom attributes match [a-z0-9_]{1,30}, native ones are "
				      "$email_address, $phone_number, $language, $region, "
				      "$timezone, $first_name, $last_name)";
	static const struct {
		const char *key, *err;
	} rows[] = {
		{"$bad", "map.attributes.$bad: no attribute of a profile is named so ("},
		{"$emial_address", "map.attributes.$emial_address: no attribute of a profile is "
				   "named so (did you mean \"$email_address\"?; "},
		{"Plan-Tier", "map.attributes.Plan-Tier: the attribute \"plan-tier\": no "
			      "attribute of a profile is named so ("},
		{"date(Seen At)", "map.attributes.date(Seen At): the attribute \"seen at\": no "
				  "attribute of a profile is named so ("},
		{"a234567890123456789012345678901", "map.attributes.a23456789012345678901234567890"
						    "1: no attribute of a profile is named so ("},
	};
	struct hub_host old = *host_table();
	char map[256], want[512], err[1024];
	struct rowmap *m;

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		snprintf(map, sizeof(map), "{\"custom_id\": \"u\", \"attributes\": "
			 "{\"plan\": \"p\", \"%s\": \"c\"}}", rows[i].key);
		m = map_new(map, NULL, "\"t\"");
		snprintf(want, sizeof(want), "%s%s", rows[i].err, natives);
		err[0] = '\0';
		CU_ASSERT_EQUAL(rowmap_attrs_check(m, host_table(), err, sizeof(err)), -1);
		if (strcmp(err, want) != 0) {
			fprintf(stderr, "\n  row %zu: got \"%s\"\n  want \"%s\"\n", i, err, want);
			CU_FAIL("wrong message");
		}
		/* a host of ABI 1.14 cannot tell: the map stands, as before */
		old.size = (uint32_t)offsetof(struct hub_host, attr_key_refusal);
		CU_ASSERT_EQUAL(rowmap_attrs_check(m, &old, err, sizeof(err)), 0);
		rowmap_free(m);
	}
	/* natives, custom names in any case, with a cast, 30 characters */
	m = map_new("{\"custom_id\": \"u\", \"attributes\": {\"$email_address\": \"e\", "
		    "\"$Last_name\": \"l\", \"Plan\": \"p\", \"date(Seen_At)\": \"s\", "
		    "\"a23456789012345678901234567890\": \"a\"}}", NULL, "\"t\"");
	CU_ASSERT_EQUAL(rowmap_attrs_check(m, host_table(), err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "map.attributes.$Last_name: no attribute"));
	rowmap_free(m);
	m = map_new("{\"custom_id\": \"u\", \"attributes\": {\"$email_address\": \"e\", "
		    "\"Plan\": \"p\", \"date(Seen_At)\": \"s\", "
		    "\"a23456789012345678901234567890\": \"a\"}}", NULL, "\"t\"");
	CU_ASSERT_EQUAL(rowmap_attrs_check(m, host_table(), err, sizeof(err)), 0);
	rowmap_free(m);
}

/* A map of custom_id, maybe installation_id, and n_ext external ids (crm0
 * ... from column c), into map (the JSON text). */
static void ids_map(char *map, size_t size, int has_install, int n_ext)
{
	size_t len = (size_t)snprintf(map, size, "{\"custom_id\": \"c\", %s\"external\": {",
				      has_install ? "\"installation_id\": \"c\", " : "");

	for (int i = 0; i < n_ext; i++)
		len += (size_t)snprintf(map + len, size - len, "%s\"crm%d\": \"c\"",
					i ? ", " : "", i);
	snprintf(map + len, size - len, "}}");
}

/*
 * A record takes at most 16 identifier columns: custom_id, installation_id
 * and 14 external ids are all emitted; a 17th column is refused with the
 * config (the 15th external id on was dropped from every record, silently).
 */
static void test_identifier_columns_past_16_are_refused(void)
{
	static const struct rm_column cols[] = {{"C", RM_STRING}, {"T", RM_TIMESTAMP}};
	struct rm_config c = {"wh", NULL, "erase", "\"t\""};
	struct rm_cell row[2];
	struct rowmap *m = NULL;
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char map[2048], err[512] = "";

	ids_map(map, sizeof(map), 1, 15);
	c.map_json = map;
	CU_ASSERT_EQUAL(rowmap_new(&c, &m, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "map.external: at most 16 identifier columns (custom_id, "
				    "installation_id and external together), 17 mapped");
	ids_map(map, sizeof(map), 0, 16);
	CU_ASSERT_EQUAL(rowmap_new(&c, &m, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "17 mapped"));
	/* 16 are all emitted */
	ids_map(map, sizeof(map), 1, 14);
	CU_ASSERT_EQUAL_FATAL(rowmap_new(&c, &m, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, cols, 2, err, sizeof(err)), 0);
	memset(row, 0, sizeof(row));
	row[0].text = "k";
	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(g.n, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.r[0].ids, "custom_id=k installation_id=k crm0=k "));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.r[0].ids, " crm13=k"));
	got_clear(&g);
	rowmap_free(m);
}

static const struct rm_column user_cols[] = {
	{"ID", RM_NUMBER},	   {"USER_ID", RM_STRING},  {"EMAIL", RM_STRING},
	{"PLAN", RM_STRING},	   {"SCORE", RM_NUMBER},    {"RATIO", RM_FLOAT},
	{"VIP", RM_BOOL},	   {"SIGNUP", RM_TIMESTAMP}, {"UPDATED_AT", RM_TIMESTAMP},
	{"TAGS", RM_JSON},	   {"SIGNUP_TEXT", RM_STRING}, {"OPT_IN", RM_BOOL},
	{"DEVICE", RM_STRING},	   {"OS", RM_STRING},
};

static void test_columns_match_case_insensitively_or_fail_clearly(void)
{
	struct rowmap *m = map_new("{\"custom_id\": \"user_id\", \"attributes\": "
				   "{\"plan\": \"Plan\", \"tier\": \"tier\"}}",
				   NULL, "[\"updated_at\", \"id\"]");
	char err[1024] = "";

	CU_ASSERT_EQUAL(rowmap_bind(m, user_cols, ARRAY_SIZE(user_cols), err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err,
			       "map.attributes.tier: no column \"tier\" in the query's result "
			       "(columns: ID, USER_ID, EMAIL, PLAN, SCORE, RATIO, VIP, SIGNUP, "
			       "UPDATED_AT, TAGS, SIGNUP_TEXT, OPT_IN, DEVICE, OS)");
	rowmap_free(m);

	m = map_new("{\"custom_id\": \"user_id\", \"attributes\": {\"plan\": \"Plan\"}}", NULL,
		    "[\"updated_at\", \"row_id\"]");
	CU_ASSERT_EQUAL(rowmap_bind(m, user_cols, ARRAY_SIZE(user_cols), err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cursor[1]: no column \"row_id\""));
	CU_ASSERT_EQUAL(rowmap_bind(m, user_cols, 3, err, sizeof(err)), -1);
	rowmap_free(m);

	m = map_new("{\"custom_id\": \"user_id\", \"attributes\": {\"plan\": \"Plan\"}}", NULL,
		    "\"UPDATED_at\"");
	CU_ASSERT_EQUAL(rowmap_bind(m, user_cols, ARRAY_SIZE(user_cols), err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(rowmap_cursor_column(m), 8);
	rowmap_free(m);
}

/* ---- mapping ---------------------------------------------------------------------------- */

struct row {
	struct rm_cell c[ARRAY_SIZE(user_cols)];
};

static struct row user_row(const char *user_id, const char *plan, const char *score)
{
	struct row r;

	memset(&r, 0, sizeof(r));
	r.c[0].text = "7";
	r.c[1].text = user_id;
	r.c[1].is_null = !user_id;
	r.c[2].text = "Ann@Example.com";
	r.c[3].text = plan;
	r.c[3].is_null = !plan;
	r.c[4].text = score;
	r.c[4].is_null = !score;
	r.c[5].f = 0.25;
	r.c[6].b = 1;
	r.c[7].sec = 1767323045; /* 2026-01-02T03:04:05Z */
	r.c[7].nsec = 123456789;
	r.c[8].sec = 1767600000; /* 2026-01-05T08:00:00Z */
	r.c[9].text = "[\"a\",\"b\"]";
	r.c[10].text = "2025-12-31 23:00:00+01:00";
	r.c[11].b = 0;
	r.c[12].text = "D1";
	r.c[13].text = "iOS";
	return r;
}

static void emit_one(struct rowmap *m, const struct row *r, struct got *g)
{
	struct hub_call call = call_for(g);
	char err[512] = "";

	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, r->c, err, sizeof(err)), HUB_OK);
}

static void test_attributes_keep_their_types_and_null_deletes(void)
{
	struct rowmap *m = map_new(
		"{\"custom_id\": \"user_id\", \"installation_id\": \"device\", "
		"\"platform\": \"os\", \"external\": {\"crm_id\": \"id\"}, "
		"\"attributes\": {\"$email_address\": \"email\", "
		"\"Plan\": \"plan\", \"score\": \"score\", \"ratio\": \"ratio\", \"vip\": \"vip\", "
		"\"date(signup)\": \"signup_text\", \"signed\": \"signup\", "
		"\"json(tags)\": \"tags\", \"number(n)\": \"id\", \"bool(b)\": \"plan\", "
		"\"string(s)\": \"vip\"}}",
		NULL, "[\"updated_at\", \"id\"]");
	struct row r = user_row("u1", NULL, "12.50");
	struct got g = {0};
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, user_cols, ARRAY_SIZE(user_cols), err, sizeof(err)),
			      0);
	emit_one(m, &r, &g);
	CU_ASSERT_EQUAL_FATAL(g.n, 1);
	CU_ASSERT_EQUAL(g.r[0].type, HUB_REC_ATTRIBUTES);
	CU_ASSERT_STRING_EQUAL(g.r[0].ids, "custom_id=u1 installation_id=D1 crm_id=7");
	CU_ASSERT_STRING_EQUAL(g.r[0].platform, "ios");
	CU_ASSERT_STRING_EQUAL(
		g.r[0].attrs,
		"{\"$email_address\":\"Ann@Example.com\",\"plan\":null,\"score\":12.50,"
		"\"ratio\":0.25,\"vip\":true,\"signup\":\"2025-12-31T22:00:00.000Z\","
		"\"signed\":\"2026-01-02T03:04:05.123Z\",\"tags\":[\"a\",\"b\"],"
		"\"n\":7,\"b\":null,\"s\":\"true\"}");
	/* the first cursor column is the record's time when none is mapped */
	CU_ASSERT_EQUAL(g.r[0].ts, 1767600000000LL);
	CU_ASSERT_PTR_NULL(g.r[0].consent);
	CU_ASSERT_EQUAL(g.n_warns, 0); /* every cast applied */
	got_clear(&g);

	/* casts that do not apply leave the attribute out, each named in a
	 * warning (never its value); big numbers stay numbers */
	r = user_row("u1", "maybe", "123456789012345678901234567890");
	r.c[10].text = "not a date";
	r.c[9].text = "{\"broken\":";
	emit_one(m, &r, &g);
	CU_ASSERT_EQUAL_FATAL(g.n, 1);
	CU_ASSERT_STRING_EQUAL(g.r[0].attrs,
			       "{\"$email_address\":\"Ann@Example.com\",\"plan\":\"maybe\","
			       "\"score\":1.2345678901234568e+29,\"ratio\":0.25,\"vip\":true,"
			       "\"signed\":\"2026-01-02T03:04:05.123Z\",\"n\":7,\"s\":\"true\"}");
	CU_ASSERT_EQUAL_FATAL(g.n_warns, 3);
	CU_ASSERT_STRING_EQUAL(g.warns[0], "map.attributes.date(signup): column signup_text is "
					   "not a date: left out");
	CU_ASSERT_STRING_EQUAL(g.warns[1], "map.attributes.json(tags): column tags is not JSON: "
					   "left out");
	CU_ASSERT_STRING_EQUAL(g.warns[2], "map.attributes.bool(b): column plan is not a "
					   "boolean: left out");
	got_clear(&g);
	rowmap_free(m);
}

/* A FLOAT that is no finite number is left out (JSON has no inf), a
 * NUMBER that is no plain number (NaN) is kept as its text, and
 * bool() of a FLOAT is whether it is not zero. */
static void test_values_without_a_json_number_are_kept_or_left_out(void)
{
	struct rowmap *m = map_new("{\"custom_id\": \"user_id\", \"attributes\": {\"score\": "
				   "\"score\", \"ratio\": \"ratio\", \"bool(r)\": \"ratio\"}}",
				   NULL, "[\"updated_at\", \"id\"]");
	struct row r = user_row("u1", NULL, "NaN");
	struct got g = {0};
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, user_cols, ARRAY_SIZE(user_cols), err, sizeof(err)),
			      0);
	r.c[5].f = INFINITY;
	emit_one(m, &r, &g);
	r.c[5].f = 0.0;
	emit_one(m, &r, &g);
	CU_ASSERT_EQUAL_FATAL(g.n, 2);
	CU_ASSERT_STRING_EQUAL(g.r[0].attrs, "{\"score\":\"NaN\",\"r\":true}");
	CU_ASSERT_STRING_EQUAL(g.r[1].attrs, "{\"score\":\"NaN\",\"ratio\":0,\"r\":false}");
	CU_ASSERT_EQUAL_FATAL(g.n_warns, 1);
	got_clear(&g);
	rowmap_free(m);
}

/* A JSON column (a VARIANT) whose text is no JSON ("undefined" of a
 * JavaScript UDF, NaN) is left out, named in a warning, the record kept:
 * it went into the attributes as it was, and the hub refused the record
 * whole (its attributes no JSON). */
static void test_a_json_column_that_is_no_json_is_left_out(void)
{
	struct rowmap *m = map_new("{\"custom_id\": \"user_id\", \"attributes\": {\"tags\": "
				   "\"tags\", \"plan\": \"plan\"}}",
				   NULL, "[\"updated_at\", \"id\"]");
	static const char *const not_json[] = {"undefined", "NaN", "{\"a\": 1", ""};
	struct row r = user_row("u1", "gold", "1");
	struct got g = {0};
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, user_cols, ARRAY_SIZE(user_cols), err, sizeof(err)),
			      0);
	r.c[9].text = "{\n  \"a\": [1, 2]\n}"; /* as Snowflake prints a VARIANT */
	emit_one(m, &r, &g);
	for (size_t i = 0; i < ARRAY_SIZE(not_json); i++) {
		r.c[9].text = not_json[i];
		emit_one(m, &r, &g);
	}
	CU_ASSERT_EQUAL_FATAL(g.n, 1 + ARRAY_SIZE(not_json));
	CU_ASSERT_STRING_EQUAL(g.r[0].attrs, "{\"tags\":{\n  \"a\": [1, 2]\n},\"plan\":\"gold\"}");
	for (size_t i = 1; i < g.n; i++)
		CU_ASSERT_STRING_EQUAL(g.r[i].attrs, "{\"plan\":\"gold\"}");
	CU_ASSERT_EQUAL_FATAL(g.n_warns, ARRAY_SIZE(not_json));
	CU_ASSERT_STRING_EQUAL(g.warns[0], "map.attributes.tags: column tags is not JSON: left out");
	got_clear(&g);
	rowmap_free(m);
}

static void test_message_id_hashes_the_mapped_content(void)
{
	struct rowmap *m = map_new("{\"custom_id\": \"user_id\", \"attributes\": "
				   "{\"plan\": \"plan\"}}",
				   NULL, "\"updated_at\"");
	struct row a = user_row("u1", "gold", "1"), b = user_row("u1", "gold", "2"),
		   c = user_row("u1", "silver", "1");
	struct got g = {0};
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, user_cols, ARRAY_SIZE(user_cols), err, sizeof(err)),
			      0);
	emit_one(m, &a, &g);
	emit_one(m, &b, &g); /* an unmapped column changed: same record */
	emit_one(m, &c, &g); /* a mapped one changed: a new record */
	c.c[8].sec++;
	emit_one(m, &c, &g); /* a newer update time: a new record too */
	CU_ASSERT_EQUAL_FATAL(g.n, 4);
	CU_ASSERT_EQUAL(strncmp(g.r[0].message_id, "wh:", 3), 0);
	CU_ASSERT_EQUAL(strlen(g.r[0].message_id), 3 + 64);
	CU_ASSERT_STRING_EQUAL(g.r[0].message_id, g.r[1].message_id);
	CU_ASSERT_STRING_NOT_EQUAL(g.r[0].message_id, g.r[2].message_id);
	CU_ASSERT_STRING_NOT_EQUAL(g.r[2].message_id, g.r[3].message_id);
	got_clear(&g);
	rowmap_free(m);
}

/* Page views of u1: three in the same second, told apart only by their
 * event_id (the second cursor column), none by what the record carries. */
static void test_message_id_tells_apart_rows_with_the_same_content(void)
{
	static const struct rm_column cols[] = {
		{"EVENT_ID", RM_NUMBER}, {"USER_ID", RM_STRING}, {"NAME", RM_STRING},
		{"AT", RM_TIMESTAMP},
	};
	static const struct {
		const char *event_id;
		int64_t at;
	} rows[] = {{"1", 1767323044}, {"2", 1767323045}, {"3", 1767323045}, {"4", 1767323045}};
	struct rowmap *m = map_new("{\"custom_id\": \"user_id\", \"timestamp\": \"at\", "
				   "\"event\": {\"name\": \"name\"}}",
				   NULL, "[\"at\", \"event_id\"]");
	struct rm_cell row[4];
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, cols, 4, err, sizeof(err)), 0);
	memset(row, 0, sizeof(row));
	row[1].text = "u1";
	row[2].text = "page_view";
	for (size_t i = 0; i <= ARRAY_SIZE(rows); i++) {
		size_t k = i < ARRAY_SIZE(rows) ? i : 1; /* then row 2 again: a re-read */
		row[0].text = rows[k].event_id;
		row[3].sec = rows[k].at;
		CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	}
	CU_ASSERT_EQUAL_FATAL(g.n, 5);
	/* the same second, the same content: only the cursor tells them apart */
	CU_ASSERT_EQUAL(g.r[1].ts, g.r[3].ts);
	CU_ASSERT_STRING_EQUAL(g.r[1].props, g.r[3].props);
	CU_ASSERT_STRING_NOT_EQUAL(g.r[1].message_id, g.r[2].message_id);
	CU_ASSERT_STRING_NOT_EQUAL(g.r[2].message_id, g.r[3].message_id);
	CU_ASSERT_STRING_NOT_EQUAL(g.r[1].message_id, g.r[3].message_id);
	CU_ASSERT_STRING_NOT_EQUAL(g.r[0].message_id, g.r[1].message_id);
	/* re-reading a row gives its id again (a duplicate for the hub) */
	CU_ASSERT_STRING_EQUAL(g.r[4].message_id, g.r[1].message_id);
	/* a NULL cursor value is not the empty string */
	row[0].text = "";
	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	row[0].is_null = 1;
	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(g.n, 7);
	CU_ASSERT_STRING_NOT_EQUAL(g.r[5].message_id, g.r[6].message_id);
	got_clear(&g);
	rowmap_free(m);
}

/* map.message_id (kind events): a column holding a unique event id is the
 * message_id, so two clicks alike in every mapped column and in the cursor
 * (`at`, to the second) stay two; the hash would make the second a
 * duplicate.  A NULL or empty id falls back to the hash. */
static void test_message_id_column_keeps_alike_events_apart(void)
{
	static const struct rm_column cols[] = {
		{"CLICK_ID", RM_STRING}, {"USER_ID", RM_STRING}, {"NAME", RM_STRING},
		{"AT", RM_TIMESTAMP},
	};
	static const char *const ids[] = {"c-1", "c-2", "c-1", NULL, ""};
	struct rowmap *by_hash = map_new("{\"custom_id\": \"user_id\", \"event\": "
					 "{\"name\": \"name\"}}", NULL, "\"at\"");
	struct rowmap *by_id = map_new("{\"custom_id\": \"user_id\", \"message_id\": "
				       "\"Click_Id\", \"event\": {\"name\": \"name\"}}", NULL,
				       "\"at\"");
	struct rm_cell row[4];
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(by_hash, cols, 4, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(rowmap_bind(by_id, cols, 4, err, sizeof(err)), 0);
	memset(row, 0, sizeof(row));
	row[1].text = "u1";
	row[2].text = "click";
	row[3].sec = 1767323045;
	for (size_t i = 0; i < 2; i++) {
		row[0].text = ids[i];
		CU_ASSERT_EQUAL(rowmap_emit(by_hash, host_table(), &call, row, err, sizeof(err)),
				HUB_OK);
	}
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		row[0].text = ids[i];
		row[0].is_null = !ids[i];
		CU_ASSERT_EQUAL(rowmap_emit(by_id, host_table(), &call, row, err, sizeof(err)),
				HUB_OK);
	}
	CU_ASSERT_EQUAL_FATAL(g.n, 2 + ARRAY_SIZE(ids));
	/* the hash: the second click is taken for the first */
	CU_ASSERT_STRING_EQUAL(g.r[0].message_id, g.r[1].message_id);
	CU_ASSERT_STRING_EQUAL(g.r[2].message_id, "wh:id:c-1");
	CU_ASSERT_STRING_EQUAL(g.r[3].message_id, "wh:id:c-2");
	CU_ASSERT_STRING_EQUAL(g.r[4].message_id, "wh:id:c-1"); /* read again */
	/* no id: the hash, as without map.message_id */
	CU_ASSERT_STRING_EQUAL(g.r[5].message_id, g.r[0].message_id);
	CU_ASSERT_STRING_EQUAL(g.r[6].message_id, g.r[0].message_id);
	CU_ASSERT_STRING_EQUAL(g.r[2].name, "click");
	got_clear(&g);
	rowmap_free(by_hash);
	rowmap_free(by_id);
}

static void test_kinds_make_their_record_types(void)
{
	static const struct rm_column ev_cols[] = {
		{"EVENT_ID", RM_NUMBER}, {"USER_ID", RM_STRING}, {"NAME", RM_STRING},
		{"PROPS", RM_JSON},	 {"AT", RM_TIMESTAMP},	 {"OPT", RM_STRING},
	};
	struct rm_cell row[6];
	struct rowmap *m;
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[512];

	memset(row, 0, sizeof(row));
	row[0].text = "1";
	row[1].text = "u1";
	row[2].text = "purchase";
	row[3].text = "{\"sku\":\"A\"}";
	row[4].sec = 1767323045;
	row[5].text = "Opted_Out";

	m = map_new("{\"custom_id\": \"user_id\", \"timestamp\": \"at\", \"event\": "
		    "{\"name\": \"name\", \"properties\": \"props\"}}",
		    NULL, "\"event_id\"");
	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, ev_cols, 6, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	row[3].is_null = 1;
	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	rowmap_free(m);
	CU_ASSERT_EQUAL_FATAL(g.n, 2);
	CU_ASSERT_EQUAL(g.r[0].type, HUB_REC_TRACK);
	CU_ASSERT_STRING_EQUAL(g.r[0].name, "purchase");
	CU_ASSERT_STRING_EQUAL(g.r[0].props, "{\"sku\":\"A\"}");
	CU_ASSERT_STRING_EQUAL(g.r[1].props, "{}");
	CU_ASSERT_EQUAL(g.r[0].ts, 1767323045000LL);

	m = map_new("{\"custom_id\": \"user_id\", \"consent\": {\"email_marketing\": \"opt\"}}",
		    "consent", "\"event_id\"");
	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, ev_cols, 6, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	rowmap_free(m);
	CU_ASSERT_EQUAL(g.r[2].type, HUB_REC_CONSENT);
	CU_ASSERT_STRING_EQUAL(g.r[2].consent, "{\"email_marketing\":\"unsubscribed\"}");
	CU_ASSERT_EQUAL(g.r[2].ts, 0); /* no time column: the hub's receive time */

	m = map_new("{\"custom_id\": \"user_id\"}", "erase", "\"event_id\"");
	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, ev_cols, 6, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	rowmap_free(m);
	CU_ASSERT_EQUAL(g.r[3].type, HUB_REC_ERASE);
	CU_ASSERT_STRING_EQUAL(g.r[3].ids, "custom_id=u1");
	CU_ASSERT_PTR_NULL(g.r[3].attrs);

	/* attributes with consent: an identify, which carries both */
	m = map_new("{\"custom_id\": \"user_id\", \"attributes\": {\"n\": \"name\"}, "
		    "\"consent\": {\"sms_marketing\": \"opt\"}}",
		    NULL, "\"event_id\"");
	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, ev_cols, 6, err, sizeof(err)), 0);
	row[5].text = "yes";
	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	rowmap_free(m);
	CU_ASSERT_EQUAL(g.r[4].type, HUB_REC_IDENTIFY);
	CU_ASSERT_STRING_EQUAL(g.r[4].consent, "{\"sms_marketing\":\"subscribed\"}");
	got_clear(&g);
}

/* ---- values, cursors, queries -------------------------------------------------------------- */

static void test_times_and_decimals_compare_as_values(void)
{
	static const struct {
		const char *a, *b;
		int cmp;
	} dec[] = {
		{"10", "9", 1},       {"-10", "9", -1},  {"0.50", ".5", 0},   {"007", "7", 0},
		{"-0", "0", 0},       {"1.000001", "1", 1}, {"-1.5", "-1.25", -1},
		{"123456789012345678901234567890", "123456789012345678901234567891", -1},
		{"1e3", "999", 1},    {"-0.00", "0", 0},
	};
	static const struct {
		const char *text;
		int64_t sec;
		int32_t nsec;
	} times[] = {
		{"2026-01-02T03:04:05.123456789Z", 1767323045, 123456789},
		{"2026-01-02 04:04:05.5+01:00", 1767323045, 500000000},
		{"2026-01-02 03:04:05", 1767323045, 0},
		{"2026-01-02", 1767312000, 0},
		{"1969-12-31T23:59:59Z", -1, 0},
	};
	int64_t sec;
	int32_t nsec;
	char buf[48];

	for (size_t i = 0; i < ARRAY_SIZE(dec); i++) {
		int c = rm_decimal_cmp(dec[i].a, dec[i].b);
		CU_ASSERT_EQUAL(c < 0 ? -1 : c > 0, dec[i].cmp);
		c = rm_decimal_cmp(dec[i].b, dec[i].a);
		CU_ASSERT_EQUAL(c < 0 ? -1 : c > 0, -dec[i].cmp);
	}
	for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
		CU_ASSERT_EQUAL_FATAL(rm_time_parse(times[i].text, &sec, &nsec), 0);
		CU_ASSERT_EQUAL(sec, times[i].sec);
		CU_ASSERT_EQUAL(nsec, times[i].nsec);
	}
	CU_ASSERT_EQUAL(rm_time_parse("2026-02-30", &sec, &nsec), -1);
	CU_ASSERT_EQUAL(rm_time_parse("2026-01-02T25:00", &sec, &nsec), -1);
	CU_ASSERT_EQUAL(rm_time_parse("yesterday", &sec, &nsec), -1);
	CU_ASSERT_STRING_EQUAL(rm_time_format(-1, 5, buf, sizeof(buf)),
			       "1969-12-31T23:59:59.000000005Z");
}

/* A time at the epoch, in map.timestamp or in the first cursor column,
 * is a time: the hub keeps it as 0 ms (has_timestamp, ABI 1.5), not as
 * the receive time, which only a row without a time gets (a NULL). */
static void test_a_time_at_the_epoch_is_kept(void)
{
	static const struct rm_column cols[] = {
		{"EVENT_ID", RM_NUMBER}, {"USER_ID", RM_STRING}, {"NAME", RM_STRING},
		{"AT", RM_TIMESTAMP},
	};
	struct rowmap *by_column = map_new("{\"custom_id\": \"user_id\", \"timestamp\": \"at\", "
					   "\"event\": {\"name\": \"name\"}}",
					   NULL, "\"event_id\"");
	struct rowmap *by_cursor = map_new("{\"custom_id\": \"user_id\", "
					   "\"event\": {\"name\": \"name\"}}",
					   NULL, "[\"at\", \"event_id\"]");
	struct rm_cell row[4];
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(by_column, cols, 4, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(rowmap_bind(by_cursor, cols, 4, err, sizeof(err)), 0);
	memset(row, 0, sizeof(row));
	row[0].text = "1";
	row[1].text = "u1";
	row[2].text = "page_view";
	CU_ASSERT_EQUAL(rowmap_emit(by_column, host_table(), &call, row, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_EQUAL(rowmap_emit(by_cursor, host_table(), &call, row, err, sizeof(err)),
			HUB_OK);
	row[3].nsec = 500000000; /* half a second after */
	CU_ASSERT_EQUAL(rowmap_emit(by_column, host_table(), &call, row, err, sizeof(err)),
			HUB_OK);
	row[3].is_null = 1;
	CU_ASSERT_EQUAL(rowmap_emit(by_column, host_table(), &call, row, err, sizeof(err)),
			HUB_OK);
	CU_ASSERT_EQUAL_FATAL(g.n, 4);
	CU_ASSERT(g.r[0].has_ts && g.r[0].ts == 0);
	CU_ASSERT_EQUAL(g.r[0].hub_ts, 0);
	CU_ASSERT(g.r[1].has_ts && g.r[1].ts == 0);
	CU_ASSERT_EQUAL(g.r[1].hub_ts, 0);
	CU_ASSERT_EQUAL(g.r[2].hub_ts, 500);
	CU_ASSERT(!g.r[3].has_ts);
	CU_ASSERT_EQUAL(g.r[3].hub_ts, GOT_NOW_MS); /* no time: the receive time */
	/* the same row but its time: two records, two ids (one was dropped as
	 * the other's duplicate); a row without a time keeps its id of before */
	CU_ASSERT_PTR_NOT_NULL_FATAL(g.r[0].message_id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g.r[3].message_id);
	CU_ASSERT_STRING_NOT_EQUAL(g.r[0].message_id, g.r[3].message_id);
	got_clear(&g);
	rowmap_free(by_column);
	rowmap_free(by_cursor);
}

/*
 * Instants outside years 0000..9999 are none: an epoch number like 1e300
 * or "nan" (a date cast, or the record's time) used to be cast to int64_t
 * (undefined: fuzz_rowmap found it), and a time near the int64 ends
 * overflowed `sec * 1000` and rm_time_format's floor division.
 */
static void test_instants_outside_years_0_to_9999_are_none(void)
{
	static const char *const epochs[] = {"1e300", "-1e300", "nan", "inf", "1e30", "",
					     "9.3e27", "-9.3e27", "1e44"};
	struct rowmap *m = map_new("{\"custom_id\": \"user_id\", \"timestamp\": \"score\", "
				   "\"attributes\": {\"plan\": \"plan\", "
				   "\"date(seen)\": \"score\", \"date(r)\": \"ratio\", "
				   "\"date(s)\": \"signup\"}}",
				   NULL, "\"updated_at\"");
	struct rowmap *by_cursor = map_new("{\"custom_id\": \"user_id\", \"attributes\": "
					   "{\"plan\": \"plan\"}}", NULL, "\"updated_at\"");
	struct row r;
	struct got g = {0};
	char err[512], buf[64];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, user_cols, ARRAY_SIZE(user_cols), err, sizeof(err)),
			      0);
	CU_ASSERT_EQUAL_FATAL(rowmap_bind(by_cursor, user_cols, ARRAY_SIZE(user_cols), err,
					  sizeof(err)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(epochs); i++) {
		r = user_row("u1", "gold", epochs[i]);
		r.c[5].f = i % 3 == 0 ? -HUGE_VAL : i % 3 == 1 ? NAN : 1e44;
		r.c[7].sec = i % 2 ? INT64_MAX : INT64_MIN;
		emit_one(m, &r, &g);
		CU_ASSERT_EQUAL_FATAL(g.n, 1);
		CU_ASSERT_EQUAL(g.r[0].ts, 0); /* no time: the host's receive time */
		CU_ASSERT_STRING_EQUAL(g.r[0].attrs, "{\"plan\":\"gold\"}");
		if (strcmp(g.r[0].attrs, "{\"plan\":\"gold\"}") != 0)
			fprintf(stderr, "\n  score %s: %s\n", epochs[i], g.r[0].attrs);
		got_clear(&g);
	}
	/* the cursor column as the record's time */
	r = user_row("u1", "gold", "1");
	r.c[8].sec = INT64_MAX;
	emit_one(by_cursor, &r, &g);
	r.c[8].sec = 253402300800LL; /* 10000-01-01 */
	emit_one(by_cursor, &r, &g);
	r.c[8].sec = 253402300799LL; /* 9999-12-31T23:59:59Z: still a time */
	emit_one(by_cursor, &r, &g);
	CU_ASSERT_EQUAL_FATAL(g.n, 3);
	CU_ASSERT_EQUAL(g.r[0].ts, 0);
	CU_ASSERT_EQUAL(g.r[1].ts, 0);
	CU_ASSERT_EQUAL(g.r[2].ts, 253402300799000LL);
	got_clear(&g);
	/* every int64 formats (the cursor text of such a row) */
	CU_ASSERT_STRING_EQUAL(rm_time_format(INT64_MIN, 0, buf, sizeof(buf)),
			       "-292277022657-01-27T08:29:52.000000000Z");
	CU_ASSERT_STRING_EQUAL(rm_time_format(INT64_MAX, 999999999, buf, sizeof(buf)),
			       "292277026596-12-04T15:30:07.999999999Z");
	CU_ASSERT_STRING_EQUAL(rm_time_format(-62167219200LL, 0, buf, sizeof(buf)),
			       "0000-01-01T00:00:00.000000000Z");
	rowmap_free(m);
	rowmap_free(by_cursor);
}

/*
 * Epoch numbers (a NUMBER or FLOAT cell as a record's time or a date(x))
 * split at their decimal digits: "1700000000123" (ms) is ...20.123, where
 * (v / 1e3 - s) * 1e9 in doubles made it 122999906 ns, so ...20.122 (496
 * of 1000 consecutive milliseconds were a millisecond early), and "...123000"
 * (us) and "1700000000.123" (s) likewise.  Negative ones floor.
 */
static void test_epoch_numbers_split_at_their_decimal_digits(void)
{
	static const struct {
		const char *text;
		int64_t sec;
		int32_t nsec;
	} rows[] = {
		{"1700000000123", 1700000000, 123000000},
		{"1700000000123000", 1700000000, 123000000},
		{"1700000000.123", 1700000000, 123000000},
		{"1700000000123456789", 1700000000, 123456789},
		{"1700000000123.4567", 1700000000, 123456700},
		{"1700000000.1234567891", 1700000000, 123456789}, /* past the ns: dropped */
		{"1.700000000123e12", 1700000000, 123000000},
		{"17000000001.23E-1", 1700000000, 123000000},
		{"+1700000000", 1700000000, 0},
		{"99999999999", 99999999999LL, 0}, /* below 1e11: seconds */
		{"100000000000", 100000000, 0},	   /* ms */
		{"99999999999999", 99999999999LL, 999000000},	  /* below 1e14: ms */
		{"100000000000000", 100000000, 0},		  /* us */
		{"99999999999999999", 99999999999LL, 999999000},  /* below 1e17: us */
		{"100000000000000000", 100000000, 0},		  /* ns */
		{"253402300799999999999", 253402300799LL, 999999999}, /* 9999's last ns */
		{"0", 0, 0},
		{"-0.0", 0, 0},
		{"0e999999999999999999", 0, 0},
		{"-1.5", -2, 500000000},
		{"-1700000000123", -1700000001, 877000000},
		{"-0.0000000001", -1, 999999999},
		{"-1.9999999999", -2, 0},
		{"99999999999.999999999", 99999999999LL, 999999999},
		{"-62167219200", -62167219200LL, 0},
		{" 1700000000", 1700000000, 0}, /* not a plain decimal: strtod() */
	};
	/* no number; 253402300800 s (year 10000) and 1e12 s in ns */
	static const char *const none[] = {"1.2.3", "1e", ".", "-", "nan",
					   "253402300800000000000", "1000000000000000000000"};
	struct rowmap *m =
		map_new("{\"custom_id\": \"user_id\", \"timestamp\": \"score\", "
			"\"attributes\": {\"date(seen)\": \"score\", \"date(r)\": \"ratio\"}}",
			NULL, "\"updated_at\"");
	struct rm_cell c = {0};
	struct row r;
	struct got g = {0};
	char err[512], text[48];
	int64_t sec;
	int32_t nsec;

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		c.text = rows[i].text;
		CU_ASSERT_EQUAL(rm_cell_instant(RM_NUMBER, &c, &sec, &nsec), 0);
		CU_ASSERT_EQUAL(sec, rows[i].sec);
		CU_ASSERT_EQUAL(nsec, rows[i].nsec);
		if (sec != rows[i].sec || nsec != rows[i].nsec)
			fprintf(stderr, "\n  %s: %lld %d\n", rows[i].text, (long long)sec, nsec);
	}
	for (size_t i = 0; i < ARRAY_SIZE(none); i++) {
		c.text = none[i];
		CU_ASSERT_EQUAL(rm_cell_instant(RM_NUMBER, &c, &sec, &nsec), -1);
	}
	/* every millisecond of a second, in each unit, as text and as a double */
	for (int ms = 0; ms < 1000; ms++) {
		static const char *const forms[][2] = {{"1700000000", ""}, {"1700000000", "000"},
						       {"1700000000.", ""}}; /* ms, us, s */
		for (size_t f = 0; f < ARRAY_SIZE(forms); f++) {
			snprintf(text, sizeof(text), "%s%03d%s", forms[f][0], ms, forms[f][1]);
			c.text = text;
			CU_ASSERT_EQUAL(rm_cell_instant(RM_NUMBER, &c, &sec, &nsec), 0);
			CU_ASSERT(sec == 1700000000 && nsec == ms * 1000000);
			c.f = strtod(text, NULL);
			CU_ASSERT_EQUAL(rm_cell_instant(RM_FLOAT, &c, &sec, &nsec), 0);
			CU_ASSERT(sec == 1700000000 && nsec == ms * 1000000);
		}
	}
	/* as a date(x) attribute and the record's time */
	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, user_cols, ARRAY_SIZE(user_cols), err, sizeof(err)),
			      0);
	r = user_row("u1", "gold", "1700000000123");
	r.c[5].f = 1700000000.123;
	emit_one(m, &r, &g);
	CU_ASSERT_EQUAL_FATAL(g.n, 1);
	CU_ASSERT_STRING_EQUAL(g.r[0].attrs, "{\"seen\":\"2023-11-14T22:13:20.123Z\","
					     "\"r\":\"2023-11-14T22:13:20.123Z\"}");
	CU_ASSERT_EQUAL(g.r[0].ts, 1700000000123LL);
	got_clear(&g);
	rowmap_free(m);
}

/* A date text holds the calendar (Gregorian leap years), the clock
 * (hours 0-23, minutes 0-59, a leap second :60 read as the next minute's
 * first) and its offset (either sign; +02, +0230 or +02:30; hours 0-23). */
static void test_date_text_holds_calendar_clock_and_offset_ranges(void)
{
	static const struct {
		const char *text, *want; /* want NULL: not a time */
	} rows[] = {
		{"2000-02-29", "2000-02-29T00:00:00.000000000Z"},
		{"2024-02-29T12:00:00Z", "2024-02-29T12:00:00.000000000Z"},
		{"1900-02-29", NULL},
		{"2100-02-29", NULL},
		{"2026-01-02T23:59:59", "2026-01-02T23:59:59.000000000Z"},
		{"2026-01-02T24:00", NULL},
		{"2026-01-02T23:60", NULL},
		{"2026-01-02T23:59:61", NULL},
		{"2016-12-31T23:59:60Z", "2017-01-01T00:00:00.000000000Z"},
		{"2026-01-02T03:04:05-05:00", "2026-01-02T08:04:05.000000000Z"},
		{"2026-01-02 03:04:05 -01:30", "2026-01-02T04:34:05.000000000Z"},
		{"2026-01-02T03:04:05+02", "2026-01-02T01:04:05.000000000Z"},
		{"2026-01-02T03:04:05+0230", "2026-01-02T00:34:05.000000000Z"},
		{"2026-01-01T00:30:00+23:59", "2025-12-31T00:31:00.000000000Z"},
		{"2026-01-02T03:04:05+24:00", NULL},
		{"2026-01-02T03:04:05+01:60", NULL},
	};
	char buf[48];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		int64_t sec = 0;
		int32_t nsec = 0;
		int rc = rm_time_parse(rows[i].text, &sec, &nsec);
		const char *got = rc ? NULL : rm_time_format(sec, nsec, buf, sizeof(buf));

		if (rows[i].want ? !got || strcmp(got, rows[i].want) != 0 : got != NULL) {
			fprintf(stderr, "\n  %s: got %s, want %s\n", rows[i].text,
				got ? got : "none", rows[i].want ? rows[i].want : "none");
			CU_FAIL("wrong time");
		}
	}
}

/* The JSON rm_append_value writes for a text cell (NUMBER, STRING) read
 * with cast; NULL when the cast leaves it out.  Freed by the caller. */
static char *value_json(enum rm_type type, enum rm_cast cast, const char *text)
{
	struct rm_cell c = {.text = text};
	struct buf b = {0};

	if (rm_append_value(&b, type, cast, &c) != 0 || b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* A NUMBER that is an integer fitting 64 bits is written as it is, exact;
 * one past them (or with leading zeros, no JSON number) becomes the double
 * nearest its value. */
static void test_numbers_stay_exact_while_they_fit_64_bits(void)
{
	static const char *const exact[] = {"123456789012345678", "9223372036854775807",
					    "-9223372036854775808", "0", "-12.50"};
	static const char *const as_double[] = {"9223372036854775808", "-9223372036854775809",
						"007", "-00.5"};

	for (size_t i = 0; i < ARRAY_SIZE(exact); i++) {
		char *json = value_json(RM_NUMBER, CAST_NONE, exact[i]);

		CU_ASSERT_PTR_NOT_NULL(json);
		CU_ASSERT_STRING_EQUAL(json ? json : "", exact[i]);
		free(json);
	}
	for (size_t i = 0; i < ARRAY_SIZE(as_double); i++) {
		char *json = value_json(RM_NUMBER, CAST_NONE, as_double[i]);
		json_t *v = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;

		CU_ASSERT(json_is_number(v));
		CU_ASSERT(json_number_value(v) == strtod(as_double[i], NULL));
		if (!json_is_number(v))
			fprintf(stderr, "\n  %s: %s\n", as_double[i], json ? json : "left out");
		json_decref(v);
		free(json);
	}
}

/* bool() and consent read a NUMBER by its value (0.0 and -0 are zero) and
 * a string's on / off as they read yes / no. */
static void test_bool_and_consent_read_numbers_by_value_and_on_off(void)
{
	static const struct {
		enum rm_type type;
		const char *text;
		int flag;
	} rows[] = {
		{RM_NUMBER, "0.0", 0},	{RM_NUMBER, "-0", 0},	 {RM_NUMBER, "0.001", 1},
		{RM_NUMBER, "-2", 1},	{RM_STRING, "on", 1},	 {RM_STRING, "OFF", 0},
		{RM_STRING, "yes", 1},	{RM_STRING, "n", 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct rm_cell c = {.text = rows[i].text};
		struct buf b = {0};
		char *json = value_json(rows[i].type, CAST_BOOL, rows[i].text);

		CU_ASSERT_STRING_EQUAL(json ? json : "left out", rows[i].flag ? "true" : "false");
		free(json);
		rm_append_consent(&b, rows[i].type, &c);
		CU_ASSERT_STRING_EQUAL(b.p ? b.p : "",
				       rows[i].flag ? "\"subscribed\"" : "\"unsubscribed\"");
		if (!json || !b.p)
			fprintf(stderr, "\n  %s\n", rows[i].text);
		free(b.p);
	}
}

/* A string value escapes every control character (JSON allows none raw):
 * the text reads back as it was. */
static void test_string_values_escape_every_control_character(void)
{
	char text[40], *json;
	json_t *v;
	size_t n = 0;

	for (int ch = 1; ch < 0x20; ch++)
		text[n++] = (char)ch;
	text[n++] = '"';
	text[n++] = '\\';
	text[n++] = 'a';
	text[n] = '\0';
	json = value_json(RM_STRING, CAST_NONE, text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	for (const char *p = json; *p; p++)
		CU_ASSERT((unsigned char)*p >= 0x20);
	v = json_loads(json, JSON_DECODE_ANY, NULL);
	CU_ASSERT_STRING_EQUAL(json_is_string(v) ? json_string_value(v) : "", text);
	json_decref(v);
	free(json);
}

/* A record's origin names its row by the cursor values, by which the
 * warehouse finds it again (a sync's rejections name only a field else):
 * times as RFC 3339, NULLs as NULL, long text cut at a character. */
static void test_a_record_names_its_row_by_its_cursor_values(void)
{
	static const struct rm_column cols[] = {{"T", RM_TIMESTAMP}, {"KEY", RM_STRING}};
	struct rowmap *m = map_new("{\"custom_id\": \"key\"}", "erase", "[\"t\", \"key\"]");
	struct got g = {0};
	struct hub_call call = call_for(&g);
	struct rm_cell row[2];
	char err[512], key[80];

	memset(row, 0, sizeof(row));
	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, cols, 2, err, sizeof(err)), 0);
	row[0].sec = 1767322800;
	row[1].text = "k9";
	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	row[0].is_null = 1;
	/* 59 bytes, then a two-byte character across the 60-byte cut */
	memset(key, 'k', 59);
	snprintf(key + 59, sizeof(key) - 59, "\xc3\xa9z");
	row[1].text = key;
	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(g.n, 2);
	CU_ASSERT_FATAL(g.r[0].origin && g.r[1].origin);
	CU_ASSERT_STRING_EQUAL(g.r[0].origin,
			       "the row with t=2026-01-02T03:00:00.000000000Z, key=k9");
	key[59] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(g.r[1].origin, "the row with t=NULL, key=kkkkk"));
	CU_ASSERT_STRING_EQUAL(strstr(g.r[1].origin, "key=") + 4, key);
	/* control bytes (a terminal's escapes, a line break) are shown as ? */
	row[1].text = "a\nb\x1b[2Jc\x7f";
	CU_ASSERT_EQUAL(rowmap_emit(m, host_table(), &call, row, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(g.n, 3);
	CU_ASSERT_STRING_EQUAL(g.r[2].origin, "the row with t=NULL, key=a?b?[2Jc?");
	got_clear(&g);
	rowmap_free(m);
}

static void test_cursor_tuple_skips_rows_at_or_before_it(void)
{
	static const struct rm_column cols[] = {{"T", RM_TIMESTAMP}, {"ID", RM_NUMBER}};
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	struct rm_cell row[2];
	char err[512], *text;

	memset(row, 0, sizeof(row));
	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, cols, 2, err, sizeof(err)), 0);
	/* the saved tuple, written with another offset: compared as an instant */
	CU_ASSERT_EQUAL_FATAL(rowmap_cursor_set(m, "[\"2026-01-02T04:00:00+01:00\", \"9\"]", err,
						sizeof(err)), 0);
	row[0].sec = 1767322800; /* 03:00:00Z, the same instant */
	row[1].text = "9";
	CU_ASSERT(!rowmap_row_is_new(m, row));
	row[1].text = "10"; /* numerically after 9 */
	CU_ASSERT(rowmap_row_is_new(m, row));
	row[1].text = "8";
	CU_ASSERT(!rowmap_row_is_new(m, row));
	row[0].nsec = 1; /* a nanosecond later: new whatever the id */
	CU_ASSERT(rowmap_row_is_new(m, row));

	/* the remembered tuple is the checkpoint text */
	CU_ASSERT_EQUAL(rowmap_remember(m, row), 0);
	CU_ASSERT_EQUAL(rowmap_cmp_remembered(m, row), 0);
	text = rowmap_remembered_text(m);
	CU_ASSERT_STRING_EQUAL(text, "[\"2026-01-02T03:00:00.000000001Z\",\"8\"]");
	free(text);
	text = rowmap_cursor_first("[\"2026-01-02T03:00:00.000000001Z\",\"8\"]");
	CU_ASSERT_STRING_EQUAL(text, "2026-01-02T03:00:00.000000001Z");
	free(text);
	text = rowmap_cursor_first("2026-01-01");
	CU_ASSERT_STRING_EQUAL(text, "2026-01-01");
	free(text);

	/* a saved tuple that does not fit is refused */
	CU_ASSERT_EQUAL(rowmap_cursor_set(m, "[\"a\", \"b\", \"c\"]", err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(rowmap_cursor_set(m, "[\"2026-01-02T03:00:00Z\", \"9\", \"10\"]", err,
					  sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not fit the cursor columns (2)"));
	CU_ASSERT_EQUAL(rowmap_cursor_set(m, "[\"not a time\"]", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "run once with --full"));
	/* a shorter one (a cursor column added since): ties count as new */
	CU_ASSERT_EQUAL(rowmap_cursor_set(m, "\"2026-01-02T03:00:00.000000001Z\"", err,
					  sizeof(err)), 0);
	CU_ASSERT(rowmap_row_is_new(m, row));
	rowmap_free(m);
}

/* A saved cursor reads as its columns' types or is refused (run once
 * with --full): no value at all, "" as a FLOAT, a BOOL other than true or
 * false. */
static void test_a_saved_cursor_must_read_as_its_columns_types(void)
{
	static const struct rm_column cols[] = {{"F", RM_FLOAT}, {"B", RM_BOOL}};
	static const struct {
		const char *cursor;
		int rc;
	} rows[] = {
		{"[\"1.5\", \"true\"]", 0},
		{"[\"-2e3\", \"false\"]", 0},
		{"[\"1.5\"]", 0},
		{"[]", -1},
		{"[\"\"]", -1},
		{"[\"1.5\", \"maybe\"]", -1},
		{"[\"1.5\", \"\"]", -1},
	};
	struct rowmap *m = map_new("{\"custom_id\": \"b\"}", "erase", "[\"f\", \"b\"]");
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, cols, 2, err, sizeof(err)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(rowmap_cursor_set(m, rows[i].cursor, err, sizeof(err)), rows[i].rc);
		if (rows[i].rc)
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "run once with --full"));
	}
	CU_ASSERT_EQUAL(rowmap_cursor_set(m, "[]", err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "the saved cursor [] does not fit the cursor columns (2): "
				    "run once with --full");
	rowmap_free(m);
}

/* FLOAT and BOOL cursor values compare as values (false before true), and
 * a tie in them goes on to the next cursor column. */
static void test_float_and_bool_cursor_values_compare_as_values(void)
{
	static const struct rm_column cols[] = {
		{"F", RM_FLOAT}, {"B", RM_BOOL}, {"ID", RM_NUMBER},
	};
	static const struct {
		const char *cursor; /* saved */
		double f;
		int b;
		const char *id;
		int is_new;
	} rows[] = {
		{"[\"1.5\", \"false\", \"7\"]", 1.5, 0, "8", 1},
		{"[\"1.5\", \"false\", \"7\"]", 1.5, 0, "7", 0},
		{"[\"1.5\", \"false\", \"7\"]", 1.5, 1, "1", 1},
		{"[\"1.5\", \"false\", \"7\"]", 2.0, 0, "1", 1},
		{"[\"1.5\", \"false\", \"7\"]", 1.25, 1, "9", 0},
		{"[\"1.5\", \"true\", \"7\"]", 1.5, 0, "9", 0},
		{"[\"1.5\", \"true\", \"7\"]", 1.5, 1, "8", 1},
	};
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"f\", \"b\", \"id\"]");
	struct rm_cell row[3];
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, cols, 3, err, sizeof(err)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		memset(row, 0, sizeof(row));
		row[0].f = rows[i].f;
		row[1].b = rows[i].b;
		row[2].text = rows[i].id;
		CU_ASSERT_EQUAL_FATAL(rowmap_cursor_set(m, rows[i].cursor, err, sizeof(err)), 0);
		if (rowmap_row_is_new(m, row) != rows[i].is_new) {
			fprintf(stderr, "\n  row %zu: want is_new %d\n", i, rows[i].is_new);
			CU_FAIL("wrong order");
		}
	}
	rowmap_free(m);
}

/* A map whose cursor is (t TIMESTAMP, id NUMBER), bound. */
static struct rowmap *map_t_id_bound(void)
{
	static const struct rm_column cols[] = {{"T", RM_TIMESTAMP}, {"ID", RM_NUMBER}};
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, cols, 2, err, sizeof(err)), 0);
	return m;
}

/* Where a result puts a column's NULLs is shown only by a NULL beside a
 * value with equal columns before it, and the first such pair decides;
 * the saved tuple's skipping never uses it: a NULL beside its value is
 * new, whatever this result showed. */
static void test_the_first_null_beside_an_equal_prefix_decides_where_nulls_sort(void)
{
	struct rowmap *m = map_t_id_bound();
	struct rm_cell row[2];
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_cursor_set(m, "[\"1970-01-01T00:05:00Z\", \"5\"]", err,
						sizeof(err)), 0);
	memset(row, 0, sizeof(row));
	row[0].sec = 100;
	row[1].text = "5";
	CU_ASSERT_EQUAL(rowmap_remember(m, row), 0);
	/* another time: says nothing of the id's NULLs */
	row[0].sec = 200;
	row[1].is_null = 1;
	CU_ASSERT(rowmap_cmp_remembered(m, row) > 0);
	CU_ASSERT_EQUAL(rowmap_remember(m, row), 0);
	CU_ASSERT_EQUAL(rowmap_cursor_nulls(m, 1), 0);
	/* the same time, then a value: NULLs first */
	row[1].is_null = 0;
	CU_ASSERT(rowmap_cmp_remembered(m, row) > 0);
	CU_ASSERT_EQUAL(rowmap_remember(m, row), 0);
	CU_ASSERT_EQUAL(rowmap_cursor_nulls(m, 1), -1);
	/* a NULL after it is out of order; remembered anyway, NULLs stay first */
	row[1].is_null = 1;
	CU_ASSERT(rowmap_cmp_remembered(m, row) < 0);
	CU_ASSERT_EQUAL(rowmap_remember(m, row), 0);
	CU_ASSERT_EQUAL(rowmap_cursor_nulls(m, 1), -1);
	/* at the saved time (00:05:00), a NULL id is new: NULLs first or not */
	row[0].sec = 300;
	CU_ASSERT(rowmap_row_is_new(m, row));
	row[1].is_null = 0;
	CU_ASSERT(!rowmap_row_is_new(m, row));
	rowmap_free(m);
}

/* The first cursor column where a row differs from the remembered tuple;
 * the last column when none does. */
static void test_first_difference_of_equal_tuples_is_the_last_column(void)
{
	struct rowmap *m = map_t_id_bound();
	struct rm_cell row[2];

	memset(row, 0, sizeof(row));
	row[0].sec = 100;
	row[1].text = "5";
	CU_ASSERT_EQUAL(rowmap_remember(m, row), 0);
	CU_ASSERT_EQUAL(rowmap_cursor_first_difference(m, row), 1);
	row[1].text = "6";
	CU_ASSERT_EQUAL(rowmap_cursor_first_difference(m, row), 1);
	row[0].sec = 99;
	CU_ASSERT_EQUAL(rowmap_cursor_first_difference(m, row), 0);
	rowmap_free(m);
}

static void test_cursor_placeholder_is_rewritten_outside_quotes(void)
{
	enum { SF = RM_SQL_SNOWFLAKE, BQ = RM_SQL_BIGQUERY };
	static const struct {
		int dialect;
		const char *in, *out;
		int n;
	} rows[] = {
		{SF, "SELECT * FROM t WHERE u >= :cursor ORDER BY u",
		 "SELECT * FROM t WHERE u >= ? ORDER BY u", 1},
		{SF, "SELECT ':cursor', \":cursor\" FROM t WHERE u>=:CURSOR",
		 "SELECT ':cursor', \":cursor\" FROM t WHERE u>=?", 1},
		{SF, "SELECT x::cursor, :cursor_2 -- :cursor\nFROM t /* :cursor */ "
		     "WHERE a >= :cursor OR b >= :cursor",
		 "SELECT x::cursor, :cursor_2 -- :cursor\nFROM t /* :cursor */ "
		 "WHERE a >= ? OR b >= ?", 2},
		{SF, "SELECT 'it''s :cursor' FROM t", "SELECT 'it''s :cursor' FROM t", 0},
		/* // is a Snowflake comment to the end of the line (an apostrophe
		 * in one opens no string); inside a string it is text */
		{SF, "SELECT * FROM t // the user's :cursor\nWHERE u >= :cursor",
		 "SELECT * FROM t // the user's :cursor\nWHERE u >= ?", 1},
		{SF, "SELECT 'http://x/:cursor' FROM t WHERE u >= :cursor",
		 "SELECT 'http://x/:cursor' FROM t WHERE u >= ?", 1},
		{SF, "SELECT $$ :cursor $$ FROM t", "SELECT $$ :cursor $$ FROM t", 0},
		/* Snowflake keeps its rules: # is no comment, "" doubles in a name */
		{SF, "SELECT a#b FROM t WHERE u >= :cursor", "SELECT a#b FROM t WHERE u >= ?", 1},
		{SF, "SELECT \"a\"\":cursor\" FROM t WHERE u >= :cursor",
		 "SELECT \"a\"\":cursor\" FROM t WHERE u >= ?", 1},
		/* a backslash escapes nothing in a Snowflake "name" */
		{SF, "SELECT \"a\\\" FROM t WHERE u >= :cursor",
		 "SELECT \"a\\\" FROM t WHERE u >= ?", 1},
		/* BigQuery: # comments (an apostrophe in one opens no string) */
		{BQ, "SELECT * FROM t # the user's rows\nWHERE u >= :cursor",
		 "SELECT * FROM t # the user's rows\nWHERE u >= @cursor", 1},
		{BQ, "SELECT * FROM t -- it's :cursor\nWHERE u >= :cursor # :cursor",
		 "SELECT * FROM t -- it's :cursor\nWHERE u >= @cursor # :cursor", 1},
		/* backslash escapes in both quotes end no string early */
		{BQ, "SELECT 'it\\'s', \"say \\\"hi\\\"\" FROM t WHERE u >= :cursor",
		 "SELECT 'it\\'s', \"say \\\"hi\\\"\" FROM t WHERE u >= @cursor", 1},
		{BQ, "SELECT \"a\\\"b :cursor\" FROM t WHERE u >= :cursor",
		 "SELECT \"a\\\"b :cursor\" FROM t WHERE u >= @cursor", 1},
		{BQ, "SELECT r'\\' :cursor' FROM t WHERE u >= :cursor",
		 "SELECT r'\\' :cursor' FROM t WHERE u >= @cursor", 1},
		/* `names`, triple-quoted strings */
		{BQ, "SELECT `it's`, `:cursor` FROM `p.d.t` WHERE u >= :cursor",
		 "SELECT `it's`, `:cursor` FROM `p.d.t` WHERE u >= @cursor", 1},
		{BQ, "SELECT '''it's ' :cursor''', \"\"\"a \" :cursor\n\"\"\" "
		     "FROM t WHERE u >= :cursor",
		 "SELECT '''it's ' :cursor''', \"\"\"a \" :cursor\n\"\"\" "
		 "FROM t WHERE u >= @cursor", 1},
		{BQ, "SELECT '' AS e, \"\" AS f FROM t WHERE u >= :cursor /* :cursor */",
		 "SELECT '' AS e, \"\" AS f FROM t WHERE u >= @cursor /* :cursor */", 1},
		/* $$ is no BigQuery quote */
		{BQ, "SELECT '$$' FROM t WHERE u >= :cursor",
		 "SELECT '$$' FROM t WHERE u >= @cursor", 1},
	};
	char err[256];
	int n;

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *ph = rows[i].dialect == BQ ? "@cursor" : "?";
		char *q = rowmap_query_rewrite(rows[i].in, ph, (enum rm_dialect)rows[i].dialect, &n,
					       err, sizeof(err));
		CU_ASSERT_PTR_NOT_NULL_FATAL(q);
		CU_ASSERT_STRING_EQUAL(q, rows[i].out);
		CU_ASSERT_EQUAL(n, rows[i].n);
		if (strcmp(q, rows[i].out) != 0 || n != rows[i].n)
			fprintf(stderr, "\n  row %zu: %s (%d)\n", i, q, n);
		free(q);
	}
	CU_ASSERT_PTR_NULL(rowmap_query_rewrite("SELECT * FROM t WHERE a = ?", "?",
						RM_SQL_SNOWFLAKE, &n, err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "query: has a \"?\" placeholder; use :cursor");
	CU_ASSERT_PTR_NULL(rowmap_query_rewrite("SELECT * FROM t WHERE a = ?", "@cursor",
						RM_SQL_BIGQUERY, &n, err, sizeof(err)));
}

/* What ends a query (whitespace, semicolons, comments) is left out when it
 * is wrapped in a subquery; quotes and comments inside it stay. */
static void test_query_trimmed_len_leaves_out_what_ends_it(void)
{
	static const struct {
		const char *in, *kept;
	} rows[] = {
		{"SELECT 1", "SELECT 1"},
		{"SELECT 1;", "SELECT 1"},
		{"SELECT 1 ; \n;\t", "SELECT 1"},
		{"SELECT 1 -- newest last", "SELECT 1"},
		{"SELECT 1 -- a;\n/* b */ ;\n-- c", "SELECT 1"},
		{"SELECT 1; -- done", "SELECT 1"},
		{"SELECT '--;' FROM t", "SELECT '--;' FROM t"},
		{"SELECT \"a;\" FROM t -- x", "SELECT \"a;\" FROM t"},
		{"SELECT $$ ; $$", "SELECT $$ ; $$"},
		{"SELECT 1 /* ; */ + 2;", "SELECT 1 /* ; */ + 2"},
		{"SELECT 1 // newest last; it's", "SELECT 1"},
		{"SELECT 1; // a\n-- b", "SELECT 1"},
		{"  ; -- nothing", ""},
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		size_t n = rowmap_query_trimmed_len(rows[i].in, RM_SQL_SNOWFLAKE);
		CU_ASSERT_EQUAL(n, strlen(rows[i].kept));
		CU_ASSERT_EQUAL(strncmp(rows[i].in, rows[i].kept, strlen(rows[i].kept)), 0);
	}
	/* BigQuery's # comment ends a query too */
	CU_ASSERT_EQUAL(rowmap_query_trimmed_len("SELECT 1 # newest last; it's", RM_SQL_BIGQUERY),
			strlen("SELECT 1"));
}

/* ---- the pull loop over a scripted transport ------------------------------------------------ */

/* A table ordered by (t, id); open() and next() apply `t >= param OR t IS
 * NULL` like the query.  T_NULL: a NULL t. */
struct trow {
	int64_t t;
	const char *id;
};

#define T_NULL INT64_MIN

static const struct trow table[] = {
	{100, "1"}, {100, "2"}, {200, "3"}, {200, "4"}, {200, "5"}, {200, "6"},
	{300, "7"}, {400, "8"}, {400, "9"},
};

struct script {
	size_t n_rows; /* rows of the table that exist now */
	const struct trow *rows; /* NULL: table */
	int is_id_string;        /* the ID column is a STRING (2: BYTES), else a NUMBER */
	size_t pos;
	int64_t from;
	int n_opens, n_closes;
	char last_param[64];
	struct rm_cell cells[2];
	size_t cut_at;           /* the read of row cut_at (1-based) is cut by a stop */
	atomic_int *stop;        /* set then, as the hub's stop request */
};

static hub_rc script_open(void *t, struct rowmap *m, const char *param, size_t hint, char *err,
			  size_t err_size)
{
	static const struct rm_column num_cols[] = {{"T", RM_TIMESTAMP}, {"ID", RM_NUMBER}};
	static const struct rm_column str_cols[] = {{"T", RM_TIMESTAMP}, {"ID", RM_STRING}};
	static const struct rm_column bytes_cols[] = {{"T", RM_TIMESTAMP}, {"ID", RM_BYTES}};
	struct script *s = t;
	int64_t from = 0;
	int32_t ns;

	(void)hint;
	s->n_opens++;
	snprintf(s->last_param, sizeof(s->last_param), "%s", param ? param : "(epoch)");
	if (param)
		CU_ASSERT_EQUAL_FATAL(rm_time_parse(param, &from, &ns), 0);
	s->pos = 0;
	s->from = from;
	return rowmap_bind(m, s->is_id_string == 2 ? bytes_cols : s->is_id_string ? str_cols
									      : num_cols,
			   2, err, err_size)
		       ? HUB_ERR_CONFIG
		       : HUB_OK;
}

static hub_rc script_next(void *t, const struct rm_cell **row, char *err, size_t err_size)
{
	struct script *s = t;
	const struct trow *rows = s->rows ? s->rows : table;

	while (s->pos < s->n_rows && rows[s->pos].t != T_NULL && rows[s->pos].t < s->from)
		s->pos++;
	if (s->pos >= s->n_rows)
		return HUB_OK;
	if (s->cut_at && s->pos + 1 == s->cut_at) { /* a transfer the stop ended */
		atomic_store(s->stop, 1);
		snprintf(err, err_size, "stopped while reading");
		return HUB_ERR_STOPPED;
	}
	memset(s->cells, 0, sizeof(s->cells));
	s->cells[0].sec = rows[s->pos].t;
	s->cells[0].is_null = rows[s->pos].t == T_NULL;
	s->cells[1].text = rows[s->pos].id;
	s->cells[1].is_null = !rows[s->pos].id;
	s->pos++;
	*row = s->cells;
	return HUB_MORE;
}

static void script_close(void *t)
{
	struct script *s = t;

	s->n_closes++;
}

static const struct rp_reader_ops script_ops = {script_open, script_next, script_close};

static void test_pages_end_between_different_cursor_tuples(void)
{
	/* cursor on t alone: ties must stay on one page */
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "\"t\"");
	struct script s = {.n_rows = 9};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[512];

	/* budget 3: rows 1, 2, 3, then 4..6 share t = 200 with 3: the page
	 * takes them too and ends before 7 */
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 3, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_EQUAL(g.n, 6);
	CU_ASSERT_EQUAL_FATAL(g.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(g.cursors[0], "[\"1970-01-01T00:03:20.000000000Z\"]");
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, g.cursors[0], 3, err, sizeof(err)), HUB_OK);
	CU_ASSERT_STRING_EQUAL(g.r[6].ids, "custom_id=7");
	CU_ASSERT_EQUAL(g.n, 9); /* 7, 8, 9: the end of the result */
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);

	/* with (t, id) a page may end anywhere, and resuming loses nothing */
	m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	rp.map = m;
	s.n_opens = 0;
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 3, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_STRING_EQUAL(g.cursors[0], "[\"1970-01-01T00:03:20.000000000Z\",\"3\"]");
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, g.cursors[0], 3, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_EQUAL(s.n_opens, 1); /* the same result, still open */
	/* a retry from the first cursor runs the query again and skips 3 */
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, g.cursors[0], 100, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(s.n_opens, 2);
	CU_ASSERT_STRING_EQUAL(s.last_param, "1970-01-01T00:03:20.000000000Z");
	CU_ASSERT_EQUAL(g.n, 3 + 3 + 6);
	CU_ASSERT_STRING_EQUAL(g.r[6].ids, "custom_id=4");
	CU_ASSERT_STRING_EQUAL(g.cursors[2], "[\"1970-01-01T00:06:40.000000000Z\",\"9\"]");
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);
}

/* Rows tied on the whole cursor (t alone, 4..6 share t = 200) say once
 * that a row written later with the saved t would be skipped, naming the
 * value and a unique last column; a unique tuple (t, id) says nothing. */
static void test_a_cursor_not_unique_per_row_is_warned_once(void)
{
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "\"t\"");
	struct script s = {.n_rows = 9};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct got g = {0};
	struct hub_call call = call_for(&g);
	struct testlib_capture cap;
	char err[512], *log;

	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 100, err, sizeof(err)), HUB_OK);
	rowpull_close(&rp);
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 100, err, sizeof(err)), HUB_OK);
	log = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "two rows share the cursor value t = "
						"\"1970-01-01T00:01:40.000000000Z\""), 1);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "cursor: [t, <unique column>]"), 1);
	free(log);
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);

	m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	memset(&rp, 0, sizeof(rp));
	rp = (struct rowpull){.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 3, err, sizeof(err)), HUB_MORE);
	rowpull_close(&rp);
	/* resumed at a saved tuple, whose row the query's >= reads again */
	CU_ASSERT_FATAL(g.n > 0 && g.cursors[0] != NULL);
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, g.cursors[0], 100, err, sizeof(err)), HUB_OK);
	log = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(testlib_lines_with(log, "share the cursor value"), 0);
	free(log);
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);
}

/* The next pull reads on in the open result when it comes with its
 * checkpoint within 30 s of the last pull; later, the query runs again
 * from the cursor; a pull without a cursor (a first or --full sync) always
 * runs it again. */
static void test_an_open_result_is_read_on_for_30_s_after_its_checkpoint(void)
{
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	struct script s = {.n_rows = 9};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[512];

	host_set_fixed_now_ms(1767225600000);
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 2, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_EQUAL_FATAL(g.n_cursors, 1);
	host_set_fixed_now_ms(1767225600000 + 30000); /* the last moment it is read on */
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, g.cursors[0], 2, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_EQUAL(s.n_opens, 1);
	CU_ASSERT_EQUAL_FATAL(g.n_cursors, 2);
	host_set_fixed_now_ms(1767225600000 + 60001); /* 30,001 ms after the last pull */
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, g.cursors[1], 2, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_EQUAL(s.n_opens, 2);
	CU_ASSERT_EQUAL(s.n_closes, 1);
	CU_ASSERT_EQUAL_FATAL(g.n, 6); /* rows 1..6, none twice */
	CU_ASSERT_STRING_EQUAL(g.r[5].ids, "custom_id=6");
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 2, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_EQUAL(s.n_opens, 3);
	CU_ASSERT_EQUAL_FATAL(g.n, 8);
	CU_ASSERT_STRING_EQUAL(g.r[6].ids, "custom_id=1");
	host_set_fixed_now_ms(0);
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);
}

/* A stop asked ends the page at the next tuple boundary, whatever the
 * budget left: the rows emitted are checkpointed, the rest read later. */
static void test_a_stop_ends_the_page_at_the_next_boundary(void)
{
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "\"t\"");
	struct script s = {.n_rows = 9};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct got g = {0};
	struct hub_call call = call_for(&g);
	atomic_int stop = 1;
	char err[512];

	call.stop = &stop;
	/* rows 1 and 2 share t = 100: the page ends before row 3 */
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 100, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_EQUAL(g.n, 2);
	CU_ASSERT_EQUAL_FATAL(g.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(g.cursors[0], "[\"1970-01-01T00:01:40.000000000Z\"]");
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);
}

/* One pull from `cursor` whose transport is stopped as it reads row
 * cut_at (0: never): its answer, *g holding what it emitted and
 * checkpointed. */
static hub_rc pull_cut(const char *cursor, size_t cut_at, struct got *g)
{
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "\"t\"");
	atomic_int stop = 0;
	struct script s = {.n_rows = 9, .cut_at = cut_at, .stop = &stop};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct hub_call call = call_for(g);
	char err[512];
	hub_rc rc;

	call.stop = &stop;
	rc = rowpull_pull(&rp, &call, cursor, 100, err, sizeof(err));
	if (cut_at)
		CU_ASSERT_EQUAL(s.n_closes, 1); /* a cut result is not read on */
	rowpull_close(&rp);
	rowmap_free(m);
	return rc;
}

/* A stop that cuts the transport's read (a page in transit, dropped)
 * keeps the rows the pull emitted before it: checkpointed at the tuple
 * before the last one (rows tied with the last may be among those not
 * read), which the next run reads on from, so only the last tuple's rows
 * are read again; with no such tuple past the saved cursor, they are kept
 * without a checkpoint; with none emitted, the pull is stopped. */
static void test_a_stop_mid_read_keeps_the_rows_emitted(void)
{
	struct got g = {0};

	/* rows 1..5 (t 100, 100, 200, 200, 200): t = 200 may go on in row 6 */
	CU_ASSERT_EQUAL(pull_cut(NULL, 6, &g), HUB_MORE);
	CU_ASSERT_EQUAL(g.n, 5);
	CU_ASSERT_EQUAL_FATAL(g.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(g.cursors[0], "[\"1970-01-01T00:01:40.000000000Z\"]");
	/* the next run: rows 3..9, none lost; 3..5 again (duplicates to the hub) */
	CU_ASSERT_EQUAL(pull_cut(g.cursors[0], 0, &g), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(g.n, 12);
	CU_ASSERT_STRING_EQUAL(g.r[5].ids, "custom_id=3");
	CU_ASSERT_STRING_EQUAL(g.r[11].ids, "custom_id=9");
	got_clear(&g);
	/* rows 1 and 2 share t = 100: kept, no checkpoint */
	CU_ASSERT_EQUAL(pull_cut(NULL, 3, &g), HUB_MORE);
	CU_ASSERT_EQUAL(g.n, 2);
	CU_ASSERT_EQUAL(g.n_cursors, 0);
	got_clear(&g);
	/* nothing emitted: the stop as it was */
	CU_ASSERT_EQUAL(pull_cut(NULL, 1, &g), HUB_ERR_STOPPED);
	CU_ASSERT_EQUAL(g.n + g.n_cursors, 0);
	/* from the saved t = 200: rows 3..6 skipped, 7 emitted; the tuple
	 * before it is the saved one, never checkpointed again (nor one before
	 * it: a cursor going back) */
	CU_ASSERT_EQUAL(pull_cut("[\"1970-01-01T00:03:20.000000000Z\"]", 8, &g), HUB_MORE);
	CU_ASSERT_EQUAL(g.n, 1);
	CU_ASSERT_EQUAL(g.n_cursors, 0);
	got_clear(&g);
	/* 7 and 8 emitted: t = 300 is whole */
	CU_ASSERT_EQUAL(pull_cut("[\"1970-01-01T00:03:20.000000000Z\"]", 9, &g), HUB_MORE);
	CU_ASSERT_EQUAL(g.n, 2);
	CU_ASSERT_EQUAL_FATAL(g.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(g.cursors[0], "[\"1970-01-01T00:05:00.000000000Z\"]");
	got_clear(&g);
}

static hub_rc refuse_id_2(struct hub_call *call, const struct hub_record *rec, char *err,
			  size_t err_size)
{
	if (rec->n_identifiers && strcmp(rec->identifiers[0].value, "2") == 0) {
		snprintf(err, err_size, "refused");
		return HUB_ERR_DATA;
	}
	return got_emit(call, rec, err, err_size);
}

/* A row the hub refuses (HUB_ERR_DATA: counted as rejected) does not end
 * the pull: the rows after it are emitted and checkpointed. */
static void test_a_refused_row_does_not_end_the_pull(void)
{
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	struct script s = {.n_rows = 4};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[512];

	call.on_emit = refuse_id_2;
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 10, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(g.n, 3);
	CU_ASSERT_STRING_EQUAL(g.r[1].ids, "custom_id=3");
	CU_ASSERT_EQUAL_FATAL(g.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(g.cursors[0], "[\"1970-01-01T00:03:20.000000000Z\",\"4\"]");
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);
}

/* A saved cursor that is not this plugin's is refused before the query
 * runs; one whose first value reads but which does not fit the cursor
 * columns (three values for two) is refused after, and its result closed. */
static void test_a_saved_cursor_that_does_not_fit_runs_nothing_and_closes_the_result(void)
{
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	struct script s = {.n_rows = 9};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[512];

	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, "{\"offset\": 12}", 2, err, sizeof(err)),
			HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not a cursor of this plugin: run once with --full"));
	CU_ASSERT_EQUAL(s.n_opens, 0);
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, "[\"1970-01-01T00:01:40Z\", \"1\", \"2\"]", 2, err,
				     sizeof(err)),
			HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "run once with --full"));
	CU_ASSERT_EQUAL(s.n_opens, 1);
	CU_ASSERT_EQUAL(s.n_closes, 1);
	CU_ASSERT_EQUAL(g.n, 0);
	rowpull_close(&rp);
	CU_ASSERT_EQUAL(s.n_closes, 1);
	rowmap_free(m);
}

static void test_a_page_boundary_tie_still_resumes_exactly(void)
{
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	struct script s = {.n_rows = 4}; /* rows 1..4; 5, 6 (t 200) arrive later */
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[512], cur[128];

	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 10, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(g.n, 4);
	snprintf(cur, sizeof(cur), "%s", g.cursors[0]);
	CU_ASSERT_STRING_EQUAL(cur, "[\"1970-01-01T00:03:20.000000000Z\",\"4\"]");
	got_clear(&g);
	/* late rows with the cursor's own timestamp: picked up, nothing repeated */
	s.n_rows = 9;
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, cur, 10, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(g.n, 5);
	CU_ASSERT_STRING_EQUAL(g.r[0].ids, "custom_id=5");
	CU_ASSERT_STRING_EQUAL(g.r[4].ids, "custom_id=9");
	CU_ASSERT_EQUAL_FATAL(g.n_cursors, 1);
	snprintf(cur, sizeof(cur), "%s", g.cursors[0]);
	got_clear(&g);
	/* nothing new: no checkpoint at all (the rows read again, all at or
	 * before the cursor, never give one) */
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, cur, 10, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(g.n, 0);
	CU_ASSERT_EQUAL(g.n_cursors, 0);
	/* a budget of 0 is a page of one row */
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 0, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_EQUAL(g.n, 1);
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);
}

/* The rows of a text id in a locale collation's order (lower case first,
 * as ICU sorts them), not in byte order, where "B" sorts before "a". */
static const struct trow icu_rows[] = {{100, "a"}, {100, "b"}, {100, "B"}, {100, "c"}};

static void test_rows_out_of_cursor_order_fail_rather_than_be_skipped(void)
{
	static const char want[] =
		"the query's rows are not in cursor order: cursor column id went from \"b\" back "
		"to \"B\".  The query must ORDER BY the cursor columns (t, id) ascending, strings "
		"in byte order, in ORDER BY and in the comparison with :cursor (PostgreSQL: id "
		"COLLATE \"C\"; Snowflake: COLLATE(id, 'utf8'); BigQuery: no collation, or CAST(id "
		"AS BYTES)), or rows are skipped";
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	struct script s = {.n_rows = ARRAY_SIZE(icu_rows), .rows = icu_rows, .is_id_string = 1};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[1024] = "";

	/* a run stopped after "b": the rerun skips "a" and "b", and "B" is at
	 * or before the saved ["100", "b"] bytewise: it would be skipped, lost */
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, "[\"1970-01-01T00:01:40Z\",\"b\"]", 10, err,
				     sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_EQUAL(g.n, 0);
	CU_ASSERT_EQUAL(g.n_cursors, 0);
	CU_ASSERT_FALSE(rp.is_open); /* the next pull runs the query again */

	/* in one pass: "a", "b" were emitted, but the page is never
	 * checkpointed, so the hub drops it (see the sync test below) */
	err[0] = '\0';
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 10, err, sizeof(err)), HUB_ERR_CONFIG);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_EQUAL(g.n, 2);
	CU_ASSERT_EQUAL(g.n_cursors, 0);
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);
}

/*
 * BYTES cursor values (BigQuery's, base64 text) compare by their bytes, as
 * `ORDER BY k` sorts them: base64 does not ("/A==" is 0xfc, "gA==" 0x80,
 * but '/' < 'g').  As text, rows in byte order failed as out of order, and
 * rows after a saved cursor whose row is gone were skipped.
 */
static void test_bytes_cursor_values_compare_by_their_bytes(void)
{
	static const struct {
		const char *a, *b;
		int cmp;
	} cmps[] = {
		{"gA==", "/A==", -1}, /* 0x80 < 0xfc */
		{"AA==", "", 1},      /* a prefix first */
		{"AAE=", "AA==", 1},  {"AAEC", "AAE=", 1}, {"AAEC/w==", "AAEC/w==", 0},
		{"QQ==", "QQ==", 0},  {"/w==", "gA==", 1}, {"+/8=", "/w==", -1}, /* fb ff < ff */
		{"not base64", "/w==", 1}, {"not base64", "not base64", 0}, {"x", "y", -1},
		{"A===", "/w==", 1}, /* three pads: not base64 */
	};
	/* t = 100: bytes 00, 41, 80, fc, in byte order */
	static const struct trow rows[] = {{100, "AA=="}, {100, "QQ=="}, {100, "gA=="},
					   {100, "/A=="}};
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	struct script s = {.n_rows = ARRAY_SIZE(rows), .rows = rows, .is_id_string = 2};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[1024] = "";

	for (size_t i = 0; i < ARRAY_SIZE(cmps); i++) {
		int c = rm_base64_cmp(cmps[i].a, cmps[i].b);
		CU_ASSERT_EQUAL(c < 0 ? -1 : c > 0, cmps[i].cmp);
		c = rm_base64_cmp(cmps[i].b, cmps[i].a);
		CU_ASSERT_EQUAL(c < 0 ? -1 : c > 0, -cmps[i].cmp);
	}
	/* a first sync of rows in byte order */
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 10, err, sizeof(err)), HUB_OK);
	if (err[0])
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_EQUAL(g.n, 4);
	CU_ASSERT_EQUAL_FATAL(g.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(g.cursors[0], "[\"1970-01-01T00:01:40.000000000Z\",\"/A==\"]");
	got_clear(&g);
	/* the saved row (0x7f, "fw==") is gone: 0x80 and 0xfc are after it */
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, "[\"1970-01-01T00:01:40Z\",\"fw==\"]", 10, err,
				     sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(g.n, 2);
	CU_ASSERT_STRING_EQUAL(g.r[0].ids, "custom_id=gA==");
	CU_ASSERT_STRING_EQUAL(g.r[1].ids, "custom_id=/A==");
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);
}

/*
 * A cursor time outside years 0000..9999 (Snowflake's epoch seconds and
 * BigQuery's TIMESTAMP cells reach about 292,000 years) fails the pull
 * before its checkpoint: its text has a five-digit year that
 * rm_time_parse() never reads back, so it failed every later sync, and
 * --full wrote it again.  9999-12-31T23:59:59 is still a cursor.
 */
static void test_a_cursor_time_past_year_9999_fails_before_its_checkpoint(void)
{
	static const struct trow late[] = {{100, "1"}, {253402300799LL, "2"},
					   {253402300800LL, "3"}};
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	struct script s = {.n_rows = ARRAY_SIZE(late), .rows = late};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct got g = {0};
	struct hub_call call = call_for(&g);
	struct rm_cell row[2];
	char err[1024] = "";

	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 10, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_STRING_EQUAL(err,
			       "cursor column t: the time \"10000-01-01T00:00:00.000000000Z\" "
			       "is outside years 0000..9999, which a saved cursor cannot hold: "
			       "leave such rows out of the query (or correct them)");
	CU_ASSERT_EQUAL(g.n_cursors, 0);
	CU_ASSERT_FALSE(rp.is_open);
	got_clear(&g);
	/* the last second of 9999 is a cursor that reads back */
	s.n_rows = 2;
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 10, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(g.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(g.cursors[0], "[\"9999-12-31T23:59:59.000000000Z\",\"2\"]");
	CU_ASSERT_EQUAL(rowmap_cursor_set(m, g.cursors[0], err, sizeof(err)), 0);
	got_clear(&g);
	rowpull_close(&rp);
	/* before year 0000 alike; a NULL first value is never a checkpoint */
	memset(row, 0, sizeof(row));
	row[1].text = "1";
	row[0].sec = -62167219201LL;
	CU_ASSERT_EQUAL(rowmap_row_cursor_out_of_range(m, row), 0);
	row[0].sec = -62167219200LL; /* 0000-01-01T00:00:00Z */
	CU_ASSERT_EQUAL(rowmap_row_cursor_out_of_range(m, row), -1);
	row[0].is_null = 1;
	CU_ASSERT_EQUAL(rowmap_row_cursor_out_of_range(m, row), -1);
	rowmap_free(m);
}

/*
 * A float cursor value that is NaN fails the pull before its checkpoint:
 * NaN compares equal to every value (rows after it looked tied with it),
 * and its checkpoint text "nan" matches no row in a warehouse's WHERE.
 * Infinities order and read back, so they stay cursors.
 */
static void test_a_cursor_float_nan_fails_before_its_checkpoint(void)
{
	static const struct rm_column cols[] = {{"F", RM_FLOAT}, {"ID", RM_STRING}};
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"f\", \"id\"]");
	struct rm_cell row[2];
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, cols, 2, err, sizeof(err)), 0);
	memset(row, 0, sizeof(row));
	row[1].text = "1";
	row[0].f = NAN;
	CU_ASSERT_EQUAL(rowmap_row_cursor_out_of_range(m, row), 0);
	{
		struct rowpull rp = {.map = m};
		CU_ASSERT_EQUAL(range_failed(&rp, row, 0, err, sizeof(err)), HUB_ERR_DATA);
		CU_ASSERT_STRING_EQUAL(err, "cursor column f: NaN has no order, so a sync cannot "
					    "resume after it: leave such rows out of the query (or "
					    "correct them)");
	}
	row[0].f = 1.5;
	CU_ASSERT_EQUAL(rowmap_row_cursor_out_of_range(m, row), -1);
	row[0].f = INFINITY;
	CU_ASSERT_EQUAL(rowmap_row_cursor_out_of_range(m, row), -1);
	row[0].f = NAN;
	row[0].is_null = 1; /* a NULL first value is never a checkpoint */
	CU_ASSERT_EQUAL(rowmap_row_cursor_out_of_range(m, row), -1);
	rowmap_free(m);
}

/* The same for a decimal (NUMBER) cursor: PostgreSQL's NUMERIC holds
 * "NaN", which compared equal to every value and was blamed on the next
 * column's order ("cursor column id went from 10 back to 2"). */
static void test_a_cursor_decimal_nan_fails_before_its_checkpoint(void)
{
	static const struct rm_column cols[] = {{"V", RM_NUMBER}, {"ID", RM_STRING}};
	static const char *const ordered[] = {"1", "-0.50", "Infinity", "-Infinity", "1e5"};
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"v\", \"id\"]");
	struct rm_cell row[2];
	char err[512];

	CU_ASSERT_EQUAL_FATAL(rowmap_bind(m, cols, 2, err, sizeof(err)), 0);
	memset(row, 0, sizeof(row));
	row[1].text = "1";
	row[0].text = "NaN";
	CU_ASSERT_EQUAL(rowmap_row_cursor_out_of_range(m, row), 0);
	{
		struct rowpull rp = {.map = m};
		CU_ASSERT_EQUAL(range_failed(&rp, row, 0, err, sizeof(err)), HUB_ERR_DATA);
		CU_ASSERT_STRING_EQUAL(err, "cursor column v: NaN has no order, so a sync cannot "
					    "resume after it: leave such rows out of the query (or "
					    "correct them)");
	}
	for (size_t i = 0; i < sizeof(ordered) / sizeof(ordered[0]); i++) {
		row[0].text = ordered[i];
		CU_ASSERT_EQUAL(rowmap_row_cursor_out_of_range(m, row), -1);
	}
	rowmap_free(m);
}

/*
 * A cursor text that is not UTF-8 ("caf\xe9", Latin-1) fails the pull
 * before its checkpoint, naming the column: the checkpoint (JSON) never
 * read back, so every later sync failed, and --full wrote it again.  Valid
 * UTF-8 is a cursor that reads back.
 */
static void test_a_cursor_text_not_utf8_fails_before_its_checkpoint(void)
{
	static const struct trow latin1[] = {{100, "a"}, {200, "caf\xe9"}, {300, "z"}};
	static const struct trow utf8[] = {{100, "a"}, {200, "caf\xc3\xa9"}};
	struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
	struct script s = {.n_rows = ARRAY_SIZE(latin1), .rows = latin1, .is_id_string = 1};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct got g = {0};
	struct hub_call call = call_for(&g);
	char err[1024] = "";

	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 10, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_STRING_EQUAL(err,
			       "cursor column id: the value \"caf?\" is not UTF-8, which a "
			       "saved cursor cannot hold: leave such rows out of the query (or "
			       "correct them)");
	CU_ASSERT_EQUAL(g.n_cursors, 0);
	CU_ASSERT_FALSE(rp.is_open);
	got_clear(&g);
	/* from a saved cursor: the same */
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, "[\"1970-01-01T00:01:40.000000000Z\",\"a\"]", 10,
				     err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_EQUAL(g.n_cursors, 0);
	got_clear(&g);
	/* valid UTF-8: the checkpoint reads back */
	s.rows = utf8;
	s.n_rows = ARRAY_SIZE(utf8);
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 10, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(g.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(g.cursors[0],
			       "[\"1970-01-01T00:03:20.000000000Z\",\"caf\xc3\xa9\"]");
	CU_ASSERT_EQUAL(rowmap_cursor_set(m, g.cursors[0], err, sizeof(err)), 0);
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);
	/* the text as the first cursor column: the same */
	rp.map = m = map_new("{\"custom_id\": \"id\"}", "erase", "\"id\"");
	s.rows = latin1;
	s.n_rows = ARRAY_SIZE(latin1);
	CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 10, err, sizeof(err)), HUB_ERR_DATA);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cursor column id: the value \"caf?\" is not UTF-8"));
	CU_ASSERT_EQUAL(g.n_cursors, 0);
	got_clear(&g);
	rowpull_close(&rp);
	rowmap_free(m);
}

/* Other columns: no collation advice.  NULLs in a later cursor column may
 * sort first (BigQuery's ASC) or last (Snowflake's, PostgreSQL's), but on
 * one side: the first NULL next to a value shows which, and the hint
 * names it. */
static void test_out_of_order_messages_fit_the_column(void)
{
	static const struct trow times[] = {{200, "1"}, {100, "2"}};
	static const struct trow nulls_last[] = {{100, "b"}, {100, NULL}, {200, NULL}, {200, "a"}};
	static const struct trow nulls_first[] = {{100, NULL}, {100, "b"}, {200, "a"}, {200, NULL}};
	static const struct trow nulls_between[] = {{100, "b"}, {100, NULL}, {100, "a"}};
	static const struct {
		const struct trow *rows;
		size_t n_rows;
		int is_id_string;
		const char *want;
	} cases[] = {
		{times, 2, 0,
		 "the query's rows are not in cursor order: cursor column t went from "
		 "\"1970-01-01T00:03:20.000000000Z\" back to \"1970-01-01T00:01:40.000000000Z\".  "
		 "The query must ORDER BY the cursor columns (t, id) ascending,"
		 " or rows are skipped"},
		{nulls_last, 4, 1,
		 "the query's rows are not in cursor order: cursor column id went from NULL back "
		 "to \"a\".  The query must ORDER BY the cursor columns (t, id) ascending, strings "
		 "in byte order, in ORDER BY and in the comparison with :cursor (PostgreSQL: id "
		 "COLLATE \"C\"; Snowflake: COLLATE(id, 'utf8'); BigQuery: no collation, or "
		 "CAST(id AS BYTES)), NULLS LAST, or rows are skipped"},
		{nulls_first, 4, 1,
		 "the query's rows are not in cursor order: cursor column id went from \"a\" back "
		 "to NULL.  The query must ORDER BY the cursor columns (t, id) ascending, strings "
		 "in byte order, in ORDER BY and in the comparison with :cursor (PostgreSQL: id "
		 "COLLATE \"C\"; Snowflake: COLLATE(id, 'utf8'); BigQuery: no collation, or "
		 "CAST(id AS BYTES)), NULLS FIRST, or rows are skipped"},
		/* "b" before "a": a NULL between them hides nothing */
		{nulls_between, 3, 1,
		 "the query's rows are not in cursor order: cursor column id went from NULL back "
		 "to \"a\".  The query must ORDER BY the cursor columns (t, id) ascending, strings "
		 "in byte order, in ORDER BY and in the comparison with :cursor (PostgreSQL: id "
		 "COLLATE \"C\"; Snowflake: COLLATE(id, 'utf8'); BigQuery: no collation, or "
		 "CAST(id AS BYTES)), NULLS LAST, or rows are skipped"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
		struct script s = {.n_rows = cases[i].n_rows, .rows = cases[i].rows,
				   .is_id_string = cases[i].is_id_string};
		struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
		struct got g = {0};
		struct hub_call call = call_for(&g);
		char err[1024] = "";

		CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 10, err, sizeof(err)),
				HUB_ERR_CONFIG);
		CU_ASSERT_STRING_EQUAL(err, cases[i].want);
		CU_ASSERT_EQUAL(g.n_cursors, 0);
		got_clear(&g);
		rowpull_close(&rp);
		rowmap_free(m);
	}
}

/* NULLs in the second cursor column, first (BigQuery's ASC) or last
 * (Snowflake's, PostgreSQL's): every row is read, and a pull from the
 * checkpoint reads again only a row whose NULL leaves its place against
 * the saved tuple unknown (the same message_id: a duplicate). */
static void test_nulls_in_a_later_cursor_column_sort_first_or_last(void)
{
	static const struct trow first[] = {{100, NULL}, {100, "2"}, {200, NULL}, {200, "1"}};
	static const struct trow last[] = {{100, "2"}, {100, NULL}, {200, "1"}, {200, NULL}};
	static const struct {
		const struct trow *rows;
		const char *cursor;
		size_t again; /* the row read again */
	} cases[] = {
		{first, "[\"1970-01-01T00:03:20.000000000Z\",\"1\"]", 2},
		{last, "[\"1970-01-01T00:03:20.000000000Z\",null]", 2},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct rowmap *m = map_new("{\"custom_id\": \"id\"}", "erase", "[\"t\", \"id\"]");
		struct script s = {.n_rows = 4, .rows = cases[i].rows};
		struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
		struct got g = {0};
		struct hub_call call = call_for(&g);
		char err[1024] = "";

		CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, NULL, 10, err, sizeof(err)), HUB_OK);
		if (err[0])
			fprintf(stderr, "\n  case %zu: %s\n", i, err);
		CU_ASSERT_EQUAL_FATAL(g.n, 4);
		CU_ASSERT_EQUAL_FATAL(g.n_cursors, 1);
		CU_ASSERT_STRING_EQUAL(g.cursors[0], cases[i].cursor);
		CU_ASSERT_EQUAL(rowpull_pull(&rp, &call, g.cursors[0], 10, err, sizeof(err)),
				HUB_OK);
		CU_ASSERT_EQUAL_FATAL(g.n, 5);
		CU_ASSERT_STRING_EQUAL(g.r[4].message_id, g.r[cases[i].again].message_id);
		CU_ASSERT_STRING_EQUAL(g.cursors[g.n_cursors - 1], cases[i].cursor);
		got_clear(&g);
		rowpull_close(&rp);
		rowmap_free(m);
	}
}

static void test_a_page_holds_at_most_ten_budgets_or_100000_rows(void)
{
	CU_ASSERT_EQUAL(rowpull_page_rows_max(1), 100000);
	CU_ASSERT_EQUAL(rowpull_page_rows_max(1000), 100000);
	CU_ASSERT_EQUAL(rowpull_page_rows_max(10000), 100000);
	CU_ASSERT_EQUAL(rowpull_page_rows_max(50000), 500000);
	CU_ASSERT_EQUAL(rowpull_page_rows_max(SIZE_MAX / 2), SIZE_MAX);
}

/* ---- the pull loop under a real sync: failing pages are not applied ---------------------- */

static struct rowpull *wh_pull; /* what the in-test plugin forwards to */

static hub_rc wh_create(const struct hub_host *host, const struct hub_instance *inst,
			void **state, char *err, size_t err_size)
{
	(void)host;
	(void)inst;
	(void)err;
	(void)err_size;
	*state = NULL;
	return HUB_OK;
}

static hub_rc wh_pull_cb(void *state, struct hub_call *call, const char *cursor, size_t budget,
			 char *err, size_t err_size)
{
	(void)state;
	return rowpull_pull(wh_pull, call, cursor, budget, err, err_size);
}

static const struct hub_config_key wh_keys[] = {{NULL}};

static const struct hub_plugin wh_desc = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "wh",
	.version = "1.0.0",
	.description = "the warehouse pull loop over a scripted transport",
	.roles = HUB_ROLE_PULL,
	.config = wh_keys,
	.create = wh_create,
	.pull = wh_pull_cb,
};

struct world {
	struct testhub *th;
	struct plugin_module mod;
	struct hub_instance *inst;
	struct sync_params p;
	struct sync_report rep;
};

static void world_open(struct world *w, struct rowpull *rp, int page_size)
{
	char yaml[256], err[1024];

	memset(w, 0, sizeof(*w));
	wh_pull = rp;
	snprintf(yaml, sizeof(yaml), "sources:\n  - name: wh\n    plugin: wh\n"
		 "    page_size: %d\n    max_retries: 0\n", page_size);
	w->th = testhub_start(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->th);
	w->mod.name = "wh";
	w->mod.path = "(in the test)";
	w->mod.desc = &wh_desc;
	CU_ASSERT_EQUAL_FATAL(plugin_instance_create(&w->mod, &w->th->cfg->sources[0], &w->inst,
						     err, sizeof(err)), 0);
	w->p.inst = w->inst;
	w->p.intake = w->th->intake;
	w->p.reader = w->th->reader;
	w->p.rules = &w->th->rules;
	w->p.max_retries = 0;
}

static void world_close(struct world *w)
{
	sync_report_free(&w->rep);
	plugin_instance_destroy(w->inst);
	testhub_stop(w->th);
	wh_pull = NULL;
}

static void committed_cursor(struct world *w, char *buf, size_t size)
{
	buf[0] = '\0';
	w->th->reader->ops->meta_get(w->th->reader, "cursor:wh", buf, size);
}

static void test_an_out_of_order_page_is_dropped_and_the_cursor_kept(void)
{
	/* pages of 2: "a", "b" commit; "d" is read, then "C" < "d" bytewise */
	static const struct trow rows[] = {{100, "a"}, {100, "b"}, {100, "d"}, {100, "C"}};
	struct rowmap *m = map_new("{\"custom_id\": \"id\", \"attributes\": {\"v\": \"id\"}}",
				   NULL, "[\"t\", \"id\"]");
	struct script s = {.n_rows = ARRAY_SIZE(rows), .rows = rows, .is_id_string = 1};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};
	struct world w;
	char cur[256];
	json_t *dump;

	world_open(&w, &rp, 2);
	CU_ASSERT_EQUAL(sync_run(&w.p, &w.rep), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(w.rep.err, "cursor column id went from \"d\" back to \"C\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(w.rep.err, "ORDER BY the cursor columns (t, id) ascending"));
	CU_ASSERT_EQUAL(w.rep.applied, 2); /* the first page only: nothing of "d" */
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "[\"1970-01-01T00:01:40.000000000Z\",\"b\"]");
	dump = testhub_dump(w.th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 2);
	json_decref(dump);
	world_close(&w);
	rowpull_close(&rp);
	rowmap_free(m);
}

/* Two syncs of one source; the second reads `again` rows, all duplicates. */
static void sync_twice(struct rowpull *rp, int page_size, int64_t applied, int64_t again,
		       const char *cursor)
{
	struct world w;
	char cur[256];

	world_open(&w, rp, page_size);
	CU_ASSERT_EQUAL(sync_run(&w.p, &w.rep), HUB_OK);
	if (w.rep.err[0])
		fprintf(stderr, "\n  first sync: %s\n", w.rep.err);
	CU_ASSERT_EQUAL(w.rep.read, applied);
	CU_ASSERT_EQUAL(w.rep.applied, applied);
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, cursor);
	sync_report_free(&w.rep);
	CU_ASSERT_EQUAL(sync_run(&w.p, &w.rep), HUB_OK);
	if (w.rep.err[0])
		fprintf(stderr, "\n  second sync: %s\n", w.rep.err);
	CU_ASSERT_EQUAL(w.rep.read, again);
	CU_ASSERT_EQUAL(w.rep.duplicates, again);
	CU_ASSERT_EQUAL(w.rep.applied, 0);
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, cursor);
	world_close(&w);
}

/*
 * A NULL first cursor value (`WHERE t >= :cursor OR t IS NULL`): the row is
 * applied, the checkpoint stays at the last tuple with a value (it used to
 * become [null, "3"], which no later sync could start from), and every
 * later sync reads the row again as a duplicate, whatever the kind.  NULLs
 * last (Snowflake, PostgreSQL) and first (BigQuery).
 */
static void test_a_null_first_cursor_value_is_applied_once_never_a_checkpoint(void)
{
	static const struct trow last[] = {{100, "1"}, {T_NULL, "3"}};
	static const struct trow first[] = {{T_NULL, "3"}, {T_NULL, "4"}, {100, "1"}, {200, "2"}};
	static const char *const maps[][2] = {
		{"{\"custom_id\": \"id\", \"attributes\": {\"v\": \"id\"}}", NULL},
		{"{\"custom_id\": \"id\", \"consent\": {\"email_marketing\": \"id\"}}", "consent"},
		{"{\"custom_id\": \"id\", \"event\": {\"name\": \"id\"}}", "events"},
		{"{\"custom_id\": \"id\"}", "erase"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		struct rowmap *m = map_new(maps[i][0], maps[i][1], "[\"t\", \"id\"]");
		struct script s = {.n_rows = ARRAY_SIZE(last), .rows = last};
		struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};

		sync_twice(&rp, i % 2 ? 1 : 10, 2, 1, "[\"1970-01-01T00:01:40.000000000Z\",\"1\"]");
		rowpull_close(&rp);
		rowmap_free(m);
	}
	/* NULLs first, pages of 1: the first page runs on to a row with a
	 * value (there is no checkpoint before it); later, pages of one NULL
	 * row each give the saved cursor again, and the result stays open */
	for (int page_size = 1; page_size <= 10; page_size += 9) {
		struct rowmap *m = map_new(maps[0][0], maps[0][1], "[\"t\", \"id\"]");
		struct script s = {.n_rows = ARRAY_SIZE(first), .rows = first};
		struct rowpull rp = {.host = host_table(), .map = m, .ops = &script_ops, .t = &s};

		sync_twice(&rp, page_size, 4, 2, "[\"1970-01-01T00:03:20.000000000Z\",\"2\"]");
		CU_ASSERT_EQUAL(s.n_opens, 2);
		rowpull_close(&rp);
		rowmap_free(m);
	}
}

/* n_head rows at t = 1..n_head (is_head_null: NULL), then n_tied rows
 * all at t = 1000. */
struct ties {
	size_t n_head, n_tied, pos;
	int is_head_null;
	char id[24];
	struct rm_cell cells[2];
};

static int64_t ties_t(const struct ties *s, size_t i)
{
	return i < s->n_head ? (int64_t)i + 1 : 1000;
}

static hub_rc ties_open(void *t, struct rowmap *m, const char *param, size_t hint, char *err,
			size_t err_size)
{
	static const struct rm_column cols[] = {{"T", RM_TIMESTAMP}, {"ID", RM_NUMBER}};
	struct ties *s = t;
	int64_t from = 0;
	int32_t ns;

	(void)hint;
	if (param)
		CU_ASSERT_EQUAL_FATAL(rm_time_parse(param, &from, &ns), 0);
	for (s->pos = 0; s->pos < s->n_head + s->n_tied && ties_t(s, s->pos) < from; s->pos++)
		;
	return rowmap_bind(m, cols, 2, err, err_size) ? HUB_ERR_CONFIG : HUB_OK;
}

static hub_rc ties_next(void *t, const struct rm_cell **row, char *err, size_t err_size)
{
	struct ties *s = t;

	(void)err;
	(void)err_size;
	if (s->pos >= s->n_head + s->n_tied)
		return HUB_OK;
	memset(s->cells, 0, sizeof(s->cells));
	s->cells[0].sec = ties_t(s, s->pos);
	s->cells[0].is_null = s->is_head_null && s->pos < s->n_head;
	snprintf(s->id, sizeof(s->id), "%zu", s->pos + 1);
	s->cells[1].text = s->id;
	s->pos++;
	*row = s->cells;
	return HUB_MORE;
}

static const struct rp_reader_ops ties_ops = {ties_open, ties_next, script_close};

static void test_a_tie_longer_than_a_page_may_hold_fails_the_sync(void)
{
	/* pages of 5: rows 1..5 commit, then 100,001 rows share t = 1000 */
	struct rowmap *m = map_new("{\"custom_id\": \"id\", \"attributes\": {\"v\": \"id\"}}",
				   NULL, "\"t\"");
	struct ties s = {.n_head = 5, .n_tied = 100001};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &ties_ops, .t = &s};
	struct world w;
	char cur[256];

	world_open(&w, &rp, 5);
	CU_ASSERT_EQUAL(sync_run(&w.p, &w.rep), HUB_ERR_CONFIG);
	CU_ASSERT_STRING_EQUAL(w.rep.err,
			       "100001 consecutive rows share the cursor value t = "
			       "\"1970-01-01T00:16:40.000000000Z\", more than a page may hold "
			       "(100000 rows): a page ends only where the cursor value changes.  "
			       "Add a column unique per row (such as the primary key) as the last "
			       "cursor column, e.g. cursor: [t, <unique column>]; an event table "
			       "needs map.message_id first (the cursor's values are part of each "
			       "derived id: the rows read again would be applied twice)");
	CU_ASSERT_EQUAL(w.rep.applied, 5); /* nothing of the tied page */
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "[\"1970-01-01T00:00:05.000000000Z\"]");
	world_close(&w);
	rowpull_close(&rp);
	rowmap_free(m);

	/* pages of 5 from rows 1..3: the page runs into the tie and counts
	 * only the tied rows (100,000 rows in it, 3 before the tie) */
	m = map_new("{\"custom_id\": \"id\", \"attributes\": {\"v\": \"id\"}}", NULL, "\"t\"");
	s = (struct ties){.n_head = 3, .n_tied = 100001};
	rp = (struct rowpull){.host = host_table(), .map = m, .ops = &ties_ops, .t = &s};
	world_open(&w, &rp, 5);
	CU_ASSERT_EQUAL(sync_run(&w.p, &w.rep), HUB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(w.rep.err, "99998 consecutive rows share the cursor value"));
	CU_ASSERT_EQUAL(w.rep.applied, 0);
	world_close(&w);
	rowpull_close(&rp);
	rowmap_free(m);
}

/* A page ends only at a checkpoint: rows with a NULL first cursor value
 * sorted first, on a first sync, have none until a row with a value. */
static void test_null_first_cursor_values_longer_than_a_page_fail_the_sync(void)
{
	struct rowmap *m = map_new("{\"custom_id\": \"id\", \"attributes\": {\"v\": \"id\"}}",
				   NULL, "\"t\"");
	struct ties s = {.n_head = 100001, .n_tied = 1, .is_head_null = 1};
	struct rowpull rp = {.host = host_table(), .map = m, .ops = &ties_ops, .t = &s};
	struct world w;
	char cur[256];

	world_open(&w, &rp, 5);
	CU_ASSERT_EQUAL(sync_run(&w.p, &w.rep), HUB_ERR_CONFIG);
	CU_ASSERT_STRING_EQUAL(w.rep.err,
			       "100001 rows with a NULL t come before any row with a value, more "
			       "than a page may hold (100000 rows): a page ends only at a cursor "
			       "value.  Sort them last (ORDER BY t NULLS LAST) or leave them out "
			       "(t IS NOT NULL)");
	CU_ASSERT_EQUAL(w.rep.applied, 0);
	committed_cursor(&w, cur, sizeof(cur));
	CU_ASSERT_STRING_EQUAL(cur, "");
	world_close(&w);
	rowpull_close(&rp);
	rowmap_free(m);
}

/* ---- UTF-8 repair (text.h) ------------------------------------------------ */

struct utf8_case {
	const char *in, *out;
};

/*
 * text_utf8_repair() is strict RFC 3629: overlong forms, UTF-16 surrogates
 * and code points past U+10FFFF were let through (jansson's json_string()
 * then returned NULL for the message); each maximal subpart of an
 * ill-formed sequence (Unicode 3.9, table 3-8) becomes one '?'.
 */
static void test_utf8_repair_is_strict(void)
{
	static const struct utf8_case cases[] = {
		{"plain", "plain"},
		{"Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x9a\x80",
		 "Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x9a\x80"},
		{"\xed\x9f\xbf|\xee\x80\x80|\xf4\x8f\xbf\xbf",
		 "\xed\x9f\xbf|\xee\x80\x80|\xf4\x8f\xbf\xbf"},
		/* overlong */
		{"a\xc0\x80" "b", "a??b"},
		{"\xc1\xbf", "??"},
		{"\xe0\x80\x80", "???"},
		{"\xe0\x9f\xbf", "???"},
		{"\xf0\x80\x80\x80", "????"},
		{"\xf0\x8f\xbf\xbf", "????"},
		/* surrogates */
		{"\xed\xa0\x80", "???"},
		{"\xed\xbf\xbf", "???"},
		{"\xed\xa0\x80\xed\xb0\x80", "??????"},
		/* past U+10FFFF, bytes no UTF-8 uses */
		{"\xf4\x90\x80\x80", "????"},
		{"\xf5\x80\x80\x80", "????"},
		{"\xf8\x88\x80\x80\x80", "?????"},
		{"\xfe\xff", "??"},
		/* lone continuations; sequences cut short: one '?' each */
		{"\x80\xbf", "??"},
		{"x\xc3", "x?"},
		{"\xe2\x82", "?"},
		{"\xf0\x9f\x9a", "?"},
		{"\xe2\x82x\xf0\x9f\x9ay", "?x?y"},
		{"\xe1\x80\xe2\x82\xac", "?\xe2\x82\xac"},
	};
	char buf[64];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *j;

		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		text_utf8_repair(buf);
		if (strcmp(buf, cases[i].out) != 0) {
			fprintf(stderr, "\nutf8 case %zu: \"%s\", expected \"%s\"\n", i, buf,
				cases[i].out);
			CU_FAIL("text_utf8_repair");
		}
		j = json_string(buf); /* NULL when buf is not valid UTF-8 */
		CU_ASSERT_PTR_NOT_NULL(j);
		json_decref(j);
	}
}

TEST_SUITE(rowmap, NULL, NULL,
	   TEST(test_config_mistakes_name_the_key),
	   TEST(test_attribute_no_profile_holds_is_refused),
	   TEST(test_columns_match_case_insensitively_or_fail_clearly),
	   TEST(test_identifier_columns_past_16_are_refused),
	   TEST(test_attributes_keep_their_types_and_null_deletes),
	   TEST(test_values_without_a_json_number_are_kept_or_left_out),
	   TEST(test_a_json_column_that_is_no_json_is_left_out),
	   TEST(test_message_id_hashes_the_mapped_content),
	   TEST(test_message_id_tells_apart_rows_with_the_same_content),
	   TEST(test_message_id_column_keeps_alike_events_apart),
	   TEST(test_kinds_make_their_record_types),
	   TEST(test_times_and_decimals_compare_as_values),
	   TEST(test_a_time_at_the_epoch_is_kept),
	   TEST(test_instants_outside_years_0_to_9999_are_none),
	   TEST(test_epoch_numbers_split_at_their_decimal_digits),
	   TEST(test_date_text_holds_calendar_clock_and_offset_ranges),
	   TEST(test_numbers_stay_exact_while_they_fit_64_bits),
	   TEST(test_bool_and_consent_read_numbers_by_value_and_on_off),
	   TEST(test_string_values_escape_every_control_character),
	   TEST(test_a_record_names_its_row_by_its_cursor_values),
	   TEST(test_cursor_tuple_skips_rows_at_or_before_it),
	   TEST(test_a_saved_cursor_must_read_as_its_columns_types),
	   TEST(test_float_and_bool_cursor_values_compare_as_values),
	   TEST(test_the_first_null_beside_an_equal_prefix_decides_where_nulls_sort),
	   TEST(test_first_difference_of_equal_tuples_is_the_last_column),
	   TEST(test_cursor_placeholder_is_rewritten_outside_quotes),
	   TEST(test_query_trimmed_len_leaves_out_what_ends_it),
	   TEST(test_pages_end_between_different_cursor_tuples),
	   TEST(test_a_cursor_not_unique_per_row_is_warned_once),
	   TEST(test_a_page_boundary_tie_still_resumes_exactly),
	   TEST(test_an_open_result_is_read_on_for_30_s_after_its_checkpoint),
	   TEST(test_a_saved_cursor_that_does_not_fit_runs_nothing_and_closes_the_result),
	   TEST(test_a_stop_ends_the_page_at_the_next_boundary),
	   TEST(test_a_stop_mid_read_keeps_the_rows_emitted),
	   TEST(test_a_refused_row_does_not_end_the_pull),
	   TEST(test_rows_out_of_cursor_order_fail_rather_than_be_skipped),
	   TEST(test_out_of_order_messages_fit_the_column),
	   TEST(test_bytes_cursor_values_compare_by_their_bytes),
	   TEST(test_a_cursor_time_past_year_9999_fails_before_its_checkpoint),
	   TEST(test_a_cursor_float_nan_fails_before_its_checkpoint),
	   TEST(test_a_cursor_decimal_nan_fails_before_its_checkpoint),
	   TEST(test_a_cursor_text_not_utf8_fails_before_its_checkpoint),
	   TEST(test_nulls_in_a_later_cursor_column_sort_first_or_last),
	   TEST(test_a_page_holds_at_most_ten_budgets_or_100000_rows),
	   TEST(test_an_out_of_order_page_is_dropped_and_the_cursor_kept),
	   TEST(test_a_tie_longer_than_a_page_may_hold_fails_the_sync),
	   TEST(test_a_null_first_cursor_value_is_applied_once_never_a_checkpoint),
	   TEST(test_null_first_cursor_values_longer_than_a_page_fail_the_sync),
	   TEST(test_utf8_repair_is_strict))
