/*
 * record.h - the canonical record inside the hub (IDENTITY.md sections 2, 4,
 * 9): validated, normalized and owned.  Every door (plugins through emit(),
 * `profilehub import --format canonical`, tests) produces these through the
 * one validation path in record.c; the unification engine only ever sees a
 * valid struct record.
 *
 * Validation here is per record and stateless: identifier rules and blocked
 * values, payload shapes, native attribute formats, custom attribute limits.
 * Everything that needs the store (dedupe, erase blocks, limits, merges) is
 * unify.c's.
 */
#ifndef HUB_RECORD_H
#define HUB_RECORD_H

#include "config.h"
#include "include/hub_plugin.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define RECORD_IDENT_MAX 1024 /* bytes of any identifier value (custom_id: IDENTITY.md) */
#define RECORD_ATTR_KEY_MAX 30
#define RECORD_ATTR_STRING_MAX 300
#define RECORD_ATTR_ARRAY_MAX 25
#define RECORD_FUTURE_CLAMP_MS (24LL * 3600 * 1000)
/* bytes: Segment's messageId is under 100 characters, 396 bytes of UTF-8 at most */
#define RECORD_MESSAGE_ID_MAX 400
#define RECORD_SOURCE_MAX 256 /* bytes of a record's source */

/* What the validator needs to know of the deployment (from identity.*). */
struct record_rules {
	const struct config_external_id *external_ids; /* sorted by priority, name */
	size_t n_external_ids;
	char *const *blocked_values;  /* extra blocked values, case-insensitive */
	size_t n_blocked_values;
};

enum attr_type {
	ATTR_STRING = 0, ATTR_NUMBER, ATTR_BOOL, ATTR_DATE, ATTR_URL, ATTR_ARRAY
};

enum attr_op {
	ATTR_OP_SET = 0,   /* value */
	ATTR_OP_DELETE,    /* null */
	ATTR_OP_ARRAY,     /* {"$add": [...], "$remove": [...]} */
};

struct record_attr {
	char *key;            /* "$email_address", "plan" (lowercase custom) */
	enum attr_op op;
	enum attr_type type;  /* SET: the value's type */
	char *value_json;     /* SET: the value as compact JSON text, the form
			       * the store keeps (dumped by the parsing thread,
			       * not the writer); owned; else NULL */
	json_t *add;          /* ARRAY: owned array of strings or NULL */
	json_t *remove;       /* ARRAY: owned array of strings or NULL */
};

enum consent_state {
	CONSENT_ABSENT = 0,   /* the record says nothing */
	CONSENT_UNSET,        /* null: unset, with a time */
	CONSENT_SUBSCRIBED,
	CONSENT_UNSUBSCRIBED,
};

struct record_ident {
	char *type;           /* an external id name */
	char *value;
	int priority;
	int limit;
};

struct record {
	enum hub_record_type type;
	int is_logout;            /* logout record or identify with custom_id null
				   * (beside type: the import holds 170k records
				   * in flight, and a hole here cost 16 bytes
				   * each past a malloc size class) */
	char *source;
	char *message_id;
	int64_t timestamp_ms;     /* skew-corrected, clamped */
	int64_t received_at_ms;

	/* identifiers, blocked values already removed (NULL: absent) */
	char *custom_id;
	char *installation_id;
	struct record_ident *externals; /* in priority order (then name) */
	size_t n_externals;
	char *previous_id;        /* alias */
	/* erase only: the profile ID a privacy request names instead of an
	 * identifier (a profile that may hold none).  Set by
	 * record_erase_of_profile() alone, never by record_from_hub() or
	 * record_from_json(): no plugin, import or scenario file can erase by
	 * profile ID, only the hub's privacy requests (privacy.c). */
	char *profile_id;

	const char *platform;     /* "ios" "android" "web" "server" (static,
				   * not owned) or NULL */
	int push_enabled;         /* -1 unset */

	struct record_attr *attrs;/* includes $email_address / $phone_number
				   * set from identifiers.email / .phone */
	size_t n_attrs;
	enum consent_state email_marketing;
	enum consent_state sms_marketing;

