/*
 * test_unify.c - rules of IDENTITY.md that the scenario vectors do not
 * reach, checked through the intake and read back from the store:
 *
 *   - an alias whose previous_id is an installation is a login of it: the
 *     installation takes the record's platform, push and time (section 9);
 *   - a logout's new anonymous profile is created holding the
 *     installation, and its log says so (section 3: every attach, detach,
 *     move and merge is logged);
 *   - an erase deletes the erased profile's own log rows only: another
 *     profile's row naming it (a device that moved away from it) stays in
 *     that profile's history, without the erased profile's ID; the
 *     erasure's own row (no identifier) is all that is left of its log;
 *   - an erase deletes the erased profile's events, attributes and
 *     consent rows (read from the store under its profile_id);
 *   - an erase deletes the tombstones merged into the profile, their log
 *     rows with them;
 *   - records of hundreds of attributes are stored whole (on PostgreSQL,
 *     more statements in flight than the pipeline reads at once);
 *   - the largest numbers are stored so that they read back;
 *   - an array op that would pass 25 items only because of what is stored
 *     leaves the attribute as it is, the rest of the record applied, and
 *     the batch hands back a counted warning naming it (section 4);
 *   - the log's reason names the record's message id and source whole,
 *     however long and whatever characters they hold.
 *   - an alias whose previous_id is another known user's custom_id is
 *     refused (two known profiles never merge); an alias of a user to
 *     itself is a plain identify.
 *   - a merge that fills identity.max_installations exactly is allowed.
 *   - of anonymous profiles merged, the oldest survives (its profile_id).
 *   - an alias whose previous_id is an erased custom_id or installation is
 *     blocked; a blocked record sent again is blocked again (the dedupe
 *     remembers applied records only).
 *   - a profile absorbs at most 100 others (the merge count cap); one
 *     whose count reached 100 is not absorbed either; a merge may leave
 *     1000 identifiers, not more; several are absorbed oldest first.
 *   - a login's merge a cap or limit refuses (the merge count cap, an
 *     external id's limit) leaves a merge_refused row on the user's log
 *     naming the identifier, the anonymous profile and the cap; an erase
 *     of the user leaves that profile and names it in a warning, saying
 *     to erase it by its profile ID, which erases it and its event.
 *   - an erase by profile ID (the hub's privacy requests only): a merged
 *     profile's ID erases its live survivor and every profile merged into
 *     it, blocks every identifier they held, and its audit row names the
 *     request; an unknown ID erases nothing and says so; a malformed one
 *     is refused; a canonical record cannot name a profile ID.
 *   - a merge tie of consent goes to the more restrictive state
 *     (unsubscribed > unset > subscribed), a newer one wins whatever it is.
 *   - a merge tie of an attribute goes to the survivor, a newer one wins;
 *     the absorbed profile's attributes move (none left behind).
 *   - an array op older than the stored value applies and keeps the newer
 *     time; $remove drops every occurrence, $add is set-like.
 *   - an erase blocks records before erase time + erase_block_days, not
 *     one at that end; an older erase does not shorten the block.
 *   - a merge step 4 refuses drops the record's installation first, then
 *     its external ids from the highest priority number; a login takes
 *     its external ids in priority order (not the names' order).
 *   - a merge weighs a deleted attribute like a value, and the record's
 *     array op applies to what the merge kept.
 *   - a tombstone of a tombstone resolves to the live profile, and an
 *     erase of that profile deletes both.
 *   - a merge a cap stops and an installation left out of a full profile
 *     (a client can have both at will) are logged the first time, then
 *     once every 10 s at most with the count so far.
 *   - a logout of an installation nobody holds does nothing; one an
 *     anonymous profile holds detaches nothing (section 9);
 *   - an external id past its limit is dropped and stays unheld, on a
 *     login and without a custom_id; the one that joins is logged;
 *   - push is per installation, kept by records that say nothing of it;
 *   - an array op on an absent or deleted attribute stores [] even when
 *     empty, with the max of both times;
 *   - a login of a new user renames the session, logged as such.
 *
 * Runs on SQLite, and on PostgreSQL with HUB_TEST_STORE=postgres.
 */
#include "testhub.h"
#include "testlib.h"

#include "../../hub/intake.h"
#include "../../hub/log.h"
#include "../../hub/privacy.h"
#include "../../hub/profile.h"
#include "../../hub/util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void apply(struct testhub *th, const char *line)
{
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th, line), 0);
}

/* One record of `type` at 2025-03-03T<hhmm>:00Z; body is the rest of its
 * JSON object (identifiers and payload). */
static void apply_rec(struct testhub *th, const char *type, const char *mid, const char *hhmm,
		      const char *body)
{
	char line[1024];

	CU_ASSERT_FATAL(snprintf(line, sizeof(line),
				 "{\"type\":\"%s\",\"message_id\":\"%s\",\"timestamp\":"
				 "\"2025-03-03T%.2s:%.2s:00Z\",%s}",
				 type, mid, hhmm, hhmm + 2, body) < (int)sizeof(line));
	apply(th, line);
}

/* The live profile document whose custom_id is `custom_id` (NULL: the
 * anonymous one holding installation `iid`); borrowed from dump. */
static json_t *profile_of(json_t *dump, const char *custom_id, const char *iid)
{
	size_t i;
	json_t *doc;

	json_array_foreach(dump, i, doc) {
		const char *c = json_string_value(json_object_get(doc, "custom_id"));
		json_t *insts = json_object_get(json_object_get(doc, "identifiers"),
						"installation_id");
		size_t k;
		json_t *v;
		if (custom_id) {
			if (c && strcmp(c, custom_id) == 0)
				return doc;
			continue;
		}
		if (c)
			continue;
		json_array_foreach(insts, k, v)
			if (strcmp(json_string_value(v), iid) == 0)
				return doc;
	}
	return NULL;
}

static const char *pid_of(const json_t *doc)
{
	return json_string_value(json_object_get(doc, "profile_id"));
}

static int log_row_collect(void *ctx, const struct store_log_entry *e)
{
	json_array_append_new(ctx, json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "profile_id",
					      e->profile_id, "action", e->action, "type",
					      e->id_type, "value", e->id_value, "other",
					      e->other_profile_id, "reason", e->reason));
	return 0;
}

/* Every log row of pid and every row naming it, in order (new reference). */
static json_t *log_of(struct testhub *th, const char *pid)
{
	json_t *rows = json_array();
	CU_ASSERT_EQUAL(th->reader->ops->log_page(th->reader, pid, 0, 1000, log_row_collect, rows),
			0);
	return rows;
}

/* The first row of `action` in rows, or NULL. */
static json_t *row_of(json_t *rows, const char *action)
{
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		if (strcmp(json_string_value(json_object_get(row, "action")), action) == 0)
			return row;
	return NULL;
}

static void expect_text(const json_t *o, const char *key, const char *want)
{
	const char *got = json_string_value(json_object_get(o, key));
	CU_ASSERT_PTR_NOT_NULL(got);
	if (got)
		CU_ASSERT_STRING_EQUAL(got, want);
}

static void test_an_alias_of_an_installation_takes_its_details(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *doc, *inst, *push;
	const char *push0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th, "{\"type\":\"alias\",\"source\":\"test\",\"message_id\":\"m1\","
		  "\"timestamp\":\"2025-03-03T09:00:00.000Z\",\"previous_id\":\"I1\","
		  "\"identifiers\":{\"custom_id\":\"C1\"},\"platform\":\"ios\","
		  "\"push_enabled\":true}");
	dump = testhub_dump(th, 0);
	doc = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	inst = json_array_get(json_object_get(doc, "installations"), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inst);
	expect_text(inst, "installation_id", "I1");
	expect_text(inst, "platform", "ios");
	expect_text(inst, "last_seen", "2025-03-03T09:00:00.000Z");
	CU_ASSERT(json_is_true(json_object_get(inst, "push_enabled")));
	push = json_object_get(json_object_get(doc, "subscriptions"), "push");
	CU_ASSERT_EQUAL(json_array_size(push), 1);
	push0 = json_string_value(json_array_get(push, 0));
	CU_ASSERT(push0 != NULL && strcmp(push0, "ios") == 0);
	json_decref(dump);
	testhub_stop(th);
}

/* An installation seen at the epoch itself (a client clock never set:
 * timestamp 0) was seen: last_seen is 1970-01-01T00:00:00.000Z, not null
 * ("never"), and a later sighting before 1970 does not take it back. */
static void test_an_installation_seen_at_the_epoch_shows_that_time(void)
{
	static const char *const times[] = {"1970-01-01T00:00:00.000Z",
					    "1969-12-31T23:59:59.000Z"};
	struct testhub *th = testhub_start(NULL);
	char line[512];
	json_t *dump, *inst;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		snprintf(line, sizeof(line), "{\"type\":\"identify\",\"source\":\"test\","
			 "\"message_id\":\"e%zu\",\"timestamp\":\"%s\",\"identifiers\":"
			 "{\"custom_id\":\"C1\",\"installation_id\":\"I1\"}}", i, times[i]);
		apply(th, line);
		dump = testhub_dump(th, 0);
		inst = json_array_get(json_object_get(profile_of(dump, "C1", NULL),
						      "installations"), 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(inst);
		expect_text(inst, "last_seen", times[0]);
		json_decref(dump);
	}
	testhub_stop(th);
}

/* An email lookup ignores the case of ASCII letters (Ann@X.com is
 * ann@x.com's mailbox; a Segment or Braze user expects one answer), on
 * both pages and the check a page makes; the stored value stays as
 * received, and other letters are compared as they are. */
static void test_an_email_lookup_ignores_ascii_case(void)
{
	static const char *const people[][2] = {
		{"I1", "Ann@X.com"}, {"I2", "ann@x.COM"}, {"I3", "bob@x.com"}, {"I4", "\u00c9va@x.com"},
		{"I5", "zoe@x.com"}, /* A and Z: both ends of the folded letters */
	};
	struct testhub *th = testhub_start(NULL);
	char ids[4][PROFILE_ID_SIZE], line[512];
	json_t *dump;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (size_t i = 0; i < sizeof(people) / sizeof(people[0]); i++) {
		snprintf(line, sizeof(line), "{\"type\":\"attributes\",\"source\":\"test\","
			 "\"message_id\":\"m%zu\",\"timestamp\":\"2025-03-01T10:00:00.000Z\","
			 "\"identifiers\":{\"installation_id\":\"%s\"},"
			 "\"attributes\":{\"$email_address\":\"%s\"}}", i, people[i][0],
			 people[i][1]);
		apply(th, line);
	}
	CU_ASSERT_EQUAL(profile_find(th->reader, "email", "ANN@x.com", ids, 4), 2);
	CU_ASSERT_EQUAL(profile_find(th->reader, "email", "ann@x.com", ids, 4), 2);
	CU_ASSERT_EQUAL(profile_find_attr(th->reader, "email", "aNN@X.COM", ids[0], ids + 1, 3), 1);
	CU_ASSERT_EQUAL(profile_has_attr(th->reader, "email", "ANN@X.COM", ids[1]), 1);
	CU_ASSERT_EQUAL(profile_has_attr(th->reader, "email", "bob@x.com", ids[1]), 0);
	CU_ASSERT_EQUAL(profile_find(th->reader, "email", "BOB@X.COM", ids, 4), 1);
	CU_ASSERT_EQUAL(profile_find(th->reader, "email", "ZOE@X.COM", ids, 4), 1);
	CU_ASSERT_EQUAL(profile_has_attr(th->reader, "email", "Zoe@x.com", ids[0]), 1);
	CU_ASSERT_EQUAL(profile_find(th->reader, "email", "\u00c9va@x.com", ids, 4), 1);
	CU_ASSERT_EQUAL(profile_find(th->reader, "email", "\u00e9va@x.com", ids, 4), 0);
	dump = testhub_dump(th, 0); /* shown as received */
	expect_text(json_object_get(profile_of(dump, NULL, "I1"), "attributes"),
		    "$email_address", "Ann@X.com");
	json_decref(dump);
	testhub_stop(th);
}

/* An email promoted to an external id: its holder comes first on the
 * first page of a lookup, and on no later page (profile --after) though it
 * holds the attribute too. */
static void test_an_email_holder_is_on_the_first_page_only(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    email: {limit: 1}\n");
	char ids[8][PROFILE_ID_SIZE], line[512];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"h\","
		  "\"timestamp\":\"2025-03-01T10:00:00.000Z\",\"identifiers\":"
		  "{\"installation_id\":\"H\",\"email\":\"h@x.com\"},"
		  "\"attributes\":{\"$email_address\":\"h@x.com\"}}");
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "{\"type\":\"attributes\",\"source\":\"test\","
			 "\"message_id\":\"m%d\",\"timestamp\":\"2025-03-01T10:00:00.000Z\","
			 "\"identifiers\":{\"installation_id\":\"I%d\"},"
			 "\"attributes\":{\"$email_address\":\"h@x.com\"}}", i, i);
		apply(th, line);
	}
	CU_ASSERT_EQUAL(profile_find(th->reader, "email", "h@x.com", ids, 8), 4);
	/* "p_": before every profile ID, the holder's included */
	CU_ASSERT_EQUAL(profile_find_after(th->reader, "email", "h@x.com", "p_", ids, 8), 3);
	testhub_stop(th);
}

