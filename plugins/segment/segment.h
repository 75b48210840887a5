/*
 * segment.h - what the files of the segment plugin share (private to the
 * plugin: the hub never sees it).
 *
 *   segment.c          descriptor, config, routes, responses
 *   segment_request.c  one request body -> validated events -> records
 *   segment_event.c    one event: field types, limits, times (no output)
 *   segment_map.c      one checked event -> struct hub_record -> emit()
 *   segment_auth.c     write keys (Basic or body) and webhook signatures
 *
 * The rule the files follow: every structural check happens while reading
 * (segment_event.c), before anything is emitted, so a bad request emits
 * nothing; mapping (segment_map.c) only fails when memory runs out or the
 * host refuses a record.
 */
#ifndef SEGMENT_H
#define SEGMENT_H

#include <hub_plugin.h>

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SEG_MAX_BODY (500 * 1024)   /* bytes of a (decoded) request body */
#define SEG_MAX_EVENT (32 * 1024)   /* bytes of one event as sent, compact */
#define SEG_MAX_EVENTS 2500         /* events of one batch */
#define SEG_MAX_MESSAGE_ID 99       /* characters of a messageId (< 100) */
#define SEG_MAX_EVENT_NAME 256      /* bytes of a track's event: the hub's own limit */
#define SEG_MSG_SIZE 512            /* an error message */
#define SEG_NUM_SIZE 40             /* a number printed as text */
#define SEG_ATTR_NAME_SIZE 64       /* a trait's attribute name (the host: 30 at most) */
#define SEG_SHA256_SIZE 32          /* bytes of a SHA-256 digest */
/* A time the hub cannot read: one without its zone (2024-05-01T10:00:00)
 * or a number of milliseconds is refused, as no zone can be assumed. */
#define SEG_TIME_WANTED "must be an ISO 8601 date-time with its zone (2024-05-01T10:00:00Z)"
/* A derived message_id: "seg-" + 64 hex digits + NUL (segment_msgid.c). */
#define SEG_DERIVED_ID_SIZE (4 + 2 * SEG_SHA256_SIZE + 1)

struct seg_key {
	char *value;
	size_t len;
};

/* One instance: read-only after create(), so routes on several HTTP
 * threads share it without a lock (the one counter is atomic). */
struct seg_state {
	const struct hub_host *host;
	const struct hub_instance *inst;
	struct seg_key *write_keys;
	size_t n_write_keys;
	char *webhook_secret; /* NULL: the webhook route is off */
	size_t webhook_secret_len;
	/* webhook_batch_signature: an array signed over its first element
	 * only (Segment Actions batch mode) is accepted.  Off by default: the
	 * later elements of such an array are not authenticated. */
	int is_batch_signature_allowed;
	atomic_llong n_off_requests; /* to /webhook while it is off (route_off.h) */
};

/* How times are read: the tracking API corrects client clock skew with
 * sentAt; a webhook event and an imported line were corrected by Segment
 * already (an import also keeps its receivedAt). */
enum seg_mode {
	SEG_MODE_API = 0,
	SEG_MODE_WEBHOOK,
	SEG_MODE_IMPORT,
};

enum seg_type {
	SEG_IDENTIFY = 0,
	SEG_TRACK,
	SEG_PAGE,
	SEG_SCREEN,
	SEG_GROUP,
	SEG_ALIAS,
};

/* Why a request failed: what the route answers. */
struct seg_error {
	int status;          /* 400, 401, 404, 413, 500, 503 */
	const char *code;    /* "invalid_json", "invalid_event", ... */
	long index;          /* the bad item, or -1 */
	char message[SEG_MSG_SIZE];
};

/* An event's batch: the fields a batch lends its items, and what the
 * request says of itself. */
struct seg_batch_ctx {
	json_t *context;     /* batch-level context or NULL (borrowed) */
	int has_sent_at;     /* a batch-level sentAt was given ... */
	int64_t sent_at_ms;  /* ... this one (any instant, the epoch and before too) */
	enum seg_mode mode;
};

/* One event, read and checked.  Strings are borrowed from the JSON or
 * point into the number buffers below. */
