/*
 * host.c - the function table the hub lends to every plugin (struct
 * hub_host), and the per-instance resolved config those functions read.
 *
 * Two ideas:
 *   - The table only forwards: records and checkpoints go to the struct
 *     hub_call of the current invocation (intake, a test, ...), logging to
 *     log.c.  Nothing here knows about storage or HTTP.
 *   - Config values are resolved once, before the plugin's create(): each
 *     declared key gets its YAML node (or its default) and its JSON text.
 *     The result is immutable, so push routes running on several HTTP
 *     threads can read it without a lock, and every pointer handed out lives
 *     as long as the instance.
 *
 * Never log or return a secret in a message here.
 */
#include "host.h"

#include "alloc.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "plugin.h"
#include "record.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

/* One declared key of an instance, resolved. */
struct config_value {
	const struct hub_config_key *decl;
	const struct cfg_node *node; /* the YAML's, the default's, or NULL */
	struct cfg_node scalar;      /* a scalar default lives here */
	struct cfg_node *parsed;     /* holds a list/object default (cfg_free) */
	char *json;                  /* cfg_to_json_as(node, its type), or NULL */
};

/* inst->json.  Written by host_instance_config_load() only. */
struct instance_json_cache {
	struct config_value *values;
	size_t n_values;
};

static _Atomic int64_t fixed_now_ms;

/* ---- resolving the config ------------------------------------------- */

static int is_scalar_type(enum hub_config_type t)
{
	return t != HUB_CFG_STRING_LIST && t != HUB_CFG_OBJECT && t != HUB_CFG_ANY;
}

static int is_export_instance(const struct hub_instance *inst)
{
	return strncmp(inst->conf->path, "exports", 7) == 0;
}

static const struct config_value *cache_find(const struct instance_json_cache *c,
					     const char *key)
{
	for (size_t i = 0; c && key && i < c->n_values; i++)
		if (strcmp(c->values[i].decl->name, key) == 0)
			return &c->values[i];
	return NULL;
}

static size_t keys_count(const struct hub_config_key *keys)
{
	size_t n = 0;
	while (keys && keys[n].name)
		n++;
	return n;
}

/* Points v->node at the YAML value, or at the declared default (also when
 * the YAML says null: for an optional key that is the same as leaving it
 * out, as cfg_check_keys() treats it). */
static int value_resolve(struct config_value *v, const struct hub_instance *inst,
			 char *err, size_t err_size)
{
	const struct hub_config_key *k = v->decl;
	const struct cfg_node *n = cfg_get(inst->conf->node, k->name);
	char *text;
	int rc;

	if (n && !(n->kind == CFG_SCALAR && n->is_null && !k->is_required)) {
		v->node = n;
		return 0;
	}
	if (!k->default_value)
		return 0;
	if (is_scalar_type(k->type)) {
		/* The plugin's static string; never freed through this node. */
		v->scalar.kind = CFG_SCALAR;
		v->scalar.value = (char *)k->default_value;
		v->scalar.is_quoted = k->type == HUB_CFG_STRING;
		v->scalar.file = "default";
		v->node = &v->scalar;
		return 0;
	}
	/* Lists and objects: flow YAML ("[a, b]"), parsed as the value of a
	 * one-key mapping since a config tree's top is always a mapping. */
	text = hub_malloc(strlen(k->default_value) + 4);
	if (!text) {
		err_set(err, err_size, "out of memory");
		return -1;
	}
	sprintf(text, "v: %s", k->default_value);
	rc = cfg_parse_string("default", text, strlen(text), &v->parsed, err, err_size);
	hub_free(text);
	if (rc)
		return -1;
	v->node = cfg_get(v->parsed, "v");
	return 0;
}

