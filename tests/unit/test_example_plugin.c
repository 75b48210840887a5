/*
 * test_example_plugin.c - drives plugins/example (a JSON Lines pull source)
 * through the real loader and host table (tests/unit/plugtest.h), with a
 * struct hub_call that collects what it emits and checkpoints.  Also the
 * model for testing any pull plugin: load it, create an instance from YAML,
 * call pull().  One test runs it through a whole sync (hub/sync.c) into a
 * store (testhub.h).
 */
#include "plugtest.h"
#include "testhub.h"

#include "../../hub/sync.h"
#include "../../hub/util.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How many lines of `log` contain `what`. */
static int count_lines_with(const char *log, const char *what)
{
	int n = 0;

	for (const char *p = log; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* Writes `lines` (NULL: nothing) to events.jsonl in a scratch dir and
 * creates an instance reading it with `batch` (tests/unit/plugtest.h). */
static void fixture_open(struct pt_fixture *f, const char *lines, int batch)
{
	char *dir = testlib_mkdtemp(), *path;

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	CU_ASSERT(asprintf(&path, "%s/events.jsonl", dir) > 0);
	if (lines)
		free(testlib_write_file(dir, "events.jsonl", lines));
	pt_open(f, "example",
		"sources:\n"
		"  - name: lines\n"
		"    plugin: example\n"
		"    path: \"%s\"\n"
		"    batch: %d\n",
		path, batch);
	f->dir = dir;
	f->path = path;
}

/* fixture_open() and a pull of the whole file that must end HUB_OK with
 * no line rejected. */
static void pull_clean(struct pt_fixture *f, const char *lines, int batch)
{
	char err[512];

	fixture_open(f, lines, batch);
	CU_ASSERT_EQUAL(pt_pull(f, NULL, 100, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(f->got.n_rejects, 0);
}

/* Byte offset just after line n (1-based) of text, as the cursor text. */
static const char *offset_after(const char *text, int n, char *buf, size_t size)
{
	const char *p = text;

	for (int i = 0; i < n; i++)
		p = strchr(p, '\n') + 1;
	snprintf(buf, size, "%ld", (long)(p - text));
	return buf;
}

static const char five_lines[] =
	"{\"user_id\": \"u1\", \"device_id\": \"d1\", \"event\": \"purchase\", "
	"\"properties\": {\"sku\": \"A1\", \"price\": 9.5}, "
	"\"timestamp\": \"2026-01-02T03:04:05.678Z\", \"id\": \"m1\"}\n"
	"{\"user_id\": \"u1\", \"traits\": {\"plan\": \"pro\"}, \"id\": \"m2\"}\n"
	"\n"
	"{\"device_id\": \"d2\", \"event\": \"open\", \"timestamp\": "
	"\"2026-01-02T05:04:05+02:00\"}\n"
	"{\"user_id\": \"u3\", \"traits\": {\"age\": 30}, \"id\": \"m4\"}\n"
	"{\"user_id\": \"u4\", \"event\": \"logout\", \"id\": \"m5\"}\n";

static void test_full_read_emits_every_line_and_checkpoints_each_batch(void)
{
	struct pt_fixture f;
	char err[512], off[32];
	int64_t ms;

	fixture_open(&f, five_lines, 2);
	CU_ASSERT_EQUAL(pt_pull(&f, NULL, 100, err, sizeof(err)), HUB_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 5);

	CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_TRACK);
	CU_ASSERT_STRING_EQUAL(f.got.recs[0].event_name, "purchase");
	CU_ASSERT_STRING_EQUAL(f.got.recs[0].properties_json, "{\"sku\":\"A1\",\"price\":9.5}");
	CU_ASSERT_PTR_NULL(f.got.recs[0].attributes_json);
	CU_ASSERT_STRING_EQUAL(pt_id_of(&f.got.recs[0], "custom_id"), "u1");
	CU_ASSERT_STRING_EQUAL(pt_id_of(&f.got.recs[0], "installation_id"), "d1");
	CU_ASSERT_STRING_EQUAL(f.got.recs[0].message_id, "m1");
	CU_ASSERT_EQUAL(time_parse_rfc3339("2026-01-02T03:04:05.678Z", &ms), 0);
	CU_ASSERT_EQUAL(f.got.recs[0].timestamp_ms, ms);

	CU_ASSERT_EQUAL(f.got.recs[1].type, HUB_REC_IDENTIFY);
	CU_ASSERT_STRING_EQUAL(f.got.recs[1].attributes_json, "{\"plan\":\"pro\"}");
	CU_ASSERT_PTR_NULL(pt_id_of(&f.got.recs[1], "installation_id"));
	CU_ASSERT_EQUAL(f.got.recs[1].timestamp_ms, 0);

	/* The blank line is skipped; no id means the host hashes the record. */
	CU_ASSERT_EQUAL(f.got.recs[2].type, HUB_REC_TRACK);
	CU_ASSERT_PTR_NULL(f.got.recs[2].message_id);
	CU_ASSERT_PTR_NULL(pt_id_of(&f.got.recs[2], "custom_id"));
	CU_ASSERT_PTR_NULL(f.got.recs[2].properties_json);
	CU_ASSERT_STRING_EQUAL(pt_id_of(&f.got.recs[2], "installation_id"), "d2");
	CU_ASSERT_EQUAL(time_parse_rfc3339("2026-01-02T03:04:05Z", &ms), 0);
	CU_ASSERT_EQUAL(f.got.recs[2].timestamp_ms, ms);
	CU_ASSERT_STRING_EQUAL(f.got.recs[4].message_id, "m5");

	/* batch 2: after records 2 and 4 (lines 2 and 5), and at the end. */
	CU_ASSERT_EQUAL_FATAL(f.got.n_cursors, 3);
	CU_ASSERT_STRING_EQUAL(f.got.cursors[0], offset_after(five_lines, 2, off, sizeof(off)));
	CU_ASSERT_STRING_EQUAL(f.got.cursors[1], offset_after(five_lines, 5, off, sizeof(off)));
	CU_ASSERT_STRING_EQUAL(f.got.cursors[2], offset_after(five_lines, 6, off, sizeof(off)));
	pt_close(&f);
}

/* Times before 1970 are times: parse_time_ms() returned -1 for a
 * malformed one and the caller took any negative value as malformed, so
 * every timestamp before 1970 was refused ("bad timestamp"), though the
 * hub takes years 1..9999. */
/* Opens a fixture on one track line per time of times[0..n) and pulls it:
 * every line is read, each at the time the hub's own parser gives. */
static void pull_times(struct pt_fixture *f, const char *const *times, size_t n)
{
	char text[2048];
	size_t len = 0;
	int64_t ms;

	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"{\"user_id\": \"u%zu\", \"event\": \"e\", "
					"\"timestamp\": \"%s\"}\n", i, times[i]);
	CU_ASSERT_FATAL(len < sizeof(text));
	pull_clean(f, text, 10);
	CU_ASSERT_EQUAL_FATAL(f->got.n_recs, n);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(time_parse_rfc3339(times[i], &ms), 0);
		CU_ASSERT_EQUAL(f->got.recs[i].timestamp_ms, ms);
	}
}

static void test_times_before_1970_are_read(void)
{
	static const char *const times[] = {"1969-12-31T23:59:59Z", "1960-06-01T00:00:00Z",
					    "1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z",
					    "1970-01-01T00:59:59+01:00"};
	struct pt_fixture f;

	pull_times(&f, times, ARRAY_SIZE(times));
	CU_ASSERT_EQUAL(f.got.recs[0].timestamp_ms, -1000);
	CU_ASSERT_EQUAL(f.got.recs[4].timestamp_ms, -1000);
	pt_close(&f);
}

/* A timestamp of exactly the epoch is a time: the hub keeps it as 0 ms
 * (has_timestamp, ABI 1.5), not as the receive time, which only a line
 * without a timestamp gets. */
/* Every field of a time at its bounds: a second 60 (a leap second, as the
 * hub reads it), the 29th of February of leap years (2000 too), an offset
 * west of UTC with its minutes, the last day, month and offset. */
static void test_example_times_at_their_bounds_are_read(void)
{
	static const char *const times[] = {
		"2016-12-31T23:59:60Z",	     "2000-02-29T00:00:00Z",  "2024-02-29T12:00:00Z",
		"2026-01-02T03:04:05-05:30", "2026-12-31T23:59:59Z",
		"2026-06-15T10:00:00.5+23:59",
	};
	struct pt_fixture f;

	pull_times(&f, times, ARRAY_SIZE(times));
	pt_close(&f);
}

static void test_time_at_the_epoch_is_kept(void)
{
	static const char lines[] =
		"{\"user_id\": \"u1\", \"event\": \"e\", "
		"\"timestamp\": \"1970-01-01T00:00:00.000Z\"}\n"
		"{\"user_id\": \"u2\", \"event\": \"e\", "
		"\"timestamp\": \"1970-01-01T01:00:00+01:00\"}\n"
		"{\"user_id\": \"u3\", \"event\": \"e\"}\n";
	struct pt_fixture f;
	char err[512];

	fixture_open(&f, lines, 10);
	CU_ASSERT_EQUAL(pt_pull(&f, NULL, 100, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_rejects, 0);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	CU_ASSERT_EQUAL(f.got.recs[0].timestamp_ms, 0);
	CU_ASSERT_EQUAL(f.got.recs[0].rec->timestamp_ms, 0);
	CU_ASSERT_EQUAL(f.got.recs[1].rec->timestamp_ms, 0);
	CU_ASSERT_EQUAL(f.got.recs[2].timestamp_ms, 0);
	CU_ASSERT_EQUAL(f.got.recs[2].rec->timestamp_ms, PT_NOW_MS);
	pt_close(&f);
}

static void test_resume_from_cursor_emits_only_later_lines(void)
{
	struct pt_fixture f;
	char err[512], cursor[32], end[32];

	fixture_open(&f, five_lines, 100);
	offset_after(five_lines, 4, cursor, sizeof(cursor));
	CU_ASSERT_EQUAL(pt_pull(&f, cursor, 100, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	CU_ASSERT_STRING_EQUAL(f.got.recs[0].message_id, "m4");
	CU_ASSERT_STRING_EQUAL(f.got.recs[1].message_id, "m5");
	CU_ASSERT_EQUAL_FATAL(f.got.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(f.got.cursors[0], offset_after(five_lines, 6, end, sizeof(end)));

	/* Caught up: nothing to emit, nothing new to checkpoint. */
	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_pull(&f, end, 100, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_recs, 0);
	CU_ASSERT_EQUAL(f.got.n_cursors, 0);
	pt_close(&f);
}

/* A file shorter than the cursor was truncated (copytruncate) or
 * replaced: its lines are read from its start, not skipped up to the old
 * offset; emptied, the new start is saved at once, so lines written later
 * past the old offset are not skipped either. */
static void test_a_file_shorter_than_the_cursor_is_read_from_its_start(void)
{
	static const char later[] = "{\"user_id\": \"u9\", \"id\": \"n1\"}\n";
	struct pt_fixture f;
	struct testlib_capture cap;
	char err[512], end[32], expected[600], *logged;

	fixture_open(&f, five_lines, 100);
	offset_after(five_lines, 6, end, sizeof(end));
	free(testlib_write_file(f.dir, "events.jsonl", ""));
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(pt_pull(&f, end, 100, err, sizeof(err)), HUB_OK);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(f.got.n_recs, 0);
	CU_ASSERT_EQUAL_FATAL(f.got.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(f.got.cursors[0], "0");
	snprintf(expected, sizeof(expected), " warn [lines] %s: 0 bytes, shorter than the cursor"
		 " (%s): truncated or replaced, read again from its start\n", f.path, end);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, expected));
	free(logged);

	/* written again past the old offset: read whole from the saved 0 */
	pt_reset(&f.got);
	free(testlib_write_file(f.dir, "events.jsonl", five_lines));
	CU_ASSERT_EQUAL(pt_pull(&f, "0", 100, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_recs, 5);

	/* replaced by a shorter file: its line is read, the cursor moves back */
	pt_reset(&f.got);
	free(testlib_write_file(f.dir, "events.jsonl", later));
	CU_ASSERT_EQUAL(pt_pull(&f, end, 100, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
	CU_ASSERT_STRING_EQUAL(f.got.recs[0].message_id, "n1");
	CU_ASSERT_EQUAL_FATAL(f.got.n_cursors, 1);
	snprintf(expected, sizeof(expected), "%zu", strlen(later));
	CU_ASSERT_STRING_EQUAL(f.got.cursors[0], expected);
	pt_close(&f);
}

/* Shorter by a single byte is shorter: the file is read again. */
static void test_example_a_file_one_byte_shorter_than_the_cursor_is_read_again(void)
{
	struct pt_fixture f;
	struct testlib_capture cap;
	char err[512], end[32], *shorter = strdup(five_lines), *space;

	CU_ASSERT_PTR_NOT_NULL_FATAL(shorter);
	space = strchr(shorter, ' ');
	memmove(space, space + 1, strlen(space)); /* one byte less, still JSON */
	fixture_open(&f, five_lines, 100);
	offset_after(five_lines, 6, end, sizeof(end));
	free(testlib_write_file(f.dir, "events.jsonl", shorter));
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(pt_pull(&f, end, 100, err, sizeof(err)), HUB_OK);
	free(testlib_capture_end(&cap));
	CU_ASSERT_EQUAL(f.got.n_recs, 5);
	CU_ASSERT_EQUAL_FATAL(f.got.n_cursors, 1);
	CU_ASSERT_EQUAL(strtol(f.got.cursors[0], NULL, 10), (long)strlen(shorter));
	free(shorter);
	pt_close(&f);
}

/* Read again from its start, a file's lines are named from 1 again. */
static void test_example_lines_are_numbered_from_1_after_a_rewind(void)
{
	struct pt_fixture f;
	struct testlib_capture cap;
	char err[512], end[32], expected[1024];

	fixture_open(&f, five_lines, 100);
	offset_after(five_lines, 6, end, sizeof(end));
	free(testlib_write_file(f.dir, "events.jsonl", "not json\n"));
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(pt_pull(&f, end, 100, err, sizeof(err)), HUB_OK);
	free(testlib_capture_end(&cap));
	snprintf(expected, sizeof(expected), "%s:1: invalid JSON: ", f.path);
	CU_ASSERT_EQUAL_FATAL(f.got.n_rejects, 1);
	CU_ASSERT_EQUAL(strncmp(f.got.rejects[0], expected, strlen(expected)), 0);
	pt_close(&f);
}

/* Without "batch", a checkpoint every 100 lines; a checkpoint that falls
 * on the end of the file is not made twice. */
static void test_example_default_batch_is_100_lines_and_the_end_is_saved_once(void)
{
	struct pt_fixture f;
	char *dir = testlib_mkdtemp(), *path, text[200 * 32], err[512], off[32];
	size_t len = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	for (int i = 0; i < 200; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"{\"user_id\": \"u%d\"}\n", i);
	CU_ASSERT_FATAL(len < sizeof(text));
	path = testlib_write_file(dir, "events.jsonl", text);
	pt_open(&f, "example", "sources:\n  - name: lines\n    plugin: example\n"
		"    path: \"%s\"\n", path);
	f.dir = dir;
	f.path = path;
	CU_ASSERT_EQUAL(pt_pull(&f, NULL, 1000, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_recs, 200);
	CU_ASSERT_EQUAL_FATAL(f.got.n_cursors, 2);
	CU_ASSERT_STRING_EQUAL(f.got.cursors[0], offset_after(text, 100, off, sizeof(off)));
	CU_ASSERT_STRING_EQUAL(f.got.cursors[1], offset_after(text, 200, off, sizeof(off)));
	pt_close(&f);
}

/* null is absent, for every member: the line is read as if it lacked
 * them (an identify without a device, a timestamp or attributes). */
static void test_example_null_members_are_absent(void)
{
	static const char text[] =
		"{\"user_id\": \"u1\", \"device_id\": null, \"event\": null, "
		"\"timestamp\": null, \"id\": null, \"traits\": null}\n"
		"{\"user_id\": \"u2\", \"event\": \"e\", \"properties\": null}\n";
	struct pt_fixture f;

	pull_clean(&f, text, 10);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	CU_ASSERT_EQUAL(f.got.recs[0].type, HUB_REC_IDENTIFY);
	CU_ASSERT_PTR_NULL(pt_id_of(&f.got.recs[0], "installation_id"));
	CU_ASSERT_PTR_NULL(f.got.recs[0].message_id);
	CU_ASSERT_PTR_NULL(f.got.recs[0].attributes_json);
	CU_ASSERT_EQUAL(f.got.recs[0].rec->timestamp_ms, PT_NOW_MS);
	CU_ASSERT_EQUAL(f.got.recs[1].type, HUB_REC_TRACK);
	CU_ASSERT_PTR_NULL(f.got.recs[1].properties_json);
	pt_close(&f);
}

/* A line of spaces, tabs or a CRLF alone is blank: skipped, not rejected. */
static void test_example_blank_lines_with_spaces_and_crlf_are_skipped(void)
{
	static const char text[] = "{\"user_id\": \"u1\"}\n \t \n\r\n{\"user_id\": \"u2\"}\r\n";
	struct pt_fixture f;

	pull_clean(&f, text, 10);
	CU_ASSERT_EQUAL(f.got.n_recs, 2);
	CU_ASSERT_EQUAL_FATAL(f.got.n_cursors, 1);
	CU_ASSERT_EQUAL(strtol(f.got.cursors[0], NULL, 10), (long)strlen(text));
	pt_close(&f);
}

static hub_rc stopped_reject(struct hub_call *call, const char *why)
{
	(void)call;
	(void)why;
	return HUB_ERR_STOPPED;
}

static hub_rc stopped_checkpoint(struct hub_call *call, const char *cursor)
{
	(void)call;
	(void)cursor;
	return HUB_ERR_STOPPED;
}

/* reject() failing ends the pull with its code, the line named, and
 * nothing after it read or saved. */
static void test_example_failing_reject_ends_the_pull(void)
{
	struct pt_fixture f;
	struct testlib_capture cap;
	char err[512], expected[1024];

	fixture_open(&f, "not json\n{\"user_id\": \"u2\"}\n", 10);
	f.call.on_reject = stopped_reject;
	testlib_capture_begin(&cap);
	CU_ASSERT_EQUAL(pt_pull(&f, NULL, 100, err, sizeof(err)), HUB_ERR_STOPPED);
	free(testlib_capture_end(&cap));
	snprintf(expected, sizeof(expected), "%s:1: reject() failed (%d)", f.path,
		 (int)HUB_ERR_STOPPED);
	CU_ASSERT_STRING_EQUAL(err, expected);
	CU_ASSERT_EQUAL(f.got.n_emits, 0);
	CU_ASSERT_EQUAL(f.got.n_cursors, 0);
	pt_close(&f);
}

/* checkpoint() failing ends the pull with its code: at a batch boundary
 * nothing more is read; at the end, the pull is not HUB_OK. */
static void test_example_failing_checkpoint_ends_the_pull(void)
{
	struct pt_fixture f;
	char err[512];

	fixture_open(&f, five_lines, 2);
	f.call.on_checkpoint = stopped_checkpoint;
	CU_ASSERT_EQUAL(pt_pull(&f, NULL, 100, err, sizeof(err)), HUB_ERR_STOPPED);
	CU_ASSERT_EQUAL(f.got.n_emits, 2);
	pt_close(&f);

	fixture_open(&f, five_lines, 100);
	f.call.on_checkpoint = stopped_checkpoint;
	CU_ASSERT_EQUAL(pt_pull(&f, NULL, 100, err, sizeof(err)), HUB_ERR_STOPPED);
	CU_ASSERT_EQUAL(f.got.n_emits, 5);
	pt_close(&f);
}

/* emit() failing for a reason other than the record (here memory) fails
 * the page: its code and the line, nothing read or saved after it. */
static void test_example_emit_failure_fails_the_page_unsaved(void)
{
	struct pt_fixture f;
	char err[512], expected[1024];

	fixture_open(&f, five_lines, 100);
	f.got.refuse_message_id = "m2";
	f.got.refuse_rc = HUB_ERR_NOMEM;
	CU_ASSERT_EQUAL(pt_pull(&f, NULL, 100, err, sizeof(err)), HUB_ERR_NOMEM);
	snprintf(expected, sizeof(expected), "%s:2: refused by the test", f.path);
	CU_ASSERT_STRING_EQUAL(err, expected);
	CU_ASSERT_EQUAL(f.got.n_emits, 2);
	CU_ASSERT_EQUAL(f.got.n_rejects, 0);
	CU_ASSERT_EQUAL(f.got.n_cursors, 0);
	pt_close(&f);
}

static void test_budget_is_honoured_with_more(void)
{
	struct pt_fixture f;
	char err[512], off[32], cursor[32];

	fixture_open(&f, five_lines, 100);
	CU_ASSERT_EQUAL(pt_pull(&f, NULL, 3, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 3);
	CU_ASSERT_EQUAL_FATAL(f.got.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(f.got.cursors[0], offset_after(five_lines, 4, off, sizeof(off)));
	snprintf(cursor, sizeof(cursor), "%s", f.got.cursors[0]);

	pt_reset(&f.got);
	CU_ASSERT_EQUAL(pt_pull(&f, cursor, 2, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	CU_ASSERT_STRING_EQUAL(f.got.recs[0].message_id, "m4");
	pt_close(&f);
}

/* One bad line does not fail the pull: it is logged with its line number,
 * handed to reject() (counted as rejected by the hub, ABI 1.2) and
 * skipped; the lines around it are emitted and the cursor passes it. */
static void test_malformed_line_is_skipped_naming_the_line(void)
{
	static const char text[] =
		"{\"user_id\": \"u1\", \"id\": \"a\"}\n"
		"not json\n"
		"{\"user_id\": \"u3\", \"id\": \"c\"}\n";
	struct pt_fixture f;
	struct testlib_capture cap;
	char err[512] = "", expected[1024], end[32], *logged;
	hub_rc rc;

	fixture_open(&f, text, 100);
	testlib_capture_begin(&cap);
	rc = pt_pull(&f, NULL, 100, err, sizeof(err));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(rc, HUB_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 2);
	CU_ASSERT_STRING_EQUAL(f.got.recs[0].message_id, "a");
	CU_ASSERT_STRING_EQUAL(f.got.recs[1].message_id, "c");
	CU_ASSERT_EQUAL_FATAL(f.got.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(f.got.cursors[0], offset_after(text, 3, end, sizeof(end)));
	/* one line rejected, named */
	snprintf(expected, sizeof(expected), " warn [lines] %s:2: invalid JSON: ", f.path);
	CU_ASSERT_EQUAL(count_lines_with(logged, " warn [lines] "), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, expected));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "; line skipped\n"));
	/* and rejected through the host, with the same words */
	snprintf(expected, sizeof(expected), "%s:2: invalid JSON: ", f.path);
	CU_ASSERT_EQUAL_FATAL(f.got.n_rejects, 1);
	CU_ASSERT_EQUAL(strncmp(f.got.rejects[0], expected, strlen(expected)), 0);
	free(logged);
	pt_close(&f);
}

/* Each bad line (the hub refusing the record included) is named and
 * skipped; the good line after it is still emitted.  The lines the plugin
 * cannot read go to reject(); the record the hub refused does not (the
 * hub counted it already: rejecting it too would count it twice). */
static void test_bad_fields_are_skipped_naming_the_line(void)
{
	static const struct {
		const char *line;
		const char *message; /* after "path:1: " */
		size_t n_rejects;    /* reject() calls */
	} rows[] = {
		{"[1, 2]\n", "expected a JSON object", 1},
		{"{\"user_id\": 7}\n", "\"user_id\" must be a string", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"yesterday\"}\n",
		 "bad timestamp \"yesterday\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T03:04:05\"}\n",
		 "bad timestamp \"2026-01-02T03:04:05\"", 1},
		/* sscanf's %2d took a one-digit minute, a sign, a space;
		 * a day past its month's end rolled into the next (found
		 * by fuzz_time) */
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T03:4:05Z\"}\n",
		 "bad timestamp \"2026-01-02T03:4:05Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T-1:04:05Z\"}\n",
		 "bad timestamp \"2026-01-02T-1:04:05Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \" 2026-01-02T03:04:05Z\"}\n",
		 "bad timestamp \" 2026-01-02T03:04:05Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-02-31T03:04:05Z\"}\n",
		 "bad timestamp \"2026-02-31T03:04:05Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T03:04:05.Z\"}\n",
		 "bad timestamp \"2026-01-02T03:04:05.Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T03:04:05+2:0\"}\n",
		 "bad timestamp \"2026-01-02T03:04:05+2:0\"", 1},
		/* handed to the hub as they were, not the object hub_plugin.h
		 * promises (found by fuzz_plugfiles) */
		/* one past each bound, junk after the zone, a ':' for a digit */
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T24:00:00Z\"}\n",
		 "bad timestamp \"2026-01-02T24:00:00Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T03:60:00Z\"}\n",
		 "bad timestamp \"2026-01-02T03:60:00Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T03:04:61Z\"}\n",
		 "bad timestamp \"2026-01-02T03:04:61Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T03:04:05+24:00\"}\n",
		 "bad timestamp \"2026-01-02T03:04:05+24:00\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T03:04:05-02:60\"}\n",
		 "bad timestamp \"2026-01-02T03:04:05-02:60\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-00T03:04:05Z\"}\n",
		 "bad timestamp \"2026-01-00T03:04:05Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-13-02T03:04:05Z\"}\n",
		 "bad timestamp \"2026-13-02T03:04:05Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-00-02T03:04:05Z\"}\n",
		 "bad timestamp \"2026-00-02T03:04:05Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2100-02-29T03:04:05Z\"}\n",
		 "bad timestamp \"2100-02-29T03:04:05Z\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T03:04:05Zx\"}\n",
		 "bad timestamp \"2026-01-02T03:04:05Zx\"", 1},
		{"{\"user_id\": \"u\", \"timestamp\": \"2026-01-02T03:04:0:Z\"}\n",
		 "bad timestamp \"2026-01-02T03:04:0:Z\"", 1},
		/* every string member is checked, not only user_id */
		{"{\"user_id\": \"u\", \"device_id\": 5}\n", "\"device_id\" must be a string", 1},
		{"{\"user_id\": \"u\", \"event\": true}\n", "\"event\" must be a string", 1},
		{"{\"user_id\": \"u\", \"timestamp\": 1767225600}\n",
		 "\"timestamp\" must be a string", 1},
		{"{\"user_id\": \"u\", \"id\": 7}\n", "\"id\" must be a string", 1},
		/* a member twice is no JSON the plugin reads */
		{"{\"user_id\": \"u\", \"user_id\": \"v\"}\n",
		 "invalid JSON: duplicate object key near '\"user_id\"'", 1},
		{"{\"user_id\": \"u\", \"traits\": \"gold\"}\n", "\"traits\" must be an object", 1},
		{"{\"user_id\": \"u\", \"event\": \"e\", \"properties\": [1]}\n",
		 "\"properties\" must be an object", 1},
		{"{\"user_id\": \"u\", \"id\": \"refuse-me\"}\n", "refused by the test", 0},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pt_fixture f;
		struct testlib_capture cap;
		char err[512] = "", expected[1024], text[256], *logged;
		hub_rc rc;

		snprintf(text, sizeof(text), "%s{\"user_id\": \"u2\", \"id\": \"good\"}\n",
			 rows[i].line);
		fixture_open(&f, text, 10);
		f.got.refuse_message_id = "refuse-me";
		testlib_capture_begin(&cap);
		rc = pt_pull(&f, NULL, 100, err, sizeof(err));
		logged = testlib_capture_end(&cap);
		CU_ASSERT_EQUAL(rc, HUB_OK);
		snprintf(expected, sizeof(expected), " warn [lines] %s:1: %s; line skipped\n",
			 f.path, rows[i].message);
		CU_ASSERT_PTR_NOT_NULL(strstr(logged, expected));
		if (!strstr(logged, expected))
			fprintf(stderr, "\n  got: %s  expected: %s", logged, expected);
		CU_ASSERT_EQUAL(f.got.n_rejects, rows[i].n_rejects);
		if (f.got.n_rejects == 1) {
			snprintf(expected, sizeof(expected), "%s:1: %s", f.path, rows[i].message);
			CU_ASSERT_STRING_EQUAL(f.got.rejects[0], expected);
		}
		CU_ASSERT_EQUAL_FATAL(f.got.n_recs, 1);
		CU_ASSERT_STRING_EQUAL(f.got.recs[0].message_id, "good");
		CU_ASSERT_EQUAL_FATAL(f.got.n_cursors, 1);
		CU_ASSERT_EQUAL(strtol(f.got.cursors[0], NULL, 10), (long)strlen(text));
		free(logged);
		pt_close(&f);
	}
}

/* The whole path, as `profilehub sync` runs it: the good lines are
 * applied, the record the hub refuses and the line that is not JSON (the
 * plugin's reject()) are both counted as rejected with their reasons, and
 * the committed cursor is the file's end (so the next run does not read
 * them again). */
static void test_sync_applies_good_lines_around_bad_ones(void)
{
	static const char text[] =
		"{\"user_id\": \"u1\", \"id\": \"a\"}\n"
		"not json\n"
		"{\"user_id\": \"u2\", \"id\": \"b\"}\n"
		"{\"event\": \"open\", \"id\": \"c\"}\n" /* no identifier */
		"{\"user_id\": \"u3\", \"id\": \"d\"}\n";
	char *dir = testlib_mkdtemp(), *file, *yaml, *so, err[1024] = "", end[32], *logged;
	struct plugin_module mod;
	struct hub_instance *inst = NULL;
	struct sync_report rep;
	struct sync_params p;
	struct testhub *th;
	struct testlib_capture cap;
	hub_rc rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	file = testlib_write_file(dir, "events.jsonl", text);
	CU_ASSERT_FATAL(asprintf(&yaml, "sources:\n  - name: lines\n    plugin: example\n"
				       "    path: \"%s\"\n", file) > 0);
	th = testhub_start(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(th);
	CU_ASSERT_FATAL(asprintf(&so, "%s/plugins/example.so", testlib_build_dir()) > 0);
	CU_ASSERT_EQUAL_FATAL(plugin_load(so, &mod, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(plugin_instance_create(&mod, &th->cfg->sources[0], &inst, err,
						     sizeof(err)), 0);
	memset(&p, 0, sizeof(p));
	p.inst = inst;
	p.intake = th->intake;
	p.reader = th->reader;
	p.rules = &th->rules;
	p.max_retries = 0;

	testlib_capture_begin(&cap);
	rc = sync_run(&p, &rep);
	logged = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(rc, HUB_OK);
	CU_ASSERT_STRING_EQUAL(rep.err, "");
	CU_ASSERT_EQUAL(rep.read, 5);
	CU_ASSERT_EQUAL(rep.applied, 3);
	CU_ASSERT_EQUAL(rep.rejected, 2);
	CU_ASSERT_EQUAL_FATAL(rep.n_reasons, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.reasons[0], "events.jsonl:2: invalid JSON: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.reasons[1], "identifier"));
	/* named by its line: the record's origin */
	CU_ASSERT_PTR_NOT_NULL(strstr(rep.reasons[1], "(first in line 4)"));
	CU_ASSERT_PTR_NOT_NULL(rep.cursor);
	if (rep.cursor)
		CU_ASSERT_STRING_EQUAL(rep.cursor, offset_after(text, 5, end, sizeof(end)));
	CU_ASSERT_EQUAL(count_lines_with(logged, "; line skipped\n"), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, ":2: invalid JSON: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, ":4: "));
	sync_report_free(&rep);
	free(logged);

	plugin_instance_destroy(inst);
	plugin_unload(&mod);
	testhub_stop(th);
	free(so);
	free(yaml);
	free(file);
	testlib_rmtree(dir);
	free(dir);
}

/* On a hub older than ABI 1.2 (a host table without reject()), the
 * example checks HUB_HOST_HAS and only logs the bad line, as before. */
static void test_older_host_without_reject_only_logs(void)
{
	static const char text[] = "not json\n{\"user_id\": \"u2\", \"id\": \"b\"}\n";
	struct hub_host old = *host_table();
	struct pt_fixture f;
	struct testlib_capture cap;
	char err[512] = "", expected[1024], *logged;
	void *state = NULL;
	hub_rc rc;

	old.size = (uint32_t)offsetof(struct hub_host, reject); /* 1.1's table */
	old.abi_minor = 1;
	old.reject = NULL;
	fixture_open(&f, text, 10);
	CU_ASSERT_EQUAL_FATAL(f.mod.desc->create(&old, f.inst, &state, err, sizeof(err)), HUB_OK);
	testlib_capture_begin(&cap);
	rc = f.mod.desc->pull(state, &f.call, NULL, 100, err, sizeof(err));
	logged = testlib_capture_end(&cap);
	CU_ASSERT_EQUAL(rc, HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_rejects, 0);
	CU_ASSERT_EQUAL(f.got.n_recs, 1);
	snprintf(expected, sizeof(expected), " warn [lines] %s:1: invalid JSON: ", f.path);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, expected));
	free(logged);
	f.mod.desc->destroy(state);
	pt_close(&f);
}

static void test_missing_file_is_config_error(void)
{
	struct pt_fixture f;
	char err[512], expected[1024];

	fixture_open(&f, NULL, 10);
	CU_ASSERT_EQUAL(pt_pull(&f, NULL, 100, err, sizeof(err)), HUB_ERR_CONFIG);
	snprintf(expected, sizeof(expected), "%s: No such file or directory", f.path);
	CU_ASSERT_STRING_EQUAL(err, expected);
	pt_close(&f);
}

static void test_bad_cursor_is_refused(void)
{
	struct pt_fixture f;
	char err[512], expected[1024];

	/* past LLONG_MAX: strtoll's ERANGE was not looked at, and the
	 * cursor read as the end of any file (found by fuzz_plugfiles) */
	static const char *const cursors[] = {"12abc", "99999999999999999999", "-5", "", "-1",
					      "0x1f"};

	for (size_t i = 0; i < sizeof(cursors) / sizeof(cursors[0]); i++) {
		fixture_open(&f, five_lines, 10);
		CU_ASSERT_EQUAL(pt_pull(&f, cursors[i], 100, err, sizeof(err)), HUB_ERR_DATA);
		snprintf(expected, sizeof(expected), "%s: bad cursor \"%s\"", f.path, cursors[i]);
		CU_ASSERT_STRING_EQUAL(err, expected);
		CU_ASSERT_EQUAL(f.got.n_recs, 0);
		pt_close(&f);
	}
}

static void test_unfinished_last_line_waits(void)
{
	static const char text[] = "{\"user_id\": \"u1\", \"id\": \"a\"}\n"
				   "{\"user_id\": \"u2\", \"id\": \"b\"}";
	struct pt_fixture f;
	char err[512];

	fixture_open(&f, text, 10);
	CU_ASSERT_EQUAL(pt_pull(&f, NULL, 100, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(f.got.n_recs, 1);
	CU_ASSERT_EQUAL_FATAL(f.got.n_cursors, 1);
	CU_ASSERT_STRING_EQUAL(f.got.cursors[0], "29");
	pt_close(&f);
}

static void test_stop_request_ends_the_pull_early(void)
{
	struct pt_fixture f;
	char err[512];

	fixture_open(&f, five_lines, 10);
	atomic_store(&f.stop, 1);
	CU_ASSERT_EQUAL(pt_pull(&f, NULL, 100, err, sizeof(err)), HUB_MORE);
	CU_ASSERT_EQUAL(f.got.n_recs, 0);
	pt_close(&f);
}

static void test_batch_below_one_is_refused_by_create(void)
{
	struct pt_fixture f;
	char err[1024] = "";

	CU_ASSERT_EQUAL(pt_try_open(&f, "example", err, sizeof(err),
				    "sources:\n"
				    "  - name: lines\n"
				    "    plugin: example\n"
				    "    path: /tmp/x.jsonl\n"
				    "    batch: 0\n"),
			-1);
	/* the message starts with its key: the hub puts the value's place first */
	CU_ASSERT_STRING_EQUAL(err, "test.yaml:5:12: sources[0] \"lines\" (plugin example): "
				    "batch: must be at least 1");
	pt_close(&f);
}

/* An export plugin is tested the same way: a config with an export and no
 * source, and pt_export() hands it changes as the exporter does
 * (tests/plugins/export_script.c here: it appends what it accepts to a
 * file, with the range batch_range() gave). */
static void test_an_export_is_driven_by_pt_export(void)
{
	static const char *const changes[] = {
		"{\"seq\":7,\"kind\":\"profile\",\"profile_id\":\"p_1\",\"custom_id\":\"ok\"}",
		"{\"seq\":9,\"kind\":\"profile\",\"profile_id\":\"p_2\",\"custom_id\":\"BAD\"}",
	};
	struct pt_fixture f;
	char *dir = testlib_mkdtemp(), *file, *got, err[256];
	size_t n_done = 99;

	CU_ASSERT_FATAL(asprintf(&file, "%s/record", dir) > 0);
	pt_open(&f, "export_script",
		"exports:\n  - name: out\n    plugin: export_script\n    record: %s\n"
		"    bad_custom_id: BAD\n    mode: precise\n", file);
	CU_ASSERT_EQUAL(pt_export(&f, changes, 1, 5, 7, &n_done, err, sizeof(err)), HUB_OK);
	CU_ASSERT_EQUAL(n_done, 1);
	/* the bad change is named by n_done: the one before it accepted */
	CU_ASSERT_EQUAL(pt_export(&f, changes, 2, 6, 9, &n_done, err, sizeof(err)),
			HUB_ERR_DATA);
	CU_ASSERT_EQUAL(n_done, 1);
	CU_ASSERT_STRING_EQUAL(err, "scripted bad data at 1");
	got = pt_read_file(dir, "record");
	CU_ASSERT_PTR_NOT_NULL(strstr(got, "# batch 1 7-7 0 range 5-7\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(got, "# batch 2 7-9 5 range 6-9\n"));
	free(got);
	pt_close(&f);
	testlib_rmtree(dir);
	free(dir);
	free(file);
}

TEST_SUITE(example_plugin, NULL, NULL,
	   TEST(test_full_read_emits_every_line_and_checkpoints_each_batch),
	   TEST(test_resume_from_cursor_emits_only_later_lines),
	   TEST(test_a_file_shorter_than_the_cursor_is_read_from_its_start),
	   TEST(test_times_before_1970_are_read),
	   TEST(test_time_at_the_epoch_is_kept),
	   TEST(test_budget_is_honoured_with_more),
	   TEST(test_malformed_line_is_skipped_naming_the_line),
	   TEST(test_bad_fields_are_skipped_naming_the_line),
	   TEST(test_sync_applies_good_lines_around_bad_ones),
	   TEST(test_older_host_without_reject_only_logs),
	   TEST(test_missing_file_is_config_error),
	   TEST(test_bad_cursor_is_refused),
	   TEST(test_unfinished_last_line_waits),
	   TEST(test_stop_request_ends_the_pull_early),
	   TEST(test_batch_below_one_is_refused_by_create),
	   TEST(test_an_export_is_driven_by_pt_export),
	   TEST(test_example_times_at_their_bounds_are_read),
	   TEST(test_example_a_file_one_byte_shorter_than_the_cursor_is_read_again),
	   TEST(test_example_lines_are_numbered_from_1_after_a_rewind),
	   TEST(test_example_default_batch_is_100_lines_and_the_end_is_saved_once),
	   TEST(test_example_null_members_are_absent),
	   TEST(test_example_blank_lines_with_spaces_and_crlf_are_skipped),
	   TEST(test_example_failing_reject_ends_the_pull),
	   TEST(test_example_failing_checkpoint_ends_the_pull),
	   TEST(test_example_emit_failure_fails_the_page_unsaved))
