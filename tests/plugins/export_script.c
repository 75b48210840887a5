/*
 * export_script.c - an export plugin for the exporter's tests: it appends
 * every change it accepts to the file `record` (one line each), then after
 * every call, accepted or not, "# batch N FIRST-LAST RC range A-B" (its
 * size, the seqs of its first and last change, its answer, the range the
 * host planned it over: batch_range()), and fails on demand:
 *
 *   retries: N        the first N calls answer HUB_RETRY ("retry after 0ms");
 *                     with `gate`, the first of them waits at the gate
 *   retry_after: D    what they ask instead of 0ms ("60s": "retry after 60s")
 *   forgets: N        the first N calls answer HUB_OK with *n_done left 0
 *                     and nothing in err, as a plugin that forgot to set
 *                     it would (`forgot_says: TEXT`: with TEXT in err)
 *   stops: N          the first N calls answer HUB_ERR_STOPPED ("scripted
 *                     stop"), as a plugin passing on a library's own
 *                     cancellation would, the hub not stopping
 *   bad_custom_id: C  a change of a profile with custom_id C is bad data:
 *                     mode "batch" refuses the whole call (n_done 0, like a
 *                     webhook's 400), mode "precise" accepts the changes
 *                     before it and points at it (n_done = its index)
 *   bad_latin1: true  the reason a bad change is refused for is not UTF-8
 *                     (a receiver's Latin-1 text passed on: "caf\xe9"), nor
 *                     is that of `fail: create`
 *   mode: contradict  every call accepts all its changes (n_done = n) yet
 *                     answers HUB_ERR_DATA
 *   mode: short       the first call of more than one change accepts all
 *                     but its last (n_done = n - 1) and answers HUB_RETRY,
 *                     as a connection lost before the last ack would
 *   lie: n_done|rc    the first call of more than one change accepts only
 *                     its first change, yet answers *n_done = n + 1 and
 *                     HUB_OK (n_done) or *n_done = n and 42, no hub_rc
 *                     (rc): a confused plugin's answer
 *   fail: auth|config every call answers HUB_ERR_AUTH / HUB_ERR_CONFIG
 *   fail: create      create() refuses ("scripted create failure")
 *   fail_while: PATH  `fail` (auth or config) only while PATH exists: the
 *                     receiver fixed once the test removes it
 *   fail: unterminated every call answers HUB_ERR_CONFIG with err filled
 *                     with 'x' to its last byte, no NUL
 *   gate: PATH        before refusing a bad change (or answering the first
 *                     scripted retry), creates PATH.blocked and waits (20 s
 *                     at most) until PATH exists: a test acts while the
 *                     changes are in the plugin's hands
 *   gate_first: true  the first call waits at the gate, whatever it answers
 *   gate_each: true   each opening of the gate lets one call through: the
 *                     plugin removes PATH as it passes, so the next bad
 *                     change waits again (a test removes PATH.blocked
 *                     before it opens the gate, and waits for it again)
 */
#include <hub_plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct hub_config_key keys[] = {
	{.name = "record", .type = HUB_CFG_STRING, .is_required = 1,
	 .description = "file the accepted changes are appended to"},
	{.name = "retries", .type = HUB_CFG_INT, .default_value = "0",
	 .description = "calls answered HUB_RETRY first"},
	{.name = "retry_after", .type = HUB_CFG_STRING, .default_value = "0ms",
	 .description = "the wait the scripted retries ask for"},
	{.name = "forgets", .type = HUB_CFG_INT, .default_value = "0",
	 .description = "calls answered HUB_OK with *n_done left 0 first"},
	{.name = "forgot_says", .type = HUB_CFG_STRING,
	 .description = "what those calls write in err (default nothing)"},
	{.name = "stops", .type = HUB_CFG_INT, .default_value = "0",
	 .description = "calls answered HUB_ERR_STOPPED first"},
	{.name = "bad_custom_id", .type = HUB_CFG_STRING,
	 .description = "changes of this custom_id are bad data"},
	{.name = "bad_latin1", .type = HUB_CFG_BOOL, .default_value = "false",
	 .description = "the reason bad data is refused for (and fail: create's) is Latin-1,"
			" not UTF-8"},
	{.name = "mode", .type = HUB_CFG_STRING, .default_value = "batch",
	 .description = "batch: refuse the whole call; precise: point at the bad change;"
			" contradict: accept all yet answer bad data; short: a first call stops"
			" before its last change"},
	{.name = "fail", .type = HUB_CFG_STRING,
	 .description = "auth, config or unterminated: every call fails so; create: "
			"create() fails"},
	{.name = "fail_while", .type = HUB_CFG_STRING,
	 .description = "fail (auth or config) only while this file exists"},
	{.name = "lie", .type = HUB_CFG_STRING,
	 .description = "n_done or rc: a first call of more than one change answers so"},
	{.name = "gate", .type = HUB_CFG_STRING,
	 .description = "a bad change waits for this file (PATH.blocked says so)"},
	{.name = "gate_first", .type = HUB_CFG_BOOL, .default_value = "false",
	 .description = "the first call waits at the gate too"},
	{.name = "gate_each", .type = HUB_CFG_BOOL, .default_value = "false",
	 .description = "the gate closes behind each call it lets through"},
	{.name = NULL},
};