int host_instance_config_load(struct hub_instance *inst, char *err, size_t err_size)
{
	const struct hub_config_key *own = inst->mod->desc->config;
	const struct hub_config_key *common = is_export_instance(inst)
						      ? config_keys_common_export
						      : config_keys_common_source;
	size_t n_own = keys_count(own), n_common = keys_count(common);
	struct instance_json_cache *c;
	char why[256] = "";

	c = hub_calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	inst->json = c;
	c->values = hub_calloc(n_own + n_common, sizeof(*c->values));
	if (!c->values)
		goto nomem;
	for (size_t i = 0; i < n_own + n_common; i++) {
		const struct hub_config_key *k = i < n_own ? &own[i] : &common[i - n_own];
		struct config_value *v;

		if (i >= n_own && cache_find(c, k->name))
			continue; /* the plugin's own: one the hub never reads (plugin.c) */
		v = &c->values[c->n_values++];
		v->decl = k;
		if (value_resolve(v, inst, why, sizeof(why))) {
			err_set(err, err_size, "%s \"%s\" (plugin %s): default of %s: %s",
				inst->conf->path, inst->name, inst->mod->name, k->name, why);
			goto fail;
		}
		if (v->node && !(v->json = cfg_to_json_as(v->node, k->type)))
			goto nomem;
	}
	return 0;
nomem:
	err_set(err, err_size, "%s \"%s\": out of memory", inst->conf->path, inst->name);
fail:
	host_instance_config_free(inst);
	return -1;
}

void host_instance_config_free(struct hub_instance *inst)
{
	struct instance_json_cache *c = inst->json;

	if (!c)
		return;
	for (size_t i = 0; i < c->n_values; i++) {
		cfg_free(c->values[i].parsed);
		hub_free(c->values[i].json);
	}
	hub_free(c->values);
	hub_free(c);
	inst->json = NULL;
}

/* ---- live calls (ownership rule 6) ----------------------------------- */

#define CALL_SLOTS HOST_CALL_SLOTS
#define HANDLE_STEP 16 /* bytes between two handles: aligned as any struct is */

/* A call's handle is an address in a range reserved PROT_NONE (no object
 * of anyone's is ever there, and nothing reads it): slot i at generation g
 * is handle_base + (g * CALL_SLOTS + i) * HANDLE_STEP, modulo the range's
 * size.  A slot's next call gets the next generation, so a kept handle is
 * another address than the slot's live one: refused however late it is
 * used, until the generation wraps (handle_span / HANDLE_STEP calls: 2^32
 * on a 64-bit host).  One compare of the per-record path's. */
/* Who a slot's last call or request was for, kept after it. */
struct slot_who {
	const char *callback; /* "pull", "handle", ...: a string literal */
	char plugin[64];
	char instance[64];
};

struct call_slot {
	_Atomic uintptr_t handle; /* the live (or last) call's */
	_Atomic uintptr_t owner;  /* the live call's thread (thread_id()), 0 once ended */
	struct hub_call *call;    /* the caller's, while live */
	struct slot_who who;
};

static struct call_slot slots[CALL_SLOTS];
static size_t slots_next; /* round robin: a slot is reused as late as possible */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uintptr_t handle_base; /* 0: not reserved (yet): calls go unchecked */
static _Atomic uintptr_t handle_span; /* the range's size, a power of two */
static _Thread_local char thread_mark;
static _Thread_local struct call_slot *thread_slot; /* this thread's live call's */

static uintptr_t thread_id(void)
{
	return (uintptr_t)&thread_mark;
}

/* Reserves the handles' range (under slots_lock): the largest of 64 GiB
 * down to 64 generations that the address space grants, and at most a
 * 64th of an address-space limit (ulimit -v: the range counts there).
 * 0 or -1; a failure is logged once and not tried again (each call would
 * try up to 16 mmaps under slots_lock). */
