/*
 * fuzz_http.c - libFuzzer target for the HTTP request path of the push
 * sources, from the headers on: what hub/http_request.c does once a route of
 * /in/<instance>/... is chosen, minus libmicrohttpd and the intake.
 *
 *   The plugin's admit() on the headers (ingest_admit: a credential
 *   refused before the body), Content-Encoding (ingest_encoding_parse:
 *   415), Content-Length against
 *   the limit (413), the body fed in chunks to the accumulator
 *   (ingest_body_append: 413, or "close"), the decoder (ingest_inflate:
 *   413 past the limit, 400 corrupt), then ingest_run(): the plugin's route
 *   through the real host table's emit() into the validating call
 *   (record_from_hub into one batch).  A batch is never submitted: the
 *   commit outcome is taken from the input (OK, busy, commit failed) and
 *   handed to ingest_pending_finish(), which builds the final answer.
 *
 * The segment and mparticle plugins are compiled in (so libFuzzer sees
 * their coverage); the mparticle names that clash with segment's are
 * renamed below.
 *
 * The input:
 *
 *   byte 0   route: bit 7 the plugin (0 segment, 1 mparticle), bits 0-6
 *            an index (mod the count) into its route table, in the
 *            table's order: segment's /v1/batch /v1/identify /v1/track
 *            /v1/page /v1/screen /v1/group /v1/alias /webhook (0..7, the
 *            short and PUT/PATCH forms after them), mparticle's /v2/events
 *            /v2/bulkevents /v2/bulkevents/historical /webhook (0..3).  A
 *            route appended to a table moves no seed's route.
 *   byte 1   flags:
 *            bits 0-1  Content-Encoding: 0 none, 1 gzip, 2 deflate,
 *                      3 another value (byte 2 bits 0-1: "br", " X-GZIP ",
 *                      "identity", "gzip, deflate")
 *            bit 2     compress the body (a valid stream) when the encoding
 *                      is gzip or deflate; else the raw bytes are sent
 *            bit 3     gzip: two members; deflate: raw deflate (no zlib
 *                      wrapper)
 *            bits 4-5  credentials: 0 and 3 valid (Basic key, the webhook
 *                      bearer, the HMAC of the decoded body), 1 the header
 *                      value below as Authorization and X-Signature, 2 none
 *            bit 6     a small limit (http.max_body = 512) instead of 1 MiB
 *            bit 7     announce Content-Length
 *   byte 2   bits 0-1  the other Content-Encoding value (above)
 *            bits 2-3  the commit outcome: 0, 1 OK; 2 busy (429); 3 commit
 *                      failed (503)
 *            bits 4-7  k: the body arrives in chunks of 7*k*k bytes (k = 0:
 *                      one chunk)
 *   byte 3   L, then L bytes: the header value of credentials mode 1 (cut
 *            at a NUL, as a header cannot hold one)
 *   rest     the body (plain; compressed by the harness when bit 2 says so)
 *
 * Findings, besides crashes, sanitizer reports and leaks: an answer with
 * no body, a status outside 200..599, a body that is not JSON, a hub error
 * without error.code, a pending batch without records, a Retry-After that
 * is not printable.
 *
 *   make fuzz     (tests/fuzz/run.sh seeds it with tests/fixtures/http/)
 */
#include "../../plugins/segment/segment.c"
#include "../../plugins/segment/segment_auth.c"
#include "../../plugins/segment/segment_event.c"
#include "../../plugins/segment/segment_map.c"
#include "../../plugins/segment/segment_msgid.c"
#include "../../plugins/segment/segment_request.c"

/* static names that segment's sources already use */
#define route_api mp_route_api
#define route_webhook mp_route_webhook
#define hub_plugin_entry mp_hub_plugin_entry
#define identify_attributes mp_identify_attributes
#define emit_error mp_emit_error
#include "../../plugins/mparticle/mparticle.c"
#include "../../plugins/mparticle/mparticle_auth.c"
#include "../../plugins/mparticle/mparticle_batch.c"
#include "../../plugins/mparticle/mparticle_consent.c"
#include "../../plugins/mparticle/mparticle_event.c"
#include "../../plugins/mparticle/mparticle_map.c"
#include "../../plugins/mparticle/mparticle_request.c"
#undef route_api
#undef route_webhook
#undef hub_plugin_entry
#undef identify_attributes
#undef emit_error

