/*
 * crash_load.c - the load of tests/integration/crash_http.sh: one thread per
 * ingestion route (Segment /v1/batch, /v1/track, signed /webhook; mParticle
 * /v2/events, /v2/bulkevents, /webhook) sends requests with unique message
 * IDs to a hub that is being killed and restarted under it.
 *
 *     crash_load --base http://127.0.0.1:PORT --out DIR
 *     env: CRASH_SEG_KEY CRASH_SEG_WEBHOOK CRASH_MP_KEY CRASH_MP_SECRET CRASH_MP_WEBHOOK
 *
 * A thread sends its requests one after the other, each until it is
 * acknowledged (2xx), like a client with a retry queue: a refused
 * connection, a reset, an empty reply, 429 or 503 is retried with the same
 * body (same message IDs), so what a killed hub committed without answering
 * comes back as duplicates.  Every acknowledged request's records are
 * appended, in acknowledgement order, to DIR/acked_segment.jsonl (Segment
 * events, for `import --format segment`) or DIR/acked_mparticle.jsonl
 * (mParticle batches, for `import --format mparticle`), and the message IDs
 * of its events to DIR/acked_events.txt.
 *
 * Each thread has users of its own (names carry the thread), so the order
 * between threads changes nothing in the profiles; within a thread a
 * request is acknowledged before the next is sent.
 *
 * SIGTERM: no new request; the one in progress is retried until
 * acknowledged (at most STOP_GRACE_MS more), then a summary line and exit 0,
 * or 1 if a request was refused with another status or abandoned.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USERS_PER_THREAD 40
#define STOP_GRACE_MS 20000
#define REQUEST_TIMEOUT_MS 10000
#define BASE_MS 1780272000000LL /* 2026-06-01T00:00:00Z: events lie in the past */

enum route { SEG_BATCH, SEG_TRACK, SEG_WEBHOOK, MP_EVENTS, MP_BULK, MP_WEBHOOK, N_ROUTES };

static const char *const route_path[N_ROUTES] = {
	"/in/web/v1/batch", "/in/web/v1/track", "/in/web/webhook",
	"/in/mp/v2/events", "/in/mp/v2/bulkevents", "/in/mp/webhook",
};

/* A growing text buffer; on no memory the program stops (a test tool). */
struct text {
	char *s;
	size_t len, cap;
};

static void text_printf(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = t->cap - t->len;
		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			fprintf(stderr, "crash_load: vsnprintf failed\n");
			exit(2);
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap ? 2 * t->cap + (size_t)n : 4096 + (size_t)n;
		t->s = realloc(t->s, t->cap);
		if (!t->s) {
			fprintf(stderr, "crash_load: out of memory\n");
			exit(2);
		}
	}
}

static void text_reset(struct text *t)
{
	t->len = 0;
	if (t->s)
		t->s[0] = '\0';
}

/* ---- shared state ----------------------------------------------------- */

/* Set by on_stop, read by every worker: an atomic, not a volatile
 * sig_atomic_t, which only holds between a handler and the thread it
 * interrupted (a lock-free atomic may be written from a handler, C11 7.14.1.1). */
static atomic_int stop_requested;

static struct {
	const char *base, *seg_key, *seg_webhook, *mp_key, *mp_secret, *mp_webhook;
	FILE *segment, *mparticle, *events; /* under lock */
	pthread_mutex_t lock;
	long acked, n_events;                /* under lock */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static atomic_long n_transport, n_busy, n_refused, n_abandoned, n_attempts;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L};

	nanosleep(&ts, NULL);
}

static void iso_time(int64_t ms, char out[64])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* ---- one request ------------------------------------------------------ */

/* What a request sends, and what its acknowledgement records. */
struct request {
	struct text body;
	struct text lines;  /* replay lines (events or batches), '\n' after each */
	struct text ids;    /* message IDs of its events, '\n' after each */
	long n_events;      /* its events (identifies are not counted) */
	char auth[512];     /* an extra header, or "" */
};

/* One Segment event of thread w, request k, item i (type "identify", "anon":
 * an anonymous track, or "track"); its text goes to the body (after `sep`)
 * and to the replay lines. */