static int handles_reserve(void)
{
	static int is_failed;
	size_t span = (size_t)1 << (sizeof(size_t) > 4 ? 36 : 26);
	struct rlimit as;
	void *at;

	if (atomic_load(&handle_base))
		return 0;
	if (is_failed)
		return -1;
	if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
		while (span > as.rlim_cur / 64 && span > (size_t)CALL_SLOTS * HANDLE_STEP * 64)
			span /= 2;
	for (; span >= (size_t)CALL_SLOTS * HANDLE_STEP * 64; span /= 2) {
		at = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			  0);
		if (at == MAP_FAILED)
			continue;
		atomic_store(&handle_span, (uintptr_t)span);
		atomic_store(&handle_base, (uintptr_t)at);
		return 0;
	}
	is_failed = 1;
	log_warn("plugin", "no address range could be reserved for plugin call handles (%s):"
		 " a plugin's call made after its callback returned is not detected",
		 strerror(errno));
	return -1;
}

/* The slot a handle's address names (whether or not it is its live
 * handle), or NULL: not a handle. */
static struct call_slot *slot_of(const struct hub_call *h)
{
	uintptr_t base = atomic_load_explicit(&handle_base, memory_order_acquire);
	uintptr_t off = (uintptr_t)h - base;

	if (!base || off >= atomic_load_explicit(&handle_span, memory_order_relaxed) ||
	    off % HANDLE_STEP != 0)
		return NULL;
	return &slots[off / HANDLE_STEP % CALL_SLOTS];
}

/* The slot's next handle: its generation's successor's address. */
static uintptr_t slot_next_handle(const struct call_slot *s)
{
	uintptr_t base = atomic_load(&handle_base), span = atomic_load(&handle_span);
	uintptr_t cur = atomic_load(&s->handle);
	uintptr_t idx = cur ? (cur - base) / HANDLE_STEP : (uintptr_t)(s - slots);

	if (cur)
		idx += CALL_SLOTS;
	return base + idx * HANDLE_STEP % span;
}

static void who_set(struct slot_who *w, const struct hub_instance *inst, const char *callback)
{
	w->callback = callback;
	snprintf(w->plugin, sizeof(w->plugin), "%s",
		 inst && inst->mod && inst->mod->name ? inst->mod->name : "?");
	snprintf(w->instance, sizeof(w->instance), "%s", inst && inst->name ? inst->name : "?");
}

struct hub_call *host_call_enter(struct hub_call *call, const char *callback)
{
	struct call_slot *s = NULL;

	pthread_mutex_lock(&slots_lock);
	for (size_t i = 0; i < CALL_SLOTS && !s && handles_reserve() == 0; i++) {
		struct call_slot *c = &slots[(slots_next + i) % CALL_SLOTS];
		if (atomic_load(&c->owner) == 0)
			s = c;
	}
	if (s) {
		slots_next = (size_t)(s - slots + 1) % CALL_SLOTS;
		s->call = call;
		who_set(&s->who, call->inst, callback);
		atomic_store(&s->handle, slot_next_handle(s));
		atomic_store(&s->owner, thread_id());
		thread_slot = s;
	}
	pthread_mutex_unlock(&slots_lock);
	return s ? (struct hub_call *)atomic_load(&s->handle) : call;
}

void host_call_leave(struct hub_call *handle)
{
	struct call_slot *s = slot_of(handle);

	if (!s)
		return;
	pthread_mutex_lock(&slots_lock);
	s->call = NULL;
	atomic_store(&s->owner, 0);
	if (thread_slot == s)
		thread_slot = NULL;
	pthread_mutex_unlock(&slots_lock);
}

/* The refusal lines: the first, then at most one every
 * PLUGIN_BAD_ANSWER_NOTE_MS with the count of those not logged since (a
 * plugin that loops over a kept call would fill the log). */
static atomic_llong n_refusals, n_refusals_noted;
static _Atomic int64_t refusal_noted_ms;

/* The clock of that limit: now_ms()'s when a test fixed it. */
static int64_t refusal_clock_ms(void)
{
	int64_t fixed = atomic_load(&fixed_now_ms);
	return fixed ? fixed : time_mono_ms();
}

