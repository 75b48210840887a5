/*
 * hub_plugin.h - the profilehub plugin ABI: the only header a plugin includes.
 *
 * ==== READ THIS FIRST (about five minutes, down to REFERENCE) ============
 *
 * A plugin is one shared object (foo.so) exporting one function,
 * hub_plugin_entry(), which returns a static descriptor, struct hub_plugin:
 * the plugin's name, version, roles, config keys and callbacks.  A role is
 * one of three kinds (one plugin may have several):
 *
 *   pull source  pull()          on the source's schedule: read the input after
 *                                the cursor, emit() records, checkpoint() a
 *                                new cursor
 *   push source  routes[]        HTTP routes mounted under /in/<source name>/:
 *                                each request emit()s records, answered once
 *                                they are committed
 *   export       export_batch()  changes from the change feed, as JSON text
 *                                (plugins/webhook/README.md): deliver them,
 *                                say how many are done
 *
 * LIFE CYCLE of one instance (one configured source or export):
 *
 *   hub_plugin_entry()   at load: return the descriptor, nothing else
 *   check_config()       optional: refuse bad values (`profilehub check`, and
 *                        `run` at its start)
 *   create()             read the config (host->config_*), allocate the state;
 *                        fail only on bad config: connect on first use
 *   pull() / a route's handle() / export_batch()
 *                        called again and again while the hub runs, each
 *                        with a struct hub_call for emit() and the like
 *   run_end()            optional (pull): after each sync run's last pull()
 *   destroy()            free the state
 *
 * There is no start() or stop() callback: calls begin after create(); to
 * stop, the hub makes should_stop() answer 1, waits for the callback in
 * progress to return, then calls destroy().
 *
 * MEMORY, in short (all six rules: OWNERSHIP RULES, in REFERENCE):
 *   - What the hub hands you (a request, a cursor, changes) is borrowed until
 *     your callback returns: copy what you keep.  Config values live until
 *     destroy().
 *   - What you hand the hub (a record, a cursor, a reason, a response body) is
 *     copied before the host function returns: free or reuse it right after.
 *   - Your state is yours: create() allocates it, destroy() frees it; a
 *     create() that fails frees it itself (destroy() is not called).
 *   A struct hub_call is valid only in its callback, on its thread.
 *
 * WHAT A FIRST PLUGIN USES (the other declarations are for later):
 *   struct hub_plugin, HUB_ABI_STAMP_INIT   the descriptor hub_plugin_entry() returns
 *   struct hub_config_key                   the keys it accepts, ended by {NULL}
 *   struct hub_host                         config_string(), config_int() in create();
 *                                           emit(), checkpoint(), reject(), log()
 *   struct hub_record, hub_record_init()    one record, its hub_ident identifiers
 *   enum hub_rc                             what a callback returns: RETURN CODES
 *   struct hub_route, hub_request, hub_response    push sources only
 *
 * WHERE THE REST IS: plugins/example/example.c (a pull source, the template of
 * `make plugin`), plugins/example_push/ and plugins/example_export/ (the other
 * two kinds), plugins/example/README.md part 1 (the walk-through; its part 2
 * is reference).  Below: RETURN CODES; then, as REFERENCE, OWNERSHIP RULES,
 * COMPATIBILITY, ABI HISTORY, and each declaration with its own comment.
 *
 * RETURN CODES: what the hub does with a code depends on which callback
 * returns it.  HUB_ERR_CONFIG from pull() disables the source; from a route
 * it fails that one request and disables nothing.
 *
 *   code              pull()                    route handle(),    export_batch()
 *                                               admit() (a)
 *   HUB_OK            caught up: the run ends   2xx, sent once     *n_done changes are
 *                                               the records are    delivered; 0 is retried
 *                                               committed          as a failure (e)
 *   HUB_MORE          more is waiting: called   a bug: 500         as HUB_RETRY
 *                     again at once (b)
 *   HUB_RETRY         page dropped; pulled      503                the rest sent again
 *                     again after a backoff (c)                    after a backoff
 *   HUB_ERR_DATA      as HUB_RETRY (c); never   400                changes[*n_done] refused
 *                     for one bad row: pass                        for good (d)
 *                     over it, reject() it
 *   HUB_ERR_CONFIG    page dropped; the source  500, for this      the export DISABLED
 *                     DISABLED until triggered  request only:      until its config
 *                     or the hub restarts       nothing disabled   changes or it is
 *                                                                  enabled again (f)
 *   HUB_ERR_AUTH      as HUB_ERR_CONFIG (your   401: the client's  as HUB_ERR_CONFIG (your
 *                     credentials, refused)     are refused        credentials, refused)
 *   HUB_ERR_NOMEM     as HUB_RETRY (c)          503                as HUB_RETRY
 *   HUB_ERR_INTERNAL  as HUB_RETRY (c)          500                as HUB_RETRY
 *   HUB_ERR_BUSY      as HUB_RETRY (c)          429                as HUB_RETRY
 *   HUB_ERR_STOPPED   the hub stopping: a       503                as HUB_RETRY
 *                     clean end; else as
 *                     HUB_RETRY
 *   not a hub_rc      a bug: as                 a bug: 500         a bug: as HUB_RETRY,
 *                     HUB_ERR_INTERNAL                             none of it delivered
 *
 *   (a) Only HUB_OK with resp->status 0 (200) or 2xx commits what the request
 *       emitted; any other code or status discards all of it.  A status of
 *       300..599 is sent instead of the code's.  admit() emits nothing: its
 *       refusal is answered the same, the body never read.
 *   (b) HUB_MORE from a pull that emitted and rejected nothing and moved no
 *       cursor is a bug: three in a row end the run with an error.
 *   (c) Any code but HUB_OK and HUB_MORE (HUB_ERR_STOPPED too) drops what the
 *       pull emitted since its last checkpoint; the next pull starts from the
 *       last committed cursor.  HUB_RETRY is tried again within the run, at
 *       most max_retries (default 5) times in a row; any other failure ends
 *       the run.  Either way the scheduler pulls the source again after a
 *       backoff; it stays enabled.
 *   (d) When changes[*n_done] is the call's last change it is dead-lettered
 *       with err as its reason; else the changes from it on are sent again
 *       one at a time to find it.  With every change done it is HUB_OK.
 *   (e) With 0 < *n_done < n the rest is sent at once as the next batch.
 *   (f) `profilehub exports enable NAME` or POST /v1/exports/NAME/enable.
 *
 *   create() and check_config(): any code but HUB_OK refuses the instance and
 *     the code itself is not acted on (HUB_RETRY is not retried: fail only on
 *     bad config, with HUB_ERR_CONFIG).  After create(): a push source stops `profilehub run`
 *     (exit 1); a pull source is disabled, created again when triggered
 *     (POST /v1/sources/<name>/sync); an export is disabled until the hub
 *     restarts.  After check_config(): `profilehub check` and `run` refuse
 *     the entry.
 *   check_connect(): any code but HUB_OK fails `profilehub check --connect`.
 *   import_line(): HUB_ERR_NOMEM stops the import at that line (the lines
 *     before it are stored); any other failure rejects the line (its records
 *     dropped) and the import goes on.
 *   What the host functions answer you (emit, checkpoint, reject, warn, skip):
 *     HUB_OK, go on; emit()'s HUB_ERR_DATA, that record is refused (counted
 *     as rejected already), go on; anything else, stop and return that code.
 *
 *   With a code, a callback may write a NUL-terminated message into the
 *   caller-owned buffer (err, err_size; the host reads at most err_size - 1
 *   bytes of it).  The message is for people: name the input it is about, and
 *   never put secrets in it.  A HUB_RETRY whose message starts with
 *   "retry after <N>s: " (or "<N>ms: ") is not tried again sooner than that
 *   (a server's Retry-After, passed on; at most an hour).  A sync run waits
 *   at most 5 minutes in all before its retries: a longer wait ends the run
 *   (its message says so) and the scheduler's next run starts after it,
 *   from the last committed cursor; any other code so prefixed ends the run
 *   at once, the wait kept the same way.
 *
 * ==== REFERENCE ==========================================================
 *
 * OWNERSHIP RULES
 *   1. What the host passes to a callback (request, body, cursor, change
 *      JSON) is borrowed until the callback returns: copy what you keep.
 *      A push request kept past its route or admit() reads as none: its
 *      header() and query() answer NULL (an error logged, as for rule 6),
 *      its body is ""; its method and path stay its route's.  (It is one
 *      of 1024 slots, reused round robin: once its slot serves a later
 *      request, the kept pointer reads that one's method and path, its
 *      body while it is live and, on the thread it is live on, its
 *      headers.  Copy what you keep.)
 *      Config values and instance_name() live as long as the instance.
 *   2. Everything the plugin hands to the host (records through emit(), a
 *      checkpoint cursor, a reason to reject(), a response body) is copied
 *      by the host before the host function returns.  The plugin may reuse or
 *      free it right after.
 *   3. Plugin state (the void * from create()) is owned by the plugin and
 *      released by its destroy().  One instance is called from one thread at a
 *      time, except push routes (handle() and admit()), which may run on
 *      several HTTP threads at once.
 *      A PUSH|PULL plugin gets two instances per configured source (two
 *      create() calls): its routes and its pull() share no state.
 *   4. No library object (json_t *, PGconn *, CURL *) crosses this boundary.
 *      Structured data crosses as JSON text (UTF-8, NUL-terminated).
 *   5. hub_plugin_entry() must do nothing but return the static descriptor:
 *      the host checks the ABI stamp before it calls anything else.
 *   6. A struct hub_call is valid only during the callback it was passed to,
 *      on that callback's thread: never keep it or hand it to another thread.
 *      The hub refuses one used after its callback returned, or from another
 *      thread: emit(), checkpoint(), reject(), warn(), skip() and
 *      batch_range() answer HUB_ERR_INTERNAL, should_stop() 1, however
 *      many calls later a kept one is used, with an error logged (the
 *      first such refusal, then at most one line every 10 s with the count
 *      not logged) naming the plugin, the function and the callback; once
 *      the kept call's slot (one of 1024) serves a later call, the line
 *      names the function and the call live on the calling thread, if any,
 *      not the plugin that kept it.  Only log,
 *      config_*, instance_name, now_ms, secret_equal and alloc_failed may
 *      be called from any thread, between create() and the end of destroy().
 *
 * COMPATIBILITY
 *   HUB_ABI_MINOR grows when members are appended to struct hub_plugin,
 *   hub_record or hub_host, or values to an enum.  Every other struct, and
 *   the arrays a plugin supplies (hub_config_key, hub_route, hub_ident: read
 *   with the host's element size), keeps its layout for the whole major.
 *   HUB_ABI_MAJOR changes when anything else changes; the host refuses a
 *   plugin of another major.  It loads a plugin built for an older or a newer
 *   minor of its major and reads only the members it knows.  So check
 *   HUB_HOST_HAS() (or host->abi_minor) before using anything added after
 *   1.0; an enum value the host does not know is refused (a role or config
 *   type at load, a record type by emit()).
 *
 * ABI HISTORY (what each minor appended; the members are marked below)
 *   1.0  the descriptor, hub_record, hub_host up to secret_equal()
 *   1.1  hub_plugin.import_line()
 *   1.2  hub_host.reject(): an input item the plugin itself refuses is
 *        counted as rejected, like a record emit() refuses
 *   1.3  hub_record.origin: where a record is in its input, shown beside
 *        the warnings about it
 *   1.4  hub_host.batch_range(): the seqs an export batch was planned over,
 *        the same each time that batch is sent (an idempotency key)
 *   1.5  hub_record.has_timestamp: a timestamp_ms of 0 is a time, the
 *        instant 1970-01-01T00:00:00.000Z, when it is set; before it 0
 *        always meant unset (and still does for a record of an older minor)
 *   1.6  hub_plugin.error_body(): a source writes the hub's own refusals on
 *        its routes (405, 413, 429, 503, ...) in its API's error shape;
 *        hub_host.warn(): a value the plugin drops from an item it keeps is
 *        counted and named as a warning, like a value validation drops
 *   1.7  hub_host.query(): a push route reads its request's query string
 *        (a webhook that authenticates with ?token=)
 *   1.8  hub_host.alloc_failed(): whether an allocation failed on this
 *        thread, to tell memory running out during a jansson parse from
 *        bad input (jansson reports it as a syntax error)
 *   1.9  hub_config_key.is_secret HUB_SECRET_CONNECTION: a connection
 *        string, whose password written in the file is warned about (no
 *        member added: an older host reads it as any secret)
 *   1.10 hub_plugin.check_config(): `profilehub check` (and `run` at start)
 *        refuses what create() would refuse of the values alone, without
 *        --connect (a warehouse `map` its `kind` cannot use)
 *   1.11 hub_plugin.admit(): a push source refuses a request from its
 *        headers (a missing or wrong credential) before its body is read
 *   1.12 hub_host.skip(): an input item the plugin deliberately does not
 *        store (an mParticle development batch) is counted as skipped,
 *        not as rejected
 *   1.13 a pull plugin reads only the common pull keys (query, cursor,
 *        cursor_start, kind, map) its config table declares: a source
 *        giving one it does not declare is refused, as an unknown key (no
 *        member added: a plugin of an older minor is handed them all, as
 *        before)
 *   1.14 hub_plugin.run_end(): a pull source learns that a sync run ended,
 *        so that what it keeps to retry within a run (a request id sent
 *        again) does not carry over into the next run
 *   1.15 hub_host.attr_key_refusal(): whether a name can be an attribute
 *        of a profile, and why not, so that a config naming attributes (a
 *        warehouse `map`) is refused by `check` rather than the attribute
 *        dropped from every record emit() is given
 */