struct seg_event {
	enum seg_type type;
	json_t *item;                 /* the event object (borrowed) */
	const struct seg_batch_ctx *batch;
	const char *message_id;
	const char *user_id;
	const char *anonymous_id;
	const char *event;            /* track */
	const char *name;             /* page, screen */
	const char *category;         /* page, screen */
	const char *group_id;         /* group */
	const char *previous_id;      /* alias */
	json_t *traits;               /* identify, group: object or NULL */
	json_t *context_traits[2];    /* identify: the event's context.traits,
				       * then the batch's (RudderStack's libraries
				       * send traits there): objects or NULL; the
				       * event's traits win over them, key by key */
	json_t *properties;           /* track, page, screen: object or NULL */
	json_t *external_ids;         /* context.externalIds: array or NULL */
	json_t *subscriptions;        /* identify: context.messaging_subscriptions
				       * (Twilio Engage): array or NULL */
	/* Times: has_* says the event gave one; the value is any instant
	 * (0 is the epoch).  Only segment_map.c turns them into the ABI's
	 * fields (sent_at and received_at: 0 means unset). */
	int has_timestamp, has_sent_at, has_received_at;
	int64_t timestamp_ms, sent_at_ms, received_at_ms;
	char user_id_buf[SEG_NUM_SIZE], anonymous_id_buf[SEG_NUM_SIZE];
	char group_id_buf[SEG_NUM_SIZE], previous_id_buf[SEG_NUM_SIZE];
};

/* segment_event.c: reads item `index` of a batch.  `forced` >= 0 is the type of a single
 * call's path (/v1/track): a missing "type" takes it.  Returns 0, or -1
 * with e filled (400). */
int seg_event_read(json_t *item, long index, int forced, const struct seg_batch_ctx *batch,
		   struct seg_event *ev, struct seg_error *e);
/* A context member of the event: the item's context wins over the batch's,
 * key by key down `path` (NULL-terminated).  NULL when absent. */
json_t *seg_context_get(const struct seg_event *ev, const char *const *path);
/* "identify", "track", ... */
const char *seg_type_name(enum seg_type type);
/* ISO 8601 / RFC 3339 date-time -> *ms, ms since the epoch (negative
 * before 1970).  Returns 0, or -1 if malformed (*ms untouched). */
int seg_time_parse(const char *s, int64_t *ms);

/* segment_map.c: one checked event, its message_id set (given or
 * derived) -> emitted record.  HUB_OK, or an error with e filled (the
 * host's message for a refused record). */
hub_rc seg_event_emit(const struct seg_state *st, struct hub_call *call,
		      const struct seg_event *ev, long index, struct seg_error *e);

/* segment_msgid.c: the message_id of an event without messageId is
 * seg_msgid_format(seg_msgid_digest(the event), its occurrence: how many
 * events before it in the request have that digest).  Each returns 0, or
 * -1 when memory ran out. */
int seg_msgid_digest(const struct seg_state *st, const struct seg_event *ev,
		     unsigned char md[SEG_SHA256_SIZE]);
int seg_msgid_format(const unsigned char md[SEG_SHA256_SIZE], size_t occurrence,
		     char out[SEG_DERIVED_ID_SIZE]);

/* segment_request.c: a whole body.  `forced` as for seg_event_read; -1 for
 * /v1/batch and the webhook.  With `check_write_key`, the body's writeKey
 * must name a configured key (the route checked a header already when
 * there was one).  Emits every event or none (a refusal by the host of
 * event i after events 0..i-1 were emitted returns an error, and the host
 * discards the whole call). */
hub_rc seg_request_run(const struct seg_state *st, struct hub_call *call, const char *body,
		       size_t len, int forced, enum seg_mode mode, int check_write_key,
		       struct seg_error *e);
/* One JSON Lines line: one event, no auth (profilehub import). */
hub_rc seg_import_line(const struct seg_state *st, struct hub_call *call, const char *line,
		       size_t len, struct seg_error *e);

/* segment_auth.c: 1 when allowed, 0 when not.  Never keeps or shows a key. */
/* `Authorization: Basic base64("<writeKey>:")` names a configured key. */
int seg_auth_header(const struct seg_state *st, const char *authorization);
/* The body's "writeKey" names a configured key. */
int seg_auth_body(const struct seg_state *st, json_t *body);
/* What a webhook's X-Signature (hex HMAC-SHA1 keyed with the webhook
 * secret) covers. */
enum seg_signature {
	SEG_SIG_BAD = 0,       /* missing, unreadable, or of something else */
	SEG_SIG_BODY,          /* the whole raw body */
	SEG_SIG_FIRST_ELEMENT, /* only an array body's first element's text */
};
enum seg_signature seg_auth_webhook(const struct seg_state *st, const char *signature,
				    const char *body, size_t len);

/* JSON whitespace between tokens (RFC 8259). */
static inline int seg_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void seg_error_set(struct seg_error *e, int status, const char *code, long index,
		   const char *fmt, ...) HUB_PRINTF(5, 6);

#endif