/* Whether to log this refusal; *unlogged: the refusals not logged since
 * the last line. */
static int refusal_is_noted(long long *unlogged)
{
	long long n = atomic_fetch_add(&n_refusals, 1) + 1;
	int64_t now = refusal_clock_ms(), last = atomic_load(&refusal_noted_ms);

	if (n > 1 && (uint64_t)(now - last) < PLUGIN_BAD_ANSWER_NOTE_MS)
		return 0; /* (a clock gone back, as a test's fixed one unfixed: logged) */
	if (!atomic_compare_exchange_strong(&refusal_noted_ms, &last, now))
		return 0; /* another thread logs this one */
	*unlogged = n - atomic_exchange(&n_refusals_noted, n) - 1;
	return 1;
}

/* " (and N more ...)" for a refusal line into buf, or "". */
static void refusal_unlogged(long long unlogged, char *buf, size_t size)
{
	buf[0] = '\0';
	if (unlogged > 0)
		snprintf(buf, size, " (and %lld more refusals of kept or foreign calls since the "
			 "last such line, not logged: at most one every %d s)", unlogged,
			 PLUGIN_BAD_ANSWER_NOTE_MS / 1000);
}

/* Whether a refusal's line is due (refusal_is_noted): then *out holds a
 * copy of `w` (NULL: "?" and "plugins"), *is_live whether `owner` is, and
 * more the count of those not logged. */
static int refusal_due(const struct slot_who *w, _Atomic uintptr_t *owner, struct slot_who *out,
		       int *is_live, char *more, size_t more_size)
{
	long long unlogged = 0;

	if (!refusal_is_noted(&unlogged))
		return 0;
	refusal_unlogged(unlogged, more, more_size);
	pthread_mutex_lock(&slots_lock);
	if (w)
		*out = *w;
	else
		who_set(out, NULL, NULL);
	if (!out->callback)
		out->callback = "callback";
	if (!w)
		snprintf(out->instance, sizeof(out->instance), "plugins");
	*is_live = owner && atomic_load(owner) != 0;
	pthread_mutex_unlock(&slots_lock);
	return 1;
}

/* A handle used where it is not live: logs who did what (now and then),
 * never touching the caller's call (it may be gone).  `is_reused`: the
 * slot serves a later call since, whose names are not the culprit's: the
 * call live on this thread, if any, is named instead. */
static void slot_refuse(struct call_slot *s, const char *fn, int is_reused)
{
	struct call_slot *named = is_reused ? thread_slot : s;
	struct slot_who who;
	char more[160];
	int is_live;

	if (!refusal_due(named ? &named->who : NULL, named ? &named->owner : NULL, &who,
			 &is_live, more, sizeof(more)))
		return;
	if (is_reused && named)
		log_error(who.instance, "plugin %s called %s() during its %s() with the call of "
			  "an earlier callback (no longer live: hub_plugin.h, ownership rule 6); "
			  "refused%s", who.plugin, fn, who.callback, more);
	else if (is_reused)
		log_error(who.instance, "a plugin called %s() with the call of a callback that "
			  "returned (no longer live: hub_plugin.h, ownership rule 6); refused%s",
			  fn, more);
	else if (is_live)
		log_error(who.instance, "plugin %s called %s() from another thread than its "
			  "%s()'s (the call it was handed is valid only on that thread: "
			  "hub_plugin.h, ownership rule 6); refused%s", who.plugin, fn,
			  who.callback, more);
	else
		log_error(who.instance, "plugin %s called %s() after its %s() returned (the "
			  "call it was handed is no longer live: hub_plugin.h, ownership rule 6); "
			  "refused%s", who.plugin, fn, who.callback, more);
}

/* The caller's call behind what the plugin passed, or NULL (refused and
 * logged) when that is a handle not live on this thread.  A pointer that is
 * no handle is the caller's own call (a test's), or NULL. */
static struct hub_call *call_live(const struct hub_call *h, const char *fn, int *is_refused)
{
	struct call_slot *s = slot_of(h);

