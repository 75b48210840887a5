/*
 * api_profiles.c - the management API's profile reads (api.h): GET
 * /v1/profiles (by one identifier, or a free-text search), a profile's
 * events (GET /v1/profiles/<id>/events) and its identity history (GET
 * /v1/profiles/<id>/history), page by page.  Each request reads within one
 * snapshot of a pooled connection (api.c); a page's cursor is opaque to
 * clients.  Only reads: nothing here writes to the store.
 */
#include "api_int.h"

#include "alloc.h"
#include "log.h"
#include "profile.h"
#include "record.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define API_EVENTS_DEFAULT 50
#define API_EVENTS_MAX 200
#define API_HISTORY_DEFAULT 100
#define API_HISTORY_MAX 1000

#define CURSOR_INVALID (-1)
#define CURSOR_OUT_OF_RANGE (-2)

/* One number of a cursor at *p, as cursor_make() writes it (decimal
 * digits, '-' first when negative), followed by `stop` ('.' between
 * numbers, '\0' at the end): *p moves past a '.'.  0, CURSOR_INVALID, or
 * CURSOR_OUT_OF_RANGE when it does not fit 64 bits. */
static int cursor_number(const char **p, char stop, long long *out)
{
	const char *s = *p;
	char *end;

	if (!((s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9')))
		return CURSOR_INVALID; /* strtoll would take spaces and '+' too */
	errno = 0;
	*out = strtoll(s, &end, 10);
	if (*end != stop)
		return CURSOR_INVALID;
	if (errno == ERANGE)
		return CURSOR_OUT_OF_RANGE;
	*p = stop ? end + 1 : end;
	return 0;
}

/* ---- profiles ---------------------------------------------------------- */

/* Why a read failed, for the log: the store's error, or memory (an answer
 * that could not be built leaves the store's empty). */
static const char *read_error(const struct store *s)
{
	const char *why = store_error(s);
	return why[0] ? why : "out of memory";
}

const char *const api_lookup_keys[API_LOOKUP_KEYS + 2] = {
	"custom_id", "installation_id", "email", "phone", "profile_id", "q", NULL};

void api_profile_params_init(struct api *api)
{
	const struct hub_config *cfg = api->cfg;
	size_t n = 0;

	for (size_t i = 0; i < API_LOOKUP_KEYS; i++)
		api->profile_params[n++] = api_lookup_keys[i];
	for (size_t i = 0; i < cfg->n_external_ids && i < CONFIG_MAX_EXTERNAL_IDS; i++)
		if (config_person_key(cfg, cfg->external_ids[i].name))
			api->profile_params[n++] = cfg->external_ids[i].name;
	api->profile_params[n++] = "q";
	api->profile_params[n] = NULL;
	memcpy(api->profile_takes, api->profile_params, n * sizeof(api->profile_params[0]));
	api->profile_takes[n++] = "after";
	api->profile_takes[n++] = "limit";
	api->profile_takes[n] = NULL;
}

/* 1 when q is a phone number whose '+' a query string read as a space
 * (?q=+33612345678 arrives as " 33612345678"). */
static int search_is_spaced_phone(const char *q)
{
	return q[0] == ' ' && q[1] && strspn(q + 1, "0123456789") == strlen(q + 1);
}

/* What a free-text search can be, most specific first: the identifier
 * kinds, then the external ids (a CRM key, an mParticle ID), into kinds
 * (room for API_LOOKUP_KEYS + CONFIG_MAX_EXTERNAL_IDS), each with the
 * value it is looked up by (values[k]; NULL: q itself).  No email or phone
 * holds a space: one searched for as such is a '+' sent as is, which a
 * query string reads as a space (?q=ann+news@example.com,
 * ?q=+33612345678), and is looked up with its spaces read back as '+'
 * (`plus`: q so, or NULL when q holds no space) rather than found nobody. */
static size_t search_kinds(const struct api *api, const char *q, const char *plus,
			   const char **kinds, const char **values)
{
	size_t n = 0;

	if (strncmp(q, "p_", 2) == 0)
		kinds[n++] = "profile_id";
	if (strchr(q, '@')) {
		values[n] = plus;
		kinds[n++] = "email";
	}
	if (q[0] == '+' || search_is_spaced_phone(q)) {
		values[n] = q[0] == '+' ? NULL : plus;
		kinds[n++] = "phone";
	}
	kinds[n++] = "custom_id";
	kinds[n++] = "installation_id";
	for (size_t i = API_LOOKUP_KEYS; api->profile_params[i + 1]; i++)
		kinds[n++] = api->profile_params[i];
	return n;
}

/* q with every space made a '+' (hub_free it), or NULL. */
static char *search_plus(const char *q)
{
	char *plus = hub_strdup(q);

	for (char *p = plus; p && *p; p++)
		if (*p == ' ')
			*p = '+';
	return plus;
}

/* The query parameter `key` into *value (NULL: not sent): 0, or -1 with
 * the 400 in resp when it holds a NUL byte (a decoded %00: read as a C
 * string, "C1%00zz" would stand for "C1") or is sent more than once
 * (?custom_id=a&custom_id=b: answering for one of them would be a guess). */
int api_query_param(const struct api_request *req, const char *key, const char **value,
		    struct api_response *resp)
{
	size_t len = 0, n_sent = 0;
	const char *v = req->query(req, key, &len, &n_sent);

	*value = NULL;
	if (v && memchr(v, '\0', len)) {
		api_respond_error(resp, 400, "invalid_parameter", "%s: contains a NUL byte", key);
		return -1;
	}
	if (n_sent > 1) {
		api_respond_error(resp, 400, "invalid_parameter",
				  "%s: given %zu times (at most once)", key, n_sent);
		return -1;
	}
	*value = v;
	return 0;
}

int api_profile_id_check(const char *key, const char *id, struct api_response *resp)
{
	char shown[RECORD_SHOW_SIZE];

	if (store_profile_id_is_valid(id))
		return 0;
	return api_respond_error(resp, 400, "invalid_parameter",
				 "%s: \"%s\" is not a profile ID (" PROFILE_ID_SHAPE ")",
				 key, record_show(shown, id));
}

/* "custom_id, ..., profile_id, crm_id": the keys GET /v1/profiles looks
 * up by, q aside, into buf, for its 400s (the one for no key named no
 * external id, which a lookup takes too); names that do not fit whole are
 * left out, said by ", ...".  Room for ", ..." is kept only while a name
 * follows: the last one fits to buf's last byte (it was left out, and
 * ", ..." said so, when it fit but for that room). */
static const char *lookup_keys_list(const struct api *api, char *buf, size_t size)
{
	static const char more[] = ", ...";
	const char *const *keys = api->profile_params;
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; keys[i + 1]; i++) { /* all but q */
		size_t after = keys[i + 2] ? strlen(more) : 0;

		if (len + (i ? 2 : 0) + strlen(keys[i]) + after + 1 > size) {
			snprintf(buf + len, size - len, "%s", i ? more : more + 2);
			break;
		}
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", keys[i]);
	}
	return buf;
}

/* The lookup of GET /v1/profiles: *by (NULL for a search, ?q=) and its
 * *value.  0, or -1 with the 400 in resp. */
static int profiles_params(const struct api *api, const struct api_request *req,
			   const char **by, const char **value, struct api_response *resp)
{
	const char *q, *v;
	char keys[512];

	*by = NULL;
	if (api_query_param(req, "q", &q, resp))
		return -1;
	*value = q;
	for (size_t i = 0; api->profile_params[i + 1]; i++) { /* all but q */
		if (api_query_param(req, api->profile_params[i], &v, resp))
			return -1;
		if (!v)
			continue;
		if (*by || q) {
			api_respond_error(resp, 400, "invalid_parameter",
					  "give one of %s or q, not several",
					  lookup_keys_list(api, keys, sizeof(keys)));
			return -1;
		}
		*by = api->profile_params[i];
		*value = v;
	}
	if (!*value || !**value) {
		api_respond_error(resp, 400, "missing_parameter", "give one of %s or q",
				  lookup_keys_list(api, keys, sizeof(keys)));
		return -1;
	}
	if (*by && !strcmp(*by, "profile_id") && api_profile_id_check(*by, *value, resp))
		return -1; /* it found nobody (200), where the other routes said 404 or 400 */
	if (!str_is_utf8(*value)) { /* no identifier is stored so (PostgreSQL refuses it) */
		api_respond_error(resp, 400, "invalid_parameter", "%s: not valid UTF-8",
				  *by ? *by : "q");
		return -1;
	}
	/* no stored email or phone holds a space: one here is a '+' sent as
	 * is, which a query string reads as a space (?phone=+33..., ann+x@...) */
	if (*by && (!strcmp(*by, "phone") || !strcmp(*by, "email")) && strchr(*value, ' ')) {
		api_respond_error(resp, 400, "invalid_parameter",
				  "%s: contains a space, which no %s holds: a '+' in a query"
				  " string reads as a space, send it as %%2B (%s)",
				  *by, *by, !strcmp(*by, "phone") ? "phone=%2B33612345678"
								   : "email=ann%2Bnews%40example.com");
		return -1;
	}
	return 0;
}

/* ?limit=: 1..max into *out, or -1. */
static int limit_parse(const char *text, long max, long *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)text[0])) /* strtol would skip blanks, take + */
		return -1;
	errno = 0;
	v = strtol(text, &end, 10);
	if (end == text || *end || errno == ERANGE || v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

int api_limit_param(const struct api_request *req, long def, long max, long *limit,
		       struct api_response *resp)
{
	const char *text;

	*limit = def;
	if (api_query_param(req, "limit", &text, resp))
		return 1;
	if (text && limit_parse(text, max, limit))
		return api_respond_error(resp, 400, "invalid_parameter",
					 "limit must be a number from 1 to %ld", max);
	return 0;
}

int api_seq_param(const struct api_request *req, const char *key, int64_t *seq,
		  struct api_response *resp)
{
	const char *text, *p;
	long long v;
	int rc;

	*seq = 0;
	if (api_query_param(req, key, &text, resp))
		return 1;
	if (!text)
		return 0;
	p = text;
	rc = text[0] == '-' ? CURSOR_INVALID : cursor_number(&p, '\0', &v);
	if (rc == CURSOR_OUT_OF_RANGE)
		return api_respond_error(resp, 400, "invalid_cursor",
					 "%s: the seq is out of range (use a previous page's next)",
					 key);
	if (rc)
		return api_respond_error(resp, 400, "invalid_cursor",
					 "%s must be a seq: a whole number, 0 or more (a previous"
					 " page's next)", key);
	*seq = v;
	return 0;
}

/* A lookup reads its kinds in turn (search_kinds' order), an email or a
 * phone in two steps: the profile holding it as an identifier, then those
 * holding it as an attribute, by profile ID.  Only that step finds more
 * than one, so a page's cursor, "<step>.<profile ID>", is the last profile
 * listed and the step that found it; a profile an earlier step finds is
 * listed there only, on whatever page that was. */
struct lookup_step {
	const char *kind, *value;
	int is_attr;                  /* the attribute step of an email, a phone */
	char found[PROFILE_ID_SIZE];  /* an identifier step's profile, or "" */
};

struct lookup {
	struct lookup_step steps[API_LOOKUP_KEYS + CONFIG_MAX_EXTERNAL_IDS + 2];
	size_t n_steps, n_listed;
	size_t limit;                 /* profiles a page: ?limit=, API_FIND_MAX */
	size_t last_step;             /* of the last profile listed */
	char last_id[PROFILE_ID_SIZE];
	int has_more;                 /* a profile past the page's last */
	json_t *profiles;
};

static void lookup_steps(struct lookup *lk, const char **kinds, const char **values,
			 size_t n_kinds, const char *value)
{
	for (size_t k = 0; k < n_kinds; k++) {
		int is_two = !strcmp(kinds[k], "email") || !strcmp(kinds[k], "phone");
		for (int a = 0; a <= is_two; a++) {
			struct lookup_step *st = &lk->steps[lk->n_steps++];
			st->kind = kinds[k];
			st->value = values[k] ? values[k] : value;
			st->is_attr = a;
		}
	}
}

/* Each identifier step's profile into its found: 0 or -1. */
static int lookup_idents(struct store *s, struct lookup *lk)
{
	for (size_t k = 0; k < lk->n_steps; k++) {
		struct lookup_step *st = &lk->steps[k];
		int rc;
		if (st->is_attr)
			continue;
		if (!strcmp(st->kind, "email") || !strcmp(st->kind, "phone"))
			rc = s->ops->ident_get(s, st->kind, st->value, st->found);
		else
			rc = profile_find(s, st->kind, st->value, &st->found, 1);
		if (rc < 0)
			return -1;
		if (rc == 0)
			st->found[0] = '\0';
	}
	return 0;
}

/* 1 when a step before `step` finds pid, 0 when none does, -1. */
static int lookup_found_before(struct store *s, const struct lookup *lk, size_t step,
			       const char *pid)
{
	for (size_t k = 0; k < step; k++) {
		const struct lookup_step *st = &lk->steps[k];
		int rc = st->is_attr ? profile_has_attr(s, st->kind, st->value, pid)
				     : !strcmp(st->found, pid);
		if (rc)
			return rc;
	}
	return 0;
}

/* The kinds that find anyone, in their order, onto matched: 0 or -1. */
static int lookup_matched(struct store *s, const struct lookup *lk, json_t *matched)
{
	const char *named = NULL; /* an email's two steps name it once */

	for (size_t k = 0; k < lk->n_steps; k++) {
		const struct lookup_step *st = &lk->steps[k];
		char one[1][PROFILE_ID_SIZE];
		int n;
		if (st->kind == named)
			continue;
		n = st->is_attr ? profile_find_attr(s, st->kind, st->value, "", one, 1)
				: st->found[0] != '\0';
		if (n < 0)
			return -1;
		if (n == 0)
			continue;
		if (json_array_append_new(matched, json_string(st->kind)))
			return -1;
		named = st->kind;
	}
	return 0;
}

/* Lists pid, found by `step`, unless an earlier step finds it; notes a
 * profile past a full page in has_more.  0, 1 (the page is full and one
 * more follows: stop), or -1. */
static int lookup_list(struct store *s, struct lookup *lk, size_t step, const char *pid)
{
	json_t *doc = NULL;
	int rc = lookup_found_before(s, lk, step, pid);

	if (rc)
		return rc < 0 ? -1 : 0;
	if (lk->n_listed == lk->limit) {
		lk->has_more = 1;
		return 1;
	}
	if (profile_doc_view(s, pid, PROFILE_EVENTS_DEFAULT, &doc) < 0)
		return -1;
	if (!doc)
		return 0; /* gone since it was found */
	if (json_array_append_new(lk->profiles, doc))
		return -1;
	lk->n_listed++;
	lk->last_step = step;
	memcpy(lk->last_id, pid, PROFILE_ID_SIZE);
	return 0;
}

/* The profiles of an attribute step after `after`, listed a chunk at a
 * time until the page is full: 0, 1 (full), or -1. */
static int lookup_attr_step(struct store *s, struct lookup *lk, size_t step, const char *after)
{
	const struct lookup_step *st = &lk->steps[step];
	char(*ids)[PROFILE_ID_SIZE] = hub_malloc((API_FIND_MAX + 1) * PROFILE_ID_SIZE);
	char from[PROFILE_ID_SIZE];
	int n, rc = 0;

	if (!ids)
		return -1;
	snprintf(from, sizeof(from), "%s", after);
	do {
		n = profile_find_attr(s, st->kind, st->value, from, ids, API_FIND_MAX + 1);
		for (int i = 0; i < n && rc == 0; i++)
			rc = lookup_list(s, lk, step, ids[i]);
		if (n > 0)
			memcpy(from, ids[n - 1], PROFILE_ID_SIZE);
	} while (rc == 0 && n == API_FIND_MAX + 1);
	hub_free(ids);
	return n < 0 ? -1 : rc;
}

/* One page, from step `first` after the profile `after` ("": the first
 * page): 0 or -1. */
static int lookup_page(struct store *s, struct lookup *lk, size_t first, const char *after)
{
	int rc = 0;

	for (size_t k = first; k < lk->n_steps && rc == 0; k++) {
		const struct lookup_step *st = &lk->steps[k];
		if (st->is_attr)
			rc = lookup_attr_step(s, lk, k, k == first ? after : "");
		else if (st->found[0] && !(k == first && after[0]))
			rc = lookup_list(s, lk, k, st->found);
	}
	return rc < 0 ? -1 : 0;
}

/* ?after=: "<step>.<profile ID>" of a previous page's next -> *step, id.
 * 0, or -1 with the 400 in resp. */
static int lookup_cursor(const struct api_request *req, const struct lookup *lk,
			 size_t *step, char id[PROFILE_ID_SIZE], struct api_response *resp)
{
	const char *after, *dot;
	long long k;

	*step = 0;
	id[0] = '\0';
	if (api_query_param(req, "after", &after, resp))
		return -1;
	if (!after)
		return 0;
	dot = after;
	if (after[0] == '-' || cursor_number(&dot, '.', &k) || (size_t)k >= lk->n_steps ||
	    !store_profile_id_is_valid(dot)) {
		api_respond_error(resp, 400, "invalid_cursor",
				  "after must be a cursor from a previous page's next");
		return -1;
	}
	*step = (size_t)k;
	snprintf(id, PROFILE_ID_SIZE, "%s", dot);
	return 0;
}

/* The answer of a lookup's page, matched its kinds: 0 or -1 (no memory). */
static int lookup_answer(struct lookup *lk, json_t *matched, struct api_response *resp)
{
	char next[48];
	json_t *o;

	snprintf(next, sizeof(next), "%zu.%s", lk->last_step, lk->last_id);
	o = json_pack("{s:o, s:o, s:b, s:o}", "matched_by", matched, "profiles", lk->profiles,
		      "truncated", lk->has_more, "next",
		      lk->has_more ? json_string(next) : json_null());
	lk->profiles = NULL;
	if (!o)
		return -1;
	api_respond_json(resp, 200, o);
	return 0;
}

int api_get_profiles(struct api *api, const struct api_request *req, struct api_response *resp)
{
	const char *kinds[API_LOOKUP_KEYS + CONFIG_MAX_EXTERNAL_IDS], *by, *value;
	const char *values[API_LOOKUP_KEYS + CONFIG_MAX_EXTERNAL_IDS] = {NULL};
	char *plus = NULL, after[PROFILE_ID_SIZE];
	struct lookup lk = {0};
	size_t n_kinds = 0, first;
	json_t *matched = NULL;
	struct store *s;
	long limit;

	if (profiles_params(api, req, &by, &value, resp) ||
	    api_limit_param(req, API_FIND_MAX, API_FIND_MAX, &limit, resp))
		return 1;
	lk.limit = (size_t)limit;
	if (!by && strchr(value, ' ') && !(plus = search_plus(value)))
		return api_respond_error(resp, 500, "store_error", "out of memory");
	if (by)
		kinds[n_kinds++] = by;
	else
		n_kinds = search_kinds(api, value, plus, kinds, values);
	lookup_steps(&lk, kinds, values, n_kinds, value);
	if (lookup_cursor(req, &lk, &first, after, resp)) {
		hub_free(plus);
		return 1;
	}
	if (!(s = api_pool_take(api))) {
		hub_free(plus);
		return api_respond_store_unavailable(resp);
	}
	matched = json_array();
	lk.profiles = json_array();
	if (!matched || !lk.profiles || lookup_idents(s, &lk) || lookup_matched(s, &lk, matched) ||
	    lookup_page(s, &lk, first, after))
		goto fail;
	api_pool_give(api, s);
	hub_free(plus);
	if (lookup_answer(&lk, matched, resp))
		return api_respond_error(resp, 500, "store_error", "out of memory");
	return 1;
fail:
	log_error("api", "profile lookup: %s", read_error(s));
	hub_free(plus);
	store_close(s);
	json_decref(matched);
	json_decref(lk.profiles);
	return api_respond_error(resp, 500, "store_error", "the store failed; see the hub's log");
}

/* ---- events feed -------------------------------------------------------- */

struct page {
	json_t *events;
	size_t limit, n;
	char next_mid[512];
	struct store_event next;   /* the limit-th event: where the next page starts */
	int has_failed;            /* out of memory: the listing was stopped */
};

static int page_add(void *ctx, const struct store_event *e)
{
	struct page *pg = ctx;
	if (++pg->n > pg->limit)
		return 1; /* one more than asked: there is a next page */
	if (json_array_append_new(pg->events, profile_event_json(e))) {
		pg->has_failed = 1;
		return 1;
	}
	if (pg->n == pg->limit) {
		pg->next = *e;
		snprintf(pg->next_mid, sizeof(pg->next_mid), "%s", e->message_id);
		pg->next.message_id = pg->next_mid;
	}
	return 0;
}

/* Cursor: "<ts>.<seq>.<hex of message_id>": opaque to clients. */
static char *cursor_make(const struct store_event *e)
{
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_printf(&sb, "%lld.%lld.", (long long)e->ts_ms, (long long)e->seq);
	for (const unsigned char *p = (const unsigned char *)e->message_id; *p; p++)
		strbuf_printf(&sb, "%02x", *p);
	return strbuf_take(&sb);
}

/* "<ts>.<seq>.<hex of message_id>" -> e (message_id into mid).  0,
 * CURSOR_INVALID or CURSOR_OUT_OF_RANGE. */
static int cursor_parse(const char *text, struct store_event *e, char *mid, size_t mid_size)
{
	long long ts, seq;
	size_t n = 0;
	const char *hex = text;
	int rc;

	if ((rc = cursor_number(&hex, '.', &ts)) || (rc = cursor_number(&hex, '.', &seq)))
		return rc;
	if (seq < 0 || strlen(hex) % 2 || strlen(hex) / 2 >= mid_size) /* ts: before 1970 too */
		return CURSOR_INVALID;
	for (; hex[0]; hex += 2) {
		int hi = hex_digit(hex[0]), lo = hex_digit(hex[1]);
		if (hi < 0 || lo < 0 || (hi | lo) == 0)
			return CURSOR_INVALID; /* not hex, or a NUL byte */
		mid[n++] = (char)(hi << 4 | lo);
	}
	mid[n] = '\0';
	if (!str_is_utf8(mid)) /* no message_id is stored so */
		return CURSOR_INVALID;
	e->ts_ms = ts;
	e->seq = seq;
	e->message_id = mid;
	return 0;
}

/* ---- what a profile's paged listings share --------------------------- */

/* ?limit= (1..max, def when absent) and the cursor parameter `cursor_key`
 * (NULL when absent) of GET /v1/profiles/<id>/<listing>, then the ID (a
 * malformed one: 400, as the lookup's ?profile_id= and a privacy request
 * answer it; it was a 404 "no profile"), in that order.  0, or 1 with the
 * answer in resp. */
static int listing_params(const struct api_request *req, const char *cursor_key, long def,
			  long max, const char *id, long *limit, const char **cursor,
			  struct api_response *resp)
{
	if (api_limit_param(req, def, max, limit, resp) ||
	    api_query_param(req, cursor_key, cursor, resp))
		return 1;
	return api_profile_id_check("profile_id", id, resp);
}

/* The 500 of a listing whose store failed: logged under `what`, the
 * connection closed (not given back: it may be in a failed state). */
static int listing_store_failed(struct store *s, const char *what, struct api_response *resp)
{
	log_error("api", "%s: %s", what, read_error(s));
	store_close(s);
	return api_respond_error(resp, 500, "store_error", "the store failed; see the hub's log");
}

/* A pooled connection in *s and the live profile `id` resolves to in
 * live: 0; or 1 with the answer in resp (503: no connection; 404: no such
 * profile; 500: the store failed, logged under `what`) and *s NULL. */
static int listing_open(struct api *api, const char *id, const char *what,
			char live[PROFILE_ID_SIZE], struct store **s, struct api_response *resp)
{
	char shown[RECORD_SHOW_SIZE];
	int rc;

	if (!(*s = api_pool_take(api)))
		return api_respond_store_unavailable(resp);
	rc = profile_resolve_id(*s, id, live);
	if (rc > 0)
		return 0;
	if (rc < 0) {
		rc = listing_store_failed(*s, what, resp);
		*s = NULL;
		return rc;
	}
	api_pool_give(api, *s);
	*s = NULL;
	return api_respond_error(resp, 404, "not_found", "no profile %s", record_show(shown, id));
}

int api_get_events(struct api *api, const struct api_request *req, const char *id,
		   struct api_response *resp)
{
	const char *before;
	struct page pg = {0};
	struct store_event cursor = {0};
	char mid[512], live[PROFILE_ID_SIZE];
	long limit;
	struct store *s;
	char *next = NULL;
	int rc;

	if (listing_params(req, "before", API_EVENTS_DEFAULT, API_EVENTS_MAX, id, &limit, &before,
			   resp))
		return 1;
	rc = before ? cursor_parse(before, &cursor, mid, sizeof(mid)) : 0;
	if (rc == CURSOR_OUT_OF_RANGE)
		return api_respond_error(resp, 400, "invalid_cursor",
					 "before: a number of the cursor is out of range (use a "
					 "previous page's next)");
	if (rc)
		return api_respond_error(resp, 400, "invalid_cursor",
					 "before must be a cursor from a previous page's next");
	if (listing_open(api, id, "events", live, &s, resp))
		return 1;
	pg.events = json_array();
	pg.limit = (size_t)limit;
	if (s->ops->event_list(s, live, before ? &cursor : NULL, (size_t)limit + 1, page_add,
			       &pg) ||
	    pg.has_failed || (pg.n > pg.limit && !(next = cursor_make(&pg.next)))) {
		json_decref(pg.events);
		return listing_store_failed(s, "events", resp);
	}
	api_pool_give(api, s);
	rc = api_respond_json(resp, 200,
			      json_pack("{s:s, s:o, s:o}", "profile_id", live, "events", pg.events,
					"next", next ? json_string(next) : json_null()));
	hub_free(next);
	return rc;
}

/* ---- identity history --------------------------------------------------- */

/* The identity log is paged oldest first (log_page's seq order), so a page
 * stays the same as the log grows.  Cursor: "<seq>", the seq of the page's
 * last row (opaque to clients). */

struct history_page {
	json_t *rows;
	size_t limit, n;
	int64_t next_seq;          /* the limit-th row's: the next page is after it */
	int has_failed;            /* out of memory: the listing was stopped */
};

static int history_add(void *ctx, const struct store_log_entry *e)
{
	struct history_page *pg = ctx;
	if (++pg->n > pg->limit)
		return 1; /* one more than asked: there is a next page */
	if (json_array_append_new(pg->rows, profile_log_json(e))) {
		pg->has_failed = 1;
		return 1;
	}
	pg->next_seq = e->seq;
	return 0;
}

/* "<seq>" -> *seq.  0, CURSOR_INVALID or CURSOR_OUT_OF_RANGE. */
static int history_cursor_parse(const char *text, int64_t *seq)
{
	long long v;
	int rc;

	if (text[0] == '-')
		return CURSOR_INVALID; /* never made: seqs start at 1 */
	if ((rc = cursor_number(&text, '\0', &v)))
		return rc;
	*seq = v;
	return 0;
}

int api_get_history(struct api *api, const struct api_request *req, const char *id,
		    struct api_response *resp)
{
	const char *after;
	struct history_page pg = {0};
	char live[PROFILE_ID_SIZE], next[24];
	long limit;
	int64_t after_seq = 0;
	struct store *s;
	int rc;

	if (listing_params(req, "after", API_HISTORY_DEFAULT, API_HISTORY_MAX, id, &limit, &after,
			   resp))
		return 1;
	rc = after ? history_cursor_parse(after, &after_seq) : 0;
	if (rc == CURSOR_OUT_OF_RANGE)
		return api_respond_error(
			resp, 400, "invalid_cursor",
			"after: the cursor is out of range (use a previous page's next)");
	if (rc)
		return api_respond_error(resp, 400, "invalid_cursor",
					 "after must be a cursor from a previous page's next");
	if (listing_open(api, id, "history", live, &s, resp))
		return 1;
	pg.rows = json_array();
	pg.limit = (size_t)limit;
	if (s->ops->log_page(s, live, after_seq, (size_t)limit + 1, history_add, &pg) ||
	    pg.has_failed) {
		json_decref(pg.rows);
		return listing_store_failed(s, "history", resp);
	}
	api_pool_give(api, s);
	snprintf(next, sizeof(next), "%lld", (long long)pg.next_seq);
	return api_respond_json(resp, 200,
				json_pack("{s:s, s:o, s:o}", "profile_id", live, "identity_log",
					  pg.rows, "next",
					  pg.n > pg.limit ? json_string(next) : json_null()));
}