#include "alloc.h"
#include "host.h"
#include "http_ingest.h"
#include "log.h"
#include "metrics.h"
#include "plugin.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define FUZZ_NOW_MS 1772000000000LL
#define FUZZ_SMALL_LIMIT 512
#define FUZZ_LIMIT (1024 * 1024)

#define SEG_BASIC "Basic d2tfZnV6ejo=" /* wk_fuzz: */
#define SEG_SECRET "whsec_fuzz"
#define MP_BASIC "Basic bXBfa2V5XzE6bXBfc2VjcmV0XzE=" /* mp_key_1:mp_secret_1 */
#define MP_WEBHOOK "Bearer fuzz"

/* ---- the host: the hub's own table, with a fixed config ----------------- */

static const char *fake_string(const struct hub_instance *inst, const char *key)
{
	static const char *const values[][2] = {
		{"webhook_secret", SEG_SECRET},
		{"api_key", "mp_key_1"},
		{"api_secret", "mp_secret_1"},
		{"webhook_authorization", MP_WEBHOOK},
		{"gdpr_email_purpose", "email_marketing"},
		{"gdpr_sms_purpose", "sms_marketing"},
	};

	(void)inst;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		if (strcmp(key, values[i][0]) == 0)
			return values[i][1];
	return NULL;
}

static int64_t fake_int(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	(void)key;
	return 0;
}

static int fake_bool(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	(void)key;
	return 0;
}

static double fake_float(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	(void)key;
	return 0;
}

static size_t fake_list_size(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	if (strcmp(key, "environments") == 0)
		return 1; /* [production]: a development batch is skipped */
	return strcmp(key, "write_keys") == 0 ? 2 : 0;
}

static const char *fake_list_item(const struct hub_instance *inst, const char *key,
				  size_t index)
{
	(void)inst;
	if (strcmp(key, "environments") == 0)
		return index == 0 ? "production" : NULL;
	if (strcmp(key, "write_keys") != 0)
		return NULL;
	return index == 0 ? "another" : index == 1 ? "wk_fuzz" : NULL;
}

static const char *fake_json(const struct hub_instance *inst, const char *key)
{
	(void)inst;
	(void)key;
	return NULL;
}

static const char *fake_name(const struct hub_instance *inst)
{
	return inst ? inst->name : "fuzz";
}

static void fake_log(const struct hub_instance *inst, enum hub_log_level level,
		     const char *fmt, ...)
{
	(void)inst;
	(void)level;
	(void)fmt;
}

static struct hub_host fuzz_host; /* host_table() with the config above */

/* ---- the mounted routes ------------------------------------------------ */

struct fuzz_mount {
	const struct hub_plugin *plugin;
	struct hub_instance inst;
	int is_segment;
};

static struct fuzz_mount mounts[2];
/* the instances' modules, as the loader makes them: a route's answer the
 * hub cannot use is logged naming the plugin (note_bad_answer) */
static struct plugin_module modules[2] = {
	{.name = "segment", .desc = &segment_plugin, .admit = segment_admit},
	{.name = "mparticle", .desc = &mparticle_plugin, .admit = mparticle_admit},
};

struct fuzz_route {
	struct fuzz_mount *mount;
	const struct hub_route *route;
};

static struct fuzz_route routes[32];
static size_t n_routes;
static size_t first_route[2], n_mount_routes[2]; /* each mount's part of routes */
static struct metrics *metrics;
static atomic_int stop_flag;

