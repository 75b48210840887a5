/*
 * http_helpers.c - the world, the curl client and the raw sockets the HTTP
 * server's unit tests share (see http_helpers.h).  Nothing here is a test.
 */
#include "http_helpers.h"
#include "testlib.h"
#include "teststore.h"

#include "../../hub/export_int.h"
#include "../../hub/log.h"
#include "../../hub/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the world -------------------------------------------------------- */

/* The API of w, its export routes those of w->ex when it has one. */
static void world_api_open(struct world *w)
{
	struct api_providers providers = {
		.exports_status = export_status_provider, .export_backfill = export_backfill_provider,
		.export_retry = export_retry_provider, .export_enable = export_enable_provider,
		.ctx = w->ex};
	char err[512] = "";

	CU_ASSERT_EQUAL_FATAL(api_open(&w->api, w->th->cfg, w->th->intake,
				       w->ex ? &providers : NULL, err, sizeof(err)), 0);
}

void world_start_plugin(struct world *w, const char *plugin, int max_body, int with_api,
			const char *http_extra, const char *extra)
{
	struct http_context *ctx = &w->ctx;
	const char *threads =
		http_extra && strstr(http_extra, "  threads:") ? "" : "  threads: 2\n";
	char *so, *yaml;
	char err[1024] = "";

	memset(w, 0, sizeof(*w));
	CU_ASSERT_FATAL(asprintf(&yaml,
				 "http:\n"
				 "  listen: 127.0.0.1:0\n"
				 "  max_body: %d\n"
				 "%s"
				 "%s"
				 "sources:\n"
				 "  - name: web\n"
				 "    plugin: %s\n"
				 "%s",
				 max_body, threads, http_extra ? http_extra : "", plugin,
				 extra ? extra : "") > 0);
	w->th = testhub_start(yaml);
	free(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->th);
	CU_ASSERT_FATAL(asprintf(&so, "%s/plugins/%s.so", testlib_build_dir(), plugin) > 0);
	if (access(so, F_OK) != 0) {
		free(so);
		CU_ASSERT_FATAL(asprintf(&so, "%s/tests/plugins/%s.so", testlib_build_dir(),
					 plugin) > 0);
	}
	CU_ASSERT_EQUAL_FATAL(plugin_load(so, &w->mod, err, sizeof(err)), 0);
	free(so);
	CU_ASSERT_EQUAL_FATAL(plugin_instance_create(&w->mod, &w->th->cfg->sources[0], &w->inst,
						     err, sizeof(err)), 0);
	ctx->cfg = w->th->cfg;
	ctx->intake = w->th->intake;
	ctx->push = &w->inst;
	ctx->n_push = 1;
	if (with_api == WORLD_API_EXPORTING)
		CU_ASSERT_EQUAL_FATAL(export_start(&w->ex, w->th->cfg, err, sizeof(err)), 0);
	if (with_api) {
		world_api_open(w);
		ctx->api = w->api;
	}
	if (http_start(&w->srv, ctx, err, sizeof(err)))
		fprintf(stderr, "http_start: %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->srv);
	w->port = http_port(w->srv);
	CU_ASSERT_FATAL(w->port > 0);
}

void world_start(struct world *w, int max_body, int with_api, const char *http_extra,
		 const char *extra)
{
	world_start_plugin(w, "echo_push", max_body, with_api, http_extra, extra);
}

void world_open(struct world *w, const char *http_extra, const char *extra)
{
	world_start(w, MAX_BODY, 0, http_extra, extra);
}

void world_close(struct world *w)
{
	http_stop(w->srv);
	api_close(w->api);
	export_stop(w->ex);
	plugin_instance_destroy(w->inst);
	testhub_stop(w->th);
	plugin_unload(&w->mod);
}

size_t world_profiles(struct world *w)
{
	json_t *all = testhub_dump(w->th, 0);
	size_t n = json_array_size(all);

	json_decref(all);
	return n;
}

int world_has_ident(struct world *w, const char *type, const char *value)
{
	json_t *all = testhub_dump(w->th, 0), *doc;
	size_t i;
	int found = 0;

	json_array_foreach(all, i, doc) {
		json_t *ids = json_object_get(json_object_get(doc, "identifiers"), type);
		json_t *v;
		size_t j;
		json_array_foreach(ids, j, v)
			found |= json_is_string(v) && strcmp(json_string_value(v), value) == 0;
	}
	json_decref(all);
	return found;
}

int world_has_installation(struct world *w, const char *iid)
{
	return world_has_ident(w, "installation_id", iid);
}

int world_hold_writer(struct world *w)
{
	if (teststore_is_pg())
		return (w->writer_hold = teststore_hold_writes(w->th->schema)) ? 0 : -1;
	return w->th->reader->ops->begin(w->th->reader);
}

int world_release_writer(struct world *w)
{
	void *hold = w->writer_hold;

	w->writer_hold = NULL;
	if (teststore_is_pg())
		return teststore_release_writes(hold);
	return w->th->reader->ops->rollback(w->th->reader);
}

int wait_until(int (*cond)(void *), void *arg)
{
	int64_t until = time_mono_ms() + WAIT_MS;
	struct timespec pause = {0, 2 * 1000 * 1000};

	while (!cond(arg)) {
		if (time_mono_ms() > until)
			return 0;
		nanosleep(&pause, NULL);
	}
	return 1;
}

/* ---- a curl client ---------------------------------------------------- */

struct upload {
	const char *data;
	size_t len, pos;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t k = size * n, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, p, k < room ? k : room);
	r->len += k < room ? k : room;
	r->body[r->len] = '\0';
	return k;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t size)
{
	size_t n = strlen(name), v;

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return;
	line += n + 1;
	len -= n + 1;
	while (len && *line == ' ')
		line++, len--;
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	v = len < size - 1 ? len : size - 1;
	memcpy(out, line, v);
	out[v] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;

	header_value(p, size * n, "Retry-After", r->retry_after, sizeof(r->retry_after));
	header_value(p, size * n, "Allow", r->allow, sizeof(r->allow));
	header_value(p, size * n, "Content-Type", r->content_type, sizeof(r->content_type));
	header_value(p, size * n, "Cache-Control", r->cache_control, sizeof(r->cache_control));
	header_value(p, size * n, "X-Content-Type-Options", r->nosniff, sizeof(r->nosniff));
	header_value(p, size * n, "Access-Control-Allow-Origin", r->acao, sizeof(r->acao));
	header_value(p, size * n, "Access-Control-Allow-Methods", r->acam, sizeof(r->acam));
	header_value(p, size * n, "Access-Control-Allow-Headers", r->acah, sizeof(r->acah));
	header_value(p, size * n, "Access-Control-Max-Age", r->max_age, sizeof(r->max_age));
	header_value(p, size * n, "Access-Control-Expose-Headers", r->expose, sizeof(r->expose));
	header_value(p, size * n, "Vary", r->vary, sizeof(r->vary));
	return size * n;
}

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t k = size * n, left = u->len - u->pos;

	if (k > left)
		k = left;
	memcpy(p, u->data + u->pos, k);
	u->pos += k;
	return k;
}

