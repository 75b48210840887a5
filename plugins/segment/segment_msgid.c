/*
 * segment_msgid.c - the message_id of an event sent without messageId.
 *
 * Segment's own libraries always send one; a hand-written HTTP client may
 * not, and retries.  So the id is derived from what identifies the event,
 * never from how it was sent:
 *
 *   "seg-" + hex SHA-256 of ("profilehub-segment-2", the event's type, the
 *   event as sent minus its transport fields, dumped compact with sorted
 *   keys, the batch-level context, and the event's occurrence: how many
 *   events before it in the request had all of that alike).
 *
 * A single call's event without "type" is hashed with it, as a batch's
 * item has it ("profilehub-segment-2" hashed it without, until session
 * 49: such an event posted to /v1/track and sent again through /v1/batch
 * was two records).
 *
 * Transport fields: `messageId` (absent or ""), `writeKey`, `_metadata`
 * (analytics.js's, per send), and, for an event with a time of its own
 * (`timestamp` or `originalTimestamp`), `sentAt` and `receivedAt`: a resend
 * with a new `sentAt`, whitespace or key order, or in another batch, gets
 * the same id and is applied once.  An event without a time of its own
 * keeps its `sentAt`s (its own and the batch's) in the hash: they are the
 * only trace of when it happened, and the same action sent again later is
 * another event.  The occurrence keeps two identical events of one request
 * two records.  Changing this changes every derived id: a request sent
 * before the change and again after it is stored twice, so bump the tag
 * knowingly ("profilehub-segment-1" hashed the raw body and the index).
 */
#include "segment.h"

#include "../common/alloc_watch.h"
#include "../common/text.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEG_MSGID_TAG "profilehub-segment-2"

/* The event as hashed: a shallow copy of item without its transport
 * fields, dumped.  A single call's event that leaves out "type" (its path
 * says it: /v1/track) is hashed with the type written in, as /v1/batch and
 * an import line carry it: one event, one id, whatever its route.  NULL
 * when memory ran out. */
static char *event_text_new(const struct seg_state *st, const struct seg_event *ev)
{
	static const char *const transport[] = {"messageId", "writeKey", "_metadata"};
	static const char *const times[] = {"sentAt", "receivedAt"};
	json_t *copy = json_copy(ev->item), *type;
	char *text = NULL;

	if (!copy)
		return NULL;
	type = json_object_get(copy, "type");
	if ((!type || json_is_null(type)) &&
	    json_object_set_new(copy, "type", json_string(seg_type_name(ev->type)))) {
		json_decref(copy);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(transport) / sizeof(transport[0]); i++)
		json_object_del(copy, transport[i]);
	for (size_t i = 0; ev->has_timestamp && i < sizeof(times) / sizeof(times[0]); i++)
		json_object_del(copy, times[i]);
	text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	if (text && alloc_watch_lost(st->host)) {
		free(text);
		text = NULL;
	}
	return text;
}

/* SHA-256 of the parts (NUL-terminated; NULL hashes as "-"), each
 * followed by a newline.  0, or -1 when OpenSSL fails. */
static int digest_parts(const char *const *parts, size_t n, unsigned char md[SEG_SHA256_SIZE])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned md_len = 0;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

	for (size_t i = 0; ok && i < n; i++) {
		const char *p = parts[i] ? parts[i] : "-";
		ok = EVP_DigestUpdate(ctx, p, strlen(p)) == 1 && EVP_DigestUpdate(ctx, "\n", 1) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len == SEG_SHA256_SIZE;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

int seg_msgid_digest(const struct seg_state *st, const struct seg_event *ev,
		     unsigned char md[SEG_SHA256_SIZE])
{
	char *text = event_text_new(st, ev), *context = NULL, sent[32] = "";
	int rc = -1;

	if (!text)
		return -1;
	if (ev->batch->context &&
	    (!(context = json_dumps(ev->batch->context, JSON_COMPACT | JSON_SORT_KEYS)) ||
	     alloc_watch_lost(st->host)))
		goto out;
	/* the batch's sentAt, for an event without a time of its own */
	if (!ev->has_timestamp && ev->batch->has_sent_at)
		snprintf(sent, sizeof(sent), "%lld", (long long)ev->batch->sent_at_ms);
	{
		const char *parts[] = {SEG_MSGID_TAG, seg_type_name(ev->type), text, context,
				       sent};
		rc = digest_parts(parts, sizeof(parts) / sizeof(parts[0]), md);
	}
out:
	free(context);
	free(text);
	return rc;
}

int seg_msgid_format(const unsigned char md[SEG_SHA256_SIZE], size_t occurrence,
		     char out[SEG_DERIVED_ID_SIZE])
{
	unsigned char id[SEG_SHA256_SIZE];
	char hex[2 * SEG_SHA256_SIZE + 1], nth[32];
	const char *parts[] = {hex, nth};

	text_hex(md, SEG_SHA256_SIZE, hex);
	snprintf(nth, sizeof(nth), "%zu", occurrence);
	if (digest_parts(parts, 2, id))
		return -1;
	memcpy(out, "seg-", 4);
	text_hex(id, SEG_SHA256_SIZE, out + 4);
	return 0;
}