	*is_refused = 0;
	if (!s)
		return (struct hub_call *)h;
	if (atomic_load(&s->handle) == (uintptr_t)h && atomic_load(&s->owner) == thread_id())
		return s->call;
	slot_refuse(s, fn, atomic_load(&s->handle) != (uintptr_t)h);
	*is_refused = 1;
	return NULL;
}

/* ---- live requests (ownership rule 1) -------------------------------- */

/* What a push route or admit() is handed for one request: a copy of the
 * server's hub_request in static memory, so that one kept past its
 * callback is never freed memory (its body "" then), and its header() and
 * the host's query() ask host_request_private(), which refuses it.  A kept
 * request whose slot serves a later one again (HOST_CALL_SLOTS requests
 * later) on the same thread reads that one: the struct's address is the
 * plugin's to read, so it cannot change per request as a call's can. */
struct request_slot {
	struct hub_request req;
	_Atomic uintptr_t owner; /* the live request's thread, 0 once its callback returned */
	const void *priv;        /* the server's host_private, while live */
	struct slot_who who;
};

static struct request_slot requests[CALL_SLOTS];
static size_t requests_next;

static struct request_slot *request_slot_of(const struct hub_request *req)
{
	uintptr_t p = (uintptr_t)req, lo = (uintptr_t)&requests[0];

	if (p < lo || p >= (uintptr_t)&requests[CALL_SLOTS] ||
	    (p - lo) % sizeof(requests[0]) != 0)
		return NULL;
	return &requests[(p - lo) / sizeof(requests[0])];
}

const struct hub_request *host_request_enter(const struct hub_request *req,
					     const struct hub_instance *inst,
					     const char *callback)
{
	struct request_slot *s = NULL;

	pthread_mutex_lock(&slots_lock);
	for (size_t i = 0; i < CALL_SLOTS && !s; i++) {
		struct request_slot *c = &requests[(requests_next + i) % CALL_SLOTS];
		if (atomic_load(&c->owner) == 0)
			s = c;
	}
	if (s) {
		requests_next = (size_t)(s - requests + 1) % CALL_SLOTS;
		s->req = *req;
		s->priv = req->host_private;
		who_set(&s->who, inst, callback);
		atomic_store(&s->owner, thread_id());
	}
	pthread_mutex_unlock(&slots_lock);
	return s ? &s->req : req;
}

void host_request_leave(const struct hub_request *handed)
{
	struct request_slot *s = request_slot_of(handed);

	if (!s)
		return;
	pthread_mutex_lock(&slots_lock);
	s->priv = NULL;
	s->req.body = ""; /* the server frees it */
	s->req.body_len = 0;
	s->req.host_private = NULL;
	atomic_store(&s->owner, 0);
	pthread_mutex_unlock(&slots_lock);
}

/* A kept request used: logged (now and then) as a kept call is. */
static void request_refuse(struct request_slot *s, const char *fn)
{
	struct slot_who who;
	char more[160];
	int is_live;

	if (!refusal_due(&s->who, &s->owner, &who, &is_live, more, sizeof(more)))
		return;
	log_error(who.instance, "plugin %s called %s() with the request of its %s() %s (a "
		  "request is borrowed for its callback, on its thread: hub_plugin.h, "
		  "ownership rules 1 and 6); refused%s", who.plugin, fn, who.callback,
		  is_live ? "from another thread" : "after it returned", more);
}

const void *host_request_private(const struct hub_request *req, const char *fn)
{
	struct request_slot *s = request_slot_of(req);

	if (!s)
		return req ? req->host_private : NULL;
	if (atomic_load(&s->owner) == thread_id())
		return s->priv;
	request_refuse(s, fn);
	return NULL;
}

/* ---- the table's functions ------------------------------------------ */

static const char *who_of(const struct hub_instance *inst)
{
	return inst && inst->name ? inst->name : "plugin";
}