static void fuzz_init(void)
{
	char err[256];

	log_set_level(HUB_LOG_ERROR);
	host_set_fixed_now_ms(FUZZ_NOW_MS);
	fuzz_host = *host_table();
	fuzz_host.log = fake_log;
	fuzz_host.config_string = fake_string;
	fuzz_host.config_int = fake_int;
	fuzz_host.config_bool = fake_bool;
	fuzz_host.config_float = fake_float;
	fuzz_host.config_list_size = fake_list_size;
	fuzz_host.config_list_item = fake_list_item;
	fuzz_host.config_json = fake_json;
	fuzz_host.instance_name = fake_name;

	mounts[0].plugin = &segment_plugin;
	mounts[0].inst.name = "web";
	mounts[0].is_segment = 1;
	mounts[1].plugin = &mparticle_plugin;
	mounts[1].inst.name = "mp";
	for (size_t m = 0; m < 2; m++) {
		mounts[m].inst.mod = &modules[m];
		if (mounts[m].plugin->create(&fuzz_host, &mounts[m].inst, &mounts[m].inst.state,
					     err, sizeof(err)) != HUB_OK)
			abort();
		first_route[m] = n_routes;
		for (const struct hub_route *r = mounts[m].plugin->routes; r->method; r++) {
			if (n_routes == sizeof(routes) / sizeof(routes[0]))
				abort();
			routes[n_routes].mount = &mounts[m];
			routes[n_routes].route = r;
			n_routes++;
		}
		if (!(n_mount_routes[m] = n_routes - first_route[m]))
			abort();
	}
	metrics = metrics_new();
	if (!metrics)
		abort();
}

/* ---- the request ------------------------------------------------------- */

struct fuzz_request {
	struct hub_request req;
	const char *authorization, *signature, *encoding, *content_type;
	char length[32];
	char sig_hex[41];
};

static const char *fuzz_header(const struct hub_request *req, const char *name)
{
	/* what the plugin holds is the host's copy of f.req (host_request_enter),
	 * so f is found as the server finds its own request: host_private */
	const struct fuzz_request *f = host_request_private(req, "header");

	if (!f)
		abort(); /* a header asked for outside its callback */

	if (strcasecmp(name, "Authorization") == 0)
		return f->authorization;
	if (strcasecmp(name, "X-Signature") == 0)
		return f->signature;
	if (strcasecmp(name, "Content-Encoding") == 0)
		return f->encoding;
	if (strcasecmp(name, "Content-Type") == 0)
		return f->content_type;
	if (strcasecmp(name, "Content-Length") == 0)
		return f->length[0] ? f->length : NULL;
	return NULL;
}