static void test_a_logout_session_is_created_holding_the_installation(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *known, *anon, *rows, *row;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"m1\","
		  "\"timestamp\":\"2025-03-03T09:00:00.000Z\","
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"}}");
	apply(th, "{\"type\":\"logout\",\"source\":\"test\",\"message_id\":\"m2\","
		  "\"timestamp\":\"2025-03-03T09:01:00.000Z\","
		  "\"identifiers\":{\"installation_id\":\"I1\"}}");
	dump = testhub_dump(th, 0);
	known = profile_of(dump, "C1", NULL);
	anon = profile_of(dump, NULL, "I1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(known);
	CU_ASSERT_PTR_NOT_NULL_FATAL(anon);

	/* the session's own first row creates it with I1 */
	rows = log_of(th, pid_of(anon));
	row = json_array_get(rows, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(row);
	expect_text(row, "profile_id", pid_of(anon));
	expect_text(row, "action", "create");
	expect_text(row, "type", "installation_id");
	expect_text(row, "value", "I1");
	json_decref(rows);
	/* the user's log keeps the detach to it */
	rows = log_of(th, pid_of(known));
	row = row_of(rows, "detach");
	CU_ASSERT_PTR_NOT_NULL_FATAL(row);
	expect_text(row, "value", "I1");
	expect_text(row, "other", pid_of(anon));
	json_decref(rows);
	json_decref(dump);
	testhub_stop(th);
}

static void test_an_erase_keeps_other_profiles_log_rows(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *c1, *c2, *rows, *row;
	char c1_pid[64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"m1\","
		  "\"timestamp\":\"2025-03-03T09:01:00.000Z\","
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I2\"}}");
	/* a user switch: I2 moves from C1 to C2 (a row of C2's naming C1) */
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"m2\","
		  "\"timestamp\":\"2025-03-03T09:03:00.000Z\","
		  "\"identifiers\":{\"custom_id\":\"C2\",\"installation_id\":\"I2\"}}");
	dump = testhub_dump(th, 0);
	c1 = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	snprintf(c1_pid, sizeof(c1_pid), "%s", pid_of(c1));
	json_decref(dump);

	apply(th, "{\"type\":\"erase\",\"source\":\"test\",\"message_id\":\"m3\","
		  "\"timestamp\":\"2025-03-03T09:04:00.000Z\","
		  "\"identifiers\":{\"custom_id\":\"C1\"}}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_PTR_NULL(profile_of(dump, "C1", NULL));
	c2 = profile_of(dump, "C2", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
	rows = log_of(th, pid_of(c2));
	row = row_of(rows, "move");
	CU_ASSERT_PTR_NOT_NULL(row);
	if (row) {
		expect_text(row, "profile_id", pid_of(c2));
		expect_text(row, "value", "I2");
		CU_ASSERT_PTR_NULL(json_string_value(json_object_get(row, "other")));
	}
	json_decref(rows);
	/* of C1's log only the erasure is left (no identifier), and no other
	 * row names it */
	rows = log_of(th, c1_pid);
	CU_ASSERT_EQUAL(json_array_size(rows), 1);
	row = json_array_get(rows, 0);
	if (row) {
		expect_text(row, "action", "erase");
		/* named by its request (the record's message_id), no identifier */
		expect_text(row, "reason", "privacy erase m3 (0 merged profiles)");
		CU_ASSERT_PTR_NULL(json_string_value(json_object_get(row, "value")));
	}
	json_decref(rows);
	json_decref(dump);
	testhub_stop(th);
}

static int consent_row_count(void *ctx, const struct store_consent *c)
{
	(void)c;
	(*(int *)ctx)++;
	return 0;
}

/* IDENTITY.md section 7: an erase deletes the person's events,
 * attributes, consent and identifiers, not only her profile row: rows
 * left under a deleted profile_id show in no document, yet they are her
 * data.  Read from the store, under the erased profile_id. */
static void test_an_erase_deletes_her_events_attributes_and_consent(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump;
	char pid[64];
	int64_t n_events = -1, last = 0;
	int n_consent = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"},"
		  "\"attributes\":{\"plan\":\"gold\"},"
		  "\"consent\":{\"email_marketing\":\"subscribed\"}");
	apply_rec(th, "track", "m2", "0901",
		  "\"identifiers\":{\"custom_id\":\"C1\"},\"event\":{\"name\":\"diagnosis\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(profile_of(dump, "C1", NULL));
	snprintf(pid, sizeof(pid), "%s", pid_of(profile_of(dump, "C1", NULL)));
	json_decref(dump);
	apply_rec(th, "erase", "e1", "0902", "\"identifiers\":{\"custom_id\":\"C1\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 0);
	json_decref(dump);
	CU_ASSERT_EQUAL(th->reader->ops->event_stats(th->reader, pid, &n_events, &last), 0);
	CU_ASSERT_EQUAL(n_events, 0);
	CU_ASSERT_EQUAL(th->reader->ops->attr_count(th->reader, pid), 0);
	CU_ASSERT_EQUAL(
		th->reader->ops->consent_list(th->reader, pid, consent_row_count, &n_consent), 0);
	CU_ASSERT_EQUAL(n_consent, 0);
	testhub_stop(th);
}

/* IDENTITY.md section 7: an erase covers every tombstone merged into the
 * erased profile: the session I9 that merged into C1 is deleted with its
 * own log (its installation, its creation), and its old profile_id
 * resolves to nothing. */
static void test_an_erase_deletes_the_profiles_merged_into_her(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *rows;
	char tomb[64];
	struct store_profile p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900", "\"identifiers\":{\"custom_id\":\"C1\"}");
	apply_rec(th, "track", "m2", "0901",
		  "\"identifiers\":{\"installation_id\":\"I9\"},\"event\":{\"name\":\"e\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(profile_of(dump, NULL, "I9"));
	snprintf(tomb, sizeof(tomb), "%s", pid_of(profile_of(dump, NULL, "I9")));
	json_decref(dump);
	apply_rec(th, "identify", "m3", "0902",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I9\"}");
	rows = log_of(th, tomb);
	CU_ASSERT(json_array_size(rows) > 0);
	json_decref(rows);
	CU_ASSERT_EQUAL(th->reader->ops->profile_get(th->reader, tomb, &p), 1);
	apply_rec(th, "erase", "e1", "0903", "\"identifiers\":{\"custom_id\":\"C1\"}");
	rows = log_of(th, tomb);
	CU_ASSERT_EQUAL(json_array_size(rows), 0);
	json_decref(rows);
	CU_ASSERT_EQUAL(th->reader->ops->profile_get(th->reader, tomb, &p), 0);
	testhub_stop(th);
}

/* An identify of C<n> with n attributes, applied as one batch. */
static void apply_attributes(struct testhub *th, int n)
{
	json_t *attrs = json_object(), *rec;
	char key[16], cid[16], *line;

	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "a%03d", i);
		json_object_set_new(attrs, key, json_integer(i));
	}
	snprintf(cid, sizeof(cid), "C%d", n);
	snprintf(key, sizeof(key), "m%d", n);
	rec = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}, s:o}", "type", "identify", "source", "test",
			"message_id", key, "timestamp", "2025-03-03T09:00:00.000Z", "identifiers",
			"custom_id", cid, "attributes", attrs);
	line = json_dumps(rec, JSON_COMPACT);
	apply(th, line);
	free(line);
	json_decref(rec);
}

/* The JSON array of installation ids of doc (borrowed). */
static json_t *installations_of(json_t *doc)
{
	return json_object_get(json_object_get(doc, "identifiers"), "installation_id");
}

/* identity.max_installations: a profile holding that many takes no more.
 * A known user's new installation is left out of the record (the rest of
 * it applies); a user switch onto the full profile and the merge of an
 * anonymous session into it likewise: the installation stays where it
 * was.  One client could attach installations without end, and every read
 * and export of the profile carried them all. */
static void test_a_profile_holds_at_most_max_installations(void)
{
	struct testhub *th = testhub_start("identity:\n  max_installations: 2\n");
	json_t *dump, *c1, *doc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"}");
	apply_rec(th, "track", "m2", "0901",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I2\"},"
		  "\"event\":{\"name\":\"e2\"}");
	/* full: I3 is left out, the event lands */
	apply_rec(th, "track", "m3", "0902",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I3\"},"
		  "\"event\":{\"name\":\"e3\"}");
	/* an anonymous session, then its login as C1: no merge, no move */
	apply_rec(th, "track", "m4", "0903",
		  "\"identifiers\":{\"installation_id\":\"I4\"},\"event\":{\"name\":\"e4\"}");
	apply_rec(th, "identify", "m5", "0904",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I4\"}");
	/* another user's device, then C1 on it: it stays C2's */
	apply_rec(th, "identify", "m6", "0905",
		  "\"identifiers\":{\"custom_id\":\"C2\",\"installation_id\":\"I5\"}");
	apply_rec(th, "identify", "m7", "0906",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I5\"}");
	CU_ASSERT_EQUAL(th->counts.applied, 7);
	dump = testhub_dump(th, 0);
	c1 = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	CU_ASSERT_EQUAL(json_array_size(installations_of(c1)), 2);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(c1, "event_count")), 2);
	CU_ASSERT_PTR_NULL(profile_of(dump, NULL, "I3")); /* held by nobody */
	doc = profile_of(dump, NULL, "I4");
	CU_ASSERT_PTR_NOT_NULL(doc);
	doc = profile_of(dump, "C2", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_EQUAL(json_array_size(installations_of(doc)), 1);
	json_decref(dump);
	testhub_stop(th);
}

/* A profile over identity.max_installations (it took them before the
 * limit was lowered) still absorbs an anonymous profile that brings no
 * installation: the limit is on what a merge adds.  It refused every
 * merge of such a profile. */
static void test_a_profile_over_the_limit_still_merges_what_brings_none(void)
{
	struct testhub *th = testhub_start("identity:\n  max_installations: 3\n"
					   "  external:\n    crm_id: {limit: 1}\n");
	struct hub_config *lower = NULL;
	struct store *writer = NULL;
	struct intake *in = NULL;
	char *yaml = NULL, err[512];
	json_t *dump, *c1, *crm;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (int i = 1; i <= 3; i++) {
		char line[256];
		snprintf(line, sizeof(line), "{\"type\":\"identify\",\"message_id\":\"m%d\","
			 "\"timestamp\":\"2025-03-03T09:0%d:00Z\",\"identifiers\":{\"custom_id\":"
			 "\"C1\",\"installation_id\":\"I%d\"}}", i, i, i);
		apply(th, line);
	}
	CU_ASSERT_FATAL(asprintf(&yaml, "%sidentity:\n  max_installations: 2\n"
				 "  external:\n    crm_id: {limit: 1}\n", th->store_yaml) > 0);
	CU_ASSERT_EQUAL_FATAL(config_load_string("lower.yaml", yaml, &lower, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_open(lower, &writer, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(intake_start(&in, writer, lower, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(testhub_apply_lines_via(th, in,
		"{\"type\":\"identify\",\"message_id\":\"k1\","
		"\"timestamp\":\"2025-03-03T10:00:00Z\","
		"\"identifiers\":{\"crm_id\":\"K\"},\"attributes\":{\"plan\":\"gold\"}}\n"
		"{\"type\":\"identify\",\"message_id\":\"k2\","
		"\"timestamp\":\"2025-03-03T10:01:00Z\","
		"\"identifiers\":{\"custom_id\":\"C1\",\"crm_id\":\"K\"}}\n"), 0);
	intake_stop(in);
	config_free(lower);
	free(yaml);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 1); /* the anonymous one merged */
	c1 = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	crm = json_object_get(json_object_get(c1, "identifiers"), "crm_id");
	CU_ASSERT_EQUAL(json_array_size(crm), 1);
	expect_text(json_object_get(c1, "attributes"), "plan", "gold");
	CU_ASSERT_EQUAL(json_array_size(installations_of(c1)), 3);
	json_decref(dump);
	testhub_stop(th);
}

/* The same for an external id's limit: C1 took two crm_ids under limit 2;
 * with the limit lowered to 1, its anonymous session (no crm_id) still
 * merges at login.  Every login was refused, the session's events left on
 * an anonymous profile no lookup reached. */
static void test_a_profile_over_an_external_limit_still_merges_what_brings_none(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 2}\n");
	struct hub_config *lower = NULL;
	struct store *writer = NULL;
	struct intake *in = NULL;
	char *yaml = NULL, err[512];
	json_t *dump, *c1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"crm_id\":\"K1\"}");
	apply_rec(th, "identify", "m2", "0901",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"crm_id\":\"K2\"}");
	CU_ASSERT_FATAL(asprintf(&yaml, "%sidentity:\n  external:\n    crm_id: {limit: 1}\n",
				 th->store_yaml) > 0);
	CU_ASSERT_EQUAL_FATAL(config_load_string("lower.yaml", yaml, &lower, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_open(lower, &writer, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(intake_start(&in, writer, lower, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(testhub_apply_lines_via(th, in,
		"{\"type\":\"track\",\"message_id\":\"s1\",\"timestamp\":\"2025-03-03T10:00:00Z\","
		"\"identifiers\":{\"installation_id\":\"I9\"},\"event\":{\"name\":\"browse\"}}\n"
		"{\"type\":\"identify\",\"message_id\":\"s2\",\"timestamp\":\"2025-03-03T10:01:00Z\","
		"\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I9\"}}\n"), 0);
	intake_stop(in);
	config_free(lower);
	free(yaml);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 1); /* the session merged */
	c1 = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(c1, "event_count")), 1);
	CU_ASSERT_EQUAL(json_array_size(installations_of(c1)), 1);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(c1, "identifiers"),
							"crm_id")), 2);
	json_decref(dump);
	testhub_stop(th);
}

/* What a merge brings is held to the limit: C1 has its one crm_id (limit
 * 1); a session known by another crm_id may not join it at login, one id
 * past the limit being enough to refuse the merge. */
static void test_a_merge_bringing_one_external_id_past_its_limit_is_refused(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 1}\n");
	json_t *dump, *c1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"crm_id\":\"K1\"}");
	apply_rec(th, "identify", "m2", "0901",
		  "\"identifiers\":{\"installation_id\":\"I9\",\"crm_id\":\"K2\"}");
	apply_rec(th, "identify", "m3", "0902",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I9\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 2); /* no merge */
	c1 = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(json_object_get(c1, "identifiers"),
							"crm_id")), 1);
	json_decref(dump);
	testhub_stop(th);
}