static void host_log(const struct hub_instance *inst, enum hub_log_level level,
		     const char *fmt, ...) HUB_PRINTF(3, 4);

static void host_log(const struct hub_instance *inst, enum hub_log_level level,
		     const char *fmt, ...)
{
	va_list ap;

	if ((int)level < (int)HUB_LOG_ERROR)
		level = HUB_LOG_ERROR;
	if ((int)level > (int)HUB_LOG_DEBUG)
		level = HUB_LOG_DEBUG;
	if (!fmt)
		return;
	va_start(ap, fmt);
	log_vmsg(level, who_of(inst), fmt, ap);
	va_end(ap);
}

/* The resolved value of a declared key; warns about undeclared ones (a
 * plugin bug: declare every key you read). */
static const struct config_value *value_of(const struct hub_instance *inst, const char *key)
{
	const struct config_value *v;

	if (!inst || !key)
		return NULL;
	v = cache_find(inst->json, key);
	if (!v)
		log_warn(who_of(inst), "plugin read config key \"%s\", which it does not declare",
			 key);
	return v;
}

/* The scalar node of a value, or NULL (absent, null, a list or a map). */
static const struct cfg_node *scalar_of(const struct config_value *v)
{
	if (!v || !v->node || v->node->kind != CFG_SCALAR || v->node->is_null)
		return NULL;
	return v->node;
}

static const char *host_config_string(const struct hub_instance *inst, const char *key)
{
	const struct cfg_node *n = scalar_of(value_of(inst, key));
	return n ? n->value : NULL;
}

static int64_t host_config_int(const struct hub_instance *inst, const char *key)
{
	const struct config_value *v = value_of(inst, key);
	const struct cfg_node *n = scalar_of(v);
	int64_t out = 0;

	if (!n)
		return 0;
	if (v->decl->type == HUB_CFG_DURATION ? cfg_as_duration_ms(n, &out)
					      : cfg_as_int(n, &out))
		return 0;
	return out;
}

static int host_config_bool(const struct hub_instance *inst, const char *key)
{
	const struct cfg_node *n = scalar_of(value_of(inst, key));
	int out = 0;

	if (!n || cfg_as_bool(n, &out))
		return 0;
	return out;
}

static double host_config_float(const struct hub_instance *inst, const char *key)
{
	const struct cfg_node *n = scalar_of(value_of(inst, key));
	double out = 0;

	if (!n || cfg_as_float(n, &out))
		return 0;
	return out;
}

static size_t host_config_list_size(const struct hub_instance *inst, const char *key)
{
	const struct config_value *v = value_of(inst, key);

	if (!v || !v->node || v->node->kind != CFG_SEQ)
		return 0;
	return v->node->n_children;
}

static const char *host_config_list_item(const struct hub_instance *inst, const char *key,
					 size_t index)
{
	const struct config_value *v = value_of(inst, key);
	const struct cfg_node *item;

	if (!v || !v->node || v->node->kind != CFG_SEQ || index >= v->node->n_children)
		return NULL;
	item = &v->node->children[index];
	return item->kind == CFG_SCALAR && !item->is_null ? item->value : NULL;
}

static const char *host_config_json(const struct hub_instance *inst, const char *key)
{
	const struct config_value *v = value_of(inst, key);
	return v ? v->json : NULL;
}

static const char *host_instance_name(const struct hub_instance *inst)
{
	return inst ? inst->name : NULL;
}

static hub_rc host_emit(struct hub_call *h, const struct hub_record *rec, char *err,
			size_t err_size)
{
	int is_refused;
	struct hub_call *call = call_live(h, "emit", &is_refused);

	if (is_refused) {
		err_set(err, err_size, "emit() with a call that is no longer live (ownership "
			"rule 6)");
		return HUB_ERR_INTERNAL;
	}
	if (!call || !call->on_emit) {
		err_set(err, err_size, "emit() outside of a call");
		return HUB_ERR_INTERNAL;
	}
	if (!rec) {
		err_set(err, err_size, "emit() of a NULL record");
		return HUB_ERR_DATA;
	}
	return call->on_emit(call, rec, err, err_size);
}

