/*
 * record_msgid.c - the message_id of a record whose source has none
 * (IDENTITY.md section 2: "derives one from a hash of the raw message").
 *
 * "h:" + hex SHA-256 of the record's content: type, event time as given
 * (its received_at when absent), the normalized identifiers, platform, push
 * and the payloads its type reads, as JSON with sorted keys.  So the same
 * content gives the same id through either door and whatever the key order.
 * The hub's own receive time never counts: a record with no time of its own
 * sent again (an import run again, a row synced again) is the same message.
 * Changing what is hashed changes every derived id: dedupe of resent records
 * across the change is lost, so bump the "profilehub-record-N" tag knowingly.
 */
#include "record_int.h"

#include <openssl/evp.h>
#include <string.h>

struct hasher {
	EVP_MD_CTX *ctx;
	unsigned char buf[1024]; /* few, large updates: EVP calls cost more than bytes */
	size_t n;
	int failed;
};

static void hash_put(struct hasher *h, const void *p, size_t n)
{
	if (h->n + n > sizeof(h->buf)) {
		if (EVP_DigestUpdate(h->ctx, h->buf, h->n) != 1)
			h->failed = 1;
		h->n = 0;
	}
	if (n > sizeof(h->buf)) {
		if (EVP_DigestUpdate(h->ctx, p, n) != 1)
			h->failed = 1;
		return;
	}
	memcpy(h->buf + h->n, p, n);
	h->n += n;
}

/* A present field: tag, length, bytes.  An absent one: '-'. */
static void hash_field(struct hasher *h, char tag, const void *p, size_t n)
{
	uint64_t len = n;

	if (!p) {
		hash_put(h, "-", 1);
		return;
	}
	hash_put(h, &tag, 1);
	hash_put(h, &len, sizeof(len));
	hash_put(h, p, n);
}

static void hash_str(struct hasher *h, char tag, const char *s)
{
	hash_field(h, tag, s, s ? strlen(s) : 0);
}

static int hash_json_chunk(const char *buf, size_t size, void *h)
{
	hash_put(h, buf, size);
	return 0;
}

/* JSON is self-delimiting: tag, then the text with sorted keys. */
static void hash_json(struct hasher *h, char tag, const json_t *j)
{
	if (!j) {
		hash_put(h, "-", 1);
		return;
	}
	hash_put(h, &tag, 1);
	if (json_dump_callback(j, hash_json_chunk, h,
			       JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY) != 0)
		h->failed = 1;
}

static void hash_record(struct hasher *h, const struct record_input *in,
			const struct record *r, const char *email, const char *phone,
			const json_t *props)
{
	int64_t ts = in->has_timestamp ? in->timestamp_ms : in->received_at_ms;
	int has_ts = in->has_timestamp || in->has_received_at;
	int32_t flags[2] = {r->is_logout, r->push_enabled};

	hash_str(h, 'v', "profilehub-record-1");
	hash_str(h, 'T', record_type_name(r->type));
	hash_field(h, 't', has_ts ? &ts : NULL, sizeof(ts));
	hash_field(h, 'f', flags, sizeof(flags));
	hash_str(h, 'c', r->custom_id);
	hash_str(h, 'i', r->installation_id);
	for (size_t i = 0; i < r->n_externals; i++) {
		hash_str(h, 'x', r->externals[i].type);
		hash_str(h, 'y', r->externals[i].value);
	}
	hash_str(h, 'e', email);
	hash_str(h, 'p', phone);
	hash_str(h, 'P', r->previous_id);
	hash_str(h, 'o', r->platform);
	if (record_reads_attributes(r->type))
		hash_json(h, 'A', in->attributes);
	if (record_reads_consent(r->type))
		hash_json(h, 'C', in->consent);
	if (r->type == HUB_REC_TRACK) {
		hash_str(h, 'n', r->event_name);
		hash_json(h, 'E', props);
	}
}

int record_derive_message_id(const struct record_input *in, const struct record *r,
			     const char *email, const char *phone, const json_t *props,
			     char id[RECORD_DERIVED_ID_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	struct hasher h = {0};
	int ok;

	h.ctx = EVP_MD_CTX_new();
	if (!h.ctx)
		return -1;
	ok = EVP_DigestInit_ex(h.ctx, EVP_sha256(), NULL) == 1;
	if (ok) {
		hash_record(&h, in, r, email, phone, props);
		ok = !h.failed && EVP_DigestUpdate(h.ctx, h.buf, h.n) == 1 &&
		     EVP_DigestFinal_ex(h.ctx, md, &md_len) == 1 && md_len == 32;
	}
	EVP_MD_CTX_free(h.ctx);
	if (!ok)
		return -1;
	id[0] = 'h';
	id[1] = ':';
	for (unsigned int i = 0; i < md_len; i++) {
		id[2 + 2 * i] = hex[md[i] >> 4];
		id[3 + 2 * i] = hex[md[i] & 15];
	}
	id[2 + 2 * md_len] = '\0';
	return 0;
}
