/*
 * mparticle.h - what the files of the mparticle plugin share (private to
 * the plugin: the hub never sees it).
 *
 *   mparticle.c          descriptor, config, routes, answers
 *   mparticle_auth.c     Basic key:secret (Events API), the webhook's
 *                        Authorization value
 *   mparticle_request.c  one body -> its batches, all or nothing
 *   mparticle_batch.c    one batch: identities, device, user attributes,
 *                        consent (field types, no output)
 *   mparticle_event.c    one event: its type and the fields that type uses
 *                        (user_identity_change: login and logout;
 *                        user_attribute_change: a deleted attribute;
 *                        opt_out: whether the user opted out)
 *   mparticle_map.c      one checked batch -> struct hub_record(s) -> emit()
 *
 * The rule the files follow (the segment plugin's): every structural check
 * happens while reading, before anything is emitted, so a bad request
 * emits nothing; mapping only fails when memory runs out or the host
 * refuses a record (then the host discards the whole call).
 *
 * mpid is a signed 64-bit integer that exceeds 2^53: the body is parsed
 * with integers kept as json_int_t (never JSON_DECODE_INT_AS_REAL) and the
 * mpid is printed back from that integer, so its digits survive exactly.
 */
#ifndef MPARTICLE_H
#define MPARTICLE_H

#include <hub_plugin.h>

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define MP_MAX_BODY (256 * 1024) /* bytes of a (decoded) request body */
#define MP_MAX_BATCHES 100       /* batches of one /v2/bulkevents body */
#define MP_MAX_TEXT 256          /* bytes of a message id or an event name */
#define MP_MAX_IDS 32            /* identifiers of one batch */
#define MP_MSG_SIZE 512          /* an error message */
#define MP_NUM_SIZE 24           /* an int64 in decimal, with its sign */
#define MP_ATTR_NAME_SIZE 64     /* a mapped attribute name */
#define MP_MSGID_SIZE 48         /* a derived message id */
#define MP_DIGEST_SIZE 65        /* a SHA-256 in hex, with its NUL */
/* A time the input did not give.  Times read are 0 (the epoch) or later, so
 * 0 is a time: the records say so (hub_record.has_timestamp). */
#define MP_TIME_NONE (-1)

/* Subscription channels a GDPR purpose sets (bits). */
#define MP_CH_EMAIL 1u /* email_marketing */
#define MP_CH_SMS 2u   /* sms_marketing */

/* GDPR purpose -> channels (mparticle_consent.c). */
struct mp_purpose {
	char *name; /* compared without case */
	unsigned channels;
};

struct mp_purposes {
	struct mp_purpose *items;
	size_t n;
};

struct mp_unmapped; /* the unmapped purposes logged so far (own lock) */

/* One instance: read-only after create(), so routes on several HTTP
 * threads share it without a lock (the counters are atomic; `unmapped`
 * has its own lock). */
struct mp_state {
	const struct hub_host *host;
	const struct hub_instance *inst;
	char *api_key, *api_secret;   /* both or neither; NULL: the API is off */
	size_t api_key_len, api_secret_len;
	char *webhook_auth;           /* NULL: the webhook route is off */
	size_t webhook_auth_len;
	struct mp_purposes purposes;  /* GDPR purpose -> subscription channels */
	struct mp_unmapped *unmapped; /* purposes without a channel, logged once */
	int store_production;         /* environments: which batches are stored */
	int store_development;
	atomic_llong n_env_skipped;   /* batches not stored for their environment */
	atomic_llong n_off_requests;  /* to a route that is off (route_off.h) */
};

/* Why a request failed: what the route answers. */
struct mp_error {
	int status;       /* 400, 401, 403, 404, 413, 500, 503 */
	const char *code; /* "invalid_json", "invalid_event", ... */
	long index;       /* the bad event (one batch) or batch (bulk), or -1 */
	long event_index; /* bulk: the bad event of batch `index`, or -1 */
	char message[MP_MSG_SIZE];
};

/* What an event becomes. */
enum mp_kind {
	MP_IGNORED = 0,    /* a known type with no record (crash_report, ...) */
	MP_CUSTOM,         /* custom_event: track data.event_name */
	MP_SCREEN,         /* screen_view: track "$screen" */
	MP_COMMERCE,       /* commerce_event: track "$commerce" */
	MP_SESSION_START,  /* track "$session_start" */
	MP_SESSION_END,    /* track "$session_end" */
	MP_PUSH,           /* push_registration: push on the installation */
	MP_IDENTITY_CHANGE, /* user_identity_change: login / logout (customer_id) */
	MP_ATTRIBUTE_CHANGE, /* user_attribute_change: deleted -> an attribute delete */
	MP_OPT_OUT,        /* opt_out: data.is_opted_out -> the attribute opted_out */
};