void http_do(int port, const char *method, const char *path, const char *body, size_t len,
	     int chunked, const char *const *headers, struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct upload up = {body, len, 0};
	char url[512];
	int is_expecting = 0;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	/* no 100-continue wait unless the caller asks for one: curl obeys the
	 * first Expect header of the list, so an "Expect:" before the caller's
	 * "Expect: 100-continue" would send the body at once (and a refusal
	 * answered from the headers then races the upload: a reset) */
	for (size_t i = 0; headers && headers[i]; i++)
		if (strncasecmp(headers[i], "Expect:", 7) == 0)
			is_expecting = 1;
	if (!is_expecting)
		hl = curl_slist_append(hl, "Expect:");
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	if (is_expecting) /* wait for the answer to the headers, however slow */
		curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 20000L);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (body && chunked) {
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	    !(strcmp(method, "POST") == 0 && body))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
}

void post(struct world *w, const char *path, const char *body, struct resp *r)
{
	http_do(w->port, "POST", path, body, strlen(body), 0, NULL, r);
}

const char *error_code(const struct resp *r, char *buf, size_t size)
{
	json_t *o = json_loads(r->body, 0, NULL);
	const char *code = json_string_value(json_object_get(json_object_get(o, "error"), "code"));

	snprintf(buf, size, "%s", code ? code : "");
	json_decref(o);
	return buf;
}

/* ---- raw sockets (clients that misbehave) ----------------------------- */

int raw_connect(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

size_t raw_read_all(int fd, char *buf, size_t size, int ms, int *closed)
{
	int64_t until = time_mono_ms() + ms;
	size_t len = 0;

	*closed = 0;
	buf[0] = '\0';
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		int64_t left = until - time_mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, buf + len, size - 1 - len, 0);
		if (n <= 0) {
			*closed = n == 0 || errno == ECONNRESET;
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (len == size - 1)
			break;
	}
	return len;
}

static enum hub_log_level saved_level;

int http_suite_init(void)
{
	saved_level = log_get_level();
	log_set_level(HUB_LOG_WARN); /* no "routes under /in/web/" per test */
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

int http_suite_clean(void)
{
	curl_global_cleanup();
	log_set_level(saved_level);
	return 0;
}
