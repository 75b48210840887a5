/*
 * example.c - a pull source that reads a JSON Lines file, one record per
 * line.
 * The template of `make plugin NAME=foo KIND=pull` (plugins/foo/foo.c).
 *
 * A plugin is three steps:
 *
 *   1. Declare the config keys (example_keys).  The hub checks the YAML
 *      against them before anything runs: unknown keys, wrong types and
 *      missing required keys are errors with file:line:col.
 *   2. create() reads the validated config through the host table and
 *      builds the plugin's state; destroy() frees it.
 *   3. pull() emits records after the cursor and calls checkpoint() at safe
 *      boundaries; the hub commits the records and the cursor together, so
 *      after a crash the next pull starts from the last checkpoint.  A bad
 *      line is logged, counted as rejected (host->reject(), ABI 1.2) and
 *      passed over, never a reason to fail the pull.
 *
 * A line: {"user_id": "u1", "device_id": "d1", "event": "purchase",
 * "properties": {...}, "traits": {...}, "timestamp": "2026-01-02T03:04:05Z",
 * "id": "unique-id"}.  With "event" it is a track record, without it an
 * identify record whose attributes are "traits".  The cursor is the byte
 * offset after the last line consumed, in decimal; a file shorter than it
 * was truncated or replaced and is read again from its start.
 *
 * A plugin includes only hub_plugin.h (and its own libraries, here jansson);
 * it never calls into the hub except through struct hub_host.
 */
#include <hub_plugin.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Step 1: the keys.  Defaults are YAML text; the list ends with {NULL}. */
static const struct hub_config_key example_keys[] = {
	{.name = "path", .type = HUB_CFG_STRING, .is_required = 1,
	 .description = "the JSON Lines file to read"},
	{.name = "batch", .type = HUB_CFG_INT, .default_value = "100",
	 .description = "lines between two checkpoints"},
	{.name = NULL},
};

struct example_state {
	const struct hub_host *host;
	const struct hub_instance *inst; /* for host->log() */
	const char *path;
	long long batch;
};

/* Step 2: create and destroy.  Config strings (and inst) live as long as
 * the instance: keep the pointers, no copy needed.  Fail only on bad
 * config: the hub does not retry create().  Start the message with the
 * key and ": " ("batch: ..."): the hub puts its file:line:col first. */
static hub_rc example_create(const struct hub_host *host, const struct hub_instance *inst,
			     void **state, char *err, size_t err_size)
{
	struct example_state *st = calloc(1, sizeof(*st));

	if (!st)
		return HUB_ERR_NOMEM;
	st->host = host;
	st->inst = inst;
	st->batch = (long long)host->config_int(inst, "batch");
	if (st->batch < 1) {
		snprintf(err, err_size, "batch: must be at least 1");
		free(st);
		return HUB_ERR_CONFIG;
	}
	/* A required key is always set: the hub checked the YAML first. */
	st->path = host->config_string(inst, "path");
	*state = st;
	return HUB_OK;
}

static void example_destroy(void *state)
{
	free(state);
}

/* n decimal digits at *s -> *out, *s moved past them; -1 if not n digits
 * (sscanf's %2d would also take "7:", "-1" and " 7"). */
static int take_digits(const char **s, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++, (*s)++) {
		if (**s < '0' || **s > '9')
			return -1;
		*out = *out * 10 + (**s - '0');
	}
	return 0;
}

/* "2026-01-02T03:04:05.678Z" or "...+02:00" -> *ms since the epoch
 * (negative before 1970).  Returns 0, or -1 if malformed: the status and
 * the value apart, as every time is a valid value.  Plugins cannot call hub
 * internals, so they bring their own. */
static int parse_time_ms(const char *s, int64_t *ms)
{
	static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec, frac = 0, scale = 100, oh = 0, om = 0, off_min = 0, is_leap;

	if (take_digits(&s, 4, &y) || *s++ != '-' || take_digits(&s, 2, &mo) || *s++ != '-' ||
	    take_digits(&s, 2, &d) || *s++ != 'T' || take_digits(&s, 2, &h) || *s++ != ':' ||
	    take_digits(&s, 2, &mi) || *s++ != ':' || take_digits(&s, 2, &sec))
		return -1;
	if (*s == '.') {
		if (*++s < '0' || *s > '9')
			return -1; /* a point needs a digit */
		for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
			frac += (*s - '0') * scale; /* past ms, scale is 0 */
	}
	if (*s == 'Z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1;
		if (take_digits(&s, 2, &oh) || *s++ != ':' || take_digits(&s, 2, &om))
			return -1;
		off_min = sign * (oh * 60 + om);
	} else {
		return -1;
	}
	is_leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (*s || mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] + (mo == 2 && is_leap) ||
	    h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -1;
	/* Days since 1970-01-01 in the civil calendar (Howard Hinnant). */
	y -= mo <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
	long long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
	*ms = (days * 86400 + h * 3600 + mi * 60 + sec - off_min * 60) * 1000 + frac;
	return 0;
}