#ifndef HUB_PLUGIN_H
#define HUB_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HUB_ABI_MAGIC 0x50425548u /* "HUBP" little-endian */
#define HUB_ABI_MAJOR 1
#define HUB_ABI_MINOR 15

#if defined(__GNUC__)
#define HUB_EXPORT __attribute__((visibility("default")))
#define HUB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HUB_EXPORT
#define HUB_PRINTF(a, b)
#endif

/* Return codes.  Append only; never renumber.  What the hub does with one
 * depends on the callback that returns it: RETURN CODES, at the top. */
typedef enum hub_rc {
	HUB_OK = 0,           /* done (pull: caught up) */
	HUB_MORE = 1,         /* pull only: more rows are waiting; call again */
	HUB_RETRY = 2,        /* transient failure: back off and try again */
	HUB_ERR_CONFIG = 3,   /* the configuration is wrong; trying again will
			       * not help.  From pull() or export_batch() it
			       * disables the source or export; from a route it
			       * fails only that request (500) */
	HUB_ERR_AUTH = 4,     /* credentials refused: yours, by a remote end
			       * (pull, export: as HUB_ERR_CONFIG), or, from a
			       * route, the client's (401) */
	HUB_ERR_DATA = 5,     /* this input is bad: reject / dead-letter it */
	HUB_ERR_INTERNAL = 6, /* a bug or an unexpected state */
	HUB_ERR_NOMEM = 7,    /* out of memory */
	HUB_ERR_BUSY = 8,     /* host: intake full, retry after a while */
	HUB_ERR_STOPPED = 9,  /* host: shutting down; stop early and return (a
			       * plugin answering it while the hub is not
			       * stopping is taken as HUB_RETRY) */
} hub_rc;

