/*
 * store.c - backend-independent parts of the store: choosing the backend,
 * and opaque profile IDs ("p_" + 16 base32 characters of an HMAC-SHA256,
 * keyed per store, of a per-store counter).  IDs are stable within a store,
 * never reused (the counter only grows) and not guessable without the key.
 */
#include "store.h"

#include "alloc.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_KEY_BYTES 32

/* store_open_as's how */
enum { OPEN_EXISTING, OPEN_CREATE, OPEN_UNMIGRATED };

/* The PostgreSQL store, with store.lock_timeout when it is set. */
static int store_pg_open_as(const struct hub_config *cfg, int how, struct store **out,
			    char *err, size_t err_size)
{
	int rc = how == OPEN_UNMIGRATED
			 ? store_pg_open_unmigrated(cfg->store_url, cfg->store_schema, out, err,
						    err_size)
			 : store_pg_open(cfg->store_url, cfg->store_schema, out, err, err_size);

	if (rc || !cfg->is_store_lock_timeout_set)
		return rc;
	if (store_pg_lock_timeout_set(*out, cfg->store_lock_timeout_ms)) {
		err_set(err, err_size, "%s", store_error(*out));
		store_close(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static int store_open_as(const struct hub_config *cfg, int how, struct store **out, char *err,
			 size_t err_size)
{
	const char *driver = cfg->store_driver ? cfg->store_driver : "sqlite";
	const char *path = cfg->store_path ? cfg->store_path : "var/hub.db";

	if (strcmp(driver, "sqlite") == 0)
		return how == OPEN_CREATE     ? store_sqlite_open(path, out, err, err_size)
		       : how == OPEN_EXISTING ? store_sqlite_open_existing(path, out, err, err_size)
					      : store_sqlite_open_unmigrated(path, out, err, err_size);
	if (strcmp(driver, "postgres") == 0)
		return store_pg_open_as(cfg, how, out, err, err_size);
	err_set(err, err_size, "store.driver: \"%s\" is not available in this build", driver);
	return -1;
}

int store_open(const struct hub_config *cfg, struct store **out, char *err, size_t err_size)
{
	return store_open_as(cfg, OPEN_CREATE, out, err, err_size);
}

int store_open_unmigrated(const struct hub_config *cfg, struct store **out, char *err,
			  size_t err_size)
{
	return store_open_as(cfg, OPEN_UNMIGRATED, out, err, err_size);
}

int store_open_existing(const struct hub_config *cfg, struct store **out, char *err,
			size_t err_size)
{
	return store_open_as(cfg, OPEN_EXISTING, out, err, err_size);
}

int store_fault_hit(struct store *s)
{
	if (s->fault_at[0] <= 0 && s->fault_at[1] <= 0)
		return 0;
	s->fault_calls++;
	for (int i = 0; i < 2; i++) {
		if (s->fault_at[i] == s->fault_calls) {
			int gone = -1; /* STORE_FAULT_GONE: the connection taken away */
			s->fault_at[i] = 0;
			if (s->fault_kind == STORE_FAULT_GONE && s->fault_disconnect)
				gone = s->fault_disconnect(s);
			if (gone >= 0) {
				s->fault_disconnects += gone;
				return 0; /* the statement meets the dead connection */
			}
			err_set(s->err, sizeof(s->err), "injected fault: disk I/O error");
			return 1;
		}
	}
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	EVP_MAC_CTX_free(s->id_mac);
	s->id_mac = NULL;
	s->ops->close(s);
}

const char *store_error(const struct store *s)
{
	return s->err;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Exactly 2n hex digits into n bytes: 0, or -1 for anything else. */
static int hex_decode(const char *in, unsigned char *out, size_t n)
{
	if (strlen(in) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(in[2 * i]), lo = hex_digit(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* 64 hex digits, a NUL, and one byte more: a longer stored value reads
 * cut to 65 digits, which hex_decode refuses, not to a valid 64 */
#define ID_KEY_HEX_SIZE (2 * ID_KEY_BYTES + 2)

/* The stored ID key, read without a write lock (a reader opening beside an
 * import must not wait for its group): 1 read, 0 none yet, -1. */
static int id_key_read(struct store *s, char hex[ID_KEY_HEX_SIZE])
{
	int rc;

	if (!s->ops->read_begin)
		return 0;
	if (s->ops->read_begin(s))
		return -1;
	rc = s->ops->meta_get(s, "id_key", hex, ID_KEY_HEX_SIZE);
	if (s->ops->read_end(s))
		return -1;
	return rc;
}

/* The store's ID key: created with the store.  PROFILEHUB_ID_KEY (64 hex
 * digits) fixes it, for tests that compare two stores byte for byte; a
 * store it gave its key says so once, after the key is committed (the
 * variable named, never its value). */
int store_load_id_key(struct store *s, char *err, size_t err_size)
{
	char hex[ID_KEY_HEX_SIZE];
	const char *fixed = getenv("PROFILEHUB_ID_KEY");
	int rc = id_key_read(s, hex), is_fixed_made = 0;

	if (rc < 0) {
		err_set(err, err_size, "%s", s->err);
		return -1;
	}
	if (rc == 1 && hex_decode(hex, s->id_key, ID_KEY_BYTES) == 0)
		return 0;
	/* none yet (or damaged, said below): under the write lock, where
	 * another process may just have made it */
	if (s->ops->begin(s))
		goto fail;
	rc = s->ops->meta_get(s, "id_key", hex, sizeof(hex));
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		if (hex_decode(hex, s->id_key, ID_KEY_BYTES)) {
			err_set(s->err, sizeof(s->err), "the store's id_key is damaged");
			goto fail;
		}
	} else {
		if (fixed) {
			if (hex_decode(fixed, s->id_key, ID_KEY_BYTES)) {
				err_set(s->err, sizeof(s->err),
					"PROFILEHUB_ID_KEY: must be %d hex digits",
					2 * ID_KEY_BYTES);
				goto fail;
			}
			is_fixed_made = 1;
		} else if (RAND_bytes(s->id_key, ID_KEY_BYTES) != 1) {
			err_set(s->err, sizeof(s->err), "no random bytes for the profile ID key");
			goto fail;
		}
		hex_encode(s->id_key, ID_KEY_BYTES, hex);
		if (s->ops->meta_put(s, "id_key", hex))
			goto fail;
	}
	if (s->ops->commit(s))
		goto fail;
	if (is_fixed_made)
		log_warn("store", "PROFILEHUB_ID_KEY gave this new store its profile ID key: it is"
			 " meant for tests (profile IDs are guessable to whoever knows the key;"
			 " unset, a store makes a random one)");
	return 0;
fail:
	err_set(err, err_size, "%s", s->err);
	s->ops->rollback(s);
	return -1;
}

/*
 * HMAC-SHA256 of msg under the store's ID key.  The keyed context is made
 * once per connection (s->id_mac) and re-initialised with the same key for
 * each ID: a one-shot HMAC() fetched the digest and rekeyed every time,
 * which cost a tenth of the import's writer.
 */
static int profile_id_mac(struct store *s, const unsigned char *msg, size_t len,
			  unsigned char mac[EVP_MAX_MD_SIZE])
{
	size_t mac_len = 0;

	if (!s->id_mac) {
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			OSSL_PARAM_construct_end(),
		};
		EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		s->id_mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
		EVP_MAC_free(hmac); /* the context keeps its own reference */
		if (!s->id_mac || !EVP_MAC_init(s->id_mac, s->id_key, ID_KEY_BYTES, params)) {
			EVP_MAC_CTX_free(s->id_mac);
			s->id_mac = NULL;
			return -1;
		}
	} else if (!EVP_MAC_init(s->id_mac, NULL, 0, NULL)) {
		return -1;
	}
	if (!EVP_MAC_update(s->id_mac, msg, len) ||
	    !EVP_MAC_final(s->id_mac, mac, &mac_len, EVP_MAX_MD_SIZE) || mac_len < 11)
		return -1;
	return 0;
}

static const char profile_id_b32[] = "abcdefghijkmnpqrstuvwxyz23456789"; /* no l, o, 0, 1 */

int store_profile_id_is_valid(const char *id)
{
	return strncmp(id, "p_", 2) == 0 && strlen(id) == 18 &&
	       strspn(id + 2, profile_id_b32) == 16;
}

int store_new_profile_id(struct store *s, char id[PROFILE_ID_SIZE], int64_t *seq)
{
	const char *b32 = profile_id_b32;
	unsigned char mac[EVP_MAX_MD_SIZE], msg[8];
	int64_t n = 0;

	if (s->ops->profile_next_seq(s, &n))
		return -1;
	for (int i = 0; i < 8; i++)
		msg[i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
	if (profile_id_mac(s, msg, sizeof(msg), mac)) {
		err_set(s->err, sizeof(s->err), "HMAC failed while making a profile ID");
		return -1;
	}
	id[0] = 'p';
	id[1] = '_';
	/* 16 characters x 5 bits = 80 bits from the first 10 bytes */
	for (int i = 0; i < 16; i++) {
		int bit = i * 5, byte = bit / 8, shift = bit % 8;
		unsigned v = ((unsigned)mac[byte] << 8 | mac[byte + 1]) >> (11 - shift);
		id[2 + i] = b32[v & 31];
	}
	id[18] = '\0';
	*seq = n;
	return 0;
}