struct script {
	const struct hub_host *host;
	char *record;
	int is_gate_passed; /* a retry (or with is_gate_first, a call) waited at the gate */
	int is_gate_first;
	int is_gate_each; /* the gate closes behind each call (PATH removed) */
	long long retries;
	char retry_after[32];
	long long stops;
	long long forgets;
	char forgot_says[64];
	char bad[160];  /* "\"custom_id\":\"C\"" or "" */
	int is_precise;
	int is_latin1; /* the bad data's reason is not UTF-8 */
	int is_contradicting;
	int is_short; /* until its first call of more than one change */
	char lie[8];  /* "n_done", "rc" or "": until that call too */
	char fail[16];
	char fail_while[512];
	char gate[512];
};

static hub_rc script_create(const struct hub_host *host, const struct hub_instance *inst,
			    void **state, char *err, size_t err_size)
{
	struct script *s = calloc(1, sizeof(*s));
	const char *bad = host->config_string(inst, "bad_custom_id");
	const char *fail = host->config_string(inst, "fail");

	if (fail && strcmp(fail, "create") == 0) {
		snprintf(err, err_size, "scripted create failure%s",
			 host->config_bool(inst, "bad_latin1") ? ": caf\xe9" : "");
		free(s);
		return HUB_ERR_CONFIG;
	}
	if (!s || !(s->record = strdup(host->config_string(inst, "record")))) {
		free(s);
		return HUB_ERR_NOMEM;
	}
	s->host = host;
	s->retries = (long long)host->config_int(inst, "retries");
	s->stops = (long long)host->config_int(inst, "stops");
	s->forgets = (long long)host->config_int(inst, "forgets");
	snprintf(s->forgot_says, sizeof(s->forgot_says), "%s",
		 host->config_string(inst, "forgot_says") ? host->config_string(inst, "forgot_says")
							  : "");
	snprintf(s->retry_after, sizeof(s->retry_after), "%s",
		 host->config_string(inst, "retry_after"));
	if (bad)
		snprintf(s->bad, sizeof(s->bad), "\"custom_id\":\"%s\"", bad);
	s->is_precise = strcmp(host->config_string(inst, "mode"), "precise") == 0;
	s->is_latin1 = host->config_bool(inst, "bad_latin1");
	s->is_contradicting = strcmp(host->config_string(inst, "mode"), "contradict") == 0;
	s->is_short = strcmp(host->config_string(inst, "mode"), "short") == 0;
	snprintf(s->fail, sizeof(s->fail), "%s", fail ? fail : "");
	snprintf(s->lie, sizeof(s->lie), "%s",
		 host->config_string(inst, "lie") ? host->config_string(inst, "lie") : "");
	snprintf(s->fail_while, sizeof(s->fail_while), "%s",
		 host->config_string(inst, "fail_while") ? host->config_string(inst, "fail_while")
							 : "");
	snprintf(s->gate, sizeof(s->gate), "%s",
		 host->config_string(inst, "gate") ? host->config_string(inst, "gate") : "");
	s->is_gate_first = host->config_bool(inst, "gate_first");
	s->is_gate_each = host->config_bool(inst, "gate_each");
	*state = s;
	return HUB_OK;
}

static void script_destroy(void *state)
{
	struct script *s = state;
	if (s)
		free(s->record);
	free(s);
}

static int is_bad(const struct script *s, const char *change)
{
	return s->bad[0] && strstr(change, s->bad) != NULL;
}

static long long seq_of(const char *change)
{
	const char *p = strstr(change, "\"seq\":");
	return p ? strtoll(p + 6, NULL, 10) : -1;
}