/* ABI stamp: the first member of every descriptor. */
struct hub_abi_stamp {
	uint32_t magic;       /* HUB_ABI_MAGIC */
	uint16_t major;       /* HUB_ABI_MAJOR the plugin was built with */
	uint16_t minor;       /* HUB_ABI_MINOR the plugin was built with */
	uint32_t plugin_size; /* sizeof(struct hub_plugin) at build time */
	uint32_t record_size; /* sizeof(struct hub_record) at build time */
};

#define HUB_ABI_STAMP_INIT                                                     \
	{ HUB_ABI_MAGIC, HUB_ABI_MAJOR, HUB_ABI_MINOR,                         \
	  (uint32_t)sizeof(struct hub_plugin),                                 \
	  (uint32_t)sizeof(struct hub_record) }

/* ---- configuration schema ------------------------------------------- */

/* Types of config values.  Append only. */
enum hub_config_type {
	HUB_CFG_STRING = 0,
	HUB_CFG_INT = 1,
	HUB_CFG_BOOL = 2,
	HUB_CFG_FLOAT = 3,
	HUB_CFG_DURATION = 4,    /* "30s", "15m", "1h30m", "2d" or seconds */
	HUB_CFG_STRING_LIST = 5, /* a YAML sequence of strings */
	HUB_CFG_OBJECT = 6,      /* any YAML mapping: read as JSON text */
	HUB_CFG_ANY = 7,         /* scalar, list or mapping: read as JSON text */
};