static void signature(const char *body, size_t len, char hex[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;

	hex[0] = '\0';
	HMAC(EVP_sha1(), SEG_SECRET, (int)strlen(SEG_SECRET), (const unsigned char *)body, len,
	     md, &md_len);
	for (unsigned i = 0; i < md_len && i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Compresses in[0..n) with zlib's window bits `wbits` (31 gzip, 15 zlib,
 * -15 raw), appending to *out (malloc'd).  Returns 0 or -1. */
static int compress_append(int wbits, const uint8_t *in, size_t n, uint8_t **out,
			   size_t *out_len)
{
	z_stream zs;
	size_t bound;
	uint8_t *p;
	int ret;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	bound = deflateBound(&zs, (uLong)n) + 32;
	p = realloc(*out, *out_len + bound);
	if (!p) {
		deflateEnd(&zs);
		return -1;
	}
	*out = p;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = p + *out_len;
	zs.avail_out = (uInt)bound;
	ret = deflate(&zs, Z_FINISH);
	*out_len += bound - zs.avail_out;
	deflateEnd(&zs);
	return ret == Z_STREAM_END ? 0 : -1;
}

/* The answer must be complete and JSON; a hub error has error.code. */
static void check_reply(const struct ingest_reply *r, int is_hub_error)
{
	json_t *doc;

	if (!r->body || r->status < 200 || r->status > 599)
		abort();
	for (const char *c = r->retry_after; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			abort();
	doc = json_loads(r->body, 0, NULL);
	if (!doc)
		abort();
	if (is_hub_error &&
	    !json_is_string(json_object_get(json_object_get(doc, "error"), "code")))
		abort();
	json_decref(doc);
}

/* Byte 0's route (the input's description above). */
static const struct fuzz_route *route_of(uint8_t byte)
{
	size_t m = byte >> 7;

	return &routes[first_route[m] + (byte & 0x7f) % n_mount_routes[m]];
}

static const char *const other_encodings[] = {"br", " X-GZIP ", "identity", "gzip, deflate"};

/* The credential headers of mode `auth` (byte 1 bits 4-5), there from the
 * request's start as a client sends them: admit() reads them before the
 * body.  A webhook's signature is the HMAC of the input's body here, and
 * of the body the plugin reads once it is inflated (credentials_sign). */
static void credentials_set(struct fuzz_request *f, const struct fuzz_route *fr, unsigned auth,
			    char *hvalue, const uint8_t *body, size_t body_len)
{
	int is_webhook = strcmp(fr->route->path, "/webhook") == 0;

	if (auth == 1) {
		f->authorization = hvalue;
		f->signature = hvalue;
	} else if (auth != 2) {
		if (!fr->mount->is_segment)
			f->authorization = is_webhook ? MP_WEBHOOK : MP_BASIC;
		else if (is_webhook) {
			signature((const char *)body, body_len, f->sig_hex);
			f->signature = f->sig_hex;
		} else
			f->authorization = SEG_BASIC;
	}
}

/* A valid webhook signature (mode 0 or 3) is the HMAC of the body the
 * plugin reads: the inflated one.  Raw bytes sent under gzip or deflate
 * (bit 2 clear) differ from it, and were refused as a wrong X-Signature. */
static void credentials_sign(struct fuzz_request *f)
{
	if (f->signature == f->sig_hex)
		signature(f->req.body, f->req.body_len, f->sig_hex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ingest_env env;
	struct fuzz_request f;
	struct ingest_body b;
	struct ingest_reply r = {0};
	struct ingest_pending *pending = NULL;
	const struct fuzz_route *fr;
	enum ingest_encoding enc;
	unsigned flags, flags2, enc_sel, auth, outcome, k;
	size_t limit, hlen, chunk, body_len, sent_len = 0;
	const uint8_t *body;
	uint8_t *packed = NULL;
	const uint8_t *sent;
	char *hvalue = NULL, *decoded = NULL;
	size_t decoded_len = 0;
	int rc;

	if (!n_routes)
		fuzz_init();
	if (size < 4)
		return 0;
	fr = route_of(data[0]);
	flags = data[1];
	flags2 = data[2];
	hlen = data[3];
	if (hlen > size - 4)
		hlen = size - 4;
	body = data + 4 + hlen;
	body_len = size - 4 - hlen;
	enc_sel = flags & 3;
	auth = (flags >> 4) & 3;
	limit = (flags & 0x40) ? FUZZ_SMALL_LIMIT : FUZZ_LIMIT;
	outcome = (flags2 >> 2) & 3;
	k = flags2 >> 4;
	chunk = k ? 7u * k * k : (size_t)-1;

	memset(&env, 0, sizeof(env));
	env.metrics = metrics;
	env.stop = &stop_flag;

	memset(&f, 0, sizeof(f));
	f.req.method = fr->route->method;
	f.req.path = fr->route->path;
	f.req.header = fuzz_header;
	f.req.host_private = &f;
	f.content_type = "application/json";
	f.encoding = enc_sel == 0   ? NULL
		     : enc_sel == 1 ? "gzip"
		     : enc_sel == 2 ? "deflate"
				    : other_encodings[flags2 & 3];
	hvalue = strndup((const char *)data + 4, hlen); /* a header holds no NUL */
	if (!hvalue)
		return 0;

	/* headers in (http_request.c route_ingest): the plugin's admit() with no
	 * body yet, 415, then 413 on Content-Length */
	credentials_set(&f, fr, auth, hvalue, body, body_len);
	f.req.body = "";
	f.req.body_len = 0;
	if (ingest_admit(&fr->mount->inst, fr->route, &f.req, &r)) {
		check_reply(&r, 0);
		/* good credentials are never refused before the body: else no
		 * input would reach the plugin's reading of it */
		if (auth != 1 && auth != 2 && (r.status == 401 || r.status == 403))
			abort();
		goto out;
	}
	if (ingest_encoding_parse(f.encoding, &enc)) {
		ingest_reply_error(&r, 415, "unsupported_encoding",
				   "Content-Encoding must be gzip, deflate or identity");
		check_reply(&r, 1);
		goto out;
	}
	sent = body;
	sent_len = body_len;
	if ((flags & 4) && enc != INGEST_IDENTITY) {
		int bad;
		sent_len = 0;
		if (enc == INGEST_GZIP && (flags & 8)) {
			bad = compress_append(31, body, body_len / 2, &packed, &sent_len) ||
			      compress_append(31, body + body_len / 2, body_len - body_len / 2,
					      &packed, &sent_len);
		} else {
			bad = compress_append(enc == INGEST_GZIP ? 31 : (flags & 8) ? -15 : 15,
					      body, body_len, &packed, &sent_len);
		}
		if (bad)
			goto out;
		sent = packed;
	}
	if (flags & 0x80) {
		snprintf(f.length, sizeof(f.length), "%zu", sent_len);
		if (sent_len > limit) {
			ingest_reply_error(&r, 413, "body_too_large", "the body is too large");
			check_reply(&r, 1);
			goto out;
		}
	}
	if (ingest_body_init(&b, limit, (flags & 0x80) ? sent_len : 0))
		goto out;

	/* the body, as libmicrohttpd hands it over */
	for (size_t off = 0; off < sent_len;) {
		size_t n = sent_len - off < chunk ? sent_len - off : chunk;
		rc = ingest_body_append(&b, (const char *)sent + off, n);
		off += n;
		if (rc < 0) {
			/* the server closes the connection: no answer */
			if (!b.is_too_large)
				abort(); /* not out of memory while fuzzing */
			ingest_body_free(&b);
			goto out;
		}
	}
	if (b.is_too_large) {
		if (sent_len <= limit)
			abort();
		ingest_reply_error(&r, 413, "body_too_large", "the body is too large");
		check_reply(&r, 1);
		ingest_body_free(&b);
		goto out;
	}
	if (b.len != sent_len || (sent_len && memcmp(b.data, sent, sent_len) != 0))
		abort();

	/* the body's end (http_request.c run_ingest) */
	f.req.body = b.data ? b.data : "";
	f.req.body_len = b.len;
	if (enc != INGEST_IDENTITY) {
		if (ingest_inflate(enc, f.req.body, f.req.body_len, limit, &decoded, &decoded_len,
				   &r)) {
			if (r.status != 413 && r.status != 400)
				abort();
			/* a valid stream is refused only for its size */
			if ((flags & 4) && (r.status != 413 || body_len <= limit))
				abort();
			check_reply(&r, 1);
			ingest_body_free(&b);
			goto out;
		}
		if ((flags & 4) &&
		    (decoded_len != body_len || memcmp(decoded, body, body_len) != 0))
			abort();
		f.req.body = decoded;
		f.req.body_len = decoded_len;
	}
	credentials_sign(&f);
	rc = ingest_run(&env, &fr->mount->inst, fr->route, &f.req, &r, &pending);
	hub_free(decoded);
	ingest_body_free(&b);
	/* good credentials are refused neither before the body nor after */
	if (auth != 1 && auth != 2 && (r.status == 401 || r.status == 403))
		abort();
	if (rc == 1) {
		static const hub_rc outcomes[] = {HUB_OK, HUB_OK, HUB_ERR_BUSY, HUB_RETRY};
		if (!pending || pending->batch.n_records == 0)
			abort();
		for (size_t i = 0; i < pending->batch.n_records; i++)
			if (!pending->batch.records[i])
				abort();
		/* no intake: the commit's outcome comes from the input */
		ingest_pending_finish(pending, outcomes[outcome], &r);
		check_reply(&r, outcomes[outcome] != HUB_OK);
		if (outcomes[outcome] == HUB_OK && (r.status < 200 || r.status > 299))
			abort();
	} else {
		if (pending)
			abort();
		check_reply(&r, 0);
	}
out:
	ingest_reply_free(&r);
	free(packed);
	free(hvalue);
	return 0;
}