/* A string member or NULL; *bad is set when present but not a string. */
static const char *get_string(json_t *obj, const char *key, const char **bad)
{
	json_t *v = json_object_get(obj, key);

	if (v && !json_is_string(v) && !json_is_null(v))
		*bad = key;
	return json_string_value(v);
}

/* One line -> one record, emitted.  HUB_ERR_DATA with `why` on bad input:
 * *is_ours is set when the line itself is bad, left 0 when emit() refused
 * the record (the hub counted that one already). */
static hub_rc emit_line(struct example_state *st, struct hub_call *call, const char *line,
			const char *origin, int *is_ours, char *why, size_t why_size)
{
	json_error_t jerr;
	json_t *obj = json_loads(line, JSON_REJECT_DUPLICATES, &jerr), *payload;
	const char *bad = NULL, *user, *device, *event, *ts;
	struct hub_ident ids[2];
	struct hub_record rec;
	char *payload_text = NULL;
	hub_rc rc = HUB_ERR_DATA;

	*is_ours = 1;
	if (!obj) {
		snprintf(why, why_size, "invalid JSON: %s", jerr.text);
		return HUB_ERR_DATA;
	}
	if (!json_is_object(obj)) {
		snprintf(why, why_size, "expected a JSON object");
		goto out;
	}
	user = get_string(obj, "user_id", &bad);
	device = get_string(obj, "device_id", &bad);
	event = get_string(obj, "event", &bad);
	ts = get_string(obj, "timestamp", &bad);
	hub_record_init(&rec, event ? HUB_REC_TRACK : HUB_REC_IDENTIFY);
	/* where the record is (ABI 1.3): the hub names it so beside what it
	 * says of the record (a refusal, a warning), in the sync report */
	rec.origin = origin;
	rec.message_id = get_string(obj, "id", &bad);
	if (bad) {
		snprintf(why, why_size, "\"%s\" must be a string", bad);
		goto out;
	}
	rec.identifiers = ids;
	if (user)
		ids[rec.n_identifiers++] = (struct hub_ident){"custom_id", user};
	if (device)
		ids[rec.n_identifiers++] = (struct hub_ident){"installation_id", device};
	if (ts && parse_time_ms(ts, &rec.timestamp_ms) != 0) {
		snprintf(why, why_size, "bad timestamp \"%s\"", ts);
		goto out;
	}
	rec.has_timestamp = ts != NULL; /* 1970-01-01T00:00:00Z is 0, a time (ABI 1.5) */
	/* JSON crosses the boundary as text, never as a json_t: an object
	 * (hub_plugin.h), so anything else is the line's fault; null is absent. */
	payload = json_object_get(obj, event ? "properties" : "traits");
	if (json_is_null(payload))
		payload = NULL;
	if (payload && !json_is_object(payload)) {
		snprintf(why, why_size, "\"%s\" must be an object",
			 event ? "properties" : "traits");
		goto out;
	}
	if (payload && !(payload_text = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY))) {
		snprintf(why, why_size, "out of memory");
		rc = HUB_ERR_NOMEM;
		goto out;
	}
	rec.event_name = event;
	if (event)
		rec.properties_json = payload_text;
	else
		rec.attributes_json = payload_text;
	/* The host copies the record: everything here may go right after. */
	why[0] = '\0';
	*is_ours = 0;
	rc = st->host->emit(call, &rec, why, why_size);
out:
	free(payload_text);
	json_decref(obj);
	return rc;
}

/* A bad line, not stored: named in the log, and counted as rejected.  A
 * line the plugin could not read is handed to reject(), so the hub counts
 * it and shows why (sync report, source status) as it does for a record
 * emit() refused, which it counted already (is_ours 0: not again).  An
 * older hub (ABI < 1.2) lacks reject(): log only.  Not skip() (ABI 1.12):
 * that counts a valid item left out on purpose.  Returns reject()'s code
 * (HUB_OK, or a failure that ends the pull). */