/* Values of hub_config_key.is_secret: 0 (not a secret), or any other.
 * HUB_SECRET_CONNECTION (ABI 1.9) is a secret that is a connection string,
 * a libpq URL or keyword string (postgresql://u:pw@h/db, password=pw) or
 * an ODBC one (PWD=pw;, PASSWORD=, priv_key_file_pwd=) or any other URL
 * (https://user:pw@host/): `check` and `run` warn, never printing it, when
 * its password is written in the file rather than read from a ${VAR}, as
 * they do for store.url.  A host before 1.9 takes it as HUB_SECRET. */
#define HUB_SECRET 1
#define HUB_SECRET_CONNECTION 2

/* One declared key.  A plugin's keys are an array ended by {NULL}.
 * Layout frozen for the major (see COMPATIBILITY), like hub_route and hub_ident. */
struct hub_config_key {
	const char *name;
	enum hub_config_type type;
	const char *default_value; /* as YAML scalar text; NULL: no default */
	int is_required;
	int is_secret;             /* never printed: not in errors, logs, check;
				      HUB_SECRET or HUB_SECRET_CONNECTION */
	const char *description;
};

/* ---- canonical records (../shared/design/IDENTITY.md section 2) ------ */

/* Record types.  Append only. */
enum hub_record_type {
	HUB_REC_IDENTIFY = 0,
	HUB_REC_TRACK = 1,
	HUB_REC_ATTRIBUTES = 2,
	HUB_REC_CONSENT = 3,
	HUB_REC_LOGOUT = 4,
	HUB_REC_ALIAS = 5,
	HUB_REC_ERASE = 6,
};

/* One identifier: type is "custom_id", "installation_id", an external id
 * name ("crm_id", "mpid", ...), "email" or "phone".  A record needs at
 * least one that joins profiles: custom_id, installation_id, or an external
 * id the deployment declares (hub.yaml identity.external; an undeclared one
 * is refused).  "email" and "phone" alone are not enough: they are stored
 * as the attributes $email_address / $phone_number, not merge keys, unless
 * identity.external promotes them.  emit() refuses a record with none:
 * "identifiers: no usable identifier ...", naming what it was given that
 * does not count (a blocked value such as "0", an email or phone). */
struct hub_ident {
	const char *type;
	const char *value;
};

/*
 * A canonical record as a plugin emits it.  Every pointer is borrowed by the
 * host only for the duration of emit(); the host validates and copies.
 * JSON members are text.  Set `size` to sizeof(struct hub_record) (or use
 * hub_record_init()) so the host knows which members exist.
 */
struct hub_record {
	uint32_t size;
	enum hub_record_type type;
	/* The id the source dedupes on: once a record was applied, a later one
	 * of the same source and message_id is acknowledged and dropped, for
	 * ever.  NULL: the host derives one from a hash of the record's content
	 * (type, timestamp_ms, else received_at_ms, identifiers, a logout,
	 * platform, push, previous_id, and the payloads the type reads),
	 * never of the host's receive time.  So without message_id and
	 * without a time of the event (timestamp_ms / received_at_ms unset),
	 * identical records are one message: right for the same data sent
	 * again (an import or a sync run again), wrong for an input that
	 * repeats identical events, which must set message_id or timestamp_ms. */
	const char *message_id;
	int64_t timestamp_ms;        /* event time, ms since epoch, UTC; 0: unset
					(the host's receive time, not hashed into
					a derived message_id), unless has_timestamp
					(ABI 1.5) */
	int64_t sent_at_ms;          /* client send time for skew; 0: unknown */
	int64_t received_at_ms;      /* 0: the host's receive time */
	const struct hub_ident *identifiers;
	size_t n_identifiers;
	int custom_id_is_null;       /* identify: "custom_id": null = logout */
	const char *platform;        /* "ios" "android" "web" "server" or NULL */
	int push_enabled;            /* -1 unset, 0 off, 1 on */
	const char *attributes_json; /* identify/attributes: JSON object or NULL */
	const char *consent_json;    /* identify/consent: JSON object or NULL */
	const char *event_name;      /* track */
	const char *properties_json; /* track: JSON object or NULL */
	const char *previous_id;     /* alias */