/* One event, read and checked.  Pointers are borrowed from the JSON, or
 * point into the event's own number buffers: never copy one. */
struct mp_event {
	enum mp_kind kind;
	json_t *item;              /* the event object */
	json_t *data;              /* its "data" object, or NULL */
	const char *name;          /* custom: event_name; screen: screen_name */
	char name_buf[MP_MAX_TEXT + 1]; /* a longer name, cut (mparticle_event.c) */
	const char *message_id;    /* message_id, else data.source_message_id */
	int64_t timestamp_ms;      /* data.timestamp_unixtime_ms, or MP_TIME_NONE */
	json_t *custom_attributes; /* object or NULL */
	int push_enabled;          /* MP_PUSH: data.register (default 1) */
	int opted_out;             /* MP_OPT_OUT: data.is_opted_out, -1 absent */
	/* MP_IDENTITY_CHANGE: data.new / data.old, one identity type */
	const char *change_type;   /* its identifier ("custom_id", "email", ...),
				      NULL: an identity type not mapped */
	const char *new_identity;  /* NULL: null, absent or "" */
	const char *old_identity;  /* likewise */
	int64_t new_ms;            /* data.new.timestamp_unixtime_ms, or MP_TIME_NONE */
	char new_num[MP_NUM_SIZE]; /* identities sent as integers */
	char old_num[MP_NUM_SIZE];
	/* MP_ATTRIBUTE_CHANGE: the attribute data.deleted removes, or NULL
	 * (not deleted: the batch's user_attributes hold the new value) */
	const char *deleted_attribute; /* data.user_attribute_name */
};

/* What an identity change does. */
enum mp_change {
	MP_CHANGE_NONE = 0, /* not a customer_id change, or nothing changes */
	MP_CHANGE_LOGIN,    /* new customer_id: identify custom_id + device */
	MP_CHANGE_LOGOUT,   /* customer_id removed: logout of the device */
};

/* GDPR / CCPA consent of a batch as it maps: -1 absent, 0 no, 1 yes; each
 * with its own time or MP_TIME_NONE. */
struct mp_consent {
	int email, sms, ccpa_opt_out;
	int64_t email_ms, sms_ms, ccpa_ms;
};

/* One batch, read and checked.  Strings are borrowed from the JSON or
 * point into the number buffers below. */
struct mp_batch {
	json_t *obj;
	const char *source_request_id; /* NULL when absent or empty */
	int development;               /* environment "development" (else production) */
	char text_digest[MP_DIGEST_SIZE]; /* without source_request_id: SHA-256
					     of the batch's text (mp_batch_digest),
					     else "" */
	int64_t received_ms;           /* a request's: when it came (keys the
					  events that have no time, with
					  text_digest); 0 for an import line */
	int64_t timestamp_ms;          /* the batch's time, else its latest event's,
					  else MP_TIME_NONE */
	struct hub_ident ids[MP_MAX_IDS];
	size_t n_ids;
	char num[MP_MAX_IDS][MP_NUM_SIZE]; /* identifiers sent as integers */
	const char *installation_id;   /* the device id kept, or NULL */
	const char *platform;          /* "ios", "android", "web" or NULL */
	int push_enabled;              /* -1 unset */
	long push_event;               /* the push_registration event push_enabled
					  comes from; -1: device_info.push_token */
	json_t *device_info;           /* object or NULL */
	json_t *user_attributes;       /* object or NULL */
	json_t *deleted_attributes;    /* array of strings or NULL */
	struct mp_consent consent;
	json_t *events;                /* array or NULL */
	size_t n_tracks;               /* events that become track records */
	long first_logout;             /* the first logout event's index, or -1 */
};

/* mparticle_batch.c: reads batch `index` (-1 when it is the only one).
 * Returns 0, or -1 with e filled (400).  Reads every event too. */
int mp_batch_read(const struct mp_state *st, json_t *obj, long index, struct mp_batch *b,
		  struct mp_error *e);
/* /v2/bulkevents/historical: a backfill keeps the times it sends, so
 * every event of batch `index` of a read batch needs its
 * data.timestamp_unixtime_ms (else it would be stored at the upload's
 * time), a batch without events needs its own, and none may be more than
 * 24 h ahead of now_ms (the hub would clamp it to the upload's time).
 * Returns 0, or -1 with e filled (400). */
int mp_batch_historical(const struct mp_batch *b, long index, int64_t now_ms,
			struct mp_error *e);
/* The attribute name of a user attribute key: reserved mParticle names
 * ($FirstName ...) -> native attributes, others lowercased with every run
 * of characters outside [a-z0-9_] made one "_"; a key with nothing of
 * [a-z0-9_] ("名前") stays itself, lowercased, so the host's warning names
 * it.  `out` has MP_ATTR_NAME_SIZE bytes; a longer name is cut (the host
 * then refuses it with a warning: 30 characters at most). */