/* `gate`: says it holds a bad change, then waits for the test's go. */
static void gate_wait(const struct script *s)
{
	char blocked[600];
	struct timespec pause = {0, 5 * 1000 * 1000};
	FILE *f;

	if (!s->gate[0])
		return;
	snprintf(blocked, sizeof(blocked), "%s.blocked", s->gate);
	if ((f = fopen(blocked, "w")))
		fclose(f);
	for (int i = 0; i < 4000 && access(s->gate, F_OK) != 0; i++)
		nanosleep(&pause, NULL);
	if (s->is_gate_each)
		unlink(s->gate);
}

static hub_rc record(const struct script *s, struct hub_call *call, const char *const *changes,
		     size_t n, size_t accepted, hub_rc rc)
{
	int64_t first = -1, last = -1;
	FILE *f = fopen(s->record, "a");

	if (!f)
		return rc;
	if (HUB_HOST_HAS(s->host, batch_range) &&
	    s->host->batch_range(call, &first, &last) != HUB_OK)
		first = last = -2;
	for (size_t i = 0; i < accepted; i++)
		fprintf(f, "%s\n", changes[i]);
	fprintf(f, "# batch %zu %lld-%lld %d range %lld-%lld\n", n, seq_of(changes[0]),
		seq_of(changes[n - 1]), (int)rc, (long long)first, (long long)last);
	fclose(f);
	return rc;
}

static hub_rc script_export(void *state, struct hub_call *call, const char *const *changes,
			    size_t n, size_t *n_done, char *err, size_t err_size)
{
	struct script *s = state;
	size_t ok = 0;

	*n_done = 0;
	if (s->is_gate_first && !s->is_gate_passed) {
		s->is_gate_passed = 1;
		gate_wait(s);
	}
	if ((strcmp(s->fail, "auth") == 0 || strcmp(s->fail, "config") == 0) &&
	    (!s->fail_while[0] || access(s->fail_while, F_OK) == 0)) {
		snprintf(err, err_size, "scripted %s failure", s->fail);
		return record(s, call, changes, n, 0,
			      s->fail[0] == 'a' ? HUB_ERR_AUTH : HUB_ERR_CONFIG);
	}
	if (strcmp(s->fail, "unterminated") == 0) {
		memset(err, 'x', err_size);
		return record(s, call, changes, n, 0, HUB_ERR_CONFIG);
	}
	if (s->forgets > 0) {
		s->forgets--;
		snprintf(err, err_size, "%s", s->forgot_says);
		return record(s, call, changes, n, 0, HUB_OK);
	}
	if (s->stops > 0) {
		s->stops--;
		snprintf(err, err_size, "scripted stop");
		return record(s, call, changes, n, 0, HUB_ERR_STOPPED);
	}
	if (s->retries > 0) {
		s->retries--;
		if (!s->is_gate_passed) {
			s->is_gate_passed = 1;
			gate_wait(s);
		}
		snprintf(err, err_size, "retry after %s: scripted", s->retry_after);
		return record(s, call, changes, n, 0, HUB_RETRY);
	}
	if (s->is_short && n > 1) {
		s->is_short = 0;
		*n_done = n - 1;
		snprintf(err, err_size, "retry after 0ms: scripted short call");
		return record(s, call, changes, n, n - 1, HUB_RETRY);
	}
	if (s->lie[0] && n > 1) {
		int is_rc = strcmp(s->lie, "rc") == 0;
		s->lie[0] = '\0';
		*n_done = is_rc ? n : n + 1;
		return record(s, call, changes, n, 1, is_rc ? (hub_rc)42 : HUB_OK);
	}
	if (s->is_contradicting) {
		*n_done = n;
		snprintf(err, err_size, "scripted contradiction");
		return record(s, call, changes, n, n, HUB_ERR_DATA);
	}
	while (ok < n && !is_bad(s, changes[ok]))
		ok++;
	if (ok < n)
		gate_wait(s);
	if (ok < n && !s->is_precise) {
		snprintf(err, err_size, "scripted bad data");
		return record(s, call, changes, n, 0, HUB_ERR_DATA);
	}
	*n_done = ok;
	if (ok < n) {
		snprintf(err, err_size, "scripted bad data at %zu%s", ok,
			 s->is_latin1 ? ": caf\xe9" : "");
		return record(s, call, changes, n, ok, HUB_ERR_DATA);
	}
	return record(s, call, changes, n, n, HUB_OK);
}

static const struct hub_plugin plugin = {
	.abi = HUB_ABI_STAMP_INIT,
	.name = "export_script",
	.version = "1.0.0",
	.description = "an export for the exporter's tests",
	.roles = HUB_ROLE_EXPORT,
	.config = keys,
	.create = script_create,
	.destroy = script_destroy,
	.export_batch = script_export,
};

HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host)
{
	(void)host;
	return &plugin;
}