	/* ---- appended in ABI 1.3 (an older host ignores it) ---- */

	/* Where the record is in its input, for the messages about it: the
	 * item's path in the request ("batches[1].events[2]"), or NULL (the
	 * host then names it by its index among the call's records, or by
	 * the import's line).  Shown beside the warnings of the record (an
	 * attribute dropped as invalid).  Never put a secret in it. */
	const char *origin;

	/* ---- appended in ABI 1.5 (an older host ignores it) ---- */

	/* 1: timestamp_ms is the event time even when it is 0, the instant
	 * 1970-01-01T00:00:00.000Z.  0 (hub_record_init's): timestamp_ms
	 * 0 means unset, the host's receive time, as before 1.5; any other
	 * timestamp_ms is a time either way.  Set it wherever the input gave
	 * a time.  An older host reads 0 as unset whatever this says. */
	int has_timestamp;
};

static inline void hub_record_init(struct hub_record *r, enum hub_record_type t)
{
	static const struct hub_record zero;
	*r = zero;
	r->size = (uint32_t)sizeof(*r);
	r->type = t;
	r->push_enabled = -1;
}

/* ---- what the host lends ------------------------------------------- */

enum hub_log_level {
	HUB_LOG_ERROR = 0,
	HUB_LOG_WARN = 1,
	HUB_LOG_INFO = 2,
	HUB_LOG_DEBUG = 3,
};

/* Opaque handles.  An instance is one configured use of a plugin; a call is
 * one invocation (one HTTP request, one pull, one export batch) that records
 * are emitted into, valid only during it (ownership rule 6). */
struct hub_instance;
struct hub_call;
struct hub_request; /* below, with the routes */

/*
 * The host function table.  Only grows at the end; `size` is the size the
 * host was built with.  Check HUB_HOST_HAS(host, member) before using a
 * member added after ABI 1.0.
 */
struct hub_host {
	uint32_t size;
	uint16_t abi_major;
	uint16_t abi_minor;

	/* Logging, prefixed with the instance name.  Never log secrets. */
	void (*log)(const struct hub_instance *inst, enum hub_log_level level,
		    const char *fmt, ...) HUB_PRINTF(3, 4);

	/* Config values of this instance: the keys the plugin declares and the
	 * hub's own keys of every entry (name, enabled, schedule, ...: both
	 * listed by `profilehub plugins --describe`); defaults applied.  Any
	 * other key reads as unset, with a warning logged: declare every key
	 * you read.  Strings are borrowed for the instance's lifetime.  NULL
	 * (config_int() and the like: 0) when unset.
	 * config_int() of a HUB_CFG_DURATION key gives milliseconds. */
	const char *(*config_string)(const struct hub_instance *inst, const char *key);
	int64_t (*config_int)(const struct hub_instance *inst, const char *key);
	int (*config_bool)(const struct hub_instance *inst, const char *key);
	double (*config_float)(const struct hub_instance *inst, const char *key);
	size_t (*config_list_size)(const struct hub_instance *inst, const char *key);
	const char *(*config_list_item)(const struct hub_instance *inst,
					const char *key, size_t index);
	/* Any key's value as JSON text (objects, lists, scalars).  A scalar
	 * is read as its declared type: STRING a string ("0123" stays one),
	 * BOOL true/false as config_bool() reads it ("no" is false), INT and
	 * FLOAT a number ("42" quoted too), DURATION integer milliseconds
	 * as config_int() gives them; ANY as the YAML reads it (plain 3 a
	 * number, quoted "3" a string). */
	const char *(*config_json)(const struct hub_instance *inst, const char *key);
	const char *(*instance_name)(const struct hub_instance *inst);

	/* Emit one record into the current call.  Copied before return.
	 * HUB_ERR_DATA: this record is refused (err says why) and counted as
	 * rejected; the others stand, so go on (a route may instead refuse the
	 * whole request).  Any other failure: stop and return that code (the
	 * record was not taken: the host then commits no checkpoint of the
	 * pull, sends no 2xx of the request and fails the imported line,
	 * whatever follows). */
	hub_rc (*emit)(struct hub_call *call, const struct hub_record *rec,
		       char *err, size_t err_size);

	/* Pull: everything emitted so far is consistent up to `cursor` (text,
	 * at most 8191 bytes).  The host commits those records and the cursor
	 * in one transaction.  Records emitted after the last checkpoint of a
	 * pull that returns HUB_OK or HUB_MORE are committed too, the cursor
	 * staying where it was: the next pull sends them again and dedupe
	 * drops them.  HUB_OK means handed to the writer, not yet committed
	 * (the host commits one page while the plugin reads the next); a page
	 * that fails to commit is answered by the next checkpoint() (return
	 * that code: the pull is tried again from the last committed cursor).
	 * So never delete or acknowledge rows at their origin on HUB_OK: a
	 * pull source reads from a cursor, it does not consume.
	 * HUB_ERR_INTERNAL: a cursor of 8192 bytes or more, or no pull. */
	hub_rc (*checkpoint)(struct hub_call *call, const char *cursor);

	/* Non-zero when the host is stopping: finish the page and return. */
	int (*should_stop)(const struct hub_call *call);

	/* Wall-clock time, ms since epoch (tests may fix it). */
	int64_t (*now_ms)(void);