static hub_rc reject_line(struct example_state *st, struct hub_call *call, long long line_no,
			  int is_ours, const char *why)
{
	char reason[600];

	st->host->log(st->inst, HUB_LOG_WARN, "%s:%lld: %s; line skipped", st->path, line_no,
		      why);
	if (!is_ours || !HUB_HOST_HAS(st->host, reject))
		return HUB_OK;
	snprintf(reason, sizeof(reason), "%s:%lld: %s", st->path, line_no, why);
	return st->host->reject(call, reason);
}

/* Tells the host that everything emitted so far is consistent up to offset. */
static hub_rc save(struct example_state *st, struct hub_call *call, long long offset)
{
	char cursor[32];

	snprintf(cursor, sizeof(cursor), "%lld", offset);
	return st->host->checkpoint(call, cursor);
}

/* Step 3: pull.  Read up to `budget` complete lines after the cursor;
 * checkpoint every `batch` lines and at the end.  A last line without its
 * newline may still be being written: it waits for next time. */
static hub_rc example_pull(void *state, struct hub_call *call, const char *cursor,
			   size_t budget, char *err, size_t err_size)
{
	struct example_state *st = state;
	long long offset = 0, saved, line_no = 0, n_read = 0;
	char *line = NULL, why[512], origin[32], *end;
	size_t cap = 0;
	ssize_t len;
	int is_ours, is_rewound;
	hub_rc rc = HUB_OK;
	FILE *f;

	errno = 0;
	if (cursor &&
	    ((offset = strtoll(cursor, &end, 10)) < 0 || *end || end == cursor || errno)) {
		snprintf(err, err_size, "%s: bad cursor \"%s\"", st->path, cursor);
		return HUB_ERR_DATA;
	}
	if (!(f = fopen(st->path, "r"))) {
		snprintf(err, err_size, "%s: %s", st->path, strerror(errno));
		return HUB_ERR_CONFIG;
	}
	/* Read up to the cursor, counting lines for messages.  (A real source
	 * would seek; this keeps line numbers exact and the code short.) */
	while (ftello(f) < offset && getline(&line, &cap, f) > 0)
		line_no++;
	is_rewound = ftello(f) < offset;
	if (is_rewound) {
		/* Shorter than the cursor: truncated or replaced.  Going on
		 * from the cursor would lose its lines: read it from the start
		 * (a line read again is a duplicate by its message_id). */
		st->host->log(st->inst, HUB_LOG_WARN, "%s: %lld bytes, shorter than the cursor"
			      " (%lld): truncated or replaced, read again from its start",
			      st->path, (long long)ftello(f), offset);
		rewind(f);
		line_no = 0;
	}
	offset = ftello(f);
	saved = is_rewound ? -1 : offset; /* the new start is saved, lines or not */
	while ((len = getline(&line, &cap, f)) > 0 && line[len - 1] == '\n') {
		if (n_read == (long long)budget || st->host->should_stop(call)) {
			rc = HUB_MORE; /* this line is left for the next pull */
			break;
		}
		line_no++;
		offset += len;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue; /* a blank line */
		snprintf(origin, sizeof(origin), "line %lld", line_no);
		rc = emit_line(st, call, line, origin, &is_ours, why, sizeof(why));
		if (rc == HUB_ERR_DATA) {
			/* A bad line, or a record the hub refused (and counted as
			 * rejected): name it and go on.  Failing the pull instead
			 * would drop the page and fail again on every retry. */
			if ((rc = reject_line(st, call, line_no, is_ours, why)) != HUB_OK) {
				snprintf(err, err_size, "%s:%lld: reject() failed (%d)", st->path,
					 line_no, (int)rc);
				goto out;
			}
		} else if (rc != HUB_OK) {
			/* The page fails: the hub pulls again from the last checkpoint. */
			snprintf(err, err_size, "%s:%lld: %s", st->path, line_no, why);
			goto out;
		}
		if (++n_read % st->batch == 0) {
			if ((rc = save(st, call, offset)) != HUB_OK)
				goto out;
			saved = offset;
		}
	}
	if (offset != saved) {
		hub_rc save_rc = save(st, call, offset);
		if (save_rc != HUB_OK)
			rc = save_rc;
	}
out:
	free(line);
	fclose(f);
	return rc;
}

/* The descriptor: designated initializers, the ABI stamp first. */
static const struct hub_plugin example_plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "example",
	.version = "1.0.0",
	.description = "reads records from a JSON Lines file",
	.roles = HUB_ROLE_PULL,
	.config = example_keys,
	.create = example_create,
	.destroy = example_destroy,
	.pull = example_pull,
};

/* The one exported function: return the descriptor, nothing else. */
HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &example_plugin;
}