/* identity.max_attributes: a profile storing that many takes no new one
 * (a counted warning, the rest of the record applied); stored ones are
 * still written, and a deleted one keeps its place (its tombstone is a
 * row).  One client could add attributes without end (35,700 in three
 * requests), and every read and exported change carried them all. */
static void test_a_profile_stores_at_most_max_attributes(void)
{
	struct testhub *th = testhub_start("identity:\n  max_attributes: 3\n");
	json_t *dump, *attrs;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\"},\"attributes\":{\"a\":1,\"b\":2}");
	CU_ASSERT_EQUAL(th->counts.warnings, 0);
	/* a is written, c takes the last place, d is left out */
	apply_rec(th, "identify", "m2", "0901",
		  "\"identifiers\":{\"custom_id\":\"C1\"},\"attributes\":{\"a\":5,\"c\":3,"
		  "\"d\":4}");
	CU_ASSERT_EQUAL(th->counts.warnings, 1);
	/* c deleted: its tombstone keeps the place; b is still written */
	apply_rec(th, "identify", "m3", "0902",
		  "\"identifiers\":{\"custom_id\":\"C1\"},\"attributes\":{\"c\":null}");
	apply_rec(th, "identify", "m4", "0903",
		  "\"identifiers\":{\"custom_id\":\"C1\"},\"attributes\":{\"d\":6,\"b\":7,"
		  "\"tags\":{\"$add\":[\"x\"]}}");
	CU_ASSERT_EQUAL(th->counts.warnings, 3);
	CU_ASSERT_EQUAL(th->counts.applied, 4);
	/* another profile has its own room */
	apply_rec(th, "identify", "m5", "0904",
		  "\"identifiers\":{\"custom_id\":\"C2\"},\"attributes\":{\"d\":1,\"e\":2,"
		  "\"f\":3}");
	CU_ASSERT_EQUAL(th->counts.warnings, 3);
	/* a session merged in at the limit: its new keys are left out, a
	 * newer value of a stored one is taken (merges of many small
	 * sessions built a profile past the limit) */
	apply_rec(th, "identify", "m6", "0905",
		  "\"identifiers\":{\"installation_id\":\"I9\"},\"attributes\":{\"x\":1,\"a\":9}");
	apply_rec(th, "identify", "m7", "0906",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I9\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 2); /* the session merged */
	attrs = json_object_get(profile_of(dump, "C1", NULL), "attributes");
	CU_ASSERT_EQUAL(json_object_size(attrs), 2);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(attrs, "a")), 9);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(attrs, "b")), 7);
	attrs = json_object_get(profile_of(dump, "C2", NULL), "attributes");
	CU_ASSERT_EQUAL(json_object_size(attrs), 3);
	json_decref(dump);
	testhub_stop(th);
}

/* Records of hundreds of attributes: on PostgreSQL each is a write down the
 * pipeline, so some record's commit is the 256th statement in flight (it
 * lost its result there and crashed the writer). */
static void test_records_with_hundreds_of_attributes_are_stored_whole(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (int n = 240; n <= 270; n++)
		apply_attributes(th, n);
	dump = testhub_dump(th, 0);
	for (int n = 240; n <= 270; n++) {
		char cid[16], last[16];
		json_t *doc, *got;
		snprintf(cid, sizeof(cid), "C%d", n);
		snprintf(last, sizeof(last), "a%03d", n - 1);
		doc = profile_of(dump, cid, NULL);
		CU_ASSERT_PTR_NOT_NULL(doc);
		got = json_object_get(doc, "attributes");
		CU_ASSERT_EQUAL(json_object_size(got), (size_t)n);
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(got, last)), n - 1);
	}
	json_decref(dump);
	testhub_stop(th);
}

/* Numbers are kept to 15 significant digits; JavaScript's Number.MAX_VALUE
 * rounded so is past the largest double and did not read back: the
 * attribute vanished from the document, and the event's properties (qty
 * too) became {}. */
static void test_the_largest_numbers_read_back(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *doc, *attrs, *props;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th,
	      "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"m1\","
	      "\"timestamp\":\"2025-03-03T09:00:00.000Z\",\"identifiers\":{\"custom_id\":\"F1\"},"
	      "\"attributes\":{\"big\":1.7976931348623157e308,\"neg\":-1.7976931348623157e308,"
	      "\"small\":2}}\n"
	      "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"m2\","
	      "\"timestamp\":\"2025-03-03T09:01:00.000Z\",\"identifiers\":{\"custom_id\":\"F1\"},"
	      "\"event\":{\"name\":\"buy\",\"properties\":{\"price\":1.7976931348623157e308,"
	      "\"qty\":3,\"deep\":[{\"x\":1.7976931348623157e308}]}}}");
	dump = testhub_dump(th, -1);
	doc = profile_of(dump, "F1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	attrs = json_object_get(doc, "attributes");
	CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(attrs, "big")), 1.79769313486231e308,
			       1e293);
	CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(attrs, "neg")),
			       -1.79769313486231e308, 1e293);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(attrs, "small")), 2);
	props = json_object_get(json_array_get(json_object_get(doc, "events"), 0), "properties");
	CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(props, "price")),
			       1.79769313486231e308, 1e293);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(props, "qty")), 3);
	CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(
				       json_array_get(json_object_get(props, "deep"), 0), "x")),
			       1.79769313486231e308, 1e293);
	json_decref(dump);
	testhub_stop(th);
}

/* Applies JSON Lines as one batch, its results left in *b (records freed). */
static void apply_batch(struct testhub *th, const char *jsonl, struct intake_batch *b)
{
	struct record *recs[8];
	size_t n = 0;

	memset(b, 0, sizeof(*b));
	for (const char *p = jsonl; *p && n < 8;) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		CU_ASSERT_EQUAL_FATAL(record_from_json(p, len, "test", &th->rules, 1741000000000LL,
						       &recs[n], NULL, th->err, sizeof(th->err)),
				      HUB_OK);
		n++;
		p += len + (end ? 1 : 0);
	}
	b->records = recs;
	b->n_records = n;
	CU_ASSERT_EQUAL(intake_submit(th->intake, b), HUB_OK);
	CU_ASSERT_EQUAL(intake_wait(th->intake, b), HUB_OK);
	for (size_t i = 0; i < n; i++)
		record_free(recs[i]);
	b->records = NULL;
}

static json_t *attributes_of(struct testhub *th, const char *custom_id, json_t **dump)
{
	*dump = testhub_dump(th, 0);
	return json_object_get(profile_of(*dump, custom_id, NULL), "attributes");
}

/* IDENTITY.md section 4: an array holds at most 25 items, an over-limit
 * value is rejected with a warning.  Validation sees only the op; 20
 * stored items and an $add of 10 new ones pass 25 at the writer, which
 * left the attribute alone but told nobody (a log line only). */
static void test_an_array_op_past_the_limit_is_a_counted_warning(void)
{
	struct testhub *th = testhub_start(NULL);
	char line[2048], items[512];
	struct intake_batch b;
	json_t *dump, *attrs, *before;
	size_t len = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (int i = 0; i < 20; i++)
		len += (size_t)snprintf(items + len, sizeof(items) - len, "%s\"t%d\"", i ? "," : "",
					i);
	snprintf(line, sizeof(line), "{\"type\":\"identify\",\"message_id\":\"m1\","
		 "\"timestamp\":\"2025-03-03T09:00:00.000Z\","
		 "\"identifiers\":{\"custom_id\":\"A1\"},\"attributes\":{\"tags\":[%s]}}", items);
	apply(th, line);
	attrs = attributes_of(th, "A1", &dump);
	CU_ASSERT_EQUAL_FATAL(json_array_size(json_object_get(attrs, "tags")), 20);
	before = json_incref(json_object_get(attrs, "tags"));
	json_decref(dump);

	/* the second record of the batch adds 10 new items and sets plan */
	apply_batch(th, "{\"type\":\"identify\",\"message_id\":\"m2\","
		       "\"timestamp\":\"2025-03-03T09:01:00.000Z\","
		       "\"identifiers\":{\"custom_id\":\"B1\"}}\n"
		       "{\"type\":\"identify\",\"message_id\":\"m3\","
		       "\"timestamp\":\"2025-03-03T09:02:00.000Z\","
		       "\"identifiers\":{\"custom_id\":\"A1\"},"
		       "\"attributes\":{\"plan\":\"gold\",\"tags\":{\"$add\":[\"u0\",\"u1\",\"u2\","
		       "\"u3\",\"u4\",\"u5\",\"u6\",\"u7\",\"u8\",\"u9\"]}}}", &b);
	CU_ASSERT_EQUAL(b.counts.applied, 2);
	CU_ASSERT_EQUAL(b.counts.warnings, 1);
	CU_ASSERT_EQUAL_FATAL(b.n_warnings, 1);
	CU_ASSERT_EQUAL(b.warnings[0].index, 1);
	CU_ASSERT_STRING_EQUAL(b.warnings[0].message,
			       "attributes.tags: the array op would leave 30 items, more than 25;"
			       " the attribute is left unchanged");
	attrs = attributes_of(th, "A1", &dump);
	CU_ASSERT(json_equal(json_object_get(attrs, "tags"), before));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(attrs, "plan")), "gold");
	json_decref(dump);

	/* up to the limit it applies, without a warning */
	apply_batch(th, "{\"type\":\"identify\",\"message_id\":\"m4\","
		       "\"timestamp\":\"2025-03-03T09:03:00.000Z\","
		       "\"identifiers\":{\"custom_id\":\"A1\"},"
		       "\"attributes\":{\"tags\":{\"$add\":[\"u0\",\"u1\",\"u2\",\"u3\",\"u4\"]}}}",
		       &b);
	CU_ASSERT_EQUAL(b.counts.applied, 1);
	CU_ASSERT_EQUAL(b.counts.warnings, 0);
	CU_ASSERT_EQUAL(b.n_warnings, 0);
	attrs = attributes_of(th, "A1", &dump);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(attrs, "tags")), 25);
	json_decref(dump);
	json_decref(before);
	testhub_stop(th);
}

/* IDENTITY.md section 3 and 5: two known profiles never merge on their
 * own.  An alias whose previous_id is another user's custom_id is refused
 * (counted so, nothing of it applied: C1's ID is not taken as an
 * installation of C2's); an alias of a user to itself is a plain identify
 * (applied, not refused as "another" known profile). */
static void test_an_alias_never_joins_two_known_users(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *c1, *c2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"}");
	apply_rec(th, "identify", "m2", "0901", "\"identifiers\":{\"custom_id\":\"C2\"}");
	apply_rec(th, "alias", "m3", "0902",
		  "\"previous_id\":\"C1\",\"identifiers\":{\"custom_id\":\"C2\"}");
	CU_ASSERT_EQUAL(th->counts.refused, 1);
	CU_ASSERT_EQUAL(th->counts.applied, 2);
	apply_rec(th, "alias", "m4", "0903",
		  "\"previous_id\":\"C1\",\"identifiers\":{\"custom_id\":\"C1\"}");
	CU_ASSERT_EQUAL(th->counts.refused, 1);
	CU_ASSERT_EQUAL(th->counts.applied, 3);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 2);
	c1 = profile_of(dump, "C1", NULL);
	c2 = profile_of(dump, "C2", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
	CU_ASSERT_STRING_NOT_EQUAL(pid_of(c1), pid_of(c2));
	CU_ASSERT_EQUAL(json_array_size(installations_of(c1)), 1);
	CU_ASSERT_EQUAL(json_array_size(installations_of(c2)), 0);
	json_decref(dump);
	testhub_stop(th);
}

/* A blocked record is not remembered by the dedupe (it was not applied):
 * the same record sent again is blocked again, not counted a duplicate. */
static void test_a_blocked_record_sent_again_is_blocked_not_a_duplicate(void)
{
	static const char blocked[] =
		"{\"type\":\"track\",\"message_id\":\"m3\",\"timestamp\":\"2025-03-03T09:02:00Z\","
		"\"identifiers\":{\"custom_id\":\"C1\"},\"event\":{\"name\":\"e\"}}";
	struct testhub *th = testhub_start(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900", "\"identifiers\":{\"custom_id\":\"C1\"}");
	apply_rec(th, "erase", "m2", "0901", "\"identifiers\":{\"custom_id\":\"C1\"}");
	apply(th, blocked);
	apply(th, blocked);
	CU_ASSERT_EQUAL(th->counts.blocked, 2);
	CU_ASSERT_EQUAL(th->counts.duplicates, 0);
	testhub_stop(th);
}

/* identity.max_installations bounds what a merge leaves on the profile:
 * a login that brings the profile exactly to the limit still merges the
 * anonymous session (its event comes along).  It was refused at the
 * limit, the installation moved alone and the session's history was left
 * on a profile nobody reaches. */
static void test_a_merge_may_fill_max_installations_exactly(void)
{
	struct testhub *th = testhub_start("identity:\n  max_installations: 2\n");
	json_t *dump, *c1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"}");
	apply_rec(th, "track", "m2", "0901",
		  "\"identifiers\":{\"installation_id\":\"I2\"},\"event\":{\"name\":\"e2\"}");
	apply_rec(th, "identify", "m3", "0902",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I2\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 1); /* the session merged */
	c1 = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	CU_ASSERT_EQUAL(json_array_size(installations_of(c1)), 2);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(c1, "event_count")), 1);
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md section 3: when anonymous profiles merge, the oldest (first
 * created) survives, whichever identifier of the record found it: here the
 * record's installation finds the newer one first.  The survivor's
 * profile_id is what readers and exports already know. */