	/* Constant-time comparison of two secrets: 1 when equal. */
	int (*secret_equal)(const char *a, size_t a_len, const char *b, size_t b_len);

	/* ---- appended in ABI 1.2 (check HUB_HOST_HAS(host, reject)) ---- */

	/* This input item (a line, a row, one event of a batch) is refused by
	 * the plugin itself and dropped: the host counts it as rejected, like
	 * a record emit() refused, and shows `why` where it shows its own
	 * reasons (the import summary, with the line number; the sync report).
	 * In a push route it is counted in the metrics only: the route's
	 * answer is the plugin's.  `why` is borrowed and copied before return;
	 * name the item in it ("path:LINE: what") and never put a secret in it.
	 * Only for an item dropped while the call goes on: a failing page or
	 * request is the callback's return code instead (do not do both), and
	 * a record emit() refused is counted already.  HUB_OK; any other code
	 * (a failed page of a pull, or reject() from export_batch():
	 * HUB_ERR_INTERNAL): stop and return it, as after emit(). */
	hub_rc (*reject)(struct hub_call *call, const char *why);

	/* ---- appended in ABI 1.4 (check HUB_HOST_HAS(host, batch_range)) -- */

	/* In export_batch(): the seqs the batch was planned over, *first to
	 * *last.  The changes handed over are those of that range still in the
	 * feed (and wanted by the export), so their own first and last seq can
	 * change between two sends of one batch (an erase or a merge took some
	 * out meanwhile); the range does not: a batch sent again whole (after
	 * a failure with *n_done 0, a crash or a restart) has the same range.
	 * After a failure with *n_done > 0 the rest is another batch, its
	 * range starting after the changes done.  Build an idempotency key
	 * from it.  HUB_OK, or HUB_ERR_INTERNAL outside an
	 * export batch. */
	hub_rc (*batch_range)(const struct hub_call *call, int64_t *first, int64_t *last);

	/* ---- appended in ABI 1.6 (check HUB_HOST_HAS(host, warn)) ---- */

	/* A value the plugin dropped from the item it last emitted, which
	 * stands without it (a row's cell that its cast does not apply to):
	 * the host counts a warning and shows `why` where it shows the
	 * warnings of its own checks (the sync report, the import summary
	 * with the line, a push answer's "warnings").  Call it after that
	 * emit() returned HUB_OK.  `why` is borrowed and copied before
	 * return; name the value's place in it (a column, a field), never a
	 * secret.  HUB_OK; any other code: stop and return it, as after
	 * emit() (HUB_ERR_INTERNAL outside a source's call). */
	hub_rc (*warn)(struct hub_call *call, const char *why);

	/* ---- appended in ABI 1.7 (check HUB_HOST_HAS(host, query)) ---- */

	/* In a push route: the first `name` parameter of the request's query
	 * string ("/in/web/hook?token=a%2Fb": query(req, "token") is "a/b",
	 * percent-decoded), borrowed until the route returns; NULL when there
	 * is none, when its value holds a NUL byte (%00), or when `req` is not
	 * a request the host is answering (a test's own).  Compare a secret
	 * found there with secret_equal(); the hub logs no query string. */
	const char *(*query)(const struct hub_request *req, const char *name);

	/* ---- appended in ABI 1.8 (check HUB_HOST_HAS(host, alloc_failed)) -- */

	/* 1 when an allocation failed on the calling thread since that
	 * thread's last alloc_failed(1), else 0; `clear` non-zero then clears
	 * the note, starting a new watch.  The process has one jansson, which
	 * the hub makes allocate through its own allocator: a plugin's
	 * jansson calls are watched too (its own malloc() is not).  jansson
	 * reports memory running out in json_loads() as a syntax error
	 * ("invalid token", line -1, or an empty message), or leaves a member
	 * out of what it returns; so: alloc_failed(1), parse, and when
	 * alloc_failed(0) says 1, drop the result and answer as for
	 * HUB_ERR_NOMEM (a 5xx), not as for bad input.  Any thread. */
	int (*alloc_failed)(int clear);

	/* ---- appended in ABI 1.12 (check HUB_HOST_HAS(host, skip)) ---- */

	/* This input item (a line, a row, a batch of a request) is valid and
	 * deliberately not stored, by the source's configuration (a batch of
	 * an environment it does not keep): the host counts it as skipped,
	 * never as rejected (records_skipped_total in /metrics, "skipped" in
	 * the import summary and the sync report) and logs `why` now and then
	 * (the 1st, 2nd, 4th, 8th, ... of the instance), so say what was
	 * skipped and why in it, never a secret.  `why` is borrowed and
	 * copied before return.  Not for bad input: reject() that.  HUB_OK;
	 * any other code: stop and return it, as after emit()
	 * (HUB_ERR_INTERNAL outside a source's call).  A host before 1.12 has
	 * none: log the item instead. */
	hub_rc (*skip)(struct hub_call *call, const char *why);

	/* ---- appended in ABI 1.15 (check HUB_HOST_HAS(host, attr_key_refusal)) */

