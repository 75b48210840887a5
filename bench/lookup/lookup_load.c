/*
 * lookup_load.c - the load generator of bench/lookup: profile lookups over
 * HTTP/1.1 keep-alive against a running hub, closed loop, and their rate
 * and latency percentiles.
 *
 *   lookup_load --port P --token T --by custom_id|email --users N
 *               [--connections C] [--seconds S] [--warmup S] [--seed N]
 *
 * Each connection is one thread with one blocking socket on 127.0.0.1 and
 * one request in flight: GET /v1/profiles?<by>=<a random user's value>.
 * Keys are uniform over the N users the bench imported (custom_id "u<i>",
 * email "u<i>@bench.example").  Every answer must be 200 with exactly one
 * profile; anything else counts as an error, and only in `errors`: the
 * requests, rate and latencies are of good answers alone.  Latency is
 * measured from the first byte written to the last byte read, kept per
 * request (no histogram buckets) and sorted at the end.
 *
 * Prints one line:
 *   by=custom_id requests=... seconds=... rps=... p50_ms=... p90_ms=...
 *   p99_ms=... max_ms=... errors=... connections=...
 * Loopback only: it connects to 127.0.0.1 and nothing else.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 256
#define RESPONSE_MAX (1 << 20)

struct options {
	int port;
	const char *token;
	const char *by;
	long users;
	int connections;
	double seconds, warmup;
	unsigned long seed;
};

struct worker {
	const struct options *opt;
	int id;
	uint64_t rng;
	double *lat_ms; /* this worker's measured latencies */
	size_t n_lat, cap_lat;
	long errors;
	char first_error[200];
	pthread_t thread;
};