static void test_the_oldest_anonymous_profile_survives_a_merge(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 1}\n");
	json_t *dump;
	char old_pid[64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900", "\"identifiers\":{\"crm_id\":\"K1\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	snprintf(old_pid, sizeof(old_pid), "%s", pid_of(json_array_get(dump, 0)));
	json_decref(dump);
	apply_rec(th, "track", "m2", "0901",
		  "\"identifiers\":{\"installation_id\":\"I1\"},\"event\":{\"name\":\"e\"}");
	apply_rec(th, "track", "m3", "0902",
		  "\"identifiers\":{\"installation_id\":\"I1\",\"crm_id\":\"K1\"},"
		  "\"event\":{\"name\":\"e\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	CU_ASSERT_STRING_EQUAL(pid_of(json_array_get(dump, 0)), old_pid);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(dump, 0), "event_count")),
			2);
	json_decref(dump);
	testhub_stop(th);
}

/* A merge keeps the earlier of the two creations: a user first known on
 * June 1 whose anonymous session of January 1 logs in was first seen in
 * January (created_at stayed June 1, after the profile's first event).
 * (Times before the test hub's clock, 2025-03-03: later ones are moved to
 * it as a device clock ahead.) */
static void test_a_merge_keeps_the_earlier_created_at(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *doc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th,
	      "{\"type\":\"identify\",\"message_id\":\"m1\",\"timestamp\":\"2024-06-01T00:00:00Z\","
	      "\"identifiers\":{\"custom_id\":\"C1\"}}");
	apply(th,
	      "{\"type\":\"track\",\"message_id\":\"m2\",\"timestamp\":\"2024-01-01T00:00:00Z\","
	      "\"identifiers\":{\"installation_id\":\"I1\"},\"event\":{\"name\":\"e\"}}");
	apply(th,
	      "{\"type\":\"identify\",\"message_id\":\"m3\",\"timestamp\":\"2024-06-02T00:00:00Z\","
	      "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"}}");
	/* and a later anonymous session merged in changes nothing */
	apply(th,
	      "{\"type\":\"track\",\"message_id\":\"m4\",\"timestamp\":\"2024-07-01T00:00:00Z\","
	      "\"identifiers\":{\"installation_id\":\"I2\"},\"event\":{\"name\":\"e\"}}");
	apply(th,
	      "{\"type\":\"identify\",\"message_id\":\"m5\",\"timestamp\":\"2024-07-02T00:00:00Z\","
	      "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I2\"}}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	doc = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "created_at")),
			       "2024-01-01T00:00:00.000Z");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "merged_from")), 2);
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md section 7: an erased person's identifiers are blocked,
 * whichever field of a record brings them back.  An alias whose
 * previous_id is an erased custom_id or installation is blocked like a
 * record that names them as identifiers (it would have re-created the
 * person under a new custom_id). */
static void test_an_alias_of_an_erased_identifier_is_blocked(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"}");
	apply_rec(th, "erase", "m2", "0901", "\"identifiers\":{\"custom_id\":\"C1\"}");
	apply_rec(th, "alias", "m3", "0902",
		  "\"previous_id\":\"C1\",\"identifiers\":{\"custom_id\":\"C8\"}");
	apply_rec(th, "alias", "m4", "0903",
		  "\"previous_id\":\"I1\",\"identifiers\":{\"custom_id\":\"C9\"}");
	CU_ASSERT_EQUAL(th->counts.applied, 2);
	CU_ASSERT_EQUAL(th->counts.blocked, 2);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 0);
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md section 3, caps: a profile absorbs at most 100 others.  100
 * anonymous sessions (each holding one crm_id) log in as C1 and merge; the
 * 101st stays a profile of its own, its crm_id with it. */
static void test_a_profile_absorbs_at_most_100_profiles(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 200}\n");
	size_t size = 300 * 101 + 256, len = 0;
	char *lines = malloc(size);
	const char *k101;
	json_t *dump, *c1, *anon, *crm;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lines);
	len += (size_t)snprintf(
		lines + len, size - len,
		"{\"type\":\"identify\",\"message_id\":\"c\","
		"\"timestamp\":\"2025-03-03T09:00:00Z\",\"identifiers\":{\"custom_id\":\"C1\"}}\n");
	for (int k = 1; k <= 101; k++)
		len += (size_t)snprintf(
			lines + len, size - len,
			"{\"type\":\"identify\",\"message_id\":\"a%d\","
			"\"timestamp\":\"2025-03-03T10:00:00Z\",\"identifiers\":{\"crm_id\":"
			"\"K%d\"}}\n{\"type\":\"identify\",\"message_id\":\"b%d\","
			"\"timestamp\":\"2025-03-03T10:00:01Z\",\"identifiers\":{\"custom_id\":"
			"\"C1\",\"crm_id\":\"K%d\"}}\n",
			k, k, k, k);
	CU_ASSERT_FATAL(len < size);
	apply(th, lines);
	free(lines);
	CU_ASSERT_EQUAL(th->counts.applied, 203);
	dump = testhub_dump(th, 0);
	c1 = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	CU_ASSERT_EQUAL(
		json_array_size(json_object_get(json_object_get(c1, "identifiers"), "crm_id")),
		100);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 2);
	anon = json_array_get(dump, json_array_get(dump, 0) == c1 ? 1 : 0);
	CU_ASSERT_PTR_NULL(json_string_value(json_object_get(anon, "custom_id")));
	crm = json_object_get(json_object_get(anon, "identifiers"), "crm_id");
	CU_ASSERT_EQUAL(json_array_size(crm), 1);
	k101 = json_string_value(json_array_get(crm, 0));
	CU_ASSERT(k101 != NULL && strcmp(k101, "K101") == 0);
	json_decref(dump);
	testhub_stop(th);
}

/* Lines of records into a new buffer (free it): fmt, one of this file's
 * literals, takes k twice or four times, for k = from..to. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *lines_for(const char *fmt, int from, int to)
{
	size_t size = (size_t)(to - from + 1) * (strlen(fmt) + 64) + 1, len = 0;
	char *lines = malloc(size);

	CU_ASSERT_PTR_NOT_NULL_FATAL(lines);
	lines[0] = '\0';
	for (int k = from; k <= to; k++)
		len += (size_t)snprintf(lines + len, size - len, fmt, k, k, k, k);
	CU_ASSERT_FATAL(len < size);
	return lines;
}
#pragma GCC diagnostic pop

/* The number of identifiers in a profile document, of every type. */
static size_t identifier_total(const json_t *doc)
{
	const char *type;
	json_t *v;
	size_t n = 0;

	json_object_foreach(json_object_get((json_t *)doc, "identifiers"), type, v)
		n += json_is_array(v) ? json_array_size(v) : (json_is_string(v) ? 1 : 0);
	return n;
}

/* Of a dump of two profiles, the one that is not `doc` (borrowed). */
static json_t *other_of_two(json_t *dump, const json_t *doc)
{
	return json_array_get(dump, json_array_get(dump, 0) == doc ? 1 : 0);
}

/* The user's log holds a merge_refused row naming the identifier that
 * linked them, the anonymous profile and the cap; the anonymous profile's
 * history shows it too. */
static void expect_merge_refused(struct testhub *th, const json_t *user, const json_t *anon,
				 const char *type, const char *value, const char *reason)
{
	json_t *rows = log_of(th, pid_of(user));
	json_t *row = row_of(rows, "merge_refused");

	CU_ASSERT_PTR_NOT_NULL(row);
	if (row) {
		expect_text(row, "profile_id", pid_of(user));
		expect_text(row, "type", type);
		expect_text(row, "value", value);
		expect_text(row, "other", pid_of(anon));
		expect_text(row, "reason", reason);
	}
	json_decref(rows);
	rows = log_of(th, pid_of(anon));
	CU_ASSERT_PTR_NOT_NULL(row_of(rows, "merge_refused"));
	json_decref(rows);
}

/* IDENTITY.md section 9: a login whose merge a limit refuses moves the
 * installation alone, the anonymous profile left apart; the user's log
 * says so (merge_refused: the installation, the anonymous profile, the
 * limit), and the anonymous profile's history shows the same row. */
static void test_a_login_merge_a_limit_refused_is_logged_on_the_user(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 1}\n");
	json_t *dump, *c1, *anon;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th, "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"m1\","
		  "\"timestamp\":\"2025-03-03T09:00:00Z\","
		  "\"identifiers\":{\"custom_id\":\"C1\",\"crm_id\":\"K1\"}}\n"
		  "{\"type\":\"track\",\"source\":\"test\",\"message_id\":\"m2\","
		  "\"timestamp\":\"2025-03-03T09:01:00Z\",\"event\":{\"name\":\"open\"},"
		  "\"identifiers\":{\"installation_id\":\"I3\",\"crm_id\":\"K2\"}}\n"
		  "{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"m3\","
		  "\"timestamp\":\"2025-03-03T09:02:00Z\","
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I3\"}}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 2);
	c1 = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	anon = other_of_two(dump, c1);
	CU_ASSERT_PTR_NULL(json_string_value(json_object_get(anon, "custom_id")));
	CU_ASSERT_EQUAL(identifier_total(c1), 3); /* C1, K1, I3 */
	expect_merge_refused(th, c1, anon, "installation_id", "I3",
			     "identify m3 (test): crm_id limit 1");
	json_decref(dump);
	testhub_stop(th);
}

/* A client can have both of these warnings at will: a login of each new
 * session on a profile at identity.max_installations stops its merge (a
 * cap) and leaves its installation out.  Each is logged the first time,
 * with the count, then one at most every LOG_NOTE_MS: 20 such logins
 * write one line of each (one more per 10 s the batch took), not 40. */
static void test_merges_a_cap_stops_are_logged_once_a_period(void)
{
	struct testhub *th = testhub_start("identity:\n  max_installations: 1\n");
	char *lines = lines_for(
		"{\"type\":\"track\",\"message_id\":\"t%d\",\"timestamp\":\"2025-03-03T09:01:00Z\","
		"\"identifiers\":{\"installation_id\":\"I%d\"},\"event\":{\"name\":\"e\"}}\n"
		"{\"type\":\"identify\",\"message_id\":\"i%d\","
		"\"timestamp\":\"2025-03-03T09:02:00Z\","
		"\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I%d\"}}\n",
		2, 21);
	enum hub_log_level level = log_get_level();
	struct testlib_capture cap;
	int64_t t0;
	int rc, most;
	char *logged;
	json_t *dump;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "i1", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"}");
	log_set_level(HUB_LOG_WARN);
	t0 = time_mono_ms();
	testlib_capture_begin(&cap);
	rc = testhub_apply_lines(th, lines);
	logged = testlib_capture_end(&cap);
	most = 1 + (int)((time_mono_ms() - t0) / LOG_NOTE_MS);
	log_set_level(level);
	free(lines);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(th->counts.applied, 41);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 21); /* C1 and 20 sessions left apart */
	json_decref(dump);
	rc = testlib_lines_with(logged, ": no merge with profile ");
	CU_ASSERT(rc >= 1 && rc <= most);
	rc = testlib_lines_with(logged, " installations, the most it may");
	CU_ASSERT(rc >= 1 && rc <= most);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "would hold more installations than"
					      " identity.max_installations; 1 merge stopped by a"
					      " cap so far, a line every 10 s at most\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "the record's installation is left out; 1 left"
					      " out so far, a line every 10 s at most\n"));
	CU_ASSERT_EQUAL(testlib_lines_with(logged, "identify i2 ("), 2);
	free(logged);
	testhub_stop(th);
}

/* C1 (crm_id K1, limit 1) logs in on I3, a session holding K2: the merge
 * is refused, the session (its event) left apart from C1. */
static void apply_refused_login(struct testhub *th)
{
	apply(th, "{\"type\":\"identify\",\"message_id\":\"m1\","
		  "\"timestamp\":\"2025-03-03T09:00:00Z\","
		  "\"identifiers\":{\"custom_id\":\"C1\",\"crm_id\":\"K1\"}}\n"
		  "{\"type\":\"track\",\"message_id\":\"m2\",\"event\":{\"name\":\"open\"},"
		  "\"timestamp\":\"2025-03-03T09:01:00Z\","
		  "\"identifiers\":{\"installation_id\":\"I3\",\"crm_id\":\"K2\"}}\n"
		  "{\"type\":\"identify\",\"message_id\":\"m3\","
		  "\"timestamp\":\"2025-03-03T09:02:00Z\","
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I3\"}}");
}

/* IDENTITY.md section 7 erases the profiles the request resolves to and
 * their tombstones: the session a refused merge left apart from C1 holds
 * none of C1's identifiers, so an erase of C1 leaves it, and its answer
 * (the batch's warning) names it, read from C1's log before the erase
 * deleted it.  A second erase finds no such row: no warning. */
static void test_an_erase_names_the_session_a_refused_merge_left_apart(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 1}\n");
	struct intake_batch b;
	json_t *dump;
	char want[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_refused_login(th);
	apply_batch(th, "{\"type\":\"erase\",\"message_id\":\"e1\","
		       "\"timestamp\":\"2025-03-03T10:00:00Z\","
		       "\"identifiers\":{\"custom_id\":\"C1\"}}", &b);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1); /* the session, with its event */
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(dump, 0),
							   "event_count")), 1);
	snprintf(want, sizeof(want), "profile %s not erased: a session a refused merge left"
		 " apart from the erased profile (merge_refused in its log); erase it by its"
		 " profile ID now (profile_id: \"%s\")", pid_of(json_array_get(dump, 0)),
		 pid_of(json_array_get(dump, 0)));
	CU_ASSERT_EQUAL(b.counts.warnings, 1);
	CU_ASSERT_EQUAL_FATAL(b.n_warnings, 1);
	CU_ASSERT_STRING_EQUAL(b.warnings[0].message, want);
	json_decref(dump);
	apply_batch(th, "{\"type\":\"erase\",\"message_id\":\"e2\","
		       "\"timestamp\":\"2025-03-03T10:01:00Z\","
		       "\"identifiers\":{\"crm_id\":\"K2\"}}", &b);
	CU_ASSERT_EQUAL(b.n_warnings, 0);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 0);
	json_decref(dump);
	testhub_stop(th);
}