static hub_rc host_checkpoint(struct hub_call *h, const char *cursor)
{
	int is_refused;
	struct hub_call *call = call_live(h, "checkpoint", &is_refused);

	if (is_refused)
		return HUB_ERR_INTERNAL;
	if (!call || !call->on_checkpoint) {
		log_error(call ? who_of(call->inst) : "plugin",
			  "checkpoint() outside of a pull");
		return HUB_ERR_INTERNAL;
	}
	if (!cursor) {
		log_error(who_of(call->inst), "checkpoint() with a NULL cursor");
		return HUB_ERR_INTERNAL;
	}
	return call->on_checkpoint(call, cursor);
}

/* ABI 1.2.  The call counts and shows the reason, as for a record its
 * on_emit refused; an empty reason gets a generic one. */
static hub_rc host_reject(struct hub_call *h, const char *why)
{
	int is_refused;
	struct hub_call *call = call_live(h, "reject", &is_refused);

	if (is_refused)
		return HUB_ERR_INTERNAL;
	if (!call || !call->on_reject) {
		log_error(call ? who_of(call->inst) : "plugin",
			  "reject() outside of a source's call");
		return HUB_ERR_INTERNAL;
	}
	return call->on_reject(call, why && why[0] ? why : "refused by the plugin");
}

/* ABI 1.6.  The call counts and shows the reason, as for a value its
 * validation dropped; an empty reason gets a generic one. */
static hub_rc host_warn(struct hub_call *h, const char *why)
{
	int is_refused;
	struct hub_call *call = call_live(h, "warn", &is_refused);

	if (is_refused)
		return HUB_ERR_INTERNAL;
	if (!call || !call->on_warn) {
		log_error(call ? who_of(call->inst) : "plugin",
			  "warn() outside of a source's call");
		return HUB_ERR_INTERNAL;
	}
	return call->on_warn(call, why && why[0] ? why : "a value was left out by the plugin");
}

/* ABI 1.12.  The call counts it; the reason is logged here, the 1st, 2nd,
 * 4th, 8th, ... skip of the instance (plugin_skip_count), so a client that
 * sends what the source does not keep all day says so a few dozen times,
 * not once per item; an empty reason gets a generic one. */
static hub_rc host_skip(struct hub_call *h, const char *why)
{
	int is_refused;
	struct hub_call *call = call_live(h, "skip", &is_refused);
	long long n;

	if (is_refused)
		return HUB_ERR_INTERNAL;
	if (!call || !call->on_skip) {
		log_error(call ? who_of(call->inst) : "plugin",
			  "skip() outside of a source's call");
		return HUB_ERR_INTERNAL;
	}
	why = why && why[0] ? why : "not stored, as the plugin chose";
	n = call->inst ? plugin_skip_count(call->inst) : 1; /* a test's call: no instance */
	if (n > 0)
		log_info(who_of(call->inst), "skipped: %s (%lld item(s) skipped so far)", why, n);
	return call->on_skip(call, why);
}

/* ABI 1.4.  The exporter sets the range of the batch it hands over. */
static hub_rc host_batch_range(const struct hub_call *h, int64_t *first, int64_t *last)
{
	int is_refused;
	const struct hub_call *call = call_live(h, "batch_range", &is_refused);

	if (is_refused)
		return HUB_ERR_INTERNAL;
	if (!call || call->batch_last <= 0 || !first || !last) {
		log_error(call ? who_of(call->inst) : "plugin",
			  "batch_range() outside of an export batch");
		return HUB_ERR_INTERNAL;
	}
	*first = call->batch_first;
	*last = call->batch_last;
	return HUB_OK;
}

