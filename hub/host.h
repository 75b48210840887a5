/*
 * host.h - the function table the hub lends to plugins (struct hub_host),
 * and struct hub_call: one invocation (an HTTP request, a pull run, an
 * export batch, a unit test) that decides where emitted records and
 * checkpoints go.
 */
#ifndef HUB_HOST_H
#define HUB_HOST_H

#include "include/hub_plugin.h"

#include <stdatomic.h>

struct hub_call {
	const struct hub_instance *inst;
	/* Where emit() goes: validate + copy the record.  Required. */
	hub_rc (*on_emit)(struct hub_call *call, const struct hub_record *rec,
			  char *err, size_t err_size);
	/* Where checkpoint() goes; NULL: HUB_ERR_INTERNAL (not a pull). */
	hub_rc (*on_checkpoint)(struct hub_call *call, const char *cursor);
	/* Where reject() goes: count one input item the plugin refused, as
	 * on_emit counts a record it refuses (HUB_ERR_DATA); `why` is
	 * borrowed (never NULL).  NULL: HUB_ERR_INTERNAL (no input here: an
	 * export batch). */
	hub_rc (*on_reject)(struct hub_call *call, const char *why);
	/* Where warn() goes: count a warning about the record last emitted
	 * and show `why` (borrowed, never NULL).  NULL: HUB_ERR_INTERNAL (an
	 * export batch). */
	hub_rc (*on_warn)(struct hub_call *call, const char *why);
	/* Where skip() goes (ABI 1.12): count one input item the plugin
	 * deliberately does not store; `why` is borrowed (never NULL) and
	 * already logged (host_skip).  NULL: HUB_ERR_INTERNAL (an export
	 * batch). */
	hub_rc (*on_skip)(struct hub_call *call, const char *why);
	const atomic_int *stop;  /* non-zero: should_stop(); may be NULL */
	/* An export batch: the seqs it was planned over (batch_range());
	 * batch_last 0: not an export batch. */
	int64_t batch_first, batch_last;
	void *ctx;               /* the caller's */
};

/*
 * Ownership rule 6 (hub_plugin.h): a call is live only during the callback
 * it was handed to, on that callback's thread.  host_call_enter() returns
 * what to hand the plugin instead of `call`: a handle the host functions
 * check before they touch `call`.  One used after host_call_leave() (a
 * plugin that kept it), or from another thread, is refused with
 * HUB_ERR_INTERNAL (should_stop(): 1) and an error log naming the plugin,
 * the instance, the function and the callback ("pull", "handle",
 * "import_line", "export_batch": a string literal), never touching `call`.
 * A handle is never handed out twice (until 2^32 calls on a 64-bit host):
 * one kept is refused however many calls later it is used.  Refusals are
 * logged the first time, then at most every PLUGIN_BAD_ANSWER_NOTE_MS with
 * the count not logged.  When every one of HOST_CALL_SLOTS calls is live,
 * `call` itself is returned (unchecked).
 * A call a caller hands a plugin directly (a unit test's) is used as is.
 */
#define HOST_CALL_SLOTS 1024 /* calls live at once that are checked */

struct hub_call *host_call_enter(struct hub_call *call, const char *callback);
void host_call_leave(struct hub_call *handle);

/*
 * Ownership rule 1 for a push request: host_request_enter() returns what to
 * hand the route or admit() instead of `req` (a copy in static memory, or
 * `req` itself when HOST_CALL_SLOTS are live); host_request_leave() after
 * the callback returns.  The server's header() and query() get their
 * host_private through host_request_private(): NULL (refused, logged as a
 * kept call is) for a handed request used after its callback or from
 * another thread; a request not handed this way (a test's) gives its own.
 */
const struct hub_request *host_request_enter(const struct hub_request *req,
					     const struct hub_instance *inst,
					     const char *callback);
void host_request_leave(const struct hub_request *handed);
const void *host_request_private(const struct hub_request *req, const char *fn);

/* The table (static, lives for the process). */
const struct hub_host *host_table(void);

/* Tests: fix now_ms() (0 = the real clock). */
void host_set_fixed_now_ms(int64_t ms);

/* Tests: the next refusal of a call (rule 6) is logged, as a first one. */
void host_reset_refusal_lines(void);

/*
 * The resolved config of one instance (inst->json): every key the plugin
 * declares plus the hub's common keys of its kind (sources or exports), each
 * from the YAML or else the declared default, with its JSON text.  Built by
 * plugin_instance_create() before the plugin's create() and never changed
 * afterwards, so the config_*() functions need no lock.  Needs inst->name,
 * inst->mod and inst->conf.  Returns 0, or -1 with err set.
 */
struct hub_instance;
int host_instance_config_load(struct hub_instance *inst, char *err, size_t err_size);
void host_instance_config_free(struct hub_instance *inst);

#endif