void mp_attr_name(const char *key, char *out);
/* A time member in ms: 0 when absent or null (*ms = MP_TIME_NONE) or a
 * valid integer (0 is the epoch), -1 otherwise. */
int mp_read_time(json_t *obj, const char *key, int64_t *ms);
/* The identifier an mParticle identity type becomes ("customer_id" ->
 * "custom_id", "other_id_2" -> "other_id_2", ...), NULL for a type not
 * mapped. */
const char *mp_identity_type(const char *name);
/* An identity value: a string ("" is NULL), an integer as its decimal text
 * in `buf` (MP_NUM_SIZE bytes), or null/absent (NULL).  0, or -1 on any
 * other type. */
int mp_identity_value(json_t *v, const char **out, char *buf);

/* mparticle_event.c: reads one event of a batch.  NULL, or the error code
 * ("invalid_event", "missing_field", "unknown_type") with `why` filled:
 * "field: what is wrong", or ": what is wrong" about the event itself. */
const char *mp_event_read(json_t *item, struct mp_event *ev, char *why, size_t why_size);
/* What a read MP_IDENTITY_CHANGE event does (MP_CHANGE_NONE for any other
 * kind). */
enum mp_change mp_event_change(const struct mp_event *ev);

/* mparticle_map.c: emits the records of a checked batch: first its
 * identity changes (login: identify, logout: logout), then its attribute
 * deletions by user_attribute_change, an identify when it carries
 * attributes or push (or has no event to say who it is), its consent, its
 * opt_out events (the attribute opted_out), then one track per mapped
 * event.  HUB_OK, or an error with e filled (the
 * host's message for a refused record). */
hub_rc mp_batch_emit(const struct mp_state *st, struct hub_call *call,
		     const struct mp_batch *b, long index, struct mp_error *e);
/* Keeps the SHA-256 of the batch's text (`len` bytes: the body or line as
 * received, or the canonical dump of a bulk element with its index in the
 * array, batch_index; -1 for a lone batch) in b->text_digest: the key of
 * its events' message ids when it has no source_request_id.  0, or -1 when
 * the digest cannot be computed (out of memory). */
int mp_batch_digest(struct mp_batch *b, const char *text, size_t len, long batch_index);

/* mparticle_request.c */
enum mp_shape {
	MP_ONE_BATCH = 0, /* /v2/events, an import line: one batch object */
	MP_BULK,          /* /v2/bulkevents: an array of at most 100 batches */
	MP_HISTORICAL,    /* /v2/bulkevents/historical: MP_BULK, every event with
			     its own time (mp_batch_historical) */
	MP_ANY,           /* the webhook: either */
};
/* A whole body: parse, read every batch, then emit every record
 * (received_ms: a request's arrival, 0 for an import line).  Emits
 * everything or nothing that the host keeps (a refusal of record i after
 * 0..i-1 returns an error, and the host discards the whole call). */
/* *n_skipped counts the batches read and checked but not stored: their
 * environment is not one of the source's `environments` (a development
 * batch, by default); each is counted and logged (mp_env_skipped()). */
hub_rc mp_request_run(const struct mp_state *st, struct hub_call *call, const char *body,
		      size_t len, enum mp_shape shape, int64_t received_ms, struct mp_error *e,
		      size_t *n_skipped);

/* mparticle_consent.c: the purposes of `gdpr_purposes`, else of
 * gdpr_email_purpose / gdpr_sms_purpose (their defaults without either).
 * HUB_OK, or HUB_ERR_CONFIG with err (a value that is no channel, both
 * ways of saying it set), HUB_ERR_NOMEM; p is empty on failure. */
hub_rc mp_purposes_read(const struct hub_host *host, const struct hub_instance *inst,
			struct mp_purposes *p, char *err, size_t err_size);
void mp_purposes_free(struct mp_purposes *p);
/* The channels (MP_CH_*) a purpose sets, 0 for none. */
unsigned mp_purpose_channels(const struct mp_state *st, const char *purpose);
/* Logs a purpose without a channel, once per name (any thread). */
void mp_unmapped_purpose(const struct mp_state *st, const char *purpose);
struct mp_unmapped *mp_unmapped_new(void);
void mp_unmapped_free(struct mp_unmapped *u);

/* mparticle_auth.c: each returns 200 when allowed, else the status to
 * answer: 401 (no or unreadable credentials), 403 (wrong ones).
 * Never copies a secret into a message. */
int mp_auth_basic(const struct mp_state *st, const char *authorization);
int mp_auth_webhook(const struct mp_state *st, const char *authorization);

void mp_error_set(struct mp_error *e, int status, const char *code, long index,
		  const char *fmt, ...) HUB_PRINTF(5, 6);

#endif