	/* Whether `key` names an attribute a profile can hold, by the rule
	 * emit() holds a record's attributes to: a native one
	 * ("$email_address", "$first_name", ...) or a custom one matching
	 * [a-z0-9_]{1,30}.  0: it does (why untouched); 1: it does not, and
	 * why gets the reason, NUL-terminated, at most why_size bytes (512
	 * hold it): the rule, the native names and, when one is close, "did
	 * you mean".  emit() drops such an attribute from each record with a
	 * warning; a config naming one (a warehouse map's attributes) is
	 * better refused by check_config(), before a record is read.  `key`
	 * borrowed.  Any thread, no call or instance needed.  A host before
	 * 1.15 has none: leave the name to emit(). */
	int (*attr_key_refusal)(const char *key, char *why, size_t why_size);
};

#define HUB_HOST_HAS(host, member)                                             \
	((host)->size >= offsetof(struct hub_host, member) + sizeof((host)->member))

/* ---- push sources: HTTP routes --------------------------------------- */

/* An HTTP request as a push route sees it.  Borrowed. */
struct hub_request {
	const char *method;       /* "POST" */
	const char *path;         /* below the mount: "/v1/batch" */
	const char *body;         /* decoded (gunzipped); NUL-terminated */
	size_t body_len;
	const char *(*header)(const struct hub_request *req, const char *name);
	const void *host_private;
};

/* The answer a route fills in.  The host sends it only after every emitted
 * record is committed; if the commit fails the host answers 503 instead. */
struct hub_response {
	int status;             /* e.g. 200, 202, 400, 401; 0 with HUB_OK: 200 */
	char body[1024];        /* JSON text */
	/* Retry-After value or NULL.  Read after handle() returns: a string
	 * literal or memory of the instance state, never a local buffer. */
	const char *retry_after;
};

/* A push route.  The hub does not authenticate /in/ routes: check the
 * client yourself (secret_equal).  A code other than HUB_OK or a non-2xx
 * status discards every record the request emitted.  A code not of enum
 * hub_rc, HUB_MORE (a pull's), or a status neither 0 nor 200..599, is
 * logged as a plugin bug (answered 500 when the code gives no status).  The
 * whole contract: plugins/example/README.md, "Push routes in full". */
struct hub_route {
	const char *method; /* "POST" */
	const char *path;   /* "/v1/batch"; exact match below the mount */
	hub_rc (*handle)(void *state, struct hub_call *call,
			 const struct hub_request *req, struct hub_response *resp);
};

/* ---- the descriptor ------------------------------------------------- */

enum hub_role {
	HUB_ROLE_PUSH = 1u << 0,
	HUB_ROLE_PULL = 1u << 1,
	HUB_ROLE_EXPORT = 1u << 2,
};

struct hub_plugin {
	struct hub_abi_stamp abi; /* HUB_ABI_STAMP_INIT; checked first */
	const char *name;         /* must equal the file name without .so */
	const char *version;      /* the plugin's own version, e.g. "1.2.0"; not empty */
	const char *description;  /* one line; not empty */
	unsigned roles;           /* HUB_ROLE_* */
	/* Ended by {NULL}.  A pull plugin declares here the common pull keys
	 * it reads (query, cursor, cursor_start, kind, map; ABI 1.13), with
	 * its own types: the hub reads none of them, and refuses in a
	 * source's config those the plugin does not declare. */
	const struct hub_config_key *config;

	/* Create an instance from its validated config.  On failure free
	 * whatever you allocated: destroy() is not called.  The hub shows the
	 * message but does not act on the code (HUB_RETRY is not retried): a
	 * push source stops `profilehub run` (exit 1); a pull source is
	 * disabled, created again when triggered (POST /v1/sources/<name>/sync);
	 * an export is disabled until the hub restarts (unlike export_batch()'s
	 * HUB_ERR_CONFIG, which holds until its config changes or it is
	 * enabled again).  So fail
	 * only on bad config; connect on first use, not here. */
	hub_rc (*create)(const struct hub_host *host,
			 const struct hub_instance *inst, void **state,
			 char *err, size_t err_size);
	/* Frees the state of a created instance.  May be NULL. */
	void (*destroy)(void *state);

	/* Optional: open connections once (profilehub check --connect). */
	hub_rc (*check_connect)(void *state, char *err, size_t err_size);

	/* push: routes ended by {NULL} */
	const struct hub_route *routes;

	/* pull: emit records after `cursor` (NULL on a first or --full run),
	 * at most about `budget` of them, calling checkpoint() at safe
	 * boundaries.  Returns HUB_MORE when rows remain, HUB_OK when caught up
	 * (HUB_MORE from a pull that emitted and rejected nothing and moved no
	 * cursor is a bug: three in a row end the run with an error).
	 * Any other code drops what was emitted since the last checkpoint, and
	 * the source is pulled again from there after a backoff (HUB_ERR_CONFIG
	 * and HUB_ERR_AUTH disable it; RETURN CODES at the top): never fail on
	 * one bad row, which would fail every retry; pass over it and count it
	 * as rejected with reject() (ABI 1.2; an older host: log it), as
	 * plugins/example does. */
	hub_rc (*pull)(void *state, struct hub_call *call, const char *cursor,
		       size_t budget, char *err, size_t err_size);