static int host_should_stop(const struct hub_call *h)
{
	int is_refused;
	const struct hub_call *call = call_live(h, "should_stop", &is_refused);

	if (is_refused)
		return 1;
	return call && call->stop ? atomic_load(call->stop) : 0;
}

static int64_t host_now_ms(void)
{
	int64_t fixed = atomic_load(&fixed_now_ms);
	return fixed ? fixed : time_now_ms();
}

static int host_secret_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
	return secret_equal(a, a_len, b, b_len);
}

static const struct hub_host host = {
	.size = (uint32_t)sizeof(struct hub_host),
	.abi_major = HUB_ABI_MAJOR,
	.abi_minor = HUB_ABI_MINOR,
	.log = host_log,
	.config_string = host_config_string,
	.config_int = host_config_int,
	.config_bool = host_config_bool,
	.config_float = host_config_float,
	.config_list_size = host_config_list_size,
	.config_list_item = host_config_list_item,
	.config_json = host_config_json,
	.instance_name = host_instance_name,
	.emit = host_emit,
	.checkpoint = host_checkpoint,
	.should_stop = host_should_stop,
	.now_ms = host_now_ms,
	.secret_equal = host_secret_equal,
	.reject = host_reject,
	.batch_range = host_batch_range,
	.warn = host_warn,
	.query = http_request_query,
	.alloc_failed = alloc_failed_poll,
	.skip = host_skip,
	.attr_key_refusal = record_attr_key_refusal,
};

/* ABI 1.1's table ended at secret_equal; 1.2 appended reject, 1.4
 * batch_range, 1.6 warn, 1.7 query, 1.8 alloc_failed, 1.12 skip and 1.15
 * attr_key_refusal, which a plugin tests with HUB_HOST_HAS().
 * Append-only: nothing before them moved. */
_Static_assert(offsetof(struct hub_host, reject) ==
		       offsetof(struct hub_host, secret_equal) + sizeof(host.secret_equal),
	       "hub_host.reject must directly follow secret_equal (ABI 1.2)");
_Static_assert(offsetof(struct hub_host, batch_range) ==
		       offsetof(struct hub_host, reject) + sizeof(host.reject),
	       "hub_host.batch_range must directly follow reject (ABI 1.4)");
_Static_assert(offsetof(struct hub_host, warn) ==
		       offsetof(struct hub_host, batch_range) + sizeof(host.batch_range),
	       "hub_host.warn must directly follow batch_range (ABI 1.6)");
_Static_assert(offsetof(struct hub_host, query) ==
		       offsetof(struct hub_host, warn) + sizeof(host.warn),
	       "hub_host.query must directly follow warn (ABI 1.7)");
_Static_assert(offsetof(struct hub_host, alloc_failed) ==
		       offsetof(struct hub_host, query) + sizeof(host.query),
	       "hub_host.alloc_failed must directly follow query (ABI 1.8)");
_Static_assert(offsetof(struct hub_host, skip) ==
		       offsetof(struct hub_host, alloc_failed) + sizeof(host.alloc_failed),
	       "hub_host.skip must directly follow alloc_failed (ABI 1.12)");
_Static_assert(offsetof(struct hub_host, attr_key_refusal) ==
		       offsetof(struct hub_host, skip) + sizeof(host.skip),
	       "hub_host.attr_key_refusal must directly follow skip (ABI 1.15)");
_Static_assert(sizeof(struct hub_host) ==
		       offsetof(struct hub_host, attr_key_refusal) + sizeof(host.attr_key_refusal),
	       "struct hub_host grew past attr_key_refusal: bump HUB_ABI_MINOR and document it");

const struct hub_host *host_table(void)
{
	return &host;
}

void host_set_fixed_now_ms(int64_t ms)
{
	atomic_store(&fixed_now_ms, ms);
}

void host_reset_refusal_lines(void)
{
	atomic_store(&n_refusals, 0);
	atomic_store(&n_refusals_noted, 0);
	atomic_store(&refusal_noted_ms, 0);
}
