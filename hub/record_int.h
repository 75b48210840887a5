/*
 * record_int.h - what the files of the record module share (record.c: the
 * builder; record_hub.c: the plugin door; record_value.c: rules of single
 * values; record_json.c: the canonical JSON door; record_msgid.c: derived
 * ids).
 * Nothing outside hub/record*.c includes this; everyone else uses record.h.
 */
#ifndef HUB_RECORD_INT_H
#define HUB_RECORD_INT_H

#include "record.h"

#define RECORD_EVENT_NAME_MAX 256

/*
 * One record as a door read it, before any rule: strings and JSON are
 * borrowed from the door for the duration of record_build().
 */
struct record_input {
	enum hub_record_type type;
	const char *source;
	const char *message_id;   /* NULL: derived from the content */
	int64_t timestamp_ms;
	int has_timestamp;
	int64_t sent_at_ms;       /* 0: unknown (no skew correction) */
	int64_t received_at_ms;
	int has_received_at;
	const struct hub_ident *idents; /* value NULL: absent */
	size_t n_idents;
	/* the first key the door dropped from identifiers, given a value, that
	 * is no identifier type (canonical JSON: an external id not
	 * configured): named when the record has no usable identifier */
	const char *ignored_ident_type;
	int custom_id_is_null;    /* identify: logout */
	const char *platform;
	int is_platform_invalid;  /* the door saw something that is no string */
	int push_enabled;         /* -1 unset, 0, 1 */
	json_t *attributes;       /* NULL: none; checked to be an object */
	json_t *consent;
	const char *event_name;
	json_t *properties;
	const char *previous_id;
	const char *origin;       /* NULL: the door gives none */
};

static inline int record_reads_attributes(enum hub_record_type t)
{
	return t == HUB_REC_IDENTIFY || t == HUB_REC_ATTRIBUTES;
}

static inline int record_reads_consent(enum hub_record_type t)
{
	return t == HUB_REC_IDENTIFY || t == HUB_REC_CONSENT;
}

/* The shared validation core: every rule, then a new owned record. */
hub_rc record_build(const struct record_input *in, const struct record_rules *rules,
		    int64_t now_ms, struct record **out, struct record_warnings *warnings,
		    char *err, size_t err_size);

/* 1 when `type` names an identifier type (custom_id, installation_id, email,
 * phone or a configured external id); other identifier keys are ignored. */
int record_is_ident_type(const char *type, const struct record_rules *rules);

/* record_json.c: "<field>: invalid JSON: <jansson text> at line:col"
 * (field may be "");
 * returns HUB_ERR_DATA, or HUB_ERR_NOMEM when jansson ran out of memory. */
hub_rc record_json_error(char *err, size_t err_size, const char *field,
			 const json_error_t *e);

/* UTF-8 helpers (strict: no overlong forms, surrogates or > U+10FFFF). */
int record_utf8_valid(const char *s, size_t len);
size_t record_utf8_chars(const char *s, size_t len);

/* ---- record_msgid.c: "h:" + hex SHA-256 of the content ----------------- */

#define RECORD_DERIVED_ID_SIZE (2 + 64 + 1)

/* `r` is the normalized record being built (identifiers, platform, push,
 * event set); email/phone are identifiers.email/.phone as used; props the
 * track's properties object ({} when none).  Returns 0,
 * or -1 when OpenSSL fails (out of memory). */
int record_derive_message_id(const struct record_input *in, const struct record *r,
			     const char *email, const char *phone, const json_t *props,
			     char id[RECORD_DERIVED_ID_SIZE]);

/* ---- record_value.c: attribute and consent values (sections 4, 5, 9) -- */

struct attr_verdict {
	enum attr_op op;
	enum attr_type type;
	json_t *add;     /* ARRAY: borrowed from the value */
	json_t *remove;
};

/* Checks one attribute (native or custom).  Returns NULL and fills *v when
 * valid, else why not ("must match ^\+[0-9]{1,15}$"), without the field. */
const char *record_attr_check(const char *key, json_t *value, struct attr_verdict *v);

/* Reads one consent value: returns NULL and sets *state, else why not. */
const char *record_consent_check(json_t *value, enum consent_state *state);

#endif