/* The session a refused merge left apart from C1 (holding K2) is merged
 * since into C2, a known user, by C2's login with K2: an erase of C1 names
 * C2's profile as a known user's now, never telling the client to erase
 * it by its ID (that would erase C2, maybe someone else).  C2 stays. */
static void test_an_erase_does_not_offer_another_known_user_for_erasure(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 1}\n");
	struct intake_batch b;
	json_t *dump;
	char want[320];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_refused_login(th);
	apply_rec(th, "identify", "m9", "0930",
		  "\"identifiers\":{\"custom_id\":\"C2\",\"crm_id\":\"K2\"}");
	apply_batch(th, "{\"type\":\"erase\",\"message_id\":\"e1\","
		       "\"timestamp\":\"2025-03-03T10:00:00Z\","
		       "\"identifiers\":{\"custom_id\":\"C1\"}}", &b);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1); /* C2, with the session's event */
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(dump, 0),
								 "custom_id")), "C2");
	snprintf(want, sizeof(want), "profile %s not erased: a session a refused merge left"
		 " apart from the erased profile (merge_refused in its log) is a known user's"
		 " now: perhaps not the same person", pid_of(json_array_get(dump, 0)));
	CU_ASSERT_EQUAL_FATAL(b.n_warnings, 1);
	CU_ASSERT_STRING_EQUAL(b.warnings[0].message, want);
	CU_ASSERT_PTR_NULL(strstr(b.warnings[0].message, "erase it"));
	json_decref(dump);
	testhub_stop(th);
}

/* The session a refused merge left apart from C1 is merged since into an
 * older anonymous profile (I0's, by a record naming I0 and K2): the
 * warning of C1's erase names that live survivor, by an ID that erases
 * it, not the session's tombstone (nor an empty ID). */
static void test_an_erase_names_the_survivor_of_the_session_left_apart(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 1}\n");
	struct intake_batch b;
	json_t *dump;
	char want[320];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th, "{\"type\":\"track\",\"message_id\":\"m0\",\"event\":{\"name\":\"open\"},"
		  "\"timestamp\":\"2025-03-03T08:00:00Z\","
		  "\"identifiers\":{\"installation_id\":\"I0\"}}");
	apply_refused_login(th);
	apply(th, "{\"type\":\"track\",\"message_id\":\"m9\",\"event\":{\"name\":\"open\"},"
		  "\"timestamp\":\"2025-03-03T09:30:00Z\","
		  "\"identifiers\":{\"installation_id\":\"I0\",\"crm_id\":\"K2\"}}");
	apply_batch(th, "{\"type\":\"erase\",\"message_id\":\"e1\","
		       "\"timestamp\":\"2025-03-03T10:00:00Z\","
		       "\"identifiers\":{\"custom_id\":\"C1\"}}", &b);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1); /* I0's, the session merged into it */
	snprintf(want, sizeof(want), "profile %s not erased: a session a refused merge left"
		 " apart from the erased profile (merge_refused in its log); erase it by its"
		 " profile ID now (profile_id: \"%s\")", pid_of(json_array_get(dump, 0)),
		 pid_of(json_array_get(dump, 0)));
	CU_ASSERT_EQUAL_FATAL(b.n_warnings, 1);
	CU_ASSERT_STRING_EQUAL(b.warnings[0].message, want);
	json_decref(dump);
	testhub_stop(th);
}

/* C1 logs in again twice naming K2, the session's: each refusal is a
 * merge_refused row naming the same session, which the erase of C1 names
 * once. */
static void test_an_erase_names_a_session_left_apart_once(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 1}\n");
	struct intake_batch b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_refused_login(th);
	apply(th, "{\"type\":\"identify\",\"message_id\":\"m4\","
		  "\"timestamp\":\"2025-03-03T09:10:00Z\","
		  "\"identifiers\":{\"custom_id\":\"C1\",\"crm_id\":\"K2\"}}\n"
		  "{\"type\":\"identify\",\"message_id\":\"m5\","
		  "\"timestamp\":\"2025-03-03T09:11:00Z\","
		  "\"identifiers\":{\"custom_id\":\"C1\",\"crm_id\":\"K2\"}}");
	apply_batch(th, "{\"type\":\"erase\",\"message_id\":\"e1\","
		       "\"timestamp\":\"2025-03-03T10:00:00Z\","
		       "\"identifiers\":{\"custom_id\":\"C1\"}}", &b);
	CU_ASSERT_EQUAL(b.counts.warnings, 1);
	CU_ASSERT_EQUAL(b.n_warnings, 1);
	testhub_stop(th);
}

/* Two records naming erased identifiers: both blocked, n_left live
 * profiles after them. */
static void apply_blocked(struct testhub *th, const char *two_lines, size_t n_left)
{
	size_t blocked = th->counts.blocked;
	json_t *dump;

	apply(th, two_lines);
	CU_ASSERT_EQUAL(th->counts.blocked, blocked + 2);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), n_left);
	json_decref(dump);
}

/* An erase of the hub's own privacy request naming the profile by its ID
 * (privacy.c), as the API and the CLI submit it. */
static hub_rc erase_by_pid(struct testhub *th, const char *pid, const char *request_id,
			   json_t **warnings)
{
	return privacy_erase_submit(th->intake, &th->rules, "profile_id", pid, request_id, warnings,
				    th->err, sizeof(th->err));
}

/* The session a refused merge left apart from C1 holds no identifier of
 * C1's: the warning of C1's erase names it, and an erase by that profile
 * ID takes it with its event; its identifiers (I3, K2) are blocked after. */
static void test_an_erase_by_profile_id_takes_the_session_a_refused_merge_left_apart(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 1}\n");
	json_t *dump, *warnings = NULL;
	char pid[64];
	int64_t n_events = -1, last = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_refused_login(th);
	CU_ASSERT_EQUAL_FATAL(erase_by_pid(th, "p_aaaaaaaaaaaaaaaa", "pr_00000000000000a0", NULL),
			      HUB_OK); /* no such profile: nothing erased */
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 2);
	json_decref(dump);
	CU_ASSERT_EQUAL_FATAL(testhub_apply_lines(th,
						  "{\"type\":\"erase\",\"message_id\":"
						  "\"e1\",\"timestamp\":\"2025-03-03T10:00:00Z\","
						  "\"identifiers\":{\"custom_id\":\"C1\"}}"),
			      0);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	snprintf(pid, sizeof(pid), "%s", pid_of(json_array_get(dump, 0)));
	json_decref(dump);
	CU_ASSERT_EQUAL_FATAL(erase_by_pid(th, pid, "pr_00000000000000a1", &warnings), HUB_OK);
	CU_ASSERT_PTR_NULL(warnings);
	json_decref(warnings);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 0);
	json_decref(dump);
	CU_ASSERT_EQUAL(th->reader->ops->event_stats(th->reader, pid, &n_events, &last), 0);
	CU_ASSERT_EQUAL(n_events, 0);
	apply_blocked(th,
		      "{\"type\":\"track\",\"message_id\":\"m4\",\"event\":{\"name\":\"open\"},"
		      "\"timestamp\":\"2025-03-03T11:00:00Z\","
		      "\"identifiers\":{\"installation_id\":\"I3\"}}\n"
		      "{\"type\":\"identify\",\"message_id\":\"m5\","
		      "\"timestamp\":\"2025-03-03T11:01:00Z\",\"identifiers\":{\"crm_id\":\"K2\"}}",
		      0);
	testhub_stop(th);
}

/* An erase by the ID of a profile merged into C1 (a tombstone) erases C1,
 * the live profile a lookup of that ID finds, and the tombstone with it;
 * C1's identifiers and the session's are blocked; the audit row names the
 * request.  Another profile (C2) stays. */
static void test_an_erase_by_a_tombstone_id_erases_the_survivor(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *rows, *warnings = NULL;
	char tomb[64], c1[64];
	struct store_profile p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th, "{\"type\":\"identify\",\"message_id\":\"m1\","
		  "\"timestamp\":\"2025-03-03T09:00:00Z\",\"identifiers\":{\"custom_id\":\"C1\"}}\n"
		  "{\"type\":\"track\",\"message_id\":\"m2\",\"event\":{\"name\":\"e\"},"
		  "\"timestamp\":\"2025-03-03T09:01:00Z\","
		  "\"identifiers\":{\"installation_id\":\"I9\"}}\n"
		  "{\"type\":\"identify\",\"message_id\":\"m0\","
		  "\"timestamp\":\"2025-03-03T09:01:30Z\",\"identifiers\":{\"custom_id\":\"C2\"}}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(profile_of(dump, NULL, "I9"));
	snprintf(tomb, sizeof(tomb), "%s", pid_of(profile_of(dump, NULL, "I9")));
	snprintf(c1, sizeof(c1), "%s", pid_of(profile_of(dump, "C1", NULL)));
	json_decref(dump);
	apply_rec(th, "identify", "m3", "0902",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I9\"}");
	CU_ASSERT_EQUAL_FATAL(th->reader->ops->profile_get(th->reader, tomb, &p), 1);
	CU_ASSERT_STRING_EQUAL_FATAL(p.merged_into, c1);
	CU_ASSERT_EQUAL_FATAL(erase_by_pid(th, tomb, "pr_00000000000000b1", &warnings), HUB_OK);
	json_decref(warnings);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 1);
	CU_ASSERT_PTR_NOT_NULL(profile_of(dump, "C2", NULL));
	json_decref(dump);
	CU_ASSERT_EQUAL(th->reader->ops->profile_get(th->reader, tomb, &p), 0);
	CU_ASSERT_EQUAL(th->reader->ops->profile_get(th->reader, c1, &p), 0);
	rows = log_of(th, c1);
	CU_ASSERT_EQUAL(json_array_size(rows), 1);
	if (json_array_size(rows) == 1)
		expect_text(json_array_get(rows, 0), "reason",
			    "privacy erase pr_00000000000000b1 (1 merged profile)");
	json_decref(rows);
	apply_blocked(
		th,
		"{\"type\":\"identify\",\"message_id\":\"m4\","
		"\"timestamp\":\"2025-03-03T10:00:00Z\",\"identifiers\":{\"custom_id\":\"C1\"}}\n"
		"{\"type\":\"track\",\"message_id\":\"m5\",\"event\":{\"name\":\"e\"},"
		"\"timestamp\":\"2025-03-03T10:01:00Z\","
		"\"identifiers\":{\"installation_id\":\"I9\"}}",
		1);
	testhub_stop(th);
}

/* A malformed profile ID is refused before anything is submitted, naming
 * the field; a canonical record (import, a source) cannot carry one: its
 * profile_id member is no identifier, so an erase naming only it is
 * refused, and one naming an identifier too erases by the identifier. */
static void test_only_a_privacy_request_erases_by_profile_id(void)
{
	struct testhub *th = testhub_start(NULL);
	struct record *r = NULL;
	json_t *dump;
	char pid[64], text[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900", "\"identifiers\":{\"installation_id\":\"I1\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	snprintf(pid, sizeof(pid), "%s", pid_of(json_array_get(dump, 0)));
	json_decref(dump);
	CU_ASSERT_EQUAL(erase_by_pid(th, "p_1", "pr_00000000000000c1", NULL), HUB_ERR_DATA);
	CU_ASSERT_PTR_NOT_NULL(strstr(th->err, "profile_id: \"p_1\" is not a profile ID"));
	snprintf(text, sizeof(text),
		 "{\"type\":\"erase\",\"message_id\":\"x\","
		 "\"profile_id\":\"%s\"}",
		 pid);
	CU_ASSERT_EQUAL(record_from_json(text, strlen(text), "privacy", &th->rules, 1741000000000LL,
					 &r, NULL, th->err, sizeof(th->err)),
			HUB_ERR_DATA);
	record_free(r);
	r = NULL;
	snprintf(text, sizeof(text),
		 "{\"type\":\"erase\",\"message_id\":\"x\","
		 "\"profile_id\":\"%s\",\"identifiers\":{\"custom_id\":\"C7\"}}",
		 pid);
	CU_ASSERT_EQUAL_FATAL(record_from_json(text, strlen(text), "privacy", &th->rules,
					       1741000000000LL, &r, NULL, th->err, sizeof(th->err)),
			      HUB_OK);
	CU_ASSERT_PTR_NULL(r->profile_id);
	CU_ASSERT_EQUAL(testhub_apply_records(th, &r, 1), 0);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 1); /* I1's profile stays */
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md section 9, caps: a profile whose merge count has reached 100
 * takes part in no further merge, absorbed as well as survivor.  An
 * anonymous A (crm_id K0) absorbs 100 anonymous sessions (web_id W1..W100)
 * through records naming both; C1 then logs in with K0: A, at the cap,
 * is not absorbed, and K0 is dropped from the record. */
static void test_a_profile_at_the_merge_cap_is_not_absorbed(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 5}\n"
					   "    web_id: {limit: 200}\n");
	json_t *dump, *c1, *anon;
	char *lines;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "c", "0900", "\"identifiers\":{\"custom_id\":\"C1\"}");
	apply(th, "{\"type\":\"identify\",\"message_id\":\"a\","
		  "\"timestamp\":\"2025-03-03T09:00:01Z\",\"identifiers\":{\"crm_id\":\"K0\"}}");
	lines = lines_for("{\"type\":\"identify\",\"message_id\":\"w%d\","
			  "\"timestamp\":\"2025-03-03T10:00:00Z\",\"identifiers\":"
			  "{\"web_id\":\"W%d\"}}\n{\"type\":\"identify\",\"message_id\":\"m%d\","
			  "\"timestamp\":\"2025-03-03T10:00:01Z\",\"identifiers\":"
			  "{\"crm_id\":\"K0\",\"web_id\":\"W%d\"}}\n",
			  1, 100);
	apply(th, lines);
	free(lines);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 2); /* C1, and A with all 100 */
	json_decref(dump);
	apply_rec(th, "identify", "login", "1100",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"crm_id\":\"K0\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 2);
	c1 = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	CU_ASSERT_EQUAL(identifier_total(c1), 1); /* C1 alone: K0 dropped */
	anon = other_of_two(dump, c1);
	CU_ASSERT_EQUAL(identifier_total(anon), 101); /* K0 and W1..W100 */
	expect_merge_refused(th, c1, anon, "crm_id", "K0",
			     "identify login (test): merge count cap 100");
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md section 3, caps: a merge may leave a profile with 1000
 * identifiers, not more.  C1 holds 999 (itself and 998 web_ids); an
 * anonymous K1 merges in (1000), an anonymous K2 then does not (1001): it
 * stays apart with K2, which is dropped from the record. */
static void test_a_merge_may_reach_1000_identifiers_not_more(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 5}\n"
					   "    web_id: {limit: 2000}\n");
	json_t *dump, *c1;
	char *lines;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	lines = lines_for("{\"type\":\"identify\",\"message_id\":\"w%d\","
			  "\"timestamp\":\"2025-03-03T10:00:00Z\",\"identifiers\":"
			  "{\"custom_id\":\"C1\",\"web_id\":\"W%d\"}}\n",
			  1, 998);
	apply(th, lines);
	free(lines);
	for (int k = 1; k <= 2; k++) {
		char line[512];
		snprintf(line, sizeof(line),
			 "{\"type\":\"identify\",\"message_id\":\"k%d\","
			 "\"timestamp\":\"2025-03-03T11:00:00Z\",\"identifiers\":"
			 "{\"crm_id\":\"K%d\"}}\n{\"type\":\"identify\",\"message_id\":\"l%d\","
			 "\"timestamp\":\"2025-03-03T11:00:01Z\",\"identifiers\":"
			 "{\"custom_id\":\"C1\",\"crm_id\":\"K%d\"}}\n",
			 k, k, k, k);
		apply(th, line);
		dump = testhub_dump(th, 0);
		CU_ASSERT_EQUAL(json_array_size(dump), (size_t)k); /* K2's stays apart */
		c1 = profile_of(dump, "C1", NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
		CU_ASSERT_EQUAL(identifier_total(c1), 1000);
		json_decref(dump);
	}
	testhub_stop(th);
}

