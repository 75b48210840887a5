/*
 * access_doc.h - the privacy access document, written as it is read: the
 * one place its format lives, shared by the API (POST /v1/privacy/requests,
 * streamed over HTTP) and the CLI (`profilehub privacy access`, to stdout).
 *
 * The document is the same, byte for byte, as json_dumps() of the tree the
 * old in-memory builder made (profile_access_build() for each profile,
 * under the caller's head), with the same flags; but the events and the
 * identity log (which gains a row with every move of an installation
 * between profiles, a user switch, and every logout, for as long as the
 * profile lives) are read from the store a page at a time and handed to
 * the sink as they come, so the writer holds at most one page's text and
 * one profile's other parts (identifiers, attributes, consent), built
 * whole.  Those are bounded by the identity limits but for the attribute
 * rows (one per key ever set, deleted ones kept).
 *
 * The caller holds the snapshot: it opens one read transaction
 * (ops->read_begin) before the first step and ends it after the last, so
 * the whole document is of one commit.
 */
#ifndef HUB_ACCESS_DOC_H
#define HUB_ACCESS_DOC_H

#include "config.h"
#include "store.h"

#include <jansson.h>
#include <stddef.h>

/* Events read from the store at a time (one event_list call). */
#define ACCESS_DOC_PAGE_EVENTS 256
/* Rows of the identity log read from the store at a time (one log_page
 * call, of one profile). */
#define ACCESS_DOC_PAGE_LOG 256

/* Where the text goes: 0, or -1 to stop the writer (its step fails). */
typedef int (*access_doc_sink)(void *ctx, const char *data, size_t len);

struct access_doc_writer;

/*
 * The document's "recipients" (GDPR art. 15(1)(c)): where the hub sends
 * profile changes, one entry per export of cfg (its name, plugin and
 * whether enabled; never its URL, path, table or any secret), in the
 * configuration's order.  New reference; NULL when out of memory.
 */
json_t *access_doc_recipients(const struct hub_config *cfg);

/*
 * A writer of
 *   {<head's members>, [<wrap_key>: {] <by>: <value>, "recipients": {...},
 *    "profiles": [<access>...] [}] }
 * where each <access> is profile_access_build()'s object for ids[i] (a
 * profile no longer live is left out, as before) and "recipients" is
 * access_doc_recipients(cfg).  head: an object, its
 * members written first (borrowed: it must outlive the writer); wrap_key
 * may be NULL.  flags: jansson's JSON_COMPACT, JSON_INDENT(n) and
 * JSON_REAL_PRECISION(n) (not JSON_SORT_KEYS).  s, cfg, ids and the sink
 * are borrowed too.  NULL when out of memory.
 */
struct access_doc_writer *access_doc_writer_new(struct store *s, const struct hub_config *cfg,
						const json_t *head,
						const char *wrap_key, const char *by,
						const char *value,
						const char (*ids)[PROFILE_ID_SIZE], size_t n_ids,
						size_t flags, access_doc_sink sink, void *sink_ctx);

/*
 * Writes the next piece (the head, one profile's bounded parts, one page
 * of events, or one page of one profile's identity log: maybe no row of it)
 * to the sink.  1 more to come, 0 the document is complete, -1
 * failed: a store failure (store_error(s)) or the sink's refusal.  After a
 * failure what the sink got is a strict prefix of the document, never
 * valid JSON (the closing brace comes last), and every later step fails.
 */
int access_doc_writer_step(struct access_doc_writer *w);

/* Profiles written so far. */
size_t access_doc_writer_profiles(const struct access_doc_writer *w);

void access_doc_writer_free(struct access_doc_writer *w);

#endif