	/* export: deliver changes[0..n) (JSON text, in seq order; the change
	 * format: plugins/webhook/README.md).  Set *n_done to how many leading
	 * changes are durably accepted, even on failure (the host sets it to
	 * 0 first; HUB_OK with *n_done 0 is retried as a failure).  Codes:
	 * HUB_OK; HUB_RETRY (transient: the rest again after a backoff, from
	 * changes[*n_done]); HUB_ERR_DATA: changes[*n_done] is refused for
	 * good: when it is the call's last change (alone, or after *n_done
	 * accepted ones) it is dead-lettered with err as its reason, else
	 * the changes from it on are sent again one at a time to find it;
	 * HUB_ERR_AUTH / HUB_ERR_CONFIG disable the export; any other code
	 * (HUB_ERR_NOMEM, HUB_ERR_INTERNAL, ...) is retried as HUB_RETRY.
	 * HUB_OK with 0 < *n_done < n sends the rest at once as the next
	 * batch; with *n_done left 0 (a plugin that forgot to set it) it is
	 * a failure, the batch sent again after a backoff.  `call` serves
	 * batch_range() and should_stop() here, nothing else. */
	hub_rc (*export_batch)(void *state, struct hub_call *call,
			       const char *const *changes, size_t n,
			       size_t *n_done, char *err, size_t err_size);

	/* ---- appended in ABI 1.1 (check abi.plugin_size before use) ---- */

	/* optional: map one raw message of this source's own format (one JSON
	 * Lines line) to records, as the routes would (no auth), for
	 * `profilehub import FILE --source NAME --format <plugin>`.  A failure
	 * rejects the whole line (its records dropped); import goes on, except
	 * after HUB_ERR_NOMEM, which stops it at that line (RETURN CODES).
	 * reject() (ABI 1.2) drops one item of the line instead, counted and
	 * named with the line's number; the line's other records stand. */
	hub_rc (*import_line)(void *state, struct hub_call *call, const char *line,
			      size_t len, char *err, size_t err_size);

	/* ---- appended in ABI 1.6 (an older host ignores it) ---- */

	/* optional (push): the body of an answer the hub gives on this
	 * plugin's routes without a handler's body: a method the route does
	 * not take, a body past http.max_body or that does not inflate, an
	 * unknown Content-Encoding, a full intake (429), a failed commit or a
	 * stopping hub (503), a handler's failure with an empty body.  Write
	 * the source API's own error shape for (status, code, message) into
	 * body, NUL-terminated, at most body_size bytes; write nothing to keep
	 * the hub's {"error": {"code", "message"}}.  code is a snake_case
	 * name ("busy"), message one line for people (no secrets).  Called
	 * from any thread, without an instance: a pure function.  NULL: the
	 * hub's shape. */
	void (*error_body)(unsigned status, const char *code, const char *message, char *body,
			   size_t body_size);

	/* ---- appended in ABI 1.10 (an older host ignores it) ---- */

	/* optional: what create() would refuse of this entry's values alone,
	 * checked without opening a connection (so without --connect):
	 * `profilehub check` and `run` at start call it on every entry,
	 * enabled or not, before any create().  HUB_OK, or a code and err as
	 * create() would give.  Files are create()'s to read (a key file
	 * mounted after the hub starts must not stop it); the webhook reads
	 * its ca_file here, a bundle shipped with the config, so that one
	 * verifying nothing is refused by `check`.  `inst` serves the config
	 * getters and log() only; there is no state. */
	hub_rc (*check_config)(const struct hub_host *host, const struct hub_instance *inst,
			       char *err, size_t err_size);

	/* ---- appended in ABI 1.11 (an older host ignores it) ---- */

	/* optional (push): called with a request's headers, before a byte of
	 * its body is read: req->method, req->path (the route's),
	 * req->header() and host->query() as handle() gets them, req->body ""
	 * and body_len 0.
	 * HUB_OK (status 0 or 2xx): the body is read and the route runs.
	 * Anything else is answered as handle()'s refusal would be (resp's
	 * status and body), the body never read, the connection closed after
	 * the answer when a body was coming.  Refuse here what the headers
	 * alone decide, a missing or wrong credential, so that an
	 * unauthenticated client cannot make the hub read and inflate up to
	 * http.max_body; let through what
	 * needs the body (a key sent in it, a signature of it), and keep the
	 * same checks in handle() (an older hub does not call this).  Runs
	 * on the HTTP threads, like handle(); emits nothing (no call). */
	hub_rc (*admit)(void *state, const struct hub_request *req, struct hub_response *resp);

	/* ---- appended in ABI 1.14 (an older host ignores it) ---- */

	/* optional (pull): the sync run that called pull() has ended, however
	 * (caught up, failed after its retries, stopped, its lease lost).
	 * Called once per run, on the thread of its pulls, after its last
	 * pull() returned; a run may end without any pull (its cursor could
	 * not be read).  A run's retries (HUB_RETRY, a page that failed to
	 * commit) are pulls of that run; the next run is a new one.  Drop
	 * here what is kept only to go on within a run: a request id sent
	 * again so that a request that may have reached the server runs once
	 * (reused by the next run, it gets the earlier run's answer, rows
	 * written since then a run late), a result held open for the next
	 * page.  An older host never calls it: stay correct without it. */
	void (*run_end)(void *state);
};

/* The one exported symbol. */
typedef const struct hub_plugin *(*hub_plugin_entry_fn)(const struct hub_host *host);
HUB_EXPORT const struct hub_plugin *hub_plugin_entry(const struct hub_host *host);

#define HUB_PLUGIN_ENTRY_NAME "hub_plugin_entry"

#ifdef __cplusplus
}
#endif
#endif /* HUB_PLUGIN_H */