/* IDENTITY.md section 9: of anonymous profiles merged by one record, the
 * oldest survives and absorbs the others in creation order: its log's
 * merge rows name B, then C. */
static void test_a_merge_of_several_absorbs_them_oldest_first(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 5}\n"
					   "    web_id: {limit: 5}\n    app_id: {limit: 5}\n");
	static const char *const ids[] = {"crm_id\":\"K", "web_id\":\"W", "app_id\":\"P"};
	char pids[3][64], line[512];
	json_t *dump, *rows, *row;
	size_t i, n_merges = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (int k = 0; k < 3; k++) {
		snprintf(line, sizeof(line),
			 "{\"type\":\"identify\",\"message_id\":\"a%d\","
			 "\"timestamp\":\"2025-03-03T10:00:0%dZ\",\"identifiers\":{\"%s1\"}}",
			 k, k, ids[k]);
		apply(th, line);
		dump = testhub_dump(th, 0);
		CU_ASSERT_EQUAL_FATAL(json_array_size(dump), (size_t)k + 1);
		for (size_t j = 0; j < json_array_size(dump); j++) {
			const char *pid = pid_of(json_array_get(dump, j));
			int is_new = 1;
			for (int m = 0; m < k; m++)
				is_new &= strcmp(pids[m], pid) != 0;
			if (is_new)
				snprintf(pids[k], sizeof(pids[k]), "%s", pid);
		}
		json_decref(dump);
	}
	/* the newest first in the record: the order is creation's, not the record's */
	apply_rec(th, "identify", "all", "1100",
		  "\"identifiers\":{\"app_id\":\"P1\",\"web_id\":\"W1\",\"crm_id\":\"K1\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	CU_ASSERT_STRING_EQUAL(pid_of(json_array_get(dump, 0)), pids[0]);
	json_decref(dump);
	rows = log_of(th, pids[0]);
	json_array_foreach(rows, i, row) {
		if (strcmp(json_string_value(json_object_get(row, "action")), "merge") != 0 ||
		    strcmp(json_string_value(json_object_get(row, "profile_id")), pids[0]) != 0)
			continue;
		CU_ASSERT_FATAL(n_merges < 2);
		expect_text(row, "other", pids[1 + n_merges]);
		n_merges++;
	}
	CU_ASSERT_EQUAL(n_merges, 2);
	json_decref(rows);
	testhub_stop(th);
}

/* The reason of the "create" row of custom_id's profile, checked. */
static void expect_create_reason(struct testhub *th, const char *custom_id, const char *want)
{
	json_t *dump = testhub_dump(th, 0), *doc = profile_of(dump, custom_id, NULL), *rows, *row;

	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	rows = log_of(th, pid_of(doc));
	row = row_of(rows, "create"); /* absent too when the reason is no UTF-8 */
	CU_ASSERT_PTR_NOT_NULL(row);
	if (row)
		expect_text(row, "reason", want);
	json_decref(rows);
	json_decref(dump);
}

/* The reason was "%.64s" of the message id and source: an id of 64
 * characters whose last one straddled byte 64 was cut inside it, and the
 * row was no UTF-8 text: PostgreSQL refused it and the whole group commit
 * (503 for every request in it), SQLite stored it and the reason read
 * back as nothing.  A longer id (Segment's "seg-" + 64 hex) was cut into
 * one that names no event.  A batch of three: both kinds, and a plain one. */
static void test_the_log_names_long_message_ids_whole(void)
{
	struct testhub *th = testhub_start(NULL);
	char mb_id[70], long_id[RECORD_MESSAGE_ID_MAX + 1], source[RECORD_SOURCE_MAX + 1];
	char lines[2048], want[1024];
	struct intake_batch b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	memset(mb_id, 'a', 63);
	strcpy(mb_id + 63, "\xc3\xa9"); /* 64 characters: the last is bytes 64-65 */
	memset(long_id, 'b', RECORD_MESSAGE_ID_MAX - 2);
	strcpy(long_id + RECORD_MESSAGE_ID_MAX - 2, "\xc3\xa9");
	memset(source, 's', RECORD_SOURCE_MAX);
	memcpy(source + 63, "\xc3\xa9", 2); /* likewise */
	source[RECORD_SOURCE_MAX] = '\0';
	snprintf(lines, sizeof(lines),
		 "{\"type\":\"identify\",\"message_id\":\"m1\","
		 "\"timestamp\":\"2025-03-03T09:00:00.000Z\","
		 "\"identifiers\":{\"custom_id\":\"G1\"}}\n"
		 "{\"type\":\"track\",\"message_id\":\"%s\","
		 "\"timestamp\":\"2025-03-03T09:01:00.000Z\","
		 "\"identifiers\":{\"custom_id\":\"C1\"},\"event\":{\"name\":\"e\"}}\n"
		 "{\"type\":\"identify\",\"message_id\":\"%s\",\"source\":\"%s\","
		 "\"timestamp\":\"2025-03-03T09:02:00.000Z\","
		 "\"identifiers\":{\"custom_id\":\"C2\"}}",
		 mb_id, long_id, source);
	apply_batch(th, lines, &b);
	CU_ASSERT_EQUAL(b.counts.applied, 3);
	expect_create_reason(th, "G1", "identify m1 (test)");
	snprintf(want, sizeof(want), "track %s (test)", mb_id);
	expect_create_reason(th, "C1", want);
	snprintf(want, sizeof(want), "identify %s (%s)", long_id, source);
	expect_create_reason(th, "C2", want);
	testhub_stop(th);
}

/* IDENTITY.md sections 5 and 9: on a merge, consent goes by ts; on a tie
 * the more restrictive wins, unsubscribed > unset > subscribed, whichever
 * profile holds it.  C1 and the session I9 set both channels at the same
 * time; C2 and the session I8 at different times (the newer wins, even a
 * subscription over an unsubscription). */
static void test_a_merge_tie_of_consent_goes_to_the_more_restrictive(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *subs;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\"},"
		  "\"consent\":{\"email_marketing\":\"subscribed\","
		  "\"sms_marketing\":\"unsubscribed\"}");
	apply_rec(th, "identify", "m2", "0900",
		  "\"identifiers\":{\"installation_id\":\"I9\"},"
		  "\"consent\":{\"email_marketing\":\"unsubscribed\","
		  "\"sms_marketing\":\"subscribed\"}");
	apply_rec(th, "identify", "m3", "0900",
		  "\"identifiers\":{\"custom_id\":\"C2\"},"
		  "\"consent\":{\"email_marketing\":\"unsubscribed\","
		  "\"sms_marketing\":\"subscribed\"}");
	apply_rec(th, "identify", "m4", "0900",
		  "\"identifiers\":{\"installation_id\":\"I8\"},"
		  "\"consent\":{\"sms_marketing\":null}");
	apply_rec(th, "identify", "m5", "0901",
		  "\"identifiers\":{\"installation_id\":\"I8\"},"
		  "\"consent\":{\"email_marketing\":\"subscribed\"}");
	apply_rec(th, "identify", "m6", "0905",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I9\"}");
	apply_rec(th, "identify", "m7", "0905",
		  "\"identifiers\":{\"custom_id\":\"C2\",\"installation_id\":\"I8\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 2); /* both sessions merged */
	subs = json_object_get(profile_of(dump, "C1", NULL), "subscriptions");
	expect_text(subs, "email_marketing", "unsubscribed"); /* the session's, on the tie */
	expect_text(subs, "sms_marketing", "unsubscribed");   /* C1's own, on the tie */
	subs = json_object_get(profile_of(dump, "C2", NULL), "subscriptions");
	expect_text(subs, "email_marketing", "subscribed"); /* newer */
	CU_ASSERT_TRUE(
		json_is_null(json_object_get(subs, "sms_marketing"))); /* unset > subscribed */
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md sections 3 and 4: on a merge, per attribute, the newer ts
 * wins and on a tie the survivor keeps its own; what the absorbed profile
 * held moves (its tombstone keeps none, nothing is stored twice).  C1 and
 * the session I9 write `plan` at the same time, the session's `seen` is
 * newer, its `note` is a key C1 lacks, and C1's `age` is newer. */
static void test_a_merge_tie_of_an_attribute_goes_to_the_survivor(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *attrs;
	char absorbed[64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\"},\"attributes\":{\"plan\":\"gold\","
		  "\"seen\":1,\"age\":30}");
	apply_rec(th, "identify", "m2", "0900",
		  "\"identifiers\":{\"installation_id\":\"I9\"},\"attributes\":{\"plan\":\"free\","
		  "\"age\":31}");
	apply_rec(th, "identify", "m4", "0901",
		  "\"identifiers\":{\"installation_id\":\"I9\"},\"attributes\":{\"seen\":2,"
		  "\"note\":\"n\"}");
	apply_rec(th, "identify", "m5", "0902",
		  "\"identifiers\":{\"custom_id\":\"C1\"},\"attributes\":{\"age\":40}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(profile_of(dump, NULL, "I9"));
	snprintf(absorbed, sizeof(absorbed), "%s", pid_of(profile_of(dump, NULL, "I9")));
	json_decref(dump);
	apply_rec(th, "identify", "m6", "0905",
		  "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I9\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1); /* the session merged */
	attrs = json_object_get(profile_of(dump, "C1", NULL), "attributes");
	CU_ASSERT_EQUAL(json_object_size(attrs), 4);
	expect_text(attrs, "plan", "gold"); /* the tie: the survivor's */
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(attrs, "seen")), 2);
	expect_text(attrs, "note", "n");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(attrs, "age")), 40);
	CU_ASSERT_EQUAL(th->reader->ops->attr_count(th->reader, absorbed), 0);
	json_decref(dump);
	testhub_stop(th);
}

/* 1 when the JSON array arr holds exactly the strings of want (any order,
 * no other item, none twice). */
static int array_is(const json_t *arr, const char *const *want, size_t n)
{
	size_t i, k;
	json_t *v;

	if (json_array_size(arr) != n)
		return 0;
	for (k = 0; k < n; k++) {
		size_t seen = 0;
		json_array_foreach(arr, i, v)
			seen += json_is_string(v) && strcmp(json_string_value(v), want[k]) == 0;
		if (seen != 1)
			return 0;
	}
	return 1;
}

/* IDENTITY.md sections 4 and 9: an array op applies to the current array
 * at arrival, whatever its time, and the attribute keeps the max of both
 * times, so an older plain write stays refused after it; $remove drops
 * every occurrence, $add appends only items not yet present. */