static atomic_int phase; /* 0 warm-up, 1 measuring, 2 stop */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int connect_hub(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct timeval limit = {.tv_sec = 10}; /* a stalled hub: an error, not a hang */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one response (headers + Content-Length body) into buf; returns the
 * status, or -1 on a broken connection.  *body points into buf. */
static int read_response(int fd, char *buf, size_t size, const char **body, size_t *body_len)
{
	size_t have = 0, need = 0;
	char *end = NULL;
	while (!end) {
		ssize_t r = read(fd, buf + have, size - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end && have >= size - 1)
			return -1;
	}
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	if (!cl || cl > end)
		return -1;
	need = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
	if (need >= size)
		return -1;
	while (have < need) {
		ssize_t r = read(fd, buf + have, need - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	buf[have] = '\0';
	*body = end + 4;
	*body_len = need - (size_t)(end + 4 - buf);
	return atoi(buf + 9); /* "HTTP/1.1 200" */
}

static void note_error(struct worker *w, const char *what)
{
	if (!w->errors++)
		snprintf(w->first_error, sizeof(w->first_error), "%s", what);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	const struct options *o = w->opt;
	char *buf = malloc(RESPONSE_MAX);
	char req[1024];
	int fd = -1;

	if (!buf)
		return NULL;
	while (atomic_load(&phase) < 2) {
		long user = (long)(xorshift(&w->rng) % (uint64_t)o->users);
		const char *body;
		size_t body_len;
		int n, status;
		double t0, dt;

		if (fd < 0 && (fd = connect_hub(o->port)) < 0) {
			note_error(w, "connect failed");
			usleep(10000);
			continue;
		}
		if (strcmp(o->by, "email") == 0)
			n = snprintf(req, sizeof(req),
				     "GET /v1/profiles?email=u%ld%%40bench.example HTTP/1.1\r\n"
				     "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n",
				     user, o->token);
		else
			n = snprintf(req, sizeof(req),
				     "GET /v1/profiles?%s=u%ld HTTP/1.1\r\n"
				     "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n",
				     o->by, user, o->token);
		t0 = now_s();
		if (write_all(fd, req, (size_t)n) ||
		    (status = read_response(fd, buf, RESPONSE_MAX, &body, &body_len)) < 0) {
			note_error(w, "connection broken");
			close(fd);
			fd = -1;
			continue;
		}
		dt = (now_s() - t0) * 1000.0;
		if (status != 200 || !memmem(body, body_len, "\"profile_id\"", 12)) {
			char what[160];
			snprintf(what, sizeof(what), "HTTP %d: %.100s", status, body);
			note_error(w, what);
			continue;
		}
		if (atomic_load(&phase) != 1)
			continue;
		if (w->n_lat == w->cap_lat) {
			size_t cap = w->cap_lat ? w->cap_lat * 2 : 65536;
			double *p = realloc(w->lat_ms, cap * sizeof(*p));
			if (!p)
				break;
			w->lat_ms = p;
			w->cap_lat = cap;
		}
		w->lat_ms[w->n_lat++] = dt;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: lookup_load --port P --token T --by custom_id|email --users N\n"
		"                   [--connections C] [--seconds S] [--warmup S] [--seed N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct options o = {.connections = 16, .seconds = 20, .warmup = 2, .seed = 1};
	static struct worker workers[MAX_CONNECTIONS];
	double *all, t_start, elapsed;
	size_t n_all = 0;
	long errors = 0;
	const char *first_error = NULL;

	for (int i = 1; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(k, "--port"))
			o.port = atoi(v);
		else if (!strcmp(k, "--token"))
			o.token = v;
		else if (!strcmp(k, "--by"))
			o.by = v;
		else if (!strcmp(k, "--users"))
			o.users = atol(v);
		else if (!strcmp(k, "--connections"))
			o.connections = atoi(v);
		else if (!strcmp(k, "--seconds"))
			o.seconds = atof(v);
		else if (!strcmp(k, "--warmup"))
			o.warmup = atof(v);
		else if (!strcmp(k, "--seed"))
			o.seed = strtoul(v, NULL, 10);
		else
			usage();
		i++;
	}
	if (o.port <= 0 || !o.token || !o.by || o.users <= 0 || o.connections < 1 ||
	    o.connections > MAX_CONNECTIONS || o.seconds <= 0 ||
	    (strcmp(o.by, "custom_id") && strcmp(o.by, "email")))
		usage();

	for (int i = 0; i < o.connections; i++) {
		workers[i] = (struct worker){.opt = &o, .id = i,
					     .rng = (o.seed + 1) * 0x9E3779B97F4A7C15ull +
						    (uint64_t)i * 7919 + 1};
		if (pthread_create(&workers[i].thread, NULL, worker_run, &workers[i])) {
			fprintf(stderr, "lookup_load: cannot start thread %d\n", i);
			return 1;
		}
	}
	if (o.warmup > 0)
		usleep((useconds_t)(o.warmup * 1e6));
	atomic_store(&phase, 1);
	t_start = now_s();
	usleep((useconds_t)(o.seconds * 1e6));
	atomic_store(&phase, 2);
	elapsed = now_s() - t_start;
	for (int i = 0; i < o.connections; i++)
		pthread_join(workers[i].thread, NULL);

	for (int i = 0; i < o.connections; i++) {
		n_all += workers[i].n_lat;
		errors += workers[i].errors;
		if (workers[i].errors && !first_error)
			first_error = workers[i].first_error;
	}
	all = malloc((n_all ? n_all : 1) * sizeof(*all));
	if (!all)
		return 1;
	n_all = 0;
	for (int i = 0; i < o.connections; i++) {
		memcpy(all + n_all, workers[i].lat_ms, workers[i].n_lat * sizeof(*all));
		n_all += workers[i].n_lat;
		free(workers[i].lat_ms);
	}
	qsort(all, n_all, sizeof(*all), cmp_double);
#define PCT(p) (n_all ? all[(size_t)((double)(n_all - 1) * (p))] : 0.0)
	printf("by=%s requests=%zu seconds=%.1f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
	       "max_ms=%.3f errors=%ld connections=%d\n",
	       o.by, n_all, elapsed, (double)n_all / elapsed, PCT(0.50), PCT(0.90), PCT(0.99),
	       n_all ? all[n_all - 1] : 0.0, errors, o.connections);
	if (first_error)
		fprintf(stderr, "lookup_load: first error: %s\n", first_error);
	free(all);
	return 0;
}