static void seg_event(struct request *rq, const char *sep, int w, long k, int i,
		      const char *type)
{
	long u = k % USERS_PER_THREAD, install = k / USERS_PER_THREAD / 4;
	struct text ev = {0};
	char ts[64];

	iso_time(BASE_MS + k * 1000 + i * 10 + w, ts);
	text_printf(&ev,
		    "{\"type\":\"%s\",\"messageId\":\"crash-w%d-r%ld-e%d\",\"timestamp\":\"%s\",",
		    strcmp(type, "identify") == 0 ? "identify" : "track", w, k, i, ts);
	if (strcmp(type, "identify") == 0) {
		text_printf(&ev, "\"userId\":\"w%d-u%ld\",\"anonymousId\":\"w%d-a%ld-%ld\",", w, u,
			    w, u, install);
		text_printf(&ev, "\"traits\":{\"email\":\"w%du%ld@example.com\",\"plan\":\"p%ld\","
			    "\"visits\":%ld},", w, u, k % 5, k);
		text_printf(&ev, "\"context\":{\"os\":{\"name\":\"iOS\"},\"locale\":\"fr-FR\"}}");
	} else if (strcmp(type, "anon") == 0) {
		text_printf(&ev, "\"anonymousId\":\"w%d-a%ld-%ld\",\"event\":\"Viewed\",", w, u,
			    install);
		text_printf(&ev,
			    "\"properties\":{\"k\":%ld},\"context\":{\"os\":{\"name\":\"iOS\"}}}",
			    k);
	} else {
		text_printf(&ev, "\"userId\":\"w%d-u%ld\",\"event\":\"Bought\",", w, u);
		text_printf(&ev, "\"properties\":{\"k\":%ld,\"total\":%ld.5}}", k, k % 100);
	}
	text_printf(&rq->body, "%s%s", sep, ev.s);
	text_printf(&rq->lines, "%s\n", ev.s);
	if (strcmp(type, "identify") != 0) {
		text_printf(&rq->ids, "crash-w%d-r%ld-e%d\n", w, k, i);
		rq->n_events++;
	}
	free(ev.s);
}

/* One mParticle event of a batch: a custom event (i == 0) or a screen
 * view, with its message ID where the form puts it. */
static void mp_event(struct text *b, const char *id, int i, int64_t t, long k, int is_webhook)
{
	text_printf(b, "%s{\"event_type\":\"%s\",", i ? "," : "",
		    i ? "screen_view" : "custom_event");
	if (is_webhook)
		text_printf(b, "\"message_id\":\"%s\",\"data\":{", id);
	else
		text_printf(b, "\"data\":{\"source_message_id\":\"%s\",", id);
	if (i)
		text_printf(b, "\"screen_name\":\"Home\",");
	else
		text_printf(b, "\"event_name\":\"Played\",\"custom_event_type\":\"other\",");
	text_printf(b, "\"timestamp_unixtime_ms\":%lld,\"custom_attributes\":{\"k\":%ld}}}",
		    (long long)t, k);
}

/* One mParticle batch of thread w, request k, batch j, in the Events API
 * form or the webhook form (identities as an array, message_id on events);
 * one in three is anonymous (the device ID only). */
static void mp_batch(struct request *rq, const char *sep, int w, long k, int j, int is_webhook)
{
	long u = k % USERS_PER_THREAD, install = k / USERS_PER_THREAD / 4;
	int64_t t = BASE_MS + k * 1000 + j * 100 + w;
	struct text b = {0};

	text_printf(&b,
		    "{\"environment\":\"production\",\"source_request_id\":\"crash-w%d-r%ld-b%d\",",
		    w, k, j);
	text_printf(&b,
		    "\"mp_deviceid\":\"w%d-d%ld-%ld\",\"device_info\":{\"platform\":\"Android\"},",
		    w, u, install);
	text_printf(&b, "\"timestamp_unixtime_ms\":%lld,", (long long)t + 50);
	if (k % 3 == 1)
		text_printf(&b, "\"user_identities\":%s,", is_webhook ? "[]" : "{}");
	else if (is_webhook)
		text_printf(&b, "\"user_identities\":[{\"identity_type\":\"customer_id\","
			    "\"identity\":\"w%d-u%ld\"}],", w, u);
	else
		text_printf(&b, "\"user_identities\":{\"customer_id\":\"w%d-u%ld\"},", w, u);
	if (k % 2 == 0)
		text_printf(&b,
			    "\"user_attributes\":{\"plan\":\"p%ld\",\"Favorite Color\":\"c%ld\"},",
			    k % 5, k % 7);
	text_printf(&b, "\"events\":[");
	for (int i = 0; i < 2; i++) {
		char id[96];
		snprintf(id, sizeof(id), "crash-w%d-r%ld-b%d-e%d", w, k, j, i);
		mp_event(&b, id, i, t + i, k, is_webhook);
		text_printf(&rq->ids, "%s\n", id);
	}
	text_printf(&b, "]}");
	text_printf(&rq->body, "%s%s", sep, b.s);
	text_printf(&rq->lines, "%s\n", b.s);
	rq->n_events += 2;
	free(b.s);
}