static void test_an_array_op_keeps_the_newer_time_and_is_set_like(void)
{
	static const char *const after_op[] = {"b", "c"};
	static const char *const after_add[] = {"b", "c", "d"};
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *attrs;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0910",
		  "\"identifiers\":{\"custom_id\":\"C1\"},\"attributes\":{\"tags\":[\"a\",\"b\","
		  "\"a\"]}");
	/* older than the stored value: applies all the same */
	apply_rec(th, "identify", "m2", "0900",
		  "\"identifiers\":{\"custom_id\":\"C1\"},"
		  "\"attributes\":{\"tags\":{\"$add\":[\"b\",\"c\"],\"$remove\":[\"a\"]}}");
	/* newer than the op, older than the stored value: refused */
	apply_rec(th, "identify", "m3", "0905",
		  "\"identifiers\":{\"custom_id\":\"C1\"},\"attributes\":{\"tags\":[\"z\"]}");
	dump = testhub_dump(th, 0);
	attrs = json_object_get(profile_of(dump, "C1", NULL), "attributes");
	CU_ASSERT(array_is(json_object_get(attrs, "tags"), after_op, 2));
	json_decref(dump);
	apply_rec(th, "identify", "m4", "0911",
		  "\"identifiers\":{\"custom_id\":\"C1\"},"
		  "\"attributes\":{\"tags\":{\"$add\":[\"c\",\"d\",\"d\"]}}");
	dump = testhub_dump(th, 0);
	attrs = json_object_get(profile_of(dump, "C1", NULL), "attributes");
	CU_ASSERT(array_is(json_object_get(attrs, "tags"), after_add, 3));
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md section 9, Erase: the block lasts until erase time +
 * privacy.erase_block_days, measured on record timestamps; a record
 * before that end is blocked, one at it applies; an older erase of the
 * same person (in flight) never shortens the block.  (The test hub's
 * clock reads 2025-03-03T11:06:40Z: later record times are taken as now.) */
static void test_an_erase_blocks_until_erase_time_plus_erase_block_days(void)
{
	struct testhub *th = testhub_start("privacy:\n  erase_block_days: 1\n");
	json_t *dump;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply(th,
	      "{\"type\":\"identify\",\"message_id\":\"m1\",\"timestamp\":\"2025-03-01T09:00:00Z\","
	      "\"identifiers\":{\"custom_id\":\"C1\",\"installation_id\":\"I1\"}}");
	apply(th,
	      "{\"type\":\"erase\",\"message_id\":\"e1\",\"timestamp\":\"2025-03-01T10:00:00Z\","
	      "\"identifiers\":{\"custom_id\":\"C1\"}}");
	/* 23 hours on: blocked */
	apply(th,
	      "{\"type\":\"identify\",\"message_id\":\"m2\",\"timestamp\":\"2025-03-02T09:00:00Z\","
	      "\"identifiers\":{\"custom_id\":\"C1\"}}");
	CU_ASSERT_EQUAL(th->counts.blocked, 1);
	/* an erase older than the first: the block keeps its end */
	apply(th,
	      "{\"type\":\"erase\",\"message_id\":\"e2\",\"timestamp\":\"2025-02-28T10:00:00Z\","
	      "\"identifiers\":{\"custom_id\":\"C1\"}}");
	apply(th,
	      "{\"type\":\"identify\",\"message_id\":\"m3\","
	      "\"timestamp\":\"2025-03-02T09:59:59.999Z\","
	      "\"identifiers\":{\"custom_id\":\"C1\"}}");
	CU_ASSERT_EQUAL(th->counts.blocked, 2);
	/* at the end exactly: applies */
	apply(th,
	      "{\"type\":\"identify\",\"message_id\":\"m4\",\"timestamp\":\"2025-03-02T10:00:00Z\","
	      "\"identifiers\":{\"custom_id\":\"C1\"}}");
	CU_ASSERT_EQUAL(th->counts.blocked, 2);
	CU_ASSERT_EQUAL(th->counts.applied, 4);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 1);
	CU_ASSERT_PTR_NOT_NULL(profile_of(dump, "C1", NULL));
	json_decref(dump);
	testhub_stop(th);
}

/* What the writer did with each record is counted for /metrics
 * (records_duplicates_total, _blocked_total, _refused_total): a message ID
 * seen before, an erased person's custom_id within the block, an alias of
 * two known profiles. */
static void test_the_intake_counts_duplicates_blocked_and_refused(void)
{
	static const char *const lines[] = {
		"{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"s1\","
		"\"timestamp\":\"2025-03-01T09:00:00.000Z\",\"identifiers\":{\"custom_id\":\"A\"}}",
		"{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"s2\","
		"\"timestamp\":\"2025-03-01T09:01:00.000Z\",\"identifiers\":{\"custom_id\":\"B\"}}",
		"{\"type\":\"alias\",\"source\":\"test\",\"message_id\":\"s3\","
		"\"timestamp\":\"2025-03-01T09:02:00.000Z\",\"previous_id\":\"A\","
		"\"identifiers\":{\"custom_id\":\"B\"}}",
		"{\"type\":\"erase\",\"source\":\"test\",\"message_id\":\"s4\","
		"\"timestamp\":\"2025-03-01T09:03:00.000Z\",\"identifiers\":{\"custom_id\":\"A\"}}",
		"{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"s5\","
		"\"timestamp\":\"2025-03-01T09:04:00.000Z\",\"identifiers\":{\"custom_id\":\"A\"}}",
		"{\"type\":\"identify\",\"source\":\"test\",\"message_id\":\"s2\","
		"\"timestamp\":\"2025-03-01T09:01:00.000Z\",\"identifiers\":{\"custom_id\":\"B\"}}",
	};
	struct testhub *th = testhub_start(NULL);
	struct intake_stats st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		apply(th, lines[i]);
	intake_get_stats(th->intake, &st);
	CU_ASSERT_EQUAL(st.duplicates, 1);
	CU_ASSERT_EQUAL(st.blocked, 1);
	CU_ASSERT_EQUAL(st.refused, 1);
	CU_ASSERT_EQUAL(st.applied, 3);
	testhub_stop(th);
}

/* The live profile document holding identifier (type, value), or NULL;
 * borrowed from dump. */
static json_t *holder_of(json_t *dump, const char *type, const char *value)
{
	size_t i, k;
	json_t *doc, *v;

	json_array_foreach(dump, i, doc)
		json_array_foreach(json_object_get(json_object_get(doc, "identifiers"), type), k, v)
			if (strcmp(json_string_value(v), value) == 0)
				return doc;
	return NULL;
}

static long event_count_of(const json_t *doc)
{
	return (long)json_integer_value(json_object_get(doc, "event_count"));
}

/* IDENTITY.md section 3, step 4: a merge that is not allowed drops the
 * record's installation first, then its external ids from the highest
 * priority number (not by name: mpid has priority 1, crm_id 2).  The
 * session I5, C1 (by mpid M1) and C2 (by crm_id K2) cannot all merge, two
 * being known; without I5 they still cannot; without K2 the track lands on
 * C1 alone.  I5 stays on its session, which the dropped installation's
 * platform does not reach. */