	char *event_name;         /* track */
	/* track: the properties object as compact JSON text ("{}" when none),
	 * dumped once by the parsing thread so the writer stores it as is;
	 * owned */
	char *properties_json;

	/* where the record is in its input (hub_record.origin, ABI 1.3), for
	 * the messages about it, or NULL; owned */
	char *origin;
};

/* Non-fatal findings (an invalid attribute dropped): "attributes.$phone_number:
 * must match ^\+[0-9]{1,15}$".  Owned by the caller's struct. */
struct record_warnings {
	char *items[8];
	size_t n;     /* stored (at most 8) */
	size_t total; /* found */
};
void record_warnings_clear(struct record_warnings *w);
/* Counts a warning in w and keeps its text while fewer than 8 are kept.
 * 0, or -1 when out of memory (counted, not kept). */
int record_warnings_add(struct record_warnings *w, const char *fmt, ...) HUB_PRINTF(2, 3);

/*
 * Validates a record emitted by a plugin (or built by a test) and returns a
 * new owned struct record in *out.  `source` is the instance name.
 * `now_ms` is the receive time when rec->received_at_ms is 0, and the
 * event time when none is given (timestamp_ms 0 without has_timestamp, which
 * a record of a minor before 1.5 never has).  Skew correction (sent_at) and
 * the 24 h future clamp are applied here.
 * Returns HUB_OK, HUB_ERR_DATA (err names the field: "identifiers.custom_id:
 * longer than 1024 bytes") or HUB_ERR_NOMEM.  Warnings may be NULL.
 */
hub_rc record_from_hub(const struct hub_record *rec, const char *source,
		       const struct record_rules *rules, int64_t now_ms,
		       struct record **out, struct record_warnings *warnings,
		       char *err, size_t err_size);

/*
 * Parses one canonical JSON record (the form of `import --format canonical`
 * and the scenario files; see tests/fixtures and shared/data/scenarios)
 * into a struct record, with the same rules.  `default_source` applies when
 * the JSON has no "source".  Duplicate object keys are rejected.
 */
hub_rc record_from_json(const char *text, size_t len, const char *default_source,
			const struct record_rules *rules, int64_t now_ms,
			struct record **out, struct record_warnings *warnings,
			char *err, size_t err_size);

/*
 * The erase record of the hub's own privacy request naming a profile by its
 * ID (privacy.c): type erase, source "privacy", message_id the request's
 * ID, timed now, no identifier but profile_id (store_profile_id_is_valid()
 * is the caller's check).  HUB_OK with *out, or HUB_ERR_NOMEM.
 */
hub_rc record_erase_of_profile(const char *profile_id, const char *request_id, int64_t now_ms,
			       struct record **out, char *err, size_t err_size);

void record_free(struct record *r);

/* rec->origin (ABI 1.3: where the record is in its input), or NULL when
 * the plugin was built before it or left it unset.  Borrowed from rec. */
const char *record_origin(const struct hub_record *rec);

/* 0 when a profile can hold an attribute named `key` (IDENTITY.md section
 * 4: a native one, "$email_address", or a custom [a-z0-9_]{1,30}); else 1
 * with why in buf (the key not quoted: "empty, ..." or "no attribute of a
 * profile is named so (did you mean "plan"?; ...)"). */
int record_attr_key_refusal(const char *key, char *buf, size_t size);

/* 1 when `value` is a blocked identifier value (IDENTITY.md section 9). */
int record_value_is_blocked(const char *value, const struct record_rules *rules);

/* Longest user value quoted in a message (bytes), and a buffer for it. */
#define RECORD_SHOW_MAX 64
#define RECORD_SHOW_SIZE (RECORD_SHOW_MAX + 8)

/* A user value fit for a message (valid UTF-8 for a JSON answer): at most
 * RECORD_SHOW_MAX bytes ("..." appended when cut), invalid UTF-8 and
 * control bytes shown as '?'.  Returns buf. */
const char *record_show(char buf[RECORD_SHOW_SIZE], const char *s);

/* "identify" ... "erase"; NULL for an unknown type. */
const char *record_type_name(enum hub_record_type t);
int record_type_parse(const char *name, enum hub_record_type *out);

#endif