static void hmac_sha1_hex(const char *key, const char *data, size_t len, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;

	HMAC(EVP_sha1(), key, (int)strlen(key), (const unsigned char *)data, len, md, &md_len);
	for (unsigned i = 0; i < md_len && i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void request_build(struct request *rq, enum route r, int w, long k)
{
	text_reset(&rq->body);
	text_reset(&rq->lines);
	text_reset(&rq->ids);
	rq->n_events = 0;
	rq->auth[0] = '\0';
	switch (r) {
	case SEG_BATCH:
		text_printf(&rq->body, "{\"batch\":[");
		seg_event(rq, "", w, k, 0, "anon");
		seg_event(rq, ",", w, k, 1, "identify");
		seg_event(rq, ",", w, k, 2, "track");
		text_printf(&rq->body, "]}");
		break;
	case SEG_TRACK:
		seg_event(rq, "", w, k, 0, k % 4 == 0 ? "anon" : "track");
		break;
	case SEG_WEBHOOK: {
		char sig[41] = "";
		text_printf(&rq->body, "[");
		seg_event(rq, "", w, k, 0, "track");
		if (k % 2)
			seg_event(rq, ",", w, k, 1, "identify");
		text_printf(&rq->body, "]");
		hmac_sha1_hex(g.seg_webhook, rq->body.s, rq->body.len, sig);
		snprintf(rq->auth, sizeof(rq->auth), "X-Signature: %s", sig);
		break;
	}
	case MP_EVENTS:
		mp_batch(rq, "", w, k, 0, 0);
		break;
	case MP_BULK:
		text_printf(&rq->body, "[");
		mp_batch(rq, "", w, k, 0, 0);
		mp_batch(rq, ",", w, k, 1, 0);
		text_printf(&rq->body, "]");
		break;
	case MP_WEBHOOK:
		mp_batch(rq, "", w, k, 0, 1);
		snprintf(rq->auth, sizeof(rq->auth), "Authorization: %s", g.mp_webhook);
		break;
	case N_ROUTES:
		break;
	}
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

/* One attempt: the HTTP status, or 0 when no answer came. */
static long request_send(CURL *c, const struct request *rq, enum route r)
{
	struct curl_slist *hdr = NULL;
	char url[512];
	long status = 0;
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", g.base, route_path[r]);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	if (rq->auth[0])
		hdr = curl_slist_append(hdr, rq->auth);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body.s);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)rq->body.len);
	curl_easy_setopt(c, CURLOPT_USERPWD, NULL);
	if (r == SEG_BATCH || r == SEG_TRACK) {
		char up[300];
		snprintf(up, sizeof(up), "%s:", g.seg_key);
		curl_easy_setopt(c, CURLOPT_USERPWD, up);
	} else if (r == MP_EVENTS || r == MP_BULK) {
		char up[600];
		snprintf(up, sizeof(up), "%s:%s", g.mp_key, g.mp_secret);
		curl_easy_setopt(c, CURLOPT_USERPWD, up);
	}
	atomic_fetch_add(&n_attempts, 1);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	return status;
}

static void request_acked(const struct request *rq, enum route r)
{
	FILE *f = r <= SEG_WEBHOOK ? g.segment : g.mparticle;

	pthread_mutex_lock(&g.lock);
	fwrite(rq->lines.s, 1, rq->lines.len, f);
	fwrite(rq->ids.s, 1, rq->ids.len, g.events);
	g.acked++;
	g.n_events += rq->n_events;
	fflush(f); /* the script watches the acknowledgements grow */
	fflush(g.events);
	pthread_mutex_unlock(&g.lock);
}