static void test_a_refused_merge_drops_the_installation_then_the_last_priority(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n"
					   "    mpid: {limit: 1, priority: 1}\n"
					   "    crm_id: {limit: 1, priority: 2}\n");
	json_t *dump, *c1, *c2, *session;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0901", "\"identifiers\":{\"custom_id\":\"C1\","
		  "\"mpid\":\"M1\"}");
	apply_rec(th, "identify", "m2", "0902", "\"identifiers\":{\"custom_id\":\"C2\","
		  "\"crm_id\":\"K2\"}");
	apply_rec(th, "track", "m3", "0903", "\"identifiers\":{\"installation_id\":\"I5\"},"
		  "\"event\":{\"name\":\"e\"}");
	apply_rec(th, "track", "m4", "0904", "\"identifiers\":{\"installation_id\":\"I5\","
		  "\"crm_id\":\"K2\",\"mpid\":\"M1\"},\"platform\":\"ios\","
		  "\"event\":{\"name\":\"e\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 3); /* nothing merged */
	c1 = profile_of(dump, "C1", NULL);
	c2 = profile_of(dump, "C2", NULL);
	session = profile_of(dump, NULL, "I5");
	CU_ASSERT_FATAL(c1 && c2 && session);
	CU_ASSERT_EQUAL(event_count_of(c1), 1); /* the track, by mpid */
	CU_ASSERT_EQUAL(event_count_of(c2), 0);
	CU_ASSERT_EQUAL(event_count_of(session), 1);
	CU_ASSERT_PTR_EQUAL(holder_of(dump, "crm_id", "K2"), c2);
	CU_ASSERT_EQUAL(json_array_size(installations_of(c1)), 0);
	CU_ASSERT(json_is_null(json_object_get(
		json_array_get(json_object_get(session, "installations"), 0), "platform")));
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md section 3, step 3: a login takes its external ids in
 * priority order (mpid, priority 1, before crm_id, 2, whatever the names'
 * order).  The sessions holding M and K each hold a zid (limit 1): the
 * first merged brings its zid, so the second may not join (x dropped, the
 * session left live with all it holds). */
static void test_a_login_takes_its_external_ids_in_priority_order(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n"
					   "    mpid: {limit: 1, priority: 1}\n"
					   "    crm_id: {limit: 1, priority: 2}\n"
					   "    zid: {limit: 1, priority: 3}\n");
	json_t *dump, *c1, *apart;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "track", "m1", "0901", "\"identifiers\":{\"crm_id\":\"K\",\"zid\":\"Z1\"},"
		  "\"event\":{\"name\":\"e\"}");
	apply_rec(th, "track", "m2", "0902", "\"identifiers\":{\"mpid\":\"M\",\"zid\":\"Z2\"},"
		  "\"event\":{\"name\":\"e\"}");
	apply_rec(th, "identify", "m3", "0903", "\"identifiers\":{\"custom_id\":\"C1\","
		  "\"crm_id\":\"K\",\"mpid\":\"M\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 2);
	c1 = profile_of(dump, "C1", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
	CU_ASSERT_PTR_EQUAL(holder_of(dump, "mpid", "M"), c1);
	CU_ASSERT_PTR_EQUAL(holder_of(dump, "zid", "Z2"), c1);
	CU_ASSERT_EQUAL(event_count_of(c1), 1);
	apart = holder_of(dump, "crm_id", "K");
	CU_ASSERT_PTR_NOT_NULL_FATAL(apart);
	CU_ASSERT_PTR_NOT_EQUAL(apart, c1);
	CU_ASSERT(json_is_true(json_object_get(apart, "anonymous")));
	CU_ASSERT_PTR_EQUAL(holder_of(dump, "zid", "Z1"), apart);
	CU_ASSERT_EQUAL(event_count_of(apart), 1);
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md sections 4 and 9: on a merge a delete competes like a value
 * (a's newer delete wins, b's older delete loses, c's older delete loses
 * to C1's value) and keeps its time, so an older plain write cannot bring
 * a back; the record's array op applies after the merge, to the array
 * the merge kept (the session's newer one), whatever the op's own time,
 * and the attribute keeps the newer time. */
static void test_a_merge_weighs_deletes_like_values_then_the_array_op_applies(void)
{
	static const char *const tags[] = {"a", "c"};
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *attrs;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0901", "\"identifiers\":{\"custom_id\":\"C1\"},"
		  "\"attributes\":{\"a\":\"c1\",\"b\":null,\"c\":\"c1\",\"tags\":[\"b\"]}");
	apply_rec(th, "identify", "m2", "0902", "\"identifiers\":{\"installation_id\":\"I9\"},"
		  "\"attributes\":{\"a\":null,\"b\":\"i9\",\"tags\":[\"a\"]}");
	apply_rec(th, "identify", "m3", "0900", "\"identifiers\":{\"installation_id\":\"I9\"},"
		  "\"attributes\":{\"c\":null}");
	apply_rec(th, "identify", "m4", "0800", "\"identifiers\":{\"custom_id\":\"C1\","
		  "\"installation_id\":\"I9\"},\"attributes\":{\"tags\":{\"$add\":[\"c\"]}}");
	/* older than the merged delete of a and than the tags' time */
	apply_rec(th, "identify", "m5", "0901", "\"identifiers\":{\"custom_id\":\"C1\"},"
		  "\"attributes\":{\"a\":\"back\",\"tags\":[\"old\"]}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	attrs = json_object_get(profile_of(dump, "C1", NULL), "attributes");
	CU_ASSERT_PTR_NULL(json_object_get(attrs, "a"));
	expect_text(attrs, "b", "i9");
	expect_text(attrs, "c", "c1");
	CU_ASSERT(array_is(json_object_get(attrs, "tags"), tags, 2));
	CU_ASSERT_EQUAL(json_object_size(attrs), 3);
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md sections 3 and 7: a tombstone of a tombstone resolves to the
 * live profile (the session K merged into the session I1, which merged
 * into C1), and an erase of C1 takes both with it: no profile row and no
 * log row of either is left. */
static void test_an_erase_takes_the_tombstones_of_tombstones(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n    crm_id: {limit: 1}\n");
	char first[64], second[64], live[PROFILE_ID_SIZE];
	struct store_profile p;
	json_t *dump, *rows;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "track", "m1", "0901", "\"identifiers\":{\"installation_id\":\"I1\"},"
		  "\"event\":{\"name\":\"e\"}");
	apply_rec(th, "track", "m2", "0902", "\"identifiers\":{\"crm_id\":\"K\"},"
		  "\"event\":{\"name\":\"e\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_FATAL(holder_of(dump, "installation_id", "I1") && holder_of(dump, "crm_id", "K"));
	snprintf(first, sizeof(first), "%s", pid_of(holder_of(dump, "installation_id", "I1")));
	snprintf(second, sizeof(second), "%s", pid_of(holder_of(dump, "crm_id", "K")));
	json_decref(dump);
	apply_rec(th, "track", "m3", "0903", "\"identifiers\":{\"installation_id\":\"I1\","
		  "\"crm_id\":\"K\"},\"event\":{\"name\":\"e\"}"); /* K's session into I1's */
	apply_rec(th, "identify", "m4", "0904", "\"identifiers\":{\"custom_id\":\"C1\"}");
	apply_rec(th, "identify", "m5", "0905", "\"identifiers\":{\"custom_id\":\"C1\","
		  "\"installation_id\":\"I1\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	CU_ASSERT_EQUAL(event_count_of(json_array_get(dump, 0)), 3);
	CU_ASSERT_EQUAL(profile_resolve_id(th->reader, second, live), 1);
	CU_ASSERT_STRING_EQUAL(live, pid_of(json_array_get(dump, 0)));
	CU_ASSERT_EQUAL(th->reader->ops->profile_get(th->reader, second, &p), 1);
	CU_ASSERT_STRING_EQUAL(p.merged_into, live); /* pointed at the live one */
	json_decref(dump);
	apply_rec(th, "erase", "e1", "0906", "\"identifiers\":{\"custom_id\":\"C1\"}");
	CU_ASSERT_EQUAL(th->reader->ops->profile_get(th->reader, first, &p), 0);
	CU_ASSERT_EQUAL(th->reader->ops->profile_get(th->reader, second, &p), 0);
	CU_ASSERT_EQUAL(profile_resolve_id(th->reader, second, live), 0);
	rows = log_of(th, second);
	CU_ASSERT_EQUAL(json_array_size(rows), 0);
	json_decref(rows);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 0);
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md sections 2 and 9: a logout looks at the installation only.
 * Nobody holding it, nothing happens at all (no profile is created, the
 * Batch-style form's attributes are dropped); an anonymous profile
 * holding it keeps it (nothing detaches, no new profile) and takes the
 * record's attributes. */
static void test_a_logout_detaches_only_from_a_known_user(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *anon;
	char pid[PROFILE_ID_SIZE];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "logout", "m1", "0900", "\"identifiers\":{\"installation_id\":\"I7\"}");
	apply_rec(th, "identify", "m2", "0901", "\"identifiers\":{\"custom_id\":null,"
		  "\"installation_id\":\"I8\"},\"attributes\":{\"plan\":\"gold\"}");
	CU_ASSERT_EQUAL(th->counts.applied, 2);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL(json_array_size(dump), 0);
	json_decref(dump);

	apply_rec(th, "track", "m3", "0902", "\"identifiers\":{\"installation_id\":\"I1\"},"
		  "\"event\":{\"name\":\"e\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	str_copy(pid, sizeof(pid), pid_of(json_array_get(dump, 0)));
	json_decref(dump);
	apply_rec(th, "logout", "m4", "0903", "\"identifiers\":{\"installation_id\":\"I1\"}");
	apply_rec(th, "identify", "m5", "0904", "\"identifiers\":{\"custom_id\":null,"
		  "\"installation_id\":\"I1\"},\"attributes\":{\"plan\":\"gold\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	anon = profile_of(dump, NULL, "I1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(anon);
	CU_ASSERT_STRING_EQUAL(pid_of(anon), pid);
	CU_ASSERT_EQUAL(event_count_of(anon), 1);
	expect_text(json_object_get(anon, "attributes"), "plan", "gold");
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md section 3: an external id nobody holds joins the profile
 * only within its limit, else it is dropped from the record and stays
 * unheld: on a login (step 3) and on a record without a custom_id (step
 * 4).  Here crm_id has limit 1. */
static void test_an_external_id_past_its_limit_is_dropped(void)
{
	struct testhub *th = testhub_start("identity:\n  external:\n"
					   "    crm_id: {limit: 1, priority: 1}\n");
	json_t *dump, *known, *anon, *rows, *row;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900", "\"identifiers\":{\"custom_id\":\"C1\","
		  "\"crm_id\":\"K1\"}");
	apply_rec(th, "identify", "m2", "0901", "\"identifiers\":{\"custom_id\":\"C1\","
		  "\"crm_id\":\"K2\"}");
	apply_rec(th, "track", "m3", "0902", "\"identifiers\":{\"installation_id\":\"I1\","
		  "\"crm_id\":\"K3\"},\"event\":{\"name\":\"e\"}");
	apply_rec(th, "track", "m4", "0903", "\"identifiers\":{\"installation_id\":\"I1\","
		  "\"crm_id\":\"K4\"},\"event\":{\"name\":\"e\"}");
	CU_ASSERT_EQUAL(th->counts.applied, 4);
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 2);
	known = profile_of(dump, "C1", NULL);
	anon = profile_of(dump, NULL, "I1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(known);
	CU_ASSERT_PTR_NOT_NULL_FATAL(anon);
	CU_ASSERT_PTR_EQUAL(holder_of(dump, "crm_id", "K1"), known);
	CU_ASSERT_PTR_EQUAL(holder_of(dump, "crm_id", "K3"), anon);
	CU_ASSERT_PTR_NULL(holder_of(dump, "crm_id", "K2"));
	CU_ASSERT_PTR_NULL(holder_of(dump, "crm_id", "K4"));
	CU_ASSERT_EQUAL(event_count_of(anon), 2);
	/* the one that joined is logged as attached (section 3: every attach) */
	rows = log_of(th, pid_of(known));
	row = row_of(rows, "attach");
	CU_ASSERT_PTR_NOT_NULL_FATAL(row);
	expect_text(row, "type", "crm_id");
	expect_text(row, "value", "K1");
	json_decref(rows);
	json_decref(dump);
	testhub_stop(th);
}

/* The push state of the installation (push_enabled at the record's top
 * level) as the document shows it; a record that says nothing of push
 * leaves it as it was. */
static void expect_push(struct testhub *th, const char *iid, int want)
{
	json_t *dump = testhub_dump(th, 0);
	json_t *doc = holder_of(dump, "installation_id", iid);
	json_t *inst = json_array_get(json_object_get(doc, "installations"), 0);
	json_t *push = json_object_get(json_object_get(doc, "subscriptions"), "push");

	CU_ASSERT_PTR_NOT_NULL_FATAL(inst);
	CU_ASSERT(json_is_boolean(json_object_get(inst, "push_enabled")));
	CU_ASSERT_EQUAL(json_is_true(json_object_get(inst, "push_enabled")), want);
	CU_ASSERT_EQUAL(json_array_size(push), want ? 1 : 0);
	if (want) {
		const char *platform = json_string_value(json_array_get(push, 0));
		CU_ASSERT(platform && strcmp(platform, "ios") == 0);
	}
	json_decref(dump);
}

/* IDENTITY.md sections 5 and 9: push is per installation, set by a
 * record's push_enabled and kept by records that say nothing of it; the
 * profile's push subscriptions are the platforms of its enabled
 * installations. */
static void test_push_stays_until_a_record_sets_it(void)
{
	struct testhub *th = testhub_start(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900", "\"identifiers\":{\"installation_id\":\"I1\"},"
		  "\"platform\":\"ios\",\"push_enabled\":true");
	apply_rec(th, "track", "m2", "0901", "\"identifiers\":{\"installation_id\":\"I1\"},"
		  "\"event\":{\"name\":\"e\"}");
	expect_push(th, "I1", 1);
	apply_rec(th, "identify", "m3", "0902", "\"identifiers\":{\"installation_id\":\"I1\"},"
		  "\"push_enabled\":false");
	apply_rec(th, "identify", "m4", "0903", "\"identifiers\":{\"custom_id\":\"C1\","
		  "\"installation_id\":\"I1\"}");
	expect_push(th, "I1", 0);
	testhub_stop(th);
}

/* IDENTITY.md section 9: an array op on an absent or deleted attribute
 * starts from [] and its result is stored even when empty, with the max
 * of both times: a $remove of an attribute never set stores [] with the
 * op's time, one older than a delete keeps the delete's time, and an older
 * plain write is refused after either. */
static void test_an_array_op_on_nothing_stores_an_empty_array(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *attrs;

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "identify", "m1", "0900", "\"identifiers\":{\"custom_id\":\"C1\"},"
		  "\"attributes\":{\"gone\":null,\"tags\":{\"$remove\":[\"a\"]}}");
	apply_rec(th, "identify", "m2", "0800", "\"identifiers\":{\"custom_id\":\"C1\"},"
		  "\"attributes\":{\"gone\":{\"$remove\":[\"x\"]}}");
	apply_rec(th, "identify", "m3", "0830", "\"identifiers\":{\"custom_id\":\"C1\"},"
		  "\"attributes\":{\"gone\":[\"old\"],\"tags\":[\"old\"]}");
	dump = testhub_dump(th, 0);
	attrs = json_object_get(profile_of(dump, "C1", NULL), "attributes");
	CU_ASSERT_EQUAL(json_object_size(attrs), 2);
	CU_ASSERT(json_is_array(json_object_get(attrs, "tags")));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(attrs, "tags")), 0);
	CU_ASSERT(json_is_array(json_object_get(attrs, "gone")));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(attrs, "gone")), 0);
	json_decref(dump);
	testhub_stop(th);
}

/* IDENTITY.md sections 3 and 9: a login whose user does not exist yet
 * gives the session its custom_id (a rename: the same profile, no merge),
 * and the identity log says so. */
static void test_a_login_of_a_new_user_renames_the_session_and_logs_it(void)
{
	struct testhub *th = testhub_start(NULL);
	json_t *dump, *rows, *row;
	char pid[PROFILE_ID_SIZE];

	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	apply_rec(th, "track", "m1", "0900", "\"identifiers\":{\"installation_id\":\"I1\"},"
		  "\"event\":{\"name\":\"e\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	str_copy(pid, sizeof(pid), pid_of(json_array_get(dump, 0)));
	json_decref(dump);
	apply_rec(th, "identify", "m2", "0901", "\"identifiers\":{\"custom_id\":\"C1\","
		  "\"installation_id\":\"I1\"}");
	dump = testhub_dump(th, 0);
	CU_ASSERT_EQUAL_FATAL(json_array_size(dump), 1);
	CU_ASSERT_STRING_EQUAL(pid_of(profile_of(dump, "C1", NULL)), pid);
	rows = log_of(th, pid);
	CU_ASSERT_PTR_NULL(row_of(rows, "merge"));
	row = row_of(rows, "rename");
	CU_ASSERT_PTR_NOT_NULL_FATAL(row);
	expect_text(row, "type", "custom_id");
	expect_text(row, "value", "C1");
	json_decref(rows);
	json_decref(dump);
	testhub_stop(th);
}

TEST_SUITE(unify, NULL, NULL, TEST(test_an_alias_of_an_installation_takes_its_details),
	   TEST(test_an_email_lookup_ignores_ascii_case),
	   TEST(test_an_email_holder_is_on_the_first_page_only),
	   TEST(test_an_installation_seen_at_the_epoch_shows_that_time),
	   TEST(test_the_intake_counts_duplicates_blocked_and_refused),
	   TEST(test_a_logout_session_is_created_holding_the_installation),
	   TEST(test_an_erase_keeps_other_profiles_log_rows),
	   TEST(test_an_erase_deletes_her_events_attributes_and_consent),
	   TEST(test_an_erase_deletes_the_profiles_merged_into_her),
	   TEST(test_a_profile_holds_at_most_max_installations),
	   TEST(test_a_profile_stores_at_most_max_attributes),
	   TEST(test_a_profile_over_the_limit_still_merges_what_brings_none),
	   TEST(test_a_profile_over_an_external_limit_still_merges_what_brings_none),
	   TEST(test_a_merge_bringing_one_external_id_past_its_limit_is_refused),
	   TEST(test_records_with_hundreds_of_attributes_are_stored_whole),
	   TEST(test_the_largest_numbers_read_back),
	   TEST(test_an_array_op_past_the_limit_is_a_counted_warning),
	   TEST(test_the_log_names_long_message_ids_whole),
	   TEST(test_an_alias_never_joins_two_known_users),
	   TEST(test_a_blocked_record_sent_again_is_blocked_not_a_duplicate),
	   TEST(test_a_merge_may_fill_max_installations_exactly),
	   TEST(test_the_oldest_anonymous_profile_survives_a_merge),
	   TEST(test_a_merge_keeps_the_earlier_created_at),
	   TEST(test_an_alias_of_an_erased_identifier_is_blocked),
	   TEST(test_a_login_merge_a_limit_refused_is_logged_on_the_user),
	   TEST(test_merges_a_cap_stops_are_logged_once_a_period),
	   TEST(test_an_erase_names_the_session_a_refused_merge_left_apart),
	   TEST(test_an_erase_does_not_offer_another_known_user_for_erasure),
	   TEST(test_an_erase_names_the_survivor_of_the_session_left_apart),
	   TEST(test_an_erase_names_a_session_left_apart_once),
	   TEST(test_an_erase_by_profile_id_takes_the_session_a_refused_merge_left_apart),
	   TEST(test_an_erase_by_a_tombstone_id_erases_the_survivor),
	   TEST(test_only_a_privacy_request_erases_by_profile_id),
	   TEST(test_a_profile_absorbs_at_most_100_profiles),
	   TEST(test_a_profile_at_the_merge_cap_is_not_absorbed),
	   TEST(test_a_merge_may_reach_1000_identifiers_not_more),
	   TEST(test_a_merge_of_several_absorbs_them_oldest_first),
	   TEST(test_a_merge_tie_of_consent_goes_to_the_more_restrictive),
	   TEST(test_a_merge_tie_of_an_attribute_goes_to_the_survivor),
	   TEST(test_an_array_op_keeps_the_newer_time_and_is_set_like),
	   TEST(test_an_erase_blocks_until_erase_time_plus_erase_block_days),
	   TEST(test_a_refused_merge_drops_the_installation_then_the_last_priority),
	   TEST(test_a_login_takes_its_external_ids_in_priority_order),
	   TEST(test_a_merge_weighs_deletes_like_values_then_the_array_op_applies),
	   TEST(test_an_erase_takes_the_tombstones_of_tombstones),
	   TEST(test_a_logout_detaches_only_from_a_known_user),
	   TEST(test_an_external_id_past_its_limit_is_dropped),
	   TEST(test_push_stays_until_a_record_sets_it),
	   TEST(test_an_array_op_on_nothing_stores_an_empty_array),
	   TEST(test_a_login_of_a_new_user_renames_the_session_and_logs_it))