struct worker {
	pthread_t thread;
	int id;
	enum route route;
	long sent;
};

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct request rq;
	CURL *c = curl_easy_init();

	memset(&rq, 0, sizeof(rq));
	if (!c) {
		fprintf(stderr, "crash_load: curl_easy_init failed\n");
		exit(2);
	}
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	for (long k = 0; !atomic_load(&stop_requested); k++) {
		int64_t deadline = 0;
		long backoff = 5;

		request_build(&rq, wk->route, wk->id, k);
		for (;;) {
			long status = request_send(c, &rq, wk->route);

			if (status >= 200 && status <= 299) {
				request_acked(&rq, wk->route);
				break;
			}
			if (status == 0)
				atomic_fetch_add(&n_transport, 1);
			else if (status == 429 || status == 503)
				atomic_fetch_add(&n_busy, 1);
			else {
				atomic_fetch_add(&n_refused, 1);
				fprintf(stderr, "crash_load: %s answered %ld to request %ld\n",
					route_path[wk->route], status, k);
				break; /* a bug, not a crash: the script fails on it */
			}
			if (atomic_load(&stop_requested) && !deadline)
				deadline = mono_ms() + STOP_GRACE_MS;
			if (deadline && mono_ms() > deadline) {
				atomic_fetch_add(&n_abandoned, 1);
				fprintf(stderr, "crash_load: %s request %ld abandoned\n",
					route_path[wk->route], k);
				break;
			}
			sleep_ms(backoff);
			if (backoff < 100)
				backoff *= 2;
		}
		wk->sent = k + 1;
	}
	free(rq.body.s);
	free(rq.lines.s);
	free(rq.ids.s);
	curl_easy_cleanup(c);
	return NULL;
}

static void on_stop(int sig)
{
	(void)sig;
	atomic_store(&stop_requested, 1);
}

static FILE *out_open(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	return f;
}

static const char *env_need(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v) {
		fprintf(stderr, "crash_load: %s is not set\n", name);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct worker wk[N_ROUTES];
	struct sigaction sa;
	const char *out = NULL;
	int rc = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--base") == 0)
			g.base = argv[i + 1];
		else if (strcmp(argv[i], "--out") == 0)
			out = argv[i + 1];
	}
	if (!g.base || !out) {
		fprintf(stderr, "usage: crash_load --base http://127.0.0.1:PORT --out DIR\n");
		return 2;
	}
	g.seg_key = env_need("CRASH_SEG_KEY");
	g.seg_webhook = env_need("CRASH_SEG_WEBHOOK");
	g.mp_key = env_need("CRASH_MP_KEY");
	g.mp_secret = env_need("CRASH_MP_SECRET");
	g.mp_webhook = env_need("CRASH_MP_WEBHOOK");
	g.segment = out_open(out, "acked_segment.jsonl");
	g.mparticle = out_open(out, "acked_mparticle.jsonl");
	g.events = out_open(out, "acked_events.txt");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 2;
	for (int i = 0; i < N_ROUTES; i++) {
		wk[i].id = i;
		wk[i].route = (enum route)i;
		wk[i].sent = 0;
		if (pthread_create(&wk[i].thread, NULL, worker_main, &wk[i]) != 0) {
			fprintf(stderr, "crash_load: pthread_create failed\n");
			return 2;
		}
	}
	for (int i = 0; i < N_ROUTES; i++)
		pthread_join(wk[i].thread, NULL);
	fclose(g.segment);
	fclose(g.mparticle);
	fclose(g.events);
	curl_global_cleanup();

	printf("crash_load: %ld requests acknowledged (%ld events) in %ld attempts; "
	       "%ld without an answer, %ld busy (429/503), %ld refused, %ld abandoned; per route:",
	       g.acked, g.n_events, atomic_load(&n_attempts), atomic_load(&n_transport),
	       atomic_load(&n_busy), atomic_load(&n_refused), atomic_load(&n_abandoned));
	for (int i = 0; i < N_ROUTES; i++)
		printf(" %s %ld", route_path[i], wk[i].sent);
	printf("\n");
	if (atomic_load(&n_refused) || atomic_load(&n_abandoned))
		rc = 1;
	return rc;
}
